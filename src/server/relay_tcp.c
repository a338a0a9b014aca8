/* Passive ICE-TCP for the relay (RFC 6544): each worker listens on its own TCP port (the answer's
 * tcptype passive candidate), so a connection lands on the worker that owns the leg and never
 * crosses threads. Every STUN, DTLS, RTP and RTCP packet travels as a 2-byte length and the
 * packet (RFC 4571 framing). A connection becomes a leg's path when a valid check arrives on it,
 * exactly as a UDP address does. Writes never block: what the socket does not take is queued up
 * to DC__RELAY_TCP_WBUF bytes, beyond which packets are dropped (real-time media is useless
 * late anyway). */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "dcall/errors.h"
#include "server/relay_impl.h"

#define DC__TCP_RBUF 4096 /* holds at least one whole frame of any size we accept */

struct dc__tcpconn {
    int kind; /* DC__POLL_CONN: first, for epoll's data.ptr */
    int fd;
    int dead;     /* close at the next sweep (an error while sending) */
    int want_out; /* EPOLLOUT armed */
    dc__leg *leg;
    struct sockaddr_storage peer;
    socklen_t peerlen;
    int64_t created_ms, last_rx_ms;
    struct dc__tcpconn *prev, *next;
    size_t rlen, wlen;
    uint8_t *wbuf; /* DC__RELAY_TCP_WBUF bytes once needed */
    uint8_t rbuf[DC__TCP_RBUF];
};

dc__leg *dc__tcp_leg(const dc__tcpconn *c)
{
    return c->leg;
}

void dc__tcp_set_leg(dc__tcpconn *c, dc__leg *leg)
{
    c->leg = leg;
}

void dc__tcp_forget_leg(dc__worker *w, const dc__leg *leg)
{
    for (dc__tcpconn *c = w->conns; c; c = c->next)
        if (c->leg == leg)
            c->leg = NULL;
}

int dc__tcp_listen(dc__worker *w, const char *ip, int port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        sl = sizeof *a;
        if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1)
            return DC_EINVAL;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        sl = sizeof *a;
        if (inet_pton(AF_INET, ip, &a->sin_addr) != 1)
            return DC_EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return DC_EIO;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w->tag_listen};
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 128) < 0 ||
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        DC_ERROR("relay", "cannot listen on TCP %s:%d: %s", ip, port, strerror(errno));
        close(fd);
        return DC_EIO;
    }
    sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    w->tcp_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    w->tcp_fd = fd;
    return 0;
}

static void conn_close(dc__worker *w, dc__tcpconn *c)
{
    dc__worker_unlink_conn(w, c);
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    free(c->wbuf);
    free(c);
}

static void conn_open(dc__worker *w, int fd, const struct sockaddr_storage *peer, socklen_t len)
{
    dc__tcpconn *c = malloc(sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    memset(c, 0, offsetof(dc__tcpconn, rbuf));
    c->kind = DC__POLL_CONN;
    c->fd = fd;
    memcpy(&c->peer, peer, len);
    c->peerlen = len;
    c->created_ms = c->last_rx_ms = w->now;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        free(c);
        return;
    }
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
}

void dc__tcp_accept(dc__worker *w)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int fd = accept4(w->tcp_fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (w->nconns >= DC__RELAY_TCP_MAX_CONNS) {
            close(fd);
            continue;
        }
        conn_open(w, fd, &peer, len);
    }
}

static void arm_out(dc__worker *w, dc__tcpconn *c, int on)
{
    if (c->want_out == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->want_out = on;
}

static void flush_out(dc__worker *w, dc__tcpconn *c)
{
    while (c->wlen > 0) {
        ssize_t n = write(c->fd, c->wbuf, c->wlen);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                c->dead = 1;
            break;
        }
        memmove(c->wbuf, c->wbuf + n, c->wlen - (size_t)n);
        c->wlen -= (size_t)n;
    }
    arm_out(w, c, c->wlen > 0 && !c->dead);
}

static int queue_out(dc__tcpconn *c, const uint8_t *p, size_t n)
{
    if (!c->wbuf && !(c->wbuf = malloc(DC__RELAY_TCP_WBUF)))
        return -1;
    if (c->wlen + n > DC__RELAY_TCP_WBUF)
        return -1;
    memcpy(c->wbuf + c->wlen, p, n);
    c->wlen += n;
    return 0;
}

void dc__tcp_send(dc__worker *w, dc__tcpconn *c, const uint8_t *data, size_t len)
{
    if (c->dead || len > 65535)
        return;
    uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    size_t done = 0, total = len + 2;
    if (c->wlen == 0) {
        struct iovec iov[2] = {{hdr, 2}, {(void *)data, len}};
        ssize_t n = writev(c->fd, iov, 2);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            c->dead = 1;
            return;
        }
        done = n > 0 ? (size_t)n : 0;
        if (done == total)
            return;
    } else if (c->wlen + total > DC__RELAY_TCP_WBUF) {
        atomic_fetch_add_explicit(&w->cnt.dropped, 1, memory_order_relaxed);
        return;
    }
    /* Keep the stream framed: a partly written frame must be completed from the queue. */
    int rc = 0;
    if (done < 2)
        rc = queue_out(c, hdr + done, 2 - done);
    if (rc == 0)
        rc = queue_out(c, data + (done > 2 ? done - 2 : 0), len - (done > 2 ? done - 2 : 0));
    if (rc)
        c->dead = 1; /* a torn frame cannot be repaired */
    arm_out(w, c, 1);
}

/* Hands each complete frame in the read buffer to the leg code, aligned for SRTP. */
static int deframe(dc__worker *w, dc__tcpconn *c)
{
    size_t off = 0;
    while (c->rlen - off >= 2) {
        size_t n = (size_t)c->rbuf[off] << 8 | c->rbuf[off + 1];
        if (n == 0 || n > DC__RELAY_PKT_CAP)
            return -1; /* nothing we speak is that big: not a media client */
        if (c->rlen - off < 2 + n)
            break;
        memcpy(w->scratch, c->rbuf + off + 2, n);
        dc__src src = {&c->peer, c->peerlen, c};
        dc__leg_input(w, c->leg, w->scratch, n, &src);
        off += 2 + n;
        if (c->dead)
            return -1;
    }
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
    return 0;
}

void dc__tcp_event(dc__worker *w, dc__tcpconn *c, uint32_t events)
{
    if (events & EPOLLOUT)
        flush_out(w, c);
    int closed = (events & (EPOLLERR | EPOLLHUP)) != 0;
    for (int i = 0; i < 16 && !closed && (events & EPOLLIN); i++) {
        ssize_t n = read(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            closed = 1;
            break;
        }
        if (n < 0)
            break;
        c->rlen += (size_t)n;
        c->last_rx_ms = w->now;
        if (deframe(w, c) < 0)
            closed = 1;
    }
    if (closed || c->dead)
        conn_close(w, c);
}

void dc__tcp_sweep(dc__worker *w)
{
    int64_t idle = (int64_t)w->relay->grace_s * 1000 + 5000;
    dc__tcpconn *c = w->conns;
    while (c) {
        dc__tcpconn *next = c->next;
        if (c->dead || (!c->leg && w->now - c->created_ms >= DC__RELAY_TCP_NOLEG_MS) ||
            w->now - c->last_rx_ms >= idle)
            conn_close(w, c);
        c = next;
    }
}

void dc__tcp_fini(dc__worker *w)
{
    while (w->conns)
        conn_close(w, w->conns);
    if (w->tcp_fd >= 0)
        close(w->tcp_fd);
    w->tcp_fd = -1;
}
