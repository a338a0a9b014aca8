/* The media relay's threads, sockets, queues and leg tables (relay.h).
 * Per-packet work is in relay_leg.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "dcall/errors.h"
#include "media/quality.h"
#include "server/relay_impl.h"

#define DC__SOCKBUF (8 << 20) /* ~140 ms of 100,000 small datagrams/s: rides out a stall */
#define DC__RX_ROUNDS 8 /* recvmmsg batches per wake-up before looking at commands and timers */

/* --- events to the signalling loop --- */

static void push_event(dc__relay *r, const dc__relay_event *ev)
{
    dc__relay_evnode *n = malloc(sizeof *n);
    if (!n)
        return;
    n->ev = *ev;
    n->next = NULL;
    pthread_mutex_lock(&r->ev_mu);
    if (r->ev_tail)
        r->ev_tail->next = n;
    else
        r->ev_head = n;
    r->ev_tail = n;
    pthread_mutex_unlock(&r->ev_mu);
    uv_async_send(&r->async);
}

static void fill_event(dc__relay_event *ev, const dc__leg *leg, dc__relay_event_type type)
{
    memset(ev, 0, sizeof *ev);
    ev->type = type;
    snprintf(ev->call_id, sizeof ev->call_id, "%s", leg->call_id);
    snprintf(ev->leg_id, sizeof ev->leg_id, "%s", leg->leg_id);
}

void dc__relay_emit(dc__worker *w, const dc__leg *leg, dc__relay_event_type type, int err)
{
    dc__relay_event ev;
    fill_event(&ev, leg, type);
    ev.err = err;
    push_event(w->relay, &ev);
}

void dc__relay_emit_quality(dc__worker *w, const dc__leg *leg, double mos, double loss_pct,
                            double rtt_ms, double jitter_ms)
{
    dc__relay_event ev;
    fill_event(&ev, leg, DC__RELAY_EV_QUALITY);
    ev.mos = mos;
    ev.loss_pct = loss_pct;
    ev.rtt_ms = rtt_ms;
    ev.jitter_ms = jitter_ms;
    push_event(w->relay, &ev);
}

static void on_async(uv_async_t *a)
{
    dc__relay *r = a->data;
    pthread_mutex_lock(&r->ev_mu);
    dc__relay_evnode *n = r->ev_head;
    r->ev_head = r->ev_tail = NULL;
    pthread_mutex_unlock(&r->ev_mu);
    while (n) {
        dc__relay_evnode *next = n->next;
        if (r->cb)
            r->cb(r->ud, &n->ev);
        free(n);
        n = next;
    }
}

/* --- sending --- */

void dc__worker_flush(dc__worker *w)
{
    int off = 0;
    while (off < w->ntx) {
        int n = sendmmsg(w->fd, w->tx + off, (unsigned)(w->ntx - off), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* Full socket buffer or an unreachable peer: drop the rest, never block.
             */
            atomic_fetch_add(&w->cnt.dropped, (unsigned long)(w->ntx - off));
            break;
        }
        atomic_fetch_add(&w->cnt.tx, (unsigned long)n);
        off += n == 0 ? 1 : n;
    }
    w->ntx = 0;
}

uint8_t *dc__worker_tx_slot(dc__worker *w)
{
    if (w->ntx == DC__RELAY_BATCH)
        dc__worker_flush(w);
    return w->txbuf[w->ntx];
}

void dc__worker_tx_commit(dc__worker *w, size_t len, const struct sockaddr_storage *to,
                          socklen_t tolen)
{
    int i = w->ntx;
    memcpy(&w->txaddr[i], to, tolen);
    w->txiov[i].iov_base = w->txbuf[i];
    w->txiov[i].iov_len = len;
    memset(&w->tx[i].msg_hdr, 0, sizeof w->tx[i].msg_hdr);
    w->tx[i].msg_hdr.msg_name = &w->txaddr[i];
    w->tx[i].msg_hdr.msg_namelen = tolen;
    w->tx[i].msg_hdr.msg_iov = &w->txiov[i];
    w->tx[i].msg_hdr.msg_iovlen = 1;
    w->ntx = i + 1;
    if (w->ntx == DC__RELAY_BATCH)
        dc__worker_flush(w);
}

void dc__worker_tx_to(dc__worker *w, const dc__src *to, size_t len)
{
    if (to->conn)
        dc__tcp_send(w, to->conn, w->txbuf[w->ntx], len); /* the slot stays free */
    else
        dc__worker_tx_commit(w, len, to->addr, to->len);
}

void dc__worker_tx_leg(dc__worker *w, dc__leg *leg, size_t len)
{
    if (!leg->has_addr)
        return;
    if (leg->conn)
        dc__tcp_send(w, leg->conn, w->txbuf[w->ntx], len);
    else
        dc__worker_tx_commit(w, len, &leg->addr, leg->addrlen);
}

void dc__worker_send_leg(dc__worker *w, dc__leg *leg, const void *data, size_t len)
{
    if (len > DC__RELAY_PKT_CAP)
        return;
    uint8_t *slot = dc__worker_tx_slot(w);
    memcpy(slot, data, len);
    dc__worker_tx_leg(w, leg, len);
}

