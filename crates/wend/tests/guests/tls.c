/* fs base and thread-local storage: __thread variables (initialised and zero-initialised),
 * the thread pointer, errno (itself thread-local), and ARCH_GET_FS / ARCH_GET_GS. */
#include "guest.h"
#include <asm/prctl.h>
#include <sys/syscall.h>

static __thread uint64_t tls_init = 0x1122334455667788ULL;
static __thread uint64_t tls_zero;
static __thread char tls_text[64] = "thread-local text";

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	unsigned long fs_before = 0, gs_before = 0, fs_after = 0, gs_after = 0;
	SETUP(syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_before) == 0);
	SETUP(syscall(SYS_arch_prctl, ARCH_GET_GS, &gs_before) == 0);
	void *tp_before = __builtin_thread_pointer();
	tls_zero = 0xdeadbeefcafef00dULL;
	strcat(tls_text, " + more");
	errno = 4242;
	guest_ready();
	errno = 4242;
	guest_wait_go();
	CHECK(syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_after) == 0, "ARCH_GET_FS failed");
	CHECK(syscall(SYS_arch_prctl, ARCH_GET_GS, &gs_after) == 0, "ARCH_GET_GS failed");
	CHECK(fs_before == fs_after, "fs base %#lx became %#lx", fs_before, fs_after);
	CHECK(gs_before == gs_after, "gs base %#lx became %#lx", gs_before, gs_after);
	CHECK(__builtin_thread_pointer() == tp_before, "thread pointer changed");
	CHECK((unsigned long)tp_before == fs_before, "thread pointer is not fs base");
	CHECK(tls_init == 0x1122334455667788ULL, "initialised TLS variable changed: %#llx",
	      (unsigned long long)tls_init);
	CHECK(tls_zero == 0xdeadbeefcafef00dULL, "zero-initialised TLS variable changed: %#llx",
	      (unsigned long long)tls_zero);
	CHECK(strcmp(tls_text, "thread-local text + more") == 0, "TLS text became %s", tls_text);
	errno = 77;
	CHECK(errno == 77, "errno not writable");
	return guest_verdict();
}
