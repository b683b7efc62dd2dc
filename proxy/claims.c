/* SPDX-License-Identifier: Apache-2.0 */
#include "claims.h"

#include <stdio.h>

#include "../core/log.h"

/* A Service's claims, packed into one allocation (memory at scale: 10k Services hold
 * 10k of these): the struct, the key pointers, the flags, then the strings. */
struct svc_claims {
        char *name;      /* ns/name */
        int64_t created; /* creationTimestamp, 0 = unknown (ranks last) */
        size_t n;
        char **keys;
        bool *by_cip;    /* keys[i] is claimed through the Service's ClusterIP */
};

struct claimant {
        struct svc_claims *svc;
        bool by_cip;
        bool lost; /* counted in n_lost, and logged */
};

/* One key's claimants, in one allocation that grows (almost always one claimant). */
struct claim {
        const struct svc_claims *owner;
        uint32_t n, cap;
        struct claimant v[];
};

static void svc_claims_free(struct svc_claims *sc) { free(sc); }
static void claim_free(void *p) { free(p); }

void claims_init(claims *c, int family) { *c = (claims){.family = family}; }

void claims_free(claims *c)
{
        void *v;
        kn_hashmap_clear(&c->keys, claim_free);
        for (size_t it = 0; kn_hashmap_next(&c->by_svc, &it, NULL, &v);)
                svc_claims_free(v);
        kn_hashmap_clear(&c->by_svc, NULL);
        c->n_lost = 0;
}

size_t claims_conflicts(const claims *c) { return c->n_lost; }

static const char *proto_upper(int proto)
{
        return proto == IPPROTO_UDP ? "UDP" : proto == IPPROTO_SCTP ? "SCTP" : "TCP";
}

static const char *dest_key(const kn_addr *a, int proto, uint16_t port, char buf[static CLAIMS_KEY_MAX])
{
        char ip[INET6_ADDRSTRLEN];
        kn_addr_format(a, ip, sizeof(ip));
        snprintf(buf, CLAIMS_KEY_MAX, a->family == AF_INET6 ? "[%s]:%u/%s" : "%s:%u/%s", ip, port,
                 proto_upper(proto));
        return buf;
}

static const char *nodeport_key(int proto, uint16_t port, char buf[static CLAIMS_KEY_MAX])
{
        snprintf(buf, CLAIMS_KEY_MAX, "nodePort %u/%s", port, proto_upper(proto));
        return buf;
}

static const char *cip_key(const kn_addr *a, char buf[static CLAIMS_KEY_MAX])
{
        char ip[INET6_ADDRSTRLEN];
        kn_addr_format(a, ip, sizeof(ip));
        snprintf(buf, CLAIMS_KEY_MAX, "clusterIP %s", ip);
        return buf;
}

const char *claims_elem_key(const kn_nft_set *set, const kn_nft_elem *e, char buf[static CLAIMS_KEY_MAX])
{
        if (set == &rules_set_service_ips || set == &rules_set_no_endpoint_services || set == &rules_set_firewall_ips)
                return dest_key(&e->addr, e->proto, e->port, buf);
        if (set == &rules_set_service_nodeports || set == &rules_set_no_endpoint_nodeports)
                return nodeport_key(e->proto, e->port, buf);
        if (set == &rules_set_cluster_ips)
                return cip_key(&e->addr, buf);
        return NULL;
}

const char *claims_flow_key(const plan_flow *f, char buf[static CLAIMS_KEY_MAX])
{
        return f->vip.family ? dest_key(&f->vip, IPPROTO_UDP, f->dport, buf) : nodeport_key(IPPROTO_UDP, f->dport, buf);
}

/* The keys of one Service while they are collected. */
struct keylist {
        size_t n, cap, bytes;
        char **keys;
        bool *by_cip;
        kn_hashmap seen; /* key -> index + 1: a Service may claim many thousand keys (ports x IPs) */
};

/* Add KEY once (an externalIP equal to the Service's own ClusterIP is one claim, by
 * the ClusterIP). */
