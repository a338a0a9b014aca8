/* RTP and RTCP (RFC 3550) for the relay and the SDK: demultiplexing one port (RFC 7983 with
 * rtcp-mux, RFC 5761), RTP header parse/build/rewrite, RTCP compound parse and SR/RR/SDES build,
 * NTP time, round-trip time from LSR/DLSR, and receiver statistics (RFC 3550 A.1, A.3, A.8).
 *
 * Nothing here allocates. Parsers fill caller-provided structs whose pointers point into the
 * caller's buffer. All functions return 0 or a negative dc_err (DC_EPACKET for malformed input,
 * DC_EINVAL for bad arguments or a too-small output buffer), unless they say otherwise.
 *
 * SRTP note: RTP headers are not encrypted, so dc__rtp_parse_header works on SRTP packets (the
 * payload it reports then includes the auth tag); use dc__rtp_parse (padding) only after
 * unprotect. SRTCP encrypts everything after the first 8 bytes: parse RTCP after unprotect. */
#ifndef DC_MEDIA_RTP_H
#define DC_MEDIA_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Demultiplexing (RFC 7983, RFC 5761) ---- */

enum dc__pkt_kind {
    DC__PKT_UNKNOWN = 0,
    DC__PKT_STUN, /* first byte 0..3 and the STUN magic cookie */
    DC__PKT_DTLS, /* first byte 20..63 */
    DC__PKT_RTP,  /* first byte 128..191, second byte's payload type not 64..95 */
    DC__PKT_RTCP, /* first byte 128..191, second byte 192..223 (payload type 64..95 + marker) */
};

/* Classifies one datagram of a bundled, rtcp-muxed port. Only looks at the first 8 bytes and
 * requires the minimum length of each kind (STUN 20, DTLS 13, RTP 12, RTCP 8). */
static inline enum dc__pkt_kind dc__media_demux(const uint8_t *p, size_t n)
{
    if (n < 8)
        return DC__PKT_UNKNOWN;
    uint8_t b = p[0];
    if (b < 4)
        return n >= 20 && p[4] == 0x21 && p[5] == 0x12 && p[6] == 0xA4 && p[7] == 0x42
                   ? DC__PKT_STUN
                   : DC__PKT_UNKNOWN;
    if (b >= 20 && b <= 63)
        return n >= 13 ? DC__PKT_DTLS : DC__PKT_UNKNOWN;
    if (b >= 128 && b <= 191) {
        if (p[1] >= 192 && p[1] <= 223)
            return DC__PKT_RTCP;
        return n >= 12 ? DC__PKT_RTP : DC__PKT_UNKNOWN;
    }
    return DC__PKT_UNKNOWN;
}

/* ---- RTP header ---- */

#define DC__RTP_HDR_LEN 12
#define DC__RTP_MAX_CSRC 15

struct dc__rtp_hdr {
    bool padding; /* P bit as received (build: ignored; pad yourself) */
    bool marker;
    uint8_t pt; /* payload type 0..127 */
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
    uint8_t cc;             /* CSRC count */
    const uint8_t *csrc;    /* cc * 4 bytes, network order; NULL when cc == 0 */
    bool extension;         /* X bit; then ext_profile and ext/ext_len describe the extension */
    uint16_t ext_profile;   /* e.g. 0xBEDE for RFC 8285 one-byte headers */
    const uint8_t *ext;     /* extension data after its 4-byte header */
    size_t ext_len;         /* bytes (a multiple of 4) */
    size_t header_len;      /* fixed header + CSRCs + extension */
    const uint8_t *payload; /* after the header */
    size_t payload_len;     /* without padding (dc__rtp_parse) or to the end (parse_header) */
    uint8_t pad_len;        /* padding bytes removed (dc__rtp_parse only) */
};

/* Parses the header (version 2, CSRCs, extension skipped over), with payload = everything after
 * it. Works on SRTP packets. DC_EPACKET when truncated or not version 2. */
int dc__rtp_parse_header(const uint8_t *p, size_t n, struct dc__rtp_hdr *h);
/* As dc__rtp_parse_header, then removes padding (P bit: last byte counts the padding, at least 1,
 * within the payload). For plaintext RTP only. */
int dc__rtp_parse(const uint8_t *p, size_t n, struct dc__rtp_hdr *h);

/* Writes a header from h (padding bit cleared; csrc/cc and extension/ext_profile/ext/ext_len
 * honoured; ext_len must be a multiple of 4). *len gets the header length; the caller appends the
 * payload. */
int dc__rtp_write_header(uint8_t *buf, size_t cap, const struct dc__rtp_hdr *h, size_t *len);

