/*
 * test_hardcases.c - deterministic tests of pins, reverse maps, migration,
 * compaction and swapoff (swapper/pin.c, rmap.c, migrate.c).
 *
 * As in test_swapper.c, host threads play the vCPUs, and races are made
 * deterministic with the injection engine: a HOLD rule parks the exact
 * request a test needs in flight (a write-out, a read) while the test drives
 * the operation under test, then releases it.  Every page is stamped with
 * (index, generation) and verified word by word at the end.
 * Exit 77 only when userfaultfd is unavailable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hvswap/gmem.h"
#include "hvswap/log.h"
#include "hvswap/swapper.h"
#include "internal.h"
#include "io.h"
#include "swap_dev.h"
#include "uffd.h"

#define PG 4096ull
#define GPA 0x200000ull
#define NPAGES 1024u
#define LIMIT_PAGES 128u
#define WAIT_MS 20000

struct env {
	struct gmem *m;
	struct swapper *s;
	struct io_inject *inj;
	unsigned int gen[NPAGES];
};

static _Atomic int fatal_calls;

static void on_fatal(void *o, int err, const char *msg)
{
	(void)o;
	(void)err;
	fprintf(stderr, "fatal: %s\n", msg);
	atomic_fetch_add(&fatal_calls, 1);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static unsigned int env_staging;        /* 0: the default */

/* ndevs temp devices of `slots` slots each, priority decreasing. */
static void env_setup(struct env *e, unsigned int ndevs, uint64_t dev_bytes,
		      uint64_t longterm_bytes)
{
	struct swapper_config c = { 0 };
	struct io_engine *inner;
	unsigned int i;

	memset(e, 0, sizeof(*e));
	assert_int_equal(gmem_create(GMEM_ANON, NPAGES * PG, "t", &e->m), 0);
	assert_int_equal(io_engine_create("sync", 64, &inner), 0);
	assert_int_equal(io_inject_create(inner, &e->inj), 0);
	c.engine = io_inject_engine(e->inj);
	c.mem_limit = LIMIT_PAGES * PG;
	c.write_batch = 16;
	c.staging_pages = env_staging;
	c.tmpdir = "/var/tmp";
	c.nr_devs = ndevs;
	for (i = 0; i < ndevs; i++) {
		c.devs[i].path = NULL;
		c.devs[i].size = dev_bytes;
		c.devs[i].prio = 10 - (int)i;
	}
	c.max_longterm_pin_bytes = longterm_bytes;
	c.clean_policy = SWAPPER_CLEAN_ALWAYS;  /* page words the tests expect */
	c.fatal = on_fatal;
	assert_int_equal(swapper_create(&c, &e->s), 0);
	assert_int_equal(swapper_add_region(e->s, e->m, GPA), 0);
	assert_int_equal(swapper_start(e->s), 0);
	atomic_store(&fatal_calls, 0);
}

static void env_teardown(struct env *e)
{
	swapper_destroy(e->s);
	gmem_destroy(e->m);
	assert_int_equal(atomic_load(&fatal_calls), 0);
}

static volatile uint64_t *pg(struct env *e, uint64_t idx)
{
	return (volatile uint64_t *)((uint8_t *)e->m->host + idx * PG);
}

static void stamp(struct env *e, uint64_t idx)
{
	volatile uint64_t *p = pg(e, idx);
	unsigned int k, g = ++e->gen[idx];

	for (k = 0; k < PG / 8; k++)
		p[k] = (idx << 32) ^ ((uint64_t)g << 16) ^ k;
}

static void check(struct env *e, uint64_t idx)
{
	volatile uint64_t *p = pg(e, idx);
	unsigned int k, g = e->gen[idx];

	for (k = 0; k < PG / 8; k++) {
		uint64_t want = g ? ((idx << 32) ^ ((uint64_t)g << 16) ^ k) : 0;

		if (p[k] != want)
			fail_msg("page %llu word %u: %llx, want %llx",
				 (unsigned long long)idx, k, (unsigned long long)p[k],
				 (unsigned long long)want);
	}
}

