/*
 * internal.h - the swapper object, shared by swapper.c (lifecycle, stats),
 * fault.c (fault service + read completion), reclaim.c (eviction + write
 * completion) and the policies.  Private to swapper/.
 *
 * LOCK ORDER (outer to inner):
 *   page lock (striped, s->locks[idx & mask])  - at most one held at a time
 *     -> s->buf_lock  (staging + bounce free lists, pending faults)
 *     -> swap_dev's internal allocator mutex
 *   s->rc_lock (reclaim thread wake-up, retry list) is taken with no page
 *   lock held, except rc_kick() which only signals (never waits) under it.
 * No swapper lock is held across a blocking wait other than rc_lock's
 * condition wait.  uffd ioctls are issued under the page lock: they never
 * block on our threads (sources are always populated host memory).
 *
 * Buffer ownership: a staging buffer belongs to the write batch (or the
 * retry list entry, or the reclaim round) that filled it, NOT to the page;
 * the page word only references it while STAGED.  A bounce buffer belongs to
 * its read (struct rd) from submission to completion.
 */
#ifndef HVSWAP_SWAPPER_INTERNAL_H
#define HVSWAP_SWAPPER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "hist.h"
#include "hvswap/swapper.h"
#include "io.h"
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
#define RA_MAX 32                /* swap-in readahead window, pages */

struct swapper;

struct region {
	struct gmem *mem;
	uint8_t *host;
	uint64_t gpa;
	uint64_t npages;
	uint64_t first;         /* first global page index */
};

/* One eviction write: a contiguous run of slots on one device. */
struct wbatch {
	struct io_req req;
	struct swapper *s;
	unsigned int dev;
	uint64_t slot;          /* first device slot */
	unsigned int n;
	uint64_t idx[IO_MAX_IOV];
	uint32_t buf[IO_MAX_IOV];
	bool page_ref[IO_MAX_IOV];   /* page took a slot reference */
	struct iovec iov[IO_MAX_IOV];
};

/* One swap-in read, tied to bounce buffer `bounce`. */
struct rd {
	struct io_req req;
	struct iovec iov;
	struct swapper *s;
	uint64_t idx;
	uint64_t gslot;
	uint32_t bounce;
	bool write_fault;
	bool readahead;         /* not faulted on: a failure is not fatal */
	bool mig;               /* migration read: completes into staging */
	int mig_to;             /* target device (-1: any) */
	int tries;
	uint64_t t0;            /* when the fault was received */
};

/* One swap-in I/O covering consecutive slots (a fault plus readahead). */
struct rgroup {
	struct io_req req;
	struct swapper *s;
	unsigned int n;
	uint32_t bounce[RA_MAX];
	struct iovec iov[RA_MAX];
};

struct ra_stream {
	uint64_t last;          /* last faulting page index of the stream */
	uint64_t age;
	unsigned int win;
};
#define RA_STREAMS 8

struct pending_fault {
	uint64_t idx;
	bool write;
	uint64_t t0;
};

/* A staged page to be written (again): after a write error, or moved by
 * migration (dev = target device, -1 = any). */
struct retry_ent {
	uint64_t idx;
	uint32_t buf;
	int dev;
};

struct swapper_counters {
	_Atomic uint64_t faults_zero, faults_swap, faults_staging, faults_dup,
		faults_spurious, faults_wp, faults_pending;
	_Atomic uint64_t evict_written, evict_clean, evict_zero, evict_moveback;
	_Atomic uint64_t bytes_read, bytes_written, reads, writes;
	_Atomic uint64_t read_errors, read_retries, write_errors, slots_retired;
	_Atomic uint64_t swap_full_events, readahead;
	_Atomic uint64_t resident, staged, max_resident, reading;
	_Atomic uint64_t pins, migrated, mig_reads, faults_throttled;
	_Atomic uint64_t zero_around, installed_clean, written_clean;
};

struct policy_ops;

struct swapper {
	struct swapper_config cfg;
	struct uffd_caps caps;
	int uffd;
	bool use_move;          /* UFFDIO_MOVE eviction (else WP+copy+drop) */
	bool use_wp;            /* write tracking with uffd-wp */
	int stop_efd;           /* wakes the fault thread for shutdown */

