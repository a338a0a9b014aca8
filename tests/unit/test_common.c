/* Unit tests for src/common: clocks, randomness, encodings, validators,
 * logging, crypto, JWT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/jwt.h"
#include "common/log.h"
#include "common/util.h"
#include "common/validate.h"
#include "dcall/errors.h"

/* ---- clocks and randomness ---- */

static void test_now_ms_is_wall_clock(void **state)
{
    (void)state;
    int64_t ms = dc__now_ms();
    int64_t s = (int64_t)time(NULL);
    assert_true(ms / 1000 >= s - 2 && ms / 1000 <= s + 2);
}

static void test_clock_advance_shifts_now_not_mono(void **state)
{
    (void)state;
    int64_t n0 = dc__now_ms(), m0 = dc__mono_ms();
    dc__clock_advance(3600 * 1000);
    int64_t n1 = dc__now_ms(), m1 = dc__mono_ms();
    assert_true(n1 - n0 >= 3600 * 1000 && n1 - n0 < 3600 * 1000 + 2000);
    assert_true(m1 - m0 >= 0 && m1 - m0 < 2000);
    dc__clock_advance(-3600 * 1000);
    assert_true(dc__now_ms() - n0 < 2000);
}

static void test_random_fills_buffer(void **state)
{
    (void)state;
    unsigned char a[32] = {0}, b[32] = {0}, zero[32] = {0};
    assert_int_equal(dc__random(a, sizeof a), 0);
    assert_int_equal(dc__random(b, sizeof b), 0);
    assert_memory_not_equal(a, zero, sizeof a);
    assert_memory_not_equal(a, b, sizeof a);
}

