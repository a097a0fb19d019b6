/* Test tool: flip one bit of a dataset's raw data in an HDF5 file, as a
 * failing disk or a stray write would, and say where:
 *   h5flip FILE DATASET [BYTE [BIT]]
 * BYTE is the index into the dataset's raw bytes (default: the middle one),
 * BIT 0-7 (default 0). Prints "DATASET: flipped bit BIT of byte OFFSET".
 * Exit 2 when the dataset has no raw bytes at an offset (missing, empty or
 * compact) or BYTE is past them. */
#include <stdio.h>
#include <stdlib.h>

#include "h5_raw.h"

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: h5flip FILE DATASET [BYTE [BIT]]\n");
        return 2;
    }
    long offset = 0;
    size_t size = 0;
    if (h5_raw_extent(argv[1], argv[2], &offset, &size) < 0) {
        fprintf(stderr, "h5flip: %s: no raw data for dataset '%s'\n", argv[1], argv[2]);
        return 2;
    }
    size_t byte = argc > 3 ? strtoul(argv[3], NULL, 10) : size / 2;
    int bit = argc > 4 ? atoi(argv[4]) : 0;
    if (byte >= size || bit < 0 || bit > 7) {
        fprintf(stderr, "h5flip: byte %zu bit %d is outside '%s' (%zu bytes)\n", byte, bit, argv[2],
                size);
        return 2;
    }
    if (h5_raw_flip(argv[1], offset + (long)byte, bit) < 0) {
        perror(argv[1]);
        return 2;
    }
    printf("%s: flipped bit %d of byte %ld\n", argv[2], bit, offset + (long)byte);
    return 0;
}
