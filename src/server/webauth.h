/* Dashboard sign-in (docs/dashboard.md): web users by e-mail with scrypt passwords, cookie
 * sessions with a per-session CSRF token, the login rate limit (in memory, per node), the
 * /v1/web endpoints, and the live feed (/v1/web/live) that pushes call changes to the signed-in
 * dashboards of an account. Everything runs on the signalling loop thread; the state hangs off
 * srv->webauth and is made on first use. Secrets (passwords, session tokens, API secrets) are
 * never logged. */
#ifndef DC_SERVER_WEBAUTH_H
#define DC_SERVER_WEBAUTH_H

#include <stddef.h>

#include "server/server.h"

#define DC__SESSION_COOKIE "dc_session"
#define DC__WEB_SESSION_S 43200            /* a session lives 12 h from its login */
#define DC__LOGIN_WINDOW_MS (15 * 60000LL) /* failed logins count for 15 minutes */
#define DC__LOGIN_MAX_PER_EMAIL 5
#define DC__LOGIN_MAX_PER_ADDR 20
#define DC__SIGNUP_MAX_PER_ADDR 10 /* sign-ups per client address in the same window */
#define DC__MAX_ORIGINS 20

/* The value of cookie name in a Cookie header ("a=1; b=2"; a value may be double-quoted): 0 with
 * the value copied into out, DC_ENOTFOUND when absent, DC_ETOOBIG when it does not fit in cap. */
int dc__cookie_get(const char *header, const char *name, char *out, size_t cap);

/* The client address as a rate-limit key: IPv4 (also when mapped into IPv6) as is, IPv6 as its
 * /64 ("2001:db8:1:2::/64"), anything else copied. 0, or DC_EINVAL. */
int dc__rate_addr_key(const char *peer, char *out, size_t n);

/* The dashboard session named by the dc_session cookie in cookie_header: 0 and *out, or
 * DC_EUNAUTHORIZED (no cookie, unknown or expired session). */
int dc__webauth_session(dc__server *srv, const char *cookie_header, dc__web_session *out);
/* A request made with a session and a method other than GET/HEAD must carry the session's
 * X-CSRF-Token: 0, or DC_ECSRF. */
int dc__webauth_csrf(const dc__http_req *r, const dc__web_session *ws);
/* Answers /v1/web/<p>: signup, login, logout, me, secret/rotate. */
void dc__webauth_handle(dc__server *srv, dc__http_req *r, const char *p);

/* allowed_origins: an array of at most 20 origins "http(s)://host[:port]": 0 or DC_EORIGIN. */
int dc__webauth_valid_origins(const json_t *v);
/* 1 when a /v1/ws connection with this Origin header ("" when none) may sign in to account a:
 * no Origin (native clients), an empty list, or an origin on the list. */
int dc__webauth_origin_allowed(const dc__account *a, const char *origin);

/* The live feed. At the upgrade of /v1/web/live: 0 when the cookie names a live session and the
 * Origin header is the server's own origin (scheme + Host), with the session's account and token
 * hash (either may be NULL); DC_EUNAUTHORIZED or DC_EORIGINDENIED otherwise. */
int dc__live_check(dc__server *srv, struct lws *wsi, char account_id[40], char token_hash[65],
                   int64_t *expires_ms);
/* The connection becomes a live feed (checked again here): it is told hello, or closed. */
void dc__live_attach(dc__conn *c, struct lws *wsi);
/* The feed's timer (every DC__LIVE_CHECK_US): closes it with 4002 session_expired once its
 * session has expired (the test clock counts), else re-arms. */
#define DC__LIVE_CHECK_US (5 * LWS_USEC_PER_SEC)
void dc__live_tick(dc__conn *c, struct lws *wsi);
void dc__live_detach(dc__conn *c);
/* A call of its account was placed, answered or ended: every live feed of the account gets
 * {"event":"call","call":{...}} (the REST view of the call). */
void dc__live_call(dc__server *srv, const dc__call_rec *rec);

/* Frees the state (at server exit). */
void dc__webauth_free(dc__server *srv);

#endif
