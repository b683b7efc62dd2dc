/* SPDX-License-Identifier: Apache-2.0 */
/* TLS for the kubelet API: the serving certificate (given, or self-signed into the cert
 * dir as upstream does when tlsCertFile/tlsPrivateKeyFile are unset) and the client CA
 * bundle. The handshake requests a client certificate without requiring one; whether it
 * verified is read per connection by the authenticator (upstream's kubelet does the same:
 * a bad certificate is a 401, not a failed handshake). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "../core/log.h"
#include "http.h"

static void x509_freep(X509 **x) { X509_free(*x); }
static void pkey_freep(EVP_PKEY **k) { EVP_PKEY_free(*k); }

static const char *ssl_err(void)
{
        static __thread char buf[256];
        unsigned long e = ERR_get_error();
        if (!e)
                return "unknown error";
        ERR_error_string_n(e, buf, sizeof(buf));
        ERR_clear_error();
        return buf;
}

static int add_ext(X509 *x, int nid, const char *value)
{
        X509V3_CTX v3;
        X509_EXTENSION *ext;
        int ok;

        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
        if (!ext)
                return -EINVAL;
        ok = X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
        return ok ? 0 : -EINVAL;
}

/* Write DATA through a temporary file renamed into place, with MODE. */
static int write_pem(const char *path, mode_t mode, int (*writer)(BIO *, void *), void *obj, kn_error *err)
{
        _cleanup_free_ char *tmp = kn_asprintf("%s.tmp", path);
        BIO *bio;
        int fd, ok;

        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return kn_error_set(err, -errno, "failed to write %s: %s", tmp, strerror(errno));
        bio = BIO_new_fd(fd, BIO_CLOSE);
        ok = bio && writer(bio, obj);
        ok = BIO_flush(bio) == 1 && ok;
        BIO_free(bio);
        if (!ok || rename(tmp, path) < 0) {
                unlink(tmp);
                return kn_error_set(err, -EIO, "failed to write %s", path);
        }
        return 0;
}

static int write_cert(BIO *b, void *x) { return PEM_write_bio_X509(b, x); }
static int write_key(BIO *b, void *k) { return PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL); }

static bool is_ip(const char *s)
{
        unsigned char buf[16];
        return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

int kubelet_tls_self_signed(const char *host, const char *ips, const char *cert_path, const char *key_path,
                            kn_error *err)
{
        __attribute__((cleanup(pkey_freep))) EVP_PKEY *key = NULL;
        __attribute__((cleanup(x509_freep))) X509 *x = NULL;
        _cleanup_free_ char *cn = kn_asprintf("%s@%lld", host, (long long)time(NULL));
        kn_buf san = {0};
        unsigned char serial[16];
        BIGNUM *bn;
        X509_NAME *name;
        int r;

        key = EVP_RSA_gen(2048);
        x = X509_new();
        if (!key || !x)
                return kn_error_set(err, -ENOMEM, "failed to generate a key: %s", ssl_err());
        if (RAND_bytes(serial, sizeof(serial)) != 1)
                return kn_error_set(err, -EIO, "no random bytes: %s", ssl_err());
        serial[0] &= 0x7f;
        bn = BN_bin2bn(serial, sizeof(serial), NULL);
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
        BN_free(bn);
        X509_set_version(x, 2);
        X509_gmtime_adj(X509_getm_notBefore(x), -3600);
        X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
        X509_set_pubkey(x, key);
        name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
        X509_set_issuer_name(x, name);
        kn_buf_printf(&san, "%s:%s", is_ip(host) ? "IP" : "DNS", host);
        if (ips) {
                _cleanup_free_ char *list = kn_strdup(ips);
                char *save = NULL;
                for (char *ip = strtok_r(list, ", ", &save); ip; ip = strtok_r(NULL, ", ", &save))
                        if (is_ip(ip))
                                kn_buf_printf(&san, ",IP:%s", ip);
        }
        /* one self-signed certificate that is its own CA, so clients can trust the file */
        r = add_ext(x, NID_basic_constraints, "critical,CA:TRUE") < 0 ||
            add_ext(x, NID_key_usage, "critical,digitalSignature,keyEncipherment,keyCertSign") < 0 ||
            add_ext(x, NID_ext_key_usage, "serverAuth") < 0 || add_ext(x, NID_subject_alt_name, san.data) < 0;
        kn_buf_free(&san);
        if (r)
                return kn_error_set(err, -EINVAL, "failed to build the certificate: %s", ssl_err());
        if (!X509_sign(x, key, EVP_sha256()))
                return kn_error_set(err, -EINVAL, "failed to sign the certificate: %s", ssl_err());
        r = write_pem(key_path, 0600, write_key, key, err);
        if (r >= 0)
                r = write_pem(cert_path, 0644, write_cert, x, err);
        return r;
}

static int verify_later(int preverify, X509_STORE_CTX *ctx)
{
        (void)preverify, (void)ctx;
        return 1; /* the result stays in SSL_get_verify_result() for the authenticator */
}

int kubelet_tls_ctx_new(const char *cert_file, const char *key_file, const char *cert_dir, const char *node_name,
                        const char *node_ips, const char *client_ca_file, SSL_CTX **ret, kn_error *err)
{
        _cleanup_free_ char *gen_cert = NULL, *gen_key = NULL;
        SSL_CTX *ctx;
        int r;

        if ((cert_file && *cert_file) != (key_file && *key_file))
                return kn_error_set(err, -EINVAL, "tlsCertFile and tlsPrivateKeyFile must be given together");
        if (!cert_file || !*cert_file) {
                gen_cert = kn_asprintf("%s/kubelet.crt", cert_dir);
                gen_key = kn_asprintf("%s/kubelet.key", cert_dir);
                cert_file = gen_cert;
                key_file = gen_key;
                if (access(gen_cert, R_OK) < 0 || access(gen_key, R_OK) < 0) {
                        if (mkdir(cert_dir, 0755) < 0 && errno != EEXIST)
                                return kn_error_set(err, -errno, "failed to create the cert dir %s: %s", cert_dir,
                                                    strerror(errno));
                        r = kubelet_tls_self_signed(node_name, node_ips, gen_cert, gen_key, err);
                        if (r < 0)
                                return r;
                        kn_info("generated a self-signed serving certificate %s for %s", gen_cert, node_name);
                }
        }
        ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx)
                return kn_error_set(err, -ENOMEM, "SSL_CTX_new: %s", ssl_err());
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
        SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
        if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
                r = kn_error_set(err, -EINVAL, "failed to load the serving certificate %s: %s", cert_file, ssl_err());
                goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
                r = kn_error_set(err, -EINVAL, "failed to load the serving key %s: %s", key_file, ssl_err());
                goto fail;
        }
        if (client_ca_file && *client_ca_file) {
                STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(client_ca_file);
                if (!names || SSL_CTX_load_verify_locations(ctx, client_ca_file, NULL) != 1) {
                        sk_X509_NAME_pop_free(names, X509_NAME_free);
                        r = kn_error_set(err, -EINVAL, "failed to load the client CA file %s: %s", client_ca_file,
                                         ssl_err());
                        goto fail;
                }
                SSL_CTX_set_client_CA_list(ctx, names);
                SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_later);
                SSL_CTX_set_verify_depth(ctx, 8);
        }
        *ret = ctx;
        return 0;
fail:
        SSL_CTX_free(ctx);
        return r;
}
