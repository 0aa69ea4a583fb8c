/*
 * perm.c - keyed bijection of [0, n) (see perm.h).
 * Every step of round() is invertible modulo 2^bits, so round() permutes
 * [0, 2^bits) and cycle walking restricts it to a permutation of [0, n).
 */
#include "perm.h"
#include "prng.h"

void perm_init(struct perm *p, uint64_t n, uint64_t seed)
{
	uint64_t sm = seed ^ 0x5eed5ca77e12ull;
	unsigned bits = 1;

	while (bits < 64 && (1ull << bits) < n)
		bits++;
	p->n = n;
	p->mask = bits == 64 ? ~0ull : (1ull << bits) - 1;
	p->shift = (bits + 1) / 2;
	p->key[0] = prng_splitmix64(&sm);
	p->key[1] = prng_splitmix64(&sm);
	p->mul[0] = prng_splitmix64(&sm) | 1;
	p->mul[1] = prng_splitmix64(&sm) | 1;
}

static uint64_t round_fn(const struct perm *p, uint64_t x)
{
	int i;

	for (i = 0; i < 2; i++) {
		x = (x + p->key[i]) & p->mask;
		x = (x * p->mul[i]) & p->mask;
		x ^= x >> p->shift;
	}
	return x;
}

uint64_t perm_apply(const struct perm *p, uint64_t x)
{
	if (p->n <= 1)
		return 0;
	do
		x = round_fn(p, x);
	while (x >= p->n);
	return x;
}
