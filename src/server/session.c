/* Signalling sessions: sign-in (token or development key), resume within the grace, sequenced
 * events with a replay ring, per-connection rate limits, presence. */
#include <stdlib.h>
#include <string.h>

#include "common/jwt.h"
#include "common/log.h"
#include "common/util.h"
#include "common/validate.h"
#include "server/server.h"
#include "server/webauth.h"

#define DC__RATE_PER_S 20.0
#define DC__RATE_BURST 40.0
#define DC__RATE_CUT 200

static void dc__session_grace_expired(uv_timer_t *t);

dc__user *dc__user_find(dc__server *srv, const char *account_id, const char *cuid)
{
    char key[96];
    dc__user *u = NULL;
    snprintf(key, sizeof key, "%s/%s", account_id, cuid);
    HASH_FIND_STR(srv->users, key, u);
    return u;
}

static dc__user *dc__user_get(dc__server *srv, const char *account_id, const char *cuid)
{
    dc__user *u = dc__user_find(srv, account_id, cuid);
    if (u)
        return u;
    u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    snprintf(u->key, sizeof u->key, "%s/%s", account_id, cuid);
    snprintf(u->account_id, sizeof u->account_id, "%s", account_id);
    snprintf(u->cuid, sizeof u->cuid, "%s", cuid);
    HASH_ADD_STR(srv->users, key, u);
    return u;
}

void dc__user_release(dc__server *srv, dc__user *u)
{
    if (u->sessions || u->call)
        return;
    HASH_DEL(srv->users, u);
    free(u);
}

int dc__user_online(const dc__user *u)
{
    return u && u->sessions != NULL;
}

void dc__send_error(dc__conn *c, int err, const char *field, const char *ref, json_t *extra)
{
    json_t *ev = extra ? extra : json_object();
    char msg[512];
    if (field)
        snprintf(msg, sizeof msg, "%s: %s", field, dc_strerror(err));
    else
        snprintf(msg, sizeof msg, "%s", dc_strerror(err));
    json_object_set_new(ev, "code", json_string(dc_err_code(err)));
    json_object_set_new(ev, "message", json_string(msg));
    if (field)
        json_object_set_new(ev, "field", json_string(field));
    if (ref)
        json_object_set_new(ev, "ref", json_string(ref));
    if (c && c->session) {
        dc__session_event(c->session, "error", ev);
        return;
    }
    json_object_set_new(ev, "type", json_string("error"));
    json_object_set_new(ev, "ts_ms", json_integer(dc__now_ms()));
    char *text = json_dumps(ev, DC__JSON_OUT);
    if (text && c)
        dc__conn_send(c, text, strlen(text));
    free(text);
    json_decref(ev);
}

void dc__session_event(dc__session *s, const char *type, json_t *ev)
{
    if (!ev)
        ev = json_object();
    s->seq++;
    json_object_set_new(ev, "type", json_string(type));
    json_object_set_new(ev, "seq", json_integer((json_int_t)s->seq));
    json_object_set_new(ev, "ts_ms", json_integer(dc__now_ms()));
    char *text = json_dumps(ev, DC__JSON_OUT);
    json_decref(ev);
    if (!text)
        return;
    size_t slot = s->seq % DC__REPLAY_MAX;
    free(s->replay[slot]);
    s->replay[slot] = text;
    if (s->seq - s->replay_first >= DC__REPLAY_MAX)
        s->replay_first = s->seq - DC__REPLAY_MAX + 1;
    if (s->conn)
        dc__conn_send(s->conn, text, strlen(text));
}

/* Re-sends the held events with after < seq < before. */
static void dc__session_replay(dc__session *s, uint64_t after, uint64_t before)
{
    uint64_t from = after + 1;
    if (from < s->replay_first)
        from = s->replay_first;
    for (uint64_t q = from; q < before; q++) {
        const char *text = s->replay[q % DC__REPLAY_MAX];
        if (text)
            dc__conn_send(s->conn, text, strlen(text));
    }
}

static void dc__session_free_cb(uv_handle_t *h)
{
    dc__session *s = h->data;
    for (int i = 0; i < DC__REPLAY_MAX; i++)
        free(s->replay[i]);
    json_decref(s->callees);
    free(s);
}

