/* libsrtp2 wrapper for one leg: see srtp.h for the contract. */
#include "media/srtp.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <srtp2/srtp.h>

#include "common/log.h"
#include "dcall/errors.h"
#include "media/srtp_gcm.h"

/* Large enough that Opus at 50 packets/s with bursty reordering never falls out
 * of the window, small enough to stay cheap; libsrtp's default is 128. */
#define DC__SRTP_REPLAY_WINDOW 1024

struct dc__srtp {
    srtp_t in;  /* remote keys: unprotect */
    srtp_t out; /* local keys: protect */
    enum dc__srtp_profile profile;
    size_t over_rtp, over_rtcp;
    /* AEAD_AES_128_GCM RTP on AES-NI (srtp_gcm.h) when the CPU has it; NULL: libsrtp. RTCP
     * always goes through libsrtp. Both live in this object's own allocation, right after it (see
     * gcm_offset), so a prefetch can find them without loading this struct first. */
    dc__gcm *gin, *gout;
};

static size_t gcm_offset(void)
{
    return (sizeof(struct dc__srtp) + 63) & ~(size_t)63;
}

/* Set once with libsrtp's init (srtp_once): DCALL_SRTP_LIBSRTP_ONLY=1 turns the GCM fast path
 * off (to compare, or as a way out). */
static int gcm_fast = 0;

static pthread_once_t srtp_once = PTHREAD_ONCE_INIT;
static int srtp_init_rc = -1;

static void srtp_init_once(void)
{
    const char *e = getenv("DCALL_SRTP_LIBSRTP_ONLY");
    gcm_fast = dc__gcm_available() && !(e && *e && strcmp(e, "0") != 0);
    srtp_err_status_t st = srtp_init();
    srtp_init_rc = st == srtp_err_status_ok ? 0 : DC_ESRTP;
    if (st != srtp_err_status_ok)
        DC_ERROR("srtp", "srtp_init failed: %d", (int)st);
}

int dc__srtp_profile_lengths(enum dc__srtp_profile profile, size_t *key_len, size_t *salt_len)
{
    switch (profile) {
    case DC__SRTP_AES128_CM_SHA1_80:
        *key_len = 16;
        *salt_len = 14;
        return 0;
    case DC__SRTP_AEAD_AES_128_GCM:
        *key_len = 16;
        *salt_len = 12;
        return 0;
    }
    return DC_EINVAL;
}

const char *dc__srtp_profile_name(enum dc__srtp_profile profile)
{
    switch (profile) {
    case DC__SRTP_AES128_CM_SHA1_80:
        return "AES_CM_128_HMAC_SHA1_80";
    case DC__SRTP_AEAD_AES_128_GCM:
        return "AEAD_AES_128_GCM";
    }
    return "unknown";
}

size_t dc__srtp_overhead_rtp(enum dc__srtp_profile profile)
{
    switch (profile) {
    case DC__SRTP_AES128_CM_SHA1_80:
        return 10;
    case DC__SRTP_AEAD_AES_128_GCM:
        return 16;
    }
    return 0;
}

size_t dc__srtp_overhead_rtcp(enum dc__srtp_profile profile)
{
    size_t tag = dc__srtp_overhead_rtp(profile);
    return tag ? tag + 4 : 0; /* E flag + 31-bit SRTCP index, then the tag */
}

void dc__srtp_keys_wipe(struct dc__srtp_keys *keys)
{
    if (keys)
        OPENSSL_cleanse(keys, sizeof(*keys));
}

static srtp_profile_t to_libsrtp(enum dc__srtp_profile profile)
{
    return profile == DC__SRTP_AEAD_AES_128_GCM ? srtp_profile_aead_aes_128_gcm
                                                : srtp_profile_aes128_cm_sha1_80;
}

/* One session with a wildcard SSRC; master = key || salt as libsrtp wants it.
 */
static int session_new(srtp_t *out, enum dc__srtp_profile profile, const uint8_t *key,
                       const uint8_t *salt, size_t key_len, size_t salt_len, int inbound)
{
    unsigned char master[DC__SRTP_MAX_KEY_LEN + DC__SRTP_MAX_SALT_LEN];
    srtp_policy_t pol;
    memset(&pol, 0, sizeof(pol));
    if (srtp_crypto_policy_set_from_profile_for_rtp(&pol.rtp, to_libsrtp(profile)) !=
            srtp_err_status_ok ||
        srtp_crypto_policy_set_from_profile_for_rtcp(&pol.rtcp, to_libsrtp(profile)) !=
            srtp_err_status_ok)
        return DC_ESRTP;
    memcpy(master, key, key_len);
    memcpy(master + key_len, salt, salt_len);
    pol.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
    pol.key = master;
    pol.window_size = DC__SRTP_REPLAY_WINDOW;
    pol.allow_repeat_tx = 0;
    pol.next = NULL;
    srtp_err_status_t st = srtp_create(out, &pol);
    OPENSSL_cleanse(master, sizeof(master));
    if (st != srtp_err_status_ok) {
        *out = NULL;
        DC_WARN("srtp", "srtp_create failed: %d", (int)st);
        return st == srtp_err_status_alloc_fail ? DC_ENOMEM : DC_ESRTP;
    }
    return 0;
}

