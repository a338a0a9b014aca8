/* Stats benchmark, store side (bench/README.md, "stats"): fills a dcalld data dir's SQLite file
 * with N ended call records spread over D days (bulk SQL matching the schema, through the live
 * rollup triggers, as dcalld would have written them), then times the 30-day stats query:
 *   - dc__stats_query (what GET /v1/stats runs: rollup + edge slots, buckets, JSON), hour and day;
 *   - dc__store_stats_slots alone;
 *   - the baseline: the same figures computed by scanning the calls table, and the query dcalld
 *     used before the rollup (counts only), on the same file in the same run.
 * Prints one JSON object on stdout.
 *
 *   stats_bench --data DIR --account ACC [--other ACC2] [--fill N] [--days D] [--runs R]
 *               [--baseline-runs R] [--seed S]
 */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/crypto.h"
#include "common/util.h"
#include "server/server.h"

#define DAY_MS 86400000LL

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void) /* xorshift64*: reproducible with --seed */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}
static double rnd01(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

/* A realistic mix (per 1,000): most calls complete; about a third of the rest is missed. */
static const struct {
    const char *reason;
    int per_mille;
    int answered;
} mix[] = {{"completed", 550, 1},   {"declined", 100, 0}, {"missed", 150, 0},
           {"cancelled", 80, 0},    {"busy", 40, 0},      {"unreachable", 50, 0},
           {"network_loss", 20, 1}, {"failed", 10, 0}};

static int fill(sqlite3 *db, const char *acc, long n, int64_t from_ms, int64_t span_ms, long *q)
{
    sqlite3_stmt *st = NULL;
    const char *sql =
        "INSERT INTO calls (id, account_id, client_call_id, caller, callee, context, state,"
        " created_ms, answered_ms, ended_ms, reason, detail, ended_by, q_samples, mos_avg, mos_min,"
        " loss_pct, rtt_ms, jitter_ms) VALUES (?1, ?2, ?3, ?4, ?5, 'Your ride #4821', 'ended', ?6,"
        " ?7, ?8, ?9, '', 'server', ?10, ?11, ?12, ?13, ?14, ?15)";
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    char id[40], ccid[24], caller[24], callee[24];
    for (long i = 0; i < n; i++) {
        int r = (int)(rnd() % 1000), k = 0;
        while (r >= mix[k].per_mille)
            r -= mix[k++].per_mille;
        int64_t created = from_ms + (int64_t)(rnd01() * (double)span_ms);
        int64_t answered = 0, ended = created + 2000 + (int64_t)(rnd() % 33000);
        if (mix[k].answered) {
            answered = created + 3000 + (int64_t)(rnd() % 15000);
            /* 5 s .. 10 min, most calls a few minutes */
            ended = answered + 5000 + (int64_t)(pow(rnd01(), 2.0) * 595000.0);
        }
        snprintf(id, sizeof id, "c_%s%08lx%04lx", acc + 4, i, (long)(rnd() & 0xffff));
        snprintf(ccid, sizeof ccid, "b%ld", i);
        snprintf(caller, sizeof caller, "rider_%lu", (unsigned long)(rnd() % 50000));
        snprintf(callee, sizeof callee, "driver_%lu", (unsigned long)(rnd() % 5000));
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, acc, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, ccid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, caller, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, callee, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 6, created);
        sqlite3_bind_int64(st, 7, answered);
        sqlite3_bind_int64(st, 8, ended);
        sqlite3_bind_text(st, 9, mix[k].reason, -1, SQLITE_STATIC);
        /* most answered calls carry voice quality (one report every 5 s of media) */
        int with_q = answered && rnd01() < 0.9;
        int samples = with_q ? 1 + (int)((ended - answered) / 5000) : 0;
        sqlite3_bind_int(st, 10, samples);
        for (int c = 11; c <= 15; c++)
            sqlite3_bind_null(st, c);
        if (with_q) {
            double avg = 3.2 + rnd01() * 1.2, min = avg - rnd01() * 1.0;
            sqlite3_bind_double(st, 11, avg);
            sqlite3_bind_double(st, 12, min < 1.0 ? 1.0 : min);
            sqlite3_bind_double(st, 13, rnd01() * 3.0);
            sqlite3_bind_double(st, 14, 20.0 + rnd01() * 200.0);
            sqlite3_bind_double(st, 15, 2.0 + rnd01() * 30.0);
            (*q)++;
        }
        if (sqlite3_step(st) != SQLITE_DONE) {
            fprintf(stderr, "stats_bench: insert: %s\n", sqlite3_errmsg(db));
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* {"runs","first_ms","p50_ms","p99_ms","min_ms","max_ms"} of ms[0..n) (ms[0] is the first run). */
static void print_times(const char *name, double *ms, int n, const char *tail)
{
    double first = ms[0];
    qsort(ms, (size_t)n, sizeof *ms, cmp_d);
    int i99 = (int)ceil(0.99 * n) - 1;
    printf("  \"%s\": {\"runs\": %d, \"first_ms\": %.3f, \"p50_ms\": %.3f, \"p99_ms\": %.3f,"
           " \"min_ms\": %.3f, \"max_ms\": %.3f}%s\n",
           name, n, first, ms[(n - 1) / 2], ms[i99 < 0 ? 0 : i99], ms[0], ms[n - 1], tail);
}

typedef struct {
    int64_t calls, answered, q_calls, rows;
} totals;

static void count_slot(const dc__stats_slot *v, void *ud)
{
    totals *t = ud;
    t->calls += v->calls;
    t->answered += v->answered;
    t->q_calls += v->q_calls;
    t->rows++;
}

/* One run of a baseline query; fills t from its columns (slot, reason, count[, answered, dur,
 * q_calls, ...]). */
static double run_scan(sqlite3 *db, const char *sql, const char *acc, int64_t from, int64_t to,
                       totals *t)
{
    sqlite3_stmt *st = NULL;
    double t0 = now_s();
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "stats_bench: %s\n", sqlite3_errmsg(db));
        exit(1);
    }
    sqlite3_bind_text(st, 1, acc, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, from);
    sqlite3_bind_int64(st, 3, to);
    memset(t, 0, sizeof *t);
    int cols = sqlite3_column_count(st);
    while (sqlite3_step(st) == SQLITE_ROW) {
        t->rows++;
        t->calls += sqlite3_column_int64(st, 2);
        if (cols > 3) {
            t->answered += sqlite3_column_int64(st, 3);
            t->q_calls += sqlite3_column_int64(st, 5);
        }
    }
    sqlite3_finalize(st);
    return (now_s() - t0) * 1000.0;
}

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return def;
}

