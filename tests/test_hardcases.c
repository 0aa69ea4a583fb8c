/*
 * test_hardcases.c - deterministic tests of pins, reverse maps, migration,
 * compaction and swapoff (swapper/pin.c, rmap.c, migrate.c); allocation
 * failures injected into migration and the rmap; statistics racing the end
 * of a swapoff (issue 9), stopped at test hooks (core.c); lock-order checks
 * (lock.h, debug builds).
 *
 * As in test_swapper.c, host threads play the vCPUs, and races are made
 * deterministic with the injection engine: a HOLD rule parks the exact
 * request a test needs in flight (a write-out, a read) while the test drives
 * the operation under test, then releases it.  Every page is stamped with
 * (index, generation) and verified word by word at the end.  The helpers
 * (environment, stamps, bounded waits, background operations) are shared
 * with test_swapper.c: swapper_testlib.h.
 * Exit 77 only when userfaultfd is unavailable.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "seal.h"
#include "swapper_testlib.h"

#define NPAGES 1024u
#define LIMIT_PAGES 128u

/* ndevs temp devices of dev_bytes each, priority decreasing (device 0
 * first); the sync engine; no fatal() expected. */
static struct opts hc_opts(unsigned int ndevs, uint64_t dev_bytes,
			   uint64_t longterm_bytes)
{
	return (struct opts){ .npages = NPAGES, .limit_pages = LIMIT_PAGES,
			      .ndevs = ndevs, .dev_bytes = dev_bytes,
			      .engine = "sync", .no_buffered = true,
			      .longterm_pin_bytes = longterm_bytes,
			      .no_fatal = true };
}

static void hc_env(struct env *e, unsigned int ndevs, uint64_t dev_bytes,
		   uint64_t longterm_bytes)
{
	struct opts o = hc_opts(ndevs, dev_bytes, longterm_bytes);

	env_setup(e, &o);
}

/* Every stamped page: 1..NPAGES-1 written, page 0 left untouched. */
static void fill_and_trim(struct env *e)
{
	uint64_t i;

	for (i = 1; i < NPAGES; i++)
		stamp(e, i);
	(void)word_of(e, NPAGES - 1);      /* its fault handler is done */
	assert_int_equal(swapper_trim(e->s), 0);
}

/* --- pins --- */

/* A pin requested on a page whose write-out is in flight returns at once
 * (served from staging), and the page then stays resident through trims. */
static void test_pin_mid_writeout(void **state)
{
	struct env e;
	static struct bg_op tr;         /* static: outlive a failed test */
	uint64_t idx = 0, i;
	void *host;

	(void)state;
	hc_env(&e, 1, 8 << 20, 0);
	for (i = 1; i < NPAGES; i++)
		stamp(&e, i);
	hold(&e, IO_WRITE, 0, 0, 0);
	bg_start(&tr, &e, BG_TRIM, 0, 0, 0);
	wait_held(&e, 1);
	for (i = 1; i < NPAGES && !idx; i++) {
		uint64_t w = word_of(&e, i);

		if (pg_state(w) == PS_STAGED && (w & PG_SLOT))
			idx = i;
	}
	assert_true(idx != 0);
	assert_int_equal(swapper_pin(e.s, GPA + idx * PG, PG, false, false, &host), 0);
	assert_ptr_equal(host, (void *)page_ptr(&e, idx));
	assert_true(io_inject_held(e.inj) >= 1);        /* write still parked */
	assert_int_equal(pg_state(word_of(&e, idx)), PS_RESIDENT);
	assert_true(word_of(&e, idx) & PG_PINNED);
	assert_page_ok(&e, idx);
	io_inject_clear_rules(e.inj);
	io_inject_release(e.inj, -1);
	bg_join(&tr, TRIM_WAIT_MS);
	assert_int_equal(swapper_trim(e.s), 0);
	assert_int_equal(pg_state(word_of(&e, idx)), PS_RESIDENT);   /* pinned */
	swapper_unpin(e.s, GPA + idx * PG, PG, false);
	assert_false(word_of(&e, idx) & PG_PINNED);
	assert_int_equal(swapper_trim(e.s), 0);
	assert_int_not_equal(pg_state(word_of(&e, idx)), PS_RESIDENT);
	assert_all_pages_ok(&e);
	env_teardown(&e);
}

