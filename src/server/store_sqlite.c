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

#include "common/crypto.h"
#include "common/log.h"
#include "common/util.h"
#include "dcall/errors.h"
#include "server/store_impl.h"

#define MOD "store"

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
};
#define DC__N_MIGRATIONS ((int)(sizeof dc__migrations / sizeof dc__migrations[0]))

#define ACC_COLS                                                                                   \
    "id, api_key, kid, name, api_secret_sealed, ring_timeout_s, dev_key_auth, webhook_url,"        \
    " webhook_events, webhook_secret_sealed, branding, created_ms"
#define CALL_COLS                                                                                  \
    "id, account_id, client_call_id, caller, callee, caller_name, context, remote_context,"        \
    " caller_image, callee_image, state, created_ms, answered_ms, ended_ms, reason, detail,"       \
    " ended_by"

enum dc__st {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_ACC_INSERT,
    ST_ACC_GET,
    ST_ACC_BY_KEY,
    ST_ACC_UPDATE,
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
    [ST_ACC_INSERT] = "INSERT INTO accounts (" ACC_COLS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
    [ST_ACC_GET] = "SELECT " ACC_COLS " FROM accounts WHERE id = ?",
    [ST_ACC_BY_KEY] = "SELECT " ACC_COLS " FROM accounts WHERE api_key = ?",
    [ST_ACC_UPDATE] = "UPDATE accounts SET name = ?2, ring_timeout_s = ?3, dev_key_auth = ?4,"
                      " webhook_url = ?5, webhook_events = ?6, webhook_secret_sealed = ?7,"
                      " branding = ?8, api_secret_sealed = coalesce(?9, api_secret_sealed),"
                      " kid = ?10 WHERE id = ?1",
    [ST_CALL_UPSERT] =
        "INSERT INTO calls (" CALL_COLS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(id) DO UPDATE SET client_call_id = excluded.client_call_id,"
        " caller = excluded.caller, callee = excluded.callee, caller_name = excluded.caller_name,"
        " context = excluded.context, remote_context = excluded.remote_context,"
        " caller_image = excluded.caller_image, callee_image = excluded.callee_image,"
        " state = excluded.state, created_ms = excluded.created_ms,"
        " answered_ms = excluded.answered_ms, ended_ms = excluded.ended_ms,"
        " reason = excluded.reason, detail = excluded.detail, ended_by = excluded.ended_by"
        " WHERE calls.account_id = excluded.account_id",
    [ST_CALL_FIND_CLIENT] = "SELECT " CALL_COLS " FROM calls WHERE account_id = ? AND caller = ?"
                            " AND client_call_id = ? AND created_ms >= ?",
    [ST_CALL_LOAD] = "SELECT " CALL_COLS " FROM calls WHERE account_id = ? AND id = ?",
    [ST_CALL_OPEN] = "SELECT " CALL_COLS " FROM calls WHERE state <> 'ended'",
    [ST_CALL_CLOSE] = "UPDATE calls SET state = 'ended', reason = 'failed', detail = ?3,"
                      " ended_ms = ?4, ended_by = 'server' WHERE account_id = ?1 AND id = ?2",
    [ST_OUTBOX_INSERT] =
        "INSERT INTO outbox (account_id, kind, url, body, event, attempts, next_ms, created_ms,"
        " state) VALUES (?1, ?2, ?3, ?4,"
        " CASE WHEN json_valid(?4) THEN json_extract(?4, '$.type') END, ?5, ?6, ?7, 'pending')",
    [ST_STATS] = "SELECT (created_ms / 900000) * 900000, reason, count(*) FROM calls"
                 " WHERE account_id = ? AND state = 'ended' AND created_ms >= ? AND created_ms < ?"
                 " GROUP BY 1, 2 ORDER BY 1, 2",
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
    [ST_OUTBOX_LOG] = "SELECT id, url, event, attempts, state, last_error, http_status,"
                      " created_ms, delivered_ms FROM outbox WHERE account_id = ?"
                      " ORDER BY id DESC LIMIT ?",
};

