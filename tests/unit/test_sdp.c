/* SDP parse/build (src/media/sdp.c). The browser offers below are what Debian's Chromium 156
 * (HeadlessChrome/156) produced for `pc.addTransceiver('audio')` + createOffer +
 * setLocalDescription, read back after ICE gathering; one TCP candidate in the form Chromium writes
 * with --allow-loopback-in-peer-connection was added. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcall/errors.h"
#include "media/sdp.h"

static const char chrome_offer[] =
    "v=0\r\n"
    "o=- 1249714804206463822 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "a=extmap-allow-mixed\r\n"
    "a=msid-semantic: WMS\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=candidate:1074775870 1 udp 2113937151 "
    "28636d4b-fee4-476c-979f-2458b72aca5c.local 45272 "
    "typ host generation 0 network-cost 999\r\n"
    "a=candidate:2338916062 1 udp 2113942271 "
    "da6487b6-9393-4665-864d-5423392290c0.local 42329 "
    "typ host generation 0 network-cost 999\r\n"
    "a=candidate:4233069003 1 tcp 1518280447 127.0.0.1 9 typ host tcptype "
    "active generation 0 "
    "network-id 1\r\n"
    "a=ice-ufrag:CIvJ\r\n"
    "a=ice-pwd:30z3FseKVo3ye4/S5U/vIP4H\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 "
    "86:B5:37:83:44:F0:DF:EB:25:52:83:D7:47:0E:59:50:8C:74:95:BE:1A:BF:07:43:"
    "2F:EB:18:E0:67:45:"
    "9D:3D\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
    "a=extmap:3 "
    "http://www.ietf.org/id/"
    "draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=sendrecv\r\n"
    "a=msid:- a1e4afd1-093a-45e6-8562-70e194e49537\r\n"
    "a=rtcp-mux\r\n"
    "a=rtcp-rsize\r\n"
    "a=rtcp-xr:rcvr-rtt=all\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=rtcp-fb:111 transport-cc\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:63 red/48000/2\r\n"
    "a=fmtp:63 111/111\r\n"
    "a=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:13 CN/8000\r\n"
    "a=rtpmap:110 telephone-event/48000\r\n"
    "a=rtpmap:126 telephone-event/8000\r\n"
    "a=ssrc:1317476092 cname:oPLTdnkgxtlxojvR\r\n"
    "a=ssrc:1317476092 msid:- a1e4afd1-093a-45e6-8562-70e194e49537\r\n";

/* Chromium 156 with an audio transceiver, a video transceiver and a data channel (trimmed video
 * codec list). */
static const char chrome_multi[] =
    "v=0\r\n"
    "o=- 8779875307219932934 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0 1 2\r\n"
    "a=extmap-allow-mixed\r\n"
    "a=msid-semantic: WMS\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:uyQD\r\n"
    "a=ice-pwd:oXf0W7e1kdGGmodiZz6QZziS\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 "
    "1A:D8:1E:EE:59:3D:9B:F9:D7:88:C1:B0:49:3A:7C:55:E9:53:21:4B:7C:61:88:9A:"
    "EF:39:93:64:16:E7:"
    "E7:79\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=sendrecv\r\n"
    "a=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=ssrc:3623399768 cname:qW+ZqeQbP6U1Levd\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:uyQD\r\n"
    "a=ice-pwd:oXf0W7e1kdGGmodiZz6QZziS\r\n"
    "a=setup:actpass\r\n"
    "a=mid:1\r\n"
    "a=rtpmap:96 VP8/90000\r\n"
    "a=rtpmap:97 rtx/90000\r\n"
    "a=fmtp:97 apt=96\r\n"
    "a=ssrc-group:FID 1499262744 3949695833\r\n"
    "a=ssrc:1499262744 cname:qW+ZqeQbP6U1Levd\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=mid:2\r\n"
    "a=sctp-port:5000\r\n"
    "a=max-message-size:262144\r\n";

static const uint8_t chrome_fp[32] = {
    0x86, 0xB5, 0x37, 0x83, 0x44, 0xF0, 0xDF, 0xEB, 0x25, 0x52, 0x83, 0xD7, 0x47, 0x0E, 0x59, 0x50,
    0x8C, 0x74, 0x95, 0xBE, 0x1A, 0xBF, 0x07, 0x43, 0x2F, 0xEB, 0x18, 0xE0, 0x67, 0x45, 0x9D, 0x3D};

