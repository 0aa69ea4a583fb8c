/*
 * test_huge.c - guest memory on 2 MiB hugetlbfs pages, swapped in 2 MiB
 * units (issue 14 item 3): one page word per huge page, found by a fault on
 * any of its 512 subpages; a unit written, read and installed whole; a
 * partial discard keeping the unit; a pinned subpage pinning the unit; a
 * write error on a 2 MiB write retried with nothing lost; a read error
 * stopping the VM without ever installing zeros; migration and swapoff of
 * huge units, with a fault racing the held read.
 *
 * Huge pages must be reserved: as root the test raises
 * /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages by what it needs
 * and puts it back at exit; it exits 77 (skip) saying why when it cannot
 * have them (not root, or the kernel could not find the memory).
 *
 * Built a second time as test_thp (-DHV_TEST_THP): the same cases on
 * anonymous memory on transparent huge pages (GMEM_THP), which needs no
 * pool, plus that an installed unit is a THP (smaps AnonHugePages) when the
 * kernel has free 2 MiB pages; that one check alone may skip, with the
 * reason, on fragmented memory.  The correctness checks never depend on it.
 *
 * Stamps are per 4 KiB subpage (the testlib's pages): env->npages counts
 * 4 KiB pages; the swapper's unit index of subpage p is p / SUB.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "swapper_testlib.h"

#define SUB 512u                        /* 4 KiB pages per unit */
#define UNITS 64u                       /* 128 MiB guest */
#define LIMIT_UNITS 16u                 /* 32 MiB resident: 4x */
#define NR_PATH "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
#define FREE_PATH "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"

#ifndef HV_TEST_THP    /* the hugetlbfs pool: test_huge only */
static long nr_added;           /* pages this run added to the pool */

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int r;

	if (!f)
		return -errno;
	r = fprintf(f, "%ld\n", v) < 0 ? -EIO : 0;
	if (fclose(f) != 0 && !r)
		r = -errno;
	return r;
}

/* Give back what we added (not a saved absolute value: another run that
 * reserved meanwhile keeps its pages). */
static void restore_nr(void)
{
	long nr = read_long(NR_PATH);

	if (nr_added > 0 && nr >= nr_added)
		write_long(NR_PATH, nr - nr_added);
}

/* Make `need` free 2 MiB pages: 0, or 77 with the reason printed. */
static int reserve_huge(long need)
{
	long nr = read_long(NR_PATH), fr = read_long(FREE_PATH);

	if (nr < 0 || fr < 0) {
		fprintf(stderr, "no 2 MiB huge pages on this kernel (%s): skipping\n",
			NR_PATH);
		return 77;
	}
	if (fr >= need)
		return 0;
	if (write_long(NR_PATH, nr + need - fr) < 0) {
		fprintf(stderr, "cannot reserve %ld huge pages (%s: %s; run as "
			"root): skipping\n", need, NR_PATH, strerror(errno));
		return 77;
	}
	nr_added = need - fr;
	fr = read_long(FREE_PATH);
	if (fr < need) {
		fprintf(stderr, "the kernel found only %ld of %ld free huge pages: "
			"skipping\n", fr, need);
		return 77;
	}
	return 0;
}

#endif

static void huge_setup(struct env *e, struct opts *o)
{
	o->huge = true;
#ifdef HV_TEST_THP
	o->thp = true;
#endif
	o->npages = UNITS * SUB;
	o->limit_pages = LIMIT_UNITS * SUB;
	env_setup(e, o);
	assert_int_equal(e->s->psz, 2 * MiB);
	assert_int_equal(e->s->npages, UNITS);
}

static uint64_t swapped_units(struct env *e)
{
	uint64_t u, n = 0;

	for (u = 0; u < UNITS; u++)
		n += state_of(e, u) == PS_SWAPPED;
	return n;
}

/* Every subpage stamped, the guest 4x its limit: units go out and come
 * back whole (2 MiB per read and write), nothing lost. */
