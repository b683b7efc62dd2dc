/* SPDX-License-Identifier: Apache-2.0 */
/* Admission: whether the node takes a pod bound to it, with upstream's reasons
 * (PodOSNotSupported, SysctlForbidden, OutOfcpu/OutOfmemory/OutOfpods, NodeAffinity,
 * NodePorts, TaintToleration). Pure: the caller hands in the node and the pods already
 * admitted. */
#ifndef KUBELET_ADMIT_H
#define KUBELET_ADMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "resources.h"

typedef struct kubelet_admit_ctx {
        const char *node_name;
        const cJSON *node;          /* the Node (labels, taints); NULL: not known yet, not checked */
        int64_t allocatable[N_RES]; /* as in the Node's status */
        const cJSON *const *admitted; /* pods admitted before and still active */
        size_t n_admitted;
} kubelet_admit_ctx;

/* True if POD may run; else *RET_REASON and *RET_MESSAGE (upstream's, for the event; the
 * pod's status message is "Pod was rejected: " + it) are set and the caller frees them. */
bool kubelet_admit(const kubelet_admit_ctx *c, const cJSON *pod, char **ret_reason, char **ret_message);

/* A node selector term's requirements against LABELS (and the node's NAME for matchFields),
 * as upstream's nodeaffinity: exposed for tests. */
bool kubelet_node_selector_term_matches(const cJSON *term, const cJSON *labels, const char *name);

#endif
