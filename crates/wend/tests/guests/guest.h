/* Shared helpers for the checkpoint corpus guests.
 *
 * Protocol: a guest sets up the state it exercises and checks it once ("before"), prints
 * "ready" on stdout, then waits until the file named by argv[1] exists (the "go" file). The
 * test checkpoints it while it waits, restores the image and creates the go file; the
 * restored guest checks its state again and prints "verdict: ok" (exit 0) or one "FAIL: ..."
 * line per mismatch and "verdict: fail" (exit 1). A control run (go file present from the
 * start) proves each guest passes without any checkpoint. */
#ifndef WEND_GUEST_H
#define WEND_GUEST_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static __attribute__((unused)) int guest_failures;
static const char *guest_go_path __attribute__((unused));

static __attribute__((unused)) void guest_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static __attribute__((unused)) void guest_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("FAIL: ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
	guest_failures++;
}

#define CHECK(cond, ...)                                                                   \
	do {                                                                               \
		if (!(cond))                                                               \
			guest_fail(__VA_ARGS__);                                           \
	} while (0)

/* Aborts the guest when setting up its state fails: that is a broken guest, not a restore
 * bug, and the control run reports it. */
#define SETUP(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			printf("SETUP FAILED: %s (%s:%d): %s\n", #cond, __FILE__, __LINE__,        \
			       strerror(errno));                                           \
			fflush(stdout);                                                    \
			exit(3);                                                           \
		}                                                                          \
	} while (0)

static __attribute__((unused)) void guest_init(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s GO_FILE [ARGS...]\n", argv[0]);
		exit(2);
	}
	guest_go_path = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static __attribute__((unused)) void guest_ready(void)
{
	printf("ready\n");
	fflush(stdout);
}

static __attribute__((unused)) int guest_go_exists(void)
{
	struct stat st;
	return stat(guest_go_path, &st) == 0;
}

/* Sleeps in short nanosleeps until the go file exists. */
static __attribute__((unused)) void guest_wait_go(void)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	while (!guest_go_exists())
		nanosleep(&ts, NULL);
}

static __attribute__((unused)) int guest_verdict(void)
{
	if (guest_failures == 0) {
		printf("verdict: ok\n");
		fflush(stdout);
		return 0;
	}
	printf("verdict: fail (%d)\n", guest_failures);
	fflush(stdout);
	return 1;
}

/* Reads a whole (small) file into a malloc'd buffer; returns its length or -1. */
static __attribute__((unused)) long guest_slurp(const char *path, char **out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			close(fd);
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	*out = buf;
	return (long)len;
}

static __attribute__((unused)) uint64_t guest_mix(uint64_t x)
{
	x ^= x >> 31;
	x *= 0x7fb5d329728ea185ULL;
	x ^= x >> 27;
	x *= 0x81dadef4bc2dd44dULL;
	x ^= x >> 33;
	return x;
}

static __attribute__((unused)) double guest_now(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
