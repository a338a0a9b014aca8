/* The store contract (src/server/store.h), one suite for every backend. A backend's test file
 * defines struct fx's setup/teardown and the hook below, includes this file, and lists
 * STORE_SUITE_TESTS(setup, teardown) in its cmocka group:
 *   test_store.c     SQLite in a temp dir
 *   test_store_pg.c  PostgreSQL 15 started by pg_fixture.c */
#ifndef DC_TESTS_STORE_SUITE_H
#define DC_TESTS_STORE_SUITE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/crypto.h"
#include "common/util.h"
#include "dcall/errors.h"
#include "server/store.h"

static const unsigned char KEY[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                      12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                      23, 24, 25, 26, 27, 28, 29, 30, 31};

struct fx {
    char dir[128]; /* the data dir (master key, SQLite file); scratch space for PostgreSQL */
    char url[256]; /* opens this test's store again: "sqlite:" (with dir) or postgresql://... */
    dc__store *s;
};

static int fx_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A new fixture with dir made from the mkdtemp template tmpl; NULL when that fails. */
static struct fx *fx_new(const char *tmpl)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    snprintf(f->dir, sizeof f->dir, "%s", tmpl);
    if (!mkdtemp(f->dir)) {
        free(f);
        return NULL;
    }
    return f;
}

/* Closes the fixture's store and removes its dir with everything in it. */
static void fx_free(struct fx *f)
{
    dc__store_close(f->s);
    nftw(f->dir, fx_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
}

/* Defined by the backend's test file: 1 when needle occurs anywhere in the bytes the backend
 * keeps on disk for this test's store, else 0. */
static int fx_disk_contains(struct fx *f, const char *needle);

/* Defined by the backend's test file: a new database (not the fixture's) holding schema version 1
 * exactly as it shipped, before the quality columns, with rows_sql run in it; its URL in url. */
static void fx_v1_store(struct fx *f, const char *rows_sql, char *url, size_t cap);

static dc__account *new_account(dc__store *s, const char *name)
{
    dc__account *a = NULL;
    assert_int_equal(dc__store_account_create(s, name, &a), 0);
    return a;
}

static void fill_call(dc__call_rec *r, const char *acc, const char *id, const char *ccid,
                      const char *caller, const char *callee, int64_t created)
{
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", id);
    snprintf(r->account_id, sizeof r->account_id, "%s", acc);
    snprintf(r->client_call_id, sizeof r->client_call_id, "%s", ccid);
    snprintf(r->caller, sizeof r->caller, "%s", caller);
    snprintf(r->callee, sizeof r->callee, "%s", callee);
    r->context = (char *)"Your driver for ride #4821";
    snprintf(r->state, sizeof r->state, "ringing");
    r->created_ms = created;
}

static void end_call(dc__call_rec *r, const char *reason, int64_t answered, int64_t ended)
{
    snprintf(r->state, sizeof r->state, "ended");
    snprintf(r->reason, sizeof r->reason, "%s", reason);
    r->answered_ms = answered;
    r->ended_ms = ended;
}

static void test_account(void **state)
{
    struct fx *f = *state;
    dc__account *a = new_account(f->s, "Acme Rides"), *g = NULL, *k = NULL;
    assert_int_equal(strncmp(a->id, "acc_", 4), 0);
    assert_int_equal(strlen(a->id), 4 + 16);
    assert_int_equal(strncmp(a->api_key, "key_", 4), 0);
    assert_int_equal(strlen(a->api_key), 4 + 24);
    assert_int_equal(strncmp(a->api_secret, "sk_", 3), 0);
    assert_int_equal(strlen(a->api_secret), 3 + 40);
    assert_string_equal(a->kid, "k1");

    assert_int_equal(dc__store_account_get(f->s, a->id, &g), 0);
    assert_string_equal(g->api_secret, a->api_secret);
    assert_string_equal(g->name, "Acme Rides");
    assert_string_equal(g->api_key, a->api_key);
    assert_null(g->webhook_url);
    assert_null(g->webhook_secret);
    assert_string_equal(json_string_value(json_object_get(g->branding, "background_color")),
                        "#FFFFFF");
    assert_string_equal(json_string_value(json_object_get(g->branding, "text_color")), "#000000");
    assert_string_equal(json_string_value(json_object_get(g->branding, "button_theme")), "default");
    assert_true(json_is_null(json_object_get(g->branding, "logo_url")));
    assert_int_equal(dc__store_account_by_key(f->s, a->api_key, &k), 0);
    assert_string_equal(k->id, a->id);
    dc__account_free(k);

    /* update: settings, webhook secret, branding and a rotated api secret */
    free(g->name);
    g->name = strdup("Acme Rides 2");
    g->ring_timeout_s = 45;
    g->dev_key_auth = 1;
    g->webhook_url = strdup("https://example.com/hook");
    g->webhook_secret = strdup("whsec_0123456789abcdefghij0123456789abcdefgh");
    json_array_append_new(g->webhook_events, json_string("call.ended"));
    json_object_set_new(g->branding, "button_theme", json_string("white"));
    free(g->api_secret);
    g->api_secret = strdup("sk_rotatedrotatedrotatedrotatedrotated1234");
    snprintf(g->kid, sizeof g->kid, "k2");
    assert_int_equal(dc__store_account_update(f->s, g), 0);
    assert_int_equal(dc__store_account_get(f->s, a->id, &k), 0);
    assert_string_equal(k->name, "Acme Rides 2");
    assert_int_equal(k->ring_timeout_s, 45);
    assert_int_equal(k->dev_key_auth, 1);
    assert_string_equal(k->webhook_url, "https://example.com/hook");
    assert_string_equal(k->webhook_secret, g->webhook_secret);
    assert_string_equal(k->api_secret, g->api_secret);
    assert_string_equal(k->kid, "k2");
    assert_int_equal(json_array_size(k->webhook_events), 1);
    assert_string_equal(json_string_value(json_object_get(k->branding, "button_theme")), "white");

    /* secrets never reach the disk in plaintext; the probe itself works: the (non-secret) name
     * is found in plaintext */
    assert_int_equal(fx_disk_contains(f, "Acme Rides"), 1);
    const char *secrets[] = {a->api_secret, g->api_secret, g->webhook_secret};
    for (int i = 0; i < 3; i++)
        assert_int_equal(fx_disk_contains(f, secrets[i]), 0);

    /* unknown ids */
    dc__account *none = NULL;
    assert_int_equal(dc__store_account_get(f->s, "acc_nonexistent00000", &none), DC_ENOTFOUND);
    assert_int_equal(dc__store_account_by_key(f->s, "key_nope", &none), DC_ENOTFOUND);
    snprintf(k->id, sizeof k->id, "acc_nonexistent00000");
    assert_int_equal(dc__store_account_update(f->s, k), DC_ENOTFOUND);
    dc__account_free(k);
    dc__account_free(g);
    dc__account_free(a);
}

static void test_account_wrong_key(void **state)
{
    struct fx *f = *state;
    dc__account *a = new_account(f->s, "Acme"), *g = NULL;
    unsigned char other[32] = {9};
    dc__store *s2 = NULL;
    assert_int_equal(dc__store_open(f->url, f->dir, other, &s2), 0);
    /* a store opened with another master key cannot read the secret */
    assert_int_equal(dc__store_account_get(s2, a->id, &g), DC_ESTORE);
    dc__store_close(s2);
    dc__account_free(a);
}

static void test_call_save_load(void **state)
{
    struct fx *f = *state;
    dc__account *a = new_account(f->s, "Acme");
    dc__call_rec r, *l = NULL;
    fill_call(&r, a->id, "c_00000000000000000001", "cc1", "rider_1", "driver_7", 1000000);
    r.caller_name = (char *)"Asha";
    dc__outbox_item it = {0};
    it.url = (char *)"https://example.com/hook";
    it.body = (char *)"{\"type\":\"call.placed\"}";
    assert_int_equal(dc__store_call_save(f->s, &r, &it, 1), 0);
    assert_true(it.id > 0);

    snprintf(r.state, sizeof r.state, "ongoing");
    r.answered_ms = 1002000;
    assert_int_equal(dc__store_call_save(f->s, &r, NULL, 0), 0);
    end_call(&r, "completed", 1002000, 1043250);
    snprintf(r.ended_by, sizeof r.ended_by, "driver_7");
    assert_int_equal(dc__store_call_save(f->s, &r, NULL, 0), 0);

    assert_int_equal(dc__store_call_load(f->s, a->id, r.id, &l), 0);
    assert_string_equal(l->state, "ended");
    assert_string_equal(l->reason, "completed");
    assert_string_equal(l->caller_name, "Asha");
    assert_string_equal(l->context, "Your driver for ride #4821");
    assert_null(l->remote_context);
    assert_int_equal(l->answered_ms, 1002000);
    assert_int_equal(l->ended_ms, 1043250);
    json_t *j = dc__call_rec_json(l);
    assert_int_equal(json_integer_value(json_object_get(j, "duration_ms")), 41250);
    assert_string_equal(json_string_value(json_object_get(j, "ended_by")), "driver_7");
    assert_string_equal(json_string_value(json_object_get(j, "created_at")),
                        "1970-01-01T00:16:40.000Z");
    assert_true(json_is_null(json_object_get(j, "detail")));
    assert_true(json_is_null(json_object_get(j, "remote_context")));
    assert_true(json_is_null(json_object_get(j, "quality")));
    assert_int_equal(l->q_samples, 0);
    assert_int_equal(json_object_size(j), 18);
    json_decref(j);
    dc__call_rec_free(l);

    /* a ringing call: no duration, null times */
    dc__call_rec r2;
    fill_call(&r2, a->id, "c_00000000000000000002", "cc2", "rider_1", "driver_7", 2000000);
    assert_int_equal(dc__store_call_save(f->s, &r2, NULL, 0), 0);
    assert_int_equal(dc__store_call_get(f->s, a->id, r2.id, &j), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "duration_ms")), 0);
    assert_true(json_is_null(json_object_get(j, "answered_at")));
    assert_true(json_is_null(json_object_get(j, "reason")));
    json_decref(j);

    /* find by the caller's own id, only at or after since_ms */
    assert_int_equal(dc__store_call_find_client(f->s, a->id, "rider_1", "cc1", 0, &l), 0);
    assert_string_equal(l->id, r.id);
    dc__call_rec_free(l);
    assert_int_equal(dc__store_call_find_client(f->s, a->id, "rider_1", "cc1", 1000001, &l),
                     DC_ENOTFOUND);
    assert_int_equal(dc__store_call_find_client(f->s, a->id, "driver_7", "cc1", 0, &l),
                     DC_ENOTFOUND);

    /* the same client id from the same caller under another call id is refused, atomically */
    dc__call_rec dup;
    fill_call(&dup, a->id, "c_00000000000000000003", "cc1", "rider_1", "driver_9", 3000000);
    dc__outbox_item it2 = {0};
    it2.url = (char *)"https://example.com/hook";
    it2.body = (char *)"{\"type\":\"call.placed\"}";
    int64_t depth = 0;
    assert_int_equal(dc__store_call_save(f->s, &dup, &it2, 1), DC_EINVAL);
    assert_int_equal(dc__store_outbox_depth(f->s, &depth), 0);
    assert_int_equal(depth, 1);
    assert_int_equal(dc__store_call_load(f->s, a->id, dup.id, &l), DC_ENOTFOUND);
    /* another caller may reuse it */
    snprintf(dup.caller, sizeof dup.caller, "rider_2");
    assert_int_equal(dc__store_call_save(f->s, &dup, NULL, 0), 0);
    assert_int_equal(dc__store_call_load(f->s, a->id, "c_nope", &l), DC_ENOTFOUND);
    dc__account_free(a);
}

