/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet API (port 10250, HTTPS): /healthz, /pods, /runningpods/, /configz,
 * /containerLogs, /exec, /attach, /portForward, /run, /metrics, /metrics/resource,
 * /metrics/probes, /stats/summary;
 * authenticated and authorized as upstream's kubelet (kubelet/auth.h). With readOnlyPort
 * > 0 also a plain HTTP server without authentication for /healthz, /pods, /stats and
 * /metrics. Standalone: it reads pods from a pod source and containers from the CRI, and
 * knows nothing of the pod lifecycle.
 *
 * One accept thread; one thread per connection, at most KUBELET_SERVER_MAX_CONNS at a
 * time (more are closed at once), one request per connection. Long-lived streams (logs
 * with follow, exec/attach/port-forward) hold only their own thread. Request heads are
 * bounded (16 KiB) and must arrive within 10 s. TLS writes may raise SIGPIPE: the
 * process ignores it (kn_signals_block does).
 *
 * Exec/attach/port-forward are relayed as the client sent them (SPDY upgrades); the API
 * server sends WebSocket V5 to a kubelet only when its Node declares the
 * ExtendWebSocketsToKubelet feature, which a knode node must not. */
#ifndef KUBELET_SERVER_H
#define KUBELET_SERVER_H

#include "../core/api.h"
#include "../core/informer.h"
#include "../core/metrics.h"
#include "config.h"

#define KUBELET_SERVER_MAX_CONNS 64

typedef struct cri_client cri_client;
typedef struct kubelet_server kubelet_server;

/* Where the server finds the pods bound to this node: GET returns a copy of NS/NAME (NULL:
 * none; the caller frees it), FOREACH calls FN for each while the source is locked. */
typedef struct kubelet_pod_source {
        cJSON *(*get)(void *userdata, const char *ns, const char *name);
        void (*foreach)(void *userdata, void (*fn)(const cJSON *pod, void *arg), void *arg);
        void *userdata;
} kubelet_pod_source;

/* A source reading an informer's cache (one that keeps objects). */
kubelet_pod_source kubelet_informer_pod_source(kn_informer *pods);

typedef struct kubelet_server_opts {
        const kubelet_config *cfg; /* address, port, read_only_port, tls_cert_file, tls_private_key_file,
                                      cert_dir, anonymous_auth, webhook_authn, authorization_mode,
                                      client_ca_file, the webhook cache TTLs, node_ip, root_dir */
        const char *node_name;
        kn_api *api;               /* for TokenReview / SubjectAccessReview */
        cri_client *cri;           /* for Exec/Attach/PortForward URLs, ExecSync, logs, stats */
        kubelet_pod_source pods;   /* pods bound to this node, for /pods and name -> uid */
        /* Optional: the registry /metrics renders (the server's request metrics are
         * registered in it; the server keeps its own when NULL), and what /metrics/probes
         * serves (kubelet_probes_metrics; empty when NULL), called on the connection's
         * thread. */
        kn_metrics *metrics;
        void (*probe_metrics)(void *userdata, kn_buf *out);
        void *probe_metrics_userdata;
        /* Optional, tests: listen on these "host:port" instead (port 0 picks one). */
        const char *listen_addr, *read_only_listen_addr;
} kubelet_server_opts;

/* Loads or makes the serving certificate, binds, and starts serving. */
int kubelet_server_start(const kubelet_server_opts *o, kubelet_server **ret, kn_error *err);
/* The bound ports (tests); read-only: 0 when disabled. */
int kubelet_server_port(const kubelet_server *s);
int kubelet_server_read_only_port(const kubelet_server *s);
/* Stops accepting, ends every stream in progress, waits for the connection threads.
 * Accepts NULL. A CRI call in progress still runs to its deadline: cancel the CRI client
 * first for a quick stop. */
void kubelet_server_free(kubelet_server *s);

#endif
