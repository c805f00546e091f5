/* A sequential reader for the read-ahead of a moved process (tests/migrate_readahead.rs).
 * m_seq CHUNK B1 B2 ... BN: copies its stdin (a regular file) to its stdout with read(2) and
 * write(2) of CHUNK bytes. On reaching each B_i (i < N) it prints "phase i at OFFSET" to
 * stderr and spins, making no system call (so whatever was read ahead stays read ahead),
 * until SIGUSR1 arrives; the test moves it meanwhile. At B_N it exits at once (no call that
 * would bring home's offset up to date on the way), leaving the rest of the file to whoever
 * reads the same descriptor next. Messages go to stderr: stdout is the copy. */
#include "guest.h"
#include <signal.h>

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

int main(int argc, char **argv)
{
	SETUP(argc >= 3);
	long chunk = atol(argv[1]);
	SETUP(chunk > 0 && chunk <= (1 << 20));
	char *buf = malloc(chunk);
	SETUP(buf != NULL);
	struct sigaction sa = { .sa_handler = on_usr1 };
	SETUP(sigaction(SIGUSR1, &sa, NULL) == 0);

	long done = 0;
	for (int i = 2; i < argc; i++) {
		long until = atol(argv[i]);
		while (done < until) {
			long want = until - done < chunk ? until - done : chunk;
			ssize_t n = read(0, buf, want);
			SETUP(n > 0);
			for (ssize_t w = 0; w < n;) {
				ssize_t k = write(1, buf + w, n - w);
				SETUP(k > 0);
				w += k;
			}
			done += n;
		}
		if (i + 1 < argc) {
			go = 0;
			fprintf(stderr, "phase %d at %ld\n", i - 1, done);
			while (!go)
				; /* no system call: the read-ahead keeps its window */
		}
	}
	fprintf(stderr, "verdict: ok\n");
	return 0;
}
