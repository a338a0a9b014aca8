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
#include "server/server.h"

static dc__server srv;
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

static void fz_cleanup(void)
{
    char cmd[1200];
    dc__store_close(srv.store);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", srv.cfg.data_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", srv.cfg.data_dir);
}

static void fz_init(void)
{
    dc__log_set_level(DC__LOG_ERROR);
    char dir[] = "/tmp/dcall-fuzz-XXXXXX";
    if (!mkdtemp(dir))
        abort();
    snprintf(srv.cfg.data_dir, sizeof srv.cfg.data_dir, "%s", dir);
    srv.cfg.ring_timeout_s = 35;
    srv.cfg.grace_s = 20;
    memset(srv.master_key, 7, sizeof srv.master_key);
    srv.loop = uv_default_loop();
    dc__account *a = NULL;
    if (dc__store_open(NULL, dir, srv.master_key, &srv.store) < 0 ||
        dc__store_account_create(srv.store, "Fuzz", &a) < 0)
        abort();
    fz_token(a, "rider_1", tok_a);
    fz_token(a, "driver_7", tok_b);
    dc__account_free(a);
    srv.ready = 1;
    atexit(fz_cleanup);
}

static void fz_hello(dc__conn *c, const char *tok)
{
    char msg[2200];
    int n = snprintf(msg, sizeof msg, "{\"type\":\"hello\",\"v\":1,\"token\":\"%s\"}", tok);
    dc__ws_on_message(c, msg, (size_t)n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv.store)
        fz_init();
    if (size == 0 || size > DC__MAX_MSG)
        return 0;
    dc__conn a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.srv = b.srv = &srv;
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
    HASH_ITER(hh, srv.sessions, s, tmp)
    dc__session_destroy(s);
    uv_run(srv.loop, UV_RUN_NOWAIT);
    return 0;
}
