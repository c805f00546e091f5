/* A 64 MiB file of incompressible data (argv[2]) mapped private: 4 pages written, every 16th
 * page read, the rest untouched. After restore every page reads as before. The test checks
 * the image is far smaller than the mapping: clean file pages are mapped from the file again,
 * not stored. */
#include "guest.h"
#include <sys/mman.h>

#define PG 4096UL
#define LEN (64UL << 20)

static uint64_t word(size_t i) { return guest_mix(0xb16b00b5ULL + i); }

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	SETUP(argc >= 3);
	int fd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0644);
	SETUP(fd >= 0);
	uint64_t *buf = malloc(1 << 20);
	for (size_t off = 0; off < LEN; off += 1 << 20) {
		for (size_t i = 0; i < (1 << 20) / 8; i++)
			buf[i] = word(off / 8 + i);
		SETUP(write(fd, buf, 1 << 20) == 1 << 20);
	}
	free(buf);
	SETUP(fsync(fd) == 0);
	uint64_t *m = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	SETUP(m != MAP_FAILED);
	close(fd);
	for (size_t pg = 0; pg < 4; pg++)
		m[pg * 1000 * PG / 8] = 0x77;
	volatile uint64_t sink = 0;
	for (size_t pg = 0; pg < LEN / PG; pg += 16)
		sink += m[pg * PG / 8 + 1];
	(void)sink;

	guest_ready();
	guest_wait_go();

	size_t bad = 0;
	for (size_t i = 0; i < LEN / 8; i++) {
		uint64_t want = word(i);
		if (i % (1000 * PG / 8) == 0 && i / (1000 * PG / 8) < 4)
			want = 0x77;
		bad += m[i] != want;
	}
	CHECK(bad == 0, "%zu words of the file mapping differ", bad);
	return guest_verdict();
}
