/*
 * io_sync.c - the "sync" I/O engine: one worker thread doing preadv/pwritev,
 * one request at a time, in submission order.  A baseline for comparison and
 * a fallback where neither AIO nor io_uring is usable.
 *
 * Owns: a FIFO of accepted requests (linked through req->eng_next) and the
 * worker thread, which also runs every completion - or, polled, puts each
 * finished request (its result in eng_priv) on a done list and signals an
 * eventfd; the owner's io_engine_reap() runs the completions.
 *
 * Lock order: only s->lock, never held across the I/O or done().
 *
 * Invariants:
 *  - pending == queued requests + the one being served (if any);
 *    pending <= queue_depth.
 *  - the worker exits only when stopping and the queue is empty; destroy
 *    sets stopping only after pending has dropped to 0.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io.h"

struct sync_engine {
	struct io_engine base;
	pthread_t thread;
	struct io_thread_hook hook;     /* run first by the worker */
	pthread_mutex_t lock;
	pthread_cond_t work;       /* queue non-empty or stopping */
	pthread_cond_t idle;       /* pending dropped to 0 */
	struct io_req *head, *tail; /* protected by lock */
	struct io_req *dhead, *dtail; /* polled: finished; protected by lock */
	int efd;                   /* polled: done list non-empty */
	unsigned int pending;      /* protected by lock */
	bool stopping;             /* protected by lock */
};

static struct sync_engine *to_sync(struct io_engine *e)
{
	return (struct sync_engine *)e;
}

static int sync_submit(struct io_engine *e, struct io_req **reqs, int n)
{
	struct sync_engine *s = to_sync(e);
	int i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < n && s->pending < s->base.queue_depth; i++) {
		reqs[i]->eng_next = NULL;
		if (s->tail)
			s->tail->eng_next = reqs[i];
		else
			s->head = reqs[i];
		s->tail = reqs[i];
		s->pending++;
	}
	if (i)
		pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->lock);
	return i ? i : -EAGAIN;
}

static ssize_t do_io(const struct io_req *r)
{
	ssize_t ret;

	do {
		if (r->op == IO_READ)
			ret = preadv(r->fd, r->iov, r->iovcnt, (off_t)r->off);
		else
			ret = pwritev(r->fd, r->iov, r->iovcnt, (off_t)r->off);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : ret;
}

/* Pop the next request; NULL when the worker should exit. */
static struct io_req *next_req(struct sync_engine *s)
{
	struct io_req *r;

	pthread_mutex_lock(&s->lock);
	while (!s->head && !s->stopping)
		pthread_cond_wait(&s->work, &s->lock);
	r = s->head;
	if (r) {
		s->head = r->eng_next;
		if (!s->head)
			s->tail = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

static void finished(struct sync_engine *s)
{
	pthread_mutex_lock(&s->lock);
	if (--s->pending == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
}

/* Polled: hand a finished request to the reaper. */
static void post(struct sync_engine *s, struct io_req *r, ssize_t res)
{
	uint64_t one = 1;

	r->eng_priv = (void *)(intptr_t)res;
	r->eng_next = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->dtail)
		s->dtail->eng_next = r;
	else
		s->dhead = r;
	s->dtail = r;
	pthread_mutex_unlock(&s->lock);
	/* Fails only when the counter would overflow: then it is readable. */
	ssize_t w = write(s->efd, &one, sizeof(one));

	(void)w;
}

static void *worker(void *arg)
{
	struct sync_engine *s = arg;
	struct io_req *r;

	io_thread_hook_run(&s->hook);
	while ((r = next_req(s))) {
		if (s->base.polled) {
			post(s, r, do_io(r));
			continue;
		}
		r->done(r, do_io(r));
		finished(s);
	}
	return NULL;
}

static int sync_poll_fd(struct io_engine *e)
{
	return to_sync(e)->efd;
}

static int sync_reap(struct io_engine *e, unsigned int max)
{
	struct sync_engine *s = to_sync(e);
	struct io_req *r;
	unsigned int n = 0;

	while (n < max) {
		pthread_mutex_lock(&s->lock);
		r = s->dhead;
		if (r) {
			s->dhead = r->eng_next;
			if (!s->dhead)
				s->dtail = NULL;
		}
		pthread_mutex_unlock(&s->lock);
		if (!r)
			break;
		r->done(r, (ssize_t)(intptr_t)r->eng_priv);
		finished(s);
		n++;
	}
	return (int)n;
}

static void sync_arm(struct io_engine *e)
{
	io_efd_drain(to_sync(e)->efd);
}

static unsigned int pending(struct sync_engine *s)
{
	unsigned int n;

	pthread_mutex_lock(&s->lock);
	n = s->pending;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static void sync_destroy(struct io_engine *e)
{
	struct sync_engine *s = to_sync(e);

	while (e->polled && pending(s)) {
		sync_arm(e);
		if (!sync_reap(e, 64) && pending(s))
			io_efd_wait(s->efd, 100);
	}
	pthread_mutex_lock(&s->lock);
	while (s->pending)
		pthread_cond_wait(&s->idle, &s->lock);
	s->stopping = true;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	if (s->efd >= 0)
		close(s->efd);
	pthread_cond_destroy(&s->idle);
	pthread_cond_destroy(&s->work);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const struct io_engine_ops sync_ops = {
	.name = "sync",
	.submit = sync_submit,
	.destroy = sync_destroy,
	.poll_fd = sync_poll_fd,
	.reap = sync_reap,
	.arm = sync_arm,
};

int io_sync_create(unsigned int queue_depth, unsigned int flags,
		   const struct io_thread_hook *hook, struct io_engine **out)
{
	struct sync_engine *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	s->hook = *hook;
	s->base.ops = &sync_ops;
	s->base.queue_depth = queue_depth;
	s->base.polled = flags & IO_ENGINE_POLLED;
	s->efd = -1;
	if (s->base.polled) {
		s->efd = io_polled_efd();
		if (s->efd < 0) {
			ret = s->efd;
			free(s);
			return ret;
		}
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->idle, NULL);
	ret = -pthread_create(&s->thread, NULL, worker, s);
	if (ret)
		goto err_free;
	*out = &s->base;
	return 0;

err_free:
	if (s->efd >= 0)
		close(s->efd);
	pthread_cond_destroy(&s->idle);
	pthread_cond_destroy(&s->work);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return ret;
}
