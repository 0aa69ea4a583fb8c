/*
 * fault.c - fault service: the uffd fault thread and swap-in completion.
 *
 * The fault thread never waits for disk I/O.  A fault on a swapped page
 * submits a read into a bounce buffer and returns to the uffd; the read's
 * completion (on the I/O engine's thread) installs the page with
 * UFFDIO_COPY, which wakes every thread blocked on that address - so two
 * vCPUs faulting on one page cause one read.
 *
 * Rules for a MISSING fault, by page state (page lock held):
 *   NONE/ZERO  map zeros (ZEROPAGE for reads, a zeroed page for writes)
 *   RESIDENT   already served (a duplicate message): wake
 *   STAGED     write-out pending/in flight: copy from the staging buffer
 *              (the swap cache hit); the buffer stays with its write batch
 *   SWAPPED    start a read (or queue the fault when no bounce buffer is
 *              free: it is started when a read completes)
 *   READING    a read is in flight: nothing to do, its completion wakes us
 * A WP fault (a write to a clean page installed write-protected) clears the
 * page's claim on its slot - it is about to differ from it - then
 * unprotects, which wakes the writer.
 * Never: map zeros for a page whose data is on swap or in staging.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <unistd.h>

#include "hvswap/log.h"
#include "internal.h"

static void rd_done(struct io_req *req, ssize_t res);

static uint64_t resident_flags(struct swapper *s, bool wp, uint64_t slot_flag)
{
	return PG_REF | (wp ? (PG_WP | slot_flag) : 0);
}

/*
 * Keep a page read back from swap clean - installed write-protected and
 * still owning its slot, so evicting it again costs no write - or install it
 * writable?  Clean costs a write-protect fault (a uffd round trip, 70-95 us
 * on this host) at its first write; writable costs one more 4 KiB write at
 * its next eviction, in the background (~3 us of a 1.2 GB/s device).  So a
 * clean install pays only if it saves writes - pages evicted still clean,
 * dropped without I/O - and causes few faults: AUTO keeps pages clean while
 * the pages kept clean were dropped clean at least as often as they took a
 * write-protect fault (counts that halve every 8192 clean installs), and
 * keeps 1 install in 32 clean anyway so the estimate follows the workload.
 * (Measured, 1 GiB at 50% resident, rw=0.5: sequential 26 s always clean,
 * 4.7 s never, 4.6 s auto; uniform and zipf within noise or better.)
 */
static bool keep_clean(struct swapper *s)
{
	uint64_t n;

	switch (s->cfg.clean_policy) {
	case SWAPPER_CLEAN_ALWAYS:
		return true;
	case SWAPPER_CLEAN_NEVER:
		return false;
	default:
		break;
	}
	n = atomic_fetch_add(&s->kc_seen, 1);
	return atomic_load(&s->kc_wr) <= atomic_load(&s->kc_drop) || n % 32 == 0;
}

static void kept_clean(struct swapper *s)
{
	atomic_fetch_add(&s->c.installed_clean, 1);
	if (atomic_fetch_add(&s->kc_inst, 1) + 1 >= 8192) {
		atomic_store(&s->kc_inst, 4096);
		atomic_store(&s->kc_wr, atomic_load(&s->kc_wr) / 2);
		atomic_store(&s->kc_drop, atomic_load(&s->kc_drop) / 2);
	}
}

/* Map zeros at page idx.  A read maps the shared zero page (no memory until
 * written); a write would only COW it at once, so it gets a private page. */
static int map_zeros(struct swapper *s, uint64_t idx, bool write)
{
	static const uint8_t zero[PAGE_SIZE_4K] __attribute__((aligned(4096)));
	void *dst = page_host(s, idx);

	return write ? uffd_copy(s->uffd, dst, zero, PAGE_SIZE_4K, false, false)
		     : uffd_zeropage(s->uffd, dst, PAGE_SIZE_4K, false);
}

