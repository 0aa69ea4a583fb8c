/*
 * fault.c - fault service: the fault thread turns each userfaultfd message
 * into the page's next state, and serves faults that had to be queued.
 *
 * Rules for a MISSING fault, by page state (page lock held):
 *   NONE/ZERO  map zeros (ZEROPAGE for reads, a zeroed page for writes)
 *   RESIDENT   already served (a duplicate message): wake
 *   STAGED     write-out pending/in flight: copy from the staging buffer
 *              (the swap cache hit); the buffer stays with its write batch
 *   SWAPPED    claim a read (swapin.c) - or queue the fault when no bounce
 *              buffer is free: it is served when a read completes
 *   READING    a read is in flight: mark PG_WAITER (a migration read then
 *              completes into the guest); its completion wakes us
 *   ZPOOL      compressed in memory: decompress and install (ztier.c)
 * A WP fault (a write to a clean page installed write-protected) clears the
 * page's claim on its slot - it is about to differ from it - then
 * unprotects, which wakes the writer.
 * Never: map zeros for a page whose data is on swap or in staging.
 *
 * A MINOR fault (memfd regions with zero-copy swap-in, registered in MINOR
 * mode too): the page is in the memfd but not mapped in the guest.
 *   READING    our zero-copy read is filling it: the MISSING rule (wait)
 *   RESIDENT   the kernel unmapped it (e.g. to its own swap): map it back
 *              (UFFDIO_CONTINUE, write-protected if it was)
 *   NONE/ZERO  another process wrote it (a device backend mapping the
 *              memfd): the guest sees that write - the page is adopted
 *   SWAPPED/STAGED  the data is ours, on swap or in staging: the page in
 *              the memfd is not (a foreign write to memory that was out,
 *              or a read that was never submitted): punched, then the
 *              MISSING rule
 *
 * Queued faults (buf.c's ring): no bounce buffer, a full I/O queue, or
 * throttled (over the hard limit: reclaim is behind).  They are served from
 * scratch - the page may have changed state - by fault_queue_run_one(),
 * from completions (a buffer or queue slot was freed) and from the reclaim
 * thread (it caught up).
 *
 * The fault thread never waits for disk I/O and holds one page lock at a
 * time.  With a polled I/O engine it also runs the I/O completions (swap-in
 * installs, write completions): one loop waits for both, spinning before it
 * sleeps as spin.c decides.  Owns: the thread, its spin state, fault_stop.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvswap/log.h"
#include "internal.h"
#include "spin.h"
#include "ztier.h"

#define MSG_BATCH 64
#define AROUND_SPAN 32         /* fault-around pages mapped (and locked) at once */

/* Map zeros at page idx.  A read maps the shared zero page (no memory until
 * written); a write would only COW it at once, so it gets a private page.
 * hugetlbfs has no UFFDIO_ZEROPAGE: a huge unit is copied from zeros. */
/* Zeros to copy from: one page's worth for a fault, a span for fault-around. */
static const uint8_t zeros[AROUND_SPAN * PAGE_SIZE_4K] __attribute__((aligned(4096)));

static int map_zeros(struct swapper *s, uint64_t idx, bool write)
{
	void *dst = page_host(s, idx);
	int r;

	if (s->thp)             /* a fresh THP moved in (thp.c) */
		return thp_map_zero(s, dst);
	if (s->zero_unit) {
		r = uffd_copy(s->uffd, dst, s->zero_unit, s->psz, false, false);
		return r < 0 ? r : page_check_filled(s, idx, 1);
	}
	return write ? uffd_copy(s->uffd, dst, zeros, s->psz, false, false)
		     : uffd_zeropage(s->uffd, dst, s->psz, false);
}

/* Page lock held, state NONE or ZERO.  False when nothing was mapped (the
 * VM is stopped: the page stays as it was). */
