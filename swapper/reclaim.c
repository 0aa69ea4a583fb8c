/*
 * reclaim.c - eviction: the reclaim thread, write batching, write completion.
 *
 * A round: the policy proposes victims; each is re-checked under its page
 * lock and taken out of the guest ATOMICALLY - UFFDIO_MOVE into the staging
 * area (a racing guest write either lands before the move, and is moved with
 * the page, or faults after it and is served from staging) - then:
 *   clean (WP-installed and still holding its slot)  -> drop, no I/O
 *   all zeros                                        -> ZERO, no I/O
 *   otherwise                                        -> STAGED, written in a
 *     batch: contiguous slots from swap_slot_alloc(), one vectored write.
 * Clean pages are dropped with MADV_DONTNEED instead of a move: they are
 * write-protected, so a write would trap to the fault thread, which needs the
 * page lock we hold.
 *
 * Write completion (engine thread), per page, under its lock:
 *   ok,  page still STAGED           -> SWAPPED (the slot is its copy)
 *   ok,  page faulted back meanwhile -> nothing (a WP copy keeps the slot)
 *   err, page still STAGED           -> keep it staged, queue a retry on a
 *                                       new slot; the failed slots retire
 *   err, page faulted back           -> it loses its claim on the slot
 * The batch holds its own reference on each slot while the write is in
 * flight, so a slot is never reused under an I/O.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "hvswap/log.h"
#include "internal.h"

#define MAX_SELECT 256

static uint64_t used_pages(struct swapper *s)
{
	return atomic_load(&s->c.resident) + atomic_load(&s->c.staged);
}

void rc_kick(struct swapper *s)
{
	uint64_t low = atomic_load(&s->low_wmark);

	if (!low || used_pages(s) < low || atomic_load(&s->rc_wanted))
		return;
	atomic_store(&s->rc_wanted, true);
	pthread_mutex_lock(&s->rc_lock);
	pthread_cond_signal(&s->rc_cond);
	pthread_mutex_unlock(&s->rc_lock);
}

static bool page_is_zero(const void *p)
{
	const uint64_t *q = p;
	unsigned int i;

	for (i = 0; i < PAGE_SIZE_4K / 8; i += 8) {
		if (q[i] | q[i + 1] | q[i + 2] | q[i + 3] | q[i + 4] | q[i + 5] |
		    q[i + 6] | q[i + 7])
			return false;
	}
	return true;
}

/* Empty staging buffers [b, b+n) (a MOVE needs an empty destination) and
 * free them: one madvise for the run. */
static void release_staging_run(struct swapper *s, uint32_t b, uint32_t n)
{
	uint32_t i;

	madvise(staging_ptr(s, b), (size_t)n * PAGE_SIZE_4K, MADV_DONTNEED);
	for (i = 0; i < n; i++)
		staging_put(s, b + i);
	pthread_mutex_lock(&s->rc_lock);
	pthread_cond_broadcast(&s->rc_done);
	pthread_mutex_unlock(&s->rc_lock);
}

static void release_staging(struct swapper *s, uint32_t b)
{
	release_staging_run(s, b, 1);
}

/* Pick the device for new slots: `target` if it is usable (migration),
 * else the highest priority device with room; draining devices never. */
static int alloc_slots(struct swapper *s, int target, unsigned int n,
		       unsigned int *dev, uint64_t *first)
{
	unsigned int i, d;
	int r = -ENOSPC;

	pthread_rwlock_rdlock(&s->dev_lock);
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
	pthread_rwlock_unlock(&s->dev_lock);
	return r;
}

static uint64_t free_slots(struct swapper *s)
{
	struct swap_dev_usage u;
	uint64_t f = 0;
	unsigned int i;

	pthread_rwlock_rdlock(&s->dev_lock);
	for (i = 0; i < s->nr_order; i++) {
		swap_dev_usage(s->devs[s->dev_order[i]], &u);
		f += u.nslots - 1 - u.used - u.bad;
	}
	pthread_rwlock_unlock(&s->dev_lock);
	return f;
}

static void wb_done(struct io_req *req, ssize_t res);
static void wait_progress(struct swapper *s, long ms);

/* writes_inflight up/down, with the busy-time accounting at 0 <-> 1. */
static void writes_enter(struct swapper *s)
{
	pthread_mutex_lock(&s->wbusy_lock);
	if (atomic_fetch_add(&s->writes_inflight, 1) == 0)
		s->wbusy_since_ns = io_now_ns();
	pthread_mutex_unlock(&s->wbusy_lock);
}

