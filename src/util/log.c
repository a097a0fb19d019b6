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

/* One line is formatted into a local buffer and written with a single call,
 * so lines from several threads or ranks sharing a file do not interleave. */
void wfmpi_log(enum wfmpi_log_level level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    char line[2048];
    size_t n = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    n += strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
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
        fputs(line, log_file);
        fflush(log_file);
    }
}
