/* Test-side audio metrics: see audio_metrics.h. */
#include "audio_metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dc_test_envelope(const int16_t *pcm, size_t n, int rate, double **env, size_t *nwin)
{
    if (!pcm || !env || !nwin || rate < 1000)
        return -1;
    /* Window w covers samples [w*rate/100, (w+1)*rate/100): exact 10 ms on average even when
     * rate/100 is not an integer (22050 Hz), so envelopes at different rates do not drift. */
    *nwin = (size_t)((uint64_t)n * 100 / (uint64_t)rate);
    *env = calloc(*nwin ? *nwin : 1, sizeof(double));
    if (!*env)
        return -1;
    for (size_t w = 0; w < *nwin; w++) {
        size_t a = (size_t)((uint64_t)w * (uint64_t)rate / 100);
        size_t b = (size_t)((uint64_t)(w + 1) * (uint64_t)rate / 100);
        double e = 0;
        for (size_t i = a; i < b; i++) {
            double s = pcm[i];
            e += s * s;
        }
        (*env)[w] = sqrt(e / (double)(b - a));
    }
    return 0;
}

/* Pearson correlation of ref[i] with test[i + lag] over all i of ref. */
static double corr_at(const double *r, size_t nr, const double *t, size_t nt, long lag)
{
    double sr = 0, st = 0, srr = 0, stt = 0, srt = 0;
    for (size_t i = 0; i < nr; i++) {
        long j = (long)i + lag;
        double x = r[i], y = (j >= 0 && (size_t)j < nt) ? t[j] : 0.0;
        sr += x;
        st += y;
        srr += x * x;
        stt += y * y;
        srt += x * y;
    }
    double n = (double)nr;
    double cov = srt - sr * st / n, vr = srr - sr * sr / n, vt = stt - st * st / n;
    if (vr <= 0 || vt <= 0)
        return 0.0;
    return cov / sqrt(vr * vt);
}

double dc_test_envelope_xcorr(const int16_t *ref, size_t nref, int ref_rate, const int16_t *test,
                              size_t ntest, int test_rate, int max_lag_ms, int *lag_ms)
{
    double *r = NULL, *t = NULL;
    size_t nr = 0, nt = 0;
    if (dc_test_envelope(ref, nref, ref_rate, &r, &nr) != 0 ||
        dc_test_envelope(test, ntest, test_rate, &t, &nt) != 0 || nr < 2) {
        free(r);
        free(t);
        return -2.0;
    }
    long max_lag = max_lag_ms / 10;
    double best = -2.0;
    long best_lag = 0;
    for (long lag = -max_lag; lag <= max_lag; lag++) {
        double c = corr_at(r, nr, t, nt, lag);
        if (c > best) {
            best = c;
            best_lag = lag;
        }
    }
    if (lag_ms)
        *lag_ms = (int)best_lag * 10;
    free(r);
    free(t);
    return best;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int read_data(FILE *f, uint32_t size, int channels, int16_t **pcm, size_t *n)
{
    size_t frames = size / (2u * (unsigned)channels);
    *pcm = malloc((frames ? frames : 1) * sizeof(int16_t));
    if (!*pcm)
        return -1;
    unsigned char fr[16];
    size_t got = 0;
    while (got < frames && fread(fr, 2u * (unsigned)channels, 1, f) == 1)
        (*pcm)[got++] = (int16_t)(fr[0] | fr[1] << 8);
    *n = got;
    return 0;
}

int dc_test_wav_load(const char *path, int16_t **pcm, size_t *n, int *rate, int *channels)
{
    FILE *f = fopen(path, "rb");
    unsigned char h[12], c[8], fmt[16];
    int have_fmt = 0, rc = -1;
    if (!f)
        return -1;
    if (fread(h, 12, 1, f) != 1 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4))
        goto out;
    while (fread(c, 8, 1, f) == 1) {
        uint32_t size = rd32(c + 4);
        if (!memcmp(c, "fmt ", 4) && size >= 16) {
            if (fread(fmt, 16, 1, f) != 1)
                goto out;
            *channels = fmt[2] | fmt[3] << 8;
            *rate = (int)rd32(fmt + 4);
            have_fmt = (fmt[0] | fmt[1] << 8) == 1 && (fmt[14] | fmt[15] << 8) == 16 &&
                       *channels >= 1 && *channels <= 8;
            size -= 16;
        } else if (!memcmp(c, "data", 4)) {
            long pos = ftell(f);
            if (pos < 0 || fseek(f, 0, SEEK_END) != 0)
                goto out;
            long avail = ftell(f) - pos;
            /* Streamed WAVs carry 0 or 0xFFFFFFFF: take what the file holds. */
            if (size == 0 || (long)size > avail)
                size = avail > 0 ? (uint32_t)avail : 0;
            if (fseek(f, pos, SEEK_SET) != 0)
                goto out;
            if (have_fmt)
                rc = read_data(f, size, *channels, pcm, n);
            goto out;
        }
        if (fseek(f, (long)(size + (size & 1)), SEEK_CUR) != 0)
            goto out;
    }
out:
    fclose(f);
    return rc;
}
