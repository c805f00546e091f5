/* A guest for post-copy migration: memory whose pages arrive after the process runs again.
 * argv[2] MiB of filler (checked, mapped last so it sits below the rest and is pushed
 * first), and four 16 MiB areas it works on right after the go file appears, while many of
 * their pages may still be at home:
 *   M (moved): mremap'd to a larger size at a new address, then checked there;
 *   D (dropped): its first half MADV_DONTNEED'd (must read as zero), the second half checked;
 *   W (written out): written to a file with write(2) (the call reads lazy pages), read back
 *     with read(2) into U, an area never touched before (the call writes missing pages);
 *   Z: never touched, must read as zero.
 * Prints "checked N MiB" and the verdict. */
#include "guest.h"
#include <sys/mman.h>

#define AREA (16UL << 20)

static uint64_t *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	SETUP(p != MAP_FAILED);
	return p;
}

static void fill(uint64_t *p, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len / 8; i++)
		p[i] = guest_mix(seed + i);
}

static size_t bad_words(const uint64_t *p, size_t len, uint64_t seed)
{
	size_t bad = 0;
	for (size_t i = 0; i < len / 8; i++)
		if (p[i] != guest_mix(seed + i))
			bad++;
	return bad;
}

static size_t nonzero_words(const uint64_t *p, size_t len)
{
	size_t bad = 0;
	for (size_t i = 0; i < len / 8; i++)
		if (p[i] != 0)
			bad++;
	return bad;
}

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	SETUP(argc >= 4);
	size_t filler = (size_t)atol(argv[2]) << 20;
	const char *scratch = argv[3];
	uint64_t *m = map(AREA), *d = map(AREA), *w = map(AREA), *u = map(AREA), *z = map(AREA);
	uint64_t *f = map(filler);
	fill(m, AREA, 1ULL << 40);
	fill(d, AREA, 2ULL << 40);
	fill(w, AREA, 3ULL << 40);
	fill(f, filler, 4ULL << 40);
	guest_ready();
	guest_wait_go();

	uint64_t *m2 = mremap(m, AREA, 2 * AREA, MREMAP_MAYMOVE);
	CHECK(m2 != MAP_FAILED, "mremap: %s", strerror(errno));
	if (m2 != MAP_FAILED) {
		CHECK(bad_words(m2, AREA, 1ULL << 40) == 0, "moved area changed");
		CHECK(nonzero_words(m2 + AREA / 8, AREA) == 0, "grown part of the moved area not zero");
	}

	CHECK(madvise(d, AREA / 2, MADV_DONTNEED) == 0, "madvise: %s", strerror(errno));
	CHECK(nonzero_words(d, AREA / 2) == 0, "dropped half not zero");
	CHECK(bad_words(d + AREA / 16, AREA / 2, (2ULL << 40) + AREA / 16) == 0,
	      "kept half of the dropped area changed");

	int fd = open(scratch, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	SETUP(fd >= 0);
	size_t done = 0;
	while (done < AREA) {
		ssize_t n = write(fd, (char *)w + done, AREA - done);
		SETUP(n > 0);
		done += (size_t)n;
	}
	SETUP(lseek(fd, 0, SEEK_SET) == 0);
	done = 0;
	while (done < AREA) {
		ssize_t n = read(fd, (char *)u + done, AREA - done);
		SETUP(n > 0);
		done += (size_t)n;
	}
	close(fd);
	unlink(scratch);
	CHECK(bad_words(u, AREA, 3ULL << 40) == 0, "read back into fresh memory differs");
	CHECK(bad_words(w, AREA, 3ULL << 40) == 0, "written area changed");

	CHECK(nonzero_words(z, AREA) == 0, "untouched area not zero");
	CHECK(bad_words(f, filler, 4ULL << 40) == 0, "filler changed");
	printf("checked %zu MiB\n", (filler >> 20) + 4 * (AREA >> 20));
	return guest_verdict();
}
