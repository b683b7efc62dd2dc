/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by kubelet/server.c (listener, dispatch, small endpoints) and
 * kubelet/streams.c (container logs, exec/attach/port-forward, run). */
#ifndef KUBELET_SERVER_INT_H
#define KUBELET_SERVER_INT_H

#include <pthread.h>

#include "auth.h"
#include "http.h"
#include "server.h"
#include "stats.h"

struct kubelet_server {
        kubelet_server_opts o;
        char *node_name;
        kubelet_auth *auth;
        kubelet_stats *stats;
        SSL_CTX *ssl;
        int fd, ro_fd, stop_fd;
        pthread_t thread;
        bool started;
        pthread_mutex_t lock;
        pthread_cond_t idle;
        int n_conns;
        kn_metrics *own_metrics; /* when opts.metrics is NULL */
        kn_metric *m_requests, *m_duration, *m_inflight;
};

/* A pod of the informer by namespace/name: its UID (the static pod's for a mirror pod)
 * and whether CONTAINER (may be NULL) is one of its containers. -ENOENT: no such pod,
 * -ESRCH: no such container. */
int kubelet_server_find_pod(kubelet_server *s, const char *ns, const char *name, const char *container,
                            char **ret_uid);

/* Handlers of kubelet/streams.c; SEGS are the decoded path segments after the first. */
void kubelet_serve_container_logs(kubelet_server *s, kubelet_conn *c, const kubelet_request *req, char **segs,
                                  int n);
void kubelet_serve_stream(kubelet_server *s, kubelet_conn *c, const kubelet_request *req, const char *kind,
                          char **segs, int n);
void kubelet_serve_run(kubelet_server *s, kubelet_conn *c, const kubelet_request *req, char **segs, int n);
void kubelet_serve_running_pods(kubelet_server *s, kubelet_conn *c);

#endif
