/* The relay's per-leg, per-packet work (relay_impl.h), all on the worker thread
 * that owns the leg: ICE-lite checks, DTLS (server role), SRTP in and out, RTP
 * forwarding onto the peer's continuous stream, RTCP termination, liveness and
 * quality. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "dcall/errors.h"
#include "media/quality.h"
#include "media/stun.h"
#include "server/relay_impl.h"

#define DC__OPUS_CLOCK 48000

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void drop(dc__worker *w)
{
    atomic_fetch_add_explicit(&w->cnt.dropped, 1, memory_order_relaxed);
}

/* Any authenticated packet (or valid check) from the party: it is there. */
static void alive(dc__worker *w, dc__leg *leg)
{
    leg->last_rx_ms = w->now;
    if (leg->silent && !leg->lost) {
        leg->silent = 0;
        dc__relay_emit(w, leg, DC__RELAY_EV_BACK, 0);
    }
}

/* --- RTP forwarding: decrypt, re-anchor onto the peer's continuous stream,
 * re-encrypt --- */

/* Maps the source's (ssrc, seq, ts) onto x's outbound stream. A new source
 * SSRC, or a sequence jump no reordering explains (a sender that restarted),
 * re-anchors so x sees its stream go on: the next sequence number, and a
 * timestamp advanced by the wall time since the last packet. */
static void map_outbound(dc__worker *w, dc__leg *x, uint32_t ssrc, uint16_t seq, uint32_t ts,
                         uint16_t *oseq, uint32_t *ots)
{
    if (!x->out_started) {
        uint16_t s0 = 0;
        uint32_t t0 = 0;
        dc__random(&s0, sizeof s0);
        dc__random(&t0, sizeof t0);
        s0 &= 0x7fff; /* RFC 3550 suggests a random start; keep rollover far away */
        x->seq_delta = (uint16_t)(s0 - seq);
        x->ts_delta = t0 - ts;
        x->src_ssrc = ssrc;
        x->src_last_seq = seq;
        x->out_started = 1;
        x->out_last_seq = (uint16_t)(s0 - 1);
        x->out_last_ts = t0;
        x->out_last_ms = w->now;
    } else if (ssrc != x->src_ssrc || abs((int16_t)(uint16_t)(seq - x->src_last_seq)) > 1000) {
        int64_t gap = w->now - x->out_last_ms;
        uint32_t ticks = gap * 48 > 960 ? (uint32_t)(gap * 48) : 960;
        x->seq_delta = (uint16_t)(x->out_last_seq + 1 - seq);
        x->ts_delta = x->out_last_ts + ticks - ts;
        x->src_ssrc = ssrc;
        x->src_last_seq = seq;
    }
    if ((int16_t)(uint16_t)(seq - x->src_last_seq) > 0)
        x->src_last_seq = seq;
    *oseq = (uint16_t)(seq + x->seq_delta);
    *ots = ts + x->ts_delta;
    if ((int16_t)(uint16_t)(*oseq - x->out_last_seq) > 0) {
        x->out_last_seq = *oseq;
        x->out_last_ts = *ots;
        x->out_last_ms = w->now;
    }
}

