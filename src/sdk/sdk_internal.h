/* libdcall internals shared by the SDK's files and its unit tests: URL parsing, JSON message
 * building and parsing, and the exactly-once sequence rule. Nothing here touches the network. */
#ifndef DC_SDK_INTERNAL_H
#define DC_SDK_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "dcall/dcall.h"

#define DC__SDK_MAX_MSG 65536 /* protocol cap on one message, bytes */

struct dc__url {
    int tls;
    int port;
    char host[256];
    char path[256];
};

/* http://h:p -> ws://h:p/v1/ws, https -> wss (port 443 by default, 80 for http/ws); ws/wss kept
 * as given, with /v1/ws when the path is empty or "/". DC_EURL when it is none of these. */
int dc__sdk_parse_url(const char *in, struct dc__url *out);

/* Exactly-once rule: an event is delivered only when its seq is past the last one processed. */
static inline int dc__sdk_seq_fresh(int64_t last_processed, int64_t seq)
{
    return seq > last_processed;
}

struct dc__sdk_resume {
    const char *session_id; /* NULL: a fresh session */
    const char *secret;
    int64_t last_seq;
};

/* Each builder writes a malloc'd compact JSON text into *out. */
int dc__sdk_hello_json(const dc_config *cfg, const struct dc__sdk_resume *res, char **out);
int dc__sdk_place_json(const dc_call_params *p, const char *client_call_id, char **out);
/* type: answer, decline, cancel, hangup, ringing; detail only for decline (may be NULL). */
int dc__sdk_op_json(const char *type, const char *call_id, const char *detail, char **out);

/* A parsed server message. ev borrows strings from root; valid until dc__sdk_msg_free. */
struct dc__sdk_msg {
    json_t *root;
    const char *type;
    int64_t seq; /* 0 when absent (pong) */
    int known;   /* 1 when type maps to an event */
    dc_event ev;
};

/* Parses one server message and fills ev from its fields (registered: peer_cuid/peer_name hold the
 * signed-in user's own cuid and name). DC_EJSON when not a JSON object with a string "type". */
int dc__sdk_msg_parse(const char *text, size_t len, struct dc__sdk_msg *m);
void dc__sdk_msg_free(struct dc__sdk_msg *m);

/* Maps a protocol type name ("incoming") to its event type; DC_ETYPE when unknown. */
int dc__sdk_event_type(const char *type, dc_event_type *out);
/* Name of an event type as the protocol and the CLI spell it ("answered_elsewhere"). */
const char *dc__sdk_event_name(dc_event_type t);

/* 1 when an error code means the sign-in is refused for good (no reconnect). */
int dc__sdk_auth_final(const char *code);

#endif
