/* libdcall: the dcall client SDK. This header is the whole public contract.
 *
 * Threading: a client runs on one libuv loop, either the host application's (config.uv_loop) or
 * a loop thread of its own (config.uv_loop == NULL). Every dc_client_* function may be called
 * from any thread: it validates its arguments at once (returning DC_ECUID, DC_ECONTEXT, ...) and
 * hands the request to the loop. Events are delivered on the loop's thread, one at a time, in
 * order. Strings in a dc_event are borrowed and valid only during the callback.
 *
 * Host-loop mode: call dc_client_new on the loop's own thread (libuv's async handles require it),
 * and keep the loop running after the last dc_client_unref: teardown closes handles
 * asynchronously and is complete when the loop has no more of the client's handles.
 *
 * Lifetime: dc_client_new returns a client holding one reference; dc_client_unref drops it and the
 * client is freed (connection closed, thread joined) when the last reference goes. Do not drop the
 * last reference from inside the event callback of that same client.
 */
#ifndef DCALL_DCALL_H
#define DCALL_DCALL_H

#include <stddef.h>
#include <stdint.h>

#include "dcall/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dc_client dc_client;

typedef enum dc_event_type {
    DC_EV_REGISTERED = 1,     /* signed in; cuid/name set; also after a fresh (non-resumed) login */
    DC_EV_OUTGOING,           /* server acknowledged a placed call: call_id, client_call_id */
    DC_EV_RINGING,            /* a callee device shows the call */
    DC_EV_INCOMING,           /* a call for this user: call_id, peer_*, context, images */
    DC_EV_ANSWERED,           /* the call is answered (caller and the answering device) */
    DC_EV_ANSWERED_ELSEWHERE, /* another device of this user answered */
    DC_EV_DECLINED,           /* callee declined (caller side) */
    DC_EV_MISSED,             /* ring timeout (caller side) */
    DC_EV_CANCELLED,          /* caller cancelled (callee side) */
    DC_EV_BUSY,               /* callee is in another call */
    DC_EV_UNREACHABLE,        /* callee has no device online */
    DC_EV_RECONNECTING,       /* a party lost its connection: who = "self" or "peer" */
    DC_EV_RECONNECTED,        /* that party is back: who = "self" or "peer" */
    DC_EV_ENDED,              /* last event of every call: reason, detail, duration_ms, ended_by */
    DC_EV_MISSED_CALL,        /* notification for the callee of a call it missed */
    DC_EV_BRANDING,           /* the account's branding: json holds {"logo_url",...} */
    DC_EV_ERROR,              /* err/code/message; call_id or client_call_id when about a call */
    DC_EV_CLOSED,             /* final: the client will not reconnect (logout, auth error, close) */
    /* Voice (issue 4); appended, so earlier values never change. */
    DC_EV_MEDIA,        /* audio flows end to end (both legs connected, call answered) */
    DC_EV_QUALITY,      /* what this party hears: mos, loss_pct, rtt_ms, jitter_ms; every 5 s */
    DC_EV_NETWORK_CHECK /* pre-call check: score (0-100, or -1 = not measurable), rtt_ms,
                           jitter_ms, loss_pct; call_id is the call it was measured for, about
                           1 s after the leg connects (see dc_config.min_network_score) */
} dc_event_type;

typedef struct dc_event {
    dc_event_type type;
    int64_t ts_ms;              /* when the SDK handed the event over (Unix ms) */
    const char *call_id;        /* NULL when not about a call */
    const char *client_call_id; /* the caller's own id for the call, when known */
    const char *peer_cuid;      /* the other party */
    const char *peer_name;
    const char *context;
    const char *remote_context;
    const char *caller_image;
    const char *callee_image;
    const char *reason;   /* DC_EV_ENDED: completed, declined, missed, cancelled, busy,
                             unreachable, network_loss, failed */
    const char *detail;   /* DC_EV_ENDED: optional refinement, e.g. server_restart; else NULL */
    const char *ended_by; /* DC_EV_ENDED: cuid of the party that ended it, or NULL */
    const char *who;      /* DC_EV_RECONNECTING/RECONNECTED: "self" or "peer" */
    int64_t duration_ms;  /* DC_EV_ENDED: answered -> ended, 0 if never answered */
    int err;              /* DC_EV_ERROR / DC_EV_CLOSED: a dc_err */
    const char *code;     /* DC_EV_ERROR: protocol code, e.g. "invalid_cuid" */
    const char *message;  /* DC_EV_ERROR: text naming the field and the rule */
    const char *json;     /* the server's message as JSON text (NULL for local events) */
    /* DC_EV_QUALITY (from the server) and DC_EV_NETWORK_CHECK (measured here; loss/rtt only). */
    double mos;       /* 1.0-4.5 (E-model, ITU-T G.107 reduced) */
    double loss_pct;  /* packet loss, percent */
    double rtt_ms;    /* round-trip time */
    double jitter_ms; /* interarrival jitter */
    int score;        /* DC_EV_NETWORK_CHECK: 0-100, -1 when it could not be measured */
} dc_event;

typedef void (*dc_event_cb)(dc_client *c, const dc_event *ev, void *userdata);

