/*
 * internal.h - the swapper object and the map of the swapper's modules.
 * Private to swapper/ (and its tests).
 *
 * MODULES, top to bottom (a module calls only modules below it; the one
 * back edge is marked).  A module's functions carry its name as prefix
 * (two carry a short form, given in brackets; swap_dev.c's slot allocator
 * is swap_slot_*):
 *
 *   swapper.c    lifecycle (create/start/destroy), limits, trim, public API
 *   stats.c      statistics JSON and the status line
 *   migrate.c    swapon/swapoff, live migration and compaction: the whole
 *                move of a page between devices
 *   pin.c        pins for device DMA          numa.c   NUMA moves
 *   discard.c    pages the guest gave back (balloon): dropped, slots freed;
 *                pages it will overwrite whole (swapper_overwrite)
 *   fault.c      the fault thread: a uffd message -> the page's next state;
 *                queued faults (no buffer, full queue, throttled)
 *   reclaim.c    the reclaim thread: watermarks, eviction rounds, trim
 *   swapin.c     swap-in reads: claim, submission, completion, install
 *   readahead.c  (ra_) which pages to read ahead (streams, stride, waste)
 *   ztier.c      (zt) the compressed tier in front of the devices;
 *                zpool.c its size-class allocator (a leaf)
 *   writeback.c  (wb_) write-out of staged pages: batches, completion, retries,
 *                the queue of staged pages waiting to be written
 *   policy_*.c   victim selection
 *   swapset.c    the device table, slot allocation across devices, a
 *                page's reference on its slot       rmap.c  reverse maps
 *   buf.c        staging, bounce and queued-fault buffers
 *   core.c       cross-thread events: fatal stop, progress, reclaim wake-up,
 *                test hooks, injectable allocation
 *   page.c       page index <-> host/gfn, page locks, resident count
 *   lock.c       lock-order checking (debug builds)
 *   leaves: swap_dev.c (one device + its slot allocator), io*.c (engines),
 *           uffd.c (ioctls), hist.c, gmem.c, log.c,
 *           seal.c (a page's checksum or authenticated encryption)
 *
 *   Back edge: swap-in and write completions and the reclaim thread call
 *   fault_queue_run() (fault.c) to serve faults that were queued for a
 *   buffer, for room in the I/O queue or by throttling.  It is the
 *   counterpart of mm waking page-lock waiters: the code that frees the
 *   resource serves who waits for it.
 *
 * LOCK ORDER (outer to inner; lock.h checks it in debug builds):
 *
 *   op_lock       migrate.c: one migrate/compact/swapoff at a time.  A
 *                 sleeping lock (flag + condition), held across the whole
 *                 operation; anything below may be taken under it.
 *   page locks    page.c: s->locks[idx & (NR_PAGE_LOCKS-1)], protect the
 *                 page word (page.h) and what it owns.  idx is a unit: with
 *                 huge units (s->psz = 2 MiB) one lock covers a whole 2 MiB
 *                 page, all 512 subpages.  One at a time, except
 *                 the reclaim thread's eviction of a run (reclaim.c), which
 *                 holds up to PG_EVICT_RUN in ascending stripe order.
 *   dev_lock      swapset.c (rwlock): the device table's shape.  Read under a
 *                 page lock is allowed; written only with no page lock held.
 *   rmap_lock     rmap.c: reverse maps; under a page lock and/or dev_lock.
 *   leaf locks    nothing is taken under any of them:
 *                   buf_lock (buf.c)    staging/bounce free lists, queued faults
 *                   wb_lock (writeback.c) retry and migration write queues
 *                   wbusy_lock (writeback.c) write busy-time accounting
 *                   rc_lock (reclaim.c)  trim requests and generations
 *                   ev_lock (core.c)    reclaim wake-up, progress generation
 *                   ra_lock (swapin.c)  readahead streams
 *                   pin_lock (pin.c)    pin table
 *                   seal_lock (swapset.c) per-slot seal tables
 *                   zt_lock (ztier.c)   the compressed pool and its LRU
 *                   thp_lock (thp.c)    the zero-fill THP source (held
 *                                       across its uffd move, a non-waiting
 *                                       ioctl)
 *                   op_mutex (migrate.c) the op_lock's flag
 *                   swap_dev's allocator mutex, the I/O engines' locks
 * No swapper lock is held across a blocking wait except a condition wait
 * on a leaf lock.  uffd ioctls and I/O submission may be issued under a
 * page lock: they never wait for our threads (uffd sources are populated
 * host memory; completions never run inside submit, io.h).
 *
 * Buffer ownership: a staging buffer belongs to the write batch (or the
 * write queue entry, or the reclaim round) that filled it, NOT to the page;
 * the page word only references it while STAGED.  A bounce buffer belongs
 * to its read (struct rd) from submission to completion.
 */
