/* SPDX-License-Identifier: Apache-2.0 */
/* Node capacity, allocatable and pressure (upstream's cadvisor machine info, node
 * allocatable and eviction thresholds, read straight from /proc and statvfs). */
#include <stdio.h>
#include <sys/statvfs.h>

#include "../core/quantity.h"
#include "resources.h"

static int64_t meminfo(const char *key)
{
        _cleanup_free_ char *data = NULL;
        size_t len, klen = strlen(key);
        long long kb;

        if (kn_read_file("/proc/meminfo", 1 << 16, &data, &len) < 0)
                return -1;
        for (char *p = data; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (!strncmp(p, key, klen) && p[klen] == ':' && sscanf(p + klen + 1, "%lld", &kb) == 1)
                        return (int64_t)kb * 1024;
        return -1;
}

static int64_t hugepages(const char *size_kb)
{
        _cleanup_free_ char *path = kn_asprintf("/sys/kernel/mm/hugepages/hugepages-%skB/nr_hugepages", size_kb);
        _cleanup_free_ char *data = NULL;
        size_t len;

        if (kn_read_file(path, 64, &data, &len) < 0)
                return 0;
        return strtoll(data, NULL, 10) * strtoll(size_kb, NULL, 10) * 1024;
}

/* A reservation or threshold for RESOURCE from a map of quantities; a percentage is of
 * CAPACITY. Unparsable values are ignored with a warning. */
static int64_t reserved(const cJSON *map, const char *key, int64_t capacity, bool milli)
{
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(map, key));
        kn_quantity q;

        if (!v)
                return 0;
        if (v[0] && v[strlen(v) - 1] == '%') {
                double pct = strtod(v, NULL);
                return pct > 0 && pct <= 100 ? (int64_t)((double)capacity * pct / 100.0) : 0;
        }
        if (kn_quantity_parse(v, &q) < 0) {
                kn_warn("ignoring %s=%s: not a quantity", key, v);
                return 0;
        }
        return milli ? kn_quantity_milli_value(&q) : kn_quantity_value(&q);
}

void kubelet_node_resources_get(kubelet *k, kubelet_node_resources *ret)
{
        const char *root = k->cfg.root_dir && *k->cfg.root_dir ? k->cfg.root_dir : "/";
        const cJSON *ev = k->cfg.eviction_hard;
        struct statvfs fs;
        int64_t memavail = meminfo("MemAvailable");
        static const char *const names[N_RES] = {"cpu", "memory", "ephemeral-storage", "pods", "hugepages-2Mi",
                                                 "hugepages-1Gi"};

        memset(ret, 0, sizeof(*ret));
        ret->capacity[RES_CPU] = sysconf(_SC_NPROCESSORS_ONLN) * 1000;
        ret->capacity[RES_MEMORY] = meminfo("MemTotal");
        ret->capacity[RES_PODS] = k->cfg.max_pods;
        ret->capacity[RES_HUGE_2M] = hugepages("2048");
        ret->capacity[RES_HUGE_1G] = hugepages("1048576");
        if (statvfs(root, &fs) == 0 || statvfs("/", &fs) == 0)
                ret->capacity[RES_EPHEMERAL] = (int64_t)fs.f_blocks * (int64_t)fs.f_frsize;
        if (ret->capacity[RES_MEMORY] < 0)
                ret->capacity[RES_MEMORY] = 0;

        for (int i = 0; i < N_RES; i++) {
                int64_t a = ret->capacity[i];
                if (i != RES_PODS) {
                        a -= reserved(k->cfg.kube_reserved, names[i], ret->capacity[i], i == RES_CPU);
                        a -= reserved(k->cfg.system_reserved, names[i], ret->capacity[i], i == RES_CPU);
                }
                if (i == RES_MEMORY)
                        a -= reserved(ev, "memory.available", ret->capacity[i], false);
                if (i == RES_EPHEMERAL)
                        a -= reserved(ev, "nodefs.available", ret->capacity[i], false);
                ret->allocatable[i] = a < 0 ? 0 : a;
        }

        if (memavail >= 0)
                ret->memory_pressure = memavail < reserved(ev, "memory.available", ret->capacity[RES_MEMORY], false);
        if (fs.f_blocks) {
                int64_t avail = (int64_t)fs.f_bavail * (int64_t)fs.f_frsize;
                int64_t inodes = (int64_t)fs.f_favail;
                ret->disk_pressure = avail < reserved(ev, "nodefs.available", ret->capacity[RES_EPHEMERAL], false) ||
                                     (fs.f_files && inodes < reserved(ev, "nodefs.inodesFree", (int64_t)fs.f_files,
                                                                     false));
        }
        if (cJSON_GetObjectItemCaseSensitive(ev, "pid.available")) {
                _cleanup_free_ char *max = NULL, *cur = NULL;
                size_t len;
                if (kn_read_file("/proc/sys/kernel/pid_max", 64, &max, &len) >= 0 &&
                    kn_read_file("/proc/loadavg", 256, &cur, &len) >= 0) {
                        const char *slash = strchr(cur, '/');
                        int64_t pmax = strtoll(max, NULL, 10), running = slash ? strtoll(slash + 1, NULL, 10) : 0;
                        ret->pid_pressure = pmax - running < reserved(ev, "pid.available", pmax, false);
                }
        }
}

cJSON *kubelet_resources_json(const kubelet_node_resources *r, bool allocatable)
{
        const int64_t *v = allocatable ? r->allocatable : r->capacity;
        cJSON *o = cJSON_CreateObject();
        char buf[64];

        kn_quantity_format_milli(v[RES_CPU], buf, sizeof(buf));
        cJSON_AddStringToObject(o, "cpu", buf);
        kn_quantity_format_bytes(v[RES_EPHEMERAL], buf, sizeof(buf));
        cJSON_AddStringToObject(o, "ephemeral-storage", buf);
        kn_quantity_format_bytes(v[RES_HUGE_1G], buf, sizeof(buf));
        cJSON_AddStringToObject(o, "hugepages-1Gi", buf);
        kn_quantity_format_bytes(v[RES_HUGE_2M], buf, sizeof(buf));
        cJSON_AddStringToObject(o, "hugepages-2Mi", buf);
        kn_quantity_format_bytes(v[RES_MEMORY], buf, sizeof(buf));
        cJSON_AddStringToObject(o, "memory", buf);
        snprintf(buf, sizeof(buf), "%lld", (long long)v[RES_PODS]);
        cJSON_AddStringToObject(o, "pods", buf);
        return o;
}
