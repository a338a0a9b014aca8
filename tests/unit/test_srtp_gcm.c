/* The AEAD_AES_128_GCM fast path (src/media/srtp_gcm.c, used by src/media/srtp.c) against
 * libsrtp2 itself: same keys, packets of every header shape, both directions, byte-identical
 * ciphertext, sequence-number rollover (ROC), replay and tamper rejection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <srtp2/srtp.h>

#include "dcall/errors.h"
#include "media/srtp.h"
#include "media/srtp_gcm.h"

#define CAP 1600

static uint64_t rng = 0x1234567887654321ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

typedef struct peer {
    dc__srtp *fast; /* ours: local keys K1 protect, remote K2 unprotect */
    srtp_t lib_out; /* libsrtp, the other side: K2 protects */
    srtp_t lib_in;  /* K1 unprotects */
} peer;

static srtp_t lib_session(const uint8_t *key, const uint8_t *salt, int inbound)
{
    uint8_t master[28];
    memcpy(master, key, 16);
    memcpy(master + 16, salt, 12);
    srtp_policy_t pol;
    memset(&pol, 0, sizeof pol);
    srtp_crypto_policy_set_from_profile_for_rtp(&pol.rtp, srtp_profile_aead_aes_128_gcm);
    srtp_crypto_policy_set_from_profile_for_rtcp(&pol.rtcp, srtp_profile_aead_aes_128_gcm);
    pol.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
    pol.key = master;
    pol.window_size = 1024;
    srtp_t s = NULL;
    assert_int_equal(srtp_create(&s, &pol), srtp_err_status_ok);
    return s;
}

static void peer_new(peer *p)
{
    struct dc__srtp_keys k;
    memset(&k, 0, sizeof k);
    k.profile = DC__SRTP_AEAD_AES_128_GCM;
    k.key_len = 16;
    k.salt_len = 12;
    for (int i = 0; i < 16; i++) {
        k.local_key[i] = (uint8_t)rnd();
        k.remote_key[i] = (uint8_t)rnd();
    }
    for (int i = 0; i < 12; i++) {
        k.local_salt[i] = (uint8_t)rnd();
        k.remote_salt[i] = (uint8_t)rnd();
    }
    assert_int_equal(dc__srtp_new(&k, &p->fast), 0); /* also runs srtp_init */
    p->lib_out = lib_session(k.remote_key, k.remote_salt, 0);
    p->lib_in = lib_session(k.local_key, k.local_salt, 1);
}

static void peer_free(peer *p)
{
    dc__srtp_free(p->fast);
    srtp_dealloc(p->lib_out);
    srtp_dealloc(p->lib_in);
}

/* A random RTP packet: CSRCs, an extension, padding bit and payload length vary. */
static size_t make_rtp(uint8_t *b, uint32_t ssrc, uint16_t seq)
{
    size_t cc = rnd() % 4, n = 0;
    int ext = rnd() % 3 == 0;
    b[n++] = (uint8_t)(0x80 | (ext ? 0x10 : 0) | cc);
    b[n++] = (uint8_t)(rnd() % 2 ? 111 | 0x80 : 111);
    b[n++] = (uint8_t)(seq >> 8);
    b[n++] = (uint8_t)seq;
    uint32_t ts = rnd();
    for (int i = 3; i >= 0; i--)
        b[n++] = (uint8_t)(ts >> (8 * i));
    for (int i = 3; i >= 0; i--)
        b[n++] = (uint8_t)(ssrc >> (8 * i));
    for (size_t i = 0; i < 4 * cc; i++)
        b[n++] = (uint8_t)rnd();
    if (ext) {
        size_t words = rnd() % 3;
        b[n++] = 0xBE;
        b[n++] = 0xDE;
        b[n++] = 0;
        b[n++] = (uint8_t)words;
        for (size_t i = 0; i < 4 * words; i++)
            b[n++] = (uint8_t)rnd();
    }
    size_t pl = rnd() % 5 == 0 ? rnd() % 17 : rnd() % 300;
    for (size_t i = 0; i < pl; i++)
        b[n++] = (uint8_t)rnd();
    return n;
}

/* Ours protects, libsrtp unprotects; libsrtp protects, ours unprotects; and the ciphertexts of
 * one packet from the two implementations are the same bytes (each side's own send keys). */
