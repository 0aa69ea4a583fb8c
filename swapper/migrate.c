/*
 * migrate.c - swap devices at run time: swapon, swapoff, live migration of
 * swapped pages between devices (tiers), and compaction.
 *
 * Moving one page that lives on device `from` (found through the rmap, then
 * re-checked under its page lock, as in rmap_walk_*()):
 *   SWAPPED   read it (a normal READING state, tagged `mig`); at completion
 *             the data goes to a staging buffer and the page becomes STAGED
 *             with no slot - the old slot is dropped - and is queued for the
 *             reclaim thread, which writes it to the target device like any
 *             eviction.  A fault arriving meanwhile finds READING/STAGED and
 *             is served exactly as usual (PG_WAITER makes the read complete
 *             into the guest instead of staging).
 *   RESIDENT  holds a claim on the slot (clean, write-protected): drop the
 *             claim; the page is simply dirty from now on.
 *   STAGED / READING (other I/O in flight)   left for the next pass.
 *   PINNED    pinned pages are resident; only their claim is dropped.
 * Passes repeat until the device holds nothing more to move (swapoff) or a
 * pass finds nothing (migrate/compact).  A draining device takes no new
 * slots, so eviction never refills it.
 *
 * Locking: dev_lock (rwlock) protects the device table shape; swapon and the
 * final step of swapoff take it for writing.  Order: page lock -> dev_lock
 * is never needed (slot_dev() reads a device that cannot go away while a
 * page references one of its slots).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hvswap/log.h"
#include "internal.h"

#define MIG_MAX_PASSES 64

static void rebuild_order(struct swapper *s)
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

int swapper_dev_add(struct swapper *s, struct swap_dev *d, int prio)
{
	unsigned int i;
	int r;

	pthread_rwlock_wrlock(&s->dev_lock);
	for (i = 0; i < SWAPPER_MAX_DEVS && s->devs[i]; i++)
		;
	if (i == SWAPPER_MAX_DEVS) {
		pthread_rwlock_unlock(&s->dev_lock);
		return -ENOSPC;
	}
	s->devs[i] = d;
	r = rmap_dev_init(s, i);
	if (r < 0) {
		s->devs[i] = NULL;
		pthread_rwlock_unlock(&s->dev_lock);
		return r;
	}
	s->dev_prio[i] = prio;
	s->dev_draining[i] = false;
	if (i >= s->nr_devs)
		s->nr_devs = i + 1;
	rebuild_order(s);
	pthread_rwlock_unlock(&s->dev_lock);
	rc_kick_force(s);
	return (int)i;
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
	r = swapper_dev_add(s, d, prio);
	if (r < 0)
		swap_dev_close(d);
	else
		log_info("swapon: %s as device %d (priority %d)", swap_dev_path(d), r, prio);
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
		pthread_rwlock_rdlock(&s->dev_lock);
		r = s->devs[v] ? (int)v : -ENOENT;
		pthread_rwlock_unlock(&s->dev_lock);
		return r;
	}
	pthread_rwlock_rdlock(&s->dev_lock);
	for (i = 0; i < SWAPPER_MAX_DEVS; i++) {
		if (s->devs[i] && !strcmp(swap_dev_path(s->devs[i]), name)) {
			r = (int)i;
			break;
		}
	}
	pthread_rwlock_unlock(&s->dev_lock);
	return r;
}

struct mig_item {
	uint64_t idx;
	uint64_t g;
};

static int cmp_item(const void *a, const void *b)
{
	const struct mig_item *x = a, *y = b;

	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Every (page, slot) pair of device `dev`, from the rmap. */
