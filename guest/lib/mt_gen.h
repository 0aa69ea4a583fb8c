/*
 * mt_gen.h - the memtouch access-sequence generator.
 *
 * Shared by the memtouch guest and by host-side replay (hv_gen_host): for the
 * same (params, vcpu, nvcpus) both builds yield exactly the same sequence of
 * (page, is_write) pairs.
 *
 * Each vCPU works on a range of the working set: the whole set when
 * params.shared, otherwise its slice [vcpu*pages/nvcpus, (vcpu+1)*pages/
 * nvcpus).  It makes passes * (pages in its range) accesses in total.
 * Patterns:
 *   MT_SEQ      each page of the range once per pass, in order (shared mode
 *               starts each vCPU at a different offset so they do not march
 *               in lockstep).
 *   MT_UNIFORM  independent uniform pages.
 *   MT_ZIPF     Zipf(skew) ranks scattered over the range by a fixed keyed
 *               bijection (perm.h), so hot pages are not adjacent.
 *   MT_HOTCOLD  hot_access_pct% of accesses go uniformly to a hot set of
 *               hot_pct% of the range, the rest uniformly to the others.
 *   MT_SCANHOT  hot_access_pct% of accesses go uniformly to the hot set (as
 *               HOTCOLD), the rest scan the whole range in address order,
 *               round and round (a loop larger than memory mixed with a hot
 *               set: the scan-resistance case of a replacement policy).
 * Phases (phase_len > 0): every phase_len accesses of a vCPU, the rank ->
 * page mapping of ZIPF and HOTCOLD rotates by the hot-set size, so the hot
 * set moves to pages that were cold.  The scatter permutation depends only
 * on seed (and the range), so vCPUs sharing a range agree on what is hot;
 * the random stream is per vCPU.
 */
#ifndef HV_GUEST_LIB_MT_GEN_H
#define HV_GUEST_LIB_MT_GEN_H

#include <stdbool.h>
#include <stdint.h>

#include "perm.h"
#include "prng.h"
#include "zipf.h"

#define MT_PAGE_SIZE 4096u

enum mt_pattern {
	MT_SEQ,
	MT_UNIFORM,
	MT_ZIPF,
	MT_HOTCOLD,
	MT_SCANHOT,
	MT_NR_PATTERNS
};

struct mt_params {
	uint64_t pages;            /* working set in 4 KiB pages */
	enum mt_pattern pattern;
	double skew;               /* Zipf exponent, > 0 */
	double write_ratio;        /* 0..1 */
	unsigned passes;
	unsigned hot_pct;          /* hot set, % of the range (1..100) */
	unsigned hot_access_pct;   /* % of accesses to the hot set (0..100) */
	uint64_t phase_len;        /* accesses per phase, 0 = no phases */
	uint64_t seed;
	bool shared;               /* all vCPUs share the range vs partition */
};

struct mt_gen {
	struct mt_params p;
	uint64_t lo;               /* this vCPU's range: [lo, lo + n) */
	uint64_t n;
	uint64_t total;            /* accesses to make: passes * n */
	uint64_t count;            /* accesses made so far */
	uint64_t seq_start;        /* MT_SEQ start offset within the range */
	uint64_t hot_n;            /* hot-set size in pages, 1..n */
	uint64_t shift;            /* current phase rotation, < n */
	uint64_t phase_left;       /* accesses left in this phase */
	uint64_t scan_pos;         /* MT_SCANHOT: scan accesses made so far */
	struct prng rng;
	struct perm perm;
	struct zipf zipf;
};

/* Defaults: zipf 0.99, rw 0.5, 3 passes, hot 10%/90%, no phases, seed 1. */
void mt_params_default(struct mt_params *p);

/* Returns 0, or -22 (-EINVAL) for bad params (pages/nvcpus/ratios/skew). */
int mt_gen_init(struct mt_gen *g, const struct mt_params *p,
		unsigned vcpu, unsigned nvcpus);

/*
 * The next access: *page is relative to the working-set start (< pages).
 * Returns false (and leaves outputs alone) once total accesses were made.
 */
bool mt_gen_next(struct mt_gen *g, uint64_t *page, bool *is_write);

/* Which pass the next access belongs to (0-based). */
static inline uint64_t mt_gen_pass(const struct mt_gen *g)
{
	return g->n ? g->count / g->n : 0;
}

/*
 * The u64 word within the page that access number seq (0-based, per vCPU)
 * touches: spread over the page so accesses do not all hit one cache line.
 */
static inline unsigned mt_word(uint64_t page, uint64_t seq)
{
	return (unsigned)((page * 67 + seq * 13) & (MT_PAGE_SIZE / 8 - 1));
}

/*
 * Fold one access into a running hash of a sequence (start from
 * MT_SEQ_HASH_INIT).  memtouch reports vCPU 0's as the metric seq_hash0
 * (low 52 bits, exact in a double), so a host replay can prove it generated
 * the same sequence as the guest.
 */
#define MT_SEQ_HASH_INIT 0xcbf29ce484222325ull
static inline uint64_t mt_seq_hash(uint64_t h, uint64_t page, bool is_write)
{
	return (h ^ (page << 1 | (uint64_t)is_write)) * 0x100000001b3ull;
}

/* "seq", "uniform", "zipf", "hotcold", "scanhot"; parse returns -22 if unknown. */
const char *mt_pattern_name(enum mt_pattern pat);
int mt_pattern_parse(const char *s, enum mt_pattern *out);

#endif /* HV_GUEST_LIB_MT_GEN_H */