/* Saves n ended calls for acc; reasons alternate completed/declined, cuid alternates. */
static void seed_calls(dc__store *s, const char *acc, const char *prefix, int n, int64_t t0)
{
    for (int i = 0; i < n; i++) {
        dc__call_rec r;
        char id[40], cc[20];
        snprintf(id, sizeof id, "c_%s%04d", prefix, i);
        snprintf(cc, sizeof cc, "cc%d", i);
        /* pairs share a created_ms, so paging must break ties by id */
        fill_call(&r, acc, id, cc, i % 2 ? "rider_1" : "rider_2", "driver_7",
                  t0 + (int64_t)(i / 2) * 1000);
        end_call(&r, i % 2 ? "completed" : "declined", 0, t0 + i * 1000 + 500);
        assert_int_equal(dc__store_call_save(s, &r, NULL, 0), 0);
    }
}

static int list_all_pages(dc__store *s, const char *acc, dc__call_filter *fl, char ids[][40],
                          int max)
{
    int n = 0, pages = 0;
    char *cursor = NULL;
    do {
        json_t *arr = NULL;
        char *next = NULL;
        fl->cursor = cursor;
        assert_int_equal(dc__store_calls_list(s, acc, fl, &arr, &next), 0);
        assert_true((int)json_array_size(arr) <= fl->limit);
        size_t i;
        json_t *c;
        json_array_foreach(arr, i, c)
        {
            assert_true(n < max);
            snprintf(ids[n++], 40, "%s", json_string_value(json_object_get(c, "id")));
        }
        json_decref(arr);
        free(cursor);
        cursor = next;
        pages++;
    } while (cursor);
    fl->cursor = NULL;
    return pages;
}

