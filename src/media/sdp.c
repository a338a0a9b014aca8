/* SDP offer/answer for one BUNDLEd Opus audio transport: see sdp.h for the contract.
 *
 * The parser walks the text line by line, copying each (bounded) line into a stack buffer so that
 * tokenising can write NULs; it keeps ICE/DTLS attributes per level (session, audio section) and
 * resolves "media level wins" once at the end, when it also checks the required fields. */
#include "media/sdp.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "dcall/errors.h"

#define DC__SDP_PROTO "UDP/TLS/RTP/SAVPF"
#define DC__SDP_MAX_TOKENS 64

/* ICE/DTLS attributes seen at one level. */
struct dc__tattr {
    char ufrag[DC_SDP_UFRAG_MAX + 1];
    char pwd[DC_SDP_PWD_MAX + 1];
    uint8_t fp[DC_SDP_FINGERPRINT_LEN];
    int has_fp, other_fp;
    dc__sdp_setup setup;
    int trickle, ice_lite;
};

enum dc__sec { DC__SEC_SESSION, DC__SEC_AUDIO, DC__SEC_OTHER };

struct dc__pstate {
    dc__sdp *out;
    dc__sdp_error *err;
    unsigned lineno;
    enum dc__sec sec;
    int seen_v, seen_o, seen_s, seen_t, seen_audio, seen_dir;
    struct dc__tattr sess, media;
    char fmtp[DC_SDP_MAX_PTS][DC_SDP_FMTP_MAX + 1]; /* by index into out->pts */
    int has_fmtp[DC_SDP_MAX_PTS];
};

/* ------------------------------------------------------------------------------------------ */
/* small helpers */

__attribute__((format(printf, 4, 5))) static int dc__fail(struct dc__pstate *st, unsigned line,
                                                          const char *field, const char *fmt, ...)
{
    if (!st->err)
        return DC_ESDP;
    char detail[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    st->err->line = line;
    snprintf(st->err->field, sizeof st->err->field, "%s", field);
    if (line)
        snprintf(st->err->msg, sizeof st->err->msg, "line %u: %s: %s", line, field, detail);
    else
        snprintf(st->err->msg, sizeof st->err->msg, "%s: %s", field, detail);
    return DC_ESDP;
}

#define FAIL(st, field, ...) dc__fail((st), (st)->lineno, (field), __VA_ARGS__)

static int dc__is_ice_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

static int dc__all_ice_chars(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!dc__is_ice_char((unsigned char)s[i]))
            return 0;
    return 1;
}

/* RFC 8866 token-char: visible ASCII except the separators below. */
static int dc__is_token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]", c);
}

static int dc__valid_chars(const char *s, size_t max, int slash)
{
    size_t n = strlen(s);
    if (n < 1 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!dc__is_token_char((unsigned char)s[i]) && !(slash && s[i] == '/'))
            return 0;
    return 1;
}

static int dc__valid_token(const char *s, size_t max)
{
    return dc__valid_chars(s, max, 0);
}

/* cname: Chrome writes base64 ("+9BQ2K/w=="), so '=', '+' and '/' are allowed. */
static int dc__valid_cname(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > DC_SDP_TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("+/=_.-", c)))
            return 0;
    }
    return 1;
}

/* Strict unsigned decimal: digits only, no sign, no leading zeros beyond "0", value <= max. */
static int dc__parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t n = strlen(s);
    if (n < 1 || n > 20 || (n > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* Splits s in place on runs of spaces. Returns the token count, or max + 1 when there are more. */
static size_t dc__split(char *s, char **tok, size_t max)
{
    size_t n = 0;
    while (*s) {
        while (*s == ' ')
            *s++ = '\0';
        if (!*s)
            break;
        if (n == max)
            return max + 1;
        tok[n++] = s;
        while (*s && *s != ' ')
            s++;
    }
    return n;
}

static int dc__copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

static int dc__valid_address(const char *s)
{
    unsigned char buf[16];
    size_t n = strlen(s);
    if (n < 1 || n > DC_SDP_ADDR_MAX)
        return 0;
    if (strchr(s, ':'))
        return inet_pton(AF_INET6, s, buf) == 1;
    if (strspn(s, "0123456789.") == n)
        return inet_pton(AF_INET, s, buf) == 1;
    /* an FQDN, e.g. Chrome's mDNS name "1f4712db-ea17-4bcf-a596-105139dfd8bf.local" */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return 0;
    }
    return s[0] != '.' && s[0] != '-';
}

/* ------------------------------------------------------------------------------------------ */
/* fingerprints */

void dc__sdp_fingerprint_format(char out[DC_SDP_FINGERPRINT_TEXT],
                                const uint8_t fp[DC_SDP_FINGERPRINT_LEN])
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < DC_SDP_FINGERPRINT_LEN; i++) {
        out[3 * i] = hex[fp[i] >> 4];
        out[3 * i + 1] = hex[fp[i] & 15];
        out[3 * i + 2] = i + 1 < DC_SDP_FINGERPRINT_LEN ? ':' : '\0';
    }
}

