/* The relay worker's 5-tuple -> leg table (src/server/relay_addr.c): open addressing, linear
 * probing, backward-shift deletion. Checked against a plain array under random puts and deletes,
 * and for probe lengths with the address patterns a NAT or an attacker produces (one IP, every
 * port; one port, consecutive IPs): a lookup of any address, present or not, stays short. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "server/relay_impl.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static void key4(dc__addrkey *k, uint32_t ip, uint16_t port)
{
    memset(k, 0, sizeof *k);
    k->family = AF_INET;
    k->port = htons(port);
    uint32_t n = htonl(ip);
    memcpy(k->ip, &n, 4);
}

static void key6(dc__addrkey *k, uint64_t low, uint16_t port)
{
    memset(k, 0, sizeof *k);
    k->family = AF_INET6;
    k->port = htons(port);
    k->ip[0] = 0x20;
    k->ip[1] = 0x01;
    for (int i = 0; i < 8; i++)
        k->ip[15 - i] = (uint8_t)(low >> (8 * i));
}

/* Longest distance of any entry from its home slot, and the longest run of occupied slots (what
 * a lookup of an absent key whose home is the run's start walks). */
static void probe_stats(const dc__addrtab *t, uint32_t *max_disp, uint32_t *max_run)
{
    *max_disp = 0;
    *max_run = 0;
    uint32_t run = 0;
    for (uint32_t i = 0; i <= 2 * t->mask + 1; i++) { /* twice round: runs that wrap */
        const dc__addrent *e = &t->e[i & t->mask];
        if (!e->leg) {
            run = 0;
            continue;
        }
        if (++run > *max_run)
            *max_run = run;
        uint32_t d = ((i & t->mask) - (e->hash & t->mask)) & t->mask;
        if (d > *max_disp)
            *max_disp = d;
    }
}

#define NKEYS 4000
#define LEG(i) ((dc__leg *)(uintptr_t)(0x1000 + 16 * (uintptr_t)(i)))

static void matches_reference(void **state)
{
    (void)state;
    static dc__addrkey keys[NKEYS];
    static int present[NKEYS];
    dc__addrtab t;
    memset(&t, 0, sizeof t);
    memset(present, 0, sizeof present);
    for (int i = 0; i < NKEYS; i++) {
        if (i % 2)
            key4(&keys[i], 0x0a000000u + (uint32_t)(i / 64), (uint16_t)(40000 + i % 64));
        else
            key6(&keys[i], (uint64_t)i * 7, (uint16_t)(5000 + i % 3));
    }
    assert_null(dc__addrtab_get(&t, &keys[0]));
    dc__addrtab_del(&t, &keys[0]); /* on an empty table */
    size_t n = 0;
    for (int step = 0; step < 200000; step++) {
        int i = (int)(rnd() % NKEYS);
        if (rnd() % 3 != 0) {
            assert_int_equal(dc__addrtab_put(&t, &keys[i], LEG(i)), 0);
            n += !present[i];
            present[i] = 1;
        } else {
            dc__addrtab_del(&t, &keys[i]);
            n -= present[i];
            present[i] = 0;
        }
        if (step % 20000 == 0 || step == 199999) {
            assert_int_equal(t.n, n);
            assert_true(2 * t.n <= t.mask + 1); /* at most half full: probing ends */
            for (int j = 0; j < NKEYS; j++)
                assert_ptr_equal(dc__addrtab_get(&t, &keys[j]), present[j] ? LEG(j) : NULL);
        }
    }
    /* delete everything: the table is empty again, every slot free */
    for (int j = 0; j < NKEYS; j++)
        dc__addrtab_del(&t, &keys[j]);
    assert_int_equal(t.n, 0);
    for (uint32_t s = 0; s <= t.mask; s++)
        assert_null(t.e[s].leg);
    dc__addrtab_free(&t);
}

/* 30000 entries of one shape; every probe sequence stays short. */
static void check_pattern(int pattern)
{
    dc__addrtab t;
    memset(&t, 0, sizeof t);
    for (uint32_t i = 0; i < 30000; i++) {
        dc__addrkey k;
        if (pattern == 0)
            key4(&k, 0xc6336401u, (uint16_t)(1024 + i)); /* one NAT IP, consecutive ports */
        else if (pattern == 1)
            key4(&k, 0x0a000000u + i, 3478); /* consecutive IPs, one port */
        else
            key6(&k, (uint64_t)i << 32, (uint16_t)i); /* IPv6, varying high bits */
        assert_int_equal(dc__addrtab_put(&t, &k, LEG(i)), 0);
    }
    uint32_t disp, run;
    probe_stats(&t, &disp, &run);
    print_message("pattern %d: %u entries in %u slots, max displacement %u, longest run %u\n",
                  pattern, t.n, t.mask + 1, disp, run);
    /* random hashing at load <= 1/2 gives a few dozen at this size; a clustering hash gives
     * thousands */
    assert_true(disp < 100);
    assert_true(run < 150);
    dc__addrtab_free(&t);
}

static void probe_lengths(void **state)
{
    (void)state;
    for (int p = 0; p < 3; p++)
        check_pattern(p);
}

/* Keys built so that a hash which multiplies each 64-bit word of the key by a constant and XORs
 * the products before mixing in the seed gives them all the same value whatever the seed (for
 * IPv6 the sender chooses the words: a /64 and the port are enough). Stored as paths of legs that
 * passed checks, they would make one run of probes that every lookup near it walks. */
static uint64_t inverse_odd(uint64_t k)
{
    uint64_t x = k; /* Newton: correct to 3 bits, doubling each step */
    for (int i = 0; i < 6; i++)
        x *= 2 - k * x;
    return x;
}

static void seed_independent_collisions(void **state)
{
    (void)state;
    const uint64_t K2 = 0xC2B2AE3D27D4EB4Full, K3 = 0x165667B19E3779F9ull;
    uint64_t inv = inverse_odd(K2);
    assert_true(inv * K2 == 1);
    dc__addrtab t;
    memset(&t, 0, sizeof t);
    uint64_t b0 = 0x1122334455667788ull;
    uint32_t c0 = 1;
    for (uint32_t i = 0; i < 3000; i++) {
        dc__addrkey k;
        key6(&k, 0, 4000);
        uint32_t c = c0 + i;
        uint64_t b = ((b0 * K2) ^ ((uint64_t)c0 * K3) ^ ((uint64_t)c * K3)) * inv;
        memcpy(k.ip + 4, &b, 8);
        memcpy(k.ip + 12, &c, 4);
        assert_int_equal(dc__addrtab_put(&t, &k, LEG(i)), 0);
    }
    uint32_t disp, run;
    probe_stats(&t, &disp, &run);
    print_message("crafted IPv6: %u entries in %u slots, max displacement %u, longest run %u\n",
                  t.n, t.mask + 1, disp, run);
    assert_true(disp < 100);
    assert_true(run < 150);
    dc__addrtab_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_reference),
        cmocka_unit_test(probe_lengths),
        cmocka_unit_test(seed_independent_collisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
