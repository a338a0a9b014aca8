/* Small shared helpers: clocks, randomness, encodings. Nothing here knows about calls or media. */
#ifndef DC_COMMON_UTIL_H
#define DC_COMMON_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Wall clock in milliseconds since the Unix epoch, plus the test offset (dc__clock_advance). */
int64_t dc__now_ms(void);
/* Monotonic clock in milliseconds (never goes back; not affected by the test offset). */
int64_t dc__mono_ms(void);
/* Tests only: shifts dc__now_ms() forward by ms (cumulative). Thread-safe. */
void dc__clock_advance(int64_t ms);

/* Fills buf with n cryptographically random bytes (OpenSSL RAND_bytes). 0 or DC_EIO. */
int dc__random(void *buf, size_t n);
/* Writes a random identifier: prefix followed by nchars characters of [a-z0-9]; out must hold
 * strlen(prefix) + nchars + 1 bytes. */
int dc__random_id(char *out, const char *prefix, size_t nchars);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void dc__hex(char *out, const void *in, size_t n);
/* Decodes 2n hex chars into n bytes. 0 or DC_EINVAL. */
int dc__unhex(void *out, const char *in, size_t n);

/* base64url without padding (RFC 4648 §5). Encode: out holds at least dc__b64url_len(n)+1 bytes.
 * Decode: returns decoded length in *outlen; out holds at least (inlen*3)/4+3 bytes; rejects
 * characters outside the alphabet and padding. */
size_t dc__b64url_len(size_t n);
void dc__b64url_encode(char *out, const void *in, size_t n);
int dc__b64url_decode(void *out, size_t *outlen, const char *in, size_t inlen);
/* Standard base64 with padding (for HTTP Basic). Same conventions. */
int dc__b64_decode(void *out, size_t *outlen, const char *in, size_t inlen);
void dc__b64_encode(char *out, const void *in, size_t n); /* out: 4*((n+2)/3)+1 bytes */

/* Constant-time comparison of two buffers of equal length n: 1 when equal. */
int dc__ct_equal(const void *a, const void *b, size_t n);

/* Formats ms since the epoch as "2026-11-24T21:42:32.123Z" (out: 32 bytes). */
void dc__iso8601(char *out, int64_t ms);
/* Parses an RFC 3339 / ISO 8601 date-time with 'Z' or +hh:mm offset (fraction optional), or a
 * plain date "YYYY-MM-DD" (UTC midnight). 0 or DC_ETIME. */
int dc__parse_iso8601(const char *s, int64_t *ms_out);

#endif
