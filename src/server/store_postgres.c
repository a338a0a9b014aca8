/* The store on PostgreSQL 15 through libpq: one connection per handle (a handle
 * is used by one thread at a time), statements prepared once per connection
 * (PQprepare) and run with text parameters. Several dcalld nodes may share one
 * database: migrations take an advisory lock, outbox_due claims rows with FOR
 * UPDATE SKIP LOCKED and leases them (see below), missed_take marks rows in the
 * statement that reads them. A commit is durable under the server's own
 * synchronous_commit (on by default). */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "dcall/errors.h"
#include "server/store_impl.h"

#define MOD "store"

/* An item handed out by outbox_due is hidden from every node (next_ms moves
 * this far ahead) until outbox_done/retry/fail settles it. It must outlast a
 * worker's batch (32 deliveries of at most 10 s each); a node that dies
 * mid-delivery has its items delivered again after it. */
#define DC__PG_OUTBOX_LEASE_MS 600000

/* Serialises migrations between nodes that start at the same time (0x6463616c,
 * "dcal"). */
#define DC__PG_MIGRATE_LOCK "1684234604"

/* SQL spliced from macros: kept as written, one clause a line */
// clang-format off
/* A call row's contribution to its call_stats row (R is NEW, OLD or a table name). */
#define DC__PG_SLOT(R) R ".created_ms - " R ".created_ms % 900000"
#define DC__PG_DUR(R)                                                                              \
    "CASE WHEN " R ".answered_ms > 0 AND " R ".ended_ms >= " R ".answered_ms THEN " R              \
    ".ended_ms - " R ".answered_ms ELSE 0 END"
#define DC__PG_MOS(R) "CASE WHEN " R ".q_samples > 0 THEN coalesce(" R ".mos_avg, 0) ELSE 0 END"
#define DC__PG_MOSMIN(R) "CASE WHEN " R ".q_samples > 0 THEN " R ".mos_min END"
#define DC__PG_KEY(R)                                                                              \
    "account_id = " R ".account_id AND slot_ms = " DC__PG_SLOT(R) " AND reason = " R ".reason"
/* least() skips NULLs; min is idempotent, so adding after a recompute is exact. */
#define DC__PG_ADD                                                                                 \
    "INSERT INTO call_stats VALUES (NEW.account_id, " DC__PG_SLOT("NEW") ", NEW.reason, 1,"        \
    " (NEW.answered_ms > 0)::int, " DC__PG_DUR("NEW") ", (NEW.q_samples > 0)::int, "               \
    DC__PG_MOS("NEW") ", " DC__PG_MOSMIN("NEW") ") ON CONFLICT (account_id, slot_ms, reason)"      \
    " DO UPDATE SET calls = call_stats.calls + 1,"                                                 \
    " answered = call_stats.answered + excluded.answered,"                                         \
    " duration_ms = call_stats.duration_ms + excluded.duration_ms,"                                \
    " q_calls = call_stats.q_calls + excluded.q_calls,"                                            \
    " mos_sum = call_stats.mos_sum + excluded.mos_sum,"                                            \
    " mos_min = least(call_stats.mos_min, excluded.mos_min)"
/* A minimum cannot be subtracted: it is read again from the slot's calls (the table already holds
 * the new row, which DC__PG_ADD merges after). */
#define DC__PG_SUB                                                                                 \
    "UPDATE call_stats SET calls = calls - 1, answered = answered - (OLD.answered_ms > 0)::int,"   \
    " duration_ms = duration_ms - " DC__PG_DUR("OLD") ","                                          \
    " q_calls = q_calls - (OLD.q_samples > 0)::int, mos_sum = mos_sum - " DC__PG_MOS("OLD") ","    \
    " mos_min = CASE WHEN OLD.q_samples > 0 THEN (SELECT min(c.mos_min) FROM calls c"              \
    " WHERE c.account_id = OLD.account_id AND c.created_ms >= " DC__PG_SLOT("OLD")                 \
    " AND c.created_ms < " DC__PG_SLOT("OLD") " + 900000 AND c.state = 'ended'"                    \
    " AND c.reason = OLD.reason AND c.q_samples > 0) ELSE mos_min END WHERE " DC__PG_KEY("OLD")
/* The aggregate of the ended calls created in [lo, hi) of account $1, per slot and reason. */
#define DC__PG_SCAN(lo, hi)                                                                        \
    "SELECT " DC__PG_SLOT("calls") ", reason, count(*), count(*) FILTER (WHERE answered_ms > 0),"  \
    " sum(" DC__PG_DUR("calls") "), count(*) FILTER (WHERE q_samples > 0), coalesce(sum("          \
    DC__PG_MOS("calls") "), 0), min(" DC__PG_MOSMIN("calls") ") FROM calls"                        \
    " WHERE account_id = $1 AND state = 'ended' AND created_ms >= " lo " AND created_ms < " hi     \
    " GROUP BY 1, 2"

// clang-format on
/* Forward migrations, applied in order, each in its own transaction;
 * dcall_schema.version counts how many have run. Never edit a shipped entry:
 * append a new one. The schema mirrors the SQLite one column for column. */