#ifndef HVSWAP_SWAPPER_INTERNAL_H
#define HVSWAP_SWAPPER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "hist.h"
#include "hvswap/ratelimit.h"
#include "hvswap/swapper.h"
#include "io.h"

/* ThreadSanitizer cannot see orderings made by the kernel (userfaultfd
 * write-protect): code that relies on one wraps its accesses in these.
 * Its dynamic annotations make the thread ignore reads and writes, the
 * interceptors' (memcpy) included. */
#if defined(__SANITIZE_THREAD__)
#define HV_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HV_UNDER_TSAN 1
#endif
#endif
#ifdef HV_UNDER_TSAN
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
#define tsan_ignore_begin() AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define tsan_ignore_end() AnnotateIgnoreReadsEnd(__FILE__, __LINE__)
#else
#define tsan_ignore_begin() do { } while (0)
#define tsan_ignore_end() do { } while (0)
#endif
#include "lock.h"
#include "page.h"
#include "swap_dev.h"
#include "uffd.h"

#define PAGE_SIZE_4K 4096ull
#define SWAPPER_MAX_REGIONS 8
#define NR_PAGE_LOCKS 4096u
#define READ_TRIES 3
#define WRITE_FAIL_LIMIT 16
#define PG_EVICT_RUN 32          /* pages per eviction range operation (page
				    locks held at once: keep well under 64,
				    TSan's deadlock detector limit) */
#define RA_MAX 1024              /* largest readahead window, pages (4 MiB) */
#define RA_IO_MAX 256            /* largest swap-in read, pages (1 MiB): a
				    window beyond it is several reads
				    submitted together */
#define RA_STREAMS 8
#define RA_HIST 8                /* recent faults for stride detection */

struct swapper;
struct rd;

struct region {
	struct gmem *mem;
	uint8_t *host;
	uint64_t gpa;
	uint64_t npages;
	uint64_t first;         /* first global page index */
	uint8_t *alias;         /* memfd with zero-copy swap-in: a second,
				   unregistered mapping of the memfd that
				   swap-in reads land in (swapin.c), else NULL */
};

/*
 * Who started a read and what happens at its end (swapin.c).  A fault's
 * read has no ops: its page is installed into the guest.  Migration reads
 * (migrate.c) take the data instead when no fault waits for the page.
 */
struct rd_ops {
	/* Read succeeded, page lock held, no fault waits (no PG_WAITER):
	 * take the data from the bounce buffer and set the page's state.
	 * 0 = taken; < 0 = the page is installed into the guest instead. */
	int (*take)(struct swapper *s, struct rd *rd, uint64_t w);
	/* The read is over (any outcome); no lock held. */
	void (*end)(struct swapper *s, struct rd *rd);
};

/* One swap-in read, tied to bounce buffer `bounce` (swapin.c). */
struct rd {
	struct io_req req;
	struct iovec iov;
	struct swapper *s;
	uint64_t idx;
	uint64_t gslot;
	uint32_t crc;           /* the seal from the SWAPPED word (page.h) */
	uint32_t bounce;
	bool write_fault;
	bool optional;          /* nobody faulted on it (readahead, migration):
				   a failure is not fatal */
	const struct rd_ops *ops;
	int arg;                /* the ops' own (migration target device) */
	int tries;
	uint64_t t0;            /* when the fault was received */
	uint64_t t_done;        /* when its completion was seen */
};

/* A staged page to be written (again): after a write error, or moved by
 * migration (dev = target device, -1 = any). */
struct wb_ent {
	uint64_t idx;
	uint32_t buf;
	int dev;
};

/* A pool of n 4 KiB buffers handed out in contiguous runs (buf.c). */
struct buf_pool {
	uint64_t *map;          /* bit set = in use */
	uint32_t n, nfree;
	uint32_t hint;          /* next-fit start */
};

struct pending_fault {
	uint64_t idx;
	bool write;
	uint64_t t0;
};

struct ra_stream {
	uint64_t last;          /* last faulting page index of the stream */
	uint64_t next;          /* first page not yet requested */
	uint64_t age;
	unsigned int win;       /* 0: unused */
};

/* What to read ahead: n pages from `from`, `stride` apart (readahead.c). */
struct ra_plan {
	uint64_t from;
	unsigned int n;
	int64_t stride;
	uint64_t hole;          /* a page left unread (the marker), or ~0 */
};

/* Test hooks (core.c): points where a test may stop a thread. */
enum core_hook_point {
	HOOK_SWAPOFF_FINI,      /* swapoff, device v empty, before it is removed */
	HOOK_RMAP_BYTES,        /* stats, rmap_bytes() about to read device v */
	HOOK_FAULT_SLEEP,       /* fault thread armed its wake-ups, about to make
				   its last check before sleeping */
	HOOK_EVICT_COPIED,      /* reclaim, no-MOVE eviction: page v copied to
				   staging, not yet dropped (its run's page
				   locks held) */
	HOOK_NR,
};

