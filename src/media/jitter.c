/* Adaptive jitter buffer: see jitter.h for the model and why it is not speexdsp's. */
#include "media/jitter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dcall/errors.h"

#define WINDOW 128
#define MARGIN_MS 10.0
/* This many late packets in a row means the sender's clock moved back (restart, or a pause its
 * timestamps did not count): follow it rather than drop everything from now on. */
#define LATE_RESYNC 10
/* The first target, before any jitter has been measured: covers ordinary Wi-Fi jitter so the
 * first second is not lost to late packets, and rises at once on a jittery path. Kept low enough
 * that a clean path settles (to 20-30 ms) without dropping a frame: a frame is only dropped once
 * playout runs 30 ms behind the target, and from 60 ms it did drop one or two, a 20-40 ms jump in
 * what the listener hears early in the call. */
#define START_TARGET_MS 40.0
/* Frames are only skipped once the delay estimate has this many samples (about 1 s): until then
 * the minimum delay is still being discovered and skipping would cut the first words. */
#define SKIP_MIN_SAMPLES 50
/* Skip a frame once playout runs this much later than needed: after the skip it is 10..20 ms
 * late, so skips and inserts (below 0) never chase each other. */
#define SKIP_LAG_MS 30.0

struct slot {
    int used;
    int64_t ext; /* unwrapped timestamp, on the 960-tick grid */
    uint16_t seq;
    size_t len;
    uint8_t data[DC_JB_MAX_PAYLOAD];
};

struct dc__jb {
    struct slot slots[DC_JB_SLOTS];
    uint8_t out[DC_JB_MAX_PAYLOAD];
    int have_stream, playing;
    int64_t base;     /* unwrapped timestamp of the stream's first packet: media time 0 */
    int64_t last_ext; /* highest unwrapped timestamp seen: the unwrap reference */
    int64_t play;     /* unwrapped timestamp of the next frame to play */
    double win[WINDOW];
    int win_n, win_pos;
    double min_d, target;
    double jitter, prev_transit;
    int have_transit, late_run;
    dc__jb_stats st;
};

int dc__jb_new(dc__jb **out)
{
    if (!out)
        return DC_EINVAL;
    *out = calloc(1, sizeof(dc__jb));
    if (!*out)
        return DC_ENOMEM;
    dc__jb_reset(*out);
    return 0;
}

void dc__jb_free(dc__jb *jb)
{
    free(jb);
}

static void restart(dc__jb *jb)
{
    for (int i = 0; i < DC_JB_SLOTS; i++)
        jb->slots[i].used = 0;
    jb->have_stream = jb->playing = 0;
    jb->win_n = jb->win_pos = 0;
    jb->have_transit = 0;
    jb->late_run = 0;
    jb->min_d = 0;
    jb->target = START_TARGET_MS;
}