/* The server's side of a call. */
static dc__sdp_local server_local(void)
{
    dc__sdp_local l;
    memset(&l, 0, sizeof l);
    l.ice_ufrag = "srvUfrag0123abcd";
    l.ice_pwd = "srvPwd+/0123456789abcdefghijklmn";
    for (int i = 0; i < 32; i++)
        l.fingerprint[i] = (uint8_t)(0xA0 + i);
    l.ssrc = 4000000001u;
    l.cname = "dcalld";
    l.session_id = 7700000000000000001ull;
    l.session_version = 1;
    l.ip = "203.0.113.7";
    l.udp_port = 40000;
    l.tcp_port = 40001;
    return l;
}

/* A copy of s with the first occurrence of from replaced by to (which must occur). */
static char *replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    assert_non_null(at);
    size_t pre = (size_t)(at - s), fl = strlen(from), tl = strlen(to), rest = strlen(at + fl);
    char *out = malloc(pre + tl + rest + 1);
    assert_non_null(out);
    memcpy(out, s, pre);
    memcpy(out + pre, to, tl);
    memcpy(out + pre + tl, at + fl, rest + 1);
    return out;
}

static int parse_str(const char *s, dc__sdp *out, dc__sdp_error *err)
{
    return dc__sdp_parse(s, strlen(s), out, err);
}

/* Parsing s fails with DC_ESDP, naming field (and the given line, when line > 0). */
static void refused(const char *s, const char *field, unsigned line)
{
    dc__sdp sdp;
    dc__sdp_error err;
    int rc = parse_str(s, &sdp, &err);
    if (rc != DC_ESDP || strcmp(err.field, field) != 0 || (line && err.line != line))
        fail_msg("rc %d field '%s' line %u (%s); want DC_ESDP field '%s' line %u", rc, err.field,
                 err.line, err.msg, field, line);
    assert_non_null(strstr(err.msg, field));
}

static void refused_edit(const char *from, const char *to, const char *field, unsigned line)
{
    char *s = replace(chrome_offer, from, to);
    refused(s, field, line);
    free(s);
}

static void check_chrome_fields(const dc__sdp *s)
{
    static const uint8_t pts[] = {111, 63, 9, 0, 8, 13, 110, 126};
    assert_int_equal(s->ice_lite, 0);
    assert_string_equal(s->bundle, "0");
    assert_true(s->bundled);
    assert_string_equal(s->ice_ufrag, "CIvJ");
    assert_string_equal(s->ice_pwd, "30z3FseKVo3ye4/S5U/vIP4H");
    assert_true(s->ice_trickle);
    assert_memory_equal(s->fingerprint, chrome_fp, 32);
    assert_int_equal(s->setup, DC_SDP_SETUP_ACTPASS);
    assert_string_equal(s->mid, "0");
    assert_int_equal(s->port, 9);
    assert_string_equal(s->proto, "UDP/TLS/RTP/SAVPF");
    assert_int_equal(s->npts, sizeof pts);
    assert_memory_equal(s->pts, pts, sizeof pts);
    assert_true(s->rtcp_mux);
    assert_int_equal(s->dir, DC_SDP_SENDRECV);
    assert_int_equal(s->opus_pt, 111);
    assert_string_equal(s->opus_fmtp, "minptime=10;useinbandfec=1");
    assert_true(s->opus_fec);
    assert_true(s->has_ssrc);
    assert_int_equal(s->ssrc, 1317476092u);
    assert_string_equal(s->cname, "oPLTdnkgxtlxojvR");
    assert_int_equal(s->end_of_candidates, 0);
    assert_int_equal(s->nother, 0);
    assert_int_equal(s->ncandidates, 3);
    const dc__sdp_candidate *c = &s->candidates[0];
    assert_string_equal(c->foundation, "1074775870");
    assert_int_equal(c->component, 1);
    assert_int_equal(c->transport, DC_SDP_UDP);
    assert_int_equal(c->priority, 2113937151u);
    assert_string_equal(c->address, "28636d4b-fee4-476c-979f-2458b72aca5c.local");
    assert_int_equal(c->port, 45272);
    assert_int_equal(c->type, DC_SDP_HOST);
    assert_int_equal(c->tcptype, DC_SDP_TCPTYPE_NONE);
    assert_int_equal(s->candidates[1].port, 42329);
    c = &s->candidates[2];
    assert_string_equal(c->foundation, "4233069003");
    assert_int_equal(c->transport, DC_SDP_TCP);
    assert_int_equal(c->priority, 1518280447u);
    assert_string_equal(c->address, "127.0.0.1");
    assert_int_equal(c->port, 9);
    assert_int_equal(c->tcptype, DC_SDP_TCPTYPE_ACTIVE);
}

