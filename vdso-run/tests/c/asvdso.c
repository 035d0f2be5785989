/* The C program of the --as-vdso tests, built twice: against glibc
 * (dynamic) and with musl-gcc -static. Each argument is a command, run in
 * order:
 *   clocks            the clocks through the libc (hence the vDSO it found)
 *   image LEN         the first LEN bytes at getauxval(AT_SYSINFO_EHDR), hex
 *   bracket           for three clocks, vDSO / system call / vDSO readings
 *   sleep             clock_nanosleep(MONOTONIC, TIMER_ABSTIME, now + 200 ms)
 *   auxv              AT_SYSINFO_EHDR from getauxval and from /proc/self/auxv
 *   rng OFFSET        the random generator data (generation, is_ready) at
 *                     getauxval(AT_SYSINFO_EHDR) + OFFSET
 *   restart           absolute waits interrupted by a storm of signals
 *   preserve          registers and deadlines as the caller left them
 *   timerfd-exec SELF a MONOTONIC timerfd, inherited by SELF timerfd FD
 *   timerfd FD        arm FD absolutely 200 ms ahead, wait for it
 *   timer-realtime    an absolute REALTIME POSIX timer 200 ms ahead (not shifted)
 *   thread-exec SELF  a second thread execs SELF clocks
 *   own-filter        installs its own filter stopping getppid (SECCOMP_RET_TRACE)
 *   maps              the /proc/self/maps lines of the vDSO, of the page below
 *                     it and of the kernel's special mappings
 *   shared            four threads wait on one deadline 200 ms ahead, at once
 *   int80             an absolute clock_nanosleep through the i386 ABI
 *   undumpable        PR_SET_DUMPABLE 0, then an absolute sleep 200 ms ahead
 *   edge              an absolute clock_nanosleep 200 ms ahead made with the
 *                     stack pointer 64 bytes above the bottom of the main
 *                     thread's stack mapping ([stack]): the pages below it
 *                     are not there yet; says whether the mapping grew
 *   exec PATH ARGS..  execs PATH (the rest of the arguments are its own) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
/* linux/futex.h, which musl-gcc does not see */
#define FUTEX_WAIT_BITSET 9
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_BITSET_MATCH_ANY 0xffffffff

struct waitv { uint64_t val, uaddr; uint32_t flags, reserved; };

static const struct { const char *name; clockid_t id; } CLOCKS[] = {
    {"realtime", CLOCK_REALTIME},
    {"monotonic", CLOCK_MONOTONIC},
    {"monotonic_raw", CLOCK_MONOTONIC_RAW},
    {"monotonic_coarse", CLOCK_MONOTONIC_COARSE},
    {"boottime", CLOCK_BOOTTIME},
};

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

static long long now(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return ns(t);
}

static long long sys_now(clockid_t c) {
    struct timespec t;
    syscall(SYS_clock_gettime, c, &t);
    return ns(t);
}

static void clocks(void) {
    for (size_t i = 0; i < sizeof CLOCKS / sizeof CLOCKS[0]; i++) {
        struct timespec t;
        clock_gettime(CLOCKS[i].id, &t);
        printf("%s %lld.%09ld\n", CLOCKS[i].name, (long long)t.tv_sec, t.tv_nsec);
    }
}

static void image(long len) {
    const unsigned char *p = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
    printf("image ");
    for (long i = 0; i < len; i++) printf("%02x", p[i]);
    printf("\n");
}

static void bracket(void) {
    const clockid_t ids[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME};
    const char *names[] = {"realtime", "monotonic", "boottime"};
    for (int round = 0; round < 20; round++)
        for (int i = 0; i < 3; i++) {
            long long a = now(ids[i]), k = sys_now(ids[i]), b = now(ids[i]);
            printf("bracket_%s_%d %lld %lld %lld\n", names[i], round, a, k, b);
        }
}

static void nap(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    long long start = ns(t), end = start + 200000000LL;
    struct timespec d = {end / 1000000000LL, end % 1000000000LL};
    int r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d, NULL);
    printf("sleep_ms %lld %d\n", (now(CLOCK_MONOTONIC) - start) / 1000000, r);
}

static void rng(long offset) {
    const volatile unsigned char *p =
        (const volatile unsigned char *)getauxval(AT_SYSINFO_EHDR) + offset;
    printf("rng_generation %llu\nrng_is_ready %u\n",
           (unsigned long long)*(const volatile uint64_t *)p, (unsigned)p[8]);
}

static void auxv(void) {
    unsigned long from_stack = getauxval(AT_SYSINFO_EHDR), from_proc = 0, kv[2];
    int fd = open("/proc/self/auxv", O_RDONLY);
    while (read(fd, kv, sizeof kv) == sizeof kv)
        if (kv[0] == AT_SYSINFO_EHDR) from_proc = kv[1];
    close(fd);
    printf("getauxval %lx\nproc_auxv %lx\n", from_stack, from_proc);
}

