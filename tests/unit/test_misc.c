/* SPDX-License-Identifier: Apache-2.0 */
/* hashmap, metrics, httpd and logging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <regex.h>
#include <stdio.h>
#include <sys/socket.h>

#include "hashmap.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"

static void test_hashmap(void **state)
{
        kn_hashmap m = {0};
        char key[32];
        void *old;
        size_t n = 0;
        const char *k;
        void *v;
        (void)state;
        for (long i = 0; i < 5000; i++) {
                snprintf(key, sizeof(key), "ns/obj-%ld", i);
                kn_hashmap_put(&m, key, (void *)(i + 1), &old);
                assert_null(old);
        }
        assert_int_equal(m.len, 5000);
        for (long i = 0; i < 5000; i += 2) {
                snprintf(key, sizeof(key), "ns/obj-%ld", i);
                assert_ptr_equal(kn_hashmap_remove(&m, key), (void *)(i + 1));
        }
        assert_int_equal(m.len, 2500);
        assert_null(kn_hashmap_get(&m, "ns/obj-0"));
        assert_ptr_equal(kn_hashmap_get(&m, "ns/obj-1"), (void *)2);
        kn_hashmap_put(&m, "ns/obj-1", (void *)99, &old);
        assert_ptr_equal(old, (void *)2);
        /* churn through tombstones */
        for (long r = 0; r < 20; r++)
                for (long i = 0; i < 1000; i++) {
                        snprintf(key, sizeof(key), "churn-%ld", i);
                        kn_hashmap_put(&m, key, (void *)1, NULL);
                        kn_hashmap_remove(&m, key);
                }
        for (size_t it = 0; kn_hashmap_next(&m, &it, &k, &v);)
                n++;
        assert_int_equal(n, 2500);
        kn_hashmap_clear(&m, NULL);
        assert_null(kn_hashmap_get(&m, "x"));
}

