/* Media relay load generator (`node bench/run.mjs --only media`; see bench/README.md).
 *
 * One process, one thread, driven over stdin/stdout by bench/lib/media.mjs with JSON lines:
 *   {"cmd":"legs","n":N}                 N new legs (UDP sockets); one {"leg":i,"offer":SDP} each
 *   {"cmd":"answer","leg":i,"sdp":S}     the relay's answer: ICE checks (USE-CANDIDATE), DTLS
 * client
 *   {"cmd":"fwd_legs","n":N,"port":P,"profile":X}  baseline: legs to bench/udp_fwd.c, random SRTP
 *                                        keys shared by the two legs of a call, no handshake
 *   {"cmd":"wait_ready","n":N,"timeout_ms":T}  until legs [0,N) have SRTP keys -> {"ready":...}
 *   {"cmd":"measure","calls":K,"warmup_ms":W,"seconds":S,"pid":P}  -> {"result":{...}}
 *   {"cmd":"quit"}
 * Legs 2i and 2i+1 are the two parties of call i. Once measured, a call keeps sending (50 packets/s
 * each way) until the process ends, so the relay never sees it go silent while the bench adds
 * calls.
 *
 * Sending is paced by a 20-slot wheel of 1 ms (leg i sends in slot i % 20). Packets are SRTP-
 * protected ahead of time into a ring per leg (each with a new sequence number, so the relay's
 * replay window never sees a repeat); the payload starts with a per-leg packet counter, the index
 * of the send-time table the receiving leg reads to get the one-way latency and to count loss. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "dcall/errors.h"
#include "media/dtls.h"
#include "media/rtp.h"
#include "media/sdp.h"
#include "media/srtp.h"
#include "media/stun.h"

#define RING 32           /* pre-protected packets per leg */
#define REFILL_BELOW 8    /* top the ring up when fewer are left */
#define HIST 512          /* send times kept per leg (10 s at 50/s) */
#define PKT_CAP 256       /* RTP header + at most 120 bytes + SRTP tag */
#define SLOTS 20          /* 20 ms packet interval, 1 ms slots */
#define LAT_BIN_US 2      /* one-way latency histogram: 2 us bins */
#define LAT_BINS 1000000  /* up to 2 s */
#define CONSENT_MS 5000   /* ICE consent checks once connected, as browsers do */
#define CHECK_FAST_MS 100 /* checks until the first success */
#define CATCH_UP_MS 100   /* after a stall, send at most this much late audio at once */

typedef struct pkt {
    _Alignas(16) uint8_t b[PKT_CAP];
    uint16_t len;
} pkt;

typedef struct leg {
    int idx, fd;
    dc__dtls *dtls;
    dc__srtp *srtp;
    char ufrag[DC_ICE_UFRAG_LEN + 1], pwd[DC_ICE_PWD_LEN + 1];
    char r_ufrag[DC_SDP_UFRAG_MAX + 1], r_pwd[DC_SDP_PWD_MAX + 1];
    uint8_t tid[DC__STUN_TID_LEN];
    int answered, ice_ok, failed, fwd_acked;
    int64_t next_check_ms;
    uint32_t ssrc, ts;
    uint16_t seq;
    int pt;
    pkt ring[RING];
    unsigned head, fill;
    uint32_t enc_ctr, tx_ctr; /* next counter to protect / to send */
    int64_t sent_us[HIST];
    uint32_t win_lo, win_hi; /* the peer counts our packets [win_lo, win_hi) */
    uint64_t rx_win, rx_total, rx_bad, rx_rtcp, rx_stun_stale;
} leg;

enum phase { IDLE = 0, WARMUP, WINDOW, DRAIN };

static struct {
    leg **legs;
    int n, cap, ep;
    dc__dtls_ctx *dctx;
    int fwd;
    struct sockaddr_in fwd_addr;
    enum dc__srtp_profile fwd_profile;
    int active; /* legs [0, active) send media */
    int64_t tick_ms, max_lag_us, next_house_ms;
    uint64_t tx_errors, late_encrypts, skipped_ms;
    /* wait_ready */
    int wait_n;
    int64_t wait_deadline_us, wait_start_us;
    /* measure */
    enum phase phase;
    int calls, pid;
    int64_t phase_end_us, win_start_us, win_us, next_sample_us;
    double cpu0, cpu_prev, gen0, gen_prev;
    uint32_t *lat;
    uint64_t lat_n, lat_over;
    int64_t sec_max_lat_us;    /* worst one-way latency this second (live view) */
    json_t *samples, *pending; /* per-second figures; the result while draining */
    char in[1 << 20];
    size_t inlen;
} G;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void emit(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        free(s);
    }
}