/* --- leg tables --- */

void dc__addrkey_of(dc__addrkey *k, const struct sockaddr_storage *a)
{
    memset(k, 0, sizeof *k);
    k->family = a->ss_family;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)a;
        k->port = s->sin_port;
        memcpy(k->ip, &s->sin_addr, 4);
    } else if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)a;
        k->port = s->sin6_port;
        memcpy(k->ip, &s->sin6_addr, 16);
    }
}

static void drop_udp_path(dc__worker *w, dc__leg *leg)
{
    if (leg->in_addr) {
        dc__addrtab_del(&w->by_addr, &leg->akey);
        leg->in_addr = 0;
    }
}

static void vaddr_remove(dc__worker *w, dc__vaddr *v)
{
    dc__leg *leg = v->leg;
    int i = 0;
    while (i < leg->nvaddr && leg->vaddr[i] != v)
        i++;
    if (i < leg->nvaddr) {
        memmove(&leg->vaddr[i], &leg->vaddr[i + 1], (size_t)(leg->nvaddr - i - 1) * sizeof v);
        leg->nvaddr--;
    }
    HASH_DEL(w->by_vaddr, v);
    free(v);
}

static void vaddr_add(dc__worker *w, dc__leg *leg, const dc__addrkey *k)
{
    dc__vaddr *v = NULL;
    HASH_FIND(hh, w->by_vaddr, k, sizeof *k, v);
    if (v && v->leg == leg)
        return;
    if (v)
        vaddr_remove(w, v); /* the address now belongs to another leg */
    if (leg->nvaddr == DC__RELAY_MAX_VADDR)
        vaddr_remove(w, leg->vaddr[0]);
    v = calloc(1, sizeof *v);
    if (!v)
        return;
    v->key = *k;
    v->leg = leg;
    HASH_ADD(hh, w->by_vaddr, key, sizeof v->key, v);
    leg->vaddr[leg->nvaddr++] = v;
}

static void vaddr_forget_leg(dc__worker *w, dc__leg *leg)
{
    while (leg->nvaddr > 0)
        vaddr_remove(w, leg->vaddr[0]);
}

void dc__worker_validate(dc__worker *w, dc__leg *leg, const dc__src *src)
{
    if (src->conn) {
        dc__leg *other = dc__tcp_leg(src->conn);
        if (other && other != leg && other->conn == src->conn) {
            other->conn = NULL;
            other->has_addr = 0;
        }
        dc__tcp_set_leg(src->conn, leg);
        return;
    }
    dc__addrkey k;
    dc__addrkey_of(&k, src->addr);
    if (!(leg->in_addr && memcmp(&k, &leg->akey, sizeof k) == 0))
        vaddr_add(w, leg, &k);
}

static void set_udp_path(dc__worker *w, dc__leg *leg, const dc__src *src)
{
    dc__addrkey k;
    dc__addrkey_of(&k, src->addr);
    if (leg->in_addr && memcmp(&k, &leg->akey, sizeof k) != 0)
        vaddr_add(w, leg, &leg->akey); /* the old path: packets still in flight */
    /* Another leg on the same 5-tuple (a client that re-offered under a new leg) loses it. */
    dc__leg *other = dc__addrtab_get(&w->by_addr, &k);
    if (other && other != leg) {
        drop_udp_path(w, other);
        other->has_addr = 0;
    }
    drop_udp_path(w, leg);
    leg->akey = k;
    leg->in_addr = dc__addrtab_put(&w->by_addr, &leg->akey, leg) == 0;
}

/* A TCP connection that passed a check stays the leg's (conn->leg) even when the leg's path
 * moves to another one: packets still in flight on it are accepted, as a client that opened
 * several connections may nominate one and then another. Sends go on the current path only. */
void dc__worker_set_path(dc__worker *w, dc__leg *leg, const dc__src *src)
{
    leg->conn = NULL;
    if (src->conn) {
        drop_udp_path(w, leg);
        dc__leg *other = dc__tcp_leg(src->conn);
        if (other && other != leg && other->conn == src->conn) {
            other->conn = NULL;
            other->has_addr = 0;
        }
        dc__tcp_set_leg(src->conn, leg);
        leg->conn = src->conn;
    } else {
        set_udp_path(w, leg, src);
    }
    memcpy(&leg->addr, src->addr, src->len);
    leg->addrlen = src->len;
    leg->has_addr = 1;
}

void dc__worker_unlink_conn(dc__worker *w, dc__tcpconn *c)
{
    (void)w;
    dc__leg *leg = dc__tcp_leg(c);
    if (leg && leg->conn == c) {
        leg->conn = NULL;
        leg->has_addr = 0;
    }
    dc__tcp_set_leg(c, NULL);
}

void dc__worker_forget_old_ufrag(dc__worker *w, dc__leg *leg)
{
    if (leg->in_olduf) {
        HASH_DELETE(hh_olduf, w->by_olduf, leg);
        leg->in_olduf = 0;
    }
    leg->old_ufrag[0] = leg->old_pwd[0] = leg->old_remote_ufrag[0] = '\0';
}

