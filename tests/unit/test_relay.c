/* The media relay (src/server/relay.c, relay_leg.c) over real loopback UDP: two
 * test peers (media_peer.c) offer, run ICE + DTLS + SRTP against it, and
 * exchange RTP through it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "dcall/errors.h"
#include "media/sdp.h"
#include "media/stun.h"
#include "media_peer.h"
#include "server/relay.h"

#define MAX_EVENTS 256

typedef struct t_ctx {
    uv_loop_t loop;
    dc__relay *relay;
    dc__relay_event ev[MAX_EVENTS];
    int nev;
    dc__mpeer *a, *b;
    char answer_a[DC_SDP_MAX_LEN], answer_b[DC_SDP_MAX_LEN]; /* the latest answers */
} t_ctx;

static void on_event(void *ud, const dc__relay_event *ev)
{
    t_ctx *t = ud;
    if (t->nev < MAX_EVENTS)
        t->ev[t->nev++] = *ev;
}

static int count_ev(const t_ctx *t, dc__relay_event_type type, const char *leg)
{
    int n = 0;
    for (int i = 0; i < t->nev; i++)
        if (t->ev[i].type == type && strcmp(t->ev[i].leg_id, leg) == 0)
            n++;
    return n;
}

static const dc__relay_event *last_ev(const t_ctx *t, dc__relay_event_type type, const char *leg)
{
    for (int i = t->nev - 1; i >= 0; i--)
        if (t->ev[i].type == type && strcmp(t->ev[i].leg_id, leg) == 0)
            return &t->ev[i];
    return NULL;
}

/* Drives both peers and the loop for ms milliseconds. */
static void pump(t_ctx *t, int ms)
{
    int64_t end = dc__mono_ms() + ms;
    do {
        if (t->a)
            dc__mpeer_poll(t->a, 1);
        if (t->b)
            dc__mpeer_poll(t->b, 1);
        uv_run(&t->loop, UV_RUN_NOWAIT);
    } while (dc__mono_ms() < end);
}

/* Pumps until the event arrives (or ms pass). */
static int wait_ev(t_ctx *t, dc__relay_event_type type, const char *leg, int ms)
{
    int64_t end = dc__mono_ms() + ms;
    while (count_ev(t, type, leg) == 0 && dc__mono_ms() < end)
        pump(t, 5);
    return count_ev(t, type, leg) > 0;
}

static int start_relay(t_ctx *t, int grace_s, int tcp)
{
    memset(t, 0, sizeof *t);
    uv_loop_init(&t->loop);
    dc__relay_config cfg = {.bind_ip = "127.0.0.1", .port = 0, .workers = 2, .tcp = tcp};
    return dc__relay_start(&cfg, &t->loop, grace_s, on_event, t, &t->relay);
}

static int setup(void **state)
{
    t_ctx *t = calloc(1, sizeof *t);
    if (!t || start_relay(t, 4, 0) != 0)
        return -1;
    *state = t;
    return 0;
}

static int setup_tcp(void **state)
{
    t_ctx *t = calloc(1, sizeof *t);
    if (!t || start_relay(t, 4, 1) != 0)
        return -1;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    t_ctx *t = *state;
    dc__relay_stop(t->relay);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    uv_loop_close(&t->loop);
    dc__mpeer_free(t->a);
    dc__mpeer_free(t->b);
    free(t);
    return 0;
}

static void offer(t_ctx *t, dc__mpeer *p, const char *call, const char *leg)
{
    char *answer = NULL;
    const char *field = NULL;
    const char *o = dc__mpeer_offer(p);
    assert_int_equal(dc__relay_offer(t->relay, call, leg, o, strlen(o), &answer, &field), 0);
    assert_non_null(answer);
    assert_non_null(strstr(answer, "a=ice-lite"));
    assert_non_null(strstr(answer, "a=setup:passive"));
    assert_int_equal(dc__mpeer_answer(p, answer, strlen(answer)), 0);
    char *keep = p == t->a ? t->answer_a : t->answer_b;
    snprintf(keep, DC_SDP_MAX_LEN, "%s", answer);
    free(answer);
}

