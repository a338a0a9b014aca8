/* The signalling connection, on the loop thread: libwebsockets client on the client's libuv loop,
 * hello/resume, exactly-once event delivery by seq, reconnect with backoff, placing ack timer. */
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_priv.h"
#include "media.h"
#include "common/util.h"

#define RX_CHUNK 4096         /* lws rx buffer per connection; messages are reassembled */
#define FIRST_CONNECT_MS 3000 /* give up on a server never reached after this long */
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 8000
#define PLACE_ACK_MS 10000

static int lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len);

static const struct lws_protocols protocols[] = {
    {"dcall", lws_cb, 0, RX_CHUNK, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* The server pings every 15 s; a link silent for longer is probed, then dropped so that the
 * reconnect starts while the server still holds the session (20 s grace). */
static const lws_retry_bo_t idle_policy = {
    .secs_since_valid_ping = 10,
    .secs_since_valid_hangup = 18,
};

static void emit_local(struct dc_client *c, dc_event_type type, const char *call_id)
{
    dc_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.call_id = call_id;
    dc__client_emit(c, &ev);
}

static void emit_error(struct dc_client *c, int err, const char *message, const char *ccid)
{
    dc_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = DC_EV_ERROR;
    ev.err = err;
    ev.code = dc_err_code(err);
    ev.message = message;
    ev.client_call_id = ccid;
    dc__client_emit(c, &ev);
}

static void emit_ended(struct dc_client *c, const char *call_id, const char *ccid,
                       const char *reason, const char *detail)
{
    dc_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = DC_EV_ENDED;
    ev.call_id = call_id;
    ev.client_call_id = ccid;
    ev.reason = reason;
    ev.detail = detail;
    dc__client_emit(c, &ev);
}

static struct dc__out *out_new(char *text)
{
    size_t len = strlen(text);
    struct dc__out *o = calloc(1, sizeof *o);
    if (o)
        o->buf = malloc(LWS_PRE + len);
    if (!o || !o->buf) {
        free(o);
        free(text);
        return NULL;
    }
    memcpy(o->buf + LWS_PRE, text, len);
    o->len = len;
    free(text);
    return o;
}

static void out_free(struct dc__out *o)
{
    if (o)
        free(o->buf);
    free(o);
}

static void oq_push(struct dc_client *c, struct dc__out *o, int front)
{
    if (!o)
        return;
    if (front) {
        o->next = c->oq_head;
        c->oq_head = o;
        if (!c->oq_tail)
            c->oq_tail = o;
    } else {
        if (c->oq_tail)
            c->oq_tail->next = o;
        else
            c->oq_head = o;
        c->oq_tail = o;
    }
}

static void oq_clear(struct dc_client *c)
{
    struct dc__out *o;
    while ((o = c->oq_head)) {
        c->oq_head = o->next;
        out_free(o);
    }
    c->oq_tail = NULL;
}

struct walk_set {
    void **ptrs;
    size_t n, cap;
    int overflow;
};

static void collect_cb(uv_handle_t *h, void *arg)
{
    struct walk_set *w = arg;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        void **p = realloc(w->ptrs, cap * sizeof *p);
        if (!p) {
            w->overflow = 1;
            return;
        }
        w->ptrs = p;
        w->cap = cap;
    }
    w->ptrs[w->n++] = h;
}

static int in_set(const struct walk_set *w, void *h)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->ptrs[i] == h)
            return 1;
    return 0;
}

struct new_handles {
    struct dc_client *c;
    const struct walk_set *before;
};

static void record_new_cb(uv_handle_t *h, void *arg)
{
    struct new_handles *nh = arg;
    struct dc_client *c = nh->c;
    if (!in_set(nh->before, h) &&
        c->n_lws_handles < (int)(sizeof c->lws_handles / sizeof c->lws_handles[0]))
        c->lws_handles[c->n_lws_handles++] = h;
}

struct alive_check {
    struct dc_client *c;
    int alive;
};

static void alive_cb(uv_handle_t *h, void *arg)
{
    struct alive_check *a = arg;
    for (int i = 0; i < a->c->n_lws_handles; i++)
        if (a->c->lws_handles[i] == (void *)h)
            a->alive = 1;
}

