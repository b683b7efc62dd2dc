/* SPDX-License-Identifier: Apache-2.0 */
/* The typed CRI calls: each one is cri_call() with its method name and types. */
#include "cri.h"

#define CRI_CALL(fn, image, Method, Req, Resp)                                                       \
        int cri_##fn(cri_client *c, const Runtime__V1__##Req *req, long timeout_ms,                 \
                     Runtime__V1__##Resp **ret, kn_error *err)                                       \
        {                                                                                            \
                return cri_call(c, image, #Method, &req->base, NULL, timeout_ms, (ProtobufCMessage **)ret, \
                                err);                                                                \
        }

/* RuntimeService */
CRI_CALL(update_runtime_config, false, UpdateRuntimeConfig, UpdateRuntimeConfigRequest, UpdateRuntimeConfigResponse)
CRI_CALL(run_pod_sandbox, false, RunPodSandbox, RunPodSandboxRequest, RunPodSandboxResponse)
CRI_CALL(stop_pod_sandbox, false, StopPodSandbox, StopPodSandboxRequest, StopPodSandboxResponse)
CRI_CALL(remove_pod_sandbox, false, RemovePodSandbox, RemovePodSandboxRequest, RemovePodSandboxResponse)
CRI_CALL(pod_sandbox_status, false, PodSandboxStatus, PodSandboxStatusRequest, PodSandboxStatusResponse)
CRI_CALL(list_pod_sandbox, false, ListPodSandbox, ListPodSandboxRequest, ListPodSandboxResponse)
CRI_CALL(create_container, false, CreateContainer, CreateContainerRequest, CreateContainerResponse)
CRI_CALL(start_container, false, StartContainer, StartContainerRequest, StartContainerResponse)
CRI_CALL(remove_container, false, RemoveContainer, RemoveContainerRequest, RemoveContainerResponse)
CRI_CALL(list_containers, false, ListContainers, ListContainersRequest, ListContainersResponse)
CRI_CALL(container_status, false, ContainerStatus, ContainerStatusRequest, ContainerStatusResponse)
CRI_CALL(update_container_resources, false, UpdateContainerResources, UpdateContainerResourcesRequest,
         UpdateContainerResourcesResponse)
CRI_CALL(reopen_container_log, false, ReopenContainerLog, ReopenContainerLogRequest, ReopenContainerLogResponse)
CRI_CALL(exec, false, Exec, ExecRequest, ExecResponse)
CRI_CALL(attach, false, Attach, AttachRequest, AttachResponse)
CRI_CALL(port_forward, false, PortForward, PortForwardRequest, PortForwardResponse)
CRI_CALL(container_stats, false, ContainerStats, ContainerStatsRequest, ContainerStatsResponse)
CRI_CALL(list_container_stats, false, ListContainerStats, ListContainerStatsRequest, ListContainerStatsResponse)
CRI_CALL(pod_sandbox_stats, false, PodSandboxStats, PodSandboxStatsRequest, PodSandboxStatsResponse)
CRI_CALL(list_pod_sandbox_stats, false, ListPodSandboxStats, ListPodSandboxStatsRequest,
         ListPodSandboxStatsResponse)

/* ImageService */
CRI_CALL(list_images, true, ListImages, ListImagesRequest, ListImagesResponse)
CRI_CALL(image_status, true, ImageStatus, ImageStatusRequest, ImageStatusResponse)
CRI_CALL(remove_image, true, RemoveImage, RemoveImageRequest, RemoveImageResponse)

static long status_timeout(long timeout_ms) { return timeout_ms > 0 ? timeout_ms : CRI_STATUS_TIMEOUT_MS; }

int cri_version(cri_client *c, long timeout_ms, Runtime__V1__VersionResponse **ret, kn_error *err)
{
        Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;

        req.version = (char *)"0.1.0";
        return cri_call(c, false, "Version", &req.base, NULL, status_timeout(timeout_ms), (ProtobufCMessage **)ret,
                        err);
}

int cri_status(cri_client *c, long timeout_ms, Runtime__V1__StatusResponse **ret, kn_error *err)
{
        Runtime__V1__StatusRequest req = RUNTIME__V1__STATUS_REQUEST__INIT;

        req.verbose = false;
        return cri_call(c, false, "Status", &req.base, NULL, status_timeout(timeout_ms), (ProtobufCMessage **)ret,
                        err);
}

int cri_runtime_config(cri_client *c, long timeout_ms, Runtime__V1__RuntimeConfigResponse **ret, kn_error *err)
{
        Runtime__V1__RuntimeConfigRequest req = RUNTIME__V1__RUNTIME_CONFIG_REQUEST__INIT;

        return cri_call(c, false, "RuntimeConfig", &req.base, NULL, status_timeout(timeout_ms),
                        (ProtobufCMessage **)ret, err);
}

int cri_image_fs_info(cri_client *c, long timeout_ms, Runtime__V1__ImageFsInfoResponse **ret, kn_error *err)
{
        Runtime__V1__ImageFsInfoRequest req = RUNTIME__V1__IMAGE_FS_INFO_REQUEST__INIT;

        return cri_call(c, true, "ImageFsInfo", &req.base, NULL, timeout_ms, (ProtobufCMessage **)ret, err);
}

/* Calls that take their own time: 0 means the client's default plus that time, as
 * upstream's CRI client does it. */
static long plus_seconds(cri_client *c, long timeout_ms, int64_t seconds)
{
        if (timeout_ms > 0)
                return timeout_ms;
        timeout_ms = cri_client_default_timeout(c);
        if (seconds > 0 && seconds < 100LL * 365 * 24 * 3600)
                timeout_ms += (long)(seconds * 1000);
        return timeout_ms;
}

int cri_stop_container(cri_client *c, const Runtime__V1__StopContainerRequest *req, long timeout_ms,
                       Runtime__V1__StopContainerResponse **ret, kn_error *err)
{
        return cri_call(c, false, "StopContainer", &req->base, NULL, plus_seconds(c, timeout_ms, req->timeout),
                        (ProtobufCMessage **)ret, err);
}

int cri_exec_sync(cri_client *c, const Runtime__V1__ExecSyncRequest *req, long timeout_ms,
                  Runtime__V1__ExecSyncResponse **ret, kn_error *err)
{
        return cri_call(c, false, "ExecSync", &req->base, NULL, plus_seconds(c, timeout_ms, req->timeout),
                        (ProtobufCMessage **)ret, err);
}

int cri_pull_image(cri_client *c, const Runtime__V1__PullImageRequest *req, long timeout_ms,
                   Runtime__V1__PullImageResponse **ret, kn_error *err)
{
        return cri_call(c, true, "PullImage", &req->base, NULL, timeout_ms > 0 ? timeout_ms : CRI_PULL_TIMEOUT_MS,
                        (ProtobufCMessage **)ret, err);
}
