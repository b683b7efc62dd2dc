/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet's probe manager: liveness, readiness and startup probes of running containers
 * (upstream pkg/kubelet/prober). It knows nothing of pod lifecycles: the pod worker tells it
 * which containers run, reads results back, and is called when a result changes.
 *
 * Threads: one small thread (128 KiB stack) per probe of a running container. It sleeps on
 * its own condition variable until the probe is due (or a startup probe succeeds, or it is
 * stopped), runs the probe with no lock held, records the result and sleeps again. Removal
 * never waits for a probe in flight: the worker is unlinked and marked stopped under the
 * manager lock, and the thread frees itself when its current probe returns (an HTTP or gRPC
 * probe in flight is woken and aborted at once). kubelet_probes_free() waits for every thread.
 *
 * Semantics are upstream's:
 *  - periodSeconds (default 10), timeoutSeconds (1), successThreshold (1; always 1 for
 *    liveness and startup), failureThreshold (3), initialDelaySeconds counted from the
 *    container's start (STARTED_WALL_MS).
 *  - A result changes only after successThreshold successes / failureThreshold failures in
 *    a row. Before that, readiness is Failure, liveness Success, startup Unknown.
 *  - Liveness and readiness run only once the startup probe (if any) has succeeded; the
 *    startup probe stops then. A liveness or startup probe that reaches Failure stops until
 *    the container is restarted (a new container ID), as the container will be killed.
 *    A probe that stopped for good ends its thread; its result stays.
 *  - A probe that cannot run (unknown named port, a runtime error other than a timeout) is
 *    retried up to 3 times, then that round is thrown away: the result does not move.
 *  - A new container ID resets every result.
 *  - First probe: when initialDelaySeconds have passed; for a container that was already
 *    running when the manager was made (a kubelet restart), after a random delay of up to
 *    periodSeconds if the manager is younger than that, so probes do not all fire at once.
 *    Then every periodSeconds. (Upstream ticks from the worker's creation and skips ticks
 *    during the initial delay; here the first probe comes right when the delay ends.)
 *
 * Handlers: exec (CRI ExecSync; exit code 0 = success, a timeout = failure), httpGet
 * (HTTP/HTTPS without certificate checks, no proxy, 2xx-3xx = success; redirects followed
 * to the same host name only, up to 10 requests; a redirect elsewhere is a success, as
 * upstream's "warning"; User-Agent kube-probe/MAJOR.MINOR, Accept any type; body read up
 * to 10 KiB), tcpSocket (connect within the timeout), grpc (grpc.health.v1.Health/Check over
 * h2c; SERVING = success). Sockets linger 1 s on close, as upstream's probe dialer. */
#ifndef KUBELET_PROBES_H
#define KUBELET_PROBES_H

#include "../core/util.h"

struct cri_client;

typedef enum { PROBE_LIVENESS, PROBE_READINESS, PROBE_STARTUP } probe_kind;
#define PROBE_KINDS 3
typedef enum { PROBE_UNKNOWN, PROBE_SUCCESS, PROBE_FAILURE } probe_result;

typedef struct kubelet_probes kubelet_probes;

/* Called from a probe thread with no probe lock held when a result changes, so the pod
 * worker can act (kill on liveness/startup Failure, update readiness). CONTAINER_ID tells
 * which instance: a callback can race with container_stopped()/pod_removed(), ignore stale
 * ones. It must not block for long; it may call any kubelet_probes_* function but _free. */
typedef void (*kubelet_probes_change_fn)(void *ud, const char *pod_uid, const char *container,
                                         const char *container_id, probe_kind kind, probe_result r);
/* Called (no probe lock held) after a probe succeeded with a warning, e.g. a redirect to
 * another host that was not followed; MSG is upstream's text. USERDATA is on_change's. */
typedef void (*kubelet_probes_warning_fn)(void *ud, const char *pod_uid, const char *container, probe_kind kind,
                                          const char *msg);

