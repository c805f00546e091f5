/* A large process for interrupted migrations: argv[2] MiB of heap, every byte of which
 * depends on its offset, set up before "ready". Once the go file exists it checks every byte
 * and prints "checked N MiB" and the verdict. */
#include "guest.h"

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	SETUP(argc >= 3);
	size_t len = (size_t)atol(argv[2]) << 20;
	uint64_t *mem = malloc(len);
	SETUP(mem != NULL);
	size_t words = len / 8;
	for (size_t i = 0; i < words; i++)
		mem[i] = guest_mix(i);
	guest_ready();
	guest_wait_go();
	size_t bad = 0;
	for (size_t i = 0; i < words; i++)
		if (mem[i] != guest_mix(i))
			bad++;
	CHECK(bad == 0, "%zu of %zu words changed", bad, words);
	printf("checked %zu MiB\n", len >> 20);
	return guest_verdict();
}
