/* SPDX-License-Identifier: Apache-2.0 */
/* kubelet/qos.c (QoS class, shares, quota, pod cgroup values, oom_score_adj, against the
 * values upstream's own tests use) and kubelet/cgroups.c on this host's real cgroup
 * mounts, under a private cgroupRoot (/knode-unit-<pid>) removed at the end. The
 * hierarchy tests need root: without it they fail, they do not skip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../../kubelet/cgroups.h"

/* paths here are short and fixed; a truncated one would fail the test anyway */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define MI (1024LL * 1024)
#define GI (1024LL * MI)

static cJSON *J(const char *s)
{
        cJSON *j = cJSON_Parse(s);
        if (!j)
                fail_msg("bad JSON in test: %s", s);
        return j;
}

/* A pod JSON from a spec fragment. */
static cJSON *pod(const char *spec)
{
        char buf[4096];
        snprintf(buf, sizeof(buf), "{\"metadata\":{\"uid\":\"1111-2222\",\"name\":\"p\",\"namespace\":\"ns\"},"
                                   "\"spec\":%s}", spec);
        return J(buf);
}

#define C(name, res) "{\"name\":\"" name "\",\"resources\":" res "}"
#define SIDECAR(name, res) "{\"name\":\"" name "\",\"restartPolicy\":\"Always\",\"resources\":" res "}"

static const char *qos_of(const char *spec)
{
        cJSON *p = pod(spec);
        const char *q = kubelet_pod_qos(p);
        cJSON_Delete(p);
        return q;
}

static void test_qos(void **state)
{
        (void)state;
        assert_ptr_equal(qos_of("{\"containers\":[" C("a", "{}") "]}"), KUBELET_QOS_BESTEFFORT);
        assert_ptr_equal(qos_of("{\"containers\":[{\"name\":\"a\"}]}"), KUBELET_QOS_BESTEFFORT);
        assert_ptr_equal(qos_of("{}"), KUBELET_QOS_BESTEFFORT);
        /* requests == limits for cpu and memory in every container */
        assert_ptr_equal(qos_of("{\"containers\":[" C("a", "{\"requests\":{\"cpu\":\"1\",\"memory\":\"1Gi\"},"
                                                           "\"limits\":{\"cpu\":\"1000m\",\"memory\":\"1Gi\"}}") "]}"),
                         KUBELET_QOS_GUARANTEED);
        /* limits only: the API defaults requests to them */
        assert_ptr_equal(qos_of("{\"containers\":[" C("a", "{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}") "]}"),
                         KUBELET_QOS_GUARANTEED);
        assert_ptr_equal(qos_of("{\"containers\":[" C("a", "{\"requests\":{\"cpu\":\"100m\"}}") "]}"),
                         KUBELET_QOS_BURSTABLE);
        /* cpu alone, equal: not Guaranteed */
        assert_ptr_equal(qos_of("{\"containers\":[" C("a", "{\"limits\":{\"cpu\":\"1\"}}") "]}"),
                         KUBELET_QOS_BURSTABLE);
        assert_ptr_equal(qos_of("{\"containers\":[" C("a", "{\"requests\":{\"cpu\":\"1\",\"memory\":\"1Gi\"},"
                                                           "\"limits\":{\"cpu\":\"2\",\"memory\":\"1Gi\"}}") "]}"),
                         KUBELET_QOS_BURSTABLE);
        /* one Guaranteed and one BestEffort container */
        assert_ptr_equal(qos_of("{\"containers\":[" C("a", "{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}") "," C(
                                "b", "{}") "]}"),
                         KUBELET_QOS_BURSTABLE);
        /* init containers count: a BestEffort init container spoils Guaranteed... */
        assert_ptr_equal(qos_of("{\"initContainers\":[" C("i", "{}") "],\"containers\":[" C(
                                "a", "{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}") "]}"),
                         KUBELET_QOS_BURSTABLE);
        /* ...a Guaranteed one keeps it, and a Burstable one makes a BestEffort pod Burstable */
        assert_ptr_equal(qos_of("{\"initContainers\":[" C("i", "{\"limits\":{\"cpu\":\"2\",\"memory\":\"2Gi\"}}") "],"
                                "\"containers\":[" C("a", "{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}") "]}"),
                         KUBELET_QOS_GUARANTEED);
        assert_ptr_equal(qos_of("{\"initContainers\":[" C("i", "{\"requests\":{\"memory\":\"1Mi\"}}") "],"
                                "\"containers\":[" C("a", "{}") "]}"),
                         KUBELET_QOS_BURSTABLE);
        /* only cpu and memory decide; zero quantities are none */
        assert_ptr_equal(qos_of("{\"containers\":[" C("a", "{\"requests\":{\"ephemeral-storage\":\"1Gi\"}}") "]}"),
                         KUBELET_QOS_BESTEFFORT);
        assert_ptr_equal(qos_of("{\"containers\":[" C("a", "{\"requests\":{\"cpu\":\"0\"}}") "]}"),
                         KUBELET_QOS_BESTEFFORT);
        assert_ptr_equal(qos_of("{\"containers\":[" C("a", "{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\","
                                                           "\"hugepages-2Mi\":\"2Mi\"}}") "]}"),
                         KUBELET_QOS_GUARANTEED);
        /* pod-level resources decide alone when present */
        assert_ptr_equal(qos_of("{\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}},"
                                "\"containers\":[" C("a", "{}") "]}"),
                         KUBELET_QOS_GUARANTEED);
        assert_ptr_equal(qos_of("{\"resources\":{\"requests\":{\"cpu\":\"1\"}},"
                                "\"containers\":[" C("a", "{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}") "]}"),
                         KUBELET_QOS_BURSTABLE);
        /* garbage quantities are ignored, not trusted */
        assert_ptr_equal(qos_of("{\"containers\":[" C("a", "{\"requests\":{\"cpu\":\"lots\"}}") "]}"),
                         KUBELET_QOS_BESTEFFORT);
        /* status.qosClass, set by the API server, wins */
        {
                cJSON *p = J("{\"spec\":{\"containers\":[{\"name\":\"a\"}]},\"status\":{\"qosClass\":\"Burstable\"}}");
                assert_ptr_equal(kubelet_pod_qos(p), KUBELET_QOS_BURSTABLE);
                cJSON_Delete(p);
        }
}

