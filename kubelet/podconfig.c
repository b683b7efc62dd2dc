/* SPDX-License-Identifier: Apache-2.0 */
/* Pod spec -> CRI PodSandboxConfig / ContainerConfig (upstream's kuberuntime_sandbox.go,
 * kuberuntime_container.go, security_context.go and dns.go, as facts). */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "podconfig.h"

#define MAX_DNS_SEARCH 32
#define MAX_DNS_SERVERS 3

char *kubelet_sysctl_name(const char *name)
{
        char *norm = kn_strdup(name);

        if (strchr(norm, '/'))
                for (char *c = norm; *c; c++)
                        *c = *c == '/' ? '.' : *c == '.' ? '/' : *c;
        return norm;
}

const char *kubelet_pod_str(const cJSON *pod, const char *path)
{
        return cJSON_GetStringValue((cJSON *)kn_json_path(pod, path));
}

bool kubelet_pod_host_network(const cJSON *pod)
{
        return cJSON_IsTrue(kn_json_path(pod, "spec.hostNetwork"));
}

char *kubelet_pod_dir(kubelet *k, const char *uid)
{
        return kn_asprintf("%s/pods/%s", k->cfg.root_dir, uid);
}

char *kubelet_pod_log_dir(kubelet *k, const cJSON *pod)
{
        return kn_asprintf("%s/%s_%s_%s", k->cfg.pod_logs_dir, kubelet_pod_str(pod, "metadata.namespace"),
                           kubelet_pod_str(pod, "metadata.name"), kubelet_pod_str(pod, "metadata.uid"));
}

void kubelet_pod_hostname(kubelet *k, const cJSON *pod, char host[64], char domain[256])
{
        const cJSON *spec = cJSON_GetObjectItem(pod, "spec");
        const char *override = cJSON_GetStringValue(cJSON_GetObjectItem(spec, "hostnameOverride"));
        const char *hostname = cJSON_GetStringValue(cJSON_GetObjectItem(spec, "hostname"));
        const char *sub = cJSON_GetStringValue(cJSON_GetObjectItem(spec, "subdomain"));
        size_t n;

        domain[0] = 0;
        if (override && *override) {
                snprintf(host, 64, "%s", override);
        } else {
                snprintf(host, 64, "%s", hostname && *hostname ? hostname : kubelet_pod_str(pod, "metadata.name"));
                if (sub && *sub)
                        snprintf(domain, 256, "%s.%s.svc.%s", sub, kubelet_pod_str(pod, "metadata.namespace"),
                                 k->cfg.cluster_domain && *k->cfg.cluster_domain ? k->cfg.cluster_domain : "cluster.local");
        }
        /* at most 63 characters, not ending in '-' or '.' (upstream's truncation) */
        for (n = strlen(host); n > 0 && (host[n - 1] == '-' || host[n - 1] == '.'); n--)
                host[n - 1] = 0;
}

void kubelet_container_hash(const cJSON *container, char ret[17])
{
        _cleanup_free_ char *s = cJSON_PrintUnformatted(container);
        uint64_t h = kn_fnv1a64(s ? s : "");

        snprintf(ret, 17, "%x", (unsigned)(h ^ (h >> 32)));
}

static cJSON *strings_from(const cJSON *arr)
{
        cJSON *a = cJSON_CreateArray(), *it;

        cJSON_ArrayForEach(it, arr)
                if (cJSON_IsString(it))
                        cJSON_AddItemToArray(a, cJSON_CreateString(it->valuestring));
        return a;
}

static void add_unique(cJSON *arr, const char *s)
{
        cJSON *it;

        cJSON_ArrayForEach(it, arr)
                if (kn_streq(it->valuestring, s))
                        return;
        cJSON_AddItemToArray(arr, cJSON_CreateString(s));
}

/* ---- DNS ---- */

