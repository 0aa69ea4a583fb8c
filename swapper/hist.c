/*
 * hist.c - lock-free log-linear latency histogram (see hist.h).
 *
 * Owns: nothing beyond the caller-embedded struct hist.  No locks: every
 * field is an atomic updated with relaxed ordering; min/max use CAS loops.
 *
 * Invariants: min == UINT64_MAX and max == 0 while empty; a bucket b covers
 * [hist_bucket_lo(b), hist_bucket_hi(b)], buckets are contiguous and ordered.
 */
#include <json-c/json.h>

#include "hist.h"

#define RLX memory_order_relaxed

unsigned int hist_bucket(uint64_t ns)
{
	unsigned int e;

	if (ns < HIST_SUB)
		return (unsigned int)ns;
	e = 63u - (unsigned int)__builtin_clzll(ns);
	if (e >= HIST_MAX_EXP)
		return HIST_NBUCKETS - 1;
	return HIST_SUB + (e - HIST_SUB_BITS) * HIST_SUB +
	       (unsigned int)((ns >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

uint64_t hist_bucket_lo(unsigned int b)
{
	unsigned int k, e;

	if (b < HIST_SUB)
		return b;
	k = b - HIST_SUB;
	e = k / HIST_SUB + HIST_SUB_BITS;
	return (1ull << e) + ((uint64_t)(k % HIST_SUB) << (e - HIST_SUB_BITS));
}

uint64_t hist_bucket_hi(unsigned int b)
{
	if (b < HIST_SUB)
		return b;
	if (b == HIST_NBUCKETS - 1)
		return UINT64_MAX;
	return hist_bucket_lo(b + 1) - 1;
}

void hist_reset(struct hist *h)
{
	unsigned int i;

	for (i = 0; i < HIST_NBUCKETS; i++)
		atomic_store_explicit(&h->buckets[i], 0, RLX);
	atomic_store_explicit(&h->count, 0, RLX);
	atomic_store_explicit(&h->sum, 0, RLX);
	atomic_store_explicit(&h->min, UINT64_MAX, RLX);
	atomic_store_explicit(&h->max, 0, RLX);
}

void hist_init(struct hist *h)
{
	hist_reset(h);
}

void hist_record(struct hist *h, uint64_t ns)
{
	uint64_t cur;

	atomic_fetch_add_explicit(&h->buckets[hist_bucket(ns)], 1, RLX);
	atomic_fetch_add_explicit(&h->count, 1, RLX);
	atomic_fetch_add_explicit(&h->sum, ns, RLX);
	cur = atomic_load_explicit(&h->min, RLX);
	while (ns < cur &&
	       !atomic_compare_exchange_weak_explicit(&h->min, &cur, ns, RLX, RLX))
		;
	cur = atomic_load_explicit(&h->max, RLX);
	while (ns > cur &&
	       !atomic_compare_exchange_weak_explicit(&h->max, &cur, ns, RLX, RLX))
		;
}

uint64_t hist_count(const struct hist *h)
{
	return atomic_load_explicit(&h->count, RLX);
}

uint64_t hist_sum(const struct hist *h)
{
	return atomic_load_explicit(&h->sum, RLX);
}

uint64_t hist_min(const struct hist *h)
{
	uint64_t v = atomic_load_explicit(&h->min, RLX);

	return v == UINT64_MAX ? 0 : v;
}

uint64_t hist_max(const struct hist *h)
{
	return atomic_load_explicit(&h->max, RLX);
}

uint64_t hist_mean(const struct hist *h)
{
	uint64_t n = hist_count(h);

	return n ? hist_sum(h) / n : 0;
}

/* Snapshot the buckets; returns their total. */
static uint64_t snapshot(const struct hist *h, uint64_t *b)
{
	uint64_t total = 0;
	unsigned int i;

	for (i = 0; i < HIST_NBUCKETS; i++) {
		b[i] = atomic_load_explicit(&h->buckets[i], RLX);
		total += b[i];
	}
	return total;
}

static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	uint64_t b[HIST_NBUCKETS], total, rank, seen = 0, lo, hi;
	unsigned int i;
	double exact;

	total = snapshot(h, b);
	if (!total)
		return 0;
	if (!(p > 0))
		return hist_min(h);
	if (p >= 100)
		return hist_max(h);
	exact = p / 100.0 * (double)total;
	rank = (uint64_t)exact;
	if ((double)rank < exact || rank == 0)
		rank++;                 /* ceil, at least 1 */
	for (i = 0; i < HIST_NBUCKETS; i++) {
		seen += b[i];
		if (seen >= rank)
			break;
	}
	if (i == HIST_NBUCKETS)
		return hist_max(h);
	lo = hist_bucket_lo(i);
	/* The last bucket also takes everything above 2^HIST_MAX_EXP. */
	hi = i == HIST_NBUCKETS - 1 ? (1ull << HIST_MAX_EXP) - 1 : hist_bucket_hi(i);
	return clamp(lo + (hi - lo) / 2, hist_min(h), hist_max(h));
}

static int add_u64(struct json_object *o, const char *key, uint64_t v)
{
	struct json_object *n = json_object_new_uint64(v);

	if (!n)
		return -1;
	return json_object_object_add(o, key, n);
}

struct json_object *hist_to_json(const struct hist *h)
{
	struct json_object *o = json_object_new_object();
	int err = 0;

	if (!o)
		return NULL;
	err |= add_u64(o, "count", hist_count(h));
	err |= add_u64(o, "mean_ns", hist_mean(h));
	err |= add_u64(o, "min_ns", hist_min(h));
	err |= add_u64(o, "max_ns", hist_max(h));
	err |= add_u64(o, "p50_ns", hist_percentile(h, 50));
	err |= add_u64(o, "p90_ns", hist_percentile(h, 90));
	err |= add_u64(o, "p99_ns", hist_percentile(h, 99));
	err |= add_u64(o, "p999_ns", hist_percentile(h, 99.9));
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}
