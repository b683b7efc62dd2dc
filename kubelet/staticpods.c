/* SPDX-License-Identifier: Apache-2.0 */
/* Static pods: the manifests in staticPodPath run on this node whether the API server is
 * there or not, and each shows in the API as a mirror pod (upstream's file source and
 * mirror client, as facts).
 *
 *   staticPodPath ──(looked at every second, read again when a file changed)──>
 *     defaults, name NAME-NODE, UID from node + path + content ──> pod manager
 *   pod informer ──mirror pods (never run)──> mirror table
 *   static thread: mirrors created for running static pods, stale or deleted ones
 *     replaced, orphans removed; a static pod's status goes to its mirror
 */
#include <ctype.h>
#include <dirent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <sys/stat.h>

#include "../core/config.h"
#include "podconfig.h"
#include "pods.h"

#define TICK_MS 1000
#define CREATE_RETRY_MS 5000
#define MAX_MANIFESTS 256

typedef struct mirror {
        struct mirror *next;
        char *ns, *name, *uid, *hash;
        bool deleting;        /* deletionTimestamp set (someone deleted it) */
        int64_t delete_sent_ms; /* monotonic; 0: not asked yet */
} mirror;

struct kubelet_static {
        kubelet *k;
        pthread_t thread;
        bool running;
        pthread_mutex_t lock; /* guards mirrors, stop, kick */
        pthread_cond_t cond;
        bool stop, kick;
        mirror *mirrors;
        /* the static thread's */
        uint64_t dir_sig; /* names, sizes and mtimes of the manifests last read */
        bool dir_missing_logged;
};

/* ---- the manifests ---- */

static void set_default(cJSON *obj, const char *key, cJSON *value)
{
        if (cJSON_GetObjectItemCaseSensitive(obj, key))
                cJSON_Delete(value);
        else
                cJSON_AddItemToObject(obj, key, value);
}

static cJSON *object_at(cJSON *obj, const char *key)
{
        cJSON *o = cJSON_GetObjectItemCaseSensitive(obj, key);

        if (!cJSON_IsObject(o)) {
                cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
                o = cJSON_AddObjectToObject(obj, key);
        }
        return o;
}

static void probe_defaults(cJSON *c, const char *key)
{
        cJSON *p = cJSON_GetObjectItemCaseSensitive(c, key), *hg;

        if (!cJSON_IsObject(p))
                return;
        set_default(p, "timeoutSeconds", cJSON_CreateNumber(1));
        set_default(p, "periodSeconds", cJSON_CreateNumber(10));
        set_default(p, "successThreshold", cJSON_CreateNumber(1));
        set_default(p, "failureThreshold", cJSON_CreateNumber(3));
        hg = cJSON_GetObjectItemCaseSensitive(p, "httpGet");
        if (cJSON_IsObject(hg))
                set_default(hg, "scheme", cJSON_CreateString("HTTP"));
}

static void container_defaults(cJSON *c)
{
        const char *image = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "image"));
        cJSON *it;

        if (image)
                set_default(c, "imagePullPolicy", cJSON_CreateString(kubelet_default_pull_policy(image)));
        set_default(c, "terminationMessagePath", cJSON_CreateString("/dev/termination-log"));
        set_default(c, "terminationMessagePolicy", cJSON_CreateString("File"));
        set_default(c, "resources", cJSON_CreateObject());
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(c, "ports"))
                if (cJSON_IsObject(it))
                        set_default(it, "protocol", cJSON_CreateString("TCP"));
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(c, "env")) {
                cJSON *fr = (cJSON *)kn_json_path(it, "valueFrom.fieldRef");
                if (cJSON_IsObject(fr))
                        set_default(fr, "apiVersion", cJSON_CreateString("v1"));
        }
        probe_defaults(c, "livenessProbe");
        probe_defaults(c, "readinessProbe");
        probe_defaults(c, "startupProbe");
}

/* The API server's defaults for the fields the kubelet reads (a static pod never goes
 * through it), and upstream's file-source additions. */
