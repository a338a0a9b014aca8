/* RTP/RTCP (src/media/rtp.c): header parsing and building, demultiplexing, RTCP compounds, NTP
 * time, RTT, and the RFC 3550 receiver statistics, against values worked out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "dcall/errors.h"
#include "media/rtp.h"

/* V=2 P=1 X=1 CC=2, M=1 PT=111, seq 0x1234, ts 0xdeadbeef, ssrc 0x01020304, two CSRCs, a
 * one-word 0xBEDE extension, 3 payload bytes, then 3 bytes of padding. */
static const uint8_t PKT[] = {0xB2, 0xEF, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0x01,
                              0x02, 0x03, 0x04, 0xaa, 0xaa, 0xaa, 0xaa, 0xbb, 0xbb,
                              0xbb, 0xbb, 0xBE, 0xDE, 0x00, 0x01, 0x10, 0x7f, 0x00,
                              0x00, 'a',  'b',  'c',  0x00, 0x00, 0x03};

static void rtp_header_fields(void **state)
{
    (void)state;
    struct dc__rtp_hdr h;
    assert_int_equal(dc__rtp_parse(PKT, sizeof PKT, &h), 0);
    assert_true(h.padding);
    assert_true(h.marker);
    assert_int_equal(h.pt, 111);
    assert_int_equal(h.seq, 0x1234);
    assert_int_equal(h.ts, 0xdeadbeef);
    assert_int_equal(h.ssrc, 0x01020304);
    assert_int_equal(h.cc, 2);
    assert_ptr_equal(h.csrc, PKT + 12);
    assert_true(h.extension);
    assert_int_equal(h.ext_profile, 0xBEDE);
    assert_int_equal(h.ext_len, 4);
    assert_ptr_equal(h.ext, PKT + 24);
    assert_int_equal(h.header_len, 28);
    assert_int_equal(h.payload_len, 3);
    assert_memory_equal(h.payload, "abc", 3);
    assert_int_equal(h.pad_len, 3);
    /* parse_header keeps the padding in the payload (it may be SRTP ciphertext) */
    assert_int_equal(dc__rtp_parse_header(PKT, sizeof PKT, &h), 0);
    assert_int_equal(h.payload_len, 6);
}

static void rtp_malformed(void **state)
{
    (void)state;
    struct dc__rtp_hdr h;
    uint8_t buf[sizeof PKT];
    /* every truncation that cuts into the header fails; cutting the payload breaks padding */
    for (size_t n = 0; n < 28; n++)
        assert_int_equal(dc__rtp_parse_header(PKT, n, &h), DC_EPACKET);
    memcpy(buf, PKT, sizeof PKT);
    buf[0] = 0x72; /* version 1 */
    assert_int_equal(dc__rtp_parse(buf, sizeof buf, &h), DC_EPACKET);
    memcpy(buf, PKT, sizeof PKT);
    buf[sizeof buf - 1] = 0; /* pad count 0 */
    assert_int_equal(dc__rtp_parse(buf, sizeof buf, &h), DC_EPACKET);
    buf[sizeof buf - 1] = 7; /* more padding than payload */
    assert_int_equal(dc__rtp_parse(buf, sizeof buf, &h), DC_EPACKET);
    buf[sizeof buf - 1] = 6; /* all of the payload is padding: allowed */
    assert_int_equal(dc__rtp_parse(buf, sizeof buf, &h), 0);
    assert_int_equal(h.payload_len, 0);
    memcpy(buf, PKT, sizeof PKT);
    buf[23] = 0x03; /* extension longer than the packet */
    assert_int_equal(dc__rtp_parse_header(buf, sizeof buf, &h), DC_EPACKET);
}

