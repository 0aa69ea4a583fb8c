/*
 * gmem.c - allocation of guest memory mappings (anonymous or memfd).
 *
 * Owns: the host mappings and memfds.  No locking: a gmem is created before
 * any thread uses it and destroyed after all have stopped.
 * Transparent huge pages are disabled on anonymous and memfd guest RAM: the
 * swapper works there at 4 KiB granularity (userfaultfd MISSING faults
 * arrive per 4 KiB anyway).  GMEM_HUGETLB is a memfd on hugetlbfs whose
 * pages are 2 MiB, which the swapper handles as 2 MiB units.  GMEM_THP is
 * anonymous memory asked to be on THPs (MADV_HUGEPAGE), mapped 2 MiB
 * aligned so every 2 MiB unit can be one PMD; the swapper handles it in
 * 2 MiB units too (swapper/thp.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hvswap/gmem.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004u
#endif
#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21u << 26)      /* log2(2 MiB) << MFD_HUGE_SHIFT */
#endif
#define THP_ENABLED "/sys/kernel/mm/transparent_hugepage/enabled"

int gmem_backing_parse(const char *s, enum gmem_backing *out)
{
	if (!strcmp(s, "anon"))
		*out = GMEM_ANON;
	else if (!strcmp(s, "memfd"))
		*out = GMEM_MEMFD;
	else if (!strcmp(s, "hugetlb"))
		*out = GMEM_HUGETLB;
	else if (!strcmp(s, "thp"))
		*out = GMEM_THP;
	else
		return -EINVAL;
	return 0;
}

const char *gmem_backing_name(enum gmem_backing b)
{
	return b == GMEM_MEMFD ? "memfd" : b == GMEM_HUGETLB ? "hugetlb" :
	       b == GMEM_THP ? "thp" : "anon";
}

const char *gmem_thp_mode(void)
{
	static const char *const modes[] = { "always", "madvise", "never" };
	char line[128], want[16];
	const char *mode = "never";
	unsigned int i;
	FILE *f = fopen(THP_ENABLED, "r");

	if (!f)
		return mode;
	/* the mode in force is the bracketed one: "always [madvise] never" */
	if (fgets(line, sizeof(line), f)) {
		for (i = 0; i < 3; i++) {
			snprintf(want, sizeof(want), "[%s]", modes[i]);
			if (strstr(line, want))
				mode = modes[i];
		}
	}
	fclose(f);
	return mode;
}

/* Anonymous memory at a 2 MiB boundary: map 2 MiB more, trim both ends. */
static void *map_thp(uint64_t size, int flags)
{
	uint8_t *p = mmap(NULL, size + GMEM_HUGE_SIZE, PROT_READ | PROT_WRITE,
			  flags, -1, 0);
	uint8_t *a;

	if (p == MAP_FAILED)
		return p;
	a = (uint8_t *)(((uintptr_t)p + GMEM_HUGE_SIZE - 1) & ~(GMEM_HUGE_SIZE - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	munmap(a + size, (size_t)(p + GMEM_HUGE_SIZE - a));
	if (madvise(a, size, MADV_HUGEPAGE) < 0) {
		munmap(a, size);
		errno = ENOTSUP;
		return MAP_FAILED;
	}
	return a;
}

int gmem_create(enum gmem_backing backing, uint64_t size, const char *name,
		struct gmem **out)
{
	struct gmem *m;
	int r, flags = MAP_NORESERVE;

	if (size == 0 || size % (uint64_t)sysconf(_SC_PAGESIZE) ||
	    ((backing == GMEM_HUGETLB || backing == GMEM_THP) && size % GMEM_HUGE_SIZE))
		return -EINVAL;
	if (backing == GMEM_THP && !strcmp(gmem_thp_mode(), "never"))
		return -ENOTSUP;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->backing = backing;
	m->size = size;
	m->memfd = -1;
	if (backing == GMEM_MEMFD || backing == GMEM_HUGETLB) {
		m->memfd = memfd_create(name ? name : "hvswap-guest", MFD_CLOEXEC |
					(backing == GMEM_HUGETLB ?
					 MFD_HUGETLB | MFD_HUGE_2MB : 0));
		if (m->memfd < 0) {
			r = -errno;
			goto err_free;
		}
		if (ftruncate(m->memfd, (off_t)size) < 0) {
			r = -errno;
			goto err_close;
		}
		flags |= MAP_SHARED;
		/* hugetlbfs: reserve the pages now, so a short pool is
		 * -ENOMEM here and never a SIGBUS in the guest later */
		if (backing == GMEM_HUGETLB)
			flags &= ~MAP_NORESERVE;
	} else {
		flags |= MAP_PRIVATE | MAP_ANONYMOUS;
	}
	if (backing == GMEM_THP)
		m->host = map_thp(size, flags);
	else
		m->host = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, m->memfd, 0);
	if (m->host == MAP_FAILED) {
		r = -errno;
		goto err_close;
	}
	if (backing != GMEM_HUGETLB && backing != GMEM_THP)
		madvise(m->host, size, MADV_NOHUGEPAGE);
	*out = m;
	return 0;

err_close:
	if (m->memfd >= 0)
		close(m->memfd);
err_free:
	free(m);
	return r;
}

void gmem_destroy(struct gmem *m)
{
	if (!m)
		return;
	munmap(m->host, m->size);
	if (m->memfd >= 0)
		close(m->memfd);
	free(m);
}