struct swapper_counters {
	_Atomic uint64_t faults_zero, faults_swap, faults_staging, faults_dup,
		faults_spurious, faults_wp, faults_pending;
	/* memfd zero-copy: pages read straight into the memfd and mapped with
	 * UFFDIO_CONTINUE; MINOR faults (a page in the memfd, not mapped) */
	_Atomic uint64_t swapin_zero_copy, faults_minor;
	/* THP guest memory (thp.c): units installed by UFFDIO_MOVE of a
	 * 2 MiB page (swap-ins and zero fills; a THP when the kernel had one) */
	_Atomic uint64_t thp_moved_in;
	_Atomic uint64_t evict_written, evict_clean, evict_zero, evict_restored;
	/* reads: pages read whole (before the seal check); read_ios: read
	 * I/Os completed (a window's group read is one) */
	_Atomic uint64_t bytes_read, bytes_written, reads, writes, read_ios;
	_Atomic uint64_t read_errors, read_retries, write_errors, slots_retired;
	_Atomic uint64_t swap_full_events, readahead;
	_Atomic uint64_t resident, staged, max_resident;
	_Atomic uint64_t pins, migrated, mig_reads, faults_throttled;
	_Atomic uint64_t fill_reads_skipped, write_pin_reads;   /* pin.c */
	_Atomic uint64_t dirty_harvests, dirty_pages, dirty_log_errors; /* policy */
	_Atomic uint64_t mirror_noted, mirror_dropped,
			 mirror_invalidated, mirror_silent;      /* mirror.c */
	_Atomic uint64_t zero_around, installed_clean, written_clean;
	_Atomic uint64_t clean_skipped_swap_full;
	_Atomic uint64_t alloc_failures, readahead_wasted, readahead_hints;
	/* ---- seal (integrity of swapped data; swapin.c counts) ---- */
	_Atomic uint64_t checksum_errors;   /* crc32c mismatches on read */
	_Atomic uint64_t decrypt_failures;  /* AES-GCM authentication failures */
	/* ---- end seal ---- */
	/* ---- discard.c (swapper_discard: balloon inflates) ---- */
	_Atomic uint64_t discarded;         /* pages now ZERO */
	_Atomic uint64_t discard_resident;  /* ... that were resident */
	_Atomic uint64_t discard_swapped;   /* ... that held a slot or staging */
	_Atomic uint64_t discard_busy;      /* pinned (or a read stalled): kept */
	_Atomic uint64_t overwrite_hints;   /* swapper_overwrite() calls */
	_Atomic uint64_t overwrite_skipped; /* ... pages whose swap read it saved */
};

struct policy_ops;
struct json_object;
struct seal;
struct seal_entry;
struct seal_cluster;

struct swapper {
	/* ---- set up by swapper_create/add_region; read-only once started ---- */
	struct swapper_config cfg;
	struct uffd_caps caps;
	int uffd;
	bool use_move;          /* UFFDIO_MOVE eviction (else WP+copy+drop) */
	bool use_wp;            /* write tracking with uffd-wp */
	unsigned int nr_memfd;  /* memfd (shmem) regions: no MOVE, drops are
				   hole punches (page_drop) */
	unsigned int nr_zero_copy;      /* of them, with zero-copy swap-in */
	bool thp;               /* GMEM_THP regions (all of them: thp.c) */
	int stop_efd;           /* wakes the fault thread for shutdown */
	struct region regions[SWAPPER_MAX_REGIONS];
	unsigned int nr_regions;
	uint64_t npages;
	struct io_engine *io;
	const struct policy_ops *pol;
	void *pol_state;        /* the reclaim thread's */
	pthread_t fault_thread, reclaim_thread;
	bool threads_started;
	/* The unit of everything below (page word, page lock, slot, staging
	 * and bounce buffer, seal, uffd ioctl): 4 KiB, or 2 MiB for hugetlbfs
	 * guest memory (swapper_config.huge_pages; docs/hard-cases.md "Huge
	 * pages").  "Page" in the swapper means one unit. */
	uint64_t psz;
	unsigned int pshift;
	void *zero_unit;        /* huge units: psz bytes of zeros (read-only),
				   the source of a zero fill (no UFFDIO_ZEROPAGE
				   on hugetlbfs) */
	/* thp.c: one 2 MiB-aligned unit of unregistered THP memory whose
	 * fresh (kernel-zeroed) page a zero fill moves into the guest */
	pthread_mutex_t thp_lock;       /* a leaf: protects thp_zero */
	uint8_t *thp_zero, *thp_zero_map;
	_Atomic bool fault_stop;        /* the fault thread exits (checked while
					   it spins; stop_efd wakes its poll) */

