/* The lws context on the signalling loop: HTTP request collection and responses, WebSocket rx
 * reassembly (up to DC__MAX_MSG) and a per-connection send queue. Routing lives in rest.c and
 * session.c; nothing here knows about calls. */
#include <stdio.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "server/server.h"
#include "server/webauth.h"

#define DC__SENDQ_MAX (4u << 20) /* a reader this far behind is cut */

/* Keepalive (docs/protocol.md): a WebSocket that has sent no frame for DC__KA_PING_MS gets a
 * WebSocket PING; one silent for DC__KA_HANGUP_MS is closed 1001 "keepalive_timeout" (with
 * --test-mode, DCALL_TEST_KEEPALIVE_MS="PING,HANGUP" shortens both for the tests). lws's own
 * validity timers did this before, but lws 4.1 keeps every timer of the thread in one sorted list
 * and re-inserts a connection's timer, walking the list, at each of its pings and pongs: O(n) per
 * connection per interval, O(n^2) in all. Here a frame received costs one store of the loop's
 * cached time, and one timer sweeps the list of WebSockets: a fifth of it every 200 ms. */
#define DC__KA_PING_MS 15000
#define DC__KA_HANGUP_MS 30000
#define DC__KA_TICK_MS 200
#define DC__KA_TICKS 5 /* ticks for one pass over the list */
/* A WebSocket that has not signed in 10 s after its upgrade is closed 4001 "hello_timeout". The
 * sweep checks it too: an lws timer per socket (lws_set_timer_usecs) is one more insert into the
 * sorted list, a walk of it at each connect. */
#define DC__HELLO_MS 10000

/* The keepalive clock: the loop's cached monotonic time, no system call per frame. Not the test
 * clock: tests that move it by hours (session expiry) must not see every socket time out. */
static int64_t dc__ka_now(const dc__server *srv)
{
    return (int64_t)uv_now(srv->loop);
}

static void dc__ka_config(dc__server *srv)
{
    srv->ka_ping_ms = DC__KA_PING_MS;
    srv->ka_hangup_ms = DC__KA_HANGUP_MS;
    const char *e = getenv("DCALL_TEST_KEEPALIVE_MS");
    if (!srv->cfg.test_mode || !e)
        return;
    long ping = 0, hangup = 0;
    if (sscanf(e, "%ld,%ld", &ping, &hangup) != 2 || ping < 100 || hangup <= ping ||
        hangup > 3600000) {
        DC_WARN("http", "DCALL_TEST_KEEPALIVE_MS: want PING,HANGUP in ms, 100 <= PING < HANGUP "
                        "<= 3600000; keeping 15000,30000");
        return;
    }
    srv->ka_ping_ms = ping;
    srv->ka_hangup_ms = hangup;
}

/* A frame (data or PONG) came from the peer. */
static void dc__ka_seen(dc__conn *c)
{
    c->last_rx_ms = dc__ka_now(c->srv);
    c->ping_sent = 0;
}

static void dc__ka_attach(dc__conn *c)
{
    dc__server *srv = c->srv;
    c->ws_prev = NULL;
    c->ws_next = srv->ws_conns;
    if (srv->ws_conns)
        srv->ws_conns->ws_prev = c;
    srv->ws_conns = c;
    srv->n_ws++;
    dc__ka_seen(c);
    c->opened_ms = c->last_rx_ms;
}

static void dc__ka_detach(dc__conn *c)
{
    dc__server *srv = c->srv;
    if (!srv || (!c->ws_prev && srv->ws_conns != c))
        return; /* not on the list */
    if (srv->ka_cursor == c)
        srv->ka_cursor = c->ws_next;
    if (c->ws_prev)
        c->ws_prev->ws_next = c->ws_next;
    else
        srv->ws_conns = c->ws_next;
    if (c->ws_next)
        c->ws_next->ws_prev = c->ws_prev;
    c->ws_prev = c->ws_next = NULL;
    srv->n_ws--;
}

