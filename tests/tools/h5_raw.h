/* Test helper: where a dataset's raw data lies in its HDF5 file, so a test
 * can damage exactly that table's bytes with ordinary file I/O. */
#ifndef WFMPI_TEST_H5_RAW_H
#define WFMPI_TEST_H5_RAW_H

#include <stddef.h>

/* The file offset and size of dataset `name`'s raw data in path (the first
 * chunk of a chunked dataset). 0, or -1 when the dataset is missing, empty or
 * compact (its data then lives in its object header, not at an offset). */
int h5_raw_extent(const char *path, const char *name, long *offset, size_t *size);

/* Flip bit `bit` (0-7) of the byte at offset in path. 0 or -1. */
int h5_raw_flip(const char *path, long offset, int bit);

#endif
