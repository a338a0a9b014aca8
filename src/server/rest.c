/* REST /v1 for business backends: Basic auth (account_id:api_secret) first, then input, then
 * existence. Another account's objects are 404. Responses are JSON; errors are
 * {"error":{"code","message","field"?}}. */
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/jwt.h"
#include "common/log.h"
#include "common/util.h"
#include "common/validate.h"
#include "server/assets.h"
#include "server/server.h"
#include "server/webauth.h"

static const char *const dc__webhook_events[] = {"call.placed", "call.ringing", "call.answered",
                                                 "call.ended"};

void dc__reply(dc__http_req *r, int status, json_t *body)
{
    free(r->resp);
    r->resp = body ? json_dumps(body, DC__JSON_OUT) : NULL;
    r->resp_len = r->resp ? strlen(r->resp) : 0;
    r->status = status;
    json_decref(body);
}

void dc__reply_err(dc__http_req *r, int status, int err, const char *field)
{
    char msg[512];
    if (field)
        snprintf(msg, sizeof msg, "%s: %s", field, dc_strerror(err));
    else
        snprintf(msg, sizeof msg, "%s", dc_strerror(err));
    json_t *e = json_pack("{ss ss}", "code", dc_err_code(err), "message", msg);
    if (field)
        json_object_set_new(e, "field", json_string(field));
    /* no Basic prompt for a browser that came with a dashboard session cookie */
    r->www_auth = status == 401 && !strstr(r->cookie, DC__SESSION_COOKIE "=");
    dc__reply(r, status, json_pack("{so}", "error", e));
}

int dc__account_lookup(dc__server *srv, const char *id, dc__account **out)
{
    dc__acct_cache *e = NULL;
    HASH_FIND_STR(srv->accounts, id, e);
    if (!e) {
        dc__account *a = NULL;
        int rc = dc__store_account_get(srv->store, id, &a);
        if (rc < 0)
            return rc;
        e = calloc(1, sizeof *e);
        if (!e) {
            dc__account_free(a);
            return DC_ENOMEM;
        }
        snprintf(e->id, sizeof e->id, "%s", a->id);
        e->acct = a;
        HASH_ADD_STR(srv->accounts, id, e);
    }
    *out = e->acct;
    return 0;
}

int dc__account_save(dc__server *srv, dc__account *a)
{
    return dc__store_account_update(srv->store, a);
}

/* Basic account_id:api_secret. 0 and *out, or DC_EUNAUTHORIZED. */
static int dc__rest_auth(dc__server *srv, const char *hdr, dc__account **out)
{
    if (strncmp(hdr, "Basic ", 6) != 0)
        return DC_EUNAUTHORIZED;
    char dec[512];
    size_t n = 0;
    const char *b64 = hdr + 6;
    if (strlen(b64) > 600 || dc__b64_decode(dec, &n, b64, strlen(b64)) < 0 || n >= sizeof dec)
        return DC_EUNAUTHORIZED;
    dec[n] = '\0';
    char *colon = strchr(dec, ':');
    if (!colon)
        return DC_EUNAUTHORIZED;
    *colon = '\0';
    const char *secret = colon + 1;
    dc__account *a = NULL;
    if (dc__valid_id(dec) < 0 || dc__account_lookup(srv, dec, &a) < 0)
        return DC_EUNAUTHORIZED;
    size_t sl = strlen(secret);
    if (sl != strlen(a->api_secret) || !dc__ct_equal(secret, a->api_secret, sl))
        return DC_EUNAUTHORIZED;
    *out = a;
    return 0;
}

/* Basic auth when the request has an Authorization header (cookies are then ignored), else the
 * dashboard's session cookie, which needs the session's CSRF token on anything but GET/HEAD.
 * 0 and *out; DC_EUNAUTHORIZED or DC_ECSRF. */
