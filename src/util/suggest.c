/* "Did you mean ...?": edit distance between short names.
 *
 * The optimal-string-alignment variant of Damerau-Levenshtein: a swap of two
 * neighbours ("argumnets") costs one edit, as it is one slip of the fingers,
 * where plain Levenshtein charges two. Three rows of the dynamic programme
 * (the one before the previous is needed for swaps) on the stack: names are
 * short, and a loader reporting a million misspelled keys must not allocate
 * for each. */
#include <stdint.h>
#include <string.h>

#include "wfmpi/util.h"

static unsigned char fold(char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : (unsigned char)c;
}

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

size_t wfmpi_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > WFMPI_SUGGEST_MAX_LEN || lb > WFMPI_SUGGEST_MAX_LEN)
        return SIZE_MAX;
    size_t rows[3][WFMPI_SUGGEST_MAX_LEN + 1];
    size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = fold(a[i - 1]) != fold(b[j - 1]);
            cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
            if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) &&
                fold(a[i - 2]) == fold(b[j - 1]) && prev2[j - 2] + 1 < cur[j])
                cur[j] = prev2[j - 2] + 1;
        }
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

const char *wfmpi_suggest(const char *word, const char *const *cands, size_t n)
{
    size_t len = strlen(word);
    size_t limit = (len > 3 ? len : 3) / 3;
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(word, cands[i]) == 0)
            return NULL;
        size_t d = wfmpi_edit_distance(word, cands[i]);
        if (d <= limit && d < best_d) {
            best = cands[i];
            best_d = d;
        }
    }
    return best;
}