static void map_zero(struct swapper *s, uint64_t idx, bool write)
{
	int r = map_zeros(s, idx, write);

	if (r < 0)
		swapper_fatal(s, r, "cannot map zero page at gfn 0x%llx: %s",
			      (unsigned long long)page_gfn(s, idx), strerror(-r));
	atomic_store(&s->pages[idx], pg_make(PS_RESIDENT, PG_REF, 0, 0));
	resident_inc(s);
	atomic_fetch_add(&s->c.faults_zero, 1);
}

static void from_staging(struct swapper *s, uint64_t idx, uint64_t w, bool write)
{
	/* Never install it as a clean copy of its slot: the slot's write is
	 * still pending or in flight, so a clean eviction now would let a
	 * swap-in read the slot before the write lands (or after it fails). */
	bool keep = false;
	uint64_t slot = pg_slot(w);
	int r;

	r = uffd_copy(s->uffd, page_host(s, idx), staging_ptr(s, pg_buf(w)),
		      PAGE_SIZE_4K, keep, false);
	if (r < 0) {
		swapper_fatal(s, r, "cannot restore staged gfn 0x%llx: %s",
			      (unsigned long long)page_gfn(s, idx), strerror(-r));
		return;
	}
	if (!keep && (w & PG_SLOT))
		page_slot_drop(s, idx, slot);
	atomic_store(&s->pages[idx], pg_make(PS_RESIDENT, resident_flags(s, keep, PG_SLOT),
					     0, keep ? slot : 0));
	atomic_fetch_sub(&s->c.staged, 1);
	resident_inc(s);
	atomic_fetch_add(&s->c.faults_staging, 1);
}

static int bounce_get(struct swapper *s, uint32_t *b)
{
	int r = -EAGAIN;

	pthread_mutex_lock(&s->buf_lock);
	if (s->nbounce_free) {
		*b = s->bounce_free[--s->nbounce_free];
		r = 0;
	}
	pthread_mutex_unlock(&s->buf_lock);
	return r;
}

/* Queue a fault for when a bounce buffer frees up.  Returns -ENOSPC if the
 * ring is full (cannot happen: it has one entry per guest-page lock stripe
 * times... see swapper.c sizing; handled anyway by a fatal error). */
static int pending_add(struct swapper *s, uint64_t idx, bool write, uint64_t t0)
{
	int r = 0;

	pthread_mutex_lock(&s->buf_lock);
	if (s->pend_len == s->pend_cap) {
		r = -ENOSPC;
	} else {
		s->pending[(s->pend_head + s->pend_len) % s->pend_cap] =
			(struct pending_fault){ idx, write, t0 };
		s->pend_len++;
	}
	pthread_mutex_unlock(&s->buf_lock);
	return r;
}

static int rd_submit(struct swapper *s, struct rd *rd)
{
	struct io_req *req = &rd->req;
	struct swap_dev *d = slot_dev(s, rd->gslot);

	memset(req, 0, sizeof(*req));
	rd->iov.iov_base = bounce_ptr(s, rd->bounce);
	rd->iov.iov_len = PAGE_SIZE_4K;
	req->op = IO_READ;
	req->fd = swap_dev_fd(d);
	req->off = gslot_off(rd->gslot) * PAGE_SIZE_4K;
	req->iov = &rd->iov;
	req->iovcnt = 1;
	req->done = rd_done;
	req->priv = rd;
	return io_engine_submit(s->io, &req, 1) == 1 ? 0 : -EIO;
}

/* Page lock held, state SWAPPED: take a bounce buffer and mark the page
 * READING.  -EAGAIN when no buffer is free. */
static int claim_read(struct swapper *s, uint64_t idx, uint64_t w, bool write,
		      uint64_t t0, bool ra, uint32_t *bp)
{
	struct rd *rd;
	uint32_t b;

	if (bounce_get(s, &b) < 0)
		return -EAGAIN;
	rd = &s->rds[b];
	rd->s = s;
	rd->idx = idx;
	rd->gslot = pg_slot(w);
	rd->bounce = b;
	rd->write_fault = write;
	rd->readahead = ra;
	rd->mig = false;
	rd->mig_to = -1;
	rd->tries = 0;
	rd->t0 = t0;
	atomic_store(&s->pages[idx], (w & ~(PG_STATE_MASK | PG_BUF_MASK)) |
		     PS_READING | ((uint64_t)b << PG_BUF_SHIFT));
	atomic_fetch_add(&s->c.reading, 1);
	*bp = b;
	return 0;
}

