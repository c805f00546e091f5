/* Private anonymous memory at fixed addresses: a read-write area with a distinct pattern per
 * word, a read-only area, a PROT_NONE area whose content was written before it was closed, a
 * sparse 16 MiB area with every 97th page touched (the rest must read zero), and an
 * executable area holding generated code that is called after restore. The lines of
 * /proc/self/maps covering these areas must be identical before and after. */
#include "guest.h"
#include <sys/mman.h>

#define BASE 0x5a0000000000UL
#define PG 4096UL
#define RW_ADDR (BASE)
#define RW_LEN (1024 * PG)
#define RO_ADDR (BASE + 0x10000000UL)
#define RO_LEN (16 * PG)
#define NONE_ADDR (BASE + 0x20000000UL)
#define NONE_LEN (8 * PG)
#define SPARSE_ADDR (BASE + 0x30000000UL)
#define SPARSE_LEN (4096 * PG)
#define EXEC_ADDR (BASE + 0x40000000UL)

static void *map_at(unsigned long addr, size_t len)
{
	void *p = mmap((void *)addr, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	SETUP(p == (void *)addr);
	return p;
}

static void fill(uint64_t *p, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len / 8; i++)
		p[i] = guest_mix(seed + i);
}

static size_t check_fill(const uint64_t *p, size_t len, uint64_t seed)
{
	size_t bad = 0;
	for (size_t i = 0; i < len / 8; i++)
		bad += p[i] != guest_mix(seed + i);
	return bad;
}

/* The maps lines inside [BASE, BASE + 0x50000000). */
static char *our_maps(void)
{
	char *all;
	long n = guest_slurp("/proc/self/maps", &all);
	SETUP(n >= 0);
	all[n] = 0;
	char *out = calloc(1, (size_t)n + 1);
	for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned long start = strtoul(line, NULL, 16);
		if (start >= BASE && start < BASE + 0x50000000UL) {
			strcat(out, line);
			strcat(out, "\n");
		}
	}
	free(all);
	return out;
}

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	uint64_t *rw = map_at(RW_ADDR, RW_LEN);
	fill(rw, RW_LEN, 1);
	uint64_t *ro = map_at(RO_ADDR, RO_LEN);
	fill(ro, RO_LEN, 2);
	SETUP(mprotect(ro, RO_LEN, PROT_READ) == 0);
	uint64_t *none = map_at(NONE_ADDR, NONE_LEN);
	fill(none, NONE_LEN, 3);
	SETUP(mprotect(none, NONE_LEN, PROT_NONE) == 0);
	unsigned char *sparse = map_at(SPARSE_ADDR, SPARSE_LEN);
	for (size_t pg = 0; pg < SPARSE_LEN / PG; pg += 97)
		fill((uint64_t *)(sparse + pg * PG), PG, 1000 + pg);
	unsigned char *code = map_at(EXEC_ADDR, PG);
	/* mov $0x2a2b2c2d, %eax; ret */
	static const unsigned char fn[] = { 0xb8, 0x2d, 0x2c, 0x2b, 0x2a, 0xc3 };
	memcpy(code, fn, sizeof(fn));
	SETUP(mprotect(code, PG, PROT_READ | PROT_EXEC) == 0);
	char *maps_before = our_maps();

	guest_ready();
	guest_wait_go();

	char *maps_after = our_maps();
	CHECK(strcmp(maps_before, maps_after) == 0, "maps differ:\nbefore:\n%safter:\n%s",
	      maps_before, maps_after);
	size_t bad = check_fill(rw, RW_LEN, 1);
	CHECK(bad == 0, "read-write area: %zu words differ", bad);
	bad = check_fill(ro, RO_LEN, 2);
	CHECK(bad == 0, "read-only area: %zu words differ", bad);
	CHECK(mprotect(none, NONE_LEN, PROT_READ) == 0, "mprotect of the PROT_NONE area failed");
	bad = check_fill(none, NONE_LEN, 3);
	CHECK(bad == 0, "PROT_NONE area: %zu words differ", bad);
	size_t bad_touched = 0, bad_zero = 0;
	for (size_t pg = 0; pg < SPARSE_LEN / PG; pg++) {
		if (pg % 97 == 0) {
			bad_touched += check_fill((uint64_t *)(sparse + pg * PG), PG, 1000 + pg);
		} else {
			const uint64_t *w = (const uint64_t *)(sparse + pg * PG);
			for (size_t i = 0; i < PG / 8; i++)
				bad_zero += w[i] != 0;
		}
	}
	CHECK(bad_touched == 0, "sparse area: %zu words of touched pages differ", bad_touched);
	CHECK(bad_zero == 0, "sparse area: %zu words of untouched pages are not zero", bad_zero);
	int (*call)(void) = (int (*)(void))(void *)code;
	CHECK(call() == 0x2a2b2c2d, "generated code returned the wrong value");
	rw[7] = 99; /* still writable */
	CHECK(rw[7] == 99, "read-write area not writable");
	return guest_verdict();
}
