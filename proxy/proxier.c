/* SPDX-License-Identifier: Apache-2.0 */
#include "proxier.h"

#include <stdio.h>

#include "../core/log.h"
#include "claims.h"
#include "conntrack.h"

/* What was programmed for one Service: enough to undo or diff it, no rules kept. One
 * allocation: the struct, its arrays, then the names (memory at scale: 10k Services
 * hold 10k records). An element's identity is its key (rules_elem_id); its value is
 * kept as a digest, only to see whether it changed. */
struct rec_elem {
        const kn_nft_set *set;
        uint64_t value; /* kn_fnv1a64 of the plan's value text */
        struct in6_addr addr, addr2; /* the key, as kn_nft_elem has it */
        uint8_t family, family2, proto;
        uint16_t port;
};

static void rec_elem_set_key(struct rec_elem *re, const kn_nft_elem *e)
{
        memcpy(&re->addr, &e->addr.v6, sizeof(re->addr));
        memcpy(&re->addr2, &e->addr2.v6, sizeof(re->addr2));
        re->family = (uint8_t)e->addr.family;
        re->family2 = (uint8_t)e->addr2.family;
        re->proto = (uint8_t)e->proto;
        re->port = e->port;
}

/* The element's key (no verdict, chain or comment). */
static kn_nft_elem rec_elem_key(const struct rec_elem *re)
{
        kn_nft_elem e = {.addr.family = re->family, .addr2.family = re->family2, .proto = re->proto, .port = re->port};
        memcpy(&e.addr.v6, &re->addr, sizeof(re->addr));
        memcpy(&e.addr2.v6, &re->addr2, sizeof(re->addr2));
        return e;
}

struct record {
        char **chains;
        char **sets;
        struct rec_elem *elems;
        plan_flow *flows;
        uint32_t n_chains, n_sets, n_elems, n_flows;
        uint32_t gen; /* the full sync that made it (proxier.gen) */
};

struct proxier {
        int family;
        kn_nft *nft;
        rules_config rc;
        kn_cidr *cidrs;
        kn_addr *nodeport_ips;
        char *local_iface, *node_name, *node_zone;
        kn_cidr *service_cidrs;
        bool need_full;
        bool base_chains_reset; /* the first full sync re-created the base chains */
        uint32_t gen;           /* full syncs so far */
        kn_hashmap records; /* ns/name -> struct record */
        kn_hashmap shared;  /* element id -> how many Services program it (hairpin-connections) */
        claims claims;      /* the owner of every key two Services could both program */
        kn_hashmap quarantine; /* ns/name -> struct quarantine: Services the kernel refused */
        char failed[256];   /* the chain or set the kernel refused in the last transaction, or "" */
        char failed_owner[256]; /* the owner of the map element it refused, or "" */
        unsigned dry_runs;  /* in this sync */
        kn_conntrack_filter *stale; /* UDP flows to clear, for the caller (one dump per sync) */
        size_t n_stale, cap_stale;
};

/* A Service whose part of a transaction the kernel refused: left out of the syncs and
 * tried again after a back-off (1 s doubling to 5 min), or at once when it changes. */
struct quarantine {
        int64_t retry_ms;   /* monotonic */
        int64_t backoff_ms;
        bool trying;        /* part of the current sync */
};

#define QUARANTINE_FIRST_MS 1000
#define QUARANTINE_MAX_MS (300 * 1000)
#define ISOLATE_MAX_DRY_RUNS 64 /* per sync: at most ~2 log2(n) per refused Service */

/* Whether the Service is quarantined and not tried in this sync. */
static bool excluded(const proxier *px, const char *svc)
{
        const struct quarantine *q = px->quarantine.len ? kn_hashmap_get(&px->quarantine, svc) : NULL;
        return q && !q->trying;
}

/* Elements that several Services may program alike (a pod behind two Services on the
 * same port has one hairpin element): added by the first, deleted with the last. */
static bool shared_elem(const kn_nft_set *set) { return set == &rules_set_hairpin; }

static size_t shared_count(const kn_hashmap *m, const char *id) { return (uintptr_t)kn_hashmap_get(m, id); }

static void shared_set_count(kn_hashmap *m, const char *id, size_t n)
{
        if (n)
                kn_hashmap_put(m, id, (void *)(uintptr_t)n, NULL);
        else
                kn_hashmap_remove(m, id);
}

static void record_free(void *p) { free(p); }

static const char *rec_elem_id(const struct rec_elem *re, char buf[static RULES_ELEM_ID_MAX])
{
        kn_nft_elem e = rec_elem_key(re);
        return rules_elem_id(re->set, &e, buf, RULES_ELEM_ID_MAX);
}

static struct record *record_of(const plan *p)
{
        size_t names = 0, size;
        struct record *r;
        char *at;

