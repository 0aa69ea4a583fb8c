/*
 * zipf.h - Zipf-distributed ranks by rejection-inversion sampling
 * (W. Hörmann, G. Derflinger, "Rejection-inversion to generate variates
 * from monotone discrete distributions", ACM TOMACS 6(3), 1996).
 *
 * P(rank k) ~ 1/(k+1)^s for k in [0, n).  Works for any s > 0, including
 * s == 1.  O(1) setup and O(1) expected time per sample (< 1.1 tries).
 * Deterministic for a given prng state; guest and host builds agree bit for
 * bit (see fmath.h).
 */
#ifndef HV_GUEST_LIB_ZIPF_H
#define HV_GUEST_LIB_ZIPF_H

#include <stdint.h>

#include "prng.h"

struct zipf {
	uint64_t n;
	double s;           /* exponent */
	double h_x1;        /* H(1.5) - 1 */
	double h_n;         /* H(n + 0.5) */
	double squeeze;     /* 2 - H^-1(H(2.5) - h(2)): quick-accept bound */
};

/* n >= 1, s > 0 (and finite).  Returns 0 or -22 (-EINVAL). */
int zipf_init(struct zipf *z, uint64_t n, double s);

/* A rank in [0, n); rank 0 is the most probable. */
uint64_t zipf_sample(const struct zipf *z, struct prng *r);

#endif /* HV_GUEST_LIB_ZIPF_H */