/* Undo claim_read() for a read that will not run (page lock taken here). */
static void unclaim_read(struct swapper *s, struct rd *rd)
{
	pthread_mutex_t *l = page_lock(s, rd->idx);
	uint64_t w;

	pthread_mutex_lock(l);
	w = atomic_load(&s->pages[rd->idx]);
	atomic_store(&s->pages[rd->idx], (w & ~(PG_STATE_MASK | PG_BUF_MASK)) |
		     PS_SWAPPED);
	pthread_mutex_unlock(l);
	atomic_fetch_sub(&s->c.reading, 1);
	pthread_mutex_lock(&s->buf_lock);
	s->bounce_free[s->nbounce_free++] = rd->bounce;
	pthread_mutex_unlock(&s->buf_lock);
}

/*
 * Readahead window for a fault at idx.  Swap-in readahead pays off because
 * pages evicted together were written to consecutive slots; a stream is a
 * sequence of faults each landing just past the previous one's window.
 * A few streams are tracked (vCPUs scanning their own ranges); a fault that
 * continues no stream starts one with the minimum window.
 */
static unsigned int ra_window(struct swapper *s, uint64_t idx)
{
	unsigned int i, victim = 0, win = 1;

	pthread_mutex_lock(&s->ra_lock);
	for (i = 0; i < RA_STREAMS; i++) {
		struct ra_stream *st = &s->ra[i];

		if (idx > st->last && idx - st->last <= 2ull * st->win) {
			st->win = st->win * 2 > RA_MAX ? RA_MAX : st->win * 2;
			st->last = idx;
			st->age = ++s->ra_clock;
			win = st->win;
			goto out;
		}
		if (st->age < s->ra[victim].age)
			victim = i;
	}
	s->ra[victim] = (struct ra_stream){ .last = idx, .win = 1,
					    .age = ++s->ra_clock };
out:
	pthread_mutex_unlock(&s->ra_lock);
	return win;
}

static void rg_done(struct io_req *req, ssize_t res);

static struct rgroup *rg_new(struct swapper *s, uint32_t b)
{
	struct rgroup *g = calloc(1, sizeof(*g));

	if (g) {
		g->s = s;
		g->bounce[g->n++] = b;
	}
	return g;
}

static void rg_prepare(struct swapper *s, struct rgroup *g)
{
	struct rd *rd0 = &s->rds[g->bounce[0]];
	struct io_req *req = &g->req;
	unsigned int i;

	for (i = 0; i < g->n; i++) {
		g->iov[i].iov_base = bounce_ptr(s, g->bounce[i]);
		g->iov[i].iov_len = PAGE_SIZE_4K;
	}
	req->op = IO_READ;
	req->fd = swap_dev_fd(slot_dev(s, rd0->gslot));
	req->off = gslot_off(rd0->gslot) * PAGE_SIZE_4K;
	req->iov = g->iov;
	req->iovcnt = (int)g->n;
	req->done = rg_done;
	req->priv = g;
}

/* Claim readahead page j if it is on swap (its lock taken here alone). */
static bool ra_claim(struct swapper *s, uint64_t j, uint64_t t0, uint32_t *b,
		     uint64_t *slot)
{
	pthread_mutex_t *l = page_lock(s, j);
	uint64_t w;
	bool ok = false;

	pthread_mutex_lock(l);
	w = atomic_load(&s->pages[j]);
	if (pg_state(w) == PS_SWAPPED && claim_read(s, j, w, false, t0, true, b) == 0) {
		*slot = pg_slot(w);
		ok = true;
	}
	pthread_mutex_unlock(l);
	return ok;
}

/*
 * Submit the read claimed for the faulting page (bounce b0) plus readahead
 * of the next pages of the window that are on swap.  Pages in consecutive
 * slots share one vectored read; all reads go down in one submission.
 * Called with no page lock held.
 */
