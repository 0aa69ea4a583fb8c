/*
 * io_libaio.c - the default I/O engine: Linux native AIO (libaio).
 *
 * Submit prepares one iocb per request (IOCB_CMD_PREADV/PWRITEV, each
 * signalling an eventfd) and hands the batch to io_submit().  Threaded: one
 * completion thread blocks on the eventfd, reaps events with io_getevents()
 * and runs the requests' done() callbacks.  Polled: no thread; the owner
 * reaps (io_getevents with a zero timeout first looks at the ring in user
 * memory, so a spinning reaper makes no system call while nothing is ready).
 *
 * Owns: the aio context, the eventfd, a pool of queue_depth iocbs, the
 * completion thread (threaded mode).
 *
 * Lock order: only e->lock, never held across io_submit() or done().
 *
 * Invariants:
 *  - inflight == iocbs handed to the kernel whose done() has not returned;
 *    inflight <= queue_depth, so the kernel ring never overflows.
 *  - an iocb is either on the free list or owned by exactly one request.
 *  - the completion thread exits only when stopping && inflight == 0.
 */
#include <errno.h>
#include <libaio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hvswap/log.h"
#include "io.h"

/* Most iocbs per io_submit()/io_getevents() call; a longer submit batch is
 * partially accepted, as the contract allows. */
#define BATCH 64

struct aio_slot {
	struct iocb cb;
	struct aio_slot *next;     /* free list link, protected by lock */
};

struct aio_engine {
	struct io_engine base;
	io_context_t ctx;
	int efd;
	pthread_t thread;
	struct io_thread_hook hook;     /* run first by the thread */
	struct aio_slot *slots;    /* queue_depth of them */
	/* Release/acquire hand-off of request fields from submitters to the
	 * completion thread.  The kernel orders them already; this makes the
	 * order visible to ThreadSanitizer too, for one atomic op per batch. */
	_Atomic unsigned long published;
	pthread_mutex_t lock;
	pthread_cond_t idle;       /* signalled when inflight drops to 0 */
	struct aio_slot *free;     /* protected by lock */
	unsigned int inflight;     /* protected by lock */
	bool stopping;             /* protected by lock */
};

static struct aio_engine *to_aio(struct io_engine *e)
{
	return (struct aio_engine *)e;
}

/* Take up to n iocbs off the free list; returns how many were taken. */
static int slots_get(struct aio_engine *a, struct aio_slot **out, int n)
{
	int i;

	pthread_mutex_lock(&a->lock);
	for (i = 0; i < n && a->free; i++) {
		out[i] = a->free;
		a->free = a->free->next;
	}
	a->inflight += (unsigned int)i;
	pthread_mutex_unlock(&a->lock);
	return i;
}

/* Give back n iocbs; done_reqs of them also end their request's life. */
static void slots_put(struct aio_engine *a, struct aio_slot **s, int n,
		      unsigned int done_reqs)
{
	int i;

	pthread_mutex_lock(&a->lock);
	for (i = 0; i < n; i++) {
		s[i]->next = a->free;
		a->free = s[i];
	}
	a->inflight -= done_reqs;
	if (a->inflight == 0)
		pthread_cond_broadcast(&a->idle);
	pthread_mutex_unlock(&a->lock);
}

static void prep(struct aio_engine *a, struct aio_slot *s, struct io_req *r)
{
	if (r->op == IO_READ)
		io_prep_preadv(&s->cb, r->fd, r->iov, r->iovcnt, (long long)r->off);
	else
		io_prep_pwritev(&s->cb, r->fd, r->iov, r->iovcnt, (long long)r->off);
	io_set_eventfd(&s->cb, a->efd);
	s->cb.data = r;
}

/*
 * io_submit() may accept a prefix of the batch.  The rules are:
 *   ret == n      all accepted
 *   0 < ret < n   the first ret accepted; the rest never reached the kernel
 *   ret <= 0      none accepted (e.g. -EAGAIN: kernel out of resources)
 * Unaccepted iocbs go back to the pool and leave the in-flight count.
 */
static int aio_submit(struct io_engine *e, struct io_req **reqs, int n)
{
	struct aio_engine *a = to_aio(e);
	struct aio_slot *s[BATCH];
	struct iocb *cbs[BATCH];
	int got, i, ret;

	if (n > BATCH)
		n = BATCH;
	got = slots_get(a, s, n);
	if (got == 0)
		return -EAGAIN;
	for (i = 0; i < got; i++) {
		prep(a, s[i], reqs[i]);
		cbs[i] = &s[i]->cb;
	}
	atomic_fetch_add_explicit(&a->published, 1, memory_order_release);
	do {
		ret = io_submit(a->ctx, got, cbs);
	} while (ret == -EINTR);
	if (ret == got)
		return ret;
	i = ret < 0 ? 0 : ret;
	slots_put(a, s + i, got - i, (unsigned int)(got - i));
	if (ret == 0)
		return -EAGAIN;
	return ret < 0 ? ret : i;
}

static void reap(struct aio_engine *a, struct io_event *ev, int nev)
{
	struct aio_slot *s[BATCH];
	struct io_req *r[BATCH];
	ssize_t res[BATCH];
	int i;

	(void)atomic_load_explicit(&a->published, memory_order_acquire);
	for (i = 0; i < nev; i++) {
		r[i] = ev[i].data;
		s[i] = (struct aio_slot *)ev[i].obj;    /* cb is the first member */
		res[i] = (ssize_t)(long)ev[i].res;
	}
	/* iocbs go back first so a done() may resubmit without -EAGAIN. */
	slots_put(a, s, nev, 0);
	for (i = 0; i < nev; i++)
		r[i]->done(r[i], res[i]);
	slots_put(a, s, 0, (unsigned int)nev);
}

