/* RTP/RTCP parsing and building, NTP time, receiver statistics; see rtp.h for the contract. */
#include "media/bytes.h"
#include "media/rtp.h"

#include <string.h>
#include <time.h>

#include "dcall/errors.h"

#define NTP_UNIX_OFFSET 2208988800ull /* seconds from 1900-01-01 to 1970-01-01 */
#define RTP_SEQ_MOD (1u << 16)
#define MAX_DROPOUT 3000
#define MAX_MISORDER 100
#define MIN_SEQUENTIAL 2
#define SR_FIXED 28  /* header, sender SSRC, sender info */
#define RR_FIXED 8   /* header, sender SSRC */
#define BLOCK_LEN 24 /* one report block */
/* DLSR is rounded and clocks tick coarsely: treat a result this slightly negative as 0 RTT. */
#define RTT_SLACK_UNITS 655 /* ~10 ms in 1/65536 s */

/* ---- RTP ---- */

int dc__rtp_parse_header(const uint8_t *p, size_t n, struct dc__rtp_hdr *h)
{
    if (!p || !h || n < DC__RTP_HDR_LEN || (p[0] >> 6) != 2)
        return DC_EPACKET;
    memset(h, 0, sizeof *h);
    h->padding = p[0] & 0x20;
    h->extension = p[0] & 0x10;
    h->cc = p[0] & 0x0F;
    h->marker = p[1] >> 7;
    h->pt = p[1] & 0x7F;
    h->seq = dc__rd16(p + 2);
    h->ts = dc__rd32(p + 4);
    h->ssrc = dc__rd32(p + 8);
    size_t off = DC__RTP_HDR_LEN + 4 * (size_t)h->cc;
    if (off > n)
        return DC_EPACKET;
    h->csrc = h->cc ? p + DC__RTP_HDR_LEN : NULL;
    if (h->extension) {
        if (n - off < 4)
            return DC_EPACKET;
        h->ext_profile = dc__rd16(p + off);
        h->ext_len = 4 * (size_t)dc__rd16(p + off + 2);
        off += 4;
        if (h->ext_len > n - off)
            return DC_EPACKET;
        h->ext = p + off;
        off += h->ext_len;
    }
    h->header_len = off;
    h->payload = p + off;
    h->payload_len = n - off;
    return 0;
}

int dc__rtp_parse(const uint8_t *p, size_t n, struct dc__rtp_hdr *h)
{
    int rc = dc__rtp_parse_header(p, n, h);
    if (rc || !h->padding)
        return rc;
    uint8_t pad = p[n - 1];
    if (h->payload_len == 0 || pad == 0 || pad > h->payload_len)
        return DC_EPACKET;
    h->pad_len = pad;
    h->payload_len -= pad;
    return 0;
}

int dc__rtp_write_header(uint8_t *buf, size_t cap, const struct dc__rtp_hdr *h, size_t *len)
{
    if (!buf || !h || h->cc > DC__RTP_MAX_CSRC || h->pt > 127 || (h->cc && !h->csrc))
        return DC_EINVAL;
    size_t need = DC__RTP_HDR_LEN + 4 * (size_t)h->cc;
    if (h->extension) {
        if (h->ext_len % 4 || h->ext_len / 4 > 0xFFFF || (h->ext_len && !h->ext))
            return DC_EINVAL;
        need += 4 + h->ext_len;
    }
    if (cap < need)
        return DC_EINVAL;
    buf[0] = (uint8_t)(0x80 | (h->extension ? 0x10 : 0) | h->cc);
    buf[1] = (uint8_t)((h->marker ? 0x80 : 0) | h->pt);
    dc__wr16(buf + 2, h->seq);
    dc__wr32(buf + 4, h->ts);
    dc__wr32(buf + 8, h->ssrc);
    size_t off = DC__RTP_HDR_LEN;
    if (h->cc)
        memcpy(buf + off, h->csrc, 4 * (size_t)h->cc);
    off += 4 * (size_t)h->cc;
    if (h->extension) {
        dc__wr16(buf + off, h->ext_profile);
        dc__wr16(buf + off + 2, (uint16_t)(h->ext_len / 4));
        if (h->ext_len)
            memcpy(buf + off + 4, h->ext, h->ext_len);
        off += 4 + h->ext_len;
    }
    if (len)
        *len = off;
    return 0;
}