static size_t collect(struct swapper *s, unsigned int dev, struct mig_item **out)
{
	uint64_t nslots = swap_dev_nslots(s->devs[dev]), off, own[16];
	size_t n = 0, cap = 0;
	struct mig_item *v = NULL;
	unsigned int k, m;

	for (off = 1; off < nslots; off++) {
		uint64_t g = gslot(dev, off);

		if (!swap_slot_count(s->devs[dev], off) ||
		    swap_slot_count(s->devs[dev], off) == SWAP_SLOT_BAD)
			continue;
		m = rmap_owners(s, g, own, 16);
		for (k = 0; k < m && k < 16; k++) {
			if (n == cap) {
				struct mig_item *t;

				cap = cap ? 2 * cap : 1024;
				t = realloc(v, cap * sizeof(*v));
				if (!t)
					goto out;
				v = t;
			}
			v[n++] = (struct mig_item){ own[k], g };
		}
	}
out:
	*out = v;
	return n;
}

/* Start moving one page off its slot g.  Returns 1 if work was started. */
static int move_one(struct swapper *s, uint64_t idx, uint64_t g, int to)
{
	pthread_mutex_t *l = page_lock(s, idx);
	uint64_t w;
	int r = 0;

	pthread_mutex_lock(l);
	w = atomic_load(&s->pages[idx]);
	if (!(w & PG_SLOT) || pg_slot(w) != g)
		goto out;
	switch (pg_state(w)) {
	case PS_RESIDENT:
		page_slot_drop(s, idx, g);
		atomic_store(&s->pages[idx], w & ~(PG_SLOT | PG_WP));
		r = 2;
		break;
	case PS_SWAPPED:
		r = fault_start_migration(s, idx, w, to);
		if (r == -EAGAIN) {
			pthread_mutex_unlock(l);
			return -EAGAIN;
		}
		r = r == 0;
		break;
	default:
		break;          /* I/O in flight: next pass */
	}
out:
	pthread_mutex_unlock(l);
	return r;
}

/* Wait (bounded) until at most `max` migration reads are in flight and, with
 * max == 0, the pages they staged have been handed to the writer.  Other
 * I/O (guest faults, evictions, a read parked by a test) is not waited for:
 * pages it holds are simply visited again by the next pass. */
static void wait_mig(struct swapper *s, uint64_t max)
{
	struct timespec ts = { 0, 200000 };
	int i;

	for (i = 0; i < 50000 && !atomic_load(&s->cancelled); i++) {
		if (atomic_load(&s->c.mig_reads) <= max && (max || !mig_pending(s)))
			return;
		nanosleep(&ts, NULL);
	}
}

static int64_t migrate_passes(struct swapper *s, int from, int to, bool sorted,
			      bool until_empty)
{
	uint64_t mig0 = atomic_load(&s->c.migrated);
	int64_t moved = 0;
	unsigned int pass;

	for (pass = 0; pass < MIG_MAX_PASSES; pass++) {
		struct mig_item *v;
		size_t n, i;
		int64_t started = 0;

		if (atomic_load(&s->cancelled) || atomic_load(&s->fatal_sent))
			return -ECANCELED;
		n = collect(s, (unsigned int)from, &v);
		if (!v && n)
			return -ENOMEM;
		if (sorted && n)
			qsort(v, n, sizeof(*v), cmp_item);
		for (i = 0; i < n && !atomic_load(&s->cancelled); i++) {
			int r;

			/* Leave most of the I/O queue to the guest's faults. */
			wait_mig(s, s->io->queue_depth / 4);
			r = move_one(s, v[i].idx, v[i].g, to);
			if (r == -EAGAIN) {     /* no buffer / queue full */
				wait_mig(s, 0);
				r = move_one(s, v[i].idx, v[i].g, to);
			}
			started += r > 0;
			moved += r == 2;        /* a claim dropped, no I/O */
		}
		free(v);
		wait_mig(s, 0);
		if (!started && until_empty) {
			struct timespec ts = { 0, 2000000 };

			nanosleep(&ts, NULL);   /* only I/O in flight is left */
		}
		if (until_empty) {
			struct swap_dev_usage u;

			swap_dev_usage(s->devs[from], &u);
			if (u.used == 0 && !atomic_load(&s->writes_inflight))
				return moved + (int64_t)(atomic_load(&s->c.migrated) - mig0);
		} else if (!started || sorted) {
			return moved + (int64_t)(atomic_load(&s->c.migrated) - mig0);
		}
	}
	return until_empty ? -EBUSY : moved + (int64_t)(atomic_load(&s->c.migrated) - mig0);
}

