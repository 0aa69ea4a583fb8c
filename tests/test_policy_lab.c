/*
 * test_policy_lab.c - unit tests of the policy lab (tests/bench/lab*.c):
 * fault counts on the classic 12-access reference string against hand
 * computation (3 frames: MIN 7 faults, LRU 10, hvswap's CLOCK 9), the
 * write staging area, write-protect events, the dirty log as a reference
 * source, and on small generated traces the orderings that
 * must hold (MIN <= LRU, MIN <= every fault-only policy) and the
 * accounting (every access a hit or a fault, memory within the limit).
 * No timing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench_args.h"
#include "lab.h"
#include "trace.h"

static struct lab_counts replay(const struct lab_policy *pol,
				const struct lab_cfg *cfg, uint64_t npages,
				const uint32_t *pg, const uint8_t *wr, uint64_t n)
{
	uint64_t *next = lab_next_use(pg, n, npages);
	struct lab_counts c;
	double meta;

	assert_non_null(next);
	assert_int_equal(lab_replay(pol, cfg, npages, pg, wr, n, 0, next, &c,
				    &meta), 0);
	free(next);
	return c;
}

/* 1 2 3 4 1 2 5 1 2 3 4 5, all writes, 3 frames. */
static const uint32_t belady_pg[] = { 1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5 };
static const uint8_t all_wr[12] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };

static void test_hand_counts(void **state)
{
	struct lab_cfg cfg = { .limit = 3, .wp = true, .held_pct = 25 };
	struct lab_counts c;

	(void)state;
	/* MIN: 5 first touches + refaults of 3 and 4. */
	c = replay(&lab_min, &cfg, 6, belady_pg, all_wr, 12);
	assert_int_equal(c.faults[LF_FIRST], 5);
	assert_int_equal(c.faults[LF_MAJOR], 2);
	assert_int_equal(c.accesses, 12);
	/* LRU: 10 faults. */
	c = replay(&lab_lru, &cfg, 6, belady_pg, all_wr, 12);
	assert_int_equal(c.faults[LF_FIRST], 5);
	assert_int_equal(c.faults[LF_MAJOR], 5);
	/* CLOCK, hand over indices 0..5 from 0, REF set at fault:
	 *   4: clears 1 2 3, evicts 1 (hand 2)    {2 3 4r}
	 *   1: evicts 2 (hand 3)                  {3 4r 1r}
	 *   2: evicts 3 (hand 4)                  {4r 1r 2r}
	 *   5: clears 4 1 2, evicts 4 (hand 5)    {1 2 5r}
	 *   1, 2: hits
	 *   3: clears 5, evicts 1 (hand 2)        {2 5 3r}
	 *   4: evicts 2 (hand 3)                  {5 3r 4r}
	 *   5: hit
	 * -> 5 first touches, refaults of 1 2 3 4, six dirty evictions. */
	c = replay(&lab_clock, &cfg, 6, belady_pg, all_wr, 12);
	assert_int_equal(c.faults[LF_FIRST], 5);
	assert_int_equal(c.faults[LF_MAJOR], 4);
	assert_int_equal(c.writes, 6);
	assert_int_equal(c.evictions, 6);
}

/* limit 3, staging 1: 1w 2w 3w 4w 2r 1r.  Room for 4: the hand clears the
 * REFs of 1-3, evicts 1 into staging (memory still full), then 2, which
 * pushes 1 out of staging (its write is done).  2 comes back from staging
 * (a minor fault), 1 is read from the device.  Without staging (it takes
 * a frame) only 1 is evicted: 2 is a hit, 1 a read. */
static void test_staging(void **state)
{
	static const uint32_t pg[] = { 1, 2, 3, 4, 2, 1 };
	static const uint8_t wr[] = { 1, 1, 1, 1, 0, 0 };
	struct lab_cfg cfg = { .limit = 3, .stage = 1, .wp = true };
	struct lab_counts c;

	(void)state;
	c = replay(&lab_clock, &cfg, 5, pg, wr, 6);
	assert_int_equal(c.faults[LF_FIRST], 4);
	assert_int_equal(c.faults[LF_STAGE], 1);
	assert_int_equal(c.faults[LF_MAJOR], 1);
	cfg.stage = 0;
	c = replay(&lab_clock, &cfg, 5, pg, wr, 6);
	assert_int_equal(c.faults[LF_STAGE], 0);
	assert_int_equal(c.faults[LF_MAJOR], 1);
	assert_int_equal(c.evictions, 2);       /* 1, then 3 or 4 for 1 */
}

/* A clean swap-in is installed write-protected: its first write is seen. */
static void test_wp_event(void **state)
{
	static const uint32_t pg[] = { 1, 2, 3, 1, 1 };
	static const uint8_t wr[] = { 1, 1, 1, 0, 1 };
	struct lab_cfg cfg = { .limit = 2, .wp = true };
	struct lab_counts c;

	(void)state;
	c = replay(&lab_lru, &cfg, 4, pg, wr, 5);
	assert_int_equal(c.faults[LF_MAJOR], 1);
	assert_int_equal(c.wp, 1);
	cfg.wp = false;
	c = replay(&lab_lru, &cfg, 4, pg, wr, 5);
	assert_int_equal(c.wp, 0);
}