/* ---- RTCP parsing ---- */

int dc__rtcp_next(const uint8_t *p, size_t n, size_t *off, struct dc__rtcp_pkt *pkt)
{
    if (!p || !off || !pkt || *off > n)
        return DC_EINVAL;
    if (*off == n)
        return 0;
    if (n - *off < 4)
        return DC_EPACKET;
    const uint8_t *q = p + *off;
    size_t len = 4 * ((size_t)dc__rd16(q + 2) + 1);
    if ((q[0] >> 6) != 2 || q[1] < 192 || q[1] > 223 || len > n - *off)
        return DC_EPACKET;
    pkt->pad = 0;
    if (q[0] & 0x20) {
        /* Only the last packet of a compound may be padded (RFC 3550 §6.4.1). */
        if (*off + len != n || q[len - 1] == 0 || q[len - 1] > len - 4)
            return DC_EPACKET;
        pkt->pad = q[len - 1];
    }
    pkt->type = q[1];
    pkt->count = q[0] & 0x1F;
    pkt->data = q;
    pkt->len = len;
    *off += len;
    return 1;
}

/* Length without padding. */
static size_t body_len(const struct dc__rtcp_pkt *pkt)
{
    return pkt->len - pkt->pad;
}

int dc__rtcp_parse_sr(const struct dc__rtcp_pkt *pkt, struct dc__rtcp_sr *sr)
{
    if (!pkt || !sr || pkt->type != DC__RTCP_SR ||
        body_len(pkt) < SR_FIXED + BLOCK_LEN * (size_t)pkt->count)
        return DC_EPACKET;
    const uint8_t *q = pkt->data;
    sr->ssrc = dc__rd32(q + 4);
    sr->ntp = (uint64_t)dc__rd32(q + 8) << 32 | dc__rd32(q + 12);
    sr->rtp_ts = dc__rd32(q + 16);
    sr->packet_count = dc__rd32(q + 20);
    sr->octet_count = dc__rd32(q + 24);
    return 0;
}

int dc__rtcp_sender_ssrc(const struct dc__rtcp_pkt *pkt, uint32_t *ssrc)
{
    if (!pkt || !ssrc || (pkt->type != DC__RTCP_SR && pkt->type != DC__RTCP_RR) ||
        body_len(pkt) < RR_FIXED)
        return DC_EPACKET;
    *ssrc = dc__rd32(pkt->data + 4);
    return 0;
}

int dc__rtcp_report_block(const struct dc__rtcp_pkt *pkt, unsigned i,
                          struct dc__rtcp_report_block *rb)
{
    if (!pkt || !rb || i >= pkt->count)
        return DC_EPACKET;
    size_t base;
    if (pkt->type == DC__RTCP_SR)
        base = SR_FIXED;
    else if (pkt->type == DC__RTCP_RR)
        base = RR_FIXED;
    else
        return DC_EPACKET;
    size_t at = base + BLOCK_LEN * (size_t)i;
    if (at + BLOCK_LEN > body_len(pkt))
        return DC_EPACKET;
    const uint8_t *b = pkt->data + at;
    rb->ssrc = dc__rd32(b);
    rb->fraction_lost = b[4];
    int32_t lost = (int32_t)((uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7]);
    rb->cumulative_lost = (lost & 0x800000) ? lost - 0x1000000 : lost;
    rb->ext_highest_seq = dc__rd32(b + 8);
    rb->jitter = dc__rd32(b + 12);
    rb->lsr = dc__rd32(b + 16);
    rb->dlsr = dc__rd32(b + 20);
    return 0;
}