static void test_random_id_alphabet_and_spread(void **state)
{
    (void)state;
    char id[4 + 200 + 1];
    int seen[36] = {0};
    for (int round = 0; round < 20; round++) {
        assert_int_equal(dc__random_id(id, "acc_", 200), 0);
        assert_int_equal(strlen(id), 204);
        assert_memory_equal(id, "acc_", 4);
        for (int i = 4; i < 204; i++) {
            char c = id[i];
            assert_true((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
            seen[c >= 'a' ? c - 'a' : 26 + c - '0']++;
        }
    }
    /* 4000 draws over 36 symbols: each expected ~111; every symbol must show up.
     */
    for (int i = 0; i < 36; i++)
        assert_true(seen[i] > 40);
    assert_int_equal(dc__random_id(id, "", 0), 0);
    assert_string_equal(id, "");
}

/* ---- hex and base64 ---- */

static void test_hex_round_trip(void **state)
{
    (void)state;
    const unsigned char in[] = {0x00, 0x01, 0xab, 0xff};
    char hex[9];
    unsigned char out[4];
    dc__hex(hex, in, 4);
    assert_string_equal(hex, "0001abff");
    assert_int_equal(dc__unhex(out, "0001ABff", 4), 0);
    assert_memory_equal(out, in, 4);
    assert_int_equal(dc__unhex(out, "0001abfg", 4), DC_EINVAL);
    assert_int_equal(dc__unhex(out, "0001ab", 4), DC_EINVAL);
}

static void test_b64url_vectors(void **state)
{
    (void)state;
    /* RFC 4648 section 10 vectors, unpadded. */
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char out[16];
        unsigned char dec[16];
        size_t n = 99;
        assert_int_equal(dc__b64url_len(strlen(plain[i])), strlen(enc[i]));
        dc__b64url_encode(out, plain[i], strlen(plain[i]));
        assert_string_equal(out, enc[i]);
        assert_int_equal(dc__b64url_decode(dec, &n, enc[i], strlen(enc[i])), 0);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(dec, plain[i], n);
    }
    const unsigned char bin[] = {0xfb, 0xff, 0xbf};
    char out[8];
    dc__b64url_encode(out, bin, 3);
    assert_string_equal(out, "-_-_");
}

static void test_b64url_rejects_bad_input(void **state)
{
    (void)state;
    unsigned char dec[16];
    size_t n;
    assert_int_equal(dc__b64url_decode(dec, &n, "Zg==", 4), DC_EINVAL);  /* padding */
    assert_int_equal(dc__b64url_decode(dec, &n, "Zm9+", 4), DC_EINVAL);  /* std alphabet */
    assert_int_equal(dc__b64url_decode(dec, &n, "Zm9/", 4), DC_EINVAL);  /* std alphabet */
    assert_int_equal(dc__b64url_decode(dec, &n, "Zm 9", 4), DC_EINVAL);  /* space */
    assert_int_equal(dc__b64url_decode(dec, &n, "Zm9vY", 5), DC_EINVAL); /* 1 mod 4 */
    assert_int_equal(dc__b64url_decode(dec, &n, "Zh", 2), DC_EINVAL);    /* stray low bits */
}

static void test_b64_std_strict(void **state)
{
    (void)state;
    char out[16];
    unsigned char dec[16];
    size_t n;
    dc__b64_encode(out, "foob", 4);
    assert_string_equal(out, "Zm9vYg==");
    dc__b64_encode(out, "\xfb\xff", 2);
    assert_string_equal(out, "+/8=");
    assert_int_equal(dc__b64_decode(dec, &n, "dXNlcjpwYXNz", 12), 0);
    assert_int_equal(n, 9);
    assert_memory_equal(dec, "user:pass", 9);
    assert_int_equal(dc__b64_decode(dec, &n, "Zm9vYg==", 8), 0);
    assert_int_equal(n, 4);
    assert_int_equal(dc__b64_decode(dec, &n, "Zm9vYg", 6), DC_EINVAL);   /* missing pad */
    assert_int_equal(dc__b64_decode(dec, &n, "Zm9v-_==", 8), DC_EINVAL); /* url alphabet */
    assert_int_equal(dc__b64_decode(dec, &n, "Zm=vYg==", 8), DC_EINVAL); /* pad inside */
    assert_int_equal(dc__b64_decode(dec, &n, "Z===", 4), DC_EINVAL);
    assert_int_equal(dc__b64_decode(dec, &n, "Zh==", 4), DC_EINVAL); /* stray low bits */
}

static void test_ct_equal(void **state)
{
    (void)state;
    assert_int_equal(dc__ct_equal("abcd", "abcd", 4), 1);
    assert_int_equal(dc__ct_equal("abcd", "abce", 4), 0);
    assert_int_equal(dc__ct_equal("xbcd", "abcd", 4), 0);
    assert_int_equal(dc__ct_equal("a", "b", 0), 1);
}

/* ---- ISO 8601 ---- */

static void test_iso8601_format(void **state)
{
    (void)state;
    char out[32];
    dc__iso8601(out, 0);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    dc__iso8601(out, 1795556552123LL);
    assert_string_equal(out, "2026-11-24T21:42:32.123Z");
    dc__iso8601(out, -1);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
}

static void test_iso8601_parse(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(dc__parse_iso8601("2026-11-24T21:42:32.123Z", &ms), 0);
    assert_int_equal(ms, 1795556552123LL);
    assert_int_equal(dc__parse_iso8601("2026-11-24T21:42:32Z", &ms), 0);
    assert_int_equal(ms, 1795556552000LL);
    assert_int_equal(dc__parse_iso8601("2026-11-25T03:12:32.123+05:30", &ms), 0);
    assert_int_equal(ms, 1795556552123LL);
    assert_int_equal(dc__parse_iso8601("2026-11-24T16:42:32.1234567-05:00", &ms), 0);
    assert_int_equal(ms, 1795556552123LL);
    assert_int_equal(dc__parse_iso8601("2026-11-24", &ms), 0);
    assert_int_equal(ms, 1795478400000LL);
    assert_int_equal(dc__parse_iso8601("2024-02-29T00:00:00Z", &ms), 0);
    assert_int_equal(dc__parse_iso8601("1970-01-01T00:00:00.5Z", &ms), 0);
    assert_int_equal(ms, 500);
}

static void test_iso8601_parse_rejects(void **state)
{
    (void)state;
    int64_t ms;
    const char *bad[] = {"",
                         "2026-11-24T21:42:32",      /* no zone */
                         "2026-11-24T21:42Z",        /* no seconds */
                         "2026-13-01T00:00:00Z",     /* month */
                         "2025-02-29T00:00:00Z",     /* not a leap year */
                         "2026-11-24T24:00:00Z",     /* hour */
                         "2026-11-24T21:42:32.Z",    /* empty fraction */
                         "2026-11-24T21:42:32+0530", /* offset without colon */
                         "2026-11-24T21:42:32+24:00",
                         "2026-11-24T21:42:32Zjunk",
                         "2026-11-24x",
                         "26-11-24",
                         "yesterday",
                         NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(dc__parse_iso8601(bad[i], &ms), DC_ETIME);
    assert_int_equal(dc__parse_iso8601(NULL, &ms), DC_ETIME);
}

static void test_iso8601_round_trip(void **state)
{
    (void)state;
    const int64_t samples[] = {0, 1, 999, 1795556552123LL, 951782400000LL, 4102444799999LL};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        char out[32];
        int64_t back = -1;
        dc__iso8601(out, samples[i]);
        assert_int_equal(dc__parse_iso8601(out, &back), 0);
        assert_int_equal(back, samples[i]);
    }
}

/* ---- validators ---- */

static void test_valid_cuid(void **state)
{
    (void)state;
    const char *good[] = {"org_25",
                          "abcde",
                          "A1b2C",
                          "rider_1_x",
                          "12345a",
                          "a_b_c",
                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                          NULL};
    const char *bad[] = {"91_8899555",
                         "a__bc1",
                         "_abcde",
                         "abcde_",
                         "abcd",
                         "12345",
                         "ab-cd",
                         "ab cd",
                         "abc\xc3\xa9",
                         "",
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                         NULL};
    for (int i = 0; good[i]; i++)
        assert_int_equal(dc__valid_cuid(good[i]), 0);
    for (int i = 0; bad[i]; i++)
        assert_int_equal(dc__valid_cuid(bad[i]), DC_ECUID);
    assert_int_equal(dc__valid_cuid(NULL), DC_ECUID);
}

static void test_utf8_len(void **state)
{
    (void)state;
    assert_int_equal(dc__utf8_len(""), 0);
    assert_int_equal(dc__utf8_len("abc"), 3);
    assert_int_equal(dc__utf8_len("\xc3\xa9t\xc3\xa9"), 3);            /* été */
    assert_int_equal(dc__utf8_len("\xe0\xa4\x85\xf0\x9f\x93\x9e"), 2); /* U+0905 U+1F4DE */
    assert_int_equal(dc__utf8_len("\xf4\x8f\xbf\xbf"), 1);             /* U+10FFFF */
    const char *bad[] = {"\xc0\xaf",                                   /* overlong '/' */
                         "\xe0\x80\xaf",                               /* overlong */
                         "\xf0\x80\x80\xaf",                           /* overlong */
                         "\xed\xa0\x80",                               /* surrogate U+D800 */
                         "\xf4\x90\x80\x80",                           /* above U+10FFFF */
                         "\xc3",                                       /* truncated */
                         "\xe2\x82",                                   /* truncated */
                         "\x80",                                       /* lone continuation */
                         "\xff",
                         "a\tb",      /* C0 */
                         "a\nb",      /* C0 */
                         "a\x7f",     /* DEL */
                         "a\xc2\x85", /* C1 NEL */
                         "\xc2\x9f",  /* C1 */
                         NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(dc__utf8_len(bad[i]), -1);
    assert_int_equal(dc__utf8_len(NULL), -1);
}

static void test_valid_name_and_context(void **state)
{
    (void)state;
    char buf[256];
    assert_int_equal(dc__valid_name("Asha"), 0);
    assert_int_equal(dc__valid_name("\xe0\xa4\x85\xe0\xa4\x86\xe0\xa4\x87"), 0); /* 3 cps */
    assert_int_equal(dc__valid_name("ab"), DC_ENAME);
    assert_int_equal(dc__valid_name("\xc3\xa9\xc3\xa9"), DC_ENAME); /* 4 bytes, 2 cps */
    assert_int_equal(dc__valid_name("Ash\na"), DC_ENAME);
    assert_int_equal(dc__valid_name(NULL), DC_ENAME);
    /* 50 two-byte code points (100 bytes) is fine, 51 is not. */
    for (int i = 0; i < 51; i++)
        memcpy(buf + 2 * i, "\xc3\xa9", 2);
    buf[100] = '\0';
    assert_int_equal(dc__valid_name(buf), 0);
    buf[100] = '\xc3';
    buf[102] = '\0';
    assert_int_equal(dc__valid_name(buf), DC_ENAME);

    assert_int_equal(dc__valid_context("x"), 0);
    assert_int_equal(dc__valid_context("Your driver for ride #4821"), 0);
    assert_int_equal(dc__valid_context(""), DC_ECONTEXT);
    assert_int_equal(dc__valid_context("bad\xc0\xaf"), DC_ECONTEXT);
    assert_int_equal(dc__valid_context(NULL), DC_ECONTEXT);
    memset(buf, 'c', 64);
    buf[64] = '\0';
    assert_int_equal(dc__valid_context(buf), 0);
    buf[64] = 'c';
    buf[65] = '\0';
    assert_int_equal(dc__valid_context(buf), DC_ECONTEXT);
}

static void test_valid_url(void **state)
{
    (void)state;
    char *big = malloc(2100);
    assert_non_null(big);
    assert_int_equal(dc__valid_url("https://example.com/logo.png"), 0);
    assert_int_equal(dc__valid_url("http://127.0.0.1:9000/hook?a=b"), 0);
    assert_int_equal(dc__valid_url("ftp://example.com"), DC_EURL);
    assert_int_equal(dc__valid_url("https://"), DC_EURL);
    assert_int_equal(dc__valid_url("https://exa mple.com"), DC_EURL);
    assert_int_equal(dc__valid_url("https://ex\xc3\xa9.com"), DC_EURL);
    assert_int_equal(dc__valid_url("javascript:alert(1)"), DC_EURL);
    assert_int_equal(dc__valid_url(""), DC_EURL);
    assert_int_equal(dc__valid_url(NULL), DC_EURL);
    strcpy(big, "https://e.com/");
    memset(big + 14, 'a', 2048 - 14);
    big[2048] = '\0';
    assert_int_equal(dc__valid_url(big), 0);
    big[2048] = 'a';
    big[2049] = '\0';
    assert_int_equal(dc__valid_url(big), DC_EURL);
    free(big);
}

static void test_valid_id_and_color(void **state)
{
    (void)state;
    char buf[80];
    assert_int_equal(dc__valid_id("c_01-ab"), 0);
    assert_int_equal(dc__valid_id("x"), 0);
    assert_int_equal(dc__valid_id(""), DC_EID);
    assert_int_equal(dc__valid_id("a b"), DC_EID);
    assert_int_equal(dc__valid_id("a/b"), DC_EID);
    assert_int_equal(dc__valid_id(NULL), DC_EID);
    memset(buf, 'a', 64);
    buf[64] = '\0';
    assert_int_equal(dc__valid_id(buf), 0);
    buf[64] = 'a';
    buf[65] = '\0';
    assert_int_equal(dc__valid_id(buf), DC_EID);

    assert_int_equal(dc__valid_color("#1a2B3c"), 0);
    assert_int_equal(dc__valid_color("#FFFFFF"), 0);
    assert_int_equal(dc__valid_color("1a2b3c"), DC_ECOLOR);
    assert_int_equal(dc__valid_color("#1a2b3"), DC_ECOLOR);
    assert_int_equal(dc__valid_color("#1a2b3c4"), DC_ECOLOR);
    assert_int_equal(dc__valid_color("#1a2b3g"), DC_ECOLOR);
    assert_int_equal(dc__valid_color(NULL), DC_ECOLOR);
}

/* ---- log ---- */

/* Runs fn with stderr redirected to a temp file and returns what was written
 * (malloc'd). */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/dc_test_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char *buf = calloc(1, 1 << 20);
    assert_non_null(buf);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, buf, (1 << 20) - 1);
    assert_true(n >= 0);
    close(fd);
    unlink(path);
    return buf;
}

