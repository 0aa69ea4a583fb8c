/*
 * lock.h - the swapper's locks by rank, with lock-order checking in debug
 * builds (HV_LOCKDEP: Debug, ASan and TSan builds).  The order itself, what
 * each lock protects and which may nest is written once, in internal.h.
 *
 * Every swapper mutex is taken through lock_mutex()/unlock_mutex() (or the
 * page-lock helpers in page.h) with its rank.  With HV_LOCKDEP each thread
 * records the ranks it holds (and the page-lock stripes), and a lock taken
 * against the order, a second leaf lock, or a page lock taken out of
 * ascending stripe order stops the process with the two locks named: a
 * lock-order bug shows up in the first test that exercises the path, not
 * in the rare run that deadlocks.  lock_assert_held() states a function's
 * precondition (the kernel's lockdep_assert_held()).  Without HV_LOCKDEP
 * all of it compiles to the plain pthread calls.
 */
#ifndef HVSWAP_SWAPPER_LOCK_H
#define HVSWAP_SWAPPER_LOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Outer to inner (see internal.h "LOCK ORDER"). */
enum lock_rank {
	LK_PAGE = 0,    /* page locks (striped) */
	LK_DEV,         /* swapset: device table (rwlock) */
	LK_RMAP,        /* rmap: reverse maps */
	LK_LEAF,        /* every other lock: nothing is taken under one */
	LK_NR,
};

#ifdef HV_LOCKDEP
void lock_acquire_check(enum lock_rank r, const void *lock, uint64_t stripe);
void lock_release_note(enum lock_rank r, const void *lock, uint64_t stripe);
void lock_assert_held_rank(enum lock_rank r, const void *lock, uint64_t stripe,
			   const char *what);
void lock_assert_none_held(const char *what);
#define LOCK_NO_STRIPE UINT64_MAX
#else
static inline void lock_acquire_check(enum lock_rank r, const void *l, uint64_t s)
{ (void)r; (void)l; (void)s; }
static inline void lock_release_note(enum lock_rank r, const void *l, uint64_t s)
{ (void)r; (void)l; (void)s; }
static inline void lock_assert_held_rank(enum lock_rank r, const void *l,
					 uint64_t s, const char *w)
{ (void)r; (void)l; (void)s; (void)w; }
static inline void lock_assert_none_held(const char *w) { (void)w; }
#define LOCK_NO_STRIPE UINT64_MAX
#endif

static inline void lock_mutex(pthread_mutex_t *m, enum lock_rank r)
{
	lock_acquire_check(r, m, LOCK_NO_STRIPE);
	pthread_mutex_lock(m);
}

static inline void unlock_mutex(pthread_mutex_t *m, enum lock_rank r)
{
	lock_release_note(r, m, LOCK_NO_STRIPE);
	pthread_mutex_unlock(m);
}

/* Precondition: the caller holds mutex m (of rank r). */
#define lock_assert_held(m, r) lock_assert_held_rank((r), (m), LOCK_NO_STRIPE, #m)

/* Condition waits release and retake the mutex inside pthread: the
 * bookkeeping does not change (the thread holds it before and after). */

static inline void lock_read(pthread_rwlock_t *l)
{
	lock_acquire_check(LK_DEV, l, LOCK_NO_STRIPE);
	pthread_rwlock_rdlock(l);
}

static inline void lock_write(pthread_rwlock_t *l)
{
	lock_acquire_check(LK_DEV, l, LOCK_NO_STRIPE);
	pthread_rwlock_wrlock(l);
}

static inline void unlock_rw(pthread_rwlock_t *l)
{
	lock_release_note(LK_DEV, l, LOCK_NO_STRIPE);
	pthread_rwlock_unlock(l);
}

#endif
