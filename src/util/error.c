#include <stdio.h>
#include <string.h>

#include "wfmpi/util.h"

const char *wfmpi_strerror(int code)
{
    switch (code) {
#define WFMPI_ERR_CASE(name, value, text)                                                          \
    case value:                                                                                    \
        return text;
        WFMPI_ERRORS(WFMPI_ERR_CASE)
#undef WFMPI_ERR_CASE
    case 0:
        return "success";
    default:
        break;
    }
    if (code < 0 && code > -4096)
        return strerror(-code);
    return "unknown error";
}

int wfmpi_error_vset(struct wfmpi_error *err, int code, const char *fmt, va_list ap)
{
    if (!err)
        return code;
    err->code = code;
    int n = vsnprintf(err->text, sizeof(err->text), fmt, ap);
    if (n >= (int)sizeof(err->text))
        memcpy(err->text + sizeof(err->text) - 4, "...", 4);
    return code;
}

int wfmpi_error_set(struct wfmpi_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wfmpi_error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void wfmpi_error_prefix(struct wfmpi_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    char old[WFMPI_ERROR_TEXT_MAX];
    memcpy(old, err->text, sizeof(old));
    wfmpi_error_set(err, err->code, "%s: %s", prefix, old);
}

void wfmpi_error_clear(struct wfmpi_error *err)
{
    if (!err)
        return;
    err->code = 0;
    err->text[0] = '\0';
}