/* --- leg timers: a wheel of 20 ms slots, each leg in the slot of its next due time, so a tick
 * touches only the legs whose timers are due instead of every leg every 20 ms --- */

uint32_t dc__worker_rand(dc__worker *w, uint32_t n)
{
    uint64_t x = w->rng ? w->rng : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32) % n;
}

static void wheel_unlink(dc__worker *w, dc__leg *leg)
{
    if (leg->t_slot < 0)
        return;
    if (leg->t_prev)
        leg->t_prev->t_next = leg->t_next;
    else
        w->wheel[leg->t_slot] = leg->t_next;
    if (leg->t_next)
        leg->t_next->t_prev = leg->t_prev;
    leg->t_next = leg->t_prev = NULL;
    leg->t_slot = -1;
}

/* Never into a tick already done: the earliest is the next one. */
static void wheel_insert(dc__worker *w, dc__leg *leg, int64_t due_ms)
{
    int64_t t = due_ms / DC__RELAY_TICK_MS;
    if (t <= w->wheel_tick)
        t = w->wheel_tick + 1;
    int slot = (int)(t & (DC__RELAY_WHEEL_SLOTS - 1));
    leg->due_ms = due_ms;
    leg->t_slot = slot;
    leg->t_prev = NULL;
    leg->t_next = w->wheel[slot];
    if (leg->t_next)
        leg->t_next->t_prev = leg;
    w->wheel[slot] = leg;
}

/* Runs the timers of the legs due in every tick up to now (all slots once after a long stall). */
static void wheel_run(dc__worker *w)
{
    int64_t cur = w->now / DC__RELAY_TICK_MS;
    int64_t from = w->wheel_tick + 1;
    if (cur - from >= DC__RELAY_WHEEL_SLOTS)
        from = cur - DC__RELAY_WHEEL_SLOTS + 1;
    for (int64_t t = from; t <= cur; t++) {
        int slot = (int)(t & (DC__RELAY_WHEEL_SLOTS - 1));
        dc__leg *list = w->wheel[slot];
        w->wheel[slot] = NULL;
        w->wheel_tick = t;
        while (list) {
            dc__leg *leg = list;
            list = leg->t_next;
            leg->t_next = leg->t_prev = NULL;
            leg->t_slot = -1;
            if (leg->due_ms <= w->now) {
                dc__leg_tick(w, leg);
                wheel_insert(w, leg, dc__leg_next_due(w, leg));
            } else {
                wheel_insert(w, leg, leg->due_ms); /* a later turn of the wheel */
            }
        }
    }
}

static void worker_add_leg(dc__worker *w, dc__leg *leg)
{
    HASH_ADD(hh_id, w->by_id, key, strlen(leg->key), leg);
    HASH_ADD(hh_uf, w->by_uf, ufrag, strlen(leg->ufrag), leg);
    leg->in_uf = 1;
    wheel_insert(w, leg, w->now + DC__RELAY_TICK_MS);
}

static void worker_remove_leg(dc__worker *w, dc__leg *leg)
{
    if (leg->peer) {
        leg->peer->peer = NULL;
        leg->peer = NULL;
    }
    HASH_DELETE(hh_id, w->by_id, leg);
    if (leg->in_uf)
        HASH_DELETE(hh_uf, w->by_uf, leg);
    if (leg->in_olduf)
        HASH_DELETE(hh_olduf, w->by_olduf, leg);
    drop_udp_path(w, leg);
    wheel_unlink(w, leg);
    dc__tcp_forget_leg(w, leg);
    vaddr_forget_leg(w, leg);
    dc__leg_destroy(w, leg);
}

static dc__leg *find_leg(dc__worker *w, const char *call_id, const char *leg_id)
{
    char key[96];
    snprintf(key, sizeof key, "%s/%s", call_id, leg_id);
    dc__leg *leg = NULL;
    HASH_FIND(hh_id, w->by_id, key, strlen(key), leg);
    return leg;
}

/* --- commands from the signalling thread --- */

static void pair_legs(dc__leg *a, dc__leg *b)
{
    if (a->peer && a->peer != b)
        a->peer->peer = NULL;
    if (b->peer && b->peer != a)
        b->peer->peer = NULL;
    a->peer = b;
    b->peer = a;
}

/* A new leg of an answered call: joined to its peer when it is one of the linked two. */
static void join_link(dc__worker *w, dc__leg *leg)
{
    dc__wlink *l = NULL;
    HASH_FIND_STR(w->links, leg->call_id, l);
    if (!l)
        return;
    const char *other = !strcmp(leg->leg_id, l->leg_a)   ? l->leg_b
                        : !strcmp(leg->leg_id, l->leg_b) ? l->leg_a
                                                         : NULL;
    dc__leg *peer = other ? find_leg(w, leg->call_id, other) : NULL;
    if (peer)
        pair_legs(leg, peer);
}

