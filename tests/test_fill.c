/*
 * test_fill.c - guest/lib/fill.c (memtouch's and the replay's fill=): the
 * parser rejects bad specs, contents are deterministic per page and differ
 * between pages, and the compression ratio each fill gives with liblz4
 * (LZ4_compress_default) and libzstd (level 1 and 3) is what it says:
 * ratio:R within 15% of R, random below 1.01, zeros above 50; a golden
 * hash from the guest-flag build.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <lz4.h>
#include <zstd.h>

#include "lib/fill.h"

#define NPAGES 256

static uint64_t pages[NPAGES][FILL_PAGE / 8];

/* Whole-page compression ratio over NPAGES pages, one page at a time (as a
 * compressed swap tier compresses them).  level 0 = lz4. */
static double ratio(const struct fill_spec *f, int level)
{
	static char out[FILL_PAGE * 2];
	size_t in = 0, got = 0, r;
	unsigned i;

	for (i = 0; i < NPAGES; i++) {
		fill_page(f, 7, i, pages[i]);
		if (level == 0) {
			int n = LZ4_compress_default((const char *)pages[i], out,
						     FILL_PAGE, (int)sizeof(out));

			assert_true(n > 0);
			r = (size_t)n;
		} else {
			r = ZSTD_compress(out, sizeof(out), pages[i], FILL_PAGE, level);
			assert_false(ZSTD_isError(r));
		}
		in += FILL_PAGE;
		got += r;
	}
	return (double)in / (double)got;
}

static void test_parse(void **state)
{
	static const char *const bad[] = {
		"", "rand", "randomx", "ratio", "ratio:", "ratio:x", "ratio:0.5",
		"ratio:65", "ratio:2x", "ratio:-2", "zeros ", NULL
	};
	struct fill_spec f;
	unsigned i;

	(void)state;
	for (i = 0; bad[i]; i++)
		assert_int_equal(fill_parse(bad[i], &f), -22);
	assert_int_equal(fill_parse("sparse", &f), 0);
	assert_int_equal(f.kind, FILL_SPARSE);
	assert_int_equal(fill_parse("zeros", &f), 0);
	assert_int_equal(f.kind, FILL_ZEROS);
	assert_int_equal(fill_parse("random", &f), 0);
	assert_int_equal(f.kind, FILL_RANDOM);
	assert_int_equal(fill_parse("ratio:2.5", &f), 0);
	assert_int_equal(f.kind, FILL_RATIO);
	assert_int_equal(f.ratio_x100, 250);
	assert_int_equal(fill_parse("ratio:1", &f), 0);
	assert_int_equal(f.rand_chunks, 61);
}

static void test_deterministic(void **state)
{
	static uint64_t a[FILL_PAGE / 8], b[FILL_PAGE / 8];
	struct fill_spec f;

	(void)state;
	assert_int_equal(fill_parse("ratio:2", &f), 0);
	fill_page(&f, 1, 42, a);
	fill_page(&f, 1, 42, b);
	assert_memory_equal(a, b, sizeof(a));
	fill_page(&f, 1, 43, b);
	assert_memory_not_equal(a, b, sizeof(a));
	fill_page(&f, 2, 42, b);
	assert_memory_not_equal(a, b, sizeof(a));
}

/* FNV-1a-style hash of 100 pages of each fill, seed 12345.  The golden value
 * was produced by guest/lib/fill.c compiled with the guest's flags
 * (freestanding, -O2 -mcmodel=small -ffp-contract=off, guest/CMakeLists.txt),
 * so it also pins "the replay fills what the guest fills". */
static void test_golden(void **state)
{
	static const char *const specs[] = { "zeros", "random", "ratio:2",
					     "ratio:3.5", NULL };
	static uint64_t pg[FILL_PAGE / 8];
	uint64_t h = 1469598103934665603ull, i;
	struct fill_spec f;
	unsigned k, j;

	(void)state;
	for (k = 0; specs[k]; k++) {
		assert_int_equal(fill_parse(specs[k], &f), 0);
		for (i = 0; i < 100; i++) {
			fill_page(&f, 12345, i, pg);
			for (j = 0; j < FILL_PAGE / 8; j++)
				h = (h ^ pg[j]) * 1099511628211ull;
		}
	}
	assert_int_equal(h, 0x7c3c7e79d3aa1f93ull);
}

static void check_ratio(const char *spec, double want)
{
	struct fill_spec f;
	int levels[] = { 0, 1, 3 };
	unsigned i;

	assert_int_equal(fill_parse(spec, &f), 0);
	for (i = 0; i < 3; i++) {
		double got = ratio(&f, levels[i]);

		if (levels[i])
			print_message("fill=%s zstd -%d: %.2f:1\n", spec, levels[i], got);
		else
			print_message("fill=%s lz4: %.2f:1\n", spec, got);
		assert_true(got > want * 0.85 && got < want * 1.15);
	}
}

static void test_ratios(void **state)
{
	struct fill_spec f;
	unsigned i;

	(void)state;
	check_ratio("ratio:1.5", 1.5);
	check_ratio("ratio:2", 2.0);
	check_ratio("ratio:3", 3.0);
	check_ratio("ratio:4", 4.0);
	assert_int_equal(fill_parse("random", &f), 0);
	for (i = 0; i < 2; i++)
		assert_true(ratio(&f, i ? 3 : 0) < 1.01);
	assert_int_equal(fill_parse("zeros", &f), 0);
	assert_true(ratio(&f, 0) > 50.0);
	assert_true(ratio(&f, 3) > 50.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_ratios),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
