/* Signal state: dispositions (handlers with their flags and masks, SIG_IGN, SIG_DFL), the
 * blocked mask, and pending standard signals (SIGUSR1 and SIGWINCH raised while blocked
 * before the checkpoint). After restore all read back the same; unblocking SIGUSR1 runs its
 * handler with the right siginfo; SA_RESETHAND on SIGHUP still resets after one delivery. */
#include "guest.h"
#include <signal.h>

static volatile sig_atomic_t usr1_count, usr1_code, hup_count;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig == SIGUSR1)
		usr1_count++;
	usr1_code = si->si_code;
}

static void on_hup(int sig)
{
	(void)sig;
	hup_count++;
}

struct disp {
	int sig;
	struct sigaction sa;
};

static struct disp disps[] = { { .sig = SIGUSR1 }, { .sig = SIGUSR2 }, { .sig = SIGHUP },
			       { .sig = SIGPIPE }, { .sig = SIGTERM }, { .sig = SIGCHLD },
			       { .sig = SIGWINCH } };
#define NDISP (sizeof(disps) / sizeof(disps[0]))

static void compare_action(int sig, const struct sigaction *want)
{
	struct sigaction got;
	CHECK(sigaction(sig, NULL, &got) == 0, "sigaction(%d) failed", sig);
	CHECK((void *)got.sa_handler == (void *)want->sa_handler, "signal %d: handler changed",
	      sig);
	CHECK(got.sa_flags == want->sa_flags, "signal %d: flags %#x became %#x", sig,
	      want->sa_flags, got.sa_flags);
	for (int s = 1; s < 32; s++)
		CHECK(sigismember(&got.sa_mask, s) == sigismember(&want->sa_mask, s),
		      "signal %d: sa_mask bit %d changed", sig, s);
}

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaddset(&sa.sa_mask, SIGALRM);
	SETUP(sigaction(SIGUSR1, &sa, NULL) == 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	SETUP(sigaction(SIGUSR2, &sa, NULL) == 0);
	SETUP(sigaction(SIGPIPE, &sa, NULL) == 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_hup;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	SETUP(sigaction(SIGHUP, &sa, NULL) == 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sa.sa_flags = SA_NOCLDSTOP;
	SETUP(sigaction(SIGCHLD, &sa, NULL) == 0);
	for (size_t i = 0; i < NDISP; i++)
		SETUP(sigaction(disps[i].sig, NULL, &disps[i].sa) == 0);

	sigset_t block, mask_before;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGWINCH);
	sigaddset(&block, SIGQUIT);
	SETUP(sigprocmask(SIG_BLOCK, &block, NULL) == 0);
	SETUP(raise(SIGUSR1) == 0);
	SETUP(raise(SIGWINCH) == 0);
	SETUP(sigprocmask(SIG_BLOCK, NULL, &mask_before) == 0);
	SETUP(usr1_count == 0);

	guest_ready();
	guest_wait_go();

	for (size_t i = 0; i < NDISP; i++)
		compare_action(disps[i].sig, &disps[i].sa);
	sigset_t mask_after, pending;
	CHECK(sigprocmask(SIG_BLOCK, NULL, &mask_after) == 0, "sigprocmask failed");
	for (int s = 1; s < 65; s++)
		CHECK(sigismember(&mask_after, s) == sigismember(&mask_before, s),
		      "blocked mask bit %d changed", s);
	CHECK(sigpending(&pending) == 0, "sigpending failed");
	CHECK(sigismember(&pending, SIGUSR1) == 1, "pending SIGUSR1 lost");
	CHECK(sigismember(&pending, SIGWINCH) == 1, "pending SIGWINCH lost");
	CHECK(sigismember(&pending, SIGQUIT) == 0, "SIGQUIT pending out of nowhere");
	CHECK(usr1_count == 0, "SIGUSR1 handler ran while blocked");
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_UNBLOCK, &usr1, NULL);
	CHECK(usr1_count == 1, "unblocking the pending SIGUSR1 ran its handler %d times",
	      (int)usr1_count);
	CHECK(usr1_code == SI_TKILL, "pending SIGUSR1 lost its siginfo (si_code %d)",
	      (int)usr1_code);
	raise(SIGHUP);
	CHECK(hup_count == 1, "SIGHUP handler ran %d times", (int)hup_count);
	struct sigaction now;
	sigaction(SIGHUP, NULL, &now);
	CHECK(now.sa_handler == SIG_DFL, "SA_RESETHAND did not reset SIGHUP");
	raise(SIGUSR2); /* ignored */
	return guest_verdict();
}