static void check_all(struct env *e)
{
	uint64_t i;

	for (i = 0; i < NPAGES; i++)
		check(e, i);
}

/* The page word, read under the page lock: a faulting thread is woken by
 * UFFDIO_COPY before the handler (still holding the lock) updates it. */
static uint64_t word(struct env *e, uint64_t idx)
{
	uint64_t w;

	page_lock(e->s, idx);
	w = atomic_load(&e->s->pages[idx]);
	page_unlock(e->s, idx);
	return w;
}

static void *trim_main(void *a)
{
	swapper_trim(a);
	return NULL;
}

struct op {
	pthread_t t;
	struct env *e;
	int kind;               /* 0 read page, 1 migrate, 2 compact, 3 swapoff */
	uint64_t idx;
	int a, b;
	int64_t ret;
	_Atomic bool done;
};

static void *op_main(void *arg)
{
	struct op *o = arg;

	switch (o->kind) {
	case 0:
		check(o->e, o->idx);
		break;
	case 1:
		o->ret = swapper_migrate(o->e->s, o->a, o->b);
		break;
	case 2:
		o->ret = swapper_compact(o->e->s, o->a);
		break;
	case 3:
		o->ret = swapper_swapoff(o->e->s, o->a);
		break;
	}
	atomic_store(&o->done, true);
	return NULL;
}

static void op_start(struct op *o, struct env *e, int kind, uint64_t idx, int a,
		     int b)
{
	memset(o, 0, sizeof(*o));
	o->e = e;
	o->kind = kind;
	o->idx = idx;
	o->a = a;
	o->b = b;
	assert_int_equal(pthread_create(&o->t, NULL, op_main, o), 0);
}

static void op_join(struct op *o)
{
	uint64_t t0 = now_ms();

	while (!atomic_load(&o->done)) {
		if (now_ms() - t0 > WAIT_MS)
			fail_msg("operation %d did not finish", o->kind);
		sleep_ms(1);
	}
	pthread_join(o->t, NULL);
}

static void hold(struct env *e, int op, uint64_t lo, uint64_t hi, unsigned int count)
{
	struct io_inj_rule r = { .action = IO_INJ_HOLD, .op = op, .off_lo = lo,
				 .off_hi = hi, .count = count };

	assert_int_equal(io_inject_add_rule(e->inj, &r), 0);
}

static void wait_held(struct env *e, unsigned int n)
{
	assert_int_equal(io_inject_wait_held(e->inj, n, WAIT_MS), 0);
}

static void wait_state(struct env *e, uint64_t idx, enum page_state st)
{
	uint64_t t0 = now_ms();

	while (pg_state(word(e, idx)) != st) {
		if (now_ms() - t0 > WAIT_MS)
			fail_msg("page %llu never reached state %d (word %llx)",
				 (unsigned long long)idx, st,
				 (unsigned long long)word(e, idx));
		sleep_ms(1);
	}
}

static struct swap_dev_usage usage(struct env *e, int dev)
{
	struct swap_dev_usage u = { 0 };

	if (e->s->devs[dev])
		swap_dev_usage(e->s->devs[dev], &u);
	return u;
}

static uint64_t slot_off_of(struct env *e, uint64_t idx)
{
	return gslot_off(pg_slot(word(e, idx))) * PG;
}

/* Every stamped page: 1..NPAGES-1 written, page 0 left untouched. */
static void fill_and_trim(struct env *e)
{
	uint64_t i;

	for (i = 1; i < NPAGES; i++)
		stamp(e, i);
	(void)word(e, NPAGES - 1);      /* its fault handler is done */
	assert_int_equal(swapper_trim(e->s), 0);
}

/* --- pins --- */

