/*
 * io_uring.c - the io_uring I/O engine (liburing), built only with
 * HV_HAVE_URING; otherwise io_engine_create("io_uring") returns -ENOSYS.
 *
 * Submitters fill SQEs (IORING_OP_READV/WRITEV, user_data = the request) and
 * call io_uring_submit(); threaded: one completion thread waits on the CQ and
 * runs the done() callbacks; polled: an eventfd registered with the ring
 * signals CQEs and the owner reaps (peeking the CQ is a read of shared
 * memory, no system call).  The ring is set up with IORING_SETUP_SUBMIT_ALL so that a
 * bad request turns into an error CQE instead of stopping the batch.
 *
 * Owns: the ring and the completion thread.
 *
 * Lock order: sq_lock -> lock.  Neither is held across done().
 *  - sq_lock serializes every use of the submission queue (get_sqe, submit,
 *    the rollback below).  The CQ is touched only by the completion thread.
 *  - lock protects the in-flight accounting.
 *
 * Invariants:
 *  - inflight == accepted requests whose done() has not returned;
 *    inflight <= queue_depth, so the CQ (2 * queue_depth) never overflows.
 *  - outside sq_lock the SQ holds no unsubmitted entries: whatever the kernel
 *    did not consume is rolled back and reported as not accepted.
 *  - a CQE with user_data 0 is the wake-up NOP sent by destroy.
 */
#include <errno.h>

#include "hvswap/log.h"
#include "io.h"

#ifndef HV_HAVE_URING

int io_uring_engine_create(unsigned int queue_depth, unsigned int flags,
			   const struct io_thread_hook *hook, struct io_engine **out)
{
	(void)queue_depth;
	(void)flags;
	(void)hook;
	(void)out;
	return -ENOSYS;
}

#else

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define REAP_BATCH 64
#define SUBMIT_RETRIES 100

struct uring_engine {
	struct io_engine base;
	struct io_uring ring;      /* SQ: protected by sq_lock; CQ: the reaper only */
	pthread_t thread;
	int efd;                   /* polled: registered CQ eventfd */
	struct io_thread_hook hook;     /* run first by the thread */
	pthread_mutex_t sq_lock;
	pthread_mutex_t lock;
	pthread_cond_t idle;       /* inflight dropped to 0 */
	unsigned int inflight;     /* protected by lock */
	bool stopping;             /* protected by lock */
	/* Release/acquire hand-off of request fields to the completion thread:
	 * the kernel orders them already, this makes it visible to TSan. */
	_Atomic unsigned long published;
};

static struct uring_engine *to_uring(struct io_engine *e)
{
	return (struct uring_engine *)e;
}

static unsigned int reserve(struct uring_engine *u, unsigned int n)
{
	unsigned int k;

	pthread_mutex_lock(&u->lock);
	k = u->base.queue_depth - u->inflight;
	if (k > n)
		k = n;
	u->inflight += k;
	pthread_mutex_unlock(&u->lock);
	return k;
}

static void unreserve(struct uring_engine *u, unsigned int n)
{
	if (!n)
		return;
	pthread_mutex_lock(&u->lock);
	u->inflight -= n;
	if (u->inflight == 0)
		pthread_cond_broadcast(&u->idle);
	pthread_mutex_unlock(&u->lock);
}

/*
 * Push the SQ to the kernel.  Transient refusals (-EINTR, -EAGAIN, -EBUSY)
 * are retried a few times.  Entries the kernel still has not consumed are
 * then taken back out of the SQ: without SQPOLL the kernel reads the SQ only
 * inside io_uring_enter(), which we serialize with sq_lock, so resetting the
 * tail is safe.  Returns how many of the prepared entries were NOT consumed.
 */
