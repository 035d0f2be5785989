/* What bench.c and vdso_bench.c time alike: CALLS calls of a clock_gettime
 * through a pointer (as a PLT call is), in ROUNDS batches whose median they
 * report. Include after <time.h>. */
#ifndef VDSO_RUN_BENCH_H
#define VDSO_RUN_BENCH_H

typedef int (*clock_fn)(clockid_t, struct timespec *);

#define ROUNDS 41
#define CALLS 200000

/* Nanoseconds per call of f(CLOCK_MONOTONIC) over one batch. */
static double per_call(clock_fn f) {
    struct timespec a, b, t;
    clock_gettime(CLOCK_MONOTONIC_RAW, &a);
    for (int i = 0; i < CALLS; i++) f(CLOCK_MONOTONIC, &t);
    clock_gettime(CLOCK_MONOTONIC_RAW, &b);
    return ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / CALLS;
}

/* For qsort of doubles. */
static int cmp(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

#endif
