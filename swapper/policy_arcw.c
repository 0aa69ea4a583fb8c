/*
 * policy_arcw.c - "arcw": ARC (Megiddo and Modha, FAST 2003) in the form
 * the policy lab measured as the best fault-only candidate (issue 12,
 * docs/benchmarks.md "Eviction-policy lab"; tests/bench/lab_adapt.c is the
 * reference model): CAR's two clocks (Bansal and Modha, FAST 2004) as two
 * hands over page indices, ARC's ghost lists as eviction stamps.
 * "arcw-dirty" adds KVM's dirty log as clock-dirty does.
 *
 * Lists.  T1 (seen once) and T2 (seen again) are the resident pages; a
 * page's list is a bit of its entry in meta[] below.  Hand k sweeps page
 * indices and stops at the resident pages of Tk: a T1 page with a hit is
 * promoted to T2 (CAR: a hit in T1), a T2 page with a hit goes round again,
 * a page without one is proposed for eviction.  The hand that moves is
 * T1's while |T1| >= max(1, p), else T2's (CAR's replace()).  A hit is
 * what the swapper sees of an access to a resident page: a write-protect
 * fault (the hit hook) or, with arcw-dirty, a write in KVM's dirty log.
 * The fault that brings a page in is not a hit (it enters its list
 * unreferenced, as in CAR and the lab), so arcw keeps its own HIT bit and
 * leaves the page word's PG_REF (set by every fault: CLOCK's second
 * chance) alone.
 *
 * Ghosts.  B1/B2 are "the last |B1| (|B2|) pages evicted from T1 (T2)":
 * at eviction a page's entry gets which list it left and a stamp of that
 * list's eviction counter ev[k], so a refault is a B1 hit when it is among
 * the last |B1| = min(c - |T1|, ev[0]) pages that left T1, and a B2 hit
 * when among the last |B2| = min(2c - |T1| - |T2| - |B1|, ev[1]) that left
 * T2 (ARC keeps |T1| + |B1| <= c and the four lists <= 2c; c = the
 * resident limit).  A
 * hit adapts p as ARC does (B1: p += max(1, |B2|/|B1|), B2: p -= max(1,
 * |B1|/|B2|)) and brings the page into T2; any other fault into T1.
 *
 * Without the dirty log (arcw), B1 is the last c pages that left T1, not
 * c - |T1|.  A hit on a resident page is then only a write-protect fault,
 * which hvswap rarely takes (clean installs stop once half the swap space
 * is used, swapin.c), so T2 stays small, T1 fills the cache and ARC's
 * |B1| = c - |T1| shrinks to the watermark gap: a new hot page (a moving
 * hot set, a hot set beside a scan) is evicted from T1 and refaults
 * unnoticed.  A refault within c evictions from T1 - the kernel's
 * workingset rule with the cache size as the distance - promotes it and
 * grows p.  The policy lab's "arcwr" (tests/bench/lab_adapt.c) measured
 * this at 256 MiB, 8 passes, 50 % resident, no clean installs: 1.9 / 2.0 /
 * 3.6 % fewer reads than arcw on zipf / hot-cold with a moving hot set /
 * scan+hot, and 0.4-4 % fewer than clock; with the dirty log it was no
 * better than ARC's rule (1.6 % worse on hot-cold), so arcw-dirty keeps
 * ARC's.
 *
 * meta[idx], 16 bits per guest page, allocated only by this policy (+2
 * bytes per page; the page word has no room: a SWAPPED word holds the
 * crc32c seal where the flags and buf field were, page.h):
 *   bit 15  GHOST  evicted by this policy: bits 0-13 are a stamp
 *   bit 14  LIST2  resident: in T2 (else T1); ghost: left T2 (else T1)
 *   bit 13  HIT    resident form: hit since the hand last passed
 *   0-13    stamp  ghost form: (ev[k] >> order) mod 2^14 at eviction
 * 0 is "T1, no history": never-touched pages, pages the guest discarded.
 * The stamp counts in units of 2^order evictions, order the smallest with
 * 4 x npages / 2^order < 2^14: the page count, not the limit, because the
 * limit changes at run time (set-limit, hvswap host); ghost distances are
 * below 2c <= 2 x npages, so a stamp is unambiguous for 4 x npages
 * evictions (older ones alias, as in the lab's model).
 *
 * When stamps are written and read.  Written at eviction (the evicted
 * hook, when the page leaves RESIDENT: dropped clean, moved to staging or
 * found all-zero), so a STAGED page has its stamp from the start and keeps
 * it through its write (STAGED -> SWAPPED does not touch meta[]; a refault
 * from staging is a ghost hit at distance ~0).  Read by the fault hook
 * under the page lock before the fault changes the page's state (before a
 * swap-in claims it as READING), which turns the entry into its resident
 * form: a queued fault served again finds no ghost and changes nothing.
 * Pages that come in without a fault of their own (readahead, a failed
 * write's page put back) keep their ghost entry while resident and count
 * as T1; the first access seen (wp fault, dirty log) is their first use:
 * it makes them T1 pages, unreferenced.
 *
 * The dirty log (arcw-dirty) cannot tell the write that faulted a page in
 * from a later one, so a page written by its faulting access is hit at
 * the next harvest.  The policy lab measured ignoring such writes (its
 * dlog_fresh=0) as better for arcw; in hvswap it read 4-26 % more pages
 * (128 MiB, 8 passes, 50 %: zipf, hot-cold, scan+hot), so every write the
 * log shows is a hit (docs/benchmarks.md).
 *
 * Concurrency.  meta[idx] is protected by idx's page lock for the fault,
 * hit, evicted and forget hooks; the writers without it are the reclaim
 * thread's (select's promotions and used-up hits, the dirty log's hits),
 * each a compare-and-swap from the value it read: it loses to any locked
 * change in between, and a hit it marks on a page that has just left is
 * harmless (the next fault clears it).  n2 counts the entries in
 * the resident T2 form and changes exactly with them (every change is an
 * exchange or a successful CAS), so it never drifts; |T1| = resident - n2.
 * ev[] is written by the reclaim thread only (evictions happen there), p by
 * any fault (a CAS loop); both are atomics read without a lock.  hand[],
 * swept and bitmap are the reclaim thread's.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define AW_GHOST POLICY_ARCW_GHOST
#define AW_LIST2 POLICY_ARCW_LIST2
#define AW_HIT 0x2000u
#define AW_STAMP_BITS 14
#define AW_STAMP_MASK ((1u << AW_STAMP_BITS) - 1)
#define AW_P_ONE 256u           /* p is kept in 1/256 pages */

