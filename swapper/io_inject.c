/*
 * io_inject.c - the injection engine: wraps (and owns) an inner engine and
 * fails, holds or shortens chosen requests so tests can reach error paths
 * and races deterministically.  Not for production paths.
 *
 * Owns: the rule table, the list of held requests, a queue of requests to
 * fail, the fail thread (which runs every FAIL completion, so none runs
 * inside submit), and one shadow request per request passed to the inner
 * engine (the shadow carries the inner engine's private fields, so the
 * caller's eng_next/eng_priv stay ours, and lets SHORT rewrite the result).
 *
 * Rule matching (per request, in rule order, under lock): a rule whose op and
 * offset range match counts a hit; the first `skip` hits and any hit after
 * `count` firings (count != 0) do not apply and matching goes on with the next
 * rule; otherwise the rule fires and its action applies.  No rule: pass.
 * Counters move only for requests that end up accepted.
 *
 * Pass-through requests reach the inner engine one per inner submit, so a
 * partial acceptance maps exactly onto our own prefix.
 *
 * Polled (when the inner engine is): the fail thread moves a failed request
 * to a ready list and signals an eventfd instead of completing it; reap()
 * completes the ready failures and reaps the inner engine.  The poll fd is
 * an epoll set of that eventfd and the inner engine's fd.
 *
 * Lock order: inj->lock -> (inner engine's locks, via its submit).  The lock
 * is never held across a done() callback.
 *
 * Invariants:
 *  - every accepted request is in exactly one place: held list, fail queue,
 *    being failed by the fail thread, or inside the inner engine (shadow);
 *  - nfail == requests queued for or being failed; destroy waits for 0.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

#define MAX_RULES 32

struct rule {
	struct io_inj_rule r;
	unsigned int hits, fired;
};

struct shadow {
	struct io_req req;         /* what the inner engine sees */
	struct io_req *orig;
	bool shorten;
};

struct io_inject {
	struct io_engine base;
	struct io_engine *inner;
	pthread_t fail_thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;       /* held / fail queue / nfail changed */
	struct rule rules[MAX_RULES]; /* protected by lock */
	unsigned int nrules;       /* protected by lock */
	struct io_req *held_head, *held_tail; /* protected by lock */
	unsigned int nheld;        /* protected by lock */
	struct io_req *fail_head, *fail_tail; /* protected by lock */
	unsigned int nfail;        /* protected by lock */
	bool stopping;             /* protected by lock */
	_Atomic bool destroying;   /* destroy runs: it reaps the inner engine */
	uint64_t seen, failed;     /* protected by lock */
	struct io_req *ready_head, *ready_tail; /* polled; protected by lock */
	int efd, epfd;             /* polled: ready list signal, poll set */
};

static struct io_inject *to_inj(struct io_engine *e)
{
	return (struct io_inject *)e;
}

static void q_push(struct io_req **head, struct io_req **tail, struct io_req *r)
{
	r->eng_next = NULL;
	if (*tail)
		(*tail)->eng_next = r;
	else
		*head = r;
	*tail = r;
}

static bool rule_matches(const struct io_inj_rule *r, int op, uint64_t off)
{
	if (r->op != IO_INJ_ANY_OP && r->op != op)
		return false;
	if (off < r->off_lo)
		return false;
	return r->off_hi == 0 || off < r->off_hi;
}

/*
 * The rule that applies to a request (op, off), or NULL; moves counters only
 * if commit.  Takes a copy of op/off, not the request: once a request is
 * passed down, its completion may run (and free it) at any moment.
 */
static struct rule *classify(struct io_inject *inj, int op, uint64_t off,
			     bool commit)
{
	unsigned int i, hits;

	for (i = 0; i < inj->nrules; i++) {
		struct rule *ru = &inj->rules[i];

		if (!rule_matches(&ru->r, op, off))
			continue;
		if (ru->r.count && ru->fired >= ru->r.count)
			continue;
		hits = ru->hits + 1;
		if (commit)
			ru->hits = hits;
		if (hits <= ru->r.skip)
			continue;
		if (commit)
			ru->fired++;
		return ru;
	}
	return NULL;
}

static void shadow_done(struct io_req *sreq, ssize_t res)
{
	struct shadow *sh = (struct shadow *)sreq;
	struct io_req *orig = sh->orig;

	if (sh->shorten && res > 0)
		res /= 2;
	free(sh);
	orig->done(orig, res);
}

