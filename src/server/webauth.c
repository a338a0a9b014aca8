/* Dashboard sign-in and the live feed; the contract is webauth.h, the wire format
 * docs/dashboard.md. */
#include <arpa/inet.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/util.h"
#include "common/validate.h"
#include "server/webauth.h"

#define MOD "webauth"
#define DC__FAIL_KEYS_MAX 20000 /* failure records kept at most (then stale ones are swept) */

/* Failed logins of one key ("e:" + e-mail folded to lower case, or "a:" + client address):
 * the times of the latest failures, newest at t[(head + n - 1) % MAX]. */
typedef struct dc__fail_rec {
    char key[300];
    int64_t t[DC__LOGIN_MAX_PER_ADDR];
    int head, n;
    UT_hash_handle hh;
} dc__fail_rec;

struct dc__webauth {
    dc__fail_rec *fails;
    char dummy_hash[160]; /* verified against for unknown e-mails: the same work as a real one */
    dc__conn *live;       /* the live feeds, a list through live_next */
};

static struct dc__webauth *dc__wa(dc__server *srv)
{
    if (srv->webauth)
        return srv->webauth;
    struct dc__webauth *w = calloc(1, sizeof *w);
    char pw[40], *hash = NULL;
    if (!w || dc__random_id(pw, "", 32) < 0 || dc__password_hash(pw, &hash) < 0) {
        free(w);
        return NULL;
    }
    snprintf(w->dummy_hash, sizeof w->dummy_hash, "%s", hash);
    free(hash);
    srv->webauth = w;
    return w;
}

void dc__webauth_free(dc__server *srv)
{
    struct dc__webauth *w = srv->webauth;
    if (!w)
        return;
    dc__fail_rec *f, *tmp;
    HASH_ITER(hh, w->fails, f, tmp)
    {
        HASH_DEL(w->fails, f);
        free(f);
    }
    free(w);
    srv->webauth = NULL;
}

/* ---- cookies, tokens, CSRF ---------------------------------------------------------------- */

int dc__cookie_get(const char *header, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = header;
    if (!p || !nl || !cap)
        return DC_ENOTFOUND;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nl && p[nl] == '=' && strncmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            size_t vl = len - nl - 1;
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                v++;
                vl -= 2;
            }
            if (vl >= cap)
                return DC_ETOOBIG;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 0;
        }
        p += len;
    }
    return DC_ENOTFOUND;
}

/* Lower-case hex SHA-256 of text. */
static int dc__sha256_hex(const char *text, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    if (EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL) != 1 || n != 32)
        return DC_EINTERNAL;
    dc__hex(out, md, 32);
    return 0;
}

int dc__webauth_session(dc__server *srv, const char *cookie_header, dc__web_session *out)
{
    char tok[96], hash[65];
    if (dc__cookie_get(cookie_header, DC__SESSION_COOKIE, tok, sizeof tok) < 0 ||
        strlen(tok) != 43 || dc__sha256_hex(tok, hash) < 0)
        return DC_EUNAUTHORIZED;
    explicit_bzero(tok, sizeof tok);
    return dc__store_web_session_get(srv->store, hash, dc__now_ms(), out) == 0 ? 0
                                                                               : DC_EUNAUTHORIZED;
}

int dc__webauth_csrf(const dc__http_req *r, const dc__web_session *ws)
{
    if (!strcmp(r->method, "GET") || !strcmp(r->method, "HEAD"))
        return 0;
    size_t n = strlen(ws->csrf);
    if (!n || strlen(r->csrf) != n || !dc__ct_equal(r->csrf, ws->csrf, n))
        return DC_ECSRF;
    return 0;
}

/* "dc_session=TOKEN; HttpOnly; SameSite=Strict; Path=/; Max-Age=N[; Secure]" (an empty token
 * and Max-Age=0 clear it). */
static void dc__set_cookie(dc__http_req *r, const char *token)
{
    char v[256];
    snprintf(v, sizeof v, "%s=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%d%s",
             DC__SESSION_COOKIE, token, *token ? DC__WEB_SESSION_S : 0, r->tls ? "; Secure" : "");
    dc__http_add_header(r, "set-cookie", v);
}

