/* Call statistics by end reason, bucketed in the caller's time zone. The store counts ended calls
 * per 15-minute UTC slot; every real zone offset is a multiple of 15 minutes, so each slot falls
 * in exactly one local hour/day/week/month bucket. Bucket boundaries come from the C library's
 * zone database (TZ + mktime), guarded by a mutex as TZ is process-wide. */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "server/server.h"

#define DC__MAX_BUCKETS 800

static pthread_mutex_t dc__tz_mu = PTHREAD_MUTEX_INITIALIZER;

static int dc__tz_valid(const char *tz)
{
    size_t n = strlen(tz);
    if (!strcmp(tz, "UTC"))
        return 0;
    /* right/...: leap-second zones, whose time_t midnights fall 27 s off the UTC slots */
    if (n == 0 || n > 60 || tz[0] == '/' || strstr(tz, "..") || !strncmp(tz, "right/", 6))
        return DC_ETZ;
    for (size_t i = 0; i < n; i++) {
        char c = tz[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '+' || c == '/'))
            return DC_ETZ;
    }
    char path[128];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
    struct stat st; /* a zone is a file; "America" is a directory */
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? 0 : DC_ETZ;
}

static time_t dc__truncate(time_t t, const char *g)
{
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_sec = 0;
    tm.tm_min = 0;
    if (strcmp(g, "hour") != 0) {
        tm.tm_hour = 0;
        if (!strcmp(g, "week"))
            tm.tm_mday -= (tm.tm_wday + 6) % 7;
        else if (!strcmp(g, "month"))
            tm.tm_mday = 1;
    }
    tm.tm_isdst = -1;
    return mktime(&tm);
}

static time_t dc__next(time_t t, const char *g)
{
    if (!strcmp(g, "hour"))
        return t + 3600;
    struct tm tm;
    localtime_r(&t, &tm);
    if (!strcmp(g, "day"))
        tm.tm_mday += 1;
    else if (!strcmp(g, "week"))
        tm.tm_mday += 7;
    else
        tm.tm_mon += 1;
    tm.tm_hour = 0;
    tm.tm_min = 0;
    tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return mktime(&tm);
}

/* Bucket starts (Unix ms) covering [from, to). */
static int dc__bucket_starts(const char *tz, const char *g, int64_t from, int64_t to,
                             int64_t *starts, int *n)
{
    pthread_mutex_lock(&dc__tz_mu);
    char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    setenv("TZ", tz, 1);
    tzset();
    *n = 0;
    time_t t = dc__truncate((time_t)(from / 1000), g);
    while ((int64_t)t * 1000 < to && *n < DC__MAX_BUCKETS) {
        starts[(*n)++] = (int64_t)t * 1000;
        time_t nx = dc__next(t, g);
        if (nx <= t)
            break;
        t = nx;
    }
    if (old)
        setenv("TZ", old, 1);
    else
        unsetenv("TZ");
    tzset();
    free(old);
    pthread_mutex_unlock(&dc__tz_mu);
    return 0;
}

/* What a bucket (or the whole range) adds up; the summary reads sums, never averages, so that
 * buckets and slots add up exactly. */
typedef struct dc__stats_sum {
    int64_t by_reason[DC__N_REASONS];
    int64_t calls, answered, duration_ms, q_calls;
    double mos_sum, mos_min;
} dc__stats_sum;

typedef struct dc__stats_acc {
    int64_t *starts;
    int n;
    dc__stats_sum *buckets;
    dc__stats_sum all;
} dc__stats_acc;

static void dc__sum_add(dc__stats_sum *s, int ri, const dc__stats_slot *v)
{
    s->by_reason[ri] += v->calls;
    s->calls += v->calls;
    s->answered += v->answered;
    s->duration_ms += v->duration_ms;
    if (v->q_calls > 0) {
        if (s->q_calls == 0 || v->mos_min < s->mos_min)
            s->mos_min = v->mos_min;
        s->q_calls += v->q_calls;
        s->mos_sum += v->mos_sum;
    }
}

