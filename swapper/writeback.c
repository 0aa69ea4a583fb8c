/*
 * writeback.c - write-out of staged pages: batches of contiguous slots, the
 * write completion, retries after errors, and the queue of pages staged by
 * migration.
 *
 * A batch: slots from swapset_alloc() (contiguous, one device), one
 * vectored write of the pages' staging buffers.  Each page still STAGED
 * when its batch is built binds the slot (its reference); the batch holds
 * a second reference per slot while the write is in flight, so a slot is
 * never reused under an I/O.
 *
 * Completion (engine thread), per page, under its lock:
 *   ok,  page still STAGED           -> SWAPPED (the slot is its copy)
 *   ok,  page faulted back meanwhile -> nothing (a WP copy keeps the slot)
 *   err, page still STAGED           -> stays staged, queued for a retry on a
 *                                       new slot; the failed slots retire
 *   err, page faulted back           -> it loses its claim on the slot
 * Then the batch's staging buffers are released (a run at a time) and its
 * slot references dropped.
 *
 * Seals (seal.h): every page of a batch is sealed before any is bound -
 * its crc32c computed over the staging buffer, or the staging buffer
 * encrypted into the batch's ciphertext buffer (never in place: a fault
 * may copy the plaintext from staging while the write is in flight) - and
 * each bound slot's seal is stored (swapset) before the write is
 * submitted, so a read of the slot can always be checked.  A failed slot's
 * seal goes with the page's claim (swapset_unbind).
 *
 * Owns: wb_lock (leaf) and the retry and migration queues; the pool of
 * ciphertext buffers (wb_lock); writes_inflight and the busy-time
 * accounting (wbusy_lock, leaf).  Only the reclaim thread
 * builds batches (wb_write, wb_write_queued); completions run on the I/O
 * engine's thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hvswap/log.h"
#include "hvswap/ratelimit.h"
#include "internal.h"
#include "seal.h"

#define CT_KEEP 8               /* ciphertext buffers kept for reuse */

struct wbatch {
	struct io_req req;
	struct swapper *s;
	unsigned int dev;
	uint64_t slot;          /* first device slot */
	unsigned int n;
	uint64_t idx[IO_MAX_IOV];
	uint32_t buf[IO_MAX_IOV];
	struct iovec iov[IO_MAX_IOV];
	struct seal_entry seal[IO_MAX_IOV];
	uint8_t *ct;            /* encryption: the pages as written */
};

void wb_fini(struct swapper *s)
{
	free(s->retry);
	free(s->mig);
	s->retry = s->mig = NULL;
	while (s->nct_free)
		free(s->ct_free[--s->nct_free]);
	free(s->ct_free);
	s->ct_free = NULL;
}

/* A ciphertext buffer of write_batch pages (O_DIRECT-aligned): reused from
 * the pool, else new.  NULL when out of memory. */
static uint8_t *ct_get(struct swapper *s)
{
	uint8_t *b = NULL;

	lock_mutex(&s->wb_lock, LK_LEAF);
	if (s->nct_free)
		b = s->ct_free[--s->nct_free];
	unlock_mutex(&s->wb_lock, LK_LEAF);
	if (!b)
		b = aligned_alloc(s->psz, s->cfg.write_batch * s->psz);
	return b;
}

static void ct_put(struct swapper *s, uint8_t *b)
{
	if (!b)
		return;
	lock_mutex(&s->wb_lock, LK_LEAF);
	if (!s->ct_free)
		s->ct_free = calloc(CT_KEEP, sizeof(*s->ct_free));
	if (s->ct_free && s->nct_free < CT_KEEP) {
		s->ct_free[s->nct_free++] = b;
		b = NULL;
	}
	unlock_mutex(&s->wb_lock, LK_LEAF);
	free(b);
}

/* writes_inflight up/down, with the busy-time accounting at 0 <-> 1. */
static void writes_enter(struct swapper *s)
{
	lock_mutex(&s->wbusy_lock, LK_LEAF);
	if (atomic_fetch_add(&s->writes_inflight, 1) == 0)
		s->wbusy_since_ns = io_now_ns();
	unlock_mutex(&s->wbusy_lock, LK_LEAF);
}

static void writes_exit(struct swapper *s)
{
	lock_mutex(&s->wbusy_lock, LK_LEAF);
	if (atomic_fetch_sub(&s->writes_inflight, 1) == 1)
		s->write_busy_ns += io_now_ns() - s->wbusy_since_ns;
	unlock_mutex(&s->wbusy_lock, LK_LEAF);
}

