/* The SDK's media leg (see media.h): UDP, ICE (controlling, aggressive nomination), DTLS client,
 * SRTP, RTP/RTCP, network switch and the pre-call network check, all on the client's loop. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "client_priv.h"
#include "common/util.h"
#include "media.h"
#include "media/dtls.h"
#include "media/quality.h"
#include "media/sdp.h"
#include "media/srtp.h"
#include "media/stun.h"

#define TICK_MS 20
#define CHECK_FAST_MS 50
#define CHECK_CONSENT_MS 2500
#define PROBE_CHECKS 10      /* the network check: this many checks 50 ms apart */
#define PROBE_WAIT_MS 500    /* after the last one, how long answers may take */
#define PROBE_GIVEUP_MS 3000 /* no check answered this long after the SDP answer: score 0 */
#define DEAD_MS 1000         /* nothing received for this long while media flows: re-bind */
#define RESTART_MS 2000      /* and still nothing this long after: ICE restart */
#define RTCP_MS 1000
#define STALL_MS 100   /* a tick this late means our loop (or process) did not run */
#define MAX_CATCHUP 10 /* frames the tick may run late before it skips ahead */
#define NTXN 32
#define RTP_HDR 12

/* DCALL_MEDIA_LOG=1: the leg's transitions on stderr (never keys or passwords). */
static void mlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mlog(const char *fmt, ...)
{
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("DCALL_MEDIA_LOG");
        on = e && *e && strcmp(e, "0") != 0;
    }
    if (!on)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dcall media %lld: ", (long long)dc__mono_ms());
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

struct txn {
    uint8_t id[12];
    int64_t sent_ms;
    uint64_t sent_ns; /* uv_hrtime: loopback RTTs are well under a millisecond */
    int used, probe;
};

struct rx_stats { /* RFC 3550 A.1 / A.3 receiver state for the server's stream */
    int have;
    uint32_t ssrc;
    uint16_t max_seq;
    uint32_t cycles, base_seq, received, expected_prior, received_prior;
    uint32_t lsr;        /* middle 32 bits of the last SR's NTP time */
    int64_t lsr_mono_ms; /* when it arrived */
};

struct dc__media {
    struct dc_client *c;
    uv_loop_t *loop;
    int handles; /* open uv handles */
    int closing;
    dc__dtls_ctx *dtls_ctx;
    uv_timer_t check_timer, dtls_timer, tick_timer;
    uv_udp_t *udp;
    int sockets_opened; /* for DCALL_MEDIA_BIND */
    int check_interval;

    int leg; /* a call's leg exists */
    char call_id[65];
    char ufrag[DC_ICE_UFRAG_LEN + 1], pwd[DC_ICE_PWD_LEN + 1];
    char pend_ufrag[DC_ICE_UFRAG_LEN + 1], pend_pwd[DC_ICE_PWD_LEN + 1];
    int restart_pending;
    char r_ufrag[DC_SDP_UFRAG_MAX + 1], r_pwd[DC_SDP_PWD_MAX + 1];
    uint8_t r_fp[DC_SDP_FINGERPRINT_LEN];
    int opus_pt;
    uint32_t ssrc;
    uint64_t sess_id, sess_ver, tiebreaker;
    struct sockaddr_storage peer;
    int have_peer, connected, answered, flowing, dtls_failed;
    int64_t last_rx_ms, rebind_ms, restart_ms;
    dc__dtls *dtls;
    dc__srtp *srtp;
    struct dc__voice *voice;
    struct txn txns[NTXN];
    unsigned checks_sent;
    /* network check */
    int probe_sent, probe_ok, probe_done;
    double probe_rtt[PROBE_CHECKS];
    int64_t probe_last_ms, answer_ms;
    /* RTP out */
    uint16_t seq;
    uint32_t ts;
    int64_t tick_base, ticks, last_rtcp_ms, last_tick_ms;
    uint32_t sent_pkts, sent_octets;
    struct rx_stats rx;
    _Alignas(8) uint8_t rxbuf[2048];
    _Alignas(8) uint8_t txbuf[2048];
};

static void on_handle_closed(uv_handle_t *h)
{
    struct dc__media *m = h->data;
    if (h == (uv_handle_t *)m->udp)
        m->udp = NULL;
    if ((void *)h != (void *)&m->check_timer && (void *)h != (void *)&m->dtls_timer &&
        (void *)h != (void *)&m->tick_timer)
        free(h); /* a UDP socket (heap) */
    m->handles--;
}

int dc__media_new(struct dc_client *c, struct dc__media **out)
{
    struct dc__media *m = calloc(1, sizeof *m);
    if (!m)
        return DC_ENOMEM;
    m->c = c;
    m->loop = c->loop;
    uv_timer_init(m->loop, &m->check_timer);
    uv_timer_init(m->loop, &m->dtls_timer);
    uv_timer_init(m->loop, &m->tick_timer);
    m->check_timer.data = m->dtls_timer.data = m->tick_timer.data = m;
    m->handles = 3;
    *out = m;
    return 0;
}

