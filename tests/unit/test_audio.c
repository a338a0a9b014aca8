/* Audio engine pieces: WAV in/out (resampling, valid header after a kill), Opus with FEC and PLC,
 * the adaptive jitter buffer, and PortAudio through ALSA null/file devices. Speech is made at
 * test time with espeak-ng (22050 Hz) and sox. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audio_metrics.h"
#include "dcall/errors.h"
#include "media/jitter.h"
#include "media/opus_codec.h"
#include "sdk/audio_dev.h"

static char dir[64];

static void path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static int make_wavs(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/dcall-audio-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "espeak-ng -w %s/speech.wav \"The quick brown fox jumps over the lazy dog. "
             "Voice calls should sound clear, even when the network loses packets.\" && "
             "espeak-ng -w %s/other.wav \"Seven silver spoons sit beside a single saucer.\" && "
             "sox -G %s/speech.wav -r 44100 -c 2 %s/stereo.wav",
             dir, dir, dir, dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int remove_wavs(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Deterministic generator so loss patterns and jitter are the same on every run. */
static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void load_orig(const char *name, int16_t **pcm, size_t *n, int *rate)
{
    char p[128];
    int ch = 0;
    path(p, sizeof(p), name);
    assert_int_equal(dc_test_wav_load(p, pcm, n, rate, &ch), 0);
}

/* Reads a WAV through the capture backend until it reports end of file: 48 kHz mono. */
static size_t read_48k(const char *name, int16_t **pcm)
{
    char p[128];
    path(p, sizeof(p), name);
    dc__audio_dev *in = NULL;
    assert_int_equal(dc__audio_open_wav_in(p, &in), 0);
    size_t n = 0, cap = 48000;
    *pcm = malloc(cap * sizeof(int16_t));
    while (!dc__audio_eof(in)) {
        if (n + DC_AUDIO_BLOCK > cap)
            *pcm = realloc(*pcm, (cap *= 2) * sizeof(int16_t));
        assert_non_null(*pcm);
        assert_int_equal(dc__audio_read(in, *pcm + n), 0);
        n += DC_AUDIO_BLOCK;
        assert_true(n < 48000 * 60);
    }
    int16_t after[DC_AUDIO_BLOCK];
    assert_int_equal(dc__audio_read(in, after), 0);
    for (size_t i = 0; i < DC_AUDIO_BLOCK; i++)
        assert_int_equal(after[i], 0); /* played once, then silence */
    dc__audio_close(in);
    return n;
}

static void wav_in_resamples_any_format(void **state)
{
    (void)state;
    int16_t *orig = NULL, *mono = NULL, *st = NULL;
    size_t n = 0;
    int rate = 0;
    load_orig("speech.wav", &orig, &n, &rate);
    assert_int_equal(rate, 22050);
    size_t want = (n * 48000 + 22049) / 22050;
    size_t got = read_48k("speech.wav", &mono);
    assert_true(got >= want && got < want + DC_AUDIO_BLOCK);
    size_t got_st = read_48k("stereo.wav", &st);
    assert_true(got_st >= want - DC_AUDIO_BLOCK && got_st < want + 2 * DC_AUDIO_BLOCK);
    int lag = 99;
    double c = dc_test_envelope_xcorr(orig, n, rate, mono, got, 48000, 200, &lag);
    print_message("22050 mono -> 48k: corr %.4f lag %d ms\n", c, lag);
    assert_true(c >= 0.98);
    assert_int_equal(lag, 0);
    c = dc_test_envelope_xcorr(orig, n, rate, st, got_st, 48000, 200, &lag);
    print_message("44100 stereo -> 48k: corr %.4f lag %d ms\n", c, lag);
    assert_true(c >= 0.98);
    free(orig);
    free(mono);
    free(st);
}

/* Encodes `pcm` in 20 ms frames, drops packets with probability loss (fixed seed), decodes with
 * FEC from the next packet when `fec` (else PLC only) and writes the result to `out_name`. */
