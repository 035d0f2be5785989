/* timers N CLOCK: N timer_create / timer_delete pairs on CLOCK
 * (monotonic or realtime), with no notification. Prints
 *   pairs N
 *   pairs_ms MS        how long they took
 *   tracer_rss_kb KB   the resident size of the process tracing this one
 *                      (TracerPid), if any, after them
 * timers armed K: K live timers, on MONOTONIC, REALTIME and BOOTTIME in
 * turn, each armed absolutely 200 ms ahead of its own clock, oldest first,
 * twice over. Prints
 *   armed K
 *   armed_wrong N      timers whose time left (timer_gettime) right after
 *                      arming was not between 100 and 200 ms */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The number after KEY in /proc/PID/status, or -1. */
static long status_field(long pid, const char *key) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, strlen(key))) v = atol(line + strlen(key));
    fclose(f);
    return v;
}

static int armed(long k) {
    const clockid_t clocks[] = {CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME};
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_NONE;
    timer_t *t = calloc((size_t)k, sizeof *t);
    for (long i = 0; i < k; i++)
        if (timer_create(clocks[i % 3], &ev, &t[i]) != 0) {
            perror("timer_create");
            return 1;
        }
    long wrong = 0;
    for (int round = 0; round < 2; round++)
        for (long i = 0; i < k; i++) {
            struct timespec now_ts;
            clock_gettime(clocks[i % 3], &now_ts);
            long long end = now_ts.tv_sec * 1000000000LL + now_ts.tv_nsec + 200000000LL;
            struct itimerspec its = {{0, 0}, {end / 1000000000LL, end % 1000000000LL}}, left;
            if (timer_settime(t[i], TIMER_ABSTIME, &its, NULL) != 0 ||
                timer_gettime(t[i], &left) != 0) {
                perror("timer_settime");
                return 1;
            }
            long long ms = (left.it_value.tv_sec * 1000000000LL + left.it_value.tv_nsec) / 1000000;
            if (ms < 100 || ms > 200) wrong++;
        }
    printf("armed %ld\narmed_wrong %ld\n", k, wrong);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "armed")) return armed(atol(argv[2]));
    if (argc != 3) {
        fprintf(stderr, "usage: timers N monotonic|realtime | armed K\n");
        return 2;
    }
    long n = atol(argv[1]);
    clockid_t clock = strcmp(argv[2], "realtime") ? CLOCK_MONOTONIC : CLOCK_REALTIME;
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_NONE;
    long long start = now();
    for (long i = 0; i < n; i++) {
        timer_t t;
        if (timer_create(clock, &ev, &t) != 0 || timer_delete(t) != 0) {
            perror("timer_create/timer_delete");
            return 1;
        }
    }
    printf("pairs %ld\npairs_ms %lld\n", n, (now() - start) / 1000000);
    long tracer = status_field(getpid(), "TracerPid:");
    if (tracer > 0) printf("tracer_rss_kb %ld\n", status_field(tracer, "VmRSS:"));
    return 0;
}
