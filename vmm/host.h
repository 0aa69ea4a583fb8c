/*
 * host.h - `hvswap host`: many VMs, each its own `hvswap run` process with
 * its control socket, under one memory budget (docs/host.md).
 *
 *   host_policy.c  the decision: a pure function from the VMs' configs,
 *                  their sampled figures and the policy's memory to new
 *                  resident limits (tests/test_host_policy.c)
 *   host.c         the supervisor: arguments, the loop, its control socket
 *   host_vm.c      one VM's process and its control-socket client
 *   host_out.c     the stats JSON, the Prometheus text file, the live table
 */
#ifndef HVSWAP_VMM_HOST_H
#define HVSWAP_VMM_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- the decision (host_policy.c) ---- */

struct host_policy {
	uint64_t budget;            /* bytes: the sum of resident guest memory */
	uint64_t min_limit;         /* no VM's limit goes below this (bytes) */
	uint64_t step;              /* hysteresis: changes smaller than this ... */
	double step_frac;           /* ... or this fraction of the limit are not made */
	double hot_stall;           /* stall % at which a VM is under pressure */
	double hot_refaults;        /* or swap-ins per second at which it is */
	double grow;                /* a VM under pressure asks for this fraction
				     * more per interval (times its pressure, <= 4) */
	double shrink;              /* a calm VM using its whole limit gives back
				     * this fraction per interval (a probe) */
	unsigned int calm_intervals;/* calm intervals before the first probe */
	double headroom;            /* a VM below its limit needs resident x (1 + this) */
	/* A swapper lets resident memory run over its limit by up to
	 * max(limit / 32, 2 MiB) before it holds faults (swapper/reclaim.c):
	 * the limits are planned within budget - these. */
	double slack_frac;
	uint64_t slack_per_vm;
	/* When the demands do not all fit: let as many hot VMs as possible
	 * fit their working sets before the rest is shared (fit-first);
	 * false: weighted water-filling over all demands. */
	bool fit_first;
};

/* What the decision knows of one VM: its config and this interval's figures. */
struct host_vm_in {
	uint64_t floor;             /* min_guarantee (never taken away) */
	uint64_t cap;               /* hard_limit, or its RAM */
	uint64_t weight;            /* soft_limit: its share under pressure */
	bool sampled;               /* the figures below are this interval's */
	uint64_t resident;          /* bytes */
	double refaults;            /* swap-ins per second (refaults) */
	double stall;               /* % of vCPU time waiting on faults */
	uint64_t footprint;         /* bytes of guest memory it has touched and
				     * still holds (resident, staged, compressed
				     * or in swap); 0: unknown */
};

/* The policy's memory of one VM between intervals (zeroed at start, except
 * limit: the limit the VM was started with). */
struct host_vm_state {
	uint64_t limit;             /* as applied */
	double pressure;            /* smoothed: >= 1 under pressure */
	unsigned int calm;          /* calm intervals in a row */
	unsigned int calm_need;     /* intervals before probing (backs off) */
	unsigned int since_probe;   /* intervals since its last probe */
	uint64_t prev_resident;     /* at the previous sample */
	bool hot;
	uint64_t hurt_limit;        /* a probe to this limit brought pressure */
	double probe_frac;          /* the next probe's step (0: shrink) */
	bool probe_ok;              /* probes so far did no harm: go on soon */
	uint64_t ws;                /* working-set estimate (bytes, with the
				     * margin its swapper needs; 0: unknown) */
	bool fit;                   /* was granted its working set: keeps it
				     * while it stays hot (fit-first) */
	unsigned int fit_age;       /* intervals it has fit: the oldest keep first */
};

/* Defaults (docs/host.md) for a budget. */
void host_policy_defaults(struct host_policy *p, uint64_t budget);

/*
 * One decision for n VMs: each VM's new resident limit in limits[i].
 * Pure: the result depends only on the arguments; st[] is read and
 * updated (the policy's memory).  Guarantees, whatever the figures (with
 * B = the budget less the swappers' slack, host_plan_budget()):
 *   - floor <= limit <= cap for every VM (floors are never taken; the
 *     caller admits VMs only while the floors fit the budget);
 *   - sum over VMs of max(resident, limit) <= B when it was so before
 *     (memory a shrinking VM still holds is not yet given to another);
 *   - a change smaller than the hysteresis is not made, unless the budget
 *     needs it.
 * Returns how many limits changed.
 */
unsigned int host_decide(const struct host_policy *p, unsigned int n,
			 const struct host_vm_in *in, struct host_vm_state *st,
			 uint64_t *limits);

/* The budget the limits of n VMs are planned in: the budget less the
 * swappers' slack (never below the sum of the floors, `floors`). */
uint64_t host_plan_budget(const struct host_policy *p, unsigned int n, uint64_t floors);

/* The limits to start n VMs with (no figures yet): floors, then the rest
 * of the budget by weight up to each cap. */
void host_initial_limits(const struct host_policy *p, unsigned int n,
			 const struct host_vm_in *in, uint64_t *limits);

/* `hvswap host ...` (argv[0] is "host"). */
int host_main(int argc, char **argv);

#endif
