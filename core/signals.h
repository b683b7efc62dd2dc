/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KN_SIGNALS_H
#define KN_SIGNALS_H

/* Block SIGINT/SIGTERM/SIGHUP/SIGPIPE in this thread (and threads started after it). */
void kn_signals_block(void);
/* Wait for SIGINT or SIGTERM; returns the signal number. */
int kn_signals_wait(void);

#endif
