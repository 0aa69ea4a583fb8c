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
 * Completion rules, page lock held.  A read that returned the whole page
 * is checked against its slot's seal first (seal.h: crc32c, or AES-GCM
 * decrypted in place in the bounce buffer); a mismatch or authentication
 * failure is counted (checksum_errors / decrypt_failures) and is then an
 * error like an I/O error (-EBADMSG), so a bad page is never installed:
 *   ok                 ops->take() took it, or install: RESIDENT (clean and
 *                      keeping its slot when keep_clean() says so)
 *   error, tries left  resubmit (the bounce buffer stays with the read)
 *   error, no tries    back to SWAPPED; a fault's read stops the VM with an
 *                      error naming the page and slot (never maps anything
 *                      else); an optional read just wakes any waiter, whose
 *                      own fault then decides
 * Then the bounce buffer is freed and one queued fault served.
 *
 * Zero-copy (memfd regions with an alias mapping, reads without ops): the
 * read lands in the page's own place in the memfd, through the alias
 * mapping, not in the bounce buffer (which only names the read).  The page
 * is then in the memfd but not mapped in the guest, whose mapping is
 * registered in MINOR mode too: a guest access waits (fault.c) until the
 * seal is checked there and UFFDIO_CONTINUE maps it.  A read that fails
 * for good punches the page out again.
 *
 * Owns: the struct rd of each bounce buffer while its read runs; ra_lock
 * (leaf) and the readahead streams; the keep-clean estimate.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hvswap/log.h"
#include "internal.h"
#include "seal.h"

struct rgroup;
static void rd_done(struct io_req *req, ssize_t res);
static void rg_done(struct io_req *req, ssize_t res);

/* One swap-in I/O covering consecutive slots (a fault plus readahead). */
struct rgroup {
	struct io_req req;
	struct swapper *s;
	unsigned int n;
	uint32_t bounce[RA_IO_MAX];
	struct iovec iov[RA_IO_MAX];
};

int swapin_init(struct swapper *s)
{
	ra_init(s);
	s->rds = calloc(s->nbounce, sizeof(*s->rds));
	return s->rds ? 0 : -ENOMEM;
}

void swapin_fini(struct swapper *s)
{
	free(s->rds);
	ra_fini(s);
}

/*
 * Keep a page read back from swap clean - installed write-protected and
 * still owning its slot, so evicting it again costs no write - or install it
 * writable?  Clean costs a write-protect fault (a uffd round trip, 70-95 us
 * on this host) at its first write; writable costs one more 4 KiB write at
 * its next eviction, in the background (~3 us of a 1.2 GB/s device).  So a
 * clean install pays only if it saves writes - pages evicted still clean,
 * dropped without I/O - and causes few faults: AUTO keeps pages clean while
 * the pages kept clean were dropped clean more often than they took a
 * write-protect fault (counts that halve every 8192 clean installs), and
 * keeps 1 install in 32 clean anyway so the estimate follows the workload.
 * It starts undecided (0 = 0: writable but for the samples): a readahead
 * window of up to 1024 pages is installed before the guest writes any of
 * them, so starting "clean" cost a burst of write-protect faults.
 * (Measured, 1 GiB at 50% resident, rw=0.5: sequential 26 s always clean,
 * 4.7 s never, 4.6 s auto; uniform and zipf within noise or better.)
 * AUTO also gives slots up while less than half the swap space is free.
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
	/* Slot space runs short (the kernel's vm_swap_full(): less than half
	 * free): a page kept clean pins a slot amid pages that were rewritten
	 * elsewhere, so the free space left is holes, writes get short and
	 * the slots of neighbouring pages stop being neighbours - readahead
	 * then reads a window in many small I/Os.  Giving the slot up costs
	 * one more write at the next eviction, sequential with its
	 * neighbours. */
	if (atomic_load(&s->swap_half_full)) {
		atomic_fetch_add(&s->c.clean_skipped_swap_full, 1);
		return false;
	}
	n = atomic_fetch_add(&s->kc_seen, 1);
	return atomic_load(&s->kc_wr) < atomic_load(&s->kc_drop) || n % 32 == 0;
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

