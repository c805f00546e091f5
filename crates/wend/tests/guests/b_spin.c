/* A CPU-bound job for the balancing tests: argv[2] MiB of heap whose every word depends on
 * its offset, then passes of counting the primes below 2,000,000 by trial division (pure CPU,
 * no system call) until the go file exists. It then checks the heap and prints the passes
 * made, the prime count of the last pass (148933 if nothing was lost on the way) and the
 * verdict. "ready" comes once the heap is set up. */
#include "guest.h"

#define LIMIT 2000000
#define PRIMES_BELOW_LIMIT 148933

static long count_primes(long limit)
{
	long n = limit > 2 ? 1 : 0; /* 2 */
	for (long k = 3; k < limit; k += 2) {
		int prime = 1;
		for (long d = 3; d * d <= k; d += 2) {
			if (k % d == 0) {
				prime = 0;
				break;
			}
		}
		n += prime;
	}
	return n;
}

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	SETUP(argc >= 3);
	size_t len = (size_t)atol(argv[2]) << 20;
	uint64_t *mem = malloc(len + 8);
	SETUP(mem != NULL);
	size_t words = len / 8;
	for (size_t i = 0; i < words; i++)
		mem[i] = guest_mix(i);
	guest_ready();
	long passes = 0, primes = 0;
	while (!guest_go_exists()) {
		primes = count_primes(LIMIT);
		passes++;
		CHECK(primes == PRIMES_BELOW_LIMIT, "pass %ld counted %ld primes", passes, primes);
	}
	size_t bad = 0;
	for (size_t i = 0; i < words; i++)
		if (mem[i] != guest_mix(i))
			bad++;
	CHECK(bad == 0, "%zu of %zu words changed", bad, words);
	printf("passes %ld primes %ld\n", passes, primes);
	return guest_verdict();
}