/* Two peers on call "c1" as legs "A" (over ICE-TCP when tcp_a) and "B", connected (CONNECTED
 * for both) and linked. */
static void connect_pair_via(t_ctx *t, int wrong_fp_b, int tcp_a)
{
    assert_int_equal(dc__mpeer_new("127.0.0.1", 0, &t->a), 0);
    assert_int_equal(dc__mpeer_new("127.0.0.1", wrong_fp_b, &t->b), 0);
    if (tcp_a)
        dc__mpeer_use_tcp(t->a);
    offer(t, t->a, "c1", "A");
    offer(t, t->b, "c1", "B");
    assert_true(wait_ev(t, DC__RELAY_EV_CONNECTED, "A", 3000));
    if (!wrong_fp_b)
        assert_true(wait_ev(t, DC__RELAY_EV_CONNECTED, "B", 3000));
    int64_t end = dc__mono_ms() + 2000;
    while (!dc__mpeer_srtp_ready(t->a) && dc__mono_ms() < end)
        pump(t, 5);
    assert_true(dc__mpeer_srtp_ready(t->a));
    assert_true(dc__mpeer_ice_ok(t->a));
    assert_int_equal(dc__relay_link(t->relay, "c1", "A", "B"), 0);
}

static void connect_pair(t_ctx *t, int wrong_fp_b)
{
    connect_pair_via(t, wrong_fp_b, 0);
}

/* Sends n packets each way, 20 ms apart; payloads "A<i>" / "B<i>". With lossy_a, every tenth
 * packet of A's is lost on the way. */
static void talk_lossy(t_ctx *t, int n, int base, int lossy_a)
{
    for (int i = 0; i < n; i++) {
        char pa[16], pb[16];
        snprintf(pa, sizeof pa, "A%05d", base + i);
        snprintf(pb, sizeof pb, "B%05d", base + i);
        if (t->a && lossy_a && (base + i) % 10 == 9)
            dc__mpeer_skip_rtp(t->a);
        else if (t->a)
            dc__mpeer_send_rtp(t->a, pa, strlen(pa));
        if (t->b && dc__mpeer_srtp_ready(t->b))
            dc__mpeer_send_rtp(t->b, pb, strlen(pb));
        pump(t, 20);
    }
    pump(t, 60);
}

static void talk(t_ctx *t, int n, int base)
{
    talk_lossy(t, n, base, 0);
}

/* The last k packets a peer received are one stream: same SSRC, consecutive
 * sequence numbers, timestamps advancing. */
static void assert_continuous(const dc__mpeer *p, size_t k, uint32_t ssrc)
{
    dc__mpeer_pkt pk[DC__MPEER_KEEP];
    size_t n = dc__mpeer_recent(p, pk, k);
    assert_int_equal(n, k);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(pk[i].ssrc, ssrc);
        assert_int_equal(pk[i].pt, 111);
        if (i == 0)
            continue;
        assert_int_equal((uint16_t)(pk[i].seq - pk[i - 1].seq), 1);
        int32_t dts = (int32_t)(pk[i].ts - pk[i - 1].ts);
        assert_true(dts > 0);
    }
}

