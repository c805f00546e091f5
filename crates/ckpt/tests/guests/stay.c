// Holds one kind of state wend must refuse (argv[1]: threads, socket, shm, lock, eventfd,
// child, tty, all), prints READY, then prints a tick every 20 ms forever.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static void *idle(void *a) { (void)a; for (;;) pause(); return NULL; }

int main(int argc, char **argv) {
    const char *m = argc > 1 ? argv[1] : "all";
    int all = strcmp(m, "all") == 0;
    if (all || !strcmp(m, "threads")) { pthread_t t; pthread_create(&t, NULL, idle, NULL); }
    if (all || !strcmp(m, "socket")) { int s[2]; socketpair(AF_UNIX, SOCK_STREAM, 0, s); }
    if (all || !strcmp(m, "shm")) {
        char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        p[0] = 1;
    }
    if (all || !strcmp(m, "lock")) { int f = open("lockfile", O_RDWR | O_CREAT, 0600); flock(f, LOCK_EX); }
    if (all || !strcmp(m, "eventfd")) { eventfd(0, 0); }
    if (all || !strcmp(m, "child")) { if (fork() == 0) { for (;;) pause(); } }
    if (all || !strcmp(m, "tty")) { open("/dev/ptmx", O_RDWR | O_NOCTTY); }
    printf("READY\n");
    fflush(stdout);
    for (unsigned long n = 0;; n++) {
        printf("tick %lu\n", n);
        fflush(stdout);
        usleep(20000);
    }
}
