/*
 * migrate.c - moving swapped pages between devices: swapoff, live migration
 * (tiers) and compaction.  This file owns the whole move of a page.
 *
 * Moving one page that lives on device `from` (found by a scan of the page
 * words, then re-checked under its page lock, as try_to_unuse() does):
 *   SWAPPED   read it (swapin_start with mig_read_ops): at completion, unless
 *             a fault waits for the page (PG_WAITER: then it is installed),
 *             the data goes to a staging buffer, the old slot is dropped and
 *             the page becomes STAGED with no slot, queued for the reclaim
 *             thread, which writes it to the target like any eviction
 *             (writeback.c).  A fault arriving meanwhile finds READING or
 *             STAGED and is served exactly as usual.
 *   RESIDENT  holds a claim on the slot (clean, write-protected): drop the
 *             claim; the page is simply dirty from now on.
 *   STAGED / READING (other I/O in flight)   left for the next pass.
 *   PINNED    pinned pages are resident; only their claim is dropped.
 * Passes repeat until the device holds nothing more to move (swapoff) or a
 * pass finds nothing (migrate/compact).  A draining device takes no new
 * slots, so eviction never refills it.
 *
 * Owns: the op_lock (op_mutex + op_cond + op_busy: one migrate/compact/
 * swapoff at a time; a waiter gives up on swapper_cancel), the count of
 * migration reads in flight (c.mig_reads).  Waits are on the progress
 * event (core.c) and report what they wait for when they stall.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hvswap/log.h"
#include "internal.h"

#define MIG_MAX_PASSES 64
#define MIG_STALL_MS 10000

void migrate_init(struct swapper *s)
{
	pthread_mutex_init(&s->op_mutex, NULL);
	pthread_cond_init(&s->op_cond, NULL);
}

void migrate_fini(struct swapper *s)
{
	pthread_cond_destroy(&s->op_cond);
	pthread_mutex_destroy(&s->op_mutex);
}

/* One migrate/compact/swapoff at a time; waiting gives up on cancel. */
static int op_lock(struct swapper *s)
{
	int r = 0;

	lock_mutex(&s->op_mutex, LK_LEAF);
	while (s->op_busy && !atomic_load(&s->cancelled))
		pthread_cond_wait(&s->op_cond, &s->op_mutex);
	if (atomic_load(&s->cancelled))
		r = -ECANCELED;
	else
		s->op_busy = true;
	unlock_mutex(&s->op_mutex, LK_LEAF);
	return r;
}

static void op_unlock(struct swapper *s)
{
	lock_mutex(&s->op_mutex, LK_LEAF);
	s->op_busy = false;
	pthread_cond_signal(&s->op_cond);
	unlock_mutex(&s->op_mutex, LK_LEAF);
}

void migrate_cancel(struct swapper *s)
{
	lock_mutex(&s->op_mutex, LK_LEAF);
	pthread_cond_broadcast(&s->op_cond);
	unlock_mutex(&s->op_mutex, LK_LEAF);
}

/*
 * A migration read completed and no fault waits: move the data to a staging
 * buffer, drop the old slot and queue the page to be written to the target
 * device.  Page lock held.  -EAGAIN when no staging buffer or queue entry
 * can be had (swapin.c then installs the page into the guest: never lost).
 */
static int mig_take(struct swapper *s, struct rd *rd, uint64_t w)
{
	uint32_t b;

	page_lock_assert_held(s, rd->idx);
	if (buf_stage_get_run(s, 1, &b) < 0)
		return -EAGAIN;
	/* With UFFDIO_MOVE the staging area is registered with the uffd (a
	 * MOVE destination): fill an empty buffer with UFFDIO_COPY, never by
	 * touching it.  Without MOVE (memfd memory, old kernels) it is plain
	 * memory, which UFFDIO_COPY refuses: copy. */
	if (!s->use_move)
		memcpy(buf_stage_ptr(s, b), buf_bounce_ptr(s, rd->bounce), s->psz);
	else if (uffd_copy(s->uffd, buf_stage_ptr(s, b), buf_bounce_ptr(s, rd->bounce),
			   s->psz, false, true) < 0) {
		buf_stage_put(s, b);
		return -EAGAIN;
	}
	if (wb_queue_migrated(s, rd->idx, b, rd->arg) < 0) {
		buf_stage_release_run(s, b, 1);  /* filled: empty it again */
		return -EAGAIN;
	}
	if (w & PG_SLOT)
		swapset_put(s, rd->idx, pg_slot(w));
	s->stage_owner[b] = (uint32_t)rd->idx;
	atomic_store(&s->pages[rd->idx], pg_make(PS_STAGED, 0, b, 0));
	atomic_fetch_add(&s->c.staged, 1);
	return 0;
}