static unsigned int flush_sq(struct uring_engine *u)
{
	struct io_uring_sq *sq = &u->ring.sq;
	struct timespec pause = { 0, 50000 };
	unsigned int left;
	int tries, ret;

	for (tries = 0; tries < SUBMIT_RETRIES; tries++) {
		ret = io_uring_submit(&u->ring);
		left = io_uring_sq_ready(&u->ring);
		if (left == 0)
			return 0;
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			break;
		nanosleep(&pause, NULL);
	}
	sq->sqe_tail -= left;
	sq->sqe_head = sq->sqe_tail;
	io_uring_smp_store_release(sq->ktail, sq->sqe_tail);
	return left;
}

static void prep(struct io_uring_sqe *sqe, struct io_req *r)
{
	if (r->op == IO_READ)
		io_uring_prep_readv(sqe, r->fd, r->iov, (unsigned int)r->iovcnt, r->off);
	else
		io_uring_prep_writev(sqe, r->fd, r->iov, (unsigned int)r->iovcnt, r->off);
	io_uring_sqe_set_data(sqe, r);
}

static int uring_submit(struct io_engine *e, struct io_req **reqs, int n)
{
	struct uring_engine *u = to_uring(e);
	struct io_uring_sqe *sqe;
	unsigned int k, i, left;

	pthread_mutex_lock(&u->sq_lock);
	k = reserve(u, (unsigned int)n);
	for (i = 0; i < k; i++) {
		sqe = io_uring_get_sqe(&u->ring);
		if (!sqe)
			break;
		prep(sqe, reqs[i]);
	}
	unreserve(u, k - i);
	k = i;
	atomic_fetch_add_explicit(&u->published, 1, memory_order_release);
	left = k ? flush_sq(u) : 0;
	unreserve(u, left);
	pthread_mutex_unlock(&u->sq_lock);
	if (k - left == 0)
		return -EAGAIN;
	return (int)(k - left);
}

/* Reap what the CQ holds; returns false when the wake-up NOP was seen.
 * *count: completions run. */
static bool reap(struct uring_engine *u, unsigned int *count)
{
	struct io_uring_cqe *cqes[REAP_BATCH];
	struct io_req *r[REAP_BATCH];
	ssize_t res[REAP_BATCH];
	unsigned int n, i, nreq = 0;
	bool go_on = true;

	n = io_uring_peek_batch_cqe(&u->ring, cqes, REAP_BATCH);
	(void)atomic_load_explicit(&u->published, memory_order_acquire);
	for (i = 0; i < n; i++) {
		struct io_req *req = io_uring_cqe_get_data(cqes[i]);

		if (!req) {
			go_on = false;
			continue;
		}
		r[nreq] = req;
		res[nreq++] = cqes[i]->res;
	}
	io_uring_cq_advance(&u->ring, n);
	for (i = 0; i < nreq; i++)
		r[i]->done(r[i], res[i]);
	unreserve(u, nreq);
	*count = nreq;
	return go_on;
}

static void *completion_thread(void *arg)
{
	struct uring_engine *u = arg;
	struct io_uring_cqe *cqe;
	int ret;

	io_thread_hook_run(&u->hook);
	for (;;) {
		ret = io_uring_wait_cqe(&u->ring, &cqe);
		if (ret == -EINTR || ret == -EAGAIN)
			continue;
		if (ret < 0) {
			log_err("io_uring: wait_cqe failed: %d", ret);
			break;
		}
		unsigned int n;

		if (!reap(u, &n))
			break;
	}
	return NULL;
}

/* Queue the NOP that tells the completion thread to exit. */
static int send_wake(struct uring_engine *u)
{
	struct io_uring_sqe *sqe;
	int ret = -EBUSY;

	pthread_mutex_lock(&u->sq_lock);
	sqe = io_uring_get_sqe(&u->ring);
	if (sqe) {
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data(sqe, NULL);
		ret = flush_sq(u) ? -EAGAIN : 0;
	}
	pthread_mutex_unlock(&u->sq_lock);
	return ret;
}

static int uring_poll_fd(struct io_engine *e)
{
	return to_uring(e)->efd;
}