void dc__session_destroy(dc__session *s)
{
    if (s->closing)
        return;
    s->closing = 1;
    dc__server *srv = s->srv;
    if (s->call)
        dc__call_party_gone(s, "network_loss");
    if (s->conn) {
        s->conn->session = NULL;
        s->conn = NULL;
    }
    dc__user *u = s->user;
    if (u) {
        dc__session **pp = &u->sessions;
        while (*pp && *pp != s)
            pp = &(*pp)->next_in_user;
        if (*pp)
            *pp = s->next_in_user;
        dc__user_release(srv, u);
    }
    HASH_DEL(srv->sessions, s);
    srv->n_sessions--;
    uv_timer_stop(&s->grace_timer);
    uv_close((uv_handle_t *)&s->grace_timer, dc__session_free_cb);
}

static void dc__session_grace_expired(uv_timer_t *t)
{
    dc__session *s = t->data;
    DC_INFO("session", "%s grace over for %s", s->id, s->cuid);
    dc__session_destroy(s);
}

/* Resolves the account and identity of a hello: token mode or development key mode. */
static int dc__hello_auth(dc__server *srv, json_t *msg, dc__account **acct, char *cuid,
                          size_t cuidn, char *name, size_t namen, json_t **callees, int64_t *iat,
                          const char **field)
{
    const char *token = json_string_value(json_object_get(msg, "token"));
    const char *nm = NULL;
    if (token) {
        json_t *peek = NULL, *claims = NULL;
        *field = "token";
        if (strlen(token) > DC__JWT_MAX || dc__jwt_peek(token, &peek) < 0)
            return DC_ETOKEN;
        const char *acc = json_string_value(json_object_get(peek, "acc"));
        int rc = acc && dc__valid_id(acc) == 0 ? dc__account_lookup(srv, acc, acct) : DC_ETOKEN;
        json_decref(peek);
        if (rc < 0)
            return DC_ETOKEN;
        const char *sec = (*acct)->api_secret;
        rc = dc__jwt_verify(token, sec, strlen(sec), dc__now_ms() / 1000, &claims);
        if (rc < 0)
            return rc;
        const char *sub = json_string_value(json_object_get(claims, "sub"));
        nm = json_string_value(json_object_get(claims, "name"));
        json_t *ce = json_object_get(claims, "callees");
        if (!sub || dc__valid_cuid(sub) < 0 || (nm && dc__valid_name(nm) < 0) ||
            (ce && !json_is_array(ce))) {
            json_decref(claims);
            return DC_ETOKEN;
        }
        snprintf(cuid, cuidn, "%s", sub);
        snprintf(name, namen, "%s", nm ? nm : "");
        *callees = ce ? json_incref(ce) : NULL;
        /* Issue time in ms: the iat_ms claim when it agrees with iat (tokens from POST
         * /v1/tokens), else the end of the iat second (tokens minted offline). */
        int64_t iat_s = json_integer_value(json_object_get(claims, "iat"));
        json_t *ims = json_object_get(claims, "iat_ms");
        *iat = json_is_integer(ims) && json_integer_value(ims) / 1000 == iat_s
                   ? json_integer_value(ims)
                   : iat_s * 1000 + 999;
        json_decref(claims);
        return 0;
    }
    const char *acc = json_string_value(json_object_get(msg, "account_id"));
    const char *key = json_string_value(json_object_get(msg, "api_key"));
    const char *cu = json_string_value(json_object_get(msg, "cuid"));
    nm = json_string_value(json_object_get(msg, "name"));
    *field = "account_id";
    if (!acc || !key || dc__valid_id(acc) < 0 || dc__account_lookup(srv, acc, acct) < 0)
        return DC_EUNAUTHORIZED;
    *field = "api_key";
    if (strlen(key) != strlen((*acct)->api_key) ||
        !dc__ct_equal(key, (*acct)->api_key, strlen(key)))
        return DC_EUNAUTHORIZED;
    if (!(*acct)->dev_key_auth)
        return DC_EAUTHMODE;
    *field = "cuid";
    if (dc__valid_cuid(cu) < 0)
        return DC_ECUID;
    *field = "name";
    if (nm && dc__valid_name(nm) < 0)
        return DC_ENAME;
    snprintf(cuid, cuidn, "%s", cu);
    snprintf(name, namen, "%s", nm ? nm : "");
    *callees = NULL;
    *iat = dc__now_ms();
    return 0;
}

