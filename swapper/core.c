/*
 * core.c - the swapper's cross-thread events: the fatal stop, the progress
 * generation, the reclaim thread's wake-up, test hooks and the allocation
 * wrapper that tests can make fail.
 *
 * Owns: ev_lock (a leaf) and what it protects: rc_stop, prog_gen; the
 * conditions rc_cond (the reclaim thread sleeps on it) and prog_cond (any
 * thread waiting for progress: trim, migration, write back-pressure).
 *
 * Progress is a generation counter rather than a bare broadcast so that a
 * waiter never misses a wake-up between checking its condition and
 * sleeping: it reads the generation first, checks, then sleeps until the
 * generation moves.  Every change a waiter may wait for is followed by
 * core_progress() (the list is in internal.h).
 *
 * The reclaim wake-up is a flag (rc_wanted) set before the signal; the
 * reclaim thread clears it when it starts a cycle, so a request made while
 * a cycle runs makes another cycle.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hvswap/log.h"
#include "internal.h"

void core_init(struct swapper *s)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&s->ev_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->rc_cond, &ca);
	pthread_cond_init(&s->prog_cond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_store(&s->alloc_fail_after, -1);
}

void core_fini(struct swapper *s)
{
	pthread_cond_destroy(&s->rc_cond);
	pthread_cond_destroy(&s->prog_cond);
	pthread_mutex_destroy(&s->ev_lock);
}

void core_fatal(struct swapper *s, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (atomic_exchange(&s->fatal_sent, true))
		return;         /* one report: the first cause */
	log_err("%s", msg);
	if (s->cfg.fatal)
		s->cfg.fatal(s->cfg.opaque, err, msg);
	core_progress(s);       /* waiters re-check fatal_sent */
}

void core_progress(struct swapper *s)
{
	lock_mutex(&s->ev_lock, LK_LEAF);
	s->prog_gen++;
	pthread_cond_broadcast(&s->prog_cond);
	unlock_mutex(&s->ev_lock, LK_LEAF);
}

uint64_t core_progress_gen(struct swapper *s)
{
	uint64_t g;

	lock_mutex(&s->ev_lock, LK_LEAF);
	g = s->prog_gen;
	unlock_mutex(&s->ev_lock, LK_LEAF);
	return g;
}

static void deadline(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int core_progress_wait(struct swapper *s, uint64_t gen, long ms)
{
	struct timespec ts;
	int r = 0;

	if (ms >= 0)
		deadline(&ts, ms);
	lock_mutex(&s->ev_lock, LK_LEAF);
	while (s->prog_gen == gen && !s->rc_stop) {
		if (ms < 0) {
			pthread_cond_wait(&s->prog_cond, &s->ev_lock);
		} else if (pthread_cond_timedwait(&s->prog_cond, &s->ev_lock,
						  &ts) == ETIMEDOUT) {
			r = s->prog_gen == gen ? -ETIMEDOUT : 0;
			break;
		}
	}
	if (r == 0 && s->prog_gen == gen)
		r = -ECANCELED;
	unlock_mutex(&s->ev_lock, LK_LEAF);
	return r;
}

void core_wake_reclaim(struct swapper *s)
{
	atomic_store(&s->rc_wanted, true);
	lock_mutex(&s->ev_lock, LK_LEAF);
	pthread_cond_signal(&s->rc_cond);
	unlock_mutex(&s->ev_lock, LK_LEAF);
}

bool core_reclaim_sleep(struct swapper *s)
{
	bool go;

	lock_mutex(&s->ev_lock, LK_LEAF);
	while (!s->rc_stop && !atomic_load(&s->rc_wanted))
		pthread_cond_wait(&s->rc_cond, &s->ev_lock);
	go = !s->rc_stop;
	atomic_store(&s->rc_wanted, false);
	unlock_mutex(&s->ev_lock, LK_LEAF);
	return go;
}

void core_stop_reclaim(struct swapper *s)
{
	lock_mutex(&s->ev_lock, LK_LEAF);
	s->rc_stop = true;
	s->prog_gen++;
	pthread_cond_broadcast(&s->rc_cond);
	pthread_cond_broadcast(&s->prog_cond);
	unlock_mutex(&s->ev_lock, LK_LEAF);
}

bool core_reclaim_stopping(struct swapper *s)
{
	bool r;

	lock_mutex(&s->ev_lock, LK_LEAF);
	r = s->rc_stop;
	unlock_mutex(&s->ev_lock, LK_LEAF);
	return r;
}

/* Tests set alloc_fail_after = N: allocation N from now fails (once). */
static bool alloc_injected(struct swapper *s)
{
	int64_t n = atomic_load(&s->alloc_fail_after);

	while (n >= 0) {
		if (atomic_compare_exchange_weak(&s->alloc_fail_after, &n, n - 1))
			return n == 0;
	}
	return false;
}

void *core_zalloc(struct swapper *s, size_t size)
{
	void *p = alloc_injected(s) ? NULL : calloc(1, size);

	if (!p)
		atomic_fetch_add(&s->c.alloc_failures, 1);
	return p;
}

void *core_realloc(struct swapper *s, void *p, size_t size)
{
	void *q = alloc_injected(s) ? NULL : realloc(p, size);

	if (!q)
		atomic_fetch_add(&s->c.alloc_failures, 1);
	return q;
}
