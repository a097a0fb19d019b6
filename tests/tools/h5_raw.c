/* See h5_raw.h. HDF5 stores a contiguous dataset's raw data at one address
 * (H5Dget_offset); a chunked one's chunks each at theirs (H5Dget_chunk_info);
 * a compact one inside its object header, which neither reports. */
#include <hdf5.h>
#include <stdio.h>

#include "h5_raw.h"

static int chunk_extent(hid_t ds, long *offset, size_t *size)
{
    hid_t space = H5Dget_space(ds);
    hsize_t n = 0, coords[1];
    unsigned mask = 0;
    haddr_t addr = HADDR_UNDEF;
    hsize_t bytes = 0;
    int rc = space >= 0 && H5Dget_num_chunks(ds, space, &n) >= 0 && n > 0 &&
                     H5Dget_chunk_info(ds, space, 0, coords, &mask, &addr, &bytes) >= 0 &&
                     addr != HADDR_UNDEF
                 ? 0
                 : -1;
    if (space >= 0)
        H5Sclose(space);
    *offset = (long)addr;
    *size = (size_t)bytes;
    return rc;
}

int h5_raw_extent(const char *path, const char *name, long *offset, size_t *size)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = f >= 0 ? H5Dopen2(f, name, H5P_DEFAULT) : -1;
    hid_t dcpl = ds >= 0 ? H5Dget_create_plist(ds) : -1;
    int rc = -1;
    if (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED) {
        rc = chunk_extent(ds, offset, size);
    } else if (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CONTIGUOUS) {
        haddr_t addr = H5Dget_offset(ds);
        *offset = (long)addr;
        *size = (size_t)H5Dget_storage_size(ds);
        rc = addr != HADDR_UNDEF && *size > 0 ? 0 : -1;
    }
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (ds >= 0)
        H5Dclose(ds);
    if (f >= 0)
        H5Fclose(f);
    return rc;
}

int h5_raw_flip(const char *path, long offset, int bit)
{
    FILE *fp = fopen(path, "r+b");
    if (!fp)
        return -1;
    int ch = fseek(fp, offset, SEEK_SET) == 0 ? fgetc(fp) : EOF;
    int rc =
        ch != EOF && fseek(fp, offset, SEEK_SET) == 0 && fputc(ch ^ (1 << bit), fp) != EOF ? 0 : -1;
    if (fclose(fp) != 0)
        rc = -1;
    return rc;
}