int main(int argc, char **argv)
{
    const char *dir = arg(argc, argv, "--data", NULL), *acc = arg(argc, argv, "--account", NULL);
    const char *other = arg(argc, argv, "--other", NULL);
    long n = atol(arg(argc, argv, "--fill", "0"));
    int days = atoi(arg(argc, argv, "--days", "30")), runs = atoi(arg(argc, argv, "--runs", "20"));
    int bruns = atoi(arg(argc, argv, "--baseline-runs", "10"));
    rng_state ^= (uint64_t)atoll(arg(argc, argv, "--seed", "1")) * 0x100000001b3ULL;
    if (!dir || !acc || days < 1 || days > 30 || runs < 1 || runs > 1000 || bruns < 1) {
        fprintf(stderr, "usage: stats_bench --data DIR --account ACC [--other ACC2] [--fill N]"
                        " [--days 1-30] [--runs R] [--baseline-runs R] [--seed S]\n");
        return 2;
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/dcall.db", dir);
    int64_t to = dc__now_ms(), from = to - days * DAY_MS;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fprintf(stderr, "stats_bench: open %s: %s (run dcalld account create first)\n", path,
                db ? sqlite3_errmsg(db) : "?");
        return 1;
    }
    sqlite3_busy_timeout(db, 5000);
    printf("{\n");
    if (n > 0) {
        long q = 0, oq = 0, on = other ? n / 10 : 0;
        double t0 = now_s();
        if (fill(db, acc, n, from, days * DAY_MS, &q) ||
            (on && fill(db, other, on, from, days * DAY_MS, &oq))) {
            fprintf(stderr, "stats_bench: fill failed: %s\n", sqlite3_errmsg(db));
            return 1;
        }
        double secs = now_s() - t0;
        sqlite3_stmt *st = NULL;
        int64_t pages = 0, psize = 0, rollup = 0;
        if (sqlite3_prepare_v2(db,
                               "SELECT (SELECT page_count FROM pragma_page_count),"
                               " (SELECT page_size FROM pragma_page_size),"
                               " (SELECT count(*) FROM call_stats)",
                               -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            pages = sqlite3_column_int64(st, 0);
            psize = sqlite3_column_int64(st, 1);
            rollup = sqlite3_column_int64(st, 2);
        }
        sqlite3_finalize(st);
        printf("  \"fill\": {\"calls\": %ld, \"with_quality\": %ld, \"other_account_calls\": %ld,"
               " \"days\": %d, \"seconds\": %.1f, \"inserts_per_s\": %.0f, \"db_mb\": %.1f,"
               " \"rollup_rows\": %lld},\n",
               n, q, on, days, secs, (double)(n + on) / secs, (double)(pages * psize) / 1048576.0,
               (long long)rollup);
    }
    printf("  \"range\": {\"from_ms\": %lld, \"to_ms\": %lld, \"days\": %d},\n", (long long)from,
           (long long)to, days);

    /* the store call, as dcalld runs it */
    unsigned char key[32];
    dc__store *store = NULL;
    if (dc__master_key_load(dir, key) || dc__store_open(NULL, dir, key, &store)) {
        fprintf(stderr, "stats_bench: cannot open the store in %s\n", dir);
        return 1;
    }
    double *ms = calloc((size_t)(runs > bruns ? runs : bruns), sizeof *ms);
    const char *grans[] = {"hour", "day"};
    int64_t total_calls = 0;
    for (int g = 0; g < 2; g++) {
        for (int i = 0; i < runs; i++) {
            json_t *out = NULL;
            double t0 = now_s();
            if (dc__stats_query(store, acc, from, to, grans[g], "UTC", &out)) {
                fprintf(stderr, "stats_bench: stats query failed\n");
                return 1;
            }
            ms[i] = (now_s() - t0) * 1000.0;
            total_calls =
                json_integer_value(json_object_get(json_object_get(out, "summary"), "total"));
            json_decref(out);
        }
        char name[32];
        snprintf(name, sizeof name, "stats_query_%s", grans[g]);
        print_times(name, ms, runs, ",");
    }
    totals rt = {0};
    for (int i = 0; i < runs; i++) {
        memset(&rt, 0, sizeof rt);
        double t0 = now_s();
        dc__store_stats_slots(store, acc, from, to, count_slot, &rt);
        ms[i] = (now_s() - t0) * 1000.0;
    }
    print_times("store_stats_slots", ms, runs, ",");
    dc__store_close(store);

    /* the baselines: scanning the calls table */
    static const char scan_full[] =
        "SELECT created_ms - created_ms % 900000, reason, count(*), sum(answered_ms > 0),"
        " sum(CASE WHEN answered_ms > 0 AND ended_ms >= answered_ms THEN ended_ms - answered_ms"
        " ELSE 0 END), sum(q_samples > 0), total(CASE WHEN q_samples > 0 THEN mos_avg ELSE 0 END),"
        " min(CASE WHEN q_samples > 0 THEN mos_min END) FROM calls WHERE account_id = ?1"
        " AND state = 'ended' AND created_ms >= ?2 AND created_ms < ?3 GROUP BY 1, 2";
    static const char scan_old[] =
        "SELECT (created_ms / 900000) * 900000, reason, count(*) FROM calls"
        " WHERE account_id = ? AND state = 'ended' AND created_ms >= ? AND created_ms < ?"
        " GROUP BY 1, 2 ORDER BY 1, 2";
    totals ft = {0}, ot = {0};
    for (int i = 0; i < bruns; i++)
        ms[i] = run_scan(db, scan_full, acc, from, to, &ft);
    print_times("baseline_scan_same_figures", ms, bruns, ",");
    for (int i = 0; i < bruns; i++)
        ms[i] = run_scan(db, scan_old, acc, from, to, &ot);
    print_times("baseline_old_query_counts_only", ms, bruns, ",");
    int same = rt.calls == ft.calls && rt.answered == ft.answered && rt.q_calls == ft.q_calls &&
               rt.calls == ot.calls && total_calls == rt.calls;
    printf("  \"check\": {\"calls_in_range\": %lld, \"answered\": %lld, \"with_quality\": %lld,"
           " \"rollup_equals_scan\": %s}\n}\n",
           (long long)rt.calls, (long long)rt.answered, (long long)rt.q_calls,
           same ? "true" : "false");
    free(ms);
    sqlite3_close(db);
    return same ? 0 : 3;
}
