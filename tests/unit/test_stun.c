/* STUN (src/media/stun.c) against the RFC 5769 test vectors, plus tampering, truncation, wrong
 * keys, malformed attributes and round trips through the builders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "dcall/errors.h"
#include "media/stun.h"

static const char PASSWORD[] = "VOkJxbRl1RmTxUk/WvJxBt";
static const uint8_t TID[12] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
                                0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

/* RFC 5769 §2.1 sample request (username "evtj:h6vY", padding with spaces). */
static const uint8_t REQ[] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf};

/* RFC 5769 §2.2 sample IPv4 response: 192.0.2.1 port 32853. */
static const uint8_t RESP4[] = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96};

/* RFC 5769 §2.3 sample IPv6 response: 2001:db8:1234:5678:11:2233:4455:6677 port 32853. */
static const uint8_t RESP6[] = {
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
    0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14,
    0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75,
    0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c};

static void parse_ok(const uint8_t *p, size_t n, struct dc__stun_msg *m)
{
    assert_int_equal(dc__stun_parse(p, n, m), 0);
    assert_int_equal(dc__stun_check_fingerprint(p, m), 0);
    assert_int_equal(dc__stun_check_integrity(p, m, PASSWORD, strlen(PASSWORD)), 0);
}

static void rfc5769_request(void **state)
{
    (void)state;
    struct dc__stun_msg m;
    assert_true(dc__stun_is_stun(REQ, sizeof REQ));
    parse_ok(REQ, sizeof REQ, &m);
    assert_int_equal(m.method, DC__STUN_BINDING);
    assert_int_equal(m.cls, DC__STUN_REQUEST);
    assert_memory_equal(m.tid, TID, 12);
    assert_int_equal(m.len, sizeof REQ);
    assert_int_equal(m.username_len, 9);
    assert_memory_equal(m.username, "evtj:h6vY", 9);
    assert_true(m.has_priority);
    assert_int_equal(m.priority, 0x6e0001ff);
    assert_true(m.has_ice_controlled);
    assert_false(m.has_ice_controlling);
    assert_true(m.ice_controlled == 0x932ff9b151263b36ull);
    assert_false(m.use_candidate);
    assert_int_equal(m.integrity_off, 76);
    assert_int_equal(m.fingerprint_off, 100);
    assert_int_equal(m.nunknown, 0);
    /* A wrong password, or a right one one byte short, must not verify. */
    assert_int_equal(dc__stun_check_integrity(REQ, &m, "VOkJxbRl1RmTxUk/WvJxBu", 22),
                     DC_EINTEGRITY);
    assert_int_equal(dc__stun_check_integrity(REQ, &m, PASSWORD, 21), DC_EINTEGRITY);
}

static void rfc5769_request_rebuilt(void **state)
{
    (void)state;
    uint8_t buf[256];
    struct dc__stun_builder b;
    size_t len = 0;
    dc__stun_begin(&b, buf, sizeof buf, DC__STUN_BINDING, DC__STUN_REQUEST, TID);
    b.pad = ' '; /* the RFC's sample pads with spaces */
    dc__stun_add(&b, DC__STUN_ATTR_SOFTWARE, "STUN test client", 16);
    dc__stun_add_u32(&b, DC__STUN_ATTR_PRIORITY, 0x6e0001ff);
    dc__stun_add_u64(&b, DC__STUN_ATTR_ICE_CONTROLLED, 0x932ff9b151263b36ull);
    dc__stun_add(&b, DC__STUN_ATTR_USERNAME, "evtj:h6vY", 9);
    dc__stun_add_integrity(&b, PASSWORD, strlen(PASSWORD));
    dc__stun_add_fingerprint(&b);
    assert_int_equal(dc__stun_finish(&b, &len), 0);
    assert_int_equal(len, sizeof REQ);
    assert_memory_equal(buf, REQ, sizeof REQ);
}

static void check_resp_addr(const struct dc__stun_msg *m, int family)
{
    assert_true(m->has_xor_mapped);
    assert_int_equal(m->xor_mapped.ss_family, family);
    char text[INET6_ADDRSTRLEN];
    if (family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&m->xor_mapped;
        assert_int_equal(ntohs(sin->sin_port), 32853);
        inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
        assert_string_equal(text, "192.0.2.1");
    } else {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&m->xor_mapped;
        assert_int_equal(ntohs(sin6->sin6_port), 32853);
        inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
        assert_string_equal(text, "2001:db8:1234:5678:11:2233:4455:6677");
    }
}

