/* SPDX-License-Identifier: Apache-2.0 */
/* The kube-proxy applet. For now: configuration, API connection, Service/EndpointSlice/
 * Node informers, /healthz and /metrics. nftables programming arrives with the
 * kube-proxy issue. */
#include "proxy.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/time.h>

#include "../core/httpd.h"
#include "../core/watch.h"
#include "health.h"
#include "model.h"
#include "proxier.h"
#include "../core/log.h"
#include "../core/metrics.h"
#include "../core/signals.h"

/* Services and slices that belong to another proxy are not ours, nor are the
 * EndpointSlices of headless services (upstream v1.36 still programs a Service that
 * carries the headless label but has a ClusterIP). */
#define PROXY_SERVICE_SELECTOR "!service.kubernetes.io/service-proxy-name"
#define PROXY_SLICE_SELECTOR "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless"
#define FULL_SYNC_PERIOD_MS (3600 * 1000) /* upstream's FullSyncPeriod */

static void register_metrics(struct proxy *p);

struct proxy {
        proxy_config cfg;
        kn_common_opts common;
        kn_env *env; /* borrowed */
        char *node_name;
        kn_informer *services, *slices, *node, *servicecidrs;
        kn_httpd *healthz, *metrics_srv;
        kn_metrics *metrics;
        struct {
                kn_metric *sync, *sync_full, *sync_partial, *npl, *last_ts, *last_queued, *failures, *no_local,
                        *healthz, *livez, *conntrack_deleted, *svc_changes, *ep_changes,
                        *conflicts, *quarantined;
        } m;

        pthread_mutex_t mu; /* guards everything below */
        pthread_cond_t cond;
        pthread_t thread;
        bool thread_started, stop;
        model model;
        bool services_synced, slices_synced, node_changed;
        int64_t queued_ms;      /* wall-clock ms of the oldest unsynced change, 0 = none */
        int64_t last_sync_ms;   /* monotonic */
        int64_t last_full_ms;   /* monotonic */
        int64_t last_updated_ms;/* wall clock of the last successful sync */
        long retry_ms;
        bool node_eligible;
        kn_addr node_ips[8];
        size_t n_node_ips;
        char *node_pod_cidrs;   /* spec.podCIDRs, comma-joined (detectLocalMode: NodeCIDR) */
        char *node_zone;        /* label topology.kubernetes.io/zone */
        kn_hashmap service_cidrs; /* ServiceCIDR name -> comma-joined spec.cidrs */
        proxier *px[2];
        size_t n_px;
        kn_hashmap hc;          /* "port" -> proxy_hc */
        proxy_health health;    /* what the health servers answer from, published after each sync */
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

        pthread_mutex_init(&p->mu, NULL);
        {
                pthread_condattr_t ca;
                pthread_condattr_init(&ca);
                pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
                pthread_cond_init(&p->cond, &ca);
                pthread_condattr_destroy(&ca);
        }
        register_metrics(p);

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
        if (p->cfg.detect_local_mode && *p->cfg.detect_local_mode &&
            strcmp(p->cfg.detect_local_mode, "ClusterCIDR") != 0 && strcmp(p->cfg.detect_local_mode, "NodeCIDR") != 0 &&
            strcmp(p->cfg.detect_local_mode, "BridgeInterface") != 0 &&
            strcmp(p->cfg.detect_local_mode, "InterfaceNamePrefix") != 0) {
                kn_err("unknown detectLocalMode \"%s\" (ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix)",
                       p->cfg.detect_local_mode);
                proxy_free(p);
                return 1;
        }
        if (p->cfg.masquerade_bit < 0 || p->cfg.masquerade_bit > 31) {
                kn_err("nftables.masqueradeBit must be within 0-31, not %lld", (long long)p->cfg.masquerade_bit);
                proxy_free(p);
                return 1;
        }
        p->node_name = kn_node_name(p->cfg.hostname_override);
        model_init(&p->model, p->node_name);
        *ret = p;
        return KN_PARSE_CONTINUE;
}

const proxy_config *proxy_get_config(const proxy *p) { return &p->cfg; }

static int64_t wall_ms(void)
{
        struct timeval tv;
        gettimeofday(&tv, NULL);
        return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void metrics(void *u, const kn_http_request *req, kn_http_response *resp)
{
        proxy *p = u;
        (void)req;
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        kn_metrics_render(p->metrics, &resp->body);
}

static void plain_ok(void *u, const kn_http_request *req, kn_http_response *resp)
{
        (void)u, (void)req;
        kn_buf_printf(&resp->body, "ok");
}

static void proxy_mode(void *u, const kn_http_request *req, kn_http_response *resp)
{
        (void)u, (void)req;
        kn_buf_printf(&resp->body, "nftables");
}

static int serve(proxy *p, const char *addr, kn_httpd **ret, const char *what)
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
        return 0;
}

/* ---- per-service health checks (healthCheckNodePort, externalTrafficPolicy: Local) ---- */