static const char *const dc__migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE accounts ("
    " id TEXT PRIMARY KEY, api_key TEXT NOT NULL UNIQUE, kid TEXT NOT NULL, "
    "name TEXT NOT NULL,"
    " api_secret_sealed TEXT NOT NULL, ring_timeout_s INTEGER NOT NULL DEFAULT "
    "0,"
    " dev_key_auth INTEGER NOT NULL DEFAULT 0, webhook_url TEXT,"
    " webhook_events TEXT NOT NULL DEFAULT '[]', webhook_secret_sealed TEXT,"
    " branding TEXT NOT NULL, created_ms BIGINT NOT NULL);"
    "CREATE TABLE calls ("
    " id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id),"
    " client_call_id TEXT, caller TEXT NOT NULL, callee TEXT NOT NULL, "
    "caller_name TEXT,"
    " context TEXT NOT NULL, remote_context TEXT, caller_image TEXT, "
    "callee_image TEXT,"
    " state TEXT NOT NULL, created_ms BIGINT NOT NULL, answered_ms BIGINT NOT "
    "NULL DEFAULT 0,"
    " ended_ms BIGINT NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '',"
    " detail TEXT NOT NULL DEFAULT '', ended_by TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX calls_acc_created ON calls(account_id, created_ms);"
    "CREATE INDEX calls_acc_state ON calls(account_id, state);"
    "CREATE UNIQUE INDEX calls_client ON calls(account_id, caller, "
    "client_call_id);"
    "CREATE INDEX calls_open ON calls(state) WHERE state <> 'ended';"
    "CREATE TABLE missed ("
    " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " account_id TEXT NOT NULL REFERENCES accounts(id), cuid TEXT NOT NULL,"
    " call_id TEXT NOT NULL, payload TEXT NOT NULL, delivered INTEGER NOT NULL "
    "DEFAULT 0,"
    " created_ms BIGINT NOT NULL);"
    "CREATE INDEX missed_acc_cuid ON missed(account_id, cuid, delivered);"
    "CREATE TABLE revocations ("
    " account_id TEXT NOT NULL REFERENCES accounts(id), cuid TEXT NOT NULL,"
    " before_s BIGINT NOT NULL, PRIMARY KEY (account_id, cuid));"
    "CREATE TABLE outbox ("
    " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " account_id TEXT NOT NULL REFERENCES accounts(id), kind TEXT NOT NULL, "
    "url TEXT NOT NULL,"
    " body TEXT NOT NULL, event TEXT, attempts INTEGER NOT NULL DEFAULT 0,"
    " next_ms BIGINT NOT NULL, created_ms BIGINT NOT NULL,"
    " state TEXT NOT NULL DEFAULT 'pending', last_error TEXT, http_status "
    "INTEGER,"
    " delivered_ms BIGINT);"
    "CREATE INDEX outbox_due ON outbox(state, next_ms);"
    "CREATE INDEX outbox_acc ON outbox(account_id, id);",
    /* 2: the call's voice quality summary; NULL (and q_samples 0) when it had no reports */
    "ALTER TABLE calls ADD COLUMN q_samples INTEGER NOT NULL DEFAULT 0,"
    " ADD COLUMN mos_avg DOUBLE PRECISION, ADD COLUMN mos_min DOUBLE PRECISION,"
    " ADD COLUMN loss_pct DOUBLE PRECISION, ADD COLUMN rtt_ms DOUBLE PRECISION,"
    " ADD COLUMN jitter_ms DOUBLE PRECISION;",
    /* 3: dashboard sign-in: web users (e-mail unique case-insensitively), web sessions (the
     * SHA-256 of the cookie token), and the origins allowed to open /v1/ws */
    "ALTER TABLE accounts ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '[]';"
    "CREATE TABLE web_users ("
    " id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id),"
    " email TEXT NOT NULL, password_hash TEXT NOT NULL, created_ms BIGINT NOT NULL);"
    "CREATE UNIQUE INDEX web_users_email ON web_users(lower(email));"
    "CREATE INDEX web_users_acc ON web_users(account_id);"
    "CREATE TABLE web_sessions ("
    " token_hash TEXT PRIMARY KEY, csrf TEXT NOT NULL,"
    " account_id TEXT NOT NULL REFERENCES accounts(id),"
    " user_id TEXT NOT NULL REFERENCES web_users(id), created_ms BIGINT NOT NULL,"
    " expires_ms BIGINT NOT NULL);"
    "CREATE INDEX web_sessions_expiry ON web_sessions(expires_ms);",
    /* 4: stats rollups per account, 15-minute slot and reason (store.h, dc__stats_slot),
     * backfilled from the ended calls and kept in step by triggers, as on SQLite: a call's row
     * counts in its slot while it is ended; re-saving it unchanged touches nothing. */
    // clang-format off
    "CREATE TABLE call_stats ("
    " account_id TEXT NOT NULL, slot_ms BIGINT NOT NULL, reason TEXT NOT NULL,"
    " calls BIGINT NOT NULL, answered BIGINT NOT NULL, duration_ms BIGINT NOT NULL,"
    " q_calls BIGINT NOT NULL, mos_sum DOUBLE PRECISION NOT NULL, mos_min DOUBLE PRECISION,"
    " PRIMARY KEY (account_id, slot_ms, reason));"
    "INSERT INTO call_stats SELECT account_id, " DC__PG_SLOT("calls") ", reason, count(*),"
    " count(*) FILTER (WHERE answered_ms > 0), sum(" DC__PG_DUR("calls") "),"
    " count(*) FILTER (WHERE q_samples > 0), coalesce(sum(" DC__PG_MOS("calls") "), 0),"
    " min(" DC__PG_MOSMIN("calls") ") FROM calls WHERE state = 'ended' GROUP BY 1, 2, 3;"
    "CREATE FUNCTION dcall_call_stats() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN"
    " IF TG_OP = 'UPDATE' AND OLD.state = 'ended' THEN " DC__PG_SUB ";"
    " DELETE FROM call_stats WHERE " DC__PG_KEY("OLD") " AND calls <= 0; END IF;"
    " IF NEW.state = 'ended' THEN " DC__PG_ADD "; END IF;"
    " RETURN NULL; END $f$;"
    "CREATE TRIGGER call_stats_insert AFTER INSERT ON calls FOR EACH ROW"
    " WHEN (NEW.state = 'ended') EXECUTE FUNCTION dcall_call_stats();"
    "CREATE TRIGGER call_stats_update AFTER UPDATE ON calls FOR EACH ROW"
    " WHEN ((OLD.state = 'ended' OR NEW.state = 'ended') AND (OLD.state, OLD.reason,"
    " OLD.account_id, OLD.created_ms, OLD.answered_ms, OLD.ended_ms, OLD.q_samples, OLD.mos_avg,"
    " OLD.mos_min) IS DISTINCT FROM (NEW.state, NEW.reason, NEW.account_id, NEW.created_ms,"
    " NEW.answered_ms, NEW.ended_ms, NEW.q_samples, NEW.mos_avg, NEW.mos_min))"
    " EXECUTE FUNCTION dcall_call_stats();",
    // clang-format on
};
#define DC__N_MIGRATIONS ((int)(sizeof dc__migrations / sizeof dc__migrations[0]))
_Static_assert(DC__N_MIGRATIONS == DC__SCHEMA_VERSION, "one migration per schema version");