static bool map_zero(struct swapper *s, uint64_t idx, bool write)
{
	int r = map_zeros(s, idx, write);

	if (r < 0 && r != -EEXIST) {
		core_fatal(s, r, "cannot map zero page at gfn 0x%llx: %s",
			   (unsigned long long)page_gfn(s, idx), page_strerror(s, r));
		return false;
	}
	/* -EEXIST: something is mapped there already (never by us: the state
	 * says not); it is what the guest sees, so it is resident. */
	atomic_store(&s->pages[idx], pg_make(PS_RESIDENT, PG_REF, 0, 0));
	page_resident_inc(s);
	atomic_fetch_add(&s->c.faults_zero, 1);
	return true;
}

/* Page lock held, state STAGED: the swap cache hit. */
static bool from_staging(struct swapper *s, uint64_t idx, uint64_t w)
{
	int r;

	/* Never installed as a clean copy of its slot: the slot's write is
	 * still pending or in flight, so a clean eviction now would let a
	 * swap-in read the slot before the write lands (or after it fails). */
	r = uffd_copy(s->uffd, page_host(s, idx), buf_stage_ptr(s, pg_buf(w)),
		      s->psz, false, false);
	if (r == 0)
		r = page_check_filled(s, idx, 1);
	if (r < 0) {
		core_fatal(s, r, "cannot restore staged gfn 0x%llx: %s",
			   (unsigned long long)page_gfn(s, idx), page_strerror(s, r));
		return false;
	}
	if (w & PG_SLOT)
		swapset_put(s, idx, pg_slot(w));
	atomic_store(&s->pages[idx], pg_make(PS_RESIDENT, PG_REF, 0, 0));
	atomic_fetch_sub(&s->c.staged, 1);
	page_resident_inc(s);
	atomic_fetch_add(&s->c.faults_staging, 1);
	return true;
}

/* Page lock held: a write to a write-protected page. */
static void wp_fault(struct swapper *s, uint64_t idx, uint64_t w)
{
	void *host = page_host(s, idx);
	int r;

	if (pg_state(w) != PS_RESIDENT) {
		/* Evicted between the write and now: the writer retries and
		 * takes a MISSING fault. */
		uffd_wake(s->uffd, host, s->psz);
		return;
	}
	if (w & PG_SLOT)
		swapset_put(s, idx, pg_slot(w));
	if (w & PG_WP)
		swapin_note_written_clean(s);
	atomic_store(&s->pages[idx], pg_make(PS_RESIDENT, PG_REF, 0, 0));
	policy_hit(s, idx);
	r = uffd_writeprotect(s->uffd, host, s->psz, false, false);
	if (r < 0 && r != -ENOENT)
		core_fatal(s, r, "cannot unprotect gfn 0x%llx: %s",
			   (unsigned long long)page_gfn(s, idx), strerror(-r));
	atomic_fetch_add(&s->c.faults_wp, 1);
}

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
 * UFFDIO_MOVE moves them like any page.  Called after the faulting vCPU
 * was woken.
 */
/* Page locks of [first, first + n) held, all NONE: map them with one ioctl
 * where it can (a page found mapped after all - never by us - is resident
 * as it is, as in map_zero()). */
static void around_span(struct swapper *s, uint64_t first, unsigned int n, bool write)
{
	unsigned int i = 0;

	while (i < n) {
		uint64_t done;
		int r = uffd_zero_span(s->uffd, page_host(s, first + i),
				       (uint64_t)(n - i) * PAGE_SIZE_4K, write,
				       zeros, &done);
		unsigned int k, got = (unsigned int)(done / PAGE_SIZE_4K);

		if (r == -EEXIST)
			got++;          /* already mapped: resident as it is */
		for (k = i; k < i + got; k++) {
			atomic_store(&s->pages[first + k], pg_make(PS_RESIDENT, 0, 0, 0));
			page_resident_inc(s);
			atomic_fetch_add(&s->c.zero_around, 1);
		}
		if (r < 0 && r != -EEXIST)
			return;         /* the rest left NONE: faults map them */
		i += got;
	}
}