static void hc_free(void *v) { proxy_hc_free(v); }

/* Called with p->mu held, after a sync: one server per healthCheckNodePort, its
 * count of local ready endpoints updated. The servers never take p->mu. */
static void hc_sync(proxy *p)
{
        kn_hashmap want = {0};
        const char *key;
        void *v;

        for (size_t it = 0; kn_hashmap_next(&p->model.services, &it, &key, &v);) {
                const model_service *s = v;
                char port[16];
                proxy_hc *h;
                int local = 0;
                if (!s->etp_local || !s->health_check_node_port)
                        continue;
                for (size_t i = 0; i < s->n_ports && !local; i++)
                        for (int f = 0; f < 2; f++) {
                                model_ep *eps = NULL;
                                size_t n = model_endpoints(&p->model, s, &s->ports[i], f ? AF_INET6 : AF_INET, &eps);
                                for (size_t k = 0; k < n; k++)
                                        local += eps[k].local && eps[k].ready;
                                free(eps);
                        }
                snprintf(port, sizeof(port), "%u", s->health_check_node_port);
                if (kn_hashmap_get(&want, port))
                        continue; /* two Services on one port: the API server forbids it; first one wins */
                h = kn_hashmap_remove(&p->hc, port);
                if (h && !proxy_hc_is(h, s->ns, s->name))
                        proxy_hc_free(TAKE_PTR(h)); /* the port changed hands */
                if (!h) {
                        kn_error err;
                        if (proxy_hc_new(&p->health, s->health_check_node_port, s->ns, s->name, &h, &err) < 0) {
                                kn_err("failed to start the health check server of service %s/%s on port %s: %s",
                                       s->ns, s->name, port, err.msg);
                                continue; /* tried again after the next sync */
                        }
                }
                proxy_hc_set_local(h, local);
                kn_hashmap_put(&want, port, h, NULL);
        }
        kn_hashmap_clear(&p->hc, hc_free);
        p->hc = want;
}

/* The health answers, after any change of what they are computed from (p->mu held). */
static void publish_health(proxy *p)
{
        atomic_store(&p->health.queued_ms, p->queued_ms);
        atomic_store(&p->health.last_updated_ms, p->last_updated_ms);
        atomic_store(&p->health.node_eligible, p->node_eligible);
}

/* ---- node addresses ---- */

static void node_changed(proxy *p, const cJSON *node, bool deleted)
{
        const cJSON *addrs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(node, "status"),
                                                              "addresses"), *it;
        bool eligible = !deleted && !kn_obj_str(node, "metadata.deletionTimestamp");
        _cleanup_free_ char *pods = NULL;
        kn_addr ips[8];
        size_t n = 0;

        const cJSON *alist = deleted ? NULL : addrs;
        cJSON_ArrayForEach(it, alist)
        {
                const char *t = kn_obj_str(it, "type"), *a = kn_obj_str(it, "address");
                if (n < KN_ARRAY_SIZE(ips) && kn_streq(t, "InternalIP") && a && kn_addr_parse(a, &ips[n]) >= 0)
                        n++;
        }
        {
                const cJSON *taints = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(node, "spec"),
                                                                       "taints");
                const cJSON *tlist = deleted ? NULL : taints;
                cJSON_ArrayForEach(it, tlist)
                if (kn_streq(kn_obj_str(it, "key"), "ToBeDeletedByClusterAutoscaler"))
                        eligible = false;
        }
        {
                const cJSON *pc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(node, "spec"),
                                                                   "podCIDRs");
                kn_buf b = {.max = 1024};
                const cJSON *plist = deleted ? NULL : pc;
                cJSON_ArrayForEach(it, plist)
                if (cJSON_IsString(it))
                        kn_buf_printf(&b, "%s%s", b.len ? "," : "", it->valuestring);
                pods = b.data ? b.data : kn_strdup("");
        }
        pthread_mutex_lock(&p->mu);
        p->node_eligible = eligible;
        publish_health(p);
        {
                const cJSON *labels = deleted ? NULL : kn_json_path(node, "metadata.labels");
                const cJSON *z = cJSON_GetObjectItemCaseSensitive(labels, "topology.kubernetes.io/zone");
                const char *zone = cJSON_IsString(z) ? z->valuestring : NULL;
                if (!kn_streq(zone, p->node_zone)) {
                        free(p->node_zone);
                        p->node_zone = kn_strdup(zone);
                        p->node_changed = true; /* upstream: a topology change means a full sync */
                        pthread_cond_signal(&p->cond);
                }
        }
        if (!kn_streq(pods, p->node_pod_cidrs)) {
                free(p->node_pod_cidrs);
                p->node_pod_cidrs = TAKE_PTR(pods);
                p->node_changed = true;
                pthread_cond_signal(&p->cond);
        }
        if (n != p->n_node_ips || memcmp(ips, p->node_ips, n * sizeof(kn_addr)) != 0) {
                memcpy(p->node_ips, ips, n * sizeof(kn_addr));
                p->n_node_ips = n;
                p->node_changed = true;
                pthread_cond_signal(&p->cond);
        }
        pthread_mutex_unlock(&p->mu);
}