static void writes_exit(struct swapper *s)
{
	pthread_mutex_lock(&s->wbusy_lock);
	if (atomic_fetch_sub(&s->writes_inflight, 1) == 1)
		s->write_busy_ns += io_now_ns() - s->wbusy_since_ns;
	pthread_mutex_unlock(&s->wbusy_lock);
}

uint64_t write_busy_ns(struct swapper *s)
{
	uint64_t t;

	pthread_mutex_lock(&s->wbusy_lock);
	t = s->write_busy_ns;
	if (atomic_load(&s->writes_inflight))
		t += io_now_ns() - s->wbusy_since_ns;
	pthread_mutex_unlock(&s->wbusy_lock);
	return t;
}

/* Put a staged page back into the guest (no slot could be had). */
static void move_back(struct swapper *s, uint64_t idx, uint32_t b)
{
	pthread_mutex_t *l = page_lock(s, idx);
	uint64_t w;

	pthread_mutex_lock(l);
	w = atomic_load(&s->pages[idx]);
	if (pg_state(w) == PS_STAGED && pg_buf(w) == b) {
		if (uffd_copy(s->uffd, page_host(s, idx), staging_ptr(s, b),
			      PAGE_SIZE_4K, false, false) < 0) {
			pthread_mutex_unlock(l);
			swapper_fatal(s, -EIO, "cannot restore staged gfn 0x%llx",
				      (unsigned long long)page_gfn(s, idx));
			return;
		}
		atomic_store(&s->pages[idx], pg_make(PS_RESIDENT, PG_REF, 0, 0));
		atomic_fetch_sub(&s->c.staged, 1);
		resident_inc(s);
		atomic_fetch_add(&s->c.evict_moveback, 1);
	}
	pthread_mutex_unlock(l);
	release_staging(s, b);
}

/*
 * Write staged pages ents[0..n) in batches of contiguous slots.  Pages that
 * were faulted back before their batch is built are skipped and their staging
 * buffers released.  Returns the number of pages left unwritten for lack of
 * slots (they were moved back into the guest).
 */
static unsigned int write_staged(struct swapper *s, struct retry_ent *ents,
				 unsigned int n)
{
	unsigned int i = 0, k, dev, left = 0;
	uint64_t first;
	int got, sr;

	while (i < n) {
		struct wbatch *wb;
		unsigned int want = n - i;

		if (want > s->cfg.write_batch)
			want = s->cfg.write_batch;
		for (k = 1; k < want && ents[i + k].dev == ents[i].dev; k++)
			;
		want = k;       /* one target device per batch */
		got = alloc_slots(s, ents[i].dev, want, &dev, &first);
		if (got < 0) {
			for (; i < n; i++, left++)
				move_back(s, ents[i].idx, ents[i].buf);
			break;
		}
		wb = calloc(1, sizeof(*wb));
		if (!wb) {
			for (k = 0; k < (unsigned int)got; k++)
				swap_slot_put(s->devs[dev], first + k);
			for (; i < n; i++, left++)
				move_back(s, ents[i].idx, ents[i].buf);
			break;
		}
		wb->s = s;
		wb->dev = dev;
		wb->slot = first;
		for (k = 0; k < (unsigned int)got; k++, i++) {
			pthread_mutex_t *l = page_lock(s, ents[i].idx);
			uint64_t g = gslot(dev, first + k), w;

			wb->idx[k] = ents[i].idx;
			wb->buf[k] = ents[i].buf;
			wb->iov[k].iov_base = staging_ptr(s, ents[i].buf);
			wb->iov[k].iov_len = PAGE_SIZE_4K;
			pthread_mutex_lock(l);
			w = atomic_load(&s->pages[ents[i].idx]);
			if (pg_state(w) == PS_STAGED && pg_buf(w) == ents[i].buf) {
				/* The page's reference is the one alloc gave;
				 * the batch takes another for the I/O. */
				swap_slot_dup(s->devs[dev], first + k);
				page_slot_take(s, ents[i].idx, g);
				atomic_store(&s->pages[ents[i].idx],
					     pg_make(PS_STAGED, PG_SLOT, ents[i].buf, g));
				wb->page_ref[k] = true;
			}
			/* else: faulted back already; the data in staging is
			 * still written (keeps the run contiguous) and the
			 * slot is freed at completion. */
			pthread_mutex_unlock(l);
		}
		wb->n = (unsigned int)got;
		wb->req.op = IO_WRITE;
		wb->req.fd = swap_dev_fd(s->devs[dev]);
		wb->req.off = first * PAGE_SIZE_4K;
		wb->req.iov = wb->iov;
		wb->req.iovcnt = got;
		wb->req.done = wb_done;
		wb->req.priv = wb;
		/* A full engine queue is back-pressure, not a write error:
		 * keep half of it for swap-in reads and wait for room. */
		while (atomic_load(&s->writes_inflight) >= (s->io->queue_depth + 1) / 2 &&
		       !atomic_load(&s->closing))
			wait_progress(s, 1);
		writes_enter(s);
		struct io_req *rq = &wb->req;
		while ((sr = io_engine_submit(s->io, &rq, 1)) == -EAGAIN &&
		       !atomic_load(&s->closing))
			wait_progress(s, 1);
		if (sr != 1) {
			/* Not accepted: no completion will run; fail it here. */
			wb_done(&wb->req, -EIO);
		}
	}
	return left;
}

