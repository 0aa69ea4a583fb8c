/*
 * test_swapper.c - deterministic tests of the swapper core: fault service
 * (fault.c), eviction and write completion (reclaim.c), lifecycle and trim
 * (swapper.c).
 *
 * Host threads play the vCPUs: the swapper serves a test thread touching a
 * registered region exactly like a vCPU in KVM_RUN.  Every guest page is
 * stamped with (index, generation) in all 512 of its words and verified word
 * by word; a page never written must read back as zeros and a written page
 * must never read back as zeros.  Races (faults during write-out, two
 * faulters on one page, teardown with I/O in flight) and errors (write/read
 * failures, short writes and reads, swap full) are made deterministic with
 * the injection engine (swapper/io.h): HOLD parks requests until the test
 * releases them, FAIL completes them with an error, SHORT reports half the
 * bytes.  Allocation failures are injected with alloc_fail_after (core.c)
 * at the allocation a test counts to.  Counters are read from the swapper
 * object itself (internal.h); one test cross-checks swapper_stats_json().
 *
 * Every wait is bounded (polls with a deadline, timed joins); a per-test
 * alarm() kills the process rather than let a lost wake-up hang ctest.
 * The environment, page stamps, bounded waits and background operations
 * are shared with test_hardcases.c (swapper_testlib.h).
 * Exit 77 only when userfaultfd is unavailable (EPERM/ENOSYS).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swapper_testlib.h"

#define NPAGES TL_NPAGES
#define LIMIT_PAGES TL_LIMIT_PAGES
#define BATCH TL_BATCH

/* ==================================================================== */
/* 1. basic round trip                                                   */

static void roundtrip(const struct opts *o, bool json_check)
{
	struct env e;
	uint64_t extra = 256, i;

	struct opts oo = *o;
	oo.npages = NPAGES + extra;
	env_setup(&e, &oo);
	write_range(&e, 0, NPAGES, 1);
	/* Eviction kept up (asynchronously: faults never wait for it). */
	assert_true(WAIT_UNTIL(C(&e, evict_written) > 0, WAIT_MS));
	assert_true(C(&e, bytes_written) > 0);
	print_message("  max resident %llu pages (limit %u)\n",
		      (unsigned long long)C(&e, max_resident), LIMIT_PAGES);
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	assert_true(C(&e, faults_swap) > 0);
	assert_true(C(&e, reads) > 0);
	/* Untouched pages read back as zeros, through the zero page. */
	settle(&e, NPAGES - 1);
	uint64_t z0 = C(&e, faults_zero);
	assert_int_equal(verify_range(&e, NPAGES, NPAGES + extra), 0);
	settle(&e, NPAGES + extra - 1);
	assert_true(C(&e, faults_zero) >= z0 + extra);
	/* A second generation over everything, then verify again. */
	for (i = 0; i < NPAGES; i += 3)
		write_page(&e, i, 2);
	assert_int_equal(verify_range(&e, 0, NPAGES + extra), 0);
	assert_int_equal(C(&e, read_errors), 0);
	assert_int_equal(C(&e, write_errors), 0);
	assert_int_equal(fatal_calls(&e), 0);
	if (json_check) {
		struct json_object *j;

		trim(&e);               /* quiesce: no write completes meanwhile */
		j = swapper_stats_json(e.s);

		assert_non_null(j);
		assert_int_equal(json_u64(j, "faults", "from_swap"), C(&e, faults_swap));
		assert_int_equal(json_u64(j, "evictions", "written"), C(&e, evict_written));
		assert_int_equal(json_u64(j, "bytes_written", NULL), C(&e, bytes_written));
		assert_int_equal(json_u64(j, "guest_pages", NULL), NPAGES + extra);
		assert_int_equal(json_u64(j, "limit_pages", NULL), LIMIT_PAGES);
		/* swap-in faults only, every one of them */
		assert_int_equal(json_u64(j, "swapin_latency", "count"), C(&e, faults_swap));
		assert_true(json_u64(j, "fault_latency", "count") >
			    json_u64(j, "swapin_latency", "count"));
		/* Writes took time, and no more than the writes' summed
		 * latencies (they overlap) or the whole run. */
		uint64_t busy = json_u64(j, "write_busy_ns", NULL);
		struct json_object *wl = NULL, *m = NULL;

		assert_true(busy > 0);
		assert_true(json_object_object_get_ex(j, "write_latency", &wl));
		assert_true(json_object_object_get_ex(wl, "mean_ns", &m));
		assert_true((double)busy <= 1.01 * json_object_get_double(m) *
				(double)json_u64(j, "write_latency", "count") + 1e6);
		json_object_put(j);
	}
	env_teardown(&e);
}

static void test_basic_roundtrip(void **state)
{
	struct opts o = { 0 };

	(void)state;
	roundtrip(&o, true);
}

static void test_basic_roundtrip_sync(void **state)
{
	struct opts o = { .engine = "sync" };

	(void)state;
	roundtrip(&o, false);
}

/* Fault-around: the first touch of a never-used page maps the rest of its
 * 16-page block (zero page for a read, private zeroed pages for a write);
 * those pages then cost no userfaultfd fault, read back as zeros, keep what
 * is written to them through eviction, and are evicted without I/O while
 * still zero. */