static void codec_path(const int16_t *pcm, size_t n, double loss, int fec, const char *out_name,
                       int *fec_frames)
{
    size_t frames = n / DC_OPUS_FRAME;
    uint8_t(*pkt)[DC_OPUS_MAX_PACKET] = malloc(frames * DC_OPUS_MAX_PACKET);
    size_t *len = calloc(frames, sizeof(size_t));
    int *lost = calloc(frames, sizeof(int));
    assert_true(pkt && len && lost);
    dc__opus_enc *enc = NULL;
    dc__opus_dec *dec = NULL;
    assert_int_equal(dc__opus_enc_new(0, &enc), 0);
    assert_int_equal(dc__opus_enc_adapt(enc, loss), 0);
    assert_int_equal(dc__opus_dec_new(&dec), 0);
    uint32_t seed = 12345;
    for (size_t i = 0; i < frames; i++) {
        assert_int_equal(
            dc__opus_encode(enc, pcm + i * DC_OPUS_FRAME, pkt[i], DC_OPUS_MAX_PACKET, &len[i]), 0);
        lost[i] = (lcg(&seed) % 10000) < (uint32_t)(loss * 10000);
    }
    char p[128];
    path(p, sizeof(p), out_name);
    dc__audio_dev *out = NULL;
    assert_int_equal(dc__audio_open_wav_out(p, &out), 0);
    int16_t block[DC_OPUS_FRAME];
    *fec_frames = 0;
    for (size_t i = 0; i < frames; i++) {
        if (!lost[i]) {
            assert_int_equal(dc__opus_decode(dec, pkt[i], len[i], block), 0);
        } else if (fec && i + 1 < frames && !lost[i + 1]) {
            assert_int_equal(dc__opus_decode_fec(dec, pkt[i + 1], len[i + 1], block), 0);
            (*fec_frames)++;
        } else {
            assert_int_equal(dc__opus_decode_plc(dec, block), 0);
        }
        assert_int_equal(dc__audio_write(out, block), 0);
    }
    dc__audio_close(out);
    dc__opus_enc_free(enc);
    dc__opus_dec_free(dec);
    free(pkt);
    free(len);
    free(lost);
}

/* Correlation of the original 22050 Hz speech with a 48 kHz output file read back from disk. */
static double corr_with_file(const char *ref_name, const char *out_name)
{
    int16_t *ref = NULL, *out = NULL;
    size_t nr = 0, no = 0;
    int rr = 0, ro = 0, ch = 0;
    char p[128];
    load_orig(ref_name, &ref, &nr, &rr);
    path(p, sizeof(p), out_name);
    assert_int_equal(dc_test_wav_load(p, &out, &no, &ro, &ch), 0);
    assert_int_equal(ro, 48000);
    assert_int_equal(ch, 1);
    int lag = 0;
    double c = dc_test_envelope_xcorr(ref, nr, rr, out, no, ro, 200, &lag);
    print_message("%s vs %s: corr %.4f at lag %d ms\n", ref_name, out_name, c, lag);
    free(ref);
    free(out);
    return c;
}

static void opus_round_trip_keeps_speech(void **state)
{
    (void)state;
    int16_t *pcm = NULL;
    size_t n = read_48k("speech.wav", &pcm);
    int fec = 0;
    codec_path(pcm, n, 0.0, 1, "clean.wav", &fec);
    assert_int_equal(fec, 0);
    assert_true(corr_with_file("speech.wav", "clean.wav") >= 0.9);
    /* The metric can fail: different words through the same path score far lower. */
    assert_true(corr_with_file("other.wav", "clean.wav") < 0.6);
    free(pcm);
}

static void opus_fec_survives_5pct_loss(void **state)
{
    (void)state;
    int16_t *pcm = NULL;
    size_t n = read_48k("speech.wav", &pcm);
    int fec = 0, none = 0;
    codec_path(pcm, n, 0.05, 1, "loss_fec.wav", &fec);
    codec_path(pcm, n, 0.05, 0, "loss_plc.wav", &none);
    print_message("frames rebuilt from FEC: %d\n", fec);
    assert_true(fec >= 5);
    assert_int_equal(none, 0);
    double with_fec = corr_with_file("speech.wav", "loss_fec.wav");
    double plc_only = corr_with_file("speech.wav", "loss_plc.wav");
    assert_true(with_fec >= 0.8);
    assert_true(with_fec >= plc_only);
    free(pcm);
}