/* Append to one of the reclaim thread's lists (retry, migration) and wake
 * it.  -ENOMEM leaves the list unchanged. */
static int ent_push(struct swapper *s, struct retry_ent **v, uint32_t *n,
		    uint32_t *cap, struct retry_ent e)
{
	int r = 0;

	pthread_mutex_lock(&s->rc_lock);
	if (*n == *cap) {
		uint32_t c = *cap ? 2 * *cap : 64;
		struct retry_ent *t = realloc(*v, c * sizeof(*t));

		if (!t) {
			r = -ENOMEM;
			goto out;
		}
		*v = t;
		*cap = c;
	}
	(*v)[(*n)++] = e;
	atomic_store(&s->rc_wanted, true);
	pthread_cond_signal(&s->rc_cond);
out:
	pthread_mutex_unlock(&s->rc_lock);
	return r;
}

static void retry_add(struct swapper *s, uint64_t idx, uint32_t b)
{
	/* no page lock held here: move_back may take it */
	if (ent_push(s, &s->retry, &s->nretry, &s->retry_cap,
		     (struct retry_ent){ idx, b, -1 }) < 0)
		move_back(s, idx, b);
}

/* Returns true when the page's staging buffer is to be released (the
 * caller batches those); false when it was queued for a retry. */
static bool wb_page_done(struct wbatch *wb, unsigned int k, bool ok)
{
	struct swapper *s = wb->s;
	uint64_t g = gslot(wb->dev, wb->slot + k), w;
	pthread_mutex_t *l = page_lock(s, wb->idx[k]);
	bool keep_buf = false;

	pthread_mutex_lock(l);
	w = atomic_load(&s->pages[wb->idx[k]]);
	if (pg_state(w) == PS_STAGED && pg_buf(w) == wb->buf[k]) {
		if (ok) {
			atomic_store(&s->pages[wb->idx[k]],
				     pg_make(PS_SWAPPED, PG_SLOT, 0, g));
			atomic_fetch_sub(&s->c.staged, 1);
			atomic_fetch_add(&s->c.evict_written, 1);
		} else {
			if (w & PG_SLOT)
				rmap_del(s, g, wb->idx[k]);
			atomic_store(&s->pages[wb->idx[k]],
				     pg_make(PS_STAGED, 0, wb->buf[k], 0));
			keep_buf = true;
		}
	} else if (!ok && (w & PG_SLOT) && pg_slot(w) == g) {
		/* Faulted back with a claim on the failed slot: drop it. */
		rmap_del(s, g, wb->idx[k]);
		atomic_store(&s->pages[wb->idx[k]], w & ~(PG_SLOT | PG_WP));
	}
	pthread_mutex_unlock(l);
	if (keep_buf)
		retry_add(s, wb->idx[k], wb->buf[k]);
	return !keep_buf;
}

