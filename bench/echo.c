/* The benchmark's baseline: the cheapest WebSocket echo server we can write (one thread, epoll,
 * no per-connection buffer unless a frame arrives split or a write would block). dcalld is
 * compared against it so the figures mean something on a noisy machine. Built by bench/run.mjs
 * with `cc -O2 bench/echo.c -lcrypto`; not part of the product. Usage: echo [PORT] (0 = any);
 * prints "echo listening on PORT" once it accepts. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define RBUF 262144
#define MAX_MSG 65535

typedef struct conn {
    int fd;
    int upgraded;
    unsigned char *in; /* leftover bytes of an incomplete request or frame */
    size_t in_len;
    unsigned char *out; /* bytes a blocked write left behind */
    size_t out_len;
} conn;

static int g_ep;

static void conn_close(conn *c)
{
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

static int append(unsigned char **buf, size_t *len, const unsigned char *p, size_t n)
{
    unsigned char *b = realloc(*buf, *len + n);
    if (!b)
        return -1;
    memcpy(b + *len, p, n);
    *buf = b;
    *len += n;
    return 0;
}

/* Sends or queues; a queued connection waits for EPOLLOUT. */
static int conn_send(conn *c, const unsigned char *p, size_t n)
{
    if (!c->out_len) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN)
            return -1;
        if (w < 0)
            w = 0;
        p += w;
        n -= (size_t)w;
        if (!n)
            return 0;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
    return append(&c->out, &c->out_len, p, n);
}

static int conn_flush(conn *c)
{
    ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
    if (w < 0)
        return errno == EAGAIN ? 0 : -1;
    memmove(c->out, c->out + w, c->out_len - (size_t)w);
    c->out_len -= (size_t)w;
    if (!c->out_len) {
        free(c->out);
        c->out = NULL;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
    return 0;
}

/* Returns bytes consumed (0 = need more), or -1 to drop the connection. */
static long handshake(conn *c, const unsigned char *p, size_t n)
{
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    if (!end)
        return n > 8192 ? -1 : 0;
    const char *k = memmem(p, (size_t)(end - (const char *)p), "Sec-WebSocket-Key:", 18);
    if (!k)
        k = memmem(p, (size_t)(end - (const char *)p), "sec-websocket-key:", 18);
    if (!k)
        return -1;
    k += 18;
    while (*k == ' ')
        k++;
    const char *ke = k;
    while (ke < end && *ke != '\r')
        ke++;
    char buf[128];
    int kl = (int)(ke - k);
    if (kl <= 0 || kl > 60)
        return -1;
    snprintf(buf, sizeof buf, "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", kl, k);
    unsigned char sha[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)buf, strlen(buf), sha);
    unsigned char acc[64];
    EVP_EncodeBlock(acc, sha, sizeof sha);
    char resp[256];
    int rl = snprintf(resp, sizeof resp,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                      acc);
    if (conn_send(c, (const unsigned char *)resp, (size_t)rl) < 0)
        return -1;
    c->upgraded = 1;
    return end + 4 - (const char *)p;
}

/* One client frame (masked) -> the same payload back unmasked. Returns bytes consumed. */
static long frame(conn *c, unsigned char *p, size_t n)
{
    if (n < 2)
        return 0;
    unsigned op = p[0] & 0x0f, masked = p[1] & 0x80;
    uint64_t len = p[1] & 0x7f;
    size_t h = 2;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = ((uint64_t)p[2] << 8) | p[3];
        h = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | p[2 + i];
        h = 10;
    }
    if (!masked || len > MAX_MSG)
        return -1;
    if (n < h + 4 + len)
        return 0;
    unsigned char *mask = p + h, *pl = p + h + 4;
    for (uint64_t i = 0; i < len; i++)
        pl[i] ^= mask[i & 3];
    if (op == 0x8) /* close: the client is leaving; drop it */
        return -1;
    unsigned char hdr[4];
    size_t hl = 2;
    hdr[0] = (unsigned char)(0x80 | (op == 0x9 ? 0xA : op));
    if (len < 126) {
        hdr[1] = (unsigned char)len;
    } else {
        hdr[1] = 126;
        hdr[2] = (unsigned char)(len >> 8);
        hdr[3] = (unsigned char)len;
        hl = 4;
    }
    if (op != 0xA) {
        /* One send for header + payload: the header goes just before the payload. */
        unsigned char *start = pl - hl;
        memcpy(start, hdr, hl);
        if (conn_send(c, start, hl + len) < 0)
            return -1;
    }
    return (long)(h + 4 + len);
}

static int process(conn *c, unsigned char *p, size_t n, size_t *left)
{
    size_t off = 0;
    for (;;) {
        long used = c->upgraded ? frame(c, p + off, n - off) : handshake(c, p + off, n - off);
        if (used < 0)
            return -1;
        if (used == 0)
            break;
        off += (size_t)used;
    }
    *left = n - off;
    return 0;
}

static int on_readable(conn *c, unsigned char *rbuf)
{
    for (;;) {
        size_t have = c->in_len;
        if (have > RBUF - MAX_MSG - 16)
            return -1;
        if (have)
            memcpy(rbuf, c->in, have);
        ssize_t r = recv(c->fd, rbuf + have, RBUF - have, 0);
        if (r == 0)
            return -1;
        if (r < 0)
            return errno == EAGAIN ? 0 : -1;
        size_t n = have + (size_t)r, left;
        if (process(c, rbuf, n, &left) < 0)
            return -1;
        free(c->in);
        c->in = NULL;
        c->in_len = 0;
        if (left && append(&c->in, &c->in_len, rbuf + n - left, left) < 0)
            return -1;
    }
}

static void accept_all(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev) < 0)
            conn_close(c);
    }
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) {
        perror("echo: bind/listen");
        exit(1);
    }
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    printf("echo listening on %d\n", ntohs(a.sin_port));
    fflush(stdout);
    return fd;
}

int main(int argc, char **argv)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    int lfd = listen_on(argc > 1 ? atoi(argv[1]) : 0);
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(g_ep, EPOLL_CTL_ADD, lfd, &lev);
    static unsigned char rbuf[RBUF];
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(g_ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) {
                accept_all(lfd);
                continue;
            }
            int bad = (evs[i].events & (EPOLLERR | EPOLLHUP)) != 0;
            if (!bad && (evs[i].events & EPOLLOUT))
                bad = conn_flush(c) < 0;
            if (!bad && (evs[i].events & EPOLLIN))
                bad = on_readable(c, rbuf) < 0;
            if (bad)
                conn_close(c);
        }
    }
}
