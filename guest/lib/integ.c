/*
 * integ.c - page stamps and their verification (contract in integ.h).
 * Pure functions over caller-supplied pages; no state.
 */
#include <stdbool.h>

#include "fill.h"
#include "integ.h"
#include "prng.h"

#define WORDS (INTEG_PAGE_SIZE / 8)
#define HDR_WORDS (sizeof(struct integ_hdr) / 8)
#define CSUM_WORD 3          /* index of integ_hdr.csum */
#define CSUM_MUL 0x9fb21c651e98df25ull

static uint64_t fill_seed(uint64_t gfn, uint64_t gen)
{
	return prng_mix64(gfn * 0xd6e8feb86659fd93ull ^ prng_mix64(gen));
}

/* h' = rotl(h ^ w, 23) * odd: bijective in h for fixed w and in w for h. */
static inline uint64_t csum_step(uint64_t h, uint64_t w)
{
	return prng_rotl(h ^ w, 23) * CSUM_MUL;
}

uint64_t integ_csum(const void *page)
{
	const uint64_t *w = page;
	uint64_t h = 0x243f6a8885a308d3ull;
	unsigned i;

	for (i = 0; i < WORDS; i++)
		h = csum_step(h, i == CSUM_WORD ? 0 : w[i]);
	return h ^ (h >> 29);
}

void integ_stamp(void *page, uint64_t gfn, uint64_t gen)
{
	uint64_t *w = page;
	uint64_t sm = fill_seed(gfn, gen);
	struct integ_hdr *h = page;
	unsigned i;

	h->magic = INTEG_MAGIC;
	h->gfn = gfn;
	h->gen = gen;
	h->csum = 0;
	for (i = HDR_WORDS; i < WORDS; i++)
		w[i] = prng_splitmix64(&sm);
	h->csum = integ_csum(page);
}

void integ_stamp_fill(void *page, uint64_t gfn, uint64_t gen,
		      const struct fill_spec *f)
{
	uint64_t *w = page;
	struct integ_hdr *h = page;
	unsigned i;

	if (!f || f->kind == FILL_RANDOM) {
		integ_stamp(page, gfn, gen);
		return;
	}
	if (f->kind == FILL_RATIO) {
		fill_page(f, fill_seed(gfn, gen), gfn, page);
	} else {
		for (i = 0; i < WORDS; i++)
			w[i] = 0;
		if (f->kind == FILL_SPARSE)
			w[HDR_WORDS + gfn % (WORDS - HDR_WORDS)] = fill_seed(gfn, gen) | 1;
	}
	h->magic = INTEG_MAGIC;
	h->gfn = gfn;
	h->gen = gen;
	h->csum = 0;
	h->csum = integ_csum(page);
}

static bool page_is_zero(const uint64_t *w)
{
	uint64_t acc = 0;
	unsigned i;

	for (i = 0; i < WORDS; i++)
		acc |= w[i];
	return !acc;
}

int integ_check(const void *page, uint64_t gfn, uint64_t expected_gen,
		struct integ_bad *out)
{
	const struct integ_hdr *h = page;
	struct integ_bad bad;

	bad.found_magic = h->magic;
	bad.found_gfn = h->gfn;
	bad.found_gen = h->gen;
	bad.found_csum = h->csum;
	bad.computed_csum = integ_csum(page);
	if (bad.computed_csum == h->csum && h->magic == INTEG_MAGIC &&
	    h->gfn == gfn && h->gen == expected_gen)
		bad.reason = INTEG_OK;
	else if (page_is_zero(page))
		bad.reason = INTEG_BAD_ZERO;
	else if (h->magic != INTEG_MAGIC)
		bad.reason = INTEG_BAD_MAGIC;
	else if (h->gfn != gfn)
		bad.reason = INTEG_BAD_GFN;
	else if (h->gen != expected_gen)
		bad.reason = INTEG_BAD_GEN;
	else
		bad.reason = INTEG_BAD_CSUM;
	if (out)
		*out = bad;
	return (int)bad.reason;
}

const char *integ_reason_name(int reason)
{
	switch (reason) {
	case INTEG_OK:        return "ok";
	case INTEG_BAD_ZERO:  return "zero page";
	case INTEG_BAD_MAGIC: return "bad magic";
	case INTEG_BAD_GFN:   return "wrong gfn";
	case INTEG_BAD_GEN:   return "wrong generation";
	case INTEG_BAD_CSUM:  return "checksum mismatch";
	default:              return "?";
	}
}