static void wb_done(struct io_req *req, ssize_t res)
{
	struct wbatch *wb = req->priv;
	struct swapper *s = wb->s;
	bool ok = res == (ssize_t)(wb->n * PAGE_SIZE_4K);
	unsigned int k;

	hist_record(&s->write_lat, io_now_ns() - req->submit_ns);
	if (ok) {
		atomic_store(&s->write_fail_streak, 0);
		atomic_fetch_add(&s->c.writes, 1);
		atomic_fetch_add(&s->c.bytes_written, wb->n * PAGE_SIZE_4K);
	} else {
		atomic_fetch_add(&s->c.write_errors, 1);
		log_warn("swap write of %u pages at slot %llu on %s failed (%s): "
			 "slots retired, pages kept in staging and retried",
			 wb->n, (unsigned long long)wb->slot,
			 swap_dev_path(s->devs[wb->dev]),
			 res < 0 ? strerror((int)-res) : "short write");
	}
	/* Staging buffers of a batch are mostly one run (staging_get_run per
	 * evicted run): release them a run at a time, not a page at a time
	 * (one madvise each, ~5 us here: it bounded write-out). */
	{
		uint32_t first = 0, len = 0;

		for (k = 0; k < wb->n; k++) {
			if (!wb_page_done(wb, k, ok))
				continue;       /* queued for a retry: ends the run */
			if (len && wb->buf[k] == first + len) {
				len++;
				continue;
			}
			if (len)
				release_staging_run(s, first, len);
			first = wb->buf[k];
			len = 1;
		}
		if (len)
			release_staging_run(s, first, len);
	}
	/* Drop the batch's (I/O) references.  A failed slot is retired: it is
	 * dead whatever its count, so the page claims dropped above need no
	 * puts of their own. */
	for (k = 0; k < wb->n; k++) {
		if (ok) {
			swap_slot_put(s->devs[wb->dev], wb->slot + k);
		} else {
			swap_slot_retire(s->devs[wb->dev], wb->slot + k);
			atomic_fetch_add(&s->c.slots_retired, 1);
		}
	}
	free(wb);
	writes_exit(s);
	fault_pending_run(s);   /* reads deferred by a full I/O queue */
	pthread_mutex_lock(&s->rc_lock);
	pthread_cond_broadcast(&s->rc_done);
	pthread_mutex_unlock(&s->rc_lock);
}

enum evict_class { EV_SKIP, EV_CLEAN, EV_DIRTY };

static enum evict_class classify(uint64_t w)
{
	if (pg_state(w) != PS_RESIDENT || (w & PG_PINNED))
		return EV_SKIP;
	return (w & PG_WP) && (w & PG_SLOT) ? EV_CLEAN : EV_DIRTY;
}

/* Clean pages [start, start+m): identical to their slots and
 * write-protected, so they are dropped without I/O.  Page locks held. */
static void evict_clean(struct swapper *s, uint64_t start, unsigned int m,
			const uint64_t *w)
{
	unsigned int i;

	madvise(page_host(s, start), m * PAGE_SIZE_4K, MADV_DONTNEED);
	for (i = 0; i < m; i++) {
		atomic_store(&s->pages[start + i],
			     pg_make(PS_SWAPPED, PG_SLOT, 0, pg_slot(w[i])));
		atomic_fetch_sub(&s->c.resident, 1);
	}
	atomic_fetch_add(&s->c.evict_clean, m);
	atomic_fetch_add(&s->kc_drop, m);       /* keep_clean()'s benefit */
}

/* Take [start, start+m) out of the guest into staging [b, b+m).  Returns the
 * number of pages taken (a prefix). */
static unsigned int take_out(struct swapper *s, uint64_t start, unsigned int m,
			     uint32_t b)
{
	void *host = page_host(s, start);
	int64_t moved;
	int r;

	if (s->use_move) {
		moved = uffd_move(s->uffd, staging_ptr(s, b), host, m * PAGE_SIZE_4K, true);
		if (moved < 0) {
			log_warn("UFFDIO_MOVE of gfn 0x%llx+%u failed: %s",
				 (unsigned long long)page_gfn(s, start), m,
				 strerror((int)-moved));
			return 0;
		}
		return (unsigned int)((uint64_t)moved / PAGE_SIZE_4K);
	}
	/* Fallback without MOVE: write-protect first, so a racing guest
	 * write traps (to a fault thread that needs our page locks) instead
	 * of landing after the copy; then copy and drop.  (No DONTWAKE:
	 * the kernel refuses WP|DONTWAKE with EINVAL; protecting wakes no one.) */
	r = uffd_writeprotect(s->uffd, host, m * PAGE_SIZE_4K, true, false);
	if (r < 0) {
		log_warn("write-protect for eviction failed: %s", strerror(-r));
		return 0;
	}
	memcpy(staging_ptr(s, b), host, m * PAGE_SIZE_4K);
	madvise(host, m * PAGE_SIZE_4K, MADV_DONTNEED);
	return m;
}

