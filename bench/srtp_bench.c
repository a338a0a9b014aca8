/* SRTP micro-benchmark: CPU-ns per protect and per unprotect of one RTP packet, through the same
 * wrapper the relay uses (src/media/srtp.c), for both DTLS-SRTP profiles and two Opus-like payload
 * sizes. CMake builds it once per libsrtp2 build (srtp_bench_nss: Debian's, srtp_bench_openssl:
 * the one scripts/install-deps builds); they cannot share a process (same symbols), so
 *   srtp_bench_openssl --vs srtp_bench_nss
 * runs the other binary as a child (--raw) and prints one JSON object with both and their ratio.
 * The clock is the thread's CPU time, so other load on the machine barely moves the figures. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <srtp2/srtp.h>

#include "dcall/errors.h"
#include "media/srtp.h"

#ifndef DC_SRTP_BENCH_VARIANT
#define DC_SRTP_BENCH_VARIANT "unknown"
#endif
#ifndef DC_SRTP_BENCH_USED
#define DC_SRTP_BENCH_USED "unknown"
#endif

#define BATCH 512
#define PKT_CAP 256
#define NCASES 4

struct bench_case {
    enum dc__srtp_profile profile;
    size_t payload;
};

static const struct bench_case CASES[NCASES] = {
    {DC__SRTP_AES128_CM_SHA1_80, 80},
    {DC__SRTP_AES128_CM_SHA1_80, 160},
    {DC__SRTP_AEAD_AES_128_GCM, 80},
    {DC__SRTP_AEAD_AES_128_GCM, 160},
};

struct figures {
    double protect_ns, unprotect_ns;
    int ok;
};

struct opts {
    long packets; /* per round */
    int rounds;
    int raw;
    const char *vs;
};

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* 12-byte RTP header (V=2, PT 111 as Opus usually gets) and a payload that is not all zeros. */
static size_t rtp_packet(uint8_t *p, uint16_t seq, size_t payload)
{
    uint32_t ts = (uint32_t)seq * 960u, ssrc = 0x1234abcdu;
    p[0] = 0x80;
    p[1] = 111;
    p[2] = (uint8_t)(seq >> 8), p[3] = (uint8_t)seq;
    p[4] = (uint8_t)(ts >> 24), p[5] = (uint8_t)(ts >> 16), p[6] = (uint8_t)(ts >> 8),
    p[7] = (uint8_t)ts;
    p[8] = (uint8_t)(ssrc >> 24), p[9] = (uint8_t)(ssrc >> 16), p[10] = (uint8_t)(ssrc >> 8);
    p[11] = (uint8_t)ssrc;
    for (size_t i = 0; i < payload; i++)
        p[12 + i] = (uint8_t)(i * 31u + seq);
    return 12 + payload;
}

/* A sender and a receiver keyed against each other, as the two ends of one leg. */
static int make_pair(enum dc__srtp_profile profile, dc__srtp **tx, dc__srtp **rx)
{
    struct dc__srtp_keys a, b;
    size_t kl, sl;
    memset(&a, 0, sizeof(a));
    a.profile = profile;
    if (dc__srtp_profile_lengths(profile, &kl, &sl) != 0)
        return DC_EINVAL;
    a.key_len = (uint8_t)kl;
    a.salt_len = (uint8_t)sl;
    for (size_t i = 0; i < kl; i++)
        a.local_key[i] = (uint8_t)(i * 7 + 1), a.remote_key[i] = (uint8_t)(i * 11 + 3);
    for (size_t i = 0; i < sl; i++)
        a.local_salt[i] = (uint8_t)(i * 5 + 2), a.remote_salt[i] = (uint8_t)(i * 13 + 4);
    b = a;
    memcpy(b.local_key, a.remote_key, kl);
    memcpy(b.remote_key, a.local_key, kl);
    memcpy(b.local_salt, a.remote_salt, sl);
    memcpy(b.remote_salt, a.local_salt, sl);
    int rc = dc__srtp_new(&a, tx);
    if (rc == 0 && (rc = dc__srtp_new(&b, rx)) != 0)
        dc__srtp_free(*tx);
    dc__srtp_keys_wipe(&a);
    dc__srtp_keys_wipe(&b);
    return rc;
}