enum dc__st {
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
    ST_MISSED_TAKE,
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
    [ST_ACC_INSERT] = "INSERT INTO accounts (" DC__ACC_COLS
                      ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
    [ST_ACC_GET] = "SELECT " DC__ACC_COLS " FROM accounts WHERE id = $1",
    [ST_ACC_BY_KEY] = "SELECT " DC__ACC_COLS " FROM accounts WHERE api_key = $1",
    [ST_ACC_UPDATE] = "UPDATE accounts SET name = $2, ring_timeout_s = $3, dev_key_auth = $4,"
                      " webhook_url = $5, webhook_events = $6, webhook_secret_sealed = $7,"
                      " branding = $8, api_secret_sealed = coalesce($9, api_secret_sealed),"
                      " kid = $10, allowed_origins = $11 WHERE id = $1",
    [ST_WEB_USER_INSERT] = "INSERT INTO web_users (" DC__WEB_USER_COLS ") VALUES ($1,$2,$3,$4,$5)",
    [ST_WEB_USER_BY_EMAIL] =
        "SELECT " DC__WEB_USER_COLS " FROM web_users WHERE lower(email) = lower($1)",
    [ST_WEB_SESSION_INSERT] = "INSERT INTO web_sessions (token_hash, csrf, account_id, user_id,"
                              " created_ms, expires_ms) VALUES ($1,$2,$3,$4,$5,$6)",
    [ST_WEB_SESSION_GET] =
        "SELECT s.token_hash, s.csrf, s.account_id, s.user_id, u.email, s.created_ms,"
        " s.expires_ms FROM web_sessions s JOIN web_users u ON u.id = s.user_id"
        " AND u.account_id = s.account_id WHERE s.token_hash = $1 AND s.expires_ms > $2",
    [ST_WEB_SESSION_DELETE] = "DELETE FROM web_sessions WHERE account_id = $1 AND token_hash = $2",
    [ST_WEB_SESSION_PURGE] = "DELETE FROM web_sessions WHERE expires_ms <= $1",
    [ST_CALL_UPSERT] =
        "INSERT INTO calls (" DC__CALL_COLS ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,"
        "$14,$15,$16,$17,$18,$19,$20,$21,$22,$23)"
        " ON CONFLICT (id) DO UPDATE SET client_call_id = "
        "excluded.client_call_id,"
        " caller = excluded.caller, callee = excluded.callee, caller_name = "
        "excluded.caller_name,"
        " context = excluded.context, remote_context = excluded.remote_context,"
        " caller_image = excluded.caller_image, callee_image = "
        "excluded.callee_image,"
        " state = excluded.state, created_ms = excluded.created_ms,"
        " answered_ms = excluded.answered_ms, ended_ms = excluded.ended_ms,"
        " reason = excluded.reason, detail = excluded.detail, ended_by = "
        "excluded.ended_by,"
        " q_samples = excluded.q_samples, mos_avg = excluded.mos_avg, mos_min = excluded.mos_min,"
        " loss_pct = excluded.loss_pct, rtt_ms = excluded.rtt_ms, jitter_ms = excluded.jitter_ms"
        " WHERE calls.account_id = excluded.account_id",
    [ST_CALL_FIND_CLIENT] =
        "SELECT " DC__CALL_COLS " FROM calls WHERE account_id = $1 AND caller = $2"
        " AND client_call_id = $3 AND created_ms >= $4",
    [ST_CALL_LOAD] = "SELECT " DC__CALL_COLS " FROM calls WHERE account_id = $1 AND id = $2",
    [ST_CALL_OPEN] = "SELECT " DC__CALL_COLS " FROM calls WHERE state <> 'ended' ORDER BY id"
                     " FOR UPDATE",
    [ST_CALL_CLOSE] = "UPDATE calls SET state = 'ended', reason = 'failed', detail = $3,"
                      " ended_ms = $4, ended_by = 'server' WHERE account_id = $1 AND id = $2",
    [ST_OUTBOX_INSERT] = "INSERT INTO outbox (account_id, kind, url, body, "
                         "event, attempts, next_ms, created_ms,"
                         " state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
                         "'pending') RETURNING id",
    /* $2..$3: the whole slots (from the rollup); [$4, $2) and [$3, $5): the partial ones */
    // clang-format off
    [ST_STATS] = "SELECT slot_ms, reason, calls, answered, duration_ms, q_calls, mos_sum, mos_min"
                 " FROM call_stats WHERE account_id = $1 AND slot_ms >= $2::bigint"
                 " AND slot_ms < $3::bigint UNION ALL " DC__PG_SCAN("$4::bigint", "$2::bigint")
                 " UNION ALL " DC__PG_SCAN("$3::bigint", "$5::bigint"),
    // clang-format on
    [ST_MISSED_ADD] = "INSERT INTO missed (account_id, cuid, call_id, payload, delivered,"
                      " created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
    /* one statement reads and marks, so two nodes never both deliver a
       notification */
    [ST_MISSED_TAKE] = "WITH t AS (UPDATE missed SET delivered = 1 WHERE account_id = $1"
                       " AND delivered = 0 AND id IN (SELECT id FROM missed WHERE account_id "
                       "= $1"
                       " AND cuid = $2 AND delivered = 0 FOR UPDATE)"
                       " RETURNING id, call_id, payload) SELECT id, call_id, payload FROM t"
                       " ORDER BY id",
    [ST_MISSED_LIST] = "SELECT id, call_id, payload FROM missed WHERE account_id = $1"
                       " AND cuid = $2 ORDER BY id DESC LIMIT $3",
    [ST_REVOKE_SET] = "INSERT INTO revocations (account_id, cuid, before_s) "
                      "VALUES ($1, $2, $3)"
                      " ON CONFLICT (account_id, cuid) DO UPDATE SET before_s "
                      "= excluded.before_s",
    [ST_REVOKE_GET] = "SELECT before_s FROM revocations WHERE account_id = $1 AND cuid = $2",
    [ST_OUTBOX_DUE] = "WITH c AS (SELECT id, next_ms FROM outbox WHERE state = 'pending'"
                      " AND next_ms <= $1::bigint ORDER BY next_ms, id LIMIT $2 FOR UPDATE "
                      "SKIP LOCKED),"
                      " u AS (UPDATE outbox o SET next_ms = $1::bigint + $3::bigint FROM c "
                      "WHERE o.id = c.id"
                      " RETURNING o.id, o.account_id, o.kind, o.url, o.body, o.attempts, "
                      "c.next_ms AS due_ms,"
                      " o.created_ms) SELECT * FROM u ORDER BY due_ms, id",
    [ST_OUTBOX_DONE] = "UPDATE outbox SET state = 'done', delivered_ms = $2, http_status = $3,"
                       " attempts = attempts + 1, next_ms = $2 WHERE id = $1",
    [ST_OUTBOX_RETRY] = "UPDATE outbox SET attempts = $2, next_ms = $3, last_error = $4"
                        " WHERE id = $1 AND state = 'pending'",
    [ST_OUTBOX_FAIL] = "UPDATE outbox SET state = 'failed', last_error = $2 WHERE id = $1",
    [ST_OUTBOX_DEPTH] = "SELECT count(*) FROM outbox WHERE state = 'pending'",
    [ST_OUTBOX_LOG] = "SELECT " DC__OUTBOX_LOG_COLS " FROM outbox WHERE account_id = $1"
                      " ORDER BY id DESC LIMIT $2",
};