struct arcw_state {
	_Atomic uint16_t *meta;         /* per page, above */
	uint64_t npages;                /* meta's length; set before start */
	unsigned int order;             /* a stamp counts 2^order evictions */
	bool dirty;                     /* arcw-dirty */
	bool wide;                      /* arcw: B1 is the last c evicted */
	uint64_t hand[2];               /* reclaim thread */
	uint64_t swept;                 /* pages looked at since the harvest */
	uint64_t *bitmap;               /* dirty-log buffer (reclaim thread) */
	_Atomic uint64_t ev[2];         /* evictions from T1, T2 */
	_Atomic uint64_t n2;            /* entries in the resident T2 form */
	_Atomic uint64_t p;             /* target |T1|, 1/256 pages */
	_Atomic uint64_t hits[2];       /* refaults found in B1, B2 */
	_Atomic uint64_t promoted;      /* T1 -> T2 by the hand */
};

static bool is_t2(uint16_t e)
{
	return (e & (AW_GHOST | AW_LIST2)) == AW_LIST2;
}

static int arcw_init_with(void **state, bool dirty)
{
	struct arcw_state *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->dirty = dirty;
	a->wide = !dirty;
	*state = a;
	return 0;
}

static int arcw_init(struct swapper *s, void **state)
{
	(void)s;
	return arcw_init_with(state, false);
}