static void test_shares_quota(void **state)
{
        /* upstream's helpers_linux_test.go cases */
        static const struct {
                int64_t milli, shares;
        } shares[] = {{0, 2}, {1, 2}, {2, 2}, {3, 3}, {100, 102}, {500, 512}, {1000, 1024}, {1500, 1536},
                      {262144000, 262144}, {300000000, 262144}, {-5, 2}};
        static const struct {
                int64_t milli, period, quota;
        } quota[] = {{0, 100000, 0}, {5, 100000, 1000}, {9, 100000, 1000}, {10, 100000, 1000},
                     {200, 100000, 20000}, {500, 100000, 50000}, {1000, 100000, 100000}, {1500, 100000, 150000},
                     {1000, 50000, 50000}, {5, 50000, 1000}, {1000, 10000, 10000}};
        (void)state;
        for (size_t i = 0; i < sizeof(shares) / sizeof(shares[0]); i++)
                assert_int_equal(kubelet_milli_cpu_to_shares(shares[i].milli), shares[i].shares);
        for (size_t i = 0; i < sizeof(quota) / sizeof(quota[0]); i++)
                assert_int_equal(kubelet_milli_cpu_to_quota(quota[i].milli, quota[i].period), quota[i].quota);
}

static void pod_config(const char *spec, bool cfs, kubelet_cgroup_config *ret)
{
        cJSON *p = pod(spec);
        kubelet_pod_cgroup_config(p, cfs, ret);
        cJSON_Delete(p);
}

#define REQ_LIM(rc, rm, lc, lm)                                                                                      \
        "{\"requests\":{\"cpu\":\"" rc "\",\"memory\":\"" rm "\"},\"limits\":{\"cpu\":\"" lc "\",\"memory\":\"" lm   \
        "\"}}"