static void cmd_offer(dc__worker *w, const dc__relay_cmd *c)
{
    dc__leg *leg = find_leg(w, c->call_id, c->leg_id);
    if (!leg) {
        if (dc__leg_create(w, c, &leg) == 0) {
            worker_add_leg(w, leg);
            join_link(w, leg);
        }
        return;
    }
    if (strcmp(leg->ufrag, c->ufrag) != 0) {
        /* ICE restart: the current credentials become the old ones until the new
         * pair is nominated; a restart during a restart forgets the oldest. */
        dc__worker_forget_old_ufrag(w, leg);
        HASH_DELETE(hh_uf, w->by_uf, leg);
        leg->in_uf = 0;
        memcpy(leg->old_ufrag, leg->ufrag, sizeof leg->old_ufrag);
        memcpy(leg->old_pwd, leg->pwd, sizeof leg->old_pwd);
        memcpy(leg->old_remote_ufrag, leg->remote_ufrag, sizeof leg->old_remote_ufrag);
        HASH_ADD(hh_olduf, w->by_olduf, old_ufrag, strlen(leg->old_ufrag), leg);
        leg->in_olduf = 1;
        snprintf(leg->ufrag, sizeof leg->ufrag, "%s", c->ufrag);
        snprintf(leg->pwd, sizeof leg->pwd, "%s", c->pwd);
        snprintf(leg->remote_ufrag, sizeof leg->remote_ufrag, "%s", c->remote_ufrag);
        HASH_ADD(hh_uf, w->by_uf, ufrag, strlen(leg->ufrag), leg);
        leg->in_uf = 1;
    }
    dc__leg_reoffer(w, leg, c);
    /* A new DTLS association needs its handshake timers from the next tick on. */
    wheel_unlink(w, leg);
    wheel_insert(w, leg, w->now + DC__RELAY_TICK_MS);
}

static void cmd_link(dc__worker *w, const dc__relay_cmd *c)
{
    dc__leg *a = find_leg(w, c->call_id, c->leg_id);
    dc__leg *b = find_leg(w, c->call_id, c->leg_b);
    dc__leg *leg, *tmp;
    HASH_ITER(hh_id, w->by_id, leg, tmp)
    {
        if (leg != a && leg != b && strcmp(leg->call_id, c->call_id) == 0)
            worker_remove_leg(w, leg);
    }
    dc__wlink *l = NULL;
    HASH_FIND_STR(w->links, c->call_id, l);
    if (!l && (l = calloc(1, sizeof *l)) != NULL) {
        snprintf(l->call_id, sizeof l->call_id, "%s", c->call_id);
        HASH_ADD_STR(w->links, call_id, l);
    }
    if (l) {
        snprintf(l->leg_a, sizeof l->leg_a, "%s", c->leg_id);
        snprintf(l->leg_b, sizeof l->leg_b, "%s", c->leg_b);
    }
    if (a && b && a != b)
        pair_legs(a, b);
}

static void forget_link(dc__worker *w, const char *call_id)
{
    dc__wlink *l = NULL;
    HASH_FIND_STR(w->links, call_id, l);
    if (l) {
        HASH_DEL(w->links, l);
        free(l);
    }
}

static void cmd_drop(dc__worker *w, const dc__relay_cmd *c)
{
    if (c->leg_id[0]) {
        dc__leg *leg = find_leg(w, c->call_id, c->leg_id);
        if (leg)
            worker_remove_leg(w, leg);
        return;
    }
    forget_link(w, c->call_id);
    dc__leg *leg, *tmp;
    HASH_ITER(hh_id, w->by_id, leg, tmp)
    {
        if (strcmp(leg->call_id, c->call_id) == 0)
            worker_remove_leg(w, leg);
    }
}

static void run_commands(dc__worker *w)
{
    uint64_t v;
    if (read(w->efd, &v, sizeof v) < 0 && errno != EAGAIN)
        DC_WARN("relay", "eventfd read: %s", strerror(errno));
    pthread_mutex_lock(&w->mu);
    dc__relay_cmd *c = w->cmd_head;
    w->cmd_head = w->cmd_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    while (c) {
        dc__relay_cmd *next = c->next;
        if (c->kind == DC__CMD_OFFER)
            cmd_offer(w, c);
        else if (c->kind == DC__CMD_LINK)
            cmd_link(w, c);
        else if (c->kind == DC__CMD_DROP)
            cmd_drop(w, c);
        /* The command held ICE passwords: wipe before freeing. */
        memset(c, 0, sizeof *c);
        free(c);
        c = next;
    }
    dc__worker_flush(w);
}

static void cmd_push(dc__worker *w, dc__relay_cmd *c)
{
    c->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->cmd_tail)
        w->cmd_tail->next = c;
    else
        w->cmd_head = c;
    w->cmd_tail = c;
    pthread_mutex_unlock(&w->mu);
    uint64_t one = 1;
    if (write(w->efd, &one, sizeof one) < 0 && errno != EAGAIN)
        DC_WARN("relay", "eventfd write: %s", strerror(errno));
}

/* --- the worker loop --- */

