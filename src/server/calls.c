/* The call state machine. The server is the authority: every transition is saved to the store
 * (with its webhook in the same transaction) before any party is told. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "common/validate.h"
#include "server/relay.h"
#include "server/server.h"
#include "server/webauth.h"

/* Metrics slot of an end reason (an unknown one counts as failed). */
static int dc__reason_idx(const char *r)
{
    int i = dc__end_reason_index(r);
    return i >= 0 ? i : DC__N_REASONS - 1;
}

static void dc__rec_clear(dc__call_rec *r)
{
    free(r->caller_name);
    free(r->context);
    free(r->remote_context);
    free(r->caller_image);
    free(r->callee_image);
    memset(r, 0, sizeof *r);
}

static void dc__call_free(dc__call *call)
{
    dc__rec_clear(&call->rec);
    free(call);
}

static void dc__call_free_cb(uv_handle_t *h)
{
    dc__call_free(h->data);
}

void dc__outbox_item_clear(dc__outbox_item *item)
{
    free(item->url);
    free(item->body);
    memset(item, 0, sizeof *item);
}

static int dc__events_has(const json_t *events, const char *event)
{
    if (!json_is_array(events) || json_array_size(events) == 0)
        return 1;
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e)
    {
        if (json_is_string(e) && strcmp(json_string_value(e), event) == 0)
            return 1;
    }
    return 0;
}

int dc__webhook_item(dc__server *srv, const char *event, const dc__call_rec *r,
                     dc__outbox_item *item)
{
    dc__account *a = NULL;
    memset(item, 0, sizeof *item);
    if (dc__account_lookup(srv, r->account_id, &a) < 0 || !a->webhook_url ||
        !dc__events_has(a->webhook_events, event))
        return 0;
    char evid[40], at[32];
    int64_t now = dc__now_ms();
    dc__random_id(evid, "evt_", 24);
    dc__iso8601(at, now);
    json_t *body = json_pack("{ss ss ss ss so}", "id", evid, "type", event, "created_at", at,
                             "account_id", r->account_id, "call", dc__call_rec_json(r));
    item->body = json_dumps(body, DC__JSON_OUT);
    json_decref(body);
    item->url = strdup(a->webhook_url);
    if (!item->body || !item->url) {
        dc__outbox_item_clear(item);
        return 0;
    }
    snprintf(item->account_id, sizeof item->account_id, "%s", r->account_id);
    snprintf(item->kind, sizeof item->kind, "webhook");
    item->next_ms = now;
    item->created_ms = now;
    return 1;
}

/* Saves the record, with the webhook for event (or none), durably. */
static int dc__call_save(dc__server *srv, const dc__call_rec *rec, const char *event)
{
    dc__outbox_item item;
    int n = event ? dc__webhook_item(srv, event, rec, &item) : 0;
    int rc = dc__store_call_save(srv->store, rec, n ? &item : NULL, (size_t)n);
    if (n)
        dc__outbox_item_clear(&item);
    if (rc < 0)
        DC_ERROR("calls", "saving call %s failed: %s", rec->id, dc_strerror(rc));
    else if (n)
        dc__outbox_wake(srv);
    if (rc == 0 && event)
        dc__live_call(srv, rec); /* placed, answered, ended: the dashboards' live feeds */
    return rc;
}

static json_t *dc__ev_call(const dc__call_rec *r)
{
    return json_pack("{ss}", "call_id", r->id);
}

static json_t *dc__ev_ended(const dc__call_rec *r)
{
    json_t *ev = dc__ev_call(r);
    const char *detail = r->detail;
    json_object_set_new(ev, "reason", json_string(r->reason));
    json_object_set_new(ev, "detail", detail[0] ? json_string(detail) : json_null());
    json_object_set_new(ev, "duration_ms",
                        json_integer(r->answered_ms ? r->ended_ms - r->answered_ms : 0));
    json_object_set_new(ev, "ended_by", r->ended_by[0] ? json_string(r->ended_by) : json_null());
    return ev;
}

