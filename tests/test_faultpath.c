/*
 * test_faultpath.c - deterministic tests of the fast fault path (issue 10):
 * the fault thread's one loop over uffd messages and I/O completions with a
 * polled engine (fault.c, io.h "polled"), its spinning (spin.c), the
 * watermarks (reclaim.c) and readahead (readahead.c: windows, marker,
 * stride, waste).
 *
 * Races are pinned with the injection engine (HOLD) and the HOOK_FAULT_SLEEP
 * test hook, which runs on the fault thread between arming the engine's
 * wake-up and its last check before poll(): a completion made ready exactly
 * there must still wake it.  Waits are bounded; nothing is timed.
 */
#include "swapper_testlib.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- the loop ---- */

struct sleep_hook {
	_Atomic(struct io_inject *) inj;     /* set once the env exists */
	atomic_int armed;               /* 1: release the held reads at the hook */
	atomic_int fired;
};

static void release_at_sleep(struct swapper *s, enum core_hook_point p,
			     uint64_t v, void *arg)
{
	struct sleep_hook *h = arg;

	(void)s;
	(void)v;
	if (p != HOOK_FAULT_SLEEP || !atomic_load(&h->inj) ||
	    !atomic_exchange(&h->armed, 0))
		return;
	/* The fault thread is between io_engine_arm() and its last check:
	 * the read completes now, in the window a lost wake-up would hide. */
	io_inject_release(atomic_load(&h->inj), -1);
	atomic_fetch_add(&h->fired, 1);
}

/* No lost wake-up when the loop goes from its last check to sleeping: a
 * completion made ready between arm() and poll() wakes the thread, and the
 * faulting reader gets its page. */
static void test_no_lost_wakeup(void **state)
{
	static struct sleep_hook h;
	struct opts o = { .polled = true, .fault_spin_us = -1, .engine = "sync",
			  .hook = release_at_sleep, .hook_arg = &h };
	struct bg_op rd;
	struct env e;
	unsigned int round;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 16 * 67, 1);
	trim(&e);
	atomic_store(&h.inj, e.inj);
	for (round = 0; round < 16; round++) {
		uint64_t idx = round * 67;     /* no stream, no stride */

		hold(&e, IO_READ, 0, 0, 1);
		reader_start(&rd, &e, idx);
		wait_held(&e, 1);
		atomic_store(&h.armed, 1);
		/* Wake the fault thread with a first touch of a never-used
		 * page; on its way back to sleep the hook releases the read. */
		assert_int_equal(guest_load(page_ptr(&e, 2048 + round)), 0);
		bg_join(&rd, WAIT_MS);
		assert_true(rd.ok);
		io_inject_clear_rules(e.inj);
	}
	assert_int_equal(atomic_load(&h.fired), 16);
	assert_true(atomic_load(&e.s->reaped) >= 16);
	assert_int_equal(verify_range(&e, 0, 16 * 67), 0);
	env_teardown(&e);
}

/* A completion racing a duplicate fault: two threads fault on one page
 * whose read is held; one read, both get the page, the completion runs on
 * the fault thread (polled engine). */
static void test_completion_vs_duplicate(void **state)
{
	struct opts o = { .polled = true };
	struct bg_op a, b;
	struct env e;
	uint64_t reads0;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 64, 1);
	trim(&e);
	reads0 = C(&e, reads);
	hold(&e, IO_READ, 0, 0, 1);
	reader_start(&a, &e, 7);
	wait_held(&e, 1);
	reader_start(&b, &e, 7);
	assert_true(WAIT_UNTIL(C(&e, faults_dup) >= 1, WAIT_MS));
	io_inject_clear_rules(e.inj);
	io_inject_release(e.inj, -1);
	bg_join(&a, WAIT_MS);
	bg_join(&b, WAIT_MS);
	assert_true(a.ok && b.ok);
	assert_int_equal(C(&e, reads), reads0 + 1);
	assert_true(atomic_load(&e.s->reaped) >= 1);
	env_teardown(&e);
}

/* Teardown while the fault thread spins: destroy returns (the spin checks
 * the stop flag), with reads in flight completed by destroy's own reaping. */
static void test_teardown_while_spinning(void **state)
{
	struct opts o = { .polled = true, .fault_spin_us = 1000000 };
	struct env e;
	uint64_t i;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 512, 1);
	trim(&e);
	for (i = 0; i < 512; i += 7)
		assert_true(check_page(&e, i));
	/* the thread now spins for up to a second after its last work */
	env_teardown(&e);
}

