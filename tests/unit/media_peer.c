/* A minimal media client for tests: see media_peer.h. */
#include "media_peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "dcall/errors.h"
#include "media/rtp.h"
#include "media/sdp.h"
#include "media/srtp.h"
#include "media/stun.h"

#define CAP 1536

struct dc__mpeer {
    int fd;
    dc__dtls_ctx *ctx;
    dc__dtls *dtls;
    dc__srtp *srtp;
    int dtls_failed;
    char ufrag[DC_ICE_UFRAG_LEN + 1], pwd[DC_ICE_PWD_LEN + 1];
    char cname[20];
    uint32_t ssrc;
    uint16_t seq;
    uint32_t ts;
    uint8_t fp[DC__DTLS_FP_LEN]; /* what the offer advertises */
    uint64_t version;
    char offer[DC_SDP_MAX_LEN];
    dc__sdp answer;
    int answered;
    struct sockaddr_storage server;
    socklen_t server_len;
    uint8_t tid[DC__STUN_TID_LEN];
    uint64_t tiebreaker;
    int ice_ok, mute;
    int tcp; /* use the answer's ICE-TCP candidate */
    uint8_t stream[4096];
    size_t stream_len;
    int64_t next_check_ms, next_rtcp_ms;
    struct dc__rtp_rx_stats in;
    int in_started;
    dc__mpeer_pkt recent[DC__MPEER_KEEP];
    size_t nrecv, nrtcp, nbad;
    _Alignas(16) uint8_t last_sent[CAP];
    size_t last_sent_len;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int bind_socket(const char *ip)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int build_offer(dc__mpeer *p)
{
    dc__sdp_local loc = {.ice_ufrag = p->ufrag,
                         .ice_pwd = p->pwd,
                         .ssrc = p->ssrc,
                         .cname = p->cname,
                         .session_id = 1,
                         .session_version = ++p->version};
    memcpy(loc.fingerprint, p->fp, sizeof loc.fingerprint);
    return dc__sdp_build_offer(&loc, p->offer, sizeof p->offer, NULL);
}

int dc__mpeer_ice_restart(dc__mpeer *p)
{
    int rc = dc__ice_credentials(p->ufrag, p->pwd);
    return rc ? rc : build_offer(p);
}

int dc__mpeer_new(const char *ip, int wrong_fp, dc__mpeer **out)
{
    dc__mpeer *p = calloc(1, sizeof *p);
    if (!p)
        return DC_ENOMEM;
    p->fd = bind_socket(ip);
    int rc = p->fd < 0 ? DC_EIO : 0;
    if (!rc)
        rc = dc__dtls_ctx_new(&p->ctx);
    if (!rc)
        rc = dc__ice_credentials(p->ufrag, p->pwd);
    if (!rc)
        rc = dc__random_id(p->cname, "", 16);
    if (!rc)
        rc = dc__random(&p->ssrc, sizeof p->ssrc);
    if (!rc)
        rc = dc__random(&p->tiebreaker, sizeof p->tiebreaker);
    if (!rc && wrong_fp)
        rc = dc__random(p->fp, sizeof p->fp);
    else if (!rc)
        memcpy(p->fp, dc__dtls_ctx_fingerprint_raw(p->ctx), sizeof p->fp);
    if (!rc)
        rc = build_offer(p);
    if (rc) {
        dc__mpeer_free(p);
        return rc;
    }
    p->seq = (uint16_t)(p->ssrc >> 3);
    p->ts = p->ssrc * 7u;
    *out = p;
    return 0;
}

void dc__mpeer_free(dc__mpeer *p)
{
    if (!p)
        return;
    if (p->fd >= 0)
        close(p->fd);
    dc__dtls_free(p->dtls);
    dc__srtp_free(p->srtp);
    dc__dtls_ctx_free(p->ctx);
    free(p);
}

const char *dc__mpeer_offer(dc__mpeer *p)
{
    return p->offer;
}

/* One packet to the server: a datagram, or an RFC 4571 frame on the TCP connection. */
static ssize_t xmit(dc__mpeer *p, const void *data, size_t len)
{
    if (!p->tcp)
        return sendto(p->fd, data, len, 0, (struct sockaddr *)&p->server, p->server_len);
    uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    struct iovec iov[2] = {{hdr, 2}, {(void *)data, len}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    return sendmsg(p->fd, &mh, MSG_NOSIGNAL);
}

static void dtls_send(void *user, const uint8_t *data, size_t len)
{
    dc__mpeer *p = user;
    if (!p->mute)
        xmit(p, data, len);
}

/* Replaces the UDP socket with a TCP connection to the server's passive candidate (same local
 * address). */
static int tcp_connect(dc__mpeer *p)
{
    struct sockaddr_storage local;
    socklen_t ll = sizeof local;
    getsockname(p->fd, (struct sockaddr *)&local, &ll);
    ((struct sockaddr_in *)&local)->sin_port = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&local, ll) < 0 ||
        connect(fd, (struct sockaddr *)&p->server, p->server_len) < 0) {
        close(fd);
        return -1;
    }
    close(p->fd);
    p->fd = fd;
    return 0;
}

