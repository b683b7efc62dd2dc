/* SPDX-License-Identifier: Apache-2.0 */
#include "model.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <time.h>

#include "../core/log.h"
#include "../core/watch.h"

void model_init(model *m, const char *node_name)
{
        *m = (model){0};
        m->node_name = kn_strdup(node_name);
}

void model_free(model *m)
{
        kn_hashmap_clear(&m->services, (void (*)(void *))model_service_free);
        kn_hashmap_clear(&m->slices, (void (*)(void *))model_slice_free);
        kn_hashmap_clear(&m->by_service, NULL);
        kn_hashmap_clear(&m->dirty, NULL);
        free(m->node_name);
}

int model_family_index(int family) { return family == AF_INET6 ? 1 : 0; }

const char *model_proto_name(int proto)
{
        switch (proto) {
        case IPPROTO_TCP:
                return "tcp";
        case IPPROTO_UDP:
                return "udp";
        case IPPROTO_SCTP:
                return "sctp";
        default:
                return "?";
        }
}

static int parse_proto(const char *s)
{
        if (!s || strcmp(s, "TCP") == 0)
                return IPPROTO_TCP; /* the API defaults protocol to TCP */
        if (strcmp(s, "UDP") == 0)
                return IPPROTO_UDP;
        if (strcmp(s, "SCTP") == 0)
                return IPPROTO_SCTP;
        return -EINVAL;
}

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

static const char *str(const cJSON *o, const char *k)
{
        const cJSON *v = get(o, k);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool int_in(const cJSON *v, long lo, long hi, long *ret)
{
        if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long)v->valuedouble || v->valuedouble < lo ||
            v->valuedouble > hi)
                return false;
        *ret = (long)v->valuedouble;
        return true;
}

/* A parsed Service or EndpointSlice is packed into one allocation (memory at scale:
 * 10k Services and their slices would otherwise be a dozen small blocks each). The
 * same code runs twice: sizing (no base), then copying. NULL stays NULL. */
struct pack {
        char *base;
        size_t off;
};

static void *pack_mem(struct pack *pk, const void *src, size_t len, size_t align)
{
        void *dst;

        if (!src)
                return NULL;
        pk->off = (pk->off + align - 1) & ~(align - 1);
        dst = pk->base ? pk->base + pk->off : NULL;
        if (dst && len)
                memcpy(dst, src, len);
        pk->off += len;
        return dst;
}

static char *pack_str(struct pack *pk, const char *s) { return s ? pack_mem(pk, s, strlen(s) + 1, 1) : NULL; }

#define PACK_ARRAY(pk, v, n) pack_mem(pk, v, (n) * sizeof(*(v)), _Alignof(__typeof__(*(v))))

static void pack_ports(struct pack *pk, model_port *dst, const model_port *src, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                char *name = pack_str(pk, src[i].name);
                if (dst)
                        dst[i].name = name;
        }
}

static void service_free_loose(model_service *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->n_ports; i++)
                free(s->ports[i].name);
        free(s->ports);
        free(s->external_ips);
        free(s->lb_ips);
        free(s->source_ranges);
        free(s->ns);
        free(s->name);
        free(s);
}

/* Takes S. */
static model_service *service_pack(model_service *s)
{
        struct pack pk = {0};
        model_service *out = NULL;

        for (int pass = 0; pass < 2; pass++) {
                model_port *ports;
                kn_addr *ext, *lb;
                kn_cidr *ranges;
                char *ns, *name;

                pk.off = 0;
                out = pack_mem(&pk, s, sizeof(*s), _Alignof(model_service));
                ports = PACK_ARRAY(&pk, s->ports, s->n_ports);
                ext = PACK_ARRAY(&pk, s->external_ips, s->n_external_ips);
                lb = PACK_ARRAY(&pk, s->lb_ips, s->n_lb_ips);
                ranges = PACK_ARRAY(&pk, s->source_ranges, s->n_source_ranges);
                pack_ports(&pk, ports, s->ports, s->n_ports);
                ns = pack_str(&pk, s->ns);
                name = pack_str(&pk, s->name);
                if (out) {
                        out->ports = ports;
                        out->external_ips = ext;
                        out->lb_ips = lb;
                        out->source_ranges = ranges;
                        out->ns = ns;
                        out->name = name;
                } else
                        pk.base = kn_malloc(pk.off);
        }
        service_free_loose(s);
        return out;
}

