/* SPDX-License-Identifier: Apache-2.0 */
/* kubelet/logs.c: the CRI log line parser, timestamps, PodLogOptions, tail/limit/since
 * selection, follow with inotify, rotation bookkeeping; and the authorization attributes
 * of kubelet/auth.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

#include "../../kubelet/auth.h"
#include "../../kubelet/http.h"
#include "../../kubelet/logs.h"

static char tmpdir[64];

static int setup(void **state)
{
        (void)state;
        strcpy(tmpdir, "/tmp/kn-logs-XXXXXX");
        assert_non_null(mkdtemp(tmpdir));
        return 0;
}

static int teardown(void **state)
{
        char cmd[128];
        (void)state;
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        return system(cmd);
}

static void test_parse_line(void **state)
{
        kubelet_log_msg m;
        const char *l1 = "2016-10-06T00:17:09.669794202Z stdout F log content 1\n";
        const char *l2 = "2016-10-06T00:17:09.669794203Z stderr P part";
        const char *l3 = "2016-10-06T00:17:09.669794203Z stderr P part\n";
        const char *l4 = "2016-10-06T00:17:10.1+02:00 stdout F:x y\n";
        (void)state;

        assert_int_equal(kubelet_log_parse_line(l1, strlen(l1), &m), 0);
        assert_int_equal(m.stream, KUBELET_LOG_STDOUT);
        assert_false(m.partial);
        assert_int_equal(m.len, strlen("log content 1\n"));
        assert_memory_equal(m.content, "log content 1\n", m.len);
        assert_int_equal(m.ts_ns, 1475713029669794202LL);
        assert_int_equal(kubelet_log_parse_line(l2, strlen(l2), &m), 0);
        assert_int_equal(m.stream, KUBELET_LOG_STDERR);
        assert_true(m.partial);
        assert_int_equal(m.len, 4);
        /* a partial line's newline (the file's line end) is not content */
        assert_int_equal(kubelet_log_parse_line(l3, strlen(l3), &m), 0);
        assert_int_equal(m.len, 4);
        assert_int_equal(kubelet_log_parse_line(l4, strlen(l4), &m), 0);
        assert_int_equal(m.tz_offset_s, 7200);
        assert_int_equal(m.ts_ns, 1475705830100000000LL);
        assert_memory_equal(m.content, "y\n", 2);

        const char *bad[] = {"", "garbage\n", "2016-10-06T00:17:09Z stdin F x\n", "2016-10-06T00:17:09Z stdout\n",
                             "2016-10-06 00:17:09Z stdout F x\n", "2016-13-06T00:17:09Z stdout F x\n",
                             "2016-10-06T00:17:09.Z stdout F x\n", "2016-10-06T00:17:09 stdout F x\n",
                             "{\"log\":\"x\",\"stream\":\"stdout\"}\n"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(kubelet_log_parse_line(bad[i], strlen(bad[i]), &m), -EBADMSG);
}

static void test_time_format(void **state)
{
        char buf[48];
        int64_t ns;
        int off;
        (void)state;

        assert_int_equal(kubelet_log_format_time(1475713029669794202LL, 0, buf), 30);
        assert_string_equal(buf, "2016-10-06T00:17:09.669794202Z");
        assert_int_equal(kubelet_log_format_time(1475713029000000000LL, 0, buf), 30);
        assert_string_equal(buf, "2016-10-06T00:17:09.000000000Z");
        assert_int_equal(kubelet_log_parse_time("2016-10-06T02:17:09.5+02:00", 27, &ns, &off), 0);
        kubelet_log_format_time(ns, off, buf);
        assert_string_equal(buf, "2016-10-06T02:17:09.500000000+02:00");
        assert_int_equal(kubelet_log_parse_time("1969-12-31T23:59:59.5-00:30", 27, &ns, &off), 0);
        assert_int_equal(ns, 1799500000000LL);
        kubelet_log_format_time(ns, off, buf);
        assert_string_equal(buf, "1969-12-31T23:59:59.500000000-00:30");
        assert_int_equal(kubelet_log_parse_time("2016-10-06T00:17:09+0200", 24, &ns, &off), -EINVAL);
        /* outside what int64 nanoseconds hold */
        assert_int_equal(kubelet_log_parse_time("0001-01-01T00:00:00Z", 20, &ns, &off), -EINVAL);
        assert_int_equal(kubelet_log_parse_time("2262-04-12T00:00:00Z", 20, &ns, &off), -EINVAL);
        assert_int_equal(kubelet_log_parse_time("1678-01-01T00:00:00Z", 20, &ns, &off), 0);
        assert_int_equal(kubelet_log_format_time(ns, 0, buf), 30);
        assert_string_equal(buf, "1678-01-01T00:00:00.000000000Z");
}

