/* A process of a given size to migrate, for scripts/bench-migrate.
 *
 *   fill-spin MIB
 *
 * Allocates MIB MiB (anonymous, private) and writes every byte with a seeded xorshift
 * generator, so the memory neither compresses nor is elided as zero pages; prints "ready" and
 * then spins on the monotonic clock (the vDSO: no system call) forever. Every pause of more
 * than 5 ms it sees is printed as "gap NS" (one write, the only system call it makes): the
 * time it was frozen, as the process itself saw it, from the last clock read before the
 * freeze to the first after it resumes, on whichever node. Every 2^24 clock reads it also
 * adds up a few words of its memory, so the pages stay in use and the loop is not optimised
 * away.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 2 || atol(argv[1]) <= 0) {
        fprintf(stderr, "usage: fill-spin MIB\n");
        return 2;
    }
    size_t bytes = (size_t)atol(argv[1]) << 20;
    uint64_t *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        perror("fill-spin: mmap");
        return 2;
    }
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < bytes / 8; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        mem[i] = x;
    }
    printf("ready %zu MiB\n", bytes >> 20);
    fflush(stdout);
    volatile uint64_t sink = 0;
    uint64_t last = now_ns(), reads = 0;
    for (;;) {
        uint64_t t = now_ns();
        if (t - last > 5000000) {
            printf("gap %lu\n", (unsigned long)(t - last));
            fflush(stdout);
            t = now_ns();
        }
        last = t;
        if ((++reads & 0xffffff) == 0)
            sink += mem[(reads >> 24) * 4099 % (bytes / 8)];
    }
}