/* Rebuilds an RFC 5769 response (SOFTWARE "test vector", XOR-MAPPED-ADDRESS, MI, FP). */
static void rebuild_response(const struct sockaddr *sa, const uint8_t *want, size_t want_len)
{
    uint8_t buf[256];
    struct dc__stun_builder b;
    size_t len = 0;
    dc__stun_begin(&b, buf, sizeof buf, DC__STUN_BINDING, DC__STUN_SUCCESS, TID);
    b.pad = ' ';
    dc__stun_add(&b, DC__STUN_ATTR_SOFTWARE, "test vector", 11);
    dc__stun_add_xor_addr(&b, DC__STUN_ATTR_XOR_MAPPED_ADDRESS, sa);
    dc__stun_add_integrity(&b, PASSWORD, strlen(PASSWORD));
    dc__stun_add_fingerprint(&b);
    assert_int_equal(dc__stun_finish(&b, &len), 0);
    assert_int_equal(len, want_len);
    assert_memory_equal(buf, want, want_len);
}

static void rfc5769_ipv4_response(void **state)
{
    (void)state;
    struct dc__stun_msg m;
    parse_ok(RESP4, sizeof RESP4, &m);
    assert_int_equal(m.method, DC__STUN_BINDING);
    assert_int_equal(m.cls, DC__STUN_SUCCESS);
    check_resp_addr(&m, AF_INET);
    assert_null(m.username);
    rebuild_response((const struct sockaddr *)&m.xor_mapped, RESP4, sizeof RESP4);
}

static void rfc5769_ipv6_response(void **state)
{
    (void)state;
    struct dc__stun_msg m;
    parse_ok(RESP6, sizeof RESP6, &m);
    assert_int_equal(m.cls, DC__STUN_SUCCESS);
    check_resp_addr(&m, AF_INET6);
    rebuild_response((const struct sockaddr *)&m.xor_mapped, RESP6, sizeof RESP6);
}

/* Any single-bit change is caught: by the parser, by FINGERPRINT, and (for bytes the HMAC covers)
 * by MESSAGE-INTEGRITY on its own. */
static void tampering_is_detected(void **state)
{
    (void)state;
    uint8_t buf[sizeof REQ];
    struct dc__stun_msg m;
    for (size_t i = 0; i < sizeof REQ; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, REQ, sizeof REQ);
            buf[i] ^= (uint8_t)(1u << bit);
            if (dc__stun_parse(buf, sizeof buf, &m) != 0)
                continue;
            assert_int_equal(dc__stun_check_fingerprint(buf, &m), DC_EINTEGRITY);
            if (i < 76 + 24)
                assert_int_equal(dc__stun_check_integrity(buf, &m, PASSWORD, strlen(PASSWORD)),
                                 DC_EINTEGRITY);
        }
    }
}

static void truncation_is_refused(void **state)
{
    (void)state;
    struct dc__stun_msg m;
    for (size_t n = 0; n < sizeof REQ; n++)
        assert_int_equal(dc__stun_parse(REQ, n, &m), DC_EPACKET);
    /* Trailing garbage beyond the length field is refused too. */
    uint8_t big[sizeof REQ + 4];
    memcpy(big, REQ, sizeof REQ);
    memset(big + sizeof REQ, 0, 4);
    assert_int_equal(dc__stun_parse(big, sizeof big, &m), DC_EPACKET);
}

/* Dropping FINGERPRINT (with the length fixed) leaves a valid message whose integrity still holds:
 * the HMAC's length excludes what follows MESSAGE-INTEGRITY. */
static void without_fingerprint(void **state)
{
    (void)state;
    uint8_t buf[sizeof REQ];
    struct dc__stun_msg m;
    memcpy(buf, REQ, sizeof REQ);
    buf[3] = 0x58 - 8;
    assert_int_equal(dc__stun_parse(buf, sizeof REQ - 8, &m), 0);
    assert_int_equal(m.fingerprint_off, 0);
    assert_int_equal(dc__stun_check_fingerprint(buf, &m), DC_EINTEGRITY);
    assert_int_equal(dc__stun_check_integrity(buf, &m, PASSWORD, strlen(PASSWORD)), 0);
    /* And with MESSAGE-INTEGRITY dropped too, integrity is absent: a failure. */
    buf[3] = 0x58 - 32;
    assert_int_equal(dc__stun_parse(buf, sizeof REQ - 32, &m), 0);
    assert_int_equal(dc__stun_check_integrity(buf, &m, PASSWORD, strlen(PASSWORD)), DC_EINTEGRITY);
}

static void attribute_after_fingerprint(void **state)
{
    (void)state;
    uint8_t buf[sizeof REQ + 8];
    struct dc__stun_msg m;
    memcpy(buf, REQ, sizeof REQ);
    memcpy(buf + sizeof REQ,
           "\x80\x22\x00\x04"
           "abcd",
           8);
    buf[3] = 0x58 + 8;
    assert_int_equal(dc__stun_parse(buf, sizeof buf, &m), DC_EPACKET);
}