/* A pin requested on a page whose write-out is in flight returns at once
 * (served from staging), and the page then stays resident through trims. */
static void test_pin_mid_writeout(void **state)
{
	struct env e;
	pthread_t t;
	uint64_t idx = 0, i;
	void *host;

	(void)state;
	env_setup(&e, 1, 8 << 20, 0);
	for (i = 1; i < NPAGES; i++)
		stamp(&e, i);
	hold(&e, IO_WRITE, 0, 0, 0);
	assert_int_equal(pthread_create(&t, NULL, trim_main, e.s), 0);
	wait_held(&e, 1);
	for (i = 1; i < NPAGES && !idx; i++) {
		uint64_t w = word(&e, i);

		if (pg_state(w) == PS_STAGED && (w & PG_SLOT))
			idx = i;
	}
	assert_true(idx != 0);
	assert_int_equal(swapper_pin(e.s, GPA + idx * PG, PG, false, false, &host), 0);
	assert_ptr_equal(host, (void *)pg(&e, idx));
	assert_true(io_inject_held(e.inj) >= 1);        /* write still parked */
	assert_int_equal(pg_state(word(&e, idx)), PS_RESIDENT);
	assert_true(word(&e, idx) & PG_PINNED);
	check(&e, idx);
	io_inject_clear_rules(e.inj);
	io_inject_release(e.inj, -1);
	pthread_join(t, NULL);
	assert_int_equal(swapper_trim(e.s), 0);
	assert_int_equal(pg_state(word(&e, idx)), PS_RESIDENT);   /* pinned */
	swapper_unpin(e.s, GPA + idx * PG, PG, false);
	assert_false(word(&e, idx) & PG_PINNED);
	assert_int_equal(swapper_trim(e.s), 0);
	assert_int_not_equal(pg_state(word(&e, idx)), PS_RESIDENT);
	check_all(&e);
	env_teardown(&e);
}

/* Eviction attempted on pinned pages skips them; counts and long-term caps. */
static void test_evict_pinned(void **state)
{
	struct env e;
	json_object *j, *v;
	void *host;

	(void)state;
	env_setup(&e, 1, 8 << 20, 2 * PG);
	fill_and_trim(&e);
	/* pin 3 pages (two of them twice), one range crossing pages */
	assert_int_equal(swapper_pin(e.s, GPA + 10 * PG + 100, 2 * PG, true, false, &host), 0);
	assert_int_equal(swapper_pin(e.s, GPA + 11 * PG, PG, false, false, NULL), 0);
	assert_true(word(&e, 12) & PG_PINNED);
	stamp(&e, 10);          /* the "device" writes through the pin */
	assert_int_equal(swapper_trim(e.s), 0);
	assert_int_equal(pg_state(word(&e, 10)), PS_RESIDENT);
	assert_int_equal(pg_state(word(&e, 11)), PS_RESIDENT);
	assert_int_equal(pg_state(word(&e, 12)), PS_RESIDENT);
	assert_int_not_equal(pg_state(word(&e, 13)), PS_RESIDENT);
	j = swapper_stats_json(e.s);
	assert_true(json_object_object_get_ex(j, "pinned_pages", &v));
	assert_int_equal(json_object_get_uint64(v), 3);
	json_object_put(j);
	/* long-term cap: 2 pages */
	assert_int_equal(swapper_pin(e.s, GPA + 20 * PG, 2 * PG, false, true, NULL), 0);
	assert_int_equal(swapper_pin(e.s, GPA + 22 * PG, PG, false, true, NULL), -ENOSPC);
	assert_false(word(&e, 22) & PG_PINNED);
	swapper_unpin(e.s, GPA + 20 * PG, 2 * PG, true);
	/* bad ranges */
	assert_int_equal(swapper_pin(e.s, GPA - PG, PG, false, false, NULL), -EFAULT);
	assert_int_equal(swapper_pin(e.s, GPA + NPAGES * PG - PG, 2 * PG, false, false, NULL),
			 -EFAULT);
	swapper_unpin(e.s, GPA + 10 * PG + 100, 2 * PG, false);
	assert_true(word(&e, 11) & PG_PINNED);          /* pinned twice */
	swapper_unpin(e.s, GPA + 11 * PG, PG, false);
	assert_false(word(&e, 11) & PG_PINNED);
	assert_int_equal(swapper_trim(e.s), 0);
	assert_int_not_equal(pg_state(word(&e, 10)), PS_RESIDENT);
	check_all(&e);
	env_teardown(&e);
}

