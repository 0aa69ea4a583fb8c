/*
 * swapper.h - public API of the hvswap swapper library.
 *
 * A swapper demand-pages guest memory regions with userfaultfd and keeps
 * their resident size under a limit by writing pages to swap devices through
 * an asynchronous I/O engine.  It knows nothing about KVM: any thread that
 * touches a registered region (a vCPU inside KVM_RUN, a device-emulation
 * thread, a test thread) is served the same way.
 *
 * Errors are -errno (strerror() names them); each function lists its own.
 */
#ifndef HVSWAP_SWAPPER_H
#define HVSWAP_SWAPPER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hvswap/gmem.h"

struct swapper;
struct io_engine;
struct json_object;

#define SWAPPER_MAX_DEVS 8

struct swapper_dev_config {
	const char *path;       /* NULL: an unlinked temp file in tmpdir */
	uint64_t size;          /* bytes; 0 with a path = the file's size */
	int prio;               /* higher is used first */
	bool force;             /* take a target that carries a filesystem,
				 * partition table, swap or another hvswap's
				 * in-use header (never a locked or busy one) */
};

/* What the swapper does when no swap slot is free (docs/running.md). */
enum swapper_full_policy {
	SWAP_FULL_OVERCOMMIT = 0,   /* keep running above the limit, warn */
	SWAP_FULL_STOP = 1,         /* call fatal(): the VM stops cleanly */
};

/* Install a page read back from swap clean (write-protected, keeping its
 * slot: evicting it again costs no write) or writable (its first write costs
 * no write-protect fault)?  See swapin.c keep_clean(). */
enum swapper_clean_policy {
	SWAPPER_CLEAN_AUTO = 0,     /* clean while few such pages get written */
	SWAPPER_CLEAN_ALWAYS = 1,
	SWAPPER_CLEAN_NEVER = 2,
};

/* How the reclaim thread picks victims (docs/architecture.md, "Eviction
 * policy"). */
enum swapper_policy {
	SWAPPER_POLICY_CLOCK = 0,   /* CLOCK over what faults tell */
	SWAPPER_POLICY_CLOCK_DIRTY = 1, /* ... and KVM's dirty log: a page the
				     * guest wrote counts as referenced
				     * (needs swapper_config.dirty_log) */
	SWAPPER_POLICY_ARCW = 2,    /* ARC over what faults tell: CAR's two
				     * clocks, ghost lists as eviction stamps
				     * (+2 bytes per guest page) */
	SWAPPER_POLICY_ARCW_DIRTY = 3, /* ... and KVM's dirty log, as
				     * clock-dirty (needs dirty_log) */
};

struct swapper_config {
	uint64_t mem_limit;         /* resident bytes; 0 = no limit */
	struct swapper_dev_config devs[SWAPPER_MAX_DEVS];
	unsigned int nr_devs;       /* 0: one temp device of swap_size */
	const char *tmpdir;         /* for temp swap files (NULL: /var/tmp) */
	uint64_t swap_size;         /* temp device size: required with
				     * nr_devs 0 (-EINVAL without) */
	const char *io_engine;      /* "libaio" (default), "sync", "io_uring" */
	struct io_engine *engine;   /* tests: use this engine (owned by swapper) */
	unsigned int queue_depth;   /* I/O engine depth (0: 128) */
	unsigned int write_batch;   /* pages per eviction write (0: 64) */
	unsigned int fault_around;  /* first touch of a never-used page maps
				     * the never-used pages of its aligned
				     * block of this many pages (a power of
				     * two <= 512) as zero pages; 0/1: off */
	int fault_spin_us;          /* the fault thread polls the uffd and the
				     * I/O completions before it sleeps: 0 =
				     * adaptive (default), > 0 = spin up to this
				     * many us after each burst, < 0 = never */
	unsigned int busy_threads;  /* threads competing for the host CPUs
				     * besides the swapper's (the VMM's vCPUs):
				     * the adaptive spin backs off when they
				     * and the fault thread exceed the CPUs */
	unsigned int staging_pages; /* staging buffers, a multiple of 64 and
				     * >= 2 x write_batch (0: 4096) */
	bool allow_buffered;        /* tests on tmpfs: no O_DIRECT */
	bool encrypt;               /* swap data encrypted with AES-256-GCM
				     * under a per-swapper key held only in
				     * memory (else protected by a crc32c per
				     * slot); see docs/architecture.md */
	/* Compressed tier in front of the devices (docs/architecture.md):
	 * "lz4", "zstd", or NULL/"off".  Its pool counts against mem_limit
	 * and is capped at ztier_bytes (0: a fifth of the limit; else below
	 * mem_limit, -EINVAL otherwise). */
	const char *ztier;
	uint64_t ztier_bytes;
	bool huge_pages;            /* 2 MiB units: every page word, slot,
				     * read, write and uffd ioctl covers one
				     * 2 MiB page; required by (and only
				     * for) GMEM_HUGETLB regions.  write_batch
				     * and staging_pages count units then
				     * (0: 8 and 64); no fault-around,
				     * compressed tier or dirty-log policy */
	bool no_move;               /* force the WP+copy eviction path */
	bool no_wp;                 /* force "no write tracking" */
	bool no_zero_copy;          /* memfd memory: swap-in through a bounce
				     * buffer and UFFDIO_COPY instead of
				     * reading into the memfd (tests) */
	enum swapper_full_policy on_full;
	enum swapper_clean_policy clean_policy;
	uint64_t max_longterm_pin_bytes;    /* 0: 25% of guest memory */
	/* Called once, from a swapper thread, when it cannot go on without
	 * losing guest data (read error after retries, swap full with STOP). */
	void (*fatal)(void *opaque, int err, const char *msg);
	void *opaque;
	/* Called (if set) first thing on every thread the swapper and its I/O
	 * engine start, on that thread, with kind "fault", "reclaim" or "io"
	 * (a VMM installs its per-thread sandbox here).  It must not call back
	 * into the swapper. */
	void (*thread_start)(void *opaque, const char *kind);
	enum swapper_policy policy;
	/* The guest's writes as KVM logs them (the VMM runs the region's
	 * memslot with KVM_MEM_LOG_DIRTY_PAGES): set bit i of bitmap (zeroed,
	 * (npages + 63) / 64 words) for each page gpa + i * 4 KiB written since
	 * the last call, and restart the log (KVM_GET_DIRTY_LOG).  Called from
	 * the reclaim thread; 0 or -errno (the policy goes on without it). */
	int (*dirty_log)(void *opaque, uint64_t gpa, uint64_t npages,
			 uint64_t *bitmap);
};

