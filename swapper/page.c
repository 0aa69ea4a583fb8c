/*
 * page.c - guest pages: the region table (page index <-> host address and
 * guest frame), the striped page locks and the resident count.
 *
 * Owns: s->locks (NR_PAGE_LOCKS mutexes; page idx uses idx & mask), the
 * resident counter and its high-water mark.  The region table is written
 * only before the swapper starts, so lookups take no lock.  A page lock
 * protects the page's word (page.h) and what the word owns (its staging or
 * bounce buffer reference, its slot reference, its rmap entry).
 *
 * Dropping a page (page_drop) depends on the backing: MADV_DONTNEED frees
 * an anonymous page, but on a shared memfd it only unmaps it - the page
 * stays in the file, the next access maps it again without a userfaultfd
 * fault - so a memfd page is freed from the file itself with a hole punch,
 * which also takes it out of every other process that maps the memfd
 * (a vhost-user backend).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

void page_init_locks(struct swapper *s)
{
	unsigned int i;

	for (i = 0; i < NR_PAGE_LOCKS; i++)
		pthread_mutex_init(&s->locks[i], NULL);
}

void page_fini_locks(struct swapper *s)
{
	unsigned int i;

	for (i = 0; i < NR_PAGE_LOCKS; i++)
		pthread_mutex_destroy(&s->locks[i]);
}

void page_lock(struct swapper *s, uint64_t idx)
{
	uint64_t st = idx & (NR_PAGE_LOCKS - 1);

	lock_acquire_check(LK_PAGE, &s->locks[st], st);
	pthread_mutex_lock(&s->locks[st]);
}

void page_unlock(struct swapper *s, uint64_t idx)
{
	uint64_t st = idx & (NR_PAGE_LOCKS - 1);

	lock_release_note(LK_PAGE, &s->locks[st], st);
	pthread_mutex_unlock(&s->locks[st]);
}

void page_lock_assert_held(struct swapper *s, uint64_t idx)
{
	uint64_t st = idx & (NR_PAGE_LOCKS - 1);

	lock_assert_held_rank(LK_PAGE, &s->locks[st], st, "the page lock");
	(void)s;
}

static struct region *idx_region(struct swapper *s, uint64_t idx)
{
	unsigned int i;

	for (i = 0; i + 1 < s->nr_regions; i++) {
		if (idx < s->regions[i + 1].first)
			break;
	}
	return &s->regions[i];
}

void *page_host(struct swapper *s, uint64_t idx)
{
	struct region *r = idx_region(s, idx);

	return r->host + (idx - r->first) * s->psz;
}

/*
 * fallocate(PUNCH_HOLE | KEEP_SIZE) on the memfd rather than MADV_REMOVE on
 * the mapping: both end in shmem_fallocate() and cost the same here
 * (bench_memfd_drop, write-protected pages, 9 rounds each: 2.24 vs 2.11 us
 * per page in 32-page runs, 8.1 vs 8.2 us for single pages, within the
 * noise; docs/benchmarks.md).  The punch names the file range that must go,
 * whichever mappings it has, and takes no mmap_lock or VMA lookup.
 */
int page_drop(struct swapper *s, uint64_t idx, uint64_t n)
{
	struct region *r = idx_region(s, idx);
	uint64_t off = (idx - r->first) * s->psz;

	if (r->mem->memfd >= 0) {        /* memfd, hugetlbfs (not anon, thp) */
		if (fallocate(r->mem->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)off, (off_t)(n * s->psz)) < 0)
			return -errno;
		return 0;
	}
	return madvise(r->host + off, n * s->psz, MADV_DONTNEED) < 0 ? -errno : 0;
}

int page_check_filled(struct swapper *s, uint64_t idx, uint64_t n)
{
	uint8_t *host = page_host(s, idx);
	unsigned char v;
	uint64_t i;

	if (s->pshift == 12)
		return 0;
	for (i = 0; i < n; i++) {
		/* hugetlbfs: mincore() reports whether the huge PTE is present */
		if (mincore(host + i * s->psz, PAGE_SIZE_4K, &v) < 0 || !(v & 1))
			return -ENOMEM;
	}
	return 0;
}

const char *page_strerror(struct swapper *s, int err)
{
	if (err == -ENOMEM && s->pshift > 12)
		return "no free 2 MiB page in the host's huge-page pool "
		       "(HugePages_Free in /proc/meminfo)";
	return strerror(-err);
}

void *page_alias(struct swapper *s, uint64_t idx)
{
	struct region *r = idx_region(s, idx);

	return r->alias ? r->alias + (idx - r->first) * s->psz : NULL;
}

uint64_t page_gfn(struct swapper *s, uint64_t idx)
{
	struct region *r = idx_region(s, idx);

	/* A gfn names a 4 KiB frame whatever the unit (a huge unit: its first) */
	return (r->gpa + (idx - r->first) * s->psz) / PAGE_SIZE_4K;
}

int page_idx(struct swapper *s, uint64_t addr, uint64_t *idx)
{
	unsigned int i;

	for (i = 0; i < s->nr_regions; i++) {
		struct region *r = &s->regions[i];
		uint64_t base = (uint64_t)(uintptr_t)r->host;

		if (addr >= base && addr - base < r->npages * s->psz) {
			*idx = r->first + (addr - base) / s->psz;
			return 0;
		}
	}
	return -EFAULT;
}

int page_range_of_gpa(struct swapper *s, uint64_t gpa, uint64_t len,
		      uint64_t *first, uint64_t *last)
{
	unsigned int i;

	if (!len)
		return -EFAULT;
	for (i = 0; i < s->nr_regions; i++) {
		struct region *rg = &s->regions[i];
		uint64_t end = rg->gpa + rg->npages * s->psz;

		if (gpa >= rg->gpa && gpa < end && len <= end - gpa) {
			*first = rg->first + (gpa - rg->gpa) / s->psz;
			*last = rg->first + (gpa + len - 1 - rg->gpa) / s->psz;
			return 0;
		}
	}
	return -EFAULT;
}

void page_resident_inc(struct swapper *s)
{
	uint64_t r = atomic_fetch_add(&s->c.resident, 1) + 1;
	uint64_t m = atomic_load(&s->c.max_resident);

	while (r > m && !atomic_compare_exchange_weak(&s->c.max_resident, &m, r))
		;
}

void page_resident_dec(struct swapper *s, uint64_t n)
{
	atomic_fetch_sub(&s->c.resident, n);
}