static void log_some(void)
{
    dc__log_set_level(DC__LOG_INFO);
    DC_DEBUG("test", "hidden %d", 1);
    DC_INFO("test", "shown %d", 2);
    DC_ERROR("mod2", "line\nbreak");
    dc__log_set_level(DC__LOG_ERROR);
    DC_WARN("test", "hidden %d", 3);
    dc__log_set_level(DC__LOG_INFO);
}

static void test_log_format_and_filter(void **state)
{
    (void)state;
    char *out = capture_stderr(log_some);
    /* "2026-11-24T21:42:32.123Z INFO test: shown 2\n" */
    assert_true(strlen(out) > 25);
    assert_int_equal(out[4], '-');
    assert_int_equal(out[10], 'T');
    assert_int_equal(out[19], '.');
    assert_int_equal(out[23], 'Z');
    assert_memory_equal(out + 24, " INFO test: shown 2\n", 20);
    assert_non_null(strstr(out, " ERROR mod2: line break\n"));
    assert_null(strstr(out, "hidden"));
    int lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2);
    free(out);
}

static void *log_worker(void *arg)
{
    for (int i = 0; i < 200; i++)
        DC_INFO("worker", "thread %d line %03d %s", (int)(intptr_t)arg, i,
                "padding-padding-padding-padding-padding-padding-padding-padding");
    return NULL;
}

