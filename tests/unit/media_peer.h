/* A minimal WebRTC-style media client for tests (and a reference for the SDK):
 * one UDP socket, an SDP offer from media/sdp, ICE checks as the controlling
 * agent with USE-CANDIDATE, the DTLS client role, SRTP, RTP send and receive,
 * and RTCP receiver reports (so the far end can measure round-trip time).
 * Single-threaded: the caller drives it with dc__mpeer_poll. */
#ifndef DC_TESTS_MEDIA_PEER_H
#define DC_TESTS_MEDIA_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "media/dtls.h"

#define DC__MPEER_KEEP 64 /* received RTP packets remembered */

typedef struct dc__mpeer_pkt {
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
    uint8_t pt;
    size_t len;
    uint8_t payload[64];
} dc__mpeer_pkt;

typedef struct dc__mpeer dc__mpeer;

/* Binds a UDP socket on ip (ephemeral port) and makes ICE credentials, an SSRC
 * and (unless wrong_fp) advertises its DTLS certificate's fingerprint; wrong_fp
 * advertises a random one, so the server must refuse the handshake. */
int dc__mpeer_new(const char *ip, int wrong_fp, dc__mpeer **out);
void dc__mpeer_free(dc__mpeer *p);
/* The SDP offer (NUL-terminated, owned by the peer). */
const char *dc__mpeer_offer(dc__mpeer *p);
/* New ICE credentials and a new offer (an ICE restart); hand the offer to the server and its
 * answer to dc__mpeer_answer. The DTLS association stays. */
int dc__mpeer_ice_restart(dc__mpeer *p);
/* Before dc__mpeer_answer: use the answer's passive ICE-TCP candidate (RFC 6544 framing) instead
 * of UDP. */
void dc__mpeer_use_tcp(dc__mpeer *p);
/* Takes the server's answer: its credentials, fingerprint and UDP candidate.
 * Starts ICE. */
int dc__mpeer_answer(dc__mpeer *p, const char *sdp, size_t len);
/* Receives and handles what arrived, sends checks, DTLS retransmissions and
 * RTCP when due; waits at most timeout_ms for the first datagram. */
void dc__mpeer_poll(dc__mpeer *p, int timeout_ms);
/* Moves to a new local address (a network switch): a fresh socket, then checks
 * from there. */
int dc__mpeer_rebind(dc__mpeer *p, const char *ip);
/* Stops sending anything (checks, RTCP) while on: a dead network. */
void dc__mpeer_set_mute(dc__mpeer *p, int mute);
/* New SSRC and random sequence/timestamp base, as a client that restarted its
 * sender. */
void dc__mpeer_restart_stream(dc__mpeer *p);
/* Sends one 20 ms Opus-like RTP packet (payload as given). DC_ESTATE before
 * SRTP is ready. */
int dc__mpeer_send_rtp(dc__mpeer *p, const void *payload, size_t len);
/* Skips one packet (sequence number and 20 ms of timestamp), as if the network lost it. */
void dc__mpeer_skip_rtp(dc__mpeer *p);
/* Makes the next RTP packet as dc__mpeer_send_rtp would, but hands it back instead of sending
 * it (to send from elsewhere). */
int dc__mpeer_next_rtp(dc__mpeer *p, const void *payload, size_t len, uint8_t *out, size_t cap,
                       size_t *outlen);
/* Sends raw bytes to the server's candidate from the peer's socket (attack
 * tests). */
int dc__mpeer_send_raw(dc__mpeer *p, const void *data, size_t len);
/* The last SRTP-protected RTP packet this peer sent (replay tests). */
size_t dc__mpeer_last_sent(const dc__mpeer *p, uint8_t *out, size_t cap);

/* State. */
int dc__mpeer_ice_ok(const dc__mpeer *p);      /* a check got a success response */
int dc__mpeer_srtp_ready(const dc__mpeer *p);  /* DTLS done, SRTP keyed */
int dc__mpeer_dtls_failed(const dc__mpeer *p); /* the DTLS endpoint failed */
uint32_t dc__mpeer_answer_ssrc(const dc__mpeer *p);
/* Received RTP (decrypted): total count and the last DC__MPEER_KEEP packets,
 * oldest first. */
size_t dc__mpeer_received(const dc__mpeer *p);
size_t dc__mpeer_recent(const dc__mpeer *p, dc__mpeer_pkt *out, size_t cap);
/* RTCP compounds received and authenticated. */
size_t dc__mpeer_rtcp_received(const dc__mpeer *p);
/* Packets that failed to authenticate or parse. */
size_t dc__mpeer_bad(const dc__mpeer *p);

#endif