static void pod_defaults(cJSON *pod, const char *node, const char *uid)
{
        cJSON *meta = object_at(pod, "metadata"), *spec = object_at(pod, "spec"), *ann, *tols, *tol, *it;
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "name"));
        _cleanup_free_ char *full = NULL, *lower = kn_strdup(node);
        char seen[40];

        for (char *s = lower; *s; s++)
                *s = (char)tolower((unsigned char)*s);
        full = kn_asprintf("%s-%s", name, lower);
        cJSON_ReplaceItemInObjectCaseSensitive(meta, "name", cJSON_CreateString(full));
        if (!kubelet_pod_str(pod, "metadata.namespace") || !*kubelet_pod_str(pod, "metadata.namespace")) {
                cJSON_DeleteItemFromObjectCaseSensitive(meta, "namespace");
                cJSON_AddStringToObject(meta, "namespace", "default");
        }
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "uid");
        cJSON_AddStringToObject(meta, "uid", uid);
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "resourceVersion");
        ann = object_at(meta, "annotations");
        cJSON_DeleteItemFromObjectCaseSensitive(ann, "kubernetes.io/config.hash");
        cJSON_DeleteItemFromObjectCaseSensitive(ann, "kubernetes.io/config.mirror");
        cJSON_DeleteItemFromObjectCaseSensitive(ann, "kubernetes.io/config.source");
        cJSON_DeleteItemFromObjectCaseSensitive(ann, "kubernetes.io/config.seen");
        cJSON_AddStringToObject(ann, "kubernetes.io/config.hash", uid);
        cJSON_AddStringToObject(ann, "kubernetes.io/config.source", "file");
        kn_format_time(kn_wall_ms(), true, seen, sizeof(seen));
        cJSON_AddStringToObject(ann, "kubernetes.io/config.seen", seen);

        cJSON_DeleteItemFromObjectCaseSensitive(spec, "nodeName");
        cJSON_AddStringToObject(spec, "nodeName", node);
        set_default(spec, "restartPolicy", cJSON_CreateString("Always"));
        set_default(spec, "terminationGracePeriodSeconds", cJSON_CreateNumber(30));
        set_default(spec, "dnsPolicy", cJSON_CreateString("ClusterFirst"));
        set_default(spec, "securityContext", cJSON_CreateObject());
        set_default(spec, "schedulerName", cJSON_CreateString("default-scheduler"));
        set_default(spec, "enableServiceLinks", cJSON_CreateBool(true));
        /* a static pod tolerates every NoExecute taint: nothing may evict it */
        tols = cJSON_GetObjectItemCaseSensitive(spec, "tolerations");
        if (!cJSON_IsArray(tols)) {
                cJSON_DeleteItemFromObjectCaseSensitive(spec, "tolerations");
                tols = cJSON_AddArrayToObject(spec, "tolerations");
        }
        cJSON_AddItemToArray(tols, tol = cJSON_CreateObject());
        cJSON_AddStringToObject(tol, "operator", "Exists");
        cJSON_AddStringToObject(tol, "effect", "NoExecute");
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(spec, "containers"))
                container_defaults(it);
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(spec, "initContainers"))
                container_defaults(it);
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(spec, "volumes")) {
                static const char *const with_mode[] = {"configMap", "secret", "downwardAPI", "projected"};
                for (size_t i = 0; i < KN_ARRAY_SIZE(with_mode); i++) {
                        cJSON *src = cJSON_GetObjectItemCaseSensitive(it, with_mode[i]);
                        if (cJSON_IsObject(src))
                                set_default(src, "defaultMode", cJSON_CreateNumber(0644));
                }
        }
        cJSON_DeleteItemFromObjectCaseSensitive(pod, "status");
}

/* What upstream's validation would refuse first, or NULL. */
static const char *invalid(const cJSON *pod)
{
        const cJSON *cs = kn_json_path(pod, "spec.containers"), *c;
        const char *name = kubelet_pod_str(pod, "metadata.name");

        if (!kn_streq(kubelet_pod_str(pod, "kind"), "Pod") || !kn_streq(kubelet_pod_str(pod, "apiVersion"), "v1"))
                return "not a v1 Pod";
        if (!name || !*name || strlen(name) > 200 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-.") !=
                                                            strlen(name))
                return "metadata.name: a lowercase DNS subdomain is required";
        if (!cJSON_IsArray(cs) || !cJSON_GetArraySize(cs))
                return "spec.containers: at least one container is required";
        cJSON_ArrayForEach(c, cs)
                if (!kubelet_pod_str(c, "name") || !*kubelet_pod_str(c, "name") || !kubelet_pod_str(c, "image") ||
                    !*kubelet_pod_str(c, "image"))
                        return "spec.containers: every container needs a name and an image";
        return NULL;
}

