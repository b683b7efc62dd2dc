/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet server's HTTP/1.1 plumbing: a connection (plain or TLS, non-blocking, every
 * wait also watching the server's stop eventfd), a bounded request head, responses whole
 * or chunked, query and header lookup, and TLS set-up (serving certificate, self-signed
 * when none is given, client CAs). */
#ifndef KUBELET_HTTP_H
#define KUBELET_HTTP_H

#include <openssl/ssl.h>

#include "../core/util.h"

typedef struct kubelet_conn {
        int fd;
        SSL *ssl;       /* NULL: plain */
        int stop_fd;    /* readable when the server stops; -1 none */
        char *in;       /* bytes read past the request head, served first */
        size_t in_len, in_off;
        char out[16384]; /* chunked output is gathered here */
        size_t out_len;
        bool chunked;
} kubelet_conn;

typedef struct kubelet_request {
        char method[16];
        char *head;          /* the request head, NUL-terminated, owned */
        size_t head_len;     /* bytes up to and with the blank line */
        char *path;          /* percent-encoded as received, without the query */
        const char *query;   /* "" when absent */
        const char *headers; /* into head: "Name: value\r\n" lines */
} kubelet_request;

/* Waits take TIMEOUT_MS (< 0: forever; 0: do not wait, -EAGAIN). Reads return the byte
 * count, 0 at end of stream, or -ETIMEDOUT, -ECANCELED (server stopping), -EIO. */
ssize_t kubelet_conn_read(kubelet_conn *c, void *buf, size_t n, int timeout_ms);
int kubelet_conn_write(kubelet_conn *c, const void *p, size_t n, int timeout_ms);
/* Set up TLS on an accepted connection and handshake. */
int kubelet_conn_tls_accept(kubelet_conn *c, SSL_CTX *ctx, int timeout_ms);
void kubelet_conn_close(kubelet_conn *c);

/* Read a request head of at most MAX bytes: -EFBIG past it, -EBADMSG malformed. */
int kubelet_read_request(kubelet_conn *c, size_t max, int timeout_ms, kubelet_request *ret);
void kubelet_request_free(kubelet_request *r);

/* The first value of header NAME (case-insensitive), trimmed, malloc'd; NULL if absent. */
char *kubelet_header_get(const char *headers, const char *name);
/* Whether a comma-separated header (Connection) lists TOKEN, case-insensitively. */
bool kubelet_header_has_token(const char *headers, const char *name, const char *token);
/* The INDEX-th value of query parameter NAME, percent-decoded ('+' is a space), malloc'd;
 * NULL if absent. */
char *kubelet_query_get(const char *query, const char *name, size_t index);
/* Percent-decode N bytes; -EINVAL on a bad escape or an embedded NUL. */
int kubelet_url_decode(const char *s, size_t n, bool plus_is_space, char **ret);
/* Split a path ("/exec/ns/pod/c") into at most MAX decoded segments; returns the count
 * or -EINVAL (bad escape, too many, empty segments). */
int kubelet_path_split(const char *path, char **ret_segs, size_t max);

const char *kubelet_status_text(int status);
/* A whole response, Connection: close. CTYPE NULL: text/plain; charset=utf-8. EXTRA is
 * more header lines ("Name: value\r\n") or NULL. */
int kubelet_respond(kubelet_conn *c, int status, const char *ctype, const char *extra, const char *body,
                    size_t len);
static inline int kubelet_respond_text(kubelet_conn *c, int status, const char *text)
{
        return kubelet_respond(c, status, NULL, NULL, text, strlen(text));
}
/* A streamed response, Transfer-Encoding: chunked. Writes are gathered until flush. */
int kubelet_stream_begin(kubelet_conn *c, int status, const char *ctype);
int kubelet_stream_write(kubelet_conn *c, const void *p, size_t n);
int kubelet_stream_flush(kubelet_conn *c);
int kubelet_stream_end(kubelet_conn *c);

/* The serving TLS context: CERT_FILE/KEY_FILE, or when both are NULL a self-signed pair
 * in CERT_DIR (kubelet.crt/kubelet.key, made when missing or unreadable: CN
 * NODE_NAME@unix-time, SANs the node name and the IPs of NODE_IPS, a comma list).
 * CLIENT_CA_FILE (may be NULL) lists the CAs client certificates are verified against;
 * the handshake asks for a certificate but does not require one. */
int kubelet_tls_ctx_new(const char *cert_file, const char *key_file, const char *cert_dir, const char *node_name,
                        const char *node_ips, const char *client_ca_file, SSL_CTX **ret, kn_error *err);
/* Write a self-signed certificate and key (RSA 2048, one year) for HOST to the files. */
int kubelet_tls_self_signed(const char *host, const char *ips, const char *cert_path, const char *key_path,
                            kn_error *err);

#endif