static void dc__send_registered(dc__session *s, int resumed, const dc__account *a)
{
    json_t *ev = json_object();
    json_object_set_new(ev, "session_id", json_string(s->id));
    json_object_set_new(ev, "resume_secret", json_string(s->secret));
    json_object_set_new(ev, "account_id", json_string(s->account_id));
    json_object_set_new(ev, "cuid", json_string(s->cuid));
    json_object_set_new(ev, "name", s->name[0] ? json_string(s->name) : json_null());
    json_object_set_new(ev, "resumed", json_boolean(resumed));
    json_object_set_new(
        ev, "ring_timeout_s",
        json_integer(a->ring_timeout_s ? a->ring_timeout_s : s->srv->cfg.ring_timeout_s));
    json_object_set_new(ev, "grace_s", json_integer(s->srv->cfg.grace_s));
    if (!resumed) {
        dc__session_event(s, "registered", ev);
        return;
    }
    /* A resumed registered is not sequenced: the replay that follows carries on the client's
     * own numbering. */
    json_object_set_new(ev, "type", json_string("registered"));
    json_object_set_new(ev, "ts_ms", json_integer(dc__now_ms()));
    char *text = json_dumps(ev, DC__JSON_OUT);
    json_decref(ev);
    if (text && s->conn)
        dc__conn_send(s->conn, text, strlen(text));
    free(text);
}

static void dc__deliver_stored_missed(dc__session *s)
{
    json_t *arr = NULL;
    if (dc__store_missed_take(s->srv->store, s->account_id, s->cuid, &arr) < 0 || !arr)
        return;
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it)
    {
        dc__user *u = s->user;
        for (dc__session *o = u->sessions; o; o = o->next_in_user)
            dc__session_event(o, "missed_call", json_deep_copy(it));
    }
    json_decref(arr);
}

/* The client processed every event up to seq: their replay copies can go. */
static void dc__session_ack(dc__session *s, json_t *seqj, const char *ref)
{
    if (!json_is_integer(seqj) || json_integer_value(seqj) < 0 ||
        (uint64_t)json_integer_value(seqj) > s->seq) {
        dc__send_error(s->conn, DC_EFIELD, "seq", ref, NULL);
        return;
    }
    uint64_t upto = (uint64_t)json_integer_value(seqj);
    for (uint64_t q = s->replay_first; q <= upto; q++) {
        free(s->replay[q % DC__REPLAY_MAX]);
        s->replay[q % DC__REPLAY_MAX] = NULL;
    }
    if (upto + 1 > s->replay_first)
        s->replay_first = upto + 1;
}

static int dc__try_resume(dc__conn *c, json_t *resume, const char *account_id, const char *cuid)
{
    const char *sid = json_string_value(json_object_get(resume, "session_id"));
    const char *sec = json_string_value(json_object_get(resume, "secret"));
    json_t *ls = json_object_get(resume, "last_seq");
    if (!sid || !sec || !json_is_integer(ls) || json_integer_value(ls) < 0)
        return -1;
    dc__session *s = NULL;
    HASH_FIND_STR(c->srv->sessions, sid, s);
    if (!s || s->closing || strcmp(s->account_id, account_id) || strcmp(s->cuid, cuid) ||
        strlen(sec) != strlen(s->secret) || !dc__ct_equal(sec, s->secret, strlen(sec)))
        return -1;
    uint64_t last = (uint64_t)json_integer_value(ls);
    if (last > s->seq)
        last = s->seq;
    dc__account *a = NULL;
    /* Events the client missed that are no longer held: a gap cannot be resumed. */
    if (last + 1 < s->replay_first || dc__account_lookup(c->srv, account_id, &a) < 0)
        return -1;
    int was_detached = s->conn == NULL;
    if (s->conn) { /* the old socket is still open (half-dead): take over */
        dc__conn *old = s->conn;
        old->session = NULL;
        dc__conn_close(old, 1000, "resumed elsewhere");
    }
    uv_timer_stop(&s->grace_timer);
    s->conn = c;
    c->session = s;
    dc__send_registered(s, 1, a);
    dc__session_replay(s, last, s->seq + 1);
    if (s->call && was_detached)
        dc__call_party_reattached(s);
    return 0;
}