/* restart: waits 300 ms ahead while another thread interrupts the waiter
 * every 5 ms, with a signal it ignores (the kernel restarts the call
 * itself) and with one whose SA_RESTART handler runs (futex_waitv is
 * restarted; clock_nanosleep returns EINTR and the caller calls again with
 * the same deadline). */
static pthread_t waiter;
static volatile int waiting;
static int storm_sig;

static void on_sig(int s) { (void)s; }

static void *storm(void *arg) {
    (void)arg;
    while (waiting) {
        pthread_kill(waiter, storm_sig);
        usleep(5000);
    }
    return NULL;
}

static long long deadline_in(struct timespec *d, long long ms) {
    long long start = now(CLOCK_MONOTONIC), end = start + ms * 1000000LL;
    d->tv_sec = end / 1000000000LL;
    d->tv_nsec = end % 1000000000LL;
    return start;
}

static void restart(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_sig;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    waiter = pthread_self();
    const char *kinds[] = {"clock_nanosleep", "futex_waitv", "futex_wait_bitset"};
    for (int k = 0; k < 3; k++)
        for (int handled = 0; handled < 2; handled++) {
            storm_sig = handled ? SIGUSR1 : SIGWINCH;
            struct timespec d;
            static uint32_t word;
            long long start = deadline_in(&d, 300);
            int interrupted = 0;
            pthread_t th;
            waiting = 1;
            pthread_create(&th, NULL, storm, NULL);
            long r;
            do {
                if (k == 0) {
                    r = syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &d, NULL);
                    if (r == 0) break;
                    r = errno;
                } else if (k == 1) {
                    struct waitv w = {0, (uintptr_t)&word, 2 /* FUTEX2_SIZE_U32 */, 0};
                    r = syscall(SYS_futex_waitv, &w, 1, 0, &d, CLOCK_MONOTONIC);
                    r = r < 0 ? errno : 0;
                } else {
                    r = syscall(SYS_futex, &word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0, &d,
                                NULL, FUTEX_BITSET_MATCH_ANY);
                    r = r < 0 ? errno : 0;
                }
                if (r == EINTR) interrupted++;
            } while (r == EINTR);
            waiting = 0;
            pthread_join(th, NULL);
            printf("restart_%s_%s %lld %s %d\n", kinds[k], handled ? "handled" : "ignored",
                   (now(CLOCK_MONOTONIC) - start) / 1000000,
                   r == 0 || r == ETIMEDOUT ? "ok" : strerror(r), interrupted);
        }
}

/* preserve: the kernel keeps a system call's argument registers, and the
 * deadline is the caller's to reuse. Raw syscalls through asm, so that the
 * registers after the call are seen; the deadline lives in a read-only page. */
static long raw4(long nr, long a0, long a1, long a2, long a3, long a4, long out[5]) {
    register long r10 asm("r10") = a3;
    register long r8 asm("r8") = a4;
    long ret;
    asm volatile("syscall"
                 : "=a"(ret), "+D"(a0), "+S"(a1), "+d"(a2), "+r"(r10), "+r"(r8)
                 : "a"(nr)
                 : "rcx", "r11", "memory");
    out[0] = a0, out[1] = a1, out[2] = a2, out[3] = r10, out[4] = r8;
    return ret;
}