static void dc__ka_check(const dc__server *srv, dc__conn *c, int64_t now)
{
    if (!c->wsi)
        return;
    if (c->close_code) {
        /* a close frame stuck behind data the peer never reads (its window full) would hold the
         * socket and its queue forever: give it the ping interval to get out, then drop */
        if (!c->close_sent && now - c->close_ms >= srv->ka_ping_ms) {
            c->close_sent = 1; /* given up on; the timeout is set once */
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, 1);
        }
        return;
    }
    int64_t idle = now - c->last_rx_ms;
    if (!c->session && !c->live && now - c->opened_ms >= DC__HELLO_MS) {
        dc__conn_close(c, 4001, "hello_timeout");
    } else if (idle >= srv->ka_hangup_ms) {
        dc__conn_close(c, 1001, "keepalive_timeout");
        /* a peer that reads nothing never lets the close frame out: lws drops it in 2 s */
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, 2);
    } else if (idle >= srv->ka_ping_ms && !c->ping_sent) {
        c->ping_sent = 1;
        c->ping_due = 1;
        lws_callback_on_writable(c->wsi);
    }
}

static void dc__ka_tick(uv_timer_t *t)
{
    dc__server *srv = t->data;
    int64_t now = dc__ka_now(srv), n = (srv->n_ws + DC__KA_TICKS - 1) / DC__KA_TICKS;
    dc__conn *c = srv->ka_cursor ? srv->ka_cursor : srv->ws_conns;
    for (; c && n > 0; n--) {
        dc__conn *next = c->ws_next; /* dc__ka_check never frees c */
        dc__ka_check(srv, c, now);
        c = next;
    }
    srv->ka_cursor = c; /* NULL: the next tick starts over at the head */
}

static int dc__http_method(struct lws *wsi, char *out, size_t n)
{
    static const struct {
        enum lws_token_indexes tok;
        const char *name;
    } m[] = {{WSI_TOKEN_GET_URI, "GET"},         {WSI_TOKEN_POST_URI, "POST"},
             {WSI_TOKEN_PUT_URI, "PUT"},         {WSI_TOKEN_DELETE_URI, "DELETE"},
             {WSI_TOKEN_OPTIONS_URI, "OPTIONS"}, {WSI_TOKEN_PATCH_URI, "PATCH"},
             {WSI_TOKEN_HEAD_URI, "HEAD"}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        if (lws_hdr_total_length(wsi, m[i].tok) > 0) {
            snprintf(out, n, "%s", m[i].name);
            return 0;
        }
    }
    return -1;
}

static void dc__http_req_free(dc__http_req *r)
{
    if (!r)
        return;
    if (r->release)
        r->release(r);
    free(r->body);
    if (!r->resp_static)
        free(r->resp);
    free(r);
}