static void node_add(void *u, const cJSON *o) { node_changed(u, o, false); }
static void node_update(void *u, const cJSON *old, const cJSON *o) { (void)old, node_changed(u, o, false); }
static void node_delete(void *u, const cJSON *o) { node_changed(u, o, true); }

/* Split the configured CIDR strings of FAMILY. */
static size_t cidrs_of(const char *list, int family, kn_cidr *out, size_t max)
{
        _cleanup_free_ char *copy = kn_strdup(list ? list : "");
        size_t n = 0;
        for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save)) {
                kn_cidr c;
                while (*tok == ' ')
                        tok++;
                if (kn_cidr_parse(tok, &c) >= 0 && c.addr.family == family)
                        out[n++] = c;
        }
        return n;
}

/* The rules configuration of one family (p->mu held). */
static void make_rules_config(proxy *p, int family, rules_config *rc, kn_cidr *cidrs, kn_addr *np_ips,
                              kn_cidr *svc_cidrs)
{
        char **npa = p->cfg.nodeport_addresses;
        bool primary = !npa || !npa[0];

        *rc = (rules_config){.family = family, .mark = 1u << p->cfg.masquerade_bit, .node_name = p->node_name,
                             .node_zone = p->node_zone,
                             .masquerade_all = p->cfg.masquerade_all, .cluster_cidrs = cidrs, .nodeport_ips = np_ips};
        {
                const char *mode = p->cfg.detect_local_mode && *p->cfg.detect_local_mode ? p->cfg.detect_local_mode
                                                                                         : "ClusterCIDR";
                if (strcmp(mode, "NodeCIDR") == 0)
                        rc->n_cluster_cidrs = cidrs_of(p->node_pod_cidrs, family, cidrs, 8);
                else if (strcmp(mode, "BridgeInterface") == 0)
                        rc->local_iface = p->cfg.bridge_interface && *p->cfg.bridge_interface ? p->cfg.bridge_interface
                                                                                           : NULL;
                else if (strcmp(mode, "InterfaceNamePrefix") == 0) {
                        rc->local_iface = p->cfg.interface_name_prefix && *p->cfg.interface_name_prefix
                                                  ? p->cfg.interface_name_prefix
                                                  : NULL;
                        rc->local_iface_prefix = true;
                } else
                        rc->n_cluster_cidrs = cidrs_of(p->cfg.cluster_cidr, family, cidrs, 8);
        }
        {
                const char *name;
                void *v;
                for (size_t it = 0; kn_hashmap_next(&p->service_cidrs, &it, &name, &v) && rc->n_service_cidrs < 8;)
                        rc->n_service_cidrs += cidrs_of(v, family, svc_cidrs + rc->n_service_cidrs,
                                                        8 - rc->n_service_cidrs);
                rc->service_cidrs = svc_cidrs;
        }
        {
                /* upstream's node IP: bindAddress, else the Node's first InternalIP, else loopback */
                kn_addr bind;
                if (p->cfg.bind_address && kn_addr_parse(p->cfg.bind_address, &bind) >= 0 && bind.family == family &&
                    !(family == AF_INET && bind.v4.s_addr == 0) &&
                    !(family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&bind.v6)))
                        rc->node_ip = bind;
                for (size_t i = 0; !rc->node_ip.family && i < p->n_node_ips; i++)
                        if (p->node_ips[i].family == family)
                                rc->node_ip = p->node_ips[i];
                if (!rc->node_ip.family)
                        kn_addr_parse(family == AF_INET ? "127.0.0.1" : "::1", &rc->node_ip);
        }
        for (char **a = npa; a && *a; a++) {
                kn_cidr c;
                if (strcmp(*a, "primary") == 0)
                        primary = true;
                else if (kn_cidr_parse(*a, &c) >= 0 && c.addr.family == family && c.prefix == 0)
                        rc->nodeport_all = true;
        }
        if (rc->nodeport_all)
                return;
        {
                /* The node's local addresses of this family, loopback excluded. */
                kn_addr local[64], bind;
                size_t n_local = 0;
                struct ifaddrs *ifa = NULL;

                if (getifaddrs(&ifa) == 0) {
                        for (struct ifaddrs *i = ifa; i && n_local < KN_ARRAY_SIZE(local); i = i->ifa_next) {
                                kn_addr a = {.family = family};
                                if (!i->ifa_addr || i->ifa_addr->sa_family != family)
                                        continue;
                                if (family == AF_INET)
                                        a.v4 = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
                                else
                                        a.v6 = ((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
                                if ((family == AF_INET && (ntohl(a.v4.s_addr) >> 24) == 127) ||
                                    (family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&a.v6)))
                                        continue;
                                local[n_local++] = a;
                        }
                        freeifaddrs(ifa);
                }
                /* "primary": the node IP (bindAddress overrides it), if it is really local */
                if (primary) {
                        const kn_addr *want = NULL;
                        if (p->cfg.bind_address && kn_addr_parse(p->cfg.bind_address, &bind) >= 0 &&
                            bind.family == family && !(family == AF_INET && bind.v4.s_addr == 0) &&
                            !(family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&bind.v6)))
                                want = &bind;
                        for (size_t i = 0; !want && i < p->n_node_ips; i++)
                                if (p->node_ips[i].family == family)
                                        want = &p->node_ips[i];
                        for (size_t i = 0; want && i < n_local; i++)
                                if (!memcmp(&local[i], want, sizeof(kn_addr))) {
                                        np_ips[rc->n_nodeport_ips++] = *want;
                                        break;
                                }
                }
                /* CIDR entries: every local address inside them. */
                for (size_t i = 0; i < n_local && rc->n_nodeport_ips < 16; i++)
                        for (char **c = npa; c && *c; c++) {
                                kn_cidr cc;
                                if (kn_cidr_parse(*c, &cc) >= 0 && kn_cidr_contains(&cc, &local[i])) {
                                        np_ips[rc->n_nodeport_ips++] = local[i];
                                        break;
                                }
                        }
        }
}