static void host_resolv(kubelet *k, cJSON *servers, cJSON *searches, cJSON *options)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        char *line, *save = NULL;

        if (!k->cfg.resolv_conf || !*k->cfg.resolv_conf ||
            kn_read_file(k->cfg.resolv_conf, 1 << 16, &data, &len) < 0)
                return;
        for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *w, *s2 = NULL, *kw = strtok_r(line, " \t", &s2);
                if (!kw || *kw == '#' || *kw == ';')
                        continue;
                if (!strcmp(kw, "search") || !strcmp(kw, "domain")) /* the last one wins */
                        while (cJSON_GetArraySize(searches))
                                cJSON_DeleteItemFromArray(searches, 0);
                while ((w = strtok_r(NULL, " \t", &s2))) {
                        if (!strcmp(kw, "nameserver"))
                                add_unique(servers, w);
                        else if (!strcmp(kw, "search") || !strcmp(kw, "domain"))
                                add_unique(searches, w);
                        else if (!strcmp(kw, "options"))
                                add_unique(options, w);
                }
        }
}

static cJSON *dns_config(kubelet *k, const cJSON *pod)
{
        const char *policy = kubelet_pod_str(pod, "spec.dnsPolicy");
        const char *ns = kubelet_pod_str(pod, "metadata.namespace");
        const char *domain = k->cfg.cluster_domain && *k->cfg.cluster_domain ? k->cfg.cluster_domain : NULL;
        const cJSON *pc = kn_json_path(pod, "spec.dnsConfig"), *it;
        cJSON *d = cJSON_CreateObject(), *servers = cJSON_AddArrayToObject(d, "servers"),
              *searches = cJSON_AddArrayToObject(d, "searches"), *options = cJSON_AddArrayToObject(d, "options");
        bool cluster_first = !policy || !strcmp(policy, "ClusterFirst") || !strcmp(policy, "ClusterFirstWithHostNet");

        if ((!policy || !strcmp(policy, "ClusterFirst")) && kubelet_pod_host_network(pod))
                cluster_first = false; /* ClusterFirst on the host network falls back to Default */
        if (cluster_first && (!k->cfg.cluster_dns || !k->cfg.cluster_dns[0]))
                cluster_first = false; /* no cluster DNS configured: upstream falls back too */
        if (!policy || strcmp(policy, "None")) {
                _cleanup_cjson_ cJSON *host_servers = cJSON_CreateArray(), *host_search = cJSON_CreateArray();
                host_resolv(k, host_servers, host_search, options);
                if (cluster_first) {
                        for (char **s = k->cfg.cluster_dns; s && *s; s++)
                                add_unique(servers, *s);
                        if (domain) {
                                _cleanup_free_ char *a = kn_asprintf("%s.svc.%s", ns ? ns : "default", domain);
                                _cleanup_free_ char *b = kn_asprintf("svc.%s", domain);
                                add_unique(searches, a);
                                add_unique(searches, b);
                                add_unique(searches, domain);
                        }
                        while (cJSON_GetArraySize(options))
                                cJSON_DeleteItemFromArray(options, 0);
                        add_unique(options, "ndots:5");
                } else {
                        cJSON_ArrayForEach(it, host_servers)
                                add_unique(servers, it->valuestring);
                }
                cJSON_ArrayForEach(it, host_search)
                        add_unique(searches, it->valuestring);
        }
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(pc, "nameservers"))
                if (cJSON_IsString(it))
                        add_unique(servers, it->valuestring);
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(pc, "searches"))
                if (cJSON_IsString(it))
                        add_unique(searches, it->valuestring);
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(pc, "options")) {
                const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(it, "name"));
                const char *value = cJSON_GetStringValue(cJSON_GetObjectItem(it, "value"));
                _cleanup_free_ char *opt = NULL;
                size_t nlen;
                cJSON *o, *next;
                if (!name)
                        continue;
                /* a pod option replaces a host/cluster option of the same name */
                nlen = strlen(name);
                for (o = options->child; o; o = next) {
                        next = o->next;
                        if (!strncmp(o->valuestring, name, nlen) && (!o->valuestring[nlen] || o->valuestring[nlen] == ':'))
                                cJSON_Delete(cJSON_DetachItemViaPointer(options, o));
                }
                opt = value ? kn_asprintf("%s:%s", name, value) : kn_strdup(name);
                add_unique(options, opt);
        }
        while (cJSON_GetArraySize(searches) > MAX_DNS_SEARCH)
                cJSON_DeleteItemFromArray(searches, MAX_DNS_SEARCH);
        while (cJSON_GetArraySize(servers) > MAX_DNS_SERVERS)
                cJSON_DeleteItemFromArray(servers, MAX_DNS_SERVERS);
        return d;
}

