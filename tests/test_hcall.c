/*
 * test_hcall.c - unit tests of hypercall decoding (vmm/hcall.c), the only
 * place guest-supplied pointers are turned into host pointers: bounds of
 * hcall_mem_ptr (start, end, overflow, len 0, below base), hcall_decode
 * (access size, alignment, block in RAM) and hcall_metric_name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hcall.h"

#define RAM_SIZE (1ull << 20)
#define BASE HV_RAM_BASE
#define END (BASE + RAM_SIZE)

static int setup(void **state)
{
	struct hcall_mem *m = calloc(1, sizeof(*m));

	if (!m)
		return -1;
	m->host = calloc(1, RAM_SIZE);
	if (!m->host) {
		free(m);
		return -1;
	}
	m->gpa = BASE;
	m->size = RAM_SIZE;
	*state = m;
	return 0;
}

static int teardown(void **state)
{
	struct hcall_mem *m = *state;

	free(m->host);
	free(m);
	return 0;
}

static void test_mem_ptr_inside(void **state)
{
	struct hcall_mem *m = *state;

	assert_ptr_equal(hcall_mem_ptr(m, BASE, 1), m->host);
	assert_ptr_equal(hcall_mem_ptr(m, BASE, 0), m->host);
	assert_ptr_equal(hcall_mem_ptr(m, BASE, RAM_SIZE), m->host);
	assert_ptr_equal(hcall_mem_ptr(m, BASE + 4096, 4096), m->host + 4096);
	assert_ptr_equal(hcall_mem_ptr(m, BASE + 12345, 0), m->host + 12345);
	assert_ptr_equal(hcall_mem_ptr(m, END - 1, 1), m->host + RAM_SIZE - 1);
	assert_ptr_equal(hcall_mem_ptr(m, END - 64, 64), m->host + RAM_SIZE - 64);
}

static void test_mem_ptr_outside(void **state)
{
	struct hcall_mem *m = *state;

	/* below the base */
	assert_null(hcall_mem_ptr(m, 0, 0));
	assert_null(hcall_mem_ptr(m, 0, 1));
	assert_null(hcall_mem_ptr(m, 0x1000, 16));       /* system area */
	assert_null(hcall_mem_ptr(m, BASE - 1, 1));
	assert_null(hcall_mem_ptr(m, BASE - 1, 2));      /* straddles the base */
	assert_null(hcall_mem_ptr(m, BASE - 8, 0));
	/* past / across the end */
	assert_null(hcall_mem_ptr(m, END, 1));
	assert_null(hcall_mem_ptr(m, END - 1, 2));
	assert_null(hcall_mem_ptr(m, END - 8, 64));
	assert_null(hcall_mem_ptr(m, END + 1, 0));
	assert_null(hcall_mem_ptr(m, BASE, RAM_SIZE + 1));
	assert_null(hcall_mem_ptr(m, 0xdead0000000ull, 16));
	/* wrap-around: gpa + len overflows 64 bits */
	assert_null(hcall_mem_ptr(m, BASE + 4096, UINT64_MAX));
	assert_null(hcall_mem_ptr(m, BASE + 4096, UINT64_MAX - 4095));
	assert_null(hcall_mem_ptr(m, BASE + 4096, UINT64_MAX - BASE - 4095));
	assert_null(hcall_mem_ptr(m, UINT64_MAX, 1));
	assert_null(hcall_mem_ptr(m, UINT64_MAX, 0));
	assert_null(hcall_mem_ptr(m, UINT64_MAX - 7, 8));
	assert_null(hcall_mem_ptr(m, UINT64_MAX, UINT64_MAX));
}

static void test_mem_ptr_empty_ram(void **state)
{
	struct hcall_mem empty = { .host = (uint8_t *)state, .gpa = BASE, .size = 0 };

	assert_null(hcall_mem_ptr(&empty, BASE, 1));
	assert_null(hcall_mem_ptr(&empty, BASE - 1, 0));
}

static int decode(struct hcall_mem *m, uint64_t gpa, uint32_t len,
		  struct hv_hcall **blk)
{
	uint8_t data[8];

