/*
 * reclaim.c - the reclaim thread: watermarks and limits, eviction rounds,
 * trim.
 *
 * A round: the policy proposes victims; each is re-checked under its page
 * lock and taken out of the guest ATOMICALLY - UFFDIO_MOVE into the staging
 * area (a racing guest write either lands before the move, and is moved with
 * the page, or faults after it and is served from staging) - then:
 *   clean (WP-installed and still holding its slot)  -> drop, no I/O
 *   all zeros                                        -> ZERO, no I/O
 *   otherwise                                        -> STAGED, and written
 *                                                       by writeback.c
 * Clean pages are dropped (page_drop: MADV_DONTNEED, or a hole punch on
 * memfd memory) instead of a move: they are write-protected, so a write
 * would trap to the fault thread, which needs the page lock we hold.
 * memfd (shmem) memory has no UFFDIO_MOVE: it always takes the
 * write-protect + copy + drop path (take_out).
 *
 * Limits: the thread wakes at the low watermark (limit - gap) and evicts
 * down to it minus a write batch; over limit + margin (the hard limit)
 * faults that add pages are throttled (fault.c).  A trim evicts everything
 * evictable that was resident when it was asked for, and waits for the
 * writes.
 *
 * Owns: rc_lock (leaf) with the trim request state; limit_pages, low_wmark;
 * swap_full.  The thread is the only one holding several page locks (a run,
 * ascending stripes, see evict_run).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hvswap/log.h"
#include "internal.h"
#include "ztier.h"

#define MAX_SELECT 256
#define TRIM_STALL_S 10

/* What the limit counts: resident, staged and (ztier.c) the compressed
 * pool's memory. */
static uint64_t used_pages(struct swapper *s)
{
	return atomic_load(&s->c.resident) + atomic_load(&s->c.staged) +
	       ztier_pages(s);
}

void reclaim_kick(struct swapper *s)
{
	uint64_t low = atomic_load(&s->low_wmark);

	if (!low || used_pages(s) < low || atomic_load(&s->rc_wanted))
		return;
	core_wake_reclaim(s);
}

bool reclaim_over_hard_limit(struct swapper *s)
{
	uint64_t lim = atomic_load(&s->limit_pages), margin;

	if (!lim || atomic_load(&s->swap_full))
		return false;   /* reclaim cannot help: do not hold the guest */
	margin = 512 >> (s->pshift - 12);       /* 2 MiB of 4 KiB pages */
	if (margin < 2)
		margin = 2;
	if (lim / 32 > margin)
		margin = lim / 32;
	return used_pages(s) >= lim + margin;
}

bool reclaim_room_for(struct swapper *s, uint64_t n)
{
	uint64_t low = atomic_load(&s->low_wmark);

	return !low || used_pages(s) + n < low;
}

/*
 * Watermarks, in pages used (resident + staged), as kswapd's in free pages:
 *   high = limit - 2 x gap   reclaim evicts down to here, so faults and
 *                            readahead windows find room without waiting
 *   low  = limit - gap       the reclaim thread wakes here
 *   limit                    the configured resident limit
 *   min  = limit + margin    (reclaim_over_hard_limit) faults that add pages
 *                            wait: reclaim fell behind
 * gap = max(limit / 64, 2 write batches; one readahead window from 64 MiB).
 */
void reclaim_set_limit(struct swapper *s, uint64_t lim)
{
	uint64_t gap = lim / 64;

	if (gap < 2 * s->cfg.write_batch)
		gap = 2 * s->cfg.write_batch;
	if (gap < s->ra_max && lim >= 64 * s->ra_max)
		gap = s->ra_max;   /* room for a readahead window (large limits) */
	/* Huge units: a limit of few units (32 MiB = 16) must still leave
	 * high > 0; their write batches are 8 units (16 MiB) */
	if (s->pshift > 12 && gap > lim / 4)
		gap = lim / 4 ? lim / 4 : 1;
	atomic_store(&s->limit_pages, lim);
	atomic_store(&s->high_wmark, lim ? lim - 2 * gap : 0);
	atomic_store(&s->low_wmark, lim ? lim - gap : 0);
	reclaim_kick(s);
}