static void test_fault_around(void **state)
{
	struct env e;
	struct opts o = { .fault_around = 16 };
	uint64_t i;

	(void)state;
	env_setup(&e, &o);
	/* a read in block [32, 48) */
	assert_int_equal(verify_range(&e, 35, 36), 0);
	assert_true(WAIT_UNTIL(C(&e, zero_around) == 15, WAIT_MS));
	assert_int_equal(C(&e, faults_zero), 1);
	assert_int_equal(verify_range(&e, 32, 48), 0);
	write_range(&e, 40, 48, 1);             /* host COW of the zero page */
	assert_int_equal(C(&e, faults_zero), 1);        /* no uffd fault */
	/* a write in block [64, 80) */
	write_page(&e, 70, 1);
	assert_true(WAIT_UNTIL(C(&e, zero_around) == 30, WAIT_MS));
	assert_int_equal(C(&e, faults_zero), 2);
	assert_int_equal(verify_range(&e, 64, 80), 0);
	for (i = 64; i < 80; i += 2)
		write_page(&e, i, 2);
	assert_int_equal(C(&e, faults_zero), 2);
	/* another block */
	write_page(&e, 100, 1);
	assert_true(WAIT_UNTIL(C(&e, zero_around) == 45, WAIT_MS));
	assert_int_equal(verify_range(&e, 96, 112), 0);
	/* through eviction and back */
	trim(&e);
	assert_int_equal(C(&e, resident), 0);
	assert_true(C(&e, evict_zero) >= 8 + 8 + 15);  /* still-zero pages */
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

/* Fault-around in spans: a 64-page block is mapped with one ioctl per run
 * of never-used pages (at most 32 at once): a write at page 20 maps
 * [0, 20), [21, 53) and [53, 64) - 63 pages, the faulting page's data
 * intact, the others zeros, through eviction and back. */
static void test_fault_around_spans(void **state)
{
	struct env e;
	struct opts o = { .fault_around = 64, .limit_pages = 1024 };

	(void)state;
	env_setup(&e, &o);
	write_page(&e, 20, 1);
	assert_true(WAIT_UNTIL(C(&e, zero_around) == 63, WAIT_MS));
	assert_int_equal(C(&e, faults_zero), 1);
	assert_int_equal(C(&e, resident), 64);
	assert_int_equal(verify_range(&e, 0, 64), 0);
	write_page(&e, 52, 1);          /* the end of the full span */
	write_page(&e, 53, 1);          /* the start of the next */
	assert_int_equal(C(&e, faults_zero), 1);
	trim(&e);
	assert_int_equal(verify_range(&e, 0, 128), 0);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

/* A trim asked for while a reclaim round is in progress (blocked on a full
 * write queue) evicts everything: the round's pages, taken out before the
 * trim's budget was set, are not charged to it.  (They were, and such a
 * trim ended with pages still resident: test_zero_eviction's flake.) */
static void test_trim_during_round(void **state)
{
	struct env e;
	struct opts o = { .queue_depth = 4, .limit_pages = 512 };
	struct io_inj_rule hold = { .action = IO_INJ_HOLD, .op = IO_WRITE };
	static struct bg_op b;         /* static: outlive a failed test */
	uint64_t tg;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 300, 1);             /* under the limit: no eviction */
	settle(&e, 299);
	assert_int_equal(C(&e, resident), 300);
	assert_int_equal(io_inject_add_rule(e.inj, &hold), 0);
	/* One round of ~220 victims; its writes fill the queue (2 of depth 4
	 * are writes' share) and the round waits inside write_staged. */
	assert_int_equal(swapper_set_limit(e.s, 128 * PG), 0);
	assert_int_equal(io_inject_wait_held(e.inj, 2, WAIT_MS), 0);
	assert_true(WAIT_UNTIL(C(&e, resident) <= 100, WAIT_MS));
	tg = trim_gen_of(e.s);
	bg_trim_start(&b, &e);
	/* the trim's budget is set (under rc_lock, with its generation) */
	assert_true(WAIT_UNTIL(trim_gen_of(e.s) > tg, WAIT_MS));
	io_inject_clear_rules(e.inj);
	io_inject_release(e.inj, -1);
	bg_trim_join(&b, 60000);
	assert_int_equal(C(&e, resident), 0);
	assert_int_equal(verify_range(&e, 0, 300), 0);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

/* --keep-clean auto: when the pages kept clean keep getting written (each
 * write a write-protect fault) and are never dropped clean, swap-ins are
 * installed writable instead, except 1 in 32 that keep measuring; when
 * they are only read, they stay clean and are dropped without I/O. */
static void test_keep_clean_auto(void **state)
{
	struct env e;
	struct opts o = { .clean_auto = true };
	uint64_t i, inst0;

	(void)state;
	env_setup(&e, &o);
	if (!e.s->use_wp) {
		env_teardown(&e);
		skip();
	}
	write_range(&e, 0, NPAGES, 1);
	trim(&e);
	/* read each page, then write it */
	for (i = 0; i < NPAGES; i++) {
		assert_true(page_is(&e, i, 1, true));
		write_page(&e, i, 2);
	}
	print_message("  installed clean %llu, write-protect faults %llu of %u\n",
		      (unsigned long long)C(&e, installed_clean),
		      (unsigned long long)C(&e, faults_wp), NPAGES);
	assert_true(C(&e, installed_clean) <= NPAGES / 16);
	assert_true(C(&e, faults_wp) <= C(&e, installed_clean));
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	/* read-only passes: the sampled clean installs are dropped clean,
	 * the estimate turns, and most pages are installed clean again */
	trim(&e);
	inst0 = C(&e, installed_clean);
	for (i = 0; i < 4; i++) {
		assert_int_equal(verify_range(&e, 0, NPAGES), 0);
		trim(&e);
	}
	print_message("  read-only: installed clean %llu of %u\n",
		      (unsigned long long)(C(&e, installed_clean) - inst0), 4 * NPAGES);
	assert_true(C(&e, installed_clean) - inst0 >= NPAGES);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

/* ==================================================================== */
/* 2. zero-page eviction                                                 */

static void test_zero_eviction(void **state)
{
	struct env e;
	struct opts o = { 0 };

	(void)state;
	env_setup(&e, &o);
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);    /* reads only */
	trim(&e);
	assert_true(C(&e, evict_zero) >= NPAGES - LIMIT_PAGES);
	assert_int_equal(C(&e, resident), 0);
	assert_int_equal(C(&e, bytes_written), 0);
	assert_int_equal(C(&e, writes), 0);
	assert_int_equal(C(&e, evict_written), 0);
	assert_int_equal(io_inject_seen(e.inj), 0);          /* no I/O at all */
	assert_int_equal(state_of(&e, 7), PS_ZERO);
	/* ZERO pages fault as zeros again, still without I/O. */
	uint64_t z0 = C(&e, faults_zero);
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	settle(&e, NPAGES - 1);
	assert_true(C(&e, faults_zero) >= z0 + NPAGES);
	assert_int_equal(C(&e, faults_swap), 0);
	assert_int_equal(io_inject_seen(e.inj), 0);
	env_teardown(&e);
}

/* ==================================================================== */
/* 3. clean re-eviction, then a write-protect fault makes the page dirty */

static void test_clean_reeviction(void **state)
{
	struct env e;
	struct opts o = { 0 };
	const uint64_t x = 1234;
	uint64_t bw, clean0, wp0, ew, ew0;

	(void)state;
	env_setup(&e, &o);
	if (!e.s->use_wp) {
		env_teardown(&e);
		skip();
	}
	write_range(&e, 0, NPAGES, 1);
	trim(&e);
	assert_int_equal(C(&e, resident), 0);
	assert_int_equal(C(&e, staged), 0);
	/* (A page evicted in the middle of its writing by the test thread
	 * is written twice: once before, once after the rest of its data.) */
	ew0 = C(&e, evict_written);
	assert_true(ew0 >= NPAGES);
	bw = C(&e, bytes_written);
	assert_true(bw >= NPAGES * PG);

	/* Swap-in by reads installs write-protected copies that keep their
	 * slots; evicting them (during the reads and by the trim) is free. */
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	trim(&e);
	assert_true(C(&e, evict_clean) >= NPAGES);
	assert_int_equal(C(&e, bytes_written), bw);
	assert_int_equal(C(&e, evict_written), ew0);
	assert_int_equal(C(&e, faults_wp), 0);

	/* Read x (clean, WP), then write it: a WP fault, and the page is
	 * dirty again, so the next eviction writes it. */
	assert_true(check_page(&e, x));
	uint64_t w = word_of(&e, x);
	assert_int_equal(pg_state(w), PS_RESIDENT);
	assert_true((w & PG_WP) && (w & PG_SLOT));
	wp0 = C(&e, faults_wp);
	write_page(&e, x, 2);
	settle(&e, x);
	assert_int_equal(C(&e, faults_wp), wp0 + 1);
	w = word_of(&e, x);
	assert_false(w & (PG_WP | PG_SLOT));
	clean0 = C(&e, evict_clean);
	ew = C(&e, evict_written);
	trim(&e);
	assert_int_equal(C(&e, evict_written), ew + 1);
	assert_int_equal(C(&e, bytes_written), bw + PG);
	assert_int_equal(state_of(&e, x), PS_SWAPPED);
	assert_true(check_page(&e, x));                     /* generation 2 */
	assert_true(check_page(&e, x - 1));
	assert_true(check_page(&e, x + 1));
	assert_true(C(&e, evict_clean) >= clean0);
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

/* ==================================================================== */
/* 4/5. faults while the write-out is held (the swap cache)              */

#define HELD_PAGES 64u
/* A limit the first 512 written pages stay under: no eviction (and so no
 * swap-in, no readahead stream) before the test's own trim and faults. */
#define QUIET_LIMIT 1024u

/* Write HELD_PAGES pages, HOLD every write, trim in the background and
 * wait until the trim pass is over: every page STAGED, every write held.
 * Returns the number of write requests held (batches of <= BATCH pages). */
static unsigned int stage_held(struct env *e, struct bg_op *bt)
{
	unsigned int held;
	uint64_t i;

	add_rule(e, IO_INJ_HOLD, IO_WRITE, 0, 0, 0, 0);
	write_range(e, 0, HELD_PAGES, 1);
	assert_int_equal(C(e, evict_written), 0);
	bg_trim_start(bt, e);
	assert_int_equal(io_inject_wait_held(e->inj, 1, WAIT_MS), 0);
	assert_true(WAIT_UNTIL(C(e, staged) == HELD_PAGES && C(e, resident) == 0 &&
			       trim_gen_done(e->s) >= 1, WAIT_MS));
	held = io_inject_held(e->inj);
	assert_true(held >= HELD_PAGES / BATCH);
	assert_int_equal(held_of_op(e, IO_WRITE), held);
	for (i = 0; i < HELD_PAGES; i++)
		assert_int_equal(state_of(e, i), PS_STAGED);
	assert_false(atomic_load(&bt->done));
	return held;
}

static void test_fault_during_writeout(void **state)
{
	struct env e;
	struct opts o = { 0 };
	static struct bg_op bt;
	unsigned int held;
	uint64_t st0;

	(void)state;
	env_setup(&e, &o);
	held = stage_held(&e, &bt);

	/* Read of a page whose write is held: served from staging at once. */
	st0 = C(&e, faults_staging);
	assert_true(check_page(&e, 5));
	settle(&e, 5);
	assert_int_equal(C(&e, faults_staging), st0 + 1);
	assert_int_equal(C(&e, faults_swap), 0);
	assert_int_equal(io_inject_held(e.inj), held);
	assert_int_equal(state_of(&e, 5), PS_RESIDENT);
	/* ... and written to, still with its write held. */
	write_page(&e, 5, 2);
	assert_true(check_page(&e, 5));
	/* A write fault straight on a staged page. */
	write_page(&e, 7, 2);
	settle(&e, 7);
	assert_int_equal(C(&e, faults_staging), st0 + 2);
	assert_int_equal(io_inject_held(e.inj), held);
	assert_false(atomic_load(&bt.done));
	assert_int_equal(C(&e, reads), 0);

	io_inject_clear_rules(e.inj);
	assert_int_equal(io_inject_release(e.inj, -1), (int)held);
	bg_trim_join(&bt, WAIT_MS);
	assert_true(WAIT_UNTIL(C(&e, staged) == 0, WAIT_MS));
	/* The batch wrote all 64 pages; 5 and 7 came back before it did. */
	assert_int_equal(C(&e, bytes_written), HELD_PAGES * PG);
	assert_int_equal(C(&e, evict_written), HELD_PAGES - 2);
	assert_int_equal(state_of(&e, 5), PS_RESIDENT);
	assert_int_equal(state_of(&e, 7), PS_RESIDENT);
	assert_int_equal(verify_range(&e, 0, HELD_PAGES), 0);
	/* And through swap once more. */
	trim(&e);
	assert_int_equal(state_of(&e, 5), PS_SWAPPED);
	assert_int_equal(verify_range(&e, 0, HELD_PAGES), 0);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

static void test_write_done_after_faultback(void **state)
{
	struct env e;
	struct opts o = { 0 };
	static struct bg_op bt;
	uint64_t bw;

	(void)state;
	env_setup(&e, &o);
	stage_held(&e, &bt);
	assert_true(check_page(&e, 10));         /* read back only */
	write_page(&e, 11, 2);                   /* write fault on staged */
	assert_true(check_page(&e, 12));         /* read back, then written */
	write_page(&e, 12, 2);
	settle(&e, 10);
	settle(&e, 11);
	settle(&e, 12);
	assert_int_equal(C(&e, faults_staging), 3);

	io_inject_clear_rules(e.inj);
	io_inject_release(e.inj, -1);
	bg_trim_join(&bt, WAIT_MS);
	/* The completion left the faulted-back pages alone. */
	assert_int_equal(state_of(&e, 10), PS_RESIDENT);
	assert_int_equal(state_of(&e, 11), PS_RESIDENT);
	assert_int_equal(state_of(&e, 12), PS_RESIDENT);
	assert_int_equal(C(&e, resident), 3);
	assert_true(check_page(&e, 10));
	assert_true(check_page(&e, 11));
	assert_true(check_page(&e, 12));
	bw = C(&e, bytes_written);
	assert_int_equal(bw, HELD_PAGES * PG);
	/* Evict again: the written pages must go out again (their slot copy
	 * is stale) and come back with the latest data. */
	trim(&e);
	assert_int_equal(C(&e, resident), 0);
	assert_true(C(&e, bytes_written) >= bw + 2 * PG);
	assert_int_equal(state_of(&e, 11), PS_SWAPPED);
	assert_int_equal(state_of(&e, 12), PS_SWAPPED);
	assert_true(check_page(&e, 11));
	assert_true(check_page(&e, 12));
	assert_true(check_page(&e, 10));
	assert_int_equal(verify_range(&e, 0, HELD_PAGES), 0);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

/*
 * 5b. A page read back from staging while its write is still in flight must
 * not be treated as a clean copy of its slot: the slot does not hold the data
 * yet.  Evict it again before the write completes, then read it: the read
 * must not see the slot's old contents.
 */
static void test_reevict_before_write_done(void **state)
{
	struct env e;
	struct opts o = { 0 };
	static struct bg_op bt, bt2;     /* static: outlive a failed test */

	(void)state;
	env_setup(&e, &o);
	stage_held(&e, &bt);
	assert_true(check_page(&e, 20));         /* from staging, write held */
	assert_int_equal(state_of(&e, 20), PS_RESIDENT);
	/* Second trim: page 20 goes out again while its first write is held. */
	bg_trim_start(&bt2, &e);
	assert_true(WAIT_UNTIL(trim_gen_done(e.s) >= 2, WAIT_MS));
	assert_int_equal(C(&e, resident), 0);
	assert_true(state_of(&e, 20) != PS_RESIDENT);
	/* Its data must still be had, with the first write still held. */
	assert_true(check_page(&e, 20));
	assert_int_equal(verify_range(&e, 16, 32), 0);
	io_inject_clear_rules(e.inj);
	io_inject_release(e.inj, -1);
	bg_trim_join(&bt, WAIT_MS);
	bg_trim_join(&bt2, WAIT_MS);
	assert_int_equal(C(&e, staged), 0);
	assert_int_equal(verify_range(&e, 0, HELD_PAGES), 0);
	trim(&e);
	assert_int_equal(verify_range(&e, 0, HELD_PAGES), 0);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

/* ==================================================================== */
/* 6. teardown with I/O in flight                                        */

static void test_teardown_inflight(void **state)
{
	struct env e;
	struct opts o = { 0 };
	static struct bg_op rd;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 512, 1);
	trim(&e);
	assert_int_equal(state_of(&e, 0), PS_SWAPPED);
	add_rule(&e, IO_INJ_HOLD, IO_INJ_ANY_OP, 0, 0, 0, 0);
	/* New pages over the limit: background eviction, writes held. */
	write_range(&e, 1024, 1024 + 2 * LIMIT_PAGES, 1);
	assert_int_equal(io_inject_wait_held(e.inj, 1, WAIT_MS), 0);
	assert_true(held_of_op(&e, IO_WRITE) >= 1);
	assert_true(C(&e, staged) > 0);
	/* A thread blocked on a swapped page, its read held. */
	reader_start(&rd, &e, 0);
	assert_true(WAIT_UNTIL(held_of_op(&e, IO_READ) == 1, WAIT_MS));
	/* Negative check: with its read held, the reader stays blocked. */
	negative_check_window(20);
	assert_int_equal(atomic_load(&rd.state), 1);
	swapper_destroy(e.s);
	e.s = NULL;
	/* The reader is released (the held read completed at destroy). */
	assert_int_equal(timed_join(rd.t, WAIT_MS), 0);
	assert_int_equal(atomic_load(&rd.state), 2);
	assert_true(rd.ok);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);               /* the swapper is gone already */
}

/* ==================================================================== */
/* 7. write error, then retry elsewhere                                  */

static void assert_no_bad_slot_used(struct env *e)
{
	uint64_t i;

	for (i = 0; i < e->npages; i++) {
		uint64_t w = atomic_load(&e->s->pages[i]);

		if (!pg_holds_slot(w))
			continue;
		assert_int_equal(gslot_dev(pg_slot(w)), 0);
		assert_int_not_equal(swap_slot_count(e->s->devs[0], gslot_off(pg_slot(w))),
				     SWAP_SLOT_BAD);
	}
}

static void test_write_error_retry(void **state)
{
	struct env e;
	struct opts o = { 0 };
	struct swap_dev_usage u;
	uint64_t retired;

	(void)state;
	env_setup(&e, &o);
	add_rule(&e, IO_INJ_FAIL, IO_WRITE, 0, 0, 1, EIO);
	write_range(&e, 0, HELD_PAGES, 1);
	trim(&e);
	/* The trim waited for the retried writes too. */
	assert_int_equal(C(&e, staged), 0);
	assert_int_equal(atomic_load(&e.s->writes_inflight), 0);
	assert_int_equal(io_inject_failed(e.inj), 1);
	assert_int_equal(C(&e, write_errors), 1);
	/* The failed batch's slots (a batch is up to BATCH pages). */
	retired = C(&e, slots_retired);
	assert_true(retired >= 1 && retired <= BATCH);
	assert_int_equal(C(&e, evict_written), HELD_PAGES);
	assert_int_equal(C(&e, bytes_written), HELD_PAGES * PG);
	assert_int_equal(C(&e, resident), 0);
	u = dev_usage(&e, 0);
	assert_int_equal(u.bad, retired);
	assert_int_equal(u.used, HELD_PAGES);
	assert_no_bad_slot_used(&e);
	assert_int_equal(verify_range(&e, 0, HELD_PAGES), 0);
	/* More traffic: the retired slots are never handed out again. */
	write_range(&e, 0, 2048, 2);
	trim(&e);
	assert_true(WAIT_UNTIL(C(&e, staged) == 0, WAIT_MS));
	u = dev_usage(&e, 0);
	assert_int_equal(u.bad, retired);
	assert_no_bad_slot_used(&e);
	assert_int_equal(verify_range(&e, 0, 2048), 0);
	assert_int_equal(C(&e, write_errors), 1);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

/* 7b. A short write (half the bytes reported) is a write error: the
 * batch's slots retire, its pages stay staged and are written again on new
 * slots; nothing is lost. */
static void test_short_write_retry(void **state)
{
	struct env e;
	struct opts o = { 0 };
	struct swap_dev_usage u;
	uint64_t retired;

	(void)state;
	env_setup(&e, &o);
	add_rule(&e, IO_INJ_SHORT, IO_WRITE, 0, 0, 1, 0);
	write_range(&e, 0, HELD_PAGES, 1);
	trim(&e);
	/* The trim waited for the retried writes too. */
	assert_int_equal(C(&e, staged), 0);
	assert_int_equal(atomic_load(&e.s->writes_inflight), 0);
	assert_int_equal(io_inject_failed(e.inj), 0);   /* shortened, not failed */
	assert_int_equal(C(&e, write_errors), 1);
	retired = C(&e, slots_retired);
	assert_true(retired >= 1 && retired <= BATCH);
	assert_int_equal(C(&e, evict_written), HELD_PAGES);
	assert_int_equal(C(&e, bytes_written), HELD_PAGES * PG);
	assert_int_equal(C(&e, resident), 0);
	u = dev_usage(&e, 0);
	assert_int_equal(u.bad, retired);
	assert_int_equal(u.used, HELD_PAGES);
	assert_no_bad_slot_used(&e);
	/* Every page reads back from its new slot; the rest are zeros. */
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	assert_int_equal(C(&e, read_errors), 0);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

/* ==================================================================== */
/* 8. read errors                                                        */

#define INTR_SIG (UNDER_TSAN ? SIGSYS : SIGUSR1)
static __thread sigjmp_buf *t_jmp;

static void on_intr(int sig)
{
	(void)sig;
	if (t_jmp)
		siglongjmp(*t_jmp, 1);
}

struct intr_reader {
	pthread_t t;
	volatile uint64_t *addr;
	atomic_int state;      /* 1 accessing, 2 completed (!), 3 interrupted */
	uint64_t val;
};

static void *intr_main(void *arg)
{
	struct intr_reader *r = arg;
	sigjmp_buf jb;
	sigset_t ss;

	sigemptyset(&ss);
	sigaddset(&ss, INTR_SIG);
	pthread_sigmask(SIG_UNBLOCK, &ss, NULL);
	if (sigsetjmp(jb, 1)) {
		t_jmp = NULL;
		atomic_store(&r->state, 3);
		return NULL;
	}
	t_jmp = &jb;
	atomic_store(&r->state, 1);
	r->val = guest_load(r->addr);   /* faults; the read fails for good */
	t_jmp = NULL;
	atomic_store(&r->state, 2);
	return NULL;
}

/* Start a thread faulting on addr that INTR_SIG can interrupt (the old
 * handler into *old). */
static void intr_start(struct intr_reader *ir, volatile uint64_t *addr,
		       struct sigaction *old)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_intr;        /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(INTR_SIG, &sa, old), 0);
	memset(ir, 0, sizeof(*ir));
	ir->addr = addr;
	assert_int_equal(pthread_create(&ir->t, NULL, intr_main, ir), 0);
}

/* Signal it until it leaves its access (a signal sent just before the
 * thread blocks is lost: send again, every 10 ms, for up to 2 s). */
static void intr_stop(struct intr_reader *ir)
{
	int i;

	for (i = 0; i < 200 && atomic_load(&ir->state) == 1; i++) {
		pthread_kill(ir->t, INTR_SIG);
		usleep(10000);
	}
}

static void test_read_error_fatal(void **state)
{
	struct env e;
	struct opts o = { .limit_pages = QUIET_LIMIT };
	static struct intr_reader ir;
	struct sigaction old;
	const uint64_t p = 100;
	struct fatal_seen f;
	char want[64];

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 512, 1);
	trim(&e);
	assert_int_equal(state_of(&e, p), PS_SWAPPED);
	add_rule(&e, IO_INJ_FAIL, IO_READ, 0, 0, READ_TRIES, EIO);
	intr_start(&ir, page_ptr(&e, p) + 17, &old);

	assert_true(WAIT_UNTIL(fatal_calls(&e) == 1, WAIT_MS));
	snprintf(want, sizeof(want), "gfn 0x%llx", (unsigned long long)(GPA / PG + p));
	f = fatal_get(&e);
	print_message("fatal(%d): %s\n", f.err, f.msg);
	assert_non_null(strstr(f.msg, want));
	assert_int_equal(f.err, -EIO);
	assert_int_equal(C(&e, read_errors), READ_TRIES);
	assert_true(C(&e, read_retries) >= READ_TRIES - 1);
	assert_int_equal(io_inject_failed(e.inj), READ_TRIES);
	/* The page stays on swap; the faulting thread stays blocked. */
	assert_true(WAIT_UNTIL(state_of(&e, p) == PS_SWAPPED, WAIT_MS));
	/* Negative check: nothing wakes it with data. */
	negative_check_window(50);
	assert_int_equal(atomic_load(&ir.state), 1);
	/* Interrupt it: it must leave by the signal, never with data. */
	intr_stop(&ir);
	assert_int_equal(timed_join(ir.t, WAIT_MS), 0);
	assert_int_equal(atomic_load(&ir.state), 3);
	assert_int_equal(C(&e, faults_swap), 0);
	assert_int_equal(fatal_calls(&e), 1);
	sigaction(INTR_SIG, &old, NULL);
	env_teardown(&e);
}

/*
 * 8b. A short read (half the bytes reported) of a fault's page is retried
 * like an error; when every try is short the VM stops with a message naming
 * the page and its slot, and the faulting thread never sees the half-read
 * data.  The first try is the fault's group read (a new stream: a window of
 * one page), reported to the page as an error; the two single-page retries
 * are short, and the last of them is what the message reports.
 */
static void test_short_read_fatal(void **state)
{
	struct env e;
	struct opts o = { .limit_pages = QUIET_LIMIT };
	static struct intr_reader ir;
	struct sigaction old;
	const uint64_t p = 100;
	struct fatal_seen f;
	char want[64], slot[64];
	uint64_t off;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 512, 1);
	trim(&e);
	assert_int_equal(state_of(&e, p), PS_SWAPPED);
	assert_int_equal(C(&e, reads), 0);
	off = slot_off(&e, p);
	add_rule(&e, IO_INJ_SHORT, IO_READ, off, off + PG, READ_TRIES, 0);
	intr_start(&ir, page_ptr(&e, p) + 17, &old);

	assert_true(WAIT_UNTIL(fatal_calls(&e) == 1, WAIT_MS));
	snprintf(want, sizeof(want), "gfn 0x%llx", (unsigned long long)(GPA / PG + p));
	snprintf(slot, sizeof(slot), "slot %llu of", (unsigned long long)(off / PG));
	f = fatal_get(&e);
	print_message("fatal(%d): %s\n", f.err, f.msg);
	assert_non_null(strstr(f.msg, want));
	assert_non_null(strstr(f.msg, slot));
	assert_non_null(strstr(f.msg, "short read"));
	assert_int_equal(f.err, -EIO);
	assert_int_equal(C(&e, read_errors), READ_TRIES);
	assert_int_equal(C(&e, read_retries), READ_TRIES - 1);
	assert_int_equal(C(&e, reads), 0);              /* none counted good */
	assert_int_equal(C(&e, bytes_read), 0);
	assert_int_equal(io_inject_failed(e.inj), 0);   /* shortened, not failed */
	assert_true(WAIT_UNTIL(state_of(&e, p) == PS_SWAPPED, WAIT_MS));
	/* Negative check: nothing wakes it with (half the) data. */
	negative_check_window(50);
	assert_int_equal(atomic_load(&ir.state), 1);
	intr_stop(&ir);
	assert_int_equal(timed_join(ir.t, WAIT_MS), 0);
	assert_int_equal(atomic_load(&ir.state), 3);
	assert_int_equal(C(&e, faults_swap), 0);
	assert_int_equal(fatal_calls(&e), 1);
	sigaction(INTR_SIG, &old, NULL);
	env_teardown(&e);
}

/* First page a of a run of n pages in consecutive slots, all SWAPPED. */
static uint64_t find_slot_run(struct env *e, uint64_t from, unsigned int n)
{
	uint64_t a, i;

	for (a = from; a + n <= e->npages; a++) {
		uint64_t w0 = atomic_load(&e->s->pages[a]);

		for (i = 0; i < n; i++) {
			uint64_t w = atomic_load(&e->s->pages[a + i]);

			if (pg_state(w) != PS_SWAPPED || pg_slot(w) != pg_slot(w0) + i)
				break;
		}
		if (i == n)
			return a;
	}
	fail_msg("no run of %u pages in consecutive slots", n);
	return 0;
}

static void test_read_error_readahead(void **state)
{
	struct env e;
	struct opts o = { .limit_pages = QUIET_LIMIT };
	uint64_t a, ra, fo, ro, ra0;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 512, 1);
	trim(&e);
	a = find_slot_run(&e, 64, 8);
	/* Faults at a and a+1 make a stream: a+1 reads a+2 ahead; the
	 * fault at a+3 then reads a+4..a+6 ahead in the same request. */
	assert_true(check_page(&e, a));
	ra0 = C(&e, readahead);
	assert_true(check_page(&e, a + 1));
	assert_true(WAIT_UNTIL(state_of(&e, a + 2) == PS_RESIDENT, WAIT_MS));
	assert_int_equal(C(&e, readahead), ra0 + 1);
	fo = slot_off(&e, a + 3);
	ra = a + 5;
	ro = slot_off(&e, ra);
	/* The group read (offset of a+3) fails once; ra's own retries fail
	 * twice: it gives up on ra, which nobody faulted on. */
	add_rule(&e, IO_INJ_FAIL, IO_READ, ro, ro + PG, 2, EIO);
	add_rule(&e, IO_INJ_FAIL, IO_READ, fo, fo + PG, 1, EIO);
	assert_true(check_page(&e, a + 3));
	assert_true(C(&e, readahead) >= ra0 + 4);
	assert_true(WAIT_UNTIL(io_inject_failed(e.inj) == 3 &&
			       state_of(&e, ra) == PS_SWAPPED, WAIT_MS));
	/* The other read-ahead pages' own retries succeeded. */
	assert_true(WAIT_UNTIL(state_of(&e, a + 4) == PS_RESIDENT &&
			       state_of(&e, a + 6) == PS_RESIDENT, WAIT_MS));
	assert_true(C(&e, read_errors) >= 3);
	assert_int_equal(fatal_calls(&e), 0);
	/* A real fault on it later works. */
	assert_true(check_page(&e, ra));
	assert_int_equal(verify_range(&e, 0, 512), 0);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

/*
 * 8c. Short reads of readahead: the group read of a fault and three pages
 * read ahead comes back short (an error for each of its pages, which each
 * retry alone), and one read-ahead page's own retries are short too.  The
 * faulting page and the other read-ahead pages get their data on the retry;
 * the page nobody faulted on is given up without harm (left on swap) and a
 * later fault on it reads it.  Nothing reads back wrong or as zeros.
 */
static void test_short_read_readahead(void **state)
{
	struct env e;
	struct opts o = { .limit_pages = QUIET_LIMIT };
	uint64_t a, ra, fo, ro, ra0, re0, rr0, n;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 512, 1);
	trim(&e);
	a = find_slot_run(&e, 64, 8);
	/* Faults at a and a+1 make a stream (a+2 read ahead); the fault at
	 * a+3 then reads a+4..a+6 ahead in the same request. */
	assert_true(check_page(&e, a));
	assert_true(check_page(&e, a + 1));
	assert_true(WAIT_UNTIL(state_of(&e, a + 2) == PS_RESIDENT, WAIT_MS));
	fo = slot_off(&e, a + 3);
	ra = a + 5;
	ro = slot_off(&e, ra);
	add_rule(&e, IO_INJ_SHORT, IO_READ, ro, ro + PG, READ_TRIES - 1, 0);
	add_rule(&e, IO_INJ_SHORT, IO_READ, fo, fo + PG, 1, 0);
	ra0 = C(&e, readahead);
	re0 = C(&e, read_errors);
	rr0 = C(&e, read_retries);
	assert_true(check_page(&e, a + 3));
	n = C(&e, readahead) - ra0 + 1;         /* pages of the group read */
	assert_true(n >= 3);                    /* ra is in it */
	/* Each page of the group: one error, one retry; ra: two more short
	 * tries (its third and last), then given up. */
	assert_true(WAIT_UNTIL(C(&e, read_errors) == re0 + n + READ_TRIES - 1 &&
			       state_of(&e, ra) == PS_SWAPPED, WAIT_MS));
	assert_true(WAIT_UNTIL(C(&e, read_retries) == rr0 + n + READ_TRIES - 2,
			       WAIT_MS));
	assert_true(WAIT_UNTIL(state_of(&e, a + 4) == PS_RESIDENT &&
			       state_of(&e, a + 6) == PS_RESIDENT, WAIT_MS));
	assert_int_equal(fatal_calls(&e), 0);
	/* A real fault on it later works. */
	assert_true(check_page(&e, ra));
	assert_int_equal(verify_range(&e, 0, 512), 0);
	assert_int_equal(C(&e, read_errors), re0 + n + READ_TRIES - 1);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

/* ==================================================================== */
/* 9. swap full                                                          */

static void test_swap_full_overcommit(void **state)
{
	struct env e;
	struct opts o = { .swap_bytes = 2 * SWAP_CLUSTER_SLOTS * PG,
			  .on_full = SWAP_FULL_OVERCOMMIT };
	struct swap_dev_usage u;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, NPAGES, 1);
	assert_true(WAIT_UNTIL(C(&e, swap_full_events) > 0, WAIT_MS));
	u = dev_usage(&e, 0);
	assert_true(u.used <= u.nslots - 1);
	/* Whatever is not on swap stays in memory, above the limit (wait
	 * for the last writes to settle). */
	if (!WAIT_UNTIL(C(&e, resident) + C(&e, staged) >= NPAGES - (u.nslots - 1),
			WAIT_MS)) {
		uint64_t cnt[8] = { 0 }, i;

		for (i = 0; i < NPAGES; i++)
			cnt[state_of(&e, i)]++;
		fail_msg("states: none %llu res %llu zero %llu staged %llu swapped %llu "
			 "reading %llu; resident %llu staged %llu",
			 (unsigned long long)cnt[0], (unsigned long long)cnt[1],
			 (unsigned long long)cnt[2], (unsigned long long)cnt[3],
			 (unsigned long long)cnt[4], (unsigned long long)cnt[5],
			 (unsigned long long)C(&e, resident), (unsigned long long)C(&e, staged));
	}
	assert_true(C(&e, max_resident) > LIMIT_PAGES);
	assert_true(C(&e, evict_written) <= u.nslots - 1);
	/* A trim with swap full does what it can and returns. */
	trim(&e);
	assert_true(C(&e, resident) >= NPAGES - (u.nslots - 1));
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

static void test_swap_full_stop(void **state)
{
	struct env e;
	struct opts o = { .swap_bytes = 2 * SWAP_CLUSTER_SLOTS * PG,
			  .on_full = SWAP_FULL_STOP };
	struct fatal_seen f;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, NPAGES, 1);
	assert_true(WAIT_UNTIL(fatal_calls(&e) == 1, WAIT_MS));
	f = fatal_get(&e);
	assert_non_null(strstr(f.msg, "swap space is full"));
	assert_int_equal(f.err, -ENOSPC);
	assert_true(C(&e, swap_full_events) > 0);
	/* Stopping loses nothing either. */
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	env_teardown(&e);
}

/* ==================================================================== */
/* 10. two threads faulting on the same page: one read                   */

static void test_two_faulters_one_read(void **state)
{
	struct env e;
	struct opts o = { .limit_pages = QUIET_LIMIT };
	static struct bg_op a, b;
	const uint64_t p = 300;
	uint64_t seen0, sw0;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 512, 1);
	trim(&e);
	assert_int_equal(state_of(&e, p), PS_SWAPPED);
	seen0 = io_inject_seen(e.inj);
	sw0 = C(&e, faults_swap);
	add_rule(&e, IO_INJ_HOLD, IO_READ, 0, 0, 0, 0);
	reader_start(&a, &e, p);
	assert_int_equal(io_inject_wait_held(e.inj, 1, WAIT_MS), 0);
	assert_int_equal(state_of(&e, p), PS_READING);
	reader_start(&b, &e, p);
	assert_true(WAIT_UNTIL(C(&e, faults_dup) >= 1, WAIT_MS));
	/* Negative check: the second faulter issues no read of its own. */
	negative_check_window(20);
	assert_int_equal(io_inject_held(e.inj), 1);
	assert_int_equal(io_inject_seen(e.inj), seen0 + 1);
	assert_int_equal(C(&e, reads), 0);
	assert_int_equal(atomic_load(&a.state), 1);
	assert_int_equal(atomic_load(&b.state), 1);
	io_inject_clear_rules(e.inj);
	assert_int_equal(io_inject_release(e.inj, -1), 1);
	assert_int_equal(timed_join(a.t, WAIT_MS), 0);
	assert_int_equal(timed_join(b.t, WAIT_MS), 0);
	assert_true(a.ok);
	assert_true(b.ok);
	settle(&e, p);
	assert_int_equal(C(&e, reads), 1);
	assert_int_equal(C(&e, faults_swap), sw0 + 1);
	assert_int_equal(io_inject_seen(e.inj), seen0 + 1);
	env_teardown(&e);
}

