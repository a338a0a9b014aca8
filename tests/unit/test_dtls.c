/* DTLS-SRTP (src/media/dtls.c) and SRTP (src/media/srtp.c): a client and a
 * server endpoint in one process exchange datagrams through in-memory queues
 * that can drop packets, then protect and unprotect RTP/RTCP with the exported
 * keys. Ends with a small SRTP micro-benchmark (printed, not asserted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dcall/errors.h"
#include "media/dtls.h"
#include "media/srtp.h"

#define QMAX 256

/* One direction of the in-memory network. */
struct link {
    uint8_t data[QMAX][1500];
    size_t len[QMAX];
    size_t head, tail;
    int drop;       /* drop this many of the next datagrams */
    size_t max_len; /* largest datagram seen */
    int sent;       /* datagrams handed to the link, dropped or not */
    int fragments;  /* plaintext handshake records carrying only part of a message */
};

static uint32_t be24(const uint8_t *p)
{
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* Walks the DTLS records of a datagram (RFC 6347 §4.1, §4.2.2) and counts epoch-0 handshake
 * records whose fragment is shorter than the message: proof that a message was split. */
static int count_fragments(const uint8_t *d, size_t len)
{
    int n = 0;
    while (len >= 13) {
        size_t rlen = (size_t)d[11] << 8 | d[12];
        if (13 + rlen > len)
            break;
        int epoch = d[3] << 8 | d[4];
        if (d[0] == 22 && epoch == 0 && rlen >= 12 && be24(d + 13 + 9) < be24(d + 13 + 1))
            n++;
        d += 13 + rlen;
        len -= 13 + rlen;
    }
    return n;
}

struct pair {
    dc__dtls_ctx *cctx, *sctx;
    dc__dtls *client, *server;
    struct link c2s, s2c;
};

static dc__dtls_ctx *g_ctx_a, *g_ctx_b;

static void link_send(void *user, const uint8_t *data, size_t len)
{
    struct link *l = user;
    l->sent++;
    l->fragments += count_fragments(data, len);
    if (len > l->max_len)
        l->max_len = len;
    if (l->drop > 0) {
        l->drop--;
        return;
    }
    assert_true(len <= sizeof(l->data[0]));
    assert_true(l->tail < QMAX);
    memcpy(l->data[l->tail], data, len);
    l->len[l->tail++] = len;
}

/* Delivers what is queued on one link now (not what that provokes). */
static void deliver(struct link *l, dc__dtls *to)
{
    size_t end = l->tail;
    while (l->head < end) {
        size_t i = l->head++;
        (void)dc__dtls_input(to, l->data[i], l->len[i]);
    }
}

/* Delivers queued datagrams both ways until both queues are empty. */
static void pump(struct pair *p)
{
    for (int rounds = 0; rounds < 100; rounds++) {
        int moved = 0;
        while (p->c2s.head < p->c2s.tail) {
            size_t i = p->c2s.head++;
            (void)dc__dtls_input(p->server, p->c2s.data[i], p->c2s.len[i]);
            moved = 1;
        }
        while (p->s2c.head < p->s2c.tail) {
            size_t i = p->s2c.head++;
            (void)dc__dtls_input(p->client, p->s2c.data[i], p->s2c.len[i]);
            moved = 1;
        }
        if (p->c2s.head == p->c2s.tail)
            p->c2s.head = p->c2s.tail = 0;
        if (p->s2c.head == p->s2c.tail)
            p->s2c.head = p->s2c.tail = 0;
        if (!moved)
            return;
    }
    fail_msg("datagrams kept flowing");
}

static int done(const dc__dtls *d)
{
    enum dc__dtls_state s = dc__dtls_state(d);
    return s == DC__DTLS_CONNECTED || s == DC__DTLS_FAILED || s == DC__DTLS_CLOSED;
}

/* Runs the handshake to its end, sleeping through retransmission timers as a
 * caller would. Returns how many timer expiries it took. */
static int run_handshake(struct pair *p)
{
    int timeouts = 0;
    assert_int_equal(dc__dtls_start(p->server), 0);
    assert_int_equal(dc__dtls_start(p->client), 0);
    for (int i = 0; i < 20; i++) {
        pump(p);
        if (done(p->client) && done(p->server))
            return timeouts;
        int64_t tc = dc__dtls_timeout_ms(p->client), ts = dc__dtls_timeout_ms(p->server);
        int64_t t = tc < 0 ? ts : ts < 0 ? tc : tc < ts ? tc : ts;
        if (t < 0)
            break; /* nobody waits for anything: a stall */
        assert_true(t <= 4000);
        usleep((useconds_t)(t * 1000 + 2000));
        assert_true(dc__dtls_on_timeout(p->client) == 0 || done(p->client));
        assert_true(dc__dtls_on_timeout(p->server) == 0 || done(p->server));
        timeouts++;
    }
    return timeouts;
}

/* The client expects client_sees as the server's fingerprint, the server
 * expects server_sees as the client's. */
static void pair_new(struct pair *p, const uint8_t *client_sees, const uint8_t *server_sees)
{
    memset(p, 0, sizeof(*p));
    p->cctx = g_ctx_a;
    p->sctx = g_ctx_b;
    if (!client_sees)
        client_sees = dc__dtls_ctx_fingerprint_raw(p->sctx);
    if (!server_sees)
        server_sees = dc__dtls_ctx_fingerprint_raw(p->cctx);
    assert_int_equal(
        dc__dtls_new(p->cctx, DC__DTLS_CLIENT, client_sees, link_send, &p->c2s, &p->client), 0);
    assert_int_equal(
        dc__dtls_new(p->sctx, DC__DTLS_SERVER, server_sees, link_send, &p->s2c, &p->server), 0);
}

static void pair_free(struct pair *p)
{
    dc__dtls_free(p->client);
    dc__dtls_free(p->server);
}

static void keys_match_crosswise(struct pair *p, enum dc__srtp_profile want,
                                 struct dc__srtp_keys *ck, struct dc__srtp_keys *sk)
{
    assert_int_equal(dc__dtls_state(p->client), DC__DTLS_CONNECTED);
    assert_int_equal(dc__dtls_state(p->server), DC__DTLS_CONNECTED);
    assert_int_equal(dc__dtls_srtp_keys(p->client, ck), 0);
    assert_int_equal(dc__dtls_srtp_keys(p->server, sk), 0);
    assert_int_equal(ck->profile, want);
    assert_int_equal(sk->profile, want);
    size_t kl, sl;
    assert_int_equal(dc__srtp_profile_lengths(want, &kl, &sl), 0);
    assert_int_equal(ck->key_len, kl);
    assert_int_equal(ck->salt_len, sl);
    assert_memory_equal(ck->local_key, sk->remote_key, kl);
    assert_memory_equal(ck->local_salt, sk->remote_salt, sl);
    assert_memory_equal(ck->remote_key, sk->local_key, kl);
    assert_memory_equal(ck->remote_salt, sk->local_salt, sl);
    assert_memory_not_equal(ck->local_key, ck->remote_key, kl);
}

/* A minimal RTP packet: V=2, PT 111, given seq, SSRC, payload of n bytes. */
static size_t rtp_packet(uint8_t *buf, uint16_t seq, uint32_t ssrc, size_t n)
{
    buf[0] = 0x80;
    buf[1] = 111;
    buf[2] = (uint8_t)(seq >> 8);
    buf[3] = (uint8_t)seq;
    uint32_t ts = (uint32_t)seq * 960;
    for (int i = 0; i < 4; i++) {
        buf[4 + i] = (uint8_t)(ts >> (24 - 8 * i));
        buf[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
    }
    for (size_t i = 0; i < n; i++)
        buf[12 + i] = (uint8_t)(i * 7 + seq);
    return 12 + n;
}

/* RTCP receiver report with no report blocks (8 bytes) followed by nothing. */
static size_t rtcp_packet(uint8_t *buf, uint32_t ssrc)
{
    buf[0] = 0x80;
    buf[1] = 201;
    buf[2] = 0;
    buf[3] = 1;
    for (int i = 0; i < 4; i++)
        buf[4 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
    return 8;
}

/* Sender protects with its keys, receiver unprotects with its own: RTP and
 * RTCP, then tampered and replayed packets are refused. */
static void srtp_exchange(const struct dc__srtp_keys *tx_keys, const struct dc__srtp_keys *rx_keys)
{
    dc__srtp *tx, *rx;
    assert_int_equal(dc__srtp_new(tx_keys, &tx), 0);
    assert_int_equal(dc__srtp_new(rx_keys, &rx), 0);
    _Alignas(4) uint8_t pkt[256], plain[256], saved[256];
    size_t over = dc__srtp_overhead_rtp(tx_keys->profile);

    for (uint16_t seq = 1000; seq < 1005; seq++) {
        size_t n = rtp_packet(pkt, seq, 0x11223344, 80), plen = n;
        memcpy(plain, pkt, n);
        assert_int_equal(dc__srtp_protect_rtp(tx, pkt, &n, sizeof(pkt)), 0);
        assert_int_equal(n, plen + over);
        assert_memory_not_equal(pkt + 12, plain + 12, 80); /* payload is encrypted */
        memcpy(saved, pkt, n);
        size_t sn = n;
        assert_int_equal(dc__srtp_unprotect_rtp(rx, pkt, &n), 0);
        assert_int_equal(n, plen);
        assert_memory_equal(pkt, plain, plen);
        /* the same packet again is a replay */
        assert_int_equal(dc__srtp_unprotect_rtp(rx, saved, &sn), DC_ESRTP);
    }
    /* one flipped payload bit fails authentication */
    size_t n = rtp_packet(pkt, 2000, 0x11223344, 80);
    assert_int_equal(dc__srtp_protect_rtp(tx, pkt, &n, sizeof(pkt)), 0);
    pkt[20] ^= 0x01;
    assert_int_equal(dc__srtp_unprotect_rtp(rx, pkt, &n), DC_ESRTP);
    /* no room for the tag */
    n = rtp_packet(pkt, 2001, 0x11223344, 80);
    assert_int_equal(dc__srtp_protect_rtp(tx, pkt, &n, n + over - 1), DC_EINVAL);

    /* RTCP */
    size_t rn = rtcp_packet(pkt, 0x11223344), rplen = rn;
    memcpy(plain, pkt, rn);
    assert_int_equal(dc__srtp_protect_rtcp(tx, pkt, &rn, sizeof(pkt)), 0);
    assert_int_equal(rn, rplen + dc__srtp_overhead_rtcp(tx_keys->profile));
    memcpy(saved, pkt, rn);
    size_t rsn = rn;
    assert_int_equal(dc__srtp_unprotect_rtcp(rx, pkt, &rn), 0);
    assert_int_equal(rn, rplen);
    assert_memory_equal(pkt, plain, rplen);
    assert_int_equal(dc__srtp_unprotect_rtcp(rx, saved, &rsn), DC_ESRTP); /* replay */
    rn = rtcp_packet(pkt, 0x11223344);
    assert_int_equal(dc__srtp_protect_rtcp(tx, pkt, &rn, sizeof(pkt)), 0);
    pkt[rn - 1] ^= 0x80; /* tampered tag */
    assert_int_equal(dc__srtp_unprotect_rtcp(rx, pkt, &rn), DC_ESRTP);

    dc__srtp_free(tx);
    dc__srtp_free(rx);
}

static void handshake_profile(enum dc__srtp_profile only, enum dc__srtp_profile want)
{
    struct pair p;
    struct dc__srtp_keys ck, sk;
    pair_new(&p, NULL, NULL);
    if (only)
        assert_int_equal(dc__dtls_set_srtp_profile(p.client, only), 0);
    assert_int_equal(run_handshake(&p), 0); /* no loss: no timer needed */
    keys_match_crosswise(&p, want, &ck, &sk);
    assert_int_equal(dc__dtls_timeout_ms(p.client), -1);
    assert_int_equal(dc__dtls_timeout_ms(p.server), -1);
    assert_true(p.c2s.max_len <= DC__DTLS_MTU && p.s2c.max_len <= DC__DTLS_MTU);
    assert_int_equal(p.c2s.fragments + p.s2c.fragments, 0); /* everything fits in 1200 */
    srtp_exchange(&ck, &sk);                                /* client -> server */
    srtp_exchange(&sk, &ck);                                /* server -> client */
    dc__srtp_keys_wipe(&ck);
    dc__srtp_keys_wipe(&sk);
    pair_free(&p);
}

static void default_negotiates_gcm(void **state)
{
    (void)state;
    handshake_profile(0, DC__SRTP_AEAD_AES_128_GCM);
}

static void aes_cm_when_client_offers_only_it(void **state)
{
    (void)state;
    handshake_profile(DC__SRTP_AES128_CM_SHA1_80, DC__SRTP_AES128_CM_SHA1_80);
}

/* The ClientHello is lost: only the client's retransmission timer can save the
 * handshake. */
static void lost_client_hello_is_retransmitted(void **state)
{
    (void)state;
    struct pair p;
    struct dc__srtp_keys ck, sk;
    pair_new(&p, NULL, NULL);
    p.c2s.drop = 1;
    assert_int_equal(dc__dtls_start(p.client), 0);
    assert_int_equal(p.c2s.sent, 1);
    int64_t t = dc__dtls_timeout_ms(p.client);
    assert_true(t > 0 && t <= 250);
    assert_int_equal(dc__dtls_on_timeout(p.client), 0); /* too early: nothing resent */
    assert_int_equal(p.c2s.sent, 1);
    assert_true(run_handshake(&p) >= 1);
    assert_true(p.c2s.sent >= 2);
    keys_match_crosswise(&p, DC__SRTP_AEAD_AES_128_GCM, &ck, &sk);
    pair_free(&p);
}

/* MTU 300 splits the Certificate messages (an ECDSA certificate alone is ~400
 * bytes) over several datagrams, and the server's whole first flight and then
 * the client's second flight are lost. */
static void fragmented_flights_survive_loss(void **state)
{
    (void)state;
    struct pair p;
    struct dc__srtp_keys ck, sk;
    pair_new(&p, NULL, NULL);
    assert_int_equal(dc__dtls_set_mtu(p.client, 300), 0);
    assert_int_equal(dc__dtls_set_mtu(p.server, 300), 0);
    assert_int_equal(dc__dtls_set_mtu(p.server, 100), DC_EINVAL);
    assert_int_equal(dc__dtls_start(p.server), 0);
    assert_int_equal(dc__dtls_start(p.client), 0);
    p.s2c.drop = 1000; /* everything the server sends in its first flight */
    pump(&p);
    int first_flight = p.s2c.sent;
    assert_true(first_flight >= 3); /* ~640 bytes in 300-byte datagrams */
    assert_true(p.s2c.fragments >= 1);
    int64_t t = dc__dtls_timeout_ms(p.server);
    assert_true(t >= 0 && t <= 250);
    p.s2c.drop = 0;
    p.c2s.drop = 1000; /* the client's answer to the retransmitted flight */
    int client_sent = p.c2s.sent;
    usleep((useconds_t)(t * 1000 + 2000));
    assert_int_equal(dc__dtls_on_timeout(p.server), 0); /* the client's timer is left alone */
    assert_true(p.s2c.sent >= 2 * first_flight);        /* the server resent its flight */
    pump(&p);
    assert_true(p.c2s.sent > client_sent); /* the client answered; all of it lost */
    assert_int_equal(dc__dtls_state(p.client), DC__DTLS_HANDSHAKING);
    assert_int_equal(dc__dtls_state(p.server), DC__DTLS_HANDSHAKING);
    client_sent = p.c2s.sent;
    p.c2s.drop = 0;
    assert_true(run_handshake(&p) >= 1);
    assert_true(p.c2s.sent > client_sent); /* the client resent its flight */
    keys_match_crosswise(&p, DC__SRTP_AEAD_AES_128_GCM, &ck, &sk);
    assert_true(p.c2s.max_len <= 300 && p.s2c.max_len <= 300);
    srtp_exchange(&ck, &sk);
    pair_free(&p);
}

/* The server's final flight (ChangeCipherSpec, Finished) is lost after the server already
 * counts as connected: the client's retransmitted flight must make it resend from CONNECTED. */
static void lost_final_flight_is_resent_after_connect(void **state)
{
    (void)state;
    struct pair p;
    struct dc__srtp_keys ck, sk;
    pair_new(&p, NULL, NULL);
    assert_int_equal(dc__dtls_start(p.server), 0);
    assert_int_equal(dc__dtls_start(p.client), 0);
    deliver(&p.c2s, p.server); /* ClientHello */
    deliver(&p.s2c, p.client); /* ServerHello ... ServerHelloDone */
    p.s2c.drop = 1000;
    int server_sent = p.s2c.sent;
    deliver(&p.c2s, p.server); /* Certificate ... Finished */
    assert_true(p.s2c.sent > server_sent);
    assert_int_equal(dc__dtls_state(p.server), DC__DTLS_CONNECTED);
    assert_int_equal(dc__dtls_state(p.client), DC__DTLS_HANDSHAKING);
    p.s2c.drop = 0;
    server_sent = p.s2c.sent;
    assert_true(run_handshake(&p) >= 1);
    assert_true(p.s2c.sent > server_sent);
    keys_match_crosswise(&p, DC__SRTP_AEAD_AES_128_GCM, &ck, &sk);
    pair_free(&p);
}

static void check_fingerprint_failure(int wrong_side_is_client)
{
    struct pair p;
    struct dc__srtp_keys k;
    uint8_t wrong[DC__DTLS_FP_LEN];
    const uint8_t *real = wrong_side_is_client ? dc__dtls_ctx_fingerprint_raw(g_ctx_b)
                                               : dc__dtls_ctx_fingerprint_raw(g_ctx_a);
    memcpy(wrong, real, sizeof(wrong));
    wrong[31] ^= 0x01;
    if (wrong_side_is_client)
        pair_new(&p, wrong, NULL);
    else
        pair_new(&p, NULL, wrong);
    dc__dtls *victim = wrong_side_is_client ? p.client : p.server;
    run_handshake(&p);
    assert_int_equal(dc__dtls_state(victim), DC__DTLS_FAILED);
    assert_int_equal(dc__dtls_error(victim), DC_EFINGERPRINT);
    memset(&k, 0xAA, sizeof(k));
    assert_int_equal(dc__dtls_srtp_keys(victim, &k), DC_ESTATE);
    assert_int_equal(k.key_len, 0xAA); /* untouched: no keys leave the endpoint */
    uint8_t junk[13] = {22, 0xfe, 0xfd};
    assert_int_equal(dc__dtls_input(victim, junk, sizeof(junk)), DC_EFINGERPRINT);
    pair_free(&p);
}

static void wrong_fingerprint_at_client(void **state)
{
    (void)state;
    check_fingerprint_failure(1);
}

static void wrong_fingerprint_at_server(void **state)
{
    (void)state;
    check_fingerprint_failure(0);
}

/* Garbage and a forged plaintext alert after the handshake are dropped; a real
 * close_notify closes. */
static void garbage_ignored_close_notify_closes(void **state)
{
    (void)state;
    struct pair p;
    pair_new(&p, NULL, NULL);
    run_handshake(&p);
    assert_int_equal(dc__dtls_state(p.server), DC__DTLS_CONNECTED);
    uint8_t garbage[100];
    for (size_t i = 0; i < sizeof(garbage); i++)
        garbage[i] = (uint8_t)(i * 37 + 5);
    garbage[0] = 23; /* looks like application data */
    assert_int_equal(dc__dtls_input(p.server, garbage, sizeof(garbage)), 0);
    /* epoch 0 fatal alert (handshake_failure): not under the negotiated keys */
    uint8_t alert[] = {21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 2, 2, 40};
    assert_int_equal(dc__dtls_input(p.server, alert, sizeof(alert)), 0);
    assert_int_equal(dc__dtls_state(p.server), DC__DTLS_CONNECTED);

    dc__dtls_close(p.client);
    assert_int_equal(dc__dtls_state(p.client), DC__DTLS_CLOSED);
    assert_int_equal(p.c2s.tail - p.c2s.head, 1); /* the close_notify */
    pump(&p);
    assert_int_equal(dc__dtls_state(p.server), DC__DTLS_CLOSED);
    assert_int_equal(dc__dtls_error(p.server), DC_ECLOSED);
    assert_int_equal(dc__dtls_input(p.server, garbage, sizeof(garbage)), DC_ECLOSED);
    pair_free(&p);
}

/* Endpoints from the shared contexts handshake on several threads at once (as relay workers do)
 * and each thread's SRTP sessions work. (The helpers' cmocka asserts only fire on a failure,
 * which then aborts the run rather than reporting cleanly.) */
static void *thread_handshake(void *arg)
{
    int *ok = arg;
    for (int i = 0; i < 5; i++) {
        struct pair p;
        struct dc__srtp_keys ck, sk;
        pair_new(&p, NULL, NULL);
        run_handshake(&p);
        if (dc__dtls_srtp_keys(p.client, &ck) == 0 && dc__dtls_srtp_keys(p.server, &sk) == 0 &&
            memcmp(ck.local_key, sk.remote_key, ck.key_len) == 0) {
            dc__srtp *tx = NULL, *rx = NULL;
            _Alignas(4) uint8_t pkt[256];
            size_t n = rtp_packet(pkt, 7, 0x55, 80);
            if (dc__srtp_new(&ck, &tx) == 0 && dc__srtp_new(&sk, &rx) == 0 &&
                dc__srtp_protect_rtp(tx, pkt, &n, sizeof(pkt)) == 0 &&
                dc__srtp_unprotect_rtp(rx, pkt, &n) == 0 && n == 92)
                (*ok)++;
            dc__srtp_free(tx);
            dc__srtp_free(rx);
        }
        pair_free(&p);
    }
    return NULL;
}

static void handshakes_on_several_threads(void **state)
{
    (void)state;
    pthread_t th[4];
    int ok[4] = {0};
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, thread_handshake, &ok[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ok[i], 5);
    }
}

static void fingerprint_text_and_parse(void **state)
{
    (void)state;
    const char *fp = dc__dtls_ctx_fingerprint(g_ctx_a);
    uint8_t raw[DC__DTLS_FP_LEN];
    assert_int_equal(strlen(fp), 95);
    assert_int_equal(dc__dtls_fingerprint_parse(fp, raw), 0);
    assert_memory_equal(raw, dc__dtls_ctx_fingerprint_raw(g_ctx_a), DC__DTLS_FP_LEN);
    assert_memory_not_equal(raw, dc__dtls_ctx_fingerprint_raw(g_ctx_b), DC__DTLS_FP_LEN);
    char lower[96];
    for (size_t i = 0; i < 96; i++)
        lower[i] = (char)((fp[i] >= 'A' && fp[i] <= 'F') ? fp[i] + 32 : fp[i]);
    assert_int_equal(dc__dtls_fingerprint_parse(lower, raw), 0);
    assert_memory_equal(raw, dc__dtls_ctx_fingerprint_raw(g_ctx_a), DC__DTLS_FP_LEN);
    lower[2] = '-';
    assert_int_equal(dc__dtls_fingerprint_parse(lower, raw), DC_ESDP);
    assert_int_equal(dc__dtls_fingerprint_parse("AB:CD", raw), DC_ESDP);
    lower[2] = ':';
    lower[0] = 'g';
    assert_int_equal(dc__dtls_fingerprint_parse(lower, raw), DC_ESDP);
}

static void srtp_rejects_bad_arguments(void **state)
{
    (void)state;
    struct dc__srtp_keys k;
    dc__srtp *s;
    memset(&k, 0x5a, sizeof(k));
    k.profile = DC__SRTP_AES128_CM_SHA1_80;
    k.key_len = 16;
    k.salt_len = 12; /* GCM's salt length with AES_CM */
    assert_int_equal(dc__srtp_new(&k, &s), DC_EINVAL);
    k.salt_len = 14;
    assert_int_equal(dc__srtp_new(&k, &s), 0);
    _Alignas(4) uint8_t buf[128];
    size_t n = rtp_packet(buf, 1, 1, 20);
    size_t m = n;
    assert_int_equal(dc__srtp_protect_rtp(s, buf + 1, &m, sizeof(buf) - 1), DC_EINVAL);
    m = 11;
    assert_int_equal(dc__srtp_unprotect_rtp(s, buf, &m), DC_EINVAL);
    m = 40;
    memset(buf, 0x80, 40); /* never protected: garbage */
    assert_int_equal(dc__srtp_unprotect_rtp(s, buf, &m), DC_ESRTP);
    dc__srtp_free(s);
}

/* Thread CPU time, not wall time: the figure should not depend on what else the machine runs. */
static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Not asserted: prints what one protect + unprotect of an 80-byte Opus payload
 * costs. */
static void srtp_micro_benchmark(void **state)
{
    (void)state;
    enum dc__srtp_profile profiles[] = {DC__SRTP_AES128_CM_SHA1_80, DC__SRTP_AEAD_AES_128_GCM};
    for (size_t pi = 0; pi < 2; pi++) {
        struct dc__srtp_keys a, b;
        memset(&a, 0, sizeof(a));
        a.profile = profiles[pi];
        size_t kl, sl;
        assert_int_equal(dc__srtp_profile_lengths(a.profile, &kl, &sl), 0);
        a.key_len = (uint8_t)kl;
        a.salt_len = (uint8_t)sl;
        for (size_t i = 0; i < kl; i++)
            a.local_key[i] = (uint8_t)i, a.remote_key[i] = (uint8_t)(i + 100);
        for (size_t i = 0; i < sl; i++)
            a.local_salt[i] = (uint8_t)(i + 50), a.remote_salt[i] = (uint8_t)(i + 150);
        b = a;
        memcpy(b.local_key, a.remote_key, kl);
        memcpy(b.remote_key, a.local_key, kl);
        memcpy(b.local_salt, a.remote_salt, sl);
        memcpy(b.remote_salt, a.local_salt, sl);
        dc__srtp *tx, *rx;
        assert_int_equal(dc__srtp_new(&a, &tx), 0);
        assert_int_equal(dc__srtp_new(&b, &rx), 0);
        _Alignas(4) uint8_t pkt[256];
        const int iters = 100000;
        double t0 = now_ns();
        for (int i = 0; i < iters; i++) {
            size_t n = rtp_packet(pkt, (uint16_t)i, 0xabcdef01, 80);
            assert_int_equal(dc__srtp_protect_rtp(tx, pkt, &n, sizeof(pkt)), 0);
            assert_int_equal(dc__srtp_unprotect_rtp(rx, pkt, &n), 0);
        }
        double ns = (now_ns() - t0) / iters;
        printf("bench: %s protect+unprotect of 80-byte RTP payload: %.0f CPU-ns/packet\n",
               dc__srtp_profile_name(a.profile), ns);
        dc__srtp_free(tx);
        dc__srtp_free(rx);
    }
}

static int setup(void **state)
{
    (void)state;
    if (dc__dtls_ctx_new(&g_ctx_a) != 0 || dc__dtls_ctx_new(&g_ctx_b) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dc__dtls_ctx_free(g_ctx_a);
    dc__dtls_ctx_free(g_ctx_b);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fingerprint_text_and_parse),
        cmocka_unit_test(default_negotiates_gcm),
        cmocka_unit_test(aes_cm_when_client_offers_only_it),
        cmocka_unit_test(lost_client_hello_is_retransmitted),
        cmocka_unit_test(fragmented_flights_survive_loss),
        cmocka_unit_test(lost_final_flight_is_resent_after_connect),
        cmocka_unit_test(wrong_fingerprint_at_client),
        cmocka_unit_test(wrong_fingerprint_at_server),
        cmocka_unit_test(garbage_ignored_close_notify_closes),
        cmocka_unit_test(handshakes_on_several_threads),
        cmocka_unit_test(srtp_rejects_bad_arguments),
        cmocka_unit_test(srtp_micro_benchmark),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