/* One batch: plaintexts built untimed, then protect timed, then unprotect timed. */
static int run_batch(dc__srtp *tx, dc__srtp *rx, uint8_t (*pkts)[PKT_CAP], size_t payload,
                     uint16_t *seq, double *prot, double *unprot)
{
    size_t len[BATCH];
    for (int i = 0; i < BATCH; i++)
        len[i] = rtp_packet(pkts[i], (*seq)++, payload);
    double t0 = cpu_ns();
    for (int i = 0; i < BATCH; i++)
        if (dc__srtp_protect_rtp(tx, pkts[i], &len[i], PKT_CAP) != 0)
            return DC_ESRTP;
    double t1 = cpu_ns();
    for (int i = 0; i < BATCH; i++)
        if (dc__srtp_unprotect_rtp(rx, pkts[i], &len[i]) != 0 || len[i] != 12 + payload)
            return DC_ESRTP;
    double t2 = cpu_ns();
    *prot += t1 - t0;
    *unprot += t2 - t1;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median over rounds of the per-packet cost; a warm-up batch first (keys, caches, branch
 * predictors). */
static int measure(const struct bench_case *c, const struct opts *o, struct figures *f)
{
    static _Alignas(8) uint8_t pkts[BATCH][PKT_CAP];
    double prot[64], unprot[64], wp = 0, wu = 0;
    dc__srtp *tx, *rx;
    uint16_t seq = 1;
    int rc = make_pair(c->profile, &tx, &rx);
    if (rc != 0)
        return rc;
    long batches = (o->packets + BATCH - 1) / BATCH;
    rc = run_batch(tx, rx, pkts, c->payload, &seq, &wp, &wu);
    for (int r = 0; rc == 0 && r < o->rounds; r++) {
        prot[r] = unprot[r] = 0;
        for (long b = 0; rc == 0 && b < batches; b++)
            rc = run_batch(tx, rx, pkts, c->payload, &seq, &prot[r], &unprot[r]);
        prot[r] /= (double)(batches * BATCH);
        unprot[r] /= (double)(batches * BATCH);
    }
    dc__srtp_free(tx);
    dc__srtp_free(rx);
    if (rc != 0)
        return rc;
    qsort(prot, (size_t)o->rounds, sizeof(double), cmp_double);
    qsort(unprot, (size_t)o->rounds, sizeof(double), cmp_double);
    f->protect_ns = prot[o->rounds / 2];
    f->unprotect_ns = unprot[o->rounds / 2];
    f->ok = 1;
    return 0;
}

/* The other variant's figures, from its --raw lines "case I PROTECT_NS UNPROTECT_NS". */
static int run_other(const struct opts *o, struct figures *f, char *version, size_t vcap)
{
    char cmd[4096], line[512];
    snprintf(cmd, sizeof(cmd), "'%s' --raw --packets %ld --rounds %d", o->vs, o->packets,
             o->rounds);
    FILE *p = popen(cmd, "r");
    if (!p)
        return DC_EIO;
    while (fgets(line, sizeof(line), p)) {
        int i;
        double a, b;
        if (sscanf(line, "case %d %lf %lf", &i, &a, &b) == 3 && i >= 0 && i < NCASES)
            f[i] = (struct figures){a, b, 1};
        else if (strncmp(line, "version ", 8) == 0)
            snprintf(version, vcap, "%.*s", (int)strcspn(line + 8, "\n"), line + 8);
    }
    return pclose(p) == 0 ? 0 : DC_EIO;
}

static void print_fig(const char *name, const struct figures *f)
{
    if (f->ok)
        printf("\"%s\": {\"protect_ns\": %.0f, \"unprotect_ns\": %.0f, \"both_ns\": %.0f}", name,
               f->protect_ns, f->unprotect_ns, f->protect_ns + f->unprotect_ns);
    else
        printf("\"%s\": null", name);
}

static void print_json(const struct opts *o, const struct figures *mine,
                       const struct figures *other, const char *other_name,
                       const char *other_version)
{
    const char *me = DC_SRTP_BENCH_VARIANT;
    printf("{\n  \"unit\": \"thread CPU-ns per packet, median of %d rounds of %ld packets\",\n",
           o->rounds, o->packets);
    printf("  \"libsrtp2_linked_by_dcalld\": \"%s\",\n", DC_SRTP_BENCH_USED);
    printf("  \"builds\": {\"%s\": \"%s\"", me, srtp_get_version_string());
    if (other_name)
        printf(", \"%s\": %s%s%s", other_name, other_version[0] ? "\"" : "",
               other_version[0] ? other_version : "null", other_version[0] ? "\"" : "");
    printf("},\n  \"cases\": [\n");
    for (int i = 0; i < NCASES; i++) {
        printf("    {\"profile\": \"%s\", \"payload_bytes\": %zu, ",
               dc__srtp_profile_name(CASES[i].profile), CASES[i].payload);
        print_fig(me, &mine[i]);
        if (other_name) {
            printf(", ");
            print_fig(other_name, &other[i]);
            /* Ratio > 1: the other (NSS) build costs that many times more. */
            if (mine[i].ok && other[i].ok)
                printf(", \"ratio_%s_to_%s\": {\"protect\": %.2f, \"unprotect\": %.2f, \"both\": "
                       "%.2f}",
                       other_name, me, other[i].protect_ns / mine[i].protect_ns,
                       other[i].unprotect_ns / mine[i].unprotect_ns,
                       (other[i].protect_ns + other[i].unprotect_ns) /
                           (mine[i].protect_ns + mine[i].unprotect_ns));
        }
        printf("}%s\n", i + 1 < NCASES ? "," : "");
    }
    printf("  ]\n}\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--raw") == 0)
            o->raw = 1;
        else if (strcmp(argv[i], "--vs") == 0 && i + 1 < argc)
            o->vs = argv[++i];
        else if (strcmp(argv[i], "--packets") == 0 && i + 1 < argc)
            o->packets = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            o->rounds = (int)strtol(argv[++i], NULL, 10);
        else
            return DC_EINVAL;
    }
    return o->packets > 0 && o->rounds > 0 && o->rounds <= 64 ? 0 : DC_EINVAL;
}