/* iat_ms: when the credential was issued; refused if before the user's last logout-everywhere. */
static int dc__revoked(dc__server *srv, const char *account_id, const char *cuid, int64_t iat)
{
    int64_t before = 0;
    if (dc__store_revoke_get(srv->store, account_id, cuid, &before) < 0)
        return 0;
    return before && iat < before;
}

/* At most DC__MAX_DEVICES sessions per user: a new one evicts the oldest detached session;
 * when every session is connected, the sign-in is refused. */
static int dc__user_make_room(dc__user *u)
{
    int n = 0;
    dc__session *oldest_detached = NULL;
    for (dc__session *s = u->sessions; s; s = s->next_in_user) {
        n++;
        if (!s->conn)
            oldest_detached = s; /* the list is newest first */
    }
    if (n < DC__MAX_DEVICES)
        return 0;
    if (!oldest_detached)
        return DC_EDEVICES;
    dc__session_destroy(oldest_detached);
    return 0;
}

static void dc__on_hello(dc__conn *c, json_t *msg)
{
    dc__server *srv = c->srv;
    dc__account *a = NULL;
    char cuid[51], name[208];
    json_t *callees = NULL;
    int64_t iat = 0;
    const char *field = NULL;
    json_t *v = json_object_get(msg, "v");
    int rc;
    if (v && (!json_is_integer(v) || json_integer_value(v) != 1)) {
        rc = DC_EFIELD;
        field = "v";
    } else {
        rc = dc__hello_auth(srv, msg, &a, cuid, sizeof cuid, name, sizeof name, &callees, &iat,
                            &field);
    }
    if (rc == 0 && dc__revoked(srv, a->id, cuid, iat))
        rc = DC_ETOKEN_REVOKED;
    if (rc == 0 && !dc__webauth_origin_allowed(a, c->origin)) {
        rc = DC_EORIGINDENIED; /* closes with reason origin_not_allowed */
        field = "Origin";
    }
    if (rc < 0) {
        json_decref(callees);
        DC_INFO("session", "sign-in refused: %s", dc_err_code(rc));
        dc__send_error(c, rc, field, NULL, NULL);
        dc__conn_close(c, 4001, dc_err_code(rc));
        return;
    }
    json_t *resume = json_object_get(msg, "resume");
    if (json_is_object(resume) && dc__try_resume(c, resume, a->id, cuid) == 0) {
        json_decref(callees);
        return;
    }
    dc__user *u = dc__user_get(srv, a->id, cuid);
    if (u && dc__user_make_room(u) < 0) {
        json_decref(callees);
        dc__send_error(c, DC_EDEVICES, NULL, NULL, NULL);
        dc__conn_close(c, 4001, dc_err_code(DC_EDEVICES));
        return;
    }
    dc__session *s = calloc(1, sizeof *s);
    if (!s || !u) {
        free(s);
        json_decref(callees);
        dc__send_error(c, DC_ENOMEM, NULL, NULL, NULL);
        return;
    }
    s->srv = srv;
    dc__random_id(s->id, "s_", 20);
    dc__random_id(s->secret, "", 40);
    snprintf(s->account_id, sizeof s->account_id, "%s", a->id);
    snprintf(s->cuid, sizeof s->cuid, "%s", cuid);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->callees = callees;
    s->iat = iat;
    s->replay_first = 1;
    s->user = u;
    s->next_in_user = u->sessions;
    u->sessions = s;
    uv_timer_init(srv->loop, &s->grace_timer);
    s->grace_timer.data = s;
    HASH_ADD_STR(srv->sessions, id, s);
    srv->n_sessions++;
    s->conn = c;
    c->session = s;
    dc__send_registered(s, 0, a);
    dc__session_event(s, "branding", json_pack("{sO}", "branding", a->branding));
    dc__deliver_stored_missed(s);
}

