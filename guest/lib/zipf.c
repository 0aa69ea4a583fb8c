/*
 * zipf.c - rejection-inversion Zipf sampler (see zipf.h).
 *
 * Notation follows the paper and Apache Commons' RejectionInversionZipf-
 * Sampler, for ranks x in [1, n]:
 *   h(x)    = x^-s                          (unnormalised density)
 *   H(x)    = (x^(1-s) - 1) / (1-s)         (an integral of h; log x at s=1)
 *   H^-1(y) = (1 + y(1-s))^(1/(1-s))        (exp y at s=1)
 * Both H and H^-1 are written with helper1/helper2 (log1p(t)/t and
 * expm1(t)/t) so s == 1 and s near 1 need no special case.
 */
#include "zipf.h"
#include "fmath.h"

/* log1p(t)/t, continuous at t = 0. */
static double helper1(double t)
{
	if (t > 1e-8 || t < -1e-8)
		return fmath_log1p(t) / t;
	return 1.0 - t * (0.5 - t * (1.0 / 3.0 - 0.25 * t));
}

/* expm1(t)/t, continuous at t = 0. */
static double helper2(double t)
{
	if (t > 1e-8 || t < -1e-8)
		return fmath_expm1(t) / t;
	return 1.0 + t * 0.5 * (1.0 + t * (1.0 / 3.0) * (1.0 + 0.25 * t));
}

static double h_fn(double s, double x)
{
	return fmath_exp(-s * fmath_log(x));
}

static double h_integral(double s, double x)
{
	double lx = fmath_log(x);

	return helper2((1.0 - s) * lx) * lx;
}

static double h_integral_inv(double s, double y)
{
	double t = y * (1.0 - s);

	if (t < -1.0)      /* guard against rounding just past the domain */
		t = -1.0;
	return fmath_exp(helper1(t) * y);
}

int zipf_init(struct zipf *z, uint64_t n, double s)
{
	if (n < 1 || !(s > 0.0) || s > 1e6)
		return -22;
	z->n = n;
	z->s = s;
	z->h_x1 = h_integral(s, 1.5) - 1.0;
	z->h_n = h_integral(s, (double)n + 0.5);
	z->squeeze = 2.0 - h_integral_inv(s, h_integral(s, 2.5) - h_fn(s, 2.0));
	return 0;
}

uint64_t zipf_sample(const struct zipf *z, struct prng *r)
{
	double u, x;
	uint64_t k;

	if (z->n == 1)
		return 0;
	for (;;) {
		u = z->h_n + prng_double(r) * (z->h_x1 - z->h_n);
		x = h_integral_inv(z->s, u);
		if (!(x >= 1.0))                /* also catches NaN */
			k = 1;
		else if (x + 0.5 >= (double)z->n)
			k = z->n;
		else
			k = (uint64_t)(x + 0.5);
		/* Accept: inside the squeeze, or under the hat (paper, step 4). */
		if ((double)k - x <= z->squeeze ||
		    u >= h_integral(z->s, (double)k + 0.5) - h_fn(z->s, (double)k))
			return k - 1;
	}
}