static void test_calls_list(void **state)
{
    struct fx *f = *state;
    dc__account *a = new_account(f->s, "Acme");
    seed_calls(f->s, a->id, "a", 25, 1700000000000);
    char ids[64][40];
    dc__call_filter fl = {0};
    fl.limit = 10;
    assert_int_equal(list_all_pages(f->s, a->id, &fl, ids, 64), 3);
    /* newest first, ties by id descending, every call exactly once although the page boundary
     * (rows 10/11) falls between two calls created in the same millisecond */
    for (int i = 0; i < 25; i++) {
        char want[40];
        snprintf(want, sizeof want, "c_a%04d", 24 - i);
        assert_string_equal(ids[i], want);
    }

    int n = 0;
    fl.limit = 2;
    fl.status = "completed";
    list_all_pages(f->s, a->id, &fl, ids, 64);
    for (n = 0; n < 64 && ids[n][0] && strcmp(ids[n], "c_a0001") != 0; n++)
        ;
    assert_int_equal(n, 11); /* c_a0023, 0021, ..., 0001 */
    assert_string_equal(ids[0], "c_a0023");

    memset(ids, 0, sizeof ids);
    fl.status = NULL;
    fl.cuid = "rider_2";
    fl.from_ms = 1700000000000 + 2000;
    fl.to_ms = 1700000000000 + 5000;
    fl.limit = 100;
    list_all_pages(f->s, a->id, &fl, ids, 64);
    assert_string_equal(ids[0], "c_a0008");
    assert_string_equal(ids[1], "c_a0006");
    assert_string_equal(ids[2], "c_a0004");
    assert_int_equal(ids[3][0], 0);

    /* state filters */
    dc__call_rec r;
    fill_call(&r, a->id, "c_ringing", "ccr", "rider_9", "driver_7", 1800000000000);
    assert_int_equal(dc__store_call_save(f->s, &r, NULL, 0), 0);
    memset(ids, 0, sizeof ids);
    memset(&fl, 0, sizeof fl);
    fl.limit = 100;
    fl.status = "ringing";
    list_all_pages(f->s, a->id, &fl, ids, 64);
    assert_string_equal(ids[0], "c_ringing");
    assert_int_equal(ids[1][0], 0);

    /* bad input */
    json_t *arr = NULL;
    char *next = NULL;
    fl.status = NULL;
    const char *bad[] = {"garbage!", "", "MTIz", "YWJjOmNfeA", "MTI6", "MTI6Yy94"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fl.cursor = bad[i];
        assert_int_equal(dc__store_calls_list(f->s, a->id, &fl, &arr, &next), DC_ECURSOR);
    }
    fl.cursor = NULL;
    fl.status = "bogus";
    assert_int_equal(dc__store_calls_list(f->s, a->id, &fl, &arr, &next), DC_ESTATUS);
    fl.status = NULL;
    fl.limit = 0;
    assert_int_equal(dc__store_calls_list(f->s, a->id, &fl, &arr, &next), DC_ELIMIT);
    dc__account_free(a);
}

static void test_isolation(void **state)
{
    struct fx *f = *state;
    dc__account *a = new_account(f->s, "Acme"), *b = new_account(f->s, "Other");
    seed_calls(f->s, a->id, "a", 3, 1700000000000);
    dc__call_rec *l = NULL;
    json_t *j = NULL;
    assert_int_equal(dc__store_call_load(f->s, a->id, "c_a0000", &l), 0);
    dc__call_rec_free(l);
    assert_int_equal(dc__store_call_load(f->s, b->id, "c_a0000", &l), DC_ENOTFOUND);
    assert_int_equal(dc__store_call_get(f->s, b->id, "c_a0000", &j), DC_ENOTFOUND);
    assert_int_equal(dc__store_call_find_client(f->s, b->id, "rider_2", "cc0", 0, &l),
                     DC_ENOTFOUND);
    dc__call_filter fl = {0};
    fl.limit = 100;
    char *next = NULL;
    assert_int_equal(dc__store_calls_list(f->s, b->id, &fl, &j, &next), 0);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);

    /* B cannot overwrite A's call by reusing its id */
    dc__call_rec r;
    fill_call(&r, b->id, "c_a0000", "x", "mallory_1", "driver_7", 1);
    assert_int_equal(dc__store_call_save(f->s, &r, NULL, 0), DC_EINVAL);
    assert_int_equal(dc__store_call_load(f->s, a->id, "c_a0000", &l), 0);
    assert_string_equal(l->caller, "rider_2");
    dc__call_rec_free(l);

    /* stats, missed and revocations are per account too */
    json_t *p = json_pack("{s:s}", "context", "hi");
    assert_int_equal(dc__store_missed_add(f->s, a->id, "driver_7", "c_a0000", p, 0), 0);
    assert_int_equal(dc__store_missed_list(f->s, b->id, "driver_7", 10, &j), 0);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
    json_decref(p);
    int64_t before = -1;
    assert_int_equal(dc__store_revoke_set(f->s, a->id, "driver_7", 99), 0);
    assert_int_equal(dc__store_revoke_get(f->s, b->id, "driver_7", &before), 0);
    assert_int_equal(before, 0);
    dc__account_free(a);
    dc__account_free(b);
}

static int recover_cb(const dc__call_rec *closed, dc__outbox_item *item, void *ud)
{
    int *calls = ud;
    (*calls)++;
    assert_string_equal(closed->state, "ended");
    assert_string_equal(closed->reason, "failed");
    assert_string_equal(closed->detail, "server_restart");
    item->url = strdup("https://example.com/hook");
    if (asprintf(&item->body, "{\"type\":\"call.ended\",\"call\":\"%s\"}", closed->id) < 0)
        return DC_ENOMEM;
    return 0;
}

