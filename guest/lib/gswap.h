/*
 * gswap.h - a guest kernel's swap, modelled inside a test guest.
 *
 * NOT Linux: hvswap's test guests run at CPL3 with no kernel of their own,
 * so this layer plays the part of one for the workload's memory.  The
 * workload addresses *virtual pages* (vp, 0..nvp) and reaches their data
 * only through gswap_get()/gswap_load()/gswap_store(), which check
 * residency on every access (the explicit check stands in for a page
 * table walk and a #PF).  Virtual pages live in a pool of *frames* (guest
 * RAM); when no frame is free, CLOCK over the exact access bits (every
 * access sets its frame's REF, as a hardware accessed bit would) picks a
 * victim; a dirty victim is written to the guest's virtio-blk disk at
 * sector vp * 8 (the swap slot of vp: a static map, like a swap file with
 * no allocator), a clean one that is on disk is dropped, a page never
 * written is dropped and comes back as zeros.  Disk I/O goes through
 * virtio-blk, so hvswap pins the frames (its DMA path).
 *
 * Balloon (optional): frames can be taken out of the pool
 * (gswap_set_frames(), gswap_release()); freed frames are inflated into
 * the virtio-balloon so the host discards them, and deflated back (before
 * reuse: MUST_TELL_HOST) when the pool grows or a fault needs a frame the
 * balloon holds.
 *
 * Concurrency: one spinlock for the whole layer (a big kernel lock: the
 * model is about which pages move, not about scaling); a frame handed out
 * by gswap_get() is pinned until gswap_put(), so another vCPU's eviction
 * never takes it away mid-use.  Disk I/O is done with the lock held.
 */
#ifndef HV_GUEST_LIB_GSWAP_H
#define HV_GUEST_LIB_GSWAP_H

#include <stdbool.h>
#include <stdint.h>

struct vblk;
struct vball;

struct gswap_stats {
	uint64_t accesses;
	uint64_t faults;          /* residency check missed */
	uint64_t swapins;         /* pages read from the disk (major faults) */
	uint64_t zero_fills;      /* pages never written: zeroed (minor) */
	uint64_t swapouts;        /* dirty pages written to the disk */
	uint64_t clean_drops;     /* evicted clean: already on the disk */
	uint64_t evictions;
	uint64_t inflated, deflated;  /* frames given to / taken back from host */
	uint64_t cold_fills;      /* zero fills into a frame left untouched
	                             since a clean drop: HV_HC_OVERWRITE hinted */
	uint64_t hint_dropped;    /* ... of which the host had the old data
	                             only on swap (a swap read saved) */
	uint64_t io_errors;
};

struct gswap {
	uint64_t nvp;             /* virtual pages */
	uint64_t nframes;         /* frames in the pool */
	uint8_t *frames;          /* frame memory (page aligned) */
	uint32_t *vp2f;           /* vp -> frame + 1 (0: not resident) */
	uint32_t *f2vp;           /* frame -> vp + 1 (0: no page) */
	uint8_t *fflag;           /* frame: GS_REF, GS_DIRTY, GS_BALLOON */
	uint16_t *fpin;           /* frame: gswap_get() pins */
	uint8_t *vpflag;          /* vp: GS_ONDISK */
	uint32_t *free;           /* stack of free frames (not in the balloon) */
	uint64_t nfree;
	uint32_t *bal;            /* stack of frames in the balloon */
	uint64_t nbal;
	uint64_t limit;           /* frames the workload may hold */
	uint64_t used;            /* frames holding a page */
	uint64_t hand;            /* CLOCK */
	struct vblk *disk;
	struct vball *balloon;    /* NULL: none */
	volatile int lock;
	int err;                  /* first disk error (sticky; < 0) */
	bool cold;                /* the frame take_frame() gave was not
	                             touched since its page left it clean */
	struct gswap_stats st;
};

/* Bytes gswap_init() needs for nvp pages and nframes frames. */
uint64_t gswap_bytes(uint64_t nvp, uint64_t nframes);
/* Lay the layer out at [base, base + gswap_bytes()) (page aligned).  The
 * disk must hold nvp pages.  Returns 0 or -HV_EINVAL (printed). */
int gswap_init(struct gswap *g, uint64_t base, uint64_t nvp, uint64_t nframes,
	       struct vblk *disk, struct vball *balloon);

/* Find and bring up the disk (and the balloon), then gswap_init() at base;
 * [base, end) is the free RAM it may use.  0, or 2 with a message. */
int gswap_open(struct gswap *g, uint64_t base, uint64_t end, uint64_t nvp,
	       uint64_t nframes, bool balloon);

/* The page's data, resident and pinned until gswap_put(); write: it will
 * be written (dirty).  NULL after a disk error (g->err). */
void *gswap_get(struct gswap *g, uint64_t vp, bool write);
void gswap_put(struct gswap *g, uint64_t vp);
/* One word of vp, under the lock (no pin). */
uint64_t gswap_load(struct gswap *g, uint64_t vp, unsigned int word);
void gswap_store(struct gswap *g, uint64_t vp, unsigned int word, uint64_t v);

/* Let the workload hold at most n frames (<= nframes): pages beyond are
 * evicted (to the disk if dirty) and, with a balloon, every free frame is
 * inflated.  Growing deflates lazily (a fault takes frames back). */
int gswap_set_frames(struct gswap *g, uint64_t n);
/* The workload frees all its memory (its pages' contents are gone); with a
 * balloon every frame goes to the host. */
int gswap_release(struct gswap *g);
/* Report the counters on the balloon's stats queue (no balloon: 0). */
int gswap_report(struct gswap *g);
/* hv_metric() of every counter, names prefixed "gswap_", and a summary
 * line on the console: "<who>: gswap frames=... deflated=...". */
void gswap_metrics(struct gswap *g, const char *who);

#endif