/* Upstream hashes the node, the file and the object into the UID (hex MD5); the same
 * inputs give the same UID across restarts, so the running containers are adopted. */
static void static_uid(const char *node, const char *path, const char *data, size_t len, char ret[33])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();

        if (!ctx)
                abort();
        EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
        EVP_DigestUpdate(ctx, "host:", 5);
        EVP_DigestUpdate(ctx, node, strlen(node));
        EVP_DigestUpdate(ctx, "\nfile:", 6);
        EVP_DigestUpdate(ctx, path, strlen(path));
        EVP_DigestUpdate(ctx, "\n", 1);
        EVP_DigestUpdate(ctx, data, len);
        EVP_DigestFinal_ex(ctx, md, &n);
        EVP_MD_CTX_free(ctx);
        for (int i = 0; i < 16; i++)
                snprintf(ret + 2 * i, 3, "%02x", md[i]);
}

int kubelet_static_manifest_pod(const char *node, const char *path, const char *data, size_t len, cJSON **ret,
                                kn_error *err)
{
        _cleanup_config_doc_ kn_config_doc *doc = NULL;
        const char *why;
        char uid[33];
        int r;

        r = kn_config_parse(path, data, len, &doc, err);
        if (r < 0)
                return r;
        if ((why = invalid(doc->root)))
                return kn_error_set(err, -EINVAL, "%s: %s", path, why);
        static_uid(node, path, data, len, uid);
        pod_defaults(doc->root, node, uid);
        *ret = TAKE_PTR(doc->root);
        return 0;
}

static cJSON *read_manifest(kubelet *k, const char *path)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        kn_error err;
        cJSON *pod = NULL;
        int r;

        r = kn_read_file(path, KN_CONFIG_MAX_BYTES, &data, &len);
        if (r < 0)
                kn_err("static pod manifest %s: %s", path, strerror(-r));
        else if (kubelet_static_manifest_pod(k->node_name, path, data, len, &pod, &err) < 0)
                kn_err("static pod manifest %s", err.msg);
        return pod;
}

