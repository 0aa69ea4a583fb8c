/*
 * test_gen.c - unit tests for guest/lib built for the host (hv_gen_host):
 * the PRNG, the exp/log family, the Zipf sampler, the scatter permutation,
 * the memtouch sequence generator and the integrity stamps; plus a sanity
 * check of the embedded guest table (hv_guests).
 *
 * The golden values below were produced by the guest-flag build of
 * guest/lib (freestanding, -O2 -ffp-contract=off, see guest/CMakeLists.txt),
 * so they also pin "host replay == guest sequence".  If the generator is
 * changed on purpose, regenerate them (run with HV_TEST_GEN_PRINT=1).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hvswap/guest_abi.h"
#include "lib/fill.h"
#include "lib/fmath.h"
#include "lib/integ.h"
#include "lib/mt_gen.h"
#include "lib/perm.h"
#include "lib/prng.h"
#include "lib/zipf.h"

/* ---- helpers ----------------------------------------------------------- */

static struct mt_params params(uint64_t pages, enum mt_pattern pat,
			       unsigned passes)
{
	struct mt_params p;

	mt_params_default(&p);
	p.pages = pages;
	p.pattern = pat;
	p.passes = passes;
	return p;
}

/* Access counts per page of one vCPU's sequence; returns the total. */
static uint64_t count_accesses(const struct mt_params *p, unsigned vcpu,
			       unsigned nvcpus, uint32_t *counts,
			       uint64_t *writes)
{
	struct mt_gen g;
	uint64_t page, n = 0;
	bool w;

	assert_int_equal(mt_gen_init(&g, p, vcpu, nvcpus), 0);
	if (writes)
		*writes = 0;
	while (mt_gen_next(&g, &page, &w)) {
		assert_true(page < p->pages);
		counts[page]++;
		if (w && writes)
			(*writes)++;
		n++;
	}
	return n;
}

static uint64_t seq_hash(const struct mt_params *p, unsigned vcpu,
			 unsigned nvcpus)
{
	struct mt_gen g;
	uint64_t page, h = MT_SEQ_HASH_INIT;
	bool w;

	assert_int_equal(mt_gen_init(&g, p, vcpu, nvcpus), 0);
	while (mt_gen_next(&g, &page, &w))
		h = mt_seq_hash(h, page, w);
	return h;
}

static bool print_golden(void)
{
	return getenv("HV_TEST_GEN_PRINT") != NULL;
}

/* ---- prng --------------------------------------------------------------- */

static void test_prng_splitmix_reference(void **state)
{
	uint64_t s = 0;

	/* Published splitmix64 outputs for seed 0. */
	assert_true(prng_splitmix64(&s) == 0xe220a8397b1dcdafull);
	assert_true(prng_splitmix64(&s) == 0x6e789e6aa1b965f4ull);
	assert_true(prng_splitmix64(&s) == 0x06c45d188009454full);
}

static void test_prng_deterministic(void **state)
{
	struct prng a, b, c;
	int i, same_c = 0;

	prng_seed(&a, 42);
	prng_seed(&b, 42);
	prng_seed(&c, 43);
	for (i = 0; i < 1000; i++) {
		uint64_t x = prng_next(&a), y = prng_next(&b), z = prng_next(&c);

		assert_true(x == y);
		same_c += x == z;
	}
	assert_true(same_c < 2);
}

static void test_prng_ranges(void **state)
{
	struct prng r;
	unsigned hist[10] = { 0 };
	int i;

	prng_seed(&r, 7);
	for (i = 0; i < 100000; i++) {
		double d = prng_double(&r);
		uint64_t k = prng_below(&r, 10);

		assert_true(d >= 0.0 && d < 1.0);
		assert_true(k < 10);
		hist[k]++;
	}
	for (i = 0; i < 10; i++)
		assert_true(hist[i] > 9400 && hist[i] < 10600);
	assert_true(prng_below(&r, 1) == 0);
}

/* ---- fmath -------------------------------------------------------------- */

static void check_rel(double got, double want, double tol, const char *what,
		      double x)
{
	double err = want == 0 ? fabs(got) : fabs((got - want) / want);

	if (!(err <= tol))
		fail_msg("%s(%.17g) = %.17g, libm %.17g, rel err %g", what, x,
			 got, want, err);
}