/* ---------------------------------------------------------------- sending */

static void send_raw(struct dc__media *m, const void *data, size_t len)
{
    if (!m->udp || !m->have_peer)
        return;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    uv_udp_try_send(m->udp, &b, 1, (const struct sockaddr *)&m->peer);
}

static void dtls_send(void *user, const uint8_t *data, size_t len)
{
    send_raw(user, data, len);
}

static void send_check(struct dc__media *m)
{
    struct txn *t = &m->txns[m->checks_sent % NTXN];
    char user[DC_SDP_UFRAG_MAX + DC_ICE_UFRAG_LEN + 2];
    uint8_t pkt[256];
    size_t len = 0;
    snprintf(user, sizeof user, "%s:%s", m->r_ufrag, m->ufrag);
    if (dc__random(t->id, sizeof t->id) != 0)
        return;
    uint32_t prio = dc__ice_priority(110, 65535, 1); /* peer-reflexive type preference */
    struct dc__stun_check chk = {
        .tid = t->id,
        .username = user,
        .key = m->r_pwd,
        .keylen = strlen(m->r_pwd),
        .priority = prio,
        .tiebreaker = m->tiebreaker,
        .controlling = true,
        .use_candidate = true, /* aggressive nomination: the first pair that works is the one */
    };
    if (dc__stun_build_binding_request(pkt, sizeof pkt, &chk, &len) != 0)
        return;
    t->used = 1;
    t->sent_ms = dc__mono_ms();
    t->sent_ns = uv_hrtime();
    /* The probe is the first checks after the path first answered: the checks before that also
     * race the relay setting the leg up, which says nothing about the network. */
    t->probe = m->connected && m->probe_sent < PROBE_CHECKS;
    if (t->probe) {
        m->probe_sent++;
        m->probe_last_ms = t->sent_ms;
    }
    m->checks_sent++;
    send_raw(m, pkt, len);
}

static void emit_simple(struct dc__media *m, dc_event *ev)
{
    ev->call_id = m->call_id;
    dc__client_emit(m->c, ev);
}

/* Tells the app about an audio source/sink that would not open (the call goes on without it). */
static void report_audio_errors(struct dc__media *m)
{
    int in_err = 0, out_err = 0;
    char msg[300];
    dc__voice_take_errors(m->voice, &in_err, &out_err);
    for (int i = 0; i < 2; i++) {
        int err = i == 0 ? in_err : out_err;
        const char *spec = i == 0 ? m->c->cfg.audio_in : m->c->cfg.audio_out;
        if (!err)
            continue;
        dc_event ev;
        memset(&ev, 0, sizeof ev);
        snprintf(msg, sizeof msg, "audio %s %s: %s; %s", i == 0 ? "input" : "output",
                 spec ? spec : "default device", dc_strerror(err),
                 i == 0 ? "sending silence" : "received audio is not played");
        ev.type = DC_EV_ERROR;
        ev.err = err;
        ev.code = dc_err_code(err);
        ev.message = msg;
        emit_simple(m, &ev);
    }
}

/* The app asked not to call on a poor network: a placed call not yet answered is cancelled. */
static void refuse_if_poor(struct dc__media *m, int score)
{
    int min = m->c->cfg.min_network_score;
    if (min > 0 && score < min && m->c->call_ccid[0] && !m->answered) {
        char *text = NULL;
        if (dc__sdk_op_json("cancel", m->call_id, NULL, &text) == 0)
            dc__conn_send(m->c, text);
    }
}

/* Score 0-100 from what the checks measured: the E-model R-factor, which is already on that
 * scale and weighs delay, jitter and loss the way the call's MOS will. */
static void probe_finish(struct dc__media *m)
{
    dc_event ev;
    double sum = 0, dev = 0;
    m->probe_done = 1;
    memset(&ev, 0, sizeof ev);
    ev.type = DC_EV_NETWORK_CHECK;
    int sent = m->probe_sent;
    if (sent == 0) { /* the path never answered a check: as bad as it gets, and measured */
        ev.loss_pct = 100;
        ev.score = 0;
        emit_simple(m, &ev);
        refuse_if_poor(m, ev.score);
        return;
    }
    for (int i = 0; i < m->probe_ok; i++)
        sum += m->probe_rtt[i];
    double rtt = m->probe_ok ? sum / m->probe_ok : 0;
    for (int i = 0; i < m->probe_ok; i++)
        dev += m->probe_rtt[i] > rtt ? m->probe_rtt[i] - rtt : rtt - m->probe_rtt[i];
    ev.rtt_ms = rtt;
    ev.jitter_ms = m->probe_ok ? dev / m->probe_ok : 0;
    ev.loss_pct = 100.0 * (sent - m->probe_ok) / sent;
    double r = m->probe_ok ? dc__emodel_r(ev.rtt_ms, ev.jitter_ms, ev.loss_pct) : 0;
    ev.score = r < 0 ? 0 : r > 100 ? 100 : (int)(r + 0.5);
    emit_simple(m, &ev);
    refuse_if_poor(m, ev.score);
}

