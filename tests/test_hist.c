/*
 * test_hist.c - unit tests of the latency histogram (swapper/hist.c):
 * bucket geometry, percentiles of known distributions within the bucket
 * precision, JSON output, and concurrent records from 4 threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <pthread.h>
#include <stdlib.h>

#include "hist.h"

/* Midpoint reporting: within half a bucket, i.e. 1/64 of the value, + 1. */
static void assert_near(uint64_t got, uint64_t want)
{
	uint64_t tol = want / 64 + 1;

	if (got + tol < want || got > want + tol)
		fail_msg("got %llu, want %llu +- %llu", (unsigned long long)got,
			 (unsigned long long)want, (unsigned long long)tol);
}

static void test_buckets(void **state)
{
	uint64_t v, lo, hi;
	unsigned int b;

	(void)state;
	for (b = 0; b + 1 < HIST_NBUCKETS; b++) {
		assert_int_equal(hist_bucket_hi(b) + 1, hist_bucket_lo(b + 1));
		lo = hist_bucket_lo(b);
		hi = hist_bucket_hi(b);
		assert_int_equal(hist_bucket(lo), b);
		assert_int_equal(hist_bucket(hi), b);
		if (lo >= HIST_SUB)   /* width <= 1/32 of the value */
			assert_true((hi - lo + 1) * 32 <= lo);
	}
	for (v = 1; v < (1ull << 40); v = v * 3 + 1)
		assert_true(hist_bucket_lo(hist_bucket(v)) <= v);
	assert_int_equal(hist_bucket(UINT64_MAX), HIST_NBUCKETS - 1);
	assert_true(hist_bucket_lo(HIST_NBUCKETS - 1) > 100000000000ull / 2);
}

static void test_empty(void **state)
{
	struct hist h;

	(void)state;
	hist_init(&h);
	assert_int_equal(hist_count(&h), 0);
	assert_int_equal(hist_percentile(&h, 50), 0);
	assert_int_equal(hist_min(&h), 0);
	assert_int_equal(hist_max(&h), 0);
	assert_int_equal(hist_mean(&h), 0);
}

static void test_uniform(void **state)
{
	struct hist *h = malloc(sizeof(*h));
	uint64_t v;

	(void)state;
	hist_init(h);
	for (v = 1; v <= 1000000; v++)
		hist_record(h, v);
	assert_int_equal(hist_count(h), 1000000);
	assert_int_equal(hist_sum(h), 1000000ull * 1000001ull / 2);
	assert_int_equal(hist_mean(h), 500000);
	assert_int_equal(hist_min(h), 1);
	assert_int_equal(hist_max(h), 1000000);
	assert_near(hist_percentile(h, 50), 500000);
	assert_near(hist_percentile(h, 90), 900000);
	assert_near(hist_percentile(h, 99), 990000);
	assert_near(hist_percentile(h, 99.9), 999000);
	assert_near(hist_percentile(h, 1), 10000);
	assert_int_equal(hist_percentile(h, 0), 1);
	assert_int_equal(hist_percentile(h, 100), 1000000);
	hist_reset(h);
	assert_int_equal(hist_count(h), 0);
	assert_int_equal(hist_percentile(h, 50), 0);
	free(h);
}

/* 99% at 30 us, 1% at 20 ms: the classic latency shape with outliers. */
static void test_bimodal_and_exact(void **state)
{
	struct hist h;
	int i;

	(void)state;
	hist_init(&h);
	for (i = 0; i < 9900; i++)
		hist_record(&h, 30000);
	for (i = 0; i < 100; i++)
		hist_record(&h, 20000000);
	/* One value per bucket: the midpoint is clamped to [min, max]. */
	assert_int_equal(hist_percentile(&h, 50), 30000);
	assert_int_equal(hist_percentile(&h, 99), 30000);
	assert_int_equal(hist_percentile(&h, 99.5), 20000000);
	assert_int_equal(hist_percentile(&h, 99.99), 20000000);

	hist_init(&h);
	for (i = 0; i < 32; i++)
		hist_record(&h, (uint64_t)i);   /* exact region */
	assert_int_equal(hist_percentile(&h, 50), 15);
	hist_record(&h, 500ull * 1000000000ull); /* beyond the range */
	assert_int_equal(hist_max(&h), 500ull * 1000000000ull);
	assert_int_equal(hist_percentile(&h, 100), 500ull * 1000000000ull);
}