static void test_fmath_vs_libm(void **state)
{
	double x;

	for (x = -700; x < 700; x += 0.731)
		check_rel(fmath_exp(x), exp(x), 4e-16, "exp", x);
	for (x = -0.5; x < 0.5; x += 0.00917)
		check_rel(fmath_expm1(x), expm1(x), 4e-16, "expm1", x);
	check_rel(fmath_expm1(1e-12), expm1(1e-12), 4e-16, "expm1", 1e-12);
	for (x = 1e-300; x < 1e300; x *= 3.7)
		check_rel(fmath_log(x), log(x), 4e-16, "log", x);
	for (x = 0.5; x < 2.0; x += 0.00731)
		check_rel(fmath_log(x), log(x), 1e-15, "log", x);
	check_rel(fmath_log(4.9e-324), log(4.9e-324), 4e-16, "log", 4.9e-324);
	for (x = -0.9; x < 3; x += 0.0173)
		check_rel(fmath_log1p(x), log1p(x), 1e-15, "log1p", x);
	check_rel(fmath_log1p(1e-17), log1p(1e-17), 1e-15, "log1p", 1e-17);
	check_rel(fmath_pow(10007.5, -0.99), pow(10007.5, -0.99), 1e-14, "pow", 0);
	assert_true(fmath_exp(1000) == INFINITY);
	assert_true(fmath_exp(-1000) == 0.0);
	assert_true(fmath_log(0) == -INFINITY);
	assert_true(isnan(fmath_log(-1)));
	assert_true(fmath_exp(0) == 1.0 && fmath_log(1) == 0.0);
}

/* ---- zipf --------------------------------------------------------------- */

static void zipf_check_distribution(double s, uint64_t n)
{
	enum { SAMPLES = 400000 };
	struct zipf z;
	struct prng r;
	uint32_t *cnt = calloc(n, sizeof(*cnt));
	double norm = 0;
	uint64_t k;
	int i;

	assert_non_null(cnt);
	assert_int_equal(zipf_init(&z, n, s), 0);
	prng_seed(&r, 99);
	for (i = 0; i < SAMPLES; i++) {
		k = zipf_sample(&z, &r);
		assert_true(k < n);
		cnt[k]++;
	}
	for (k = 1; k <= n; k++)
		norm += pow((double)k, -s);
	for (k = 0; k < 4 && k < n; k++) {
		double want = SAMPLES * pow((double)(k + 1), -s) / norm;

		if (fabs(cnt[k] - want) > 0.05 * want + 60)
			fail_msg("zipf s=%g n=%lu rank %lu: %u samples, expected %.0f",
				 s, (unsigned long)n, (unsigned long)k, cnt[k], want);
	}
	for (k = 1; k < n && k < 8; k++)
		assert_true(cnt[0] > cnt[k]);
	free(cnt);
}

static void test_zipf_distribution(void **state)
{
	zipf_check_distribution(0.99, 1000);
	zipf_check_distribution(1.0, 1000);
	zipf_check_distribution(0.5, 1000);
	zipf_check_distribution(1.5, 100000);
	zipf_check_distribution(2.0, 3);
}

static void test_zipf_edges(void **state)
{
	struct zipf z;
	struct prng r;
	int i;

	prng_seed(&r, 1);
	assert_int_equal(zipf_init(&z, 1, 0.99), 0);
	for (i = 0; i < 100; i++)
		assert_true(zipf_sample(&z, &r) == 0);
	assert_int_equal(zipf_init(&z, 2, 0.99), 0);
	for (i = 0; i < 1000; i++)
		assert_true(zipf_sample(&z, &r) < 2);
	assert_int_equal(zipf_init(&z, 1ull << 40, 0.99), 0);
	for (i = 0; i < 1000; i++)
		assert_true(zipf_sample(&z, &r) < 1ull << 40);
	assert_int_equal(zipf_init(&z, 0, 0.99), -22);
	assert_int_equal(zipf_init(&z, 10, 0.0), -22);
	assert_int_equal(zipf_init(&z, 10, -1.0), -22);
	assert_int_equal(zipf_init(&z, 10, NAN), -22);
}

/* ---- perm --------------------------------------------------------------- */