/* ---- sandbox ---- */

static cJSON *string_map(const cJSON *src)
{
        cJSON *m = cJSON_CreateObject(), *it;

        cJSON_ArrayForEach(it, src)
                if (cJSON_IsString(it))
                        cJSON_AddStringToObject(m, it->string, it->valuestring);
        return m;
}

static const char *ns_mode(bool node, bool pod) { return node ? "NODE" : pod ? "POD" : "CONTAINER"; }

static cJSON *namespace_options(const cJSON *pod)
{
        const cJSON *spec = cJSON_GetObjectItem(pod, "spec");
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "network", cJSON_IsTrue(cJSON_GetObjectItem(spec, "hostNetwork")) ? "NODE" : "POD");
        cJSON_AddStringToObject(o, "pid", ns_mode(cJSON_IsTrue(cJSON_GetObjectItem(spec, "hostPID")),
                                                  cJSON_IsTrue(cJSON_GetObjectItem(spec, "shareProcessNamespace"))));
        cJSON_AddStringToObject(o, "ipc", cJSON_IsTrue(cJSON_GetObjectItem(spec, "hostIPC")) ? "NODE" : "POD");
        return o;
}

static cJSON *seccomp(const cJSON *sc, const cJSON *pod_sc, kubelet *k)
{
        const cJSON *p = cJSON_GetObjectItem(sc, "seccompProfile");
        const char *type;
        cJSON *o = cJSON_CreateObject();

        if (!p)
                p = cJSON_GetObjectItem(pod_sc, "seccompProfile");
        type = cJSON_GetStringValue(cJSON_GetObjectItem(p, "type"));
        if (type && !strcmp(type, "RuntimeDefault")) {
                cJSON_AddStringToObject(o, "profile_type", "RuntimeDefault");
        } else if (type && !strcmp(type, "Localhost")) {
                const char *ref = cJSON_GetStringValue(cJSON_GetObjectItem(p, "localhostProfile"));
                _cleanup_free_ char *path = kn_asprintf("%s/seccomp/%s", k->cfg.root_dir, ref ? ref : "");
                cJSON_AddStringToObject(o, "profile_type", "Localhost");
                cJSON_AddStringToObject(o, "localhost_ref", path);
        } else {
                cJSON_AddStringToObject(o, "profile_type", "Unconfined");
        }
        return o;
}

static cJSON *int64_value(const cJSON *v)
{
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "value", v->valuedouble);
        return o;
}

