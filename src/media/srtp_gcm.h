/* SRTP AEAD_AES_128_GCM for RTP (RFC 7714) computed with AES-NI and PCLMULQDQ, for srtp.c.
 *
 * Why: with thousands of legs, libsrtp's per-packet path (session -> stream list -> stream ->
 * cipher -> EVP context -> provider context, a dozen separate allocations) misses the cache on
 * nearly every pointer and costs ~4x what it does hot, and OpenSSL 3's EVP adds a fixed cost per
 * call on top. Here one direction of one leg is one 64-byte-aligned block (round keys, hash key,
 * salt, then the replay state of its streams), so a packet touches a few adjacent cache lines.
 *
 * Same wire format and the same rules as libsrtp with our srtp.c policy: session key and salt from
 * the master key and salt with the RFC 3711 AES-CM KDF (salt zero-padded to 112 bits, as libsrtp
 * does for GCM), IV = salt XOR (0 || SSRC || ROC || SEQ), AAD = the RTP header with CSRCs and
 * extension, 16-byte tag. Packet index estimation (RFC 3711 3.3.1) and a 1024-packet replay window
 * per SSRC in both directions (protect refuses to reuse an index, as libsrtp with allow_repeat_tx
 * off); a stream for a new SSRC starts only once a packet authenticated. At most
 * DC__GCM_MAX_STREAMS SSRCs per direction: unprotect lets an authenticated packet of another one
 * replace the stream used longest ago (whose replay state is then lost); protect refuses a new
 * SSRC when full (DC_ESRTP), as forgetting a stream there could reuse a nonce. RTCP and the
 * AES_CM profile stay with libsrtp.
 *
 * Only on x86-64 CPUs with AES-NI, PCLMULQDQ and SSE4.1 (dc__gcm_available()); elsewhere srtp.c
 * uses libsrtp for everything. Not thread-safe per object (one worker owns a leg). */
#ifndef DC_MEDIA_SRTP_GCM_H
#define DC_MEDIA_SRTP_GCM_H

#include <stddef.h>
#include <stdint.h>

typedef struct dc__gcm dc__gcm;

/* Non-zero when this CPU can run the fast path. */
int dc__gcm_available(void);
/* One direction keyed with a 16-byte master key and 12-byte master salt. DC_ENOMEM, or DC_EINVAL
 * when the CPU lacks the instructions. */
int dc__gcm_new(const uint8_t *master_key, const uint8_t *master_salt, dc__gcm **out);
/* Wipes the keys and frees; NULL is fine. */
void dc__gcm_free(dc__gcm *g);
/* The same, in memory the caller provides (dc__gcm_size() bytes, 64-byte aligned), so it can sit
 * next to other per-leg state: init keys it, wipe wipes it (the caller frees the memory). */
size_t dc__gcm_size(void);
void dc__gcm_init(dc__gcm *g, const uint8_t *master_key, const uint8_t *master_salt);
void dc__gcm_wipe(dc__gcm *g);
/* In place; pkt 4-byte aligned. protect needs cap >= *len + 16. DC_EINVAL for a malformed packet
 * or no room, DC_ESRTP for a replayed / too old index or (unprotect) an authentication failure;
 * on failure *len is unchanged and the packet must not be used. */
int dc__gcm_protect(dc__gcm *g, uint8_t *pkt, size_t *len, size_t cap);
int dc__gcm_unprotect(dc__gcm *g, uint8_t *pkt, size_t *len);
/* Asks the CPU to start loading the state a packet will need (a hint; never faults). */
void dc__gcm_prefetch(const dc__gcm *g);

#endif
