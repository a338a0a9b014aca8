/* SRTP for one media leg: a thin wrapper over libsrtp2 (RFC 3711, RFC 7714). AEAD_AES_128_GCM
 * RTP runs on AES-NI instead (srtp_gcm.h: same wire format and replay rules, several times
 * cheaper per packet with thousands of legs) when the CPU has it and DCALL_SRTP_LIBSRTP_ONLY is
 * unset; RTCP and AES_CM always use libsrtp.
 *
 * One dc__srtp object per leg (per DTLS association) holds two libsrtp sessions:
 *   - outbound, keyed with the LOCAL key+salt: protect_rtp / protect_rtcp (what we send);
 *   - inbound, keyed with the REMOTE key+salt: unprotect_rtp / unprotect_rtcp (what we receive).
 * The keys come from dc__dtls_srtp_keys() (media/dtls.h), already arranged by our DTLS role.
 * New keys (a new DTLS association after an ICE restart with new fingerprints) mean a new object.
 *
 * Both sessions use a wildcard SSRC, so every SSRC gets its own replay window; libsrtp adds a
 * stream for a new inbound SSRC only once a packet authenticated, so garbage cannot grow the
 * session. Replay protection is on (window 1024) and allow_repeat_tx is off: the sender must
 * never protect the same (SSRC, sequence number) twice, which is why the relay keeps one
 * continuous outbound stream per leg.
 *
 * Threads: an object is not locked. Use it from one thread at a time (the worker that owns the
 * leg); different objects may be used on different threads at once. libsrtp's global init runs
 * once per process, thread-safely, on the first dc__srtp_new().
 *
 * Buffers: every call works in place on a packet that must start on a 4-byte boundary (libsrtp
 * reads 32-bit header words). protect grows the packet by dc__srtp_overhead_rtp/_rtcp() bytes
 * (the auth tag; for RTCP also the 4-byte SRTCP index), so the caller passes the buffer's full
 * capacity; DC__SRTP_MAX_OVERHEAD is enough for every profile. unprotect shrinks it.
 * Errors: DC_EINVAL for bad arguments (NULL, misaligned, too short, no room), DC_ESRTP when
 * libsrtp refuses the packet (authentication failure, replay, malformed) or fails to protect it.
 * Neither logs per packet: the caller counts and rate-limits. */
#ifndef DC_MEDIA_SRTP_H
#define DC_MEDIA_SRTP_H

#include <stddef.h>
#include <stdint.h>

/* DTLS-SRTP protection profiles we offer and accept (values are the RFC 5764 / RFC 7714 ids). */
enum dc__srtp_profile {
    DC__SRTP_AES128_CM_SHA1_80 = 0x0001, /* AES_CM_128_HMAC_SHA1_80: key 16, salt 14, tag 10 */
    DC__SRTP_AEAD_AES_128_GCM = 0x0007,  /* AEAD_AES_128_GCM: key 16, salt 12, tag 16 */
};

#define DC__SRTP_MAX_KEY_LEN 16
#define DC__SRTP_MAX_SALT_LEN 14
/* Most bytes protect may add to a packet: SRTCP index (4) + GCM tag (16). */
#define DC__SRTP_MAX_OVERHEAD 20

/* Keying material for one leg, as exported from DTLS (RFC 5764 §4.2) and already assigned by
 * role: local_* protects what we send, remote_* unprotects what we receive. Holds secrets: wipe it
 * (dc__srtp_keys_wipe) when done and never log it. */
struct dc__srtp_keys {
    enum dc__srtp_profile profile;
    uint8_t key_len;  /* 16 for both profiles */
    uint8_t salt_len; /* 14 for AES_CM, 12 for GCM */
    uint8_t local_key[DC__SRTP_MAX_KEY_LEN];
    uint8_t local_salt[DC__SRTP_MAX_SALT_LEN];
    uint8_t remote_key[DC__SRTP_MAX_KEY_LEN];
    uint8_t remote_salt[DC__SRTP_MAX_SALT_LEN];
};

typedef struct dc__srtp dc__srtp;

/* Key and salt lengths of a profile; DC_EINVAL for a profile we do not support. */
int dc__srtp_profile_lengths(enum dc__srtp_profile profile, size_t *key_len, size_t *salt_len);
/* "AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM", or "unknown". Never NULL. */
const char *dc__srtp_profile_name(enum dc__srtp_profile profile);
/* Bytes protect adds to an RTP / RTCP packet under this profile (0 for an unknown profile). */
size_t dc__srtp_overhead_rtp(enum dc__srtp_profile profile);
size_t dc__srtp_overhead_rtcp(enum dc__srtp_profile profile);
/* Overwrites the key material with zeros in a way the compiler keeps. */
void dc__srtp_keys_wipe(struct dc__srtp_keys *keys);

/* Creates the inbound and outbound sessions from keys (the caller still owns keys and should
 * wipe them; libsrtp keeps its own derived copies). DC_EINVAL for an unsupported profile or wrong
 * lengths, DC_ESRTP if libsrtp fails, DC_ENOMEM. */
int dc__srtp_new(const struct dc__srtp_keys *keys, dc__srtp **out);
/* Frees both sessions. NULL is fine. */
void dc__srtp_free(dc__srtp *s);
enum dc__srtp_profile dc__srtp_profile(const dc__srtp *s);

/* RTP: *len is the packet length in and out; cap (protect only) is the buffer's capacity and must
 * be >= *len + dc__srtp_overhead_rtp(). On failure *len is unchanged and the packet must not be
 * used: after a failed protect send nothing, after a failed unprotect drop it. */
int dc__srtp_protect_rtp(dc__srtp *s, void *pkt, size_t *len, size_t cap);
int dc__srtp_unprotect_rtp(dc__srtp *s, void *pkt, size_t *len);
/* RTCP (compound packets, SRTCP index appended/stripped). Same conventions. */
int dc__srtp_protect_rtcp(dc__srtp *s, void *pkt, size_t *len, size_t cap);
int dc__srtp_unprotect_rtcp(dc__srtp *s, void *pkt, size_t *len);
/* A hint before a batch: start loading the state unprotect (inbound) or protect will touch. */
void dc__srtp_prefetch(const dc__srtp *s, int inbound);

#endif