static dc__leg *leg_by_addr(dc__worker *w, const struct sockaddr_storage *a)
{
    dc__addrkey k;
    dc__addrkey_of(&k, a);
    dc__leg *leg = dc__addrtab_get(&w->by_addr, &k);
    if (!leg) {
        dc__vaddr *v = NULL;
        HASH_FIND(hh, w->by_vaddr, &k, sizeof k, v);
        leg = v ? v->leg : NULL;
    }
    return leg;
}

/* With thousands of legs every packet's state is cold. Looking up a whole batch first and asking
 * for each packet's leg, peer and SRTP state before any is used lets those cache misses overlap
 * instead of being paid one after another. A STUN packet may move a path: packets after it in
 * the batch are looked up again. */
static void dispatch(dc__worker *w, int n)
{
    dc__leg *legs[DC__RELAY_BATCH];
    for (int i = 0; i < n; i++) {
        legs[i] = leg_by_addr(w, &w->rxaddr[i]);
        if (legs[i]) {
            __builtin_prefetch(legs[i]);
            __builtin_prefetch((const char *)legs[i] + 64);
            __builtin_prefetch((const char *)legs[i] + 128);
            __builtin_prefetch((const char *)legs[i] + 192);
        }
    }
    for (int i = 0; i < n; i++) {
        dc__leg *p = legs[i], *x = p ? p->peer : NULL;
        if (p) {
            __builtin_prefetch(p->srtp);
            dc__srtp_prefetch(p->srtp, 1);
        }
        if (x) {
            __builtin_prefetch(x);
            __builtin_prefetch((const char *)x + 64);
            __builtin_prefetch((const char *)x + 128);
            __builtin_prefetch((const char *)x + 192);
        }
    }
    for (int i = 0; i < n; i++) {
        dc__leg *x = legs[i] ? legs[i]->peer : NULL;
        if (x) {
            __builtin_prefetch(x->srtp);
            dc__srtp_prefetch(x->srtp, 0);
        }
    }
    int moved = 0;
    for (int i = 0; i < n; i++) {
        uint8_t *pkt = w->rxbuf[i];
        dc__leg *leg = moved ? leg_by_addr(w, &w->rxaddr[i]) : legs[i];
        dc__src src = {&w->rxaddr[i], w->rx[i].msg_hdr.msg_namelen, NULL};
        if (w->rx[i].msg_len > 0 && pkt[0] < 2)
            moved = 1; /* STUN (RFC 7983) */
        dc__leg_input(w, leg, pkt, w->rx[i].msg_len, &src);
    }
}

