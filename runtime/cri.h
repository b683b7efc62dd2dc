/* SPDX-License-Identifier: Apache-2.0 */
/* CRI v1 client: RuntimeService and ImageService over gRPC on the runtime's unix socket.
 * It knows nothing of the kubelet.
 *
 * Messages are protobuf-c's C types generated at build time from CRI's own api.proto
 * (k8s.io/cri-api, see scripts/cri-proto.sh) into build/gen/runtime/api.pb-c.h: build a
 * request with its *__INIT macro (Runtime__V1__ListContainersRequest r =
 * RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT), pass it, and free the response with
 * cri_msg_free() or a _cleanup_cri_msg_ variable.
 *
 * One client holds one HTTP/2 connection per socket, multiplexed across calls and threads:
 * an I/O thread drives every call; a caller blocks only on its own call, so a long
 * PullImage never holds up a ListContainers from another thread. Every call has a
 * deadline (sent as grpc-timeout too). Responses are bounded (CRI_MAX_RESPONSE).
 *
 * Errors: the return value is a negative errno and *err (may be NULL) carries the message,
 * "rpc error: code = NotFound desc = ..." as upstream's kubelet shows it. gRPC codes map
 * as NOT_FOUND -ENOENT, DEADLINE_EXCEEDED -ETIMEDOUT (also a local deadline), UNAVAILABLE
 * -ECONNREFUSED (also: cannot connect to the socket), UNIMPLEMENTED -EOPNOTSUPP,
 * INVALID_ARGUMENT -EINVAL, ALREADY_EXISTS -EEXIST, PERMISSION_DENIED -EACCES,
 * RESOURCE_EXHAUSTED -ENOSPC, CANCELLED -ECANCELED (also cri_client_cancel), others -EIO.
 * Transport: -ECONNRESET (connection lost mid-call), -EFBIG (response over the bound),
 * -EBADMSG (malformed message or frame), -EPROTO (not a gRPC answer). */
#ifndef CRI_H
#define CRI_H

/* GNU C predefines `linux`; CRI messages have fields of that name. */
#undef linux
#include <runtime/api.pb-c.h>

#include "../core/util.h"

#define CRI_DEFAULT_TIMEOUT_MS (2 * 60 * 1000) /* --runtime-request-timeout */
#define CRI_STATUS_TIMEOUT_MS (10 * 1000)      /* Version, Status, RuntimeConfig when 0 */
#define CRI_PULL_TIMEOUT_MS (60 * 60 * 1000)   /* PullImage when 0 (upstream sets none) */
#define CRI_MAX_RESPONSE (16u << 20)           /* as upstream's kubelet: 16 MiB */

typedef struct cri_client cri_client;

/* ENDPOINTs are "unix:///run/containerd/containerd.sock" (a bare absolute path is taken
 * too). IMAGE_ENDPOINT NULL or "" means the runtime's. DEFAULT_TIMEOUT_MS 0 means
 * CRI_DEFAULT_TIMEOUT_MS. Nothing is connected yet: the first call connects. */
int cri_client_new(const char *runtime_endpoint, const char *image_endpoint, long default_timeout_ms,
                   cri_client **ret, kn_error *err);
/* Fail every call in flight and every later one with -ECANCELED (for shutdown: cancel,
 * join the threads that call, then free). */
void cri_client_cancel(cri_client *c);
/* No call may be in progress. Accepts NULL. */
void cri_client_free(cri_client *c);
/* The deadline a call with timeout_ms 0 gets. */
long cri_client_default_timeout(const cri_client *c);

/* Free a response (any message protobuf-c unpacked). Accepts NULL. */
static inline void cri_msg_free(void *msg)
{
        if (msg)
                protobuf_c_message_free_unpacked(msg, NULL);
}
static inline void cri_msg_freep(void *p) { cri_msg_free(*(void **)p); }
#define _cleanup_cri_msg_ __attribute__((cleanup(cri_msg_freep)))

/* The generic unary call: METHOD ("ListContainers") of RuntimeService, or of ImageService
 * when IMAGE_SERVICE. REQ must be the method's input type (-EINVAL otherwise); RESP_DESC
 * may be NULL (the method's output type, from the proto). TIMEOUT_MS 0 = the client's
 * default. *RET_RESP (may be NULL: the response is dropped) is set only on success. */
int cri_call(cri_client *c, bool image_service, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, long timeout_ms, ProtobufCMessage **ret_resp,
             kn_error *err);

/* Typed wrappers: the same contract; RET may be NULL. */

/* RuntimeService */
/* VersionRequest.version = "0.1.0", as upstream's kubelet sends. */
int cri_version(cri_client *c, long timeout_ms, Runtime__V1__VersionResponse **ret, kn_error *err);
/* StatusRequest.verbose = false. */
int cri_status(cri_client *c, long timeout_ms, Runtime__V1__StatusResponse **ret, kn_error *err);
int cri_runtime_config(cri_client *c, long timeout_ms, Runtime__V1__RuntimeConfigResponse **ret, kn_error *err);
int cri_update_runtime_config(cri_client *c, const Runtime__V1__UpdateRuntimeConfigRequest *req, long timeout_ms,
                              Runtime__V1__UpdateRuntimeConfigResponse **ret, kn_error *err);
