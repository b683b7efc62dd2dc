/* SPDX-License-Identifier: Apache-2.0 */
/* A container's environment, as upstream's makeEnvironmentVariables builds it: service
 * links, envFrom, env (value with $(VAR) expansion, fieldRef, resourceFieldRef,
 * configMapKeyRef, secretKeyRef), in that order, later names overriding earlier ones. */
#include <ctype.h>
#include <stdio.h>

#include "../core/kubeconfig.h"
#include "../core/quantity.h"
#include "podconfig.h"

#define MAX_ENV 10000

/* env is a JSON object name -> value (insertion order kept, duplicates replaced). */
static void env_set(cJSON *env, const char *name, const char *value)
{
        cJSON *old = cJSON_GetObjectItemCaseSensitive(env, name);

        if (old)
                cJSON_ReplaceItemViaPointer(env, old, cJSON_CreateString(value));
        else
                cJSON_AddStringToObject(env, name, value);
}

char *kubelet_expand_vars(const char *in, const cJSON *env)
{
        kn_buf out = {.max = 1 << 20};
        const char *p = in;

        while (*p) {
                if (p[0] == '$' && p[1] == '$') { /* escaped: $$ -> $ */
                        kn_buf_append(&out, "$", 1);
                        p += 2;
                } else if (p[0] == '$' && p[1] == '(') {
                        const char *end = strchr(p + 2, ')');
                        if (end) {
                                _cleanup_free_ char *name = kn_strndup(p + 2, (size_t)(end - p - 2));
                                const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(env, name));
                                if (v)
                                        kn_buf_append(&out, v, strlen(v));
                                else /* unknown references stay as they are */
                                        kn_buf_append(&out, p, (size_t)(end - p + 1));
                                p = end + 1;
                        } else {
                                kn_buf_append(&out, p, strlen(p));
                                break;
                        }
                } else {
                        kn_buf_append(&out, p, 1);
                        p++;
                }
        }
        kn_buf_append(&out, "", 1);
        return out.data;
}

/* GET a ConfigMap or Secret; -ENOENT when it does not exist. */
static int get_object(kubelet *k, const char *resource, const char *ns, const char *name, cJSON **ret,
                      kn_error *err)
{
        _cleanup_free_ char *path = kn_api_path("v1", resource, ns, name, NULL);
        kn_api_error aerr = {0};
        int r = kn_api_get(k->env->api, path, ret, &aerr);

        if (r == -ENOENT)
                return kn_error_set(err, r, "%s \"%s\" not found", strcmp(resource, "secrets") ? "configmap" : "secret",
                                    name);
        if (r < 0)
                return kn_error_set(err, r, "failed to get %s %s/%s: %s", resource, ns, name, aerr.e.msg);
        return 0;
}

/* A key's value from a ConfigMap (data or binaryData) or a Secret (base64 data). */
static char *object_value(const cJSON *obj, bool secret, const char *key)
{
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(obj, "data"), key));

        if (!v)
                return NULL;
        kn_blob b = {0};

        if (!secret)
                return kn_strdup(v);
        if (kn_base64_decode(v, &b) < 0)
                return NULL;
        return b.data;
}

/* A fieldRef's value; pod and host IPs come from the sandbox and the node, since the
 * pod's status may not show them yet when its first container starts. */
