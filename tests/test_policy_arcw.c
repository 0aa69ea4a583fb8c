/*
 * test_policy_arcw.c - the arcw eviction policy (swapper/policy_arcw.c).
 *
 * Two kinds of test:
 *  - scripted: a swapper that is created but never started (no threads)
 *    and a script of page accesses replayed under the fault-only contract
 *    the policy lab uses (tests/bench/lab.h): an access to a resident page
 *    is invisible; one to a page that is not resident is a fault - the
 *    policy's fault hook, then, at the limit, one victim from select()
 *    evicted through the policy's evicted hook.  The page words are set by
 *    the script (evicted pages become ZERO: no slot to account for).  No
 *    thread, so every count is exact and the outcomes are fixed numbers;
 *  - live: a started swapper (swapper_testlib.h) whose writes are held by
 *    the injection engine, to see the stamps a real eviction writes and
 *    that they survive STAGED -> SWAPPED, and the stats.
 * Exit 77 only when userfaultfd is unavailable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swapper_testlib.h"

/* ---- the scripted harness ---- */

struct sim {
	struct gmem *mem;
	struct swapper *s;
	uint64_t limit, gap;
	uint64_t faults;
};

/* A fake KVM dirty log for arcw-dirty: the pages in g_written, then
 * cleared (as KVM_GET_DIRTY_LOG restarts the log).  Scripted tests run on
 * the test's thread only. */
static uint64_t g_written[2];
static unsigned int g_harvests;

static int fake_dirty_log(void *opaque, uint64_t gpa, uint64_t npages,
			  uint64_t *bitmap)
{
	(void)opaque;
	if (gpa != GPA || npages > 128)
		return -EINVAL;
	bitmap[0] |= g_written[0];
	if (npages > 64)
		bitmap[1] |= g_written[1];
	g_written[0] = g_written[1] = 0;
	g_harvests++;
	return 0;
}

static void sim_setup(struct sim *m, enum swapper_policy pol, uint64_t npages,
		      uint64_t limit, uint64_t gap)
{
	struct swapper_config cfg = {
		.mem_limit = limit * PG,
		.swap_size = npages < 1024 ? 4 * MiB : 4 * npages * PG,
		.tmpdir = "/var/tmp", .allow_buffered = true, .policy = pol,
		.dirty_log = fake_dirty_log,
	};

	memset(m, 0, sizeof(*m));
	m->limit = limit;
	m->gap = gap;
	assert_int_equal(gmem_create(GMEM_ANON, npages * PG, "arcw-test", &m->mem), 0);
	assert_int_equal(swapper_create(&cfg, &m->s), 0);
	assert_int_equal(swapper_add_region(m->s, m->mem, GPA), 0);
	/* what swapper_start() would set; no thread reads it here */
	atomic_store(&m->s->limit_pages, limit);
}

static void sim_teardown(struct sim *m)
{
	swapper_destroy(m->s);
	gmem_destroy(m->mem);
}

/* One access to page p: true when it was a fault.  As in hvswap, the fault
 * is served first; eviction follows when the limit is reached, down to
 * limit - gap (reclaim.c's watermarks, simplified). */
static bool sim_access(struct sim *m, uint64_t p)
{
	struct swapper *s = m->s;
	uint64_t victim;

	if (pg_state(atomic_load(&s->pages[p])) == PS_RESIDENT)
		return false;
	m->faults++;
	page_lock(s, p);
	policy_fault(s, p);
	atomic_store(&s->pages[p], pg_make(PS_RESIDENT, PG_REF, 0, 0));
	page_unlock(s, p);
	page_resident_inc(s);
	if (atomic_load(&s->c.resident) < m->limit)
		return true;
	while (atomic_load(&s->c.resident) > m->limit - m->gap) {
		assert_int_equal(s->pol->select(s, s->pol_state, &victim, 1), 1);
		assert_int_equal(pg_state(atomic_load(&s->pages[victim])), PS_RESIDENT);
		page_lock(s, victim);
		policy_evicted(s, victim);
		atomic_store(&s->pages[victim], pg_make(PS_ZERO, 0, 0, 0));
		page_unlock(s, victim);
		page_resident_dec(s, 1);
	}
	return true;
}