static void submit_read(struct swapper *s, uint64_t idx, uint32_t b0)
{
	struct rd *rd0 = &s->rds[b0];
	unsigned int win = ra_window(s, idx), i, ng = 0, k;
	uint64_t lim = atomic_load(&s->limit_pages);
	struct rgroup *groups[RA_MAX], *cur;
	struct io_req *reqs[RA_MAX];
	uint64_t prev = rd0->gslot;
	int acc;

	/* Reclaim is behind: do not add readahead pages to the overshoot. */
	if (lim && atomic_load(&s->c.resident) + atomic_load(&s->c.staged) >= lim)
		win = 1;
	cur = rg_new(s, b0);
	if (!cur)
		goto fail_one;
	for (i = 1; i < win; i++) {
		uint64_t j = idx + i, slot;
		uint32_t b;

		if (j >= s->npages || (uint8_t *)page_host(s, j) !=
		    (uint8_t *)page_host(s, idx) + i * PAGE_SIZE_4K)
			break;
		if (!ra_claim(s, j, rd0->t0, &b, &slot))
			continue;
		atomic_fetch_add(&s->c.readahead, 1);
		if (slot == prev + 1 && gslot_dev(slot) == gslot_dev(prev)) {
			cur->bounce[cur->n++] = b;
		} else {
			struct rgroup *g = rg_new(s, b);

			if (!g) {
				unclaim_read(s, &s->rds[b]);
				break;
			}
			groups[ng++] = cur;
			cur = g;
		}
		prev = slot;
	}
	groups[ng++] = cur;
	for (k = 0; k < ng; k++) {
		rg_prepare(s, groups[k]);
		reqs[k] = &groups[k]->req;
	}
	acc = io_engine_submit(s->io, reqs, (int)ng);
	/* Groups not accepted get no completion: undo their claims.  A full
	 * queue (-EAGAIN) is back-pressure: the fault waits in the pending
	 * queue for the next completion.  Any other refusal of the faulting
	 * page's own read means its data cannot be had: stop rather than map
	 * anything else. */
	for (k = acc > 0 ? (unsigned int)acc : 0; k < ng; k++) {
		for (i = 0; i < groups[k]->n; i++)
			unclaim_read(s, &s->rds[groups[k]->bounce[i]]);
		free(groups[k]);
	}
	if (acc == -EAGAIN) {
		if (pending_add(s, idx, rd0->write_fault, rd0->t0) == 0) {
			atomic_fetch_add(&s->c.faults_pending, 1);
			return;
		}
	}
	if (acc <= 0)
		swapper_fatal(s, acc < 0 ? acc : -EIO,
			      "cannot submit swap-in read for gfn 0x%llx",
			      (unsigned long long)page_gfn(s, idx));
	return;

fail_one:
	unclaim_read(s, rd0);
	swapper_fatal(s, -ENOMEM, "cannot submit swap-in read for gfn 0x%llx",
		      (unsigned long long)page_gfn(s, idx));
}

static void wp_fault(struct swapper *s, uint64_t idx, uint64_t w)
{
	void *host = page_host(s, idx);
	int r;

	if (pg_state(w) != PS_RESIDENT) {
		/* Evicted between the write and now: the writer retries and
		 * takes a MISSING fault. */
		uffd_wake(s->uffd, host, PAGE_SIZE_4K);
		return;
	}
	if (w & PG_SLOT)
		page_slot_drop(s, idx, pg_slot(w));
	if (w & PG_WP) {
		atomic_fetch_add(&s->kc_wr, 1);
		atomic_fetch_add(&s->c.written_clean, 1);
	}
	atomic_store(&s->pages[idx], pg_make(PS_RESIDENT, PG_REF, 0, 0));
	r = uffd_writeprotect(s->uffd, host, PAGE_SIZE_4K, false, false);
	if (r < 0 && r != -ENOENT)
		swapper_fatal(s, r, "cannot unprotect gfn 0x%llx: %s",
			      (unsigned long long)page_gfn(s, idx), strerror(-r));
	atomic_fetch_add(&s->c.faults_wp, 1);
}

