/* The media relay. Worker threads each own one UDP socket (one port per worker, as mediasoup
 * does); both legs of a call live on one worker (chosen by the call id), so a packet never crosses
 * threads. The signalling loop talks to workers through a command queue per worker (an eventfd
 * wakes the worker) and workers report back through one event queue (a uv_async wakes the loop).
 *
 * A leg is one party's media path: ICE-lite (answer checks, follow the nominated address), DTLS
 * (server role), SRTP in and out, RTCP terminated per leg. The relay decrypts what a leg sends,
 * and once the call is answered re-encrypts it onto the peer leg's own continuous outbound stream
 * (its own SSRC, sequence numbers and timestamps), so a sender that restarts never trips the
 * receiver's replay protection. */
#ifndef DC_SERVER_RELAY_H
#define DC_SERVER_RELAY_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct dc__relay dc__relay;

typedef struct dc__relay_config {
    char bind_ip[64];   /* address the UDP sockets bind (default 127.0.0.1) */
    char public_ip[64]; /* address put in candidates (default: bind_ip) */
    int port;           /* first UDP port; worker i uses port + i; 0: ephemeral ports */
    int workers;        /* >= 1 */
    int tcp;            /* non-zero: also a passive ICE-TCP candidate (RFC 6544), lower priority */
    int tcp_port;       /* with tcp: first TCP port; worker i uses tcp_port + i; 0: ephemeral */
} dc__relay_config;

typedef enum dc__relay_event_type {
    DC__RELAY_EV_CONNECTED = 1, /* DTLS done, SRTP ready on this leg */
    DC__RELAY_EV_FLOWING,       /* media from this leg reaches its peer (call answered) */
    DC__RELAY_EV_SILENT,        /* no packet from this leg for 3 s */
    DC__RELAY_EV_BACK,          /* packets again after SILENT */
    DC__RELAY_EV_LOST,          /* no packet for the grace: the leg is gone */
    DC__RELAY_EV_QUALITY,       /* what this leg's party hears: mos, loss, rtt, jitter */
    DC__RELAY_EV_FAILED         /* err: DC_EFINGERPRINT, DC_EDTLS */
} dc__relay_event_type;

typedef struct dc__relay_event {
    dc__relay_event_type type;
    char call_id[40];
    char leg_id[48]; /* the session id of the party the leg belongs to */
    int err;
    double mos, loss_pct, rtt_ms, jitter_ms;
} dc__relay_event;

/* Called on the signalling loop's thread, once per event. */
typedef void (*dc__relay_event_cb)(void *ud, const dc__relay_event *ev);

int dc__relay_start(const dc__relay_config *cfg, uv_loop_t *loop, int grace_s,
                    dc__relay_event_cb cb, void *ud, dc__relay **out);
/* Stops the workers and frees everything (signalling thread). */
void dc__relay_stop(dc__relay *r);
/* The UDP port of worker i (after start). */
int dc__relay_udp_port(const dc__relay *r, int worker);
/* The ICE-TCP port of worker i, 0 when ICE-TCP is off. */
int dc__relay_tcp_port(const dc__relay *r, int worker);

/* Creates (or, with new ICE credentials, restarts) the leg of leg_id in call_id from the party's
 * SDP offer and writes the SDP answer (*answer malloc'd). On DC_ESDP, *err_field names the line. */
int dc__relay_offer(dc__relay *r, const char *call_id, const char *leg_id, const char *offer,
                    size_t len, char **answer, const char **err_field);
/* The call is answered: forward between these two legs; other legs of the call are dropped. */
int dc__relay_link(dc__relay *r, const char *call_id, const char *leg_a, const char *leg_b);
/* Drops one leg (a device that stopped ringing) or, with leg_id NULL, every leg of the call. */
int dc__relay_drop(dc__relay *r, const char *call_id, const char *leg_id);

#endif
