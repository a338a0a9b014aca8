/* Audio comparison for tests: how much of a reference utterance survives a path.
 *
 * The metric: split both signals into 10 ms windows, take each window's RMS level (the energy
 * envelope; the square root keeps loud syllables from dominating), then the normalized
 * (Pearson) cross-correlation of the two envelopes, maximised over lags of +-max_lag_ms in 10 ms
 * steps. Envelopes ignore phase, so codecs, resampling and concealment that keep the speech
 * rhythm score near 1, while missing, shifted or different speech scores low. The sum runs over
 * the reference's windows; test windows outside the test signal count as silence, so truncated
 * output is penalised, while test audio beyond the reference's span (leading/trailing silence
 * of a recording) is not compared. */
#ifndef DC_TEST_AUDIO_METRICS_H
#define DC_TEST_AUDIO_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* 10 ms RMS envelope; *env is malloc'd (caller frees), *nwin windows. Returns 0 or -1. */
int dc_test_envelope(const int16_t *pcm, size_t n, int rate, double **env, size_t *nwin);

/* Correlation in -1..1 (or -2 on bad input / allocation failure). Signals may have different
 * rates (each is cut into 10 ms windows of its own rate). *lag_ms (may be NULL) gets the best
 * lag: positive when `test` is late relative to `ref`. */
double dc_test_envelope_xcorr(const int16_t *ref, size_t nref, int ref_rate, const int16_t *test,
                              size_t ntest, int test_rate, int max_lag_ms, int *lag_ms);

/* Loads a PCM16 WAV: the first channel only, as is. *pcm malloc'd. Returns 0 or -1. */
int dc_test_wav_load(const char *path, int16_t **pcm, size_t *n, int *rate, int *channels);

#endif