int dc__lws_handles_alive(struct dc_client *c)
{
    struct alive_check a = {c, 0};
    uv_walk(c->loop, alive_cb, &a);
    return a.alive;
}

static int ensure_context(struct dc_client *c)
{
    struct walk_set before = {NULL, 0, 0, 0};
    struct lws_context_creation_info info;
    void *loops[1] = {c->loop};
    if (c->ctx)
        return 0;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_LIBUV;
    if (c->url.tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.client_ssl_ca_filepath = c->cfg.ca_file; /* NULL: the system's trust store */
    }
    info.foreign_loops = loops;
    info.pcontext = &c->ctx;
    info.user = c;
    info.gid = -1;
    info.uid = -1;
    uv_walk(c->loop, collect_cb, &before);
    c->ctx = lws_create_context(&info);
    if (c->ctx && !before.overflow) {
        struct new_handles nh = {c, &before};
        c->n_lws_handles = 0;
        uv_walk(c->loop, record_new_cb, &nh);
    }
    free(before.ptrs);
    return c->ctx ? 0 : DC_EIO;
}

static void schedule_retry(struct dc_client *c)
{
    unsigned delay = c->backoff_ms ? c->backoff_ms : BACKOFF_MIN_MS;
    unsigned jitter = 0;
    dc__random(&jitter, sizeof jitter);
    c->backoff_ms = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
    delay += jitter % (delay / 4 + 1); /* spread a crowd of clients after a server restart */
    if (!c->registered_once) {
        /* The first connect has a budget: the last try lands at its end, not past it. */
        int64_t left = FIRST_CONNECT_MS - (dc__mono_ms() - c->first_attempt_ms);
        if (left > 0 && (int64_t)delay > left)
            delay = (unsigned)left;
    }
    c->state = DC__ST_BACKOFF;
    uv_timer_start(&c->retry_timer, dc__conn_retry_cb, delay, 0);
}

/* The connection is gone (or never came up); decide between reconnecting and giving up. */
static void conn_lost(struct dc_client *c)
{
    c->wsi = NULL;
    out_free(c->hello);
    c->hello = NULL;
    c->rx_len = 0;
    c->rx_overflow = 0;
    if (c->destroying || c->state == DC__ST_IDLE)
        return;
    int auth_close = c->close_code == 4001 || c->close_code == 4002;
    if (c->final || auth_close || c->user_close || !c->active) {
        if (auth_close && !c->error_emitted && c->user_close != 2)
            emit_error(c, c->close_code == 4002 ? DC_ELOGGEDOUT : DC_EUNAUTHORIZED,
                       "the server refused the sign-in", NULL);
        c->state = DC__ST_IDLE;
        c->active = 0;
        c->session_id[0] = 0;
        c->call_live = 0;
        oq_clear(c);
        emit_local(c, DC_EV_CLOSED, NULL);
        return;
    }
    if (!c->registered_once) {
        if (c->cfg.no_reconnect || dc__mono_ms() - c->first_attempt_ms >= FIRST_CONNECT_MS) {
            c->state = DC__ST_IDLE;
            c->active = 0;
            oq_clear(c);
            char msg[400];
            snprintf(msg, sizeof msg, "could not connect to the server at %s", c->cfg.server_url);
            emit_error(c, DC_ECONNECT, msg, NULL);
            emit_local(c, DC_EV_CLOSED, NULL);
            return;
        }
    } else if (c->cfg.no_reconnect) {
        c->state = DC__ST_IDLE;
        c->active = 0;
        emit_local(c, DC_EV_CLOSED, NULL);
        return;
    } else if (c->call_live && !c->reconnecting_emitted) {
        c->reconnecting_emitted = 1;
        c->lost_ms = dc__now_ms();
        dc_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = DC_EV_RECONNECTING;
        ev.call_id = c->call_id;
        ev.who = "self";
        dc__client_emit(c, &ev);
    }
    schedule_retry(c);
}

