/*
 * swapin.c - swap-in reads: claim, readahead, submission, completion and
 * installation into the guest.
 *
 * A fault on a SWAPPED page claims a bounce buffer and marks the page
 * READING (swapin_claim, page lock held); the read is submitted with
 * readahead of the next pages of its window that are on swap
 * (swapin_submit_fault, no lock held).  The fault thread never waits for
 * the disk: the completion (on the I/O engine's thread) installs the page
 * with UFFDIO_COPY, which wakes every thread blocked on that address - so
 * two vCPUs faulting on one page cause one read.
 *
 * A read may carry ops (struct rd_ops): migration reads (migrate.c) take
 * the data into staging at completion unless a fault waits for the page
 * (PG_WAITER), in which case it is installed like any fault's read.
 *
 * Completion rules, page lock held:
 *   ok                 ops->take() took it, or install: RESIDENT (clean and
 *                      keeping its slot when keep_clean() says so)
 *   error, tries left  resubmit (the bounce buffer stays with the read)
 *   error, no tries    back to SWAPPED; a fault's read stops the VM with an
 *                      error naming the page and slot (never maps anything
 *                      else); an optional read just wakes any waiter, whose
 *                      own fault then decides
 * Then the bounce buffer is freed and one queued fault served.
 *
 * Owns: the struct rd of each bounce buffer while its read runs; ra_lock
 * (leaf) and the readahead streams; the keep-clean estimate.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hvswap/log.h"
#include "internal.h"

struct rgroup;
static void rd_done(struct io_req *req, ssize_t res);
static void rg_done(struct io_req *req, ssize_t res);

/* One swap-in I/O covering consecutive slots (a fault plus readahead). */
struct rgroup {
	struct io_req req;
	struct swapper *s;
	unsigned int n;
	uint32_t bounce[RA_MAX];
	struct iovec iov[RA_MAX];
};

int swapin_init(struct swapper *s)
{
	pthread_mutex_init(&s->ra_lock, NULL);
	s->rds = calloc(s->nbounce, sizeof(*s->rds));
	return s->rds ? 0 : -ENOMEM;
}

void swapin_fini(struct swapper *s)
{
	free(s->rds);
	pthread_mutex_destroy(&s->ra_lock);
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

void swapin_note_written_clean(struct swapper *s)
{
	atomic_fetch_add(&s->kc_wr, 1);
	atomic_fetch_add(&s->c.written_clean, 1);
}

int swapin_claim(struct swapper *s, uint64_t idx, uint64_t w, bool write,
		 uint64_t t0, uint32_t *bp)
{
	struct rd *rd;
	uint32_t b;

	page_lock_assert_held(s, idx);
	if (buf_bounce_get(s, &b) < 0)
		return -EAGAIN;
	rd = &s->rds[b];
	*rd = (struct rd){ .s = s, .idx = idx, .gslot = pg_slot(w), .bounce = b,
			   .write_fault = write, .arg = -1, .t0 = t0 };
	atomic_store(&s->pages[idx], (w & ~(PG_STATE_MASK | PG_BUF_MASK)) |
		     PS_READING | ((uint64_t)b << PG_BUF_SHIFT));
	*bp = b;
	return 0;
}

/* Undo swapin_claim() for a read that will not run (page lock taken here). */
static void unclaim(struct swapper *s, struct rd *rd)
{
	uint64_t w;

	page_lock(s, rd->idx);
	w = atomic_load(&s->pages[rd->idx]);
	atomic_store(&s->pages[rd->idx], (w & ~(PG_STATE_MASK | PG_BUF_MASK)) |
		     PS_SWAPPED);
	page_unlock(s, rd->idx);
	buf_bounce_put(s, rd->bounce);
}

static int rd_submit(struct swapper *s, struct rd *rd)
{
	struct io_req *req = &rd->req;

	memset(req, 0, sizeof(*req));
	rd->iov.iov_base = buf_bounce_ptr(s, rd->bounce);
	rd->iov.iov_len = PAGE_SIZE_4K;
	req->op = IO_READ;
	req->fd = swap_dev_fd(swapset_dev(s, rd->gslot));
	req->off = gslot_off(rd->gslot) * PAGE_SIZE_4K;
	req->iov = &rd->iov;
	req->iovcnt = 1;
	req->done = rd_done;
	req->priv = rd;
	return io_engine_submit(s->io, &req, 1) == 1 ? 0 : -EAGAIN;
}

int swapin_start(struct swapper *s, uint64_t idx, uint64_t w,
		 const struct rd_ops *ops, int arg)
{
	struct rd *rd;
	uint32_t b;

	if (swapin_claim(s, idx, w, false, io_now_ns(), &b) < 0)
		return -EAGAIN;
	rd = &s->rds[b];
	rd->optional = true;
	rd->ops = ops;
	rd->arg = arg;
	if (rd_submit(s, rd) == 0)
		return 0;
	atomic_store(&s->pages[idx], w);
	buf_bounce_put(s, b);
	return -EAGAIN;
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

	lock_mutex(&s->ra_lock, LK_LEAF);
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
	unlock_mutex(&s->ra_lock, LK_LEAF);
	return win;
}

static struct rgroup *rg_new(struct swapper *s, uint32_t b)
{
	struct rgroup *g = core_zalloc(s, sizeof(*g));

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
		g->iov[i].iov_base = buf_bounce_ptr(s, g->bounce[i]);
		g->iov[i].iov_len = PAGE_SIZE_4K;
	}
	req->op = IO_READ;
	req->fd = swap_dev_fd(swapset_dev(s, rd0->gslot));
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
	uint64_t w;
	bool ok = false;

	page_lock(s, j);
	w = atomic_load(&s->pages[j]);
	if (pg_state(w) == PS_SWAPPED && swapin_claim(s, j, w, false, t0, b) == 0) {
		s->rds[*b].optional = true;
		*slot = pg_slot(w);
		ok = true;
	}
	page_unlock(s, j);
	return ok;
}

