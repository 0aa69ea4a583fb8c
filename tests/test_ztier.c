/*
 * test_ztier.c - the compressed tier (swapper/ztier.c) and its pool
 * (swapper/zpool.c).
 *
 * Pages get the contents of memtouch's fill= kinds (guest/lib/fill.c, the
 * host build): zeros, sparse, random and ratio:2..4, and every page is
 * checked byte for byte after its round trip.  What each test asserts:
 *  - zpool: objects of every class keep their bytes through allocation and
 *    free in any order, and the pool gives all its memory back;
 *  - round trip (lz4 and zstd, every fill): zero pages never enter the pool,
 *    random ones are all rejected, compressible ones are stored at about
 *    their ratio, and faults on stored pages read nothing from the disk;
 *  - the pool counts against the limit (and keeps to half of a limit
 *    lowered under its cap), and a full pool writes its coldest pages to
 *    disk in batches through the ordinary write path, sealed: a written-back
 *    page tampered with on disk fails its next read's check;
 *  - races, held still by the injection engine: a page whose write-back is
 *    in flight is discarded / faulted back; swapoff and migration run while
 *    the pool holds pages and writes back more.
 * Exit 77 only when userfaultfd is unavailable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fill.h"
#include "swapper_testlib.h"
#include "zpool.h"
#include "ztier.h"

#define NPAGES 1024u
#define LIMIT_PAGES 256u
#define SMALL_POOL (16 * PG)    /* holds ~28 ratio:2 pages: fills at once */
#define SEED 7u

static void zt_env(struct env *e, const char *algo, uint64_t cap, unsigned int ndevs)
{
	struct opts o = { .npages = NPAGES, .limit_pages = LIMIT_PAGES,
			  .swap_bytes = 8 * MiB, .ztier = algo, .ztier_bytes = cap,
			  .no_fatal = true };

	if (ndevs) {
		o.ndevs = ndevs;
		o.dev_bytes = 8 * MiB;
	}
	env_setup(e, &o);
}

/* Page idx's contents under fill f (sparse: one word, the rest zeros). */
static void fill_of(const struct fill_spec *f, uint64_t idx, uint64_t *buf)
{
	if (f->kind == FILL_SPARSE) {
		memset(buf, 0, PG);
		buf[idx % WORDS] = 0x5eed000000000000ull | (idx + 1);
		return;
	}
	fill_page(f, SEED, idx, buf);
}

static struct fill_spec spec(const char *s)
{
	struct fill_spec f;

	assert_int_equal(fill_parse(s, &f), 0);
	return f;
}

/* Fill pages [from, to) (even pages with f, odd ones with g if non-NULL). */
static void write_fill(struct env *e, const struct fill_spec *f,
		       const struct fill_spec *g, uint64_t from, uint64_t to)
{
	static uint64_t buf[WORDS] __attribute__((aligned(64)));
	uint64_t i;

	for (i = from; i < to; i++) {
		fill_of(g && (i & 1) ? g : f, i, buf);
		memcpy((void *)page_ptr(e, i), buf, PG);
	}
	settle(e, to - 1);
}

/* Pages of [from, to) that differ from their fill (zero_page: expected
 * zeros instead; UINT64_MAX for none). */
static unsigned int check_fill(struct env *e, const struct fill_spec *f,
			       const struct fill_spec *g, uint64_t from, uint64_t to,
			       uint64_t zero_page)
{
	static uint64_t buf[WORDS] __attribute__((aligned(64)));
	unsigned int bad = 0;
	uint64_t i;

	for (i = from; i < to; i++) {
		if (i == zero_page)
			memset(buf, 0, PG);
		else
			fill_of(g && (i & 1) ? g : f, i, buf);
		if (memcmp((const void *)page_ptr(e, i), buf, PG)) {
			if (bad++ < 5)
				print_message("page %llu differs\n", (unsigned long long)i);
		}
	}
	return bad;
}

