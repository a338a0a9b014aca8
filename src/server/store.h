/* The store: accounts, call records, missed-call notifications, revocations and the outbox.
 * One interface, backends behind a function table (SQLite, PostgreSQL). Every query is
 * scoped by account_id. Secrets (api_secret, webhook_secret) are sealed at rest with the data
 * dir's master key and handed back in plaintext only inside dc__account.
 *
 * Threading: a dc__store handle is used by one thread at a time; a thread that needs the store
 * (the outbox worker) opens its own handle on the same URL. All writes are committed durably
 * (SQLite WAL, synchronous=NORMAL: survives kill -9; PostgreSQL: a committed transaction) before
 * the call returns. */
#ifndef DC_SERVER_STORE_H
#define DC_SERVER_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dc__store dc__store;

/* The schema version this build migrates to (both backends have this many migrations). */
#define DC__SCHEMA_VERSION 4

typedef struct dc__account {
    char id[40];      /* "acc_" + 16 [a-z0-9] */
    char api_key[48]; /* "key_" + 24 [a-z0-9] (public) */
    char kid[16];     /* key id of the current secret, "k1", "k2", ... */
    char *name;
    char *api_secret;       /* plaintext "sk_" + 40 [a-z0-9]; never log it */
    int ring_timeout_s;     /* 0: server default */
    int dev_key_auth;       /* 1: Account ID + API key sign-in allowed */
    char *webhook_url;      /* NULL when none */
    json_t *webhook_events; /* array of event names; NULL or empty = all */
    char *webhook_secret;   /* plaintext "whsec_" + 40; NULL when none */
    json_t *branding;       /* object {logo_url, background_color, text_color, button_theme} */
    int64_t created_ms;
    json_t *allowed_origins; /* array of origin strings for /v1/ws; empty: any */
} dc__account;

typedef struct dc__call_rec {
    char id[40]; /* "c_" + 20 [a-z0-9] */
    char account_id[40];
    char client_call_id[65];
    char caller[51];
    char callee[51];
    char *caller_name; /* may be NULL */
    char *context;
    char *remote_context; /* may be NULL */
    char *caller_image;   /* may be NULL */
    char *callee_image;   /* may be NULL */
    char state[12];       /* "ringing", "ongoing", "ended" */
    int64_t created_ms;
    int64_t answered_ms; /* 0: never answered */
    int64_t ended_ms;    /* 0: not ended */
    char reason[16];     /* "" until ended */
    char detail[40];     /* "" when none */
    char ended_by[51];   /* cuid, "api", "server" or "" */
    /* Voice quality summary over the call's quality reports (both parties); q_samples 0: none. */
    int q_samples;
    double mos_avg, mos_min, loss_pct, rtt_ms, jitter_ms;
} dc__call_rec;

/* A side effect to deliver later (a webhook), written in the same transaction as the call
 * change that caused it. */
/* The closed list of end reasons, shared by records, stats, metrics and events, in this order. */
#define DC__N_REASONS 8
extern const char *const dc__end_reasons[DC__N_REASONS];
/* Index of reason in dc__end_reasons, or -1. */
int dc__end_reason_index(const char *reason);
/* 0 when status is an end reason or a live state ("ringing", "ongoing"), else DC_ESTATUS. */
int dc__call_status_valid(const char *status);

typedef struct dc__outbox_item {
    int64_t id; /* set by the store */
    char account_id[40];
    char kind[16]; /* "webhook" */
    char *url;
    char *body; /* JSON text */
    int attempts;
    int64_t next_ms;
    int64_t created_ms;
} dc__outbox_item;

typedef struct dc__call_filter {
    int64_t from_ms;    /* 0: unbounded; created_ms >= from */
    int64_t to_ms;      /* 0: unbounded; created_ms < to */
    const char *status; /* NULL or a reason, or "ringing"/"ongoing" */
    const char *cuid;   /* NULL or caller or callee */
    int limit;          /* 1..1000 */
    const char *cursor; /* NULL or an opaque cursor returned by a previous page */
} dc__call_filter;

/* url: NULL or "" or "sqlite:" -> DIR/dcall.db; "sqlite:/path/file.db"; a plain path;
 * "postgres://..." or "postgresql://..." -> PostgreSQL (a libpq URI, passed as is; DC_ESTORE when
 * it cannot connect). Creates and migrates the schema (forward only, version in PRAGMA
 * user_version or, on PostgreSQL, the dcall_schema table). */
