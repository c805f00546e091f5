// Loads known values into callee-saved general registers, all vector registers (zmm0-31 with
// AVX-512, else ymm0-15) and the rounding mode, prints SPIN, spins long enough to be
// checkpointed in the middle, then compares everything and prints REGS OK or REGS BAD.
#define _GNU_SOURCE
#include <fenv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char vin[32 * 64] __attribute__((aligned(64)));
static unsigned char vout[32 * 64] __attribute__((aligned(64)));
static unsigned long gin[5] = {0x1111222233334444UL, 0x5555666677778888UL, 0x9999aaaabbbbccccUL,
                               0xddddeeeeffff0000UL, 0x0123456789abcdefUL};
static unsigned long gout[5];

__attribute__((target("avx512f"))) static void spin512(unsigned long n) {
    __asm__ volatile(
        "push %%rbx\n"
        "mov 0(%[g]), %%rbx\n mov 8(%[g]), %%r12\n mov 16(%[g]), %%r13\n mov 24(%[g]), %%r14\n mov 32(%[g]), %%r15\n"
#define L(i) "vmovdqu64 " #i "*64(%[vi]), %%zmm" #i "\n"
        L(0) L(1) L(2) L(3) L(4) L(5) L(6) L(7) L(8) L(9) L(10) L(11) L(12) L(13) L(14) L(15)
        L(16) L(17) L(18) L(19) L(20) L(21) L(22) L(23) L(24) L(25) L(26) L(27) L(28) L(29) L(30) L(31)
        "1: dec %[n]\n jnz 1b\n"
#define S(i) "vmovdqu64 %%zmm" #i ", " #i "*64(%[vo])\n"
        S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11) S(12) S(13) S(14) S(15)
        S(16) S(17) S(18) S(19) S(20) S(21) S(22) S(23) S(24) S(25) S(26) S(27) S(28) S(29) S(30) S(31)
        "mov %%rbx, 0(%[go])\n mov %%r12, 8(%[go])\n mov %%r13, 16(%[go])\n mov %%r14, 24(%[go])\n mov %%r15, 32(%[go])\n"
        "pop %%rbx\n"
        : [n] "+r"(n)
        : [g] "r"(gin), [go] "r"(gout), [vi] "r"(vin), [vo] "r"(vout)
        : "r12", "r13", "r14", "r15", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
          "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
          "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24",
          "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");
}

__attribute__((target("avx"))) static void spin256(unsigned long n) {
    __asm__ volatile(
        "push %%rbx\n"
        "mov 0(%[g]), %%rbx\n mov 8(%[g]), %%r12\n mov 16(%[g]), %%r13\n mov 24(%[g]), %%r14\n mov 32(%[g]), %%r15\n"
#define M(i) "vmovdqu " #i "*32(%[vi]), %%ymm" #i "\n"
        M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
        "1: dec %[n]\n jnz 1b\n"
#define T(i) "vmovdqu %%ymm" #i ", " #i "*32(%[vo])\n"
        T(0) T(1) T(2) T(3) T(4) T(5) T(6) T(7) T(8) T(9) T(10) T(11) T(12) T(13) T(14) T(15)
        "mov %%rbx, 0(%[go])\n mov %%r12, 8(%[go])\n mov %%r13, 16(%[go])\n mov %%r14, 24(%[go])\n mov %%r15, 32(%[go])\n"
        "pop %%rbx\n"
        : [n] "+r"(n)
        : [g] "r"(gin), [go] "r"(gout), [vi] "r"(vin), [vo] "r"(vout)
        : "r12", "r13", "r14", "r15", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
          "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

int main(int argc, char **argv) {
    unsigned long n = argc > 1 ? strtoul(argv[1], 0, 10) : 3000000000UL;
    for (int i = 0; i < (int)sizeof vin; i++) vin[i] = (unsigned char)(i * 13 + 7);
    fesetround(FE_DOWNWARD);
    int wide = __builtin_cpu_supports("avx512f");
    printf("SPIN %s\n", wide ? "zmm" : "ymm");
    fflush(stdout);
    size_t bytes = wide ? 32 * 64 : 16 * 32;
    if (wide) spin512(n); else spin256(n);
    int ok = memcmp(vin, vout, bytes) == 0 && memcmp(gin, gout, sizeof gin) == 0 && fegetround() == FE_DOWNWARD;
    volatile double x = 1.0, y = 3.0;
    volatile float f = (float)(x / y);  // rounding mode used by SSE
    ok = ok && f < 0.33333334f;
    printf("REGS %s\n", ok ? "OK" : "BAD");
    return ok ? 0 : 1;
}