/* Eviction attempted on pinned pages skips them; counts and long-term caps. */
static void test_evict_pinned(void **state)
{
	struct env e;
	json_object *j, *v;
	void *host;

	(void)state;
	hc_env(&e, 1, 8 << 20, 2 * PG);
	fill_and_trim(&e);
	/* pin 3 pages (two of them twice), one range crossing pages */
	assert_int_equal(swapper_pin(e.s, GPA + 10 * PG + 100, 2 * PG, true, false, &host), 0);
	assert_int_equal(swapper_pin(e.s, GPA + 11 * PG, PG, false, false, NULL), 0);
	assert_true(word_of(&e, 12) & PG_PINNED);
	stamp(&e, 10);          /* the "device" writes through the pin */
	assert_int_equal(swapper_trim(e.s), 0);
	assert_int_equal(pg_state(word_of(&e, 10)), PS_RESIDENT);
	assert_int_equal(pg_state(word_of(&e, 11)), PS_RESIDENT);
	assert_int_equal(pg_state(word_of(&e, 12)), PS_RESIDENT);
	assert_int_not_equal(pg_state(word_of(&e, 13)), PS_RESIDENT);
	j = swapper_stats_json(e.s);
	assert_true(json_object_object_get_ex(j, "pinned_pages", &v));
	assert_int_equal(json_object_get_uint64(v), 3);
	json_object_put(j);
	/* long-term cap: 2 pages */
	assert_int_equal(swapper_pin(e.s, GPA + 20 * PG, 2 * PG, false, true, NULL), 0);
	assert_int_equal(swapper_pin(e.s, GPA + 22 * PG, PG, false, true, NULL), -ENOSPC);
	assert_false(word_of(&e, 22) & PG_PINNED);
	swapper_unpin(e.s, GPA + 20 * PG, 2 * PG, true);
	/* bad ranges */
	assert_int_equal(swapper_pin(e.s, GPA - PG, PG, false, false, NULL), -EFAULT);
	assert_int_equal(swapper_pin(e.s, GPA + NPAGES * PG - PG, 2 * PG, false, false, NULL),
			 -EFAULT);
	swapper_unpin(e.s, GPA + 10 * PG + 100, 2 * PG, false);
	assert_true(word_of(&e, 11) & PG_PINNED);          /* pinned twice */
	swapper_unpin(e.s, GPA + 11 * PG, PG, false);
	assert_false(word_of(&e, 11) & PG_PINNED);
	assert_int_equal(swapper_trim(e.s), 0);
	assert_int_not_equal(pg_state(word_of(&e, 10)), PS_RESIDENT);
	assert_all_pages_ok(&e);
	env_teardown(&e);
}

/* A fill pin (a disk read into guest memory) does not read back the
 * swapped-out pages it covers whole - they come in as fresh zero pages the
 * device fills; pages it covers in part are read (their other bytes kept)
 * and counted as write pins' swap reads. */
static void test_fill_pin_skips_reads(void **state)
{
	struct env e;
	void *host;
	uint64_t i;

	(void)state;
	hc_env(&e, 1, 8 << 20, 0);
	fill_and_trim(&e);
	for (i = 10; i <= 14; i++)
		assert_int_equal(pg_state(word_of(&e, i)), PS_SWAPPED);
	/* [10.5, 14.5) pages: 11, 12 and 13 whole, 10 and 14 in part */
	assert_int_equal(swapper_pin_fill(e.s, GPA + 10 * PG + PG / 2, 4 * PG, &host), 0);
	assert_ptr_equal(host, (uint8_t *)page_ptr(&e, 10) + PG / 2);
	assert_int_equal(atomic_load(&e.s->c.fill_reads_skipped), 3);
	assert_in_range(atomic_load(&e.s->c.write_pin_reads), 1, 2);
	for (i = 10; i <= 14; i++) {
		assert_int_equal(pg_state(word_of(&e, i)), PS_RESIDENT);
		assert_true(pg_has(word_of(&e, i), PG_PINNED));
		assert_false(pg_holds_slot(word_of(&e, i)));
	}
	for (i = 11; i <= 13; i++)      /* not read: zero, not the old stamp */
		assert_true(page_ptr(&e, i)[0] == 0 && page_ptr(&e, i)[511] == 0);
	assert_page_ok(&e, 10);         /* read: intact */
	assert_page_ok(&e, 14);
	for (i = 11; i <= 13; i++)      /* the device fills them */
		stamp(&e, i);
	swapper_unpin(e.s, GPA + 10 * PG + PG / 2, 4 * PG, false);
	assert_int_equal(swapper_trim(e.s), 0);
	assert_int_equal(pg_state(word_of(&e, 12)), PS_SWAPPED);
	/* a fill pin of resident pages changes nothing but the pin */
	assert_page_ok(&e, 20);
	assert_int_equal(swapper_pin_fill(e.s, GPA + 20 * PG, PG, NULL), 0);
	assert_int_equal(atomic_load(&e.s->c.fill_reads_skipped), 3);
	assert_page_ok(&e, 20);
	swapper_unpin(e.s, GPA + 20 * PG, PG, false);
	assert_int_equal(swapper_pin_fill(e.s, GPA - PG, PG, NULL), -EFAULT);
	assert_all_pages_ok(&e);
	env_teardown(&e);
}

/* --- the swap mapper (mirror.c) --- */

static uint64_t img_word(uint64_t blk, unsigned int k, unsigned int gen)
{
	return 0xD15C000000000000ull | ((uint64_t)gen << 40) | (blk << 12) | k;
}

/* A disk image of nblk blocks, generation gen; its path in path[64]. */
static int make_image(char *path, uint64_t nblk, unsigned int gen)
{
	uint64_t b, buf[512];
	unsigned int k;
	int fd;

	snprintf(path, 64, "/var/tmp/hvswap-mirror.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	for (b = 0; b < nblk; b++) {
		for (k = 0; k < 512; k++)
			buf[k] = img_word(b, k, gen);
		assert_int_equal(pwrite(fd, buf, PG, (off_t)(b * PG)), PG);
	}
	return fd;
}

static bool page_is_block(struct env *e, uint64_t idx, uint64_t blk, unsigned int gen)
{
	unsigned int k;

	for (k = 0; k < 512; k++)
		if (page_ptr(e, idx)[k] != img_word(blk, k, gen))
			return false;
	return true;
}

/* A VM whose disk image (a fresh 2 MiB one: the smallest device) is a
 * mirror, and a "device" read of blocks 10..13 into pages 40..43, noted. */