static int arcw_dirty_init(struct swapper *s, void **state)
{
	if (!s->cfg.dirty_log)
		return -EINVAL;
	return arcw_init_with(state, true);
}

static void arcw_fini(void *state)
{
	struct arcw_state *a = state;

	if (!a)
		return;
	free((void *)a->meta);
	free(a->bitmap);
	free(a);
}

static int arcw_grow(struct swapper *s, void *state, uint64_t npages)
{
	struct arcw_state *a = state;
	_Atomic uint16_t *m;

	(void)s;
	m = realloc((void *)a->meta, npages * sizeof(*m));
	if (!m)
		return -ENOMEM;
	memset((void *)(m + a->npages), 0, (npages - a->npages) * sizeof(*m));
	a->meta = m;
	a->npages = npages;
	a->order = 0;
	while ((4 * npages >> a->order) >= (1u << AW_STAMP_BITS))
		a->order++;
	return 0;
}

/* c: the resident limit in pages (the whole guest when there is none). */
static uint64_t cache_pages(struct swapper *s, const struct arcw_state *a)
{
	uint64_t c = atomic_load(&s->limit_pages);

	return c ? c : a->npages;
}

/* ARC's ghost list sizes, from its invariants (the lab's aw_ghosts). */
static void ghost_sizes(struct swapper *s, struct arcw_state *a, uint64_t *b1,
			uint64_t *b2)
{
	uint64_t c = cache_pages(s, a), res = atomic_load(&s->c.resident);
	uint64_t t2 = atomic_load(&a->n2), t1, e0, e1;

	if (t2 > res)
		t2 = res;
	t1 = res - t2;
	e0 = atomic_load(&a->ev[0]);
	e1 = atomic_load(&a->ev[1]);
	*b1 = c > t1 ? c - t1 : 0;
	if (*b1 > e0)
		*b1 = e0;
	*b2 = 2 * c > t1 + t2 + *b1 ? 2 * c - t1 - t2 - *b1 : 0;
	if (*b2 > e1)
		*b2 = e1;
}

/* Evictions from list k since the stamp of entry e. */
static uint64_t since(const struct arcw_state *a, uint16_t e, int k)
{
	uint64_t now = atomic_load(&a->ev[k]) >> a->order;

	return ((now - (e & AW_STAMP_MASK)) & AW_STAMP_MASK) << a->order;
}

/* p += d (clamped to [0, c]), in 1/256 pages. */
static void adapt_p(struct arcw_state *a, int64_t d, uint64_t c)
{
	uint64_t p = atomic_load(&a->p), np;

	do {
		if (d < 0)
			np = p > (uint64_t)-d ? p - (uint64_t)-d : 0;
		else
			np = p + (uint64_t)d < c * AW_P_ONE ? p + (uint64_t)d : c * AW_P_ONE;
	} while (!atomic_compare_exchange_weak(&a->p, &p, np));
}

static void arcw_fault(struct swapper *s, void *state, uint64_t idx)
{
	struct arcw_state *a = state;
	uint16_t e = atomic_load(&a->meta[idx]), ne = 0;
	uint64_t b1, b2, c = cache_pages(s, a);
	int k;

	page_lock_assert_held(s, idx);
	if (!(e & AW_GHOST)) {  /* no history, or decided by an earlier try */
		ne = (uint16_t)(e & AW_LIST2);  /* enters unreferenced */
		if (ne != e)
			atomic_compare_exchange_strong(&a->meta[idx], &e, ne);
		return;
	}
	k = !!(e & AW_LIST2);
	ghost_sizes(s, a, &b1, &b2);
	if (a->wide)            /* arcw: see "Without the dirty log" above */
		b1 = c < atomic_load(&a->ev[0]) ? c : atomic_load(&a->ev[0]);
	if (since(a, e, k) <= (k ? b2 : b1) && (k ? b2 : b1)) {
		/* ARC's adaptation: grow T1's target on a B1 hit, shrink it
		 * on a B2 hit, by the other ghost list's size relative. */
		uint64_t d = k ? (b2 && b1 > b2 ? AW_P_ONE * b1 / b2 : AW_P_ONE)
			       : (b1 && b2 > b1 ? AW_P_ONE * b2 / b1 : AW_P_ONE);

		adapt_p(a, k ? -(int64_t)d : (int64_t)d, c);
		atomic_fetch_add(&a->hits[k], 1);
		ne |= AW_LIST2;
	}
	if (atomic_compare_exchange_strong(&a->meta[idx], &e, ne) && (ne & AW_LIST2))
		atomic_fetch_add(&a->n2, 1);
}

