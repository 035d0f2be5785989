/* counters FILE N: N threads and the main thread each count as fast as
 * they can, in a shared mapping of FILE that a test reads from outside:
 *   word 0      this process's pid, once every other thread has counted
 *   word 1      set by the test: every thread stops and the program exits 0
 *   word 2 + i  thread i's count (the main thread is thread N) */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile uint64_t *words;

static void *count(void *arg) {
    volatile uint64_t *mine = &words[2 + (long)arg];
    while (!words[1]) __atomic_fetch_add(mine, 1, __ATOMIC_RELAXED);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: counters FILE N\n");
        return 2;
    }
    long n = atol(argv[2]);
    size_t size = (size_t)(n + 3) * 8;
    int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
        perror(argv[1]);
        return 1;
    }
    words = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    pthread_t *th = calloc((size_t)n, sizeof *th);
    for (long i = 0; i < n; i++) pthread_create(&th[i], NULL, count, (void *)i);
    for (long i = 0; i < n; i++)
        while (words[2 + i] == 0) usleep(1000);
    words[0] = (uint64_t)getpid();
    count((void *)n);
    for (long i = 0; i < n; i++) pthread_join(th[i], NULL);
    return 0;
}
