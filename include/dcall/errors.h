/* dcall error codes. Numbers are never renumbered or reused (curl's rule); a new error takes the
 * next free number. Each has a stable protocol name (what the server sends as "code" and what the
 * CLI prints) and a rule text that says what was expected. */
#ifndef DCALL_ERRORS_H
#define DCALL_ERRORS_H

/* X(NAME, value, "protocol_code", "rule or description") */
#define DC_ERRORS(X)                                                                               \
    X(DC_OK, 0, "ok", "success")                                                                   \
    X(DC_EINVAL, -1, "invalid_argument", "invalid argument")                                       \
    X(DC_ENOMEM, -2, "out_of_memory", "out of memory")                                             \
    X(DC_EIO, -3, "io_error", "input/output error")                                                \
    X(DC_ECUID, -4, "invalid_cuid",                                                                \
      "must be 5-50 letters, digits, single underscores, with at least one letter")                \
    X(DC_ENAME, -5, "invalid_name", "must be 3-50 characters")                                     \
    X(DC_ECONTEXT, -6, "invalid_context", "must be 1-64 characters")                               \
    X(DC_EURL, -7, "invalid_url", "must be an http:// or https:// URL of at most 2048 characters") \
    X(DC_ETOKEN, -8, "invalid_token", "token is malformed or its signature does not verify")       \
    X(DC_ETOKEN_EXPIRED, -9, "token_expired", "token has expired")                                 \
    X(DC_ETOKEN_REVOKED, -10, "token_revoked", "token was issued before the user was logged out")  \
    X(DC_EUNAUTHORIZED, -11, "unauthorized", "credentials missing or wrong")                       \
    X(DC_EJSON, -12, "invalid_json", "must be a JSON object")                                      \
    X(DC_ETYPE, -13, "unknown_type", "message type is not known")                                  \
    X(DC_ETOOBIG, -14, "message_too_large", "message exceeds 65536 bytes")                         \
    X(DC_EFIELD, -15, "invalid_field", "field is missing or has the wrong type")                   \
    X(DC_ECALLEE, -16, "callee_not_allowed", "the token's callees claim does not list this cuid")  \
    X(DC_ERATE, -17, "rate_limited", "too many requests")                                          \
    X(DC_ENOTFOUND, -18, "not_found", "no such object")                                            \
    X(DC_ESTATE, -19, "invalid_state", "not allowed in the call's current state")                  \
    X(DC_EINCALL, -20, "already_in_call", "this user already has a call")                          \
    X(DC_ECONNECT, -21, "connect_failed", "could not connect to the server")                       \
    X(DC_EDRAINING, -22, "server_draining", "the server is shutting down")                         \
    X(DC_ECLOSED, -23, "closed", "the connection is closed")                                       \
    X(DC_ETIMEOUT, -24, "timeout", "the operation timed out")                                      \
    X(DC_ERANGE, -25, "range_too_long", "the time range must be at most 30 days")                  \
    X(DC_ESTORE, -26, "store_error", "the store failed")                                           \
    X(DC_ELOCKED, -27, "data_dir_locked", "another dcalld uses this data directory")               \
    X(DC_EPROTO, -28, "protocol_error", "the peer broke the protocol")                             \
    X(DC_ELOGGEDOUT, -29, "logged_out", "the user was logged out")                                 \
    X(DC_ENOTCONN, -30, "not_connected", "the client is not connected")                            \
    X(DC_ESELF, -31, "invalid_callee", "a user cannot call itself")                                \
    X(DC_EAUTHMODE, -32, "auth_mode_disabled",                                                     \
      "Account ID + API key sign-in is off for this account; use a token")                         \
    X(DC_ECOLOR, -33, "invalid_color", "must be a #RRGGBB colour")                                 \
    X(DC_ETHEME, -34, "invalid_button_theme", "must be default or white")                          \
    X(DC_ETIMEOUTVAL, -35, "invalid_ring_timeout", "must be an integer from 10 to 120 seconds")    \
    X(DC_ETTL, -36, "invalid_ttl", "must be an integer from 60 to 86400 seconds")                  \
    X(DC_ETIME, -37, "invalid_time", "must be an ISO 8601 date-time such as 2026-11-24T00:00:00Z") \
    X(DC_ETZ, -38, "invalid_tz", "must be an IANA time zone such as Asia/Kolkata")                 \
    X(DC_EGRAN, -39, "invalid_granularity", "must be hour, day, week or month")                    \
    X(DC_EID, -40, "invalid_id", "must be 1-64 letters, digits, '-' or '_'")                       \
    X(DC_ELIMIT, -41, "invalid_limit", "must be an integer from 1 to 1000")                        \
    X(DC_ECURSOR, -42, "invalid_cursor", "must be a cursor returned by a previous page")           \
    X(DC_ESTATUS, -43, "invalid_status",                                                           \
      "must be one of completed, declined, missed, cancelled, busy, unreachable, network_loss, "   \
      "failed, ongoing, ringing")                                                                  \
    X(DC_EEVENTS, -44, "invalid_events", "must be an array of known webhook event names")          \
    X(DC_EINTERNAL, -45, "internal_error", "internal error")                                       \
    X(DC_ENOTALLOWED, -46, "method_not_allowed", "method not allowed on this path")                \
    X(DC_EDEVICES, -47, "too_many_devices", "at most 16 devices per user are signed in at once")   \
    X(DC_EDTLS, -48, "dtls_failed", "the DTLS handshake failed")                                   \
    X(DC_EFINGERPRINT, -49, "dtls_fingerprint_mismatch",                                           \
      "the peer's certificate does not match the fingerprint in its SDP")                          \
    X(DC_ESRTP, -50, "srtp_failed", "SRTP protection or authentication failed")                    \
    X(DC_ESDP, -51, "invalid_sdp", "the SDP is malformed or lacks a required line")                \
    X(DC_EPACKET, -52, "invalid_packet", "the packet is malformed")                                \
    X(DC_EINTEGRITY, -53, "integrity_failed", "the message integrity check failed")                \
    X(DC_EEMAIL, -54, "invalid_email", "must be an e-mail address of at most 254 characters")      \
    X(DC_EPASSWORD, -55, "weak_password", "must be 10-200 characters")                             \
    X(DC_ECOMPANY, -56, "invalid_company", "must be 2-80 characters")                              \
    X(DC_EEMAILTAKEN, -57, "email_taken", "an account with this e-mail already exists")            \
    X(DC_ECREDENTIALS, -58, "invalid_credentials", "e-mail or password is wrong")                  \
    X(DC_ECSRF, -59, "csrf_failed",                                                                \
      "a signed-in request other than GET must carry the session's X-CSRF-Token header")           \
    X(DC_EORIGIN, -60, "invalid_origin",                                                           \
      "must be an array of at most 20 origins such as https://app.example.com (scheme, host, "     \
      "optional port; no path)")                                                                   \
    X(DC_EORIGINDENIED, -61, "origin_not_allowed",                                                 \
      "the request's Origin is not allowed: on /v1/ws not in the account's allowed_origins; on "   \
      "dashboard sign-up, log-in and live feed not this server's own")                             \
    X(DC_ENOWEBHOOK, -62, "no_webhook_url", "set webhook_url in /v1/settings first")

typedef enum dc_err {
#define DC__ERR_ENUM(name, val, code, text) name = val,
    DC_ERRORS(DC__ERR_ENUM)
#undef DC__ERR_ENUM
        DC_ERR_LAST_ = -63
} dc_err;

/* Human text: "invalid_cuid: must be 5-50 letters, ...". Never NULL. */
const char *dc_strerror(int err);
/* Stable protocol name: "invalid_cuid". Never NULL ("unknown_error" for unknown values). */
const char *dc_err_code(int err);
/* Rule text alone. Never NULL. */
const char *dc_err_rule(int err);
/* Maps a protocol name back to its dc_err (DC_EPROTO when unknown). */
int dc_err_from_code(const char *code);

#endif
