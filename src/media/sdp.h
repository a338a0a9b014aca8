/* SDP (RFC 8866) for one audio-only WebRTC session, as dcalld and libdcall exchange it over
 * signalling: the client offers, the server (ICE-lite, DTLS passive) answers.
 *
 * - dc__sdp_parse reads an offer from Chromium's RTCPeerConnection or from libdcall, and also the
 *   server's answer (the SDK parses it with the same function). Only what a single BUNDLEd Opus
 *   audio transport needs is extracted; everything else (extmap, rtcp-fb, msid, other codecs...) is
 *   skipped. Extra m-sections (video, data channel, a second audio) are recorded only so the answer
 *   can reject them with port 0, as RFC 3264 requires.
 * - dc__sdp_build_answer writes the server's answer to a parsed offer.
 * - dc__sdp_build_offer writes libdcall's offer.
 *
 * Parsing is strict and bounded: at most DC_SDP_MAX_LEN bytes, DC_SDP_MAX_LINES lines of at most
 * DC_SDP_MAX_LINE bytes, every stored field capped below. CRLF and LF line ends are accepted. Any
 * failure returns DC_ESDP and fills a dc__sdp_error naming the SDP field at fault.
 *
 * Pure functions over caller memory: no allocation, no globals, safe from any thread. */
#ifndef DC_MEDIA_SDP_H
#define DC_MEDIA_SDP_H

#include <stddef.h>
#include <stdint.h>

#define DC_SDP_MAX_LEN 16384       /* whole SDP text; also enough for any answer/offer we build */
#define DC_SDP_MAX_LINE 1024       /* bytes per line, without the line end */
#define DC_SDP_MAX_LINES 512       /* Chrome: ~40 audio-only, ~170 with video and data */
#define DC_SDP_MAX_PTS 32          /* payload types on the m=audio line */
#define DC_SDP_MAX_CANDIDATES 16   /* further a=candidate lines are validated, then dropped */
#define DC_SDP_MAX_OTHER 4         /* m-sections besides the audio one (more: DC_ESDP) */
#define DC_SDP_UFRAG_MAX 64        /* RFC 8839 allows 4..256; browsers use 4..16 */
#define DC_SDP_PWD_MAX 128         /* RFC 8839 allows 22..256; browsers use 22..32 */
#define DC_SDP_TOKEN_MAX 64        /* mid, cname, m-line proto and format */
#define DC_SDP_FOUNDATION_MAX 32   /* RFC 8839: 1*32 ice-char */
#define DC_SDP_ADDR_MAX 64         /* IPv4, IPv6, or Chrome's mDNS "<uuid>.local" */
#define DC_SDP_FMTP_MAX 255        /* the Opus a=fmtp parameter string */
#define DC_SDP_FINGERPRINT_LEN 32  /* SHA-256 */
#define DC_SDP_FINGERPRINT_TEXT 96 /* "AB:CD:...": 32*3-1 characters + NUL */

/* Lengths dc__ice_credentials generates (RFC 8445 5.3 minimums: ufrag 4, pwd 22 characters). The
 * server routes STUN checks to a leg by its ufrag, hence 16 characters (96 random bits). */
#define DC_ICE_UFRAG_LEN 16
#define DC_ICE_PWD_LEN 32

/* a=setup (RFC 4145 / 8842). */
typedef enum dc__sdp_setup {
    DC_SDP_SETUP_NONE = 0,
    DC_SDP_SETUP_ACTPASS,
    DC_SDP_SETUP_ACTIVE, /* this side is the DTLS client */
    DC_SDP_SETUP_PASSIVE /* this side is the DTLS server */
} dc__sdp_setup;

/* Media direction of the audio section (a=sendrecv etc.; absent means sendrecv). */
typedef enum dc__sdp_dir {
    DC_SDP_SENDRECV = 0,
    DC_SDP_SENDONLY,
    DC_SDP_RECVONLY,
    DC_SDP_INACTIVE
} dc__sdp_dir;

typedef enum dc__sdp_transport { DC_SDP_UDP = 0, DC_SDP_TCP } dc__sdp_transport;

typedef enum dc__sdp_cand_type {
    DC_SDP_HOST = 0,
    DC_SDP_SRFLX,
    DC_SDP_PRFLX,
    DC_SDP_RELAY
} dc__sdp_cand_type;

/* RFC 6544 tcptype; NONE for UDP candidates. */
typedef enum dc__sdp_tcptype {
    DC_SDP_TCPTYPE_NONE = 0,
    DC_SDP_TCPTYPE_ACTIVE,
    DC_SDP_TCPTYPE_PASSIVE,
    DC_SDP_TCPTYPE_SO
} dc__sdp_tcptype;

