/* Fuzzes the JWT parser and verifier with arbitrary tokens, and the signer with arbitrary claims
 * objects, checking the invariants a forged token could otherwise slip through. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/jwt.h"
#include "dcall/errors.h"

#define FUZZ_KEY "fuzz-secret-0123456789"
#define FUZZ_NOW 1795556552LL

static void check_token(const char *tok)
{
    json_t *peeked = NULL, *verified = NULL;
    int prc = dc__jwt_peek(tok, &peeked);
    int vrc = dc__jwt_verify(tok, FUZZ_KEY, strlen(FUZZ_KEY), FUZZ_NOW, &verified);
    if (prc != 0 && prc != DC_ETOKEN)
        abort();
    if (vrc != 0 && vrc != DC_ETOKEN && vrc != DC_ETOKEN_EXPIRED)
        abort();
    /* Whatever verifies must also peek, to the same claims. */
    if (vrc == 0 && (prc != 0 || !json_equal(peeked, verified)))
        abort();
    if ((prc == 0) != (peeked != NULL) || (vrc == 0) != (verified != NULL))
        abort();
    json_decref(peeked);
    json_decref(verified);
}

/* Signs the input as a claims object: the token must decode back to exactly those claims. */
static void check_sign(const char *text, size_t len)
{
    json_t *claims = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    char *tok = NULL;
    if (json_is_object(claims) &&
        dc__jwt_sign(claims, "k1", FUZZ_KEY, strlen(FUZZ_KEY), &tok) == 0) {
        json_t *back = NULL;
        if (dc__jwt_peek(tok, &back) != 0 || !json_equal(back, claims))
            abort();
        json_decref(back);
        check_token(tok);
        free(tok);
    }
    json_decref(claims);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    check_token(text);
    if (size > 0 && data[0] == '{')
        check_sign(text, size);
    free(text);
    return 0;
}
