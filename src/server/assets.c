/* The dashboard's static files (assets.h). Embedded files are answered straight from the
 * binary's read-only data (r->resp_static: no copy). A --dashboard-dir is read per request: the
 * URL path is checked segment by segment (no "..", no dot files, a small character set), opened
 * without following a final symlink, and the resolved file must still lie inside the directory. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "server/assets.h"
#include "server/server.h"

#define MOD "assets"
#define DC__ASSET_MAX_DISK (64u << 20) /* a file in --dashboard-dir larger than this is refused */

/* docs/dashboard.md, "Assets": on every dashboard response. */
static const char dc__csp[] =
    "default-src 'self'; img-src 'self' data: blob: https: http:; style-src 'self' "
    "'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'";

static const char dc__not_built[] =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>dcall</title></head><body>"
    "<h1>The dashboard is not built into this dcalld</h1><p>It was built with "
    "<code>-DDCALL_DASHBOARD=OFF</code>. Build it with the dashboard (run "
    "<code>scripts/install-deps</code> first), or start dcalld with "
    "<code>--dashboard-dir DIR</code>. The API is at <code>/v1</code>.</p></body></html>\n";

const char *dc__assets_content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } t[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json; charset=utf-8"},
        {".map", "application/json; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".ico", "image/x-icon"},
        {".webp", "image/webp"},
        {".woff2", "font/woff2"},
        {".woff", "font/woff"},
        {".txt", "text/plain; charset=utf-8"},
        {".wasm", "application/wasm"},
    };
    const char *slash = strrchr(name, '/'), *dot = strrchr(slash ? slash : name, '.');
    for (size_t i = 0; dot && i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(dot, t[i].ext))
            return t[i].type;
    return "application/octet-stream";
}

/* Paths outside the dashboard: the API, the service endpoints, the test hooks. */
static int dc__is_dashboard_path(const char *p)
{
    return strcmp(p, "/v1") && strncmp(p, "/v1/", 4) && strcmp(p, "/healthz") &&
           strcmp(p, "/metrics") && strcmp(p, "/_test") && strncmp(p, "/_test/", 7);
}

/* 1 when the path's last segment has no dot: a client-side route that gets index.html. */
static int dc__is_route(const char *p)
{
    const char *last = strrchr(p, '/');
    return !strchr(last ? last : p, '.');
}

/* A URL path safe to map onto a directory: "/" or "/seg/seg" where every segment is 1-100 of
 * [A-Za-z0-9._~-] and does not start with a dot (no "..", no hidden files). */
static int dc__path_safe(const char *p)
{
    if (p[0] != '/' || strlen(p) > 400)
        return 0;
    if (!p[1])
        return 1;
    for (const char *seg = p + 1;;) {
        size_t n =
            strspn(seg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-");
        if (n == 0 || n > 100 || seg[0] == '.')
            return 0;
        if (seg[n] == '\0')
            return 1;
        if (seg[n] != '/')
            return 0;
        seg += n + 1;
    }
}

/* Whether the request accepts gzip: a "gzip" (or "x-gzip") coding, or "*", with q > 0. */
static int dc__accepts_gzip(const char *ae)
{
    int star = 0, named = -1; /* named: -1 not listed, 0 refused (q=0), 1 accepted */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", ae);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        size_t n = strcspn(tok, " \t;");
        const char *q = strstr(tok + n, "q=");
        int ok = !q || strtod(q + 2, NULL) > 0;
        if ((n == 4 && !strncasecmp(tok, "gzip", 4)) || (n == 6 && !strncasecmp(tok, "x-gzip", 6)))
            named = ok;
        else if (n == 1 && tok[0] == '*')
            star = ok;
    }
    return named >= 0 ? named : star;
}

/* Whether If-None-Match lists etag (or its gzip variant etag-gz), weakly compared, or is "*". */
static int dc__etag_matches(const char *inm, const char *etag)
{
    size_t el = strlen(etag); /* "\"hash\"" */
    if (!inm[0] || el < 2)
        return 0;
    const char *p = inm;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return 1;
        if (!strncmp(p, "W/", 2))
            p += 2;
        size_t n = strcspn(p, ",");
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == el && !strncmp(p, etag, el))
            return 1;
        /* the same bytes sent gzip-encoded carry etag with -gz before the closing quote */
        if (n == el + 3 && !strncmp(p, etag, el - 1) && !strncmp(p + el - 1, "-gz\"", 4))
            return 1;
        p += strcspn(p, ",");
    }
    return 0;
}

static void dc__common_headers(dc__http_req *r, const char *path)
{
    r->cache_control =
        !strncmp(path, "/assets/", 8) ? "public, max-age=31536000, immutable" : "no-cache";
    dc__http_add_header(r, "content-security-policy", dc__csp);
    dc__http_add_header(r, "x-content-type-options", "nosniff");
    dc__http_add_header(r, "x-frame-options", "DENY");
    dc__http_add_header(r, "referrer-policy", "same-origin");
}