/* ------------------------------------------------------------------- RTCP */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t ntp_now(void)
{
    int64_t ms = dc__now_ms();
    uint64_t sec = (uint64_t)(ms / 1000) + 2208988800ull;
    uint64_t frac = ((uint64_t)(ms % 1000) << 32) / 1000;
    return sec << 32 | frac;
}

/* One RFC 3550 report block about the server's stream (A.3 loss, jitter from the buffer). */
static size_t report_block(struct dc__media *m, uint8_t *p)
{
    struct rx_stats *r = &m->rx;
    struct dc__voice_stats vs;
    uint32_t ext_max = r->cycles + r->max_seq;
    uint32_t expected = ext_max - r->base_seq + 1;
    int32_t lost = (int32_t)(expected - r->received);
    uint32_t exp_int = expected - r->expected_prior, rec_int = r->received - r->received_prior;
    int32_t lost_int = (int32_t)(exp_int - rec_int);
    uint8_t fraction = exp_int == 0 || lost_int <= 0 ? 0 : (uint8_t)((lost_int << 8) / exp_int);
    r->expected_prior = expected;
    r->received_prior = r->received;
    if (lost > 0x7fffff)
        lost = 0x7fffff;
    if (lost < -0x800000)
        lost = -0x800000;
    dc__voice_get_stats(m->voice, &vs);
    put32(p, r->ssrc);
    put32(p + 4, (uint32_t)fraction << 24 | ((uint32_t)lost & 0xffffff));
    put32(p + 8, ext_max);
    put32(p + 12, (uint32_t)(vs.jitter_ms * 48.0)); /* in RTP timestamp units */
    put32(p + 16, r->lsr);
    uint32_t dlsr = 0;
    if (r->lsr)
        dlsr = (uint32_t)((dc__mono_ms() - r->lsr_mono_ms) * 65536 / 1000);
    put32(p + 20, dlsr);
    return 24;
}

static void send_rtcp(struct dc__media *m)
{
    uint8_t *p = m->txbuf;
    int rc = m->rx.have ? 1 : 0;
    size_t n = 28 + (size_t)rc * 24;
    uint64_t ntp = ntp_now();
    p[0] = (uint8_t)(0x80 | rc);
    p[1] = 200; /* SR */
    p[2] = 0;
    p[3] = (uint8_t)(n / 4 - 1);
    put32(p + 4, m->ssrc);
    put32(p + 8, (uint32_t)(ntp >> 32));
    put32(p + 12, (uint32_t)ntp);
    put32(p + 16, m->ts);
    put32(p + 20, m->sent_pkts);
    put32(p + 24, m->sent_octets);
    if (rc)
        report_block(m, p + 28);
    /* SDES CNAME: a compound RTCP packet must carry one (RFC 3550 6.1) */
    uint8_t *s = p + n;
    const char *cname = "dcall";
    size_t cl = strlen(cname), sl = 4 + 4 + 2 + cl + 1;
    sl = (sl + 3) & ~(size_t)3;
    memset(s, 0, sl);
    s[0] = 0x81;
    s[1] = 202;
    s[3] = (uint8_t)(sl / 4 - 1);
    put32(s + 4, m->ssrc);
    s[8] = 1;
    s[9] = (uint8_t)cl;
    memcpy(s + 10, cname, cl);
    size_t len = n + sl;
    if (dc__srtp_protect_rtcp(m->srtp, p, &len, sizeof m->txbuf) == 0)
        send_raw(m, p, len);
}

static void on_report_block(struct dc__media *m, const uint8_t *b)
{
    if (get32(b) != m->ssrc)
        return;
    /* Only loss matters here (bitrate and FEC); the server measures and reports quality. */
    dc__voice_adapt(m->voice, b[4] / 256.0);
}

