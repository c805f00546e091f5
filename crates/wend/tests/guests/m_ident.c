/* What a migrated process sees of itself and of the file system. argv[1] is the go file,
 * argv[2] a data file read half before the move (through a descriptor kept open) and half
 * after, argv[3] a path that exists only in the remote node's private /tmp. Prints "before"
 * and "after" lines with getpid, getppid and getcwd, the rest of the data file, what
 * opening argv[3] gave, and the sorted entries of /tmp. */
#include "guest.h"
#include <dirent.h>

static void identity(const char *when)
{
	char cwd[4096];
	SETUP(getcwd(cwd, sizeof(cwd)) != NULL);
	printf("%s pid=%d ppid=%d cwd=%s\n", when, (int)getpid(), (int)getppid(), cwd);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	SETUP(argc >= 4);
	int fd = open(argv[2], O_RDONLY);
	SETUP(fd >= 0);
	struct stat st;
	SETUP(fstat(fd, &st) == 0);
	size_t half = (size_t)st.st_size / 2;
	char *buf = calloc(1, (size_t)st.st_size + 1);
	SETUP(buf && read(fd, buf, half) == (ssize_t)half);
	printf("first=%s\n", buf);
	identity("before");
	guest_ready();
	guest_wait_go();
	identity("after");
	ssize_t n = read(fd, buf, (size_t)st.st_size - half);
	SETUP(n >= 0);
	buf[n] = 0;
	printf("rest=%s\n", buf);
	int s = open(argv[3], O_RDONLY);
	if (s < 0) {
		printf("secret: %s\n", errno == ENOENT ? "ENOENT" : strerror(errno));
	} else {
		char sb[256] = { 0 };
		ssize_t k = read(s, sb, sizeof(sb) - 1);
		printf("secret: read %zd bytes: %s\n", k, sb);
	}
	DIR *d = opendir("/tmp");
	SETUP(d != NULL);
	char *names[1024];
	int count = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && count < 1024) {
		if (e->d_name[0] != '.')
			names[count++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, (size_t)count, sizeof(names[0]), cmp);
	printf("tmp:");
	for (int i = 0; i < count; i++)
		printf(" %s", names[i]);
	printf("\n");
	return 0;
}
