/* Audio processing for devices (src/sdk/apm.c): echo cancellation, noise suppression and gain
 * control with speexdsp, on real speech made at test time with espeak-ng (and sox to 48 kHz)
 * through a synthetic room; the played/captured pairing FIFO; and voice.c using it for PortAudio
 * capture (ALSA file/null devices, as there is no sound card here) but never for WAV files.
 * Prints the CPU cost per 20 ms block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audio_metrics.h"
#include "dcall/errors.h"
#include "sdk/apm.h"
#include "sdk/audio_dev.h"
#include "sdk/media.h"

#define RATE DC_AUDIO_RATE
#define BLK DC_AUDIO_BLOCK
#define SEC(s) ((size_t)((s)*RATE))

static char dir[64];
static int16_t *far_speech, *near_speech;
static size_t far_n, near_n;

static void path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static int load48(const char *name, int16_t **pcm, size_t *n)
{
    char p[128];
    int rate = 0, ch = 0;
    path(p, sizeof(p), name);
    return dc_test_wav_load(p, pcm, n, &rate, &ch) == 0 && rate == RATE && ch == 1 ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/dcall-apm-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "cd %s && espeak-ng -w f.wav \"The quick brown fox jumps over the lazy dog. Voice "
             "calls should sound clear, even when the network loses packets.\" && "
             "espeak-ng -v en+f3 -p 70 -w n.wav \"Seven silver spoons sit beside a single "
             "saucer on the table.\" && sox f.wav -r 48000 -c 1 -b 16 far.wav && "
             "sox n.wav -r 48000 -c 1 -b 16 near.wav",
             dir);
    if (system(cmd) != 0)
        return -1;
    return load48("far.wav", &far_speech, &far_n) || load48("near.wav", &near_speech, &near_n);
}

static int teardown(void **state)
{
    (void)state;
    free(far_speech);
    free(near_speech);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Deterministic noise. */
static double noise(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return ((double)(*s >> 8) / (double)(1u << 24)) * 2.0 - 1.0;
}

/* dst[from, to) = speech repeated from its start, scaled to an RMS of `rms` over its active part */
static void place(float *dst, size_t from, size_t to, const int16_t *src, size_t n, double rms)
{
    double e = 0;
    size_t act = 0;
    for (size_t i = 0; i < n; i++)
        if (abs(src[i]) > 300) {
            e += (double)src[i] * src[i];
            act++;
        }
    double g = rms / sqrt(e / (double)(act ? act : 1));
    for (size_t i = from; i < to; i++)
        dst[i] = (float)(src[(i - from) % n] * g);
}

static int16_t clip(double x)
{
    return (int16_t)(x > 32767 ? 32767 : x < -32768 ? -32768 : lrint(x));
}

/* The room: echo = far delayed 30 ms, a direct path at -8 dB and 48 reflections decaying over
 * 60 ms after it (deterministic). */
#define ECHO_DELAY SEC(0.030)
#define TAPS 49
static void room(const float *far, size_t n, float *echo)
{
    size_t pos[TAPS];
    double gain[TAPS];
    uint32_t s = 7;
    pos[0] = ECHO_DELAY;
    gain[0] = 0.4;
    for (int k = 1; k < TAPS; k++) {
        double t = (k + noise(&s) * 0.5 + 0.5) * 0.060 / TAPS;
        pos[k] = ECHO_DELAY + (size_t)(t * RATE);
        gain[k] = 0.25 * exp(-t / 0.02) * noise(&s);
    }
    for (size_t i = 0; i < n; i++) {
        double y = 0;
        for (int k = 0; k < TAPS; k++)
            if (i >= pos[k])
                y += gain[k] * far[i - pos[k]];
        echo[i] = (float)y;
    }
}

static double energy(const int16_t *x, size_t from, size_t to)
{
    double e = 0;
    for (size_t i = from; i < to; i++)
        e += (double)x[i] * x[i];
    return e;
}

static double fenergy(const float *x, size_t from, size_t to)
{
    double e = 0;
    for (size_t i = from; i < to; i++)
        e += (double)x[i] * x[i];
    return e;
}

/* Energy ratio in dB of a to b, summed over the blocks of [from, to) where `active` is above
 * `floor` (so silent gaps between words do not count). */