static void forward_rtp(dc__worker *w, dc__leg *p, const uint8_t *pkt, size_t len,
                        const struct dc__rtp_hdr *h)
{
    dc__leg *x = p->peer;
    if (!x || !x->srtp || !x->has_addr || h->pt != p->opus_pt)
        return;
    uint8_t *slot = dc__worker_tx_slot(w);
    memcpy(slot, pkt, len);
    uint16_t seq;
    uint32_t ts;
    map_outbound(w, x, h->ssrc, h->seq, h->ts, &seq, &ts);
    dc__rtp_set_seq(slot, seq);
    dc__rtp_set_ts(slot, ts);
    dc__rtp_set_ssrc(slot, x->out_ssrc);
    slot[1] = (uint8_t)((slot[1] & 0x80) | (x->opus_pt & 0x7f));
    size_t olen = len;
    if (dc__srtp_protect_rtp(x->srtp, slot, &olen, DC__RELAY_PKT_CAP) != 0) {
        drop(w);
        return;
    }
    dc__worker_tx_leg(w, x, olen);
    atomic_fetch_add_explicit(&w->cnt.forwarded, 1, memory_order_relaxed);
    x->out_packets++;
    x->out_octets += (uint32_t)h->payload_len;
    if (!p->flowing) {
        p->flowing = 1;
        dc__relay_emit(w, p, DC__RELAY_EV_FLOWING, 0);
    }
    if (!x->hear_start_ms) {
        x->hear_start_ms = w->now;
        /* Spread over 0.9 s so the reports of calls that started together do not fall due (and
         * reach the signalling thread) in the same tick; still within 5 s of media starting. */
        x->next_quality_ms = w->now + DC__RELAY_QUALITY_FIRST_MS + dc__worker_rand(w, 900);
        x->q_in_expected = p->in_started ? dc__rtp_stats_expected(&p->in) : 0;
        x->q_in_lost = p->in_started ? dc__rtp_stats_lost(&p->in) : 0;
        /* x's receiver counters start with this packet: its reports' totals are already this
         * interval's. Anchoring on its first report instead threw that report's interval away,
         * and with one report of the first few lost (20% loss) left none to measure with. */
        x->q_rr_lost = 0;
        x->q_rr_ext_max = (uint32_t)seq - 1;
    }
}

static void rtp_input(dc__worker *w, dc__leg *p, uint8_t *pkt, size_t len)
{
    struct dc__rtp_hdr h;
    if (!p->srtp || dc__srtp_unprotect_rtp(p->srtp, pkt, &len) != 0 ||
        dc__rtp_parse_header(pkt, len, &h) != 0) {
        drop(w);
        return;
    }
    alive(w, p);
    if (!p->in_started || h.ssrc != p->in.ssrc) {
        dc__rtp_stats_init(&p->in, h.ssrc, DC__OPUS_CLOCK, h.seq);
        p->in_started = 1;
    }
    dc__rtp_stats_update(&p->in, h.seq, h.ts, mono_us());
    forward_rtp(w, p, pkt, len, &h);
}

static void rtcp_input(dc__worker *w, dc__leg *p, uint8_t *pkt, size_t len)
{
    struct dc__rtcp_info info;
    if (!p->srtp || dc__srtp_unprotect_rtcp(p->srtp, pkt, &len) != 0 ||
        dc__rtcp_parse(pkt, len, &info) != 0) {
        drop(w);
        return;
    }
    alive(w, p);
    if (info.has_sr && p->in_started && info.sr.ssrc == p->in.ssrc)
        dc__rtp_stats_on_sr(&p->in, info.sr.ntp, mono_us());
    size_t nb = info.nblocks < DC__RTCP_MAX_BLOCKS ? info.nblocks : DC__RTCP_MAX_BLOCKS;
    for (size_t i = 0; i < nb; i++) {
        const struct dc__rtcp_report_block *rb = &info.blocks[i];
        if (rb->ssrc != p->out_ssrc)
            continue;
        double rtt;
        if (dc__rtcp_rtt_ms(dc__ntp_mid32(dc__ntp_now()), rb->lsr, rb->dlsr, &rtt) == 0)
            p->rtt_ms = rtt;
        p->rr_lost = rb->cumulative_lost;
        p->rr_ext_max = rb->ext_highest_seq;
        p->rr_jitter_ms = rb->jitter * 1000.0 / DC__OPUS_CLOCK;
        p->have_rr = 1;
    }
}

/* --- DTLS --- */

static void dtls_send(void *user, const uint8_t *data, size_t len)
{
    dc__leg *leg = user;
    dc__worker_send_leg(leg->w, leg, data, len);
}

