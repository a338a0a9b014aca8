/* Internal to the store: the function table a backend fills, and what backends share. store.c
 * checks the arguments of every call (they do not depend on the backend) and dispatches; a
 * backend's handle starts with struct dc__store. Nothing outside src/server/store*.c includes
 * this. */
#ifndef DC_SERVER_STORE_IMPL_H
#define DC_SERVER_STORE_IMPL_H

#include "server/store.h"

/* A parsed dc__call_filter: status is a reason unless by_state; cursor_id is NULL on page 1. */
typedef struct dc__call_query {
    const dc__call_filter *f;
    int by_state;
    int64_t cursor_ms;
    const char *cursor_id;
} dc__call_query;

/* What account_update writes besides plain fields, made by store.c: secrets sealed with the
 * store's key (NULL when the account has none), webhook_events and branding as JSON text. */
typedef struct dc__account_cols {
    char *api_sealed, *wh_sealed, *events, *branding, *origins;
} dc__account_cols;

/* store.c checks the arguments of every call (NULL pointers, limits, call_save's record) before
 * it reaches a backend, and hands outbox_due a max of 1..10000 with *items and *n cleared. */
struct dc__store_ops {
    /* the backend's transactions, for the transactional helpers shared in store.c; commit rolls
     * back when it fails */
    int (*begin)(dc__store *s);
    int (*commit)(dc__store *s);
    void (*rollback)(dc__store *s);
    /* inside a transaction: the whole call row (DC_EINVAL when r->id is another account's), and
     * one outbox item (its id set) */
    int (*call_upsert)(dc__store *s, const dc__call_rec *r);
    int (*outbox_insert)(dc__store *s, const char *account_id, dc__outbox_item *it);
    void (*close)(dc__store *s);
    int (*backup)(dc__store *s, const char *dest_path);
    int (*schema_version)(dc__store *s, int *out);
    /* a new account's row; sealed: its api_secret sealed with the store's key */
    int (*account_insert)(dc__store *s, const dc__account *a, const char *sealed);
    /* by_key 0: v is the account id; 1: v is its api_key */
    int (*account_fetch)(dc__store *s, int by_key, const char *v, dc__account **out);
    int (*account_update)(dc__store *s, const dc__account *a, const dc__account_cols *c);
    /* dashboard sign-in; web_user_insert runs inside store.c's signup transaction (DC_EINVAL
     * when the e-mail is taken) */
    int (*web_user_insert)(dc__store *s, const dc__web_user *u);
    int (*web_user_by_email)(dc__store *s, const char *email, dc__web_user *out);
    int (*web_session_insert)(dc__store *s, const dc__web_session *ws);
    int (*web_session_get)(dc__store *s, const char *token_hash, int64_t now_ms,
                           dc__web_session *out);
    int (*web_session_delete)(dc__store *s, const char *account_id, const char *token_hash);
    int (*web_sessions_purge)(dc__store *s, int64_t now_ms);
    int (*call_save)(dc__store *s, const dc__call_rec *r, dc__outbox_item *items, size_t n);
    int (*call_find_client)(dc__store *s, const char *account_id, const char *caller,
                            const char *client_call_id, int64_t since_ms, dc__call_rec **out);
    int (*call_load)(dc__store *s, const char *account_id, const char *id, dc__call_rec **out);
    /* appends the page's calls to arr; store.c drops arr and *next_cursor on failure */
    int (*calls_list)(dc__store *s, const char *account_id, const dc__call_query *q, json_t *arr,
                      char **next_cursor);
    int (*calls_close_open)(dc__store *s, int64_t now_ms, const char *detail,
                            dc__recover_cb make_item, void *ud, int *n_closed);
    int (*stats_slots)(dc__store *s, const char *account_id, int64_t from_ms, int64_t to_ms,
                       dc__stats_cb cb, void *ud);
    int (*missed_add)(dc__store *s, const char *account_id, const char *cuid, const char *call_id,
                      const json_t *payload, int delivered);
    int (*missed_take)(dc__store *s, const char *account_id, const char *cuid, json_t **out);
    int (*missed_list)(dc__store *s, const char *account_id, const char *cuid, int limit,
                       json_t **out);
    int (*revoke_set)(dc__store *s, const char *account_id, const char *cuid, int64_t before_s);
    int (*revoke_get)(dc__store *s, const char *account_id, const char *cuid, int64_t *before_s);
    int (*outbox_due)(dc__store *s, int64_t now_ms, size_t max, dc__outbox_item **items, size_t *n);
    int (*outbox_done)(dc__store *s, int64_t id, int64_t now_ms, int http_status);
    int (*outbox_retry)(dc__store *s, int64_t id, int attempts, int64_t next_ms, const char *error);
    int (*outbox_fail)(dc__store *s, int64_t id, const char *error);
    int (*outbox_depth)(dc__store *s, int64_t *n);
    int (*outbox_log)(dc__store *s, const char *account_id, int limit, json_t **out);
};