static void try_connect(struct dc_client *c)
{
    struct lws_client_connect_info ci;
    if (ensure_context(c) != 0) {
        conn_lost(c);
        return;
    }
    memset(&ci, 0, sizeof ci);
    ci.context = c->ctx;
    ci.address = c->url.host;
    ci.port = c->url.port;
    ci.path = c->url.path;
    ci.host = c->hostport;
    ci.origin = c->hostport;
    ci.ssl_connection = c->url.tls ? LCCSCF_USE_SSL : 0;
    ci.local_protocol_name = protocols[0].name;
    ci.ietf_version_or_minus_one = -1;
    ci.retry_and_idle_policy = &idle_policy;
    c->state = DC__ST_CONNECTING;
    c->close_code = 0;
    c->error_emitted = 0;
    c->wsi = NULL;
    ci.pwsi = &c->wsi; /* set early, so callbacks during the connect can tell it is ours */
    if (!lws_client_connect_via_info(&ci) && c->state == DC__ST_CONNECTING) {
        /* Failed before any callback could report it. */
        conn_lost(c);
    }
}

void dc__conn_retry_cb(uv_timer_t *t)
{
    struct dc_client *c = t->data;
    if (c->state == DC__ST_BACKOFF && c->active)
        try_connect(c);
}

int dc__conn_start(struct dc_client *c)
{
    if (c->active)
        return 0;
    c->active = 1;
    c->final = 0;
    c->user_close = 0;
    c->registered_once = 0;
    c->backoff_ms = 0;
    c->first_attempt_ms = dc__mono_ms();
    try_connect(c);
    return 0;
}

void dc__conn_disconnect(struct dc_client *c, int logout)
{
    if (!c->active)
        return;
    c->user_close = logout ? 2 : 1;
    if (c->state == DC__ST_READY && c->wsi) {
        if (logout) {
            char *t = strdup("{\"type\":\"logout\"}");
            if (t)
                oq_push(c, out_new(t), 1);
        }
        lws_callback_on_writable(c->wsi);
        return;
    }
    if (c->wsi) {
        /* Not signed in yet: drop the socket; CLIENT_CLOSED finishes the job. */
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        return;
    }
    uv_timer_stop(&c->retry_timer);
    conn_lost(c);
}

void dc__conn_send(struct dc_client *c, char *text)
{
    oq_push(c, out_new(text), 0);
    if (c->state == DC__ST_READY && c->wsi)
        lws_callback_on_writable(c->wsi);
}

void dc__conn_place(struct dc_client *c, char *text, const char *ccid)
{
    free(c->pend_text);
    c->pend_text = strdup(text);
    snprintf(c->pend_ccid, sizeof c->pend_ccid, "%s", ccid);
    uv_timer_start(&c->place_timer, dc__conn_place_timeout_cb, PLACE_ACK_MS, 0);
    dc__conn_send(c, text);
}

static void clear_pending(struct dc_client *c)
{
    uv_timer_stop(&c->place_timer);
    free(c->pend_text);
    c->pend_text = NULL;
    c->pend_ccid[0] = 0;
}

void dc__conn_place_timeout_cb(uv_timer_t *t)
{
    struct dc_client *c = t->data;
    char ccid[65];
    if (!c->pend_ccid[0])
        return;
    snprintf(ccid, sizeof ccid, "%s", c->pend_ccid);
    snprintf(c->timedout_ccid, sizeof c->timedout_ccid, "%s", ccid);
    clear_pending(c);
    emit_error(c, DC_ETIMEOUT, "place: no answer from the server within 10 s", ccid);
    emit_ended(c, NULL, ccid, "failed", "timeout");
}

void dc__conn_destroy(struct dc_client *c)
{
    c->destroying = 1;
    c->active = 0;
    oq_clear(c);
    out_free(c->hello);
    c->hello = NULL;
    clear_pending(c);
    free(c->resume_secret);
    c->resume_secret = NULL;
    free(c->rx);
    c->rx = NULL;
    if (c->ctx) {
        lws_context_destroy(c->ctx);
        c->ctx_destroy_calls = 1;
    }
    dc__client_start_reap(c);
}

