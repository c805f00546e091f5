/* reaper STATUS_FILE CMD [ARGS...]
 *
 * Runs CMD as a child subreaper: every process CMD leaves behind (a restored process after
 * `wend restore --detach`, a stub) is re-parented here instead of to pid 1, reaped, and its
 * end recorded in STATUS_FILE as "exit PID CODE" or "signal PID SIG". The first line is
 * "child PID" for CMD itself. Waits until no descendant is left, then exits with CMD's status
 * (128+N if CMD was killed by signal N). The tests run every `wend` command under it. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: reaper STATUS_FILE CMD [ARGS...]\n");
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
		perror("reaper: PR_SET_CHILD_SUBREAPER");
		return 2;
	}
	FILE *status = fopen(argv[1], "we");
	if (!status) {
		perror("reaper: status file");
		return 2;
	}
	setvbuf(status, NULL, _IOLBF, 0);
	pid_t child = fork();
	if (child < 0) {
		perror("reaper: fork");
		return 2;
	}
	if (child == 0) {
		/* Only stdio: no inherited descriptor (cargo's jobserver pipe) may reach wend. */
		close_range(3, ~0U, 0);
		execvp(argv[2], argv + 2);
		perror("reaper: exec");
		_exit(127);
	}
	fprintf(status, "child %d\n", child);
	int result = 127;
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, __WALL);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		int code;
		if (WIFEXITED(st)) {
			code = WEXITSTATUS(st);
			fprintf(status, "exit %d %d\n", pid, code);
		} else if (WIFSIGNALED(st)) {
			code = 128 + WTERMSIG(st);
			fprintf(status, "signal %d %d\n", pid, WTERMSIG(st));
		} else {
			continue;
		}
		if (pid == child)
			result = code;
	}
	fprintf(status, "done\n");
	return result;
}