static void on_rtcp(struct dc__media *m, uint8_t *p, size_t len)
{
    if (dc__srtp_unprotect_rtcp(m->srtp, p, &len) != 0)
        return;
    m->last_rx_ms = dc__mono_ms();
    for (size_t off = 0; off + 8 <= len;) {
        const uint8_t *h = p + off;
        size_t plen = ((size_t)(h[2] << 8 | h[3]) + 1) * 4;
        int count = h[0] & 0x1f;
        if (off + plen > len)
            break;
        size_t first = 0;
        if (h[1] == 200 && plen >= 28) {
            m->rx.lsr = (uint32_t)(get32(h + 8) << 16 | get32(h + 12) >> 16);
            m->rx.lsr_mono_ms = dc__mono_ms();
            first = 28;
        } else if (h[1] == 201) {
            first = 8;
        }
        if (first)
            for (int i = 0; i < count && first + (size_t)(i + 1) * 24 <= plen; i++)
                on_report_block(m, h + first + (size_t)i * 24);
        off += plen;
    }
}

/* -------------------------------------------------------------------- RTP */

static void rx_seq(struct rx_stats *r, uint32_t ssrc, uint16_t seq)
{
    if (!r->have || r->ssrc != ssrc) {
        memset(r, 0, sizeof *r);
        r->have = 1;
        r->ssrc = ssrc;
        r->base_seq = seq;
        r->max_seq = seq;
        r->received = 1;
        return;
    }
    uint16_t delta = (uint16_t)(seq - r->max_seq);
    if (delta < 3000) {
        if (seq < r->max_seq)
            r->cycles += 65536;
        r->max_seq = seq;
    }
    r->received++;
}

static void on_rtp(struct dc__media *m, uint8_t *p, size_t len)
{
    if (dc__srtp_unprotect_rtp(m->srtp, p, &len) != 0 || len < RTP_HDR)
        return;
    int64_t now = dc__mono_ms();
    m->last_rx_ms = now;
    size_t hdr = RTP_HDR + (size_t)(p[0] & 0x0f) * 4;
    if (p[0] & 0x10) { /* header extension */
        if (len < hdr + 4)
            return;
        hdr += 4 + (size_t)(p[hdr + 2] << 8 | p[hdr + 3]) * 4;
    }
    size_t end = len;
    if (p[0] & 0x20) { /* padding */
        if (p[len - 1] > len - hdr)
            return;
        end -= p[len - 1];
    }
    if (hdr >= end)
        return;
    uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
    uint32_t ts = get32(p + 4), ssrc = get32(p + 8);
    if (!m->rx.have)
        mlog("first RTP received");
    rx_seq(&m->rx, ssrc, seq);
    dc__voice_put(m->voice, seq, ts, p + hdr, end - hdr, now);
}

static void send_frame(struct dc__media *m, const uint8_t *payload, size_t plen)
{
    uint8_t *p = m->txbuf;
    if (plen + RTP_HDR + DC__SRTP_MAX_OVERHEAD > sizeof m->txbuf)
        return;
    p[0] = 0x80;
    p[1] = (uint8_t)((m->sent_pkts == 0 ? 0x80 : 0) | (m->opus_pt & 0x7f));
    p[2] = (uint8_t)(m->seq >> 8);
    p[3] = (uint8_t)m->seq;
    put32(p + 4, m->ts);
    put32(p + 8, m->ssrc);
    memcpy(p + RTP_HDR, payload, plen);
    size_t len = RTP_HDR + plen;
    if (dc__srtp_protect_rtp(m->srtp, p, &len, sizeof m->txbuf) != 0)
        return;
    if (m->sent_pkts == 0)
        mlog("first RTP sent (%zu bytes)", len);
    send_raw(m, p, len);
    m->seq++;
    m->sent_pkts++;
    m->sent_octets += (uint32_t)plen;
}

/* --------------------------------------------------------- socket, rebind */

static void on_recv(uv_udp_t *u, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags);

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct dc__media *m = h->data;
    (void)hint;
    /* One datagram at a time into an aligned buffer (libsrtp reads 32-bit words). */
    *buf = uv_buf_init((char *)m->rxbuf, sizeof m->rxbuf);
}

/* Tests simulate a network change by giving addresses to bind in turn: DCALL_MEDIA_BIND="ip1,ip2"
 * (the client's n-th socket binds the n-th address, the last one repeating). IPv4 only, as is
 * the server candidate we take. */
static void bind_addr(int nth, char *ip, size_t cap)
{
    const char *list = getenv("DCALL_MEDIA_BIND");
    snprintf(ip, cap, "0.0.0.0");
    if (!list || !*list)
        return;
    const char *p = list;
    for (int i = 0; i < nth; i++) {
        const char *comma = strchr(p, ',');
        if (!comma)
            break;
        p = comma + 1;
    }
    size_t n = strcspn(p, ",");
    if (n < cap)
        snprintf(ip, cap, "%.*s", (int)n, p);
}