static void chrome_offer_every_field(void **state)
{
    (void)state;
    dc__sdp s;
    dc__sdp_error err;
    assert_int_equal(parse_str(chrome_offer, &s, &err), 0);
    check_chrome_fields(&s);
}

/* Bare LF line ends, and no line end after the last line. */
static void lf_line_ends(void **state)
{
    (void)state;
    size_t n = strlen(chrome_offer);
    char *lf = malloc(n + 1);
    size_t j = 0;
    assert_non_null(lf);
    for (size_t i = 0; i < n; i++)
        if (chrome_offer[i] != '\r')
            lf[j++] = chrome_offer[i];
    dc__sdp s;
    assert_int_equal(dc__sdp_parse(lf, j, &s, NULL), 0);
    check_chrome_fields(&s);
    assert_int_equal(dc__sdp_parse(lf, j - 1, &s, NULL), 0); /* without the final "\n" */
    check_chrome_fields(&s);
    free(lf);
}

static void answer_to_chrome(void **state)
{
    (void)state;
    dc__sdp offer, ans;
    dc__sdp_local l = server_local();
    char buf[DC_SDP_MAX_LEN];
    size_t len = 0;
    assert_int_equal(parse_str(chrome_offer, &offer, NULL), 0);
    assert_int_equal(dc__sdp_build_answer(&offer, &l, buf, sizeof buf, &len), 0);
    assert_int_equal(len, strlen(buf));
    /* layout the browser depends on */
    const char *m = strstr(buf, "m=audio 40000 UDP/TLS/RTP/SAVPF 111\r\n");
    assert_non_null(m);
    const char *lite = strstr(buf, "a=ice-lite\r\n");
    assert_non_null(lite);
    assert_true(lite < m);
    assert_true(strstr(buf, "a=group:BUNDLE 0\r\n") < m);
    assert_non_null(strstr(buf, "a=msid-semantic:"));
    assert_non_null(strstr(m, "c=IN IP4 203.0.113.7\r\n"));
    assert_non_null(strstr(m, "a=fmtp:111 minptime=10;useinbandfec=1\r\n"));
    assert_non_null(strstr(m, "a=sendrecv\r\n"));
    assert_null(strstr(buf, "opus/48000/2\r\na=rtpmap")); /* Opus only */
    assert_true(strstr(buf, "typ host\r\n") < strstr(buf, "typ host tcptype passive\r\n"));
    assert_non_null(strstr(buf, "a=end-of-candidates\r\n"));
    assert_string_equal(buf + len - 21, "a=end-of-candidates\r\n"); /* CRLF to the end */

    /* and the SDK's parser reads it back */
    assert_int_equal(dc__sdp_parse(buf, len, &ans, NULL), 0);
    assert_true(ans.ice_lite);
    assert_int_equal(ans.setup, DC_SDP_SETUP_PASSIVE);
    assert_string_equal(ans.ice_ufrag, l.ice_ufrag);
    assert_string_equal(ans.ice_pwd, l.ice_pwd);
    assert_memory_equal(ans.fingerprint, l.fingerprint, 32);
    assert_string_equal(ans.mid, "0");
    assert_true(ans.bundled);
    assert_true(ans.rtcp_mux);
    assert_int_equal(ans.npts, 1);
    assert_int_equal(ans.opus_pt, 111);
    assert_true(ans.opus_fec);
    assert_int_equal(ans.ssrc, l.ssrc);
    assert_string_equal(ans.cname, "dcalld");
    assert_true(ans.end_of_candidates);
    assert_int_equal(ans.ncandidates, 2);
    assert_int_equal(ans.candidates[0].transport, DC_SDP_UDP);
    assert_string_equal(ans.candidates[0].address, "203.0.113.7");
    assert_int_equal(ans.candidates[0].port, 40000);
    assert_int_equal(ans.candidates[0].type, DC_SDP_HOST);
    assert_int_equal(ans.candidates[0].priority, DC_ICE_PRIORITY_UDP_HOST);
    assert_int_equal(ans.candidates[1].transport, DC_SDP_TCP);
    assert_int_equal(ans.candidates[1].tcptype, DC_SDP_TCPTYPE_PASSIVE);
    assert_int_equal(ans.candidates[1].port, 40001);
    assert_int_equal(ans.candidates[1].priority, DC_ICE_PRIORITY_TCP_HOST);
    assert_true(ans.candidates[0].priority > ans.candidates[1].priority);
    assert_string_not_equal(ans.candidates[0].foundation, ans.candidates[1].foundation);
}