static void test_pod_config(void **state)
{
        kubelet_cgroup_config c;
        (void)state;
        /* BestEffort: 2 shares, nothing else */
        pod_config("{\"containers\":[" C("a", "{}") "]}", true, &c);
        assert_int_equal(c.cpu_shares, 2);
        assert_int_equal(c.cpu_quota, 0);
        assert_int_equal(c.memory_limit, 0);
        /* Burstable without limits: shares only */
        pod_config("{\"containers\":[" C("a", "{\"requests\":{\"cpu\":\"100m\",\"memory\":\"100Mi\"}}") "]}", true, &c);
        assert_int_equal(c.cpu_shares, 102);
        assert_int_equal(c.cpu_quota, 0);
        assert_int_equal(c.cpu_period, 0);
        assert_int_equal(c.memory_limit, 0);
        /* Burstable with limits everywhere */
        pod_config("{\"containers\":[" C("a", REQ_LIM("100m", "100Mi", "200m", "200Mi")) "]}", true, &c);
        assert_int_equal(c.cpu_shares, 102);
        assert_int_equal(c.cpu_quota, 20000);
        assert_int_equal(c.cpu_period, 100000);
        assert_int_equal(c.memory_limit, 200 * MI);
        /* ...with cpuCFSQuota off: unlimited quota */
        pod_config("{\"containers\":[" C("a", REQ_LIM("100m", "100Mi", "200m", "200Mi")) "]}", false, &c);
        assert_int_equal(c.cpu_quota, -1);
        assert_int_equal(c.memory_limit, 200 * MI);
        /* Burstable, one container without limits: no pod quota, no memory limit */
        pod_config("{\"containers\":[" C("a", REQ_LIM("100m", "100Mi", "200m", "200Mi")) "," C(
                           "b", "{\"requests\":{\"cpu\":\"100m\",\"memory\":\"100Mi\"}}") "]}",
                   true, &c);
        assert_int_equal(c.cpu_shares, 204);
        assert_int_equal(c.cpu_quota, 0);
        assert_int_equal(c.memory_limit, 0);
        /* Guaranteed */
        pod_config("{\"containers\":[" C("a", REQ_LIM("100m", "100Mi", "100m", "100Mi")) "]}", true, &c);
        assert_int_equal(c.cpu_shares, 102);
        assert_int_equal(c.cpu_quota, 10000);
        assert_int_equal(c.cpu_period, 100000);
        assert_int_equal(c.memory_limit, 100 * MI);
        pod_config("{\"containers\":[" C("a", REQ_LIM("100m", "100Mi", "100m", "100Mi")) "]}", false, &c);
        assert_int_equal(c.cpu_quota, -1);
        assert_int_equal(c.cpu_period, 100000);
        /* an init container asking more than the app: the pod needs the larger */
        pod_config("{\"initContainers\":[" C("i", REQ_LIM("200m", "300Mi", "200m", "300Mi")) "],"
                   "\"containers\":[" C("a", REQ_LIM("100m", "100Mi", "100m", "100Mi")) "]}",
                   true, &c);
        assert_int_equal(c.cpu_shares, 204);
        assert_int_equal(c.cpu_quota, 20000);
        assert_int_equal(c.memory_limit, 300 * MI);
        /* a sidecar adds to the app and to every later init container */
        pod_config("{\"initContainers\":[" SIDECAR("s", REQ_LIM("50m", "50Mi", "50m", "50Mi")) "," C(
                           "i", REQ_LIM("200m", "100Mi", "200m", "100Mi")) "],"
                   "\"containers\":[" C("a", REQ_LIM("100m", "100Mi", "100m", "100Mi")) "]}",
                   true, &c);
        assert_int_equal(c.cpu_shares, 256); /* max(50+100, 50+200) = 250m */
        assert_int_equal(c.cpu_quota, 25000);
        assert_int_equal(c.memory_limit, 150 * MI); /* max(50+100, 50+100) */
        /* overhead is added */
        pod_config("{\"overhead\":{\"cpu\":\"250m\",\"memory\":\"120Mi\"},"
                   "\"containers\":[" C("a", REQ_LIM("100m", "100Mi", "100m", "100Mi")) "]}",
                   true, &c);
        assert_int_equal(c.cpu_shares, 358);
        assert_int_equal(c.cpu_quota, 35000);
        assert_int_equal(c.memory_limit, 220 * MI);
        /* pod-level resources: they size the pod, and declare its limits */
        pod_config("{\"resources\":{\"requests\":{\"cpu\":\"500m\",\"memory\":\"100Mi\"},"
                   "\"limits\":{\"cpu\":\"1\",\"memory\":\"200Mi\"}},"
                   "\"containers\":[" C("a", "{\"requests\":{\"cpu\":\"100m\"}}") "]}",
                   true, &c);
        assert_int_equal(c.cpu_shares, 512);
        assert_int_equal(c.cpu_quota, 100000);
        assert_int_equal(c.memory_limit, 200 * MI);
}

static void container(const char *spec, int idx, bool init, int64_t cap, bool cfs, kubelet_container_resources *ret)
{
        cJSON *p = pod(spec);
        const cJSON *c = cJSON_GetArrayItem(kn_json_path(p, init ? "spec.initContainers" : "spec.containers"), idx);
        assert_non_null(c);
        kubelet_container_resources_compute(p, c, cap, cfs, ret);
        cJSON_Delete(p);
}