/* A new session for user u: stored (token hash only), cookie set, csrf token in ws->csrf. */
static int dc__session_start(dc__server *srv, dc__http_req *r, const dc__web_user *u,
                             dc__web_session *ws)
{
    unsigned char raw[32];
    char tok[48];
    memset(ws, 0, sizeof *ws);
    if (dc__random(raw, sizeof raw) < 0)
        return DC_EIO;
    dc__b64url_encode(tok, raw, sizeof raw);
    explicit_bzero(raw, sizeof raw);
    int rc = dc__sha256_hex(tok, ws->token_hash);
    if (!rc)
        rc = dc__random_id(ws->csrf, "", 40);
    snprintf(ws->account_id, sizeof ws->account_id, "%s", u->account_id);
    snprintf(ws->user_id, sizeof ws->user_id, "%s", u->id);
    snprintf(ws->email, sizeof ws->email, "%s", u->email);
    ws->created_ms = dc__now_ms();
    ws->expires_ms = ws->created_ms + DC__WEB_SESSION_S * 1000LL;
    dc__store_web_sessions_purge(srv->store, ws->created_ms); /* keeps the table small */
    if (!rc)
        rc = dc__store_web_session_add(srv->store, ws);
    if (!rc)
        dc__set_cookie(r, tok);
    explicit_bzero(tok, sizeof tok);
    return rc;
}

/* ---- input rules -------------------------------------------------------------------------- */

/* A plain ASCII address: local@domain, local 1-64 printable characters without spaces, quotes
 * or specials, domain labels of [A-Za-z0-9-] with at least one dot; at most 254 in all. */