static void answer_without_tcp_and_ipv6(void **state)
{
    (void)state;
    dc__sdp offer, ans;
    dc__sdp_local l = server_local();
    char buf[DC_SDP_MAX_LEN];
    l.tcp_port = 0;
    l.ip = "2001:db8::7";
    assert_int_equal(parse_str(chrome_offer, &offer, NULL), 0);
    assert_int_equal(dc__sdp_build_answer(&offer, &l, buf, sizeof buf, NULL), 0);
    assert_non_null(strstr(buf, "c=IN IP6 2001:db8::7\r\n"));
    assert_null(strstr(buf, " tcp "));
    assert_int_equal(parse_str(buf, &ans, NULL), 0);
    assert_int_equal(ans.ncandidates, 1);
    assert_string_equal(ans.candidates[0].address, "2001:db8::7");
}

/* Video and data channel sections are rejected (port 0) in order, keeping their mids. */
static void answer_rejects_other_sections(void **state)
{
    (void)state;
    dc__sdp offer, ans;
    dc__sdp_local l = server_local();
    char buf[DC_SDP_MAX_LEN];
    assert_int_equal(parse_str(chrome_multi, &offer, NULL), 0);
    assert_string_equal(offer.bundle, "0 1 2");
    assert_true(offer.bundled);
    assert_int_equal(offer.nother, 2);
    assert_int_equal(offer.audio_index, 0);
    assert_string_equal(offer.other[0].media, "video");
    assert_string_equal(offer.other[0].mid, "1");
    assert_string_equal(offer.other[1].proto, "UDP/DTLS/SCTP");
    assert_string_equal(offer.other[1].fmt, "webrtc-datachannel");
    assert_int_equal(offer.ssrc, 3623399768u); /* the audio SSRC, not the video one */
    assert_int_equal(dc__sdp_build_answer(&offer, &l, buf, sizeof buf, NULL), 0);
    const char *a = strstr(buf, "m=audio 40000 "),
               *v = strstr(buf, "m=video 0 UDP/TLS/RTP/SAVPF 96\r\n"),
               *d = strstr(buf, "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n");
    assert_true(a && v && d && a < v && v < d);
    assert_non_null(strstr(v, "a=mid:1\r\n"));
    assert_non_null(strstr(d, "a=mid:2\r\n"));
    assert_non_null(strstr(buf, "a=group:BUNDLE 0\r\n"));
    assert_int_equal(parse_str(buf, &ans, NULL), 0);
    assert_int_equal(ans.nother, 2);

    /* a video line with more formats than an audio line may have is still only rejected */
    char vline[512] = "m=video 9 UDP/TLS/RTP/SAVPF";
    for (int pt = 35; pt < 35 + 40; pt++)
        snprintf(vline + strlen(vline), 8, " %d", pt);
    char *big = replace(chrome_multi, "m=video 9 UDP/TLS/RTP/SAVPF 96 97", vline);
    assert_int_equal(parse_str(big, &offer, NULL), 0);
    assert_string_equal(offer.other[0].fmt, "35");
    free(big);

    /* audio not first: it keeps its place */
    char *s = replace(chrome_multi, "a=group:BUNDLE 0 1 2\r\n",
                      "a=group:BUNDLE 0 1 2\r\nm=application 9 UDP/DTLS/SCTP "
                      "webrtc-datachannel\r\n"
                      "a=mid:9\r\n");
    assert_int_equal(parse_str(s, &offer, NULL), 0);
    assert_int_equal(offer.audio_index, 1);
    assert_int_equal(dc__sdp_build_answer(&offer, &l, buf, sizeof buf, NULL), 0);
    assert_true(strstr(buf, "a=mid:9\r\n") < strstr(buf, "m=audio"));
    free(s);
}

