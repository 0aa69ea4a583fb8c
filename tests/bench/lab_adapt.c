/*
 * lab_adapt.c - the policy lab's adaptive candidates, fault-only (lab.h):
 *
 *   clockpro  CLOCK-Pro (Jiang, Chen, Zhang, USENIX ATC 2005) in list form:
 *             hot and cold resident pages, and non-resident cold pages
 *             still in their test period (at most `limit` of them, oldest
 *             expire).  A fault on a page in its test period makes it hot
 *             and grows the cold target mc; an expired test shrinks mc.
 *             The cold hand (tail of the cold list): a referenced cold
 *             page in test becomes hot, one out of test starts a test and
 *             goes round again; an unreferenced one is evicted (and kept
 *             as a non-resident test page if in test).  The hot hand
 *             demotes unreferenced hot pages while hot > limit - mc.
 *             References come only from faults, wp and the dirty log.
 *   arc       ARC (Megiddo, Modha, FAST 2003): T1/T2 resident, B1/B2
 *             ghosts, target p.  A "hit" in T1/T2 is only what hvswap can
 *             see of one (wp, dirty log): it moves the page to T2's head.
 *             Faults on B1/B2 ghosts adapt p and go to T2, others to T1.
 *
 * Both need removal from the middle of their lists, so their hvswap cost is
 * per-page links: 2 x 4 bytes per guest page.
 *
 *   arcw      ARC in the page word (below): CAR's two clocks as index
 *             sweeps, the ghost lists as eviction stamps.  +0 bytes.
 *   arcwr     arcw with B1 = the last c pages evicted from T1 (hvswap's
 *             --policy arcw without the dirty log, issue 12 item 2).
 */
#include <errno.h>
#include <stdlib.h>

#include "lab.h"

static double clock_meta_zero(const struct lab *l)
{
	(void)l;
	return 0.0;
}

static double links_meta(const struct lab *l)
{
	(void)l;
	return 8.0;
}

/* ---- CLOCK-Pro ---------------------------------------------------------- */

enum { CP_NONE, CP_HOT, CP_COLD, CP_TEST };     /* TEST: non-resident */
#define CP_REF 1u
#define CP_INTEST 2u

struct clockpro {
	struct lab_links lk;
	struct lab_list hot, cold, test;
	uint8_t *list, *fl;
	uint64_t mc;            /* target resident cold pages, 1..limit-1 */
};

static int cp_init(struct lab *l, void **ps)
{
	struct clockpro *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->list = calloc(l->npages, 1);
	s->fl = calloc(l->npages, 1);
	if (!s->list || !s->fl || lab_links_init(&s->lk, l->npages)) {
		free(s->list);
		free(s->fl);
		free(s);
		return -ENOMEM;
	}
	lab_list_init(&s->hot, &s->lk);
	lab_list_init(&s->cold, &s->lk);
	lab_list_init(&s->test, &s->lk);
	s->mc = l->cfg.limit / 10 ? l->cfg.limit / 10 : 1;
	*ps = s;
	return 0;
}

static void cp_fini(void *ps)
{
	struct clockpro *s = ps;

	lab_links_fini(&s->lk);
	free(s->list);
	free(s->fl);
	free(s);
}

static void to_list(struct clockpro *s, struct lab_list *q, uint32_t p, int which)
{
	s->list[p] = (uint8_t)which;
	lab_list_push(q, p);
}

/* The hot hand: demote unreferenced hot pages while hot > limit - mc. */
static void cp_hot_hand(struct lab *l, struct clockpro *s)
{
	uint64_t guard = 2 * s->hot.n + 2;

	while (s->hot.n && s->hot.n + s->mc > l->cfg.limit && guard--) {
		uint32_t p = lab_list_pop(&s->hot);

		if (s->fl[p] & CP_REF) {
			s->fl[p] &= (uint8_t)~CP_REF;
			to_list(s, &s->hot, p, CP_HOT);
		} else {
			s->fl[p] = 0;
			to_list(s, &s->cold, p, CP_COLD);
		}
	}
}

static void cp_fault(struct lab *l, void *ps, uint32_t p, enum lab_fault k)
{
	struct clockpro *s = ps;

	(void)k;
	if (s->list[p] == CP_TEST) {
		lab_list_del(&s->test, p);
		if (s->mc + 1 < l->cfg.limit)
			s->mc++;
		s->fl[p] = 0;
		to_list(s, &s->hot, p, CP_HOT);
		cp_hot_hand(l, s);
		return;
	}
	s->fl[p] = CP_INTEST;
	to_list(s, &s->cold, p, CP_COLD);
}