static int dc__rest_authenticate(dc__server *srv, dc__http_req *r, dc__account **out)
{
    dc__web_session ws;
    char tok[96];
    if (r->auth[0] || dc__cookie_get(r->cookie, DC__SESSION_COOKIE, tok, sizeof tok) < 0)
        return dc__rest_auth(srv, r->auth, out);
    explicit_bzero(tok, sizeof tok);
    if (dc__webauth_session(srv, r->cookie, &ws) < 0 ||
        dc__account_lookup(srv, ws.account_id, out) < 0) {
        *out = NULL;
        return DC_EUNAUTHORIZED;
    }
    return dc__webauth_csrf(r, &ws);
}

/* Finds a query parameter; '+' that became ' ' is restored for time offsets. */
static const char *dc__q(const dc__http_req *r, const char *key, char *buf, size_t n)
{
    size_t kl = strlen(key);
    const char *p = r->query;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > kl && p[kl] == '=' && strncmp(p, key, kl) == 0) {
            size_t vl = len - kl - 1;
            if (vl >= n)
                vl = n - 1;
            memcpy(buf, p + kl + 1, vl);
            buf[vl] = '\0';
            return buf;
        }
        p = end ? end + 1 : p + len;
    }
    return NULL;
}

static int dc__q_int(const dc__http_req *r, const char *key, int lo, int hi, int dflt, int *out)
{
    char buf[32], *end;
    const char *v = dc__q(r, key, buf, sizeof buf);
    if (!v) {
        *out = dflt;
        return 0;
    }
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi)
        return -1;
    *out = (int)x;
    return 0;
}

static int dc__q_time(const dc__http_req *r, const char *key, int64_t *out)
{
    char buf[64];
    const char *v = dc__q(r, key, buf, sizeof buf);
    if (!v)
        return 1;
    for (char *p = buf; *p; p++)
        if (*p == ' ')
            *p = '+';
    return dc__parse_iso8601(buf, out) < 0 ? -1 : 0;
}