/* ---- informer handlers: update the model, wake the sync loop ---- */

static void changed(proxy *p)
{
        if (!p->queued_ms) {
                p->queued_ms = wall_ms();
                kn_metric_set(p->m.last_queued, NULL, (double)p->queued_ms / 1000.0);
                publish_health(p);
        }
        pthread_cond_signal(&p->cond);
}

enum change { SVC_UPDATE, SVC_DELETE, SLICE_UPDATE, SLICE_DELETE };

/* One informer event into the model, under the lock, and wake the sync loop. */
static void apply_change(proxy *p, enum change c, const cJSON *o)
{
        pthread_mutex_lock(&p->mu);
        switch (c) {
        case SVC_UPDATE:
                model_service_update(&p->model, o);
                break;
        case SVC_DELETE:
                model_service_delete(&p->model, o);
                break;
        case SLICE_UPDATE:
                model_slice_update(&p->model, o);
                break;
        case SLICE_DELETE:
                model_slice_delete(&p->model, o);
                break;
        }
        kn_metric_add(c == SVC_UPDATE || c == SVC_DELETE ? p->m.svc_changes : p->m.ep_changes, NULL, 1);
        changed(p);
        pthread_mutex_unlock(&p->mu);
}

static void svc_add(void *u, const cJSON *o) { apply_change(u, SVC_UPDATE, o); }
static void svc_update(void *u, const cJSON *old, const cJSON *o) { (void)old, apply_change(u, SVC_UPDATE, o); }
static void svc_delete(void *u, const cJSON *o) { apply_change(u, SVC_DELETE, o); }
static void slice_add(void *u, const cJSON *o) { apply_change(u, SLICE_UPDATE, o); }
static void slice_update(void *u, const cJSON *old, const cJSON *o) { (void)old, apply_change(u, SLICE_UPDATE, o); }
static void slice_delete(void *u, const cJSON *o) { apply_change(u, SLICE_DELETE, o); }
static void mark_synced(proxy *p, bool *flag)
{
        pthread_mutex_lock(&p->mu);
        *flag = true;
        changed(p);
        pthread_mutex_unlock(&p->mu);
}
static void svc_synced(void *u) { mark_synced(u, &((proxy *)u)->services_synced); }
static void slice_synced(void *u) { mark_synced(u, &((proxy *)u)->slices_synced); }

static void scidr_set(proxy *p, const cJSON *o, bool deleted)
{
        const char *name = kn_obj_str(o, "metadata.name");
        const cJSON *list = deleted ? NULL : kn_json_path(o, "spec.cidrs"), *it;
        kn_buf b = {.max = 1024};
        char *old;

        if (!name)
                return;
        cJSON_ArrayForEach(it, list)
        if (cJSON_IsString(it))
                kn_buf_printf(&b, "%s%s", b.len ? "," : "", it->valuestring);
        pthread_mutex_lock(&p->mu);
        if (b.data)
                kn_hashmap_put(&p->service_cidrs, name, b.data, (void **)&old);
        else
                old = kn_hashmap_remove(&p->service_cidrs, name);
        if (!kn_streq(old, b.data)) {
                p->node_changed = true; /* the static rules change: full sync */
                pthread_cond_signal(&p->cond);
        }
        pthread_mutex_unlock(&p->mu);
        free(old);
}
static void scidr_add(void *u, const cJSON *o) { scidr_set(u, o, false); }
static void scidr_update(void *u, const cJSON *old, const cJSON *o) { (void)old, scidr_set(u, o, false); }
static void scidr_delete(void *u, const cJSON *o) { scidr_set(u, o, true); }

