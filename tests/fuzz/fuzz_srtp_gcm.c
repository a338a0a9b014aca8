/* Fuzzes the SRTP AEAD_AES_128_GCM fast path (src/media/srtp_gcm.c), which parses the RTP header
 * of every packet it protects or unprotects: the input is (1) unprotected as if it came off the
 * wire, which must fail cleanly or yield 16 bytes less, and (2) protected as an outgoing packet,
 * after which a receiver with the same keys must get the input back byte for byte. Fresh states
 * per input, so the replay window does not depend on earlier inputs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dcall/errors.h"
#include "media/srtp_gcm.h"

static const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t salt[12] = {21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dc__gcm_available() || size > 4096)
        return 0;
    static uint32_t buf[(4096 + 32) / 4]; /* 4-byte aligned, room for the tag */
    uint8_t *pkt = (uint8_t *)buf;
    dc__gcm *tx = NULL, *rx = NULL;
    if (dc__gcm_new(key, salt, &tx) != 0 || dc__gcm_new(key, salt, &rx) != 0)
        abort();

    memcpy(pkt, data, size);
    size_t len = size;
    int rc = dc__gcm_unprotect(rx, pkt, &len);
    if (rc == 0 ? len + 16 != size : (rc != DC_EINVAL && rc != DC_ESRTP) || len != size)
        abort();

    dc__gcm_free(rx);
    if (dc__gcm_new(key, salt, &rx) != 0)
        abort();
    memcpy(pkt, data, size);
    len = size;
    rc = dc__gcm_protect(tx, pkt, &len, sizeof buf);
    if (rc == 0) {
        if (len != size + 16 || dc__gcm_unprotect(rx, pkt, &len) != 0 || len != size ||
            memcmp(pkt, data, size) != 0)
            abort();
    } else if ((rc != DC_EINVAL && rc != DC_ESRTP) || len != size) {
        abort();
    }
    dc__gcm_free(tx);
    dc__gcm_free(rx);
    return 0;
}
