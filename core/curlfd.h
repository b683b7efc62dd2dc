/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl helpers shared by the CRI client and the prober. */
#ifndef KN_CURLFD_H
#define KN_CURLFD_H

#include <curl/curl.h>

/* curl_multi_init(), with the fds it opened marked close-on-exec: libcurl 7.88 makes the
 * multi handle's wake-up socket pair without FD_CLOEXEC and does not say which fds those
 * are, so every fd that appeared without the flag across the call is marked. Calls are
 * serialized; another thread's inheritable fd opened meanwhile is marked too (knode hands
 * none to its children). Aborts on out-of-memory, like kn_malloc. */
CURLM *kn_curl_multi_new_cloexec(void);

#endif