/* Drop fields we never read before they are handed to us (memory at scale). */
static void trim(cJSON *obj)
{
        cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
        cJSON_DeleteItemFromObjectCaseSensitive(md, "managedFields");
        cJSON *ann = cJSON_GetObjectItemCaseSensitive(md, "annotations");
        cJSON_DeleteItemFromObjectCaseSensitive(ann, "kubectl.kubernetes.io/last-applied-configuration");
}

/* ---- the sync loop ---- */

static void observe_sync(proxy *p, int family, bool full, double secs)
{
        char l[32];
        snprintf(l, sizeof(l), "ip_family=\"%s\"", family == AF_INET6 ? "IPv6" : "IPv4");
        kn_metric_observe(p->m.sync, l, secs);
        kn_metric_observe(full ? p->m.sync_full : p->m.sync_partial, l, secs);
}

/* One family's sync, logged once its stale UDP flows are cleared too. */
struct synced {
        bool ok, full;
        int family;
        double secs;
        proxier_stats st;
};

/* Clear the UDP flows the syncs left stale, in one conntrack dump, WITHOUT p->mu held
 * (the dump of a large table takes a while; informers and health checks go on). */
static void clear_stale_flows(proxy *p, kn_conntrack_filter *f, size_t n, struct synced *res, size_t n_res)
{
        unsigned deleted[2] = {0, 0};
        kn_error err;

        if (n && kn_conntrack_delete_many(IPPROTO_UDP, f, n, deleted, &err) < 0)
                kn_v(2, "failed to clear stale UDP conntrack entries: %s", err.msg);
        for (size_t i = 0; i < n_res; i++) {
                char l[32];
                res[i].st.conntrack_deleted = deleted[res[i].family == AF_INET6];
                if (!res[i].ok)
                        continue;
                snprintf(l, sizeof(l), "ip_family=\"%s\"", res[i].family == AF_INET6 ? "IPv6" : "IPv4");
                kn_metric_add(p->m.conntrack_deleted, l, res[i].st.conntrack_deleted);
        }
}

static void sync_once(proxy *p)
{
        kn_hashmap dirty = model_take_dirty(&p->model);
        struct synced res[2] = {0};
        kn_conntrack_filter *stale = NULL;
        size_t n_dirty, n_stale = 0;
        int64_t trigger = p->model.oldest_trigger_ms, queued = p->queued_ms;
        bool failed = false;

        p->model.oldest_trigger_ms = 0;
        p->queued_ms = 0;
        if (p->node_changed) {
                for (size_t i = 0; i < p->n_px; i++) {
                        kn_cidr cidrs[8], svc_cidrs[8];
                        kn_addr ips[16];
                        rules_config rc;
                        make_rules_config(p, proxier_family(p->px[i]), &rc, cidrs, ips, svc_cidrs);
                        proxier_set_config(p->px[i], &rc);
                }
                p->node_changed = false;
        }
        if (kn_now_ms() - p->last_full_ms > FULL_SYNC_PERIOD_MS)
                for (size_t i = 0; i < p->n_px; i++)
                        proxier_need_full(p->px[i]);
        n_dirty = dirty.len;
        {
                size_t n_full = 0;
                for (size_t i = 0; i < p->n_px; i++)
                        n_full += proxier_wants_full(p->px[i]);
                if (n_full == p->n_px) /* full syncs only: the dirty set is not read */
                        kn_hashmap_clear(&dirty, NULL);
                if (n_full)
                        malloc_trim(0); /* what the lists left free, before the large batch is built */
        }
        for (size_t i = 0; i < p->n_px; i++) {
                int64_t t0 = kn_now_ms();
                proxier_stats st;
                kn_error err;
                bool full = false;
                char l[32];
                int r = proxier_sync(p->px[i], &p->model, &dirty, &full, &st, &err);
                int fam = proxier_family(p->px[i]);
                double secs = (double)(kn_now_ms() - t0) / 1000.0;

                snprintf(l, sizeof(l), "ip_family=\"%s\"", fam == AF_INET6 ? "IPv6" : "IPv4");
                res[i] = (struct synced){.ok = r >= 0, .full = full, .family = fam, .secs = secs, .st = st};
                {
                        kn_conntrack_filter *f = NULL;
                        size_t n = proxier_take_stale_flows(p->px[i], &f);
                        if (n) {
                                stale = kn_realloc(stale, (n_stale + n) * sizeof(*stale));
                                memcpy(stale + n_stale, f, n * sizeof(*f));
                                n_stale += n;
                        }
                        free(f);
                }
                if (r < 0) {
                        kn_err("failed to sync %s rules: %s", fam == AF_INET6 ? "IPv6" : "IPv4", err.msg);
                        kn_metric_add(p->m.failures, l, 1);
                        failed = true;
                        continue;
                }
                observe_sync(p, fam, full, secs);
                if (full) {
                        p->last_full_ms = kn_now_ms();
                        malloc_trim(0); /* a full sync's transaction is large and short-lived */
                }
                {
                        char lp[64];
                        snprintf(lp, sizeof(lp), "traffic_policy=\"internal\",%s", l);
                        kn_metric_set(p->m.no_local, lp, st.no_local_internal);
                        snprintf(lp, sizeof(lp), "traffic_policy=\"external\",%s", l);
                        kn_metric_set(p->m.no_local, lp, st.no_local_external);
                }
                kn_metric_set(p->m.conflicts, l, (double)st.conflicts);
                kn_metric_set(p->m.quarantined, l, (double)st.quarantined);
                kn_metric_set(p->m.last_ts, l, (double)wall_ms() / 1000.0);
                if (trigger && n_dirty) {
                        double lat = (double)(wall_ms() - trigger) / 1000.0;
                        kn_metric_observe(p->m.npl, l, lat < 0 ? 0 : lat);
                }
        }
        kn_hashmap_clear(&dirty, NULL);
        p->last_sync_ms = kn_now_ms();
        if (failed) {
                /* Keep the change queued: healthz turns unhealthy if this persists. */
                p->queued_ms = queued ? queued : wall_ms();
                p->retry_ms = p->retry_ms ? (p->retry_ms * 2 > p->cfg.sync_period ? p->cfg.sync_period : p->retry_ms * 2)
                                          : (p->cfg.min_sync_period > 0 ? p->cfg.min_sync_period : 1000);
        } else {
                p->retry_ms = 0;
                p->last_updated_ms = wall_ms();
        }
        hc_sync(p);
        publish_health(p);
        pthread_mutex_unlock(&p->mu);
        clear_stale_flows(p, stale, n_stale, res, p->n_px);
        free(stale);
        for (size_t i = 0; i < p->n_px; i++) {
                const proxier_stats *st = &res[i].st;
                if (res[i].ok)
                        kn_v(res[i].full || n_dirty ? 2 : 4,
                             "synced %s rules (%s, %zu services changed) in %.3fs (kernel commit %.3fs): %zu chains, "
                             "%zu rules, %zu elements, %u stale UDP flows cleared",
                             res[i].family == AF_INET6 ? "IPv6" : "IPv4", res[i].full ? "full" : "partial", n_dirty,
                             res[i].secs, (double)st->commit_ms / 1000.0, st->chains, st->rules, st->elems,
                             st->conntrack_deleted);
        }
        pthread_mutex_lock(&p->mu);
}

