/*
 * page.h - the per-guest-page state word (8 bytes per 4 KiB guest page).
 *
 *  bits 0-2   state (enum page_state)
 *  In every state but SWAPPED:
 *  bit  3     REF    referenced since the CLOCK hand last passed
 *  bit  4     WP     resident and installed write-protected: unchanged since
 *                    it was read from its slot (a write traps first)
 *  bit  5     SLOT   the slot field holds a slot this page references
 *  bit  6     PINNED pinned by a device (never evicted or migrated)
 *  bit  7     WAITER READING: a fault waits for this read (a migration
 *                    read then completes into the guest, not staging)
 *  bits 8-26  buf    STAGED: staging index; READING: bounce index
 *  bit  27    RA     RESIDENT: brought by readahead, not yet used as far
 *                    as the swapper can tell (readahead.c)
 *  bits 28-34 (unused)
 *  In SWAPPED (the page is only on swap; it always holds its slot, and is
 *  not referenced, pinned, staged or read ahead, so it needs no flag):
 *  bits 3-34  crc    the slot's seal: CRC-32C of the data the slot holds
 *                    (seal.h; 0 with --swap-encrypt, whose 24-byte seals
 *                    are kept per slot in swapset's tables).  Keeping it
 *                    here, not per slot, is what holds the metadata to
 *                    <= 12 bytes per guest page when most of a guest is
 *                    swapped out (issue 11).  A page that leaves SWAPPED
 *                    carries it along: READING in its read descriptor
 *                    (swapin.c), RESIDENT with a kept slot recomputes it
 *                    from the unchanged page when it is dropped clean.
 *  In ZPOOL (compressed in the pool, ztier.c; holds no slot, has no flag):
 *  bits 3-34  handle the pool object's handle (pg_zhandle)
 *  bits 35-63 slot   global slot id (device << 26 | slot): 8 devices of at
 *                    most 2^26 slots (256 GiB) each - larger devices are
 *                    used up to that size (swap_dev.c, as the kernel caps
 *                    a swap area at its swap entry's offset bits).
 *
 * Flags are read with pg_has(w, flag), which is false for every flag in
 * SWAPPED and ZPOOL, and a slot's presence with pg_holds_slot(w).
 *
 * State transitions (all under the page's lock; the word is read without
 * it only as a hint that is re-checked under it):
 *
 *   NONE --fault--> RESIDENT --evict(dirty)--> STAGED --write ok--> SWAPPED
 *     ^               |  ^  \--evict(clean)-----------------------> SWAPPED
 *     |               |  |   \-evict(zero)--> ZERO --fault--> RESIDENT
 *     |               |  +--fault (copy from staging)-- STAGED
 *     |               |  +--read done-- READING <--fault-- SWAPPED
 *     |               |                   |write error: stays STAGED, retried
 *  (ZERO behaves like NONE)               |read error: retried, then fatal
 *
 *   STAGED --compressed into the pool (ztier.c)--> ZPOOL --fault--> RESIDENT
 *   ZPOOL --pool full: coldest written back--> STAGED
 *
 *   any but READING, unpinned --discard (discard.c: the guest gave it up)--> ZERO
 */
#ifndef HVSWAP_SWAPPER_PAGE_H
#define HVSWAP_SWAPPER_PAGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum page_state {
	PS_NONE = 0,     /* never touched: a fault maps the zero page */
	PS_RESIDENT = 1, /* mapped in guest memory */
	PS_ZERO = 2,     /* evicted while all-zero: no I/O, faults as zero */
	PS_STAGED = 3,   /* moved to the staging area, write pending/in flight */
	PS_SWAPPED = 4,  /* only on swap, at `slot` */
	PS_READING = 5,  /* read from `slot` into bounce `buf` in flight */
	PS_ZPOOL = 6,    /* compressed in the pool (ztier.c), handle in bits 3-34 */
};

#define PG_STATE_MASK  0x7ull
#define PG_REF         (1ull << 3)
#define PG_WP          (1ull << 4)
#define PG_SLOT        (1ull << 5)
#define PG_PINNED      (1ull << 6)
#define PG_WAITER      (1ull << 7)
#define PG_BUF_SHIFT   8
#define PG_BUF_MASK    (0x7ffffull << PG_BUF_SHIFT)
#define PG_RA          (1ull << 27)
#define PG_CRC_SHIFT   3
#define PG_CRC_MASK    (0xffffffffull << PG_CRC_SHIFT)
#define PG_SLOT_SHIFT  35
#define PG_MAX_BUF     0x7ffffu

static inline enum page_state pg_state(uint64_t w)
{
	return (enum page_state)(w & PG_STATE_MASK);
}

static inline uint64_t pg_slot(uint64_t w)
{
	return w >> PG_SLOT_SHIFT;
}

static inline uint32_t pg_buf(uint64_t w)
{
	return (uint32_t)((w & PG_BUF_MASK) >> PG_BUF_SHIFT);
}

/* Flag f (PG_REF ... PG_RA) of w: never set in SWAPPED, whose low bits are
 * the seal, nor in ZPOOL, whose low bits are the pool handle. */
static inline bool pg_has(uint64_t w, uint64_t f)
{
	return pg_state(w) != PS_SWAPPED && pg_state(w) != PS_ZPOOL && (w & f);
}

