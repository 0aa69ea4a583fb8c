/*
 * mirror.c - the swap mapper (VSwapper, ASPLOS'14): guest pages filled by
 * a disk read are remembered as clean copies of the disk image's blocks,
 * so evicting them writes nothing to swap and a fault reads the block back
 * from the image, while the block is unchanged.
 *
 * The image is a device of the swap set (swapset_add_mirror) that is never
 * allocated from, drained or migrated: its slot n is the image's bytes
 * [n * 4 KiB, (n + 1) * 4 KiB).  A page that mirrors block n holds slot
 * (mirror, n) exactly as a page read back from swap holds its slot:
 * RESIDENT with PG_WP | PG_SLOT (installed write-protected, so the guest's
 * first write traps and drops the claim, fault.c wp_fault), then SWAPPED
 * at that slot after a clean drop (reclaim.c evict_clean, which seals it
 * into the word), and READING while a fault reads it back through the same
 * I/O engine with the same seal check.  Nothing else changes on the fault,
 * reclaim or swap-in paths.
 *
 * Unlike swap slots, a block can change under its pages: the guest writes
 * the disk.  The device calls swapper_mirror_write() before such a write
 * reaches the image; every page that mirrors a block of it is pinned
 * (a SWAPPED one is read back first - the block still holds its data) and
 * lets its claim go, so it will be written to swap like any dirty page.
 * Owners are found through the reverse map (rmap.c), where every mirror
 * claim is recorded, shared or not.
 *
 * Ordering the device must keep: swapper_mirror_note() after its read into
 * guest memory completed and before the guest can see the request
 * complete (a guest that writes a buffer the device still owns only
 * corrupts what it was going to receive); swapper_mirror_write() before
 * its write, with no read of the same blocks in between (virtio-blk
 * handles one request at a time under its transport lock).
 *
 * Count-only mode (swapper_mirror_add(count_only)): everything above, except
 * that reclaim (evict_run) turns a page's mirror claim into a stale one and
 * writes the page to swap as if it were dirty, counting a silent write.
 *
 * Only with crc32c seals (an AES-GCM seal is per slot and the image's data
 * is not encrypted) and uffd write-protect.
 */
#include <errno.h>

#include "hvswap/log.h"
#include "internal.h"
#include "seal.h"
#include "uffd.h"

int swapper_mirror_add(struct swapper *s, const char *path, bool count_only)
{
	struct swap_dev *d;
	int r;

	if (!s->use_wp || !s->seal || seal_mode(s->seal) != SEAL_CRC32C)
		return -ENOTSUP;
	r = swap_dev_open_mirror(path, &d);
	if (r < 0)
		return r;
	r = swapset_add_mirror(s, d);
	if (r < 0) {
		swap_dev_close(d);
		return r;
	}
	/* set before any note: reclaim reads it only for a mirror claim */
	atomic_store(&s->mirror_count, count_only);
	log_info("swap mapper: pages read from %s are %s (device %d)", path,
		 count_only ? "tracked; their swap writes counted as silent writes" :
		 "kept as copies of its blocks", r);
	return r;
}

/* Page idx (pinned, just filled with block blk of mirror mdev) becomes a
 * clean copy of it.  Page lock held.  true if it did. */
static bool note_one(struct swapper *s, int mdev, uint64_t idx, uint64_t blk)
{
	uint64_t w = atomic_load(&s->pages[idx]), g = gslot((unsigned int)mdev, blk);
	struct swap_dev *d = s->devs[mdev];

	if (pg_state(w) != PS_RESIDENT || !(w & PG_PINNED) || (w & PG_SLOT) ||
	    blk == 0 || blk >= swap_dev_nslots(d))
		return false;
	if (swap_slot_claim(d, blk) < 0)
		return false;
	if (rmap_add(s, g, idx) < 0) {
		swap_slot_put(d, blk);
		return false;
	}
	if (uffd_writeprotect(s->uffd, page_host(s, idx), PAGE_SIZE_4K, true,
			      false) < 0) {
		rmap_del(s, g, idx);
		swap_slot_put(d, blk);
		return false;
	}
	atomic_store(&s->pages[idx], (w & ~(PG_BUF_MASK | PG_RA)) | PG_WP | PG_SLOT |
		     (g << PG_SLOT_SHIFT));
	return true;
}

int64_t swapper_mirror_note(struct swapper *s, int mdev, uint64_t gpa,
			    uint64_t len, uint64_t off)
{
	uint64_t first, last, idx;
	int64_t n = 0;

	if (!len || (gpa | len | off) % PAGE_SIZE_4K || !swapset_is_mirror(s, (unsigned int)mdev))
		return -EINVAL;
	if (page_range_of_gpa(s, gpa, len, &first, &last) < 0)
		return -EFAULT;
	for (idx = first; idx <= last; idx++) {
		page_lock(s, idx);
		n += note_one(s, mdev, idx, off / PAGE_SIZE_4K + (idx - first));
		page_unlock(s, idx);
	}
	atomic_fetch_add(&s->c.mirror_noted, (uint64_t)n);
	return n;
}

/* Page idx lets go of its claim on g, if it still holds it. */
static void drop_claim(struct swapper *s, uint64_t idx, uint64_t g)
{
	uint64_t w;

	page_lock(s, idx);
	w = atomic_load(&s->pages[idx]);
	if (pg_state(w) == PS_RESIDENT && (w & PG_SLOT) && pg_slot(w) == g) {
		swapset_put(s, idx, g);
		/* still write-protected: its first write traps as for any
		 * page installed clean; without the slot it is dirty */
		atomic_store(&s->pages[idx], w & ~PG_SLOT & ~(~0ull << PG_SLOT_SHIFT));
		atomic_fetch_add(&s->c.mirror_invalidated, 1);
	}
	page_unlock(s, idx);
}

int swapper_mirror_write(struct swapper *s, int mdev, uint64_t off, uint64_t len)
{
	uint64_t blk, end, own[8], g;
	unsigned int n, k, rounds;
	int r;

	if (!len || !swapset_is_mirror(s, (unsigned int)mdev))
		return -EINVAL;
	end = (off + len + PAGE_SIZE_4K - 1) / PAGE_SIZE_4K;
	for (blk = off / PAGE_SIZE_4K; blk < end; blk++) {
		g = gslot((unsigned int)mdev, blk);
		/* each round pins and releases the owners it sees; one that
		 * cannot be brought in stops the write (its data would go) */
		for (rounds = 0; (n = rmap_owners(s, g, own, 8)) > 0; rounds++) {
			if (rounds > 1000)
				return -EAGAIN;
			for (k = 0; k < n && k < 8; k++) {
				uint64_t gpa = page_gfn(s, own[k]) * PAGE_SIZE_4K;

				r = swapper_pin(s, gpa, PAGE_SIZE_4K, false, false, NULL);
				if (r < 0)
					return r;
				drop_claim(s, own[k], g);
				swapper_unpin(s, gpa, PAGE_SIZE_4K, false);
			}
		}
	}
	return 0;
}