static void rtp_write_round_trip(void **state)
{
    (void)state;
    struct dc__rtp_hdr in, out;
    uint8_t buf[64];
    size_t len = 0;
    assert_int_equal(dc__rtp_parse(PKT, sizeof PKT, &in), 0);
    assert_int_equal(dc__rtp_write_header(buf, sizeof buf, &in, &len), 0);
    assert_int_equal(len, 28);
    /* same header bytes, P bit cleared */
    assert_int_equal(buf[0], 0x92);
    assert_memory_equal(buf + 1, PKT + 1, 27);
    memcpy(buf + len, "abc", 3);
    assert_int_equal(dc__rtp_parse(buf, len + 3, &out), 0);
    assert_int_equal(out.seq, in.seq);
    assert_int_equal(out.payload_len, 3);
    assert_int_equal(dc__rtp_write_header(buf, 27, &in, &len), DC_EINVAL);
    /* relay rewrites */
    dc__rtp_set_seq(buf, 0xfffe);
    dc__rtp_set_ts(buf, 960);
    dc__rtp_set_ssrc(buf, 0xcafef00d);
    assert_int_equal(dc__rtp_parse_header(buf, len + 3, &out), 0);
    assert_int_equal(out.seq, 0xfffe);
    assert_int_equal(out.ts, 960);
    assert_int_equal(out.ssrc, 0xcafef00d);
}

static void demux(void **state)
{
    (void)state;
    uint8_t p[20] = {0};
    p[0] = 0x00, p[1] = 0x01, p[4] = 0x21, p[5] = 0x12, p[6] = 0xA4, p[7] = 0x42;
    assert_int_equal(dc__media_demux(p, 20), DC__PKT_STUN);
    assert_int_equal(dc__media_demux(p, 19), DC__PKT_UNKNOWN);
    p[7] = 0x43; /* no cookie */
    assert_int_equal(dc__media_demux(p, 20), DC__PKT_UNKNOWN);
    p[0] = 22; /* DTLS handshake */
    assert_int_equal(dc__media_demux(p, 20), DC__PKT_DTLS);
    p[0] = 0x80, p[1] = 111;
    assert_int_equal(dc__media_demux(p, 12), DC__PKT_RTP);
    p[1] = 0x80 | 111; /* marker set: still RTP */
    assert_int_equal(dc__media_demux(p, 12), DC__PKT_RTP);
    p[1] = 200; /* SR */
    assert_int_equal(dc__media_demux(p, 8), DC__PKT_RTCP);
    p[1] = 223;
    assert_int_equal(dc__media_demux(p, 8), DC__PKT_RTCP);
    p[1] = 224; /* PT 96 with marker */
    assert_int_equal(dc__media_demux(p, 12), DC__PKT_RTP);
    p[0] = 64; /* between DTLS and RTP: nothing we speak */
    assert_int_equal(dc__media_demux(p, 20), DC__PKT_UNKNOWN);
}

/* A.1/A.3 by hand: probation, reordering, loss, duplicates. */
static void sequence_loss_and_reordering(void **state)
{
    (void)state;
    struct dc__rtp_rx_stats s;
    struct dc__rtcp_report_block rb;
    dc__rtp_stats_init(&s, 0x1111, 48000, 100);
    assert_int_equal(dc__rtp_stats_update(&s, 100, 0, 0), 0); /* probation */
    assert_int_equal(dc__rtp_stats_expected(&s), 0);
    assert_int_equal(dc__rtp_stats_update(&s, 101, 960, 20000), 1); /* accepted: base 101 */
    const uint16_t seqs[] = {102, 104, 103, 107, 108};
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++)
        assert_int_equal(dc__rtp_stats_update(&s, seqs[i], 0, 0), 1);
    /* received 101,102,103,104,107,108 of 101..108: 105 and 106 lost */
    assert_int_equal(dc__rtp_stats_expected(&s), 8);
    assert_int_equal(dc__rtp_stats_lost(&s), 2);
    dc__rtp_stats_report(&s, 0, &rb);
    assert_int_equal(rb.ssrc, 0x1111);
    assert_int_equal(rb.fraction_lost, 64); /* 2/8 * 256 */
    assert_int_equal(rb.cumulative_lost, 2);
    assert_int_equal(rb.ext_highest_seq, 108);
    assert_int_equal(rb.lsr, 0);
    assert_int_equal(rb.dlsr, 0);
    /* next interval: 109, 110 and a duplicate 110: 3 received, 2 expected */
    dc__rtp_stats_update(&s, 109, 0, 0);
    dc__rtp_stats_update(&s, 110, 0, 0);
    dc__rtp_stats_update(&s, 110, 0, 0);
    dc__rtp_stats_report(&s, 0, &rb);
    assert_int_equal(rb.fraction_lost, 0);
    assert_int_equal(rb.cumulative_lost, 1); /* 10 expected, 9 received */
    /* a later interval with a gap: 4 of 5 lost */
    dc__rtp_stats_update(&s, 115, 0, 0); /* 111..114 lost, 115 received: 4/5 */
    dc__rtp_stats_report(&s, 0, &rb);
    assert_int_equal(rb.fraction_lost, 204); /* 4 * 256 / 5 */
}