static void media_flows_both_ways(void **state)
{
    t_ctx *t = *state;
    connect_pair(t, 0);
    talk(t, 50, 0);
    assert_true(dc__mpeer_received(t->b) >= 48);
    assert_true(dc__mpeer_received(t->a) >= 48);
    assert_int_equal(count_ev(t, DC__RELAY_EV_FLOWING, "A"), 1);
    assert_int_equal(count_ev(t, DC__RELAY_EV_FLOWING, "B"), 1);
    /* B hears A's payloads, on the SSRC its answer announced, one continuous
     * stream. */
    dc__mpeer_pkt pk[DC__MPEER_KEEP];
    size_t n = dc__mpeer_recent(t->b, pk, 1);
    assert_int_equal(n, 1);
    assert_memory_equal(pk[0].payload, "A00049", 6);
    assert_continuous(t->b, 40, dc__mpeer_answer_ssrc(t->b));
    assert_continuous(t->a, 40, dc__mpeer_answer_ssrc(t->a));
    uint16_t before = pk[0].seq;

    /* A restarts its sender (new SSRC, new sequence base): B's stream just goes
     * on, and B's replay protection never trips. */
    size_t bad = dc__mpeer_bad(t->b);
    dc__mpeer_restart_stream(t->a);
    talk(t, 20, 50);
    assert_int_equal(dc__mpeer_bad(t->b), bad);
    assert_continuous(t->b, 60, dc__mpeer_answer_ssrc(t->b));
    n = dc__mpeer_recent(t->b, pk, 1);
    assert_memory_equal(pk[0].payload, "A00069", 6);
    assert_int_equal((uint16_t)(pk[0].seq - before), 20);

    /* Quality for each party within 5 s of media starting. From now on a tenth of what A sends
     * is lost before the relay: B hears that loss once (not once per leg), A hears none. */
    int64_t end = dc__mono_ms() + 4000;
    int base = 70;
    while ((!count_ev(t, DC__RELAY_EV_QUALITY, "A") || !count_ev(t, DC__RELAY_EV_QUALITY, "B")) &&
           dc__mono_ms() < end) {
        talk_lossy(t, 5, base, 1);
        base += 5;
    }
    const char *legs[] = {"A", "B"};
    for (int i = 0; i < 2; i++) {
        const dc__relay_event *q = last_ev(t, DC__RELAY_EV_QUALITY, legs[i]);
        assert_non_null(q);
        assert_string_equal(q->call_id, "c1");
        /* Loopback: small delay and jitter. */
        assert_true(q->rtt_ms >= 0 && q->rtt_ms < 50);
        assert_true(q->jitter_ms >= 0 && q->jitter_ms < 30);
    }
    const dc__relay_event *qa = last_ev(t, DC__RELAY_EV_QUALITY, "A");
    const dc__relay_event *qb = last_ev(t, DC__RELAY_EV_QUALITY, "B");
    assert_true(qa->loss_pct < 1.0);
    assert_true(qa->mos > 4.0 && qa->mos <= 4.5);
    /* B's report covers the ~4 s since media reached it: ~70 clean packets, then ~120 with a
     * tenth lost, ~6% counted once (counted for each leg it would be ~12%). */
    if (qb->loss_pct < 3.5 || qb->loss_pct > 9.0)
        fail_msg("B's loss %.2f%%, want about 6%%", qb->loss_pct);
    assert_true(qb->mos < qa->mos && qb->mos > 3.5);
    /* The peers got RTCP from the relay (SR with a report block). */
    assert_true(dc__mpeer_rtcp_received(t->a) >= 1);
    assert_true(dc__mpeer_rtcp_received(t->b) >= 1);
}

static void wrong_fingerprint_fails_without_media(void **state)
{
    t_ctx *t = *state;
    connect_pair(t, 1);
    assert_true(wait_ev(t, DC__RELAY_EV_FAILED, "B", 3000));
    assert_int_equal(last_ev(t, DC__RELAY_EV_FAILED, "B")->err, DC_EFINGERPRINT);
    assert_int_equal(count_ev(t, DC__RELAY_EV_CONNECTED, "B"), 0);
    /* B's client may believe the handshake finished (the relay checks the certificate once it
     * has it), but the relay keys no SRTP for B: nothing flows either way. */
    talk(t, 10, 0);
    assert_int_equal(dc__mpeer_received(t->b), 0);
    assert_int_equal(dc__mpeer_received(t->a), 0);
    assert_int_equal(count_ev(t, DC__RELAY_EV_FLOWING, "A"), 0);
    assert_int_equal(count_ev(t, DC__RELAY_EV_FLOWING, "B"), 0);
}