/* The server forgot our session while a call was live: the call is over for this device. */
static void end_lost_call(struct dc_client *c)
{
    char cid[65], ccid[65];
    dc_event ev;
    snprintf(cid, sizeof cid, "%s", c->call_id);
    snprintf(ccid, sizeof ccid, "%s", c->call_ccid);
    c->call_live = 0;
    dc__media_call_end(c->media, cid);
    memset(&ev, 0, sizeof ev);
    ev.type = DC_EV_ENDED;
    ev.call_id = cid;
    ev.client_call_id = ccid[0] ? ccid : NULL;
    ev.reason = "network_loss";
    if (c->answered_ms && c->lost_ms > c->answered_ms)
        ev.duration_ms = c->lost_ms - c->answered_ms;
    dc__client_emit(c, &ev);
}

static void on_registered(struct dc_client *c, struct dc__sdk_msg *m)
{
    json_t *r = m->root;
    int resumed = json_is_true(json_object_get(r, "resumed"));
    const char *sid = json_string_value(json_object_get(r, "session_id"));
    const char *secret = json_string_value(json_object_get(r, "resume_secret"));
    int had_session = c->session_id[0] != 0;
    if (resumed && had_session && sid && strcmp(sid, c->session_id) == 0) {
        if (dc__sdk_seq_fresh(c->last_seq, m->seq))
            c->last_seq = m->seq;
    } else {
        resumed = 0;
        c->last_seq = m->seq;
        c->acked_seq = 0; /* a new session numbers from 1 again */
    }
    snprintf(c->session_id, sizeof c->session_id, "%s", sid ? sid : "");
    if (secret) {
        free(c->resume_secret);
        c->resume_secret = strdup(secret);
    }
    c->state = DC__ST_READY;
    c->registered_once = 1;
    c->backoff_ms = 0;
    if (resumed) {
        if (c->call_live && c->reconnecting_emitted) {
            dc_event ev;
            memset(&ev, 0, sizeof ev);
            ev.type = DC_EV_RECONNECTED;
            ev.call_id = c->call_id;
            ev.who = "self";
            dc__client_emit(c, &ev);
        }
    } else {
        /* The old session's place may never have reached the server; the server's
         * idempotency on client_call_id makes sending it again safe. */
        if (had_session && c->pend_text) {
            char *t = strdup(c->pend_text);
            if (t)
                oq_push(c, out_new(t), 1);
        }
        dc__client_emit(c, &m->ev);
        if (c->call_live && had_session)
            end_lost_call(c);
    }
    c->reconnecting_emitted = 0;
    if (c->oq_head && c->wsi)
        lws_callback_on_writable(c->wsi);
}

static int about_pending(struct dc_client *c, json_t *r)
{
    const char *ccid = json_string_value(json_object_get(r, "client_call_id"));
    const char *ref = json_string_value(json_object_get(r, "ref"));
    if (!c->pend_ccid[0])
        return 0;
    return (ccid && strcmp(ccid, c->pend_ccid) == 0) || (ref && strcmp(ref, c->pend_ccid) == 0);
}

static void on_error(struct dc_client *c, struct dc__sdk_msg *m)
{
    const char *ref = json_string_value(json_object_get(m->root, "ref"));
    if (ref && strncmp(ref, "media:", 6) == 0) {
        /* A server without media (too old, or started with --no-media): the call goes on
         * signalling-only, exactly as before media existed. */
        const char *field = json_string_value(json_object_get(m->root, "field"));
        if (m->ev.code &&
            (strcmp(m->ev.code, "unknown_type") == 0 ||
             (strcmp(m->ev.code, "invalid_state") == 0 && field && strcmp(field, "media") == 0))) {
            dc__media_unavailable(c->media, ref + 6);
            return;
        }
        /* About a call already over here (the offer crossed its end): nothing to tell. */
        if (!dc__media_has_leg(c->media, ref + 6))
            return;
        if (!m->ev.call_id)
            m->ev.call_id = ref + 6;
    }
    if (dc__sdk_auth_final(m->ev.code)) {
        c->final = 1;
        c->error_emitted = 1;
    }
    if (about_pending(c, m->root)) {
        char ccid[65];
        char detail[65];
        snprintf(ccid, sizeof ccid, "%s", c->pend_ccid);
        snprintf(detail, sizeof detail, "%s", m->ev.code ? m->ev.code : "error");
        clear_pending(c);
        if (!m->ev.client_call_id)
            m->ev.client_call_id = ccid;
        dc__client_emit(c, &m->ev);
        /* No call will come of this place: close it for the app like any other call. */
        emit_ended(c, NULL, ccid, "failed", detail);
        return;
    }
    dc__client_emit(c, &m->ev);
}

