/* SPDX-License-Identifier: Apache-2.0 */
/* `knode debug cri version|status|pods|containers|images`: the CRI client from the command
 * line, like crictl, one line per object. No API server needed. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>

#include "../core/log.h"
#include "../runtime/cri.h"
#include "applets.h"

static const char *sandbox_state(int s)
{
        return s == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY ? "Ready" : "NotReady";
}

static const char *container_state(int s)
{
        switch (s) {
        case RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED:
                return "Created";
        case RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING:
                return "Running";
        case RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED:
                return "Exited";
        default:
                return "Unknown";
        }
}

static int cri_version_cmd(cri_client *c, long timeout_ms, FILE *out, kn_error *err)
{
        _cleanup_cri_msg_ Runtime__V1__VersionResponse *v = NULL;
        int r = cri_version(c, timeout_ms, &v, err);

        if (r < 0)
                return r;
        fprintf(out, "Version:  %s\nRuntimeName:  %s\nRuntimeVersion:  %s\nRuntimeApiVersion:  %s\n", v->version,
                v->runtime_name, v->runtime_version, v->runtime_api_version);
        return 0;
}

static int cri_status_cmd(cri_client *c, long timeout_ms, FILE *out, kn_error *err)
{
        _cleanup_cri_msg_ Runtime__V1__StatusResponse *s = NULL;
        int r = cri_status(c, timeout_ms, &s, err);

        if (r < 0)
                return r;
        for (size_t i = 0; s->status && i < s->status->n_conditions; i++) {
                const Runtime__V1__RuntimeCondition *cd = s->status->conditions[i];
                fprintf(out, "%s %s%s%s%s%s\n", cd->type, cd->status ? "true" : "false", *cd->reason ? " " : "",
                        cd->reason, *cd->message ? ": " : "", cd->message);
        }
        for (size_t i = 0; i < s->n_runtime_handlers; i++)
                fprintf(out, "RuntimeHandler %s\n",
                        *s->runtime_handlers[i]->name ? s->runtime_handlers[i]->name : "(default)");
        return 0;
}

static int cri_pods_cmd(cri_client *c, long timeout_ms, FILE *out, kn_error *err)
{
        Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        _cleanup_cri_msg_ Runtime__V1__ListPodSandboxResponse *l = NULL;
        int r = cri_list_pod_sandbox(c, &req, timeout_ms, &l, err);

        if (r < 0)
                return r;
        for (size_t i = 0; i < l->n_items; i++) {
                const Runtime__V1__PodSandbox *p = l->items[i];
                fprintf(out, "%s %s %s/%s %s\n", p->id, sandbox_state(p->state),
                        p->metadata ? p->metadata->namespace_ : "", p->metadata ? p->metadata->name : "",
                        *p->runtime_handler ? p->runtime_handler : "-");
        }
        fprintf(out, "TOTAL %zu\n", l->n_items);
        return 0;
}

static int cri_containers_cmd(cri_client *c, long timeout_ms, FILE *out, kn_error *err)
{
        Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        _cleanup_cri_msg_ Runtime__V1__ListContainersResponse *l = NULL;
        int r = cri_list_containers(c, &req, timeout_ms, &l, err);

        if (r < 0)
                return r;
        for (size_t i = 0; i < l->n_containers; i++) {
                const Runtime__V1__Container *ct = l->containers[i];
                fprintf(out, "%s %s %s %s %s\n", ct->id, container_state(ct->state),
                        ct->metadata ? ct->metadata->name : "", ct->pod_sandbox_id, ct->image_ref);
        }
        fprintf(out, "TOTAL %zu\n", l->n_containers);
        return 0;
}

static int cri_images_cmd(cri_client *c, long timeout_ms, FILE *out, kn_error *err)
{
        Runtime__V1__ListImagesRequest req = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;
        _cleanup_cri_msg_ Runtime__V1__ListImagesResponse *l = NULL;
        int r = cri_list_images(c, &req, timeout_ms, &l, err);

        if (r < 0)
                return r;
        for (size_t i = 0; i < l->n_images; i++) {
                const Runtime__V1__Image *im = l->images[i];
                fprintf(out, "%s %s %" PRIu64 "\n", im->id, im->n_repo_tags ? im->repo_tags[0] : "<none>", im->size);
        }
        fprintf(out, "TOTAL %zu\n", l->n_images);
        return 0;
}

static const struct {
        const char *name;
        int (*run)(cri_client *c, long timeout_ms, FILE *out, kn_error *err);
} cri_cmds[] = {
        {"version", cri_version_cmd},       {"status", cri_status_cmd}, {"pods", cri_pods_cmd},
        {"containers", cri_containers_cmd}, {"images", cri_images_cmd},
};

/* --repeat/--parallel: the same call again on the one client, from several threads, with
 * the output of the first only; for checking connection reuse and multiplexing. */