static void test_container_resources(void **state)
{
        kubelet_container_resources r;
        (void)state;
        /* BestEffort */
        container("{\"containers\":[" C("a", "{}") "]}", 0, false, 10 * GI, true, &r);
        assert_int_equal(r.cpu_shares, 2);
        assert_int_equal(r.cpu_quota, 0);
        assert_int_equal(r.cpu_period, 100000);
        assert_int_equal(r.memory_limit, 0);
        assert_int_equal(r.oom_score_adj, 1000);
        /* Guaranteed */
        container("{\"containers\":[" C("a", REQ_LIM("500m", "1Gi", "500m", "1Gi")) "]}", 0, false, 10 * GI, true, &r);
        assert_int_equal(r.cpu_shares, 512);
        assert_int_equal(r.cpu_quota, 50000);
        assert_int_equal(r.memory_limit, GI);
        assert_int_equal(r.oom_score_adj, -997);
        /* no CFS quota: neither quota nor period */
        container("{\"containers\":[" C("a", REQ_LIM("500m", "1Gi", "500m", "1Gi")) "]}", 0, false, 10 * GI, false, &r);
        assert_int_equal(r.cpu_quota, 0);
        assert_int_equal(r.cpu_period, 0);
        /* Burstable: 1000 - 1000*req/capacity */
        container("{\"containers\":[" C("a", "{\"requests\":{\"memory\":\"1Gi\"}}") "]}", 0, false, 10 * GI, true, &r);
        assert_int_equal(r.oom_score_adj, 900);
        assert_int_equal(r.cpu_shares, 2);
        container("{\"containers\":[" C("a", "{\"requests\":{\"memory\":\"5Gi\"}}") "]}", 0, false, 10 * GI, true, &r);
        assert_int_equal(r.oom_score_adj, 500);
        /* ...no memory request: 1000 becomes 999, above BestEffort's reach */
        container("{\"containers\":[" C("a", "{\"requests\":{\"cpu\":\"100m\"}}") "]}", 0, false, 10 * GI, true, &r);
        assert_int_equal(r.oom_score_adj, 999);
        assert_int_equal(r.cpu_shares, 102);
        /* ...requesting (nearly) all memory: at least 3, above Guaranteed */
        container("{\"containers\":[" C("a", "{\"requests\":{\"memory\":\"10Gi\"}}") "]}", 0, false, 10 * GI, true, &r);
        assert_int_equal(r.oom_score_adj, 3);
        container("{\"containers\":[" C("a", "{\"requests\":{\"memory\":\"20Gi\"}}") "]}", 0, false, 10 * GI, true, &r);
        assert_int_equal(r.oom_score_adj, 3);
        container("{\"containers\":[" C("a", "{\"requests\":{\"memory\":\"9.99Gi\"}}") "]}", 0, false, 10 * GI, true,
                  &r);
        assert_int_equal(r.oom_score_adj, 3);
        /* cpu shares from the limit when there is no request; quota from the limit */
        container("{\"containers\":[" C("a", "{\"limits\":{\"cpu\":\"250m\"},\"requests\":{\"memory\":\"1Gi\"}}") "]}",
                  0, false, 10 * GI, true, &r);
        assert_int_equal(r.cpu_shares, 256);
        assert_int_equal(r.cpu_quota, 25000);
        container("{\"containers\":[" C("a", "{\"limits\":{\"cpu\":\"2\"},\"requests\":{\"cpu\":\"1m\"}}") "]}", 0,
                  false, 10 * GI, true, &r);
        assert_int_equal(r.cpu_shares, 2);
        assert_int_equal(r.cpu_quota, 200000);
        /* node-critical pods are protected like Guaranteed ones */
        container("{\"priorityClassName\":\"system-node-critical\",\"priority\":2000001000,"
                  "\"containers\":[" C("a", "{\"requests\":{\"memory\":\"1Gi\"}}") "]}",
                  0, false, 10 * GI, true, &r);
        assert_int_equal(r.oom_score_adj, -997);
        container("{\"priorityClassName\":\"system-cluster-critical\",\"priority\":2000000000,"
                  "\"containers\":[" C("a", "{\"requests\":{\"memory\":\"1Gi\"}}") "]}",
                  0, false, 10 * GI, true, &r);
        assert_int_equal(r.oom_score_adj, 900);
        container("{\"priorityClassName\":\"system-node-critical\","
                  "\"containers\":[" C("a", "{\"requests\":{\"memory\":\"1Gi\"}}") "]}",
                  0, false, 10 * GI, true, &r);
        assert_int_equal(r.oom_score_adj, 900); /* no priority: not critical */
        /* a sidecar scores no higher than the smallest regular container */
        container("{\"initContainers\":[" SIDECAR("s", "{\"requests\":{\"memory\":\"1Gi\"}}") "],"
                  "\"containers\":[" C("a", "{\"requests\":{\"memory\":\"4Gi\"}}") "," C(
                          "b", "{\"requests\":{\"memory\":\"2Gi\"}}") "]}",
                  0, true, 10 * GI, true, &r);
        assert_int_equal(r.oom_score_adj, 800);
        container("{\"initContainers\":[" C("s", "{\"requests\":{\"memory\":\"1Gi\"}}") "],"
                  "\"containers\":[" C("a", "{\"requests\":{\"memory\":\"4Gi\"}}") "]}",
                  0, true, 10 * GI, true, &r);
        assert_int_equal(r.oom_score_adj, 900); /* not a sidecar */
        /* pod-level resources: limits for containers without their own, and the pod's
         * unclaimed memory request shared among containers */
        container("{\"resources\":{\"requests\":{\"memory\":\"4Gi\"},\"limits\":{\"cpu\":\"1\",\"memory\":\"8Gi\"}},"
                  "\"containers\":[" C("a", "{\"requests\":{\"memory\":\"1Gi\"}}") "," C("b", "{}") "]}",
                  0, false, 10 * GI, true, &r);
        assert_int_equal(r.memory_limit, 8 * GI);
        assert_int_equal(r.cpu_quota, 100000);
        assert_int_equal(r.cpu_shares, 1024);
        assert_int_equal(r.oom_score_adj, 750); /* (1Gi + (4Gi-1Gi)/2) of 10Gi */
}