static void send_ringing(struct dc_client *c, const char *call_id)
{
    char *text = NULL;
    if (call_id && dc__sdk_op_json("ringing", call_id, NULL, &text) == 0)
        dc__conn_send(c, text);
}

static void set_live(struct dc_client *c, const char *call_id, const char *ccid)
{
    if (!call_id)
        return;
    c->call_live = 1;
    c->answered_ms = 0;
    snprintf(c->call_id, sizeof c->call_id, "%s", call_id);
    snprintf(c->call_ccid, sizeof c->call_ccid, "%s", ccid ? ccid : "");
}

static void on_event_msg(struct dc_client *c, struct dc__sdk_msg *m)
{
    dc_event *ev = &m->ev;
    int begin_media = 0;
    switch (ev->type) {
    case DC_EV_ERROR:
        on_error(c, m);
        return;
    case DC_EV_OUTGOING:
        if (ev->client_call_id && strcmp(ev->client_call_id, c->timedout_ccid) == 0) {
            /* The app was told this place failed; do not let the call ring on. */
            char *text = NULL;
            if (ev->call_id && dc__sdk_op_json("cancel", ev->call_id, NULL, &text) == 0)
                dc__conn_send(c, text);
            return;
        }
        if (!about_pending(c, m->root) && c->call_live && ev->call_id &&
            strcmp(ev->call_id, c->call_id) == 0)
            return; /* the server's idempotent reply to a place sent again */
        if (about_pending(c, m->root))
            clear_pending(c);
        set_live(c, ev->call_id, ev->client_call_id);
        begin_media = 1; /* the leg connects while it rings */
        break;
    case DC_EV_INCOMING:
        if (!c->call_live) {
            set_live(c, ev->call_id, NULL);
            begin_media = 1;
        }
        send_ringing(c, ev->call_id);
        break;
    case DC_EV_ANSWERED:
        if (c->call_live && ev->call_id && strcmp(ev->call_id, c->call_id) == 0) {
            c->answered_ms = dc__now_ms();
            dc__media_on_answered(c->media, ev->call_id);
        }
        break;
    case DC_EV_MEDIA:
        dc__media_on_flowing(c->media, ev->call_id);
        break;
    case DC_EV_ENDED:
        dc__media_call_end(c->media, ev->call_id);
        if (c->call_live && ev->call_id && strcmp(ev->call_id, c->call_id) == 0)
            c->call_live = 0;
        if (!ev->client_call_id && c->call_ccid[0] && ev->call_id &&
            strcmp(ev->call_id, c->call_id) == 0)
            ev->client_call_id = c->call_ccid;
        break;
    default:
        break;
    }
    dc__client_emit(c, ev);
    /* After the app has the call (an audio error event about it must not come first). */
    if (begin_media && c->call_live)
        dc__media_call_begin(c->media, c->call_id);
}

/* Every 16 processed events, tell the server it may drop their replay copies. */
static void maybe_ack(struct dc_client *c)
{
    char buf[64];
    if (c->last_seq - c->acked_seq < 16)
        return;
    snprintf(buf, sizeof buf, "{\"type\":\"ack\",\"seq\":%lld}", (long long)c->last_seq);
    char *t = strdup(buf);
    if (!t)
        return;
    c->acked_seq = c->last_seq;
    dc__conn_send(c, t);
}

