/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: what a kubelet API client controls before authorization and in the log
 * files a container writes. The input is a request head read through a socket
 * (kubelet_read_request), then its path, query and headers taken apart as the server
 * does (path segments, query values, PodLogOptions, authorization attributes); every
 * line of the input is also parsed as a CRI log line. Besides not crashing: a parsed
 * log line's content lies inside the line, and a timestamp prints and parses back to the
 * same instant. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "../../kubelet/auth.h"
#include "../../kubelet/http.h"
#include "../../kubelet/logs.h"

static void request(const uint8_t *data, size_t size)
{
        int sv[2];
        kubelet_conn c = {.stop_fd = -1};
        kubelet_request req;
        char *segs[8], *v;
        kubelet_authz_attrs at;
        kubelet_log_opts o;
        kn_error err;
        int n;

        if (size > 32768 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
                return;
        if (size && write(sv[1], data, size) != (ssize_t)size)
                abort();
        close(sv[1]);
        c.fd = sv[0];
        if (kubelet_read_request(&c, 16384, 1000, &req) == 0) {
                n = kubelet_path_split(req.path, segs, 8);
                for (int i = 0; i < n; i++)
                        free(segs[i]);
                for (size_t i = 0; i < 3; i++) {
                        free(kubelet_query_get(req.query, "command", i));
                        free(kubelet_query_get(req.query, "port", i));
                }
                (void)kubelet_log_opts_parse(req.query, 1700000000000000000LL, &o, &err);
                kubelet_authz_attributes(req.method, req.path, &at);
                if (at.n_subresources < 1 || at.n_subresources > 2)
                        abort();
                v = kubelet_header_get(req.headers, "Authorization");
                free(v);
                (void)kubelet_header_has_token(req.headers, "Connection", "upgrade");
                kubelet_request_free(&req);
        }
        kubelet_conn_close(&c);
}

static void log_lines(const uint8_t *data, size_t size)
{
        const char *p = (const char *)data, *end = p + size;

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
                kubelet_log_msg m;

                if (kubelet_log_parse_line(p, len, &m) == 0) {
                        char buf[48];
                        int64_t ns;
                        int off;
                        size_t k;

                        if (m.content < p || m.content + m.len > p + len)
                                abort();
                        k = kubelet_log_format_time(m.ts_ns, m.tz_offset_s, buf);
                        if (k >= sizeof(buf) || kubelet_log_parse_time(buf, k, &ns, &off) < 0 || ns != m.ts_ns ||
                            off != m.tz_offset_s) {
                                fprintf(stderr, "time does not round-trip: %.*s\n", (int)k, buf);
                                abort();
                        }
                }
                p += len;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        request(data, size);
        log_lines(data, size);
        return 0;
}