static void sequence_wrap(void **state)
{
    (void)state;
    struct dc__rtp_rx_stats s;
    struct dc__rtcp_report_block rb;
    dc__rtp_stats_init(&s, 1, 48000, 65534);
    assert_int_equal(dc__rtp_stats_update(&s, 65534, 0, 0), 0);
    assert_int_equal(dc__rtp_stats_update(&s, 65535, 0, 0), 1);
    assert_int_equal(dc__rtp_stats_update(&s, 0, 0, 0), 1);
    assert_int_equal(dc__rtp_stats_update(&s, 1, 0, 0), 1);
    assert_int_equal(dc__rtp_stats_update(&s, 3, 0, 0), 1);
    assert_int_equal(s.cycles, 65536);
    dc__rtp_stats_report(&s, 0, &rb);
    assert_int_equal(rb.ext_highest_seq, 65536 + 3);
    assert_int_equal(dc__rtp_stats_expected(&s), 5); /* 65535, 0, 1, 2, 3 */
    assert_int_equal(rb.cumulative_lost, 1);
    /* a late packet from before the wrap does not count as a new cycle */
    assert_int_equal(dc__rtp_stats_update(&s, 65535, 0, 0), 1);
    assert_int_equal(s.cycles, 65536);
}

static void probation_and_restart(void **state)
{
    (void)state;
    struct dc__rtp_rx_stats s;
    dc__rtp_stats_init(&s, 1, 48000, 10);
    assert_int_equal(dc__rtp_stats_update(&s, 10, 0, 0), 0);
    assert_int_equal(dc__rtp_stats_update(&s, 12, 0, 0), 0); /* not sequential: probation again */
    assert_int_equal(dc__rtp_stats_update(&s, 13, 0, 0), 1);
    assert_int_equal(s.base_seq, 13);
    for (uint16_t q = 14; q < 20; q++)
        dc__rtp_stats_update(&s, q, 0, 0);
    /* a jump of 10000: refused once, then accepted as a restart when the next one follows */
    assert_int_equal(dc__rtp_stats_update(&s, 10019, 0, 0), 0);
    assert_int_equal(dc__rtp_stats_update(&s, 10020, 0, 0), 1);
    assert_int_equal(s.base_seq, 10020);
    assert_int_equal(s.received, 1);
    assert_int_equal(dc__rtp_stats_expected(&s), 1);
}

/* A.8 jitter at 8 kHz, 20 ms packets (160 ticks). */
static void jitter(void **state)
{
    (void)state;
    struct dc__rtp_rx_stats s;
    dc__rtp_stats_init(&s, 1, 8000, 0);
    /* constant transit: zero jitter */
    for (uint16_t i = 0; i < 50; i++)
        dc__rtp_stats_update(&s, i, 160u * i, 1000000 + 20000 * (int64_t)i);
    assert_int_equal(dc__rtp_stats_jitter(&s), 0);

    /* transit alternates 0/+10 ms: |D| = 80 ticks every packet.
     * J*16 after one step: 0 + 80 - 0 = 80 (J = 5); after two: 80 + 80 - (88 >> 4) = 155 (J = 9).
     * It converges to 80 ticks = 10 ms. */
    dc__rtp_stats_init(&s, 1, 8000, 0);
    for (uint16_t i = 0; i < 2; i++)
        dc__rtp_stats_update(&s, i, 160u * i, 20000 * (int64_t)i);
    /* packets 0 (probation) and 1 (first valid: sets transit only) */
    int64_t t = 40000;
    dc__rtp_stats_update(&s, 2, 320, t + 10000);
    assert_int_equal(s.jitter_q4, 80);
    assert_int_equal(dc__rtp_stats_jitter(&s), 5);
    dc__rtp_stats_update(&s, 3, 480, 60000);
    assert_int_equal(s.jitter_q4, 155);
    assert_int_equal(dc__rtp_stats_jitter(&s), 9);
    for (uint16_t i = 4; i < 300; i++)
        dc__rtp_stats_update(&s, i, 160u * i, 20000 * (int64_t)i + (i % 2 ? 0 : 10000));
    assert_in_range(dc__rtp_stats_jitter(&s), 79, 80);
    assert_true(fabs(dc__rtp_stats_jitter_ms(&s) - 10.0) < 0.1);

    /* the same variation at 48 kHz (Opus) is the same 10 ms */
    dc__rtp_stats_init(&s, 1, 48000, 0);
    for (uint16_t i = 0; i < 300; i++)
        dc__rtp_stats_update(&s, i, 960u * i, 20000 * (int64_t)i + (i % 2 ? 0 : 10000));
    assert_true(fabs(dc__rtp_stats_jitter_ms(&s) - 10.0) < 0.1);
}

