/* SPDX-License-Identifier: Apache-2.0 */
/* Images (pull policies, imagePullSecrets, pull back-off) and lifecycle handlers
 * (postStart/preStop: exec, httpGet, sleep). */
#include <curl/curl.h>
#include <stdio.h>

#include "../core/kubeconfig.h"
#include "../runtime/msgjson.h"
#include "podconfig.h"
#include "pods.h"

#define PULL_BACKOFF_MIN_MS 10000
#define PULL_BACKOFF_MAX_MS 300000
#define ERR_PULL_SHOWN_MS 2000

/* "registry/repo[:tag][@digest]": the registry host, "docker.io" when there is none. */
static void image_registry(const char *image, char *buf, size_t len)
{
        const char *slash = strchr(image, '/');
        size_t n;

        if (!slash) {
                snprintf(buf, len, "docker.io");
                return;
        }
        n = (size_t)(slash - image);
        if (memchr(image, '.', n) || memchr(image, ':', n) || (n == 9 && !strncmp(image, "localhost", 9)))
                snprintf(buf, len, "%.*s", (int)n, image);
        else
                snprintf(buf, len, "docker.io");
}

/* The reference grammar's essentials: no blanks or quotes, a lowercase repository path,
 * an optional :tag and @digest. */
static bool valid_image_name(const char *image)
{
        const char *last_slash, *repo_end;
        size_t n;

        if (!image || !(n = strlen(image)) || n > 4096 || image[0] == ':' || image[0] == '/' || image[0] == '@' ||
            image[n - 1] == ':' || image[n - 1] == '/' || image[n - 1] == '@')
                return false;
        for (const char *c = image; *c; c++)
                if (*c <= ' ' || *c == '"' || *c == '\\' || *c == 0x7f)
                        return false;
        last_slash = strrchr(image, '/');
        repo_end = strchr(last_slash ? last_slash : image, '@');
        if (!repo_end)
                repo_end = strrchr(last_slash ? last_slash : image, ':');
        if (!repo_end)
                repo_end = image + n;
        /* the registry host (before the first slash, when it has a dot, a port or is localhost) may hold upper case */
        for (const char *c = strchr(image, '/') ? strchr(image, '/') : image; c < repo_end; c++)
                if (*c >= 'A' && *c <= 'Z')
                        return false;
        return true;
}

/* Credentials for IMAGE from the pod's imagePullSecrets (kubernetes.io/dockerconfigjson
 * or dockercfg), as a CRI AuthConfig JSON, or NULL. */
static cJSON *pull_auth(kubelet *k, const cJSON *pod, const char *image)
{
        const cJSON *ref;
        char reg[256];

        image_registry(image, reg, sizeof(reg));
        cJSON_ArrayForEach(ref, kn_json_path(pod, "spec.imagePullSecrets")) {
                const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(ref, "name"));
                _cleanup_free_ char *path = name ? kn_api_path("v1", "secrets", kubelet_pod_str(pod, "metadata.namespace"), name, NULL) : NULL;
                _cleanup_cjson_ cJSON *sec = NULL, *cfg = NULL;
                kn_api_error aerr = {0};
                const char *b64;
                kn_blob blob = {0};
                const cJSON *auths, *entry;
                if (!path || kn_api_get(k->env->api, path, &sec, &aerr) < 0)
                        continue;
                b64 = cJSON_GetStringValue((cJSON *)kn_json_path(cJSON_GetObjectItem(sec, "data"), ".dockerconfigjson"));
                if (!b64)
                        b64 = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(sec, "data"), ".dockercfg"));
                if (!b64 || kn_base64_decode(b64, &blob) < 0)
                        continue;
                cfg = cJSON_Parse(blob.data);
                free(blob.data);
                auths = cJSON_GetObjectItem(cfg, "auths");
                if (!auths)
                        auths = cfg;
                cJSON_ArrayForEach(entry, auths) {
                        const char *host = entry->string;
                        cJSON *a;
                        if (!strncmp(host, "https://", 8))
                                host += 8;
                        else if (!strncmp(host, "http://", 7))
                                host += 7;
                        if (strncmp(host, reg, strlen(reg)) || (host[strlen(reg)] && host[strlen(reg)] != '/'))
                                continue;
                        a = cJSON_CreateObject();
                        cJSON_AddStringToObject(a, "username", cJSON_GetStringValue(cJSON_GetObjectItem(entry, "username")) ?: "");
                        cJSON_AddStringToObject(a, "password", cJSON_GetStringValue(cJSON_GetObjectItem(entry, "password")) ?: "");
                        cJSON_AddStringToObject(a, "auth", cJSON_GetStringValue(cJSON_GetObjectItem(entry, "auth")) ?: "");
                        cJSON_AddStringToObject(a, "server_address", reg);
                        return a;
                }
        }
        return NULL;
}

