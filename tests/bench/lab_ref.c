/*
 * lab_ref.c - the policy lab's two references, which see every access
 * (no VMM can): LRU, and Belady's MIN (offline: evicts the page whose next
 * use is farthest, given every access's next use by lab_next_use()).
 *
 * MIN keeps a max-heap keyed by next use with lazy deletion (an entry is
 * live while its page is mapped and cur[page] equals its key), rebuilt when
 * stale entries pile up: O(log n) per access.
 */
#include <errno.h>
#include <stdlib.h>

#include "lab.h"

/* ---- LRU -------------------------------------------------------------- */

struct lru {
	struct lab_links lk;
	struct lab_list q;
};

static int lru_init(struct lab *l, void **ps)
{
	struct lru *s = calloc(1, sizeof(*s));

	if (!s || lab_links_init(&s->lk, l->npages)) {
		free(s);
		return -ENOMEM;
	}
	lab_list_init(&s->q, &s->lk);
	*ps = s;
	return 0;
}

static void lru_fini(void *ps)
{
	struct lru *s = ps;

	lab_links_fini(&s->lk);
	free(s);
}

static void lru_fault(struct lab *l, void *ps, uint32_t p, enum lab_fault k)
{
	(void)l;
	(void)k;
	lab_list_push(&((struct lru *)ps)->q, p);
}

static void lru_access(struct lab *l, void *ps, uint32_t p)
{
	struct lru *s = ps;

	(void)l;
	lab_list_del(&s->q, p);
	lab_list_push(&s->q, p);
}

static void lru_reclaim(struct lab *l, void *ps, uint32_t incoming)
{
	(void)incoming;
	lab_evict(l, lab_list_pop(&((struct lru *)ps)->q));
}

static double ref_meta(const struct lab *l)
{
	(void)l;
	return 0.0;
}

const struct lab_policy lab_lru = {
	.name = "lru", .ref = true,
	.meta = "reference: needs every access (not available to a VMM)",
	.meta_bytes = ref_meta, .init = lru_init, .fini = lru_fini,
	.fault = lru_fault, .reclaim = lru_reclaim, .access = lru_access,
};

/* ---- MIN -------------------------------------------------------------- */

struct min_ent {
	uint64_t key;
	uint32_t page;
};

struct min {
	struct min_ent *h;
	size_t n, cap;
	uint64_t *cur;          /* live key per page */
};

static int min_init(struct lab *l, void **ps)
{
	struct min *s = calloc(1, sizeof(*s));

	if (!s || !l->next)
		goto fail;
	s->cap = 4 * l->cfg.limit + 1024 + 1;
	s->h = malloc(s->cap * sizeof(*s->h));
	s->cur = malloc(l->npages * sizeof(*s->cur));
	if (!s->h || !s->cur)
		goto fail;
	*ps = s;
	return 0;
fail:
	if (s) {
		free(s->h);
		free(s->cur);
	}
	free(s);
	return l->next ? -ENOMEM : -EINVAL;
}

static void min_fini(void *ps)
{
	struct min *s = ps;

	free(s->h);
	free(s->cur);
	free(s);
}

static void heap_push(struct min *s, uint64_t key, uint32_t page)
{
	size_t i = s->n++;

	while (i) {
		size_t p = (i - 1) / 2;

		if (s->h[p].key >= key)
			break;
		s->h[i] = s->h[p];
		i = p;
	}
	s->h[i] = (struct min_ent){ key, page };
}

static struct min_ent heap_pop(struct min *s)
{
	struct min_ent top = s->h[0], last = s->h[--s->n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= s->n)
			break;
		if (c + 1 < s->n && s->h[c + 1].key > s->h[c].key)
			c++;
		if (s->h[c].key <= last.key)
			break;
		s->h[i] = s->h[c];
		i = c;
	}
	if (s->n)
		s->h[i] = last;
	return top;
}

static bool live(const struct lab *l, const struct min *s, struct min_ent e)
{
	return l->where[e.page] == LW_MAPPED && s->cur[e.page] == e.key;
}

/* Drop stale entries when the heap is full. */
static void heap_compact(struct lab *l, struct min *s)
{
	size_t k, m = 0;

	for (k = 0; k < s->n; k++)
		if (live(l, s, s->h[k]))
			s->h[m++] = s->h[k];
	s->n = 0;
	for (k = 0; k < m; k++)
		heap_push(s, s->h[k].key, s->h[k].page);
}

static void min_touch(struct lab *l, void *ps, uint32_t p)
{
	struct min *s = ps;

	if (s->n + 1 >= s->cap)
		heap_compact(l, s);
	s->cur[p] = l->next[l->now];
	heap_push(s, s->cur[p], p);
}

static void min_fault(struct lab *l, void *ps, uint32_t p, enum lab_fault k)
{
	(void)k;
	min_touch(l, ps, p);
}

static void min_reclaim(struct lab *l, void *ps, uint32_t incoming)
{
	struct min *s = ps;

	(void)incoming;
	while (s->n) {
		struct min_ent e = heap_pop(s);

		if (live(l, s, e)) {
			lab_evict(l, e.page);
			return;
		}
	}
	l->err = -EDEADLK;
}

const struct lab_policy lab_min = {
	.name = "min", .ref = true,
	.meta = "reference: offline, needs the future",
	.meta_bytes = ref_meta, .init = min_init, .fini = min_fini,
	.fault = min_fault, .reclaim = min_reclaim, .access = min_touch,
};