/* user+system CPU seconds of a process (all threads), from /proc/PID/stat. */
static double proc_cpu(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long ut = 0, st = 0;
    /* fields after ")": state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int udp_socket(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int buf = 256 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static leg *leg_new(void)
{
    if (G.n == G.cap) {
        int cap = G.cap ? G.cap * 2 : 256;
        leg **l = realloc(G.legs, (size_t)cap * sizeof *l);
        if (!l)
            return NULL;
        G.legs = l, G.cap = cap;
    }
    leg *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->fd = udp_socket();
    uint32_t r[3];
    if (l->fd < 0 || dc__ice_credentials(l->ufrag, l->pwd) != 0 || dc__random(r, sizeof r) != 0) {
        if (l->fd >= 0)
            close(l->fd);
        free(l);
        return NULL;
    }
    l->ssrc = r[0], l->seq = (uint16_t)r[1], l->ts = r[2], l->pt = 111;
    l->idx = G.n;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)l->idx + 1};
    epoll_ctl(G.ep, EPOLL_CTL_ADD, l->fd, &ev);
    G.legs[G.n++] = l;
    return l;
}

static void cmd_legs(int n)
{
    for (int i = 0; i < n; i++) {
        leg *l = leg_new();
        char offer[DC_SDP_MAX_LEN];
        char cname[20];
        dc__random_id(cname, "", 16);
        dc__sdp_local loc = {.ice_ufrag = l ? l->ufrag : "",
                             .ice_pwd = l ? l->pwd : "",
                             .ssrc = l ? l->ssrc : 0,
                             .cname = cname,
                             .session_id = 1,
                             .session_version = 1};
        if (l)
            memcpy(loc.fingerprint, dc__dtls_ctx_fingerprint_raw(G.dctx), sizeof loc.fingerprint);
        if (!l || dc__sdp_build_offer(&loc, offer, sizeof offer, NULL) != 0) {
            emit(json_pack("{ss}", "error", "cannot create leg"));
            return;
        }
        emit(json_pack("{si ss}", "leg", l->idx, "offer", offer));
    }
}

static void dtls_send(void *user, const uint8_t *data, size_t len)
{
    leg *l = user;
    if (send(l->fd, data, len, 0) < 0)
        G.tx_errors++;
}

static int connect_to(leg *l, const char *ip, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1)
        return DC_EINVAL;
    return connect(l->fd, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : DC_EIO;
}

static void cmd_answer(int idx, const char *sdp)
{
    static dc__sdp ans; /* large; one at a time */
    leg *l = idx >= 0 && idx < G.n ? G.legs[idx] : NULL;
    int rc = l && sdp ? dc__sdp_parse(sdp, strlen(sdp), &ans, NULL) : DC_EINVAL;
    const dc__sdp_candidate *cand = NULL;
    for (size_t i = 0; rc == 0 && i < ans.ncandidates && !cand; i++)
        if (ans.candidates[i].transport == DC_SDP_UDP)
            cand = &ans.candidates[i];
    if (rc == 0 && !cand)
        rc = DC_ESDP;
    if (rc == 0)
        rc = connect_to(l, cand->address, cand->port);
    if (rc == 0) {
        snprintf(l->r_ufrag, sizeof l->r_ufrag, "%s", ans.ice_ufrag);
        snprintf(l->r_pwd, sizeof l->r_pwd, "%s", ans.ice_pwd);
        l->pt = ans.opus_pt ? ans.opus_pt : 111;
        rc = dc__dtls_new(G.dctx, DC__DTLS_CLIENT, ans.fingerprint, dtls_send, l, &l->dtls);
    }
    if (rc) {
        emit(json_pack("{ss si si}", "error", "answer refused", "leg", idx, "rc", rc));
        return;
    }
    l->answered = 1;
    l->next_check_ms = 0;
}

