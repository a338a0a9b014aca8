/* The worker's 5-tuple -> leg table (relay_impl.h): open addressing with linear probing and
 * backward-shift deletion. An entry is 32 bytes (two per cache line) and holds the whole key, so a
 * lookup reads one or two lines of the table and never a leg that is not the one wanted (uthash
 * walked its bucket chain through the legs themselves). Only addresses that passed an ICE check
 * with the leg's credentials are ever inserted; the hash is seeded per worker all the same. */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "dcall/errors.h"
#include "server/relay_impl.h"

#define DC__ADDRTAB_MIN 64 /* slots; always a power of two, at most half full */

/* murmur3's 64-bit finaliser: every input bit reaches every output bit, non-linearly. */
static inline uint64_t fmix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ull;
    x ^= x >> 33;
    return x;
}

/* Each word goes through the mix after the seed (not XORed with the others before it): with the
 * words multiplied by constants and XORed first, keys whose products cancel (easy to build with
 * an IPv6 /64 and a port) collided whatever the seed, all in one run of probes. */
static uint32_t addr_hash(const dc__addrtab *t, const dc__addrkey *k)
{
    uint64_t a, b;
    uint32_t c;
    memcpy(&a, (const uint8_t *)k, 8);
    memcpy(&b, (const uint8_t *)k + 8, 8);
    memcpy(&c, (const uint8_t *)k + 16, 4);
    uint64_t h = fmix64(t->seed ^ a);
    h = fmix64(h ^ b);
    h = fmix64(h ^ c);
    return (uint32_t)(h ^ (h >> 32));
}

static dc__addrent *slot_of(const dc__addrtab *t, const dc__addrkey *k, uint32_t h)
{
    for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
        dc__addrent *e = &t->e[i];
        if (!e->leg || (e->hash == h && memcmp(&e->key, k, sizeof *k) == 0))
            return e;
    }
}

dc__leg *dc__addrtab_get(const dc__addrtab *t, const dc__addrkey *k)
{
    if (!t->e)
        return NULL;
    return slot_of(t, k, addr_hash(t, k))->leg;
}

static int grow(dc__addrtab *t)
{
    uint32_t cap = t->e ? (t->mask + 1) * 2 : DC__ADDRTAB_MIN;
    dc__addrent *ne = calloc(cap, sizeof *ne);
    if (!ne)
        return DC_ENOMEM;
    if (!t->e && !t->seed)
        dc__random(&t->seed, sizeof t->seed);
    dc__addrtab old = *t;
    t->e = ne;
    t->mask = cap - 1;
    for (uint32_t i = 0; old.e && i <= old.mask; i++) {
        if (old.e[i].leg)
            *slot_of(t, &old.e[i].key, old.e[i].hash) = old.e[i];
    }
    free(old.e);
    return 0;
}

int dc__addrtab_put(dc__addrtab *t, const dc__addrkey *k, dc__leg *leg)
{
    if ((!t->e || (t->n + 1) * 2 > t->mask + 1) && grow(t) != 0)
        return DC_ENOMEM;
    uint32_t h = addr_hash(t, k);
    dc__addrent *e = slot_of(t, k, h);
    if (!e->leg)
        t->n++;
    e->hash = h;
    e->key = *k;
    e->leg = leg;
    return 0;
}

void dc__addrtab_del(dc__addrtab *t, const dc__addrkey *k)
{
    if (!t->e)
        return;
    dc__addrent *e = slot_of(t, k, addr_hash(t, k));
    if (!e->leg)
        return;
    t->n--;
    /* Backward shift: move later entries of the run into the hole when their home slot is not
     * between the hole and where they sit, so every entry stays reachable from its home. */
    uint32_t i = (uint32_t)(e - t->e);
    for (uint32_t j = (i + 1) & t->mask; t->e[j].leg; j = (j + 1) & t->mask) {
        uint32_t home = t->e[j].hash & t->mask;
        if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
            t->e[i] = t->e[j];
            i = j;
        }
    }
    memset(&t->e[i], 0, sizeof t->e[i]);
}

void dc__addrtab_free(dc__addrtab *t)
{
    free(t->e);
    memset(t, 0, sizeof *t);
}
