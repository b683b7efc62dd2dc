/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet's context and what its modules share. Not for use outside kubelet/. */
#ifndef KUBELET_INTERNAL_H
#define KUBELET_INTERNAL_H

#include <pthread.h>

#include "../core/httpd.h"
#include "../core/informer.h"
#include "../core/log.h"
#include "../runtime/cri.h"
#include "kubelet.h"

/* What the container runtime last said about itself (CRI Version + Status). */
typedef struct kubelet_runtime_state {
        bool known;          /* a Status call has answered at least once */
        bool runtime_ready, network_ready;
        char name[64], version[64]; /* "containerd", "1.6.20" */
        char message[512];   /* why not ready, upstream's wording */
} kubelet_runtime_state;

typedef struct kubelet_node kubelet_node;
typedef struct kubelet_pods kubelet_pods;
typedef struct kubelet_server kubelet_server;

struct kubelet {
        kubelet_config cfg;
        kn_common_opts common;
        kn_env *env; /* borrowed */
        char *node_name;
        kn_informer *node_informer, *pod_informer, *svc_informer;
        kn_httpd *healthz;
        kubelet_node *node;
        kubelet_pods *pods;
        struct kubelet_static *statics; /* staticPodPath's pods and their mirrors, or NULL */
        cri_client *cri;
        kubelet_server *server;
        int64_t log_max_size; /* containerLogMaxSize in bytes */

        pthread_mutex_t runtime_lock;
        kubelet_runtime_state runtime;
        int64_t start_ms; /* monotonic */
};

/* node.c: registration, node status and the Lease (one thread). */
int kubelet_node_start(kubelet *k);
void kubelet_node_stop(kubelet *k);
/* Ask the node thread for a status update now (the runtime's state changed). */
void kubelet_node_kick(kubelet *k);
/* The Node object's UID (a copy; "" until registered), the owner of mirror pods. */
char *kubelet_node_uid(kubelet *k);
/* The node's InternalIP addresses (first of each family), for pods' hostIPs. */
void kubelet_node_ips(kubelet *k, char ret_v4[64], char ret_v6[64]);

void kubelet_runtime_get(kubelet *k, kubelet_runtime_state *ret);
/* pods.c: the node's allocatable as posted (emptyDir tmpfs sizes, downward API defaults). */
void kubelet_pods_node_allocatable(kubelet *k, const cJSON *allocatable);
/* runtime.c: ask the runtime (CRI Version + Status) and record the answer. */
void kubelet_runtime_poll(kubelet *k);

#endif
