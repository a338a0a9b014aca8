/* dcall: the command-line softphone. One JSON object per line on stdout for every event; the SDK
 * runs on this program's own libuv loop, so its events and our timers share one thread. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "args.h"
#include "common/util.h"
#include "dcall/dcall.h"

#define DEFAULT_CONTEXT "dcall CLI call"
#define TOKEN_TTL_S 86400  /* the longest a token may live; listen runs long */
#define STOP_GRACE_MS 3000 /* after SIGINT, how long to wait for the call's ended */
#define CLOSE_GRACE_MS 1000

enum action { ACT_NONE, ACT_ANSWER, ACT_DECLINE, ACT_HANGUP, ACT_CANCEL };

struct app {
    struct dc__cli_args a;
    uv_loop_t loop;
    dc_client *client;
    uv_timer_t action_timer, stop_timer;
    uv_signal_t sigint, sigterm, sigusr1;
    enum action action;
    char call_id[65];
    char ccid[65];
    int placed, live, answered, stopping, finishing, closed;
    long ended_calls;
    int exit_code;
};

static const char usage_text[] =
    "usage:\n"
    "  dcall --server URL (--token T | --account ID --api-secret S) --cuid CUID [--name NAME]\n"
    "        listen [--answer-after S | --decline-after S | --no-answer] [--hangup-after S]\n"
    "               [--exit-after-calls N]\n"
    "  dcall --server URL (--token T | --account ID --api-secret S) --cuid CUID [--name NAME]\n"
    "        call CUID [--context TEXT] [--hangup-after S] [--cancel-after S]\n"
    "             [--min-network-score N]\n"
    "  dcall devices\n"
    "Audio (listen and call): --play FILE.wav (what this party says, once, from the\n"
    "'media' event), --record FILE.wav (what it hears, 48 kHz mono 16-bit, from 'media'\n"
    "to the end of the call), --input-device NAME / --output-device NAME (PortAudio;\n"
    "see 'dcall devices'), --no-media (signalling only). Default: silence out, nothing\n"
    "played. An input device gets echo cancellation, noise suppression and gain\n"
    "control; --no-audio-processing turns them off (WAV files never get them).\n"
    "TLS: --ca-file PEM trusts the CAs in PEM for an https:// or wss:// server.\n"
    "S is a decimal number of seconds (0.5). --server takes the server's base URL\n"
    "(http://127.0.0.1:8080; ws:// also accepted). Events are printed as JSON lines.\n";

static void put_str(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, json_string(v));
}

static void print_json(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        free(s);
    }
    json_decref(o);
}

static json_t *event_head(const char *name, const char *call_id, int64_t ts_ms)
{
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string(name));
    json_object_set_new(o, "call_id", call_id ? json_string(call_id) : json_null());
    json_object_set_new(o, "ts_ms", json_integer(ts_ms));
    return o;
}

static void print_local_error(int err, const char *field)
{
    json_t *o = event_head("error", NULL, dc__now_ms());
    char msg[512];
    snprintf(msg, sizeof msg, "%s: %s", field, dc_strerror(err));
    put_str(o, "code", dc_err_code(err));
    put_str(o, "message", msg);
    put_str(o, "field", field);
    print_json(o);
}

static void add_from_server(json_t *o, json_t *srv, const char *key)
{
    json_t *v = json_object_get(srv, key);
    if (v)
        json_object_set(o, key, v);
}