	struct region regions[SWAPPER_MAX_REGIONS];
	unsigned int nr_regions;
	uint64_t npages;
	_Atomic uint64_t *pages;        /* page words; see page.h */
	pthread_mutex_t locks[NR_PAGE_LOCKS];

	/* Swap devices.  devs[i] is set before any page references a slot on
	 * it and cleared only when none does, so slot_dev() needs no lock;
	 * the table shape (adding, the draining flag, the allocation order)
	 * is protected by dev_lock. */
	pthread_rwlock_t dev_lock;
	struct swap_dev *devs[SWAPPER_MAX_DEVS];
	unsigned int nr_devs;           /* highest index in use + 1 */
	int dev_prio[SWAPPER_MAX_DEVS];         /* protected by dev_lock */
	bool dev_draining[SWAPPER_MAX_DEVS];    /* protected by dev_lock */
	unsigned int dev_order[SWAPPER_MAX_DEVS];   /* by priority; dev_lock */
	unsigned int nr_order;                  /* protected by dev_lock */

	/* reverse maps (rmap.c) */
	pthread_mutex_t rmap_lock;      /* leaf */
	uint32_t **rmap[SWAPPER_MAX_DEVS];      /* protected by rmap_lock */
	uint16_t *rmap_cnt[SWAPPER_MAX_DEVS];   /* owners per cluster; rmap_lock */
	uint64_t rmap_ncl[SWAPPER_MAX_DEVS];
	struct rmap_shared *rmap_shared;        /* protected by rmap_lock */
	bool rmap_lost;                 /* an rmap entry could not be stored */
	uint32_t *stage_owner;          /* staging buf -> page idx; buf_lock */

	/* pins (pin.c) */
	pthread_mutex_t pin_lock;       /* leaf */
	struct pin_ent *pins;           /* protected by pin_lock */
	uint64_t pin_cap, pin_used;     /* protected by pin_lock */
	uint64_t pin_pages, pin_longterm_pages, pin_longterm_max; /* pin_lock */

	/* migration (migrate.c) */
	pthread_mutex_t mig_op_lock;    /* one migrate/compact/swapoff at a time */
	struct retry_ent *mig;          /* protected by rc_lock */
	uint32_t nmig, mig_cap;         /* protected by rc_lock */
	struct io_engine *io;

	/* staging (eviction) and bounce (swap-in) buffers */
	uint8_t *staging;
	uint32_t nstaging;
	uint8_t *bounce;
	uint32_t nbounce;
	struct rd *rds;                 /* one per bounce buffer */
	pthread_mutex_t buf_lock;
	uint64_t *stage_map;            /* bit set = in use; protected by buf_lock */
	uint32_t nstage_free;           /* protected by buf_lock */
	uint32_t stage_hint;            /* next-fit start; protected by buf_lock */
	uint32_t *bounce_free;          /* protected by buf_lock */
	uint32_t nbounce_free;          /* protected by buf_lock */
	struct pending_fault *pending;  /* protected by buf_lock (ring) */
	uint32_t pend_head, pend_len, pend_cap;  /* protected by buf_lock */

	/* reclaim */
	pthread_t fault_thread, reclaim_thread;
	bool threads_started;
	pthread_mutex_t rc_lock;
	pthread_cond_t rc_cond;         /* reclaim wake-up */
	pthread_cond_t rc_done;         /* writes/trim progress */
	bool rc_stop;                   /* protected by rc_lock */
	bool rc_trim;                   /* protected by rc_lock */
	uint64_t trim_gen, trim_done_gen;   /* protected by rc_lock */
	uint64_t trim_budget;           /* pages a trim still evicts; rc_lock */
	struct retry_ent *retry;        /* protected by rc_lock */
	uint32_t nretry, retry_cap;     /* protected by rc_lock */
	_Atomic bool rc_wanted;
	_Atomic uint64_t writes_inflight;
	_Atomic unsigned int write_fail_streak; /* consecutive failed retries */
	_Atomic bool swap_full;         /* set by the reclaim thread */

	_Atomic uint64_t limit_pages, low_wmark;

	pthread_mutex_t ra_lock;        /* leaf */
	struct ra_stream ra[RA_STREAMS];    /* protected by ra_lock */
	uint64_t ra_clock;              /* protected by ra_lock */

	const struct policy_ops *pol;
	void *pol_state;