/* Walks the items of one SDES chunk starting at *off (after its SSRC); leaves *off at the next
 * chunk. Reports the first CNAME item through cname/len when *cname is still NULL. */
static int sdes_items(const uint8_t *q, size_t end, size_t *off, const char **cname,
                      size_t *cname_len)
{
    size_t o = *off;
    for (;;) {
        if (o >= end)
            return DC_EPACKET; /* a chunk must end with a null item */
        uint8_t type = q[o];
        if (type == 0) {
            *off = (o + 4) & ~(size_t)3; /* null octet(s), then padding to 32 bits */
            return 0;
        }
        if (end - o < 2 || q[o + 1] > end - o - 2)
            return DC_EPACKET;
        if (type == DC__RTCP_SDES_CNAME && !*cname) {
            *cname = (const char *)q + o + 2;
            *cname_len = q[o + 1];
        }
        o += 2 + (size_t)q[o + 1];
    }
}

int dc__rtcp_sdes_cname(const struct dc__rtcp_pkt *pkt, uint32_t *ssrc, const char **cname,
                        size_t *len)
{
    if (!pkt || !ssrc || !cname || !len || pkt->type != DC__RTCP_SDES)
        return DC_EPACKET;
    const uint8_t *q = pkt->data;
    size_t end = body_len(pkt), off = 4;
    const char *found = NULL;
    size_t found_len = 0;
    uint32_t found_ssrc = 0;
    for (unsigned c = 0; c < pkt->count; c++) {
        if (off > end || end - off < 4)
            return DC_EPACKET;
        uint32_t chunk_ssrc = dc__rd32(q + off);
        off += 4;
        const char *before = found;
        int rc = sdes_items(q, end, &off, &found, &found_len);
        if (rc)
            return rc;
        if (!before && found)
            found_ssrc = chunk_ssrc;
    }
    if (!found)
        return DC_ENOTFOUND;
    *ssrc = found_ssrc;
    *cname = found;
    *len = found_len;
    return 0;
}

/* Adds the report blocks of one SR/RR packet to info. */
static int collect_blocks(const struct dc__rtcp_pkt *pkt, struct dc__rtcp_info *info)
{
    for (unsigned i = 0; i < pkt->count; i++) {
        struct dc__rtcp_report_block rb;
        int rc = dc__rtcp_report_block(pkt, i, &rb);
        if (rc)
            return rc;
        if (info->nblocks < DC__RTCP_MAX_BLOCKS)
            info->blocks[info->nblocks] = rb;
        info->nblocks++;
    }
    return 0;
}

static int parse_one(const struct dc__rtcp_pkt *pkt, struct dc__rtcp_info *info)
{
    struct dc__rtcp_sr sr;
    uint32_t ssrc;
    const char *cname;
    size_t len;
    int rc;
    switch (pkt->type) {
    case DC__RTCP_SR:
        if ((rc = dc__rtcp_parse_sr(pkt, &sr)))
            return rc;
        if (!info->has_sr)
            info->sr = sr, info->has_sr = true;
        return collect_blocks(pkt, info);
    case DC__RTCP_RR:
        if ((rc = dc__rtcp_sender_ssrc(pkt, &ssrc)))
            return rc;
        if (!info->has_rr)
            info->rr_ssrc = ssrc, info->has_rr = true;
        return collect_blocks(pkt, info);
    case DC__RTCP_SDES:
        rc = dc__rtcp_sdes_cname(pkt, &ssrc, &cname, &len);
        if (rc == 0 && !info->cname)
            info->cname = cname, info->cname_len = len, info->cname_ssrc = ssrc;
        return rc == DC_ENOTFOUND ? 0 : rc;
    case DC__RTCP_BYE:
        if (body_len(pkt) < 4 + 4 * (size_t)pkt->count)
            return DC_EPACKET;
        info->bye = true;
        return 0;
    case DC__RTCP_RTPFB:
    case DC__RTCP_PSFB:
        if (body_len(pkt) < 12) /* header, sender SSRC, media SSRC */
            return DC_EPACKET;
        info->nfeedback++;
        return 0;
    default:
        info->nother++;
        return 0;
    }
}