static void fault_around(struct swapper *s, uint64_t idx, bool write)
{
	unsigned int n = s->cfg.fault_around, run = 0;
	uint64_t first, j, start = 0;

	if (n <= 1 || !reclaim_room_for(s, n))
		return;
	first = idx & ~((uint64_t)n - 1);
	/* Runs of never-used pages, their locks taken in ascending order (the
	 * block is aligned, so it never wraps the lock stripes), one ioctl
	 * each: a 16-page block costs one UFFDIO_ZEROPAGE or UFFDIO_COPY
	 * instead of fifteen. */
	for (j = first; j <= first + n && j <= s->npages; j++) {
		bool take = j < first + n && j < s->npages && j != idx &&
			    pg_state(atomic_load(&s->pages[j])) == PS_NONE &&
			    run < AROUND_SPAN;

		if (take) {
			page_lock(s, j);
			if (pg_state(atomic_load(&s->pages[j])) == PS_NONE) {
				if (!run++)
					start = j;
				continue;
			}
			page_unlock(s, j);
		}
		if (run) {
			uint64_t k;

			around_span(s, start, run, write);
			for (k = start + run; k-- > start;)
				page_unlock(s, k);
			run = 0;
			if (j < first + n && j != idx && j < s->npages &&
			    pg_state(atomic_load(&s->pages[j])) == PS_NONE) {
				j--;    /* the span was full: start the next here */
				continue;
			}
		}
	}
}

static void queue_fault(struct swapper *s, uint64_t idx, bool write, uint64_t t0)
{
	if (buf_pending_push(s, idx, write, t0) < 0)
		core_fatal(s, -ENOSPC, "too many concurrent swap-in faults");
	else
		atomic_fetch_add(&s->c.faults_pending, 1);
}

/* Page lock held: a MINOR fault (rules above).  True when the MISSING rules
 * are to serve it (the page is not in the memfd any more, or is being
 * read); false when served here. */
static bool minor_fault(struct swapper *s, uint64_t idx, uint64_t w)
{
	void *host = page_host(s, idx);
	bool wp = (w & PG_WP) && pg_state(w) == PS_RESIDENT;
	int r;

	atomic_fetch_add(&s->c.faults_minor, 1);
	switch (pg_state(w)) {
	case PS_READING:
		return true;
	case PS_SWAPPED:
	case PS_STAGED:
		r = page_drop(s, idx, 1);
		if (r < 0)
			core_fatal(s, r, "cannot drop a stray page at gfn 0x%llx: %s",
				   (unsigned long long)page_gfn(s, idx), strerror(-r));
		return r == 0;
	default:
		break;
	}
	r = uffd_continue(s->uffd, host, s->psz, wp, false);
	if (r == -EINVAL && wp) {
		/* No CONTINUE_MODE_WP (< 6.4): writable, so no longer clean */
		if (w & PG_SLOT)
			swapset_put(s, idx, pg_slot(w));
		w &= ~(PG_WP | PG_SLOT);
		atomic_store(&s->pages[idx], w);
		r = uffd_continue(s->uffd, host, s->psz, false, false);
	}
	if (r < 0) {
		core_fatal(s, r, "cannot map gfn 0x%llx from the memfd: %s",
			   (unsigned long long)page_gfn(s, idx), strerror(-r));
		return false;
	}
	if (pg_state(w) != PS_RESIDENT) {       /* adopted */
		atomic_store(&s->pages[idx], pg_make(PS_RESIDENT, PG_REF, 0, 0));
		page_resident_inc(s);
	}
	return false;
}

/* What fault_locked() leaves to do once the page lock is dropped. */
enum fault_next { FN_NONE, FN_DONE, FN_SUBMIT, FN_HINT };