static int mirror_setup(struct env *e, char *path, bool count_only, int *m)
{
	void *host;
	uint64_t i;
	int fd;

	hc_env(e, 1, 8 << 20, 0);
	fd = make_image(path, 512, 1);
	*m = swapper_mirror_add(e->s, path, count_only);
	assert_true(*m >= 0);
	assert_int_equal(swapper_pin_fill(e->s, GPA + 40 * PG, 4 * PG, &host), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(pread(fd, (uint8_t *)host + i * PG, PG,
				       (off_t)((10 + i) * PG)), PG);
	assert_int_equal(swapper_mirror_note(e->s, *m, GPA + 40 * PG, 4 * PG, 10 * PG), 4);
	swapper_unpin(e->s, GPA + 40 * PG, 4 * PG, false);
	return fd;
}

/*
 * Pages filled from a disk image are dropped without a swap write and read
 * back from the image; a write to the image first takes the pages that
 * mirror its blocks off them (a swapped-out one is read back while the
 * block still holds its data), so they keep their data when it changes.
 */
static void test_swap_mapper(void **state)
{
	struct env e;
	char path[64];
	uint64_t buf[512], i, w0;
	int fd, m;

	(void)state;
	fd = mirror_setup(&e, path, false, &m);
	for (i = 40; i < 44; i++)
		assert_true(pg_has(word_of(&e, i), PG_WP) && pg_holds_slot(word_of(&e, i)));
	w0 = C(&e, evict_written);
	assert_int_equal(swapper_trim(e.s), 0);
	for (i = 40; i < 44; i++) {
		assert_int_equal(pg_state(word_of(&e, i)), PS_SWAPPED);
		assert_int_equal(gslot_dev(pg_slot(word_of(&e, i))), m);
	}
	assert_int_equal(C(&e, evict_written), w0);      /* no swap write */
	assert_int_equal(C(&e, mirror_dropped), 4);
	/* a fault reads the block back from the image */
	assert_true(page_is_block(&e, 41, 11, 1));
	/* the image's blocks 11 and 12 are about to change: page 41
	 * (resident) and page 42 (swapped out) stop mirroring them */
	assert_int_equal(swapper_mirror_write(e.s, m, 11 * PG + 100, PG), 0);
	assert_int_equal(C(&e, mirror_invalidated), 2);
	for (i = 41; i < 43; i++) {
		assert_int_equal(pg_state(word_of(&e, i)), PS_RESIDENT);
		assert_false(pg_holds_slot(word_of(&e, i)));
	}
	for (i = 0; i < 512; i++)
		buf[i] = ~0ull;
	assert_int_equal(pwrite(fd, buf, PG, 11 * PG), PG);
	assert_int_equal(pwrite(fd, buf, PG, 12 * PG), PG);
	assert_int_equal(swapper_trim(e.s), 0);
	assert_int_equal(C(&e, evict_written), w0 + 2); /* now to swap */
	assert_true(page_is_block(&e, 40, 10, 1));
	assert_true(page_is_block(&e, 41, 11, 1));
	assert_true(page_is_block(&e, 42, 12, 1));
	assert_true(page_is_block(&e, 43, 13, 1));
	assert_int_equal(C(&e, checksum_errors), 0);
	/* the image is not the swapper's to move or remove */
	assert_int_equal(swapper_swapoff(e.s, m), -EPERM);
	assert_int_equal(swapper_compact(e.s, m), -EPERM);
	/* a guest write to a page that mirrors a block drops its claim */
	assert_int_equal(swapper_trim(e.s), 0);
	assert_int_equal(gslot_dev(pg_slot(word_of(&e, 43))), m);
	page_ptr(&e, 43)[7] = 1;
	assert_false(pg_holds_slot(word_of(&e, 43)));
	close(fd);
	unlink(path);
	env_teardown(&e);
}

/* Count-only mapper (--swap-mapper-count): disk-read pages are tracked as
 * by the mapper, but eviction writes them to swap and counts each as a
 * silent write; a page the guest wrote since is written but not counted. */
static void test_swap_mapper_count(void **state)
{
	struct env e;
	char path[64];
	uint64_t i, w0;
	int fd, m;

	(void)state;
	fd = mirror_setup(&e, path, true, &m);
	page_ptr(&e, 43)[7] ^= 1;               /* the guest changes one */
	w0 = C(&e, evict_written);
	assert_int_equal(swapper_trim(e.s), 0);
	for (i = 40; i < 44; i++) {
		assert_int_equal(pg_state(word_of(&e, i)), PS_SWAPPED);
		assert_true((int)gslot_dev(pg_slot(word_of(&e, i))) != m);
	}
	assert_int_equal(C(&e, evict_written), w0 + 4);  /* all to swap */
	assert_int_equal(C(&e, mirror_silent), 3);       /* 43 was written */
	assert_int_equal(C(&e, mirror_dropped), 0);
	for (i = 40; i < 43; i++)
		assert_true(page_is_block(&e, i, 10 + i - 40, 1));
	assert_true(page_ptr(&e, 43)[7] == (img_word(13, 7, 1) ^ 1));
	assert_true(page_ptr(&e, 43)[8] == img_word(13, 8, 1));
	assert_int_equal(C(&e, checksum_errors), 0);
	close(fd);
	unlink(path);
	env_teardown(&e);
}

/* The overwrite hint (HV_HC_OVERWRITE): pages whose data is only on swap
 * become ZERO without a read; a resident page keeps its data; bad ranges
 * are refused. */
static void test_overwrite_hint(void **state)
{
	struct env e;
	uint64_t i, r0;
	unsigned int k, n;

	(void)state;
	hc_env(&e, 1, 8 << 20, 0);
	for (i = 10; i < 13; i++)
		page_ptr(&e, i)[5] = 0x5a5a0000 + i;
	/* a trim's work is bounded by the resident count and CLOCK gives a
	 * just-written page a second chance: trim until all three are out */
	for (k = 0, n = 0; k < 50 && n < 3; k++) {
		assert_int_equal(swapper_trim(e.s), 0);
		for (i = 10, n = 0; i < 13; i++)
			n += pg_state(word_of(&e, i)) == PS_SWAPPED;
	}
	assert_int_equal(n, 3);
	assert_true(page_ptr(&e, 12)[5] == 0x5a5a0000 + 12);    /* faulted back */
	r0 = C(&e, reads);
	assert_int_equal(swapper_overwrite(e.s, GPA + 10 * PG, 3 * PG), 2);
	assert_int_equal(pg_state(word_of(&e, 10)), PS_ZERO);
	assert_int_equal(pg_state(word_of(&e, 11)), PS_ZERO);
	assert_int_equal(pg_state(word_of(&e, 12)), PS_RESIDENT);
	assert_true(page_ptr(&e, 10)[5] == 0 && page_ptr(&e, 11)[5] == 0);
	assert_true(page_ptr(&e, 12)[5] == 0x5a5a0000 + 12);
	assert_int_equal(C(&e, reads), r0);                     /* nothing read */
	assert_int_equal(C(&e, overwrite_skipped), 2);
	assert_int_equal(swapper_overwrite(e.s, GPA + 10 * PG + 8, PG), -EINVAL);
	assert_int_equal(swapper_overwrite(e.s, GPA + 10 * PG, 0), -EINVAL);
	assert_int_equal(swapper_overwrite(e.s, GPA - 2 * PG, PG), -EFAULT);
	env_teardown(&e);
}

/* A write pin on a clean (write-protected, slot-holding) page makes it
 * dirty first, so the device's write is written out again. */
static void test_write_pin_dirties(void **state)
{
	struct env e;
	uint64_t before;

	(void)state;
	hc_env(&e, 1, 8 << 20, 0);
	fill_and_trim(&e);
	assert_page_ok(&e, 5);                                   /* read fault: clean */
	assert_true((word_of(&e, 5) & (PG_WP | PG_SLOT)) == (PG_WP | PG_SLOT));
	assert_int_equal(swapper_pin(e.s, GPA + 5 * PG, PG, true, false, NULL), 0);
	assert_false(word_of(&e, 5) & (PG_WP | PG_SLOT));
	stamp(&e, 5);
	swapper_unpin(e.s, GPA + 5 * PG, PG, false);
	before = atomic_load(&e.s->c.bytes_written);
	assert_int_equal(swapper_trim(e.s), 0);
	assert_true(atomic_load(&e.s->c.bytes_written) > before);
	assert_all_pages_ok(&e);
	env_teardown(&e);
}

/* --- reverse maps --- */

/*
 * A slot held by one page has no reverse-map entry (its page word names
 * it, and holds its seal); the rmap records owners of shared slots, as a
 * sharing producer adds them; a write fault drops an exclusive page's claim.
 */
static void test_rmap(void **state)
{
	struct env e;
	struct seal_entry se;
	uint64_t i, own[4], g, f0;

	(void)state;
	hc_env(&e, 1, 8 << 20, 0);
	fill_and_trim(&e);
	for (i = 1; i < NPAGES; i++) {
		uint64_t w = word_of(&e, i);

		assert_int_equal(pg_state(w), PS_SWAPPED);
		assert_int_equal(rmap_owners(e.s, pg_slot(w), own, 4), 0);
		assert_int_equal(swapset_seal_get(e.s, pg_slot(w), pg_crc(w), &se), 0);
		assert_int_equal(se.crc, pg_crc(w));
	}
	/* crc32c seals live in the page words: no per-slot table at all */
	assert_int_equal(swapset_seal_bytes(e.s), 0);
		/* sharing: both owners recorded, then back to one, then none */
	g = pg_slot(word_of(&e, 7));
	page_lock(e.s, 7);
	assert_int_equal(rmap_add(e.s, g, 7), 0);
	page_unlock(e.s, 7);
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
	page_lock(e.s, 7);
	rmap_del(e.s, g, 7);
	page_unlock(e.s, 7);
	assert_int_equal(rmap_owners(e.s, g, own, 4), 0);
	/* an entry that cannot be allocated is refused, nothing recorded */
	f0 = atomic_load(&e.s->c.alloc_failures);
	atomic_store(&e.s->alloc_fail_after, 0);
	page_lock(e.s, 7);
	assert_int_equal(rmap_add(e.s, g, 7), -ENOMEM);
	page_unlock(e.s, 7);
	assert_int_equal(atomic_load(&e.s->c.alloc_failures), f0 + 1);
	assert_int_equal(rmap_owners(e.s, g, own, 4), 0);
	/* a write fault drops the claim: the slot is free, its seal gone */
	assert_page_ok(&e, 9);
	g = pg_slot(word_of(&e, 9));
	assert_int_equal(pg_state(word_of(&e, 9)), PS_RESIDENT);
	stamp(&e, 9);
	assert_false(word_of(&e, 9) & PG_SLOT);
	assert_int_equal(swap_slot_count(e.s->devs[0], gslot_off(g)), 0);
	assert_int_equal(swapset_seal_bytes(e.s), 0);
	/* swapoff finds every owner from the page words */
	assert_int_equal(swapper_swapoff(e.s, 0), 0);
	assert_all_pages_ok(&e);
	env_teardown(&e);
}

/* --- lock-order checking (HV_LOCKDEP: Debug, ASan and TSan builds) --- */

#ifdef HV_LOCKDEP
/* Run fn(e) in a forked child and return its wait status.  The swapper is
 * idle (no fault, no I/O, reclaim asleep): no lock the child takes is held
 * by a thread that did not survive the fork.  A child that survives fn
 * exits 0. */
static int in_child(struct env *e, void (*fn)(struct env *e))
{
	pid_t pid;
	int st = 0;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fn(e);
		_exit(0);
	}
	if (!WAIT_UNTIL(waitpid(pid, &st, WNOHANG) == pid, WAIT_MS)) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		fail_msg("child %d did not end", (int)pid);
	}
	return st;
}