cJSON *kubelet_sandbox_config(kubelet *k, const cJSON *pod, uint32_t attempt, const char *cgroup_parent)
{
        const cJSON *spec = cJSON_GetObjectItem(pod, "spec"), *psc = cJSON_GetObjectItem(spec, "securityContext");
        cJSON *c = cJSON_CreateObject(), *md, *labels, *ann, *lx, *sc, *ports, *it, *sysctls;
        _cleanup_free_ char *logdir = kubelet_pod_log_dir(k, pod);
        char host[64];

        md = cJSON_AddObjectToObject(c, "metadata");
        cJSON_AddStringToObject(md, "name", kubelet_pod_str(pod, "metadata.name"));
        cJSON_AddStringToObject(md, "uid", kubelet_pod_str(pod, "metadata.uid"));
        cJSON_AddStringToObject(md, "namespace", kubelet_pod_str(pod, "metadata.namespace"));
        cJSON_AddNumberToObject(md, "attempt", attempt);
        if (!kubelet_pod_host_network(pod)) {
                char domain[256], fqdn[320];
                kubelet_pod_hostname(k, pod, host, domain);
                if (cJSON_IsTrue(cJSON_GetObjectItem(spec, "setHostnameAsFQDN")) && *domain) {
                        snprintf(fqdn, sizeof(fqdn), "%s.%s", host, domain);
                        cJSON_AddStringToObject(c, "hostname", fqdn);
                } else {
                        cJSON_AddStringToObject(c, "hostname", host);
                }
        }
        cJSON_AddStringToObject(c, "log_directory", logdir);
        cJSON_AddItemToObject(c, "dns_config", dns_config(k, pod));

        ports = cJSON_AddArrayToObject(c, "port_mappings");
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(spec, "containers")) {
                const cJSON *p;
                cJSON_ArrayForEach(p, cJSON_GetObjectItem(it, "ports")) {
                        const cJSON *hp = cJSON_GetObjectItem(p, "hostPort");
                        const char *proto = cJSON_GetStringValue(cJSON_GetObjectItem(p, "protocol"));
                        const char *hip = cJSON_GetStringValue(cJSON_GetObjectItem(p, "hostIP"));
                        cJSON *m;
                        if (!cJSON_IsNumber(hp) || hp->valueint <= 0)
                                continue;
                        m = cJSON_CreateObject();
                        cJSON_AddStringToObject(m, "protocol", proto && !strcmp(proto, "UDP")    ? "UDP"
                                                               : proto && !strcmp(proto, "SCTP") ? "SCTP"
                                                                                                 : "TCP");
                        cJSON_AddNumberToObject(m, "container_port",
                                                cJSON_GetNumberValue(cJSON_GetObjectItem(p, "containerPort")));
                        cJSON_AddNumberToObject(m, "host_port", hp->valueint);
                        if (hip)
                                cJSON_AddStringToObject(m, "host_ip", hip);
                        cJSON_AddItemToArray(ports, m);
                }
        }

        labels = string_map(kn_json_path(pod, "metadata.labels"));
        cJSON_DeleteItemFromObjectCaseSensitive(labels, LABEL_POD_NAME);
        cJSON_AddStringToObject(labels, LABEL_POD_NAME, kubelet_pod_str(pod, "metadata.name"));
        cJSON_DeleteItemFromObjectCaseSensitive(labels, LABEL_POD_NAMESPACE);
        cJSON_AddStringToObject(labels, LABEL_POD_NAMESPACE, kubelet_pod_str(pod, "metadata.namespace"));
        cJSON_DeleteItemFromObjectCaseSensitive(labels, LABEL_POD_UID);
        cJSON_AddStringToObject(labels, LABEL_POD_UID, kubelet_pod_str(pod, "metadata.uid"));
        cJSON_AddItemToObject(c, "labels", labels);
        ann = string_map(kn_json_path(pod, "metadata.annotations"));
        cJSON_DeleteItemFromObjectCaseSensitive(ann, "kubernetes.io/config.source");
        cJSON_AddStringToObject(ann, "kubernetes.io/config.source", "api");
        cJSON_AddItemToObject(c, "annotations", ann);

        lx = cJSON_AddObjectToObject(c, "linux");
        if (cgroup_parent && *cgroup_parent)
                cJSON_AddStringToObject(lx, "cgroup_parent", cgroup_parent);
        sysctls = cJSON_AddObjectToObject(lx, "sysctls");
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(psc, "sysctls")) {
                const char *n = cJSON_GetStringValue(cJSON_GetObjectItem(it, "name"));
                const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(it, "value"));
                if (n && v) {
                        _cleanup_free_ char *norm = kubelet_sysctl_name(n);
                        cJSON_AddStringToObject(sysctls, norm, v);
                }
        }
        sc = cJSON_AddObjectToObject(lx, "security_context");
        cJSON_AddItemToObject(sc, "namespace_options", namespace_options(pod));
        if (cJSON_IsNumber(cJSON_GetObjectItem(psc, "runAsUser")))
                cJSON_AddItemToObject(sc, "run_as_user", int64_value(cJSON_GetObjectItem(psc, "runAsUser")));
        if (cJSON_IsNumber(cJSON_GetObjectItem(psc, "runAsGroup")))
                cJSON_AddItemToObject(sc, "run_as_group", int64_value(cJSON_GetObjectItem(psc, "runAsGroup")));
        {
                cJSON *groups = cJSON_AddArrayToObject(sc, "supplemental_groups");
                const cJSON *fs = cJSON_GetObjectItem(psc, "fsGroup"), *g;
                if (cJSON_IsNumber(fs))
                        cJSON_AddItemToArray(groups, cJSON_CreateNumber(fs->valuedouble));
                cJSON_ArrayForEach(g, cJSON_GetObjectItem(psc, "supplementalGroups"))
                        if (cJSON_IsNumber(g))
                                cJSON_AddItemToArray(groups, cJSON_CreateNumber(g->valuedouble));
        }
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(spec, "containers"))
                if (cJSON_IsTrue(kn_json_path(it, "securityContext.privileged")))
                        cJSON_AddBoolToObject(sc, "privileged", true);
        cJSON_AddItemToObject(sc, "seccomp", seccomp(NULL, psc, k));
        return c;
}

