/*
 * fmath.c - exp/log/expm1/log1p/pow without libm (see fmath.h).
 *
 * exp: x = k*ln2 + r, |r| <= ln2/2, exp(r) by a degree-13 Taylor polynomial
 * (truncation error < 1e-17), scaled by 2^k built from the exponent bits.
 * log: x = m*2^e, m in [sqrt(1/2), sqrt(2)), log(m) = 2*atanh(f/(2+f)) with
 * f = m-1, as an odd series in s = f/(2+f) (|s| < 0.172, 12 terms).
 * ln2 is split into a high part with trailing zero bits and a low part so
 * k*ln2_hi is exact (the classic fdlibm constants).
 */
#include <stdint.h>

#include "fmath.h"

static const double LN2_HI = 6.93147180369123816490e-01;
static const double LN2_LO = 1.90821492927058770002e-10;
static const double LOG2E = 1.44269504088896338700e+00;

static uint64_t dbits(double d)
{
	union { double d; uint64_t u; } v = { .d = d };

	return v.u;
}

static double bitsd(uint64_t u)
{
	union { uint64_t u; double d; } v = { .u = u };

	return v.d;
}

/* 2^k for -1022 <= k <= 1023. */
static double pow2i(int k)
{
	return bitsd((uint64_t)(k + 1023) << 52);
}

/* exp(r) - 1 for |r| <= ~0.35, Taylor series to r^13. */
static double expm1_small(double r)
{
	double p = 1.0 / 6227020800.0;         /* 1/13! */

	p = 1.0 / 479001600.0 + r * p;          /* 1/12! */
	p = 1.0 / 39916800.0 + r * p;
	p = 1.0 / 3628800.0 + r * p;
	p = 1.0 / 362880.0 + r * p;
	p = 1.0 / 40320.0 + r * p;
	p = 1.0 / 5040.0 + r * p;
	p = 1.0 / 720.0 + r * p;
	p = 1.0 / 120.0 + r * p;
	p = 1.0 / 24.0 + r * p;
	p = 1.0 / 6.0 + r * p;
	p = 0.5 + r * p;
	p = 1.0 + r * p;
	return r * p;
}

double fmath_exp(double x)
{
	double r, y, kd;
	int k;

	if (x != x)
		return x;
	if (x > 709.782712893384)
		return bitsd(0x7ff0000000000000ull);   /* +inf */
	if (x < -745.2)
		return 0.0;
	kd = x * LOG2E;
	k = (int)(kd < 0 ? kd - 0.5 : kd + 0.5);
	r = (x - k * LN2_HI) - k * LN2_LO;
	y = 1.0 + expm1_small(r);
	if (k > 1023)
		return y * pow2i(1023) * pow2i(k - 1023);
	if (k < -1021)                 /* subnormal result: scale in two steps */
		return y * pow2i(k + 1000) * pow2i(-1000);
	return y * pow2i(k);
}

double fmath_expm1(double x)
{
	if (x > -0.34 && x < 0.34)
		return expm1_small(x);
	return fmath_exp(x) - 1.0;
}

double fmath_log(double x)
{
	uint64_t u;
	int e = 0;
	double m, f, s, z, p;

	if (x != x || x < 0)
		return bitsd(0x7ff8000000000000ull);   /* NaN */
	if (x == 0)
		return bitsd(0xfff0000000000000ull);   /* -inf */
	u = dbits(x);
	if ((u >> 52) == 0x7ff)
		return x;                               /* +inf */
	if ((u >> 52) == 0) {                       /* subnormal */
		x *= 0x1.0p54;
		e = -54;
		u = dbits(x);
	}
	e += (int)(u >> 52) - 1023;
	m = bitsd((u & 0x000fffffffffffffull) | 0x3ff0000000000000ull);
	if (m > 1.4142135623730951) {
		m *= 0.5;
		e++;
	}
	f = m - 1.0;
	s = f / (2.0 + f);
	z = s * s;
	p = 1.0 / 25;
	p = 1.0 / 23 + z * p;
	p = 1.0 / 21 + z * p;
	p = 1.0 / 19 + z * p;
	p = 1.0 / 17 + z * p;
	p = 1.0 / 15 + z * p;
	p = 1.0 / 13 + z * p;
	p = 1.0 / 11 + z * p;
	p = 1.0 / 9 + z * p;
	p = 1.0 / 7 + z * p;
	p = 1.0 / 5 + z * p;
	p = 1.0 / 3 + z * p;
	/* log(m) = 2s + 2s*z*p: the small correction is added last. */
	return e * LN2_HI + (e * LN2_LO + (2.0 * s + 2.0 * s * (z * p)));
}

double fmath_log1p(double x)
{
	double u = 1.0 + x;

	if (u == 1.0)
		return x;
	/* Goldberg's trick: the rounding error of 1+x cancels in x/(u-1). */
	return fmath_log(u) * (x / (u - 1.0));
}

double fmath_pow(double x, double y)
{
	return fmath_exp(y * fmath_log(x));
}