/* Copies the query string: lws splits it into '&'-separated fragments. */
static void dc__http_query(struct lws *wsi, char *out, size_t n)
{
    size_t used = 0;
    char frag[1024];
    out[0] = '\0';
    for (int i = 0; i < 64; i++) {
        int len = lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (len <= 0)
            break;
        int w = snprintf(out + used, n - used, "%s%s", used ? "&" : "", frag);
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
}

void dc__http_copy_hdr(struct lws *wsi, enum lws_token_indexes tok, char *out, size_t n)
{
    if (lws_hdr_total_length(wsi, tok) >= (int)n || lws_hdr_copy(wsi, out, (int)n, tok) < 0)
        out[0] = '\0';
}

/* A header whose mere presence matters (Authorization: cookies are then ignored; Origin: a
 * browser's, checked against a list or the server's own): as dc__http_copy_hdr, but a header
 * too long to copy becomes too_long (a value that never passes) rather than "" (absent). */
static void dc__http_copy_hdr_present(struct lws *wsi, enum lws_token_indexes tok, char *out,
                                      size_t n, const char *too_long)
{
    dc__http_copy_hdr(wsi, tok, out, n);
    if (!out[0] && lws_hdr_total_length(wsi, tok) > 0)
        snprintf(out, n, "%s", too_long);
}

int dc__http_add_header(dc__http_req *r, const char *name, const char *value)
{
    size_t used = strlen(r->headers);
    int w = snprintf(r->headers + used, sizeof r->headers - used, "%s: %s\r\n", name, value);
    if (w < 0 || (size_t)w >= sizeof r->headers - used) {
        r->headers[used] = '\0';
        return DC_ETOOBIG;
    }
    return 0;
}

/* Writes the extra "name: value\r\n" headers of r. */
static int dc__http_extra_headers(struct lws *wsi, const dc__http_req *r, unsigned char **p,
                                  unsigned char *end)
{
    const char *h = r->headers;
    while (*h) {
        const char *colon = strchr(h, ':'), *eol = strstr(h, "\r\n");
        if (!colon || !eol || colon > eol)
            return -1;
        char name[128];
        size_t nl = (size_t)(colon - h);
        if (nl + 2 > sizeof name)
            return -1;
        memcpy(name, h, nl);
        name[nl] = ':';
        name[nl + 1] = '\0';
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)v,
                                        (int)(eol - v), p, end))
            return -1;
        h = eol + 2;
    }
    return 0;
}

/* The security headers of a response whose handler set none (the API's): what lws's
 * HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE used to add, which cannot be turned off per
 * response and would have stacked a second, stricter policy on the dashboard's own. */
static int dc__http_security_headers(struct lws *wsi, const dc__http_req *r, unsigned char **p,
                                     unsigned char *end)
{
    static const char *const h[][2] = {
        {"content-security-policy:", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"},
        {"x-content-type-options:", "nosniff"},
        {"x-frame-options:", "DENY"},
        {"referrer-policy:", "no-referrer"},
    };
    /* a handler with its own policy (assets.c) sets all four itself */
    int own = strstr(r->headers, "content-security-policy:") != NULL;
    for (size_t i = 0; !own && i < sizeof h / sizeof h[0]; i++)
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)h[i][0],
                                        (const unsigned char *)h[i][1], (int)strlen(h[i][1]), p,
                                        end))
            return -1;
    static const char hsts[] = "max-age=15768000; includeSubDomains";
    if (r->tls &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)"strict-transport-security:",
                                    (const unsigned char *)hsts, (int)sizeof hsts - 1, p, end))
        return -1;
    return 0;
}

void dc__http_client(const dc__server *srv, struct lws *wsi, char *peer, size_t n, int *tls)
{
    lws_get_peer_simple(wsi, peer, n);
    *tls = lws_is_ssl(wsi);
    if (!srv->cfg.trust_proxy)
        return;
    /* the last X-Forwarded-For entry is the one our proxy appended: the address it saw */
    char xff[512], proto[16], buf[16];
    if (lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR) < (int)sizeof xff &&
        lws_hdr_copy(wsi, xff, sizeof xff, WSI_TOKEN_X_FORWARDED_FOR) > 0) {
        char *last = strrchr(xff, ',');
        last = last ? last + 1 : xff;
        last += strspn(last, " \t");
        last[strcspn(last, " \t")] = '\0';
        if (inet_pton(AF_INET, last, buf) == 1 || inet_pton(AF_INET6, last, buf) == 1)
            snprintf(peer, n, "%s", last);
    }
    if (lws_hdr_custom_length(wsi, "x-forwarded-proto:", 18) < (int)sizeof proto &&
        lws_hdr_custom_copy(wsi, proto, (int)sizeof proto, "x-forwarded-proto:", 18) > 0)
        *tls = !strcasecmp(proto, "https");
}

