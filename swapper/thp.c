/*
 * thp.c - guest memory on transparent huge pages (GMEM_THP), swapped in
 * 2 MiB units as hugetlbfs memory is (s->psz = 2 MiB, one page word, lock,
 * slot and seal per unit), with what differs for anonymous THP memory:
 *
 *  - eviction: UFFDIO_MOVE of the unit into a 2 MiB-aligned staging
 *    buffer, which moves a PMD-mapped THP whole (reclaim.c, as for 4 KiB
 *    anonymous memory: the staging area is registered as a MOVE target);
 *  - swap-in: the unit is read into a 2 MiB-aligned bounce buffer whose
 *    memory is a THP (MADV_HUGEPAGE), then that page is moved into the
 *    guest with UFFDIO_MOVE (thp_map_in): the guest gets the THP itself,
 *    no copy.  The bounce buffer is left empty; the next read into it
 *    faults a fresh THP in.  UFFDIO_COPY would map 512 4 KiB pages, and
 *    MADV_COLLAPSE after it costs a second copy (docs/hard-cases.md
 *    "Huge pages", probe numbers);
 *  - a clean swap-in that keeps its slot must be mapped write-protected,
 *    which UFFDIO_MOVE cannot do (the page arrives writable): it is copied
 *    with UFFDIO_COPY_MODE_WP as 512 protected 4 KiB pages (swapin.c);
 *  - zero fill (first touch): a fresh THP is faulted into thp_zero (the
 *    kernel zeroes it) and moved into the guest (thp_map_zero).
 *
 * Empty page tables: a unit once mapped with 4 KiB PTEs (a write-protected
 * copy, a fragmented-memory fill) keeps its PTE table after its pages are
 * moved out, and UFFDIO_MOVE of a THP onto a PMD that holds a table splits
 * the THP (measured on 6.18) - and leaves the source with a table too, so
 * every later read into that bounce buffer faults 4 KiB pages: left alone,
 * the guest drifts to 4 KiB pages under swapping.  So before a move in,
 * the (empty) destination gets MADV_DONTNEED, and after it the (empty)
 * source: on this kernel that frees an empty PTE table, and on a PMD that
 * is none it costs a page-table walk.
 *
 * When the kernel has no free 2 MiB page (fragmented memory), the same
 * paths move 512 4 KiB pages instead: the unit is still whole and correct,
 * only not huge.  Nothing here depends on hugeness for correctness.
 *
 * Owns: thp_zero (one unit of unregistered anonymous memory), protected by
 * thp_lock, a leaf taken under a page lock.  Invariant: thp_zero only ever
 * holds zeros (pages the kernel zeroed; nobody writes anything else).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "hvswap/log.h"
#include "internal.h"

/*
 * A THP region: the host's THP mode must not be "never" (gmem_create
 * refused it already; checked again for memory mapped elsewhere), and
 * UFFDIO_MOVE is required (without it nothing can put a THP into a
 * registered range: UFFDIO_COPY maps 4 KiB pages).  THP and hugetlbfs
 * regions cannot share a swapper: hugetlbfs needs the copy eviction path.
 */