static void opus_bitrate_adapts_to_loss(void **state)
{
    (void)state;
    static const struct {
        double loss;
        int rate, pct;
    } cases[] = {{0.0, 24000, 2},   {0.015, 24000, 4}, {0.05, 32000, 7}, {0.10, 32000, 12},
                 {0.20, 40000, 22}, {0.40, 24000, 30}, {1.5, 24000, 30}, {-1.0, 24000, 2}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rate = 0, pct = 0;
        dc__opus_adapt(cases[i].loss, &rate, &pct);
        assert_int_equal(rate, cases[i].rate);
        assert_int_equal(pct, cases[i].pct);
    }
    dc__opus_enc *enc = NULL;
    assert_int_equal(dc__opus_enc_new(0, &enc), 0);
    assert_int_equal(dc__opus_enc_set_bitrate(enc, 1000), -1);
    assert_int_equal(dc__opus_enc_set_loss(enc, 101), -1);
    assert_int_equal(dc__opus_enc_adapt(enc, 0.2), 0);
    dc__opus_enc_free(enc);
}

struct arrival {
    int idx;
    int64_t at;
};

static int by_arrival(const void *a, const void *b)
{
    const struct arrival *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->idx - y->idx;
}

#define RN 150
static const uint32_t TS0 = 0xFFFFFFFFu - 20 * 960 + 1; /* wraps at frame 20 */
static const uint16_t SEQ0 = 65500;                     /* wraps at frame 36 */

static int dropped(int i)
{
    return i == 10 || i == 20 || i == 21 || i == 100;
}

static void check_tick(const dc__jb_frame *f, int k)
{
    assert_int_equal(f->ts, (uint32_t)(TS0 + (uint32_t)k * 960));
    if (!dropped(k)) {
        assert_int_equal(f->kind, DC_JB_FRAME);
        assert_int_equal(f->seq, (uint16_t)(SEQ0 + k));
        assert_int_equal(f->len, 3);
        assert_int_equal(f->data[0], (uint8_t)k);
    } else if (k == 20) {
        assert_int_equal(f->kind, DC_JB_LOST); /* 21 is lost too: nothing to rebuild from */
    } else {
        assert_true(f->kind == DC_JB_FEC || f->kind == DC_JB_LOST);
        if (f->kind == DC_JB_FEC) /* the next packet's payload, for its FEC data */
            assert_int_equal(f->data[0], (uint8_t)(k + 1));
    }
}

/* Packets sent every 20 ms reach the buffer after 5 ms plus 0..40 ms of jitter (so they arrive
 * out of order); four are lost, one is duplicated; playout ticks every 20 ms. */
