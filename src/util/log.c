#include <string.h>
#include <strings.h>
#include <time.h>

#include "wfmpi/util.h"

static enum wfmpi_log_level log_level = WFMPI_LOG_WARN;
static enum wfmpi_log_level stderr_level = WFMPI_LOG_DEBUG;
static FILE *log_file;
static int log_rank = -1;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void wfmpi_log_set_level(enum wfmpi_log_level level)
{
    log_level = level;
}
enum wfmpi_log_level wfmpi_log_get_level(void)
{
    return log_level;
}
void wfmpi_log_set_rank(int rank)
{
    log_rank = rank;
}

void wfmpi_log_set_file(FILE *f, enum wfmpi_log_level max_stderr)
{
    if (log_file)
        fflush(log_file);
    log_file = f;
    stderr_level = f ? max_stderr : WFMPI_LOG_DEBUG;
}

int wfmpi_log_parse_level(const char *s, enum wfmpi_log_level *out)
{
    for (int i = 0; i <= WFMPI_LOG_DEBUG; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum wfmpi_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = WFMPI_LOG_WARN;
        return 0;
    }
    return WFMPI_E_INPUT;
}

bool wfmpi_log_enabled(enum wfmpi_log_level level)
{
    return level <= log_level;
}

/* "YYYY-MM-DD HH:MM:SS" for the current second, recomputed only when the
 * second changes: the master logs two lines per task, and localtime_r plus
 * strftime would otherwise cost more than the scheduling itself. */
static size_t timestamp(char *out, size_t size, const struct timespec *ts)
{
    static time_t cached_sec = -1;
    static char cached[32];
    static size_t cached_len;
    if (ts->tv_sec != cached_sec) {
        struct tm tm;
        localtime_r(&ts->tv_sec, &tm);
        cached_len = strftime(cached, sizeof(cached), "%Y-%m-%d %H:%M:%S", &tm);
        cached_sec = ts->tv_sec;
    }
    size_t n = cached_len < size ? cached_len : size - 1;
    memcpy(out, cached, n);
    return n;
}

void wfmpi_log_flush(void)
{
    if (log_file)
        fflush(log_file);
}

/* One line is formatted into a local buffer and written with a single call,
 * so lines from several threads or ranks sharing a file do not interleave.
 * The log file is fully buffered: warnings and errors are flushed at once,
 * info and debug lines when the buffer fills or wfmpi_log_flush() is called
 * (the journal, not the log, is the run's durable record). */
void wfmpi_log(enum wfmpi_log_level level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    size_t n = timestamp(line, sizeof(line), &ts);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ld ", ts.tv_nsec / 1000000);
    if (log_rank >= 0)
        n += (size_t)snprintf(line + n, sizeof(line) - n, "[%d] ", log_rank);
    n += (size_t)snprintf(line + n, sizeof(line) - n, "%s: ", level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    n = (m < 0 || n + (size_t)m >= sizeof(line) - 1) ? sizeof(line) - 2 : n + (size_t)m;
    line[n++] = '\n';
    line[n] = '\0';
    if (level <= stderr_level)
        fputs(line, stderr);
    if (log_file) {
        fwrite(line, 1, n, log_file);
        if (level <= WFMPI_LOG_WARN)
            fflush(log_file);
    }
}
