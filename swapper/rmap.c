/*
 * rmap.c - reverse maps of shared slots: from a swap slot that several
 * guest pages reference to those pages.
 *
 * A slot held by one page needs no reverse map: that page's word names the
 * slot, and the walkers that need owners (migration, swapoff: migrate.c)
 * scan the 8-byte page words once per pass, as the kernel's try_to_unuse()
 * scans page tables.  Keeping a 4-byte entry for every used slot cost a
 * third of the swapper's metadata (issue 12: <= 12 bytes per guest page),
 * so entries exist only for slots shared by several pages - zero-page
 * sharing, VM clones, deduplication: a producer of sharing records every
 * owner with rmap_add.  Production code shares no slot today; the map is
 * kept, and tested, for those producers.  The seal of a slot goes when its
 * last recorded owner lets go (swapset.c).  Staging buffers have one owner
 * each (stage_owner[], buf.c).
 *
 * Storage: per device, an array of per-cluster owner tables (256 x u32,
 * page index + 1, 0 = none), allocated the first time a slot of the cluster
 * gets an owner and freed when its last owner goes (rmap_cnt), and an
 * overflow list for slots with more than one owner (RMAP_SHARED in the
 * table).
 *
 * Locking: an entry changes only under the page lock of the page being added
 * or removed, and under rmap_lock, which also guards the tables themselves
 * (allocation, the overflow list, and freeing a device's map: stats read
 * them under rmap_lock alone).  Lock order: page lock -> dev_lock ->
 * rmap_lock.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

#define RMAP_SHARED 0xffffffffu

struct rmap_shared {
	uint64_t gslot;
	uint32_t n, cap;
	uint32_t *owners;       /* page indices */
	struct rmap_shared *next;
};

int rmap_dev_init(struct swapper *s, unsigned int dev)
{
	uint64_t ncl = (swap_dev_nslots(s->devs[dev]) + SWAP_CLUSTER_SLOTS - 1) /
		       SWAP_CLUSTER_SLOTS;

	uint32_t **map = core_zalloc(s, ncl * sizeof(*map));
	uint16_t *cnt = core_zalloc(s, ncl * sizeof(*cnt));

	if (!map || !cnt) {
		free(map);
		free(cnt);
		return -ENOMEM;
	}
	lock_mutex(&s->rmap_lock, LK_RMAP);
	s->rmap[dev] = map;
	s->rmap_cnt[dev] = cnt;
	s->rmap_ncl[dev] = ncl;
	unlock_mutex(&s->rmap_lock, LK_RMAP);
	return 0;
}

void rmap_dev_fini(struct swapper *s, unsigned int dev)
{
	struct rmap_shared **pp = &s->rmap_shared, *e;
	uint64_t i;

	lock_mutex(&s->rmap_lock, LK_RMAP);
	if (!s->rmap[dev]) {
		unlock_mutex(&s->rmap_lock, LK_RMAP);
		return;
	}
	for (i = 0; i < s->rmap_ncl[dev]; i++)
		free(s->rmap[dev][i]);
	free(s->rmap[dev]);
	free(s->rmap_cnt[dev]);
	s->rmap[dev] = NULL;
	s->rmap_cnt[dev] = NULL;
	while ((e = *pp)) {
		if (gslot_dev(e->gslot) == dev) {
			*pp = e->next;
			free(e->owners);
			free(e);
		} else {
			pp = &e->next;
		}
	}
	s->rmap_ncl[dev] = 0;
	unlock_mutex(&s->rmap_lock, LK_RMAP);
}

static uint32_t *entry_locked(struct swapper *s, uint64_t g, bool create)
{
	unsigned int dev = gslot_dev(g);
	uint64_t off = gslot_off(g), cl = off / SWAP_CLUSTER_SLOTS;

	if (!s->rmap[dev] || cl >= s->rmap_ncl[dev])
		return NULL;
	if (!s->rmap[dev][cl] && create)
		s->rmap[dev][cl] = core_zalloc(s, SWAP_CLUSTER_SLOTS * sizeof(uint32_t));
	if (!s->rmap[dev][cl])
		return NULL;
	return &s->rmap[dev][cl][off % SWAP_CLUSTER_SLOTS];
}

static struct rmap_shared *shared_find_locked(struct swapper *s, uint64_t g)
{
	struct rmap_shared *e;

	for (e = s->rmap_shared; e; e = e->next) {
		if (e->gslot == g)
			return e;
	}
	return NULL;
}

static int shared_add(struct rmap_shared *e, uint32_t idx)
{
	if (e->n == e->cap) {
		uint32_t cap = e->cap ? 2 * e->cap : 4;
		uint32_t *o = realloc(e->owners, cap * sizeof(*o));

		if (!o)
			return -ENOMEM;
		e->owners = o;
		e->cap = cap;
	}
	e->owners[e->n++] = idx;
	return 0;
}