/* rmap_lock, then a page lock: against the order (page -> dev -> rmap). */
static void page_lock_under_rmap(struct env *e)
{
	lock_mutex(&e->s->rmap_lock, LK_RMAP);
	page_lock(e->s, 0);
}

/* rmap_add() without the page lock: its precondition. */
static void rmap_add_unlocked(struct env *e)
{
	(void)rmap_add(e->s, gslot(0, 1), 0);
}
#endif

/* Lock-order violations and unmet lock preconditions stop the process
 * (SIGABRT) in the first run that reaches them, in a forked child here;
 * the parent, which took nothing, goes on as before. */
static void test_lockdep_catches(void **state)
{
#ifdef HV_LOCKDEP
	struct env e;
	int st;

	(void)state;
	hc_env(&e, 1, 8 << 20, 0);
	st = in_child(&e, page_lock_under_rmap);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
	st = in_child(&e, rmap_add_unlocked);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
	/* The parent is unaffected: the locks in order, then guest traffic. */
	page_lock(e.s, 0);
	lock_mutex(&e.s->rmap_lock, LK_RMAP);
	unlock_mutex(&e.s->rmap_lock, LK_RMAP);
	page_unlock(e.s, 0);
	stamp(&e, 1);
	assert_int_equal(swapper_trim(e.s), 0);
	assert_all_pages_ok(&e);
	env_teardown(&e);
#else
	(void)state;
	print_message("  lock-order checking is compiled out (HV_LOCKDEP: Debug, "
		      "ASan and TSan builds): skipped\n");
	skip();
#endif
}