void model_service_free(model_service *s) { free(s); }

static void slice_free_loose(model_slice *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->n_ports; i++)
                free(s->ports[i].name);
        free(s->ports);
        for (size_t i = 0; i < s->n_eps; i++) {
                free(s->eps[i].zone_hints);
                free(s->eps[i].node_hints);
        }
        free(s->eps);
        free(s->key);
        free(s->service);
        free(s);
}

/* Takes S. */
static model_slice *slice_pack(model_slice *s)
{
        struct pack pk = {0};
        model_slice *out = NULL;

        for (int pass = 0; pass < 2; pass++) {
                model_endpoint *eps;
                model_port *ports;
                char *key, *service;

                pk.off = 0;
                out = pack_mem(&pk, s, sizeof(*s), _Alignof(model_slice));
                eps = PACK_ARRAY(&pk, s->eps, s->n_eps);
                ports = PACK_ARRAY(&pk, s->ports, s->n_ports);
                pack_ports(&pk, ports, s->ports, s->n_ports);
                for (size_t i = 0; i < s->n_eps; i++) {
                        char *z = pack_str(&pk, s->eps[i].zone_hints), *n = pack_str(&pk, s->eps[i].node_hints);
                        if (eps) {
                                eps[i].zone_hints = z;
                                eps[i].node_hints = n;
                        }
                }
                key = pack_str(&pk, s->key);
                service = pack_str(&pk, s->service);
                if (out) {
                        out->eps = eps;
                        out->ports = ports;
                        out->key = key;
                        out->service = service;
                } else
                        pk.base = kn_malloc(pk.off);
        }
        slice_free_loose(s);
        return out;
}

void model_slice_free(model_slice *s) { free(s); }

/* Parse a list of IP strings; bad entries are skipped with a log line. */
static size_t parse_ips(const cJSON *list, const char *what, const char *svc, kn_addr **ret)
{
        const cJSON *it;
        size_t n = 0;
        kn_addr *v;

        if (!cJSON_IsArray(list))
                return 0;
        v = kn_calloc((size_t)cJSON_GetArraySize(list) + 1, sizeof(*v));
        cJSON_ArrayForEach(it, list)
        {
                const char *s = cJSON_IsString(it) ? it->valuestring : cJSON_IsObject(it) ? str(it, "ip") : NULL;
                if (cJSON_IsObject(it)) {
                        const char *mode = str(it, "ipMode");
                        if (mode && strcmp(mode, "VIP") != 0)
                                continue; /* ipMode: Proxy: the load balancer delivers to the node */
                        if (!s)
                                continue; /* hostname-only ingress */
                }
                if (n >= MODEL_MAX_IPS) {
                        kn_warn("service %s: more than %d %s, ignoring the rest", svc, MODEL_MAX_IPS, what);
                        break;
                }
                if (!s || kn_addr_parse(s, &v[n]) < 0) {
                        kn_warn("service %s: ignoring invalid %s \"%.64s\"", svc, what, s ? s : "(not a string)");
                        continue;
                }
                n++;
        }
        *ret = v;
        return n;
}

static int64_t parse_rfc3339_ms(const char *s);