/* Does w reference the slot pg_slot(w)?  A SWAPPED page always does, a
 * ZPOOL page never. */
static inline bool pg_holds_slot(uint64_t w)
{
	return pg_state(w) == PS_SWAPPED || pg_has(w, PG_SLOT);
}

/* Clear flag f of *pw without its page lock (the CLOCK hand's PG_REF,
 * readahead's PG_RA): only while the word is not SWAPPED, whose low bits
 * are the seal - a plain fetch_and racing an eviction would flip a bit of
 * the crc. */
static inline void pg_clear_unlocked(_Atomic uint64_t *pw, uint64_t f)
{
	uint64_t w = atomic_load(pw);

	while (pg_has(w, f) && !atomic_compare_exchange_weak(pw, &w, w & ~f))
		;
}

/* Set flag f of *pw without its page lock, only while the page is
 * RESIDENT (the dirty log's references, policy_clock.c). */
static inline void pg_set_resident_unlocked(_Atomic uint64_t *pw, uint64_t f)
{
	uint64_t w = atomic_load(pw);

	while (pg_state(w) == PS_RESIDENT && !(w & f) &&
	       !atomic_compare_exchange_weak(pw, &w, w | f))
		;
}

/* The seal kept in a SWAPPED word. */
static inline uint32_t pg_crc(uint64_t w)
{
	return (uint32_t)((w & PG_CRC_MASK) >> PG_CRC_SHIFT);
}

static inline uint64_t pg_make(enum page_state st, uint64_t flags, uint32_t buf,
			       uint64_t slot)
{
	return (uint64_t)st | flags | ((uint64_t)buf << PG_BUF_SHIFT) |
	       (slot << PG_SLOT_SHIFT);
}

/* The word of a page compressed in the pool as object h (ztier.c), and
 * its handle. */
static inline uint64_t pg_make_zpool(uint32_t h)
{
	return (uint64_t)PS_ZPOOL | ((uint64_t)h << PG_CRC_SHIFT);
}

static inline uint32_t pg_zhandle(uint64_t w)
{
	return (uint32_t)((w & PG_CRC_MASK) >> PG_CRC_SHIFT);
}

/* The word of a page that is only on swap, at global slot g, sealed crc. */
static inline uint64_t pg_make_swapped(uint64_t g, uint32_t crc)
{
	return (uint64_t)PS_SWAPPED | ((uint64_t)crc << PG_CRC_SHIFT) |
	       (g << PG_SLOT_SHIFT);
}

/* Global slot ids (29 bits): device index in the high bits. */
#define SLOT_DEV_SHIFT 26
#define SLOT_DEV_MAX_SLOTS (1ull << SLOT_DEV_SHIFT)
static inline uint64_t gslot(unsigned int dev, uint64_t slot)
{
	return ((uint64_t)dev << SLOT_DEV_SHIFT) | slot;
}
static inline unsigned int gslot_dev(uint64_t g)
{
	return (unsigned int)(g >> SLOT_DEV_SHIFT);
}
static inline uint64_t gslot_off(uint64_t g)
{
	return g & ((1ull << SLOT_DEV_SHIFT) - 1);
}

/* ---- page locks (page.c owns the stripes; rank LK_PAGE in lock.h) ---- */

struct swapper;
void page_lock(struct swapper *s, uint64_t idx);
void page_unlock(struct swapper *s, uint64_t idx);
/* Precondition of every function that changes a page word. */
void page_lock_assert_held(struct swapper *s, uint64_t idx);

/* ---- guest pages: index <-> host address / guest frame (page.c) ---- */

void *page_host(struct swapper *s, uint64_t idx);
uint64_t page_gfn(struct swapper *s, uint64_t idx);
/* Page index of host address addr in a registered region, or -EFAULT. */
int page_idx(struct swapper *s, uint64_t addr, uint64_t *idx);
/* Page index of guest-physical range [gpa, gpa+len) -> [*first, *last], or
 * -EFAULT when the range is not inside one region. */
int page_range_of_gpa(struct swapper *s, uint64_t gpa, uint64_t len,
		      uint64_t *first, uint64_t *last);
/* Page idx in the region's alias mapping (zero-copy memfd), else NULL. */
void *page_alias(struct swapper *s, uint64_t idx);
/* Drop the host copy of pages [idx, idx+n) (one region, page locks held):
 * their next access is a userfaultfd MISSING fault.  0 or -errno (nothing
 * is known to be dropped then). */
int page_drop(struct swapper *s, uint64_t idx, uint64_t n);
/*
 * After a UFFDIO_COPY of n units at idx that reported success (uffd.c turns
 * -EEXIST into 0): 0 if they are mapped, -ENOMEM if not.  Huge units only
 * (4 KiB units: always 0): measured on Linux 6.18, a UFFDIO_COPY into
 * hugetlbfs when the huge-page pool has no free page fails with EEXIST,
 * not ENOMEM, and maps nothing, so the faulting thread would wait forever.
 */
int page_check_filled(struct swapper *s, uint64_t idx, uint64_t n);
/* strerror(-err), or for -ENOMEM with huge units what it means there. */
const char *page_strerror(struct swapper *s, int err);
/* The resident counter (and its high-water mark). */
void page_resident_inc(struct swapper *s);
void page_resident_dec(struct swapper *s, uint64_t n);

#endif
