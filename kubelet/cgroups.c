/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet's cgroup manager: directories and values in cgroupfs (v1 hierarchies or the
 * v2 tree), for the node-level QoS hierarchy and one cgroup per pod. See cgroups.h. */
#include "cgroups.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include "../core/log.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define MAX_HIER 24
#define MAX_KILL 4096       /* pids signalled per round */
#define KILL_ROUNDS 5       /* as upstream's tryKillingCgroupProcesses */
#define KILL_WAIT_MS 10000  /* in all */
#define MAX_UID 128

enum {
        H_CPU = 1 << 0,
        H_CPUSET = 1 << 1,
        H_MEMORY = 1 << 2,
        H_PIDS = 1 << 3,
        H_HUGETLB = 1 << 4,
        H_CPUACCT = 1 << 5,
        H_UNIFIED = 1 << 6, /* a cgroup2 mount (the whole tree on v2, empty on hybrid) */
};

typedef struct hier {
        char *mount;
        unsigned flags;
} hier;

typedef struct tracked {
        char *uid;
        int64_t cpu_milli;
} tracked;

struct kubelet_cgroups {
        pthread_mutex_t lock; /* the burstable set and the burstable cgroup's shares */
        enum { MODE_V1, MODE_HYBRID, MODE_V2 } mode;
        bool systemd, per_qos, cfs_quota;
        int64_t pids_limit;
        char **root; /* cgroupRoot's components */
        size_t n_root;
        hier h[MAX_HIER];
        size_t n_h;
        tracked *burstable;
        size_t n_burstable;
        int64_t burstable_shares; /* last written, -1 unknown */
};

/* ---- names ---- */

/* The literal cgroup name of ROOT + PARTS as upstream's cgroupfs or systemd driver spells
 * it: "/a/kubepods/burstable" or "/a.slice/a-kubepods.slice/a-kubepods-burstable.slice". */
static char *cg_name(const kubelet_cgroups *c, const char *const *parts, size_t n)
{
        kn_buf b = {.max = 1 << 16}, joined = {.max = 1 << 16};
        size_t total = c->n_root + n;

        if (total == 0)
                return kn_strdup("/");
        for (size_t i = 0; i < total; i++) {
                const char *p = i < c->n_root ? c->root[i] : parts[i - c->n_root];
                if (!c->systemd) {
                        kn_buf_printf(&b, "/%s", p);
                        continue;
                }
                if (i)
                        kn_buf_printf(&joined, "-");
                for (const char *s = p; *s; s++)
                        kn_buf_printf(&joined, "%c", *s == '-' ? '_' : *s);
                /* systemd's slice expansion: every prefix of the dash-joined name */
                kn_buf_printf(&b, "/%.*s.slice", (int)joined.len, joined.data);
        }
        kn_buf_free(&joined);
        return b.data;
}

static const char *qos_dir(const char *qos)
{
        if (qos == KUBELET_QOS_BURSTABLE)
                return "burstable";
        if (qos == KUBELET_QOS_BESTEFFORT)
                return "besteffort";
        return NULL;
}

/* The pod's name: kubepods[/qos]/pod<uid>. */
static char *pod_name(const kubelet_cgroups *c, const char *qos, const char *uid)
{
        _cleanup_free_ char *leaf = kn_asprintf("pod%s", uid);
        const char *parts[3] = {"kubepods"};
        size_t n = 1;

        if (qos_dir(qos))
                parts[n++] = qos_dir(qos);
        parts[n++] = leaf;
        return cg_name(c, parts, n);
}

/* UIDs become path elements: accept what the API server generates (and static pods'
 * hex hashes) and nothing that could climb out of a directory. */
static bool valid_uid(const char *uid)
{
        size_t n = uid ? strlen(uid) : 0;

        if (n == 0 || n > MAX_UID)
                return false;
        for (const char *p = uid; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      *p == '-'))
                        return false;
        return true;
}

/* ---- file system ---- */

static int cg_write(const char *dir, const char *file, const char *val)
{
        _cleanup_free_ char *path = kn_asprintf("%s/%s", dir, file);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        size_t n = strlen(val);

        if (fd < 0)
                return -errno;
        errno = 0;
        if (write(fd, val, n) != (ssize_t)n)
                return errno ? -errno : -EIO;
        return 0;
}