/* --- migration --- */

static void assert_all_off(struct env *e, int dev)
{
	uint64_t i;

	for (i = 1; i < NPAGES; i++) {
		uint64_t w = word_of(e, i);

		if (pg_holds_slot(w))
			assert_int_not_equal(gslot_dev(pg_slot(w)), dev);
	}
	assert_int_equal(dev_usage(e, dev).used, 0);
}

/* Migration of a page under read: the read is parked, migration moves the
 * rest, the page joins once its read completes (into the guest, which
 * wanted it), and its claim on the old device is dropped. */
static void test_migrate_page_under_read(void **state)
{
	struct env e;
	static struct bg_op rd, mig;    /* static: outlive a failed test */
	uint64_t idx = 33;

	(void)state;
	hc_env(&e, 2, 8 << 20, 0);
	fill_and_trim(&e);
	assert_int_equal(dev_usage(&e, 0).used, NPAGES - 1);
	hold(&e, IO_READ, slot_off(&e, idx), slot_off(&e, idx) + PG, 1);
	bg_start(&rd, &e, BG_READ, idx, 0, 0);
	wait_held(&e, 1);
	wait_state(&e, idx, PS_READING);
	bg_start(&mig, &e, BG_MIGRATE, 0, 0, 1);
	/* everything but the page under read leaves device 0 */
	if (!WAIT_UNTIL(dev_usage(&e, 0).used <= 1, WAIT_MS))
		fail_msg("migration made no progress");
	assert_int_equal(pg_state(word_of(&e, idx)), PS_READING);
	io_inject_release(e.inj, -1);
	bg_join(&rd, WAIT_MS);
	bg_join(&mig, WAIT_MS);
	assert_true(mig.ret >= NPAGES - 2);
	/* a second pass takes the page's remaining claim */
	assert_true(swapper_migrate(e.s, 0, 1) >= 0);
	assert_all_off(&e, 0);
	assert_all_pages_ok(&e);
	env_teardown(&e);
}

/* Migration of a page in staging (its write-out parked): left alone until
 * the write lands, then moved. */
