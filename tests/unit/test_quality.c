/* E-model MOS (src/media/quality.c) against values worked out by hand from its formula. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "media/quality.h"

static void near(double got, double want)
{
    if (fabs(got - want) > 1e-6)
        fail_msg("got %.9f, want %.9f", got, want);
}

static void perfect_network(void **state)
{
    (void)state;
    near(dc__emodel_r(0, 0, 0), 92.95); /* R0 - (0 + 0 + 10)/40 */
    near(dc__emodel_mos(0, 0, 0), 4.404394368);
}

static void long_delay_uses_the_steeper_branch(void **state)
{
    (void)state;
    near(dc__emodel_r(400, 0, 0), 64.2); /* Le = 410 >= 160: R0 - (410 - 120)/10 */
    near(dc__emodel_mos(400, 0, 0), 3.314571784);
}

static void loss_and_jitter(void **state)
{
    (void)state;
    near(dc__emodel_r(50, 30, 5), 77.7); /* Le = 120: R0 - 3 - 12.5 */
    near(dc__emodel_mos(50, 30, 5), 3.934182769);
    near(dc__emodel_mos(50, 30, 20), 2.073811144);
    near(dc__emodel_mos(100, 10, 3), 4.113145657);
}

static void clamped(void **state)
{
    (void)state;
    near(dc__emodel_mos(5000, 500, 100), 1.0);
    near(dc__emodel_r(-5, -1, -3), 92.95);
    assert_true(dc__emodel_mos(0, 0, 0) <= 4.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(perfect_network), cmocka_unit_test(long_delay_uses_the_steeper_branch),
        cmocka_unit_test(loss_and_jitter), cmocka_unit_test(clamped)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
