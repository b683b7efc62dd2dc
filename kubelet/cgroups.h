/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet's cgroup manager: the node-level hierarchy (<cgroupRoot>/kubepods with its
 * burstable and besteffort QoS cgroups), one cgroup per pod, and the resource arithmetic
 * the kubelet hands to the runtime (QoS class, cpu shares, CFS quota, oom_score_adj).
 *
 * Layout, as upstream's kubelet (pkg/kubelet/cm) with cgroupsPerQOS:
 *   cgroupfs: <root>/kubepods/pod<uid>                  Guaranteed
 *             <root>/kubepods/burstable/pod<uid>        Burstable
 *             <root>/kubepods/besteffort/pod<uid>       BestEffort
 *   systemd:  /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice
 *             (a cgroupRoot "/a/b" prefixes the slice names with "a-b-"; '-' in a pod UID
 *             becomes '_', as systemd reserves '-' for nesting).
 * With the systemd driver knode cannot ask systemd (no D-Bus here): it makes the slice
 * directories itself in cgroupfs, with the names systemd would use. systemd does not
 * own those units then, and would not garbage-collect them.
 *
 * cgroup v1 (and hybrid, v1 controllers with an empty unified tree): every mounted v1
 * hierarchy gets the directories (cpu, cpuacct, cpuset, memory, pids, hugetlb, and the
 * others runc joins too), cpuset.cpus/mems are copied from the parent so tasks can join.
 * cgroup v2: one tree; cpu, cpuset, memory, pids, hugetlb are enabled in each parent's
 * cgroup.subtree_control; cpu.shares become cpu.weight as runc converts them. (The v2 path
 * is not exercised on the development hosts, which are v1 hybrid.)
 *
 * Pods are read as the API server stores them; a missing container request takes the
 * container's limit, as the API's defaulting does (static pods, not defaulted by knode,
 * get the same treatment). Pod-level resources (spec.resources) are honoured as upstream
 * does with the PodLevelResources gate on. Not done: hugepage limits, MemoryQoS
 * (memory.min/high), swap, QOSReserved, pids reservation for kubepods. */
#ifndef KUBELET_CGROUPS_H
#define KUBELET_CGROUPS_H

#include "config.h"

/* The QoS class names; kubelet_pod_qos returns these very pointers. */
extern const char kubelet_qos_guaranteed[], kubelet_qos_burstable[], kubelet_qos_besteffort[];
#define KUBELET_QOS_GUARANTEED kubelet_qos_guaranteed
#define KUBELET_QOS_BURSTABLE kubelet_qos_burstable
#define KUBELET_QOS_BESTEFFORT kubelet_qos_besteffort

/* upstream's constants (pkg/kubelet/cm/helpers_linux.go) */
#define KUBELET_MIN_SHARES 2
#define KUBELET_MAX_SHARES 262144
#define KUBELET_SHARES_PER_CPU 1024
#define KUBELET_QUOTA_PERIOD 100000 /* µs */
#define KUBELET_MIN_QUOTA 1000      /* µs */

/* ---- pure arithmetic (kubelet/qos.c), no file system ---- */

/* QoS class of a pod JSON: status.qosClass when the API server set it, else computed as
 * upstream's ComputePodQOS (containers and init containers; spec.resources alone when
 * present). Returns one of the KUBELET_QOS_* strings. */
const char *kubelet_pod_qos(const cJSON *pod);

/* cpu.shares for a cpu request in millicores: 1024 per core, at least 2, at most 262144;
 * 0 → 2. */
int64_t kubelet_milli_cpu_to_shares(int64_t milli_cpu);
/* cpu.cfs_quota_us for a cpu limit in millicores over PERIOD µs: 0 → 0 (no quota), at
 * least 1000. */
int64_t kubelet_milli_cpu_to_quota(int64_t milli_cpu, int64_t period);

/* The values written into a cgroup; 0 leaves a value untouched (runc's convention).
 * cpu_quota -1 and pids_limit -1 mean unlimited. */
typedef struct kubelet_cgroup_config {
        int64_t cpu_shares, cpu_quota, cpu_period, memory_limit, pids_limit;
} kubelet_cgroup_config;

/* A pod's cgroup values as upstream's ResourceConfigForPod: shares from the pod's cpu
 * requests (init containers, sidecars, overhead and pod-level resources counted as
 * upstream's PodRequests); CFS quota/period (quota -1 unless CFS_QUOTA) and memory limit
 * for Guaranteed pods, and for Burstable pods when every container declares that limit;
 * BestEffort pods get 2 shares only. pids_limit is left 0. */