void dc__mpeer_use_tcp(dc__mpeer *p)
{
    p->tcp = 1;
}

int dc__mpeer_answer(dc__mpeer *p, const char *sdp, size_t len)
{
    int rc = dc__sdp_parse(sdp, len, &p->answer, NULL);
    if (rc)
        return rc;
    const dc__sdp_candidate *cand = NULL;
    for (size_t i = 0; i < p->answer.ncandidates && !cand; i++)
        if (p->answer.candidates[i].transport == (p->tcp ? DC_SDP_TCP : DC_SDP_UDP))
            cand = &p->answer.candidates[i];
    if (!cand)
        return DC_ESDP;
    struct sockaddr_in *a = (struct sockaddr_in *)&p->server;
    memset(&p->server, 0, sizeof p->server);
    a->sin_family = AF_INET;
    a->sin_port = htons(cand->port);
    if (inet_pton(AF_INET, cand->address, &a->sin_addr) != 1)
        return DC_ESDP;
    p->server_len = sizeof *a;
    if (p->tcp && !p->answered && tcp_connect(p) != 0)
        return DC_ECONNECT;
    p->answered = 1;
    p->ice_ok = 0;
    p->next_check_ms = 0;
    if (p->dtls) /* an ICE restart keeps the DTLS association */
        return 0;
    return dc__dtls_new(p->ctx, DC__DTLS_CLIENT, p->answer.fingerprint, dtls_send, p, &p->dtls);
}

static void send_check(dc__mpeer *p)
{
    char user[2 * DC_SDP_UFRAG_MAX + 2];
    snprintf(user, sizeof user, "%s:%s", p->answer.ice_ufrag, p->ufrag);
    dc__random(p->tid, sizeof p->tid);
    struct dc__stun_check c = {.tid = p->tid,
                               .username = user,
                               .key = p->answer.ice_pwd,
                               .keylen = strlen(p->answer.ice_pwd),
                               .priority = 1862270975u,
                               .tiebreaker = p->tiebreaker,
                               .controlling = true,
                               .use_candidate = true};
    uint8_t buf[512];
    size_t n;
    if (dc__stun_build_binding_request(buf, sizeof buf, &c, &n) == 0)
        xmit(p, buf, n);
}

static void on_stun(dc__mpeer *p, const uint8_t *buf, size_t n)
{
    struct dc__stun_msg m;
    if (dc__stun_parse(buf, n, &m) != 0 || m.cls != DC__STUN_SUCCESS ||
        memcmp(m.tid, p->tid, DC__STUN_TID_LEN) != 0 ||
        dc__stun_check_integrity(buf, &m, p->answer.ice_pwd, strlen(p->answer.ice_pwd)) != 0) {
        p->nbad++;
        return;
    }
    if (!p->ice_ok) {
        p->ice_ok = 1;
        if (dc__dtls_state(p->dtls) == DC__DTLS_NEW)
            dc__dtls_start(p->dtls);
    }
}

static void dtls_check(dc__mpeer *p)
{
    enum dc__dtls_state st = dc__dtls_state(p->dtls);
    if (st == DC__DTLS_CONNECTED && !p->srtp) {
        struct dc__srtp_keys k;
        if (dc__dtls_srtp_keys(p->dtls, &k) == 0)
            dc__srtp_new(&k, &p->srtp);
        dc__srtp_keys_wipe(&k);
    } else if (st == DC__DTLS_FAILED) {
        p->dtls_failed = 1;
    }
}

