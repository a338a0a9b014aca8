/* The store contract (store_suite.h) on a real PostgreSQL 15 server started by pg_fixture.c, one
 * fresh database per test, plus what only the PostgreSQL backend does: several nodes on one
 * database (outbox claims, concurrent migrations), reconnects, URL forms, no built-in backup. */
#include "store_suite.h"

#include <pthread.h>
#include <unistd.h>

#include "pg_fixture.h"

static pg_fixture PG;

static int setup(void **state)
{
    struct fx *f = fx_new("/tmp/dcall-test-store-pg-XXXXXX");
    if (!f || pg_fixture_new_db(&PG, f->url, sizeof f->url) != 0)
        return -1;
    if (dc__store_open(f->url, f->dir, KEY, &f->s) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_free(*state);
    return 0;
}

/* Schema version 1 as dcalld shipped it (store_postgres.c's first migration), frozen here: old
 * databases hold exactly this, whatever later migrations add. */
static const char V1_SCHEMA[] =
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
    "CREATE INDEX outbox_acc ON outbox(account_id, id);"
    "CREATE TABLE dcall_schema (version INTEGER NOT NULL);"
    "INSERT INTO dcall_schema (version) VALUES (1);";

static void fx_v1_store(struct fx *f, const char *rows_sql, char *url, size_t cap)
{
    (void)f;
    assert_int_equal(pg_fixture_new_db(&PG, url, cap), 0);
    const char *db = strrchr(url, '/') + 1;
    assert_int_equal(pg_fixture_exec(&PG, db, V1_SCHEMA), 0);
    assert_int_equal(pg_fixture_exec(&PG, db, rows_sql), 0);
}

/* Every file of the cluster (heap, indexes, WAL) after a checkpoint. */
static int fx_disk_contains(struct fx *f, const char *needle)
{
    (void)f;
    int r = pg_fixture_disk_contains(&PG, needle);
    assert_true(r >= 0);
    return r;
}

static void test_pg_backup_refused(void **state)
{
    struct fx *f = *state;
    char path[160];
    snprintf(path, sizeof path, "%s/backup.db", f->dir);
    assert_int_equal(dc__store_backup(f->s, path), DC_EINVAL);
    assert_int_equal(access(path, F_OK), -1);
}

static void test_pg_urls(void **state)
{
    struct fx *f = *state;
    dc__account *a = new_account(f->s, "Acme"), *g = NULL;
    /* the postgres:// spelling reaches the same database */
    char url[260];
    assert_int_equal(strncmp(f->url, "postgresql://", 13), 0);
    snprintf(url, sizeof url, "postgres://%s", f->url + 13);
    dc__store *s2 = NULL;
    assert_int_equal(dc__store_open(url, NULL, KEY, &s2), 0);
    assert_int_equal(dc__store_account_get(s2, a->id, &g), 0);
    assert_string_equal(g->api_secret, a->api_secret);
    dc__account_free(g);
    dc__store_close(s2);
    /* nothing listens on port 1: open fails cleanly */
    s2 = NULL;
    assert_int_equal(dc__store_open("postgresql://dcall@127.0.0.1:1/x", NULL, KEY, &s2), DC_ESTORE);
    assert_null(s2);
    dc__account_free(a);
}

/* After the server drops the connection, the handle reconnects (and prepares again). */
static void test_pg_reconnect(void **state)
{
    struct fx *f = *state;
    dc__account *a = new_account(f->s, "Acme"), *g = NULL;
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'",
             strrchr(f->url, '/') + 1);
    assert_int_equal(pg_fixture_exec(&PG, NULL, sql), 0);
    /* the first use finds the connection gone; a later one must work again */
    int rc = dc__store_account_get(f->s, a->id, &g);
    dc__account_free(g);
    g = NULL;
    if (rc != 0)
        assert_int_equal(rc, DC_ESTORE);
    assert_int_equal(dc__store_account_get(f->s, a->id, &g), 0);
    assert_string_equal(g->name, "Acme");
    dc__account_free(g);
    dc__account_free(a);
}

#define N_ITEMS 60

struct node {
    const char *url;
    pthread_barrier_t *go;
    int64_t got[N_ITEMS];
    int n;
    int err;
};