static void cp_touch(struct lab *l, void *ps, uint32_t p)
{
	(void)l;
	((struct clockpro *)ps)->fl[p] |= CP_REF;
}

static void cp_reclaim(struct lab *l, void *ps, uint32_t incoming)
{
	struct clockpro *s = ps;
	uint64_t guard = 4 * l->npages + 4;
	uint32_t p;

	(void)incoming;
	while (guard--) {
		if (!s->cold.n) {               /* all hot: demote one */
			p = lab_list_pop(&s->hot);
			if (p == LAB_NIL)
				break;
			s->fl[p] = 0;
			to_list(s, &s->cold, p, CP_COLD);
		}
		p = lab_list_pop(&s->cold);
		if (s->fl[p] & CP_REF) {
			if (s->fl[p] & CP_INTEST) {
				s->fl[p] = 0;
				to_list(s, &s->hot, p, CP_HOT);
				cp_hot_hand(l, s);
			} else {
				s->fl[p] = CP_INTEST;
				to_list(s, &s->cold, p, CP_COLD);
			}
			continue;
		}
		if (s->fl[p] & CP_INTEST) {
			s->fl[p] = 0;
			to_list(s, &s->test, p, CP_TEST);
			if (s->test.n > l->cfg.limit) {  /* oldest test expires */
				uint32_t q = lab_list_pop(&s->test);

				s->list[q] = CP_NONE;
				if (s->mc > 1)
					s->mc--;
			}
		} else {
			s->list[p] = CP_NONE;
		}
		lab_evict(l, p);
		return;
	}
	l->err = -EDEADLK;
}

const struct lab_policy lab_clockpro = {
	.name = "clockpro",
	.meta = "hot/ref/test bits in spare bits of the page word; lists with "
		"removal from the middle: 2 x 4-byte links per guest page",
	.meta_bytes = links_meta, .init = cp_init, .fini = cp_fini,
	.fault = cp_fault, .reclaim = cp_reclaim,
	.wp = cp_touch, .dirty = cp_touch,
};

/* ---- ARC ---------------------------------------------------------------- */

enum { A_NONE, A_T1, A_T2, A_B1, A_B2 };

struct arc {
	struct lab_links lk;
	struct lab_list t1, t2, b1, b2;
	uint8_t *list;
	double p;               /* target size of T1 */
};

static int arc_init(struct lab *l, void **ps)
{
	struct arc *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->list = calloc(l->npages, 1);
	if (!s->list || lab_links_init(&s->lk, l->npages)) {
		free(s->list);
		free(s);
		return -ENOMEM;
	}
	lab_list_init(&s->t1, &s->lk);
	lab_list_init(&s->t2, &s->lk);
	lab_list_init(&s->b1, &s->lk);
	lab_list_init(&s->b2, &s->lk);
	*ps = s;
	return 0;
}

static void arc_fini(void *ps)
{
	struct arc *s = ps;

	lab_links_fini(&s->lk);
	free(s->list);
	free(s);
}

static struct lab_list *arc_q(struct arc *s, int which)
{
	switch (which) {
	case A_T1: return &s->t1;
	case A_T2: return &s->t2;
	case A_B1: return &s->b1;
	default:   return &s->b2;
	}
}

static void arc_move(struct arc *s, uint32_t p, int to)
{
	if (s->list[p] != A_NONE)
		lab_list_del(arc_q(s, s->list[p]), p);
	s->list[p] = (uint8_t)to;
	if (to != A_NONE)
		lab_list_push(arc_q(s, to), p);
}

/* Ghost lists: |T1| + |B1| <= c and the total <= 2c (ARC's case IV). */
static void arc_trim_ghosts(struct lab *l, struct arc *s)
{
	uint64_t c = l->cfg.limit;

	while (s->b1.n && s->t1.n + s->b1.n > c)
		s->list[lab_list_pop(&s->b1)] = A_NONE;
	while (s->b2.n && s->t1.n + s->t2.n + s->b1.n + s->b2.n > 2 * c)
		s->list[lab_list_pop(&s->b2)] = A_NONE;
}