static void test_perm_bijection(void **state)
{
	static const uint64_t sizes[] = { 1, 2, 3, 5, 64, 1000, 4097, 65536, 100003 };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t n = sizes[i], x, fixed = 0;
		uint8_t *seen = calloc(n, 1);
		struct perm p;

		assert_non_null(seen);
		perm_init(&p, n, 12345);
		for (x = 0; x < n; x++) {
			uint64_t y = perm_apply(&p, x);

			assert_true(y < n);
			assert_false(seen[y]);
			seen[y] = 1;
			fixed += y == x;
		}
		if (n >= 1000)   /* it actually scatters */
			assert_true(fixed < n / 100);
		free(seen);
	}
}

/* ---- mt_gen ------------------------------------------------------------- */

static void test_mt_deterministic(void **state)
{
	struct mt_params p = params(5000, MT_ZIPF, 2);
	struct mt_params q;

	p.phase_len = 1000;
	assert_true(seq_hash(&p, 1, 3) == seq_hash(&p, 1, 3));
	assert_true(seq_hash(&p, 0, 3) != seq_hash(&p, 1, 3));
	q = p;
	q.seed = 2;
	assert_true(seq_hash(&p, 0, 1) != seq_hash(&q, 0, 1));
}

static void test_mt_seq_covers_once_per_pass(void **state)
{
	struct mt_params p = params(1001, MT_SEQ, 3);
	uint32_t *cnt = calloc(p.pages, sizeof(*cnt));
	struct mt_gen g;
	uint64_t page, prev = 0, i = 0;
	bool w;
	unsigned v;

	assert_non_null(cnt);
	for (v = 0; v < 3; v++)
		count_accesses(&p, v, 3, cnt, NULL);
	for (i = 0; i < p.pages; i++)
		assert_int_equal(cnt[i], 3);
	/* In order within a partition, each pass a complete sweep. */
	assert_int_equal(mt_gen_init(&g, &p, 1, 3), 0);
	for (i = 0; mt_gen_next(&g, &page, &w); i++) {
		if (i % g.n)
			assert_true(page == prev + 1);
		else
			assert_true(page == g.lo);
		prev = page;
	}
	/* Shared: every vCPU sweeps everything once per pass. */
	p.shared = true;
	for (v = 0; v < 4; v++) {
		memset(cnt, 0, p.pages * sizeof(*cnt));
		assert_int_equal(count_accesses(&p, v, 4, cnt, NULL), 3 * p.pages);
		for (i = 0; i < p.pages; i++)
			assert_int_equal(cnt[i], 3);
	}
	free(cnt);
}

static void test_mt_partitions(void **state)
{
	static const unsigned nvs[] = { 1, 2, 3, 7, 64 };
	size_t k;

	for (k = 0; k < sizeof(nvs) / sizeof(nvs[0]); k++) {
		unsigned nv = nvs[k], v;
		struct mt_params p = params(10007, MT_UNIFORM, 2);
		uint64_t next_lo = 0;
		struct mt_gen g;

		for (v = 0; v < nv; v++) {
			uint32_t *cnt = calloc(p.pages, sizeof(*cnt));
			uint64_t i, total;

			assert_int_equal(mt_gen_init(&g, &p, v, nv), 0);
			assert_true(g.lo == next_lo);   /* adjacent, disjoint */
			next_lo = g.lo + g.n;
			total = count_accesses(&p, v, nv, cnt, NULL);
			assert_true(total == 2 * g.n);
			for (i = 0; i < p.pages; i++)
				if (cnt[i])
					assert_true(i >= g.lo && i < g.lo + g.n);
			free(cnt);
		}
		assert_true(next_lo == p.pages);   /* covers the set */
	}
}

static void test_mt_tiny_partition(void **state)
{
	struct mt_params p = params(3, MT_ZIPF, 2);
	uint32_t cnt[3] = { 0 };
	uint64_t total = 0;
	unsigned v;

	for (v = 0; v < 8; v++)
		total += count_accesses(&p, v, 8, cnt, NULL);
	assert_true(total == 6);
	assert_true(cnt[0] == 2 && cnt[1] == 2 && cnt[2] == 2);
}

static void test_mt_uniform(void **state)
{
	struct mt_params p = params(200, MT_UNIFORM, 1000);
	uint32_t cnt[200] = { 0 };
	unsigned i;

	assert_true(count_accesses(&p, 0, 1, cnt, NULL) == 200000);
	for (i = 0; i < 200; i++)       /* mean 1000, sd ~32 */
		assert_true(cnt[i] > 840 && cnt[i] < 1160);
}

