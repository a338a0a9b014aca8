/* Internals of the media relay shared by relay.c (threads, sockets, queues, leg
 * tables) and relay_leg.c (per-packet work). Everything in a dc__worker and its
 * legs is touched only by that worker's thread, except the command queue (mu).
 */
#ifndef DC_SERVER_RELAY_IMPL_H
#define DC_SERVER_RELAY_IMPL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uthash.h>

#include "media/dtls.h"
#include "media/rtp.h"
#include "media/sdp.h"
#include "media/srtp.h"
#include "server/relay.h"

#define DC__RELAY_BATCH 32
#define DC__RELAY_PKT_CAP 1536 /* one UDP payload plus SRTP overhead, 4-byte aligned */
#define DC__RELAY_TICK_MS 20
#define DC__RELAY_WHEEL_SLOTS 64    /* 1.28 s of ticks, a power of two */
#define DC__RELAY_TIMER_MAX_MS 1000 /* a leg's timers run at least this often */
#define DC__RELAY_SILENT_MS 3000
#define DC__RELAY_RTCP_MS 1000
#define DC__RELAY_QUALITY_MS 5000
#define DC__RELAY_QUALITY_FIRST_MS 4000 /* first report: within 5 s of media starting */
/* A valid check without USE-CANDIDATE moves a nominated leg only when nothing
 * came from the current address for this long, so a client that still probes
 * its other candidate pairs cannot make the leg flap while its media path
 * works. */
#define DC__RELAY_MOVE_QUIET_MS 300

#define DC__RELAY_TCP_MAX_CONNS 1024   /* per worker */
#define DC__RELAY_TCP_WBUF (64 * 1024) /* queued output per connection; beyond it, drop */
#define DC__RELAY_TCP_NOLEG_MS 10000   /* a connection that never passed a check */

typedef struct dc__worker dc__worker;
typedef struct dc__tcpconn dc__tcpconn;

/* What epoll's data.ptr points at: the first member of each pollable thing. */
enum dc__poll_kind { DC__POLL_UDP = 1, DC__POLL_EVENT, DC__POLL_LISTEN, DC__POLL_CONN };

/* Where a packet came from: a UDP address, or an ICE-TCP connection (addr is then its peer). */
typedef struct dc__src {
    const struct sockaddr_storage *addr;
    socklen_t len;
    dc__tcpconn *conn;
} dc__src;

/* Fixed-size, zero-padded key for the 5-tuple table (the local side is the
 * worker's socket). */
typedef struct dc__addrkey {
    uint16_t family;
    uint16_t port;
    uint8_t ip[16];
} dc__addrkey;

/* The worker's address -> leg table for the legs' current UDP paths (relay_addr.c). */
typedef struct dc__addrent {
    struct dc__leg *leg; /* NULL: free */
    uint32_t hash;
    dc__addrkey key;
} dc__addrent;

typedef struct dc__addrtab {
    dc__addrent *e;
    uint32_t mask, n;
    uint64_t seed;
} dc__addrtab;

struct dc__leg *dc__addrtab_get(const dc__addrtab *t, const dc__addrkey *k);
/* Inserts or replaces; DC_ENOMEM when the table cannot grow. */
int dc__addrtab_put(dc__addrtab *t, const dc__addrkey *k, struct dc__leg *leg);
void dc__addrtab_del(dc__addrtab *t, const dc__addrkey *k);
void dc__addrtab_free(dc__addrtab *t);

/* A UDP address that passed a check for a leg but is not (or no longer) its path: media from it
 * is still accepted (a client may use a pair before nominating it, and packets in flight on the
 * old path arrive after a move). Sends always go on the path. */
#define DC__RELAY_MAX_VADDR 4
typedef struct dc__vaddr {
    dc__addrkey key;
    struct dc__leg *leg;
    UT_hash_handle hh;
} dc__vaddr;

/* Field order matters: the block up to `cold` is what every packet touches (on the leg it came
 * from and on its peer), kept in the first few cache lines; with thousands of legs a packet
 * otherwise pulls a dozen cold lines spread over a 1.3 KB struct. */