/* When the first quarantined Service is due to be tried again (monotonic), 0 = none. */
static int64_t next_retry(proxy *p)
{
        int64_t next = 0;
        for (size_t i = 0; i < p->n_px; i++) {
                int64_t t = proxier_next_retry_ms(p->px[i]);
                if (t && (!next || t < next))
                        next = t;
        }
        return next;
}

static bool wants_sync(proxy *p)
{
        int64_t retry;

        if (!p->services_synced || !p->slices_synced)
                return false;
        if (p->model.dirty.len || p->node_changed || p->retry_ms)
                return true;
        if ((retry = next_retry(p)) && retry <= kn_now_ms())
                return true;
        for (size_t i = 0; i < p->n_px; i++)
                if (proxier_wants_full(p->px[i]))
                        return true;
        return kn_now_ms() - p->last_full_ms > FULL_SYNC_PERIOD_MS;
}

static void *sync_thread(void *u)
{
        proxy *p = u;

        pthread_mutex_lock(&p->mu);
        while (!p->stop) {
                int64_t now = kn_now_ms(), next;
                long gap = p->retry_ms ? p->retry_ms : p->cfg.min_sync_period;

                if (wants_sync(p) && now - p->last_sync_ms >= gap) {
                        sync_once(p);
                        continue;
                }
                next = wants_sync(p) ? p->last_sync_ms + gap : now + p->cfg.sync_period;
                {
                        int64_t retry = next_retry(p);
                        if (retry && retry < next)
                                next = retry;
                }
                {
                        struct timespec ts = kn_deadline(next - now < 1 ? 1 : (long)(next - now));
                        pthread_cond_timedwait(&p->cond, &p->mu, &ts);
                }
        }
        pthread_mutex_unlock(&p->mu);
        return NULL;
}