static int dc__http_begin(dc__conn *c, struct lws *wsi, const char *uri)
{
    dc__http_req_free(c->http);
    c->http = calloc(1, sizeof *c->http);
    if (!c->http)
        return -1;
    dc__http_req *r = c->http;
    c->wsi = wsi;
    r->wsi = wsi;
    if (dc__http_method(wsi, r->method, sizeof r->method) < 0)
        snprintf(r->method, sizeof r->method, "OTHER");
    snprintf(r->path, sizeof r->path, "%s", uri ? uri : "/");
    dc__http_query(wsi, r->query, sizeof r->query);
    dc__http_copy_hdr_present(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, r->auth, sizeof r->auth, "-");
    dc__http_copy_hdr(wsi, WSI_TOKEN_HTTP_COOKIE, r->cookie, sizeof r->cookie);
    dc__http_copy_hdr_present(wsi, WSI_TOKEN_ORIGIN, r->origin, sizeof r->origin, "null");
    dc__http_copy_hdr(wsi, WSI_TOKEN_HOST, r->host, sizeof r->host);
    if (!r->host[0]) /* HTTP/2 has :authority instead of Host */
        dc__http_copy_hdr(wsi, WSI_TOKEN_HTTP_COLON_AUTHORITY, r->host, sizeof r->host);
    dc__http_copy_hdr(wsi, WSI_TOKEN_HTTP_ACCEPT_ENCODING, r->accept_encoding,
                      sizeof r->accept_encoding);
    dc__http_copy_hdr(wsi, WSI_TOKEN_HTTP_IF_NONE_MATCH, r->if_none_match, sizeof r->if_none_match);
    if (lws_hdr_custom_length(wsi, "x-csrf-token:", 13) >= (int)sizeof r->csrf ||
        lws_hdr_custom_copy(wsi, r->csrf, (int)sizeof r->csrf, "x-csrf-token:", 13) < 0)
        r->csrf[0] = '\0';
    dc__http_client(c->srv, wsi, r->peer, sizeof r->peer, &r->tls);
    return 0;
}

static void dc__http_dispatch(dc__conn *c)
{
    if (c->http->dispatched)
        return; /* "Content-Length: 0": lws reports a body completion after the headers too */
    c->http->dispatched = 1;
    dc__rest_handle(c->srv, c->http);
    lws_callback_on_writable(c->wsi);
}

static int dc__http_write(dc__conn *c, struct lws *wsi)
{
    dc__http_req *r = c->http;
    if (!r || !r->status)
        return 0;
    if (!r->headers_sent) {
        unsigned char hbuf[LWS_PRE + 4096];
        unsigned char *start = hbuf + LWS_PRE, *p = start, *end = hbuf + sizeof hbuf - 1;
        if (lws_add_http_common_headers(wsi, (unsigned int)r->status,
                                        r->content_type ? r->content_type
                                                        : "application/json; charset=utf-8",
                                        (lws_filepos_t)r->resp_len, &p, end))
            return -1;
        const char *cc = r->cache_control ? r->cache_control : "no-store";
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                        (const unsigned char *)cc, (int)strlen(cc), &p, end))
            return -1;
        if (dc__http_extra_headers(wsi, r, &p, end) || dc__http_security_headers(wsi, r, &p, end))
            return -1;
        if (r->www_auth && lws_add_http_header_by_name(
                               wsi, (const unsigned char *)"www-authenticate:",
                               (const unsigned char *)"Basic realm=\"dcall\"", 19, &p, end))
            return -1;
        if (lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        r->headers_sent = 1;
        lws_callback_on_writable(wsi); /* one write per callback (HTTP/2) */
        return 0;
    }
    /* HEAD and 304 carry the length of what a GET would get, and no body. A response without a
     * body still ends with an empty final write: on HTTP/2 that ends the stream. */
    if (r->status == 304 || !strcmp(r->method, "HEAD") || !r->resp_len) {
        unsigned char buf[LWS_PRE + 1];
        if (lws_write(wsi, buf + LWS_PRE, 0, LWS_WRITE_HTTP_FINAL) < 0)
            return -1;
    } else if (r->resp_sent < r->resp_len) {
        unsigned char buf[LWS_PRE + 16384];
        size_t n = r->resp_len - r->resp_sent;
        if (n > 16384)
            n = 16384;
        memcpy(buf + LWS_PRE, r->resp + r->resp_sent, n);
        int last = r->resp_sent + n == r->resp_len;
        if (lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) !=
            (int)n)
            return -1;
        r->resp_sent += n;
        if (!last) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    dc__http_req_free(c->http);
    c->http = NULL;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int dc__conn_send(dc__conn *c, const char *text, size_t len)
{
    if (!c || !c->wsi || c->close_code)
        return DC_ECLOSED;
    if (c->q_bytes + len > DC__SENDQ_MAX) {
        DC_WARN("http", "send queue over %u bytes; closing a slow reader", DC__SENDQ_MAX);
        dc__conn_close(c, 1008, "slow reader");
        return DC_ECLOSED;
    }
    dc__msg *m = malloc(sizeof *m + LWS_PRE + len);
    if (!m)
        return DC_ENOMEM;
    m->next = NULL;
    m->len = len;
    memcpy(m->buf + LWS_PRE, text, len);
    if (c->q_tail)
        c->q_tail->next = m;
    else
        c->q_head = m;
    c->q_tail = m;
    c->q_bytes += len;
    lws_callback_on_writable(c->wsi);
    return 0;
}

