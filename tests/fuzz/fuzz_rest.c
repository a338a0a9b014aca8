/* Fuzz target for the REST layer: input is "METHOD\nPATH\nQUERY\nBODY", sent with valid account
 * credentials (first byte odd) or none, against a real store in a temp dir. Exercises routing,
 * query and body parsing and every handler's validation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "fuzz_server.h"

static char auth[512];

static void fz_init(void)
{
    dc__account *a = fz_server_init();
    char cred[256], b64[400];
    int n = snprintf(cred, sizeof cred, "%s:%s", a->id, a->api_secret);
    dc__b64_encode(b64, cred, (size_t)n);
    snprintf(auth, sizeof auth, "Basic %s", b64);
    dc__account_free(a);
}

/* Copies the next '\n'-terminated field of [*p, end) into out (truncated to n-1). */
static void fz_field(const uint8_t **p, const uint8_t *end, char *out, size_t n)
{
    size_t i = 0;
    while (*p < end && **p != '\n') {
        if (i + 1 < n)
            out[i++] = (char)**p;
        (*p)++;
    }
    if (*p < end)
        (*p)++;
    out[i] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz_srv.store)
        fz_init();
    if (size == 0 || size > DC__MAX_MSG)
        return 0;
    dc__http_req *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    const uint8_t *p = data + 1, *end = data + size;
    fz_field(&p, end, r->method, sizeof r->method);
    fz_field(&p, end, r->path, sizeof r->path);
    fz_field(&p, end, r->query, sizeof r->query);
    if (data[0] & 1)
        snprintf(r->auth, sizeof r->auth, "%s", auth);
    if (p < end) {
        r->body_len = (size_t)(end - p);
        r->body = malloc(r->body_len + 1);
        memcpy(r->body, p, r->body_len);
        r->body[r->body_len] = '\0';
    }
    dc__rest_handle(&fz_srv, r);
    while (!r->status && r->async) /* sign-up and log-in answer once scrypt is done */
        uv_run(fz_srv.loop, UV_RUN_ONCE);
    if (!r->status)
        abort(); /* every request gets an answer */
    free(r->body);
    if (!r->resp_static) /* the dashboard's pages are static memory */
        free(r->resp);
    free(r);
    uv_run(fz_srv.loop, UV_RUN_NOWAIT);
    return 0;
}
