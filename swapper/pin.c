/*
 * pin.c - pins for device emulation (the swapper's get_user_pages/FOLL_PIN).
 *
 * A pinned page is resident and stays so: reclaim and migration skip pages
 * with PG_PINNED.  Pin counts live in a small open-addressing table keyed by
 * page index (pins are few and short; 8 bytes per guest page are not spent
 * on them); PG_PINNED mirrors "count > 0" in the page word so the hot paths
 * test one bit.  Long-term pins are counted separately and capped.
 *
 * Pinning a page that is not resident faults it in from the calling thread
 * (it touches the page through the VMM's mapping, which goes through the
 * userfaultfd like a guest access: swap cache, readahead, errors, all the
 * same), then takes the pin under the page lock and re-checks.  A write pin
 * makes the page writable and dirty first (an atomic add of 0: a write that
 * changes nothing), so the device's DMA writes never race a clean copy.
 *
 * Locking: page lock -> pin_lock (leaf).  PG_PINNED changes only under both.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hvswap/log.h"
#include "internal.h"

#define PIN_TABLE_MIN 1024u

struct pin_ent {
	uint64_t idx_plus1;     /* 0 = empty, UINT64_MAX = tombstone */
	uint32_t count;
	uint32_t longterm;
};

static struct pin_ent *pin_slot(struct swapper *s, uint64_t idx, bool insert)
{
	uint64_t h = (idx * 0x9e3779b97f4a7c15ull) & (s->pin_cap - 1), i;
	struct pin_ent *tomb = NULL;

	for (i = 0; i < s->pin_cap; i++, h = (h + 1) & (s->pin_cap - 1)) {
		struct pin_ent *e = &s->pins[h];

		if (e->idx_plus1 == idx + 1)
			return e;
		if (e->idx_plus1 == UINT64_MAX && !tomb)
			tomb = e;
		if (e->idx_plus1 == 0) {
			if (!insert)
				return NULL;
			e = tomb ? tomb : e;
			memset(e, 0, sizeof(*e));
			e->idx_plus1 = idx + 1;
			s->pin_used++;
			return e;
		}
	}
	if (insert && tomb) {
		memset(tomb, 0, sizeof(*tomb));
		tomb->idx_plus1 = idx + 1;
		s->pin_used++;
		return tomb;
	}
	return NULL;
}

static int pin_grow(struct swapper *s)
{
	struct pin_ent *old = s->pins;
	uint64_t ocap = s->pin_cap, i;

	s->pin_cap = ocap ? 2 * ocap : PIN_TABLE_MIN;
	s->pins = core_zalloc(s, s->pin_cap * sizeof(*s->pins));
	if (!s->pins) {
		s->pins = old;
		s->pin_cap = ocap;
		return -ENOMEM;
	}
	s->pin_used = 0;
	for (i = 0; i < ocap; i++) {
		if (old[i].idx_plus1 && old[i].idx_plus1 != UINT64_MAX)
			*pin_slot(s, old[i].idx_plus1 - 1, true) = old[i];
	}
	free(old);
	return 0;
}

/* Page lock held, page RESIDENT. */
static int pin_get(struct swapper *s, uint64_t idx, bool longterm)
{
	struct pin_ent *e;
	int r = 0;

	page_lock_assert_held(s, idx);
	lock_mutex(&s->pin_lock, LK_LEAF);
	if (longterm && s->pin_longterm_pages >= s->pin_longterm_max) {
		r = -ENOSPC;
		goto out;
	}
	if (2 * (s->pin_used + 1) > s->pin_cap && pin_grow(s) < 0) {
		r = -ENOMEM;
		goto out;
	}
	e = pin_slot(s, idx, true);
	if (!e) {
		r = -ENOMEM;
		goto out;
	}
	if (e->count++ == 0) {
		atomic_fetch_or(&s->pages[idx], PG_PINNED);
		s->pin_pages++;
	}
	if (longterm && e->longterm++ == 0)
		s->pin_longterm_pages++;
out:
	unlock_mutex(&s->pin_lock, LK_LEAF);
	return r;
}

/* Page lock held. */
static void pin_put(struct swapper *s, uint64_t idx, bool longterm)
{
	struct pin_ent *e;

	page_lock_assert_held(s, idx);
	lock_mutex(&s->pin_lock, LK_LEAF);
	e = s->pin_cap ? pin_slot(s, idx, false) : NULL;
	if (!e || !e->count) {
		unlock_mutex(&s->pin_lock, LK_LEAF);
		log_err("unpin of gfn 0x%llx that is not pinned",
			(unsigned long long)page_gfn(s, idx));
		return;
	}
	if (longterm && e->longterm && --e->longterm == 0)
		s->pin_longterm_pages--;
	if (--e->count == 0) {
		atomic_fetch_and(&s->pages[idx], ~PG_PINNED);
		s->pin_pages--;
		e->idx_plus1 = UINT64_MAX;
		s->pin_used--;
	}
	unlock_mutex(&s->pin_lock, LK_LEAF);
}

