/* clock_gettime(CLOCK_MONOTONIC) two ways in one process, interleaved:
 * through the symbol the program binds to (under vdso-run: the preload
 * library, then the image) and through glibc's own definition (glibc's
 * wrapper, then the kernel's vDSO). Both are called through a pointer, as a
 * PLT call is. Prints the median and best nanoseconds per call of each. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

int main(void) {
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    clock_fn glibc = libc ? (clock_fn)dlsym(libc, "clock_gettime") : NULL;
    volatile clock_fn bound = clock_gettime;
    if (!glibc) { fprintf(stderr, "no libc.so.6\n"); return 1; }
    double ours[ROUNDS], kernel[ROUNDS];
    per_call(bound); per_call(glibc); /* warm up */
    for (int r = 0; r < ROUNDS; r++) {
        if (r % 2) { ours[r] = per_call(bound); kernel[r] = per_call(glibc); }
        else { kernel[r] = per_call(glibc); ours[r] = per_call(bound); }
    }
    qsort(ours, ROUNDS, sizeof(double), cmp);
    qsort(kernel, ROUNDS, sizeof(double), cmp);
    printf("bound_median_ns %.2f\nbound_best_ns %.2f\n", ours[ROUNDS / 2], ours[0]);
    printf("glibc_median_ns %.2f\nglibc_best_ns %.2f\n", kernel[ROUNDS / 2], kernel[0]);
    printf("ratio_median %.3f\n", ours[ROUNDS / 2] / kernel[ROUNDS / 2]);
    return 0;
}
