/* SPDX-License-Identifier: Apache-2.0 */
/* One proxier per IP family: turns the model into nftables transactions (full or
 * partial syncs), remembers what it programmed, and clears stale UDP conntrack flows. */
#ifndef PROXY_PROXIER_H
#define PROXY_PROXIER_H

#include "conntrack.h"
#include "model.h"
#include "rules.h"

typedef struct proxier proxier;

typedef struct proxier_stats {
        size_t chains, rules, elems;   /* in the last transaction */
        unsigned conntrack_deleted;    /* set by the caller: see proxier_take_stale_flows */
        unsigned no_local_internal, no_local_external;
        int64_t commit_ms;             /* time in the kernel commit (the rest is building) */
        size_t conflicts;              /* keys a Service skipped because another one owns them */
        size_t quarantined;            /* Services left out because the kernel refused them */
        unsigned dry_runs;             /* transactions checked to find them, in this sync */
} proxier_stats;

int proxier_new(int family, proxier **ret, kn_error *err);
void proxier_free(proxier *px);
int proxier_family(const proxier *px);
/* Replace the rules configuration (cluster CIDRs, node IPs…); forces a full sync. */
void proxier_set_config(proxier *px, const rules_config *rc);
void proxier_need_full(proxier *px);
bool proxier_wants_full(const proxier *px);

/* Sync the services in DIRTY (or everything when a full sync is due). The model must
 * not change during the call. Returns 0 or -errno with *err set; a failed sync makes
 * the next one full. *ret_full tells which kind ran. */
int proxier_sync(proxier *px, const model *m, const kn_hashmap *dirty, bool *ret_full, proxier_stats *st,
                 kn_error *err);

/* The UDP conntrack patterns the syncs so far left to clear (flows that lost their
 * endpoint, destinations that just got one), handed to the caller: it clears them
 * with kn_conntrack_delete_many (one dump) without holding the lock the model is
 * under. The caller frees *RET. */
size_t proxier_take_stale_flows(proxier *px, kn_conntrack_filter **ret);

/* When a quarantined Service is due to be tried again (monotonic ms), 0 = none. A
 * Service the kernel refuses is found by dry runs of halves of the transaction, left
 * out, and tried again after 1 s doubling to 5 min, or as soon as it changes. */
int64_t proxier_next_retry_ms(const proxier *px);

/* Remove every object knode created (the kube-proxy table of this family). */
int proxier_cleanup(int family, kn_error *err);

#endif