	memcpy(data, &gpa, sizeof(data));  /* little-endian, as OUT delivers */
	*blk = (struct hv_hcall *)(uintptr_t)0x1;
	return hcall_decode(m, data, len, blk);
}

static void test_decode(void **state)
{
	struct hcall_mem *m = *state;
	struct hv_hcall *blk;
	uint64_t last = END - sizeof(struct hv_hcall);

	assert_int_equal(sizeof(struct hv_hcall) % 8, 0);
	assert_int_equal(last % 8, 0);

	/* good */
	assert_int_equal(decode(m, BASE, 4, &blk), 0);
	assert_ptr_equal(blk, m->host);
	assert_int_equal(decode(m, BASE + 0x1238, 4, &blk), 0);
	assert_ptr_equal(blk, m->host + 0x1238);
	assert_int_equal(decode(m, last, 4, &blk), 0);
	assert_ptr_equal(blk, m->host + (last - BASE));

	/* wrong access size: only a 32-bit OUT is a hypercall */
	assert_int_equal(decode(m, BASE, 1, &blk), -EINVAL);
	assert_int_equal(decode(m, BASE, 2, &blk), -EINVAL);
	assert_int_equal(decode(m, BASE, 0, &blk), -EINVAL);
	assert_int_equal(decode(m, BASE, 8, &blk), -EINVAL);

	/* misaligned */
	assert_int_equal(decode(m, BASE + 4, 4, &blk), -EFAULT);
	assert_int_equal(decode(m, BASE + 1, 4, &blk), -EFAULT);
	assert_int_equal(decode(m, last + 4, 4, &blk), -EFAULT);

	/* outside RAM, or crossing its end */
	assert_int_equal(decode(m, 0, 4, &blk), -EFAULT);
	assert_int_equal(decode(m, 0x1000, 4, &blk), -EFAULT);
	assert_int_equal(decode(m, BASE - 8, 4, &blk), -EFAULT);
	assert_int_equal(decode(m, last + 8, 4, &blk), -EFAULT);
	assert_int_equal(decode(m, END - 8, 4, &blk), -EFAULT);
	assert_int_equal(decode(m, END, 4, &blk), -EFAULT);
	assert_int_equal(decode(m, 0xfffffff8u, 4, &blk), -EFAULT);
}

/* RAM above 4 GiB cannot hold a hypercall block (32-bit OUT). */
static void test_decode_high_ram(void **state)
{
	struct hcall_mem *m = *state;
	struct hcall_mem high = { .host = m->host, .gpa = 5ull << 30, .size = RAM_SIZE };
	struct hv_hcall *blk;

	assert_int_equal(decode(&high, 0, 4, &blk), -EFAULT);
	/* the upper 32 bits of the 8 data bytes are ignored */
	assert_int_equal(decode(&high, 5ull << 30, 4, &blk), -EFAULT);
}

static void put(struct hcall_mem *m, uint64_t gpa, const char *s, size_t n)
{
	memcpy(m->host + (gpa - BASE), s, n);
}

