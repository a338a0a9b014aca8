/* Fuzzes the RTP header and RTCP compound parsers with the same bytes, the per-packet RTCP
 * decoders, header rebuilding, and the receiver statistics with sequence numbers and timestamps
 * taken from the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dcall/errors.h"
#include "media/rtp.h"

static int within(const uint8_t *base, size_t n, const void *p, size_t len)
{
    const uint8_t *q = p;
    return q >= base && q <= base + n && len <= (size_t)(base + n - q);
}

static void check_rtp(const uint8_t *data, size_t size)
{
    struct dc__rtp_hdr h;
    int rc = dc__rtp_parse_header(data, size, &h);
    if (rc != 0 && rc != DC_EPACKET)
        abort();
    if (rc != 0)
        return;
    if (h.header_len + h.payload_len != size || h.payload != data + h.header_len ||
        h.header_len != 12 + 4 * (size_t)h.cc + (h.extension ? 4 + h.ext_len : 0))
        abort();
    if (h.extension && !within(data, size, h.ext, h.ext_len))
        abort();
    /* Rewriting the header reproduces it byte for byte, except the padding bit. */
    static uint8_t out[12 + 60 + 4 + 4 * 65535];
    size_t len = 0;
    if (dc__rtp_write_header(out, sizeof out, &h, &len) != 0 || len != h.header_len ||
        out[0] != (data[0] & ~0x20) || memcmp(out + 1, data + 1, len - 1) != 0)
        abort();
    rc = dc__rtp_parse(data, size, &h);
    if (rc == 0 && h.header_len + h.payload_len + h.pad_len != size)
        abort();
    if (rc != 0 && rc != DC_EPACKET)
        abort();
}

static void check_rtcp_packets(const uint8_t *data, size_t size)
{
    size_t off = 0;
    struct dc__rtcp_pkt pkt;
    int rc;
    while ((rc = dc__rtcp_next(data, size, &off, &pkt)) == 1) {
        if (!within(data, size, pkt.data, pkt.len) || pkt.len < 4 || pkt.pad > pkt.len - 4)
            abort();
        struct dc__rtcp_sr sr;
        struct dc__rtcp_report_block rb;
        uint32_t ssrc;
        const char *cname;
        size_t clen;
        (void)dc__rtcp_parse_sr(&pkt, &sr);
        (void)dc__rtcp_sender_ssrc(&pkt, &ssrc);
        for (unsigned i = 0; i <= pkt.count; i++)
            (void)dc__rtcp_report_block(&pkt, i, &rb);
        if (dc__rtcp_sdes_cname(&pkt, &ssrc, &cname, &clen) == 0 &&
            !within(pkt.data, pkt.len, cname, clen))
            abort();
    }
    if (rc != 0 && rc != DC_EPACKET)
        abort();
    struct dc__rtcp_info info;
    rc = dc__rtcp_parse(data, size, &info);
    if (rc != 0 && rc != DC_EPACKET)
        abort();
    if (rc == 0 && info.cname && !within(data, size, info.cname, info.cname_len))
        abort();
}

/* Sequence numbers, timestamps and arrival times from the input: the statistics stay sane. */
static void check_stats(const uint8_t *data, size_t size)
{
    if (size < 2)
        return;
    struct dc__rtp_rx_stats s;
    struct dc__rtcp_report_block rb;
    int64_t t = 0;
    dc__rtp_stats_init(&s, 1, 48000, (uint16_t)(data[0] << 8 | data[1]));
    for (size_t i = 0; i + 4 <= size; i += 4) {
        uint16_t seq = (uint16_t)(data[i] << 8 | data[i + 1]);
        t += data[i + 2] * 1000;
        dc__rtp_stats_update(&s, seq, (uint32_t)data[i + 3] * 960 * (uint32_t)i, t);
        if (data[i + 3] == 0xFF)
            dc__rtp_stats_report(&s, t, &rb);
    }
    dc__rtp_stats_report(&s, t, &rb);
    if (rb.cumulative_lost > 0x7FFFFF || rb.cumulative_lost < -0x800000)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum dc__pkt_kind kind = dc__media_demux(data, size);
    if (kind > DC__PKT_RTCP)
        abort();
    check_rtp(data, size);
    check_rtcp_packets(data, size);
    check_stats(data, size);
    return 0;
}
