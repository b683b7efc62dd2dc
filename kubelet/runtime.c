/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet's view of its container runtime. */
#include "internal.h"

void kubelet_runtime_poll(kubelet *k)
{
        (void)k; /* the CRI client arrives with runtime/ */
}