static void dc__stats_slot_cb(const dc__stats_slot *v, void *ud)
{
    dc__stats_acc *acc = ud;
    int ri = dc__end_reason_index(v->reason);
    if (ri < 0)
        return;
    dc__sum_add(&acc->all, ri, v);
    int lo = 0, hi = acc->n - 1, b = -1;
    while (lo <= hi) { /* last bucket whose start <= slot */
        int mid = (lo + hi) / 2;
        if (acc->starts[mid] <= v->slot_ms) {
            b = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    if (b >= 0)
        dc__sum_add(&acc->buckets[b], ri, v);
}

static json_t *dc__counts_json(const int64_t c[DC__N_REASONS])
{
    json_t *o = json_object();
    for (int i = 0; i < DC__N_REASONS; i++)
        json_object_set_new(o, dc__end_reasons[i], json_integer(c[i]));
    return o;
}

/* num / den rounded to 1/scale, or null when there is nothing to divide by. */
static json_t *dc__ratio_json(double num, int64_t den, double scale)
{
    if (den <= 0)
        return json_null();
    return json_real(round(num / (double)den * scale) / scale);
}

static json_t *dc__mos_min_json(const dc__stats_sum *s)
{
    return s->q_calls > 0 ? json_real(round(s->mos_min * 100.0) / 100.0) : json_null();
}

static json_t *dc__summary_json(const dc__stats_sum *s)
{
    json_t *avg_dur =
        s->answered > 0
            ? json_integer((json_int_t)llround((double)s->duration_ms / (double)s->answered))
            : json_null();
    return json_pack("{sI sI so so so so sI}", "total", (json_int_t)s->calls, "answered",
                     (json_int_t)s->answered, "answer_rate",
                     dc__ratio_json((double)s->answered, s->calls, 1e4), "avg_duration_ms", avg_dur,
                     "mos_avg", dc__ratio_json(s->mos_sum, s->q_calls, 100.0), "mos_min",
                     dc__mos_min_json(s), "quality_calls", (json_int_t)s->q_calls);
}

static json_t *dc__bucket_json(int64_t start_ms, const dc__stats_sum *s)
{
    char iso[32];
    dc__iso8601(iso, start_ms);
    json_t *b = json_pack("{ss}", "start", iso);
    json_t *counts = dc__counts_json(s->by_reason);
    json_object_update(b, counts);
    json_decref(counts);
    json_object_set_new(b, "total", json_integer(s->calls));
    json_object_set_new(b, "mos_avg", dc__ratio_json(s->mos_sum, s->q_calls, 100.0));
    return b;
}

int dc__stats_query(dc__store *store, const char *account_id, int64_t from_ms, int64_t to_ms,
                    const char *granularity, const char *tz, json_t **out)
{
    if (dc__tz_valid(tz) < 0)
        return DC_ETZ;
    dc__stats_acc acc;
    memset(&acc, 0, sizeof acc);
    acc.starts = calloc(DC__MAX_BUCKETS, sizeof *acc.starts);
    acc.buckets = calloc(DC__MAX_BUCKETS, sizeof *acc.buckets);
    if (!acc.starts || !acc.buckets) {
        free(acc.starts);
        free(acc.buckets);
        return DC_ENOMEM;
    }
    dc__bucket_starts(tz, granularity, from_ms, to_ms, acc.starts, &acc.n);
    int rc = dc__store_stats_slots(store, account_id, from_ms, to_ms, dc__stats_slot_cb, &acc);
    if (rc == 0) {
        char f[32], t[32];
        dc__iso8601(f, from_ms);
        dc__iso8601(t, to_ms);
        json_t *buckets = json_array();
        for (int i = 0; i < acc.n; i++)
            json_array_append_new(buckets, dc__bucket_json(acc.starts[i], &acc.buckets[i]));
        *out = json_pack("{ss ss ss ss so so so}", "from", f, "to", t, "granularity", granularity,
                         "tz", tz, "totals", dc__counts_json(acc.all.by_reason), "summary",
                         dc__summary_json(&acc.all), "buckets", buckets);
        if (!*out)
            rc = DC_ENOMEM;
    }
    free(acc.starts);
    free(acc.buckets);
    return rc;
}