static uint64_t count_state(struct env *e, enum page_state st)
{
	uint64_t i, n = 0;

	for (i = 0; i < e->npages; i++)
		n += state_of(e, i) == st;
	return n;
}

static uint64_t zstat(struct env *e, const char *k)
{
	struct json_object *o = swapper_stats_json(e->s);
	uint64_t v = json_u64(o, "ztier", k);

	json_object_put(o);
	return v;
}

static double zstat_d(struct env *e, const char *k)
{
	struct json_object *o = swapper_stats_json(e->s), *z, *v;
	double d = -1;

	if (json_object_object_get_ex(o, "ztier", &z) &&
	    json_object_object_get_ex(z, k, &v))
		d = json_object_get_double(v);
	json_object_put(o);
	return d;
}

static uint64_t first_in(struct env *e, enum page_state st)
{
	uint64_t i;

	for (i = 0; i < e->npages; i++)
		if (state_of(e, i) == st)
			return i;
	fail_msg("no page in state %d", st);
	return 0;
}

/* ---- the allocator ---- */

static void test_zpool(void **state)
{
	enum { N = 3000 };
	static uint32_t h[N];
	static uint16_t len[N];
	struct zpool *p;
	struct zpool_usage u;
	unsigned int i, k;
	uint64_t payload = 0;

	(void)state;
	assert_int_equal(zpool_create(&p), 0);
	assert_int_equal(zpool_alloc(p, 0, &h[0]), -E2BIG);
	assert_int_equal(zpool_alloc(p, ZP_MAX_OBJ + 1, &h[0]), -E2BIG);
	for (i = 0; i < N; i++) {
		len[i] = (uint16_t)(1 + (i * 7919u) % ZP_MAX_OBJ);
		assert_int_equal(zpool_alloc(p, len[i], &h[i]), 0);
		memset(zpool_ptr(p, h[i]), (int)(i & 0xff), len[i]);
		zpool_obj(p, h[i])->owner = i;
		payload += len[i];
	}
	zpool_usage(p, &u);
	assert_int_equal(u.objects, N);
	assert_int_equal(u.payload_bytes, payload);
	/* class rounding + zspage tails + partly used zspages of 96 classes */
	assert_true(u.pool_bytes < payload + payload / 8 + 96 * 8 * PG);
	/* free every other object, then check the rest kept their bytes */
	for (i = 0; i < N; i += 2)
		zpool_free(p, h[i]);
	for (i = 1; i < N; i += 2) {
		const uint8_t *b = zpool_ptr(p, h[i]);

		assert_non_null(b);
		assert_int_equal(zpool_obj(p, h[i])->owner, i);
		for (k = 0; k < len[i]; k++)
			assert_int_equal(b[k], i & 0xff);
	}
	assert_null(zpool_obj(p, h[0]));        /* freed: no longer an object */
	for (i = 1; i < N; i += 2)
		zpool_free(p, h[i]);
	zpool_usage(p, &u);
	assert_int_equal(u.objects, 0);
	assert_int_equal(u.pool_bytes, 0);
	assert_int_equal(u.payload_bytes, 0);
	assert_int_equal(u.zspages, 0);
	zpool_destroy(p);
}

/* ---- round trips ---- */

