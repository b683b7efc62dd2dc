/* SPDX-License-Identifier: Apache-2.0 */
#include "signals.h"

#include <pthread.h>
#include <signal.h>

static void termset(sigset_t *s)
{
        sigemptyset(s);
        sigaddset(s, SIGINT);
        sigaddset(s, SIGTERM);
}

void kn_signals_block(void)
{
        sigset_t s;
        termset(&s);
        pthread_sigmask(SIG_BLOCK, &s, NULL);
        signal(SIGPIPE, SIG_IGN);
}

int kn_signals_wait(void)
{
        sigset_t s;
        int sig = 0;
        termset(&s);
        while (sigwait(&s, &sig) != 0)
                ;
        return sig;
}
