/*
 * gmem.c - allocation of guest memory mappings (anonymous or memfd).
 *
 * Owns: the host mappings and memfds.  No locking: a gmem is created before
 * any thread uses it and destroyed after all have stopped.
 * Transparent huge pages are disabled on guest RAM: the swapper works at 4 KiB
 * granularity (userfaultfd MISSING faults arrive per 4 KiB anyway).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hvswap/gmem.h"

int gmem_backing_parse(const char *s, enum gmem_backing *out)
{
	if (!strcmp(s, "anon"))
		*out = GMEM_ANON;
	else if (!strcmp(s, "memfd"))
		*out = GMEM_MEMFD;
	else
		return -EINVAL;
	return 0;
}

const char *gmem_backing_name(enum gmem_backing b)
{
	return b == GMEM_MEMFD ? "memfd" : "anon";
}

int gmem_create(enum gmem_backing backing, uint64_t size, const char *name,
		struct gmem **out)
{
	struct gmem *m;
	int r, flags = MAP_NORESERVE;

	if (size == 0 || size % (uint64_t)sysconf(_SC_PAGESIZE))
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->backing = backing;
	m->size = size;
	m->memfd = -1;
	if (backing == GMEM_MEMFD) {
		m->memfd = memfd_create(name ? name : "hvswap-guest", MFD_CLOEXEC);
		if (m->memfd < 0) {
			r = -errno;
			goto err_free;
		}
		if (ftruncate(m->memfd, (off_t)size) < 0) {
			r = -errno;
			goto err_close;
		}
		flags |= MAP_SHARED;
	} else {
		flags |= MAP_PRIVATE | MAP_ANONYMOUS;
	}
	m->host = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, m->memfd, 0);
	if (m->host == MAP_FAILED) {
		r = -errno;
		goto err_close;
	}
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
