/* PortAudio backend: device list, choose by name, 48 kHz mono 16-bit in 20 ms blocks (devices
 * that cannot run at 48 kHz run at their own rate, converted with speexdsp). */
#include "sdk/audio_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <portaudio.h>
#include <speex/speex_resampler.h>

#include "dcall/errors.h"

/* Pa_Initialize/Pa_Terminate nest (PortAudio counts them) but are not thread-safe. */
static pthread_mutex_t pa_lock = PTHREAD_MUTEX_INITIALIZER;

#define FIFO 4096

struct pa_dev {
    PaDeviceIndex index;
    PaStream *stream;
    int rate;                /* the device's rate: DC_AUDIO_RATE unless it cannot do 48 kHz */
    SpeexResamplerState *rs; /* device rate <-> 48 kHz, NULL at 48 kHz */
    /* Resampled audio waiting to make up a whole 20 ms block (capture) or to be handed to the
     * device (playback); preallocated because the callback must not allocate. */
    int16_t fifo[FIFO];
    size_t fifo_n, fifo_pos;
    int16_t zeros[FIFO];
};

static int pa_init(void)
{
    pthread_mutex_lock(&pa_lock);
    PaError e = Pa_Initialize();
    pthread_mutex_unlock(&pa_lock);
    return e == paNoError ? 0 : DC_EIO;
}

static void pa_term(void)
{
    pthread_mutex_lock(&pa_lock);
    Pa_Terminate();
    pthread_mutex_unlock(&pa_lock);
}

static void fill_info(PaDeviceIndex i, dc__audio_devinfo *d)
{
    const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
    const PaHostApiInfo *api = info ? Pa_GetHostApiInfo(info->hostApi) : NULL;
    memset(d, 0, sizeof(*d));
    if (!info)
        return;
    snprintf(d->name, sizeof(d->name), "%s", info->name ? info->name : "");
    snprintf(d->host_api, sizeof(d->host_api), "%s", api && api->name ? api->name : "");
    d->max_input_channels = info->maxInputChannels;
    d->max_output_channels = info->maxOutputChannels;
    d->is_default_input = i == Pa_GetDefaultInputDevice();
    d->is_default_output = i == Pa_GetDefaultOutputDevice();
    d->default_rate = info->defaultSampleRate;
}

int dc__audio_list(dc__audio_devinfo **out, size_t *n)
{
    if (!out || !n)
        return DC_EINVAL;
    *out = NULL;
    *n = 0;
    if (pa_init() != 0)
        return DC_EIO;
    int count = Pa_GetDeviceCount();
    int rc = 0;
    if (count < 0) {
        rc = DC_EIO;
    } else if (count > 0) {
        *out = calloc((size_t)count, sizeof(**out));
        if (!*out)
            rc = DC_ENOMEM;
        for (int i = 0; rc == 0 && i < count; i++)
            fill_info(i, &(*out)[i]);
        if (rc == 0)
            *n = (size_t)count;
    }
    pa_term();
    return rc;
}

static int channels_in(const PaDeviceInfo *info, dc__audio_dir dir)
{
    return dir == DC_AUDIO_CAPTURE ? info->maxInputChannels : info->maxOutputChannels;
}

static PaDeviceIndex find_device(const char *name, dc__audio_dir dir)
{
    if (!name || !*name || !strcmp(name, "default"))
        return dir == DC_AUDIO_CAPTURE ? Pa_GetDefaultInputDevice() : Pa_GetDefaultOutputDevice();
    int count = Pa_GetDeviceCount();
    for (int i = 0; i < count; i++) {
        const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
        if (info && info->name && !strcmp(info->name, name) && channels_in(info, dir) > 0)
            return i;
    }
    for (int i = 0; i < count; i++) {
        const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
        if (info && info->name && strcasestr(info->name, name) && channels_in(info, dir) > 0)
            return i;
    }
    return paNoDevice;
}