static int open_socket(struct dc__media *m)
{
    char ip[64];
    struct sockaddr_in a;
    uv_udp_t *u = calloc(1, sizeof *u);
    if (!u)
        return DC_ENOMEM;
    uv_udp_init(m->loop, u);
    u->data = m;
    m->handles++;
    bind_addr(m->sockets_opened++, ip, sizeof ip);
    uv_ip4_addr(ip, 0, &a);
    if (uv_udp_bind(u, (const struct sockaddr *)&a, 0) != 0 ||
        uv_udp_recv_start(u, alloc_cb, on_recv) != 0) {
        uv_close((uv_handle_t *)u, on_handle_closed);
        return DC_EIO;
    }
    int sz = 1 << 20;
    uv_send_buffer_size((uv_handle_t *)u, &sz);
    sz = 1 << 20;
    uv_recv_buffer_size((uv_handle_t *)u, &sz);
    m->udp = u;
    return 0;
}

static void close_socket(struct dc__media *m)
{
    if (m->udp && !uv_is_closing((uv_handle_t *)m->udp)) {
        uv_udp_recv_stop(m->udp);
        uv_close((uv_handle_t *)m->udp, on_handle_closed);
    }
    m->udp = NULL;
}

static void set_check_interval(struct dc__media *m, int ms);

/* The path died under us (new network, NAT rebinding): a fresh socket, fast checks again. The
 * server moves the leg to the new address on our next valid check; DTLS and SRTP carry on. */
static void rebind(struct dc__media *m)
{
    mlog("re-binding (path silent or network changed)");
    m->rebind_ms = dc__mono_ms();
    close_socket(m);
    if (open_socket(m) == 0)
        set_check_interval(m, CHECK_FAST_MS);
}

static void send_offer(struct dc__media *m);

static void watch_path(struct dc__media *m, int64_t now)
{
    /* Time our loop did not run (a starved CPU) is not silence from the path: what arrived
     * meanwhile is still queued in the socket, and timers run before I/O. Re-binding then would
     * throw it away and move a healthy leg. */
    int64_t stall = m->last_tick_ms ? now - m->last_tick_ms - TICK_MS : 0;
    m->last_tick_ms = now;
    if (stall >= STALL_MS && m->last_rx_ms) {
        mlog("loop stalled %lld ms: not counted as path silence", (long long)stall);
        m->last_rx_ms += stall;
    }
    if (!m->flowing || m->last_rx_ms == 0)
        return;
    int64_t silent = now - m->last_rx_ms;
    if (silent >= DEAD_MS && now - m->rebind_ms >= DEAD_MS) {
        rebind(m);
    } else if (silent >= DEAD_MS + RESTART_MS && now - m->restart_ms >= 2 * RESTART_MS) {
        m->restart_ms = now;
        /* New credentials go in the offer; checks keep the old ones until the answer comes. */
        if (dc__ice_credentials(m->pend_ufrag, m->pend_pwd) == 0) {
            m->restart_pending = 1;
            mlog("ICE restart: new offer");
            m->sess_ver++;
            send_offer(m);
        }
    }
}

/* ------------------------------------------------------------- ICE, DTLS */

static void dtls_timer_cb(uv_timer_t *t);

static void arm_dtls_timer(struct dc__media *m)
{
    int64_t ms = m->dtls ? dc__dtls_timeout_ms(m->dtls) : -1;
    if (ms >= 0)
        uv_timer_start(&m->dtls_timer, dtls_timer_cb, (uint64_t)ms + 1, 0);
    else
        uv_timer_stop(&m->dtls_timer);
}

static void tick_cb(uv_timer_t *t);

static void report_media_error(struct dc__media *m, int err)
{
    dc_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = DC_EV_ERROR;
    ev.err = err;
    ev.code = dc_err_code(err);
    ev.message = err == DC_EFINGERPRINT
                     ? "media: the server's DTLS certificate does not match its answer"
                     : "media: the DTLS handshake failed";
    emit_simple(m, &ev);
}

/* DTLS done: SRTP keys, and the 20 ms clock starts (silence until audio flows end to end). */
static void dtls_connected(struct dc__media *m)
{
    struct dc__srtp_keys keys;
    if (m->srtp || dc__dtls_srtp_keys(m->dtls, &keys) != 0)
        return;
    int rc = dc__srtp_new(&keys, &m->srtp);
    dc__srtp_keys_wipe(&keys);
    if (rc != 0) {
        report_media_error(m, DC_ESRTP);
        return;
    }
    mlog("DTLS connected: SRTP %s", dc__srtp_profile_name(dc__srtp_profile(m->srtp)));
    m->tick_base = dc__mono_ms();
    m->ticks = 0;
    m->last_rtcp_ms = m->tick_base;
    m->last_tick_ms = 0;
    uv_timer_start(&m->tick_timer, tick_cb, TICK_MS, TICK_MS);
}