static void log_threads(void)
{
    pthread_t t[4];
    dc__log_set_level(DC__LOG_INFO);
    for (intptr_t i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, log_worker, (void *)i), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
}

static void test_log_threads_do_not_interleave(void **state)
{
    (void)state;
    char *out = capture_stderr(log_threads);
    int lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        int th = -1, n = -1;
        char tail[80];
        assert_int_equal(strlen(line), 24 + strlen(" INFO worker: thread 0 line 000 ") + 63);
        assert_int_equal(sscanf(line + 24, " INFO worker: thread %d line %d %79s", &th, &n, tail),
                         3);
        assert_true(th >= 0 && th < 4 && n >= 0 && n < 200);
        lines++;
    }
    assert_int_equal(lines, 800);
    free(out);
}

static void test_log_parse_level(void **state)
{
    (void)state;
    enum dc__log_level l;
    assert_int_equal(dc__log_parse_level("debug", &l), 0);
    assert_int_equal(l, DC__LOG_DEBUG);
    assert_int_equal(dc__log_parse_level("warn", &l), 0);
    assert_int_equal(l, DC__LOG_WARN);
    assert_int_equal(dc__log_parse_level("error", &l), 0);
    assert_int_equal(l, DC__LOG_ERROR);
    assert_int_equal(dc__log_parse_level("info", &l), 0);
    assert_int_equal(l, DC__LOG_INFO);
    assert_int_equal(dc__log_parse_level("verbose", &l), DC_EINVAL);
    assert_int_equal(dc__log_parse_level(NULL, &l), DC_EINVAL);
}

/* ---- crypto ---- */

static void test_hmac_sha256_rfc4231(void **state)
{
    (void)state;
    /* RFC 4231 test case 2. */
    char hex[65];
    assert_int_equal(dc__hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, hex), 0);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    unsigned char raw[32], want[32];
    assert_int_equal(dc__hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, raw), 0);
    assert_int_equal(dc__unhex(want, hex, 32), 0);
    assert_memory_equal(raw, want, 32);
}

