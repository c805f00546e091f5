/* A reproducible, semi-compressible input for scripts/bench-migrate.
 *
 *   gen-input MB > FILE
 *
 * Writes exactly MB * 10^6 bytes to stdout: lines of words drawn from a vocabulary of 5000
 * made-up words with a skewed (roughly Zipf-like) frequency, and every 8th line 64 characters
 * of noise. A fixed xorshift seed makes the bytes the same on every machine: gzip -9 takes it
 * to about a third and xz -9 to about a quarter.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t s = 0x2545f4914f6cdd1du;

static uint64_t next(void)
{
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 2 || atol(argv[1]) <= 0) {
        fprintf(stderr, "usage: gen-input MB > FILE\n");
        return 2;
    }
    size_t total = (size_t)atol(argv[1]) * 1000000u, done = 0;
    static char words[5000][10];
    for (int w = 0; w < 5000; w++) {
        int len = 2 + next() % 8;
        for (int i = 0; i < len; i++)
            words[w][i] = 'a' + next() % 26;
        words[w][len] = 0;
    }
    static const char noise[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+/";
    char line[256];
    for (uint64_t n = 0; done < total; n++) {
        size_t len = 0;
        if (n % 8 == 7) {
            for (int i = 0; i < 64; i++)
                line[len++] = noise[next() % 64];
        } else {
            for (int i = 0; i < 10; i++) {
                /* the smaller of two draws: low indexes are more frequent */
                uint64_t a = next() % 5000, b = next() % 5000;
                const char *w = words[a < b ? a : b];
                size_t wl = strlen(w);
                memcpy(line + len, w, wl);
                len += wl;
                line[len++] = ' ';
            }
        }
        line[len++] = '\n';
        if (len > total - done)
            len = total - done;
        fwrite(line, 1, len, stdout);
        done += len;
    }
    return fflush(stdout) != 0;
}
