/* The store on SQLite 3: one connection per handle (used by one thread at a time, so the
 * connection is opened NOMUTEX), WAL with synchronous=NORMAL (a commit survives kill -9), and
 * every statement prepared once and cached, because call setup saves a call record several times
 * and must stay cheap. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "dcall/errors.h"
#include "server/store_impl.h"

#define MOD "store"

/* SQL spliced from macros: kept as written, one clause a line */
// clang-format off
/* A call row's contribution to its call_stats row (R is "new", "old" or a table name). */
#define DC__SQ_SLOT(R) R ".created_ms - " R ".created_ms % 900000"
#define DC__SQ_DUR(R)                                                                              \
    "CASE WHEN " R ".answered_ms > 0 AND " R ".ended_ms >= " R ".answered_ms THEN " R              \
    ".ended_ms - " R ".answered_ms ELSE 0 END"
#define DC__SQ_MOS(R) "CASE WHEN " R ".q_samples > 0 THEN coalesce(" R ".mos_avg, 0) ELSE 0 END"
#define DC__SQ_MOSMIN(R) "CASE WHEN " R ".q_samples > 0 THEN " R ".mos_min END"
#define DC__SQ_KEY(R)                                                                              \
    "account_id = " R ".account_id AND slot_ms = " DC__SQ_SLOT(R) " AND reason = " R ".reason"
/* Adds the new row (when ended); min() is idempotent, so adding after a recompute is exact. */
#define DC__SQ_ADD                                                                                 \
    "INSERT INTO call_stats SELECT new.account_id, " DC__SQ_SLOT("new") ", new.reason, 1,"         \
    " new.answered_ms > 0, " DC__SQ_DUR("new") ", new.q_samples > 0, " DC__SQ_MOS("new") ", "      \
    DC__SQ_MOSMIN("new") " WHERE new.state = 'ended'"                                              \
    " ON CONFLICT (account_id, slot_ms, reason) DO UPDATE SET calls = calls + excluded.calls,"     \
    " answered = answered + excluded.answered, duration_ms = duration_ms + excluded.duration_ms,"  \
    " q_calls = q_calls + excluded.q_calls, mos_sum = mos_sum + excluded.mos_sum,"                 \
    " mos_min = min(coalesce(mos_min, excluded.mos_min), coalesce(excluded.mos_min, mos_min))"
/* Takes the old row (when it was ended) out; a minimum cannot be subtracted, so it is read again
 * from the slot's calls (the table already holds the new row, which DC__SQ_ADD merges after). */
#define DC__SQ_SUB                                                                                 \
    "UPDATE call_stats SET calls = calls - 1, answered = answered - (old.answered_ms > 0),"        \
    " duration_ms = duration_ms - " DC__SQ_DUR("old") ", q_calls = q_calls - (old.q_samples > 0)," \
    " mos_sum = mos_sum - " DC__SQ_MOS("old") ", mos_min = CASE WHEN old.q_samples > 0 THEN"       \
    " (SELECT min(c.mos_min) FROM calls c WHERE c.account_id = old.account_id"                     \
    " AND c.created_ms >= " DC__SQ_SLOT("old") " AND c.created_ms < " DC__SQ_SLOT("old")           \
    " + 900000 AND c.state = 'ended' AND c.reason = old.reason AND c.q_samples > 0)"               \
    " ELSE mos_min END WHERE old.state = 'ended' AND " DC__SQ_KEY("old")
#define DC__SQ_DROP_EMPTY                                                                          \
    "DELETE FROM call_stats WHERE old.state = 'ended' AND " DC__SQ_KEY("old") " AND calls <= 0"
/* The aggregate of the ended calls created in [lo, hi) of account ?1, per slot and reason. */
#define DC__SQ_SCAN(lo, hi)                                                                        \
    "SELECT " DC__SQ_SLOT("calls") ", reason, count(*), sum(answered_ms > 0), sum("                \
    DC__SQ_DUR("calls") "), sum(q_samples > 0), total(" DC__SQ_MOS("calls") "), min("              \
    DC__SQ_MOSMIN("calls") ") FROM calls WHERE account_id = ?1 AND state = 'ended'"                \
    " AND created_ms >= " lo " AND created_ms < " hi " GROUP BY 1, 2"

// clang-format on
/* Forward migrations, applied in order, each in its own transaction; PRAGMA user_version counts
 * how many have run. Never edit a shipped entry: append a new one. */