json_t *dc__body_json(dc__http_req *r)
{
    if (!r->body)
        return NULL;
    json_t *j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static void dc__h_tokens(dc__server *srv, dc__http_req *r, dc__account *a)
{
    (void)srv;
    json_t *b = dc__body_json(r);
    if (!b)
        return dc__reply_err(r, 400, DC_EJSON, "body");
    const char *cuid = json_string_value(json_object_get(b, "cuid"));
    json_t *name = json_object_get(b, "name"), *ttlj = json_object_get(b, "ttl");
    json_t *callees = json_object_get(b, "callees");
    int err = 0;
    const char *field = NULL;
    if (dc__valid_cuid(cuid) < 0)
        err = DC_ECUID, field = "cuid";
    else if (name && !json_is_null(name) && dc__valid_name(json_string_value(name)) < 0)
        err = DC_ENAME, field = "name";
    else if (ttlj && (!json_is_integer(ttlj) || json_integer_value(ttlj) < 60 ||
                      json_integer_value(ttlj) > 86400))
        err = DC_ETTL, field = "ttl";
    else if (callees && !json_is_null(callees) &&
             (!json_is_array(callees) || json_array_size(callees) > 100))
        err = DC_EFIELD, field = "callees";
    size_t i;
    json_t *c;
    if (!err && json_is_array(callees)) {
        json_array_foreach(callees, i, c)
        {
            if (dc__valid_cuid(json_string_value(c)) < 0) {
                err = DC_ECUID;
                field = "callees";
            }
        }
    }
    if (err) {
        json_decref(b);
        return dc__reply_err(r, 400, err, field);
    }
    int64_t now_ms = dc__now_ms(), now = now_ms / 1000;
    int64_t ttl = ttlj ? json_integer_value(ttlj) : 3600;
    json_t *claims =
        json_pack("{ss ss sI sI sI}", "acc", a->id, "sub", cuid, "iat", (json_int_t)now, "exp",
                  (json_int_t)(now + ttl), "iat_ms", (json_int_t)now_ms);
    if (json_is_string(name))
        json_object_set(claims, "name", name);
    if (json_is_array(callees))
        json_object_set(claims, "callees", callees);
    char *token = NULL;
    int rc = dc__jwt_sign(claims, a->kid, a->api_secret, strlen(a->api_secret), &token);
    json_decref(claims);
    json_decref(b);
    if (rc < 0)
        return dc__reply_err(r, 500, DC_EINTERNAL, NULL);
    char exp[32];
    dc__iso8601(exp, (now + ttl) * 1000);
    dc__reply(r, 201, json_pack("{ss ss}", "token", token, "expires_at", exp));
    free(token);
}

/* GET /v1/calls?format=csv: the whole filtered log as a download. Up to 100,000 rows take a while
 * to read and format, so it runs on the libuv thread pool with its own store handle (as the
 * outbox worker does), never on the signalling loop. */
typedef struct dc__csv_job {
    uv_work_t work;
    dc__server *srv;
    dc__http_req *req; /* NULL once the client went away */
    char account_id[40];
    char status[32], cuid[64]; /* the filter's strings, copied (the sizes of the query buffers) */
    dc__call_filter filter;
    char *csv;
    size_t len;
    int rc;
} dc__csv_job;

static void dc__csv_work(uv_work_t *w)
{
    dc__csv_job *j = w->data;
    dc__store *st = NULL;
    j->rc = dc__store_open(j->srv->cfg.db_url, j->srv->cfg.data_dir, j->srv->master_key, &st);
    if (!j->rc)
        j->rc = dc__calls_csv(st, j->account_id, &j->filter, &j->csv, &j->len);
    dc__store_close(st);
}

static void dc__csv_release(dc__http_req *r)
{
    dc__csv_job *j = r->async;
    if (j)
        j->req = NULL;
}

static void dc__csv_after(uv_work_t *w, int status)
{
    dc__csv_job *j = w->data;
    dc__http_req *r = j->req;
    if (r) {
        r->async = NULL;
        r->release = NULL;
        if (status < 0 || j->rc < 0) {
            dc__reply_err(r, 500, DC_ESTORE, NULL);
        } else {
            free(r->resp);
            r->resp = j->csv;
            j->csv = NULL;
            r->resp_len = j->len;
            r->status = 200;
            r->content_type = "text/csv; charset=utf-8";
            dc__http_add_header(r, "content-disposition", "attachment; filename=\"calls.csv\"");
        }
        if (r->wsi)
            lws_callback_on_writable(r->wsi);
    }
    free(j->csv);
    free(j);
}

static void dc__h_calls_csv(dc__server *srv, dc__http_req *r, dc__account *a,
                            const dc__call_filter *f)
{
    dc__csv_job *j = calloc(1, sizeof *j);
    if (!j)
        return dc__reply_err(r, 500, DC_ENOMEM, NULL);
    j->srv = srv;
    j->req = r;
    j->work.data = j;
    snprintf(j->account_id, sizeof j->account_id, "%s", a->id);
    j->filter = *f;
    j->filter.cursor = NULL;
    if (f->status) {
        snprintf(j->status, sizeof j->status, "%s", f->status);
        j->filter.status = j->status;
    }
    if (f->cuid) {
        snprintf(j->cuid, sizeof j->cuid, "%s", f->cuid);
        j->filter.cuid = j->cuid;
    }
    if (uv_queue_work(srv->loop, &j->work, dc__csv_work, dc__csv_after) != 0) {
        free(j);
        return dc__reply_err(r, 500, DC_EINTERNAL, NULL);
    }
    r->async = j;
    r->release = dc__csv_release;
}

static void dc__h_calls_list(dc__server *srv, dc__http_req *r, dc__account *a)
{
    dc__call_filter f;
    char sbuf[32], cbuf[64], curbuf[256], fmt[16];
    memset(&f, 0, sizeof f);
    const char *format = dc__q(r, "format", fmt, sizeof fmt);
    if (format && strcmp(format, "csv") && strcmp(format, "json"))
        return dc__reply_err(r, 400, DC_EFIELD, "format");
    if (dc__q_time(r, "from", &f.from_ms) < 0)
        return dc__reply_err(r, 400, DC_ETIME, "from");
    if (dc__q_time(r, "to", &f.to_ms) < 0)
        return dc__reply_err(r, 400, DC_ETIME, "to");
    f.status = dc__q(r, "status", sbuf, sizeof sbuf);
    if (f.status && dc__call_status_valid(f.status) < 0)
        return dc__reply_err(r, 400, DC_ESTATUS, "status");
    f.cuid = dc__q(r, "cuid", cbuf, sizeof cbuf);
    if (f.cuid && dc__valid_cuid(f.cuid) < 0)
        return dc__reply_err(r, 400, DC_ECUID, "cuid");
    if (dc__q_int(r, "limit", 1, 1000, 100, &f.limit) < 0)
        return dc__reply_err(r, 400, DC_ELIMIT, "limit");
    f.cursor = dc__q(r, "cursor", curbuf, sizeof curbuf);
    if (format && !strcmp(format, "csv"))
        return dc__h_calls_csv(srv, r, a, &f);
    json_t *arr = NULL;
    char *next = NULL;
    int rc = dc__store_calls_list(srv->store, a->id, &f, &arr, &next);
    if (rc == DC_ECURSOR || rc == DC_EINVAL)
        return dc__reply_err(r, 400, DC_ECURSOR, "cursor");
    if (rc < 0)
        return dc__reply_err(r, 500, DC_ESTORE, NULL);
    dc__reply(
        r, 200,
        json_pack("{so so}", "calls", arr, "next_cursor", next ? json_string(next) : json_null()));
    free(next);
}

static void dc__h_call(dc__server *srv, dc__http_req *r, dc__account *a, const char *id)
{
    if (dc__valid_id(id) < 0)
        return dc__reply_err(r, 400, DC_EID, "id");
    if (!strcmp(r->method, "DELETE")) {
        dc__call *call = dc__call_find(srv, a->id, id);
        if (!call) {
            json_t *j = NULL;
            if (dc__store_call_get(srv->store, a->id, id, &j) == 0) {
                json_decref(j);
                return dc__reply_err(r, 409, DC_ESTATE, "id");
            }
            return dc__reply_err(r, 404, DC_ENOTFOUND, "id");
        }
        int ongoing = !strcmp(call->rec.state, "ongoing");
        dc__call_end(call, ongoing ? "completed" : "cancelled", "ended_by_api", "api");
    } else if (strcmp(r->method, "GET") != 0) {
        return dc__reply_err(r, 405, DC_ENOTALLOWED, NULL);
    }
    json_t *j = NULL;
    int rc = dc__store_call_get(srv->store, a->id, id, &j);
    if (rc == DC_ENOTFOUND)
        return dc__reply_err(r, 404, DC_ENOTFOUND, "id");
    if (rc < 0)
        return dc__reply_err(r, 500, DC_ESTORE, NULL);
    dc__reply(r, 200, j);
}

static void dc__h_stats(dc__server *srv, dc__http_req *r, dc__account *a)
{
    int64_t from = 0, to = 0;
    char gbuf[16], tzbuf[64];
    int rf = dc__q_time(r, "from", &from), rt = dc__q_time(r, "to", &to);
    if (rf < 0)
        return dc__reply_err(r, 400, DC_ETIME, "from");
    if (rt < 0)
        return dc__reply_err(r, 400, DC_ETIME, "to");
    if (rt)
        to = dc__now_ms();
    if (rf)
        from = to - 86400000;
    const char *g = dc__q(r, "granularity", gbuf, sizeof gbuf);
    const char *tz = dc__q(r, "tz", tzbuf, sizeof tzbuf);
    if (!g)
        g = "hour";
    if (!tz)
        tz = "UTC";
    if (strcmp(g, "hour") && strcmp(g, "day") && strcmp(g, "week") && strcmp(g, "month"))
        return dc__reply_err(r, 400, DC_EGRAN, "granularity");
    if (to <= from)
        return dc__reply_err(r, 400, DC_ETIME, "to");
    if (to - from > 30LL * 86400000)
        return dc__reply_err(r, 400, DC_ERANGE, "to");
    json_t *out = NULL;
    int rc = dc__stats_query(srv->store, a->id, from, to, g, tz, &out);
    if (rc == DC_ETZ)
        return dc__reply_err(r, 400, DC_ETZ, "tz");
    if (rc < 0)
        return dc__reply_err(r, 500, DC_ESTORE, NULL);
    dc__reply(r, 200, out);
}

static void dc__h_user(dc__server *srv, dc__http_req *r, dc__account *a, const char *rest)
{
    char cuid[64];
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    if (n >= sizeof cuid)
        return dc__reply_err(r, 400, DC_ECUID, "cuid");
    memcpy(cuid, rest, n);
    cuid[n] = '\0';
    if (dc__valid_cuid(cuid) < 0)
        return dc__reply_err(r, 400, DC_ECUID, "cuid");
    const char *sub = slash ? slash + 1 : "";
    dc__user *u = dc__user_find(srv, a->id, cuid);
    if (!*sub && !strcmp(r->method, "GET")) {
        int devices = 0;
        for (dc__session *s = u ? u->sessions : NULL; s; s = s->next_in_user)
            devices++;
        json_t *j = json_pack("{ss sb si sb so}", "cuid", cuid, "online", devices > 0, "devices",
                              devices, "in_call", u && u->call, "call_id",
                              u && u->call ? json_string(u->call->rec.id) : json_null());
        return dc__reply(r, 200, j);
    }
    if (!strcmp(sub, "sessions") && !strcmp(r->method, "DELETE")) {
        if (dc__store_revoke_set(srv->store, a->id, cuid, dc__now_ms()) < 0)
            return dc__reply_err(r, 500, DC_ESTORE, NULL);
        int n_closed = dc__user_logout_all(srv, a->id, cuid);
        return dc__reply(r, 200, json_pack("{si}", "closed", n_closed));
    }
    if (!strcmp(sub, "missed") && !strcmp(r->method, "GET")) {
        int limit;
        if (dc__q_int(r, "limit", 1, 1000, 100, &limit) < 0)
            return dc__reply_err(r, 400, DC_ELIMIT, "limit");
        json_t *arr = NULL;
        if (dc__store_missed_list(srv->store, a->id, cuid, limit, &arr) < 0)
            return dc__reply_err(r, 500, DC_ESTORE, NULL);
        return dc__reply(r, 200, json_pack("{so}", "missed", arr));
    }
    if (!*sub || !strcmp(sub, "sessions") || !strcmp(sub, "missed"))
        return dc__reply_err(r, 405, DC_ENOTALLOWED, NULL);
    dc__reply_err(r, 404, DC_ENOTFOUND, "path");
}

static int dc__nullable_str(json_t *b, const char *k, int (*valid)(const char *), int err,
                            const char **field)
{
    json_t *v = json_object_get(b, k);
    if (!v || json_is_null(v))
        return 0;
    *field = k;
    return json_is_string(v) && valid(json_string_value(v)) == 0 ? 0 : err;
}

static int dc__valid_theme(const char *s)
{
    return s && (!strcmp(s, "default") || !strcmp(s, "white")) ? 0 : DC_ETHEME;
}

static void dc__h_branding(dc__server *srv, dc__http_req *r, dc__account *a)
{
    if (!strcmp(r->method, "GET"))
        return dc__reply(r, 200, json_deep_copy(a->branding));
    if (strcmp(r->method, "PUT") != 0)
        return dc__reply_err(r, 405, DC_ENOTALLOWED, NULL);
    json_t *b = dc__body_json(r);
    if (!b)
        return dc__reply_err(r, 400, DC_EJSON, "body");
    const char *field = NULL;
    int err = dc__nullable_str(b, "logo_url", dc__valid_url, DC_EURL, &field);
    static const char *const colors[] = {"background_color", "text_color"};
    for (int i = 0; !err && i < 2; i++) {
        json_t *v = json_object_get(b, colors[i]);
        field = colors[i];
        if (v && (!json_is_string(v) || dc__valid_color(json_string_value(v)) < 0))
            err = DC_ECOLOR;
    }
    json_t *th = json_object_get(b, "button_theme");
    if (!err && th && (!json_is_string(th) || dc__valid_theme(json_string_value(th)) < 0))
        err = DC_ETHEME, field = "button_theme";
    if (err) {
        json_decref(b);
        return dc__reply_err(r, 400, err, field);
    }
    json_t *nb = json_deep_copy(a->branding);
    static const char *const keys[] = {"logo_url", "background_color", "text_color",
                                       "button_theme"};
    for (int i = 0; i < 4; i++) {
        json_t *v = json_object_get(b, keys[i]);
        if (v)
            json_object_set(nb, keys[i], v);
    }
    json_decref(b);
    json_t *old = a->branding;
    a->branding = nb;
    if (dc__account_save(srv, a) < 0) {
        a->branding = old;
        json_decref(nb);
        return dc__reply_err(r, 500, DC_ESTORE, NULL);
    }
    json_decref(old);
    dc__account_broadcast_branding(srv, a->id, a->branding);
    dc__reply(r, 200, json_deep_copy(a->branding));
}

static json_t *dc__settings_json(const dc__server *srv, const dc__account *a)
{
    return json_pack("{si so so sb ss ss si so}", "ring_timeout_s",
                     a->ring_timeout_s ? a->ring_timeout_s : srv->cfg.ring_timeout_s, "webhook_url",
                     a->webhook_url ? json_string(a->webhook_url) : json_null(), "webhook_events",
                     a->webhook_events ? json_deep_copy(a->webhook_events) : json_array(),
                     "dev_key_auth", a->dev_key_auth, "api_key", a->api_key, "kid", a->kid,
                     "server_ring_timeout_s", srv->cfg.ring_timeout_s, "allowed_origins",
                     a->allowed_origins ? json_deep_copy(a->allowed_origins) : json_array());
}

static int dc__settings_validate(json_t *b, const char **field)
{
    json_t *v;
    if ((v = json_object_get(b, "ring_timeout_s")) && !json_is_null(v) &&
        (!json_is_integer(v) || json_integer_value(v) < 10 || json_integer_value(v) > 120))
        return *field = "ring_timeout_s", DC_ETIMEOUTVAL;
    int err = dc__nullable_str(b, "webhook_url", dc__valid_url, DC_EURL, field);
    if (err)
        return err;
    if ((v = json_object_get(b, "webhook_events"))) {
        *field = "webhook_events";
        if (!json_is_array(v))
            return DC_EEVENTS;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            int ok = 0;
            for (int k = 0; k < 4; k++)
                ok |= json_is_string(e) && !strcmp(json_string_value(e), dc__webhook_events[k]);
            if (!ok)
                return DC_EEVENTS;
        }
    }
    if ((v = json_object_get(b, "allowed_origins")) && dc__webauth_valid_origins(v) < 0)
        return *field = "allowed_origins", DC_EORIGIN;
    static const char *const bools[] = {"dev_key_auth", "rotate_webhook_secret"};
    for (int i = 0; i < 2; i++)
        if ((v = json_object_get(b, bools[i])) && !json_is_boolean(v))
            return *field = bools[i], DC_EFIELD;
    return 0;
}