        for (size_t i = 0; i < p->n_chains; i++)
                names += strlen(p->chains[i]) + 1;
        for (size_t i = 0; i < p->n_sets; i++)
                names += strlen(p->sets[i].name) + 1;
        size = sizeof(*r) + (p->n_chains + p->n_sets) * sizeof(char *) + p->n_elems * sizeof(struct rec_elem) +
               p->n_flows * sizeof(plan_flow) + names;
        r = kn_calloc(1, size);
        r->chains = (char **)(r + 1);
        r->sets = r->chains + p->n_chains;
        r->elems = (struct rec_elem *)(r->sets + p->n_sets);
        r->flows = (plan_flow *)(r->elems + p->n_elems);
        at = (char *)(r->flows + p->n_flows);
        for (size_t i = 0; i < p->n_chains; i++)
                at = stpcpy(r->chains[r->n_chains++] = at, p->chains[i]) + 1;
        for (size_t i = 0; i < p->n_sets; i++)
                at = stpcpy(r->sets[r->n_sets++] = at, p->sets[i].name) + 1;
        for (size_t i = 0; i < p->n_elems; i++) {
                struct rec_elem *e = &r->elems[r->n_elems++];
                e->set = p->elems[i].set;
                rec_elem_set_key(e, &p->elems[i].e);
                e->value = kn_fnv1a64(p->elems[i].value);
        }
        if (p->n_flows)
                memcpy(r->flows, p->flows, p->n_flows * sizeof(plan_flow));
        r->n_flows = (uint32_t)p->n_flows;
        return r;
}

int proxier_new(int family, proxier **ret, kn_error *err)
{
        proxier *px = kn_calloc(1, sizeof(*px));
        int r = kn_nft_open(family, &px->nft, err);

        if (r < 0) {
                free(px);
                return r;
        }
        px->family = family;
        px->rc.family = family;
        px->rc.mark = 1u << 14;
        px->need_full = true;
        claims_init(&px->claims, family);
        *ret = px;
        return 0;
}

void proxier_free(proxier *px)
{
        if (!px)
                return;
        kn_hashmap_clear(&px->records, record_free);
        kn_hashmap_clear(&px->shared, NULL);
        claims_free(&px->claims);
        kn_hashmap_clear(&px->quarantine, free);
        free(px->stale);
        kn_nft_close(px->nft);
        free(px->cidrs);
        free(px->nodeport_ips);
        free(px->local_iface);
        free(px->node_name);
        free(px->node_zone);
        free(px->service_cidrs);
        free(px);
}

int proxier_family(const proxier *px) { return px->family; }
void proxier_need_full(proxier *px) { px->need_full = true; }
bool proxier_wants_full(const proxier *px) { return px->need_full; }

void proxier_set_config(proxier *px, const rules_config *rc)
{
        free(px->cidrs);
        free(px->nodeport_ips);
        px->rc = *rc;
        px->rc.family = px->family;
        px->cidrs = rc->n_cluster_cidrs ? kn_malloc(rc->n_cluster_cidrs * sizeof(kn_cidr)) : NULL;
        if (px->cidrs)
                memcpy(px->cidrs, rc->cluster_cidrs, rc->n_cluster_cidrs * sizeof(kn_cidr));
        px->nodeport_ips = rc->n_nodeport_ips ? kn_malloc(rc->n_nodeport_ips * sizeof(kn_addr)) : NULL;
        if (px->nodeport_ips)
                memcpy(px->nodeport_ips, rc->nodeport_ips, rc->n_nodeport_ips * sizeof(kn_addr));
        free(px->local_iface);
        px->local_iface = kn_strdup(rc->local_iface);
        free(px->service_cidrs);
        px->service_cidrs = rc->n_service_cidrs ? kn_malloc(rc->n_service_cidrs * sizeof(kn_cidr)) : NULL;
        if (px->service_cidrs)
                memcpy(px->service_cidrs, rc->service_cidrs, rc->n_service_cidrs * sizeof(kn_cidr));
        px->rc.service_cidrs = px->service_cidrs;
        px->rc.cluster_cidrs = px->cidrs;
        px->rc.nodeport_ips = px->nodeport_ips;
        px->rc.local_iface = px->local_iface;
        free(px->node_name);
        free(px->node_zone);
        px->node_name = kn_strdup(rc->node_name);
        px->node_zone = kn_strdup(rc->node_zone);
        px->rc.node_name = px->node_name;
        px->rc.node_zone = px->node_zone;
        px->need_full = true;
}

static bool strv_has(char *const *v, size_t n, const char *s)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i], s) == 0)
                        return true;
        return false;
}

/* After a commit or check: what the kernel refused, as far as it can be traced to a
 * Service (a chain or set of its own, or an element of a shared map it owns). */
static void note_refusal(proxier *px, const kn_nft_tx *tx, int r)
{
        static const kn_nft_set *const claimed[] = {&rules_set_service_ips, &rules_set_no_endpoint_services,
                                                    &rules_set_firewall_ips, &rules_set_service_nodeports,
                                                    &rules_set_no_endpoint_nodeports, &rules_set_cluster_ips};
        const char *obj = r < 0 ? kn_nft_tx_failed_object(tx) : NULL, *owner = NULL;

        snprintf(px->failed, sizeof(px->failed), "%s", obj ? obj : "");
        for (size_t i = 0; r < 0 && !owner && i < KN_ARRAY_SIZE(claimed); i++) {
                kn_nft_elem e;
                char k[CLAIMS_KEY_MAX];
                if (kn_nft_tx_failed_element(tx, claimed[i], &e) >= 0)
                        owner = claims_owner(&px->claims, claims_elem_key(claimed[i], &e, k));
        }
        snprintf(px->failed_owner, sizeof(px->failed_owner), "%s", owner ? owner : "");
}

/* Drop from SVC's plan what another Service owns: its elements and UDP flows for keys
 * claimed by someone ranked first (claims.h). Its chains stay, unreferenced. */
