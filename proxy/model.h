/* SPDX-License-Identifier: Apache-2.0 */
/* kube-proxy's view of the cluster: Services and EndpointSlices parsed from the informer
 * events into compact structs (no JSON kept), indexed by service, with the set of
 * services changed since the last sync. Not thread-safe: proxy.c holds its lock. */
#ifndef PROXY_MODEL_H
#define PROXY_MODEL_H

#include <cjson/cJSON.h>

#include "../core/hashmap.h"
#include "nft.h"

#define MODEL_MAX_PORTS 8192         /* per Service or EndpointSlice */
#define MODEL_MAX_IPS 256            /* externalIPs, LB ingress, source ranges */
#define MODEL_MAX_SLICE_ENDPOINTS 1000 /* the API's own limit per EndpointSlice */

typedef struct model_port {
        char *name;          /* may be "" */
        int proto;           /* IPPROTO_TCP/UDP/SCTP */
        uint16_t port, node_port;
} model_port;

typedef struct model_service {
        char *ns, *name;
        kn_addr cluster_ips[2]; /* by family index: 0 = v4, 1 = v6; family 0 = none */
        model_port *ports;
        size_t n_ports;
        kn_addr *external_ips, *lb_ips;
        size_t n_external_ips, n_lb_ips;
        kn_cidr *source_ranges;
        size_t n_source_ranges;
        bool affinity;          /* sessionAffinity: ClientIP */
        uint32_t affinity_timeout_s;
        bool etp_local, itp_local;
        uint16_t health_check_node_port;
        int64_t created_s;      /* metadata.creationTimestamp (Unix seconds), 0 = unknown */
} model_service;

typedef struct model_endpoint {
        kn_addr addr;
        bool ready, serving, terminating, local;
        char *zone_hints, *node_hints; /* hints.forZones / forNodes names, ","-joined; NULL = none */
} model_endpoint;

typedef struct model_slice {
        char *key;              /* ns/slicename */
        char *service;          /* ns/servicename */
        int family;
        model_endpoint *eps;
        size_t n_eps;
        model_port *ports;      /* node_port unused */
        size_t n_ports;
        int64_t trigger_time_ms;/* endpoints.kubernetes.io/last-change-trigger-time (wall clock), 0 = none */
        struct model_slice *next; /* the service's next slice (model.by_service) */
} model_slice;

/* One resolved endpoint of a service port. */
typedef struct model_ep {
        kn_addr addr;
        uint16_t port;
        bool ready, serving, terminating, local;
        const char *zone_hints, *node_hints; /* borrowed from the slice */
        char str[64];           /* "IP:port" / "[IP]:port": the sort key */
        size_t seq;             /* order met across the slices (ties in the merge) */
} model_ep;

typedef struct model {
        char *node_name;
        kn_hashmap services;    /* ns/name -> model_service */
        kn_hashmap slices;      /* ns/slicename -> model_slice */
        kn_hashmap by_service;  /* ns/servicename -> its first model_slice (a list by ->next) */
        kn_hashmap dirty;       /* ns/servicename -> (void *)1 */
        int64_t oldest_trigger_ms; /* oldest pending trigger time, 0 = none */
} model;

void model_init(model *m, const char *node_name);
void model_free(model *m);

/* Informer events. Bad objects are logged and ignored (a previous good version stays
 * unless the object was deleted). Return 0, or -EINVAL for an object that was refused. */
int model_service_update(model *m, const cJSON *obj);
void model_service_delete(model *m, const cJSON *obj);
int model_slice_update(model *m, const cJSON *obj);
void model_slice_delete(model *m, const cJSON *obj);

/* Mark every service dirty (full sync). */
void model_mark_all_dirty(model *m);
/* Take the dirty set (caller frees with kn_hashmap_clear(…, NULL)). */
kn_hashmap model_take_dirty(model *m);

/* The endpoints of one service port in one family, deduplicated (a local copy wins,
 * else the first met), sorted by "IP:port". One sort, O(n log n) in all the slices'
 * endpoints. */
size_t model_endpoints(const model *m, const model_service *s, const model_port *p, int family,
                       model_ep **ret);

/* Parsing helpers, exposed for tests. */
int model_parse_service(const cJSON *obj, model_service **ret, kn_error *err);
int model_parse_slice(const cJSON *obj, const char *node_name, model_slice **ret, kn_error *err);
void model_service_free(model_service *s);
void model_slice_free(model_slice *s);
const char *model_proto_name(int proto); /* "tcp" / "udp" / "sctp" */
int model_family_index(int family);      /* AF_INET -> 0, AF_INET6 -> 1 */

#endif
