/* libdcall unit tests that need no server: URL rules, CLI grammar, protocol
 * JSON in and out, the exactly-once seq rule, token minting, argument
 * validation and clean teardown of clients. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "../../src/cli/args.c" /* the CLI's parser is not in a library; test it in place */
#include "common/jwt.h"
#include "common/util.h"
#include "dcall/dcall.h"
#include "sdk/sdk_internal.h"

static void test_url_http_becomes_ws(void **state)
{
    struct dc__url u;
    (void)state;
    assert_int_equal(dc__sdk_parse_url("http://127.0.0.1:8080", &u), 0);
    assert_int_equal(u.tls, 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 8080);
    assert_string_equal(u.path, "/v1/ws");
    assert_int_equal(dc__sdk_parse_url("https://calls.example.com/", &u), 0);
    assert_int_equal(u.tls, 1);
    assert_int_equal(u.port, 443);
    assert_string_equal(u.path, "/v1/ws");
    assert_int_equal(dc__sdk_parse_url("http://example.com", &u), 0);
    assert_int_equal(u.port, 80);
}

static void test_url_ws_kept(void **state)
{
    struct dc__url u;
    (void)state;
    assert_int_equal(dc__sdk_parse_url("ws://localhost:9/v1/ws", &u), 0);
    assert_string_equal(u.path, "/v1/ws");
    assert_int_equal(u.port, 9);
    assert_int_equal(dc__sdk_parse_url("wss://h.example:8443", &u), 0);
    assert_int_equal(u.tls, 1);
    assert_string_equal(u.path, "/v1/ws");
    assert_int_equal(dc__sdk_parse_url("http://h/prefix", &u), 0);
    assert_string_equal(u.path, "/prefix/v1/ws");
    assert_int_equal(dc__sdk_parse_url("http://[::1]:8080", &u), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 8080);
}

static void test_url_refused(void **state)
{
    struct dc__url u;
    (void)state;
    const char *bad[] = {"ftp://h",
                         "127.0.0.1:8080",
                         "http://",
                         "http://:80",
                         "http://h:0",
                         "http://h:70000",
                         "http://h:8x",
                         "http://h:",
                         "http://h/a b",
                         "http://h?x=1",
                         "",
                         "http://u@h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(dc__sdk_parse_url(bad[i], &u), DC_EURL);
    assert_int_equal(dc__sdk_parse_url(NULL, &u), DC_EURL);
}

static int parse(struct dc__cli_args *a, char *err, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, err);
    argv[argc++] = "dcall";
    for (char *s; (s = va_arg(ap, char *)) != NULL && argc < 31;)
        argv[argc++] = s;
    va_end(ap);
    argv[argc] = NULL;
    return dc__cli_parse(argc, argv, a, err, 256);
}

static void test_args_options_anywhere(void **state)
{
    struct dc__cli_args a;
    char err[256];
    (void)state;
    assert_int_equal(parse(&a, err, "listen", "--server", "http://h:1", "--token", "T", "--cuid",
                           "rider_1", "--answer-after", "0.5", "--exit-after-calls=3", NULL),
                     0);
    assert_int_equal(a.cmd, DC__CLI_LISTEN);
    assert_string_equal(a.server, "http://h:1");
    assert_string_equal(a.cuid, "rider_1");
    assert_true(a.answer_after > 0.49 && a.answer_after < 0.51);
    assert_int_equal(a.exit_after_calls, 3);
    assert_true(a.decline_after < 0 && a.hangup_after < 0);
    assert_int_equal(parse(&a, err, "--server", "ws://h:1", "--account", "acc_1", "--api-secret",
                           "s", "--cuid", "rider_1", "call", "driver_1", "--context", "Ride 7",
                           "--cancel-after", "2", NULL),
                     0);
    assert_int_equal(a.cmd, DC__CLI_CALL);
    assert_string_equal(a.callee, "driver_1");
    assert_string_equal(a.context, "Ride 7");
    assert_true(a.cancel_after > 1.99 && a.cancel_after < 2.01);
    assert_null(a.token);
}

