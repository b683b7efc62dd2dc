/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet's view of its container runtime: CRI Version and Status, polled by the
 * node thread (upstream's updateRuntimeUp), and the pod CIDR handed to the runtime. */
#include <stdio.h>

#include "../runtime/msgjson.h"
#include "internal.h"

#define STATUS_TIMEOUT_MS 5000

static const cJSON *condition(const cJSON *status, const char *type)
{
        const cJSON *c;

        cJSON_ArrayForEach(c, kn_json_path(status, "status.conditions"))
                if (kn_streq(cJSON_GetStringValue(cJSON_GetObjectItem(c, "type")), type))
                        return c;
        return NULL;
}

void kubelet_runtime_poll(kubelet *k)
{
        _cleanup_cjson_ cJSON *req = cJSON_CreateObject(), *ver = NULL, *st = NULL;
        kubelet_runtime_state s = {0}, old;
        const cJSON *rc, *nc;
        kn_error err;

        kubelet_runtime_get(k, &old);
        s.known = true;
        if (cri_call_json(k->cri, false, "Version", &runtime__v1__version_request__descriptor, req, STATUS_TIMEOUT_MS,
                          &ver, &err) < 0 ||
            cri_call_json(k->cri, false, "Status", &runtime__v1__status_request__descriptor, req, STATUS_TIMEOUT_MS, &st,
                          &err) < 0) {
                snprintf(s.message, sizeof(s.message), "%s", err.msg);
        } else {
                snprintf(s.name, sizeof(s.name), "%s", cJSON_GetStringValue(cJSON_GetObjectItem(ver, "runtime_name")) ?: "");
                snprintf(s.version, sizeof(s.version), "%s",
                         cJSON_GetStringValue(cJSON_GetObjectItem(ver, "runtime_version")) ?: "");
                rc = condition(st, "RuntimeReady");
                nc = condition(st, "NetworkReady");
                s.runtime_ready = cJSON_IsTrue(cJSON_GetObjectItem(rc, "status"));
                s.network_ready = cJSON_IsTrue(cJSON_GetObjectItem(nc, "status"));
                if (!s.runtime_ready)
                        snprintf(s.message, sizeof(s.message), "RuntimeReady=false reason:%s message:%s",
                                 cJSON_GetStringValue(cJSON_GetObjectItem(rc, "reason")) ?: "",
                                 cJSON_GetStringValue(cJSON_GetObjectItem(rc, "message")) ?: "");
                else if (!s.network_ready)
                        snprintf(s.message, sizeof(s.message), "NetworkReady=false reason:%s message:%s",
                                 cJSON_GetStringValue(cJSON_GetObjectItem(nc, "reason")) ?: "",
                                 cJSON_GetStringValue(cJSON_GetObjectItem(nc, "message")) ?: "");
        }
        if (old.runtime_ready != s.runtime_ready || old.network_ready != s.network_ready || !old.known) {
                if (s.runtime_ready && s.network_ready)
                        kn_info("container runtime %s %s is ready", s.name, s.version);
                else
                        kn_warn("container runtime not ready: %s", s.message);
        }
        pthread_mutex_lock(&k->runtime_lock);
        k->runtime = s;
        pthread_mutex_unlock(&k->runtime_lock);
}