/* What hvswap sees of a hit on a resident page: a write-protect fault
 * (fault.c's wp_fault: PG_REF and the policy's hit hook). */
static void sim_hit(struct sim *m, uint64_t p)
{
	struct swapper *s = m->s;
	uint64_t w;

	page_lock(s, p);
	w = atomic_load(&s->pages[p]);
	assert_int_equal(pg_state(w), PS_RESIDENT);
	atomic_store(&s->pages[p], w | PG_REF);
	policy_hit(s, p);
	page_unlock(s, p);
}

static uint64_t arcw_stat(struct swapper *s, const char *k)
{
	struct json_object *j = swapper_stats_json(s);
	uint64_t v = json_u64(j, "arcw", k);

	json_object_put(j);
	return v;
}

/*
 * Scan resistance: a hot set of HOT pages is used every EVERY rounds (each
 * use a fault or, when resident, a hit: the guest writes it, as hvswap sees
 * through a write-protect fault or the dirty log); every round SCAN new
 * pages of a long cyclic scan are touched once.  The hot set fits easily
 * (HOT + SCAN < LIM), but between two uses of the hot set the scan faults
 * in more than twice the limit.  CLOCK gives a referenced hot page only a
 * second chance, so the scan pushes it out before its next use; arcw moves
 * a hot page that is hit while in T1 to T2 and then evicts from T1 - the
 * scan - only, as long as |T1| >= p (p stays 0: no scan page ever comes
 * back in time to be a B1 hit).
 */
#define HOT 32u
#define SCAN 48u
#define EVERY 6u
#define LIM 96u
#define GAP 8u
#define SCAN_FIRST 1024u
#define SIM_PAGES 8192u
#define ROUNDS 300u

static uint64_t hot_misses(enum swapper_policy pol, uint64_t *late)
{
	struct sim m;
	uint64_t r, i, misses = 0, next = SCAN_FIRST;

	sim_setup(&m, pol, SIM_PAGES, LIM, GAP);
	*late = 0;
	for (r = 0; r < ROUNDS; r++) {
		for (i = 0; r % EVERY == 0 && i < HOT; i++) {
			bool f = sim_access(&m, i);

			misses += f;
			*late += f && r >= ROUNDS / 2;
			sim_hit(&m, i);
		}
		for (i = 0; i < SCAN; i++) {
			sim_access(&m, next);
			next = next + 1 < SIM_PAGES ? next + 1 : SCAN_FIRST;
		}
	}
	if (pol == SWAPPER_POLICY_ARCW) {
		print_message("  arcw: b1 hits %llu, b2 hits %llu, T2 %llu pages, "
			      "promoted %llu\n",
			      (unsigned long long)arcw_stat(m.s, "b1_hits"),
			      (unsigned long long)arcw_stat(m.s, "b2_hits"),
			      (unsigned long long)arcw_stat(m.s, "t2_pages"),
			      (unsigned long long)arcw_stat(m.s, "promoted"));
		assert_int_equal(arcw_stat(m.s, "t2_pages"), HOT);
		assert_int_equal(arcw_stat(m.s, "t2_evictions"), 0);
	}
	sim_teardown(&m);
	return misses;
}

static void test_scan_keeps_hot_set(void **state)
{
	uint64_t late_clock, late_arcw, clock, arcw;

	(void)state;
	clock = hot_misses(SWAPPER_POLICY_CLOCK, &late_clock);
	arcw = hot_misses(SWAPPER_POLICY_ARCW, &late_arcw);
	print_message("  hot-set misses over %u rounds: clock %llu (second half "
		      "%llu), arcw %llu (second half %llu)\n", ROUNDS,
		      (unsigned long long)clock, (unsigned long long)late_clock,
		      (unsigned long long)arcw, (unsigned long long)late_arcw);
	/* arcw: only the first use of each hot page faults */
	assert_int_equal(arcw, HOT);
	assert_int_equal(late_arcw, 0);
	/* clock: every use of the hot set faults it all back in */
	assert_int_equal(clock, (uint64_t)HOT * ((ROUNDS + EVERY - 1) / EVERY));
}

