/* Symmetric helpers on OpenSSL: HMAC-SHA256, AES-256-GCM sealing of secrets at rest under the
 * data dir's master key, scrypt password hashing. */
#ifndef DC_COMMON_CRYPTO_H
#define DC_COMMON_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define DC__MASTER_KEY_LEN 32

/* out: 32 bytes. */
int dc__hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                    unsigned char out[32]);
/* Hex HMAC-SHA256 (65 bytes out). */
int dc__hmac_sha256_hex(const void *key, size_t keylen, const void *msg, size_t msglen,
                        char out[65]);

/* Seals plaintext with AES-256-GCM under key (32 bytes): output is base64url(nonce|ct|tag), a
 * malloc'd string in *out. Open reverses it into a malloc'd NUL-terminated *out (the plaintext is
 * text). DC_EINVAL when the tag does not verify. */
int dc__seal(const unsigned char key[32], const char *plaintext, char **out);
int dc__open(const unsigned char key[32], const char *sealed, char **out);

/* Loads DIR/master.key (32 random bytes, mode 0600), creating it when absent. */
int dc__master_key_load(const char *dir, unsigned char key[32]);

/* scrypt password hash as "scrypt$N$r$p$salt_b64url$hash_b64url" (malloc'd); verify is constant
 * time: 0 when it matches, DC_EUNAUTHORIZED when not. */
int dc__password_hash(const char *password, char **out);
int dc__password_verify(const char *password, const char *encoded);

#endif