/* A write pin on a clean (write-protected, slot-holding) page makes it
 * dirty first, so the device's write is written out again. */
static void test_write_pin_dirties(void **state)
{
	struct env e;
	uint64_t before;

	(void)state;
	env_setup(&e, 1, 8 << 20, 0);
	fill_and_trim(&e);
	check(&e, 5);                                   /* read fault: clean */
	assert_true((word(&e, 5) & (PG_WP | PG_SLOT)) == (PG_WP | PG_SLOT));
	assert_int_equal(swapper_pin(e.s, GPA + 5 * PG, PG, true, false, NULL), 0);
	assert_false(word(&e, 5) & (PG_WP | PG_SLOT));
	stamp(&e, 5);
	swapper_unpin(e.s, GPA + 5 * PG, PG, false);
	before = atomic_load(&e.s->c.bytes_written);
	assert_int_equal(swapper_trim(e.s), 0);
	assert_true(atomic_load(&e.s->c.bytes_written) > before);
	check_all(&e);
	env_teardown(&e);
}

/* --- reverse maps --- */

static void test_rmap(void **state)
{
	struct env e;
	uint64_t i, own[4], g;

	(void)state;
	env_setup(&e, 1, 8 << 20, 0);
	fill_and_trim(&e);
	for (i = 1; i < NPAGES; i++) {
		uint64_t w = word(&e, i);

		assert_int_equal(pg_state(w), PS_SWAPPED);
		assert_int_equal(rmap_owners(e.s, pg_slot(w), own, 4), 1);
		assert_int_equal(own[0], i);
	}
	/* sharing: a second owner, then back to one */
	g = pg_slot(word(&e, 7));
	page_lock(e.s, 8);
	assert_int_equal(rmap_add(e.s, g, 8), 0);
	page_unlock(e.s, 8);
	assert_int_equal(rmap_owners(e.s, g, own, 4), 2);
	assert_true((own[0] == 7 && own[1] == 8) || (own[0] == 8 && own[1] == 7));
	page_lock(e.s, 8);
	rmap_del(e.s, g, 8);
	page_unlock(e.s, 8);
	assert_int_equal(rmap_owners(e.s, g, own, 4), 1);
	assert_int_equal(own[0], 7);
	/* a write fault drops the claim and its rmap entry */
	check(&e, 9);
	g = pg_slot(word(&e, 9));
	stamp(&e, 9);
	assert_int_equal(rmap_owners(e.s, g, own, 4), 0);
	check_all(&e);
	env_teardown(&e);
}

/* --- migration --- */

static void assert_all_off(struct env *e, int dev)
{
	uint64_t i;

	for (i = 1; i < NPAGES; i++) {
		uint64_t w = word(e, i);

		if (w & PG_SLOT)
			assert_int_not_equal(gslot_dev(pg_slot(w)), dev);
	}
	assert_int_equal(usage(e, dev).used, 0);
}

/* Migration of a page under read: the read is parked, migration moves the
 * rest, the page joins once its read completes (into the guest, which
 * wanted it), and its claim on the old device is dropped. */