static void on_rtp(dc__mpeer *p, uint8_t *buf, size_t n)
{
    struct dc__rtp_hdr h;
    if (!p->srtp || dc__srtp_unprotect_rtp(p->srtp, buf, &n) != 0 ||
        dc__rtp_parse(buf, n, &h) != 0) {
        p->nbad++;
        return;
    }
    if (!p->in_started || h.ssrc != p->in.ssrc) {
        dc__rtp_stats_init(&p->in, h.ssrc, 48000, h.seq);
        p->in_started = 1;
    }
    dc__rtp_stats_update(&p->in, h.seq, h.ts, now_us());
    dc__mpeer_pkt *k = &p->recent[p->nrecv % DC__MPEER_KEEP];
    k->seq = h.seq;
    k->ts = h.ts;
    k->ssrc = h.ssrc;
    k->pt = h.pt;
    k->len = h.payload_len;
    memcpy(k->payload, h.payload, h.payload_len < sizeof k->payload ? h.payload_len : 64);
    p->nrecv++;
}

static void on_rtcp(dc__mpeer *p, uint8_t *buf, size_t n)
{
    struct dc__rtcp_info info;
    if (!p->srtp || dc__srtp_unprotect_rtcp(p->srtp, buf, &n) != 0 ||
        dc__rtcp_parse(buf, n, &info) != 0) {
        p->nbad++;
        return;
    }
    p->nrtcp++;
    if (info.has_sr && p->in_started && info.sr.ssrc == p->in.ssrc)
        dc__rtp_stats_on_sr(&p->in, info.sr.ntp, now_us());
}

static void send_rr(dc__mpeer *p)
{
    _Alignas(16) uint8_t buf[256];
    struct dc__rtcp_report_block rb;
    size_t n = 0, m = 0, nb = 0;
    if (p->in_started) {
        dc__rtp_stats_report(&p->in, now_us(), &rb);
        nb = 1;
    }
    if (dc__rtcp_build_rr(buf, sizeof buf, p->ssrc, &rb, nb, &n) != 0 ||
        dc__rtcp_build_sdes_cname(buf + n, sizeof buf - n, p->ssrc, p->cname, &m) != 0)
        return;
    size_t len = n + m;
    if (dc__srtp_protect_rtcp(p->srtp, buf, &len, sizeof buf) == 0)
        xmit(p, buf, len);
}

static void timers(dc__mpeer *p)
{
    if (!p->answered || p->mute)
        return;
    int64_t now = now_us() / 1000;
    if (now >= p->next_check_ms) {
        send_check(p);
        /* Fast until the first answer, then consent-style keepalives. */
        p->next_check_ms = now + (p->ice_ok ? 1000 : 50);
    }
    if (p->dtls && dc__dtls_timeout_ms(p->dtls) == 0) {
        dc__dtls_on_timeout(p->dtls);
        dtls_check(p);
    }
    if (p->srtp && now >= p->next_rtcp_ms) {
        p->next_rtcp_ms = now + 500;
        send_rr(p);
    }
}

static void on_packet(dc__mpeer *p, uint8_t *buf, size_t n);
static void read_stream(dc__mpeer *p);

void dc__mpeer_poll(dc__mpeer *p, int timeout_ms)
{
    timers(p);
    struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) <= 0)
        return;
    if (p->tcp) {
        read_stream(p);
    } else {
        _Alignas(16) uint8_t buf[CAP];
        for (int i = 0; i < 256; i++) {
            ssize_t r = recv(p->fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r <= 0)
                break;
            on_packet(p, buf, (size_t)r);
        }
    }
    timers(p);
}

static void on_packet(dc__mpeer *p, uint8_t *buf, size_t n)
{
    switch (dc__media_demux(buf, n)) {
    case DC__PKT_STUN:
        on_stun(p, buf, n);
        break;
    case DC__PKT_DTLS:
        if (p->dtls) {
            dc__dtls_input(p->dtls, buf, n);
            dtls_check(p);
        }
        break;
    case DC__PKT_RTP:
        on_rtp(p, buf, n);
        break;
    case DC__PKT_RTCP:
        on_rtcp(p, buf, n);
        break;
    default:
        p->nbad++;
    }
}

