/*
 * fmath.h - small freestanding exp/log family for the Zipf sampler.
 *
 * Not libm: accurate to a few ulp, which is plenty for sampling.  What matters
 * more is that the guest and host builds compute bit-identical results, so
 * this code uses only IEEE double + - * / on SSE2, no x87, and both builds
 * compile it with -ffp-contract=off and without -ffast-math.
 */
#ifndef HV_GUEST_LIB_FMATH_H
#define HV_GUEST_LIB_FMATH_H

double fmath_exp(double x);
double fmath_expm1(double x);   /* exp(x) - 1, accurate near 0 */
double fmath_log(double x);     /* x > 0; 0 -> -inf, x < 0 -> NaN */
double fmath_log1p(double x);   /* log(1 + x), accurate near 0 */
double fmath_pow(double x, double y); /* x > 0 only */

#endif /* HV_GUEST_LIB_FMATH_H */