static void one_packet(peer *p, uint32_t ssrc, uint16_t seq)
{
    _Alignas(16) uint8_t a[CAP], b[CAP], orig[CAP];
    size_t n = make_rtp(orig, ssrc, seq);
    memcpy(a, orig, n);
    size_t la = n;
    assert_int_equal(dc__srtp_protect_rtp(p->fast, a, &la, CAP), 0);
    assert_int_equal(la, n + 16);
    int lb = (int)la;
    assert_int_equal(srtp_unprotect(p->lib_in, a, &lb), srtp_err_status_ok);
    assert_int_equal(lb, (int)n);
    assert_memory_equal(a, orig, n);

    memcpy(b, orig, n);
    lb = (int)n;
    assert_int_equal(srtp_protect(p->lib_out, b, &lb), srtp_err_status_ok);
    size_t l2 = (size_t)lb;
    _Alignas(16) uint8_t c[CAP];
    memcpy(c, b, l2);
    assert_int_equal(dc__srtp_unprotect_rtp(p->fast, c, &l2), 0);
    assert_int_equal(l2, n);
    assert_memory_equal(c, orig, n);
    /* the same packet again: a replay */
    memcpy(c, b, (size_t)lb);
    l2 = (size_t)lb;
    assert_int_equal(dc__srtp_unprotect_rtp(p->fast, c, &l2), DC_ESRTP);
    assert_int_equal(l2, (size_t)lb);
}

static void matches_libsrtp(void **state)
{
    (void)state;
    if (!dc__gcm_available())
        skip();
    for (int round = 0; round < 20; round++) {
        peer p;
        peer_new(&p);
        uint32_t ssrc = rnd();
        uint16_t seq = (uint16_t)rnd();
        for (int i = 0; i < 300; i++) {
            one_packet(&p, ssrc, seq);
            seq = (uint16_t)(seq + 1 + (rnd() % 8 == 0 ? rnd() % 40 : 0));
        }
        peer_free(&p);
    }
}

/* Through 65535 -> 0 more than once: both sides agree on the rollover counter. */
static void rollover(void **state)
{
    (void)state;
    if (!dc__gcm_available())
        skip();
    peer p;
    peer_new(&p);
    uint32_t ssrc = 0xdeadbeef;
    uint32_t seq = 65000;
    for (int i = 0; i < 140000; i += 1 + (int)(rnd() % 3), seq += 1 + rnd() % 3)
        one_packet(&p, ssrc, (uint16_t)seq);
    peer_free(&p);
}

/* Reordered packets inside the window pass once; one older than the window and a tampered
 * header, payload or tag never do, and a failed packet is left as it came. */
static void replay_and_tamper(void **state)
{
    (void)state;
    if (!dc__gcm_available())
        skip();
    peer p;
    peer_new(&p);
    _Alignas(16) uint8_t pk[2000][80];
    int len[2000];
    for (int i = 0; i < 2000; i++) {
        uint8_t plain[CAP];
        size_t n = 12 + 40;
        memset(plain, 0, n);
        plain[0] = 0x80;
        plain[1] = 111;
        plain[2] = (uint8_t)(i >> 8);
        plain[3] = (uint8_t)i;
        plain[11] = 7;
        memcpy(pk[i], plain, n);
        int l = (int)n;
        assert_int_equal(srtp_protect(p.lib_out, pk[i], &l), srtp_err_status_ok);
        len[i] = l;
    }
    _Alignas(16) uint8_t c[CAP];
    size_t l;
    /* 1500 first, then 1000 (inside the 1024 window), then 400 (outside it) */
    int order[] = {1500, 1000, 1499, 400};
    int want[] = {0, 0, 0, DC_ESRTP};
    for (size_t k = 0; k < sizeof order / sizeof *order; k++) {
        memcpy(c, pk[order[k]], (size_t)len[order[k]]);
        l = (size_t)len[order[k]];
        assert_int_equal(dc__srtp_unprotect_rtp(p.fast, c, &l), want[k]);
    }
    int spots[] = {1, 5, 20, 60}; /* header, header, payload, tag */
    for (size_t k = 0; k < sizeof spots / sizeof *spots; k++) {
        memcpy(c, pk[1600], (size_t)len[1600]);
        c[spots[k]] ^= 0x01;
        uint8_t before[CAP];
        memcpy(before, c, (size_t)len[1600]);
        l = (size_t)len[1600];
        assert_int_equal(dc__srtp_unprotect_rtp(p.fast, c, &l), DC_ESRTP);
        assert_memory_equal(c, before, (size_t)len[1600]);
    }
    memcpy(c, pk[1600], (size_t)len[1600]);
    l = (size_t)len[1600];
    assert_int_equal(dc__srtp_unprotect_rtp(p.fast, c, &l), 0);
    /* a header that claims more CSRCs than the packet holds */
    memcpy(c, pk[1601], 16);
    c[0] = 0x8f;
    l = 16;
    assert_int_equal(dc__srtp_unprotect_rtp(p.fast, c, &l), DC_ESRTP);
    peer_free(&p);
}