int dc__sdp_fingerprint_parse(const char *text, uint8_t fp[DC_SDP_FINGERPRINT_LEN])
{
    if (!text || strlen(text) != DC_SDP_FINGERPRINT_TEXT - 1)
        return DC_ESDP;
    for (size_t i = 0; i < DC_SDP_FINGERPRINT_LEN; i++) {
        if (i + 1 < DC_SDP_FINGERPRINT_LEN && text[3 * i + 2] != ':')
            return DC_ESDP;
        char pair[3] = {text[3 * i], text[3 * i + 1], '\0'};
        if (dc__unhex(&fp[i], pair, 1) != 0)
            return DC_ESDP;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* attributes */

static struct dc__tattr *dc__level(struct dc__pstate *st)
{
    return st->sec == DC__SEC_SESSION ? &st->sess : &st->media;
}

static int dc__attr_ufrag_pwd(struct dc__pstate *st, int is_pwd, const char *v)
{
    struct dc__tattr *t = dc__level(st);
    const char *field = is_pwd ? "a=ice-pwd" : "a=ice-ufrag";
    char *dst = is_pwd ? t->pwd : t->ufrag;
    if (dst[0])
        return FAIL(st, field, "duplicate");
    if (is_pwd ? !dc__all_ice_chars(v, 22, DC_SDP_PWD_MAX)
               : !dc__all_ice_chars(v, 4, DC_SDP_UFRAG_MAX))
        return FAIL(st, field, "%s",
                    is_pwd ? "must be 22-128 ice-chars" : "must be 4-64 ice-chars");
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int dc__attr_fingerprint(struct dc__pstate *st, char *v)
{
    struct dc__tattr *t = dc__level(st);
    char *tok[3];
    if (dc__split(v, tok, 2) != 2)
        return FAIL(st, "a=fingerprint", "expected '<hash> <hex>'");
    if (strcasecmp(tok[0], "sha-256") != 0) {
        if (!dc__valid_token(tok[0], 16))
            return FAIL(st, "a=fingerprint", "bad hash name");
        t->other_fp = 1; /* allowed alongside sha-256, useless alone */
        return 0;
    }
    if (t->has_fp)
        return 0; /* the first sha-256 line counts */
    if (dc__sdp_fingerprint_parse(tok[1], t->fp) != 0)
        return FAIL(st, "a=fingerprint", "sha-256 needs 32 hex bytes separated by ':'");
    t->has_fp = 1;
    return 0;
}

static int dc__attr_setup(struct dc__pstate *st, const char *v)
{
    struct dc__tattr *t = dc__level(st);
    if (t->setup != DC_SDP_SETUP_NONE)
        return FAIL(st, "a=setup", "duplicate");
    if (strcmp(v, "actpass") == 0)
        t->setup = DC_SDP_SETUP_ACTPASS;
    else if (strcmp(v, "active") == 0)
        t->setup = DC_SDP_SETUP_ACTIVE;
    else if (strcmp(v, "passive") == 0)
        t->setup = DC_SDP_SETUP_PASSIVE;
    else
        return FAIL(st, "a=setup", "must be actpass, active or passive");
    return 0;
}

static int dc__attr_ice_options(struct dc__pstate *st, char *v)
{
    char *tok[DC__SDP_MAX_TOKENS];
    size_t n = dc__split(v, tok, DC__SDP_MAX_TOKENS);
    if (n < 1 || n > DC__SDP_MAX_TOKENS)
        return FAIL(st, "a=ice-options", "expected 1-%d options", DC__SDP_MAX_TOKENS);
    for (size_t i = 0; i < n; i++) {
        if (!dc__valid_token(tok[i], DC_SDP_TOKEN_MAX))
            return FAIL(st, "a=ice-options", "bad option");
        if (strcmp(tok[i], "trickle") == 0)
            dc__level(st)->trickle = 1;
    }
    return 0;
}

static int dc__attr_group(struct dc__pstate *st, char *v)
{
    char *tok[DC__SDP_MAX_TOKENS];
    size_t n = dc__split(v, tok, DC__SDP_MAX_TOKENS);
    if (n < 1 || n > DC__SDP_MAX_TOKENS)
        return FAIL(st, "a=group", "expected a semantics and mids");
    if (strcmp(tok[0], "BUNDLE") != 0 || st->out->bundle[0])
        return 0; /* LS and other semantics, or a second BUNDLE group: not ours */
    char *b = st->out->bundle;
    size_t len = 0, cap = sizeof st->out->bundle;
    for (size_t i = 1; i < n; i++) {
        size_t tl = strlen(tok[i]);
        if (!dc__valid_token(tok[i], DC_SDP_TOKEN_MAX) || len + tl + 2 > cap)
            return FAIL(st, "a=group", "bad or too many BUNDLE mids");
        if (len)
            b[len++] = ' ';
        memcpy(b + len, tok[i], tl + 1);
        len += tl;
    }
    if (!len)
        return FAIL(st, "a=group", "BUNDLE without mids");
    return 0;
}

static int dc__pt_index(const dc__sdp *s, uint64_t pt)
{
    for (size_t i = 0; i < s->npts; i++)
        if (s->pts[i] == pt)
            return (int)i;
    return -1;
}

/* a=rtpmap:<pt> <encoding>/<clock>[/<channels>] */
static int dc__attr_rtpmap(struct dc__pstate *st, char *v)
{
    char *tok[3];
    uint64_t pt;
    if (dc__split(v, tok, 2) != 2 || dc__parse_uint(tok[0], 127, &pt) != 0 || !strchr(tok[1], '/'))
        return FAIL(st, "a=rtpmap", "expected '<pt> <encoding>/<clock>[/<channels>]'");
    if (dc__pt_index(st->out, pt) < 0 || st->out->opus_pt >= 0)
        return 0;
    if (strcasecmp(tok[1], "opus/48000/2") == 0)
        st->out->opus_pt = (int)pt;
    return 0;
}

static int dc__attr_fmtp(struct dc__pstate *st, char *v)
{
    char *sp = strchr(v, ' ');
    uint64_t pt;
    if (!sp)
        return FAIL(st, "a=fmtp", "expected '<pt> <parameters>'");
    *sp = '\0';
    if (dc__parse_uint(v, 127, &pt) != 0)
        return FAIL(st, "a=fmtp", "bad payload type");
    int i = dc__pt_index(st->out, pt);
    if (i < 0)
        return 0;
    if (st->has_fmtp[i])
        return FAIL(st, "a=fmtp", "duplicate for payload type %d", (int)pt);
    if (dc__copy(st->fmtp[i], sizeof st->fmtp[i], sp + 1) != 0)
        return FAIL(st, "a=fmtp", "longer than %d bytes", DC_SDP_FMTP_MAX);
    st->has_fmtp[i] = 1;
    return 0;
}

/* a=ssrc:<ssrc> <attribute>[:<value>]: keeps the first SSRC and its cname. */
static int dc__attr_ssrc(struct dc__pstate *st, char *v)
{
    dc__sdp *s = st->out;
    char *sp = strchr(v, ' ');
    uint64_t ssrc;
    if (!sp)
        return FAIL(st, "a=ssrc", "expected '<ssrc> <attribute>'");
    *sp = '\0';
    if (dc__parse_uint(v, UINT32_MAX, &ssrc) != 0)
        return FAIL(st, "a=ssrc", "bad SSRC");
    if (!s->has_ssrc) {
        s->has_ssrc = 1;
        s->ssrc = (uint32_t)ssrc;
    }
    if (ssrc != s->ssrc || s->cname[0] || strncmp(sp + 1, "cname:", 6) != 0)
        return 0;
    if (!dc__valid_cname(sp + 7))
        return FAIL(st, "a=ssrc", "bad cname");
    memcpy(s->cname, sp + 7, strlen(sp + 7) + 1);
    return 0;
}

static int dc__cand_ext(struct dc__pstate *st, dc__sdp_candidate *c, char **tok, size_t n)
{
    if (n % 2)
        return FAIL(st, "a=candidate", "extension attributes must come in name/value pairs");
    for (size_t i = 0; i < n; i += 2) {
        if (strcmp(tok[i], "tcptype") != 0)
            continue;
        if (c->tcptype != DC_SDP_TCPTYPE_NONE)
            return FAIL(st, "a=candidate", "duplicate tcptype");
        if (strcmp(tok[i + 1], "active") == 0)
            c->tcptype = DC_SDP_TCPTYPE_ACTIVE;
        else if (strcmp(tok[i + 1], "passive") == 0)
            c->tcptype = DC_SDP_TCPTYPE_PASSIVE;
        else if (strcmp(tok[i + 1], "so") == 0)
            c->tcptype = DC_SDP_TCPTYPE_SO;
        else
            return FAIL(st, "a=candidate", "tcptype must be active, passive or so");
    }
    if ((c->transport == DC_SDP_TCP) != (c->tcptype != DC_SDP_TCPTYPE_NONE))
        return FAIL(st, "a=candidate", "tcptype is required for tcp and only allowed for tcp");
    return 0;
}

/* a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ... */
static int dc__attr_candidate(struct dc__pstate *st, char *v)
{
    static const char *const types[] = {"host", "srflx", "prflx", "relay"};
    char *tok[DC__SDP_MAX_TOKENS];
    dc__sdp_candidate c;
    uint64_t comp, prio, port;
    size_t n = dc__split(v, tok, DC__SDP_MAX_TOKENS);
    memset(&c, 0, sizeof c);
    if (n < 8 || n > DC__SDP_MAX_TOKENS || strcmp(tok[6], "typ") != 0)
        return FAIL(st, "a=candidate",
                    "expected '<foundation> <component> <transport> "
                    "<priority> <address> <port> typ <type>'");
    if (!dc__all_ice_chars(tok[0], 1, DC_SDP_FOUNDATION_MAX))
        return FAIL(st, "a=candidate", "foundation must be 1-32 ice-chars");
    if (dc__parse_uint(tok[1], 256, &comp) != 0 || comp < 1)
        return FAIL(st, "a=candidate", "component must be 1-256");
    if (dc__parse_uint(tok[3], 0x7fffffff, &prio) != 0 || prio < 1)
        return FAIL(st, "a=candidate", "priority must be 1-2147483647");
    if (!dc__valid_address(tok[4]))
        return FAIL(st, "a=candidate", "bad address");
    if (dc__parse_uint(tok[5], 65535, &port) != 0)
        return FAIL(st, "a=candidate", "bad port");
    size_t t = 0;
    while (t < 4 && strcmp(tok[7], types[t]) != 0)
        t++;
    if (t == 4)
        return FAIL(st, "a=candidate", "type must be host, srflx, prflx or relay");
    if (strcasecmp(tok[2], "udp") == 0)
        c.transport = DC_SDP_UDP;
    else if (strcasecmp(tok[2], "tcp") == 0)
        c.transport = DC_SDP_TCP;
    else
        return 0; /* RFC 8839 5.1: ignore candidates of unknown transports */
    if (c.transport == DC_SDP_UDP && port == 0)
        return FAIL(st, "a=candidate", "UDP port 0");
    if (dc__cand_ext(st, &c, tok + 8, n - 8) != 0)
        return DC_ESDP;
    if (st->out->ncandidates == DC_SDP_MAX_CANDIDATES)
        return 0;
    memcpy(c.foundation, tok[0], strlen(tok[0]) + 1);
    memcpy(c.address, tok[4], strlen(tok[4]) + 1);
    c.component = (unsigned)comp;
    c.priority = (uint32_t)prio;
    c.port = (uint16_t)port;
    c.type = (dc__sdp_cand_type)t;
    st->out->candidates[st->out->ncandidates++] = c;
    return 0;
}

static int dc__attr_direction(struct dc__pstate *st, dc__sdp_dir dir)
{
    if (st->seen_dir)
        return FAIL(st, "a=sendrecv", "more than one direction attribute");
    st->seen_dir = 1;
    st->out->dir = dir;
    return 0;
}

static int dc__attr_mid(struct dc__pstate *st, const char *v, char *dst)
{
    if (dst[0])
        return FAIL(st, "a=mid", "duplicate");
    if (!dc__valid_token(v, DC_SDP_TOKEN_MAX))
        return FAIL(st, "a=mid", "must be a token of 1-64 characters");
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

/* Attributes allowed at both session and audio level. 1 when name was not one of them. */
static int dc__attr_transport(struct dc__pstate *st, const char *name, char *v, int *rc)
{
    if (strcmp(name, "ice-ufrag") == 0 || strcmp(name, "ice-pwd") == 0)
        *rc = v ? dc__attr_ufrag_pwd(st, name[4] == 'p', v)
                : FAIL(st, name[4] == 'p' ? "a=ice-pwd" : "a=ice-ufrag", "no value");
    else if (strcmp(name, "fingerprint") == 0)
        *rc = v ? dc__attr_fingerprint(st, v) : FAIL(st, "a=fingerprint", "no value");
    else if (strcmp(name, "setup") == 0)
        *rc = v ? dc__attr_setup(st, v) : FAIL(st, "a=setup", "no value");
    else if (strcmp(name, "ice-options") == 0)
        *rc = v ? dc__attr_ice_options(st, v) : FAIL(st, "a=ice-options", "no value");
    else if (strcmp(name, "ice-lite") == 0)
        *rc = (dc__level(st)->ice_lite = 1, 0);
    else
        return 1;
    return 0;
}

static int dc__attr_audio(struct dc__pstate *st, const char *name, char *v)
{
    static const char *const dirs[] = {"sendrecv", "sendonly", "recvonly", "inactive"};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(name, dirs[i]) == 0)
            return dc__attr_direction(st, (dc__sdp_dir)i);
    if (strcmp(name, "rtcp-mux") == 0)
        return (st->out->rtcp_mux = 1, 0);
    if (strcmp(name, "end-of-candidates") == 0)
        return (st->out->end_of_candidates = 1, 0);
    if (!v)
        return 0; /* other flags (rtcp-rsize, extmap-allow-mixed...) */
    if (strcmp(name, "mid") == 0)
        return dc__attr_mid(st, v, st->out->mid);
    if (strcmp(name, "rtpmap") == 0)
        return dc__attr_rtpmap(st, v);
    if (strcmp(name, "fmtp") == 0)
        return dc__attr_fmtp(st, v);
    if (strcmp(name, "ssrc") == 0)
        return dc__attr_ssrc(st, v);
    if (strcmp(name, "candidate") == 0)
        return dc__attr_candidate(st, v);
    return 0;
}

static int dc__line_attr(struct dc__pstate *st, char *body)
{
    char *v = strchr(body, ':');
    if (v)
        *v++ = '\0';
    if (!dc__valid_token(body, 64))
        return FAIL(st, "a=", "bad attribute name");
    if (st->sec == DC__SEC_OTHER) {
        dc__sdp_other *o = &st->out->other[st->out->nother - 1];
        return strcmp(body, "mid") == 0 && v ? dc__attr_mid(st, v, o->mid) : 0;
    }
    int rc = 0;
    if (!dc__attr_transport(st, body, v, &rc))
        return rc;
    if (st->sec == DC__SEC_SESSION)
        return strcmp(body, "group") == 0 && v ? dc__attr_group(st, v) : 0;
    return dc__attr_audio(st, body, v);
}

/* ------------------------------------------------------------------------------------------ */
/* lines */

/* m=<media> <port> <proto> <fmt> ... */
static int dc__line_media(struct dc__pstate *st, char *body)
{
    /* a line of DC_SDP_MAX_LINE bytes holds at most half as many tokens; video lines have many */
    char *tok[DC_SDP_MAX_LINE / 2 + 1];
    uint64_t port, pt;
    dc__sdp *s = st->out;
    size_t n = dc__split(body, tok, DC_SDP_MAX_LINE / 2);
    if (n < 4 || n > DC_SDP_MAX_LINE / 2)
        return FAIL(st, "m=", "expected '<media> <port> <proto> <fmt>...'");
    if (dc__parse_uint(tok[1], 65535, &port) != 0)
        return FAIL(st, "m=", "bad port");
    /* a port-0 audio section is a stopped transceiver: keep looking for a live one */
    if (strcmp(tok[0], "audio") == 0 && port != 0 && !st->seen_audio) {
        st->sec = DC__SEC_AUDIO;
        st->seen_audio = 1;
        s->audio_index = s->nother;
        s->port = (uint16_t)port;
        if (strcmp(tok[2], DC__SDP_PROTO) != 0)
            return FAIL(st, "m=audio", "proto must be " DC__SDP_PROTO);
        memcpy(s->proto, tok[2], strlen(tok[2]) + 1);
        if (n - 3 > DC_SDP_MAX_PTS)
            return FAIL(st, "m=audio", "more than %d payload types", DC_SDP_MAX_PTS);
        for (size_t i = 3; i < n; i++) {
            if (dc__parse_uint(tok[i], 127, &pt) != 0)
                return FAIL(st, "m=audio", "payload types must be 0-127");
            s->pts[s->npts++] = (uint8_t)pt;
        }
        return 0;
    }
    if (s->nother == DC_SDP_MAX_OTHER)
        return FAIL(st, "m=", "more than %d m-sections besides audio", DC_SDP_MAX_OTHER);
    dc__sdp_other *o = &s->other[s->nother++];
    st->sec = DC__SEC_OTHER;
    if (!dc__valid_token(tok[0], sizeof o->media - 1) ||
        !dc__valid_chars(tok[2], DC_SDP_TOKEN_MAX, 1) || !dc__valid_token(tok[3], DC_SDP_TOKEN_MAX))
        return FAIL(st, "m=", "bad media, proto or format");
    memcpy(o->media, tok[0], strlen(tok[0]) + 1);
    memcpy(o->proto, tok[2], strlen(tok[2]) + 1);
    memcpy(o->fmt, tok[3], strlen(tok[3]) + 1);
    return 0;
}

static int dc__line_session(struct dc__pstate *st, char type, char *body)
{
    char *tok[8];
    if (st->sec != DC__SEC_SESSION)
        return FAIL(st, type == 'o' ? "o=" : type == 's' ? "s=" : "t=", "only at session level");
    int *seen = type == 'o' ? &st->seen_o : type == 's' ? &st->seen_s : &st->seen_t;
    if (*seen && type != 't')
        return FAIL(st, type == 'o' ? "o=" : "s=", "duplicate");
    *seen = 1;
    if (type == 'o' && dc__split(body, tok, 6) != 6)
        return FAIL(st, "o=", "expected 6 fields");
    if (type == 't' && dc__split(body, tok, 2) != 2)
        return FAIL(st, "t=", "expected '<start> <stop>'");
    return 0;
}

static int dc__line(struct dc__pstate *st, char *line, size_t n)
{
    if (n < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z')
        return FAIL(st, "line", "expected '<letter>=<value>'");
    for (size_t i = 2; i < n; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return FAIL(st, "line", "control character");
    }
    char type = line[0], *body = line + 2;
    if (!st->seen_v) {
        if (type != 'v' || strcmp(body, "0") != 0)
            return FAIL(st, "v=", "the first line must be v=0");
        st->seen_v = 1;
        return 0;
    }
    switch (type) {
    case 'a':
        return dc__line_attr(st, body);
    case 'm':
        return dc__line_media(st, body);
    case 'o':
    case 's':
    case 't':
        return dc__line_session(st, type, body);
    case 'c':
    case 'b':
    case 'i':
    case 'u':
    case 'e':
    case 'p':
    case 'r':
    case 'z':
    case 'k':
        return 0;
    default:
        return FAIL(st, "line", "unknown type '%c='", type);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* parse */

/* Does the space-separated list contain the token? */
static int dc__list_has(const char *list, const char *tok)
{
    size_t tl = strlen(tok);
    for (const char *p = list; *p;) {
        size_t l = strcspn(p, " ");
        if (l == tl && memcmp(p, tok, tl) == 0)
            return 1;
        p += l;
        p += strspn(p, " ");
    }
    return 0;
}

/* useinbandfec=1 among ';'-separated parameters (spaces around them tolerated). */
static int dc__fmtp_fec(const char *params)
{
    for (const char *p = params; *p;) {
        p += strspn(p, " ");
        size_t l = strcspn(p, ";");
        size_t t = l;
        while (t && p[t - 1] == ' ')
            t--;
        if (t == 14 && strncmp(p, "useinbandfec=1", 14) == 0)
            return 1;
        p += l;
        if (*p == ';')
            p++;
    }
    return 0;
}

static int dc__resolve_transport(struct dc__pstate *st)
{
    dc__sdp *s = st->out;
    struct dc__tattr *m = &st->media, *ss = &st->sess;
    memcpy(s->ice_ufrag, m->ufrag[0] ? m->ufrag : ss->ufrag, sizeof s->ice_ufrag);
    memcpy(s->ice_pwd, m->pwd[0] ? m->pwd : ss->pwd, sizeof s->ice_pwd);
    if (!s->ice_ufrag[0])
        return dc__fail(st, 0, "a=ice-ufrag", "missing");
    if (!s->ice_pwd[0])
        return dc__fail(st, 0, "a=ice-pwd", "missing");
    if (!m->has_fp && !ss->has_fp)
        return dc__fail(st, 0, "a=fingerprint", "%s",
                        m->other_fp || ss->other_fp ? "no sha-256 fingerprint (only other hashes)"
                                                    : "missing");
    memcpy(s->fingerprint, m->has_fp ? m->fp : ss->fp, sizeof s->fingerprint);
    s->setup = m->setup != DC_SDP_SETUP_NONE ? m->setup : ss->setup;
    if (s->setup == DC_SDP_SETUP_NONE)
        return dc__fail(st, 0, "a=setup", "missing");
    s->ice_trickle = m->trickle || ss->trickle;
    s->ice_lite = m->ice_lite || ss->ice_lite;
    return 0;
}

static int dc__finish(struct dc__pstate *st)
{
    dc__sdp *s = st->out;
    if (!st->seen_v)
        return dc__fail(st, 0, "v=", "missing");
    if (!st->seen_o || !st->seen_s || !st->seen_t)
        return dc__fail(st, 0, !st->seen_o ? "o=" : !st->seen_s ? "s=" : "t=", "missing");
    if (!st->seen_audio)
        return dc__fail(st, 0, "m=audio", "missing");
    if (dc__resolve_transport(st) != 0)
        return DC_ESDP;
    if (!s->mid[0])
        return dc__fail(st, 0, "a=mid", "missing");
    if (!s->rtcp_mux)
        return dc__fail(st, 0, "a=rtcp-mux", "missing");
    if (s->opus_pt < 0)
        return dc__fail(st, 0, "a=rtpmap", "no opus/48000/2 payload type");
    int i = dc__pt_index(s, (uint64_t)s->opus_pt);
    if (st->has_fmtp[i]) {
        memcpy(s->opus_fmtp, st->fmtp[i], sizeof s->opus_fmtp);
        s->opus_fec = dc__fmtp_fec(s->opus_fmtp);
    }
    s->bundled = s->bundle[0] && dc__list_has(s->bundle, s->mid);
    return 0;
}

int dc__sdp_parse(const char *text, size_t len, dc__sdp *out, dc__sdp_error *err)
{
    struct dc__pstate st;
    char line[DC_SDP_MAX_LINE + 1];
    if (!text || !out)
        return DC_EINVAL;
    memset(out, 0, sizeof *out);
    memset(&st, 0, sizeof st);
    if (err)
        memset(err, 0, sizeof *err);
    st.out = out;
    st.err = err;
    out->opus_pt = -1;
    if (len > DC_SDP_MAX_LEN)
        return dc__fail(&st, 0, "sdp", "longer than %d bytes", DC_SDP_MAX_LEN);
    if (memchr(text, '\0', len))
        return dc__fail(&st, 0, "sdp", "contains a NUL byte");
    for (size_t pos = 0; pos < len;) {
        const char *start = text + pos, *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (n && start[n - 1] == '\r')
            n--;
        if (++st.lineno > DC_SDP_MAX_LINES)
            return FAIL(&st, "sdp", "more than %d lines", DC_SDP_MAX_LINES);
        if (n > DC_SDP_MAX_LINE)
            return FAIL(&st, "line", "longer than %d bytes", DC_SDP_MAX_LINE);
        if (n == 0 && pos >= len)
            break; /* a blank line at the very end */
        memcpy(line, start, n);
        line[n] = '\0';
        int rc = dc__line(&st, line, n);
        if (rc != 0)
            return rc;
    }
    int rc = dc__finish(&st);
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* building */

struct dc__w {
    char *buf;
    size_t cap, len;
    int overflow;
};

__attribute__((format(printf, 2, 3))) static void dc__put(struct dc__w *w, const char *fmt, ...)
{
    va_list ap;
    if (w->overflow)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(w->buf + w->len, w->cap - w->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= w->cap - w->len) {
        w->overflow = 1;
        return;
    }
    w->len += (size_t)n;
}

static int dc__check_local(const dc__sdp_local *l, int answer)
{
    unsigned char buf[16];
    if (!l || !l->ice_ufrag || !l->ice_pwd || !l->cname)
        return DC_EINVAL;
    if (!dc__all_ice_chars(l->ice_ufrag, 4, DC_SDP_UFRAG_MAX) ||
        !dc__all_ice_chars(l->ice_pwd, 22, DC_SDP_PWD_MAX) || !dc__valid_cname(l->cname) ||
        l->session_id > INT64_MAX || l->session_version > INT64_MAX)
        return DC_EINVAL;
    if (answer)
        return l->ip && l->udp_port &&
                       (inet_pton(AF_INET, l->ip, buf) == 1 || inet_pton(AF_INET6, l->ip, buf) == 1)
                   ? 0
                   : DC_EINVAL;
    if (l->mid && !dc__valid_token(l->mid, DC_SDP_TOKEN_MAX))
        return DC_EINVAL;
    return l->opus_pt == 0 || (l->opus_pt >= 96 && l->opus_pt <= 127) ? 0 : DC_EINVAL;
}

static int dc__finish_w(struct dc__w *w, size_t *len_out)
{
    if (w->overflow)
        return DC_EINVAL;
    if (len_out)
        *len_out = w->len;
    return 0;
}

/* The lines both sides write for the transport and codec. */
static void dc__put_audio_common(struct dc__w *w, const dc__sdp_local *l)
{
    char fp[DC_SDP_FINGERPRINT_TEXT];
    dc__sdp_fingerprint_format(fp, l->fingerprint);
    dc__put(w, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", l->ice_ufrag, l->ice_pwd);
    dc__put(w, "a=fingerprint:sha-256 %s\r\n", fp);
}

static void dc__put_codec(struct dc__w *w, const dc__sdp_local *l, int pt)
{
    dc__put(w, "a=rtpmap:%d opus/48000/2\r\na=fmtp:%d minptime=10;useinbandfec=1\r\n", pt, pt);
    dc__put(w, "a=ssrc:%u cname:%s\r\n", (unsigned)l->ssrc, l->cname);
}

static void dc__put_rejected(struct dc__w *w, const dc__sdp_other *o)
{
    dc__put(w, "m=%s 0 %s %s\r\nc=IN IP4 0.0.0.0\r\na=inactive\r\n", o->media, o->proto, o->fmt);
    if (o->mid[0])
        dc__put(w, "a=mid:%s\r\n", o->mid);
}

static void dc__put_answer_audio(struct dc__w *w, const dc__sdp *offer, const dc__sdp_local *l,
                                 const char *ipv)
{
    static const char *const mirror[] = {"sendrecv", "recvonly", "sendonly", "inactive"};
    dc__put(w, "m=audio %u %s %d\r\nc=IN %s %s\r\n", (unsigned)l->udp_port, DC__SDP_PROTO,
            offer->opus_pt, ipv, l->ip);
    dc__put(w, "a=rtcp-mux\r\na=mid:%s\r\n", offer->mid);
    dc__put_audio_common(w, l);
    dc__put(w, "a=setup:passive\r\na=%s\r\n", mirror[offer->dir & 3]);
    /* a=msid gives the browser's ontrack event a stream to attach to an <audio> element */
    dc__put(w, "a=msid:dcall dcall-audio\r\n");
    dc__put_codec(w, l, offer->opus_pt);
    dc__put(w, "a=candidate:1 1 udp %u %s %u typ host\r\n", DC_ICE_PRIORITY_UDP_HOST, l->ip,
            (unsigned)l->udp_port);
    if (l->tcp_port)
        dc__put(w, "a=candidate:2 1 tcp %u %s %u typ host tcptype passive\r\n",
                DC_ICE_PRIORITY_TCP_HOST, l->ip, (unsigned)l->tcp_port);
    dc__put(w, "a=end-of-candidates\r\n");
}

int dc__sdp_build_answer(const dc__sdp *offer, const dc__sdp_local *local, char *out, size_t cap,
                         size_t *len_out)
{
    struct dc__w w = {out, cap, 0, 0};
    if (!offer || !out || cap == 0 || dc__check_local(local, 1) != 0)
        return DC_EINVAL;
    /* both sides passive: nobody would start the DTLS handshake */
    if (offer->setup == DC_SDP_SETUP_PASSIVE)
        return DC_ESDP;
    if (offer->opus_pt < 0 || !offer->mid[0])
        return DC_EINVAL;
    const char *ipv = strchr(local->ip, ':') ? "IP6" : "IP4";
    dc__put(&w, "v=0\r\no=- %llu %llu IN %s %s\r\ns=-\r\nt=0 0\r\na=ice-lite\r\n",
            (unsigned long long)local->session_id, (unsigned long long)local->session_version, ipv,
            local->ip);
    if (offer->bundle[0])
        dc__put(&w, "a=group:BUNDLE %s\r\n", offer->mid);
    dc__put(&w, "a=msid-semantic: WMS *\r\n");
    for (size_t i = 0; i <= offer->nother && i <= DC_SDP_MAX_OTHER; i++) {
        if (i == offer->audio_index)
            dc__put_answer_audio(&w, offer, local, ipv);
        if (i < offer->nother)
            dc__put_rejected(&w, &offer->other[i]);
    }
    return dc__finish_w(&w, len_out);
}

int dc__sdp_build_offer(const dc__sdp_local *local, char *out, size_t cap, size_t *len_out)
{
    struct dc__w w = {out, cap, 0, 0};
    if (!out || cap == 0 || dc__check_local(local, 0) != 0)
        return DC_EINVAL;
    const char *mid = local->mid ? local->mid : "0";
    int pt = local->opus_pt ? local->opus_pt : 111;
    dc__put(&w, "v=0\r\no=- %llu %llu IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
            (unsigned long long)local->session_id, (unsigned long long)local->session_version);
    dc__put(&w, "a=group:BUNDLE %s\r\na=msid-semantic: WMS *\r\n", mid);
    dc__put(&w, "m=audio 9 %s %d\r\nc=IN IP4 0.0.0.0\r\n", DC__SDP_PROTO, pt);
    dc__put_audio_common(&w, local);
    dc__put(&w, "a=setup:actpass\r\na=mid:%s\r\na=sendrecv\r\na=rtcp-mux\r\n", mid);
    dc__put_codec(&w, local, pt);
    return dc__finish_w(&w, len_out);
}

/* ------------------------------------------------------------------------------------------ */
/* ICE helpers */

uint32_t dc__ice_priority(unsigned type_pref, unsigned local_pref, unsigned component)
{
    if (type_pref > 126)
        type_pref = 126;
    if (local_pref > 65535)
        local_pref = 65535;
    if (component < 1)
        component = 1;
    if (component > 256)
        component = 256;
    return ((uint32_t)type_pref << 24) + ((uint32_t)local_pref << 8) + (256u - component);
}

int dc__ice_credentials(char ufrag[DC_ICE_UFRAG_LEN + 1], char pwd[DC_ICE_PWD_LEN + 1])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char rnd[DC_ICE_UFRAG_LEN + DC_ICE_PWD_LEN];
    if (!ufrag || !pwd)
        return DC_EINVAL;
    if (dc__random(rnd, sizeof rnd) != 0)
        return DC_EIO;
    /* 64 symbols: masking a random byte to 6 bits is unbiased */
    for (size_t i = 0; i < DC_ICE_UFRAG_LEN; i++)
        ufrag[i] = alphabet[rnd[i] & 63];
    for (size_t i = 0; i < DC_ICE_PWD_LEN; i++)
        pwd[i] = alphabet[rnd[DC_ICE_UFRAG_LEN + i] & 63];
    ufrag[DC_ICE_UFRAG_LEN] = '\0';
    pwd[DC_ICE_PWD_LEN] = '\0';
    return 0;
}