static void keep_owned(const proxier *px, const char *svc, plan *p)
{
        char k[CLAIMS_KEY_MAX];
        size_t j = 0;

        if (!px->claims.n_lost)
                return; /* no conflicts anywhere */
        for (size_t i = 0; i < p->n_elems; i++) {
                const char *ck = claims_elem_key(p->elems[i].set, &p->elems[i].e, k);
                if (!ck || claims_owns(&px->claims, svc, ck))
                        p->elems[j++] = p->elems[i];
        }
        p->n_elems = j;
        j = 0;
        for (size_t i = 0; i < p->n_flows; i++)
                if (claims_owns(&px->claims, svc, claims_flow_key(&p->flows[i], k)))
                        p->flows[j++] = p->flows[i];
        p->n_flows = j;
}

/* Queue everything in PLAN that creates: chains (flushed when they may exist), sets,
 * rules and elements. */
static void queue_plan(kn_nft_tx *tx, const plan *p, bool flush_chains, proxier_stats *st)
{
        for (size_t i = 0; i < p->n_base_chains; i++) {
                kn_nft_tx_add_chain(tx, &p->base_chains[i]);
                kn_nft_tx_flush_chain(tx, p->base_chains[i].name);
        }
        for (size_t i = 0; i < p->n_chains; i++) {
                kn_nft_tx_add_chain(tx, &(kn_nft_chain){.name = p->chains[i]});
                if (flush_chains)
                        kn_nft_tx_flush_chain(tx, p->chains[i]);
        }
        for (size_t i = 0; i < p->n_sets; i++)
                kn_nft_tx_add_set(tx, &p->sets[i]);
        for (size_t i = 0; i < p->n_rules; i++)
                kn_nft_tx_add_rule(tx, &p->rules[i]);
        for (size_t i = 0; i < p->n_elems; i++)
                if (!shared_elem(p->elems[i].set))
                        kn_nft_tx_add_elem(tx, p->elems[i].set, &p->elems[i].e);
        st->chains += p->n_chains + p->n_base_chains;
        st->rules += p->n_rules;
        st->elems += p->n_elems;
        st->no_local_internal += p->no_local_internal;
        st->no_local_external += p->no_local_external;
}

static int flow_eq(const plan_flow *a, const plan_flow *b)
{
        return a->dport == b->dport && a->vip.family == b->vip.family && a->ep.family == b->ep.family &&
               !memcmp(&a->vip.v6, &b->vip.v6, a->vip.family == AF_INET6 ? 16 : a->vip.family ? 4 : 0) &&
               !memcmp(&a->ep.v6, &b->ep.v6, a->ep.family == AF_INET6 ? 16 : 4);
}

/* EP: flows DNATed to that endpoint; NULL: flows that never went through DNAT. */
static void stale_add(proxier *px, const kn_addr *vip, uint16_t dport, const kn_addr *ep)
{
        if (px->n_stale == px->cap_stale) {
                px->cap_stale = px->cap_stale ? px->cap_stale * 2 : 64;
                px->stale = kn_realloc(px->stale, px->cap_stale * sizeof(*px->stale));
        }
        px->stale[px->n_stale++] = (kn_conntrack_filter){.family = px->family, .orig_dst = *vip, .orig_dport = dport,
                                                         .reply_src = ep ? *ep : (kn_addr){0},
                                                         .untranslated = !ep};
}

/* After a successful sync: flows that lost their endpoint, and destinations that just
 * got endpoints (their old flows never went through DNAT), are queued for clearing. */
static void clear_flows(proxier *px, const struct record *old, const plan *p, proxier_stats *st)
{
        (void)st;
        for (size_t i = 0; old && i < old->n_flows; i++) {
                const plan_flow *f = &old->flows[i];
                bool kept = false;
                for (size_t k = 0; p && k < p->n_flows && !kept; k++)
                        kept = flow_eq(f, &p->flows[k]);
                if (!kept)
                        stale_add(px, &f->vip, f->dport, &f->ep);
        }
        for (size_t i = 0; p && i < p->n_flows; i++) {
                const plan_flow *f = &p->flows[i];
                bool had = false, seen = false;
                for (size_t k = 0; old && k < old->n_flows && !had; k++)
                        had = old->flows[k].dport == f->dport && old->flows[k].vip.family == f->vip.family &&
                              !memcmp(&old->flows[k].vip.v6, &f->vip.v6, sizeof(f->vip.v6));
                for (size_t k = 0; k < i && !seen; k++)
                        seen = p->flows[k].dport == f->dport && !memcmp(&p->flows[k].vip, &f->vip, sizeof(f->vip));
                if (had || seen || !f->vip.family)
                        continue;
                stale_add(px, &f->vip, f->dport, NULL);
        }
}

size_t proxier_take_stale_flows(proxier *px, kn_conntrack_filter **ret)
{
        size_t n = px->n_stale;
        *ret = TAKE_PTR(px->stale);
        px->n_stale = px->cap_stale = 0;
        return n;
}

/* Every chain and set name the records hold, as NULL-terminated arrays. */
static int records_names(proxier *px, char ***ret_chains, char ***ret_sets)
{
        size_t nc = 0, ns = 0, cc = 0, cs = 0;
        char **c = NULL, **s = NULL;
        void *v;

        for (size_t it = 0; kn_hashmap_next(&px->records, &it, NULL, &v);) {
                const struct record *r = v;
                cc += r->n_chains;
                cs += r->n_sets;
        }
        c = kn_calloc(cc + 1, sizeof(char *));
        s = kn_calloc(cs + 1, sizeof(char *));
        for (size_t it = 0; kn_hashmap_next(&px->records, &it, NULL, &v);) {
                const struct record *r = v;
                for (size_t i = 0; i < r->n_chains; i++)
                        c[nc++] = kn_strdup(r->chains[i]);
                for (size_t i = 0; i < r->n_sets; i++)
                        s[ns++] = kn_strdup(r->sets[i]);
        }
        *ret_chains = c;
        *ret_sets = s;
        return 0;
}