int dc__store_open(const char *url, const char *data_dir, const unsigned char master_key[32],
                   dc__store **out);
void dc__store_close(dc__store *s);
/* Online backup to dest_path (SQLite backup API). PostgreSQL: DC_EINVAL, use pg_dump. */
int dc__store_backup(dc__store *s, const char *dest_path);
int dc__store_schema_version(dc__store *s, int *out);

/* Accounts. account_create fills *out with the new account including the plaintext secret. */
int dc__store_account_create(dc__store *s, const char *name, dc__account **out);
int dc__store_account_get(dc__store *s, const char *id, dc__account **out); /* DC_ENOTFOUND */
int dc__store_account_by_key(dc__store *s, const char *api_key, dc__account **out);
/* Writes name, ring_timeout_s, dev_key_auth, webhook_*, branding, api_secret, kid,
 * allowed_origins. */
int dc__store_account_update(dc__store *s, const dc__account *a);
void dc__account_free(dc__account *a);

/* Dashboard sign-in: web users (e-mail unique case-insensitively; ASCII only, so both backends
 * fold case alike) and their sessions (only the SHA-256 of the cookie token is stored). */
typedef struct dc__web_user {
    char id[40]; /* "wu_" + 20 [a-z0-9] */
    char account_id[40];
    char email[256];
    char password_hash[160]; /* "scrypt$N$r$p$salt$hash" */
    int64_t created_ms;
} dc__web_user;

typedef struct dc__web_session {
    char token_hash[65]; /* lower-case hex SHA-256 of the cookie token */
    char csrf[48];
    char account_id[40];
    char user_id[40];
    char email[256]; /* the user's; filled by web_session_get */
    int64_t created_ms;
    int64_t expires_ms;
} dc__web_session;

/* A new account named company and its first web user, in one transaction. *acct_out as
 * account_create (with the plaintext secret); DC_EEMAILTAKEN when the e-mail is taken (then
 * nothing is written). */
int dc__store_web_signup(dc__store *s, const char *company, const char *email,
                         const char *password_hash, dc__account **acct_out, dc__web_user *user_out);
/* By e-mail, case-insensitively. DC_ENOTFOUND. */
int dc__store_web_user_by_email(dc__store *s, const char *email, dc__web_user *out);
int dc__store_web_session_add(dc__store *s, const dc__web_session *ws);
/* The session whose token hash is token_hash and that has not expired at now_ms (its user's
 * e-mail filled in). DC_ENOTFOUND. */
int dc__store_web_session_get(dc__store *s, const char *token_hash, int64_t now_ms,
                              dc__web_session *out);
/* Deletes one session of the account. DC_ENOTFOUND when there was none. */
int dc__store_web_session_delete(dc__store *s, const char *account_id, const char *token_hash);
/* Deletes every session expired at now_ms. */
int dc__store_web_sessions_purge(dc__store *s, int64_t now_ms);

/* Calls. call_save inserts or updates the whole row (by id) and inserts the outbox items
 * (their ids are set), all in one transaction. DC_EINVAL for a duplicate
 * (account_id, caller, client_call_id) under another id. */
int dc__store_call_save(dc__store *s, const dc__call_rec *r, dc__outbox_item *items, size_t n);
/* Finds a call by the caller's own id, placed at or after since_ms. DC_ENOTFOUND. */
int dc__store_call_find_client(dc__store *s, const char *account_id, const char *caller,
                               const char *client_call_id, int64_t since_ms, dc__call_rec **out);
int dc__store_call_load(dc__store *s, const char *account_id, const char *id, dc__call_rec **out);
void dc__call_rec_free(dc__call_rec *r);
/* The REST view of a call: {"id","client_call_id","caller","caller_name","callee","context",
 * "remote_context","caller_image","callee_image","state","created_at","answered_at","ended_at",
 * "duration_ms","reason","detail","ended_by","quality"} with ISO 8601 times (null when unset);
 * quality is null when q_samples is 0, else {"samples","mos_avg","mos_min","loss_pct","rtt_ms",
 * "jitter_ms"} rounded to 2 decimals. */
