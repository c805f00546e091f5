/* The extended register state: zmm0-31 and k0-7 (AVX-512), ymm0-15 (AVX) or xmm0-15 (SSE),
 * whichever this CPU and kernel enable (cpuid + xgetbv), plus MXCSR, the x87 control word and
 * three x87 stack registers, all loaded with distinct patterns and held while the guest spins
 * in assembly that only touches general registers; then stored and compared. Prints the
 * level it tested ("level: avx512"). */
#include "guest.h"
#include <cpuid.h>

unsigned char vin[32 * 64] __attribute__((aligned(64)));
unsigned char vout[32 * 64] __attribute__((aligned(64)));
uint64_t kin[8], kout[8];
uint32_t mxcsr_in = 0x7fc0, mxcsr_out; /* round toward zero, DAZ, all exceptions masked */
uint16_t fcw_in = 0x027f, fcw_out;     /* double precision, all exceptions masked */
double x87_in[3] = { 3.25, -1e300, 6.02214076e23 }, x87_out[3];
char go_path_buf[512];

#define SPIN                                                                               \
	"1:\n\t"                                                                           \
	"mov $300000, %%ecx\n\t"                                                           \
	"2:\n\t"                                                                           \
	"dec %%ecx\n\t"                                                                    \
	"jnz 2b\n\t"                                                                       \
	"mov $21, %%eax\n\t"                                                               \
	"lea go_path_buf(%%rip), %%rdi\n\t"                                                \
	"xor %%esi, %%esi\n\t"                                                             \
	"syscall\n\t"                                                                      \
	"test %%rax, %%rax\n\t"                                                            \
	"jnz 1b\n\t"

#define PRE                                                                                \
	"ldmxcsr mxcsr_in(%%rip)\n\t"                                                      \
	"fldcw fcw_in(%%rip)\n\t"                                                          \
	"fldl x87_in+16(%%rip)\n\t"                                                        \
	"fldl x87_in+8(%%rip)\n\t"                                                         \
	"fldl x87_in(%%rip)\n\t"
#define POST                                                                               \
	"fstpl x87_out(%%rip)\n\t"                                                         \
	"fstpl x87_out+8(%%rip)\n\t"                                                       \
	"fstpl x87_out+16(%%rip)\n\t"                                                      \
	"stmxcsr mxcsr_out(%%rip)\n\t"                                                     \
	"fnstcw fcw_out(%%rip)\n\t"

#define LZ(n) "vmovdqu64 " #n "*64(%%r8), %%zmm" #n "\n\t"
#define SZ(n) "vmovdqu64 %%zmm" #n ", " #n "*64(%%r8)\n\t"
#define LK(n) "kmovq " #n "*8(%%r9), %%k" #n "\n\t"
#define SK(n) "kmovq %%k" #n ", " #n "*8(%%r9)\n\t"
#define LY(n) "vmovdqu " #n "*64(%%r8), %%ymm" #n "\n\t"
#define SY(n) "vmovdqu %%ymm" #n ", " #n "*64(%%r8)\n\t"
#define LX(n) "movdqu " #n "*64(%%r8), %%xmm" #n "\n\t"
#define SX(n) "movdqu %%xmm" #n ", " #n "*64(%%r8)\n\t"
#define X8(M, a) M(a##0) M(a##1) M(a##2) M(a##3) M(a##4) M(a##5) M(a##6) M(a##7)
#define R16(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define R32(M)                                                                             \
	R16(M) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) M(24) M(25) M(26) M(27)     \
		M(28) M(29) M(30) M(31)
#define K8(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)

#define CLOBBERS                                                                           \
	"rax", "rcx", "rsi", "rdi", "r8", "r9", "r11", "memory", "cc", "st", "st(1)", "st(2)"

static void run_avx512(void)
{
	__asm__ volatile(PRE "lea vin(%%rip), %%r8\n\t" "lea kin(%%rip), %%r9\n\t" R32(LZ) K8(LK)
			 SPIN "lea vout(%%rip), %%r8\n\t" "lea kout(%%rip), %%r9\n\t" R32(SZ)
			 K8(SK) POST "vzeroupper\n\t"
			 :
			 :
			 : CLOBBERS);
}

static void run_avx(void)
{
	__asm__ volatile(PRE "lea vin(%%rip), %%r8\n\t" R16(LY) SPIN
			 "lea vout(%%rip), %%r8\n\t" R16(SY) POST "vzeroupper\n\t"
			 :
			 :
			 : CLOBBERS);
}

static void run_sse(void)
{
	__asm__ volatile(PRE "lea vin(%%rip), %%r8\n\t" R16(LX) SPIN
			 "lea vout(%%rip), %%r8\n\t" R16(SX) POST
			 :
			 :
			 : CLOBBERS);
}

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	SETUP(strlen(guest_go_path) < sizeof(go_path_buf));
	strcpy(go_path_buf, guest_go_path);
	unsigned a, b, c, d;
	int avx = 0, avx512 = 0;
	if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_OSXSAVE) && (c & bit_AVX)) {
		uint64_t xcr0 = xgetbv0();
		avx = (xcr0 & 6) == 6;
		if (avx && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_AVX512F))
			avx512 = (xcr0 & 0xe0) == 0xe0;
	}
	for (size_t i = 0; i < sizeof(vin); i += 8) {
		uint64_t v = guest_mix(0xa5a5 + i);
		memcpy(vin + i, &v, 8);
	}
	for (int i = 0; i < 8; i++)
		kin[i] = guest_mix(0x4b00 + (uint64_t)i);
	memset(vout, 0, sizeof(vout));
	const char *level = avx512 ? "avx512" : avx ? "avx" : "sse";
	printf("level: %s\n", level);
	guest_ready();
	size_t width = 16, regs = 16;
	if (avx512) {
		run_avx512();
		width = 64;
		regs = 32;
	} else if (avx) {
		run_avx();
		width = 32;
	} else {
		run_sse();
	}
	for (size_t r = 0; r < regs; r++)
		CHECK(memcmp(vin + r * 64, vout + r * 64, width) == 0, "%s register %zu changed",
		      level, r);
	if (avx512)
		for (int k = 0; k < 8; k++) {
			/* k0 reads back as written too: kmovq to k0 is allowed. */
			CHECK(kin[k] == kout[k], "k%d: expected %#llx got %#llx", k,
			      (unsigned long long)kin[k], (unsigned long long)kout[k]);
		}
	CHECK(mxcsr_out == mxcsr_in, "mxcsr %#x became %#x", mxcsr_in, mxcsr_out);
	CHECK(fcw_out == fcw_in, "x87 control word %#x became %#x", fcw_in, fcw_out);
	for (int i = 0; i < 3; i++)
		CHECK(x87_out[i] == x87_in[i], "x87 st(%d): %g became %g", i, x87_in[i], x87_out[i]);
	return guest_verdict();
}