static void dc__h_settings(dc__server *srv, dc__http_req *r, dc__account *a)
{
    if (!strcmp(r->method, "GET"))
        return dc__reply(r, 200, dc__settings_json(srv, a));
    if (strcmp(r->method, "PUT") != 0)
        return dc__reply_err(r, 405, DC_ENOTALLOWED, NULL);
    json_t *b = dc__body_json(r), *v;
    const char *field = NULL;
    if (!b)
        return dc__reply_err(r, 400, DC_EJSON, "body");
    int err = dc__settings_validate(b, &field);
    if (err) {
        json_decref(b);
        return dc__reply_err(r, 400, err, field);
    }
    if ((v = json_object_get(b, "ring_timeout_s")))
        a->ring_timeout_s = json_is_null(v) ? 0 : (int)json_integer_value(v);
    if ((v = json_object_get(b, "webhook_url"))) {
        free(a->webhook_url);
        a->webhook_url = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
    }
    if ((v = json_object_get(b, "webhook_events"))) {
        json_decref(a->webhook_events);
        a->webhook_events = json_deep_copy(v);
    }
    if ((v = json_object_get(b, "dev_key_auth")))
        a->dev_key_auth = json_is_true(v);
    if ((v = json_object_get(b, "allowed_origins"))) {
        json_decref(a->allowed_origins);
        a->allowed_origins = json_deep_copy(v);
    }
    char *shown = NULL;
    if (a->webhook_url &&
        (!a->webhook_secret || json_is_true(json_object_get(b, "rotate_webhook_secret")))) {
        char sec[64];
        dc__random_id(sec, "whsec_", 40);
        free(a->webhook_secret);
        a->webhook_secret = strdup(sec);
        shown = strdup(sec);
    }
    json_decref(b);
    if (dc__account_save(srv, a) < 0) {
        free(shown);
        return dc__reply_err(r, 500, DC_ESTORE, NULL);
    }
    json_t *out = dc__settings_json(srv, a);
    if (shown)
        json_object_set_new(out, "webhook_secret", json_string(shown));
    free(shown);
    dc__reply(r, 200, out);
}