int swapper_create(const struct swapper_config *cfg, struct swapper **out);
/* Register a guest memory region (before swapper_start). gpa is only used to
 * name pages in messages and stats ("gfn"). */
int swapper_add_region(struct swapper *s, struct gmem *m, uint64_t gpa);
int swapper_start(struct swapper *s);
/* Stop threads, wait for all I/O, release everything.  Safe with faults and
 * I/O in flight; threads blocked on a fault are released by the uffd close. */
void swapper_destroy(struct swapper *s);

/* Begin shutdown: long operations in other threads (swapoff, migrate,
 * compact, trim, pin) return -ECANCELED promptly.  Call it, then join those
 * threads, then swapper_destroy().  Faults are still served. */
void swapper_cancel(struct swapper *s);

/*
 * Last resort at teardown, after the VM is stopped: stop serving faults and
 * wake every thread blocked on one (a page whose swap read failed fatally
 * can never be delivered).  The regions are unregistered, so a woken thread
 * sees plain anonymous memory; callers must no longer trust guest memory.
 */
void swapper_release_faults(struct swapper *s);

/* Guest memory resident now (the counter the limit applies to). */
uint64_t swapper_resident_bytes(struct swapper *s);

/* Change the resident limit at run time (0 = none). */
int swapper_set_limit(struct swapper *s, uint64_t bytes);
/* Evict everything evictable now and wait for the writes. */
int swapper_trim(struct swapper *s);

/*
 * Pins (get_user_pages-like, for device emulation).  Pinning faults in every
 * page of guest-physical [gpa, gpa+len) that is swapped out or staged,
 * synchronously from the caller's point of view, and keeps the pages
 * resident until unpinned: pinned pages are never evicted or migrated.
 * With `write`, each page is also made writable and dirty first (the device
 * is about to write it; its swap copy is dropped).  Pins are counted per
 * page (a page may be pinned several times).  `longterm` pins (a device
 * holding memory indefinitely, as VFIO does) are accounted separately and
 * capped by swapper_config.max_longterm_pin_bytes: -ENOSPC beyond it.
 * On success *host points at the range in the VMM's mapping.
 * Returns 0 or, with nothing left pinned: -EINVAL (len 0), -EFAULT (range
 * not in one region), -ENOSPC (long-term pin cap), -ENOMEM (pin table),
 * -EIO (the swapper stopped on a fatal error, or faults were released),
 * -ECANCELED (swapper_cancel()), -EAGAIN (a page kept being evicted
 * between its fault and the pin, 1000 times; try again).
 */
int swapper_pin(struct swapper *s, uint64_t gpa, uint64_t len, bool write,
		bool longterm, void **host);
void swapper_unpin(struct swapper *s, uint64_t gpa, uint64_t len, bool longterm);

/*
 * A write pin (as swapper_pin(write=true, longterm=false)) for a device that
 * is about to overwrite all of [gpa, gpa+len) - a disk read into guest
 * memory.  A page wholly inside the range that is only on swap is not read
 * back for nothing (VSwapper's "false read"): its swap copy is dropped and
 * it is pinned as a fresh page, zero until the device fills it.  Pages the
 * range covers only in part are read as swapper_pin() reads them.  If the
 * device then fails, those wholly covered pages hold what it wrote and
 * zeros (the request failed: virtio leaves its buffer undefined).  Counted
 * in stats "dma_fill".  Same returns as swapper_pin().
 */
