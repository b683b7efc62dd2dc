/* SPDX-License-Identifier: Apache-2.0 */
/* klog-compatible logging: "I1127 19:24:08.123456    1234 file.c:42] message". */
#ifndef KN_LOG_H
#define KN_LOG_H

#include "util.h"

enum kn_log_severity { KN_LOG_INFO, KN_LOG_WARNING, KN_LOG_ERROR, KN_LOG_FATAL };
enum kn_log_format { KN_LOG_TEXT, KN_LOG_JSON };

/* Process-wide, like klog: one logging core shared by every applet. */
void kn_log_set_verbosity(int v);
int kn_log_get_verbosity(void);
void kn_log_set_format(enum kn_log_format f);
/* Redirect output (tests); fd < 0 restores stderr. */
void kn_log_set_fd(int fd);

void kn_log(enum kn_log_severity sev, int v, const char *file, int line, const char *fmt, ...)
        KN_PRINTF(5, 6);

#define kn_info(...) kn_log(KN_LOG_INFO, 0, __FILE__, __LINE__, __VA_ARGS__)
#define kn_warn(...) kn_log(KN_LOG_WARNING, 0, __FILE__, __LINE__, __VA_ARGS__)
#define kn_err(...) kn_log(KN_LOG_ERROR, 0, __FILE__, __LINE__, __VA_ARGS__)
/* Verbose info, printed when -v >= level. */
#define kn_v(level, ...)                                                       \
        do {                                                                   \
                if (kn_log_get_verbosity() >= (level))                         \
                        kn_log(KN_LOG_INFO, (level), __FILE__, __LINE__,       \
                               __VA_ARGS__);                                   \
        } while (0)
/* core/ logs at most at debug level (-v=4); callers decide what matters. */
#define kn_debug(...) kn_v(4, __VA_ARGS__)

#endif