	/* ---- page.c ---- */
	_Atomic uint64_t *pages;        /* page words (page.h); page lock */
	pthread_mutex_t locks[NR_PAGE_LOCKS];

	/* ---- core.c: events ---- */
	pthread_mutex_t ev_lock;        /* leaf */
	pthread_cond_t rc_cond;         /* reclaim thread wake-up */
	pthread_cond_t prog_cond;       /* progress (see core_progress) */
	bool rc_stop;                   /* protected by ev_lock */
	uint64_t prog_gen;              /* protected by ev_lock */
	_Atomic bool rc_wanted;         /* set before rc_cond is signalled */
	_Atomic bool fatal_sent;
	_Atomic bool closing;           /* destroy in progress: no new I/O */
	_Atomic bool cancelled;         /* swapper_cancel(): ops return early */
	_Atomic bool released;          /* swapper_release_faults() was called */
	void (*hook)(struct swapper *s, enum core_hook_point p, uint64_t v,
		     void *arg);
	void *hook_arg;
	_Atomic int64_t alloc_fail_after;   /* tests: fail the Nth allocation
					       from now (< 0: never) */

	/* ---- buf.c ---- */
	uint8_t *staging;
	uint32_t nstaging;
	uint8_t *bounce;
	uint32_t nbounce;
	pthread_mutex_t buf_lock;       /* leaf */
	struct buf_pool stage_pool;     /* protected by buf_lock */
	struct buf_pool bounce_pool;    /* protected by buf_lock */
	uint32_t *stage_owner;          /* staging buf -> page idx; written
					   under the owning page's lock */
	struct pending_fault *pending;  /* ring; protected by buf_lock */
	uint32_t pend_head, pend_len, pend_cap;     /* buf_lock */

	/* ---- swapset.c: devices.  devs[i] is set before any page references
	 * a slot on it and cleared only when none does, so swapset_dev() needs
	 * no lock; the table's shape is protected by dev_lock. ---- */
	pthread_rwlock_t dev_lock;
	struct swap_dev *devs[SWAPPER_MAX_DEVS];
	int dev_prio[SWAPPER_MAX_DEVS];         /* protected by dev_lock */
	bool dev_draining[SWAPPER_MAX_DEVS];    /* protected by dev_lock */
	_Atomic bool dev_mirror[SWAPPER_MAX_DEVS]; /* a disk image (mirror.c):
						 * never allocated from, never
						 * drained, never removed; written
						 * under dev_lock when a device is
						 * added, read without it by
						 * swapset_is_mirror() */
	_Atomic bool mirror_count;              /* mirror.c count-only mode */
	unsigned int dev_order[SWAPPER_MAX_DEVS];   /* by priority; dev_lock */
	unsigned int nr_order;                  /* protected by dev_lock */

	/* ---- rmap.c ---- */
	pthread_mutex_t rmap_lock;
	uint32_t **rmap[SWAPPER_MAX_DEVS];      /* rmap_lock */
	uint16_t *rmap_cnt[SWAPPER_MAX_DEVS];   /* owners per cluster; rmap_lock */
	uint64_t rmap_ncl[SWAPPER_MAX_DEVS];    /* rmap_lock */
	struct rmap_shared *rmap_shared;        /* protected by rmap_lock */

	/* ---- seal: swapset.c keeps a seal per slot (seal.h), in per-device
	 * per-cluster tables allocated when a cluster gets its first sealed
	 * (or reserved) slot and freed when it has none.  An entry changes
	 * only under the page lock of the page that holds the slot; the
	 * tables' shape is protected by seal_lock (a leaf).  s->seal and
	 * seal_lock are set up by the first swapset_add (at create, before any
	 * thread runs) and torn down by swapset_close_all. ---- */
	struct seal *seal;
	bool seal_ready;                        /* seal_lock initialised */
	pthread_mutex_t seal_lock;              /* leaf */
	struct seal_cluster **seal_tab[SWAPPER_MAX_DEVS];  /* seal_lock */
	uint64_t seal_ncl[SWAPPER_MAX_DEVS];    /* seal_lock */
	uint64_t seal_nclusters;                /* tables allocated; seal_lock */
	/* ---- end seal ---- */