typedef struct dc__pg {
    dc__store base; /* first: the handle store.c dispatches on */
    PGconn *conn;
    int in_tx;
    unsigned char prepared[ST__COUNT];
} dc__pg;

/* ---- small helpers
 * ---------------------------------------------------------------------- */

typedef char dc__num[24];

static const char *dc__i64(dc__num buf, int64_t v)
{
    snprintf(buf, sizeof(dc__num), "%lld", (long long)v);
    return buf;
}

/* Empty strings are stored as NULL where the column means "none". */
static const char *dc__opt(const char *v)
{
    return v && *v ? v : NULL;
}

/* Logs the server's primary message only: its DETAIL may quote row values. */
static int dc__fail(dc__pg *s, const char *what, const PGresult *res)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* libpq's own message (connection lost and the like) carries no row values */
    if (!msg)
        msg = PQerrorMessage(s->conn);
    int len = (int)strcspn(msg ? msg : "", "\n");
    DC_ERROR(MOD, "%s: %.*s (%s)", what, len, msg && len ? msg : "unknown error",
             code ? code : "-");
    return DC_ESTORE;
}

/* Maps a failed result: integrity violations (class 23) are the caller's bad
 * input. */
static int dc__result_err(dc__pg *s, const char *what, const PGresult *res)
{
    const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (code && strncmp(code, "23", 2) == 0)
        return DC_EINVAL;
    return dc__fail(s, what, res);
}

/* Reconnects a connection that dropped (server restart), outside a transaction
 * only: inside one, carrying on over a new connection would commit half of it.
 */
static int dc__ready(dc__pg *s)
{
    if (PQstatus(s->conn) == CONNECTION_OK)
        return 0;
    if (s->in_tx)
        return dc__fail(s, "connection lost in a transaction", NULL);
    PQreset(s->conn);
    memset(s->prepared, 0, sizeof s->prepared);
    if (PQstatus(s->conn) != CONNECTION_OK)
        return dc__fail(s, "reconnect", NULL);
    DC_WARN(MOD, "reconnected to PostgreSQL");
    return 0;
}

/* Runs statement i (prepared on first use on this connection) with n text
 * parameters. On success *out holds the result (PQclear it) when out is not
 * NULL. */