static void preserve(void) {
    struct timespec *d = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct itimerspec *its = (struct itimerspec *)(d + 2);
    static uint32_t word;
    struct waitv w = {0, (uintptr_t)&word, 2, 0};
    int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
    for (int k = 0; k < 3; k++) {
        long long start = deadline_in(d, 200);
        struct timespec copy = *d;
        its->it_interval = (struct timespec){0, 0};
        its->it_value = *d;
        struct itimerspec its_copy = *its;
        mprotect(d, 4096, PROT_READ);
        long in[5], out[5], ret;
        const char *name;
        if (k == 0) {
            name = "clock_nanosleep";
            long a[5] = {CLOCK_MONOTONIC, TIMER_ABSTIME, (long)d, 0, 0};
            memcpy(in, a, sizeof a);
        } else if (k == 1) {
            name = "futex_waitv";
            long a[5] = {(long)&w, 1, 0, (long)d, CLOCK_MONOTONIC};
            memcpy(in, a, sizeof a);
        } else {
            name = "timerfd_settime";
            long a[5] = {tfd, TFD_TIMER_ABSTIME, (long)its, 0, 0};
            memcpy(in, a, sizeof a);
        }
        long nr = k == 0 ? SYS_clock_nanosleep : k == 1 ? SYS_futex_waitv : SYS_timerfd_settime;
        ret = raw4(nr, in[0], in[1], in[2], in[3], in[4], out);
        if (k == 2 && ret == 0) {
            uint64_t n;
            ret = read(tfd, &n, sizeof n) == sizeof n ? 0 : -errno;
        }
        long long ms = (now(CLOCK_MONOTONIC) - start) / 1000000;
        int regs = memcmp(in, out, sizeof in) == 0;
        int mem = memcmp(&copy, d, sizeof copy) == 0 && memcmp(&its_copy, its, sizeof *its) == 0;
        printf("preserve_%s %lld %ld %s %s\n", name, ms, ret, regs ? "registers-kept" : "registers-changed",
               mem ? "deadline-kept" : "deadline-changed");
        mprotect(d, 4096, PROT_READ | PROT_WRITE);
    }
    /* timerfd_settime with old == new: the kernel writes the old setting
     * (armed 10 s ahead, relatively) over the new one, and that is what the
     * caller must find afterwards. */
    struct itimerspec rel = {{0, 0}, {10, 0}}, both;
    timerfd_settime(tfd, 0, &rel, NULL);
    long long start = deadline_in(&both.it_value, 200);
    both.it_interval = (struct timespec){0, 0};
    int r = timerfd_settime(tfd, TFD_TIMER_ABSTIME, &both, &both);
    uint64_t n;
    if (r == 0 && read(tfd, &n, sizeof n) != sizeof n) r = -1;
    printf("preserve_old_is_new %lld %d old_value_sec %ld\n", (now(CLOCK_MONOTONIC) - start) / 1000000,
           r, (long)both.it_value.tv_sec);
}

static void timerfd_wait(int fd) {
    long long start = now(CLOCK_MONOTONIC), end = start + 200000000LL;
    struct itimerspec its = {{0, 0}, {end / 1000000000LL, end % 1000000000LL}};
    uint64_t n = 0;
    int r = timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
    if (r == 0 && read(fd, &n, sizeof n) != sizeof n) r = -1;
    printf("timerfd_ms %lld %d\n", (now(CLOCK_MONOTONIC) - start) / 1000000, r);
}

static void timer_realtime(void) {
    struct sigevent ev = {0};
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR2;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    /* A MONOTONIC timer deleted first: a kernel that reuses its id gives
     * it to the REALTIME one, whose clock must then be known afresh. */
    timer_t mono, real;
    timer_create(CLOCK_MONOTONIC, &ev, &mono);
    timer_delete(mono);
    timer_create(CLOCK_REALTIME, &ev, &real);
    long long start = now(CLOCK_MONOTONIC), end = now(CLOCK_REALTIME) + 200000000LL;
    struct itimerspec its = {{0, 0}, {end / 1000000000LL, end % 1000000000LL}};
    int r = timer_settime(real, TIMER_ABSTIME, &its, NULL), sig;
    sigwait(&set, &sig);
    printf("timer_realtime_ms %lld %d same_id %d\n", (now(CLOCK_MONOTONIC) - start) / 1000000, r,
           mono == real);
}

/* A filter of the program's own that asks a tracer to handle getppid. With
 * no tracer of its own, the kernel fails the call with ENOSYS. */
struct bpf_insn { unsigned short code; unsigned char jt, jf; unsigned int k; };
struct bpf_prog { unsigned short len; struct bpf_insn *insns; };

static void own_filter(void) {
    /* (linux/filter.h and linux/seccomp.h, which musl-gcc does not see) */
    struct bpf_insn f[] = {
        {0x20, 0, 0, 0},                  /* ld [nr] */
        {0x15, 0, 1, SYS_getppid},        /* jeq getppid */
        {0x06, 0, 0, 0x7ff00000u | 1},    /* ret SECCOMP_RET_TRACE | 1 */
        {0x06, 0, 0, 0x7fff0000u},        /* ret SECCOMP_RET_ALLOW */
    };
    struct bpf_prog prog = {sizeof f / sizeof f[0], f};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (syscall(SYS_seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, 0, &prog) != 0) {
        printf("own_filter install-failed %s\n", strerror(errno));
        return;
    }
    long r = syscall(SYS_getppid);
    printf("own_filter %ld %s\n", r, r < 0 ? strerror(errno) : "ok");
}

static void maps(void) {
    unsigned long base = getauxval(AT_SYSINFO_EHDR), lo, hi;
    char line[512];
    FILE *f = fopen("/proc/self/maps", "r");
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
            if (lo <= base && base < hi) printf("maps_image %s", line);
            if (lo <= base - 16384 && base - 16384 < hi) printf("maps_data %s", line);
            if (strstr(line, "[vdso]") || strstr(line, "[vvar"))
                printf("maps_kernel %s", line);
        }
    fclose(f);
}

static struct timespec shared_deadline;