typedef struct dc__sq {
    dc__store base; /* first: the handle store.c dispatches on */
    sqlite3 *db;
    unsigned char key[DC__MASTER_KEY_LEN];
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

/* Runs a statement that returns no rows (or ignores them); resets it after. */
static int dc__run(dc__sq *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 0;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return DC_EINVAL;
    return dc__fail(s, what);
}

static int dc__exec_st(dc__sq *s, enum dc__st i)
{
    sqlite3_stmt *st;
    int rc = dc__stmt(s, i, &st);
    return rc ? rc : dc__run(s, st, dc__sql[i]);
}

static int dc__begin(dc__sq *s)
{
    return dc__exec_st(s, ST_BEGIN);
}

static int dc__commit(dc__sq *s)
{
    int rc = dc__exec_st(s, ST_COMMIT);
    if (rc && !sqlite3_get_autocommit(s->db))
        dc__exec_st(s, ST_ROLLBACK);
    return rc;
}

static void dc__rollback(dc__sq *s)
{
    if (!sqlite3_get_autocommit(s->db))
        dc__exec_st(s, ST_ROLLBACK);
}

static int dc__bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* Empty strings are stored as NULL where the column means "none". */
static int dc__bind_opt(sqlite3_stmt *st, int i, const char *v)
{
    return dc__bind_text(st, i, v && *v ? v : NULL);
}

static char *dc__col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    return v ? strdup((const char *)v) : NULL;
}

static void dc__col_copy(char *dst, size_t cap, sqlite3_stmt *st, int i)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    snprintf(dst, cap, "%s", v ? (const char *)v : "");
}

/* ---- open, close, schema ------------------------------------------------------------------ */