static void dtls_progress(struct dc__media *m, int rc)
{
    enum dc__dtls_state st = dc__dtls_state(m->dtls);
    if (st == DC__DTLS_CONNECTED)
        dtls_connected(m);
    else if (st == DC__DTLS_FAILED && rc != 0 && !m->dtls_failed) {
        m->dtls_failed = 1; /* once: every later datagram would say so again */
        report_media_error(m, dc__dtls_error(m->dtls));
    }
    arm_dtls_timer(m);
}

static void dtls_timer_cb(uv_timer_t *t)
{
    struct dc__media *m = t->data;
    if (m->dtls) {
        mlog("DTLS retransmission timeout");
        dtls_progress(m, dc__dtls_on_timeout(m->dtls));
    }
}

static void start_dtls(struct dc__media *m)
{
    if (m->dtls)
        return;
    if (!m->dtls_ctx && dc__dtls_ctx_new(&m->dtls_ctx) != 0)
        return;
    if (dc__dtls_new(m->dtls_ctx, DC__DTLS_CLIENT, m->r_fp, dtls_send, m, &m->dtls) != 0)
        return;
    dtls_progress(m, dc__dtls_start(m->dtls));
}

static void on_stun(struct dc__media *m, const uint8_t *p, size_t n)
{
    struct dc__stun_msg sm;
    if (dc__stun_parse(p, n, &sm) != 0 || sm.method != DC__STUN_BINDING ||
        sm.cls != DC__STUN_SUCCESS || dc__stun_check_fingerprint(p, &sm) != 0 ||
        dc__stun_check_integrity(p, &sm, m->r_pwd, strlen(m->r_pwd)) != 0)
        return; /* an ICE-lite server sends us no requests; errors just mean "not yet" */
    int64_t now = dc__mono_ms();
    for (int i = 0; i < NTXN; i++) {
        struct txn *t = &m->txns[i];
        if (!t->used || memcmp(t->id, sm.tid, sizeof t->id) != 0)
            continue;
        t->used = 0;
        if (t->probe && m->probe_ok < PROBE_CHECKS)
            m->probe_rtt[m->probe_ok++] = (double)(uv_hrtime() - t->sent_ns) / 1e6;
        m->last_rx_ms = now;
        if (!m->connected) {
            mlog("ICE connected, %.2f ms", (double)(uv_hrtime() - t->sent_ns) / 1e6);
            m->connected = 1;
            start_dtls(m);
        }
        set_check_interval(m, CHECK_CONSENT_MS); /* stays fast while the probe runs */
        return;
    }
}

static void on_recv(uv_udp_t *u, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags)
{
    struct dc__media *m = u->data;
    (void)flags;
    if (n <= 0 || !from || u != m->udp || !m->leg)
        return;
    /* Only the server's candidate may talk to us: anything else is noise or an attack. */
    const struct sockaddr_in *a = (const struct sockaddr_in *)from;
    const struct sockaddr_in *b = (const struct sockaddr_in *)&m->peer;
    if (a->sin_family != AF_INET || a->sin_port != b->sin_port ||
        a->sin_addr.s_addr != b->sin_addr.s_addr)
        return;
    uint8_t *p = (uint8_t *)buf->base;
    size_t len = (size_t)n;
    if (p[0] < 4) {
        on_stun(m, p, len);
    } else if (p[0] >= 20 && p[0] <= 63) {
        if (m->dtls)
            dtls_progress(m, dc__dtls_input(m->dtls, p, len));
    } else if (p[0] >= 128 && p[0] <= 191 && len >= RTP_HDR && m->srtp) {
        if (p[1] >= 192 && p[1] <= 223)
            on_rtcp(m, p, len);
        else
            on_rtp(m, p, len);
    }
}

static void check_timer_cb(uv_timer_t *t)
{
    struct dc__media *m = t->data;
    int64_t now = dc__mono_ms();
    if (!m->probe_done &&
        ((m->probe_sent >= PROBE_CHECKS && now - m->probe_last_ms >= PROBE_WAIT_MS) ||
         (!m->connected && now - m->answer_ms >= PROBE_GIVEUP_MS)))
        probe_finish(m);
    send_check(m);
    /* The probe needs its checks 50 ms apart even once one succeeded. */
    if (m->connected && m->check_interval == CHECK_FAST_MS && m->probe_done)
        set_check_interval(m, CHECK_CONSENT_MS);
}

static void set_check_interval(struct dc__media *m, int ms)
{
    if (ms == CHECK_CONSENT_MS && !m->probe_done)
        ms = CHECK_FAST_MS; /* keep the probe's pace until its result is out */
    if (m->check_interval == ms)
        return;
    m->check_interval = ms;
    uv_timer_start(&m->check_timer, check_timer_cb, ms == CHECK_FAST_MS ? 0 : (uint64_t)ms,
                   (uint64_t)ms);
}

/* ------------------------------------------------------------ the 20 ms clock */