static int dc__q(dc__pg *s, enum dc__st i, int n, const char *const *params, PGresult **out)
{
    int rc = dc__ready(s);
    if (rc)
        return rc;
    if (!s->prepared[i]) {
        char name[16];
        snprintf(name, sizeof name, "dc%d", (int)i);
        PGresult *p = PQprepare(s->conn, name, dc__sql[i], 0, NULL);
        if (PQresultStatus(p) != PGRES_COMMAND_OK) {
            rc = dc__fail(s, "prepare", p);
            PQclear(p);
            return rc;
        }
        PQclear(p);
        s->prepared[i] = 1;
    }
    char name[16];
    snprintf(name, sizeof name, "dc%d", (int)i);
    PGresult *res = PQexecPrepared(s->conn, name, n, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        rc = dc__result_err(s, dc__sql[i], res);
        PQclear(res);
        return rc;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return 0;
}

/* Like dc__q for UPDATEs: DC_ENOTFOUND when no row changed. */
static int dc__q_changed(dc__pg *s, enum dc__st i, int n, const char *const *params)
{
    PGresult *res = NULL;
    int rc = dc__q(s, i, n, params, &res);
    if (rc)
        return rc;
    rc = strcmp(PQcmdTuples(res), "0") == 0 ? DC_ENOTFOUND : 0;
    PQclear(res);
    return rc;
}

static int dc__simple(dc__pg *s, const char *sql)
{
    PGresult *res = PQexec(s->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : dc__fail(s, "query", res);
    PQclear(res);
    return rc;
}

static int pg_begin(dc__store *base)
{
    dc__pg *s = (dc__pg *)base;
    int rc = dc__ready(s);
    if (!rc)
        rc = dc__simple(s, "BEGIN");
    if (!rc)
        s->in_tx = 1;
    return rc;
}

static void pg_rollback(dc__store *base)
{
    dc__pg *s = (dc__pg *)base;
    if (s->in_tx && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        dc__simple(s, "ROLLBACK");
    s->in_tx = 0;
}

static int pg_commit(dc__store *base)
{
    dc__pg *s = (dc__pg *)base;
    int rc = dc__simple(s, "COMMIT");
    if (rc)
        pg_rollback(&s->base);
    s->in_tx = 0;
    return rc;
}

static const char *dc__v(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static int64_t dc__int(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static const char *dc__row_text(const dc__store_row *row, int col)
{
    return dc__v(row->res, row->i, col);
}

static int64_t dc__row_i64(const dc__store_row *row, int col)
{
    return dc__int(row->res, row->i, col);
}

static int dc__row_null(const dc__store_row *row, int col)
{
    return PQgetisnull(row->res, row->i, col);
}

/* The server sends float8 as text that round-trips (extra_float_digits defaults to 1 since
 * PostgreSQL 12); strtod reads it back exactly in the C locale dcalld runs in. */
static double dc__row_f64(const dc__store_row *row, int col)
{
    const char *v = dc__v(row->res, row->i, col);
    return v ? strtod(v, NULL) : 0.0;
}

/* Row i of res, for the shared row readers in store.c. */
static dc__store_row dc__row(PGresult *res, int i)
{
    return (dc__store_row){dc__row_text, dc__row_i64, dc__row_null, dc__row_f64, res, i};
}

/* Runs statement i and keeps its result when it has a row: DC_ENOTFOUND when it has none. */
static int dc__q_first(dc__pg *s, enum dc__st i, int n, const char *const *params, PGresult **out)
{
    int rc = dc__q(s, i, n, params, out);
    if (!rc && PQntuples(*out) == 0) {
        PQclear(*out);
        *out = NULL;
        rc = DC_ENOTFOUND;
    }
    return rc;
}

/* Runs statement i for one number: row 0's first column, 0 when there is no row. */
static int dc__q_int(dc__pg *s, enum dc__st i, int n, const char *const *params, int64_t *out)
{
    PGresult *res = NULL;
    int rc = dc__q(s, i, n, params, &res);
    if (rc)
        return rc;
    *out = PQntuples(res) ? dc__int(res, 0, 0) : 0;
    PQclear(res);
    return 0;
}

/* ---- open, close, schema
 * ------------------------------------------------------------------ */

static int dc__version_read(dc__pg *s, int *v)
{
    PGresult *res = PQexec(s->conn, "SELECT version FROM dcall_schema");
    int rc = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = dc__fail(s, "schema version", res);
    else
        *v = PQntuples(res) ? (int)dc__int(res, 0, 0) : 0;
    PQclear(res);
    return rc;
}

/* One migration step under the advisory lock: *done is set when the schema is
 * current. */
static int dc__migrate_step(dc__pg *s, int *done)
{
    char sql[96];
    int v = -1, rc = dc__simple(s, "SELECT pg_advisory_xact_lock(" DC__PG_MIGRATE_LOCK ")");
    if (!rc)
        rc = dc__simple(s, "CREATE TABLE IF NOT EXISTS dcall_schema (version INTEGER NOT NULL)");
    if (!rc)
        rc = dc__version_read(s, &v);
    if (rc)
        return rc;
    if (v > DC__N_MIGRATIONS) {
        DC_ERROR(MOD, "schema version %d is newer than this dcalld knows (%d)", v,
                 DC__N_MIGRATIONS);
        return DC_ESTORE;
    }
    *done = v == DC__N_MIGRATIONS;
    if (*done)
        return 0;
    if (v == 0)
        rc = dc__simple(s, "INSERT INTO dcall_schema (version) VALUES (0)");
    if (!rc)
        rc = dc__simple(s, dc__migrations[v]);
    snprintf(sql, sizeof sql, "UPDATE dcall_schema SET version = %d", v + 1);
    if (!rc)
        rc = dc__simple(s, sql);
    if (!rc)
        DC_INFO(MOD, "schema migrated to version %d", v + 1);
    return rc;
}

static int dc__migrate(dc__pg *s)
{
    for (int done = 0; !done;) {
        int rc = pg_begin(&s->base);
        if (!rc)
            rc = dc__migrate_step(s, &done);
        if (!rc)
            rc = pg_commit(&s->base);
        if (rc) {
            pg_rollback(&s->base);
            return rc;
        }
    }
    return 0;
}

static void pg_close(dc__store *base)
{
    dc__pg *s = (dc__pg *)base;
    PQfinish(s->conn);
    dc__store_fini(&s->base);
    free(s);
}

static int pg_schema_version(dc__store *base, int *out)
{
    dc__pg *s = (dc__pg *)base;
    int rc = dc__ready(s);
    return rc ? rc : dc__version_read(s, out);
}

/* A consistent online copy of a PostgreSQL database is pg_dump's job (it runs
 * in one snapshot without blocking writers); dcalld does not reimplement it. */
static int pg_backup(dc__store *base, const char *dest_path)
{
    (void)base;
    (void)dest_path;
    DC_ERROR(MOD, "dcalld backup works on SQLite stores only; back up a PostgreSQL "
                  "store with "
                  "pg_dump (e.g. pg_dump -Fc -f FILE DBNAME), see docs/operations.md");
    return DC_EINVAL;
}

/* ---- accounts
 * -----------------------------------------------------------------------------
 */

static int pg_account_fetch(dc__store *base, int by_key, const char *v, dc__account **out)
{
    dc__pg *s = (dc__pg *)base;
    enum dc__st which = by_key ? ST_ACC_BY_KEY : ST_ACC_GET;
    PGresult *res = NULL;
    const char *p[] = {v};
    int rc = dc__q_first(s, which, 1, p, &res);
    if (rc)
        return rc;
    dc__store_row row = dc__row(res, 0);
    rc = dc__store_account_row(s->base.key, &row, out);
    PQclear(res);
    return rc;
}

static int pg_account_insert(dc__store *base, const dc__account *a, const char *sealed)
{
    dc__num created;
    const char *p[] = {a->id,
                       a->api_key,
                       a->kid,
                       a->name,
                       sealed,
                       "0",
                       "0",
                       NULL,
                       "[]",
                       NULL,
                       dc__store_default_branding,
                       dc__i64(created, a->created_ms),
                       "[]"};
    return dc__q((dc__pg *)base, ST_ACC_INSERT, 13, p, NULL);
}

static int pg_account_update(dc__store *base, const dc__account *a, const dc__account_cols *c)
{
    dc__num ring, dev;
    const char *p[] = {a->id,
                       a->name,
                       dc__i64(ring, a->ring_timeout_s),
                       dc__i64(dev, a->dev_key_auth ? 1 : 0),
                       dc__opt(a->webhook_url),
                       c->events,
                       c->wh_sealed,
                       c->branding,
                       c->api_sealed,
                       a->kid[0] ? a->kid : "k1",
                       c->origins};
    return dc__q_changed((dc__pg *)base, ST_ACC_UPDATE, 11, p);
}

/* ---- dashboard sign-in ---------------------------------------------------------------------- */

static int pg_web_user_insert(dc__store *base, const dc__web_user *u)
{
    dc__num created;
    const char *p[] = {u->id, u->account_id, u->email, u->password_hash,
                       dc__i64(created, u->created_ms)};
    return dc__q((dc__pg *)base, ST_WEB_USER_INSERT, 5, p, NULL);
}

static int pg_web_user_by_email(dc__store *base, const char *email, dc__web_user *out)
{
    PGresult *res = NULL;
    const char *p[] = {email};
    int rc = dc__q_first((dc__pg *)base, ST_WEB_USER_BY_EMAIL, 1, p, &res);
    if (rc)
        return rc;
    dc__store_row row = dc__row(res, 0);
    dc__store_web_user_row(&row, out);
    PQclear(res);
    return 0;
}

static int pg_web_session_insert(dc__store *base, const dc__web_session *ws)
{
    dc__num created, expires;
    const char *p[] = {ws->token_hash,
                       ws->csrf,
                       ws->account_id,
                       ws->user_id,
                       dc__i64(created, ws->created_ms),
                       dc__i64(expires, ws->expires_ms)};
    return dc__q((dc__pg *)base, ST_WEB_SESSION_INSERT, 6, p, NULL);
}

static int pg_web_session_get(dc__store *base, const char *token_hash, int64_t now_ms,
                              dc__web_session *out)
{
    PGresult *res = NULL;
    dc__num now;
    const char *p[] = {token_hash, dc__i64(now, now_ms)};
    int rc = dc__q_first((dc__pg *)base, ST_WEB_SESSION_GET, 2, p, &res);
    if (rc)
        return rc;
    dc__store_row row = dc__row(res, 0);
    dc__store_web_session_row(&row, out);
    PQclear(res);
    return 0;
}

static int pg_web_session_delete(dc__store *base, const char *account_id, const char *token_hash)
{
    const char *p[] = {account_id, token_hash};
    return dc__q_changed((dc__pg *)base, ST_WEB_SESSION_DELETE, 2, p);
}

static int pg_web_sessions_purge(dc__store *base, int64_t now_ms)
{
    dc__num now;
    const char *p[] = {dc__i64(now, now_ms)};
    return dc__q((dc__pg *)base, ST_WEB_SESSION_PURGE, 1, p, NULL);
}

/* ---- calls
 * --------------------------------------------------------------------------------
 */

/* The webhook's event name for the delivery log: the body's "type", when it is
 * JSON. */
static char *dc__event_of(const char *body)
{
    json_t *j = json_loads(body, 0, NULL);
    const char *t = json_string_value(json_object_get(j, "type"));
    char *ev = t ? strdup(t) : NULL;
    json_decref(j);
    return ev;
}

static int pg_outbox_insert(dc__store *base, const char *account_id, dc__outbox_item *it)
{
    dc__pg *s = (dc__pg *)base;
    if (!it->url || !it->body)
        return DC_EINVAL;
    int64_t now = dc__now_ms();
    dc__num att, next, created;
    char *ev = dc__event_of(it->body);
    const char *p[] = {it->account_id[0] ? it->account_id : account_id,
                       it->kind[0] ? it->kind : "webhook",
                       it->url,
                       it->body,
                       ev,
                       dc__i64(att, it->attempts),
                       dc__i64(next, it->next_ms ? it->next_ms : now),
                       dc__i64(created, it->created_ms ? it->created_ms : now)};
    PGresult *res = NULL;
    int rc = dc__q(s, ST_OUTBOX_INSERT, 8, p, &res);
    free(ev);
    if (!rc) {
        it->id = dc__int(res, 0, 0);
        PQclear(res);
    }
    return rc;
}

typedef char dc__real[32];

/* One of the call's quality figures as a parameter: NULL when the call had no quality reports;
 * %.17g so that the stored double is the one saved. */
static const char *dc__quality_param(dc__real buf, const dc__call_rec *r, double v)
{
    if (r->q_samples <= 0)
        return NULL;
    snprintf(buf, sizeof(dc__real), "%.17g", v);
    return buf;
}

static int pg_call_upsert(dc__store *base, const dc__call_rec *r)
{
    dc__pg *s = (dc__pg *)base;
    dc__num created, answered, ended, samples;
    dc__real q[5];
    /* NULL, not "", so calls without a client id never collide in the unique
     * index */
    const char *p[] = {r->id,
                       r->account_id,
                       dc__opt(r->client_call_id),
                       r->caller,
                       r->callee,
                       dc__opt(r->caller_name),
                       r->context,
                       dc__opt(r->remote_context),
                       dc__opt(r->caller_image),
                       dc__opt(r->callee_image),
                       r->state,
                       dc__i64(created, r->created_ms),
                       dc__i64(answered, r->answered_ms),
                       dc__i64(ended, r->ended_ms),
                       r->reason,
                       r->detail,
                       r->ended_by,
                       dc__i64(samples, r->q_samples > 0 ? r->q_samples : 0),
                       dc__quality_param(q[0], r, r->mos_avg),
                       dc__quality_param(q[1], r, r->mos_min),
                       dc__quality_param(q[2], r, r->loss_pct),
                       dc__quality_param(q[3], r, r->rtt_ms),
                       dc__quality_param(q[4], r, r->jitter_ms)};
    int rc = dc__q_changed(s, ST_CALL_UPSERT, (int)(sizeof p / sizeof p[0]), p);
    /* no change: the id exists under another account, which must stay invisible
     */
    return rc == DC_ENOTFOUND ? DC_EINVAL : rc;
}

static int pg_call_save(dc__store *base, const dc__call_rec *r, dc__outbox_item *items, size_t n)
{
    /* a lone upsert is atomic by itself: one round trip on the hot path */
    if (n == 0)
        return pg_call_upsert(base, r);
    return dc__store_call_save_tx(base, r, items, n);
}

static int dc__call_fetch(dc__pg *s, enum dc__st which, int n, const char *const *p,
                          dc__call_rec **out)
{
    PGresult *res = NULL;
    int rc = dc__q_first(s, which, n, p, &res);
    if (rc)
        return rc;
    dc__store_row row = dc__row(res, 0);
    rc = dc__store_call_row(&row, out);
    PQclear(res);
    return rc;
}

static int pg_call_find_client(dc__store *base, const char *account_id, const char *caller,
                               const char *client_call_id, int64_t since_ms, dc__call_rec **out)
{
    dc__num since;
    const char *p[] = {account_id, caller, client_call_id, dc__i64(since, since_ms)};
    return dc__call_fetch((dc__pg *)base, ST_CALL_FIND_CLIENT, 4, p, out);
}

static int pg_call_load(dc__store *base, const char *account_id, const char *id, dc__call_rec **out)
{
    const char *p[] = {account_id, id};
    return dc__call_fetch((dc__pg *)base, ST_CALL_LOAD, 2, p, out);
}

/* ---- listing
 * ------------------------------------------------------------------------------
 */

/* The filters vary per request, so the listing is planned per call (not
 * prepared); every value still travels as a parameter. */
struct dc__list_params {
    const char *v[8];
    int n;
    dc__num nums[4];
    int nn;
};

static int dc__lp_add(struct dc__list_params *lp, const char *v)
{
    lp->v[lp->n] = v;
    return ++lp->n;
}

static int dc__lp_num(struct dc__list_params *lp, int64_t v)
{
    return dc__lp_add(lp, dc__i64(lp->nums[lp->nn++], v));
}

static void dc__list_sql(char *sql, size_t cap, const char *account_id, const dc__call_query *q,
                         struct dc__list_params *lp)
{
    const dc__call_filter *f = q->f;
    size_t len =
        (size_t)snprintf(sql, cap, "SELECT " DC__CALL_COLS " FROM calls WHERE account_id = $%d",
                         dc__lp_add(lp, account_id));
#define DC__APPEND(...) len += (size_t)snprintf(sql + len, len < cap ? cap - len : 0, __VA_ARGS__)
    if (f->from_ms)
        DC__APPEND(" AND created_ms >= $%d", dc__lp_num(lp, f->from_ms));
    if (f->to_ms)
        DC__APPEND(" AND created_ms < $%d", dc__lp_num(lp, f->to_ms));
    if (f->status && q->by_state)
        DC__APPEND(" AND state = $%d", dc__lp_add(lp, f->status));
    else if (f->status)
        DC__APPEND(" AND state = 'ended' AND reason = $%d", dc__lp_add(lp, f->status));
    if (f->cuid) {
        int i = dc__lp_add(lp, f->cuid);
        DC__APPEND(" AND (caller = $%d OR callee = $%d)", i, i);
    }
    if (q->cursor_id) {
        int c = dc__lp_num(lp, q->cursor_ms), id = dc__lp_add(lp, q->cursor_id);
        DC__APPEND(" AND (created_ms < $%d OR (created_ms = $%d AND id < $%d))", c, c, id);
    }
    DC__APPEND(" ORDER BY created_ms DESC, id DESC LIMIT $%d",
               dc__lp_num(lp, (int64_t)f->limit + 1));
#undef DC__APPEND
}

static int dc__list_rows(PGresult *res, int limit, json_t *arr, char **next)
{
    int rows = PQntuples(res);
    for (int i = 0; i < rows && i < limit; i++) {
        dc__call_rec *rec = NULL;
        dc__store_row row = dc__row(res, i);
        if (dc__store_call_row(&row, &rec) != 0)
            return DC_ENOMEM;
        json_array_append_new(arr, dc__call_rec_json(rec));
        /* one row past the page: there is a next page, starting after the last one
         * shown */
        if (i == limit - 1 && rows > limit) {
            *next = dc__store_cursor_make(rec->created_ms, rec->id);
            if (!*next) {
                dc__call_rec_free(rec);
                return DC_ENOMEM;
            }
        }
        dc__call_rec_free(rec);
    }
    return 0;
}

static int pg_calls_list(dc__store *base, const char *account_id, const dc__call_query *q,
                         json_t *arr, char **next_cursor)
{
    dc__pg *s = (dc__pg *)base;
    char sql[1024];
    struct dc__list_params lp = {0};
    dc__list_sql(sql, sizeof sql, account_id, q, &lp);
    int rc = dc__ready(s);
    if (rc)
        return rc;
    PGresult *res = PQexecParams(s->conn, sql, lp.n, NULL, lp.v, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = dc__fail(s, "calls list", res);
        PQclear(res);
        return rc;
    }
    rc = dc__list_rows(res, q->f->limit, arr, next_cursor);
    PQclear(res);
    return rc;
}

/* ---- recovery
 * -----------------------------------------------------------------------------
 */

static int dc__close_one(dc__pg *s, dc__call_rec *r, int64_t now_ms, const char *detail,
                         dc__recover_cb make_item, void *ud)
{
    dc__num now;
    const char *p[] = {r->account_id, r->id, detail ? detail : "", dc__i64(now, now_ms)};
    int rc = dc__q(s, ST_CALL_CLOSE, 4, p, NULL);
    return rc ? rc : dc__store_recover_item(&s->base, r, now_ms, detail, make_item, ud);
}

/* The open calls are locked (FOR UPDATE) for the length of the transaction. */
static int pg_calls_close_open(dc__store *base, int64_t now_ms, const char *detail,
                               dc__recover_cb make_item, void *ud, int *n_closed)
{
    dc__pg *s = (dc__pg *)base;
    PGresult *res = NULL;
    int n = 0, rc = pg_begin(&s->base);
    if (!rc)
        rc = dc__q(s, ST_CALL_OPEN, 0, NULL, &res);
    if (!rc)
        n = PQntuples(res);
    for (int i = 0; !rc && i < n; i++) {
        dc__call_rec *r = NULL;
        dc__store_row row = dc__row(res, i);
        rc = dc__store_call_row(&row, &r);
        if (!rc)
            rc = dc__close_one(s, r, now_ms, detail, make_item, ud);
        dc__call_rec_free(r);
    }
    PQclear(res);
    if (!rc)
        rc = pg_commit(&s->base);
    else
        pg_rollback(&s->base);
    if (n_closed)
        *n_closed = rc ? 0 : n;
    return rc;
}

/* ---- stats
 * --------------------------------------------------------------------------------
 */

static int pg_stats_slots(dc__store *base, const char *account_id, int64_t from_ms, int64_t to_ms,
                          dc__stats_cb cb, void *ud)
{
    dc__pg *s = (dc__pg *)base;
    dc__num from, to, lo_s, hi_s;
    int64_t lo, hi;
    dc__store_stats_bounds(from_ms, to_ms, &lo, &hi);
    const char *p[] = {account_id, dc__i64(lo_s, lo), dc__i64(hi_s, hi), dc__i64(from, from_ms),
                       dc__i64(to, to_ms)};
    PGresult *res = NULL;
    int rc = dc__q(s, ST_STATS, 5, p, &res);
    if (rc)
        return rc;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *mos_sum = dc__v(res, i, 6), *mos_min = dc__v(res, i, 7);
        dc__stats_slot v = {
            .slot_ms = dc__int(res, i, 0),
            .reason = PQgetvalue(res, i, 1),
            .calls = dc__int(res, i, 2),
            .answered = dc__int(res, i, 3),
            .duration_ms = dc__int(res, i, 4),
            .q_calls = dc__int(res, i, 5),
            .mos_sum = mos_sum ? strtod(mos_sum, NULL) : 0.0,
            .mos_min = mos_min ? strtod(mos_min, NULL) : 0.0,
        };
        if (v.calls > 0)
            cb(&v, ud);
    }
    PQclear(res);
    return 0;
}

/* ---- missed-call notifications
 * ------------------------------------------------------------ */

static int pg_missed_add(dc__store *base, const char *account_id, const char *cuid,
                         const char *call_id, const json_t *payload, int delivered)
{
    dc__pg *s = (dc__pg *)base;
    char *text = json_dumps(payload, JSON_COMPACT);
    if (!text)
        return DC_ENOMEM;
    dc__num now;
    const char *p[] = {
        account_id, cuid, call_id, text, delivered ? "1" : "0", dc__i64(now, dc__now_ms())};
    int rc = dc__q(s, ST_MISSED_ADD, 6, p, NULL);
    free(text);
    return rc;
}

/* Turns (id, call_id, payload) rows into an array of payload objects. */
static int dc__missed_rows(const PGresult *res, json_t **out)
{
    json_t *arr = json_array();
    if (!arr)
        return DC_ENOMEM;
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(arr,
                              dc__store_missed_json(PQgetvalue(res, i, 1), PQgetvalue(res, i, 2)));
    *out = arr;
    return 0;
}

static int dc__missed_query(dc__pg *s, enum dc__st which, int n, const char *const *p, json_t **out)
{
    PGresult *res = NULL;
    *out = NULL;
    int rc = dc__q(s, which, n, p, &res);
    if (rc)
        return rc;
    rc = dc__missed_rows(res, out);
    PQclear(res);
    return rc;
}

static int pg_missed_take(dc__store *base, const char *account_id, const char *cuid, json_t **out)
{
    const char *p[] = {account_id, cuid};
    return dc__missed_query((dc__pg *)base, ST_MISSED_TAKE, 2, p, out);
}

static int pg_missed_list(dc__store *base, const char *account_id, const char *cuid, int limit,
                          json_t **out)
{
    dc__num lim;
    const char *p[] = {account_id, cuid, dc__i64(lim, limit)};
    return dc__missed_query((dc__pg *)base, ST_MISSED_LIST, 3, p, out);
}

/* ---- revocations
 * -------------------------------------------------------------------------- */

static int pg_revoke_set(dc__store *base, const char *account_id, const char *cuid,
                         int64_t before_s)
{
    dc__num b;
    const char *p[] = {account_id, cuid, dc__i64(b, before_s)};
    return dc__q((dc__pg *)base, ST_REVOKE_SET, 3, p, NULL);
}

static int pg_revoke_get(dc__store *base, const char *account_id, const char *cuid,
                         int64_t *before_s)
{
    const char *p[] = {account_id, cuid};
    return dc__q_int((dc__pg *)base, ST_REVOKE_GET, 2, p, before_s);
}

/* ---- outbox
 * -------------------------------------------------------------------------------
 */

/* Claims the due items (see DC__PG_OUTBOX_LEASE_MS): rows another node is
 * claiming right now are skipped, not waited for, and a claimed row is
 * invisible to every other due() until the lease runs out. Items keep reporting
 * the next_ms they were due at. */
static int pg_outbox_due(dc__store *base, int64_t now_ms, size_t max, dc__outbox_item **items,
                         size_t *n)
{
    dc__pg *s = (dc__pg *)base;
    dc__num now, lim, lease;
    const char *p[] = {dc__i64(now, now_ms), dc__i64(lim, (int64_t)max),
                       dc__i64(lease, DC__PG_OUTBOX_LEASE_MS)};
    PGresult *res = NULL;
    int rc = dc__q(s, ST_OUTBOX_DUE, 3, p, &res);
    if (rc)
        return rc;
    size_t count = (size_t)PQntuples(res);
    dc__outbox_item *arr = count ? calloc(count, sizeof *arr) : NULL;
    if (count && !arr)
        rc = DC_ENOMEM;
    for (size_t i = 0; !rc && i < count; i++) {
        dc__store_row row = dc__row(res, (int)i);
        rc = dc__store_outbox_item_row(&row, &arr[i]);
    }
    PQclear(res);
    if (rc) {
        dc__outbox_items_free(arr, count);
        return rc;
    }
    *items = arr;
    *n = count;
    return 0;
}

/* The successful delivery counts as an attempt. */
static int pg_outbox_done(dc__store *base, int64_t id, int64_t now_ms, int http_status)
{
    dc__num i, now, st;
    const char *p[] = {dc__i64(i, id), dc__i64(now, now_ms), dc__i64(st, http_status)};
    return dc__q_changed((dc__pg *)base, ST_OUTBOX_DONE, 3, p);
}

static int pg_outbox_retry(dc__store *base, int64_t id, int attempts, int64_t next_ms,
                           const char *error)
{
    dc__num i, att, next;
    const char *p[] = {dc__i64(i, id), dc__i64(att, attempts), dc__i64(next, next_ms),
                       dc__opt(error)};
    return dc__q_changed((dc__pg *)base, ST_OUTBOX_RETRY, 4, p);
}

static int pg_outbox_fail(dc__store *base, int64_t id, const char *error)
{
    dc__num i;
    const char *p[] = {dc__i64(i, id), dc__opt(error)};
    return dc__q_changed((dc__pg *)base, ST_OUTBOX_FAIL, 2, p);
}

static int pg_outbox_depth(dc__store *base, int64_t *n)
{
    return dc__q_int((dc__pg *)base, ST_OUTBOX_DEPTH, 0, NULL, n);
}

static int pg_outbox_log(dc__store *base, const char *account_id, int limit, json_t **out)
{
    dc__num lim;
    const char *p[] = {account_id, dc__i64(lim, limit)};
    PGresult *res = NULL;
    *out = NULL;
    int rc = dc__q((dc__pg *)base, ST_OUTBOX_LOG, 2, p, &res);
    if (rc)
        return rc;
    json_t *arr = json_array();
    for (int i = 0; arr && i < PQntuples(res); i++) {
        dc__store_row row = dc__row(res, i);
        json_array_append_new(arr, dc__store_outbox_log_row(&row));
    }
    PQclear(res);
    *out = arr;
    return arr ? 0 : DC_ENOMEM;
}

/* ---- the handle
 * ---------------------------------------------------------------------------
 */

static const struct dc__store_ops dc__postgres_ops = {
    .close = pg_close,
    .backup = pg_backup,
    .schema_version = pg_schema_version,
    .account_insert = pg_account_insert,
    .account_fetch = pg_account_fetch,
    .account_update = pg_account_update,
    .web_user_insert = pg_web_user_insert,
    .web_user_by_email = pg_web_user_by_email,
    .web_session_insert = pg_web_session_insert,
    .web_session_get = pg_web_session_get,
    .web_session_delete = pg_web_session_delete,
    .web_sessions_purge = pg_web_sessions_purge,
    .call_save = pg_call_save,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .call_upsert = pg_call_upsert,
    .outbox_insert = pg_outbox_insert,
    .call_find_client = pg_call_find_client,
    .call_load = pg_call_load,
    .calls_list = pg_calls_list,
    .calls_close_open = pg_calls_close_open,
    .stats_slots = pg_stats_slots,
    .missed_add = pg_missed_add,
    .missed_take = pg_missed_take,
    .missed_list = pg_missed_list,
    .revoke_set = pg_revoke_set,
    .revoke_get = pg_revoke_get,
    .outbox_due = pg_outbox_due,
    .outbox_done = pg_outbox_done,
    .outbox_retry = pg_outbox_retry,
    .outbox_fail = pg_outbox_fail,
    .outbox_depth = pg_outbox_depth,
    .outbox_log = pg_outbox_log,
};

/* Server notices (e.g. "relation already exists, skipping") are routine: keep
 * them out of the log unless debugging. */
static void dc__notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

int dc__store_postgres_open(const char *url, const unsigned char master_key[32], dc__store **out)
{
    dc__pg *s = calloc(1, sizeof *s);
    if (!s)
        return DC_ENOMEM;
    dc__store_init(&s->base, &dc__postgres_ops, master_key);
    int rc = 0;
    /* the URL may hold a password: it is never logged, only libpq's message is */
    s->conn = PQconnectdb(url);
    if (!s->conn) {
        rc = DC_ENOMEM;
    } else if (PQstatus(s->conn) != CONNECTION_OK) {
        rc = dc__fail(s, "cannot connect to PostgreSQL", NULL);
    } else {
        PQsetNoticeProcessor(s->conn, dc__notice, NULL);
        rc = dc__simple(s, "SET client_encoding = 'UTF8'");
        if (!rc)
            rc = dc__migrate(s);
    }
    if (rc) {
        pg_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}