static void answer_mirrors_direction_and_needs_active(void **state)
{
    (void)state;
    dc__sdp offer;
    dc__sdp_local l = server_local();
    char buf[DC_SDP_MAX_LEN];
    char *s = replace(chrome_offer, "a=sendrecv", "a=sendonly");
    assert_int_equal(parse_str(s, &offer, NULL), 0);
    assert_int_equal(offer.dir, DC_SDP_SENDONLY);
    assert_int_equal(dc__sdp_build_answer(&offer, &l, buf, sizeof buf, NULL), 0);
    assert_non_null(strstr(buf, "a=recvonly\r\n"));
    free(s);
    /* an offer that insists on being the DTLS server leaves nobody to start the handshake */
    s = replace(chrome_offer, "a=setup:actpass", "a=setup:passive");
    assert_int_equal(parse_str(s, &offer, NULL), 0);
    assert_int_equal(dc__sdp_build_answer(&offer, &l, buf, sizeof buf, NULL), DC_ESDP);
    free(s);
    s = replace(chrome_offer, "a=setup:actpass", "a=setup:active");
    assert_int_equal(parse_str(s, &offer, NULL), 0);
    assert_int_equal(dc__sdp_build_answer(&offer, &l, buf, sizeof buf, NULL), 0);
    free(s);
}

static void build_refuses_bad_input(void **state)
{
    (void)state;
    dc__sdp offer;
    dc__sdp_local l = server_local();
    char buf[DC_SDP_MAX_LEN];
    assert_int_equal(parse_str(chrome_offer, &offer, NULL), 0);
    assert_int_equal(dc__sdp_build_answer(&offer, &l, buf, 200, NULL), DC_EINVAL); /* too small */
    l.ice_ufrag = "abc";
    assert_int_equal(dc__sdp_build_answer(&offer, &l, buf, sizeof buf, NULL), DC_EINVAL);
    l = server_local();
    l.ice_pwd = "short";
    assert_int_equal(dc__sdp_build_offer(&l, buf, sizeof buf, NULL), DC_EINVAL);
    l = server_local();
    l.ip = "not-an-ip";
    assert_int_equal(dc__sdp_build_answer(&offer, &l, buf, sizeof buf, NULL), DC_EINVAL);
    l = server_local();
    l.udp_port = 0;
    assert_int_equal(dc__sdp_build_answer(&offer, &l, buf, sizeof buf, NULL), DC_EINVAL);
    l = server_local();
    l.cname = "has space";
    assert_int_equal(dc__sdp_build_offer(&l, buf, sizeof buf, NULL), DC_EINVAL);
}

static void own_offer_round_trip(void **state)
{
    (void)state;
    dc__sdp s;
    dc__sdp_local l = server_local();
    char buf[DC_SDP_MAX_LEN], ufrag[DC_ICE_UFRAG_LEN + 1], pwd[DC_ICE_PWD_LEN + 1];
    size_t len;
    assert_int_equal(dc__ice_credentials(ufrag, pwd), 0);
    l.ice_ufrag = ufrag;
    l.ice_pwd = pwd;
    l.cname = "Yq0S3fnK+cwF/If3W=";
    l.ip = NULL; /* ignored by the offer */
    assert_int_equal(dc__sdp_build_offer(&l, buf, sizeof buf, &len), 0);
    assert_null(strstr(buf, "a=candidate"));
    assert_int_equal(dc__sdp_parse(buf, len, &s, NULL), 0);
    assert_string_equal(s.ice_ufrag, ufrag);
    assert_string_equal(s.ice_pwd, pwd);
    assert_memory_equal(s.fingerprint, l.fingerprint, 32);
    assert_int_equal(s.setup, DC_SDP_SETUP_ACTPASS);
    assert_int_equal(s.ice_lite, 0);
    assert_string_equal(s.mid, "0");
    assert_true(s.bundled);
    assert_true(s.rtcp_mux);
    assert_int_equal(s.npts, 1);
    assert_int_equal(s.opus_pt, 111);
    assert_true(s.opus_fec);
    assert_int_equal(s.ssrc, l.ssrc);
    assert_string_equal(s.cname, l.cname);
    assert_int_equal(s.ncandidates, 0);
    assert_int_equal(s.dir, DC_SDP_SENDRECV);

    /* the server can answer it, and the chosen mid and PT carry through */
    l.mid = "audio";
    l.opus_pt = 109;
    assert_int_equal(dc__sdp_build_offer(&l, buf, sizeof buf, &len), 0);
    assert_int_equal(dc__sdp_parse(buf, len, &s, NULL), 0);
    assert_string_equal(s.mid, "audio");
    assert_int_equal(s.opus_pt, 109);
    dc__sdp_local srv = server_local();
    char ans[DC_SDP_MAX_LEN];
    assert_int_equal(dc__sdp_build_answer(&s, &srv, ans, sizeof ans, NULL), 0);
    assert_non_null(strstr(ans, "a=group:BUNDLE audio\r\n"));
    assert_non_null(strstr(ans, "a=rtpmap:109 opus/48000/2\r\n"));
    l.opus_pt = 95;
    assert_int_equal(dc__sdp_build_offer(&l, buf, sizeof buf, &len), DC_EINVAL);
}

