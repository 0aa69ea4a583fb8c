/*
 * fill.h - deterministic page contents for memtouch and its host replay
 * (the fill= argument), so swap benchmarks need not swap only what the
 * sequence writes.
 *
 *   sparse    (default, the old behaviour) init writes one word per page,
 *             the rest stays zero
 *   zeros     init writes the whole page with zeros
 *   random    every byte random (incompressible)
 *   ratio:R   "mixed": 64-byte chunks, some random, the others a per-page
 *             8-byte value repeated, spread evenly over the page; about
 *             4096 / (64 x R x 1.05) random chunks so that lz4 and zstd
 *             compress the page about R:1 (tests/test_fill.c measures it;
 *             1 <= R <= 64, up to two decimals)
 *
 * The contents depend only on (kind, R, seed, page index), never on the
 * vCPU or the build (integer-only, freestanding: guest and host agree).
 */
#ifndef HV_GUEST_LIB_FILL_H
#define HV_GUEST_LIB_FILL_H

#include <stdint.h>

#define FILL_PAGE 4096u
#define FILL_CHUNK 64u

enum fill_kind {
	FILL_SPARSE,
	FILL_ZEROS,
	FILL_RANDOM,
	FILL_RATIO,
};

struct fill_spec {
	enum fill_kind kind;
	unsigned ratio_x100;    /* FILL_RATIO: target ratio x 100, 100..6400 */
	unsigned rand_chunks;   /* FILL_RATIO: random chunks per page, 1..64 */
};

/* "sparse", "zeros", "random", "ratio:R".  Returns 0 or -22 (-EINVAL). */
int fill_parse(const char *s, struct fill_spec *out);

/* Write the FILL_PAGE bytes of page number idx (8-byte aligned).  Not for
 * FILL_SPARSE (the caller writes its one word). */
void fill_page(const struct fill_spec *f, uint64_t seed, uint64_t idx,
	       uint64_t *page);

#endif /* HV_GUEST_LIB_FILL_H */