static void test_seal_open_round_trip(void **state)
{
    (void)state;
    unsigned char key[32], other[32];
    char *sealed = NULL, *sealed2 = NULL, *plain = NULL;
    assert_int_equal(dc__random(key, 32), 0);
    assert_int_equal(dc__random(other, 32), 0);
    assert_int_equal(dc__seal(key, "sk_live_secret", &sealed), 0);
    assert_null(strstr(sealed, "sk_live"));
    /* 12 nonce + 14 text + 16 tag = 42 bytes -> 56 base64url chars */
    assert_int_equal(strlen(sealed), 56);
    assert_int_equal(dc__open(key, sealed, &plain), 0);
    assert_string_equal(plain, "sk_live_secret");
    free(plain);
    assert_int_equal(dc__seal(key, "sk_live_secret", &sealed2), 0);
    assert_string_not_equal(sealed, sealed2); /* fresh nonce each time */
    plain = NULL;
    assert_int_equal(dc__open(other, sealed, &plain), DC_EINVAL);
    assert_null(plain);
    free(sealed2);
    assert_int_equal(dc__seal(key, "", &sealed2), 0);
    assert_int_equal(dc__open(key, sealed2, &plain), 0);
    assert_string_equal(plain, "");
    free(plain);
    free(sealed2);
    free(sealed);
}

static void test_seal_tamper_detected(void **state)
{
    (void)state;
    unsigned char key[32];
    char *sealed = NULL, *plain = NULL;
    assert_int_equal(dc__random(key, 32), 0);
    assert_int_equal(dc__seal(key, "webhook-secret", &sealed), 0);
    size_t n = strlen(sealed);
    for (size_t i = 0; i < n; i += 7) {
        char saved = sealed[i];
        sealed[i] = saved == 'A' ? 'B' : 'A';
        assert_int_equal(dc__open(key, sealed, &plain), DC_EINVAL);
        sealed[i] = saved;
    }
    sealed[n - 4] = '\0'; /* truncated */
    assert_int_equal(dc__open(key, sealed, &plain), DC_EINVAL);
    assert_int_equal(dc__open(key, "short", &plain), DC_EINVAL);
    assert_int_equal(dc__open(key, "!!!!", &plain), DC_EINVAL);
    assert_null(plain);
    free(sealed);
}

static void test_master_key_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/dc_test_mk_XXXXXX", path[64];
    unsigned char k1[32], k2[32];
    struct stat st;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/master.key", dir);
    assert_int_equal(dc__master_key_load(dir, k1), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
    assert_int_equal(dc__master_key_load(dir, k2), 0);
    assert_memory_equal(k1, k2, 32); /* loaded, not regenerated */
    /* A file of the wrong size is refused rather than silently replaced. */
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "short", 5), 5);
    close(fd);
    assert_int_equal(dc__master_key_load(dir, k2), DC_EIO);
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, k1, 32), 32);
    assert_int_equal(write(fd, "x", 1), 1); /* 33 bytes: too long */
    close(fd);
    assert_int_equal(dc__master_key_load(dir, k2), DC_EIO);
    unlink(path);
    assert_int_equal(dc__master_key_load("/nonexistent/dir/x", k2), DC_EIO);
    rmdir(dir);
}

static void test_password_hash_verify(void **state)
{
    (void)state;
    char *h1 = NULL, *h2 = NULL;
    assert_int_equal(dc__password_hash("correct horse", &h1), 0);
    assert_memory_equal(h1, "scrypt$16384$8$1$", 17);
    assert_null(strstr(h1, "correct"));
    assert_int_equal(dc__password_verify("correct horse", h1), 0);
    assert_int_equal(dc__password_verify("correct horsf", h1), DC_EUNAUTHORIZED);
    assert_int_equal(dc__password_verify("", h1), DC_EUNAUTHORIZED);
    /* Change only the final byte of the stored hash: the whole hash must be compared. The last
     * base64url char of 32 bytes carries 4 bits, so 'A' <-> 'E' stays canonical. */
    char *last = h1 + strlen(h1) - 1, saved = *last;
    *last = saved == 'A' ? 'E' : 'A';
    assert_int_equal(dc__password_verify("correct horse", h1), DC_EUNAUTHORIZED);
    *last = saved;
    assert_int_equal(dc__password_hash("correct horse", &h2), 0);
    assert_string_not_equal(h1, h2); /* salted */
    assert_int_equal(dc__password_verify("correct horse", "garbage"), DC_EUNAUTHORIZED);
    assert_int_equal(dc__password_verify("correct horse", "scrypt$16384$8$1$$"), DC_EUNAUTHORIZED);
    assert_int_equal(dc__password_verify("x", "scrypt$99999999999$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA"),
                     DC_EUNAUTHORIZED);
    free(h1);
    free(h2);
}

/* ---- JWT ---- */

#define SECRET "sk_test_0123456789abcdef"
#define NOW 1795556552LL

