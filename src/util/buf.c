#include <stdlib.h>
#include <string.h>

#include "wfmpi/util.h"

int wfmpi_grow(void **ptr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (!wfmpi_mul_ok(n, 2, &n))
            return -ENOMEM;
    }
    size_t bytes;
    if (!wfmpi_mul_ok(n, size, &bytes))
        return -ENOMEM;
    void *p = realloc(*ptr, bytes);
    if (!p)
        return -ENOMEM;
    *ptr = p;
    *cap = n;
    return 0;
}

void wfmpi_buf_init(struct wfmpi_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void wfmpi_buf_fini(struct wfmpi_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void wfmpi_buf_reset(struct wfmpi_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int buf_reserve(struct wfmpi_buf *b, size_t extra)
{
    size_t need;
    if (!wfmpi_add_ok(b->len, extra, &need) || !wfmpi_add_ok(need, 1, &need))
        return WFMPI_E_LIMIT;
    if (need - 1 > b->max)
        return WFMPI_E_LIMIT;
    return wfmpi_grow((void **)&b->data, &b->cap, need, 1);
}

int wfmpi_buf_append(struct wfmpi_buf *b, const void *data, size_t len)
{
    int rc = buf_reserve(b, len);
    if (rc < 0)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int wfmpi_buf_printf(struct wfmpi_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return WFMPI_E_INTERNAL;
    int rc = buf_reserve(b, (size_t)n);
    if (rc < 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int wfmpi_buf_json_str(struct wfmpi_buf *b, const char *s)
{
    int rc = wfmpi_buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p; p++) {
        switch (*p) {
        case '"':
            rc = wfmpi_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            rc = wfmpi_buf_append(b, "\\\\", 2);
            break;
        case '\n':
            rc = wfmpi_buf_append(b, "\\n", 2);
            break;
        case '\t':
            rc = wfmpi_buf_append(b, "\\t", 2);
            break;
        case '\r':
            rc = wfmpi_buf_append(b, "\\r", 2);
            break;
        default:
            if (*p < 0x20)
                rc = wfmpi_buf_printf(b, "\\u%04x", *p);
            else
                rc = wfmpi_buf_append(b, p, 1);
        }
    }
    return rc ? rc : wfmpi_buf_append(b, "\"", 1);
}
