/*
 * test_memfd.c - what is particular to swapping memfd (shmem) guest memory
 * (issue 14): an evicted page leaves the memfd itself (hole punch), so it
 * also vanishes from every other mapping of the memfd (a vhost-user
 * backend's); pages read back from swap are in the memfd again, seen by
 * such a mapping; a discard (balloon) punches too; a kernel or a
 * configuration without write-protect on shmem is refused with a clear
 * error instead of swapping unsafely; swap-in reads land in the memfd
 * itself (zero-copy, UFFDIO_CONTINUE) or, with no_zero_copy, go through
 * bounce buffers; a page another process wrote into the memfd is adopted
 * where the swapper had nothing and dropped where the page was out.
 *
 * The rest of the swapper's behaviour on memfd memory is tested by running
 * the whole test_swapper, test_hardcases, test_discard and test_faultpath
 * suites with HV_TEST_BACKING=memfd (their *_memfd ctest variants).
 *
 * The "other process" is a second MAP_SHARED mapping of the memfd in this
 * process, not registered with the userfaultfd: it is looked at with
 * mincore() (page-cache residency, no fault), read where pages are known
 * to be in the memfd, and written on purpose where the test is about a
 * foreign write (touching a hole through it creates a page behind the
 * swapper's back, which is what vhost-user's postcopy messages exist to
 * prevent).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "swapper_testlib.h"

#define NPAGES 1024u

struct alias {
	uint8_t *p;
	uint64_t len;
};

static void alias_map(struct alias *a, struct env *e)
{
	a->len = e->npages * PG;
	a->p = mmap(NULL, a->len, PROT_READ | PROT_WRITE, MAP_SHARED, e->mem->memfd, 0);
	assert_true(a->p != MAP_FAILED);
}

static void alias_unmap(struct alias *a)
{
	munmap(a->p, a->len);
}

/* Pages of [from, to) present in the memfd, seen through the alias. */
static uint64_t alias_resident(struct alias *a, uint64_t from, uint64_t to)
{
	unsigned char *v = calloc(to - from, 1);
	uint64_t i, n = 0;

	assert_non_null(v);
	assert_int_equal(mincore(a->p + from * PG, (to - from) * PG, v), 0);
	for (i = 0; i < to - from; i++)
		n += v[i] & 1;
	free(v);
	return n;
}

/* Data in the memfd in [from, to) pages, by its own account (SEEK_DATA). */
static bool memfd_has_data(struct env *e, uint64_t from, uint64_t to)
{
	off_t d = lseek(e->mem->memfd, (off_t)(from * PG), SEEK_DATA);

	if (d < 0) {
		assert_int_equal(errno, ENXIO);
		return false;
	}
	return (uint64_t)d < to * PG;
}

static const char *feature(struct env *e, const char *name)
{
	static char buf[32];
	struct json_object *j = swapper_stats_json(e->s), *f = NULL, *v = NULL;

	assert_true(json_object_object_get_ex(j, "features", &f));
	assert_true(json_object_object_get_ex(f, name, &v));
	snprintf(buf, sizeof(buf), "%s", json_object_get_string(v));
	json_object_put(j);
	return buf;
}

/* Trim: every page leaves the memfd (and the alias), none by MOVE; they
 * come back from swap with their data, into the memfd, where the alias
 * sees the same bytes as the guest mapping. */
static void evict_punches(bool zero_copy)
{
	struct opts o = { .memfd = true, .npages = NPAGES, .no_zero_copy = !zero_copy };
	struct alias a;
	struct env e;
	uint64_t i;

	env_setup(&e, &o);
	assert_string_equal(feature(&e, "zero_copy_swapin"), zero_copy ? "true" : "false");
	assert_false(e.s->use_move);
	assert_string_equal(feature(&e, "memory_backing"), "memfd");
	assert_string_equal(feature(&e, "uffd_wp_shmem"), "true");
	alias_map(&a, &e);
	write_range(&e, 0, NPAGES, 1);
	trim(&e);
	assert_int_equal(C(&e, resident), 0);
	assert_false(memfd_has_data(&e, 0, NPAGES));
	assert_int_equal(alias_resident(&a, 0, NPAGES), 0);
	/* 128 pages stay under the low watermark: all resident after */
	assert_int_equal(verify_range(&e, 0, 128), 0);
	assert_true(C(&e, faults_swap) > 0);
	assert_int_equal(alias_resident(&a, 0, 128), 128);
	for (i = 0; i < 128; i += 7)
		assert_memory_equal(a.p + i * PG, e.base + i * PG, PG);
	assert_int_equal(verify_range(&e, 128, NPAGES), 0);
	if (zero_copy)          /* every swap-in read went into the memfd */
		assert_int_equal(C(&e, swapin_zero_copy), C(&e, reads));
	else
		assert_int_equal(C(&e, swapin_zero_copy), 0);
	/* Clean pages (read back write-protected, slot kept) are punched
	 * too, without I/O. */
	uint64_t clean0 = C(&e, evict_clean);

	trim(&e);
	assert_true(C(&e, evict_clean) > clean0);
	assert_false(memfd_has_data(&e, 0, NPAGES));
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	assert_int_equal(fatal_calls(&e), 0);
	alias_unmap(&a);
	env_teardown(&e);
}