typedef struct dc__leg {
    /* --- hot: per packet --- */
    struct dc__leg *peer; /* set by link; both legs point at each other */
    dc__srtp *srtp;
    dc__tcpconn *conn; /* the path is this ICE-TCP connection; NULL: UDP addr */
    int has_addr;      /* a path (UDP address or TCP connection) is known */
    int opus_pt;       /* the Opus payload type this party negotiated */
    int in_started, flowing, silent, lost;
    socklen_t addrlen;
    int64_t last_rx_ms, last_addr_rx_ms; /* monotonic ms; last packet from the current address */
    int64_t hear_start_ms;               /* first packet forwarded to this leg; 0 until then */
    dc__addrkey akey;
    /* outbound stream (what we send this leg's party): one continuous stream */
    uint32_t out_ssrc;
    int out_started;
    uint32_t src_ssrc; /* SSRC of the peer's stream we currently map onto it */
    uint16_t src_last_seq;
    uint16_t seq_delta; /* out seq = src seq + seq_delta */
    uint32_t ts_delta;  /* out ts = src ts + ts_delta */
    uint16_t out_last_seq;
    uint32_t out_last_ts;
    int64_t out_last_ms;
    uint32_t out_packets, out_octets;
    /* inbound stream (what this leg's party sends us) */
    struct dc__rtp_rx_stats in;
    struct sockaddr_storage addr; /* the UDP path (its first addrlen bytes are hot) */

    /* --- cold: signalling, ICE checks, timers --- */
    char key[96]; /* "<call_id>/<leg_id>" */
    char call_id[40];
    char leg_id[48];
    dc__worker *w;
    UT_hash_handle hh_id, hh_uf, hh_olduf;
    /* the worker's timer wheel (relay.c): one slot list per 20 ms tick */
    struct dc__leg *t_next, *t_prev;
    int t_slot; /* -1: not scheduled */
    int64_t due_ms;

    /* ICE (we are lite: answer checks, follow the nominated address) */
    char ufrag[DC_SDP_UFRAG_MAX + 1], pwd[DC_SDP_PWD_MAX + 1];
    char old_ufrag[DC_SDP_UFRAG_MAX + 1], old_pwd[DC_SDP_PWD_MAX + 1]; /* "" unless restarting */
    char remote_ufrag[DC_SDP_UFRAG_MAX + 1], old_remote_ufrag[DC_SDP_UFRAG_MAX + 1];
    int in_uf, in_olduf, in_addr;
    int nominated;
    dc__vaddr *vaddr[DC__RELAY_MAX_VADDR]; /* oldest first */
    int nvaddr;

    /* DTLS-SRTP */
    uint8_t remote_fp[DC__DTLS_FP_LEN];
    dc__dtls *dtls;
    int connected, failed;
    char cname[20];

    /* what the party reports about our outbound stream (its RR) */
    double rtt_ms; /* < 0: not measured yet */
    double rr_jitter_ms;
    int32_t rr_lost;     /* cumulative lost */
    uint32_t rr_ext_max; /* extended highest sequence number */
    int have_rr;

    /* timers (monotonic ms) */
    int64_t created_ms, next_rtcp_ms;
    /* quality of what this leg's party hears */
    int64_t next_quality_ms;
    uint32_t q_in_expected; /* peer's inbound counters at the last report */
    int64_t q_in_lost;
    int32_t q_rr_lost; /* this leg's RR counters at the last report */
    uint32_t q_rr_ext_max;
} dc__leg;

typedef enum dc__relay_cmd_kind {
    DC__CMD_OFFER = 1,
    DC__CMD_LINK,
    DC__CMD_DROP
} dc__relay_cmd_kind;