static void receive(dc__worker *w)
{
    for (int round = 0; round < DC__RX_ROUNDS; round++) {
        for (int i = 0; i < DC__RELAY_BATCH; i++) {
            w->rxiov[i].iov_base = w->rxbuf[i];
            /* Unprotect works in place and only shrinks a packet: no headroom needed. */
            w->rxiov[i].iov_len = DC__RELAY_PKT_CAP;
            memset(&w->rx[i].msg_hdr, 0, sizeof w->rx[i].msg_hdr);
            w->rx[i].msg_hdr.msg_name = &w->rxaddr[i];
            w->rx[i].msg_hdr.msg_namelen = sizeof w->rxaddr[i];
            w->rx[i].msg_hdr.msg_iov = &w->rxiov[i];
            w->rx[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(w->fd, w->rx, DC__RELAY_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            break;
        atomic_fetch_add(&w->cnt.rx, (unsigned long)n);
        dispatch(w, n);
        dc__worker_flush(w);
        if (n < DC__RELAY_BATCH)
            break;
    }
}

static void tick(dc__worker *w)
{
    wheel_run(w);
    if (w->tcp_fd >= 0 && w->now >= w->next_sweep_ms) {
        w->next_sweep_ms = w->now + 1000;
        dc__tcp_sweep(w);
    }
    dc__worker_flush(w);
}

static void *worker_main(void *arg)
{
    dc__worker *w = arg;
    char name[16];
    snprintf(name, sizeof name, "dc-relay-%d", w->idx);
    pthread_setname_np(pthread_self(), name);
    int64_t next_tick = dc__mono_ms() + DC__RELAY_TICK_MS;
    while (!atomic_load(&w->stop)) {
        w->now = dc__mono_ms();
        int timeout = (int)(next_tick > w->now ? next_tick - w->now : 0);
        struct epoll_event evs[64];
        int n = epoll_wait(w->epfd, evs, 64, timeout);
        w->now = dc__mono_ms();
        for (int i = 0; i < n; i++) {
            int kind = *(const int *)evs[i].data.ptr;
            if (kind == DC__POLL_EVENT)
                run_commands(w);
            else if (kind == DC__POLL_UDP)
                receive(w);
            else if (kind == DC__POLL_LISTEN)
                dc__tcp_accept(w);
            else
                dc__tcp_event(w, evs[i].data.ptr, evs[i].events);
        }
        dc__worker_flush(w);
        if (w->now >= next_tick) {
            tick(w);
            next_tick = w->now + DC__RELAY_TICK_MS;
        }
    }
    return NULL;
}

/* --- start and stop --- */

static int udp_socket(const char *ip, int port, int *fd_out, int *port_out)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1)
            return DC_EINVAL;
        sl = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, ip, &a->sin_addr) != 1)
            return DC_EINVAL;
        sl = sizeof *a;
    }
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return DC_EIO;
    int buf = DC__SOCKBUF;
    /* SO_*BUFFORCE needs CAP_NET_ADMIN; fall back to what rmem_max allows. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        DC_ERROR("relay", "cannot bind UDP %s:%d: %s", ip, port, strerror(errno));
        close(fd);
        return DC_EIO;
    }
    sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    *fd_out = fd;
    return 0;
}

static int worker_init(dc__relay *r, dc__worker *w, int idx)
{
    int port = r->cfg.port > 0 ? r->cfg.port + idx : 0;
    int rc = udp_socket(r->cfg.bind_ip, port, &w->fd, &w->port);
    if (rc)
        return rc;
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (w->efd < 0 || w->epfd < 0)
        return DC_EIO;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w->tag_udp};
    struct epoll_event eev = {.events = EPOLLIN, .data.ptr = &w->tag_event};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0 ||
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->efd, &eev) < 0)
        return DC_EIO;
    if (r->cfg.tcp) {
        rc = dc__tcp_listen(w, r->cfg.bind_ip, r->cfg.tcp_port > 0 ? r->cfg.tcp_port + idx : 0);
        if (rc)
            return rc;
    }
    dc__random(&w->rng, sizeof w->rng);
    w->wheel_tick = dc__mono_ms() / DC__RELAY_TICK_MS;
    if (pthread_create(&w->th, NULL, worker_main, w) != 0)
        return DC_EIO;
    w->started = 1;
    return 0;
}

static void worker_fini(dc__worker *w)
{
    if (w->started) {
        atomic_store(&w->stop, 1);
        uint64_t one = 1;
        if (write(w->efd, &one, sizeof one) < 0)
            DC_WARN("relay", "eventfd write: %s", strerror(errno));
        pthread_join(w->th, NULL);
    }
    dc__leg *leg, *tmp;
    HASH_ITER(hh_id, w->by_id, leg, tmp)
    {
        worker_remove_leg(w, leg);
    }
    dc__relay_cmd *c = w->cmd_head;
    while (c) {
        dc__relay_cmd *next = c->next;
        memset(c, 0, sizeof *c);
        free(c);
        c = next;
    }
    dc__wlink *l, *ltmp;
    HASH_ITER(hh, w->links, l, ltmp)
    {
        HASH_DEL(w->links, l);
        free(l);
    }
    dc__tcp_fini(w);
    dc__addrtab_free(&w->by_addr);
    if (w->fd >= 0)
        close(w->fd);
    if (w->efd >= 0)
        close(w->efd);
    if (w->epfd >= 0)
        close(w->epfd);
    pthread_mutex_destroy(&w->mu);
}

static void free_relay(dc__relay *r)
{
    for (int i = 0; i < r->nworkers; i++)
        worker_fini(&r->workers[i]);
    free(r->workers);
    dc__sig_leg *s, *tmp;
    HASH_ITER(hh, r->sig, s, tmp)
    {
        HASH_DEL(r->sig, s);
        memset(s, 0, sizeof *s);
        free(s);
    }
    dc__relay_evnode *n = r->ev_head;
    while (n) {
        dc__relay_evnode *next = n->next;
        free(n);
        n = next;
    }
    dc__dtls_ctx_free(r->dtls);
    pthread_mutex_destroy(&r->ev_mu);
    free(r);
}

static void on_async_closed(uv_handle_t *h)
{
    free_relay(h->data);
}

int dc__relay_start(const dc__relay_config *cfg, uv_loop_t *loop, int grace_s,
                    dc__relay_event_cb cb, void *ud, dc__relay **out)
{
    if (!cfg || !loop || !out || cfg->workers < 1 || cfg->workers > 256 || cfg->port < 0 ||
        cfg->port + cfg->workers > 65536 || cfg->tcp_port < 0 ||
        cfg->tcp_port + cfg->workers > 65536)
        return DC_EINVAL;
    dc__relay *r = calloc(1, sizeof *r);
    if (!r)
        return DC_ENOMEM;
    r->cfg = *cfg;
    if (!r->cfg.bind_ip[0])
        snprintf(r->cfg.bind_ip, sizeof r->cfg.bind_ip, "127.0.0.1");
    if (!r->cfg.public_ip[0])
        snprintf(r->cfg.public_ip, sizeof r->cfg.public_ip, "%s", r->cfg.bind_ip);
    r->grace_s = grace_s > 0 ? grace_s : 20;
    r->loop = loop;
    r->cb = cb;
    r->ud = ud;
    pthread_mutex_init(&r->ev_mu, NULL);
    int rc = dc__dtls_ctx_new(&r->dtls);
    if (rc) {
        pthread_mutex_destroy(&r->ev_mu);
        free(r);
        return rc;
    }
    r->workers = calloc((size_t)cfg->workers, sizeof *r->workers);
    if (!r->workers) {
        free_relay(r);
        return DC_ENOMEM;
    }
    r->nworkers = cfg->workers;
    for (int i = 0; i < r->nworkers; i++) {
        dc__worker *w = &r->workers[i];
        w->relay = r;
        w->idx = i;
        w->fd = w->efd = w->epfd = w->tcp_fd = -1;
        w->tag_udp = DC__POLL_UDP;
        w->tag_event = DC__POLL_EVENT;
        w->tag_listen = DC__POLL_LISTEN;
        pthread_mutex_init(&w->mu, NULL);
    }
    if (uv_async_init(loop, &r->async, on_async) != 0) {
        free_relay(r);
        return DC_EIO;
    }
    r->async.data = r;
    for (int i = 0; i < r->nworkers; i++) {
        rc = worker_init(r, &r->workers[i], i);
        if (rc) {
            dc__relay_stop(r);
            return rc;
        }
    }
    DC_INFO("relay", "%d worker(s), UDP %s:%d%s", r->nworkers, r->cfg.bind_ip, r->workers[0].port,
            r->nworkers > 1 ? "+" : "");
    *out = r;
    return 0;
}

void dc__relay_stop(dc__relay *r)
{
    if (!r)
        return;
    /* Workers stop first so nothing sends on the async after it closes; the relay
     * is freed once libuv is done with the handle. Events still queued are
     * dropped. */
    for (int i = 0; i < r->nworkers; i++) {
        dc__worker *w = &r->workers[i];
        if (w->started) {
            atomic_store(&w->stop, 1);
            uint64_t one = 1;
            if (write(w->efd, &one, sizeof one) < 0)
                DC_WARN("relay", "eventfd write: %s", strerror(errno));
            pthread_join(w->th, NULL);
            w->started = 0;
        }
    }
    r->cb = NULL;
    uv_close((uv_handle_t *)&r->async, on_async_closed);
}