int main(int argc, char **argv)
{
    struct opts o = {.packets = 100000, .rounds = 7};
    struct figures mine[NCASES] = {{0}}, other[NCASES] = {{0}};
    char other_version[128] = "";
    if (parse_args(argc, argv, &o) != 0) {
        fprintf(stderr,
                "usage: %s [--vs OTHER_SRTP_BENCH] [--packets N] [--rounds R (<= 64)] [--raw]\n",
                argv[0]);
        return 2;
    }
    if (o.vs && run_other(&o, other, other_version, sizeof(other_version)) != 0)
        fprintf(stderr, "srtp_bench: %s failed; reporting this build only\n", o.vs);
    for (int i = 0; i < NCASES; i++) {
        if (measure(&CASES[i], &o, &mine[i]) != 0) {
            fprintf(stderr, "srtp_bench: %s %zu bytes failed\n",
                    dc__srtp_profile_name(CASES[i].profile), CASES[i].payload);
            return 1;
        }
        if (o.raw)
            printf("case %d %.1f %.1f\n", i, mine[i].protect_ns, mine[i].unprotect_ns);
    }
    if (o.raw) {
        printf("version %s\n", srtp_get_version_string());
        return 0;
    }
    print_json(&o, mine, other,
               o.vs ? (strcmp(DC_SRTP_BENCH_VARIANT, "nss") ? "nss" : "openssl") : NULL,
               other_version);
    return 0;
}
