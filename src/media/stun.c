/* STUN parsing, verification and building for ICE; see stun.h for the contract. */
#include "media/bytes.h"
#include "media/stun.h"

#include <netinet/in.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "dcall/errors.h"

#define FINGERPRINT_XOR 0x5354554eu
#define MI_LEN 20
/* RFC 8489 §14.8: reason phrase under 128 characters, at most 763 bytes of UTF-8. */
#define MAX_REASON 763

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)dc__rd32(p) << 32 | dc__rd32(p + 4);
}

/* ---- CRC-32 (reflected, polynomial 0xEDB88320), table built once ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t dc__crc32(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ b[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* ---- HMAC-SHA1 over (a patched 20-byte header, then the body) ---- */

static EVP_MAC *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_init(void)
{
    hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

static int hmac_sha1(const void *key, size_t keylen, const uint8_t *hdr, const uint8_t *body,
                     size_t bodylen, uint8_t out[MI_LEN])
{
    static const uint8_t empty_key[1];
    pthread_once(&hmac_once, hmac_init);
    if (!hmac_alg)
        return DC_EINTERNAL;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_alg);
    if (!ctx)
        return DC_ENOMEM;
    char digest[] = "SHA1";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    size_t outlen = 0;
    /* A NULL key means "keep the previous key" to EVP_MAC_init; an empty key must stay empty. */
    int ok = EVP_MAC_init(ctx, keylen ? key : empty_key, keylen, params) &&
             EVP_MAC_update(ctx, hdr, DC__STUN_HDR_LEN) && EVP_MAC_update(ctx, body, bodylen) &&
             EVP_MAC_final(ctx, out, &outlen, MI_LEN) && outlen == MI_LEN;
    EVP_MAC_CTX_free(ctx);
    return ok ? 0 : DC_EINTERNAL;
}

/* ---- Parsing ---- */

static int parse_xor_addr(struct dc__stun_msg *m, const uint8_t *tid, const uint8_t *v, size_t len)
{
    if (len < 4)
        return DC_EPACKET;
    uint16_t port = dc__rd16(v + 2) ^ (uint16_t)(DC__STUN_MAGIC >> 16);
    memset(&m->xor_mapped, 0, sizeof m->xor_mapped);
    if (v[1] == 0x01 && len == 8) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&m->xor_mapped;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        sin->sin_addr.s_addr = htonl(dc__rd32(v + 4) ^ DC__STUN_MAGIC);
    } else if (v[1] == 0x02 && len == 20) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&m->xor_mapped;
        uint8_t mask[16];
        dc__wr32(mask, DC__STUN_MAGIC);
        memcpy(mask + 4, tid, DC__STUN_TID_LEN);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        for (int i = 0; i < 16; i++)
            sin6->sin6_addr.s6_addr[i] = v[4 + i] ^ mask[i];
    } else {
        return DC_EPACKET;
    }
    m->has_xor_mapped = true;
    return 0;
}

static int parse_error_code(struct dc__stun_msg *m, const uint8_t *v, size_t len)
{
    if (len < 4 || len - 4 > MAX_REASON)
        return DC_EPACKET;
    int cls = v[2] & 7, num = v[3];
    if (cls < 3 || cls > 6 || num > 99)
        return DC_EPACKET;
    m->error_code = cls * 100 + num;
    m->error_reason = (const char *)v + 4;
    m->error_reason_len = len - 4;
    return 0;
}

static void note_unknown(struct dc__stun_msg *m, uint16_t type)
{
    if (type >= 0x8000)
        return; /* comprehension-optional: ignore */
    if (m->nunknown < DC__STUN_MAX_UNKNOWN)
        m->unknown[m->nunknown] = type;
    m->nunknown++;
}

