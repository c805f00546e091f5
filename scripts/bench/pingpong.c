/* Wake-up cost between two processes: N round trips of one byte over two pipes.
 *   gcc -O2 -o pingpong scripts/bench/pingpong.c && ./pingpong [N]      (default 100000)
 * Run it on an idle machine, pinned (taskset -c 0), and beside a `nice 19` busy loop per CPU
 * to see what a halted CPU adds (docs/perf/syscall-path.md, session 4). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100000;
	int a[2], b[2];
	char x = 0;
	if (pipe(a) || pipe(b))
		return 1;
	if (fork() == 0) {
		for (int i = 0; i < n; i++)
			if (read(a[0], &x, 1) != 1 || write(b[1], &x, 1) != 1)
				return 1;
		return 0;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++)
		if (write(a[1], &x, 1) != 1 || read(b[0], &x, 1) != 1)
			return 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double us = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3;
	printf("%.2f us per round trip\n", us / n);
	return 0;
}