static void dtls_progress(dc__worker *w, dc__leg *leg)
{
    enum dc__dtls_state st = dc__dtls_state(leg->dtls);
    if (st == DC__DTLS_CONNECTED && !leg->connected) {
        struct dc__srtp_keys keys;
        int rc = dc__dtls_srtp_keys(leg->dtls, &keys);
        if (rc == 0)
            rc = dc__srtp_new(&keys, &leg->srtp);
        dc__srtp_keys_wipe(&keys);
        if (rc) {
            leg->failed = 1;
            dc__relay_emit(w, leg, DC__RELAY_EV_FAILED, DC_EDTLS);
            return;
        }
        leg->connected = 1;
        /* The first report at a random point of the first 1.5 s (RFC 3550 randomises the
         * interval): legs that connected together keep apart from then on. */
        leg->next_rtcp_ms = w->now + DC__RELAY_RTCP_MS / 2 + dc__worker_rand(w, DC__RELAY_RTCP_MS);
        dc__relay_emit(w, leg, DC__RELAY_EV_CONNECTED, 0);
    } else if (st == DC__DTLS_FAILED && !leg->failed) {
        leg->failed = 1;
        int err = dc__dtls_error(leg->dtls);
        DC_INFO("relay", "call %s leg %s: DTLS failed: %s", leg->call_id, leg->leg_id,
                dc_err_code(err));
        dc__relay_emit(w, leg, DC__RELAY_EV_FAILED, err ? err : DC_EDTLS);
    }
}

static void dtls_input(dc__worker *w, dc__leg *leg, const uint8_t *pkt, size_t len)
{
    if (!leg->dtls || leg->failed) {
        drop(w);
        return;
    }
    dc__dtls_input(leg->dtls, pkt, len);
    if (!leg->connected)
        alive(w, leg);
    dtls_progress(w, leg);
}

static int dtls_fresh(dc__worker *w, dc__leg *leg)
{
    dc__dtls_free(leg->dtls);
    leg->dtls = NULL;
    dc__srtp_free(leg->srtp);
    leg->srtp = NULL;
    leg->connected = leg->failed = 0;
    leg->in_started = 0;
    return dc__dtls_new(w->relay->dtls, DC__DTLS_SERVER, leg->remote_fp, dtls_send, leg,
                        &leg->dtls);
}

/* --- ICE-lite --- */

static void stun_reply_error(dc__worker *w, const struct dc__stun_msg *m, int code,
                             const dc__src *src)
{
    uint8_t *slot = dc__worker_tx_slot(w);
    size_t n;
    if (dc__stun_build_error(slot, DC__RELAY_PKT_CAP, DC__STUN_BINDING, m->tid, code, NULL, NULL, 0,
                             &n) == 0)
        dc__worker_tx_to(w, src, n);
}

/* The leg whose current or (during an ICE restart) previous credentials the
 * USERNAME names; *old says which. */
static dc__leg *stun_leg(dc__worker *w, const struct dc__stun_msg *m, int *old)
{
    const char *colon = memchr(m->username, ':', m->username_len);
    if (!colon)
        return NULL;
    size_t ulen = (size_t)(colon - m->username);
    size_t rlen = m->username_len - ulen - 1;
    const char *remote = colon + 1;
    dc__leg *leg = NULL;
    *old = 0;
    HASH_FIND(hh_uf, w->by_uf, m->username, ulen, leg);
    if (!leg) {
        HASH_FIND(hh_olduf, w->by_olduf, m->username, ulen, leg);
        *old = 1;
    }
    if (!leg)
        return NULL;
    const char *want = *old ? leg->old_remote_ufrag : leg->remote_ufrag;
    if (strlen(want) != rlen || memcmp(want, remote, rlen) != 0)
        return NULL;
    return leg;
}

/* Where the party is: a nominating check sets the address; before any
 * nomination the first valid check gives DTLS somewhere to go; once nominated,
 * a check from elsewhere moves the leg when the current address went quiet (a
 * network switch without a new nomination). */
static int on_path(const dc__leg *leg, const dc__src *src)
{
    if (!leg->has_addr)
        return 0;
    if (leg->conn || src->conn)
        return leg->conn == src->conn;
    dc__addrkey k;
    dc__addrkey_of(&k, src->addr);
    return memcmp(&k, &leg->akey, sizeof k) == 0;
}