static void send_check(leg *l)
{
    char user[2 * DC_SDP_UFRAG_MAX + 2];
    snprintf(user, sizeof user, "%s:%s", l->r_ufrag, l->ufrag);
    dc__random(l->tid, sizeof l->tid);
    struct dc__stun_check c = {.tid = l->tid,
                               .username = user,
                               .key = l->r_pwd,
                               .keylen = strlen(l->r_pwd),
                               .priority = 1862270975u,
                               .tiebreaker = ((uint64_t)l->ssrc << 32) | l->ssrc,
                               .controlling = true,
                               .use_candidate = true};
    uint8_t buf[512];
    size_t n;
    if (dc__stun_build_binding_request(buf, sizeof buf, &c, &n) == 0 && send(l->fd, buf, n, 0) < 0)
        G.tx_errors++;
}

static void on_stun(leg *l, const uint8_t *buf, size_t n)
{
    struct dc__stun_msg m;
    if (dc__stun_parse(buf, n, &m) != 0 || m.cls != DC__STUN_SUCCESS ||
        memcmp(m.tid, l->tid, DC__STUN_TID_LEN) != 0 ||
        dc__stun_check_integrity(buf, &m, l->r_pwd, strlen(l->r_pwd)) != 0) {
        l->rx_stun_stale++; /* mostly answers to earlier checks (new tid each time) */
        return;
    }
    if (!l->ice_ok) {
        l->ice_ok = 1;
        l->next_check_ms = now_us() / 1000 + CONSENT_MS;
        if (dc__dtls_state(l->dtls) == DC__DTLS_NEW)
            dc__dtls_start(l->dtls);
    }
}

static void dtls_progress(leg *l)
{
    enum dc__dtls_state st = dc__dtls_state(l->dtls);
    if (st == DC__DTLS_CONNECTED && !l->srtp) {
        struct dc__srtp_keys k;
        if (dc__dtls_srtp_keys(l->dtls, &k) == 0 && dc__srtp_new(&k, &l->srtp) == 0)
            G.fwd_profile = k.profile;
        dc__srtp_keys_wipe(&k);
    } else if (st == DC__DTLS_FAILED || st == DC__DTLS_CLOSED) {
        l->failed = 1;
    }
}

static int leg_ready(const leg *l)
{
    return l->srtp && (!G.fwd || l->fwd_acked);
}

/* Protects packets into the ring until it is full. Payload: counter (4 bytes), then filler, 60 to
 * 120 bytes in all as Opus at 24..48 kbit/s varies. */
static void refill(leg *l)
{
    while (l->fill < RING) {
        pkt *p = &l->ring[(l->head + l->fill) % RING];
        struct dc__rtp_hdr h = {.pt = (uint8_t)l->pt, .seq = l->seq, .ts = l->ts, .ssrc = l->ssrc};
        size_t n;
        if (dc__rtp_write_header(p->b, PKT_CAP, &h, &n) != 0)
            return;
        uint32_t c = l->enc_ctr;
        size_t plen = 60 + (c * 2654435761u >> 26) % 61;
        p->b[n] = (uint8_t)(c >> 24), p->b[n + 1] = (uint8_t)(c >> 16);
        p->b[n + 2] = (uint8_t)(c >> 8), p->b[n + 3] = (uint8_t)c;
        memset(p->b + n + 4, (int)(c & 0x7f) | 0x80, plen - 4);
        n += plen;
        if (dc__srtp_protect_rtp(l->srtp, p->b, &n, PKT_CAP) != 0)
            return;
        p->len = (uint16_t)n;
        l->seq++, l->ts += 960, l->enc_ctr++, l->fill++;
    }
}

static void send_one(leg *l)
{
    if (!l->fill) {
        G.late_encrypts++;
        refill(l);
        if (!l->fill)
            return;
    }
    pkt *p = &l->ring[l->head];
    int64_t t = now_us();
    if (send(l->fd, p->b, p->len, 0) < 0)
        G.tx_errors++;
    l->sent_us[l->tx_ctr % HIST] = t;
    l->tx_ctr++;
    l->head = (l->head + 1) % RING;
    if (--l->fill < REFILL_BELOW)
        refill(l);
}

