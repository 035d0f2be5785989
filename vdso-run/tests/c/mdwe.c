#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#endif
static int deny_mprotect_exec(void) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mprotect, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pkey_mprotect, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { sizeof f / sizeof f[0], f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "prctl")) { if (prctl(PR_SET_MDWE, 1, 0, 0, 0)) { perror("PR_SET_MDWE"); return 3; } }
    else if (!strcmp(argv[1], "seccomp")) { if (deny_mprotect_exec()) { perror("seccomp"); return 3; } }
    else if (strcmp(argv[1], "none")) return 2;
    if (argc > 2) { execv(argv[2], argv + 2); perror("execv"); return 127; }
    /* Shows the rule holds: an mprotect adding PROT_EXEC is refused. */
    void *p = mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int denied = mprotect(p, 4096, PROT_READ | PROT_EXEC) != 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("exec_denied %d\nmonotonic %lld%09ld\n", denied, (long long)ts.tv_sec, ts.tv_nsec);
    return 0;
}