static void test_close_open(void **state)
{
    struct fx *f = *state;
    dc__account *a = new_account(f->s, "Acme"), *b = new_account(f->s, "B");
    seed_calls(f->s, a->id, "done", 2, 1700000000000);
    dc__call_rec r;
    fill_call(&r, a->id, "c_ring", "c1", "rider_1", "driver_7", 1700000100000);
    assert_int_equal(dc__store_call_save(f->s, &r, NULL, 0), 0);
    fill_call(&r, b->id, "c_talk", "c1", "rider_1", "driver_7", 1700000100000);
    snprintf(r.state, sizeof r.state, "ongoing");
    r.answered_ms = 1700000101000;
    assert_int_equal(dc__store_call_save(f->s, &r, NULL, 0), 0);

    int n = -1, cbs = 0;
    assert_int_equal(
        dc__store_calls_close_open(f->s, 1700000200000, "server_restart", recover_cb, &cbs, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(cbs, 2);
    dc__call_rec *l = NULL;
    assert_int_equal(dc__store_call_load(f->s, b->id, "c_talk", &l), 0);
    assert_string_equal(l->state, "ended");
    assert_string_equal(l->reason, "failed");
    assert_string_equal(l->detail, "server_restart");
    assert_int_equal(l->ended_ms, 1700000200000);
    assert_int_equal(l->answered_ms, 1700000101000);
    dc__call_rec_free(l);
    /* calls already ended are untouched */
    assert_int_equal(dc__store_call_load(f->s, a->id, "c_done0001", &l), 0);
    assert_string_equal(l->reason, "completed");
    dc__call_rec_free(l);
    int64_t depth = 0;
    assert_int_equal(dc__store_outbox_depth(f->s, &depth), 0);
    assert_int_equal(depth, 2);
    /* a second pass finds nothing */
    assert_int_equal(
        dc__store_calls_close_open(f->s, 1700000300000, "server_restart", NULL, NULL, &n), 0);
    assert_int_equal(n, 0);
    dc__account_free(a);
    dc__account_free(b);
}

struct slot {
    dc__stats_slot v;
    char reason[16];
};
struct slots {
    struct slot v[16];
    int n;
};

static void stats_cb(const dc__stats_slot *v, void *ud)
{
    struct slots *s = ud;
    assert_true(s->n < 16);
    s->v[s->n].v = *v;
    snprintf(s->v[s->n].reason, sizeof s->v[s->n].reason, "%s", v->reason);
    s->v[s->n].v.reason = s->v[s->n].reason;
    s->n++;
}

/* The (slot, reason) row of a stats_slots answer; fails when it is missing or there twice. */
static const dc__stats_slot *slot_of(const struct slots *s, int64_t slot, const char *reason)
{
    const dc__stats_slot *found = NULL;
    for (int i = 0; i < s->n; i++) {
        if (s->v[i].v.slot_ms == slot && !strcmp(s->v[i].reason, reason)) {
            assert_null(found);
            found = &s->v[i].v;
        }
    }
    assert_non_null(found);
    return found;
}

static struct slots stats_of(dc__store *s, const char *acc, int64_t from, int64_t to)
{
    struct slots got = {0};
    assert_int_equal(dc__store_stats_slots(s, acc, from, to, stats_cb, &got), 0);
    return got;
}

static void test_stats(void **state)
{
    struct fx *f = *state;
    dc__account *a = new_account(f->s, "Acme"), *b = new_account(f->s, "B");
    const int64_t t0 = 1700000100000 - 1700000100000 % 900000; /* a slot start */
    struct {
        const char *acc, *id, *reason;
        int64_t at;
    } rows[] = {
        {a->id, "c_s1", "completed", t0 + 1},          {a->id, "c_s2", "completed", t0 + 899999},
        {a->id, "c_s3", "missed", t0 + 5000},          {a->id, "c_s4", "completed", t0 + 900000},
        {a->id, "c_s5", "completed", t0 + 3 * 900000}, /* outside [from, to) */
        {b->id, "c_s6", "completed", t0 + 10},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        dc__call_rec r;
        fill_call(&r, rows[i].acc, rows[i].id, rows[i].id, "rider_1", "driver_7", rows[i].at);
        end_call(&r, rows[i].reason, 0, rows[i].at + 10);
        assert_int_equal(dc__store_call_save(f->s, &r, NULL, 0), 0);
    }
    dc__call_rec r; /* not ended: not counted */
    fill_call(&r, a->id, "c_s7", "c_s7", "rider_1", "driver_7", t0 + 20);
    assert_int_equal(dc__store_call_save(f->s, &r, NULL, 0), 0);

    struct slots got = stats_of(f->s, a->id, t0, t0 + 3 * 900000);
    assert_int_equal(got.n, 3);
    assert_int_equal(slot_of(&got, t0, "completed")->calls, 2);
    assert_int_equal(slot_of(&got, t0, "missed")->calls, 1);
    assert_int_equal(slot_of(&got, t0 + 900000, "completed")->calls, 1);
    /* ranges that cut slots count by creation time exactly: [t0 + 2, t0 + 900001) holds c_s3,
     * c_s2 and c_s4; one inside a single slot holds c_s3 only */
    got = stats_of(f->s, a->id, t0 + 2, t0 + 900001);
    assert_int_equal(got.n, 3);
    assert_int_equal(slot_of(&got, t0, "completed")->calls, 1);
    assert_int_equal(slot_of(&got, t0, "missed")->calls, 1);
    assert_int_equal(slot_of(&got, t0 + 900000, "completed")->calls, 1);
    got = stats_of(f->s, a->id, t0 + 2, t0 + 6000);
    assert_int_equal(got.n, 1);
    assert_int_equal(slot_of(&got, t0, "missed")->calls, 1);
    dc__account_free(a);
    dc__account_free(b);
}

static void test_missed(void **state)
{
    struct fx *f = *state;
    dc__account *a = new_account(f->s, "Acme");
    for (int i = 0; i < 3; i++) {
        char cid[16];
        snprintf(cid, sizeof cid, "c_m%d", i);
        json_t *p =
            json_pack("{s:s,s:{s:s,s:s},s:s,s:s}", "call_id", cid, "from", "cuid", "rider_1",
                      "name", "Asha", "context", "ride", "at", "2026-11-24T21:42:32.123Z");
        /* the first one was delivered live */
        assert_int_equal(dc__store_missed_add(f->s, a->id, "driver_7", cid, p, i == 0), 0);
        json_decref(p);
    }
    json_t *arr = NULL;
    assert_int_equal(dc__store_missed_take(f->s, a->id, "driver_7", &arr), 0);
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "call_id")),
                        "c_m1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 1), "call_id")),
                        "c_m2");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_array_get(arr, 0), "from"), "cuid")),
        "rider_1");
    json_decref(arr);
    /* delivered once */
    assert_int_equal(dc__store_missed_take(f->s, a->id, "driver_7", &arr), 0);
    assert_int_equal(json_array_size(arr), 0);
    json_decref(arr);
    assert_int_equal(dc__store_missed_list(f->s, a->id, "driver_7", 2, &arr), 0);
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "call_id")),
                        "c_m2");
    json_decref(arr);
    assert_int_equal(dc__store_missed_list(f->s, a->id, "rider_1", 10, &arr), 0);
    assert_int_equal(json_array_size(arr), 0);
    json_decref(arr);
    dc__account_free(a);
}

