/* Holds what wend must refuse to checkpoint; argv[2] is a '+'-separated list of:
 *   thread      a second thread
 *   shm         a MAP_SHARED writable anonymous mapping
 *   sharedfile  a MAP_SHARED writable mapping of a file
 *   socket      a connected AF_UNIX socket pair
 *   lock        a POSIX (fcntl) write lock on a file
 *   flock       a BSD flock on a file
 *   pty         a pseudo-terminal, master and slave, on descriptors other than 0-2
 *   traced      already traced: a child of the guest holds it with PTRACE_SEIZE (prints
 *               "tracer PID"); killed once go
 * After "ready" it waits for go and checks the resource still works: a refused checkpoint
 * must leave the process running untouched. */
#include "guest.h"
#include <pthread.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <sys/socket.h>

static volatile int thread_ticks;

static void *spin_thread(void *arg)
{
	(void)arg;
	struct timespec ts = { 0, 1000000 };
	for (;;) {
		thread_ticks++;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static int has(const char *list, const char *what)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *t = strtok(buf, "+"); t; t = strtok(NULL, "+"))
		if (strcmp(t, what) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	SETUP(argc >= 3);
	const char *what = argv[2];
	uint64_t *shm = NULL, *shf = NULL;
	int sv[2] = { -1, -1 }, lockfd = -1, ptm = -1, pts = -1;
	pid_t tracer = -1;
	if (has(what, "thread")) {
		pthread_t t;
		SETUP(pthread_create(&t, NULL, spin_thread, NULL) == 0);
	}
	if (has(what, "shm")) {
		shm = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		SETUP(shm != MAP_FAILED);
		shm[0] = 42;
	}
	if (has(what, "sharedfile")) {
		int fd = open("refuse-shared.bin", O_RDWR | O_CREAT | O_TRUNC, 0600);
		SETUP(fd >= 0 && ftruncate(fd, 65536) == 0);
		shf = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		SETUP(shf != MAP_FAILED);
		close(fd);
		shf[0] = 43;
	}
	if (has(what, "socket"))
		SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	if (has(what, "lock") || has(what, "flock")) {
		lockfd = open("refuse-lock.bin", O_RDWR | O_CREAT, 0600);
		SETUP(lockfd >= 0);
		if (has(what, "lock")) {
			struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
			SETUP(fcntl(lockfd, F_SETLK, &fl) == 0);
		} else {
			SETUP(flock(lockfd, LOCK_EX) == 0);
		}
	}
	if (has(what, "pty")) {
		ptm = posix_openpt(O_RDWR | O_NOCTTY);
		SETUP(ptm >= 0 && grantpt(ptm) == 0 && unlockpt(ptm) == 0);
		pts = open(ptsname(ptm), O_RDWR | O_NOCTTY);
		SETUP(pts >= 0);
	}

	if (has(what, "traced")) {
		pid_t self = getpid();
		int p[2];
		SETUP(pipe(p) == 0);
		tracer = fork();
		SETUP(tracer >= 0);
		if (tracer == 0) {
			close(p[0]);
			if (ptrace(PTRACE_SEIZE, self, 0, 0) != 0)
				_exit(1);
			if (write(p[1], "s", 1) != 1)
				_exit(1);
			for (;;)
				pause();
		}
		close(p[1]);
		char c;
		SETUP(read(p[0], &c, 1) == 1);
		close(p[0]);
		printf("tracer %d\n", tracer);
	}

	guest_ready();
	guest_wait_go();

	if (tracer > 0) {
		kill(tracer, SIGKILL);
		CHECK(waitpid(tracer, NULL, 0) == tracer, "tracer not reaped");
	}

	if (shm)
		CHECK(shm[0] == 42, "shared memory changed");
	if (shf)
		CHECK(shf[0] == 43, "shared file mapping changed");
	if (sv[0] >= 0) {
		char c = 0;
		CHECK(write(sv[0], "s", 1) == 1 && read(sv[1], &c, 1) == 1 && c == 's',
		      "socket pair broken");
	}
	if (has(what, "thread")) {
		int t0 = thread_ticks;
		struct timespec ts = { 0, 50000000 };
		nanosleep(&ts, NULL);
		CHECK(thread_ticks > t0, "the second thread stopped");
	}
	if (pts >= 0) {
		char c = 0;
		CHECK(write(ptm, "p\n", 2) == 2 && read(pts, &c, 1) == 1 && c == 'p',
		      "pty broken");
	}
	return guest_verdict();
}
