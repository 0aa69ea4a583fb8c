/*
 * prng.c - seeding for the xoshiro256** generator (see prng.h).
 * Owns nothing global; a struct prng belongs to its caller.
 */
#include "prng.h"

void prng_seed(struct prng *r, uint64_t seed)
{
	uint64_t sm = seed;
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = prng_splitmix64(&sm);
	/* xoshiro must not start from all-zero state; splitmix never yields
	 * four zeros in a row, but be explicit about the invariant. */
	if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
		r->s[0] = 1;
}
