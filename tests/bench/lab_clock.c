/*
 * lab_clock.c - the policy lab's CLOCK family, fault-only (lab.h):
 *
 *   clock   hvswap today (swapper/policy_clock.c): one hand sweeps page
 *           indices; REF is set by a fault, a write-protect fault (and
 *           the dirty log when the lab harvests it); a mapped page with
 *           REF loses it, one without is evicted.
 *   stage   "staging as inactive list": the same CLOCK picks victims, but
 *           they are first unmapped into a FIFO held list (held_pct% of
 *           the limit, in memory and counted against it: in hvswap, pages
 *           moved to staging and kept there after their write); a touch
 *           brings a held page back with a cheap fault and 2 hand passes
 *           of protection; the held list's oldest page is what leaves.
 *   shadow  the kernel's workingset detection (mm/workingset.c,
 *           mm/vmscan.c) with fault-only information: inactive and
 *           active lists; a fault puts a page on the inactive list with
 *           its instantiating reference; at the inactive tail a reference
 *           buys one more trip, a second one (wp / dirty log) activates;
 *           the active list is aged into the inactive one while inactive
 *           < active (anon inactive_ratio 1), referenced or not, as the
 *           kernel does for anon pages; an evicted page leaves a shadow
 *           (the eviction counter, which activations also advance); a
 *           refault whose distance (counter now - shadow) is at most the
 *           active list's size is activated at once.
 */
#include <errno.h>
#include <stdlib.h>

#include "lab.h"

/* Bytes per guest page of a ring of 4-byte page indices with `entries`
 * slots: a FIFO list without per-page links. */
static double ring_bytes(const struct lab *l, uint64_t entries)
{
	return 4.0 * (double)entries / (double)l->npages;
}

/* ---- clock (and the CLOCK half of stage) ------------------------------- */

struct clk {
	uint64_t hand;
	uint8_t *ref;           /* passes of protection left */
	uint64_t held_max;
	struct lab_links lk;
	struct lab_list held;
};

static int clk_init(struct lab *l, void **ps)
{
	struct clk *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->ref = calloc(l->npages, 1);
	if (!s->ref || lab_links_init(&s->lk, l->npages)) {
		free(s->ref);
		free(s);
		return -ENOMEM;
	}
	lab_list_init(&s->held, &s->lk);
	s->held_max = l->cfg.limit * l->cfg.held_pct / 100;
	*ps = s;
	return 0;
}

static void clk_fini(void *ps)
{
	struct clk *s = ps;

	lab_links_fini(&s->lk);
	free(s->ref);
	free(s);
}

static void clk_fault(struct lab *l, void *ps, uint32_t p, enum lab_fault k)
{
	struct clk *s = ps;

	(void)l;
	if (k == LF_HELD)
		lab_list_del(&s->held, p);
	s->ref[p] = k == LF_HELD ? 2 : 1;
}

static void clk_touch(struct lab *l, void *ps, uint32_t p)
{
	struct clk *s = ps;

	(void)l;
	if (!s->ref[p])
		s->ref[p] = 1;
}

/* The next mapped page without protection left, as policy_clock.c's
 * select(); LAB_NIL if two sweeps found none. */
static uint32_t clk_pick(struct lab *l, struct clk *s)
{
	uint64_t scanned, lim = 3 * l->npages + 1;

	for (scanned = 0; scanned < lim; scanned++) {
		uint32_t idx = (uint32_t)s->hand;

		s->hand = (s->hand + 1) % l->npages;
		if (l->where[idx] != LW_MAPPED)
			continue;
		if (s->ref[idx]) {
			s->ref[idx]--;
			continue;
		}
		return idx;
	}
	return LAB_NIL;
}

static void clock_reclaim(struct lab *l, void *ps, uint32_t incoming)
{
	uint32_t v = clk_pick(l, ps);

	(void)incoming;
	if (v == LAB_NIL)
		l->err = -EDEADLK;
	else
		lab_evict(l, v);
}

static double clock_meta(const struct lab *l)
{
	(void)l;
	return 0.0;
}

const struct lab_policy lab_clock = {
	.name = "clock",
	.meta = "REF bit in the page word (as today): +0",
	.meta_bytes = clock_meta, .init = clk_init, .fini = clk_fini,
	.fault = clk_fault, .reclaim = clock_reclaim,
	.wp = clk_touch, .dirty = clk_touch,
};

static void stage_reclaim(struct lab *l, void *ps, uint32_t incoming)
{
	struct clk *s = ps;
	uint32_t v;

	(void)incoming;
	while (s->held.n < s->held_max) {
		v = clk_pick(l, s);
		if (v == LAB_NIL)
			break;
		lab_unmap(l, v);
		lab_list_push(&s->held, v);
	}
	v = lab_list_pop(&s->held);
	if (v == LAB_NIL)
		v = clk_pick(l, s);
	if (v == LAB_NIL)
		l->err = -EDEADLK;
	else
		lab_evict(l, v);
}

