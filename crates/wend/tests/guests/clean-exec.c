/* clean-exec PROGRAM [ARGS...]: closes every descriptor above 2, then execs PROGRAM (same
 * pid). The test process may hold inherited descriptors without close-on-exec (cargo's
 * jobserver pipe); a guest must start with only stdin, stdout and stderr, or wend rightly
 * refuses it for holding a pipe to another process. */
#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: clean-exec PROGRAM [ARGS...]\n");
		return 2;
	}
	if (close_range(3, ~0U, 0) != 0) {
		perror("clean-exec: close_range");
		return 2;
	}
	execvp(argv[1], argv + 1);
	perror("clean-exec: exec");
	return 127;
}