typedef struct dc__relay_cmd {
    struct dc__relay_cmd *next;
    dc__relay_cmd_kind kind;
    char call_id[40];
    char leg_id[48]; /* "" for DROP of the whole call */
    char leg_b[48];  /* LINK */
    /* OFFER */
    char ufrag[DC_SDP_UFRAG_MAX + 1], pwd[DC_SDP_PWD_MAX + 1];
    char remote_ufrag[DC_SDP_UFRAG_MAX + 1];
    uint8_t remote_fp[DC__DTLS_FP_LEN];
    uint32_t out_ssrc;
    int opus_pt;
    char cname[20];
} dc__relay_cmd;

/* An answered call's two legs, kept by the worker so a leg whose offer arrives after the link
 * (a device that offers once it has answered) is joined to its peer when it is created. */
typedef struct dc__wlink {
    char call_id[40];
    char leg_a[48], leg_b[48];
    UT_hash_handle hh;
} dc__wlink;

typedef struct dc__relay_evnode {
    struct dc__relay_evnode *next;
    dc__relay_event ev;
} dc__relay_evnode;

/* Counters a worker keeps (read racily by tests and stats; never reset). */
typedef struct dc__relay_counters {
    atomic_ulong rx, tx, dropped, stun, forwarded;
} dc__relay_counters;

struct dc__worker {
    dc__relay *relay;
    int idx;
    pthread_t th;
    int started;
    int fd, port, efd, epfd;
    int tcp_fd, tcp_port; /* -1 / 0 when ICE-TCP is off */
    int tag_udp, tag_event, tag_listen;
    dc__tcpconn *conns; /* doubly linked */
    int nconns;
    int64_t next_sweep_ms;
    _Alignas(16) uint8_t scratch[DC__RELAY_PKT_CAP]; /* one TCP frame, aligned for SRTP */
    atomic_int stop;
    pthread_mutex_t mu;
    dc__relay_cmd *cmd_head, *cmd_tail;

    dc__leg *by_id, *by_uf, *by_olduf;
    dc__addrtab by_addr; /* current UDP paths */
    dc__vaddr *by_vaddr;
    /* Leg timers: a wheel of DC__RELAY_WHEEL_SLOTS ticks; wheel_tick is the last tick done. */
    dc__leg *wheel[DC__RELAY_WHEEL_SLOTS];
    int64_t wheel_tick;
    uint64_t rng; /* xorshift state for timer jitter (not for secrets) */
    dc__wlink *links;
    int64_t now; /* monotonic ms, refreshed once per loop turn */

    struct mmsghdr rx[DC__RELAY_BATCH];
    struct iovec rxiov[DC__RELAY_BATCH];
    struct sockaddr_storage rxaddr[DC__RELAY_BATCH];
    _Alignas(16) uint8_t rxbuf[DC__RELAY_BATCH][DC__RELAY_PKT_CAP];

    struct mmsghdr tx[DC__RELAY_BATCH];
    struct iovec txiov[DC__RELAY_BATCH];
    struct sockaddr_storage txaddr[DC__RELAY_BATCH];
    _Alignas(16) uint8_t txbuf[DC__RELAY_BATCH][DC__RELAY_PKT_CAP];
    int ntx;

    dc__relay_counters cnt;
};

/* The signalling thread's view of a leg: our credentials and SSRC, so a
 * re-offer with the same remote credentials gets the same answer and a new one
 * is recognised as an ICE restart. */
typedef struct dc__sig_leg {
    char key[96];
    char call_id[40];
    int worker;
    char ufrag[DC_ICE_UFRAG_LEN + 1], pwd[DC_ICE_PWD_LEN + 1];
    char remote_ufrag[DC_SDP_UFRAG_MAX + 1];
    uint8_t remote_fp[DC__DTLS_FP_LEN];
    uint32_t ssrc;
    char cname[20];
    uint64_t sess_id, sess_ver;
    UT_hash_handle hh;
} dc__sig_leg;

struct dc__relay {
    dc__relay_config cfg;
    int grace_s;
    uv_loop_t *loop;
    dc__relay_event_cb cb;
    void *ud;
    dc__dtls_ctx *dtls;
    uv_async_t async;
    pthread_mutex_t ev_mu;
    dc__relay_evnode *ev_head, *ev_tail;
    dc__sig_leg *sig; /* signalling thread only */
    char err_field[32];
    int nworkers;
    dc__worker *workers;
};

