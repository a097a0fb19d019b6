/* The append-only journal. Appends go to a memory buffer and reach the file
 * in one write(2) per commit, so the per-record cost on the master's hot path
 * is a memcpy and a crc32. */
#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "ckpt_int.h"

#define PENDING_MAX ((size_t)256 << 20)

static uint32_t record_crc(uint64_t seq, uint8_t type, const void *payload, size_t len)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, (const Bytef *)&seq, sizeof(seq));
    crc = crc32(crc, &type, 1);
    crc = crc32(crc, payload, (uInt)len);
    return (uint32_t)crc;
}

static void header_bytes(unsigned char *h, uint64_t base_seq, const char *hash)
{
    memset(h, 0, JOURNAL_HEADER_BYTES);
    memcpy(h, JOURNAL_MAGIC, 8);
    uint32_t v = JOURNAL_VERSION;
    memcpy(h + 8, &v, 4);
    memcpy(h + 16, &base_seq, 8);
    memcpy(h + 24, hash, 64);
}

static int sync_reap(struct journal *j, bool wait);

int journal_create(struct journal *j, const char *path, uint64_t base_seq, const char *hash)
{
    unsigned char h[JOURNAL_HEADER_BYTES];
    header_bytes(h, base_seq, hash);
    int rc = wfmpi_write_file_atomic(path, h, sizeof(h));
    if (rc < 0)
        return rc;
    return journal_open_append(j, path, base_seq);
}

int journal_open_append(struct journal *j, const char *path, uint64_t seq)
{
    /* The fd is about to change: no background fsync may still use it. */
    sync_reap(j, true);
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* What is appended now may use this version's records: say so (an older
     * wfmpi then refuses the file by its version instead of misreading it). */
    uint32_t v = JOURNAL_VERSION;
    int wfd = open(path, O_WRONLY | O_CLOEXEC);
    int rc = wfd < 0 || pwrite(wfd, &v, 4, 8) != 4 ? -errno : 0;
    if (wfd >= 0)
        close(wfd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    if (j->fd > 0)
        close(j->fd);
    struct stat st;
    j->fd = fd;
    j->seq = seq;
    j->size = fstat(fd, &st) == 0 ? (size_t)st.st_size : 0;
    if (!j->pending.max)
        wfmpi_buf_init(&j->pending, PENDING_MAX);
    wfmpi_buf_reset(&j->pending);
    j->last_fsync = wfmpi_mono();
    j->dirty = false;
    return 0;
}

void journal_close(struct journal *j)
{
    if (j->fd > 0) {
        journal_write(j);
        journal_fsync(j); /* also waits for one in flight on this fd */
        close(j->fd);
    }
    j->fd = -1;
    wfmpi_buf_fini(&j->pending);
}

int journal_append(struct journal *j, enum journal_type type, const void *payload, size_t len)
{
    if (len > JOURNAL_MAX_PAYLOAD)
        return WFMPI_E_LIMIT;
    uint64_t seq = j->seq + 1;
    uint32_t n = (uint32_t)len;
    unsigned char hdr[JOURNAL_RECORD_HEADER];
    memcpy(hdr, &n, 4);
    memset(hdr + 4, 0, 4);
    memcpy(hdr + 8, &seq, 8);
    hdr[16] = (uint8_t)type;
    size_t at = j->pending.len;
    int rc = wfmpi_buf_append(&j->pending, hdr, sizeof(hdr));
    if (rc == 0)
        rc = wfmpi_buf_append(&j->pending, payload, len);
    if (rc < 0) {
        j->pending.len = at;
        return rc;
    }
    /* seq, type and payload lie end to end after the crc field: one pass
     * over them gives record_crc's value (crc32 is a running checksum). */
    unsigned char *rec = (unsigned char *)j->pending.data + at;
    uint32_t crc = (uint32_t)crc32(0L, rec + 8, (uInt)(9 + len));
    memcpy(rec + 4, &crc, 4);
    j->seq = seq;
    return 0;
}

int journal_write(struct journal *j)
{
    if (j->pending.len == 0)
        return 0;
    /* wfmpi.log first: its lines about the attempts these records start
     * and end reach the kernel no later than the records, so a kill -9
     * never leaves the log without a completion the checkpoint has (one
     * write(2) more per journal write, only when the log has lines). */
    wfmpi_log_flush();
    int rc = wfmpi_write_all(j->fd, j->pending.data, j->pending.len);
    if (rc < 0)
        return rc;
    j->size += j->pending.len;
    wfmpi_buf_reset(&j->pending);
    j->dirty = true;
    j->last_write = wfmpi_mono();
    return 0;
}

/* The background fdatasync's outcome: 0 while none is in flight, or (with
 * wait) once it ends; -EINPROGRESS while it runs and we do not wait. */