static void test_migrate_page_under_read(void **state)
{
	struct env e;
	struct op rd, mig;
	uint64_t idx = 33;

	(void)state;
	env_setup(&e, 2, 8 << 20, 0);
	fill_and_trim(&e);
	assert_int_equal(usage(&e, 0).used, NPAGES - 1);
	hold(&e, IO_READ, slot_off_of(&e, idx), slot_off_of(&e, idx) + PG, 1);
	op_start(&rd, &e, 0, idx, 0, 0);
	wait_held(&e, 1);
	wait_state(&e, idx, PS_READING);
	op_start(&mig, &e, 1, 0, 0, 1);
	/* everything but the page under read leaves device 0 */
	{
		uint64_t t0 = now_ms();

		while (usage(&e, 0).used > 1) {
			if (now_ms() - t0 > WAIT_MS)
				fail_msg("migration made no progress");
			sleep_ms(2);
		}
	}
	assert_int_equal(pg_state(word(&e, idx)), PS_READING);
	io_inject_release(e.inj, -1);
	op_join(&rd);
	op_join(&mig);
	assert_true(mig.ret >= NPAGES - 2);
	/* a second pass takes the page's remaining claim */
	assert_true(swapper_migrate(e.s, 0, 1) >= 0);
	assert_all_off(&e, 0);
	check_all(&e);
	env_teardown(&e);
}

/* Migration of a page in staging (its write-out parked): left alone until
 * the write lands, then moved. */
static void test_migrate_page_in_staging(void **state)
{
	struct env e;
	struct op mig;
	pthread_t t;
	uint64_t i, staged = 0;

	(void)state;
	env_setup(&e, 2, 8 << 20, 0);
	for (i = 1; i < NPAGES; i++)
		stamp(&e, i);
	hold(&e, IO_WRITE, 0, 0, 1);                    /* first write only */
	assert_int_equal(pthread_create(&t, NULL, trim_main, e.s), 0);
	wait_held(&e, 1);
	{
		int op;
		uint64_t off;

		/* a page of the parked batch */
		assert_int_equal(io_inject_held_info(e.inj, 0, &op, &off), 0);
		for (i = 1; i < NPAGES && !staged; i++)
			if (pg_state(word(&e, i)) == PS_STAGED &&
			    (word(&e, i) & PG_SLOT) && slot_off_of(&e, i) == off)
				staged = i;
	}
	assert_true(staged != 0);
	op_start(&mig, &e, 1, 0, 0, 1);
	sleep_ms(50);
	assert_int_equal(pg_state(word(&e, staged)), PS_STAGED);   /* untouched */
	io_inject_release(e.inj, -1);
	pthread_join(t, NULL);
	op_join(&mig);
	assert_true(mig.ret >= 0);
	assert_true(swapper_migrate(e.s, 0, 1) >= 0);
	assert_all_off(&e, 0);
	check_all(&e);
	env_teardown(&e);
}

/* Trims while a migration fills a small staging area (64 buffers, half a
 * device's worth of pages queued behind it): every trim completes.  Before
 * the fix, the reclaim thread stayed in a trim's eviction loop with every
 * staging buffer held by queued migration pages, which only the top of its
 * outer loop wrote out: the trim spun without progress until its timeout. */
static void test_trim_during_migration_small_staging(void **state)
{
	struct env e;
	struct op mig;
	pthread_t t;
	uint64_t i;
	int round;

	(void)state;
	env_staging = 64;
	env_setup(&e, 2, 8 << 20, 0);
	env_staging = 0;
	fill_and_trim(&e);
	for (round = 0; round < 3; round++) {
		int from = round % 2, to = 1 - from;

		/* dirty resident pages for the trims to evict */
		for (i = 1; i <= 100; i++)
			stamp(&e, i + (uint64_t)round * 200);
		op_start(&mig, &e, 1, 0, from, to);
		assert_int_equal(pthread_create(&t, NULL, trim_main, e.s), 0);
		for (i = 0; i < 4; i++)
			assert_int_equal(swapper_trim(e.s), 0);
		pthread_join(t, NULL);
		op_join(&mig);
		assert_true(mig.ret >= 0);
		assert_int_equal(swapper_trim(e.s), 0);
		assert_int_equal(atomic_load(&e.s->c.staged), 0);
		check_all(&e);
	}
	env_teardown(&e);
}