/* One a=candidate line (RFC 8839 5.1). Extension attributes (raddr, rport, generation, network-id,
 * ufrag...) are skipped. Lines with a transport other than udp/tcp are ignored, as RFC 8839 asks.
 */
typedef struct dc__sdp_candidate {
    char foundation[DC_SDP_FOUNDATION_MAX + 1];
    unsigned component; /* 1 = RTP (the only one with rtcp-mux) */
    dc__sdp_transport transport;
    uint32_t priority;
    char address[DC_SDP_ADDR_MAX + 1]; /* as written: IP literal or FQDN (not resolved) */
    uint16_t port;                     /* 9 for TCP active candidates (RFC 6544) */
    dc__sdp_cand_type type;
    dc__sdp_tcptype tcptype;
} dc__sdp_candidate;

/* An m-section other than the audio one, kept only to reject it in the answer. */
typedef struct dc__sdp_other {
    char media[16];                   /* "video", "application", "audio" (a second one) */
    char proto[DC_SDP_TOKEN_MAX + 1]; /* e.g. "UDP/DTLS/SCTP" */
    char fmt[DC_SDP_TOKEN_MAX + 1];   /* first format, e.g. "webrtc-datachannel" */
    char mid[DC_SDP_TOKEN_MAX + 1];   /* "" when the section has no a=mid */
} dc__sdp_other;

/* A parsed offer or answer. The ICE, DTLS and setup fields are the audio section's, falling back to
 * session level (media level wins when both are present). */
typedef struct dc__sdp {
    /* session level */
    int ice_lite;                          /* a=ice-lite (answers from dcalld have it) */
    char bundle[2 * DC_SDP_TOKEN_MAX + 1]; /* first a=group:BUNDLE's mids as written, "" if none */
    int bundled;                           /* the audio mid is in that BUNDLE group */
    /* transport (required: ice_ufrag, ice_pwd, fingerprint, setup) */
    char ice_ufrag[DC_SDP_UFRAG_MAX + 1];        /* 4..64 ice-chars */
    char ice_pwd[DC_SDP_PWD_MAX + 1];            /* 22..128 ice-chars */
    int ice_trickle;                             /* a=ice-options lists "trickle" */
    uint8_t fingerprint[DC_SDP_FINGERPRINT_LEN]; /* a=fingerprint:sha-256, decoded */
    dc__sdp_setup setup;
    /* the audio section (the first m=audio; required) */
    char mid[DC_SDP_TOKEN_MAX + 1];   /* a=mid (required) */
    uint16_t port;                    /* m= port: 9 in browser offers, ours in the answer */
    char proto[DC_SDP_TOKEN_MAX + 1]; /* UDP/TLS/RTP/SAVPF (the only one accepted) */
    uint8_t pts[DC_SDP_MAX_PTS];      /* payload types in m-line order */
    size_t npts;
    int rtcp_mux; /* a=rtcp-mux (required) */
    dc__sdp_dir dir;
    int opus_pt;                         /* PT of a=rtpmap:<pt> opus/48000/2 (required) */
    char opus_fmtp[DC_SDP_FMTP_MAX + 1]; /* its a=fmtp parameters as written, "" if none */
    int opus_fec;                        /* that fmtp has useinbandfec=1 */
    int has_ssrc;                        /* an a=ssrc line was present */
    uint32_t ssrc;                       /* the first a=ssrc's SSRC */
    char cname[DC_SDP_TOKEN_MAX + 1];    /* that SSRC's cname, "" if none */
    dc__sdp_candidate candidates[DC_SDP_MAX_CANDIDATES]; /* in SDP order */
    size_t ncandidates;
    int end_of_candidates; /* a=end-of-candidates */
    /* other m-sections, in SDP order (the answer must list them, rejected, in the same order;
     * audio_index says where the audio section goes among them) */
    dc__sdp_other other[DC_SDP_MAX_OTHER];
    size_t nother;
    size_t audio_index; /* number of other m-sections before the audio one */
} dc__sdp;

/* Why a parse failed. field names the SDP line type or attribute at fault ("a=ice-ufrag",
 * "a=fingerprint", "m=audio", "a=rtpmap", "line", ...); msg is a one-line explanation for logs and
 * the signalling error detail, e.g. "line 9: a=fingerprint: sha-256 needs 32 hex bytes separated by
 * ':'" or "a=ice-pwd: missing". line is 1-based, 0 when a required line is missing. Never contains
 * the ice-pwd. */
typedef struct dc__sdp_error {
    unsigned line;
    char field[32];
    char msg[160];
} dc__sdp_error;

/* Parses len bytes of SDP (need not be NUL-terminated; a NUL byte inside is an error) into *out. 0,
 * DC_EINVAL (NULL arguments) or DC_ESDP (err, when not NULL, says why). *out is zeroed first and
 * only meaningful on success. */
