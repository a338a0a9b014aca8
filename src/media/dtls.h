/* DTLS 1.2 for DTLS-SRTP (RFC 5764, RFC 8842) on OpenSSL 3, with no socket of its own.
 *
 * Two objects:
 *   - dc__dtls_ctx: one per process (dcalld) or per client instance (libdcall). Holds the SSL_CTX
 *     with a freshly generated ECDSA P-256 self-signed certificate and its SHA-256 fingerprint
 *     for the SDP (a=fingerprint:sha-256 AB:CD:...). Created once at start-up, freed at shutdown
 *     after every endpoint made from it. Immutable after creation: endpoints may be created from
 *     it on any thread at the same time without locks.
 *   - dc__dtls: one per leg (one DTLS association). The caller demultiplexes its port (RFC 7983:
 *     first byte 20..63 is DTLS), feeds each received DTLS datagram to dc__dtls_input(), and
 *     sends whatever the endpoint hands to its send callback. It is not locked: use it from one
 *     thread only (the worker that owns the leg), which is also the thread the callback runs on.
 *
 * Roles (RFC 5763 a=setup): the side that answers "a=setup:passive" is the DTLS server. dcalld
 * answers passive, so the relay is DC__DTLS_SERVER and the browser / libdcall DC__DTLS_CLIENT.
 *
 * Timers: DTLS retransmits lost flights itself, but only when told the time has come. After every
 * call into an endpoint, ask dc__dtls_timeout_ms(); when it is >= 0, call dc__dtls_on_timeout()
 * that many milliseconds later (earlier is harmless: it does nothing). The first retransmission
 * comes after 250 ms, doubling up to 4 s; after 12 unanswered ones the handshake fails (DC_EDTLS).
 * The caller should also put its own overall limit on the handshake (e.g. 10 s).
 *
 * Result: once dc__dtls_state() is DC__DTLS_CONNECTED the peer's certificate has matched the
 * fingerprint from its SDP, and dc__dtls_srtp_keys() returns the negotiated SRTP profile and the
 * exported keys arranged for media/srtp.h. A fingerprint mismatch ends in DC__DTLS_FAILED with
 * DC_EFINGERPRINT, and no keys ever leave the endpoint. Keep feeding DTLS datagrams after
 * CONNECTED: the peer may retransmit its last flight (when our final flight was lost) and the
 * endpoint must answer it; a close_notify or fatal alert then moves it to DC__DTLS_CLOSED.
 *
 * We never use DTLSv1_listen (stateless cookie exchange): Chromium's ClientHello is ~1.4 KB with
 * a post-quantum key share and arrives fragmented, which DTLSv1_listen rejects. ICE connectivity
 * checks already prove the peer's address before any DTLS should reach an endpoint. */
#ifndef DC_MEDIA_DTLS_H
#define DC_MEDIA_DTLS_H

#include <stddef.h>
#include <stdint.h>

#include "media/srtp.h"

#define DC__DTLS_FP_LEN 32 /* SHA-256 */
/* "AB:CD:...": 32 bytes as two hex digits each, colon separated, plus NUL. */
#define DC__DTLS_FP_TEXT_LEN (DC__DTLS_FP_LEN * 3)
/* Our datagrams never exceed this (DTLS_set_link_mtu): fits any real path, with room to spare. */
#define DC__DTLS_MTU 1200

typedef struct dc__dtls_ctx dc__dtls_ctx;
typedef struct dc__dtls dc__dtls;

enum dc__dtls_role {
    DC__DTLS_SERVER = 0, /* passive: waits for the peer's ClientHello (the relay) */
    DC__DTLS_CLIENT = 1, /* active: sends the ClientHello on dc__dtls_start (the SDK) */
};

enum dc__dtls_state {
    DC__DTLS_NEW = 0,     /* created, nothing sent or received yet */
    DC__DTLS_HANDSHAKING, /* flights in progress */
    DC__DTLS_CONNECTED,   /* handshake done, fingerprint verified, keys available */
    DC__DTLS_FAILED,      /* handshake failed: dc__dtls_error() says why */
    DC__DTLS_CLOSED,      /* the peer sent close_notify or an alert after connecting,
                             or we called dc__dtls_close() */
};

/* Called with one datagram to send to the peer (never larger than
 * DC__DTLS_MTU). Runs synchronously inside
 * dc__dtls_start/input/on_timeout/close, on the caller's thread; the data is
 * only valid during the call. It must not call back into the same endpoint. */
typedef void (*dc__dtls_send_fn)(void *user, const uint8_t *data, size_t len);

/* --- process-wide context --- */

