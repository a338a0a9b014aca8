/* Fuzzes the STUN parser and verifiers with arbitrary datagrams, and the builders with fields taken
 * from the input, checking the invariants the ICE code relies on. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dcall/errors.h"
#include "media/stun.h"

#define FUZZ_KEY "fuzz-ice-password-0123456"

static int within(const uint8_t *base, size_t n, const void *p, size_t len)
{
    const uint8_t *q = p;
    return q >= base && q <= base + n && len <= (size_t)(base + n - q);
}

static void check_parsed(const uint8_t *data, size_t size)
{
    struct dc__stun_msg m;
    int rc = dc__stun_parse(data, size, &m);
    if (rc != 0 && rc != DC_EPACKET)
        abort();
    /* parse only accepts what the demultiplexer calls STUN */
    if (rc == 0 && !dc__stun_is_stun(data, size))
        abort();
    if (rc != 0)
        return;
    if (m.len != size || m.tid != data + 8 || m.cls > 3 || m.method > 0x0FFF)
        abort();
    if (m.username &&
        (!within(data, size, m.username, m.username_len) || m.username_len > DC__STUN_MAX_USERNAME))
        abort();
    if (m.error_reason && !within(data, size, m.error_reason, m.error_reason_len))
        abort();
    if (m.error_code && (m.error_code < 300 || m.error_code > 699))
        abort();
    if (m.integrity_off && (m.integrity_off < DC__STUN_HDR_LEN || m.integrity_off + 24 > size))
        abort();
    if (m.fingerprint_off && m.fingerprint_off + 8 != size)
        abort(); /* FINGERPRINT is always last */
    int frc = dc__stun_check_fingerprint(data, &m);
    int irc = dc__stun_check_integrity(data, &m, FUZZ_KEY, strlen(FUZZ_KEY));
    if ((frc != 0 && frc != DC_EINTEGRITY) || (irc != 0 && irc != DC_EINTEGRITY))
        abort();
    if ((!m.fingerprint_off && frc == 0) || (!m.integrity_off && irc == 0))
        abort();
    /* Answering it must always produce a response that parses and verifies. */
    struct sockaddr_in6 from = {.sin6_family = AF_INET6, .sin6_port = htons(5000)};
    memcpy(&from.sin6_addr, data + size - 16, 16); /* size >= 20 here */
    uint8_t out[128];
    size_t len = 0;
    struct dc__stun_msg r;
    if (dc__stun_build_binding_success(out, sizeof out, m.tid, (struct sockaddr *)&from, FUZZ_KEY,
                                       strlen(FUZZ_KEY), &len) != 0 ||
        dc__stun_parse(out, len, &r) != 0 || dc__stun_check_fingerprint(out, &r) != 0 ||
        dc__stun_check_integrity(out, &r, FUZZ_KEY, strlen(FUZZ_KEY)) != 0 ||
        memcmp(r.tid, m.tid, DC__STUN_TID_LEN) != 0 || !r.has_xor_mapped ||
        memcmp(&((struct sockaddr_in6 *)&r.xor_mapped)->sin6_addr, &from.sin6_addr, 16) != 0)
        abort();
}

/* Builds a request whose fields come from the input and checks they parse back unchanged. */
static void check_built(const uint8_t *data, size_t size)
{
    if (size < 25)
        return;
    char user[64];
    size_t ulen = (data[0] % 63);
    if (ulen > size - 25)
        ulen = size - 25;
    memcpy(user, data + 25, ulen);
    user[ulen] = '\0';
    ulen = strlen(user);
    struct dc__stun_check c = {.tid = data + 1,
                               .username = user,
                               .key = data + 13,
                               .keylen = 12,
                               .priority = (uint32_t)data[1] << 24 | data[2],
                               .tiebreaker = (uint64_t)data[3] << 56 | data[4],
                               .controlling = data[5] & 1,
                               .use_candidate = data[5] & 2};
    uint8_t out[256];
    size_t len = 0;
    struct dc__stun_msg m;
    if (dc__stun_build_binding_request(out, sizeof out, &c, &len) != 0 ||
        dc__stun_parse(out, len, &m) != 0 || dc__stun_check_fingerprint(out, &m) != 0 ||
        dc__stun_check_integrity(out, &m, c.key, c.keylen) != 0)
        abort();
    if (m.username_len != ulen || memcmp(m.username, user, ulen) != 0 || m.priority != c.priority ||
        m.use_candidate != c.use_candidate ||
        (c.controlling ? m.ice_controlling : m.ice_controlled) != c.tiebreaker)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_parsed(data, size);
    check_built(data, size);
    return 0;
}
