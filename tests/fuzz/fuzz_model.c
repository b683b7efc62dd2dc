/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: hostile Services and EndpointSlices through kube-proxy's model and rules.
 * The input is a sequence of JSON objects separated by NUL bytes; each goes into one
 * model as a Service (it has "spec") or an EndpointSlice, an update or, when it
 * starts with '-', a delete. Then every Service's endpoints are merged and its rules
 * planned for both families, as a sync does. Everything must be freed (leaks fail). */
#include "../../proxy/model.h"
#include "../../proxy/rules.h"
#include "log.h"

#include <fcntl.h>

static void plan_all(const model *m)
{
        static const kn_addr node4 = {.family = AF_INET, .v4 = {0x0a63a8c0}}; /* 192.168.99.10 */
        const kn_cidr pods4[] = {{.addr = {.family = AF_INET, .v4 = {0x0000f40a}}, .prefix = 16}};
        const char *key;
        void *v;

        for (size_t it = 0; kn_hashmap_next(&m->services, &it, &key, &v);) {
                const model_service *s = v;
                for (int f = 0; f < 2; f++) {
                        int fam = f ? AF_INET6 : AF_INET;
                        rules_config rc = {.family = fam, .mark = 0x4000, .node_name = "node", .node_zone = "z",
                                           .cluster_cidrs = f ? NULL : pods4, .n_cluster_cidrs = f ? 0 : 1,
                                           .nodeport_all = true};
                        plan p;
                        if (!f)
                                rc.node_ip = node4;
                        for (size_t i = 0; i < s->n_ports && i < 16; i++) {
                                model_ep *eps = NULL;
                                model_endpoints(m, s, &s->ports[i], fam, &eps);
                                free(eps);
                        }
                        if (s->n_ports > 64)
                                continue; /* the plan's cost grows with ports: keep runs fast */
                        rules_service(&rc, m, s, &p);
                        plan_free(&p);
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static bool quiet;
        const char *p = (const char *)data, *end = p + size;
        model m;

        if (!quiet) {
                kn_log_set_verbosity(0);
                kn_log_set_fd(open("/dev/null", O_WRONLY | O_CLOEXEC)); /* every bad object logs */
                quiet = true;
        }
        model_init(&m, "node");
        for (int n = 0; p < end && n < 64; n++) {
                size_t len = strnlen(p, (size_t)(end - p));
                bool del = len && p[0] == '-';
                cJSON *o = cJSON_ParseWithLength(p + del, len - del);

                if (o) {
                        bool svc = cJSON_GetObjectItemCaseSensitive(o, "spec") != NULL;
                        if (svc && del)
                                model_service_delete(&m, o);
                        else if (svc)
                                model_service_update(&m, o);
                        else if (del)
                                model_slice_delete(&m, o);
                        else
                                model_slice_update(&m, o);
                        cJSON_Delete(o);
                }
                p += len + 1;
        }
        plan_all(&m);
        {
                kn_hashmap d = model_take_dirty(&m);
                kn_hashmap_clear(&d, NULL);
        }
        model_mark_all_dirty(&m);
        model_free(&m);
        return 0;
}