/*
 * Backpressure: a fault that would add a resident page while the VM is over
 * its hard limit (limit + margin: reclaim has fallen behind) waits in the
 * pending queue; the reclaim thread serves it once it has caught up, and in
 * any case at the end of its cycle (so a VM whose reclaim cannot progress -
 * swap full, all pinned - is never stalled for good).
 */
static bool over_hard_limit(struct swapper *s)
{
	uint64_t lim = atomic_load(&s->limit_pages), margin;

	if (!lim || atomic_load(&s->swap_full))
		return false;   /* reclaim cannot help: do not hold the guest */
	margin = lim / 32 > 512 ? lim / 32 : 512;
	return atomic_load(&s->c.resident) + atomic_load(&s->c.staged) >= lim + margin;
}

bool fault_throttled(struct swapper *s)
{
	return over_hard_limit(s);
}

static void fault_handle_ex(struct swapper *s, uint64_t addr, bool write,
			    bool wp, uint64_t t0, bool may_throttle);

/*
 * Fault-around for first touches (the kernel's fault_around_bytes, for
 * never-used memory only): after page idx was mapped, map the other
 * never-used pages of its aligned block the same way (map_zeros(): the
 * shared zero page after a read, private zeroed pages after a write).  A
 * guest access to them then costs no userfaultfd round trip (~35-100 us
 * here); a write to a zero-page mapping is an ordinary copy-on-write fault
 * in the host kernel (the zero page is not write-protected for uffd).  They
 * count as resident (conservative): only done with room below the low
 * watermark.  Zero-page mappings are evicted as ZERO without I/O, and
 * UFFDIO_MOVE moves them like any page.  Page locks one at a time (only the
 * reclaim thread holds several); called after the faulting vCPU was woken.
 */
static void fault_around(struct swapper *s, uint64_t idx, bool write)
{
	unsigned int n = s->cfg.fault_around;
	uint64_t lim = atomic_load(&s->low_wmark), first, j;

	if (n <= 1)
		return;
	if (lim && atomic_load(&s->c.resident) + atomic_load(&s->c.staged) + n >= lim)
		return;
	first = idx & ~((uint64_t)n - 1);
	for (j = first; j < first + n && j < s->npages; j++) {
		pthread_mutex_t *l = page_lock(s, j);

		if (j == idx || pg_state(atomic_load(&s->pages[j])) != PS_NONE)
			continue;
		pthread_mutex_lock(l);
		if (pg_state(atomic_load(&s->pages[j])) == PS_NONE &&
		    map_zeros(s, j, write) == 0) {
			atomic_store(&s->pages[j], pg_make(PS_RESIDENT, 0, 0, 0));
			resident_inc(s);
			atomic_fetch_add(&s->c.zero_around, 1);
		}
		pthread_mutex_unlock(l);
	}
}

void fault_handle(struct swapper *s, uint64_t addr, bool write, bool wp,
		  uint64_t t0)
{
	fault_handle_ex(s, addr, write, wp, t0, true);
}