static char *make_token(json_int_t iat, json_int_t exp)
{
    json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "acc", "acc_1", "sub", "rider_1",
                               "name", "Asha", "iat", iat, "exp", exp);
    char *tok = NULL;
    assert_int_equal(dc__jwt_sign(claims, "k1", SECRET, strlen(SECRET), &tok), 0);
    json_decref(claims);
    return tok;
}

/* Builds a token from raw header and payload JSON, signed with SECRET. */
static char *forge(const char *header, const char *payload)
{
    char h[512], p[512], *tok = malloc(1200);
    unsigned char mac[32];
    assert_non_null(tok);
    dc__b64url_encode(h, header, strlen(header));
    dc__b64url_encode(p, payload, strlen(payload));
    int n = snprintf(tok, 1200, "%s.%s", h, p);
    assert_int_equal(dc__hmac_sha256(SECRET, strlen(SECRET), tok, (size_t)n, mac), 0);
    tok[n] = '.';
    dc__b64url_encode(tok + n + 1, mac, 32);
    return tok;
}

static void test_jwt_round_trip(void **state)
{
    (void)state;
    char *tok = make_token(NOW, NOW + 3600);
    json_t *claims = NULL, *peeked = NULL, *hdr;
    assert_int_equal(dc__jwt_verify(tok, SECRET, strlen(SECRET), NOW, &claims), 0);
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), "rider_1");
    assert_string_equal(json_string_value(json_object_get(claims, "acc")), "acc_1");
    assert_int_equal(json_integer_value(json_object_get(claims, "exp")), NOW + 3600);
    assert_int_equal(dc__jwt_peek(tok, &peeked), 0);
    assert_true(json_equal(claims, peeked));
    /* The header is exactly what jwt.io and every JWT library expect. */
    char hbuf[256];
    size_t hl;
    const char *dot = strchr(tok, '.');
    assert_int_equal(dc__b64url_decode(hbuf, &hl, tok, (size_t)(dot - tok)), 0);
    hdr = json_loadb(hbuf, hl, 0, NULL);
    assert_non_null(hdr);
    assert_string_equal(json_string_value(json_object_get(hdr, "alg")), "HS256");
    assert_string_equal(json_string_value(json_object_get(hdr, "typ")), "JWT");
    assert_string_equal(json_string_value(json_object_get(hdr, "kid")), "k1");
    json_decref(hdr);
    json_decref(claims);
    json_decref(peeked);
    free(tok);
}

static void test_jwt_known_token(void **state)
{
    (void)state;
    /* Minted independently (Python hmac + base64) with SECRET, as a customer
     * backend would. */
    const char *ext = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
                      "eyJhY2MiOiJhY2NfMSIsInN1YiI6Im9yZ18yNSIsImlhdCI6MTc5NTU1Nj"
                      "U1MiwiZXhwIjoxNzk1"
                      "NTYwMTUyfQ.B7JUMPbBcjF_RmwgZNb9sPlfJGa9DmiKf3BOq-Z_Gms";
    json_t *claims = NULL;
    assert_int_equal(dc__jwt_verify(ext, SECRET, strlen(SECRET), NOW, &claims), 0);
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), "org_25");
    json_decref(claims);
    claims = NULL;
    assert_int_equal(dc__jwt_verify(ext, "sk_test_0123456789abcdeF", strlen(SECRET), NOW, &claims),
                     DC_ETOKEN);
    /* jwt.io's sample token: peek decodes it without any key. */
    const char *sample = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
                         "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
                         "aWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    assert_int_equal(dc__jwt_peek(sample, &claims), 0);
    assert_string_equal(json_string_value(json_object_get(claims, "name")), "John Doe");
    json_decref(claims);
}

static void test_jwt_tampered_and_wrong_key(void **state)
{
    (void)state;
    char *tok = make_token(NOW, NOW + 3600);
    json_t *claims = NULL;
    assert_int_equal(dc__jwt_verify(tok, "other", 5, NOW, &claims), DC_ETOKEN);
    assert_int_equal(dc__jwt_verify(tok, SECRET, strlen(SECRET) - 1, NOW, &claims), DC_ETOKEN);
    size_t n = strlen(tok);
    tok[n - 2] = tok[n - 2] == 'A' ? 'B' : 'A'; /* signature */
    assert_int_equal(dc__jwt_verify(tok, SECRET, strlen(SECRET), NOW, &claims), DC_ETOKEN);
    free(tok);
    /* Payload changed (sub swapped) but the old signature kept. */
    tok = make_token(NOW, NOW + 3600);
    char *other = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}",
                        "{\"acc\":\"acc_1\",\"sub\":\"admin_1\",\"iat\":"
                        "1795556552,\"exp\":1795560152}");
    char *sig = strrchr(tok, '.');
    char *osig = strrchr(other, '.');
    strcpy(osig, sig);
    assert_int_equal(dc__jwt_verify(other, SECRET, strlen(SECRET), NOW, &claims), DC_ETOKEN);
    assert_null(claims);
    free(other);
    free(tok);
}

