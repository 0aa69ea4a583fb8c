/*
 * uffd.h - thin wrappers around userfaultfd(2); nothing else in hvswap
 * issues uffd ioctls.  All return 0 / bytes on success, -errno on failure.
 */
#ifndef HVSWAP_SWAPPER_UFFD_H
#define HVSWAP_SWAPPER_UFFD_H

#include <stdbool.h>
#include <stdint.h>

#include "compat.h"

struct uffd_caps {
	uint64_t features;      /* UFFDIO_API features the kernel offers */
	bool move;              /* UFFDIO_MOVE (6.8+) */
	bool wp;                /* write-protect on anonymous memory (5.7+) */
	bool shmem;             /* MISSING faults on shmem/memfd (4.11+) */
	bool wp_shmem;          /* write-protect on shmem/memfd (5.19+) */
	bool minor_shmem;       /* MINOR faults + UFFDIO_CONTINUE on shmem (5.14+) */
	bool hugetlb;           /* MISSING faults on hugetlbfs (4.11+); its
				   write-protect is wp_shmem's feature bit */
};

/* Probe the kernel with a throw-away uffd.  -ENOSYS/-EPERM when userfaultfd
 * is unavailable (hint: vm.unprivileged_userfaultfd, seccomp, containers). */
int uffd_probe(struct uffd_caps *caps);
/* Open a uffd (O_CLOEXEC|O_NONBLOCK) and enable `features`. */
int uffd_open(uint64_t features);
/* Register [addr, addr+len); modes: UFFDIO_REGISTER_MODE_*.  *ioctls gets
 * the ioctl mask the kernel grants for the range. */
int uffd_register(int fd, void *addr, uint64_t len, uint64_t modes,
		  uint64_t *ioctls);
int uffd_copy(int fd, void *dst, const void *src, uint64_t len, bool wp,
	      bool dontwake);
int uffd_zeropage(int fd, void *dst, uint64_t len, bool dontwake);
/* Map zeros over [dst, dst + len): the shared zero page (!write) or private
 * zeroed pages copied from zsrc (write; len bytes of zeros).  *done is set
 * to the bytes mapped from dst on.  Unlike uffd_zeropage()/uffd_copy(),
 * returns -EEXIST when it stops at a page that is already mapped (the one
 * at dst + *done); 0 when all is mapped; another -errno on failure. */
int uffd_zero_span(int fd, void *dst, uint64_t len, bool write,
		   const void *zsrc, uint64_t *done);
/* Map the pages already in the file at [dst, dst+len) (MINOR mode); wp:
 * write-protected (Linux 6.4+; -EINVAL before). */
int uffd_continue(int fd, void *dst, uint64_t len, bool wp, bool dontwake);
/* Returns bytes moved (>= 0) or -errno. */
int64_t uffd_move(int fd, void *dst, void *src, uint64_t len, bool dontwake);
int uffd_writeprotect(int fd, void *addr, uint64_t len, bool protect,
		      bool dontwake);
int uffd_wake(int fd, void *addr, uint64_t len);
/* Unregister a range; the kernel wakes every thread waiting on it. */
int uffd_unregister(int fd, void *addr, uint64_t len);

#endif
