/* General registers: ten 64-bit values held in rbx, rbp, r12-r15, rdx, r8-r10 while the
 * guest spins in inline assembly (mostly in user space, polling the go file with a raw
 * access() system call, which preserves all of them), then compared. Built with
 * -mno-red-zone because the assembly pushes onto the stack. */
#include "guest.h"

uint64_t regs_in[10], regs_out[10], rsp_before, rsp_after;
char go_path_buf[512];

static void spin_with_registers(void)
{
	__asm__ volatile(
		"push %%rbp\n\t"
		"mov %%rsp, rsp_before(%%rip)\n\t"
		"lea regs_in(%%rip), %%rax\n\t"
		"mov 0(%%rax), %%rbx\n\t"
		"mov 8(%%rax), %%rbp\n\t"
		"mov 16(%%rax), %%r12\n\t"
		"mov 24(%%rax), %%r13\n\t"
		"mov 32(%%rax), %%r14\n\t"
		"mov 40(%%rax), %%r15\n\t"
		"mov 48(%%rax), %%rdx\n\t"
		"mov 56(%%rax), %%r8\n\t"
		"mov 64(%%rax), %%r9\n\t"
		"mov 72(%%rax), %%r10\n\t"
		"1:\n\t"
		"mov $300000, %%ecx\n\t"
		"2:\n\t"
		"dec %%ecx\n\t"
		"jnz 2b\n\t"
		"mov $21, %%eax\n\t" /* access(go_path, F_OK) */
		"lea go_path_buf(%%rip), %%rdi\n\t"
		"xor %%esi, %%esi\n\t"
		"syscall\n\t"
		"test %%rax, %%rax\n\t"
		"jnz 1b\n\t"
		"lea regs_out(%%rip), %%rax\n\t"
		"mov %%rbx, 0(%%rax)\n\t"
		"mov %%rbp, 8(%%rax)\n\t"
		"mov %%r12, 16(%%rax)\n\t"
		"mov %%r13, 24(%%rax)\n\t"
		"mov %%r14, 32(%%rax)\n\t"
		"mov %%r15, 40(%%rax)\n\t"
		"mov %%rdx, 48(%%rax)\n\t"
		"mov %%r8, 56(%%rax)\n\t"
		"mov %%r9, 64(%%rax)\n\t"
		"mov %%r10, 72(%%rax)\n\t"
		"mov %%rsp, rsp_after(%%rip)\n\t"
		"pop %%rbp\n\t"
		:
		:
		: "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12",
		  "r13", "r14", "r15", "memory", "cc");
}

int main(int argc, char **argv)
{
	static const char *names[10] = { "rbx", "rbp", "r12", "r13", "r14",
					 "r15", "rdx", "r8",  "r9",  "r10" };
	guest_init(argc, argv);
	SETUP(strlen(guest_go_path) < sizeof(go_path_buf));
	strcpy(go_path_buf, guest_go_path);
	for (int i = 0; i < 10; i++)
		regs_in[i] = guest_mix(0x5eed0000u + (uint64_t)i) | 1;
	guest_ready();
	spin_with_registers();
	for (int i = 0; i < 10; i++)
		CHECK(regs_in[i] == regs_out[i], "%s: expected %#llx, got %#llx", names[i],
		      (unsigned long long)regs_in[i], (unsigned long long)regs_out[i]);
	CHECK(rsp_before == rsp_after, "rsp moved from %#llx to %#llx",
	      (unsigned long long)rsp_before, (unsigned long long)rsp_after);
	return guest_verdict();
}
