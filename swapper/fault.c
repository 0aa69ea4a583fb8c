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
#include <string.h>
#include <unistd.h>

#include "hvswap/log.h"
#include "internal.h"

static void rd_done(struct io_req *req, ssize_t res);

static uint64_t resident_flags(struct swapper *s, bool wp, uint64_t slot_flag)
{
	return PG_REF | (wp ? (PG_WP | slot_flag) : 0);
}

static void map_zero(struct swapper *s, uint64_t idx, bool write)
{
	static const uint8_t zero[PAGE_SIZE_4K] __attribute__((aligned(4096)));
	void *dst = page_host(s, idx);
	int r;

	/* A read maps the shared zero page (no memory until written); a write
	 * would only COW it at once, so give it a private page directly. */
	r = write ? uffd_copy(s->uffd, dst, zero, PAGE_SIZE_4K, false, false)
		  : uffd_zeropage(s->uffd, dst, PAGE_SIZE_4K, false);
	if (r < 0)
		swapper_fatal(s, r, "cannot map zero page at gfn 0x%llx: %s",
			      (unsigned long long)page_gfn(s, idx), strerror(-r));
	atomic_store(&s->pages[idx], pg_make(PS_RESIDENT, PG_REF, 0, 0));
	resident_inc(s);
	atomic_fetch_add(&s->c.faults_zero, 1);
}

static void from_staging(struct swapper *s, uint64_t idx, uint64_t w, bool write)
{
	bool keep = s->use_wp && (w & PG_SLOT) && !write;
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
		slot_put(s, slot);
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

/* Page lock held, state SWAPPED. */
static void start_read(struct swapper *s, uint64_t idx, uint64_t w, bool write,
		       uint64_t t0)
{
	struct rd *rd;
	uint32_t b;
	int r;

	if (bounce_get(s, &b) < 0) {
		if (pending_add(s, idx, write, t0) < 0)
			swapper_fatal(s, -ENOSPC, "too many concurrent swap-in faults");
		atomic_fetch_add(&s->c.faults_pending, 1);
		return;
	}
	rd = &s->rds[b];
	rd->s = s;
	rd->idx = idx;
	rd->gslot = pg_slot(w);
	rd->bounce = b;
	rd->write_fault = write;
	rd->tries = 0;
	rd->t0 = t0;
	atomic_store(&s->pages[idx], (w & ~(PG_STATE_MASK | PG_BUF_MASK)) |
		     PS_READING | ((uint64_t)b << PG_BUF_SHIFT));
	atomic_fetch_add(&s->c.reading, 1);
	r = rd_submit(s, rd);
	if (r < 0) {
		/* Submission refused: no completion will run.  The data is
		 * still on swap; report rather than spin. */
		atomic_store(&s->pages[idx], w);
		atomic_fetch_sub(&s->c.reading, 1);
		pthread_mutex_lock(&s->buf_lock);
		s->bounce_free[s->nbounce_free++] = b;
		pthread_mutex_unlock(&s->buf_lock);
		swapper_fatal(s, r, "cannot submit swap-in read for gfn 0x%llx",
			      (unsigned long long)page_gfn(s, idx));
	}
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
		slot_put(s, pg_slot(w));
	atomic_store(&s->pages[idx], pg_make(PS_RESIDENT, PG_REF, 0, 0));
	r = uffd_writeprotect(s->uffd, host, PAGE_SIZE_4K, false, false);
	if (r < 0 && r != -ENOENT)
		swapper_fatal(s, r, "cannot unprotect gfn 0x%llx: %s",
			      (unsigned long long)page_gfn(s, idx), strerror(-r));
	atomic_fetch_add(&s->c.faults_wp, 1);
}

void fault_handle(struct swapper *s, uint64_t addr, bool write, bool wp,
		  uint64_t t0)
{
	pthread_mutex_t *l;
	uint64_t idx, w;
	bool done = true;

	if (addr_to_idx(s, addr, &idx) < 0) {
		log_err("fault at 0x%llx outside every region", (unsigned long long)addr);
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
		start_read(s, idx, w, write, t0);
		done = false;
		break;
	case PS_READING:
		atomic_fetch_add(&s->c.faults_dup, 1);
		done = false;
		break;
	}
	pthread_mutex_unlock(l);
	if (done)
		hist_record(&s->fault_lat, io_now_ns() - t0);
	rc_kick(s);
}

/* A bounce buffer is free again: start the oldest queued fault, if any. */
static void pending_run(struct swapper *s)
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
	atomic_fetch_sub(&s->c.reading, 1);
	pthread_mutex_lock(&s->buf_lock);
	s->bounce_free[s->nbounce_free++] = rd->bounce;
	pthread_mutex_unlock(&s->buf_lock);
	pending_run(s);
}

static void rd_install(struct swapper *s, struct rd *rd, uint64_t w)
{
	bool keep = s->use_wp && !rd->write_fault;
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
		slot_put(s, rd->gslot);
	atomic_store(&s->pages[rd->idx],
		     pg_make(PS_RESIDENT, resident_flags(s, keep, PG_SLOT), 0,
			     keep ? rd->gslot : 0));
	resident_inc(s);
	atomic_fetch_add(&s->c.faults_swap, 1);
	hist_record(&s->fault_lat, io_now_ns() - rd->t0);
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
		 * run on without it. */
		atomic_store(&s->pages[rd->idx], (w & ~(PG_STATE_MASK | PG_BUF_MASK)) |
			     PS_SWAPPED);
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
