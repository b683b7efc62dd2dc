/* SPDX-License-Identifier: Apache-2.0 */
/* kube-proxy's health servers (proxy/health.c): upstream's answers, no wait on a sync,
 * and healthCheckNodePort servers on IPv4 and IPv6 (in a private network namespace). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../../proxy/health.h"
#include "need.h"

static bool have_netns; /* set in main after unshare(CLONE_NEWNET) */

static int64_t wall_ms(void)
{
        struct timeval tv;
        gettimeofday(&tv, NULL);
        return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* GET PATH from HOST:PORT; returns the status code, the whole response in OUT. */
static int get(const char *host, int port, const char *path, char *out, size_t cap)
{
        struct sockaddr_storage ss = {0};
        socklen_t len;
        char req[256];
        size_t n = 0;
        ssize_t r;
        int fd, code = -1;

        if (strchr(host, ':')) {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
                s6->sin6_family = AF_INET6;
                s6->sin6_port = htons((uint16_t)port);
                inet_pton(AF_INET6, host, &s6->sin6_addr);
                len = sizeof(*s6);
        } else {
                struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
                s4->sin_family = AF_INET;
                s4->sin_port = htons((uint16_t)port);
                inet_pton(AF_INET, host, &s4->sin_addr);
                len = sizeof(*s4);
        }
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len) < 0) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
        (void)!write(fd, req, strlen(req));
        while (n + 1 < cap && (r = read(fd, out + n, cap - 1 - n)) > 0)
                n += (size_t)r;
        out[n] = 0;
        close(fd);
        sscanf(out, "HTTP/1.1 %d", &code);
        return code;
}

/* What the sync loop does: publish under the proxy mutex, then hold it for a long sync. */
struct fake_sync {
        pthread_mutex_t mu;
        proxy_health *h;
        int ms;
        bool holding;
        pthread_mutex_t flag_mu;
        pthread_cond_t flag;
};

static void *fake_sync(void *u)
{
        struct fake_sync *s = u;
        pthread_mutex_lock(&s->mu);
        atomic_store(&s->h->queued_ms, 0);
        atomic_store(&s->h->last_updated_ms, wall_ms());
        pthread_mutex_lock(&s->flag_mu);
        s->holding = true;
        pthread_cond_signal(&s->flag);
        pthread_mutex_unlock(&s->flag_mu);
        usleep((useconds_t)s->ms * 1000);
        pthread_mutex_unlock(&s->mu);
        return NULL;
}

static void test_healthz_answers_during_sync(void **state)
{
        proxy_health h = {.sync_period_ms = 30000, .node_eligible = true};
        struct fake_sync s = {.mu = PTHREAD_MUTEX_INITIALIZER, .h = &h, .ms = 1500,
                              .flag_mu = PTHREAD_MUTEX_INITIALIZER, .flag = PTHREAD_COND_INITIALIZER};
        kn_httpd *srv;
        proxy_hc *hc;
        kn_error err;
        pthread_t t;
        char buf[2048];
        int port;
        (void)state;

        assert_int_equal(kn_httpd_new("127.0.0.1:0", &srv, &err), 0);
        proxy_health_route(&h, srv);
        assert_int_equal(kn_httpd_start(srv), 0);
        port = kn_httpd_port(srv);
        assert_int_equal(proxy_hc_new(&h, 0, "ns", "svc", &hc, &err), 0);
        proxy_hc_set_local(hc, 2);

        pthread_create(&t, NULL, fake_sync, &s);
        pthread_mutex_lock(&s.flag_mu);
        while (!s.holding)
                pthread_cond_wait(&s.flag, &s.flag_mu);
        pthread_mutex_unlock(&s.flag_mu);
        for (int i = 0; i < 5; i++) {
                int64_t t0 = kn_now_ms();
                assert_int_equal(get("127.0.0.1", port, "/healthz", buf, sizeof(buf)), 200);
                assert_non_null(strstr(buf, "\"healthy\": true"));
                assert_int_equal(get("127.0.0.1", port, "/livez", buf, sizeof(buf)), 200);
                assert_int_equal(get("127.0.0.1", proxy_hc_port(hc), "/", buf, sizeof(buf)), 200);
                assert_non_null(strstr(buf, "\"localEndpoints\": 2"));
                assert_true(kn_now_ms() - t0 < 2000); /* not blocked behind the sync */
        }
        /* the sync is still running: nothing above waited for it */
        assert_int_equal(pthread_mutex_trylock(&s.mu), EBUSY);
        pthread_join(t, NULL);
        proxy_hc_free(hc);
        kn_httpd_free(srv);
}