static int strp_cmp(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* ONLY (NULL: every Service not quarantined) limits the Services programmed; DRY
 * checks the transaction without applying it (records stay as after a failure). */
static int full_sync(proxier *px, const model *m, const kn_hashmap *only, bool dry, proxier_stats *st,
                     kn_error *err)
{
        char **kchains = NULL, **ksets = NULL;
        kn_nft_tx *tx = kn_nft_tx_new(px->nft, KN_TABLE);
        kn_hashmap olds = {0}, shared = {0}; /* olds: replaced records with UDP flows, for conntrack */
        uint32_t gen = ++px->gen;
        plan sp;
        const char *key;
        void *v;
        int r;

        if (px->base_chains_reset) {
                /* Later full syncs of this process: what we programmed is known, and the
                 * kernel's chain dump costs time quadratic in the number of chains. */
                r = records_names(px, &kchains, &ksets);
        } else {
                r = kn_nft_list_chains(px->nft, KN_TABLE, &kchains, err);
                if (r >= 0)
                        r = kn_nft_list_sets(px->nft, KN_TABLE, &ksets, err);
        }
        if (r < 0 && r != -ENOENT) {
                kn_nft_tx_free(tx);
                kn_strv_free(kchains);
                return r;
        }
        kn_nft_tx_add_table(tx, "rules for kube-proxy");
        rules_static(&px->rc, &sp);
        /* The first full sync of this process deletes and re-creates the base chains, so
         * a table left by another version with other hooks or priorities is corrected.
         * Static maps are flushed and refilled; chains that may exist are flushed. */
        if (!px->base_chains_reset)
                for (size_t i = 0; i < sp.n_base_chains; i++) {
                        kn_nft_tx_add_chain(tx, &(kn_nft_chain){.name = sp.base_chains[i].name});
                        kn_nft_tx_flush_chain(tx, sp.base_chains[i].name);
                        kn_nft_tx_delete_chain(tx, sp.base_chains[i].name);
                }
        queue_plan(tx, &(plan){.base_chains = sp.base_chains, .n_base_chains = sp.n_base_chains}, true, st);
        for (size_t i = 0; i < sp.n_chains; i++) {
                kn_nft_tx_add_chain(tx, &(kn_nft_chain){.name = sp.chains[i], .comment = rules_chain_comment(sp.chains[i])});
                kn_nft_tx_flush_chain(tx, sp.chains[i]);
        }
        for (size_t i = 0; i < sp.n_sets; i++) {
                kn_nft_tx_add_set(tx, &sp.sets[i]);
                kn_nft_tx_flush_set(tx, sp.sets[i].name);
        }
        /* Flush every other chain we find, so stale ones lose their references. */
        for (char **c = kchains; c && *c; c++)
                if (strchr(*c, '/'))
                        kn_nft_tx_flush_chain(tx, *c);
        for (size_t i = 0; i < sp.n_rules; i++)
                kn_nft_tx_add_rule(tx, &sp.rules[i]);
        for (size_t i = 0; i < sp.n_elems; i++)
                kn_nft_tx_add_elem(tx, sp.elems[i].set, &sp.elems[i].e);
        st->chains += sp.n_chains + sp.n_base_chains;
        st->rules += sp.n_rules;
        st->elems += sp.n_elems;

        /* Owners first: every Service's claims are known before any plan is queued. */
        for (size_t it = 0; kn_hashmap_next(&m->services, &it, &key, &v);)
                claims_update(&px->claims, key, v, NULL);
        claims_retain(&px->claims, m, NULL);
        for (size_t it = 0; kn_hashmap_next(&m->services, &it, &key, &v);) {
                plan p;
                if (only ? !kn_hashmap_get(only, key) : excluded(px, key))
                        continue;
                rules_service(&px->rc, m, v, &p);
                keep_owned(px, key, &p);
                if (!p.n_chains && !p.n_elems) {
                        plan_free(&p);
                        continue;
                }
                queue_plan(tx, &p, false, st); /* already flushed above if they existed */
                for (size_t i = 0; i < p.n_elems; i++) {
                        size_t c;
                        if (!shared_elem(p.elems[i].set))
                                continue;
                        c = shared_count(&shared, p.elems[i].id);
                        if (!c) /* the set was flushed above */
                                kn_nft_tx_add_elem(tx, p.elems[i].set, &p.elems[i].e);
                        shared_set_count(&shared, p.elems[i].id, c + 1);
                }
                {
                        /* The new record replaces the old one at once (memory: not two sets
                         * of records at 10k+); an old one with UDP flows is kept for conntrack. */
                        struct record *rec = record_of(&p), *old = NULL;
                        rec->gen = gen;
                        kn_hashmap_put(&px->records, key, rec, (void **)&old);
                        if (old && old->n_flows)
                                kn_hashmap_put(&olds, key, old, NULL);
                        else
                                record_free(old);
                }
                plan_free(&p);
        }
        /* Delete what is left over from before: chains first, then affinity sets. What this
         * sync keeps is a sorted array of names borrowed from the plans and records. */
        {
                size_t n = sp.n_chains + sp.n_base_chains + sp.n_sets, k = 0;
                const char **want;
                for (size_t it = 0; kn_hashmap_next(&px->records, &it, NULL, &v);)
                        if (((const struct record *)v)->gen == gen)
                                n += ((const struct record *)v)->n_chains + ((const struct record *)v)->n_sets;
                want = kn_calloc(n + 1, sizeof(*want));
                for (size_t i = 0; i < sp.n_chains; i++)
                        want[k++] = sp.chains[i];
                for (size_t i = 0; i < sp.n_base_chains; i++)
                        want[k++] = sp.base_chains[i].name;
                for (size_t i = 0; i < sp.n_sets; i++)
                        want[k++] = sp.sets[i].name;
                for (size_t it = 0; kn_hashmap_next(&px->records, &it, NULL, &v);) {
                        const struct record *rec = v;
                        if (rec->gen != gen)
                                continue; /* a Service that is gone */
                        for (size_t i = 0; i < rec->n_chains; i++)
                                want[k++] = rec->chains[i];
                        for (size_t i = 0; i < rec->n_sets; i++)
                                want[k++] = rec->sets[i];
                }
                qsort(want, k, sizeof(*want), strp_cmp);
                for (char **c = kchains; c && *c; c++)
                        if (!bsearch(c, want, k, sizeof(*want), strp_cmp)) {
                                if (!strchr(*c, '/'))
                                        kn_nft_tx_flush_chain(tx, *c);
                                kn_nft_tx_delete_chain(tx, *c);
                        }
                for (char **s = ksets; s && *s; s++)
                        if (!bsearch(s, want, k, sizeof(*want), strp_cmp))
                                kn_nft_tx_delete_set(tx, *s);
                free(want);
        }
        {
                int64_t t0 = kn_now_ms();
                r = dry ? kn_nft_tx_check(tx, err) : kn_nft_tx_commit(tx, err);
                st->commit_ms = kn_now_ms() - t0;
        }
        note_refusal(px, tx, r);
        kn_nft_tx_free(tx);
        plan_free(&sp);
        kn_strv_free(kchains);
        kn_strv_free(ksets);
        if (r < 0 || dry) {
                /* Nothing was applied. The records now describe what this sync wanted, so
                 * the next full sync lists the kernel's chains instead; old records with
                 * UDP flows go back, so their flows are still known. */
                for (size_t it = 0; kn_hashmap_next(&olds, &it, &key, &v);) {
                        struct record *uncommitted = NULL;
                        kn_hashmap_put(&px->records, key, v, (void **)&uncommitted);
                        record_free(uncommitted);
                }
                kn_hashmap_clear(&olds, NULL);
                kn_hashmap_clear(&shared, NULL);
                px->base_chains_reset = false;
                return r;
        }
        /* Conntrack: compare against what we believed before; forget Services that are gone. */
        {
                size_t n_gone = 0;
                char **gone = kn_calloc(px->records.len + 1, sizeof(char *));
                for (size_t it = 0; kn_hashmap_next(&px->records, &it, &key, &v);) {
                        struct record *nw = v, *old = kn_hashmap_get(&olds, key);
                        plan p = {.flows = nw->flows, .n_flows = nw->n_flows};
                        if (nw->gen != gen) {
                                clear_flows(px, nw, NULL, st);
                                gone[n_gone++] = kn_strdup(key);
                        } else if (old || nw->n_flows) {
                                clear_flows(px, old, &p, st);
                        }
                }
                for (size_t i = 0; i < n_gone; i++) {
                        record_free(kn_hashmap_remove(&px->records, gone[i]));
                        free(gone[i]);
                }
                free(gone);
        }
        kn_hashmap_clear(&olds, record_free);
        kn_hashmap_clear(&px->shared, NULL);
        px->shared = shared;
        px->base_chains_reset = true;
        return 0;
}

/* Whether R programmed the element ID with the value VALUE. */
static bool record_has_elem(const struct record *r, const char *id, const char *value)
{
        char buf[RULES_ELEM_ID_MAX];
        for (size_t i = 0; r && i < r->n_elems; i++)
                if (strcmp(rec_elem_id(&r->elems[i], buf), id) == 0)
                        return r->elems[i].value == kn_fnv1a64(value);
        return false;
}

struct shared_delta {
        const kn_nft_set *set;
        kn_nft_elem e; /* key only */
        long d;
        size_t now; /* the count once this sync is committed */
};

static void shared_delta_add(kn_hashmap *delta, const char *id, const kn_nft_set *set, const kn_nft_elem *e, long d)
{
        struct shared_delta *sd = kn_hashmap_get(delta, id);
        if (!sd) {
                sd = kn_calloc(1, sizeof(*sd));
                sd->set = set;
                sd->e = *e;
                sd->e.chain = NULL;
                sd->e.comment = NULL;
                kn_hashmap_put(delta, id, sd, NULL);
        }
        sd->d += d;
}

/* Sync the Services in WORK (the dirty ones and those whose keys changed owner);
 * DRY checks the transaction without applying it or touching the records. */
static int partial_sync(proxier *px, const model *m, const kn_hashmap *work, bool dry, proxier_stats *st,
                        kn_error *err)
{
        size_t n = work->len, k = 0;
        const char **keys = kn_calloc(n + 1, sizeof(char *));
        plan *plans = kn_calloc(n + 1, sizeof(plan));
        struct record **olds = kn_calloc(n + 1, sizeof(*olds));
        kn_nft_tx *tx = kn_nft_tx_new(px->nft, KN_TABLE);
        kn_hashmap delta = {0}; /* shared element id -> struct shared_delta */
        const char *key;
        void *v;
        int r;

        for (size_t it = 0; kn_hashmap_next(work, &it, &key, NULL);) {
                keys[k] = key;
                rules_service(&px->rc, m, excluded(px, key) ? NULL : kn_hashmap_get(&m->services, key), &plans[k]);
                keep_owned(px, key, &plans[k]);
                olds[k] = kn_hashmap_get(&px->records, key);
                for (size_t e = 0; olds[k] && e < olds[k]->n_elems; e++) {
                        char id[RULES_ELEM_ID_MAX];
                        kn_nft_elem key = rec_elem_key(&olds[k]->elems[e]);
                        if (shared_elem(olds[k]->elems[e].set))
                                shared_delta_add(&delta, rec_elem_id(&olds[k]->elems[e], id), olds[k]->elems[e].set,
                                                 &key, -1);
                }
                for (size_t e = 0; e < plans[k].n_elems; e++)
                        if (shared_elem(plans[k].elems[e].set))
                                shared_delta_add(&delta, plans[k].elems[e].id, plans[k].elems[e].set,
                                                 &plans[k].elems[e].e, +1);
                k++;
        }
        /* shared elements: deleted when the last user goes, added with the first */
        for (size_t it = 0; kn_hashmap_next(&delta, &it, &key, &v);) {
                struct shared_delta *sd = v;
                long now = (long)shared_count(&px->shared, key) + sd->d;
                sd->now = now > 0 ? (size_t)now : 0;
                if (shared_count(&px->shared, key) && !sd->now)
                        kn_nft_tx_delete_elem(tx, sd->set, &sd->e);
        }
        /* 1. elements that go away or change value */
        for (size_t i = 0; i < n; i++)
                for (size_t e = 0; olds[i] && e < olds[i]->n_elems; e++) {
                        const struct rec_elem *re = &olds[i]->elems[e];
                        char id[RULES_ELEM_ID_MAX];
                        bool same = false;
                        if (shared_elem(re->set))
                                continue;
                        rec_elem_id(re, id);
                        for (size_t q = 0; q < plans[i].n_elems && !same; q++)
                                same = strcmp(plans[i].elems[q].id, id) == 0 &&
                                       kn_fnv1a64(plans[i].elems[q].value) == re->value;
                        if (!same) {
                                kn_nft_elem key = rec_elem_key(re);
                                kn_nft_tx_delete_elem(tx, re->set, &key);
                        }
                }
        /* 2. chains: new ones created, surviving ones flushed, leaving ones flushed */
        for (size_t i = 0; i < n; i++) {
                for (size_t c = 0; c < plans[i].n_chains; c++) {
                        kn_nft_tx_add_chain(tx, &(kn_nft_chain){.name = plans[i].chains[c]});
                        if (olds[i] && strv_has(olds[i]->chains, olds[i]->n_chains, plans[i].chains[c]))
                                kn_nft_tx_flush_chain(tx, plans[i].chains[c]);
                }
                for (size_t c = 0; olds[i] && c < olds[i]->n_chains; c++)
                        if (!strv_has(plans[i].chains, plans[i].n_chains, olds[i]->chains[c]))
                                kn_nft_tx_flush_chain(tx, olds[i]->chains[c]);
        }
        /* 3. sets, rules, new elements */
        for (size_t i = 0; i < n; i++) {
                for (size_t s = 0; s < plans[i].n_sets; s++)
                        kn_nft_tx_add_set(tx, &plans[i].sets[s]);
                for (size_t q = 0; q < plans[i].n_rules; q++)
                        kn_nft_tx_add_rule(tx, &plans[i].rules[q]);
                for (size_t q = 0; q < plans[i].n_elems; q++) {
                        if (shared_elem(plans[i].elems[q].set))
                                continue;
                        if (!record_has_elem(olds[i], plans[i].elems[q].id, plans[i].elems[q].value))
                                kn_nft_tx_add_elem(tx, plans[i].elems[q].set, &plans[i].elems[q].e);
                }
                st->chains += plans[i].n_chains;
                st->rules += plans[i].n_rules;
                st->elems += plans[i].n_elems;
                st->no_local_internal += plans[i].no_local_internal;
                st->no_local_external += plans[i].no_local_external;
        }
        for (size_t it = 0; kn_hashmap_next(&delta, &it, &key, &v);) {
                const struct shared_delta *sd = v;
                if (!shared_count(&px->shared, key) && sd->now)
                        kn_nft_tx_add_elem(tx, sd->set, &sd->e);
        }
        /* 4. chains and affinity sets that are no longer wanted */
        for (size_t i = 0; i < n; i++)
                for (size_t c = 0; olds[i] && c < olds[i]->n_chains; c++)
                        if (!strv_has(plans[i].chains, plans[i].n_chains, olds[i]->chains[c]))
                                kn_nft_tx_delete_chain(tx, olds[i]->chains[c]);
        for (size_t i = 0; i < n; i++)
                for (size_t s = 0; olds[i] && s < olds[i]->n_sets; s++) {
                        bool kept = false;
                        for (size_t q = 0; q < plans[i].n_sets && !kept; q++)
                                kept = strcmp(plans[i].sets[q].name, olds[i]->sets[s]) == 0;
                        if (!kept)
                                kn_nft_tx_delete_set(tx, olds[i]->sets[s]);
                }
        {
                int64_t t0 = kn_now_ms();
                r = !kn_nft_tx_size(tx) ? 0 : dry ? kn_nft_tx_check(tx, err) : kn_nft_tx_commit(tx, err);
                st->commit_ms = kn_now_ms() - t0;
        }
        note_refusal(px, tx, r);
        kn_nft_tx_free(tx);
        for (size_t it = 0; kn_hashmap_next(&delta, &it, &key, &v);)
                if (r >= 0 && !dry)
                        shared_set_count(&px->shared, key, ((struct shared_delta *)v)->now);
        kn_hashmap_clear(&delta, free);
        if (r >= 0 && !dry)
                for (size_t i = 0; i < n; i++) {
                        clear_flows(px, olds[i], &plans[i], st);
                        if (plans[i].n_chains || plans[i].n_elems)
                                kn_hashmap_put(&px->records, keys[i], record_of(&plans[i]), (void **)&olds[i]);
                        else
                                olds[i] = kn_hashmap_remove(&px->records, keys[i]);
                        record_free(olds[i]);
                }
        for (size_t i = 0; i < n; i++)
                plan_free(&plans[i]);
        free(plans);
        free(olds);
        free(keys);
        return r;
}

static void quarantine(proxier *px, const char *svc, const kn_error *why, int64_t now)
{
        struct quarantine *q = kn_hashmap_get(&px->quarantine, svc);

        if (!q) {
                q = kn_calloc(1, sizeof(*q));
                q->backoff_ms = QUARANTINE_FIRST_MS;
                kn_hashmap_put(&px->quarantine, svc, q, NULL);
        } else {
                q->backoff_ms = q->backoff_ms * 2 > QUARANTINE_MAX_MS ? QUARANTINE_MAX_MS : q->backoff_ms * 2;
        }
        q->retry_ms = now + q->backoff_ms;
        q->trying = false;
        kn_err("failed to program service %s (%s rules), left out and tried again in %llds: %s", svc,
               px->family == AF_INET6 ? "IPv6" : "IPv4", (long long)(q->backoff_ms / 1000), why->msg);
}

static int run(proxier *px, const model *m, bool full, const kn_hashmap *work, const kn_hashmap *only, bool dry,
               proxier_stats *st, kn_error *err)
{
        px->dry_runs += dry;
        return full ? full_sync(px, m, only, dry, st, err) : partial_sync(px, m, only ? only : work, dry, st, err);
}

/* KEYS[0..N) fail together: halve them with dry runs down to the Services that fail
 * alone, and quarantine those. BASE goes into every dry run (the deleted Services of
 * a partial sync: their elements must go before another Service may add them).
 * Returns how many were quarantined. */
static size_t bisect(proxier *px, const model *m, bool full, const char **keys, size_t n, const kn_hashmap *base,
                     int *budget, int64_t now)
{
        size_t h = n / 2, found = 0;

        for (int half = 0; half < 2 && n > 1; half++) {
                const char **sub = half ? keys + h : keys;
                size_t ns = half ? n - h : h;
                kn_hashmap only = {0};
                proxier_stats st = {0};
                const char *key;
                kn_error e;
                int r;
                if (*budget <= 0)
                        return found;
                --*budget;
                for (size_t i = 0; i < ns; i++)
                        kn_hashmap_put(&only, sub[i], (void *)1, NULL);
                for (size_t it = 0; kn_hashmap_next(base, &it, &key, NULL);)
                        kn_hashmap_put(&only, key, (void *)1, NULL);
                r = run(px, m, full, NULL, &only, true, &st, &e);
                kn_hashmap_clear(&only, NULL);
                if (r >= 0)
                        continue;
                if (ns == 1) {
                        quarantine(px, sub[0], &e, now);
                        found++;
                } else {
                        found += bisect(px, m, full, sub, ns, base, budget, now);
                }
        }
        return found;
}

/* The Service ("ns/name") a chain or set of rules_service belongs to: its name is
 * PREFIX-HASH-ns/name/proto/port[...] (ns and name have no '/', prefix and hash no '-'). */
static bool service_of_object(const char *obj, char *buf, size_t len)
{
        const char *p = obj, *slash;

        for (int dash = 0; dash < 2; dash++) {
                if (!(p = strchr(p, '-')))
                        return false;
                p++;
        }
        if (!(slash = strchr(p, '/')) || !(slash = strchr(slash + 1, '/')) || (size_t)(slash - p) >= len)
                return false;
        memcpy(buf, p, (size_t)(slash - p));
        buf[slash - p] = '\0';
        return true;
}

/* After a refused transaction: which Services is it refused for? ERR is the refusal,
 * the reason when a single Service was in it. When the refused message names a chain
 * or set of a Service (nft.c maps the error back to its message), that Service is
 * tried first: if the transaction passes without it, it alone is quarantined;
 * otherwise (elements, or more than one) halving finds them. */
static size_t isolate(proxier *px, const model *m, bool full, const kn_hashmap *work, const kn_error *err,
                      int64_t now)
{
        const kn_hashmap *from = full ? &m->services : work;
        const char **keys = kn_calloc(from->len + 1, sizeof(char *));
        int budget = ISOLATE_MAX_DRY_RUNS;
        size_t n = 0, found = 0;
        kn_hashmap base = {0};
        const char *key;
        char hint[256] = "";

        if (px->failed_owner[0])
                snprintf(hint, sizeof(hint), "%s", px->failed_owner);
        else if (!service_of_object(px->failed, hint, sizeof(hint)))
                hint[0] = '\0';
        if (!hint[0] || excluded(px, hint) ||
            !kn_hashmap_get(&m->services, hint) || (!full && !kn_hashmap_get(work, hint)))
                hint[0] = '\0';

        for (size_t it = 0; kn_hashmap_next(from, &it, &key, NULL);)
                if (!excluded(px, key) && kn_hashmap_get(&m->services, key))
                        keys[n++] = key;
                else if (!full)
                        kn_hashmap_put(&base, key, (void *)1, NULL);
        qsort(keys, n, sizeof(*keys), strp_cmp);
        if (full && n) {
                /* a table that fails with no Service at all is not a Service's fault */
                kn_hashmap none = {0};
                proxier_stats st = {0};
                kn_error e;
                if (run(px, m, full, NULL, &none, true, &st, &e) < 0)
                        n = 0;
        }
        if (n > 1 && hint[0]) {
                kn_hashmap only = {0};
                proxier_stats st = {0};
                kn_error e;
                for (size_t i = 0; i < n; i++)
                        if (strcmp(keys[i], hint) != 0)
                                kn_hashmap_put(&only, keys[i], (void *)1, NULL);
                for (size_t it = 0; kn_hashmap_next(&base, &it, &key, NULL);)
                        kn_hashmap_put(&only, key, (void *)1, NULL);
                if (run(px, m, full, NULL, &only, true, &st, &e) >= 0) {
                        quarantine(px, hint, err, now);
                        n = 0, found = 1;
                }
                kn_hashmap_clear(&only, NULL);
        }
        if (n == 1) {
                quarantine(px, keys[0], err, now);
                found = 1;
        } else if (n > 1) {
                found = bisect(px, m, full, keys, n, &base, &budget, now);
        }
        kn_hashmap_clear(&base, NULL);
        free(keys);
        return found;
}

int proxier_sync(proxier *px, const model *m, const kn_hashmap *dirty, bool *ret_full, proxier_stats *st,
                 kn_error *err)
{
        bool full = px->need_full;
        kn_hashmap work = {0};
        int64_t now = kn_now_ms();
        const char *key;
        void *v;
        int r;

        *st = (proxier_stats){0};
        px->dry_runs = 0;
        /* Quarantined Services: forgotten when gone, tried again when due or changed. */
        if (px->quarantine.len) {
                char **gone = kn_calloc(px->quarantine.len + 1, sizeof(char *));
                size_t n_gone = 0;
                for (size_t it = 0; kn_hashmap_next(&px->quarantine, &it, &key, &v);) {
                        struct quarantine *q = v;
                        if (!kn_hashmap_get(&m->services, key))
                                gone[n_gone++] = kn_strdup(key);
                        q->trying = q->retry_ms <= now || (!full && kn_hashmap_get(dirty, key));
                        if (q->trying && !full)
                                kn_hashmap_put(&work, key, (void *)1, NULL);
                }
                for (size_t i = 0; i < n_gone; i++) {
                        free(kn_hashmap_remove(&px->quarantine, gone[i]));
                        free(gone[i]);
                }
                free(gone);
        }
        if (!full)
                for (size_t it = 0; kn_hashmap_next(dirty, &it, &key, NULL);) {
                        kn_hashmap_put(&work, key, (void *)1, NULL);
                        claims_update(&px->claims, key, kn_hashmap_get(&m->services, key), &work);
                }
        r = run(px, m, full, &work, NULL, false, st, err);
        if (r < 0 && r != -ENOMEM && isolate(px, m, full, &work, err, now) > 0) {
                /* the others, at once; the quarantined ones' old rules go */
                *st = (proxier_stats){0};
                r = run(px, m, full, &work, NULL, false, st, err);
        }
        if (px->quarantine.len) {
                /* what was tried and not quarantined again is programmed now */
                char **done = kn_calloc(px->quarantine.len + 1, sizeof(char *));
                size_t n_done = 0;
                for (size_t it = 0; kn_hashmap_next(&px->quarantine, &it, &key, &v);) {
                        struct quarantine *q = v;
                        if (q->trying && r >= 0)
                                done[n_done++] = kn_strdup(key);
                        q->trying = false;
                }
                for (size_t i = 0; i < n_done; i++) {
                        kn_info("service %s: %s rules programmed after quarantine", done[i],
                                px->family == AF_INET6 ? "IPv6" : "IPv4");
                        free(kn_hashmap_remove(&px->quarantine, done[i]));
                        free(done[i]);
                }
                free(done);
        }
        kn_hashmap_clear(&work, NULL);
        px->need_full = r < 0;
        st->conflicts = claims_conflicts(&px->claims);
        st->quarantined = px->quarantine.len;
        st->dry_runs = px->dry_runs;
        if (ret_full)
                *ret_full = full;
        return r;
}

int64_t proxier_next_retry_ms(const proxier *px)
{
        int64_t next = 0;
        void *v;
        for (size_t it = 0; kn_hashmap_next(&px->quarantine, &it, NULL, &v);) {
                const struct quarantine *q = v;
                if (!next || q->retry_ms < next)
                        next = q->retry_ms;
        }
        return next;
}

int proxier_cleanup(int family, kn_error *err)
{
        kn_nft *n;
        int r = kn_nft_open(family, &n, err);
        if (r < 0)
                return r;
        r = kn_nft_delete_table(n, KN_TABLE, err);
        kn_nft_close(n);
        return r;
}
