/*
 * hist.h - a lock-free log-linear latency histogram, in nanoseconds.
 *
 * Buckets: values 0..31 exactly, then 32 sub-buckets per power of two
 * (HDR-style, 5 mantissa bits): a bucket is at most 1/32 (~3.1%) of its
 * value wide, and percentiles report the bucket midpoint (error <= ~1.6%).
 * Values from 2^37 ns (~137 s) up share the last bucket; min/max stay exact.
 *
 * hist_record() may run on many threads at once (relaxed atomics).  Readers
 * see a consistent-enough snapshot: each field is read atomically, but a
 * record racing with a read may be counted in some fields and not others.
 * hist_reset() racing with records may lose those records.
 * The struct is embeddable: hist_init() it, no allocation.
 */
#ifndef HVSWAP_SWAPPER_HIST_H
#define HVSWAP_SWAPPER_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_MAX_EXP 37
#define HIST_NBUCKETS (HIST_SUB + (HIST_MAX_EXP - HIST_SUB_BITS) * HIST_SUB)

struct hist {
	_Atomic uint64_t buckets[HIST_NBUCKETS];
	_Atomic uint64_t count, sum, min, max;
};

struct json_object;

void hist_init(struct hist *h);
void hist_reset(struct hist *h);
void hist_record(struct hist *h, uint64_t ns);

uint64_t hist_count(const struct hist *h);
uint64_t hist_sum(const struct hist *h);
uint64_t hist_min(const struct hist *h);     /* 0 when empty */
uint64_t hist_max(const struct hist *h);
uint64_t hist_mean(const struct hist *h);    /* 0 when empty */
/* p in [0, 100]; 0 when empty; p = 0 gives min, p = 100 gives max. */
uint64_t hist_percentile(const struct hist *h, double p);

/* {"count","mean_ns","min_ns","max_ns","p50_ns","p90_ns","p99_ns","p999_ns"};
 * NULL on allocation failure.  The caller owns the reference. */
struct json_object *hist_to_json(const struct hist *h);

/* Bucket helpers (exposed for tests). */
unsigned int hist_bucket(uint64_t ns);
uint64_t hist_bucket_lo(unsigned int b);
uint64_t hist_bucket_hi(unsigned int b);   /* inclusive */

#endif