/* Reap everything ready now; returns false once the engine should exit. */
static bool drain(struct aio_engine *a)
{
	struct io_event ev[BATCH];
	struct timespec zero = { 0, 0 };
	bool more;
	int nev;

	do {
		nev = io_getevents(a->ctx, 0, BATCH, ev, &zero);
		if (nev > 0)
			reap(a, ev, nev);
	} while (nev == BATCH || nev == -EINTR);
	if (nev < 0)
		log_err("libaio: io_getevents: %d", nev);
	pthread_mutex_lock(&a->lock);
	more = !(a->stopping && a->inflight == 0);
	pthread_mutex_unlock(&a->lock);
	return more;
}

static void *completion_thread(void *arg)
{
	struct aio_engine *a = arg;
	uint64_t cnt;
	ssize_t rd;

	io_thread_hook_run(&a->hook);
	for (;;) {
		rd = read(a->efd, &cnt, sizeof(cnt));
		if (rd < 0 && errno != EINTR && errno != EAGAIN) {
			log_err("libaio: eventfd read failed (errno %d)", errno);
			break;
		}
		if (!drain(a))
			break;
	}
	return NULL;
}

static int aio_poll_fd(struct io_engine *e)
{
	return to_aio(e)->efd;
}

static int aio_reap(struct io_engine *e, unsigned int max)
{
	struct aio_engine *a = to_aio(e);
	struct io_event ev[BATCH];
	struct timespec zero = { 0, 0 };
	int nev;

	do {
		nev = io_getevents(a->ctx, 0, max < BATCH ? (long)max : BATCH, ev, &zero);
	} while (nev == -EINTR);
	if (nev > 0)
		reap(a, ev, nev);
	return nev > 0 ? nev : 0;
}

static void aio_arm(struct io_engine *e)
{
	io_efd_drain(to_aio(e)->efd);
}

static unsigned int inflight(struct aio_engine *a)
{
	unsigned int n;

	pthread_mutex_lock(&a->lock);
	n = a->inflight;
	pthread_mutex_unlock(&a->lock);
	return n;
}

static void aio_destroy(struct io_engine *e)
{
	struct aio_engine *a = to_aio(e);
	uint64_t one = 1;

	if (e->polled) {
		/* Nobody else reaps: run the remaining completions here. */
		while (inflight(a)) {
			aio_arm(e);
			if (!aio_reap(e, BATCH) && inflight(a))
				io_efd_wait(a->efd, 100);
		}
	} else {
		pthread_mutex_lock(&a->lock);
		while (a->inflight)
			pthread_cond_wait(&a->idle, &a->lock);
		a->stopping = true;
		pthread_mutex_unlock(&a->lock);
		if (write(a->efd, &one, sizeof(one)) != sizeof(one))
			log_err("libaio: cannot wake the completion thread");
		pthread_join(a->thread, NULL);
	}
	io_destroy(a->ctx);
	close(a->efd);
	pthread_cond_destroy(&a->idle);
	pthread_mutex_destroy(&a->lock);
	free(a->slots);
	free(a);
}

static const struct io_engine_ops aio_ops = {
	.name = "libaio",
	.submit = aio_submit,
	.destroy = aio_destroy,
	.poll_fd = aio_poll_fd,
	.reap = aio_reap,
	.arm = aio_arm,
};

static struct aio_engine *aio_alloc(unsigned int qd)
{
	struct aio_engine *a = calloc(1, sizeof(*a));
	unsigned int i;

	if (!a)
		return NULL;
	a->slots = calloc(qd, sizeof(*a->slots));
	if (!a->slots) {
		free(a);
		return NULL;
	}
	for (i = 0; i < qd; i++) {
		a->slots[i].next = a->free;
		a->free = &a->slots[i];
	}
	a->base.ops = &aio_ops;
	a->base.queue_depth = qd;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->idle, NULL);
	return a;
}

int io_libaio_create(unsigned int queue_depth, unsigned int flags,
		     const struct io_thread_hook *hook, struct io_engine **out)
{
	struct aio_engine *a = aio_alloc(queue_depth);
	int ret;

	if (!a)
		return -ENOMEM;
	a->base.polled = flags & IO_ENGINE_POLLED;
	a->hook = *hook;
	a->efd = eventfd(0, EFD_CLOEXEC | (a->base.polled ? EFD_NONBLOCK : 0));
	if (a->efd < 0) {
		ret = -errno;
		goto err_free;
	}
	ret = io_setup((int)queue_depth, &a->ctx);
	if (ret < 0) {
		log_err("libaio: io_setup(%u) failed: %d (see /proc/sys/fs/aio-max-nr)",
			queue_depth, ret);
		goto err_efd;
	}
	if (!a->base.polled) {
		ret = -pthread_create(&a->thread, NULL, completion_thread, a);
		if (ret)
			goto err_ctx;
	}
	*out = &a->base;
	return 0;

err_ctx:
	io_destroy(a->ctx);
err_efd:
	close(a->efd);
err_free:
	pthread_cond_destroy(&a->idle);
	pthread_mutex_destroy(&a->lock);
	free(a->slots);
	free(a);
	return ret;
}
