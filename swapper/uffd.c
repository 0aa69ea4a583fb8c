/*
 * uffd.c - the only file that issues userfaultfd ioctls.
 *
 * Result protocol of the resolving ioctls (COPY, ZEROPAGE, CONTINUE, MOVE), as the
 * Firecracker handler documents too:
 *   -EEXIST  the page is already mapped: the fault is served (we return 0);
 *   -EAGAIN  the address space is changing under us (mmap_changing): retry;
 *   partial  a short copy/move is retried for the remainder.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uffd.h"

#define UFFD_RETRIES 64

/*
 * A new userfaultfd: the system call, or where it is refused (EPERM: not
 * root and vm.unprivileged_userfaultfd=0) the /dev/userfaultfd device
 * (Linux 6.1+), whose access is a file permission - a group on the node lets
 * hvswap run without root.  Returns the fd, or -1 with errno from the system
 * call (the more telling error) when both fail.
 */
static int sys_userfaultfd(int flags)
{
	int fd, dev, err;

	fd = (int)syscall(__NR_userfaultfd, flags);
	if (fd >= 0 || (errno != EPERM && errno != ENOSYS))
		return fd;
	err = errno;
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
		close(dev);
		if (fd >= 0)
			return fd;
	}
	errno = err;
	return -1;
}

int uffd_open(uint64_t features)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int fd, r;

	/* UFFD_USER_MODE_ONLY is not wanted: KVM faults are kernel-mode. */
	fd = sys_userfaultfd(O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int uffd_probe(struct uffd_caps *caps)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	int fd, r = 0;

	memset(caps, 0, sizeof(*caps));
	fd = sys_userfaultfd(O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api) < 0)
		r = -errno;
	close(fd);
	if (r < 0)
		return r;
	/* With features=0 the kernel reports everything it supports. */
	caps->features = api.features;
	caps->move = api.features & UFFD_FEATURE_MOVE;
	caps->wp = api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP;
	caps->shmem = api.features & UFFD_FEATURE_MISSING_SHMEM;
	caps->wp_shmem = caps->wp && (api.features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	caps->minor_shmem = api.features & UFFD_FEATURE_MINOR_SHMEM;
	caps->hugetlb = api.features & UFFD_FEATURE_MISSING_HUGETLBFS;
	return 0;
}

int uffd_register(int fd, void *addr, uint64_t len, uint64_t modes,
		  uint64_t *ioctls)
{
	struct uffdio_register reg = {
		.range = { .start = (uint64_t)(uintptr_t)addr, .len = len },
		.mode = modes,
	};

	if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0)
		return -errno;
	if (ioctls)
		*ioctls = reg.ioctls;
	return 0;
}

int uffd_copy(int fd, void *dst, const void *src, uint64_t len, bool wp,
	      bool dontwake)
{
	uint64_t done = 0;
	int tries = 0;

	while (done < len) {
		struct uffdio_copy c = {
			.dst = (uint64_t)(uintptr_t)dst + done,
			.src = (uint64_t)(uintptr_t)src + done,
			.len = len - done,
			.mode = (wp ? UFFDIO_COPY_MODE_WP : 0) |
				(dontwake ? UFFDIO_COPY_MODE_DONTWAKE : 0),
		};

		if (ioctl(fd, UFFDIO_COPY, &c) == 0) {
			done = len;
			break;
		}
		if (errno == EEXIST)
			return 0;
		if (c.copy > 0)
			done += (uint64_t)c.copy;
		else if (errno != EAGAIN || ++tries > UFFD_RETRIES)
			return -errno;
	}
	return 0;
}

int uffd_zeropage(int fd, void *dst, uint64_t len, bool dontwake)
{
	int tries = 0;

	for (;;) {
		struct uffdio_zeropage z = {
			.range = { .start = (uint64_t)(uintptr_t)dst, .len = len },
			.mode = dontwake ? UFFDIO_ZEROPAGE_MODE_DONTWAKE : 0,
		};

		if (ioctl(fd, UFFDIO_ZEROPAGE, &z) == 0 || errno == EEXIST)
			return 0;
		if (errno != EAGAIN || ++tries > UFFD_RETRIES)
			return -errno;
	}
}