static void arc_fault(struct lab *l, void *ps, uint32_t p, enum lab_fault k)
{
	struct arc *s = ps;
	double c = (double)l->cfg.limit, b1 = (double)s->b1.n, b2 = (double)s->b2.n;

	(void)k;
	if (s->list[p] == A_B1) {
		s->p += b2 > b1 ? b2 / b1 : 1.0;
		if (s->p > c)
			s->p = c;
		arc_move(s, p, A_T2);
	} else if (s->list[p] == A_B2) {
		s->p -= b1 > b2 ? b1 / b2 : 1.0;
		if (s->p < 0)
			s->p = 0;
		arc_move(s, p, A_T2);
	} else {
		arc_move(s, p, A_T1);
	}
	arc_trim_ghosts(l, s);
}

static void arc_touch(struct lab *l, void *ps, uint32_t p)
{
	struct arc *s = ps;

	(void)l;
	if (s->list[p] == A_T1 || s->list[p] == A_T2)
		arc_move(s, p, A_T2);
}

static void arc_reclaim(struct lab *l, void *ps, uint32_t incoming)
{
	struct arc *s = ps;
	double t1 = (double)s->t1.n;
	uint32_t v;

	if (s->t1.n && (t1 > s->p || (s->list[incoming] == A_B2 && t1 >= s->p) ||
			!s->t2.n)) {
		v = s->t1.tail;
		arc_move(s, v, A_B1);
	} else if (s->t2.n) {
		v = s->t2.tail;
		arc_move(s, v, A_B2);
	} else {
		l->err = -EDEADLK;
		return;
	}
	lab_evict(l, v);
	arc_trim_ghosts(l, s);
}

const struct lab_policy lab_arc = {
	.name = "arc",
	.meta = "list id in spare bits of the page word; four lists with removal "
		"from the middle: 2 x 4-byte links per guest page",
	.meta_bytes = links_meta, .init = arc_init, .fini = arc_fini,
	.fault = arc_fault, .reclaim = arc_reclaim,
	.wp = arc_touch, .dirty = arc_touch,
};

/* ---- arcw: ARC in the page word ------------------------------------------ */

/*
 * CAR (Bansal, Modha, FAST 2004: ARC with its resident lists T1/T2 as
 * CLOCKs) with two changes that make it cost nothing beyond the page word:
 * the clocks are two hands sweeping page indices (as policy_clock.c), and
 * the ghost lists B1/B2 are not lists: an evicted page keeps, in the
 * evicted word's spare buf bits, which list it left and a stamp of that
 * list's eviction counter.  B1 is "the last |B1| pages evicted from T1",
 * so a refault is a B1 hit when fewer than |B1| = c - |T1| pages left T1
 * since (ARC keeps |T1| + |B1| <= c), and a B2 hit when fewer than
 * |B2| = 2c - |T1| - |T2| - |B1| left T2.  A hit on a resident page is only
 * what hvswap sees of one (wp, dirty log): its REF bit.
 */
#define AW_STAMP_BITS 18        /* + 1 bit: which list */

enum { AW_NONE, AW_T1, AW_T2, AW_G1, AW_G2 };

struct arcw {
	uint8_t *list, *ref;
	uint32_t *stamp;        /* (counter >> order) at eviction */
	uint64_t hand[2], n1, n2, ev[2];
	double p;
	unsigned order;
	bool wide;              /* arcwr: a B1 hit is any refault within c */
};

static int aw_init(struct lab *l, void **ps)
{
	struct arcw *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->list = calloc(l->npages, 1);
	s->ref = calloc(l->npages, 1);
	s->stamp = calloc(l->npages, sizeof(*s->stamp));
	if (!s->list || !s->ref || !s->stamp) {
		free(s->list);
		free(s->ref);
		free(s->stamp);
		free(s);
		return -ENOMEM;
	}
	while ((4 * l->cfg.limit >> s->order) >= (1u << AW_STAMP_BITS) - 1)
		s->order++;
	*ps = s;
	return 0;
}

static void aw_fini(void *ps)
{
	struct arcw *s = ps;

	free(s->list);
	free(s->ref);
	free(s->stamp);
	free(s);
}

/* ARC's ghost list sizes, from its invariants. */
static void aw_ghosts(const struct lab *l, const struct arcw *s, double *b1,
		      double *b2)
{
	double c = (double)l->cfg.limit, t1 = (double)s->n1, t2 = (double)s->n2;

	*b1 = c - t1 < (double)s->ev[0] ? c - t1 : (double)s->ev[0];
	*b2 = 2 * c - t1 - t2 - *b1;
	if (*b2 > (double)s->ev[1])
		*b2 = (double)s->ev[1];
	if (*b2 < 0)
		*b2 = 0;
}

