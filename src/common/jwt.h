/* JWT HS256 (RFC 7519) as used for client tokens. The HMAC key is the account's api_secret string
 * exactly as printed. Only alg "HS256" is accepted ("none" and every other alg are refused). */
#ifndef DC_COMMON_JWT_H
#define DC_COMMON_JWT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define DC__JWT_MAX 8192 /* longest token accepted, bytes */

/* Signs claims (a JSON object; borrowed) into a compact JWT. kid may be NULL. *out is malloc'd;
 * the caller frees it. 0 or DC_EINVAL/DC_ENOMEM. */
int dc__jwt_sign(const json_t *claims, const char *kid, const void *key, size_t keylen, char **out);

/* Splits a token and decodes its header and payload without checking the signature, so the
 * server can find the account ("acc") whose key verifies it. *claims is a new reference.
 * 0 or DC_ETOKEN. */
int dc__jwt_peek(const char *token, json_t **claims);

/* Verifies the HS256 signature with key, then exp (must be > now_s - leeway 30 s), iat
 * (<= now_s + 60) and exp - iat <= 86400 + 60. On success *claims is a new reference.
 * Errors: DC_ETOKEN (malformed, bad signature, bad alg, lifetime too long), DC_ETOKEN_EXPIRED. */
int dc__jwt_verify(const char *token, const void *key, size_t keylen, int64_t now_s,
                   json_t **claims);

#endif
