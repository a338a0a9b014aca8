/* Fuzzes every identifier validator and the base64, hex and ISO 8601 parsers, checking that what
 * they accept obeys the documented rule (not just that they do not crash). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "common/validate.h"
#include "dcall/errors.h"

static int is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* An independent reading of the cuid regex, token by token. */
static int cuid_model(const char *s)
{
    size_t n = strlen(s), run = 0;
    int letter = 0;
    if (n < 5 || n > 50)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '_') {
            if (run == 0)
                return 0;
            run = 0;
        } else if (is_alnum(c)) {
            run++;
            letter |= c > '9';
        } else {
            return 0;
        }
    }
    return run > 0 && letter;
}

static void check_validators(const char *s)
{
    if ((dc__valid_cuid(s) == 0) != cuid_model(s))
        abort();
    long cps = dc__utf8_len(s);
    int name = dc__valid_name(s), ctx = dc__valid_context(s);
    if ((name == 0) != (cps >= 3 && cps <= 50) || (name != 0 && name != DC_ENAME))
        abort();
    if ((ctx == 0) != (cps >= 1 && cps <= 64) || (ctx != 0 && ctx != DC_ECONTEXT))
        abort();
    if (cps > (long)strlen(s))
        abort();
    int url = dc__valid_url(s);
    if (url == 0 && (strncasecmp(s, "http", 4) != 0 || strlen(s) > 2048 || strchr(s, ' ')))
        abort();
    if (dc__valid_id(s) == 0 && (strlen(s) < 1 || strlen(s) > 64))
        abort();
    if (dc__valid_color(s) == 0 && (strlen(s) != 7 || s[0] != '#'))
        abort();
}

/* Accepted base64 must be canonical: re-encoding gives back the input. */
static void check_base64(const char *s, size_t n)
{
    unsigned char *dec = malloc(n * 3 / 4 + 3);
    char *enc = malloc(n + 8);
    size_t dlen;
    if (!dec || !enc)
        abort();
    if (dc__b64url_decode(dec, &dlen, s, n) == 0) {
        dc__b64url_encode(enc, dec, dlen);
        if (strlen(enc) != n || memcmp(enc, s, n) != 0 || dc__b64url_len(dlen) != n)
            abort();
    }
    if (dc__b64_decode(dec, &dlen, s, n) == 0) {
        dc__b64_encode(enc, dec, dlen);
        if (strlen(enc) != n || memcmp(enc, s, n) != 0)
            abort();
    }
    if (n % 2 == 0 && dc__unhex(dec, s, n / 2) == 0) {
        dc__hex(enc, dec, n / 2);
        if (strncasecmp(enc, s, n) != 0)
            abort();
    }
    free(dec);
    free(enc);
}

/* Whatever parses formats back to text that parses to the same instant. */
static void check_iso8601(const char *s)
{
    int64_t ms, again;
    char out[32];
    int rc = dc__parse_iso8601(s, &ms);
    if (rc != 0) {
        if (rc != DC_ETIME)
            abort();
        return;
    }
    if (ms < 0 || ms > 253402300799999LL)
        return; /* outside what the formatter can write */
    dc__iso8601(out, ms);
    if (dc__parse_iso8601(out, &again) != 0 || again != ms)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    check_validators(s);
    check_base64(s, size);
    check_iso8601(s);
    free(s);
    return 0;
}
