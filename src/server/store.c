/* The store's front: picks the backend from the URL, checks what does not depend on the backend
 * (every call's arguments, list filters and cursors), dispatches through the backend's function
 * table, and holds what is the same on every backend: sealing secrets, reading rows into records,
 * the call_save transaction, record JSON and frees. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/util.h"
#include "dcall/errors.h"
#include "server/store_impl.h"

#define MOD "store"

const char dc__store_default_branding[] =
    "{\"logo_url\":null,\"background_color\":\"#FFFFFF\","
    "\"text_color\":\"#000000\",\"button_theme\":\"default\"}";

/* ---- backend-neutral helpers -------------------------------------------------------------- */

json_t *dc__store_json_time(int64_t ms)
{
    char buf[32];
    if (ms <= 0)
        return json_null();
    dc__iso8601(buf, ms);
    return json_string(buf);
}

json_t *dc__store_json_str(const char *v)
{
    return v && *v ? json_string(v) : json_null();
}

static void dc__free_secret(char *p)
{
    if (p) {
        explicit_bzero(p, strlen(p));
        free(p);
    }
}

void dc__account_free(dc__account *a)
{
    if (!a)
        return;
    free(a->name);
    dc__free_secret(a->api_secret);
    free(a->webhook_url);
    json_decref(a->webhook_events);
    dc__free_secret(a->webhook_secret);
    json_decref(a->branding);
    json_decref(a->allowed_origins);
    free(a);
}

void dc__call_rec_free(dc__call_rec *r)
{
    if (!r)
        return;
    free(r->caller_name);
    free(r->context);
    free(r->remote_context);
    free(r->caller_image);
    free(r->callee_image);
    free(r);
}

void dc__outbox_items_free(dc__outbox_item *items, size_t n)
{
    if (!items)
        return;
    for (size_t i = 0; i < n; i++) {
        free(items[i].url);
        free(items[i].body);
    }
    free(items);
}

/* Two decimals are all a MOS or a percentage carries; more is noise from averaging. */
static json_t *dc__json_2dp(double v)
{
    return json_real(isfinite(v) ? round(v * 100.0) / 100.0 : 0.0);
}

/* null when the call had no quality reports (never connected media, or ended before the first). */
static json_t *dc__call_quality_json(const dc__call_rec *r)
{
    if (r->q_samples <= 0)
        return json_null();
    json_t *q = json_object();
    if (!q)
        return NULL;
    json_object_set_new(q, "samples", json_integer(r->q_samples));
    json_object_set_new(q, "mos_avg", dc__json_2dp(r->mos_avg));
    json_object_set_new(q, "mos_min", dc__json_2dp(r->mos_min));
    json_object_set_new(q, "loss_pct", dc__json_2dp(r->loss_pct));
    json_object_set_new(q, "rtt_ms", dc__json_2dp(r->rtt_ms));
    json_object_set_new(q, "jitter_ms", dc__json_2dp(r->jitter_ms));
    return q;
}

json_t *dc__call_rec_json(const dc__call_rec *r)
{
    if (!r)
        return NULL;
    int64_t dur =
        r->answered_ms > 0 && r->ended_ms >= r->answered_ms ? r->ended_ms - r->answered_ms : 0;
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "id", json_string(r->id));
    json_object_set_new(o, "client_call_id", dc__store_json_str(r->client_call_id));
    json_object_set_new(o, "caller", json_string(r->caller));
    json_object_set_new(o, "caller_name", dc__store_json_str(r->caller_name));
    json_object_set_new(o, "callee", json_string(r->callee));
    json_object_set_new(o, "context", dc__store_json_str(r->context));
    json_object_set_new(o, "remote_context", dc__store_json_str(r->remote_context));
    json_object_set_new(o, "caller_image", dc__store_json_str(r->caller_image));
    json_object_set_new(o, "callee_image", dc__store_json_str(r->callee_image));
    json_object_set_new(o, "state", json_string(r->state));
    json_object_set_new(o, "created_at", dc__store_json_time(r->created_ms));
    json_object_set_new(o, "answered_at", dc__store_json_time(r->answered_ms));
    json_object_set_new(o, "ended_at", dc__store_json_time(r->ended_ms));
    json_object_set_new(o, "duration_ms", json_integer(dur));
    json_object_set_new(o, "reason", dc__store_json_str(r->reason));
    json_object_set_new(o, "detail", dc__store_json_str(r->detail));
    json_object_set_new(o, "ended_by", dc__store_json_str(r->ended_by));
    json_object_set_new(o, "quality", dc__call_quality_json(r));
    return o;
}

