/* The store's front: picks the backend from the URL, checks what does not depend on the backend
 * (list filters and cursors), dispatches through the backend's function table, and holds the
 * backend-neutral helpers (record JSON, frees). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    return o;
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

static int dc__valid_status(const char *st, int *by_state)
{
    static const char *const reasons[] = {"completed", "declined",    "missed",       "cancelled",
                                          "busy",      "unreachable", "network_loss", "failed"};
    *by_state = strcmp(st, "ringing") == 0 || strcmp(st, "ongoing") == 0;
    if (*by_state)
        return 0;
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (strcmp(st, reasons[i]) == 0)
            return 0;
    return DC_ESTATUS;
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

/* ---- dispatch ----------------------------------------------------------------------------- */

int dc__store_account_create(dc__store *s, const char *name, dc__account **out)
{
    return s->ops->account_create(s, name, out);
}

int dc__store_account_get(dc__store *s, const char *id, dc__account **out)
{
    return s->ops->account_get(s, id, out);
}

int dc__store_account_by_key(dc__store *s, const char *api_key, dc__account **out)
{
    return s->ops->account_by_key(s, api_key, out);
}

int dc__store_account_update(dc__store *s, const dc__account *a)
{
    return s->ops->account_update(s, a);
}

int dc__store_call_save(dc__store *s, const dc__call_rec *r, dc__outbox_item *items, size_t n)
{
    return s->ops->call_save(s, r, items, n);
}

int dc__store_call_find_client(dc__store *s, const char *account_id, const char *caller,
                               const char *client_call_id, int64_t since_ms, dc__call_rec **out)
{
    return s->ops->call_find_client(s, account_id, caller, client_call_id, since_ms, out);
}

int dc__store_call_load(dc__store *s, const char *account_id, const char *id, dc__call_rec **out)
{
    return s->ops->call_load(s, account_id, id, out);
}

int dc__store_call_get(dc__store *s, const char *account_id, const char *id, json_t **out)
{
    dc__call_rec *r = NULL;
    if (!out)
        return DC_EINVAL;
    int rc = s->ops->call_load(s, account_id, id, &r);
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
    return s->ops->calls_list(s, account_id, &q, out_array, next_cursor);
}

int dc__store_calls_close_open(dc__store *s, int64_t now_ms, const char *detail,
                               dc__recover_cb make_item, void *ud, int *n_closed)
{
    return s->ops->calls_close_open(s, now_ms, detail, make_item, ud, n_closed);
}

int dc__store_stats_slots(dc__store *s, const char *account_id, int64_t from_ms, int64_t to_ms,
                          dc__stats_cb cb, void *ud)
{
    return s->ops->stats_slots(s, account_id, from_ms, to_ms, cb, ud);
}

int dc__store_missed_add(dc__store *s, const char *account_id, const char *cuid,
                         const char *call_id, const json_t *payload, int delivered)
{
    return s->ops->missed_add(s, account_id, cuid, call_id, payload, delivered);
}

int dc__store_missed_take(dc__store *s, const char *account_id, const char *cuid, json_t **out)
{
    return s->ops->missed_take(s, account_id, cuid, out);
}

int dc__store_missed_list(dc__store *s, const char *account_id, const char *cuid, int limit,
                          json_t **out)
{
    return s->ops->missed_list(s, account_id, cuid, limit, out);
}

int dc__store_revoke_set(dc__store *s, const char *account_id, const char *cuid, int64_t before_s)
{
    return s->ops->revoke_set(s, account_id, cuid, before_s);
}

int dc__store_revoke_get(dc__store *s, const char *account_id, const char *cuid, int64_t *before_s)
{
    return s->ops->revoke_get(s, account_id, cuid, before_s);
}

int dc__store_outbox_due(dc__store *s, int64_t now_ms, size_t max, dc__outbox_item **items,
                         size_t *n)
{
    return s->ops->outbox_due(s, now_ms, max, items, n);
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

int dc__store_outbox_depth(dc__store *s, int64_t *n)
{
    return s->ops->outbox_depth(s, n);
}

int dc__store_outbox_log(dc__store *s, const char *account_id, int limit, json_t **out)
{
    return s->ops->outbox_log(s, account_id, limit, out);
}
