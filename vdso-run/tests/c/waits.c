/* Each absolute-time wait vdso-run translates, with a deadline 200 ms ahead
 * on the program's own (namespaced) clock. Prints "NAME MILLISECONDS" per
 * wait, measured on CLOCK_MONOTONIC (the offset cancels out). A wait that
 * is not translated sleeps for the offset (positive) or not at all
 * (negative). Usage: waits [NAME]. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>

#define AHEAD_MS 200

static long long now_ns(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static struct timespec deadline(clockid_t c) {
    long long n = now_ns(c) + AHEAD_MS * 1000000LL;
    struct timespec t = {n / 1000000000LL, n % 1000000000LL};
    return t;
}

static long long start;
static void begin(void) { start = now_ns(CLOCK_MONOTONIC); }
static void report(const char *name, int ret, int expected) {
    long long ms = (now_ns(CLOCK_MONOTONIC) - start) / 1000000;
    if (ret != expected)
        printf("%s %lld unexpected-result %d (%s)\n", name, ms, ret, strerror(ret < 0 ? errno : ret));
    else
        printf("%s %lld\n", name, ms);
    fflush(stdout);
}

static void nanosleep_clock(const char *name, clockid_t c) {
    struct timespec t = deadline(c);
    begin();
    report(name, clock_nanosleep(c, TIMER_ABSTIME, &t, NULL), 0);
}

static void syscall_nanosleep(void) {
    struct timespec t = deadline(CLOCK_MONOTONIC);
    begin();
    report("syscall_clock_nanosleep", (int)syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL), 0);
}

static void timerfd_clock(const char *name, clockid_t c) {
    int fd = timerfd_create(c, TFD_CLOEXEC);
    struct itimerspec its = {{0, 0}, deadline(c)};
    uint64_t ticks;
    begin();
    if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) != 0) { report(name, -1, 0); return; }
    report(name, read(fd, &ticks, sizeof ticks) == sizeof ticks ? 0 : -1, 0);
    close(fd);
}

static void posix_timer(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGRTMIN;
    timer_t timer;
    if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) { report("timer_settime", -1, 0); return; }
    struct itimerspec its = {{0, 0}, deadline(CLOCK_MONOTONIC)};
    begin();
    timer_settime(timer, TIMER_ABSTIME, &its, NULL);
    report("timer_settime", sigwaitinfo(&set, NULL) == SIGRTMIN ? 0 : -1, 0);
    timer_delete(timer);
}

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

static void cond_clockwait(void) {
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    struct timespec t = deadline(CLOCK_MONOTONIC);
    pthread_mutex_lock(&m);
    begin();
    report("pthread_cond_clockwait", pthread_cond_clockwait(&c, &m, CLOCK_MONOTONIC, &t), ETIMEDOUT);
    pthread_mutex_unlock(&m);
}

static void cond_timedwait_monotonic(void) {
    pthread_condattr_t a;
    pthread_cond_t c;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&c, &a);
    struct timespec t = deadline(CLOCK_MONOTONIC);
    pthread_mutex_lock(&m);
    begin();
    report("pthread_cond_timedwait", pthread_cond_timedwait(&c, &m, &t), ETIMEDOUT);
    pthread_mutex_unlock(&m);
}

/* A realtime condition variable (static initialiser): must NOT be translated. */
static void cond_timedwait_realtime(void) {
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    struct timespec t = deadline(CLOCK_REALTIME);
    pthread_mutex_lock(&m);
    begin();
    report("pthread_cond_timedwait_realtime", pthread_cond_timedwait(&c, &m, &t), ETIMEDOUT);
    pthread_mutex_unlock(&m);
}

static void sem(void) {
    sem_t s;
    sem_init(&s, 0, 0);
    struct timespec t = deadline(CLOCK_MONOTONIC);
    begin();
    int r = sem_clockwait(&s, CLOCK_MONOTONIC, &t);
    report("sem_clockwait", r == -1 && errno == ETIMEDOUT ? 0 : -1, 0);
}

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;

static void *mutex_clocklock(void *arg) {
    (void)arg;
    struct timespec t = deadline(CLOCK_MONOTONIC);
    begin();
    report("pthread_mutex_clocklock", pthread_mutex_clocklock(&held, CLOCK_MONOTONIC, &t), ETIMEDOUT);
    return NULL;
}

