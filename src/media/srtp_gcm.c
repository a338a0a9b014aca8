/* SRTP AEAD_AES_128_GCM for RTP with AES-NI and PCLMULQDQ: see srtp_gcm.h. */
#include "media/srtp_gcm.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "dcall/errors.h"

#define DC__GCM_MAX_STREAMS 4
#define DC__GCM_WINDOW 1024 /* packets; the same window srtp.c gives libsrtp */
#define DC__GCM_TAG 16

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#define DC__GCM_TARGET __attribute__((target("aes,pclmul,sse4.1,ssse3")))

struct dc__gcm_stream {
    uint64_t s_l;      /* highest packet index seen (ROC << 16 | SEQ) */
    uint64_t last_use; /* the object's use counter when last used */
    uint32_t ssrc;
    uint32_t used;
    uint64_t win[DC__GCM_WINDOW / 64]; /* bit (i % WINDOW) set: index i was seen */
};

struct dc__gcm {
    __m128i rk[11]; /* AES-128 round keys of the session key */
    __m128i h;      /* GHASH key, byte-reflected */
    uint8_t salt[12];
    uint32_t pad;
    uint64_t uses;
    struct dc__gcm_stream st[DC__GCM_MAX_STREAMS];
};

int dc__gcm_available(void)
{
    /* libgcc fills the CPU model before main; reading it is cheap and thread-safe */
    return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul") &&
           __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("ssse3");
}

/* --- AES-128 --- */

DC__GCM_TARGET static inline __m128i expand_step(__m128i key, __m128i kg)
{
    kg = _mm_shuffle_epi32(kg, 0xff);
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    return _mm_xor_si128(key, kg);
}

#define DC__EXPAND(i, rcon)                                                                        \
    rk[i] = expand_step(rk[i - 1], _mm_aeskeygenassist_si128(rk[i - 1], rcon))

DC__GCM_TARGET static void aes128_expand(__m128i rk[11], const uint8_t key[16])
{
    rk[0] = _mm_loadu_si128((const __m128i *)key);
    DC__EXPAND(1, 0x01);
    DC__EXPAND(2, 0x02);
    DC__EXPAND(3, 0x04);
    DC__EXPAND(4, 0x08);
    DC__EXPAND(5, 0x10);
    DC__EXPAND(6, 0x20);
    DC__EXPAND(7, 0x40);
    DC__EXPAND(8, 0x80);
    DC__EXPAND(9, 0x1b);
    DC__EXPAND(10, 0x36);
}

DC__GCM_TARGET static inline __m128i aes128_block(const __m128i rk[11], __m128i x)
{
    x = _mm_xor_si128(x, rk[0]);
    for (int i = 1; i < 10; i++)
        x = _mm_aesenc_si128(x, rk[i]);
    return _mm_aesenclast_si128(x, rk[10]);
}

/* Four independent blocks at once: the AES units are pipelined. */
DC__GCM_TARGET static inline void aes128_block4(const __m128i rk[11], __m128i *a, __m128i *b,
                                                __m128i *c, __m128i *d)
{
    __m128i k = rk[0];
    *a = _mm_xor_si128(*a, k);
    *b = _mm_xor_si128(*b, k);
    *c = _mm_xor_si128(*c, k);
    *d = _mm_xor_si128(*d, k);
    for (int i = 1; i < 10; i++) {
        k = rk[i];
        *a = _mm_aesenc_si128(*a, k);
        *b = _mm_aesenc_si128(*b, k);
        *c = _mm_aesenc_si128(*c, k);
        *d = _mm_aesenc_si128(*d, k);
    }
    k = rk[10];
    *a = _mm_aesenclast_si128(*a, k);
    *b = _mm_aesenclast_si128(*b, k);
    *c = _mm_aesenclast_si128(*c, k);
    *d = _mm_aesenclast_si128(*d, k);
}

/* --- GHASH (carry-less multiply and reduction in the byte-reflected domain, as in Intel's
 * "Carry-Less Multiplication and Its Usage for Computing the GCM Mode") --- */