/* A hit on resident page idx: HIT in its entry.  A page that came in
 * without a fault of its own (readahead, a failed write's page put back)
 * still has its ghost entry: the first access seen is its first use, as a
 * fault would have been - it becomes T1, unreferenced. */
static void mark_hit(struct arcw_state *a, uint64_t idx)
{
	uint16_t e = atomic_load(&a->meta[idx]), ne;

	do {
		ne = (e & AW_GHOST) ? 0 : (uint16_t)(e | AW_HIT);
	} while (ne != e && !atomic_compare_exchange_weak(&a->meta[idx], &e, ne));
}

static void arcw_hit(struct swapper *s, void *state, uint64_t idx)
{
	page_lock_assert_held(s, idx);
	mark_hit(state, idx);
}

/* The dirty log's writes (reclaim thread, no page lock): hits on the pages
 * that are resident (see above on the faulting write). */
static void dirty_hit(struct swapper *s, uint64_t idx)
{
	if (pg_state(atomic_load(&s->pages[idx])) == PS_RESIDENT)
		mark_hit(s->pol_state, idx);
}

static void arcw_evicted(struct swapper *s, void *state, uint64_t idx)
{
	struct arcw_state *a = state;
	uint16_t e = atomic_load(&a->meta[idx]);
	int k = is_t2(e);
	uint64_t n = atomic_fetch_add(&a->ev[k], 1);

	page_lock_assert_held(s, idx);
	/* The page lock holds off the other hooks; select is this thread. */
	atomic_store(&a->meta[idx], (uint16_t)(AW_GHOST | (k ? AW_LIST2 : 0) |
					       ((n >> a->order) & AW_STAMP_MASK)));
	if (k)
		atomic_fetch_sub(&a->n2, 1);
}

static void arcw_forget(struct swapper *s, void *state, uint64_t idx)
{
	struct arcw_state *a = state;

	page_lock_assert_held(s, idx);
	if (is_t2(atomic_exchange(&a->meta[idx], 0)))
		atomic_fetch_sub(&a->n2, 1);
}

/* The resident page idx (entry e, with HIT) is in list k: the hit is used
 * up; a T1 page moves to T2.  True when it moved. */
static bool second_chance(struct arcw_state *a, uint64_t idx, uint16_t e, int k)
{
	uint16_t ne = k ? (uint16_t)(e & ~AW_HIT) : AW_LIST2;

	if (!atomic_compare_exchange_strong(&a->meta[idx], &e, ne) || k)
		return false;
	atomic_fetch_add(&a->n2, 1);
	atomic_fetch_add(&a->promoted, 1);
	return true;
}

/*
 * arcw-dirty: the dirty log is harvested every time the hands have looked
 * at limit / 8 pages of their lists - clock-dirty's rate (an eighth of a
 * sweep over all indices, at the resident fraction).  Counting every index
 * the hands pass instead harvested 8-19 times as often (a hand skips the
 * other list's pages), and each harvest costs the guest a KVM
 * write-protect fault per page it writes next.
 */
static void harvest(struct swapper *s, struct arcw_state *a)
{
	a->swept = 0;
	if (!policy_clock_harvest(s, &a->bitmap, dirty_hit))
		a->dirty = false;
}

/*
 * CAR's replace(), a batch at a time: counts n1/n2 are taken once and
 * moved as this batch's candidates and promotions would move them.  A
 * hand that passed every index without finding a page of its list (all
 * pinned, or the list is empty while n2 says otherwise for a moment)
 * yields to the other; both: nothing to propose.
 */