/* Fill every page with `fill`, evict everything, then fault it all back. */
static void roundtrip(const char *algo, const char *fill)
{
	struct fill_spec f = spec(fill);
	struct env e;
	uint64_t zp, i, k = 0, rd0, hits0;

	zt_env(&e, algo, SMALL_POOL, 0);
	write_fill(&e, &f, NULL, 0, NPAGES);
	trim(&e);
	zp = count_state(&e, PS_ZPOOL);
	assert_int_equal(zstat(&e, "stored_pages"), zp);
	assert_true(zstat(&e, "pool_bytes") <= SMALL_POOL);
	switch (f.kind) {
	case FILL_ZEROS:        /* ZERO pages: no I/O and no pool */
		assert_int_equal(count_state(&e, PS_ZERO), NPAGES);
		assert_int_equal(zstat(&e, "stores"), 0);
		break;
	case FILL_RANDOM:       /* all offered, all refused */
		assert_int_equal(zp, 0);
		assert_int_equal(zstat(&e, "stores"), NPAGES);
		assert_int_equal(zstat(&e, "rejected_incompressible"), NPAGES);
		assert_int_equal(count_state(&e, PS_SWAPPED), NPAGES);
		break;
	case FILL_SPARSE:
		assert_true(zp > 0);
		assert_true(zstat_d(&e, "compression_ratio") > 20);
		break;
	case FILL_RATIO:
		assert_true(zp > 0);
		assert_int_equal(zstat(&e, "rejected_incompressible"), 0);
		assert_true(zstat_d(&e, "compression_ratio") >
			    0.75 * f.ratio_x100 / 100.0);
		break;
	}
	/* Up to 100 stored pages come back with no disk read (100 + the pool
	 * stay under the low watermark: nothing is evicted meanwhile). */
	rd0 = C(&e, bytes_read);
	hits0 = zstat(&e, "hits");
	for (i = 0; i < NPAGES && k < 100; i++) {
		if (state_of(&e, i) != PS_ZPOOL)
			continue;
		assert_int_equal(check_fill(&e, &f, NULL, i, i + 1, UINT64_MAX), 0);
		settle(&e, i);
		assert_int_equal(state_of(&e, i), PS_RESIDENT);
		k++;
	}
	assert_int_equal(zstat(&e, "hits") - hits0, k);
	assert_int_equal(C(&e, bytes_read), rd0);
	assert_int_equal(check_fill(&e, &f, NULL, 0, NPAGES, UINT64_MAX), 0);
	assert_int_equal(C(&e, checksum_errors), 0);
	env_teardown(&e);
}

static void test_roundtrip_lz4(void **state)
{
	static const char *const fills[] = { "zeros", "sparse", "random", "ratio:2",
					     "ratio:3", "ratio:4" };
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(fills) / sizeof(fills[0]); i++)
		roundtrip("lz4", fills[i]);
}

static void test_roundtrip_zstd(void **state)
{
	static const char *const fills[] = { "zeros", "sparse", "random", "ratio:2",
					     "ratio:3", "ratio:4" };
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(fills) / sizeof(fills[0]); i++)
		roundtrip("zstd", fills[i]);
}

/* The pool's memory is part of what the limit counts. */
static void test_pool_counts_against_limit(void **state)
{
	struct fill_spec f = spec("ratio:2");
	struct env e;

	(void)state;
	zt_env(&e, "lz4", 0, 0);        /* default cap: limit / 5 */
	write_fill(&e, &f, NULL, 0, NPAGES);
	assert_true(WAIT_UNTIL(C(&e, resident) + C(&e, staged) + ztier_pages(e.s) <=
			       LIMIT_PAGES, WAIT_MS));
	assert_true(ztier_pages(e.s) > 0);
	assert_int_equal(zstat(&e, "cap_bytes"), LIMIT_PAGES * PG / 5);
	assert_true(zstat(&e, "pool_bytes") <= LIMIT_PAGES * PG / 5);
	assert_int_equal(check_fill(&e, &f, NULL, 0, NPAGES, UINT64_MAX), 0);
	env_teardown(&e);
}

/* A limit lowered under the configured cap at run time: the pool keeps
 * to half the new limit. */
static void test_limit_lowered(void **state)
{
	struct fill_spec f = spec("ratio:4");
	struct env e;

	(void)state;
	zt_env(&e, "lz4", 200 * PG, 0);
	assert_int_equal(swapper_set_limit(e.s, 128 * PG), 0);
	write_fill(&e, &f, NULL, 0, NPAGES);
	trim(&e);
	assert_int_equal(zstat(&e, "cap_bytes"), 64 * PG);
	assert_true(zstat(&e, "pool_bytes") <= 64 * PG);
	assert_true(zstat(&e, "written_back") > 0);
	assert_int_equal(check_fill(&e, &f, NULL, 0, NPAGES, UINT64_MAX), 0);
	env_teardown(&e);
}