/* The manifests' names, sizes and mtimes, and their paths (at most MAX_MANIFESTS). */
static uint64_t list_dir(DIR *d, const char *dir, char **paths, size_t *n)
{
        uint64_t sig = 1469598103934665603ull; /* FNV-1a over the entries */
        struct dirent *de;

        *n = 0;
        while ((de = readdir(d)) && *n < MAX_MANIFESTS) {
                struct stat st;
                /* upstream skips hidden files (editors' swap files, ..data links) */
                if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
                        continue;
                sig = (sig ^ kn_fnv1a64(de->d_name)) * 1099511628211ull;
                sig = (sig ^ (uint64_t)st.st_size) * 1099511628211ull;
                sig = (sig ^ ((uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec)) *
                      1099511628211ull;
                paths[(*n)++] = kn_asprintf("%s/%s", dir, de->d_name);
        }
        return sig;
}

/* Read the manifests again when one came, went or changed (or when FORCE). */
static void scan(kubelet_static *s, bool force)
{
        kubelet *k = s->k;
        const char *dir = k->cfg.static_pod_path;
        DIR *d = opendir(dir);
        cJSON *pods[MAX_MANIFESTS];
        char *paths[MAX_MANIFESTS];
        size_t n = 0, np = 0;
        uint64_t sig;

        if (!d) {
                if (!s->dir_missing_logged)
                        kn_info("static pod path %s: %s; no static pods until it exists", dir, strerror(errno));
                s->dir_missing_logged = true;
                if (s->dir_sig != 0 || force)
                        kubelet_pods_static_set(k, NULL, 0);
                s->dir_sig = 0;
                return;
        }
        s->dir_missing_logged = false;
        sig = list_dir(d, dir, paths, &n);
        closedir(d);
        if (sig != s->dir_sig || force) {
                for (size_t i = 0; i < n; i++) {
                        cJSON *pod = read_manifest(k, paths[i]);
                        if (pod)
                                pods[np++] = pod;
                }
                kubelet_pods_static_set(k, pods, np);
                for (size_t i = 0; i < np; i++)
                        cJSON_Delete(pods[i]);
                s->dir_sig = sig;
        }
        for (size_t i = 0; i < n; i++)
                free(paths[i]);
}

/* ---- mirror pods ---- */

static void mirror_free(mirror *mp)
{
        free(mp->ns);
        free(mp->name);
        free(mp->uid);
        free(mp->hash);
        free(mp);
}

void kubelet_static_mirror(kubelet *k, const cJSON *obj, bool deleted)
{
        kubelet_static *s = k->statics;
        const char *ns = kubelet_pod_str(obj, "metadata.namespace"), *name = kubelet_pod_str(obj, "metadata.name");
        const char *uid = kubelet_pod_str(obj, "metadata.uid");
        const char *hash = cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(kn_json_path(obj, "metadata.annotations"), "kubernetes.io/config.mirror"));
        mirror **pp, *mp;

        if (!s || !name)
                return;
        pthread_mutex_lock(&s->lock);
        for (pp = &s->mirrors; (mp = *pp); pp = &mp->next)
                if (kn_streq(mp->ns, ns ? ns : "") && kn_streq(mp->name, name) && (!uid || kn_streq(mp->uid, uid)))
                        break;
        if (deleted) {
                if (mp) {
                        *pp = mp->next;
                        mirror_free(mp);
                }
        } else if (uid && hash) {
                if (!mp) {
                        mp = kn_calloc(1, sizeof(*mp));
                        mp->ns = kn_strdup(ns ? ns : "");
                        mp->name = kn_strdup(name);
                        mp->uid = kn_strdup(uid);
                        mp->next = s->mirrors;
                        s->mirrors = mp;
                }
                free(mp->hash);
                mp->hash = kn_strdup(hash);
                mp->deleting = kn_json_path(obj, "metadata.deletionTimestamp") != NULL;
        }
        s->kick = true;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->lock);
}

static int delete_mirror(kubelet *k, const char *ns, const char *name, const char *uid)
{
        kn_api_error aerr = {0};
        int r = kubelet_delete_pod_now(k, ns, name, uid, &aerr);

        if (r < 0 && r != -ENOENT && r != -EBUSY)
                kn_warn("failed to delete mirror pod %s/%s: %s", ns, name, aerr.e.msg);
        else
                kn_info("deleted mirror pod %s/%s (%s)", ns, name, uid);
        return r;
}

static int create_mirror(kubelet *k, const cJSON *pod, const char *node_uid)
{
        _cleanup_cjson_ cJSON *m = cJSON_Duplicate(pod, true);
        cJSON *meta = cJSON_GetObjectItemCaseSensitive(m, "metadata"), *ref;
        const char *ns = kubelet_pod_str(pod, "metadata.namespace"), *name = kubelet_pod_str(pod, "metadata.name");
        _cleanup_free_ char *path = kn_api_path("v1", "pods", ns, NULL, NULL);
        kn_api_error aerr = {0};
        int r;

        cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(meta, "annotations"), "kubernetes.io/config.mirror",
                                kubelet_pod_str(pod, "metadata.uid"));
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "uid");
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "ownerReferences");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(meta, "ownerReferences"), ref = cJSON_CreateObject());
        cJSON_AddStringToObject(ref, "apiVersion", "v1");
        cJSON_AddStringToObject(ref, "kind", "Node");
        cJSON_AddStringToObject(ref, "name", k->node_name);
        cJSON_AddStringToObject(ref, "uid", node_uid);
        cJSON_AddBoolToObject(ref, "controller", true);
        r = kn_api_create(k->env->api, path, m, NULL, &aerr);
        if (r == -EEXIST)
                return 0; /* the informer tells whose it is */
        if (r < 0)
                kn_warn("failed to create mirror pod %s/%s: %s", ns, name, aerr.e.msg);
        else
                kn_info("created mirror pod %s/%s for static pod %s", ns, name, kubelet_pod_str(pod, "metadata.uid"));
        return r;
}

