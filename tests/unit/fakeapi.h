/* SPDX-License-Identifier: Apache-2.0 */
/* For unit tests that script an API server: a kn_httpd on a free loopback port serving
 * HANDLER on /api and /apis paths, and a kn_api client for it (TOKEN may be NULL).
 * Include after cmocka.h. */
#ifndef KN_TEST_FAKEAPI_H
#define KN_TEST_FAKEAPI_H

#include <stdio.h>

#include "api.h"
#include "httpd.h"

static KN_UNUSED void fake_api_start(kn_http_handler handler, const char *token, kn_httpd **ret_srv,
                                     kn_api **ret_api)
{
        kn_kubeconfig kc = {.token = (char *)token};
        kn_error err;
        char url[64];

        assert_int_equal(kn_httpd_new("127.0.0.1:0", ret_srv, &err), 0);
        kn_httpd_route(*ret_srv, "/api", handler, NULL);
        kn_httpd_route(*ret_srv, "/api/", handler, NULL);
        kn_httpd_route(*ret_srv, "/apis/", handler, NULL);
        kn_httpd_start(*ret_srv);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", kn_httpd_port(*ret_srv));
        kc.server = url;
        assert_int_equal(kn_api_new(&kc,
                                    &(kn_api_opts){.max_response = 1 << 20, .timeout_ms = 5000,
                                                   .allow_insecure_credentials = true},
                                    ret_api, &err),
                         0);
}

static KN_UNUSED void fake_api_stop(kn_httpd *srv, kn_api *api)
{
        kn_api_free(api);
        kn_httpd_free(srv);
}

#endif