json_t *dc__call_rec_json(const dc__call_rec *r);
int dc__store_call_get(dc__store *s, const char *account_id, const char *id, json_t **out);
/* Newest first. *next_cursor is malloc'd or NULL on the last page. */
int dc__store_calls_list(dc__store *s, const char *account_id, const dc__call_filter *f,
                         json_t **out_array, char **next_cursor);
/* Crash recovery: every call not ended gets state ended, reason "failed", the given detail,
 * ended_ms = now_ms. For each, make_item (may be NULL) is asked for outbox items to write in the
 * same transaction. *n_closed receives the count. */
typedef int (*dc__recover_cb)(const dc__call_rec *closed, dc__outbox_item *item_out, void *ud);
int dc__store_calls_close_open(dc__store *s, int64_t now_ms, const char *detail,
                               dc__recover_cb make_item, void *ud, int *n_closed);

/* Stats: ended calls created in [from_ms, to_ms), aggregated per 15-minute slot (slot start =
 * created_ms - created_ms % 900000) and reason. cb is called once per non-empty (slot, reason).
 * Whole slots come from a rollup table the backend keeps in step with the calls table (updated in
 * the transaction that ends a call, or changes an ended one), so a 30-day range reads at most
 * 2,880 x 8 rollup rows; the partial slots at either end of the range are counted from calls. */
typedef struct dc__stats_slot {
    int64_t slot_ms;
    const char *reason;
    int64_t calls;
    int64_t answered;    /* calls with answered_ms > 0 */
    int64_t duration_ms; /* sum of ended_ms - answered_ms over the answered calls */
    int64_t q_calls;     /* calls with quality reports (q_samples > 0) */
    double mos_sum;      /* sum of their mos_avg */
    double mos_min;      /* lowest of their mos_min; meaningless when q_calls is 0 */
} dc__stats_slot;
typedef void (*dc__stats_cb)(const dc__stats_slot *slot, void *ud);
int dc__store_stats_slots(dc__store *s, const char *account_id, int64_t from_ms, int64_t to_ms,
                          dc__stats_cb cb, void *ud);

/* Missed-call notifications for a callee: stored when the call is missed or unreachable.
 * payload is the JSON object sent as the missed_call event (without type/seq). */
int dc__store_missed_add(dc__store *s, const char *account_id, const char *cuid,
                         const char *call_id, const json_t *payload, int delivered);
/* Returns undelivered notifications (oldest first) and marks them delivered. *out: array. */
int dc__store_missed_take(dc__store *s, const char *account_id, const char *cuid, json_t **out);
/* All notifications, newest first, at most limit. */
int dc__store_missed_list(dc__store *s, const char *account_id, const char *cuid, int limit,
                          json_t **out);

/* Log out everywhere: credentials issued before before_ms (Unix ms) are refused. get: 0 when
 * none. */
int dc__store_revoke_set(dc__store *s, const char *account_id, const char *cuid, int64_t before_ms);
int dc__store_revoke_get(dc__store *s, const char *account_id, const char *cuid, int64_t *before_s);

/* Outbox. due: items with next_ms <= now_ms and not done, oldest first, at most max. PostgreSQL
 * claims them: hidden from every handle (other nodes too) for 10 minutes or until settled by
 * done/retry/fail. */
int dc__store_outbox_due(dc__store *s, int64_t now_ms, size_t max, dc__outbox_item **items,
                         size_t *n);
void dc__outbox_items_free(dc__outbox_item *items, size_t n);
int dc__store_outbox_done(dc__store *s, int64_t id, int64_t now_ms, int http_status);
int dc__store_outbox_retry(dc__store *s, int64_t id, int attempts, int64_t next_ms,
                           const char *error);
/* Gives up on an item (after 24 h): kept with state "failed". */
int dc__store_outbox_fail(dc__store *s, int64_t id, const char *error);
int dc__store_outbox_depth(dc__store *s, int64_t *n);
/* Queues one item on its own (not tied to a call change), its id set. */
int dc__store_outbox_add(dc__store *s, dc__outbox_item *item);
/* Delivery log for an account, newest first: [{"id","url","event","attempts","state",
 * "last_error","http_status","created_at","delivered_at"}]. */
int dc__store_outbox_log(dc__store *s, const char *account_id, int limit, json_t **out);

#endif
