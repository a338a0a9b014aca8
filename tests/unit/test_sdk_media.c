/* libdcall media engine pieces that need no server: the CLI's audio options, the media/quality
 * messages, and the audio path (voice.c) from one WAV file through Opus, a simulated lossy and
 * jittery network, the jitter buffer, FEC/PLC, into another WAV file, with mute, hold and volume.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/cli/args.c" /* the CLI's parser is not in a library; test it in place */
#include "dcall/dcall.h"
#include "sdk/media.h"
#include "sdk/sdk_internal.h"

#define RATE 48000
#define FRAME 960

static int parse_args(struct dc__cli_args *a, char *err, size_t errlen, const char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    return dc__cli_parse(argc, (char **)argv, a, err, errlen);
}

static void test_args_audio(void **state)
{
    struct dc__cli_args a;
    char err[256];
    (void)state;
    const char *ok[] = {
        "dcall", "--server", "http://h:1", "--token", "t",        "--cuid", "rider_1",
        "call",  "driver_7", "--play",     "a.wav",   "--record", "b.wav",  "--min-network-score",
        "60",    NULL};
    assert_int_equal(parse_args(&a, err, sizeof err, ok), 0);
    assert_string_equal(a.play, "a.wav");
    assert_string_equal(a.record, "b.wav");
    assert_int_equal(a.min_network_score, 60);
    assert_int_equal(a.no_audio_processing, 0);
    const char *noapm[] = {"dcall",
                           "--server",
                           "http://h:1",
                           "--token",
                           "t",
                           "--cuid",
                           "rider_1",
                           "listen",
                           "--input-device",
                           "mic",
                           "--no-audio-processing",
                           NULL};
    assert_int_equal(parse_args(&a, err, sizeof err, noapm), 0);
    assert_int_equal(a.no_audio_processing, 1);
    const char *dev[] = {"dcall", "devices", NULL};
    assert_int_equal(parse_args(&a, err, sizeof err, dev), 0);
    assert_int_equal(a.cmd, DC__CLI_DEVICES);
    const char *both[] = {"dcall",          "--server", "http://h:1", "--token", "t",
                          "--cuid",         "rider_1",  "listen",     "--play",  "a.wav",
                          "--input-device", "mic",      NULL};
    assert_int_equal(parse_args(&a, err, sizeof err, both), DC_EINVAL);
    assert_non_null(strstr(err, "--play"));
    const char *nomedia[] = {"dcall",   "--server", "http://h:1", "--token",  "t",     "--cuid",
                             "rider_1", "listen",   "--no-media", "--record", "x.wav", NULL};
    assert_int_equal(parse_args(&a, err, sizeof err, nomedia), DC_EINVAL);
    const char *score[] = {"dcall",  "--server", "http://h:1", "--token",  "t",
                           "--cuid", "rider_1",  "call",       "driver_7", "--min-network-score",
                           "101",    NULL};
    assert_int_equal(parse_args(&a, err, sizeof err, score), DC_EINVAL);
    const char *listen_score[] = {
        "dcall",   "--server", "http://h:1",          "--token", "t", "--cuid",
        "rider_1", "listen",   "--min-network-score", "50",      NULL};
    assert_int_equal(parse_args(&a, err, sizeof err, listen_score), DC_EINVAL);
}

static void test_media_and_quality_messages(void **state)
{
    struct dc__sdk_msg m;
    (void)state;
    const char *q = "{\"type\":\"quality\",\"seq\":7,\"call_id\":\"c_1\",\"mos\":4.31,"
                    "\"loss_pct\":1.5,\"rtt_ms\":42,\"jitter_ms\":3.25}";
    assert_int_equal(dc__sdk_msg_parse(q, strlen(q), &m), 0);
    assert_true(m.known);
    assert_int_equal(m.ev.type, DC_EV_QUALITY);
    assert_string_equal(m.ev.call_id, "c_1");
    assert_true(fabs(m.ev.mos - 4.31) < 1e-9);
    assert_true(fabs(m.ev.loss_pct - 1.5) < 1e-9);
    assert_true(fabs(m.ev.rtt_ms - 42) < 1e-9); /* an integer in JSON is still a number */
    assert_true(fabs(m.ev.jitter_ms - 3.25) < 1e-9);
    dc__sdk_msg_free(&m);
    const char *md = "{\"type\":\"media\",\"seq\":8,\"call_id\":\"c_1\"}";
    assert_int_equal(dc__sdk_msg_parse(md, strlen(md), &m), 0);
    assert_int_equal(m.ev.type, DC_EV_MEDIA);
    dc__sdk_msg_free(&m);
    dc_event_type t;
    assert_int_equal(dc__sdk_event_type("network_check", &t), DC_ETYPE); /* local only */
    assert_string_equal(dc__sdk_event_name(DC_EV_NETWORK_CHECK), "network_check");
    assert_string_equal(dc__sdk_event_name(DC_EV_QUALITY), "quality");
    /* the enum grew at its end only */
    assert_int_equal(DC_EV_CLOSED, 18);
    assert_int_equal(DC_EV_MEDIA, 19);
}