static void jb_reorders_and_reports_losses(void **state)
{
    (void)state;
    struct arrival arr[RN];
    uint32_t seed = 7;
    for (int i = 0; i < RN; i++)
        arr[i] = (struct arrival){i, (int64_t)i * 20 + 5 + lcg(&seed) % 41};
    qsort(arr, RN, sizeof(arr[0]), by_arrival);
    int inversions = 0;
    for (int i = 1; i < RN; i++)
        inversions += arr[i].idx < arr[i - 1].idx;
    assert_true(inversions >= 10);

    dc__jb *jb = NULL;
    assert_int_equal(dc__jb_new(&jb), 0);
    int next = 0, k = 0, skipped = 0;
    for (int64_t t = 0; t < RN * 20 + 300; t++) {
        for (; next < RN && arr[next].at == t; next++) {
            int i = arr[next].idx;
            if (dropped(i))
                continue;
            uint8_t payload[3] = {(uint8_t)i, 0xAB, 0xCD};
            dc__jb_put_result res;
            assert_int_equal(
                dc__jb_put(jb, (uint16_t)(SEQ0 + i), TS0 + (uint32_t)i * 960, payload, 3, t, &res),
                0);
            assert_int_equal(res, DC_JB_ACCEPTED);
            if (i == 30) {
                assert_int_equal(dc__jb_put(jb, (uint16_t)(SEQ0 + i), TS0 + (uint32_t)i * 960,
                                            payload, 3, t, &res),
                                 0);
                assert_int_equal(res, DC_JB_DUPLICATE);
            }
        }
        if (t % 20 != 7)
            continue;
        dc__jb_frame f;
        assert_int_equal(dc__jb_get(jb, t, &f), 0);
        if (f.kind == DC_JB_EMPTY || f.kind == DC_JB_INSERT || k >= RN) {
            assert_true(k == 0 || f.kind != DC_JB_EMPTY);
            continue;
        }
        /* The buffer may drop a frame to shed delay as its start target (60 ms) decays to the
         * ~50 ms this jitter needs: allowed, but it must be a received frame and counted. */
        int at = (int)((uint32_t)(f.ts - TS0) / 960);
        assert_true(at >= k && at <= k + 1);
        if (at > k)
            assert_false(dropped(k));
        skipped += at - k;
        k = at;
        check_tick(&f, k++);
    }
    assert_int_equal(k, RN);
    uint8_t payload[3] = {5, 0, 0};
    dc__jb_put_result res;
    assert_int_equal(dc__jb_put(jb, (uint16_t)(SEQ0 + 5), TS0 + 5 * 960, payload, 3, 9999, &res),
                     0);
    assert_int_equal(res, DC_JB_LATE);
    dc__jb_stats st;
    dc__jb_get_stats(jb, &st);
    assert_int_equal(st.received, RN - 4);
    assert_int_equal(st.duplicate, 1);
    assert_int_equal(st.late, 1);
    print_message("skipped to shed delay: %d, target %d ms\n", skipped, st.target_ms);
    assert_int_equal(st.skipped, skipped);
    assert_true(skipped <= 2);
    assert_int_equal(st.played, RN - 4 - skipped);
    assert_int_equal(dc__jb_put(jb, 1, 2, payload, 0, 0, NULL), -1);
    dc__jb_free(jb);
}

/* Eight packets arrive at once in a shuffled order before playout starts: they play in order. */
static void jb_plays_shuffled_burst_in_order(void **state)
{
    (void)state;
    static const int order[8] = {3, 0, 7, 1, 5, 2, 6, 4};
    dc__jb *jb = NULL;
    assert_int_equal(dc__jb_new(&jb), 0);
    for (int i = 0; i < 8; i++) {
        uint8_t b = (uint8_t)order[i];
        assert_int_equal(dc__jb_put(jb, (uint16_t)(100 + b), 5000u + b * 960u, &b, 1, 0, NULL), 0);
    }
    int played = 0;
    for (int64_t t = 0; t < 400; t += 20) {
        dc__jb_frame f;
        assert_int_equal(dc__jb_get(jb, t, &f), 0);
        if (played == 8) {
            assert_int_equal(f.kind, DC_JB_LOST); /* the stream went quiet */
            break;
        }
        if (f.kind == DC_JB_EMPTY)
            continue;
        assert_int_equal(f.kind, DC_JB_FRAME);
        assert_int_equal(f.data[0], played);
        assert_int_equal(f.seq, 100 + played);
        played++;
    }
    assert_int_equal(played, 8);
    dc__jb_free(jb);
}