static void stream_params(const struct pa_dev *p, dc__audio_dir dir, PaStreamParameters *sp)
{
    const PaDeviceInfo *info = Pa_GetDeviceInfo(p->index);
    memset(sp, 0, sizeof(*sp));
    sp->device = p->index;
    sp->channelCount = 1;
    sp->sampleFormat = paInt16;
    sp->suggestedLatency =
        dir == DC_AUDIO_CAPTURE ? info->defaultLowInputLatency : info->defaultLowOutputLatency;
}

/* Capture at the device rate: resample into the FIFO, hand out whole 48 kHz blocks. */
static void capture_resampled(dc__audio_dev *dev, struct pa_dev *p, const int16_t *in,
                              unsigned long frames)
{
    while (frames > 0) {
        spx_uint32_t ilen = frames > FIFO ? FIFO : (spx_uint32_t)frames;
        spx_uint32_t olen = (spx_uint32_t)(FIFO - p->fifo_n);
        speex_resampler_process_int(p->rs, 0, in ? in : p->zeros, &ilen, p->fifo + p->fifo_n,
                                    &olen);
        if (in)
            in += ilen;
        frames -= ilen;
        p->fifo_n += olen;
        while (p->fifo_n >= DC_AUDIO_BLOCK) {
            memcpy(dev->block, p->fifo, sizeof(dev->block));
            dev->cb(dev->user, dev->block, DC_AUDIO_BLOCK);
            p->fifo_n -= DC_AUDIO_BLOCK;
            memmove(p->fifo, p->fifo + DC_AUDIO_BLOCK, p->fifo_n * sizeof(int16_t));
        }
        if (ilen == 0 && olen == 0)
            break;
    }
}

/* Playback at the device rate: ask for 48 kHz blocks as the FIFO runs dry, resample them. */
static void playback_resampled(dc__audio_dev *dev, struct pa_dev *p, int16_t *out,
                               unsigned long frames)
{
    while (frames > 0) {
        if (p->fifo_pos == p->fifo_n) {
            memset(dev->block, 0, sizeof(dev->block));
            dev->cb(dev->user, dev->block, DC_AUDIO_BLOCK);
            spx_uint32_t ilen = DC_AUDIO_BLOCK, olen = FIFO;
            speex_resampler_process_int(p->rs, 0, dev->block, &ilen, p->fifo, &olen);
            p->fifo_n = olen;
            p->fifo_pos = 0;
            if (olen == 0)
                break;
        }
        size_t take = p->fifo_n - p->fifo_pos;
        if (take > frames)
            take = frames;
        memcpy(out, p->fifo + p->fifo_pos, take * sizeof(int16_t));
        p->fifo_pos += take;
        out += take;
        frames -= take;
    }
    memset(out, 0, frames * sizeof(int16_t));
}

/* Runs on PortAudio's real-time thread: no locks, no allocation. */
static int pa_callback(const void *in, void *out, unsigned long frames,
                       const PaStreamCallbackTimeInfo *t, PaStreamCallbackFlags flags, void *arg)
{
    (void)t;
    (void)flags;
    dc__audio_dev *dev = arg;
    struct pa_dev *p = dev->impl;
    if (p->rs && dev->dir == DC_AUDIO_CAPTURE) {
        capture_resampled(dev, p, in, frames);
    } else if (p->rs) {
        playback_resampled(dev, p, out, frames);
    } else if (frames != DC_AUDIO_BLOCK) {
        /* cannot happen: a 48 kHz stream is opened with DC_AUDIO_BLOCK frames per buffer */
        if (out)
            memset(out, 0, frames * sizeof(int16_t));
    } else if (dev->dir == DC_AUDIO_CAPTURE) {
        memcpy(dev->block, in ? in : p->zeros, sizeof(dev->block));
        dev->cb(dev->user, dev->block, DC_AUDIO_BLOCK);
    } else {
        memset(out, 0, DC_AUDIO_BLOCK * sizeof(int16_t));
        dev->cb(dev->user, out, DC_AUDIO_BLOCK);
    }
    return paContinue;
}