static const char *field_value(kubelet *k, const cJSON *pod, const char *pod_ip, const char *path, char *buf,
                               size_t len)
{
        const char *v = NULL;
        char ip4[64], ip6[64];

        if (!strcmp(path, "status.podIP") || !strcmp(path, "status.podIPs")) {
                v = pod_ip && *pod_ip ? pod_ip : cJSON_GetStringValue((cJSON *)kn_json_path(pod, "status.podIP"));
        } else if (!strcmp(path, "status.hostIP") || !strcmp(path, "status.hostIPs")) {
                kubelet_node_ips(k, ip4, ip6);
                v = ip4;
        } else if (!strcmp(path, "spec.nodeName") || !strcmp(path, "spec.serviceAccountName") ||
                   !strcmp(path, "metadata.name") || !strcmp(path, "metadata.namespace") ||
                   !strcmp(path, "metadata.uid"))
                v = cJSON_GetStringValue((cJSON *)kn_json_path(pod, path));
        else if (!strncmp(path, "metadata.labels['", 17) || !strncmp(path, "metadata.annotations['", 22)) {
                bool labels = path[9] == 'l';
                const char *key = path + (labels ? 17 : 22);
                size_t klen = strlen(key);
                if (klen >= 2 && !strcmp(key + klen - 2, "']")) {
                        _cleanup_free_ char *k = kn_strndup(key, klen - 2);
                        v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                                (cJSON *)kn_json_path(pod, labels ? "metadata.labels" : "metadata.annotations"), k));
                        snprintf(buf, len, "%s", v ? v : "");
                        return buf;
                }
        }
        snprintf(buf, len, "%s", v ? v : "");
        return buf;
}

/* resourceFieldRef: limits.cpu, requests.memory, … with a divisor; a missing limit is the
 * node's allocatable, as upstream. */
static char *resource_value(kubelet *k, const cJSON *pod, const cJSON *container, const cJSON *ref)
{
        const char *res = cJSON_GetStringValue(cJSON_GetObjectItem(ref, "resource"));
        const char *div = cJSON_GetStringValue(cJSON_GetObjectItem(ref, "divisor"));
        const char *cname = cJSON_GetStringValue(cJSON_GetObjectItem(ref, "containerName"));
        const cJSON *c = container, *it;
        kn_quantity q, d;
        int64_t qm = 0, dm = 1000;
        bool cpu, have = false;
        char buf[64];

        if (!res)
                return kn_strdup("");
        if (cname && *cname) {
                cJSON_ArrayForEach(it, kn_json_path(pod, "spec.containers"))
                        if (kn_streq(cJSON_GetStringValue(cJSON_GetObjectItem(it, "name")), cname))
                                c = it;
        }
        cpu = strstr(res, "cpu") != NULL;
        {
                const char *dot = strchr(res, '.');
                _cleanup_free_ char *section = dot ? kn_strndup(res, (size_t)(dot - res)) : NULL;
                const char *v = dot ? cJSON_GetStringValue(cJSON_GetObjectItem(
                                              cJSON_GetObjectItem(cJSON_GetObjectItem(c, "resources"), section), dot + 1))
                                    : NULL;
                have = v && kn_quantity_parse(v, &q) >= 0;
                if (have)
                        qm = kn_quantity_milli_value(&q);
        }
        if (!have) {
                kubelet_node_resources nr;
                kubelet_node_resources_get(k, &nr);
                /* an unset limit is the node's allocatable; an unset request is 0 */
                if (!strncmp(res, "requests.", 9))
                        qm = 0;
                else if (cpu)
                        qm = nr.allocatable[RES_CPU];
                else if (strstr(res, "ephemeral-storage"))
                        qm = nr.allocatable[RES_EPHEMERAL] * 1000;
                else
                        qm = nr.allocatable[RES_MEMORY] * 1000;
        }
        if (div && kn_quantity_parse(div, &d) >= 0)
                dm = kn_quantity_milli_value(&d);
        if (dm <= 0)
                dm = 1000;
        /* ceil(value / divisor), as upstream's ExtractContainerResourceValue */
        snprintf(buf, sizeof(buf), "%lld", (long long)((qm + dm - 1) / dm));
        return kn_strdup(buf);
}

static void service_env(kubelet *k, const cJSON *pod, cJSON *env)
{
        const cJSON *links = kn_json_path(pod, "spec.enableServiceLinks");

        kubelet_service_env(k, cJSON_GetStringValue((cJSON *)kn_json_path(pod, "metadata.namespace")),
                            !links || cJSON_IsTrue(links), env);
}