static void test_args_refused(void **state)
{
    struct dc__cli_args a;
    char err[256];
    (void)state;
    /* no server */
    assert_int_equal(parse(&a, err, "--token", "T", "--cuid", "rider_1", "listen", NULL),
                     DC_EINVAL);
    assert_non_null(strstr(err, "--server"));
    /* token and account together */
    assert_int_equal(parse(&a, err, "--server", "http://h", "--token", "T", "--account", "a",
                           "--api-secret", "s", "--cuid", "rider_1", "listen", NULL),
                     DC_EINVAL);
    /* account without secret */
    assert_int_equal(parse(&a, err, "--server", "http://h", "--account", "a", "--cuid", "rider_1",
                           "listen", NULL),
                     DC_EINVAL);
    /* unknown option, missing value, bad seconds */
    assert_int_equal(parse(&a, err, "--server", "http://h", "--token", "T", "--cuid", "rider_1",
                           "listen", "--bogus", NULL),
                     DC_EINVAL);
    assert_non_null(strstr(err, "--bogus"));
    assert_int_equal(parse(&a, err, "--server", NULL), DC_EINVAL);
    assert_int_equal(parse(&a, err, "--server", "http://h", "--token", "T", "--cuid", "rider_1",
                           "listen", "--answer-after", "-1", NULL),
                     DC_EINVAL);
    assert_int_equal(parse(&a, err, "--server", "http://h", "--token", "T", "--cuid", "rider_1",
                           "listen", "--hangup-after", "1s", NULL),
                     DC_EINVAL);
    /* listen-only and call-only options in the wrong place */
    assert_int_equal(parse(&a, err, "--server", "http://h", "--token", "T", "--cuid", "rider_1",
                           "listen", "--context", "x", NULL),
                     DC_EINVAL);
    assert_int_equal(parse(&a, err, "--server", "http://h", "--token", "T", "--cuid", "rider_1",
                           "call", "driver_1", "--no-answer", NULL),
                     DC_EINVAL);
    assert_int_equal(parse(&a, err, "--server", "http://h", "--token", "T", "--cuid", "rider_1",
                           "listen", "--no-answer", "--answer-after", "1", NULL),
                     DC_EINVAL);
    /* call without callee, extra words, no command */
    assert_int_equal(
        parse(&a, err, "--server", "http://h", "--token", "T", "--cuid", "rider_1", "call", NULL),
        DC_EINVAL);
    assert_int_equal(parse(&a, err, "--server", "http://h", "--token", "T", "--cuid", "rider_1",
                           "call", "a_b1", "extra", NULL),
                     DC_EINVAL);
    assert_int_equal(
        parse(&a, err, "--server", "http://h", "--token", "T", "--cuid", "rider_1", NULL),
        DC_EINVAL);
    assert_int_equal(parse(&a, err, "--help", NULL), 0);
    assert_int_equal(a.help, 1);
}

static void test_seconds(void **state)
{
    double v = -1;
    (void)state;
    assert_int_equal(dc__cli_seconds("0", &v), 0);
    assert_true(v == 0);
    assert_int_equal(dc__cli_seconds("2.25", &v), 0);
    assert_true(v == 2.25);
    assert_int_equal(dc__cli_seconds("", &v), DC_EINVAL);
    assert_int_equal(dc__cli_seconds("nan", &v), DC_EINVAL);
    assert_int_equal(dc__cli_seconds("1e9", &v), DC_EINVAL);
    assert_int_equal(dc__cli_seconds("+1", &v), DC_EINVAL);
}