static json_t *dc__ev_incoming(const dc__call_rec *r)
{
    json_t *ev = dc__ev_call(r);
    json_object_set_new(ev, "from",
                        json_pack("{ss so}", "cuid", r->caller, "name",
                                  r->caller_name ? json_string(r->caller_name) : json_null()));
    json_object_set_new(ev, "context", json_string(r->context));
    json_object_set_new(ev, "remote_context",
                        r->remote_context ? json_string(r->remote_context) : json_null());
    json_object_set_new(ev, "caller_image",
                        r->caller_image ? json_string(r->caller_image) : json_null());
    json_object_set_new(ev, "callee_image",
                        r->callee_image ? json_string(r->callee_image) : json_null());
    return ev;
}

static json_t *dc__ev_missed_call(const dc__call_rec *r)
{
    char at[32];
    dc__iso8601(at, r->created_ms);
    json_t *ev = dc__ev_call(r);
    json_object_set_new(ev, "from",
                        json_pack("{ss so}", "cuid", r->caller, "name",
                                  r->caller_name ? json_string(r->caller_name) : json_null()));
    json_object_set_new(ev, "context", json_string(r->context));
    json_object_set_new(ev, "at", json_string(at));
    return ev;
}

static void dc__send_outgoing(dc__session *s, const dc__call_rec *r, const char *ref)
{
    json_t *ev = dc__ev_call(r);
    json_object_set_new(ev, "client_call_id", json_string(r->client_call_id));
    json_object_set_new(ev, "to", json_string(r->callee));
    json_object_set_new(ev, "context", json_string(r->context));
    if (ref)
        json_object_set_new(ev, "ref", json_string(ref));
    dc__session_event(s, "outgoing", ev);
}

dc__call *dc__call_find(dc__server *srv, const char *account_id, const char *id)
{
    dc__call *call = NULL;
    HASH_FIND_STR(srv->calls, id, call);
    if (call && strcmp(call->rec.account_id, account_id) != 0)
        return NULL;
    return call;
}

static void dc__callee_remove(dc__call *call, dc__session *s)
{
    if (call->srv->relay)
        dc__relay_drop(call->srv->relay, call->rec.id, s->id);
    for (int i = 0; i < call->n_callees; i++) {
        if (call->callees[i] == s) {
            call->callees[i] = call->callees[--call->n_callees];
            return;
        }
    }
}

static void dc__call_unlink(dc__call *call)
{
    dc__server *srv = call->srv;
    if (call->caller && call->caller->call == call)
        call->caller->call = NULL;
    if (call->answerer && call->answerer->call == call)
        call->answerer->call = NULL;
    for (int i = 0; i < call->n_callees; i++)
        if (call->callees[i]->call == call)
            call->callees[i]->call = NULL;
    dc__user *users[2] = {call->caller_user, call->callee_user};
    for (int i = 0; i < 2; i++) {
        if (users[i] && users[i]->call == call) {
            users[i]->call = NULL;
            dc__user_release(srv, users[i]);
        }
    }
    HASH_DEL(srv->calls, call);
}

/* Tells every party of an ended call what happened: a specific event, then ended, each once. */
static void dc__call_notify_end(dc__call *call)
{
    const dc__call_rec *r = &call->rec;
    const char *reason = r->reason;
    if (call->caller) {
        if (!strcmp(reason, "declined")) {
            json_t *ev = dc__ev_call(r);
            json_object_set_new(ev, "detail", r->detail[0] ? json_string(r->detail) : json_null());
            dc__session_event(call->caller, "declined", ev);
        } else if (!strcmp(reason, "missed") || !strcmp(reason, "busy") ||
                   !strcmp(reason, "unreachable")) {
            dc__session_event(call->caller, reason, dc__ev_call(r));
        }
        dc__session_event(call->caller, "ended", dc__ev_ended(r));
    }
    for (int i = 0; i < call->n_callees; i++) {
        dc__session *d = call->callees[i];
        if (!strcmp(reason, "cancelled"))
            dc__session_event(d, "cancelled", dc__ev_call(r));
        else if (!strcmp(reason, "missed"))
            dc__session_event(d, "missed_call", dc__ev_missed_call(r));
        dc__session_event(d, "ended", dc__ev_ended(r));
    }
    if (call->answerer)
        dc__session_event(call->answerer, "ended", dc__ev_ended(r));
}

