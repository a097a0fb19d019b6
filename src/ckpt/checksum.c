/* Checksums of the snapshot's tables and attributes (docs/checkpoint.md,
 * "Checksums"). zlib's CRC-32, the journal's checksum too, so one tool
 * (Python's zlib.crc32) checks every byte of a run dir.
 *
 * What is summed is defined by values, not by HDF5's storage: a table of
 * fixed-size rows (compound or number) is summed over its rows' bytes as the
 * file's own datatype holds them (what h5py's ds[...].tobytes() returns),
 * a table of strings over each string and its NUL, and the attributes over
 * name, NUL and value in the order they are written. So the check does not
 * depend on how HDF5 lays a dataset out, and covers what HDF5's Fletcher32
 * filter cannot: attributes, and strings, whose bytes live in the global
 * heap, outside the dataset's raw data (HDF5 1.10 refuses filters on
 * variable-length data anyway). A string table's raw data is one reference
 * per string (length, heap address, index); a flipped bit there makes HDF5
 * read another string, a cut one or none (refused), or, for a length past
 * the stored string, the same string (nothing read is wrong). */
#include <string.h>
#include <zlib.h>

#include "ckpt_int.h"

uint32_t ckpt_crc_bytes(uint32_t crc, const void *p, size_t n)
{
    return n ? (uint32_t)crc32_z(crc, p, n) : crc;
}

uint32_t ckpt_crc_strings(uint32_t crc, const char *const *s, size_t n)
{
    /* Most strings of a snapshot are empty (task_details: no failure), and
     * a run of them is that many NULs: summed in one call, not one each. */
    static const unsigned char zeros[256];
    size_t empties = 0;
    for (size_t i = 0; i <= n; i++) {
        const char *v = i < n ? s[i] : NULL;
        if (i < n && (!v || !v[0])) {
            empties++;
            if (empties < sizeof(zeros))
                continue;
        }
        if (empties)
            crc = ckpt_crc_bytes(crc, zeros, empties);
        empties = 0;
        if (v && v[0])
            crc = ckpt_crc_bytes(crc, v, strlen(v) + 1);
    }
    return crc;
}

static uint32_t sum_name(uint32_t crc, const char *name)
{
    return ckpt_crc_bytes(crc, name, strlen(name) + 1);
}

uint32_t ckpt_crc_attr_str(uint32_t crc, const char *name, const char *value)
{
    return ckpt_crc_bytes(sum_name(crc, name), value, strlen(value) + 1);
}

/* Numbers little-endian whatever the host, so the sum is one definition. */
uint32_t ckpt_crc_attr_u64(uint32_t crc, const char *name, uint64_t value, size_t bytes)
{
    unsigned char le[8];
    for (size_t k = 0; k < bytes && k < sizeof(le); k++)
        le[k] = (unsigned char)(value >> (8 * k));
    return ckpt_crc_bytes(sum_name(crc, name), le, bytes < sizeof(le) ? bytes : sizeof(le));
}
