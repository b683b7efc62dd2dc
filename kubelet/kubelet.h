/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KUBELET_H
#define KUBELET_H

#include "../core/applet.h"
#include "config.h"

typedef struct kubelet kubelet;

/* Parse flags and config. Returns KN_PARSE_CONTINUE with *ret set, or an exit status. */
int kubelet_new(int argc, char **argv, kubelet **ret);
const kubelet_config *kubelet_get_config(const kubelet *k);
int kubelet_start(kubelet *k, kn_env *env);
void kubelet_stop(kubelet *k);
void kubelet_free(kubelet *k);
int kubelet_main(int argc, char **argv);

extern const kn_applet_spec kubelet_spec;

#endif
