/* dcalld internals shared by its modules: the server object, sessions, users, calls.
 * Everything here runs on the signalling loop thread (one libuv loop); the outbox worker has its
 * own thread and store handle and talks to the loop only through its queue. */
#ifndef DC_SERVER_SERVER_H
#define DC_SERVER_SERVER_H

#include <jansson.h>
#include <libwebsockets.h>
#include <stdint.h>
#include <uthash.h>
#include <uv.h>

#include "dcall/errors.h"
#include "server/store.h"

#define DC__MAX_MSG 65536
/* How the server writes JSON: compact, keys in insertion order, reals without binary noise. */
#define DC__JSON_OUT (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))
#define DC__REPLAY_MAX 256
#define DC__MAX_DEVICES 16
#define DC__RATE_SECONDS 12
#define DC__DOWN_SIGNAL 1 /* the party's WebSocket is gone (within the grace) */
#define DC__DOWN_MEDIA 2  /* the party's media leg is silent */

struct dc__outbox;
struct dc__call;
struct dc__user;

typedef struct dc__server_config {
    char listen_host[64];
    int listen_port;
    char data_dir[1024];
    char db_url[1024];
    int ring_timeout_s;
    int grace_s;
    int drain_s;
    int test_mode;
    char tls_cert[1024];
    char tls_key[1024];
    int media_port;     /* first UDP port of the relay; 0: ephemeral; -1: no media */
    int media_workers;  /* relay worker threads */
    int media_tcp_port; /* first ICE-TCP port; 0: ephemeral; -1: no ICE-TCP candidate */
    char public_ip[64]; /* address in media candidates (default: the listen host) */
    /* --dashboard-dir: serve the dashboard from this directory ("": the embedded copy) */
    char dashboard_dir[1024];
    /* --webhook-allow-private: webhooks may go to loopback, private and link-local addresses */
    int webhook_private;
    /* --trust-proxy: dcalld is reached only through a reverse proxy, whose X-Forwarded-For (last
     * entry) and X-Forwarded-Proto give the client's address and scheme */
    int trust_proxy;
} dc__server_config;

typedef struct dc__acct_cache {
    char id[40];
    dc__account *acct;
    UT_hash_handle hh;
} dc__acct_cache;

typedef struct dc__msg {
    struct dc__msg *next;
    size_t len;
    unsigned char buf[]; /* LWS_PRE bytes, then len bytes of text */
} dc__msg;

/* A signed-in device. Outlives its socket for the reconnect grace. */
typedef struct dc__session {
    char id[40];
    char secret[48];
    char account_id[40];
    char cuid[51];
    char name[208];
    struct dc__server *srv;
    struct dc__user *user;
    struct dc__conn *conn; /* NULL while detached */
    uint64_t seq;
    char *replay[DC__REPLAY_MAX]; /* ring of serialized events, index seq % MAX */
    uint64_t replay_first;        /* lowest seq still held */
    struct dc__call *call;        /* the call this device takes part in */
    json_t *callees;              /* token claim, or NULL */
    int64_t iat;
    uv_timer_t grace_timer;
    int closing;
    struct dc__session *next_in_user;
    UT_hash_handle hh;
} dc__session;

/* One live WebSocket (or HTTP) connection: lws per-connection user data. */
typedef struct dc__conn {
    struct lws *wsi;
    struct dc__server *srv;
    dc__session *session;
    int is_ws;
    /* ws rx reassembly */
    char *rx;
    size_t rx_len;
    /* ws send queue */
    dc__msg *q_head, *q_tail;
    size_t q_bytes;
    int close_code; /* nonzero: close after the queue drains */
    char close_reason[64];
    int close_sent;
    int64_t close_ms; /* when close_code was set (dc__ka_now clock, http.c) */
    /* rate limit (token bucket) */
    double tokens;
    int64_t tokens_ms;
    int refused_in_row;
    /* http */
    struct dc__http_req *http;
    /* WebSocket upgrade: the Origin header ("" when none); live: a dashboard live feed of
     * live_account (webauth.c), which takes no messages */
    char origin[256];
    int live;
    char live_account[40];
    char live_token_hash[65]; /* the session it was opened with: logout closes it */
    int64_t live_expires_ms;  /* the session's expiry (dc__now_ms clock): the feed ends then */
    struct dc__conn *live_next;
    /* keepalive (http.c): every WebSocket is on srv->ws_conns; last_rx_ms (dc__ka_now clock) is
     * stamped on every frame received, a sweep pings the idle and closes the silent */
    struct dc__conn *ws_prev, *ws_next;
    int64_t last_rx_ms;
    int64_t opened_ms; /* the upgrade (dc__ka_now clock): the hello deadline counts from it */
    int ping_due;      /* a WebSocket PING waits for the writeable callback */
    int ping_sent;     /* pinged since the last frame received */
} dc__conn;