int dc__sdp_parse(const char *text, size_t len, dc__sdp *out, dc__sdp_error *err);

/* What this side puts in its offer or answer. */
typedef struct dc__sdp_local {
    const char *ice_ufrag; /* 4..64 ice-chars, e.g. from dc__ice_credentials */
    const char *ice_pwd;   /* 22..128 ice-chars */
    /* SHA-256 of our DTLS certificate (DER), as the peer will check it */
    uint8_t fingerprint[DC_SDP_FINGERPRINT_LEN];
    uint32_t ssrc;       /* our outbound SSRC */
    const char *cname;   /* RTCP CNAME: 1..64 of [A-Za-z0-9+/=_.-] */
    uint64_t session_id; /* o= sess-id (< 2^63); keep it for the session */
    /* o= sess-version: increase on every renegotiation (ICE restart) */
    uint64_t session_version;
    /* answer only: where the server receives media (ICE-lite host candidates) */
    const char *ip;    /* IPv4 or IPv6 literal: c= line and candidates */
    uint16_t udp_port; /* UDP candidate and m= port (required, non-zero) */
    uint16_t tcp_port; /* passive ICE-TCP candidate; 0 = none */
    /* offer only */
    const char *mid; /* a=mid of the audio section; NULL = "0" (as Chrome) */
    int opus_pt;     /* 96..127, or 0 = 111 (as Chrome) */
} dc__sdp_local;

/* The server's answer to a parsed offer (REFERENCE.md "SDP answer to a browser from an ICE-lite
 * server"): a=ice-lite, BUNDLE with the offer's mid, the offer's Opus PT only with
 * "minptime=10;useinbandfec=1", a=setup:passive, rtcp-mux, direction mirrored from the offer, our
 * SSRC/cname (and a=msid so browsers give the track a stream), a UDP host candidate and, when
 * local->tcp_port is set, a passive TCP host candidate of lower priority, then a=end-of-candidates.
 * Other offered m-sections are rejected with port 0. Writes a NUL-terminated CRLF text into out
 * (cap bytes; DC_SDP_MAX_LEN always suffices) and its length to *len_out (may be NULL). 0,
 * DC_EINVAL (bad local fields, buffer too small) or DC_ESDP (the offer asks for a=setup:passive,
 * which leaves no DTLS server). */
int dc__sdp_build_answer(const dc__sdp *offer, const dc__sdp_local *local, char *out, size_t cap,
                         size_t *len_out);

/* libdcall's offer: one BUNDLEd audio section, Opus only ("minptime=10;useinbandfec=1"), rtcp-mux,
 * a=setup:actpass, sendrecv, our ICE credentials, fingerprint and SSRC, no candidates (dcalld is
 * ICE-lite and learns our address from our checks; m= port is the placeholder 9). local->ip,
 * udp_port and tcp_port are ignored. Same buffer rules as dc__sdp_build_answer. */
int dc__sdp_build_offer(const dc__sdp_local *local, char *out, size_t cap, size_t *len_out);

/* ICE candidate priority, RFC 8445 5.1.2.1: 2^24 * type_pref + 2^8 * local_pref + (256 -
 * component). type_pref 0..126 (126 = host), local_pref 0..65535, component 1..256. */
uint32_t dc__ice_priority(unsigned type_pref, unsigned local_pref, unsigned component);
/* The priorities dcalld's answer gives its host candidates (component 1): UDP uses local preference
 * 65535; passive TCP uses RFC 6544 4.2's (2^13 * direction-pref 4 + 8191) = 40959, so UDP always
 * wins when both work. */
#define DC_ICE_PRIORITY_UDP_HOST 2130706431u /* dc__ice_priority(126, 65535, 1) */
#define DC_ICE_PRIORITY_TCP_HOST 2124414975u /* dc__ice_priority(126, 40959, 1) */

/* Fresh random ICE credentials (RFC 8445 5.3 ice-chars: A-Z a-z 0-9 + /): ufrag gets
 * DC_ICE_UFRAG_LEN characters, pwd DC_ICE_PWD_LEN, both NUL-terminated. 0 or DC_EIO. */
int dc__ice_credentials(char ufrag[DC_ICE_UFRAG_LEN + 1], char pwd[DC_ICE_PWD_LEN + 1]);

/* "AB:CD:..." (upper-case, as browsers write it) from a SHA-256 fingerprint. */
void dc__sdp_fingerprint_format(char out[DC_SDP_FINGERPRINT_TEXT],
                                const uint8_t fp[DC_SDP_FINGERPRINT_LEN]);
/* The reverse (either case): exactly 32 two-digit hex bytes separated by ':'. 0 or DC_ESDP. */
int dc__sdp_fingerprint_parse(const char *text, uint8_t fp[DC_SDP_FINGERPRINT_LEN]);

#endif