/* Token bucket per connection; a connection refused too often in a row is cut. */
static int dc__rate_ok(dc__conn *c)
{
    int64_t now = dc__mono_ms();
    if (!c->tokens_ms) {
        c->tokens = DC__RATE_BURST;
        c->tokens_ms = now;
    }
    c->tokens += (double)(now - c->tokens_ms) * DC__RATE_PER_S / 1000.0;
    if (c->tokens > DC__RATE_BURST)
        c->tokens = DC__RATE_BURST;
    c->tokens_ms = now;
    if (c->tokens >= 1.0) {
        c->tokens -= 1.0;
        c->refused_in_row = 0;
        return 1;
    }
    if (++c->refused_in_row > DC__RATE_CUT) {
        DC_WARN("session", "closing a connection over its message rate");
        dc__conn_close(c, 4008, "rate limit exceeded");
    } else if (c->refused_in_row == 1 || c->refused_in_row % 50 == 0) {
        dc__send_error(c, DC_ERATE, NULL, NULL, NULL);
    }
    return 0;
}

void dc__ws_on_message(dc__conn *c, const char *text, size_t len)
{
    if (!dc__rate_ok(c))
        return;
    json_error_t jerr;
    json_t *msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(msg)) {
        json_decref(msg);
        dc__send_error(c, DC_EJSON, NULL, NULL, NULL);
        return;
    }
    const char *type = json_string_value(json_object_get(msg, "type"));
    json_t *refj = json_object_get(msg, "ref");
    const char *ref = json_string_value(refj);
    if (refj && (!ref || strlen(ref) > 64)) {
        dc__send_error(c, DC_EFIELD, "ref", NULL, NULL);
        json_decref(msg);
        return;
    }
    if (!type) {
        dc__send_error(c, DC_EFIELD, "type", ref, NULL);
    } else if (strcmp(type, "hello") == 0) {
        if (c->session)
            dc__send_error(c, DC_EPROTO, "type", ref, NULL);
        else
            dc__on_hello(c, msg);
    } else if (strcmp(type, "ping") == 0) {
        const char *pong = "{\"type\":\"pong\"}";
        dc__conn_send(c, pong, strlen(pong));
    } else if (!c->session) {
        dc__send_error(c, DC_EPROTO, "type", ref, NULL);
    } else if (strcmp(type, "place") == 0) {
        dc__call_place(c->session, msg, ref);
    } else if (!strcmp(type, "ringing") || !strcmp(type, "answer") || !strcmp(type, "decline") ||
               !strcmp(type, "cancel") || !strcmp(type, "hangup")) {
        dc__call_action(c->session, type, msg, ref);
    } else if (strcmp(type, "offer") == 0) {
        dc__call_offer(c->session, msg, ref);
    } else if (strcmp(type, "ack") == 0) {
        dc__session_ack(c->session, json_object_get(msg, "seq"), ref);
    } else if (strcmp(type, "logout") == 0) {
        dc__session *s = c->session;
        dc__call_leave(s);
        dc__conn_close(c, 4002, "logged out");
        dc__session_destroy(s);
    } else {
        dc__send_error(c, DC_ETYPE, "type", ref, NULL);
    }
    json_decref(msg);
}

void dc__ws_on_close(dc__conn *c)
{
    dc__session *s = c->session;
    if (!s)
        return;
    c->session = NULL;
    s->conn = NULL;
    if (s->closing)
        return;
    uv_timer_start(&s->grace_timer, dc__session_grace_expired, (uint64_t)s->srv->cfg.grace_s * 1000,
                   0);
    if (s->call)
        dc__call_party_detached(s);
}

int dc__user_logout_all(dc__server *srv, const char *account_id, const char *cuid)
{
    dc__user *u = dc__user_find(srv, account_id, cuid);
    int n = 0;
    while (u && u->sessions) {
        dc__session *s = u->sessions;
        int last = s->next_in_user == NULL;
        dc__call_leave(s);
        if (s->conn) {
            dc__send_error(s->conn, DC_ELOGGEDOUT, NULL, NULL, NULL);
            dc__conn_close(s->conn, 4002, "logged out");
        }
        dc__session_destroy(s); /* may free u when it was the last session */
        n++;
        if (last)
            break;
    }
    return n;
}

void dc__account_broadcast_branding(dc__server *srv, const char *account_id, json_t *branding)
{
    dc__session *s, *tmp;
    HASH_ITER(hh, srv->sessions, s, tmp)
    {
        if (strcmp(s->account_id, account_id) == 0)
            dc__session_event(s, "branding", json_pack("{sO}", "branding", branding));
    }
}