/* Wait (bounded) until some staging buffer or write completes. */
static void wait_progress(struct swapper *s, long ms)
{
	core_progress_wait(s, core_progress_gen(s), ms);
}

static bool page_is_zero(const struct swapper *s, const void *p)
{
	const uint64_t *q = p;
	uint64_t i;

	for (i = 0; i < s->psz / 8; i += 8) {
		if (q[i] | q[i + 1] | q[i + 2] | q[i + 3] | q[i + 4] | q[i + 5] |
		    q[i + 6] | q[i + 7])
			return false;
	}
	return true;
}

enum evict_class { EV_SKIP, EV_CLEAN, EV_DIRTY };

static enum evict_class classify(uint64_t w)
{
	if (pg_state(w) != PS_RESIDENT || (w & PG_PINNED))
		return EV_SKIP;
	return (w & PG_WP) && (w & PG_SLOT) ? EV_CLEAN : EV_DIRTY;
}

/* Clean pages [start, start+m): identical to their slots and
 * write-protected, so they are dropped without I/O.  Page locks held.
 * Returns the pages dropped (0 if the drop failed: they stay resident). */
static unsigned int evict_clean(struct swapper *s, uint64_t start, unsigned int m,
				const uint64_t *w)
{
	/* Read through the alias of a zero-copy memfd region (see take_out) */
	uint8_t *host = page_alias(s, start) ? page_alias(s, start) : page_host(s, start);
	uint32_t crc[PG_EVICT_RUN];
	unsigned int i;
	int r;

	/* The seal goes back into the word (page.h): recomputed from the
	 * page, which write protection kept identical to its slot. */
	for (i = 0; i < m; i++)
		crc[i] = swapset_word_seal(s, pg_slot(w[i]), host + i * s->psz);
	r = page_drop(s, start, m);
	if (r < 0) {
		log_warn("cannot drop clean gfn 0x%llx+%u: %s",
			 (unsigned long long)page_gfn(s, start), m, strerror(-r));
		return 0;
	}
	for (i = 0; i < m; i++) {
		policy_evicted(s, start + i);
		atomic_store(&s->pages[start + i],
			     pg_make_swapped(pg_slot(w[i]), crc[i]));
		if (swapset_is_mirror(s, gslot_dev(pg_slot(w[i]))))
			atomic_fetch_add(&s->c.mirror_dropped, 1);  /* mirror.c */
	}
	page_resident_dec(s, m);
	atomic_fetch_add(&s->c.evict_clean, m);
	atomic_fetch_add(&s->kc_drop, m);       /* keep_clean()'s benefit */
	return m;
}

/* The copy-out reads pages other threads wrote (the VMM loading the guest
 * image, device emulation); they are write-protected first and a writer's
 * fault needs our page locks, so the copy is ordered after every write -
 * but through the kernel, where ThreadSanitizer cannot see it.  Its reads
 * are left out of race detection (as seal.c's checksum loops are); the
 * memfd zero-copy path copies from a second mapping, which hid this until
 * hugetlbfs units copied from the guest's own. */
static void guest_copy_out(void *dst, const void *src, size_t len)
{
	tsan_ignore_begin();
	memcpy(dst, src, len);
	tsan_ignore_end();
}

/* Take [start, start+m) out of the guest into staging [b, b+m).  Returns the
 * number of pages taken (a prefix).  Page locks held. */