static void stun_follow(dc__worker *w, dc__leg *leg, const struct dc__stun_msg *m, int old,
                        const dc__src *src)
{
    int same = on_path(leg, src);
    int move = 0;
    if (same)
        leg->last_addr_rx_ms = w->now;
    if (m->use_candidate)
        move = !same;
    else if (!leg->has_addr)
        move = 1;
    else if (!same && leg->nominated && w->now - leg->last_addr_rx_ms >= DC__RELAY_MOVE_QUIET_MS)
        move = 1;
    if (move) {
        if (leg->has_addr)
            DC_INFO("relay", "call %s leg %s: moved to a new address", leg->call_id, leg->leg_id);
        dc__worker_set_path(w, leg, src);
        leg->last_addr_rx_ms = w->now;
    }
    if (m->use_candidate) {
        leg->nominated = 1;
        /* The new pair is nominated: the restart is over and the old credentials
         * retire. */
        if (!old && leg->old_ufrag[0])
            dc__worker_forget_old_ufrag(w, leg);
    }
}

static void stun_input(dc__worker *w, uint8_t *pkt, size_t len, const dc__src *src)
{
    struct dc__stun_msg m;
    if (dc__stun_parse(pkt, len, &m) != 0 || m.method != DC__STUN_BINDING ||
        m.cls != DC__STUN_REQUEST || dc__stun_check_fingerprint(pkt, &m) != 0) {
        drop(w);
        return;
    }
    atomic_fetch_add_explicit(&w->cnt.stun, 1, memory_order_relaxed);
    if (!m.username) {
        stun_reply_error(w, &m, DC__STUN_ERR_BAD_REQUEST, src);
        return;
    }
    int old = 0;
    dc__leg *leg = stun_leg(w, &m, &old);
    if (!leg) {
        /* Unknown credentials: no answer, so a scan learns nothing and costs us
         * nothing more. */
        drop(w);
        return;
    }
    const char *pwd = old ? leg->old_pwd : leg->pwd;
    if (dc__stun_check_integrity(pkt, &m, pwd, strlen(pwd)) != 0) {
        stun_reply_error(w, &m, DC__STUN_ERR_UNAUTHORIZED, src);
        return;
    }
    uint8_t *slot = dc__worker_tx_slot(w);
    size_t n;
    if (dc__stun_build_binding_success(slot, DC__RELAY_PKT_CAP, m.tid,
                                       (const struct sockaddr *)src->addr, pwd, strlen(pwd),
                                       &n) == 0)
        dc__worker_tx_to(w, src, n);
    dc__worker_validate(w, leg, src);
    stun_follow(w, leg, &m, old, src);
    alive(w, leg);
}

/* --- dispatch --- */

void dc__leg_input(dc__worker *w, dc__leg *leg, uint8_t *pkt, size_t len, const dc__src *src)
{
    enum dc__pkt_kind kind = dc__media_demux(pkt, len);
    if (kind == DC__PKT_STUN) {
        stun_input(w, pkt, len, src);
        return;
    }
    /* Anything else must come on a leg's current path: one hash lookup, then gone. */
    if (!leg || kind == DC__PKT_UNKNOWN) {
        drop(w);
        return;
    }
    if (on_path(leg, src))
        leg->last_addr_rx_ms = w->now;
    if (kind == DC__PKT_DTLS)
        dtls_input(w, leg, pkt, len);
    else if (kind == DC__PKT_RTP)
        rtp_input(w, leg, pkt, len);
    else
        rtcp_input(w, leg, pkt, len);
}

/* --- lifecycle --- */