static int cmp_desc(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

static void test_mt_zipf_skew(void **state)
{
	struct mt_params p = params(10000, MT_ZIPF, 20);
	uint32_t *cnt = calloc(p.pages, sizeof(*cnt));
	uint64_t total, top = 0, i, hottest = 0, adjacent = 0;
	struct mt_gen g;

	assert_non_null(cnt);
	p.skew = 0.99;
	total = count_accesses(&p, 0, 1, cnt, NULL);
	assert_int_equal(mt_gen_init(&g, &p, 0, 1), 0);
	/* rank 0 maps to perm(0) and is the most frequent page */
	for (i = 0; i < p.pages; i++)
		if (cnt[i] > cnt[hottest])
			hottest = i;
	assert_true(hottest == perm_apply(&g.perm, 0));
	/* hot pages are scattered, not adjacent */
	for (i = 1; i < 20; i++) {
		uint64_t a = perm_apply(&g.perm, i - 1), b = perm_apply(&g.perm, i);

		adjacent += a + 1 == b || b + 1 == a;
	}
	assert_true(adjacent < 3);
	qsort(cnt, p.pages, sizeof(*cnt), cmp_desc);
	for (i = 0; i < p.pages / 100; i++)
		top += cnt[i];
	/* theory for s=0.99, n=10^4: the top 1% get ~52% of the accesses */
	assert_true(top > total * 45 / 100 && top < total * 60 / 100);
	free(cnt);
}

static void test_mt_write_ratio(void **state)
{
	static const double ratios[] = { 0.0, 0.1, 0.5, 0.9, 1.0 };
	struct mt_params p = params(1000, MT_UNIFORM, 100);
	uint32_t *cnt = calloc(p.pages, sizeof(*cnt));
	size_t i;

	assert_non_null(cnt);
	for (i = 0; i < sizeof(ratios) / sizeof(ratios[0]); i++) {
		uint64_t w, n;

		p.write_ratio = ratios[i];
		n = count_accesses(&p, 0, 1, cnt, &w);
		if (ratios[i] == 0.0)
			assert_true(w == 0);
		else if (ratios[i] == 1.0)
			assert_true(w == n);
		else
			assert_true(fabs((double)w / n - ratios[i]) < 0.01);
	}
	free(cnt);
}

static void test_mt_hotcold(void **state)
{
	struct mt_params p = params(5000, MT_HOTCOLD, 40);
	uint32_t *cnt = calloc(p.pages, sizeof(*cnt));
	uint8_t *hot = calloc(p.pages, 1);
	uint64_t total, in_hot = 0, i;
	struct mt_gen g;

	assert_non_null(cnt);
	assert_non_null(hot);
	p.hot_pct = 10;
	p.hot_access_pct = 90;
	assert_int_equal(mt_gen_init(&g, &p, 0, 1), 0);
	assert_true(g.hot_n == 500);
	for (i = 0; i < g.hot_n; i++)
		hot[perm_apply(&g.perm, i)] = 1;
	total = count_accesses(&p, 0, 1, cnt, NULL);
	for (i = 0; i < p.pages; i++)
		if (hot[i])
			in_hot += cnt[i];
	assert_true(fabs((double)in_hot / total - 0.9) < 0.01);
	free(cnt);
	free(hot);
}

static void test_mt_phases_move_hot_set(void **state)
{
	struct mt_params p = params(1000, MT_HOTCOLD, 20);
	uint32_t ph0[1000] = { 0 }, ph1[1000] = { 0 };
	uint64_t page, i, hot0 = 0, hot0_in_ph1 = 0;
	struct mt_gen g;
	bool w;

	p.hot_pct = 10;
	p.hot_access_pct = 100;
	p.phase_len = 10000;
	assert_int_equal(mt_gen_init(&g, &p, 0, 1), 0);
	for (i = 0; mt_gen_next(&g, &page, &w); i++) {
		if (i < 10000)
			ph0[page]++;
		else if (i < 20000)
			ph1[page]++;
	}
	for (i = 0; i < 1000; i++) {
		hot0 += ph0[i] > 0;
		if (ph0[i] && ph1[i])
			hot0_in_ph1++;
	}
	assert_true(hot0 == 100);         /* 10000 draws over 100 hot pages */
	assert_true(hot0_in_ph1 == 0);    /* phase 1's hot set is disjoint */
}

static void test_mt_bad_params(void **state)
{
	struct mt_params p = params(100, MT_ZIPF, 1);
	struct mt_gen g;
	enum mt_pattern pat;

	assert_int_equal(mt_gen_init(&g, &p, 2, 2), -22);
	assert_int_equal(mt_gen_init(&g, &p, 0, 0), -22);
	p.write_ratio = 1.5;
	assert_int_equal(mt_gen_init(&g, &p, 0, 1), -22);
	p.write_ratio = 0.5;
	p.skew = 0;
	assert_int_equal(mt_gen_init(&g, &p, 0, 1), -22);
	p.skew = 1;
	p.hot_pct = 0;
	assert_int_equal(mt_gen_init(&g, &p, 0, 1), -22);
	p.hot_pct = 10;
	p.pages = 0;
	assert_int_equal(mt_gen_init(&g, &p, 0, 1), -22);
	assert_int_equal(mt_pattern_parse("hotcold", &pat), 0);
	assert_int_equal(pat, MT_HOTCOLD);
	assert_int_equal(mt_pattern_parse("zipfx", &pat), -22);
	assert_string_equal(mt_pattern_name(MT_SEQ), "seq");
}

/*
 * Golden sequence hashes, from the guest-flag build of guest/lib.  Any
 * difference means the host replay no longer matches what guests generate.
 */
static void test_mt_golden(void **state)
{
	static const struct {
		enum mt_pattern pat;
		double skew;
		uint64_t want;
	} gold[] = {
		{ MT_SEQ, 0.99, 0x14df8ed37e99894aull },
		{ MT_UNIFORM, 0.99, 0x2e26d8dbaa1efe90ull },
		{ MT_ZIPF, 0.99, 0x2f7a99892efacfa8ull },
		{ MT_ZIPF, 1.0, 0x51efbc338efee4e8ull },
		{ MT_ZIPF, 1.3, 0x81a2a407e334adceull },
		{ MT_HOTCOLD, 0.99, 0x4d535e73848408d0ull },
	};
	size_t i;

	for (i = 0; i < sizeof(gold) / sizeof(gold[0]); i++) {
		struct mt_params p = params(40000, gold[i].pat, 3);
		uint64_t h;

		p.skew = gold[i].skew;
		p.write_ratio = 0.3;
		p.phase_len = 7777;
		p.seed = 0x1234;
		h = seq_hash(&p, 1, 2);
		if (print_golden())
			printf("golden[%zu] = 0x%016llxull\n", i, (unsigned long long)h);
		else
			assert_true(h == gold[i].want);
	}
}

/* ---- integrity ---------------------------------------------------------- */

static void test_integ_roundtrip(void **state)
{
	uint64_t page[512], copy[512];
	struct integ_bad bad;

	integ_stamp(page, 0x1234, 7);
	assert_int_equal(integ_check(page, 0x1234, 7, &bad), INTEG_OK);
	assert_int_equal(bad.reason, INTEG_OK);
	integ_stamp(copy, 0x1234, 7);
	assert_memory_equal(page, copy, sizeof(page));     /* deterministic */
	integ_stamp(copy, 0x1234, 8);
	assert_memory_not_equal(page + 4, copy + 4, sizeof(page) - 32);
	integ_stamp(copy, 0x1235, 7);
	assert_memory_not_equal(page + 4, copy + 4, sizeof(page) - 32);
}

static void test_integ_detects(void **state)
{
	uint64_t page[512];
	struct integ_bad bad;
	unsigned w, b;

	integ_stamp(page, 0x1234, 7);
	assert_int_equal(integ_check(page, 0x1235, 7, &bad), INTEG_BAD_GFN);
	assert_true(bad.found_gfn == 0x1234);
	assert_int_equal(integ_check(page, 0x1234, 6, &bad), INTEG_BAD_GEN);
	assert_true(bad.found_gen == 7);
	/* every single-bit flip anywhere in the page is caught */
	for (w = 0; w < 512; w++) {
		for (b = 0; b < 64; b += 7) {
			int r;

			page[w] ^= 1ull << b;
			r = integ_check(page, 0x1234, 7, NULL);
			page[w] ^= 1ull << b;
			if (r == INTEG_OK)
				fail_msg("flip of word %u bit %u not detected", w, b);
			if (w >= 4)
				assert_int_equal(r, INTEG_BAD_CSUM);
		}
	}
	assert_int_equal(integ_check(page, 0x1234, 7, NULL), INTEG_OK);
	page[0] ^= 1;
	assert_int_equal(integ_check(page, 0x1234, 7, NULL), INTEG_BAD_MAGIC);
	memset(page, 0, sizeof(page));
	assert_int_equal(integ_check(page, 0x1234, 7, &bad), INTEG_BAD_ZERO);
	assert_string_equal(integ_reason_name(INTEG_BAD_ZERO), "zero page");
}

/* integrity fill=KIND: a valid stamp over the fill's contents, and a
 * one-word change is caught. */
static void test_integ_stamp_fill(void **state)
{
	static const char *const kinds[] = { "zeros", "sparse", "random", "ratio:2",
					     "ratio:4" };
	uint64_t page[512], copy[512];
	struct fill_spec f;
	unsigned k, w, nz;

	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		assert_int_equal(fill_parse(kinds[k], &f), 0);
		integ_stamp_fill(page, 0x1234, 7, &f);
		assert_int_equal(integ_check(page, 0x1234, 7, NULL), INTEG_OK);
		integ_stamp_fill(copy, 0x1234, 7, &f);
		assert_memory_equal(page, copy, sizeof(page));  /* deterministic */
		for (w = 4, nz = 0; w < 512; w++)
			nz += page[w] != 0;
		if (f.kind == FILL_ZEROS)
			assert_int_equal(nz, 0);
		if (f.kind == FILL_SPARSE)
			assert_int_equal(nz, 1);
		for (w = 0; w < 512; w += 37) {
			page[w] ^= 0x10;
			assert_int_not_equal(integ_check(page, 0x1234, 7, NULL), INTEG_OK);
			page[w] ^= 0x10;
		}
	}
}