static void test_roundtrip(void **state)
{
	struct opts o = { 0 };
	struct env e;
	uint64_t reads, writes;

	(void)state;
	huge_setup(&e, &o);
	write_range(&e, 0, e.npages, 1);
	trim(&e);
	assert_true(swapped_units(&e) >= UNITS - LIMIT_UNITS);
	writes = C(&e, bytes_written);
	assert_true(writes >= (UNITS - LIMIT_UNITS) * 2 * MiB);
	assert_int_equal(writes % (2 * MiB), 0);
	assert_int_equal(verify_range(&e, 0, e.npages), 0);
	reads = C(&e, bytes_read);
	assert_true(reads > 0);
	assert_int_equal(reads % (2 * MiB), 0);
	/* and again, rewritten: the second generation, not the first */
	write_range(&e, 0, e.npages, 2);
	trim(&e);
	assert_int_equal(verify_range(&e, 0, e.npages), 0);
	env_teardown(&e);
}

/* A fault on the 300th subpage of a unit on swap brings the whole unit
 * in: one state for 512 subpages, all of them verified. */
static void test_subpage_fault(void **state)
{
	struct opts o = { 0 };
	struct env e;
	uint64_t u = 5, before;

	(void)state;
	huge_setup(&e, &o);
	write_range(&e, 0, e.npages, 1);
	trim(&e);
	assert_int_equal(state_of(&e, u), PS_SWAPPED);
	before = C(&e, bytes_read);
	assert_true(page_is(&e, u * SUB + 300, 1, true));
	settle(&e, u);
	assert_int_equal(state_of(&e, u), PS_RESIDENT);
	assert_true(C(&e, bytes_read) - before >= 2 * MiB);
	assert_int_equal(verify_range(&e, u * SUB, (u + 1) * SUB), 0);
	env_teardown(&e);
}

/* A discard of part of a unit keeps it (a hugetlbfs page cannot be split;
 * a THP unit is kept whole too: units only); a discard of the whole unit
 * drops it. */
static void test_partial_discard(void **state)
{
	struct opts o = { 0 };
	struct env e;
	uint64_t u = 3, i;

	(void)state;
	huge_setup(&e, &o);
	write_range(&e, 0, e.npages, 1);
	assert_int_equal(swapper_discard(e.s, GPA + (u * SUB + 7) * PG, 8 * PG), 0);
	assert_int_equal(verify_range(&e, u * SUB, (u + 1) * SUB), 0);
	/* a range covering unit u whole and parts of its neighbours */
	assert_int_equal(swapper_discard(e.s, GPA + (u * SUB - 4) * PG,
					 (SUB + 8) * PG), 1);
	for (i = u * SUB; i < (u + 1) * SUB; i++)
		e.gen[i] = 0;
	assert_int_equal(verify_range(&e, (u - 1) * SUB, (u + 2) * SUB), 0);
	assert_int_equal(swapper_overwrite(e.s, GPA + u * SUB * PG + PG, PG), 0);
	assert_int_equal(swapper_discard(e.s, GPA + 1, PG), -EINVAL);
	env_teardown(&e);
}

/* A pin on one subpage pins the unit: a trim leaves it in, and its data
 * is the guest's. */
static void test_pin_subpage(void **state)
{
	struct opts o = { 0 };
	struct env e;
	uint64_t u = 9;
	void *host;

	(void)state;
	huge_setup(&e, &o);
	write_range(&e, 0, e.npages, 1);
	assert_int_equal(swapper_pin(e.s, GPA + (u * SUB + 17) * PG + 100, 200,
				     true, false, &host), 0);
	assert_ptr_equal(host, e.base + (u * SUB + 17) * PG + 100);
	assert_true(word_of(&e, u) & PG_PINNED);
	trim(&e);
	assert_int_equal(state_of(&e, u), PS_RESIDENT);
	swapper_unpin(e.s, GPA + (u * SUB + 17) * PG + 100, 200, false);
	assert_false(word_of(&e, u) & PG_PINNED);
	trim(&e);
	assert_int_equal(state_of(&e, u), PS_SWAPPED);
	assert_int_equal(verify_range(&e, 0, e.npages), 0);
	env_teardown(&e);
}

/* A failing 2 MiB write: its units are retried on new slots, nothing is
 * lost. */
static void test_write_error(void **state)
{
	struct opts o = { 0 };
	struct env e;

	(void)state;
	huge_setup(&e, &o);
	add_rule(&e, IO_INJ_FAIL, IO_WRITE, 0, 0, 2, EIO);
	write_range(&e, 0, e.npages, 1);
	trim(&e);
	assert_int_equal(fatal_calls(&e), 0);
	assert_int_equal(verify_range(&e, 0, e.npages), 0);
	env_teardown(&e);
}