static void dc__h_webhook_log(dc__server *srv, dc__http_req *r, dc__account *a)
{
    int limit;
    if (dc__q_int(r, "limit", 1, 1000, 100, &limit) < 0)
        return dc__reply_err(r, 400, DC_ELIMIT, "limit");
    json_t *arr = NULL;
    if (dc__store_outbox_log(srv->store, a->id, limit, &arr) < 0)
        return dc__reply_err(r, 500, DC_ESTORE, NULL);
    dc__reply(r, 200, json_pack("{so}", "deliveries", arr));
}

/* POST /v1/webhooks/test: a webhook.test event through the outbox (it shows in the log). */
static void dc__h_webhook_test(dc__server *srv, dc__http_req *r, dc__account *a)
{
    if (!a->webhook_url)
        return dc__reply_err(r, 400, DC_ENOWEBHOOK, "webhook_url");
    char evid[40], at[32];
    int64_t now = dc__now_ms();
    dc__outbox_item it;
    memset(&it, 0, sizeof it);
    dc__random_id(evid, "evt_", 24);
    dc__iso8601(at, now);
    json_t *body = json_pack("{ss ss ss ss}", "id", evid, "type", "webhook.test", "created_at", at,
                             "account_id", a->id);
    it.body = body ? json_dumps(body, DC__JSON_OUT) : NULL;
    json_decref(body);
    it.url = strdup(a->webhook_url);
    snprintf(it.account_id, sizeof it.account_id, "%s", a->id);
    snprintf(it.kind, sizeof it.kind, "webhook");
    it.next_ms = it.created_ms = now;
    int rc = it.body && it.url ? dc__store_outbox_add(srv->store, &it) : DC_ENOMEM;
    dc__outbox_item_clear(&it);
    if (rc < 0)
        return dc__reply_err(r, 500, DC_ESTORE, NULL);
    dc__outbox_wake(srv);
    dc__reply(r, 202, json_pack("{ss}", "id", evid));
}