/* In-place rewrites for a forwarding relay (p is a packet of at least 12 bytes). */
static inline void dc__rtp_set_seq(uint8_t *p, uint16_t seq)
{
    p[2] = (uint8_t)(seq >> 8), p[3] = (uint8_t)seq;
}
static inline void dc__rtp_set_ts(uint8_t *p, uint32_t ts)
{
    p[4] = (uint8_t)(ts >> 24), p[5] = (uint8_t)(ts >> 16), p[6] = (uint8_t)(ts >> 8),
    p[7] = (uint8_t)ts;
}
static inline void dc__rtp_set_ssrc(uint8_t *p, uint32_t ssrc)
{
    p[8] = (uint8_t)(ssrc >> 24), p[9] = (uint8_t)(ssrc >> 16), p[10] = (uint8_t)(ssrc >> 8),
    p[11] = (uint8_t)ssrc;
}

/* ---- RTCP ---- */

#define DC__RTCP_SR 200
#define DC__RTCP_RR 201
#define DC__RTCP_SDES 202
#define DC__RTCP_BYE 203
#define DC__RTCP_APP 204
#define DC__RTCP_RTPFB 205
#define DC__RTCP_PSFB 206
#define DC__RTCP_SDES_CNAME 1
/* Report blocks one SR/RR can carry (5-bit count). */
#define DC__RTCP_MAX_RC 31
/* Report blocks dc__rtcp_parse keeps over a whole compound; more are counted, not kept. */
#define DC__RTCP_MAX_BLOCKS 8

struct dc__rtcp_sr {
    uint32_t ssrc; /* sender */
    uint64_t ntp;  /* NTP timestamp, 32.32 fixed point */
    uint32_t rtp_ts;
    uint32_t packet_count;
    uint32_t octet_count;
};

struct dc__rtcp_report_block {
    uint32_t ssrc;           /* source this block reports on */
    uint8_t fraction_lost;   /* lost since the previous report, /256 */
    int32_t cumulative_lost; /* 24-bit signed on the wire: -8388608..8388607 */
    uint32_t ext_highest_seq;
    uint32_t jitter; /* interarrival jitter, timestamp units */
    uint32_t lsr;    /* middle 32 bits of the last SR's NTP time; 0 when none */
    uint32_t dlsr;   /* delay since that SR, 1/65536 s */
};

/* One packet of a compound, from dc__rtcp_next. */
struct dc__rtcp_pkt {
    uint8_t type;        /* DC__RTCP_SR, ... (any value 192..223 is passed through) */
    uint8_t count;       /* the 5-bit RC / SC / FMT field */
    const uint8_t *data; /* the whole packet, header included */
    size_t len;          /* bytes, from the length field, padding included */
    uint8_t pad;         /* padding bytes at the end (last packet of a compound only) */
};

/* Walks a compound packet. Start with *off = 0; returns 1 with the next packet in *pkt, 0 at the
 * end, or DC_EPACKET (version not 2, length beyond the datagram, padding bit on any but the last
 * packet or an invalid pad count, a compound that is not a whole number of packets). */
int dc__rtcp_next(const uint8_t *p, size_t n, size_t *off, struct dc__rtcp_pkt *pkt);

/* Decoders for one packet from dc__rtcp_next. DC_EPACKET when the packet is too short for what
 * its count says. */
int dc__rtcp_parse_sr(const struct dc__rtcp_pkt *pkt, struct dc__rtcp_sr *sr);
/* Sender SSRC of an SR or RR. */
int dc__rtcp_sender_ssrc(const struct dc__rtcp_pkt *pkt, uint32_t *ssrc);
/* Report block i (0 <= i < pkt->count) of an SR or RR. */
int dc__rtcp_report_block(const struct dc__rtcp_pkt *pkt, unsigned i,
                          struct dc__rtcp_report_block *rb);
/* First CNAME of an SDES packet (not NUL-terminated); DC_ENOTFOUND when it has none. Every chunk
 * is bounds-checked. */
int dc__rtcp_sdes_cname(const struct dc__rtcp_pkt *pkt, uint32_t *ssrc, const char **cname,
                        size_t *len);

/* What a receiver usually wants from one compound, in one pass. */
struct dc__rtcp_info {
    bool has_sr;
    struct dc__rtcp_sr sr;
    bool has_rr;
    uint32_t rr_ssrc; /* sender SSRC of the (first) RR */
    size_t nblocks;   /* report blocks seen (SR and RR); the first DC__RTCP_MAX_BLOCKS kept */
    struct dc__rtcp_report_block blocks[DC__RTCP_MAX_BLOCKS];
    const char *cname; /* first CNAME, not NUL-terminated; NULL when none */
    size_t cname_len;
    uint32_t cname_ssrc;
    bool bye;           /* a BYE was present */
    unsigned nfeedback; /* RTPFB/PSFB packets (RFC 4585), not decoded here */
    unsigned nother;    /* APP and unknown types */
};

/* Parses a whole compound (or reduced-size, RFC 5506) RTCP datagram into *info. */
int dc__rtcp_parse(const uint8_t *p, size_t n, struct dc__rtcp_info *info);