typedef struct dc__user {
    char key[96]; /* account_id "/" cuid */
    char account_id[40];
    char cuid[51];
    dc__session *sessions;
    struct dc__call *call;
    int64_t place_times[10]; /* ring of the last place times, for the per-user rate */
    int place_idx;
    UT_hash_handle hh;
} dc__user;

typedef struct dc__call {
    dc__call_rec rec;
    struct dc__server *srv;
    dc__session *caller;
    dc__session *callees[DC__MAX_DEVICES];
    int n_callees;
    dc__session *answerer;
    dc__user *caller_user;
    dc__user *callee_user;
    int ringing_sent;
    int ring_timeout_s;
    char glare_ccid[65]; /* the client_call_id of a place that glared into this call */
    int down[2];         /* per party (caller, answerer): DC__DOWN_* reasons it is unreachable */
    int flowing;         /* bits 2 (caller) and 4 (answerer): its media reaches the other */
    int media_sent;      /* the `media` event went out */
    uv_timer_t ring_timer;
    int ended;
    UT_hash_handle hh;
} dc__call;

typedef struct dc__server {
    dc__server_config cfg;
    uv_loop_t *loop;
    struct lws_context *lws;
    struct lws_vhost *vhost;
    dc__store *store;
    unsigned char master_key[32];
    int lock_fd;
    int ready;
    int draining;
    int stopping;
    int64_t stop_deadline_ms;
    dc__acct_cache *accounts;
    dc__user *users;
    dc__session *sessions;
    dc__call *calls;
    struct dc__outbox *outbox;
    struct dc__relay *relay; /* NULL when media is off */
    /* the dashboard embedded in dcalld (assets.h); NULL when not built in */
    const struct dc__asset_set *assets;
    struct dc__webauth *webauth; /* dashboard sign-in state (webauth.c); NULL until first use */
    uv_signal_t sig_term, sig_int;
    uv_timer_t drain_timer;
    void (*on_drained)(struct dc__server *srv); /* the last call ended while draining */
    /* keepalive (http.c): the WebSocket connections and the sweep over them */
    dc__conn *ws_conns;
    dc__conn *ka_cursor; /* where the next sweep tick starts (NULL: the head) */
    int64_t n_ws;
    uv_timer_t ka_timer;
    int ka_timer_on;
    int64_t ka_ping_ms, ka_hangup_ms;
    /* metrics */
    int64_t n_conns;
    int64_t n_sessions;
    uint64_t placed_total;
    int64_t setup_sec[DC__RATE_SECONDS]; /* per-second buckets of placed calls */
    int64_t setup_count[DC__RATE_SECONDS];
    uint64_t ended_total[DC__N_REASONS];
} dc__server;

/* http.c: the lws context, HTTP routing, WebSocket framing. */
int dc__http_start(dc__server *srv);
void dc__http_stop(dc__server *srv);
/* Queues a text message on a connection; close_code != 0 closes after sending. */
int dc__conn_send(dc__conn *c, const char *text, size_t len);
void dc__conn_close(dc__conn *c, int code, const char *reason);

/* rest.c */
typedef struct dc__http_req {
    char method[8];
    char path[512];
    char query[2048];
    char auth[512];
    char cookie[1024];         /* Cookie header, "" when none */
    char origin[256];          /* Origin header, "" when none */
    char host[256];            /* Host header */
    char accept_encoding[128]; /* Accept-Encoding header */
    char if_none_match[128];   /* If-None-Match header */
    char peer[64];             /* client address (numeric), for rate limits */
    char csrf[128];            /* X-CSRF-Token header, "" when none */
    int tls;                   /* served over TLS */
    char *body;
    size_t body_len;
    int body_overflow;
    int dispatched; /* handed to dc__rest_handle (a body-less POST also sees BODY_COMPLETION) */
    struct lws *wsi;
    /* a handler that answers later (status stays 0 meanwhile; it then calls
     * lws_callback_on_writable(wsi)) sets release, which is called if the request goes away first
     */
    void *async;
    void (*release)(struct dc__http_req *r);
    /* response */
    int status;
    char *resp;
    size_t resp_len;
    size_t resp_sent;
    const char *content_type;
    int resp_static; /* resp points at memory the request does not own (embedded assets) */
    const char *cache_control; /* NULL: "no-store" */
    char headers[2048]; /* extra response headers, each "name: value\r\n" (dc__http_add_header) */
    int headers_sent;
    int www_auth;
} dc__http_req;
/* Appends "name: value\r\n" to r->headers; DC_ETOOBIG when full. */
int dc__http_add_header(dc__http_req *r, const char *name, const char *value);
/* Copies a request header ("" when absent or too long). */
void dc__http_copy_hdr(struct lws *wsi, enum lws_token_indexes tok, char *out, size_t n);
/* The client's address (numeric) and whether it came over TLS: the socket's, or with
 * --trust-proxy what the proxy's X-Forwarded-For / X-Forwarded-Proto say. */