static const char *const dc__migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE accounts ("
    " id TEXT PRIMARY KEY, api_key TEXT NOT NULL UNIQUE, kid TEXT NOT NULL, name TEXT NOT NULL,"
    " api_secret_sealed TEXT NOT NULL, ring_timeout_s INTEGER NOT NULL DEFAULT 0,"
    " dev_key_auth INTEGER NOT NULL DEFAULT 0, webhook_url TEXT,"
    " webhook_events TEXT NOT NULL DEFAULT '[]', webhook_secret_sealed TEXT,"
    " branding TEXT NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE TABLE calls ("
    " id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id),"
    " client_call_id TEXT, caller TEXT NOT NULL, callee TEXT NOT NULL, caller_name TEXT,"
    " context TEXT NOT NULL, remote_context TEXT, caller_image TEXT, callee_image TEXT,"
    " state TEXT NOT NULL, created_ms INTEGER NOT NULL, answered_ms INTEGER NOT NULL DEFAULT 0,"
    " ended_ms INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '',"
    " detail TEXT NOT NULL DEFAULT '', ended_by TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX calls_acc_created ON calls(account_id, created_ms);"
    "CREATE INDEX calls_acc_state ON calls(account_id, state);"
    "CREATE UNIQUE INDEX calls_client ON calls(account_id, caller, client_call_id);"
    /* recovery looks for open calls across accounts; a partial index keeps that O(open) */
    "CREATE INDEX calls_open ON calls(state) WHERE state <> 'ended';"
    "CREATE TABLE missed ("
    " id INTEGER PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id),"
    " cuid TEXT NOT NULL, call_id TEXT NOT NULL, payload TEXT NOT NULL,"
    " delivered INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL);"
    "CREATE INDEX missed_acc_cuid ON missed(account_id, cuid, delivered);"
    "CREATE TABLE revocations ("
    " account_id TEXT NOT NULL REFERENCES accounts(id), cuid TEXT NOT NULL,"
    " before_s INTEGER NOT NULL, PRIMARY KEY (account_id, cuid));"
    "CREATE TABLE outbox ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, account_id TEXT NOT NULL REFERENCES accounts(id),"
    " kind TEXT NOT NULL, url TEXT NOT NULL, body TEXT NOT NULL, event TEXT,"
    " attempts INTEGER NOT NULL DEFAULT 0, next_ms INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL, state TEXT NOT NULL DEFAULT 'pending', last_error TEXT,"
    " http_status INTEGER, delivered_ms INTEGER);"
    "CREATE INDEX outbox_due ON outbox(state, next_ms);"
    "CREATE INDEX outbox_acc ON outbox(account_id, id);",
    /* 2: the call's voice quality summary; NULL (and q_samples 0) when it had no reports */
    "ALTER TABLE calls ADD COLUMN q_samples INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE calls ADD COLUMN mos_avg REAL;"
    "ALTER TABLE calls ADD COLUMN mos_min REAL;"
    "ALTER TABLE calls ADD COLUMN loss_pct REAL;"
    "ALTER TABLE calls ADD COLUMN rtt_ms REAL;"
    "ALTER TABLE calls ADD COLUMN jitter_ms REAL;",
    /* 3: dashboard sign-in: web users (e-mail unique case-insensitively), web sessions (the
     * SHA-256 of the cookie token), and the origins allowed to open /v1/ws */
    "ALTER TABLE accounts ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '[]';"
    "CREATE TABLE web_users ("
    " id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id),"
    " email TEXT NOT NULL, password_hash TEXT NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX web_users_email ON web_users(lower(email));"
    "CREATE INDEX web_users_acc ON web_users(account_id);"
    "CREATE TABLE web_sessions ("
    " token_hash TEXT PRIMARY KEY, csrf TEXT NOT NULL,"
    " account_id TEXT NOT NULL REFERENCES accounts(id),"
    " user_id TEXT NOT NULL REFERENCES web_users(id), created_ms INTEGER NOT NULL,"
    " expires_ms INTEGER NOT NULL);"
    "CREATE INDEX web_sessions_expiry ON web_sessions(expires_ms);",
    /* 4: stats rollups per account, 15-minute slot and reason (store.h, dc__stats_slot),
     * backfilled from the ended calls and kept in step by triggers: a call's row counts in its
     * slot while it is ended, so a save that ends a call adds it, re-saving an ended call
     * unchanged touches nothing and changing one moves its contribution. */
    // clang-format off
    "CREATE TABLE call_stats ("
    " account_id TEXT NOT NULL, slot_ms INTEGER NOT NULL, reason TEXT NOT NULL,"
    " calls INTEGER NOT NULL, answered INTEGER NOT NULL, duration_ms INTEGER NOT NULL,"
    " q_calls INTEGER NOT NULL, mos_sum REAL NOT NULL, mos_min REAL,"
    " PRIMARY KEY (account_id, slot_ms, reason)) WITHOUT ROWID;"
    "INSERT INTO call_stats SELECT account_id, " DC__SQ_SLOT("calls") ", reason, count(*),"
    " sum(answered_ms > 0), sum(" DC__SQ_DUR("calls") "), sum(q_samples > 0),"
    " total(" DC__SQ_MOS("calls") "), min(" DC__SQ_MOSMIN("calls") ") FROM calls"
    " WHERE state = 'ended' GROUP BY 1, 2, 3;"
    "CREATE TRIGGER call_stats_insert AFTER INSERT ON calls WHEN new.state = 'ended' BEGIN "
    DC__SQ_ADD "; END;"
    "CREATE TRIGGER call_stats_update AFTER UPDATE ON calls"
    " WHEN (old.state = 'ended' OR new.state = 'ended') AND (old.state IS NOT new.state"
    " OR old.reason IS NOT new.reason OR old.account_id IS NOT new.account_id"
    " OR old.created_ms IS NOT new.created_ms OR old.answered_ms IS NOT new.answered_ms"
    " OR old.ended_ms IS NOT new.ended_ms OR old.q_samples IS NOT new.q_samples"
    " OR old.mos_avg IS NOT new.mos_avg OR old.mos_min IS NOT new.mos_min) BEGIN "
    DC__SQ_SUB "; " DC__SQ_ADD "; " DC__SQ_DROP_EMPTY "; END;",
    // clang-format on
};
#define DC__N_MIGRATIONS ((int)(sizeof dc__migrations / sizeof dc__migrations[0]))
_Static_assert(DC__N_MIGRATIONS == DC__SCHEMA_VERSION, "one migration per schema version");

enum dc__st {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_ACC_INSERT,
    ST_ACC_GET,
    ST_ACC_BY_KEY,
    ST_ACC_UPDATE,
    ST_WEB_USER_INSERT,
    ST_WEB_USER_BY_EMAIL,
    ST_WEB_SESSION_INSERT,
    ST_WEB_SESSION_GET,
    ST_WEB_SESSION_DELETE,
    ST_WEB_SESSION_PURGE,
    ST_CALL_UPSERT,
    ST_CALL_FIND_CLIENT,
    ST_CALL_LOAD,
    ST_CALL_OPEN,
    ST_CALL_CLOSE,
    ST_OUTBOX_INSERT,
    ST_STATS,
    ST_MISSED_ADD,
    ST_MISSED_UNDELIVERED,
    ST_MISSED_MARK,
    ST_MISSED_LIST,
    ST_REVOKE_SET,
    ST_REVOKE_GET,
    ST_OUTBOX_DUE,
    ST_OUTBOX_DONE,
    ST_OUTBOX_RETRY,
    ST_OUTBOX_FAIL,
    ST_OUTBOX_DEPTH,
    ST_OUTBOX_LOG,
    ST__COUNT
};

