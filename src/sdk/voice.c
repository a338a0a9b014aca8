/* The audio path of one call (see media.h). WAV files are driven directly from the engine's 20 ms
 * tick on the loop thread, so a file plays and records in step with the network clock; PortAudio
 * devices run on their own clock and meet the tick through small mutex-guarded block queues. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcall/errors.h"
#include "media.h"
#include "media/jitter.h"
#include "media/opus_codec.h"
#include "sdk/apm.h"
#include "sdk/audio_dev.h"

#define QBLOCKS 8 /* 160 ms of device queue: enough for scheduling noise, not a delay source */

struct blockq {
    pthread_mutex_t mu;
    int16_t pcm[QBLOCKS][DC_AUDIO_BLOCK];
    int16_t ref[QBLOCKS][DC_AUDIO_BLOCK]; /* capture queue with apm: the played block paired */
    int head, count;
};

enum src_kind { SRC_NONE, SRC_WAV, SRC_DEV };

struct dc__voice {
    enum src_kind in_kind, out_kind;
    char *in_path, *out_path;
    dc__audio_dev *in, *out;
    struct blockq inq, outq;
    /* echo cancellation, noise suppression, AGC: PortAudio capture only (never WAV), unless
     * switched off; see apm.h */
    dc__apm *apm;
    int media; /* audio flows end to end: files run */
    dc__opus_enc *enc;
    dc__opus_dec *dec;
    dc__jb *jb;
    int mute, hold;
    double gain;
    int in_err, out_err; /* a source/sink that failed to open, not yet reported */
    struct dc__voice_stats st;
};

static void q_push(struct blockq *q, const int16_t *pcm, const int16_t *ref)
{
    pthread_mutex_lock(&q->mu);
    if (q->count == QBLOCKS) { /* the consumer fell behind: drop the oldest block */
        q->head = (q->head + 1) % QBLOCKS;
        q->count--;
    }
    memcpy(q->pcm[(q->head + q->count) % QBLOCKS], pcm, sizeof q->pcm[0]);
    if (ref)
        memcpy(q->ref[(q->head + q->count) % QBLOCKS], ref, sizeof q->ref[0]);
    q->count++;
    pthread_mutex_unlock(&q->mu);
}