static void send_due(int64_t now)
{
    int64_t ms = now / 1000;
    if (G.tick_ms == 0)
        G.tick_ms = ms;
    int64_t lag = now - G.tick_ms * 1000;
    if (lag > G.max_lag_us && G.phase == WINDOW)
        G.max_lag_us = lag;
    /* A stalled generator (CPU taken away) does not burst seconds of audio at the server, which
     * would be our overload, not its: it skips what is older than CATCH_UP_MS, unsent and so not
     * counted as lost. */
    if (ms - G.tick_ms > CATCH_UP_MS) {
        if (G.phase == WINDOW)
            G.skipped_ms += (uint64_t)(ms - G.tick_ms - CATCH_UP_MS);
        G.tick_ms = ms - CATCH_UP_MS;
    }
    while (G.tick_ms < ms) {
        G.tick_ms++;
        for (int i = (int)(G.tick_ms % SLOTS); i < G.active; i += SLOTS)
            if (leg_ready(G.legs[i]))
                send_one(G.legs[i]);
    }
}

static void on_rtp(leg *l, uint8_t *buf, size_t n, int64_t now)
{
    struct dc__rtp_hdr h;
    leg *peer = (l->idx ^ 1) < G.n ? G.legs[l->idx ^ 1] : NULL;
    if (!l->srtp || dc__srtp_unprotect_rtp(l->srtp, buf, &n) != 0 ||
        dc__rtp_parse(buf, n, &h) != 0 || h.payload_len < 4 || !peer) {
        l->rx_bad++;
        return;
    }
    const uint8_t *q = h.payload;
    uint32_t c = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
    if (c >= peer->tx_ctr) { /* never sent: not ours */
        l->rx_bad++;
        return;
    }
    l->rx_total++;
    if ((G.phase != WINDOW && G.phase != DRAIN) || c < peer->win_lo || c >= peer->win_hi)
        return;
    l->rx_win++;
    if (peer->tx_ctr - c >= HIST)
        return;
    int64_t d = now - peer->sent_us[c % HIST];
    if (d > G.sec_max_lat_us)
        G.sec_max_lat_us = d;
    if (d >= 0 && d / LAT_BIN_US < LAT_BINS)
        G.lat[d / LAT_BIN_US]++;
    else
        G.lat_over++;
    G.lat_n++;
}

static void on_packet(leg *l, uint8_t *buf, size_t n, int64_t now)
{
    switch (dc__media_demux(buf, n)) {
    case DC__PKT_RTP:
        on_rtp(l, buf, n, now);
        break;
    case DC__PKT_RTCP:
        l->rx_rtcp++; /* the relay's SR: counted, not checked */
        break;
    case DC__PKT_STUN:
        on_stun(l, buf, n);
        break;
    case DC__PKT_DTLS:
        if (l->dtls) {
            dc__dtls_input(l->dtls, buf, n);
            dtls_progress(l);
        }
        break;
    default:
        if (G.fwd && n == 5 && !memcmp(buf, "FWDOK", 5))
            l->fwd_acked = 1;
        else
            l->rx_bad++;
    }
}

static void on_readable(leg *l)
{
    _Alignas(16) uint8_t buf[2048];
    for (int i = 0; i < 64; i++) {
        ssize_t r = recv(l->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r <= 0)
            return;
        on_packet(l, buf, (size_t)r, now_us());
    }
}

/* ICE checks, DTLS retransmissions, forwarder registration: every 10 ms over every leg. */
static void housekeeping(int64_t now_ms)
{
    for (int i = 0; i < G.n; i++) {
        leg *l = G.legs[i];
        if (G.fwd) {
            if (!l->fwd_acked && now_ms >= l->next_check_ms && (i ^ 1) < G.n) {
                leg *peer = G.legs[i ^ 1];
                struct sockaddr_in pa;
                socklen_t pl = sizeof pa;
                getsockname(peer->fd, (struct sockaddr *)&pa, &pl);
                uint8_t reg[6] = {'F', 'W', 'D', '1', 0, 0};
                memcpy(reg + 4, &pa.sin_port, 2);
                if (send(l->fd, reg, sizeof reg, 0) < 0)
                    G.tx_errors++;
                l->next_check_ms = now_ms + 200;
            }
            continue;
        }
        if (!l->answered || l->failed)
            continue;
        if (now_ms >= l->next_check_ms) {
            send_check(l);
            l->next_check_ms = now_ms + (l->ice_ok ? CONSENT_MS : CHECK_FAST_MS);
        }
        if (!l->srtp && l->dtls && dc__dtls_timeout_ms(l->dtls) == 0) {
            dc__dtls_on_timeout(l->dtls);
            dtls_progress(l);
        }
    }
}