	_Atomic bool fatal_sent;
	_Atomic bool closing;           /* destroy in progress: no new I/O */
	_Atomic bool cancelled;         /* swapper_cancel(): ops return early */
	_Atomic bool released;          /* swapper_release_faults() was called */
	struct swapper_counters c;
	/* keep_clean() estimate (decaying): pages installed clean, how many
	 * of those took a write-protect fault and how many were dropped clean
	 * at eviction; approximate by design. */
	_Atomic uint64_t kc_inst, kc_wr, kc_drop, kc_seen;
	struct hist fault_lat;          /* fault message -> resolved */
	struct hist swapin_lat;         /* the same, swap-in faults only */
	struct hist read_lat, write_lat;
	/* Time with at least one swap write in flight (the device's busy
	 * time for writes: bytes_written / write_busy_ns is the write-out
	 * throughput while writing).  wbusy_lock: leaf. */
	pthread_mutex_t wbusy_lock;
	uint64_t wbusy_since_ns, write_busy_ns; /* protected by wbusy_lock */
};

/* Policy interface: picks eviction victims among resident pages.  The core
 * keeps the REF bit in the page word (set on fault-in and on write faults);
 * a policy may keep its own state too.  Called only from the reclaim thread. */
struct policy_ops {
	const char *name;
	int (*init)(struct swapper *s, void **state);
	void (*fini)(void *state);
	/* Fill out[] with up to n candidate page indices; returns the count.
	 * Candidates are hints: the caller re-checks them under the page lock. */
	unsigned int (*select)(struct swapper *s, void *state, uint64_t *out,
			       unsigned int n);
};

extern const struct policy_ops policy_clock_ops;

/* swapper.c helpers */
static inline pthread_mutex_t *page_lock(struct swapper *s, uint64_t idx)
{
	return &s->locks[idx & (NR_PAGE_LOCKS - 1)];
}
void *page_host(struct swapper *s, uint64_t idx);
uint64_t page_gfn(struct swapper *s, uint64_t idx);
int addr_to_idx(struct swapper *s, uint64_t addr, uint64_t *idx);
void swapper_fatal(struct swapper *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
struct swap_dev *slot_dev(struct swapper *s, uint64_t g);
void resident_inc(struct swapper *s);

/* buffers (swapper.c) */
/* n contiguous staging buffers (first-fit from a rotating hint); -EAGAIN
 * when no such run is free. */
int staging_get_run(struct swapper *s, uint32_t n, uint32_t *first);
void staging_put(struct swapper *s, uint32_t buf);
static inline void *staging_ptr(struct swapper *s, uint32_t b)
{
	return s->staging + (uint64_t)b * PAGE_SIZE_4K;
}
static inline void *bounce_ptr(struct swapper *s, uint32_t b)
{
	return s->bounce + (uint64_t)b * PAGE_SIZE_4K;
}

/* rmap.c */
int rmap_dev_init(struct swapper *s, unsigned int dev);
void rmap_dev_fini(struct swapper *s, unsigned int dev);
int rmap_add(struct swapper *s, uint64_t g, uint64_t idx);
void rmap_del(struct swapper *s, uint64_t g, uint64_t idx);
unsigned int rmap_owners(struct swapper *s, uint64_t g, uint64_t *out,
			 unsigned int max);
size_t rmap_bytes(struct swapper *s);
void page_slot_take(struct swapper *s, uint64_t idx, uint64_t g);
void page_slot_drop(struct swapper *s, uint64_t idx, uint64_t g);

/* migrate.c */
int swapper_dev_add(struct swapper *s, struct swap_dev *d, int prio);
bool dev_draining(struct swapper *s, unsigned int dev);

/* fault.c */
int fault_start_migration(struct swapper *s, uint64_t idx, uint64_t w, int to);
void fault_pending_run(struct swapper *s);
bool fault_pending_run_one(struct swapper *s, bool force);
bool fault_throttled(struct swapper *s);
void *fault_thread_main(void *arg);
void fault_handle(struct swapper *s, uint64_t addr, bool write, bool wp,
		  uint64_t t0);

/* reclaim.c */
void *reclaim_thread_main(void *arg);
void rc_kick(struct swapper *s);
void rc_kick_force(struct swapper *s);
int mig_add(struct swapper *s, uint64_t idx, uint32_t buf, int dev);
bool mig_pending(struct swapper *s);
uint64_t write_busy_ns(struct swapper *s);

#endif