static void test_metric_name(void **state)
{
	struct hcall_mem *m = *state;
	char out[HV_METRIC_NAME_MAX], big[128], name[HV_METRIC_NAME_MAX + 8];
	const uint64_t g = BASE + 0x2000;

	/* good */
	put(m, g, "pages_touched", 13);
	memset(out, 'x', sizeof(out));
	assert_int_equal(hcall_metric_name(m, g, 13, out, sizeof(out)), 0);
	assert_string_equal(out, "pages_touched");
	/* only len bytes are taken, even when more printable bytes follow */
	assert_int_equal(hcall_metric_name(m, g, 5, out, sizeof(out)), 0);
	assert_string_equal(out, "pages");
	put(m, g, "!~", 2);                 /* the printable range's ends */
	assert_int_equal(hcall_metric_name(m, g, 2, out, sizeof(out)), 0);
	assert_string_equal(out, "!~");

	/* length: 1 .. HV_METRIC_NAME_MAX - 1, and it must fit out */
	memset(name, 'a', sizeof(name));
	put(m, g, name, sizeof(name));
	assert_int_equal(hcall_metric_name(m, g, 0, out, sizeof(out)), -EINVAL);
	assert_int_equal(hcall_metric_name(m, g, HV_METRIC_NAME_MAX - 1, out,
					   sizeof(out)), 0);
	assert_int_equal(strlen(out), HV_METRIC_NAME_MAX - 1);
	assert_int_equal(hcall_metric_name(m, g, HV_METRIC_NAME_MAX, big,
					   sizeof(big)), -EINVAL);
	assert_int_equal(hcall_metric_name(m, g, UINT64_MAX, big, sizeof(big)),
			 -EINVAL);
	assert_int_equal(hcall_metric_name(m, g, 8, out, 8), -EINVAL);
	assert_int_equal(hcall_metric_name(m, g, 7, out, 8), 0);
	assert_string_equal(out, "aaaaaaa");

	/* non-printable bytes anywhere */
	put(m, g, "bad name", 8);
	assert_int_equal(hcall_metric_name(m, g, 8, out, sizeof(out)), -EINVAL);
	put(m, g, "bad\nname", 8);
	assert_int_equal(hcall_metric_name(m, g, 8, out, sizeof(out)), -EINVAL);
	put(m, g, "bad\0name", 8);
	assert_int_equal(hcall_metric_name(m, g, 8, out, sizeof(out)), -EINVAL);
	put(m, g, "bad\x7f", 4);
	assert_int_equal(hcall_metric_name(m, g, 4, out, sizeof(out)), -EINVAL);
	put(m, g, "bad\x80", 4);
	assert_int_equal(hcall_metric_name(m, g, 4, out, sizeof(out)), -EINVAL);
	put(m, g, "\xff", 1);
	assert_int_equal(hcall_metric_name(m, g, 1, out, sizeof(out)), -EINVAL);
	put(m, g, "\t", 1);
	assert_int_equal(hcall_metric_name(m, g, 1, out, sizeof(out)), -EINVAL);

	/* outside RAM */
	assert_int_equal(hcall_metric_name(m, 0xdead0000000ull, 8, out, sizeof(out)),
			 -EFAULT);
	assert_int_equal(hcall_metric_name(m, 0x1000, 8, out, sizeof(out)), -EFAULT);
	assert_int_equal(hcall_metric_name(m, END, 1, out, sizeof(out)), -EFAULT);
	put(m, END - 4, "abcd", 4);
	assert_int_equal(hcall_metric_name(m, END - 4, 8, out, sizeof(out)), -EFAULT);
	assert_int_equal(hcall_metric_name(m, END - 4, 4, out, sizeof(out)), 0);
	assert_string_equal(out, "abcd");
	assert_int_equal(hcall_metric_name(m, UINT64_MAX - 2, 8, out, sizeof(out)),
			 -EFAULT);
}

/* Guest console text (issue 11 finding 9): control bytes and non-ASCII
 * come out as \xNN, newline and tab stay; the output never overflows cap,
 * and a chunk never ends inside an escape. */
static void test_console_escape(void **state)
{
	static const char in[] = "ok\tline\n\x1b[2J\r\x07\x7f\x9b\xc3\xa9\\x";
	char out[256];
	size_t len, used;

	(void)state;
	used = hcall_console_escape(in, sizeof(in) - 1, out, sizeof(out), &len);
	assert_int_equal(used, sizeof(in) - 1);
	out[len] = '\0';
	assert_string_equal(out, "ok\tline\n\\x1b[2J\\x0d\\x07\\x7f\\x9b\\xc3\\xa9\\x");
	/* 5 bytes of room: "ab" fits, the escape of \x1b (4) does not */
	used = hcall_console_escape("ab\x1b", 3, out, 5, &len);
	assert_int_equal(used, 2);
	assert_int_equal(len, 2);
	used = hcall_console_escape("\x1b", 1, out, 4, &len);
	assert_int_equal(used, 1);
	assert_memory_equal(out, "\\x1b", 4);
	used = hcall_console_escape("\x1b", 1, out, 3, &len);
	assert_int_equal(used, 0);
	assert_int_equal(len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mem_ptr_inside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mem_ptr_outside, setup, teardown),
		cmocka_unit_test(test_mem_ptr_empty_ram),
		cmocka_unit_test_setup_teardown(test_decode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decode_high_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metric_name, setup, teardown),
		cmocka_unit_test(test_console_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