static void register_metrics(proxy *p)
{
        double sb[15], npl[81];
        size_t n = 0;
        kn_buckets_exponential(0.001, 2, 15, sb);
        npl[n++] = 0;
        npl[n++] = 0.25;
        npl[n++] = 0.5;
        for (int i = 1; i <= 59; i++)
                npl[n++] = i;
        for (int i = 60; i <= 115; i += 5)
                npl[n++] = i;
        for (int i = 120; i <= 300; i += 30)
                npl[n++] = i;
        p->metrics = kn_metrics_new();
        p->m.sync = kn_metric_register(p->metrics, "kubeproxy_sync_proxy_rules_duration_seconds",
                                       "SyncProxyRules latency in seconds", KN_HISTOGRAM, sb, 15);
        p->m.sync_full = kn_metric_register(p->metrics, "kubeproxy_sync_full_proxy_rules_duration_seconds",
                                            "SyncProxyRules latency in seconds for full resyncs", KN_HISTOGRAM, sb, 15);
        p->m.sync_partial = kn_metric_register(p->metrics, "kubeproxy_sync_partial_proxy_rules_duration_seconds",
                                               "SyncProxyRules latency in seconds for partial resyncs", KN_HISTOGRAM,
                                               sb, 15);
        p->m.npl = kn_metric_register(p->metrics, "kubeproxy_network_programming_duration_seconds",
                                      "In Cluster Network Programming Latency in seconds", KN_HISTOGRAM, npl, n);
        p->m.last_ts = kn_metric_register(p->metrics, "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
                                          "The last time proxy rules were successfully synced", KN_GAUGE, NULL, 0);
        p->m.last_queued = kn_metric_register(p->metrics, "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
                                              "The last time a sync of proxy rules was queued", KN_GAUGE, NULL, 0);
        p->m.failures = kn_metric_register(p->metrics, "kubeproxy_sync_proxy_rules_nftables_sync_failures_total",
                                           "Cumulative proxy nftables sync failures", KN_COUNTER, NULL, 0);
        p->m.no_local = kn_metric_register(p->metrics, "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
                                           "Number of services with a Local traffic policy and no endpoints",
                                           KN_GAUGE, NULL, 0);
        p->m.healthz = p->health.healthz = kn_metric_register(p->metrics, "kubeproxy_proxy_healthz_total",
                                          "Cumulative proxy healthz HTTP status", KN_COUNTER, NULL, 0);
        p->m.livez = p->health.livez = kn_metric_register(p->metrics, "kubeproxy_proxy_livez_total",
                                        "Cumulative proxy livez HTTP status", KN_COUNTER, NULL, 0);
        p->m.conntrack_deleted = kn_metric_register(p->metrics, "kubeproxy_conntrack_reconciler_deleted_entries_total",
                                                    "Cumulative conntrack flows deleted", KN_COUNTER, NULL, 0);
        p->m.svc_changes = kn_metric_register(p->metrics, "kubeproxy_sync_proxy_rules_service_changes_total",
                                              "Cumulative proxy rules Service changes", KN_COUNTER, NULL, 0);
        p->m.ep_changes = kn_metric_register(p->metrics, "kubeproxy_sync_proxy_rules_endpoint_changes_total",
                                             "Cumulative proxy rules Endpoint changes", KN_COUNTER, NULL, 0);
        p->m.conflicts = kn_metric_register(p->metrics, "kubeproxy_sync_proxy_rules_service_conflicts",
                                            "Service keys (IP, port and protocol, NodePort, ClusterIP) not programmed "
                                            "because another Service owns them",
                                            KN_GAUGE, NULL, 0);
        p->m.quarantined = kn_metric_register(p->metrics, "kubeproxy_sync_proxy_rules_quarantined_services",
                                              "Services left out of the rules because the kernel refused them "
                                              "(tried again with back-off)",
                                              KN_GAUGE, NULL, 0);
}

/* Conntrack limit and timeouts, as upstream sets them. A host that refuses one (a
 * read-only /sys, a non-initial network namespace) gets a warning, not a failed start. */
static void set_conntrack(proxy *p)
{
        kn_conntrack_settings cs = {
                .max = kn_conntrack_max(p->cfg.conntrack_max_per_core, p->cfg.conntrack_min, 0),
                .tcp_established_s = p->cfg.conntrack_tcp_established / 1000,
                .tcp_close_wait_s = p->cfg.conntrack_tcp_close_wait / 1000,
                .udp_s = p->cfg.conntrack_udp / 1000,
                .udp_stream_s = p->cfg.conntrack_udp_stream / 1000,
                .tcp_be_liberal = p->cfg.conntrack_tcp_be_liberal,
        };
        kn_conntrack_apply(&cs);
}

#define PROXY_LIST_PAGE 5000

