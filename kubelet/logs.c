/* SPDX-License-Identifier: Apache-2.0 */
/* Reading and rotating CRI container log files. The reading rules follow upstream's
 * cri-client logs package (facts only): tail counts lines of the file, since skips older
 * lines, limitBytes cuts the output, a timestamp prefixes only the start of a line (not
 * the continuation of a partial one), follow waits for writes and stops when the
 * container is no longer running. */
#include "../core/quantity.h"
#include "logs.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <zlib.h>

#include "../core/log.h"
#include "../runtime/cri.h"
#include "http.h"

#define LOG_MAX_LINE (1u << 20) /* longer lines are cut: runtimes split at 16 KiB */
#define LOG_READ_CHUNK 65536
#define FOLLOW_CHECK_MS 1000    /* how often a quiet follow asks whether the container runs */

static int parse_digits(const char *s, size_t n, int *ret)
{
        int v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (s[i] - '0');
        }
        *ret = v;
        return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        int64_t yoe = y - era * 400;
        int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

int kubelet_log_parse_time(const char *s, size_t len, int64_t *ret_ns, int *ret_off)
{
        int Y, M, D, h, m, sec, off = 0;
        int64_t frac = 0;
        size_t i = 19;

        if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
            s[16] != ':')
                return -EINVAL;
        if (parse_digits(s, 4, &Y) < 0 || parse_digits(s + 5, 2, &M) < 0 || parse_digits(s + 8, 2, &D) < 0 ||
            parse_digits(s + 11, 2, &h) < 0 || parse_digits(s + 14, 2, &m) < 0 || parse_digits(s + 17, 2, &sec) < 0)
                return -EINVAL;
        /* int64 nanoseconds since 1970 reach from 1677 to 2262 */
        if (Y < 1678 || Y > 2261 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 59)
                return -EINVAL;
        if (s[i] == '.') {
                int digits = 0;
                for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++)
                        if (digits < 9)
                                frac = frac * 10 + (s[i] - '0');
                if (digits == 0)
                        return -EINVAL;
                for (; digits < 9; digits++)
                        frac *= 10;
        }
        if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
                i++;
        } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
                int oh, om;
                if (parse_digits(s + i + 1, 2, &oh) < 0 || parse_digits(s + i + 4, 2, &om) < 0 || oh > 23 || om > 59)
                        return -EINVAL;
                off = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
                i += 6;
        } else {
                return -EINVAL;
        }
        if (i != len)
                return -EINVAL;
        *ret_ns = ((days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec) - off) * 1000000000LL + frac;
        if (ret_off)
                *ret_off = off;
        return 0;
}

size_t kubelet_log_format_time(int64_t ts_ns, int tz_offset_s, char *buf)
{
        int64_t local = ts_ns + (int64_t)tz_offset_s * 1000000000LL;
        int64_t secs = local >= 0 ? local / 1000000000LL : (local - 999999999LL) / 1000000000LL;
        long nsec = (long)(local - secs * 1000000000LL);
        time_t t = (time_t)secs;
        struct tm tm;
        size_t n;

        gmtime_r(&t, &tm);
        n = (size_t)snprintf(buf, 20, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                             tm.tm_hour, tm.tm_min, tm.tm_sec);
        if (tz_offset_s == 0)
                return n + (size_t)snprintf(buf + n, 41 - n, ".%09ldZ", nsec);
        int a = tz_offset_s < 0 ? -tz_offset_s : tz_offset_s;
        return n + (size_t)snprintf(buf + n, 41 - n, ".%09ld%c%02d:%02d", nsec, tz_offset_s < 0 ? '-' : '+',
                                    a / 3600 % 100, a / 60 % 60);
}

