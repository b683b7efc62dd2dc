/* SPDX-License-Identifier: Apache-2.0 */
/* Small shared helpers: cleanup attributes, ownership transfer, error object. */
#ifndef KN_UTIL_H
#define KN_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define KN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define KN_UNUSED __attribute__((unused))
#define KN_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Hand ownership out of a cleanup-scoped variable. */
#define TAKE_PTR(p)                                                            \
        ({                                                                     \
                __typeof__(p) _p = (p);                                        \
                (p) = NULL;                                                    \
                _p;                                                            \
        })
#define TAKE_FD(fd)                                                            \
        ({                                                                     \
                int _fd = (fd);                                                \
                (fd) = -1;                                                     \
                _fd;                                                           \
        })

static inline void kn_freep(void *p) { free(*(void **)p); }
static inline void kn_closep(int *fd)
{
        if (*fd >= 0)
                close(*fd);
}
#define _cleanup_free_ __attribute__((cleanup(kn_freep)))
#define _cleanup_close_ __attribute__((cleanup(kn_closep)))
static inline void kn_cjson_freep(cJSON **j) { cJSON_Delete(*j); }
#define _cleanup_cjson_ __attribute__((cleanup(kn_cjson_freep)))

/* Everything below aborts on out-of-memory: the only exit daemon code may take. */
void *kn_malloc(size_t n);
void *kn_calloc(size_t n, size_t m);
void *kn_realloc(void *p, size_t n);
char *kn_strdup(const char *s);
char *kn_strndup(const char *s, size_t n);
char *kn_asprintf(const char *fmt, ...) KN_PRINTF(1, 2);

/* An error that carries a human-readable reason (crun's libcrun_error_t idea). */
typedef struct kn_error {
        int code; /* negative errno */
        char msg[512];
} kn_error;

/* Set *err (if non-NULL) and return code (a negative errno). */
int kn_error_set(kn_error *err, int code, const char *fmt, ...) KN_PRINTF(3, 4);

/* Growable byte buffer with an upper bound (remote input is bounded). */
typedef struct kn_buf {
        char *data;
        size_t len, cap, max;
} kn_buf;
int kn_buf_append(kn_buf *b, const void *p, size_t n); /* -EFBIG past max */
void kn_buf_printf(kn_buf *b, const char *fmt, ...) KN_PRINTF(2, 3);
void kn_buf_free(kn_buf *b);

int kn_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len);
/* mkdir -p; existing directories are fine. */
int kn_mkdir_p(const char *path, mode_t mode);
/* rm -rf, staying on PATH's file system (mounts below it are left alone). */
int kn_rm_rf(const char *path);
bool kn_streq(const char *a, const char *b); /* NULL-safe */
/* Monotonic clock in milliseconds. */
int64_t kn_now_ms(void);
/* Give the free pages inside the heap back to the kernel when the free bytes there grew
 * by MIN_GROWTH since the last trim (glibc keeps them after a burst of allocations);
 * returns the free bytes seen when it trimmed, else 0. */
size_t kn_malloc_trim(size_t min_growth);
/* Wall clock (CLOCK_REALTIME) in milliseconds, for timestamps sent to the API. */
int64_t kn_wall_ms(void);
/* Format wall-clock milliseconds as RFC 3339 in UTC: "2006-01-02T15:04:05Z", or with
 * MICRO "2006-01-02T15:04:05.000000Z" (metav1.MicroTime). BUF needs 32 bytes. */
void kn_format_time(int64_t wall_ms, bool micro, char *buf, size_t len);
/* Parse RFC 3339 (Z or offset, optional fraction) into wall-clock ms; -EINVAL if not one. */
int kn_parse_time(const char *s, int64_t *ret_ms);
/* A CLOCK_MONOTONIC deadline MS from now, for pthread_cond_timedwait on a
 * condition variable made with that clock. */
struct timespec kn_deadline(long ms);
/* The member at a dotted PATH ("metadata.name") of nested objects, or NULL. */
const cJSON *kn_json_path(const cJSON *root, const char *path);
/* Parse a Go duration ("1m30s", "500ms", "2h"); result in milliseconds. */
int kn_parse_duration(const char *s, int64_t *ret_ms);
/* Format milliseconds as a Go duration ("1m30s"). */
void kn_format_duration(int64_t ms, char *buf, size_t len);
/* Random 64-bit value (getrandom, falls back to time). */
uint64_t kn_random(void);
/* FNV-1a, 64 bits: change detection, not identity. */
uint64_t kn_fnv1a64(const char *s);

#endif