int proxy_start(proxy *p, kn_env *env)
{
        _cleanup_free_ char *nodesel = kn_asprintf("metadata.name=%s", p->node_name);
        /* Services and EndpointSlices come as protobuf: a fifth of JSON's encode and decode
         * time at scale. A protobuf page is held only encoded (~0.5 KB an object) while its
         * items are handed out one by one, so pages are large: fewer round trips at start. */
        kn_informer_opts sopts = {.label_selector = PROXY_SERVICE_SELECTOR, .keys_only = true, .transform = trim,
                                  .protobuf = true, .page_size = PROXY_LIST_PAGE};
        kn_informer_opts eopts = {.label_selector = PROXY_SLICE_SELECTOR, .keys_only = true, .transform = trim,
                                  .protobuf = true, .page_size = PROXY_LIST_PAGE};
        kn_informer_opts nopts = {.field_selector = nodesel};
        static const int fams[] = {AF_INET, AF_INET6};
        int r;

        p->env = env;
        for (size_t i = 0; i < 2; i++) {
                kn_error err;
                r = proxier_new(fams[i], &p->px[p->n_px], &err);
                if (r < 0) {
                        kn_err("failed to open nftables for %s: %s", i ? "IPv6" : "IPv4", err.msg);
                        return r;
                }
                p->n_px++;
        }
        set_conntrack(p);
        {
                char v[32];
                FILE *f = fopen("/proc/self/oom_score_adj", "we");
                snprintf(v, sizeof(v), "%lld\n", (long long)p->cfg.oom_score_adj);
                if (!f || fputs(v, f) < 0 || fclose(f) != 0)
                        kn_v(2, "failed to set oom_score_adj to %lld (ignored)", (long long)p->cfg.oom_score_adj);
        }
        p->node_changed = true;
        r = serve(p, p->cfg.healthz_bind_address, &p->healthz, "healthz");
        if (r >= 0)
                r = serve(p, p->cfg.metrics_bind_address, &p->metrics_srv, "metrics");
        if (r < 0)
                return r;
        atomic_store(&p->health.sync_period_ms, p->cfg.sync_period);
        if (p->healthz) {
                proxy_health_route(&p->health, p->healthz);
                kn_httpd_start(p->healthz);
        }
        if (p->metrics_srv) {
                kn_httpd_route(p->metrics_srv, "/metrics", metrics, p);
                kn_httpd_route(p->metrics_srv, "/healthz", plain_ok, p);
                kn_httpd_route(p->metrics_srv, "/proxyMode", proxy_mode, p);
                kn_httpd_start(p->metrics_srv);
        }
        r = -pthread_create(&p->thread, NULL, sync_thread, p);
        if (r < 0)
                return r;
        p->thread_started = true;
        p->services = kn_informers_get(env->informers, "v1", "services", NULL, &sopts);
        p->slices = kn_informers_get(env->informers, "discovery.k8s.io/v1", "endpointslices", NULL, &eopts);
        p->node = kn_informers_get(env->informers, "v1", "nodes", NULL, &nopts);
        kn_informer_add_handlers(p->services, &(kn_informer_handlers){svc_add, svc_update, svc_delete, svc_synced, p});
        kn_informer_add_handlers(p->slices,
                                 &(kn_informer_handlers){slice_add, slice_update, slice_delete, slice_synced, p});
        kn_informer_add_handlers(p->node, &(kn_informer_handlers){node_add, node_update, node_delete, NULL, p});
        p->servicecidrs = kn_informers_get(env->informers, "networking.k8s.io/v1", "servicecidrs", NULL, NULL);
        kn_informer_add_handlers(p->servicecidrs,
                                 &(kn_informer_handlers){scidr_add, scidr_update, scidr_delete, NULL, p});
        kn_informer_start(p->servicecidrs);
        kn_informer_start(p->services);
        kn_informer_start(p->slices);
        kn_informer_start(p->node);
        kn_info("kube-proxy %s (knode %s) started for node %s in nftables mode, API server %s", KN_KUBE_VERSION,
                kn_version_string, p->node_name, kn_api_server(env->api));
        return 0;
}

void proxy_stop(proxy *p)
{
        kn_httpd_free(TAKE_PTR(p->healthz));
        kn_httpd_free(TAKE_PTR(p->metrics_srv));
        if (p->thread_started) {
                pthread_mutex_lock(&p->mu);
                p->stop = true;
                pthread_cond_signal(&p->cond);
                pthread_mutex_unlock(&p->mu);
                pthread_join(p->thread, NULL);
                p->thread_started = false;
        }
}

void proxy_free(proxy *p)
{
        if (!p)
                return;
        proxy_stop(p);
        kn_hashmap_clear(&p->hc, hc_free);
        for (size_t i = 0; i < p->n_px; i++)
                proxier_free(p->px[i]);
        model_free(&p->model);
        kn_metrics_free(p->metrics);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cond);
        kn_fields_free(proxy_fields, proxy_n_fields, &p->cfg);
        kn_common_free(&p->common);
        free(p->node_name);
        free(p->node_pod_cidrs);
        free(p->node_zone);
        kn_hashmap_clear(&p->service_cidrs, free);
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
        if (p->cfg.cleanup) {
                for (int f = 0; f < 2; f++) {
                        kn_error e;
                        if (proxier_cleanup(f ? AF_INET6 : AF_INET, &e) < 0) {
                                kn_err("cleanup failed: %s", e.msg);
                                r = 1;
                        }
                }
                proxy_free(p);
                return r == 1 ? 1 : 0;
        }
        r = kn_env_new(p->cfg.kubeconfig, p->cfg.master, "kube-proxy", &env,
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