/* Group the fault's read (bounce b0) with the readahead pages of its window
 * that are on swap: pages in consecutive slots share one vectored read.
 * Returns the number of groups in groups[], 0 on allocation failure. */
static unsigned int ra_collect(struct swapper *s, uint64_t idx, uint32_t b0,
			       struct rgroup **groups)
{
	struct rd *rd0 = &s->rds[b0];
	unsigned int win = ra_window(s, idx), i, ng = 0;
	uint64_t prev = rd0->gslot;
	struct rgroup *cur;

	/* Reclaim is behind: do not add readahead pages to the overshoot. */
	if (reclaim_behind(s))
		win = 1;
	cur = rg_new(s, b0);
	if (!cur)
		return 0;
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
				unclaim(s, &s->rds[b]);
				break;
			}
			groups[ng++] = cur;
			cur = g;
		}
		prev = slot;
	}
	groups[ng++] = cur;
	return ng;
}

int swapin_submit_fault(struct swapper *s, uint64_t idx, uint32_t b0)
{
	struct rgroup *groups[RA_MAX];
	struct io_req *reqs[RA_MAX];
	unsigned int ng, i, k;
	int acc;

	lock_assert_none_held("swapin_submit_fault");
	ng = ra_collect(s, idx, b0, groups);
	if (!ng) {
		unclaim(s, &s->rds[b0]);
		core_fatal(s, -ENOMEM, "cannot submit swap-in read for gfn 0x%llx",
			   (unsigned long long)page_gfn(s, idx));
		return -ENOMEM;
	}
	for (k = 0; k < ng; k++) {
		rg_prepare(s, groups[k]);
		reqs[k] = &groups[k]->req;
	}
	acc = io_engine_submit(s->io, reqs, (int)ng);
	/* Groups not accepted get no completion: undo their claims.  A full
	 * queue (-EAGAIN) is back-pressure: the caller queues the fault for
	 * the next completion.  Any other refusal of the faulting page's own
	 * read means its data cannot be had: stop rather than map anything
	 * else. */
	for (k = acc > 0 ? (unsigned int)acc : 0; k < ng; k++) {
		for (i = 0; i < groups[k]->n; i++)
			unclaim(s, &s->rds[groups[k]->bounce[i]]);
		free(groups[k]);
	}
	if (acc == -EAGAIN)
		return -EAGAIN;
	if (acc <= 0) {
		core_fatal(s, acc < 0 ? acc : -EIO,
			   "cannot submit swap-in read for gfn 0x%llx",
			   (unsigned long long)page_gfn(s, idx));
		return acc < 0 ? acc : -EIO;
	}
	return 0;
}