int model_parse_service(const cJSON *obj, model_service **ret, kn_error *err)
{
        const cJSON *spec = get(obj, "spec"), *ports, *it, *ips;
        const char *ns = kn_obj_str(obj, "metadata.namespace"), *name = kn_obj_str(obj, "metadata.name");
        const char *type, *cip;
        model_service *s;
        char svc[300];
        int r = 0;

        if (!ns || !name || !cJSON_IsObject(spec))
                return kn_error_set(err, -EINVAL, "service without namespace, name or spec");
        snprintf(svc, sizeof(svc), "%s/%s", ns, name);
        type = str(spec, "type");
        cip = str(spec, "clusterIP");
        if ((type && strcmp(type, "ExternalName") == 0) || !cip || !*cip || strcmp(cip, "None") == 0) {
                *ret = NULL; /* not proxied */
                return 0;
        }
        s = kn_calloc(1, sizeof(*s));
        s->ns = kn_strdup(ns);
        s->name = kn_strdup(name);
        {
                int64_t ms = parse_rfc3339_ms(kn_obj_str(obj, "metadata.creationTimestamp"));
                s->created_s = ms > 0 ? ms / 1000 : 0;
        }
        ips = get(spec, "clusterIPs");
        if (!cJSON_IsArray(ips) || cJSON_GetArraySize(ips) == 0)
                ips = NULL;
        {
                const cJSON *one = NULL;
                cJSON *tmp = NULL;
                if (!ips) {
                        tmp = cJSON_CreateArray();
                        cJSON_AddItemToArray(tmp, cJSON_CreateString(cip));
                        one = tmp;
                }
                const cJSON *list = ips ? ips : one;
                cJSON_ArrayForEach(it, list)
                {
                        kn_addr a;
                        if (!cJSON_IsString(it) || kn_addr_parse(it->valuestring, &a) < 0) {
                                r = kn_error_set(err, -EINVAL, "invalid clusterIP");
                                break;
                        }
                        s->cluster_ips[model_family_index(a.family)] = a;
                }
                cJSON_Delete(tmp);
        }
        ports = get(spec, "ports");
        if (r >= 0 && cJSON_IsArray(ports)) {
                size_t n = (size_t)cJSON_GetArraySize(ports);
                if (n > MODEL_MAX_PORTS)
                        r = kn_error_set(err, -E2BIG, "%zu ports (limit %d)", n, MODEL_MAX_PORTS);
                else
                        s->ports = kn_calloc(n + 1, sizeof(*s->ports));
                const cJSON *plist = r >= 0 ? ports : NULL;
                cJSON_ArrayForEach(it, plist)
                {
                        model_port *p = &s->ports[s->n_ports];
                        long port, np = 0;
                        int proto = parse_proto(str(it, "protocol"));
                        const char *pname = str(it, "name");
                        if (proto < 0 || !int_in(get(it, "port"), 1, 65535, &port) ||
                            (get(it, "nodePort") && !int_in(get(it, "nodePort"), 0, 65535, &np))) {
                                kn_warn("service %s: ignoring an invalid port (bad protocol, port or nodePort)", svc);
                                continue;
                        }
                        p->name = kn_strdup(pname ? pname : "");
                        p->proto = proto;
                        p->port = (uint16_t)port;
                        p->node_port = (uint16_t)np;
                        s->n_ports++;
                }
        }
        if (r < 0) {
                service_free_loose(s);
                return r;
        }
        s->n_external_ips = parse_ips(get(spec, "externalIPs"), "externalIP", svc, &s->external_ips);
        s->n_lb_ips = parse_ips(get(get(get(obj, "status"), "loadBalancer"), "ingress"),
                                "load balancer ingress IP", svc, &s->lb_ips);
        ips = get(spec, "loadBalancerSourceRanges");
        if (cJSON_IsArray(ips)) {
                s->source_ranges = kn_calloc((size_t)cJSON_GetArraySize(ips) + 1, sizeof(kn_cidr));
                cJSON_ArrayForEach(it, ips)
                {
                        char buf[128];
                        const char *v = cJSON_IsString(it) ? it->valuestring : NULL;
                        size_t b = 0, e;
                        if (!v || s->n_source_ranges >= MODEL_MAX_IPS)
                                continue;
                        while (v[b] == ' ' || v[b] == '\t')
                                b++;
                        e = strlen(v);
                        while (e > b && (v[e - 1] == ' ' || v[e - 1] == '\t'))
                                e--;
                        snprintf(buf, sizeof(buf), "%.*s", (int)(e - b), v + b);
                        if (kn_cidr_parse(buf, &s->source_ranges[s->n_source_ranges]) < 0) {
                                kn_warn("service %s: ignoring invalid loadBalancerSourceRange \"%.64s\"", svc, v);
                                continue;
                        }
                        s->n_source_ranges++;
                }
        }
        {
                const char *aff = str(spec, "sessionAffinity");
                long t = 10800;
                s->affinity = aff && strcmp(aff, "ClientIP") == 0;
                if (s->affinity) {
                        const cJSON *cfg = get(get(get(spec, "sessionAffinityConfig"), "clientIP"), "timeoutSeconds");
                        if (cfg && !int_in(cfg, 1, 86400, &t))
                                t = 10800;
                        s->affinity_timeout_s = (uint32_t)t;
                }
        }
        s->etp_local = kn_streq(str(spec, "externalTrafficPolicy"), "Local");
        s->itp_local = kn_streq(str(spec, "internalTrafficPolicy"), "Local");
        {
                long h;
                if (int_in(get(spec, "healthCheckNodePort"), 1, 65535, &h))
                        s->health_check_node_port = (uint16_t)h;
        }
        *ret = service_pack(s);
        return 0;
}