/* A full pool writes its coldest pages to disk, in batches. */
static void test_pool_full_writeback(void **state)
{
	struct fill_spec f = spec("ratio:2");
	struct env e;
	uint64_t wb, sw;

	(void)state;
	zt_env(&e, "lz4", SMALL_POOL, 0);
	write_fill(&e, &f, NULL, 0, NPAGES);
	trim(&e);
	wb = zstat(&e, "written_back");
	sw = count_state(&e, PS_SWAPPED);
	assert_true(wb > 0);
	assert_true(count_state(&e, PS_ZPOOL) > 0);
	assert_int_equal(count_state(&e, PS_ZPOOL) + sw, NPAGES);
	/* every page on disk got there through the pool's write-back (all
	 * compress), in batches of several pages */
	assert_int_equal(C(&e, evict_written), wb);
	assert_int_equal(sw, wb);
	assert_true(C(&e, writes) * 2 <= wb);
	assert_true(zstat(&e, "pool_bytes") <= SMALL_POOL);
	assert_int_equal(check_fill(&e, &f, NULL, 0, NPAGES, UINT64_MAX), 0);
	assert_int_equal(C(&e, checksum_errors), 0);
	env_teardown(&e);
}

/* Random pages go straight to disk; compressible neighbours do not. */
static void test_incompressible(void **state)
{
	struct fill_spec r = spec("random"), q = spec("ratio:4");
	struct env e;
	uint64_t i;

	(void)state;
	zt_env(&e, "lz4", SMALL_POOL, 0);
	write_fill(&e, &r, &q, 0, NPAGES);      /* even random, odd ratio:4 */
	trim(&e);
	for (i = 0; i < NPAGES; i += 2)
		assert_int_equal(state_of(&e, i), PS_SWAPPED);
	assert_int_equal(zstat(&e, "rejected_incompressible"), NPAGES / 2);
	assert_true(count_state(&e, PS_ZPOOL) > 0);
	assert_int_equal(check_fill(&e, &r, &q, 0, NPAGES, UINT64_MAX), 0);
	assert_int_equal(C(&e, checksum_errors), 0);
	env_teardown(&e);
}

/* XOR byte `at` of global slot g's 4 KiB with x (aligned: the device's fd
 * may be O_DIRECT). */
static void tamper(struct env *e, uint64_t g, unsigned int at, uint8_t x)
{
	int fd = swap_dev_fd(swapset_dev(e->s, g));
	off_t off = (off_t)(gslot_off(g) * PG);
	uint8_t *b = aligned_alloc(PG, PG);

	assert_non_null(b);
	assert_int_equal(pread(fd, b, PG, off), (ssize_t)PG);
	b[at] ^= x;
	assert_int_equal(pwrite(fd, b, PG, off), (ssize_t)PG);
	free(b);
}

/* What the pool writes back is sealed: a page tampered with on disk after
 * its write-back fails the seal check of the next read (a migration read:
 * not fatal, the page stays where it is); repaired, it reads back right. */
static void test_writeback_sealed(void **state)
{
	struct fill_spec f = spec("ratio:2");
	static struct bg_op mg;
	struct env e;
	uint64_t p, g;

	(void)state;
	zt_env(&e, "lz4", SMALL_POOL, 2);
	write_fill(&e, &f, NULL, 0, NPAGES);
	trim(&e);
	assert_int_equal(C(&e, evict_written), zstat(&e, "written_back"));
	p = first_in(&e, PS_SWAPPED);
	g = pg_slot(word_of(&e, p));
	tamper(&e, g, 100, 0x5a);
	bg_start(&mg, &e, BG_MIGRATE, 0, 0, 1);
	bg_join(&mg, TRIM_WAIT_MS);
	assert_true(C(&e, checksum_errors) > 0);
	assert_int_equal(state_of(&e, p), PS_SWAPPED);
	assert_true(pg_slot(word_of(&e, p)) == g);      /* left on its slot */
	tamper(&e, g, 100, 0x5a);                       /* repaired */
	assert_int_equal(check_fill(&e, &f, NULL, 0, NPAGES, UINT64_MAX), 0);
	env_teardown(&e);
}