static void read_stream(dc__mpeer *p)
{
    for (;;) {
        ssize_t r =
            recv(p->fd, p->stream + p->stream_len, sizeof p->stream - p->stream_len, MSG_DONTWAIT);
        if (r <= 0)
            return;
        p->stream_len += (size_t)r;
        size_t off = 0;
        while (p->stream_len - off >= 2) {
            size_t n = (size_t)p->stream[off] << 8 | p->stream[off + 1];
            if (p->stream_len - off < 2 + n)
                break;
            _Alignas(16) uint8_t buf[CAP];
            if (n <= CAP) {
                memcpy(buf, p->stream + off + 2, n);
                on_packet(p, buf, n);
            } else {
                p->nbad++;
            }
            off += 2 + n;
        }
        memmove(p->stream, p->stream + off, p->stream_len - off);
        p->stream_len -= off;
    }
}

int dc__mpeer_rebind(dc__mpeer *p, const char *ip)
{
    int fd = bind_socket(ip);
    if (fd < 0)
        return DC_EIO;
    close(p->fd);
    p->fd = fd;
    /* Check at once from the new address, before any media, as a client that noticed the
     * switch would. */
    if (p->answered && !p->mute)
        send_check(p);
    p->next_check_ms = now_us() / 1000 + 1000;
    return 0;
}

void dc__mpeer_set_mute(dc__mpeer *p, int mute)
{
    p->mute = mute;
    if (!mute)
        p->next_check_ms = 0;
}

void dc__mpeer_restart_stream(dc__mpeer *p)
{
    uint32_t r[3];
    dc__random(r, sizeof r);
    p->ssrc = r[0];
    p->seq = (uint16_t)r[1];
    p->ts = r[2];
}

int dc__mpeer_send_rtp(dc__mpeer *p, const void *payload, size_t len)
{
    if (!p->srtp)
        return DC_ESTATE;
    struct dc__rtp_hdr h = {.pt = 111, .seq = p->seq++, .ts = p->ts, .ssrc = p->ssrc};
    p->ts += 960;
    size_t n;
    int rc = dc__rtp_write_header(p->last_sent, CAP, &h, &n);
    if (rc)
        return rc;
    if (n + len + DC__SRTP_MAX_OVERHEAD > CAP)
        return DC_EINVAL;
    memcpy(p->last_sent + n, payload, len);
    n += len;
    rc = dc__srtp_protect_rtp(p->srtp, p->last_sent, &n, CAP);
    if (rc)
        return rc;
    p->last_sent_len = n;
    if (!p->mute)
        xmit(p, p->last_sent, n);
    return 0;
}

void dc__mpeer_skip_rtp(dc__mpeer *p)
{
    p->seq++;
    p->ts += 960;
}

int dc__mpeer_next_rtp(dc__mpeer *p, const void *payload, size_t len, uint8_t *out, size_t cap,
                       size_t *outlen)
{
    int mute = p->mute;
    p->mute = 1;
    int rc = dc__mpeer_send_rtp(p, payload, len);
    p->mute = mute;
    if (rc == 0)
        *outlen = dc__mpeer_last_sent(p, out, cap);
    return rc;
}

int dc__mpeer_send_raw(dc__mpeer *p, const void *data, size_t len)
{
    return xmit(p, data, len) < 0 ? DC_EIO : 0;
}

size_t dc__mpeer_last_sent(const dc__mpeer *p, uint8_t *out, size_t cap)
{
    size_t n = p->last_sent_len < cap ? p->last_sent_len : cap;
    memcpy(out, p->last_sent, n);
    return n;
}

int dc__mpeer_ice_ok(const dc__mpeer *p)
{
    return p->ice_ok;
}

int dc__mpeer_srtp_ready(const dc__mpeer *p)
{
    return p->srtp != NULL;
}

int dc__mpeer_dtls_failed(const dc__mpeer *p)
{
    return p->dtls_failed;
}

uint32_t dc__mpeer_answer_ssrc(const dc__mpeer *p)
{
    return p->answer.ssrc;
}

size_t dc__mpeer_received(const dc__mpeer *p)
{
    return p->nrecv;
}

size_t dc__mpeer_recent(const dc__mpeer *p, dc__mpeer_pkt *out, size_t cap)
{
    size_t have = p->nrecv < DC__MPEER_KEEP ? p->nrecv : DC__MPEER_KEEP;
    size_t n = have < cap ? have : cap;
    for (size_t i = 0; i < n; i++)
        out[i] = p->recent[(p->nrecv - n + i) % DC__MPEER_KEEP];
    return n;
}

size_t dc__mpeer_rtcp_received(const dc__mpeer *p)
{
    return p->nrtcp;
}

size_t dc__mpeer_bad(const dc__mpeer *p)
{
    return p->nbad;
}