static void cmd_fwd_legs(int n, int port, int profile)
{
    G.fwd = 1;
    G.fwd_addr = (struct sockaddr_in){.sin_family = AF_INET,
                                      .sin_port = htons((uint16_t)port),
                                      .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    G.fwd_profile = profile ? (enum dc__srtp_profile)profile : DC__SRTP_AEAD_AES_128_GCM;
    size_t kl = 0, sl = 0;
    dc__srtp_profile_lengths(G.fwd_profile, &kl, &sl);
    for (int i = 0; i + 1 < n; i += 2) {
        leg *a = leg_new(), *b = leg_new();
        if (!a || !b) {
            emit(json_pack("{ss}", "error", "cannot create leg"));
            return;
        }
        struct dc__srtp_keys ka = {
            .profile = G.fwd_profile, .key_len = (uint8_t)kl, .salt_len = (uint8_t)sl};
        dc__random(ka.local_key, kl), dc__random(ka.local_salt, sl);
        dc__random(ka.remote_key, kl), dc__random(ka.remote_salt, sl);
        struct dc__srtp_keys kb = ka;
        memcpy(kb.local_key, ka.remote_key, kl), memcpy(kb.local_salt, ka.remote_salt, sl);
        memcpy(kb.remote_key, ka.local_key, kl), memcpy(kb.remote_salt, ka.local_salt, sl);
        connect(a->fd, (struct sockaddr *)&G.fwd_addr, sizeof G.fwd_addr);
        connect(b->fd, (struct sockaddr *)&G.fwd_addr, sizeof G.fwd_addr);
        if (dc__srtp_new(&ka, &a->srtp) != 0 || dc__srtp_new(&kb, &b->srtp) != 0)
            emit(json_pack("{ss}", "error", "srtp"));
        dc__srtp_keys_wipe(&ka), dc__srtp_keys_wipe(&kb);
    }
    emit(json_pack("{si}", "legs", G.n));
}

static void check_wait(int64_t now)
{
    if (!G.wait_n)
        return;
    int ready = 0, failed = 0;
    for (int i = 0; i < G.wait_n && i < G.n; i++) {
        ready += leg_ready(G.legs[i]);
        failed += G.legs[i]->failed;
    }
    if (ready + failed < G.wait_n && now < G.wait_deadline_us)
        return;
    int ice = 0;
    for (int i = 0; i < G.wait_n && i < G.n; i++)
        ice += G.legs[i]->ice_ok;
    emit(json_pack("{si si si si sI ss}", "ready", ready, "failed", failed, "ice_ok", ice,
                   "pending", G.wait_n - ready - failed, "ms",
                   (json_int_t)((now - G.wait_start_us) / 1000), "srtp_profile",
                   dc__srtp_profile_name(G.fwd_profile)));
    G.wait_n = 0;
}

static double lat_pct(double p)
{
    uint64_t want = (uint64_t)(p * (double)G.lat_n), acc = 0;
    for (int i = 0; i < LAT_BINS; i++) {
        acc += G.lat[i];
        if (acc > want)
            return i * LAT_BIN_US / 1000.0;
    }
    return -1; /* beyond the histogram: reported as over_2s */
}

static void window_open(int64_t now)
{
    for (int i = 0; i < G.active; i++) {
        leg *l = G.legs[i];
        l->win_lo = l->tx_ctr, l->win_hi = UINT32_MAX, l->rx_win = 0;
    }
    memset(G.lat, 0, LAT_BINS * sizeof *G.lat);
    G.lat_n = G.lat_over = 0;
    G.max_lag_us = 0;
    G.skipped_ms = 0;
    G.sec_max_lat_us = 0;
    G.cpu0 = G.cpu_prev = G.pid ? proc_cpu(G.pid) : 0;
    G.gen0 = G.gen_prev = self_cpu();
    G.win_start_us = now;
    G.next_sample_us = now + 1000000;
    G.samples = json_array();
    G.phase = WINDOW;
    G.phase_end_us = now + G.win_us;
}

/* Once a second in the window: the relay's and the generator's CPU, also to stderr (live). */
static void sample(int64_t now)
{
    double c = G.pid ? proc_cpu(G.pid) : 0, g = self_cpu();
    double relay = c - G.cpu_prev, gen = g - G.gen_prev;
    G.cpu_prev = c, G.gen_prev = g;
    double maxlat = G.sec_max_lat_us / 1000.0;
    G.sec_max_lat_us = 0;
    json_array_append_new(G.samples, json_pack("{sf sf sf}", "relay_cpu", relay, "gen_cpu", gen,
                                               "max_one_way_ms", maxlat));
    fprintf(stderr,
            "[media] %s %d calls t=%llds: %s cpu %.2f core (%.0f us/call-s), max one-way %.1f ms, "
            "generator %.2f\n",
            G.fwd ? "udp_fwd" : "relay", G.calls, (long long)((now - G.win_start_us) / 1000000),
            G.fwd ? "forwarder" : "dcalld", relay, relay * 1e6 / G.calls, maxlat, gen);
    G.next_sample_us += 1000000;
}

static void window_close(int64_t now)
{
    for (int i = 0; i < G.active; i++)
        G.legs[i]->win_hi = G.legs[i]->tx_ctr;
    double secs = (double)(now - G.win_start_us) / 1e6;
    double relay = G.pid ? proc_cpu(G.pid) - G.cpu0 : 0, gen = self_cpu() - G.gen0;
    json_t *r = json_pack("{sf sf sf sf sI}", "window_s", secs, "relay_cpu_s", relay,
                          "relay_cpu_utilization", relay / secs, "generator_cpu_utilization",
                          gen / secs, "generator_max_send_lag_us", (json_int_t)G.max_lag_us);
    json_object_set_new(r, "per_second", G.samples);
    G.samples = NULL;
    G.pending = r;
    G.phase = DRAIN;
    G.phase_end_us = now + 500000;
}

static void report(void)
{
    json_t *r = G.pending;
    G.pending = NULL;
    uint64_t sent = 0, got = 0, all = 0, bad = 0, rtcp = 0, stun = 0;
    for (int i = 0; i < G.active; i++) {
        sent += G.legs[i]->win_hi - G.legs[i]->win_lo;
        got += G.legs[i]->rx_win;
        all += G.legs[i]->rx_total, bad += G.legs[i]->rx_bad, rtcp += G.legs[i]->rx_rtcp;
        stun += G.legs[i]->rx_stun_stale;
    }
    json_object_set_new(r, "rx_since_start",
                        json_pack("{sI sI sI sI}", "rtp", (json_int_t)all, "bad", (json_int_t)bad,
                                  "rtcp", (json_int_t)rtcp, "stun_unmatched", (json_int_t)stun));
    double secs = json_real_value(json_object_get(r, "window_s"));
    double cpu = json_real_value(json_object_get(r, "relay_cpu_s"));
    double per = cpu * 1e6 / (G.calls * secs);
    json_object_set_new(r, "calls", json_integer(G.calls));
    json_object_set_new(r, "packets_sent", json_integer((json_int_t)sent));
    json_object_set_new(r, "packets_received", json_integer((json_int_t)got));
    json_object_set_new(r, "loss_pct", json_real(sent ? 100.0 * (double)(sent - got) / sent : 0));
    json_object_set_new(r, "cpu_us_per_call_second", json_real(per));
    json_object_set_new(r, "calls_per_core", json_integer(per > 0 ? (json_int_t)(1e6 / per) : 0));
    json_object_set_new(r, "one_way_ms",
                        json_pack("{sI sf sf sf sf sI}", "n", (json_int_t)G.lat_n, "p50",
                                  lat_pct(0.5), "p90", lat_pct(0.9), "p99", lat_pct(0.99), "p999",
                                  lat_pct(0.999), "over_2s", (json_int_t)G.lat_over));
    json_object_set_new(r, "generator_tx_errors", json_integer((json_int_t)G.tx_errors));
    json_object_set_new(r, "generator_late_encrypts", json_integer((json_int_t)G.late_encrypts));
    json_object_set_new(r, "generator_skipped_ms", json_integer((json_int_t)G.skipped_ms));
    emit(json_pack("{so}", "result", r));
    G.phase = IDLE;
}

static void step_measure(int64_t now)
{
    if (G.phase == WARMUP && now >= G.phase_end_us)
        window_open(now);
    else if (G.phase == WINDOW && now >= G.next_sample_us && now < G.phase_end_us)
        sample(now);
    else if (G.phase == WINDOW && now >= G.phase_end_us)
        window_close(now);
    else if (G.phase == DRAIN && now >= G.phase_end_us)
        report();
}

static void command(const char *line)
{
    json_t *j = json_loads(line, 0, NULL);
    const char *c = json_string_value(json_object_get(j, "cmd"));
    int n = (int)json_integer_value(json_object_get(j, "n"));
    if (!c) {
        emit(json_pack("{ss}", "error", "bad command"));
    } else if (!strcmp(c, "legs")) {
        cmd_legs(n);
        emit(json_pack("{si}", "legs", G.n));
    } else if (!strcmp(c, "answer")) {
        cmd_answer((int)json_integer_value(json_object_get(j, "leg")),
                   json_string_value(json_object_get(j, "sdp")));
    } else if (!strcmp(c, "fwd_legs")) {
        cmd_fwd_legs(n, (int)json_integer_value(json_object_get(j, "port")),
                     (int)json_integer_value(json_object_get(j, "profile")));
    } else if (!strcmp(c, "wait_ready")) {
        G.wait_n = n > G.n ? G.n : n;
        G.wait_start_us = now_us();
        G.wait_deadline_us =
            G.wait_start_us + json_integer_value(json_object_get(j, "timeout_ms")) * 1000;
        if (!G.wait_n)
            emit(json_pack("{si}", "ready", 0));
    } else if (!strcmp(c, "measure")) {
        G.calls = (int)json_integer_value(json_object_get(j, "calls"));
        if (G.calls * 2 > G.n)
            G.calls = G.n / 2;
        G.active = G.calls * 2;
        G.pid = (int)json_integer_value(json_object_get(j, "pid"));
        G.win_us = (int64_t)(json_number_value(json_object_get(j, "seconds")) * 1e6);
        G.phase = WARMUP;
        G.phase_end_us = now_us() + json_integer_value(json_object_get(j, "warmup_ms")) * 1000;
    } else if (!strcmp(c, "quit")) {
        exit(0);
    }
    json_decref(j);
}

static void on_stdin(void)
{
    for (;;) {
        ssize_t r = read(0, G.in + G.inlen, sizeof G.in - 1 - G.inlen);
        if (r == 0)
            exit(0); /* the bench is gone */
        if (r < 0)
            break;
        G.inlen += (size_t)r;
    }
    G.in[G.inlen] = 0;
    char *s = G.in, *nl;
    while ((nl = strchr(s, '\n'))) {
        *nl = 0;
        if (nl > s)
            command(s);
        s = nl + 1;
    }
    G.inlen -= (size_t)(s - G.in);
    memmove(G.in, s, G.inlen);
}

int main(void)
{
    G.ep = epoll_create1(EPOLL_CLOEXEC);
    G.lat = calloc(LAT_BINS, sizeof *G.lat);
    if (G.ep < 0 || !G.lat || dc__dtls_ctx_new(&G.dctx) != 0) {
        fprintf(stderr, "media_load: setup failed\n");
        return 1;
    }
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    struct epoll_event sev = {.events = EPOLLIN, .data.u32 = 0};
    epoll_ctl(G.ep, EPOLL_CTL_ADD, 0, &sev);
    emit(json_pack("{ss}", "hello", "media_load"));
    struct epoll_event evs[256];
    for (;;) {
        int64_t now = now_us();
        send_due(now);
        if (now / 1000 >= G.next_house_ms) {
            housekeeping(now / 1000);
            G.next_house_ms = now / 1000 + 10;
        }
        check_wait(now);
        step_measure(now);
        int n = epoll_wait(G.ep, evs, 256, 1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u32 == 0)
                on_stdin();
            else
                on_readable(G.legs[evs[i].data.u32 - 1]);
        }
    }
}
