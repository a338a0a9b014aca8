/* Call quality from network measurements: the E-model (ITU-T G.107) reduced for monitoring. */
#ifndef DC_MEDIA_QUALITY_H
#define DC_MEDIA_QUALITY_H

/* MOS 1.0..4.5 from round-trip time (ms), interarrival jitter (ms) and packet loss (percent,
 * after FEC/concealment is not modelled: the raw network loss). See quality.c for the constants
 * and why. */
double dc__emodel_mos(double rtt_ms, double jitter_ms, double loss_pct);
/* The R-factor behind it (0..100). */
double dc__emodel_r(double rtt_ms, double jitter_ms, double loss_pct);

#endif
