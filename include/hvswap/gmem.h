/*
 * gmem.h - guest memory backing.  Guest RAM is one host mapping per region,
 * backed either by anonymous private memory (the default; what UFFDIO_MOVE
 * eviction needs) or by a shared memfd (so external processes such as
 * vhost-user backends can map it), or by a memfd on hugetlbfs (2 MiB pages
 * from the host's reserved pool, /proc/sys/vm/nr_hugepages; also shared),
 * or by anonymous private memory on transparent huge pages (GMEM_THP: 2 MiB
 * aligned, MADV_HUGEPAGE; no pool, the kernel's THPs when it has them).
 * New backings (file) are new enum values handled here; nothing else
 * allocates guest memory.
 */
#ifndef HVSWAP_GMEM_H
#define HVSWAP_GMEM_H

#include <stdint.h>

enum gmem_backing { GMEM_ANON = 0, GMEM_MEMFD = 1, GMEM_HUGETLB = 2, GMEM_THP = 3 };

#define GMEM_HUGE_SIZE (2ull << 20)   /* GMEM_HUGETLB page size, GMEM_THP unit */

struct gmem {
	enum gmem_backing backing;
	void *host;             /* host virtual address of the mapping */
	uint64_t size;          /* bytes, multiple of the host page size */
	int memfd;              /* GMEM_MEMFD, GMEM_HUGETLB: the memfd, else -1 */
};

/* Parse "anon" / "memfd" / "hugetlb" / "thp"; -EINVAL otherwise. */
int gmem_backing_parse(const char *s, enum gmem_backing *out);
const char *gmem_backing_name(enum gmem_backing b);

/* Map `size` bytes (no host memory is committed until touched).  GMEM_HUGETLB:
 * size a multiple of 2 MiB (-EINVAL), and -ENOMEM when the host's pool has
 * fewer free huge pages than size needs (they are reserved at mapping).
 * GMEM_THP: size a multiple of 2 MiB (-EINVAL), mapped 2 MiB aligned, and
 * -ENOTSUP when the host's THP mode is "never" (gmem_thp_mode()). */
int gmem_create(enum gmem_backing backing, uint64_t size, const char *name,
		struct gmem **out);
void gmem_destroy(struct gmem *m);

/* The host's THP mode, from /sys/kernel/mm/transparent_hugepage/enabled:
 * "always", "madvise" or "never" (also when the kernel has no THP). */
const char *gmem_thp_mode(void);

#endif
