/* DTLS-SRTP endpoints on OpenSSL 3 memory BIOs: see dtls.h for the contract.
 *
 * Reads go through a plain memory BIO holding exactly one datagram at a time. Writes go through
 * our own BIO, which packs the records OpenSSL writes during one call into as few datagrams as
 * the MTU allows and sends them when the call returns. OpenSSL packs a flight's first
 * transmission itself, but it retransmits a flight (and, once connected, answers a repeated
 * client Finished) one record per datagram: five datagrams for a client's certificate flight, all
 * of which must arrive, which under 20% loss made the handshake take many seconds. A memory BIO
 * would glue records together without regard to the MTU (OpenSSL 3.0 has no datagram mem BIO). */
#include "media/dtls.h"
#include "media/sdp.h"

_Static_assert(DC__DTLS_FP_LEN == DC_SDP_FINGERPRINT_LEN &&
                   DC__DTLS_FP_TEXT_LEN == DC_SDP_FINGERPRINT_TEXT,
               "one fingerprint text format for DTLS and SDP");

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "common/util.h"
#include "dcall/errors.h"

/* Order is our preference when we are the server: GCM has the stronger tag and is the cheaper
 * of the two with the libsrtp build we use. */
#define DC__DTLS_SRTP_PROFILES "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80"
/* ECDSA first (our certificate); the RSA ones matter only if we are the client of an RSA peer. */
#define DC__DTLS_CIPHERS                                                                           \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"                                 \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384"
#define DC__DTLS_TIMER_FIRST_US 250000u
#define DC__DTLS_TIMER_MAX_US 1000000u
#define DC__DTLS_CERT_DAYS 365

struct dc__dtls_ctx {
    SSL_CTX *ssl_ctx;
    BIO_METHOD *out_method;
    uint8_t fp[DC__DTLS_FP_LEN];
    char fp_text[DC__DTLS_FP_TEXT_LEN];
};

struct dc__dtls {
    SSL *ssl;
    BIO *rbio; /* owned by ssl */
    enum dc__dtls_role role;
    enum dc__dtls_state state;
    int err;
    size_t mtu;
    dc__dtls_send_fn send;
    void *user;
    uint8_t remote_fp[DC__DTLS_FP_LEN];
    struct dc__srtp_keys keys; /* valid once CONNECTED */
    size_t out_len;            /* records waiting in out[] for the end of the call */
    uint8_t out[DC__DTLS_MTU];
};

static void log_ssl_errors(const char *what)
{
    unsigned long e;
    char buf[256];
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        DC_DEBUG("dtls", "%s: %s", what, buf);
    }
}

/* --- the write BIO --- */

static void out_flush(dc__dtls *d)
{
    if (d->out_len && d->send)
        d->send(d->user, d->out, d->out_len);
    d->out_len = 0;
}

/* Each write is whole records (OpenSSL never splits a record across writes), so records can
 * share a datagram up to the MTU (RFC 6347 4.1.1). */
static int out_write(BIO *b, const char *data, int len)
{
    dc__dtls *d = BIO_get_data(b);
    if (len <= 0 || !d)
        return len;
    size_t n = (size_t)len;
    if (d->out_len + n > d->mtu)
        out_flush(d);
    if (n > d->mtu || n > sizeof d->out) { /* cannot pack: as OpenSSL wrote it */
        if (d->send)
            d->send(d->user, (const uint8_t *)data, n);
        return len;
    }
    memcpy(d->out + d->out_len, data, n);
    d->out_len += n;
    return len;
}

static long out_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH: /* OpenSSL flushes after each retransmitted message: we send at the
                            end of the call instead (out_flush), records packed */
        return 1;
    case BIO_CTRL_DGRAM_QUERY_MTU:
        return DC__DTLS_MTU;
    case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD: /* link MTU is already the DTLS payload
                                             budget */
    case BIO_CTRL_WPENDING:
    case BIO_CTRL_PENDING:
    default:
        return 0;
    }
}

static int out_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static int out_destroy(BIO *b)
{
    BIO_set_data(b, NULL);
    return 1;
}

static BIO_METHOD *out_method_new(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "dcall-dtls-out");
    if (!m)
        return NULL;
    if (!BIO_meth_set_write(m, out_write) || !BIO_meth_set_ctrl(m, out_ctrl) ||
        !BIO_meth_set_create(m, out_create) || !BIO_meth_set_destroy(m, out_destroy)) {
        BIO_meth_free(m);
        return NULL;
    }
    return m;
}

/* --- context --- */

/* We check the peer's certificate against its SDP fingerprint after the
 * handshake; asking for it (SSL_VERIFY_PEER) is what makes a browser send one
 * at all. */
static int verify_accept(int ok, X509_STORE_CTX *store)
{
    (void)ok;
    (void)store;
    return 1;
}