static double ratio_db(const int16_t *a, const int16_t *b, const float *active, double floor,
                       size_t from, size_t to)
{
    double ea = 0, eb = 0;
    for (size_t i = from; i + BLK <= to; i += BLK)
        if (fenergy(active, i, i + BLK) / BLK > floor) {
            ea += energy(a, i, i + BLK);
            eb += energy(b, i, i + BLK);
        }
    return 10 * log10((ea + 1) / (eb + 1));
}

/* Runs the whole signal through an apm in 20 ms blocks; returns the mean CPU ns per block. */
static double run_apm(const struct dc__apm_cfg *cfg, const int16_t *cap, const int16_t *ref,
                      size_t n, int16_t *out)
{
    dc__apm *a = NULL;
    assert_int_equal(dc__apm_new(cfg, &a), 0);
    for (size_t i = 0; i + BLK <= n; i += BLK)
        assert_int_equal(dc__apm_process(a, cap + i, ref + i, out + i), 0);
    struct dc__apm_stats st;
    dc__apm_get_stats(a, &st);
    assert_int_equal(st.frames, n / BLK);
    dc__apm_free(a);
    return (double)st.cpu_ns / (double)st.frames;
}

/* Timeline: far end only 0-8 s, near end only 8-11 s, both 11-14 s, far end only 14-18 s. */
static void echo_is_cancelled_and_near_end_kept(void **state)
{
    (void)state;
    size_t n = SEC(18);
    float *farf = calloc(n, sizeof(float)), *nearf = calloc(n, sizeof(float));
    float *echo = calloc(n, sizeof(float));
    int16_t *ref = calloc(n, 2), *cap = calloc(n, 2), *nearpcm = calloc(n, 2), *out = calloc(n, 2);
    assert_true(farf && nearf && echo && ref && cap && nearpcm && out);
    place(farf, 0, SEC(8), far_speech, far_n, 6000); /* about -15 dBFS while speaking */
    place(farf, SEC(11), n, far_speech, far_n, 6000);
    place(nearf, SEC(8), SEC(14), near_speech, near_n, 3000);
    room(farf, n, echo);
    uint32_t s = 99;
    for (size_t i = 0; i < n; i++) {
        ref[i] = clip(farf[i]);
        nearpcm[i] = clip(nearf[i]);
        cap[i] = clip(echo[i] + nearf[i] + 30 * noise(&s)); /* noise about -60 dBFS */
    }
    double echo_db = 10 * log10(fenergy(echo, SEC(2), SEC(8)) / fenergy(farf, SEC(2), SEC(8)));
    print_message("room: echo %.1f dB relative to the far end, 30 ms late\n", echo_db);

    struct dc__apm_cfg cfgs[2] = {{1, 1, 0}, {1, 1, 1}};
    const char *names[2] = {"AEC+NS", "AEC+NS+AGC (device default)"};
    for (int c = 0; c < 2; c++) {
        double ns = run_apm(&cfgs[c], cap, ref, n, out);
        double erle1 = ratio_db(cap, out, echo, 1e4, SEC(2), SEC(8));
        double erle2 = ratio_db(cap, out, echo, 1e4, SEC(15), n);
        double kept = ratio_db(out, nearpcm, nearf, 1e4, SEC(8.5), SEC(11));
        double dt = ratio_db(out, nearpcm, nearf, 1e4, SEC(11.5), SEC(14));
        int lag = 0;
        double xc = dc_test_envelope_xcorr(nearpcm + SEC(8), SEC(3), RATE, out + SEC(8), SEC(3),
                                           RATE, 100, &lag);
        print_message("%s: ERLE %.1f dB (2-8 s), %.1f dB (15-18 s, after double talk); near end "
                      "alone %+.1f dB (envelope xcorr %.3f), in double talk %+.1f dB; "
                      "%.0f us CPU per 20 ms block\n",
                      names[c], erle1, erle2, kept, xc, dt, ns / 1000);
        assert_true(erle1 >= 10);
        assert_true(erle2 >= 10);
        assert_true(fabs(kept) <= 3);
        assert_true(xc >= 0.9);
    }
    /* A longer echo path, as a device round trip plus the pairing FIFO's slack give: the
     * reference 90 ms earlier, so the echo comes 120 ms after it (the tail is 200 ms). */
    int16_t *early = calloc(n, 2);
    assert_non_null(early);
    memcpy(early, ref + SEC(0.09), (n - SEC(0.09)) * 2);
    run_apm(&cfgs[1], cap, early, n, out);
    double erle_far = ratio_db(cap, out, echo, 1e4, SEC(2), SEC(8));
    double kept_far = ratio_db(out, nearpcm, nearf, 1e4, SEC(8.5), SEC(11));
    print_message("echo 120 ms after its reference: ERLE %.1f dB, near end alone %+.1f dB\n",
                  erle_far, kept_far);
    assert_true(erle_far >= 10);
    assert_true(fabs(kept_far) <= 3);
    free(early);
    /* Control: a reference that comes 200 ms after its echo (non-causal) cannot be cancelled,
     * so the ERLE above is the canceller's doing, not the measure's. */
    int16_t *late = calloc(n, 2);
    assert_non_null(late);
    memcpy(late + SEC(0.2), ref, (n - SEC(0.2)) * 2);
    run_apm(&cfgs[0], cap, late, n, out);
    double erle_late = ratio_db(cap, out, echo, 1e4, SEC(2), SEC(8));
    print_message("control, reference 200 ms late: ERLE %.1f dB\n", erle_late);
    assert_true(erle_late < 6);
    free(late);
    /* Nothing enabled: out == in, bit for bit. */
    struct dc__apm_cfg none = {0, 0, 0};
    run_apm(&none, cap, ref, n, out);
    assert_memory_equal(out, cap, n / BLK * BLK * 2);
    free(farf);
    free(nearf);
    free(echo);
    free(ref);
    free(cap);
    free(nearpcm);
    free(out);
}