void dc__http_client(const dc__server *srv, struct lws *wsi, char *peer, size_t n, int *tls);
void dc__rest_handle(dc__server *srv, dc__http_req *req);
/* Response helpers shared by the REST handlers (rest.c, webauth.c): reply steals body; reply_err
 * answers {"error":{"code","message","field"?}}. body_json: the body as a JSON object, or NULL. */
void dc__reply(dc__http_req *r, int status, json_t *body);
void dc__reply_err(dc__http_req *r, int status, int err, const char *field);
json_t *dc__body_json(dc__http_req *r);

/* session.c: sign-in, resume, event delivery, replay, presence. */
void dc__ws_on_message(dc__conn *c, const char *text, size_t len);
void dc__ws_on_close(dc__conn *c);
/* Sends an event (adds type, seq, ts_ms; steals ev). Kept for replay. */
void dc__session_event(dc__session *s, const char *type, json_t *ev);
/* Sends an error to a connection (not sequenced into replay unless signed in). */
void dc__send_error(dc__conn *c, int err, const char *field, const char *ref, json_t *extra);
dc__user *dc__user_find(dc__server *srv, const char *account_id, const char *cuid);
int dc__user_online(const dc__user *u);
/* Ends every session of a user (logout everywhere). Returns the count. */
int dc__user_logout_all(dc__server *srv, const char *account_id, const char *cuid);
void dc__session_destroy(dc__session *s);
/* Frees a user entry that has neither sessions nor a call. */
void dc__user_release(dc__server *srv, dc__user *u);
/* Sends branding to every session of the account. */
void dc__account_broadcast_branding(dc__server *srv, const char *account_id, json_t *branding);

/* calls.c: the call state machine. */
void dc__call_place(dc__session *s, json_t *msg, const char *ref);
void dc__call_action(dc__session *s, const char *type, json_t *msg, const char *ref);
/* A party's socket dropped (detached) or came back. */
void dc__call_party_detached(dc__session *s);
void dc__call_party_reattached(dc__session *s);
/* The device signs out: a party hangs up, a ringing device stops ringing. */
void dc__call_leave(dc__session *s);
/* The party's session is going away for good (grace over, logout). */
void dc__call_party_gone(dc__session *s, const char *reason);
dc__call *dc__call_find(dc__server *srv, const char *account_id, const char *id);
/* Ends a call (record saved first, then every party told). */
int dc__call_end(dc__call *call, const char *reason, const char *detail, const char *ended_by);
/* Calls placed per second over the last 10 whole seconds (the /metrics gauge). */
double dc__setups_per_second(const dc__server *srv);
/* At startup: closes calls left open by a crash. */
int dc__calls_recover(dc__server *srv, int *n_closed);
/* Builds the webhook outbox items for an event about a call record (0..1 items). */
int dc__webhook_item(dc__server *srv, const char *event, const dc__call_rec *r,
                     dc__outbox_item *item);
void dc__outbox_item_clear(dc__outbox_item *item);

/* accounts (rest.c): cached account lookup (do not free; valid until the cache entry changes). */
int dc__account_lookup(dc__server *srv, const char *id, dc__account **out);
int dc__account_save(dc__server *srv, dc__account *a);

/* callmedia.c: offers to the relay, relay events to parties and the record. */
struct dc__relay_event;
void dc__call_offer(dc__session *s, json_t *msg, const char *ref);
void dc__call_media_event(void *ud, const struct dc__relay_event *ev);
/* A party of an answered call became unreachable for reason why (DC__DOWN_*), or reachable
 * again: the other party (and the party itself, when connected) hears reconnecting/reconnected
 * once per change seen from outside. */
void dc__call_party_down(dc__call *call, dc__session *s, int why, int down);

/* calls_csv.c: the call log as CSV (header row, then every call matching f, newest first, at
 * most DC__CSV_MAX_ROWS; f's limit and cursor are not used). *out: malloc'd text. */
#define DC__CSV_MAX_ROWS 100000
int dc__calls_csv(dc__store *store, const char *account_id, const dc__call_filter *f, char **out,
                  size_t *out_len);

/* stats.c */
int dc__stats_query(dc__store *store, const char *account_id, int64_t from_ms, int64_t to_ms,
                    const char *granularity, const char *tz, json_t **out);

/* outbox.c: webhook delivery worker thread. */
int dc__outbox_start(dc__server *srv);
void dc__outbox_wake(dc__server *srv);
void dc__outbox_stop(dc__server *srv);

#endif
