/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KN_APPLETS_H
#define KN_APPLETS_H

int all_main(int argc, char **argv);
int debug_main(int argc, char **argv);
/* `knode debug cri CMD` (debug_cri.c): 0, or the exit code. REPEAT_N calls from each of
 * PARALLEL threads on one client after the first (only its output is printed), each
 * INTERVAL_MS after the one before. */
int debug_cri(const char *cmd, const char *runtime_endpoint, const char *image_endpoint, long timeout_ms,
              long repeat_n, long parallel, long interval_ms);

#endif