static void test_jwt_bad_alg(void **state)
{
    (void)state;
    const char *payload = "{\"acc\":\"a\",\"sub\":\"org_25\",\"iat\":1795556552,"
                          "\"exp\":1795560152}";
    const char *headers[] = {"{\"alg\":\"none\",\"typ\":\"JWT\"}",
                             "{\"alg\":\"HS512\"}",
                             "{\"alg\":\"hs256\"}",
                             "{\"typ\":\"JWT\"}",
                             "{\"alg\":256}",
                             "[\"HS256\"]",
                             "{\"alg\":\"HS256\",\"crit\":[\"b64\"]}",
                             NULL};
    json_t *claims = NULL;
    for (int i = 0; headers[i]; i++) {
        char *tok = forge(headers[i], payload);
        assert_int_equal(dc__jwt_verify(tok, SECRET, strlen(SECRET), NOW, &claims), DC_ETOKEN);
        assert_int_equal(dc__jwt_peek(tok, &claims), DC_ETOKEN);
        free(tok);
    }
    /* alg none with an empty signature, the classic downgrade. */
    char *tok = forge("{\"alg\":\"none\"}", payload);
    *(strrchr(tok, '.') + 1) = '\0';
    assert_int_equal(dc__jwt_verify(tok, SECRET, strlen(SECRET), NOW, &claims), DC_ETOKEN);
    free(tok);
    assert_null(claims);
}

static void test_jwt_times(void **state)
{
    (void)state;
    json_t *claims = NULL;
    char *tok;
    /* expired, beyond the 30 s leeway */
    tok = make_token(NOW - 7200, NOW - 31);
    assert_int_equal(dc__jwt_verify(tok, SECRET, strlen(SECRET), NOW, &claims), DC_ETOKEN_EXPIRED);
    free(tok);
    /* expired within the leeway still passes */
    tok = make_token(NOW - 7200, NOW - 29);
    assert_int_equal(dc__jwt_verify(tok, SECRET, strlen(SECRET), NOW, &claims), 0);
    json_decref(claims);
    free(tok);
    /* lifetime 24 h + 61 s is refused, 24 h accepted */
    tok = make_token(NOW, NOW + 86400 + 61);
    assert_int_equal(dc__jwt_verify(tok, SECRET, strlen(SECRET), NOW, &claims), DC_ETOKEN);
    free(tok);
    tok = make_token(NOW, NOW + 86400);
    assert_int_equal(dc__jwt_verify(tok, SECRET, strlen(SECRET), NOW, &claims), 0);
    json_decref(claims);
    free(tok);
    /* issued in the future beyond 60 s */
    tok = make_token(NOW + 120, NOW + 3600);
    assert_int_equal(dc__jwt_verify(tok, SECRET, strlen(SECRET), NOW, &claims), DC_ETOKEN);
    free(tok);
    /* exp / iat missing or not numbers */
    const char *payloads[] = {
        "{\"sub\":\"a\",\"iat\":1795556552}", "{\"sub\":\"a\",\"exp\":1795560152}",
        "{\"iat\":1795556552,\"exp\":\"1795560152\"}", "{\"iat\":\"x\",\"exp\":1795560152}", NULL};
    for (int i = 0; payloads[i]; i++) {
        tok = forge("{\"alg\":\"HS256\"}", payloads[i]);
        assert_int_equal(dc__jwt_verify(tok, SECRET, strlen(SECRET), NOW, &claims), DC_ETOKEN);
        free(tok);
    }
    /* numeric reals are fine */
    tok = forge("{\"alg\":\"HS256\"}", "{\"iat\":1795556552.5,\"exp\":1795560152.5}");
    assert_int_equal(dc__jwt_verify(tok, SECRET, strlen(SECRET), NOW, &claims), 0);
    json_decref(claims);
    free(tok);
}

static void test_jwt_malformed(void **state)
{
    (void)state;
    json_t *claims = NULL;
    char *good = make_token(NOW, NOW + 60);
    char buf[2048];
    const char *bad[] = {"",     "abc",  "a.b",  "a.b.c.d", "..",
                         "a..c", ".b.c", "a.b.", "!!!.b.c", NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(dc__jwt_verify(bad[i], SECRET, strlen(SECRET), NOW, &claims), DC_ETOKEN);
        assert_int_equal(dc__jwt_peek(bad[i], &claims), DC_ETOKEN);
    }
    assert_int_equal(dc__jwt_verify(NULL, SECRET, strlen(SECRET), NOW, &claims), DC_ETOKEN);
    /* an extra segment after a valid token */
    snprintf(buf, sizeof buf, "%s.x", good);
    assert_int_equal(dc__jwt_verify(buf, SECRET, strlen(SECRET), NOW, &claims), DC_ETOKEN);
    /* padding on the signature */
    snprintf(buf, sizeof buf, "%s=", good);
    assert_int_equal(dc__jwt_verify(buf, SECRET, strlen(SECRET), NOW, &claims), DC_ETOKEN);
    /* payload not an object; duplicate claims */
    char *tok = forge("{\"alg\":\"HS256\"}", "[1,2]");
    assert_int_equal(dc__jwt_peek(tok, &claims), DC_ETOKEN);
    free(tok);
    tok = forge("{\"alg\":\"HS256\"}",
                "{\"sub\":\"a\",\"sub\":\"b\",\"iat\":1795556552,\"exp\":1795560152}");
    assert_int_equal(dc__jwt_verify(tok, SECRET, strlen(SECRET), NOW, &claims), DC_ETOKEN);
    free(tok);
    assert_null(claims);
    free(good);
}