/* ==================================================================== */
/* 11. the fallback eviction paths, with a writer racing the evictions   */

struct churn {
	pthread_t t;
	struct env *e;
	uint64_t from, to;
	atomic_bool stop;
	unsigned int gens;
};

static void *churn_main(void *arg)
{
	struct churn *c = arg;
	unsigned int g = 2;
	uint64_t i;

	while (!atomic_load(&c->stop) && g < 60000) {
		for (i = c->from; i < c->to; i++)
			write_page(c->e, i, g);
		g++;
		if (g % 8 == 0)
			usleep(200);
	}
	c->gens = g;
	return NULL;
}

static void roundtrip_racing(const struct opts *o)
{
	struct env e;
	static struct churn ch;

	env_setup(&e, o);
	memset(&ch, 0, sizeof(ch));
	ch.from = 0;
	ch.to = 32;
	ch.e = &e;
	write_range(&e, 0, 32, 1);
	assert_int_equal(pthread_create(&ch.t, NULL, churn_main, &ch), 0);
	write_range(&e, 32, NPAGES, 1);
	assert_int_equal(verify_range(&e, 32, NPAGES), 0);
	write_range(&e, 32, NPAGES, 2);
	atomic_store(&ch.stop, true);
	assert_int_equal(timed_join(ch.t, 30000), 0);
	print_message("  move=%d wp=%d: writer made %u generations; written %llu, "
		      "staging hits %llu, wp faults %llu, clean %llu\n",
		      e.s->use_move, e.s->use_wp, ch.gens,
		      (unsigned long long)C(&e, evict_written),
		      (unsigned long long)C(&e, faults_staging),
		      (unsigned long long)C(&e, faults_wp),
		      (unsigned long long)C(&e, evict_clean));
	/* Two passes over 16x the limit went through swap (a loaded host
	 * may delay eviction, never skip it: wait for it to catch up). */
	if (!WAIT_UNTIL(C(&e, evict_written) >= NPAGES - 32 - LIMIT_PAGES, WAIT_MS))
		fail_msg("written %llu clean %llu zero %llu moveback %llu resident %llu "
			 "staged %llu max %llu werr %llu wlat max %llu ms",
			 (unsigned long long)C(&e, evict_written),
			 (unsigned long long)C(&e, evict_clean),
			 (unsigned long long)C(&e, evict_zero),
			 (unsigned long long)C(&e, evict_restored),
			 (unsigned long long)C(&e, resident),
			 (unsigned long long)C(&e, staged),
			 (unsigned long long)C(&e, max_resident),
			 (unsigned long long)C(&e, write_errors),
			 (unsigned long long)hist_max(&e.s->write_lat) / 1000000);
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	trim(&e);
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	assert_true(C(&e, faults_swap) > 0);
	if (!e.s->use_wp) {
		assert_int_equal(C(&e, faults_wp), 0);
		assert_int_equal(C(&e, evict_clean), 0);
	}
	assert_int_equal(fatal_calls(&e), 0);
	assert_int_equal(C(&e, write_errors) + C(&e, read_errors), 0);
	env_teardown(&e);
}

