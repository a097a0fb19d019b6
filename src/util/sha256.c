#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

#include "wfmpi/util.h"

struct wfmpi_sha256 {
    EVP_MD_CTX *ctx;
};

struct wfmpi_sha256 *wfmpi_sha256_create(void)
{
    struct wfmpi_sha256 *s = malloc(sizeof(*s));
    if (!s)
        return NULL;
    s->ctx = EVP_MD_CTX_new();
    if (!s->ctx || EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(s->ctx);
        free(s);
        return NULL;
    }
    return s;
}

void wfmpi_sha256_destroy(struct wfmpi_sha256 *s)
{
    if (!s)
        return;
    EVP_MD_CTX_free(s->ctx);
    free(s);
}

int wfmpi_sha256_update(struct wfmpi_sha256 *s, const void *data, size_t len)
{
    return EVP_DigestUpdate(s->ctx, data, len) == 1 ? 0 : WFMPI_E_INTERNAL;
}

int wfmpi_sha256_final(struct wfmpi_sha256 *s, unsigned char out[WFMPI_SHA256_LEN])
{
    unsigned int n = 0;
    return EVP_DigestFinal_ex(s->ctx, out, &n) == 1 && n == WFMPI_SHA256_LEN ? 0 : WFMPI_E_INTERNAL;
}

void wfmpi_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

int wfmpi_sha256_hex(const void *data, size_t len, char out[WFMPI_SHA256_HEX_LEN])
{
    unsigned char md[WFMPI_SHA256_LEN];
    unsigned int n = 0;
    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1)
        return WFMPI_E_INTERNAL;
    wfmpi_hex(md, sizeof(md), out);
    return 0;
}

int wfmpi_sha256_file_hex(const char *path, char out[WFMPI_SHA256_HEX_LEN])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct wfmpi_sha256 *s = wfmpi_sha256_create();
    int rc = s ? 0 : -ENOMEM;
    unsigned char buf[1 << 16];
    while (rc == 0) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = -errno;
        if (n <= 0)
            break;
        rc = wfmpi_sha256_update(s, buf, (size_t)n);
    }
    unsigned char md[WFMPI_SHA256_LEN];
    if (rc == 0 && (rc = wfmpi_sha256_final(s, md)) == 0)
        wfmpi_hex(md, sizeof(md), out);
    wfmpi_sha256_destroy(s);
    close(fd);
    return rc;
}