static const char *const dc__sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_ACC_INSERT] = "INSERT INTO accounts (" DC__ACC_COLS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [ST_ACC_GET] = "SELECT " DC__ACC_COLS " FROM accounts WHERE id = ?",
    [ST_ACC_BY_KEY] = "SELECT " DC__ACC_COLS " FROM accounts WHERE api_key = ?",
    [ST_ACC_UPDATE] = "UPDATE accounts SET name = ?2, ring_timeout_s = ?3, dev_key_auth = ?4,"
                      " webhook_url = ?5, webhook_events = ?6, webhook_secret_sealed = ?7,"
                      " branding = ?8, api_secret_sealed = coalesce(?9, api_secret_sealed),"
                      " kid = ?10, allowed_origins = ?11 WHERE id = ?1",
    [ST_WEB_USER_INSERT] = "INSERT INTO web_users (" DC__WEB_USER_COLS ") VALUES (?,?,?,?,?)",
    [ST_WEB_USER_BY_EMAIL] =
        "SELECT " DC__WEB_USER_COLS " FROM web_users WHERE lower(email) = lower(?)",
    [ST_WEB_SESSION_INSERT] = "INSERT INTO web_sessions (token_hash, csrf, account_id, user_id,"
                              " created_ms, expires_ms) VALUES (?,?,?,?,?,?)",
    [ST_WEB_SESSION_GET] =
        "SELECT s.token_hash, s.csrf, s.account_id, s.user_id, u.email, s.created_ms,"
        " s.expires_ms FROM web_sessions s JOIN web_users u ON u.id = s.user_id"
        " AND u.account_id = s.account_id WHERE s.token_hash = ? AND s.expires_ms > ?",
    [ST_WEB_SESSION_DELETE] = "DELETE FROM web_sessions WHERE account_id = ? AND token_hash = ?",
    [ST_WEB_SESSION_PURGE] = "DELETE FROM web_sessions WHERE expires_ms <= ?",
    [ST_CALL_UPSERT] =
        "INSERT INTO calls (" DC__CALL_COLS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
        "?,?,?,?,?,?)"
        " ON CONFLICT(id) DO UPDATE SET client_call_id = excluded.client_call_id,"
        " caller = excluded.caller, callee = excluded.callee, caller_name = excluded.caller_name,"
        " context = excluded.context, remote_context = excluded.remote_context,"
        " caller_image = excluded.caller_image, callee_image = excluded.callee_image,"
        " state = excluded.state, created_ms = excluded.created_ms,"
        " answered_ms = excluded.answered_ms, ended_ms = excluded.ended_ms,"
        " reason = excluded.reason, detail = excluded.detail, ended_by = excluded.ended_by,"
        " q_samples = excluded.q_samples, mos_avg = excluded.mos_avg, mos_min = excluded.mos_min,"
        " loss_pct = excluded.loss_pct, rtt_ms = excluded.rtt_ms, jitter_ms = excluded.jitter_ms"
        " WHERE calls.account_id = excluded.account_id",
    [ST_CALL_FIND_CLIENT] =
        "SELECT " DC__CALL_COLS " FROM calls WHERE account_id = ? AND caller = ?"
        " AND client_call_id = ? AND created_ms >= ?",
    [ST_CALL_LOAD] = "SELECT " DC__CALL_COLS " FROM calls WHERE account_id = ? AND id = ?",
    [ST_CALL_OPEN] = "SELECT " DC__CALL_COLS " FROM calls WHERE state <> 'ended'",
    [ST_CALL_CLOSE] = "UPDATE calls SET state = 'ended', reason = 'failed', detail = ?3,"
                      " ended_ms = ?4, ended_by = 'server' WHERE account_id = ?1 AND id = ?2",
    [ST_OUTBOX_INSERT] =
        "INSERT INTO outbox (account_id, kind, url, body, event, attempts, next_ms, created_ms,"
        " state) VALUES (?1, ?2, ?3, ?4,"
        " CASE WHEN json_valid(?4) THEN json_extract(?4, '$.type') END, ?5, ?6, ?7, 'pending')",
    /* ?2..?3: the whole slots (from the rollup); [?4, ?2) and [?3, ?5): the partial ones */
    // clang-format off
    [ST_STATS] = "SELECT slot_ms, reason, calls, answered, duration_ms, q_calls, mos_sum, mos_min"
                 " FROM call_stats WHERE account_id = ?1 AND slot_ms >= ?2 AND slot_ms < ?3"
                 " UNION ALL " DC__SQ_SCAN("?4", "?2") " UNION ALL " DC__SQ_SCAN("?3", "?5"),
    // clang-format on
    [ST_MISSED_ADD] = "INSERT INTO missed (account_id, cuid, call_id, payload, delivered,"
                      " created_ms) VALUES (?, ?, ?, ?, ?, ?)",
    [ST_MISSED_UNDELIVERED] = "SELECT id, call_id, payload FROM missed WHERE account_id = ?"
                              " AND cuid = ? AND delivered = 0 ORDER BY id",
    [ST_MISSED_MARK] = "UPDATE missed SET delivered = 1 WHERE account_id = ? AND id = ?",
    [ST_MISSED_LIST] = "SELECT id, call_id, payload FROM missed WHERE account_id = ? AND cuid = ?"
                       " ORDER BY id DESC LIMIT ?",
    [ST_REVOKE_SET] = "INSERT INTO revocations (account_id, cuid, before_s) VALUES (?, ?, ?)"
                      " ON CONFLICT(account_id, cuid) DO UPDATE SET before_s = excluded.before_s",
    [ST_REVOKE_GET] = "SELECT before_s FROM revocations WHERE account_id = ? AND cuid = ?",
    [ST_OUTBOX_DUE] = "SELECT id, account_id, kind, url, body, attempts, next_ms, created_ms"
                      " FROM outbox WHERE state = 'pending' AND next_ms <= ?"
                      " ORDER BY next_ms, id LIMIT ?",
    [ST_OUTBOX_DONE] = "UPDATE outbox SET state = 'done', delivered_ms = ?2, http_status = ?3,"
                       " attempts = attempts + 1, next_ms = ?2 WHERE id = ?1",
    [ST_OUTBOX_RETRY] = "UPDATE outbox SET attempts = ?2, next_ms = ?3, last_error = ?4"
                        " WHERE id = ?1 AND state = 'pending'",
    [ST_OUTBOX_FAIL] = "UPDATE outbox SET state = 'failed', last_error = ?2 WHERE id = ?1",
    [ST_OUTBOX_DEPTH] = "SELECT count(*) FROM outbox WHERE state = 'pending'",
    [ST_OUTBOX_LOG] = "SELECT " DC__OUTBOX_LOG_COLS " FROM outbox WHERE account_id = ?"
                      " ORDER BY id DESC LIMIT ?",
};

typedef struct dc__sq {
    dc__store base; /* first: the handle store.c dispatches on */
    sqlite3 *db;
    sqlite3_stmt *st[ST__COUNT];
} dc__sq;

/* ---- small helpers ---------------------------------------------------------------------- */

static int dc__fail(dc__sq *s, const char *what)
{
    /* sqlite's message names the failing constraint or I/O problem, never a bound value */
    DC_ERROR(MOD, "%s: %s (%d)", what, sqlite3_errmsg(s->db), sqlite3_extended_errcode(s->db));
    return DC_ESTORE;
}

/* A cached, reset statement with no bindings. */
static int dc__stmt(dc__sq *s, enum dc__st i, sqlite3_stmt **out)
{
    if (!s->st[i]) {
        if (sqlite3_prepare_v3(s->db, dc__sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) !=
            SQLITE_OK)
            return dc__fail(s, "prepare");
    } else {
        sqlite3_reset(s->st[i]);
        sqlite3_clear_bindings(s->st[i]);
    }
    *out = s->st[i];
    return 0;
}

/* Done with a cached statement: reset, and its bindings dropped (they may point at the
 * caller's strings). */
