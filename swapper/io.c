/*
 * io.c - the I/O engine registry and the common submit path.
 *
 * Owns: nothing but a constant table mapping engine names to constructors.
 * Each engine (io_libaio.c, io_sync.c, io_uring.c, io_inject.c) owns its own
 * threads and locks; this file takes no lock.
 *
 * Invariants: io_engine_submit() validates every request before handing the
 * batch to an engine, so engines may assume 1 <= iovcnt <= IO_MAX_IOV, a
 * non-NULL done() and a valid op.  A batch with one bad request is refused
 * whole (-EINVAL, nothing accepted, no completion runs).
 */
#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "io.h"

struct engine_entry {
	const char *name;
	int (*create)(unsigned int queue_depth, unsigned int flags,
		      const struct io_thread_hook *hook, struct io_engine **out);
};

static const struct engine_entry engines[] = {
	{ "libaio", io_libaio_create },
	{ "sync", io_sync_create },
	{ "io_uring", io_uring_engine_create },
};

uint64_t io_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int io_engine_create_ex(const char *name, unsigned int queue_depth,
			unsigned int flags, const struct io_thread_hook *hook,
			struct io_engine **out)
{
	static const struct io_thread_hook none = { NULL, NULL };
	size_t i;

	if (!name || !out || queue_depth == 0 || (flags & ~IO_ENGINE_POLLED))
		return -EINVAL;
	for (i = 0; i < sizeof(engines) / sizeof(engines[0]); i++) {
		if (strcmp(engines[i].name, name) == 0)
			return engines[i].create(queue_depth, flags,
						 hook ? hook : &none, out);
	}
	return -EINVAL;
}

int io_engine_create_flags(const char *name, unsigned int queue_depth,
			   unsigned int flags, struct io_engine **out)
{
	return io_engine_create_ex(name, queue_depth, flags, NULL, out);
}

int io_engine_create(const char *name, unsigned int queue_depth,
		     struct io_engine **out)
{
	return io_engine_create_flags(name, queue_depth, 0, out);
}

int io_engine_poll_fd(struct io_engine *e)
{
	return e->polled ? e->ops->poll_fd(e) : -EINVAL;
}

int io_engine_reap(struct io_engine *e, unsigned int max)
{
	return e->polled ? e->ops->reap(e, max) : 0;
}

void io_engine_arm(struct io_engine *e)
{
	if (e->polled)
		e->ops->arm(e);
}

int io_polled_efd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	return fd < 0 ? -errno : fd;
}

void io_efd_drain(int efd)
{
	uint64_t v;

	while (read(efd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

void io_efd_wait(int efd, int ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };

	poll(&p, 1, ms);
}

static int req_valid(const struct io_req *r)
{
	if (!r || !r->done || !r->iov)
		return 0;
	if (r->op != IO_READ && r->op != IO_WRITE)
		return 0;
	return r->iovcnt >= 1 && r->iovcnt <= IO_MAX_IOV && r->fd >= 0;
}

int io_engine_submit(struct io_engine *e, struct io_req **reqs, int n)
{
	uint64_t now;
	int i;

	if (!e || n < 0 || (n > 0 && !reqs))
		return -EINVAL;
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (!req_valid(reqs[i]))
			return -EINVAL;
	}
	now = io_now_ns();
	for (i = 0; i < n; i++)
		reqs[i]->submit_ns = now;
	return e->ops->submit(e, reqs, n);
}

void io_engine_destroy(struct io_engine *e)
{
	if (e)
		e->ops->destroy(e);
}

const char *io_engine_names(void)
{
#ifdef HV_HAVE_URING
	return "libaio,sync,io_uring";
#else
	return "libaio,sync";
#endif
}