/* relay.c: queues and sends, for relay_leg.c */
void dc__relay_emit(dc__worker *w, const dc__leg *leg, dc__relay_event_type type, int err);
void dc__relay_emit_quality(dc__worker *w, const dc__leg *leg, double mos, double loss_pct,
                            double rtt_ms, double jitter_ms);
/* A free transmit slot (DC__RELAY_PKT_CAP bytes, 16-byte aligned), then one of: send it to a
 * UDP address, to where a packet came from, or along a leg's current path. */
uint8_t *dc__worker_tx_slot(dc__worker *w);
void dc__worker_tx_commit(dc__worker *w, size_t len, const struct sockaddr_storage *to,
                          socklen_t tolen);
void dc__worker_tx_to(dc__worker *w, const dc__src *to, size_t len);
void dc__worker_tx_leg(dc__worker *w, dc__leg *leg, size_t len);
/* Copies data into a slot and sends it along the leg's path. */
void dc__worker_send_leg(dc__worker *w, dc__leg *leg, const void *data, size_t len);
void dc__worker_flush(dc__worker *w);
/* Leg tables: the leg's path becomes src (a UDP address or a TCP connection). */
void dc__worker_set_path(dc__worker *w, dc__leg *leg, const dc__src *src);
/* src passed a check for leg: accept media from it from now on (see dc__vaddr). */
void dc__worker_validate(dc__worker *w, dc__leg *leg, const dc__src *src);
/* The connection is going away: the leg on it (if any) loses its path. */
void dc__worker_unlink_conn(dc__worker *w, dc__tcpconn *c);
void dc__worker_forget_old_ufrag(dc__worker *w, dc__leg *leg);
void dc__addrkey_of(dc__addrkey *k, const struct sockaddr_storage *a);
/* A pseudo-random number in [0, n) to spread timers (n > 0). */
uint32_t dc__worker_rand(dc__worker *w, uint32_t n);

/* relay_leg.c: per-leg and per-packet work, all on the worker thread */
int dc__leg_create(dc__worker *w, const dc__relay_cmd *c, dc__leg **out);
/* A new offer for an existing leg: an ICE restart when the remote ufrag
 * changed, a new DTLS association when the remote fingerprint changed. */
int dc__leg_reoffer(dc__worker *w, dc__leg *leg, const dc__relay_cmd *c);
void dc__leg_destroy(dc__worker *w, dc__leg *leg);
/* One received datagram or TCP frame (pkt 4-byte aligned); leg is the one whose current path it
 * came on, or NULL. */
void dc__leg_input(dc__worker *w, dc__leg *leg, uint8_t *pkt, size_t len, const dc__src *src);
void dc__leg_tick(dc__worker *w, dc__leg *leg);
/* When the leg's timers next need dc__leg_tick (monotonic ms; at most DC__RELAY_TIMER_MAX_MS on).
 */
int64_t dc__leg_next_due(const dc__worker *w, const dc__leg *leg);

/* relay_tcp.c: passive ICE-TCP (RFC 6544 framing), on the worker thread */
int dc__tcp_listen(dc__worker *w, const char *ip, int port);
void dc__tcp_accept(dc__worker *w);
void dc__tcp_event(dc__worker *w, dc__tcpconn *c, uint32_t events);
/* Frames and sends (or queues) one packet; drops it when the queue is full. */
void dc__tcp_send(dc__worker *w, dc__tcpconn *c, const uint8_t *data, size_t len);
/* Closes dead, leg-less and idle connections (from the tick). */
void dc__tcp_sweep(dc__worker *w);
void dc__tcp_fini(dc__worker *w);
/* The leg whose path this connection is, or NULL. */
dc__leg *dc__tcp_leg(const dc__tcpconn *c);
void dc__tcp_set_leg(dc__tcpconn *c, dc__leg *leg);
/* The leg goes away: no connection refers to it any more. */
void dc__tcp_forget_leg(dc__worker *w, const dc__leg *leg);

#endif