/* Fault page idx in (and make it dirty for a write pin) from this thread.
 * The write is an atomic add of 0: it changes no byte (a guest write racing
 * it is not lost), and on a write-protected page it traps to the fault
 * thread, which needs the page lock - so it cannot land while a lock holder
 * reads the page (evict_clean's seal).  That ordering is the kernel's
 * (userfaultfd), which ThreadSanitizer cannot see, so the add is written
 * as the one x86-64 instruction, which TSan does not instrument. */
static void touch(struct swapper *s, uint64_t idx, bool write)
{
	volatile uint64_t *p = page_host(s, idx);

	if (write)
		__asm__ __volatile__("lock addq $0, %0" : "+m"(*p) : : "memory");
	else
		(void)*p;
}

/* Page idx is wholly inside a fill pin's range (the device overwrites all
 * of it): if it is only on swap, its copy there is dropped instead of read
 * back, and the page becomes ZERO - the pin's fault then maps a fresh page.
 * A page in any other state is pinned as usual (staged: copied back from
 * memory, no read).  Page lock taken here. */
static void skip_read(struct swapper *s, uint64_t idx)
{
	uint64_t w;

	page_lock(s, idx);
	w = atomic_load(&s->pages[idx]);
	if (pg_state(w) == PS_SWAPPED) {
		swapset_put(s, idx, pg_slot(w));
		atomic_store(&s->pages[idx], pg_make(PS_ZERO, 0, 0, 0));
		atomic_fetch_add(&s->c.fill_reads_skipped, 1);
	}
	page_unlock(s, idx);
}

static int pin_one(struct swapper *s, uint64_t idx, bool write, bool longterm)
{
	int tries, r;

	for (tries = 0; tries < 1000; tries++) {
		uint64_t w;

		if (atomic_load(&s->fatal_sent) || atomic_load(&s->released))
			return -EIO;
		if (atomic_load(&s->cancelled))
			return -ECANCELED;
		page_lock(s, idx);
		w = atomic_load(&s->pages[idx]);
		/* a device write that has to read the page first: the swap
		 * read is for bytes the device (partly) overwrites */
		if (write && tries == 0 &&
		    (pg_state(w) == PS_SWAPPED || pg_state(w) == PS_READING))
			atomic_fetch_add(&s->c.write_pin_reads, 1);
		if (pg_state(w) == PS_RESIDENT && (!write || !(w & PG_WP))) {
			if (write && (w & PG_SLOT)) {
				/* Writable but still claiming a slot (no WP
				 * tracking): the device's write makes it dirty. */
				swapset_put(s, idx, pg_slot(w));
				atomic_fetch_and(&s->pages[idx], ~PG_SLOT);
			}
			r = pin_get(s, idx, longterm);
			page_unlock(s, idx);
			return r;
		}
		page_unlock(s, idx);
		touch(s, idx, write);
	}
	return -EAGAIN;
}

static int pin(struct swapper *s, uint64_t gpa, uint64_t len, bool write,
	       bool longterm, bool fill, void **host)
{
	uint64_t first, last, idx;
	int r;

	if (!len)
		return -EINVAL;
	if (page_range_of_gpa(s, gpa, len, &first, &last) < 0)
		return -EFAULT;
	/* first the pages wholly inside [gpa, gpa+len), before a fault on a
	 * neighbour can read them ahead */
	for (idx = first; fill && idx <= last; idx++) {
		if ((idx > first || gpa % s->psz == 0) &&
		    (idx < last || (gpa + len) % s->psz == 0))
			skip_read(s, idx);
	}
	for (idx = first; idx <= last; idx++) {
		r = pin_one(s, idx, write, longterm);
		if (r < 0) {
			while (idx-- > first) {
				page_lock(s, idx);
				pin_put(s, idx, longterm);
				page_unlock(s, idx);
			}
			return r;
		}
	}
	atomic_fetch_add(&s->c.pins, 1);
	if (host)
		*host = (uint8_t *)page_host(s, first) + gpa % s->psz;
	return 0;
}

int swapper_pin(struct swapper *s, uint64_t gpa, uint64_t len, bool write,
		bool longterm, void **host)
{
	return pin(s, gpa, len, write, longterm, false, host);
}

int swapper_pin_fill(struct swapper *s, uint64_t gpa, uint64_t len, void **host)
{
	return pin(s, gpa, len, true, false, true, host);
}

void swapper_unpin(struct swapper *s, uint64_t gpa, uint64_t len, bool longterm)
{
	uint64_t first, last, idx;

	if (page_range_of_gpa(s, gpa, len, &first, &last) < 0)
		return;
	for (idx = first; idx <= last; idx++) {
		page_lock(s, idx);
		pin_put(s, idx, longterm);
		page_unlock(s, idx);
	}
}