static json_t *load(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_hello_json(void **state)
{
    dc_config cfg;
    char *text = NULL;
    (void)state;
    memset(&cfg, 0, sizeof cfg);
    cfg.token = "tok.en.x";
    assert_int_equal(dc__sdk_hello_json(&cfg, NULL, &text), 0);
    json_t *j = load(text);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "hello");
    assert_int_equal(json_integer_value(json_object_get(j, "v")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "token")), "tok.en.x");
    assert_null(json_object_get(j, "resume"));
    assert_null(json_object_get(j, "api_key"));
    json_decref(j);
    free(text);

    struct dc__sdk_resume res = {"s_1", "sec", 17};
    memset(&cfg, 0, sizeof cfg);
    cfg.account_id = "acc_1";
    cfg.api_key = "key_1";
    cfg.cuid = "rider_1";
    cfg.name = "Asha";
    assert_int_equal(dc__sdk_hello_json(&cfg, &res, &text), 0);
    j = load(text);
    assert_string_equal(json_string_value(json_object_get(j, "account_id")), "acc_1");
    assert_string_equal(json_string_value(json_object_get(j, "api_key")), "key_1");
    assert_string_equal(json_string_value(json_object_get(j, "cuid")), "rider_1");
    assert_string_equal(json_string_value(json_object_get(j, "name")), "Asha");
    assert_null(json_object_get(j, "token"));
    json_t *r = json_object_get(j, "resume");
    assert_string_equal(json_string_value(json_object_get(r, "session_id")), "s_1");
    assert_string_equal(json_string_value(json_object_get(r, "secret")), "sec");
    assert_int_equal(json_integer_value(json_object_get(r, "last_seq")), 17);
    json_decref(j);
    free(text);
}

static void test_place_and_op_json(void **state)
{
    dc_call_params p;
    char *text = NULL;
    (void)state;
    memset(&p, 0, sizeof p);
    p.to = "driver_1";
    p.context = "Ride #4821";
    p.caller_image = "https://x.example/a.png";
    assert_int_equal(dc__sdk_place_json(&p, "cc_1", &text), 0);
    json_t *j = load(text);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "place");
    assert_string_equal(json_string_value(json_object_get(j, "client_call_id")), "cc_1");
    assert_string_equal(json_string_value(json_object_get(j, "ref")), "cc_1");
    assert_string_equal(json_string_value(json_object_get(j, "to")), "driver_1");
    assert_string_equal(json_string_value(json_object_get(j, "context")), "Ride #4821");
    assert_string_equal(json_string_value(json_object_get(j, "caller_image")),
                        "https://x.example/a.png");
    assert_null(json_object_get(j, "remote_context"));
    assert_null(json_object_get(j, "callee_image"));
    json_decref(j);
    free(text);

    assert_int_equal(dc__sdk_op_json("decline", "c_9", "microphone_permission", &text), 0);
    j = load(text);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "decline");
    assert_string_equal(json_string_value(json_object_get(j, "call_id")), "c_9");
    assert_string_equal(json_string_value(json_object_get(j, "detail")), "microphone_permission");
    json_decref(j);
    free(text);
    assert_int_equal(dc__sdk_op_json("hangup", "c_9", NULL, &text), 0);
    j = load(text);
    assert_null(json_object_get(j, "detail"));
    json_decref(j);
    free(text);
}

static void test_parse_incoming_and_ended(void **state)
{
    struct dc__sdk_msg m;
    (void)state;
    const char *in = "{\"type\":\"incoming\",\"seq\":5,\"ts_ms\":1,\"call_id\":\"c_1\","
                     "\"from\":"
                     "{\"cuid\":\"rider_1\",\"name\":\"Asha\"},\"context\":\"Ride\","
                     "\"caller_image\":\"https://i/x.png\"}";
    assert_int_equal(dc__sdk_msg_parse(in, strlen(in), &m), 0);
    assert_true(m.known);
    assert_int_equal(m.seq, 5);
    assert_int_equal(m.ev.type, DC_EV_INCOMING);
    assert_string_equal(m.ev.call_id, "c_1");
    assert_string_equal(m.ev.peer_cuid, "rider_1");
    assert_string_equal(m.ev.peer_name, "Asha");
    assert_string_equal(m.ev.context, "Ride");
    assert_string_equal(m.ev.caller_image, "https://i/x.png");
    assert_null(m.ev.callee_image);
    dc__sdk_msg_free(&m);

    const char *end = "{\"type\":\"ended\",\"seq\":9,\"call_id\":\"c_1\","
                      "\"reason\":\"completed\","
                      "\"detail\":\"answered_elsewhere\",\"duration_ms\":1234,"
                      "\"ended_by\":\"x_1\"}";
    assert_int_equal(dc__sdk_msg_parse(end, strlen(end), &m), 0);
    assert_int_equal(m.ev.type, DC_EV_ENDED);
    assert_string_equal(m.ev.reason, "completed");
    assert_string_equal(m.ev.detail, "answered_elsewhere");
    assert_int_equal(m.ev.duration_ms, 1234);
    assert_string_equal(m.ev.ended_by, "x_1");
    dc__sdk_msg_free(&m);
}