DC__GCM_TARGET static inline __m128i bswap128(__m128i x)
{
    return _mm_shuffle_epi8(x, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}

DC__GCM_TARGET static inline __m128i gfmul(__m128i a, __m128i b)
{
    __m128i t3 = _mm_clmulepi64_si128(a, b, 0x00);
    __m128i t4 = _mm_clmulepi64_si128(a, b, 0x10);
    __m128i t5 = _mm_clmulepi64_si128(a, b, 0x01);
    __m128i t6 = _mm_clmulepi64_si128(a, b, 0x11);
    t4 = _mm_xor_si128(t4, t5);
    t5 = _mm_slli_si128(t4, 8);
    t4 = _mm_srli_si128(t4, 8);
    t3 = _mm_xor_si128(t3, t5);
    t6 = _mm_xor_si128(t6, t4);
    /* shift the 256-bit product left by one */
    __m128i t7 = _mm_srli_epi32(t3, 31);
    __m128i t8 = _mm_srli_epi32(t6, 31);
    t3 = _mm_slli_epi32(t3, 1);
    t6 = _mm_slli_epi32(t6, 1);
    __m128i t9 = _mm_srli_si128(t7, 12);
    t8 = _mm_slli_si128(t8, 4);
    t7 = _mm_slli_si128(t7, 4);
    t3 = _mm_or_si128(t3, t7);
    t6 = _mm_or_si128(t6, t8);
    t6 = _mm_or_si128(t6, t9);
    /* reduce modulo x^128 + x^7 + x^2 + x + 1 */
    t7 = _mm_slli_epi32(t3, 31);
    t8 = _mm_slli_epi32(t3, 30);
    t9 = _mm_slli_epi32(t3, 25);
    t7 = _mm_xor_si128(t7, t8);
    t7 = _mm_xor_si128(t7, t9);
    t8 = _mm_srli_si128(t7, 4);
    t7 = _mm_slli_si128(t7, 12);
    t3 = _mm_xor_si128(t3, t7);
    __m128i t2 = _mm_srli_epi32(t3, 1);
    t4 = _mm_srli_epi32(t3, 2);
    t5 = _mm_srli_epi32(t3, 7);
    t2 = _mm_xor_si128(t2, t4);
    t2 = _mm_xor_si128(t2, t5);
    t2 = _mm_xor_si128(t2, t8);
    t3 = _mm_xor_si128(t3, t2);
    return _mm_xor_si128(t6, t3);
}

/* Loads up to 16 bytes, zero-padded. */
DC__GCM_TARGET static inline __m128i load_partial(const uint8_t *p, size_t n)
{
    if (n >= 16)
        return _mm_loadu_si128((const __m128i *)p);
    uint8_t b[16] = {0};
    memcpy(b, p, n);
    return _mm_loadu_si128((const __m128i *)b);
}

DC__GCM_TARGET static __m128i ghash(__m128i x, __m128i h, const uint8_t *p, size_t n)
{
    for (size_t off = 0; off < n; off += 16) {
        __m128i blk = load_partial(p + off, n - off);
        x = gfmul(_mm_xor_si128(x, bswap128(blk)), h);
    }
    return x;
}

/* Counter mode from counter value 2 of J0 = iv || 1 (GCM), in place. */
DC__GCM_TARGET static void ctr_xor(const __m128i rk[11], __m128i iv, uint8_t *p, size_t n)
{
    uint32_t ctr = 2;
    size_t off = 0;
    while (off < n) {
        __m128i ks[4];
        for (int j = 0; j < 4; j++)
            ks[j] = _mm_insert_epi32(iv, (int)__builtin_bswap32(ctr + (uint32_t)j), 3);
        aes128_block4(rk, &ks[0], &ks[1], &ks[2], &ks[3]);
        ctr += 4;
        for (int j = 0; j < 4 && off < n; j++, off += 16) {
            size_t m = n - off < 16 ? n - off : 16;
            if (m == 16) {
                __m128i d = _mm_loadu_si128((const __m128i *)(p + off));
                _mm_storeu_si128((__m128i *)(p + off), _mm_xor_si128(d, ks[j]));
            } else {
                uint8_t b[16];
                _mm_storeu_si128((__m128i *)b, ks[j]);
                for (size_t k = 0; k < m; k++)
                    p[off + k] ^= b[k];
            }
        }
    }
}

/* The tag of (aad, ciphertext) under iv. */
DC__GCM_TARGET static __m128i gcm_tag(const dc__gcm *g, __m128i iv, const uint8_t *aad, size_t alen,
                                      const uint8_t *ct, size_t clen)
{
    __m128i x = ghash(_mm_setzero_si128(), g->h, aad, alen);
    x = ghash(x, g->h, ct, clen);
    __m128i lens = _mm_set_epi64x((long long)(alen * 8), (long long)(clen * 8));
    x = gfmul(_mm_xor_si128(x, lens), g->h);
    __m128i j0 = aes128_block(g->rk, _mm_insert_epi32(iv, (int)__builtin_bswap32(1), 3));
    return _mm_xor_si128(bswap128(x), j0);
}

/* --- keys (RFC 3711 4.3 AES-CM PRF; master salt zero-padded to 14 bytes, as libsrtp) --- */

DC__GCM_TARGET static void kdf(const __m128i mrk[11], const uint8_t salt14[14], uint8_t label,
                               uint8_t *out, size_t n)
{
    uint8_t blk[16] = {0};
    memcpy(blk, salt14, 14);
    blk[7] ^= label;
    for (size_t off = 0, i = 0; off < n; off += 16, i++) {
        blk[14] = (uint8_t)(i >> 8);
        blk[15] = (uint8_t)i;
        uint8_t ks[16];
        _mm_storeu_si128((__m128i *)ks, aes128_block(mrk, _mm_loadu_si128((const __m128i *)blk)));
        memcpy(out + off, ks, n - off < 16 ? n - off : 16);
        OPENSSL_cleanse(ks, sizeof ks);
    }
    OPENSSL_cleanse(blk, sizeof blk);
}

DC__GCM_TARGET static void gcm_init(dc__gcm *g, const uint8_t *master_key,
                                    const uint8_t *master_salt)
{
    __m128i mrk[11];
    uint8_t salt14[14] = {0}, key[16];
    memcpy(salt14, master_salt, 12);
    aes128_expand(mrk, master_key);
    kdf(mrk, salt14, 0x00, key, sizeof key);         /* SRTP encryption key */
    kdf(mrk, salt14, 0x02, g->salt, sizeof g->salt); /* SRTP salt */
    aes128_expand(g->rk, key);
    g->h = bswap128(aes128_block(g->rk, _mm_setzero_si128()));
    OPENSSL_cleanse(mrk, sizeof mrk);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(salt14, sizeof salt14);
}

size_t dc__gcm_size(void)
{
    return (sizeof(dc__gcm) + 63) & ~(size_t)63;
}

void dc__gcm_init(dc__gcm *g, const uint8_t *master_key, const uint8_t *master_salt)
{
    memset(g, 0, sizeof *g);
    gcm_init(g, master_key, master_salt);
}

void dc__gcm_wipe(dc__gcm *g)
{
    if (g)
        OPENSSL_cleanse(g, sizeof *g);
}

int dc__gcm_new(const uint8_t *master_key, const uint8_t *master_salt, dc__gcm **out)
{
    *out = NULL;
    if (!dc__gcm_available())
        return DC_EINVAL;
    dc__gcm *g = aligned_alloc(64, dc__gcm_size());
    if (!g)
        return DC_ENOMEM;
    dc__gcm_init(g, master_key, master_salt);
    *out = g;
    return 0;
}

void dc__gcm_free(dc__gcm *g)
{
    if (!g)
        return;
    dc__gcm_wipe(g);
    free(g);
}

void dc__gcm_prefetch(const dc__gcm *g)
{
    const char *p = (const char *)g;
    /* round keys, hash key and salt, the first stream's state */
    for (size_t off = 0; off < 384; off += 64)
        __builtin_prefetch(p + off);
}

/* --- packets --- */

/* Length of the RTP header (with CSRCs and extension), or 0 when it does not fit in len. */
static size_t rtp_header_len(const uint8_t *pkt, size_t len)
{
    if (len < 12)
        return 0;
    size_t h = 12 + 4 * (size_t)(pkt[0] & 0x0f);
    if (pkt[0] & 0x10) {
        if (h + 4 > len)
            return 0;
        h += 4 + 4 * (((size_t)pkt[h + 2] << 8) | pkt[h + 3]);
    }
    return h <= len ? h : 0;
}

static struct dc__gcm_stream *find_stream(dc__gcm *g, uint32_t ssrc)
{
    for (int i = 0; i < DC__GCM_MAX_STREAMS; i++) {
        if (g->st[i].used && g->st[i].ssrc == ssrc)
            return &g->st[i];
    }
    return NULL;
}

static int has_free_stream(const dc__gcm *g)
{
    for (int i = 0; i < DC__GCM_MAX_STREAMS; i++) {
        if (!g->st[i].used)
            return 1;
    }
    return 0;
}

static struct dc__gcm_stream *new_stream(dc__gcm *g, uint32_t ssrc)
{
    struct dc__gcm_stream *s = &g->st[0];
    for (int i = 0; i < DC__GCM_MAX_STREAMS; i++) {
        if (!g->st[i].used) {
            s = &g->st[i];
            break;
        }
        if (g->st[i].last_use < s->last_use)
            s = &g->st[i];
    }
    memset(s, 0, sizeof *s);
    s->ssrc = ssrc;
    s->used = 1;
    return s;
}

/* RFC 3711 3.3.1 as libsrtp does it (rdbx_estimate_index): the first 2^15 indices take ROC 0. */
static uint64_t estimate_index(const struct dc__gcm_stream *s, uint16_t seq)
{
    if (s->s_l <= 32768)
        return seq;
    uint64_t roc = s->s_l >> 16;
    int local = (int)(s->s_l & 0xffff);
    if (local < 32768) {
        if ((int)seq - local > 32768)
            roc--;
    } else if (local - 32768 > (int)seq) {
        roc++;
    }
    return roc << 16 | seq;
}

/* 0 when idx is new for the stream, DC_ESRTP when seen or older than the window. */
static int replay_check(const struct dc__gcm_stream *s, uint64_t idx)
{
    if (idx > s->s_l)
        return 0;
    uint64_t d = s->s_l - idx;
    if (d >= DC__GCM_WINDOW)
        return DC_ESRTP;
    uint64_t bit = idx % DC__GCM_WINDOW;
    return (s->win[bit / 64] >> (bit % 64)) & 1 ? DC_ESRTP : 0;
}

static void replay_add(struct dc__gcm_stream *s, uint64_t idx)
{
    if (idx > s->s_l) {
        uint64_t d = idx - s->s_l;
        if (d >= DC__GCM_WINDOW) {
            memset(s->win, 0, sizeof s->win);
        } else {
            /* the ring positions of the indices after s_l held indices now out of the window */
            for (uint64_t i = s->s_l + 1; i < idx; i++) {
                uint64_t b = i % DC__GCM_WINDOW;
                s->win[b / 64] &= ~((uint64_t)1 << (b % 64));
            }
        }
        s->s_l = idx;
    }
    uint64_t bit = idx % DC__GCM_WINDOW;
    s->win[bit / 64] |= (uint64_t)1 << (bit % 64);
}

DC__GCM_TARGET static __m128i packet_iv(const dc__gcm *g, const uint8_t *pkt, uint64_t idx)
{
    uint8_t b[16] = {0};
    memcpy(b + 2, pkt + 8, 4); /* SSRC, network order */
    uint32_t roc = (uint32_t)(idx >> 16);
    b[6] = (uint8_t)(roc >> 24);
    b[7] = (uint8_t)(roc >> 16);
    b[8] = (uint8_t)(roc >> 8);
    b[9] = (uint8_t)roc;
    b[10] = pkt[2];
    b[11] = pkt[3];
    for (int i = 0; i < 12; i++)
        b[i] ^= g->salt[i];
    return _mm_loadu_si128((const __m128i *)b); /* bytes 12..15: the counter, set per block */
}

static uint32_t pkt_ssrc(const uint8_t *pkt)
{
    return (uint32_t)pkt[8] << 24 | (uint32_t)pkt[9] << 16 | (uint32_t)pkt[10] << 8 | pkt[11];
}

DC__GCM_TARGET int dc__gcm_protect(dc__gcm *g, uint8_t *pkt, size_t *len, size_t cap)
{
    size_t n = *len, hl = rtp_header_len(pkt, n);
    if (!hl)
        return DC_ESRTP;
    if (cap < n + DC__GCM_TAG)
        return DC_EINVAL;
    uint32_t ssrc = pkt_ssrc(pkt);
    struct dc__gcm_stream *s = find_stream(g, ssrc);
    if (!s) {
        /* Never evict on this side: a forgotten stream's indices could be protected again,
         * reusing a GCM nonce (keystream and GHASH key exposed). A new SSRC needs a free slot. */
        if (!has_free_stream(g))
            return DC_ESRTP;
        s = new_stream(g, ssrc);
    }
    uint64_t idx = estimate_index(s, (uint16_t)(pkt[2] << 8 | pkt[3]));
    if (replay_check(s, idx) != 0)
        return DC_ESRTP;
    __m128i iv = packet_iv(g, pkt, idx);
    ctr_xor(g->rk, iv, pkt + hl, n - hl);
    __m128i tag = gcm_tag(g, iv, pkt, hl, pkt + hl, n - hl);
    _mm_storeu_si128((__m128i *)(pkt + n), tag);
    replay_add(s, idx);
    s->last_use = ++g->uses;
    *len = n + DC__GCM_TAG;
    return 0;
}

DC__GCM_TARGET int dc__gcm_unprotect(dc__gcm *g, uint8_t *pkt, size_t *len)
{
    size_t n = *len, hl = rtp_header_len(pkt, n);
    if (!hl || n - hl < DC__GCM_TAG)
        return DC_ESRTP;
    size_t clen = n - hl - DC__GCM_TAG;
    uint32_t ssrc = pkt_ssrc(pkt);
    struct dc__gcm_stream *s = find_stream(g, ssrc);
    uint16_t seq = (uint16_t)(pkt[2] << 8 | pkt[3]);
    uint64_t idx = s ? estimate_index(s, seq) : seq;
    if (s && replay_check(s, idx) != 0)
        return DC_ESRTP;
    __m128i iv = packet_iv(g, pkt, idx);
    __m128i want = gcm_tag(g, iv, pkt, hl, pkt + hl, clen);
    __m128i got = _mm_loadu_si128((const __m128i *)(pkt + hl + clen));
    if (_mm_movemask_epi8(_mm_cmpeq_epi8(want, got)) != 0xffff)
        return DC_ESRTP; /* all 16 bytes compared whatever differs: no timing hint */
    ctr_xor(g->rk, iv, pkt + hl, clen);
    if (!s) {
        s = new_stream(g, ssrc);
        s->s_l = idx;
    }
    replay_add(s, idx);
    s->last_use = ++g->uses;
    *len = n - DC__GCM_TAG;
    return 0;
}

#else /* not x86-64: srtp.c keeps libsrtp for everything */

int dc__gcm_available(void)
{
    return 0;
}

int dc__gcm_new(const uint8_t *master_key, const uint8_t *master_salt, dc__gcm **out)
{
    (void)master_key;
    (void)master_salt;
    *out = NULL;
    return DC_EINVAL;
}

void dc__gcm_free(dc__gcm *g)
{
    (void)g;
}

size_t dc__gcm_size(void)
{
    return 64;
}

void dc__gcm_init(dc__gcm *g, const uint8_t *master_key, const uint8_t *master_salt)
{
    (void)g, (void)master_key, (void)master_salt;
}

void dc__gcm_wipe(dc__gcm *g)
{
    (void)g;
}

int dc__gcm_protect(dc__gcm *g, uint8_t *pkt, size_t *len, size_t cap)
{
    (void)g, (void)pkt, (void)len, (void)cap;
    return DC_EINVAL;
}

int dc__gcm_unprotect(dc__gcm *g, uint8_t *pkt, size_t *len)
{
    (void)g, (void)pkt, (void)len;
    return DC_EINVAL;
}

void dc__gcm_prefetch(const dc__gcm *g)
{
    (void)g;
}

#endif
