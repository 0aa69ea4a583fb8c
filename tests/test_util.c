/*
 * test_util.c - unit tests of the command-line value parsers (vmm/util.c):
 * parse_size units and suffixes, overflow (-ERANGE) and syntax errors
 * (-EINVAL), parse_uint ranges, parse_seconds, and fmt_size formatting.
 * A failed parse must leave *out untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "util.h"

#define KIB (1ull << 10)
#define MIB (1ull << 20)
#define GIB (1ull << 30)
#define TIB (1ull << 40)

#define SENTINEL 0x5a5a5a5a5a5a5a5aull

static void size_ok(const char *s, uint64_t want)
{
	uint64_t v = SENTINEL;
	int r = parse_size(s, &v);

	if (r != 0 || v != want)
		fail_msg("parse_size(\"%s\") = %d, %llu; want 0, %llu", s, r,
			 (unsigned long long)v, (unsigned long long)want);
}

static void size_err(const char *s, int want)
{
	uint64_t v = SENTINEL;
	int r = parse_size(s, &v);

	if (r != want)
		fail_msg("parse_size(\"%s\") = %d, want %d", s ? s : "(null)", r, want);
	if (v != SENTINEL)
		fail_msg("parse_size(\"%s\") wrote *out on error", s ? s : "(null)");
}

static void test_size_units(void **state)
{
	(void)state;
	size_ok("0", 0);
	size_ok("512", 512);
	size_ok("4K", 4 * KIB);
	size_ok("4k", 4 * KIB);
	size_ok("512M", 512 * MIB);
	size_ok("512m", 512 * MIB);
	size_ok("2G", 2 * GIB);
	size_ok("64g", 64 * GIB);
	size_ok("1T", TIB);
	size_ok("3t", 3 * TIB);
	size_ok("007M", 7 * MIB);
}

static void test_size_suffixes(void **state)
{
	(void)state;
	size_ok("4KiB", 4 * KIB);
	size_ok("4kib", 4 * KIB);
	size_ok("4KB", 4 * KIB);
	size_ok("4kb", 4 * KIB);
	size_ok("512MiB", 512 * MIB);
	size_ok("512MB", 512 * MIB);
	size_ok("2GiB", 2 * GIB);
	size_ok("1TiB", TIB);
	size_err("4Ki", -EINVAL);
	size_err("4KiBB", -EINVAL);
	size_err("4KBB", -EINVAL);
	size_err("4iB", -EINVAL);    /* a suffix needs a unit */
	size_err("4 K", -EINVAL);
	size_err("4K ", -EINVAL);
	size_err("4P", -EINVAL);
	size_err("4E", -EINVAL);
	size_err("4MK", -EINVAL);
}

static void test_size_overflow(void **state)
{
	(void)state;
	size_ok("18446744073709551615", UINT64_MAX);
	size_err("18446744073709551616", -ERANGE);
	size_err("99999999999999999999999", -ERANGE);
	size_ok("16777215T", 16777215ull * TIB);
	size_err("16777216T", -ERANGE);          /* exactly 2^64 */
	size_ok("17179869183G", 17179869183ull * GIB);
	size_err("17179869184G", -ERANGE);
	size_err("17592186044416M", -ERANGE);
	size_err("18014398509481984K", -ERANGE);
	size_err("18446744073709551615K", -ERANGE);
}

static void test_size_garbage(void **state)
{
	(void)state;
	size_err(NULL, -EINVAL);
	size_err("", -EINVAL);
	size_err("K", -EINVAL);
	size_err("abc", -EINVAL);
	size_err("-1", -EINVAL);
	size_err("-1G", -EINVAL);
	size_err("+1", -EINVAL);
	size_err(" 1", -EINVAL);
	size_err("1x", -EINVAL);
	size_err("0x10", -EINVAL);
	size_err("1.5G", -EINVAL);
	size_err("1e3", -EINVAL);
	size_err("12three", -EINVAL);
}

static void uint_ok(const char *s, uint64_t min, uint64_t max, uint64_t want)
{
	uint64_t v = SENTINEL;
	int r = parse_uint(s, min, max, &v);

	if (r != 0 || v != want)
		fail_msg("parse_uint(\"%s\", %llu, %llu) = %d, %llu; want %llu", s,
			 (unsigned long long)min, (unsigned long long)max, r,
			 (unsigned long long)v, (unsigned long long)want);
}