/* Hand one request to the inner engine: 1 accepted, else -errno. */
static int pass_down(struct io_inject *inj, struct io_req *req, bool shorten)
{
	struct shadow *sh = malloc(sizeof(*sh));
	struct io_req *sr;
	int ret;

	if (!sh)
		return -ENOMEM;
	sh->req = *req;
	sh->req.done = shadow_done;
	sh->req.eng_next = NULL;
	sh->req.eng_priv = NULL;
	sh->orig = req;
	sh->shorten = shorten;
	sr = &sh->req;
	/* Straight to ops->submit: keep the caller's submit_ns. */
	ret = inj->inner->ops->submit(inj->inner, &sr, 1);
	if (ret == 1)
		return 1;
	free(sh);
	return ret < 0 ? ret : -EAGAIN;
}

/* Apply the action for one request (lock held); 1 accepted or -errno. */
static int apply(struct io_inject *inj, struct io_req *req)
{
	int op = (int)req->op;
	uint64_t off = req->off;
	struct rule *ru = classify(inj, op, off, false);
	int ret;

	if (ru && ru->r.action == IO_INJ_FAIL) {
		req->eng_priv = (void *)(intptr_t)(ru->r.err > 0 ? ru->r.err : EIO);
		q_push(&inj->fail_head, &inj->fail_tail, req);
		inj->nfail++;
		inj->failed++;
		pthread_cond_broadcast(&inj->cond);
	} else if (ru && ru->r.action == IO_INJ_HOLD) {
		q_push(&inj->held_head, &inj->held_tail, req);
		inj->nheld++;
		pthread_cond_broadcast(&inj->cond);
	} else {
		ret = pass_down(inj, req, ru && ru->r.action == IO_INJ_SHORT);
		if (ret < 0)
			return ret;
	}
	/* req may be completed and gone by now: use the copies. */
	classify(inj, op, off, true);
	inj->seen++;
	return 1;
}

static int inj_submit(struct io_engine *e, struct io_req **reqs, int n)
{
	struct io_inject *inj = to_inj(e);
	int i, ret = 0;

	pthread_mutex_lock(&inj->lock);
	for (i = 0; i < n; i++) {
		ret = apply(inj, reqs[i]);
		if (ret < 0)
			break;
	}
	pthread_mutex_unlock(&inj->lock);
	return i ? i : ret;
}

static struct io_req *next_fail(struct io_inject *inj)
{
	struct io_req *r;

	pthread_mutex_lock(&inj->lock);
	while (!inj->fail_head && !inj->stopping)
		pthread_cond_wait(&inj->cond, &inj->lock);
	r = inj->fail_head;
	if (r) {
		inj->fail_head = r->eng_next;
		if (!inj->fail_head)
			inj->fail_tail = NULL;
	}
	pthread_mutex_unlock(&inj->lock);
	return r;
}

static void *fail_thread(void *arg)
{
	struct io_inject *inj = arg;
	struct io_req *r;
	uint64_t one = 1;

	while ((r = next_fail(inj))) {
		int err = (int)(intptr_t)r->eng_priv;

		if (inj->base.polled) {
			ssize_t w;

			pthread_mutex_lock(&inj->lock);
			q_push(&inj->ready_head, &inj->ready_tail, r);
			pthread_mutex_unlock(&inj->lock);
			w = write(inj->efd, &one, sizeof(one));
			(void)w;        /* fails only at counter overflow */
			continue;
		}
		r->done(r, -err);
		pthread_mutex_lock(&inj->lock);
		inj->nfail--;
		pthread_cond_broadcast(&inj->cond);
		pthread_mutex_unlock(&inj->lock);
	}
	return NULL;
}

/* Take the held request at idx off the list (lock held). */
static struct io_req *held_take(struct io_inject *inj, unsigned int idx)
{
	struct io_req **pp = &inj->held_head, *prev = NULL, *r;

	while (*pp && idx--) {
		prev = *pp;
		pp = &(*pp)->eng_next;
	}
	r = *pp;
	if (!r)
		return NULL;
	*pp = r->eng_next;
	if (inj->held_tail == r)
		inj->held_tail = prev;
	inj->nheld--;
	return r;
}