	/* ---- swapin.c ---- */
	struct rd *rds;                 /* one per bounce buffer; its read's */
	/* ---- readahead.c ---- */
	pthread_mutex_t ra_lock;        /* leaf */
	struct ra_stream ra[RA_STREAMS];    /* protected by ra_lock */
	uint64_t ra_clock;              /* protected by ra_lock */
	uint64_t ra_hist[RA_HIST];      /* recent faults; ra_lock */
	unsigned int ra_hpos;           /* protected by ra_lock */
	unsigned int ra_cap;            /* window cap; ra_lock */
	unsigned int ra_max;            /* largest window (RA_MAX, fewer for huge
					   units); set at init */
	unsigned int ra_judged, ra_judged_waste;    /* ra_lock */
	/* keep_clean() estimate (decaying): pages installed clean, how many
	 * of those took a write-protect fault and how many were dropped clean
	 * at eviction; approximate by design (relaxed atomics). */
	_Atomic uint64_t kc_inst, kc_wr, kc_drop, kc_seen;
	/* less than half of the swap space is free (set by each reclaim
	 * round): swap-ins give their slot up instead of keeping it clean */
	_Atomic bool swap_half_full;

	/* ---- writeback.c ---- */
	pthread_mutex_t wb_lock;        /* leaf */
	struct ratelimit wb_warn;       /* write-error warnings; wb_lock */
	struct wb_ent *retry;           /* protected by wb_lock */
	uint32_t nretry, retry_cap;     /* protected by wb_lock */
	struct wb_ent *mig;             /* protected by wb_lock */
	uint32_t nmig, mig_cap;         /* protected by wb_lock */
	_Atomic uint64_t writes_inflight;
	_Atomic unsigned int write_fail_streak; /* consecutive failed retries */
	/* Time with at least one swap write in flight (the device's busy
	 * time for writes: bytes_written / write_busy_ns is the write-out
	 * throughput while writing). */
	pthread_mutex_t wbusy_lock;     /* leaf */
	uint64_t wbusy_since_ns, write_busy_ns; /* protected by wbusy_lock */
	/* ---- seal: ciphertext buffers of write batches (encryption on):
	 * write_batch pages each, kept for reuse (fresh memory costs 2-10 us
	 * a page to touch here). ---- */
	uint8_t **ct_free;              /* protected by wb_lock */
	uint32_t nct_free;              /* protected by wb_lock */
	/* ---- end seal ---- */

	/* ---- reclaim.c ---- */
	pthread_mutex_t rc_lock;        /* leaf */
	bool rc_trim;                   /* protected by rc_lock */
	uint64_t trim_gen, trim_done_gen;   /* protected by rc_lock */
	uint64_t trim_budget;           /* pages a trim still evicts; rc_lock */
	_Atomic bool swap_full;         /* set by the reclaim thread */
	_Atomic uint64_t limit_pages, low_wmark, high_wmark;  /* reclaim.c */

	/* ---- pin.c ---- */
	pthread_mutex_t pin_lock;       /* leaf */
	struct pin_ent *pins;           /* protected by pin_lock */
	uint64_t pin_cap, pin_used;     /* protected by pin_lock */
	uint64_t pin_pages, pin_longterm_pages, pin_longterm_max; /* pin_lock */

	/* ---- migrate.c ---- */
	pthread_mutex_t op_mutex;       /* leaf: protects op_busy */
	pthread_cond_t op_cond;
	bool op_busy;                   /* the op_lock; protected by op_mutex */

	struct swapper_counters c;
	struct hist fault_lat;          /* fault message -> resolved */
	struct hist swapin_lat;         /* the same, swap-in faults only */
	struct hist read_lat, write_lat;
	/* a swap-in fault's time in the swapper, by part: queue (message read
	 * -> read submitted), device (submitted -> completion seen), install
	 * (completion seen -> UFFDIO_COPY done, the vCPU woken) */
	struct hist part_queue, part_device, part_install;
	/* swapper_status_live()'s last sample (its one caller's) */
	struct { uint64_t t, faults, rd, wr; } live;
	/* fault-thread spin statistics (fault.c; written by that thread) */
	_Atomic uint64_t spin_hits, spin_misses, spin_ns, sleeps, reaped;
	/* ---- ztier.c: the compressed tier (NULL: off); set at create ---- */
	struct ztier *zt;
};

/* Policy interface: picks eviction victims among resident pages.  The core
 * keeps the REF bit in the page word (set on fault-in and on write faults);
 * a policy may keep its own state too.  init, fini and select are called
 * only from the reclaim thread (init/fini: create/destroy); the optional
 * per-page hooks below (NULL: not needed) from wherever the page changes,
 * under its page lock. */
