#include "common/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "dcall/errors.h"

#define DC__GCM_NONCE 12
#define DC__GCM_TAG 16
#define DC__SCRYPT_N 16384
#define DC__SCRYPT_R 8
#define DC__SCRYPT_P 1
#define DC__SCRYPT_SALT 16
#define DC__SCRYPT_HASH 32
/* Sealed secrets are short (API and webhook secrets); the cap bounds the work
 * an attacker-chosen sealed string can cause. */
#define DC__SEAL_MAX (1u << 20)

int dc__hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                    unsigned char out[32])
{
    unsigned int outlen = 0;
    static const unsigned char empty = 0;
    if ((!key && keylen) || (!msg && msglen) || keylen > INT_MAX)
        return DC_EINVAL;
    if (!HMAC(EVP_sha256(), key ? key : &empty, (int)keylen, msg ? msg : &empty, msglen, out,
              &outlen) ||
        outlen != 32)
        return DC_EINTERNAL;
    return 0;
}

int dc__hmac_sha256_hex(const void *key, size_t keylen, const void *msg, size_t msglen,
                        char out[65])
{
    unsigned char mac[32];
    int rc = dc__hmac_sha256(key, keylen, msg, msglen, mac);
    if (rc != 0)
        return rc;
    dc__hex(out, mac, sizeof mac);
    OPENSSL_cleanse(mac, sizeof mac);
    return 0;
}

/* Runs AES-256-GCM in either direction over in[0..n) into out; tag is written
 * when sealing and checked when opening. */
static int dc__gcm(int enc, const unsigned char key[32], const unsigned char *nonce,
                   const unsigned char *in, size_t n, unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, rc = DC_EINTERNAL;
    if (!ctx)
        return DC_ENOMEM;
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, DC__GCM_NONCE, NULL) != 1 ||
        EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1)
        goto done;
    if (n > 0 && EVP_CipherUpdate(ctx, out, &len, in, (int)n) != 1)
        goto done;
    if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, DC__GCM_TAG, tag) != 1)
        goto done;
    if (EVP_CipherFinal_ex(ctx, out + len, &len) != 1) {
        rc = enc ? DC_EINTERNAL : DC_EINVAL;
        goto done;
    }
    if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, DC__GCM_TAG, tag) != 1)
        goto done;
    rc = 0;
done:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int dc__seal(const unsigned char key[32], const char *plaintext, char **out)
{
    if (!key || !plaintext || !out)
        return DC_EINVAL;
    size_t n = strlen(plaintext);
    if (n > DC__SEAL_MAX)
        return DC_EINVAL;
    size_t rawlen = DC__GCM_NONCE + n + DC__GCM_TAG;
    unsigned char *raw = malloc(rawlen);
    char *text = malloc(dc__b64url_len(rawlen) + 1);
    int rc = DC_ENOMEM;
    if (!raw || !text)
        goto fail;
    if ((rc = dc__random(raw, DC__GCM_NONCE)) != 0)
        goto fail;
    rc = dc__gcm(1, key, raw, (const unsigned char *)plaintext, n, raw + DC__GCM_NONCE,
                 raw + DC__GCM_NONCE + n);
    if (rc != 0)
        goto fail;
    dc__b64url_encode(text, raw, rawlen);
    OPENSSL_cleanse(raw, rawlen);
    free(raw);
    *out = text;
    return 0;
fail:
    free(raw);
    free(text);
    return rc;
}

int dc__open(const unsigned char key[32], const char *sealed, char **out)
{
    if (!key || !sealed || !out)
        return DC_EINVAL;
    size_t slen = strlen(sealed);
    if (slen > dc__b64url_len(DC__SEAL_MAX + DC__GCM_NONCE + DC__GCM_TAG))
        return DC_EINVAL;
    unsigned char *raw = malloc(slen * 3 / 4 + 3);
    char *plain = NULL;
    size_t rawlen = 0;
    int rc = DC_ENOMEM;
    if (!raw)
        return DC_ENOMEM;
    rc = DC_EINVAL;
    if (dc__b64url_decode(raw, &rawlen, sealed, slen) != 0 || rawlen < DC__GCM_NONCE + DC__GCM_TAG)
        goto done;
    size_t n = rawlen - DC__GCM_NONCE - DC__GCM_TAG;
    /* +16 leaves room for EVP's final block even though GCM writes none. */
    if (!(plain = malloc(n + 16 + 1))) {
        rc = DC_ENOMEM;
        goto done;
    }
    rc = dc__gcm(0, key, raw, raw + DC__GCM_NONCE, n, (unsigned char *)plain,
                 raw + DC__GCM_NONCE + n);
    if (rc == 0 && memchr(plain, '\0', n))
        rc = DC_EINVAL; /* the contract promises text */
    if (rc != 0) {
        OPENSSL_cleanse(plain, n + 16);
        free(plain);
        plain = NULL;
        goto done;
    }
    plain[n] = '\0';
    *out = plain;
done:
    free(raw);
    return rc;
}

static int dc__read_full(int fd, unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return DC_EIO;
        got += (size_t)r;
    }
    return 0;
}

static int dc__write_full(int fd, const unsigned char *buf, size_t n)
{
    size_t put = 0;
    while (put < n) {
        ssize_t w = write(fd, buf + put, n - put);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return DC_EIO;
        put += (size_t)w;
    }
    return 0;
}