/* ---- the hierarchy, on this host's mounts ---- */

static char root_name[64], sd_root[64];
static char hiers[32][256];
static size_t n_hiers;

static bool is_v2(void)
{
        struct stat st;
        return stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0;
}

static void rm_tree(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        if (!d)
                return;
        while ((e = readdir(d)))
                if (e->d_type == DT_DIR && e->d_name[0] != '.') {
                        char sub[1024];
                        snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
                        rm_tree(sub);
                }
        closedir(d);
        rmdir(dir);
}

static void copy_file(const char *from_dir, const char *to_dir, const char *file)
{
        char p[600], buf[256] = "";
        FILE *f;
        snprintf(p, sizeof(p), "%s/%s", from_dir, file);
        if ((f = fopen(p, "r"))) {
                if (!fgets(buf, sizeof(buf), f))
                        buf[0] = '\0';
                fclose(f);
        }
        snprintf(p, sizeof(p), "%s/%s", to_dir, file);
        if ((f = fopen(p, "w"))) {
                fputs(buf, f);
                fclose(f);
        }
}

/* cgroupRoot must exist beforehand (upstream refuses a missing one): make it in every
 * hierarchy, with cpus and mems in cpuset, as an operator would. */
static void make_root(const char *name)
{
        for (size_t i = 0; i < n_hiers; i++) {
                char dir[512];
                snprintf(dir, sizeof(dir), "%s/%s", hiers[i], name);
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        fail_msg("mkdir %s: %s", dir, strerror(errno));
                if (strstr(hiers[i], "cpuset")) {
                        copy_file(hiers[i], dir, "cpuset.cpus");
                        copy_file(hiers[i], dir, "cpuset.mems");
                }
        }
}

static int group_setup(void **state)
{
        DIR *d;
        struct dirent *e;
        (void)state;
        if (geteuid() != 0) {
                fprintf(stderr, "test_cgroups: the hierarchy tests need root (they write cgroupfs)\n");
                return -1;
        }
        snprintf(root_name, sizeof(root_name), "knode-unit-%d", (int)getpid());
        snprintf(sd_root, sizeof(sd_root), "knodeunit%d", (int)getpid());
        if (is_v2()) {
                snprintf(hiers[n_hiers++], sizeof(hiers[0]), "/sys/fs/cgroup");
        } else if ((d = opendir("/sys/fs/cgroup"))) {
                while ((e = readdir(d)) && n_hiers < 32) {
                        char p[300];
                        struct stat st;
                        snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/cgroup.procs", e->d_name);
                        /* real mounts only: cpu -> cpu,cpuacct symlinks are the same hierarchy */
                        if (e->d_type == DT_DIR && e->d_name[0] != '.' && stat(p, &st) == 0)
                                snprintf(hiers[n_hiers++], sizeof(hiers[0]), "/sys/fs/cgroup/%s", e->d_name);
                }
                closedir(d);
        }
        if (n_hiers == 0) {
                fprintf(stderr, "test_cgroups: no cgroup mounts under /sys/fs/cgroup\n");
                return -1;
        }
        return 0;
}

static int group_teardown(void **state)
{
        (void)state;
        for (size_t i = 0; i < n_hiers; i++) {
                char dir[512];
                snprintf(dir, sizeof(dir), "%s/%s", hiers[i], root_name);
                rm_tree(dir);
                snprintf(dir, sizeof(dir), "%s/%s.slice", hiers[i], sd_root);
                rm_tree(dir);
        }
        return 0;
}

static const char *hier(const char *want)
{
        for (size_t i = 0; i < n_hiers; i++)
                if (is_v2() || !strcmp(strrchr(hiers[i], '/') + 1, want))
                        return hiers[i];
        return NULL;
}

static long long read_ll(const char *h, const char *rel, const char *file)
{
        char p[700], buf[64] = "";
        FILE *f;
        snprintf(p, sizeof(p), "%s/%s/%s", h, rel, file);
        f = fopen(p, "r");
        if (!f)
                fail_msg("cannot open %s", p);
        if (!fgets(buf, sizeof(buf), f))
                buf[0] = '\0';
        fclose(f);
        return !strncmp(buf, "max", 3) ? -1 : atoll(buf);
}

static bool exists(const char *h, const char *rel)
{
        char p[700];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", h, rel);
        return stat(p, &st) == 0;
}

static kubelet_config base_cfg(void)
{
        static char root[80];
        snprintf(root, sizeof(root), "/%s", root_name);
        return (kubelet_config){.cgroup_driver = "cgroupfs", .cgroup_root = root, .cgroups_per_qos = true,
                                .cpu_cfs_quota = true, .pod_pids_limit = -1};
}

