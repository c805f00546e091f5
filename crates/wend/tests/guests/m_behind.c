/* A writer whose writes are sent behind and fail at home (tests/migrate_behind.rs).
 * m_behind PATH N: spins (no system call) until SIGUSR1 (the test moves it meanwhile), opens
 * PATH, writes 4 KiB and says "ready" on stderr, spins until the second SIGUSR1 (the test
 * fills PATH's file system at home meanwhile), then writes N times 4 KiB and closes PATH. It
 * reports "writes ok K" (how many said they wrote 4 KiB) and "close: ERRNO-NAME" and exits 3
 * if close failed, 0 if it did not. Between the first write and the last, it makes no call
 * but writes (to PATH and stderr). */
#include "guest.h"
#include <signal.h>

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go++;
}

static void say(const char *s)
{
	SETUP(write(2, s, strlen(s)) == (ssize_t)strlen(s));
}

int main(int argc, char **argv)
{
	SETUP(argc == 3);
	int n = atoi(argv[2]);
	static char block[4096];
	memset(block, 'w', sizeof block);
	struct sigaction sa = { .sa_handler = on_usr1 };
	SETUP(sigaction(SIGUSR1, &sa, NULL) == 0);
	say("waiting\n");
	while (go < 1)
		;
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	SETUP(fd >= 0);
	SETUP(write(fd, block, sizeof block) == (ssize_t)sizeof block);
	say("ready\n");
	while (go < 2)
		;
	int ok = 0;
	for (int i = 0; i < n; i++)
		ok += write(fd, block, sizeof block) == (ssize_t)sizeof block;
	char line[128];
	snprintf(line, sizeof line, "writes ok %d\n", ok);
	say(line);
	int r = close(fd);
	int e = errno;
	snprintf(line, sizeof line, "close: %s\n", r == 0 ? "ok" : strerrorname_np(e));
	say(line);
	return r == 0 ? 0 : 3;
}