static void transport_attrs_at_session_level(void **state)
{
    (void)state;
    dc__sdp s;
    /* move ufrag/pwd/fingerprint/setup to session level: still found */
    char *a = replace(chrome_offer, "a=ice-ufrag:CIvJ\r\n", "");
    char *b = replace(a, "a=ice-pwd:30z3FseKVo3ye4/S5U/vIP4H\r\n", "");
    char *c = replace(b, "a=setup:actpass\r\n", "");
    char *d = replace(c, "a=group:BUNDLE 0\r\n",
                      "a=group:BUNDLE "
                      "0\r\na=ice-ufrag:sEss\r\na=ice-pwd:sessionpwdsessionpwd00\r\n"
                      "a=setup:active\r\na=ice-lite\r\n");
    assert_int_equal(parse_str(d, &s, NULL), 0);
    assert_string_equal(s.ice_ufrag, "sEss");
    assert_string_equal(s.ice_pwd, "sessionpwdsessionpwd00");
    assert_int_equal(s.setup, DC_SDP_SETUP_ACTIVE);
    assert_true(s.ice_lite);
    /* media level wins over session level */
    char *e =
        replace(chrome_offer, "a=group:BUNDLE 0\r\n", "a=group:BUNDLE 0\r\na=ice-ufrag:sEss\r\n");
    assert_int_equal(parse_str(e, &s, NULL), 0);
    assert_string_equal(s.ice_ufrag, "CIvJ");
    free(a), free(b), free(c), free(d), free(e);
}

static void fingerprint_other_hashes(void **state)
{
    (void)state;
    dc__sdp s;
    /* sha-1 alone is refused; sha-1 next to sha-256 is fine */
    refused_edit("a=fingerprint:sha-256 "
                 "86:B5:37:83:44:F0:DF:EB:25:52:83:D7:47:0E:59:50:8C:74:95:BE:"
                 "1A:BF:07:43:2F:EB:18:E0:67:45:9D:3D",
                 "a=fingerprint:sha-1 "
                 "86:B5:37:83:44:F0:DF:EB:25:52:83:D7:47:0E:59:50:8C:74:95:BE",
                 "a=fingerprint", 0);
    char *t = replace(chrome_offer, "a=setup:actpass",
                      "a=fingerprint:sha-1 "
                      "86:B5:37:83:44:F0:DF:EB:25:52:83:D7:47:0E:59:50:8C:74:95:BE"
                      "\r\na=setup:actpass");
    assert_int_equal(parse_str(t, &s, NULL), 0);
    assert_memory_equal(s.fingerprint, chrome_fp, 32);
    free(t);
    /* hash names are case-insensitive, hex too */
    t = replace(chrome_offer, "sha-256 86:B5", "SHA-256 86:b5");
    assert_int_equal(parse_str(t, &s, NULL), 0);
    assert_memory_equal(s.fingerprint, chrome_fp, 32);
    free(t);
}

