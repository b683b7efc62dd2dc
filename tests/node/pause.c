// SPDX-License-Identifier: Apache-2.0
// The pod sandbox's pause process for knode's test node (tests/node/node.sh): it holds the
// pod's namespaces, sleeps until SIGTERM/SIGINT, and reaps the orphans that get re-parented to
// it as the pod's PID 1. Built static (no libc in the image).
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	sigset_t set;
	int sig;

	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		puts("knode-pause 1");
		return 0;
	}
	if (getpid() != 1)
		fprintf(stderr, "pause: not running as PID 1\n");

	// Take every signal we care about synchronously: no handler races, no EINTR.
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
		perror("pause: sigprocmask");
		return 1;
	}
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGCHLD) {
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
			continue;
		}
		fprintf(stderr, "pause: shutting down, got signal %d (%s)\n", sig, strsignal(sig));
		return 0;
	}
}