int dc__relay_udp_port(const dc__relay *r, int worker)
{
    if (!r || worker < 0 || worker >= r->nworkers)
        return DC_EINVAL;
    return r->workers[worker].port;
}

int dc__relay_tcp_port(const dc__relay *r, int worker)
{
    if (!r || worker < 0 || worker >= r->nworkers)
        return DC_EINVAL;
    return r->workers[worker].tcp_port;
}

/* --- the signalling side --- */

static int worker_of(const dc__relay *r, const char *call_id)
{
    /* FNV-1a: both legs of a call hash alike, so they share a worker. */
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)call_id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return (int)(h % (uint32_t)r->nworkers);
}

static int valid_ids(const char *call_id, const char *leg_id)
{
    return call_id && *call_id && strlen(call_id) < 40 && strchr(call_id, '/') == NULL &&
           (!leg_id || (*leg_id && strlen(leg_id) < 48));
}

static dc__sig_leg *sig_find(dc__relay *r, const char *call_id, const char *leg_id)
{
    char key[96];
    snprintf(key, sizeof key, "%s/%s", call_id, leg_id);
    dc__sig_leg *s = NULL;
    HASH_FIND_STR(r->sig, key, s);
    return s;
}

static int sig_new(dc__relay *r, const char *call_id, const char *leg_id, dc__sig_leg **out)
{
    dc__sig_leg *s = calloc(1, sizeof *s);
    if (!s)
        return DC_ENOMEM;
    snprintf(s->key, sizeof s->key, "%s/%s", call_id, leg_id);
    snprintf(s->call_id, sizeof s->call_id, "%s", call_id);
    s->worker = worker_of(r, call_id);
    uint64_t sid = 0;
    if (dc__random(&s->ssrc, sizeof s->ssrc) || dc__random(&sid, sizeof sid) ||
        dc__random_id(s->cname, "", 16)) {
        free(s);
        return DC_EIO;
    }
    s->sess_id = sid >> 2;
    HASH_ADD_STR(r->sig, key, s);
    *out = s;
    return 0;
}

/* Our credentials for this offer: kept when the remote ones did not change (a
 * re-offer), fresh for a new leg or an ICE restart. */
static int sig_credentials(dc__sig_leg *s, const dc__sdp *offer)
{
    if (s->ufrag[0] && strcmp(s->remote_ufrag, offer->ice_ufrag) == 0)
        return 0;
    int rc = dc__ice_credentials(s->ufrag, s->pwd);
    if (rc)
        return rc;
    snprintf(s->remote_ufrag, sizeof s->remote_ufrag, "%s", offer->ice_ufrag);
    return 0;
}

static int offer_cmd(dc__relay *r, const dc__sig_leg *s, const char *leg_id, const dc__sdp *offer)
{
    dc__relay_cmd *c = calloc(1, sizeof *c);
    if (!c)
        return DC_ENOMEM;
    c->kind = DC__CMD_OFFER;
    snprintf(c->call_id, sizeof c->call_id, "%s", s->call_id);
    snprintf(c->leg_id, sizeof c->leg_id, "%s", leg_id);
    snprintf(c->ufrag, sizeof c->ufrag, "%s", s->ufrag);
    snprintf(c->pwd, sizeof c->pwd, "%s", s->pwd);
    snprintf(c->remote_ufrag, sizeof c->remote_ufrag, "%s", offer->ice_ufrag);
    memcpy(c->remote_fp, offer->fingerprint, sizeof c->remote_fp);
    c->out_ssrc = s->ssrc;
    c->opus_pt = offer->opus_pt;
    snprintf(c->cname, sizeof c->cname, "%s", s->cname);
    cmd_push(&r->workers[s->worker], c);
    return 0;
}