int dc__rtcp_parse(const uint8_t *p, size_t n, struct dc__rtcp_info *info)
{
    if (!p || !info)
        return DC_EPACKET;
    memset(info, 0, sizeof *info);
    if (n == 0)
        return DC_EPACKET;
    size_t off = 0;
    struct dc__rtcp_pkt pkt;
    int rc;
    while ((rc = dc__rtcp_next(p, n, &off, &pkt)) == 1) {
        if ((rc = parse_one(&pkt, info)))
            return rc;
    }
    return rc;
}

/* ---- RTCP building ---- */

static void write_block(uint8_t *b, const struct dc__rtcp_report_block *rb)
{
    int32_t lost = rb->cumulative_lost;
    if (lost > 0x7FFFFF)
        lost = 0x7FFFFF;
    if (lost < -0x800000)
        lost = -0x800000;
    uint32_t l24 = (uint32_t)lost & 0xFFFFFF;
    dc__wr32(b, rb->ssrc);
    b[4] = rb->fraction_lost;
    b[5] = (uint8_t)(l24 >> 16);
    b[6] = (uint8_t)(l24 >> 8);
    b[7] = (uint8_t)l24;
    dc__wr32(b + 8, rb->ext_highest_seq);
    dc__wr32(b + 12, rb->jitter);
    dc__wr32(b + 16, rb->lsr);
    dc__wr32(b + 20, rb->dlsr);
}

/* Header, sender SSRC and report blocks common to SR and RR; fixed is the offset of the first
 * block. */
static int build_report(uint8_t *buf, size_t cap, uint8_t type, size_t fixed, uint32_t ssrc,
                        const struct dc__rtcp_report_block *blocks, size_t nblocks, size_t *len)
{
    if (!buf || nblocks > DC__RTCP_MAX_RC || (nblocks && !blocks))
        return DC_EINVAL;
    size_t total = fixed + BLOCK_LEN * nblocks;
    if (cap < total)
        return DC_EINVAL;
    buf[0] = (uint8_t)(0x80 | nblocks);
    buf[1] = type;
    dc__wr16(buf + 2, (uint16_t)(total / 4 - 1));
    dc__wr32(buf + 4, ssrc);
    for (size_t i = 0; i < nblocks; i++)
        write_block(buf + fixed + BLOCK_LEN * i, &blocks[i]);
    if (len)
        *len = total;
    return 0;
}

int dc__rtcp_build_sr(uint8_t *buf, size_t cap, const struct dc__rtcp_sr *sr,
                      const struct dc__rtcp_report_block *blocks, size_t nblocks, size_t *len)
{
    if (!sr)
        return DC_EINVAL;
    int rc = build_report(buf, cap, DC__RTCP_SR, SR_FIXED, sr->ssrc, blocks, nblocks, len);
    if (rc)
        return rc;
    dc__wr32(buf + 8, (uint32_t)(sr->ntp >> 32));
    dc__wr32(buf + 12, (uint32_t)sr->ntp);
    dc__wr32(buf + 16, sr->rtp_ts);
    dc__wr32(buf + 20, sr->packet_count);
    dc__wr32(buf + 24, sr->octet_count);
    return 0;
}

int dc__rtcp_build_rr(uint8_t *buf, size_t cap, uint32_t ssrc,
                      const struct dc__rtcp_report_block *blocks, size_t nblocks, size_t *len)
{
    return build_report(buf, cap, DC__RTCP_RR, RR_FIXED, ssrc, blocks, nblocks, len);
}