/* A read that keeps failing: the VM is stopped (fatal), the faulting
 * thread stays blocked, never handed zeros; the unit stays on swap. */
static void test_read_error(void **state)
{
	struct opts o = { 0 };
	struct bg_op rd;
	struct env e;
	uint64_t u = 2;
	char want[64];

	(void)state;
	huge_setup(&e, &o);
	write_range(&e, 0, e.npages, 1);
	trim(&e);
	assert_int_equal(state_of(&e, u), PS_SWAPPED);
	add_rule(&e, IO_INJ_FAIL, IO_READ, slot_off(&e, u), slot_off(&e, u) + 2 * MiB,
		 READ_TRIES, EIO);
	reader_start(&rd, &e, u * SUB + 33);
	assert_true(WAIT_UNTIL(fatal_calls(&e) == 1, WAIT_MS));
	/* the message names the unit's first 4 KiB frame */
	snprintf(want, sizeof(want), "gfn 0x%llx", (unsigned long long)(GPA / PG + u * SUB));
	assert_non_null(strstr(fatal_get(&e).msg, want));
	assert_int_equal(C(&e, read_errors), READ_TRIES);
	assert_true(WAIT_UNTIL(state_of(&e, u) == PS_SWAPPED, WAIT_MS));
	/* Negative check: the reader must not have been let through. */
	negative_check_window(100);
	assert_false(atomic_load(&rd.done));
	/* teardown's last resort lets it go (onto an unregistered mapping) */
	swapper_release_faults(e.s);
	assert_true(bg_try_join(&rd, WAIT_MS));
	env_teardown(&e);
}

/* A fault on a subpage of a unit whose 2 MiB write is held is served from
 * staging at once (read or write), with no read; the held write then
 * completes and the unit's data is the guest's latest. */