/* Page lock held, state SWAPPED: page idx is to be read into bounce b. */
static void claim_with(struct swapper *s, uint64_t idx, uint64_t w, bool write,
		       uint64_t t0, uint32_t b)
{
	struct rd *rd = &s->rds[b];

	page_lock_assert_held(s, idx);
	*rd = (struct rd){ .s = s, .idx = idx, .gslot = pg_slot(w),
			   .crc = pg_crc(w), .bounce = b, .write_fault = write,
			   .arg = -1, .t0 = t0 };
	atomic_store(&s->pages[idx], pg_make(PS_READING, PG_SLOT, b, rd->gslot));
}

/* The word of rd's page back in SWAPPED (its read did not or will not
 * bring it in): the slot and seal it had. */
static uint64_t rd_swapped(const struct rd *rd)
{
	return pg_make_swapped(rd->gslot, rd->crc);
}

int swapin_claim(struct swapper *s, uint64_t idx, uint64_t w, bool write,
		 uint64_t t0, uint32_t *bp)
{
	if (buf_bounce_get(s, bp) < 0)
		return -EAGAIN;
	claim_with(s, idx, w, write, t0, *bp);
	return 0;
}

/* Undo swapin_claim() for a read that will not run (page lock taken here). */
static void unclaim(struct swapper *s, struct rd *rd)
{

	page_lock(s, rd->idx);
	atomic_store(&s->pages[rd->idx], rd_swapped(rd));
	page_unlock(s, rd->idx);
	buf_bounce_put(s, rd->bounce);
}

/* Zero-copy read?  (Migration reads take their data into staging.) */
static bool rd_zc(struct swapper *s, const struct rd *rd)
{
	return !rd->ops && page_alias(s, rd->idx);
}

/* Where rd's page is read to and checked. */
static void *rd_buf(struct swapper *s, const struct rd *rd)
{
	return rd_zc(s, rd) ? page_alias(s, rd->idx) : buf_bounce_ptr(s, rd->bounce);
}

/* Map n consecutive pages, rd's first, into the guest from where they were
 * read: the memfd (UFFDIO_CONTINUE) or consecutive bounce buffers
 * (UFFDIO_COPY; UFFDIO_MOVE for THP memory unless write-protected:
 * thp.c).  *keep: write-protected; cleared where the kernel cannot
 * continue write-protected (before Linux 6.4): then installed writable. */
static int map_in(struct swapper *s, struct rd *rd, unsigned int n, bool *keep)
{
	void *dst = page_host(s, rd->idx);
	uint64_t len = (uint64_t)n * s->psz;
	int r;

	if (s->thp && !*keep)    /* the THP itself into the guest */
		return thp_map_in(s, dst, buf_bounce_ptr(s, rd->bounce), n);
	if (!rd_zc(s, rd)) {
		r = uffd_copy(s->uffd, dst, buf_bounce_ptr(s, rd->bounce), len,
			      *keep, false);
		return r < 0 ? r : page_check_filled(s, rd->idx, n);
	}
	r = uffd_continue(s->uffd, dst, len, *keep, false);
	if (r == -EINVAL && *keep) {
		*keep = false;
		r = uffd_continue(s->uffd, dst, len, false, false);
	}
	if (r == 0)
		atomic_fetch_add(&s->c.swapin_zero_copy, n);
	return r;
}

static int rd_submit(struct swapper *s, struct rd *rd)
{
	struct io_req *req = &rd->req;

	memset(req, 0, sizeof(*req));
	rd->iov.iov_base = rd_buf(s, rd);
	rd->iov.iov_len = s->psz;
	req->op = IO_READ;
	req->fd = swap_dev_fd(swapset_dev(s, rd->gslot));
	req->off = gslot_off(rd->gslot) * s->psz;
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
		g->iov[i].iov_base = rd_buf(s, &s->rds[g->bounce[i]]);
		g->iov[i].iov_len = s->psz;
	}
	req->op = IO_READ;
	req->fd = swap_dev_fd(swapset_dev(s, rd0->gslot));
	req->off = gslot_off(rd0->gslot) * s->psz;
	req->iov = g->iov;
	req->iovcnt = (int)g->n;
	req->done = rg_done;
	req->priv = g;
}

