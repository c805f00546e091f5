/* gzip's I/O pattern with a fixed compute time, to see where a moved reader/writer waits:
 * 32 KiB read(2)s of FILE, WORK_US of busy computing after each, a 256 KiB write(2) to
 * ./gzip-like.out every 16 reads; N reads. Prints the time in reads and writes (total, per
 * call, percentiles) and in computing. Under `wend run --node node2` it first spins until
 * getppid is slow (it has moved), so the numbers are the remote's.
 *   gcc -O2 -o gzip-like scripts/bench/gzip-like.c
 *   wend lab exec --name L node1 -- wend run --node node2 -- ./gzip-like FILE 900 6000 */
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s FILE WORK_US N\n", argv[0]);
		return 2;
	}
	int in = open(argv[1], O_RDONLY);
	double work = atof(argv[2]);
	int n = atoi(argv[3]);
	int out = open("gzip-like.out", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char *rbuf = malloc(32768), *wbuf = calloc(1, 262144);
	double *rt = malloc(n * sizeof *rt), *wt = malloc(n * sizeof *wt);
	if (in < 0 || out < 0 || !rbuf || !wbuf || !rt || !wt)
		return 1;
	for (int k = 0; k < 100000; k++) { /* wait until moved (a no-op when run natively) */
		double a = now_us();
		getppid();
		if (now_us() - a > 20)
			break;
		usleep(1000);
	}
	double tr = 0, tw = 0, t0 = now_us();
	volatile double x = 0;
	int nr = 0, nw = 0;
	for (int i = 0; i < n; i++) {
		double a = now_us();
		if (read(in, rbuf, 32768) < 0)
			return 1;
		rt[nr] = now_us() - a;
		tr += rt[nr++];
		for (double end = now_us() + work; now_us() < end;)
			x += 1;
		if (i % 16 == 15) {
			a = now_us();
			if (write(out, wbuf, 262144) != 262144)
				return 1;
			wt[nw] = now_us() - a;
			tw += wt[nw++];
		}
	}
	double tot = now_us() - t0;
	qsort(rt, nr, sizeof *rt, cmp);
	qsort(wt, nw, sizeof *wt, cmp);
	printf("total %.3f s: reads %d %.3f s (%.1f us each), writes %d %.3f s (%.1f us each), "
	       "compute %.3f s\n",
	       tot / 1e6, nr, tr / 1e6, tr / nr, nw, tw / 1e6, nw ? tw / nw : 0, (tot - tr - tw) / 1e6);
	printf("reads p50 %.1f p90 %.1f p99 %.1f; writes p50 %.1f p90 %.1f p99 %.1f us\n", rt[nr / 2],
	       rt[nr * 9 / 10], rt[nr * 99 / 100], nw ? wt[nw / 2] : 0, nw ? wt[nw * 9 / 10] : 0,
	       nw ? wt[nw * 99 / 100] : 0);
	return 0;
}