static void test_racing_writer_move(void **state)
{
	struct opts o = { 0 };

	(void)state;
	roundtrip_racing(&o);
}

static void test_fallback_no_move(void **state)
{
	struct opts o = { .no_move = true };

	(void)state;
	roundtrip(&o, false);
	roundtrip_racing(&o);
}

static void test_fallback_no_wp(void **state)
{
	struct opts o = { .no_wp = true };

	(void)state;
	if (test_backing() == GMEM_MEMFD) {
		/* memfd memory is refused without write-protect (no MOVE on
		 * shmem): test_memfd's test_memfd_no_wp_refused */
		print_message("  memfd: refused without uffd-wp (test_memfd)\n");
		skip();
	}
	roundtrip(&o, false);
	roundtrip_racing(&o);
}

/* ==================================================================== */
/* 12. readahead                                                         */

static void test_readahead(void **state)
{
	struct env e;
	struct opts o = { 0 };
	const uint64_t n = 1024;
	uint64_t sw0;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, NPAGES, 1);
	trim(&e);
	find_slot_run(&e, 0, 16);
	sw0 = C(&e, faults_swap);
	assert_int_equal(C(&e, readahead), 0);
	assert_int_equal(verify_range(&e, 0, n), 0);
	print_message("  %llu pages read: %llu swap faults, %llu read ahead, "
		      "%llu read I/Os\n", (unsigned long long)n,
		      (unsigned long long)(C(&e, faults_swap) - sw0),
		      (unsigned long long)C(&e, readahead),
		      (unsigned long long)io_inject_seen(e.inj));
	assert_true(C(&e, readahead) > 0);
	assert_true(C(&e, faults_swap) - sw0 < n / 2);
	assert_true(C(&e, faults_swap) - sw0 + C(&e, readahead) >= n);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