static void dc__release(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Runs a statement that returns no rows (or ignores them); releases it after. */
static int dc__run(dc__sq *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    dc__release(st);
    if (rc == SQLITE_DONE)
        return 0;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return DC_EINVAL;
    return dc__fail(s, what);
}

/* Steps st to its first row: 0 with the row to read, DC_ENOTFOUND when there is none. */
static int dc__first_row(dc__sq *s, sqlite3_stmt *st, const char *what)
{
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        return 0;
    return r == SQLITE_DONE ? DC_ENOTFOUND : dc__fail(s, what);
}

static int dc__bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* Empty strings are stored as NULL where the column means "none". */
static const char *dc__opt(const char *v)
{
    return v && *v ? v : NULL;
}

/* A value to bind: text (NULL binds NULL) or, with is_num, an integer (1) or a real (2). */
typedef struct dc__val {
    const char *text;
    int64_t num;
    int is_num;
    double real;
} dc__val;
#define DC__T(v)                                                                                   \
    {                                                                                              \
        .text = (v)                                                                                \
    }
#define DC__I(v)                                                                                   \
    {                                                                                              \
        .num = (v), .is_num = 1                                                                    \
    }
#define DC__NVALS(p) ((int)(sizeof(p) / sizeof((p)[0])))

/* The cached statement i with vals bound to ?1..?n. */
static int dc__bound(dc__sq *s, enum dc__st i, const dc__val *vals, int n, sqlite3_stmt **out)
{
    int rc = dc__stmt(s, i, out);
    for (int k = 0; !rc && k < n; k++) {
        if (vals[k].is_num == 2)
            sqlite3_bind_double(*out, k + 1, vals[k].real);
        else if (vals[k].is_num)
            sqlite3_bind_int64(*out, k + 1, vals[k].num);
        else
            dc__bind_text(*out, k + 1, vals[k].text);
    }
    return rc;
}

/* Runs statement i with vals bound, as dc__run. */
static int dc__exec(dc__sq *s, enum dc__st i, const dc__val *vals, int n, const char *what)
{
    sqlite3_stmt *st;
    int rc = dc__bound(s, i, vals, n, &st);
    return rc ? rc : dc__run(s, st, what);
}

/* dc__exec for an UPDATE: DC_ENOTFOUND when no row changed. */
static int dc__exec_changed(dc__sq *s, enum dc__st i, const dc__val *vals, int n, const char *what)
{
    int rc = dc__exec(s, i, vals, n, what);
    if (!rc && sqlite3_changes(s->db) == 0)
        rc = DC_ENOTFOUND;
    return rc;
}

/* Runs statement i with vals bound for one number: the first column, 0 when there is no row. */
static int dc__query_int(dc__sq *s, enum dc__st i, const dc__val *vals, int n, const char *what,
                         int64_t *out)
{
    sqlite3_stmt *st;
    int rc = dc__bound(s, i, vals, n, &st);
    if (rc)
        return rc;
    rc = dc__first_row(s, st, what);
    *out = rc ? 0 : sqlite3_column_int64(st, 0);
    dc__release(st);
    return rc == DC_ENOTFOUND ? 0 : rc;
}

static int sq_begin(dc__store *base)
{
    dc__sq *s = (dc__sq *)base;
    return dc__exec(s, ST_BEGIN, NULL, 0, dc__sql[ST_BEGIN]);
}

static int sq_commit(dc__store *base)
{
    dc__sq *s = (dc__sq *)base;
    int rc = dc__exec(s, ST_COMMIT, NULL, 0, dc__sql[ST_COMMIT]);
    if (rc && !sqlite3_get_autocommit(s->db))
        dc__exec(s, ST_ROLLBACK, NULL, 0, dc__sql[ST_ROLLBACK]);
    return rc;
}

static void sq_rollback(dc__store *base)
{
    dc__sq *s = (dc__sq *)base;
    if (!sqlite3_get_autocommit(s->db))
        dc__exec(s, ST_ROLLBACK, NULL, 0, dc__sql[ST_ROLLBACK]);
}

static char *dc__col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    return v ? strdup((const char *)v) : NULL;
}

static const char *dc__row_text(const dc__store_row *row, int col)
{
    return (const char *)sqlite3_column_text(row->res, col);
}

static int64_t dc__row_i64(const dc__store_row *row, int col)
{
    return sqlite3_column_int64(row->res, col);
}

static int dc__row_null(const dc__store_row *row, int col)
{
    return sqlite3_column_type(row->res, col) == SQLITE_NULL;
}

static double dc__row_f64(const dc__store_row *row, int col)
{
    return sqlite3_column_double(row->res, col);
}

/* The current row of st, for the shared row readers in store.c. */
static dc__store_row dc__row(sqlite3_stmt *st)
{
    return (dc__store_row){dc__row_text, dc__row_i64, dc__row_null, dc__row_f64, st, 0};
}

/* ---- open, close, schema ------------------------------------------------------------------ */

static int dc__migrate(dc__sq *s)
{
    for (;;) {
        int rc = sq_begin(&s->base), v = -1;
        if (rc)
            return rc;
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        if (v < 0 || v > DC__N_MIGRATIONS) {
            sq_rollback(&s->base);
            if (v > DC__N_MIGRATIONS)
                DC_ERROR(MOD, "schema version %d is newer than this dcalld knows (%d)", v,
                         DC__N_MIGRATIONS);
            return v < 0 ? dc__fail(s, "user_version") : DC_ESTORE;
        }
        if (v == DC__N_MIGRATIONS)
            return sq_commit(&s->base);
        char pragma[48];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if (sqlite3_exec(s->db, dc__migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
            rc = dc__fail(s, "migration");
            sq_rollback(&s->base);
            return rc;
        }
        if ((rc = sq_commit(&s->base)))
            return rc;
        DC_INFO(MOD, "schema migrated to version %d", v + 1);
    }
}

static int dc__configure(dc__sq *s, const char *path, int created)
{
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, 5000);
    /* the file holds sealed secrets and call records; -wal and -shm inherit this mode */
    if (created && chmod(path, 0600) != 0)
        DC_WARN(MOD, "chmod %s: %s", path, strerror(errno));
    char *mode = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        mode = dc__col_dup(st, 0);
    sqlite3_finalize(st);
    int ok = mode && strcmp(mode, "wal") == 0;
    free(mode);
    if (!ok)
        return dc__fail(s, "journal_mode=WAL");
    if (sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;", NULL, NULL,
                     NULL) != SQLITE_OK)
        return dc__fail(s, "pragmas");
    return dc__migrate(s);
}

static void sq_close(dc__store *base)
{
    dc__sq *s = (dc__sq *)base;
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    if (s->db && sqlite3_close(s->db) != SQLITE_OK)
        DC_ERROR(MOD, "close: %s", sqlite3_errmsg(s->db));
    dc__store_fini(&s->base);
    free(s);
}

