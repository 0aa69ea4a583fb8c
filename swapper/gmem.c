/*
 * gmem.c - allocation of guest memory mappings (anonymous or memfd).
 *
 * Owns: the host mappings and memfds.  No locking: a gmem is created before
 * any thread uses it and destroyed after all have stopped.
 * Transparent huge pages are disabled on anonymous and memfd guest RAM: the
 * swapper works there at 4 KiB granularity (userfaultfd MISSING faults
 * arrive per 4 KiB anyway).  GMEM_HUGETLB is a memfd on hugetlbfs whose
 * pages are 2 MiB, which the swapper handles as 2 MiB units.
 */
#include <errno.h>
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

int gmem_backing_parse(const char *s, enum gmem_backing *out)
{
	if (!strcmp(s, "anon"))
		*out = GMEM_ANON;
	else if (!strcmp(s, "memfd"))
		*out = GMEM_MEMFD;
	else if (!strcmp(s, "hugetlb"))
		*out = GMEM_HUGETLB;
	else
		return -EINVAL;
	return 0;
}

const char *gmem_backing_name(enum gmem_backing b)
{
	return b == GMEM_MEMFD ? "memfd" : b == GMEM_HUGETLB ? "hugetlb" : "anon";
}

int gmem_create(enum gmem_backing backing, uint64_t size, const char *name,
		struct gmem **out)
{
	struct gmem *m;
	int r, flags = MAP_NORESERVE;

	if (size == 0 || size % (uint64_t)sysconf(_SC_PAGESIZE) ||
	    (backing == GMEM_HUGETLB && size % GMEM_HUGE_SIZE))
		return -EINVAL;
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
	m->host = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, m->memfd, 0);
	if (m->host == MAP_FAILED) {
		r = -errno;
		goto err_close;
	}
	if (backing != GMEM_HUGETLB)
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