static void noise_gets_quieter_and_quiet_speech_louder(void **state)
{
    (void)state;
    size_t n = SEC(6);
    int16_t *in = calloc(n, 2), *out = calloc(n, 2), *zero = calloc(n, 2);
    float *act = calloc(n, sizeof(float));
    assert_true(in && out && zero && act);
    uint32_t s = 5;
    for (size_t i = 0; i < n; i++)
        in[i] = clip(300 * noise(&s)); /* white noise about -43 dBFS */
    struct dc__apm_cfg ns_only = {0, 1, 0}, dflt;
    dc__apm_default_cfg(&dflt);
    run_apm(&ns_only, in, zero, n, out);
    double ns_db = 10 * log10(energy(out, SEC(2), n) / energy(in, SEC(2), n));
    run_apm(&dflt, in, zero, n, out);
    double dflt_db = 10 * log10(energy(out, SEC(2), n) / energy(in, SEC(2), n));
    print_message("noise only: %.1f dB with NS, %.1f dB with the device default\n", ns_db, dflt_db);
    assert_true(ns_db <= -6);
    assert_true(dflt_db <= -6);

    /* Quiet speech (about -45 dBFS while speaking) over faint noise: AGC brings it up. */
    float *sp = calloc(n, sizeof(float));
    assert_non_null(sp);
    place(sp, 0, n, far_speech, far_n, 180);
    for (size_t i = 0; i < n; i++)
        in[i] = clip(sp[i] + 5 * noise(&s));
    struct dc__apm_cfg agc_only = {0, 0, 1}, ns_agc = {0, 1, 1};
    double cost = run_apm(&ns_agc, in, zero, n, out);
    print_message("NS+AGC without AEC (capture device, no output device): %.0f us CPU per 20 ms "
                  "block\n",
                  cost / 1000);
    run_apm(&agc_only, in, zero, n, out);
    double agc_db = ratio_db(out, in, sp, 100, SEC(3), n);
    run_apm(&dflt, in, zero, n, out);
    double agc_dflt_db = ratio_db(out, in, sp, 100, SEC(3), n);
    print_message("quiet speech: %+.1f dB with AGC, %+.1f dB with the device default\n", agc_db,
                  agc_dflt_db);
    assert_true(agc_db >= 6);
    assert_true(agc_dflt_db >= 6);
    free(in);
    free(out);
    free(zero);
    free(act);
    free(sp);
}