static int dc__migrate(dc__sq *s)
{
    for (;;) {
        int rc = dc__begin(s), v = -1;
        if (rc)
            return rc;
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        if (v < 0 || v > DC__N_MIGRATIONS) {
            dc__rollback(s);
            if (v > DC__N_MIGRATIONS)
                DC_ERROR(MOD, "schema version %d is newer than this dcalld knows (%d)", v,
                         DC__N_MIGRATIONS);
            return v < 0 ? dc__fail(s, "user_version") : DC_ESTORE;
        }
        if (v == DC__N_MIGRATIONS)
            return dc__commit(s);
        char pragma[48];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if (sqlite3_exec(s->db, dc__migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
            rc = dc__fail(s, "migration");
            dc__rollback(s);
            return rc;
        }
        if ((rc = dc__commit(s)))
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
    explicit_bzero(s->key, sizeof s->key);
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

static int dc__unseal_col(dc__sq *s, sqlite3_stmt *st, int i, char **out)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    *out = NULL;
    if (!v)
        return 0;
    if (dc__open(s->key, (const char *)v, out) != 0) {
        /* a wrong master key for this data dir, or a tampered row */
        DC_ERROR(MOD, "a sealed secret does not open with this master key");
        return DC_ESTORE;
    }
    return 0;
}

static int dc__account_row(dc__sq *s, sqlite3_stmt *st, dc__account **out)
{
    dc__account *a = calloc(1, sizeof *a);
    if (!a)
        return DC_ENOMEM;
    dc__col_copy(a->id, sizeof a->id, st, 0);
    dc__col_copy(a->api_key, sizeof a->api_key, st, 1);
    dc__col_copy(a->kid, sizeof a->kid, st, 2);
    a->name = dc__col_dup(st, 3);
    a->ring_timeout_s = sqlite3_column_int(st, 5);
    a->dev_key_auth = sqlite3_column_int(st, 6);
    a->webhook_url = dc__col_dup(st, 7);
    const char *ev = (const char *)sqlite3_column_text(st, 8);
    a->webhook_events = ev ? json_loads(ev, 0, NULL) : NULL;
    const char *br = (const char *)sqlite3_column_text(st, 10);
    a->branding = json_loads(br ? br : dc__store_default_branding, 0, NULL);
    a->created_ms = sqlite3_column_int64(st, 11);
    int rc = dc__unseal_col(s, st, 4, &a->api_secret);
    if (!rc)
        rc = dc__unseal_col(s, st, 9, &a->webhook_secret);
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

static int dc__account_fetch(dc__sq *s, enum dc__st which, const char *v, dc__account **out)
{
    sqlite3_stmt *st;
    if (!v || !out)
        return DC_EINVAL;
    int rc = dc__stmt(s, which, &st);
    if (rc)
        return rc;
    dc__bind_text(st, 1, v);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        rc = dc__account_row(s, st, out);
    else
        rc = r == SQLITE_DONE ? DC_ENOTFOUND : dc__fail(s, "account get");
    sqlite3_reset(st);
    return rc;
}

static int sq_account_get(dc__store *base, const char *id, dc__account **out)
{
    dc__sq *s = (dc__sq *)base;
    return dc__account_fetch(s, ST_ACC_GET, id, out);
}

static int sq_account_by_key(dc__store *base, const char *api_key, dc__account **out)
{
    dc__sq *s = (dc__sq *)base;
    return dc__account_fetch(s, ST_ACC_BY_KEY, api_key, out);
}

static int dc__account_new(const char *name, dc__account **out)
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
    a->created_ms = dc__now_ms();
    if (!rc && (!a->name || !a->webhook_events || !a->branding))
        rc = DC_ENOMEM;
    if (rc) {
        dc__account_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

static int sq_account_create(dc__store *base, const char *name, dc__account **out)
{
    dc__sq *s = (dc__sq *)base;
    if (!name || !out)
        return DC_EINVAL;
    dc__account *a = NULL;
    char *sealed = NULL;
    sqlite3_stmt *st;
    int rc = dc__account_new(name, &a);
    if (!rc)
        rc = dc__seal(s->key, a->api_secret, &sealed);
    if (!rc)
        rc = dc__stmt(s, ST_ACC_INSERT, &st);
    if (!rc) {
        dc__bind_text(st, 1, a->id);
        dc__bind_text(st, 2, a->api_key);
        dc__bind_text(st, 3, a->kid);
        dc__bind_text(st, 4, a->name);
        dc__bind_text(st, 5, sealed);
        sqlite3_bind_int(st, 6, 0);
        sqlite3_bind_int(st, 7, 0);
        sqlite3_bind_null(st, 8);
        dc__bind_text(st, 9, "[]");
        sqlite3_bind_null(st, 10);
        dc__bind_text(st, 11, dc__store_default_branding);
        sqlite3_bind_int64(st, 12, a->created_ms);
        rc = dc__run(s, st, "account create");
        sqlite3_clear_bindings(st);
    }
    free(sealed);
    if (rc) {
        dc__account_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

static int sq_account_update(dc__store *base, const dc__account *a)
{
    dc__sq *s = (dc__sq *)base;
    if (!a || !a->name)
        return DC_EINVAL;
    char *api_sealed = NULL, *wh_sealed = NULL, *events = NULL, *branding = NULL;
    sqlite3_stmt *st;
    int rc = 0;
    if (a->api_secret)
        rc = dc__seal(s->key, a->api_secret, &api_sealed);
    if (!rc && a->webhook_secret)
        rc = dc__seal(s->key, a->webhook_secret, &wh_sealed);
    events = a->webhook_events ? json_dumps(a->webhook_events, JSON_COMPACT) : strdup("[]");
    branding =
        a->branding ? json_dumps(a->branding, JSON_COMPACT) : strdup(dc__store_default_branding);
    if (!rc && (!events || !branding))
        rc = DC_ENOMEM;
    if (!rc)
        rc = dc__stmt(s, ST_ACC_UPDATE, &st);
    if (!rc) {
        dc__bind_text(st, 1, a->id);
        dc__bind_text(st, 2, a->name);
        sqlite3_bind_int(st, 3, a->ring_timeout_s);
        sqlite3_bind_int(st, 4, a->dev_key_auth ? 1 : 0);
        dc__bind_opt(st, 5, a->webhook_url);
        dc__bind_text(st, 6, events);
        dc__bind_text(st, 7, wh_sealed);
        dc__bind_text(st, 8, branding);
        dc__bind_text(st, 9, api_sealed);
        dc__bind_text(st, 10, a->kid[0] ? a->kid : "k1");
        rc = dc__run(s, st, "account update");
        sqlite3_clear_bindings(st);
        if (!rc && sqlite3_changes(s->db) == 0)
            rc = DC_ENOTFOUND;
    }
    free(api_sealed);
    free(wh_sealed);
    free(events);
    free(branding);
    return rc;
}

/* ---- calls -------------------------------------------------------------------------------- */

/* Reads a row selected with CALL_COLS. */
static int dc__call_row(sqlite3_stmt *st, dc__call_rec **out)
{
    dc__call_rec *r = calloc(1, sizeof *r);
    if (!r)
        return DC_ENOMEM;
    dc__col_copy(r->id, sizeof r->id, st, 0);
    dc__col_copy(r->account_id, sizeof r->account_id, st, 1);
    dc__col_copy(r->client_call_id, sizeof r->client_call_id, st, 2);
    dc__col_copy(r->caller, sizeof r->caller, st, 3);
    dc__col_copy(r->callee, sizeof r->callee, st, 4);
    r->caller_name = dc__col_dup(st, 5);
    r->context = dc__col_dup(st, 6);
    r->remote_context = dc__col_dup(st, 7);
    r->caller_image = dc__col_dup(st, 8);
    r->callee_image = dc__col_dup(st, 9);
    dc__col_copy(r->state, sizeof r->state, st, 10);
    r->created_ms = sqlite3_column_int64(st, 11);
    r->answered_ms = sqlite3_column_int64(st, 12);
    r->ended_ms = sqlite3_column_int64(st, 13);
    dc__col_copy(r->reason, sizeof r->reason, st, 14);
    dc__col_copy(r->detail, sizeof r->detail, st, 15);
    dc__col_copy(r->ended_by, sizeof r->ended_by, st, 16);
    if (!r->context) {
        dc__call_rec_free(r);
        return DC_ENOMEM;
    }
    *out = r;
    return 0;
}

static int dc__outbox_insert(dc__sq *s, const char *account_id, dc__outbox_item *it)
{
    sqlite3_stmt *st;
    if (!it->url || !it->body)
        return DC_EINVAL;
    int rc = dc__stmt(s, ST_OUTBOX_INSERT, &st);
    if (rc)
        return rc;
    int64_t now = dc__now_ms();
    dc__bind_text(st, 1, it->account_id[0] ? it->account_id : account_id);
    dc__bind_text(st, 2, it->kind[0] ? it->kind : "webhook");
    dc__bind_text(st, 3, it->url);
    dc__bind_text(st, 4, it->body);
    sqlite3_bind_int(st, 5, it->attempts);
    sqlite3_bind_int64(st, 6, it->next_ms ? it->next_ms : now);
    sqlite3_bind_int64(st, 7, it->created_ms ? it->created_ms : now);
    rc = dc__run(s, st, "outbox insert");
    sqlite3_clear_bindings(st);
    if (!rc)
        it->id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

static int dc__call_upsert(dc__sq *s, const dc__call_rec *r)
{
    sqlite3_stmt *st;
    int rc = dc__stmt(s, ST_CALL_UPSERT, &st);
    if (rc)
        return rc;
    dc__bind_text(st, 1, r->id);
    dc__bind_text(st, 2, r->account_id);
    /* NULL, not "", so calls without a client id never collide in the unique index */
    dc__bind_opt(st, 3, r->client_call_id);
    dc__bind_text(st, 4, r->caller);
    dc__bind_text(st, 5, r->callee);
    dc__bind_opt(st, 6, r->caller_name);
    dc__bind_text(st, 7, r->context);
    dc__bind_opt(st, 8, r->remote_context);
    dc__bind_opt(st, 9, r->caller_image);
    dc__bind_opt(st, 10, r->callee_image);
    dc__bind_text(st, 11, r->state);
    sqlite3_bind_int64(st, 12, r->created_ms);
    sqlite3_bind_int64(st, 13, r->answered_ms);
    sqlite3_bind_int64(st, 14, r->ended_ms);
    dc__bind_text(st, 15, r->reason);
    dc__bind_text(st, 16, r->detail);
    dc__bind_text(st, 17, r->ended_by);
    rc = dc__run(s, st, "call save");
    sqlite3_clear_bindings(st);
    /* no change: the id exists under another account, which must stay invisible */
    if (!rc && sqlite3_changes(s->db) == 0)
        rc = DC_EINVAL;
    return rc;
}

static int sq_call_save(dc__store *base, const dc__call_rec *r, dc__outbox_item *items, size_t n)
{
    dc__sq *s = (dc__sq *)base;
    if (!r || !r->id[0] || !r->account_id[0] || !r->context || (n && !items))
        return DC_EINVAL;
    int rc = dc__begin(s);
    if (rc)
        return rc;
    rc = dc__call_upsert(s, r);
    for (size_t i = 0; !rc && i < n; i++)
        rc = dc__outbox_insert(s, r->account_id, &items[i]);
    if (!rc)
        rc = dc__commit(s);
    if (rc) {
        dc__rollback(s);
        for (size_t i = 0; i < n; i++)
            items[i].id = 0;
    }
    return rc;
}

static int dc__call_fetch(dc__sq *s, sqlite3_stmt *st, dc__call_rec **out)
{
    int r = sqlite3_step(st), rc;
    if (r == SQLITE_ROW)
        rc = dc__call_row(st, out);
    else
        rc = r == SQLITE_DONE ? DC_ENOTFOUND : dc__fail(s, "call get");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int sq_call_find_client(dc__store *base, const char *account_id, const char *caller,
                               const char *client_call_id, int64_t since_ms, dc__call_rec **out)
{
    dc__sq *s = (dc__sq *)base;
    sqlite3_stmt *st;
    if (!account_id || !caller || !client_call_id || !*client_call_id || !out)
        return DC_EINVAL;
    int rc = dc__stmt(s, ST_CALL_FIND_CLIENT, &st);
    if (rc)
        return rc;
    dc__bind_text(st, 1, account_id);
    dc__bind_text(st, 2, caller);
    dc__bind_text(st, 3, client_call_id);
    sqlite3_bind_int64(st, 4, since_ms);
    return dc__call_fetch(s, st, out);
}

static int sq_call_load(dc__store *base, const char *account_id, const char *id, dc__call_rec **out)
{
    dc__sq *s = (dc__sq *)base;
    sqlite3_stmt *st;
    if (!account_id || !id || !out)
        return DC_EINVAL;
    int rc = dc__stmt(s, ST_CALL_LOAD, &st);
    if (rc)
        return rc;
    dc__bind_text(st, 1, account_id);
    dc__bind_text(st, 2, id);
    return dc__call_fetch(s, st, out);
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
             "SELECT " CALL_COLS " FROM calls WHERE account_id = :acc%s%s%s%s%s"
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
        if (dc__call_row(st, &rec) != 0) {
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
                         json_t **out_array, char **next_cursor)
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
    json_t *arr = json_array();
    int rc = arr ? dc__list_rows(s, st, f->limit, arr, next_cursor) : DC_ENOMEM;
    sqlite3_finalize(st);
    if (rc) {
        json_decref(arr);
        free(*next_cursor);
        *next_cursor = NULL;
        return rc;
    }
    *out_array = arr;
    return 0;
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
        rc = dc__call_row(st, &(*out)[*n]);
        if (!rc)
            (*n)++;
    }
    if (!rc && r != SQLITE_DONE)
        rc = dc__fail(s, "open calls");
    sqlite3_reset(st);
    return rc;
}

/* make_item fills item_out with malloc'd url and body to have an item written (they are freed
 * here); leaving url NULL writes none; a negative return aborts the whole recovery. */
static int dc__close_one(dc__sq *s, dc__call_rec *r, int64_t now_ms, const char *detail,
                         dc__recover_cb make_item, void *ud)
{
    sqlite3_stmt *st;
    int rc = dc__stmt(s, ST_CALL_CLOSE, &st);
    if (rc)
        return rc;
    dc__bind_text(st, 1, r->account_id);
    dc__bind_text(st, 2, r->id);
    dc__bind_text(st, 3, detail ? detail : "");
    sqlite3_bind_int64(st, 4, now_ms);
    rc = dc__run(s, st, "close open call");
    sqlite3_clear_bindings(st);
    if (rc || !make_item)
        return rc;
    snprintf(r->state, sizeof r->state, "ended");
    snprintf(r->reason, sizeof r->reason, "failed");
    snprintf(r->detail, sizeof r->detail, "%s", detail ? detail : "");
    snprintf(r->ended_by, sizeof r->ended_by, "server");
    r->ended_ms = now_ms;
    dc__outbox_item it;
    memset(&it, 0, sizeof it);
    rc = make_item(r, &it, ud);
    if (rc >= 0 && it.url)
        rc = dc__outbox_insert(s, r->account_id, &it);
    free(it.url);
    free(it.body);
    return rc < 0 ? rc : 0;
}

static int sq_calls_close_open(dc__store *base, int64_t now_ms, const char *detail,
                               dc__recover_cb make_item, void *ud, int *n_closed)
{
    dc__sq *s = (dc__sq *)base;
    dc__call_rec **open = NULL;
    size_t n = 0;
    int rc = dc__begin(s);
    if (rc)
        return rc;
    rc = dc__open_calls(s, &open, &n);
    for (size_t i = 0; !rc && i < n; i++)
        rc = dc__close_one(s, open[i], now_ms, detail, make_item, ud);
    if (!rc)
        rc = dc__commit(s);
    else
        dc__rollback(s);
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
    if (!account_id || !cb)
        return DC_EINVAL;
    int rc = dc__stmt(s, ST_STATS, &st), r;
    if (rc)
        return rc;
    dc__bind_text(st, 1, account_id);
    sqlite3_bind_int64(st, 2, from_ms);
    sqlite3_bind_int64(st, 3, to_ms);
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        cb(sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
           sqlite3_column_int64(st, 2), ud);
    if (r != SQLITE_DONE)
        rc = dc__fail(s, "stats");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* ---- missed-call notifications ------------------------------------------------------------ */

static int sq_missed_add(dc__store *base, const char *account_id, const char *cuid,
                         const char *call_id, const json_t *payload, int delivered)
{
    dc__sq *s = (dc__sq *)base;
    sqlite3_stmt *st;
    if (!account_id || !cuid || !call_id || !json_is_object(payload))
        return DC_EINVAL;
    char *text = json_dumps(payload, JSON_COMPACT);
    if (!text)
        return DC_ENOMEM;
    int rc = dc__stmt(s, ST_MISSED_ADD, &st);
    if (!rc) {
        dc__bind_text(st, 1, account_id);
        dc__bind_text(st, 2, cuid);
        dc__bind_text(st, 3, call_id);
        dc__bind_text(st, 4, text);
        sqlite3_bind_int(st, 5, delivered ? 1 : 0);
        sqlite3_bind_int64(st, 6, dc__now_ms());
        rc = dc__run(s, st, "missed add");
        sqlite3_clear_bindings(st);
    }
    free(text);
    return rc;
}

/* Reads (id, call_id, payload) rows into arr; ids of the rows into *ids when asked. */
static int dc__missed_rows(dc__sq *s, sqlite3_stmt *st, json_t *arr, int64_t **ids, size_t *n)
{
    int r;
    size_t cap = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *p = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
        if (!json_is_object(p)) {
            json_decref(p);
            p = json_object();
        }
        if (!json_object_get(p, "call_id"))
            json_object_set_new(p, "call_id",
                                json_string((const char *)sqlite3_column_text(st, 1)));
        json_array_append_new(arr, p);
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
    sqlite3_stmt *st;
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        rc = dc__stmt(s, ST_MISSED_MARK, &st);
        if (rc)
            break;
        dc__bind_text(st, 1, account_id);
        sqlite3_bind_int64(st, 2, ids[i]);
        rc = dc__run(s, st, "missed mark");
    }
    return rc;
}

static int sq_missed_take(dc__store *base, const char *account_id, const char *cuid, json_t **out)
{
    dc__sq *s = (dc__sq *)base;
    sqlite3_stmt *st;
    int64_t *ids = NULL;
    size_t n = 0;
    if (!account_id || !cuid || !out)
        return DC_EINVAL;
    json_t *arr = json_array();
    if (!arr)
        return DC_ENOMEM;
    int rc = dc__begin(s);
    if (!rc)
        rc = dc__stmt(s, ST_MISSED_UNDELIVERED, &st);
    if (!rc) {
        dc__bind_text(st, 1, account_id);
        dc__bind_text(st, 2, cuid);
        rc = dc__missed_rows(s, st, arr, &ids, &n);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    if (!rc)
        rc = dc__missed_mark(s, account_id, ids, n);
    if (!rc)
        rc = dc__commit(s);
    if (rc) {
        dc__rollback(s);
        json_decref(arr);
        arr = NULL;
    }
    free(ids);
    *out = arr;
    return rc;
}

static int sq_missed_list(dc__store *base, const char *account_id, const char *cuid, int limit,
                          json_t **out)
{
    dc__sq *s = (dc__sq *)base;
    sqlite3_stmt *st;
    if (!account_id || !cuid || !out || limit < 1)
        return DC_EINVAL;
    json_t *arr = json_array();
    int rc = arr ? dc__stmt(s, ST_MISSED_LIST, &st) : DC_ENOMEM;
    if (!rc) {
        dc__bind_text(st, 1, account_id);
        dc__bind_text(st, 2, cuid);
        sqlite3_bind_int(st, 3, limit);
        rc = dc__missed_rows(s, st, arr, NULL, NULL);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    if (rc) {
        json_decref(arr);
        arr = NULL;
    }
    *out = arr;
    return rc;
}

/* ---- revocations -------------------------------------------------------------------------- */

static int sq_revoke_set(dc__store *base, const char *account_id, const char *cuid,
                         int64_t before_s)
{
    dc__sq *s = (dc__sq *)base;
    sqlite3_stmt *st;
    if (!account_id || !cuid)
        return DC_EINVAL;
    int rc = dc__stmt(s, ST_REVOKE_SET, &st);
    if (rc)
        return rc;
    dc__bind_text(st, 1, account_id);
    dc__bind_text(st, 2, cuid);
    sqlite3_bind_int64(st, 3, before_s);
    rc = dc__run(s, st, "revoke set");
    sqlite3_clear_bindings(st);
    return rc;
}

static int sq_revoke_get(dc__store *base, const char *account_id, const char *cuid,
                         int64_t *before_s)
{
    dc__sq *s = (dc__sq *)base;
    sqlite3_stmt *st;
    if (!account_id || !cuid || !before_s)
        return DC_EINVAL;
    int rc = dc__stmt(s, ST_REVOKE_GET, &st);
    if (rc)
        return rc;
    dc__bind_text(st, 1, account_id);
    dc__bind_text(st, 2, cuid);
    int r = sqlite3_step(st);
    *before_s = r == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        rc = dc__fail(s, "revoke get");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* ---- outbox ------------------------------------------------------------------------------- */

static int dc__outbox_item_row(sqlite3_stmt *st, dc__outbox_item *it)
{
    it->id = sqlite3_column_int64(st, 0);
    dc__col_copy(it->account_id, sizeof it->account_id, st, 1);
    dc__col_copy(it->kind, sizeof it->kind, st, 2);
    it->url = dc__col_dup(st, 3);
    it->body = dc__col_dup(st, 4);
    it->attempts = sqlite3_column_int(st, 5);
    it->next_ms = sqlite3_column_int64(st, 6);
    it->created_ms = sqlite3_column_int64(st, 7);
    return it->url && it->body ? 0 : DC_ENOMEM;
}

static int sq_outbox_due(dc__store *base, int64_t now_ms, size_t max, dc__outbox_item **items,
                         size_t *n)
{
    dc__sq *s = (dc__sq *)base;
    sqlite3_stmt *st;
    if (!items || !n)
        return DC_EINVAL;
    *items = NULL;
    *n = 0;
    if (max == 0)
        return 0;
    if (max > 10000)
        max = 10000;
    dc__outbox_item *arr = calloc(max, sizeof *arr);
    if (!arr)
        return DC_ENOMEM;
    int rc = dc__stmt(s, ST_OUTBOX_DUE, &st), r = SQLITE_DONE;
    size_t count = 0;
    if (!rc) {
        sqlite3_bind_int64(st, 1, now_ms);
        sqlite3_bind_int64(st, 2, (int64_t)max);
        while (!rc && count < max && (r = sqlite3_step(st)) == SQLITE_ROW)
            rc = dc__outbox_item_row(st, &arr[count++]);
        if (!rc && r != SQLITE_ROW && r != SQLITE_DONE)
            rc = dc__fail(s, "outbox due");
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
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

/* Runs an outbox UPDATE bound by the caller; DC_ENOTFOUND when no row changed. */
static int dc__outbox_update(dc__sq *s, sqlite3_stmt *st, const char *what)
{
    int rc = dc__run(s, st, what);
    sqlite3_clear_bindings(st);
    if (!rc && sqlite3_changes(s->db) == 0)
        rc = DC_ENOTFOUND;
    return rc;
}

/* The successful delivery counts as an attempt. */
static int sq_outbox_done(dc__store *base, int64_t id, int64_t now_ms, int http_status)
{
    dc__sq *s = (dc__sq *)base;
    sqlite3_stmt *st;
    int rc = dc__stmt(s, ST_OUTBOX_DONE, &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_int(st, 3, http_status);
    return dc__outbox_update(s, st, "outbox done");
}

static int sq_outbox_retry(dc__store *base, int64_t id, int attempts, int64_t next_ms,
                           const char *error)
{
    dc__sq *s = (dc__sq *)base;
    sqlite3_stmt *st;
    int rc = dc__stmt(s, ST_OUTBOX_RETRY, &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, attempts);
    sqlite3_bind_int64(st, 3, next_ms);
    dc__bind_opt(st, 4, error);
    return dc__outbox_update(s, st, "outbox retry");
}

static int sq_outbox_fail(dc__store *base, int64_t id, const char *error)
{
    dc__sq *s = (dc__sq *)base;
    sqlite3_stmt *st;
    int rc = dc__stmt(s, ST_OUTBOX_FAIL, &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    dc__bind_opt(st, 2, error);
    return dc__outbox_update(s, st, "outbox fail");
}

static int sq_outbox_depth(dc__store *base, int64_t *n)
{
    dc__sq *s = (dc__sq *)base;
    sqlite3_stmt *st;
    if (!n)
        return DC_EINVAL;
    int rc = dc__stmt(s, ST_OUTBOX_DEPTH, &st);
    if (rc)
        return rc;
    if (sqlite3_step(st) == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    else
        rc = dc__fail(s, "outbox depth");
    sqlite3_reset(st);
    return rc;
}

static json_t *dc__outbox_log_row(sqlite3_stmt *st)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(o, "url", json_string((const char *)sqlite3_column_text(st, 1)));
    json_object_set_new(o, "event", dc__store_json_str((const char *)sqlite3_column_text(st, 2)));
    json_object_set_new(o, "attempts", json_integer(sqlite3_column_int(st, 3)));
    json_object_set_new(o, "state", json_string((const char *)sqlite3_column_text(st, 4)));
    json_object_set_new(o, "last_error",
                        dc__store_json_str((const char *)sqlite3_column_text(st, 5)));
    json_object_set_new(o, "http_status",
                        sqlite3_column_type(st, 6) == SQLITE_NULL
                            ? json_null()
                            : json_integer(sqlite3_column_int(st, 6)));
    json_object_set_new(o, "created_at", dc__store_json_time(sqlite3_column_int64(st, 7)));
    json_object_set_new(o, "delivered_at", dc__store_json_time(sqlite3_column_int64(st, 8)));
    return o;
}

static int sq_outbox_log(dc__store *base, const char *account_id, int limit, json_t **out)
{
    dc__sq *s = (dc__sq *)base;
    sqlite3_stmt *st;
    if (!account_id || !out || limit < 1)
        return DC_EINVAL;
    json_t *arr = json_array();
    int rc = arr ? dc__stmt(s, ST_OUTBOX_LOG, &st) : DC_ENOMEM, r;
    if (!rc) {
        dc__bind_text(st, 1, account_id);
        sqlite3_bind_int(st, 2, limit);
        while ((r = sqlite3_step(st)) == SQLITE_ROW)
            json_array_append_new(arr, dc__outbox_log_row(st));
        if (r != SQLITE_DONE)
            rc = dc__fail(s, "outbox log");
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
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
    .account_create = sq_account_create,
    .account_get = sq_account_get,
    .account_by_key = sq_account_by_key,
    .account_update = sq_account_update,
    .call_save = sq_call_save,
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
    s->base.ops = &dc__sqlite_ops;
    memcpy(s->key, master_key, sizeof s->key);
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