static void refuses_malformed(void **state)
{
    (void)state;
    dc__sdp_error err;
    dc__sdp s;
    refused_edit("a=ice-ufrag:CIvJ\r\n", "", "a=ice-ufrag", 0);
    refused_edit("a=ice-pwd:30z3FseKVo3ye4/S5U/vIP4H\r\n", "", "a=ice-pwd", 0);
    refused_edit("a=ice-ufrag:CIvJ", "a=ice-ufrag:CIv", "a=ice-ufrag", 14);
    refused_edit("a=ice-pwd:30z3FseKVo3ye4/S5U/vIP4H", "a=ice-pwd:30z3Fse", "a=ice-pwd", 15);
    refused_edit("86:B5:37", "86:G5:37", "a=fingerprint", 17);  /* bad hex */
    refused_edit(":9D:3D\r\n", ":9D\r\n", "a=fingerprint", 17); /* 31 bytes */
    refused_edit("86:B5:37", "86-B5:37", "a=fingerprint", 17);  /* bad separator */
    refused_edit("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 ISAC/16000", "a=rtpmap", 0);
    refused_edit("a=rtpmap:111 opus/48000/2", "a=rtpmap:112 opus/48000/2", "a=rtpmap", 0);
    refused_edit("a=rtcp-mux\r\n", "", "a=rtcp-mux", 0);
    refused_edit("a=mid:0\r\n", "", "a=mid", 0);
    refused_edit("a=setup:actpass", "a=setup:holdconn", "a=setup", 18);
    refused_edit("a=setup:actpass\r\n", "", "a=setup", 0);
    refused_edit("v=0", "v=1", "v=", 1);
    refused_edit("s=-\r\n", "", "s=", 0);
    refused_edit("m=audio 9 UDP/TLS/RTP/SAVPF", "m=audio 9 RTP/AVP", "m=audio", 8);
    refused_edit("m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=audio 9 UDP/TLS/RTP/SAVPF 111 128",
                 "m=audio", 8);
    refused_edit("m=audio 9", "m=video 9", "m=audio", 0);
    refused_edit("110 126\r\n",
                 "110 126 1 2 3 4 5 6 7 10 11 12 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28\r\n",
                 "m=audio", 8); /* 33 payload types */
    refused_edit("a=mid:0\r\n", "a=mid:0\r\nx=unknown\r\n", "line", 20);
    refused_edit("a=mid:0\r\n", "a=mid:0\r\n\r\na=foo\r\n", "line", 20);
    refused_edit("a=mid:0\r\n", "a=mid:0\r\na=mid:1\r\n", "a=mid", 20);
    refused_edit("typ host tcptype active", "typ host", "a=candidate", 13);
    refused_edit("udp 2113937151", "udp 0", "a=candidate", 11);
    refused_edit("45272 typ host", "45272 typ hots", "a=candidate", 11);
    refused_edit("generation 0 network-cost 999", "generation 0 network-cost", "a=candidate", 11);
    refused_edit("a=ssrc:1317476092 cname", "a=ssrc:4294967296 cname", "a=ssrc", 0);

    /* overlong line */
    char longattr[DC_SDP_MAX_LINE + 16];
    memset(longattr, 'x', sizeof longattr);
    memcpy(longattr, "a=x-long:", 9);
    longattr[DC_SDP_MAX_LINE + 1] = '\0'; /* one byte over */
    char *t = replace(chrome_offer, "a=rtcp-rsize", longattr);
    refused(t, "line", 27);
    free(t);
    longattr[DC_SDP_MAX_LINE] = '\0'; /* exactly at the cap is fine */
    t = replace(chrome_offer, "a=rtcp-rsize", longattr);
    assert_int_equal(parse_str(t, &s, NULL), 0);
    free(t);

    /* too many lines, too many bytes, NUL, empty input */
    size_t cap = 600 * 6 + sizeof chrome_offer;
    char *many = malloc(cap);
    assert_non_null(many);
    strcpy(many, chrome_offer);
    for (int i = 0; i < 600; i++)
        strcat(many, "a=x\r\n");
    refused(many, "sdp", DC_SDP_MAX_LINES + 1);
    free(many);
    char *big = calloc(1, DC_SDP_MAX_LEN + 2);
    assert_non_null(big);
    memset(big, 'a', DC_SDP_MAX_LEN + 1);
    assert_int_equal(dc__sdp_parse(big, DC_SDP_MAX_LEN + 1, &s, &err), DC_ESDP);
    assert_string_equal(err.field, "sdp");
    free(big);
    assert_int_equal(dc__sdp_parse(chrome_offer, 10, &s, &err), DC_ESDP); /* "v=0\r\no=- 1" */
    assert_int_equal(dc__sdp_parse("v=0\r\na=x\0y\r\n", 12, &s, &err), DC_ESDP);
    assert_string_equal(err.field, "sdp");
    assert_int_equal(dc__sdp_parse("", 0, &s, &err), DC_ESDP);
    assert_string_equal(err.field, "v=");
    assert_int_equal(dc__sdp_parse(NULL, 0, &s, &err), DC_EINVAL);
    /* the error never leaks the password */
    t = replace(chrome_offer, "a=ice-pwd:30z3FseKVo3ye4/S5U/vIP4H",
                "a=ice-pwd:30z3FseKVo3ye4/S5U/vIP4H!");
    assert_int_equal(parse_str(t, &s, &err), DC_ESDP);
    assert_null(strstr(err.msg, "30z3"));
    free(t);
}