/* The value of an SDP attribute line ("a=ice-ufrag:" ...) or the m=audio port. */
static void sdp_value(const char *sdp, const char *prefix, char *out, size_t cap)
{
    const char *u = strstr(sdp, prefix);
    assert_non_null(u);
    u += strlen(prefix);
    size_t n = strcspn(u, " \r\n");
    assert_true(n < cap);
    memcpy(out, u, n);
    out[n] = '\0';
}

/* Sends one check (no USE-CANDIDATE) from a fresh socket; 1 and the reply's class and error code
 * when the relay answered within wait_ms, else 0. */
static int stun_ask_on(t_ctx *t, int fd, const char *answer, const char *offer, const char *key,
                       int wait_ms, int *cls, int *code);

static int stun_ask(t_ctx *t, const char *answer, const char *offer, const char *key, int wait_ms,
                    int *cls, int *code)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int got = stun_ask_on(t, fd, answer, offer, key, wait_ms, cls, code);
    close(fd);
    return got;
}

/* The same from a given socket. */
static int stun_ask_on(t_ctx *t, int fd, const char *answer, const char *offer, const char *key,
                       int wait_ms, int *cls, int *code)
{
    char port[16], server_ufrag[80], client_ufrag[80], user[256];
    sdp_value(answer, "m=audio ", port, sizeof port);
    sdp_value(answer, "a=ice-ufrag:", server_ufrag, sizeof server_ufrag);
    sdp_value(offer, "a=ice-ufrag:", client_ufrag, sizeof client_ufrag);
    snprintf(user, sizeof user, "%s:%s", server_ufrag, client_ufrag);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    uint8_t tid[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, buf[512];
    struct dc__stun_check c = {.tid = tid,
                               .username = user,
                               .key = key,
                               .keylen = strlen(key),
                               .priority = 1,
                               .controlling = true};
    size_t n;
    assert_int_equal(dc__stun_build_binding_request(buf, sizeof buf, &c, &n), 0);
    sendto(fd, buf, n, 0, (struct sockaddr *)&to, sizeof to);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int got = 0;
    for (int i = 0; i < wait_ms / 10 && !got; i++) {
        pump(t, 1);
        got = poll(&pfd, 1, 9) > 0;
    }
    if (got) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        struct dc__stun_msg m;
        assert_true(r > 0);
        assert_int_equal(dc__stun_parse(buf, (size_t)r, &m), 0);
        assert_memory_equal(m.tid, tid, sizeof tid);
        *cls = m.cls;
        *code = m.error_code;
    }
    return got;
}