static void handle_text(struct dc_client *c, const char *text, size_t len)
{
    struct dc__sdk_msg m;
    if (dc__sdk_msg_parse(text, len, &m) != 0)
        return; /* the server never sends this; nothing useful to tell the app */
    if (!m.known) {
        if (strcmp(m.type, "answer") == 0 &&
            (m.seq <= 0 || dc__sdk_seq_fresh(c->last_seq, m.seq))) {
            if (m.seq > 0)
                c->last_seq = m.seq;
            dc__media_on_answer(c->media, json_string_value(json_object_get(m.root, "call_id")),
                                json_string_value(json_object_get(m.root, "sdp")));
        }
        dc__sdk_msg_free(&m);
        return; /* pong and types newer than this SDK */
    }
    m.ev.json = NULL;
    char *copy = strndup(text, len);
    m.ev.json = copy;
    if (m.ev.type == DC_EV_REGISTERED) {
        on_registered(c, &m);
    } else if (m.seq > 0 && !dc__sdk_seq_fresh(c->last_seq, m.seq)) {
        /* already processed before a resume: exactly once */
    } else {
        if (m.seq > 0)
            c->last_seq = m.seq;
        on_event_msg(c, &m);
        maybe_ack(c);
    }
    free(copy);
    dc__sdk_msg_free(&m);
}

static void on_established(struct dc_client *c, struct lws *wsi)
{
    struct dc__sdk_resume res = {NULL, NULL, 0};
    char *text = NULL;
    c->wsi = wsi;
    c->state = DC__ST_OPEN;
    if (c->session_id[0] && c->resume_secret) {
        res.session_id = c->session_id;
        res.secret = c->resume_secret;
        res.last_seq = c->last_seq;
    }
    if (dc__sdk_hello_json(&c->cfg, &res, &text) == 0)
        c->hello = out_new(text);
    lws_callback_on_writable(wsi);
}

static int on_receive(struct dc_client *c, struct lws *wsi, const void *in, size_t len)
{
    if (c->rx_len + len > DC__SDK_MAX_MSG)
        c->rx_overflow = 1;
    if (!c->rx_overflow && c->rx_len + len > c->rx_cap) {
        /* Grow on demand: most messages are small, and an idle client should not hold 64 KiB. */
        size_t cap = c->rx_cap ? c->rx_cap : RX_CHUNK;
        while (cap < c->rx_len + len)
            cap *= 2;
        unsigned char *p = realloc(c->rx, cap);
        if (!p)
            return -1;
        c->rx = p;
        c->rx_cap = cap;
    }
    if (!c->rx_overflow) {
        memcpy(c->rx + c->rx_len, in, len);
        c->rx_len += len;
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
        return 0;
    if (!c->rx_overflow)
        handle_text(c, (const char *)c->rx, c->rx_len);
    c->rx_len = 0;
    c->rx_overflow = 0;
    if (c->oq_head && c->state == DC__ST_READY)
        lws_callback_on_writable(wsi);
    return 0;
}

static int write_one(struct lws *wsi, struct dc__out *o)
{
    int n = lws_write(wsi, o->buf + LWS_PRE, o->len, LWS_WRITE_TEXT);
    out_free(o);
    return n < 0 ? -1 : 0;
}

static int on_writeable(struct dc_client *c, struct lws *wsi)
{
    if (c->hello) {
        struct dc__out *o = c->hello;
        c->hello = NULL;
        if (write_one(wsi, o) < 0)
            return -1;
    } else if (c->state == DC__ST_READY && c->oq_head) {
        struct dc__out *o = c->oq_head;
        c->oq_head = o->next;
        if (!c->oq_head)
            c->oq_tail = NULL;
        if (write_one(wsi, o) < 0)
            return -1;
    } else if (c->user_close == 1) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"bye", 3);
        return -1;
    }
    if (c->oq_head || c->user_close == 1)
        lws_callback_on_writable(wsi);
    return 0;
}

static int lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    struct dc_client *c = ctx ? lws_context_user(ctx) : NULL;
    (void)user;
    if (!c || c->destroying)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        on_established(c, wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return on_receive(c, wsi, in, len);
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return on_writeable(c, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2) {
            const unsigned char *p = in;
            c->close_code = (p[0] << 8) | p[1];
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c->wsi == wsi || (c->state == DC__ST_CONNECTING && !c->wsi))
            conn_lost(c);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        /* Some failures (the peer hangs up during the upgrade) close the wsi with no
         * CONNECTION_ERROR; its destruction is the one callback that always comes. */
        if (c->wsi == wsi)
            conn_lost(c);
        return 0;
    default:
        return 0;
    }
}
