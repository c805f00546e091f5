/* rseq: glibc registered restartable sequences at startup; after restore the registration
 * must be live again at the same address, so that sched_getcpu() (which reads the rseq
 * area's cpu_id) follows the CPU the process is moved to. */
#include "guest.h"
#include <sched.h>
#include <sys/rseq.h>
#include <sys/syscall.h>

static int real_cpu(void)
{
	unsigned cpu = 0;
	SETUP(syscall(SYS_getcpu, &cpu, NULL, NULL) == 0);
	return (int)cpu;
}

static void check_follow(const char *when)
{
	struct rseq *rs = (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
	cpu_set_t all;
	SETUP(sched_getaffinity(0, sizeof(all), &all) == 0);
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &all))
			continue;
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		SETUP(sched_setaffinity(0, sizeof(one), &one) == 0);
		sched_yield();
		CHECK(real_cpu() == cpu, "%s: getcpu says %d, pinned to %d", when, real_cpu(), cpu);
		CHECK(sched_getcpu() == cpu, "%s: sched_getcpu() says %d on cpu %d", when,
		      sched_getcpu(), cpu);
		CHECK((int)rs->cpu_id == cpu, "%s: rseq cpu_id is %d on cpu %d", when,
		      (int)rs->cpu_id, cpu);
	}
	SETUP(sched_setaffinity(0, sizeof(all), &all) == 0);
}

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	SETUP(__rseq_size > 0);
	check_follow("before");
	SETUP(guest_failures == 0);
	guest_ready();
	guest_wait_go();
	check_follow("after restore");
	return guest_verdict();
}