/* ---- containers ---- */

static const char *const masked_paths[] = {"/proc/asound",       "/proc/acpi",        "/proc/kcore",
                                           "/proc/keys",         "/proc/latency_stats", "/proc/timer_list",
                                           "/proc/timer_stats",  "/proc/sched_debug", "/proc/scsi",
                                           "/sys/firmware",      "/sys/devices/virtual/powercap"};
static const char *const readonly_paths[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                             "/proc/sysrq-trigger"};

static cJSON *security_context(kubelet *k, const cJSON *pod, const cJSON *container, const kubelet_start_info *si)
{
        const cJSON *csc = cJSON_GetObjectItem(container, "securityContext");
        const cJSON *psc = kn_json_path(pod, "spec.securityContext"), *v, *it;
        cJSON *sc = cJSON_CreateObject(), *caps, *groups;
        bool privileged = cJSON_IsTrue(cJSON_GetObjectItem(csc, "privileged"));
        const char *proc_mount = cJSON_GetStringValue(cJSON_GetObjectItem(csc, "procMount"));

        caps = cJSON_AddObjectToObject(sc, "capabilities");
        cJSON_AddItemToObject(caps, "add_capabilities", strings_from(kn_json_path(csc, "capabilities.add")));
        cJSON_AddItemToObject(caps, "drop_capabilities", strings_from(kn_json_path(csc, "capabilities.drop")));
        cJSON_AddBoolToObject(sc, "privileged", privileged);
        cJSON_AddItemToObject(sc, "namespace_options", namespace_options(pod));
        if (si->target_id) {
                cJSON *no = cJSON_GetObjectItem(sc, "namespace_options");
                cJSON_ReplaceItemInObject(no, "pid", cJSON_CreateString("TARGET"));
                cJSON_AddStringToObject(no, "target_id", si->target_id);
        }
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(csc, "runAsUser")) ||
            cJSON_IsNumber(v = cJSON_GetObjectItem(psc, "runAsUser")))
                cJSON_AddItemToObject(sc, "run_as_user", int64_value(v));
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(csc, "runAsGroup")) ||
            cJSON_IsNumber(v = cJSON_GetObjectItem(psc, "runAsGroup")))
                cJSON_AddItemToObject(sc, "run_as_group", int64_value(v));
        cJSON_AddBoolToObject(sc, "readonly_rootfs", cJSON_IsTrue(cJSON_GetObjectItem(csc, "readOnlyRootFilesystem")));
        groups = cJSON_AddArrayToObject(sc, "supplemental_groups");
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(psc, "fsGroup")))
                cJSON_AddItemToArray(groups, cJSON_CreateNumber(v->valuedouble));
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(psc, "supplementalGroups"))
                if (cJSON_IsNumber(it))
                        cJSON_AddItemToArray(groups, cJSON_CreateNumber(it->valuedouble));
        v = cJSON_GetObjectItem(csc, "allowPrivilegeEscalation");
        cJSON_AddBoolToObject(sc, "no_new_privs", cJSON_IsFalse(v));
        if (!privileged && !(proc_mount && !strcmp(proc_mount, "Unmasked"))) {
                cJSON *m = cJSON_AddArrayToObject(sc, "masked_paths"), *r = cJSON_AddArrayToObject(sc, "readonly_paths");
                for (size_t i = 0; i < KN_ARRAY_SIZE(masked_paths); i++)
                        cJSON_AddItemToArray(m, cJSON_CreateString(masked_paths[i]));
                for (size_t i = 0; i < KN_ARRAY_SIZE(readonly_paths); i++)
                        cJSON_AddItemToArray(r, cJSON_CreateString(readonly_paths[i]));
        }
        cJSON_AddItemToObject(sc, "seccomp", seccomp(csc, psc, k));
        return sc;
}