int dc__leg_create(dc__worker *w, const dc__relay_cmd *c, dc__leg **out)
{
    /* Cache-line aligned: the hot block at its start spans as few lines as it can. */
    size_t sz = (sizeof(dc__leg) + 63) & ~(size_t)63;
    dc__leg *leg = aligned_alloc(64, sz);
    if (!leg)
        return DC_ENOMEM;
    memset(leg, 0, sz);
    leg->w = w;
    snprintf(leg->key, sizeof leg->key, "%s/%s", c->call_id, c->leg_id);
    snprintf(leg->call_id, sizeof leg->call_id, "%s", c->call_id);
    snprintf(leg->leg_id, sizeof leg->leg_id, "%s", c->leg_id);
    snprintf(leg->ufrag, sizeof leg->ufrag, "%s", c->ufrag);
    snprintf(leg->pwd, sizeof leg->pwd, "%s", c->pwd);
    snprintf(leg->remote_ufrag, sizeof leg->remote_ufrag, "%s", c->remote_ufrag);
    snprintf(leg->cname, sizeof leg->cname, "%s", c->cname);
    memcpy(leg->remote_fp, c->remote_fp, sizeof leg->remote_fp);
    leg->out_ssrc = c->out_ssrc;
    leg->opus_pt = c->opus_pt;
    leg->rtt_ms = -1;
    leg->t_slot = -1;
    leg->created_ms = leg->last_rx_ms = w->now;
    int rc = dtls_fresh(w, leg);
    if (rc) {
        free(leg);
        return rc;
    }
    *out = leg;
    return 0;
}

int dc__leg_reoffer(dc__worker *w, dc__leg *leg, const dc__relay_cmd *c)
{
    leg->opus_pt = c->opus_pt;
    enum dc__dtls_state st = leg->dtls ? dc__dtls_state(leg->dtls) : DC__DTLS_FAILED;
    int new_fp = memcmp(leg->remote_fp, c->remote_fp, sizeof leg->remote_fp) != 0;
    if (!new_fp && st != DC__DTLS_FAILED && st != DC__DTLS_CLOSED)
        return 0;
    /* A new certificate, or an association that ended: the party starts DTLS
     * over. */
    memcpy(leg->remote_fp, c->remote_fp, sizeof leg->remote_fp);
    return dtls_fresh(w, leg);
}

void dc__leg_destroy(dc__worker *w, dc__leg *leg)
{
    (void)w;
    dc__dtls_free(leg->dtls);
    dc__srtp_free(leg->srtp);
    memset(leg, 0, sizeof *leg); /* ICE passwords */
    free(leg);
}

/* --- timers --- */

static void send_rtcp(dc__worker *w, dc__leg *x)
{
    struct dc__rtcp_report_block rb;
    size_t nb = 0, n = 0, m = 0;
    if (x->in_started) {
        dc__rtp_stats_report(&x->in, mono_us(), &rb);
        nb = 1;
    }
    uint8_t *slot = dc__worker_tx_slot(w);
    size_t cap = DC__RELAY_PKT_CAP;
    int rc;
    if (x->out_started) {
        struct dc__rtcp_sr sr = {.ssrc = x->out_ssrc,
                                 .ntp = dc__ntp_now(),
                                 .rtp_ts =
                                     x->out_last_ts + (uint32_t)((w->now - x->out_last_ms) * 48),
                                 .packet_count = x->out_packets,
                                 .octet_count = x->out_octets};
        rc = dc__rtcp_build_sr(slot, cap, &sr, &rb, nb, &n);
    } else {
        rc = dc__rtcp_build_rr(slot, cap, x->out_ssrc, &rb, nb, &n);
    }
    if (rc == 0)
        rc = dc__rtcp_build_sdes_cname(slot + n, cap - n, x->out_ssrc, x->cname, &m);
    size_t len = n + m;
    if (rc == 0 && dc__srtp_protect_rtcp(x->srtp, slot, &len, cap) == 0)
        dc__worker_tx_leg(w, x, len);
}

static double interval_loss(int64_t dexp, int64_t dlost)
{
    if (dexp <= 0 || dlost <= 0)
        return 0;
    return dlost >= dexp ? 1.0 : (double)dlost / (double)dexp;
}

/* What x's party hears comes from its peer p through us. We forward at once and keep the
 * sender's sequence gaps and timing, so x's own receiver reports about our stream already measure
 * both legs together: their loss is 1 - (1 - l1)(1 - l2) and their jitter the sum of both legs'
 * variations. Adding our own view of p's leg to them would count p's leg twice; without a report
 * from x for the interval (none yet, or a client that sends none) p's leg is all we know. The
 * round trip is each leg's own (its RR against our SR), summed. */
