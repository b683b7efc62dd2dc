/* SPDX-License-Identifier: Apache-2.0 */
/* kube-proxy's health answers: /healthz and /livez, and one healthCheckNodePort server
 * per Service with externalTrafficPolicy: Local. The answers come from state the sync
 * loop publishes after each sync (atomics), so a probe never waits for a sync. */
#ifndef PROXY_HEALTH_H
#define PROXY_HEALTH_H

#include <stdatomic.h>

#include "../core/httpd.h"
#include "../core/metrics.h"

typedef struct proxy_health {
        _Atomic int64_t queued_ms;       /* wall-clock ms of the oldest unsynced change, 0 = none */
        _Atomic int64_t last_updated_ms; /* wall clock of the last successful sync */
        _Atomic bool node_eligible;      /* the Node exists and is not being deleted */
        _Atomic int64_t sync_period_ms;  /* unhealthy when a change waits 2 x this */
        kn_metric *healthz, *livez;      /* kubeproxy_proxy_{healthz,livez}_total, or NULL */
} proxy_health;

/* Serve /healthz and /livez (upstream's JSON and status codes) from H on SRV. */
void proxy_health_route(proxy_health *h, kn_httpd *srv);
bool proxy_health_healthy(const proxy_health *h, int64_t now_wall_ms);

/* A healthCheckNodePort server: "/" answers 200 with the number of local ready
 * endpoints, 503 when there are none or the proxy is unhealthy. It listens on every
 * address of both families (one dual-stack socket) when the host has IPv6, else on
 * every IPv4 address. */
typedef struct proxy_hc proxy_hc;
int proxy_hc_new(const proxy_health *h, unsigned port, const char *ns, const char *name, proxy_hc **ret,
                 kn_error *err);
bool proxy_hc_is(const proxy_hc *hc, const char *ns, const char *name);
void proxy_hc_set_local(proxy_hc *hc, int local_endpoints);
int proxy_hc_port(const proxy_hc *hc);
void proxy_hc_free(proxy_hc *hc); /* stops its server; NULL is fine */

#endif
