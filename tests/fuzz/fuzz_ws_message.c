/* Fuzz target for the signalling message parser and the call state machine behind it: each input
 * is one WebSocket text message, sent either before sign-in (first byte even) or from a device
 * already signed in with a valid token (first byte odd), with a second signed-in device of
 * another user present so place/answer/decline paths are reachable. A real store in a temp dir. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/jwt.h"
#include "common/log.h"
#include "common/util.h"
#include "fuzz_server.h"

static char tok_a[2048], tok_b[2048];

static void fz_token(const dc__account *a, const char *cuid, char *out)
{
    json_t *claims = json_pack("{ss ss sI sI}", "acc", a->id, "sub", cuid, "iat",
                               (json_int_t)(dc__now_ms() / 1000), "exp",
                               (json_int_t)(dc__now_ms() / 1000 + 3600));
    char *t = NULL;
    if (dc__jwt_sign(claims, NULL, a->api_secret, strlen(a->api_secret), &t) < 0)
        abort();
    snprintf(out, 2048, "%s", t);
    free(t);
    json_decref(claims);
}

static void fz_init(void)
{
    dc__account *a = fz_server_init();
    fz_token(a, "rider_1", tok_a);
    fz_token(a, "driver_7", tok_b);
    dc__account_free(a);
}

static void fz_hello(dc__conn *c, const char *tok)
{
    char msg[2200];
    int n = snprintf(msg, sizeof msg, "{\"type\":\"hello\",\"v\":1,\"token\":\"%s\"}", tok);
    dc__ws_on_message(c, msg, (size_t)n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz_srv.store)
        fz_init();
    if (size == 0 || size > DC__MAX_MSG)
        return 0;
    dc__conn a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.srv = b.srv = &fz_srv;
    a.is_ws = b.is_ws = 1;
    if (data[0] & 1) {
        fz_hello(&a, tok_a);
        fz_hello(&b, tok_b);
    }
    char *text = malloc(size);
    if (!text)
        abort();
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    dc__ws_on_message(&a, text, size - 1);
    free(text);
    dc__ws_on_close(&a);
    dc__ws_on_close(&b);
    dc__session *s, *tmp;
    HASH_ITER(hh, fz_srv.sessions, s, tmp)
    dc__session_destroy(s);
    uv_run(fz_srv.loop, UV_RUN_NOWAIT);
    return 0;
}