static double stage_meta(const struct lab *l)
{
	return ring_bytes(l, l->cfg.limit * l->cfg.held_pct / 100);
}

const struct lab_policy lab_stage = {
	.name = "stage",
	.meta = "2-bit REF count in spare bits of the resident page word; the "
		"held FIFO is staging's stage_owner[] (4 B per held page)",
	.meta_bytes = stage_meta, .init = clk_init, .fini = clk_fini,
	.fault = clk_fault, .reclaim = stage_reclaim,
	.wp = clk_touch, .dirty = clk_touch,
};

/* ---- shadow (workingset) ------------------------------------------------ */

enum { SH_NONE, SH_INACTIVE, SH_ACTIVE };
#define SH_REF  1u      /* referenced since the last look (pte young) */
#define SH_MARK 2u      /* PG_referenced: one more trip was given */
#define SH_BITS 19      /* shadow field: the page word's spare buf bits */

struct shadow {
	struct lab_links lk;
	struct lab_list act, inact;
	uint8_t *list, *fl;
	uint32_t *shadow;       /* eviction counter >> order, +1 (0 = none) */
	uint64_t age;           /* evictions + activations */
	unsigned order;         /* counter granularity (bucket_order) */
};

static int shadow_init(struct lab *l, void **ps)
{
	struct shadow *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->list = calloc(l->npages, 1);
	s->fl = calloc(l->npages, 1);
	s->shadow = calloc(l->npages, sizeof(*s->shadow));
	if (!s->list || !s->fl || !s->shadow || lab_links_init(&s->lk, l->npages)) {
		free(s->list);
		free(s->fl);
		free(s->shadow);
		free(s);
		return -ENOMEM;
	}
	lab_list_init(&s->act, &s->lk);
	lab_list_init(&s->inact, &s->lk);
	/* Distances up to 2 x the guest's pages must fit the field. */
	while ((2 * l->npages >> s->order) >= (1u << SH_BITS) - 1)
		s->order++;
	*ps = s;
	return 0;
}

static void shadow_fini(void *ps)
{
	struct shadow *s = ps;

	lab_links_fini(&s->lk);
	free(s->list);
	free(s->fl);
	free(s->shadow);
	free(s);
}

static void activate(struct shadow *s, uint32_t p)
{
	s->list[p] = SH_ACTIVE;
	lab_list_push(&s->act, p);
	s->age++;
}

static void shadow_fault(struct lab *l, void *ps, uint32_t p, enum lab_fault k)
{
	struct shadow *s = ps;
	uint64_t mask = (1u << SH_BITS) - 1, dist;

	(void)l;
	s->fl[p] = SH_REF;
	if (k != LF_FIRST && s->shadow[p]) {
		dist = ((s->age >> s->order) - (s->shadow[p] - 1)) & mask;
		s->shadow[p] = 0;
		if (dist << s->order <= s->act.n) {
			activate(s, p);
			return;
		}
	}
	s->shadow[p] = 0;
	s->list[p] = SH_INACTIVE;
	lab_list_push(&s->inact, p);
}

static void shadow_touch(struct lab *l, void *ps, uint32_t p)
{
	(void)l;
	((struct shadow *)ps)->fl[p] |= SH_REF;
}

static void shadow_reclaim(struct lab *l, void *ps, uint32_t incoming)
{
	struct shadow *s = ps;
	uint64_t guard = 2 * l->npages + 2;
	uint32_t p;

	(void)incoming;
	while (s->inact.n < s->act.n) {         /* age the active list */
		p = lab_list_pop(&s->act);
		s->fl[p] &= (uint8_t)~SH_REF;
		s->list[p] = SH_INACTIVE;
		lab_list_push(&s->inact, p);
	}
	while (guard--) {
		p = lab_list_pop(&s->inact);
		if (p == LAB_NIL)
			p = lab_list_pop(&s->act);
		if (p == LAB_NIL)
			break;
		if (s->fl[p] & SH_REF) {
			if (s->fl[p] & SH_MARK) {
				s->fl[p] = 0;
				activate(s, p);
			} else {
				s->fl[p] = SH_MARK;
				s->list[p] = SH_INACTIVE;
				lab_list_push(&s->inact, p);
			}
			continue;
		}
		s->list[p] = SH_NONE;
		s->fl[p] = 0;
		s->shadow[p] = (uint32_t)((s->age >> s->order) & ((1u << SH_BITS) - 1)) + 1;
		s->age++;
		lab_evict(l, p);
		return;
	}
	l->err = -EDEADLK;
}

static double shadow_meta(const struct lab *l)
{
	return ring_bytes(l, l->cfg.limit);
}