/* Protect never reuses an index: the relay keeps one continuous stream per leg. */
static void protect_refuses_repeat(void **state)
{
    (void)state;
    if (!dc__gcm_available())
        skip();
    peer p;
    peer_new(&p);
    _Alignas(16) uint8_t a[CAP];
    for (int k = 0; k < 2; k++) {
        memset(a, 0, 40);
        a[0] = 0x80;
        a[1] = 111;
        a[3] = 9;
        size_t l = 40;
        assert_int_equal(dc__srtp_protect_rtp(p.fast, a, &l, CAP), k == 0 ? 0 : DC_ESRTP);
    }
    peer_free(&p);
}

/* A packet of ssrc/seq protected by libsrtp (the peer's sending side), 40 bytes of payload. */
static int lib_packet(peer *p, uint8_t *out, uint32_t ssrc, uint16_t seq)
{
    memset(out, 0, 12 + 40);
    out[0] = 0x80;
    out[1] = 111;
    out[2] = (uint8_t)(seq >> 8);
    out[3] = (uint8_t)seq;
    for (int i = 0; i < 4; i++)
        out[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
    int l = 12 + 40;
    assert_int_equal(srtp_protect(p->lib_out, out, &l), srtp_err_status_ok);
    return l;
}

static int try_unprotect(peer *p, const uint8_t *pk, int len)
{
    _Alignas(16) uint8_t c[CAP];
    memcpy(c, pk, (size_t)len);
    size_t l = (size_t)len;
    return dc__srtp_unprotect_rtp(p->fast, c, &l);
}

/* The replay window at its edges (RFC 3711 3.3.2, window 1024): an index 1023 behind the highest
 * passes once, 1024 behind never; a forward move clears exactly the ring positions that left
 * the window, and a jump of a whole window or more clears all of them. */
static void window_edges(void **state)
{
    (void)state;
    if (!dc__gcm_available())
        skip();
    peer p;
    peer_new(&p);
    static _Alignas(16) uint8_t pk[4200][80];
    static int len[4200];
    for (int i = 0; i < 4200; i++)
        len[i] = lib_packet(&p, pk[i], 0x1111, (uint16_t)i);
    struct {
        int seq, want;
    } steps[] = {
        {2000, 0}, {977, 0},         {977, DC_ESRTP},  {976, DC_ESRTP},  {1500, 0},
        {2600, 0}, /* moved 600: position 1500 % 1024 now stands for 2524 */
        {2524, 0}, {1577, 0},        {1576, DC_ESRTP}, {2000, DC_ESRTP}, {2600, DC_ESRTP},
        {4100, 0}, /* a jump past the whole window */
        {3077, 0}, {3076, DC_ESRTP}, {3600, 0},        {4099, 0},        {4100, DC_ESRTP},
    };
    for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
        int s = steps[k].seq;
        assert_int_equal(try_unprotect(&p, pk[s], len[s]), steps[k].want);
    }
    peer_free(&p);
}

/* Packets that fail authentication never create a stream: forged packets of many new SSRCs do
 * not push the real streams (and their replay state) out. */
static void forged_ssrcs_do_not_evict(void **state)
{
    (void)state;
    if (!dc__gcm_available())
        skip();
    peer p;
    peer_new(&p);
    _Alignas(16) uint8_t pk[4][80];
    int len[4];
    for (uint32_t s = 0; s < 4; s++) {
        len[s] = lib_packet(&p, pk[s], 100 + s, 7);
        assert_int_equal(try_unprotect(&p, pk[s], len[s]), 0);
    }
    for (uint32_t f = 0; f < 64; f++) {
        _Alignas(16) uint8_t c[80];
        memcpy(c, pk[0], (size_t)len[0]);
        c[8] = 0xee;
        c[11] = (uint8_t)f; /* a new SSRC; the tag no longer matches */
        assert_int_equal(try_unprotect(&p, c, len[0]), DC_ESRTP);
    }
    for (uint32_t s = 0; s < 4; s++) /* still known: replays */
        assert_int_equal(try_unprotect(&p, pk[s], len[s]), DC_ESRTP);
    peer_free(&p);
}