static void test_opts(void **state)
{
        kubelet_log_opts o;
        kn_error err;
        int64_t now = 2000LL * 1000000000LL;
        (void)state;

        assert_int_equal(kubelet_log_opts_parse("", now, &o, &err), 0);
        assert_int_equal(o.tail_lines, -1);
        assert_int_equal(o.limit_bytes, -1);
        assert_int_equal(o.since_ns, 0);
        assert_false(o.follow || o.previous || o.timestamps);
        assert_int_equal(o.streams, KUBELET_LOG_STDOUT | KUBELET_LOG_STDERR);
        assert_int_equal(kubelet_log_opts_parse("follow=true&previous=1&timestamps&tailLines=5&limitBytes=10&"
                                                "sinceSeconds=100",
                                                now, &o, &err),
                         0);
        assert_true(o.follow && o.previous && o.timestamps);
        assert_int_equal(o.tail_lines, 5);
        assert_int_equal(o.limit_bytes, 10);
        assert_int_equal(o.since_ns, 1900LL * 1000000000LL);
        /* the legacy tail wins; "all" is no tail */
        assert_int_equal(kubelet_log_opts_parse("tail=3&tailLines=5", now, &o, &err), 0);
        assert_int_equal(o.tail_lines, 3);
        assert_int_equal(kubelet_log_opts_parse("tail=all&tailLines=5", now, &o, &err), 0);
        assert_int_equal(o.tail_lines, -1);
        assert_int_equal(kubelet_log_opts_parse("sinceTime=2016-10-06T00%3A17%3A09.9Z", now, &o, &err), 0);
        assert_int_equal(o.since_ns, 1475713029000000000LL);
        assert_int_equal(kubelet_log_opts_parse("stream=Stderr", now, &o, &err), 0);
        assert_int_equal(o.streams, KUBELET_LOG_STDERR);
        /* 400: undecodable; 422: invalid */
        assert_int_equal(kubelet_log_opts_parse("follow=maybe", now, &o, &err), -EINVAL);
        assert_string_equal(err.msg, "{\"message\": \"Unable to decode query.\"}");
        assert_int_equal(kubelet_log_opts_parse("tailLines=x", now, &o, &err), -EINVAL);
        assert_int_equal(kubelet_log_opts_parse("sinceTime=yesterday", now, &o, &err), -EINVAL);
        assert_int_equal(kubelet_log_opts_parse("tailLines=-1", now, &o, &err), -EDOM);
        assert_string_equal(err.msg, "{\"message\": \"Invalid request.\"}");
        assert_int_equal(kubelet_log_opts_parse("limitBytes=0", now, &o, &err), -EDOM);
        assert_int_equal(kubelet_log_opts_parse("sinceSeconds=0", now, &o, &err), -EDOM);
        assert_int_equal(kubelet_log_opts_parse("sinceSeconds=5&sinceTime=2016-10-06T00:17:09Z", now, &o, &err),
                         -EDOM);
        assert_int_equal(kubelet_log_opts_parse("stream=Stdout&tailLines=1", now, &o, &err), -EDOM);
        assert_int_equal(kubelet_log_opts_parse("stream=both", now, &o, &err), -EDOM);
}

static void write_file(const char *path, const char *data, const char *mode)
{
        FILE *f = fopen(path, mode);
        assert_non_null(f);
        fputs(data, f);
        fclose(f);
}

static void test_tail_offset(void **state)
{
        char path[128];
        off_t off;
        int fd;
        (void)state;

        snprintf(path, sizeof(path), "%s/tail", tmpdir);
        write_file(path, "a\nbb\nccc\n", "w");
        fd = open(path, O_RDONLY);
        assert_int_equal(kubelet_log_tail_offset(fd, -1, &off), 0);
        assert_int_equal(off, 0);
        assert_int_equal(kubelet_log_tail_offset(fd, 0, &off), 0);
        assert_int_equal(off, 9);
        assert_int_equal(kubelet_log_tail_offset(fd, 1, &off), 0);
        assert_int_equal(off, 5);
        assert_int_equal(kubelet_log_tail_offset(fd, 2, &off), 0);
        assert_int_equal(off, 2);
        assert_int_equal(kubelet_log_tail_offset(fd, 3, &off), 0);
        assert_int_equal(off, 0);
        assert_int_equal(kubelet_log_tail_offset(fd, 100, &off), 0);
        assert_int_equal(off, 0);
        close(fd);
        /* across block boundaries: 3000 lines of 10 bytes */
        FILE *f = fopen(path, "w");
        for (int i = 0; i < 3000; i++)
                fprintf(f, "line %04d\n", i);
        fclose(f);
        fd = open(path, O_RDONLY);
        assert_int_equal(kubelet_log_tail_offset(fd, 1234, &off), 0);
        assert_int_equal(off, (3000 - 1234) * 10);
        close(fd);
}