static void test_memfd_evict_punches(void **state)
{
	(void)state;
	evict_punches(true);
}

static void test_memfd_evict_punches_bounce(void **state)
{
	(void)state;
	evict_punches(false);
}

/* Another process writes into the memfd (zero-copy regions are registered
 * in MINOR mode, so the guest's next access reports it): where the page was
 * never used the guest sees that write (a device's DMA into guest memory);
 * where the page is on swap the guest sees its own data, and the stray page
 * is gone. */
static void test_memfd_foreign_page(void **state)
{
	struct opts o = { .memfd = true, .npages = NPAGES };
	struct alias a;
	struct env e;

	(void)state;
	env_setup(&e, &o);
	if (!e.s->nr_zero_copy) {
		env_teardown(&e);
		skip();         /* no MINOR faults on shmem here */
	}
	alias_map(&a, &e);
	write_range(&e, 0, 64, 1);
	trim(&e);                               /* 0-63 on swap */
	memset(a.p + 100 * PG, 0x3c, PG);       /* 100: never used */
	memset(a.p + 10 * PG, 0x3c, PG);        /* 10: on swap */
	assert_int_equal(e.base[100 * PG + 17], 0x3c);
	assert_true(C(&e, faults_minor) >= 1);  /* page 100 */
	/* page 10: a MINOR fault, or read over by the readahead of the
	 * window page 0 starts; its own data either way */
	assert_int_equal(verify_range(&e, 0, 64), 0);
	assert_int_equal(state_of(&e, 100), PS_RESIDENT);
	assert_int_equal(fatal_calls(&e), 0);
	alias_unmap(&a);
	env_teardown(&e);
}

/* A balloon discard with the swapper on: resident, clean and swapped pages
 * all leave the memfd and read back as zeros. */
static void test_memfd_discard_punches(void **state)
{
	struct opts o = { .memfd = true, .npages = NPAGES };
	struct env e;
	int64_t n;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, NPAGES, 1);
	trim(&e);
	assert_int_equal(verify_range(&e, 0, 64), 0);  /* 0-63 back in */
	n = swapper_discard(e.s, GPA, 128 * PG);       /* 64-127 on swap */
	assert_int_equal(n, 128);
	assert_false(memfd_has_data(&e, 0, 128));
	memset(e.gen, 0, 128 * sizeof(*e.gen));
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

/* No write-protect, no safe eviction of shmem: refused at add_region with
 * -ENOTSUP (and a message), never swapped unsafely. */
static void test_memfd_no_wp_refused(void **state)
{
	struct swapper_config c = { .mem_limit = 256 * PG, .swap_size = 64 * MiB,
				    .tmpdir = "/var/tmp", .allow_buffered = true,
				    .no_wp = true };
	struct swapper *s = NULL;
	struct gmem *m = NULL;

	(void)state;
	assert_int_equal(gmem_create(GMEM_MEMFD, 1024 * PG, "test-memfd", &m), 0);
	assert_int_equal(swapper_create(&c, &s), 0);
	assert_int_equal(swapper_add_region(s, m, GPA), -ENOTSUP);
	swapper_destroy(s);
	gmem_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memfd_evict_punches),
		cmocka_unit_test(test_memfd_evict_punches_bounce),
		cmocka_unit_test(test_memfd_foreign_page),
		cmocka_unit_test(test_memfd_discard_punches),
		cmocka_unit_test(test_memfd_no_wp_refused),
	};
	struct uffd_caps caps;

	if (uffd_probe(&caps) == 0 && !(caps.shmem && caps.wp_shmem)) {
		fprintf(stderr, "userfaultfd lacks MISSING or write-protect on "
			"shmem here: skipping\n");
		return 77;
	}
	return tl_main("memfd", tests, sizeof(tests) / sizeof(tests[0]));
}
