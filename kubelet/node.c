/* SPDX-License-Identifier: Apache-2.0 */
/* The node: registration, status and the Lease. One thread owns all three, so they
 * never race each other: it registers (retrying with back-off), then renews the Lease
 * every quarter of its duration and computes the status every
 * nodeStatusUpdateFrequency, posting it when it changed or when
 * nodeStatusReportFrequency has passed (upstream's kubelet_node_status.go rules). */
#include <ifaddrs.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>

#include "internal.h"
#include "resources.h"

#define LEASE_NS "kube-node-lease"
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 7000
#define STATUS_CALL_TIMEOUT_MS 5000

enum { COND_READY, COND_MEMORY, COND_DISK, COND_PID, N_COND };

struct kubelet_node {
        pthread_t thread;
        bool running;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop, kick;

        char *uid;             /* the Node object's UID (the Lease's owner) */
        cJSON *lease;          /* the Lease as last written */
        cJSON *posted;         /* the last posted status, heartbeat times cleared */
        int64_t posted_ms;     /* monotonic */
        struct {
                bool status, known;
                char since[32];
        } conds[N_COND];
        char ip4[64], ip6[64];
        /* static facts gathered once */
        char *machine_id, *system_uuid, *boot_id, *kernel, *os_image;
};

static const struct {
        const char *type, *reason_true, *msg_true, *reason_false, *msg_false;
} cond_text[N_COND] = {
        [COND_READY] = {"Ready", "KubeletReady", "kubelet is posting ready status", "KubeletNotReady", NULL},
        [COND_MEMORY] = {"MemoryPressure", "KubeletHasInsufficientMemory", "kubelet has insufficient memory available",
                         "KubeletHasSufficientMemory", "kubelet has sufficient memory available"},
        [COND_DISK] = {"DiskPressure", "KubeletHasDiskPressure", "kubelet has disk pressure", "KubeletHasNoDiskPressure",
                       "kubelet has no disk pressure"},
        [COND_PID] = {"PIDPressure", "KubeletHasInsufficientPID", "kubelet has insufficient PID available",
                      "KubeletHasSufficientPID", "kubelet has sufficient PID available"},
};

/* ---- facts about the machine ---- */

static char *read_line(const char *path)
{
        _cleanup_free_ char *data = NULL;
        size_t len;

        if (kn_read_file(path, 4096, &data, &len) < 0)
                return kn_strdup("");
        data[strcspn(data, "\n")] = 0;
        return TAKE_PTR(data);
}

static char *os_image(void)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        char *p;

        if (kn_read_file("/etc/os-release", 65536, &data, &len) < 0)
                return kn_strdup("Linux");
        for (p = data; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
                if (!strncmp(p, "PRETTY_NAME=", 12)) {
                        char *v = p + 12, *end = v + strcspn(v, "\n");
                        *end = 0;
                        if (*v == '"' && end > v + 1 && end[-1] == '"')
                                return kn_strndup(v + 1, (size_t)(end - v - 2));
                        return kn_strdup(v);
                }
        }
        return kn_strdup("Linux");
}

/* The interface of the default IPv4 route, or "" (from /proc/net/route). */
static void default_route_iface(char ret[IF_NAMESIZE])
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        char *line, *save = NULL;

        ret[0] = 0;
        if (kn_read_file("/proc/net/route", 1 << 20, &data, &len) < 0)
                return;
        for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char ifname[IF_NAMESIZE];
                unsigned dest, mask;
                if (sscanf(line, "%15s %x %*x %*x %*d %*d %*d %x", ifname, &dest, &mask) == 3 && dest == 0 &&
                    mask == 0) {
                        memcpy(ret, ifname, IF_NAMESIZE);
                        return;
                }
        }
}

/* The node's addresses: --node-ip, else the default route's interface, else the first
 * global address (upstream prefers the default route's over the host name's). */
