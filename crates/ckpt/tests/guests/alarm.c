// SIGALRM every millisecond (ITIMER_REAL) counted by a handler; prints READY, then the count
// every 20 ms; exits 0 once 1500 alarms were counted.
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>
#include <unistd.h>
static volatile sig_atomic_t hits;
static void on_alarm(int s) { (void)s; hits++; }
int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 1000}, {0, 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
    printf("READY\n");
    fflush(stdout);
    while (hits < 1500) {
        usleep(20000);
        printf("hits %d\n", (int)hits);
        fflush(stdout);
    }
    printf("DONE\n");
    return 0;
}