static int q_pop(struct blockq *q, int16_t *pcm, int16_t *ref)
{
    int ok = 0;
    pthread_mutex_lock(&q->mu);
    if (q->count > 0) {
        memcpy(pcm, q->pcm[q->head], sizeof q->pcm[0]);
        if (ref)
            memcpy(ref, q->ref[q->head], sizeof q->ref[0]);
        q->head = (q->head + 1) % QBLOCKS;
        q->count--;
        ok = 1;
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

static void capture_cb(void *user, int16_t *pcm, size_t samples)
{
    struct dc__voice *v = user;
    int16_t ref[DC_AUDIO_BLOCK];
    if (samples != DC_AUDIO_BLOCK)
        return;
    if (v->apm)
        dc__apm_reference(v->apm, ref);
    q_push(&v->inq, pcm, v->apm ? ref : NULL);
}

static void playback_cb(void *user, int16_t *pcm, size_t samples)
{
    struct dc__voice *v = user;
    if (samples != DC_AUDIO_BLOCK)
        return;
    if (!q_pop(&v->outq, pcm, NULL))
        memset(pcm, 0, samples * sizeof *pcm);
    if (v->apm) /* the echo reference: exactly what the speaker gets */
        dc__apm_played(v->apm, pcm);
}

/* A spec that names a PortAudio device (open_spec's rule). */
static int is_device_spec(const char *spec)
{
    return !spec || (strcmp(spec, "null") != 0 && strncmp(spec, "wav:", 4) != 0);
}

/* spec -> kind and (for files) path; device names are opened at once. */
static int open_spec(struct dc__voice *v, const char *spec, dc__audio_dir dir)
{
    enum src_kind *kind = dir == DC_AUDIO_CAPTURE ? &v->in_kind : &v->out_kind;
    char **path = dir == DC_AUDIO_CAPTURE ? &v->in_path : &v->out_path;
    dc__audio_dev **dev = dir == DC_AUDIO_CAPTURE ? &v->in : &v->out;
    *kind = SRC_NONE;
    if (spec && strcmp(spec, "null") == 0)
        return 0;
    if (spec && strncmp(spec, "wav:", 4) == 0) {
        *kind = SRC_WAV;
        *path = strdup(spec + 4);
        return *path ? 0 : DC_ENOMEM;
    }
    const char *name = spec && strncmp(spec, "device:", 7) == 0 ? spec + 7 : spec;
    int rc = dc__audio_open_pa(name, dir, dev);
    if (rc != 0)
        return rc; /* the call goes on without this device */
    rc = dc__audio_start(*dev, dir == DC_AUDIO_CAPTURE ? capture_cb : playback_cb, v);
    if (rc != 0) {
        dc__audio_close(*dev);
        *dev = NULL;
        return rc;
    }
    *kind = SRC_DEV;
    return 0;
}

int dc__voice_new(const struct dc__voice_cfg *cfg, struct dc__voice **out)
{
    struct dc__voice *v = calloc(1, sizeof *v);
    int rc;
    if (!v)
        return DC_ENOMEM;
    pthread_mutex_init(&v->inq.mu, NULL);
    pthread_mutex_init(&v->outq.mu, NULL);
    v->gain = 1.0;
    if ((rc = dc__opus_enc_new(0, &v->enc)) != 0 || (rc = dc__opus_dec_new(&v->dec)) != 0 ||
        (rc = dc__jb_new(&v->jb)) != 0) {
        dc__voice_free(v);
        return rc;
    }
    /* Processing for a capture device, made before any device callback can run; echo
     * cancellation only when the sound also goes out through a device. */
    if (!cfg->no_processing && is_device_spec(cfg->in_spec)) {
        struct dc__apm_cfg ac;
        dc__apm_default_cfg(&ac);
        ac.aec = is_device_spec(cfg->out_spec);
        if ((rc = dc__apm_new(&ac, &v->apm)) != 0) {
            dc__voice_free(v);
            return rc;
        }
    }
    /* A device that cannot be opened leaves that direction silent; the call itself goes on. */
    v->in_err = open_spec(v, cfg->in_spec, DC_AUDIO_CAPTURE);
    v->out_err = open_spec(v, cfg->out_spec, DC_AUDIO_PLAYBACK);
    *out = v;
    return 0;
}

void dc__voice_free(struct dc__voice *v)
{
    if (!v)
        return;
    dc__audio_close(v->in); /* stops the device (its callback is done) and finishes a WAV */
    dc__audio_close(v->out);
    dc__apm_free(v->apm);
    dc__opus_enc_free(v->enc);
    dc__opus_dec_free(v->dec);
    dc__jb_free(v->jb);
    pthread_mutex_destroy(&v->inq.mu);
    pthread_mutex_destroy(&v->outq.mu);
    free(v->in_path);
    free(v->out_path);
    free(v);
}

void dc__voice_start_media(struct dc__voice *v)
{
    if (v->media)
        return;
    v->media = 1;
    int rc;
    if (v->in_kind == SRC_WAV && (rc = dc__audio_open_wav_in(v->in_path, &v->in)) != 0) {
        v->in_err = rc;
        v->in_kind = SRC_NONE;
    }
    if (v->out_kind == SRC_WAV && (rc = dc__audio_open_wav_out(v->out_path, &v->out)) != 0) {
        v->out_err = rc;
        v->out_kind = SRC_NONE;
    }
}

static void capture(struct dc__voice *v, int16_t *pcm)
{
    int got = 0;
    int16_t ref[DC_AUDIO_BLOCK];
    if (v->in_kind == SRC_WAV && v->in)
        got = dc__audio_read(v->in, pcm) == 0; /* files: untouched, never processed */
    else if (v->in_kind == SRC_DEV && v->apm)
        got = q_pop(&v->inq, pcm, ref) && dc__apm_process(v->apm, pcm, ref, pcm) == 0;
    else if (v->in_kind == SRC_DEV)
        got = q_pop(&v->inq, pcm, NULL);
    if (!got || v->mute || v->hold)
        memset(pcm, 0, DC_AUDIO_BLOCK * sizeof *pcm);
}

static void decode(struct dc__voice *v, int64_t now_ms, int16_t *pcm)
{
    dc__jb_frame f;
    int rc = -1;
    if (dc__jb_get(v->jb, now_ms, &f) != 0)
        f.kind = DC_JB_EMPTY;
    switch (f.kind) {
    case DC_JB_FRAME:
        rc = dc__opus_decode(v->dec, f.data, f.len, pcm);
        v->st.played++;
        break;
    case DC_JB_FEC:
        rc = dc__opus_decode_fec(v->dec, f.data, f.len, pcm);
        v->st.fec++;
        break;
    case DC_JB_LOST:
    case DC_JB_INSERT:
        rc = dc__opus_decode_plc(v->dec, pcm);
        v->st.plc++;
        break;
    case DC_JB_EMPTY:
        break;
    }
    if (rc != 0)
        memset(pcm, 0, DC_AUDIO_BLOCK * sizeof *pcm);
}

static void playout(struct dc__voice *v, int16_t *pcm)
{
    if (v->hold) {
        memset(pcm, 0, DC_AUDIO_BLOCK * sizeof *pcm);
    } else if (v->gain != 1.0) {
        for (int i = 0; i < DC_AUDIO_BLOCK; i++) {
            double s = pcm[i] * v->gain;
            pcm[i] = (int16_t)(s > 32767 ? 32767 : s < -32768 ? -32768 : s);
        }
    }
    if (v->out_kind == SRC_WAV && v->out)
        dc__audio_write(v->out, pcm);
    else if (v->out_kind == SRC_DEV)
        q_push(&v->outq, pcm, NULL);
}

void dc__voice_take_errors(struct dc__voice *v, int *in_err, int *out_err)
{
    *in_err = v->in_err;
    *out_err = v->out_err;
    v->in_err = v->out_err = 0;
}

int dc__voice_tick(struct dc__voice *v, int64_t now_ms, uint8_t *pkt, size_t cap, size_t *len)
{
    int16_t pcm[DC_AUDIO_BLOCK];
    *len = 0;
    capture(v, pcm);
    int rc = dc__opus_encode(v->enc, pcm, pkt, cap, len);
    if (rc != 0)
        *len = 0;
    else
        v->st.sent++;
    decode(v, now_ms, pcm);
    playout(v, pcm);
    return rc;
}

void dc__voice_put(struct dc__voice *v, uint16_t seq, uint32_t ts, const uint8_t *data, size_t len,
                   int64_t now_ms)
{
    dc__jb_put_result r = DC_JB_ACCEPTED;
    if (dc__jb_put(v->jb, seq, ts, data, len, now_ms, &r) == 0) {
        v->st.received++;
        if (r == DC_JB_LATE)
            v->st.late++;
    }
}

void dc__voice_adapt(struct dc__voice *v, double loss_fraction)
{
    dc__opus_enc_adapt(v->enc, loss_fraction);
}

void dc__voice_controls(struct dc__voice *v, int mute, int hold, double gain)
{
    v->mute = mute;
    v->hold = hold;
    v->gain = gain < 0 ? 0 : gain > 4 ? 4 : gain;
}

void dc__voice_get_stats(const struct dc__voice *v, struct dc__voice_stats *out)
{
    dc__jb_stats js;
    *out = v->st;
    dc__jb_get_stats(v->jb, &js);
    out->jitter_ms = js.jitter_ms;
    out->target_ms = js.target_ms;
    struct dc__apm_stats as;
    dc__apm_get_stats(v->apm, &as);
    out->apm_frames = as.frames;
    out->apm_cpu_ns = as.cpu_ns;
}

int dc__voice_list_devices(char **out)
{
    dc__audio_devinfo *d = NULL;
    size_t n = 0, cap = 1, used = 0;
    int rc = dc__audio_list(&d, &n);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        cap += strlen(d[i].name) + 16;
    char *s = malloc(cap);
    if (!s) {
        free(d);
        return DC_ENOMEM;
    }
    s[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const char *dir =
            d[i].max_input_channels > 0 ? (d[i].max_output_channels > 0 ? "inout" : "in") : "out";
        used += (size_t)snprintf(s + used, cap - used, "%s\t%s\n", dir, d[i].name);
    }
    free(d);
    *out = s;
    return 0;
}