static void detect_ips(kubelet *k, kubelet_node *n)
{
        struct ifaddrs *ifa = NULL;
        char iface[IF_NAMESIZE];

        if (k->cfg.node_ip && *k->cfg.node_ip) {
                _cleanup_free_ char *copy = kn_strdup(k->cfg.node_ip);
                char *save = NULL;
                for (char *ip = strtok_r(copy, ",", &save); ip; ip = strtok_r(NULL, ",", &save)) {
                        unsigned char buf[16];
                        if (inet_pton(AF_INET, ip, buf) == 1 && !n->ip4[0])
                                snprintf(n->ip4, sizeof(n->ip4), "%s", ip);
                        else if (inet_pton(AF_INET6, ip, buf) == 1 && !n->ip6[0])
                                snprintf(n->ip6, sizeof(n->ip6), "%s", ip);
                        else
                                kn_warn("ignoring --node-ip entry %s: not an IP address or a second of its family", ip);
                }
                return;
        }
        default_route_iface(iface);
        if (getifaddrs(&ifa) < 0)
                return;
        for (int pass = 0; pass < 2 && !n->ip4[0]; pass++) {
                for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
                        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK))
                                continue;
                        if (pass == 0 && strcmp(i->ifa_name, iface))
                                continue;
                        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, n->ip4, sizeof(n->ip4));
                        break;
                }
        }
        freeifaddrs(ifa);
        if (!n->ip4[0])
                snprintf(n->ip4, sizeof(n->ip4), "127.0.0.1");
}

char *kubelet_node_uid(kubelet *k)
{
        char *uid;

        pthread_mutex_lock(&k->node->lock);
        uid = kn_strdup(k->node->uid);
        pthread_mutex_unlock(&k->node->lock);
        return uid;
}

void kubelet_node_ips(kubelet *k, char ret_v4[64], char ret_v6[64])
{
        memcpy(ret_v4, k->node->ip4, 64);
        memcpy(ret_v6, k->node->ip6, 64);
}

/* ---- the Node object ---- */

static cJSON *node_labels(kubelet *k)
{
        cJSON *l = cJSON_CreateObject();

        cJSON_AddStringToObject(l, "kubernetes.io/hostname", k->node_name);
        cJSON_AddStringToObject(l, "kubernetes.io/os", "linux");
        cJSON_AddStringToObject(l, "kubernetes.io/arch", KUBELET_ARCH);
        cJSON_AddStringToObject(l, "beta.kubernetes.io/os", "linux");
        cJSON_AddStringToObject(l, "beta.kubernetes.io/arch", KUBELET_ARCH);
        if (k->cfg.node_labels && *k->cfg.node_labels) {
                _cleanup_free_ char *copy = kn_strdup(k->cfg.node_labels);
                char *save = NULL;
                for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
                        char *eq = strchr(kv, '=');
                        if (eq)
                                *eq = 0;
                        cJSON_DeleteItemFromObjectCaseSensitive(l, kv);
                        cJSON_AddStringToObject(l, kv, eq ? eq + 1 : "");
                }
        }
        return l;
}

/* --register-with-taints "key=value:Effect,key:Effect" */
static int parse_taints(const char *spec, cJSON **ret, kn_error *err)
{
        _cleanup_cjson_ cJSON *a = cJSON_CreateArray();
        _cleanup_free_ char *copy = kn_strdup(spec ? spec : "");
        char *save = NULL;

        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                char *colon = strrchr(t, ':'), *eq;
                cJSON *o;
                if (!colon || (strcmp(colon + 1, "NoSchedule") && strcmp(colon + 1, "PreferNoSchedule") &&
                               strcmp(colon + 1, "NoExecute")))
                        return kn_error_set(err, -EINVAL, "invalid taint %s: want key[=value]:Effect", t);
                *colon = 0;
                eq = strchr(t, '=');
                if (eq)
                        *eq = 0;
                if (!*t)
                        return kn_error_set(err, -EINVAL, "invalid taint: empty key");
                o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "key", t);
                if (eq)
                        cJSON_AddStringToObject(o, "value", eq + 1);
                cJSON_AddStringToObject(o, "effect", colon + 1);
                cJSON_AddItemToArray(a, o);
        }
        *ret = TAKE_PTR(a);
        return 0;
}