/* Page lock held: the MISSING fault on page idx (word w). */
static enum fault_next fault_locked(struct swapper *s, uint64_t idx, uint64_t w,
				    bool write, uint64_t t0, uint32_t *b)
{
	switch (pg_state(w)) {
	case PS_NONE:
	case PS_ZERO:
		return map_zero(s, idx, write) ? FN_DONE : FN_NONE;
	case PS_RESIDENT:
		uffd_wake(s->uffd, page_host(s, idx), s->psz);
		atomic_fetch_add(&s->c.faults_spurious, 1);
		return FN_NONE;
	case PS_STAGED:
		return from_staging(s, idx, w) ? FN_DONE : FN_NONE;
	case PS_SWAPPED:
		if (swapin_claim(s, idx, w, write, t0, b) == 0)
			return FN_SUBMIT;
		queue_fault(s, idx, write, t0);
		return FN_NONE;
	case PS_READING:
		/* Tell a migration read that the guest wants this page. */
		atomic_store(&s->pages[idx], w | PG_WAITER);
		atomic_fetch_add(&s->c.faults_dup, 1);
		return FN_HINT;         /* the guest reached a page in flight */
	case PS_ZPOOL:
		return ztier_fault(s, idx, w, t0) ? FN_DONE : FN_NONE;
	}
	return FN_NONE;
}

/* may_throttle: a fault that would add a resident page while over the hard
 * limit waits in the queue (backpressure); the reclaim thread serves it
 * once it caught up, and in any case at the end of its cycle (so a VM whose
 * reclaim cannot progress - swap full, all pinned - is never stalled). */
static void fault_handle_ex(struct swapper *s, uint64_t addr, bool write,
			    bool wp, bool minor, uint64_t t0, bool may_throttle)
{
	enum fault_next next;
	uint64_t idx, w;
	uint32_t b = 0;

	if (page_idx(s, addr, &idx) < 0) {
		/* Only the staging area is registered besides guest memory, and
		 * nothing may touch an empty staging buffer.  If something
		 * does (a bug), unblock it rather than deadlock. */
		log_err("fault at 0x%llx outside every region", (unsigned long long)addr);
		uffd_zeropage(s->uffd, (void *)(uintptr_t)addr, s->psz, false);
		return;
	}
	page_lock(s, idx);
	w = atomic_load(&s->pages[idx]);
	if (wp || (minor && !minor_fault(s, idx, w))) {
		if (wp)
			wp_fault(s, idx, w);
		page_unlock(s, idx);
		return;
	}
	if (may_throttle && pg_state(w) != PS_RESIDENT && pg_state(w) != PS_READING &&
	    reclaim_over_hard_limit(s) && buf_pending_push(s, idx, write, t0) == 0) {
		page_unlock(s, idx);
		atomic_fetch_add(&s->c.faults_throttled, 1);
		core_wake_reclaim(s);
		return;
	}
	if (pg_state(w) != PS_RESIDENT)
		policy_fault(s, idx);   /* before the state changes (arcw's ghosts) */
	next = fault_locked(s, idx, w, write, t0, &b);
	page_unlock(s, idx);
	if (next == FN_SUBMIT && swapin_submit_fault(s, idx, b) == -EAGAIN)
		queue_fault(s, idx, write, t0);
	if (next == FN_HINT)
		swapin_hint(s, idx);
	if (next == FN_DONE)
		hist_record(&s->fault_lat, io_now_ns() - t0);
	if (pg_state(w) == PS_NONE)
		fault_around(s, idx, write);
	reclaim_kick(s);
}

void fault_handle(struct swapper *s, uint64_t addr, bool write, bool wp,
		  bool minor, uint64_t t0)
{
	fault_handle_ex(s, addr, write, wp, minor, t0, true);
}

bool fault_queue_run_one(struct swapper *s, bool force)
{
	struct pending_fault pf;

	if (atomic_load(&s->closing) || !buf_pending_pop(s, &pf))
		return false;
	fault_handle_ex(s, (uint64_t)(uintptr_t)page_host(s, pf.idx), pf.write,
			false, false, pf.t0, !force);
	return true;
}

/* Serve the uffd messages waiting now.  Returns how many, or -1 when the
 * thread must stop (an error the VM cannot run past). */