typedef struct repeat {
        cri_client *c;
        int (*run)(cri_client *c, long timeout_ms, FILE *out, kn_error *err);
        long timeout_ms, n, interval_ms;
        FILE *out;
        int r;
        kn_error err;
} repeat;

static void *repeat_main(void *u)
{
        repeat *rp = u;

        for (long i = 0; i < rp->n && rp->r >= 0; i++) {
                if (rp->interval_ms > 0)
                        usleep((useconds_t)rp->interval_ms * 1000);
                rp->r = rp->run(rp->c, rp->timeout_ms, rp->out, &rp->err);
        }
        return NULL;
}

int debug_cri(const char *cmd, const char *runtime_endpoint, const char *image_endpoint, long timeout_ms,
              long repeat_n, long parallel, long interval_ms)
{
        int (*run)(cri_client *c, long timeout_ms, FILE *out, kn_error *err) = NULL;
        cri_client *c = NULL;
        kn_error err;
        int r;

        for (size_t i = 0; i < KN_ARRAY_SIZE(cri_cmds); i++)
                if (strcmp(cmd, cri_cmds[i].name) == 0)
                        run = cri_cmds[i].run;
        if (!run) {
                fprintf(stderr, "Error: unknown debug cri command \"%s\" (version, status, pods, containers, images)\n",
                        cmd);
                return 2;
        }
        if (parallel < 1 || parallel > 64 || repeat_n < 1) {
                fprintf(stderr, "Error: --parallel must be 1..64 and --repeat at least 1\n");
                return 2;
        }
        r = cri_client_new(runtime_endpoint, image_endpoint, timeout_ms, &c, &err);
        if (r >= 0)
                r = run(c, timeout_ms, stdout, &err);
        if (r >= 0 && (repeat_n > 1 || parallel > 1)) {
                FILE *null = fopen("/dev/null", "we");
                repeat rp[64];
                pthread_t t[64];
                int64_t t0 = kn_now_ms();
                long calls = parallel * (repeat_n - (parallel == 1));
                fflush(stdout);
                for (long i = 0; i < parallel; i++) {
                        rp[i] = (repeat){.c = c, .run = run, .timeout_ms = timeout_ms, .out = null,
                                         .interval_ms = interval_ms, .n = parallel == 1 ? repeat_n - 1 : repeat_n};
                        pthread_create(&t[i], NULL, repeat_main, &rp[i]);
                }
                for (long i = 0; i < parallel; i++) {
                        pthread_join(t[i], NULL);
                        if (rp[i].r < 0 && r >= 0) {
                                r = rp[i].r;
                                err = rp[i].err;
                        }
                }
                fclose(null);
                if (r >= 0)
                        fprintf(stderr, "%ld more calls from %ld threads in %" PRId64 " ms\n", calls, parallel,
                                kn_now_ms() - t0);
        }
        cri_client_free(c);
        if (r < 0) {
                kn_err("CRI %s against %s failed: %s", cmd, runtime_endpoint, err.msg);
                return 1;
        }
        return 0;
}