static void add_condition(cJSON *conds, kubelet_node *n, int c, bool status, const char *msg, const char *now)
{
        cJSON *o = cJSON_CreateObject();

        if (!n->conds[c].known || n->conds[c].status != status) {
                n->conds[c].known = true;
                n->conds[c].status = status;
                snprintf(n->conds[c].since, sizeof(n->conds[c].since), "%s", now);
        }
        cJSON_AddStringToObject(o, "type", cond_text[c].type);
        cJSON_AddStringToObject(o, "status", status ? "True" : "False");
        cJSON_AddStringToObject(o, "lastHeartbeatTime", now);
        cJSON_AddStringToObject(o, "lastTransitionTime", n->conds[c].since);
        cJSON_AddStringToObject(o, "reason", status ? cond_text[c].reason_true : cond_text[c].reason_false);
        cJSON_AddStringToObject(o, "message", msg ? msg : status ? cond_text[c].msg_true : cond_text[c].msg_false);
        cJSON_AddItemToArray(conds, o);
}

/* The node's status as upstream's setters compute it. */
#define MAX_IMAGES 50          /* nodeStatusMaxImages' default */
#define MAX_NAMES_PER_IMAGE 5  /* upstream's maxNamesPerImageInNodeStatus */

static int bigger_image(const void *a, const void *b)
{
        uint64_t x = (*(Runtime__V1__Image *const *)a)->size, y = (*(Runtime__V1__Image *const *)b)->size;
        return x < y ? 1 : x > y ? -1 : 0;
}

/* status.images as upstream reports them: the biggest images first, each with its
 * digests then tags (at most 5 names). NULL when the runtime cannot list them. */
static cJSON *node_images(kubelet *k)
{
        Runtime__V1__ListImagesRequest req = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;
        _cleanup_cri_msg_ Runtime__V1__ListImagesResponse *resp = NULL;
        _cleanup_free_ Runtime__V1__Image **sorted = NULL;
        cJSON *images;
        kn_error err;

        if (cri_list_images(k->cri, &req, STATUS_CALL_TIMEOUT_MS, &resp, &err) < 0) {
                kn_v(2, "failed to list images for the node status: %s", err.msg);
                return NULL;
        }
        sorted = kn_calloc(resp->n_images + 1, sizeof(*sorted));
        memcpy(sorted, resp->images, resp->n_images * sizeof(*sorted));
        qsort(sorted, resp->n_images, sizeof(*sorted), bigger_image);
        images = cJSON_CreateArray();
        for (size_t i = 0; i < resp->n_images && i < MAX_IMAGES; i++) {
                const Runtime__V1__Image *im = sorted[i];
                cJSON *o = cJSON_CreateObject(), *names = cJSON_AddArrayToObject(o, "names");
                for (size_t j = 0; j < im->n_repo_digests && cJSON_GetArraySize(names) < MAX_NAMES_PER_IMAGE; j++)
                        cJSON_AddItemToArray(names, cJSON_CreateString(im->repo_digests[j]));
                for (size_t j = 0; j < im->n_repo_tags && cJSON_GetArraySize(names) < MAX_NAMES_PER_IMAGE; j++)
                        cJSON_AddItemToArray(names, cJSON_CreateString(im->repo_tags[j]));
                if (!cJSON_GetArraySize(names)) {
                        cJSON_Delete(o);
                        continue;
                }
                cJSON_AddNumberToObject(o, "sizeBytes", (double)im->size);
                cJSON_AddItemToArray(images, o);
        }
        return images;
}