/* Candidates that are legal but unusual: unknown transports are skipped, extras are dropped. */
static void candidate_limits(void **state)
{
    (void)state;
    dc__sdp s;
    char *t = replace(chrome_offer, "a=ice-ufrag:CIvJ",
                      "a=candidate:1 1 ssltcp 100 10.0.0.1 443 typ host\r\n"
                      "a=candidate:2 1 UDP 200 fe80::1 5000 typ srflx raddr 0.0.0.0 rport 0\r\n"
                      "a=end-of-candidates\r\na=ice-ufrag:CIvJ");
    assert_int_equal(parse_str(t, &s, NULL), 0);
    assert_int_equal(s.ncandidates, 4);
    assert_string_equal(s.candidates[3].address, "fe80::1");
    assert_int_equal(s.candidates[3].type, DC_SDP_SRFLX);
    assert_true(s.end_of_candidates);
    free(t);
    char lines[40 * 64] = "";
    for (int i = 0; i < 30; i++)
        snprintf(lines + strlen(lines), 64, "a=candidate:%d 1 udp %d 10.0.0.%d 5000 typ host\r\n",
                 i, 1000 + i, i);
    strcat(lines, "a=ice-ufrag:CIvJ");
    t = replace(chrome_offer, "a=ice-ufrag:CIvJ", lines);
    assert_int_equal(parse_str(t, &s, NULL), 0);
    assert_int_equal(s.ncandidates, DC_SDP_MAX_CANDIDATES);
    free(t);
}

static void priorities(void **state)
{
    (void)state;
    assert_int_equal(dc__ice_priority(126, 65535, 1), 2130706431u);
    assert_int_equal(dc__ice_priority(126, 65535, 1), DC_ICE_PRIORITY_UDP_HOST);
    assert_int_equal(dc__ice_priority(126, 4 * 8192 + 8191, 1), DC_ICE_PRIORITY_TCP_HOST);
    assert_true(DC_ICE_PRIORITY_UDP_HOST > DC_ICE_PRIORITY_TCP_HOST);
    assert_int_equal(dc__ice_priority(0, 0, 256), 0);
    assert_int_equal(dc__ice_priority(100, 10, 2), (100u << 24) + (10u << 8) + 254u);
}

static void credentials(void **state)
{
    (void)state;
    char u1[DC_ICE_UFRAG_LEN + 1], p1[DC_ICE_PWD_LEN + 1], u2[DC_ICE_UFRAG_LEN + 1],
        p2[DC_ICE_PWD_LEN + 1];
    static const char ice[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    assert_int_equal(dc__ice_credentials(u1, p1), 0);
    assert_int_equal(dc__ice_credentials(u2, p2), 0);
    assert_true(strlen(u1) == DC_ICE_UFRAG_LEN && DC_ICE_UFRAG_LEN >= 4);
    assert_true(strlen(p1) == DC_ICE_PWD_LEN && DC_ICE_PWD_LEN >= 22);
    assert_int_equal(strspn(u1, ice), DC_ICE_UFRAG_LEN);
    assert_int_equal(strspn(p1, ice), DC_ICE_PWD_LEN);
    assert_string_not_equal(u1, u2);
    assert_string_not_equal(p1, p2);
}

static void fingerprint_text(void **state)
{
    (void)state;
    char txt[DC_SDP_FINGERPRINT_TEXT];
    uint8_t back[32];
    dc__sdp_fingerprint_format(txt, chrome_fp);
    assert_string_equal(txt, "86:B5:37:83:44:F0:DF:EB:25:52:83:D7:47:0E:59:50:8C:74:95:BE:1A:BF:07:"
                             "43:2F:EB:18:E0:67:45:9D:3D");
    assert_int_equal(dc__sdp_fingerprint_parse(txt, back), 0);
    assert_memory_equal(back, chrome_fp, 32);
    txt[2] = ';';
    assert_int_equal(dc__sdp_fingerprint_parse(txt, back), DC_ESDP);
    assert_int_equal(dc__sdp_fingerprint_parse("86:B5", back), DC_ESDP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chrome_offer_every_field),
        cmocka_unit_test(lf_line_ends),
        cmocka_unit_test(answer_to_chrome),
        cmocka_unit_test(answer_without_tcp_and_ipv6),
        cmocka_unit_test(answer_rejects_other_sections),
        cmocka_unit_test(answer_mirrors_direction_and_needs_active),
        cmocka_unit_test(build_refuses_bad_input),
        cmocka_unit_test(own_offer_round_trip),
        cmocka_unit_test(transport_attrs_at_session_level),
        cmocka_unit_test(fingerprint_other_hashes),
        cmocka_unit_test(refuses_malformed),
        cmocka_unit_test(candidate_limits),
        cmocka_unit_test(priorities),
        cmocka_unit_test(credentials),
        cmocka_unit_test(fingerprint_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
