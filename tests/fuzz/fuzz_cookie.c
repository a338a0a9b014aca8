/* Fuzzes the dashboard's Cookie header parser (dc__cookie_get) and the allowed_origins rule,
 * checking what they accept against the documented rules, not just that they do not crash.
 * The first byte picks the output buffer size (1-64) so that "does not fit" is exercised too. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcall/errors.h"
#include "server/webauth.h"

static void check_cookie(const char *hdr, size_t cap)
{
    char out[65];
    memset(out, 'X', sizeof out);
    int rc = dc__cookie_get(hdr, DC__SESSION_COOKIE, out, cap);
    if (rc == 0) {
        size_t n = strlen(out);
        /* the value fits, comes from the header after "dc_session=", holds no separator */
        if (n >= cap || strchr(out, ';') || !strstr(hdr, DC__SESSION_COOKIE "=") ||
            (n && !strstr(hdr, out)))
            abort();
    } else if (rc == DC_ENOTFOUND) {
        if (out[0] != 'X') /* nothing written */
            abort();
    } else if (rc != DC_ETOOBIG) {
        abort();
    }
    /* a bigger buffer never turns a found value into not-found */
    char big[1024];
    if (rc == DC_ETOOBIG &&
        dc__cookie_get(hdr, DC__SESSION_COOKIE, big, sizeof big) == DC_ENOTFOUND)
        abort();
}

static void check_origin(const char *s)
{
    json_t *arr = json_array();
    json_array_append_new(arr, json_string(s));
    if (json_array_size(arr) == 1 && dc__webauth_valid_origins(arr) == 0) {
        const char *h = !strncmp(s, "https://", 8)  ? s + 8
                        : !strncmp(s, "http://", 7) ? s + 7
                                                    : NULL;
        if (!h || strlen(s) > 255 || strchr(h, '/') || strchr(h, '?') || strchr(h, '#') ||
            strchr(h, '@') || !*h)
            abort();
    }
    json_decref(arr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    size_t cap = 1 + data[0] % 64;
    char *s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    check_cookie(s, cap);
    check_origin(s);
    free(s);
    return 0;
}
