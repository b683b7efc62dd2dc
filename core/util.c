/* SPDX-License-Identifier: Apache-2.0 */
#include "util.h"

#include <fcntl.h>
#include <ftw.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

static void __attribute__((noreturn)) oom(void)
{
        static const char m[] = "knode: out of memory\n";
        (void)!write(2, m, sizeof(m) - 1);
        abort();
}

void *kn_malloc(size_t n)
{
        void *p = malloc(n ? n : 1);
        if (!p)
                oom();
        return p;
}

void *kn_calloc(size_t n, size_t m)
{
        void *p = calloc(n ? n : 1, m ? m : 1);
        if (!p)
                oom();
        return p;
}

void *kn_realloc(void *p, size_t n)
{
        p = realloc(p, n ? n : 1);
        if (!p)
                oom();
        return p;
}

char *kn_strdup(const char *s)
{
        char *p;
        if (!s)
                return NULL;
        p = strdup(s);
        if (!p)
                oom();
        return p;
}

char *kn_strndup(const char *s, size_t n)
{
        char *p = strndup(s, n);
        if (!p)
                oom();
        return p;
}

char *kn_asprintf(const char *fmt, ...)
{
        va_list ap;
        char *p;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&p, fmt, ap);
        va_end(ap);
        if (r < 0)
                oom();
        return p;
}

int kn_error_set(kn_error *err, int code, const char *fmt, ...)
{
        va_list ap;

        if (err) {
                err->code = code;
                va_start(ap, fmt);
                vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
                va_end(ap);
        }
        return code;
}

int kn_buf_append(kn_buf *b, const void *p, size_t n)
{
        if (b->max && b->len + n > b->max)
                return -EFBIG;
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 256;
                while (cap < b->len + n + 1)
                        cap *= 2;
                b->data = kn_realloc(b->data, cap);
                b->cap = cap;
        }
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

void kn_buf_printf(kn_buf *b, const char *fmt, ...)
{
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                oom();
        (void)kn_buf_append(b, s, (size_t)r);
}

void kn_buf_free(kn_buf *b)
{
        free(b->data);
        b->data = NULL;
        b->len = b->cap = 0;
}

int kn_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len)
{
        _cleanup_close_ int fd = -1;
        kn_buf b = {.max = max};
        char chunk[16384];
        ssize_t n;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (;;) {
                n = read(fd, chunk, sizeof(chunk));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        kn_buf_free(&b);
                        return -errno;
                }
                if (n == 0)
                        break;
                if (kn_buf_append(&b, chunk, (size_t)n) < 0) {
                        kn_buf_free(&b);
                        return -EFBIG;
                }
        }
        if (!b.data)
                b.data = kn_calloc(1, 1);
        if (ret_len)
                *ret_len = b.len;
        *ret_data = b.data;
        return 0;
}

