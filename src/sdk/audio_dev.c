/* Audio device interface: dispatch to backends and the pacing thread that gives file backends a
 * real-time 20 ms clock. */
#include "sdk/audio_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dcall/errors.h"

#define BLOCK_NS 20000000L
/* After a stall longer than this (debugger, suspended VM) the pacer restarts its schedule
 * instead of firing a burst of catch-up blocks. */
#define MAX_BEHIND_NS 200000000L

int dc__audio_dev_alloc(const struct dc__audio_ops *ops, dc__audio_dir dir, void *impl,
                        dc__audio_dev **out)
{
    dc__audio_dev *dev = calloc(1, sizeof(*dev));
    if (!dev)
        return DC_ENOMEM;
    dev->ops = ops;
    dev->dir = dir;
    dev->impl = impl;
    atomic_init(&dev->stop_flag, 0);
    *out = dev;
    return 0;
}

dc__audio_dir dc__audio_direction(const dc__audio_dev *dev)
{
    return dev ? dev->dir : 0;
}

static void add_ns(struct timespec *t, long ns)
{
    t->tv_nsec += ns;
    while (t->tv_nsec >= 1000000000L) {
        t->tv_nsec -= 1000000000L;
        t->tv_sec++;
    }
}

static int64_t diff_ns(const struct timespec *a, const struct timespec *b)
{
    return (int64_t)(a->tv_sec - b->tv_sec) * 1000000000LL + (a->tv_nsec - b->tv_nsec);
}

static void pace_one(dc__audio_dev *dev)
{
    if (dev->dir == DC_AUDIO_CAPTURE) {
        if (dev->ops->read(dev, dev->block) != 0)
            memset(dev->block, 0, sizeof(dev->block));
        dev->cb(dev->user, dev->block, DC_AUDIO_BLOCK);
    } else {
        memset(dev->block, 0, sizeof(dev->block));
        dev->cb(dev->user, dev->block, DC_AUDIO_BLOCK);
        (void)dev->ops->write(dev, dev->block);
    }
}

static void *pacer_main(void *arg)
{
    dc__audio_dev *dev = arg;
    struct timespec next, now;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!atomic_load(&dev->stop_flag)) {
        pace_one(dev);
        add_ns(&next, BLOCK_NS);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (diff_ns(&now, &next) > MAX_BEHIND_NS)
            next = now;
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
            ;
    }
    return NULL;
}

int dc__audio_start(dc__audio_dev *dev, dc__audio_cb cb, void *user)
{
    if (!dev || !cb)
        return DC_EINVAL;
    if (dev->running)
        return DC_ESTATE;
    dev->cb = cb;
    dev->user = user;
    atomic_store(&dev->stop_flag, 0);
    if (dev->ops->start) {
        int rc = dev->ops->start(dev);
        if (rc != 0)
            return rc;
    } else if (pthread_create(&dev->pacer, NULL, pacer_main, dev) != 0) {
        return DC_ENOMEM;
    }
    dev->running = 1;
    return 0;
}

int dc__audio_stop(dc__audio_dev *dev)
{
    if (!dev)
        return DC_EINVAL;
    if (!dev->running)
        return 0;
    int rc = 0;
    if (dev->ops->stop) {
        rc = dev->ops->stop(dev);
    } else {
        atomic_store(&dev->stop_flag, 1);
        pthread_join(dev->pacer, NULL);
    }
    dev->running = 0;
    return rc;
}

int dc__audio_read(dc__audio_dev *dev, int16_t *pcm)
{
    if (!dev || !pcm || dev->dir != DC_AUDIO_CAPTURE)
        return DC_EINVAL;
    if (!dev->ops->read || dev->running)
        return DC_ESTATE;
    return dev->ops->read(dev, pcm);
}

int dc__audio_write(dc__audio_dev *dev, const int16_t *pcm)
{
    if (!dev || !pcm || dev->dir != DC_AUDIO_PLAYBACK)
        return DC_EINVAL;
    if (!dev->ops->write || dev->running)
        return DC_ESTATE;
    return dev->ops->write(dev, pcm);
}

int dc__audio_eof(const dc__audio_dev *dev)
{
    return dev && dev->ops->eof ? dev->ops->eof(dev) : 0;
}

int dc__audio_wav_finalize_signal_safe(dc__audio_dev *dev)
{
    return dev && dev->ops->finalize ? dev->ops->finalize(dev) : 0;
}

void dc__audio_close(dc__audio_dev *dev)
{
    if (!dev)
        return;
    dc__audio_stop(dev);
    if (dev->ops->finalize)
        dev->ops->finalize(dev);
    dev->ops->destroy(dev);
    free(dev);
}
