/* Ends the way argv[2] says once go: "exit N" (exit status N), or "wait" (sleeps in pause()
 * until a signal with default disposition ends it). */
#include "guest.h"

int main(int argc, char **argv)
{
	guest_init(argc, argv);
	SETUP(argc >= 3);
	guest_ready();
	guest_wait_go();
	printf("resumed\n");
	if (strcmp(argv[2], "wait") == 0) {
		for (;;)
			pause();
	}
	return atoi(argv[2]);
}
