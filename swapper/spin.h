/*
 * spin.h - when the fault thread should spin (poll without sleeping) and for
 * how long, learned from what spinning recently caught.  Owned by one
 * thread (no locks).  See spin.c for the policy and the measurements
 * behind it.
 */
#ifndef HVSWAP_SWAPPER_SPIN_H
#define HVSWAP_SWAPPER_SPIN_H

#include <stdbool.h>
#include <stdint.h>

struct spin {
	int cfg_us;             /* < 0 never, 0 adaptive, > 0 fixed budget */
	unsigned int ncpu;      /* host CPUs this process may run on */
	unsigned int busy;      /* other threads competing for them */
	uint64_t gap_ns;        /* decaying mean idle gap that ended in work */
	unsigned int hits;      /* idle periods that ended in work while
				   spinning (or soon after giving up) */
	unsigned int misses;    /* spun the whole budget for nothing */
	unsigned int backoff;   /* idle periods left with spinning off */
	unsigned int sleeps;    /* sleeps since the last probe */
};

void spin_init(struct spin *sp, int cfg_us, unsigned int busy_threads);
/* How long to spin in the idle period that starts now (0: sleep at once). */
uint64_t spin_budget(struct spin *sp);
/* Work arrived gap_ns into an idle period while spinning. */
void spin_hit(struct spin *sp, uint64_t gap_ns);
/* The budget ran out with nothing to do: going to sleep. */
void spin_miss(struct spin *sp);
/* Woken after sleeping slept_ns (an event that came just after giving up
 * means a longer spin would have caught it). */
void spin_woken(struct spin *sp, uint64_t slept_ns);
/* One spin iteration took far longer than it should: the thread was
 * descheduled, the CPUs are contended - spinning now steals from vCPUs. */
void spin_preempted(struct spin *sp);

#define SPIN_PREEMPT_NS 50000ull    /* an iteration this long = descheduled */

#endif
