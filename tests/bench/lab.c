/*
 * lab.c - the policy lab's replay engine (contract in lab.h): page states,
 * the write staging FIFO, write-protect and dirty-log events, counting.
 * Single-threaded; all state in struct lab.
 *
 * Invariants: used = mapped + held + staged <= limit after every access
 * (checked); a page is on the staging list iff where == LW_STAGED.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lab.h"

int lab_links_init(struct lab_links *lk, uint64_t n)
{
	lk->prev = malloc(n * sizeof(*lk->prev));
	lk->next = malloc(n * sizeof(*lk->next));
	if (!lk->prev || !lk->next) {
		lab_links_fini(lk);
		return -ENOMEM;
	}
	return 0;
}

void lab_links_fini(struct lab_links *lk)
{
	free(lk->prev);
	free(lk->next);
	lk->prev = lk->next = NULL;
}

void lab_list_init(struct lab_list *q, struct lab_links *lk)
{
	q->lk = lk;
	q->head = q->tail = LAB_NIL;
	q->n = 0;
}

void lab_list_push(struct lab_list *q, uint32_t p)
{
	q->lk->prev[p] = LAB_NIL;
	q->lk->next[p] = q->head;
	if (q->head != LAB_NIL)
		q->lk->prev[q->head] = p;
	else
		q->tail = p;
	q->head = p;
	q->n++;
}

void lab_list_del(struct lab_list *q, uint32_t p)
{
	uint32_t pr = q->lk->prev[p], nx = q->lk->next[p];

	if (pr != LAB_NIL)
		q->lk->next[pr] = nx;
	else
		q->head = nx;
	if (nx != LAB_NIL)
		q->lk->prev[nx] = pr;
	else
		q->tail = pr;
	q->n--;
}

uint32_t lab_list_pop(struct lab_list *q)
{
	uint32_t p = q->tail;

	if (p != LAB_NIL)
		lab_list_del(q, p);
	return p;
}

uint64_t *lab_next_use(const uint32_t *pg, uint64_t n, uint64_t npages)
{
	uint64_t *nx = malloc((n ? n : 1) * sizeof(*nx));
	uint64_t *last = malloc(npages * sizeof(*last)), i;

	if (!nx || !last) {
		free(nx);
		free(last);
		return NULL;
	}
	for (i = 0; i < npages; i++)
		last[i] = UINT64_MAX;
	for (i = n; i-- > 0;) {
		nx[i] = last[pg[i]];
		last[pg[i]] = i;
	}
	free(last);
	return nx;
}

int lab_init(struct lab *l, const struct lab_policy *pol,
	     const struct lab_cfg *cfg, uint64_t npages, const uint64_t *next)
{
	int r;

	memset(l, 0, sizeof(*l));
	l->cfg = *cfg;
	if (pol->ref)
		l->cfg.stage = l->cfg.gap = 0;
	if (!npages || npages >= LAB_NIL || !cfg->limit ||
	    l->cfg.stage + 2 * l->cfg.gap + 1 >= cfg->limit)
		return -EINVAL;
	l->npages = npages;
	l->pol = pol;
	l->next = next;
	l->where = calloc(npages, 1);
	l->pf = calloc(npages, 1);
	l->dl = malloc(npages * sizeof(*l->dl));
	l->fresh = malloc(npages * sizeof(*l->fresh));
	if (!l->where || !l->pf || !l->dl || !l->fresh ||
	    lab_links_init(&l->slk, npages)) {
		lab_fini(l);
		return -ENOMEM;
	}
	lab_list_init(&l->sq, &l->slk);
	r = pol->init(l, &l->ps);
	if (r < 0) {
		l->ps = NULL;
		lab_fini(l);
	}
	return r;
}

void lab_fini(struct lab *l)
{
	if (l->ps && l->pol)
		l->pol->fini(l->ps);
	l->ps = NULL;
	lab_links_fini(&l->slk);
	free(l->dl);
	free(l->fresh);
	l->fresh = NULL;
	free(l->pf);
	free(l->where);
	l->dl = NULL;
	l->pf = l->where = NULL;
}

void lab_unmap(struct lab *l, uint32_t p)
{
	if (l->where[p] != LW_MAPPED) {
		l->err = -EINVAL;
		return;
	}
	l->where[p] = LW_HELD;
	l->pf[p] &= (uint8_t)~LP_WP;
	l->mapped--;
	l->held++;
}

/* The write staging FIFO gives up its oldest page (its write is done). */
static void stage_trim(struct lab *l)
{
	while (l->staged > l->cfg.stage) {
		uint32_t q = lab_list_pop(&l->sq);

		l->where[q] = LW_OUT;
		l->staged--;
	}
}

void lab_evict(struct lab *l, uint32_t p)
{
	uint8_t *f = &l->pf[p];

	if (l->where[p] == LW_MAPPED) {
		l->mapped--;
	} else if (l->where[p] == LW_HELD) {
		l->held--;
	} else {
		l->err = -EINVAL;
		return;
	}
	l->where[p] = LW_OUT;
	*f &= (uint8_t)~LP_WP;
	if (l->counting)
		l->c.evictions++;
	if (!(*f & LP_DATA) || !(*f & LP_DIRTY))
		return;         /* all-zero (no I/O) or clean (its copy is on swap) */
	if (l->counting)
		l->c.writes++;
	*f = (uint8_t)((*f & ~LP_DIRTY) | LP_ONSWAP);
	if (l->cfg.stage) {
		l->where[p] = LW_STAGED;
		l->staged++;
		lab_list_push(&l->sq, p);
		stage_trim(l);
	}
}