/* ---- rows and records shared by the backends ---------------------------------------------- */

static void dc__row_copy(char *dst, size_t cap, const dc__store_row *row, int col)
{
    const char *v = row->text(row, col);
    snprintf(dst, cap, "%s", v ? v : "");
}

static char *dc__row_dup(const dc__store_row *row, int col)
{
    const char *v = row->text(row, col);
    return v ? strdup(v) : NULL;
}

static int dc__unseal(const unsigned char key[32], const char *v, char **out)
{
    *out = NULL;
    if (!v)
        return 0;
    if (dc__open(key, v, out) != 0) {
        /* a wrong master key for this data dir, or a tampered row */
        DC_ERROR(MOD, "a sealed secret does not open with this master key");
        return DC_ESTORE;
    }
    return 0;
}

int dc__store_account_row(const unsigned char key[32], const dc__store_row *row, dc__account **out)
{
    dc__account *a = calloc(1, sizeof *a);
    if (!a)
        return DC_ENOMEM;
    dc__row_copy(a->id, sizeof a->id, row, 0);
    dc__row_copy(a->api_key, sizeof a->api_key, row, 1);
    dc__row_copy(a->kid, sizeof a->kid, row, 2);
    a->name = dc__row_dup(row, 3);
    a->ring_timeout_s = (int)row->i64(row, 5);
    a->dev_key_auth = (int)row->i64(row, 6);
    a->webhook_url = dc__row_dup(row, 7);
    const char *ev = row->text(row, 8);
    a->webhook_events = ev ? json_loads(ev, 0, NULL) : NULL;
    const char *br = row->text(row, 10);
    a->branding = json_loads(br ? br : dc__store_default_branding, 0, NULL);
    a->created_ms = row->i64(row, 11);
    const char *ao = row->text(row, 12);
    a->allowed_origins = ao ? json_loads(ao, 0, NULL) : NULL;
    if (!json_is_array(a->allowed_origins)) {
        json_decref(a->allowed_origins);
        a->allowed_origins = json_array();
    }
    int rc = dc__unseal(key, row->text(row, 4), &a->api_secret);
    if (!rc)
        rc = dc__unseal(key, row->text(row, 9), &a->webhook_secret);
    if (!rc && (!a->name || !a->api_secret || !a->branding))
        rc = DC_ENOMEM;
    if (!a->webhook_events)
        a->webhook_events = json_array();
    if (rc) {
        dc__account_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void dc__store_web_user_row(const dc__store_row *row, dc__web_user *out)
{
    memset(out, 0, sizeof *out);
    dc__row_copy(out->id, sizeof out->id, row, 0);
    dc__row_copy(out->account_id, sizeof out->account_id, row, 1);
    dc__row_copy(out->email, sizeof out->email, row, 2);
    dc__row_copy(out->password_hash, sizeof out->password_hash, row, 3);
    out->created_ms = row->i64(row, 4);
}

void dc__store_web_session_row(const dc__store_row *row, dc__web_session *out)
{
    memset(out, 0, sizeof *out);
    dc__row_copy(out->token_hash, sizeof out->token_hash, row, 0);
    dc__row_copy(out->csrf, sizeof out->csrf, row, 1);
    dc__row_copy(out->account_id, sizeof out->account_id, row, 2);
    dc__row_copy(out->user_id, sizeof out->user_id, row, 3);
    dc__row_copy(out->email, sizeof out->email, row, 4);
    out->created_ms = row->i64(row, 5);
    out->expires_ms = row->i64(row, 6);
}

int dc__store_call_row(const dc__store_row *row, dc__call_rec **out)
{
    dc__call_rec *r = calloc(1, sizeof *r);
    if (!r)
        return DC_ENOMEM;
    dc__row_copy(r->id, sizeof r->id, row, 0);
    dc__row_copy(r->account_id, sizeof r->account_id, row, 1);
    dc__row_copy(r->client_call_id, sizeof r->client_call_id, row, 2);
    dc__row_copy(r->caller, sizeof r->caller, row, 3);
    dc__row_copy(r->callee, sizeof r->callee, row, 4);
    r->caller_name = dc__row_dup(row, 5);
    r->context = dc__row_dup(row, 6);
    r->remote_context = dc__row_dup(row, 7);
    r->caller_image = dc__row_dup(row, 8);
    r->callee_image = dc__row_dup(row, 9);
    dc__row_copy(r->state, sizeof r->state, row, 10);
    r->created_ms = row->i64(row, 11);
    r->answered_ms = row->i64(row, 12);
    r->ended_ms = row->i64(row, 13);
    dc__row_copy(r->reason, sizeof r->reason, row, 14);
    dc__row_copy(r->detail, sizeof r->detail, row, 15);
    dc__row_copy(r->ended_by, sizeof r->ended_by, row, 16);
    r->q_samples = (int)row->i64(row, 17);
    r->mos_avg = row->f64(row, 18);
    r->mos_min = row->f64(row, 19);
    r->loss_pct = row->f64(row, 20);
    r->rtt_ms = row->f64(row, 21);
    r->jitter_ms = row->f64(row, 22);
    if (!r->context) {
        dc__call_rec_free(r);
        return DC_ENOMEM;
    }
    *out = r;
    return 0;
}

int dc__store_outbox_item_row(const dc__store_row *row, dc__outbox_item *it)
{
    it->id = row->i64(row, 0);
    dc__row_copy(it->account_id, sizeof it->account_id, row, 1);
    dc__row_copy(it->kind, sizeof it->kind, row, 2);
    it->url = dc__row_dup(row, 3);
    it->body = dc__row_dup(row, 4);
    it->attempts = (int)row->i64(row, 5);
    it->next_ms = row->i64(row, 6);
    it->created_ms = row->i64(row, 7);
    return it->url && it->body ? 0 : DC_ENOMEM;
}

json_t *dc__store_outbox_log_row(const dc__store_row *row)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "id", json_integer(row->i64(row, 0)));
    json_object_set_new(o, "url", json_string(row->text(row, 1)));
    json_object_set_new(o, "event", dc__store_json_str(row->text(row, 2)));
    json_object_set_new(o, "attempts", json_integer((int)row->i64(row, 3)));
    json_object_set_new(o, "state", json_string(row->text(row, 4)));
    json_object_set_new(o, "last_error", dc__store_json_str(row->text(row, 5)));
    json_object_set_new(o, "http_status",
                        row->is_null(row, 6) ? json_null() : json_integer((int)row->i64(row, 6)));
    json_object_set_new(o, "created_at", dc__store_json_time(row->i64(row, 7)));
    json_object_set_new(o, "delivered_at", dc__store_json_time(row->i64(row, 8)));
    return o;
}