uint64_t wb_busy_ns(struct swapper *s)
{
	uint64_t t;

	lock_mutex(&s->wbusy_lock, LK_LEAF);
	t = s->write_busy_ns;
	if (atomic_load(&s->writes_inflight))
		t += io_now_ns() - s->wbusy_since_ns;
	unlock_mutex(&s->wbusy_lock, LK_LEAF);
	return t;
}

/* Half the I/O queue is kept for swap-in reads. */
bool wb_room(struct swapper *s)
{
	return atomic_load(&s->writes_inflight) < (s->io->queue_depth + 1) / 2;
}

/* Put a staged page back into the guest (no slot could be had, or writes
 * keep failing).  No lock held; takes the page lock. */
static void restore(struct swapper *s, uint64_t idx, uint32_t b)
{
	uint64_t w;

	page_lock(s, idx);
	w = atomic_load(&s->pages[idx]);
	if (pg_state(w) == PS_STAGED && pg_buf(w) == b) {
		if (uffd_copy(s->uffd, page_host(s, idx), buf_stage_ptr(s, b),
			      s->psz, false, false) < 0) {
			page_unlock(s, idx);
			core_fatal(s, -EIO, "cannot restore staged gfn 0x%llx",
				   (unsigned long long)page_gfn(s, idx));
			return;
		}
		atomic_store(&s->pages[idx], pg_make(PS_RESIDENT, PG_REF, 0, 0));
		atomic_fetch_sub(&s->c.staged, 1);
		page_resident_inc(s);
		atomic_fetch_add(&s->c.evict_restored, 1);
	}
	page_unlock(s, idx);
	buf_stage_release_run(s, b, 1);
}

static void restore_all(struct swapper *s, struct wb_ent *ents, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		restore(s, ents[i].idx, ents[i].buf);
}

/* Append to one of the queues and wake the reclaim thread.  -ENOMEM
 * leaves the queue unchanged. */
static int queue_push(struct swapper *s, struct wb_ent **v, uint32_t *n,
		      uint32_t *cap, struct wb_ent e)
{
	int r = 0;

	lock_mutex(&s->wb_lock, LK_LEAF);
	if (*n == *cap) {
		uint32_t c = *cap ? 2 * *cap : 64;
		struct wb_ent *t = core_realloc(s, *v, c * sizeof(*t));

		if (!t) {
			r = -ENOMEM;
			goto out;
		}
		*v = t;
		*cap = c;
	}
	(*v)[(*n)++] = e;
out:
	unlock_mutex(&s->wb_lock, LK_LEAF);
	if (r == 0)
		core_wake_reclaim(s);
	return r;
}

/* Take a whole queue (the caller frees it). */
static struct wb_ent *queue_take(struct swapper *s, struct wb_ent **v,
				 uint32_t *n, uint32_t *cap, unsigned int *cnt)
{
	struct wb_ent *e;

	lock_mutex(&s->wb_lock, LK_LEAF);
	e = *v;
	*cnt = *n;
	*v = NULL;
	*n = *cap = 0;
	unlock_mutex(&s->wb_lock, LK_LEAF);
	return e;
}

int wb_queue_migrated(struct swapper *s, uint64_t idx, uint32_t b, int dev)
{
	int r = queue_push(s, &s->mig, &s->nmig, &s->mig_cap,
			   (struct wb_ent){ idx, b, dev });

	if (r == 0)
		atomic_fetch_add(&s->c.migrated, 1);
	return r;
}

bool wb_migrations_queued(struct swapper *s)
{
	bool r;

	lock_mutex(&s->wb_lock, LK_LEAF);
	r = s->nmig != 0;
	unlock_mutex(&s->wb_lock, LK_LEAF);
	return r;
}

static void retry_add(struct swapper *s, uint64_t idx, uint32_t b)
{
	if (queue_push(s, &s->retry, &s->nretry, &s->retry_cap,
		       (struct wb_ent){ idx, b, -1 }) < 0)
		restore(s, idx, b);
}

/* Page k of a completed batch.  Returns true when its staging buffer is to
 * be released (the caller batches those); false when it was queued for a
 * retry (the buffer goes with it). */