static X509 *self_signed_cert(EVP_PKEY *pkey)
{
    X509 *x = X509_new();
    uint64_t serial;
    if (!x || RAND_bytes((unsigned char *)&serial, sizeof(serial)) != 1)
        goto fail;
    serial &= INT64_MAX; /* positive, as RFC 5280 wants */
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_set_version(x, X509_VERSION_3) ||
        !ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -86400L) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 86400L * DC__DTLS_CERT_DAYS) ||
        !X509_set_pubkey(x, pkey) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"dcall", -1,
                                    -1, 0) ||
        !X509_set_issuer_name(x, name) || X509_sign(x, pkey, EVP_sha256()) <= 0)
        goto fail;
    return x;
fail:
    X509_free(x);
    return NULL;
}

static int ctx_configure(SSL_CTX *c, X509 *cert, EVP_PKEY *pkey)
{
    if (!SSL_CTX_set_min_proto_version(c, DTLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(c, DTLS1_2_VERSION) ||
        SSL_CTX_use_certificate(c, cert) != 1 || SSL_CTX_use_PrivateKey(c, pkey) != 1 ||
        SSL_CTX_check_private_key(c) != 1 || SSL_CTX_set_cipher_list(c, DC__DTLS_CIPHERS) != 1 ||
        SSL_CTX_set1_groups_list(c, "X25519:P-256:P-384") != 1)
        return DC_EDTLS;
    /* Unlike everything else here, this one returns 0 on success. */
    if (SSL_CTX_set_tlsext_use_srtp(c, DC__DTLS_SRTP_PROFILES) != 0)
        return DC_EDTLS;
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_accept);
    SSL_CTX_set_options(c, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    return 0;
}

int dc__dtls_ctx_new(dc__dtls_ctx **out)
{
    if (!out)
        return DC_EINVAL;
    *out = NULL;
    dc__dtls_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return DC_ENOMEM;
    int rc = DC_EDTLS;
    unsigned int fplen = 0;
    ERR_clear_error();
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *cert = pkey ? self_signed_cert(pkey) : NULL;
    ctx->ssl_ctx = cert ? SSL_CTX_new(DTLS_method()) : NULL;
    ctx->out_method = out_method_new();
    if (!ctx->ssl_ctx || !ctx->out_method)
        goto done;
    if ((rc = ctx_configure(ctx->ssl_ctx, cert, pkey)) != 0)
        goto done;
    rc = DC_EDTLS;
    if (X509_digest(cert, EVP_sha256(), ctx->fp, &fplen) != 1 || fplen != DC__DTLS_FP_LEN)
        goto done;
    dc__sdp_fingerprint_format(ctx->fp_text, ctx->fp);
    rc = 0;
done:
    X509_free(cert); /* the SSL_CTX holds its own references */
    EVP_PKEY_free(pkey);
    if (rc != 0) {
        log_ssl_errors("dtls context");
        dc__dtls_ctx_free(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

void dc__dtls_ctx_free(dc__dtls_ctx *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    BIO_meth_free(ctx->out_method);
    free(ctx);
}

const char *dc__dtls_ctx_fingerprint(const dc__dtls_ctx *ctx)
{
    return ctx->fp_text;
}

const uint8_t *dc__dtls_ctx_fingerprint_raw(const dc__dtls_ctx *ctx)
{
    return ctx->fp;
}

int dc__dtls_fingerprint_parse(const char *text, uint8_t out[DC__DTLS_FP_LEN])
{
    return out ? dc__sdp_fingerprint_parse(text, out) : DC_ESDP; /* one parser for both */
}

/* --- endpoint --- */

/* First retransmission after 250 ms rather than OpenSSL's 1 s: a lost first
 * flight would otherwise delay the call's audio by a full second. Doubles up to
 * 4 s. */
static unsigned int timer_cb(SSL *ssl, unsigned int prev_us)
{
    (void)ssl;
    if (prev_us == 0)
        return DC__DTLS_TIMER_FIRST_US;
    return prev_us >= DC__DTLS_TIMER_MAX_US / 2 ? DC__DTLS_TIMER_MAX_US : prev_us * 2;
}

int dc__dtls_new(dc__dtls_ctx *ctx, enum dc__dtls_role role,
                 const uint8_t remote_fp[DC__DTLS_FP_LEN], dc__dtls_send_fn send, void *user,
                 dc__dtls **out)
{
    if (!out)
        return DC_EINVAL;
    *out = NULL;
    if (!ctx || !remote_fp || !send || (role != DC__DTLS_SERVER && role != DC__DTLS_CLIENT))
        return DC_EINVAL;
    dc__dtls *d = calloc(1, sizeof(*d));
    if (!d)
        return DC_ENOMEM;
    d->role = role;
    d->state = DC__DTLS_NEW;
    d->mtu = DC__DTLS_MTU;
    d->send = send;
    d->user = user;
    memcpy(d->remote_fp, remote_fp, DC__DTLS_FP_LEN);
    ERR_clear_error();
    d->ssl = SSL_new(ctx->ssl_ctx);
    BIO *rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new(ctx->out_method);
    if (!d->ssl || !rbio || !wbio) {
        BIO_free(rbio);
        BIO_free(wbio);
        log_ssl_errors("dtls new");
        dc__dtls_free(d);
        return DC_ENOMEM;
    }
    BIO_set_mem_eof_return(rbio, -1); /* empty means "wait for more", not EOF */
    BIO_set_data(wbio, d);
    SSL_set_bio(d->ssl, rbio, wbio);
    d->rbio = rbio;
    DTLS_set_timer_cb(d->ssl, timer_cb);
    if (role == DC__DTLS_SERVER)
        SSL_set_accept_state(d->ssl);
    else
        SSL_set_connect_state(d->ssl);
    *out = d;
    return 0;
}

void dc__dtls_free(dc__dtls *d)
{
    if (!d)
        return;
    SSL_free(d->ssl);
    OPENSSL_cleanse(&d->keys, sizeof(d->keys));
    free(d);
}

int dc__dtls_set_mtu(dc__dtls *d, size_t mtu)
{
    if (!d || mtu < 256 || mtu > DC__DTLS_MTU || d->state != DC__DTLS_NEW)
        return DC_EINVAL;
    d->mtu = mtu;
    return 0;
}

int dc__dtls_set_srtp_profile(dc__dtls *d, enum dc__srtp_profile only)
{
    const char *name = only == DC__SRTP_AEAD_AES_128_GCM    ? "SRTP_AEAD_AES_128_GCM"
                       : only == DC__SRTP_AES128_CM_SHA1_80 ? "SRTP_AES128_CM_SHA1_80"
                                                            : NULL;
    if (!d || !name || d->state != DC__DTLS_NEW)
        return DC_EINVAL;
    if (SSL_set_tlsext_use_srtp(d->ssl, name) != 0) /* 0 on success, like the CTX call */
        return DC_EDTLS;
    return 0;
}

static int fail(dc__dtls *d, int err, const char *why)
{
    log_ssl_errors(why);
    DC_WARN("dtls", "handshake failed (%s): %s", why, dc_err_code(err));
    d->state = DC__DTLS_FAILED;
    d->err = err;
    OPENSSL_cleanse(&d->keys, sizeof(d->keys));
    return err;
}

static int check_fingerprint(dc__dtls *d)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    X509 *peer = SSL_get1_peer_certificate(d->ssl);
    int ok = peer && X509_digest(peer, EVP_sha256(), md, &n) == 1 && n == DC__DTLS_FP_LEN &&
             dc__ct_equal(md, d->remote_fp, DC__DTLS_FP_LEN);
    X509_free(peer);
    return ok ? 0 : DC_EFINGERPRINT;
}

/* RFC 5764 §4.2: client key, server key, client salt, server salt. */
static int export_keys(dc__dtls *d)
{
    const SRTP_PROTECTION_PROFILE *p = SSL_get_selected_srtp_profile(d->ssl);
    size_t kl, sl;
    if (!p || dc__srtp_profile_lengths((enum dc__srtp_profile)p->id, &kl, &sl) != 0)
        return DC_EDTLS; /* the peer did not negotiate use_srtp with a profile we
                            offered */
    uint8_t m[2 * (DC__SRTP_MAX_KEY_LEN + DC__SRTP_MAX_SALT_LEN)];
    if (SSL_export_keying_material(d->ssl, m, 2 * (kl + sl), "EXTRACTOR-dtls_srtp", 19, NULL, 0,
                                   0) != 1)
        return DC_EDTLS;
    const uint8_t *ck = m, *sk = m + kl, *cs = m + 2 * kl, *ss = m + 2 * kl + sl;
    int client = d->role == DC__DTLS_CLIENT;
    struct dc__srtp_keys *k = &d->keys;
    k->profile = (enum dc__srtp_profile)p->id;
    k->key_len = (uint8_t)kl;
    k->salt_len = (uint8_t)sl;
    memcpy(k->local_key, client ? ck : sk, kl);
    memcpy(k->local_salt, client ? cs : ss, sl);
    memcpy(k->remote_key, client ? sk : ck, kl);
    memcpy(k->remote_salt, client ? ss : cs, sl);
    OPENSSL_cleanse(m, sizeof(m));
    return 0;
}

static int on_handshake_done(dc__dtls *d)
{
    int rc = check_fingerprint(d);
    if (rc != 0)
        return fail(d, rc, "peer certificate fingerprint");
    if ((rc = export_keys(d)) != 0)
        return fail(d, rc, "srtp keying material");
    d->state = DC__DTLS_CONNECTED;
    DC_DEBUG("dtls", "connected as %s, %s", d->role == DC__DTLS_CLIENT ? "client" : "server",
             dc__srtp_profile_name(d->keys.profile));
    return 0;
}

static int handshake_step(dc__dtls *d)
{
    ERR_clear_error();
    int r = SSL_do_handshake(d->ssl);
    if (r == 1)
        return on_handshake_done(d);
    int e = SSL_get_error(d->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    return fail(d, DC_EDTLS, "SSL_do_handshake");
}

static int begin(dc__dtls *d)
{
    d->state = DC__DTLS_HANDSHAKING;
    if (!DTLS_set_link_mtu(d->ssl, (long)d->mtu))
        return fail(d, DC_EDTLS, "DTLS_set_link_mtu");
    return 0;
}

int dc__dtls_start(dc__dtls *d)
{
    if (!d)
        return DC_EINVAL;
    if (d->state != DC__DTLS_NEW)
        return d->err;
    int rc = begin(d);
    if (rc == 0 && d->role == DC__DTLS_CLIENT)
        rc = handshake_step(d);
    out_flush(d);
    return rc;
}

/* After the handshake: answers retransmitted flights, notices close_notify and
 * alerts, and throws away application data (we carry none). */
static int read_connected(dc__dtls *d)
{
    uint8_t buf[2048];
    for (;;) {
        ERR_clear_error();
        int r = SSL_read(d->ssl, buf, sizeof(buf));
        if (r > 0)
            continue;
        int e = SSL_get_error(d->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return 0;
        log_ssl_errors("SSL_read");
        DC_DEBUG("dtls", "peer closed the association (%s)",
                 e == SSL_ERROR_ZERO_RETURN ? "close_notify" : "alert");
        d->state = DC__DTLS_CLOSED;
        d->err = DC_ECLOSED;
        return DC_ECLOSED;
    }
}

int dc__dtls_input(dc__dtls *d, const uint8_t *data, size_t len)
{
    if (!d || (!data && len))
        return DC_EINVAL;
    if (d->state == DC__DTLS_FAILED || d->state == DC__DTLS_CLOSED)
        return d->err;
    if (len == 0 || len > 65535)
        return 0;
    if (d->state == DC__DTLS_NEW) {
        int rc = begin(d);
        if (rc != 0)
            return rc;
    }
    /* One datagram at a time: DTLS reads the whole buffer as one packet. Drop
     * leftovers so a datagram OpenSSL did not consume cannot glue onto the next.
     */
    (void)BIO_reset(d->rbio);
    if (BIO_write(d->rbio, data, (int)len) != (int)len)
        return DC_ENOMEM;
    int rc = d->state == DC__DTLS_HANDSHAKING ? handshake_step(d) : read_connected(d);
    out_flush(d);
    return rc;
}

int64_t dc__dtls_timeout_ms(dc__dtls *d)
{
    struct timeval tv;
    if (!d || d->state != DC__DTLS_HANDSHAKING)
        return -1;
    if (DTLSv1_get_timeout(d->ssl, &tv) != 1)
        return -1;
    return (int64_t)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
}

int dc__dtls_on_timeout(dc__dtls *d)
{
    if (!d)
        return DC_EINVAL;
    if (d->state == DC__DTLS_FAILED)
        return d->err;
    if (d->state != DC__DTLS_HANDSHAKING)
        return 0;
    ERR_clear_error();
    int r = DTLSv1_handle_timeout(d->ssl);
    out_flush(d);
    if (r < 0)
        return fail(d, DC_EDTLS, "retransmission limit");
    return 0;
}

void dc__dtls_close(dc__dtls *d)
{
    if (!d || d->state == DC__DTLS_CLOSED)
        return;
    if (d->state == DC__DTLS_CONNECTED) {
        ERR_clear_error();
        (void)SSL_shutdown(d->ssl); /* sends close_notify; we do not wait for the peer's */
        ERR_clear_error();
        out_flush(d);
    }
    if (d->state != DC__DTLS_FAILED) {
        d->state = DC__DTLS_CLOSED;
        d->err = DC_ECLOSED;
    }
}

enum dc__dtls_state dc__dtls_state(const dc__dtls *d)
{
    return d->state;
}

enum dc__dtls_role dc__dtls_role(const dc__dtls *d)
{
    return d->role;
}

int dc__dtls_error(const dc__dtls *d)
{
    return d->err;
}

int dc__dtls_srtp_keys(const dc__dtls *d, struct dc__srtp_keys *keys)
{
    if (!d || !keys)
        return DC_EINVAL;
    if (d->state != DC__DTLS_CONNECTED)
        return DC_ESTATE;
    *keys = d->keys;
    return 0;
}
