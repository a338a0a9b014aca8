/* STUN (RFC 5389 / RFC 8489) as ICE (RFC 8445) uses it: an ICE-lite server answering Binding
 * checks, and a controlling ICE client sending them. Short-term credentials only.
 *
 * Parsing never allocates: dc__stun_parse fills a caller-provided struct whose pointers point into
 * the caller's buffer, so the buffer must outlive the struct. Parsing checks structure only;
 * FINGERPRINT and MESSAGE-INTEGRITY are verified by separate calls, because the key to use depends
 * on the USERNAME the parse just found.
 *
 * Typical ICE-lite server path for one datagram p[0..n):
 *     if (!dc__stun_is_stun(p, n)) -> not STUN (see rtp.h dc__media_demux)
 *     dc__stun_parse(p, n, &m)                          -> DC_EPACKET: drop silently
 *     dc__stun_check_fingerprint(p, &m)                 -> DC_EINTEGRITY: drop
 *     look up m.username ("<server-ufrag>:<client-ufrag>"); unknown -> 401 (no integrity)
 *     dc__stun_check_integrity(p, &m, pwd, pwdlen)      -> DC_EINTEGRITY: 401 (no integrity)
 *     dc__stun_build_binding_success(out, ..., m.tid, from, pwd, pwdlen, &len)
 */
#ifndef DC_MEDIA_STUN_H
#define DC_MEDIA_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DC__STUN_MAGIC 0x2112A442u
#define DC__STUN_HDR_LEN 20
#define DC__STUN_TID_LEN 12
/* Longest USERNAME RFC 8489 allows (bytes); longer ones are refused as malformed. */
#define DC__STUN_MAX_USERNAME 513
/* How many unknown comprehension-required attribute types a parse remembers (for a 420). */
#define DC__STUN_MAX_UNKNOWN 4

/* Methods (the 12-bit method number) and classes. */
#define DC__STUN_BINDING 0x001
enum dc__stun_class {
    DC__STUN_REQUEST = 0,
    DC__STUN_INDICATION = 1,
    DC__STUN_SUCCESS = 2,
    DC__STUN_ERROR = 3,
};

/* Attribute types used here. */
#define DC__STUN_ATTR_MAPPED_ADDRESS 0x0001
#define DC__STUN_ATTR_USERNAME 0x0006
#define DC__STUN_ATTR_MESSAGE_INTEGRITY 0x0008
#define DC__STUN_ATTR_ERROR_CODE 0x0009
#define DC__STUN_ATTR_UNKNOWN_ATTRIBUTES 0x000A
#define DC__STUN_ATTR_XOR_MAPPED_ADDRESS 0x0020
#define DC__STUN_ATTR_PRIORITY 0x0024
#define DC__STUN_ATTR_USE_CANDIDATE 0x0025
#define DC__STUN_ATTR_SOFTWARE 0x8022
#define DC__STUN_ATTR_FINGERPRINT 0x8028
#define DC__STUN_ATTR_ICE_CONTROLLED 0x8029
#define DC__STUN_ATTR_ICE_CONTROLLING 0x802A

/* Error codes an ICE agent sends. */
#define DC__STUN_ERR_BAD_REQUEST 400
#define DC__STUN_ERR_UNAUTHORIZED 401
#define DC__STUN_ERR_UNKNOWN_ATTRIBUTE 420
#define DC__STUN_ERR_ROLE_CONFLICT 487
#define DC__STUN_ERR_SERVER_ERROR 500

/* One parsed message. Pointers point into the parsed buffer. A "has_" flag false means the
 * attribute was absent and its value field is zero. When an attribute appears twice, the first
 * one counts (RFC 8489 §14). Attributes after MESSAGE-INTEGRITY other than FINGERPRINT are
 * ignored, as RFC 8489 §14.5 requires. */
struct dc__stun_msg {
    uint16_t method;      /* DC__STUN_BINDING, ... */
    uint8_t cls;          /* enum dc__stun_class */
    const uint8_t *tid;   /* DC__STUN_TID_LEN bytes */
    size_t len;           /* whole message: 20 + the header's length field; equals the datagram */
    const char *username; /* not NUL-terminated; NULL when absent */
    size_t username_len;
    bool has_priority;
    uint32_t priority;
    bool use_candidate;
    bool has_ice_controlling;
    uint64_t ice_controlling; /* tiebreaker */
    bool has_ice_controlled;
    uint64_t ice_controlled; /* tiebreaker */
    bool has_xor_mapped;
    struct sockaddr_storage xor_mapped; /* AF_INET or AF_INET6, already un-XORed */
    int error_code;                     /* 300..699 from ERROR-CODE; 0 when absent */
    const char *error_reason;           /* UTF-8, not NUL-terminated; NULL when absent */
    size_t error_reason_len;
    /* Offset of the MESSAGE-INTEGRITY / FINGERPRINT attribute header from the message start;
     * 0 when absent (an attribute can never sit at offset 0). */
    size_t integrity_off;
    size_t fingerprint_off;
    /* Comprehension-required (type < 0x8000) attributes this parser does not know, for a 420
     * response. nunknown counts all of them; the first DC__STUN_MAX_UNKNOWN are listed. */
    size_t nunknown;
    uint16_t unknown[DC__STUN_MAX_UNKNOWN];
};

/* RFC 7983 demultiplexing: true when the datagram is STUN (first byte 0..3, at least a header,
 * the magic cookie in place). Cheap enough to call on every packet. */
static inline bool dc__stun_is_stun(const uint8_t *p, size_t n)
{
    return n >= DC__STUN_HDR_LEN && p[0] < 4 && p[4] == 0x21 && p[5] == 0x12 && p[6] == 0xA4 &&
           p[7] == 0x42;
}