int kubelet_log_parse_line(const char *line, size_t len, kubelet_log_msg *ret)
{
        const char *p = line, *end = line + len, *sp;
        kubelet_log_msg m = {0};

        sp = memchr(p, ' ', len);
        if (!sp || kubelet_log_parse_time(p, (size_t)(sp - p), &m.ts_ns, &m.tz_offset_s) < 0)
                return -EBADMSG;
        p = sp + 1;
        sp = memchr(p, ' ', (size_t)(end - p));
        if (!sp)
                return -EBADMSG;
        if (sp - p == 6 && memcmp(p, "stdout", 6) == 0)
                m.stream = KUBELET_LOG_STDOUT;
        else if (sp - p == 6 && memcmp(p, "stderr", 6) == 0)
                m.stream = KUBELET_LOG_STDERR;
        else
                return -EBADMSG;
        p = sp + 1;
        sp = memchr(p, ' ', (size_t)(end - p));
        if (!sp)
                return -EBADMSG;
        /* tags are ':'-separated; the first says partial (P) or full (F) */
        m.partial = p[0] == 'P' && (sp - p == 1 || p[1] == ':');
        m.content = sp + 1;
        m.len = (size_t)(end - m.content);
        if (m.partial && m.len && m.content[m.len - 1] == '\n')
                m.len--;
        *ret = m;
        return 0;
}

static int parse_bool_param(const char *query, const char *name, bool *ret)
{
        _cleanup_free_ char *v = kubelet_query_get(query, name, 0);
        if (!v)
                return 0;
        if (!v[0] || strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "True") == 0 ||
            strcmp(v, "TRUE") == 0 || strcmp(v, "t") == 0 || strcmp(v, "T") == 0)
                *ret = true;
        else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "False") == 0 ||
                 strcmp(v, "FALSE") == 0 || strcmp(v, "f") == 0 || strcmp(v, "F") == 0)
                *ret = false;
        else
                return -EINVAL;
        return 1;
}

static int parse_int_param(const char *query, const char *name, int64_t *ret)
{
        _cleanup_free_ char *v = kubelet_query_get(query, name, 0);
        char *end;
        long long x;
        if (!v)
                return 0;
        errno = 0;
        x = strtoll(v, &end, 10);
        if (!v[0] || *end || errno)
                return -EINVAL;
        *ret = x;
        return 1;
}

int kubelet_log_opts_parse(const char *query, int64_t now_ns, kubelet_log_opts *ret, kn_error *err)
{
        kubelet_log_opts o = {.tail_lines = -1, .limit_bytes = -1, .streams = KUBELET_LOG_STDOUT | KUBELET_LOG_STDERR};
        _cleanup_free_ char *tail = kubelet_query_get(query, "tail", 0);
        _cleanup_free_ char *since_time = kubelet_query_get(query, "sinceTime", 0);
        _cleanup_free_ char *stream = kubelet_query_get(query, "stream", 0);
        int64_t since_seconds = 0;
        int has_tail = 0, has_limit, has_since_s;

        if (parse_bool_param(query, "follow", &o.follow) < 0 || parse_bool_param(query, "previous", &o.previous) < 0 ||
            parse_bool_param(query, "timestamps", &o.timestamps) < 0)
                return kn_error_set(err, -EINVAL, "{\"message\": \"Unable to decode query.\"}");
        /* the legacy "tail" wins over tailLines; "all" means no tail */
        if (tail && strcmp(tail, "all") != 0) {
                char *end;
                errno = 0;
                o.tail_lines = strtoll(tail, &end, 10);
                if (!tail[0] || *end || errno)
                        return kn_error_set(err, -EINVAL, "{\"message\": \"Unable to decode query.\"}");
                has_tail = 1;
        } else if (!tail) {
                has_tail = parse_int_param(query, "tailLines", &o.tail_lines);
        }
        has_limit = parse_int_param(query, "limitBytes", &o.limit_bytes);
        has_since_s = parse_int_param(query, "sinceSeconds", &since_seconds);
        if (has_tail < 0 || has_limit < 0 || has_since_s < 0)
                return kn_error_set(err, -EINVAL, "{\"message\": \"Unable to decode query.\"}");
        if (since_time) {
                if (kubelet_log_parse_time(since_time, strlen(since_time), &o.since_ns, NULL) < 0)
                        return kn_error_set(err, -EINVAL, "{\"message\": \"Unable to decode query.\"}");
                /* metav1.Time has second precision */
                o.since_ns -= ((o.since_ns % 1000000000LL) + 1000000000LL) % 1000000000LL;
        }
        /* upstream's ValidatePodLogOptions */
        if ((has_tail && o.tail_lines < 0) || (has_limit && o.limit_bytes < 1) ||
            (has_since_s && since_seconds < 1) || (has_since_s && since_time))
                return kn_error_set(err, -EDOM, "{\"message\": \"Invalid request.\"}");
        if (has_since_s)
                o.since_ns = now_ns - since_seconds * 1000000000LL;
        if (stream) {
                if (strcmp(stream, "Stdout") == 0)
                        o.streams = KUBELET_LOG_STDOUT;
                else if (strcmp(stream, "Stderr") == 0)
                        o.streams = KUBELET_LOG_STDERR;
                else if (strcmp(stream, "All") != 0)
                        return kn_error_set(err, -EDOM, "{\"message\": \"Invalid request.\"}");
                if (o.streams != (KUBELET_LOG_STDOUT | KUBELET_LOG_STDERR) && o.tail_lines >= 0)
                        return kn_error_set(err, -EDOM, "{\"message\": \"Invalid request.\"}");
        }
        *ret = o;
        return 0;
}