static int uring_reap(struct io_engine *e, unsigned int max)
{
	unsigned int n = 0;

	(void)max;      /* reap() takes at most REAP_BATCH */
	reap(to_uring(e), &n);
	return (int)n;
}

static void uring_arm(struct io_engine *e)
{
	io_efd_drain(to_uring(e)->efd);
}

static unsigned int uring_inflight(struct uring_engine *u)
{
	unsigned int n;

	pthread_mutex_lock(&u->lock);
	n = u->inflight;
	pthread_mutex_unlock(&u->lock);
	return n;
}

static void uring_destroy(struct io_engine *e)
{
	struct uring_engine *u = to_uring(e);

	if (e->polled) {
		while (uring_inflight(u)) {
			uring_arm(e);
			if (!uring_reap(e, REAP_BATCH) && uring_inflight(u))
				io_efd_wait(u->efd, 100);
		}
		io_uring_queue_exit(&u->ring);
		close(u->efd);
		goto out;
	}
	pthread_mutex_lock(&u->lock);
	while (u->inflight)
		pthread_cond_wait(&u->idle, &u->lock);
	u->stopping = true;
	pthread_mutex_unlock(&u->lock);
	if (send_wake(u) == 0)
		pthread_join(u->thread, NULL);
	else
		log_err("io_uring: cannot stop the completion thread; leaking it");
	io_uring_queue_exit(&u->ring);
out:
	pthread_cond_destroy(&u->idle);
	pthread_mutex_destroy(&u->lock);
	pthread_mutex_destroy(&u->sq_lock);
	free(u);
}

static const struct io_engine_ops uring_ops = {
	.name = "io_uring",
	.submit = uring_submit,
	.destroy = uring_destroy,
	.poll_fd = uring_poll_fd,
	.reap = uring_reap,
	.arm = uring_arm,
};

static int ring_init(struct uring_engine *u, unsigned int qd)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SUBMIT_ALL };
	int ret;

	ret = io_uring_queue_init_params(qd, &u->ring, &p);
	if (ret == -EINVAL) {          /* kernel older than 5.18 */
		p = (struct io_uring_params){ 0 };
		ret = io_uring_queue_init_params(qd, &u->ring, &p);
	}
	if (ret == -ENOSYS || ret == -EPERM) {
		log_err("io_uring: not available on this kernel (%d; see "
			"/proc/sys/kernel/io_uring_disabled)", ret);
		return -ENOSYS;
	}
	if (ret < 0)
		log_err("io_uring: queue_init(%u) failed: %d", qd, ret);
	return ret;
}

int io_uring_engine_create(unsigned int queue_depth, unsigned int flags,
			   const struct io_thread_hook *hook, struct io_engine **out)
{
	struct uring_engine *u = calloc(1, sizeof(*u));
	int ret;

	if (!u)
		return -ENOMEM;
	u->hook = *hook;
	u->base.ops = &uring_ops;
	u->base.queue_depth = queue_depth;
	u->base.polled = flags & IO_ENGINE_POLLED;
	u->efd = -1;
	pthread_mutex_init(&u->sq_lock, NULL);
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->idle, NULL);
	ret = ring_init(u, queue_depth);
	if (ret < 0)
		goto err_free;
	if (u->base.polled) {
		u->efd = io_polled_efd();
		ret = u->efd < 0 ? u->efd : io_uring_register_eventfd(&u->ring, u->efd);
		if (ret < 0)
			goto err_ring;
		*out = &u->base;
		return 0;
	}
	ret = -pthread_create(&u->thread, NULL, completion_thread, u);
	if (ret)
		goto err_ring;
	*out = &u->base;
	return 0;

err_ring:
	if (u->efd >= 0)
		close(u->efd);
	io_uring_queue_exit(&u->ring);
err_free:
	pthread_cond_destroy(&u->idle);
	pthread_mutex_destroy(&u->lock);
	pthread_mutex_destroy(&u->sq_lock);
	free(u);
	return ret;
}

#endif /* HV_HAVE_URING */