void dc__conn_close(dc__conn *c, int code, const char *reason)
{
    if (!c || !c->wsi || c->close_code)
        return;
    c->close_code = code;
    c->close_ms = c->srv ? dc__ka_now(c->srv) : 0;
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason ? reason : "");
    lws_callback_on_writable(c->wsi);
}

static int dc__ws_writeable(dc__conn *c, struct lws *wsi)
{
    if (c->ping_due && !c->close_code) { /* one write per callback: the queue comes next */
        /* not empty: lws 4.1 reports no LWS_CALLBACK_RECEIVE_PONG for an empty pong */
        unsigned char buf[LWS_PRE + 2];
        c->ping_due = 0;
        memcpy(buf + LWS_PRE, "ka", 2);
        if (lws_write(wsi, buf + LWS_PRE, 2, LWS_WRITE_PING) < 0)
            return -1;
        if (c->q_head)
            lws_callback_on_writable(wsi);
        return 0;
    }
    dc__msg *m = c->q_head;
    if (m) {
        c->q_head = m->next;
        if (!c->q_head)
            c->q_tail = NULL;
        c->q_bytes -= m->len;
        int w = lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
        free(m);
        if (w < 0)
            return -1;
        if (c->q_head || c->close_code)
            lws_callback_on_writable(wsi);
        return 0;
    }
    if (c->close_code && !c->close_sent) {
        /* lws_close_reason() + return -1 takes lws 4.1's "close_and_handled" path, which with the
         * libuv event lib (Debian builds it with _DEBUG) kills the socket before the close frame
         * goes out: the peer saw 1006. So write the close frame here; lws itself uses write type
         * 4 (LWS_WRITE_CLOSE, not in the public enum) for it. */
        unsigned char buf[LWS_PRE + 125];
        size_t rl = strlen(c->close_reason);
        if (rl > 120)
            rl = 120;
        buf[LWS_PRE] = (unsigned char)(c->close_code >> 8);
        buf[LWS_PRE + 1] = (unsigned char)(c->close_code & 0xff);
        memcpy(buf + LWS_PRE + 2, c->close_reason, rl);
        lws_write(wsi, buf + LWS_PRE, 2 + rl, (enum lws_write_protocol)4);
        /* Do not close yet: a peer still sending would get a RST that can overtake the close
         * frame. Its close reply (or 2 s) ends the connection; what it sends meanwhile is
         * dropped. */
        c->close_sent = 1;
        lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, 2);
    }
    return 0;
}