struct collect {
        kn_buf out;
        int running;     /* what running() answers */
        int efd;         /* cancelled when readable */
        int fail_after;  /* write() fails after this many calls; 0 never */
        int writes;
};

static int c_write(void *u, const char *p, size_t n)
{
        struct collect *c = u;
        if (c->fail_after && ++c->writes > c->fail_after)
                return -EPIPE;
        return kn_buf_append(&c->out, p, n);
}
static int c_running(void *u) { return __atomic_load_n(&((struct collect *)u)->running, __ATOMIC_SEQ_CST); }
static bool c_cancelled(void *u) { return true; }

static const char *LOG = "2016-10-06T00:00:01.000000001Z stdout F one\n"
                         "2016-10-06T00:00:02Z stderr F two\n"
                         "2016-10-06T00:00:03Z stdout P thr\n"
                         "2016-10-06T00:00:04Z stdout F ee\n"
                         "this line is not CRI\n"
                         "2016-10-06T00:00:05Z stdout F five\n";

static char *read_with(const char *path, const char *query)
{
        struct collect c = {0};
        kubelet_log_sink sink = {.write = c_write, .wake_fds = {-1, -1}, .userdata = &c};
        kubelet_log_opts o;
        kn_error err;
        assert_int_equal(kubelet_log_opts_parse(query, 0, &o, &err), 0);
        assert_int_equal(kubelet_logs_read(path, &o, &sink, &err), 0);
        return c.out.data ? c.out.data : kn_strdup("");
}

static void test_read_selection(void **state)
{
        char path[128];
        char *s;
        (void)state;

        snprintf(path, sizeof(path), "%s/0.log", tmpdir);
        write_file(path, LOG, "w");
        s = read_with(path, "");
        assert_string_equal(s, "one\ntwo\nthree\nfive\n");
        free(s);
        s = read_with(path, "timestamps=true");
        assert_string_equal(s, "2016-10-06T00:00:01.000000001Z one\n"
                               "2016-10-06T00:00:02.000000000Z two\n"
                               "2016-10-06T00:00:03.000000000Z three\n" /* none for the continuation */
                               "2016-10-06T00:00:05.000000000Z five\n");
        free(s);
        /* tail counts the file's lines, the malformed one too */
        s = read_with(path, "tailLines=2");
        assert_string_equal(s, "five\n");
        free(s);
        s = read_with(path, "tailLines=4");
        assert_string_equal(s, "three\nfive\n");
        free(s);
        s = read_with(path, "tailLines=0");
        assert_string_equal(s, "");
        free(s);
        s = read_with(path, "limitBytes=6");
        assert_string_equal(s, "one\ntw");
        free(s);
        s = read_with(path, "limitBytes=12&timestamps=1");
        assert_string_equal(s, "2016-10-06T0");
        free(s);
        s = read_with(path, "sinceTime=2016-10-06T00:00:02Z");
        assert_string_equal(s, "two\nthree\nfive\n");
        free(s);
        s = read_with(path, "stream=Stderr");
        assert_string_equal(s, "two\n");
        free(s);
        s = read_with(path, "stream=Stdout");
        assert_string_equal(s, "one\nthree\nfive\n");
        free(s);
        /* an incomplete last line is written as it is when not following; as upstream,
         * tail counts it only as part of the line before (its '\n' is missing) */
        write_file(path, "2016-10-06T00:00:06Z stdout F six", "a");
        s = read_with(path, "tailLines=1");
        assert_string_equal(s, "five\n");
        free(s);
        s = read_with(path, "tailLines=2");
        assert_string_equal(s, "five\nsix");
        free(s);

        /* a writer that fails stops the read with its error */
        struct collect c = {.fail_after = 1};
        kubelet_log_sink sink = {.write = c_write, .wake_fds = {-1, -1}, .userdata = &c};
        kubelet_log_opts o;
        kn_error err;
        kubelet_log_opts_parse("", 0, &o, &err);
        assert_int_equal(kubelet_logs_read(path, &o, &sink, &err), -EPIPE);
        kn_buf_free(&c.out);
        snprintf(path, sizeof(path), "%s/missing.log", tmpdir);
        assert_int_equal(kubelet_logs_read(path, &o, &sink, &err), -ENOENT);
}