/* Compaction rewrites a fragmented device in guest-page order. */
static void test_compact(void **state)
{
	struct env e;
	uint64_t i, inorder = 0, pairs = 0;

	(void)state;
	env_setup(&e, 1, 8 << 20, 0);
	fill_and_trim(&e);
	/* fragment: rewrite every third page and evict again */
	for (i = 1; i < NPAGES; i += 3)
		stamp(&e, i);
	assert_int_equal(swapper_trim(e.s), 0);
	assert_true(swapper_compact(e.s, 0) > 0);
	for (i = 2; i < NPAGES; i++) {
		uint64_t a = word(&e, i - 1), b = word(&e, i);

		if (pg_state(a) != PS_SWAPPED || pg_state(b) != PS_SWAPPED)
			continue;
		pairs++;
		inorder += pg_slot(b) == pg_slot(a) + 1;
	}
	/* nearly every neighbour pair is in consecutive slots again */
	assert_true(pairs > NPAGES / 2);
	assert_true(inorder * 10 >= pairs * 9);
	check_all(&e);
	env_teardown(&e);
}

/* Swapoff while a page is mid-write-out, another mid-read with two threads
 * faulting on it; everything ends up on the other device or in memory. */
static void test_swapoff_races(void **state)
{
	struct env e;
	struct op r1, r2, off;
	pthread_t t;
	uint64_t p = 40, q = 41, i;
	json_object *j, *v;

	(void)state;
	env_setup(&e, 2, 8 << 20, 0);
	fill_and_trim(&e);
	check(&e, q);
	stamp(&e, q);                                   /* q: resident, dirty */
	hold(&e, IO_READ, slot_off_of(&e, p), slot_off_of(&e, p) + PG, 1);
	op_start(&r1, &e, 0, p, 0, 0);
	wait_held(&e, 1);
	op_start(&r2, &e, 0, p, 0, 0);                  /* second faulter */
	{
		uint64_t t0 = now_ms();

		while (!(word(&e, p) & PG_WAITER) ||
		       atomic_load(&e.s->c.faults_dup) == 0) {
			if (now_ms() - t0 > WAIT_MS)
				fail_msg("second faulter never arrived");
			sleep_ms(1);
		}
	}
	hold(&e, IO_WRITE, 0, 0, 1);
	assert_int_equal(pthread_create(&t, NULL, trim_main, e.s), 0);
	wait_held(&e, 2);
	wait_state(&e, q, PS_STAGED);
	op_start(&off, &e, 3, 0, 0, 0);
	{
		uint64_t t0 = now_ms();

		/* everything else leaves device 0: p's read and q's write
		 * (maybe with its batch) are still parked */
		while (usage(&e, 0).used > 1 + 16) {
			if (now_ms() - t0 > WAIT_MS)
				fail_msg("swapoff made no progress");
			sleep_ms(2);
		}
	}
	assert_false(atomic_load(&off.done));
	assert_int_equal(atomic_load(&e.s->c.reads) > 0, 1);
	io_inject_clear_rules(e.inj);
	io_inject_release(e.inj, -1);
	op_join(&r1);
	op_join(&r2);
	pthread_join(t, NULL);
	op_join(&off);
	assert_int_equal(off.ret, 0);
	assert_null(e.s->devs[0]);
	for (i = 1; i < NPAGES; i++) {
		uint64_t w = word(&e, i);

		if (w & PG_SLOT)
			assert_int_equal(gslot_dev(pg_slot(w)), 1);
	}
	j = swapper_stats_json(e.s);
	assert_true(json_object_object_get_ex(j, "devices", &v));
	assert_int_equal(json_object_array_length(v), 1);
	json_object_put(j);
	/* swapon again, and the guest keeps working */
	assert_true(swapper_swapon(e.s, NULL, 8 << 20, 20) >= 0);
	for (i = 1; i < NPAGES; i += 2)
		stamp(&e, i);
	assert_int_equal(swapper_trim(e.s), 0);
	check_all(&e);
	env_teardown(&e);
}