static int sq_schema_version(dc__store *base, int *out)
{
    dc__sq *s = (dc__sq *)base;
    sqlite3_stmt *st = NULL;
    int rc = DC_ESTORE;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
        rc = 0;
    } else {
        dc__fail(s, "user_version");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Copies into a temporary file first so that dest_path never holds a half-written backup. */
static int sq_backup(dc__store *base, const char *dest_path)
{
    dc__sq *s = (dc__sq *)base;
    char *tmp = NULL;
    if (!dest_path || asprintf(&tmp, "%s.tmp-%ld", dest_path, (long)getpid()) < 0)
        return dest_path ? DC_ENOMEM : DC_EINVAL;
    unlink(tmp);
    sqlite3 *dst = NULL;
    int rc = DC_ESTORE;
    if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) == SQLITE_OK) {
        if (chmod(tmp, 0600) != 0)
            DC_WARN(MOD, "chmod %s: %s", tmp, strerror(errno));
        sqlite3_backup *b = sqlite3_backup_init(dst, "main", s->db, "main");
        if (b) {
            int r;
            while ((r = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || r == SQLITE_LOCKED)
                sqlite3_sleep(10);
            sqlite3_backup_finish(b);
            if (r == SQLITE_DONE)
                rc = 0;
        }
        if (rc)
            DC_ERROR(MOD, "backup to %s: %s", dest_path, sqlite3_errmsg(dst));
    } else {
        DC_ERROR(MOD, "backup: cannot create %s", tmp);
    }
    sqlite3_close(dst);
    if (rc == 0 && rename(tmp, dest_path) != 0) {
        DC_ERROR(MOD, "backup: rename to %s: %s", dest_path, strerror(errno));
        rc = DC_EIO;
    }
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* ---- accounts ----------------------------------------------------------------------------- */

static int sq_account_fetch(dc__store *base, int by_key, const char *v, dc__account **out)
{
    dc__sq *s = (dc__sq *)base;
    enum dc__st which = by_key ? ST_ACC_BY_KEY : ST_ACC_GET;
    sqlite3_stmt *st;
    const dc__val p[] = {DC__T(v)};
    int rc = dc__bound(s, which, p, DC__NVALS(p), &st);
    if (rc)
        return rc;
    rc = dc__first_row(s, st, "account get");
    if (!rc) {
        dc__store_row row = dc__row(st);
        rc = dc__store_account_row(s->base.key, &row, out);
    }
    dc__release(st);
    return rc;
}

static int sq_account_insert(dc__store *base, const dc__account *a, const char *sealed)
{
    const dc__val p[] = {DC__T(a->id),
                         DC__T(a->api_key),
                         DC__T(a->kid),
                         DC__T(a->name),
                         DC__T(sealed),
                         DC__I(0),
                         DC__I(0),
                         DC__T(NULL),
                         DC__T("[]"),
                         DC__T(NULL),
                         DC__T(dc__store_default_branding),
                         DC__I(a->created_ms),
                         DC__T("[]")};
    return dc__exec((dc__sq *)base, ST_ACC_INSERT, p, DC__NVALS(p), "account create");
}

static int sq_account_update(dc__store *base, const dc__account *a, const dc__account_cols *c)
{
    const dc__val p[] = {DC__T(a->id),
                         DC__T(a->name),
                         DC__I(a->ring_timeout_s),
                         DC__I(a->dev_key_auth ? 1 : 0),
                         DC__T(dc__opt(a->webhook_url)),
                         DC__T(c->events),
                         DC__T(c->wh_sealed),
                         DC__T(c->branding),
                         DC__T(c->api_sealed),
                         DC__T(a->kid[0] ? a->kid : "k1"),
                         DC__T(c->origins)};
    return dc__exec_changed((dc__sq *)base, ST_ACC_UPDATE, p, DC__NVALS(p), "account update");
}

/* ---- dashboard sign-in -------------------------------------------------------------------- */

static int sq_web_user_insert(dc__store *base, const dc__web_user *u)
{
    const dc__val p[] = {DC__T(u->id), DC__T(u->account_id), DC__T(u->email),
                         DC__T(u->password_hash), DC__I(u->created_ms)};
    return dc__exec((dc__sq *)base, ST_WEB_USER_INSERT, p, DC__NVALS(p), "web user insert");
}

/* Reads the first row of statement which, bound to n vals, with read. */
static int dc__web_fetch(dc__sq *s, enum dc__st which, const dc__val *vals, int n,
                         void (*read)(const dc__store_row *, void *), void *out)
{
    sqlite3_stmt *st;
    int rc = dc__bound(s, which, vals, n, &st);
    if (rc)
        return rc;
    rc = dc__first_row(s, st, "web sign-in read");
    if (!rc) {
        dc__store_row row = dc__row(st);
        read(&row, out);
    }
    dc__release(st);
    return rc;
}

static void dc__read_web_user(const dc__store_row *row, void *out)
{
    dc__store_web_user_row(row, out);
}

static void dc__read_web_session(const dc__store_row *row, void *out)
{
    dc__store_web_session_row(row, out);
}

static int sq_web_user_by_email(dc__store *base, const char *email, dc__web_user *out)
{
    const dc__val p[] = {DC__T(email)};
    return dc__web_fetch((dc__sq *)base, ST_WEB_USER_BY_EMAIL, p, 1, dc__read_web_user, out);
}

static int sq_web_session_insert(dc__store *base, const dc__web_session *ws)
{
    const dc__val p[] = {DC__T(ws->token_hash), DC__T(ws->csrf),       DC__T(ws->account_id),
                         DC__T(ws->user_id),    DC__I(ws->created_ms), DC__I(ws->expires_ms)};
    return dc__exec((dc__sq *)base, ST_WEB_SESSION_INSERT, p, DC__NVALS(p), "web session insert");
}

static int sq_web_session_get(dc__store *base, const char *token_hash, int64_t now_ms,
                              dc__web_session *out)
{
    const dc__val p[] = {DC__T(token_hash), DC__I(now_ms)};
    return dc__web_fetch((dc__sq *)base, ST_WEB_SESSION_GET, p, 2, dc__read_web_session, out);
}

static int sq_web_session_delete(dc__store *base, const char *account_id, const char *token_hash)
{
    const dc__val p[] = {DC__T(account_id), DC__T(token_hash)};
    return dc__exec_changed((dc__sq *)base, ST_WEB_SESSION_DELETE, p, 2, "web session delete");
}

static int sq_web_sessions_purge(dc__store *base, int64_t now_ms)
{
    const dc__val p[] = {DC__I(now_ms)};
    return dc__exec((dc__sq *)base, ST_WEB_SESSION_PURGE, p, 1, "web session purge");
}

/* ---- calls -------------------------------------------------------------------------------- */

static int sq_outbox_insert(dc__store *base, const char *account_id, dc__outbox_item *it)
{
    dc__sq *s = (dc__sq *)base;
    if (!it->url || !it->body)
        return DC_EINVAL;
    int64_t now = dc__now_ms();
    const dc__val p[] = {DC__T(it->account_id[0] ? it->account_id : account_id),
                         DC__T(it->kind[0] ? it->kind : "webhook"),
                         DC__T(it->url),
                         DC__T(it->body),
                         DC__I(it->attempts),
                         DC__I(it->next_ms ? it->next_ms : now),
                         DC__I(it->created_ms ? it->created_ms : now)};
    int rc = dc__exec(s, ST_OUTBOX_INSERT, p, DC__NVALS(p), "outbox insert");
    if (!rc)
        it->id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

/* One of the call's quality figures: NULL when the call had no quality reports. */
static dc__val dc__quality_val(const dc__call_rec *r, double v)
{
    return r->q_samples > 0 ? (dc__val){.real = v, .is_num = 2} : (dc__val){.text = NULL};
}

static int sq_call_upsert(dc__store *base, const dc__call_rec *r)
{
    dc__sq *s = (dc__sq *)base;
    /* NULL, not "", so calls without a client id never collide in the unique index */
    const dc__val p[] = {DC__T(r->id),
                         DC__T(r->account_id),
                         DC__T(dc__opt(r->client_call_id)),
                         DC__T(r->caller),
                         DC__T(r->callee),
                         DC__T(dc__opt(r->caller_name)),
                         DC__T(r->context),
                         DC__T(dc__opt(r->remote_context)),
                         DC__T(dc__opt(r->caller_image)),
                         DC__T(dc__opt(r->callee_image)),
                         DC__T(r->state),
                         DC__I(r->created_ms),
                         DC__I(r->answered_ms),
                         DC__I(r->ended_ms),
                         DC__T(r->reason),
                         DC__T(r->detail),
                         DC__T(r->ended_by),
                         DC__I(r->q_samples > 0 ? r->q_samples : 0),
                         dc__quality_val(r, r->mos_avg),
                         dc__quality_val(r, r->mos_min),
                         dc__quality_val(r, r->loss_pct),
                         dc__quality_val(r, r->rtt_ms),
                         dc__quality_val(r, r->jitter_ms)};
    int rc = dc__exec_changed(s, ST_CALL_UPSERT, p, DC__NVALS(p), "call save");
    /* no change: the id exists under another account, which must stay invisible */
    return rc == DC_ENOTFOUND ? DC_EINVAL : rc;
}

/* The call that statement which, bound to n vals, selects with DC__CALL_COLS. */
static int dc__call_fetch(dc__sq *s, enum dc__st which, const dc__val *vals, int n,
                          dc__call_rec **out)
{
    sqlite3_stmt *st;
    int rc = dc__bound(s, which, vals, n, &st);
    if (rc)
        return rc;
    rc = dc__first_row(s, st, "call get");
    if (!rc) {
        dc__store_row row = dc__row(st);
        rc = dc__store_call_row(&row, out);
    }
    dc__release(st);
    return rc;
}

static int sq_call_find_client(dc__store *base, const char *account_id, const char *caller,
                               const char *client_call_id, int64_t since_ms, dc__call_rec **out)
{
    const dc__val p[] = {DC__T(account_id), DC__T(caller), DC__T(client_call_id), DC__I(since_ms)};
    return dc__call_fetch((dc__sq *)base, ST_CALL_FIND_CLIENT, p, DC__NVALS(p), out);
}

static int sq_call_load(dc__store *base, const char *account_id, const char *id, dc__call_rec **out)
{
    const dc__val p[] = {DC__T(account_id), DC__T(id)};
    return dc__call_fetch((dc__sq *)base, ST_CALL_LOAD, p, DC__NVALS(p), out);
}

/* ---- listing ------------------------------------------------------------------------------ */

static void dc__bind_named_text(sqlite3_stmt *st, const char *name, const char *v)
{
    int i = sqlite3_bind_parameter_index(st, name);
    if (i)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

static void dc__bind_named_int(sqlite3_stmt *st, const char *name, int64_t v)
{
    int i = sqlite3_bind_parameter_index(st, name);
    if (i)
        sqlite3_bind_int64(st, i, v);
}

static void dc__list_sql(char *sql, size_t cap, const dc__call_filter *f, int by_state,
                         int has_cursor)
{
    snprintf(sql, cap,
             "SELECT " DC__CALL_COLS " FROM calls WHERE account_id = :acc%s%s%s%s%s"
             " ORDER BY created_ms DESC, id DESC LIMIT :lim",
             f->from_ms ? " AND created_ms >= :from" : "", f->to_ms ? " AND created_ms < :to" : "",
             !f->status ? ""
             : by_state ? " AND state = :status"
                        : " AND state = 'ended' AND reason = :status",
             f->cuid ? " AND (caller = :cuid OR callee = :cuid)" : "",
             has_cursor ? " AND (created_ms < :cms OR (created_ms = :cms AND id < :cid))" : "");
}

static int dc__list_rows(dc__sq *s, sqlite3_stmt *st, int limit, json_t *arr, char **next)
{
    int r, count = 0;
    dc__call_rec *last = NULL;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == limit) {
            /* one row past the page: there is a next page, starting after the last one shown */
            *next = dc__store_cursor_make(last->created_ms, last->id);
            if (!*next)
                r = SQLITE_NOMEM;
            break;
        }
        dc__call_rec *rec = NULL;
        dc__store_row row = dc__row(st);
        if (dc__store_call_row(&row, &rec) != 0) {
            r = SQLITE_NOMEM;
            break;
        }
        json_array_append_new(arr, dc__call_rec_json(rec));
        dc__call_rec_free(last);
        last = rec;
        count++;
    }
    dc__call_rec_free(last);
    if (r == SQLITE_ROW || r == SQLITE_DONE)
        return 0;
    return r == SQLITE_NOMEM ? DC_ENOMEM : dc__fail(s, "calls list");
}

static int sq_calls_list(dc__store *base, const char *account_id, const dc__call_query *q,
                         json_t *arr, char **next_cursor)
{
    dc__sq *s = (dc__sq *)base;
    const dc__call_filter *f = q->f;
    char sql[1024];
    dc__list_sql(sql, sizeof sql, f, q->by_state, q->cursor_id != NULL);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return dc__fail(s, "calls list prepare");
    dc__bind_named_text(st, ":acc", account_id);
    dc__bind_named_int(st, ":from", f->from_ms);
    dc__bind_named_int(st, ":to", f->to_ms);
    if (f->status)
        dc__bind_named_text(st, ":status", f->status);
    if (f->cuid)
        dc__bind_named_text(st, ":cuid", f->cuid);
    if (q->cursor_id) {
        dc__bind_named_int(st, ":cms", q->cursor_ms);
        dc__bind_named_text(st, ":cid", q->cursor_id);
    }
    dc__bind_named_int(st, ":lim", (int64_t)f->limit + 1);
    int rc = dc__list_rows(s, st, f->limit, arr, next_cursor);
    sqlite3_finalize(st);
    return rc;
}

/* ---- recovery ----------------------------------------------------------------------------- */

static int dc__open_calls(dc__sq *s, dc__call_rec ***out, size_t *n)
{
    sqlite3_stmt *st;
    int rc = dc__stmt(s, ST_CALL_OPEN, &st), r = SQLITE_DONE;
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    if (rc)
        return rc;
    while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            dc__call_rec **grown = realloc(*out, cap * sizeof **out);
            if (!grown) {
                rc = DC_ENOMEM;
                break;
            }
            *out = grown;
        }
        dc__store_row row = dc__row(st);
        rc = dc__store_call_row(&row, &(*out)[*n]);
        if (!rc)
            (*n)++;
    }
    if (!rc && r != SQLITE_DONE)
        rc = dc__fail(s, "open calls");
    sqlite3_reset(st);
    return rc;
}

