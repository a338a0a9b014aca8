/* Media on the signalling side: a party's SDP offer goes to the relay and its answer comes back;
 * relay events become protocol events (media, quality, reconnecting/reconnected) and the call
 * record's quality summary; a failed or lost leg ends the call. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/validate.h"
#include "server/relay.h"
#include "server/server.h"

/* The session of call whose leg is leg_id (caller, answering device or a ringing device). */
static dc__session *dc__leg_session(dc__call *call, const char *leg_id)
{
    if (call->caller && !strcmp(call->caller->id, leg_id))
        return call->caller;
    if (call->answerer && !strcmp(call->answerer->id, leg_id))
        return call->answerer;
    for (int i = 0; i < call->n_callees; i++)
        if (!strcmp(call->callees[i]->id, leg_id))
            return call->callees[i];
    return NULL;
}

void dc__call_offer(dc__session *s, json_t *msg, const char *ref)
{
    dc__server *srv = s->srv;
    const char *id = json_string_value(json_object_get(msg, "call_id"));
    const char *sdp = json_string_value(json_object_get(msg, "sdp"));
    json_t *extra = json_object();
    if (id)
        json_object_set_new(extra, "call_id", json_string(id));
    int rc = dc__valid_id(id);
    const char *field = "call_id";
    dc__call *call = rc == 0 ? dc__call_find(srv, s->account_id, id) : NULL;
    if (rc == 0 && (!call || dc__leg_session(call, s->id) != s))
        rc = DC_ENOTFOUND;
    else if (rc == 0 && !sdp)
        rc = DC_EFIELD, field = "sdp";
    else if (rc == 0 && !srv->relay)
        rc = DC_ESTATE, field = "media";
    char *answer = NULL;
    if (rc == 0) {
        const char *bad = NULL;
        rc = dc__relay_offer(srv->relay, call->rec.id, s->id, sdp, strlen(sdp), &answer, &bad);
        field = bad ? bad : "sdp";
    }
    if (rc < 0) {
        dc__send_error(s->conn, rc, field, ref, extra);
        return;
    }
    json_decref(extra);
    json_t *ev = json_pack("{ss ss}", "call_id", call->rec.id, "sdp", answer);
    if (ref)
        json_object_set_new(ev, "ref", json_string(ref));
    free(answer);
    dc__session_event(s, "answer", ev);
}

/* 0 for the caller, 1 for the answering device, -1 for anyone else. */
static int dc__party(const dc__call *call, const dc__session *s)
{
    return s == call->caller ? 0 : s == call->answerer ? 1 : -1;
}

void dc__call_party_down(dc__call *call, dc__session *s, int why, int down)
{
    int p = dc__party(call, s);
    if (p < 0 || strcmp(call->rec.state, "ongoing"))
        return;
    int before = call->down[p];
    call->down[p] = down ? before | why : before & ~why;
    if (!before == !call->down[p])
        return; /* no change seen from outside */
    const char *type = call->down[p] ? "reconnecting" : "reconnected";
    dc__session *peer = p == 0 ? call->answerer : call->caller;
    if (peer)
        dc__session_event(peer, type, json_pack("{ss ss}", "call_id", call->rec.id, "who", "peer"));
    if (s->conn) /* the party hears it too when only its media dropped */
        dc__session_event(s, type, json_pack("{ss ss}", "call_id", call->rec.id, "who", "self"));
}

static double dc__round2(double x)
{
    return (double)llround(x * 100.0) / 100.0;
}

static void dc__media_quality(dc__call *call, dc__session *s, const dc__relay_event *ev)
{
    json_t *q = json_pack("{ss sf sf sf sf}", "call_id", call->rec.id, "mos", dc__round2(ev->mos),
                          "loss_pct", dc__round2(ev->loss_pct), "rtt_ms", dc__round2(ev->rtt_ms),
                          "jitter_ms", dc__round2(ev->jitter_ms));
    dc__session_event(s, "quality", q);
    dc__call_rec *r = &call->rec;
    double n = (double)r->q_samples;
    r->mos_avg = (r->mos_avg * n + ev->mos) / (n + 1);
    r->loss_pct = (r->loss_pct * n + ev->loss_pct) / (n + 1);
    r->rtt_ms = (r->rtt_ms * n + ev->rtt_ms) / (n + 1);
    r->jitter_ms = (r->jitter_ms * n + ev->jitter_ms) / (n + 1);
    if (!r->q_samples || ev->mos < r->mos_min)
        r->mos_min = ev->mos;
    r->q_samples++;
}

void dc__call_media_event(void *ud, const struct dc__relay_event *ev)
{
    dc__server *srv = ud;
    dc__call *call = NULL;
    HASH_FIND_STR(srv->calls, ev->call_id, call);
    dc__session *s = call && !call->ended ? dc__leg_session(call, ev->leg_id) : NULL;
    if (!s)
        return;
    switch (ev->type) {
    case DC__RELAY_EV_FLOWING:
        call->flowing |= 1 << (dc__party(call, s) + 1);
        if (call->flowing == 6 && !call->media_sent) {
            call->media_sent = 1;
            dc__session_event(call->caller, "media", json_pack("{ss}", "call_id", call->rec.id));
            dc__session_event(call->answerer, "media", json_pack("{ss}", "call_id", call->rec.id));
        }
        break;
    case DC__RELAY_EV_SILENT:
    case DC__RELAY_EV_BACK:
        dc__call_party_down(call, s, DC__DOWN_MEDIA, ev->type == DC__RELAY_EV_SILENT);
        break;
    case DC__RELAY_EV_LOST:
        if (dc__party(call, s) >= 0)
            dc__call_end(call, "network_loss", "media_timeout", s->cuid);
        break;
    case DC__RELAY_EV_QUALITY:
        dc__media_quality(call, s, ev);
        break;
    case DC__RELAY_EV_FAILED:
        if (dc__party(call, s) < 0) {
            /* One ringing device's media failed: that device cannot take the call, the others
             * still ring. It is told why; its leg goes. */
            dc__relay_drop(srv->relay, call->rec.id, s->id);
            dc__session_event(s, "error",
                              json_pack("{ss ss ss}", "code", dc_err_code(ev->err), "message",
                                        dc_strerror(ev->err), "call_id", call->rec.id));
            break;
        }
        dc__call_end(call, "failed",
                     ev->err == DC_EFINGERPRINT ? "dtls_fingerprint_mismatch" : "dtls_failed",
                     "server");
        break;
    default:
        break;
    }
}