/* Claim readahead page j into bounce b if it is on swap (its lock taken
 * here alone). */
static bool ra_claim(struct swapper *s, uint64_t j, uint64_t t0, uint32_t b,
		     uint64_t *slot)
{
	uint64_t w;
	bool ok = false;

	page_lock(s, j);
	w = atomic_load(&s->pages[j]);
	if (pg_state(w) == PS_SWAPPED) {
		claim_with(s, j, w, false, t0, b);
		s->rds[b].optional = true;
		*slot = pg_slot(w);
		ok = true;
	}
	page_unlock(s, j);
	return ok;
}

/* The groups being built for one submission: pages in consecutive slots
 * of one device share one vectored read. */
struct rbatch {
	struct rgroup *g[RA_MAX + 1];
	unsigned int ng;
	uint64_t prev;          /* slot of the last page added */
};

static bool rb_add(struct swapper *s, struct rbatch *rb, uint32_t b, uint64_t slot)
{
	struct rgroup *cur = rb->ng ? rb->g[rb->ng - 1] : NULL;

	if (cur && cur->n < RA_IO_MAX && slot == rb->prev + 1 &&
	    gslot_dev(slot) == gslot_dev(rb->prev)) {
		cur->bounce[cur->n++] = b;
	} else {
		if (rb->ng == RA_MAX + 1 || !(cur = rg_new(s, b)))
			return false;
		rb->g[rb->ng++] = cur;
	}
	rb->prev = slot;
	return true;
}

/* Claim the planned readahead pages that are on swap into a run of
 * contiguous bounce buffers (so consecutive pages install with one
 * UFFDIO_COPY) and add them to rb.  Returns the pages claimed. */
static unsigned int ra_collect(struct swapper *s, const struct ra_plan *p,
			       uint64_t t0, struct rbatch *rb)
{
	uint32_t first, nb, used = 0, k;
	unsigned int i, got = 0;
	int r;

	r = buf_bounce_get_run(s, p->n, &first);
	if (r <= 0)
		return 0;
	nb = (uint32_t)r;
	for (i = 0; i < p->n && used < nb; i++) {
		int64_t j = (int64_t)p->from + (int64_t)i * p->stride;
		uint64_t slot;

		if (j < 0 || (uint64_t)j >= s->npages)
			break;
		if ((uint64_t)j == p->hole)
			continue;       /* the marker: left for the guest to fault */
		if (!ra_claim(s, (uint64_t)j, t0, first + used, &slot))
			continue;
		if (!rb_add(s, rb, first + used, slot)) {
			unclaim(s, &s->rds[first + used]);
			break;
		}
		used++;
		got++;
	}
	for (k = used; k < nb; k++)
		buf_bounce_put(s, first + k);
	if (got)
		ra_read(s, got);
	return got;
}

/* Submit rb's groups.  Groups not accepted get no completion: their claims
 * are undone.  Returns what io_engine_submit() returned. */
static int rb_submit(struct swapper *s, struct rbatch *rb)
{
	struct io_req *reqs[RA_MAX + 1];
	unsigned int i, k;
	int acc;

	for (k = 0; k < rb->ng; k++) {
		rg_prepare(s, rb->g[k]);
		reqs[k] = &rb->g[k]->req;
	}
	acc = io_engine_submit(s->io, reqs, (int)rb->ng);
	for (k = acc > 0 ? (unsigned int)acc : 0; k < rb->ng; k++) {
		for (i = 0; i < rb->g[k]->n; i++)
			unclaim(s, &s->rds[rb->g[k]->bounce[i]]);
		free(rb->g[k]);
	}
	return acc;
}

/* Readahead is planned unless reclaim is so far behind that faults are
 * being throttled (the hard limit): never switched off in steady state. */
static bool ra_wanted(struct swapper *s, uint64_t idx, bool miss, struct ra_plan *p)
{
	return ra_plan(s, idx, miss, p) && !reclaim_over_hard_limit(s);
}