/* ==================================================================== */
/* 13. allocation failures (alloc_fail_after: the Nth allocation from now  */
/*     fails, once; counted in c.alloc_failures)                           */

/* A write batch cannot be allocated: the round's staged pages go back into
 * the guest (evict_restored), nothing is written or lost, and the next trim
 * writes them. */
static void test_alloc_fail_write_batch(void **state)
{
	struct env e;
	struct opts o = { 0 };
	uint64_t f0, r0;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, HELD_PAGES, 1);      /* under the limit: no eviction */
	settle(&e, HELD_PAGES - 1);
	assert_int_equal(C(&e, resident), HELD_PAGES);
	f0 = C(&e, alloc_failures);
	r0 = C(&e, evict_restored);
	/* N = 0: the next allocation is the trim's first write batch
	 * (writeback.c batch_build).  The guest is idle, no read is in flight,
	 * the retry and migration queues are empty, and the rmap cluster of
	 * the batch's slots is allocated inside batch_build after the batch
	 * itself. */
	atomic_store(&e.s->alloc_fail_after, 0);
	trim(&e);
	assert_int_equal(atomic_load(&e.s->alloc_fail_after), -1);
	assert_int_equal(C(&e, alloc_failures), f0 + 1);
	assert_true(C(&e, evict_restored) > r0);
	assert_true(C(&e, evict_restored) - r0 <= HELD_PAGES);
	assert_int_equal(C(&e, write_errors), 0);
	assert_int_equal(C(&e, staged), 0);
	assert_int_equal(verify_range(&e, 0, HELD_PAGES), 0);
	/* The pages that went back are evicted by the next trim. */
	trim(&e);
	assert_int_equal(C(&e, resident), 0);
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	assert_int_equal(C(&e, alloc_failures), f0 + 1);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

