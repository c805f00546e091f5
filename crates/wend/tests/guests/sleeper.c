/* A process asleep in a system call when checkpointed; argv[2] names the call:
 *   read       read(0) of a line (the test writes "wake" to wend restore's stdin)
 *   nanosleep  a 4 s nanosleep that must return 0 after at least 4 s in all
 *   pause      pause() until SIGUSR1 (sent by the test to the restored process)
 * The go file (argv[1]) is not used. */
#include "guest.h"
#include <signal.h>

static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	SETUP(argc >= 3);
	const char *mode = argv[2];
	if (strcmp(mode, "read") == 0) {
		char buf[64] = { 0 };
		guest_ready();
		ssize_t n = read(0, buf, sizeof(buf) - 1);
		CHECK(n == 5 && strcmp(buf, "wake\n") == 0, "read returned %zd: %s", n, buf);
	} else if (strcmp(mode, "nanosleep") == 0) {
		double t0 = guest_now(CLOCK_MONOTONIC);
		struct timespec req = { 4, 0 }, rem = { 0, 0 };
		guest_ready();
		int rc = nanosleep(&req, &rem);
		double slept = guest_now(CLOCK_MONOTONIC) - t0;
		CHECK(rc == 0, "nanosleep returned %d (%s)", rc, strerror(errno));
		CHECK(slept >= 4.0, "slept only %.3f s", slept);
	} else if (strcmp(mode, "pause") == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_usr1;
		SETUP(sigaction(SIGUSR1, &sa, NULL) == 0);
		guest_ready();
		int rc = pause();
		CHECK(rc == -1 && errno == EINTR, "pause returned %d (%s)", rc, strerror(errno));
		CHECK(got_usr1, "SIGUSR1 handler did not run");
	} else {
		SETUP(!"unknown mode");
	}
	return guest_verdict();
}