int dc__relay_offer(dc__relay *r, const char *call_id, const char *leg_id, const char *offer,
                    size_t len, char **answer, const char **err_field)
{
    if (err_field)
        *err_field = NULL;
    if (!r || !offer || !answer || !valid_ids(call_id, leg_id))
        return DC_EINVAL;
    *answer = NULL;
    dc__sdp *sdp = malloc(sizeof *sdp);
    char *out = malloc(DC_SDP_MAX_LEN);
    int rc = sdp && out ? 0 : DC_ENOMEM;
    dc__sdp_error perr;
    if (rc == 0 && (rc = dc__sdp_parse(offer, len, sdp, &perr)) != 0) {
        snprintf(r->err_field, sizeof r->err_field, "%s", perr.field);
        if (err_field)
            *err_field = r->err_field;
        rc = DC_ESDP;
    }
    dc__sig_leg *s = rc ? NULL : sig_find(r, call_id, leg_id);
    int created = 0;
    if (rc == 0 && !s && (rc = sig_new(r, call_id, leg_id, &s)) == 0)
        created = 1;
    if (rc == 0)
        rc = sig_credentials(s, sdp);
    if (rc == 0) {
        dc__sdp_local loc = {.ice_ufrag = s->ufrag,
                             .ice_pwd = s->pwd,
                             .ssrc = s->ssrc,
                             .cname = s->cname,
                             .session_id = s->sess_id,
                             .session_version = ++s->sess_ver,
                             .ip = r->cfg.public_ip,
                             .udp_port = (uint16_t)r->workers[s->worker].port,
                             .tcp_port = (uint16_t)r->workers[s->worker].tcp_port};
        memcpy(loc.fingerprint, dc__dtls_ctx_fingerprint_raw(r->dtls), sizeof loc.fingerprint);
        rc = dc__sdp_build_answer(sdp, &loc, out, DC_SDP_MAX_LEN, NULL);
        if (rc == DC_ESDP) {
            snprintf(r->err_field, sizeof r->err_field, "a=setup");
            if (err_field)
                *err_field = r->err_field;
        }
    }
    if (rc == 0)
        rc = offer_cmd(r, s, leg_id, sdp);
    if (rc && created) {
        HASH_DEL(r->sig, s);
        free(s);
    }
    free(sdp);
    if (rc) {
        free(out);
        return rc;
    }
    *answer = out;
    return 0;
}

int dc__relay_link(dc__relay *r, const char *call_id, const char *leg_a, const char *leg_b)
{
    if (!r || !valid_ids(call_id, leg_a) || !valid_ids(call_id, leg_b))
        return DC_EINVAL;
    dc__relay_cmd *c = calloc(1, sizeof *c);
    if (!c)
        return DC_ENOMEM;
    c->kind = DC__CMD_LINK;
    snprintf(c->call_id, sizeof c->call_id, "%s", call_id);
    snprintf(c->leg_id, sizeof c->leg_id, "%s", leg_a);
    snprintf(c->leg_b, sizeof c->leg_b, "%s", leg_b);
    /* The worker drops the call's other legs; forget their signalling state too.
     */
    dc__sig_leg *s, *tmp;
    HASH_ITER(hh, r->sig, s, tmp)
    {
        if (strcmp(s->call_id, call_id) != 0)
            continue;
        const char *leg = s->key + strlen(call_id) + 1;
        if (strcmp(leg, leg_a) != 0 && strcmp(leg, leg_b) != 0) {
            HASH_DEL(r->sig, s);
            memset(s, 0, sizeof *s);
            free(s);
        }
    }
    cmd_push(&r->workers[worker_of(r, call_id)], c);
    return 0;
}

int dc__relay_drop(dc__relay *r, const char *call_id, const char *leg_id)
{
    if (!r || !valid_ids(call_id, leg_id))
        return DC_EINVAL;
    dc__relay_cmd *c = calloc(1, sizeof *c);
    if (!c)
        return DC_ENOMEM;
    c->kind = DC__CMD_DROP;
    snprintf(c->call_id, sizeof c->call_id, "%s", call_id);
    if (leg_id)
        snprintf(c->leg_id, sizeof c->leg_id, "%s", leg_id);
    dc__sig_leg *s, *tmp;
    HASH_ITER(hh, r->sig, s, tmp)
    {
        if (strcmp(s->call_id, call_id) != 0)
            continue;
        if (!leg_id || strcmp(s->key + strlen(call_id) + 1, leg_id) == 0) {
            HASH_DEL(r->sig, s);
            memset(s, 0, sizeof *s);
            free(s);
        }
    }
    cmd_push(&r->workers[worker_of(r, call_id)], c);
    return 0;
}