/*
 * Ghost hits, step by step (limit 16, evictions down to 12; the hands
 * sweep page indices):
 *  - pages 0..15 fault in (T1, unreferenced): at the limit 0..3 leave T1;
 *  - page 3 faults back among the last |B1| = 4 evicted (all there are): a
 *    B1 hit, into T2, p up by one page;
 *  - page 4, hit while in T1, is promoted by the T1 hand, not evicted;
 *  - a stream of new pages turns T1 over many times: T2 stays (|T1| >= p),
 *    and page 0, evicted long ago, is no ghost any more: back into T1.
 */
static void test_ghost_hits(void **state)
{
	struct sim m;
	uint64_t i;
	uint16_t e;

	(void)state;
	sim_setup(&m, SWAPPER_POLICY_ARCW, 1024, 16, 4);
	for (i = 0; i < 16; i++)
		sim_access(&m, i);
	assert_int_equal(arcw_stat(m.s, "t1_evictions"), 4);
	for (i = 0; i < 4; i++) {
		e = policy_arcw_entry(m.s, i);
		assert_true(e & POLICY_ARCW_GHOST);
		assert_false(e & POLICY_ARCW_LIST2);
	}
	sim_access(&m, 3);
	e = policy_arcw_entry(m.s, 3);
	assert_int_equal(e, POLICY_ARCW_LIST2);         /* resident T2 */
	assert_int_equal(arcw_stat(m.s, "b1_hits"), 1);
	assert_int_equal(arcw_stat(m.s, "t2_pages"), 1);
	assert_int_equal(arcw_stat(m.s, "p_pages"), 1);
	sim_hit(&m, 4);
	for (i = 16; i < 19; i++)       /* the third reaches the limit */
		sim_access(&m, i);
	assert_int_equal(policy_arcw_entry(m.s, 4), POLICY_ARCW_LIST2);
	assert_int_equal(arcw_stat(m.s, "promoted"), 1);
	assert_int_equal(arcw_stat(m.s, "t2_pages"), 2);
	assert_int_equal(arcw_stat(m.s, "t1_evictions"), 8);  /* 5..8 */
	for (i = 100; i < 1000; i++)
		sim_access(&m, i);
	assert_int_equal(arcw_stat(m.s, "b1_hits"), 1);
	assert_int_equal(arcw_stat(m.s, "t2_evictions"), 0);
	assert_int_equal(arcw_stat(m.s, "t2_pages"), 2);
	assert_true(policy_arcw_entry(m.s, 0) & POLICY_ARCW_GHOST);
	sim_access(&m, 0);
	assert_int_equal(arcw_stat(m.s, "b1_hits"), 1);
	assert_int_equal(policy_arcw_entry(m.s, 0), 0);         /* T1 */
	sim_teardown(&m);
}

/*
 * B1's size: ARC's c - |T1| (arcw-dirty), or the last c pages evicted from
 * T1 (arcw, which without the dirty log sees few hits).  Limit 16, down to
 * 12: pages 0..3 leave T1 at page 15's fault, 4..7 at page 19's; page 1
 * is then 7 T1 evictions back, while c - |T1| = 4 but c = 16.
 */
static void wide_b1(enum swapper_policy pol, uint64_t want_hits)
{
	struct sim m;
	uint64_t i;

	g_written[0] = g_written[1] = 0;
	sim_setup(&m, pol, 1024, 16, 4);
	for (i = 0; i < 20; i++)
		sim_access(&m, i);
	assert_int_equal(arcw_stat(m.s, "t1_evictions"), 8);
	sim_access(&m, 1);
	assert_int_equal(arcw_stat(m.s, "b1_hits"), want_hits);
	sim_teardown(&m);
}

static void test_wide_b1(void **state)
{
	(void)state;
	wide_b1(SWAPPER_POLICY_ARCW, 1);
	wide_b1(SWAPPER_POLICY_ARCW_DIRTY, 0);
}

/*
 * B2 and p: pages 0..14 are hit while resident, page 15 is not; at the
 * limit the T1 hand promotes 0..14 and evicts 15, then with T1 empty the
 * T2 hand evicts 0..2.  Page 15 back: a B1 hit, p += |B2| / |B1| = 3;
 * page 2 back: a B2 hit, p -= 1.
 */
