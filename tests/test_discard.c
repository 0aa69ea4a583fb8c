/*
 * test_discard.c - swapper_discard() (swapper/discard.c): pages the guest
 * gave back (balloon inflates) leave every state correctly, and the races
 * with a swap-in read and a write-out are made deterministic with the
 * injection engine (a HOLD rule parks the read or the write while the
 * discard runs).
 *
 * After a discard a page must read back as zeros, its slot must be free
 * (device usage), its resident copy out of the resident count; pinned pages
 * are kept; every other page keeps its data (verified word by word).
 * Exit 77 only when userfaultfd is unavailable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swapper_testlib.h"

#define NPAGES 1024u
#define LIMIT_PAGES 512u        /* reading back 127 pages evicts nothing */

static void dc_env(struct env *e)
{
	struct opts o = { .npages = NPAGES, .limit_pages = LIMIT_PAGES,
			  .swap_bytes = 8 << 20, .engine = "sync",
			  .no_buffered = true, .no_fatal = true };

	env_setup(e, &o);
}

/* Pages 1..NPAGES-1 stamped and swapped out; page 0 never touched. */
static void fill_and_trim(struct env *e)
{
	uint64_t i;

	for (i = 1; i < NPAGES; i++)
		stamp(e, i);
	(void)word_of(e, NPAGES - 1);
	assert_int_equal(swapper_trim(e->s), 0);
}

static void expect_zero(struct env *e, uint64_t from, uint64_t to)
{
	uint64_t i;

	for (i = from; i < to; i++)
		e->gen[i] = 0;
}

/* Census of pages [0, 256): resident (unpinned), holding a slot (unpinned),
 * swapped.  No read may be in flight (readahead completes on the engine's
 * thread): wait for that first. */
struct census { uint64_t resident, slots, swapped, pinned; };

static bool none_reading(struct env *e)
{
	uint64_t i;

	for (i = 0; i < 256; i++)
		if (state_of(e, i) == PS_READING)
			return false;
	return true;
}

static struct census take_census(struct env *e)
{
	struct census c = { 0 };
	uint64_t i, w;

	assert_true(WAIT_UNTIL(none_reading(e), WAIT_MS));
	for (i = 0; i < 256; i++) {
		w = word_of(e, i);
		if (pg_has(w, PG_PINNED)) {
			c.pinned++;
			continue;
		}
		if (pg_state(w) == PS_RESIDENT)
			c.resident++;
		if (pg_state(w) == PS_SWAPPED || pg_state(w) == PS_STAGED)
			c.swapped++;
		if (pg_holds_slot(w))
			c.slots++;
	}
	return c;
}

/* Every state at once: NONE (page 0), resident clean (1..63: read back,
 * keeping their slots, and what readahead brought), resident dirty
 * (64..127), SWAPPED (the rest), one pinned page (200). */
static void test_discard_states(void **state)
{
	struct env e;
	uint64_t i, res0, used0;
	struct census c;
	void *host;
	int64_t n;

	(void)state;
	dc_env(&e);
	fill_and_trim(&e);
	for (i = 1; i < 64; i++)
		assert_true(check_page(&e, i));
	for (i = 64; i < 128; i++)
		stamp(&e, i);
	assert_int_equal(swapper_pin(e.s, GPA + 200 * PG, PG, false, false, &host), 0);
	c = take_census(&e);
	assert_int_equal(c.pinned, 1);
	assert_true(c.resident >= 127);         /* 1..127 at least */
	assert_true(c.slots >= 63);             /* the clean ones at least */
	assert_int_equal(c.resident + c.swapped, 254);  /* page 0: NONE */
	res0 = C(&e, resident);
	used0 = dev_usage(&e, 0).used;

	n = swapper_discard(e.s, GPA, 256 * PG);
	assert_int_equal(n, 255);               /* all but the pinned page */
	assert_int_equal(C(&e, discard_resident), c.resident);
	assert_int_equal(C(&e, discard_swapped), c.swapped);
	assert_int_equal(C(&e, discard_busy), 1);
	assert_int_equal(C(&e, discarded), 255);
	assert_int_equal(res0 - C(&e, resident), c.resident);
	assert_int_equal(used0 - dev_usage(&e, 0).used, c.slots);
	for (i = 1; i < 256; i++)
		assert_int_equal(state_of(&e, i), i == 200 ? PS_RESIDENT : PS_ZERO);
	assert_int_equal(state_of(&e, 0), PS_NONE);
	swapper_unpin(e.s, GPA + 200 * PG, PG, false);
	expect_zero(&e, 0, 200);
	expect_zero(&e, 201, 256);
	assert_all_pages_ok(&e);
	/* a discarded page written again is an ordinary page */
	stamp(&e, 5);
	assert_int_equal(swapper_trim(e.s), 0);
	assert_all_pages_ok(&e);
	env_teardown(&e);
}

