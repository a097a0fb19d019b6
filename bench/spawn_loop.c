/* The reference for task throughput: a plain loop keeping J children of
 * PROGRAM running, posix_spawn'ed and reaped with waitpid, until N have run.
 * This is the machine's limit for spawning short tasks at that concurrency.
 *   spawn_loop N J [PROGRAM]   -> prints "N tasks in S s: R tasks/s" */
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
    char *args[] = {prog, NULL};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long started = 0, done = 0, running = 0;
    while (done < n) {
        while (running < j && started < n) {
            pid_t pid;
            if (posix_spawn(&pid, prog, NULL, NULL, args, environ) != 0) {
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
