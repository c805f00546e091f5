// Prints "N SUM" lines: N counts 1..MAX (argv[1], default 60), one every INTERVAL ms (argv[2],
// default 100). Checks every sleep returns 0 (a wrongly resumed sleep shows here) and the
// checksum of a 1 MiB heap block. Exits 7 after MAX lines.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    unsigned long max = argc > 1 ? strtoul(argv[1], 0, 10) : 60;
    long ms = argc > 2 ? strtol(argv[2], 0, 10) : 100;
    volatile unsigned long n = 0;
    char *heap = malloc(1 << 20);
    for (int i = 0; i < 1 << 20; i++) heap[i] = (char)i;
    for (;;) {
        n++;
        unsigned long s = 0;
        for (int i = 0; i < 1 << 20; i += 4096) s += (unsigned char)heap[i];
        printf("%lu %lu\n", n, s);
        fflush(stdout);
        if (n >= max) return 7;
        struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
        int r = nanosleep(&t, NULL);
        if (r != 0) { printf("SLEEP ERR %d %d\n", r, errno); fflush(stdout); return 3; }
    }
}