/* A readahead group cannot be allocated: the readahead stops there (the
 * page claimed for it goes back to swap), the fault itself is served, and
 * the pages not read ahead are read by their own faults later. */
static void test_alloc_fail_readahead(void **state)
{
	struct env e;
	struct opts o = { .limit_pages = QUIET_LIMIT };
	uint64_t a, ra0, f0;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 512, 1);
	trim(&e);
	a = find_slot_run(&e, 64, 8);
	/* a+4 resident: the readahead of a fault at a+3 skips it, so a+5 is
	 * not in the slot after the previous page read and needs a group of
	 * its own (its own stream, window 1: no readahead of its own). */
	assert_true(check_page(&e, a + 4));
	settle(&e, a + 4);
	assert_int_equal(state_of(&e, a + 4), PS_RESIDENT);
	/* Faults at a and a+1 make a stream (a+2 read ahead); the fault at
	 * a+3 then has a window of a+3..a+6. */
	assert_true(check_page(&e, a));
	ra0 = C(&e, readahead);
	assert_true(check_page(&e, a + 1));
	assert_true(WAIT_UNTIL(state_of(&e, a + 2) == PS_RESIDENT, WAIT_MS));
	assert_int_equal(C(&e, readahead), ra0 + 1);
	f0 = C(&e, alloc_failures);
	/* N = 1: the fault at a+3 allocates its own group first (allocation
	 * 0, swapin.c rg_new in ra_collect), then a+5's group (allocation 1).
	 * The guest is idle otherwise and far under the limit: the reclaim
	 * thread allocates nothing meanwhile. */
	atomic_store(&e.s->alloc_fail_after, 1);
	assert_true(check_page(&e, a + 3));
	settle(&e, a + 3);
	assert_int_equal(atomic_load(&e.s->alloc_fail_after), -1);
	assert_int_equal(C(&e, alloc_failures), f0 + 1);
	assert_int_equal(state_of(&e, a + 3), PS_RESIDENT);
	/* the readahead stopped at the group that could not be had */
	assert_int_equal(state_of(&e, a + 5), PS_SWAPPED);
	assert_int_equal(state_of(&e, a + 6), PS_SWAPPED);
	assert_int_equal(fatal_calls(&e), 0);
	assert_int_equal(verify_range(&e, 0, 512), 0);
	assert_int_equal(C(&e, read_errors), 0);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

