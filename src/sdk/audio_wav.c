/* WAV file backends: PCM16 WAV in (any rate, 1..8 channels, resampled to 48 kHz mono with
 * speexdsp) and 48 kHz mono PCM16 WAV out whose header is kept valid after every block. */
#include "sdk/audio_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <speex/speex_resampler.h>

#include "dcall/errors.h"

#define IN_FRAMES 1024
#define MAX_CHANNELS 8
#define HDR 44
/* RIFF sizes are 32-bit; stop before the data chunk size would overflow (about 12 h). */
#define MAX_DATA (0xFFFFFFFFu - 64u)

struct wav_in {
    int fd;
    int channels, rate;
    uint64_t data_left; /* bytes of the data chunk not yet read */
    uint64_t expected;  /* output samples the whole file yields at 48 kHz */
    uint64_t delivered;
    SpeexResamplerState *rs; /* NULL at 48 kHz */
    int16_t in[IN_FRAMES];
    spx_uint32_t in_len, in_pos;
    uint8_t raw[IN_FRAMES * MAX_CHANNELS * 2];
};

struct wav_out {
    int fd;
};

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* Reads up to n bytes; returns bytes read (short only at end of file) or -1. */
static ssize_t read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (uint8_t *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int write_full(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, (const uint8_t *)buf + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return DC_EIO;
        done += (size_t)w;
    }
    return 0;
}

/* fmt chunk: PCM (1) or WAVE_FORMAT_EXTENSIBLE whose sub-format is PCM, 16-bit. */
static int parse_fmt(struct wav_in *w, const uint8_t *f, uint32_t size)
{
    if (size < 16)
        return DC_EINVAL;
    uint16_t tag = le16(f);
    if (tag == 0xFFFE && size >= 26)
        tag = le16(f + 24);
    w->channels = le16(f + 2);
    w->rate = (int)le32(f + 4);
    if (tag != 1 || le16(f + 14) != 16 || w->channels < 1 || w->channels > MAX_CHANNELS ||
        w->rate < 8000 || w->rate > 192000 || le16(f + 12) != w->channels * 2)
        return DC_EINVAL;
    return 0;
}

/* Walks the chunks up to "data"; leaves the file offset at the first sample. */
static int parse_header(struct wav_in *w)
{
    uint8_t h[12], c[8], f[40];
    if (read_full(w->fd, h, 12) != 12 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4))
        return DC_EINVAL;
    int have_fmt = 0;
    for (;;) {
        if (read_full(w->fd, c, 8) != 8)
            return DC_EINVAL;
        uint32_t size = le32(c + 4);
        if (!memcmp(c, "data", 4)) {
            if (!have_fmt)
                return DC_EINVAL;
            struct stat st;
            off_t pos = lseek(w->fd, 0, SEEK_CUR);
            if (fstat(w->fd, &st) != 0 || pos < 0)
                return DC_EIO;
            uint64_t avail = st.st_size > pos ? (uint64_t)(st.st_size - pos) : 0;
            /* Streamed WAVs carry 0 or 0xFFFFFFFF here: take what the file has. */
            w->data_left = (size == 0 || size > avail) ? avail : size;
            return 0;
        }
        uint32_t skip = size + (size & 1);
        if (!memcmp(c, "fmt ", 4)) {
            uint32_t n = size < sizeof(f) ? size : sizeof(f);
            if (read_full(w->fd, f, n) != (ssize_t)n || parse_fmt(w, f, n) != 0)
                return DC_EINVAL;
            have_fmt = 1;
            skip -= n;
        }
        if (lseek(w->fd, skip, SEEK_CUR) < 0)
            return DC_EINVAL;
    }
}

/* Next chunk of mono input; zeros once the file is exhausted (flushes the resampler). */
static int refill(struct wav_in *w)
{
    size_t frame = (size_t)w->channels * 2;
    size_t want = IN_FRAMES * frame;
    if (want > w->data_left)
        want = (size_t)w->data_left;
    ssize_t got = want ? read_full(w->fd, w->raw, want) : 0;
    if (got < 0)
        return DC_EIO;
    size_t frames = (size_t)got / frame;
    w->data_left = frames ? w->data_left - frames * frame : 0;
    for (size_t i = 0; i < frames; i++) {
        int32_t sum = 0;
        for (int ch = 0; ch < w->channels; ch++)
            sum += (int16_t)le16(w->raw + i * frame + (size_t)ch * 2);
        w->in[i] = (int16_t)(sum / w->channels);
    }
    if (frames == 0) {
        frames = IN_FRAMES;
        memset(w->in, 0, sizeof(w->in));
    }
    w->in_len = (spx_uint32_t)frames;
    w->in_pos = 0;
    return 0;
}

static int wav_in_read(dc__audio_dev *dev, int16_t *pcm)
{
    struct wav_in *w = dev->impl;
    size_t fill = 0;
    while (fill < DC_AUDIO_BLOCK && w->delivered < w->expected) {
        if (w->in_pos == w->in_len && refill(w) != 0)
            break;
        spx_uint32_t room = DC_AUDIO_BLOCK - (spx_uint32_t)fill;
        if (w->expected - w->delivered < room)
            room = (spx_uint32_t)(w->expected - w->delivered);
        spx_uint32_t ilen = w->in_len - w->in_pos, olen = room;
        if (w->rs) {
            speex_resampler_process_int(w->rs, 0, w->in + w->in_pos, &ilen, pcm + fill, &olen);
        } else {
            olen = ilen < room ? ilen : room;
            ilen = olen;
            memcpy(pcm + fill, w->in + w->in_pos, olen * sizeof(int16_t));
        }
        w->in_pos += ilen;
        fill += olen;
        w->delivered += olen;
    }
    memset(pcm + fill, 0, (DC_AUDIO_BLOCK - fill) * sizeof(int16_t));
    return 0;
}

