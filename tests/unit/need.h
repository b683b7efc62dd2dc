/* SPDX-License-Identifier: Apache-2.0 */
/* A test whose prerequisite (root, a private network namespace, a tool) is missing is
 * skipped on a developer's machine and FAILS in CI (CI=true): a skip is a silent pass.
 * Include after <cmocka.h>. */
#ifndef TESTS_UNIT_NEED_H
#define TESTS_UNIT_NEED_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static inline bool in_ci(void)
{
        const char *ci = getenv("CI");
        return ci && *ci && strcmp(ci, "false") != 0 && strcmp(ci, "0") != 0;
}

/* Skip (or fail in CI) unless HAVE; WHAT says what is missing. */
#define need(have, what)                                                                       \
        do {                                                                                   \
                if (!(have)) {                                                                 \
                        if (in_ci())                                                           \
                                fail_msg("%s is missing, and CI=true: failing, not skipping", \
                                         (what));                                              \
                        skip();                                                                \
                }                                                                              \
        } while (0)

#endif