static void garbage_and_replays_are_dropped(void **state)
{
    t_ctx *t = *state;
    connect_pair(t, 0);
    talk(t, 10, 0);
    size_t got_b = dc__mpeer_received(t->b);
    assert_true(got_b >= 9);

    /* Replays of A's last packet, and garbage of every kind from A's own address.
     */
    uint8_t last[1536], junk[200];
    size_t n = dc__mpeer_last_sent(t->a, last, sizeof last);
    for (int i = 0; i < 20; i++)
        dc__mpeer_send_raw(t->a, last, n);
    const uint8_t firsts[] = {0x00, 0x01, 0x16, 0x17, 0x80, 0x90, 0xff, 0x40};
    for (int i = 0; i < 400; i++) {
        dc__random(junk, sizeof junk);
        junk[0] = firsts[i % sizeof firsts];
        if (i % 3 == 0)
            junk[1] = 200; /* "RTCP" */
        if (i % 5 == 0)
            memcpy(junk + 4, "\x21\x12\xa4\x42", 4); /* STUN magic cookie */
        dc__mpeer_send_raw(t->a, junk, 20 + (size_t)(i % 180));
    }
    /* A flood from an unknown address. */
    dc__mpeer *intruder = NULL;
    assert_int_equal(dc__mpeer_new("127.0.0.3", 0, &intruder), 0);
    const char *o = dc__mpeer_offer(intruder);
    char *ans = NULL;
    assert_int_equal(dc__relay_offer(t->relay, "c-other", "X", o, strlen(o), &ans, NULL), 0);
    assert_int_equal(dc__mpeer_answer(intruder, ans, strlen(ans)), 0);
    free(ans);
    for (int i = 0; i < 3000; i++) {
        dc__random(junk, sizeof junk);
        junk[0] = (uint8_t)(0x80 | (i & 0x3f));
        dc__mpeer_send_raw(intruder, junk, sizeof junk);
        dc__mpeer_send_raw(intruder, last, n); /* A's packet from the wrong address */
    }
    pump(t, 100);
    assert_int_equal(dc__mpeer_received(t->b), got_b); /* nothing got through */
    /* B's credentials with the wrong password: 401 (and no integrity to learn from). */
    int cls = 0, code = 0;
    assert_true(stun_ask(t, t->answer_b, dc__mpeer_offer(t->b), "wrongwrongwrongwrongwrong", 1000,
                         &cls, &code));
    assert_int_equal(cls, DC__STUN_ERROR);
    assert_int_equal(code, 401);
    dc__mpeer_free(intruder);

    /* The call still works both ways and no party saw a bad packet. */
    size_t bad_a = dc__mpeer_bad(t->a), bad_b = dc__mpeer_bad(t->b);
    talk(t, 10, 10);
    assert_true(dc__mpeer_received(t->b) >= got_b + 9);
    assert_int_equal(dc__mpeer_bad(t->a), bad_a);
    assert_int_equal(dc__mpeer_bad(t->b), bad_b);
    assert_continuous(t->b, 15, dc__mpeer_answer_ssrc(t->b));
}

static void moved_peer_keeps_media_flowing(void **state)
{
    t_ctx *t = *state;
    connect_pair(t, 0);
    talk(t, 10, 0);
    size_t got_a = dc__mpeer_received(t->a), got_b = dc__mpeer_received(t->b);
    assert_true(got_a >= 9 && got_b >= 9);
    /* A's network changes: new socket on 127.0.0.2, its next check moves the leg.
     */
    assert_int_equal(dc__mpeer_rebind(t->a, "127.0.0.2"), 0);
    talk(t, 25, 10);
    assert_true(dc__mpeer_received(t->b) >= got_b + 23);
    assert_true(dc__mpeer_received(t->a) >= got_a + 20); /* B's media reaches A's new address */
    assert_continuous(t->b, 30, dc__mpeer_answer_ssrc(t->b));
    assert_int_equal(count_ev(t, DC__RELAY_EV_SILENT, "A"), 0);
}

/* A client may send media on a pair it checked before nominating it: a checked address is
 * accepted (an unchecked one is not), and the leg's path stays where it was nominated. */
static void checked_address_is_accepted(void **state)
{
    t_ctx *t = *state;
    connect_pair(t, 0);
    talk(t, 5, 0);
    char port[16];
    sdp_value(t->answer_a, "m=audio ", port, sizeof port);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    struct sockaddr_in from = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.4", &from.sin_addr);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof from), 0);
    uint8_t pkt[1536];
    size_t n;
    size_t got_b = dc__mpeer_received(t->b);
    assert_int_equal(dc__mpeer_next_rtp(t->a, "X00001", 6, pkt, sizeof pkt, &n), 0);
    sendto(fd, pkt, n, 0, (struct sockaddr *)&to, sizeof to);
    pump(t, 50);
    assert_int_equal(dc__mpeer_received(t->b), got_b); /* unchecked: dropped */

    char pwd[200];
    int cls = 0, code = 0;
    sdp_value(t->answer_a, "a=ice-pwd:", pwd, sizeof pwd);
    assert_true(stun_ask_on(t, fd, t->answer_a, dc__mpeer_offer(t->a), pwd, 1000, &cls, &code));
    assert_int_equal(cls, DC__STUN_SUCCESS);
    assert_int_equal(dc__mpeer_next_rtp(t->a, "X00002", 6, pkt, sizeof pkt, &n), 0);
    sendto(fd, pkt, n, 0, (struct sockaddr *)&to, sizeof to);
    pump(t, 50);
    assert_int_equal(dc__mpeer_received(t->b), got_b + 1);
    dc__mpeer_pkt last;
    assert_int_equal(dc__mpeer_recent(t->b, &last, 1), 1);
    assert_memory_equal(last.payload, "X00002", 6);
    /* B's media still goes to A's nominated address. */
    size_t got_a = dc__mpeer_received(t->a);
    talk(t, 5, 5);
    assert_true(dc__mpeer_received(t->a) >= got_a + 4);
    close(fd);
}

