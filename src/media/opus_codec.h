/* Opus voice codec for dcall: 48 kHz mono, 20 ms frames (960 samples), in-band FEC on, DTX off.
 *
 * Threads: an encoder or decoder is used by one thread at a time (libopus states are not shared);
 * encoder and decoder are independent and may live on different threads.
 * Buffers: callers own every buffer passed in; nothing is retained after a call returns. */
#ifndef DC_MEDIA_OPUS_CODEC_H
#define DC_MEDIA_OPUS_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define DC_OPUS_RATE 48000
#define DC_OPUS_FRAME 960 /* samples per 20 ms frame, also the RTP timestamp step */
/* RFC 6716 caps one frame at 1275 bytes; a buffer this size always suffices. */
#define DC_OPUS_MAX_PACKET 1276
#define DC_OPUS_DEFAULT_BITRATE 24000
/* Largest packet the decoder accepts (an RTP payload in one UDP datagram). */
#define DC_OPUS_MAX_INPUT 1500

typedef struct dc__opus_enc dc__opus_enc;
typedef struct dc__opus_dec dc__opus_dec;

/* Encoder for VoIP: bitrate_bps 6000..128000 (0 picks DC_OPUS_DEFAULT_BITRATE), in-band FEC on,
 * expected loss 2 %, DTX off, VBR. */
int dc__opus_enc_new(int bitrate_bps, dc__opus_enc **out);
void dc__opus_enc_free(dc__opus_enc *enc);
int dc__opus_enc_set_bitrate(dc__opus_enc *enc, int bitrate_bps);
/* Expected packet loss 0..100 %: how much in-band FEC (LBRR) the encoder spends bits on. */
int dc__opus_enc_set_loss(dc__opus_enc *enc, int loss_pct);
/* Encodes exactly DC_OPUS_FRAME samples into out (cap >= DC_OPUS_MAX_PACKET is always enough);
 * *out_len gets the packet length. */
int dc__opus_encode(dc__opus_enc *enc, const int16_t *pcm, uint8_t *out, size_t cap,
                    size_t *out_len);

/* Bitrate adaptation from the loss the far end reports (RTCP fraction lost, 0.0..1.0).
 * Picks the bitrate and the expected loss to tell the encoder:
 *   expected loss = reported % + 2 (reports lag about a second and loss comes in bursts),
 *                   at least 2 (so a sudden burst finds some FEC already there), at most 30
 *                   (Opus' LBRR is not made stronger by larger values);
 *   bitrate       = 24 kb/s below 2 % loss (clear wideband voice), 32 kb/s up to 10 %,
 *                   40 kb/s up to 25 % (FEC costs bits: LBRR takes a share of the bitrate, and
 *                   Opus drops it entirely when too few bits are left), and back to 24 kb/s
 *                   above 25 %: loss that heavy usually means congestion, which more bits
 *                   would make worse.
 * Pure function; either out pointer may be NULL. */
void dc__opus_adapt(double loss_fraction, int *bitrate_bps, int *loss_pct);
/* dc__opus_adapt() applied to the encoder. */
int dc__opus_enc_adapt(dc__opus_enc *enc, double loss_fraction);

int dc__opus_dec_new(dc__opus_dec **out);
void dc__opus_dec_free(dc__opus_dec *dec);
/* Decodes a received packet into pcm[DC_OPUS_FRAME]. DC_EPACKET when it is corrupt or does not
 * hold exactly 20 ms; pcm is then undefined and the caller should conceal (dc__opus_decode_plc)
 * so playout keeps its pace. */
int dc__opus_decode(dc__opus_dec *dec, const uint8_t *pkt, size_t len, int16_t *pcm);
/* The frame before `next_pkt` was lost: rebuilds it from next_pkt's in-band FEC data (falls back
 * to concealment inside libopus when next_pkt carries none). next_pkt must still be decoded
 * normally afterwards with dc__opus_decode(). */
int dc__opus_decode_fec(dc__opus_dec *dec, const uint8_t *next_pkt, size_t len, int16_t *pcm);
/* Nothing to rebuild from: packet loss concealment for one frame. */
int dc__opus_decode_plc(dc__opus_dec *dec, int16_t *pcm);

#endif