int uffd_zero_span(int fd, void *dst, uint64_t len, bool write,
		   const void *zsrc, uint64_t *done)
{
	int tries = 0;

	*done = 0;
	while (*done < len) {
		uint64_t at = (uint64_t)(uintptr_t)dst + *done;
		int64_t got;

		if (write) {
			struct uffdio_copy c = {
				.dst = at, .len = len - *done,
				.src = (uint64_t)(uintptr_t)zsrc + *done,
			};

			if (ioctl(fd, UFFDIO_COPY, &c) == 0) {
				*done = len;
				break;
			}
			got = c.copy;
		} else {
			struct uffdio_zeropage z = {
				.range = { .start = at, .len = len - *done },
			};

			if (ioctl(fd, UFFDIO_ZEROPAGE, &z) == 0) {
				*done = len;
				break;
			}
			got = z.zeropage;
		}
		if (got > 0)
			*done += (uint64_t)got;
		else if (errno != EAGAIN || ++tries > UFFD_RETRIES)
			return -errno;
	}
	return 0;
}

int uffd_continue(int fd, void *dst, uint64_t len, bool wp, bool dontwake)
{
	uint64_t done = 0;
	int tries = 0;

	while (done < len) {
		struct uffdio_continue c = {
			.range = { .start = (uint64_t)(uintptr_t)dst + done,
				   .len = len - done },
			.mode = (wp ? UFFDIO_CONTINUE_MODE_WP : 0) |
				(dontwake ? UFFDIO_CONTINUE_MODE_DONTWAKE : 0),
		};

		if (ioctl(fd, UFFDIO_CONTINUE, &c) == 0)
			break;
		if (errno == EEXIST)
			return 0;
		if (c.mapped > 0)
			done += (uint64_t)c.mapped;
		else if (errno != EAGAIN || ++tries > UFFD_RETRIES)
			return -errno;
	}
	return 0;
}

int64_t uffd_move(int fd, void *dst, void *src, uint64_t len, bool dontwake)
{
	uint64_t done = 0;
	int tries = 0;

	while (done < len) {
		struct uffdio_move m = {
			.dst = (uint64_t)(uintptr_t)dst + done,
			.src = (uint64_t)(uintptr_t)src + done,
			.len = len - done,
			.mode = UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES |
				(dontwake ? UFFDIO_MOVE_MODE_DONTWAKE : 0),
		};

		if (ioctl(fd, UFFDIO_MOVE, &m) == 0) {
			done = len;
			break;
		}
		if (m.move > 0)
			done += (uint64_t)m.move;
		else if (errno != EAGAIN || ++tries > UFFD_RETRIES)
			return done ? (int64_t)done : -errno;
	}
	return (int64_t)done;
}

int uffd_writeprotect(int fd, void *addr, uint64_t len, bool protect,
		      bool dontwake)
{
	struct uffdio_writeprotect w = {
		.range = { .start = (uint64_t)(uintptr_t)addr, .len = len },
		.mode = (protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0) |
			(dontwake ? UFFDIO_WRITEPROTECT_MODE_DONTWAKE : 0),
	};

	return ioctl(fd, UFFDIO_WRITEPROTECT, &w) < 0 ? -errno : 0;
}

int uffd_unregister(int fd, void *addr, uint64_t len)
{
	struct uffdio_range r = { .start = (uint64_t)(uintptr_t)addr, .len = len };

	return ioctl(fd, UFFDIO_UNREGISTER, &r) < 0 ? -errno : 0;
}

int uffd_wake(int fd, void *addr, uint64_t len)
{
	struct uffdio_range r = { .start = (uint64_t)(uintptr_t)addr, .len = len };

	return ioctl(fd, UFFDIO_WAKE, &r) < 0 ? -errno : 0;
}
