/*
 * lock.c - lock-order checking for debug builds (see lock.h).
 *
 * Owns one piece of per-thread state: the locks this thread holds, by rank,
 * and the page-lock stripes.  It is thread-local rather than in struct
 * swapper on purpose: "what do I hold" is a property of the thread (as in
 * the kernel's lockdep, which keeps it in the task), and a thread may work
 * for several swappers in tests.  Nothing here is shared between threads,
 * so nothing here is locked.
 */
#ifdef HV_LOCKDEP
#include <stdio.h>
#include <stdlib.h>

#include "hvswap/log.h"
#include "lock.h"

#define MAX_HELD 64

struct held {
	enum lock_rank rank;
	const void *lock;
	uint64_t stripe;
};

struct lock_state {
	struct held h[MAX_HELD];
	unsigned int n;
};

static __thread struct lock_state lk;

static const char *const rank_names[LK_NR] = {
	[LK_PAGE] = "page lock", [LK_DEV] = "dev_lock", [LK_RMAP] = "rmap_lock",
	[LK_LEAF] = "leaf lock",
};

/* A lock-order violation is a bug in the swapper: say which, stop. */
static void violation(const char *why, enum lock_rank r, const struct held *o)
{
	log_err("lock order violation: taking a %s (%s) while holding a %s",
		rank_names[r], why, o ? rank_names[o->rank] : "-");
	abort();
}

void lock_acquire_check(enum lock_rank r, const void *lock, uint64_t stripe)
{
	unsigned int i;

	for (i = 0; i < lk.n; i++) {
		const struct held *o = &lk.h[i];

		if (o->rank == LK_LEAF)
			violation("nothing may be taken under a leaf lock", r, o);
		if (o->lock == lock && o->stripe == stripe)
			violation("already held by this thread", r, o);
		if (o->rank > r)
			violation("against the order in internal.h", r, o);
		if (o->rank == r && r != LK_PAGE)
			violation("two locks of one rank", r, o);
		if (o->rank == r && stripe <= o->stripe)
			violation("page locks must be taken in ascending stripe order",
				  r, o);
	}
	if (lk.n == MAX_HELD)
		violation("too many locks held", r, NULL);
	lk.h[lk.n++] = (struct held){ r, lock, stripe };
}

void lock_release_note(enum lock_rank r, const void *lock, uint64_t stripe)
{
	unsigned int i;

	for (i = lk.n; i-- > 0;) {
		if (lk.h[i].lock == lock && lk.h[i].stripe == stripe) {
			lk.h[i] = lk.h[--lk.n];
			return;
		}
	}
	log_err("lock bookkeeping: releasing a %s this thread does not hold",
		rank_names[r]);
	abort();
}

void lock_assert_held_rank(enum lock_rank r, const void *lock, uint64_t stripe,
			   const char *what)
{
	unsigned int i;

	for (i = 0; i < lk.n; i++) {
		if (lk.h[i].lock == lock && lk.h[i].stripe == stripe)
			return;
	}
	log_err("precondition failed: %s (%s) is not held by this thread", what,
		rank_names[r]);
	abort();
}

void lock_assert_none_held(const char *what)
{
	if (lk.n) {
		log_err("precondition failed: %s must be called with no swapper "
			"lock held (holding a %s)", what, rank_names[lk.h[0].rank]);
		abort();
	}
}
#endif
