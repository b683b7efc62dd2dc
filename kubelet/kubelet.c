/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet applet: configuration, the API connection, the node's own Node and Pod
 * informers, the node thread (node.c) and /healthz. */
#include <stdio.h>

#include "../core/signals.h"
#include "internal.h"
#include "logs.h"
#include "pods.h"
#include "probes.h"
#include "server.h"

const kn_applet_spec kubelet_spec = {
        .name = "kubelet",
        .usage = "kubelet (knode): the node agent. Registers the node, runs the pods bound to it\n"
                 "through a CRI runtime and reports their status.",
        .fields = kubelet_fields,
        .config_flag = "config",
        .api_version = KUBELET_CONFIG_API_VERSION,
        .kind = KUBELET_CONFIG_KIND,
};

int kubelet_new(int argc, char **argv, kubelet **ret)
{
        kn_applet_spec spec = kubelet_spec;
        kubelet *k = kn_calloc(1, sizeof(*k));
        int r;

        spec.n_fields = kubelet_n_fields;
        r = kn_applet_parse(&spec, argc, argv, &k->cfg, &k->common, NULL);
        if (r != KN_PARSE_CONTINUE) {
                kubelet_free(k);
                return r;
        }
        k->node_name = kn_node_name(k->cfg.hostname_override);
        pthread_mutex_init(&k->runtime_lock, NULL);
        k->start_ms = kn_now_ms();
        *ret = k;
        return KN_PARSE_CONTINUE;
}

const kubelet_config *kubelet_get_config(const kubelet *k) { return &k->cfg; }

static void healthz(void *u, const kn_http_request *req, kn_http_response *resp)
{
        (void)u, (void)req;
        kn_buf_printf(&resp->body, "ok");
}

static void node_seen(void *u, const cJSON *obj)
{
        kubelet *k = u;
        (void)obj;
        kn_v(2, "node %s is known to the API server", k->node_name);
}

static void pods_synced(void *u)
{
        kubelet *k = u;
        kn_info("pods bound to node %s: %zu", k->node_name, kn_informer_count(k->pod_informer));
}

/* /metrics/probes on the kubelet API */
static void probe_metrics(void *u, kn_buf *out)
{
        kubelet *k = u;
        if (k->pods && k->pods->probes)
                kubelet_probes_metrics(k->pods->probes, out);
}

/* A pod's managedFields are often its largest part and the kubelet never reads them. */
static void trim_pod(cJSON *obj)
{
        cJSON_DeleteItemFromObject(cJSON_GetObjectItem(obj, "metadata"), "managedFields");
}

/* The kubelet keeps Services only for service-link environment variables. */
static void trim_service(cJSON *obj)
{
        cJSON *spec = cJSON_GetObjectItem(obj, "spec"), *meta = cJSON_GetObjectItem(obj, "metadata"), *it, *next;

        cJSON_DeleteItemFromObject(obj, "status");
        for (it = meta ? meta->child : NULL; it; it = next) {
                next = it->next;
                if (strcmp(it->string, "name") && strcmp(it->string, "namespace") && strcmp(it->string, "resourceVersion") &&
                    strcmp(it->string, "uid"))
                        cJSON_Delete(cJSON_DetachItemViaPointer(meta, it));
        }
        for (it = spec ? spec->child : NULL; it; it = next) {
                next = it->next;
                if (strcmp(it->string, "clusterIP") && strcmp(it->string, "ports"))
                        cJSON_Delete(cJSON_DetachItemViaPointer(spec, it));
        }
}

