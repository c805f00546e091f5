/* A deterministic run under constant interruption, for sweeps: a 1 ms ITIMER_REAL keeps
 * SIGALRM arriving (SA_RESTART handler), every step pushes data through a pipe inside the
 * process and back, mixes an 8 MiB heap array with vectorisable floating point, and grows or
 * shrinks the brk heap. argv[2] is the number of steps; progress goes to stderr as
 * "progress N" (N = 1..99); one "result ..." line goes to stdout at the end, identical for every
 * run whatever the interruptions (the alarm count is not part of it).
 *
 * argv[1] is a gate file for tests that checkpoint the run at chosen points: while it exists,
 * its size is the last percent the guest may report, and the guest waits (1 ms naps) before
 * reporting a later one, so the run cannot end before the test has taken its checkpoints
 * however long they take. No file, no gate (the reference run). */
#include "guest.h"
#include <signal.h>
#include <sys/time.h>

#define WORDS (1 << 20)

static volatile sig_atomic_t alarms;

/* Waits until the gate (if any) lets the run report percent `p`. */
static void pass_gate(const char *gate, long p)
{
	for (;;) {
		struct stat st;
		if (stat(gate, &st) != 0 || (long)st.st_size >= p)
			return;
		struct timespec nap = { 0, 1000000 };
		nanosleep(&nap, NULL);
	}
}

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	SETUP(argc >= 3);
	long steps = atol(argv[2]);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	SETUP(sigaction(SIGALRM, &sa, NULL) == 0);
	struct itimerval it = { { 0, 1000 }, { 0, 1000 } };
	SETUP(setitimer(ITIMER_REAL, &it, NULL) == 0);
	int p[2];
	SETUP(pipe(p) == 0);
	uint64_t *a = malloc(WORDS * sizeof(uint64_t));
	double *f = malloc(4096 * sizeof(double));
	SETUP(a && f);
	for (size_t i = 0; i < WORDS; i++)
		a[i] = guest_mix(i);
	for (size_t i = 0; i < 4096; i++)
		f[i] = (double)(i + 1) / 4096.0;
	uint64_t h = 0x9e3779b97f4a7c15ULL;
	char *brk_base = sbrk(0);
	long next = 1;
	for (long s = 0; s < steps; s++) {
		size_t start = (size_t)(guest_mix(h) % (WORDS - 8192));
		for (size_t i = start; i < start + 8192; i++) {
			a[i] = (a[i] << 7 | a[i] >> 57) ^ a[a[i] % WORDS] * 0x100000001b3ULL;
			h = (h ^ a[i]) * 0x100000001b3ULL;
		}
		double acc = 0;
		for (size_t i = 0; i < 4096; i++) {
			f[i] = f[i] * 0.999 + (double)((h >> (i % 48)) & 0xff) / 256.0;
			acc += f[i] * f[(i + 7) % 4096];
		}
		uint64_t bits;
		memcpy(&bits, &acc, 8);
		h ^= bits;
		uint64_t msg[64];
		for (int i = 0; i < 64; i++)
			msg[i] = h + (uint64_t)i;
		SETUP(write(p[1], msg, sizeof(msg)) == sizeof(msg));
		uint64_t back[64];
		SETUP(read(p[0], back, sizeof(back)) == sizeof(back));
		for (int i = 0; i < 64; i++)
			h = (h ^ back[i]) * 0x100000001b3ULL;
		if (s % 50 == 0) {
			intptr_t delta = (intptr_t)(h % 3) * 65536 - 65536;
			char *cur = sbrk(0);
			if (cur + delta >= brk_base && sbrk(delta) != (void *)-1 && delta > 0)
				memset(cur, (int)(h & 0xff), (size_t)delta);
		}
		if (s * 100 / steps >= next) {
			pass_gate(argv[1], next);
			fprintf(stderr, "progress %ld\n", next);
			next++;
		}
	}
	long grown = (long)((char *)sbrk(0) - brk_base);
	printf("result h=%016llx grown=%ld steps=%ld\n", (unsigned long long)h, grown, steps);
	fprintf(stderr, "alarms %d\n", (int)alarms);
	return 0;
}