static void report_quality(dc__worker *w, dc__leg *x)
{
    dc__leg *p = x->peer;
    x->next_quality_ms = w->now + DC__RELAY_QUALITY_MS;
    if (!p)
        return;
    int64_t exp = p->in_started ? dc__rtp_stats_expected(&p->in) : 0;
    int64_t lost = p->in_started ? dc__rtp_stats_lost(&p->in) : 0;
    if (exp < x->q_in_expected) /* the sender restarted its stream: counters started over */
        x->q_in_expected = 0, x->q_in_lost = 0;
    double loss = interval_loss(exp - x->q_in_expected, lost - x->q_in_lost);
    double jitter = p->in_started ? dc__rtp_stats_jitter_ms(&p->in) : 0;
    int64_t rr_exp = (int32_t)(x->rr_ext_max - x->q_rr_ext_max); /* the anchor may be -1 */
    if (x->have_rr && rr_exp > 0) {
        loss = interval_loss(rr_exp, (int64_t)x->rr_lost - x->q_rr_lost);
        jitter = x->rr_jitter_ms;
    }
    x->q_in_expected = (uint32_t)exp;
    x->q_in_lost = lost;
    x->q_rr_lost = x->rr_lost;
    x->q_rr_ext_max = x->rr_ext_max;
    double rtt = (p->rtt_ms > 0 ? p->rtt_ms : 0) + (x->rtt_ms > 0 ? x->rtt_ms : 0);
    dc__relay_emit_quality(w, x, dc__emodel_mos(rtt, jitter, 100.0 * loss), 100.0 * loss, rtt,
                           jitter);
}

static void liveness(dc__worker *w, dc__leg *leg)
{
    if (!leg->has_addr || leg->lost)
        return;
    int64_t idle = w->now - leg->last_rx_ms;
    if (idle >= (int64_t)w->relay->grace_s * 1000) {
        leg->lost = 1;
        dc__relay_emit(w, leg, DC__RELAY_EV_LOST, 0);
    } else if (idle >= DC__RELAY_SILENT_MS && !leg->silent) {
        leg->silent = 1;
        dc__relay_emit(w, leg, DC__RELAY_EV_SILENT, 0);
    }
}

void dc__leg_tick(dc__worker *w, dc__leg *leg)
{
    if (leg->dtls && !leg->connected && !leg->failed && dc__dtls_timeout_ms(leg->dtls) == 0) {
        dc__dtls_on_timeout(leg->dtls);
        dtls_progress(w, leg);
    }
    liveness(w, leg);
    if (leg->srtp && leg->has_addr && w->now >= leg->next_rtcp_ms) {
        leg->next_rtcp_ms = w->now + DC__RELAY_RTCP_MS;
        send_rtcp(w, leg);
    }
    if (leg->hear_start_ms && w->now >= leg->next_quality_ms)
        report_quality(w, leg);
}

int64_t dc__leg_next_due(const dc__worker *w, const dc__leg *leg)
{
    if (leg->dtls && !leg->connected && !leg->failed)
        return w->now + DC__RELAY_TICK_MS; /* handshake: retransmission timers */
    int64_t due = w->now + DC__RELAY_TIMER_MAX_MS;
    if (leg->srtp && leg->has_addr && leg->next_rtcp_ms < due)
        due = leg->next_rtcp_ms;
    if (leg->hear_start_ms && leg->next_quality_ms < due)
        due = leg->next_quality_ms;
    if (leg->has_addr && !leg->lost) {
        int64_t grace = (int64_t)w->relay->grace_s * 1000;
        int64_t idle_at =
            leg->last_rx_ms +
            (leg->silent || grace < DC__RELAY_SILENT_MS ? grace : DC__RELAY_SILENT_MS);
        if (idle_at < due)
            due = idle_at;
    }
    return due;
}