static void test_discard_errors(void **state)
{
	struct env e;

	(void)state;
	dc_env(&e);
	assert_int_equal(swapper_discard(e.s, GPA, 0), -EINVAL);
	assert_int_equal(swapper_discard(e.s, GPA + 1, PG), -EINVAL);
	assert_int_equal(swapper_discard(e.s, GPA, PG + 1), -EINVAL);
	assert_int_equal(swapper_discard(e.s, GPA - PG, 2 * PG), -EFAULT);
	assert_int_equal(swapper_discard(e.s, GPA + (NPAGES - 1) * PG, 2 * PG), -EFAULT);
	assert_int_equal(swapper_discard(e.s, UINT64_MAX & ~(PG - 1), PG), -EFAULT);
	assert_int_equal(C(&e, discarded), 0);
	env_teardown(&e);
}

struct dc_bg {
	pthread_t t;
	struct swapper *s;
	uint64_t gpa, len;
	int64_t ret;
	atomic_bool done;
};

static void *dc_thread(void *arg)
{
	struct dc_bg *d = arg;

	d->ret = swapper_discard(d->s, d->gpa, d->len);
	atomic_store(&d->done, true);
	return NULL;
}

struct touch_bg {
	pthread_t t;
	volatile uint64_t *p;
	uint64_t v;
	atomic_bool done;
};

static void *touch_thread(void *arg)
{
	struct touch_bg *t = arg;

	t->v = *t->p;
	atomic_store(&t->done, true);
	return NULL;
}

/* A discard racing a fault's swap-in read: the read is parked; the discard
 * must wait for it (never drop a page under read: the read owns its page
 * word and bounce buffer), then drop the page and its slot.  The faulting
 * thread sees the page's data or, if the discard came first after the
 * install, zeros (a balloon page the guest touched): never anything else. */
static void test_discard_vs_read(void **state)
{
	struct env e;
	static struct dc_bg dc;         /* static: outlive a failed test */
	static struct touch_bg tb;
	uint64_t idx = 77, used0;

	(void)state;
	dc_env(&e);
	fill_and_trim(&e);
	used0 = dev_usage(&e, 0).used;
	hold(&e, IO_READ, slot_off(&e, idx), slot_off(&e, idx) + PG, 1);
	memset(&tb, 0, sizeof(tb));
	tb.p = page_ptr(&e, idx);
	assert_int_equal(pthread_create(&tb.t, NULL, touch_thread, &tb), 0);
	wait_held(&e, 1);
	wait_state(&e, idx, PS_READING);
	memset(&dc, 0, sizeof(dc));
	dc.s = e.s;
	dc.gpa = GPA + idx * PG;
	dc.len = PG;
	assert_int_equal(pthread_create(&dc.t, NULL, dc_thread, &dc), 0);
	/* Negative check: the discard must not finish while the read is parked. */
	negative_check_window(200);
	assert_false(atomic_load(&dc.done));
	assert_int_equal(state_of(&e, idx), PS_READING);
	io_inject_release(e.inj, -1);
	assert_int_equal(timed_join(dc.t, WAIT_MS), 0);
	assert_int_equal(timed_join(tb.t, WAIT_MS), 0);
	assert_int_equal(dc.ret, 1);
	assert_true(tb.v == pat(idx, 1, 0) || tb.v == 0);
	assert_int_equal(used0 - dev_usage(&e, 0).used, 1);
	expect_zero(&e, idx, idx + 1);
	assert_all_pages_ok(&e);
	env_teardown(&e);
}

/* A discard racing a write-out: the batch's write is parked with the page
 * STAGED and bound to its slot.  The discard takes the page at once (the
 * staging buffer stays the batch's); the write completes into a slot
 * nobody owns, which is freed: no slot leaks, the page reads zeros. */
static void test_discard_vs_writeout(void **state)
{
	struct env e;
	static struct bg_op tr;         /* static: outlive a failed test */
	uint64_t i, staged = 0, swapped = 0, off;
	int op;

	(void)state;
	dc_env(&e);
	for (i = 1; i < NPAGES; i++)
		stamp(&e, i);
	hold(&e, IO_WRITE, 0, 0, 1);                    /* first write only */
	bg_trim_start(&tr, &e);
	wait_held(&e, 1);
	assert_int_equal(io_inject_held_info(e.inj, 0, &op, &off), 0);
	for (i = 1; i < NPAGES && !staged; i++)
		if (pg_state(word_of(&e, i)) == PS_STAGED &&
		    (word_of(&e, i) & PG_SLOT) && slot_off(&e, i) == off)
			staged = i;
	assert_true(staged != 0);
	assert_int_equal(swapper_discard(e.s, GPA + staged * PG, PG), 1);
	assert_int_equal(state_of(&e, staged), PS_ZERO);
	assert_int_equal(C(&e, discard_swapped), 1);
	io_inject_release(e.inj, -1);
	bg_trim_join(&tr, TRIM_WAIT_MS);
	assert_int_equal(swapper_trim(e.s), 0);
	for (i = 0; i < NPAGES; i++)
		if (pg_state(word_of(&e, i)) == PS_SWAPPED)
			swapped++;
	/* every used slot belongs to a swapped page: the discarded one's went */
	assert_int_equal(dev_usage(&e, 0).used, swapped);
	assert_int_equal(swapped, NPAGES - 2);
	expect_zero(&e, staged, staged + 1);
	assert_all_pages_ok(&e);
	env_teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discard_states),
		cmocka_unit_test(test_discard_errors),
		cmocka_unit_test(test_discard_vs_read),
		cmocka_unit_test(test_discard_vs_writeout),
	};
	return TL_MAIN(tests);
}