static int dc__valid_email(const char *s)
{
    const char *at = s ? strchr(s, '@') : NULL;
    size_t n = s ? strlen(s) : 0;
    if (!at || n > 254 || at == s || at - s > 64 || strchr(at + 1, '@'))
        return DC_EEMAIL;
    for (const char *p = s; p < at; p++)
        if (*p <= ' ' || *p >= 127 || strchr("\"(),:;<>[\\]", *p))
            return DC_EEMAIL;
    const char *d = at + 1;
    size_t dl = strlen(d);
    if (dl < 3 || !strchr(d, '.') || d[0] == '.' || d[0] == '-' || d[dl - 1] == '.' ||
        d[dl - 1] == '-' || strstr(d, ".."))
        return DC_EEMAIL;
    return strspn(d, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == dl
               ? 0
               : DC_EEMAIL;
}

/* A string of lo..hi code points of UTF-8 without control characters. */
static int dc__text_len_ok(const json_t *v, long lo, long hi)
{
    long n = json_is_string(v) ? dc__utf8_len(json_string_value(v)) : -1;
    return n >= lo && n <= hi;
}

static int dc__valid_origin(const char *s)
{
    const char *h;
    if (!s || strlen(s) > 255)
        return DC_EORIGIN;
    if (!strncmp(s, "https://", 8))
        h = s + 8;
    else if (!strncmp(s, "http://", 7))
        h = s + 7;
    else
        return DC_EORIGIN;
    size_t hl = strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-");
    if (!hl || h[0] == '.' || h[0] == '-' || h[hl - 1] == '.')
        return DC_EORIGIN;
    const char *port = h + hl;
    if (!*port)
        return 0;
    size_t pl = strspn(port + 1, "0123456789");
    if (*port != ':' || !pl || pl > 5 || port[1 + pl] || atol(port + 1) < 1 ||
        atol(port + 1) > 65535)
        return DC_EORIGIN;
    return 0;
}

int dc__webauth_valid_origins(const json_t *v)
{
    size_t i;
    json_t *o;
    if (!json_is_array(v) || json_array_size(v) > DC__MAX_ORIGINS)
        return DC_EORIGIN;
    json_array_foreach(v, i, o)
    {
        if (!json_is_string(o) || dc__valid_origin(json_string_value(o)) < 0)
            return DC_EORIGIN;
    }
    return 0;
}

int dc__webauth_origin_allowed(const dc__account *a, const char *origin)
{
    size_t i;
    json_t *o;
    if (!origin || !*origin || !a->allowed_origins || !json_array_size(a->allowed_origins))
        return 1;
    json_array_foreach(a->allowed_origins, i, o)
    {
        if (!strcasecmp(json_string_value(o), origin))
            return 1;
    }
    return 0;
}

/* ---- the login rate limit ----------------------------------------------------------------- */

/* Failures of key within the window: the count, and the time the oldest of them stops counting
 * in *free_at_ms. */
static int dc__fail_count(struct dc__webauth *w, const char *key, int64_t now, int64_t *free_at)
{
    dc__fail_rec *f = NULL;
    HASH_FIND_STR(w->fails, key, f);
    *free_at = now;
    int n = 0;
    for (int i = 0; f && i < f->n; i++) {
        int64_t t = f->t[(f->head + i) % DC__LOGIN_MAX_PER_ADDR];
        if (t > now - DC__LOGIN_WINDOW_MS) {
            if (!n)
                *free_at = t + DC__LOGIN_WINDOW_MS;
            n++;
        }
    }
    return n;
}

static void dc__fail_sweep(struct dc__webauth *w, int64_t now)
{
    dc__fail_rec *f, *tmp;
    HASH_ITER(hh, w->fails, f, tmp)
    {
        int64_t newest = f->n ? f->t[(f->head + f->n - 1) % DC__LOGIN_MAX_PER_ADDR] : 0;
        if (newest <= now - DC__LOGIN_WINDOW_MS) {
            HASH_DEL(w->fails, f);
            free(f);
        }
    }
}

/* 1 when key has a record or there is room for one (stale records swept when full). When the
 * table is full of live records the caller refuses the attempt: failing open would give
 * unlimited guesses to every key that does not fit. */
static int dc__fail_room(struct dc__webauth *w, const char *key, int64_t now)
{
    dc__fail_rec *f = NULL;
    HASH_FIND_STR(w->fails, key, f);
    if (f || HASH_COUNT(w->fails) < DC__FAIL_KEYS_MAX)
        return 1;
    dc__fail_sweep(w, now);
    return HASH_COUNT(w->fails) < DC__FAIL_KEYS_MAX;
}

static void dc__fail_add(struct dc__webauth *w, const char *key, int64_t now)
{
    dc__fail_rec *f = NULL;
    HASH_FIND_STR(w->fails, key, f);
    if (!f) {
        if (HASH_COUNT(w->fails) >= DC__FAIL_KEYS_MAX)
            dc__fail_sweep(w, now);
        if (HASH_COUNT(w->fails) >= DC__FAIL_KEYS_MAX || !(f = calloc(1, sizeof *f)))
            return; /* full of live records: the per-address limits still hold for those */
        snprintf(f->key, sizeof f->key, "%s", key);
        HASH_ADD_STR(w->fails, key, f);
    }
    if (f->n == DC__LOGIN_MAX_PER_ADDR) {
        f->head = (f->head + 1) % DC__LOGIN_MAX_PER_ADDR;
        f->n--;
    }
    f->t[(f->head + f->n) % DC__LOGIN_MAX_PER_ADDR] = now;
    f->n++;
}

static void dc__fail_clear(struct dc__webauth *w, const char *key)
{
    dc__fail_rec *f = NULL;
    HASH_FIND_STR(w->fails, key, f);
    if (f) {
        HASH_DEL(w->fails, f);
        free(f);
    }
}

int dc__rate_addr_key(const char *peer, char *out, size_t n)
{
    unsigned char a[16];
    char text[INET6_ADDRSTRLEN];
    if (!peer || inet_pton(AF_INET6, peer, a) != 1) { /* IPv4, or not an address */
        snprintf(out, n, "%s", peer ? peer : "");
        return 0;
    }
    int v4 = IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a); /* ::ffff:a.b.c.d is that IPv4 */
    if (!v4)
        memset(a + 8, 0, 8); /* a client holds a whole /64: its interface bits are free to vary */
    if (!inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? a + 12 : a, text, sizeof text))
        return DC_EINVAL;
    snprintf(out, n, v4 ? "%s" : "%s/64", text);
    return 0;
}