static int cg_write_int(const char *dir, const char *file, int64_t v)
{
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", (long long)v);
        return cg_write(dir, file, buf);
}

static int cg_read(const char *dir, const char *file, char **ret)
{
        _cleanup_free_ char *path = kn_asprintf("%s/%s", dir, file);
        size_t len;
        int r = kn_read_file(path, 1 << 20, ret, &len);
        if (r >= 0)
                while (len > 0 && ((*ret)[len - 1] == '\n' || (*ret)[len - 1] == ' '))
                        (*ret)[--len] = '\0';
        return r;
}

/* A new cpuset cgroup has no cpus or mems, and no task can join it until it has. */
static int cpuset_init(const char *dir)
{
        static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
        _cleanup_free_ char *parent = kn_strdup(dir);
        char *slash = strrchr(parent, '/');

        if (!slash)
                return -EINVAL;
        *slash = '\0';
        for (size_t i = 0; i < KN_ARRAY_SIZE(files); i++) {
                _cleanup_free_ char *cur = NULL, *val = NULL;
                int r = cg_read(dir, files[i], &cur);
                if (r < 0)
                        return r;
                if (*cur)
                        continue;
                r = cg_read(parent, files[i], &val);
                if (r >= 0)
                        r = cg_write(dir, files[i], val);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* v2: let children of DIR use the controllers knode sets. */
static void enable_controllers(const char *dir)
{
        static const char *const want[] = {"cpu", "cpuset", "memory", "pids", "hugetlb"};
        _cleanup_free_ char *avail = NULL;

        if (cg_read(dir, "cgroup.controllers", &avail) < 0)
                return;
        for (size_t i = 0; i < KN_ARRAY_SIZE(want); i++) {
                _cleanup_free_ char *op = kn_asprintf("+%s", want[i]);
                char *p = strstr(avail, want[i]);
                size_t n = strlen(want[i]);
                if (!p || (p != avail && p[-1] != ' ') || (p[n] && p[n] != ' '))
                        continue;
                int r = cg_write(dir, "cgroup.subtree_control", op);
                if (r < 0)
                        kn_debug("cgroups: cannot enable %s in %s: %s (ignored)", want[i], dir, strerror(-r));
        }
}

/* Make NAME (a literal cgroup name under the hierarchy's mount) with every missing
 * parent from FIRST_NEW on (the components after cgroupRoot). */
static int ensure_dir(const kubelet_cgroups *c, const hier *h, const char *name, kn_error *err)
{
        _cleanup_free_ char *path = kn_asprintf("%s%s", h->mount, name);
        size_t mlen = strlen(h->mount);

        for (char *p = path + mlen + 1;; p++) {
                bool end = *p == '\0';
                if (*p != '/' && !end)
                        continue;
                *p = '\0';
                if (h->flags & H_UNIFIED && c->mode == MODE_V2) {
                        /* the parent hands its controllers down before the child exists */
                        char *slash = strrchr(path, '/');
                        *slash = '\0';
                        enable_controllers(strlen(path) >= mlen ? path : h->mount);
                        *slash = '/';
                }
                if (mkdir(path, 0755) < 0 && errno != EEXIST)
                        return kn_error_set(err, -errno, "failed to create cgroup %s: %s", path, strerror(errno));
                if (h->flags & H_CPUSET) {
                        int r = cpuset_init(path);
                        if (r < 0)
                                return kn_error_set(err, r, "failed to set up cpuset of %s: %s", path, strerror(-r));
                }
                if (end)
                        break;
                *p = '/';
        }
        return 0;
}

/* runc's conversion of cpu.shares [2, 262144] to cgroup v2's cpu.weight [1, 10000]. */
static int64_t shares_to_weight(int64_t shares)
{
        if (shares <= 0)
                return 0;
        return 1 + ((shares - 2) * 9999) / 262142;
}

static int set_values(const kubelet_cgroups *c, const hier *h, const char *dir,
                      const kubelet_cgroup_config *cfg, kn_error *err)
{
        int r = 0;
        const char *what = "";

        if (c->mode == MODE_V2) {
                if (cfg->cpu_shares > 0 && (r = cg_write_int(dir, "cpu.weight", shares_to_weight(cfg->cpu_shares))) < 0)
                        what = "cpu.weight";
                if (r >= 0 && (cfg->cpu_quota != 0 || cfg->cpu_period != 0)) {
                        char buf[64];
                        int n = cfg->cpu_quota > 0 ? snprintf(buf, sizeof(buf), "%lld", (long long)cfg->cpu_quota)
                                                   : snprintf(buf, sizeof(buf), "max");
                        if (cfg->cpu_period)
                                snprintf(buf + n, sizeof(buf) - n, " %lld", (long long)cfg->cpu_period);
                        if ((r = cg_write(dir, "cpu.max", buf)) < 0)
                                what = "cpu.max";
                }
                if (r >= 0 && cfg->memory_limit > 0 && (r = cg_write_int(dir, "memory.max", cfg->memory_limit)) < 0)
                        what = "memory.max";
        } else {
                if (h->flags & H_CPU) {
                        if (cfg->cpu_shares > 0 && (r = cg_write_int(dir, "cpu.shares", cfg->cpu_shares)) < 0)
                                what = "cpu.shares";
                        if (r >= 0 && cfg->cpu_period != 0 && cfg->cpu_quota != 0) {
                                /* a new period may be refused against the current quota: then
                                 * the quota goes first (as runc does) */
                                r = cg_write_int(dir, "cpu.cfs_period_us", cfg->cpu_period);
                                if (r >= 0)
                                        r = cg_write_int(dir, "cpu.cfs_quota_us", cfg->cpu_quota);
                                else if (r == -EINVAL && (r = cg_write_int(dir, "cpu.cfs_quota_us", cfg->cpu_quota)) >= 0)
                                        r = cg_write_int(dir, "cpu.cfs_period_us", cfg->cpu_period);
                                if (r < 0)
                                        what = "cpu.cfs_quota_us/cpu.cfs_period_us";
                        } else if (r >= 0 && cfg->cpu_quota != 0) {
                                if ((r = cg_write_int(dir, "cpu.cfs_quota_us", cfg->cpu_quota)) < 0)
                                        what = "cpu.cfs_quota_us";
                        }
                }
                if (r >= 0 && h->flags & H_MEMORY && cfg->memory_limit > 0 &&
                    (r = cg_write_int(dir, "memory.limit_in_bytes", cfg->memory_limit)) < 0)
                        what = "memory.limit_in_bytes";
        }
        if (r >= 0 && cfg->pids_limit != 0 && (c->mode == MODE_V2 || h->flags & H_PIDS)) {
                r = cfg->pids_limit < 0 ? cg_write(dir, "pids.max", "max") : cg_write_int(dir, "pids.max", cfg->pids_limit);
                if (r < 0)
                        what = "pids.max";
        }
        if (r < 0)
                return kn_error_set(err, r, "failed to set %s of cgroup %s: %s", what, dir, strerror(-r));
        return 0;
}

/* Hierarchies that get directories: on v1 every v1 mount (not the empty unified one). */
static bool creates_in(const kubelet_cgroups *c, const hier *h)
{
        return c->mode == MODE_V2 || !(h->flags & H_UNIFIED);
}

static int ensure_cgroup(const kubelet_cgroups *c, const char *name, const kubelet_cgroup_config *cfg,
                         kn_error *err)
{
        for (size_t i = 0; i < c->n_h; i++) {
                const hier *h = &c->h[i];
                _cleanup_free_ char *dir = NULL;
                int r;
                if (!creates_in(c, h))
                        continue;
                r = ensure_dir(c, h, name, err);
                if (r < 0)
                        return r;
                dir = kn_asprintf("%s%s", h->mount, name);
                if (cfg && (r = set_values(c, h, dir, cfg, err)) < 0)
                        return r;
        }
        return 0;
}

/* ---- detection ---- */

static void add_hier(kubelet_cgroups *c, const char *mount, const char *fstype, const char *opts)
{
        static const struct {
                const char *name;
                unsigned flag;
        } known[] = {{"cpu", H_CPU},         {"cpuacct", H_CPUACCT}, {"cpuset", H_CPUSET},
                     {"memory", H_MEMORY},   {"pids", H_PIDS},       {"hugetlb", H_HUGETLB}};
        unsigned flags = 0;
        _cleanup_free_ char *o = kn_strdup(opts);
        char *save = NULL;

        if (!strcmp(fstype, "cgroup2"))
                flags = H_UNIFIED;
        else
                for (char *t = strtok_r(o, ",", &save); t; t = strtok_r(NULL, ",", &save))
                        for (size_t i = 0; i < KN_ARRAY_SIZE(known); i++)
                                if (!strcmp(t, known[i].name))
                                        flags |= known[i].flag;
        /* one hierarchy mounted twice: keep the shortest path, as upstream does */
        for (size_t i = 0; i < c->n_h; i++) {
                bool same = flags ? c->h[i].flags == flags : !strcmp(c->h[i].mount, mount);
                if (same && !(flags & H_UNIFIED)) {
                        if (strlen(mount) < strlen(c->h[i].mount)) {
                                free(c->h[i].mount);
                                c->h[i].mount = kn_strdup(mount);
                        }
                        return;
                }
        }
        if (c->n_h == MAX_HIER)
                return;
        c->h[c->n_h].mount = kn_strdup(mount);
        c->h[c->n_h++].flags = flags;
}

/* Mount points of the cgroup file systems under /sys/fs/cgroup, from mountinfo. */
static int detect(kubelet_cgroups *c, kn_error *err)
{
        _cleanup_free_ char *info = NULL;
        struct statfs sfs;
        size_t len;
        int r;

        if (statfs("/sys/fs/cgroup", &sfs) < 0)
                return kn_error_set(err, -errno, "cannot stat /sys/fs/cgroup: %s", strerror(errno));
        if ((uint64_t)sfs.f_type == CGROUP2_SUPER_MAGIC) {
                c->mode = MODE_V2;
                add_hier(c, "/sys/fs/cgroup", "cgroup2", "");
                return 0;
        }
        r = kn_read_file("/proc/self/mountinfo", 16 << 20, &info, &len);
        if (r < 0)
                return kn_error_set(err, r, "cannot read /proc/self/mountinfo: %s", strerror(-r));
        c->mode = MODE_V1;
        for (char *save = NULL, *line = strtok_r(info, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                /* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
                char *f[6] = {0}, *sep = strstr(line, " - "), *s2 = NULL;
                char *fstype, *source, *superopts;
                int n = 0;
                if (!sep)
                        continue;
                *sep = '\0';
                for (char *t = strtok_r(line, " ", &s2); t && n < 6; t = strtok_r(NULL, " ", &s2))
                        f[n++] = t;
                fstype = strtok_r(sep + 3, " ", &s2);
                source = fstype ? strtok_r(NULL, " ", &s2) : NULL;
                superopts = source ? strtok_r(NULL, " ", &s2) : NULL;
                if (n < 5 || !superopts || strncmp(f[4], "/sys/fs/cgroup/", 15))
                        continue;
                if (!strcmp(fstype, "cgroup"))
                        add_hier(c, f[4], fstype, superopts);
                else if (!strcmp(fstype, "cgroup2")) {
                        c->mode = MODE_HYBRID;
                        add_hier(c, f[4], fstype, "");
                }
        }
        for (size_t i = 0; i < c->n_h; i++)
                if (c->h[i].flags & H_CPU)
                        return 0;
        return kn_error_set(err, -ENOENT, "no cgroup v1 cpu hierarchy is mounted under /sys/fs/cgroup");
}

const char *kubelet_cgroups_mode(const kubelet_cgroups *c)
{
        return c->mode == MODE_V2 ? "v2" : c->mode == MODE_HYBRID ? "hybrid" : "v1";
}

/* ---- the burstable QoS cgroup ---- */

/* Called with the lock held. */
static int update_burstable(kubelet_cgroups *c, kn_error *err)
{
        const char *parts[] = {"kubepods", "burstable"};
        _cleanup_free_ char *name = NULL;
        kubelet_cgroup_config cfg = {0};
        int64_t sum = 0;

        for (size_t i = 0; i < c->n_burstable; i++)
                sum = __builtin_add_overflow(sum, c->burstable[i].cpu_milli, &sum) ? INT64_MAX : sum;
        cfg.cpu_shares = kubelet_milli_cpu_to_shares(sum);
        if (cfg.cpu_shares == c->burstable_shares)
                return 0;
        name = cg_name(c, parts, 2);
        for (size_t i = 0; i < c->n_h; i++) {
                _cleanup_free_ char *dir = NULL;
                int r;
                if (!creates_in(c, &c->h[i]) || !(c->mode == MODE_V2 || c->h[i].flags & H_CPU))
                        continue;
                dir = kn_asprintf("%s%s", c->h[i].mount, name);
                r = set_values(c, &c->h[i], dir, &cfg, err);
                if (r < 0) {
                        c->burstable_shares = -1;
                        return r;
                }
        }
        c->burstable_shares = cfg.cpu_shares;
        return 0;
}

/* Record (CPU_MILLI >= 0) or forget (< 0) a Burstable pod. Called with the lock held. */
static void track(kubelet_cgroups *c, const char *uid, int64_t cpu_milli)
{
        for (size_t i = 0; i < c->n_burstable; i++)
                if (!strcmp(c->burstable[i].uid, uid)) {
                        if (cpu_milli >= 0) {
                                c->burstable[i].cpu_milli = cpu_milli;
                                return;
                        }
                        free(c->burstable[i].uid);
                        c->burstable[i] = c->burstable[--c->n_burstable];
                        return;
                }
        if (cpu_milli < 0)
                return;
        c->burstable = kn_realloc(c->burstable, (c->n_burstable + 1) * sizeof(*c->burstable));
        c->burstable[c->n_burstable++] = (tracked){kn_strdup(uid), cpu_milli};
}

/* ---- lifecycle ---- */

int kubelet_cgroups_new(const kubelet_config *cfg, int64_t allocatable_cpu_milli, int64_t allocatable_memory,
                        kubelet_cgroups **ret, kn_error *err)
{
        kubelet_cgroups *c = kn_calloc(1, sizeof(*c));
        const char *root = cfg->cgroup_root && *cfg->cgroup_root ? cfg->cgroup_root : "/";
        _cleanup_free_ char *rootcopy = kn_strdup(root), *rootname = NULL;
        char *save = NULL;
        int r;

        pthread_mutex_init(&c->lock, NULL);
        c->burstable_shares = -1;
        c->per_qos = cfg->cgroups_per_qos;
        c->cfs_quota = cfg->cpu_cfs_quota;
        c->pids_limit = cfg->pod_pids_limit;
        if (!cfg->cgroup_driver || !strcmp(cfg->cgroup_driver, "cgroupfs"))
                c->systemd = false;
        else if (!strcmp(cfg->cgroup_driver, "systemd"))
                c->systemd = true;
        else {
                r = kn_error_set(err, -EINVAL, "invalid configuration: cgroupDriver %s is neither cgroupfs nor systemd",
                                 cfg->cgroup_driver);
                goto fail;
        }
        if (*root != '/') {
                r = kn_error_set(err, -EINVAL, "invalid configuration: cgroupRoot %s is not an absolute path", root);
                goto fail;
        }
        for (char *t = strtok_r(rootcopy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
                if (!strcmp(t, "..") || !strcmp(t, ".") || (c->systemd && strchr(t, '_'))) {
                        r = kn_error_set(err, -EINVAL, "invalid configuration: cgroupRoot %s has an invalid element %s",
                                         root, t);
                        goto fail;
                }
                c->root = kn_realloc(c->root, (c->n_root + 1) * sizeof(*c->root));
                c->root[c->n_root++] = kn_strdup(t);
        }

        r = detect(c, err);
        if (r < 0)
                goto fail;
        if (cfg->fail_cgroupv1 && c->mode != MODE_V2) {
                r = kn_error_set(err, -EOPNOTSUPP,
                                 "kubelet is configured to not run on a host using cgroup v1. cgroup v1 support is "
                                 "unsupported and will be removed in a future release");
                goto fail;
        }

        /* upstream refuses a cgroupRoot that does not exist (in the hierarchies it needs) */
        rootname = cg_name(c, NULL, 0);
        for (size_t i = 0; i < c->n_h; i++) {
                _cleanup_free_ char *dir = kn_asprintf("%s%s", c->h[i].mount, rootname);
                struct stat st;
                if (!(c->h[i].flags & (H_CPU | H_CPUACCT | H_CPUSET | H_MEMORY | H_PIDS | H_HUGETLB)) &&
                    c->mode != MODE_V2)
                        continue;
                if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                        r = kn_error_set(err, -ENOENT, "invalid configuration: cgroup-root \"%s\" doesn't exist (%s)",
                                         root, dir);
                        goto fail;
                }
        }

        if (c->per_qos) {
                const char *parts[] = {"kubepods", "burstable", "besteffort"};
                _cleanup_free_ char *kubepods = cg_name(c, parts, 1);
                const char *be_parts[] = {"kubepods", "besteffort"};
                _cleanup_free_ char *besteffort = cg_name(c, be_parts, 2);
                const char *bu_parts[] = {"kubepods", "burstable"};
                _cleanup_free_ char *burstable = cg_name(c, bu_parts, 2);
                kubelet_cgroup_config node = {
                        .cpu_shares = kubelet_milli_cpu_to_shares(allocatable_cpu_milli),
                        .memory_limit = allocatable_memory > 0 ? allocatable_memory : 0,
                };
                kubelet_cgroup_config be = {.cpu_shares = KUBELET_MIN_SHARES};

                if ((r = ensure_cgroup(c, kubepods, &node, err)) < 0 || (r = ensure_cgroup(c, besteffort, &be, err)) < 0 ||
                    (r = ensure_cgroup(c, burstable, NULL, err)) < 0 || (r = update_burstable(c, err)) < 0)
                        goto fail;
                kn_debug("cgroups: %s, %s driver, node allocatable cgroup %s", kubelet_cgroups_mode(c),
                         c->systemd ? "systemd" : "cgroupfs", kubepods);
        }
        *ret = c;
        return 0;
fail:
        kubelet_cgroups_free(c);
        return r;
}

void kubelet_cgroups_free(kubelet_cgroups *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n_root; i++)
                free(c->root[i]);
        free(c->root);
        for (size_t i = 0; i < c->n_h; i++)
                free(c->h[i].mount);
        for (size_t i = 0; i < c->n_burstable; i++)
                free(c->burstable[i].uid);
        free(c->burstable);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

int kubelet_cgroups_pod_ensure(kubelet_cgroups *c, const cJSON *pod, char **ret_parent, kn_error *err)
{
        const cJSON *uid = kn_json_path(pod, "metadata.uid");
        const char *qos = kubelet_pod_qos(pod);
        _cleanup_free_ char *name = NULL;
        kubelet_cgroup_config cfg;
        int r;

        if (!c->per_qos) {
                *ret_parent = cg_name(c, NULL, 0);
                return 0;
        }
        if (!cJSON_IsString(uid) || !valid_uid(uid->valuestring))
                return kn_error_set(err, -EINVAL, "pod has no valid metadata.uid");

        /* the QoS cgroups first, as upstream's syncPod updates them before a pod cgroup */
        pthread_mutex_lock(&c->lock);
        track(c, uid->valuestring, qos == KUBELET_QOS_BURSTABLE ? kubelet_pod_cpu_request(pod) : -1);
        r = update_burstable(c, err);
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;

        kubelet_pod_cgroup_config(pod, c->cfs_quota, &cfg);
        if (c->pids_limit > 0)
                cfg.pids_limit = c->pids_limit;
        name = pod_name(c, qos, uid->valuestring);
        r = ensure_cgroup(c, name, &cfg, err);
        if (r < 0)
                return r;
        *ret_parent = TAKE_PTR(name);
        return 0;
}

/* Existing directories of the pod's cgroup (any QoS), in the hierarchies that get them
 * (ALL: every mount, a hybrid host's unified tree too). Returns how many. */
static size_t pod_dirs(const kubelet_cgroups *c, const char *uid, bool all, char **ret)
{
        const char *classes[] = {KUBELET_QOS_GUARANTEED, KUBELET_QOS_BURSTABLE, KUBELET_QOS_BESTEFFORT};
        size_t n = 0;

        for (size_t q = 0; q < KN_ARRAY_SIZE(classes); q++) {
                _cleanup_free_ char *name = pod_name(c, classes[q], uid);
                for (size_t i = 0; i < c->n_h; i++) {
                        char *dir;
                        if (!all && !creates_in(c, &c->h[i]))
                                continue;
                        dir = kn_asprintf("%s%s", c->h[i].mount, name);
                        if (access(dir, F_OK) == 0)
                                ret[n++] = dir;
                        else
                                free(dir);
                }
        }
        return n;
}

int kubelet_cgroups_pod_reduce_cpu(kubelet_cgroups *c, const char *pod_uid, kn_error *err)
{
        const kubelet_cgroup_config min = {.cpu_shares = KUBELET_MIN_SHARES};
        char *dirs[MAX_HIER * 3];
        size_t n;
        int r = 0;

        if (!valid_uid(pod_uid))
                return kn_error_set(err, -EINVAL, "invalid pod UID");
        if (!c->per_qos)
                return 0;
        n = pod_dirs(c, pod_uid, false, dirs);
        for (size_t i = 0; i < n; i++) {
                const hier *h = NULL;
                for (size_t k = 0; k < c->n_h && !h; k++)
                        if (!strncmp(dirs[i], c->h[k].mount, strlen(c->h[k].mount)) &&
                            dirs[i][strlen(c->h[k].mount)] == '/')
                                h = &c->h[k];
                if (r >= 0 && h && (c->mode == MODE_V2 || h->flags & H_CPU))
                        r = set_values(c, h, dirs[i], &min, err);
                free(dirs[i]);
        }
        return r;
}

/* ---- removal ---- */

static int pidfd_open_(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
static int pidfd_kill(int fd) { return (int)syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0); }

typedef struct pidset {
        pid_t pids[MAX_KILL];
        size_t n;
} pidset;

/* Collect the processes of DIR and its sub-cgroups (bounded depth and count). */
static void collect(const char *dir, int depth, pidset *s)
{
        _cleanup_free_ char *procs = NULL;
        DIR *d;
        struct dirent *e;

        if (cg_read(dir, "cgroup.procs", &procs) >= 0)
                for (char *save = NULL, *t = strtok_r(procs, "\n", &save); t && s->n < MAX_KILL;
                     t = strtok_r(NULL, "\n", &save)) {
                        long pid = strtol(t, NULL, 10);
                        bool dup = false;
                        for (size_t i = 0; i < s->n && !dup; i++)
                                dup = s->pids[i] == pid;
                        if (pid > 0 && !dup)
                                s->pids[s->n++] = (pid_t)pid;
                }
        if (depth >= 16 || !(d = opendir(dir)))
                return;
        while ((e = readdir(d))) {
                if (e->d_type != DT_DIR || e->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *sub = kn_asprintf("%s/%s", dir, e->d_name);
                collect(sub, depth + 1, s);
        }
        closedir(d);
}

/* SIGKILL what is in DIRS and wait (pidfds, no polling) until it is gone or DEADLINE. */
static size_t kill_round(char **dirs, size_t n_dirs, int64_t deadline)
{
        _cleanup_free_ pidset *s = kn_calloc(1, sizeof(*s));
        _cleanup_free_ int *fds = kn_calloc(MAX_KILL, sizeof(*fds));
        size_t n_fds = 0;

        for (size_t i = 0; i < n_dirs; i++)
                collect(dirs[i], 0, s);
        for (size_t i = 0; i < s->n; i++) {
                /* a pidfd: no signal for a recycled pid, and something to wait on */
                int fd = pidfd_open_(s->pids[i]);
                if (fd < 0)
                        continue; /* gone already */
                if (pidfd_kill(fd) < 0 && errno != ESRCH)
                        kn_debug("cgroups: cannot kill pid %d: %s", (int)s->pids[i], strerror(errno));
                fds[n_fds++] = fd;
        }
        for (size_t i = 0; i < n_fds; i++) {
                struct pollfd p = {.fd = fds[i], .events = POLLIN};
                int64_t left = deadline - kn_now_ms();
                if (left > 0)
                        while (poll(&p, 1, (int)left) < 0 && errno == EINTR)
                                ;
                close(fds[i]);
        }
        return s->n;
}

/* Remove DIR's sub-cgroups, then DIR. */
static int rmdir_tree(const char *dir, int depth)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        int r = 0;

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((e = readdir(d)))
                if (e->d_type == DT_DIR && e->d_name[0] != '.' && depth < 16) {
                        _cleanup_free_ char *sub = kn_asprintf("%s/%s", dir, e->d_name);
                        int q = rmdir_tree(sub, depth + 1);
                        if (q < 0 && r == 0)
                                r = q;
                }
        closedir(d);
        if (rmdir(dir) < 0 && errno != ENOENT && r == 0)
                r = -errno;
        return r;
}

int kubelet_cgroups_pod_remove(kubelet_cgroups *c, const char *pod_uid, kn_error *err)
{
        char *dirs[MAX_HIER * 3];
        size_t n_dirs = 0;
        int64_t deadline = kn_now_ms() + KILL_WAIT_MS;
        int r = 0;

        if (!valid_uid(pod_uid))
                return kn_error_set(err, -EINVAL, "invalid pod UID");
        if (!c->per_qos)
                return 0;
        pthread_mutex_lock(&c->lock);
        track(c, pod_uid, -1);
        r = update_burstable(c, err);
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                kn_debug("cgroups: %s (ignored while removing pod %s)", err ? err->msg : "", pod_uid);

        /* every hierarchy, the unified one of a hybrid host included: runc may use it */
        n_dirs = pod_dirs(c, pod_uid, true, dirs);
        for (int round = 0; round < KILL_ROUNDS && n_dirs; round++)
                if (kill_round(dirs, n_dirs, deadline) == 0)
                        break;
        r = 0;
        for (size_t i = 0; i < n_dirs; i++) {
                int q = rmdir_tree(dirs[i], 0);
                if (q < 0 && r == 0)
                        r = kn_error_set(err, q, "failed to delete cgroup paths for pod %s: %s: %s", pod_uid, dirs[i],
                                         q == -EBUSY ? "processes still running" : strerror(-q));
                free(dirs[i]);
        }
        return r;
}

/* ---- listing ---- */

void kubelet_cgroups_strv_free(char **v, size_t n)
{
        for (size_t i = 0; i < n && v; i++)
                free(v[i]);
        free(v);
}

int kubelet_cgroups_list_pods(kubelet_cgroups *c, char ***ret_uids, size_t *ret_n)
{
        const char *parent_parts[3][2] = {{"kubepods", NULL}, {"kubepods", "burstable"}, {"kubepods", "besteffort"}};
        char **uids = NULL;
        size_t n = 0;

        for (size_t q = 0; q < 3 && c->per_qos; q++) {
                size_t np = parent_parts[q][1] ? 2 : 1;
                _cleanup_free_ char *parent = cg_name(c, parent_parts[q], np);
                _cleanup_free_ char *prefix = NULL;
                if (c->systemd) {
                        /* "/a.slice/a-kubepods.slice" → pods are "a-kubepods-pod<uid_>.slice" */
                        const char *base = strrchr(parent, '/') + 1;
                        prefix = kn_asprintf("%.*s-pod", (int)(strlen(base) - 6), base);
                } else
                        prefix = kn_strdup("pod");
                for (size_t i = 0; i < c->n_h; i++) {
                        _cleanup_free_ char *dir = kn_asprintf("%s%s", c->h[i].mount, parent);
                        DIR *d;
                        struct dirent *e;
                        if (!creates_in(c, &c->h[i]) || !(d = opendir(dir)))
                                continue;
                        while ((e = readdir(d))) {
                                size_t pl = strlen(prefix), len = strlen(e->d_name);
                                _cleanup_free_ char *uid = NULL;
                                bool dup = false;
                                if (e->d_type != DT_DIR || strncmp(e->d_name, prefix, pl))
                                        continue;
                                if (c->systemd) {
                                        if (len < pl + 6 || strcmp(e->d_name + len - 6, ".slice"))
                                                continue;
                                        uid = kn_strndup(e->d_name + pl, len - pl - 6);
                                        for (char *p = uid; *p; p++)
                                                if (*p == '_')
                                                        *p = '-';
                                } else
                                        uid = kn_strdup(e->d_name + pl);
                                if (!valid_uid(uid))
                                        continue;
                                for (size_t k = 0; k < n && !dup; k++)
                                        dup = !strcmp(uids[k], uid);
                                if (dup)
                                        continue;
                                uids = kn_realloc(uids, (n + 1) * sizeof(*uids));
                                uids[n++] = TAKE_PTR(uid);
                        }
                        closedir(d);
                }
        }
        *ret_uids = uids;
        *ret_n = n;
        return 0;
}