static void test_b2_hit_shrinks_p(void **state)
{
	struct sim m;
	uint64_t i;

	(void)state;
	sim_setup(&m, SWAPPER_POLICY_ARCW, 1024, 16, 4);
	for (i = 0; i < 15; i++)
		sim_access(&m, i);
	for (i = 0; i < 15; i++)
		sim_hit(&m, i);
	sim_access(&m, 15);
	assert_int_equal(arcw_stat(m.s, "promoted"), 15);
	assert_int_equal(arcw_stat(m.s, "t1_evictions"), 1);
	assert_int_equal(arcw_stat(m.s, "t2_evictions"), 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(policy_arcw_entry(m.s, i) &
				 (POLICY_ARCW_GHOST | POLICY_ARCW_LIST2),
				 POLICY_ARCW_GHOST | POLICY_ARCW_LIST2);
	sim_access(&m, 15);
	assert_int_equal(arcw_stat(m.s, "b1_hits"), 1);
	assert_int_equal(arcw_stat(m.s, "p_pages"), 3);
	sim_access(&m, 2);
	assert_int_equal(arcw_stat(m.s, "b2_hits"), 1);
	assert_int_equal(arcw_stat(m.s, "p_pages"), 2);
	assert_int_equal(policy_arcw_entry(m.s, 2), POLICY_ARCW_LIST2);
	assert_int_equal(arcw_stat(m.s, "t2_pages"), 14);      /* 3..14, 15, 2 */
	sim_teardown(&m);
}

/*
 * arcw-dirty: the pages KVM's dirty log shows written are hits.  64 pages,
 * limit 16 (a harvest every 2 pages the hands look at), 15 resident: not
 * written, the hand proposes them as they are; written, the next harvest
 * makes each a hit and the T1 hand promotes all 15.  select() is called
 * for one candidate at a time and nothing is evicted.
 */
static void test_dirty_log_hits(void **state)
{
	struct json_object *j;
	struct sim m;
	uint64_t i, out;
	unsigned int calls;

	(void)state;
	g_written[0] = g_written[1] = 0;
	g_harvests = 0;
	sim_setup(&m, SWAPPER_POLICY_ARCW_DIRTY, 64, 16, 4);
	assert_string_equal(m.s->pol->name, "arcw-dirty");
	for (i = 0; i < 15; i++)
		sim_access(&m, i);
	for (calls = 0; g_harvests < 1; calls++) {
		assert_true(calls < 64);
		assert_int_equal(m.s->pol->select(m.s, m.s->pol_state, &out, 1), 1);
	}
	assert_int_equal(arcw_stat(m.s, "promoted"), 0);
	g_written[0] = (1ull << 15) - 1;
	for (calls = 0; g_harvests < 2; calls++) {
		assert_true(calls < 64);
		assert_int_equal(m.s->pol->select(m.s, m.s->pol_state, &out, 1), 1);
	}
	/* the hand promotes what it passes from here; one sweep: all 15 */
	assert_int_equal(m.s->pol->select(m.s, m.s->pol_state, &out, 1), 1);
	assert_int_equal(arcw_stat(m.s, "promoted"), 15);
	assert_int_equal(arcw_stat(m.s, "t2_pages"), 15);
	j = swapper_stats_json(m.s);
	assert_int_equal(json_u64(j, "dirty_log", "pages_written"), 15);
	json_object_put(j);
	sim_teardown(&m);
}

/* The per-page array exists only with the policy; with it the metadata
 * is the page word (8), the slot maps and 2 bytes: <= 12 bytes per page. */
static void test_metadata(void **state)
{
	struct opts o = { .npages = 4096, .limit_pages = 256 };
	struct json_object *j;
	struct env e;
	double clock_bpp, arcw_bpp;

	(void)state;
	env_setup(&e, &o);
	assert_null(e.s->pol->bytes);
	assert_int_equal(policy_arcw_entry(e.s, 0), 0);
	write_range(&e, 0, e.npages, 1);
	/* Everything out: the swap maps and seals (counted in the metadata)
	 * then cover every page in both runs, however far reclaim had got. */
	trim(&e);
	j = swapper_stats_json(e.s);
	clock_bpp = json_object_get_double(json_object_object_get(j, "metadata_bytes_per_page"));
	assert_null(json_object_object_get(j, "arcw"));
	json_object_put(j);
	env_teardown(&e);

	o.policy = SWAPPER_POLICY_ARCW;
	env_setup(&e, &o);
	assert_string_equal(e.s->pol->name, "arcw");
	assert_int_equal(e.s->pol->bytes(e.s->pol_state), 2 * e.npages);
	write_range(&e, 0, e.npages, 1);
	assert_int_equal(verify_range(&e, 0, e.npages), 0);
	trim(&e);
	j = swapper_stats_json(e.s);
	arcw_bpp = json_object_get_double(json_object_object_get(j, "metadata_bytes_per_page"));
	assert_non_null(json_object_object_get(j, "arcw"));
	json_object_put(j);
	print_message("  metadata bytes per page: clock %.2f, arcw %.2f\n",
		      clock_bpp, arcw_bpp);
	/* + 2 bytes per page (the total at this small size is mostly the
	 * devices' fixed maps; vmm_run_policy_arcw checks <= 12 at 128 MiB) */
	assert_true(arcw_bpp - clock_bpp > 1.9 && arcw_bpp - clock_bpp < 2.1);
	env_teardown(&e);
}

/*
 * Stamps are written when a page leaves the guest and survive its write:
 * writes held, pages STAGED carry ghost entries; released, the pages are
 * SWAPPED with the same entries; a fault on one reads its stamp (a B1
 * hit: it left T1 a few evictions ago) and the data is intact.
 */
static void test_stamp_survives_writeback(void **state)
{
	struct opts o = { .npages = 1024, .limit_pages = 256,
			  .policy = SWAPPER_POLICY_ARCW };
	uint16_t before[1024];
	uint64_t i, staged = 0, checked = 0, b1, last = 0;
	struct env e;

	(void)state;
	env_setup(&e, &o);
	hold(&e, IO_WRITE, 0, UINT64_MAX, 1000000);
	write_range(&e, 0, 300, 1);
	assert_true(WAIT_UNTIL(C(&e, staged) > 0, WAIT_MS));
	assert_true(WAIT_UNTIL(held_of_op(&e, IO_WRITE) > 0, WAIT_MS));
	/* Nothing touches pages 0..299 now (their writes are held; the
	 * reclaim thread may evict more of them, so take STAGED ones only). */
	for (i = 0; i < 300; i++) {
		if (state_of(&e, i) != PS_STAGED) {
			before[i] = 0;
			continue;
		}
		before[i] = policy_arcw_entry(e.s, i);
		assert_true(before[i] & POLICY_ARCW_GHOST);
		last = i;
		staged++;
	}
	assert_true(staged > 0);
	io_inject_clear_rules(e.inj);
	io_inject_release(e.inj, -1);
	for (i = 0; i < 300; i++) {
		if (!before[i])
			continue;
		wait_state(&e, i, PS_SWAPPED);
		assert_int_equal(policy_arcw_entry(e.s, i), before[i]);
		checked++;
	}
	assert_int_equal(checked, staged);
	/* the last page staged (the hands go up the indices) left its list a
	 * few evictions ago: its fault is a ghost hit, into T2 */
	b1 = arcw_stat(e.s, "b1_hits") + arcw_stat(e.s, "b2_hits");
	assert_page_ok(&e, last);
	assert_int_equal(arcw_stat(e.s, "b1_hits") + arcw_stat(e.s, "b2_hits"), b1 + 1);
	settle(&e, last);
	assert_true(policy_arcw_entry(e.s, last) & POLICY_ARCW_LIST2);
	assert_int_equal(verify_range(&e, 0, 300), 0);
	env_teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_keeps_hot_set),
		cmocka_unit_test(test_ghost_hits),
		cmocka_unit_test(test_b2_hit_shrinks_p),
		cmocka_unit_test(test_wide_b1),
		cmocka_unit_test(test_dirty_log_hits),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_stamp_survives_writeback),
	};
	return TL_MAIN(tests);
}
