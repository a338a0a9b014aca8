/* Opus wrappers: see opus_codec.h. */
#include "media/opus_codec.h"

#include <stdlib.h>

#include <opus/opus.h>

#include "dcall/errors.h"

struct dc__opus_enc {
    OpusEncoder *st;
};

struct dc__opus_dec {
    OpusDecoder *st;
};

int dc__opus_enc_new(int bitrate_bps, dc__opus_enc **out)
{
    if (!out)
        return DC_EINVAL;
    *out = NULL;
    dc__opus_enc *enc = calloc(1, sizeof(*enc));
    if (!enc)
        return DC_ENOMEM;
    int err = 0;
    enc->st = opus_encoder_create(DC_OPUS_RATE, 1, OPUS_APPLICATION_VOIP, &err);
    if (err != OPUS_OK || !enc->st) {
        free(enc);
        return err == OPUS_ALLOC_FAIL ? DC_ENOMEM : DC_EINTERNAL;
    }
    opus_encoder_ctl(enc->st, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
    opus_encoder_ctl(enc->st, OPUS_SET_INBAND_FEC(1));
    opus_encoder_ctl(enc->st, OPUS_SET_DTX(0));
    opus_encoder_ctl(enc->st, OPUS_SET_VBR(1));
    int rc = dc__opus_enc_set_bitrate(enc, bitrate_bps ? bitrate_bps : DC_OPUS_DEFAULT_BITRATE);
    if (rc == 0)
        rc = dc__opus_enc_set_loss(enc, 2);
    if (rc != 0) {
        dc__opus_enc_free(enc);
        return rc;
    }
    *out = enc;
    return 0;
}

void dc__opus_enc_free(dc__opus_enc *enc)
{
    if (!enc)
        return;
    opus_encoder_destroy(enc->st);
    free(enc);
}

int dc__opus_enc_set_bitrate(dc__opus_enc *enc, int bitrate_bps)
{
    if (!enc || bitrate_bps < 6000 || bitrate_bps > 128000)
        return DC_EINVAL;
    return opus_encoder_ctl(enc->st, OPUS_SET_BITRATE(bitrate_bps)) == OPUS_OK ? 0 : DC_EINVAL;
}

int dc__opus_enc_set_loss(dc__opus_enc *enc, int loss_pct)
{
    if (!enc || loss_pct < 0 || loss_pct > 100)
        return DC_EINVAL;
    return opus_encoder_ctl(enc->st, OPUS_SET_PACKET_LOSS_PERC(loss_pct)) == OPUS_OK ? 0
                                                                                     : DC_EINVAL;
}

int dc__opus_encode(dc__opus_enc *enc, const int16_t *pcm, uint8_t *out, size_t cap,
                    size_t *out_len)
{
    if (!enc || !pcm || !out || !out_len || cap == 0)
        return DC_EINVAL;
    *out_len = 0;
    opus_int32 max = cap > DC_OPUS_MAX_PACKET ? DC_OPUS_MAX_PACKET : (opus_int32)cap;
    opus_int32 n = opus_encode(enc->st, pcm, DC_OPUS_FRAME, out, max);
    if (n < 0)
        return n == OPUS_BUFFER_TOO_SMALL ? DC_EINVAL : DC_EINTERNAL;
    *out_len = (size_t)n;
    return 0;
}

void dc__opus_adapt(double loss_fraction, int *bitrate_bps, int *loss_pct)
{
    if (!(loss_fraction >= 0.0)) /* also catches NaN */
        loss_fraction = 0.0;
    if (loss_fraction > 1.0)
        loss_fraction = 1.0;
    double pct = loss_fraction * 100.0;
    int expect = (int)(pct + 0.5) + 2;
    if (expect > 30)
        expect = 30;
    int rate;
    if (pct < 2.0)
        rate = 24000;
    else if (pct <= 10.0)
        rate = 32000;
    else if (pct <= 25.0)
        rate = 40000;
    else
        rate = 24000;
    if (bitrate_bps)
        *bitrate_bps = rate;
    if (loss_pct)
        *loss_pct = expect;
}

int dc__opus_enc_adapt(dc__opus_enc *enc, double loss_fraction)
{
    if (!enc)
        return DC_EINVAL;
    int rate = 0, pct = 0;
    dc__opus_adapt(loss_fraction, &rate, &pct);
    int rc = dc__opus_enc_set_bitrate(enc, rate);
    return rc ? rc : dc__opus_enc_set_loss(enc, pct);
}

int dc__opus_dec_new(dc__opus_dec **out)
{
    if (!out)
        return DC_EINVAL;
    *out = NULL;
    dc__opus_dec *dec = calloc(1, sizeof(*dec));
    if (!dec)
        return DC_ENOMEM;
    int err = 0;
    dec->st = opus_decoder_create(DC_OPUS_RATE, 1, &err);
    if (err != OPUS_OK || !dec->st) {
        free(dec);
        return err == OPUS_ALLOC_FAIL ? DC_ENOMEM : DC_EINTERNAL;
    }
    *out = dec;
    return 0;
}

void dc__opus_dec_free(dc__opus_dec *dec)
{
    if (!dec)
        return;
    opus_decoder_destroy(dec->st);
    free(dec);
}

/* Every call yields exactly one 20 ms frame so playout timing never depends on packet contents;
 * a packet holding a different duration is a protocol error here. */
static int decode_one(dc__opus_dec *dec, const uint8_t *pkt, size_t len, int fec, int16_t *pcm)
{
    if (!dec || !pcm || (pkt && (len == 0 || len > DC_OPUS_MAX_INPUT)))
        return DC_EINVAL;
    int n = opus_decode(dec->st, pkt, pkt ? (opus_int32)len : 0, pcm, DC_OPUS_FRAME, fec);
    if (n == DC_OPUS_FRAME)
        return 0;
    /* Longer than 20 ms (BUFFER_TOO_SMALL), shorter, or corrupt: not a frame we can play. */
    return n >= 0 || n == OPUS_INVALID_PACKET || n == OPUS_BUFFER_TOO_SMALL ? DC_EPACKET
                                                                            : DC_EINTERNAL;
}

int dc__opus_decode(dc__opus_dec *dec, const uint8_t *pkt, size_t len, int16_t *pcm)
{
    if (!pkt)
        return DC_EINVAL;
    return decode_one(dec, pkt, len, 0, pcm);
}

int dc__opus_decode_fec(dc__opus_dec *dec, const uint8_t *next_pkt, size_t len, int16_t *pcm)
{
    if (!next_pkt)
        return DC_EINVAL;
    return decode_one(dec, next_pkt, len, 1, pcm);
}

int dc__opus_decode_plc(dc__opus_dec *dec, int16_t *pcm)
{
    return decode_one(dec, NULL, 0, 0, pcm);
}