static void set_draining(struct swapper *s, int dev, bool on)
{
	pthread_rwlock_wrlock(&s->dev_lock);
	s->dev_draining[dev] = on;
	rebuild_order(s);
	pthread_rwlock_unlock(&s->dev_lock);
}

/* One migrate/compact/swapoff at a time; waiting gives up on cancel. */
static int op_lock(struct swapper *s)
{
	struct timespec ts = { 0, 1000000 };

	while (pthread_mutex_trylock(&s->mig_op_lock)) {
		if (atomic_load(&s->cancelled))
			return -ECANCELED;
		nanosleep(&ts, NULL);
	}
	return 0;
}

static int check_dev(struct swapper *s, int dev)
{
	int r = 0;

	pthread_rwlock_rdlock(&s->dev_lock);
	if (dev < 0 || dev >= SWAPPER_MAX_DEVS || !s->devs[dev])
		r = -ENOENT;
	pthread_rwlock_unlock(&s->dev_lock);
	return r;
}

int64_t swapper_migrate(struct swapper *s, int from, int to)
{
	int64_t r;

	if (check_dev(s, from) < 0 || check_dev(s, to) < 0)
		return -ENOENT;
	if (from == to)
		return swapper_compact(s, from);
	if (op_lock(s) < 0)
		return -ECANCELED;
	/* Checked under the op lock: a swapoff may have removed it meanwhile. */
	if (check_dev(s, from) < 0 || check_dev(s, to) < 0) {
		pthread_mutex_unlock(&s->mig_op_lock);
		return -ENOENT;
	}
	/* While its pages leave, `from` takes no new ones: evictions go to
	 * the other devices (else the passes would chase the guest). */
	set_draining(s, from, true);
	r = migrate_passes(s, from, to, false, false);
	set_draining(s, from, false);
	pthread_mutex_unlock(&s->mig_op_lock);
	return r;
}

int64_t swapper_compact(struct swapper *s, int dev)
{
	int64_t r;

	if (check_dev(s, dev) < 0)
		return -ENOENT;
	if (op_lock(s) < 0)
		return -ECANCELED;
	if (check_dev(s, dev) < 0) {
		pthread_mutex_unlock(&s->mig_op_lock);
		return -ENOENT;
	}
	r = migrate_passes(s, dev, dev, true, false);
	pthread_mutex_unlock(&s->mig_op_lock);
	return r;
}

int swapper_swapoff(struct swapper *s, int dev)
{
	int64_t r;

	if (check_dev(s, dev) < 0)
		return -ENOENT;
	if (op_lock(s) < 0)
		return -ECANCELED;
	if (check_dev(s, dev) < 0) {    /* removed while we waited */
		pthread_mutex_unlock(&s->mig_op_lock);
		return -ENOENT;
	}
	set_draining(s, dev, true);
	/* Pages go to the other devices; with none that has room, the
	 * migration reads complete into guest memory instead (mig_to < 0
	 * and no slot to be had: see fault.c). */
	r = migrate_passes(s, dev, -1, false, true);
	if (r < 0) {
		set_draining(s, dev, false);
		pthread_mutex_unlock(&s->mig_op_lock);
		log_warn("swapoff of device %d failed: %s", dev, strerror((int)-r));
		return (int)r;
	}
	pthread_rwlock_wrlock(&s->dev_lock);
	log_info("swapoff: %s removed (%lld pages moved)",
		 swap_dev_path(s->devs[dev]), (long long)r);
	rmap_dev_fini(s, (unsigned int)dev);
	swap_dev_close(s->devs[dev]);
	s->devs[dev] = NULL;
	rebuild_order(s);
	pthread_rwlock_unlock(&s->dev_lock);
	pthread_mutex_unlock(&s->mig_op_lock);
	return 0;
}