static void mig_end(struct swapper *s, struct rd *rd)
{
	(void)rd;
	atomic_fetch_sub(&s->c.mig_reads, 1);
	core_progress(s);
}

static const struct rd_ops mig_read_ops = { .take = mig_take, .end = mig_end };

struct mig_item {
	uint64_t idx;
	uint64_t g;
};

static int cmp_item(const void *a, const void *b)
{
	const struct mig_item *x = a, *y = b;

	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Append (idx, g) to v (growing it); false on allocation failure (v is
 * freed then). */
static bool item_add(struct swapper *s, struct mig_item **v, size_t *n,
		     size_t *cap, uint64_t idx, uint64_t g)
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 1024;
		struct mig_item *t = core_realloc(s, *v, c * sizeof(*t));

		if (!t) {
			free(*v);
			*v = NULL;
			return false;
		}
		*v = t;
		*cap = c;
	}
	(*v)[(*n)++] = (struct mig_item){ idx, g };
	return true;
}

/* Every (page, slot) pair of device `dev` into *out, from the page words
 * (what the kernel's try_to_unuse does with page tables): a page's word
 * names the slot it holds, shared slots included, so one pass over the
 * 8-byte words finds every owner without a per-slot reverse map.  Read
 * without page locks: migrate_page() re-checks each under its lock.
 * Returns the count or -ENOMEM. */
static int64_t collect(struct swapper *s, unsigned int dev, struct mig_item **out)
{
	struct mig_item *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t i;

	for (i = 0; i < s->npages; i++) {
		uint64_t w = atomic_load(&s->pages[i]);

		if (!pg_holds_slot(w) || gslot_dev(pg_slot(w)) != dev)
			continue;
		if (!item_add(s, &v, &n, &cap, i, pg_slot(w))) {
			*out = NULL;
			return -ENOMEM;
		}
	}
	*out = v;
	return (int64_t)n;
}

/* Start moving one page off its slot g.  Returns 1 if a read was started,
 * 2 if only a claim was dropped, 0 if nothing was to do, -EAGAIN when no
 * buffer or queue room. */
static int migrate_page(struct swapper *s, uint64_t idx, uint64_t g, int to)
{
	uint64_t w;
	int r = 0;

	page_lock(s, idx);
	w = atomic_load(&s->pages[idx]);
	if (!pg_holds_slot(w) || pg_slot(w) != g)
		goto out;
	switch (pg_state(w)) {
	case PS_RESIDENT:
		swapset_put(s, idx, g);
		atomic_store(&s->pages[idx], w & ~(PG_SLOT | PG_WP));
		r = 2;
		break;
	case PS_SWAPPED:
		atomic_fetch_add(&s->c.mig_reads, 1);
		r = swapin_start(s, idx, w, &mig_read_ops, to);
		if (r < 0)
			atomic_fetch_sub(&s->c.mig_reads, 1);
		else
			r = 1;
		break;
	default:
		break;          /* I/O in flight: next pass */
	}
out:
	page_unlock(s, idx);
	return r;
}

/* Wait until at most `max` migration reads are in flight and, with
 * max == 0, the pages they staged have been handed to the writer.  Other
 * I/O (guest faults, evictions, a read parked by a test) is not waited for:
 * pages it holds are simply visited again by the next pass.  A wait without
 * progress for MIG_STALL_MS says what it waits for and gives up (the pass
 * goes on; the next pass visits what is left). */
static int wait_mig(struct swapper *s, uint64_t max)
{
	uint64_t gen;

	for (;;) {
		gen = core_progress_gen(s);
		if (atomic_load(&s->cancelled) || atomic_load(&s->fatal_sent))
			return -ECANCELED;
		if (atomic_load(&s->c.mig_reads) <= max &&
		    (max || !wb_migrations_queued(s)))
			return 0;
		if (core_progress_wait(s, gen, MIG_STALL_MS) == -ETIMEDOUT) {
			log_warn("migration: no progress for %d s: %llu migration "
				 "reads in flight (waiting for <= %llu), staged "
				 "pages %s queued for writing",
				 MIG_STALL_MS / 1000,
				 (unsigned long long)atomic_load(&s->c.mig_reads),
				 (unsigned long long)max,
				 wb_migrations_queued(s) ? "still" : "not");
			return -ETIMEDOUT;
		}
	}
}

/* One pass over device `from`: start moving every page found.  Returns the
 * number of reads started (>= 0), adds dropped claims to *moved. */