/* The played -> captured pairing: oldest first, at most 2 blocks of slack, silence when empty. */
static void reference_fifo_pairs_played_blocks(void **state)
{
    (void)state;
    struct dc__apm_cfg cfg;
    dc__apm_default_cfg(&cfg);
    dc__apm *a = NULL;
    assert_int_equal(dc__apm_new(&cfg, &a), 0);
    int16_t blk[BLK], ref[BLK];
    dc__apm_reference(a, ref); /* nothing played yet */
    for (int i = 0; i < BLK; i++)
        assert_int_equal(ref[i], 0);
    for (int k = 1; k <= 5; k++) { /* a burst of 5 played blocks (device start-up) */
        for (int i = 0; i < BLK; i++)
            blk[i] = (int16_t)(k * 100);
        dc__apm_played(a, blk);
    }
    dc__apm_reference(a, ref);
    assert_int_equal(ref[0], 100); /* the oldest; then 2 of 3 left are kept: 4, 5 */
    dc__apm_reference(a, ref);
    assert_int_equal(ref[BLK - 1], 400);
    dc__apm_reference(a, ref);
    assert_int_equal(ref[0], 500);
    struct dc__apm_stats st;
    dc__apm_get_stats(a, &st);
    assert_int_equal(st.ref_empty, 1);
    assert_int_equal(st.ref_drop, 2);
    for (int k = 0; k < 12; k++) /* nobody capturing: the FIFO keeps the newest 8 */
        dc__apm_played(a, blk);
    dc__apm_get_stats(a, &st);
    assert_int_equal(st.ref_drop, 2 + 4);
    dc__apm_free(a);
    assert_int_equal(dc__apm_new(NULL, &a), DC_EINVAL);
}

static void write_asoundrc(void)
{
    char raw[128], rc[128];
    path(raw, sizeof(raw), "near48.raw");
    FILE *f = fopen(raw, "wb");
    assert_non_null(f);
    for (int r = 0; r < 3; r++)
        fwrite(near_speech, 2, near_n, f);
    fclose(f);
    path(rc, sizeof(rc), ".asoundrc");
    f = fopen(rc, "w");
    assert_non_null(f);
    fprintf(f,
            "pcm.!default { type null }\n"
            "pcm.apm_null { type null }\n"
            "pcm.apm_mic { type file slave.pcm \"null\" file \"/dev/null\" infile \"%s\" "
            "format \"raw\" }\n",
            raw);
    fclose(f);
    setenv("HOME", dir, 1); /* ALSA reads ~/.asoundrc */
}

/* Runs a voice engine for ~1.2 s of real time; returns its stats. */
static void run_voice(const char *in, const char *out, int no_processing,
                      struct dc__voice_stats *st)
{
    struct dc__voice_cfg cfg = {in, out, no_processing};
    struct dc__voice *v = NULL;
    uint8_t pkt[1500];
    size_t len = 0;
    assert_int_equal(dc__voice_new(&cfg, &v), 0);
    int in_err = 0, out_err = 0;
    dc__voice_take_errors(v, &in_err, &out_err);
    assert_int_equal(in_err, 0);
    assert_int_equal(out_err, 0);
    dc__voice_start_media(v);
    struct timespec t;
    for (int i = 0; i < 60; i++) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        dc__voice_tick(v, (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000, pkt, sizeof pkt, &len);
        usleep(20000);
    }
    dc__voice_get_stats(v, st);
    dc__voice_free(v);
}

/* voice.c: PortAudio capture goes through the processing unless switched off; WAV never does. */
static void devices_processed_files_untouched(void **state)
{
    (void)state;
    write_asoundrc();
    struct dc__voice_stats st;
    run_voice("device:apm_mic", "device:apm_null", 0, &st);
    print_message("PortAudio mic -> null speaker: %llu blocks processed, %.0f us CPU each\n",
                  (unsigned long long)st.apm_frames,
                  st.apm_frames ? (double)st.apm_cpu_ns / (double)st.apm_frames / 1000 : 0.0);
    assert_true(st.apm_frames >= 20);
    assert_true(st.sent >= 50);
    run_voice("device:apm_mic", "null", 0, &st); /* NS + AGC only */
    assert_true(st.apm_frames >= 20);
    run_voice("device:apm_mic", "device:apm_null", 1, &st);
    assert_int_equal(st.apm_frames, 0);
    char wav[160], rec[160];
    snprintf(wav, sizeof(wav), "wav:%s/near.wav", dir);
    snprintf(rec, sizeof(rec), "wav:%s/rec.wav", dir);
    run_voice(wav, rec, 0, &st);
    assert_int_equal(st.apm_frames, 0);
    assert_true(st.sent >= 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(echo_is_cancelled_and_near_end_kept),
        cmocka_unit_test(noise_gets_quieter_and_quiet_speech_louder),
        cmocka_unit_test(reference_fifo_pairs_played_blocks),
        cmocka_unit_test(devices_processed_files_untouched),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
