#include "common/jwt.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/util.h"
#include "dcall/errors.h"

#define DC__JWT_LEEWAY_EXP 30
#define DC__JWT_LEEWAY_IAT 60
#define DC__JWT_MAX_LIFETIME (86400 + 60)

/* A token split in place: header and payload segments and the signed prefix
 * ("h.p"). */
struct dc__jwt_parts {
    const char *h, *p, *s;
    size_t hlen, plen, slen;
};

static int dc__jwt_split(const char *token, struct dc__jwt_parts *parts)
{
    if (!token)
        return DC_ETOKEN;
    size_t n = strnlen(token, DC__JWT_MAX + 1);
    if (n == 0 || n > DC__JWT_MAX)
        return DC_ETOKEN;
    const char *d1 = memchr(token, '.', n);
    if (!d1)
        return DC_ETOKEN;
    const char *d2 = memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - token));
    if (!d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - token)))
        return DC_ETOKEN;
    parts->h = token;
    parts->hlen = (size_t)(d1 - token);
    parts->p = d1 + 1;
    parts->plen = (size_t)(d2 - parts->p);
    parts->s = d2 + 1;
    parts->slen = n - (size_t)(parts->s - token);
    if (parts->hlen == 0 || parts->plen == 0 || parts->slen == 0)
        return DC_ETOKEN;
    return 0;
}

/* Decodes one base64url segment holding a JSON object; *obj is a new reference.
 */
static int dc__jwt_segment(const char *seg, size_t len, json_t **obj)
{
    unsigned char buf[DC__JWT_MAX];
    size_t n = 0;
    if (dc__b64url_decode(buf, &n, seg, len) != 0)
        return DC_ETOKEN;
    /* Duplicate keys could make two parsers see different claims: refuse them. */
    json_t *j = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return DC_ETOKEN;
    }
    *obj = j;
    return 0;
}

/* Only "HS256" is accepted, and no critical extensions since we implement none
 * (RFC 7515 4.1.11). */
static int dc__jwt_check_header(const json_t *hdr)
{
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    if (!alg || strcmp(alg, "HS256") != 0 || json_object_get(hdr, "crit"))
        return DC_ETOKEN;
    json_t *typ = json_object_get(hdr, "typ");
    if (typ && !json_is_string(typ))
        return DC_ETOKEN;
    return 0;
}

/* Splits and decodes, checking the header; *claims is a new reference. */
static int dc__jwt_decode(const char *token, struct dc__jwt_parts *parts, json_t **claims)
{
    json_t *hdr = NULL;
    if (dc__jwt_split(token, parts) != 0 || dc__jwt_segment(parts->h, parts->hlen, &hdr) != 0)
        return DC_ETOKEN;
    int rc = dc__jwt_check_header(hdr);
    json_decref(hdr);
    if (rc != 0)
        return rc;
    return dc__jwt_segment(parts->p, parts->plen, claims);
}

int dc__jwt_peek(const char *token, json_t **claims)
{
    struct dc__jwt_parts parts;
    if (!claims)
        return DC_EINVAL;
    return dc__jwt_decode(token, &parts, claims);
}

/* Base64url-encodes a JSON value's compact text into out (malloc'd). */
static int dc__jwt_encode_json(const json_t *j, char **out)
{
    char *text = json_dumps(j, JSON_COMPACT);
    if (!text)
        return DC_ENOMEM;
    size_t n = strlen(text);
    char *enc = malloc(dc__b64url_len(n) + 1);
    if (enc)
        dc__b64url_encode(enc, text, n);
    free(text);
    if (!enc)
        return DC_ENOMEM;
    *out = enc;
    return 0;
}

static int dc__jwt_assemble(const char *h, const char *p, const void *key, size_t keylen,
                            char **out)
{
    size_t hl = strlen(h), pl = strlen(p);
    size_t total = hl + 1 + pl + 1 + dc__b64url_len(32) + 1;
    char *tok = malloc(total);
    unsigned char mac[32];
    if (!tok)
        return DC_ENOMEM;
    memcpy(tok, h, hl);
    tok[hl] = '.';
    memcpy(tok + hl + 1, p, pl);
    if (dc__hmac_sha256(key, keylen, tok, hl + 1 + pl, mac) != 0) {
        free(tok);
        return DC_EINTERNAL;
    }
    tok[hl + 1 + pl] = '.';
    dc__b64url_encode(tok + hl + 1 + pl + 1, mac, sizeof mac);
    *out = tok;
    return 0;
}

int dc__jwt_sign(const json_t *claims, const char *kid, const void *key, size_t keylen, char **out)
{
    if (!json_is_object(claims) || !key || keylen == 0 || !out)
        return DC_EINVAL;
    json_t *hdr = json_pack("{s:s, s:s}", "alg", "HS256", "typ", "JWT");
    if (!hdr)
        return DC_ENOMEM;
    if (kid && json_object_set_new(hdr, "kid", json_string(kid)) != 0) {
        json_decref(hdr);
        return DC_EINVAL; /* kid not valid UTF-8 */
    }
    char *h = NULL, *p = NULL;
    int rc = dc__jwt_encode_json(hdr, &h);
    if (rc == 0)
        rc = dc__jwt_encode_json(claims, &p);
    if (rc == 0)
        rc = dc__jwt_assemble(h, p, key, keylen, out);
    if (rc == 0 && strlen(*out) > DC__JWT_MAX) {
        free(*out);
        *out = NULL;
        rc = DC_EINVAL; /* verify would refuse it */
    }
    json_decref(hdr);
    free(h);
    free(p);
    return rc;
}

static int dc__jwt_check_sig(const struct dc__jwt_parts *parts, const void *key, size_t keylen)
{
    unsigned char mac[32], sig[DC__JWT_MAX];
    size_t siglen = 0;
    if (dc__b64url_decode(sig, &siglen, parts->s, parts->slen) != 0 || siglen != sizeof mac)
        return DC_ETOKEN;
    if (dc__hmac_sha256(key, keylen, parts->h, parts->hlen + 1 + parts->plen, mac) != 0)
        return DC_ETOKEN;
    return CRYPTO_memcmp(mac, sig, sizeof mac) == 0 ? 0 : DC_ETOKEN;
}

/* Times as doubles: claims may be JSON reals, and doubles compare huge values
 * without overflow. */
static int dc__jwt_check_times(const json_t *claims, int64_t now_s)
{
    json_t *exp = json_object_get(claims, "exp"), *iat = json_object_get(claims, "iat");
    if (!json_is_number(exp) || !json_is_number(iat))
        return DC_ETOKEN;
    double e = json_number_value(exp), i = json_number_value(iat), now = (double)now_s;
    if (e - i > DC__JWT_MAX_LIFETIME)
        return DC_ETOKEN;
    if (i > now + DC__JWT_LEEWAY_IAT)
        return DC_ETOKEN;
    if (!(e > now - DC__JWT_LEEWAY_EXP))
        return DC_ETOKEN_EXPIRED;
    return 0;
}

int dc__jwt_verify(const char *token, const void *key, size_t keylen, int64_t now_s,
                   json_t **claims)
{
    struct dc__jwt_parts parts;
    json_t *c = NULL;
    if (!claims)
        return DC_EINVAL;
    if (!key || keylen == 0)
        return DC_ETOKEN;
    int rc = dc__jwt_decode(token, &parts, &c);
    if (rc == 0)
        rc = dc__jwt_check_sig(&parts, key, keylen);
    if (rc == 0)
        rc = dc__jwt_check_times(c, now_s);
    if (rc != 0) {
        json_decref(c);
        return rc;
    }
    *claims = c;
    return 0;
}