int kubelet_log_tail_offset(int fd, int64_t n, off_t *ret)
{
        char buf[4096];
        off_t size, right, left = 0;
        int64_t cnt = 0;
        size_t blen = 0;

        if (n < 0) {
                *ret = 0;
                return 0;
        }
        size = lseek(fd, 0, SEEK_END);
        if (size < 0)
                return -errno;
        for (right = size; right > 0 && cnt <= n; right = left) {
                left = right > (off_t)sizeof(buf) ? right - (off_t)sizeof(buf) : 0;
                blen = (size_t)(right - left);
                if (pread(fd, buf, blen, left) != (ssize_t)blen)
                        return -EIO;
                for (size_t i = 0; i < blen; i++)
                        cnt += buf[i] == '\n';
        }
        /* drop the newlines in the first block read until only N remain after LEFT */
        for (size_t i = 0; cnt > n && i < blen; i++)
                if (buf[i] == '\n') {
                        cnt--;
                        if (cnt == n) {
                                left += (off_t)i + 1;
                                break;
                        }
                }
        *ret = left;
        return 0;
}

/* The state of one read: what is left to write, whether the next message starts a line. */
struct reader {
        const kubelet_log_opts *o;
        const kubelet_log_sink *sink;
        int64_t remain, lines_left;
        bool new_line, done;
        const char *path;
};

static int emit(struct reader *r, const char *line, size_t len)
{
        kubelet_log_msg m;
        char ts[48];
        int rc;

        if (kubelet_log_parse_line(line, len, &m) < 0) {
                kn_v(2, "ignored a malformed line in log file %s", r->path);
                return 0;
        }
        if (r->lines_left > 0)
                r->lines_left--;
        if (m.ts_ns < r->o->since_ns)
                return 0;
        if (!(m.stream & r->o->streams))
                goto out;
        if (r->o->timestamps && r->new_line) {
                size_t n = kubelet_log_format_time(m.ts_ns, m.tz_offset_s, ts);
                ts[n++] = ' ';
                if ((int64_t)n > r->remain)
                        n = (size_t)r->remain;
                rc = r->sink->write(r->sink->userdata, ts, n);
                if (rc < 0)
                        return rc;
                r->remain -= (int64_t)n;
                if (r->remain <= 0) {
                        r->done = true;
                        return 0;
                }
        }
        size_t n = m.len;
        if ((int64_t)n > r->remain)
                n = (size_t)r->remain;
        if (n) {
                rc = r->sink->write(r->sink->userdata, m.content, n);
                if (rc < 0)
                        return rc;
        }
        r->remain -= (int64_t)n;
        if (r->remain <= 0)
                r->done = true;
out:
        r->new_line = m.len == 0 || m.content[m.len - 1] == '\n';
        return 0;
}