static int pa_start(dc__audio_dev *dev)
{
    struct pa_dev *p = dev->impl;
    PaStreamParameters sp;
    stream_params(p, dev->dir, &sp);
    int cap = dev->dir == DC_AUDIO_CAPTURE;
    p->fifo_n = p->fifo_pos = 0;
    if (p->rs)
        speex_resampler_reset_mem(p->rs);
    unsigned long per_buffer = (unsigned long)(p->rate + 25) / 50; /* 20 ms at the device rate */
    PaError e = Pa_OpenStream(&p->stream, cap ? &sp : NULL, cap ? NULL : &sp, p->rate, per_buffer,
                              paNoFlag, pa_callback, dev);
    if (e != paNoError) {
        p->stream = NULL;
        return DC_EIO;
    }
    if (Pa_StartStream(p->stream) != paNoError) {
        Pa_CloseStream(p->stream);
        p->stream = NULL;
        return DC_EIO;
    }
    return 0;
}

static int pa_stop(dc__audio_dev *dev)
{
    struct pa_dev *p = dev->impl;
    if (!p->stream)
        return 0;
    /* Pa_StopStream waits for the callback in progress to return. */
    PaError e = Pa_StopStream(p->stream);
    Pa_CloseStream(p->stream);
    p->stream = NULL;
    return e == paNoError ? 0 : DC_EIO;
}

static void pa_destroy(dc__audio_dev *dev)
{
    struct pa_dev *p = dev->impl;
    if (p->rs)
        speex_resampler_destroy(p->rs);
    free(p);
    pa_term();
}

static const struct dc__audio_ops pa_ops = {
    .start = pa_start, .stop = pa_stop, .destroy = pa_destroy};

static int rate_ok(struct pa_dev *p, dc__audio_dir dir, int rate)
{
    PaStreamParameters sp;
    stream_params(p, dir, &sp);
    int cap = dir == DC_AUDIO_CAPTURE;
    return Pa_IsFormatSupported(cap ? &sp : NULL, cap ? NULL : &sp, rate) == paFormatIsSupported;
}

/* 48 kHz when the device does it (ALSA's plug devices convert anything); else the device's own
 * rate, converted with speexdsp. */
static int choose_rate(struct pa_dev *p, dc__audio_dir dir, int forced)
{
    const PaDeviceInfo *info = Pa_GetDeviceInfo(p->index);
    if (forced)
        p->rate = forced;
    else if (rate_ok(p, dir, DC_AUDIO_RATE))
        p->rate = DC_AUDIO_RATE;
    else
        p->rate = info ? (int)info->defaultSampleRate : 0;
    if (p->rate < 8000 || p->rate > 192000 || !rate_ok(p, dir, p->rate))
        return DC_EIO;
    if (p->rate == DC_AUDIO_RATE)
        return 0;
    int err = 0, cap = dir == DC_AUDIO_CAPTURE;
    p->rs = speex_resampler_init(1, cap ? (spx_uint32_t)p->rate : DC_AUDIO_RATE,
                                 cap ? DC_AUDIO_RATE : (spx_uint32_t)p->rate,
                                 SPEEX_RESAMPLER_QUALITY_VOIP, &err);
    return p->rs ? 0 : DC_ENOMEM;
}

int dc__audio_open_pa_at(const char *name, dc__audio_dir dir, int device_rate, dc__audio_dev **out)
{
    if (!out || (dir != DC_AUDIO_CAPTURE && dir != DC_AUDIO_PLAYBACK) || device_rate < 0)
        return DC_EINVAL;
    *out = NULL;
    if (pa_init() != 0)
        return DC_EIO;
    struct pa_dev *p = calloc(1, sizeof(*p));
    int rc = p ? 0 : DC_ENOMEM;
    if (rc == 0) {
        p->index = find_device(name, dir);
        rc = p->index == paNoDevice ? DC_ENOTFOUND : choose_rate(p, dir, device_rate);
    }
    if (rc == 0)
        rc = dc__audio_dev_alloc(&pa_ops, dir, p, out);
    if (rc != 0) {
        if (p && p->rs)
            speex_resampler_destroy(p->rs);
        free(p);
        pa_term();
    }
    return rc;
}

int dc__audio_open_pa(const char *name, dc__audio_dir dir, dc__audio_dev **out)
{
    return dc__audio_open_pa_at(name, dir, 0, out);
}