static void add_fields(json_t *o, const dc_event *ev, json_t *srv)
{
    put_str(o, "client_call_id", ev->client_call_id);
    switch (ev->type) {
    case DC_EV_REGISTERED:
        put_str(o, "cuid", ev->peer_cuid);
        put_str(o, "name", ev->peer_name);
        add_from_server(o, srv, "session_id");
        add_from_server(o, srv, "resumed");
        break;
    case DC_EV_OUTGOING:
        put_str(o, "to", ev->peer_cuid);
        put_str(o, "context", ev->context);
        break;
    case DC_EV_INCOMING:
    case DC_EV_MISSED_CALL: {
        json_t *from = json_object();
        put_str(from, "cuid", ev->peer_cuid);
        put_str(from, "name", ev->peer_name);
        json_object_set_new(o, "from", from);
        put_str(o, "context", ev->context);
        put_str(o, "remote_context", ev->remote_context);
        put_str(o, "caller_image", ev->caller_image);
        put_str(o, "callee_image", ev->callee_image);
        add_from_server(o, srv, "at");
        break;
    }
    case DC_EV_DECLINED:
        put_str(o, "detail", ev->detail);
        break;
    case DC_EV_RECONNECTING:
    case DC_EV_RECONNECTED:
        put_str(o, "who", ev->who);
        break;
    case DC_EV_BRANDING:
        add_from_server(o, srv, "branding");
        break;
    case DC_EV_QUALITY:
        json_object_set_new(o, "mos", json_real(ev->mos));
        json_object_set_new(o, "loss_pct", json_real(ev->loss_pct));
        json_object_set_new(o, "rtt_ms", json_real(ev->rtt_ms));
        json_object_set_new(o, "jitter_ms", json_real(ev->jitter_ms));
        break;
    case DC_EV_NETWORK_CHECK:
        json_object_set_new(o, "score", ev->score < 0 ? json_null() : json_integer(ev->score));
        json_object_set_new(o, "rtt_ms", ev->score < 0 ? json_null() : json_real(ev->rtt_ms));
        json_object_set_new(o, "loss_pct", ev->score < 0 ? json_null() : json_real(ev->loss_pct));
        json_object_set_new(o, "jitter_ms", ev->score < 0 ? json_null() : json_real(ev->jitter_ms));
        break;
    case DC_EV_ERROR:
        put_str(o, "code", ev->code ? ev->code : dc_err_code(ev->err));
        put_str(o, "message", ev->message ? ev->message : dc_strerror(ev->err));
        add_from_server(o, srv, "field");
        break;
    case DC_EV_ENDED:
        json_object_set_new(o, "reason", json_string(ev->reason ? ev->reason : "failed"));
        json_object_set_new(o, "detail", ev->detail ? json_string(ev->detail) : json_null());
        json_object_set_new(o, "duration_ms", json_integer(ev->duration_ms));
        json_object_set_new(o, "ended_by", ev->ended_by ? json_string(ev->ended_by) : json_null());
        break;
    default:
        break;
    }
}

