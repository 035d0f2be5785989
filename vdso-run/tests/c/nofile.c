/* A program that takes every descriptor its limit allows, then uses its
 * clocks (tests/descriptors.rs).
 *   nofile LIMITS N read          fill, then read CLOCK_MONOTONIC
 *   nofile LIMITS N timerfd       make a timerfd, fill, arm it absolutely
 *                                 200 ms ahead on CLOCK_MONOTONIC, wait
 *   nofile LIMITS N exec PROG     fill, then exec PROG report
 *   nofile report                 read CLOCK_MONOTONIC, describe the
 *                                 descriptors (needs none of its own)
 * LIMITS: "soft" lowers the soft limit to N, "both" the soft and the hard
 * one (as `ulimit -n N` does). Fills with /dev/null opened without
 * close-on-exec, as C programs open files. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static void monotonic(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    printf("monotonic %lld.%09ld\n", (long long)t.tv_sec, t.tv_nsec);
}

/* The descriptors as they stand: how many are open below the soft limit,
 * how many close-on-exec, and whether 1 and 2 share an open file. */
static void report(void) {
    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    int open = 0, cloexec = 0;
    for (rlim_t fd = 0; fd < r.rlim_cur; fd++) {
        int flags = fcntl((int)fd, F_GETFD);
        if (flags >= 0) {
            open++;
            if (flags & FD_CLOEXEC)
                cloexec++;
        }
    }
    pid_t me = getpid();
    printf("open %d\ncloexec %d\nshared12 %ld\nlimit %llu %llu\n", open, cloexec,
           syscall(SYS_kcmp, me, me, 0, 1, 2) == 0 ? 1L : 0L,
           (unsigned long long)r.rlim_cur, (unsigned long long)r.rlim_max);
}

static int fill(void) {
    int n = 0;
    while (open("/dev/null", O_RDONLY) >= 0)
        n++;
    if (errno != EMFILE) {
        perror("open");
        exit(3);
    }
    return n;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "report") == 0) {
        monotonic();
        report();
        return 0;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: nofile soft|both N read|timerfd|exec PROG\n");
        return 2;
    }
    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_cur = strtoul(argv[2], 0, 10);
    if (strcmp(argv[1], "both") == 0)
        r.rlim_max = r.rlim_cur;
    if (setrlimit(RLIMIT_NOFILE, &r) != 0) {
        perror("setrlimit");
        return 2;
    }
    const char *what = argv[3];
    if (strcmp(what, "read") == 0) {
        printf("opened %d\n", fill());
        monotonic();
        return 0;
    }
    if (strcmp(what, "timerfd") == 0) {
        int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
        printf("opened %d\n", fill());
        struct itimerspec its = {0};
        clock_gettime(CLOCK_MONOTONIC, &its.it_value);
        its.it_value.tv_nsec += 200000000;
        if (its.it_value.tv_nsec >= 1000000000) {
            its.it_value.tv_sec++;
            its.it_value.tv_nsec -= 1000000000;
        }
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, 0) != 0) {
            printf("settime %s\n", strerror(errno));
            return 0;
        }
        unsigned long long ticks;
        if (read(tfd, &ticks, sizeof ticks) != sizeof ticks)
            perror("read");
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("settime ok\nwaited_ms %lld\n",
               ((long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec)) /
                   1000000);
        return 0;
    }
    if (strcmp(what, "exec") == 0 && argc == 5) {
        printf("opened %d\n", fill());
        fflush(stdout);
        execl(argv[4], argv[4], "report", (char *)0);
        printf("exec %s\n", strerror(errno));
        return 0;
    }
    fprintf(stderr, "nofile: unknown action %s\n", what);
    return 2;
}
