/* Backend plumbing shared by audio_dev.c, audio_wav.c and audio_pa.c. */
#ifndef DC_SDK_AUDIO_PRIV_H
#define DC_SDK_AUDIO_PRIV_H

#include <pthread.h>
#include <stdatomic.h>

#include "sdk/audio_dev.h"

struct dc__audio_ops {
    /* Direct block I/O; NULL when the backend has none (PortAudio). */
    int (*read)(dc__audio_dev *dev, int16_t *pcm);
    int (*write)(dc__audio_dev *dev, const int16_t *pcm);
    /* Native clocked start/stop; NULL means audio_dev.c paces read/write on its own thread. */
    int (*start)(dc__audio_dev *dev);
    int (*stop)(dc__audio_dev *dev);
    int (*eof)(const dc__audio_dev *dev);
    int (*finalize)(dc__audio_dev *dev);
    void (*destroy)(dc__audio_dev *dev);
};

struct dc__audio_dev {
    const struct dc__audio_ops *ops;
    dc__audio_dir dir;
    void *impl;
    dc__audio_cb cb;
    void *user;
    int running;
    atomic_int stop_flag;
    pthread_t pacer;
    int16_t block[DC_AUDIO_BLOCK];
};

int dc__audio_dev_alloc(const struct dc__audio_ops *ops, dc__audio_dir dir, void *impl,
                        dc__audio_dev **out);

#endif