int kubelet_container_env(kubelet *k, const cJSON *pod, const cJSON *container, const char *pod_ip, cJSON **ret,
                          kn_error *err)
{
        _cleanup_cjson_ cJSON *env = cJSON_CreateObject();
        const char *ns = cJSON_GetStringValue((cJSON *)kn_json_path(pod, "metadata.namespace"));
        const cJSON *it;
        char buf[512];
        int r;

        service_env(k, pod, env);
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(container, "envFrom")) {
                const cJSON *cm = cJSON_GetObjectItem(it, "configMapRef"), *sec = cJSON_GetObjectItem(it, "secretRef");
                const cJSON *ref = cm ? cm : sec, *kv;
                const char *prefix = cJSON_GetStringValue(cJSON_GetObjectItem(it, "prefix"));
                const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(ref, "name"));
                bool optional = cJSON_IsTrue(cJSON_GetObjectItem(ref, "optional"));
                _cleanup_cjson_ cJSON *obj = NULL;
                if (!ref || !name)
                        continue;
                r = get_object(k, cm ? "configmaps" : "secrets", ns, name, &obj, err);
                if (r == -ENOENT && optional)
                        continue;
                if (r < 0)
                        return r;
                cJSON_ArrayForEach(kv, cJSON_GetObjectItem(obj, "data")) {
                        _cleanup_free_ char *key = kn_asprintf("%s%s", prefix ? prefix : "", kv->string);
                        _cleanup_free_ char *v = object_value(obj, sec != NULL, kv->string);
                        if (cJSON_GetArraySize(env) >= MAX_ENV)
                                return kn_error_set(err, -E2BIG, "too many environment variables");
                        env_set(env, key, v ? v : "");
                }
        }
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(container, "env")) {
                const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(it, "name"));
                const cJSON *vf = cJSON_GetObjectItem(it, "valueFrom");
                const char *value = cJSON_GetStringValue(cJSON_GetObjectItem(it, "value"));
                _cleanup_free_ char *v = NULL;
                if (!name)
                        continue;
                if (cJSON_GetArraySize(env) >= MAX_ENV)
                        return kn_error_set(err, -E2BIG, "too many environment variables");
                if (!vf) {
                        v = kubelet_expand_vars(value ? value : "", env);
                } else if (cJSON_GetObjectItem(vf, "fieldRef")) {
                        const char *fp = cJSON_GetStringValue((cJSON *)kn_json_path(vf, "fieldRef.fieldPath"));
                        v = kn_strdup(field_value(k, pod, pod_ip, fp ? fp : "", buf, sizeof(buf)));
                } else if (cJSON_GetObjectItem(vf, "resourceFieldRef")) {
                        v = resource_value(k, pod, container, cJSON_GetObjectItem(vf, "resourceFieldRef"));
                } else {
                        const cJSON *ref = cJSON_GetObjectItem(vf, "configMapKeyRef");
                        bool secret = !ref;
                        _cleanup_cjson_ cJSON *obj = NULL;
                        const char *oname, *key;
                        bool optional;
                        if (!ref)
                                ref = cJSON_GetObjectItem(vf, "secretKeyRef");
                        if (!ref)
                                continue;
                        oname = cJSON_GetStringValue(cJSON_GetObjectItem(ref, "name"));
                        key = cJSON_GetStringValue(cJSON_GetObjectItem(ref, "key"));
                        optional = cJSON_IsTrue(cJSON_GetObjectItem(ref, "optional"));
                        r = get_object(k, secret ? "secrets" : "configmaps", ns, oname ? oname : "", &obj, err);
                        if (r == -ENOENT && optional)
                                continue;
                        if (r < 0)
                                return r;
                        v = object_value(obj, secret, key ? key : "");
                        if (!v && !(cJSON_IsString(cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "binaryData"), key))))
                        {
                                if (optional)
                                        continue;
                                return kn_error_set(err, -ENOENT, "couldn't find key %s in %s %s/%s", key ? key : "",
                                                    secret ? "Secret" : "ConfigMap", ns, oname);
                        }
                        if (!v)
                                v = kn_strdup("");
                }
                env_set(env, name, v);
        }
        *ret = TAKE_PTR(env);
        return 0;
}

