/* Interval timers: ITIMER_REAL fires every 5 ms (SIGALRM counted) and ITIMER_VIRTUAL is armed
 * for a long time; after restore both read back with the same interval and SIGALRM keeps
 * coming. */
#include "guest.h"
#include <signal.h>
#include <sys/time.h>

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	SETUP(sigaction(SIGALRM, &sa, NULL) == 0);
	struct itimerval real = { { 0, 5000 }, { 0, 5000 } };
	struct itimerval virt = { { 1000, 0 }, { 2000, 0 } };
	SETUP(setitimer(ITIMER_REAL, &real, NULL) == 0);
	SETUP(setitimer(ITIMER_VIRTUAL, &virt, NULL) == 0);
	while (alarms < 3)
		pause();

	guest_ready();
	guest_wait_go();

	struct itimerval got;
	CHECK(getitimer(ITIMER_REAL, &got) == 0, "getitimer failed");
	CHECK(got.it_interval.tv_sec == 0 && got.it_interval.tv_usec == 5000,
	      "ITIMER_REAL interval became %ld.%06ld", (long)got.it_interval.tv_sec,
	      (long)got.it_interval.tv_usec);
	CHECK(getitimer(ITIMER_VIRTUAL, &got) == 0, "getitimer failed");
	CHECK(got.it_interval.tv_sec == 1000 && got.it_interval.tv_usec == 0,
	      "ITIMER_VIRTUAL interval became %ld.%06ld", (long)got.it_interval.tv_sec,
	      (long)got.it_interval.tv_usec);
	CHECK(got.it_value.tv_sec > 1900 && got.it_value.tv_sec <= 2000,
	      "ITIMER_VIRTUAL value became %ld s", (long)got.it_value.tv_sec);
	int start = alarms;
	double deadline = guest_now(CLOCK_MONOTONIC) + 20;
	while (alarms < start + 20 && guest_now(CLOCK_MONOTONIC) < deadline)
		pause();
	CHECK(alarms >= start + 20, "SIGALRM stopped: %d alarms in 20 s after restore",
	      alarms - start);
	return guest_verdict();
}
