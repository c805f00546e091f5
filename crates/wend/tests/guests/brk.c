/* The brk heap: sbrk grows it by 3 MiB filled with a pattern, malloc'd small blocks hold
 * strings; after restore sbrk(0) is where it was, the content is intact, and the heap still
 * grows and shrinks. /proc/self/stat's start_brk must not move either. */
#include "guest.h"

static unsigned long start_brk(void)
{
	char *s;
	long n = guest_slurp("/proc/self/stat", &s);
	SETUP(n > 0);
	s[n] = 0;
	char *p = strrchr(s, ')') + 2;
	unsigned long v = 0;
	/* field 47 (start_brk) is the 45th after the state field (field 3) */
	for (int f = 3; f <= 47; f++) {
		v = strtoul(p, &p, 10);
		if (f == 3) {
			p = strchr(p, ' ');
		}
		while (*p == ' ')
			p++;
	}
	free(s);
	return v;
}

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	char *small[64];
	for (int i = 0; i < 64; i++) {
		small[i] = malloc(40 + (size_t)i);
		SETUP(small[i]);
		snprintf(small[i], 40 + (size_t)i, "block %d", i);
	}
	size_t len = 3 << 20;
	uint64_t *heap = sbrk((intptr_t)len);
	SETUP(heap != (void *)-1);
	for (size_t i = 0; i < len / 8; i++)
		heap[i] = guest_mix(0xb4c0 + i);
	void *end_before = sbrk(0);
	unsigned long sb_before = start_brk();

	guest_ready();
	guest_wait_go();

	CHECK(sbrk(0) == end_before, "program break moved from %p to %p", end_before, sbrk(0));
	CHECK(start_brk() == sb_before, "start_brk moved from %#lx to %#lx", sb_before, start_brk());
	size_t bad = 0;
	for (size_t i = 0; i < len / 8; i++)
		bad += heap[i] != guest_mix(0xb4c0 + i);
	CHECK(bad == 0, "sbrk area: %zu words differ", bad);
	for (int i = 0; i < 64; i++) {
		char want[128];
		snprintf(want, sizeof(want), "block %d", i);
		CHECK(strcmp(small[i], want) == 0, "malloc block %d reads %s", i, small[i]);
		free(small[i]);
	}
	char *more = sbrk(1 << 20);
	CHECK(more == end_before, "growing the heap returned %p, expected %p", (void *)more,
	      end_before);
	if (more != (void *)-1) {
		memset(more, 0x5a, 1 << 20);
		CHECK(sbrk(-(2 << 20)) != (void *)-1, "shrinking the heap failed");
		CHECK((char *)sbrk(0) == (char *)end_before - (1 << 20), "heap end wrong after shrink");
	}
	void *big = malloc(10 << 20);
	CHECK(big != NULL, "malloc of 10 MiB failed");
	free(big);
	return guest_verdict();
}