/* Upstream's answers: a change queued for more than 2 x syncPeriod is unhealthy (and
 * lastUpdated is the last sync); no Node fails /healthz but not /livez; a
 * healthCheckNodePort without local endpoints is 503. */
static void test_health_answers(void **state)
{
        proxy_health h = {.sync_period_ms = 1000, .node_eligible = true};
        kn_httpd *srv;
        proxy_hc *hc;
        kn_error err;
        char buf[2048];
        int port;
        (void)state;

        assert_int_equal(kn_httpd_new("127.0.0.1:0", &srv, &err), 0);
        proxy_health_route(&h, srv);
        assert_int_equal(kn_httpd_start(srv), 0);
        port = kn_httpd_port(srv);
        assert_int_equal(proxy_hc_new(&h, 0, "ns", "svc", &hc, &err), 0);
        assert_true(proxy_hc_is(hc, "ns", "svc") && !proxy_hc_is(hc, "ns", "other"));

        atomic_store(&h.queued_ms, wall_ms() - 1000); /* queued, within 2 x syncPeriod */
        assert_int_equal(get("127.0.0.1", port, "/healthz", buf, sizeof(buf)), 200);
        atomic_store(&h.last_updated_ms, (int64_t)1700000000000);
        atomic_store(&h.queued_ms, wall_ms() - 2500);
        assert_int_equal(get("127.0.0.1", port, "/healthz", buf, sizeof(buf)), 503);
        assert_non_null(strstr(buf, "\"lastUpdated\": \"2023-11-14T22:13:20Z\""));
        assert_non_null(strstr(buf, "\"healthy\": false"));
        assert_int_equal(get("127.0.0.1", port, "/livez", buf, sizeof(buf)), 503);
        proxy_hc_set_local(hc, 3);
        assert_int_equal(get("127.0.0.1", proxy_hc_port(hc), "/", buf, sizeof(buf)), 503);
        assert_non_null(strstr(buf, "\"serviceProxyHealthy\": false"));

        atomic_store(&h.queued_ms, 0);
        atomic_store(&h.node_eligible, false);
        assert_int_equal(get("127.0.0.1", port, "/healthz", buf, sizeof(buf)), 503);
        assert_non_null(strstr(buf, "\"nodeEligible\": false"));
        assert_int_equal(get("127.0.0.1", port, "/livez", buf, sizeof(buf)), 200);
        assert_int_equal(get("127.0.0.1", proxy_hc_port(hc), "/", buf, sizeof(buf)), 200);
        assert_non_null(strstr(buf, "X-Load-Balancing-Endpoint-Weight: 3"));
        proxy_hc_set_local(hc, 0);
        assert_int_equal(get("127.0.0.1", proxy_hc_port(hc), "/", buf, sizeof(buf)), 503);
        assert_non_null(strstr(buf, "\"localEndpoints\": 0"));
        proxy_hc_free(hc);
        kn_httpd_free(srv);
}

/* In a private network namespace with IPv4 and IPv6 addresses, the
 * healthCheckNodePort server answers on both families, even with bindv6only set. */
static void test_hc_dual_stack(void **state)
{
        proxy_health h = {.sync_period_ms = 30000, .node_eligible = true};
        proxy_hc *hc;
        kn_error err;
        char buf[2048];
        (void)state;

        need(have_netns, "a private network namespace (root)");
        assert_int_equal(system("ip addr add 192.0.2.7/32 dev lo && "
                                "ip addr add 2001:db8::7/128 dev lo nodad && "
                                "sysctl -qw net.ipv6.bindv6only=1"),
                         0);
        assert_int_equal(proxy_hc_new(&h, 0, "ns", "svc", &hc, &err), 0);
        proxy_hc_set_local(hc, 1);
        assert_int_equal(get("192.0.2.7", proxy_hc_port(hc), "/", buf, sizeof(buf)), 200);
        assert_int_equal(get("2001:db8::7", proxy_hc_port(hc), "/", buf, sizeof(buf)), 200);
        assert_int_equal(get("::1", proxy_hc_port(hc), "/", buf, sizeof(buf)), 200);
        assert_int_equal(get("127.0.0.1", proxy_hc_port(hc), "/", buf, sizeof(buf)), 200);
        assert_non_null(strstr(buf, "\"localEndpoints\": 1"));
        proxy_hc_free(hc);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_healthz_answers_during_sync),
                cmocka_unit_test(test_health_answers),
                cmocka_unit_test(test_hc_dual_stack),
        };
        if (geteuid() == 0 && unshare(CLONE_NEWNET) == 0 && system("ip link set lo up") == 0)
                have_netns = true;
        return cmocka_run_group_tests_name("health", tests, NULL, NULL);
}
