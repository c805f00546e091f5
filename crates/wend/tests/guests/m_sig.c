/* Signals and exits of a migrated process. argv[1] is a control file, argv[2] the mode:
 * "handlers" installs handlers for TERM, INT, HUP, USR1 and USR2 (each prints "got NAME" from
 * the main loop), "plain" installs none. The main loop prints "tick N" every 20 ms, so a
 * stopped process is seen to make no progress; once the control file holds a number N it
 * prints "exiting N" and exits with status N. */
#include "guest.h"
#include <signal.h>

static volatile sig_atomic_t got[65];

static void on_signal(int sig)
{
	got[sig] = 1;
}

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	SETUP(argc >= 3);
	static const struct {
		int sig;
		const char *name;
	} sigs[] = { { SIGTERM, "TERM" }, { SIGINT, "INT" }, { SIGHUP, "HUP" },
		     { SIGUSR1, "USR1" }, { SIGUSR2, "USR2" } };
	const int nsigs = (int)(sizeof(sigs) / sizeof(sigs[0]));
	if (strcmp(argv[2], "handlers") == 0) {
		for (int i = 0; i < nsigs; i++) {
			struct sigaction sa;
			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = on_signal;
			sa.sa_flags = SA_RESTART;
			SETUP(sigaction(sigs[i].sig, &sa, NULL) == 0);
		}
	}
	guest_ready();
	for (long tick = 0;; tick++) {
		for (int i = 0; i < nsigs; i++) {
			if (got[sigs[i].sig]) {
				got[sigs[i].sig] = 0;
				printf("got %s\n", sigs[i].name);
			}
		}
		char *ctl;
		long n = guest_slurp(guest_go_path, &ctl);
		if (n > 0) {
			ctl[n - 1] = 0;
			int status = atoi(ctl);
			printf("exiting %d\n", status);
			return status;
		}
		printf("tick %ld\n", tick);
		struct timespec nap = { 0, 20 * 1000 * 1000 };
		nanosleep(&nap, NULL);
	}
}