static void malformed_headers_and_attributes(void **state)
{
    (void)state;
    uint8_t buf[sizeof REQ];
    struct dc__stun_msg m;
    /* wrong magic cookie: not STUN at all */
    memcpy(buf, REQ, sizeof REQ);
    buf[4] = 0x22;
    assert_false(dc__stun_is_stun(buf, sizeof buf));
    assert_int_equal(dc__stun_parse(buf, sizeof buf, &m), DC_EPACKET);
    /* length field not a multiple of 4 */
    memcpy(buf, REQ, sizeof REQ);
    buf[3] = 0x57;
    assert_int_equal(dc__stun_parse(buf, sizeof REQ - 1, &m), DC_EPACKET);
    /* SOFTWARE length running past the message */
    memcpy(buf, REQ, sizeof REQ);
    buf[22] = 0x01;
    assert_int_equal(dc__stun_parse(buf, sizeof buf, &m), DC_EPACKET);
    /* PRIORITY with length 8 (known attribute, wrong size); layout still consistent */
    memcpy(buf, REQ, sizeof REQ);
    buf[43] = 0x08; /* PRIORITY length 4 -> 8 swallows the ICE-CONTROLLED header */
    assert_int_equal(dc__stun_parse(buf, sizeof buf, &m), DC_EPACKET);
    /* MESSAGE-INTEGRITY of length 16 */
    memcpy(buf, REQ, sizeof REQ);
    buf[79] = 0x10;
    assert_int_equal(dc__stun_parse(buf, sizeof buf, &m), DC_EPACKET);
    /* first two bits of the type set */
    memcpy(buf, REQ, sizeof REQ);
    buf[0] = 0x40;
    assert_int_equal(dc__stun_parse(buf, sizeof buf, &m), DC_EPACKET);
}

static void unknown_attributes_are_listed(void **state)
{
    (void)state;
    uint8_t buf[128];
    struct dc__stun_builder b;
    struct dc__stun_msg m;
    size_t len;
    dc__stun_begin(&b, buf, sizeof buf, DC__STUN_BINDING, DC__STUN_REQUEST, TID);
    dc__stun_add(&b, 0x7777, "x", 1);  /* comprehension-required, unknown */
    dc__stun_add(&b, 0xC057, "yy", 2); /* comprehension-optional (GOOG-NETWORK-INFO) */
    dc__stun_add_fingerprint(&b);
    assert_int_equal(dc__stun_finish(&b, &len), 0);
    assert_int_equal(dc__stun_parse(buf, len, &m), 0);
    assert_int_equal(m.nunknown, 1);
    assert_int_equal(m.unknown[0], 0x7777);
    assert_int_equal(dc__stun_check_fingerprint(buf, &m), 0);
}

static void binding_request_round_trip(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t len = 0;
    struct dc__stun_msg m;
    struct dc__stun_check c = {.tid = TID,
                               .username = "srvufrag:cliufrag",
                               .key = "server-password-0123456789",
                               .keylen = 26,
                               .priority = 1853824767u,
                               .tiebreaker = 0x0102030405060708ull,
                               .controlling = true,
                               .use_candidate = true};
    assert_int_equal(dc__stun_build_binding_request(buf, sizeof buf, &c, &len), 0);
    assert_true(dc__stun_is_stun(buf, len));
    assert_int_equal(dc__stun_parse(buf, len, &m), 0);
    assert_int_equal(m.cls, DC__STUN_REQUEST);
    assert_int_equal(m.username_len, strlen(c.username));
    assert_memory_equal(m.username, c.username, m.username_len);
    assert_int_equal(m.priority, c.priority);
    assert_true(m.has_ice_controlling);
    assert_true(m.ice_controlling == c.tiebreaker);
    assert_false(m.has_ice_controlled);
    assert_true(m.use_candidate);
    assert_int_equal(dc__stun_check_fingerprint(buf, &m), 0);
    assert_int_equal(dc__stun_check_integrity(buf, &m, c.key, c.keylen), 0);
    assert_int_equal(dc__stun_check_integrity(buf, &m, "client-password", 15), DC_EINTEGRITY);
    /* too small a buffer fails cleanly */
    assert_int_equal(dc__stun_build_binding_request(buf, len - 1, &c, &len), DC_EINVAL);
}

