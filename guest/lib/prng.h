/*
 * prng.h - deterministic pseudo-random numbers for guests and host replay.
 *
 * splitmix64 expands a 64-bit seed into the 256-bit state of xoshiro256**
 * (Blackman & Vigna).  Everything here is integer-only and header-inline so
 * the guest and host builds produce bit-identical streams.
 *
 * Compiled both freestanding (guest) and hosted (hv_gen_host): only
 * <stdint.h>/<stdbool.h>/<stddef.h>, no libc.
 */
#ifndef HV_GUEST_LIB_PRNG_H
#define HV_GUEST_LIB_PRNG_H

#include <stdint.h>

struct prng {
	uint64_t s[4];
};

/* One splitmix64 step: advances *state and returns a well-mixed value. */
static inline uint64_t prng_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Stateless 64-bit mixer (the splitmix64 finaliser of x). */
static inline uint64_t prng_mix64(uint64_t x)
{
	return prng_splitmix64(&x);
}

static inline uint64_t prng_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void prng_seed(struct prng *r, uint64_t seed);

/* xoshiro256**: the next 64 random bits. */
static inline uint64_t prng_next(struct prng *r)
{
	uint64_t *s = r->s;
	uint64_t result = prng_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = prng_rotl(s[3], 45);
	return result;
}

/* Uniform double in [0, 1) with 53 random bits. */
static inline double prng_double(struct prng *r)
{
	return (double)(prng_next(r) >> 11) * 0x1.0p-53;
}

/*
 * Uniform integer in [0, n) for n >= 1 (Lemire's multiply-high; the bias is
 * below n / 2^64, irrelevant here, and the mapping is exact and portable).
 */
static inline uint64_t prng_below(struct prng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)prng_next(r) * n) >> 64);
}

#endif /* HV_GUEST_LIB_PRNG_H */
