/* SPDX-License-Identifier: Apache-2.0 */
/* The kube-proxy applet. For now: configuration, API connection, Service/EndpointSlice/
 * Node informers, /healthz and /metrics. nftables programming arrives with the
 * kube-proxy issue. */
#include "proxy.h"

#include <stdio.h>

#include "../core/httpd.h"
#include "../core/log.h"
#include "../core/metrics.h"
#include "../core/signals.h"

/* Services and slices that belong to another proxy, and headless services, are not ours. */
#define PROXY_LABEL_SELECTOR "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless"

struct proxy {
        proxy_config cfg;
        kn_common_opts common;
        kn_env *env; /* borrowed */
        char *node_name;
        kn_informer *services, *slices, *node;
        kn_httpd *healthz, *metrics_srv;
        kn_metrics *metrics;
};

const kn_applet_spec proxy_spec = {
        .name = "kube-proxy",
        .usage = "kube-proxy (knode): programs the kernel's nftables so that Services reach their\n"
                 "endpoints (ClusterIP, NodePort, LoadBalancer, external IPs).",
        .fields = proxy_fields,
        .config_flag = "config",
        .api_version = PROXY_CONFIG_API_VERSION,
        .kind = PROXY_CONFIG_KIND,
};

int proxy_new(int argc, char **argv, proxy **ret)
{
        kn_applet_spec spec = proxy_spec;
        proxy *p = kn_calloc(1, sizeof(*p));
        kn_flags fl = {0};
        int r;

        spec.n_fields = proxy_n_fields;
        r = kn_applet_parse(&spec, argc, argv, &p->cfg, &p->common, &fl);
        if (r != KN_PARSE_CONTINUE) {
                proxy_free(p);
                return r;
        }
        /* Upstream: the iptables sync flags set the periods in every mode but ipvs. */
        if (kn_flags_given(&fl, "iptables-sync-period"))
                p->cfg.sync_period = p->cfg.ipt_sync_period;
        if (kn_flags_given(&fl, "iptables-min-sync-period"))
                p->cfg.min_sync_period = p->cfg.ipt_min_sync_period;
        kn_flags_free(&fl);
        if (p->cfg.mode && *p->cfg.mode && strcmp(p->cfg.mode, "nftables") != 0) {
                kn_err("proxy mode \"%s\" is not supported: knode implements the nftables mode only", p->cfg.mode);
                proxy_free(p);
                return 1;
        }
        if (p->cfg.masquerade_bit < 0 || p->cfg.masquerade_bit > 31) {
                kn_err("nftables.masqueradeBit must be within 0-31, not %lld", (long long)p->cfg.masquerade_bit);
                proxy_free(p);
                return 1;
        }
        p->node_name = kn_node_name(p->cfg.hostname_override);
        *ret = p;
        return KN_PARSE_CONTINUE;
}

const proxy_config *proxy_get_config(const proxy *p) { return &p->cfg; }

static void healthz(void *u, const kn_http_request *req, kn_http_response *resp)
{
        proxy *p = u;
        bool ok = kn_informer_synced(p->services) && kn_informer_synced(p->slices);
        (void)req;
        resp->status = ok ? 200 : 503;
        resp->content_type = "application/json";
        kn_buf_printf(&resp->body, "{\"nodeName\": \"%s\", \"nodeEligible\": true}", p->node_name);
}

static void metrics(void *u, const kn_http_request *req, kn_http_response *resp)
{
        proxy *p = u;
        (void)req;
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        kn_metrics_render(p->metrics, &resp->body);
}

static int serve(const char *addr, kn_httpd **ret, const char *what, kn_http_handler fn, const char *route,
                 proxy *p)
{
        kn_error err;
        int r;

        if (!addr || !*addr)
                return 0;
        r = kn_httpd_new(addr, ret, &err);
        if (r < 0) {
                kn_err("failed to start the %s server: %s", what, err.msg);
                return p->cfg.bind_address_hard_fail ? r : 0;
        }
        kn_httpd_route(*ret, route, fn, p);
        if (fn == healthz)
                kn_httpd_route(*ret, "/livez", fn, p);
        return kn_httpd_start(*ret);
}

int proxy_start(proxy *p, kn_env *env)
{
        _cleanup_free_ char *nodesel = kn_asprintf("metadata.name=%s", p->node_name);
        kn_informer_opts sopts = {.label_selector = PROXY_LABEL_SELECTOR};
        kn_informer_opts nopts = {.field_selector = nodesel};
        int r;

        p->env = env;
        p->metrics = kn_metrics_new();
        r = serve(p->cfg.healthz_bind_address, &p->healthz, "healthz", healthz, "/healthz", p);
        if (r >= 0)
                r = serve(p->cfg.metrics_bind_address, &p->metrics_srv, "metrics", metrics, "/metrics", p);
        if (r < 0)
                return r;
        p->services = kn_informers_get(env->informers, "v1", "services", NULL, &sopts);
        p->slices = kn_informers_get(env->informers, "discovery.k8s.io/v1", "endpointslices", NULL, &sopts);
        p->node = kn_informers_get(env->informers, "v1", "nodes", NULL, &nopts);
        kn_informer_start(p->services);
        kn_informer_start(p->slices);
        kn_informer_start(p->node);
        kn_info("kube-proxy %s (knode %s) started for node %s in nftables mode, API server %s", KN_KUBE_VERSION,
                KN_VERSION, p->node_name, kn_api_server(env->api));
        return 0;
}

void proxy_stop(proxy *p)
{
        kn_httpd_free(TAKE_PTR(p->healthz));
        kn_httpd_free(TAKE_PTR(p->metrics_srv));
}

void proxy_free(proxy *p)
{
        if (!p)
                return;
        proxy_stop(p);
        kn_metrics_free(p->metrics);
        kn_fields_free(proxy_fields, proxy_n_fields, &p->cfg);
        kn_common_free(&p->common);
        free(p->node_name);
        free(p);
}

int proxy_main(int argc, char **argv)
{
        proxy *p = NULL;
        kn_env *env = NULL;
        kn_error err;
        int r;

        kn_signals_block();
        r = proxy_new(argc - 1, argv + 1, &p);
        if (r != KN_PARSE_CONTINUE)
                return r;
        if (p->cfg.write_config_to) {
                _cleanup_cjson_ cJSON *j = kn_fields_to_json(proxy_fields, proxy_n_fields, &p->cfg,
                                                           PROXY_CONFIG_API_VERSION, PROXY_CONFIG_KIND);
                _cleanup_free_ char *s = cJSON_Print(j);
                FILE *f = fopen(p->cfg.write_config_to, "we");
                r = f && fprintf(f, "%s\n", s) > 0 ? 0 : 1;
                if (f)
                        fclose(f);
                if (r)
                        kn_err("failed to write %s", p->cfg.write_config_to);
                proxy_free(p);
                return r;
        }
        r = kn_env_new(p->cfg.kubeconfig, p->cfg.master, "kube-proxy/" KN_KUBE_VERSION " knode/" KN_VERSION, &env,
                       &err);
        if (r < 0) {
                kn_err("failed to set up the API client: %s", err.msg);
                proxy_free(p);
                return 1;
        }
        r = proxy_start(p, env);
        if (r >= 0)
                kn_info("received signal %d, shutting down", kn_signals_wait());
        proxy_stop(p);
        kn_env_free(env);
        proxy_free(p);
        return r < 0 ? 1 : 0;
}