int cri_run_pod_sandbox(cri_client *c, const Runtime__V1__RunPodSandboxRequest *req, long timeout_ms,
                        Runtime__V1__RunPodSandboxResponse **ret, kn_error *err);
int cri_stop_pod_sandbox(cri_client *c, const Runtime__V1__StopPodSandboxRequest *req, long timeout_ms,
                         Runtime__V1__StopPodSandboxResponse **ret, kn_error *err);
int cri_remove_pod_sandbox(cri_client *c, const Runtime__V1__RemovePodSandboxRequest *req, long timeout_ms,
                           Runtime__V1__RemovePodSandboxResponse **ret, kn_error *err);
int cri_pod_sandbox_status(cri_client *c, const Runtime__V1__PodSandboxStatusRequest *req, long timeout_ms,
                           Runtime__V1__PodSandboxStatusResponse **ret, kn_error *err);
int cri_list_pod_sandbox(cri_client *c, const Runtime__V1__ListPodSandboxRequest *req, long timeout_ms,
                         Runtime__V1__ListPodSandboxResponse **ret, kn_error *err);
int cri_create_container(cri_client *c, const Runtime__V1__CreateContainerRequest *req, long timeout_ms,
                         Runtime__V1__CreateContainerResponse **ret, kn_error *err);
int cri_start_container(cri_client *c, const Runtime__V1__StartContainerRequest *req, long timeout_ms,
                        Runtime__V1__StartContainerResponse **ret, kn_error *err);
/* timeout_ms 0: the default plus req->timeout (the grace period, seconds). */
int cri_stop_container(cri_client *c, const Runtime__V1__StopContainerRequest *req, long timeout_ms,
                       Runtime__V1__StopContainerResponse **ret, kn_error *err);
int cri_remove_container(cri_client *c, const Runtime__V1__RemoveContainerRequest *req, long timeout_ms,
                         Runtime__V1__RemoveContainerResponse **ret, kn_error *err);
int cri_list_containers(cri_client *c, const Runtime__V1__ListContainersRequest *req, long timeout_ms,
                        Runtime__V1__ListContainersResponse **ret, kn_error *err);
int cri_container_status(cri_client *c, const Runtime__V1__ContainerStatusRequest *req, long timeout_ms,
                         Runtime__V1__ContainerStatusResponse **ret, kn_error *err);
int cri_update_container_resources(cri_client *c, const Runtime__V1__UpdateContainerResourcesRequest *req,
                                   long timeout_ms, Runtime__V1__UpdateContainerResourcesResponse **ret,
                                   kn_error *err);
int cri_reopen_container_log(cri_client *c, const Runtime__V1__ReopenContainerLogRequest *req, long timeout_ms,
                             Runtime__V1__ReopenContainerLogResponse **ret, kn_error *err);
/* timeout_ms 0: the default plus req->timeout (seconds). */
int cri_exec_sync(cri_client *c, const Runtime__V1__ExecSyncRequest *req, long timeout_ms,
                  Runtime__V1__ExecSyncResponse **ret, kn_error *err);
int cri_exec(cri_client *c, const Runtime__V1__ExecRequest *req, long timeout_ms, Runtime__V1__ExecResponse **ret,
             kn_error *err);
int cri_attach(cri_client *c, const Runtime__V1__AttachRequest *req, long timeout_ms,
               Runtime__V1__AttachResponse **ret, kn_error *err);
int cri_port_forward(cri_client *c, const Runtime__V1__PortForwardRequest *req, long timeout_ms,
                     Runtime__V1__PortForwardResponse **ret, kn_error *err);
int cri_container_stats(cri_client *c, const Runtime__V1__ContainerStatsRequest *req, long timeout_ms,
                        Runtime__V1__ContainerStatsResponse **ret, kn_error *err);
int cri_list_container_stats(cri_client *c, const Runtime__V1__ListContainerStatsRequest *req, long timeout_ms,
                             Runtime__V1__ListContainerStatsResponse **ret, kn_error *err);
int cri_pod_sandbox_stats(cri_client *c, const Runtime__V1__PodSandboxStatsRequest *req, long timeout_ms,
                          Runtime__V1__PodSandboxStatsResponse **ret, kn_error *err);
int cri_list_pod_sandbox_stats(cri_client *c, const Runtime__V1__ListPodSandboxStatsRequest *req,
                               long timeout_ms, Runtime__V1__ListPodSandboxStatsResponse **ret, kn_error *err);

/* ImageService */
int cri_list_images(cri_client *c, const Runtime__V1__ListImagesRequest *req, long timeout_ms,
                    Runtime__V1__ListImagesResponse **ret, kn_error *err);
int cri_image_status(cri_client *c, const Runtime__V1__ImageStatusRequest *req, long timeout_ms,
                     Runtime__V1__ImageStatusResponse **ret, kn_error *err);
/* timeout_ms 0: CRI_PULL_TIMEOUT_MS. */
int cri_pull_image(cri_client *c, const Runtime__V1__PullImageRequest *req, long timeout_ms,
                   Runtime__V1__PullImageResponse **ret, kn_error *err);
int cri_remove_image(cri_client *c, const Runtime__V1__RemoveImageRequest *req, long timeout_ms,
                     Runtime__V1__RemoveImageResponse **ret, kn_error *err);
int cri_image_fs_info(cri_client *c, long timeout_ms, Runtime__V1__ImageFsInfoResponse **ret, kn_error *err);

#endif