/* Parses the STUN message that is exactly p[0..n) (one UDP datagram or one RFC 6544 frame).
 * Strict: header bits, magic cookie, length field a multiple of 4 and equal to n - 20, every
 * attribute and its padding within the message, known attributes at their fixed lengths,
 * MESSAGE-INTEGRITY 20 bytes, FINGERPRINT 4 bytes and last, USERNAME <= 513 bytes.
 * 0 or DC_EPACKET (then *m is unspecified). */
int dc__stun_parse(const uint8_t *p, size_t n, struct dc__stun_msg *m);

/* Verifies FINGERPRINT of a message parsed from p: CRC-32 of everything before it, xor
 * 0x5354554e. 0, or DC_EINTEGRITY when absent or wrong. */
int dc__stun_check_fingerprint(const uint8_t *p, const struct dc__stun_msg *m);

/* Verifies MESSAGE-INTEGRITY (HMAC-SHA1) of a message parsed from p with a short-term key (the
 * ICE password bytes, no SASLprep; ICE passwords are ASCII). The HMAC covers the message up to the
 * attribute with the length field set as if the message ended after it (RFC 8489 §14.5), so a
 * trailing FINGERPRINT does not matter. Constant-time compare. 0, or DC_EINTEGRITY when absent or
 * wrong. */
int dc__stun_check_integrity(const uint8_t *p, const struct dc__stun_msg *m, const void *key,
                             size_t keylen);

/* CRC-32 (ISO-HDLC, as zlib) of n bytes, continuing from crc (start with 0). */
uint32_t dc__crc32(uint32_t crc, const void *p, size_t n);

/* ---- Building ----
 * A builder writes into a caller buffer. Errors are sticky: after the first failure every call is
 * a no-op and dc__stun_finish returns it (DC_EINVAL: bad argument or buffer too small), so a
 * sequence of adds needs one check at the end. The header's length field is kept current after
 * every add. */
struct dc__stun_builder {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int err;
    uint8_t
        pad; /* byte used to pad attribute values to 4 bytes; 0 unless set (RFC 5769 uses ' ') */
    bool sealed; /* MESSAGE-INTEGRITY or FINGERPRINT added: only FINGERPRINT may follow */
};

/* Starts a message of the given method and class with a 12-byte transaction id. */
void dc__stun_begin(struct dc__stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
                    uint8_t cls, const uint8_t *tid);
/* Appends an attribute with an arbitrary value (padded with b->pad). */
void dc__stun_add(struct dc__stun_builder *b, uint16_t type, const void *value, size_t len);
void dc__stun_add_u32(struct dc__stun_builder *b, uint16_t type, uint32_t v);
void dc__stun_add_u64(struct dc__stun_builder *b, uint16_t type, uint64_t v);
/* XOR-MAPPED-ADDRESS style attribute (type given) from an AF_INET or AF_INET6 address. */
void dc__stun_add_xor_addr(struct dc__stun_builder *b, uint16_t type, const struct sockaddr *sa);
/* ERROR-CODE with code 300..699; reason NULL picks the standard phrase. */
void dc__stun_add_error_code(struct dc__stun_builder *b, int code, const char *reason);
/* MESSAGE-INTEGRITY (HMAC-SHA1 with key) over everything so far. */
void dc__stun_add_integrity(struct dc__stun_builder *b, const void *key, size_t keylen);
/* FINGERPRINT over everything so far; must be the last attribute. */
void dc__stun_add_fingerprint(struct dc__stun_builder *b);
/* 0 and the message length in *len, or the first error. */
int dc__stun_finish(const struct dc__stun_builder *b, size_t *len);

/* What an ICE client puts in a connectivity check. */
struct dc__stun_check {
    const uint8_t *tid;   /* 12 bytes; the caller draws them at random and keeps them */
    const char *username; /* "<remote-ufrag>:<local-ufrag>" */
    const void *key;      /* remote ice-pwd */
    size_t keylen;
    uint32_t priority;   /* priority of the local candidate as a peer-reflexive one */
    uint64_t tiebreaker; /* sent as ICE-CONTROLLING (controlling) or ICE-CONTROLLED */
    bool controlling;
    bool use_candidate; /* nominate (controlling agent only) */
};

/* Binding request: USERNAME, PRIORITY, ICE-CONTROLLING or ICE-CONTROLLED, USE-CANDIDATE when set,
 * MESSAGE-INTEGRITY, FINGERPRINT. 0 and *len, or DC_EINVAL. */
int dc__stun_build_binding_request(uint8_t *buf, size_t cap, const struct dc__stun_check *c,
                                   size_t *len);

/* Binding success response to request tid: XOR-MAPPED-ADDRESS (the request's source address),
 * MESSAGE-INTEGRITY with key (the local ice-pwd, as the request was checked with), FINGERPRINT. */
int dc__stun_build_binding_success(uint8_t *buf, size_t cap, const uint8_t *tid,
                                   const struct sockaddr *mapped, const void *key, size_t keylen,
                                   size_t *len);

/* Error response of the given method to request tid: ERROR-CODE (reason NULL picks the standard
 * phrase), MESSAGE-INTEGRITY when key is not NULL, FINGERPRINT. RFC 8489 §10.1.2: a 400 or 401
 * caused by missing or wrong credentials carries no MESSAGE-INTEGRITY (pass key NULL); a 487 to an
 * authenticated request does. For 420, build with the builder and add UNKNOWN-ATTRIBUTES. */
int dc__stun_build_error(uint8_t *buf, size_t cap, uint16_t method, const uint8_t *tid, int code,
                         const char *reason, const void *key, size_t keylen, size_t *len);

#endif
