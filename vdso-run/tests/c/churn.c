/* The overhead benchmark's workloads, timed from inside (so that
 * vdso-run's own start is not counted):
 *   churn spawn N PATH   N times fork, execv PATH, wait
 *   churn signals F S    F times fork a child that exits at once and wait
 *                        for it, then S signals to itself, each caught
 * Prints "ms MS". */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t caught;

static void on_usr1(int s) {
    (void)s;
    caught++;
}

static long long now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
    long long start = now();
    if (argc == 4 && !strcmp(argv[1], "spawn")) {
        long n = atol(argv[2]);
        char *args[] = {argv[3], NULL};
        for (long i = 0; i < n; i++) {
            pid_t pid = fork();
            if (pid == 0) {
                execv(argv[3], args);
                _exit(127);
            }
            int status;
            waitpid(pid, &status, 0);
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
        }
    } else if (argc == 4 && !strcmp(argv[1], "signals")) {
        long forks = atol(argv[2]), signals = atol(argv[3]);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sigaction(SIGUSR1, &sa, NULL);
        for (long i = 0; i < forks; i++) {
            pid_t pid = fork();
            if (pid == 0) _exit(0);
            waitpid(pid, NULL, 0);
        }
        for (long i = 0; i < signals; i++) kill(getpid(), SIGUSR1);
        if (caught != signals) return 1;
    } else {
        fprintf(stderr, "usage: churn spawn N PATH | churn signals FORKS SIGNALS\n");
        return 2;
    }
    printf("ms %.1f\n", (now() - start) / 1e6);
    return 0;
}