static void ntp_time(void **state)
{
    (void)state;
    assert_true(dc__ntp_from_unix_us(0) == 2208988800ull << 32);
    assert_true(dc__ntp_from_unix_us(500000) == (2208988800ull << 32 | 0x80000000u));
    const int64_t samples[] = {0, 1, 999999, 1700000000123456LL, 1795556552000001LL};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
        assert_true(dc__ntp_to_unix_us(dc__ntp_from_unix_us(samples[i])) == samples[i]);
    assert_int_equal(dc__ntp_mid32(0x0123456789abcdefull), 0x456789ab);
    uint64_t now = dc__ntp_now();
    assert_true(now > (2208988800ull + 1700000000ull) << 32);
}

static void rtt_rfc3550_example(void **state)
{
    (void)state;
    double rtt = -1;
    /* RFC 3550 §6.4.1 figure: A = 0xb710:8000, LSR = 0xb705:2000, DLSR = 0x0005:4000 -> 6.125 s */
    assert_int_equal(dc__rtcp_rtt_ms(0xb7108000u, 0xb7052000u, 0x00054000u, &rtt), 0);
    assert_true(rtt == 6125.0);
    assert_int_equal(dc__rtcp_rtt_ms(0xb7108000u, 0, 0x00054000u, &rtt), DC_ENOTFOUND);
    /* slightly negative (rounding) is 0; grossly negative is refused */
    assert_int_equal(dc__rtcp_rtt_ms(0x10000, 0x10000, 10, &rtt), 0);
    assert_true(rtt == 0.0);
    assert_int_equal(dc__rtcp_rtt_ms(0x10000, 0x20000, 0, &rtt), DC_EPACKET);
}

/* Sender sends an SR at t0; it reaches the receiver 30 ms later; 200 ms after that the receiver
 * sends an RR that takes 30 ms back: the sender measures 60 ms. */