static void ice_restart_keeps_media(void **state)
{
    t_ctx *t = *state;
    connect_pair(t, 0);
    talk(t, 10, 0);
    char old_answer[DC_SDP_MAX_LEN], old_offer[DC_SDP_MAX_LEN], old_pwd[200], pwd[200];
    snprintf(old_answer, sizeof old_answer, "%s", t->answer_a);
    snprintf(old_offer, sizeof old_offer, "%s", dc__mpeer_offer(t->a));
    sdp_value(old_answer, "a=ice-pwd:", old_pwd, sizeof old_pwd);

    /* A re-offer with unchanged credentials gets the same credentials back. */
    offer(t, t->a, "c1", "A");
    sdp_value(t->answer_a, "a=ice-pwd:", pwd, sizeof pwd);
    assert_string_equal(pwd, old_pwd);

    /* New client credentials: new server credentials too. */
    assert_int_equal(dc__mpeer_ice_restart(t->a), 0);
    offer(t, t->a, "c1", "A");
    sdp_value(t->answer_a, "a=ice-pwd:", pwd, sizeof pwd);
    assert_string_not_equal(pwd, old_pwd);
    /* Until the new pair is nominated the old credentials still work... */
    int cls = 0, code = 0;
    dc__mpeer_set_mute(t->a, 1);
    assert_true(stun_ask(t, old_answer, old_offer, old_pwd, 1000, &cls, &code));
    assert_int_equal(cls, DC__STUN_SUCCESS);
    dc__mpeer_set_mute(t->a, 0);
    /* ...then A checks with the new ones (nominating), media goes on, the old ones retire. */
    size_t got_b = dc__mpeer_received(t->b);
    talk(t, 20, 10);
    assert_true(dc__mpeer_ice_ok(t->a));
    assert_true(dc__mpeer_received(t->b) >= got_b + 19);
    assert_continuous(t->b, 25, dc__mpeer_answer_ssrc(t->b));
    assert_false(stun_ask(t, old_answer, old_offer, old_pwd, 300, &cls, &code));
    assert_int_equal(count_ev(t, DC__RELAY_EV_FAILED, "A"), 0);
}

static void silence_then_back_then_lost(void **state)
{
    t_ctx *t = *state; /* grace is 4 s */
    connect_pair(t, 0);
    talk(t, 5, 0);
    dc__mpeer_set_mute(t->a, 1);
    assert_true(wait_ev(t, DC__RELAY_EV_SILENT, "A", 3600));
    assert_int_equal(count_ev(t, DC__RELAY_EV_SILENT, "B"), 0); /* B talks on */
    assert_int_equal(count_ev(t, DC__RELAY_EV_BACK, "A"), 0);
    dc__mpeer_set_mute(t->a, 0);
    talk(t, 5, 5);
    assert_int_equal(count_ev(t, DC__RELAY_EV_BACK, "A"), 1);
    dc__mpeer_set_mute(t->a, 1);
    assert_true(wait_ev(t, DC__RELAY_EV_LOST, "A", 4600));
    assert_int_equal(count_ev(t, DC__RELAY_EV_LOST, "B"), 0);
}

