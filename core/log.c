/* SPDX-License-Identifier: Apache-2.0 */
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>

static int verbosity;
static enum kn_log_format format = KN_LOG_TEXT;
static int out_fd = 2;

void kn_log_set_verbosity(int v) { __atomic_store_n(&verbosity, v, __ATOMIC_RELAXED); }
int kn_log_get_verbosity(void) { return __atomic_load_n(&verbosity, __ATOMIC_RELAXED); }
void kn_log_set_format(enum kn_log_format f) { format = f; }
void kn_log_set_fd(int fd) { out_fd = fd < 0 ? 2 : fd; }

static const char *basename_of(const char *path)
{
        const char *s = strrchr(path, '/');
        return s ? s + 1 : path;
}

/* JSON string escaping for the json format; bounded by the line buffer. */
static size_t json_escape(char *dst, size_t cap, const char *src)
{
        size_t o = 0;
        for (; *src && o + 7 < cap; src++) {
                unsigned char c = (unsigned char)*src;
                if (c == '"' || c == '\\') {
                        dst[o++] = '\\';
                        dst[o++] = (char)c;
                } else if (c < 0x20) {
                        o += (size_t)snprintf(dst + o, cap - o, "\\u%04x", c);
                } else {
                        dst[o++] = (char)c;
                }
        }
        dst[o] = '\0';
        return o;
}

void kn_log(enum kn_log_severity sev, int v, const char *file, int line, const char *fmt, ...)
{
        static const char sevc[] = "IWEF";
        char msg[4096], out[8192 + 64];
        struct timespec ts;
        struct tm tm;
        va_list ap;
        int n;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        clock_gettime(CLOCK_REALTIME, &ts);
        if (format == KN_LOG_JSON) {
                char esc[8192];
                json_escape(esc, sizeof(esc), msg);
                n = snprintf(out, sizeof(out),
                             "{\"ts\":%lld.%03ld,\"caller\":\"%s:%d\",\"msg\":\"%s\"%s%s,\"v\":%d}\n",
                             (long long)ts.tv_sec, ts.tv_nsec / 1000000, basename_of(file), line, esc,
                             sev >= KN_LOG_ERROR ? ",\"level\":\"error\"" : "",
                             sev == KN_LOG_WARNING ? ",\"level\":\"warning\"" : "", v);
        } else {
                gmtime_r(&ts.tv_sec, &tm);
                n = snprintf(out, sizeof(out), "%c%02d%02d %02d:%02d:%02d.%06ld %7ld %s:%d] %s\n",
                             sevc[sev], tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                             ts.tv_nsec / 1000, (long)syscall(SYS_gettid), basename_of(file), line, msg);
        }
        if (n < 0)
                return;
        if ((size_t)n >= sizeof(out)) {
                n = sizeof(out) - 1;
                out[n - 1] = '\n';
        }
        /* One write per line keeps lines whole across threads. */
        (void)!write(out_fd, out, (size_t)n);
}