/* A sender that restarts (new timestamp base, ahead or behind) is followed, not dropped. */
static void jb_follows_a_restarted_sender(void **state)
{
    (void)state;
    static const uint32_t base[3] = {0, 5000000, 1000};
    dc__jb *jb = NULL;
    assert_int_equal(dc__jb_new(&jb), 0);
    int resyncs_seen = 0, late = 0;
    for (int seg = 0; seg < 3; seg++) {
        int played_new = 0;
        for (int i = 0; i < 60; i++) {
            int64_t t0 = ((int64_t)seg * 60 + i) * 20;
            uint8_t b = (uint8_t)seg;
            dc__jb_put_result res;
            assert_int_equal(dc__jb_put(jb, (uint16_t)(seg * 1000 + i), base[seg] + i * 960u, &b, 1,
                                        t0 + 5, &res),
                             0);
            resyncs_seen += res == DC_JB_RESYNC;
            late += res == DC_JB_LATE;
            dc__jb_frame f;
            assert_int_equal(dc__jb_get(jb, t0 + 7, &f), 0);
            played_new += f.kind == DC_JB_FRAME && f.data[0] == seg;
        }
        assert_true(played_new >= 40); /* the new stream plays within about 0.4 s */
    }
    dc__jb_stats st;
    dc__jb_get_stats(jb, &st);
    assert_int_equal(resyncs_seen, 2);
    assert_int_equal(st.resyncs, 2);
    assert_int_equal(late, 9); /* going back in time: 9 dropped, the 10th restarts */
    dc__jb_free(jb);
}

/* Garbage is refused without disturbing the decoder, which then conceals. */
static void opus_refuses_garbage(void **state)
{
    (void)state;
    dc__opus_dec *dec = NULL;
    int16_t pcm[DC_OPUS_FRAME];
    uint8_t junk[40];
    memset(junk, 0xFF, sizeof(junk));
    assert_int_equal(dc__opus_dec_new(&dec), 0);
    assert_int_equal(dc__opus_decode(dec, junk, sizeof(junk), pcm), DC_EPACKET);
    assert_int_equal(dc__opus_decode(dec, junk, 0, pcm), DC_EINVAL);
    assert_int_equal(dc__opus_decode_plc(dec, pcm), 0);
    dc__opus_dec_free(dec);
}

/* 10 s calm, 10 s of 0..90 ms extra delay (RFC 3550 jitter ~30 ms), 10 s calm again. */
static void jb_adapts_to_jitter(void **state)
{
    (void)state;
    enum { N = 1500 };
    static struct arrival arr[N];
    uint32_t seed = 99;
    for (int i = 0; i < N; i++) {
        int64_t extra = (i >= 500 && i < 1000) ? lcg(&seed) % 91 : 0;
        arr[i] = (struct arrival){i, (int64_t)i * 20 + 5 + extra};
    }
    qsort(arr, N, sizeof(arr[0]), by_arrival);
    dc__jb *jb = NULL;
    assert_int_equal(dc__jb_new(&jb), 0);
    dc__jb_stats st;
    int late_in_jitter = 0, next = 0, skipped_before_calm = 0;
    int64_t last_delay = -1;
    for (int64_t t = 0; t < N * 20; t++) {
        for (; next < N && arr[next].at == t; next++) {
            int i = arr[next].idx;
            uint8_t b = 1;
            dc__jb_put_result res;
            dc__jb_put(jb, (uint16_t)i, (uint32_t)i * 960, &b, 1, t, &res);
            late_in_jitter += res == DC_JB_LATE && i >= 600 && i < 1000;
        }
        if (t % 20 != 3)
            continue;
        dc__jb_frame f;
        dc__jb_get(jb, t, &f);
        if (f.kind == DC_JB_FRAME)
            last_delay = t - (int64_t)(f.ts / 960) * 20; /* send time of frame i is i * 20 */
        if (t == 9983 || t == 19983) {
            dc__jb_get_stats(jb, &st);
            print_message("t=%lld target %d ms jitter %.1f ms playout delay %lld ms\n",
                          (long long)t, st.target_ms, st.jitter_ms, (long long)last_delay);
            if (t == 9983) {
                assert_true(st.target_ms <= 25);
                assert_true(last_delay <= 55); /* 5 network + 20 target + < 30 */
            } else {
                assert_true(st.target_ms >= 60);
                assert_true(st.jitter_ms >= 20);
                skipped_before_calm = (int)st.skipped;
            }
        }
    }
    dc__jb_get_stats(jb, &st);
    print_message("end: target %d ms playout delay %lld ms, late while jittery %d/400, skipped "
                  "%llu, inserted %llu\n",
                  st.target_ms, (long long)last_delay, late_in_jitter,
                  (unsigned long long)st.skipped, (unsigned long long)st.inserted);
    assert_true(late_in_jitter <= 8); /* <= 2 % once adapted */
    assert_true(st.target_ms <= 30);
    assert_true(st.skipped > (uint64_t)skipped_before_calm); /* playout actually caught up */
    assert_true(last_delay <= 60);
    dc__jb_free(jb);
}