/* Swapoff of the only device: pages come back into memory. */
static void test_swapoff_to_memory(void **state)
{
	struct env e;

	(void)state;
	env_setup(&e, 1, 8 << 20, 0);
	fill_and_trim(&e);
	assert_int_equal(swapper_swapoff(e.s, 0), 0);
	assert_null(e.s->devs[0]);
	/* in memory, or on their way back into it (staged, no slot) */
	assert_true(atomic_load(&e.s->c.resident) + atomic_load(&e.s->c.staged) >=
		    NPAGES - 2);
	check_all(&e);
	env_teardown(&e);
}

/* Teardown while a swapoff waits on parked I/O: cancel makes it return. */
static void test_cancel_during_swapoff(void **state)
{
	struct env e;
	struct op rd, off;

	(void)state;
	env_setup(&e, 2, 8 << 20, 0);
	fill_and_trim(&e);
	hold(&e, IO_READ, slot_off_of(&e, 50), slot_off_of(&e, 50) + PG, 1);
	op_start(&rd, &e, 0, 50, 0, 0);
	wait_held(&e, 1);
	op_start(&off, &e, 3, 0, 0, 0);
	sleep_ms(100);
	swapper_cancel(e.s);
	op_join(&off);
	assert_int_equal(off.ret, -ECANCELED);
	io_inject_release(e.inj, -1);
	op_join(&rd);
	check(&e, 50);
	env_teardown(&e);
}

/* NUMA moves of resident pages.  This machine has one node: moving to it
 * reports every resident unpinned page as on node 0; a node it lacks is
 * refused; pinned pages are never moved. */
static void test_numa_single_node(void **state)
{
	struct env e;
	int64_t r;
	uint64_t i, resident = 0;

	(void)state;
	env_setup(&e, 1, 8 << 20, 0);
	for (i = 1; i <= 64; i++)
		stamp(&e, i);
	assert_int_equal(swapper_pin(e.s, GPA + 5 * PG, PG, false, false, NULL), 0);
	for (i = 0; i < NPAGES; i++)
		resident += pg_state(word(&e, i)) == PS_RESIDENT &&
			    !(word(&e, i) & PG_PINNED);
	r = swapper_numa_move(e.s, 0);
	assert_true(r > 0);
	assert_true((uint64_t)r <= resident);
	assert_int_equal(swapper_numa_move(e.s, swapper_numa_nodes()), -EINVAL);
	assert_int_equal(swapper_numa_move(e.s, -1), -EINVAL);
	swapper_unpin(e.s, GPA + 5 * PG, PG, false);
	check_all(&e);
	env_teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pin_mid_writeout),
		cmocka_unit_test(test_evict_pinned),
		cmocka_unit_test(test_write_pin_dirties),
		cmocka_unit_test(test_rmap),
		cmocka_unit_test(test_migrate_page_under_read),
		cmocka_unit_test(test_migrate_page_in_staging),
		cmocka_unit_test(test_trim_during_migration_small_staging),
		cmocka_unit_test(test_compact),
		cmocka_unit_test(test_swapoff_races),
		cmocka_unit_test(test_swapoff_to_memory),
		cmocka_unit_test(test_cancel_during_swapoff),
		cmocka_unit_test(test_numa_single_node),
	};
	struct uffd_caps caps;
	int r = uffd_probe(&caps);

	if (r == -EPERM || r == -ENOSYS) {
		fprintf(stderr, "userfaultfd unavailable (%s): skipping\n", strerror(-r));
		return 77;
	}
	hv_log_set_level(HV_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