/* --- policy clock-dirty --- */

#define DL_HOT 100u

static struct json_object *jget(struct json_object *o, const char *k)
{
	struct json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, k, &v));
	return v;
}
static _Atomic unsigned int g_dl_calls;

/* A fake KVM dirty log: pages [0, DL_HOT) written since every harvest. */
static int fake_dirty_log(void *opaque, uint64_t gpa, uint64_t npages,
			  uint64_t *bitmap)
{
	uint64_t i;

	(void)opaque;
	if (gpa != GPA)
		return -EINVAL;
	for (i = 0; i < DL_HOT && i < npages; i++)
		bitmap[i / 64] |= 1ull << (i % 64);
	atomic_fetch_add(&g_dl_calls, 1);
	return 0;
}

/* Candidates the policy proposes over `sweeps` sweeps of the hand, as the
 * reclaim thread would ask (it is idle: the limit is above guest RAM):
 * how many were hot pages, and whether every cold page was proposed. */
static void sweep(struct env *e, unsigned int sweeps, uint64_t *hot, bool *all_cold)
{
	uint64_t out[32], proposed = 0, scanned;
	uint8_t *seen = calloc(e->npages, 1);
	unsigned int n, k;

	assert_non_null(seen);
	*hot = 0;
	for (scanned = 0; scanned < sweeps * e->npages; scanned += 32) {
		n = e->s->pol->select(e->s, e->s->pol_state, out, 32);
		for (k = 0; k < n; k++) {
			*hot += out[k] < DL_HOT;
			proposed += !seen[out[k]];
			seen[out[k]] = 1;
		}
	}
	*all_cold = true;
	for (k = DL_HOT; k < e->npages; k++)
		*all_cold = *all_cold && seen[k];
	free(seen);
	(void)proposed;
}