bool kn_streq(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

int64_t kn_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int kn_mkdir_p(const char *path, mode_t mode)
{
        _cleanup_free_ char *p = kn_strdup(path);

        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        (void)st, (void)ftw;
        if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
                return 0; /* go on: remove what can be removed */
        return 0;
}

int kn_rm_rf(const char *path)
{
        if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int64_t kn_wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kn_format_time(int64_t wall_ms, bool micro, char *buf, size_t len)
{
        time_t t = (time_t)(wall_ms / 1000);
        struct tm tm;
        char base[24];

        gmtime_r(&t, &tm);
        strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
        if (micro)
                snprintf(buf, len, "%s.%06dZ", base, (int)(wall_ms % 1000) * 1000);
        else
                snprintf(buf, len, "%sZ", base);
}

int kn_parse_time(const char *s, int64_t *ret_ms)
{
        struct tm tm = {0};
        const char *p;
        int64_t ms = 0, off = 0;

        if (!s || !(p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
                return -EINVAL;
        if (*p == '.') {
                int digits = 0;
                for (p++; *p >= '0' && *p <= '9'; p++, digits++)
                        if (digits < 3)
                                ms = ms * 10 + (*p - '0');
                if (!digits)
                        return -EINVAL;
                for (; digits < 3; digits++)
                        ms *= 10;
        }
        if (*p == 'Z' || *p == 'z') {
                p++;
        } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
                int h = (p[1] - '0') * 10 + (p[2] - '0'), m = (p[4] - '0') * 10 + (p[5] - '0');
                off = (int64_t)(h * 60 + m) * 60 * (*p == '+' ? 1 : -1);
                p += 6;
        } else {
                return -EINVAL;
        }
        if (*p)
                return -EINVAL;
        *ret_ms = ((int64_t)timegm(&tm) - off) * 1000 + ms;
        return 0;
}

int kn_parse_duration(const char *s, int64_t *ret_ms)
{
        double total = 0;
        const char *p = s;
        bool neg = false;

        if (!s || !*s)
                return -EINVAL;
        if (*p == '-' || *p == '+')
                neg = *p++ == '-';
        if (strcmp(p, "0") == 0) {
                *ret_ms = 0;
                return 0;
        }
        while (*p) {
                char *end;
                double v, unit;

                if (!((*p >= '0' && *p <= '9') || *p == '.'))
                        return -EINVAL;
                v = strtod(p, &end);
                if (end == p)
                        return -EINVAL;
                p = end;
                if (strncmp(p, "ns", 2) == 0)
                        unit = 1e-6, p += 2;
                else if (strncmp(p, "us", 2) == 0 || strncmp(p, "\xc2\xb5s", 3) == 0)
                        unit = 1e-3, p += (*p == 'u') ? 2 : 3;
                else if (strncmp(p, "ms", 2) == 0)
                        unit = 1, p += 2;
                else if (*p == 's')
                        unit = 1000, p++;
                else if (*p == 'm')
                        unit = 60000, p++;
                else if (*p == 'h')
                        unit = 3600000, p++;
                else
                        return -EINVAL; /* Go requires a unit */
                total += v * unit;
                if (total > 9.2e15)
                        return -ERANGE;
        }
        *ret_ms = (int64_t)(neg ? -total : total);
        return 0;
}

void kn_format_duration(int64_t ms, char *buf, size_t len)
{
        int64_t h = ms / 3600000, m = (ms / 60000) % 60, s = (ms / 1000) % 60, r = ms % 1000;

        if (ms == 0)
                snprintf(buf, len, "0s");
        else if (ms < 1000)
                snprintf(buf, len, "%lldms", (long long)ms);
        else if (h)
                snprintf(buf, len, "%lldh%lldm%llds", (long long)h, (long long)m, (long long)s);
        else if (m)
                snprintf(buf, len, "%lldm%llds", (long long)m, (long long)s);
        else if (r)
                snprintf(buf, len, "%lld.%03llds", (long long)s, (long long)r);
        else
                snprintf(buf, len, "%llds", (long long)s);
}

struct timespec kn_deadline(long ms)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        return ts;
}

const cJSON *kn_json_path(const cJSON *root, const char *path)
{
        char buf[256];
        const char *p = path;

        while (root && *p) {
                const char *dot = strchr(p, '.');
                size_t len = dot ? (size_t)(dot - p) : strlen(p);
                if (len >= sizeof(buf))
                        return NULL;
                memcpy(buf, p, len);
                buf[len] = '\0';
                root = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, buf) : NULL;
                p = dot ? dot + 1 : p + len;
        }
        return root;
}

uint64_t kn_random(void)
{
        uint64_t v;
        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
                v = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)kn_now_ms();
        return v;
}

uint64_t kn_fnv1a64(const char *s)
{
        uint64_t h = 14695981039346656037ull;
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 1099511628211ull;
        return h;
}

size_t kn_malloc_trim(size_t min_growth)
{
#ifdef __GLIBC__
        static _Atomic size_t at_last_trim;
        struct mallinfo2 mi = mallinfo2();

        /* the free bytes stay counted after a trim: trim again only when they grew */
        if (mi.fordblks < atomic_load(&at_last_trim) + min_growth) {
                if (mi.fordblks < atomic_load(&at_last_trim))
                        atomic_store(&at_last_trim, mi.fordblks);
                return 0;
        }
        malloc_trim(0);
        atomic_store(&at_last_trim, mi.fordblks);
        return mi.fordblks;
#else
        (void)min_growth;
        return 0;
#endif
}