static unsigned int take_out(struct swapper *s, uint64_t start, unsigned int m,
			     uint32_t b)
{
	void *host = page_host(s, start);
	unsigned int i;
	int64_t moved;
	int r;

	if (s->use_move) {
		moved = uffd_move(s->uffd, buf_stage_ptr(s, b), host,
				  m * s->psz, true);
		if (moved < 0) {
			log_warn("UFFDIO_MOVE of gfn 0x%llx+%u failed: %s",
				 (unsigned long long)page_gfn(s, start), m,
				 strerror((int)-moved));
			return 0;
		}
		return (unsigned int)((uint64_t)moved / s->psz);
	}
	/* Fallback without MOVE: write-protect first, so a racing guest
	 * write traps (to a fault thread that needs our page locks) instead
	 * of landing after the copy; then copy and drop.  (No DONTWAKE:
	 * the kernel refuses WP|DONTWAKE with EINVAL; protecting wakes no one.) */
	r = uffd_writeprotect(s->uffd, host, m * s->psz, true, false);
	if (r < 0) {
		log_warn("write-protect for eviction failed: %s", strerror(-r));
		return 0;
	}
	/* From the unregistered alias of a zero-copy memfd region: reading
	 * the guest's mapping could take a MINOR fault (a page the kernel
	 * unmapped) that the fault thread serves only with our page locks. */
	guest_copy_out(buf_stage_ptr(s, b),
		       page_alias(s, start) ? page_alias(s, start) : host,
		       m * s->psz);
	/* A writer that is not on our mapping (a vhost-user back-end) and
	 * wrote now would be lost by the drop: it may only write pinned
	 * pages, which never get here (test_vhost_shadow holds this point). */
	for (i = 0; s->hook && i < m; i++)
		core_hook(s, HOOK_EVICT_COPIED, start + i);
	r = page_drop(s, start, m);
	if (r < 0) {
		/* Still mapped (and protected): give the pages back as they
		 * are; a writer waiting on the protection is woken. */
		log_warn("cannot drop gfn 0x%llx+%u for eviction: %s",
			 (unsigned long long)page_gfn(s, start), m, strerror(-r));
		uffd_writeprotect(s->uffd, host, m * s->psz, false, false);
		return 0;
	}
	return m;
}

/* Dirty pages [start, start+m): to staging, then ZERO or STAGED (queued in
 * dirty[]).  Page locks held.  -EAGAIN when staging is full. */
static int evict_dirty(struct swapper *s, uint64_t start, unsigned int m,
		       const uint64_t *w, uint64_t silent, struct wb_ent *dirty,
		       unsigned int *nd)
{
	unsigned int i, got;
	uint32_t b;

	if (buf_stage_get_run(s, m, &b) < 0)
		return -EAGAIN;
	got = take_out(s, start, m, b);
	for (i = got; i < m; i++)
		buf_stage_put(s, b + i);
	for (i = 0; i < got; i++) {
		uint64_t idx = start + i;

		if (w[i] & PG_SLOT) {   /* stale claim (written since): drop */
			if (silent >> i & 1)    /* unchanged: count-only mapper */
				atomic_fetch_add(&s->c.mirror_silent, 1);
			swapset_put(s, idx, pg_slot(w[i]));
		}
		page_resident_dec(s, 1);
		policy_evicted(s, idx);
		if (page_is_zero(s, buf_stage_ptr(s, b + i))) {
			atomic_store(&s->pages[idx], pg_make(PS_ZERO, 0, 0, 0));
			atomic_fetch_add(&s->c.evict_zero, 1);
			buf_stage_release_run(s, b + i, 1);
			continue;
		}
		atomic_store(&s->pages[idx], pg_make(PS_STAGED, 0, b + i, 0));
		atomic_fetch_add(&s->c.staged, 1);
		s->stage_owner[b + i] = (uint32_t)idx;
		dirty[(*nd)++] = (struct wb_ent){ idx, b + i, -1 };
	}
	return (int)got;
}

/*
 * Evict the contiguous run [first, first+n) (one region, n <= PG_EVICT_RUN,
 * page-lock stripes ascending).  The reclaim thread is the only thread that
 * holds more than one page lock, and it takes them in ascending stripe
 * order, so this cannot deadlock with threads holding one.  Holding the
 * whole run lets one madvise/UFFDIO_MOVE cover it (one KVM invalidation
 * instead of one per page).  Returns pages taken out, or -EAGAIN.
 */
