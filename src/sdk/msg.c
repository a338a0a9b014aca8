/* JSON messages of the signalling protocol (docs/protocol.md), built and parsed with jansson. */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "sdk_internal.h"

static const struct {
    const char *name;
    dc_event_type type;
} ev_names[] = {
    {"registered", DC_EV_REGISTERED},
    {"outgoing", DC_EV_OUTGOING},
    {"ringing", DC_EV_RINGING},
    {"incoming", DC_EV_INCOMING},
    {"answered", DC_EV_ANSWERED},
    {"answered_elsewhere", DC_EV_ANSWERED_ELSEWHERE},
    {"declined", DC_EV_DECLINED},
    {"missed", DC_EV_MISSED},
    {"cancelled", DC_EV_CANCELLED},
    {"busy", DC_EV_BUSY},
    {"unreachable", DC_EV_UNREACHABLE},
    {"reconnecting", DC_EV_RECONNECTING},
    {"reconnected", DC_EV_RECONNECTED},
    {"ended", DC_EV_ENDED},
    {"missed_call", DC_EV_MISSED_CALL},
    {"branding", DC_EV_BRANDING},
    {"error", DC_EV_ERROR},
    {"closed", DC_EV_CLOSED},
    {"media", DC_EV_MEDIA},
    {"quality", DC_EV_QUALITY},
    {"network_check", DC_EV_NETWORK_CHECK},
};

static int local_only(dc_event_type t)
{
    return t == DC_EV_CLOSED || t == DC_EV_NETWORK_CHECK;
}

int dc__sdk_event_type(const char *type, dc_event_type *out)
{
    if (!type)
        return DC_ETYPE;
    for (size_t i = 0; i < sizeof ev_names / sizeof ev_names[0]; i++) {
        /* "closed" and "network_check" are local only: a server cannot send them */
        if (!local_only(ev_names[i].type) && strcmp(ev_names[i].name, type) == 0) {
            *out = ev_names[i].type;
            return 0;
        }
    }
    return DC_ETYPE;
}

const char *dc__sdk_event_name(dc_event_type t)
{
    for (size_t i = 0; i < sizeof ev_names / sizeof ev_names[0]; i++)
        if (ev_names[i].type == t)
            return ev_names[i].name;
    return "unknown";
}

int dc__sdk_auth_final(const char *code)
{
    static const char *const finals[] = {"invalid_token", "token_expired",      "token_revoked",
                                         "unauthorized",  "auth_mode_disabled", "logged_out"};
    if (!code)
        return 0;
    for (size_t i = 0; i < sizeof finals / sizeof finals[0]; i++)
        if (strcmp(code, finals[i]) == 0)
            return 1;
    return 0;
}

static int dump(json_t *o, char **out)
{
    if (!o)
        return DC_ENOMEM;
    *out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return *out ? 0 : DC_ENOMEM;
}

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, json_string(v));
}

int dc__sdk_hello_json(const dc_config *cfg, const struct dc__sdk_resume *res, char **out)
{
    json_t *o = json_object();
    if (!o)
        return DC_ENOMEM;
    json_object_set_new(o, "type", json_string("hello"));
    json_object_set_new(o, "v", json_integer(1));
    if (cfg->token) {
        set_str(o, "token", cfg->token);
    } else {
        set_str(o, "account_id", cfg->account_id);
        set_str(o, "api_key", cfg->api_key);
        set_str(o, "cuid", cfg->cuid);
        set_str(o, "name", cfg->name);
    }
    if (res && res->session_id && res->secret) {
        json_t *r = json_pack("{s:s,s:s,s:I}", "session_id", res->session_id, "secret", res->secret,
                              "last_seq", (json_int_t)res->last_seq);
        json_object_set_new(o, "resume", r);
    }
    return dump(o, out);
}

int dc__sdk_place_json(const dc_call_params *p, const char *client_call_id, char **out)
{
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", "place", "client_call_id", client_call_id, "ref",
                  client_call_id, "to", p->to, "context", p->context);
    if (!o)
        return DC_ENOMEM;
    set_str(o, "remote_context", p->remote_context);
    set_str(o, "caller_image", p->caller_image);
    set_str(o, "callee_image", p->callee_image);
    return dump(o, out);
}

int dc__sdk_op_json(const char *type, const char *call_id, const char *detail, char **out)
{
    json_t *o = json_pack("{s:s,s:s}", "type", type, "call_id", call_id);
    if (!o)
        return DC_ENOMEM;
    set_str(o, "detail", detail);
    return dump(o, out);
}

static const char *str_of(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k)); /* NULL when absent or not a string */
}

static void fill_event(struct dc__sdk_msg *m)
{
    json_t *r = m->root;
    dc_event *ev = &m->ev;
    ev->call_id = str_of(r, "call_id");
    ev->client_call_id = str_of(r, "client_call_id");
    json_t *from = json_object_get(r, "from");
    if (json_is_object(from)) {
        ev->peer_cuid = str_of(from, "cuid");
        ev->peer_name = str_of(from, "name");
    } else if (m->ev.type == DC_EV_REGISTERED) {
        ev->peer_cuid = str_of(r, "cuid");
        ev->peer_name = str_of(r, "name");
    } else {
        ev->peer_cuid = str_of(r, "to");
    }
    ev->context = str_of(r, "context");
    ev->remote_context = str_of(r, "remote_context");
    ev->caller_image = str_of(r, "caller_image");
    ev->callee_image = str_of(r, "callee_image");
    ev->reason = str_of(r, "reason");
    ev->detail = str_of(r, "detail");
    ev->ended_by = str_of(r, "ended_by");
    ev->who = str_of(r, "who");
    ev->duration_ms = (int64_t)json_integer_value(json_object_get(r, "duration_ms"));
    ev->code = str_of(r, "code");
    ev->message = str_of(r, "message");
    if (ev->type == DC_EV_ERROR)
        ev->err = ev->code ? dc_err_from_code(ev->code) : DC_EPROTO;
    ev->mos = json_number_value(json_object_get(r, "mos"));
    ev->loss_pct = json_number_value(json_object_get(r, "loss_pct"));
    ev->rtt_ms = json_number_value(json_object_get(r, "rtt_ms"));
    ev->jitter_ms = json_number_value(json_object_get(r, "jitter_ms"));
}

int dc__sdk_msg_parse(const char *text, size_t len, struct dc__sdk_msg *m)
{
    json_error_t jerr;
    memset(m, 0, sizeof *m);
    m->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(m->root))
        goto bad;
    m->type = str_of(m->root, "type");
    if (!m->type)
        goto bad;
    json_t *seq = json_object_get(m->root, "seq");
    if (json_is_integer(seq))
        m->seq = (int64_t)json_integer_value(seq);
    m->known = dc__sdk_event_type(m->type, &m->ev.type) == 0;
    if (m->known)
        fill_event(m);
    return 0;
bad:
    json_decref(m->root);
    memset(m, 0, sizeof *m);
    return DC_EJSON;
}

void dc__sdk_msg_free(struct dc__sdk_msg *m)
{
    json_decref(m->root);
    memset(m, 0, sizeof *m);
}