struct dc__store {
    const struct dc__store_ops *ops;
    unsigned char key[32]; /* the master key: seals and opens secrets at rest */
};

/* Fills the handle's base (the backend's ops, the master key); dc__store_fini wipes the key. */
void dc__store_init(dc__store *s, const struct dc__store_ops *ops, const unsigned char key[32]);
void dc__store_fini(dc__store *s);

/* Opens (creating and migrating) the SQLite database at path. */
int dc__store_sqlite_open(const char *path, const unsigned char master_key[32], dc__store **out);
/* Connects to PostgreSQL with url (a libpq connection URI, passed as is) and migrates. */
int dc__store_postgres_open(const char *url, const unsigned char master_key[32], dc__store **out);

/* The column lists the row readers below expect, in this order, on every backend. */
#define DC__ACC_COLS                                                                               \
    "id, api_key, kid, name, api_secret_sealed, ring_timeout_s, dev_key_auth, webhook_url,"        \
    " webhook_events, webhook_secret_sealed, branding, created_ms, allowed_origins"
#define DC__WEB_USER_COLS "id, account_id, email, password_hash, created_ms"
#define DC__CALL_COLS                                                                              \
    "id, account_id, client_call_id, caller, callee, caller_name, context, remote_context,"        \
    " caller_image, callee_image, state, created_ms, answered_ms, ended_ms, reason, detail,"       \
    " ended_by, q_samples, mos_avg, mos_min, loss_pct, rtt_ms, jitter_ms"
#define DC__OUTBOX_LOG_COLS                                                                        \
    "id, url, event, attempts, state, last_error, http_status, created_ms, delivered_ms"

/* One row of a backend's result, read through the backend's accessors so that the mapping from
 * columns to records is written once for every backend. */
typedef struct dc__store_row {
    const char *(*text)(const struct dc__store_row *row, int col); /* NULL for SQL NULL */
    int64_t (*i64)(const struct dc__store_row *row, int col);      /* 0 for SQL NULL */
    int (*is_null)(const struct dc__store_row *row, int col);
    double (*f64)(const struct dc__store_row *row, int col); /* 0 for SQL NULL */
    void *res;                                               /* the backend's statement or result */
    int i; /* the row's number within res, where the backend numbers rows */
} dc__store_row;

/* Readers of rows selected with DC__ACC_COLS (secrets unsealed with key), DC__CALL_COLS,
 * (id, account_id, kind, url, body, attempts, next_ms, created_ms) and DC__OUTBOX_LOG_COLS. */
int dc__store_account_row(const unsigned char key[32], const dc__store_row *row, dc__account **out);
/* Readers of rows selected with DC__WEB_USER_COLS and with
 * (token_hash, csrf, account_id, user_id, email, created_ms, expires_ms). */
void dc__store_web_user_row(const dc__store_row *row, dc__web_user *out);
void dc__store_web_session_row(const dc__store_row *row, dc__web_session *out);
int dc__store_call_row(const dc__store_row *row, dc__call_rec **out);
int dc__store_outbox_item_row(const dc__store_row *row, dc__outbox_item *it);
json_t *dc__store_outbox_log_row(const dc__store_row *row);
/* A stored missed-call payload as handed out: an object (an empty one when payload does not
 * parse) that carries call_id. */
json_t *dc__store_missed_json(const char *call_id, const char *payload);

/* call_save as one transaction: the call row and its outbox items, or nothing (and then no
 * item keeps an id). */
int dc__store_call_save_tx(dc__store *s, const dc__call_rec *r, dc__outbox_item *items, size_t n);
/* Recovery of one call the backend has just closed in its transaction: marks r as closed and
 * writes make_item's item, if any. */
int dc__store_recover_item(dc__store *s, dc__call_rec *r, int64_t now_ms, const char *detail,
                           dc__recover_cb make_item, void *ud);
/* How stats_slots splits [from_ms, to_ms): whole 15-minute slots [*lo, *hi) read from the
 * rollup, the partial ones [from_ms, *lo) and [*hi, to_ms) counted from the calls table (either
 * may be empty; inside one slot *lo = *hi = to_ms, so calls cover it all). */
void dc__store_stats_bounds(int64_t from_ms, int64_t to_ms, int64_t *lo, int64_t *hi);

/* {"logo_url":null,"background_color":"#FFFFFF","text_color":"#000000","button_theme":"default"} */
extern const char dc__store_default_branding[];
/* The opaque cursor that resumes a listing after the row (created_ms, id); malloc'd. */
char *dc__store_cursor_make(int64_t created_ms, const char *id);
/* ISO 8601 string, or null when ms <= 0. */
json_t *dc__store_json_time(int64_t ms);
/* The string, or null when v is NULL or empty. */
json_t *dc__store_json_str(const char *v);

#endif
