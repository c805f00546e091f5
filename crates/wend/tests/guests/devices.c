/* Device files: /dev/null (write), /dev/zero (read), /dev/urandom (read), /dev/full (write
 * fails with ENOSPC), at fixed descriptor numbers; after restore they are the same devices
 * with the same flags and behave like them. */
#include "guest.h"
#include <sys/sysmacros.h>

struct dev {
	const char *path;
	int flags, fd;
	dev_t rdev;
};

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	struct dev devs[] = { { "/dev/null", O_WRONLY, 40, 0 },
			      { "/dev/zero", O_RDONLY, 41, 0 },
			      { "/dev/urandom", O_RDONLY | O_CLOEXEC, 42, 0 },
			      { "/dev/full", O_RDWR, 43, 0 } };
	for (size_t i = 0; i < 4; i++) {
		int fd = open(devs[i].path, devs[i].flags);
		SETUP(fd >= 0 && dup3(fd, devs[i].fd, devs[i].flags & O_CLOEXEC) == devs[i].fd);
		close(fd);
		struct stat st;
		SETUP(fstat(devs[i].fd, &st) == 0);
		devs[i].rdev = st.st_rdev;
	}

	guest_ready();
	guest_wait_go();

	for (size_t i = 0; i < 4; i++) {
		struct stat st;
		CHECK(fstat(devs[i].fd, &st) == 0 && S_ISCHR(st.st_mode) &&
			      st.st_rdev == devs[i].rdev,
		      "fd %d is no longer %s", devs[i].fd, devs[i].path);
		int fl = fcntl(devs[i].fd, F_GETFL);
		CHECK((fl & O_ACCMODE) == (devs[i].flags & O_ACCMODE), "fd %d: access mode changed",
		      devs[i].fd);
		int cloexec = fcntl(devs[i].fd, F_GETFD) & FD_CLOEXEC;
		CHECK(cloexec == ((devs[i].flags & O_CLOEXEC) ? FD_CLOEXEC : 0),
		      "fd %d: close-on-exec changed", devs[i].fd);
	}
	char buf[4096];
	CHECK(write(40, buf, sizeof(buf)) == (ssize_t)sizeof(buf), "/dev/null refused a write");
	memset(buf, 1, sizeof(buf));
	CHECK(read(41, buf, sizeof(buf)) == (ssize_t)sizeof(buf), "/dev/zero read failed");
	int nonzero = 0;
	for (size_t i = 0; i < sizeof(buf); i++)
		nonzero |= buf[i];
	CHECK(!nonzero, "/dev/zero gave non-zero bytes");
	CHECK(read(42, buf, 64) == 64, "/dev/urandom read failed");
	CHECK(write(43, buf, 1) == -1 && errno == ENOSPC, "/dev/full accepted a write");
	return guest_verdict();
}