/* The dirty log as a reference: limit 3, 1w 2w 3w 4w 2w 5w 2r.  Room for
 * 4 clears 1-3 and evicts 1 (hand at 2).  The write to resident 2 is
 * invisible without the log, so room for 5 evicts 2 and 2r is a read; with
 * the log harvested after every access, 2 has its REF again and 3 goes. */
static void test_dirty_log(void **state)
{
	static const uint32_t pg[] = { 1, 2, 3, 4, 2, 5, 2 };
	static const uint8_t wr[] = { 1, 1, 1, 1, 1, 1, 0 };
	struct lab_cfg cfg = { .limit = 3, .wp = true };
	struct lab_counts c;

	(void)state;
	c = replay(&lab_clock, &cfg, 6, pg, wr, 7);
	assert_int_equal(c.faults[LF_MAJOR], 1);
	cfg.dlog = 1;
	c = replay(&lab_clock, &cfg, 6, pg, wr, 7);
	assert_int_equal(c.faults[LF_MAJOR], 0);
	cfg.dlog_fresh = true;
	c = replay(&lab_clock, &cfg, 6, pg, wr, 7);
	assert_int_equal(c.faults[LF_MAJOR], 0);
}

static void check_orderings(const char *const *argv, int argc)
{
	struct bench_args a;
	struct bench_trace t;
	struct lab_cfg cfg = { .wp = true, .held_pct = 25, .dlog = 0 };
	struct lab_counts c, min, lru;
	uint64_t *next, faults;
	unsigned i, d;

	assert_int_equal(bench_parse(argc, (char **)argv, 0, &a, NULL, NULL), 0);
	assert_int_equal(bench_trace_build(&a, &t), 0);
	next = lab_next_use(t.pg, t.n, a.p.pages);
	assert_non_null(next);
	cfg.limit = a.p.pages / 2;
	for (d = 0; d < 2; d++) {
		cfg.dlog = d ? 64 : 0;
		cfg.stage = d ? 16 : 0;
		assert_int_equal(lab_replay(&lab_min, &cfg, a.p.pages, t.pg, t.wr, t.n,
					    t.run_start, next, &min, NULL), 0);
		assert_int_equal(lab_replay(&lab_lru, &cfg, a.p.pages, t.pg, t.wr, t.n,
					    t.run_start, next, &lru, NULL), 0);
		assert_true(min.faults[LF_MAJOR] + min.faults[LF_FIRST] <=
			    lru.faults[LF_MAJOR] + lru.faults[LF_FIRST]);
		assert_true(min.faults[LF_MAJOR] > 0);
		for (i = 0; lab_policies[i]; i++) {
			assert_int_equal(lab_replay(lab_policies[i], &cfg, a.p.pages,
						    t.pg, t.wr, t.n, t.run_start,
						    next, &c, NULL), 0);
			faults = c.faults[LF_MAJOR] + c.faults[LF_FIRST] +
				 c.faults[LF_STAGE] + c.faults[LF_HELD];
			assert_int_equal(c.accesses, t.n - t.run_start);
			assert_true(faults <= c.accesses);
			/* MIN is optimal among all that keep <= limit pages. */
			assert_true(faults >= min.faults[LF_MAJOR] + min.faults[LF_FIRST]);
		}
	}
	free(next);
	bench_trace_free(&t);
}

static void test_orderings_zipf(void **state)
{
	static const char *const argv[] = { "ws=2M", "pattern=zipf", "skew=0.99",
					    "passes=4", "init=1" };

	(void)state;
	check_orderings(argv, 5);
}

static void test_orderings_scanhot(void **state)
{
	static const char *const argv[] = { "ws=2M", "pattern=scanhot", "hot=10",
					    "hotacc=50", "passes=4", "init=1",
					    "vcpus=2" };

	(void)state;
	check_orderings(argv, 7);
}

static void test_bad_config(void **state)
{
	struct lab l;
	struct lab_cfg cfg = { .limit = 4, .stage = 2, .gap = 1 };

	(void)state;
	assert_int_equal(lab_init(&l, &lab_clock, &cfg, 16, NULL), -EINVAL);
	cfg.limit = 0;
	assert_int_equal(lab_init(&l, &lab_clock, &cfg, 16, NULL), -EINVAL);
	cfg.limit = 8;
	cfg.stage = cfg.gap = 0;
	assert_int_equal(lab_init(&l, &lab_min, &cfg, 16, NULL), -EINVAL);
	assert_null(lab_policy_find("nope"));
	assert_ptr_equal(lab_policy_find("arc"), &lab_arc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hand_counts),
		cmocka_unit_test(test_staging),
		cmocka_unit_test(test_wp_event),
		cmocka_unit_test(test_dirty_log),
		cmocka_unit_test(test_orderings_zipf),
		cmocka_unit_test(test_orderings_scanhot),
		cmocka_unit_test(test_bad_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