/* A skewed distribution (product of two uniforms, 1..1e6, mode near the
 * bottom, long tail): compare with the exact percentiles of the sorted data. */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_skewed(void **state)
{
	enum { N = 200000 };
	static const double ps[] = { 10, 50, 90, 99, 99.9 };
	uint64_t *v = malloc(N * sizeof(*v));
	struct hist h;
	unsigned int seed = 12345;
	size_t i, k;

	(void)state;
	hist_init(&h);
	for (i = 0; i < N; i++) {
		v[i] = (uint64_t)(rand_r(&seed) % 1000 + 1) *
		       (uint64_t)(rand_r(&seed) % 1000 + 1);
		hist_record(&h, v[i]);
	}
	qsort(v, N, sizeof(*v), cmp_u64);
	for (k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
		uint64_t want = v[(size_t)(ps[k] / 100.0 * N + 0.999999) - 1];
		uint64_t got = hist_percentile(&h, ps[k]);

		/* Same bucket as the exact answer => within 1/32. */
		if (got + want / 32 + 1 < want || got > want + want / 32 + 1)
			fail_msg("p%g: got %llu want %llu", ps[k],
				 (unsigned long long)got, (unsigned long long)want);
	}
	free(v);
}

static void test_json(void **state)
{
	struct json_object *o, *f;
	struct hist h;
	static const char *const keys[] = { "count", "mean_ns", "min_ns", "max_ns",
		"p50_ns", "p90_ns", "p99_ns", "p999_ns" };
	size_t i;

	(void)state;
	hist_init(&h);
	hist_record(&h, 100);
	hist_record(&h, 300);
	o = hist_to_json(&h);
	assert_non_null(o);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_true(json_object_object_get_ex(o, keys[i], &f));
	json_object_object_get_ex(o, "count", &f);
	assert_int_equal(json_object_get_uint64(f), 2);
	json_object_object_get_ex(o, "mean_ns", &f);
	assert_int_equal(json_object_get_uint64(f), 200);
	json_object_object_get_ex(o, "max_ns", &f);
	assert_int_equal(json_object_get_uint64(f), 300);
	json_object_put(o);
}

struct worker_arg {
	struct hist *h;
	uint64_t base;
};

#define PER_THREAD 200000

static void *recorder(void *p)
{
	struct worker_arg *a = p;
	uint64_t i;

	for (i = 0; i < PER_THREAD; i++)
		hist_record(a->h, a->base + (i % 1000));
	return NULL;
}

static void test_concurrent(void **state)
{
	struct worker_arg a[4];
	pthread_t t[4];
	struct hist h;
	uint64_t want_sum = 0, total = 0;
	unsigned int i;

	(void)state;
	hist_init(&h);
	for (i = 0; i < 4; i++) {
		a[i] = (struct worker_arg){ &h, 1000 * (i + 1) };
		want_sum += PER_THREAD * a[i].base + (PER_THREAD / 1000) * (999 * 1000 / 2);
		assert_int_equal(pthread_create(&t[i], NULL, recorder, &a[i]), 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(hist_count(&h), 4 * PER_THREAD);
	assert_int_equal(hist_sum(&h), want_sum);
	assert_int_equal(hist_min(&h), 1000);
	assert_int_equal(hist_max(&h), 4999);
	for (i = 0; i < HIST_NBUCKETS; i++)
		total += atomic_load(&h.buckets[i]);
	assert_int_equal(total, 4 * PER_THREAD);
	assert_near(hist_percentile(&h, 50), 2999);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_bimodal_and_exact),
		cmocka_unit_test(test_skewed),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