static cJSON *node_status(kubelet *k, bool patch)
{
        kubelet_node *n = k->node;
        kubelet_runtime_state rt;
        kubelet_node_resources res;
        cJSON *st = cJSON_CreateObject(), *conds, *addrs, *info, *o;
        char now[32], rtver[160], msg[640];
        bool ready;

        kn_format_time(kn_wall_ms(), false, now, sizeof(now));
        kubelet_runtime_get(k, &rt);
        kubelet_node_resources_get(k, &res);
        cJSON_AddItemToObject(st, "capacity", kubelet_resources_json(&res, false));
        cJSON_AddItemToObject(st, "allocatable", kubelet_resources_json(&res, true));

        conds = cJSON_AddArrayToObject(st, "conditions");
        add_condition(conds, n, COND_MEMORY, res.memory_pressure, NULL, now);
        add_condition(conds, n, COND_DISK, res.disk_pressure, NULL, now);
        add_condition(conds, n, COND_PID, res.pid_pressure, NULL, now);
        ready = rt.known && rt.runtime_ready && rt.network_ready;
        if (!rt.known)
                snprintf(msg, sizeof(msg), "container runtime status check may not have completed yet");
        else if (!rt.runtime_ready)
                snprintf(msg, sizeof(msg), "container runtime is down: %s", rt.message);
        else if (!rt.network_ready)
                snprintf(msg, sizeof(msg), "container runtime network not ready: %s", rt.message);
        add_condition(conds, n, COND_READY, ready, ready ? NULL : msg, now);

        addrs = cJSON_AddArrayToObject(st, "addresses");
        if (patch) { /* a strategic-merge directive: our list replaces the old one */
                cJSON_AddItemToArray(addrs, o = cJSON_CreateObject());
                cJSON_AddStringToObject(o, "$patch", "replace");
        }
        for (int i = 0; i < 2; i++) {
                const char *ip = i ? n->ip6 : n->ip4;
                if (!*ip)
                        continue;
                cJSON_AddItemToArray(addrs, o = cJSON_CreateObject());
                cJSON_AddStringToObject(o, "type", "InternalIP");
                cJSON_AddStringToObject(o, "address", ip);
        }
        cJSON_AddItemToArray(addrs, o = cJSON_CreateObject());
        cJSON_AddStringToObject(o, "type", "Hostname");
        cJSON_AddStringToObject(o, "address", k->node_name);

        o = cJSON_AddObjectToObject(cJSON_AddObjectToObject(st, "daemonEndpoints"), "kubeletEndpoint");
        cJSON_AddNumberToObject(o, "Port", (double)k->cfg.port);

        info = cJSON_AddObjectToObject(st, "nodeInfo");
        cJSON_AddStringToObject(info, "machineID", n->machine_id);
        cJSON_AddStringToObject(info, "systemUUID", n->system_uuid);
        cJSON_AddStringToObject(info, "bootID", n->boot_id);
        cJSON_AddStringToObject(info, "kernelVersion", n->kernel);
        cJSON_AddStringToObject(info, "osImage", n->os_image);
        snprintf(rtver, sizeof(rtver), "%s://%s", rt.name[0] ? rt.name : "unknown",
                 rt.version[0] ? rt.version : "Unknown");
        cJSON_AddStringToObject(info, "containerRuntimeVersion", rtver);
        cJSON_AddStringToObject(info, "kubeletVersion", KN_KUBE_VERSION);
        cJSON_AddStringToObject(info, "operatingSystem", "linux");
        cJSON_AddStringToObject(info, "architecture", KUBELET_ARCH);
        if ((o = node_images(k)))
                cJSON_AddItemToObject(st, "images", o);
        return st;
}

/* A copy of STATUS without what changes on every computation, to tell real changes. */
static cJSON *status_essence(const cJSON *st)
{
        cJSON *c = cJSON_Duplicate(st, true), *cond;

        cJSON_ArrayForEach(cond, cJSON_GetObjectItemCaseSensitive(c, "conditions"))
                cJSON_DeleteItemFromObjectCaseSensitive(cond, "lastHeartbeatTime");
        return c;
}