static void *rwlock_rd(void *arg) {
    (void)arg;
    struct timespec t = deadline(CLOCK_MONOTONIC);
    begin();
    report("pthread_rwlock_clockrdlock", pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &t), ETIMEDOUT);
    return NULL;
}

static void *rwlock_wr(void *arg) {
    (void)arg;
    struct timespec t = deadline(CLOCK_MONOTONIC);
    begin();
    report("pthread_rwlock_clockwrlock", pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &t), ETIMEDOUT);
    return NULL;
}

static void in_thread(void *(*f)(void *)) {
    pthread_t th;
    pthread_create(&th, NULL, f, NULL);
    pthread_join(th, NULL);
}

static void locks(const char *which) {
    if (!strcmp(which, "mutex")) {
        pthread_mutex_lock(&held);
        in_thread(mutex_clocklock);
        pthread_mutex_unlock(&held);
    } else if (!strcmp(which, "rd")) {
        pthread_rwlock_wrlock(&rw);
        in_thread(rwlock_rd);
        pthread_rwlock_unlock(&rw);
    } else {
        pthread_rwlock_rdlock(&rw);
        in_thread(rwlock_wr);
        pthread_rwlock_unlock(&rw);
    }
}

static void *sleeper(void *arg) {
    (void)arg;
    sleep(3);
    return NULL;
}

static void clockjoin(void) {
    pthread_t th;
    pthread_create(&th, NULL, sleeper, NULL);
    struct timespec t = deadline(CLOCK_MONOTONIC);
    begin();
    report("pthread_clockjoin_np", pthread_clockjoin_np(th, NULL, CLOCK_MONOTONIC, &t), ETIMEDOUT);
    pthread_detach(th);
}

static uint32_t word;

static void futex_bitset(void) {
    struct timespec t = deadline(CLOCK_MONOTONIC);
    begin();
    long r = syscall(SYS_futex, &word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0, &t, NULL, FUTEX_BITSET_MATCH_ANY);
    report("futex_wait_bitset", r == -1 && errno == ETIMEDOUT ? 0 : -1, 0);
}

struct waitv { uint64_t val; uint64_t uaddr; uint32_t flags; uint32_t reserved; };

static void futex_waitv(void) {
    struct waitv w = {0, (uintptr_t)&word, 2 /* FUTEX2_SIZE_U32 */ | 128 /* PRIVATE */, 0};
    struct timespec t = deadline(CLOCK_MONOTONIC);
    begin();
    long r = syscall(449 /* futex_waitv */, &w, 1, 0, &t, CLOCK_MONOTONIC);
    report("futex_waitv", r == -1 && errno == ETIMEDOUT ? 0 : -1, 0);
}

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : NULL;
#define RUN(name, call) if (!only || !strcmp(only, name)) { call; }
    RUN("clock_nanosleep", nanosleep_clock("clock_nanosleep", CLOCK_MONOTONIC));
    RUN("clock_nanosleep_boottime", nanosleep_clock("clock_nanosleep_boottime", CLOCK_BOOTTIME));
    RUN("syscall_clock_nanosleep", syscall_nanosleep());
    RUN("timerfd_settime", timerfd_clock("timerfd_settime", CLOCK_MONOTONIC));
    RUN("timerfd_settime_boottime", timerfd_clock("timerfd_settime_boottime", CLOCK_BOOTTIME));
    RUN("timer_settime", posix_timer());
    RUN("pthread_cond_clockwait", cond_clockwait());
    RUN("pthread_cond_timedwait", cond_timedwait_monotonic());
    RUN("pthread_cond_timedwait_realtime", cond_timedwait_realtime());
    RUN("sem_clockwait", sem());
    RUN("pthread_mutex_clocklock", locks("mutex"));
    RUN("pthread_rwlock_clockrdlock", locks("rd"));
    RUN("pthread_rwlock_clockwrlock", locks("wr"));
    RUN("pthread_clockjoin_np", clockjoin());
    RUN("futex_wait_bitset", futex_bitset());
    RUN("futex_waitv", futex_waitv());
    return 0;
}
