/* manywaits N MS: N threads wait at once, each in an absolute
 * clock_nanosleep on CLOCK_MONOTONIC until one deadline MS ahead (set only
 * once every thread exists, and read after a barrier). Prints
 *   threads N
 *   at_once 1         every wait began before any ended (else 0)
 *   early K           waits that ended before the deadline
 *   failed K          waits that returned an error
 *   late_ms M         how long after the deadline the last one ended */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_barrier_t start;
static struct timespec deadline;
static long long *began, *ended;
static int *result;

static long long now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void *waiter(void *arg) {
    long i = (long)arg;
    pthread_barrier_wait(&start);
    began[i] = now();
    result[i] = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL);
    ended[i] = now();
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: manywaits N MS\n");
        return 2;
    }
    long n = atol(argv[1]), ms = atol(argv[2]);
    began = calloc((size_t)n, sizeof *began);
    ended = calloc((size_t)n, sizeof *ended);
    result = calloc((size_t)n, sizeof *result);
    pthread_t *th = calloc((size_t)n, sizeof *th);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_barrier_init(&start, NULL, (unsigned)n + 1);
    for (long i = 0; i < n; i++)
        if (pthread_create(&th[i], &attr, waiter, (void *)i) != 0) {
            fprintf(stderr, "pthread_create %ld failed\n", i);
            return 1;
        }
    long long end = now() + ms * 1000000LL;
    deadline.tv_sec = end / 1000000000LL;
    deadline.tv_nsec = end % 1000000000LL;
    pthread_barrier_wait(&start);
    for (long i = 0; i < n; i++) pthread_join(th[i], NULL);
    long long last_began = 0, first_ended = -1, last_ended = 0;
    long early = 0, failed = 0;
    for (long i = 0; i < n; i++) {
        if (began[i] > last_began) last_began = began[i];
        if (first_ended < 0 || ended[i] < first_ended) first_ended = ended[i];
        if (ended[i] > last_ended) last_ended = ended[i];
        if (ended[i] < end) early++;
        if (result[i] != 0) failed++;
    }
    printf("threads %ld\nat_once %d\nearly %ld\nfailed %ld\nlate_ms %lld\n", n,
           last_began < first_ended, early, failed, (last_ended - end) / 1000000);
    return 0;
}