int thp_region_setup(struct swapper *s)
{
	const char *mode = gmem_thp_mode();

	if (!strcmp(mode, "never")) {
		log_err("thp guest memory: the host's transparent huge pages are "
			"off (/sys/kernel/mm/transparent_hugepage/enabled is "
			"\"never\"); set it to madvise or always, or use "
			"--mem-backing anon or hugetlb");
		return -ENOTSUP;
	}
	if (s->nr_memfd) {
		log_err("thp and hugetlb guest memory cannot be swapped by one swapper");
		return -ENOTSUP;
	}
	if (!s->use_move) {
		log_err("thp guest memory cannot be swapped: %s",
			s->cfg.no_move ? "UFFDIO_MOVE is switched off (no_move)" :
			"this kernel lacks UFFDIO_MOVE (Linux >= 6.8), the only way "
			"to put a huge page into userfaultfd-registered memory");
		return -ENOTSUP;
	}
	if (s->thp)
		return 0;
	s->thp_zero_map = mmap(NULL, 2 * s->psz, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (s->thp_zero_map == MAP_FAILED) {
		s->thp_zero_map = NULL;
		return -ENOMEM;
	}
	s->thp_zero = (uint8_t *)(((uintptr_t)s->thp_zero_map + s->psz - 1) &
				  ~(uintptr_t)(s->psz - 1));
	madvise(s->thp_zero, s->psz, MADV_HUGEPAGE);
	pthread_mutex_init(&s->thp_lock, NULL);
	s->thp = true;
	log_info("thp guest memory: 2 MiB units, installed by UFFDIO_MOVE "
		 "(host THP mode %s)", mode);
	return 0;
}

void thp_fini(struct swapper *s)
{
	if (!s->thp_zero_map)
		return;
	munmap(s->thp_zero_map, 2 * s->psz);
	s->thp_zero_map = s->thp_zero = NULL;
	pthread_mutex_destroy(&s->thp_lock);
}

/* Is any 4 KiB page of the n units at p mapped? */
static bool any_mapped(struct swapper *s, uint8_t *p, uint64_t n)
{
	unsigned char vec[512];         /* one unit's 4 KiB pages */
	uint64_t u, i;

	for (u = 0; u < n; u++) {
		if (mincore(p + u * s->psz, s->psz, vec) < 0)
			return true;    /* cannot tell: drop nothing */
		for (i = 0; i < s->psz / PAGE_SIZE_4K; i++)
			if (vec[i] & 1)
				return true;
	}
	return false;
}

/* Move n units from src into the guest at dst (both empty of pages after
 * it), dropping empty page tables on both sides (the header says why).
 * The page locks of dst's units are held and their state says unmapped, so
 * the MADV_DONTNEED of dst can only drop an empty table. */
static int64_t move_in(struct swapper *s, void *dst, void *src, uint64_t n)
{
	int64_t moved;

	/* Never drop a page that is there against the state (uffd.c's
	 * EEXIST rule: what is mapped is what the guest sees); the move
	 * then fails with EEXIST. */
	if (!any_mapped(s, dst, n))
		madvise(dst, n * s->psz, MADV_DONTNEED);
	moved = uffd_move(s->uffd, dst, src, n * s->psz, false);
	if (moved == (int64_t)(n * s->psz))     /* src all moved: empty */
		madvise(src, n * s->psz, MADV_DONTNEED);
	return moved;
}

/* n units moved in at dst from src; -EEXIST when the first was mapped
 * already (nothing moved), -EIO when only part of them moved. */
static int moved_result(struct swapper *s, int64_t moved, uint64_t n)
{
	if (moved < 0)
		return (int)moved;
	if ((uint64_t)moved != n * s->psz)
		return moved ? -EIO : -EEXIST;
	atomic_fetch_add(&s->c.thp_moved_in, n);
	return 0;
}

/* Page lock held, the unit not mapped: map a zeroed unit at dst. */
int thp_map_zero(struct swapper *s, void *dst)
{
	volatile uint8_t *z = s->thp_zero;
	int64_t moved;
	uint64_t i;

	pthread_mutex_lock(&s->thp_lock);
	/* Fault in a fresh page: one THP at the first store when the kernel
	 * has one, else one 4 KiB page per store.  Every 4 KiB is touched
	 * so that a move without a THP moves a whole unit too (the move
	 * skips holes). */
	for (i = 0; i < s->psz; i += PAGE_SIZE_4K)
		z[i] = 0;
	moved = move_in(s, dst, s->thp_zero, 1);
	pthread_mutex_unlock(&s->thp_lock);
	return moved_result(s, moved, 1);
}

/* Page locks held, n consecutive units not mapped, read into consecutive
 * bounce buffers from src: move them into the guest at dst. */
int thp_map_in(struct swapper *s, void *dst, void *src, uint64_t n)
{
	return moved_result(s, move_in(s, dst, src, n), n);
}
