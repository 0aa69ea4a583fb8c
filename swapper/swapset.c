/*
 * swapset.c - the swap set: the table of swap devices, slot allocation
 * across them, and a page's reference on a slot.
 *
 * Owns: s->devs[], their priorities, the draining flags and the allocation
 * order, all protected by dev_lock (a rwlock: readers allocate slots and
 * read the table; swapon, swapoff's last step and draining changes write).
 * A device pointer is stable while any page references one of its slots,
 * so swapset_dev() reads it without the lock.
 *
 * A slot's references (swap_dev.c counts them): one per page whose word
 * holds it with PG_SLOT (recorded in the rmap by swapset_bind, dropped by
 * swapset_put), plus one per write in flight to it (writeback.c).
 *
 * Lock order: page lock -> dev_lock -> rmap_lock -> swap_dev's mutex.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hvswap/log.h"
#include "internal.h"

/* Devices usable for new slots, highest priority first.  dev_lock held
 * for writing. */
static void rebuild_order_locked(struct swapper *s)
{
	unsigned int i, j, n = 0;

	for (i = 0; i < SWAPPER_MAX_DEVS; i++) {
		if (!s->devs[i] || s->dev_draining[i])
			continue;
		for (j = n; j > 0 && s->dev_prio[s->dev_order[j - 1]] < s->dev_prio[i]; j--)
			s->dev_order[j] = s->dev_order[j - 1];
		s->dev_order[j] = i;
		n++;
	}
	s->nr_order = n;
}

int swapset_add(struct swapper *s, struct swap_dev *d, int prio)
{
	unsigned int i;
	int r;

	lock_write(&s->dev_lock);
	for (i = 0; i < SWAPPER_MAX_DEVS && s->devs[i]; i++)
		;
	if (i == SWAPPER_MAX_DEVS) {
		unlock_rw(&s->dev_lock);
		return -ENOSPC;
	}
	s->devs[i] = d;
	r = rmap_dev_init(s, i);
	if (r < 0) {
		s->devs[i] = NULL;
		unlock_rw(&s->dev_lock);
		return r;
	}
	s->dev_prio[i] = prio;
	s->dev_draining[i] = false;
	rebuild_order_locked(s);
	unlock_rw(&s->dev_lock);
	return (int)i;
}

void swapset_remove(struct swapper *s, int dev)
{
	lock_write(&s->dev_lock);
	rmap_dev_fini(s, (unsigned int)dev);
	swap_dev_close(s->devs[dev]);
	s->devs[dev] = NULL;
	rebuild_order_locked(s);
	unlock_rw(&s->dev_lock);
}

void swapset_close_all(struct swapper *s)
{
	unsigned int i;

	for (i = 0; i < SWAPPER_MAX_DEVS; i++) {
		rmap_dev_fini(s, i);
		if (s->devs[i])
			swap_dev_close(s->devs[i]);
		s->devs[i] = NULL;
	}
}

int swapset_check(struct swapper *s, int dev)
{
	int r = 0;

	lock_read(&s->dev_lock);
	if (dev < 0 || dev >= SWAPPER_MAX_DEVS || !s->devs[dev])
		r = -ENOENT;
	unlock_rw(&s->dev_lock);
	return r;
}

bool swapset_draining(struct swapper *s, unsigned int dev)
{
	bool r;

	lock_read(&s->dev_lock);
	r = s->dev_draining[dev];
	unlock_rw(&s->dev_lock);
	return r;
}

void swapset_set_draining(struct swapper *s, int dev, bool on)
{
	lock_write(&s->dev_lock);
	s->dev_draining[dev] = on;
	rebuild_order_locked(s);
	unlock_rw(&s->dev_lock);
}

int swapset_alloc(struct swapper *s, int target, unsigned int n,
		  unsigned int *dev, uint64_t *first)
{
	unsigned int i, d;
	int r;

	lock_read(&s->dev_lock);
	if (target >= 0 && target < SWAPPER_MAX_DEVS && s->devs[target] &&
	    !s->dev_draining[target]) {
		r = swap_slot_alloc(s->devs[target], n, first);
		if (r > 0) {
			*dev = (unsigned int)target;
			goto out;
		}
	}
	for (i = 0; i < s->nr_order; i++) {
		d = s->dev_order[i];
		r = swap_slot_alloc(s->devs[d], n, first);
		if (r > 0) {
			*dev = d;
			goto out;
		}
	}
	r = -ENOSPC;
out:
	unlock_rw(&s->dev_lock);
	return r;
}

uint64_t swapset_free_slots(struct swapper *s)
{
	struct swap_dev_usage u;
	uint64_t f = 0;
	unsigned int i;

	lock_read(&s->dev_lock);
	for (i = 0; i < s->nr_order; i++) {
		swap_dev_usage(s->devs[s->dev_order[i]], &u);
		f += u.nslots - 1 - u.used - u.bad;
	}
	unlock_rw(&s->dev_lock);
	return f;
}

void swapset_bind(struct swapper *s, uint64_t idx, uint64_t g)
{
	page_lock_assert_held(s, idx);
	if (rmap_add(s, g, idx) < 0)
		atomic_store(&s->rmap_lost, true);  /* reported in stats */
}

void swapset_put(struct swapper *s, uint64_t idx, uint64_t g)
{
	page_lock_assert_held(s, idx);
	rmap_del(s, g, idx);
	swap_slot_put(swapset_dev(s, g), gslot_off(g));
}

size_t swapset_metadata_bytes(struct swapper *s)
{
	size_t b = 0;
	unsigned int i;

	lock_read(&s->dev_lock);
	for (i = 0; i < SWAPPER_MAX_DEVS; i++) {
		if (s->devs[i])
			b += swap_dev_metadata_bytes(s->devs[i]);
	}
	unlock_rw(&s->dev_lock);
	return b;
}

int swapper_swapon(struct swapper *s, const char *path, uint64_t size, int prio)
{
	struct swap_dev_config dc = {
		.path = path, .tmpdir = s->cfg.tmpdir, .size = size, .prio = prio,
		.allow_buffered = s->cfg.allow_buffered,
	};
	struct swap_dev *d;
	int r;

	if (atomic_load(&s->cancelled))
		return -ECANCELED;
	r = swap_dev_open(&dc, &d);
	if (r < 0)
		return r;
	r = swapset_add(s, d, prio);
	if (r < 0) {
		swap_dev_close(d);
		return r;
	}
	log_info("swapon: %s as device %d (priority %d)", swap_dev_path(d), r, prio);
	core_wake_reclaim(s);   /* room again, if swap was full */
	return r;
}

int swapper_dev_lookup(struct swapper *s, const char *name)
{
	unsigned int i;
	int r = -ENOENT;

	if (name[0] == '#') {
		char *end;
		long v = strtol(name + 1, &end, 10);

		if (*end || v < 0 || v >= SWAPPER_MAX_DEVS)
			return -ENOENT;
		return swapset_check(s, (int)v) < 0 ? -ENOENT : (int)v;
	}
	lock_read(&s->dev_lock);
	for (i = 0; i < SWAPPER_MAX_DEVS; i++) {
		if (s->devs[i] && !strcmp(swap_dev_path(s->devs[i]), name)) {
			r = (int)i;
			break;
		}
	}
	unlock_rw(&s->dev_lock);
	return r;
}
