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
 */
#include <errno.h>
#include <stdlib.h>

#include "lab.h"

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