static int64_t migrate_pass(struct swapper *s, int from, int to, bool sorted,
			    int64_t *moved)
{
	struct mig_item *v;
	int64_t n, i, started = 0;
	int r;

	n = collect(s, (unsigned int)from, &v);
	if (n < 0)
		return n;
	if (sorted && n)
		qsort(v, (size_t)n, sizeof(*v), cmp_item);
	for (i = 0; i < n && !atomic_load(&s->cancelled); i++) {
		/* Leave most of the I/O queue to the guest's faults. */
		wait_mig(s, s->io->queue_depth / 4);
		r = migrate_page(s, v[i].idx, v[i].g, to);
		if (r == -EAGAIN) {     /* no buffer / queue full */
			wait_mig(s, 0);
			r = migrate_page(s, v[i].idx, v[i].g, to);
		}
		started += r > 0;
		*moved += r == 2;       /* a claim dropped, no I/O */
	}
	free(v);
	wait_mig(s, 0);
	return started;
}

/* No slot of dev is referenced - by a page or by a write in flight (a
 * batch holds its own reference on each of its slots). */
static bool dev_empty(struct swapper *s, int dev)
{
	struct swap_dev_usage u;

	swap_dev_usage(s->devs[dev], &u);
	return u.used == 0;
}

static int64_t migrate_passes(struct swapper *s, int from, int to, bool sorted,
			      bool until_empty)
{
	uint64_t mig0 = atomic_load(&s->c.migrated);
	int64_t moved = 0, started;
	unsigned int pass;

	for (pass = 0; pass < MIG_MAX_PASSES; pass++) {
		if (atomic_load(&s->cancelled) || atomic_load(&s->fatal_sent))
			return -ECANCELED;
		started = migrate_pass(s, from, to, sorted, &moved);
		if (started < 0)
			return started;
		if (!started && until_empty && !dev_empty(s, from)) {
			/* only I/O in flight is left (reads, writes, staged
			 * pages): wait for some of it to end, not a fixed
			 * time - a busy guest keeps the queues full */
			core_progress_wait(s, core_progress_gen(s), 100);
		}
		if (until_empty ? dev_empty(s, from) : (!started || sorted))
			return moved + (int64_t)(atomic_load(&s->c.migrated) - mig0);
	}
	return until_empty ? -EBUSY : moved + (int64_t)(atomic_load(&s->c.migrated) - mig0);
}

/* Take the op lock and check the devices again under it (a swapoff may
 * have removed one while we waited). */
static int check2(struct swapper *s, int a, int b)
{
	int r = swapset_check(s, a);

	return r < 0 ? r : swapset_check(s, b);
}

/* -ENOENT (no such device), -EPERM (a disk image of the swap mapper),
 * -ECANCELED. */
static int op_begin(struct swapper *s, int a, int b)
{
	int r = check2(s, a, b);

	if (r < 0)
		return r;
	if (op_lock(s) < 0)
		return -ECANCELED;
	r = check2(s, a, b);
	if (r < 0)
		op_unlock(s);
	return r;
}

int64_t swapper_migrate(struct swapper *s, int from, int to)
{
	int64_t r;

	r = check2(s, from, to);
	if (r < 0)
		return r;
	if (from == to)
		return swapper_compact(s, from);
	r = op_begin(s, from, to);
	if (r < 0)
		return r;
	/* While its pages leave, `from` takes no new ones: evictions go to
	 * the other devices (else the passes would chase the guest). */
	swapset_set_draining(s, from, true);
	r = migrate_passes(s, from, to, false, false);
	swapset_set_draining(s, from, false);
	op_unlock(s);
	return r;
}

int64_t swapper_compact(struct swapper *s, int dev)
{
	int64_t r = op_begin(s, dev, dev);

	if (r < 0)
		return r;
	r = migrate_passes(s, dev, dev, true, false);
	op_unlock(s);
	return r;
}

int swapper_swapoff(struct swapper *s, int dev)
{
	int64_t r = op_begin(s, dev, dev);

	if (r < 0)
		return (int)r;
	swapset_set_draining(s, dev, true);
	/* Pages go to the other devices; with none that has room, the
	 * migration reads complete into guest memory instead (no slot to be
	 * had: writeback.c restores them). */
	r = migrate_passes(s, dev, -1, false, true);
	if (r < 0) {
		swapset_set_draining(s, dev, false);
		op_unlock(s);
		log_warn("swapoff of device %d failed: %s", dev, strerror((int)-r));
		return (int)r;
	}
	log_info("swapoff: %s removed (%lld pages moved)",
		 swap_dev_path(s->devs[dev]), (long long)r);
	core_hook(s, HOOK_SWAPOFF_FINI, (uint64_t)dev);
	swapset_remove(s, dev);
	op_unlock(s);
	return 0;
}