static bool page_done(struct wbatch *wb, unsigned int k, bool ok)
{
	struct swapper *s = wb->s;
	uint64_t g = gslot(wb->dev, wb->slot + k), idx = wb->idx[k], w;
	bool keep_buf = false;

	page_lock(s, idx);
	w = atomic_load(&s->pages[idx]);
	if (pg_state(w) == PS_STAGED && pg_buf(w) == wb->buf[k]) {
		if (ok) {
			atomic_store(&s->pages[idx],
				     pg_make_swapped(g, wb->seal[k].crc));
			atomic_fetch_sub(&s->c.staged, 1);
			atomic_fetch_add(&s->c.evict_written, 1);
		} else {
			if (w & PG_SLOT)
				swapset_unbind(s, idx, g);
			atomic_store(&s->pages[idx], pg_make(PS_STAGED, 0, wb->buf[k], 0));
			keep_buf = true;
		}
	} else if (!ok && pg_has(w, PG_SLOT) && pg_slot(w) == g) {
		/* Faulted back with a claim on the failed slot: drop it. */
		swapset_unbind(s, idx, g);
		atomic_store(&s->pages[idx], w & ~(PG_SLOT | PG_WP));
	}
	page_unlock(s, idx);
	if (keep_buf)
		retry_add(s, idx, wb->buf[k]);
	return !keep_buf;
}

/* Staging buffers of a batch are mostly one run: release them a run at a
 * time, not a page at a time (one madvise each, ~5 us here: it bounded
 * write-out). */
static void release_buffers(struct wbatch *wb, bool ok)
{
	uint32_t first = 0, len = 0;
	unsigned int k;

	for (k = 0; k < wb->n; k++) {
		if (!page_done(wb, k, ok))
			continue;       /* queued for a retry: ends the run */
		if (len && wb->buf[k] == first + len) {
			len++;
			continue;
		}
		if (len)
			buf_stage_release_run(wb->s, first, len);
		first = wb->buf[k];
		len = 1;
	}
	if (len)
		buf_stage_release_run(wb->s, first, len);
}

static void wb_done(struct io_req *req, ssize_t res)
{
	struct wbatch *wb = req->priv;
	struct swapper *s = wb->s;
	bool ok = res == (ssize_t)(wb->n * s->psz);
	unsigned int k;

	hist_record(&s->write_lat, io_now_ns() - req->submit_ns);
	if (ok) {
		atomic_store(&s->write_fail_streak, 0);
		atomic_fetch_add(&s->c.writes, 1);
		atomic_fetch_add(&s->c.bytes_written, wb->n * s->psz);
	} else {
		uint64_t dropped;
		bool say;

		atomic_fetch_add(&s->c.write_errors, 1);
		lock_mutex(&s->wb_lock, LK_LEAF);
		say = ratelimit_ok(&s->wb_warn, &dropped);
		unlock_mutex(&s->wb_lock, LK_LEAF);
		if (say)
			log_warn("swap write of %u pages at slot %llu on %s failed (%s): "
				 "slots retired, pages kept in staging and retried "
				 "(%llu such warnings suppressed)",
				 wb->n, (unsigned long long)wb->slot,
				 swap_dev_path(s->devs[wb->dev]),
				 res < 0 ? strerror((int)-res) : "short write",
				 (unsigned long long)dropped);
	}
	release_buffers(wb, ok);
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
	ct_put(s, wb->ct);
	free(wb);
	writes_exit(s);
	fault_queue_run_one(s, false);  /* reads deferred by a full I/O queue */
	core_progress(s);
}

/* Seal every page of the batch (no lock: a staging buffer is read-only
 * while its batch owns it).  With encryption the batch writes the
 * ciphertext buffer instead of staging.  -ENOMEM / -EIO: nothing to undo
 * but the buffer (wb_done or the caller frees it). */
static int batch_seal(struct swapper *s, struct wbatch *wb)
{
	unsigned int k;
	int r;

	if (seal_mode(s->seal) == SEAL_AES256GCM) {
		wb->ct = ct_get(s);
		if (!wb->ct)
			return -ENOMEM;
	}
	for (k = 0; k < wb->n; k++) {
		uint8_t *dst = wb->ct ? wb->ct + k * s->psz : NULL;

		r = seal_page(s->seal, gslot(wb->dev, wb->slot + k),
			      buf_stage_ptr(s, wb->buf[k]), dst, &wb->seal[k]);
		if (r < 0)
			return r;
		wb->iov[k].iov_base = dst ? dst : buf_stage_ptr(s, wb->buf[k]);
		wb->iov[k].iov_len = s->psz;
	}
	return 0;
}