/* One attribute before MESSAGE-INTEGRITY (or MESSAGE-INTEGRITY itself). First occurrence wins. */
static int parse_attr(struct dc__stun_msg *m, const uint8_t *p, size_t off, uint16_t type,
                      size_t len)
{
    const uint8_t *v = p + off + 4;
    switch (type) {
    case DC__STUN_ATTR_USERNAME:
        if (len > DC__STUN_MAX_USERNAME)
            return DC_EPACKET;
        if (!m->username) {
            m->username = (const char *)v;
            m->username_len = len;
        }
        return 0;
    case DC__STUN_ATTR_PRIORITY:
        if (len != 4)
            return DC_EPACKET;
        if (!m->has_priority)
            m->priority = dc__rd32(v), m->has_priority = true;
        return 0;
    case DC__STUN_ATTR_USE_CANDIDATE:
        if (len != 0)
            return DC_EPACKET;
        m->use_candidate = true;
        return 0;
    case DC__STUN_ATTR_ICE_CONTROLLING:
        if (len != 8)
            return DC_EPACKET;
        if (!m->has_ice_controlling)
            m->ice_controlling = rd64(v), m->has_ice_controlling = true;
        return 0;
    case DC__STUN_ATTR_ICE_CONTROLLED:
        if (len != 8)
            return DC_EPACKET;
        if (!m->has_ice_controlled)
            m->ice_controlled = rd64(v), m->has_ice_controlled = true;
        return 0;
    case DC__STUN_ATTR_XOR_MAPPED_ADDRESS:
        return m->has_xor_mapped ? 0 : parse_xor_addr(m, p + 8, v, len);
    case DC__STUN_ATTR_ERROR_CODE:
        return m->error_code ? 0 : parse_error_code(m, v, len);
    case DC__STUN_ATTR_MESSAGE_INTEGRITY:
        if (len != MI_LEN)
            return DC_EPACKET;
        m->integrity_off = off;
        return 0;
    case DC__STUN_ATTR_MAPPED_ADDRESS:
    case DC__STUN_ATTR_UNKNOWN_ATTRIBUTES:
        return 0; /* known, not needed by ICE */
    default:
        note_unknown(m, type);
        return 0;
    }
}

