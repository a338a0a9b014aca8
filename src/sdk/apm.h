/* Audio processing for real devices (PortAudio): acoustic echo cancellation, noise suppression
 * and automatic gain control with speexdsp, on 48 kHz mono 16-bit 20 ms blocks (DC_AUDIO_BLOCK).
 * WAV backends never go through here (voice.c only makes one for a PortAudio capture device).
 *
 * Echo canceller: speex's MDF (speex_echo_state_init, 960-sample frames, 200 ms tail), then the
 * preprocessor (denoise, AGC, and residual echo suppression through
 * SPEEX_PREPROCESS_SET_ECHO_STATE).
 *
 * Playback/capture alignment: the playback and capture callbacks run on two device threads, so
 * speex_echo_playback()/speex_echo_capture() (not thread-safe, 2 frames of slack) do not fit.
 * Instead a small mutex-guarded FIFO of played blocks sits between them, the same scheme with a
 * lock: the playback callback hands each block it gives the device to dc__apm_played(); the
 * capture callback takes, for each block it captured, the oldest played block with
 * dc__apm_reference() and queues the pair; the heavy work (dc__apm_process) then runs on the
 * media engine's loop thread, not on a real-time thread. At most APM_SLACK blocks are kept
 * after a take (older ones are dropped), so the reference never lags the echo when one device's
 * clock runs ahead or a device starts with a burst; an empty FIFO gives silence (counted).
 * The echo path the filter must cover is then the device round trip (output + input latency)
 * plus up to 40 ms of slack, well inside the 200 ms tail.
 *
 * Threads: dc__apm_played and dc__apm_reference from any thread (they lock); dc__apm_process
 * from one thread at a time. */
#ifndef DC_SDK_APM_H
#define DC_SDK_APM_H

#include <stdint.h>

#define DC_APM_TAIL_MS 200

typedef struct dc__apm dc__apm;

struct dc__apm_cfg {
    int aec; /* 1: cancel echo of what dc__apm_played() was given */
    int ns;  /* 1: noise suppression */
    int agc; /* 1: automatic gain control */
};

struct dc__apm_stats {
    uint64_t frames;    /* blocks processed */
    uint64_t ref_empty; /* captured blocks with no played block to pair (reference = silence) */
    uint64_t ref_drop;  /* played blocks dropped to keep the reference from lagging */
    uint64_t cpu_ns;    /* thread CPU time spent in dc__apm_process */
};

/* The default for devices: all three on. */
void dc__apm_default_cfg(struct dc__apm_cfg *cfg);
/* DC_ENOMEM when speexdsp cannot allocate; DC_EINVAL on a NULL argument. */
int dc__apm_new(const struct dc__apm_cfg *cfg, dc__apm **out);
void dc__apm_free(dc__apm *a);
/* Playback side: the DC_AUDIO_BLOCK block just handed to the speaker. */
void dc__apm_played(dc__apm *a, const int16_t *pcm);
/* Capture side: the played block that goes with the block just captured (silence if none). */
void dc__apm_reference(dc__apm *a, int16_t *far);
/* near (captured) and far (its reference) -> out; out may alias near. */
int dc__apm_process(dc__apm *a, const int16_t *near, const int16_t *far, int16_t *out);
void dc__apm_get_stats(dc__apm *a, struct dc__apm_stats *out);

#endif