static void fault_handle_ex(struct swapper *s, uint64_t addr, bool write,
			    bool wp, uint64_t t0, bool may_throttle)
{
	pthread_mutex_t *l;
	uint64_t idx, w;
	bool done = true, submit = false;
	uint32_t b = 0;

	if (addr_to_idx(s, addr, &idx) < 0) {
		/* Only the staging area is registered besides guest memory, and
		 * nothing may touch an empty staging buffer.  If something
		 * does (a bug), unblock it rather than deadlock. */
		log_err("fault at 0x%llx outside every region", (unsigned long long)addr);
		uffd_zeropage(s->uffd, (void *)(uintptr_t)addr, PAGE_SIZE_4K, false);
		return;
	}
	l = page_lock(s, idx);
	pthread_mutex_lock(l);
	w = atomic_load(&s->pages[idx]);
	if (wp) {
		wp_fault(s, idx, w);
		pthread_mutex_unlock(l);
		return;
	}
	if (may_throttle && pg_state(w) != PS_RESIDENT && pg_state(w) != PS_READING &&
	    over_hard_limit(s) && pending_add(s, idx, write, t0) == 0) {
		pthread_mutex_unlock(l);
		atomic_fetch_add(&s->c.faults_throttled, 1);
		rc_kick_force(s);
		return;
	}
	switch (pg_state(w)) {
	case PS_NONE:
	case PS_ZERO:
		map_zero(s, idx, write);
		break;
	case PS_RESIDENT:
		uffd_wake(s->uffd, page_host(s, idx), PAGE_SIZE_4K);
		atomic_fetch_add(&s->c.faults_spurious, 1);
		done = false;
		break;
	case PS_STAGED:
		from_staging(s, idx, w, write);
		break;
	case PS_SWAPPED:
		if (claim_read(s, idx, w, write, t0, false, &b) < 0) {
			if (pending_add(s, idx, write, t0) < 0)
				swapper_fatal(s, -ENOSPC, "too many concurrent swap-in faults");
			atomic_fetch_add(&s->c.faults_pending, 1);
		} else {
			submit = true;
		}
		done = false;
		break;
	case PS_READING:
		/* Tell a migration read that the guest wants this page. */
		atomic_store(&s->pages[idx], w | PG_WAITER);
		atomic_fetch_add(&s->c.faults_dup, 1);
		done = false;
		break;
	}
	pthread_mutex_unlock(l);
	if (submit)
		submit_read(s, idx, b);
	if (done)
		hist_record(&s->fault_lat, io_now_ns() - t0);
	if (pg_state(w) == PS_NONE)
		fault_around(s, idx, write);
	rc_kick(s);
}

/* A bounce buffer is free again: start the oldest queued fault, if any. */
/* Serve one queued fault (waiting for a bounce buffer, for the I/O queue or
 * throttled).  `force`: serve it even over the hard limit.  Returns false
 * when nothing was served. */
bool fault_pending_run_one(struct swapper *s, bool force)
{
	struct pending_fault pf;

	if (atomic_load(&s->closing))
		return false;
	pthread_mutex_lock(&s->buf_lock);
	if (!s->pend_len || !s->nbounce_free) {
		pthread_mutex_unlock(&s->buf_lock);
		return false;
	}
	pf = s->pending[s->pend_head];
	s->pend_head = (s->pend_head + 1) % s->pend_cap;
	s->pend_len--;
	pthread_mutex_unlock(&s->buf_lock);
	fault_handle_ex(s, (uint64_t)(uintptr_t)page_host(s, pf.idx), pf.write,
			false, pf.t0, !force);
	return true;
}

void fault_pending_run(struct swapper *s)
{
	struct pending_fault pf;

	if (atomic_load(&s->closing))
		return;
	pthread_mutex_lock(&s->buf_lock);
	if (!s->pend_len || !s->nbounce_free) {
		pthread_mutex_unlock(&s->buf_lock);
		return;
	}
	pf = s->pending[s->pend_head];
	s->pend_head = (s->pend_head + 1) % s->pend_cap;
	s->pend_len--;
	pthread_mutex_unlock(&s->buf_lock);
	/* Re-evaluate from scratch: the page may have changed state. */
	fault_handle(s, (uint64_t)(uintptr_t)page_host(s, pf.idx), pf.write,
		     false, pf.t0);
}

static void rd_finish(struct swapper *s, struct rd *rd)
{
	if (rd->mig)
		atomic_fetch_sub(&s->c.mig_reads, 1);
	atomic_fetch_sub(&s->c.reading, 1);
	pthread_mutex_lock(&s->buf_lock);
	s->bounce_free[s->nbounce_free++] = rd->bounce;
	pthread_mutex_unlock(&s->buf_lock);
	fault_pending_run(s);
}