static void test_migrate_page_in_staging(void **state)
{
	struct env e;
	static struct bg_op mig, tr;    /* static: outlive a failed test */
	uint64_t i, staged = 0;

	(void)state;
	hc_env(&e, 2, 8 << 20, 0);
	for (i = 1; i < NPAGES; i++)
		stamp(&e, i);
	hold(&e, IO_WRITE, 0, 0, 1);                    /* first write only */
	bg_start(&tr, &e, BG_TRIM, 0, 0, 0);
	wait_held(&e, 1);
	{
		int op;
		uint64_t off;

		/* a page of the parked batch */
		assert_int_equal(io_inject_held_info(e.inj, 0, &op, &off), 0);
		for (i = 1; i < NPAGES && !staged; i++)
			if (pg_state(word_of(&e, i)) == PS_STAGED &&
			    (word_of(&e, i) & PG_SLOT) && slot_off(&e, i) == off)
				staged = i;
	}
	assert_true(staged != 0);
	bg_start(&mig, &e, BG_MIGRATE, 0, 0, 1);
	/* A pass leaves a page whose write is in flight for a later pass, and
	 * the migration ends with a pass that starts nothing: it finishes
	 * with the write still parked, having visited the page. */
	if (!WAIT_UNTIL(atomic_load(&mig.done), WAIT_MS))
		fail_msg("migration did not finish with a write parked");
	assert_int_equal(pg_state(word_of(&e, staged)), PS_STAGED);   /* untouched */
	io_inject_release(e.inj, -1);
	bg_join(&tr, TRIM_WAIT_MS);
	bg_join(&mig, WAIT_MS);
	assert_true(mig.ret >= 0);
	assert_true(swapper_migrate(e.s, 0, 1) >= 0);
	assert_all_off(&e, 0);
	assert_all_pages_ok(&e);
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
	static struct bg_op mig, tr;    /* static: outlive a failed test */
	struct opts o;
	uint64_t i;
	int round;

	(void)state;
	o = hc_opts(2, 8 << 20, 0);
	o.staging_pages = 64;
	env_setup(&e, &o);
	fill_and_trim(&e);
	for (round = 0; round < 3; round++) {
		int from = round % 2, to = 1 - from;

		/* dirty resident pages for the trims to evict */
		for (i = 1; i <= 100; i++)
			stamp(&e, i + (uint64_t)round * 200);
		bg_start(&mig, &e, BG_MIGRATE, 0, from, to);
		bg_start(&tr, &e, BG_TRIM, 0, 0, 0);
		for (i = 0; i < 4; i++)
			assert_int_equal(swapper_trim(e.s), 0);
		bg_join(&tr, TRIM_WAIT_MS);
		bg_join(&mig, WAIT_MS);
		assert_true(mig.ret >= 0);
		assert_int_equal(swapper_trim(e.s), 0);
		assert_int_equal(atomic_load(&e.s->c.staged), 0);
		assert_all_pages_ok(&e);
	}
	env_teardown(&e);
}

/* Compaction rewrites a fragmented device in guest-page order. */
static void test_compact(void **state)
{
	struct env e;
	uint64_t i, inorder = 0, pairs = 0;

	(void)state;
	hc_env(&e, 1, 8 << 20, 0);
	fill_and_trim(&e);
	/* fragment: rewrite every third page and evict again */
	for (i = 1; i < NPAGES; i += 3)
		stamp(&e, i);
	assert_int_equal(swapper_trim(e.s), 0);
	assert_true(swapper_compact(e.s, 0) > 0);
	for (i = 2; i < NPAGES; i++) {
		uint64_t a = word_of(&e, i - 1), b = word_of(&e, i);

		if (pg_state(a) != PS_SWAPPED || pg_state(b) != PS_SWAPPED)
			continue;
		pairs++;
		inorder += pg_slot(b) == pg_slot(a) + 1;
	}
	/* nearly every neighbour pair is in consecutive slots again */
	assert_true(pairs > NPAGES / 2);
	assert_true(inorder * 10 >= pairs * 9);
	assert_all_pages_ok(&e);
	env_teardown(&e);
}

/* The page list of a migration, compaction or swapoff cannot be allocated:
 * each returns -ENOMEM having moved nothing (device 0 still draining-free,
 * its pages where they were), and a retry succeeds. */
static void test_alloc_fail_migrate(void **state)
{
	struct env e;
	uint64_t f0;

	(void)state;
	hc_env(&e, 2, 8 << 20, 0);
	fill_and_trim(&e);
	assert_int_equal(dev_usage(&e, 0).used, NPAGES - 1);
	f0 = atomic_load(&e.s->c.alloc_failures);
	/* N = 0 each time: the first allocation of these operations is
	 * collect()'s array (migrate.c); the op lock, the device checks and
	 * the draining flag allocate nothing, and the guest is idle. */
	atomic_store(&e.s->alloc_fail_after, 0);
	assert_int_equal(swapper_migrate(e.s, 0, 1), -ENOMEM);
	atomic_store(&e.s->alloc_fail_after, 0);
	assert_int_equal(swapper_compact(e.s, 0), -ENOMEM);
	atomic_store(&e.s->alloc_fail_after, 0);
	assert_int_equal(swapper_swapoff(e.s, 0), -ENOMEM);
	assert_int_equal(atomic_load(&e.s->c.alloc_failures), f0 + 3);
	assert_non_null(e.s->devs[0]);
	assert_false(swapset_draining(e.s, 0));
	assert_int_equal(dev_usage(&e, 0).used, NPAGES - 1);
	assert_int_equal(dev_usage(&e, 1).used, 0);
	assert_int_equal(atomic_load(&e.s->c.migrated), 0);
	/* a retry succeeds */
	assert_true(swapper_migrate(e.s, 0, 1) > 0);
	assert_all_off(&e, 0);
	assert_int_equal(atomic_load(&e.s->c.alloc_failures), f0 + 3);
	assert_all_pages_ok(&e);
	env_teardown(&e);
}

/* Swapoff while a page is mid-write-out, another mid-read with two threads
 * faulting on it; everything ends up on the other device or in memory. */