/* Emit every complete line of BUF[0..*LEN), keep the incomplete rest at the start. A line
 * longer than the bound is cut (its rest is dropped up to the next '\n'). */
static int drain_lines(struct reader *r, char *buf, size_t *len, bool *skipping)
{
        size_t start = 0;
        int rc;

        while (!r->done && r->lines_left != 0) {
                char *nl = memchr(buf + start, '\n', *len - start);
                if (!nl)
                        break;
                size_t l = (size_t)(nl - (buf + start)) + 1;
                if (!*skipping) {
                        rc = emit(r, buf + start, l);
                        if (rc < 0)
                                return rc;
                }
                *skipping = false;
                start += l;
        }
        memmove(buf, buf + start, *len - start);
        *len -= start;
        if (*len >= LOG_MAX_LINE) {
                if (!*skipping) {
                        buf[*len - 1] = '\n';
                        rc = emit(r, buf, *len);
                        if (rc < 0)
                                return rc;
                }
                *skipping = true;
                *len = 0;
        }
        return 0;
}

static void closep_inotify(int *fd) { kn_closep(fd); }

int kubelet_logs_read(const char *path, const kubelet_log_opts *o, const kubelet_log_sink *sink, kn_error *err)
{
        _cleanup_free_ char *real = realpath(path, NULL);
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -1;
        __attribute__((cleanup(closep_inotify))) int ino = -1;
        struct reader r = {.o = o, .sink = sink, .new_line = true, .path = path};
        size_t len = 0;
        bool skipping = false, switch_pending = false;
        int64_t last_check = 0;
        off_t start;
        int rc;

        if (!real)
                return kn_error_set(err, -errno, "failed to try resolving symlinks in path \"%s\": %s", path,
                                    strerror(errno));
        fd = open(real, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return kn_error_set(err, -errno, "failed to open log file \"%s\": %s", real, strerror(errno));
        rc = kubelet_log_tail_offset(fd, o->tail_lines, &start);
        if (rc < 0)
                return kn_error_set(err, rc, "failed to tail %lld lines of log file \"%s\": %s",
                                    (long long)o->tail_lines, real, strerror(-rc));
        if (lseek(fd, start, SEEK_SET) < 0)
                return kn_error_set(err, -errno, "failed to seek in log file \"%s\"", real);
        r.remain = o->limit_bytes >= 0 ? o->limit_bytes : INT64_MAX;
        /* like upstream, tail counts lines only when not following */
        r.lines_left = o->tail_lines >= 0 && !o->follow ? o->tail_lines : -1;
        buf = kn_malloc(LOG_MAX_LINE + LOG_READ_CHUNK);

        for (;;) {
                ssize_t n;

                if (r.done || r.lines_left == 0)
                        return 0;
                n = read(fd, buf + len, LOG_READ_CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return kn_error_set(err, -errno, "failed to read log file \"%s\": %s", real, strerror(errno));
                if (n > 0) {
                        len += (size_t)n;
                        rc = drain_lines(&r, buf, &len, &skipping);
                        if (rc < 0)
                                return kn_error_set(err, rc, "failed to write logs: %s", strerror(-rc));
                        continue;
                }
                /* end of file */
                if (!o->follow) {
                        if (len && !skipping) /* an incomplete last line: write it as it is */
                                (void)emit(&r, buf, len);
                        return 0;
                }
                if (switch_pending) {
                        /* rotated: the old file is read to its end, go on with the new one */
                        int nfd = open(real, O_RDONLY | O_CLOEXEC);
                        switch_pending = false;
                        if (nfd >= 0) {
                                close(fd);
                                fd = nfd;
                                len = 0;
                                skipping = false;
                                continue;
                        }
                }
                if (ino < 0) {
                        _cleanup_free_ char *dir = kn_strdup(real);
                        char *slash = strrchr(dir, '/');
                        if (slash)
                                *slash = slash == dir ? (slash[1] = '\0', '/') : '\0';
                        ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
                        if (ino < 0)
                                return kn_error_set(err, -errno, "failed to create inotify watcher: %s",
                                                    strerror(errno));
                        if (inotify_add_watch(ino, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM |
                                                                IN_DELETE | IN_ATTRIB) < 0)
                                return kn_error_set(err, -errno, "failed to watch directory \"%s\": %s", dir,
                                                    strerror(errno));
                        continue; /* read again: a write may have come before the watch */
                }
                /* Wait for the next change. No need to wait for a container that stopped:
                 * what it wrote has been read. */
                if (sink->flush && (rc = sink->flush(sink->userdata)) < 0)
                        return kn_error_set(err, rc, "failed to write logs: %s", strerror(-rc));
                /* asked at most once a check period, so a chatty container does not mean a
                 * ContainerStatus per write */
                if (kn_now_ms() - last_check >= FOLLOW_CHECK_MS) {
                        rc = sink->running ? sink->running(sink->userdata) : 1;
                        if (rc <= 0)
                                return rc < 0 ? kn_error_set(err, rc, "failed to get the container's status") : 0;
                        last_check = kn_now_ms();
                }
                for (bool changed = false; !changed;) {
                        struct pollfd pfd[3] = {{ino, POLLIN, 0}, {sink->wake_fds[0], POLLIN, 0},
                                                {sink->wake_fds[1], POLLIN, 0}};
                        int pr = poll(pfd, 3, FOLLOW_CHECK_MS);
                        if (pr < 0 && errno != EINTR)
                                return kn_error_set(err, -errno, "poll: %s", strerror(errno));
                        if ((pfd[1].revents || pfd[2].revents) && sink->cancelled &&
                            sink->cancelled(sink->userdata))
                                return 0;
                        if (pr == 0)
                                break; /* quiet: check the container again, read again */
                        if (pfd[0].revents) {
                                char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
                                const char *base = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
                                ssize_t m;
                                while ((m = read(ino, ev, sizeof(ev))) > 0)
                                        for (char *q = ev; q < ev + m;) {
                                                struct inotify_event *ie = (struct inotify_event *)q;
                                                if ((ie->mask & (IN_CREATE | IN_MOVED_TO)) && ie->len &&
                                                    strcmp(ie->name, base) == 0)
                                                        switch_pending = true;
                                                q += sizeof(*ie) + ie->len;
                                        }
                                changed = true;
                        }
                }
        }
}

int kubelet_parse_quantity(const char *s, int64_t *ret)
{
        kn_quantity q;
        int r = kn_quantity_parse(s, &q);

        if (r < 0)
                return r;
        if (kn_quantity_value(&q) < 0)
                return -EINVAL;
        *ret = kn_quantity_value(&q);
        return 0;
}

/* ---- rotation ---- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool has_suffix(const char *s, const char *suf)
{
        size_t a = strlen(s), b = strlen(suf);
        return a >= b && strcmp(s + a - b, suf) == 0;
}

static int gzip_file(const char *path, kn_error *err)
{
        _cleanup_free_ char *tmp = kn_asprintf("%s.tmp", path);
        _cleanup_free_ char *gz = kn_asprintf("%s.gz", path);
        _cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC);
        char buf[65536];
        struct stat st;
        gzFile out;
        ssize_t n;
        int fd;

        if (in < 0 || fstat(in, &st) < 0)
                return kn_error_set(err, -errno, "failed to open log \"%s\": %s", path, strerror(errno));
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 0777);
        if (fd < 0)
                return kn_error_set(err, -errno, "failed to create temporary log \"%s\": %s", tmp, strerror(errno));
        out = gzdopen(fd, "wb");
        if (!out) {
                close(fd);
                unlink(tmp);
                return kn_error_set(err, -ENOMEM, "failed to compress \"%s\"", path);
        }
        while ((n = read(in, buf, sizeof(buf))) > 0)
                if (gzwrite(out, buf, (unsigned)n) != (int)n) {
                        n = -1;
                        break;
                }
        if (gzclose(out) != Z_OK || n < 0) {
                unlink(tmp);
                return kn_error_set(err, -EIO, "failed to compress \"%s\" to \"%s\"", path, tmp);
        }
        if (rename(tmp, gz) < 0) {
                int e = errno;
                unlink(tmp);
                return kn_error_set(err, -e, "failed to rename \"%s\" to \"%s\": %s", tmp, gz, strerror(e));
        }
        if (unlink(path) < 0)
                return kn_error_set(err, -errno, "failed to remove log \"%s\" after compress", path);
        return 0;
}

int kubelet_logs_rotate(cri_client *cri, const char *container_id, const char *log_path, int64_t max_size,
                        int max_files, kn_error *err)
{
        _cleanup_free_ char *dir = kn_strdup(log_path);
        const char *base;
        char **logs = NULL;
        size_t n = 0, kept = 0, base_len;
        struct stat st;
        DIR *d;
        int r = 0;

        if (stat(log_path, &st) < 0) {
                Runtime__V1__ReopenContainerLogRequest req = RUNTIME__V1__REOPEN_CONTAINER_LOG_REQUEST__INIT;
                kn_error cerr;
                if (errno != ENOENT || !cri)
                        return kn_error_set(err, -errno, "failed to stat log \"%s\": %s", log_path, strerror(errno));
                /* removed behind the runtime's back: have it make a new one, as upstream */
                req.container_id = (char *)container_id;
                r = cri_reopen_container_log(cri, &req, 0, NULL, &cerr);
                if (r < 0)
                        return kn_error_set(err, r, "container log \"%s\" doesn't exist, reopen failed: %s", log_path,
                                            cerr.msg);
                if (stat(log_path, &st) < 0)
                        return kn_error_set(err, -errno, "failed to stat log \"%s\" after reopen: %s", log_path,
                                            strerror(errno));
        }
        if (st.st_size < max_size)
                return 0;
        char *slash = strrchr(dir, '/');
        if (!slash)
                return kn_error_set(err, -EINVAL, "log path \"%s\" is not absolute", log_path);
        *slash = '\0';
        base = slash + 1;
        base_len = strlen(base);
        d = opendir(dir[0] ? dir : "/");
        if (!d)
                return kn_error_set(err, -errno, "failed to list log files of \"%s\": %s", log_path, strerror(errno));
        for (struct dirent *de; (de = readdir(d));) {
                if (strncmp(de->d_name, base, base_len) != 0 || de->d_name[base_len] != '.')
                        continue;
                if (n >= 4096)
                        break;
                logs = kn_realloc(logs, (n + 1) * sizeof(*logs));
                logs[n++] = kn_asprintf("%s/%s", dir, de->d_name);
        }
        closedir(d);
        if (n)
                qsort(logs, n, sizeof(*logs), cmp_str);

        /* unused: temporaries, and an uncompressed file whose .gz exists (a compress that
         * was interrupted after the rename) */
        for (size_t i = 0; i < n; i++) {
                bool unused = has_suffix(logs[i], ".tmp");
                if (!unused && !has_suffix(logs[i], ".gz")) {
                        _cleanup_free_ char *gz = kn_asprintf("%s.gz", logs[i]);
                        for (size_t j = 0; j < n; j++)
                                if (strcmp(logs[j], gz) == 0)
                                        unused = true;
                }
                if (unused) {
                        if (unlink(logs[i]) < 0 && errno != ENOENT) {
                                r = kn_error_set(err, -errno, "failed to remove unused log \"%s\"", logs[i]);
                                goto out;
                        }
                        free(logs[i]);
                        logs[i] = NULL;
                } else {
                        logs[kept++] = logs[i];
                        if (kept - 1 != i)
                                logs[i] = NULL;
                }
        }
        n = kept;
        /* keep max_files - 2 rotated files: with the one about to be rotated and the new
         * current one, max_files in all */
        size_t max_rotated = max_files > 2 ? (size_t)max_files - 2 : 0;
        size_t first = n > max_rotated ? n - max_rotated : 0;
        for (size_t i = 0; i < first; i++)
                if (unlink(logs[i]) < 0 && errno != ENOENT) {
                        r = kn_error_set(err, -errno, "failed to remove old log \"%s\"", logs[i]);
                        goto out;
                }
        for (size_t i = first; i < n; i++)
                if (!has_suffix(logs[i], ".gz")) {
                        r = gzip_file(logs[i], err);
                        if (r < 0)
                                goto out;
                }
        {
                char ts[32];
                time_t now = time(NULL);
                struct tm tm;
                localtime_r(&now, &tm);
                strftime(ts, sizeof(ts), "%Y%m%d-%H%M%S", &tm);
                _cleanup_free_ char *rotated = kn_asprintf("%s.%s", log_path, ts);
                Runtime__V1__ReopenContainerLogRequest req = RUNTIME__V1__REOPEN_CONTAINER_LOG_REQUEST__INIT;
                kn_error cerr;

                if (rename(log_path, rotated) < 0) {
                        r = kn_error_set(err, -errno, "failed to rotate log \"%s\" to \"%s\": %s", log_path, rotated,
                                         strerror(errno));
                        goto out;
                }
                req.container_id = (char *)container_id;
                r = cri_reopen_container_log(cri, &req, 0, NULL, &cerr);
                if (r < 0) {
                        if (rename(rotated, log_path) < 0)
                                kn_warn("failed to rename rotated log %s back to %s: %s", rotated, log_path,
                                        strerror(errno));
                        r = kn_error_set(err, r, "failed to reopen container log \"%s\": %s", container_id, cerr.msg);
                        goto out;
                }
                r = 1;
        }
out:
        for (size_t i = 0; i < n; i++)
                free(logs[i]);
        free(logs);
        return r;
}