static int sync_reap(struct journal *j, bool wait)
{
    if (!j->syncing)
        return 0;
    int e;
    while ((e = aio_error(&j->sync_cb)) == EINPROGRESS) {
        if (!wait)
            return -EINPROGRESS;
        const struct aiocb *list[1] = {&j->sync_cb};
        aio_suspend(list, 1, NULL);
    }
    j->syncing = false;
    return aio_return(&j->sync_cb) < 0 ? -e : 0;
}

int journal_fsync_async(struct journal *j)
{
    int rc = sync_reap(j, false);
    if (rc == -EINPROGRESS || (rc == 0 && !j->dirty))
        return 0;
    if (rc < 0)
        return rc;
    memset(&j->sync_cb, 0, sizeof(j->sync_cb));
    j->sync_cb.aio_fildes = j->fd;
    j->sync_cb.aio_sigevent.sigev_notify = SIGEV_NONE;
    if (aio_fsync(O_DSYNC, &j->sync_cb) < 0)
        return journal_fsync(j); /* no AIO here: do it now */
    j->syncing = true;
    j->dirty = false;
    j->last_fsync = wfmpi_mono();
    return 0;
}

int journal_fsync(struct journal *j)
{
    int rc = sync_reap(j, true);
    if (rc < 0)
        return rc;
    if (!j->dirty)
        return 0;
    if (fdatasync(j->fd) < 0)
        return -errno;
    j->dirty = false;
    j->last_fsync = wfmpi_mono();
    return 0;
}

static int check_header(const char *path, const unsigned char *d, size_t len, const char *hash,
                        struct wfmpi_error *err)
{
    if (len < JOURNAL_HEADER_BYTES || memcmp(d, JOURNAL_MAGIC, 8) != 0)
        return wfmpi_error_set(err, WFMPI_E_CORRUPT, "%s: not a wfmpi journal (bad header)", path);
    uint32_t v;
    memcpy(&v, d + 8, 4);
    if (v < JOURNAL_VERSION_MIN || v > JOURNAL_VERSION)
        return wfmpi_error_set(err, WFMPI_E_VERSION,
                               "%s: journal format %u, this wfmpi reads %u to %u", path, v,
                               JOURNAL_VERSION_MIN, JOURNAL_VERSION);
    if (hash && memcmp(d + 24, hash, 64) != 0)
        return wfmpi_error_set(err, WFMPI_E_CORRUPT,
                               "%s: journal belongs to another workflow than state.h5", path);
    return 0;
}

int journal_replay(const char *path, const char *hash, uint64_t min_seq, journal_record_fn *fn,
                   void *ctx, struct journal_replay_info *info, struct wfmpi_error *err)
{
    memset(info, 0, sizeof(*info));
    info->last_seq = min_seq;
    char *data = NULL;
    size_t len = 0;
    int rc = wfmpi_read_file(path, JOURNAL_MAX_BYTES, &data, &len);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return wfmpi_error_set(err, rc, "%s: %s", path, wfmpi_strerror(rc));
    const unsigned char *d = (const unsigned char *)data;
    if ((rc = check_header(path, d, len, hash, err)) < 0) {
        free(data);
        return rc;
    }
    size_t off = JOURNAL_HEADER_BYTES;
    while (rc == 0 && off < len) {
        uint32_t n = 0, crc = 0;
        uint64_t seq = 0;
        bool whole = len - off >= JOURNAL_RECORD_HEADER;
        if (whole) {
            memcpy(&n, d + off, 4);
            memcpy(&crc, d + off + 4, 4);
            memcpy(&seq, d + off + 8, 8);
            whole = n <= JOURNAL_MAX_PAYLOAD && len - off - JOURNAL_RECORD_HEADER >= n;
        }
        const unsigned char *p = d + off + JOURNAL_RECORD_HEADER;
        if (!whole || record_crc(seq, d[off + 16], p, n) != crc) {
            /* Only the very last record may be torn; anything after a bad
             * record means the file was damaged, not cut short. */
            size_t end = whole ? off + JOURNAL_RECORD_HEADER + n : len;
            if (end >= len) {
                info->torn_tail = true;
                break;
            }
            rc = wfmpi_error_set(err, WFMPI_E_CORRUPT,
                                 "%s: damaged record at byte %zu (checksum mismatch)", path, off);
            break;
        }
        if (seq > min_seq) {
            rc = fn(ctx, (enum journal_type)d[off + 16], p, n);
            if (rc < 0)
                wfmpi_error_set(err, WFMPI_E_CORRUPT, "%s: invalid record at byte %zu", path, off);
            info->last_seq = seq;
        }
        off += JOURNAL_RECORD_HEADER + n;
    }
    free(data);
    return rc;
}