static void install(struct swapper *s, struct rd *rd, uint64_t w)
{
	/* A clean copy keeps its slot - unless the slot's device is being
	 * drained (swapoff), whose slots must all be let go. */
	bool keep = s->use_wp && !rd->write_fault &&
		    !swapset_draining(s, gslot_dev(rd->gslot)) && keep_clean(s);
	uint64_t dt;
	int r;

	r = uffd_copy(s->uffd, page_host(s, rd->idx), buf_bounce_ptr(s, rd->bounce),
		      PAGE_SIZE_4K, keep, false);
	if (r < 0) {
		atomic_store(&s->pages[rd->idx], (w & ~(PG_STATE_MASK | PG_BUF_MASK)) |
			     PS_SWAPPED);
		core_fatal(s, r, "cannot install swapped-in gfn 0x%llx: %s",
			   (unsigned long long)page_gfn(s, rd->idx), strerror(-r));
		return;
	}
	if (!keep)
		swapset_put(s, rd->idx, rd->gslot);
	else
		kept_clean(s);
	atomic_store(&s->pages[rd->idx],
		     pg_make(PS_RESIDENT, PG_REF | (keep ? PG_WP | PG_SLOT : 0), 0,
			     keep ? rd->gslot : 0));
	page_resident_inc(s);
	if (rd->optional)
		return;
	atomic_fetch_add(&s->c.faults_swap, 1);
	dt = io_now_ns() - rd->t0;
	hist_record(&s->fault_lat, dt);
	hist_record(&s->swapin_lat, dt);
}

/* A read failed for good: the data stays on swap (state SWAPPED). */
static void read_failed(struct swapper *s, struct rd *rd, uint64_t w, ssize_t res)
{
	atomic_store(&s->pages[rd->idx], (w & ~(PG_STATE_MASK | PG_BUF_MASK |
						  PG_WAITER)) | PS_SWAPPED);
	/* Anyone who faulted while it was READING retries now, and that
	 * fault's own read decides. */
	if (rd->optional) {
		uffd_wake(s->uffd, page_host(s, rd->idx), PAGE_SIZE_4K);
		return;
	}
	core_fatal(s, res < 0 ? (int)res : -EIO,
		   "unrecoverable read error on guest page gfn 0x%llx "
		   "(slot %llu of %s): %s after %d tries; stopping",
		   (unsigned long long)page_gfn(s, rd->idx),
		   (unsigned long long)gslot_off(rd->gslot),
		   swap_dev_path(swapset_dev(s, rd->gslot)),
		   res < 0 ? strerror((int)-res) : "short read", rd->tries);
}

static void rd_done(struct io_req *req, ssize_t res)
{
	struct rd *rd = req->priv;
	struct swapper *s = rd->s;
	uint64_t w;

	hist_record(&s->read_lat, io_now_ns() - req->submit_ns);
	page_lock(s, rd->idx);
	w = atomic_load(&s->pages[rd->idx]);
	if (res == (ssize_t)PAGE_SIZE_4K) {
		atomic_fetch_add(&s->c.reads, 1);
		atomic_fetch_add(&s->c.bytes_read, PAGE_SIZE_4K);
		if (!rd->ops || (w & PG_WAITER) || rd->ops->take(s, rd, w) < 0)
			install(s, rd, w);
	} else {
		atomic_fetch_add(&s->c.read_errors, 1);
		if (++rd->tries < READ_TRIES && !atomic_load(&s->closing) &&
		    rd_submit(s, rd) == 0) {
			atomic_fetch_add(&s->c.read_retries, 1);
			page_unlock(s, rd->idx);
			return;         /* the bounce buffer stays with the read */
		}
		read_failed(s, rd, w, res);
	}
	page_unlock(s, rd->idx);
	if (rd->ops && rd->ops->end)
		rd->ops->end(s, rd);
	buf_bounce_put(s, rd->bounce);
	fault_queue_run_one(s, false);
}

/* Completion of a (readahead) group read: every page completes as its own
 * read; on error each falls back to a single-page read with retries. */
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