int dc__stun_parse(const uint8_t *p, size_t n, struct dc__stun_msg *m)
{
    if (!p || !m || !dc__stun_is_stun(p, n))
        return DC_EPACKET;
    uint16_t type = dc__rd16(p), mlen = dc__rd16(p + 2);
    if ((type & 0xC000) || (mlen & 3) || (size_t)mlen + DC__STUN_HDR_LEN != n)
        return DC_EPACKET;
    memset(m, 0, sizeof *m);
    m->method = (uint16_t)((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
    m->cls = (uint8_t)(((type & 0x0100) >> 7) | ((type & 0x0010) >> 4));
    m->tid = p + 8;
    m->len = n;
    size_t off = DC__STUN_HDR_LEN;
    while (off < n) {
        if (m->fingerprint_off || n - off < 4)
            return DC_EPACKET; /* nothing may follow FINGERPRINT */
        uint16_t at = dc__rd16(p + off);
        size_t al = dc__rd16(p + off + 2), padded = (al + 3) & ~(size_t)3;
        if (padded > n - off - 4)
            return DC_EPACKET;
        if (at == DC__STUN_ATTR_FINGERPRINT) {
            if (al != 4)
                return DC_EPACKET;
            m->fingerprint_off = off;
        } else if (!m->integrity_off) {
            int rc = parse_attr(m, p, off, at, al);
            if (rc)
                return rc;
        }
        off += 4 + padded;
    }
    return 0;
}

int dc__stun_check_fingerprint(const uint8_t *p, const struct dc__stun_msg *m)
{
    if (!p || !m || !m->fingerprint_off)
        return DC_EINTEGRITY;
    uint32_t want = dc__crc32(0, p, m->fingerprint_off) ^ FINGERPRINT_XOR;
    return dc__rd32(p + m->fingerprint_off + 4) == want ? 0 : DC_EINTEGRITY;
}

int dc__stun_check_integrity(const uint8_t *p, const struct dc__stun_msg *m, const void *key,
                             size_t keylen)
{
    if (!p || !m || !m->integrity_off || (!key && keylen))
        return DC_EINTEGRITY;
    uint8_t hdr[DC__STUN_HDR_LEN], mac[MI_LEN];
    memcpy(hdr, p, sizeof hdr);
    /* The length as if MESSAGE-INTEGRITY were the last attribute. */
    dc__wr16(hdr + 2, (uint16_t)(m->integrity_off + 4 + MI_LEN - DC__STUN_HDR_LEN));
    if (hmac_sha1(key, keylen, hdr, p + DC__STUN_HDR_LEN, m->integrity_off - DC__STUN_HDR_LEN, mac))
        return DC_EINTEGRITY;
    return CRYPTO_memcmp(mac, p + m->integrity_off + 4, MI_LEN) == 0 ? 0 : DC_EINTEGRITY;
}

/* ---- Building ---- */

void dc__stun_begin(struct dc__stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
                    uint8_t cls, const uint8_t *tid)
{
    memset(b, 0, sizeof *b);
    b->buf = buf;
    b->cap = cap;
    if (!buf || !tid || cap < DC__STUN_HDR_LEN || method > 0x0FFF || cls > 3) {
        b->err = DC_EINVAL;
        return;
    }
    uint16_t type = (uint16_t)((method & 0x000F) | ((method & 0x0070) << 1) |
                               ((method & 0x0F80) << 2) | ((cls & 1) << 4) | ((cls & 2) << 7));
    dc__wr16(buf, type);
    dc__wr16(buf + 2, 0);
    dc__wr32(buf + 4, DC__STUN_MAGIC);
    memcpy(buf + 8, tid, DC__STUN_TID_LEN);
    b->len = DC__STUN_HDR_LEN;
}

/* Reserves an attribute of value length len, updates the length field; NULL on error. */
static uint8_t *reserve(struct dc__stun_builder *b, uint16_t type, size_t len)
{
    if (b->err)
        return NULL;
    size_t padded = (len + 3) & ~(size_t)3;
    if (len > 0xFFFF || b->cap - b->len < 4 + padded ||
        b->len + 4 + padded - DC__STUN_HDR_LEN > 0xFFFC) {
        b->err = DC_EINVAL;
        return NULL;
    }
    uint8_t *a = b->buf + b->len;
    dc__wr16(a, type);
    dc__wr16(a + 2, (uint16_t)len);
    memset(a + 4 + len, b->pad, padded - len);
    b->len += 4 + padded;
    dc__wr16(b->buf + 2, (uint16_t)(b->len - DC__STUN_HDR_LEN));
    return a + 4;
}

void dc__stun_add(struct dc__stun_builder *b, uint16_t type, const void *value, size_t len)
{
    if (!b->err && (b->sealed || (len && !value)))
        b->err = DC_EINVAL;
    uint8_t *v = reserve(b, type, len);
    if (v && len)
        memcpy(v, value, len);
}

void dc__stun_add_u32(struct dc__stun_builder *b, uint16_t type, uint32_t v)
{
    uint8_t buf[4];
    dc__wr32(buf, v);
    dc__stun_add(b, type, buf, sizeof buf);
}

void dc__stun_add_u64(struct dc__stun_builder *b, uint16_t type, uint64_t v)
{
    uint8_t buf[8];
    dc__wr32(buf, (uint32_t)(v >> 32));
    dc__wr32(buf + 4, (uint32_t)v);
    dc__stun_add(b, type, buf, sizeof buf);
}

void dc__stun_add_xor_addr(struct dc__stun_builder *b, uint16_t type, const struct sockaddr *sa)
{
    uint8_t v[20] = {0};
    size_t len;
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        v[1] = 0x01;
        dc__wr16(v + 2, ntohs(sin->sin_port) ^ (uint16_t)(DC__STUN_MAGIC >> 16));
        dc__wr32(v + 4, ntohl(sin->sin_addr.s_addr) ^ DC__STUN_MAGIC);
        len = 8;
    } else if (sa && sa->sa_family == AF_INET6 && !b->err) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        uint8_t mask[16];
        dc__wr32(mask, DC__STUN_MAGIC);
        memcpy(mask + 4, b->buf + 8, DC__STUN_TID_LEN);
        v[1] = 0x02;
        dc__wr16(v + 2, ntohs(sin6->sin6_port) ^ (uint16_t)(DC__STUN_MAGIC >> 16));
        for (int i = 0; i < 16; i++)
            v[4 + i] = sin6->sin6_addr.s6_addr[i] ^ mask[i];
        len = 20;
    } else {
        if (!b->err)
            b->err = DC_EINVAL;
        return;
    }
    dc__stun_add(b, type, v, len);
}

static const char *std_reason(int code)
{
    switch (code) {
    case 300:
        return "Try Alternate";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 420:
        return "Unknown Attribute";
    case 438:
        return "Stale Nonce";
    case 487:
        return "Role Conflict";
    case 500:
        return "Server Error";
    default:
        return "Error";
    }
}