static int wav_in_eof(const dc__audio_dev *dev)
{
    const struct wav_in *w = dev->impl;
    return w->delivered >= w->expected;
}

static void wav_in_destroy(dc__audio_dev *dev)
{
    struct wav_in *w = dev->impl;
    if (w->rs)
        speex_resampler_destroy(w->rs);
    close(w->fd);
    free(w);
}

static const struct dc__audio_ops wav_in_ops = {
    .read = wav_in_read, .eof = wav_in_eof, .destroy = wav_in_destroy};

static int wav_in_setup(struct wav_in *w)
{
    int rc = parse_header(w);
    if (rc != 0)
        return rc;
    uint64_t frames = w->data_left / ((uint64_t)w->channels * 2);
    w->expected = (frames * DC_AUDIO_RATE + (uint64_t)w->rate - 1) / (uint64_t)w->rate;
    if (w->rate != DC_AUDIO_RATE) {
        int err = 0;
        w->rs = speex_resampler_init(1, (spx_uint32_t)w->rate, DC_AUDIO_RATE,
                                     SPEEX_RESAMPLER_QUALITY_DEFAULT, &err);
        if (!w->rs)
            return DC_ENOMEM;
        /* Drop the filter's leading delay so output sample 0 is input sample 0. */
        speex_resampler_skip_zeros(w->rs);
    }
    return 0;
}

int dc__audio_open_wav_in(const char *path, dc__audio_dev **out)
{
    if (!path || !out)
        return DC_EINVAL;
    *out = NULL;
    struct wav_in *w = calloc(1, sizeof(*w));
    if (!w)
        return DC_ENOMEM;
    w->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (w->fd < 0) {
        free(w);
        return DC_EIO;
    }
    int rc = wav_in_setup(w);
    if (rc == 0)
        rc = dc__audio_dev_alloc(&wav_in_ops, DC_AUDIO_CAPTURE, w, out);
    if (rc != 0) {
        struct dc__audio_dev tmp = {.impl = w};
        wav_in_destroy(&tmp);
    }
    return rc;
}

/* Header for a 48 kHz mono PCM16 file holding `data` bytes. */
static void make_header(uint8_t *h, uint32_t data)
{
    memcpy(h, "RIFF", 4);
    put32(h + 4, 36 + data);
    memcpy(h + 8, "WAVEfmt ", 8);
    put32(h + 16, 16);
    put16(h + 20, 1);
    put16(h + 22, 1);
    put32(h + 24, DC_AUDIO_RATE);
    put32(h + 28, DC_AUDIO_RATE * 2);
    put16(h + 32, 2);
    put16(h + 34, 16);
    memcpy(h + 36, "data", 4);
    put32(h + 40, data);
}

/* Async-signal-safe: fstat, ftruncate and pwrite only, no locks, no allocation. */
static int wav_out_finalize(dc__audio_dev *dev)
{
    struct wav_out *w = dev->impl;
    struct stat st;
    if (w->fd < 0 || fstat(w->fd, &st) != 0 || st.st_size < HDR)
        return DC_EIO;
    uint64_t data = (uint64_t)st.st_size - HDR;
    if (data > MAX_DATA)
        data = MAX_DATA;
    data &= ~(uint64_t)1; /* a torn last sample is cut off */
    if ((uint64_t)st.st_size != HDR + data && ftruncate(w->fd, (off_t)(HDR + data)) != 0)
        return DC_EIO;
    uint8_t h[HDR];
    make_header(h, (uint32_t)data);
    return pwrite(w->fd, h, HDR, 0) == HDR ? 0 : DC_EIO;
}

static int wav_out_write(dc__audio_dev *dev, const int16_t *pcm)
{
    struct wav_out *w = dev->impl;
    uint8_t buf[DC_AUDIO_BLOCK * 2];
    for (size_t i = 0; i < DC_AUDIO_BLOCK; i++)
        put16(buf + 2 * i, (uint16_t)pcm[i]);
    off_t end = lseek(w->fd, 0, SEEK_END);
    if (end < 0 || (uint64_t)end - HDR + sizeof(buf) > MAX_DATA)
        return DC_EIO;
    int rc = write_full(w->fd, buf, sizeof(buf));
    /* Data first, then the whole header in one pwrite (both sizes change together): a kill in
     * between leaves a header one block short, which is still a valid file. */
    uint8_t h[HDR];
    make_header(h, (uint32_t)((uint64_t)end - HDR + sizeof(buf)));
    if (rc == 0 && pwrite(w->fd, h, HDR, 0) != HDR)
        rc = DC_EIO;
    return rc;
}

static void wav_out_destroy(dc__audio_dev *dev)
{
    struct wav_out *w = dev->impl;
    if (w->fd >= 0)
        close(w->fd);
    free(w);
}

static const struct dc__audio_ops wav_out_ops = {
    .write = wav_out_write, .finalize = wav_out_finalize, .destroy = wav_out_destroy};

int dc__audio_open_wav_out(const char *path, dc__audio_dev **out)
{
    if (!path || !out)
        return DC_EINVAL;
    *out = NULL;
    struct wav_out *w = calloc(1, sizeof(*w));
    if (!w)
        return DC_ENOMEM;
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    uint8_t h[HDR];
    make_header(h, 0);
    int rc = w->fd < 0 ? DC_EIO : write_full(w->fd, h, HDR);
    if (rc == 0)
        rc = dc__audio_dev_alloc(&wav_out_ops, DC_AUDIO_PLAYBACK, w, out);
    if (rc != 0) {
        struct dc__audio_dev tmp = {.impl = w};
        wav_out_destroy(&tmp);
    }
    return rc;
}