struct svc_env_ctx {
        const char *ns;
        bool links;
        cJSON *env;
        bool have_kubernetes;
};

static void add_service_vars(const cJSON *svc, cJSON *env)
{
        const char *name = kubelet_pod_str(svc, "metadata.name");
        const char *ip = kubelet_pod_str(svc, "spec.clusterIP");
        const cJSON *ports = kn_json_path(svc, "spec.ports"), *p;
        char var[512], val[320], up[256];
        int i = 0;

        if (!name || !ip || !*ip || !strcmp(ip, "None") || cJSON_GetArraySize(ports) == 0)
                return;
        snprintf(up, sizeof(up), "%s", name);
        for (char *c = up; *c; c++)
                *c = *c == '-' ? '_' : (char)toupper((unsigned char)*c);
        snprintf(var, sizeof(var), "%s_SERVICE_HOST", up);
        env_set(env, var, ip);
        cJSON_ArrayForEach(p, ports) {
                const char *pname = cJSON_GetStringValue(cJSON_GetObjectItem(p, "name"));
                const char *proto = cJSON_GetStringValue(cJSON_GetObjectItem(p, "protocol"));
                int port = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(p, "port"));
                char lproto[16], uproto[16], hostport[128];
                snprintf(uproto, sizeof(uproto), "%s", proto ? proto : "TCP");
                for (size_t j = 0; j <= strlen(uproto); j++)
                        lproto[j] = (char)tolower((unsigned char)uproto[j]);
                snprintf(hostport, sizeof(hostport), strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, port);
                snprintf(val, sizeof(val), "%d", port);
                if (i == 0) {
                        snprintf(var, sizeof(var), "%s_SERVICE_PORT", up);
                        env_set(env, var, val);
                }
                if (pname && *pname) {
                        char upn[128];
                        snprintf(upn, sizeof(upn), "%s", pname);
                        for (char *c = upn; *c; c++)
                                *c = *c == '-' ? '_' : (char)toupper((unsigned char)*c);
                        snprintf(var, sizeof(var), "%s_SERVICE_PORT_%s", up, upn);
                        env_set(env, var, val);
                }
                if (i == 0) {
                        snprintf(var, sizeof(var), "%s_PORT", up);
                        snprintf(val, sizeof(val), "%s://%s", lproto, hostport);
                        env_set(env, var, val);
                }
                snprintf(var, sizeof(var), "%s_PORT_%d_%s", up, port, uproto);
                snprintf(val, sizeof(val), "%s://%s", lproto, hostport);
                env_set(env, var, val);
                snprintf(var, sizeof(var), "%s_PORT_%d_%s_PROTO", up, port, uproto);
                env_set(env, var, lproto);
                snprintf(var, sizeof(var), "%s_PORT_%d_%s_PORT", up, port, uproto);
                snprintf(val, sizeof(val), "%d", port);
                env_set(env, var, val);
                snprintf(var, sizeof(var), "%s_PORT_%d_%s_ADDR", up, port, uproto);
                env_set(env, var, ip);
                i++;
        }
}

static int svc_env_visit(void *u, const char *key, const cJSON *svc)
{
        struct svc_env_ctx *c = u;
        const char *ns = kubelet_pod_str(svc, "metadata.namespace");

        (void)key;
        if (c->links && kn_streq(ns, c->ns)) {
                add_service_vars(svc, c->env);
                if (kn_streq(kubelet_pod_str(svc, "metadata.name"), "kubernetes"))
                        c->have_kubernetes = true;
        }
        return 0;
}

void kubelet_service_env(kubelet *k, const char *ns, bool links, cJSON *env)
{
        struct svc_env_ctx c = {.ns = ns, .links = links, .env = env};

        if (!k->svc_informer)
                return;
        if (links)
                kn_informer_foreach(k->svc_informer, svc_env_visit, &c);
        if (!c.have_kubernetes) {
                _cleanup_cjson_ cJSON *master = kn_informer_get(k->svc_informer, "default", "kubernetes");
                if (master)
                        add_service_vars(master, env);
        }
}