/* The whole basic round trip with each polled engine. */
static void roundtrip(const char *engine)
{
	struct opts o = { .polled = true, .engine = engine, .npages = 2048 };
	struct env e;

	env_setup(&e, &o);
	write_range(&e, 0, 2048, 1);
	assert_int_equal(verify_range(&e, 0, 2048), 0);
	write_range(&e, 0, 2048, 2);
	trim(&e);
	assert_int_equal(verify_range(&e, 0, 2048), 0);
	assert_true(atomic_load(&e.s->reaped) > 0);
	env_teardown(&e);
}

static void test_polled_libaio(void **state)
{
	(void)state;
	roundtrip("libaio");
}

static void test_polled_sync(void **state)
{
	(void)state;
	roundtrip("sync");
}

/* ---- watermarks ---- */

/* After a burst, usage rests below the low watermark (reclaim wakes there
 * and, once woken, goes on down to the high one: usage that crept back up
 * between high and low stays - kswapd's hysteresis), with nothing left
 * staged, and it never ran past the hard limit. */
static void test_watermarks(void **state)
{
	struct opts o = { .polled = true, .limit_pages = 1024, .npages = 4096 };
	uint64_t high, low, lim;
	struct env e;

	(void)state;
	env_setup(&e, &o);
	lim = atomic_load(&e.s->limit_pages);
	low = atomic_load(&e.s->low_wmark);
	high = atomic_load(&e.s->high_wmark);
	assert_true(high < low && low < lim);
	write_range(&e, 0, 4096, 1);
	assert_true(WAIT_UNTIL(C(&e, resident) + C(&e, staged) < low &&
			       C(&e, staged) == 0, WAIT_MS));
	assert_true(C(&e, max_resident) <= lim + lim / 32 + 512);
	assert_int_equal(verify_range(&e, 0, 4096), 0);
	env_teardown(&e);
}

/* ---- readahead ---- */

/* The first page of a run of n swapped pages in consecutive slots, with
 * nothing faulted around them yet. */
static uint64_t slot_run(struct env *e, unsigned int n)
{
	uint64_t a, i;

	for (a = 64; a + n < e->npages; a++) {
		uint64_t w = word_of(e, a);

		if (pg_state(w) != PS_SWAPPED)
			continue;
		for (i = 1; i < n; i++) {
			uint64_t x = word_of(e, a + i);

			if (pg_state(x) != PS_SWAPPED || pg_slot(x) != pg_slot(w) + i)
				break;
		}
		if (i == n)
			return a;
	}
	fail_msg("no run of %u pages in consecutive slots", n);
	return 0;
}

/* Waste: pages read ahead past the last fault of their stream and evicted
 * before the stream reached them are counted; pages the stream passed are
 * not.  Faults at a, a+1, a+3 read a+2 (passed) and a+4..a+6 (not). */
static void test_readahead_waste(void **state)
{
	struct opts o = { .limit_pages = 1024 };
	struct env e;
	uint64_t a, i, ra0, w0;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 512, 1);
	trim(&e);
	a = slot_run(&e, 8);
	ra0 = C(&e, readahead);
	w0 = C(&e, readahead_wasted);
	assert_true(check_page(&e, a));
	assert_true(check_page(&e, a + 1));
	assert_true(WAIT_UNTIL(state_of(&e, a + 2) == PS_RESIDENT, WAIT_MS));
	assert_true(check_page(&e, a + 3));
	for (i = 4; i <= 6; i++)
		assert_true(WAIT_UNTIL(state_of(&e, a + i) == PS_RESIDENT, WAIT_MS));
	assert_int_equal(C(&e, readahead), ra0 + 4);
	assert_false(pg_has(word_of(&e, a + 2), PG_RA));       /* passed */
	for (i = 4; i <= 6; i++)
		assert_true(pg_has(word_of(&e, a + i), PG_RA));
	trim(&e);
	assert_int_equal(C(&e, readahead_wasted), w0 + 3);
	assert_int_equal(verify_range(&e, 0, 512), 0);
	env_teardown(&e);
}

/* Stride: faults 16 pages apart, after RA_HIST of them, read the next
 * pages at that stride ahead. */
