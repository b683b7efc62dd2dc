/* SPDX-License-Identifier: Apache-2.0 */
/* Keys that two Services can claim in one family's table, each given one owner before
 * anything reaches the kernel (one object never stops the others):
 *   - a destination "IP:port/PROTO": a ClusterIP, externalIP or LoadBalancer ingress IP
 *     with a Service port (maps service-ips, no-endpoint-services, firewall-ips);
 *   - "nodePort N/PROTO" (maps service-nodeports, no-endpoint-nodeports);
 *   - "clusterIP IP" (set cluster-ips).
 * The owner: a claim by the key's ClusterIP first (the API server allocated it; an
 * externalIP must not take over another Service's ClusterIP), then the oldest Service
 * (metadata.creationTimestamp), then the smallest namespace/name. The other Services
 * skip that key only, with a warning logged once when they lose it. Pure bookkeeping,
 * no I/O; one per proxier (family). */
#ifndef PROXY_CLAIMS_H
#define PROXY_CLAIMS_H

#include "model.h"
#include "rules.h"

#define CLAIMS_KEY_MAX 80

typedef struct claims {
        int family;
        kn_hashmap keys;   /* claim key -> struct claim */
        kn_hashmap by_svc; /* ns/name -> struct svc_claims */
        size_t n_lost;     /* (key, Service) pairs skipped because another Service owns the key */
} claims;

void claims_init(claims *c, int family);
void claims_free(claims *c);

/* Re-read the claims of Service SVC ("ns/name") from S (NULL: the Service is gone).
 * Every Service whose ownership of a key changed (the old and the new owner) is put in
 * CHANGED (ns/name -> (void *)1), so its plan is rebuilt in the same sync. */
void claims_update(claims *c, const char *svc, const model_service *s, kn_hashmap *changed);
/* Forget the Services that are no longer in M (a full sync). */
void claims_retain(claims *c, const model *m, kn_hashmap *changed);

/* Whether SVC may program KEY: it owns it, or nobody claims it (not indexed). */
bool claims_owns(const claims *c, const char *svc, const char *key);
size_t claims_conflicts(const claims *c);
/* The Service ("ns/name") that owns KEY, or NULL when nobody claims it. */
const char *claims_owner(const claims *c, const char *key);

/* The claim key of an element of SET, or NULL when the set's elements are not claimed
 * (hairpin-connections is shared by counting, nodeport-ips is static). */
const char *claims_elem_key(const kn_nft_set *set, const kn_nft_elem *e, char buf[static CLAIMS_KEY_MAX]);
/* The claim key of a UDP flow's destination. */
const char *claims_flow_key(const plan_flow *f, char buf[static CLAIMS_KEY_MAX]);

#endif