/* runAsNonRoot: refuse a container that would run as root (upstream's verifyRunAsNonRoot). */
static int check_non_root(const cJSON *pod, const cJSON *container, int64_t image_uid, const char *image_user,
                          kn_error *err)
{
        const cJSON *csc = cJSON_GetObjectItem(container, "securityContext");
        const cJSON *psc = kn_json_path(pod, "spec.securityContext"), *v, *uid;

        v = cJSON_GetObjectItem(csc, "runAsNonRoot");
        if (!v)
                v = cJSON_GetObjectItem(psc, "runAsNonRoot");
        if (!cJSON_IsTrue(v))
                return 0;
        uid = cJSON_GetObjectItem(csc, "runAsUser");
        if (!uid)
                uid = cJSON_GetObjectItem(psc, "runAsUser");
        if (cJSON_IsNumber(uid)) {
                if (uid->valuedouble == 0)
                        return kn_error_set(err, -EPERM, "container's runAsUser breaks non-root policy (pod: \"%s_%s(%s)\", container: %s)",
                                            kubelet_pod_str(pod, "metadata.name"), kubelet_pod_str(pod, "metadata.namespace"),
                                            kubelet_pod_str(pod, "metadata.uid"),
                                            cJSON_GetStringValue(cJSON_GetObjectItem(container, "name")));
                return 0;
        }
        if (image_uid == 0)
                return kn_error_set(err, -EPERM, "container has runAsNonRoot and image will run as root (pod: \"%s_%s(%s)\", container: %s)",
                                    kubelet_pod_str(pod, "metadata.name"), kubelet_pod_str(pod, "metadata.namespace"),
                                    kubelet_pod_str(pod, "metadata.uid"),
                                    cJSON_GetStringValue(cJSON_GetObjectItem(container, "name")));
        if (image_uid < 0 && image_user && *image_user)
                return kn_error_set(err, -EPERM, "container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root",
                                    image_user);
        return 0;
}

static cJSON *expand_list(const cJSON *arr, const cJSON *env)
{
        cJSON *a = cJSON_CreateArray(), *it;

        cJSON_ArrayForEach(it, arr) {
                _cleanup_free_ char *s = cJSON_IsString(it) ? kubelet_expand_vars(it->valuestring, env) : NULL;
                if (s)
                        cJSON_AddItemToArray(a, cJSON_CreateString(s));
        }
        return a;
}

static void add_mount(cJSON *mounts, const char *container_path, const char *host_path, bool ro, int propagation)
{
        static const char *const prop[] = {"PROPAGATION_PRIVATE", "PROPAGATION_HOST_TO_CONTAINER",
                                           "PROPAGATION_BIDIRECTIONAL"};
        cJSON *m = cJSON_CreateObject();

        cJSON_AddStringToObject(m, "container_path", container_path);
        cJSON_AddStringToObject(m, "host_path", host_path);
        cJSON_AddBoolToObject(m, "readonly", ro);
        cJSON_AddStringToObject(m, "propagation", prop[propagation >= 0 && propagation <= 2 ? propagation : 0]);
        cJSON_AddItemToArray(mounts, m);
}

/* The file a container's termination message is written to, made empty and writable. */
static char *termination_log(const kubelet_start_info *si, const char *name)
{
        _cleanup_free_ char *dir = kn_asprintf("%s/containers/%s", si->pod_dir, name);
        char *path = kn_asprintf("%s/%08llx", dir, (unsigned long long)(kn_random() & 0xffffffffu));
        int fd;

        kn_mkdir_p(dir, 0750);
        fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0666);
        if (fd >= 0) {
                fchmod(fd, 0666);
                close(fd);
        }
        return path;
}