json_t *dc__store_missed_json(const char *call_id, const char *payload)
{
    json_t *p = json_loads(payload, 0, NULL);
    if (!json_is_object(p)) {
        json_decref(p);
        p = json_object();
    }
    if (!json_object_get(p, "call_id"))
        json_object_set_new(p, "call_id", json_string(call_id));
    return p;
}

/* A new account with fresh ids and secret, and that secret sealed with key for its row. */
static int dc__account_new(const unsigned char key[32], const char *name, dc__account **out,
                           char **sealed)
{
    dc__account *a = calloc(1, sizeof *a);
    if (!a)
        return DC_ENOMEM;
    int rc = dc__random_id(a->id, "acc_", 16);
    if (!rc)
        rc = dc__random_id(a->api_key, "key_", 24);
    a->api_secret = malloc(3 + 40 + 1);
    if (!rc)
        rc = a->api_secret ? dc__random_id(a->api_secret, "sk_", 40) : DC_ENOMEM;
    snprintf(a->kid, sizeof a->kid, "k1");
    a->name = strdup(name);
    a->webhook_events = json_array();
    a->branding = json_loads(dc__store_default_branding, 0, NULL);
    a->allowed_origins = json_array();
    a->created_ms = dc__now_ms();
    if (!rc && (!a->name || !a->webhook_events || !a->branding || !a->allowed_origins))
        rc = DC_ENOMEM;
    if (!rc)
        rc = dc__seal(key, a->api_secret, sealed);
    if (rc) {
        dc__account_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

static int dc__account_cols_make(const unsigned char key[32], const dc__account *a,
                                 dc__account_cols *c)
{
    int rc = 0;
    memset(c, 0, sizeof *c);
    if (a->api_secret)
        rc = dc__seal(key, a->api_secret, &c->api_sealed);
    if (!rc && a->webhook_secret)
        rc = dc__seal(key, a->webhook_secret, &c->wh_sealed);
    c->events = a->webhook_events ? json_dumps(a->webhook_events, JSON_COMPACT) : strdup("[]");
    c->branding =
        a->branding ? json_dumps(a->branding, JSON_COMPACT) : strdup(dc__store_default_branding);
    c->origins = a->allowed_origins ? json_dumps(a->allowed_origins, JSON_COMPACT) : strdup("[]");
    if (!rc && (!c->events || !c->branding || !c->origins))
        rc = DC_ENOMEM;
    return rc;
}

static void dc__account_cols_free(dc__account_cols *c)
{
    free(c->api_sealed);
    free(c->wh_sealed);
    free(c->events);
    free(c->branding);
    free(c->origins);
}

/* make_item fills item_out with malloc'd url and body to have an item written (they are freed
 * here); leaving url NULL writes none; a negative return aborts the whole recovery. */
int dc__store_recover_item(dc__store *s, dc__call_rec *r, int64_t now_ms, const char *detail,
                           dc__recover_cb make_item, void *ud)
{
    if (!make_item)
        return 0;
    snprintf(r->state, sizeof r->state, "ended");
    snprintf(r->reason, sizeof r->reason, "failed");
    snprintf(r->detail, sizeof r->detail, "%s", detail ? detail : "");
    snprintf(r->ended_by, sizeof r->ended_by, "server");
    r->ended_ms = now_ms;
    dc__outbox_item it;
    memset(&it, 0, sizeof it);
    int rc = make_item(r, &it, ud);
    if (rc >= 0 && it.url)
        rc = s->ops->outbox_insert(s, r->account_id, &it);
    free(it.url);
    free(it.body);
    return rc < 0 ? rc : 0;
}

int dc__store_call_save_tx(dc__store *s, const dc__call_rec *r, dc__outbox_item *items, size_t n)
{
    int rc = s->ops->begin(s);
    if (rc)
        return rc;
    rc = s->ops->call_upsert(s, r);
    for (size_t i = 0; !rc && i < n; i++)
        rc = s->ops->outbox_insert(s, r->account_id, &items[i]);
    if (!rc)
        rc = s->ops->commit(s);
    if (rc) {
        s->ops->rollback(s);
        for (size_t i = 0; i < n; i++)
            items[i].id = 0;
    }
    return rc;
}

void dc__store_stats_bounds(int64_t from_ms, int64_t to_ms, int64_t *lo, int64_t *hi)
{
    const int64_t slot = 900000;
    *lo = from_ms % slot ? from_ms - from_ms % slot + slot : from_ms;
    *hi = to_ms - to_ms % slot;
    if (*hi < *lo)
        *lo = *hi = to_ms;
}

/* The cursor is base64url("created_ms:id") of the last row of the previous page. */
char *dc__store_cursor_make(int64_t created_ms, const char *id)
{
    char raw[96];
    int n = snprintf(raw, sizeof raw, "%lld:%s", (long long)created_ms, id);
    if (n < 0 || (size_t)n >= sizeof raw)
        return NULL;
    char *out = malloc(dc__b64url_len((size_t)n) + 1);
    if (out)
        dc__b64url_encode(out, raw, (size_t)n);
    return out;
}

static int dc__cursor_parse(const char *c, int64_t *created_ms, char id[40])
{
    size_t len = strlen(c), n = 0;
    unsigned char raw[128];
    if (len == 0 || len > 120 || dc__b64url_decode(raw, &n, c, len) != 0 || n >= sizeof raw)
        return DC_ECURSOR;
    raw[n] = 0;
    char *colon = memchr(raw, ':', n);
    if (!colon || colon == (char *)raw || memchr(raw, 0, n))
        return DC_ECURSOR;
    long long v = 0;
    for (char *p = (char *)raw; p < colon; p++) {
        if (*p < '0' || *p > '9' || v > (LLONG_MAX - 9) / 10)
            return DC_ECURSOR;
        v = v * 10 + (*p - '0');
    }
    const char *idp = colon + 1;
    size_t idlen = strlen(idp);
    if (idlen == 0 || idlen >= 40 ||
        strspn(idp, "abcdefghijklmnopqrstuvwxyz"
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != idlen)
        return DC_ECURSOR;
    *created_ms = v;
    memcpy(id, idp, idlen + 1);
    return 0;
}

const char *const dc__end_reasons[DC__N_REASONS] = {"completed",    "declined", "missed",
                                                    "cancelled",    "busy",     "unreachable",
                                                    "network_loss", "failed"};

int dc__end_reason_index(const char *reason)
{
    for (int i = 0; i < DC__N_REASONS; i++)
        if (strcmp(dc__end_reasons[i], reason) == 0)
            return i;
    return -1;
}

int dc__call_status_valid(const char *status)
{
    if (!strcmp(status, "ringing") || !strcmp(status, "ongoing"))
        return 0;
    return dc__end_reason_index(status) >= 0 ? 0 : DC_ESTATUS;
}

static int dc__valid_status(const char *st, int *by_state)
{
    *by_state = strcmp(st, "ringing") == 0 || strcmp(st, "ongoing") == 0;
    return dc__call_status_valid(st);
}

/* ---- open ---------------------------------------------------------------------------------- */

static int dc__is_postgres_url(const char *url)
{
    return url && (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0);
}

static int dc__resolve_path(const char *url, const char *data_dir, char **path)
{
    const char *p = url;
    if (p && strncmp(p, "sqlite:", 7) == 0)
        p += 7;
    if (p && *p) {
        *path = strdup(p);
    } else {
        if (!data_dir || !*data_dir)
            return DC_EINVAL;
        if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
            DC_ERROR(MOD, "cannot create data dir %s: %s", data_dir, strerror(errno));
            return DC_EIO;
        }
        if (asprintf(path, "%s/dcall.db", data_dir) < 0)
            *path = NULL;
    }
    return *path ? 0 : DC_ENOMEM;
}

int dc__store_open(const char *url, const char *data_dir, const unsigned char master_key[32],
                   dc__store **out)
{
    if (!master_key || !out)
        return DC_EINVAL;
    *out = NULL;
    if (dc__is_postgres_url(url))
        return dc__store_postgres_open(url, master_key, out);
    char *path = NULL;
    int rc = dc__resolve_path(url, data_dir, &path);
    if (rc)
        return rc;
    rc = dc__store_sqlite_open(path, master_key, out);
    free(path);
    return rc;
}

void dc__store_init(dc__store *s, const struct dc__store_ops *ops, const unsigned char key[32])
{
    s->ops = ops;
    memcpy(s->key, key, sizeof s->key);
}

void dc__store_fini(dc__store *s)
{
    explicit_bzero(s->key, sizeof s->key);
}

void dc__store_close(dc__store *s)
{
    if (s)
        s->ops->close(s);
}

int dc__store_backup(dc__store *s, const char *dest_path)
{
    return dest_path ? s->ops->backup(s, dest_path) : DC_EINVAL;
}

int dc__store_schema_version(dc__store *s, int *out)
{
    return out ? s->ops->schema_version(s, out) : DC_EINVAL;
}

/* ---- dispatch: arguments are checked here, once for every backend ----------------------- */

int dc__store_account_create(dc__store *s, const char *name, dc__account **out)
{
    if (!name || !out)
        return DC_EINVAL;
    dc__account *a = NULL;
    char *sealed = NULL;
    int rc = dc__account_new(s->key, name, &a, &sealed);
    if (!rc)
        rc = s->ops->account_insert(s, a, sealed);
    free(sealed);
    if (rc) {
        dc__account_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

int dc__store_account_get(dc__store *s, const char *id, dc__account **out)
{
    if (!id || !out)
        return DC_EINVAL;
    return s->ops->account_fetch(s, 0, id, out);
}

int dc__store_account_by_key(dc__store *s, const char *api_key, dc__account **out)
{
    if (!api_key || !out)
        return DC_EINVAL;
    return s->ops->account_fetch(s, 1, api_key, out);
}

int dc__store_account_update(dc__store *s, const dc__account *a)
{
    if (!a || !a->name)
        return DC_EINVAL;
    dc__account_cols c;
    int rc = dc__account_cols_make(s->key, a, &c);
    if (!rc)
        rc = s->ops->account_update(s, a, &c);
    dc__account_cols_free(&c);
    return rc;
}

/* ---- dashboard sign-in -------------------------------------------------------------------- */

int dc__store_web_signup(dc__store *s, const char *company, const char *email,
                         const char *password_hash, dc__account **acct_out, dc__web_user *user_out)
{
    if (!company || !email || !password_hash || !acct_out || !user_out ||
        strlen(email) >= sizeof user_out->email ||
        strlen(password_hash) >= sizeof user_out->password_hash)
        return DC_EINVAL;
    dc__account *a = NULL;
    char *sealed = NULL;
    dc__web_user u;
    memset(&u, 0, sizeof u);
    int rc = dc__account_new(s->key, company, &a, &sealed);
    if (!rc)
        rc = dc__random_id(u.id, "wu_", 20);
    if (rc) {
        free(sealed);
        dc__account_free(a);
        return rc;
    }
    snprintf(u.account_id, sizeof u.account_id, "%s", a->id);
    snprintf(u.email, sizeof u.email, "%s", email);
    snprintf(u.password_hash, sizeof u.password_hash, "%s", password_hash);
    u.created_ms = a->created_ms;
    rc = s->ops->begin(s);
    if (!rc)
        rc = s->ops->account_insert(s, a, sealed);
    if (!rc && (rc = s->ops->web_user_insert(s, &u)) == DC_EINVAL)
        rc = DC_EEMAILTAKEN; /* the only constraint a fresh user id can break */
    if (!rc)
        rc = s->ops->commit(s);
    if (rc)
        s->ops->rollback(s);
    free(sealed);
    if (rc) {
        dc__account_free(a);
        return rc;
    }
    *acct_out = a;
    *user_out = u;
    return 0;
}

int dc__store_web_user_by_email(dc__store *s, const char *email, dc__web_user *out)
{
    if (!email || !out)
        return DC_EINVAL;
    return s->ops->web_user_by_email(s, email, out);
}

int dc__store_web_session_add(dc__store *s, const dc__web_session *ws)
{
    if (!ws || strlen(ws->token_hash) != 64 || !ws->csrf[0] || !ws->account_id[0] ||
        !ws->user_id[0])
        return DC_EINVAL;
    return s->ops->web_session_insert(s, ws);
}

int dc__store_web_session_get(dc__store *s, const char *token_hash, int64_t now_ms,
                              dc__web_session *out)
{
    if (!token_hash || !out)
        return DC_EINVAL;
    return s->ops->web_session_get(s, token_hash, now_ms, out);
}

int dc__store_web_session_delete(dc__store *s, const char *account_id, const char *token_hash)
{
    if (!account_id || !token_hash)
        return DC_EINVAL;
    return s->ops->web_session_delete(s, account_id, token_hash);
}

int dc__store_web_sessions_purge(dc__store *s, int64_t now_ms)
{
    return s->ops->web_sessions_purge(s, now_ms);
}

int dc__store_call_save(dc__store *s, const dc__call_rec *r, dc__outbox_item *items, size_t n)
{
    if (!r || !r->id[0] || !r->account_id[0] || !r->context || (n && !items))
        return DC_EINVAL;
    return s->ops->call_save(s, r, items, n);
}

int dc__store_call_find_client(dc__store *s, const char *account_id, const char *caller,
                               const char *client_call_id, int64_t since_ms, dc__call_rec **out)
{
    if (!account_id || !caller || !client_call_id || !*client_call_id || !out)
        return DC_EINVAL;
    return s->ops->call_find_client(s, account_id, caller, client_call_id, since_ms, out);
}

int dc__store_call_load(dc__store *s, const char *account_id, const char *id, dc__call_rec **out)
{
    if (!account_id || !id || !out)
        return DC_EINVAL;
    return s->ops->call_load(s, account_id, id, out);
}

int dc__store_call_get(dc__store *s, const char *account_id, const char *id, json_t **out)
{
    dc__call_rec *r = NULL;
    if (!out)
        return DC_EINVAL;
    int rc = dc__store_call_load(s, account_id, id, &r);
    if (rc)
        return rc;
    *out = dc__call_rec_json(r);
    dc__call_rec_free(r);
    return *out ? 0 : DC_ENOMEM;
}

int dc__store_calls_list(dc__store *s, const char *account_id, const dc__call_filter *f,
                         json_t **out_array, char **next_cursor)
{
    if (!account_id || !f || !out_array || !next_cursor)
        return DC_EINVAL;
    *out_array = NULL;
    *next_cursor = NULL;
    char cid[40] = "";
    dc__call_query q = {.f = f};
    if (f->limit < 1 || f->limit > 1000)
        return DC_ELIMIT;
    if (f->status && dc__valid_status(f->status, &q.by_state))
        return DC_ESTATUS;
    if (f->cursor) {
        if (dc__cursor_parse(f->cursor, &q.cursor_ms, cid))
            return DC_ECURSOR;
        q.cursor_id = cid;
    }
    json_t *arr = json_array();
    if (!arr)
        return DC_ENOMEM;
    int rc = s->ops->calls_list(s, account_id, &q, arr, next_cursor);
    if (rc) {
        json_decref(arr);
        free(*next_cursor);
        *next_cursor = NULL;
        return rc;
    }
    *out_array = arr;
    return 0;
}

int dc__store_calls_close_open(dc__store *s, int64_t now_ms, const char *detail,
                               dc__recover_cb make_item, void *ud, int *n_closed)
{
    return s->ops->calls_close_open(s, now_ms, detail, make_item, ud, n_closed);
}

int dc__store_stats_slots(dc__store *s, const char *account_id, int64_t from_ms, int64_t to_ms,
                          dc__stats_cb cb, void *ud)
{
    if (!account_id || !cb)
        return DC_EINVAL;
    return s->ops->stats_slots(s, account_id, from_ms, to_ms, cb, ud);
}

int dc__store_missed_add(dc__store *s, const char *account_id, const char *cuid,
                         const char *call_id, const json_t *payload, int delivered)
{
    if (!account_id || !cuid || !call_id || !json_is_object(payload))
        return DC_EINVAL;
    return s->ops->missed_add(s, account_id, cuid, call_id, payload, delivered);
}

int dc__store_missed_take(dc__store *s, const char *account_id, const char *cuid, json_t **out)
{
    if (!account_id || !cuid || !out)
        return DC_EINVAL;
    return s->ops->missed_take(s, account_id, cuid, out);
}

int dc__store_missed_list(dc__store *s, const char *account_id, const char *cuid, int limit,
                          json_t **out)
{
    if (!account_id || !cuid || !out || limit < 1)
        return DC_EINVAL;
    return s->ops->missed_list(s, account_id, cuid, limit, out);
}

int dc__store_revoke_set(dc__store *s, const char *account_id, const char *cuid, int64_t before_s)
{
    if (!account_id || !cuid)
        return DC_EINVAL;
    return s->ops->revoke_set(s, account_id, cuid, before_s);
}

int dc__store_revoke_get(dc__store *s, const char *account_id, const char *cuid, int64_t *before_s)
{
    if (!account_id || !cuid || !before_s)
        return DC_EINVAL;
    return s->ops->revoke_get(s, account_id, cuid, before_s);
}

int dc__store_outbox_due(dc__store *s, int64_t now_ms, size_t max, dc__outbox_item **items,
                         size_t *n)
{
    if (!items || !n)
        return DC_EINVAL;
    *items = NULL;
    *n = 0;
    if (max == 0)
        return 0;
    return s->ops->outbox_due(s, now_ms, max > 10000 ? 10000 : max, items, n);
}

int dc__store_outbox_done(dc__store *s, int64_t id, int64_t now_ms, int http_status)
{
    return s->ops->outbox_done(s, id, now_ms, http_status);
}

int dc__store_outbox_retry(dc__store *s, int64_t id, int attempts, int64_t next_ms,
                           const char *error)
{
    return s->ops->outbox_retry(s, id, attempts, next_ms, error);
}

int dc__store_outbox_fail(dc__store *s, int64_t id, const char *error)
{
    return s->ops->outbox_fail(s, id, error);
}

int dc__store_outbox_add(dc__store *s, dc__outbox_item *item)
{
    if (!item || !item->account_id[0] || !item->url || !item->body)
        return DC_EINVAL;
    int rc = s->ops->begin(s);
    if (!rc)
        rc = s->ops->outbox_insert(s, item->account_id, item);
    if (!rc)
        rc = s->ops->commit(s);
    if (rc) {
        s->ops->rollback(s);
        item->id = 0;
    }
    return rc;
}

int dc__store_outbox_depth(dc__store *s, int64_t *n)
{
    return n ? s->ops->outbox_depth(s, n) : DC_EINVAL;
}

int dc__store_outbox_log(dc__store *s, const char *account_id, int limit, json_t **out)
{
    if (!account_id || !out || limit < 1)
        return DC_EINVAL;
    return s->ops->outbox_log(s, account_id, limit, out);
}