static int serve_uffd(struct swapper *s, struct uffd_msg *msgs)
{
	ssize_t n = read(s->uffd, msgs, MSG_BATCH * sizeof(*msgs));
	int i, cnt;

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		core_fatal(s, -errno, "fault thread: read: %s", strerror(errno));
		return -1;
	}
	cnt = (int)(n / (ssize_t)sizeof(*msgs));
	for (i = 0; i < cnt; i++) {
		const struct uffd_msg *m = &msgs[i];
		uint64_t fl;

		if (m->event != UFFD_EVENT_PAGEFAULT)
			continue;
		fl = m->arg.pagefault.flags;
		fault_handle(s, m->arg.pagefault.address & ~(s->psz - 1),
			     fl & UFFD_PAGEFAULT_FLAG_WRITE,
			     fl & UFFD_PAGEFAULT_FLAG_WP,
			     fl & UFFD_PAGEFAULT_FLAG_MINOR, io_now_ns());
	}
	return cnt;
}

/* Completions of a polled engine run here, on the thread that serves the
 * faults: a swapped-in page is installed without waking another thread. */
static int reap_io(struct swapper *s)
{
	int n = io_engine_reap(s->io, MSG_BATCH);

	if (n > 0)
		atomic_fetch_add(&s->reaped, (uint64_t)n);
	return n;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/*
 * Sleep until a uffd message, a completion or the stop request.  No wake-up
 * is lost between the last check and the sleep: the I/O engine is armed
 * first (a completion after arm() makes its fd readable), then both sources
 * are checked once more; the uffd is level-triggered.  Returns -1 to stop,
 * 0 when that last check found work, 1 after a sleep.
 */
static int sleep_until_work(struct swapper *s, struct pollfd *pfd, nfds_t nfds,
			    struct uffd_msg *msgs)
{
	int n;

	io_engine_arm(s->io);
	core_hook(s, HOOK_FAULT_SLEEP, 0);
	n = serve_uffd(s, msgs);
	if (n < 0)
		return -1;
	if (n + reap_io(s) > 0)
		return 0;
	atomic_fetch_add(&s->sleeps, 1);
	while (poll(pfd, nfds, -1) < 0) {
		if (errno != EINTR) {
			core_fatal(s, -errno, "fault thread: poll: %s", strerror(errno));
			return -1;
		}
	}
	return pfd[1].revents || atomic_load(&s->fault_stop) ? -1 : 1;
}

/*
 * The fault-service loop: uffd messages and (polled engine) I/O
 * completions, served as they come; when neither comes, spin for the
 * budget spin.c gives (an iteration is a non-blocking read of the uffd and
 * a look at the completion ring: a few hundred ns), then sleep in poll().
 */
void *fault_thread_main(void *arg)
{
	struct swapper *s = arg;
	struct uffd_msg msgs[MSG_BATCH];
	struct pollfd pfd[3] = {
		{ .fd = s->uffd, .events = POLLIN },
		{ .fd = s->stop_efd, .events = POLLIN },
		{ .fd = s->io->polled ? io_engine_poll_fd(s->io) : -1, .events = POLLIN },
	};
	uint64_t idle_since = 0, last = 0, budget = 0, now;
	struct spin sp;
	int n;

	spin_init(&sp, s->cfg.fault_spin_us, s->cfg.busy_threads);
	for (;;) {
		n = serve_uffd(s, msgs);
		if (n < 0)
			break;
		n += reap_io(s);
		if (atomic_load(&s->fault_stop))
			break;
		now = io_now_ns();
		if (n > 0) {
			if (idle_since) {
				spin_hit(&sp, now - idle_since);
				atomic_fetch_add(&s->spin_hits, 1);
				atomic_fetch_add(&s->spin_ns, now - idle_since);
			}
			idle_since = 0;
			continue;
		}
		if (!idle_since) {
			idle_since = last = now;
			budget = spin_budget(&sp);
		} else if (now - last > SPIN_PREEMPT_NS) {
			spin_preempted(&sp);
			budget = 0;
		}
		last = now;
		if (now - idle_since < budget) {
			cpu_relax();
			continue;
		}
		if (budget) {
			spin_miss(&sp);
			atomic_fetch_add(&s->spin_misses, 1);
			atomic_fetch_add(&s->spin_ns, now - idle_since);
		}
		idle_since = 0;
		n = sleep_until_work(s, pfd, s->io->polled ? 3 : 2, msgs);
		if (n < 0)
			break;
		if (n > 0)
			spin_woken(&sp, io_now_ns() - now);
	}
	return NULL;
}