static int register_node(kubelet *k)
{
        kubelet_node *n = k->node;
        _cleanup_cjson_ cJSON *node = cJSON_CreateObject(), *created = NULL, *taints = NULL;
        _cleanup_free_ char *path = kn_api_path("v1", "nodes", NULL, NULL, NULL);
        cJSON *meta, *spec;
        kn_api_error aerr = {0};
        kn_error err;
        int r;

        r = parse_taints(k->cfg.register_with_taints, &taints, &err);
        if (r < 0) {
                kn_err("not registering node %s: %s", k->node_name, err.msg);
                return r;
        }
        cJSON_AddStringToObject(node, "apiVersion", "v1");
        cJSON_AddStringToObject(node, "kind", "Node");
        meta = cJSON_AddObjectToObject(node, "metadata");
        cJSON_AddStringToObject(meta, "name", k->node_name);
        cJSON_AddItemToObject(meta, "labels", node_labels(k));
        cJSON_AddStringToObject(cJSON_AddObjectToObject(meta, "annotations"),
                                "volumes.kubernetes.io/controller-managed-attach-detach", "true");
        spec = cJSON_AddObjectToObject(node, "spec");
        if (cJSON_GetArraySize(taints) > 0)
                cJSON_AddItemToObject(spec, "taints", TAKE_PTR(taints));
        if (k->cfg.pod_cidr && *k->cfg.pod_cidr)
                cJSON_AddStringToObject(spec, "podCIDR", k->cfg.pod_cidr);
        if (k->cfg.provider_id && *k->cfg.provider_id)
                cJSON_AddStringToObject(spec, "providerID", k->cfg.provider_id);
        cJSON_AddItemToObject(node, "status", node_status(k, false));

        r = kn_api_create(k->env->api, path, node, &created, &aerr);
        if (r == -EEXIST) {
                /* Adopt the existing Node: make our labels and annotation true on it. */
                _cleanup_free_ char *npath = kn_api_path("v1", "nodes", NULL, k->node_name, NULL);
                _cleanup_cjson_ cJSON *patch = cJSON_CreateObject();
                _cleanup_free_ char *body = NULL;
                cJSON *pm = cJSON_AddObjectToObject(patch, "metadata");
                cJSON_AddItemToObject(pm, "labels", node_labels(k));
                cJSON_AddItemReferenceToObject(pm, "annotations", cJSON_GetObjectItem(meta, "annotations"));
                body = cJSON_PrintUnformatted(patch);
                r = kn_api_patch(k->env->api, npath, KN_PATCH_STRATEGIC, body, &created, &aerr);
                if (r >= 0)
                        kn_info("node %s already registered; adopted it", k->node_name);
        } else if (r >= 0) {
                kn_info("successfully registered node %s", k->node_name);
        }
        if (r < 0) {
                kn_warn("unable to register node %s with the API server: %s", k->node_name, aerr.e.msg);
                return r;
        }
        pthread_mutex_lock(&n->lock);
        free(n->uid);
        n->uid = kn_strdup(cJSON_GetStringValue((cJSON *)kn_json_path(created, "metadata.uid")) ?: "");
        pthread_mutex_unlock(&n->lock);
        return 0;
}

/* Whether the API server's copy of the node disagrees with a condition we computed
 * (the node controller sets them Unknown when our Lease lapses, e.g. during an outage). */
static bool api_disagrees(kubelet *k, const cJSON *status)
{
        _cleanup_cjson_ cJSON *node = kn_informer_get(k->node_informer, NULL, k->node_name);
        const cJSON *c, *a;

        if (!node)
                return true;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(status, "conditions")) {
                const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(c, "type"));
                bool found = false;
                cJSON_ArrayForEach(a, kn_json_path(node, "status.conditions")) {
                        if (!kn_streq(cJSON_GetStringValue(cJSON_GetObjectItem(a, "type")), type))
                                continue;
                        found = true;
                        if (!kn_streq(cJSON_GetStringValue(cJSON_GetObjectItem(a, "status")),
                                      cJSON_GetStringValue(cJSON_GetObjectItem(c, "status"))))
                                return true;
                }
                if (!found)
                        return true;
        }
        return false;
}

