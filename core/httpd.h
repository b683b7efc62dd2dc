/* SPDX-License-Identifier: Apache-2.0 */
/* A small HTTP/1.1 server for /healthz and /metrics: one thread polls every connection
 * at once (up to 128; an idle or slow client never delays the others), one request per
 * connection, bounded request size and exchange time (5 s). Handlers run on that thread:
 * they must answer from state at hand and never wait (no lock held across a sync). */
#ifndef KN_HTTPD_H
#define KN_HTTPD_H

#include "util.h"

typedef struct kn_httpd kn_httpd;

typedef struct kn_http_response {
        int status;
        const char *content_type; /* default text/plain; charset=utf-8 */
        kn_buf body;
        char extra_headers[512];  /* "Name: value\r\n" lines */
} kn_http_response;

typedef struct kn_http_request {
        const char *method;
        const char *path;    /* without the query string */
        const char *query;   /* "" when absent */
        const char *headers; /* raw header block, "Name: value\r\n" lines */
} kn_http_request;

/* Fills RESP (status defaults to 200). */
typedef void (*kn_http_handler)(void *userdata, const kn_http_request *req, kn_http_response *resp);

/* ADDR is "host:port", "[v6]:port" or ":port" (all addresses). Port 0 picks one. */
int kn_httpd_new(const char *addr, kn_httpd **ret, kn_error *err);
/* Exact path match, or prefix match when PATH ends with '/'. */
void kn_httpd_route(kn_httpd *h, const char *path, kn_http_handler fn, void *userdata);
int kn_httpd_start(kn_httpd *h);
int kn_httpd_port(const kn_httpd *h);
void kn_httpd_free(kn_httpd *h); /* stops the thread */

/* Split "host:port" into a sockaddr (numeric hosts only). */
int kn_parse_hostport(const char *addr, void *ret_sockaddr_storage, unsigned *ret_len);

#endif