/* Answers with bytes that r does not own (the embedded copy) or that it does (owned = 1). */
static void dc__send(dc__http_req *r, const char *path, const char *type, const char *etag,
                     const unsigned char *data, size_t len, int owned, int gzip, int vary)
{
    dc__common_headers(r, path);
    if (vary)
        dc__http_add_header(r, "vary", "Accept-Encoding");
    char tag[96];
    if (gzip && strlen(etag) + 4 < sizeof tag)
        snprintf(tag, sizeof tag, "%.*s-gz\"", (int)strlen(etag) - 1, etag);
    else
        snprintf(tag, sizeof tag, "%s", etag);
    dc__http_add_header(r, "etag", tag);
    if (gzip)
        dc__http_add_header(r, "content-encoding", "gzip");
    r->content_type = type;
    /* 304 (and HEAD): http.c sends the headers with this length and no body */
    r->status = dc__etag_matches(r->if_none_match, etag) ? 304 : 200;
    free(r->resp);
    r->resp = (char *)data;
    r->resp_len = len;
    r->resp_static = !owned;
}

static const dc__asset *dc__find(const dc__asset_set *set, const char *path)
{
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(path, set->v[mid].path);
        if (!c)
            return &set->v[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static void dc__serve_embedded(dc__http_req *r, const dc__asset_set *set)
{
    const char *path = strcmp(r->path, "/") ? r->path : "/index.html";
    const dc__asset *a = dc__find(set, path);
    if (!a && dc__is_route(path))
        a = dc__find(set, "/index.html");
    if (!a)
        return dc__reply_err(r, 404, DC_ENOTFOUND, "path");
    int gz = a->gz && dc__accepts_gzip(r->accept_encoding);
    dc__send(r, a->path, a->content_type, a->etag, gz ? a->gz : a->data, gz ? a->gz_len : a->len, 0,
             gz, a->gz != NULL);
}

/* Reads DIR/rel when it is a regular file inside DIR. DC_ENOTFOUND when it is not there. */
static int dc__read_inside(const char *dir, const char *rel, char **data, size_t *len,
                           struct stat *st)
{
    char full[PATH_MAX], real[PATH_MAX], root[PATH_MAX];
    if (snprintf(full, sizeof full, "%s%s", dir, rel) >= (int)sizeof full)
        return DC_ENOTFOUND;
    /* O_NONBLOCK: a FIFO must not block the loop in open() waiting for a writer */
    int fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return DC_ENOTFOUND;
    int rc = DC_ENOTFOUND, inside = 0;
    /* where the open file really is: the descriptor's path (a directory symlink swapped between
     * open() and the check must not pass), or the path again where there is no /proc */
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    if (fstat(fd, st) == 0 && S_ISREG(st->st_mode) && realpath(dir, root) &&
        (realpath(self, real) || realpath(full, real))) {
        size_t rl = strlen(root);
        inside = !strncmp(real, root, rl) && real[rl] == '/';
    }
    if (inside) {
        rc = (size_t)st->st_size > DC__ASSET_MAX_DISK ? DC_ETOOBIG : 0;
        *len = (size_t)st->st_size;
        *data = rc ? NULL : malloc(*len ? *len : 1);
        if (!rc && !*data)
            rc = DC_ENOMEM;
        for (size_t got = 0; !rc && got < *len;) {
            ssize_t n = read(fd, *data + got, *len - got);
            if (n <= 0) {
                rc = DC_EIO;
                break;
            }
            got += (size_t)n;
        }
        if (rc) {
            free(*data);
            *data = NULL;
        }
    }
    close(fd);
    return rc;
}

static void dc__serve_dir(dc__http_req *r, const char *dir)
{
    if (!dc__path_safe(r->path))
        return dc__reply_err(r, 404, DC_ENOTFOUND, "path");
    const char *path = strcmp(r->path, "/") ? r->path : "/index.html";
    char *data = NULL;
    size_t len = 0;
    struct stat st;
    int rc = dc__read_inside(dir, path, &data, &len, &st);
    if (rc == DC_ENOTFOUND && dc__is_route(path))
        rc = dc__read_inside(dir, path = "/index.html", &data, &len, &st);
    if (rc == DC_ENOTFOUND)
        return dc__reply_err(r, 404, DC_ENOTFOUND, "path");
    if (rc < 0) {
        DC_WARN(MOD, "%s%s: %s", dir, path, dc_strerror(rc));
        return dc__reply_err(r, 500, rc, "path");
    }
    char etag[64]; /* no hash on every request: size and modification time say "changed" */
    snprintf(etag, sizeof etag, "\"d%llx-%llx%09ld\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
    dc__send(r, path, dc__assets_content_type(path), etag, (const unsigned char *)data, len, 1, 0,
             0);
}

int dc__assets_handle(dc__server *srv, dc__http_req *r)
{
    if (!dc__is_dashboard_path(r->path))
        return 0;
    if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD")) {
        dc__http_add_header(r, "allow", "GET, HEAD");
        dc__reply_err(r, 405, DC_ENOTALLOWED, "method");
        return 1;
    }
    if (srv->cfg.dashboard_dir[0]) {
        dc__serve_dir(r, srv->cfg.dashboard_dir);
    } else if (srv->assets && srv->assets->n) {
        dc__serve_embedded(r, srv->assets);
    } else if (dc__is_route(r->path)) {
        dc__common_headers(r, "/");
        r->status = 404;
        r->content_type = "text/html; charset=utf-8";
        free(r->resp);
        r->resp = (char *)dc__not_built;
        r->resp_len = sizeof dc__not_built - 1;
        r->resp_static = 1;
    } else {
        dc__reply_err(r, 404, DC_ENOTFOUND, "path");
    }
    return 1;
}
