/* Reads every clock as a program sees it.
 *   clocks                 every clock, gettimeofday, time, sysinfo's uptime
 *   clocks threads         CLOCK_MONOTONIC from 4 threads
 *   clocks fork            CLOCK_MONOTONIC in a forked child, then the parent
 *   clocks exec MODE SELF  clears the environment (or passes an empty one),
 *                          then runs SELF (this program) through MODE */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const struct { const char *name; clockid_t id; } CLOCKS[] = {
    {"realtime", CLOCK_REALTIME},
    {"monotonic", CLOCK_MONOTONIC},
    {"monotonic_raw", CLOCK_MONOTONIC_RAW},
    {"realtime_coarse", CLOCK_REALTIME_COARSE},
    {"monotonic_coarse", CLOCK_MONOTONIC_COARSE},
    {"boottime", CLOCK_BOOTTIME},
    {"realtime_alarm", CLOCK_REALTIME_ALARM},
    {"boottime_alarm", CLOCK_BOOTTIME_ALARM},
    {"tai", CLOCK_TAI},
};

static void print_clock(const char *prefix, const char *name, clockid_t id) {
    struct timespec t;
    if (clock_gettime(id, &t) == 0)
        printf("%s%s %lld.%09ld\n", prefix, name, (long long)t.tv_sec, t.tv_nsec);
    else
        printf("%s%s error %s\n", prefix, name, strerror(errno));
}

static void all(void) {
    for (size_t i = 0; i < sizeof CLOCKS / sizeof CLOCKS[0]; i++)
        print_clock("", CLOCKS[i].name, CLOCKS[i].id);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    printf("gettimeofday %lld.%06ld\n", (long long)tv.tv_sec, (long)tv.tv_usec);
    printf("time %lld\n", (long long)time(NULL));
    struct sysinfo info;
    if (sysinfo(&info) == 0)
        printf("uptime %ld\n", info.uptime);
}

static pthread_mutex_t out = PTHREAD_MUTEX_INITIALIZER;

static void *thread(void *arg) {
    (void)arg;
    pthread_mutex_lock(&out);
    print_clock("thread ", "monotonic", CLOCK_MONOTONIC);
    pthread_mutex_unlock(&out);
    return NULL;
}

extern char **environ;

static int run(const char *mode, const char *self) {
    char *argv[] = {(char *)self, NULL};
    char *empty[] = {NULL};
    pid_t pid;
    if (!strcmp(mode, "execve_empty")) return execve(self, argv, empty);
    if (!strcmp(mode, "fexecve_empty")) return fexecve(open(self, O_RDONLY | O_CLOEXEC), argv, empty);
    if (!strcmp(mode, "execvpe_empty")) return execvpe(self, argv, empty);
    if (!strcmp(mode, "execle_empty")) return execle(self, self, (char *)NULL, empty);
    if (!strcmp(mode, "posix_spawn_empty") || !strcmp(mode, "posix_spawnp_empty")) {
        int r = mode[11] == 'p' ? posix_spawnp(&pid, self, NULL, NULL, argv, empty)
                                : posix_spawn(&pid, self, NULL, NULL, argv, empty);
        if (r != 0) { errno = r; return -1; }
        int status;
        waitpid(pid, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    }
    clearenv();
    if (!strcmp(mode, "execv_clearenv")) return execv(self, argv);
    if (!strcmp(mode, "execvp_clearenv")) return execvp(self, argv);
    if (!strcmp(mode, "execl_clearenv")) return execl(self, self, (char *)NULL);
    if (!strcmp(mode, "execlp_clearenv")) return execlp(self, self, (char *)NULL);
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}

int main(int argc, char **argv) {
    if (argc == 1) {
        all();
    } else if (!strcmp(argv[1], "threads")) {
        pthread_t th[4];
        for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, thread, NULL);
        for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    } else if (!strcmp(argv[1], "fork")) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            print_clock("child ", "monotonic", CLOCK_MONOTONIC);
            fflush(stdout);
            _exit(0);
        }
        waitpid(pid, NULL, 0);
        print_clock("parent ", "monotonic", CLOCK_MONOTONIC);
    } else if (!strcmp(argv[1], "exec") && argc == 4) {
        int r = run(argv[2], argv[3]);
        if (r == 0) return 0;
        fprintf(stderr, "%s failed: %s\n", argv[2], strerror(errno));
        return 1;
    } else {
        fprintf(stderr, "usage: clocks [threads | fork | exec MODE SELF]\n");
        return 2;
    }
    return 0;
}
