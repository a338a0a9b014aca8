/* The client object, shared by client.c (public API, command queue, lifetime) and conn.c (the
 * WebSocket connection and the protocol state on the loop thread). */
#ifndef DC_SDK_CLIENT_PRIV_H
#define DC_SDK_CLIENT_PRIV_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "sdk_internal.h"

struct lws_context;
struct lws;

enum dc__cmd_kind {
    DC__CMD_CONNECT,
    DC__CMD_DISCONNECT,
    DC__CMD_LOGOUT,
    DC__CMD_SEND,
    DC__CMD_PLACE,
    DC__CMD_NETCHANGE,
    DC__CMD_DESTROY
};

struct dc__cmd {
    struct dc__cmd *next;
    enum dc__cmd_kind kind;
    char *text;    /* DC__CMD_SEND / DC__CMD_PLACE: JSON message */
    char ccid[65]; /* DC__CMD_PLACE: its client_call_id */
};

/* A message waiting for the socket; buf has LWS_PRE bytes of headroom before the text. */
struct dc__out {
    struct dc__out *next;
    size_t len;
    unsigned char *buf;
};

enum dc__state { DC__ST_IDLE, DC__ST_CONNECTING, DC__ST_OPEN, DC__ST_READY, DC__ST_BACKOFF };

struct dc_client {
    atomic_int refs;
    dc_config cfg; /* strings owned by the client */
    struct dc__url url;
    char hostport[300];

    uv_loop_t own_loop;
    uv_loop_t *loop;
    int own_thread;
    uv_thread_t thread;
    uv_async_t async;
    uv_timer_t retry_timer;
    uv_timer_t place_timer;
    uv_timer_t reap_timer;
    int handles_open;

    uv_mutex_t mu; /* guards the command queue only */
    struct dc__cmd *cq_head, *cq_tail;

    /* Everything below is touched on the loop thread only. */
    struct lws_context *ctx; /* lws clears it (pcontext) once fully destroyed */
    /* uv handles lws made on our loop at context creation: a context on a foreign loop can be
     * finalized (a second lws_context_destroy) only once these are closed. */
    void *lws_handles[8];
    int n_lws_handles;
    int ctx_destroy_calls;
    struct lws *wsi;
    struct dc__out *oq_head, *oq_tail; /* app messages, sent once registered */
    struct dc__out *hello;
    unsigned char *rx;
    size_t rx_len, rx_cap;
    int rx_overflow;

    enum dc__state state;
    int active;     /* the app wants a connection (connect and no disconnect yet) */
    int final;      /* no reconnect: auth error, logout or close 4001/4002 */
    int user_close; /* 1 disconnect, 2 logout */
    int close_code;
    int error_emitted; /* an auth DC_EV_ERROR was already delivered for this close */
    int registered_once;
    int reconnecting_emitted;
    int64_t first_attempt_ms;
    unsigned backoff_ms;
    int destroying;

    char session_id[128];
    char *resume_secret;
    int64_t last_seq;
    int64_t acked_seq; /* last seq acknowledged to the server */

    int call_live;
    char call_id[65];
    char call_ccid[65];
    int64_t answered_ms; /* wall clock of DC_EV_ANSWERED for the live call, 0 before */
    int64_t lost_ms;     /* when the connection dropped while the call was live */

    char pend_ccid[65]; /* place sent, no outgoing yet */
    char *pend_text;
    char timedout_ccid[65]; /* a place given up on; a late outgoing for it gets cancelled */

    struct dc__media *media; /* the media engine (media.h); loop thread only */
    atomic_int mute, hold;   /* audio controls, set from any thread */
    atomic_int gain_milli;   /* output volume x 1000 */
};

/* conn.c */
int dc__conn_start(struct dc_client *c);
void dc__conn_disconnect(struct dc_client *c, int logout);
void dc__conn_send(struct dc_client *c, char *text);
void dc__conn_place(struct dc_client *c, char *text, const char *ccid);
void dc__conn_destroy(struct dc_client *c);
void dc__conn_retry_cb(uv_timer_t *t);
void dc__conn_place_timeout_cb(uv_timer_t *t);
void dc__client_emit(struct dc_client *c, dc_event *ev);
/* client.c: stops timers and frees the client once lws and our handles are closed. */
void dc__client_start_reap(struct dc_client *c);
/* 1 while any handle in c->lws_handles is still on the loop. */
int dc__lws_handles_alive(struct dc_client *c);

#endif
