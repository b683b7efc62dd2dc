/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PROXY_H
#define PROXY_H

#include "../core/applet.h"
#include "config.h"

typedef struct proxy proxy;

int proxy_new(int argc, char **argv, proxy **ret);
const proxy_config *proxy_get_config(const proxy *p);
int proxy_start(proxy *p, kn_env *env);
void proxy_stop(proxy *p);
void proxy_free(proxy *p);
int proxy_main(int argc, char **argv);

extern const kn_applet_spec proxy_spec;

#endif
