#include "common/validate.h"

#include <string.h>
#include <strings.h>

#include "dcall/errors.h"

static int dc__is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int dc__is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* The regex ^(?=.*[a-zA-Z])[A-Za-z0-9]+(_[a-zA-Z0-9]+)*$ by hand: an underscore
 * is allowed only between two alphanumerics, which refuses leading, trailing
 * and doubled underscores. */
int dc__valid_cuid(const char *s)
{
    if (!s)
        return DC_ECUID;
    size_t n = strnlen(s, 51);
    if (n < 5 || n > 50)
        return DC_ECUID;
    int letter = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (dc__is_alpha(c)) {
            letter = 1;
        } else if (c == '_') {
            if (i == 0 || i == n - 1 || s[i - 1] == '_')
                return DC_ECUID;
        } else if (!dc__is_digit(c)) {
            return DC_ECUID;
        }
    }
    return letter ? 0 : DC_ECUID;
}

/* Decodes one code point at s; returns its byte length or 0 when the sequence
 * is malformed (truncated, bad continuation, overlong, surrogate, above
 * U+10FFFF). */
static size_t dc__utf8_next(const unsigned char *s, unsigned long *cp)
{
    unsigned char c = s[0];
    size_t len;
    unsigned long v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) /* also stops at the NUL terminator */
            return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

long dc__utf8_len(const char *s)
{
    if (!s)
        return -1;
    const unsigned char *p = (const unsigned char *)s;
    long count = 0;
    while (*p) {
        unsigned long cp;
        size_t len = dc__utf8_next(p, &cp);
        if (len == 0)
            return -1;
        if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F))
            return -1;
        p += len;
        count++;
    }
    return count;
}

int dc__valid_name(const char *s)
{
    long n = dc__utf8_len(s);
    return n >= 3 && n <= 50 ? 0 : DC_ENAME;
}

int dc__valid_context(const char *s)
{
    long n = dc__utf8_len(s);
    return n >= 1 && n <= 64 ? 0 : DC_ECONTEXT;
}

int dc__valid_url(const char *s)
{
    if (!s)
        return DC_EURL;
    size_t n = strnlen(s, 2049);
    if (n < 1 || n > 2048)
        return DC_EURL;
    size_t scheme;
    if (strncasecmp(s, "http://", 7) == 0)
        scheme = 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        scheme = 8;
    else
        return DC_EURL;
    /* A URL needs a host: something other than a path right after the scheme. */
    if (n == scheme || s[scheme] == '/')
        return DC_EURL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7F)
            return DC_EURL;
    }
    return 0;
}

int dc__valid_id(const char *s)
{
    if (!s)
        return DC_EID;
    size_t n = strnlen(s, 65);
    if (n < 1 || n > 64)
        return DC_EID;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!dc__is_alpha(c) && !dc__is_digit(c) && c != '_' && c != '-')
            return DC_EID;
    }
    return 0;
}

int dc__valid_color(const char *s)
{
    if (!s || strnlen(s, 8) != 7 || s[0] != '#')
        return DC_ECOLOR;
    for (int i = 1; i < 7; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!dc__is_digit(c) && !((c | 0x20) >= 'a' && (c | 0x20) <= 'f'))
            return DC_ECOLOR;
    }
    return 0;
}