static void print_event(const dc_event *ev)
{
    static const char *const names[] = {
        [DC_EV_REGISTERED] = "registered",
        [DC_EV_OUTGOING] = "outgoing",
        [DC_EV_RINGING] = "ringing",
        [DC_EV_INCOMING] = "incoming",
        [DC_EV_ANSWERED] = "answered",
        [DC_EV_ANSWERED_ELSEWHERE] = "answered_elsewhere",
        [DC_EV_DECLINED] = "declined",
        [DC_EV_MISSED] = "missed",
        [DC_EV_CANCELLED] = "cancelled",
        [DC_EV_BUSY] = "busy",
        [DC_EV_UNREACHABLE] = "unreachable",
        [DC_EV_RECONNECTING] = "reconnecting",
        [DC_EV_RECONNECTED] = "reconnected",
        [DC_EV_ENDED] = "ended",
        [DC_EV_MISSED_CALL] = "missed_call",
        [DC_EV_BRANDING] = "branding",
        [DC_EV_ERROR] = "error",
        [DC_EV_MEDIA] = "media",
        [DC_EV_QUALITY] = "quality",
        [DC_EV_NETWORK_CHECK] = "network_check",
    };
    if (ev->type <= 0 || (size_t)ev->type >= sizeof names / sizeof names[0] || !names[ev->type])
        return;
    json_t *srv = ev->json ? json_loads(ev->json, 0, NULL) : NULL;
    json_t *o = event_head(names[ev->type], ev->call_id, ev->ts_ms);
    add_fields(o, ev, srv);
    json_decref(srv);
    print_json(o);
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static void release_cb(uv_timer_t *t)
{
    struct app *app = t->data;
    /* Outside the SDK's callback, as dcall.h requires for the last reference. */
    if (app->client) {
        dc_client_unref(app->client);
        app->client = NULL;
    }
    uv_close((uv_handle_t *)&app->action_timer, close_cb);
    uv_close((uv_handle_t *)&app->stop_timer, close_cb);
    uv_close((uv_handle_t *)&app->sigint, close_cb);
    uv_close((uv_handle_t *)&app->sigterm, close_cb);
    uv_close((uv_handle_t *)&app->sigusr1, close_cb);
}

/* Ends the program: close the connection politely, then let the loop run dry. */
static void finish(struct app *app, int code)
{
    if (app->finishing)
        return;
    app->finishing = 1;
    app->exit_code = code;
    uv_timer_stop(&app->action_timer);
    uv_signal_stop(&app->sigint);
    uv_signal_stop(&app->sigterm);
    uv_signal_stop(&app->sigusr1);
    if (app->closed || !app->client) {
        uv_timer_start(&app->stop_timer, release_cb, 0, 0);
        return;
    }
    dc_client_disconnect(app->client);
    uv_timer_start(&app->stop_timer, release_cb, CLOSE_GRACE_MS, 0);
}

static void do_action(uv_timer_t *t)
{
    struct app *app = t->data;
    enum action act = app->action;
    app->action = ACT_NONE;
    if (!app->live || !app->call_id[0])
        return;
    switch (act) {
    case ACT_ANSWER:
        dc_client_answer(app->client, app->call_id);
        break;
    case ACT_DECLINE:
        dc_client_decline(app->client, app->call_id, NULL);
        break;
    case ACT_HANGUP:
        dc_client_hangup(app->client, app->call_id);
        break;
    case ACT_CANCEL:
        dc_client_cancel(app->client, app->call_id);
        break;
    case ACT_NONE:
        break;
    }
}

static void schedule(struct app *app, enum action act, double seconds)
{
    if (seconds < 0)
        return;
    app->action = act;
    uv_timer_start(&app->action_timer, do_action, (uint64_t)(seconds * 1000.0 + 0.5), 0);
}

static int is_input_error(const char *code)
{
    return code && strncmp(code, "invalid_", 8) == 0 && strcmp(code, "invalid_token") != 0 &&
           strcmp(code, "invalid_state") != 0;
}

static void place_call(struct app *app)
{
    dc_call_params p;
    memset(&p, 0, sizeof p);
    p.to = app->a.callee;
    p.context = app->a.context ? app->a.context : DEFAULT_CONTEXT;
    int rc = dc_client_place(app->client, &p, app->ccid);
    app->placed = 1;
    if (rc != 0) {
        print_local_error(rc, rc == DC_ECONTEXT ? "--context" : "callee");
        finish(app, 2);
    }
}

static void on_ended(struct app *app, const dc_event *ev)
{
    int same = app->call_id[0] && ev->call_id && strcmp(ev->call_id, app->call_id) == 0;
    int placed = app->ccid[0] && ev->client_call_id && strcmp(ev->client_call_id, app->ccid) == 0;
    if (app->a.cmd == DC__CLI_CALL) {
        if (same || placed) /* only the call we placed ends the program */
            finish(app, app->exit_code);
        return;
    }
    /* listen: every call counts once; the one we were handling frees us for the next */
    if (same || !app->call_id[0]) {
        uv_timer_stop(&app->action_timer);
        app->live = app->answered = 0;
        app->call_id[0] = 0;
    }
    app->ended_calls++;
    if (app->stopping && !app->live)
        finish(app, 0);
    else if (app->a.exit_after_calls && app->ended_calls >= app->a.exit_after_calls)
        finish(app, 0);
}

static void on_incoming(struct app *app, const dc_event *ev)
{
    /* call mode places one call and leaves any incoming one alone (the server reports busy) */
    if (app->a.cmd != DC__CLI_LISTEN || app->live || !ev->call_id || app->stopping)
        return;
    snprintf(app->call_id, sizeof app->call_id, "%s", ev->call_id);
    app->live = 1;
    if (app->a.decline_after >= 0)
        schedule(app, ACT_DECLINE, app->a.decline_after);
    else if (!app->a.no_answer)
        schedule(app, ACT_ANSWER, app->a.answer_after >= 0 ? app->a.answer_after : 0);
}

static void on_error(struct app *app, const dc_event *ev)
{
    const char *code = ev->code ? ev->code : dc_err_code(ev->err);
    if (ev->err == DC_ECONNECT) {
        fprintf(stderr, "dcall: cannot reach the server at %s (is dcalld running?)\n",
                app->a.server);
        app->exit_code = 1;
    } else if (ev->err == DC_ETOKEN || ev->err == DC_ETOKEN_EXPIRED ||
               ev->err == DC_ETOKEN_REVOKED || ev->err == DC_EUNAUTHORIZED ||
               ev->err == DC_EAUTHMODE || ev->err == DC_ELOGGEDOUT) {
        fprintf(stderr, "dcall: the server refused the sign-in: %s\n", code);
        app->exit_code = 1;
    } else if (app->a.cmd == DC__CLI_CALL && ev->client_call_id && app->ccid[0] &&
               strcmp(ev->client_call_id, app->ccid) == 0 && is_input_error(code)) {
        app->exit_code = 2;
    }
}

static void on_event(dc_client *c, const dc_event *ev, void *ud)
{
    struct app *app = ud;
    (void)c;
    print_event(ev);
    switch (ev->type) {
    case DC_EV_REGISTERED:
        if (app->a.cmd == DC__CLI_CALL && !app->placed && !app->stopping)
            place_call(app);
        break;
    case DC_EV_OUTGOING:
        if (ev->call_id && (!ev->client_call_id || strcmp(ev->client_call_id, app->ccid) == 0)) {
            snprintf(app->call_id, sizeof app->call_id, "%s", ev->call_id);
            app->live = 1;
        }
        break;
    case DC_EV_RINGING:
        if (app->a.cmd == DC__CLI_CALL && !app->answered)
            schedule(app, ACT_CANCEL, app->a.cancel_after);
        break;
    case DC_EV_INCOMING:
        on_incoming(app, ev);
        break;
    case DC_EV_ANSWERED:
        app->answered = 1;
        if (ev->call_id && !app->call_id[0])
            snprintf(app->call_id, sizeof app->call_id, "%s", ev->call_id);
        app->live = 1;
        uv_timer_stop(&app->action_timer);
        schedule(app, ACT_HANGUP, app->a.hangup_after);
        break;
    case DC_EV_ENDED:
        on_ended(app, ev);
        break;
    case DC_EV_ERROR:
        on_error(app, ev);
        break;
    case DC_EV_CLOSED:
        app->closed = 1;
        if (app->finishing)
            uv_timer_start(&app->stop_timer, release_cb, 0, 0);
        else
            finish(app, app->exit_code ? app->exit_code : 1);
        break;
    default:
        break;
    }
}

static void stop_timeout(uv_timer_t *t)
{
    struct app *app = t->data;
    finish(app, app->a.cmd == DC__CLI_LISTEN ? 0 : 1);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct app *app = s->data;
    (void)signum;
    if (app->stopping) {
        finish(app, app->a.cmd == DC__CLI_LISTEN ? 0 : 1);
        return;
    }
    app->stopping = 1;
    if (!app->live || !app->call_id[0]) {
        finish(app, app->a.cmd == DC__CLI_LISTEN ? 0 : 1);
        return;
    }
    if (app->answered)
        dc_client_hangup(app->client, app->call_id);
    else if (app->a.cmd == DC__CLI_CALL)
        dc_client_cancel(app->client, app->call_id);
    else
        dc_client_decline(app->client, app->call_id, NULL);
    uv_timer_start(&app->stop_timer, stop_timeout, STOP_GRACE_MS, 0);
}

/* SIGUSR1: "the network changed" (what a phone's OS would tell an app), for tests and scripts. */
static void on_netchange(uv_signal_t *s, int signum)
{
    struct app *app = s->data;
    (void)signum;
    if (app->client)
        dc_client_network_changed(app->client);
}

/* Checks values the grammar cannot: reported as an error event, exit 2. */
static int check_values(const struct dc__cli_args *a)
{
    int rc;
    if ((rc = dc_validate_cuid(a->cuid)) != 0) {
        print_local_error(rc, "--cuid");
        return rc;
    }
    if (a->name && (rc = dc_validate_name(a->name)) != 0) {
        print_local_error(rc, "--name");
        return rc;
    }
    if (a->cmd == DC__CLI_CALL) {
        if ((rc = dc_validate_cuid(a->callee)) != 0) {
            print_local_error(rc, "callee");
            return rc;
        }
        if (strcmp(a->callee, a->cuid) == 0) {
            print_local_error(DC_ESELF, "callee");
            return DC_ESELF;
        }
        if (a->context && (rc = dc_validate_context(a->context)) != 0) {
            print_local_error(rc, "--context");
            return rc;
        }
    }
    return 0;
}

/* "wav:PATH" for a file option, "device:NAME" for a device option, else "null" (silence). */
static char *audio_spec(const char *file, const char *device)
{
    const char *pre = file ? "wav:" : device ? "device:" : NULL;
    const char *val = file ? file : device;
    char *s = NULL;
    if (!pre)
        return strdup("null");
    size_t n = strlen(pre) + strlen(val) + 1;
    if ((s = malloc(n)))
        snprintf(s, n, "%s%s", pre, val);
    return s;
}

static int list_devices(void)
{
    char *text = NULL;
    int rc = dc_audio_devices(&text);
    if (rc != 0) {
        fprintf(stderr, "dcall: cannot list audio devices: %s\n", dc_strerror(rc));
        return 1;
    }
    fputs(text, stdout);
    free(text);
    return 0;
}

static int make_client(struct app *app)
{
    dc_config cfg;
    char *minted = NULL;
    char *ain = NULL, *aout = NULL;
    int rc;
    memset(&cfg, 0, sizeof cfg);
    cfg.no_media = app->a.no_media;
    cfg.min_network_score = app->a.min_network_score;
    cfg.no_audio_processing = app->a.no_audio_processing;
    if (!cfg.no_media) {
        ain = audio_spec(app->a.play, app->a.input_device);
        aout = audio_spec(app->a.record, app->a.output_device);
        cfg.audio_in = ain;
        cfg.audio_out = aout;
    }
    cfg.server_url = app->a.server;
    cfg.ca_file = app->a.ca_file;
    cfg.cuid = app->a.cuid;
    cfg.name = app->a.name;
    cfg.token = app->a.token;
    if (!cfg.token) {
        rc = dc_token_mint(app->a.account, app->a.api_secret, app->a.cuid, app->a.name, TOKEN_TTL_S,
                           &minted);
        if (rc != 0) {
            print_local_error(rc, rc == DC_EID ? "--account" : "--api-secret");
            return rc;
        }
        cfg.token = minted;
    }
    cfg.on_event = on_event;
    cfg.userdata = app;
    cfg.uv_loop = &app->loop;
    rc = dc_client_new(&cfg, &app->client);
    free(minted); /* the client keeps its own copy */
    free(ain);
    free(aout);
    if (rc != 0)
        print_local_error(rc, rc == DC_EURL ? "--server" : rc == DC_ETOKEN ? "--token" : "config");
    return rc;
}

int main(int argc, char **argv)
{
    static struct app app;
    char err[256];
    signal(SIGPIPE, SIG_IGN);
    if (dc__cli_parse(argc, argv, &app.a, err, sizeof err) != 0) {
        fprintf(stderr, "dcall: %s\n%s", err, usage_text);
        return 2;
    }
    if (app.a.help) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (app.a.cmd == DC__CLI_DEVICES)
        return list_devices();
    if (check_values(&app.a) != 0)
        return 2;
    if (uv_loop_init(&app.loop) != 0)
        return 1;
    if (make_client(&app) != 0) {
        uv_loop_close(&app.loop);
        return 2;
    }
    uv_timer_init(&app.loop, &app.action_timer);
    uv_timer_init(&app.loop, &app.stop_timer);
    uv_signal_init(&app.loop, &app.sigint);
    uv_signal_init(&app.loop, &app.sigterm);
    uv_signal_init(&app.loop, &app.sigusr1);
    app.action_timer.data = app.stop_timer.data = app.sigint.data = app.sigterm.data = &app;
    app.sigusr1.data = &app;
    uv_signal_start(&app.sigusr1, on_netchange, SIGUSR1);
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    dc_client_connect(app.client);
    uv_run(&app.loop, UV_RUN_DEFAULT);
    uv_loop_close(&app.loop);
    return app.exit_code;
}