/* Generates the key pair and certificate (valid from yesterday for 365 days, CN
 * "dcall") and sets up DTLS 1.2 with both SRTP profiles. DC_EDTLS if OpenSSL
 * fails, DC_ENOMEM. */
int dc__dtls_ctx_new(dc__dtls_ctx **out);
/* NULL is fine. Every endpoint made from ctx must have been freed first. */
void dc__dtls_ctx_free(dc__dtls_ctx *ctx);
/* "AB:CD:..." (95 chars, upper-case hex), for a=fingerprint:sha-256. Lives as
 * long as ctx. */
const char *dc__dtls_ctx_fingerprint(const dc__dtls_ctx *ctx);
/* The same 32 bytes raw. Lives as long as ctx. */
const uint8_t *dc__dtls_ctx_fingerprint_raw(const dc__dtls_ctx *ctx);

/* Parses the value of an SDP "a=fingerprint:sha-256 <value>" (hex pairs
 * separated by ':', either case) into 32 bytes. DC_ESDP when it is not exactly
 * that. */
int dc__dtls_fingerprint_parse(const char *text, uint8_t out[DC__DTLS_FP_LEN]);

/* --- per-leg endpoint --- */

/* remote_fp: the SHA-256 fingerprint from the peer's SDP (copied). send/user:
 * see dc__dtls_send_fn. Nothing is sent until dc__dtls_start. DC_EINVAL,
 * DC_ENOMEM, DC_EDTLS. */
int dc__dtls_new(dc__dtls_ctx *ctx, enum dc__dtls_role role,
                 const uint8_t remote_fp[DC__DTLS_FP_LEN], dc__dtls_send_fn send, void *user,
                 dc__dtls **out);
/* Frees without sending anything (call dc__dtls_close first to tell the peer).
 * NULL is fine. */
void dc__dtls_free(dc__dtls *d);
/* Lowers the DTLS MTU (256..DC__DTLS_MTU) before dc__dtls_start, e.g. for a
 * path known to be narrow; tests use it to force fragmented handshake messages.
 * DC_EINVAL out of range. */
int dc__dtls_set_mtu(dc__dtls *d, size_t mtu);
/* Offers (client) or accepts (server) only this SRTP profile instead of both,
 * before dc__dtls_start. By default both are offered and the server prefers
 * AEAD_AES_128_GCM. Used by tests and the benchmark to exercise each profile.
 * DC_EINVAL, DC_EDTLS. */
int dc__dtls_set_srtp_profile(dc__dtls *d, enum dc__srtp_profile only);

/* Client: sends the first flight (ClientHello). Server: only moves to
 * HANDSHAKING (the ClientHello may also simply arrive first, then start is not
 * needed). 0 or a negative dc_err (then the state is FAILED). */
int dc__dtls_start(dc__dtls *d);
/* Feeds one received DTLS datagram (whole UDP payload, or one RFC 6544 frame).
 * Returns 0 when the datagram was taken (including records the peer garbled or
 * replayed: DTLS drops those silently), DC_EFINGERPRINT / DC_EDTLS when the
 * handshake just failed or had failed, DC_ECLOSED once the association is
 * closed. Check dc__dtls_state() afterwards for CONNECTED. */
int dc__dtls_input(dc__dtls *d, const uint8_t *data, size_t len);
/* Milliseconds until dc__dtls_on_timeout should run (0 = now), or -1 when no
 * timer runs (before start, once connected, failed or closed). */
int64_t dc__dtls_timeout_ms(dc__dtls *d);
/* Retransmits the current flight if its timer expired. 0, or DC_EDTLS when the
 * handshake gave up (too many retransmissions; state FAILED). */
int dc__dtls_on_timeout(dc__dtls *d);
/* Sends close_notify when CONNECTED; moves to CLOSED unless FAILED. Idempotent. */
void dc__dtls_close(dc__dtls *d);

enum dc__dtls_state dc__dtls_state(const dc__dtls *d);
enum dc__dtls_role dc__dtls_role(const dc__dtls *d);
/* Why the endpoint FAILED (DC_EDTLS or DC_EFINGERPRINT), DC_ECLOSED when
 * CLOSED, else 0. */
int dc__dtls_error(const dc__dtls *d);
/* Copies the negotiated profile and keys (local_* = our role's half) into
 * *keys. DC_ESTATE unless CONNECTED. The caller wipes its copy with
 * dc__srtp_keys_wipe after creating the dc__srtp. */
int dc__dtls_srtp_keys(const dc__dtls *d, struct dc__srtp_keys *keys);

#endif