static void test_parse_error_registered_unknown(void **state)
{
    struct dc__sdk_msg m;
    (void)state;
    const char *e = "{\"type\":\"error\",\"seq\":2,\"code\":\"token_expired\","
                    "\"message\":\"m\"}";
    assert_int_equal(dc__sdk_msg_parse(e, strlen(e), &m), 0);
    assert_int_equal(m.ev.type, DC_EV_ERROR);
    assert_int_equal(m.ev.err, DC_ETOKEN_EXPIRED);
    assert_string_equal(m.ev.code, "token_expired");
    assert_true(dc__sdk_auth_final(m.ev.code));
    dc__sdk_msg_free(&m);
    assert_false(dc__sdk_auth_final("rate_limited"));
    assert_false(dc__sdk_auth_final(NULL));

    const char *r = "{\"type\":\"registered\",\"seq\":1,\"cuid\":\"rider_1\","
                    "\"name\":\"Asha\"}";
    assert_int_equal(dc__sdk_msg_parse(r, strlen(r), &m), 0);
    assert_int_equal(m.ev.type, DC_EV_REGISTERED);
    assert_string_equal(m.ev.peer_cuid, "rider_1");
    dc__sdk_msg_free(&m);

    const char *u = "{\"type\":\"pong\"}";
    assert_int_equal(dc__sdk_msg_parse(u, strlen(u), &m), 0);
    assert_false(m.known);
    assert_int_equal(m.seq, 0);
    dc__sdk_msg_free(&m);

    const char *bad[] = {"", "[1]", "{\"type\":3}", "{\"seq\":1}", "{\"type\":\"x\"", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(dc__sdk_msg_parse(bad[i], strlen(bad[i]), &m), DC_EJSON);
    /* a local-only type must not be accepted from the wire */
    dc_event_type t;
    assert_int_equal(dc__sdk_event_type("closed", &t), DC_ETYPE);
    assert_int_equal(dc__sdk_event_type("answered_elsewhere", &t), 0);
    assert_int_equal(t, DC_EV_ANSWERED_ELSEWHERE);
    assert_string_equal(dc__sdk_event_name(DC_EV_MISSED_CALL), "missed_call");
}

static void test_seq_exactly_once(void **state)
{
    /* After a resume the server replays from last_seq+1, but a replay may overlap
     * what was already processed; each seq must reach the app once, in order. */
    const int64_t wire[] = {1, 2, 3, 2, 3, 4, 4, 5, 1, 6};
    int64_t delivered[10], last = 0;
    size_t n = 0;
    (void)state;
    for (size_t i = 0; i < sizeof wire / sizeof wire[0]; i++) {
        if (dc__sdk_seq_fresh(last, wire[i])) {
            last = wire[i];
            delivered[n++] = wire[i];
        }
    }
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(delivered[i], (int64_t)i + 1);
}

static void test_token_mint(void **state)
{
    char *tok = NULL;
    json_t *claims = NULL;
    const char *secret = "sk_test_secret";
    (void)state;
    assert_int_equal(dc_token_mint("acc_1", secret, "rider_1", "Asha", 600, &tok), 0);
    assert_int_equal(dc__jwt_verify(tok, secret, strlen(secret), dc__now_ms() / 1000, &claims), 0);
    assert_string_equal(json_string_value(json_object_get(claims, "acc")), "acc_1");
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), "rider_1");
    assert_string_equal(json_string_value(json_object_get(claims, "name")), "Asha");
    assert_int_equal(json_integer_value(json_object_get(claims, "exp")) -
                         json_integer_value(json_object_get(claims, "iat")),
                     600);
    json_decref(claims);
    /* another secret must not verify it */
    assert_int_equal(dc__jwt_verify(tok, "other", 5, dc__now_ms() / 1000, &claims), DC_ETOKEN);
    free(tok);
    assert_int_equal(dc_token_mint("acc_1", secret, "rider_1", NULL, 59, &tok), DC_ETTL);
    assert_int_equal(dc_token_mint("acc_1", secret, "rider_1", NULL, 86401, &tok), DC_ETTL);
    assert_int_equal(dc_token_mint("acc_1", secret, "91_8899555", NULL, 600, &tok), DC_ECUID);
    assert_int_equal(dc_token_mint("acc_1", secret, "rider_1", "A", 600, &tok), DC_ENAME);
    assert_int_equal(dc_token_mint("acc 1", secret, "rider_1", NULL, 600, &tok), DC_EID);
    assert_null(tok);
}