/* ---- discard ---- */

static void test_discard_zpool(void **state)
{
	struct fill_spec f = spec("ratio:3");
	struct env e;
	uint64_t p, n;

	(void)state;
	zt_env(&e, "zstd", SMALL_POOL, 0);
	write_fill(&e, &f, NULL, 0, NPAGES);
	trim(&e);
	p = first_in(&e, PS_ZPOOL);
	n = zstat(&e, "stored_pages");
	assert_int_equal(swapper_discard(e.s, GPA + p * PG, PG), 1);
	assert_int_equal(state_of(&e, p), PS_ZERO);
	assert_int_equal(zstat(&e, "stored_pages"), n - 1);
	assert_int_equal(zstat(&e, "discarded"), 1);
	assert_int_equal(check_fill(&e, &f, NULL, 0, NPAGES, p), 0);
	env_teardown(&e);
}

/* ---- races with the pool's write-back (held by the injection engine) ---- */

/* Hold the first disk write - the pool's first write-back, since every
 * page compresses - while the guest keeps writing.  Returns the pages of
 * the held batch in *a (its first) and *b (its second). */
static void hold_first_writeback(struct env *e, const struct fill_spec *f,
				 uint64_t *a, uint64_t *b)
{
	uint64_t off, i;
	int op;

	hold(e, IO_WRITE, 0, 0, 1);
	write_fill(e, f, NULL, 0, NPAGES);
	wait_held(e, 1);
	assert_int_equal(io_inject_held_info(e->inj, 0, &op, &off), 0);
	assert_true(zstat(e, "written_back") > 0);
	*a = *b = UINT64_MAX;
	for (i = 0; i < NPAGES; i++) {
		uint64_t w = word_of(e, i);

		if (pg_state(w) != PS_STAGED || !pg_holds_slot(w))
			continue;
		if (slot_off(e, i) == off)
			*a = i;
		else if (slot_off(e, i) == off + PG)
			*b = i;
	}
	assert_true(*a != UINT64_MAX && *b != UINT64_MAX);
}

/* Slots in use are exactly the pages that hold one. */
static void assert_slots_consistent(struct env *e, unsigned int ndevs)
{
	uint64_t i, held = 0, used = 0;
	unsigned int d;

	for (i = 0; i < e->npages; i++)
		held += pg_holds_slot(word_of(e, i));
	for (d = 0; d < (ndevs ? ndevs : 1); d++)
		used += dev_usage(e, (int)d).used;
	assert_int_equal(used, held);
}

static void test_writeback_vs_discard_and_fault(void **state)
{
	struct fill_spec f = spec("ratio:2");
	struct env e;
	uint64_t a, b;

	(void)state;
	zt_env(&e, "lz4", SMALL_POOL, 0);
	hold_first_writeback(&e, &f, &a, &b);
	assert_int_equal(swapper_discard(e.s, GPA + a * PG, PG), 1);
	assert_int_equal(state_of(&e, a), PS_ZERO);
	/* b's write is in flight: the fault is served from staging */
	assert_int_equal(check_fill(&e, &f, NULL, b, b + 1, UINT64_MAX), 0);
	settle(&e, b);
	assert_int_equal(state_of(&e, b), PS_RESIDENT);
	io_inject_release(e.inj, -1);
	trim(&e);
	assert_slots_consistent(&e, 0);
	assert_int_equal(check_fill(&e, &f, NULL, 0, NPAGES, a), 0);
	env_teardown(&e);
}