/*
 * A released request was already accepted, so it must complete exactly once:
 * retry while the inner engine is merely full, and turn any other refusal
 * into a failed completion (from the fail thread).
 */
static void release_one(struct io_inject *inj, struct io_req *r)
{
	struct timespec pause = { 0, 100000 };
	int ret;

	while ((ret = pass_down(inj, r, false)) == -EAGAIN) {
		pthread_mutex_unlock(&inj->lock);
		/* Polled: room is made by reaping; the owner's reaper does
		 * that, except during destroy, which reaps itself. */
		if (inj->base.polled && inj->destroying)
			io_engine_reap(inj->inner, 64);
		else
			nanosleep(&pause, NULL);
		pthread_mutex_lock(&inj->lock);
	}
	if (ret < 0) {
		r->eng_priv = (void *)(intptr_t)-ret;
		q_push(&inj->fail_head, &inj->fail_tail, r);
		inj->nfail++;
		pthread_cond_broadcast(&inj->cond);
	}
}

int io_inject_release(struct io_inject *inj, int idx)
{
	struct io_req *r;
	int n = 0;

	pthread_mutex_lock(&inj->lock);
	while ((r = held_take(inj, idx < 0 ? 0 : (unsigned int)idx))) {
		release_one(inj, r);
		n++;
		if (idx >= 0)
			break;
	}
	pthread_mutex_unlock(&inj->lock);
	return n;
}

/* Polled: complete the failures the fail thread made ready. */
static int reap_failed(struct io_inject *inj, unsigned int max)
{
	struct io_req *r;
	unsigned int n = 0;

	while (n < max) {
		pthread_mutex_lock(&inj->lock);
		r = inj->ready_head;
		if (r) {
			inj->ready_head = r->eng_next;
			if (!inj->ready_head)
				inj->ready_tail = NULL;
		}
		pthread_mutex_unlock(&inj->lock);
		if (!r)
			break;
		r->done(r, -(int)(intptr_t)r->eng_priv);
		pthread_mutex_lock(&inj->lock);
		inj->nfail--;
		pthread_cond_broadcast(&inj->cond);
		pthread_mutex_unlock(&inj->lock);
		n++;
	}
	return (int)n;
}

static int inj_reap(struct io_engine *e, unsigned int max)
{
	struct io_inject *inj = to_inj(e);
	int n = reap_failed(inj, max);

	return n + io_engine_reap(inj->inner, max - (unsigned int)n);
}

static int inj_poll_fd(struct io_engine *e)
{
	return to_inj(e)->epfd;
}

static void inj_arm(struct io_engine *e)
{
	struct io_inject *inj = to_inj(e);

	io_efd_drain(inj->efd);
	io_engine_arm(inj->inner);
}

static unsigned int nfail(struct io_inject *inj)
{
	unsigned int n;

	pthread_mutex_lock(&inj->lock);
	n = inj->nfail;
	pthread_mutex_unlock(&inj->lock);
	return n;
}

static void inj_destroy(struct io_engine *e)
{
	struct io_inject *inj = to_inj(e);

	inj->destroying = true;
	io_inject_release(inj, -1);
	while (e->polled && nfail(inj)) {
		inj_arm(e);
		if (!inj_reap(e, 64) && nfail(inj))
			io_efd_wait(inj->epfd, 100);
	}
	pthread_mutex_lock(&inj->lock);
	while (inj->nfail)
		pthread_cond_wait(&inj->cond, &inj->lock);
	inj->stopping = true;
	pthread_cond_broadcast(&inj->cond);
	pthread_mutex_unlock(&inj->lock);
	pthread_join(inj->fail_thread, NULL);
	io_engine_destroy(inj->inner);   /* waits for the shadows */
	if (inj->efd >= 0)
		close(inj->efd);
	if (inj->epfd >= 0)
		close(inj->epfd);
	pthread_cond_destroy(&inj->cond);
	pthread_mutex_destroy(&inj->lock);
	free(inj);
}

static const struct io_engine_ops inj_ops = {
	.name = "inject",
	.submit = inj_submit,
	.destroy = inj_destroy,
	.poll_fd = inj_poll_fd,
	.reap = inj_reap,
	.arm = inj_arm,
};

