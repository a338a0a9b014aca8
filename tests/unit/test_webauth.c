/* Dashboard sign-in helpers (src/server/webauth.c) that need no server: the client-address key
 * of the login and sign-up rate limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "server/webauth.h"

static void key_is(const char *peer, const char *want)
{
    char out[80];
    memset(out, 'X', sizeof out);
    assert_int_equal(dc__rate_addr_key(peer, out, sizeof out), 0);
    assert_string_equal(out, want);
}

/* One client holds a whole IPv6 /64: every address in it must count against the same limit,
 * or the per-address limits (20 failed logins, 10 sign-ups in 15 minutes) mean nothing. */
static void test_ipv6_keyed_by_64(void **state)
{
    (void)state;
    key_is("2001:db8:1:2::1", "2001:db8:1:2::/64");
    key_is("2001:db8:1:2:dead:beef:0:7", "2001:db8:1:2::/64");
    key_is("2001:DB8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64");
    key_is("2001:db8:1:3::1", "2001:db8:1:3::/64");
    key_is("::1", "::/64");
}

static void test_ipv4_as_is(void **state)
{
    (void)state;
    key_is("127.0.0.1", "127.0.0.1");
    key_is("203.0.113.9", "203.0.113.9");
    /* a dual-stack socket reports IPv4 clients mapped into IPv6: each is still its own */
    key_is("::ffff:203.0.113.9", "203.0.113.9");
    key_is("::ffff:203.0.113.10", "203.0.113.10");
}

static void test_other_text_copied(void **state)
{
    (void)state;
    key_is("", "");
    key_is("unix", "unix");
    char small[8];
    assert_int_equal(dc__rate_addr_key("2001:db8:1:2::1", small, sizeof small), 0);
    assert_true(strlen(small) < sizeof small); /* truncated, still terminated */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv6_keyed_by_64),
        cmocka_unit_test(test_ipv4_as_is),
        cmocka_unit_test(test_other_text_copied),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