static void test_metrics(void **state)
{
        kn_metrics *m = kn_metrics_new();
        double b[] = {0.1, 1, 10};
        kn_metric *h = kn_metric_register(m, "kn_sync_seconds", "sync time", KN_HISTOGRAM, b, 3);
        kn_metric *c = kn_metric_register(m, "kn_events_total", "events", KN_COUNTER, NULL, 0);
        kn_metric *g = kn_metric_register(m, "kn_gauge", "a gauge", KN_GAUGE, NULL, 0);
        kn_buf out = {0};
        (void)state;
        kn_metric_observe(h, NULL, 0.05);
        kn_metric_observe(h, NULL, 5);
        kn_metric_add(c, "type=\"a\"", 2);
        kn_metric_add(c, "type=\"a\"", 1);
        kn_metric_set(g, NULL, 1.5);
        kn_metrics_render(m, &out);
        assert_non_null(strstr(out.data, "# TYPE kn_sync_seconds histogram\n"));
        assert_non_null(strstr(out.data, "kn_sync_seconds_bucket{le=\"0.10000000000000001\"} 1\n") ||
                        strstr(out.data, "kn_sync_seconds_bucket{le=\"0.1\"} 1\n"));
        assert_non_null(strstr(out.data, "kn_sync_seconds_bucket{le=\"10\"} 2\n"));
        assert_non_null(strstr(out.data, "kn_sync_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert_non_null(strstr(out.data, "kn_sync_seconds_count 2\n"));
        assert_non_null(strstr(out.data, "kn_events_total{type=\"a\"} 3\n"));
        assert_non_null(strstr(out.data, "kn_gauge 1.5\n"));
        assert_true(kn_metric_value(c, "type=\"a\"") == 3);
        kn_buf_free(&out);
        kn_metrics_free(m);
}

static void hello(void *u, const kn_http_request *req, kn_http_response *resp)
{
        (void)u;
        kn_buf_printf(&resp->body, "hello %s %s", req->path, req->query);
}

static int http_get(int port, const char *raw, char *out, size_t cap)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        size_t len = 0;
        ssize_t n;
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -1;
        if (raw)
                (void)!write(fd, raw, strlen(raw));
        while (len + 1 < cap && (n = read(fd, out + len, cap - 1 - len)) > 0)
                len += (size_t)n;
        out[len] = 0;
        close(fd);
        return (int)len;
}

static void test_httpd(void **state)
{
        kn_httpd *h;
        kn_error err;
        char buf[4096];
        int port;
        (void)state;
        assert_true(kn_httpd_new("bogus", &h, &err) < 0);
        assert_true(kn_httpd_new("127.0.0.1:99999", &h, &err) < 0);
        assert_int_equal(kn_httpd_new("127.0.0.1:0", &h, &err), 0);
        kn_httpd_route(h, "/healthz", hello, NULL);
        kn_httpd_route(h, "/prefix/", hello, NULL);
        assert_int_equal(kn_httpd_start(h), 0);
        port = kn_httpd_port(h);
        http_get(port, "GET /healthz?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", buf, sizeof(buf));
        assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
        assert_non_null(strstr(buf, "hello /healthz x=1"));
        http_get(port, "GET /prefix/abc HTTP/1.1\r\n\r\n", buf, sizeof(buf));
        assert_non_null(strstr(buf, "hello /prefix/abc"));
        http_get(port, "GET /nope HTTP/1.1\r\n\r\n", buf, sizeof(buf));
        assert_non_null(strstr(buf, "404"));
        http_get(port, "garbage\r\n\r\n", buf, sizeof(buf));
        assert_non_null(strstr(buf, "400"));
        {
                /* an oversized request gets 413, and the server keeps serving */
                char *big = malloc(20000);
                memset(big, 'a', 19999);
                big[19999] = 0;
                memcpy(big, "GET /", 5);
                http_get(port, big, buf, sizeof(buf));
                assert_non_null(strstr(buf, "413"));
                free(big);
        }
        http_get(port, "GET /healthz HTTP/1.1\r\n\r\n", buf, sizeof(buf));
        assert_non_null(strstr(buf, "200 OK"));
        kn_httpd_free(h);
}

static void big(void *u, const kn_http_request *req, kn_http_response *resp)
{
        (void)u, (void)req;
        for (int i = 0; i < 200000; i++)
                kn_buf_printf(&resp->body, "line %08d of a large body\n", i);
}

static int connect_port(int port)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

/* Idle clients, a client stuck mid-request and one that never reads its large response
 * do not delay anyone: /healthz answers at once (not after the 5 s read timeout), also when the idle
 * connections outnumber the server's slots. */
static void test_httpd_idle_clients(void **state)
{
        kn_httpd *h;
        kn_error err;
        char buf[4096];
        int port, idle[200], half, slow;
        (void)state;
        assert_int_equal(kn_httpd_new("127.0.0.1:0", &h, &err), 0);
        kn_httpd_route(h, "/healthz", hello, NULL);
        kn_httpd_route(h, "/big", big, NULL);
        assert_int_equal(kn_httpd_start(h), 0);
        port = kn_httpd_port(h);

        slow = connect_port(port);
        assert_true(write(slow, "GET /big HTTP/1.1\r\n\r\n", 21) == 21);
        half = connect_port(port);
        assert_true(write(half, "GET /healthz HTTP/1.1\r\nHost: a\r\n", 32) == 32);
        for (int round = 0; round < 2; round++) {
                /* round 1: more idle connections than the server has slots */
                size_t n = round ? KN_ARRAY_SIZE(idle) : 10;
                for (size_t i = 0; i < n; i++)
                        idle[i] = connect_port(port);
                for (int k = 0; k < 5; k++) {
                        int64_t t0 = kn_now_ms();
                        assert_true(http_get(port, "GET /healthz HTTP/1.1\r\n\r\n", buf, sizeof(buf)) > 0);
                        assert_non_null(strstr(buf, "200 OK"));
                        assert_true(kn_now_ms() - t0 < 2000); /* an idle client used to cost ~5 s */
                }
                for (size_t i = 0; i < n; i++)
                        close(idle[i]);
                if (round)
                        break;
                /* the half-written request completes; the slow reader gets its whole body */
                assert_true(write(half, "\r\n", 2) == 2);
                assert_true(read(half, buf, sizeof(buf)) > 0);
                assert_non_null(strstr(buf, "hello /healthz"));
                close(half);
                {
                        static char body[8 << 20];
                        size_t total = 0;
                        ssize_t r;
                        while (total < sizeof(body) - 1 && (r = read(slow, body + total, sizeof(body) - 1 - total)) > 0)
                                total += (size_t)r;
                        body[total] = 0;
                        close(slow);
                        assert_true(total > 5000000);
                        assert_non_null(strstr(body + total - 40, "line 00199999 of a large body\n"));
                }
        }
        kn_httpd_free(h);
}

static void test_log_format(void **state)
{
        int p[2];
        char buf[1024] = "";
        regex_t re;
        ssize_t n;
        (void)state;
        assert_int_equal(pipe(p), 0);
        kn_log_set_fd(p[1]);
        kn_log_set_verbosity(0);
        kn_info("hello %d", 42);
        kn_v(3, "hidden");
        kn_log_set_format(KN_LOG_JSON);
        kn_err("quote \" and\nnewline");
        kn_log_set_format(KN_LOG_TEXT);
        kn_log_set_fd(-1);
        close(p[1]);
        n = read(p[0], buf, sizeof(buf) - 1);
        close(p[0]);
        assert_true(n > 0);
        assert_int_equal(regcomp(&re, "^I[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6} +[0-9]+ test_misc\\.c:[0-9]+\\] hello 42\n",
                                 REG_EXTENDED), 0);
        assert_int_equal(regexec(&re, buf, 0, NULL, 0), 0);
        regfree(&re);
        assert_null(strstr(buf, "hidden"));
        assert_non_null(strstr(buf, "\"msg\":\"quote \\\" and\\u000anewline\""));
        assert_non_null(strstr(buf, "\"caller\":\"test_misc.c:"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hashmap),
                cmocka_unit_test(test_metrics),
                cmocka_unit_test(test_httpd),
                cmocka_unit_test(test_httpd_idle_clients),
                cmocka_unit_test(test_log_format),
        };
        return cmocka_run_group_tests_name("misc", tests, NULL, NULL);
}