static void noop_cb(dc_client *c, const dc_event *ev, void *ud)
{
    (void)c;
    (void)ev;
    (void)ud;
}

static void test_client_validation(void **state)
{
    dc_config cfg;
    dc_client *c = NULL;
    char ccid[65];
    (void)state;
    memset(&cfg, 0, sizeof cfg);
    cfg.server_url = "ftp://h";
    cfg.token = "t.t.t";
    cfg.on_event = noop_cb;
    assert_int_equal(dc_client_new(&cfg, &c), DC_EURL);
    cfg.server_url = "http://127.0.0.1:9";
    cfg.token = NULL;
    assert_int_equal(dc_client_new(&cfg, &c), DC_EINVAL);
    cfg.token = "t.t.t";
    cfg.cuid = "91_8899555";
    assert_int_equal(dc_client_new(&cfg, &c), DC_ECUID);
    cfg.cuid = "rider_1";
    cfg.name = "Al";
    assert_int_equal(dc_client_new(&cfg, &c), DC_ENAME);
    cfg.name = NULL;
    assert_int_equal(dc_client_new(&cfg, &c), 0);

    dc_call_params p;
    memset(&p, 0, sizeof p);
    p.to = "driver_1";
    p.context = "";
    assert_int_equal(dc_client_place(c, &p, ccid), DC_ECONTEXT);
    p.context = "ok";
    p.to = "91_8899555";
    assert_int_equal(dc_client_place(c, &p, ccid), DC_ECUID);
    p.to = "rider_1";
    assert_int_equal(dc_client_place(c, &p, ccid), DC_ESELF);
    p.to = "driver_1";
    p.callee_image = "javascript:alert(1)";
    assert_int_equal(dc_client_place(c, &p, ccid), DC_EURL);
    p.callee_image = NULL;
    p.client_call_id = "bad id";
    assert_int_equal(dc_client_place(c, &p, ccid), DC_EID);
    assert_int_equal(dc_client_answer(c, "c 1"), DC_EID);
    assert_int_equal(dc_client_hangup(c, NULL), DC_EID);
    /* valid requests are queued without a connection; the unref below must free
     * them */
    p.client_call_id = NULL;
    assert_int_equal(dc_client_place(c, &p, ccid), 0);
    assert_true(strncmp(ccid, "cc_", 3) == 0);
    assert_int_equal(dc_client_answer(c, "c_1"), 0);
    dc_client_unref(dc_client_ref(c)); /* not the last reference: nothing happens */
    dc_client_unref(c);
}

/* A loopback port with nothing listening: bound but not listening refuses
 * connections. */
static int closed_port(int *fd_out)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *fd_out = fd;
    return ntohs(sa.sin_port);
}

struct seen {
    uv_mutex_t mu;
    uv_cond_t cv;
    int errors, closed, other, last_err;
    uv_timer_t release;
    dc_client *client;
};