static void tick_cb(uv_timer_t *t)
{
    struct dc__media *m = t->data;
    uint8_t pkt[1500];
    int64_t now = dc__mono_ms();
    int64_t due = (now - m->tick_base) / TICK_MS;
    if (due - m->ticks > MAX_CATCHUP) /* the loop stalled: skip rather than burst */
        m->ticks = due - 1;
    while (m->ticks < due && m->srtp && m->voice) {
        size_t len = 0;
        m->ticks++;
        dc__voice_controls(m->voice, atomic_load(&m->c->mute), atomic_load(&m->c->hold),
                           atomic_load(&m->c->gain_milli) / 1000.0);
        dc__voice_tick(m->voice, m->tick_base + m->ticks * TICK_MS, pkt, sizeof pkt, &len);
        if (len)
            send_frame(m, pkt, len);
        m->ts += 960; /* 20 ms at the 48 kHz RTP clock, sent or not */
    }
    if (m->srtp && now - m->last_rtcp_ms >= RTCP_MS) {
        m->last_rtcp_ms = now;
        send_rtcp(m);
    }
    watch_path(m, now);
}

/* ------------------------------------------------------------ call lifecycle */

static void send_offer(struct dc__media *m)
{
    char sdp[DC_SDP_MAX_LEN];
    dc__sdp_local l;
    memset(&l, 0, sizeof l);
    l.ice_ufrag = m->restart_pending ? m->pend_ufrag : m->ufrag;
    l.ice_pwd = m->restart_pending ? m->pend_pwd : m->pwd;
    memcpy(l.fingerprint, dc__dtls_ctx_fingerprint_raw(m->dtls_ctx), sizeof l.fingerprint);
    l.ssrc = m->ssrc;
    l.cname = "dcall";
    l.session_id = m->sess_id;
    l.session_version = m->sess_ver;
    if (dc__sdp_build_offer(&l, sdp, sizeof sdp, NULL) != 0)
        return;
    json_t *o = json_pack("{s:s,s:s,s:s}", "type", "offer", "call_id", m->call_id, "sdp", sdp);
    char ref[80];
    /* The ref lets conn.c tell errors about the offer from errors about the call. */
    if (o && snprintf(ref, sizeof ref, "media:%s", m->call_id) <= 64)
        json_object_set_new(o, "ref", json_string(ref));
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text)
        dc__conn_send(m->c, text);
}

static void leg_close(struct dc__media *m)
{
    uv_timer_stop(&m->check_timer);
    uv_timer_stop(&m->dtls_timer);
    uv_timer_stop(&m->tick_timer);
    if (m->dtls) {
        dc__dtls_close(m->dtls); /* close_notify tells the relay at once */
        dc__dtls_free(m->dtls);
        m->dtls = NULL;
    }
    dc__srtp_free(m->srtp);
    m->srtp = NULL;
    dc__voice_free(m->voice); /* stops devices, finishes the recording */
    m->voice = NULL;
    close_socket(m);
    m->leg = 0;
    m->check_interval = 0;
}

void dc__media_call_begin(struct dc__media *m, const char *call_id)
{
    if (m->closing || m->c->cfg.no_media || !call_id)
        return;
    if (m->leg && strcmp(m->call_id, call_id) == 0)
        return; /* the same call again (a place sent twice) */
    if (m->leg)
        leg_close(m);
    if (!m->dtls_ctx && dc__dtls_ctx_new(&m->dtls_ctx) != 0)
        return;
    struct dc_client *c = m->c;
    struct dc__voice_cfg vc = {c->cfg.audio_in, c->cfg.audio_out, c->cfg.no_audio_processing};
    int64_t now = dc__mono_ms();
    uint16_t seq = 0;
    uint32_t ts = 0, ssrc = 0;
    uint64_t sid = 0, tb = 0;
    if (dc__ice_credentials(m->ufrag, m->pwd) != 0 || dc__random(&seq, sizeof seq) ||
        dc__random(&ts, sizeof ts) || dc__random(&ssrc, sizeof ssrc) ||
        dc__random(&sid, sizeof sid) || dc__random(&tb, sizeof tb))
        return;
    snprintf(m->call_id, sizeof m->call_id, "%s", call_id);
    m->seq = seq;
    m->ts = ts;
    m->ssrc = ssrc ? ssrc : 1;
    m->sess_id = sid >> 1;
    m->sess_ver = 1;
    m->tiebreaker = tb;
    m->have_peer = m->connected = m->answered = m->flowing = m->dtls_failed = 0;
    m->restart_pending = 0;
    m->last_rx_ms = m->rebind_ms = m->answer_ms = 0;
    m->restart_ms = now;
    m->checks_sent = 0;
    m->probe_sent = m->probe_ok = m->probe_done = 0;
    m->sent_pkts = m->sent_octets = 0;
    memset(&m->rx, 0, sizeof m->rx);
    memset(m->txns, 0, sizeof m->txns);
    /* Offer first: opening an audio device can take a while, and the relay should have our leg
     * before the call is answered. */
    send_offer(m);
    m->leg = 1;
    if (dc__voice_new(&vc, &m->voice) != 0) {
        m->leg = 0;
        return;
    }
    report_audio_errors(m);
}

