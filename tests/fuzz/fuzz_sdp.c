/* Fuzzes the SDP parser and, through it, the answer builder: whatever parses must satisfy the
 * documented field rules, and the answer built to it must parse back with the same mid and Opus PT
 * (so a hostile offer can never make dcalld emit an answer that its own SDK would refuse). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dcall/errors.h"
#include "media/sdp.h"

static const char ice_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void check_string(const char *s, size_t cap, size_t min)
{
    size_t n = strnlen(s, cap);
    if (n == cap || n < min)
        abort();
}

static void check_fields(const dc__sdp *s)
{
    check_string(s->ice_ufrag, sizeof s->ice_ufrag, 4);
    check_string(s->ice_pwd, sizeof s->ice_pwd, 22);
    if (strspn(s->ice_ufrag, ice_chars) != strlen(s->ice_ufrag) ||
        strspn(s->ice_pwd, ice_chars) != strlen(s->ice_pwd))
        abort();
    check_string(s->mid, sizeof s->mid, 1);
    check_string(s->bundle, sizeof s->bundle, 0);
    check_string(s->cname, sizeof s->cname, 0);
    check_string(s->opus_fmtp, sizeof s->opus_fmtp, 0);
    if (!s->rtcp_mux || s->setup == DC_SDP_SETUP_NONE || s->npts < 1 || s->npts > DC_SDP_MAX_PTS)
        abort();
    int found = 0;
    for (size_t i = 0; i < s->npts; i++)
        found |= s->pts[i] == s->opus_pt;
    if (!found || s->opus_pt < 0 || s->opus_pt > 127)
        abort();
    if (s->ncandidates > DC_SDP_MAX_CANDIDATES || s->nother > DC_SDP_MAX_OTHER ||
        s->audio_index > s->nother)
        abort();
    for (size_t i = 0; i < s->ncandidates; i++) {
        const dc__sdp_candidate *c = &s->candidates[i];
        check_string(c->foundation, sizeof c->foundation, 1);
        check_string(c->address, sizeof c->address, 1);
        if (c->component < 1 || c->component > 256 || c->priority < 1 ||
            c->priority > 0x7fffffffu || (c->transport == DC_SDP_TCP) != (c->tcptype != 0))
            abort();
    }
}

/* The answer to an accepted offer must parse and carry the offer's mid and Opus PT. */
static void check_answer(const dc__sdp *offer)
{
    static char buf[DC_SDP_MAX_LEN];
    dc__sdp_local l;
    dc__sdp ans;
    memset(&l, 0, sizeof l);
    l.ice_ufrag = "fuzzUfrag";
    l.ice_pwd = "fuzzPasswordfuzzPassword";
    l.cname = "dcalld";
    l.ip = "192.0.2.1";
    l.udp_port = 3478;
    l.tcp_port = 3479;
    int rc = dc__sdp_build_answer(offer, &l, buf, sizeof buf, NULL);
    if (offer->setup == DC_SDP_SETUP_PASSIVE) {
        if (rc != DC_ESDP)
            abort();
        return;
    }
    if (rc != 0 || dc__sdp_parse(buf, strlen(buf), &ans, NULL) != 0)
        abort();
    if (strcmp(ans.mid, offer->mid) != 0 || ans.opus_pt != offer->opus_pt || !ans.ice_lite ||
        ans.setup != DC_SDP_SETUP_PASSIVE || ans.ncandidates != 2 || ans.nother != offer->nother ||
        ans.audio_index != offer->audio_index || ans.bundled != (offer->bundle[0] != '\0'))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dc__sdp *s = malloc(sizeof *s);
    dc__sdp_error err;
    if (!s)
        return 0;
    int rc = dc__sdp_parse((const char *)data, size, s, &err);
    if (rc == 0) {
        check_fields(s);
        check_answer(s);
    } else if (rc != DC_ESDP || !err.field[0] || !err.msg[0] ||
               strnlen(err.msg, sizeof err.msg) == sizeof err.msg) {
        abort();
    }
    free(s);
    return 0;
}
