/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KN_APPLETS_H
#define KN_APPLETS_H

int all_main(int argc, char **argv);
int debug_main(int argc, char **argv);

#endif
