/* Makes a known number of calls to each entry the image serves:
 * 1000 clock_gettime, 10 gettimeofday, 5 time, 3 clock_getres, 2 getcpu. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

int main(void) {
    struct timespec t;
    struct timeval tv;
    unsigned cpu, node;
    long long sum = 0;
    for (int i = 0; i < 1000; i++) {
        clock_gettime(i % 2 ? CLOCK_MONOTONIC : CLOCK_REALTIME, &t);
        sum += t.tv_nsec;
    }
    for (int i = 0; i < 10; i++) gettimeofday(&tv, NULL);
    for (int i = 0; i < 5; i++) sum += time(NULL);
    for (int i = 0; i < 3; i++) clock_getres(CLOCK_MONOTONIC, &t);
    for (int i = 0; i < 2; i++) getcpu(&cpu, &node);
    printf("done %lld\n", sum & 1);
    return 0;
}