/* Dirty pages [start, start+m): to staging, then ZERO or STAGED (queued in
 * dirty[]).  Page locks held.  -EAGAIN when staging is full. */
static int evict_dirty(struct swapper *s, uint64_t start, unsigned int m,
		       const uint64_t *w, struct retry_ent *dirty, unsigned int *nd)
{
	unsigned int i, got;
	uint32_t b;

	if (staging_get_run(s, m, &b) < 0)
		return -EAGAIN;
	got = take_out(s, start, m, b);
	for (i = got; i < m; i++)
		staging_put(s, b + i);
	for (i = 0; i < got; i++) {
		uint64_t idx = start + i;

		if (w[i] & PG_SLOT)     /* stale claim (written since): drop */
			page_slot_drop(s, idx, pg_slot(w[i]));
		atomic_fetch_sub(&s->c.resident, 1);
		if (page_is_zero(staging_ptr(s, b + i))) {
			atomic_store(&s->pages[idx], pg_make(PS_ZERO, 0, 0, 0));
			atomic_fetch_add(&s->c.evict_zero, 1);
			release_staging(s, b + i);
			continue;
		}
		atomic_store(&s->pages[idx], pg_make(PS_STAGED, 0, b + i, 0));
		atomic_fetch_add(&s->c.staged, 1);
		s->stage_owner[b + i] = (uint32_t)idx;
		dirty[(*nd)++] = (struct retry_ent){ idx, b + i, -1 };
	}
	return (int)got;
}

/*
 * Evict the contiguous run [first, first+n) (one region, n <= PG_EVICT_RUN,
 * page-lock stripes ascending).  The reclaim thread is the only thread that
 * holds more than one page lock, and it takes them in ascending stripe
 * order, so this cannot deadlock with threads holding one.  Holding the
 * whole run lets one madvise/UFFDIO_MOVE cover it (one KVM invalidation
 * instead of one per page).  Returns pages taken out, or -EAGAIN.
 */
static int evict_run(struct swapper *s, uint64_t first, unsigned int n,
		     struct retry_ent *dirty, unsigned int *nd)
{
	uint64_t w[PG_EVICT_RUN];
	unsigned int k, j;
	int out = 0, r;

	for (k = 0; k < n; k++) {
		pthread_mutex_lock(page_lock(s, first + k));
		w[k] = atomic_load(&s->pages[first + k]);
	}
	for (k = 0; k < n; k = j) {
		enum evict_class c = classify(w[k]);

		for (j = k + 1; j < n && classify(w[j]) == c; j++)
			;
		if (c == EV_CLEAN) {
			evict_clean(s, first + k, j - k, w + k);
			out += (int)(j - k);
		} else if (c == EV_DIRTY) {
			r = evict_dirty(s, first + k, j - k, w + k, dirty, nd);
			if (r < 0) {
				if (!out)
					out = r;
				break;
			}
			out += r;
		}
	}
	for (k = n; k-- > 0;)
		pthread_mutex_unlock(page_lock(s, first + k));
	return out;
}

/* Wait (bounded) until some staging buffer or write completes. */
static void wait_progress(struct swapper *s, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&s->rc_lock);
	if (!s->rc_stop)
		pthread_cond_timedwait(&s->rc_done, &s->rc_lock, &ts);
	pthread_mutex_unlock(&s->rc_lock);
}

static void handle_swap_full(struct swapper *s)
{
	atomic_fetch_add(&s->c.swap_full_events, 1);
	if (s->cfg.on_full == SWAP_FULL_STOP) {
		if (!s->swap_full)
			swapper_fatal(s, -ENOSPC, "swap space is full; stopping "
				      "(--swap-full stop)");
		s->swap_full = true;
		return;
	}
	if (!s->swap_full)
		log_warn("swap space is full: running above the memory limit "
			 "(resident %llu pages, limit %llu)",
			 (unsigned long long)atomic_load(&s->c.resident),
			 (unsigned long long)atomic_load(&s->limit_pages));
	s->swap_full = true;
}

