/* What `ps` and /proc show of the process: /proc/self/cmdline, environ and auxv byte for
 * byte, the mm fields of /proc/self/stat (code, data, brk, stack, arguments, environment
 * bounds), /proc/self/exe, getauxval(AT_RANDOM) content and AT_EXECFN. */
#include "guest.h"
#include <sys/auxv.h>

struct snapshot {
	char *cmdline, *environ_, *auxv, *stat_mm, exe[4096];
	long cmdline_len, environ_len, auxv_len;
};

/* The mm fields of /proc/self/stat: 26-28 and 45-51 (1-based). */
static char *stat_mm(void)
{
	char *s;
	long n = guest_slurp("/proc/self/stat", &s);
	SETUP(n > 0);
	s[n] = 0;
	char *p = strrchr(s, ')') + 2;
	char *out = calloc(1, 512);
	int field = 3;
	for (char *tok = strtok(p, " \n"); tok; tok = strtok(NULL, " \n"), field++) {
		if ((field >= 26 && field <= 28) || (field >= 45 && field <= 51)) {
			char one[64];
			snprintf(one, sizeof(one), "%d=%s ", field, tok);
			strcat(out, one);
		}
	}
	free(s);
	return out;
}

static void take(struct snapshot *s)
{
	s->cmdline_len = guest_slurp("/proc/self/cmdline", &s->cmdline);
	s->environ_len = guest_slurp("/proc/self/environ", &s->environ_);
	s->auxv_len = guest_slurp("/proc/self/auxv", &s->auxv);
	SETUP(s->cmdline_len > 0 && s->environ_len > 0 && s->auxv_len > 0);
	s->stat_mm = stat_mm();
	ssize_t n = readlink("/proc/self/exe", s->exe, sizeof(s->exe) - 1);
	SETUP(n > 0);
	s->exe[n] = 0;
}

static void compare_bytes(const char *what, const char *a, long alen, const char *b, long blen)
{
	CHECK(alen == blen && memcmp(a, b, (size_t)alen) == 0, "%s differs (%ld vs %ld bytes)",
	      what, alen, blen);
}

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	struct snapshot before, after;
	take(&before);
	unsigned char random_before[16];
	memcpy(random_before, (void *)getauxval(AT_RANDOM), 16);
	const char *execfn = (const char *)getauxval(AT_EXECFN);
	char execfn_before[4096];
	snprintf(execfn_before, sizeof(execfn_before), "%s", execfn);
	const char *mark = getenv("WEND_GUEST_MARK");
	SETUP(mark != NULL);

	guest_ready();
	guest_wait_go();

	take(&after);
	compare_bytes("/proc/self/cmdline", before.cmdline, before.cmdline_len, after.cmdline,
		      after.cmdline_len);
	compare_bytes("/proc/self/environ", before.environ_, before.environ_len, after.environ_,
		      after.environ_len);
	compare_bytes("/proc/self/auxv", before.auxv, before.auxv_len, after.auxv, after.auxv_len);
	CHECK(strcmp(before.stat_mm, after.stat_mm) == 0, "stat mm fields: %s became %s",
	      before.stat_mm, after.stat_mm);
	CHECK(strcmp(before.exe, after.exe) == 0, "/proc/self/exe: %s became %s", before.exe,
	      after.exe);
	CHECK(memcmp(random_before, (void *)getauxval(AT_RANDOM), 16) == 0,
	      "AT_RANDOM bytes changed");
	CHECK(strcmp(execfn_before, (const char *)getauxval(AT_EXECFN)) == 0,
	      "AT_EXECFN changed");
	CHECK(getenv("WEND_GUEST_MARK") && strcmp(getenv("WEND_GUEST_MARK"), mark) == 0,
	      "environment variable lost");
	CHECK(argc >= 4 && strcmp(argv[3], "an argument with spaces") == 0, "argv[3] changed");
	return guest_verdict();
}
