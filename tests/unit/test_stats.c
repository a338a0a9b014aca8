/* Stats bucketing in a time zone (src/server/stats.c) over a real SQLite store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "server/server.h"

static char dir[64];
static dc__store *st;
static dc__account *g_acct;
static int seq;

static void add_call(const char *iso_created, const char *reason)
{
    dc__call_rec r;
    memset(&r, 0, sizeof r);
    snprintf(r.id, sizeof r.id, "c_stats%04d", seq);
    snprintf(r.client_call_id, sizeof r.client_call_id, "k%d", seq++);
    snprintf(r.account_id, sizeof r.account_id, "%s", g_acct->id);
    snprintf(r.caller, sizeof r.caller, "rider_1");
    snprintf(r.callee, sizeof r.callee, "driver_7");
    r.context = "Ride";
    snprintf(r.state, sizeof r.state, "ended");
    snprintf(r.reason, sizeof r.reason, "%s", reason);
    assert_int_equal(dc__parse_iso8601(iso_created, &r.created_ms), 0);
    r.ended_ms = r.created_ms + 1000;
    assert_int_equal(dc__store_call_save(st, &r, NULL, 0), 0);
}

static int setup(void **state)
{
    (void)state;
    unsigned char key[32] = {9};
    snprintf(dir, sizeof dir, "/tmp/dcall-test-stats-XXXXXX");
    if (!mkdtemp(dir) || dc__store_open(NULL, dir, key, &st) < 0 ||
        dc__store_account_create(st, "Stats", &g_acct) < 0)
        return -1;
    /* India is +05:30: 2026-11-23T19:00Z is Nov 24 local, 18:00Z is Nov 23 local. */
    add_call("2026-11-23T18:00:00Z", "completed");
    add_call("2026-11-23T19:00:00Z", "completed");
    add_call("2026-11-23T19:10:00Z", "declined");
    add_call("2026-11-24T10:00:00Z", "missed");
    add_call("2026-11-24T10:14:59Z", "busy");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    dc__account_free(g_acct);
    dc__store_close(st);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static json_t *query(const char *from, const char *to, const char *g, const char *tz)
{
    int64_t f, t;
    json_t *out = NULL;
    assert_int_equal(dc__parse_iso8601(from, &f), 0);
    assert_int_equal(dc__parse_iso8601(to, &t), 0);
    assert_int_equal(dc__stats_query(st, g_acct->id, f, t, g, tz, &out), 0);
    return out;
}

static json_int_t count(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static void day_buckets_follow_kolkata(void **state)
{
    (void)state;
    json_t *o = query("2026-11-23T00:00:00Z", "2026-11-25T00:00:00Z", "day", "Asia/Kolkata");
    json_t *b = json_object_get(o, "buckets");
    assert_int_equal(count(json_object_get(o, "totals"), "completed"), 2);
    assert_int_equal(count(json_object_get(o, "totals"), "missed"), 1);
    /* Buckets start at local midnight: 18:30Z the day before. */
    assert_string_equal(json_string_value(json_object_get(json_array_get(b, 0), "start")),
                        "2026-11-22T18:30:00.000Z");
    assert_string_equal(json_string_value(json_object_get(json_array_get(b, 1), "start")),
                        "2026-11-23T18:30:00.000Z");
    /* 18:00Z belongs to Nov 23 local; 19:00Z and 19:10Z to Nov 24 local. */
    assert_int_equal(count(json_array_get(b, 0), "completed"), 1);
    assert_int_equal(count(json_array_get(b, 1), "completed"), 1);
    assert_int_equal(count(json_array_get(b, 1), "declined"), 1);
    assert_int_equal(count(json_array_get(b, 1), "missed"), 1);
    assert_int_equal(count(json_array_get(b, 1), "busy"), 1);
    json_decref(o);
}

static void day_buckets_in_utc_differ(void **state)
{
    (void)state;
    json_t *o = query("2026-11-23T00:00:00Z", "2026-11-25T00:00:00Z", "day", "UTC");
    json_t *b = json_object_get(o, "buckets");
    assert_int_equal(json_array_size(b), 2);
    assert_int_equal(count(json_array_get(b, 0), "completed"), 2);
    assert_int_equal(count(json_array_get(b, 0), "declined"), 1);
    assert_int_equal(count(json_array_get(b, 1), "missed"), 1);
    json_decref(o);
}

static void hour_buckets_on_half_hours(void **state)
{
    (void)state;
    json_t *o = query("2026-11-24T09:30:00Z", "2026-11-24T11:30:00Z", "hour", "Asia/Kolkata");
    json_t *b = json_object_get(o, "buckets");
    assert_int_equal(json_array_size(b), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(b, 0), "start")),
                        "2026-11-24T09:30:00.000Z");
    assert_int_equal(count(json_array_get(b, 0), "missed"), 1);
    assert_int_equal(count(json_array_get(b, 0), "busy"), 1);
    json_decref(o);
}

static void week_starts_monday_and_dst_days(void **state)
{
    (void)state;
    json_t *o = query("2026-11-24T00:00:00Z", "2026-11-30T00:00:00Z", "week", "UTC");
    /* 2026-11-24 is a Tuesday: the week began Monday 2026-11-23. */
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(o, "buckets"), 0), "start")),
                        "2026-11-23T00:00:00.000Z");
    json_decref(o);
    /* New York leaves DST on 2026-11-01: that local day lasts 25 hours. */
    o = query("2026-10-31T12:00:00Z", "2026-11-03T00:00:00Z", "day", "America/New_York");
    json_t *b = json_object_get(o, "buckets");
    assert_string_equal(json_string_value(json_object_get(json_array_get(b, 1), "start")),
                        "2026-11-01T04:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(json_array_get(b, 2), "start")),
                        "2026-11-02T05:00:00.000Z");
    json_decref(o);
}

static void bad_zone_refused(void **state)
{
    (void)state;
    json_t *out = NULL;
    assert_int_equal(dc__stats_query(st, g_acct->id, 0, 1000, "day", "Mars/Olympus", &out), DC_ETZ);
    assert_int_equal(dc__stats_query(st, g_acct->id, 0, 1000, "day", "../../etc/passwd", &out),
                     DC_ETZ);
    /* the leap-second zones count time_t differently: their midnights fall 27 s off the slots */
    assert_int_equal(dc__stats_query(st, g_acct->id, 0, 1000, "day", "right/UTC", &out), DC_ETZ);
    assert_int_equal(dc__stats_query(st, g_acct->id, 0, 1000, "day", "right/Europe/Berlin", &out),
                     DC_ETZ);
    assert_null(out);
}

static void other_account_sees_nothing(void **state)
{
    (void)state;
    dc__account *b = NULL;
    json_t *o = NULL;
    int64_t f, t;
    assert_int_equal(dc__store_account_create(st, "Other", &b), 0);
    dc__parse_iso8601("2026-11-23T00:00:00Z", &f);
    dc__parse_iso8601("2026-11-25T00:00:00Z", &t);
    assert_int_equal(dc__stats_query(st, b->id, f, t, "day", "UTC", &o), 0);
    assert_int_equal(count(json_object_get(o, "totals"), "completed"), 0);
    json_decref(o);
    dc__account_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(day_buckets_follow_kolkata),
                                       cmocka_unit_test(day_buckets_in_utc_differ),
                                       cmocka_unit_test(hour_buckets_on_half_hours),
                                       cmocka_unit_test(week_starts_monday_and_dst_days),
                                       cmocka_unit_test(bad_zone_refused),
                                       cmocka_unit_test(other_account_sees_nothing)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
