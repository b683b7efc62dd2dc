/* SPDX-License-Identifier: Apache-2.0 */
#include "health.h"

#include <stdio.h>
#include <time.h>

struct proxy_hc {
        kn_httpd *httpd;
        char *ns, *name;
        _Atomic int local_endpoints;
        const proxy_health *health;
};

bool proxy_health_healthy(const proxy_health *h, int64_t now)
{
        int64_t queued = atomic_load(&h->queued_ms);
        /* upstream: unhealthy when a queued change has waited longer than 2 x syncPeriod */
        return !(queued && now - queued > 2 * atomic_load(&h->sync_period_ms));
}

static void health(proxy_health *h, bool check_node, kn_http_response *resp)
{
        char last[32], now_s[32], code[32];
        int64_t now = kn_wall_ms();
        bool healthy = proxy_health_healthy(h, now), eligible = atomic_load(&h->node_eligible);

        kn_format_time(healthy ? now : atomic_load(&h->last_updated_ms), false, last, sizeof(last));
        kn_format_time(now, false, now_s, sizeof(now_s));
        resp->status = healthy && (!check_node || eligible) ? 200 : 503;
        resp->content_type = "application/json";
        snprintf(resp->extra_headers, sizeof(resp->extra_headers), "X-Content-Type-Options: nosniff\r\n");
        kn_buf_printf(&resp->body, "{\"lastUpdated\": \"%s\",\"currentTime\": \"%s\"", last, now_s);
        if (check_node)
                kn_buf_printf(&resp->body, ", \"nodeEligible\": %s", eligible ? "true" : "false");
        kn_buf_printf(&resp->body, ", \"healthy\": %s}", healthy ? "true" : "false");
        snprintf(code, sizeof(code), "code=\"%d\"", resp->status);
        if (check_node ? h->healthz : h->livez)
                kn_metric_add(check_node ? h->healthz : h->livez, code, 1);
}

static void healthz(void *u, const kn_http_request *req, kn_http_response *resp)
{
        (void)req;
        health(u, true, resp);
}

static void livez(void *u, const kn_http_request *req, kn_http_response *resp)
{
        (void)req;
        health(u, false, resp);
}

void proxy_health_route(proxy_health *h, kn_httpd *srv)
{
        kn_httpd_route(srv, "/healthz", healthz, h);
        kn_httpd_route(srv, "/livez", livez, h);
}

static void hc_handler(void *u, const kn_http_request *req, kn_http_response *resp)
{
        proxy_hc *hc = u;
        int n = atomic_load(&hc->local_endpoints);
        bool healthy = proxy_health_healthy(hc->health, kn_wall_ms());

        (void)req;
        resp->status = n > 0 && healthy ? 200 : 503;
        resp->content_type = "application/json";
        snprintf(resp->extra_headers, sizeof(resp->extra_headers),
                 "X-Content-Type-Options: nosniff\r\nX-Load-Balancing-Endpoint-Weight: %d\r\n", n);
        kn_buf_printf(&resp->body,
                      "{\n\t\"service\": {\n\t\t\"namespace\": \"%s\",\n\t\t\"name\": \"%s\"\n\t},\n"
                      "\t\"localEndpoints\": %d,\n\t\"serviceProxyHealthy\": %s\n}",
                      hc->ns, hc->name, n, healthy ? "true" : "false");
}

int proxy_hc_new(const proxy_health *h, unsigned port, const char *ns, const char *name, proxy_hc **ret,
                 kn_error *err)
{
        char addr[32];
        proxy_hc *hc;
        int r;

        hc = kn_calloc(1, sizeof(*hc));
        hc->health = h;
        hc->ns = kn_strdup(ns);
        hc->name = kn_strdup(name);
        /* ":port" is one dual-stack socket; without IPv6 in the kernel, IPv4 only */
        snprintf(addr, sizeof(addr), ":%u", port);
        r = kn_httpd_new(addr, &hc->httpd, err);
        if (r == -EAFNOSUPPORT) {
                snprintf(addr, sizeof(addr), "0.0.0.0:%u", port);
                r = kn_httpd_new(addr, &hc->httpd, err);
        }
        if (r < 0) {
                proxy_hc_free(hc);
                return r;
        }
        kn_httpd_route(hc->httpd, "/", hc_handler, hc);
        r = kn_httpd_start(hc->httpd);
        if (r < 0) {
                proxy_hc_free(hc);
                return kn_error_set(err, r, "failed to start the server thread: %s", strerror(-r));
        }
        *ret = hc;
        return 0;
}

bool proxy_hc_is(const proxy_hc *hc, const char *ns, const char *name)
{
        return kn_streq(hc->ns, ns) && kn_streq(hc->name, name);
}

void proxy_hc_set_local(proxy_hc *hc, int n) { atomic_store(&hc->local_endpoints, n); }

int proxy_hc_port(const proxy_hc *hc) { return kn_httpd_port(hc->httpd); }

void proxy_hc_free(proxy_hc *hc)
{
        if (!hc)
                return;
        kn_httpd_free(hc->httpd);
        free(hc->ns);
        free(hc->name);
        free(hc);
}