static dc__audio_dev *volatile term_dev;

static void on_term(int sig)
{
    (void)sig;
    dc__audio_wav_finalize_signal_safe(term_dev);
    _exit(0);
}

/* Child: writes blocks forever (sample value = block number), tells the parent after 25. */
static void writer_child(const char *p, int fd, int handler)
{
    if (handler) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_term;
        sigaction(SIGTERM, &sa, NULL);
    }
    dc__audio_dev *dev = NULL;
    if (dc__audio_open_wav_out(p, &dev) != 0)
        _exit(1);
    term_dev = dev;
    int16_t block[DC_AUDIO_BLOCK];
    for (int b = 0;; b++) {
        for (int i = 0; i < DC_AUDIO_BLOCK; i++)
            block[i] = (int16_t)b;
        if (dc__audio_write(dev, block) != 0)
            _exit(1);
        if (b == 25 && write(fd, "x", 1) != 1)
            _exit(1);
    }
}

/* Checks the header against the file size; returns the data size the header claims. */
static uint32_t check_header(const char *p, int exact)
{
    unsigned char h[44];
    struct stat st;
    int fd = open(p, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, h, 44), 44);
    assert_int_equal(fstat(fd, &st), 0);
    close(fd);
    uint32_t riff = h[4] | h[5] << 8 | h[6] << 16 | (uint32_t)h[7] << 24;
    uint32_t data = h[40] | h[41] << 8 | h[42] << 16 | (uint32_t)h[43] << 24;
    assert_memory_equal(h, "RIFF", 4);
    assert_memory_equal(h + 8, "WAVEfmt ", 8);
    assert_memory_equal(h + 36, "data", 4);
    assert_int_equal(riff, data + 36);
    assert_int_equal(data % 2, 0);
    assert_true(data >= 25 * DC_AUDIO_BLOCK * 2);
    uint64_t on_disk = (uint64_t)st.st_size - 44;
    if (exact)
        assert_int_equal(data, on_disk);
    else /* killed between a block and its header update: at most one block behind */
        assert_true(data <= on_disk && on_disk - data <= DC_AUDIO_BLOCK * 2);
    return data;
}

static void kill_writer(const char *name, int sig, int exact)
{
    char p[128];
    path(p, sizeof(p), name);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        writer_child(p, fds[1], sig == SIGTERM);
    }
    close(fds[1]);
    char c;
    assert_int_equal(read(fds[0], &c, 1), 1);
    close(fds[0]);
    usleep(2000);
    kill(pid, sig);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    uint32_t data = check_header(p, exact);
    /* And a reader agrees: the content is the blocks in order. */
    int16_t *pcm = NULL;
    size_t n = 0;
    int rate = 0, ch = 0;
    assert_int_equal(dc_test_wav_load(p, &pcm, &n, &rate, &ch), 0);
    assert_int_equal(rate, 48000);
    assert_int_equal(ch, 1);
    assert_int_equal(n, data / 2);
    for (size_t i = 0; i < n; i += 97)
        assert_int_equal(pcm[i], (int16_t)(i / DC_AUDIO_BLOCK));
    free(pcm);
}

static void wav_out_valid_after_abrupt_stop(void **state)
{
    (void)state;
    kill_writer("term.wav", SIGTERM, 1);
    kill_writer("kill.wav", SIGKILL, 0);
}

struct clocked {
    int blocks;
    int nonzero;
};

static void on_capture(void *user, int16_t *pcm, size_t n)
{
    struct clocked *c = user;
    c->blocks++;
    for (size_t i = 0; i < n; i++)
        c->nonzero += pcm[i] != 0;
}