int swapper_pin_fill(struct swapper *s, uint64_t gpa, uint64_t len, void **host);

/*
 * The swap mapper (VSwapper): guest pages filled whole by a disk read are
 * kept as clean copies of the disk image's 4 KiB blocks - evicted without a
 * swap write, read back from the image - while the block is unchanged.
 * swapper_mirror_add() registers the image (opened read-only; after
 * swapper_start): a mirror index, or -ENOTSUP (no uffd write-protect, or
 * --swap-encrypt), -errno.  swapper_mirror_note(): guest [gpa, gpa+len),
 * pinned by the caller, was just filled from image bytes [off, off+len)
 * (all 4 KiB aligned); call it before the guest can see the read complete.
 * Returns the pages noted.  swapper_mirror_write(): image bytes [off,
 * off+len) are about to be written; pages that mirror them stop doing so
 * (swapped-out ones are read back first).  Call it before the write; a
 * negative return means the write must not be made (a page could not be
 * brought back: -EIO, -ECANCELED, ...).
 * With count_only the pages are tracked the same way but written to swap
 * at eviction anyway, each counted as a silent write (VSwapper's name for
 * a host swap write of data the guest's disk already holds): what the
 * mapper would save, measured where it is off (stats swap_mapper).
 */
int swapper_mirror_add(struct swapper *s, const char *path, bool count_only);
int64_t swapper_mirror_note(struct swapper *s, int mirror, uint64_t gpa,
			    uint64_t len, uint64_t off);
int swapper_mirror_write(struct swapper *s, int mirror, uint64_t off, uint64_t len);

/*
 * Discard guest-physical [gpa, gpa+len) (page aligned): the guest gave these
 * pages up (a balloon inflate).  Each page's resident copy is dropped
 * (MADV_DONTNEED, out of the resident count), its swap slot or staged copy
 * is released, and its next access is a zero fill.  A page under a swap-in
 * read is discarded once the read completes; a pinned page is left alone
 * (counted in stats "discard.busy").  Safe against faults, eviction,
 * write-out and migration at any point.  Returns the number of pages
 * discarded, -EINVAL (unaligned or empty), -EFAULT (not inside one region)
 * or -EIO (the swapper stopped on a fatal error).
 */
int64_t swapper_discard(struct swapper *s, uint64_t gpa, uint64_t len);

/*
 * The guest will overwrite [gpa, gpa+len) (page aligned) whole before it
 * reads it (a paravirtual hint, HV_HC_OVERWRITE: a guest kernel clearing a
 * page it allocates).  Pages whose data is only on swap (or staged, or in
 * the compressed tier) are discarded - their next access is a zero fill
 * instead of a swap read (VSwapper's false reads); resident, pinned and
 * in-flight pages are left alone.  Returns the pages discarded, -EINVAL or
 * -EFAULT.  Stats "overwrite".
 */
int64_t swapper_overwrite(struct swapper *s, uint64_t gpa, uint64_t len);

/*
 * Swap devices at run time.  swapon adds a device (path NULL: a temporary
 * file of `size` bytes) and returns its id (>= 0).  swapoff removes one: no
 * new slots are taken from it, its pages move to other devices (or back into
 * memory when no other device has room), then it is closed.  It runs while
 * the guest runs and races correctly with faults, evictions and teardown.
 */
int swapper_swapon(struct swapper *s, const char *path, uint64_t size, int prio);
/* The same with every device option (force: see swapper_dev_config). */
int swapper_swapon_dev(struct swapper *s, const struct swapper_dev_config *dev);
int swapper_swapoff(struct swapper *s, int dev_id);
/* Find a device id by path (or "#N" for id N). -ENOENT if none. */
int swapper_dev_lookup(struct swapper *s, const char *name);

/*
 * Live page migration: move every page stored on device `from` to device
 * `to` (tiers), or, with from == to, compact the device: rewrite its pages in
 * guest-page order into fresh clusters so swap-in readahead sees sequential
 * slots again.  Pages mid-write-out, in staging or being faulted at that
 * moment are handled (they finish their current state first).  Returns the
 * number of pages moved or -errno.
 */
int64_t swapper_migrate(struct swapper *s, int from, int to);
int64_t swapper_compact(struct swapper *s, int dev);

/*
 * Move the resident, unpinned guest pages to host NUMA node `node` with
 * move_pages(2).  Returns how many pages are on `node` afterwards (already
 * there or moved), -EINVAL for a node the host does not have (or offline).
 */
int64_t swapper_numa_move(struct swapper *s, int node);
/* Number of possible host NUMA nodes (1 without NUMA). */
int swapper_numa_nodes(void);

/* Statistics */
struct json_object *swapper_stats_json(struct swapper *s);
/* One line: resident, swapped, faults/s, etc. (for a live TTY status). */
void swapper_status_line(struct swapper *s, char *buf, size_t len);
/* A live line with rates since the previous call (one calling thread):
 * resident, swapped, faults/s, MB/s in and out. */
void swapper_status_live(struct swapper *s, char *buf, size_t len);

#endif
