/* SPDX-License-Identifier: Apache-2.0 */
/* The node's resources: capacity from the machine, allocatable after kubeReserved,
 * systemReserved and the hard eviction thresholds, and the pressure conditions. */
#ifndef KUBELET_RESOURCES_H
#define KUBELET_RESOURCES_H

#include "internal.h"

#if defined(__x86_64__)
#define KUBELET_ARCH "amd64"
#elif defined(__aarch64__)
#define KUBELET_ARCH "arm64"
#elif defined(__arm__)
#define KUBELET_ARCH "arm"
#elif defined(__powerpc64__)
#define KUBELET_ARCH "ppc64le"
#elif defined(__s390x__)
#define KUBELET_ARCH "s390x"
#elif defined(__riscv)
#define KUBELET_ARCH "riscv64"
#else
#define KUBELET_ARCH "unknown"
#endif

enum { RES_CPU, RES_MEMORY, RES_EPHEMERAL, RES_PODS, RES_HUGE_2M, RES_HUGE_1G, N_RES };

typedef struct kubelet_node_resources {
        int64_t capacity[N_RES];    /* cpu in millicores, the rest in bytes or a count */
        int64_t allocatable[N_RES];
        bool memory_pressure, disk_pressure, pid_pressure;
} kubelet_node_resources;

void kubelet_node_resources_get(kubelet *k, kubelet_node_resources *ret);
cJSON *kubelet_resources_json(const kubelet_node_resources *r, bool allocatable);

#endif