static void keylist_add(struct keylist *l, const char *key, bool by_cip)
{
        uintptr_t at = (uintptr_t)kn_hashmap_get(&l->seen, key);

        if (at) {
                l->by_cip[at - 1] |= by_cip;
                return;
        }
        if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 4;
                l->keys = kn_realloc(l->keys, l->cap * sizeof(*l->keys));
                l->by_cip = kn_realloc(l->by_cip, l->cap * sizeof(*l->by_cip));
        }
        l->keys[l->n] = kn_strdup(key);
        l->bytes += strlen(key) + 1;
        l->by_cip[l->n++] = by_cip;
        kn_hashmap_put(&l->seen, key, (void *)(uintptr_t)l->n, NULL);
}

/* The keys S claims in family F, packed. */
static struct svc_claims *svc_claims_of(const char *svc, const model_service *s, int family)
{
        struct keylist l = {0};
        struct svc_claims *sc;
        char k[CLAIMS_KEY_MAX], *at;
        const kn_addr *cip = s ? &s->cluster_ips[model_family_index(family)] : NULL;

        /* rules_service programs nothing in a family without a ClusterIP */
        if (cip && cip->family == family) {
                keylist_add(&l, cip_key(cip, k), true);
                for (size_t i = 0; i < s->n_ports; i++) {
                        const model_port *p = &s->ports[i];
                        keylist_add(&l, dest_key(cip, p->proto, p->port, k), true);
                        for (size_t j = 0; j < s->n_external_ips; j++)
                                if (s->external_ips[j].family == family)
                                        keylist_add(&l, dest_key(&s->external_ips[j], p->proto, p->port, k), false);
                        for (size_t j = 0; j < s->n_lb_ips; j++)
                                if (s->lb_ips[j].family == family)
                                        keylist_add(&l, dest_key(&s->lb_ips[j], p->proto, p->port, k), false);
                        if (p->node_port)
                                keylist_add(&l, nodeport_key(p->proto, p->node_port, k), false);
                }
        }
        sc = kn_malloc(sizeof(*sc) + l.n * (sizeof(char *) + sizeof(bool)) + l.bytes + strlen(svc) + 1);
        sc->created = s ? s->created_s : 0;
        sc->n = l.n;
        sc->keys = (char **)(sc + 1);
        sc->by_cip = (bool *)(sc->keys + l.n);
        at = (char *)(sc->by_cip + l.n);
        for (size_t i = 0; i < l.n; i++) {
                sc->keys[i] = at;
                at = stpcpy(at, l.keys[i]) + 1;
                sc->by_cip[i] = l.by_cip[i];
                free(l.keys[i]);
        }
        sc->name = at;
        strcpy(at, svc);
        free(l.keys);
        free(l.by_cip);
        kn_hashmap_clear(&l.seen, NULL);
        return sc;
}

/* Whether claimant A ranks before B. */
static bool ranks_before(const struct claimant *a, const struct claimant *b)
{
        int64_t ca = a->svc->created ? a->svc->created : INT64_MAX, cb = b->svc->created ? b->svc->created : INT64_MAX;
        if (a->by_cip != b->by_cip)
                return a->by_cip;
        if (ca != cb)
                return ca < cb;
        return strcmp(a->svc->name, b->svc->name) < 0;
}

static void mark(kn_hashmap *changed, const struct svc_claims *sc)
{
        if (changed && sc)
                kn_hashmap_put(changed, sc->name, (void *)1, NULL);
}

/* Choose KEY's owner again; log and count the claimants that lose it. */
static void resolve(claims *c, const char *key, struct claim *cl, kn_hashmap *changed)
{
        const struct claimant *best = NULL;

        for (size_t i = 0; i < cl->n; i++)
                if (!best || ranks_before(&cl->v[i], best))
                        best = &cl->v[i];
        if (best && best->svc != cl->owner) {
                mark(changed, cl->owner);
                mark(changed, best->svc);
        }
        for (size_t i = 0; i < cl->n; i++) {
                struct claimant *x = &cl->v[i];
                if (x == best && x->lost) {
                        x->lost = false;
                        c->n_lost--;
                        kn_info("service %s now owns %s (no other Service claims it first)", x->svc->name, key);
                } else if (x != best && !x->lost) {
                        x->lost = true;
                        c->n_lost++;
                        kn_warn("service %s: %s is already used by service %s; ignoring it for %s", x->svc->name, key,
                                best->svc->name, x->svc->name);
                }
        }
        cl->owner = best ? best->svc : NULL;
}

