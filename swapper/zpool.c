/*
 * zpool.c - a size-class allocator for compressed pages (the compressed
 * tier's pool), modelled on the kernel's zsmalloc.
 *
 * Why zsmalloc's scheme and not zbud's: zbud puts at most two objects in a
 * page, so a page compressed 3:1 or 4:1 still costs half a page - the pool
 * could never hold more than 2x what it costs, and the ratio:3/ratio:4
 * fills would be wasted.  Size classes hold any ratio at a bounded loss.
 *
 * Layout.  Objects are rounded up to a class of ZP_CLASS_DELTA bytes (32,
 * 64, ..., 3072: 96 classes; the rounding is the internal fragmentation, at
 * most 31 bytes an object).  A class's objects live in "zspages" of 1 to
 * ZP_MAX_PAGES contiguous pages, the count chosen per class to waste the
 * least at a zspage's end (zsmalloc's get_pages_per_zspage); in user space
 * one allocation is contiguous, so an object may straddle a page boundary
 * inside its zspage.  Each class keeps a list of its zspages that have a
 * free object (partial); a zspage that empties is freed at once, so the
 * pool's memory follows what it holds (no compaction: the tier's LRU
 * write-back frees objects in about the order they were stored, which
 * empties whole zspages - measured in stats as the fragmentation).
 *
 * Handles: zspage id << ZP_IDX_BITS | object index (objects per zspage
 * are at most 8 x 4096 / 32 = 1024).  Zspage ids are reused (a free stack).
 * The per-object records (struct zp_obj, 16 bytes) sit out of line, one
 * array per zspage, so object bytes need no header.
 *
 * Locks: none; the caller serialises every call (ztier.c, zt_lock).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "zpool.h"

#define ZP_PAGE 4096u
#define ZP_NCLASS (ZP_MAX_OBJ / ZP_CLASS_DELTA)
#define ZP_IDX_BITS 10u
#define ZP_MAX_ZSPAGES ((UINT32_MAX >> ZP_IDX_BITS) - 1)

struct zspage {
	uint8_t *mem;
	uint32_t prev, next;    /* the class's partial list (zspage ids) */
	uint16_t cls;
	uint16_t inuse;
	uint16_t free_head;     /* first free object, or nobj */
	struct zp_obj objs[];
};

struct zp_class {
	uint32_t size;          /* object size (bytes) */
	uint32_t pages;         /* pages per zspage */
	uint32_t nobj;          /* objects per zspage */
	uint32_t partial;       /* a zspage with a free object, or ZP_NIL */
};

struct zpool {
	struct zp_class cls[ZP_NCLASS];
	struct zspage **tab;    /* by zspage id */
	uint32_t ntab, cap;
	uint32_t *free_ids;     /* ids of freed zspages, reused first */
	uint32_t nfree_ids, free_cap;
	struct zpool_usage u;
};

static void class_init(struct zp_class *c, uint32_t size)
{
	uint32_t k, best = 1, waste, best_waste = UINT32_MAX;

	for (k = 1; k <= ZP_MAX_PAGES; k++) {
		/* waste per page, scaled: the fraction lost at the end */
		waste = (k * ZP_PAGE % size) * 1024 / (k * ZP_PAGE);
		if (waste < best_waste) {
			best_waste = waste;
			best = k;
		}
	}
	c->size = size;
	c->pages = best;
	c->nobj = best * ZP_PAGE / size;
	c->partial = ZP_NIL;
}

int zpool_create(struct zpool **out)
{
	struct zpool *p = calloc(1, sizeof(*p));
	unsigned int i;

	if (!p)
		return -ENOMEM;
	for (i = 0; i < ZP_NCLASS; i++)
		class_init(&p->cls[i], (i + 1) * ZP_CLASS_DELTA);
	p->u.meta_bytes = sizeof(*p);
	*out = p;
	return 0;
}

void zpool_destroy(struct zpool *p)
{
	uint32_t i;

	if (!p)
		return;
	for (i = 0; i < p->ntab; i++) {
		if (p->tab[i]) {
			free(p->tab[i]->mem);
			free(p->tab[i]);
		}
	}
	free(p->tab);
	free(p->free_ids);
	free(p);
}

static unsigned int class_of(size_t len)
{
	return (unsigned int)((len + ZP_CLASS_DELTA - 1) / ZP_CLASS_DELTA - 1);
}

static void partial_add(struct zpool *p, uint32_t id)
{
	struct zspage *z = p->tab[id];
	struct zp_class *c = &p->cls[z->cls];

	z->prev = ZP_NIL;
	z->next = c->partial;
	if (c->partial != ZP_NIL)
		p->tab[c->partial]->prev = id;
	c->partial = id;
}

static void partial_del(struct zpool *p, uint32_t id)
{
	struct zspage *z = p->tab[id];

	if (z->prev != ZP_NIL)
		p->tab[z->prev]->next = z->next;
	else
		p->cls[z->cls].partial = z->next;
	if (z->next != ZP_NIL)
		p->tab[z->next]->prev = z->prev;
}