/* Evictions from list k (0: T1, 1: T2) since p's stamp. */
static uint64_t aw_since(const struct arcw *s, uint32_t p, int k)
{
	uint64_t mask = (1u << AW_STAMP_BITS) - 1;

	return (((s->ev[k] >> s->order) - s->stamp[p]) & mask) << s->order;
}

static void aw_fault(struct lab *l, void *ps, uint32_t p, enum lab_fault k)
{
	struct arcw *s = ps;
	double b1, b2, c = (double)l->cfg.limit;

	(void)k;
	aw_ghosts(l, s, &b1, &b2);
	if (s->wide && (double)s->ev[0] < c)
		b1 = (double)s->ev[0];
	else if (s->wide)
		b1 = c;
	s->ref[p] = 0;
	if (s->list[p] == AW_G1 && (double)aw_since(s, p, 0) < b1) {
		s->p += b2 > b1 ? b2 / b1 : 1.0;
		if (s->p > c)
			s->p = c;
		s->list[p] = AW_T2;
		s->n2++;
	} else if (s->list[p] == AW_G2 && (double)aw_since(s, p, 1) < b2) {
		s->p -= b1 > b2 ? b1 / b2 : 1.0;
		if (s->p < 0)
			s->p = 0;
		s->list[p] = AW_T2;
		s->n2++;
	} else {
		s->list[p] = AW_T1;
		s->n1++;
	}
}

static void aw_touch(struct lab *l, void *ps, uint32_t p)
{
	(void)l;
	((struct arcw *)ps)->ref[p] = 1;
}

/* One step of hand k over the pages of list T1 (k = 0) or T2 (k = 1):
 * the next page of that list, LAB_NIL after a whole sweep without one. */
static uint32_t aw_next(struct lab *l, struct arcw *s, int k)
{
	uint64_t scanned;

	for (scanned = 0; scanned < l->npages; scanned++) {
		uint32_t idx = (uint32_t)s->hand[k];

		s->hand[k] = (s->hand[k] + 1) % l->npages;
		if (s->list[idx] == (k ? AW_T2 : AW_T1) && l->where[idx] == LW_MAPPED)
			return idx;
	}
	return LAB_NIL;
}

static void aw_reclaim(struct lab *l, void *ps, uint32_t incoming)
{
	struct arcw *s = ps;
	uint64_t guard = 4 * l->npages + 4;
	uint32_t v;
	int k;

	(void)incoming;
	while (guard--) {
		k = !((double)s->n1 >= (s->p > 1 ? s->p : 1) || !s->n2);
		v = aw_next(l, s, k);
		if (v == LAB_NIL)
			break;
		if (s->ref[v]) {                /* T1 -> T2; T2 goes round */
			s->ref[v] = 0;
			if (!k) {
				s->list[v] = AW_T2;
				s->n1--;
				s->n2++;
			}
			continue;
		}
		s->list[v] = k ? AW_G2 : AW_G1;
		s->stamp[v] = (uint32_t)((s->ev[k] >> s->order) & ((1u << AW_STAMP_BITS) - 1));
		s->ev[k]++;
		if (k)
			s->n2--;
		else
			s->n1--;
		lab_evict(l, v);
		return;
	}
	l->err = -EDEADLK;
}

static int awr_init(struct lab *l, void **ps)
{
	int r = aw_init(l, ps);

	if (!r)
		((struct arcw *)*ps)->wide = true;
	return r;
}

/* arcwr: arcw whose B1 is the last c pages evicted from T1 (not c - |T1|):
 * a page refaulting soon after it left T1 - a new hot page of a moving hot
 * set - is promoted and grows p even while T1 fills the cache (issue 12's
 * suggestion for the moving hot set; tried in hvswap's item 2). */
const struct lab_policy lab_arcwr = {
	.name = "arcwr",
	.meta = "as arcw: +0",
	.meta_bytes = clock_meta_zero, .init = awr_init, .fini = aw_fini,
	.fault = aw_fault, .reclaim = aw_reclaim,
	.wp = aw_touch, .dirty = aw_touch,
};

const struct lab_policy lab_arcw = {
	.name = "arcw",
	.meta = "resident: list bit + REF in the page word; evicted: list bit + "
		"an 18-bit eviction stamp in the buf field; two hands: +0",
	.meta_bytes = clock_meta_zero, .init = aw_init, .fini = aw_fini,
	.fault = aw_fault, .reclaim = aw_reclaim,
	.wp = aw_touch, .dirty = aw_touch,
};