struct policy_ops {
	const char *name;
	int (*init)(struct swapper *s, void **state);
	void (*fini)(void *state);
	/* Fill out[] with up to n candidate page indices; returns the count.
	 * Candidates are hints: the caller re-checks them under the page lock. */
	unsigned int (*select)(struct swapper *s, void *state, uint64_t *out,
			       unsigned int n);
	/* Per-page state for npages pages (swapper_add_region, before the
	 * threads start).  0 or -ENOMEM. */
	int (*grow)(struct swapper *s, void *state, uint64_t npages);
	/* Page lock held, the page is not RESIDENT: a guest fault on it is
	 * being served (it may be served again if it is queued). */
	void (*fault)(struct swapper *s, void *state, uint64_t idx);
	/* Page lock held, idx RESIDENT: the guest wrote it while it was
	 * write-protected (a hit the swapper sees: fault.c's wp fault). */
	void (*hit)(struct swapper *s, void *state, uint64_t idx);
	/* Page lock held, reclaim thread: idx left the guest by eviction. */
	void (*evicted)(struct swapper *s, void *state, uint64_t idx);
	/* Page lock held: the guest gave idx up (discard.c). */
	void (*forget)(struct swapper *s, void *state, uint64_t idx);
	/* Bytes of per-page state (stats: metadata_bytes). */
	size_t (*bytes)(void *state);
	/* Add the policy's figures to the stats object o. */
	void (*stats)(void *state, struct json_object *o);
};

extern const struct policy_ops policy_clock_ops, policy_clock_dirty_ops,
	policy_arcw_ops, policy_arcw_dirty_ops;

/* The hooks, for the callers (no-ops for policies without them). */
static inline void policy_fault(struct swapper *s, uint64_t idx)
{
	if (s->pol->fault)
		s->pol->fault(s, s->pol_state, idx);
}
static inline void policy_hit(struct swapper *s, uint64_t idx)
{
	if (s->pol->hit)
		s->pol->hit(s, s->pol_state, idx);
}
static inline void policy_evicted(struct swapper *s, uint64_t idx)
{
	if (s->pol->evicted)
		s->pol->evicted(s, s->pol_state, idx);
}
static inline void policy_forget(struct swapper *s, uint64_t idx)
{
	if (s->pol && s->pol->forget)
		s->pol->forget(s, s->pol_state, idx);
}

/* policy_arcw.c, for tests: page idx's 16-bit entry (0 when the policy is
 * not arcw or arcw-dirty). */
#define POLICY_ARCW_GHOST 0x8000u
#define POLICY_ARCW_LIST2 0x4000u
uint16_t policy_arcw_entry(struct swapper *s, uint64_t idx);

/* policy_clock.c: the guest's writes since the last call (KVM's dirty log):
 * mark(s, idx) for each page written (reclaim thread, no page lock; clock
 * sets PG_REF of resident pages); *bitmap is the caller's buffer (made here
 * at the first call, freed by the caller).  False when it cannot be made
 * (the caller stops using the log). */
bool policy_clock_harvest(struct swapper *s, uint64_t **bitmap,
			  void (*mark)(struct swapper *s, uint64_t idx));

