/*
 * spin.c - the fault thread's adaptive spinning policy.
 *
 * Why spin: on this host waking a sleeping thread costs ~50-70 us (a nested
 * VM's idle CPU), against a disk read of ~80 us; a fault thread blocked in
 * poll() pays that wake-up for each uffd message and each completion, one
 * that polls without sleeping does not (PLATFORM.md: blocking 156-169 us
 * per fault, busy-polling 82-92 us).  Why not always: under contention
 * (load ~4 on 2 cores) busy-polling doubled to 223 us while blocking fell
 * to 116 us - the spinner steals the CPU the vCPU needs.
 *
 * The policy, per idle period (no uffd message and no completion):
 *  - fixed (cfg_us > 0): spin cfg_us; never (cfg_us < 0): sleep at once.
 *  - adaptive: spin about twice the recent idle gap that ended in work (a
 *    decaying mean), between SPIN_MIN_NS and SPIN_MAX_NS, while at least a
 *    quarter of recent idle periods ended in work within the spin;
 *    otherwise sleep at once, probing with a full spin every PROBE sleeps
 *    so a workload that speeds up is noticed.
 *  - contended: when the vCPUs alone fill the host's CPUs (busy threads
 *    >= CPUs), never; when the thread is seen descheduled mid-spin (an
 *    iteration > SPIN_PREEMPT_NS), spinning is off for the next BACKOFF
 *    idle periods.
 * State is the thread's own; nothing is shared.
 */
#include <sched.h>
#include <unistd.h>

#include "spin.h"

#define SPIN_MIN_NS 20000ull
#define SPIN_MAX_NS 200000ull
#define PROBE 16u
#define BACKOFF 64u
#define DECAY_AT 64u

static unsigned int cpus_allowed(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		return (unsigned int)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned int)n : 1;
}

void spin_init(struct spin *sp, int cfg_us, unsigned int busy_threads)
{
	*sp = (struct spin){ .cfg_us = cfg_us, .ncpu = cpus_allowed(),
			     .busy = busy_threads, .gap_ns = SPIN_MIN_NS };
}

static void decay(struct spin *sp)
{
	if (sp->hits + sp->misses >= DECAY_AT) {
		sp->hits /= 2;
		sp->misses /= 2;
	}
}

static bool oversubscribed(const struct spin *sp)
{
	return sp->busy >= sp->ncpu;
}

uint64_t spin_budget(struct spin *sp)
{
	uint64_t b;

	if (sp->cfg_us < 0)
		return 0;
	if (sp->cfg_us > 0)
		return (uint64_t)sp->cfg_us * 1000;
	if (sp->backoff) {
		sp->backoff--;
		return 0;
	}
	/* The vCPUs alone fill the CPUs: a spinning fault thread would take
	 * theirs and the reclaim thread's (measured: the 2-vCPU demo on 2
	 * cores throttled faults while the fault thread spun 16% of the
	 * time). */
	if (oversubscribed(sp))
		return 0;
	/* Spinning has not been paying: sleep, but probe now and then. */
	if (sp->hits * 3 < sp->misses) {
		if (++sp->sleeps < PROBE)
			return 0;
		sp->sleeps = 0;
		return SPIN_MAX_NS;
	}
	b = 2 * sp->gap_ns;
	if (b < SPIN_MIN_NS)
		b = SPIN_MIN_NS;
	if (b > SPIN_MAX_NS)
		b = SPIN_MAX_NS;
	return b;
}

void spin_hit(struct spin *sp, uint64_t gap_ns)
{
	sp->gap_ns = (7 * sp->gap_ns + gap_ns) / 8;
	sp->hits++;
	decay(sp);
}

void spin_miss(struct spin *sp)
{
	sp->misses++;
	decay(sp);
}

void spin_woken(struct spin *sp, uint64_t slept_ns)
{
	/* Work came soon after we gave up: a longer spin would have caught
	 * it, so it counts towards the gap spinning should cover. */
	if (slept_ns < SPIN_MAX_NS)
		spin_hit(sp, slept_ns);
}

void spin_preempted(struct spin *sp)
{
	if (sp->cfg_us == 0)
		sp->backoff = BACKOFF;
}