struct follow_arg {
        const char *path;
        struct collect *c;
        int rc;
};

static void *follow_thread(void *p)
{
        struct follow_arg *a = p;
        kubelet_log_sink sink = {.write = c_write,
                                 .running = c_running,
                                 .wake_fds = {a->c->efd, -1},
                                 .cancelled = c_cancelled,
                                 .userdata = a->c};
        kubelet_log_opts o;
        kn_error err;
        kubelet_log_opts_parse("follow=true&tailLines=1", 0, &o, &err);
        a->rc = kubelet_logs_read(a->path, &o, &sink, &err);
        return NULL;
}

static bool wait_for(struct collect *c, const char *want)
{
        for (int i = 0; i < 500; i++) {
                /* the reader thread appends; a torn read only delays the match */
                if (c->out.data && strcmp(c->out.data, want) == 0)
                        return true;
                usleep(10000);
        }
        return false;
}

static void test_follow(void **state)
{
        char path[128], rotated[160];
        struct collect c = {.running = 1, .efd = -1};
        struct follow_arg a = {.path = path, .c = &c};
        pthread_t t;
        (void)state;

        snprintf(path, sizeof(path), "%s/follow.log", tmpdir);
        write_file(path, "2016-10-06T00:00:01Z stdout F old\n2016-10-06T00:00:01Z stdout F last\n", "w");
        c.efd = eventfd(0, EFD_CLOEXEC);
        pthread_create(&t, NULL, follow_thread, &a);
        assert_true(wait_for(&c, "last\n"));
        /* a line written in two pieces comes out whole */
        write_file(path, "2016-10-06T00:00:02Z stdout F ne", "a");
        write_file(path, "w\n", "a");
        assert_true(wait_for(&c, "last\nnew\n"));
        /* rotation: the old file renamed, a new one created */
        snprintf(rotated, sizeof(rotated), "%s.20161006-000003", path);
        assert_int_equal(rename(path, rotated), 0);
        /* what the runtime writes to the old file before it reopens is not lost */
        write_file(rotated, "2016-10-06T00:00:03Z stdout F late\n", "a");
        write_file(path, "2016-10-06T00:00:03Z stderr F after rotation\n", "w");
        assert_true(wait_for(&c, "last\nnew\nlate\nafter rotation\n"));
        /* the container stops: the reader finishes what is there and ends */
        __atomic_store_n(&c.running, 0, __ATOMIC_SEQ_CST);
        write_file(path, "2016-10-06T00:00:04Z stdout F bye\n", "a");
        pthread_join(t, NULL);
        assert_int_equal(a.rc, 0);
        assert_string_equal(c.out.data, "last\nnew\nlate\nafter rotation\nbye\n");
        kn_buf_free(&c.out);

        /* a client that goes away ends a follow of a running container */
        c = (struct collect){.running = 1, .efd = c.efd};
        pthread_create(&t, NULL, follow_thread, &a);
        assert_true(wait_for(&c, "bye\n"));
        uint64_t one = 1;
        assert_int_equal(write(c.efd, &one, sizeof(one)), sizeof(one));
        pthread_join(t, NULL);
        assert_int_equal(a.rc, 0);
        kn_buf_free(&c.out);
        close(c.efd);
}

static void test_quantity(void **state)
{
        int64_t v;
        (void)state;
        assert_int_equal(kubelet_parse_quantity("10Mi", &v), 0);
        assert_int_equal(v, 10 << 20);
        assert_int_equal(kubelet_parse_quantity("1G", &v), 0);
        assert_int_equal(v, 1000000000);
        assert_int_equal(kubelet_parse_quantity("512", &v), 0);
        assert_int_equal(v, 512);
        assert_int_equal(kubelet_parse_quantity("10MB", &v), -EINVAL);
        assert_int_equal(kubelet_parse_quantity("-1", &v), -EINVAL);
        assert_int_equal(kubelet_parse_quantity("", &v), -EINVAL);
        assert_int_equal(kubelet_parse_quantity("99999999999Ti", &v), -ERANGE);
}

static void test_rotate_not_needed(void **state)
{
        char path[128];
        kn_error err;
        (void)state;
        snprintf(path, sizeof(path), "%s/small.log", tmpdir);
        write_file(path, "2016-10-06T00:00:01Z stdout F x\n", "w");
        /* under the size: nothing to do, the runtime is not asked */
        assert_int_equal(kubelet_logs_rotate(NULL, "id", path, 1 << 20, 5, &err), 0);
        snprintf(path, sizeof(path), "%s/none.log", tmpdir);
        assert_int_equal(kubelet_logs_rotate(NULL, "id", path, 1, 5, &err), -ENOENT);
}