static int evict_run(struct swapper *s, uint64_t first, unsigned int n,
		     struct wb_ent *dirty, unsigned int *nd)
{
	uint64_t w[PG_EVICT_RUN], silent = 0;     /* bit k: see evict_dirty */
	unsigned int k, j, ra = 0;
	int out = 0, r;

	for (k = 0; k < n; k++) {
		enum evict_class c;

		page_lock(s, first + k);
		w[k] = atomic_load(&s->pages[first + k]);
		c = classify(w[k]);
		ra += c != EV_SKIP && (w[k] & PG_RA);
		/* count-only mapper (mirror.c): an unchanged copy of a disk
		 * block is written like a dirty page - a silent write */
		if (c == EV_CLEAN && atomic_load(&s->mirror_count) &&
		    swapset_is_mirror(s, gslot_dev(pg_slot(w[k])))) {
			w[k] &= ~PG_WP;
			silent |= 1ull << k;
		}
	}
	if (ra)
		ra_wasted(s, ra);       /* read ahead, evicted before use */
	for (k = 0; k < n; k = j) {
		enum evict_class c = classify(w[k]);

		for (j = k + 1; j < n && classify(w[j]) == c; j++)
			;
		if (c == EV_CLEAN) {
			out += (int)evict_clean(s, first + k, j - k, w + k);
		} else if (c == EV_DIRTY) {
			r = evict_dirty(s, first + k, j - k, w + k, silent >> k,
					dirty, nd);
			if (r < 0) {
				if (!out)
					out = r;
				break;
			}
			out += r;
		}
	}
	for (k = n; k-- > 0;)
		page_unlock(s, first + k);
	return out;
}

static void handle_swap_full(struct swapper *s)
{
	atomic_fetch_add(&s->c.swap_full_events, 1);
	if (s->cfg.on_full == SWAP_FULL_STOP) {
		if (!atomic_load(&s->swap_full))
			core_fatal(s, -ENOSPC, "swap space is full; stopping "
				   "(--swap-full stop)");
		atomic_store(&s->swap_full, true);
		return;
	}
	if (!atomic_load(&s->swap_full))
		log_warn("swap space is full: running above the memory limit "
			 "(resident %llu pages, limit %llu)",
			 (unsigned long long)atomic_load(&s->c.resident),
			 (unsigned long long)atomic_load(&s->limit_pages));
	atomic_store(&s->swap_full, true);
}

static bool run_breaks(struct swapper *s, uint64_t prev, uint64_t idx,
		       unsigned int len)
{
	return idx != prev + 1 || len == PG_EVICT_RUN ||
	       (idx & (NR_PAGE_LOCKS - 1)) == 0 ||
	       (uint8_t *)page_host(s, idx) != (uint8_t *)page_host(s, prev) + s->psz;
}

/* One reclaim round: returns the number of pages taken out of the guest, or
 * -1 when the policy found nothing evictable. */
static int reclaim_round(struct swapper *s, unsigned int want)
{
	uint64_t victims[MAX_SELECT];
	struct wb_ent dirty[MAX_SELECT];
	unsigned int nv, i, len, nd = 0;
	uint64_t total, fs = swapset_free_slots(s, &total);
	int out = 0, r = 0;

	atomic_store(&s->swap_half_full, fs * 2 < total);

	if (want > MAX_SELECT)
		want = MAX_SELECT;
	if (fs < want)
		want = (unsigned int)fs;
	if (!want) {
		handle_swap_full(s);
		return 0;
	}
	atomic_store(&s->swap_full, false);
	nv = s->pol->select(s, s->pol_state, victims, want);
	if (!nv)
		return -1;
	for (i = 0; i < nv; i += len) {
		for (len = 1; i + len < nv &&
		     !run_breaks(s, victims[i + len - 1], victims[i + len], len); len++)
			;
		r = evict_run(s, victims[i], len, dirty, &nd);
		if (r == -EAGAIN)
			break;
		out += r;
	}
	if (nd)         /* the compressed tier first; the rest to disk */
		nd = ztier_store(s, dirty, nd);
	if (nd)
		wb_write(s, dirty, nd);
	if (r == -EAGAIN && nd == 0)
		wait_progress(s, 5);
	return out;
}