static void test_swapoff_races(void **state)
{
	struct env e;
	static struct bg_op r1, r2, off, tr;    /* static: outlive a failure */
	uint64_t p = 40, q = 41, i;
	json_object *j, *v;

	(void)state;
	hc_env(&e, 2, 8 << 20, 0);
	fill_and_trim(&e);
	assert_page_ok(&e, q);
	stamp(&e, q);                                   /* q: resident, dirty */
	hold(&e, IO_READ, slot_off(&e, p), slot_off(&e, p) + PG, 1);
	bg_start(&r1, &e, BG_READ, p, 0, 0);
	wait_held(&e, 1);
	bg_start(&r2, &e, BG_READ, p, 0, 0);                  /* second faulter */
	if (!WAIT_UNTIL((word_of(&e, p) & PG_WAITER) &&
			atomic_load(&e.s->c.faults_dup) != 0, WAIT_MS))
		fail_msg("second faulter never arrived");
	hold(&e, IO_WRITE, 0, 0, 1);
	bg_start(&tr, &e, BG_TRIM, 0, 0, 0);
	wait_held(&e, 2);
	wait_state(&e, q, PS_STAGED);
	bg_start(&off, &e, BG_SWAPOFF, 0, 0, 0);
	/* everything else leaves device 0: p's read and q's write (maybe
	 * with its batch) are still parked */
	if (!WAIT_UNTIL(dev_usage(&e, 0).used <= 1 + 16, WAIT_MS))
		fail_msg("swapoff made no progress");
	assert_false(atomic_load(&off.done));
	assert_int_equal(atomic_load(&e.s->c.reads) > 0, 1);
	io_inject_clear_rules(e.inj);
	io_inject_release(e.inj, -1);
	bg_join(&r1, WAIT_MS);
	bg_join(&r2, WAIT_MS);
	bg_join(&tr, TRIM_WAIT_MS);
	bg_join(&off, WAIT_MS);
	assert_int_equal(off.ret, 0);
	assert_null(e.s->devs[0]);
	for (i = 1; i < NPAGES; i++) {
		uint64_t w = word_of(&e, i);

		if (pg_holds_slot(w))
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
	assert_all_pages_ok(&e);
	env_teardown(&e);
}

/* A test hook that parks the thread reaching an armed point (for device
 * 1) until the test opens it; bounded, so a failed test never hangs. */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool armed[HOOK_NR], at[HOOK_NR], open[HOOK_NR];    /* lock */
};

static void gate_init(struct gate *g)
{
	pthread_condattr_t ca;

	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cond, &ca);
	pthread_condattr_destroy(&ca);
}

static void gate_fini(struct gate *g)
{
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
}