/* ---- the audio path ---- */

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void put16(FILE *f, uint16_t v)
{
    fputc(v & 0xff, f);
    fputc(v >> 8, f);
}

static void put32le(FILE *f, uint32_t v)
{
    put16(f, (uint16_t)(v & 0xffff));
    put16(f, (uint16_t)(v >> 16));
}

/* Speech-like test signal: two tones under syllable-like bursts of 80-300 ms with pauses. */
static int16_t *make_signal(size_t n, uint32_t seed)
{
    int16_t *s = calloc(n, sizeof *s);
    size_t i = 0;
    while (i < n) {
        size_t on = (size_t)(RATE * (80 + lcg(&seed) % 220) / 1000);
        size_t off = (size_t)(RATE * (40 + lcg(&seed) % 200) / 1000);
        double amp = 3000 + lcg(&seed) % 9000;
        for (size_t k = 0; k < on && i < n; k++, i++) {
            double env = sin(M_PI * (double)k / (double)on);
            s[i] = (int16_t)(amp * env *
                             (0.6 * sin(2 * M_PI * 220 * i / RATE) +
                              0.4 * sin(2 * M_PI * 1250 * i / RATE)));
        }
        i += off;
    }
    return s;
}

static void write_wav(const char *path, const int16_t *s, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite("RIFF", 1, 4, f);
    put32le(f, (uint32_t)(36 + n * 2));
    fwrite("WAVEfmt ", 1, 8, f);
    put32le(f, 16);
    put16(f, 1);
    put16(f, 1);
    put32le(f, RATE);
    put32le(f, RATE * 2);
    put16(f, 2);
    put16(f, 16);
    fwrite("data", 1, 4, f);
    put32le(f, (uint32_t)(n * 2));
    for (size_t i = 0; i < n; i++)
        put16(f, (uint16_t)s[i]);
    fclose(f);
}

/* Reads a 48 kHz mono PCM16 WAV (walks the chunks). */
static int16_t *read_wav(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char h[12], ch[8];
    assert_non_null(f);
    assert_int_equal(fread(h, 1, 12, f), 12);
    assert_memory_equal(h, "RIFF", 4);
    while (fread(ch, 1, 8, f) == 8) {
        uint32_t size = ch[4] | ch[5] << 8 | ch[6] << 16 | (uint32_t)ch[7] << 24;
        if (memcmp(ch, "data", 4) == 0) {
            int16_t *s = malloc(size + 2);
            size_t got = fread(s, 1, size, f);
            fclose(f);
            *n = got / 2;
            return s;
        }
        fseek(f, size + (size & 1), SEEK_CUR);
    }
    fclose(f);
    fail_msg("no data chunk in %s", path);
    return NULL;
}

static double *envelope(const int16_t *s, size_t n, size_t *frames)
{
    size_t w = RATE / 100;
    *frames = n / w;
    double *e = calloc(*frames + 1, sizeof *e);
    for (size_t f = 0; f < *frames; f++) {
        double acc = 0;
        for (size_t k = 0; k < w; k++)
            acc += (double)s[f * w + k] * s[f * w + k];
        e[f] = sqrt(acc / w);
    }
    return e;
}

/* Best Pearson correlation of the input envelope with the output's delayed by 0..max_lag. */
static double best_corr(const double *a, size_t na, const double *b, size_t nb, int *lag_out)
{
    double best = -1;
    for (int lag = 0; lag <= 40; lag++) {
        double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
        for (size_t i = 0; i < na; i++) {
            ma += a[i];
            mb += i + lag < nb ? b[i + lag] : 0;
        }
        ma /= na;
        mb /= na;
        for (size_t i = 0; i < na; i++) {
            double y = (i + lag < nb ? b[i + lag] : 0) - mb;
            sab += (a[i] - ma) * y;
            saa += (a[i] - ma) * (a[i] - ma);
            sbb += y * y;
        }
        double c = saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0;
        if (c > best) {
            best = c;
            *lag_out = lag * 10;
        }
    }
    return best;
}

struct inflight {
    int64_t at;
    uint16_t seq;
    uint32_t ts;
    size_t len;
    uint8_t data[1500];
};

struct run_result {
    double corr, rms_out;
    int lag_ms;
    struct dc__voice_stats rx;
};

/* Sends `seconds` of the test signal from voice A to voice B over a simulated network with
 * loss_pct random loss and 0..jitter_ms uniform extra delay. */