/* Polled: the eventfd of ready failures and the poll set (it + inner). */
static int polled_init(struct io_inject *inj)
{
	struct epoll_event ev = { .events = EPOLLIN };

	inj->efd = io_polled_efd();
	if (inj->efd < 0)
		return inj->efd;
	inj->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (inj->epfd < 0)
		return -errno;
	if (epoll_ctl(inj->epfd, EPOLL_CTL_ADD, inj->efd, &ev) < 0 ||
	    epoll_ctl(inj->epfd, EPOLL_CTL_ADD, io_engine_poll_fd(inj->inner), &ev) < 0)
		return -errno;
	return 0;
}

int io_inject_create(struct io_engine *inner, struct io_inject **out)
{
	struct io_inject *inj;
	pthread_condattr_t ca;
	int ret;

	if (!inner || !out)
		return -EINVAL;
	inj = calloc(1, sizeof(*inj));
	if (!inj)
		return -ENOMEM;
	inj->base.ops = &inj_ops;
	inj->base.queue_depth = inner->queue_depth;
	inj->base.polled = inner->polled;
	inj->inner = inner;
	inj->efd = inj->epfd = -1;
	if (inj->base.polled) {
		ret = polled_init(inj);
		if (ret < 0)
			goto err_fds;
	}
	pthread_mutex_init(&inj->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&inj->cond, &ca);
	pthread_condattr_destroy(&ca);
	ret = -pthread_create(&inj->fail_thread, NULL, fail_thread, inj);
	if (ret)
		goto err_free;
	*out = inj;
	return 0;

err_free:
	pthread_cond_destroy(&inj->cond);
	pthread_mutex_destroy(&inj->lock);
err_fds:
	if (inj->efd >= 0)
		close(inj->efd);
	if (inj->epfd >= 0)
		close(inj->epfd);
	free(inj);
	return ret;
}

struct io_engine *io_inject_engine(struct io_inject *inj)
{
	return &inj->base;
}

int io_inject_add_rule(struct io_inject *inj, const struct io_inj_rule *r)
{
	int ret = 0;

	if (!r || r->action > IO_INJ_SHORT || r->op < IO_INJ_ANY_OP ||
	    r->op > IO_WRITE || (r->off_hi && r->off_hi <= r->off_lo))
		return -EINVAL;
	pthread_mutex_lock(&inj->lock);
	if (inj->nrules == MAX_RULES)
		ret = -ENOSPC;
	else
		inj->rules[inj->nrules++] = (struct rule){ .r = *r };
	pthread_mutex_unlock(&inj->lock);
	return ret;
}

void io_inject_clear_rules(struct io_inject *inj)
{
	pthread_mutex_lock(&inj->lock);
	inj->nrules = 0;
	pthread_mutex_unlock(&inj->lock);
}

unsigned int io_inject_held(struct io_inject *inj)
{
	unsigned int n;

	pthread_mutex_lock(&inj->lock);
	n = inj->nheld;
	pthread_mutex_unlock(&inj->lock);
	return n;
}

static void deadline_after(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int io_inject_wait_held(struct io_inject *inj, unsigned int n, int timeout_ms)
{
	struct timespec dl;
	int ret = 0;

	deadline_after(&dl, timeout_ms < 0 ? 0 : timeout_ms);
	pthread_mutex_lock(&inj->lock);
	while (inj->nheld < n && ret == 0)
		ret = pthread_cond_timedwait(&inj->cond, &inj->lock, &dl);
	ret = inj->nheld >= n ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&inj->lock);
	return ret;
}

int io_inject_held_info(struct io_inject *inj, unsigned int idx, int *op,
			uint64_t *off)
{
	struct io_req *r;
	int ret = -ENOENT;

	pthread_mutex_lock(&inj->lock);
	for (r = inj->held_head; r && idx; r = r->eng_next)
		idx--;
	if (r) {
		if (op)
			*op = (int)r->op;
		if (off)
			*off = r->off;
		ret = 0;
	}
	pthread_mutex_unlock(&inj->lock);
	return ret;
}

uint64_t io_inject_seen(struct io_inject *inj)
{
	uint64_t v;

	pthread_mutex_lock(&inj->lock);
	v = inj->seen;
	pthread_mutex_unlock(&inj->lock);
	return v;
}

uint64_t io_inject_failed(struct io_inject *inj)
{
	uint64_t v;

	pthread_mutex_lock(&inj->lock);
	v = inj->failed;
	pthread_mutex_unlock(&inj->lock);
	return v;
}