static int dc__close_one(dc__sq *s, dc__call_rec *r, int64_t now_ms, const char *detail,
                         dc__recover_cb make_item, void *ud)
{
    const dc__val p[] = {DC__T(r->account_id), DC__T(r->id), DC__T(detail ? detail : ""),
                         DC__I(now_ms)};
    int rc = dc__exec(s, ST_CALL_CLOSE, p, DC__NVALS(p), "close open call");
    return rc ? rc : dc__store_recover_item(&s->base, r, now_ms, detail, make_item, ud);
}

static int sq_calls_close_open(dc__store *base, int64_t now_ms, const char *detail,
                               dc__recover_cb make_item, void *ud, int *n_closed)
{
    dc__sq *s = (dc__sq *)base;
    dc__call_rec **open = NULL;
    size_t n = 0;
    int rc = sq_begin(&s->base);
    if (rc)
        return rc;
    rc = dc__open_calls(s, &open, &n);
    for (size_t i = 0; !rc && i < n; i++)
        rc = dc__close_one(s, open[i], now_ms, detail, make_item, ud);
    if (!rc)
        rc = sq_commit(&s->base);
    else
        sq_rollback(&s->base);
    for (size_t i = 0; i < n; i++)
        dc__call_rec_free(open[i]);
    free(open);
    if (n_closed)
        *n_closed = rc ? 0 : (int)n;
    return rc;
}