static void rd_install(struct swapper *s, struct rd *rd, uint64_t w)
{
	/* A clean copy keeps its slot - unless the slot's device is being
	 * drained (swapoff), whose slots must all be let go. */
	bool keep = s->use_wp && !rd->write_fault &&
		    !dev_draining(s, gslot_dev(rd->gslot)) && keep_clean(s);
	int r;

	r = uffd_copy(s->uffd, page_host(s, rd->idx), bounce_ptr(s, rd->bounce),
		      PAGE_SIZE_4K, keep, false);
	if (r < 0) {
		atomic_store(&s->pages[rd->idx], (w & ~(PG_STATE_MASK | PG_BUF_MASK)) |
			     PS_SWAPPED);
		swapper_fatal(s, r, "cannot install swapped-in gfn 0x%llx: %s",
			      (unsigned long long)page_gfn(s, rd->idx), strerror(-r));
		return;
	}
	if (!keep)
		page_slot_drop(s, rd->idx, rd->gslot);
	else
		kept_clean(s);
	atomic_store(&s->pages[rd->idx],
		     pg_make(PS_RESIDENT, resident_flags(s, keep, PG_SLOT), 0,
			     keep ? rd->gslot : 0));
	resident_inc(s);
	if (rd->readahead)
		return;
	atomic_fetch_add(&s->c.faults_swap, 1);
	{
		uint64_t dt = io_now_ns() - rd->t0;

		hist_record(&s->fault_lat, dt);
		hist_record(&s->swapin_lat, dt);
	}
}

/*
 * A migration read completed and no fault waits: move the data to a staging
 * buffer, drop the old slot and queue the page to be written to the target
 * device.  Page lock held.  -EAGAIN when no staging buffer is free (the
 * caller installs the page into the guest instead: never lost).
 */
static int mig_to_staging(struct swapper *s, struct rd *rd, uint64_t w)
{
	uint32_t b;

	if (staging_get_run(s, 1, &b) < 0)
		return -EAGAIN;
	/* The staging area is registered with the uffd (a MOVE destination):
	 * fill an empty buffer with UFFDIO_COPY, never by touching it. */
	if (uffd_copy(s->uffd, staging_ptr(s, b), bounce_ptr(s, rd->bounce),
		      PAGE_SIZE_4K, false, true) < 0) {
		staging_put(s, b);
		return -EAGAIN;
	}
	if (mig_add(s, rd->idx, b, rd->mig_to) < 0) {
		/* filled: empty it again, MOVE needs an empty destination */
		madvise(staging_ptr(s, b), PAGE_SIZE_4K, MADV_DONTNEED);
		staging_put(s, b);
		return -EAGAIN;
	}
	if (w & PG_SLOT)
		page_slot_drop(s, rd->idx, pg_slot(w));
	s->stage_owner[b] = (uint32_t)rd->idx;
	atomic_store(&s->pages[rd->idx], pg_make(PS_STAGED, 0, b, 0));
	atomic_fetch_add(&s->c.staged, 1);
	return 0;
}

/* Start moving SWAPPED page idx off its slot (migrate.c).  Page lock held.
 * -EAGAIN when no bounce buffer or no room in the I/O queue: the next
 * migration pass tries again. */
int fault_start_migration(struct swapper *s, uint64_t idx, uint64_t w, int to)
{
	struct rd *rd;
	uint32_t b;

	if (claim_read(s, idx, w, false, io_now_ns(), true, &b) < 0)
		return -EAGAIN;
	rd = &s->rds[b];
	rd->mig = true;
	rd->mig_to = to;
	atomic_fetch_add(&s->c.mig_reads, 1);
	if (rd_submit(s, rd) == 0)
		return 0;
	atomic_fetch_sub(&s->c.mig_reads, 1);
	atomic_store(&s->pages[idx], w);
	atomic_fetch_sub(&s->c.reading, 1);
	pthread_mutex_lock(&s->buf_lock);
	s->bounce_free[s->nbounce_free++] = b;
	pthread_mutex_unlock(&s->buf_lock);
	return -EAGAIN;
}