static int take_candidate(struct dc__media *m, const dc__sdp *a)
{
    for (size_t i = 0; i < a->ncandidates; i++) {
        const dc__sdp_candidate *k = &a->candidates[i];
        struct sockaddr_in sa;
        if (k->transport != DC_SDP_UDP || k->component != 1 ||
            uv_ip4_addr(k->address, k->port, &sa) != 0)
            continue;
        memset(&m->peer, 0, sizeof m->peer);
        memcpy(&m->peer, &sa, sizeof sa);
        m->have_peer = 1;
        return 0;
    }
    return DC_ESDP;
}

void dc__media_on_answer(struct dc__media *m, const char *call_id, const char *sdp)
{
    dc__sdp a;
    dc__sdp_error err;
    if (!m->leg || !call_id || !sdp || strcmp(call_id, m->call_id) != 0)
        return;
    if (dc__sdp_parse(sdp, strlen(sdp), &a, &err) != 0 || take_candidate(m, &a) != 0) {
        dc_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = DC_EV_ERROR;
        ev.err = DC_ESDP;
        ev.code = dc_err_code(DC_ESDP);
        ev.message = "media: the server's answer has no usable UDP candidate";
        emit_simple(m, &ev);
        return;
    }
    mlog("SDP answer: %s:%u", a.ncandidates ? a.candidates[0].address : "-",
         a.ncandidates ? a.candidates[0].port : 0);
    if (m->restart_pending) { /* the ICE restart's answer: switch credentials now */
        memcpy(m->ufrag, m->pend_ufrag, sizeof m->ufrag);
        memcpy(m->pwd, m->pend_pwd, sizeof m->pwd);
        m->restart_pending = 0;
    }
    snprintf(m->r_ufrag, sizeof m->r_ufrag, "%s", a.ice_ufrag);
    snprintf(m->r_pwd, sizeof m->r_pwd, "%s", a.ice_pwd);
    memcpy(m->r_fp, a.fingerprint, sizeof m->r_fp);
    m->opus_pt = a.opus_pt;
    if (!m->udp && open_socket(m) != 0)
        return;
    if (!m->answer_ms)
        m->answer_ms = dc__mono_ms();
    m->check_interval = 0;
    set_check_interval(m, CHECK_FAST_MS);
}

void dc__media_on_answered(struct dc__media *m, const char *call_id)
{
    if (m->leg && call_id && strcmp(call_id, m->call_id) == 0)
        m->answered = 1;
}

void dc__media_on_flowing(struct dc__media *m, const char *call_id)
{
    if (!m->leg || !call_id || strcmp(call_id, m->call_id) != 0)
        return;
    m->flowing = 1;
    m->answered = 1;
    m->last_rx_ms = dc__mono_ms();
    dc__voice_start_media(m->voice);
    report_audio_errors(m);
}

int dc__media_has_leg(const struct dc__media *m, const char *call_id)
{
    return m->leg && call_id && strcmp(call_id, m->call_id) == 0;
}

void dc__media_unavailable(struct dc__media *m, const char *call_id)
{
    if (!m->leg || !call_id || strcmp(call_id, m->call_id) != 0)
        return;
    if (!m->probe_done) {
        dc_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = DC_EV_NETWORK_CHECK;
        ev.score = -1; /* nothing to measure against */
        m->probe_done = 1;
        emit_simple(m, &ev);
    }
    leg_close(m);
}

void dc__media_network_changed(struct dc__media *m)
{
    if (m->leg && m->have_peer && !m->closing)
        rebind(m);
}

void dc__media_call_end(struct dc__media *m, const char *call_id)
{
    if (m->leg && (!call_id || strcmp(call_id, m->call_id) == 0))
        leg_close(m);
}

int dc__media_close(struct dc__media *m)
{
    if (!m->closing) {
        m->closing = 1;
        if (m->leg)
            leg_close(m);
        close_socket(m);
        uv_close((uv_handle_t *)&m->check_timer, on_handle_closed);
        uv_close((uv_handle_t *)&m->dtls_timer, on_handle_closed);
        uv_close((uv_handle_t *)&m->tick_timer, on_handle_closed);
    }
    return m->handles == 0;
}

void dc__media_free(struct dc__media *m)
{
    if (!m)
        return;
    dc__dtls_ctx_free(m->dtls_ctx);
    free(m);
}
