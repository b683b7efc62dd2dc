/* SPDX-License-Identifier: Apache-2.0 */
/* The exec probe's runner: CRI ExecSync (upstream pkg/probe/exec and the kubelet's
 * RunInContainer). */
#include "../runtime/cri.h"
#include "prober.h"

#include <stdio.h>

/* Stdout then stderr, as far as OUT holds, without trailing newlines. */
static void copy_output(const Runtime__V1__ExecSyncResponse *r, char *out, size_t outlen)
{
        size_t n = 0;
        const ProtobufCBinaryData *parts[] = {&r->stdout, &r->stderr};

        if (!outlen)
                return;
        for (size_t i = 0; i < KN_ARRAY_SIZE(parts); i++)
                for (size_t j = 0; j < parts[i]->len && n + 1 < outlen; j++) {
                        unsigned char ch = parts[i]->data[j];
                        out[n++] = ch == '\n' || ch == '\t' || (ch >= 0x20 && ch != 0x7f) ? (char)ch : '?';
                }
        while (n && out[n - 1] == '\n')
                n--;
        out[n] = '\0';
}

int probe_exec_cri(void *ud, const char *container_id, char *const *argv, long timeout_ms, int *ret_exit_code,
                   char *out, size_t outlen, kn_error *err)
{
        Runtime__V1__ExecSyncRequest req = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
        _cleanup_cri_msg_ Runtime__V1__ExecSyncResponse *resp = NULL;
        cri_client *cri = ud;
        size_t n = 0;
        int r;

        if (!cri)
                return kn_error_set(err, -EOPNOTSUPP, "no container runtime to exec in");
        while (argv[n])
                n++;
        req.container_id = (char *)container_id;
        req.cmd = (char **)argv;
        req.n_cmd = n;
        req.timeout = (timeout_ms + 999) / 1000;
        /* as upstream: the runtime enforces the probe's timeout; the call's deadline (0: the
         * client's request timeout plus req.timeout) is the backstop. DEADLINE_EXCEEDED from
         * either is -ETIMEDOUT. */
        r = cri_exec_sync(cri, &req, 0, &resp, err);
        if (r < 0)
                return r;
        copy_output(resp, out, outlen);
        *ret_exit_code = resp->exit_code;
        return 0;
}
