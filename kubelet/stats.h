/* SPDX-License-Identifier: Apache-2.0 */
/* Node and pod statistics for /stats/summary (stats/v1alpha1 Summary, upstream's JSON
 * shape) and /metrics/resource: the node's CPU and memory from /proc, its filesystem from
 * statvfs of the kubelet's root dir, the image filesystem from CRI ImageFsInfo, pods and
 * containers from CRI ListPodSandboxStats. Thread-safe. */
#ifndef KUBELET_STATS_H
#define KUBELET_STATS_H

#include <cjson/cJSON.h>

#include "../core/util.h"

typedef struct cri_client cri_client;
typedef struct kubelet_stats kubelet_stats;

kubelet_stats *kubelet_stats_new(cri_client *cri, const char *node_name, const char *root_dir);
void kubelet_stats_free(kubelet_stats *st);

/* ONLY_CPU_AND_MEMORY as upstream's query of that name. The node part is always there;
 * a failing CRI leaves pods out (logged) rather than failing the summary. */
int kubelet_stats_summary(kubelet_stats *st, bool only_cpu_and_memory, cJSON **ret, kn_error *err);
/* The /metrics/resource exposition, with sample timestamps like upstream's. */
void kubelet_stats_resource_metrics(kubelet_stats *st, kn_buf *out);
/* /metrics/cadvisor: the core of cAdvisor's container series (cpu, memory, writable
 * layer, start time, the pod's network on its "POD" series, machine cores and memory),
 * from the runtime's CRI stats with cAdvisor's names and labels. */
void kubelet_stats_cadvisor_metrics(kubelet_stats *st, kn_buf *out);

/* The node's CPU time in nanoseconds (all CPUs, /proc/stat) and memory working set and
 * availability (/proc/meminfo: usage = total - free, working set = usage - inactive file);
 * PROC is "/proc" but for tests. */
typedef struct kubelet_node_sample {
        int64_t time_ns;
        uint64_t cpu_ns;
        uint64_t mem_total, mem_usage, mem_working_set, mem_available, mem_rss, swap_usage;
        uint64_t page_faults, major_page_faults;
} kubelet_node_sample;
int kubelet_stats_node_sample(const char *proc, kubelet_node_sample *ret);

#endif
