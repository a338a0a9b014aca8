/* Echo cancellation, noise suppression and gain control for device audio (see apm.h). */
#include "sdk/apm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

#include "dcall/errors.h"
#include "sdk/audio_dev.h"

#define APM_FIFO 8  /* played blocks held at most (160 ms) */
#define APM_SLACK 2 /* played blocks kept after a take: absorbs callback jitter */
#define NOISE_SUPPRESS_DB (-25)
#define AGC_LEVEL 30000.0f /* speex's loudness target (its default) */
#define AGC_MAX_GAIN_DB 20

struct dc__apm {
    struct dc__apm_cfg cfg;
    SpeexEchoState *echo;
    SpeexPreprocessState *pre;
    pthread_mutex_t mu; /* guards the FIFO and its counters */
    int16_t fifo[APM_FIFO][DC_AUDIO_BLOCK];
    int head, count;
    uint64_t ref_empty, ref_drop;
    uint64_t frames, cpu_ns; /* the processing thread's */
    int16_t tmp[DC_AUDIO_BLOCK];
};

void dc__apm_default_cfg(struct dc__apm_cfg *cfg)
{
    cfg->aec = 1;
    cfg->ns = 1;
    cfg->agc = 1;
}

static int setup_pre(dc__apm *a)
{
    int on = 1, off = 0, ns_db = NOISE_SUPPRESS_DB, max_gain = AGC_MAX_GAIN_DB;
    float level = AGC_LEVEL;
    a->pre = speex_preprocess_state_init(DC_AUDIO_BLOCK, DC_AUDIO_RATE);
    if (!a->pre)
        return DC_ENOMEM;
    speex_preprocess_ctl(a->pre, SPEEX_PREPROCESS_SET_DENOISE, a->cfg.ns ? &on : &off);
    speex_preprocess_ctl(a->pre, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, &ns_db);
    speex_preprocess_ctl(a->pre, SPEEX_PREPROCESS_SET_AGC, a->cfg.agc ? &on : &off);
    speex_preprocess_ctl(a->pre, SPEEX_PREPROCESS_SET_AGC_LEVEL, &level);
    speex_preprocess_ctl(a->pre, SPEEX_PREPROCESS_SET_AGC_MAX_GAIN, &max_gain);
    if (a->echo)
        speex_preprocess_ctl(a->pre, SPEEX_PREPROCESS_SET_ECHO_STATE, a->echo);
    return 0;
}

int dc__apm_new(const struct dc__apm_cfg *cfg, dc__apm **out)
{
    if (!cfg || !out)
        return DC_EINVAL;
    *out = NULL;
    dc__apm *a = calloc(1, sizeof(*a));
    if (!a)
        return DC_ENOMEM;
    a->cfg = *cfg;
    pthread_mutex_init(&a->mu, NULL);
    int rc = 0;
    if (cfg->aec) {
        int rate = DC_AUDIO_RATE;
        a->echo = speex_echo_state_init(DC_AUDIO_BLOCK, DC_AUDIO_RATE / 1000 * DC_APM_TAIL_MS);
        if (!a->echo)
            rc = DC_ENOMEM;
        else
            speex_echo_ctl(a->echo, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
    }
    if (rc == 0 && (cfg->ns || cfg->agc || cfg->aec))
        rc = setup_pre(a);
    if (rc != 0) {
        dc__apm_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void dc__apm_free(dc__apm *a)
{
    if (!a)
        return;
    if (a->pre)
        speex_preprocess_state_destroy(a->pre);
    if (a->echo)
        speex_echo_state_destroy(a->echo);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

void dc__apm_played(dc__apm *a, const int16_t *pcm)
{
    pthread_mutex_lock(&a->mu);
    if (a->count == APM_FIFO) { /* no capture is taking them: keep the newest */
        a->head = (a->head + 1) % APM_FIFO;
        a->count--;
        a->ref_drop++;
    }
    memcpy(a->fifo[(a->head + a->count) % APM_FIFO], pcm, sizeof(a->fifo[0]));
    a->count++;
    pthread_mutex_unlock(&a->mu);
}

void dc__apm_reference(dc__apm *a, int16_t *far)
{
    pthread_mutex_lock(&a->mu);
    if (a->count == 0) {
        memset(far, 0, DC_AUDIO_BLOCK * sizeof(*far));
        a->ref_empty++;
    } else {
        memcpy(far, a->fifo[a->head], sizeof(a->fifo[0]));
        a->head = (a->head + 1) % APM_FIFO;
        a->count--;
        while (a->count > APM_SLACK) {
            a->head = (a->head + 1) % APM_FIFO;
            a->count--;
            a->ref_drop++;
        }
    }
    pthread_mutex_unlock(&a->mu);
}

static uint64_t thread_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

int dc__apm_process(dc__apm *a, const int16_t *near, const int16_t *far, int16_t *out)
{
    if (!a || !near || !far || !out)
        return DC_EINVAL;
    uint64_t t0 = thread_ns();
    if (a->echo) {
        speex_echo_cancellation(a->echo, near, far, a->tmp);
        memcpy(out, a->tmp, sizeof(a->tmp));
    } else if (out != near) {
        memcpy(out, near, DC_AUDIO_BLOCK * sizeof(*out));
    }
    if (a->pre)
        speex_preprocess_run(a->pre, out);
    a->frames++;
    a->cpu_ns += thread_ns() - t0;
    return 0;
}

void dc__apm_get_stats(dc__apm *a, struct dc__apm_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    out->ref_empty = a->ref_empty;
    out->ref_drop = a->ref_drop;
    pthread_mutex_unlock(&a->mu);
    out->frames = a->frames;
    out->cpu_ns = a->cpu_ns;
}
