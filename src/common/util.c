#include "common/util.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dcall/errors.h"

static _Atomic int64_t dc__clock_offset_ms;

int64_t dc__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + atomic_load(&dc__clock_offset_ms);
}

int64_t dc__mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void dc__clock_advance(int64_t ms)
{
    atomic_fetch_add(&dc__clock_offset_ms, ms);
}

int dc__random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        int chunk = n > 1u << 20 ? 1 << 20 : (int)n;
        if (RAND_bytes(p, chunk) != 1)
            return DC_EIO;
        p += chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

int dc__random_id(char *out, const char *prefix, size_t nchars)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    /* 252 = 7 * 36: bytes at or above it are redrawn so every character is
     * equally likely. */
    enum { LIMIT = 252 };
    size_t plen = prefix ? strlen(prefix) : 0;
    if (plen)
        memcpy(out, prefix, plen);
    size_t filled = 0;
    unsigned char buf[64];
    while (filled < nchars) {
        if (dc__random(buf, sizeof buf) != 0)
            return DC_EIO;
        for (size_t i = 0; i < sizeof buf && filled < nchars; i++)
            if (buf[i] < LIMIT)
                out[plen + filled++] = alphabet[buf[i] % 36];
    }
    out[plen + nchars] = '\0';
    return 0;
}

void dc__hex(char *out, const void *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int dc__hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int dc__unhex(void *out, const char *in, size_t n)
{
    unsigned char *p = out;
    if (!in)
        return DC_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!in[2 * i])
            return DC_EINVAL;
        int hi = dc__hexval(in[2 * i]), lo = dc__hexval(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return DC_EINVAL;
        p[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

static const char dc__b64u_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char dc__b64s_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t dc__b64url_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* Encodes without padding; returns the number of characters written (no NUL).
 */
static size_t dc__b64_enc(char *out, const unsigned char *p, size_t n, const char *alpha)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        out[o++] = alpha[v >> 6 & 63];
        out[o++] = alpha[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        out[o++] = alpha[v >> 6 & 63];
    }
    return o;
}

void dc__b64url_encode(char *out, const void *in, size_t n)
{
    out[dc__b64_enc(out, in, n, dc__b64u_alpha)] = '\0';
}

void dc__b64_encode(char *out, const void *in, size_t n)
{
    size_t o = dc__b64_enc(out, in, n, dc__b64s_alpha);
    while (o % 4)
        out[o++] = '=';
    out[o] = '\0';
}

static int dc__b64_val(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

/* Decodes unpadded base64 (either alphabet). Strict: a length of 1 mod 4 and
 * non-zero trailing bits are refused, so each byte string has exactly one
 * accepted encoding. */
static int dc__b64_dec(unsigned char *out, size_t *outlen, const char *in, size_t inlen, int url)
{
    if (inlen % 4 == 1)
        return DC_EINVAL;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < inlen; i++) {
        int v = dc__b64_val((unsigned char)in[i], url);
        if (v < 0)
            return DC_EINVAL;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return DC_EINVAL;
    *outlen = o;
    return 0;
}

int dc__b64url_decode(void *out, size_t *outlen, const char *in, size_t inlen)
{
    if (!out || !outlen || (!in && inlen))
        return DC_EINVAL;
    return dc__b64_dec(out, outlen, in, inlen, 1);
}

int dc__b64_decode(void *out, size_t *outlen, const char *in, size_t inlen)
{
    if (!out || !outlen || (!in && inlen) || inlen % 4)
        return DC_EINVAL;
    size_t pad = 0;
    if (inlen >= 1 && in[inlen - 1] == '=')
        pad++;
    if (inlen >= 2 && in[inlen - 2] == '=')
        pad++;
    return dc__b64_dec(out, outlen, in, inlen - pad, 0);
}

int dc__ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

void dc__iso8601(char *out, int64_t ms)
{
    /* Clamped to years 0000-9999 so the text always has the documented fixed
     * width. */
    const int64_t max_ms = 253402300799999LL, min_ms = -62167219200000LL;
    if (ms > max_ms)
        ms = max_ms;
    if (ms < min_ms)
        ms = min_ms;
    int64_t secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    char buf[96];
    if (!gmtime_r(&t, &tm))
        memset(&tm, 0, sizeof tm);
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
    size_t n = strnlen(buf, 31);
    memcpy(out, buf, n);
    out[n] = '\0';
}

/* Reads exactly n digits; -1 when any is not a digit. */
static int dc__digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int dc__days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* Parses "[.fraction](Z|z|+hh:mm|-hh:mm)" into milliseconds and an offset in
 * seconds. */
static int dc__parse_tail(const char *p, int *ms, int *offset_s)
{
    *ms = 0;
    if (*p == '.') {
        p++;
        int n = 0, scale = 100;
        while (*p >= '0' && *p <= '9') {
            *ms += (*p - '0') * scale;
            scale /= 10;
            p++;
            n++;
        }
        if (n == 0 || n > 9)
            return DC_ETIME;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        *offset_s = 0;
        return 0;
    }
    if ((*p != '+' && *p != '-') || strnlen(p, 7) != 6 || p[3] != ':')
        return DC_ETIME;
    int hh = dc__digits(p + 1, 2), mm = dc__digits(p + 4, 2);
    if (hh < 0 || mm < 0 || hh > 23 || mm > 59)
        return DC_ETIME;
    *offset_s = (hh * 3600 + mm * 60) * (*p == '-' ? -1 : 1);
    return 0;
}

int dc__parse_iso8601(const char *s, int64_t *ms_out)
{
    if (!s || !ms_out)
        return DC_ETIME;
    size_t len = strnlen(s, 64);
    if (len < 10 || len >= 64 || s[4] != '-' || s[7] != '-')
        return DC_ETIME;
    int y = dc__digits(s, 4), mo = dc__digits(s + 5, 2), d = dc__digits(s + 8, 2);
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > dc__days_in_month(y, mo))
        return DC_ETIME;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d};
    int ms = 0, offset_s = 0;
    if (len > 10) {
        if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || len < 20 || s[13] != ':' ||
            s[16] != ':')
            return DC_ETIME;
        int h = dc__digits(s + 11, 2), mi = dc__digits(s + 14, 2), sec = dc__digits(s + 17, 2);
        /* 60 admits a leap second; timegm folds it into the next minute. */
        if (h < 0 || mi < 0 || sec < 0 || h > 23 || mi > 59 || sec > 60)
            return DC_ETIME;
        if (dc__parse_tail(s + 19, &ms, &offset_s) != 0)
            return DC_ETIME;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = sec;
    }
    time_t t = timegm(&tm);
    *ms_out = ((int64_t)t - offset_s) * 1000 + ms;
    return 0;
}
