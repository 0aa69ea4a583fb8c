/*
 * perm.h - a keyed bijection of [0, n) used to scatter ranks over pages,
 * so the hot pages of a Zipf or hot/cold workload are not adjacent.
 *
 * A few invertible rounds (add key, multiply by odd, xorshift) over the
 * smallest power-of-two domain >= n, made a bijection of [0, n) by cycle
 * walking (re-apply until the value is < n; fewer than 2 rounds expected).
 */
#ifndef HV_GUEST_LIB_PERM_H
#define HV_GUEST_LIB_PERM_H

#include <stdint.h>

struct perm {
	uint64_t n;
	uint64_t mask;      /* 2^bits - 1 >= n - 1 */
	unsigned shift;     /* xorshift distance, >= 1 */
	uint64_t key[2];
	uint64_t mul[2];    /* odd multipliers */
};

void perm_init(struct perm *p, uint64_t n, uint64_t seed);
uint64_t perm_apply(const struct perm *p, uint64_t x);   /* x < n */

#endif /* HV_GUEST_LIB_PERM_H */