static void test_fail_cgroupv1(void **state)
{
        kubelet_config cfg = base_cfg();
        kubelet_cgroups *c = NULL;
        kn_error err = {0};
        int r;
        (void)state;
        make_root(root_name);
        cfg.fail_cgroupv1 = true;
        r = kubelet_cgroups_new(&cfg, 1000, GI, &c, &err);
        if (is_v2()) {
                assert_int_equal(r, 0);
                kubelet_cgroups_free(c);
                return;
        }
        assert_true(r < 0);
        assert_null(c);
        assert_string_equal(err.msg, "kubelet is configured to not run on a host using cgroup v1. cgroup v1 support is "
                                     "unsupported and will be removed in a future release");
}

static void test_missing_root(void **state)
{
        kubelet_config cfg = base_cfg();
        kubelet_cgroups *c = NULL;
        kn_error err = {0};
        (void)state;
        cfg.cgroup_root = "/knode-unit-does-not-exist";
        assert_int_equal(kubelet_cgroups_new(&cfg, 1000, GI, &c, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "doesn't exist"));
        cfg.cgroup_root = "/../etc";
        assert_int_equal(kubelet_cgroups_new(&cfg, 1000, GI, &c, &err), -EINVAL);
        cfg.cgroup_root = "/";
        cfg.cgroup_driver = "openrc";
        assert_int_equal(kubelet_cgroups_new(&cfg, 1000, GI, &c, &err), -EINVAL);
        assert_null(c);
}

/* A child that joins REL (a cgroup of a pod) in the cpu and pids hierarchies and waits
 * to be killed. (Not the memory hierarchy: the test's own memory accounting stays.) */
static pid_t spawn_in(const char *rel)
{
        const char *which[] = {"cpu", "pids"};
        int p[2];
        pid_t pid;
        char c;

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                for (size_t i = 0; i < 2; i++) {
                        const char *h = hier(which[i]);
                        char path[700];
                        FILE *f;
                        if (!h)
                                continue;
                        snprintf(path, sizeof(path), "%s/%s/cgroup.procs", h, rel);
                        if (!(f = fopen(path, "w")) || fprintf(f, "0\n") < 0 || fclose(f) != 0)
                                _exit(3);
                        if (is_v2())
                                break;
                }
                if (write(p[1], "x", 1) != 1)
                        _exit(4);
                for (;;)
                        pause();
        }
        close(p[1]);
        assert_int_equal(read(p[0], &c, 1), 1);
        close(p[0]);
        return pid;
}

static void mkdir_all(const char *rel)
{
        for (size_t i = 0; i < n_hiers; i++) {
                char dir[700];
                snprintf(dir, sizeof(dir), "%s/%s", hiers[i], rel);
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        continue; /* a hierarchy without the pod (hybrid's unified tree) */
                if (strstr(hiers[i], "cpuset")) {
                        char parent[700];
                        snprintf(parent, sizeof(parent), "%s", dir);
                        *strrchr(parent, '/') = '\0';
                        copy_file(parent, dir, "cpuset.cpus");
                        copy_file(parent, dir, "cpuset.mems");
                }
        }
}