/* Build a batch over slots [first, first+got) of dev for ents[0..got). */
static struct wbatch *batch_build(struct swapper *s, struct wb_ent *ents,
				  unsigned int dev, uint64_t first, unsigned int got)
{
	struct wbatch *wb = core_zalloc(s, sizeof(*wb));
	unsigned int k;

	if (!wb)
		return NULL;
	wb->s = s;
	wb->dev = dev;
	wb->slot = first;
	wb->n = got;
	for (k = 0; k < got; k++) {
		wb->idx[k] = ents[k].idx;
		wb->buf[k] = ents[k].buf;
	}
	if (batch_seal(s, wb) < 0 || swapset_seal_reserve(s, dev, first, got) < 0) {
		ct_put(s, wb->ct);
		free(wb);
		return NULL;
	}
	for (k = 0; k < got; k++) {
		uint64_t g = gslot(dev, first + k), idx = ents[k].idx, w;

		page_lock(s, idx);
		w = atomic_load(&s->pages[idx]);
		if (pg_state(w) == PS_STAGED && pg_buf(w) == ents[k].buf) {
			/* The page's reference is the one alloc gave;
			 * the batch takes another for the I/O. */
			swap_slot_get(s->devs[dev], first + k);
			swapset_seal_set(s, g, &wb->seal[k]);
			atomic_store(&s->pages[idx], pg_make(PS_STAGED, PG_SLOT,
							     ents[k].buf, g));
		} else {
			/* Faulted back already.  The data in staging is
			 * still written (keeps the run contiguous); the
			 * allocator's reference is the batch's, so the slot
			 * is freed at completion, and it needs no seal. */
			swapset_seal_unreserve(s, g);
		}
		page_unlock(s, idx);
	}
	wb->req.op = IO_WRITE;
	wb->req.fd = swap_dev_fd(s->devs[dev]);
	wb->req.off = first * s->psz;
	wb->req.iov = wb->iov;
	wb->req.iovcnt = (int)got;
	wb->req.done = wb_done;
	wb->req.priv = wb;
	return wb;
}

/* Submit a batch.  A full engine queue is back-pressure, not a write error:
 * keep half of it for swap-in reads and wait for room. */
static void batch_submit(struct swapper *s, struct wbatch *wb)
{
	struct io_req *rq = &wb->req;
	uint64_t gen;
	int sr;

	for (;;) {
		gen = core_progress_gen(s);
		if (wb_room(s) || atomic_load(&s->closing))
			break;
		core_progress_wait(s, gen, 100);
	}
	writes_enter(s);
	for (;;) {
		gen = core_progress_gen(s);
		sr = io_engine_submit(s->io, &rq, 1);
		if (sr != -EAGAIN || atomic_load(&s->closing))
			break;
		core_progress_wait(s, gen, 100);
	}
	if (sr != 1)
		wb_done(&wb->req, -EIO);  /* not accepted: no completion runs */
}

unsigned int wb_write(struct swapper *s, struct wb_ent *ents, unsigned int n)
{
	unsigned int i = 0, k, dev, want;
	uint64_t first;
	int got;

	lock_assert_none_held("wb_write");
	while (i < n) {
		struct wbatch *wb;

		want = n - i;
		if (want > s->cfg.write_batch)
			want = s->cfg.write_batch;
		for (k = 1; k < want && ents[i + k].dev == ents[i].dev; k++)
			;
		want = k;       /* one target device per batch */
		got = swapset_alloc(s, ents[i].dev, want, &dev, &first);
		if (got < 0)
			break;
		wb = batch_build(s, ents + i, dev, first, (unsigned int)got);
		if (!wb) {
			for (k = 0; k < (unsigned int)got; k++)
				swap_slot_put(s->devs[dev], first + k);
			break;
		}
		i += (unsigned int)got;
		batch_submit(s, wb);
	}
	restore_all(s, ents + i, n - i);
	return n - i;
}

static int cmp_ent(const void *a, const void *b)
{
	const struct wb_ent *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Pages staged by migration, grouped by target and in guest-page order
 * (so compaction lays them out sequentially). */
static void write_migrated(struct swapper *s)
{
	unsigned int n;
	struct wb_ent *ents = queue_take(s, &s->mig, &s->nmig, &s->mig_cap, &n);

	if (!n)
		return;
	core_progress(s);       /* migration waits see the queue taken */
	qsort(ents, n, sizeof(*ents), cmp_ent);
	wb_write(s, ents, n);
	free(ents);
}

static void write_retries(struct swapper *s)
{
	unsigned int n;
	struct wb_ent *ents = queue_take(s, &s->retry, &s->nretry, &s->retry_cap, &n);

	if (!n)
		return;
	if (atomic_fetch_add(&s->write_fail_streak, 1) + 1 > WRITE_FAIL_LIMIT) {
		log_err("swap writes keep failing: %u pages kept in memory", n);
		restore_all(s, ents, n);
	} else {
		wb_write(s, ents, n);
	}
	free(ents);
}

void wb_write_queued(struct swapper *s)
{
	write_retries(s);
	write_migrated(s);
}