int dc__rtcp_build_sdes_cname(uint8_t *buf, size_t cap, uint32_t ssrc, const char *cname,
                              size_t *len)
{
    size_t cl = cname ? strlen(cname) : 0;
    if (!buf || cl == 0 || cl > 255)
        return DC_EINVAL;
    /* header, SSRC, item (type, length, text), then at least one null octet up to 32 bits */
    size_t total = 8 + ((2 + cl + 1 + 3) & ~(size_t)3);
    if (cap < total)
        return DC_EINVAL;
    memset(buf, 0, total);
    buf[0] = 0x81;
    buf[1] = DC__RTCP_SDES;
    dc__wr16(buf + 2, (uint16_t)(total / 4 - 1));
    dc__wr32(buf + 4, ssrc);
    buf[8] = DC__RTCP_SDES_CNAME;
    buf[9] = (uint8_t)cl;
    memcpy(buf + 10, cname, cl);
    if (len)
        *len = total;
    return 0;
}

/* ---- NTP time and RTT ---- */

uint64_t dc__ntp_from_unix_us(int64_t unix_us)
{
    if (unix_us < 0)
        unix_us = 0;
    uint64_t sec = (uint64_t)unix_us / 1000000 + NTP_UNIX_OFFSET;
    uint64_t frac = (((uint64_t)unix_us % 1000000) << 32) / 1000000;
    return sec << 32 | frac;
}

int64_t dc__ntp_to_unix_us(uint64_t ntp)
{
    int64_t sec = (int64_t)(ntp >> 32) - (int64_t)NTP_UNIX_OFFSET;
    int64_t us = (int64_t)(((ntp & 0xFFFFFFFFu) * 1000000 + 0x80000000u) >> 32);
    return sec * 1000000 + us;
}

