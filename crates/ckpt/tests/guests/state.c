// Sets up many kinds of process state, prints READY, sleeps until the file "go" exists in its
// cwd, then checks every piece of state and exits 0 (all survived) or 1 (prints what broke).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); fflush(stdout); } } while (0)

static __thread int tls_value = 4242;
static volatile sig_atomic_t usr1_hits, usr2_hits;
static void on_usr1(int s) { (void)s; usr1_hits++; }
static void on_usr2(int s) { (void)s; usr2_hits++; }

static unsigned long vdso_start(void);
static char *read_file(const char *p, size_t *len) {
    static char buf[3][65536];
    static int k;
    char *b = buf[k++ % 3];
    int fd = open(p, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, b, sizeof buf[0]) : -1;
    if (fd >= 0) close(fd);
    *len = n < 0 ? 0 : (size_t)n;
    return b;
}

static unsigned long vdso_start(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    unsigned long s = 0;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "[vdso]")) { s = strtoul(line, NULL, 16); break; }
    if (f) fclose(f);
    return s;
}

int main(int argc, char **argv) {
    (void)argc; (void)argv;
    long pg = sysconf(_SC_PAGESIZE);
    // cwd, umask, name, limits
    mkdir("sub", 0755);
    if (chdir("sub") != 0) return 2;
    char cwd0[4096]; if (!getcwd(cwd0, sizeof cwd0)) return 2;
    umask(027);
    prctl(PR_SET_NAME, "wendstate");
    if (nice(5) == -1 && errno) return 2;
    struct rlimit nofile = {200, 4096}, core0 = {0, 0};
    setrlimit(RLIMIT_NOFILE, &nofile);
    setrlimit(RLIMIT_CORE, &core0);
    // memory: PROT_NONE with content, read-only anon, heap, file-backed private COW
    char *none = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < 4 * pg; i++) none[i] = (char)(i * 7);
    mprotect(none, 4 * pg, PROT_NONE);
    char *ro = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(ro, 0x5a, 2 * pg);
    mprotect(ro, 2 * pg, PROT_READ);
    char *brk0 = sbrk(0);
    char *heap = sbrk(10 * pg);
    memset(heap, 0x33, 10 * pg);
    char *brk1 = sbrk(0);
    int mf = open("../mapped.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
    for (int i = 0; i < 8; i++) { char b[4096]; memset(b, 'a' + i, sizeof b); if (write(mf, b, sizeof b) != 4096) return 2; }
    char *fmap = mmap(NULL, 8 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, mf, 0);
    close(mf);
    fmap[2 * pg] = 'Z';           // page 2 becomes private
    volatile char touch = fmap[5 * pg]; (void)touch;  // page 5 read only: stays the file's
    // auxv, cmdline, environ, exe
    size_t l;
    char auxv0[4096]; char *a = read_file("/proc/self/auxv", &l); memcpy(auxv0, a, l); size_t auxv0_len = l;
    char cmd0[4096]; a = read_file("/proc/self/cmdline", &l); memcpy(cmd0, a, l); size_t cmd0_len = l;
    char env0[65536]; a = read_file("/proc/self/environ", &l); memcpy(env0, a, l); size_t env0_len = l;
    char exe0[4096] = {0}; if (readlink("/proc/self/exe", exe0, sizeof exe0 - 1) < 0) return 2;
    unsigned long at_random = getauxval(AT_RANDOM);
    // signals
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1; sa.sa_flags = SA_RESTART; sigaddset(&sa.sa_mask, SIGWINCH);
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_usr2; sa.sa_flags = 0; sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGHUP, SIG_IGN);
    sigset_t block; sigemptyset(&block); sigaddset(&block, SIGUSR2); sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, NULL);
    raise(SIGUSR2);  // stays pending
    static char altstack[65536];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
    sigaltstack(&ss, NULL);
    struct itimerval itv = { {0, 0}, {500, 0} };
    setitimer(ITIMER_REAL, &itv, NULL);
    struct itimerval itv2 = { {7, 0}, {900, 0} };
    setitimer(ITIMER_VIRTUAL, &itv2, NULL);
    // files
    int rf = open("../data.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (write(rf, "0123456789", 10) != 10) return 2;
    lseek(rf, 3, SEEK_SET);
    int rf2 = dup(rf);
    int cx = open("../data.txt", O_RDONLY | O_CLOEXEC);
    int ap = open("../append.txt", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (write(ap, "first\n", 6) != 6) return 2;
    int del = open("../deleted.txt", O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (write(del, "secret content", 14) != 14) return 2;
    lseek(del, 7, SEEK_SET);
    unlink("../deleted.txt");
    int devnull = open("/dev/null", O_WRONLY);
    int p[2]; if (pipe(p) != 0) return 2;
    if (write(p[1], "hello", 5) != 5) return 2;
    int dirfd = open(".", O_RDONLY | O_DIRECTORY);

    unsigned long vdso0 = vdso_start();
    printf("READY %d\n", getpid());
    fflush(stdout);
    char *brkR = sbrk(0);
    // Sleep in short naps until "go" appears: the checkpoint lands in nanosleep.
    struct timespec nap = {0, 20 * 1000 * 1000};
    for (;;) {
        if (access("../go", F_OK) == 0) break;
        int r = nanosleep(&nap, NULL);
        CHECK(r == 0, "nanosleep returned %d errno %d", r, errno);
        if (failures) break;
    }
    // ---- checks ----
    // vDSO: glibc cached pointers into it at startup; they must still be valid.
    struct timespec t1, t2;
    CHECK(clock_gettime(CLOCK_MONOTONIC, &t1) == 0 && clock_gettime(CLOCK_REALTIME, &t2) == 0, "clock_gettime");
    CHECK(time(NULL) > 1000000000, "time()");
    CHECK(vdso_start() == vdso0 && vdso0 == getauxval(AT_SYSINFO_EHDR), "vdso at %lx, was %lx", vdso_start(), vdso0);
    CHECK(tls_value == 4242, "tls %d", tls_value);
    char cwd1[4096]; CHECK(getcwd(cwd1, sizeof cwd1) && strcmp(cwd0, cwd1) == 0, "cwd %s", cwd1);
    mode_t um = umask(0); CHECK(um == 027, "umask %o", um);
    errno = 0; int nv = getpriority(PRIO_PROCESS, 0); CHECK(nv == 5 && errno == 0, "nice %d", nv);
    char name[17] = {0}; prctl(PR_GET_NAME, name); CHECK(strcmp(name, "wendstate") == 0, "name %s", name);
    struct rlimit r1; getrlimit(RLIMIT_NOFILE, &r1); CHECK(r1.rlim_cur == 200 && r1.rlim_max == 4096, "nofile %lu/%lu", r1.rlim_cur, r1.rlim_max);
    getrlimit(RLIMIT_CORE, &r1); CHECK(r1.rlim_cur == 0, "core %lu", r1.rlim_cur);
    mprotect(none, 4 * pg, PROT_READ);
    int bad = 0; for (int i = 0; i < 4 * pg; i++) bad += none[i] != (char)(i * 7);
    CHECK(bad == 0, "PROT_NONE content: %d bytes differ", bad);
    bad = 0; for (int i = 0; i < 2 * pg; i++) bad += ro[i] != 0x5a;
    CHECK(bad == 0, "read-only content");
    CHECK(mprotect(ro, pg, PROT_READ | PROT_WRITE) == 0, "mprotect");
    CHECK(sbrk(0) == brkR, "brk %p != %p", sbrk(0), (void*)brkR);
    CHECK(brk1 <= brkR, "brk1");
    bad = 0; for (int i = 0; i < 10 * pg; i++) bad += heap[i] != 0x33;
    CHECK(bad == 0, "heap content");
    char *more = sbrk(4 * pg); CHECK(more == brkR, "sbrk grows from old brk"); memset(more, 1, 4 * pg);
    CHECK(brk0 <= heap, "brk0");
    CHECK(fmap[2 * pg] == 'Z' && fmap[2 * pg + 1] == 'c', "private page of file mapping");
    CHECK(fmap[5 * pg] == 'f' && fmap[0] == 'a' && fmap[8 * pg - 1] == 'h', "file pages");
    a = read_file("/proc/self/auxv", &l); CHECK(l == auxv0_len && memcmp(a, auxv0, l) == 0, "auxv");
    a = read_file("/proc/self/cmdline", &l); CHECK(l == cmd0_len && memcmp(a, cmd0, l) == 0, "cmdline");
    a = read_file("/proc/self/environ", &l); CHECK(l == env0_len && memcmp(a, env0, l) == 0, "environ");
    char exe1[4096] = {0}; if (readlink("/proc/self/exe", exe1, sizeof exe1 - 1) < 0) exe1[0] = 0;
    CHECK(strcmp(exe0, exe1) == 0, "exe %s", exe1);
    CHECK(getauxval(AT_RANDOM) == at_random, "AT_RANDOM");
    struct sigaction old; sigaction(SIGUSR1, NULL, &old);
    CHECK(old.sa_handler == on_usr1 && (old.sa_flags & SA_RESTART) && sigismember(&old.sa_mask, SIGWINCH), "SIGUSR1 action");
    sigaction(SIGHUP, NULL, &old); CHECK(old.sa_handler == SIG_IGN, "SIGHUP ignored");
    sigaction(SIGPIPE, NULL, &old); CHECK(old.sa_handler == SIG_DFL, "SIGPIPE default");
    sigset_t cur; sigprocmask(SIG_BLOCK, NULL, &cur);
    CHECK(sigismember(&cur, SIGUSR2) && sigismember(&cur, SIGTERM) && !sigismember(&cur, SIGUSR1), "mask");
    sigset_t pend; sigpending(&pend); CHECK(sigismember(&pend, SIGUSR2), "SIGUSR2 pending");
    raise(SIGUSR1); CHECK(usr1_hits == 1, "handler ran %d", (int)usr1_hits);
    sigprocmask(SIG_UNBLOCK, &block, NULL); CHECK(usr2_hits == 1, "pending delivered %d", (int)usr2_hits);
    stack_t os; sigaltstack(NULL, &os); CHECK(os.ss_sp == altstack && os.ss_size == sizeof altstack, "altstack");
    struct itimerval g; getitimer(ITIMER_REAL, &g);
    CHECK(g.it_value.tv_sec > 400 && g.it_value.tv_sec <= 500, "ITIMER_REAL %ld", (long)g.it_value.tv_sec);
    getitimer(ITIMER_VIRTUAL, &g);
    CHECK(g.it_value.tv_sec > 800 && g.it_interval.tv_sec == 7, "ITIMER_VIRTUAL %ld", (long)g.it_value.tv_sec);
    char b[16] = {0};
    CHECK(read(rf, b, 2) == 2 && memcmp(b, "34", 2) == 0, "offset of regular file: %s", b);
    CHECK(lseek(rf2, 0, SEEK_CUR) == 5, "dup shares offset");
    CHECK((fcntl(cx, F_GETFD) & FD_CLOEXEC) && !(fcntl(rf, F_GETFD) & FD_CLOEXEC), "cloexec");
    CHECK((fcntl(ap, F_GETFL) & O_APPEND), "append flag");
    if (write(ap, "second\n", 7) != 7) failures++;
    memset(b, 0, sizeof b);
    CHECK(read(del, b, 7) == 7 && memcmp(b, "content", 7) == 0, "deleted file: %s", b);
    CHECK(write(devnull, "x", 1) == 1, "/dev/null");
    memset(b, 0, sizeof b);
    CHECK(read(p[0], b, 5) == 5 && memcmp(b, "hello", 5) == 0, "pipe data: %s", b);
    CHECK(write(p[1], "again", 5) == 5 && read(p[0], b, 5) == 5 && memcmp(b, "again", 5) == 0, "pipe works");
    CHECK(fchdir(dirfd) == 0, "dir fd");
    // rseq: sched_getcpu must follow the CPU we move to.
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    for (int c = 0; c < ncpu && c < 4; c++) {
        cpu_set_t set; CPU_ZERO(&set); CPU_SET(c, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) continue;
        unsigned int kc = 0; syscall(SYS_getcpu, &kc, NULL, NULL);
        CHECK(sched_getcpu() == (int)kc, "sched_getcpu %d, kernel says %u", sched_getcpu(), kc);
    }
    printf("DONE failures=%d\n", failures);
    fflush(stdout);
    return failures ? 1 : 0;
}
