/* A deleted-but-open file: 200 KiB written, offset 5000, then unlinked. After restore the
 * descriptor still holds the content at the same offset, is still deleted (the path does not
 * reappear; /proc/self/fd shows "(deleted)"), and stays writable. */
#include "guest.h"

#define LEN (200 * 1024)

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	int fd = open("deleted-file.bin", O_RDWR | O_CREAT | O_TRUNC, 0600);
	SETUP(fd >= 0);
	static uint64_t buf[LEN / 8], got[LEN / 8];
	for (size_t i = 0; i < LEN / 8; i++)
		buf[i] = guest_mix(0xde1e7e + i);
	SETUP(write(fd, buf, LEN) == LEN);
	SETUP(lseek(fd, 5000, SEEK_SET) == 5000);
	SETUP(unlink("deleted-file.bin") == 0);
	int flags = fcntl(fd, F_GETFL);

	guest_ready();
	guest_wait_go();

	struct stat st;
	CHECK(fstat(fd, &st) == 0, "fstat failed");
	CHECK(st.st_size == LEN, "size %ld, expected %d", (long)st.st_size, LEN);
	CHECK(st.st_nlink == 0, "the file has %ld links, expected 0 (deleted)", (long)st.st_nlink);
	CHECK(access("deleted-file.bin", F_OK) != 0, "the deleted path exists again");
	CHECK(lseek(fd, 0, SEEK_CUR) == 5000, "offset %ld, expected 5000",
	      (long)lseek(fd, 0, SEEK_CUR));
	CHECK(fcntl(fd, F_GETFL) == flags, "flags changed");
	CHECK(pread(fd, got, LEN, 0) == LEN && memcmp(got, buf, LEN) == 0,
	      "content of the deleted file differs");
	char link[4096] = { 0 }, proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	CHECK(readlink(proc, link, sizeof(link) - 1) > 0 && strstr(link, "(deleted)"),
	      "descriptor links to %s", link);
	CHECK(pwrite(fd, "new", 3, LEN) == 3, "the deleted file is not writable");
	return guest_verdict();
}
