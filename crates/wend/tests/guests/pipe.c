/* Pipes with both ends in the process: one holding 3000 buffered bytes, one enlarged to 256 KiB
 * holding 150000 bytes, and an empty one whose read end is O_NONBLOCK. After restore the
 * buffered data reads back in order, capacity and flags are kept, both ends still form one
 * pipe. */
#include "guest.h"
#include <sys/ioctl.h>

#define BIG 150000

static unsigned char byte_at(uint64_t seed, size_t i) { return (unsigned char)guest_mix(seed + i); }

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	int a[2], b[2], c[2];
	SETUP(pipe(a) == 0 && pipe2(b, O_CLOEXEC) == 0 && pipe(c) == 0);
	SETUP(fcntl(b[0], F_SETPIPE_SZ, 256 * 1024) >= 256 * 1024);
	SETUP(fcntl(c[0], F_SETFL, O_NONBLOCK) == 0);
	static unsigned char buf[BIG];
	for (size_t i = 0; i < 3000; i++)
		buf[i] = byte_at(1, i);
	SETUP(write(a[1], buf, 3000) == 3000);
	for (size_t i = 0; i < BIG; i++)
		buf[i] = byte_at(2, i);
	SETUP(write(b[1], buf, BIG) == BIG);
	int bsize = fcntl(b[0], F_GETPIPE_SZ);

	guest_ready();
	guest_wait_go();

	int avail = -1;
	CHECK(ioctl(a[0], FIONREAD, &avail) == 0 && avail == 3000, "pipe a holds %d bytes", avail);
	CHECK(read(a[0], buf, 3000) == 3000, "reading pipe a failed");
	size_t bad = 0;
	for (size_t i = 0; i < 3000; i++)
		bad += buf[i] != byte_at(1, i);
	CHECK(bad == 0, "pipe a: %zu bytes differ", bad);
	CHECK(ioctl(b[0], FIONREAD, &avail) == 0 && avail == BIG, "pipe b holds %d bytes", avail);
	CHECK(fcntl(b[0], F_GETPIPE_SZ) == bsize, "pipe b capacity %d became %d", bsize,
	      fcntl(b[0], F_GETPIPE_SZ));
	CHECK((fcntl(b[0], F_GETFD) & FD_CLOEXEC) && (fcntl(b[1], F_GETFD) & FD_CLOEXEC),
	      "pipe b lost close-on-exec");
	size_t got = 0;
	while (got < BIG) {
		ssize_t n = read(b[0], buf + got, BIG - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	CHECK(got == BIG, "read %zu of %d bytes from pipe b", got, BIG);
	bad = 0;
	for (size_t i = 0; i < got; i++)
		bad += buf[i] != byte_at(2, i);
	CHECK(bad == 0, "pipe b: %zu bytes differ", bad);
	CHECK(read(c[0], buf, 1) == -1 && errno == EAGAIN, "empty non-blocking pipe c did not say EAGAIN");
	CHECK(write(a[1], "ping", 4) == 4 && read(a[0], buf, 4) == 4 && memcmp(buf, "ping", 4) == 0,
	      "the ends of pipe a are no longer connected");
	struct stat r, w;
	CHECK(fstat(c[0], &r) == 0 && fstat(c[1], &w) == 0 && r.st_ino == w.st_ino && S_ISFIFO(r.st_mode),
	      "the ends of pipe c are not one pipe");
	return guest_verdict();
}