/* ---- trim ---- */

/* Wake at the low watermark, then reclaim down to the high one: `running`
 * says a cycle is under way (it goes on below low until high is reached). */
static bool should_reclaim(struct swapper *s, uint64_t *target, bool running)
{
	uint64_t low = atomic_load(&s->low_wmark), used = used_pages(s);
	bool trim;

	lock_mutex(&s->rc_lock, LK_LEAF);
	trim = s->rc_trim;
	unlock_mutex(&s->rc_lock, LK_LEAF);
	if (trim) {
		*target = 0;
		return atomic_load(&s->c.resident) > 0;
	}
	if (!low || (!running && used < low))
		return false;
	*target = atomic_load(&s->high_wmark);
	return used > *target;
}

/* The running trim's generation, 0 if none. */
static uint64_t trim_active(struct swapper *s)
{
	uint64_t g;

	lock_mutex(&s->rc_lock, LK_LEAF);
	g = s->rc_trim ? s->trim_gen : 0;
	unlock_mutex(&s->rc_lock, LK_LEAF);
	return g;
}

/* Count `n` pages evicted by a round that began under trim generation `gen`
 * against that trim; true when it is done.  A round that began before the
 * trim was asked for is not charged: its pages were not in the trim's
 * budget (resident at the request), and charging them ended trims early. */
static bool trim_spent(struct swapper *s, unsigned int n, uint64_t gen)
{
	bool done = false;

	lock_mutex(&s->rc_lock, LK_LEAF);
	if (s->rc_trim && gen == s->trim_gen) {
		s->trim_budget = s->trim_budget > n ? s->trim_budget - n : 0;
		done = s->trim_budget == 0;
	}
	unlock_mutex(&s->rc_lock, LK_LEAF);
	return done;
}

static void finish_trim(struct swapper *s)
{
	bool was;

	lock_mutex(&s->rc_lock, LK_LEAF);
	was = s->rc_trim;
	if (was) {
		s->rc_trim = false;
		s->trim_done_gen = s->trim_gen;
	}
	unlock_mutex(&s->rc_lock, LK_LEAF);
	if (was)
		core_progress(s);
}

/* A stalled trim says what it waits for: the staged pages (state word,
 * staging buffer, slot) and the write queues.  Read without page locks: a
 * diagnostic snapshot. */
static void trim_stall_report(struct swapper *s)
{
	uint64_t i, n = 0;
	uint32_t nmig, nretry;
	bool busy;

	lock_mutex(&s->wb_lock, LK_LEAF);
	nmig = s->nmig;
	nretry = s->nretry;
	unlock_mutex(&s->wb_lock, LK_LEAF);
	busy = trim_active(s) != 0;
	log_warn("trim: stalled with %llu staged (counter), %llu writes in "
		 "flight, %u migration and %u retry entries queued, reclaim "
		 "thread %s, %llu resident",
		 (unsigned long long)atomic_load(&s->c.staged),
		 (unsigned long long)atomic_load(&s->writes_inflight), nmig, nretry,
		 busy ? "still trimming" : "done trimming",
		 (unsigned long long)atomic_load(&s->c.resident));
	for (i = 0; i < s->npages; i++) {
		uint64_t w = atomic_load(&s->pages[i]);

		if (pg_state(w) != PS_STAGED)
			continue;
		if (n++ < 8)
			log_warn("trim:   staged gfn 0x%llx word 0x%llx buf %u "
				 "(owner idx %u)%s",
				 (unsigned long long)page_gfn(s, i),
				 (unsigned long long)w, pg_buf(w),
				 s->stage_owner[pg_buf(w)],
				 (w & PG_SLOT) ? " with slot" : "");
	}
	log_warn("trim: %llu pages in state STAGED", (unsigned long long)n);
}

