/* clock_gettime(CLOCK_MONOTONIC) three ways in one process, interleaved:
 *   glibc   glibc's clock_gettime (through whatever vDSO glibc found)
 *   given   __vdso_clock_gettime of the vDSO at getauxval(AT_SYSINFO_EHDR)
 *   kernel  __vdso_clock_gettime of the kernel's vDSO, found through
 *           /proc/self/auxv (which keeps the kernel's value under
 *           vdso-run --as-vdso --keep-kernel-vdso)
 * Without vdso-run, given and kernel are the same code. Under
 * vdso-run --as-vdso, given is the image: given/kernel is the image against
 * the kernel's vDSO in one process. Prints the median ns per call of each.
 * `vdso_bench stops` instead times an absolute clock_nanosleep on
 * CLOCK_MONOTONIC whose deadline has passed (a call --as-vdso stops). */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* __vdso_clock_gettime through the dynamic table and DT_HASH. */
static clock_fn lookup(unsigned long base) {
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
    long load = -1;
    const Elf64_Dyn *dyn = NULL;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && load < 0) load = base + ph[i].p_offset - ph[i].p_vaddr;
        if (ph[i].p_type == PT_DYNAMIC) dyn = (const Elf64_Dyn *)(base + ph[i].p_offset);
    }
    const Elf64_Sym *sym = NULL;
    const char *str = NULL;
    const Elf64_Word *hash = NULL;
    for (; dyn && dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_SYMTAB) sym = (const Elf64_Sym *)(load + dyn->d_un.d_ptr);
        if (dyn->d_tag == DT_STRTAB) str = (const char *)(load + dyn->d_un.d_ptr);
        if (dyn->d_tag == DT_HASH) hash = (const Elf64_Word *)(load + dyn->d_un.d_ptr);
    }
    if (!sym || !str || !hash) return NULL;
    for (Elf64_Word i = 0; i < hash[1]; i++)
        if (!strcmp(str + sym[i].st_name, "__vdso_clock_gettime"))
            return (clock_fn)(load + sym[i].st_value);
    return NULL;
}

static unsigned long kernel_ehdr(void) {
    unsigned long kv[2], v = 0;
    int fd = open("/proc/self/auxv", O_RDONLY);
    while (read(fd, kv, sizeof kv) == sizeof kv)
        if (kv[0] == AT_SYSINFO_EHDR) v = kv[1];
    close(fd);
    return v;
}

static int stops(void) {
    struct timespec past = {0, 0};
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC_RAW, &a);
        for (int i = 0; i < 5000; i++) clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &past, NULL);
        clock_gettime(CLOCK_MONOTONIC_RAW, &b);
        double us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 5000 / 1e3;
        if (us < best) best = us;
    }
    printf("abs_sleep_us %.2f\n", best);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "stops")) return stops();
    volatile clock_fn fns[3] = {clock_gettime, lookup(getauxval(AT_SYSINFO_EHDR)),
                                lookup(kernel_ehdr())};
    const char *names[3] = {"glibc", "given", "kernel"};
    if (!fns[1] || !fns[2]) { fprintf(stderr, "no __vdso_clock_gettime\n"); return 1; }
    double t[3][ROUNDS];
    for (int i = 0; i < 3; i++) per_call(fns[i]); /* warm up */
    for (int r = 0; r < ROUNDS; r++)
        for (int k = 0; k < 3; k++) {
            int i = (r + k) % 3;
            t[i][r] = per_call(fns[i]);
        }
    for (int i = 0; i < 3; i++) {
        qsort(t[i], ROUNDS, sizeof(double), cmp);
        printf("%s_median_ns %.2f\n", names[i], t[i][ROUNDS / 2]);
    }
    return 0;
}