static void ice_tcp_carries_media(void **state)
{
    t_ctx *t = *state;
    connect_pair_via(t, 0, 1);
    /* The answer offers a passive TCP candidate below the UDP one. */
    const char *udp = strstr(t->answer_a, " udp 2130706431 ");
    const char *tcp = strstr(t->answer_a, " tcp 2124414975 ");
    assert_non_null(udp);
    assert_non_null(tcp);
    assert_non_null(strstr(tcp, "typ host tcptype passive"));
    talk(t, 30, 0);
    assert_true(dc__mpeer_received(t->b) >= 28);
    assert_true(dc__mpeer_received(t->a) >= 28);
    assert_continuous(t->b, 25, dc__mpeer_answer_ssrc(t->b));
    assert_continuous(t->a, 25, dc__mpeer_answer_ssrc(t->a));
    assert_int_equal(dc__mpeer_bad(t->a), 0);
    assert_int_equal(count_ev(t, DC__RELAY_EV_FLOWING, "A"), 1);
    assert_int_equal(count_ev(t, DC__RELAY_EV_FLOWING, "B"), 1);

    /* A stranger's connection that sends an impossible frame is closed; the call goes on. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)dc__relay_tcp_port(t->relay, 0))};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof to), 0);
    uint8_t junk[64] = {0xff, 0xff};
    assert_int_equal(send(fd, junk, sizeof junk, 0), (ssize_t)sizeof junk);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int closed = 0;
    for (int i = 0; i < 100 && !closed; i++) {
        pump(t, 1);
        closed = poll(&pfd, 1, 9) > 0 && recv(fd, junk, sizeof junk, 0) <= 0;
    }
    assert_true(closed);
    close(fd);
    size_t got_b = dc__mpeer_received(t->b);
    talk(t, 10, 30);
    assert_true(dc__mpeer_received(t->b) >= got_b + 9);
}

/* The answering device may offer only after the call is linked: its leg joins the call then. */
static void offer_after_link_joins_the_call(void **state)
{
    t_ctx *t = *state;
    assert_int_equal(dc__mpeer_new("127.0.0.1", 0, &t->a), 0);
    assert_int_equal(dc__mpeer_new("127.0.0.1", 0, &t->b), 0);
    offer(t, t->a, "c1", "A");
    assert_int_equal(dc__relay_link(t->relay, "c1", "A", "B"), 0);
    offer(t, t->b, "c1", "B");
    int64_t end = dc__mono_ms() + 3000;
    while ((!dc__mpeer_srtp_ready(t->a) || !dc__mpeer_srtp_ready(t->b)) && dc__mono_ms() < end)
        pump(t, 5);
    talk(t, 10, 0);
    assert_true(dc__mpeer_received(t->b) >= 9);
    assert_true(dc__mpeer_received(t->a) >= 9);
    assert_int_equal(count_ev(t, DC__RELAY_EV_FLOWING, "B"), 1);
}

static void bad_offer_names_the_field(void **state)
{
    t_ctx *t = *state;
    char *answer = (char *)1;
    const char *field = NULL;
    const char *sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n";
    assert_int_equal(dc__relay_offer(t->relay, "c1", "A", sdp, strlen(sdp), &answer, &field),
                     DC_ESDP);
    assert_null(answer);
    assert_non_null(field);
    assert_true(strlen(field) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(media_flows_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_fingerprint_fails_without_media, setup, teardown),
        cmocka_unit_test_setup_teardown(garbage_and_replays_are_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(moved_peer_keeps_media_flowing, setup, teardown),
        cmocka_unit_test_setup_teardown(checked_address_is_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(ice_restart_keeps_media, setup, teardown),
        cmocka_unit_test_setup_teardown(silence_then_back_then_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(ice_tcp_carries_media, setup_tcp, teardown),
        cmocka_unit_test_setup_teardown(offer_after_link_joins_the_call, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_offer_names_the_field, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