uint64_t dc__ntp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return dc__ntp_from_unix_us((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

int dc__rtcp_rtt_ms(uint32_t arrival_mid32, uint32_t lsr, uint32_t dlsr, double *rtt_ms)
{
    if (!rtt_ms)
        return DC_EINVAL;
    if (lsr == 0)
        return DC_ENOTFOUND;
    int32_t d = (int32_t)(arrival_mid32 - lsr - dlsr);
    if (d < -RTT_SLACK_UNITS)
        return DC_EPACKET;
    *rtt_ms = d < 0 ? 0.0 : d * 1000.0 / 65536.0;
    return 0;
}

/* ---- Receiver statistics (RFC 3550 A.1, A.3, A.8) ---- */

static void init_seq(struct dc__rtp_rx_stats *s, uint16_t seq)
{
    s->base_seq = seq;
    s->max_seq = seq;
    s->bad_seq = RTP_SEQ_MOD + 1; /* so seq == bad_seq is false */
    s->cycles = 0;
    s->received = 0;
    s->received_prior = 0;
    s->expected_prior = 0;
}

void dc__rtp_stats_init(struct dc__rtp_rx_stats *s, uint32_t ssrc, uint32_t clock_rate,
                        uint16_t seq)
{
    memset(s, 0, sizeof *s);
    s->ssrc = ssrc;
    s->clock_rate = clock_rate;
    init_seq(s, seq);
    s->max_seq = (uint16_t)(seq - 1);
    s->probation = MIN_SEQUENTIAL;
}

/* A.1 update_seq: 1 when the packet is valid. */
static int update_seq(struct dc__rtp_rx_stats *s, uint16_t seq)
{
    uint16_t udelta = (uint16_t)(seq - s->max_seq);
    if (s->probation) {
        if (seq == (uint16_t)(s->max_seq + 1)) {
            s->probation--;
            s->max_seq = seq;
            if (s->probation == 0) {
                init_seq(s, seq);
                s->received++;
                return 1;
            }
        } else {
            s->probation = MIN_SEQUENTIAL - 1;
            s->max_seq = seq;
        }
        return 0;
    } else if (udelta < MAX_DROPOUT) {
        if (seq < s->max_seq)
            s->cycles += RTP_SEQ_MOD; /* wrapped */
        s->max_seq = seq;
    } else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
        /* A very large jump: accept it as a restart only when the next packet follows it. */
        if (seq == s->bad_seq) {
            init_seq(s, seq);
        } else {
            s->bad_seq = (seq + 1) & (RTP_SEQ_MOD - 1);
            return 0;
        }
    } /* else duplicate or reordered: counted, max_seq unchanged */
    s->received++;
    return 1;
}

/* Arrival time in RTP timestamp units, without overflowing 64 bits. */
static uint32_t arrival_units(int64_t us, uint32_t rate)
{
    uint64_t u = us < 0 ? 0 : (uint64_t)us;
    return (uint32_t)(u / 1000000 * rate + u % 1000000 * rate / 1000000);
}

int dc__rtp_stats_update(struct dc__rtp_rx_stats *s, uint16_t seq, uint32_t rtp_ts,
                         int64_t arrival_us)
{
    int valid = update_seq(s, seq);
    if (!valid)
        return 0;
    uint32_t transit = arrival_units(arrival_us, s->clock_rate) - rtp_ts;
    if (s->have_transit) {
        int64_t d = (int32_t)(transit - s->transit);
        if (d < 0)
            d = -d;
        /* A.8 integer form: jitter_q4 holds J * 16. */
        s->jitter_q4 += (uint32_t)d - ((s->jitter_q4 + 8) >> 4);
    }
    s->transit = transit;
    s->have_transit = true;
    return 1;
}

void dc__rtp_stats_on_sr(struct dc__rtp_rx_stats *s, uint64_t sr_ntp, int64_t arrival_us)
{
    s->last_sr_mid32 = dc__ntp_mid32(sr_ntp);
    s->last_sr_arrival_us = arrival_us;
}

uint32_t dc__rtp_stats_expected(const struct dc__rtp_rx_stats *s)
{
    if (s->probation)
        return 0; /* max_seq is not meaningful before the source is accepted */
    return s->cycles + s->max_seq - s->base_seq + 1;
}

int64_t dc__rtp_stats_lost(const struct dc__rtp_rx_stats *s)
{
    return (int64_t)dc__rtp_stats_expected(s) - (int64_t)s->received;
}

uint32_t dc__rtp_stats_jitter(const struct dc__rtp_rx_stats *s)
{
    return s->jitter_q4 >> 4;
}

double dc__rtp_stats_jitter_ms(const struct dc__rtp_rx_stats *s)
{
    if (!s->clock_rate)
        return 0;
    return s->jitter_q4 / 16.0 * 1000.0 / s->clock_rate;
}

void dc__rtp_stats_report(struct dc__rtp_rx_stats *s, int64_t now_us,
                          struct dc__rtcp_report_block *rb)
{
    uint32_t expected = dc__rtp_stats_expected(s);
    int64_t lost = dc__rtp_stats_lost(s);
    uint32_t expected_interval = expected - s->expected_prior;
    uint32_t received_interval = s->received - s->received_prior;
    int64_t lost_interval = (int64_t)expected_interval - (int64_t)received_interval;
    s->expected_prior = expected;
    s->received_prior = s->received;
    memset(rb, 0, sizeof *rb);
    rb->ssrc = s->ssrc;
    if (expected_interval && lost_interval > 0) {
        int64_t f = (lost_interval << 8) / expected_interval;
        rb->fraction_lost = (uint8_t)(f > 255 ? 255 : f); /* 256 when all were lost */
    }
    rb->cumulative_lost = lost > 0x7FFFFF ? 0x7FFFFF : lost < -0x800000 ? -0x800000 : (int32_t)lost;
    rb->ext_highest_seq = s->probation ? 0 : s->cycles + s->max_seq;
    rb->jitter = dc__rtp_stats_jitter(s);
    rb->lsr = s->last_sr_mid32;
    if (s->last_sr_mid32 && now_us > s->last_sr_arrival_us)
        rb->dlsr = (uint32_t)(((uint64_t)(now_us - s->last_sr_arrival_us) << 16) / 1000000);
}
