/* File-backed private mappings of argv[2] (created here, 32 pages, a pattern per offset):
 * pages 0-7 written (private copies), pages 8-15 read (clean, still the file's), pages 16-31
 * never touched; plus a read-only mapping of pages 4-11 at a fixed address. After restore
 * every page must read what it read before, even if the file changed meanwhile (the test
 * rewrites it; wend must then refuse or have stored the pages). */
#include "guest.h"
#include <sys/mman.h>

#define PG 4096UL
#define NPAGES 32
#define RO_ADDR 0x5b0000000000UL

static uint64_t file_word(size_t off) { return guest_mix(0xf11e0000ULL + off); }
static uint64_t written_word(size_t off) { return guest_mix(0x0ddba11ULL + off); }

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	SETUP(argc >= 3);
	const char *path = argv[2];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	SETUP(fd >= 0);
	uint64_t *buf = malloc(NPAGES * PG);
	for (size_t i = 0; i < NPAGES * PG / 8; i++)
		buf[i] = file_word(i * 8);
	SETUP(write(fd, buf, NPAGES * PG) == (ssize_t)(NPAGES * PG));
	SETUP(fsync(fd) == 0);
	close(fd);
	fd = open(path, O_RDONLY);
	SETUP(fd >= 0);
	uint64_t *m = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	SETUP(m != MAP_FAILED);
	uint64_t *ro = mmap((void *)RO_ADDR, 8 * PG, PROT_READ, MAP_PRIVATE | MAP_FIXED_NOREPLACE,
			    fd, 4 * PG);
	SETUP(ro == (void *)RO_ADDR);
	close(fd);
	for (size_t i = 0; i < 8 * PG / 8; i++)
		m[i] = written_word(i * 8);
	volatile uint64_t sink = 0;
	for (size_t pg = 8; pg < 16; pg++)
		sink += m[pg * PG / 8];
	(void)sink;

	guest_ready();
	guest_wait_go();

	size_t bad_written = 0, bad_read = 0, bad_untouched = 0, bad_ro = 0;
	for (size_t i = 0; i < NPAGES * PG / 8; i++) {
		size_t pg = i * 8 / PG;
		uint64_t want = pg < 8 ? written_word(i * 8) : file_word(i * 8);
		if (m[i] != want) {
			if (pg < 8)
				bad_written++;
			else if (pg < 16)
				bad_read++;
			else
				bad_untouched++;
		}
	}
	for (size_t i = 0; i < 8 * PG / 8; i++)
		bad_ro += ro[i] != file_word(4 * PG + i * 8);
	CHECK(bad_written == 0, "written private pages: %zu words differ", bad_written);
	CHECK(bad_read == 0, "read (clean) pages: %zu words differ", bad_read);
	CHECK(bad_untouched == 0, "untouched pages: %zu words differ", bad_untouched);
	CHECK(bad_ro == 0, "read-only file mapping: %zu words differ", bad_ro);
	m[NPAGES * PG / 8 - 1] = 5; /* still a writable private mapping */
	CHECK(m[NPAGES * PG / 8 - 1] == 5, "mapping not writable");
	return guest_verdict();
}