const struct lab_policy lab_shadow = {
	.name = "shadow",
	.meta = "ACTIVE+MARK bits in spare bits of the resident word, a 19-bit "
		"shadow in the evicted word's buf field; the two lists as rings "
		"of 4-byte page indices (4 B per resident page)",
	.meta_bytes = shadow_meta, .init = shadow_init, .fini = shadow_fini,
	.fault = shadow_fault, .reclaim = shadow_reclaim,
	.wp = shadow_touch, .dirty = shadow_touch,
};

/* ---- freq: CLOCK with a fault-frequency credit --------------------------- */

/*
 * GCLOCK (a counter per page instead of one bit) fed with the only
 * frequency signal hvswap has: how often a page faults back.  Each page
 * keeps a small fault frequency f that survives eviction (with the
 * eviction counter, in the evicted page word's spare buf bits) and decays
 * by half per `limit` evictions it spent out; a fault makes f = decayed f
 * + 1 and gives the page f passes of the hand before it can be evicted.
 * wp and dirty-log events count as a touch (f + 1, one more pass).  Under
 * independent references (zipf) a page's fault rate follows its access
 * rate, so the pages that keep coming back stay longest: toward the
 * static "keep the most probable pages" policy, which fault-time CLOCK
 * (every page gets one pass) cannot approach.
 */
#define FQ_MAX 7u
#define FQ_TS_BITS 16
#define FQ_DECAY 1       /* f halves per limit / FQ_DECAY evictions out */



struct freq {
	uint64_t hand, evictions;
	uint8_t *f, *credit;
	uint16_t *ts;           /* evictions >> order at eviction, +1 (0 = none) */
	unsigned order;
};

static int freq_init(struct lab *l, void **ps)
{
	struct freq *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->f = calloc(l->npages, 1);
	s->credit = calloc(l->npages, 1);
	s->ts = calloc(l->npages, sizeof(*s->ts));
	if (!s->f || !s->credit || !s->ts) {
		free(s->f);
		free(s->credit);
		free(s->ts);
		free(s);
		return -ENOMEM;
	}
	/* 3 x limit evictions must fit the timestamp field (older: f = 0). */
	while ((4 * l->cfg.limit >> s->order) >= (1u << FQ_TS_BITS) - 1)
		s->order++;
	*ps = s;
	return 0;
}

static void freq_fini(void *ps)
{
	struct freq *s = ps;

	free(s->f);
	free(s->credit);
	free(s->ts);
	free(s);
}

static void freq_fault(struct lab *l, void *ps, uint32_t p, enum lab_fault k)
{
	struct freq *s = ps;
	uint64_t mask = (1u << FQ_TS_BITS) - 1, out, turns;

	if (k == LF_FIRST || !s->ts[p]) {
		s->f[p] = 0;
	} else {
		out = (((s->evictions >> s->order) - (s->ts[p] - 1u)) & mask) << s->order;
		turns = out * FQ_DECAY / l->cfg.limit;
		s->f[p] = turns >= 3 ? 0 : (uint8_t)(s->f[p] >> turns);
	}
	s->ts[p] = 0;
	if (s->f[p] < FQ_MAX)
		s->f[p]++;
	s->credit[p] = s->f[p];
}

static void freq_touch(struct lab *l, void *ps, uint32_t p)
{
	struct freq *s = ps;

	(void)l;
	if (s->f[p] < FQ_MAX)
		s->f[p]++;
	if (s->credit[p] < s->f[p])
		s->credit[p]++;
}

static void freq_reclaim(struct lab *l, void *ps, uint32_t incoming)
{
	struct freq *s = ps;
	uint64_t scanned, lim = (FQ_MAX + 2) * l->npages + 1;

	(void)incoming;
	for (scanned = 0; scanned < lim; scanned++) {
		uint32_t idx = (uint32_t)s->hand;

		s->hand = (s->hand + 1) % l->npages;
		if (l->where[idx] != LW_MAPPED)
			continue;
		if (s->credit[idx]) {
			s->credit[idx]--;
			continue;
		}
		s->ts[idx] = (uint16_t)(((s->evictions >> s->order) &
					 ((1u << FQ_TS_BITS) - 1)) + 1);
		s->evictions++;
		lab_evict(l, idx);
		return;
	}
	l->err = -EDEADLK;
}

const struct lab_policy lab_freq = {
	.name = "freq",
	.meta = "resident: 3-bit frequency + 3-bit credit in the page word's "
		"spare buf bits; evicted: the frequency + a 16-bit eviction "
		"stamp in the buf field: +0",
	.meta_bytes = clock_meta, .init = freq_init, .fini = freq_fini,
	.fault = freq_fault, .reclaim = freq_reclaim,
	.wp = freq_touch, .dirty = freq_touch,
};