/* ImageStatus: 1 and the reference when present, 0 when not. */
static int image_present(kubelet *k, const char *image, char **ret_ref, int64_t *ret_uid, char **ret_user,
                         kn_error *err)
{
        _cleanup_cjson_ cJSON *req = cJSON_CreateObject(), *resp = NULL;
        const cJSON *img;
        int r;

        cJSON_AddStringToObject(cJSON_AddObjectToObject(req, "image"), "image", image);
        r = cri_call_json(k->cri, true, "ImageStatus", &runtime__v1__image_status_request__descriptor, req, 0, &resp, err);
        if (r < 0)
                return r;
        img = cJSON_GetObjectItem(resp, "image");
        if (!cJSON_IsObject(img) || !cJSON_GetStringValue(cJSON_GetObjectItem(img, "id")))
                return 0;
        *ret_ref = kn_strdup(cJSON_GetStringValue(cJSON_GetObjectItem(img, "id")));
        *ret_user = kn_strdup(cJSON_GetStringValue(cJSON_GetObjectItem(img, "username")) ?: "");
        /* an image that names no user runs as root (upstream's getImageUser) */
        if (cJSON_IsNumber(kn_json_path(img, "uid.value")))
                *ret_uid = (int64_t)cJSON_GetNumberValue((cJSON *)kn_json_path(img, "uid.value"));
        else
                *ret_uid = **ret_user ? -1 : 0;
        return 1;
}

const char *kubelet_default_pull_policy(const char *image)
{
        const char *tag = strrchr(image, ':');

        /* no tag (a ':' before a '/' is a registry's port), or :latest, and no digest */
        return (!tag || strchr(tag, '/') || !strcmp(tag, ":latest")) && !strchr(image, '@') ? "Always"
                                                                                             : "IfNotPresent";
}