static void *shared_waiter(void *arg) {
    long long start = now(CLOCK_MONOTONIC);
    int r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &shared_deadline, NULL);
    printf("shared_%ld %lld %d\n", (long)arg, (now(CLOCK_MONOTONIC) - start) / 1000000, r);
    return NULL;
}

static void shared(void) {
    deadline_in(&shared_deadline, 200);
    pthread_t th[4];
    for (long i = 0; i < 4; i++) pthread_create(&th[i], NULL, shared_waiter, (void *)i);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
}

/* int $0x80 from 64-bit code: the i386 ABI, whose clock_nanosleep (267)
 * takes a 32-bit timespec. */
static void int80(void) {
    static struct { int sec, nsec; } d;
    long long end = now(CLOCK_MONOTONIC) + 200000000LL;
    d.sec = (int)(end / 1000000000LL);
    d.nsec = (int)(end % 1000000000LL);
    long ret;
    asm volatile("int $0x80"
                 : "=a"(ret)
                 : "a"(267L), "b"((long)CLOCK_MONOTONIC), "c"((long)TIMER_ABSTIME), "d"(&d), "S"(0L)
                 : "memory");
    printf("int80 %ld\n", ret);
}

/* The start of the [stack] mapping. */
static unsigned long stack_bottom(void) {
    unsigned long lo = 0, hi;
    char line[512];
    FILE *f = fopen("/proc/self/maps", "r");
    while (fgets(line, sizeof line, f))
        if (strstr(line, "[stack]")) sscanf(line, "%lx-%lx", &lo, &hi);
    fclose(f);
    return lo;
}

static void edge(void) {
    static struct timespec d;
    unsigned long bottom = stack_bottom();
    long long start = deadline_in(&d, 200);
    register long r10 asm("r10") = 0;
    long ret;
    /* No signal handler runs meanwhile: a signal frame would be written
     * below the stack pointer too, which is allowed. */
    asm volatile("mov %%rsp, %%r12\n\t"
                 "mov %[sp], %%rsp\n\t"
                 "syscall\n\t"
                 "mov %%r12, %%rsp"
                 : "=a"(ret)
                 : "a"((long)SYS_clock_nanosleep), "D"((long)CLOCK_MONOTONIC),
                   "S"((long)TIMER_ABSTIME), "d"(&d), "r"(r10), [sp] "r"(bottom + 64)
                 : "rcx", "r11", "r12", "memory");
    printf("edge_ms %lld %ld grew %d\n", (now(CLOCK_MONOTONIC) - start) / 1000000, ret,
           stack_bottom() < bottom);
}

static void undumpable(void) {
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    nap();
}

static char **thread_argv;

static void *exec_thread(void *arg) {
    (void)arg;
    execv(thread_argv[0], thread_argv);
    perror("execv");
    exit(1);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "clocks")) clocks();
        else if (!strcmp(argv[i], "image") && i + 1 < argc) image(atol(argv[++i]));
        else if (!strcmp(argv[i], "bracket")) bracket();
        else if (!strcmp(argv[i], "sleep")) nap();
        else if (!strcmp(argv[i], "auxv")) auxv();
        else if (!strcmp(argv[i], "rng") && i + 1 < argc) rng(atol(argv[++i]));
        else if (!strcmp(argv[i], "restart")) restart();
        else if (!strcmp(argv[i], "preserve")) preserve();
        else if (!strcmp(argv[i], "timerfd") && i + 1 < argc) timerfd_wait(atoi(argv[++i]));
        else if (!strcmp(argv[i], "timerfd-exec") && i + 1 < argc) {
            char fd[16];
            snprintf(fd, sizeof fd, "%d", timerfd_create(CLOCK_MONOTONIC, 0));
            execl(argv[i + 1], argv[i + 1], "timerfd", fd, (char *)NULL);
            perror("execl");
            return 1;
        } else if (!strcmp(argv[i], "timer-realtime")) timer_realtime();
        else if (!strcmp(argv[i], "own-filter")) own_filter();
        else if (!strcmp(argv[i], "maps")) maps();
        else if (!strcmp(argv[i], "shared")) shared();
        else if (!strcmp(argv[i], "int80")) int80();
        else if (!strcmp(argv[i], "undumpable")) undumpable();
        else if (!strcmp(argv[i], "edge")) edge();
        else if (!strcmp(argv[i], "thread-exec") && i + 1 < argc) {
            char *args[] = {argv[i + 1], "clocks", NULL};
            thread_argv = args;
            pthread_t th;
            pthread_create(&th, NULL, exec_thread, NULL);
            pause();
        } else if (!strcmp(argv[i], "exec") && i + 1 < argc) {
            execv(argv[i + 1], argv + i + 1);
            perror("execv");
            return 1;
        } else {
            fprintf(stderr, "unknown command %s\n", argv[i]);
            return 2;
        }
    }
    return 0;
}
