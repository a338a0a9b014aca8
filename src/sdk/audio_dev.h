/* Audio devices for the SDK's media engine: one interface, three backends (WAV file in, WAV file
 * out, PortAudio). Every device speaks 48 kHz mono signed 16-bit host-order PCM in blocks of
 * 20 ms (DC_AUDIO_BLOCK samples); backends convert (WAV in resamples with speexdsp).
 * No echo cancellation, noise suppression or gain control anywhere here: the WAV backends must
 * pass audio through untouched (tests compare it), and processing belongs above this layer
 * (sdk/apm.h, which voice.c applies to PortAudio capture only).
 *
 * Two ways to drive a device:
 *  - clocked: dc__audio_start(dev, cb, user) calls cb once per 20 ms block on the backend's own
 *    thread (PortAudio's real-time callback thread, or a pacing thread for WAV files) until
 *    dc__audio_stop(). The device is the media engine's clock: tick the jitter buffer from the
 *    playback callback.
 *  - direct (WAV backends only): dc__audio_read()/dc__audio_write() one block at a time, as fast
 *    as the caller likes (tests, offline processing). PortAudio devices return DC_ESTATE.
 * A device is driven one way at a time; direct calls during a clocked run return DC_ESTATE.
 *
 * Threads: open/start/stop/close from one controlling thread. The callback runs on the backend
 * thread and must not block for long (no locks held across I/O, no allocation in PortAudio's
 * case); keep it to copying into/out of the engine's queues.
 * Buffers: the pcm block passed to a callback belongs to the backend and is valid only during the
 * call. Capture: it holds the captured block (read it). Playback: it is zeroed before the call
 * and the callee writes the block to play (leaving it untouched plays silence). */
#ifndef DC_SDK_AUDIO_DEV_H
#define DC_SDK_AUDIO_DEV_H

#include <stddef.h>
#include <stdint.h>

#define DC_AUDIO_RATE 48000
#define DC_AUDIO_BLOCK 960 /* samples per 20 ms block */

typedef enum dc__audio_dir {
    DC_AUDIO_CAPTURE = 1,
    DC_AUDIO_PLAYBACK = 2,
} dc__audio_dir;

typedef struct dc__audio_dev dc__audio_dev;

typedef void (*dc__audio_cb)(void *user, int16_t *pcm, size_t samples);

/* Capture from a PCM16 WAV file of any rate (8..192 kHz) and 1..8 channels: channels are
 * averaged to mono and the rate converted to 48 kHz. Plays the file once, then silence forever
 * (dc__audio_eof() turns true once the file's last sample has been delivered).
 * DC_EIO: cannot open/read; DC_EINVAL: not a PCM16 WAV. */
int dc__audio_open_wav_in(const char *path, dc__audio_dev **out);
/* Playback into a new 48 kHz mono 16-bit WAV file (truncated if it exists). The header is
 * rewritten after every block, so the file is a valid WAV of everything written so far at any
 * moment, even after SIGKILL; see also dc__audio_wav_finalize_signal_safe(). */
int dc__audio_open_wav_out(const char *path, dc__audio_dev **out);
/* A PortAudio device. name: NULL, "" or "default" for the default device of that direction;
 * otherwise the exact device name from dc__audio_list(), else the first device whose name
 * contains it (case-insensitive) and has channels in that direction. DC_ENOTFOUND when none;
 * DC_EIO when PortAudio fails or the device can do mono 16-bit at neither 48 kHz nor its own
 * default rate. A device that cannot run at 48 kHz runs at its default rate and the backend
 * converts with speexdsp, so callbacks still see 48 kHz 20 ms blocks. */
int dc__audio_open_pa(const char *name, dc__audio_dir dir, dc__audio_dev **out);
/* The same, forcing the device-side rate (tests of the conversion path, diagnostics); 0 picks
 * as dc__audio_open_pa() does. */
int dc__audio_open_pa_at(const char *name, dc__audio_dir dir, int device_rate, dc__audio_dev **out);

dc__audio_dir dc__audio_direction(const dc__audio_dev *dev);
int dc__audio_start(dc__audio_dev *dev, dc__audio_cb cb, void *user);
/* Returns after the last callback has finished. Stopping a stopped device is a no-op. */
int dc__audio_stop(dc__audio_dev *dev);
/* Direct I/O of one DC_AUDIO_BLOCK block (WAV backends). */
int dc__audio_read(dc__audio_dev *dev, int16_t *pcm);
int dc__audio_write(dc__audio_dev *dev, const int16_t *pcm);
/* WAV in: 1 once the whole file has been delivered. Other devices: 0. */
int dc__audio_eof(const dc__audio_dev *dev);
/* WAV out: makes the header match the data on disk (truncating a torn last sample). Uses only
 * fstat/pwrite/ftruncate, so a SIGTERM handler may call it; it does not close the file. The
 * device must stay allocated while a handler may call it. Other devices: no-op, 0. */
int dc__audio_wav_finalize_signal_safe(dc__audio_dev *dev);
/* Stops, finalizes a WAV out file, releases everything. NULL is fine. */
void dc__audio_close(dc__audio_dev *dev);

typedef struct dc__audio_devinfo {
    char name[128];
    char host_api[32];
    int max_input_channels, max_output_channels;
    int is_default_input, is_default_output;
    double default_rate;
} dc__audio_devinfo;

/* PortAudio's devices. *out is malloc'd (free with free()); *n may be 0. */
int dc__audio_list(dc__audio_devinfo **out, size_t *n);

#endif