int kubelet_logs_rotate_all(cri_client *cri, kn_hashmap *paths, int64_t max_size, int max_files)
{
        Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        _cleanup_cri_msg_ Runtime__V1__ListContainersResponse *list = NULL;
        kn_hashmap running = {0};
        const char *key;
        void *val;
        kn_error err;
        int r, n = 0;

        r = cri_list_containers(cri, &req, 0, &list, &err);
        if (r < 0) {
                kn_err("failed to list containers for log rotation: %s", err.msg);
                return r;
        }
        for (size_t i = 0; i < list->n_containers; i++) {
                const Runtime__V1__Container *c = list->containers[i];
                char *path;

                if (c->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
                        continue;
                kn_hashmap_put(&running, c->id, (void *)1, NULL);
                /* a container's log path never changes: ask the runtime once */
                path = kn_hashmap_get(paths, c->id);
                if (!path) {
                        Runtime__V1__ContainerStatusRequest sreq = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
                        _cleanup_cri_msg_ Runtime__V1__ContainerStatusResponse *st = NULL;
                        sreq.container_id = c->id;
                        r = cri_container_status(cri, &sreq, 0, &st, &err);
                        if (r < 0 || !st->status || !st->status->log_path || !st->status->log_path[0]) {
                                if (r < 0)
                                        kn_err("failed to get the status of container %s for log rotation: %s", c->id,
                                               err.msg);
                                continue;
                        }
                        path = kn_strdup(st->status->log_path);
                        kn_hashmap_put(paths, c->id, path, NULL);
                }
                r = kubelet_logs_rotate(cri, c->id, path, max_size, max_files, &err);
                if (r < 0)
                        kn_err("failed to rotate the log of container %s: %s", c->id, err.msg);
                else
                        n += r;
        }
        /* forget the containers that stopped running */
        for (size_t it = 0; kn_hashmap_next(paths, &it, &key, &val);)
                if (!kn_hashmap_get(&running, key))
                        free(kn_hashmap_remove(paths, key)); /* leaves a tombstone: the walk goes on */
        kn_hashmap_clear(&running, NULL);
        return n;
}