/* ---- stats -------------------------------------------------------------------------------- */

static int sq_stats_slots(dc__store *base, const char *account_id, int64_t from_ms, int64_t to_ms,
                          dc__stats_cb cb, void *ud)
{
    dc__sq *s = (dc__sq *)base;
    sqlite3_stmt *st;
    int64_t lo, hi;
    dc__store_stats_bounds(from_ms, to_ms, &lo, &hi);
    const dc__val p[] = {DC__T(account_id), DC__I(lo), DC__I(hi), DC__I(from_ms), DC__I(to_ms)};
    int rc = dc__bound(s, ST_STATS, p, DC__NVALS(p), &st), r;
    if (rc)
        return rc;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        dc__stats_slot v = {
            .slot_ms = sqlite3_column_int64(st, 0),
            .reason = (const char *)sqlite3_column_text(st, 1),
            .calls = sqlite3_column_int64(st, 2),
            .answered = sqlite3_column_int64(st, 3),
            .duration_ms = sqlite3_column_int64(st, 4),
            .q_calls = sqlite3_column_int64(st, 5),
            .mos_sum = sqlite3_column_double(st, 6),
            .mos_min = sqlite3_column_double(st, 7),
        };
        if (v.reason && v.calls > 0)
            cb(&v, ud);
    }
    if (r != SQLITE_DONE)
        rc = dc__fail(s, "stats");
    dc__release(st);
    return rc;
}

/* ---- missed-call notifications ------------------------------------------------------------ */

static int sq_missed_add(dc__store *base, const char *account_id, const char *cuid,
                         const char *call_id, const json_t *payload, int delivered)
{
    char *text = json_dumps(payload, JSON_COMPACT);
    if (!text)
        return DC_ENOMEM;
    const dc__val p[] = {DC__T(account_id),        DC__T(cuid),        DC__T(call_id), DC__T(text),
                         DC__I(delivered ? 1 : 0), DC__I(dc__now_ms())};
    int rc = dc__exec((dc__sq *)base, ST_MISSED_ADD, p, DC__NVALS(p), "missed add");
    free(text);
    return rc;
}

/* Reads (id, call_id, payload) rows into arr; ids of the rows into *ids when asked. */
static int dc__missed_rows(dc__sq *s, sqlite3_stmt *st, json_t *arr, int64_t **ids, size_t *n)
{
    int r;
    size_t cap = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(arr, dc__store_missed_json((const char *)sqlite3_column_text(st, 1),
                                                         (const char *)sqlite3_column_text(st, 2)));
        if (ids) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 8;
                int64_t *g = realloc(*ids, cap * sizeof **ids);
                if (!g)
                    return DC_ENOMEM;
                *ids = g;
            }
            (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
        }
    }
    return r == SQLITE_DONE ? 0 : dc__fail(s, "missed read");
}

static int dc__missed_mark(dc__sq *s, const char *account_id, const int64_t *ids, size_t n)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        const dc__val p[] = {DC__T(account_id), DC__I(ids[i])};
        rc = dc__exec(s, ST_MISSED_MARK, p, DC__NVALS(p), "missed mark");
    }
    return rc;
}

/* Reads the missed rows of (account_id, cuid) with statement which into a new array; limit > 0
 * is bound third, ids collected when asked. */
static int dc__missed_query(dc__sq *s, enum dc__st which, const char *account_id, const char *cuid,
                            int limit, json_t **out, int64_t **ids, size_t *n)
{
    sqlite3_stmt *st;
    const dc__val p[] = {DC__T(account_id), DC__T(cuid), DC__I(limit)};
    json_t *arr = json_array();
    int rc = arr ? dc__bound(s, which, p, limit > 0 ? 3 : 2, &st) : DC_ENOMEM;
    if (!rc) {
        rc = dc__missed_rows(s, st, arr, ids, n);
        dc__release(st);
    }
    if (rc) {
        json_decref(arr);
        arr = NULL;
    }
    *out = arr;
    return rc;
}

static int sq_missed_take(dc__store *base, const char *account_id, const char *cuid, json_t **out)
{
    dc__sq *s = (dc__sq *)base;
    int64_t *ids = NULL;
    size_t n = 0;
    *out = NULL;
    int rc = sq_begin(&s->base);
    if (!rc)
        rc = dc__missed_query(s, ST_MISSED_UNDELIVERED, account_id, cuid, 0, out, &ids, &n);
    if (!rc)
        rc = dc__missed_mark(s, account_id, ids, n);
    if (!rc)
        rc = sq_commit(&s->base);
    if (rc) {
        sq_rollback(&s->base);
        json_decref(*out);
        *out = NULL;
    }
    free(ids);
    return rc;
}

