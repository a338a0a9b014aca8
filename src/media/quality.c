/* E-model, reduced as network monitors (and Twilio) use it:
 *   effective latency Le = RTT + 2 * jitter + 10 ms (codec and buffering allowance);
 *   R = R0 - Le/40 when Le < 160 ms, else R0 - (Le - 120)/10;
 *   R -= 2.5 * loss%;
 *   MOS = 1 + 0.035 R + 7e-6 R (R - 60)(100 - R), clamped to 1..4.5.
 * R0 = 93.2 is G.107's default basic signal-to-noise ratio. The loss penalty of 2.5 per percent is
 * the one these monitors assume for G.711 without concealment; Opus with in-band FEC and PLC
 * hides light loss better, so for Opus this is a conservative (pessimistic) score. */
#include "media/quality.h"

#define DC__R0 93.2

double dc__emodel_r(double rtt_ms, double jitter_ms, double loss_pct)
{
    if (rtt_ms < 0)
        rtt_ms = 0;
    if (jitter_ms < 0)
        jitter_ms = 0;
    if (loss_pct < 0)
        loss_pct = 0;
    if (loss_pct > 100)
        loss_pct = 100;
    double le = rtt_ms + 2.0 * jitter_ms + 10.0;
    double r = le < 160.0 ? DC__R0 - le / 40.0 : DC__R0 - (le - 120.0) / 10.0;
    r -= 2.5 * loss_pct;
    if (r < 0)
        r = 0;
    if (r > 100)
        r = 100;
    return r;
}

double dc__emodel_mos(double rtt_ms, double jitter_ms, double loss_pct)
{
    double r = dc__emodel_r(rtt_ms, jitter_ms, loss_pct);
    double mos = 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r);
    if (mos < 1.0)
        mos = 1.0;
    if (mos > 4.5)
        mos = 4.5;
    return mos;
}