/* Protect never evicts a stream to make room for another SSRC: evicting would forget which
 * indices it used, and protecting one of them again reuses a GCM nonce (keystream and the GHASH
 * key exposed). A fifth SSRC is refused instead. */
static void protect_never_forgets(void **state)
{
    (void)state;
    if (!dc__gcm_available())
        skip();
    peer p;
    peer_new(&p);
    _Alignas(16) uint8_t a[CAP];
    for (uint32_t s = 0; s < 6; s++) {
        memset(a, 0, 40);
        a[0] = 0x80;
        a[1] = 111;
        a[3] = 9;
        a[11] = (uint8_t)s;
        size_t l = 40;
        assert_int_equal(dc__srtp_protect_rtp(p.fast, a, &l, CAP), s < 4 ? 0 : DC_ESRTP);
    }
    memset(a, 0, 40);
    a[0] = 0x80;
    a[1] = 111;
    a[3] = 9;
    size_t l = 40;
    assert_int_equal(dc__srtp_protect_rtp(p.fast, a, &l, CAP), DC_ESRTP); /* SSRC 0, seq 9 again */
    a[3] = 10;
    assert_int_equal(dc__srtp_protect_rtp(p.fast, a, &l, CAP), 0);
    peer_free(&p);
}

/* Header bounds: CSRCs or an extension running past the packet, and a packet too short for its
 * tag, are refused without reading past it; a header with no payload at all works. The core also
 * works on a packet at an odd address (srtp.c refuses those, the core does not need it). */
static void header_bounds_and_alignment(void **state)
{
    (void)state;
    if (!dc__gcm_available())
        skip();
    static const uint8_t key[16] = {1, 2, 3}, salt[12] = {4, 5, 6};
    dc__gcm *tx, *rx;
    assert_int_equal(dc__gcm_new(key, salt, &tx), 0);
    assert_int_equal(dc__gcm_new(key, salt, &rx), 0);
    _Alignas(16) uint8_t buf[256 + 1];
    uint8_t *pk = buf + 1; /* odd address */
    memset(buf, 0, sizeof buf);
    pk[0] = 0x91; /* X, one CSRC */
    pk[1] = 111;
    pk[3] = 1;
    pk[16] = 0xbe, pk[17] = 0xde, pk[19] = 1; /* one extension word */
    size_t n = 24, l = n;                     /* header only */
    assert_int_equal(dc__gcm_protect(tx, pk, &l, 200), 0);
    assert_int_equal(l, n + 16);
    assert_int_equal(dc__gcm_unprotect(rx, pk, &l), 0);
    assert_int_equal(l, n);
    /* extension length past the end, then CSRCs past the end, then no room for the tag */
    uint8_t bad[64];
    memset(bad, 0, sizeof bad);
    bad[0] = 0x90, bad[14] = 0xff, bad[15] = 0xff;
    l = 16 + 16;
    assert_int_equal(dc__gcm_unprotect(rx, bad, &l), DC_ESRTP);
    assert_int_equal(l, 32);
    bad[0] = 0x8f;
    l = 12 + 4 * 15 - 4; /* one CSRC short of the 15 claimed */
    assert_int_equal(dc__gcm_unprotect(rx, bad, &l), DC_ESRTP);
    bad[0] = 0x80;
    l = 12 + 15;
    assert_int_equal(dc__gcm_unprotect(rx, bad, &l), DC_ESRTP);
    l = 12;
    assert_int_equal(dc__gcm_protect(tx, bad, &l, 12 + 15), DC_EINVAL); /* no room for the tag */
    dc__gcm_free(tx);
    dc__gcm_free(rx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_libsrtp),       cmocka_unit_test(rollover),
        cmocka_unit_test(replay_and_tamper),     cmocka_unit_test(protect_refuses_repeat),
        cmocka_unit_test(window_edges),          cmocka_unit_test(forged_ssrcs_do_not_evict),
        cmocka_unit_test(protect_never_forgets), cmocka_unit_test(header_bounds_and_alignment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