static void sr_rr_round_trip(void **state)
{
    (void)state;
    const int64_t t0 = 1700000000000000LL; /* sender wall clock, us */
    const int64_t r0 = 5000000;            /* receiver's monotonic clock at SR arrival, us */
    uint8_t buf[256];
    size_t len = 0, len2 = 0;
    struct dc__rtcp_sr sr = {.ssrc = 0xAAAA0001,
                             .ntp = dc__ntp_from_unix_us(t0),
                             .rtp_ts = 123456,
                             .packet_count = 50,
                             .octet_count = 4000};
    assert_int_equal(dc__rtcp_build_sr(buf, sizeof buf, &sr, NULL, 0, &len), 0);
    assert_int_equal(len, 28);
    assert_int_equal(
        dc__rtcp_build_sdes_cname(buf + len, sizeof buf - len, 0xAAAA0001, "sender-cname", &len2),
        0);
    len += len2;
    assert_int_equal(dc__media_demux(buf, len), DC__PKT_RTCP);

    /* receiver */
    struct dc__rtcp_info info;
    assert_int_equal(dc__rtcp_parse(buf, len, &info), 0);
    assert_true(info.has_sr);
    assert_int_equal(info.sr.ssrc, 0xAAAA0001);
    assert_true(info.sr.ntp == sr.ntp);
    assert_int_equal(info.sr.rtp_ts, 123456);
    assert_int_equal(info.sr.packet_count, 50);
    assert_int_equal(info.sr.octet_count, 4000);
    assert_int_equal(info.nblocks, 0);
    assert_int_equal(info.cname_len, 12);
    assert_memory_equal(info.cname, "sender-cname", 12);
    assert_int_equal(info.cname_ssrc, 0xAAAA0001);

    struct dc__rtp_rx_stats s;
    dc__rtp_stats_init(&s, 0xAAAA0001, 48000, 1);
    dc__rtp_stats_update(&s, 1, 0, r0 - 40000);
    dc__rtp_stats_update(&s, 2, 960, r0 - 20000);
    dc__rtp_stats_on_sr(&s, info.sr.ntp, r0);
    struct dc__rtcp_report_block rb;
    dc__rtp_stats_report(&s, r0 + 200000, &rb);
    assert_int_equal(rb.lsr, dc__ntp_mid32(sr.ntp));
    assert_int_equal(rb.dlsr, 13107); /* 0.2 s * 65536, truncated */
    assert_int_equal(dc__rtcp_build_rr(buf, sizeof buf, 0xBBBB0002, &rb, 1, &len), 0);
    assert_int_equal(len, 32);

    /* sender, 260 ms after it sent the SR */
    assert_int_equal(dc__rtcp_parse(buf, len, &info), 0);
    assert_true(info.has_rr);
    assert_int_equal(info.rr_ssrc, 0xBBBB0002);
    assert_int_equal(info.nblocks, 1);
    assert_int_equal(info.blocks[0].ssrc, 0xAAAA0001);
    double rtt = 0;
    uint32_t a = dc__ntp_mid32(dc__ntp_from_unix_us(t0 + 260000));
    assert_int_equal(dc__rtcp_rtt_ms(a, info.blocks[0].lsr, info.blocks[0].dlsr, &rtt), 0);
    assert_true(fabs(rtt - 60.0) < 0.05);
}

static void report_blocks_round_trip(void **state)
{
    (void)state;
    struct dc__rtcp_report_block in[3] = {
        {.ssrc = 1,
         .fraction_lost = 10,
         .cumulative_lost = -5,
         .ext_highest_seq = 70000,
         .jitter = 33,
         .lsr = 0x11112222,
         .dlsr = 0x00010000},
        {.ssrc = 2, .fraction_lost = 255, .cumulative_lost = 0x7FFFFF},
        {.ssrc = 3, .cumulative_lost = 50000000}, /* clamps to 0x7FFFFF */
    };
    struct dc__rtcp_sr sr = {.ssrc = 9, .ntp = 1};
    uint8_t buf[256];
    size_t len;
    struct dc__rtcp_info info;
    assert_int_equal(dc__rtcp_build_sr(buf, sizeof buf, &sr, in, 3, &len), 0);
    assert_int_equal(len, 28 + 3 * 24);
    assert_int_equal(dc__rtcp_parse(buf, len, &info), 0);
    assert_int_equal(info.nblocks, 3);
    assert_int_equal(info.blocks[0].cumulative_lost, -5);
    assert_int_equal(info.blocks[0].ext_highest_seq, 70000);
    assert_int_equal(info.blocks[0].jitter, 33);
    assert_int_equal(info.blocks[0].lsr, 0x11112222);
    assert_int_equal(info.blocks[0].dlsr, 0x00010000);
    assert_int_equal(info.blocks[1].fraction_lost, 255);
    assert_int_equal(info.blocks[1].cumulative_lost, 0x7FFFFF);
    assert_int_equal(info.blocks[2].cumulative_lost, 0x7FFFFF);
    /* the buffer must hold what the count says */
    assert_int_equal(dc__rtcp_build_sr(buf, len - 1, &sr, in, 3, &len), DC_EINVAL);
}