/* Builders append one packet at buf[0..cap) and set *len. Concatenate for a compound (RFC 3550
 * wants SR or RR first, then SDES with CNAME). nblocks <= DC__RTCP_MAX_RC. */
int dc__rtcp_build_sr(uint8_t *buf, size_t cap, const struct dc__rtcp_sr *sr,
                      const struct dc__rtcp_report_block *blocks, size_t nblocks, size_t *len);
int dc__rtcp_build_rr(uint8_t *buf, size_t cap, uint32_t ssrc,
                      const struct dc__rtcp_report_block *blocks, size_t nblocks, size_t *len);
/* SDES with one chunk holding one CNAME item (1..255 bytes). */
int dc__rtcp_build_sdes_cname(uint8_t *buf, size_t cap, uint32_t ssrc, const char *cname,
                              size_t *len);

/* ---- NTP time (RFC 3550 §4: seconds since 1900 in 32.32 fixed point) ---- */

uint64_t dc__ntp_from_unix_us(int64_t unix_us);
int64_t dc__ntp_to_unix_us(uint64_t ntp);
/* Now, from the wall clock (CLOCK_REALTIME; NTP time is wall time by definition). */
uint64_t dc__ntp_now(void);
/* The middle 32 bits (16.16 seconds), as LSR and DLSR use. */
static inline uint32_t dc__ntp_mid32(uint64_t ntp)
{
    return (uint32_t)(ntp >> 16);
}

/* RFC 3550 §6.4.1: round-trip time seen by a sender when a report block with lsr/dlsr arrives at
 * NTP time arrival_mid32 (dc__ntp_mid32 of now). RTT = A - LSR - DLSR, in ms. DC_ENOTFOUND when
 * lsr is 0 (the receiver has had no SR yet). A slightly negative result (clock granularity,
 * rounding of DLSR) gives 0; a grossly negative one (wrong LSR) is DC_EPACKET. */
int dc__rtcp_rtt_ms(uint32_t arrival_mid32, uint32_t lsr, uint32_t dlsr, double *rtt_ms);

/* ---- Receiver statistics for one source (RFC 3550 A.1, A.3, A.8) ---- */

struct dc__rtp_rx_stats {
    uint32_t ssrc;
    uint32_t clock_rate; /* Hz, e.g. 48000 for Opus */
    uint16_t max_seq;    /* highest sequence number seen */
    uint32_t cycles;     /* shifted count of sequence number cycles (multiples of 65536) */
    uint32_t base_seq;
    uint32_t bad_seq;   /* last "bad" sequence number + 1 */
    uint32_t probation; /* sequential packets still needed to accept a (new) source */
    uint32_t received;  /* packets received (since the source was accepted) */
    uint32_t expected_prior, received_prior; /* at the last report */
    bool have_transit;
    uint32_t transit;       /* relative transit time of the previous packet */
    uint32_t jitter_q4;     /* estimated jitter, timestamp units << 4 (A.8) */
    uint32_t last_sr_mid32; /* LSR of the last SR received from this source; 0 when none */
    int64_t last_sr_arrival_us;
};

/* Starts tracking a source whose first packet has sequence number seq (the source is on probation
 * for 2 sequential packets, A.1). clock_rate is the RTP clock (Hz). */
void dc__rtp_stats_init(struct dc__rtp_rx_stats *s, uint32_t ssrc, uint32_t clock_rate,
                        uint16_t seq);

/* Accounts one received packet (after SRTP unprotect) arriving at arrival_us (any monotonic clock
 * in microseconds, the same for every call). Returns 1 when the packet counts as valid (A.1's
 * update_seq: source out of probation, no restart jump in progress) and 0 when it does not. The
 * jitter estimate is updated for valid packets. Forwarding decisions are the caller's. */
int dc__rtp_stats_update(struct dc__rtp_rx_stats *s, uint16_t seq, uint32_t rtp_ts,
                         int64_t arrival_us);

/* Remembers an SR from this source (its NTP time and when it arrived) for LSR/DLSR. */
void dc__rtp_stats_on_sr(struct dc__rtp_rx_stats *s, uint64_t sr_ntp, int64_t arrival_us);

/* Fills a report block as of now_us (same clock as arrival_us) and starts a new report interval
 * (A.3): fraction lost since the previous call, cumulative lost (clamped to 24 bits), extended
 * highest sequence number, jitter, LSR and DLSR. */
void dc__rtp_stats_report(struct dc__rtp_rx_stats *s, int64_t now_us,
                          struct dc__rtcp_report_block *rb);

/* Read-only views (no interval reset). */
uint32_t dc__rtp_stats_expected(const struct dc__rtp_rx_stats *s);
int64_t dc__rtp_stats_lost(const struct dc__rtp_rx_stats *s);    /* may be negative (duplicates) */
uint32_t dc__rtp_stats_jitter(const struct dc__rtp_rx_stats *s); /* timestamp units */
double dc__rtp_stats_jitter_ms(const struct dc__rtp_rx_stats *s);

#endif