static int64_t parse_rfc3339_ms(const char *s)
{
        struct tm tm = {0};
        char *end;
        if (!s || !(end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
                return 0;
        return (int64_t)timegm(&tm) * 1000;
}

/* [{name: a}, {name: b}] -> "a,b" (bounded); NULL when absent or empty. */
static char *join_names(const cJSON *list)
{
        const cJSON *it;
        kn_buf b = {.max = 4096};
        cJSON_ArrayForEach(it, list)
        {
                const char *n = str(it, "name");
                if (n && *n && !strchr(n, ','))
                        kn_buf_printf(&b, "%s%s", b.len ? "," : "", n);
        }
        return b.data;
}

int model_parse_slice(const cJSON *obj, const char *node_name, model_slice **ret, kn_error *err)
{
        const char *ns = kn_obj_str(obj, "metadata.namespace"), *name = kn_obj_str(obj, "metadata.name");
        const char *svc = NULL, *at = str(obj, "addressType");
        const cJSON *labels = get(get(obj, "metadata"), "labels"), *eps = get(obj, "endpoints"), *ports, *it;
        model_slice *s;
        int family;
        size_t n;

        if (!ns || !name)
                return kn_error_set(err, -EINVAL, "endpointslice without namespace or name");
        svc = cJSON_IsObject(labels) ? str(labels, "kubernetes.io/service-name") : NULL;
        if (!svc || !*svc)
                return kn_error_set(err, -EINVAL, "endpointslice %s/%s has no kubernetes.io/service-name label", ns,
                                    name);
        if (kn_streq(at, "IPv4"))
                family = AF_INET;
        else if (kn_streq(at, "IPv6"))
                family = AF_INET6;
        else {
                *ret = NULL; /* FQDN slices are not proxied */
                return 0;
        }
        n = cJSON_IsArray(eps) ? (size_t)cJSON_GetArraySize(eps) : 0;
        if (n > MODEL_MAX_SLICE_ENDPOINTS)
                return kn_error_set(err, -E2BIG, "endpointslice %s/%s has %zu endpoints (limit %d)", ns, name, n,
                                    MODEL_MAX_SLICE_ENDPOINTS);
        s = kn_calloc(1, sizeof(*s));
        s->key = kn_asprintf("%s/%s", ns, name);
        s->service = kn_asprintf("%s/%s", ns, svc);
        s->family = family;
        s->eps = kn_calloc(n + 1, sizeof(*s->eps));
        {
                const cJSON *ann = get(get(obj, "metadata"), "annotations");
                if (cJSON_IsObject(ann))
                        s->trigger_time_ms = parse_rfc3339_ms(str(ann, "endpoints.kubernetes.io/last-change-trigger-time"));
        }
        cJSON_ArrayForEach(it, eps)
        {
                const cJSON *addrs = get(it, "addresses"), *cond = get(it, "conditions");
                const cJSON *a0 = cJSON_IsArray(addrs) ? cJSON_GetArrayItem(addrs, 0) : NULL;
                const cJSON *ready = get(cond, "ready"), *serving = get(cond, "serving"), *term = get(cond, "terminating");
                model_endpoint *e = &s->eps[s->n_eps];
                if (!cJSON_IsString(a0) || kn_addr_parse(a0->valuestring, &e->addr) < 0 || e->addr.family != family) {
                        kn_v(2, "endpointslice %s: ignoring an endpoint with a bad or wrong-family address", s->key);
                        continue;
                }
                e->ready = !cJSON_IsFalse(ready);
                e->serving = !cJSON_IsFalse(serving);
                e->terminating = cJSON_IsTrue(term);
                e->local = node_name && kn_streq(str(it, "nodeName"), node_name);
                e->zone_hints = join_names(kn_json_path(it, "hints.forZones"));
                e->node_hints = join_names(kn_json_path(it, "hints.forNodes"));
                s->n_eps++;
        }
        ports = get(obj, "ports");
        n = cJSON_IsArray(ports) ? (size_t)cJSON_GetArraySize(ports) : 0;
        if (n > MODEL_MAX_PORTS)
                n = MODEL_MAX_PORTS;
        s->ports = kn_calloc(n + 1, sizeof(*s->ports));
        cJSON_ArrayForEach(it, ports)
        {
                long port;
                int proto = parse_proto(str(it, "protocol"));
                const cJSON *pname = get(it, "name");
                if (s->n_ports >= n)
                        break;
                if (proto < 0 || !cJSON_IsString(pname) || !int_in(get(it, "port"), 1, 65535, &port))
                        continue; /* upstream skips ports with a nil name or port */
                s->ports[s->n_ports++] = (model_port){kn_strdup(pname->valuestring), proto, (uint16_t)port, 0};
        }
        *ret = slice_pack(s);
        return 0;
}

static void mark_dirty(model *m, const char *svc_key) { kn_hashmap_put(&m->dirty, svc_key, (void *)1, NULL); }

int model_service_update(model *m, const cJSON *obj)
{
        _cleanup_free_ char *key = kn_obj_key(obj);
        model_service *s = NULL, *old = NULL;
        kn_error err;
        int r;

        if (!key)
                return -EINVAL;
        r = model_parse_service(obj, &s, &err);
        if (r < 0) {
                /* Refused: drop any older version too, so its rules do not linger. */
                kn_err("ignoring service %s: %s", key, err.msg);
                model_service_free(kn_hashmap_remove(&m->services, key));
                mark_dirty(m, key);
                return r;
        }
        if (s)
                kn_hashmap_put(&m->services, key, s, (void **)&old);
        else
                old = kn_hashmap_remove(&m->services, key);
        model_service_free(old);
        mark_dirty(m, key);
        return 0;
}

void model_service_delete(model *m, const cJSON *obj)
{
        _cleanup_free_ char *key = kn_obj_key(obj);
        if (!key)
                return;
        model_service_free(kn_hashmap_remove(&m->services, key));
        mark_dirty(m, key);
}

static void unindex(model *m, model_slice *s)
{
        model_slice *head = kn_hashmap_get(&m->by_service, s->service);

        if (head == s) {
                if (s->next)
                        kn_hashmap_put(&m->by_service, s->service, s->next, NULL);
                else
                        kn_hashmap_remove(&m->by_service, s->service);
                return;
        }
        for (model_slice *p = head; p; p = p->next)
                if (p->next == s) {
                        p->next = s->next;
                        return;
                }
}

static void note_trigger(model *m, const model_slice *s)
{
        if (s->trigger_time_ms && (!m->oldest_trigger_ms || s->trigger_time_ms < m->oldest_trigger_ms))
                m->oldest_trigger_ms = s->trigger_time_ms;
}

int model_slice_update(model *m, const cJSON *obj)
{
        _cleanup_free_ char *key = kn_obj_key(obj);
        model_slice *s = NULL, *old;
        kn_error err;
        int r;

        if (!key)
                return -EINVAL;
        r = model_parse_slice(obj, m->node_name, &s, &err);
        if (r < 0) {
                /* Refused: drop any older version, so no stale endpoints linger. */
                kn_err("ignoring endpointslice %s: %s", key, err.msg);
                model_slice_delete(m, obj);
                return r;
        }
        old = kn_hashmap_remove(&m->slices, key);
        if (old) {
                unindex(m, old);
                mark_dirty(m, old->service);
                model_slice_free(old);
        }
        if (!s)
                return 0;
        kn_hashmap_put(&m->slices, key, s, NULL);
        s->next = kn_hashmap_get(&m->by_service, s->service);
        kn_hashmap_put(&m->by_service, s->service, s, NULL);
        note_trigger(m, s);
        mark_dirty(m, s->service);
        return 0;
}

void model_slice_delete(model *m, const cJSON *obj)
{
        _cleanup_free_ char *key = kn_obj_key(obj);
        model_slice *old;

        if (!key)
                return;
        old = kn_hashmap_remove(&m->slices, key);
        if (!old)
                return;
        unindex(m, old);
        mark_dirty(m, old->service);
        model_slice_free(old);
}

void model_mark_all_dirty(model *m)
{
        const char *k;
        for (size_t it = 0; kn_hashmap_next(&m->services, &it, &k, NULL);)
                mark_dirty(m, k);
}

kn_hashmap model_take_dirty(model *m)
{
        kn_hashmap d = m->dirty;
        m->dirty = (kn_hashmap){0};
        return d;
}

static int ep_cmp(const void *a, const void *b)
{
        const model_ep *x = a, *y = b;
        int c = strcmp(x->str, y->str);
        return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

size_t model_endpoints(const model *m, const model_service *s, const model_port *p, int family, model_ep **ret)
{
        _cleanup_free_ char *key = kn_asprintf("%s/%s", s->ns, s->name);
        model_ep *v = NULL;
        size_t n = 0, cap = 0, out = 0;

        /* Every slice's endpoints, then one sort; copies of an endpoint (in several
         * slices) end up next to each other, in the order they were met. */
        for (const model_slice *sl = kn_hashmap_get(&m->by_service, key); sl; sl = sl->next) {
                const model_port *sp = NULL;
                if (sl->family != family)
                        continue;
                for (size_t k = 0; k < sl->n_ports; k++)
                        if (sl->ports[k].proto == p->proto && strcmp(sl->ports[k].name, p->name) == 0)
                                sp = &sl->ports[k];
                if (!sp)
                        continue;
                if (n + sl->n_eps > cap)
                        v = kn_realloc(v, (cap = (n + sl->n_eps) * 2) * sizeof(*v));
                for (size_t k = 0; k < sl->n_eps; k++) {
                        const model_endpoint *e = &sl->eps[k];
                        model_ep *ep = &v[n];
                        char ip[INET6_ADDRSTRLEN];
                        *ep = (model_ep){e->addr, sp->port, e->ready, e->serving, e->terminating, e->local,
                                         e->zone_hints, e->node_hints, "", n};
                        kn_addr_format(&e->addr, ip, sizeof(ip));
                        snprintf(ep->str, sizeof(ep->str), family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, sp->port);
                        n++;
                }
        }
        if (n)
                qsort(v, n, sizeof(*v), ep_cmp);
        /* One of each: the last local copy, else the first copy met. */
        for (size_t i = 0; i < n;) {
                size_t j = i + 1, pick = i;
                for (; j < n && strcmp(v[j].str, v[i].str) == 0; j++)
                        if (v[j].local)
                                pick = j;
                v[out++] = v[pick];
                i = j;
        }
        if (!out) {
                free(v);
                v = NULL;
        }
        *ret = v;
        return out;
}