static unsigned int arcw_select(struct swapper *s, void *state, uint64_t *out,
				unsigned int n)
{
	struct arcw_state *a = state;
	uint64_t res = atomic_load(&s->c.resident), n2 = atomic_load(&a->n2), n1;
	uint64_t p = atomic_load(&a->p) / AW_P_ONE, miss[2] = { 0, 0 }, scanned;
	uint64_t limit = 4 * s->npages + 2;
	unsigned int got = 0;

	if (n2 > res)
		n2 = res;
	n1 = res - n2;
	if (p < 1)
		p = 1;
	for (scanned = 0; scanned < limit && got < n; scanned++) {
		int k = !(n1 >= p || !n2);
		uint64_t idx, w;
		uint16_t e;

		if (miss[k] >= s->npages)
			k = !k;
		if (miss[k] >= s->npages)
			break;
		idx = a->hand[k];
		a->hand[k] = (idx + 1) % s->npages;
		w = atomic_load(&s->pages[idx]);
		e = atomic_load(&a->meta[idx]);
		if (pg_state(w) != PS_RESIDENT || (w & PG_PINNED) || is_t2(e) != k) {
			miss[k]++;
			continue;
		}
		miss[k] = 0;
		if (a->dirty && ++a->swept >= cache_pages(s, a) / 8) {
			harvest(s, a);
			e = atomic_load(&a->meta[idx]);
		}
		if ((e & (AW_GHOST | AW_HIT)) == AW_HIT) {
			if (second_chance(a, idx, e, k)) {
				n1 -= n1 > 0;
				n2++;
			}
			continue;
		}
		out[got++] = idx;
		if (k)
			n2 -= n2 > 0;
		else
			n1 -= n1 > 0;
	}
	return got;
}

static size_t arcw_bytes(void *state)
{
	struct arcw_state *a = state;

	return a->npages * sizeof(*a->meta);
}

static void arcw_stats(void *state, struct json_object *o)
{
	struct arcw_state *a = state;
	struct json_object *d = json_object_new_object();

	json_object_object_add(d, "b1_hits", json_object_new_uint64(atomic_load(&a->hits[0])));
	json_object_object_add(d, "b2_hits", json_object_new_uint64(atomic_load(&a->hits[1])));
	json_object_object_add(d, "promoted", json_object_new_uint64(atomic_load(&a->promoted)));
	json_object_object_add(d, "t1_evictions", json_object_new_uint64(atomic_load(&a->ev[0])));
	json_object_object_add(d, "t2_evictions", json_object_new_uint64(atomic_load(&a->ev[1])));
	json_object_object_add(d, "t2_pages", json_object_new_uint64(atomic_load(&a->n2)));
	json_object_object_add(d, "p_pages", json_object_new_uint64(atomic_load(&a->p) / AW_P_ONE));
	json_object_object_add(o, "arcw", d);
}

uint16_t policy_arcw_entry(struct swapper *s, uint64_t idx)
{
	struct arcw_state *a = s->pol_state;

	if (s->pol->fault != arcw_fault || idx >= a->npages)
		return 0;
	return atomic_load(&a->meta[idx]);
}

const struct policy_ops policy_arcw_ops = {
	.name = "arcw",
	.init = arcw_init,
	.fini = arcw_fini,
	.select = arcw_select,
	.grow = arcw_grow,
	.fault = arcw_fault,
	.hit = arcw_hit,
	.evicted = arcw_evicted,
	.forget = arcw_forget,
	.bytes = arcw_bytes,
	.stats = arcw_stats,
};

const struct policy_ops policy_arcw_dirty_ops = {
	.name = "arcw-dirty",
	.init = arcw_dirty_init,
	.fini = arcw_fini,
	.select = arcw_select,
	.grow = arcw_grow,
	.fault = arcw_fault,
	.hit = arcw_hit,
	.evicted = arcw_evicted,
	.forget = arcw_forget,
	.bytes = arcw_bytes,
	.stats = arcw_stats,
};