/*
 * clock-dirty: pages KVM's dirty log reports written are referenced, so the
 * CLOCK hand passes them over; plain CLOCK (faults only) proposes them like
 * any other page once their fault's reference is used up.
 */
static void test_policy_dirty_log(void **state)
{
	struct opts o = { .npages = 1024, .limit_pages = 4096,
			  .policy = SWAPPER_POLICY_CLOCK_DIRTY,
			  .dirty_log = fake_dirty_log };
	struct json_object *j;
	struct env e;
	uint64_t hot;
	bool all_cold;

	(void)state;
	env_setup(&e, &o);
	assert_string_equal(e.s->pol->name, "clock-dirty");
	write_range(&e, 0, e.npages, 1);
	sweep(&e, 4, &hot, &all_cold);
	assert_int_equal(hot, 0);
	assert_true(all_cold);
	assert_true(atomic_load(&g_dl_calls) >= 4 * 8 - 1);
	j = swapper_stats_json(e.s);
	assert_int_equal(json_object_get_uint64(jget(jget(j, "dirty_log"), "harvests")),
			 atomic_load(&g_dl_calls));
	assert_int_equal(json_object_get_uint64(jget(jget(j, "dirty_log"), "pages_written")),
			 (uint64_t)DL_HOT * atomic_load(&g_dl_calls));
	json_object_put(j);
	env_teardown(&e);

	o.policy = SWAPPER_POLICY_CLOCK;        /* the log is not read */
	atomic_store(&g_dl_calls, 0);
	env_setup(&e, &o);
	write_range(&e, 0, e.npages, 1);
	sweep(&e, 4, &hot, &all_cold);
	assert_true(hot > 0);
	assert_true(all_cold);
	assert_int_equal(atomic_load(&g_dl_calls), 0);
	env_teardown(&e);

	o.policy = SWAPPER_POLICY_CLOCK_DIRTY;  /* without a log: refused */
	o.dirty_log = NULL;
	{
		struct swapper_config cfg = { .mem_limit = 4096 * PG, .swap_size = 1 << 24,
					      .policy = SWAPPER_POLICY_CLOCK_DIRTY };
		struct swapper *s = NULL;

		assert_int_equal(swapper_create(&cfg, &s), -EINVAL);
		assert_null(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_roundtrip),
		cmocka_unit_test(test_basic_roundtrip_sync),
		cmocka_unit_test(test_zero_eviction),
		cmocka_unit_test(test_fault_around),
		cmocka_unit_test(test_fault_around_spans),
		cmocka_unit_test(test_trim_during_round),
		cmocka_unit_test(test_keep_clean_auto),
		cmocka_unit_test(test_clean_reeviction),
		cmocka_unit_test(test_fault_during_writeout),
		cmocka_unit_test(test_write_done_after_faultback),
		cmocka_unit_test(test_reevict_before_write_done),
		cmocka_unit_test(test_teardown_inflight),
		cmocka_unit_test(test_write_error_retry),
		cmocka_unit_test(test_short_write_retry),
		cmocka_unit_test(test_read_error_fatal),
		cmocka_unit_test(test_read_error_readahead),
		cmocka_unit_test(test_short_read_fatal),
		cmocka_unit_test(test_short_read_readahead),
		cmocka_unit_test(test_swap_full_overcommit),
		cmocka_unit_test(test_swap_full_stop),
		cmocka_unit_test(test_two_faulters_one_read),
		cmocka_unit_test(test_racing_writer_move),
		cmocka_unit_test(test_fallback_no_move),
		cmocka_unit_test(test_fallback_no_wp),
		cmocka_unit_test(test_readahead),
		cmocka_unit_test(test_policy_dirty_log),
		cmocka_unit_test(test_alloc_fail_write_batch),
		cmocka_unit_test(test_alloc_fail_readahead),
	};
	return TL_MAIN(tests);
}