int kubelet_container_config(kubelet *k, const cJSON *pod, const cJSON *container, const kubelet_start_info *si,
                             cJSON **ret, kn_error *err)
{
        _cleanup_cjson_ cJSON *c = cJSON_CreateObject(), *env = NULL;
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(container, "name"));
        const char *image = cJSON_GetStringValue(cJSON_GetObjectItem(container, "image"));
        const char *wd = cJSON_GetStringValue(cJSON_GetObjectItem(container, "workingDir"));
        const char *tpath = cJSON_GetStringValue(cJSON_GetObjectItem(container, "terminationMessagePath"));
        const char *tpolicy = cJSON_GetStringValue(cJSON_GetObjectItem(container, "terminationMessagePolicy"));
        cJSON *md, *img, *envs, *it, *mounts, *labels, *ann, *lx;
        _cleanup_free_ char *logpath = NULL, *hosts = NULL, *tlog = NULL;
        bool has_hosts_mount = false;
        char hash[17], buf[32];
        int r;

        r = check_non_root(pod, container, si->image_uid, si->image_user, err);
        if (r < 0)
                return r;
        r = kubelet_container_env(k, pod, container, si->pod_ip, &env, err);
        if (r < 0)
                return r;

        md = cJSON_AddObjectToObject(c, "metadata");
        cJSON_AddStringToObject(md, "name", name);
        cJSON_AddNumberToObject(md, "attempt", si->restart_count);
        img = cJSON_AddObjectToObject(c, "image");
        cJSON_AddStringToObject(img, "image", si->image_ref && *si->image_ref ? si->image_ref : image);
        cJSON_AddStringToObject(img, "user_specified_image", image ? image : "");
        cJSON_AddItemToObject(c, "command", expand_list(cJSON_GetObjectItem(container, "command"), env));
        cJSON_AddItemToObject(c, "args", expand_list(cJSON_GetObjectItem(container, "args"), env));
        if (wd)
                cJSON_AddStringToObject(c, "working_dir", wd);
        envs = cJSON_AddArrayToObject(c, "envs");
        cJSON_ArrayForEach(it, env) {
                cJSON *kv = cJSON_CreateObject();
                cJSON_AddStringToObject(kv, "key", it->string);
                cJSON_AddStringToObject(kv, "value", it->valuestring);
                cJSON_AddItemToArray(envs, kv);
        }

        mounts = cJSON_AddArrayToObject(c, "mounts");
        for (size_t i = 0; i < si->n_mounts; i++) {
                add_mount(mounts, si->mounts[i].container_path, si->mounts[i].host_path, si->mounts[i].readonly,
                          si->mounts[i].propagation);
                if (!strcmp(si->mounts[i].container_path, "/etc/hosts"))
                        has_hosts_mount = true;
        }
        if (!has_hosts_mount && (!kubelet_pod_host_network(pod) ||
                                 cJSON_GetArraySize(kn_json_path(pod, "spec.hostAliases")) > 0)) {
                hosts = kn_asprintf("%s/etc-hosts", si->pod_dir);
                add_mount(mounts, "/etc/hosts", hosts, false, 0);
        }
        if (!tpath || !*tpath)
                tpath = "/dev/termination-log";
        tlog = termination_log(si, name);
        add_mount(mounts, tpath, tlog, false, 0);

        labels = cJSON_AddObjectToObject(c, "labels");
        cJSON_AddStringToObject(labels, LABEL_CONTAINER_NAME, name);
        cJSON_AddStringToObject(labels, LABEL_POD_NAME, kubelet_pod_str(pod, "metadata.name"));
        cJSON_AddStringToObject(labels, LABEL_POD_NAMESPACE, kubelet_pod_str(pod, "metadata.namespace"));
        cJSON_AddStringToObject(labels, LABEL_POD_UID, kubelet_pod_str(pod, "metadata.uid"));
        ann = cJSON_AddObjectToObject(c, "annotations");
        kubelet_container_hash(container, hash);
        cJSON_AddStringToObject(ann, ANN_CONTAINER_HASH, hash);
        snprintf(buf, sizeof(buf), "%u", si->restart_count);
        cJSON_AddStringToObject(ann, ANN_RESTART_COUNT, buf);
        cJSON_AddStringToObject(ann, ANN_TERM_PATH, tpath);
        cJSON_AddStringToObject(ann, ANN_TERM_POLICY, tpolicy ? tpolicy : "File");
        cJSON_AddStringToObject(ann, "io.kubernetes.container.terminationMessageHostPath", tlog);
        if (cJSON_GetObjectItem(container, "ports")) {
                _cleanup_free_ char *p = cJSON_PrintUnformatted(cJSON_GetObjectItem(container, "ports"));
                cJSON_AddStringToObject(ann, ANN_PORTS, p);
        }
        if (kn_json_path(container, "lifecycle.preStop")) {
                _cleanup_free_ char *p = cJSON_PrintUnformatted(kn_json_path(container, "lifecycle.preStop"));
                cJSON_AddStringToObject(ann, ANN_PRESTOP, p);
        }
        {
                const cJSON *g = kn_json_path(pod, "spec.terminationGracePeriodSeconds");
                snprintf(buf, sizeof(buf), "%lld", cJSON_IsNumber(g) ? (long long)g->valuedouble : 30LL);
                cJSON_AddStringToObject(ann, ANN_POD_GRACE, buf);
        }

        logpath = kn_asprintf("%s/%u.log", name, si->restart_count);
        cJSON_AddStringToObject(c, "log_path", logpath);
        cJSON_AddBoolToObject(c, "stdin", cJSON_IsTrue(cJSON_GetObjectItem(container, "stdin")));
        cJSON_AddBoolToObject(c, "stdin_once", cJSON_IsTrue(cJSON_GetObjectItem(container, "stdinOnce")));
        cJSON_AddBoolToObject(c, "tty", cJSON_IsTrue(cJSON_GetObjectItem(container, "tty")));

        lx = cJSON_AddObjectToObject(c, "linux");
        if (si->resources)
                cJSON_AddItemToObject(lx, "resources", cJSON_Duplicate(si->resources, true));
        cJSON_AddItemToObject(lx, "security_context", security_context(k, pod, container, si));
        *ret = TAKE_PTR(c);
        return 0;
}

