/* Per-process settings: every rlimit (soft ones lowered, a few hard ones too), the umask,
 * the cwd (argv[2], a directory with a space in its name), the process name (PR_SET_NAME,
 * as `ps -o comm` shows it), PR_GET_PDEATHSIG (must be 0: the restorer's own death signal
 * must not leak), the set of open descriptors. */
#include "guest.h"
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/resource.h>

static void fd_list(char *out, size_t len)
{
	DIR *d = opendir("/proc/self/fd");
	SETUP(d);
	int dfd = dirfd(d);
	out[0] = 0;
	int fds[1024], n = 0;
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.' && atoi(e->d_name) != dfd && n < 1024)
			fds[n++] = atoi(e->d_name);
	closedir(d);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (fds[j] < fds[i]) {
				int t = fds[i];
				fds[i] = fds[j];
				fds[j] = t;
			}
	for (int i = 0; i < n; i++)
		snprintf(out + strlen(out), len - strlen(out), "%d ", fds[i]);
}

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	SETUP(argc >= 3);
	struct rlimit set;
	SETUP(getrlimit(RLIMIT_NOFILE, &set) == 0);
	set.rlim_cur = 517;
	SETUP(setrlimit(RLIMIT_NOFILE, &set) == 0);
	SETUP(getrlimit(RLIMIT_STACK, &set) == 0);
	set.rlim_cur = 5 << 20;
	SETUP(setrlimit(RLIMIT_STACK, &set) == 0);
	set.rlim_cur = 0;
	set.rlim_max = 0;
	SETUP(setrlimit(RLIMIT_CORE, &set) == 0);
	SETUP(getrlimit(RLIMIT_CPU, &set) == 0);
	set.rlim_cur = 86400;
	set.rlim_max = 2 * 86400;
	SETUP(setrlimit(RLIMIT_CPU, &set) == 0);
	SETUP(getrlimit(RLIMIT_NPROC, &set) == 0);
	set.rlim_cur = 4000;
	SETUP(setrlimit(RLIMIT_NPROC, &set) == 0);
	SETUP(getrlimit(RLIMIT_FSIZE, &set) == 0);
	set.rlim_cur = 1UL << 40;
	SETUP(setrlimit(RLIMIT_FSIZE, &set) == 0);
	struct rlimit before[RLIM_NLIMITS];
	for (int r = 0; r < RLIM_NLIMITS; r++)
		SETUP(getrlimit(r, &before[r]) == 0);
	umask(027);
	SETUP(chdir(argv[2]) == 0);
	char cwd_before[4096];
	SETUP(getcwd(cwd_before, sizeof(cwd_before)));
	SETUP(prctl(PR_SET_NAME, "wg-procstate", 0, 0, 0) == 0);
	char fds_before[8192];
	fd_list(fds_before, sizeof(fds_before));

	guest_ready();
	guest_wait_go();

	for (int r = 0; r < RLIM_NLIMITS; r++) {
		struct rlimit now;
		CHECK(getrlimit(r, &now) == 0, "getrlimit(%d) failed", r);
		CHECK(now.rlim_cur == before[r].rlim_cur && now.rlim_max == before[r].rlim_max,
		      "rlimit %d: %llu/%llu became %llu/%llu", r,
		      (unsigned long long)before[r].rlim_cur, (unsigned long long)before[r].rlim_max,
		      (unsigned long long)now.rlim_cur, (unsigned long long)now.rlim_max);
	}
	mode_t m = umask(022);
	CHECK(m == 027, "umask %03o became %03o", 027, (unsigned)m);
	char cwd_after[4096];
	CHECK(getcwd(cwd_after, sizeof(cwd_after)) != NULL, "getcwd failed");
	CHECK(strcmp(cwd_before, cwd_after) == 0, "cwd %s became %s", cwd_before, cwd_after);
	int fd = open("relative-probe", O_CREAT | O_WRONLY, 0666);
	CHECK(fd >= 0, "cannot create a file relative to the cwd");
	if (fd >= 0) {
		close(fd);
		unlink("relative-probe");
	}
	char name[32] = { 0 };
	prctl(PR_GET_NAME, name, 0, 0, 0);
	CHECK(strcmp(name, "wg-procstate") == 0, "process name became %s", name);
	int pdeath = -1;
	prctl(PR_GET_PDEATHSIG, &pdeath, 0, 0, 0);
	CHECK(pdeath == 0, "parent-death signal is %d after restore", pdeath);
	char fds_after[8192];
	fd_list(fds_after, sizeof(fds_after));
	CHECK(strcmp(fds_before, fds_after) == 0, "open descriptors %s became %s", fds_before,
	      fds_after);
	return guest_verdict();
}