static void unclaim(claims *c, const char *key, const struct svc_claims *sc, kn_hashmap *changed)
{
        struct claim *cl = kn_hashmap_get(&c->keys, key);
        size_t j = 0;

        if (!cl)
                return;
        for (size_t i = 0; i < cl->n; i++) {
                if (cl->v[i].svc == sc) {
                        if (cl->v[i].lost)
                                c->n_lost--;
                        continue;
                }
                cl->v[j++] = cl->v[i];
        }
        cl->n = j;
        if (!cl->n) {
                claim_free(kn_hashmap_remove(&c->keys, key));
                return;
        }
        if (cl->owner == sc)
                cl->owner = NULL; /* resolve() marks the new owner */
        resolve(c, key, cl, changed);
}

void claims_update(claims *c, const char *svc, const model_service *s, kn_hashmap *changed)
{
        struct svc_claims *old = kn_hashmap_get(&c->by_svc, svc);
        struct svc_claims *nw = s ? svc_claims_of(svc, s, c->family) : NULL;
        kn_hashmap wanted = {0};

        if (!old && (!nw || !nw->n)) {
                svc_claims_free(nw);
                return;
        }
        /* keys given up */
        for (size_t i = 0; old && nw && i < nw->n; i++)
                kn_hashmap_put(&wanted, nw->keys[i], (void *)1, NULL);
        for (size_t i = 0; old && i < old->n; i++)
                if (!kn_hashmap_get(&wanted, old->keys[i]))
                        unclaim(c, old->keys[i], old, changed);
        kn_hashmap_clear(&wanted, NULL);
        if (!nw || !nw->n) {
                svc_claims_free(kn_hashmap_remove(&c->by_svc, svc));
                svc_claims_free(nw);
                return;
        }
        /* The new record replaces the old one: claimants still pointing at OLD move over. */
        for (size_t i = 0; i < nw->n; i++) {
                struct claim *cl = kn_hashmap_get(&c->keys, nw->keys[i]);
                bool found = false;
                if (!cl) {
                        cl = kn_calloc(1, sizeof(*cl) + sizeof(cl->v[0]));
                        cl->cap = 1;
                        kn_hashmap_put(&c->keys, nw->keys[i], cl, NULL);
                }
                for (size_t k = 0; k < cl->n; k++)
                        if (old && cl->v[k].svc == old) {
                                cl->v[k].svc = nw;
                                cl->v[k].by_cip = nw->by_cip[i];
                                found = true;
                        }
                if (old && cl->owner == old)
                        cl->owner = nw;
                if (!found) {
                        if (cl->n == cl->cap) {
                                cl->cap *= 2;
                                cl = kn_realloc(cl, sizeof(*cl) + cl->cap * sizeof(cl->v[0]));
                                kn_hashmap_put(&c->keys, nw->keys[i], cl, NULL);
                        }
                        cl->v[cl->n++] = (struct claimant){.svc = nw, .by_cip = nw->by_cip[i]};
                }
                resolve(c, nw->keys[i], cl, changed);
        }
        kn_hashmap_put(&c->by_svc, svc, nw, NULL);
        svc_claims_free(old);
}

void claims_retain(claims *c, const model *m, kn_hashmap *changed)
{
        size_t n = 0;
        char **gone = kn_calloc(c->by_svc.len + 1, sizeof(char *));
        const char *key;

        for (size_t it = 0; kn_hashmap_next(&c->by_svc, &it, &key, NULL);)
                if (!kn_hashmap_get(&m->services, key))
                        gone[n++] = kn_strdup(key);
        for (size_t i = 0; i < n; i++) {
                claims_update(c, gone[i], NULL, changed);
                free(gone[i]);
        }
        free(gone);
}

bool claims_owns(const claims *c, const char *svc, const char *key)
{
        const struct claim *cl = kn_hashmap_get(&c->keys, key);
        return !cl || !cl->owner || strcmp(cl->owner->name, svc) == 0;
}

const char *claims_owner(const claims *c, const char *key)
{
        const struct claim *cl = kn_hashmap_get(&c->keys, key);
        return cl && cl->owner ? cl->owner->name : NULL;
}
