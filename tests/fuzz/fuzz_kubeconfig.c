/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: kubeconfig parsing. */
#include "kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        kn_kubeconfig *kc = NULL;
        kn_error err;

        if (kn_kubeconfig_parse("fuzz", (const char *)data, size, "/x", NULL, &kc, &err) >= 0)
                kn_kubeconfig_free(kc);
        return 0;
}