void dc__jb_reset(dc__jb *jb)
{
    if (!jb)
        return;
    restart(jb);
    memset(&jb->st, 0, sizeof(jb->st));
    jb->jitter = 0;
    jb->st.target_ms = (int)START_TARGET_MS;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static struct slot *slot_of(dc__jb *jb, int64_t ext)
{
    int64_t k = floor_div(ext - jb->base, DC_JB_FRAME_TS);
    int64_t i = k % DC_JB_SLOTS;
    return &jb->slots[i < 0 ? i + DC_JB_SLOTS : i];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Records one delay sample and recomputes min_d and the target (see jitter.h). */
static void add_delay_sample(dc__jb *jb, double d)
{
    if (jb->have_transit) {
        double diff = fabs(d - jb->prev_transit);
        jb->jitter += (diff - jb->jitter) / 16.0;
    }
    jb->prev_transit = d;
    jb->have_transit = 1;

    jb->win[jb->win_pos] = d;
    jb->win_pos = (jb->win_pos + 1) % WINDOW;
    if (jb->win_n < WINDOW)
        jb->win_n++;
    double sorted[WINDOW];
    memcpy(sorted, jb->win, sizeof(double) * (size_t)jb->win_n);
    qsort(sorted, (size_t)jb->win_n, sizeof(double), cmp_double);
    jb->min_d = sorted[0];
    double p95 = sorted[(int)(0.95 * (jb->win_n - 1))];
    double want = p95 - jb->min_d + MARGIN_MS;
    if (want < DC_JB_MIN_DELAY_MS)
        want = DC_JB_MIN_DELAY_MS;
    if (want > DC_JB_MAX_DELAY_MS)
        want = DC_JB_MAX_DELAY_MS;
    if (want >= jb->target)
        jb->target = want;
    else
        jb->target = fmax(want, jb->target - 1.0);
}

static void start_stream(dc__jb *jb, uint32_t ts)
{
    restart(jb);
    jb->have_stream = 1;
    /* Offset keeps unwrapped timestamps positive even if earlier packets arrive later. */
    jb->base = jb->last_ext = jb->play = (int64_t)ts + ((int64_t)1 << 32);
}

static int64_t unwrap(dc__jb *jb, uint32_t ts)
{
    int64_t ext = jb->last_ext + (int32_t)(ts - (uint32_t)jb->last_ext);
    if (ext > jb->last_ext)
        jb->last_ext = ext;
    return ext;
}

/* Returns the grid timestamp for the packet, or -1 when it must be dropped as late. */
static int64_t place(dc__jb *jb, uint32_t ts, int64_t now_ms, dc__jb_put_result *res)
{
    int64_t ext = unwrap(jb, ts);
    int64_t grid = jb->base + floor_div(ext - jb->base, DC_JB_FRAME_TS) * DC_JB_FRAME_TS;
    int64_t span = (int64_t)DC_JB_SLOTS * DC_JB_FRAME_TS;
    if (grid >= jb->play + span) {
        *res = DC_JB_RESYNC; /* too far ahead to hold: the sender jumped */
    } else if (grid < jb->play) {
        if (!jb->playing && jb->play - grid < span / 2) {
            jb->play = grid; /* reordered before playout began: start earlier */
        } else if (++jb->late_run >= LATE_RESYNC) {
            *res = DC_JB_RESYNC;
        } else {
            add_delay_sample(jb, (double)now_ms - (double)(ext - jb->base) / 48.0);
            return -1;
        }
    }
    if (*res == DC_JB_RESYNC) {
        jb->st.resyncs++;
        start_stream(jb, ts);
        return jb->base;
    }
    jb->late_run = 0;
    return grid;
}

int dc__jb_put(dc__jb *jb, uint16_t seq, uint32_t ts, const uint8_t *data, size_t len,
               int64_t now_ms, dc__jb_put_result *result)
{
    dc__jb_put_result res = DC_JB_ACCEPTED;
    if (result)
        *result = res;
    if (!jb || !data || len == 0 || len > DC_JB_MAX_PAYLOAD)
        return DC_EINVAL;
    if (!jb->have_stream)
        start_stream(jb, ts);
    int64_t grid = place(jb, ts, now_ms, &res);
    if (grid < 0) {
        jb->st.late++;
        if (result)
            *result = DC_JB_LATE;
        return 0;
    }
    struct slot *s = slot_of(jb, grid);
    if (s->used && s->ext == grid) {
        jb->st.duplicate++;
        if (result)
            *result = DC_JB_DUPLICATE;
        return 0;
    }
    s->used = 1;
    s->ext = grid;
    s->seq = seq;
    s->len = len;
    memcpy(s->data, data, len);
    jb->st.received++;
    add_delay_sample(jb, (double)now_ms - (double)(grid - jb->base) / 48.0);
    if (result)
        *result = res;
    return 0;
}

static struct slot *held(dc__jb *jb, int64_t ext)
{
    struct slot *s = slot_of(jb, ext);
    return s->used && s->ext == ext ? s : NULL;
}

/* How much later than the target delay asks the next frame is being played, in ms: below 0 the
 * frame is due only in the future (it may not have arrived), 0..20 is on time given 20 ms ticks. */
static double playout_lag(const dc__jb *jb, int64_t now_ms)
{
    double due_media_ms = (double)now_ms - jb->min_d - jb->target;
    return due_media_ms - (double)(jb->play - jb->base) / 48.0;
}

static void emit(dc__jb *jb, dc__jb_frame *out)
{
    struct slot *s = held(jb, jb->play);
    struct slot *next = s ? NULL : held(jb, jb->play + DC_JB_FRAME_TS);
    out->ts = (uint32_t)jb->play;
    if (s || next) {
        struct slot *src = s ? s : next;
        memcpy(jb->out, src->data, src->len);
        out->data = jb->out;
        out->len = src->len;
        out->seq = src->seq;
        out->kind = s ? DC_JB_FRAME : DC_JB_FEC;
        if (s) {
            jb->st.played++;
            s->used = 0;
        } else {
            jb->st.fec++;
        }
    } else {
        out->kind = DC_JB_LOST;
        jb->st.lost++;
    }
    jb->play += DC_JB_FRAME_TS;
}

int dc__jb_get(dc__jb *jb, int64_t now_ms, dc__jb_frame *out)
{
    if (!jb || !out)
        return DC_EINVAL;
    memset(out, 0, sizeof(*out));
    out->kind = DC_JB_EMPTY;
    jb->st.target_ms = (int)lround(jb->target);
    if (!jb->have_stream)
        return 0;
    double lag = playout_lag(jb, now_ms);
    if (!jb->playing) {
        if (lag < 0)
            return 0;
        jb->playing = 1;
    } else if (lag < 0) {
        out->kind = DC_JB_INSERT;
        out->ts = (uint32_t)jb->play;
        jb->st.inserted++;
        return 0;
    }
    if (lag >= SKIP_LAG_MS && jb->win_n >= SKIP_MIN_SAMPLES) {
        /* Too deep: drop one frame now (one per tick keeps each correction at 20 ms). */
        struct slot *s = held(jb, jb->play);
        if (s)
            s->used = 0;
        jb->play += DC_JB_FRAME_TS;
        jb->st.skipped++;
    }
    emit(jb, out);
    return 0;
}

void dc__jb_get_stats(const dc__jb *jb, dc__jb_stats *out)
{
    if (!jb || !out)
        return;
    *out = jb->st;
    out->target_ms = (int)lround(jb->target);
    out->jitter_ms = jb->jitter;
}