void rc_kick_force(struct swapper *s)
{
	atomic_store(&s->rc_wanted, true);
	pthread_mutex_lock(&s->rc_lock);
	pthread_cond_signal(&s->rc_cond);
	pthread_mutex_unlock(&s->rc_lock);
}

/* Queue a page staged by migration for writing to device `dev` (-1: any).
 * Called with the page's lock held (before it is marked STAGED: the writer
 * takes that lock before looking at the page).  -ENOMEM: not queued. */
int mig_add(struct swapper *s, uint64_t idx, uint32_t b, int dev)
{
	int r = ent_push(s, &s->mig, &s->nmig, &s->mig_cap,
			 (struct retry_ent){ idx, b, dev });

	if (r == 0)
		atomic_fetch_add(&s->c.migrated, 1);
	return r;
}

bool mig_pending(struct swapper *s)
{
	bool r;

	pthread_mutex_lock(&s->rc_lock);
	r = s->nmig != 0;
	pthread_mutex_unlock(&s->rc_lock);
	return r;
}

static int cmp_ent(const void *a, const void *b)
{
	const struct retry_ent *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Write pages staged by migration, grouped by target and in guest-page
 * order (so compaction lays them out sequentially).  Pages that cannot get
 * a slot anywhere go back into guest memory (write_staged's move_back). */
static void drain_migrations(struct swapper *s)
{
	struct retry_ent *ents;
	unsigned int n;

	pthread_mutex_lock(&s->rc_lock);
	ents = s->mig;
	n = s->nmig;
	s->mig = NULL;
	s->nmig = s->mig_cap = 0;
	pthread_mutex_unlock(&s->rc_lock);
	if (!n)
		return;
	qsort(ents, n, sizeof(*ents), cmp_ent);
	write_staged(s, ents, n);
	free(ents);
}

static void drain_retries(struct swapper *s)
{
	struct retry_ent *ents;
	unsigned int n, i;

	pthread_mutex_lock(&s->rc_lock);
	ents = s->retry;
	n = s->nretry;
	s->retry = NULL;
	s->nretry = s->retry_cap = 0;
	pthread_mutex_unlock(&s->rc_lock);
	if (!n)
		return;
	if (++s->write_fail_streak > WRITE_FAIL_LIMIT) {
		log_err("swap writes keep failing: %u pages kept in memory", n);
		for (i = 0; i < n; i++)
			move_back(s, ents[i].idx, ents[i].buf);
	} else {
		write_staged(s, ents, n);
	}
	free(ents);
}

static bool run_breaks(struct swapper *s, uint64_t prev, uint64_t idx,
		       unsigned int len)
{
	return idx != prev + 1 || len == PG_EVICT_RUN ||
	       (idx & (NR_PAGE_LOCKS - 1)) == 0 ||
	       (uint8_t *)page_host(s, idx) != (uint8_t *)page_host(s, prev) + PAGE_SIZE_4K;
}

/* One reclaim round: returns the number of pages taken out of the guest, or
 * -1 when the policy found nothing evictable. */
static int reclaim_round(struct swapper *s, unsigned int want)
{
	uint64_t victims[MAX_SELECT];
	struct retry_ent dirty[MAX_SELECT];
	unsigned int nv, i, len, nd = 0;
	uint64_t fs = free_slots(s);
	int out = 0, r = 0;

	if (want > MAX_SELECT)
		want = MAX_SELECT;
	if (fs < want)
		want = (unsigned int)fs;
	if (!want) {
		handle_swap_full(s);
		return 0;
	}
	s->swap_full = false;
	nv = s->pol->select(s, s->pol_state, victims, want);
	if (!nv)
		return -1;
	for (i = 0; i < nv; i += len) {
		for (len = 1; i + len < nv &&
		     !run_breaks(s, victims[i + len - 1], victims[i + len], len); len++)
			;
		r = evict_run(s, victims[i], len, dirty, &nd);
		if (r == -EAGAIN)
			break;
		out += r;
	}
	if (nd)
		write_staged(s, dirty, nd);
	if (r == -EAGAIN && nd == 0)
		wait_progress(s, 5);
	return out;
}

static bool should_reclaim(struct swapper *s, uint64_t *target)
{
	uint64_t low = atomic_load(&s->low_wmark), used = used_pages(s);
	bool trim;

	pthread_mutex_lock(&s->rc_lock);
	trim = s->rc_trim;
	pthread_mutex_unlock(&s->rc_lock);
	if (trim) {
		*target = 0;
		return atomic_load(&s->c.resident) > 0;
	}
	if (!low || used < low)
		return false;
	*target = low > s->cfg.write_batch ? low - s->cfg.write_batch : 0;
	return true;
}

/* The running trim's generation, 0 if none. */
static uint64_t trim_active(struct swapper *s)
{
	uint64_t g;

	pthread_mutex_lock(&s->rc_lock);
	g = s->rc_trim ? s->trim_gen : 0;
	pthread_mutex_unlock(&s->rc_lock);
	return g;
}

/* Count `n` pages evicted by a round that began under trim generation `gen`
 * against that trim; true when it is done.  A round that began before the
 * trim was asked for is not charged: its pages were not in the trim's
 * budget (resident at the request), and charging them ended trims early. */
static bool trim_spent(struct swapper *s, unsigned int n, uint64_t gen)
{
	bool done = false;

	pthread_mutex_lock(&s->rc_lock);
	if (s->rc_trim && gen == s->trim_gen) {
		s->trim_budget = s->trim_budget > n ? s->trim_budget - n : 0;
		done = s->trim_budget == 0;
	}
	pthread_mutex_unlock(&s->rc_lock);
	return done;
}

static void finish_trim(struct swapper *s)
{
	pthread_mutex_lock(&s->rc_lock);
	if (s->rc_trim) {
		s->rc_trim = false;
		s->trim_done_gen = s->trim_gen;
		pthread_cond_broadcast(&s->rc_done);
	}
	pthread_mutex_unlock(&s->rc_lock);
}

void *reclaim_thread_main(void *arg)
{
	struct swapper *s = arg;
	uint64_t target, tgen;
	bool stuck;

	for (;;) {
		pthread_mutex_lock(&s->rc_lock);
		while (!s->rc_stop && !atomic_load(&s->rc_wanted) && !s->rc_trim &&
		       !s->nretry && !s->nmig)
			pthread_cond_wait(&s->rc_cond, &s->rc_lock);
		if (s->rc_stop) {
			pthread_mutex_unlock(&s->rc_lock);
			break;
		}
		atomic_store(&s->rc_wanted, false);
		pthread_mutex_unlock(&s->rc_lock);

		drain_retries(s);
		drain_migrations(s);
		stuck = false;
		while (should_reclaim(s, &target)) {
			uint64_t used = used_pages(s);
			int got;

			if (used <= target && target)
				break;
			tgen = trim_active(s);
			got = reclaim_round(s, (unsigned int)(used - target > MAX_SELECT ?
						MAX_SELECT : used - target ? used - target : 1));
			/* Migrations and retries queued meanwhile hold staging
			 * buffers: write them after every round.  (Left for the
			 * next cycle, a long trim found staging full of them
			 * and spun without evicting: the stall of issue 5.) */
			drain_retries(s);
			drain_migrations(s);
			if (got < 0 && !stuck) {
				/* A fault may be finishing (the guest is woken
				 * before the page word says RESIDENT): look
				 * once more before calling it unevictable. */
				stuck = true;
				wait_progress(s, 1);
				continue;
			}
			if (got < 0)
				break;          /* nothing evictable (pinned) */
			stuck = false;
			if (trim_spent(s, (unsigned int)got, tgen))
				break;
			/* Caught up: let throttled faults in. */
			while (!fault_throttled(s) && fault_pending_run_one(s, false))
				;
			if (!got) {
				if (s->swap_full) {
					wait_progress(s, 100);
					break;
				}
				if (!atomic_load(&s->c.resident))
					break;
				wait_progress(s, 1);
			}
			pthread_mutex_lock(&s->rc_lock);
			got = s->rc_stop;
			pthread_mutex_unlock(&s->rc_lock);
			if (got)
				break;
		}
		/* Swap full: a trim has done what it can (else it never ends). */
		if (atomic_load(&s->c.resident) == 0 || s->swap_full || stuck ||
		    trim_spent(s, 0, trim_active(s)) || !should_reclaim(s, &target))
			finish_trim(s);
		/* End of a cycle: nobody waits past it, over the limit or not. */
		while (fault_pending_run_one(s, true))
			;
	}
	return NULL;
}
