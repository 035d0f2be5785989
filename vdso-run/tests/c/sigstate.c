/* The signal state a program starts with, and a parent that sets one.
 *   sigstate print            SigPnd, ShdPnd, SigBlk, SigIgn and SigCgt of
 *                             /proc/self/status, as the kernel shows them
 *   sigstate default CMD...   every disposition default, nothing blocked,
 *                             then execs CMD
 *   sigstate odd CMD...       ignores and blocks an unusual set of signals
 *                             (SIGPIPE, SIGCHLD, job control, real-time
 *                             ones among them), then execs CMD */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void print(void) {
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "SigPnd:", 7) || !strncmp(line, "ShdPnd:", 7) ||
            !strncmp(line, "SigBlk:", 7) || !strncmp(line, "SigIgn:", 7) ||
            !strncmp(line, "SigCgt:", 7))
            fputs(line, stdout);
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "print")) {
        print();
        return 0;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: sigstate print | default CMD... | odd CMD...\n");
        return 2;
    }
    sigset_t mask;
    sigemptyset(&mask);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP && (s < 32 || s >= SIGRTMIN)) signal(s, SIG_DFL);
    if (!strcmp(argv[1], "odd")) {
        const int ignored[] = {SIGPIPE, SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGUSR2, SIGTSTP,
                               SIGTTOU, SIGALRM, SIGWINCH, SIGRTMIN + 2, SIGRTMAX};
        const int blocked[] = {SIGUSR1, SIGTERM, SIGCHLD, SIGHUP, SIGINT, SIGQUIT,
                               SIGALRM, SIGTSTP, SIGCONT, SIGRTMIN + 1, SIGRTMAX};
        for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) signal(ignored[i], SIG_IGN);
        for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++) sigaddset(&mask, blocked[i]);
    } else if (strcmp(argv[1], "default")) {
        fprintf(stderr, "unknown state %s\n", argv[1]);
        return 2;
    }
    sigprocmask(SIG_SETMASK, &mask, NULL);
    execvp(argv[2], argv + 2);
    perror("execvp");
    return 127;
}