int kubelet_ensure_image(kubelet *k, kubelet_pod *p, const cJSON *pod, const cJSON *container, cstate *cs,
                         char **ret_ref, int64_t *ret_uid, char **ret_user, const char **ret_reason, kn_error *err)
{
        const char *image = cJSON_GetStringValue(cJSON_GetObjectItem(container, "image"));
        const char *policy = cJSON_GetStringValue(cJSON_GetObjectItem(container, "imagePullPolicy"));
        _cleanup_cjson_ cJSON *req = NULL, *resp = NULL;
        int64_t now = kn_now_ms();
        int r;

        *ret_reason = NULL;
        if (!valid_image_name(image)) {
                *ret_reason = "InvalidImageName";
                return kn_error_set(err, -EINVAL, "Failed to apply default image tag \"%s\": couldn't parse image name \"%s\": invalid reference format",
                                    image ? image : "", image ? image : "");
        }
        if (!policy)
                policy = kubelet_default_pull_policy(image);
        if (strcmp(policy, "Always")) {
                r = image_present(k, image, ret_ref, ret_uid, ret_user, err);
                if (r < 0) {
                        *ret_reason = "ErrImagePull";
                        return r;
                }
                if (r > 0) {
                        if (!cs->started_id)
                                kubelet_event(k->pods, pod, "Normal", "Pulled",
                                              "Container image \"%s\" already present on machine", image);
                        return 0;
                }
                if (!strcmp(policy, "Never")) {
                        *ret_reason = "ErrImageNeverPull";
                        kubelet_event(k->pods, pod, "Warning", "ErrImageNeverPull",
                                      "Container image \"%s\" is not present with pull policy of Never", image);
                        return kn_error_set(err, -ENOENT, "Container image \"%s\" is not present with pull policy of Never",
                                            image);
                }
        }
        if (cs->image_backoff && now < cs->backoff_until) {
                /* a failed pull shows as ErrImagePull for a moment (a sync right after it
                 * must not hide it), then as ImagePullBackOff until the next attempt */
                if (now - cs->pull_failed_at < ERR_PULL_SHOWN_MS && kn_streq(cs->waiting_reason, "ErrImagePull")) {
                        *ret_reason = "ErrImagePull";
                        return kn_error_set(err, -EAGAIN, "%s", cs->waiting_message ? cs->waiting_message : "");
                }
                *ret_reason = "ImagePullBackOff";
                return kn_error_set(err, -EAGAIN, "Back-off pulling image \"%s\"", image);
        }
        req = cJSON_CreateObject();
        cJSON_AddStringToObject(cJSON_AddObjectToObject(req, "image"), "image", image);
        {
                cJSON *auth = pull_auth(k, pod, image);
                if (auth)
                        cJSON_AddItemToObject(req, "auth", auth);
        }
        if (p->sandbox_config)
                cJSON_AddItemToObject(req, "sandbox_config", cJSON_Duplicate(p->sandbox_config, true));
        kubelet_event(k->pods, pod, "Normal", "Pulling", "Pulling image \"%s\"", image);
        if (k->cfg.serialize_image_pulls)
                pthread_mutex_lock(&k->pods->pull_lock);
        now = kn_now_ms();
        r = cri_call_json(k->cri, true, "PullImage", &runtime__v1__pull_image_request__descriptor, req, 0, &resp, err);
        if (k->cfg.serialize_image_pulls)
                pthread_mutex_unlock(&k->pods->pull_lock);
        if (r < 0) {
                cs->image_backoff = true;
                cs->backoff_ms = cs->backoff_ms ? cs->backoff_ms * 2 : PULL_BACKOFF_MIN_MS;
                if (cs->backoff_ms > PULL_BACKOFF_MAX_MS)
                        cs->backoff_ms = PULL_BACKOFF_MAX_MS;
                cs->backoff_until = kn_now_ms() + cs->backoff_ms;
                cs->pull_failed_at = kn_now_ms();
                *ret_reason = "ErrImagePull";
                kubelet_event(k->pods, pod, "Warning", "Failed", "Failed to pull image \"%s\": %s", image, err->msg);
                return r;
        }
        if (cs->image_backoff) {
                cs->image_backoff = false;
                cs->backoff_ms = 0;
                cs->backoff_until = 0;
        }
        kubelet_event(k->pods, pod, "Normal", "Pulled", "Successfully pulled image \"%s\" in %lldms", image,
                      (long long)(kn_now_ms() - now));
        r = image_present(k, image, ret_ref, ret_uid, ret_user, err);
        if (r <= 0) {
                /* pulled but not listed: create from the pulled reference */
                *ret_ref = kn_strdup(cJSON_GetStringValue(cJSON_GetObjectItem(resp, "image_ref")) ?: image);
                *ret_uid = -1;
                *ret_user = kn_strdup("");
        }
        return 0;
}

/* ---- lifecycle handlers ---- */

static size_t discard(char *ptr, size_t size, size_t nmemb, void *u)
{
        (void)ptr, (void)u;
        return size * nmemb;
}

