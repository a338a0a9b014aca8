/* Replay driver for fuzz targets when libFuzzer is not used: runs every file of the corpus
 * directory, then a fixed-seed stream of random and mutated inputs, so the target runs as an
 * ordinary deterministic test. Crashes and sanitizer reports fail it. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_RUNS 20000
#define REPLAY_MAX_LEN 512
#define REPLAY_MAX_FILES 1024

struct seed {
    uint8_t *data;
    size_t len;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    /* xorshift64*: deterministic across runs and machines */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* Calls the target on an exactly sized heap copy so ASan sees any read past the end. */
static void run_one(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    if (len)
        memcpy(copy, data, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
}

static int load_file(const char *dir, const char *name, struct seed *out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    uint8_t *buf = malloc(1 << 16);
    size_t n = buf ? fread(buf, 1, 1 << 16, f) : 0;
    fclose(f);
    if (!buf)
        return -1;
    out->data = buf;
    out->len = n;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads the corpus in name order so the mutation stream is the same on every machine. */
static size_t load_corpus(const char *dir, struct seed *seeds)
{
    DIR *d = opendir(dir);
    char *names[REPLAY_MAX_FILES];
    size_t nnames = 0, nseeds = 0;
    if (!d) {
        perror(dir);
        exit(1);
    }
    struct dirent *e;
    while ((e = readdir(d)) && nnames < REPLAY_MAX_FILES)
        if (e->d_name[0] != '.')
            names[nnames++] = strdup(e->d_name);
    closedir(d);
    qsort(names, nnames, sizeof names[0], cmp_names);
    for (size_t i = 0; i < nnames; i++) {
        if (load_file(dir, names[i], &seeds[nseeds]) == 0)
            nseeds++;
        free(names[i]);
    }
    return nseeds;
}

/* One of: random bytes, a seed with a few byte edits, a truncated seed, or two seeds spliced. */
static size_t make_input(uint8_t *buf, const struct seed *seeds, size_t nseeds)
{
    size_t len = rng() % (REPLAY_MAX_LEN + 1);
    unsigned kind = nseeds ? (unsigned)(rng() % 4) : 0;
    if (kind == 0) {
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rng();
        return len;
    }
    const struct seed *s = &seeds[rng() % nseeds];
    len = s->len < REPLAY_MAX_LEN ? s->len : REPLAY_MAX_LEN;
    memcpy(buf, s->data, len);
    if (kind == 1) {
        size_t edits = 1 + rng() % 4;
        for (size_t k = 0; k < edits && len; k++) {
            size_t at = rng() % len;
            switch (rng() % 4) {
            case 0:
                buf[at] ^= (uint8_t)(1u << (rng() % 8));
                break;
            case 1:
                buf[at] = (uint8_t)rng();
                break;
            case 2:
                memmove(buf + at, buf + at + 1, len - at - 1), len--;
                break;
            default:
                if (len < REPLAY_MAX_LEN) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = "._-=+/$#:TZ\0\xff"[rng() % 14];
                    len++;
                }
            }
        }
    } else if (kind == 2) {
        len = len ? rng() % (len + 1) : 0;
    } else {
        const struct seed *t = &seeds[rng() % nseeds];
        size_t cut = len ? rng() % (len + 1) : 0, from = t->len ? rng() % t->len : 0;
        size_t take = t->len - from;
        if (cut + take > REPLAY_MAX_LEN)
            take = REPLAY_MAX_LEN - cut;
        memcpy(buf + cut, t->data + from, take);
        len = cut + take;
    }
    return len;
}

int main(int argc, char **argv)
{
    static struct seed seeds[REPLAY_MAX_FILES];
    uint8_t buf[REPLAY_MAX_LEN];
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR [RUNS]\n", argv[0]);
        return 2;
    }
    long runs = argc > 2 ? strtol(argv[2], NULL, 10) : REPLAY_RUNS;
    size_t nseeds = load_corpus(argv[1], seeds);
    for (size_t i = 0; i < nseeds; i++)
        run_one(seeds[i].data, seeds[i].len);
    for (long i = 0; i < runs; i++)
        run_one(buf, make_input(buf, seeds, nseeds));
    for (size_t i = 0; i < nseeds; i++)
        free(seeds[i].data);
    printf("replayed %zu corpus files and %ld generated inputs\n", nseeds, runs);
    return 0;
}