static void dc__h_metrics(dc__server *srv, dc__http_req *r)
{
    int64_t depth = 0, ringing = 0, ongoing = 0;
    dc__store_outbox_depth(srv->store, &depth);
    for (dc__call *c = srv->calls; c; c = c->hh.next)
        *(!strcmp(c->rec.state, "ongoing") ? &ongoing : &ringing) += 1;
    char *buf = malloc(4096);
    if (!buf)
        return dc__reply_err(r, 500, DC_ENOMEM, NULL);
    int n = snprintf(buf, 4096,
                     "# TYPE dcall_connections gauge\ndcall_connections %lld\n"
                     "# TYPE dcall_sessions gauge\ndcall_sessions %lld\n"
                     "# TYPE dcall_calls gauge\ndcall_calls{state=\"ringing\"} %lld\n"
                     "dcall_calls{state=\"ongoing\"} %lld\n"
                     "# TYPE dcall_calls_placed_total counter\ndcall_calls_placed_total %llu\n"
                     "# TYPE dcall_setups_per_second gauge\ndcall_setups_per_second %.1f\n"
                     "# TYPE dcall_calls_ended_total counter\n",
                     (long long)srv->n_conns, (long long)srv->n_sessions, (long long)ringing,
                     (long long)ongoing, (unsigned long long)srv->placed_total,
                     dc__setups_per_second(srv));
    for (int i = 0; i < DC__N_REASONS; i++)
        n += snprintf(buf + n, 4096 - (size_t)n, "dcall_calls_ended_total{reason=\"%s\"} %llu\n",
                      dc__end_reasons[i], (unsigned long long)srv->ended_total[i]);
    n += snprintf(buf + n, 4096 - (size_t)n,
                  "# TYPE dcall_outbox_depth gauge\ndcall_outbox_depth %lld\n", (long long)depth);
    free(r->resp);
    r->resp = buf;
    r->resp_len = (size_t)n;
    r->status = 200;
    r->content_type = "text/plain; version=0.0.4";
}