static void on_playback(void *user, int16_t *pcm, size_t n)
{
    struct clocked *c = user;
    c->blocks++;
    for (size_t i = 0; i < n; i++)
        pcm[i] = 1000;
}

/* Clocked mode: the WAV backends deliver one block per 20 ms from their own thread. */
static void wav_devices_run_in_real_time(void **state)
{
    (void)state;
    char pin[128], pout[128];
    path(pin, sizeof(pin), "speech.wav");
    path(pout, sizeof(pout), "clocked.wav");
    dc__audio_dev *in = NULL, *out = NULL;
    assert_int_equal(dc__audio_open_wav_in(pin, &in), 0);
    assert_int_equal(dc__audio_open_wav_out(pout, &out), 0);
    struct clocked cin = {0, 0}, cout = {0, 0};
    assert_int_equal(dc__audio_start(in, on_capture, &cin), 0);
    assert_int_equal(dc__audio_start(out, on_playback, &cout), 0);
    int16_t block[DC_AUDIO_BLOCK];
    assert_int_equal(dc__audio_read(in, block), DC_ESTATE);
    usleep(400000);
    assert_int_equal(dc__audio_stop(in), 0);
    assert_int_equal(dc__audio_stop(out), 0);
    print_message("400 ms: %d capture blocks, %d playback blocks\n", cin.blocks, cout.blocks);
    assert_true(cin.blocks >= 8 && cin.blocks <= 30); /* paced, not as fast as possible */
    assert_true(cout.blocks >= 8 && cout.blocks <= 30);
    assert_true(cin.nonzero > 0);
    dc__audio_close(in);
    dc__audio_close(out);
    int16_t *pcm = NULL;
    size_t n = 0;
    int rate = 0, ch = 0;
    assert_int_equal(dc_test_wav_load(pout, &pcm, &n, &rate, &ch), 0);
    assert_int_equal(n, (size_t)cout.blocks * DC_AUDIO_BLOCK);
    assert_int_equal(pcm[n - 1], 1000);
    free(pcm);
}

struct pa_probe {
    atomic_int blocks; /* written on PortAudio's thread, polled here */
    int16_t first[3 * DC_AUDIO_BLOCK];
};

static void on_pa(void *user, int16_t *pcm, size_t n)
{
    struct pa_probe *p = user;
    int b = atomic_load(&p->blocks);
    if (b < 3)
        memcpy(p->first + b * DC_AUDIO_BLOCK, pcm, n * sizeof(int16_t));
    atomic_store(&p->blocks, b + 1);
}

static void run_pa(const char *name, dc__audio_dir d, int rate, struct pa_probe *probe)
{
    dc__audio_dev *dev = NULL;
    assert_int_equal(dc__audio_open_pa_at(name, d, rate, &dev), 0);
    assert_int_equal(dc__audio_direction(dev), d);
    assert_int_equal(dc__audio_write(dev, probe->first), d == DC_AUDIO_PLAYBACK ? DC_ESTATE : -1);
    assert_int_equal(dc__audio_start(dev, on_pa, probe), 0);
    for (int i = 0; i < 2000 && atomic_load(&probe->blocks) < 3; i++)
        usleep(1000);
    assert_int_equal(dc__audio_stop(dev), 0);
    dc__audio_close(dev);
    assert_true(atomic_load(&probe->blocks) >= 3);
}

static void write_raw(const char *p, int rate)
{
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    for (int i = 0; i < 10000; i++) {
        /* 48 kHz: a ramp to compare exactly; other rates: a 1 kHz tone to measure. */
        int16_t s = rate == 48000 ? (int16_t)(i * 7 - 3000)
                                  : (int16_t)(8000 * sin(2 * M_PI * 1000.0 * i / rate));
        fwrite(&s, 2, 1, f);
    }
    fclose(f);
}