void swapin_hint(struct swapper *s, uint64_t idx)
{
	struct rbatch rb = { .ng = 0 };
	struct ra_plan p;

	lock_assert_none_held("swapin_hint");
	if (!ra_wanted(s, idx, false, &p))
		return;
	atomic_fetch_add(&s->c.readahead_hints, 1);
	if (ra_collect(s, &p, io_now_ns(), &rb))
		rb_submit(s, &rb);
}

int swapin_submit_fault(struct swapper *s, uint64_t idx, uint32_t b0)
{
	struct rbatch rb = { .ng = 0 };
	struct ra_plan p;
	int acc;

	lock_assert_none_held("swapin_submit_fault");
	if (!rb_add(s, &rb, b0, s->rds[b0].gslot)) {
		unclaim(s, &s->rds[b0]);
		core_fatal(s, -ENOMEM, "cannot submit swap-in read for gfn 0x%llx",
			   (unsigned long long)page_gfn(s, idx));
		return -ENOMEM;
	}
	if (ra_wanted(s, idx, true, &p))
		ra_collect(s, &p, s->rds[b0].t0, &rb);
	acc = rb_submit(s, &rb);
	/* A full queue (-EAGAIN) is back-pressure: the caller queues the
	 * fault for the next completion.  Any other refusal of the faulting
	 * page's own read means its data cannot be had: stop rather than map
	 * anything else. */
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

/* A clean copy keeps its slot - unless the slot's device is being drained
 * (swapoff), whose slots must all be let go.  A block of a disk image (the
 * swap mapper, mirror.c) is always kept: it costs no swap space. */
static bool install_clean(struct swapper *s, struct rd *rd)
{
	unsigned int dev = gslot_dev(rd->gslot);

	if (!s->use_wp || rd->write_fault)
		return false;
	if (swapset_is_mirror(s, dev))
		return true;
	return !swapset_draining(s, dev) && keep_clean(s);
}

/* Page lock held: the page of rd is mapped (keep: write-protected, keeping
 * its slot); its word and the counters follow.  A readahead page is marked
 * PG_RA rather than referenced (readahead.c). */
static void installed(struct swapper *s, struct rd *rd, bool keep)
{
	uint64_t dt, now, fl = keep ? PG_WP | PG_SLOT : 0;

	if (!keep)
		swapset_put(s, rd->idx, rd->gslot);
	else
		kept_clean(s);
	fl |= rd->optional && !rd->ops ? PG_RA : PG_REF;
	atomic_store(&s->pages[rd->idx], pg_make(PS_RESIDENT, fl, 0,
						 keep ? rd->gslot : 0));
	page_resident_inc(s);
	if (rd->optional)
		return;
	atomic_fetch_add(&s->c.faults_swap, 1);
	now = io_now_ns();
	dt = now - rd->t0;
	hist_record(&s->fault_lat, dt);
	hist_record(&s->swapin_lat, dt);
	hist_record(&s->part_queue, rd->req.submit_ns - rd->t0);
	hist_record(&s->part_device, rd->t_done - rd->req.submit_ns);
	hist_record(&s->part_install, now - rd->t_done);
}

static void install(struct swapper *s, struct rd *rd, uint64_t w)
{
	bool keep = install_clean(s, rd);
	int r;

	r = map_in(s, rd, 1, &keep);
	if (r < 0) {
		atomic_store(&s->pages[rd->idx], rd_swapped(rd));
		core_fatal(s, r, "cannot install swapped-in gfn 0x%llx: %s",
			   (unsigned long long)page_gfn(s, rd->idx), page_strerror(s, r));
		return;
	}
	installed(s, rd, keep);
}

static const char *read_why(struct swapper *s, ssize_t res)
{
	if (res == -EBADMSG)
		return seal_mode(s->seal) == SEAL_AES256GCM ?
		       "authentication failed (corrupt or tampered)" :
		       "checksum mismatch (corrupt)";
	return res < 0 ? strerror((int)-res) : "short read";
}

/* A read failed for good: the data stays on swap (state SWAPPED). */
static void read_failed(struct swapper *s, struct rd *rd, uint64_t w, ssize_t res)
{
	atomic_store(&s->pages[rd->idx], rd_swapped(rd));
	if (rd_zc(s, rd))
		page_drop(s, rd->idx, 1);       /* not the page: out again */
	/* Anyone who faulted while it was READING retries now, and that
	 * fault's own read decides. */
	if (rd->optional) {
		uffd_wake(s->uffd, page_host(s, rd->idx), s->psz);
		return;
	}
	core_fatal(s, res < 0 ? (int)res : -EIO,
		   "unrecoverable read error on guest page gfn 0x%llx "
		   "(slot %llu of %s): %s after %d tries; stopping",
		   (unsigned long long)page_gfn(s, rd->idx),
		   (unsigned long long)gslot_off(rd->gslot),
		   swap_dev_path(swapset_dev(s, rd->gslot)),
		   read_why(s, res), rd->tries);
}

/* The page read into the bounce buffer against its slot's seal (decrypted
 * in place with encryption): the read's result, or -EBADMSG. */
static ssize_t rd_check(struct swapper *s, struct rd *rd)
{
	struct seal_entry e;

	if (swapset_seal_get(s, rd->gslot, rd->crc, &e) == 0 &&
	    seal_open(s->seal, rd->gslot, rd_buf(s, rd), &e) == 0)
		return (ssize_t)s->psz;
	atomic_fetch_add(seal_mode(s->seal) == SEAL_AES256GCM ?
			 &s->c.decrypt_failures : &s->c.checksum_errors, 1);
	return -EBADMSG;
}

/* Count a read's outcome and check the page against its seal: the
 * read's final result (s->psz, or an error). */
static ssize_t rd_result(struct swapper *s, struct rd *rd, ssize_t res)
{
	if (res != (ssize_t)s->psz) {
		atomic_fetch_add(&s->c.read_errors, 1);
		return res;
	}
	atomic_fetch_add(&s->c.reads, 1);
	atomic_fetch_add(&s->c.bytes_read, s->psz);
	return rd_check(s, rd);
}

/* Page lock held: finish a read with result res.  False when it was
 * resubmitted (it keeps its bounce buffer and will complete again). */
static bool rd_finish_locked(struct swapper *s, struct rd *rd, uint64_t w,
			     ssize_t res)
{
	if (res == (ssize_t)s->psz) {
		if (!rd->ops || (w & PG_WAITER) || rd->ops->take(s, rd, w) < 0)
			install(s, rd, w);
		return true;
	}
	if (++rd->tries < READ_TRIES && !atomic_load(&s->closing) &&
	    rd_submit(s, rd) == 0) {
		atomic_fetch_add(&s->c.read_retries, 1);
		return false;
	}
	read_failed(s, rd, w, res);
	return true;
}

/* No lock held: the read is over; its buffer serves a queued fault. */
static void rd_release(struct swapper *s, struct rd *rd)
{
	if (rd->ops && rd->ops->end)
		rd->ops->end(s, rd);
	buf_bounce_put(s, rd->bounce);
	fault_queue_run_one(s, false);
}

static void rd_done(struct io_req *req, ssize_t res)
{
	struct rd *rd = req->priv;
	struct swapper *s = rd->s;
	bool over;

	rd->t_done = io_now_ns();
	hist_record(&s->read_lat, rd->t_done - req->submit_ns);
	atomic_fetch_add(&s->c.read_ios, 1);    /* one I/O: this page */
	page_lock(s, rd->idx);
	over = rd_finish_locked(s, rd, atomic_load(&s->pages[rd->idx]),
				rd_result(s, rd, res));
	page_unlock(s, rd->idx);
	if (over)
		rd_release(s, rd);
}

/* Length of the run of g's pages from i that can be installed together:
 * consecutive guest pages (one mapping) in consecutive bounce buffers, at
 * most PG_EVICT_RUN page locks, ascending stripes. */
static unsigned int run_len(struct swapper *s, struct rgroup *g, unsigned int i)
{
	unsigned int j;

	for (j = i + 1; j < g->n && j - i < PG_EVICT_RUN; j++) {
		uint64_t a = s->rds[g->bounce[j - 1]].idx, b = s->rds[g->bounce[j]].idx;

		if (b != a + 1 || g->bounce[j] != g->bounce[j - 1] + 1 ||
		    (b & (NR_PAGE_LOCKS - 1)) == 0 ||
		    (uint8_t *)page_host(s, b) != (uint8_t *)page_host(s, a) + s->psz)
			break;
	}
	return j - i;
}

/* Page locks of rds[0..n) held, all read fine and plain (no ops): map
 * pages [a, b) with one UFFDIO_COPY per stretch of equal keep. */
static void install_span(struct swapper *s, struct rd **rds, const bool *keep,
			 unsigned int n)
{
	unsigned int a = 0, b, k;
	bool kp;
	int r;

	while (a < n) {
		for (b = a + 1; b < n && keep[b] == keep[a]; b++)
			;
		kp = keep[a];
		r = map_in(s, rds[a], b - a, &kp);
		for (k = a; k < b; k++) {
			if (r == 0) {
				installed(s, rds[k], kp);
				continue;
			}
			atomic_store(&s->pages[rds[k]->idx], rd_swapped(rds[k]));
			core_fatal(s, r, "cannot install swapped-in gfn 0x%llx: %s",
				   (unsigned long long)page_gfn(s, rds[k]->idx),
				   page_strerror(s, r));
		}
		a = b;
	}
}

/* Complete run [i, i+n) of a group whose read succeeded: the page locks
 * taken together (ascending), pages that read fine and have no owner ops
 * installed by as few UFFDIO_COPYs as possible, the others finished one by
 * one as rd_done() would. */
static void rg_complete_run(struct swapper *s, struct rgroup *g, unsigned int i,
			    unsigned int n, uint64_t t_done)
{
	struct rd *rds[PG_EVICT_RUN], *plain[PG_EVICT_RUN];
	bool over[PG_EVICT_RUN], keep[PG_EVICT_RUN];
	unsigned int k, np = 0;

	for (k = 0; k < n; k++) {
		rds[k] = &s->rds[g->bounce[i + k]];
		rds[k]->t_done = t_done;
		page_lock(s, rds[k]->idx);
	}
	for (k = 0; k < n; k++) {
		struct rd *rd = rds[k];
		uint64_t w = atomic_load(&s->pages[rd->idx]);
		ssize_t res = rd_result(s, rd, (ssize_t)s->psz);

		over[k] = true;
		if (res == (ssize_t)s->psz && !rd->ops) {
			keep[np] = install_clean(s, rd);
			plain[np++] = rd;
			continue;
		}
		if (np) {
			install_span(s, plain, keep, np);
			np = 0;
		}
		over[k] = rd_finish_locked(s, rd, w, res);
	}
	if (np)
		install_span(s, plain, keep, np);
	for (k = n; k-- > 0;)
		page_unlock(s, rds[k]->idx);
	for (k = 0; k < n; k++) {
		if (over[k])
			rd_release(s, rds[k]);
	}
}

/* Completion of a group read (a fault plus readahead): on success its
 * pages complete in runs (rg_complete_run); on error each falls back to a
 * single-page read with retries. */
static void rg_done(struct io_req *req, ssize_t res)
{
	struct rgroup *g = req->priv;
	struct swapper *s = g->s;
	uint64_t t_done = io_now_ns();
	unsigned int i, n;

	hist_record(&s->read_lat, t_done - req->submit_ns);
	if (res == (ssize_t)(g->n * s->psz))
		atomic_fetch_add(&s->c.read_ios, 1);    /* one I/O: the group */
	for (i = 0; i < g->n; i++) {
		s->rds[g->bounce[i]].req.submit_ns = req->submit_ns;
		s->rds[g->bounce[i]].req.priv = &s->rds[g->bounce[i]];
	}
	if (res != (ssize_t)(g->n * s->psz)) {
		for (i = 0; i < g->n; i++)
			rd_done(&s->rds[g->bounce[i]].req, -EIO);
	} else {
		for (i = 0; i < g->n; i += n) {
			n = run_len(s, g, i);
			rg_complete_run(s, g, i, n, t_done);
		}
	}
	free(g);
}