static int http_handler(const cJSON *h, const char *pod_ip, const cJSON *container, int64_t timeout_s, kn_error *err)
{
        const char *host = cJSON_GetStringValue(cJSON_GetObjectItem(h, "host"));
        const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(h, "path"));
        const char *scheme = cJSON_GetStringValue(cJSON_GetObjectItem(h, "scheme"));
        const cJSON *port = cJSON_GetObjectItem(h, "port"), *hdr;
        struct curl_slist *headers = NULL;
        _cleanup_free_ char *url = NULL;
        long code = 0;
        int portnum = 0;
        CURL *c;
        CURLcode cr;

        if (cJSON_IsNumber(port))
                portnum = port->valueint;
        else if (cJSON_IsString(port)) {
                const cJSON *cp;
                cJSON_ArrayForEach(cp, cJSON_GetObjectItem(container, "ports"))
                        if (kn_streq(cJSON_GetStringValue(cJSON_GetObjectItem(cp, "name")), port->valuestring))
                                portnum = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(cp, "containerPort"));
                if (!portnum)
                        portnum = atoi(port->valuestring);
        }
        if (portnum <= 0 || portnum > 65535)
                return kn_error_set(err, -EINVAL, "invalid port in httpGet handler");
        if (!host || !*host)
                host = pod_ip;
        url = kn_asprintf("%s://%s%s%s:%d%s%s", scheme && !strcmp(scheme, "HTTPS") ? "https" : "http",
                          strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", portnum,
                          path && *path == '/' ? "" : "/", path ? path : "");
        c = curl_easy_init();
        if (!c)
                return kn_error_set(err, -ENOMEM, "curl_easy_init failed");
        cJSON_ArrayForEach(hdr, cJSON_GetObjectItem(h, "httpHeaders")) {
                _cleanup_free_ char *line = kn_asprintf("%s: %s", cJSON_GetStringValue(cJSON_GetObjectItem(hdr, "name")) ?: "X",
                                                        cJSON_GetStringValue(cJSON_GetObjectItem(hdr, "value")) ?: "");
                headers = curl_slist_append(headers, line);
        }
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_s > 0 ? timeout_s * 1000 : 1000));
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "kube-lifecycle/" KN_KUBE_VERSION);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        cr = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(c);
        curl_slist_free_all(headers);
        if (cr != CURLE_OK)
                return kn_error_set(err, -EIO, "Get \"%s\": %s", url, curl_easy_strerror(cr));
        if (code < 200 || code >= 400)
                return kn_error_set(err, -EIO, "HTTP lifecycle hook (%s) for Container in Pod failed with statuscode %ld",
                                    path ? path : "/", code);
        return 0;
}

/* Sleep up to MS, ending early when P's worker is told to stop or P's kill deadline
 * (when it is being killed) passes. */
static void pod_sleep(kubelet_pods *m, kubelet_pod *p, int64_t ms)
{
        int64_t end = kn_now_ms() + ms;

        pthread_mutex_lock(&m->lock);
        for (;;) {
                int64_t until = p->kill_deadline_ms && p->kill_deadline_ms < end ? p->kill_deadline_ms : end;
                struct timespec ts;
                if (p->stop || kn_now_ms() >= until)
                        break;
                ts = kn_deadline((long)(until - kn_now_ms()));
                pthread_cond_timedwait(&m->kill_cond, &m->lock, &ts);
        }
        pthread_mutex_unlock(&m->lock);
}

int kubelet_run_handler(kubelet *k, kubelet_pod *p, const cJSON *pod, const char *pod_ip, const cJSON *container,
                        const char *container_id, const cJSON *handler, int64_t timeout_s, kn_error *err)
{
        const cJSON *h;

        (void)pod;
        if ((h = cJSON_GetObjectItem(handler, "exec"))) {
                _cleanup_cjson_ cJSON *req = cJSON_CreateObject(), *resp = NULL;
                int r;
                cJSON_AddStringToObject(req, "container_id", container_id);
                cJSON_AddItemToObject(req, "cmd", cJSON_Duplicate(cJSON_GetObjectItem(h, "command"), true) ?: cJSON_CreateArray());
                cJSON_AddNumberToObject(req, "timeout", (double)timeout_s);
                r = cri_call_json(k->cri, false, "ExecSync", &runtime__v1__exec_sync_request__descriptor, req,
                                  (timeout_s + 10) * 1000, &resp, err);
                if (r < 0)
                        return r;
                if (cJSON_GetNumberValue(cJSON_GetObjectItem(resp, "exit_code")) != 0) {
                        const char *out = cJSON_GetStringValue(cJSON_GetObjectItem(resp, "stdout"));
                        return kn_error_set(err, -EIO, "command '%s' exited with %d: %s",
                                            cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(h, "command"), 0)) ?: "",
                                            (int)cJSON_GetNumberValue(cJSON_GetObjectItem(resp, "exit_code")), out ? out : "");
                }
                return 0;
        }
        if ((h = cJSON_GetObjectItem(handler, "httpGet")))
                return http_handler(h, pod_ip, container, timeout_s, err);
        if ((h = cJSON_GetObjectItem(handler, "sleep"))) {
                int64_t s = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(h, "seconds"));
                if (s > timeout_s)
                        s = timeout_s;
                if (s > 0)
                        pod_sleep(k->pods, p, s * 1000);
                return 0;
        }
        return kn_error_set(err, -EINVAL, "unknown lifecycle handler");
}
