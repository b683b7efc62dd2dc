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
CRI_CALL(stop_container, false, StopContainer, StopContainerRequest, StopContainerResponse)
CRI_CALL(remove_container, false, RemoveContainer, RemoveContainerRequest, RemoveContainerResponse)
CRI_CALL(list_containers, false, ListContainers, ListContainersRequest, ListContainersResponse)
CRI_CALL(container_status, false, ContainerStatus, ContainerStatusRequest, ContainerStatusResponse)
CRI_CALL(update_container_resources, false, UpdateContainerResources, UpdateContainerResourcesRequest,
         UpdateContainerResourcesResponse)
CRI_CALL(reopen_container_log, false, ReopenContainerLog, ReopenContainerLogRequest, ReopenContainerLogResponse)
CRI_CALL(exec_sync, false, ExecSync, ExecSyncRequest, ExecSyncResponse)
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
CRI_CALL(pull_image, true, PullImage, PullImageRequest, PullImageResponse)
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
