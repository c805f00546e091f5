#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
int main(void) {
    volatile unsigned long n = 0;
    char *heap = malloc(1<<20);
    for (int i = 0; i < 1<<20; i++) heap[i] = (char)i;
    for (;;) {
        n++;
        unsigned long s = 0;
        for (int i = 0; i < 1<<20; i += 4096) s += heap[i];
        printf("%lu %lu\n", n, s);
        fflush(stdout);
        usleep(100000);
        if (n >= 60) return 7;
    }
}