typedef struct dc_config {
    const char *server_url; /* "http://127.0.0.1:8080", "https://...", "ws://..." or "wss://..." */
    const char *token;      /* JWT minted by the business backend; or else: */
    const char *account_id; /* development mode: Account ID + API key (if the account allows) */
    const char *api_key;
    const char *cuid; /* required with account_id/api_key; checked against the token otherwise */
    const char *name; /* optional display name, 3-50 characters */
    dc_event_cb on_event;
    void *userdata;
    void *uv_loop;    /* uv_loop_t* of the host, or NULL for a loop thread of the SDK's own */
    int no_reconnect; /* 1: do not reconnect after a lost connection (tests) */

    /* Audio. A source/sink is chosen by a string:
     *   NULL or ""      the default PortAudio device
     *   "device:NAME"   the PortAudio device named NAME, else the first whose name contains it
     *                   (case-insensitive; see dc_audio_devices)
     *   "wav:PATH"      a WAV file: capture plays it once from the moment media flows end to end
     *                   (DC_EV_MEDIA), then silence; playout records 48 kHz mono 16-bit from that
     *                   moment until the call ends (the header is rewritten after every 20 ms
     *                   block, so the file is a valid WAV at any moment, even after a kill)
     *   "null"          silence in / discard out
     * WAV backends get no echo cancellation, noise suppression or gain control. When a source or
     * sink cannot be opened the app gets DC_EV_ERROR (call_id set, message naming it) and the call
     * goes on without audio that way; signalling is never affected. A server without media
     * (older, or --no-media) leaves calls signalling-only, as before. */
    const char *audio_in;
    const char *audio_out;
    /* PortAudio capture devices get echo cancellation (of what plays on the output device), noise
     * suppression and automatic gain control (speexdsp; see docs/choices.md) unless this is 1.
     * WAV files never do, whatever this says. */
    int no_audio_processing;
    int no_media; /* 1: signalling only: no offer is made and no media flows */
    /* Pre-call network check (DC_EV_NETWORK_CHECK): the SDK measures RTT, jitter and loss to the
     * media port with the call's own ICE checks: the 10 sent 50 ms apart after the first one that
     * succeeds (the leg is set up while the phone rings, so this costs no extra round trip or
     * port) and scores them with the E-model R-factor (0-100). No check answered within 3 s of
     * the server's SDP answer: score 0, loss 100. Server without media: score -1. With
     * min_network_score > 0, a placed call scoring below it is cancelled by the SDK before it is
     * answered (the app sees the DC_EV_NETWORK_CHECK, then DC_EV_ENDED reason "cancelled"). */
    int min_network_score;
    /* TLS: a PEM file of CA certificates that sign the server's certificate (https:// and wss://
     * servers), for servers whose certificate is not signed by a CA the system trusts. NULL: the
     * system's trust store. */
    const char *ca_file;
} dc_config;

typedef struct dc_call_params {
    const char *to;             /* callee cuid (required) */
    const char *context;        /* 1-64 characters (required), shown to the callee */
    const char *remote_context; /* optional, 1-64 characters */
    const char *caller_image;   /* optional http(s) URL */
    const char *callee_image;   /* optional http(s) URL */
    const char *client_call_id; /* optional; generated when NULL. A retry with the same id never
                                   places a second call. */
} dc_call_params;

/* Creates a client (not yet connected). Copies every string of cfg. */
int dc_client_new(const dc_config *cfg, dc_client **out);
dc_client *dc_client_ref(dc_client *c);
void dc_client_unref(dc_client *c);

/* Connects and signs in; DC_EV_REGISTERED follows. Reconnects by itself with backoff (0.5 s
 * doubling to 8 s) after a lost connection, resuming the same session so no event is lost or
 * repeated; auth errors (invalid_token, token_expired, token_revoked, logged_out) are final. */
int dc_client_connect(dc_client *c);
/* Closes the connection without logging out; DC_EV_CLOSED follows. */
int dc_client_disconnect(dc_client *c);
/* Tells the server this device signs out (its session ends at once), then closes. */
int dc_client_logout(dc_client *c);

/* Places a call. client_call_id_out (65 bytes, may be NULL) receives the id used. */
int dc_client_place(dc_client *c, const dc_call_params *p, char *client_call_id_out);
int dc_client_answer(dc_client *c, const char *call_id);
/* detail: NULL or a reason refinement such as "microphone_permission". */
int dc_client_decline(dc_client *c, const char *call_id, const char *detail);
int dc_client_cancel(dc_client *c, const char *call_id);
int dc_client_hangup(dc_client *c, const char *call_id);

/* Mints a client token as a business backend would (JWT HS256 keyed by the api_secret string).
 * ttl_s 60..86400. *out is malloc'd; free() it. */
int dc_token_mint(const char *account_id, const char *api_secret, const char *cuid,
                  const char *name, int ttl_s, char **out);

/* Validation helpers the app can use before calling. 0 or the specific dc_err. */
int dc_validate_cuid(const char *cuid);
int dc_validate_name(const char *name);
int dc_validate_context(const char *context);

/* In-call audio controls; they apply to the current call and to the next ones. */
int dc_client_set_mute(dc_client *c, int muted);            /* 1: send silence */
int dc_client_set_hold(dc_client *c, int held);             /* 1: send silence and play nothing */
int dc_client_set_output_volume(dc_client *c, double gain); /* 0.0-4.0, 1.0 = unchanged */

/* Tells the SDK the device's network changed (the app learns it from the OS): the media leg
 * moves to a fresh socket at once and re-checks the path, instead of waiting ~1 s for silence. */
int dc_client_network_changed(dc_client *c);

/* Lists the audio devices PortAudio sees, one "in|out|inout<TAB>NAME" per line (malloc'd text;
 * free() it). DC_EIO when PortAudio cannot initialise. */
int dc_audio_devices(char **out);

/* dc_strerror, dc_err_code: see dcall/errors.h */

#ifdef __cplusplus
}
#endif
#endif