/* Page idx (its lock held) now references slot g. */
int rmap_add(struct swapper *s, uint64_t g, uint64_t idx)
{
	struct rmap_shared *e;
	uint32_t *p;
	int r = 0;

	page_lock_assert_held(s, idx);
	lock_mutex(&s->rmap_lock, LK_RMAP);
	p = entry_locked(s, g, true);
	if (!p) {
		r = -ENOMEM;
	} else if (*p == 0) {
		*p = (uint32_t)idx + 1;
		s->rmap_cnt[gslot_dev(g)][gslot_off(g) / SWAP_CLUSTER_SLOTS]++;
	} else if (*p != RMAP_SHARED) {
		e = core_zalloc(s, sizeof(*e));
		if (!e || shared_add(e, *p - 1) < 0 || shared_add(e, (uint32_t)idx) < 0) {
			if (e)
				free(e->owners);
			free(e);
			r = -ENOMEM;
		} else {
			e->gslot = g;
			e->next = s->rmap_shared;
			s->rmap_shared = e;
			*p = RMAP_SHARED;
		}
	} else {
		r = shared_add(shared_find_locked(s, g), (uint32_t)idx);
	}
	unlock_mutex(&s->rmap_lock, LK_RMAP);
	return r;
}

/* A slot of g's cluster lost its last owner: free the cluster's table when
 * no slot in it has one (rmap memory follows the slots in use).  rmap_lock
 * held. */
static void cluster_put_locked(struct swapper *s, uint64_t g)
{
	unsigned int dev = gslot_dev(g);
	uint64_t cl = gslot_off(g) / SWAP_CLUSTER_SLOTS;

	if (--s->rmap_cnt[dev][cl] == 0) {
		free(s->rmap[dev][cl]);
		s->rmap[dev][cl] = NULL;
	}
}

/* Page idx (its lock held) no longer references slot g. */
void rmap_del(struct swapper *s, uint64_t g, uint64_t idx)
{
	struct rmap_shared **pp, *e;
	uint32_t *p, i;

	page_lock_assert_held(s, idx);
	lock_mutex(&s->rmap_lock, LK_RMAP);
	p = entry_locked(s, g, false);
	if (p && *p == (uint32_t)idx + 1) {
		*p = 0;
		cluster_put_locked(s, g);
	} else if (p && *p == RMAP_SHARED) {
		for (pp = &s->rmap_shared; (e = *pp); pp = &e->next) {
			if (e->gslot == g)
				break;
		}
		for (i = 0; e && i < e->n; i++) {
			if (e->owners[i] == (uint32_t)idx) {
				e->owners[i] = e->owners[--e->n];
				break;
			}
		}
		if (e && e->n <= 1) {
			*p = e->n ? e->owners[0] + 1 : 0;
			*pp = e->next;
			free(e->owners);
			free(e);
			if (!*p)
				cluster_put_locked(s, g);
		}
	}
	unlock_mutex(&s->rmap_lock, LK_RMAP);
}

/* Owners of slot g into out[0..max); returns how many there are. */
unsigned int rmap_owners(struct swapper *s, uint64_t g, uint64_t *out,
			 unsigned int max)
{
	struct rmap_shared *e;
	unsigned int n = 0, i;
	uint32_t *p;

	lock_mutex(&s->rmap_lock, LK_RMAP);
	p = entry_locked(s, g, false);
	if (p && *p && *p != RMAP_SHARED) {
		if (max)
			out[0] = *p - 1;
		n = 1;
	} else if (p && *p == RMAP_SHARED && (e = shared_find_locked(s, g))) {
		for (i = 0; i < e->n; i++) {
			if (i < max)
				out[i] = e->owners[i];
		}
		n = e->n;
	}
	unlock_mutex(&s->rmap_lock, LK_RMAP);
	return n;
}

size_t rmap_bytes(struct swapper *s)
{
	size_t b = 0;
	unsigned int d;
	uint64_t i;

	lock_mutex(&s->rmap_lock, LK_RMAP);
	for (d = 0; d < SWAPPER_MAX_DEVS; d++) {
		uint32_t **map = s->rmap[d];
		uint64_t ncl = s->rmap_ncl[d];

		if (!map)
			continue;
		/* (the hook sits between reading the table and walking it:
		 * rmap_dev_fini must not free it in between - rmap_lock) */
		core_hook(s, HOOK_RMAP_BYTES, d);
		b += ncl * (sizeof(void *) + sizeof(uint16_t));
		for (i = 0; i < ncl; i++) {
			if (map[i])
				b += SWAP_CLUSTER_SLOTS * sizeof(uint32_t);
		}
	}
	unlock_mutex(&s->rmap_lock, LK_RMAP);
	return b + (size_t)s->nstaging * sizeof(uint32_t);
}