static void test_integ_golden(void **state)
{
	uint64_t page[512];

	integ_stamp(page, 0x200, 1);
	if (print_golden())
		printf("integ csum(0x200, 1) = 0x%016llxull\n",
		       (unsigned long long)page[3]);
	else
		assert_true(page[3] == 0x0d557e6b062003aeull);
}

/* ---- the embedded guest table ------------------------------------------ */

static void test_embedded_guests(void **state)
{
	static const char *const want[] = {
		"memtouch", "integrity", "crash", "badptr", "hang"
	};
	unsigned i, j;

	assert_true(hv_embedded_guests_count >= 5);
	for (j = 0; j < sizeof(want) / sizeof(want[0]); j++) {
		for (i = 0; i < hv_embedded_guests_count; i++)
			if (!strcmp(hv_embedded_guests[i].name, want[j]))
				break;
		assert_true(i < hv_embedded_guests_count);
	}
	for (i = 0; i < hv_embedded_guests_count; i++) {
		const struct hv_embedded_guest *g = &hv_embedded_guests[i];
		size_t size = (size_t)(g->end - g->start);

		assert_non_null(g->summary);
		assert_non_null(g->usage);
		assert_true(size > 16 && size < HV_GUEST_MAX_IMAGE);
		assert_int_equal(g->start[0], 0xfc);     /* start.S: cld */
		for (j = 0; j < i; j++)
			assert_string_not_equal(g->name, hv_embedded_guests[j].name);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prng_splitmix_reference),
		cmocka_unit_test(test_prng_deterministic),
		cmocka_unit_test(test_prng_ranges),
		cmocka_unit_test(test_fmath_vs_libm),
		cmocka_unit_test(test_zipf_distribution),
		cmocka_unit_test(test_zipf_edges),
		cmocka_unit_test(test_perm_bijection),
		cmocka_unit_test(test_mt_deterministic),
		cmocka_unit_test(test_mt_seq_covers_once_per_pass),
		cmocka_unit_test(test_mt_partitions),
		cmocka_unit_test(test_mt_tiny_partition),
		cmocka_unit_test(test_mt_uniform),
		cmocka_unit_test(test_mt_zipf_skew),
		cmocka_unit_test(test_mt_write_ratio),
		cmocka_unit_test(test_mt_hotcold),
		cmocka_unit_test(test_mt_phases_move_hot_set),
		cmocka_unit_test(test_mt_bad_params),
		cmocka_unit_test(test_mt_golden),
		cmocka_unit_test(test_integ_roundtrip),
		cmocka_unit_test(test_integ_detects),
		cmocka_unit_test(test_integ_stamp_fill),
		cmocka_unit_test(test_integ_golden),
		cmocka_unit_test(test_embedded_guests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
