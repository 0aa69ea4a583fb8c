/*
 * discard.c - drop guest pages whose contents the guest gave up (a balloon
 * inflate: the page is the host's until the guest takes it back), or will
 * overwrite whole before reading (swapper_overwrite: only pages that are
 * out of memory, whose read it saves).
 *
 * Owns no state of its own: it moves page words (page.h) to ZERO under the
 * page lock and gives up what the page held there:
 *
 *   NONE, ZERO   nothing held (NONE stays NONE)
 *   RESIDENT     the host page (page_drop: MADV_DONTNEED, or a hole punch
 *                in a memfd) and a clean copy's slot; out of the resident
 *                count (a failed drop leaves the page alone, as busy)
 *   STAGED       the page's claim on its slot (if the write batch bound
 *                one); the staging buffer belongs to its batch or queue
 *                entry, which finds the page no longer STAGED with that
 *                buffer and treats it as faulted back: the data is still
 *                written and the slot freed at completion (writeback.c)
 *   SWAPPED      the slot
 *   ZPOOL        the compressed copy (ztier.c)
 *   READING      not touched: the read owns the page until it completes
 *                (install or take); discard waits for it and looks again
 *   PINNED       not touched: a device is using it; counted as busy
 *
 * ZERO, not NONE: the next access is a zero fill either way, but
 * fault-around (fault.c) maps only never-used (NONE) neighbours, so a
 * discarded page does not come back as a side effect of a neighbour's
 * first touch.
 *
 * Lock order: one page lock at a time, then swapset (dev_lock, rmap_lock,
 * seal_lock) as every other path that drops a slot.  Nothing is held
 * across the wait for a read.
 */
#include <errno.h>

#include "internal.h"
#include "ztier.h"

#define DISCARD_WAIT_MS 100     /* one wait for a read's progress */
#define DISCARD_STALL_MS 10000  /* a read that long: give up on the page */

enum dc_result { DC_DONE, DC_BUSY, DC_WAIT };

/* Page lock held. */
static enum dc_result discard_locked(struct swapper *s, uint64_t idx)
{
	uint64_t w = atomic_load(&s->pages[idx]);

	page_lock_assert_held(s, idx);
	switch (pg_state(w)) {
	case PS_NONE:
	case PS_ZERO:
		return DC_DONE;
	case PS_READING:
		return DC_WAIT;
	case PS_RESIDENT:
		if (w & PG_PINNED)
			return DC_BUSY;
		if (page_drop(s, idx, 1) < 0)
			return DC_BUSY;         /* still there: left alone */
		page_resident_dec(s, 1);
		atomic_fetch_add(&s->c.discard_resident, 1);
		break;
	case PS_STAGED:
		atomic_fetch_sub(&s->c.staged, 1);
		atomic_fetch_add(&s->c.discard_swapped, 1);
		break;
	case PS_SWAPPED:
		atomic_fetch_add(&s->c.discard_swapped, 1);
		break;
	case PS_ZPOOL:
		ztier_drop(s, idx, w);
		atomic_fetch_add(&s->c.discard_swapped, 1);
		break;
	}
	if (pg_holds_slot(w))
		swapset_put(s, idx, pg_slot(w));
	policy_forget(s, idx);
	atomic_store(&s->pages[idx], pg_make(PS_ZERO, 0, 0, 0));
	return DC_DONE;
}

/* Discard one page; waits out a read in flight.  0, -EBUSY or -ETIMEDOUT. */
static int discard_one(struct swapper *s, uint64_t idx)
{
	uint64_t waited = 0, gen;
	enum dc_result r;

	for (;;) {
		gen = core_progress_gen(s);
		page_lock(s, idx);
		r = discard_locked(s, idx);
		page_unlock(s, idx);
		if (r == DC_DONE)
			return 0;
		if (r == DC_BUSY)
			return -EBUSY;
		/* A read in flight: look again after the next progress event
		 * or DISCARD_WAIT_MS (a fault read's end does not move the
		 * generation: that would cost every swap-in a broadcast for
		 * this rare case). */
		if (atomic_load(&s->fatal_sent) || atomic_load(&s->released))
			return -EIO;
		if (waited >= DISCARD_STALL_MS)
			return -ETIMEDOUT;
		core_progress_wait(s, gen, DISCARD_WAIT_MS);
		waited += DISCARD_WAIT_MS;
	}
}

/*
 * The units wholly inside [gpa, gpa+len) (4 KiB aligned): 1 with
 * [*first, *last], 0 when there is none, -EINVAL, -EFAULT.  With huge units
 * a range that covers only part of a unit leaves that unit alone: a
 * hugetlbfs page cannot be split, so it keeps all its data (the guest's
 * discarded part included) until the rest is discarded or overwritten too.
 */
static int whole_units(struct swapper *s, uint64_t gpa, uint64_t len,
		       uint64_t *first, uint64_t *last)
{
	uint64_t a, b;

	if (!len || gpa % PAGE_SIZE_4K || len % PAGE_SIZE_4K)
		return -EINVAL;
	if (page_range_of_gpa(s, gpa, len, first, last) < 0)
		return -EFAULT;
	a = (gpa + s->psz - 1) & ~(s->psz - 1);
	b = (gpa + len) & ~(s->psz - 1);
	if (a >= b)
		return 0;
	return page_range_of_gpa(s, a, b - a, first, last) < 0 ? -EFAULT : 1;
}

/*
 * The false-reads preventer for CPU writes: the guest says it is about to
 * overwrite [gpa, gpa+len) whole (HV_HC_OVERWRITE).  A page whose only copy
 * is out of memory (SWAPPED, STAGED, ZPOOL) becomes ZERO as a discard makes
 * it, so the write's fault is a zero fill instead of a swap read of data
 * the guest is about to destroy.  Everything else is left as it is: a
 * resident page costs nothing to overwrite, a read in flight is the
 * guest's own (it asked for the page), a pinned page is a device's.
 */
int64_t swapper_overwrite(struct swapper *s, uint64_t gpa, uint64_t len)
{
	uint64_t first, last, idx, w;
	int64_t done = 0;
	int r;

	r = whole_units(s, gpa, len, &first, &last);
	if (r <= 0)
		return r;
	for (idx = first; idx <= last; idx++) {
		page_lock(s, idx);
		w = atomic_load(&s->pages[idx]);
		if (pg_state(w) == PS_SWAPPED || pg_state(w) == PS_STAGED ||
		    pg_state(w) == PS_ZPOOL)
			done += discard_locked(s, idx) == DC_DONE;
		page_unlock(s, idx);
	}
	atomic_fetch_add(&s->c.overwrite_hints, 1);
	atomic_fetch_add(&s->c.overwrite_skipped, (uint64_t)done);
	return done;
}

int64_t swapper_discard(struct swapper *s, uint64_t gpa, uint64_t len)
{
	uint64_t first, last, idx;
	int64_t done = 0;
	int r;

	r = whole_units(s, gpa, len, &first, &last);
	if (r <= 0)
		return r;
	for (idx = first; idx <= last; idx++) {
		r = discard_one(s, idx);
		if (r == -EIO)
			return r;
		if (r < 0) {
			atomic_fetch_add(&s->c.discard_busy, 1);
			continue;
		}
		done++;
	}
	atomic_fetch_add(&s->c.discarded, (uint64_t)done);
	return done;
}