static void dc__ws_receive(dc__conn *c, struct lws *wsi, const void *in, size_t len)
{
    if (c->close_code)
        return;
    if (c->rx_len + len > DC__MAX_MSG) { /* refuse at once; do not wait for the last fragment */
        free(c->rx);
        c->rx = NULL;
        c->rx_len = 0;
        dc__send_error(c, DC_ETOOBIG, NULL, NULL, NULL);
        dc__conn_close(c, 1009, "message too large");
        return;
    } else {
        if (!c->rx && !(c->rx = malloc(DC__MAX_MSG + 1)))
            return;
        memcpy(c->rx + c->rx_len, in, len);
        c->rx_len += len;
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return;
    c->rx[c->rx_len] = '\0';
    dc__ws_on_message(c, c->rx, c->rx_len);
    c->rx_len = 0;
    /* Keep small buffers; free big ones so idle connections stay cheap. */
    free(c->rx);
    c->rx = NULL;
}

static void dc__conn_free_queues(dc__conn *c)
{
    while (c->q_head) {
        dc__msg *m = c->q_head;
        c->q_head = m->next;
        free(m);
    }
    c->q_tail = NULL;
    c->q_bytes = 0;
    free(c->rx);
    c->rx = NULL;
    dc__http_req_free(c->http);
    c->http = NULL;
}

/* 1: the signalling WebSocket /v1/ws; 2: the dashboard's live feed /v1/web/live; 0: neither. */
static int dc__path_is_ws(struct lws *wsi)
{
    char uri[64];
    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) < 0)
        return 0;
    return strcmp(uri, "/v1/ws") == 0 ? 1 : strcmp(uri, "/v1/web/live") == 0 ? 2 : 0;
}

static int dc__callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
    dc__conn *c = user;
    dc__server *srv = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        int kind = dc__path_is_ws(wsi);
        /* the live feed needs a session cookie and the server's own Origin to upgrade */
        return kind == 1 ? 0 : kind == 2 && dc__live_check(srv, wsi, NULL, NULL, NULL) == 0 ? 0 : 1;
    }
    case LWS_CALLBACK_ESTABLISHED:
        memset(c, 0, sizeof *c);
        c->wsi = wsi;
        c->srv = srv;
        c->is_ws = 1;
        srv->n_conns++;
        dc__ka_attach(c);
        /* an Origin too long to keep must not pass for none (allowed_origins, session.c) */
        dc__http_copy_hdr_present(wsi, WSI_TOKEN_ORIGIN, c->origin, sizeof c->origin, "null");
        if (dc__path_is_ws(wsi) == 2)
            dc__live_attach(c, wsi);
        return 0; /* the hello deadline is the sweep's (dc__ka_check) */
    case LWS_CALLBACK_TIMER:
        if (c->live)
            dc__live_tick(c, wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE_PONG:
        dc__ka_seen(c);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        dc__ka_seen(c);
        if (c->live) /* the live feed takes no messages */
            dc__conn_close(c, 1008, "live_feed_is_read_only");
        else
            dc__ws_receive(c, wsi, in, len);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return dc__ws_writeable(c, wsi);
    case LWS_CALLBACK_CLOSED:
        srv->n_conns--;
        dc__ka_detach(c);
        if (c->live)
            dc__live_detach(c);
        dc__ws_on_close(c);
        dc__conn_free_queues(c);
        c->wsi = NULL;
        return 0;
    case LWS_CALLBACK_HTTP:
        if (!c->srv) {
            memset(c, 0, sizeof *c);
            c->srv = srv;
        }
        if (dc__http_begin(c, wsi, in) < 0)
            return -1;
        if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
            char cl[32];
            /* a value too long to copy (leading zeros) is not read uninitialised: wait for lws */
            if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) < 0 || atol(cl) > 0)
                return 0; /* wait for the body */
        }
        dc__http_dispatch(c);
        return 0;
    case LWS_CALLBACK_HTTP_BODY:
        if (!c->http)
            return -1;
        if (c->http->body_len + len > DC__MAX_MSG) {
            c->http->body_overflow = 1;
            return 0;
        }
        if (!len) /* "Content-Length: 0" comes as an empty body chunk with in == NULL */
            return 0;
        if (!c->http->body && !(c->http->body = malloc(DC__MAX_MSG + 1)))
            return -1;
        memcpy(c->http->body + c->http->body_len, in, len);
        c->http->body_len += len;
        c->http->body[c->http->body_len] = '\0';
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!c->http)
            return -1;
        if (c->http->status)
            return 0; /* answered already: no body was awaited (none announced, or chunked) */
        dc__http_dispatch(c);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return dc__http_write(c, wsi);
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (c && !c->is_ws) {
            dc__http_req_free(c->http);
            c->http = NULL;
        }
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols dc__protocols[] = {
    {"dcall", dc__callback, sizeof(dc__conn), 4096, 0, NULL, 0}, {NULL, NULL, 0, 0, 0, NULL, 0}};

