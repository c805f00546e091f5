/* Round trip of two system calls, for scripts/bench-migrate.
 *
 *   syscall-rt FILE N [--wait-remote SECONDS]
 *
 * Times N getppid() calls and N pread(fd, buf, 4096, 0) calls on FILE (at least 4 KiB), each
 * call alone between two clock_gettime(CLOCK_MONOTONIC) reads (the vDSO: no system call, so
 * it runs locally on any node), after 1000 warm-up calls, and prints per call in us:
 *
 *   getppid n=N median M p90 P p99 Q mean A
 *   pread4k n=N median M p90 P p99 Q mean A
 *   clock   n=N median M ...             (the cost of the timing itself, subtracted nowhere)
 *
 * With --wait-remote it first spins until getppid has become slow (the median of 32 calls
 * above 3 us three times in a row: the process has been moved and its calls now go home),
 * for at most SECONDS, and exits with status 3 if that never happens. Only clock reads and
 * getppid run while it waits, so it does not depend on where a sleep would run.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, uint64_t *v, size_t n)
{
    long double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    qsort(v, n, sizeof v[0], cmp_u64);
    printf("%-7s n=%zu median %.2f p90 %.2f p99 %.2f mean %.2f us\n", name, n,
           v[n / 2] / 1e3, v[n * 9 / 10] / 1e3, v[n * 99 / 100] / 1e3,
           (double)(sum / n / 1e3));
    fflush(stdout);
}

static uint64_t median_getppid(int calls)
{
    uint64_t v[64];
    for (int i = 0; i < calls; i++) {
        uint64_t t0 = now_ns();
        (void)getppid();
        v[i] = now_ns() - t0;
    }
    qsort(v, calls, sizeof v[0], cmp_u64);
    return v[calls / 2];
}

int main(int argc, char **argv)
{
    if (argc != 3 && !(argc == 5 && strcmp(argv[3], "--wait-remote") == 0)) {
        fprintf(stderr, "usage: syscall-rt FILE N [--wait-remote SECONDS]\n");
        return 2;
    }
    size_t n = strtoul(argv[2], NULL, 10);
    if (n < 100) {
        fprintf(stderr, "syscall-rt: N must be at least 100\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        perror("syscall-rt: open");
        return 2;
    }
    if (argc == 5) {
        uint64_t deadline = now_ns() + strtoull(argv[4], NULL, 10) * 1000000000u;
        uint64_t start = now_ns();
        int slow = 0;
        while (slow < 3) {
            if (now_ns() > deadline) {
                fprintf(stderr, "syscall-rt: getppid never became slow: not moved?\n");
                return 3;
            }
            slow = median_getppid(32) > 3000 ? slow + 1 : 0;
        }
        printf("remote after %.3f s of waiting\n", (now_ns() - start) / 1e9);
    }
    uint64_t *v = calloc(n, sizeof *v);
    char buf[4096];
    if (!v)
        return 2;

    for (int i = 0; i < 1000; i++)
        (void)getppid();
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        (void)getppid();
        v[i] = now_ns() - t0;
    }
    report("getppid", v, n);

    for (int i = 0; i < 1000; i++)
        if (pread(fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf) {
            fprintf(stderr, "syscall-rt: pread did not return 4096 bytes\n");
            return 2;
        }
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        ssize_t r = pread(fd, buf, sizeof buf, 0);
        v[i] = now_ns() - t0;
        if (r != (ssize_t)sizeof buf) {
            fprintf(stderr, "syscall-rt: pread did not return 4096 bytes\n");
            return 2;
        }
    }
    report("pread4k", v, n);

    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        v[i] = now_ns() - t0;
    }
    report("clock", v, n);
    return 0;
}