static void test_readahead_stride(void **state)
{
	struct opts o = { .limit_pages = 2048, .npages = 4096 };
	struct env e;
	uint64_t i, ra0;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 4096, 1);
	trim(&e);
	ra0 = C(&e, readahead);
	for (i = 0; i < RA_HIST; i++)
		assert_true(check_page(&e, 64 + i * 16));
	/* the last fault planned RA_STRIDE pages at +16 each */
	assert_true(WAIT_UNTIL(state_of(&e, 64 + RA_HIST * 16) == PS_RESIDENT,
			       WAIT_MS));
	assert_true(C(&e, readahead) > ra0);
	assert_int_equal(state_of(&e, 64 + RA_HIST * 16 + 1), PS_SWAPPED);
	assert_int_equal(verify_range(&e, 0, 4096), 0);
	env_teardown(&e);
}

/* The marker: a fault on a page still being read by its stream's window
 * requests the next window at once, before the guest reaches its end.
 * Faults at a then a+1 read a+1 and a+2 (window 2); a second thread
 * touching a+2 while that read is held hits the marker: a+3..a+6 are
 * requested (window 4) - one more held read, four more readahead pages. */
static void test_readahead_marker(void **state)
{
	struct opts o = { .limit_pages = 1024 };
	struct bg_op r1, r2;
	struct env e;
	uint64_t a, h0, ra0;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 512, 1);
	trim(&e);
	a = slot_run(&e, 8);
	assert_true(check_page(&e, a));
	hold(&e, IO_READ, 0, 0, 0);
	reader_start(&r1, &e, a + 1);
	wait_held(&e, 1);
	assert_int_equal(state_of(&e, a + 2), PS_READING);
	h0 = C(&e, readahead_hints);
	ra0 = C(&e, readahead);
	reader_start(&r2, &e, a + 2);
	wait_held(&e, 2);
	assert_int_equal(C(&e, readahead_hints), h0 + 1);
	assert_int_equal(C(&e, readahead), ra0 + 4);
	assert_int_equal(state_of(&e, a + 6), PS_READING);
	io_inject_clear_rules(e.inj);
	io_inject_release(e.inj, -1);
	bg_join(&r1, WAIT_MS);
	bg_join(&r2, WAIT_MS);
	assert_true(r1.ok && r2.ok);
	assert_int_equal(verify_range(&e, 0, 512), 0);
	env_teardown(&e);
}

/* Large windows: a sequential scan over 8192 swapped-out pages with a limit
 * whose eighth allows RA_MAX (4 MiB) windows.  Each window after the
 * ramp-up (the limit is above the scan: nothing is evicted under it) is
 * requested by its predecessor's marker, so the scan's own
 * swap-in faults are the ramp (1, 2, ... pages) plus one marker per window:
 * about 20 with 1024-page windows, over 40 if windows stopped at 256
 * pages.  No read is larger than RA_IO_MAX pages (the group arrays are
 * that size: ASan would see an overflow), and every page reads back. */
static void test_readahead_large_window(void **state)
{
	struct opts o = { .limit_pages = 16 * RA_MAX, .npages = 8 * RA_MAX };
	struct env e;
	uint64_t i, f0, r0, p0, faults, ios, pages;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, o.npages, 1);
	trim(&e);
	f0 = C(&e, faults_swap);
	r0 = C(&e, read_ios);
	p0 = C(&e, reads);
	for (i = 0; i < o.npages; i++)
		assert_true(check_page(&e, i));
	faults = C(&e, faults_swap) - f0;
	ios = C(&e, read_ios) - r0;
	pages = C(&e, reads) - p0;
	print_message("  %llu swap-in faults, %llu reads for %llu pages\n",
		      (unsigned long long)faults, (unsigned long long)ios,
		      (unsigned long long)pages);
	assert_true(faults < o.npages / RA_IO_MAX);
	assert_true(ios * RA_IO_MAX >= pages);
	assert_int_equal(verify_range(&e, 0, o.npages), 0);
	env_teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_lost_wakeup),
		cmocka_unit_test(test_completion_vs_duplicate),
		cmocka_unit_test(test_teardown_while_spinning),
		cmocka_unit_test(test_polled_libaio),
		cmocka_unit_test(test_polled_sync),
		cmocka_unit_test(test_watermarks),
		cmocka_unit_test(test_readahead_waste),
		cmocka_unit_test(test_readahead_stride),
		cmocka_unit_test(test_readahead_marker),
		cmocka_unit_test(test_readahead_large_window),
	};

	return TL_MAIN(tests);
}