static void test_hierarchy_cgroupfs(void **state)
{
        kubelet_config cfg = base_cfg();
        kubelet_cgroups *c = NULL;
        kn_error err = {0};
        char rel[256], prel[300], expect[300];
        char *parent = NULL, **uids = NULL;
        size_t n = 0;
        int status;
        pid_t child;
        cJSON *burst = pod("{\"containers\":[" C("a", REQ_LIM("250m", "64Mi", "500m", "128Mi")) "]}");
        cJSON *guar = J("{\"metadata\":{\"uid\":\"3333-4444\"},\"spec\":{\"containers\":[" C(
                "a", REQ_LIM("1", "32Mi", "1", "32Mi")) "]}}");
        cJSON *evil = J("{\"metadata\":{\"uid\":\"../../x\"},\"spec\":{}}");
        (void)state;

        make_root(root_name);
        cfg.pod_pids_limit = 100;
        if (kubelet_cgroups_new(&cfg, 1500, GI, &c, &err) < 0)
                fail_msg("kubelet_cgroups_new: %s", err.msg);
        assert_string_equal(kubelet_cgroups_mode(c), is_v2() ? "v2" : "hybrid");

        /* kubepods sized to allocatable, besteffort 2 shares, burstable 2 with no pods */
        snprintf(rel, sizeof(rel), "%s/kubepods", root_name);
        if (!is_v2()) {
                const char *need[] = {"cpu", "cpuacct", "cpuset", "memory", "pids"};
                for (size_t i = 0; i < 5; i++) {
                        char sub[300];
                        assert_non_null(hier(need[i]));
                        assert_true(exists(hier(need[i]), rel));
                        snprintf(sub, sizeof(sub), "%s/burstable", rel);
                        assert_true(exists(hier(need[i]), sub));
                        snprintf(sub, sizeof(sub), "%s/besteffort", rel);
                        assert_true(exists(hier(need[i]), sub));
                }
                assert_int_equal(read_ll(hier("cpu"), rel, "cpu.shares"), 1536);
                assert_int_equal(read_ll(hier("memory"), rel, "memory.limit_in_bytes"), GI);
                snprintf(prel, sizeof(prel), "%s/besteffort", rel);
                assert_int_equal(read_ll(hier("cpu"), prel, "cpu.shares"), 2);
                assert_true(read_ll(hier("cpuset"), prel, "cpuset.mems") >= 0);
                snprintf(prel, sizeof(prel), "%s/burstable", rel);
                assert_int_equal(read_ll(hier("cpu"), prel, "cpu.shares"), 2);
        }

        /* a Burstable pod: its cgroup, and the burstable shares follow its request */
        if (kubelet_cgroups_pod_ensure(c, burst, &parent, &err) < 0)
                fail_msg("pod_ensure: %s", err.msg);
        snprintf(expect, sizeof(expect), "/%s/kubepods/burstable/pod1111-2222", root_name);
        assert_string_equal(parent, expect);
        free(parent);
        snprintf(prel, sizeof(prel), "%s/burstable/pod1111-2222", rel);
        if (!is_v2()) {
                char brel[300];
                snprintf(brel, sizeof(brel), "%s/burstable", rel);
                assert_int_equal(read_ll(hier("cpu"), brel, "cpu.shares"), 256);
                assert_int_equal(read_ll(hier("cpu"), prel, "cpu.shares"), 256);
                assert_int_equal(read_ll(hier("cpu"), prel, "cpu.cfs_quota_us"), 50000);
                assert_int_equal(read_ll(hier("cpu"), prel, "cpu.cfs_period_us"), 100000);
                assert_int_equal(read_ll(hier("memory"), prel, "memory.limit_in_bytes"), 128 * MI);
                assert_int_equal(read_ll(hier("pids"), prel, "pids.max"), 100);
                assert_true(exists(hier("cpuacct"), prel));
        }
        /* ensuring again is idempotent */
        assert_int_equal(kubelet_cgroups_pod_ensure(c, burst, &parent, &err), 0);
        free(parent);

        /* a Guaranteed pod sits right under kubepods */
        if (kubelet_cgroups_pod_ensure(c, guar, &parent, &err) < 0)
                fail_msg("pod_ensure: %s", err.msg);
        snprintf(expect, sizeof(expect), "/%s/kubepods/pod3333-4444", root_name);
        assert_string_equal(parent, expect);
        free(parent);
        parent = NULL;
        if (!is_v2()) {
                char grel[300];
                snprintf(grel, sizeof(grel), "%s/pod3333-4444", rel);
                assert_int_equal(read_ll(hier("cpu"), grel, "cpu.cfs_quota_us"), 100000);
                assert_int_equal(read_ll(hier("memory"), grel, "memory.limit_in_bytes"), 32 * MI);
        }
        /* a UID that would climb out of the tree is refused */
        assert_int_equal(kubelet_cgroups_pod_ensure(c, evil, &parent, &err), -EINVAL);
        assert_null(parent);
        assert_int_equal(kubelet_cgroups_pod_remove(c, "../..", &err), -EINVAL);

        assert_int_equal(kubelet_cgroups_list_pods(c, &uids, &n), 0);
        assert_int_equal(n, 2);
        assert_true((!strcmp(uids[0], "1111-2222") && !strcmp(uids[1], "3333-4444")) ||
                    (!strcmp(uids[1], "1111-2222") && !strcmp(uids[0], "3333-4444")));
        kubelet_cgroups_strv_free(uids, n);

        /* a terminating pod first drops to the minimum shares */
        assert_int_equal(kubelet_cgroups_pod_reduce_cpu(c, "3333-4444", &err), 0);
        assert_int_equal(kubelet_cgroups_pod_reduce_cpu(c, "5555", &err), 0);
        if (!is_v2()) {
                char grel[300];
                snprintf(grel, sizeof(grel), "%s/pod3333-4444", rel);
                assert_int_equal(read_ll(hier("cpu"), grel, "cpu.shares"), 2);
                assert_int_equal(read_ll(hier("cpu"), grel, "cpu.cfs_quota_us"), 100000);
        }

        /* removal kills what is left, container sub-cgroups included, then removes */
        {
                char crel[400];
                snprintf(crel, sizeof(crel), "%s/ctr1", prel);
                mkdir_all(crel);
                child = spawn_in(crel);
        }
        if (kubelet_cgroups_pod_remove(c, "1111-2222", &err) < 0)
                fail_msg("pod_remove: %s", err.msg);
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);
        for (size_t i = 0; i < n_hiers; i++)
                assert_false(exists(hiers[i], prel));
        if (!is_v2()) {
                char brel[300];
                snprintf(brel, sizeof(brel), "%s/burstable", rel);
                assert_int_equal(read_ll(hier("cpu"), brel, "cpu.shares"), 2);
        }
        /* removing what is gone is fine */
        assert_int_equal(kubelet_cgroups_pod_remove(c, "1111-2222", &err), 0);
        assert_int_equal(kubelet_cgroups_pod_remove(c, "3333-4444", &err), 0);
        assert_int_equal(kubelet_cgroups_list_pods(c, &uids, &n), 0);
        assert_int_equal(n, 0);
        kubelet_cgroups_strv_free(uids, n);

        kubelet_cgroups_free(c);
        cJSON_Delete(burst);
        cJSON_Delete(guar);
        cJSON_Delete(evil);
}