static void test_swapoff_during_writeback(void **state)
{
	struct fill_spec f = spec("ratio:2");
	static struct bg_op so;         /* static: outlive a failed test */
	struct env e;
	uint64_t a, b, zp, i;

	(void)state;
	zt_env(&e, "lz4", SMALL_POOL, 2);
	hold_first_writeback(&e, &f, &a, &b);
	assert_int_equal(gslot_dev(pg_slot(word_of(&e, a))), 0);
	zp = count_state(&e, PS_ZPOOL);
	assert_true(zp > 0);
	bg_start(&so, &e, BG_SWAPOFF, 0, 0, 0);
	io_inject_release(e.inj, -1);
	bg_join(&so, TRIM_WAIT_MS);
	assert_int_equal(so.ret, 0);
	for (i = 0; i < NPAGES; i++) {
		uint64_t w = word_of(&e, i);

		if (pg_holds_slot(w))
			assert_int_equal(gslot_dev(pg_slot(w)), 1);
	}
	/* the pool is untouched by swapoff; its next write-backs go to dev 1 */
	trim(&e);
	assert_true(count_state(&e, PS_ZPOOL) > 0);
	assert_int_equal(check_fill(&e, &f, NULL, 0, NPAGES, UINT64_MAX), 0);
	assert_int_equal(C(&e, checksum_errors), 0);
	env_teardown(&e);
}

/* Migration of dev 0 to dev 1 with its first read held, while the guest
 * faults pages out of the pool, discards one, and pushes more pages
 * through the pool (write-back) meanwhile. */
static void test_migrate_with_pool(void **state)
{
	struct fill_spec f = spec("ratio:2");
	static struct bg_op mg;
	struct env e;
	uint64_t p, q, i, moved0;

	(void)state;
	zt_env(&e, "lz4", SMALL_POOL, 2);
	write_fill(&e, &f, NULL, 0, NPAGES);
	trim(&e);
	moved0 = dev_usage(&e, 0).used;
	assert_true(moved0 > 0);
	hold(&e, IO_READ, 0, 0, 1);
	bg_start(&mg, &e, BG_MIGRATE, 0, 0, 1);
	wait_held(&e, 1);
	p = first_in(&e, PS_ZPOOL);
	assert_int_equal(check_fill(&e, &f, NULL, p, p + 1, UINT64_MAX), 0);
	q = first_in(&e, PS_ZPOOL);
	assert_int_equal(swapper_discard(e.s, GPA + q * PG, PG), 1);
	/* more evictions via the pool (never the page whose read is held) */
	for (i = 0; i < NPAGES; i += 4)
		if (i != q && state_of(&e, i) != PS_READING)
			(void)guest_load(page_ptr(&e, i));
	io_inject_release(e.inj, -1);
	bg_join(&mg, TRIM_WAIT_MS);
	assert_true(mg.ret >= 0);
	trim(&e);
	assert_slots_consistent(&e, 2);
	assert_int_equal(check_fill(&e, &f, NULL, 0, NPAGES, q), 0);
	assert_int_equal(C(&e, checksum_errors), 0);
	env_teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zpool),
		cmocka_unit_test(test_roundtrip_lz4),
		cmocka_unit_test(test_roundtrip_zstd),
		cmocka_unit_test(test_pool_counts_against_limit),
		cmocka_unit_test(test_limit_lowered),
		cmocka_unit_test(test_pool_full_writeback),
		cmocka_unit_test(test_incompressible),
		cmocka_unit_test(test_writeback_sealed),
		cmocka_unit_test(test_discard_zpool),
		cmocka_unit_test(test_writeback_vs_discard_and_fault),
		cmocka_unit_test(test_swapoff_during_writeback),
		cmocka_unit_test(test_migrate_with_pool),
	};

	return TL_MAIN(tests);
}