/* One dcalld node's outbox worker: claims small batches until nothing is due. */
static void *node_main(void *arg)
{
    struct node *nd = arg;
    dc__store *s = NULL;
    nd->err = dc__store_open(nd->url, NULL, KEY, &s);
    pthread_barrier_wait(nd->go);
    /* bounded: were claims not exclusive, both nodes would see the same items forever */
    for (int empty = 0, rounds = 0; !nd->err && empty < 3 && rounds < 1000; rounds++) {
        dc__outbox_item *items = NULL;
        size_t n = 0;
        nd->err = dc__store_outbox_due(s, 5000, 3, &items, &n);
        empty = n ? 0 : empty + 1;
        for (size_t i = 0; i < n && nd->n < N_ITEMS; i++)
            nd->got[nd->n++] = items[i].id;
        dc__outbox_items_free(items, n);
    }
    dc__store_close(s);
    return NULL;
}

static void test_pg_outbox_two_nodes(void **state)
{
    struct fx *f = *state;
    dc__account *a = new_account(f->s, "Acme");
    dc__call_rec r;
    fill_call(&r, a->id, "c_ob", "ob", "rider_1", "driver_7", 1000);
    dc__outbox_item it[N_ITEMS];
    memset(it, 0, sizeof it);
    for (int i = 0; i < N_ITEMS; i++) {
        it[i].url = (char *)"https://example.com/hook";
        it[i].body = (char *)"{\"type\":\"call.placed\"}";
        it[i].next_ms = 1000 + i;
    }
    assert_int_equal(dc__store_call_save(f->s, &r, it, N_ITEMS), 0);

    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    struct node nodes[2] = {{.url = f->url, .go = &go}, {.url = f->url, .go = &go}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, node_main, &nodes[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    /* every item went to exactly one node */
    int seen[N_ITEMS] = {0};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(nodes[k].err, 0);
        for (int i = 0; i < nodes[k].n; i++) {
            int idx = (int)(nodes[k].got[i] - it[0].id);
            assert_true(idx >= 0 && idx < N_ITEMS);
            seen[idx]++;
        }
    }
    for (int i = 0; i < N_ITEMS; i++)
        assert_int_equal(seen[i], 1);
    print_message("outbox items claimed by node 1: %d, node 2: %d\n", nodes[0].n, nodes[1].n);

    /* a claim is a lease: a node that died holding it has the item delivered again after */
    dc__outbox_item *due = NULL;
    size_t n = 0;
    assert_int_equal(dc__store_outbox_due(f->s, 5000 + 600000 - 1, 100, &due, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(dc__store_outbox_due(f->s, 5000 + 600000, 100, &due, &n), 0);
    assert_int_equal(n, N_ITEMS);
    assert_int_equal(due[0].next_ms, 5000 + 600000); /* the time it became due again */
    dc__outbox_items_free(due, n);
    /* a settled item is not leased again */
    assert_int_equal(dc__store_outbox_done(f->s, it[0].id, 700000, 200), 0);
    int64_t depth = 0;
    assert_int_equal(dc__store_outbox_depth(f->s, &depth), 0);
    assert_int_equal(depth, N_ITEMS - 1);
    assert_int_equal(dc__store_outbox_due(f->s, 100000000, 100, &due, &n), 0);
    assert_int_equal(n, N_ITEMS - 1);
    dc__outbox_items_free(due, n);
    dc__account_free(a);
}

struct opener {
    const char *url;
    pthread_barrier_t *go;
    int rc, version;
};

static void *opener_main(void *arg)
{
    struct opener *o = arg;
    dc__store *s = NULL;
    pthread_barrier_wait(o->go);
    o->rc = dc__store_open(o->url, NULL, KEY, &s);
    if (!o->rc)
        o->rc = dc__store_schema_version(s, &o->version);
    dc__store_close(s);
    return NULL;
}

/* Nodes starting together on an empty database: one migrates, the others wait and see it. */
static void test_pg_concurrent_migration(void **state)
{
    (void)state;
    char url[256];
    assert_int_equal(pg_fixture_new_db(&PG, url, sizeof url), 0);
    enum { N = 4 };
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N);
    struct opener o[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        o[i] = (struct opener){.url = url, .go = &go, .rc = -1};
        assert_int_equal(pthread_create(&th[i], NULL, opener_main, &o[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(o[i].rc, 0);
        assert_int_equal(o[i].version, DC__SCHEMA_VERSION);
    }
    pthread_barrier_destroy(&go);
}

int main(void)
{
    if (pg_fixture_start(&PG) != 0) {
        fprintf(stderr, "test_store_pg: FAIL: could not start a PostgreSQL server\n");
        pg_fixture_stop(&PG);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        STORE_SUITE_TESTS(setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_backup_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_urls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_outbox_two_nodes, setup, teardown),
        cmocka_unit_test(test_pg_concurrent_migration),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    pg_fixture_stop(&PG);
    return failed;
}
