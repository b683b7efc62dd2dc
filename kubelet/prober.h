/* SPDX-License-Identifier: Apache-2.0 */
/* Inside the probe manager: one probe's parsed spec, the handlers that run it once
 * (upstream pkg/probe/{exec,http,tcp,grpc}), and the threshold logic. Used by probes.c and
 * the unit tests only. */
#ifndef KUBELET_PROBER_H
#define KUBELET_PROBER_H

#include "probes.h"

#define PROBE_MAX_BODY (10 * 1024)   /* response bytes read, as upstream */
#define PROBE_MAX_REDIRECTS 10
#define PROBE_MAX_RETRIES 3          /* runs of a probe that errors, per round */
#define PROBE_MSG_MAX 256
#define PROBE_MAX_ARGS 256           /* exec command words */
#define PROBE_MAX_HEADERS 64

typedef enum { PROBE_EXEC, PROBE_HTTP, PROBE_TCP, PROBE_GRPC } probe_handler;

typedef struct probe_header {
        char *name, *value;
} probe_header;

typedef struct probe_spec {
        probe_handler handler;
        char *invalid; /* non-NULL: why the probe cannot run (it errors each round) */
        int64_t initial_delay_s, timeout_s, period_s, termination_grace_s; /* grace -1: unset */
        int success_threshold, failure_threshold;
        /* exec */
        char **argv; /* NULL-terminated */
        size_t argc;
        /* httpGet, tcpSocket, grpc */
        char *host;       /* NULL: the pod IP */
        int port;         /* 0: unresolved, see INVALID */
        bool https;
        char *path;
        probe_header *headers;
        size_t n_headers;
        char *service;    /* grpc */
} probe_spec;

/* Parse a Probe object; CONTAINER gives the named ports. Never fails: a probe that cannot
 * run (no handler, a bad field, an unknown port name) says why in INVALID. */
probe_spec *probe_spec_parse(const cJSON *probe, const cJSON *container, probe_kind kind);
void probe_spec_free(probe_spec *s);

/* Runs an exec probe: 0 and *RET_EXIT_CODE (and the command's output, cut to OUTLEN, in OUT)
 * when the command ran, -ETIMEDOUT when it did not finish within TIMEOUT_MS, another -errno
 * when it could not run. */
typedef int (*probe_exec_fn)(void *ud, const char *container_id, char *const *argv, long timeout_ms,
                             int *ret_exit_code, char *out, size_t outlen, kn_error *err);
/* The default runner: CRI ExecSync; UD is the struct cri_client. */
int probe_exec_cri(void *ud, const char *container_id, char *const *argv, long timeout_ms, int *ret_exit_code,
                   char *out, size_t outlen, kn_error *err);
/* Replace the exec runner for probes started from now on (tests; the default is CRI ExecSync). */
void kubelet_probes_set_exec(kubelet_probes *p, probe_exec_fn fn, void *ud);

/* One run of a probe. >= 0: *RET is PROBE_SUCCESS or PROBE_FAILURE and MSG says why;
 * -errno: the probe could not run (MSG says why) and its result is thrown away. STOP (may be
 * NULL) is polled: when it becomes true an HTTP/gRPC probe ends with -ECANCELED. CANCEL_FD
 * (or -1) becoming readable ends a TCP probe the same way. */
typedef struct probe_run {
        const probe_spec *spec;
        const char *pod_ip;
        const char *container_id;
        probe_exec_fn exec;
        void *exec_ud;
        const volatile bool *stop;
        int cancel_fd;
        void *multi; /* CURLM from probe_multi_new(), or NULL: curl_easy_perform */
} probe_run;
int probe_run_once(const probe_run *r, probe_result *ret, char *msg, size_t msglen);
/* A success whose message starts so is upstream's probe.Warning (a redirect to another
 * host, not followed): it counts as success and is reported as a ProbeWarning event. */
#define PROBE_WARNING_PREFIX "Probe terminated redirects"
int probe_http(const probe_run *r, probe_result *ret, char *msg, size_t msglen);
int probe_tcp(const probe_run *r, probe_result *ret, char *msg, size_t msglen);
int probe_grpc(const probe_run *r, probe_result *ret, char *msg, size_t msglen);

/* A curl multi handle for a worker's HTTP and gRPC probes, its fds all O_CLOEXEC (libcurl
 * 7.88 makes a wake-up socket pair without the flag in every multi handle, and
 * curl_easy_perform() makes a multi handle each time). probe_multi_wakeup() ends a probe in
 * flight on it (it then sees STOP). */
void *probe_multi_new(void);
void probe_multi_wakeup(void *multi);
void probe_multi_free(void *multi);

/* The "kube-probe/1.36" User-Agent. */
const char *probe_user_agent(void);

/* Threshold logic of one probe (upstream worker.doProbe). */
typedef struct probe_state {
        probe_result result; /* what is reported */
        probe_result last;   /* the last run's result */
        int run;             /* how many runs in a row gave LAST */
        bool on_hold;        /* liveness/startup reached Failure: wait for a new container */
} probe_state;
void probe_state_init(probe_state *st, probe_kind kind);
/* Record one run's RAW result (SUCCESS or FAILURE); true when st->result changed. */
bool probe_state_record(probe_state *st, probe_kind kind, int success_threshold, int failure_threshold,
                        probe_result raw);

#endif
