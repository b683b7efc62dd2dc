/* SPDX-License-Identifier: Apache-2.0 */
/* knode's own version, in one object that the Makefile rebuilds when the git state
 * changes (every other object stays as it is). */
#include "applet.h"

const char kn_version_string[] = KN_VERSION;