static void write_asoundrc(const char *raw48, const char *raw44)
{
    char rc[128], text[1024];
    path(rc, sizeof(rc), ".asoundrc");
    snprintf(text, sizeof(text),
             "pcm.!default { type null }\n"
             "pcm.dcall_null { type null hint { show on description \"null\" } }\n"
             "pcm.dcall_file { type file slave.pcm \"null\" file \"/dev/null\" infile \"%s\" "
             "format \"raw\" hint { show on description \"file\" } }\n"
             "pcm.dcall_tone { type file slave.pcm \"null\" file \"/dev/null\" infile \"%s\" "
             "format \"raw\" }\n",
             raw48, raw44);
    FILE *f = fopen(rc, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    setenv("HOME", dir, 1); /* ALSA reads ~/.asoundrc */
}

/* No sound card here: ALSA's null device as the default, and file devices whose capture side
 * reads a raw file, defined in an .asoundrc under a temporary HOME. */
static void portaudio_through_alsa_null_and_file(void **state)
{
    (void)state;
    char raw48[128], raw44[128];
    path(raw48, sizeof(raw48), "ramp48.raw");
    path(raw44, sizeof(raw44), "tone44.raw");
    write_raw(raw48, 48000);
    write_raw(raw44, 44100);
    write_asoundrc(raw48, raw44);

    dc__audio_devinfo *devs = NULL;
    size_t n = 0;
    assert_int_equal(dc__audio_list(&devs, &n), 0);
    int have_default = 0, have_file = 0;
    for (size_t i = 0; i < n; i++) {
        print_message("device [%s] %s in %d out %d%s%s\n", devs[i].name, devs[i].host_api,
                      devs[i].max_input_channels, devs[i].max_output_channels,
                      devs[i].is_default_input ? " default-in" : "",
                      devs[i].is_default_output ? " default-out" : "");
        have_default |= !strcmp(devs[i].name, "default") && devs[i].is_default_output;
        have_file |= !strcmp(devs[i].name, "dcall_file");
    }
    free(devs);
    assert_true(have_default && have_file);

    struct pa_probe out = {0, {0}}, in = {0, {0}}, tone = {0, {0}}, out44 = {0, {0}};
    run_pa(NULL, DC_AUDIO_PLAYBACK, 0, &out);
    run_pa("DCALL_FI", DC_AUDIO_CAPTURE, 0, &in); /* by case-insensitive part of its name */
    for (int i = 0; i < DC_AUDIO_BLOCK; i++)
        assert_int_equal(in.first[i], (int16_t)(i * 7 - 3000));
    dc__audio_dev *dev = NULL;
    assert_int_equal(dc__audio_open_pa("no such device", DC_AUDIO_CAPTURE, &dev), DC_ENOTFOUND);

    /* A device at 44.1 kHz: blocks still come at 48 kHz, so the 1 kHz tone still is 1 kHz
     * (80 zero crossings in 40 ms; unconverted it would be 1088 Hz, 87). */
    run_pa("dcall_tone", DC_AUDIO_CAPTURE, 44100, &tone);
    int crossings = 0;
    for (int i = DC_AUDIO_BLOCK + 1; i < 3 * DC_AUDIO_BLOCK; i++)
        crossings += (tone.first[i - 1] < 0) != (tone.first[i] < 0);
    print_message("44.1 kHz capture: %d zero crossings in 40 ms\n", crossings);
    assert_true(crossings >= 78 && crossings <= 82);
    run_pa(NULL, DC_AUDIO_PLAYBACK, 44100, &out44);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wav_in_resamples_any_format),
        cmocka_unit_test(opus_round_trip_keeps_speech),
        cmocka_unit_test(opus_fec_survives_5pct_loss),
        cmocka_unit_test(opus_bitrate_adapts_to_loss),
        cmocka_unit_test(jb_reorders_and_reports_losses),
        cmocka_unit_test(jb_plays_shuffled_burst_in_order),
        cmocka_unit_test(jb_adapts_to_jitter),
        cmocka_unit_test(jb_follows_a_restarted_sender),
        cmocka_unit_test(opus_refuses_garbage),
        cmocka_unit_test(wav_out_valid_after_abrupt_stop),
        cmocka_unit_test(wav_devices_run_in_real_time),
        cmocka_unit_test(portaudio_through_alsa_null_and_file),
    };
    return cmocka_run_group_tests(tests, make_wavs, remove_wavs);
}