static void test_hierarchy_systemd(void **state)
{
        kubelet_config cfg = base_cfg();
        kubelet_cgroups *c = NULL;
        kn_error err = {0};
        char root[80], rootdir[80], expect[512], rel[512];
        char *parent = NULL, **uids = NULL;
        size_t n = 0;
        cJSON *be = pod("{\"containers\":[" C("a", "{}") "]}");
        (void)state;

        /* cgroupRoot /knodeunitN is the slice knodeunitN.slice */
        snprintf(root, sizeof(root), "/%s", sd_root);
        snprintf(rootdir, sizeof(rootdir), "%s.slice", sd_root);
        make_root(rootdir);
        cfg.cgroup_driver = "systemd";
        cfg.cgroup_root = root;
        if (kubelet_cgroups_new(&cfg, 2000, 0, &c, &err) < 0)
                fail_msg("kubelet_cgroups_new: %s", err.msg);
        snprintf(rel, sizeof(rel), "%s.slice/%s-kubepods.slice/%s-kubepods-besteffort.slice", sd_root, sd_root, sd_root);
        assert_true(exists(hier("cpu"), rel));
        if (!is_v2()) {
                char krel[300];
                snprintf(krel, sizeof(krel), "%s.slice/%s-kubepods.slice", sd_root, sd_root);
                assert_int_equal(read_ll(hier("cpu"), krel, "cpu.shares"), 2048);
                assert_int_equal(read_ll(hier("cpu"), rel, "cpu.shares"), 2);
        }
        if (kubelet_cgroups_pod_ensure(c, be, &parent, &err) < 0)
                fail_msg("pod_ensure: %s", err.msg);
        snprintf(expect, sizeof(expect), "/%s/%s-kubepods-besteffort-pod1111_2222.slice", rel, sd_root);
        assert_string_equal(parent, expect);
        assert_true(exists(hier("cpu"), parent + 1));
        free(parent);
        assert_int_equal(kubelet_cgroups_list_pods(c, &uids, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(uids[0], "1111-2222");
        kubelet_cgroups_strv_free(uids, n);
        assert_int_equal(kubelet_cgroups_pod_remove(c, "1111-2222", &err), 0);
        assert_int_equal(kubelet_cgroups_list_pods(c, &uids, &n), 0);
        assert_int_equal(n, 0);
        kubelet_cgroups_strv_free(uids, n);
        kubelet_cgroups_free(c);
        cJSON_Delete(be);
}

/* Without cgroupsPerQOS: no kubepods, pods run in cgroupRoot itself. */
static void test_no_qos(void **state)
{
        kubelet_config cfg = base_cfg();
        kubelet_cgroups *c = NULL;
        kn_error err = {0};
        char *parent = NULL, **uids = NULL, expect[100];
        size_t n = 0;
        cJSON *p = pod("{\"containers\":[" C("a", "{}") "]}");
        (void)state;
        make_root(root_name);
        cfg.cgroups_per_qos = false;
        if (kubelet_cgroups_new(&cfg, 1000, GI, &c, &err) < 0)
                fail_msg("kubelet_cgroups_new: %s", err.msg);
        assert_int_equal(kubelet_cgroups_pod_ensure(c, p, &parent, &err), 0);
        snprintf(expect, sizeof(expect), "/%s", root_name);
        assert_string_equal(parent, expect);
        free(parent);
        assert_int_equal(kubelet_cgroups_list_pods(c, &uids, &n), 0);
        assert_int_equal(n, 0);
        free(uids);
        kubelet_cgroups_free(c);
        cJSON_Delete(p);
}

int main(void)
{
        const struct CMUnitTest pure[] = {
                cmocka_unit_test(test_qos),
                cmocka_unit_test(test_shares_quota),
                cmocka_unit_test(test_pod_config),
                cmocka_unit_test(test_container_resources),
        };
        const struct CMUnitTest fs[] = {
                cmocka_unit_test(test_fail_cgroupv1),
                cmocka_unit_test(test_missing_root),
                cmocka_unit_test(test_hierarchy_cgroupfs),
                cmocka_unit_test(test_hierarchy_systemd),
                cmocka_unit_test(test_no_qos),
        };
        int failed = cmocka_run_group_tests_name("cgroups (arithmetic)", pure, NULL, NULL);
        failed += cmocka_run_group_tests_name("cgroups (hierarchy, root)", fs, group_setup, group_teardown);
        return failed;
}
