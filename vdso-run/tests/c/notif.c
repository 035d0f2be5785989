/* A program with a seccomp filter of its own that sends a system call to a
 * supervisor thread of its own (SECCOMP_RET_USER_NOTIF), which lets the
 * call go on unchanged (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
 *   notif sleep    the filter takes clock_nanosleep; then an absolute
 *                  clock_nanosleep on CLOCK_MONOTONIC 200 ms ahead
 *   notif getppid  the filter takes getppid; then getppid
 * Prints
 *   install ok | install ERROR      installing the filter
 *   sleep_ms MS RESULT | getppid RESULT */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void *supervise(void *arg) {
    int fd = *(int *)arg;
    for (;;) {
        struct seccomp_notif req;
        struct seccomp_notif_resp resp;
        memset(&req, 0, sizeof req);
        if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) continue;
        memset(&resp, 0, sizeof resp);
        resp.id = req.id;
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2 || (strcmp(argv[1], "sleep") && strcmp(argv[1], "getppid"))) {
        fprintf(stderr, "usage: notif sleep|getppid\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int nr = strcmp(argv[1], "sleep") ? SYS_getppid : SYS_clock_nanosleep;
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    static int fd;
    fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (fd < 0) {
        printf("install %s\n", strerror(errno));
    } else {
        printf("install ok\n");
        pthread_t th;
        pthread_create(&th, NULL, supervise, &fd);
    }
    if (nr == SYS_getppid) {
        printf("getppid %ld\n", syscall(SYS_getppid) == getppid() ? 0L : -1L);
        return 0;
    }
    long long start = now(), end = start + 200000000LL;
    struct timespec d = {end / 1000000000LL, end % 1000000000LL};
    int r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d, NULL);
    printf("sleep_ms %lld %d\n", (now() - start) / 1000000, r);
    return 0;
}