static int sq_missed_list(dc__store *base, const char *account_id, const char *cuid, int limit,
                          json_t **out)
{
    return dc__missed_query((dc__sq *)base, ST_MISSED_LIST, account_id, cuid, limit, out, NULL,
                            NULL);
}

/* ---- revocations -------------------------------------------------------------------------- */

static int sq_revoke_set(dc__store *base, const char *account_id, const char *cuid,
                         int64_t before_s)
{
    const dc__val p[] = {DC__T(account_id), DC__T(cuid), DC__I(before_s)};
    return dc__exec((dc__sq *)base, ST_REVOKE_SET, p, DC__NVALS(p), "revoke set");
}

static int sq_revoke_get(dc__store *base, const char *account_id, const char *cuid,
                         int64_t *before_s)
{
    const dc__val p[] = {DC__T(account_id), DC__T(cuid)};
    return dc__query_int((dc__sq *)base, ST_REVOKE_GET, p, DC__NVALS(p), "revoke get", before_s);
}

/* ---- outbox ------------------------------------------------------------------------------- */

static int sq_outbox_due(dc__store *base, int64_t now_ms, size_t max, dc__outbox_item **items,
                         size_t *n)
{
    dc__sq *s = (dc__sq *)base;
    sqlite3_stmt *st;
    dc__outbox_item *arr = calloc(max, sizeof *arr);
    if (!arr)
        return DC_ENOMEM;
    const dc__val p[] = {DC__I(now_ms), DC__I((int64_t)max)};
    int rc = dc__bound(s, ST_OUTBOX_DUE, p, DC__NVALS(p), &st), r = SQLITE_DONE;
    size_t count = 0;
    if (!rc) {
        dc__store_row row = dc__row(st);
        while (!rc && count < max && (r = sqlite3_step(st)) == SQLITE_ROW)
            rc = dc__store_outbox_item_row(&row, &arr[count++]);
        if (!rc && r != SQLITE_ROW && r != SQLITE_DONE)
            rc = dc__fail(s, "outbox due");
        dc__release(st);
    }
    if (rc) {
        dc__outbox_items_free(arr, count);
        return rc;
    }
    if (count == 0) {
        free(arr);
        arr = NULL;
    }
    *items = arr;
    *n = count;
    return 0;
}

/* The successful delivery counts as an attempt. */
static int sq_outbox_done(dc__store *base, int64_t id, int64_t now_ms, int http_status)
{
    const dc__val p[] = {DC__I(id), DC__I(now_ms), DC__I(http_status)};
    return dc__exec_changed((dc__sq *)base, ST_OUTBOX_DONE, p, DC__NVALS(p), "outbox done");
}

static int sq_outbox_retry(dc__store *base, int64_t id, int attempts, int64_t next_ms,
                           const char *error)
{
    const dc__val p[] = {DC__I(id), DC__I(attempts), DC__I(next_ms), DC__T(dc__opt(error))};
    return dc__exec_changed((dc__sq *)base, ST_OUTBOX_RETRY, p, DC__NVALS(p), "outbox retry");
}

static int sq_outbox_fail(dc__store *base, int64_t id, const char *error)
{
    const dc__val p[] = {DC__I(id), DC__T(dc__opt(error))};
    return dc__exec_changed((dc__sq *)base, ST_OUTBOX_FAIL, p, DC__NVALS(p), "outbox fail");
}

static int sq_outbox_depth(dc__store *base, int64_t *n)
{
    return dc__query_int((dc__sq *)base, ST_OUTBOX_DEPTH, NULL, 0, "outbox depth", n);
}

static int sq_outbox_log(dc__store *base, const char *account_id, int limit, json_t **out)
{
    dc__sq *s = (dc__sq *)base;
    sqlite3_stmt *st;
    const dc__val p[] = {DC__T(account_id), DC__I(limit)};
    json_t *arr = json_array();
    int rc = arr ? dc__bound(s, ST_OUTBOX_LOG, p, DC__NVALS(p), &st) : DC_ENOMEM, r;
    if (!rc) {
        dc__store_row row = dc__row(st);
        while ((r = sqlite3_step(st)) == SQLITE_ROW)
            json_array_append_new(arr, dc__store_outbox_log_row(&row));
        if (r != SQLITE_DONE)
            rc = dc__fail(s, "outbox log");
        dc__release(st);
    }
    if (rc) {
        json_decref(arr);
        arr = NULL;
    }
    *out = arr;
    return rc;
}

/* ---- the handle --------------------------------------------------------------------------- */

static const struct dc__store_ops dc__sqlite_ops = {
    .close = sq_close,
    .backup = sq_backup,
    .schema_version = sq_schema_version,
    .account_insert = sq_account_insert,
    .account_fetch = sq_account_fetch,
    .account_update = sq_account_update,
    .web_user_insert = sq_web_user_insert,
    .web_user_by_email = sq_web_user_by_email,
    .web_session_insert = sq_web_session_insert,
    .web_session_get = sq_web_session_get,
    .web_session_delete = sq_web_session_delete,
    .web_sessions_purge = sq_web_sessions_purge,
    .call_save = dc__store_call_save_tx,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .call_upsert = sq_call_upsert,
    .outbox_insert = sq_outbox_insert,
    .call_find_client = sq_call_find_client,
    .call_load = sq_call_load,
    .calls_list = sq_calls_list,
    .calls_close_open = sq_calls_close_open,
    .stats_slots = sq_stats_slots,
    .missed_add = sq_missed_add,
    .missed_take = sq_missed_take,
    .missed_list = sq_missed_list,
    .revoke_set = sq_revoke_set,
    .revoke_get = sq_revoke_get,
    .outbox_due = sq_outbox_due,
    .outbox_done = sq_outbox_done,
    .outbox_retry = sq_outbox_retry,
    .outbox_fail = sq_outbox_fail,
    .outbox_depth = sq_outbox_depth,
    .outbox_log = sq_outbox_log,
};

int dc__store_sqlite_open(const char *path, const unsigned char master_key[32], dc__store **out)
{
    dc__sq *s = calloc(1, sizeof *s);
    if (!s)
        return DC_ENOMEM;
    dc__store_init(&s->base, &dc__sqlite_ops, master_key);
    int rc, created = access(path, F_OK) != 0;
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        DC_ERROR(MOD, "open %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        rc = DC_ESTORE;
    } else {
        rc = dc__configure(s, path, created);
    }
    if (rc) {
        sq_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}
