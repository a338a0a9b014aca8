/* The store contract (store_suite.h) on a real SQLite file in a temp dir, plus what only the
 * SQLite backend does (file mode, online backup, plain-path URLs). */
#include "store_suite.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

static int setup(void **state)
{
    struct fx *f = fx_new("/tmp/dcall-test-store-XXXXXX");
    if (!f)
        return -1;
    /* a data dir that does not exist yet: open must create it */
    strcat(f->dir, "/data");
    snprintf(f->url, sizeof f->url, "sqlite:");
    if (dc__store_open(NULL, f->dir, KEY, &f->s) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    /* the tree to remove is the temp dir above the data dir */
    *strrchr(f->dir, '/') = 0;
    fx_free(f);
    return 0;
}

/* Schema version 1 as dcalld shipped it (store_sqlite.c's first migration), frozen here: old data
 * dirs hold exactly this, whatever later migrations add. */
static const char V1_SCHEMA[] =
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
    "CREATE INDEX outbox_acc ON outbox(account_id, id);";

static void fx_v1_store(struct fx *f, const char *rows_sql, char *url, size_t cap)
{
    char path[200];
    snprintf(path, sizeof path, "%s/v1.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, V1_SCHEMA, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, rows_sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    snprintf(url, cap, "sqlite:%s", path);
}

/* 1 when needle occurs anywhere in the file's bytes. */
static int file_contains(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, fp);
    fclose(fp);
    int found = memmem(buf, got, needle, strlen(needle)) != NULL;
    free(buf);
    return found;
}

/* The main file and the WAL. */
static int fx_disk_contains(struct fx *f, const char *needle)
{
    char path[160], wal[170];
    snprintf(path, sizeof path, "%s/dcall.db", f->dir);
    snprintf(wal, sizeof wal, "%s-wal", path);
    assert_true(access(path, F_OK) == 0);
    return file_contains(path, needle) || file_contains(wal, needle);
}

static void test_sqlite_file_mode(void **state)
{
    struct fx *f = *state;
    dc__account *a = new_account(f->s, "Acme");
    char path[160];
    snprintf(path, sizeof path, "%s/dcall.db", f->dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    dc__account_free(a);
}

static void test_sqlite_backup(void **state)
{
    struct fx *f = *state;
    int v = 0;
    dc__account *a = new_account(f->s, "Acme");
    seed_calls(f->s, a->id, "b", 4, 1700000000000);

    char path[160];
    snprintf(path, sizeof path, "%s/backup.db", f->dir);
    assert_int_equal(dc__store_backup(f->s, path), 0);
    dc__store *bk = NULL;
    char url[180];
    snprintf(url, sizeof url, "sqlite:%s", path);
    assert_int_equal(dc__store_open(url, NULL, KEY, &bk), 0);
    dc__account *g = NULL;
    assert_int_equal(dc__store_account_get(bk, a->id, &g), 0);
    assert_string_equal(g->api_secret, a->api_secret);
    dc__account_free(g);
    dc__call_rec *l = NULL;
    assert_int_equal(dc__store_call_load(bk, a->id, "c_b0003", &l), 0);
    dc__call_rec_free(l);
    assert_int_equal(dc__store_schema_version(bk, &v), 0);
    assert_int_equal(v, DC__SCHEMA_VERSION);
    dc__store_close(bk);

    /* reopen the original by plain path */
    dc__store_close(f->s);
    f->s = NULL;
    snprintf(path, sizeof path, "%s/dcall.db", f->dir);
    assert_int_equal(dc__store_open(path, NULL, KEY, &f->s), 0);
    assert_int_equal(dc__store_call_load(f->s, a->id, "c_b0000", &l), 0);
    assert_string_equal(l->reason, "declined");
    dc__call_rec_free(l);
    dc__account_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        STORE_SUITE_TESTS(setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_file_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_backup, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
