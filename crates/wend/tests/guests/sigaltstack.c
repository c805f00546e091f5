/* sigaltstack, and a checkpoint taken inside a signal handler running on it: SIGUSR1's
 * handler (SA_ONSTACK) prints "ready" and waits for go there. After restore the handler
 * checks it still runs on the alternate stack, returns through sigreturn, and the guest
 * checks the stack settings and the mask the handler frame restores. */
#include "guest.h"
#include <signal.h>

static char altstack[65536] __attribute__((aligned(16)));
static volatile sig_atomic_t in_handler_ok, handler_done;

static int on_altstack(void *p)
{
	return (char *)p >= altstack && (char *)p < altstack + sizeof(altstack);
}

static void on_usr1(int sig)
{
	(void)sig;
	int local;
	stack_t cur;
	int ok = on_altstack(&local);
	sigaltstack(NULL, &cur);
	ok = ok && (cur.ss_flags & SS_ONSTACK);
	guest_ready();
	guest_wait_go();
	sigaltstack(NULL, &cur);
	in_handler_ok = ok && on_altstack(&local) && (cur.ss_flags & SS_ONSTACK);
	handler_done = 1;
}

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack), .ss_flags = 0 };
	SETUP(sigaltstack(&ss, NULL) == 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	SETUP(sigaction(SIGUSR1, &sa, NULL) == 0);
	int main_local;
	SETUP(!on_altstack(&main_local));
	raise(SIGUSR1);
	CHECK(handler_done, "the handler did not finish");
	CHECK(in_handler_ok, "the handler did not run on the alternate stack after restore");
	stack_t cur;
	CHECK(sigaltstack(NULL, &cur) == 0, "sigaltstack failed");
	CHECK(cur.ss_sp == altstack && cur.ss_size == sizeof(altstack) && cur.ss_flags == 0,
	      "alternate stack is %p/%zu/%d, expected %p/%zu/0", cur.ss_sp, cur.ss_size,
	      cur.ss_flags, (void *)altstack, sizeof(altstack));
	sigset_t mask;
	sigprocmask(SIG_BLOCK, NULL, &mask);
	CHECK(!sigismember(&mask, SIGUSR1) && !sigismember(&mask, SIGUSR2),
	      "sigreturn did not restore the mask");
	handler_done = 0;
	CHECK(main_local == main_local, "unreachable");
	return guest_verdict();
}
