/* SPDX-License-Identifier: Apache-2.0 */
#include "stats.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/statvfs.h>

#include "../core/log.h"
#include "../runtime/cri.h"

#define STATS_TIMEOUT_MS 10000

struct kubelet_stats {
        cri_client *cri;
        char *node_name, *root_dir;
        pthread_mutex_t lock;
        kubelet_node_sample prev; /* for the node's usageNanoCores */
        int64_t boot_time_s;
};

static int64_t realtime_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t meminfo_kb(const char *data, const char *key)
{
        const char *p = strstr(data, key);
        return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

int kubelet_stats_node_sample(const char *proc, kubelet_node_sample *ret)
{
        _cleanup_free_ char *stat = NULL, *mem = NULL, *vm = NULL;
        _cleanup_free_ char *p1 = kn_asprintf("%s/stat", proc), *p2 = kn_asprintf("%s/meminfo", proc),
                            *p3 = kn_asprintf("%s/vmstat", proc);
        unsigned long long v[8] = {0};
        kubelet_node_sample s = {.time_ns = realtime_ns()};
        long hz = sysconf(_SC_CLK_TCK);
        const char *p;
        size_t len;
        int r;

        r = kn_read_file(p1, 1 << 20, &stat, &len);
        if (r < 0)
                return r;
        if (sscanf(stat, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]) < 4)
                return -EBADMSG;
        /* user nice system idle iowait irq softirq steal: busy is all but idle and iowait */
        s.cpu_ns = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * (1000000000ULL / (uint64_t)(hz > 0 ? hz : 100));
        r = kn_read_file(p2, 1 << 20, &mem, &len);
        if (r < 0)
                return r;
        s.mem_total = meminfo_kb(mem, "MemTotal:") * 1024;
        s.mem_usage = s.mem_total - meminfo_kb(mem, "MemFree:") * 1024;
        uint64_t inactive = meminfo_kb(mem, "Inactive(file):") * 1024;
        s.mem_working_set = s.mem_usage > inactive ? s.mem_usage - inactive : 0;
        s.mem_available = s.mem_total - s.mem_working_set;
        s.mem_rss = meminfo_kb(mem, "AnonPages:") * 1024;
        s.swap_usage = (meminfo_kb(mem, "SwapTotal:") - meminfo_kb(mem, "SwapFree:")) * 1024;
        if (kn_read_file(p3, 1 << 20, &vm, &len) >= 0) {
                s.page_faults = (p = strstr(vm, "pgfault ")) ? strtoull(p + 8, NULL, 10) : 0;
                s.major_page_faults = (p = strstr(vm, "pgmajfault ")) ? strtoull(p + 11, NULL, 10) : 0;
        }
        *ret = s;
        return 0;
}

kubelet_stats *kubelet_stats_new(cri_client *cri, const char *node_name, const char *root_dir)
{
        kubelet_stats *st = kn_calloc(1, sizeof(*st));
        _cleanup_free_ char *stat = NULL;
        size_t len;

        st->cri = cri;
        st->node_name = kn_strdup(node_name);
        st->root_dir = kn_strdup(root_dir);
        pthread_mutex_init(&st->lock, NULL);
        (void)kubelet_stats_node_sample("/proc", &st->prev);
        if (kn_read_file("/proc/stat", 1 << 20, &stat, &len) >= 0) {
                const char *b = strstr(stat, "\nbtime ");
                st->boot_time_s = b ? strtoll(b + 7, NULL, 10) : 0;
        }
        return st;
}

void kubelet_stats_free(kubelet_stats *st)
{
        if (!st)
                return;
        pthread_mutex_destroy(&st->lock);
        free(st->node_name);
        free(st->root_dir);
        free(st);
}