static void dc__lws_log(int level, const char *line)
{
    if ((level & LLL_ERR) || getenv("DCALL_LWS_DEBUG"))
        DC_WARN("lws", "%.*s", (int)strcspn(line, "\n"), line);
}

/* No lws validity timers: keepalive is ours (DC__KA_PING_MS). With secs_since_valid_hangup 0
 * lws arms none; without a policy it would arm its default (ping after 300 s) on every socket. */
static const lws_retry_bo_t dc__no_validity = {
    .secs_since_valid_ping = 0,
    .secs_since_valid_hangup = 0,
};

int dc__http_start(dc__server *srv)
{
    struct lws_context_creation_info info;
    void *loops[1] = {srv->loop};
    memset(&info, 0, sizeof info);
    lws_set_log_level(getenv("DCALL_LWS_DEBUG") ? 0xff : LLL_ERR, dc__lws_log);
    info.port = srv->cfg.listen_port;
    info.iface = srv->cfg.listen_host;
    info.protocols = dc__protocols;
    info.options = LWS_SERVER_OPTION_LIBUV; /* security headers: dc__http_security_headers */
    info.foreign_loops = loops;
    info.user = srv;
    info.retry_and_idle_policy = &dc__no_validity;
    info.timeout_secs = 30;
    info.max_http_header_data = 4096;
    info.keepalive_timeout = 30;
    info.fd_limit_per_thread = 0;
    if (srv->cfg.tls_cert[0]) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = srv->cfg.tls_cert;
        info.ssl_private_key_filepath = srv->cfg.tls_key;
    }
    srv->lws = lws_create_context(&info);
    if (!srv->lws) {
        DC_ERROR("http", "cannot listen on %s:%d", srv->cfg.listen_host, srv->cfg.listen_port);
        return DC_EIO;
    }
    srv->vhost = lws_get_vhost_by_name(srv->lws, "default");
    if (srv->vhost)
        srv->cfg.listen_port = lws_get_vhost_listen_port(srv->vhost);
    dc__ka_config(srv);
    uv_timer_init(srv->loop, &srv->ka_timer); /* closed with the loop's handles (main.c) */
    srv->ka_timer.data = srv;
    uv_timer_start(&srv->ka_timer, dc__ka_tick, DC__KA_TICK_MS, DC__KA_TICK_MS);
    srv->ka_timer_on = 1;
    return 0;
}

void dc__http_stop(dc__server *srv)
{
    if (srv->ka_timer_on) {
        uv_timer_stop(&srv->ka_timer);
        srv->ka_timer_on = 0;
    }
    if (srv->lws) {
        lws_context_destroy(srv->lws);
        srv->lws = NULL;
    }
}