static void dc__h_v1(dc__server *srv, dc__http_req *r, dc__account *a, const char *p)
{
    int get = !strcmp(r->method, "GET");
    if (!strcmp(p, "tokens"))
        return strcmp(r->method, "POST") ? dc__reply_err(r, 405, DC_ENOTALLOWED, NULL)
                                         : dc__h_tokens(srv, r, a);
    if (!strcmp(p, "calls"))
        return get ? dc__h_calls_list(srv, r, a) : dc__reply_err(r, 405, DC_ENOTALLOWED, NULL);
    if (!strncmp(p, "calls/", 6))
        return dc__h_call(srv, r, a, p + 6);
    if (!strcmp(p, "stats"))
        return get ? dc__h_stats(srv, r, a) : dc__reply_err(r, 405, DC_ENOTALLOWED, NULL);
    if (!strncmp(p, "users/", 6))
        return dc__h_user(srv, r, a, p + 6);
    if (!strcmp(p, "branding"))
        return dc__h_branding(srv, r, a);
    if (!strcmp(p, "settings"))
        return dc__h_settings(srv, r, a);
    if (!strcmp(p, "webhooks/log"))
        return get ? dc__h_webhook_log(srv, r, a) : dc__reply_err(r, 405, DC_ENOTALLOWED, NULL);
    if (!strcmp(p, "webhooks/test"))
        return strcmp(r->method, "POST") ? dc__reply_err(r, 405, DC_ENOTALLOWED, NULL)
                                         : dc__h_webhook_test(srv, r, a);
    dc__reply_err(r, 404, DC_ENOTFOUND, "path");
}

