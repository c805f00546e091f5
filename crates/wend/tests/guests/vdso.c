/* The vDSO: it stays at the address AT_SYSINFO_EHDR names (glibc caches pointers into it),
 * clock_gettime through it keeps working and agrees with the real system call, and
 * gettimeofday / CLOCK_MONOTONIC never go backwards across the checkpoint. */
#include "guest.h"
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>

static unsigned long vdso_in_maps(void)
{
	char *s;
	long n = guest_slurp("/proc/self/maps", &s);
	SETUP(n > 0);
	s[n] = 0;
	unsigned long addr = 0;
	for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n"))
		if (strstr(line, "[vdso]"))
			addr = strtoul(line, NULL, 16);
	free(s);
	return addr;
}

static double sys_clock(clockid_t c)
{
	struct timespec ts;
	syscall(SYS_clock_gettime, c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	unsigned long ehdr = getauxval(AT_SYSINFO_EHDR);
	SETUP(ehdr != 0 && vdso_in_maps() == ehdr);
	struct timeval tv_before;
	gettimeofday(&tv_before, NULL);
	double mono_before = guest_now(CLOCK_MONOTONIC);

	guest_ready();
	guest_wait_go();

	CHECK(vdso_in_maps() == ehdr, "[vdso] is at %#lx, AT_SYSINFO_EHDR says %#lx",
	      vdso_in_maps(), ehdr);
	struct timeval tv_after;
	gettimeofday(&tv_after, NULL);
	CHECK(timercmp(&tv_after, &tv_before, >=), "gettimeofday went backwards");
	double mono_after = guest_now(CLOCK_MONOTONIC);
	CHECK(mono_after >= mono_before, "CLOCK_MONOTONIC went backwards (%f < %f)", mono_after,
	      mono_before);
	clockid_t clocks[] = { CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME,
			       CLOCK_MONOTONIC_RAW };
	for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
		double v = guest_now(clocks[i]);
		double s = sys_clock(clocks[i]);
		CHECK(s - v >= 0 && s - v < 5.0, "clock %d: vDSO %f vs system call %f",
		      (int)clocks[i], v, s);
	}
	double last = guest_now(CLOCK_MONOTONIC);
	struct timeval tv_last = tv_after;
	for (int i = 0; i < 100000; i++) {
		double now = guest_now(CLOCK_MONOTONIC);
		struct timeval tv;
		gettimeofday(&tv, NULL);
		if (now < last || timercmp(&tv, &tv_last, <)) {
			guest_fail("time went backwards at call %d", i);
			break;
		}
		last = now;
		tv_last = tv;
	}
	CHECK(time(NULL) >= tv_before.tv_sec, "time() is before the checkpoint");
	return guest_verdict();
}