/* ---- /etc/hosts ---- */

int kubelet_write_hosts(kubelet *k, const cJSON *pod, const char *pod_ip, const char *path, kn_error *err)
{
        const cJSON *spec = cJSON_GetObjectItem(pod, "spec"), *alias;
        kn_buf b = {.max = 1 << 20};
        _cleanup_free_ char *tmp = kn_asprintf("%s.tmp", path);
        char hostname[64], domain[256];
        int fd;

        kubelet_pod_hostname(k, pod, hostname, domain);
        if (kubelet_pod_host_network(pod)) {
                /* the node's own file, with the pod's aliases after it */
                _cleanup_free_ char *host = NULL;
                size_t len = 0;
                kn_buf_printf(&b, "# Kubernetes-managed hosts file (host network).\n");
                if (kn_read_file("/etc/hosts", 1 << 20, &host, &len) >= 0)
                        kn_buf_append(&b, host, len);
        } else {
                kn_buf_printf(&b, "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost "
                                  "ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\n"
                                  "fe00::2\tip6-allrouters\n");
        }
        if (pod_ip && *pod_ip && !kubelet_pod_host_network(pod)) {
                if (*domain)
                        kn_buf_printf(&b, "%s\t%s.%s\t%s\n", pod_ip, hostname, domain, hostname);
                else
                        kn_buf_printf(&b, "%s\t%s\n", pod_ip, hostname);
        }
        if (cJSON_GetArraySize(cJSON_GetObjectItem(spec, "hostAliases")) > 0) {
                kn_buf_printf(&b, "\n# Entries added by HostAliases.\n");
                cJSON_ArrayForEach(alias, cJSON_GetObjectItem(spec, "hostAliases")) {
                        const char *ip = cJSON_GetStringValue(cJSON_GetObjectItem(alias, "ip"));
                        const cJSON *h;
                        if (!ip)
                                continue;
                        kn_buf_printf(&b, "%s\t", ip);
                        cJSON_ArrayForEach(h, cJSON_GetObjectItem(alias, "hostnames"))
                                if (cJSON_IsString(h))
                                        kn_buf_printf(&b, "%s%s", h == cJSON_GetObjectItem(alias, "hostnames")->child ? "" : "\t",
                                                      h->valuestring);
                        kn_buf_printf(&b, "\n");
                }
        }
        fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len) {
                int e = errno;
                if (fd >= 0)
                        close(fd);
                kn_buf_free(&b);
                return kn_error_set(err, -e, "failed to write %s: %s", tmp, strerror(e));
        }
        close(fd);
        kn_buf_free(&b);
        if (rename(tmp, path) < 0)
                return kn_error_set(err, -errno, "failed to rename %s: %m", tmp);
        return 0;
}