int reclaim_trim(struct swapper *s)
{
	uint64_t gen, pg;
	bool done;

	lock_mutex(&s->rc_lock, LK_LEAF);
	gen = ++s->trim_gen;
	/* Bounded work: what is resident now (a busy guest keeps faulting
	 * pages back; a trim does not chase it). */
	s->trim_budget = atomic_load(&s->c.resident) + 1;
	s->rc_trim = true;
	unlock_mutex(&s->rc_lock, LK_LEAF);
	core_wake_reclaim(s);
	for (;;) {
		pg = core_progress_gen(s);
		if (core_reclaim_stopping(s) || atomic_load(&s->cancelled))
			return -ECANCELED;
		lock_mutex(&s->rc_lock, LK_LEAF);
		done = s->trim_done_gen >= gen;
		unlock_mutex(&s->rc_lock, LK_LEAF);
		/* staged: a failed write's pages wait for their retry */
		if (done && !atomic_load(&s->writes_inflight) &&
		    !atomic_load(&s->c.staged))
			return 0;
		/* Progress = any staging buffer released, write completed,
		 * trim finished...; give up after TRIM_STALL_S without any. */
		if (core_progress_wait(s, pg, TRIM_STALL_S * 1000L) == -ETIMEDOUT) {
			log_warn("trim: no progress for %d s", TRIM_STALL_S);
			trim_stall_report(s);
			return -ETIMEDOUT;
		}
	}
}

/* ---- the thread ---- */

/* One pass of eviction down to the target.  Returns true when it found
 * nothing evictable twice in a row (stuck: all pinned or in flight). */
static bool evict_to_target(struct swapper *s)
{
	uint64_t target, tgen, used;
	bool stuck = false, running = false;
	int got;

	while (should_reclaim(s, &target, running)) {
		running = true;
		used = used_pages(s);
		if (used <= target && target)
			break;
		tgen = trim_active(s);
		got = reclaim_round(s, (unsigned int)(used - target > MAX_SELECT ?
					MAX_SELECT : used - target ? used - target : 1));
		/* Migrations and retries queued meanwhile hold staging
		 * buffers: write them after every round.  (Left for the next
		 * cycle, a long trim found staging full of them and spun
		 * without evicting: the stall of issue 5.) */
		wb_write_queued(s);
		if (got < 0 && !stuck) {
			/* A fault may be finishing (the guest is woken before
			 * the page word says RESIDENT): look once more before
			 * calling it unevictable. */
			stuck = true;
			wait_progress(s, 1);
			continue;
		}
		if (got < 0)
			break;          /* nothing evictable (pinned) */
		stuck = false;
		if (trim_spent(s, (unsigned int)got, tgen))
			break;
		/* Caught up: let throttled faults in. */
		while (!reclaim_over_hard_limit(s) && fault_queue_run_one(s, false))
			;
		if (!got) {
			if (atomic_load(&s->swap_full)) {
				wait_progress(s, 100);
				break;
			}
			if (!atomic_load(&s->c.resident))
				break;
			wait_progress(s, 1);
		}
		if (core_reclaim_stopping(s))
			break;
	}
	return stuck;
}

void *reclaim_thread_main(void *arg)
{
	struct swapper *s = arg;
	uint64_t target;
	bool stuck;

	while (core_reclaim_sleep(s)) {
		wb_write_queued(s);
		stuck = evict_to_target(s);
		/* Swap full: a trim has done what it can (else it never ends). */
		if (atomic_load(&s->c.resident) == 0 || atomic_load(&s->swap_full) ||
		    stuck || trim_spent(s, 0, trim_active(s)) ||
		    !should_reclaim(s, &target, false))
			finish_trim(s);
		/* End of a cycle: nobody waits past it, over the limit or not. */
		while (fault_queue_run_one(s, true))
			;
	}
	return NULL;
}
