/* Doorbells: waking a sleeping rank of the same node.
 *
 * MPI gives a rank nothing to sleep on until a message arrives, so an idle
 * master or worker polls: short sleeps, each a context switch, and the
 * message waits until the next one. On a node where the ranks share cores
 * with the tasks, that polling and that wait were most of the gap between
 * wfmpi and a bare spawn loop (bench/README.md). So each rank also binds a
 * datagram socket in the abstract namespace (no file), and a rank that has
 * sent a message to a rank of its own node rings it: one byte, never
 * blocking. The receiver sleeps in ppoll on its doorbell and its
 * executor's descriptor together, and wakes for a message or a task's end.
 *
 * Doorbells are an optimisation: every rank must have one for any to be
 * used (agreed at start-up), a lost ring (a full socket buffer) only means
 * one is pending already, and a sleeper never sleeps longer than
 * MPI_BELL_SLEEP_S, so a message a bell missed is still seen. Ranks on
 * other nodes are polled as before.
 */
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mpi_int.h"

static socklen_t bell_addr(const struct wfmpi_mpi *m, int rank, struct sockaddr_un *a)
{
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    /* sun_path[0] = '\0': the abstract namespace. */
    int n = snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "wfmpi-%016llx-%d",
                     (unsigned long long)m->bell_token, rank);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static int open_mine(struct wfmpi_mpi *m)
{
    m->bell_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (m->bell_fd < 0)
        return -1;
    struct sockaddr_un a;
    socklen_t len = bell_addr(m, m->rank, &a);
    if (bind(m->bell_fd, (struct sockaddr *)&a, len) < 0) {
        close(m->bell_fd);
        m->bell_fd = -1;
        return -1;
    }
    return 0;
}

/* Which world ranks share this rank's node. */
static int find_local(struct wfmpi_mpi *m)
{
    int n = 0;
    MPI_Comm_size(m->node_comm, &n);
    int *mine = malloc((size_t)n * sizeof(int)), *world = malloc((size_t)n * sizeof(int));
    m->bell_local = calloc((size_t)m->size, 1);
    MPI_Group g_node, g_world;
    int rc = mine && world && m->bell_local ? 0 : -1;
    if (rc == 0) {
        for (int i = 0; i < n; i++)
            mine[i] = i;
        MPI_Comm_group(m->node_comm, &g_node);
        MPI_Comm_group(MPI_COMM_WORLD, &g_world);
        MPI_Group_translate_ranks(g_node, n, mine, g_world, world);
        MPI_Group_free(&g_node);
        MPI_Group_free(&g_world);
        for (int i = 0; i < n; i++)
            if (world[i] >= 0 && world[i] < m->size)
                m->bell_local[world[i]] = 1;
    }
    free(mine);
    free(world);
    return rc;
}

void mpi_doorbell_open(struct wfmpi_mpi *m)
{
    m->bell_fd = -1;
    /* One name space per run: rank 0's pid and clock, shared by all. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m->bell_token =
        ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_sec * 1000000000u ^ (uint64_t)ts.tv_nsec;
    MPI_Bcast(&m->bell_token, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    int ok = open_mine(m) == 0 && find_local(m) == 0, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!all) {
        mpi_doorbell_close(m);
        wfmpi_debug("doorbells unavailable: idle ranks poll");
    }
}

void mpi_doorbell_close(struct wfmpi_mpi *m)
{
    if (m->bell_fd >= 0)
        close(m->bell_fd);
    m->bell_fd = -1;
    free(m->bell_local);
    m->bell_local = NULL;
}

void mpi_doorbell_ring(const struct wfmpi_mpi *m, int rank)
{
    if (m->bell_fd < 0 || rank == m->rank || !m->bell_local[rank])
        return;
    struct sockaddr_un a;
    socklen_t len = bell_addr(m, rank, &a);
    /* EAGAIN: the bell is ringing already. Anything else: the sleeper's
     * bounded sleep covers it. */
    (void)sendto(m->bell_fd, "", 1, MSG_DONTWAIT, (struct sockaddr *)&a, len);
}

bool mpi_doorbell_local(const struct wfmpi_mpi *m, int rank)
{
    return m->bell_fd >= 0 && m->bell_local[rank];
}

int mpi_doorbell_wait(const struct wfmpi_mpi *m, int exec_fd, double max_s)
{
    struct pollfd pfd[2] = {{.fd = exec_fd, .events = POLLIN},
                            {.fd = m->bell_fd, .events = POLLIN}};
    struct timespec ts = {.tv_sec = (time_t)max_s,
                          .tv_nsec = (long)((max_s - (double)(time_t)max_s) * 1e9)};
    int n = ppoll(pfd, 2, &ts, NULL);
    if (n > 0 && (pfd[1].revents & POLLIN)) {
        char buf[64];
        while (recv(m->bell_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
            ;
    }
    return n;
}

int mpi_isend_ring(const struct wfmpi_mpi *m, const void *buf, size_t len, int rank, int tag,
                   MPI_Request *req)
{
    int rc = MPI_Isend(buf, (int)len, MPI_BYTE, rank, tag, MPI_COMM_WORLD, req);
    if (rc != MPI_SUCCESS)
        return rc;
    int done = 0;
    rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
    mpi_doorbell_ring(m, rank);
    return rc;
}