static int dc__master_key_read(const char *path, unsigned char key[32])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    int rc = DC_EIO;
    if (fd < 0)
        return DC_EIO;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == DC__MASTER_KEY_LEN)
        rc = dc__read_full(fd, key, DC__MASTER_KEY_LEN);
    close(fd);
    return rc;
}

/* Writes a fresh key under a temporary name and links it into place, so a crash
 * mid-write never leaves a short master.key and two processes racing both end
 * up with the winner's key. */
static int dc__master_key_create(const char *dir, const char *path, unsigned char key[32])
{
    char tmp[4096];
    unsigned char fresh[DC__MASTER_KEY_LEN];
    int n = snprintf(tmp, sizeof tmp, "%s/.master.key.%ld", dir, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return DC_EINVAL;
    if (dc__random(fresh, sizeof fresh) != 0)
        return DC_EIO;
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return DC_EIO;
    int rc = dc__write_full(fd, fresh, sizeof fresh);
    if (rc == 0 && fsync(fd) != 0)
        rc = DC_EIO;
    close(fd);
    OPENSSL_cleanse(fresh, sizeof fresh);
    if (rc == 0 && link(tmp, path) != 0 && errno != EEXIST)
        rc = DC_EIO;
    unlink(tmp);
    return rc != 0 ? rc : dc__master_key_read(path, key);
}

int dc__master_key_load(const char *dir, unsigned char key[32])
{
    char path[4096];
    if (!dir || !key)
        return DC_EINVAL;
    int n = snprintf(path, sizeof path, "%s/master.key", dir);
    if (n < 0 || (size_t)n >= sizeof path)
        return DC_EINVAL;
    if (access(path, F_OK) == 0)
        return dc__master_key_read(path, key);
    if (errno != ENOENT)
        return DC_EIO;
    return dc__master_key_create(dir, path, key);
}

static int dc__scrypt(const char *password, const unsigned char *salt, size_t saltlen, uint64_t N,
                      uint64_t r, uint64_t p, unsigned char *out, size_t outlen)
{
    /* 128 * N * r * p bytes plus slack: enough for our parameters, refuses absurd
     * stored ones. */
    uint64_t maxmem = 64ull * 1024 * 1024;
    if (EVP_PBE_scrypt(password, strlen(password), salt, saltlen, N, r, p, maxmem, out, outlen) !=
        1)
        return DC_EINVAL;
    return 0;
}

int dc__password_hash(const char *password, char **out)
{
    unsigned char salt[DC__SCRYPT_SALT], hash[DC__SCRYPT_HASH];
    char salt_t[32], hash_t[48];
    if (!password || !out)
        return DC_EINVAL;
    if (dc__random(salt, sizeof salt) != 0)
        return DC_EIO;
    int rc = dc__scrypt(password, salt, sizeof salt, DC__SCRYPT_N, DC__SCRYPT_R, DC__SCRYPT_P, hash,
                        sizeof hash);
    if (rc != 0)
        return DC_EINTERNAL;
    dc__b64url_encode(salt_t, salt, sizeof salt);
    dc__b64url_encode(hash_t, hash, sizeof hash);
    OPENSSL_cleanse(hash, sizeof hash);
    char *s = malloc(160);
    if (!s)
        return DC_ENOMEM;
    snprintf(s, 160, "scrypt$%d$%d$%d$%s$%s", DC__SCRYPT_N, DC__SCRYPT_R, DC__SCRYPT_P, salt_t,
             hash_t);
    *out = s;
    return 0;
}

/* Parses a decimal field ending at '$'; advances *p past the '$'. */
static int dc__field_u64(const char **p, uint64_t *v)
{
    char *end;
    if (**p < '0' || **p > '9')
        return DC_EINVAL;
    errno = 0;
    unsigned long long x = strtoull(*p, &end, 10);
    if (errno || *end != '$' || x == 0)
        return DC_EINVAL;
    *v = x;
    *p = end + 1;
    return 0;
}

int dc__password_verify(const char *password, const char *encoded)
{
    uint64_t N, r, p;
    unsigned char salt[64], want[64], got[64];
    size_t saltlen, wantlen;
    if (!password || !encoded || strncmp(encoded, "scrypt$", 7) != 0)
        return DC_EUNAUTHORIZED;
    const char *s = encoded + 7;
    if (dc__field_u64(&s, &N) || dc__field_u64(&s, &r) || dc__field_u64(&s, &p) || N > 1u << 20 ||
        r > 32 || p > 16)
        return DC_EUNAUTHORIZED;
    const char *dollar = strchr(s, '$');
    if (!dollar || (size_t)(dollar - s) > 80 || strlen(dollar + 1) > 80)
        return DC_EUNAUTHORIZED;
    if (dc__b64url_decode(salt, &saltlen, s, (size_t)(dollar - s)) != 0 ||
        dc__b64url_decode(want, &wantlen, dollar + 1, strlen(dollar + 1)) != 0 || wantlen < 16 ||
        wantlen > 32)
        return DC_EUNAUTHORIZED;
    if (dc__scrypt(password, salt, saltlen, N, r, p, got, wantlen) != 0)
        return DC_EUNAUTHORIZED;
    int ok = dc__ct_equal(got, want, wantlen);
    OPENSSL_cleanse(got, sizeof got);
    return ok ? 0 : DC_EUNAUTHORIZED;
}