static struct run_result run_path(int loss_pct, int jitter_ms, int mute, int hold, double gain)
{
    char in[] = "/tmp/dc_voice_in_XXXXXX", out[] = "/tmp/dc_voice_out_XXXXXX";
    char spec_in[64], spec_out[64];
    struct dc__voice *a = NULL, *b = NULL;
    struct run_result r;
    size_t n = RATE * 4;
    uint32_t seed = 12345;
    close(mkstemp(in));
    close(mkstemp(out));
    int16_t *sig = make_signal(n, 777);
    write_wav(in, sig, n);
    snprintf(spec_in, sizeof spec_in, "wav:%s", in);
    snprintf(spec_out, sizeof spec_out, "wav:%s", out);
    struct dc__voice_cfg ca = {spec_in, "null", 0}, cb = {"null", spec_out, 0};
    assert_int_equal(dc__voice_new(&ca, &a), 0);
    assert_int_equal(dc__voice_new(&cb, &b), 0);
    dc__voice_controls(a, mute, 0, 1.0);
    dc__voice_controls(b, 0, hold, gain);
    dc__voice_start_media(a);
    dc__voice_start_media(b);
    static struct inflight q[64];
    int nq = 0;
    for (int i = 0; i < 250; i++) { /* 5 s: the whole signal plus the buffers' delay */
        int64_t now = 1000 + (int64_t)i * 20;
        struct inflight p;
        assert_int_equal(dc__voice_tick(a, now, p.data, sizeof p.data, &p.len), 0);
        assert_true(p.len > 0);
        p.seq = (uint16_t)(100 + i);
        p.ts = (uint32_t)(5000 + i * FRAME);
        p.at = now + (jitter_ms ? (int64_t)(lcg(&seed) % (uint32_t)jitter_ms) : 0);
        if ((int)(lcg(&seed) % 100) >= loss_pct && nq < 64)
            q[nq++] = p;
        for (int k = 0; k < nq;) { /* deliver what has arrived by now, in arrival order */
            if (q[k].at <= now) {
                dc__voice_put(b, q[k].seq, q[k].ts, q[k].data, q[k].len, q[k].at);
                q[k] = q[--nq];
            } else {
                k++;
            }
        }
        size_t dummy;
        uint8_t scratch[1500];
        assert_int_equal(dc__voice_tick(b, now, scratch, sizeof scratch, &dummy), 0);
    }
    dc__voice_get_stats(b, &r.rx);
    dc__voice_free(a);
    dc__voice_free(b); /* finishes the WAV */
    size_t no = 0, fa, fb;
    int16_t *rec = read_wav(out, &no);
    assert_true(no >= 240 * FRAME);
    double sq = 0;
    for (size_t i = 0; i < no; i++)
        sq += (double)rec[i] * rec[i];
    r.rms_out = sqrt(sq / (double)no);
    double *ea = envelope(sig, n, &fa), *eb = envelope(rec, no, &fb);
    r.corr = best_corr(ea, fa, eb, fb, &r.lag_ms);
    free(ea);
    free(eb);
    free(rec);
    free(sig);
    unlink(in);
    unlink(out);
    return r;
}

static void test_voice_clean_path(void **state)
{
    (void)state;
    struct run_result r = run_path(0, 0, 0, 0, 1.0);
    print_message("clean: corr %.3f lag %d ms\n", r.corr, r.lag_ms);
    assert_true(r.corr >= 0.95);
    assert_true(r.lag_ms <= 120);  /* codec + jitter buffer target */
    assert_int_equal(r.rx.fec, 0); /* nothing lost, nothing rebuilt by FEC */
}

static void test_voice_lossy_jittery_path(void **state)
{
    (void)state;
    struct run_result r = run_path(5, 30, 0, 0, 1.0);
    print_message("5%% loss, 30 ms jitter: corr %.3f lag %d ms fec %llu plc %llu target %d ms\n",
                  r.corr, r.lag_ms, (unsigned long long)r.rx.fec, (unsigned long long)r.rx.plc,
                  r.rx.target_ms);
    assert_true(r.corr >= 0.85);
    assert_true(r.rx.fec > 0); /* lost frames came back from the next packet's FEC */
}

static void test_voice_mute_hold_volume(void **state)
{
    (void)state;
    struct run_result loud = run_path(0, 0, 0, 0, 1.0);
    struct run_result muted = run_path(0, 0, 1, 0, 1.0);
    struct run_result held = run_path(0, 0, 0, 1, 1.0);
    struct run_result half = run_path(0, 0, 0, 0, 0.5);
    assert_true(loud.rms_out > 300);
    assert_true(muted.rms_out < 5);
    assert_true(held.rms_out < 1);
    assert_true(fabs(half.rms_out / loud.rms_out - 0.5) < 0.05);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_audio),
        cmocka_unit_test(test_media_and_quality_messages),
        cmocka_unit_test(test_voice_clean_path),
        cmocka_unit_test(test_voice_lossy_jittery_path),
        cmocka_unit_test(test_voice_mute_hold_volume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