static void test_fault_during_write(void **state)
{
	struct opts o = { 0 };
	static struct bg_op tr;         /* static: outlive a failed test */
	struct env e;
	unsigned int held;
	uint64_t u, st0;

	(void)state;
	huge_setup(&e, &o);
	hold(&e, IO_WRITE, 0, 0, 0);
	write_range(&e, 0, 8 * SUB, 1);         /* below the low watermark */
	assert_int_equal(C(&e, evict_written), 0);
	bg_trim_start(&tr, &e);
	wait_held(&e, 1);
	/* the trim's round done: every write of the 8 units is submitted */
	assert_true(WAIT_UNTIL(C(&e, staged) == 8 && C(&e, resident) == 0 &&
			       trim_gen_done(e.s) >= 1, WAIT_MS));
	held = io_inject_held(e.inj);
	assert_int_equal(held_of_op(&e, IO_WRITE), held);
	for (u = 0; u < 8; u++)
		assert_int_equal(state_of(&e, u), PS_STAGED);
	st0 = C(&e, faults_staging);
	assert_true(page_is(&e, 2 * SUB + 511, 1, true));      /* read */
	settle(&e, 2);
	write_page(&e, 5 * SUB + 3, 2);                          /* write */
	settle(&e, 5);
	assert_int_equal(C(&e, faults_staging), st0 + 2);
	assert_int_equal(state_of(&e, 2), PS_RESIDENT);
	assert_int_equal(state_of(&e, 5), PS_RESIDENT);
	assert_int_equal(C(&e, reads), 0);
	assert_int_equal(io_inject_held(e.inj), held);
	io_inject_clear_rules(e.inj);
	assert_int_equal(io_inject_release(e.inj, -1), (int)held);
	bg_trim_join(&tr, TRIM_WAIT_MS);
	assert_true(WAIT_UNTIL(C(&e, staged) == 0, WAIT_MS));
	assert_int_equal(C(&e, bytes_written) % (2 * MiB), 0);
	assert_int_equal(verify_range(&e, 0, e.npages), 0);
	trim(&e);
	assert_int_equal(verify_range(&e, 0, e.npages), 0);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

/* Two faults on different subpages of a unit whose read is held: the
 * second finds the unit READING and waits; one 2 MiB read serves both. */
static void test_fault_during_read(void **state)
{
	struct opts o = { 0 };
	static struct bg_op r1, r2;     /* static: outlive a failed test */
	struct env e;
	uint64_t u = 7, reads0;

	(void)state;
	huge_setup(&e, &o);
	write_range(&e, 0, e.npages, 1);
	trim(&e);
	assert_int_equal(state_of(&e, u), PS_SWAPPED);
	hold(&e, IO_READ, slot_off(&e, u), slot_off(&e, u) + 2 * MiB, 1);
	reads0 = C(&e, bytes_read);
	reader_start(&r1, &e, u * SUB + 10);
	wait_held(&e, 1);
	wait_state(&e, u, PS_READING);
	reader_start(&r2, &e, u * SUB + 400);
	if (!WAIT_UNTIL((word_of(&e, u) & PG_WAITER) && C(&e, faults_dup) != 0,
			WAIT_MS))
		fail_msg("second faulter never arrived");
	io_inject_clear_rules(e.inj);
	io_inject_release(e.inj, -1);
	bg_join(&r1, WAIT_MS);
	bg_join(&r2, WAIT_MS);
	settle(&e, u);
	assert_int_equal(state_of(&e, u), PS_RESIDENT);
	/* the unit's read, and readahead of its neighbours, all whole units */
	assert_int_equal((C(&e, bytes_read) - reads0) % (2 * MiB), 0);
	assert_int_equal(verify_range(&e, u * SUB, (u + 1) * SUB), 0);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

static void huge_two_devs(struct env *e)
{
	struct opts o = { .ndevs = 2, .dev_bytes = 1024 * MiB };

	huge_setup(e, &o);
	write_range(e, 0, e->npages, 1);
	trim(e);
}

static void assert_none_on(struct env *e, int dev)
{
	uint64_t u, w;

	for (u = 0; u < UNITS; u++) {
		w = word_of(e, u);
		if (pg_holds_slot(w))
			assert_int_not_equal(gslot_dev(pg_slot(w)), dev);
	}
	assert_int_equal(dev_usage(e, dev).used, 0);
}

/* Migration moves 2 MiB units between devices (one read and one write per
 * unit) and nothing changes for the guest. */
static void test_migrate_units(void **state)
{
	struct env e;
	int64_t moved;

	(void)state;
	huge_two_devs(&e);
	moved = swapper_migrate(e.s, 0, 1);
	assert_true(moved >= UNITS - LIMIT_UNITS);
	assert_none_on(&e, 0);
	assert_int_equal(verify_range(&e, 0, e.npages), 0);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

/* Swapoff while its read-back of unit u is held, and a fault on a subpage
 * of u arrives during that read: the fault waits for the read, gets the
 * unit, and swapoff finishes with device 0 empty. */
static void test_swapoff_fault_during_readback(void **state)
{
	static struct bg_op off, rd;    /* static: outlive a failed test */
	struct env e;
	uint64_t u = 11;
	int dev;

	(void)state;
	huge_two_devs(&e);
	assert_int_equal(state_of(&e, u), PS_SWAPPED);
	dev = (int)gslot_dev(pg_slot(word_of(&e, u)));
	hold(&e, IO_READ, slot_off(&e, u), slot_off(&e, u) + 2 * MiB, 1);
	bg_start(&off, &e, BG_SWAPOFF, 0, dev, 0);
	wait_held(&e, 1);
	wait_state(&e, u, PS_READING);
	reader_start(&rd, &e, u * SUB + 257);
	if (!WAIT_UNTIL(word_of(&e, u) & PG_WAITER, WAIT_MS))
		fail_msg("the fault never found the unit under read");
	assert_false(atomic_load(&rd.done));
	io_inject_clear_rules(e.inj);
	io_inject_release(e.inj, -1);
	bg_join(&rd, WAIT_MS);
	bg_join(&off, WAIT_MS);
	assert_int_equal(off.ret, 0);
	assert_null(e.s->devs[dev]);
	/* (u may be out again by now: reclaim runs on; on the other device) */
	assert_none_on(&e, dev);
	assert_int_equal(verify_range(&e, 0, e.npages), 0);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

#ifndef HV_TEST_THP    /* hugetlbfs only */
/* The pool runs dry: an eviction's hole punch gave the unit's page (and
 * its reservation) back to the pool, and another hugetlbfs user took every
 * free page.  The swap-in cannot install the unit: the VM stops with a
 * message naming the pool, the unit stays on swap, the faulting thread is
 * never handed zeros. */
static void test_pool_exhausted(void **state)
{
	struct opts o = { 0 };
	struct bg_op rd;
	struct gmem *hog = NULL;
	struct env e;
	uint64_t u = 4, free_pages;
	long fr;

	(void)state;
	huge_setup(&e, &o);
	write_range(&e, 0, e.npages, 1);
	trim(&e);
	assert_int_equal(state_of(&e, u), PS_SWAPPED);
	fr = read_long(FREE_PATH);
	assert_true(fr > 0);
	free_pages = (uint64_t)fr;
	assert_int_equal(gmem_create(GMEM_HUGETLB, free_pages * 2 * MiB, "hog", &hog), 0);
	memset(hog->host, 1, free_pages * 2 * MiB);     /* take them all */
	assert_int_equal(read_long(FREE_PATH), 0);
	reader_start(&rd, &e, u * SUB + 99);
	assert_true(WAIT_UNTIL(fatal_calls(&e) == 1, WAIT_MS));
	assert_non_null(strstr(fatal_get(&e).msg, "huge-page pool"));
	assert_true(WAIT_UNTIL(state_of(&e, u) == PS_SWAPPED, WAIT_MS));
	/* Negative check: the reader must not have been let through. */
	negative_check_window(100);
	assert_false(atomic_load(&rd.done));
	gmem_destroy(hog);
	swapper_release_faults(e.s);
	assert_true(bg_try_join(&rd, WAIT_MS));
	env_teardown(&e);
}

/* Huge units need hugetlbfs memory and the reverse. */
static void test_refusals(void **state)
{
	struct swapper_config c = { .swap_size = 1024 * MiB, .tmpdir = "/var/tmp",
				    .allow_buffered = true, .huge_pages = true };
	struct swapper *s;
	struct gmem *m;

	(void)state;
	assert_int_equal(gmem_create(GMEM_HUGETLB, 3 * MiB, NULL, &m), -EINVAL);
	assert_int_equal(gmem_create(GMEM_ANON, 4 * MiB, NULL, &m), 0);
	assert_int_equal(swapper_create(&c, &s), 0);
	assert_int_equal(swapper_add_region(s, m, GPA), -EINVAL);
	swapper_destroy(s);
	gmem_destroy(m);
	c.huge_pages = false;
	assert_int_equal(gmem_create(GMEM_HUGETLB, 4 * MiB, NULL, &m), 0);
	assert_int_equal(swapper_create(&c, &s), 0);
	assert_int_equal(swapper_add_region(s, m, GPA), -EINVAL);
	swapper_destroy(s);
	gmem_destroy(m);
	c.huge_pages = true;
	c.ztier = "lz4";
	assert_int_equal(swapper_create(&c, &s), -ENOTSUP);
}

#endif

#ifdef HV_TEST_THP
/* kB of AnonHugePages in the mapping that holds p (/proc/self/smaps). */
static long anon_huge_kb(const void *p)
{
	char line[512];
	unsigned long a, b;
	long kb = -1, v;
	bool in = false;
	FILE *f = fopen("/proc/self/smaps", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, ' ') &&
		    line[strspn(line, "0123456789abcdef")] == '-') {
			in = (uintptr_t)p >= a && (uintptr_t)p < b;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %ld kB", &v) == 1)
			kb = v;
	}
	fclose(f);
	return kb;
}

/* Can the kernel give this process a THP now (not fragmented)? */
static bool kernel_has_thp(void)
{
	struct gmem *m;
	bool huge;

	if (gmem_create(GMEM_THP, 2 * MiB, NULL, &m) < 0)
		return false;
	memset(m->host, 1, 2 * MiB);
	huge = anon_huge_kb(m->host) == 2048;
	gmem_destroy(m);
	return huge;
}

/* Installed units are THPs: a zero fill, and a swap-in by a write fault
 * (moved in from its bounce buffer); out again, nothing huge is left. */
static void test_thp_is_huge(void **state)
{
	struct opts o = { 0 };
	struct env e;
	uint64_t u, moved0;

	(void)state;
	huge_setup(&e, &o);
	moved0 = C(&e, thp_moved_in);
	for (u = 0; u < 4; u++)
		write_page(&e, u * SUB + 5, 1);         /* zero fills */
	/* (counted after the move, which already let the writer go) */
	assert_true(WAIT_UNTIL(C(&e, thp_moved_in) - moved0 == 4 &&
			       C(&e, faults_zero) == 4, WAIT_MS));
	trim(&e);
	assert_int_equal(C(&e, resident), 0);
	assert_int_equal(anon_huge_kb(e.base), 0);
	moved0 = C(&e, thp_moved_in);
	write_page(&e, 2 * SUB + 300, 2);               /* a swap-in by write */
	settle(&e, 2);
	assert_int_equal(state_of(&e, 2), PS_RESIDENT);
	assert_true(C(&e, thp_moved_in) - moved0 >= 1);
	assert_int_equal(verify_range(&e, 0, 4 * SUB), 0);
	if (anon_huge_kb(e.base) < 2048) {
		bool frag = !kernel_has_thp();

		env_teardown(&e);
		if (frag) {
			fprintf(stderr, "hugeness not checked: the kernel has no "
				"free 2 MiB page now (fragmented memory)\n");
			skip();
		}
		fail_msg("the swapped-in unit is not a THP though the kernel "
			 "has free ones");
	}
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

/* Units stay THPs round after round: a unit installed as 4 KiB pages (a
 * clean read-fault swap-in, write-protected), written and evicted leaves a
 * PTE table behind, onto which a THP move would split; thp.c drops it, so the
 * next write-fault swap-in of that unit is a THP again, and the bounce
 * buffers keep faulting THPs in (checked over rounds on a few units). */
static void test_thp_stays_huge(void **state)
{
	struct opts o = { 0 };
	struct env e;
	unsigned int round;
	uint64_t u;

	(void)state;
	huge_setup(&e, &o);
	write_range(&e, 0, e.npages, 1);
	trim(&e);
	for (round = 0; round < 12; round++) {
		u = 20 + 3 * (round % 4);
		assert_true(page_is(&e, u * SUB + 1, e.gen[u * SUB + 1], true));
		settle(&e, u);
		/* dirtied (a write-protect fault): evicted by moving its
		 * 512 PTEs out, which leaves the unit's PTE table */
		write_page(&e, u * SUB + 2, 2 + round);
		settle(&e, u);
		trim(&e);
		assert_int_equal(C(&e, resident), 0);
		write_page(&e, u * SUB + 3, 2 + round);
		settle(&e, u);
		if (anon_huge_kb(e.base) < 2048) {
			bool frag = !kernel_has_thp();

			env_teardown(&e);
			if (frag) {
				fprintf(stderr, "hugeness not checked: the kernel has "
					"no free 2 MiB page now (fragmented memory)\n");
				skip();
			}
			fail_msg("round %u: unit %llu came back as 4 KiB pages", round,
				 (unsigned long long)u);
		}
		trim(&e);
	}
	assert_int_equal(verify_range(&e, 0, e.npages), 0);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

struct writer {
	pthread_t t;
	struct env *e;
	uint64_t idx;
	atomic_bool done;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	write_page(w->e, w->idx, 2);
	atomic_store(&w->done, true);
	return NULL;
}

/* A write fault on a unit on swap (installed by moving its THP in from the
 * bounce buffer) while its read is held, and a read fault on another
 * subpage arriving meanwhile: the reader waits (WAITER), one 2 MiB read
 * serves both, the unit is moved in once, both see their data. */
static void test_thp_move_in_race(void **state)
{
	struct opts o = { 0 };
	static struct writer w;         /* static: outlive a failed test */
	static struct bg_op rd;
	struct env e;
	uint64_t u = 7, moved0;

	(void)state;
	huge_setup(&e, &o);
	write_range(&e, 0, e.npages, 1);
	trim(&e);
	assert_int_equal(state_of(&e, u), PS_SWAPPED);
	hold(&e, IO_READ, slot_off(&e, u), slot_off(&e, u) + 2 * MiB, 1);
	moved0 = C(&e, thp_moved_in);
	w = (struct writer){ .e = &e, .idx = u * SUB + 10 };
	assert_int_equal(pthread_create(&w.t, NULL, writer_main, &w), 0);
	wait_held(&e, 1);
	wait_state(&e, u, PS_READING);
	reader_start(&rd, &e, u * SUB + 400);
	if (!WAIT_UNTIL(word_of(&e, u) & PG_WAITER, WAIT_MS))
		fail_msg("the reader never found the unit under read");
	assert_false(atomic_load(&w.done));
	io_inject_clear_rules(e.inj);
	io_inject_release(e.inj, -1);
	assert_true(WAIT_UNTIL(atomic_load(&w.done), WAIT_MS));
	pthread_join(w.t, NULL);
	bg_join(&rd, WAIT_MS);
	settle(&e, u);
	assert_int_equal(state_of(&e, u), PS_RESIDENT);
	assert_true(C(&e, thp_moved_in) - moved0 >= 1);
	assert_int_equal(verify_range(&e, u * SUB, (u + 1) * SUB), 0);
	assert_int_equal(fatal_calls(&e), 0);
	env_teardown(&e);
}

/* THP units need UFFDIO_MOVE, a swapper of huge units, and no hugetlbfs
 * beside them; a THP size must be whole units. */
static void test_thp_refusals(void **state)
{
	struct swapper_config c = { .swap_size = 1024 * MiB, .tmpdir = "/var/tmp",
				    .allow_buffered = true, .huge_pages = true };
	struct swapper *s;
	struct gmem *m;

	(void)state;
	assert_int_equal(gmem_create(GMEM_THP, 3 * MiB, NULL, &m), -EINVAL);
	assert_int_equal(gmem_create(GMEM_THP, 4 * MiB, NULL, &m), 0);
	assert_int_equal((uintptr_t)m->host % (2 * MiB), 0);
	c.no_move = true;
	assert_int_equal(swapper_create(&c, &s), 0);
	assert_int_equal(swapper_add_region(s, m, GPA), -ENOTSUP);
	swapper_destroy(s);
	c.no_move = false;
	c.huge_pages = false;
	assert_int_equal(swapper_create(&c, &s), 0);
	assert_int_equal(swapper_add_region(s, m, GPA), -EINVAL);
	swapper_destroy(s);
	gmem_destroy(m);
}
#endif

int main(void)
{
#ifdef HV_TEST_THP
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_subpage_fault),
		cmocka_unit_test(test_partial_discard),
		cmocka_unit_test(test_pin_subpage),
		cmocka_unit_test(test_write_error),
		cmocka_unit_test(test_read_error),
		cmocka_unit_test(test_fault_during_write),
		cmocka_unit_test(test_fault_during_read),
		cmocka_unit_test(test_migrate_units),
		cmocka_unit_test(test_swapoff_fault_during_readback),
		cmocka_unit_test(test_thp_is_huge),
		cmocka_unit_test(test_thp_move_in_race),
		cmocka_unit_test(test_thp_stays_huge),
		cmocka_unit_test(test_thp_refusals),
	};
	struct uffd_caps caps;

	if (!strcmp(gmem_thp_mode(), "never")) {
		fprintf(stderr, "transparent huge pages are off on this host "
			"(/sys/kernel/mm/transparent_hugepage/enabled): skipping\n");
		return 77;
	}
	if (uffd_probe(&caps) == 0 && !caps.move) {
		fprintf(stderr, "this kernel's userfaultfd lacks UFFDIO_MOVE: skipping\n");
		return 77;
	}
	return TL_MAIN(tests);
#else
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_subpage_fault),
		cmocka_unit_test(test_partial_discard),
		cmocka_unit_test(test_pin_subpage),
		cmocka_unit_test(test_write_error),
		cmocka_unit_test(test_read_error),
		cmocka_unit_test(test_fault_during_write),
		cmocka_unit_test(test_fault_during_read),
		cmocka_unit_test(test_migrate_units),
		cmocka_unit_test(test_swapoff_fault_during_readback),
		cmocka_unit_test(test_pool_exhausted),
		cmocka_unit_test(test_refusals),
	};
	struct uffd_caps caps;
	pid_t pid;
	int r, st;

	if (uffd_probe(&caps) == 0 && !(caps.hugetlb && caps.wp_shmem)) {
		fprintf(stderr, "this kernel's userfaultfd lacks %s on hugetlbfs: "
			"skipping\n", caps.hugetlb ? "write-protect" : "faults");
		return 77;
	}
	/* the guest's units, plus a few for the refusal tests */
	r = reserve_huge(UNITS + 4);
	if (r)
		return r;
	/* The tests run in a child: a failed run leaves by _exit (tl_main),
	 * and the pool must be given back whatever happens to them. */
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(TL_MAIN(tests));
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		st = 1 << 8;
	restore_nr();
	if (WIFSIGNALED(st))
		fprintf(stderr, "tests killed by signal %d\n", WTERMSIG(st));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
#endif
}
