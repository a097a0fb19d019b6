/* The reference for task throughput: a plain loop keeping J children of
 * PROGRAM running, posix_spawn'ed and reaped with waitpid, until N have run.
 * This is the machine's limit for spawning short tasks at that concurrency.
 *   spawn_loop N J [PROGRAM [DIR]]   -> prints "N tasks in S s: R tasks/s"
 * With DIR, each child's stdout and stderr go to DIR/<i>.out and DIR/<i>.err
 * (created, truncated), as wfmpi does for every task: the same I/O, so the
 * difference left is the engine's own. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: spawn_loop N J [PROGRAM]\n");
        return 2;
    }
    long n = atol(argv[1]), j = atol(argv[2]);
    char *prog = argc > 3 ? argv[3] : "/bin/true";
    const char *dir = argc > 4 ? argv[4] : NULL;
    char path[4096];
    char *args[] = {prog, NULL};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long started = 0, done = 0, running = 0;
    while (done < n) {
        while (running < j && started < n) {
            pid_t pid;
            posix_spawn_file_actions_t fa, *fap = NULL;
            if (dir) {
                posix_spawn_file_actions_init(&fa);
                snprintf(path, sizeof(path), "%s/%ld.out", dir, started);
                posix_spawn_file_actions_addopen(&fa, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                snprintf(path, sizeof(path), "%s/%ld.err", dir, started);
                posix_spawn_file_actions_addopen(&fa, 2, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                fap = &fa;
            }
            int rc = posix_spawn(&pid, prog, fap, NULL, args, environ);
            if (fap)
                posix_spawn_file_actions_destroy(fap);
            if (rc != 0) {
                perror("posix_spawn");
                return 1;
            }
            started++;
            running++;
        }
        int st;
        if (waitpid(-1, &st, 0) > 0) {
            running--;
            done++;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    printf("%ld tasks in %.3f s: %.0f tasks/s\n", n, s, (double)n / s);
    return 0;
}
