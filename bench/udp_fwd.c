/* The media bench's baseline: the least a UDP relay can do (bench/README.md, "media relay").
 *
 * One thread, one UDP socket on 127.0.0.1 (ephemeral port, printed as "udp_fwd on udp
 * 127.0.0.1:PORT"), large socket buffers, epoll + recvmmsg/sendmmsg in batches of 32 as the relay
 * does. A leg registers with a 6-byte datagram "FWD1" + its peer's port (network order) and gets
 * "FWDOK" back; from then on every datagram from port A goes unchanged to 127.0.0.1:peer[A]. No
 * crypto, no parsing, no per-call state but a port table: what is left of the relay's per-packet
 * cost is the kernel's. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 32
#define CAP 1536

static uint16_t peer_of[65536]; /* network-order port -> peer's network-order port */

static int open_socket(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int buf = 8 * 1024 * 1024;
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    socklen_t al = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* One batch in, one batch out; returns how many datagrams arrived. */
static int forward_batch(int fd)
{
    static _Alignas(16) uint8_t bufs[BATCH][CAP];
    static struct sockaddr_in src[BATCH], dst[BATCH];
    static struct iovec iov[BATCH], oiov[BATCH];
    static struct mmsghdr rx[BATCH], tx[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iov[i] = (struct iovec){bufs[i], CAP};
        rx[i].msg_hdr = (struct msghdr){
            .msg_name = &src[i], .msg_namelen = sizeof src[i], .msg_iov = &iov[i], .msg_iovlen = 1};
    }
    int n = recvmmsg(fd, rx, BATCH, MSG_DONTWAIT, NULL), nt = 0;
    for (int i = 0; i < n; i++) {
        uint16_t from = src[i].sin_port;
        size_t len = rx[i].msg_len;
        dst[nt] = src[i];
        if (len == 6 && !memcmp(bufs[i], "FWD1", 4)) {
            memcpy(&peer_of[from], bufs[i] + 4, 2);
            oiov[nt] = (struct iovec){"FWDOK", 5};
        } else if (peer_of[from] && src[i].sin_addr.s_addr == htonl(INADDR_LOOPBACK)) {
            dst[nt].sin_port = peer_of[from];
            oiov[nt] = (struct iovec){bufs[i], len};
        } else {
            continue;
        }
        tx[nt].msg_hdr = (struct msghdr){.msg_name = &dst[nt],
                                         .msg_namelen = sizeof dst[nt],
                                         .msg_iov = &oiov[nt],
                                         .msg_iovlen = 1};
        nt++;
    }
    for (int off = 0; off < nt;) {
        int s = sendmmsg(fd, tx + off, (unsigned)(nt - off), MSG_DONTWAIT);
        if (s <= 0)
            break; /* a full buffer drops the rest, as the relay does */
        off += s;
    }
    return n;
}

int main(void)
{
    int port = 0, fd = open_socket(&port), ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    if (fd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        perror("udp_fwd");
        return 1;
    }
    printf("udp_fwd on udp 127.0.0.1:%d\n", port);
    fflush(stdout);
    for (;;) {
        struct epoll_event got;
        if (epoll_wait(ep, &got, 1, 1000) <= 0)
            continue;
        /* As the relay: several batches per wake-up while they come full. */
        for (int r = 0; r < 8 && forward_batch(fd) == BATCH; r++)
            ;
    }
}