static void binding_success_round_trip(void **state)
{
    (void)state;
    uint8_t buf[128];
    size_t len = 0;
    struct dc__stun_msg m;
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(50000)};
    inet_pton(AF_INET6, "fe80::1:2:3:4", &sin6.sin6_addr);
    assert_int_equal(dc__stun_build_binding_success(buf, sizeof buf, TID, (struct sockaddr *)&sin6,
                                                    "pw", 2, &len),
                     0);
    assert_int_equal(dc__stun_parse(buf, len, &m), 0);
    assert_int_equal(m.cls, DC__STUN_SUCCESS);
    assert_int_equal(dc__stun_check_integrity(buf, &m, "pw", 2), 0);
    assert_int_equal(dc__stun_check_fingerprint(buf, &m), 0);
    const struct sockaddr_in6 *got = (const struct sockaddr_in6 *)&m.xor_mapped;
    assert_int_equal(got->sin6_family, AF_INET6);
    assert_int_equal(ntohs(got->sin6_port), 50000);
    assert_memory_equal(&got->sin6_addr, &sin6.sin6_addr, 16);

    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(40000)};
    inet_pton(AF_INET, "127.0.0.2", &sin.sin_addr);
    assert_int_equal(dc__stun_build_binding_success(buf, sizeof buf, TID, (struct sockaddr *)&sin,
                                                    "pw", 2, &len),
                     0);
    assert_int_equal(len, 20 + 12 + 24 + 8);
    assert_int_equal(dc__stun_parse(buf, len, &m), 0);
    const struct sockaddr_in *got4 = (const struct sockaddr_in *)&m.xor_mapped;
    assert_int_equal(ntohs(got4->sin_port), 40000);
    assert_int_equal(got4->sin_addr.s_addr, sin.sin_addr.s_addr);
}

static void error_responses(void **state)
{
    (void)state;
    uint8_t buf[128];
    size_t len = 0;
    struct dc__stun_msg m;
    /* 401 without integrity (the requester's credentials were not accepted) */
    assert_int_equal(
        dc__stun_build_error(buf, sizeof buf, DC__STUN_BINDING, TID, 401, NULL, NULL, 0, &len), 0);
    assert_int_equal(dc__stun_parse(buf, len, &m), 0);
    assert_int_equal(m.cls, DC__STUN_ERROR);
    assert_int_equal(m.method, DC__STUN_BINDING);
    assert_int_equal(m.error_code, 401);
    assert_int_equal(m.error_reason_len, strlen("Unauthorized"));
    assert_memory_equal(m.error_reason, "Unauthorized", m.error_reason_len);
    assert_int_equal(m.integrity_off, 0);
    assert_int_equal(dc__stun_check_fingerprint(buf, &m), 0);
    /* 487 with integrity */
    assert_int_equal(
        dc__stun_build_error(buf, sizeof buf, DC__STUN_BINDING, TID, 487, NULL, "k", 1, &len), 0);
    assert_int_equal(dc__stun_parse(buf, len, &m), 0);
    assert_int_equal(m.error_code, 487);
    assert_int_equal(dc__stun_check_integrity(buf, &m, "k", 1), 0);
    /* out-of-range codes are refused */
    assert_int_equal(
        dc__stun_build_error(buf, sizeof buf, DC__STUN_BINDING, TID, 200, NULL, NULL, 0, &len),
        DC_EINVAL);
}

static void builder_is_sticky_and_sealed(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct dc__stun_builder b;
    size_t len;
    dc__stun_begin(&b, buf, sizeof buf, DC__STUN_BINDING, DC__STUN_REQUEST, TID);
    dc__stun_add_fingerprint(&b);
    dc__stun_add(&b, DC__STUN_ATTR_SOFTWARE, "x", 1); /* nothing after FINGERPRINT */
    assert_int_equal(dc__stun_finish(&b, &len), DC_EINVAL);
    dc__stun_begin(&b, buf, sizeof buf, DC__STUN_BINDING, DC__STUN_REQUEST, TID);
    dc__stun_add(&b, DC__STUN_ATTR_SOFTWARE, buf, 60); /* does not fit */
    dc__stun_add_u32(&b, DC__STUN_ATTR_PRIORITY, 1);   /* would fit, but the error sticks */
    assert_int_equal(dc__stun_finish(&b, &len), DC_EINVAL);
}

static void crc32_known_value(void **state)
{
    (void)state;
    /* the standard CRC-32 check value */
    assert_int_equal(dc__crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(dc__crc32(dc__crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc5769_request),
        cmocka_unit_test(rfc5769_request_rebuilt),
        cmocka_unit_test(rfc5769_ipv4_response),
        cmocka_unit_test(rfc5769_ipv6_response),
        cmocka_unit_test(tampering_is_detected),
        cmocka_unit_test(truncation_is_refused),
        cmocka_unit_test(without_fingerprint),
        cmocka_unit_test(attribute_after_fingerprint),
        cmocka_unit_test(malformed_headers_and_attributes),
        cmocka_unit_test(unknown_attributes_are_listed),
        cmocka_unit_test(binding_request_round_trip),
        cmocka_unit_test(binding_success_round_trip),
        cmocka_unit_test(error_responses),
        cmocka_unit_test(builder_is_sticky_and_sealed),
        cmocka_unit_test(crc32_known_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