int kubelet_start(kubelet *k, kn_env *env)
{
        _cleanup_free_ char *nodesel = kn_asprintf("metadata.name=%s", k->node_name);
        _cleanup_free_ char *podsel = kn_asprintf("spec.nodeName=%s", k->node_name);
        kn_informer_opts nopts = {.field_selector = nodesel};
        /* keys only: the pod manager keeps each pod's object, the informer need not too */
        kn_informer_opts popts = {.field_selector = podsel, .transform = trim_pod, .keys_only = true};
        kn_error err;
        int r;

        k->env = env;
        if (k->cfg.healthz_port > 0) {
                _cleanup_free_ char *addr = strchr(k->cfg.healthz_bind_address, ':')
                                                    ? kn_asprintf("[%s]:%lld", k->cfg.healthz_bind_address,
                                                                  (long long)k->cfg.healthz_port)
                                                    : kn_asprintf("%s:%lld", k->cfg.healthz_bind_address,
                                                                  (long long)k->cfg.healthz_port);
                r = kn_httpd_new(addr, &k->healthz, &err);
                if (r < 0) {
                        kn_err("failed to start the healthz server: %s", err.msg);
                        return r;
                }
                kn_httpd_route(k->healthz, "/healthz", healthz, k);
                kn_httpd_start(k->healthz);
        }
        r = cri_client_new(k->cfg.container_runtime_endpoint, k->cfg.image_service_endpoint,
                           (long)k->cfg.runtime_request_timeout, &k->cri, &err);
        if (r < 0) {
                kn_err("failed to set up the container runtime client: %s", err.msg);
                return r;
        }
        k->node_informer = kn_informers_get(env->informers, "v1", "nodes", NULL, &nopts);
        k->pod_informer = kn_informers_get(env->informers, "v1", "pods", NULL, &popts);
        k->svc_informer = kn_informers_get(env->informers, "v1", "services", NULL,
                                           &(kn_informer_opts){.transform = trim_service});
        kn_informer_add_handlers(k->node_informer, &(kn_informer_handlers){.on_add = node_seen, .userdata = k});
        kn_informer_add_handlers(k->pod_informer, &(kn_informer_handlers){.on_synced = pods_synced, .userdata = k});
        r = kubelet_pods_start(k);
        if (r < 0) {
                kn_err("failed to start the pod manager: %s", strerror(-r));
                return r;
        }
        if (kubelet_parse_quantity(k->cfg.container_log_max_size, &k->log_max_size) < 0) {
                kn_err("invalid containerLogMaxSize %s", k->cfg.container_log_max_size);
                return -EINVAL;
        }
        if (k->cfg.enable_server) {
                kubelet_server_opts so = {
                        .cfg = &k->cfg,
                        .node_name = k->node_name,
                        .api = env->api,
                        .cri = k->cri,
                        .pods = kubelet_pods_source(k),
                        .probe_metrics = probe_metrics,
                        .probe_metrics_userdata = k,
                };
                r = kubelet_server_start(&so, &k->server, &err);
                if (r < 0) {
                        kn_err("failed to start the kubelet server: %s", err.msg);
                        return r;
                }
        }
        kn_informer_start(k->node_informer);
        kn_informer_start(k->svc_informer);
        kn_informer_start(k->pod_informer);
        r = kubelet_node_start(k);
        if (r < 0) {
                kn_err("failed to start the node status thread: %s", strerror(-r));
                return r;
        }
        kn_info("kubelet %s (knode %s) started for node %s, API server %s", KN_KUBE_VERSION, kn_version_string,
                k->node_name, kn_api_server(env->api));
        return 0;
}

void kubelet_stop(kubelet *k)
{
        /* no informer may call into the pod manager once it is gone */
        if (k->pod_informer)
                kn_informer_stop(k->pod_informer);
        kubelet_server_free(TAKE_PTR(k->server));
        kubelet_node_stop(k);
        kubelet_pods_stop(k);
        cri_client_free(TAKE_PTR(k->cri));
        kn_httpd_free(TAKE_PTR(k->healthz));
}

void kubelet_runtime_get(kubelet *k, kubelet_runtime_state *ret)
{
        pthread_mutex_lock(&k->runtime_lock);
        *ret = k->runtime;
        pthread_mutex_unlock(&k->runtime_lock);
}

void kubelet_free(kubelet *k)
{
        if (!k)
                return;
        kubelet_stop(k);
        kn_fields_free(kubelet_fields, kubelet_n_fields, &k->cfg);
        kn_common_free(&k->common);
        free(k->node_name);
        pthread_mutex_destroy(&k->runtime_lock);
        free(k);
}

int kubelet_main(int argc, char **argv)
{
        kubelet *k = NULL;
        kn_env *env = NULL;
        kn_error err;
        int r;

        kn_signals_block();
        r = kubelet_new(argc - 1, argv + 1, &k);
        if (r != KN_PARSE_CONTINUE)
                return r;
        r = kn_env_new(k->cfg.kubeconfig, NULL, "kubelet", &env, &err);
        if (r < 0) {
                kn_err("failed to set up the API client: %s", err.msg);
                kubelet_free(k);
                return 1;
        }
        r = kubelet_start(k, env);
        if (r >= 0)
                kn_info("received signal %d, shutting down", kn_signals_wait());
        kubelet_stop(k);
        kn_env_free(env);
        kubelet_free(k);
        return r < 0 ? 1 : 0;
}