static void rd_done(struct io_req *req, ssize_t res)
{
	struct rd *rd = req->priv;
	struct swapper *s = rd->s;
	pthread_mutex_t *l = page_lock(s, rd->idx);
	uint64_t w;

	hist_record(&s->read_lat, io_now_ns() - req->submit_ns);
	pthread_mutex_lock(l);
	w = atomic_load(&s->pages[rd->idx]);
	if (res == (ssize_t)PAGE_SIZE_4K) {
		atomic_fetch_add(&s->c.reads, 1);
		atomic_fetch_add(&s->c.bytes_read, PAGE_SIZE_4K);
		if (!rd->mig || (w & PG_WAITER) || mig_to_staging(s, rd, w) < 0)
			rd_install(s, rd, w);
	} else {
		atomic_fetch_add(&s->c.read_errors, 1);
		if (++rd->tries < READ_TRIES && !atomic_load(&s->closing) &&
		    rd_submit(s, rd) == 0) {
			atomic_fetch_add(&s->c.read_retries, 1);
			pthread_mutex_unlock(l);
			return;         /* the bounce buffer stays with the read */
		}
		/* The data stays on swap (state SWAPPED); the guest must not
		 * run on without it.  A readahead page nobody asked for just
		 * stays on swap: a real fault will try again. */
		atomic_store(&s->pages[rd->idx], (w & ~(PG_STATE_MASK | PG_BUF_MASK |
							  PG_WAITER)) | PS_SWAPPED);
		/* Anyone who faulted while it was READING retries now, and
		 * that fault's own read decides. */
		if (rd->readahead)
			uffd_wake(s->uffd, page_host(s, rd->idx), PAGE_SIZE_4K);
		else
			swapper_fatal(s, res < 0 ? (int)res : -EIO,
			      "unrecoverable read error on guest page gfn 0x%llx "
			      "(slot %llu of %s): %s after %d tries; stopping",
			      (unsigned long long)page_gfn(s, rd->idx),
			      (unsigned long long)gslot_off(rd->gslot),
			      swap_dev_path(slot_dev(s, rd->gslot)),
			      res < 0 ? strerror((int)-res) : "short read", rd->tries);
	}
	pthread_mutex_unlock(l);
	rd_finish(s, rd);
}

/* Completion of a (readahead) group read: install every page; on error,
 * each page falls back to its own single-page read with retries. */
static void rg_done(struct io_req *req, ssize_t res)
{
	struct rgroup *g = req->priv;
	struct swapper *s = g->s;
	bool ok = res == (ssize_t)(g->n * PAGE_SIZE_4K);
	unsigned int i;

	for (i = 0; i < g->n; i++) {
		struct rd *rd = &s->rds[g->bounce[i]];

		rd->req.priv = rd;
		rd->req.submit_ns = req->submit_ns;
		rd_done(&rd->req, ok ? (ssize_t)PAGE_SIZE_4K : -EIO);
	}
	free(g);
}

#define MSG_BATCH 64

void *fault_thread_main(void *arg)
{
	struct swapper *s = arg;
	struct uffd_msg msgs[MSG_BATCH];
	struct pollfd pfd[2] = {
		{ .fd = s->uffd, .events = POLLIN },
		{ .fd = s->stop_efd, .events = POLLIN },
	};
	ssize_t n;
	int i;

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			swapper_fatal(s, -errno, "fault thread: poll: %s", strerror(errno));
			break;
		}
		if (pfd[1].revents)
			break;
		n = read(s->uffd, msgs, sizeof(msgs));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			swapper_fatal(s, -errno, "fault thread: read: %s", strerror(errno));
			break;
		}
		for (i = 0; i < (int)(n / (ssize_t)sizeof(msgs[0])); i++) {
			struct uffd_msg *m = &msgs[i];
			uint64_t fl;

			if (m->event != UFFD_EVENT_PAGEFAULT)
				continue;
			fl = m->arg.pagefault.flags;
			fault_handle(s, m->arg.pagefault.address & ~(PAGE_SIZE_4K - 1),
				     fl & UFFD_PAGEFAULT_FLAG_WRITE,
				     fl & UFFD_PAGEFAULT_FLAG_WP, io_now_ns());
		}
	}
	return NULL;
}