/* ---- core.c ---- */
void core_init(struct swapper *s);
void core_fini(struct swapper *s);
/* Stop: report an unrecoverable condition once (cfg.fatal). */
void core_fatal(struct swapper *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Progress: something a waiter may be waiting for happened (a staging
 * buffer or bounce buffer freed, a write or migration read ended, a trim
 * finished, shutdown).  Waiters read the generation, check their condition,
 * then wait for the generation to change: no wake-up is lost. */
void core_progress(struct swapper *s);
uint64_t core_progress_gen(struct swapper *s);
/* Wait until the generation differs from gen, ms pass (ms < 0: no bound),
 * or the threads stop.  Returns 0, -ETIMEDOUT or -ECANCELED (stopping).
 * swapper_cancel() moves the generation: callers check `cancelled`. */
int core_progress_wait(struct swapper *s, uint64_t gen, long ms);
/* Wake the reclaim thread (rc_wanted = true). */
void core_wake_reclaim(struct swapper *s);
/* The reclaim thread sleeps until woken; false when it must stop. */
bool core_reclaim_sleep(struct swapper *s);
/* Ask the reclaim thread to stop (and wake every progress waiter). */
void core_stop_reclaim(struct swapper *s);
bool core_reclaim_stopping(struct swapper *s);
/* Zeroed memory that tests can make fail (alloc_fail_after); NULL counts
 * in alloc_failures. */
void *core_zalloc(struct swapper *s, size_t size);
void *core_realloc(struct swapper *s, void *p, size_t size);
/* Test hook at point p (v: the point's value, e.g. a device index). */
static inline void core_hook(struct swapper *s, enum core_hook_point p, uint64_t v)
{
	if (s->hook)
		s->hook(s, p, v, s->hook_arg);
}

/* ---- page.c (declared in page.h) ---- */
void page_init_locks(struct swapper *s);
void page_fini_locks(struct swapper *s);

/* ---- buf.c ---- */
int buf_init(struct swapper *s);
void buf_fini(struct swapper *s);
/* n contiguous staging buffers (first-fit from a rotating hint); -EAGAIN
 * when no such run is free. */
int buf_stage_get_run(struct swapper *s, uint32_t n, uint32_t *first);
void buf_stage_put(struct swapper *s, uint32_t buf);
/* Empty staging buffers [b, b+n) (a MOVE needs an empty destination), put
 * them, signal progress: one madvise for the run. */
void buf_stage_release_run(struct swapper *s, uint32_t b, uint32_t n);
static inline void *buf_stage_ptr(struct swapper *s, uint32_t b)
{
	return s->staging + (uint64_t)b * s->psz;
}
int buf_bounce_get(struct swapper *s, uint32_t *b);
/* Up to n contiguous bounce buffers (at least 1): returns how many, or
 * -EAGAIN when none is free.  Contiguous bounce buffers let a run of pages
 * be installed with one UFFDIO_COPY. */
int buf_bounce_get_run(struct swapper *s, uint32_t n, uint32_t *first);
void buf_bounce_put(struct swapper *s, uint32_t b);
static inline void *buf_bounce_ptr(struct swapper *s, uint32_t b)
{
	return s->bounce + (uint64_t)b * s->psz;
}
/* Queued faults: -ENOSPC when the ring is full. */
int buf_pending_push(struct swapper *s, uint64_t idx, bool write, uint64_t t0);
/* The oldest queued fault, if one is queued and a bounce buffer is free. */
bool buf_pending_pop(struct swapper *s, struct pending_fault *pf);

/* ---- swapset.c ---- */
int swapset_add(struct swapper *s, struct swap_dev *d, int prio);
/* A disk image for the swap mapper (mirror.c): a device index, or -errno. */
int swapset_add_mirror(struct swapper *s, struct swap_dev *d);
bool swapset_is_mirror(struct swapper *s, unsigned int dev);
/* Remove device dev (empty, draining): dev_lock taken here. */
void swapset_remove(struct swapper *s, int dev);
int swapset_check(struct swapper *s, int dev);   /* 0 or -ENOENT */
int swapset_lookup(struct swapper *s, const char *name);
bool swapset_draining(struct swapper *s, unsigned int dev);
void swapset_set_draining(struct swapper *s, int dev, bool on);
static inline struct swap_dev *swapset_dev(struct swapper *s, uint64_t g)
{
	return s->devs[gslot_dev(g)];
}
/* Up to n contiguous new slots: on `target` if usable (migration), else on
 * the highest-priority device with room; never on a draining device. */
int swapset_alloc(struct swapper *s, int target, unsigned int n,
		  unsigned int *dev, uint64_t *first);
/* Free slots on the devices that take new ones; *total (if non-NULL): all
 * their usable slots. */
uint64_t swapset_free_slots(struct swapper *s, uint64_t *total);
/* Page idx drops its reference on slot g (the one the allocator handed
 * out, recorded in its page word).  Page lock held. */
void swapset_put(struct swapper *s, uint64_t idx, uint64_t g);
size_t swapset_metadata_bytes(struct swapper *s);
void swapset_close_all(struct swapper *s);
/* ---- seal: made by writeback.c, checked by swapin.c.  A CRC-32C seal
 * is kept in the SWAPPED page's word (page.h; the functions below then keep
 * nothing: reserve always succeeds, set/unreserve do nothing, get returns
 * the crc it is given).  An AES-GCM seal is kept per slot in swapset.c's
 * tables: a write batch reserves the seals of its slots
 * [first, first+n) on dev before it binds them (-ENOMEM: nothing
 * reserved); each slot's reservation then becomes its seal (set, under the
 * binding page's lock) or is given back (unreserve: the page faulted back
 * before its write).  A seal goes when the slot's last page lets go of it
 * (swapset_put, swapset_unbind). ---- */
int swapset_seal_reserve(struct swapper *s, unsigned int dev, uint64_t first,
			 unsigned int n);
void swapset_seal_set(struct swapper *s, uint64_t g, const struct seal_entry *e);
void swapset_seal_unreserve(struct swapper *s, uint64_t g);
/* Slot g's seal (crc: the one its page's word held): 0, or -ENOENT when
 * it has none. */
int swapset_seal_get(struct swapper *s, uint64_t g, uint32_t crc,
		     struct seal_entry *e);
/* Page idx lets go of slot g without a slot put (the slot was retired
 * after a write error).  Page lock held. */
void swapset_unbind(struct swapper *s, uint64_t idx, uint64_t g);
size_t swapset_seal_bytes(struct swapper *s);
/* The seal a SWAPPED word keeps for slot g holding the 4 KiB at page (its
 * CRC-32C; 0 when seals are in tables): for a page dropped clean. */
uint32_t swapset_word_seal(struct swapper *s, uint64_t g, const void *page);
/* ---- end seal ---- */

/* ---- rmap.c ---- */
int rmap_dev_init(struct swapper *s, unsigned int dev);
/* Frees device dev's map under rmap_lock (readers may be walking). */
void rmap_dev_fini(struct swapper *s, unsigned int dev);
int rmap_add(struct swapper *s, uint64_t g, uint64_t idx);
void rmap_del(struct swapper *s, uint64_t g, uint64_t idx);
unsigned int rmap_owners(struct swapper *s, uint64_t g, uint64_t *out,
			 unsigned int max);
size_t rmap_bytes(struct swapper *s);

/* ---- swapin.c ---- */
int swapin_init(struct swapper *s);
void swapin_fini(struct swapper *s);
/* Page lock held, state SWAPPED: take a bounce buffer, mark the page
 * READING.  -EAGAIN when no buffer is free. */
int swapin_claim(struct swapper *s, uint64_t idx, uint64_t w, bool write,
		 uint64_t t0, uint32_t *b);
/* Submit the claimed read of fault page idx plus readahead.  No page lock
 * held.  On -EAGAIN (I/O queue full) the claim is undone: queue the fault. */
int swapin_submit_fault(struct swapper *s, uint64_t idx, uint32_t b);
/* Start a read with ops (migration).  Page lock held, state SWAPPED.
 * -EAGAIN when no buffer or no room in the I/O queue. */
int swapin_start(struct swapper *s, uint64_t idx, uint64_t w,
		 const struct rd_ops *ops, int arg);
/* Install a clean-kept page: the keep-clean estimate (fault.c's WP fault). */
void swapin_note_written_clean(struct swapper *s);
/* A fault found page idx being read: maybe read the next window now. */
void swapin_hint(struct swapper *s, uint64_t idx);

/* ---- readahead.c ---- */
void ra_init(struct swapper *s);
void ra_fini(struct swapper *s);
/* A fault at idx: on a SWAPPED page (miss) or on one being read (a hint).
 * Fills p and returns true when pages should be read ahead. */
bool ra_plan(struct swapper *s, uint64_t idx, bool miss, struct ra_plan *p);
/* n pages were read ahead / evicted before use. */
void ra_read(struct swapper *s, unsigned int n);
void ra_wasted(struct swapper *s, unsigned int n);

/* ---- writeback.c ---- */
void wb_fini(struct swapper *s);
/* Write staged pages ents[0..n) in batches of contiguous slots; pages no
 * slot can be had for go back into the guest.  Returns that count. */
unsigned int wb_write(struct swapper *s, struct wb_ent *ents, unsigned int n);
/* Queue a page staged by migration for writing to device dev (-1: any).
 * Page lock held (before the page is marked STAGED).  -ENOMEM: not queued. */
int wb_queue_migrated(struct swapper *s, uint64_t idx, uint32_t b, int dev);
bool wb_migrations_queued(struct swapper *s);
/* The reclaim thread writes the queued retries and migrations. */
void wb_write_queued(struct swapper *s);
uint64_t wb_busy_ns(struct swapper *s);
/* Writes may be submitted without starving swap-in reads of the queue. */
bool wb_room(struct swapper *s);

/* ---- reclaim.c ---- */
void *reclaim_thread_main(void *arg);
/* Wake the reclaim thread when usage is at or above the low watermark. */
void reclaim_kick(struct swapper *s);
/* Over the hard limit (limit + margin): a fault that adds a page waits. */
bool reclaim_over_hard_limit(struct swapper *s);
/* Room below the low watermark for n more resident pages. */
bool reclaim_room_for(struct swapper *s, uint64_t n);
void reclaim_set_limit(struct swapper *s, uint64_t pages);
int reclaim_trim(struct swapper *s);

/* ---- fault.c ---- */
void *fault_thread_main(void *arg);
void fault_handle(struct swapper *s, uint64_t addr, bool write, bool wp,
		  bool minor, uint64_t t0);
/* Serve the oldest queued fault (queued for a bounce buffer, for room in
 * the I/O queue, or throttled), if a bounce buffer is free.  force: serve
 * it even over the hard limit (else it may be queued again).  False when
 * nothing was queued.  THE BACK EDGE: called by swap-in and write
 * completions and by the reclaim thread. */
bool fault_queue_run_one(struct swapper *s, bool force);

/* ---- thp.c ---- */
int thp_region_setup(struct swapper *s);
void thp_fini(struct swapper *s);
int thp_map_zero(struct swapper *s, void *dst);
int thp_map_in(struct swapper *s, void *dst, void *src, uint64_t n);

/* ---- migrate.c ---- */
void migrate_init(struct swapper *s);
void migrate_fini(struct swapper *s);
void migrate_cancel(struct swapper *s);

/* ---- stats.c ---- */
/* (swapper_stats_json, swapper_status_line: public) */

#endif