/* The two rate-limit keys of a login attempt. */
static void dc__login_keys(const dc__http_req *r, const char *email, char ekey[300], char akey[300])
{
    char addr[80];
    snprintf(ekey, 300, "e:%s", email);
    for (char *p = ekey; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    dc__rate_addr_key(r->peer, addr, sizeof addr);
    snprintf(akey, 300, "a:%s", addr);
}

/* Sign-up and log-in set a session cookie, so a page of another site must not post them (login
 * CSRF: a form posting JSON as text/plain would sign the visitor in to the attacker's account).
 * Browsers send Origin with every POST: when there is one, its host[:port] must be the Host
 * header (the scheme is not compared, so that a TLS-terminating proxy does not break sign-in). */
static int dc__same_host_origin(const dc__http_req *r)
{
    const char *h = r->origin;
    if (!*h)
        return 1; /* not a browser */
    if (!strncasecmp(h, "https://", 8))
        h += 8;
    else if (!strncasecmp(h, "http://", 7))
        h += 7;
    else
        return 0; /* "null" (a sandboxed or file page) or garbage */
    return r->host[0] && !strcasecmp(h, r->host);
}

/* 0, or the seconds to wait when the e-mail or the address is over its limit. */
static int64_t dc__login_wait_s(struct dc__webauth *w, const char *ekey, const char *akey,
                                int64_t now)
{
    int64_t fe, fa, until = 0;
    if (dc__fail_count(w, ekey, now, &fe) >= DC__LOGIN_MAX_PER_EMAIL)
        until = fe;
    if (dc__fail_count(w, akey, now, &fa) >= DC__LOGIN_MAX_PER_ADDR && fa > until)
        until = fa;
    return until ? (until - now + 999) / 1000 : 0;
}

/* ---- the endpoints ------------------------------------------------------------------------ */

static void dc__reply_session(dc__http_req *r, int status, const dc__account *a,
                              const dc__web_session *ws, const char *secret)
{
    json_t *o = json_pack("{ss ss}", "account_id", a->id, "api_key", a->api_key);
    if (secret)
        json_object_set_new(o, "api_secret", json_string(secret));
    json_object_set_new(o, "email", json_string(ws->email));
    json_object_set_new(o, "company", json_string(a->name));
    json_object_set_new(o, "csrf_token", json_string(ws->csrf));
    json_object_set_new(o, "kid", json_string(a->kid));
    dc__reply(r, status, o);
}

static int dc__signup_validate(json_t *b, const char **field)
{
    if (dc__valid_email(json_string_value(json_object_get(b, "email"))) < 0)
        return *field = "email", DC_EEMAIL;
    if (!dc__text_len_ok(json_object_get(b, "password"), 10, 200))
        return *field = "password", DC_EPASSWORD;
    if (!dc__text_len_ok(json_object_get(b, "company"), 2, 80))
        return *field = "company", DC_ECOMPANY;
    return 0;
}

/* A password hash (signup) or check (login) on the libuv thread pool: scrypt takes ~50 ms and
 * 16 MiB, which the signalling loop must not spend. The request is answered in the job's
 * after-callback on the loop, unless it went away meanwhile (then req is NULL and the result is
 * dropped). */
typedef struct dc__pw_job {
    uv_work_t work;
    dc__server *srv;
    dc__http_req *req;
    int signup;
    char *password;
    char hash[160]; /* login: the stored (or the dummy) hash; signup: the new one */
    int rc;         /* the thread's result */
    json_t *body;   /* signup: the request */
    dc__web_user user;
    int found;
    char ekey[300], akey[300];
    int64_t at_ms;
} dc__pw_job;

static void dc__pw_work(uv_work_t *w)
{
    dc__pw_job *j = w->data;
    if (j->signup) {
        char *h = NULL;
        j->rc = dc__password_hash(j->password, &h);
        if (!j->rc)
            snprintf(j->hash, sizeof j->hash, "%s", h);
        free(h);
    } else {
        j->rc = dc__password_verify(j->password, j->hash);
    }
}

static void dc__pw_release(dc__http_req *r)
{
    dc__pw_job *j = r->async;
    if (j)
        j->req = NULL;
}

static void dc__pw_job_free(dc__pw_job *j)
{
    if (j->password) {
        explicit_bzero(j->password, strlen(j->password));
        free(j->password);
    }
    explicit_bzero(j->hash, sizeof j->hash);
    json_decref(j->body);
    free(j);
}

static void dc__signup_done(dc__pw_job *j, dc__http_req *r)
{
    dc__account *a = NULL;
    dc__web_user u;
    dc__web_session ws;
    int rc = j->rc;
    if (!rc)
        rc = dc__store_web_signup(
            j->srv->store, json_string_value(json_object_get(j->body, "company")),
            json_string_value(json_object_get(j->body, "email")), j->hash, &a, &u);
    if (rc == DC_EEMAILTAKEN)
        return dc__reply_err(r, 409, rc, "email");
    if (!rc)
        rc = dc__session_start(j->srv, r, &u, &ws);
    if (rc) {
        dc__account_free(a);
        return dc__reply_err(r, 500, rc == DC_ESTORE ? rc : DC_EINTERNAL, NULL);
    }
    DC_INFO(MOD, "signup: account %s", a->id);
    dc__reply_session(r, 201, a, &ws, a->api_secret);
    dc__account_free(a);
}

/* Removes one failure recorded at t from key (a login that turned out right). */
static void dc__fail_undo(struct dc__webauth *w, const char *key, int64_t t)
{
    dc__fail_rec *f = NULL;
    HASH_FIND_STR(w->fails, key, f);
    for (int i = f ? f->n - 1 : -1; i >= 0; i--) {
        int at = (f->head + i) % DC__LOGIN_MAX_PER_ADDR;
        if (f->t[at] != t)
            continue;
        for (int k = i; k < f->n - 1; k++) /* shift the newer ones down */
            f->t[(f->head + k) % DC__LOGIN_MAX_PER_ADDR] =
                f->t[(f->head + k + 1) % DC__LOGIN_MAX_PER_ADDR];
        f->n--;
        return;
    }
}

/* The failure counted up front (so that parallel attempts cannot pass the limit) is undone when
 * the password was right, whether or not the client is still there. */
static void dc__login_settle(dc__pw_job *j)
{
    struct dc__webauth *w = j->srv->webauth;
    if (w && !j->signup && !j->rc && j->found) {
        dc__fail_clear(w, j->ekey);
        dc__fail_undo(w, j->akey, j->at_ms);
    }
}

static void dc__login_done(dc__pw_job *j, dc__http_req *r)
{
    dc__account *a = NULL;
    dc__web_session ws;
    if (j->rc || !j->found) {
        DC_INFO(MOD, "login refused: invalid credentials");
        return dc__reply_err(r, 401, DC_ECREDENTIALS, NULL);
    }
    int rc = dc__account_lookup(j->srv, j->user.account_id, &a);
    if (!rc)
        rc = dc__session_start(j->srv, r, &j->user, &ws);
    if (rc)
        return dc__reply_err(r, 500, DC_ESTORE, NULL);
    dc__reply_session(r, 200, a, &ws, NULL);
}

static void dc__pw_after(uv_work_t *w, int status)
{
    dc__pw_job *j = w->data;
    dc__http_req *r = j->req;
    if (status == 0)
        dc__login_settle(j);
    if (r) {
        r->async = NULL;
        r->release = NULL;
        if (status < 0)
            dc__reply_err(r, 500, DC_EINTERNAL, NULL);
        else if (j->signup)
            dc__signup_done(j, r);
        else
            dc__login_done(j, r);
        r->www_auth = 0;
        if (r->wsi)
            lws_callback_on_writable(r->wsi);
    } else {
        DC_INFO(MOD, "%s: the client went away before its password was processed",
                j->signup ? "signup" : "login");
    }
    dc__pw_job_free(j);
}

/* Queues j (filled but for work, srv, req) for r: 0, or a negative dc_err (j freed). */
static int dc__pw_start(dc__server *srv, dc__http_req *r, dc__pw_job *j, const char *password)
{
    j->srv = srv;
    j->req = r;
    j->work.data = j;
    j->password = strdup(password);
    if (!j->password || uv_queue_work(srv->loop, &j->work, dc__pw_work, dc__pw_after) != 0) {
        dc__pw_job_free(j);
        return DC_EINTERNAL;
    }
    r->async = j;
    r->release = dc__pw_release;
    return 0;
}

static void dc__reply_limited(dc__http_req *r, int64_t wait_s);

static void dc__h_signup(dc__server *srv, dc__http_req *r)
{
    json_t *b = dc__body_json(r);
    const char *field = NULL;
    int rc = b ? dc__signup_validate(b, &field) : DC_EJSON;
    dc__pw_job *j = rc ? NULL : calloc(1, sizeof *j);
    if (rc || !j) {
        json_decref(b);
        return dc__reply_err(r, rc ? 400 : 500, rc ? rc : DC_ENOMEM, b ? field : "body");
    }
    /* every sign-up counts (a scrypt hash and an account each): bounded per client address */
    struct dc__webauth *w = dc__wa(srv);
    char skey[90], addr[80];
    int64_t now = dc__now_ms(), free_at;
    dc__rate_addr_key(r->peer, addr, sizeof addr);
    snprintf(skey, sizeof skey, "s:%s", addr);
    int room = !w || dc__fail_room(w, skey, now);
    if (w && (!room || dc__fail_count(w, skey, now, &free_at) >= DC__SIGNUP_MAX_PER_ADDR)) {
        json_decref(b);
        dc__pw_job_free(j);
        return dc__reply_limited(r, room ? (free_at - now + 999) / 1000 : 60);
    }
    if (w)
        dc__fail_add(w, skey, now);
    j->signup = 1;
    j->body = b;
    if (dc__pw_start(srv, r, j, json_string_value(json_object_get(b, "password"))) < 0)
        dc__reply_err(r, 500, DC_EINTERNAL, NULL);
}

static void dc__reply_limited(dc__http_req *r, int64_t wait_s)
{
    char v[24];
    snprintf(v, sizeof v, "%lld", (long long)(wait_s > 0 ? wait_s : 1));
    dc__http_add_header(r, "retry-after", v);
    dc__reply_err(r, 429, DC_ERATE, NULL);
}

static void dc__h_login(dc__server *srv, dc__http_req *r)
{
    struct dc__webauth *w = dc__wa(srv);
    json_t *b = dc__body_json(r);
    const char *email = json_string_value(json_object_get(b, "email"));
    const char *pw = json_string_value(json_object_get(b, "password"));
    dc__pw_job *j = w && b && email && pw && strlen(email) <= 254 ? calloc(1, sizeof *j) : NULL;
    if (!j) {
        const char *field = !b ? "body" : !email || strlen(email) > 254 ? "email" : "password";
        int bad_input = w && (!b || !email || !pw || strlen(email) > 254);
        json_decref(b);
        return dc__reply_err(r, bad_input ? 400 : 500, bad_input ? DC_EFIELD : DC_ENOMEM, field);
    }
    int64_t wait_s;
    j->at_ms = dc__now_ms();
    dc__login_keys(r, email, j->ekey, j->akey);
    if (!dc__fail_room(w, j->ekey, j->at_ms) || !dc__fail_room(w, j->akey, j->at_ms)) {
        DC_WARN(MOD, "login refused: the failed-login table is full (%d keys)", DC__FAIL_KEYS_MAX);
        wait_s = 60;
    } else {
        wait_s = dc__login_wait_s(w, j->ekey, j->akey, j->at_ms);
    }
    if (wait_s > 0) {
        json_decref(b);
        dc__pw_job_free(j);
        DC_INFO(MOD, "login refused: rate limited (%lld s)", (long long)wait_s);
        return dc__reply_limited(r, wait_s);
    }
    /* counted as a failure until the password checks out */
    dc__fail_add(w, j->ekey, j->at_ms);
    dc__fail_add(w, j->akey, j->at_ms);
    /* stored e-mails are ASCII; a non-ASCII one is not looked up, since PostgreSQL's lower() in
     * a UTF-8 locale folds e.g. U+212A KELVIN SIGN to "k": another rate-limit key, same user */
    int ascii = 1;
    for (const unsigned char *p = (const unsigned char *)email; *p; p++)
        ascii &= *p < 0x80;
    j->found = ascii && dc__store_web_user_by_email(srv->store, email, &j->user) == 0;
    /* an unknown e-mail costs the same scrypt as a wrong password */
    snprintf(j->hash, sizeof j->hash, "%s", j->found ? j->user.password_hash : w->dummy_hash);
    int rc = dc__pw_start(srv, r, j, pw);
    json_decref(b);
    if (rc < 0)
        dc__reply_err(r, 500, DC_EINTERNAL, NULL);
}

/* New API secret (kid k<n+1>); the old one stops working at once. */
static void dc__h_rotate(dc__server *srv, dc__http_req *r, dc__account *a)
{
    char *sec = malloc(3 + 40 + 1), *old = a->api_secret, oldkid[16];
    if (!sec || dc__random_id(sec, "sk_", 40) < 0) {
        free(sec);
        return dc__reply_err(r, 500, DC_EINTERNAL, NULL);
    }
    snprintf(oldkid, sizeof oldkid, "%s", a->kid);
    int n = atoi(a->kid[0] == 'k' ? a->kid + 1 : "1");
    snprintf(a->kid, sizeof a->kid, "k%d", (n > 0 && n < 999999 ? n : 1) + 1);
    a->api_secret = sec;
    if (dc__account_save(srv, a) < 0) {
        a->api_secret = old;
        snprintf(a->kid, sizeof a->kid, "%s", oldkid);
        explicit_bzero(sec, strlen(sec));
        free(sec);
        return dc__reply_err(r, 500, DC_ESTORE, NULL);
    }
    explicit_bzero(old, strlen(old));
    free(old);
    DC_INFO(MOD, "account %s: API secret rotated to %s", a->id, a->kid);
    dc__reply(r, 200, json_pack("{ss ss}", "api_secret", a->api_secret, "kid", a->kid));
}

/* Closes the live feeds opened with the session whose token hash is given. */
static void dc__live_close_session(dc__server *srv, const char *token_hash)
{
    for (dc__conn *c = srv->webauth ? srv->webauth->live : NULL; c; c = c->live_next)
        if (!strcmp(c->live_token_hash, token_hash))
            dc__conn_close(c, 4002, "logged out");
}

static void dc__h_logout(dc__server *srv, dc__http_req *r, const dc__web_session *ws)
{
    if (dc__store_web_session_delete(srv->store, ws->account_id, ws->token_hash) < 0)
        return dc__reply_err(r, 500, DC_ESTORE, NULL);
    dc__live_close_session(srv, ws->token_hash);
    dc__set_cookie(r, "");
    dc__reply(r, 200, json_pack("{sb}", "ok", 1));
}

/* The endpoints that need a session (and, but for GET, its CSRF token). */
static void dc__h_signed_in(dc__server *srv, dc__http_req *r, const char *p, int post)
{
    dc__web_session ws;
    dc__account *a = NULL;
    if (dc__webauth_session(srv, r->cookie, &ws) < 0 ||
        dc__account_lookup(srv, ws.account_id, &a) < 0)
        return dc__reply_err(r, 401, DC_EUNAUTHORIZED, NULL);
    if (dc__webauth_csrf(r, &ws) < 0)
        return dc__reply_err(r, 403, DC_ECSRF, "X-CSRF-Token");
    if (!strcmp(p, "me"))
        return !post ? dc__reply_session(r, 200, a, &ws, NULL)
                     : dc__reply_err(r, 405, DC_ENOTALLOWED, NULL);
    if (!post)
        return dc__reply_err(r, 405, DC_ENOTALLOWED, NULL);
    if (!strcmp(p, "logout"))
        return dc__h_logout(srv, r, &ws);
    return dc__h_rotate(srv, r, a);
}

void dc__webauth_handle(dc__server *srv, dc__http_req *r, const char *p)
{
    int post = !strcmp(r->method, "POST");
    int entry = !strcmp(p, "signup") || !strcmp(p, "login"); /* no session needed */
    if (r->body_overflow)
        dc__reply_err(r, 413, DC_ETOOBIG, "body");
    else if (entry && !post)
        dc__reply_err(r, 405, DC_ENOTALLOWED, NULL);
    else if (entry && !dc__same_host_origin(r))
        dc__reply_err(r, 403, DC_EORIGINDENIED, "Origin");
    else if (entry)
        p[0] == 's' ? dc__h_signup(srv, r) : dc__h_login(srv, r);
    else if (!strcmp(p, "me") || !strcmp(p, "logout") || !strcmp(p, "secret/rotate"))
        dc__h_signed_in(srv, r, p, post);
    else if (!strcmp(p, "live"))
        dc__reply_err(r, 400, DC_EPROTO, "upgrade");
    else
        dc__reply_err(r, 404, DC_ENOTFOUND, "path");
    r->www_auth = 0; /* a browser must not pop up a Basic dialog for the dashboard's calls */
}

/* ---- the live feed ------------------------------------------------------------------------ */

int dc__live_check(dc__server *srv, struct lws *wsi, char account_id[40], char token_hash[65],
                   int64_t *expires_ms)
{
    char cookie[1024], origin[256], host[256], self[300];
    dc__web_session ws;
    dc__http_copy_hdr(wsi, WSI_TOKEN_HTTP_COOKIE, cookie, sizeof cookie);
    dc__http_copy_hdr(wsi, WSI_TOKEN_ORIGIN, origin, sizeof origin);
    dc__http_copy_hdr(wsi, WSI_TOKEN_HOST, host, sizeof host);
    if (!host[0]) /* a WebSocket over HTTP/2 (RFC 8441) has :authority instead */
        dc__http_copy_hdr(wsi, WSI_TOKEN_HTTP_COLON_AUTHORITY, host, sizeof host);
    char peer[64];
    int tls;
    dc__http_client(srv, wsi, peer, sizeof peer, &tls);
    snprintf(self, sizeof self, "%s://%s", tls ? "https" : "http", host);
    if (!origin[0] || !host[0] || strcasecmp(origin, self) != 0) {
        DC_INFO(MOD, "live feed refused: origin not the server's own");
        return DC_EORIGINDENIED;
    }
    if (dc__webauth_session(srv, cookie, &ws) < 0) {
        DC_INFO(MOD, "live feed refused: no session");
        return DC_EUNAUTHORIZED;
    }
    if (account_id)
        snprintf(account_id, 40, "%s", ws.account_id);
    if (token_hash)
        snprintf(token_hash, 65, "%s", ws.token_hash);
    if (expires_ms)
        *expires_ms = ws.expires_ms;
    return 0;
}

void dc__live_attach(dc__conn *c, struct lws *wsi)
{
    struct dc__webauth *w = dc__wa(c->srv);
    c->live = 1;
    if (!w ||
        dc__live_check(c->srv, wsi, c->live_account, c->live_token_hash, &c->live_expires_ms) < 0) {
        dc__conn_close(c, 4001, "unauthorized");
        return;
    }
    lws_set_timer_usecs(wsi, DC__LIVE_CHECK_US);
    c->live_next = w->live;
    w->live = c;
    json_t *hello = json_pack("{ss ss}", "event", "hello", "account_id", c->live_account);
    char *text = json_dumps(hello, DC__JSON_OUT);
    json_decref(hello);
    if (text)
        dc__conn_send(c, text, strlen(text));
    free(text);
}

void dc__live_tick(dc__conn *c, struct lws *wsi)
{
    if (c->close_code)
        return;
    if (dc__now_ms() >= c->live_expires_ms)
        dc__conn_close(c, 4002, "session_expired");
    else
        lws_set_timer_usecs(wsi, DC__LIVE_CHECK_US);
}

void dc__live_detach(dc__conn *c)
{
    struct dc__webauth *w = c->srv ? c->srv->webauth : NULL;
    for (dc__conn **pp = w ? &w->live : NULL; pp && *pp; pp = &(*pp)->live_next) {
        if (*pp == c) {
            *pp = c->live_next;
            break;
        }
    }
    c->live_next = NULL;
}

void dc__live_call(dc__server *srv, const dc__call_rec *rec)
{
    char *text = NULL;
    for (dc__conn *c = srv->webauth ? srv->webauth->live : NULL; c; c = c->live_next) {
        if (strcmp(c->live_account, rec->account_id) != 0)
            continue;
        if (!text) {
            json_t *ev = json_pack("{ss so}", "event", "call", "call", dc__call_rec_json(rec));
            text = ev ? json_dumps(ev, DC__JSON_OUT) : NULL;
            json_decref(ev);
            if (!text)
                return;
        }
        dc__conn_send(c, text, strlen(text));
    }
    free(text);
}