void kubelet_pod_cgroup_config(const cJSON *pod, bool cfs_quota, kubelet_cgroup_config *ret);
/* The pod's total cpu request in millicores (upstream's PodRequests). */
int64_t kubelet_pod_cpu_request(const cJSON *pod);
/* upstream's PodRequests for admission: cpu in millicores, memory in bytes (0: none). */
void kubelet_pod_resource_requests(const cJSON *pod, int64_t *ret_cpu_milli, int64_t *ret_mem_bytes);

/* Per-container resources for CRI's LinuxContainerResources. */
typedef struct kubelet_container_resources {
        int64_t cpu_shares, cpu_quota, cpu_period, memory_limit, oom_score_adj;
} kubelet_container_resources;

/* From a container spec JSON (one of the pod's containers or init containers) and its pod:
 * cpu_shares from the request (the limit when no request); cpu_quota/cpu_period (0/0
 * unless CFS_QUOTA; quota 0 = no limit); memory_limit (0 = none), where a container
 * without a limit takes the pod-level limit; oom_score_adj as upstream's
 * GetContainerOOMScoreAdjust: node-critical and Guaranteed -997, BestEffort 1000,
 * Burstable 1000 - 1000*memoryRequest/NODE_MEMORY_CAPACITY clamped to [3, 999]
 * (sidecars no higher than the pod's smallest regular container). */
void kubelet_container_resources_compute(const cJSON *pod, const cJSON *container,
                                         int64_t node_memory_capacity, bool cfs_quota,
                                         kubelet_container_resources *ret);

/* ---- the cgroup manager (kubelet/cgroups.c) ---- */

typedef struct kubelet_cgroups kubelet_cgroups;

/* Detect cgroup v1, hybrid or v2; refuse v1/hybrid when cfg->fail_cgroupv1 with
 * upstream's message; check that cfg->cgroup_root exists (upstream refuses a missing
 * one: create it beforehand); with cgroupsPerQOS create kubepods, kubepods/burstable and
 * kubepods/besteffort, give kubepods the node's allocatable (cpu.shares from
 * ALLOCATABLE_CPU_MILLI, memory limit ALLOCATABLE_MEMORY; 0 leaves it unlimited; upstream
 * passes capacity minus kubeReserved and systemReserved, without eviction thresholds),
 * besteffort 2 shares. Reads cgroup_driver ("cgroupfs"/"systemd"), cgroup_root,
 * cgroups_per_qos, cpu_cfs_quota, pod_pids_limit; CFG need not outlive the result. */
int kubelet_cgroups_new(const kubelet_config *cfg, int64_t allocatable_cpu_milli,
                        int64_t allocatable_memory, kubelet_cgroups **ret, kn_error *err);
void kubelet_cgroups_free(kubelet_cgroups *c);

/* "v1", "hybrid" or "v2". */
const char *kubelet_cgroups_mode(const kubelet_cgroups *c);

/* Create or update the pod's cgroup (kubelet_pod_cgroup_config, plus pids.max from
 * podPidsLimit when > 0) after refreshing the burstable QoS cgroup's shares (the sum of
 * the cpu requests of the Burstable pods ensured and not removed). Returns, in
 * *RET_PARENT (malloc'd), upstream's literal cgroup name for CRI's
 * LinuxPodSandboxConfig.cgroup_parent: cgroupfs "/<root>/kubepods/burstable/pod<uid>",
 * systemd "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice"
 * (containerd uses the last element). Without cgroupsPerQOS no pod cgroup is made and the
 * parent is cgroupRoot itself. Thread-safe. */
int kubelet_cgroups_pod_ensure(kubelet_cgroups *c, const cJSON *pod, char **ret_parent,
                               kn_error *err);

/* Forget the pod for the burstable shares, SIGKILL every process left in its cgroups
 * (all hierarchies, container sub-cgroups included; a few rounds, waiting on pidfds up to
 * 10 s in all), then remove the cgroups depth-first. -EBUSY if a process survived.
 * A pod with no cgroup is not an error. Thread-safe; blocks while processes die. */
int kubelet_cgroups_pod_remove(kubelet_cgroups *c, const char *pod_uid, kn_error *err);

/* Give a terminating pod's cgroup the minimum cpu shares while its containers are
 * stopped (upstream's ReduceCPULimits). A pod with no cgroup is not an error. */
int kubelet_cgroups_pod_reduce_cpu(kubelet_cgroups *c, const char *pod_uid, kn_error *err);

/* UIDs of the pod cgroups that exist under kubepods (any QoS, any hierarchy), for orphan
 * cleanup. *RET_UIDS is a malloc'd array of malloc'd strings (kubelet_cgroups_strv_free). */
int kubelet_cgroups_list_pods(kubelet_cgroups *c, char ***ret_uids, size_t *ret_n);
void kubelet_cgroups_strv_free(char **v, size_t n);

#endif