static void record_cb(dc_client *c, const dc_event *ev, void *ud)
{
    struct seen *s = ud;
    (void)c;
    uv_mutex_lock(&s->mu);
    if (ev->type == DC_EV_ERROR) {
        s->errors++;
        s->last_err = ev->err;
        assert_non_null(ev->message);
        assert_string_equal(ev->code, "connect_failed");
    } else if (ev->type == DC_EV_CLOSED) {
        s->closed++;
    } else {
        s->other++;
    }
    uv_cond_signal(&s->cv);
    uv_mutex_unlock(&s->mu);
}

static void test_no_server_own_thread(void **state)
{
    struct seen s;
    dc_config cfg;
    dc_client *c = NULL;
    char url[64];
    int fd;
    (void)state;
    memset(&s, 0, sizeof s);
    uv_mutex_init(&s.mu);
    uv_cond_init(&s.cv);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", closed_port(&fd));
    memset(&cfg, 0, sizeof cfg);
    cfg.server_url = url;
    cfg.token = "t.t.t";
    cfg.on_event = record_cb;
    cfg.userdata = &s;
    cfg.no_reconnect = 1;
    assert_int_equal(dc_client_new(&cfg, &c), 0);
    assert_int_equal(dc_client_connect(c), 0);
    uv_mutex_lock(&s.mu);
    while (!s.closed)
        assert_int_equal(uv_cond_timedwait(&s.cv, &s.mu, 10ull * 1000 * 1000 * 1000), 0);
    uv_mutex_unlock(&s.mu);
    assert_int_equal(s.errors, 1);
    assert_int_equal(s.last_err, DC_ECONNECT);
    assert_int_equal(s.closed, 1);
    assert_int_equal(s.other, 0);
    dc_client_unref(c); /* joins the loop thread */
    close(fd);
    uv_cond_destroy(&s.cv);
    uv_mutex_destroy(&s.mu);
}

static void release_cb(uv_timer_t *t)
{
    struct seen *s = t->data;
    dc_client_unref(s->client);
    uv_close((uv_handle_t *)t, NULL);
}

static void host_cb(dc_client *c, const dc_event *ev, void *ud)
{
    struct seen *s = ud;
    record_cb(c, ev, ud);
    if (ev->type == DC_EV_CLOSED)
        uv_timer_start(&s->release, release_cb, 0, 0); /* not from inside the callback */
}

static void test_no_server_host_loop(void **state)
{
    struct seen s;
    dc_config cfg;
    uv_loop_t loop;
    char url[64];
    int fd;
    (void)state;
    memset(&s, 0, sizeof s);
    uv_mutex_init(&s.mu);
    uv_cond_init(&s.cv);
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &s.release);
    s.release.data = &s;
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/v1/ws", closed_port(&fd));
    memset(&cfg, 0, sizeof cfg);
    cfg.server_url = url;
    cfg.token = "t.t.t";
    cfg.on_event = host_cb;
    cfg.userdata = &s;
    cfg.uv_loop = &loop;
    cfg.no_reconnect = 1;
    assert_int_equal(dc_client_new(&cfg, &s.client), 0);
    assert_int_equal(dc_client_connect(s.client), 0);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once the client closed every handle it made */
    assert_int_equal(s.errors, 1);
    assert_int_equal(s.closed, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
    close(fd);
    uv_cond_destroy(&s.cv);
    uv_mutex_destroy(&s.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_http_becomes_ws),
        cmocka_unit_test(test_url_ws_kept),
        cmocka_unit_test(test_url_refused),
        cmocka_unit_test(test_args_options_anywhere),
        cmocka_unit_test(test_args_refused),
        cmocka_unit_test(test_seconds),
        cmocka_unit_test(test_hello_json),
        cmocka_unit_test(test_place_and_op_json),
        cmocka_unit_test(test_parse_incoming_and_ended),
        cmocka_unit_test(test_parse_error_registered_unknown),
        cmocka_unit_test(test_seq_exactly_once),
        cmocka_unit_test(test_token_mint),
        cmocka_unit_test(test_client_validation),
        cmocka_unit_test(test_no_server_own_thread),
        cmocka_unit_test(test_no_server_host_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