static void rtcp_compound_with_bye_and_feedback(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t len, n = 0;
    struct dc__rtcp_info info;
    assert_int_equal(dc__rtcp_build_rr(buf, sizeof buf, 7, NULL, 0, &len), 0);
    n += len;
    assert_int_equal(dc__rtcp_build_sdes_cname(buf + n, sizeof buf - n, 7, "c", &len), 0);
    n += len;
    /* BYE for SSRC 7 */
    memcpy(buf + n, "\x81\xcb\x00\x01\x00\x00\x00\x07", 8);
    n += 8;
    /* a PLI (PSFB FMT 1) */
    memcpy(buf + n, "\x81\xce\x00\x02\x00\x00\x00\x07\x00\x00\x00\x08", 12);
    n += 12;
    assert_int_equal(dc__rtcp_parse(buf, n, &info), 0);
    assert_true(info.has_rr);
    assert_false(info.has_sr);
    assert_true(info.bye);
    assert_int_equal(info.nfeedback, 1);
    assert_int_equal(info.cname_len, 1);
    /* every cut that is not at a packet boundary is malformed */
    size_t bounds[] = {8, 20, 28, n};
    for (size_t cut = 0; cut < n; cut++) {
        int at_bound = 0;
        for (size_t k = 0; k < 4; k++)
            at_bound |= cut == bounds[k];
        int rc = dc__rtcp_parse(buf, cut, &info);
        if (at_bound)
            assert_int_equal(rc, 0);
        else
            assert_int_equal(rc, DC_EPACKET);
    }
}

static void rtcp_malformed(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len;
    struct dc__rtcp_info info;
    struct dc__rtcp_report_block rb = {.ssrc = 1};
    assert_int_equal(dc__rtcp_build_rr(buf, sizeof buf, 7, &rb, 1, &len), 0);
    /* count says 2 blocks, length holds 1 */
    buf[0] = 0x82;
    assert_int_equal(dc__rtcp_parse(buf, len, &info), DC_EPACKET);
    /* version 1 */
    buf[0] = 0x41;
    assert_int_equal(dc__rtcp_parse(buf, len, &info), DC_EPACKET);
    /* padding on a packet that is not last */
    assert_int_equal(dc__rtcp_build_rr(buf, sizeof buf, 7, NULL, 0, &len), 0);
    memcpy(buf + 8, buf, 8);
    buf[0] |= 0x20;
    assert_int_equal(dc__rtcp_parse(buf, 16, &info), DC_EPACKET);
    /* padding on the last one, with a valid count, is fine; a pad count past the body is not */
    buf[0] &= ~0x20;
    memcpy(buf + 8, "\x81\xcb\x00\x02\x00\x00\x00\x07\x00\x00\x00\x04", 12);
    buf[8] |= 0x20;
    assert_int_equal(dc__rtcp_parse(buf, 20, &info), 0);
    assert_true(info.bye);
    buf[19] = 9;
    assert_int_equal(dc__rtcp_parse(buf, 20, &info), DC_EPACKET);
    /* SDES whose item runs past the packet, and one with no terminating null item */
    memcpy(buf, "\x81\xca\x00\x02\x00\x00\x00\x07\x01\x09xy", 12);
    assert_int_equal(dc__rtcp_parse(buf, 12, &info), DC_EPACKET);
    memcpy(buf, "\x81\xca\x00\x02\x00\x00\x00\x07\x01\x02xy", 12);
    assert_int_equal(dc__rtcp_parse(buf, 12, &info), DC_EPACKET);
    /* RTP payload types are not RTCP */
    memcpy(buf, "\x80\x6f\x00\x01\x00\x00\x00\x07", 8);
    assert_int_equal(dc__rtcp_parse(buf, 8, &info), DC_EPACKET);
    assert_int_equal(dc__rtcp_parse(buf, 0, &info), DC_EPACKET);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rtp_header_fields),
        cmocka_unit_test(rtp_malformed),
        cmocka_unit_test(rtp_write_round_trip),
        cmocka_unit_test(demux),
        cmocka_unit_test(sequence_loss_and_reordering),
        cmocka_unit_test(sequence_wrap),
        cmocka_unit_test(probation_and_restart),
        cmocka_unit_test(jitter),
        cmocka_unit_test(ntp_time),
        cmocka_unit_test(rtt_rfc3550_example),
        cmocka_unit_test(sr_rr_round_trip),
        cmocka_unit_test(report_blocks_round_trip),
        cmocka_unit_test(rtcp_compound_with_bye_and_feedback),
        cmocka_unit_test(rtcp_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