/* An id for a new zspage: a freed one, else the next (growing the table). */
static int id_get(struct zpool *p, uint32_t *id)
{
	if (p->nfree_ids) {
		*id = p->free_ids[--p->nfree_ids];
		return 0;
	}
	if (p->ntab >= ZP_MAX_ZSPAGES)
		return -ENOSPC;
	if (p->ntab == p->cap) {
		uint32_t nc = p->cap ? 2 * p->cap : 256;
		struct zspage **t = realloc(p->tab, nc * sizeof(*t));

		if (!t)
			return -ENOMEM;
		p->u.meta_bytes += (nc - p->cap) * sizeof(*t);
		p->tab = t;
		p->cap = nc;
	}
	*id = p->ntab++;
	return 0;
}

static int id_put(struct zpool *p, uint32_t id)
{
	if (p->nfree_ids == p->free_cap) {
		uint32_t nc = p->free_cap ? 2 * p->free_cap : 256;
		uint32_t *t = realloc(p->free_ids, nc * sizeof(*t));

		if (!t)
			return -ENOMEM;         /* the id is simply not reused */
		p->u.meta_bytes += (nc - p->free_cap) * sizeof(*t);
		p->free_ids = t;
		p->free_cap = nc;
	}
	p->free_ids[p->nfree_ids++] = id;
	return 0;
}

static size_t zspage_meta(const struct zp_class *c)
{
	return sizeof(struct zspage) + c->nobj * sizeof(struct zp_obj);
}

/* A new, empty zspage of class ci, on its partial list. */
static int zspage_new(struct zpool *p, unsigned int ci, uint32_t *out)
{
	struct zp_class *c = &p->cls[ci];
	struct zspage *z = calloc(1, zspage_meta(c));
	uint32_t id, i;
	int r;

	if (!z)
		return -ENOMEM;
	z->mem = malloc((size_t)c->pages * ZP_PAGE);
	r = z->mem ? id_get(p, &id) : -ENOMEM;
	if (r < 0) {
		free(z->mem);
		free(z);
		return r;
	}
	z->cls = (uint16_t)ci;
	for (i = 0; i < c->nobj; i++)
		z->objs[i].next = i + 1;
	z->free_head = 0;
	p->tab[id] = z;
	partial_add(p, id);
	p->u.pool_bytes += (uint64_t)c->pages * ZP_PAGE;
	p->u.meta_bytes += zspage_meta(c);
	p->u.zspages++;
	*out = id;
	return 0;
}

int zpool_alloc(struct zpool *p, size_t len, uint32_t *h)
{
	unsigned int ci;
	struct zp_class *c;
	struct zspage *z;
	uint32_t id, k;
	int r;

	if (!len || len > ZP_MAX_OBJ)
		return -E2BIG;
	ci = class_of(len);
	c = &p->cls[ci];
	id = c->partial;
	if (id == ZP_NIL) {
		r = zspage_new(p, ci, &id);
		if (r < 0)
			return r;
	}
	z = p->tab[id];
	k = z->free_head;
	z->free_head = (uint16_t)z->objs[k].next;
	if (++z->inuse == c->nobj)
		partial_del(p, id);
	z->objs[k] = (struct zp_obj){ ZP_NIL, ZP_NIL, 0, (uint16_t)len, 0 };
	p->u.objects++;
	p->u.payload_bytes += len;
	*h = id << ZP_IDX_BITS | k;
	return 0;
}

static struct zspage *zspage_of(struct zpool *p, uint32_t h, uint32_t *k)
{
	uint32_t id = h >> ZP_IDX_BITS;
	struct zspage *z;

	if (h == ZP_NIL || id >= p->ntab || !(z = p->tab[id]))
		return NULL;
	*k = h & ((1u << ZP_IDX_BITS) - 1);
	if (*k >= p->cls[z->cls].nobj || !z->objs[*k].len)
		return NULL;
	return z;
}

struct zp_obj *zpool_obj(struct zpool *p, uint32_t h)
{
	uint32_t k;
	struct zspage *z = zspage_of(p, h, &k);

	return z ? &z->objs[k] : NULL;
}

void *zpool_ptr(struct zpool *p, uint32_t h)
{
	uint32_t k;
	struct zspage *z = zspage_of(p, h, &k);

	return z ? z->mem + (size_t)k * p->cls[z->cls].size : NULL;
}

void zpool_free(struct zpool *p, uint32_t h)
{
	uint32_t k, id = h >> ZP_IDX_BITS;
	struct zspage *z = zspage_of(p, h, &k);
	struct zp_class *c;

	if (!z)
		return;
	c = &p->cls[z->cls];
	p->u.objects--;
	p->u.payload_bytes -= z->objs[k].len;
	z->objs[k].len = 0;
	z->objs[k].next = z->free_head;
	z->free_head = (uint16_t)k;
	if (z->inuse-- == c->nobj)
		partial_add(p, id);
	if (z->inuse)
		return;
	/* Empty: give its memory back. */
	partial_del(p, id);
	p->u.pool_bytes -= (uint64_t)c->pages * ZP_PAGE;
	p->u.meta_bytes -= zspage_meta(c);
	p->u.zspages--;
	free(z->mem);
	free(z);
	p->tab[id] = NULL;
	id_put(p, id);
}

size_t zpool_grow_bytes(struct zpool *p, size_t len)
{
	struct zp_class *c;

	if (!len || len > ZP_MAX_OBJ)
		return 0;
	c = &p->cls[class_of(len)];
	return c->partial == ZP_NIL ? (size_t)c->pages * ZP_PAGE : 0;
}

void zpool_usage(struct zpool *p, struct zpool_usage *u)
{
	*u = p->u;
}