static int post_status(kubelet *k, bool force)
{
        kubelet_node *n = k->node;
        _cleanup_cjson_ cJSON *st = node_status(k, true), *essence = status_essence(st), *patch = cJSON_CreateObject(),
                              *resp = NULL;
        _cleanup_free_ char *path = kn_api_path("v1", "nodes", NULL, k->node_name, "status"), *body = NULL;
        int64_t now = kn_now_ms();
        kn_api_error aerr = {0};
        int r;

        if (!force && n->posted && cJSON_Compare(essence, n->posted, true) &&
            now - n->posted_ms < k->cfg.node_status_report_frequency && !api_disagrees(k, essence))
                return 0;
        cJSON_AddItemToObject(patch, "status", TAKE_PTR(st));
        body = cJSON_PrintUnformatted(patch);
        r = kn_api_patch(k->env->api, path, KN_PATCH_STRATEGIC, body, &resp, &aerr);
        if (r < 0) {
                kn_err("error updating node status for %s, will retry: %s", k->node_name, aerr.e.msg);
                return r;
        }
        if (!n->posted || !cJSON_Compare(essence, n->posted, true))
                kn_v(2, "node %s status updated", k->node_name);
        kubelet_pods_node_allocatable(k, cJSON_GetObjectItem(essence, "allocatable"));
        cJSON_Delete(n->posted);
        n->posted = TAKE_PTR(essence);
        n->posted_ms = now;
        return 0;
}

/* ---- the Lease ---- */

static cJSON *new_lease(kubelet *k)
{
        cJSON *l = cJSON_CreateObject(), *meta, *ref;

        cJSON_AddStringToObject(l, "apiVersion", "coordination.k8s.io/v1");
        cJSON_AddStringToObject(l, "kind", "Lease");
        meta = cJSON_AddObjectToObject(l, "metadata");
        cJSON_AddStringToObject(meta, "name", k->node_name);
        cJSON_AddStringToObject(meta, "namespace", LEASE_NS);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(meta, "ownerReferences"), ref = cJSON_CreateObject());
        cJSON_AddStringToObject(ref, "apiVersion", "v1");
        cJSON_AddStringToObject(ref, "kind", "Node");
        cJSON_AddStringToObject(ref, "name", k->node_name);
        cJSON_AddStringToObject(ref, "uid", k->node->uid);
        cJSON_AddObjectToObject(l, "spec");
        return l;
}

static void lease_set_spec(kubelet *k, cJSON *lease)
{
        cJSON *spec = cJSON_GetObjectItem(lease, "spec");
        char now[40];

        if (!cJSON_IsObject(spec)) {
                cJSON_DeleteItemFromObject(lease, "spec");
                spec = cJSON_AddObjectToObject(lease, "spec");
        }
        kn_format_time(kn_wall_ms(), true, now, sizeof(now));
        cJSON_DeleteItemFromObject(spec, "holderIdentity");
        cJSON_DeleteItemFromObject(spec, "leaseDurationSeconds");
        cJSON_DeleteItemFromObject(spec, "renewTime");
        cJSON_AddStringToObject(spec, "holderIdentity", k->node_name);
        cJSON_AddNumberToObject(spec, "leaseDurationSeconds", (double)k->cfg.node_lease_duration_seconds);
        cJSON_AddStringToObject(spec, "renewTime", now);
}

static int renew_lease(kubelet *k)
{
        kubelet_node *n = k->node;
        _cleanup_free_ char *coll = kn_api_path("coordination.k8s.io/v1", "leases", LEASE_NS, NULL, NULL);
        _cleanup_free_ char *path = kn_api_path("coordination.k8s.io/v1", "leases", LEASE_NS, k->node_name, NULL);
        kn_api_error aerr = {0};
        cJSON *resp = NULL;
        int r;

        for (int attempt = 0; attempt < 2; attempt++) {
                if (!n->lease) {
                        r = kn_api_get(k->env->api, path, &n->lease, &aerr);
                        if (r == -ENOENT) {
                                _cleanup_cjson_ cJSON *l = new_lease(k);
                                lease_set_spec(k, l);
                                r = kn_api_create(k->env->api, coll, l, &resp, &aerr);
                                if (r >= 0) {
                                        n->lease = resp;
                                        return 0;
                                }
                        }
                        if (r < 0)
                                break;
                }
                lease_set_spec(k, n->lease);
                r = kn_api_update(k->env->api, path, n->lease, &resp, &aerr);
                if (r >= 0) {
                        cJSON_Delete(n->lease);
                        n->lease = resp;
                        return 0;
                }
                /* Conflict or gone: read it again and retry once. */
                cJSON_Delete(TAKE_PTR(n->lease));
                if (r != -EBUSY && r != -ENOENT)
                        break;
        }
        kn_err("failed to renew lease %s/%s: %s", LEASE_NS, k->node_name, aerr.e.msg);
        return r;
}