static void check_attrs(const char *method, const char *path, const char *verb, const char *s0, const char *s1)
{
        kubelet_authz_attrs a;
        kubelet_authz_attributes(method, path, &a);
        assert_string_equal(a.verb, verb);
        assert_int_equal(a.n_subresources, s1 ? 2 : 1);
        assert_string_equal(a.subresources[0], s0);
        if (s1)
                assert_string_equal(a.subresources[1], s1);
}

static void test_authz_attributes(void **state)
{
        (void)state;
        check_attrs("GET", "/pods", "get", "pods", "proxy");
        check_attrs("GET", "/pods/", "get", "pods", "proxy");
        check_attrs("GET", "/podsx", "get", "proxy", NULL);
        check_attrs("GET", "/runningpods/", "get", "pods", "proxy");
        check_attrs("GET", "/healthz", "get", "healthz", "proxy");
        check_attrs("GET", "/healthz/ping", "get", "healthz", "proxy");
        check_attrs("GET", "/configz", "get", "configz", "proxy");
        check_attrs("GET", "/stats/summary", "get", "stats", NULL);
        check_attrs("POST", "/stats/summary", "create", "stats", NULL);
        check_attrs("GET", "/stats", "get", "stats", NULL);
        check_attrs("GET", "/metrics", "get", "metrics", NULL);
        check_attrs("GET", "/metrics/resource", "get", "metrics", NULL);
        check_attrs("GET", "/metricsfoo", "get", "proxy", NULL);
        check_attrs("GET", "/logs/syslog", "get", "log", NULL);
        check_attrs("POST", "/checkpoint/ns/pod/c", "create", "checkpoint", NULL);
        check_attrs("GET", "/statusz", "get", "statusz", NULL);
        check_attrs("GET", "/flagz", "get", "configz", NULL);
        check_attrs("GET", "/containerLogs/ns/pod/c", "get", "proxy", NULL);
        check_attrs("POST", "/exec/ns/pod/c", "create", "proxy", NULL);
        check_attrs("GET", "/exec/ns/pod/c", "get", "proxy", NULL);
        check_attrs("POST", "/run/ns/pod/c", "create", "proxy", NULL);
        check_attrs("PUT", "/portForward/ns/pod", "update", "proxy", NULL);
        check_attrs("PATCH", "/attach/ns/pod/c", "patch", "proxy", NULL);
        check_attrs("DELETE", "/x", "delete", "proxy", NULL);
        check_attrs("HEAD", "/healthz", "", "healthz", "proxy");
}

static void test_http_helpers(void **state)
{
        char *segs[4];
        char *v;
        (void)state;
        v = kubelet_query_get("command=sh&command=-c&command=echo+a%20b&x", "command", 2);
        assert_string_equal(v, "echo a b");
        free(v);
        v = kubelet_query_get("command=sh&x", "x", 0);
        assert_string_equal(v, "");
        free(v);
        assert_null(kubelet_query_get("command=sh", "command", 1));
        assert_null(kubelet_query_get("a=%zz", "a", 0));
        assert_null(kubelet_query_get("a=%4", "a", 0));
        assert_null(kubelet_query_get("a=%00", "a", 0));
        assert_int_equal(kubelet_path_split("/containerLogs/ns/my%2Bpod/c", segs, 4), 4);
        assert_string_equal(segs[2], "my+pod");
        for (int i = 0; i < 4; i++)
                free(segs[i]);
        assert_int_equal(kubelet_path_split("/a/b/c/d/e", segs, 4), -EINVAL);
        assert_int_equal(kubelet_path_split("/a//b", segs, 4), -EINVAL);
        assert_int_equal(kubelet_path_split("/", segs, 4), 0);
        const char *h = "Host: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Empty:\r\n";
        assert_true(kubelet_header_has_token(h, "connection", "upgrade"));
        assert_false(kubelet_header_has_token(h, "connection", "close"));
        v = kubelet_header_get(h, "upgrade");
        assert_string_equal(v, "SPDY/3.1");
        free(v);
        v = kubelet_header_get(h, "X-Empty");
        assert_string_equal(v, "");
        free(v);
        assert_null(kubelet_header_get(h, "X-None"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_line),      cmocka_unit_test(test_time_format),
                cmocka_unit_test(test_opts),            cmocka_unit_test(test_tail_offset),
                cmocka_unit_test(test_read_selection),  cmocka_unit_test(test_follow),
                cmocka_unit_test(test_quantity),        cmocka_unit_test(test_rotate_not_needed),
                cmocka_unit_test(test_authz_attributes), cmocka_unit_test(test_http_helpers),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
