/* Regular files: a read-write file at offset 1234 with two dup'd descriptors sharing that
 * offset (one of them close-on-exec at fd 60), a second independent read-only open of the
 * same file at offset 100 with O_NONBLOCK and a dup at fd 200, an O_APPEND|O_CLOEXEC log, a
 * write-only file; a gap in the descriptor numbers. After restore: same descriptors, flags,
 * close-on-exec bits, offsets, shared offsets still shared, same files (inode), append
 * still appends. */
#include "guest.h"
#include <dirent.h>

#define NFD 8
static int fds[NFD];
static int fl_before[NFD], fd_before[NFD];
static off_t off_before[NFD];

static unsigned char pattern(size_t i) { return (unsigned char)(guest_mix(i / 8) >> (i % 8 * 8)); }

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	int f1 = open("files-data.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
	SETUP(f1 >= 0);
	static unsigned char buf[10000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(i);
	SETUP(write(f1, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
	SETUP(lseek(f1, 1234, SEEK_SET) == 1234);
	int f2 = dup(f1);
	int f3 = fcntl(f1, F_DUPFD_CLOEXEC, 60);
	int f4 = open("files-data.bin", O_RDONLY | O_NONBLOCK);
	SETUP(f2 >= 0 && f3 == 60 && f4 >= 0);
	SETUP(lseek(f4, 100, SEEK_SET) == 100);
	int f5 = fcntl(f4, F_DUPFD, 200);
	SETUP(f5 == 200);
	int f6 = open("files-append.log", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	SETUP(f6 >= 0);
	SETUP(write(f6, "line1\n", 6) == 6);
	int f7 = open("files-out.txt", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	SETUP(f7 >= 0);
	SETUP(write(f7, "partial", 7) == 7);
	int gap = open("/dev/null", O_RDONLY);
	int f8 = open("files-data.bin", O_RDONLY);
	SETUP(gap >= 0 && f8 >= 0);
	close(gap); /* leaves a hole below f8 */
	SETUP(lseek(f8, 9999, SEEK_SET) == 9999);
	int all[NFD] = { f1, f2, f3, f4, f5, f6, f7, f8 };
	struct stat st_before;
	SETUP(fstat(f1, &st_before) == 0);
	for (int i = 0; i < NFD; i++) {
		fds[i] = all[i];
		fl_before[i] = fcntl(fds[i], F_GETFL);
		fd_before[i] = fcntl(fds[i], F_GETFD);
		off_before[i] = lseek(fds[i], 0, SEEK_CUR);
	}

	guest_ready();
	guest_wait_go();

	CHECK(fcntl(gap, F_GETFD) == -1 && errno == EBADF, "descriptor %d should be closed", gap);
	for (int i = 0; i < NFD; i++) {
		CHECK(fcntl(fds[i], F_GETFL) == fl_before[i], "fd %d: flags %#x became %#x", fds[i],
		      fl_before[i], fcntl(fds[i], F_GETFL));
		CHECK(fcntl(fds[i], F_GETFD) == fd_before[i], "fd %d: fd flags %d became %d",
		      fds[i], fd_before[i], fcntl(fds[i], F_GETFD));
		CHECK(lseek(fds[i], 0, SEEK_CUR) == off_before[i], "fd %d: offset %ld became %ld",
		      fds[i], (long)off_before[i], (long)lseek(fds[i], 0, SEEK_CUR));
	}
	struct stat st_after, st_path;
	CHECK(fstat(f1, &st_after) == 0 && stat("files-data.bin", &st_path) == 0, "stat failed");
	CHECK(st_after.st_ino == st_path.st_ino && st_after.st_dev == st_path.st_dev,
	      "fd %d is not files-data.bin", f1);
	unsigned char got[100];
	CHECK(read(f2, got, 100) == 100, "read from the dup failed");
	CHECK(memcmp(got, buf + 1234, 100) == 0, "read at offset 1234 returned other bytes");
	CHECK(lseek(f1, 0, SEEK_CUR) == 1334 && lseek(f3, 0, SEEK_CUR) == 1334,
	      "dup'd descriptors no longer share their offset (%ld, %ld)",
	      (long)lseek(f1, 0, SEEK_CUR), (long)lseek(f3, 0, SEEK_CUR));
	CHECK(read(f5, got, 50) == 50 && memcmp(got, buf + 100, 50) == 0,
	      "read through fd 200 returned other bytes");
	CHECK(lseek(f4, 0, SEEK_CUR) == 150, "fd %d and 200 no longer share their offset", f4);
	CHECK(lseek(f8, 0, SEEK_CUR) == 9999 && read(f8, got, 10) == 1 && got[0] == buf[9999],
	      "independent descriptor %d lost its offset", f8);
	CHECK(write(f1, "XY", 2) == 2, "write to the read-write descriptor failed");
	CHECK(pread(f4, got, 2, 1334) == 2 && memcmp(got, "XY", 2) == 0,
	      "the write did not land at offset 1334 of the same file");
	CHECK(write(f6, "line2\n", 6) == 6, "append failed");
	struct stat st_log;
	fstat(f6, &st_log);
	CHECK(lseek(f6, 0, SEEK_CUR) == st_log.st_size, "O_APPEND descriptor not at the end");
	char logbuf[64] = { 0 };
	int lf = open("files-append.log", O_RDONLY);
	CHECK(lf >= 0 && read(lf, logbuf, sizeof(logbuf) - 1) > 0, "reading the log failed");
	CHECK(strncmp(logbuf, "line1\n", 6) == 0 && strstr(logbuf, "line2\n") != NULL,
	      "log reads %s", logbuf);
	CHECK(write(f7, " rest\n", 6) == 6, "write-only descriptor failed");
	char outbuf[32] = { 0 };
	int of = open("files-out.txt", O_RDONLY);
	CHECK(of >= 0 && read(of, outbuf, sizeof(outbuf) - 1) == 13 &&
		      strcmp(outbuf, "partial rest\n") == 0,
	      "write-only file reads %s", outbuf);
	return guest_verdict();
}