static void test_jwt_length_cap(void **state)
{
    (void)state;
    json_t *claims = json_pack("{s:s, s:I, s:I}", "sub", "rider_1", "iat", (json_int_t)NOW, "exp",
                               (json_int_t)NOW + 60);
    char *pad = malloc(DC__JWT_MAX);
    char *tok = NULL;
    assert_non_null(pad);
    memset(pad, 'x', DC__JWT_MAX - 1);
    pad[DC__JWT_MAX - 1] = '\0';
    json_object_set_new(claims, "pad", json_string(pad));
    assert_int_equal(dc__jwt_sign(claims, NULL, SECRET, strlen(SECRET), &tok), DC_EINVAL);
    assert_null(tok);
    /* A just-fitting token verifies; one byte over the cap does not, whatever its
     * content. */
    pad[5800] = '\0';
    json_object_set_new(claims, "pad", json_string(pad));
    assert_int_equal(dc__jwt_sign(claims, NULL, SECRET, strlen(SECRET), &tok), 0);
    assert_true(strlen(tok) <= DC__JWT_MAX);
    json_t *out = NULL;
    assert_int_equal(dc__jwt_verify(tok, SECRET, strlen(SECRET), NOW, &out), 0);
    json_decref(out);
    free(tok);
    char *big = malloc(DC__JWT_MAX + 2);
    assert_non_null(big);
    memset(big, 'A', DC__JWT_MAX + 1);
    big[10] = '.';
    big[20] = '.';
    big[DC__JWT_MAX + 1] = '\0';
    assert_int_equal(dc__jwt_peek(big, &out), DC_ETOKEN);
    free(big);
    free(pad);
    json_decref(claims);
}

static void test_jwt_sign_args(void **state)
{
    (void)state;
    json_t *arr = json_array();
    json_t *obj = json_object();
    char *tok = NULL;
    assert_int_equal(dc__jwt_sign(arr, NULL, SECRET, strlen(SECRET), &tok), DC_EINVAL);
    assert_int_equal(dc__jwt_sign(obj, NULL, SECRET, 0, &tok), DC_EINVAL);
    assert_int_equal(dc__jwt_sign(obj, "\xff", SECRET, strlen(SECRET), &tok), DC_EINVAL);
    assert_null(tok);
    json_decref(arr);
    json_decref(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_now_ms_is_wall_clock),
        cmocka_unit_test(test_clock_advance_shifts_now_not_mono),
        cmocka_unit_test(test_random_fills_buffer),
        cmocka_unit_test(test_random_id_alphabet_and_spread),
        cmocka_unit_test(test_hex_round_trip),
        cmocka_unit_test(test_b64url_vectors),
        cmocka_unit_test(test_b64url_rejects_bad_input),
        cmocka_unit_test(test_b64_std_strict),
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_iso8601_format),
        cmocka_unit_test(test_iso8601_parse),
        cmocka_unit_test(test_iso8601_parse_rejects),
        cmocka_unit_test(test_iso8601_round_trip),
        cmocka_unit_test(test_valid_cuid),
        cmocka_unit_test(test_utf8_len),
        cmocka_unit_test(test_valid_name_and_context),
        cmocka_unit_test(test_valid_url),
        cmocka_unit_test(test_valid_id_and_color),
        cmocka_unit_test(test_log_format_and_filter),
        cmocka_unit_test(test_log_threads_do_not_interleave),
        cmocka_unit_test(test_log_parse_level),
        cmocka_unit_test(test_hmac_sha256_rfc4231),
        cmocka_unit_test(test_seal_open_round_trip),
        cmocka_unit_test(test_seal_tamper_detected),
        cmocka_unit_test(test_master_key_file),
        cmocka_unit_test(test_password_hash_verify),
        cmocka_unit_test(test_jwt_round_trip),
        cmocka_unit_test(test_jwt_known_token),
        cmocka_unit_test(test_jwt_tampered_and_wrong_key),
        cmocka_unit_test(test_jwt_bad_alg),
        cmocka_unit_test(test_jwt_times),
        cmocka_unit_test(test_jwt_malformed),
        cmocka_unit_test(test_jwt_length_cap),
        cmocka_unit_test(test_jwt_sign_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