static void deadline_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void gate_hook(struct swapper *s, enum core_hook_point p, uint64_t v,
		      void *arg)
{
	struct gate *g = arg;
	struct timespec ts;

	(void)s;
	if (v != 1)
		return;
	deadline_in(&ts, WAIT_MS);
	pthread_mutex_lock(&g->lock);
	if (g->armed[p]) {
		g->armed[p] = false;            /* once */
		g->at[p] = true;
		pthread_cond_broadcast(&g->cond);
		while (!g->open[p] &&
		       pthread_cond_timedwait(&g->cond, &g->lock, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&g->lock);
}

static void gate_arm(struct gate *g, enum core_hook_point p)
{
	pthread_mutex_lock(&g->lock);
	g->armed[p] = true;
	pthread_mutex_unlock(&g->lock);
}

/* Wait until a thread is parked at p; false after ms. */
static bool gate_reached(struct gate *g, enum core_hook_point p, int ms)
{
	struct timespec ts;
	bool r;

	deadline_in(&ts, ms);
	pthread_mutex_lock(&g->lock);
	while (!g->at[p] &&
	       pthread_cond_timedwait(&g->cond, &g->lock, &ts) != ETIMEDOUT)
		;
	r = g->at[p];
	pthread_mutex_unlock(&g->lock);
	return r;
}

static void gate_open(struct gate *g, enum core_hook_point p)
{
	pthread_mutex_lock(&g->lock);
	g->open[p] = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/*
 * Issue 9's use-after-free, made deterministic: statistics walk a device's
 * reverse map (rmap_bytes, under rmap_lock) while swapoff of that device
 * frees it (rmap_dev_fini).  Thread A swaps device 1 off and is parked just
 * before the device is removed (HOOK_SWAPOFF_FINI); thread B then takes
 * statistics and is parked inside rmap_bytes, holding rmap_lock, as it is
 * about to walk device 1's map (HOOK_RMAP_BYTES).  A is let go.  With the
 * fix, rmap_dev_fini takes rmap_lock, so A waits for B; on the old code A
 * freed the map at once, under B, and B's walk read freed memory (ASan
 * reports it when B is let go).  The 2 s bound below only decides whether
 * that old bug would be exposed (A had time to free the map); with the fix
 * the test passes either way.
 */
static void test_stats_during_swapoff(void **state)
{
	struct env e;
	static struct gate g;           /* static: the hook outlives a failure */
	static struct bg_op a, b;
	struct opts o = hc_opts(2, 8 << 20, 0);
	json_object *j, *v;
	bool a_first;

	(void)state;
	gate_init(&g);
	o.hook = gate_hook;             /* parks nothing until armed */
	o.hook_arg = &g;
	env_setup(&e, &o);
	fill_and_trim(&e);                              /* on device 0 ... */
	assert_true(swapper_migrate(e.s, 0, 1) > 0);    /* ... now on device 1 */
	assert_int_equal(swapper_trim(e.s), 0);         /* (written there) */
	assert_int_equal(dev_usage(&e, 0).used, 0);
	assert_true(dev_usage(&e, 1).used > 0);
	gate_arm(&g, HOOK_SWAPOFF_FINI);
	bg_start(&a, &e, BG_SWAPOFF, 0, 1, 0);
	assert_true(gate_reached(&g, HOOK_SWAPOFF_FINI, WAIT_MS));
	gate_arm(&g, HOOK_RMAP_BYTES);
	bg_start(&b, &e, BG_STATS, 0, 0, 0);
	assert_true(gate_reached(&g, HOOK_RMAP_BYTES, WAIT_MS));
	gate_open(&g, HOOK_SWAPOFF_FINI);
	a_first = bg_try_join(&a, 2000);
	print_message("  swapoff %s while statistics walked the device's "
		      "reverse map\n", a_first ? "finished (the old bug)" : "waited");
	gate_open(&g, HOOK_RMAP_BYTES);
	bg_join(&b, WAIT_MS);
	bg_join(&a, WAIT_MS);
	assert_int_equal(a.ret, 0);
	assert_null(e.s->devs[1]);
	/* B read the device table while A was parked before removing it */
	assert_non_null(b.json);
	assert_true(json_object_object_get_ex(b.json, "devices", &v));
	assert_int_equal(json_object_array_length(v), 2);
	json_object_put(b.json);
	j = swapper_stats_json(e.s);
	assert_true(json_object_object_get_ex(j, "devices", &v));
	assert_int_equal(json_object_array_length(v), 1);
	json_object_put(j);
	assert_all_pages_ok(&e);
	env_teardown(&e);
	gate_fini(&g);
}

/* Swapoff of the only device: pages come back into memory. */
static void test_swapoff_to_memory(void **state)
{
	struct env e;

	(void)state;
	hc_env(&e, 1, 8 << 20, 0);
	fill_and_trim(&e);
	assert_int_equal(swapper_swapoff(e.s, 0), 0);
	assert_null(e.s->devs[0]);
	/* in memory, or on their way back into it (staged, no slot) */
	assert_true(atomic_load(&e.s->c.resident) + atomic_load(&e.s->c.staged) >=
		    NPAGES - 2);
	assert_all_pages_ok(&e);
	env_teardown(&e);
}

/* Teardown while a swapoff waits on parked I/O: cancel makes it return. */
static void test_cancel_during_swapoff(void **state)
{
	struct env e;
	static struct bg_op rd, off;    /* static: outlive a failed test */

	(void)state;
	hc_env(&e, 2, 8 << 20, 0);
	fill_and_trim(&e);
	hold(&e, IO_READ, slot_off(&e, 50), slot_off(&e, 50) + PG, 1);
	bg_start(&rd, &e, BG_READ, 50, 0, 0);
	wait_held(&e, 1);
	bg_start(&off, &e, BG_SWAPOFF, 0, 0, 0);
	/* The swapoff is under way (it holds the op lock and drains device
	 * 0); page 50's read stays parked, so it cannot end by itself before
	 * its passes run out, far later than this. */
	if (!WAIT_UNTIL(swapset_draining(e.s, 0), WAIT_MS))
		fail_msg("swapoff never started");
	swapper_cancel(e.s);
	bg_join(&off, WAIT_MS);
	assert_int_equal(off.ret, -ECANCELED);
	io_inject_release(e.inj, -1);
	bg_join(&rd, WAIT_MS);
	assert_page_ok(&e, 50);
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
	hc_env(&e, 1, 8 << 20, 0);
	for (i = 1; i <= 64; i++)
		stamp(&e, i);
	assert_int_equal(swapper_pin(e.s, GPA + 5 * PG, PG, false, false, NULL), 0);
	for (i = 0; i < NPAGES; i++)
		resident += pg_state(word_of(&e, i)) == PS_RESIDENT &&
			    !(word_of(&e, i) & PG_PINNED);
	r = swapper_numa_move(e.s, 0);
	assert_true(r > 0);
	assert_true((uint64_t)r <= resident);
	assert_int_equal(swapper_numa_move(e.s, swapper_numa_nodes()), -EINVAL);
	assert_int_equal(swapper_numa_move(e.s, -1), -EINVAL);
	swapper_unpin(e.s, GPA + 5 * PG, PG, false);
	assert_all_pages_ok(&e);
	env_teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pin_mid_writeout),
		cmocka_unit_test(test_evict_pinned),
		cmocka_unit_test(test_write_pin_dirties),
		cmocka_unit_test(test_fill_pin_skips_reads),
		cmocka_unit_test(test_swap_mapper),
		cmocka_unit_test(test_swap_mapper_count),
		cmocka_unit_test(test_overwrite_hint),
		cmocka_unit_test(test_rmap),
		cmocka_unit_test(test_lockdep_catches),
		cmocka_unit_test(test_migrate_page_under_read),
		cmocka_unit_test(test_migrate_page_in_staging),
		cmocka_unit_test(test_trim_during_migration_small_staging),
		cmocka_unit_test(test_compact),
		cmocka_unit_test(test_alloc_fail_migrate),
		cmocka_unit_test(test_swapoff_races),
		cmocka_unit_test(test_stats_during_swapoff),
		cmocka_unit_test(test_swapoff_to_memory),
		cmocka_unit_test(test_cancel_during_swapoff),
		cmocka_unit_test(test_numa_single_node),
	};
	return TL_MAIN(tests);
}
