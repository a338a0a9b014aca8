/* Server URL handling: the app passes the server's base URL; the WebSocket lives at /v1/ws. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sdk_internal.h"

static int scheme_of(const char *in, int *tls, int *defport, const char **rest)
{
    static const struct {
        const char *pfx;
        int tls, port;
    } tab[] = {{"http://", 0, 80}, {"https://", 1, 443}, {"ws://", 0, 80}, {"wss://", 1, 443}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        size_t n = strlen(tab[i].pfx);
        if (strncasecmp(in, tab[i].pfx, n) == 0) {
            *tls = tab[i].tls;
            *defport = tab[i].port;
            *rest = in + n;
            return 0;
        }
    }
    return DC_EURL;
}

static int parse_host_port(const char *hp, size_t len, int defport, struct dc__url *out)
{
    const char *host = hp, *colon = NULL;
    size_t hlen = len;
    if (len && hp[0] == '[') { /* IPv6 literal */
        const char *rb = memchr(hp, ']', len);
        if (!rb)
            return DC_EURL;
        host = hp + 1;
        hlen = (size_t)(rb - hp - 1);
        if (rb + 1 < hp + len) {
            if (rb[1] != ':')
                return DC_EURL;
            colon = rb + 1;
        }
    } else {
        colon = memchr(hp, ':', len);
        if (colon)
            hlen = (size_t)(colon - hp);
    }
    if (hlen == 0 || hlen >= sizeof out->host)
        return DC_EURL;
    memcpy(out->host, host, hlen);
    out->host[hlen] = 0;
    for (size_t i = 0; i < hlen; i++)
        if (out->host[i] <= ' ' || out->host[i] == '@' || (unsigned char)out->host[i] > 126)
            return DC_EURL;
    out->port = defport;
    if (colon) {
        const char *p = colon + 1, *end = hp + len;
        long v = 0;
        if (p == end)
            return DC_EURL;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9')
                return DC_EURL;
            v = v * 10 + (*p - '0');
            if (v > 65535)
                return DC_EURL;
        }
        if (v == 0)
            return DC_EURL;
        out->port = (int)v;
    }
    return 0;
}

int dc__sdk_parse_url(const char *in, struct dc__url *out)
{
    const char *rest;
    int defport;
    if (!in || !out || strlen(in) > 2048)
        return DC_EURL;
    memset(out, 0, sizeof *out);
    if (scheme_of(in, &out->tls, &defport, &rest) != 0)
        return DC_EURL;
    size_t hplen = strcspn(rest, "/?#");
    int rc = parse_host_port(rest, hplen, defport, out);
    if (rc)
        return rc;
    const char *path = rest + hplen;
    if (*path == '?' || *path == '#')
        return DC_EURL;
    size_t plen = strlen(path);
    while (plen > 0 && path[plen - 1] == '/')
        plen--; /* "http://h:p/" and "http://h:p" both mean the base */
    if (plen == 0) {
        snprintf(out->path, sizeof out->path, "/v1/ws");
        return 0;
    }
    for (size_t i = 0; i < plen; i++)
        if (path[i] <= ' ' || (unsigned char)path[i] > 126)
            return DC_EURL;
    int endsws = plen >= 6 && strncmp(path + plen - 6, "/v1/ws", 6) == 0;
    /* A base URL behind a prefix (http://h/dcall) gets /v1/ws appended. */
    int n =
        snprintf(out->path, sizeof out->path, "%.*s%s", (int)plen, path, endsws ? "" : "/v1/ws");
    if (n < 0 || (size_t)n >= sizeof out->path)
        return DC_EURL;
    return 0;
}