int dc__call_end(dc__call *call, const char *reason, const char *detail, const char *ended_by)
{
    if (call->ended)
        return DC_ESTATE;
    dc__server *srv = call->srv;
    dc__call_rec *r = &call->rec;
    call->ended = 1;
    snprintf(r->state, sizeof r->state, "ended");
    snprintf(r->reason, sizeof r->reason, "%s", reason);
    snprintf(r->detail, sizeof r->detail, "%s", detail ? detail : "");
    snprintf(r->ended_by, sizeof r->ended_by, "%s", ended_by ? ended_by : "");
    r->ended_ms = dc__now_ms();
    int rc = dc__call_save(srv, r, "call.ended");
    srv->ended_total[dc__reason_idx(reason)]++;
    if (!strcmp(reason, "missed") || !strcmp(reason, "unreachable")) {
        json_t *p = dc__ev_missed_call(r);
        dc__store_missed_add(srv->store, r->account_id, r->callee, r->id, p, call->n_callees > 0);
        json_decref(p);
    }
    dc__call_notify_end(call);
    if (srv->relay)
        dc__relay_drop(srv->relay, r->id, NULL);
    DC_INFO("calls", "%s ended %s%s%s", r->id, reason, detail ? "/" : "", detail ? detail : "");
    dc__call_unlink(call);
    uv_timer_stop(&call->ring_timer);
    uv_close((uv_handle_t *)&call->ring_timer, dc__call_free_cb);
    if (srv->draining && !srv->calls && srv->on_drained)
        srv->on_drained(srv);
    return rc;
}

/* Counts a placed call: the total, and per-second buckets for the setups/s gauge. */
static void dc__count_setup(dc__server *srv)
{
    int64_t sec = dc__mono_ms() / 1000;
    int i = (int)(sec % DC__RATE_SECONDS);
    if (srv->setup_sec[i] != sec) {
        srv->setup_sec[i] = sec;
        srv->setup_count[i] = 0;
    }
    srv->setup_count[i]++;
    srv->placed_total++;
}

double dc__setups_per_second(const dc__server *srv)
{
    int64_t now = dc__mono_ms() / 1000, n = 0;
    for (int i = 0; i < DC__RATE_SECONDS; i++) /* the last 10 whole seconds */
        if (srv->setup_sec[i] < now && srv->setup_sec[i] >= now - 10)
            n += srv->setup_count[i];
    return (double)n / 10.0;
}

static void dc__ring_timeout(uv_timer_t *t)
{
    dc__call *call = t->data;
    if (!strcmp(call->rec.state, "ringing"))
        dc__call_end(call, "missed", NULL, "server");
}

