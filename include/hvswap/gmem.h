/*
 * gmem.h - guest memory backing.  Guest RAM is one host mapping per region,
 * backed either by anonymous private memory (the default; what UFFDIO_MOVE
 * eviction needs) or by a shared memfd (so external processes such as
 * vhost-user backends can map it).  New backings (hugetlbfs, file) are new
 * enum values handled here; nothing else allocates guest memory.
 */
#ifndef HVSWAP_GMEM_H
#define HVSWAP_GMEM_H

#include <stdint.h>

enum gmem_backing { GMEM_ANON = 0, GMEM_MEMFD = 1 };

struct gmem {
	enum gmem_backing backing;
	void *host;             /* host virtual address of the mapping */
	uint64_t size;          /* bytes, multiple of the host page size */
	int memfd;              /* GMEM_MEMFD: the memfd, else -1 */
};

/* Parse "anon" / "memfd"; -EINVAL otherwise. */
int gmem_backing_parse(const char *s, enum gmem_backing *out);
const char *gmem_backing_name(enum gmem_backing b);

/* Map `size` bytes (no host memory is committed until touched). */
int gmem_create(enum gmem_backing backing, uint64_t size, const char *name,
		struct gmem **out);
void gmem_destroy(struct gmem *m);

#endif
