/* Call statistics by end reason, bucketed in the caller's time zone. The store counts ended calls
 * per 15-minute UTC slot; every real zone offset is a multiple of 15 minutes, so each slot falls
 * in exactly one local hour/day/week/month bucket. Bucket boundaries come from the C library's
 * zone database (TZ + mktime), guarded by a mutex as TZ is process-wide. */
#include <limits.h>
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
    if (n == 0 || n > 60 || tz[0] == '/' || strstr(tz, ".."))
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

typedef struct dc__stats_acc {
    int64_t *starts;
    int n;
    int64_t (*counts)[DC__N_REASONS];
    int64_t totals[DC__N_REASONS];
} dc__stats_acc;

static void dc__stats_slot(int64_t slot_ms, const char *reason, int64_t count, void *ud)
{
    dc__stats_acc *acc = ud;
    int ri = dc__end_reason_index(reason);
    if (ri < 0)
        return;
    acc->totals[ri] += count;
    int lo = 0, hi = acc->n - 1, b = -1;
    while (lo <= hi) { /* last bucket whose start <= slot */
        int mid = (lo + hi) / 2;
        if (acc->starts[mid] <= slot_ms) {
            b = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    if (b >= 0)
        acc->counts[b][ri] += count;
}

static json_t *dc__counts_json(const int64_t c[DC__N_REASONS])
{
    json_t *o = json_object();
    for (int i = 0; i < DC__N_REASONS; i++)
        json_object_set_new(o, dc__end_reasons[i], json_integer(c[i]));
    return o;
}

int dc__stats_query(dc__store *store, const char *account_id, int64_t from_ms, int64_t to_ms,
                    const char *granularity, const char *tz, json_t **out)
{
    if (dc__tz_valid(tz) < 0)
        return DC_ETZ;
    dc__stats_acc acc;
    memset(&acc, 0, sizeof acc);
    acc.starts = calloc(DC__MAX_BUCKETS, sizeof *acc.starts);
    acc.counts = calloc(DC__MAX_BUCKETS, sizeof *acc.counts);
    if (!acc.starts || !acc.counts) {
        free(acc.starts);
        free(acc.counts);
        return DC_ENOMEM;
    }
    dc__bucket_starts(tz, granularity, from_ms, to_ms, acc.starts, &acc.n);
    int rc = dc__store_stats_slots(store, account_id, from_ms, to_ms, dc__stats_slot, &acc);
    if (rc == 0) {
        char f[32], t[32], s[32];
        dc__iso8601(f, from_ms);
        dc__iso8601(t, to_ms);
        json_t *buckets = json_array();
        for (int i = 0; i < acc.n; i++) {
            dc__iso8601(s, acc.starts[i]);
            json_t *b = json_pack("{ss}", "start", s);
            json_t *counts = dc__counts_json(acc.counts[i]);
            json_object_update(b, counts);
            json_decref(counts);
            json_array_append_new(buckets, b);
        }
        *out = json_pack("{ss ss ss ss so so}", "from", f, "to", t, "granularity", granularity,
                         "tz", tz, "totals", dc__counts_json(acc.totals), "buckets", buckets);
    }
    free(acc.starts);
    free(acc.counts);
    return rc;
}