static void test_revoke(void **state)
{
    struct fx *f = *state;
    dc__account *a = new_account(f->s, "Acme");
    int64_t v = -1;
    assert_int_equal(dc__store_revoke_get(f->s, a->id, "rider_1", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(dc__store_revoke_set(f->s, a->id, "rider_1", 1700000000), 0);
    assert_int_equal(dc__store_revoke_get(f->s, a->id, "rider_1", &v), 0);
    assert_int_equal(v, 1700000000);
    assert_int_equal(dc__store_revoke_set(f->s, a->id, "rider_1", 1700000500), 0);
    assert_int_equal(dc__store_revoke_get(f->s, a->id, "rider_1", &v), 0);
    assert_int_equal(v, 1700000500);
    dc__account_free(a);
}

static void test_outbox(void **state)
{
    struct fx *f = *state;
    dc__account *a = new_account(f->s, "Acme");
    dc__call_rec r;
    fill_call(&r, a->id, "c_o1", "o1", "rider_1", "driver_7", 1000);
    dc__outbox_item it[3];
    memset(it, 0, sizeof it);
    const char *bodies[] = {"{\"type\":\"call.placed\"}", "{\"type\":\"call.ringing\"}",
                            "not json"};
    for (int i = 0; i < 3; i++) {
        it[i].url = (char *)"https://example.com/hook";
        it[i].body = (char *)bodies[i];
        it[i].next_ms = 1000 + i;
        it[i].created_ms = 1000;
    }
    assert_int_equal(dc__store_call_save(f->s, &r, it, 3), 0);
    assert_true(it[0].id < it[1].id && it[1].id < it[2].id);

    dc__outbox_item *due = NULL;
    size_t n = 0;
    assert_int_equal(dc__store_outbox_due(f->s, 1001, 10, &due, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(due[0].id, it[0].id);
    assert_string_equal(due[0].account_id, a->id);
    assert_string_equal(due[0].kind, "webhook");
    assert_string_equal(due[1].body, bodies[1]);
    dc__outbox_items_free(due, n);

    assert_int_equal(dc__store_outbox_done(f->s, it[0].id, 1500, 200), 0);
    assert_int_equal(dc__store_outbox_retry(f->s, it[1].id, 1, 6001, "HTTP 503"), 0);
    assert_int_equal(dc__store_outbox_due(f->s, 6000, 10, &due, &n), 0);
    assert_int_equal(n, 1); /* only the third: the first is done, the second waits until 6001 */
    assert_int_equal(due[0].id, it[2].id);
    dc__outbox_items_free(due, n);
    assert_int_equal(dc__store_outbox_due(f->s, 6001, 1, &due, &n), 0);
    assert_int_equal(n, 1);
    dc__outbox_items_free(due, n);

    int64_t depth = 0;
    assert_int_equal(dc__store_outbox_depth(f->s, &depth), 0);
    assert_int_equal(depth, 2);
    assert_int_equal(dc__store_outbox_fail(f->s, it[2].id, "gave up"), 0);
    assert_int_equal(dc__store_outbox_depth(f->s, &depth), 0);
    assert_int_equal(depth, 1);
    assert_int_equal(dc__store_outbox_done(f->s, 999999, 1, 200), DC_ENOTFOUND);
    assert_int_equal(dc__store_outbox_retry(f->s, it[2].id, 2, 1, "x"), DC_ENOTFOUND);

    json_t *log = NULL;
    assert_int_equal(dc__store_outbox_log(f->s, a->id, 10, &log), 0);
    assert_int_equal(json_array_size(log), 3);
    json_t *e0 = json_array_get(log, 0), *e1 = json_array_get(log, 1), *e2 = json_array_get(log, 2);
    assert_int_equal(json_integer_value(json_object_get(e0, "id")), it[2].id); /* newest first */
    assert_string_equal(json_string_value(json_object_get(e0, "state")), "failed");
    assert_true(json_is_null(json_object_get(e0, "event")));
    assert_string_equal(json_string_value(json_object_get(e0, "last_error")), "gave up");
    assert_string_equal(json_string_value(json_object_get(e1, "event")), "call.ringing");
    assert_string_equal(json_string_value(json_object_get(e1, "state")), "pending");
    assert_int_equal(json_integer_value(json_object_get(e1, "attempts")), 1);
    assert_true(json_is_null(json_object_get(e1, "delivered_at")));
    assert_string_equal(json_string_value(json_object_get(e2, "state")), "done");
    assert_string_equal(json_string_value(json_object_get(e2, "event")), "call.placed");
    assert_int_equal(json_integer_value(json_object_get(e2, "http_status")), 200);
    assert_string_equal(json_string_value(json_object_get(e2, "delivered_at")),
                        "1970-01-01T00:00:01.500Z");
    assert_string_equal(json_string_value(json_object_get(e2, "url")), "https://example.com/hook");
    json_decref(log);

    dc__account *b = new_account(f->s, "B");
    assert_int_equal(dc__store_outbox_log(f->s, b->id, 10, &log), 0);
    assert_int_equal(json_array_size(log), 0);
    json_decref(log);
    dc__account_free(b);
    dc__account_free(a);
}

/* Schema version and data survive closing and reopening by URL. */
static void test_schema_reopen(void **state)
{
    struct fx *f = *state;
    int v = 0;
    assert_int_equal(dc__store_schema_version(f->s, &v), 0);
    assert_int_equal(v, DC__SCHEMA_VERSION);
    dc__account *a = new_account(f->s, "Acme"), *g = NULL;
    seed_calls(f->s, a->id, "b", 4, 1700000000000);
    dc__store_close(f->s);
    f->s = NULL;
    assert_int_equal(dc__store_open(f->url, f->dir, KEY, &f->s), 0);
    assert_int_equal(dc__store_schema_version(f->s, &v), 0);
    assert_int_equal(v, DC__SCHEMA_VERSION);
    dc__call_rec *l = NULL;
    assert_int_equal(dc__store_call_load(f->s, a->id, "c_b0000", &l), 0);
    assert_string_equal(l->reason, "declined");
    dc__call_rec_free(l);
    assert_int_equal(dc__store_account_by_key(f->s, a->api_key, &g), 0);
    assert_string_equal(g->api_secret, a->api_secret);
    dc__account_free(g);
    dc__account_free(a);
}

static void set_quality(dc__call_rec *r, int n, double avg, double min, double loss, double rtt,
                        double jitter)
{
    r->q_samples = n;
    r->mos_avg = avg;
    r->mos_min = min;
    r->loss_pct = loss;
    r->rtt_ms = rtt;
    r->jitter_ms = jitter;
}

/* The stored figures are the saved doubles, bit for bit. */
static void assert_quality_eq(const dc__call_rec *got, const dc__call_rec *want)
{
    assert_int_equal(got->q_samples, want->q_samples);
    assert_true(got->mos_avg == want->mos_avg);
    assert_true(got->mos_min == want->mos_min);
    assert_true(got->loss_pct == want->loss_pct);
    assert_true(got->rtt_ms == want->rtt_ms);
    assert_true(got->jitter_ms == want->jitter_ms);
}

static void assert_json_num(const json_t *o, const char *key, double want)
{
    const json_t *v = json_object_get(o, key);
    assert_true(json_is_number(v));
    if (fabs(json_number_value(v) - want) > 1e-9)
        fail_msg("%s: %.17g, want %.17g", key, json_number_value(v), want);
}

/* The REST "quality" object of the call with the figures saved by test_call_quality. */
static void assert_quality_json(const json_t *call)
{
    const json_t *q = json_object_get(call, "quality");
    assert_true(json_is_object(q));
    assert_int_equal(json_object_size(q), 6);
    assert_true(json_is_integer(json_object_get(q, "samples")));
    assert_int_equal(json_integer_value(json_object_get(q, "samples")), 7);
    assert_json_num(q, "mos_avg", 4.12);
    assert_json_num(q, "mos_min", 3.5);
    assert_json_num(q, "loss_pct", 0.33);
    assert_json_num(q, "rtt_ms", 42.5);
    assert_json_num(q, "jitter_ms", 7.13); /* 7.125 rounds half away from zero */
}

/* The quality summary round-trips through every reader, and clears back to none. */
static void test_call_quality(void **state)
{
    struct fx *f = *state;
    dc__account *a = new_account(f->s, "Acme");
    dc__call_rec r, *l = NULL;
    fill_call(&r, a->id, "c_q1", "ccq1", "rider_1", "driver_7", 1700000000000);
    snprintf(r.state, sizeof r.state, "ongoing");
    r.answered_ms = 1700000001000;
    set_quality(&r, 7, 4.123456789, 3.5, 1.0 / 3.0, 42.5, 7.125);
    assert_int_equal(dc__store_call_save(f->s, &r, NULL, 0), 0);

    assert_int_equal(dc__store_call_load(f->s, a->id, r.id, &l), 0);
    assert_quality_eq(l, &r);
    dc__call_rec_free(l);
    assert_int_equal(dc__store_call_find_client(f->s, a->id, "rider_1", "ccq1", 0, &l), 0);
    assert_quality_eq(l, &r);
    dc__call_rec_free(l);

    json_t *j = NULL, *arr = NULL;
    assert_int_equal(dc__store_call_get(f->s, a->id, r.id, &j), 0);
    assert_quality_json(j);
    json_decref(j);
    char *next = NULL;
    dc__call_filter fl = {.limit = 10};
    assert_int_equal(dc__store_calls_list(f->s, a->id, &fl, &arr, &next), 0);
    assert_int_equal(json_array_size(arr), 1);
    assert_quality_json(json_array_get(arr, 0));
    json_decref(arr);
    assert_null(next);

    /* crash recovery closes the call and keeps what was measured */
    int n = 0;
    assert_int_equal(
        dc__store_calls_close_open(f->s, 1700000009000, "server_restart", NULL, NULL, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(dc__store_call_load(f->s, a->id, r.id, &l), 0);
    assert_string_equal(l->reason, "failed");
    assert_quality_eq(l, &r);
    dc__call_rec_free(l);

    /* no reports: the figures are not kept (they read back as 0) and the REST view says null */
    r.q_samples = 0;
    assert_int_equal(dc__store_call_save(f->s, &r, NULL, 0), 0);
    assert_int_equal(dc__store_call_load(f->s, a->id, r.id, &l), 0);
    dc__call_rec none;
    set_quality(&none, 0, 0, 0, 0, 0, 0);
    assert_quality_eq(l, &none);
    j = dc__call_rec_json(l);
    assert_true(json_is_null(json_object_get(j, "quality")));
    json_decref(j);
    dc__call_rec_free(l);
    /* the REST view reads q_samples alone: stale figures in the record never show */
    set_quality(&r, 0, 4.0, 4.0, 0, 0, 0);
    j = dc__call_rec_json(&r);
    assert_true(json_is_null(json_object_get(j, "quality")));
    json_decref(j);
    dc__account_free(a);
}

/* Rows of a version 1 database: an account whose secret is sealed with KEY, an ended call and a
 * ringing one. */
/* The rollup behind stats_slots: answered calls, durations and quality add up; a call counts
 * once however often an ended call is saved again; changing an ended call moves it; a call
 * closed by crash recovery counts. Aligned ranges read the rollup alone, cut ones the calls table
 * at the edges: both must agree. */
static void test_stats_rollup(void **state)
{
    struct fx *f = *state;
    dc__account *a = new_account(f->s, "Acme");
    const int64_t t0 = 1700000100000 - 1700000100000 % 900000;
    dc__call_rec c1, c2, c3, c4;
    fill_call(&c1, a->id, "c_r1", "r1", "rider_1", "driver_7", t0 + 1000);
    fill_call(&c2, a->id, "c_r2", "r2", "rider_2", "driver_7", t0 + 2000);
    fill_call(&c3, a->id, "c_r3", "r3", "rider_3", "driver_7", t0 + 3000);
    fill_call(&c4, a->id, "c_r4", "r4", "rider_4", "driver_7", t0 + 4000);
    dc__call_rec *all[] = {&c1, &c2, &c3, &c4};
    for (int i = 0; i < 4; i++) /* placed, then answered: nothing counts yet */
        assert_int_equal(dc__store_call_save(f->s, all[i], NULL, 0), 0);
    snprintf(c1.state, sizeof c1.state, "ongoing");
    c1.answered_ms = t0 + 5000;
    assert_int_equal(dc__store_call_save(f->s, &c1, NULL, 0), 0);
    assert_int_equal(stats_of(f->s, a->id, t0, t0 + 900000).n, 0);

    end_call(&c1, "completed", t0 + 5000, t0 + 65000); /* 60 s */
    set_quality(&c1, 4, 4.2, 3.9, 0, 0, 0);
    end_call(&c2, "completed", t0 + 6000, t0 + 26000); /* 20 s, no quality */
    end_call(&c3, "completed", t0 + 7000, t0 + 17000); /* 10 s */
    set_quality(&c3, 2, 3.6, 3.1, 0, 0, 0);
    end_call(&c4, "missed", 0, t0 + 40000);
    for (int k = 0; k < 3; k++) /* ended, then saved again (a webhook, a retry): counted once */
        for (int i = 0; i < 4; i++)
            assert_int_equal(dc__store_call_save(f->s, all[i], NULL, 0), 0);

    for (int cut = 0; cut < 2; cut++) {
        struct slots got = cut ? stats_of(f->s, a->id, t0 + 500, t0 + 899000)
                               : stats_of(f->s, a->id, t0 - 900000, t0 + 900000);
        assert_int_equal(got.n, 2);
        const dc__stats_slot *c = slot_of(&got, t0, "completed");
        assert_int_equal(c->calls, 3);
        assert_int_equal(c->answered, 3);
        assert_int_equal(c->duration_ms, 90000);
        assert_int_equal(c->q_calls, 2);
        assert_true(fabs(c->mos_sum - 7.8) < 1e-9);
        assert_true(fabs(c->mos_min - 3.1) < 1e-9);
        const dc__stats_slot *m = slot_of(&got, t0, "missed");
        assert_int_equal(m->calls, 1);
        assert_int_equal(m->answered, 0);
        assert_int_equal(m->duration_ms, 0);
        assert_int_equal(m->q_calls, 0);
    }

    /* an ended call changed: its old figures leave (the minimum too), the new ones count */
    set_quality(&c3, 3, 3.9, 3.7, 0, 0, 0);
    assert_int_equal(dc__store_call_save(f->s, &c3, NULL, 0), 0);
    snprintf(c4.reason, sizeof c4.reason, "declined");
    assert_int_equal(dc__store_call_save(f->s, &c4, NULL, 0), 0);
    struct slots got = stats_of(f->s, a->id, t0, t0 + 900000);
    assert_int_equal(got.n, 2);
    const dc__stats_slot *c = slot_of(&got, t0, "completed");
    assert_int_equal(c->calls, 3);
    assert_int_equal(c->q_calls, 2);
    assert_true(fabs(c->mos_sum - 8.1) < 1e-9);
    assert_true(fabs(c->mos_min - 3.7) < 1e-9);
    assert_int_equal(slot_of(&got, t0, "declined")->calls, 1);

    /* crash recovery ends an open call in the same transaction as its rollup */
    dc__call_rec c5;
    fill_call(&c5, a->id, "c_r5", "r5", "rider_5", "driver_7", t0 + 900000 + 10);
    assert_int_equal(dc__store_call_save(f->s, &c5, NULL, 0), 0);
    int n = 0;
    assert_int_equal(
        dc__store_calls_close_open(f->s, t0 + 950000, "server_restart", NULL, NULL, &n), 0);
    assert_int_equal(n, 1);
    got = stats_of(f->s, a->id, t0, t0 + 2 * 900000);
    assert_int_equal(got.n, 3);
    assert_int_equal(slot_of(&got, t0 + 900000, "failed")->calls, 1);
    dc__account_free(a);
}

static char *v1_rows_sql(void)
{
    char *sealed = NULL, *sql = NULL;
    assert_int_equal(dc__seal(KEY, "sk_v1secret", &sealed), 0);
    int n = asprintf(
        &sql,
        "INSERT INTO accounts (id, api_key, kid, name, api_secret_sealed, ring_timeout_s,"
        " dev_key_auth, webhook_url, webhook_events, webhook_secret_sealed, branding, created_ms)"
        " VALUES ('acc_v1', 'key_v1', 'k1', 'Old Co', '%s', 40, 0, NULL, '[]', NULL,"
        " '{\"button_theme\":\"white\"}', 1600000000000);"
        "INSERT INTO calls (id, account_id, client_call_id, caller, callee, caller_name, context,"
        " remote_context, caller_image, callee_image, state, created_ms, answered_ms, ended_ms,"
        " reason, detail, ended_by) VALUES"
        " ('c_v1done', 'acc_v1', 'cc1', 'rider_1', 'driver_7', 'Asha', 'ride #1', NULL, NULL,"
        " NULL, 'ended', 1600000001000, 1600000002000, 1600000043250, 'completed', '',"
        " 'driver_7'),"
        " ('c_v1ring', 'acc_v1', 'cc2', 'rider_2', 'driver_7', NULL, 'ride #2', NULL, NULL, NULL,"
        " 'ringing', 1600000050000, 0, 0, '', '', '');",
        sealed);
    free(sealed);
    assert_true(n > 0);
    return sql;
}

/* A database left by a dcalld of schema version 1 is migrated on open and keeps its rows. */
/* Dashboard sign-in: signup (account + user in one transaction), e-mail unique whatever its
 * case, sessions by token hash with expiry, scoped deletes, allowed_origins on the account. */
static void test_web_signin(void **state)
{
    struct fx *f = *state;
    dc__account *a = NULL, *b = NULL, *g = NULL;
    dc__web_user u, v, w;
    assert_int_equal(
        dc__store_web_signup(f->s, "Acme Web", "Owner@Example.com", "scrypt$x", &a, &u), 0);
    assert_int_equal(strncmp(u.id, "wu_", 3), 0);
    assert_string_equal(u.account_id, a->id);
    assert_int_equal(strncmp(a->api_secret, "sk_", 3), 0);
    assert_int_equal(json_array_size(a->allowed_origins), 0);
    /* the same address in another case is taken, and nothing of the second signup stays */
    assert_int_equal(dc__store_web_signup(f->s, "Other", "owner@EXAMPLE.com", "scrypt$y", &b, &v),
                     DC_EEMAILTAKEN);
    assert_null(b);
    assert_int_equal(dc__store_web_user_by_email(f->s, "OWNER@example.COM", &w), 0);
    assert_string_equal(w.id, u.id);
    assert_string_equal(w.email, "Owner@Example.com");
    assert_string_equal(w.password_hash, "scrypt$x");
    assert_int_equal(dc__store_web_user_by_email(f->s, "nobody@example.com", &w), DC_ENOTFOUND);
    assert_int_equal(dc__store_web_signup(f->s, "Beta", "beta@example.com", "scrypt$z", &b, &v), 0);

    /* sessions */
    dc__web_session ws = {.created_ms = 1000, .expires_ms = 5000}, got;
    memset(ws.token_hash, 'a', 64);
    snprintf(ws.csrf, sizeof ws.csrf, "csrf1");
    snprintf(ws.account_id, sizeof ws.account_id, "%s", a->id);
    snprintf(ws.user_id, sizeof ws.user_id, "%s", u.id);
    assert_int_equal(dc__store_web_session_add(f->s, &ws), 0);
    assert_int_equal(dc__store_web_session_get(f->s, ws.token_hash, 4999, &got), 0);
    assert_string_equal(got.account_id, a->id);
    assert_string_equal(got.user_id, u.id);
    assert_string_equal(got.csrf, "csrf1");
    assert_string_equal(got.email, "Owner@Example.com");
    assert_int_equal(got.expires_ms, 5000);
    assert_int_equal(dc__store_web_session_get(f->s, ws.token_hash, 5000, &got), DC_ENOTFOUND);
    /* another account cannot delete it */
    assert_int_equal(dc__store_web_session_delete(f->s, b->id, ws.token_hash), DC_ENOTFOUND);
    assert_int_equal(dc__store_web_session_get(f->s, ws.token_hash, 4000, &got), 0);
    assert_int_equal(dc__store_web_session_delete(f->s, a->id, ws.token_hash), 0);
    assert_int_equal(dc__store_web_session_get(f->s, ws.token_hash, 4000, &got), DC_ENOTFOUND);
    /* purge drops the expired only */
    dc__web_session w2 = ws, w3 = ws;
    memset(w2.token_hash, 'b', 64);
    memset(w3.token_hash, 'c', 64);
    w3.expires_ms = 9000;
    assert_int_equal(dc__store_web_session_add(f->s, &w2), 0);
    assert_int_equal(dc__store_web_session_add(f->s, &w3), 0);
    assert_int_equal(dc__store_web_sessions_purge(f->s, 6000), 0);
    assert_int_equal(dc__store_web_session_get(f->s, w2.token_hash, 0, &got), DC_ENOTFOUND);
    assert_int_equal(dc__store_web_session_get(f->s, w3.token_hash, 0, &got), 0);

    /* allowed_origins round-trips */
    json_array_append_new(a->allowed_origins, json_string("https://app.example.com"));
    assert_int_equal(dc__store_account_update(f->s, a), 0);
    assert_int_equal(dc__store_account_get(f->s, a->id, &g), 0);
    assert_int_equal(json_array_size(g->allowed_origins), 1);
    assert_string_equal(json_string_value(json_array_get(g->allowed_origins, 0)),
                        "https://app.example.com");
    dc__account_free(g);
    assert_int_equal(dc__store_account_get(f->s, b->id, &g), 0);
    assert_int_equal(json_array_size(g->allowed_origins), 0);
    dc__account_free(g);
    dc__account_free(a);
    dc__account_free(b);
}

static void test_migrate_v1(void **state)
{
    struct fx *f = *state;
    char url[256], *rows = v1_rows_sql();
    fx_v1_store(f, rows, url, sizeof url);
    free(rows);
    dc__store *s = NULL;
    int v = 0;
    assert_int_equal(dc__store_open(url, f->dir, KEY, &s), 0);
    assert_int_equal(dc__store_schema_version(s, &v), 0);
    assert_int_equal(v, DC__SCHEMA_VERSION);

    dc__account *g = NULL;
    assert_int_equal(dc__store_account_get(s, "acc_v1", &g), 0);
    assert_string_equal(g->name, "Old Co");
    assert_string_equal(g->api_secret, "sk_v1secret");
    assert_int_equal(g->ring_timeout_s, 40);
    dc__account_free(g);

    dc__call_rec *l = NULL;
    assert_int_equal(dc__store_call_load(s, "acc_v1", "c_v1done", &l), 0);
    assert_string_equal(l->caller_name, "Asha");
    assert_string_equal(l->reason, "completed");
    assert_string_equal(l->ended_by, "driver_7");
    assert_int_equal(l->ended_ms, 1600000043250);
    assert_int_equal(l->q_samples, 0);
    json_t *j = dc__call_rec_json(l);
    assert_true(json_is_null(json_object_get(j, "quality")));
    assert_int_equal(json_integer_value(json_object_get(j, "duration_ms")), 41250);
    json_decref(j);

    /* migration 4 backfilled the stats rollup from the ended calls (an aligned range reads the
     * rollup alone) */
    const int64_t v1slot = 1600000001000 - 1600000001000 % 900000;
    struct slots got = stats_of(s, "acc_v1", v1slot, v1slot + 900000);
    assert_int_equal(got.n, 1);
    assert_int_equal(slot_of(&got, v1slot, "completed")->calls, 1);
    assert_int_equal(slot_of(&got, v1slot, "completed")->duration_ms, 41250);
    assert_int_equal(slot_of(&got, v1slot, "completed")->q_calls, 0);

    /* the old rows take a quality summary like new ones */
    set_quality(l, 3, 4.25, 3.75, 0.5, 120.0, 12.0);
    assert_int_equal(dc__store_call_save(s, l, NULL, 0), 0);
    got = stats_of(s, "acc_v1", v1slot, v1slot + 900000);
    assert_int_equal(got.n, 1);
    assert_int_equal(slot_of(&got, v1slot, "completed")->calls, 1);
    assert_int_equal(slot_of(&got, v1slot, "completed")->q_calls, 1);
    assert_true(fabs(slot_of(&got, v1slot, "completed")->mos_min - 3.75) < 1e-9);
    dc__call_rec *l2 = NULL;
    assert_int_equal(dc__store_call_load(s, "acc_v1", "c_v1done", &l2), 0);
    assert_quality_eq(l2, l);
    dc__call_rec_free(l2);

    json_t *arr = NULL;
    char *next = NULL;
    dc__call_filter fl = {.limit = 10};
    assert_int_equal(dc__store_calls_list(s, "acc_v1", &fl, &arr, &next), 0);
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "id")),
                        "c_v1ring");
    json_decref(arr);
    int n = 0;
    assert_int_equal(dc__store_calls_close_open(s, 1600000099000, "server_restart", NULL, NULL, &n),
                     0);
    assert_int_equal(n, 1);
    dc__store_close(s);

    /* reopened: nothing migrates twice, everything is still there */
    assert_int_equal(dc__store_open(url, f->dir, KEY, &s), 0);
    assert_int_equal(dc__store_schema_version(s, &v), 0);
    assert_int_equal(v, DC__SCHEMA_VERSION);
    assert_int_equal(dc__store_call_load(s, "acc_v1", "c_v1done", &l2), 0);
    assert_quality_eq(l2, l);
    dc__call_rec_free(l2);
    assert_int_equal(dc__store_call_load(s, "acc_v1", "c_v1ring", &l2), 0);
    assert_string_equal(l2->reason, "failed");
    dc__call_rec_free(l2);
    dc__call_rec_free(l);
    dc__store_close(s);
}

#define STORE_SUITE_TESTS(setup, teardown)                                                         \
    cmocka_unit_test_setup_teardown(test_account, setup, teardown),                                \
        cmocka_unit_test_setup_teardown(test_account_wrong_key, setup, teardown),                  \
        cmocka_unit_test_setup_teardown(test_call_save_load, setup, teardown),                     \
        cmocka_unit_test_setup_teardown(test_calls_list, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(test_isolation, setup, teardown),                          \
        cmocka_unit_test_setup_teardown(test_close_open, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(test_stats, setup, teardown),                              \
        cmocka_unit_test_setup_teardown(test_stats_rollup, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(test_missed, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_revoke, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_outbox, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_schema_reopen, setup, teardown),                      \
        cmocka_unit_test_setup_teardown(test_call_quality, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(test_web_signin, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(test_migrate_v1, setup, teardown)

#endif