/* Validates one optional string field with a validator; 0 when absent or null. */
static int dc__opt_field(json_t *msg, const char *name, int (*valid)(const char *),
                         const char **out)
{
    json_t *v = json_object_get(msg, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return DC_EFIELD;
    int rc = valid(json_string_value(v));
    if (rc == 0)
        *out = json_string_value(v);
    return rc;
}

static int dc__callee_allowed(const dc__session *s, const char *to)
{
    if (!s->callees)
        return 1;
    size_t i;
    json_t *e;
    json_array_foreach(s->callees, i, e)
    {
        if (json_is_string(e) && strcmp(json_string_value(e), to) == 0)
            return 1;
    }
    return 0;
}

typedef struct dc__place_args {
    const char *ccid, *to, *context, *remote_context, *caller_image, *callee_image;
} dc__place_args;

static int dc__place_validate(json_t *msg, dc__place_args *a, const char **field)
{
    static const struct {
        const char *name;
        int (*valid)(const char *);
        int required;
    } f[] = {{"client_call_id", dc__valid_id, 1}, {"to", dc__valid_cuid, 1},
             {"context", dc__valid_context, 1},   {"remote_context", dc__valid_context, 0},
             {"caller_image", dc__valid_url, 0},  {"callee_image", dc__valid_url, 0}};
    const char **outs[6] = {&a->ccid,           &a->to,           &a->context,
                            &a->remote_context, &a->caller_image, &a->callee_image};
    for (size_t i = 0; i < 6; i++) {
        *field = f[i].name;
        int rc = dc__opt_field(msg, f[i].name, f[i].valid, outs[i]);
        if (rc < 0)
            return rc;
        if (f[i].required && !*outs[i])
            return DC_EFIELD;
    }
    return 0;
}

/* A retried place: answer with the call it already made. 1 when handled. */
static int dc__place_retry(dc__session *s, const char *ccid, const char *ref)
{
    dc__server *srv = s->srv;
    dc__user *u = s->user;
    if (u->call && !strcmp(u->call->rec.caller, s->cuid) &&
        !strcmp(u->call->rec.client_call_id, ccid)) {
        dc__send_outgoing(s, &u->call->rec, ref);
        return 1;
    }
    if (u->call && !strcmp(u->call->glare_ccid, ccid)) { /* a retried place that glared */
        dc__send_outgoing(s, &u->call->rec, ref);
        return 1;
    }
    dc__call_rec *r = NULL;
    /* No time window: a client_call_id names one call for good (the store keeps it unique). */
    if (dc__store_call_find_client(srv->store, s->account_id, s->cuid, ccid, 0, &r) < 0)
        return 0;
    dc__send_outgoing(s, r, ref);
    if (!strcmp(r->state, "ended"))
        dc__session_event(s, "ended", dc__ev_ended(r));
    dc__call_rec_free(r);
    return 1;
}

static int dc__place_rate_ok(dc__user *u)
{
    int64_t now = dc__mono_ms();
    int64_t oldest = u->place_times[u->place_idx];
    if (oldest && now - oldest < 60000)
        return 0;
    u->place_times[u->place_idx] = now;
    u->place_idx = (u->place_idx + 1) % 10;
    return 1;
}

static void dc__call_answer(dc__call *call, dc__session *s);

/* Glare: s calls the user whose call to s is still ringing: that call is answered by s. */
static int dc__place_glare(dc__session *s, const char *to, const char *ccid, const char *ref)
{
    dc__call *call = s->user->call;
    if (!call || strcmp(call->rec.state, "ringing") || call->callee_user != s->user ||
        strcmp(call->rec.caller, to) != 0)
        return 0;
    json_t *ev = dc__ev_call(&call->rec);
    json_object_set_new(ev, "client_call_id", json_string(ccid));
    json_object_set_new(ev, "to", json_string(to));
    json_object_set_new(ev, "context", json_string(call->rec.context));
    json_object_set_new(ev, "glare", json_true());
    if (ref)
        json_object_set_new(ev, "ref", json_string(ref));
    int known = 0;
    for (int i = 0; i < call->n_callees; i++)
        known |= call->callees[i] == s;
    if (!known && call->n_callees < DC__MAX_DEVICES)
        call->callees[call->n_callees++] = s;
    snprintf(call->glare_ccid, sizeof call->glare_ccid, "%s", ccid);
    dc__session_event(s, "outgoing", ev);
    dc__call_answer(call, s);
    return 1;
}

static char *dc__dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static dc__call *dc__call_create(dc__session *s, const dc__place_args *a)
{
    dc__call *call = calloc(1, sizeof *call);
    if (!call)
        return NULL;
    dc__call_rec *r = &call->rec;
    call->srv = s->srv;
    dc__random_id(r->id, "c_", 20);
    snprintf(r->account_id, sizeof r->account_id, "%s", s->account_id);
    snprintf(r->client_call_id, sizeof r->client_call_id, "%s", a->ccid);
    snprintf(r->caller, sizeof r->caller, "%s", s->cuid);
    snprintf(r->callee, sizeof r->callee, "%s", a->to);
    r->caller_name = s->name[0] ? strdup(s->name) : NULL;
    r->context = dc__dup(a->context);
    r->remote_context = dc__dup(a->remote_context);
    r->caller_image = dc__dup(a->caller_image);
    r->callee_image = dc__dup(a->callee_image);
    snprintf(r->state, sizeof r->state, "ringing");
    r->created_ms = dc__now_ms();
    call->caller = s;
    call->caller_user = s->user;
    return call;
}

/* The callee cannot be rung: the call ends at once (busy or unreachable). */
static void dc__place_end_now(dc__call *call, const char *reason, const char *ref)
{
    dc__server *srv = call->srv;
    dc__call_rec *r = &call->rec;
    snprintf(r->state, sizeof r->state, "ended");
    snprintf(r->reason, sizeof r->reason, "%s", reason);
    snprintf(r->ended_by, sizeof r->ended_by, "server");
    r->ended_ms = r->created_ms;
    if (dc__call_save(srv, r, "call.ended") < 0) {
        dc__send_error(call->caller->conn, DC_ESTORE, NULL, ref, NULL);
        dc__call_free(call);
        return;
    }
    dc__count_setup(srv);
    srv->ended_total[dc__reason_idx(reason)]++;
    if (!strcmp(reason, "unreachable")) {
        json_t *p = dc__ev_missed_call(r);
        dc__store_missed_add(srv->store, r->account_id, r->callee, r->id, p, 0);
        json_decref(p);
    }
    dc__send_outgoing(call->caller, r, ref);
    dc__session_event(call->caller, reason, dc__ev_call(r));
    dc__session_event(call->caller, "ended", dc__ev_ended(r));
    dc__call_free(call);
}

static void dc__place_ring(dc__call *call, dc__user *callee, const char *ref)
{
    dc__server *srv = call->srv;
    dc__account *a = NULL;
    call->ring_timeout_s = srv->cfg.ring_timeout_s;
    if (dc__account_lookup(srv, call->rec.account_id, &a) == 0 && a->ring_timeout_s)
        call->ring_timeout_s = a->ring_timeout_s;
    if (dc__call_save(srv, &call->rec, "call.placed") < 0) {
        dc__send_error(call->caller->conn, DC_ESTORE, NULL, ref, NULL);
        dc__call_free(call);
        return;
    }
    dc__count_setup(srv);
    HASH_ADD_STR(srv->calls, rec.id, call);
    call->callee_user = callee;
    call->caller_user->call = call;
    callee->call = call;
    call->caller->call = call;
    for (dc__session *d = callee->sessions; d && call->n_callees < DC__MAX_DEVICES;
         d = d->next_in_user) {
        call->callees[call->n_callees++] = d;
        d->call = call;
    }
    uv_timer_init(srv->loop, &call->ring_timer);
    call->ring_timer.data = call;
    uv_timer_start(&call->ring_timer, dc__ring_timeout, (uint64_t)call->ring_timeout_s * 1000, 0);
    dc__send_outgoing(call->caller, &call->rec, ref);
    for (int i = 0; i < call->n_callees; i++)
        dc__session_event(call->callees[i], "incoming", dc__ev_incoming(&call->rec));
}

void dc__call_place(dc__session *s, json_t *msg, const char *ref)
{
    dc__server *srv = s->srv;
    dc__place_args a;
    const char *field = NULL;
    int rc = dc__place_validate(msg, &a, &field);
    json_t *extra = json_object();
    json_t *cc = json_object_get(msg, "client_call_id");
    if (json_is_string(cc))
        json_object_set(extra, "client_call_id", cc);
    if (rc == 0 && srv->draining)
        rc = DC_EDRAINING, field = NULL;
    else if (rc == 0 && !strcmp(a.to, s->cuid))
        rc = DC_ESELF, field = "to";
    else if (rc == 0 && !dc__callee_allowed(s, a.to))
        rc = DC_ECALLEE, field = "to";
    if (rc == 0 && dc__place_retry(s, a.ccid, ref)) {
        json_decref(extra);
        return;
    }
    if (rc == 0 && dc__place_glare(s, a.to, a.ccid, ref)) {
        json_decref(extra);
        return;
    }
    if (rc == 0 && s->user->call)
        rc = DC_EINCALL, field = NULL;
    else if (rc == 0 && !dc__place_rate_ok(s->user))
        rc = DC_ERATE, field = "place";
    if (rc < 0) {
        dc__send_error(s->conn, rc, field, ref, extra);
        return;
    }
    json_decref(extra);
    dc__call *call = dc__call_create(s, &a);
    if (!call) {
        dc__send_error(s->conn, DC_ENOMEM, NULL, ref, NULL);
        return;
    }
    dc__user *callee = dc__user_find(srv, s->account_id, a.to);
    if (!dc__user_online(callee))
        dc__place_end_now(call, "unreachable", ref);
    else if (callee->call)
        dc__place_end_now(call, "busy", ref);
    else
        dc__place_ring(call, callee, ref);
}

static void dc__call_answer(dc__call *call, dc__session *s)
{
    dc__call_rec *r = &call->rec;
    snprintf(r->state, sizeof r->state, "ongoing");
    r->answered_ms = dc__now_ms();
    call->answerer = s;
    s->call = call;
    if (call->srv->relay) /* media between caller and this device; other devices' legs go */
        dc__relay_link(call->srv->relay, r->id, call->caller->id, s->id);
    uv_timer_stop(&call->ring_timer);
    dc__call_save(call->srv, r, "call.answered");
    dc__session_event(call->caller, "answered", dc__ev_call(r));
    dc__session_event(s, "answered", dc__ev_call(r));
    for (int i = 0; i < call->n_callees; i++) {
        dc__session *d = call->callees[i];
        if (d == s)
            continue;
        dc__session_event(d, "answered_elsewhere", dc__ev_call(r));
        json_t *ended = dc__ev_call(r);
        json_object_set_new(ended, "reason", json_string("completed"));
        json_object_set_new(ended, "detail", json_string("answered_elsewhere"));
        json_object_set_new(ended, "duration_ms", json_integer(0));
        json_object_set_new(ended, "ended_by", json_string(s->cuid));
        dc__session_event(d, "ended", ended);
        d->call = NULL;
    }
    call->n_callees = 0;
}

static int dc__is_callee(const dc__call *call, const dc__session *s)
{
    for (int i = 0; i < call->n_callees; i++)
        if (call->callees[i] == s)
            return 1;
    return 0;
}

static int dc__action_ringing(dc__call *call, dc__session *s)
{
    if (strcmp(call->rec.state, "ringing") || !dc__is_callee(call, s))
        return DC_ESTATE;
    if (!call->ringing_sent) {
        call->ringing_sent = 1;
        dc__session_event(call->caller, "ringing", dc__ev_call(&call->rec));
        dc__outbox_item item;
        if (dc__webhook_item(call->srv, "call.ringing", &call->rec, &item) == 1) {
            dc__store_call_save(call->srv->store, &call->rec, &item, 1);
            dc__outbox_item_clear(&item);
            dc__outbox_wake(call->srv);
        }
    }
    return 0;
}

static int dc__valid_detail(const char *d)
{
    size_t n = d ? strlen(d) : 0;
    if (n < 1 || n > 39)
        return DC_EFIELD;
    for (size_t i = 0; i < n; i++)
        if (!((d[i] >= 'a' && d[i] <= 'z') || d[i] == '_'))
            return DC_EFIELD;
    return 0;
}

static int dc__do_action(dc__call *call, dc__session *s, const char *type, json_t *msg,
                         const char **field)
{
    int ringing = !strcmp(call->rec.state, "ringing");
    int is_caller = call->caller == s;
    if (!strcmp(type, "ringing"))
        return dc__action_ringing(call, s);
    if (!strcmp(type, "hangup") && ringing)
        type = is_caller ? "cancel" : "decline";
    if (!strcmp(type, "answer")) {
        if (!ringing || !dc__is_callee(call, s))
            return DC_ESTATE;
        dc__call_answer(call, s);
        return 0;
    }
    if (!strcmp(type, "decline")) {
        const char *detail = NULL;
        *field = "detail";
        if (msg && dc__opt_field(msg, "detail", dc__valid_detail, &detail) < 0)
            return DC_EFIELD;
        if (!ringing || !dc__is_callee(call, s))
            return DC_ESTATE;
        dc__call_end(call, "declined", detail, s->cuid);
        return 0;
    }
    if (!strcmp(type, "cancel")) {
        if (!ringing || !is_caller)
            return DC_ESTATE;
        dc__call_end(call, "cancelled", NULL, s->cuid);
        return 0;
    }
    /* hangup of an answered call */
    if (!is_caller && call->answerer != s)
        return DC_ESTATE;
    dc__call_end(call, "completed", NULL, s->cuid);
    return 0;
}

void dc__call_action(dc__session *s, const char *type, json_t *msg, const char *ref)
{
    dc__call *call = NULL;
    const char *field = "call_id";
    int rc;
    if (!msg) { /* internal: act on the session's own call */
        call = s->call;
        rc = call ? 0 : DC_ENOTFOUND;
    } else {
        const char *id = json_string_value(json_object_get(msg, "call_id"));
        rc = dc__valid_id(id);
        if (rc == 0) {
            call = dc__call_find(s->srv, s->account_id, id);
            if (!call || (call->caller != s && call->answerer != s && !dc__is_callee(call, s))) {
                dc__call_rec *r = NULL;
                /* A call this user knew that has ended is a state error, not a missing one. */
                if (dc__store_call_load(s->srv->store, s->account_id, id, &r) == 0 &&
                    (!strcmp(r->caller, s->cuid) || !strcmp(r->callee, s->cuid)))
                    rc = DC_ESTATE;
                else
                    rc = DC_ENOTFOUND;
                dc__call_rec_free(r);
                /* Ending a call that has already ended (both parties hung up at once, a retry)
                 * is done, not an error: the device already has its one `ended`. */
                if (rc == DC_ESTATE && (!strcmp(type, "hangup") || !strcmp(type, "cancel") ||
                                        !strcmp(type, "decline") || !strcmp(type, "ringing")))
                    return;
            }
        }
    }
    if (rc == 0)
        rc = dc__do_action(call, s, type, msg, &field);
    if (rc < 0 && msg) {
        json_t *extra = json_object();
        json_t *id = json_object_get(msg, "call_id");
        if (json_is_string(id))
            json_object_set(extra, "call_id", id);
        dc__send_error(s->conn, rc, field, ref, extra);
    }
}

void dc__call_party_detached(dc__session *s)
{
    if (s->call)
        dc__call_party_down(s->call, s, DC__DOWN_SIGNAL, 1);
}

void dc__call_party_reattached(dc__session *s)
{
    if (s->call)
        dc__call_party_down(s->call, s, DC__DOWN_SIGNAL, 0);
}

void dc__call_leave(dc__session *s)
{
    dc__call *call = s->call;
    if (!call)
        return;
    if (call->caller == s || call->answerer == s)
        dc__call_action(s, "hangup", NULL, NULL);
    else
        dc__call_party_gone(s, "network_loss"); /* a ringing device just stops ringing */
}

void dc__call_party_gone(dc__session *s, const char *reason)
{
    dc__call *call = s->call;
    if (!call)
        return;
    if (call->caller == s || call->answerer == s) {
        if (call->caller == s)
            call->caller = NULL;
        else
            call->answerer = NULL;
        s->call = NULL;
        dc__call_end(call, reason, NULL, s->cuid);
        return;
    }
    dc__callee_remove(call, s);
    s->call = NULL;
}

static int dc__recover_item(const dc__call_rec *closed, dc__outbox_item *item, void *ud)
{
    return dc__webhook_item(ud, "call.ended", closed, item);
}

int dc__calls_recover(dc__server *srv, int *n_closed)
{
    return dc__store_calls_close_open(srv->store, dc__now_ms(), "server_restart", dc__recover_item,
                                      srv, n_closed);
}