static void add_time(cJSON *o, const char *key, int64_t ns)
{
        char buf[32];
        time_t t = (time_t)(ns / 1000000000LL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
        cJSON_AddStringToObject(o, key, buf);
}

static void add_u64(cJSON *o, const char *key, const Runtime__V1__UInt64Value *v)
{
        if (v)
                cJSON_AddNumberToObject(o, key, (double)v->value);
}

static int node_sample(kubelet_stats *st, kubelet_node_sample *ret, uint64_t *ret_nano_cores)
{
        kubelet_node_sample s;
        int r = kubelet_stats_node_sample("/proc", &s);
        if (r < 0)
                return r;
        pthread_mutex_lock(&st->lock);
        *ret_nano_cores = s.time_ns > st->prev.time_ns && s.cpu_ns >= st->prev.cpu_ns
                                  ? (uint64_t)((double)(s.cpu_ns - st->prev.cpu_ns) * 1e9 /
                                               (double)(s.time_ns - st->prev.time_ns))
                                  : 0;
        /* keep a sample at least a second old, so quick scrapes still see a rate */
        if (s.time_ns - st->prev.time_ns >= 1000000000LL)
                st->prev = s;
        pthread_mutex_unlock(&st->lock);
        *ret = s;
        return 0;
}

static cJSON *fs_json(int64_t t, const char *path, const Runtime__V1__FilesystemUsage *u)
{
        cJSON *o = cJSON_CreateObject();
        struct statvfs sv;
        add_time(o, "time", u && u->timestamp ? u->timestamp : t);
        if (path && statvfs(path, &sv) == 0) {
                cJSON_AddNumberToObject(o, "availableBytes", (double)sv.f_bavail * (double)sv.f_frsize);
                cJSON_AddNumberToObject(o, "capacityBytes", (double)sv.f_blocks * (double)sv.f_frsize);
                if (!u)
                        cJSON_AddNumberToObject(o, "usedBytes",
                                                (double)(sv.f_blocks - sv.f_bfree) * (double)sv.f_frsize);
                cJSON_AddNumberToObject(o, "inodesFree", (double)sv.f_ffree);
                cJSON_AddNumberToObject(o, "inodes", (double)sv.f_files);
                if (!u)
                        cJSON_AddNumberToObject(o, "inodesUsed", (double)(sv.f_files - sv.f_ffree));
        }
        if (u) {
                add_u64(o, "usedBytes", u->used_bytes);
                add_u64(o, "inodesUsed", u->inodes_used);
        }
        return o;
}

static cJSON *cpu_json(const Runtime__V1__CpuUsage *c, int64_t t)
{
        cJSON *o = cJSON_CreateObject();
        add_time(o, "time", c && c->timestamp ? c->timestamp : t);
        if (c) {
                add_u64(o, "usageNanoCores", c->usage_nano_cores);
                add_u64(o, "usageCoreNanoSeconds", c->usage_core_nano_seconds);
        }
        return o;
}

static cJSON *mem_json(const Runtime__V1__MemoryUsage *m, int64_t t)
{
        cJSON *o = cJSON_CreateObject();
        add_time(o, "time", m && m->timestamp ? m->timestamp : t);
        if (m) {
                add_u64(o, "availableBytes", m->available_bytes);
                add_u64(o, "usageBytes", m->usage_bytes);
                add_u64(o, "workingSetBytes", m->working_set_bytes);
                add_u64(o, "rssBytes", m->rss_bytes);
                add_u64(o, "pageFaults", m->page_faults);
                add_u64(o, "majorPageFaults", m->major_page_faults);
        }
        return o;
}

static void add_iface(cJSON *o, const Runtime__V1__NetworkInterfaceUsage *i)
{
        cJSON_AddStringToObject(o, "name", i->name ? i->name : "");
        add_u64(o, "rxBytes", i->rx_bytes);
        add_u64(o, "rxErrors", i->rx_errors);
        add_u64(o, "txBytes", i->tx_bytes);
        add_u64(o, "txErrors", i->tx_errors);
}

static cJSON *net_json(const Runtime__V1__NetworkUsage *n, int64_t t)
{
        cJSON *o = cJSON_CreateObject(), *arr;
        add_time(o, "time", n->timestamp ? n->timestamp : t);
        if (n->default_interface)
                add_iface(o, n->default_interface);
        arr = cJSON_AddArrayToObject(o, "interfaces");
        for (size_t i = 0; i < n->n_interfaces; i++) {
                cJSON *x = cJSON_CreateObject();
                add_iface(x, n->interfaces[i]);
                cJSON_AddItemToArray(arr, x);
        }
        return o;
}

/* Pod stats made from container stats, when ListPodSandboxStats fails (a runtime without
 * it, or one sandbox whose metrics cannot be read failing the whole call): one entry per
 * sandbox, its CPU and memory the sums of its containers'. */
struct synth_pod {
        Runtime__V1__PodSandboxStats ps;
        Runtime__V1__PodSandboxAttributes attrs;
        Runtime__V1__LinuxPodSandboxStats lx;
        Runtime__V1__CpuUsage cpu;
        Runtime__V1__MemoryUsage mem;
        Runtime__V1__UInt64Value cpu_ns, nano_cores, working_set, usage, rss;
};

/* What the CRI says: pod and container stats, creation times, the image filesystem. */
struct cri_view {
        Runtime__V1__ListPodSandboxStatsResponse *pod_stats;
        Runtime__V1__ListContainerStatsResponse *container_stats; /* the fallback */
        struct synth_pod *synth;
        Runtime__V1__PodSandboxStats **pods; /* own array, pointing into pod_stats or synth */
        size_t n_pods, n_synth;
        Runtime__V1__ListContainersResponse *containers;
        Runtime__V1__ListPodSandboxResponse *sandboxes;
        Runtime__V1__ImageFsInfoResponse *imagefs;
        bool error;
};

static void add_value(Runtime__V1__UInt64Value *sum, Runtime__V1__UInt64Value **slot, const Runtime__V1__UInt64Value *v)
{
        if (!v)
                return;
        sum->value += v->value;
        *slot = sum;
}

static void synthesize(struct cri_view *v)
{
        size_t n = v->sandboxes ? v->sandboxes->n_items : 0;

        v->synth = kn_calloc(n ? n : 1, sizeof(*v->synth));
        v->pods = kn_calloc(n ? n : 1, sizeof(*v->pods));
        for (size_t i = 0; i < n; i++) {
                struct synth_pod *sp = &v->synth[i];
                runtime__v1__pod_sandbox_stats__init(&sp->ps);
                runtime__v1__pod_sandbox_attributes__init(&sp->attrs);
                runtime__v1__linux_pod_sandbox_stats__init(&sp->lx);
                runtime__v1__cpu_usage__init(&sp->cpu);
                runtime__v1__memory_usage__init(&sp->mem);
                runtime__v1__uint64_value__init(&sp->cpu_ns);
                sp->nano_cores = sp->working_set = sp->usage = sp->rss = sp->cpu_ns;
                sp->attrs.id = v->sandboxes->items[i]->id;
                sp->attrs.metadata = v->sandboxes->items[i]->metadata;
                sp->ps.attributes = &sp->attrs;
                sp->ps.linux = &sp->lx;
                sp->lx.cpu = &sp->cpu;
                sp->lx.memory = &sp->mem;
                v->pods[v->n_pods++] = &sp->ps;
        }
        v->n_synth = n;
        for (size_t j = 0; v->container_stats && j < v->container_stats->n_stats; j++) {
                Runtime__V1__ContainerStats *cs = v->container_stats->stats[j];
                const char *sandbox = NULL;
                for (size_t k = 0; cs->attributes && v->containers && k < v->containers->n_containers; k++)
                        if (kn_streq(v->containers->containers[k]->id, cs->attributes->id))
                                sandbox = v->containers->containers[k]->pod_sandbox_id;
                for (size_t i = 0; sandbox && i < n; i++) {
                        struct synth_pod *sp = &v->synth[i];
                        if (!kn_streq(sp->attrs.id, sandbox))
                                continue;
                        sp->lx.containers = kn_realloc(sp->lx.containers, (sp->lx.n_containers + 1) * sizeof(cs));
                        sp->lx.containers[sp->lx.n_containers++] = cs;
                        if (cs->cpu) {
                                sp->cpu.timestamp = cs->cpu->timestamp;
                                add_value(&sp->cpu_ns, &sp->cpu.usage_core_nano_seconds, cs->cpu->usage_core_nano_seconds);
                                add_value(&sp->nano_cores, &sp->cpu.usage_nano_cores, cs->cpu->usage_nano_cores);
                        }
                        if (cs->memory) {
                                sp->mem.timestamp = cs->memory->timestamp;
                                add_value(&sp->working_set, &sp->mem.working_set_bytes, cs->memory->working_set_bytes);
                                add_value(&sp->usage, &sp->mem.usage_bytes, cs->memory->usage_bytes);
                                add_value(&sp->rss, &sp->mem.rss_bytes, cs->memory->rss_bytes);
                        }
                }
        }
}

static int64_t sandbox_created(const struct cri_view *v, const char *id);

static const char *pod_uid(const Runtime__V1__PodSandboxStats *ps)
{
        return ps->attributes && ps->attributes->metadata ? ps->attributes->metadata->uid : NULL;
}

/* One entry per pod, as upstream: of a pod's sandboxes (a restarted pod's old one is still
 * listed) only the newest counts. */
static void dedupe_pods(struct cri_view *v)
{
        size_t kept = 0;
        for (size_t i = 0; i < v->n_pods; i++) {
                const char *uid = pod_uid(v->pods[i]);
                int64_t created = v->pods[i]->attributes ? sandbox_created(v, v->pods[i]->attributes->id) : 0;
                bool newer_exists = false;
                for (size_t j = 0; uid && j < v->n_pods && !newer_exists; j++)
                        newer_exists = j != i && kn_streq(pod_uid(v->pods[j]), uid) &&
                                       sandbox_created(v, v->pods[j]->attributes->id) > created;
                if (!newer_exists)
                        v->pods[kept++] = v->pods[i];
        }
        v->n_pods = kept;
}

static void cri_view_load(kubelet_stats *st, struct cri_view *v, bool want_fs)
{
        Runtime__V1__ListPodSandboxStatsRequest preq = RUNTIME__V1__LIST_POD_SANDBOX_STATS_REQUEST__INIT;
        Runtime__V1__ListContainerStatsRequest csreq = RUNTIME__V1__LIST_CONTAINER_STATS_REQUEST__INIT;
        Runtime__V1__ListContainersRequest creq = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        Runtime__V1__ListPodSandboxRequest sreq = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        kn_error err;

        memset(v, 0, sizeof(*v));
        if (!st->cri) {
                v->error = true;
                return;
        }
        if (cri_list_containers(st->cri, &creq, STATS_TIMEOUT_MS, &v->containers, &err) < 0) {
                kn_warn("failed to list containers, start times left out: %s", err.msg);
                v->error = true;
        }
        if (cri_list_pod_sandbox(st->cri, &sreq, STATS_TIMEOUT_MS, &v->sandboxes, &err) < 0)
                v->error = true;
        if (cri_list_pod_sandbox_stats(st->cri, &preq, STATS_TIMEOUT_MS, &v->pod_stats, &err) >= 0) {
                v->n_pods = v->pod_stats->n_stats;
                v->pods = kn_calloc(v->n_pods ? v->n_pods : 1, sizeof(*v->pods));
                memcpy(v->pods, v->pod_stats->stats, v->n_pods * sizeof(*v->pods));
        } else {
                kn_v(2, "ListPodSandboxStats failed, pod stats from ListContainerStats: %s", err.msg);
                if (cri_list_container_stats(st->cri, &csreq, STATS_TIMEOUT_MS, &v->container_stats, &err) < 0) {
                        kn_warn("failed to list container stats from the runtime, pods left out: %s", err.msg);
                        v->error = true;
                }
                synthesize(v);
        }
        dedupe_pods(v);
        if (want_fs && cri_image_fs_info(st->cri, STATS_TIMEOUT_MS, &v->imagefs, &err) < 0)
                kn_warn("failed to get the image filesystem from the runtime: %s", err.msg);
}

static void cri_view_free(struct cri_view *v)
{
        for (size_t i = 0; v->synth && i < v->n_synth; i++)
                free(v->synth[i].lx.containers);
        free(v->synth);
        free(v->pods);
        cri_msg_free(v->pod_stats);
        cri_msg_free(v->container_stats);
        cri_msg_free(v->containers);
        cri_msg_free(v->sandboxes);
        cri_msg_free(v->imagefs);
}

static const Runtime__V1__Container *find_container(const struct cri_view *v, const char *id)
{
        for (size_t i = 0; v->containers && i < v->containers->n_containers; i++)
                if (kn_streq(v->containers->containers[i]->id, id))
                        return v->containers->containers[i];
        return NULL;
}

static int64_t container_created(const struct cri_view *v, const char *id)
{
        const Runtime__V1__Container *c = find_container(v, id);
        return c ? c->created_at : 0;
}

static int64_t sandbox_created(const struct cri_view *v, const char *id)
{
        for (size_t i = 0; v->sandboxes && i < v->sandboxes->n_items; i++)
                if (kn_streq(v->sandboxes->items[i]->id, id))
                        return v->sandboxes->items[i]->created_at;
        return 0;
}

int kubelet_stats_summary(kubelet_stats *st, bool only_cpu_and_memory, cJSON **ret, kn_error *err)
{
        kubelet_node_sample ns;
        uint64_t nano_cores;
        struct cri_view v;
        cJSON *sum, *node, *o, *pods;
        const Runtime__V1__FilesystemUsage *ifs = NULL, *cfs = NULL;
        int r;

        r = node_sample(st, &ns, &nano_cores);
        if (r < 0)
                return kn_error_set(err, r, "failed to read the node's CPU and memory: %s", strerror(-r));
        cri_view_load(st, &v, !only_cpu_and_memory);
        if (v.imagefs) {
                ifs = v.imagefs->n_image_filesystems ? v.imagefs->image_filesystems[0] : NULL;
                cfs = v.imagefs->n_container_filesystems ? v.imagefs->container_filesystems[0] : ifs;
        }
        sum = cJSON_CreateObject();
        node = cJSON_AddObjectToObject(sum, "node");
        cJSON_AddStringToObject(node, "nodeName", st->node_name);
        cJSON_AddArrayToObject(node, "systemContainers");
        if (st->boot_time_s)
                add_time(node, "startTime", st->boot_time_s * 1000000000LL);
        o = cJSON_AddObjectToObject(node, "cpu");
        add_time(o, "time", ns.time_ns);
        cJSON_AddNumberToObject(o, "usageNanoCores", (double)nano_cores);
        cJSON_AddNumberToObject(o, "usageCoreNanoSeconds", (double)ns.cpu_ns);
        o = cJSON_AddObjectToObject(node, "memory");
        add_time(o, "time", ns.time_ns);
        cJSON_AddNumberToObject(o, "availableBytes", (double)ns.mem_available);
        cJSON_AddNumberToObject(o, "usageBytes", (double)ns.mem_usage);
        cJSON_AddNumberToObject(o, "workingSetBytes", (double)ns.mem_working_set);
        cJSON_AddNumberToObject(o, "rssBytes", (double)ns.mem_rss);
        cJSON_AddNumberToObject(o, "pageFaults", (double)ns.page_faults);
        cJSON_AddNumberToObject(o, "majorPageFaults", (double)ns.major_page_faults);
        if (!only_cpu_and_memory) {
                cJSON_AddItemToObject(node, "fs", fs_json(ns.time_ns, st->root_dir, NULL));
                if (ifs) {
                        cJSON *rt = cJSON_AddObjectToObject(node, "runtime");
                        cJSON_AddItemToObject(rt, "imageFs",
                                              fs_json(ns.time_ns, ifs->fs_id ? ifs->fs_id->mountpoint : NULL, ifs));
                        cJSON_AddItemToObject(rt, "containerFs",
                                              fs_json(ns.time_ns, cfs->fs_id ? cfs->fs_id->mountpoint : NULL, cfs));
                }
                o = cJSON_AddObjectToObject(node, "rlimit");
                add_time(o, "time", ns.time_ns);
                _cleanup_free_ char *pidmax = NULL;
                size_t len;
                if (kn_read_file("/proc/sys/kernel/pid_max", 64, &pidmax, &len) >= 0)
                        cJSON_AddNumberToObject(o, "maxpid", (double)strtoll(pidmax, NULL, 10));
        }
        pods = cJSON_AddArrayToObject(sum, "pods");
        for (size_t i = 0; i < v.n_pods; i++) {
                const Runtime__V1__PodSandboxStats *ps = v.pods[i];
                const Runtime__V1__LinuxPodSandboxStats *lx = ps->linux;
                cJSON *p = cJSON_CreateObject(), *ref, *cs;
                if (!ps->attributes || !ps->attributes->metadata) {
                        cJSON_Delete(p);
                        continue;
                }
                ref = cJSON_AddObjectToObject(p, "podRef");
                cJSON_AddStringToObject(ref, "name", ps->attributes->metadata->name);
                cJSON_AddStringToObject(ref, "namespace", ps->attributes->metadata->namespace_);
                cJSON_AddStringToObject(ref, "uid", ps->attributes->metadata->uid);
                int64_t created = sandbox_created(&v, ps->attributes->id);
                if (created)
                        add_time(p, "startTime", created);
                cs = cJSON_AddArrayToObject(p, "containers");
                for (size_t j = 0; lx && j < lx->n_containers; j++) {
                        const Runtime__V1__ContainerStats *c = lx->containers[j];
                        cJSON *x = cJSON_CreateObject();
                        cJSON_AddStringToObject(x, "name", c->attributes && c->attributes->metadata
                                                                   ? c->attributes->metadata->name
                                                                   : "");
                        created = c->attributes ? container_created(&v, c->attributes->id) : 0;
                        if (created)
                                add_time(x, "startTime", created);
                        cJSON_AddItemToObject(x, "cpu", cpu_json(c->cpu, ns.time_ns));
                        cJSON_AddItemToObject(x, "memory", mem_json(c->memory, ns.time_ns));
                        if (!only_cpu_and_memory && c->writable_layer)
                                cJSON_AddItemToObject(x, "rootfs", fs_json(ns.time_ns,
                                                                           cfs && cfs->fs_id ? cfs->fs_id->mountpoint
                                                                                             : NULL,
                                                                           c->writable_layer));
                        cJSON_AddItemToArray(cs, x);
                }
                if (lx) {
                        cJSON_AddItemToObject(p, "cpu", cpu_json(lx->cpu, ns.time_ns));
                        cJSON_AddItemToObject(p, "memory", mem_json(lx->memory, ns.time_ns));
                        if (!only_cpu_and_memory && lx->network)
                                cJSON_AddItemToObject(p, "network", net_json(lx->network, ns.time_ns));
                        if (!only_cpu_and_memory && lx->process && lx->process->process_count)
                                cJSON_AddNumberToObject(cJSON_AddObjectToObject(p, "process_stats"), "process_count",
                                                        (double)lx->process->process_count->value);
                }
                cJSON_AddItemToArray(pods, p);
        }
        cri_view_free(&v);
        *ret = sum;
        return 0;
}

/* A pod's Linux stats and metadata; false when the runtime gave either none. */
static bool pod_linux(const Runtime__V1__PodSandboxStats *ps, const Runtime__V1__LinuxPodSandboxStats **ret_lx,
                      const Runtime__V1__PodSandboxMetadata **ret_md)
{
        *ret_lx = ps->linux;
        *ret_md = ps->attributes ? ps->attributes->metadata : NULL;
        return *ret_lx && *ret_md;
}

static void metric_head(kn_buf *out, const char *name, const char *help, const char *type)
{
        kn_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void kubelet_stats_resource_metrics(kubelet_stats *st, kn_buf *out)
{
        kubelet_node_sample ns;
        uint64_t nano_cores;
        struct cri_view v;
        bool node_ok = node_sample(st, &ns, &nano_cores) >= 0;
        int64_t ms = realtime_ns() / 1000000;

        cri_view_load(st, &v, false);
        if (node_ok) {
                ms = ns.time_ns / 1000000;
                metric_head(out, "node_cpu_usage_seconds_total",
                            "[STABLE] Cumulative cpu time consumed by the node in core-seconds", "counter");
                kn_buf_printf(out, "node_cpu_usage_seconds_total %.9f %lld\n", (double)ns.cpu_ns / 1e9,
                              (long long)ms);
                metric_head(out, "node_memory_working_set_bytes", "[STABLE] Current working set of the node in bytes",
                            "gauge");
                kn_buf_printf(out, "node_memory_working_set_bytes %llu %lld\n",
                              (unsigned long long)ns.mem_working_set, (long long)ms);
                metric_head(out, "node_swap_usage_bytes",
                            "[ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems",
                            "gauge");
                kn_buf_printf(out, "node_swap_usage_bytes %llu %lld\n", (unsigned long long)ns.swap_usage,
                              (long long)ms);
        }
        static const char *const names[] = {"container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                                            "container_start_time_seconds", "pod_cpu_usage_seconds_total",
                                            "pod_memory_working_set_bytes"};
        static const char *const helps[] = {
                "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
                "[STABLE] Current working set of the container in bytes",
                "[STABLE] Start time of the container since unix epoch in seconds",
                "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
                "[STABLE] Current working set of the pod in bytes"};
        static const char *const types[] = {"counter", "gauge", "gauge", "counter", "gauge"};
        for (size_t k = 0; k < KN_ARRAY_SIZE(names); k++) {
                metric_head(out, names[k], helps[k], types[k]);
                for (size_t i = 0; i < v.n_pods; i++) {
                        const Runtime__V1__PodSandboxStats *ps = v.pods[i];
                        const Runtime__V1__LinuxPodSandboxStats *lx;
                        const Runtime__V1__PodSandboxMetadata *md;
                        if (!pod_linux(ps, &lx, &md))
                                continue;
                        if (k == 3 && lx->cpu && lx->cpu->usage_core_nano_seconds)
                                kn_buf_printf(out, "%s{namespace=\"%s\",pod=\"%s\"} %.9f %lld\n", names[k],
                                              md->namespace_, md->name,
                                              (double)lx->cpu->usage_core_nano_seconds->value / 1e9,
                                              (long long)(lx->cpu->timestamp / 1000000));
                        if (k == 4 && lx->memory && lx->memory->working_set_bytes)
                                kn_buf_printf(out, "%s{namespace=\"%s\",pod=\"%s\"} %llu %lld\n", names[k],
                                              md->namespace_, md->name,
                                              (unsigned long long)lx->memory->working_set_bytes->value,
                                              (long long)(lx->memory->timestamp / 1000000));
                        for (size_t j = 0; k < 3 && j < lx->n_containers; j++) {
                                const Runtime__V1__ContainerStats *c = lx->containers[j];
                                const char *cn = c->attributes && c->attributes->metadata ? c->attributes->metadata->name
                                                                                          : "";
                                if (k == 0 && c->cpu && c->cpu->usage_core_nano_seconds)
                                        kn_buf_printf(out, "%s{container=\"%s\",namespace=\"%s\",pod=\"%s\"} %.9f %lld\n",
                                                      names[k], cn, md->namespace_, md->name,
                                                      (double)c->cpu->usage_core_nano_seconds->value / 1e9,
                                                      (long long)(c->cpu->timestamp / 1000000));
                                if (k == 1 && c->memory && c->memory->working_set_bytes)
                                        kn_buf_printf(out, "%s{container=\"%s\",namespace=\"%s\",pod=\"%s\"} %llu %lld\n",
                                                      names[k], cn, md->namespace_, md->name,
                                                      (unsigned long long)c->memory->working_set_bytes->value,
                                                      (long long)(c->memory->timestamp / 1000000));
                                int64_t created = c->attributes ? container_created(&v, c->attributes->id) : 0;
                                if (k == 2 && created)
                                        kn_buf_printf(out, "%s{container=\"%s\",namespace=\"%s\",pod=\"%s\"} %.9f\n",
                                                      names[k], cn, md->namespace_, md->name, (double)created / 1e9);
                        }
                }
        }
        metric_head(out, "resource_scrape_error",
                    "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise", "gauge");
        kn_buf_printf(out, "resource_scrape_error %d\n", v.error || !node_ok);
        metric_head(out, "scrape_error",
                    "[ALPHA] 1 if there was an error while getting container metrics, 0 otherwise", "gauge");
        kn_buf_printf(out, "scrape_error %d\n", v.error || !node_ok);
        cri_view_free(&v);
}

/* ---- /metrics/cadvisor ---- */

struct cadvisor_series {
        const char *name, *help, *type;
};

/* Labels of one container series, as cAdvisor names them. */
static void container_labels(char *buf, size_t n, const char *container, const char *id, const char *image,
                             const Runtime__V1__PodSandboxMetadata *md)
{
        snprintf(buf, n, "container=\"%s\",id=\"%s\",image=\"%s\",name=\"%s\",namespace=\"%s\",pod=\"%s\"",
                 container, id, image, id, md->namespace_, md->name);
}

void kubelet_stats_cadvisor_metrics(kubelet_stats *st, kn_buf *out)
{
        static const struct cadvisor_series series[] = {
                {"container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", "counter"},
                {"container_memory_working_set_bytes", "Current working set in bytes.", "gauge"},
                {"container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed", "gauge"},
                {"container_memory_rss", "Size of RSS in bytes.", "gauge"},
                {"container_memory_failures_total", "Cumulative count of memory allocation failures.", "counter"},
                {"container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem.", "gauge"},
                {"container_start_time_seconds", "Start time of the container since unix epoch in seconds.", "gauge"},
                {"container_network_receive_bytes_total", "Cumulative count of bytes received", "counter"},
                {"container_network_transmit_bytes_total", "Cumulative count of bytes transmitted", "counter"},
                {"container_network_receive_errors_total", "Cumulative count of errors encountered while receiving", "counter"},
                {"container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting", "counter"},
        };
        kubelet_node_sample ns;
        uint64_t nano_cores;
        struct cri_view v;
        char labels[1024];

        cri_view_load(st, &v, false);
        if (node_sample(st, &ns, &nano_cores) >= 0) {
                metric_head(out, "machine_cpu_cores", "Number of logical CPU cores.", "gauge");
                kn_buf_printf(out, "machine_cpu_cores %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
                metric_head(out, "machine_memory_bytes", "Amount of memory installed on the machine.", "gauge");
                kn_buf_printf(out, "machine_memory_bytes %llu\n", (unsigned long long)ns.mem_total);
        }
        for (size_t k = 0; k < KN_ARRAY_SIZE(series); k++) {
                metric_head(out, series[k].name, series[k].help, series[k].type);
                for (size_t i = 0; i < v.n_pods; i++) {
                        const Runtime__V1__PodSandboxStats *ps = v.pods[i];
                        const Runtime__V1__LinuxPodSandboxStats *lx;
                        const Runtime__V1__PodSandboxMetadata *md;
                        if (!pod_linux(ps, &lx, &md))
                                continue;
                        if (k >= 7 && lx->network) { /* the pod's network, on its sandbox ("POD") */
                                const Runtime__V1__NetworkUsage *nu = lx->network;
                                for (size_t j = 0; j <= nu->n_interfaces; j++) {
                                        const Runtime__V1__NetworkInterfaceUsage *ifc =
                                                j == 0 ? nu->default_interface : nu->interfaces[j - 1];
                                        const Runtime__V1__UInt64Value *val;
                                        if (!ifc)
                                                continue;
                                        val = k == 7 ? ifc->rx_bytes : k == 8 ? ifc->tx_bytes : k == 9 ? ifc->rx_errors
                                                                                                         : ifc->tx_errors;
                                        if (!val)
                                                continue;
                                        container_labels(labels, sizeof(labels), "POD", ps->attributes->id, "", md);
                                        kn_buf_printf(out, "%s{%s,interface=\"%s\"} %llu %lld\n", series[k].name, labels,
                                                      ifc->name, (unsigned long long)val->value,
                                                      (long long)(nu->timestamp / 1000000));
                                }
                        }
                        for (size_t j = 0; k < 7 && j < lx->n_containers; j++) {
                                const Runtime__V1__ContainerStats *c = lx->containers[j];
                                const char *id = c->attributes ? c->attributes->id : NULL;
                                const Runtime__V1__Container *ct = id ? find_container(&v, id) : NULL;
                                const char *cn = c->attributes && c->attributes->metadata ? c->attributes->metadata->name : "";
                                const char *image = ct && ct->image && ct->image->image ? ct->image->image : "";
                                const Runtime__V1__MemoryUsage *m = c->memory;
                                if (!id)
                                        continue;
                                container_labels(labels, sizeof(labels), cn, id, image, md);
                                if (k == 0 && c->cpu && c->cpu->usage_core_nano_seconds)
                                        kn_buf_printf(out, "%s{%s} %.9f %lld\n", series[k].name, labels,
                                                      (double)c->cpu->usage_core_nano_seconds->value / 1e9,
                                                      (long long)(c->cpu->timestamp / 1000000));
                                if (m && ((k == 1 && m->working_set_bytes) || (k == 2 && m->usage_bytes) ||
                                          (k == 3 && m->rss_bytes))) {
                                        const Runtime__V1__UInt64Value *val =
                                                k == 1 ? m->working_set_bytes : k == 2 ? m->usage_bytes : m->rss_bytes;
                                        kn_buf_printf(out, "%s{%s} %llu %lld\n", series[k].name, labels,
                                                      (unsigned long long)val->value, (long long)(m->timestamp / 1000000));
                                }
                                if (k == 4 && m && m->page_faults && m->major_page_faults) {
                                        kn_buf_printf(out, "%s{%s,failure_type=\"pgfault\",scope=\"container\"} %llu %lld\n",
                                                      series[k].name, labels, (unsigned long long)m->page_faults->value,
                                                      (long long)(m->timestamp / 1000000));
                                        kn_buf_printf(out, "%s{%s,failure_type=\"pgmajfault\",scope=\"container\"} %llu %lld\n",
                                                      series[k].name, labels, (unsigned long long)m->major_page_faults->value,
                                                      (long long)(m->timestamp / 1000000));
                                }
                                if (k == 5 && c->writable_layer && c->writable_layer->used_bytes)
                                        kn_buf_printf(out, "%s{%s,device=\"\"} %llu %lld\n", series[k].name, labels,
                                                      (unsigned long long)c->writable_layer->used_bytes->value,
                                                      (long long)(c->writable_layer->timestamp / 1000000));
                                if (k == 6 && ct && ct->created_at)
                                        kn_buf_printf(out, "%s{%s} %.9f\n", series[k].name, labels, (double)ct->created_at / 1e9);
                        }
                }
        }
        metric_head(out, "container_scrape_error", "1 if there was an error while getting container metrics, 0 otherwise",
                    "gauge");
        kn_buf_printf(out, "container_scrape_error %d\n", v.error);
        cri_view_free(&v);
}