void dc__stun_add_error_code(struct dc__stun_builder *b, int code, const char *reason)
{
    uint8_t v[4 + MAX_REASON];
    if (!reason)
        reason = std_reason(code);
    size_t rlen = strlen(reason);
    if (code < 300 || code > 699 || rlen > MAX_REASON) {
        if (!b->err)
            b->err = DC_EINVAL;
        return;
    }
    v[0] = v[1] = 0;
    v[2] = (uint8_t)(code / 100);
    v[3] = (uint8_t)(code % 100);
    memcpy(v + 4, reason, rlen);
    dc__stun_add(b, DC__STUN_ATTR_ERROR_CODE, v, 4 + rlen);
}

void dc__stun_add_integrity(struct dc__stun_builder *b, const void *key, size_t keylen)
{
    if (!b->err && (b->sealed || (!key && keylen)))
        b->err = DC_EINVAL;
    size_t before = b->len;
    uint8_t *v = reserve(b, DC__STUN_ATTR_MESSAGE_INTEGRITY, MI_LEN);
    if (!v)
        return;
    /* reserve() already set the length field to include this attribute, as the HMAC needs. */
    int rc =
        hmac_sha1(key, keylen, b->buf, b->buf + DC__STUN_HDR_LEN, before - DC__STUN_HDR_LEN, v);
    if (rc)
        b->err = rc;
    b->sealed = true;
}

void dc__stun_add_fingerprint(struct dc__stun_builder *b)
{
    size_t before = b->len;
    bool was_sealed = b->sealed;
    b->sealed = false; /* FINGERPRINT may follow MESSAGE-INTEGRITY */
    uint8_t *v = reserve(b, DC__STUN_ATTR_FINGERPRINT, 4);
    b->sealed = was_sealed;
    if (!v)
        return;
    dc__wr32(v, dc__crc32(0, b->buf, before) ^ FINGERPRINT_XOR);
    /* Nothing may follow: make any further add fail. */
    b->sealed = true;
    b->cap = b->len;
}

int dc__stun_finish(const struct dc__stun_builder *b, size_t *len)
{
    if (b->err)
        return b->err;
    if (len)
        *len = b->len;
    return 0;
}

int dc__stun_build_binding_request(uint8_t *buf, size_t cap, const struct dc__stun_check *c,
                                   size_t *len)
{
    struct dc__stun_builder b;
    if (!c || !c->username)
        return DC_EINVAL;
    dc__stun_begin(&b, buf, cap, DC__STUN_BINDING, DC__STUN_REQUEST, c->tid);
    size_t ulen = strlen(c->username);
    if (ulen > DC__STUN_MAX_USERNAME && !b.err)
        b.err = DC_EINVAL;
    dc__stun_add(&b, DC__STUN_ATTR_USERNAME, c->username, ulen);
    dc__stun_add_u32(&b, DC__STUN_ATTR_PRIORITY, c->priority);
    dc__stun_add_u64(&b,
                     c->controlling ? DC__STUN_ATTR_ICE_CONTROLLING : DC__STUN_ATTR_ICE_CONTROLLED,
                     c->tiebreaker);
    if (c->use_candidate)
        dc__stun_add(&b, DC__STUN_ATTR_USE_CANDIDATE, NULL, 0);
    dc__stun_add_integrity(&b, c->key, c->keylen);
    dc__stun_add_fingerprint(&b);
    return dc__stun_finish(&b, len);
}

int dc__stun_build_binding_success(uint8_t *buf, size_t cap, const uint8_t *tid,
                                   const struct sockaddr *mapped, const void *key, size_t keylen,
                                   size_t *len)
{
    struct dc__stun_builder b;
    dc__stun_begin(&b, buf, cap, DC__STUN_BINDING, DC__STUN_SUCCESS, tid);
    dc__stun_add_xor_addr(&b, DC__STUN_ATTR_XOR_MAPPED_ADDRESS, mapped);
    dc__stun_add_integrity(&b, key, keylen);
    dc__stun_add_fingerprint(&b);
    return dc__stun_finish(&b, len);
}

int dc__stun_build_error(uint8_t *buf, size_t cap, uint16_t method, const uint8_t *tid, int code,
                         const char *reason, const void *key, size_t keylen, size_t *len)
{
    struct dc__stun_builder b;
    dc__stun_begin(&b, buf, cap, method, DC__STUN_ERROR, tid);
    dc__stun_add_error_code(&b, code, reason);
    if (key)
        dc__stun_add_integrity(&b, key, keylen);
    dc__stun_add_fingerprint(&b);
    return dc__stun_finish(&b, len);
}