int dc__srtp_new(const struct dc__srtp_keys *keys, dc__srtp **out)
{
    size_t key_len, salt_len;
    if (!keys || !out)
        return DC_EINVAL;
    *out = NULL;
    if (dc__srtp_profile_lengths(keys->profile, &key_len, &salt_len) != 0 ||
        keys->key_len != key_len || keys->salt_len != salt_len)
        return DC_EINVAL;
    pthread_once(&srtp_once, srtp_init_once);
    if (srtp_init_rc != 0)
        return srtp_init_rc;
    int fast = keys->profile == DC__SRTP_AEAD_AES_128_GCM && gcm_fast;
    size_t sz = gcm_offset() + (fast ? 2 * dc__gcm_size() : 0);
    dc__srtp *s = aligned_alloc(64, sz);
    if (!s)
        return DC_ENOMEM;
    memset(s, 0, sz);
    s->profile = keys->profile;
    s->over_rtp = dc__srtp_overhead_rtp(keys->profile);
    s->over_rtcp = dc__srtp_overhead_rtcp(keys->profile);
    int rc = session_new(&s->in, keys->profile, keys->remote_key, keys->remote_salt, key_len,
                         salt_len, 1);
    if (rc == 0)
        rc = session_new(&s->out, keys->profile, keys->local_key, keys->local_salt, key_len,
                         salt_len, 0);
    if (rc == 0 && fast) {
        s->gin = (dc__gcm *)((char *)s + gcm_offset());
        s->gout = (dc__gcm *)((char *)s + gcm_offset() + dc__gcm_size());
        dc__gcm_init(s->gin, keys->remote_key, keys->remote_salt);
        dc__gcm_init(s->gout, keys->local_key, keys->local_salt);
    }
    if (rc != 0) {
        dc__srtp_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void dc__srtp_free(dc__srtp *s)
{
    if (!s)
        return;
    if (s->in)
        srtp_dealloc(s->in);
    if (s->out)
        srtp_dealloc(s->out);
    dc__gcm_wipe(s->gin);
    dc__gcm_wipe(s->gout);
    free(s);
}

enum dc__srtp_profile dc__srtp_profile(const dc__srtp *s)
{
    return s->profile;
}

/* Common argument checks: libsrtp takes an int length and reads 32-bit words.
 */
static int check_args(dc__srtp *s, void *pkt, size_t *len, size_t min_len)
{
    if (!s || !pkt || !len || ((uintptr_t)pkt & 3) != 0)
        return DC_EINVAL;
    if (*len < min_len || *len > (size_t)INT_MAX - DC__SRTP_MAX_OVERHEAD)
        return DC_EINVAL;
    return 0;
}

int dc__srtp_protect_rtp(dc__srtp *s, void *pkt, size_t *len, size_t cap)
{
    int rc = check_args(s, pkt, len, 12);
    if (rc != 0)
        return rc;
    if (cap < *len + s->over_rtp)
        return DC_EINVAL;
    if (s->gout)
        return dc__gcm_protect(s->gout, pkt, len, cap);
    int n = (int)*len;
    if (srtp_protect(s->out, pkt, &n) != srtp_err_status_ok)
        return DC_ESRTP;
    *len = (size_t)n;
    return 0;
}

int dc__srtp_unprotect_rtp(dc__srtp *s, void *pkt, size_t *len)
{
    int rc = check_args(s, pkt, len, 12);
    if (rc != 0)
        return rc;
    if (s->gin)
        return dc__gcm_unprotect(s->gin, pkt, len);
    int n = (int)*len;
    if (srtp_unprotect(s->in, pkt, &n) != srtp_err_status_ok)
        return DC_ESRTP;
    *len = (size_t)n;
    return 0;
}

int dc__srtp_protect_rtcp(dc__srtp *s, void *pkt, size_t *len, size_t cap)
{
    int rc = check_args(s, pkt, len, 8);
    if (rc != 0)
        return rc;
    if (cap < *len + s->over_rtcp)
        return DC_EINVAL;
    int n = (int)*len;
    if (srtp_protect_rtcp(s->out, pkt, &n) != srtp_err_status_ok)
        return DC_ESRTP;
    *len = (size_t)n;
    return 0;
}

int dc__srtp_unprotect_rtcp(dc__srtp *s, void *pkt, size_t *len)
{
    int rc = check_args(s, pkt, len, 8);
    if (rc != 0)
        return rc;
    int n = (int)*len;
    if (srtp_unprotect_rtcp(s->in, pkt, &n) != srtp_err_status_ok)
        return DC_ESRTP;
    *len = (size_t)n;
    return 0;
}

void dc__srtp_prefetch(const dc__srtp *s, int inbound)
{
    if (!s)
        return;
    /* Computed, not loaded from s: where the fast path's state is when s has it (a prefetch of
     * memory past a smaller allocation is only a wasted hint, never a fault). */
    dc__gcm_prefetch(
        (const dc__gcm *)((const char *)s + gcm_offset() + (inbound ? 0 : dc__gcm_size())));
}