void dc__rest_handle(dc__server *srv, dc__http_req *r)
{
    const char *path = r->path;
    if (!strcmp(path, "/healthz")) {
        int ok = srv->ready && !srv->draining;
        return dc__reply(
            r, ok ? 200 : 503,
            json_pack("{ss}", "status", ok ? "ok" : (srv->draining ? "draining" : "starting")));
    }
    if (!strcmp(path, "/metrics"))
        return dc__h_metrics(srv, r);
    if (srv->cfg.test_mode && !strcmp(path, "/_test/clock") && !strcmp(r->method, "POST")) {
        json_t *b = dc__body_json(r);
        json_t *adv = b ? json_object_get(b, "advance_ms") : NULL;
        if (!json_is_integer(adv) || json_integer_value(adv) < 0) {
            json_decref(b);
            return dc__reply_err(r, 400, DC_EFIELD, "advance_ms");
        }
        dc__clock_advance(json_integer_value(adv));
        json_decref(b);
        dc__outbox_wake(srv);
        return dc__reply(r, 200, json_pack("{sI}", "now_ms", (json_int_t)dc__now_ms()));
    }
    if (dc__assets_handle(srv, r))
        return;
    if (strncmp(path, "/v1/", 4) != 0)
        return dc__reply_err(r, 404, DC_ENOTFOUND, "path");
    if (!strncmp(path, "/v1/web/", 8))
        return dc__webauth_handle(srv, r, path + 8);
    dc__account *a = NULL;
    int rc = dc__rest_authenticate(srv, r, &a);
    if (rc < 0)
        return dc__reply_err(r, rc == DC_ECSRF ? 403 : 401, rc,
                             rc == DC_ECSRF ? "X-CSRF-Token" : NULL);
    if (r->body_overflow)
        return dc__reply_err(r, 413, DC_ETOOBIG, "body");
    if (!strcmp(path, "/v1/ws"))
        return dc__reply_err(r, 400, DC_EPROTO, "upgrade");
    dc__h_v1(srv, r, a, path + 4);
}