/* CRI (borrowed, may be NULL: exec probes then cannot run) must outlive the manager; exec
 * probes call ExecSync with the probe's timeout, the call's deadline being the client's
 * request timeout plus that. */
int kubelet_probes_new(struct cri_client *cri, kubelet_probes_change_fn on_change, void *ud,
                       kubelet_probes **ret);
/* Stops every worker and waits for their threads: HTTP, gRPC and TCP probes in flight end
 * at once; an exec probe ends with its CRI call, so at shutdown cancel the CRI client first
 * (cri_client_cancel). Accepts NULL. */
void kubelet_probes_free(kubelet_probes *p);
void kubelet_probes_set_warning_handler(kubelet_probes *p, kubelet_probes_warning_fn fn);

/* Start the probes of a container that runs, or keep them if CONTAINER_ID is the one already
 * known (a different ID resets everything). POD is the pod object (metadata.uid, .name,
 * .namespace); CONTAINER_SPEC is its entry in spec.containers (or spec.initContainers for a
 * sidecar): name, ports (for named probe ports) and liveness/readiness/startupProbe. POD_IP is
 * status.podIP (the default probe host). STARTED_WALL_MS is state.running.startedAt in
 * milliseconds since the epoch. Call it for every running container, with probes or not.
 * A probe that cannot run (no handler, a bad field, an unknown port name) is logged once and
 * kept: it errors each round, so readiness stays Failure. -EINVAL: no pod uid, container
 * name or CONTAINER_ID; -EAGAIN: no thread for a probe (its result never moves). */
int kubelet_probes_container_started(kubelet_probes *p, const cJSON *pod, const cJSON *container_spec,
                                     const char *container_id, const char *pod_ip, int64_t started_wall_ms);
/* The container is no longer running: its probes stop and its results are dropped. */
void kubelet_probes_container_stopped(kubelet_probes *p, const char *pod_uid, const char *container);
/* The pod is terminating (deletionTimestamp): liveness and startup become Success and stop,
 * so a container is not restarted while it shuts down; readiness goes on (upstream's
 * StopLivenessAndStartup). */
void kubelet_probes_stop_liveness_and_startup(kubelet_probes *p, const char *pod_uid);
/* Drop every probe of the pod. */
void kubelet_probes_pod_removed(kubelet_probes *p, const char *pod_uid);

/* The current result, or PROBE_UNKNOWN when the container has no probe of that kind. */
probe_result kubelet_probes_get(kubelet_probes *p, const char *pod_uid, const char *container, probe_kind kind);
/* containerStatuses[].started of a running container: no startup probe, or it succeeded. */
bool kubelet_probes_started(kubelet_probes *p, const char *pod_uid, const char *container);
/* containerStatuses[].ready of a running container: started, and no readiness probe or it
 * succeeded. A container never passed to container_started() counts as having no probes. */
bool kubelet_probes_ready(kubelet_probes *p, const char *pod_uid, const char *container);
/* The probe's terminationGracePeriodSeconds, to use instead of the pod's when killing the
 * container after that (liveness or startup) probe failed. -ENOENT: no such probe or not set. */
int kubelet_probes_termination_grace_period(kubelet_probes *p, const char *pod_uid, const char *container,
                                            probe_kind kind, int64_t *ret_seconds);

/* Prometheus text for /metrics/probes: prober_probe_total{container, namespace, pod, pod_uid,
 * probe_type, result} with result "successful", "failed" or "unknown" (a round thrown away
 * because the probe could not run; upstream does not count those), one series per result of
 * each probe of each container being probed; a container's series go when it stops. */
void kubelet_probes_metrics(kubelet_probes *p, kn_buf *out);

const char *probe_kind_name(probe_kind kind);     /* "Liveness", "Readiness", "Startup" */
const char *probe_result_name(probe_result r);    /* "unknown", "success", "failure" */

#endif