static void uint_err(const char *s, uint64_t min, uint64_t max, int want)
{
	uint64_t v = SENTINEL;
	int r = parse_uint(s, min, max, &v);

	if (r != want || v != SENTINEL)
		fail_msg("parse_uint(\"%s\", %llu, %llu) = %d (out %s), want %d",
			 s ? s : "(null)", (unsigned long long)min,
			 (unsigned long long)max, r,
			 v == SENTINEL ? "untouched" : "written", want);
}

static void test_uint(void **state)
{
	(void)state;
	uint_ok("0", 0, 10, 0);
	uint_ok("1", 1, 64, 1);
	uint_ok("64", 1, 64, 64);
	uint_ok("0064", 1, 64, 64);
	uint_ok("18446744073709551615", 0, UINT64_MAX, UINT64_MAX);
	uint_err("0", 1, 64, -ERANGE);
	uint_err("65", 1, 64, -ERANGE);
	uint_err("18446744073709551616", 0, UINT64_MAX, -ERANGE);
	uint_err("5", 6, 6, -ERANGE);
	uint_ok("6", 6, 6, 6);
	uint_err(NULL, 0, 10, -EINVAL);
	uint_err("", 0, 10, -EINVAL);
	uint_err("-1", 0, 10, -EINVAL);
	uint_err("+1", 0, 10, -EINVAL);
	uint_err(" 1", 0, 10, -EINVAL);
	uint_err("1 ", 0, 10, -EINVAL);
	uint_err("1K", 0, 10000, -EINVAL);   /* no units here */
	uint_err("2.0", 0, 10, -EINVAL);
	uint_err("0x2", 0, 10, -EINVAL);
	uint_err("two", 0, 10, -EINVAL);
}

static void secs_ok(const char *s, double want)
{
	double v = -1;
	int r = parse_seconds(s, &v);

	if (r != 0 || v != want)
		fail_msg("parse_seconds(\"%s\") = %d, %g; want %g", s, r, v, want);
}

static void secs_err(const char *s, int want)
{
	double v = -1;
	int r = parse_seconds(s, &v);

	if (r != want || v != -1)
		fail_msg("parse_seconds(\"%s\") = %d (out %g), want %d",
			 s ? s : "(null)", r, v, want);
}

static void test_seconds(void **state)
{
	(void)state;
	secs_ok("0", 0);
	secs_ok("2", 2);
	secs_ok("2.5", 2.5);
	secs_ok(".5", 0.5);
	secs_ok("0.25", 0.25);
	secs_ok("1e3", 1000);
	secs_ok("86400", 86400);
	secs_ok("1e9", 1e9);
	/* issue 11 finding 8: 1e11 s overflowed the seconds-to-ns conversion */
	secs_err("1e11", -ERANGE);
	secs_err("1000000001", -ERANGE);
	secs_err(NULL, -EINVAL);
	secs_err("", -EINVAL);
	secs_err("-1", -EINVAL);
	secs_err("-0.5", -EINVAL);
	secs_err("+1", -EINVAL);
	secs_err(" 1", -EINVAL);
	secs_err("2s", -EINVAL);
	secs_err("2.5.1", -EINVAL);
	secs_err("abc", -EINVAL);
	secs_err("inf", -EINVAL);
	secs_err("nan", -EINVAL);
	secs_err("1e999", -ERANGE);
}

static void fmt_is(uint64_t b, const char *want)
{
	char buf[32];

	memset(buf, 'x', sizeof(buf));
	assert_ptr_equal(fmt_size(b, buf, sizeof(buf)), buf);
	assert_string_equal(buf, want);
}

static void test_fmt_size(void **state)
{
	char small[4];

	(void)state;
	fmt_is(0, "0 B");
	fmt_is(1, "1 B");
	fmt_is(1023, "1023 B");
	fmt_is(KIB, "1 KiB");
	fmt_is(1536, "1.5 KiB");
	fmt_is(4 * KIB, "4 KiB");
	fmt_is(512 * MIB, "512 MiB");
	fmt_is(MIB + MIB / 2, "1.5 MiB");
	fmt_is(GIB, "1 GiB");
	fmt_is(3 * GIB, "3 GiB");
	fmt_is(TIB, "1 TiB");
	fmt_is(1024 * TIB, "1024 TiB");     /* TiB is the largest unit */
	fmt_is(UINT64_MAX, "16777216 TiB");

	/* Truncates to the buffer, always NUL-terminated. */
	memset(small, 'x', sizeof(small));
	assert_ptr_equal(fmt_size(512 * MIB, small, sizeof(small)), small);
	assert_string_equal(small, "512");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_units),
		cmocka_unit_test(test_size_suffixes),
		cmocka_unit_test(test_size_overflow),
		cmocka_unit_test(test_size_garbage),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_seconds),
		cmocka_unit_test(test_fmt_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