/* ---- the thread ---- */

static void *node_thread(void *arg)
{
        kubelet *k = arg;
        kubelet_node *n = k->node;
        int64_t backoff = BACKOFF_MIN_MS, next_status = 0, next_lease = 0, lease_backoff = BACKOFF_MIN_MS;
        int64_t renew_ms = k->cfg.node_lease_duration_seconds * 1000 / 4;
        bool registered = !k->cfg.register_node;

        pthread_mutex_lock(&n->lock);
        while (!n->stop) {
                int64_t now = kn_now_ms(), wake;
                bool kick = n->kick;

                n->kick = false;
                pthread_mutex_unlock(&n->lock);
                kubelet_runtime_poll(k);
                if (!registered) {
                        if (register_node(k) >= 0) {
                                registered = true;
                                backoff = BACKOFF_MIN_MS;
                                next_status = next_lease = 0;
                                cJSON_Delete(TAKE_PTR(n->posted));
                        } else {
                                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
                        }
                }
                if (registered && (kick || now >= next_status)) {
                        post_status(k, false);
                        next_status = now + k->cfg.node_status_update_frequency;
                }
                if (registered && now >= next_lease) {
                        if (renew_lease(k) >= 0) {
                                lease_backoff = BACKOFF_MIN_MS;
                                next_lease = now + renew_ms;
                        } else {
                                next_lease = now + lease_backoff;
                                lease_backoff = lease_backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : lease_backoff * 2;
                        }
                }
                now = kn_now_ms();
                wake = registered ? (next_status < next_lease ? next_status : next_lease) : now + backoff;
                /* the runtime's state is polled at least every 5 s, as upstream does */
                if (wake > now + 5000)
                        wake = now + 5000;
                pthread_mutex_lock(&n->lock);
                if (!n->stop && !n->kick && wake > now) {
                        struct timespec ts = kn_deadline((long)(wake - now));
                        pthread_cond_timedwait(&n->cond, &n->lock, &ts);
                }
        }
        pthread_mutex_unlock(&n->lock);
        return NULL;
}

void kubelet_node_kick(kubelet *k)
{
        kubelet_node *n = k->node;

        if (!n)
                return;
        pthread_mutex_lock(&n->lock);
        n->kick = true;
        pthread_cond_signal(&n->cond);
        pthread_mutex_unlock(&n->lock);
}

int kubelet_node_start(kubelet *k)
{
        kubelet_node *n = kn_calloc(1, sizeof(*n));
        pthread_condattr_t ca;
        struct utsname u;

        k->node = n;
        pthread_mutex_init(&n->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&n->cond, &ca);
        pthread_condattr_destroy(&ca);
        n->uid = kn_strdup("");
        n->machine_id = read_line("/etc/machine-id");
        n->system_uuid = read_line("/sys/class/dmi/id/product_uuid");
        n->boot_id = read_line("/proc/sys/kernel/random/boot_id");
        n->kernel = kn_strdup(uname(&u) == 0 ? u.release : "");
        n->os_image = os_image();
        detect_ips(k, n);
        kn_info("node %s: InternalIP %s%s%s", k->node_name, n->ip4, n->ip6[0] ? "," : "", n->ip6);
        if (pthread_create(&n->thread, NULL, node_thread, k) != 0)
                return -EAGAIN;
        n->running = true;
        return 0;
}

void kubelet_node_stop(kubelet *k)
{
        kubelet_node *n = k->node;

        if (!n)
                return;
        if (n->running) {
                pthread_mutex_lock(&n->lock);
                n->stop = true;
                pthread_cond_signal(&n->cond);
                pthread_mutex_unlock(&n->lock);
                pthread_join(n->thread, NULL);
        }
        cJSON_Delete(n->lease);
        cJSON_Delete(n->posted);
        free(n->uid);
        free(n->machine_id);
        free(n->system_uuid);
        free(n->boot_id);
        free(n->kernel);
        free(n->os_image);
        pthread_mutex_destroy(&n->lock);
        pthread_cond_destroy(&n->cond);
        free(n);
        k->node = NULL;
}