/* Free frames before a page is mapped; false if the policy made no room. */
static bool make_room(struct lab *l, uint32_t incoming)
{
	uint64_t low = l->cfg.limit - l->cfg.gap, target, guard = 0;

	if (lab_used(l) < low)
		return true;
	target = l->cfg.gap ? l->cfg.limit - 2 * l->cfg.gap : l->cfg.limit - 1;
	while (lab_used(l) > target) {
		uint64_t before = lab_used(l);

		l->pol->reclaim(l, l->ps, incoming);
		if (l->err)
			return false;
		/* A dirty eviction into a staging area that is not full yet
		 * frees nothing; a policy that frees nothing at all forever
		 * is broken. */
		if (lab_used(l) >= before && ++guard > 4 * l->npages + 64) {
			l->err = -EDEADLK;
			return false;
		}
	}
	return true;
}

static void note_write(struct lab *l, uint32_t p)
{
	uint8_t *f = &l->pf[p];

	*f = (uint8_t)((*f | LP_DATA | LP_DIRTY) & ~LP_ONSWAP);
	if (l->cfg.dlog && !(*f & LP_DLOG)) {
		*f |= LP_DLOG;
		l->dl[l->ndl++] = p;
	}
}

/* Map p after a fault of kind k (room already made). */
static void install(struct lab *l, uint32_t p, enum lab_fault k, bool write)
{
	uint8_t *f = &l->pf[p];

	l->where[p] = LW_MAPPED;
	l->mapped++;
	if (k == LF_STAGE)      /* hvswap copies it writable and drops the slot */
		*f = (uint8_t)((*f | LP_DIRTY) & ~LP_ONSWAP);
	if (!write && l->cfg.wp && (*f & LP_ONSWAP) && !(*f & LP_DIRTY))
		*f |= LP_WP;    /* clean install: the first write traps */
	if (write)
		note_write(l, p);
}

static void harvest(struct lab *l)
{
	uint64_t i;

	for (i = 0; i < l->ndl; i++) {
		uint32_t p = l->dl[i];

		l->pf[p] &= (uint8_t)~LP_DLOG;
		if (l->where[p] == LW_MAPPED && l->pol->dirty &&
		    (l->cfg.dlog_fresh || !(l->pf[p] & LP_FRESH)))
			l->pol->dirty(l, l->ps, p);
	}
	for (i = 0; i < l->nfresh; i++)
		l->pf[l->fresh[i]] &= (uint8_t)~LP_FRESH;
	l->ndl = l->nfresh = 0;
}

static void fault(struct lab *l, uint32_t p, bool write)
{
	enum lab_fault k;

	switch (l->where[p]) {
	case LW_HELD:
		k = LF_HELD;
		l->held--;
		break;
	case LW_STAGED:
		k = LF_STAGE;
		lab_list_del(&l->sq, p);
		l->staged--;
		break;
	default:
		k = (l->pf[p] & LP_DATA) ? LF_MAJOR : LF_FIRST;
		if (!make_room(l, p))
			return;
		break;
	}
	if (l->counting)
		l->c.faults[k]++;
	if (l->cfg.dlog && !(l->pf[p] & LP_FRESH)) {
		l->pf[p] |= LP_FRESH;
		l->fresh[l->nfresh++] = p;
	}
	install(l, p, k, write);
	l->pol->fault(l, l->ps, p, k);
}

void lab_access(struct lab *l, uint32_t p, bool write)
{
	if (l->counting)
		l->c.accesses++;
	if (l->where[p] != LW_MAPPED) {
		fault(l, p, write);
	} else {
		if (l->pol->ref)
			l->pol->access(l, l->ps, p);
		if (write && (l->pf[p] & LP_WP)) {
			l->pf[p] &= (uint8_t)~LP_WP;
			if (l->counting)
				l->c.wp++;
			if (l->pol->wp)
				l->pol->wp(l, l->ps, p);
		}
		if (write)
			note_write(l, p);
	}
	if (l->cfg.dlog && ++l->since_harvest >= l->cfg.dlog) {
		l->since_harvest = 0;
		harvest(l);
	}
	if (lab_used(l) > l->cfg.limit && !l->err)
		l->err = -EOVERFLOW;
}

int lab_replay(const struct lab_policy *pol, const struct lab_cfg *cfg,
	       uint64_t npages, const uint32_t *pg, const uint8_t *wr,
	       uint64_t n, uint64_t run_start, const uint64_t *next,
	       struct lab_counts *out, double *meta_bytes)
{
	struct lab l;
	uint64_t i;
	int r = lab_init(&l, pol, cfg, npages, next);

	if (r < 0)
		return r;
	for (i = 0; i < n && !l.err; i++) {
		if (i == run_start)
			l.counting = true;
		l.now = i;
		lab_access(&l, pg[i], wr[i]);
	}
	r = l.err;
	*out = l.c;
	if (meta_bytes)
		*meta_bytes = pol->meta_bytes(&l);
	lab_fini(&l);
	return r;
}
