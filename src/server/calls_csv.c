/* The call log as CSV (GET /v1/calls?format=csv): every call matching the filter, newest first,
 * at most DC__CSV_MAX_ROWS, RFC 4180 quoting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

typedef struct dc__csvbuf {
    char *p;
    size_t len, cap;
    int oom;
} dc__csvbuf;

static void dc__csv_put(dc__csvbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *g = realloc(b->p, cap);
        if (!g) {
            b->oom = 1;
            return;
        }
        b->p = g;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* One field: as is, or in double quotes (inner quotes doubled) when it holds a comma, a quote,
 * CR or LF. Text that a spreadsheet would run as a formula (starting with = + - @ TAB or CR) gets
 * a leading apostrophe, as OWASP advises against CSV injection. */
static void dc__csv_field(dc__csvbuf *b, const char *v, int text, int last)
{
    int formula = text && v && v[0] && strchr("=+-@\t\r", v[0]);
    if (v && (formula || v[strcspn(v, ",\"\r\n")])) {
        dc__csv_put(b, formula ? "\"'" : "\"", formula ? 2 : 1);
        for (const char *q; (q = strchr(v, '"')); v = q + 1) {
            dc__csv_put(b, v, (size_t)(q - v));
            dc__csv_put(b, "\"\"", 2);
        }
        dc__csv_put(b, v, strlen(v));
        dc__csv_put(b, "\"", 1);
    } else if (v) {
        dc__csv_put(b, v, strlen(v));
    }
    dc__csv_put(b, last ? "\r\n" : ",", last ? 2 : 1);
}

/* A JSON value as CSV text ("" for null); numbers in buf. */
static const char *dc__csv_text(json_t *v, char *buf, size_t n)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v))
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, n, "%.2f", json_real_value(v));
    else
        return "";
    return buf;
}

static const char *const dc__csv_cols[] = {"id",          "created_at", "caller",      "callee",
                                           "state",       "reason",     "answered_at", "ended_at",
                                           "duration_ms", "mos_avg",    "context"};
#define DC__CSV_NCOLS ((int)(sizeof dc__csv_cols / sizeof dc__csv_cols[0]))

static void dc__csv_row(dc__csvbuf *b, json_t *call)
{
    char num[32];
    for (int i = 0; i < DC__CSV_NCOLS; i++) {
        json_t *v = !strcmp(dc__csv_cols[i], "mos_avg")
                        ? json_object_get(json_object_get(call, "quality"), "mos_avg")
                        : json_object_get(call, dc__csv_cols[i]);
        dc__csv_field(b, dc__csv_text(v, num, sizeof num), json_is_string(v),
                      i == DC__CSV_NCOLS - 1);
    }
}

int dc__calls_csv(dc__store *store, const char *account_id, const dc__call_filter *filter,
                  char **out, size_t *out_len)
{
    dc__csvbuf b = {0};
    dc__call_filter f = *filter;
    char *cursor = NULL;
    size_t rows = 0;
    int rc = 0;
    for (int i = 0; i < DC__CSV_NCOLS; i++)
        dc__csv_field(&b, dc__csv_cols[i], 0, i == DC__CSV_NCOLS - 1);
    f.limit = 1000;
    f.cursor = NULL;
    do {
        json_t *arr = NULL;
        char *next = NULL;
        rc = dc__store_calls_list(store, account_id, &f, &arr, &next);
        size_t k;
        json_t *call;
        json_array_foreach(arr, k, call)
        {
            if (rows++ < DC__CSV_MAX_ROWS)
                dc__csv_row(&b, call);
        }
        json_decref(arr);
        free(cursor);
        cursor = next;
        f.cursor = cursor;
    } while (!rc && cursor && rows < DC__CSV_MAX_ROWS && !b.oom);
    free(cursor);
    if (!rc && b.oom)
        rc = DC_ENOMEM;
    if (rc) {
        free(b.p);
        return rc;
    }
    *out = b.p;
    *out_len = b.len;
    return 0;
}