/* One pass: every running static pod has a current mirror, and no other mirror is left. */
static void reconcile(kubelet_static *s)
{
        kubelet *k = s->k;
        kubelet_static_pod *sp = NULL;
        size_t n = 0;
        _cleanup_free_ char *node_uid = NULL;
        struct todo {
                char *ns, *name, *uid;
        } del[MAX_MANIFESTS];
        size_t n_del = 0;
        int64_t now = kn_now_ms();

        if (!kn_informer_synced(k->pod_informer))
                return; /* which mirrors exist is not known yet */
        node_uid = kubelet_node_uid(k);
        n = kubelet_pods_static_list(k, &sp);
        pthread_mutex_lock(&s->lock);
        for (mirror *mp = s->mirrors; mp; mp = mp->next) {
                kubelet_static_pod *owner = NULL;
                for (size_t i = 0; i < n && !owner; i++)
                        if (kn_streq(sp[i].ns, mp->ns) && kn_streq(sp[i].name, mp->name))
                                owner = &sp[i];
                if (owner && kn_streq(owner->uid, mp->hash) && !mp->deleting) {
                        owner->has_mirror = true;
                        free(owner->mirror_uid);
                        owner->mirror_uid = kn_strdup(mp->uid);
                        continue;
                }
                /* an orphan, a mirror of an older manifest, or one someone deleted: it goes,
                 * and the owner's new mirror is made once it is gone */
                if (owner)
                        owner->has_mirror = true;
                if (n_del < MAX_MANIFESTS && (!mp->delete_sent_ms || now - mp->delete_sent_ms > CREATE_RETRY_MS)) {
                        mp->delete_sent_ms = now;
                        del[n_del++] = (struct todo){kn_strdup(mp->ns), kn_strdup(mp->name), kn_strdup(mp->uid)};
                }
        }
        pthread_mutex_unlock(&s->lock);
        for (size_t i = 0; i < n_del; i++) {
                delete_mirror(k, del[i].ns, del[i].name, del[i].uid);
                free(del[i].ns), free(del[i].name), free(del[i].uid);
        }
        for (size_t i = 0; i < n; i++) {
                kubelet_pods_static_mirror_set(k, sp[i].uid, sp[i].mirror_uid);
                if (!sp[i].has_mirror && node_uid && *node_uid && now - sp[i].mirror_tried_ms > CREATE_RETRY_MS) {
                        kubelet_pods_static_mirror_tried(k, sp[i].uid, now);
                        create_mirror(k, sp[i].pod, node_uid);
                }
        }
        kubelet_static_pods_free(sp, n);
}

static void *static_thread(void *arg)
{
        kubelet_static *s = arg;

        pthread_mutex_lock(&s->lock);
        while (!s->stop) {
                struct timespec ts = kn_deadline(TICK_MS);
                if (!s->kick)
                        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
                s->kick = false;
                if (s->stop)
                        break;
                pthread_mutex_unlock(&s->lock);
                scan(s, false);
                reconcile(s);
                pthread_mutex_lock(&s->lock);
        }
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

int kubelet_static_start(kubelet *k)
{
        kubelet_static *s;
        pthread_condattr_t ca;

        if (!k->cfg.static_pod_path || !*k->cfg.static_pod_path)
                return 0;
        s = kn_calloc(1, sizeof(*s));
        s->k = k;
        pthread_mutex_init(&s->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->cond, &ca);
        pthread_condattr_destroy(&ca);
        k->statics = s;
        /* before the first relist: the static pods' containers are not orphans */
        scan(s, true);
        if (pthread_create(&s->thread, NULL, static_thread, s) != 0)
                return -EAGAIN;
        s->running = true;
        kn_info("static pods from %s", k->cfg.static_pod_path);
        return 0;
}

void kubelet_static_stop(kubelet *k)
{
        kubelet_static *s = k->statics;

        if (!s)
                return;
        if (s->running) {
                pthread_mutex_lock(&s->lock);
                s->stop = true;
                pthread_cond_signal(&s->cond);
                pthread_mutex_unlock(&s->lock);
                pthread_join(s->thread, NULL);
        }
        while (s->mirrors) {
                mirror *mp = s->mirrors;
                s->mirrors = mp->next;
                mirror_free(mp);
        }
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        k->statics = NULL;
        free(s);
}
