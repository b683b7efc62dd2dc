/* SPDX-License-Identifier: Apache-2.0 */
/* The nonewprivs test image's program: installed setuid root, it prints the effective
 * uid it runs with, so a test sees whether no_new_privs kept the setuid bit from acting. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
        printf("Effective uid: %d\n", (int)geteuid());
        return 0;
}
