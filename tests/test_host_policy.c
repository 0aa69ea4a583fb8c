/*
 * test_host_policy.c - the decisions of `hvswap host` (vmm/host_policy.c)
 * with stubbed VMs, deterministically: no process, no clock.
 *
 * Stubs are either fixed figures (a VM "hot" or "idle" forever) or a small
 * model of a VM with a working set W: resident = min(W, limit), swap-ins
 * and stall grow with the part of W that does not fit.  Checked: floors,
 * caps, weights under contention, idle VMs giving memory back, the budget
 * (also while a shrinking VM has not yet written its pages out),
 * hysteresis, no oscillation, and that the function is pure; fit-first
 * (docs/host.md): as many hot VMs as possible get their working sets, the
 * choice holds, floors/caps/weights, an idle VM that fit gives back.
 * Also what the supervisor takes from a VM's `stats` (host_vm_figures()).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "host_impl.h"

#define MIB (1ull << 20)
#define N 8

struct sim {
	struct host_policy p;
	unsigned int n;
	struct host_vm_in in[N];
	struct host_vm_state st[N];
	uint64_t lim[N];
	uint64_t ws[N];         /* model: working set (0: fixed figures) */
	bool idle[N];           /* model: touches nothing (keeps what it holds) */
	unsigned int changes;
};

static void sim_init(struct sim *s, uint64_t budget, unsigned int n)
{
	unsigned int i;

	memset(s, 0, sizeof(*s));
	host_policy_defaults(&s->p, budget);
	s->p.slack_frac = 0;            /* exact splits (test_slack has it) */
	s->p.slack_per_vm = 0;
	s->n = n;
	for (i = 0; i < n; i++) {
		s->in[i].cap = 256 * MIB;
		s->in[i].weight = 256 * MIB;
	}
}

static void sim_start(struct sim *s)
{
	unsigned int i;

	host_initial_limits(&s->p, s->n, s->in, s->lim);
	for (i = 0; i < s->n; i++)
		s->st[i].limit = s->lim[i];
}

/* The model's figures for the limits now applied: a VM with working set W
 * that touched all of it (its footprint, what hvswap sees of it, is W);
 * an idle one keeps what it holds, down to its limit, and faults on
 * nothing. */
static void model(struct sim *s)
{
	unsigned int i;

	for (i = 0; i < s->n; i++) {
		uint64_t W = s->ws[i], L = s->st[i].limit;

		if (!W)
			continue;
		s->in[i].sampled = true;
		s->in[i].footprint = W;
		if (s->idle[i]) {
			if (s->in[i].resident > L)
				s->in[i].resident = L;
			s->in[i].refaults = 0;
			s->in[i].stall = 0;
			continue;
		}
		s->in[i].resident = W < L ? W : L;
		s->in[i].refaults = W > L ? (double)(W - L) / 4096 : 0;
		s->in[i].stall = W > L ? 100.0 * (double)(W - L) / (double)W : 0;
	}
}

/* One interval; checks the invariants.  Returns the limits changed. */
static unsigned int step(struct sim *s)
{
	uint64_t held = 0, before = 0;
	unsigned int i, c;

	for (i = 0; i < s->n; i++) {
		uint64_t r = s->in[i].sampled ? s->in[i].resident : 0;

		before += r > s->st[i].limit ? r : s->st[i].limit;
	}
	c = host_decide(&s->p, s->n, s->in, s->st, s->lim);
	for (i = 0; i < s->n; i++) {
		uint64_t fl = s->in[i].floor > s->p.min_limit ? s->in[i].floor : s->p.min_limit;
		uint64_t r = s->in[i].sampled ? s->in[i].resident : 0;

		assert_int_equal(s->lim[i], s->st[i].limit);
		if (s->lim[i] < fl || s->lim[i] > s->in[i].cap)
			fail_msg("VM %u: limit %llu outside [%llu, %llu]", i,
				 (unsigned long long)s->lim[i], (unsigned long long)fl,
				 (unsigned long long)s->in[i].cap);
		held += r > s->lim[i] ? r : s->lim[i];
	}
	if (before <= s->p.budget && held > s->p.budget)
		fail_msg("held %llu > budget %llu", (unsigned long long)held,
			 (unsigned long long)s->p.budget);
	for (i = 0, held = 0; i < s->n; i++)
		held += s->lim[i];
	if (held > s->p.budget)
		fail_msg("limits %llu > budget %llu", (unsigned long long)held,
			 (unsigned long long)s->p.budget);
	s->changes += c;
	return c;
}

static void fixed(struct sim *s, unsigned int i, uint64_t resident, double stall,
		  double refaults)
{
	s->in[i].sampled = true;
	s->in[i].resident = resident;
	s->in[i].stall = stall;
	s->in[i].refaults = refaults;
}

static void test_initial(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, 100 * MIB, 3);
	s.in[0].floor = 30 * MIB;
	s.in[1].cap = 10 * MIB;
	s.in[2].weight = 3;
	s.in[0].weight = 1;
	s.in[1].weight = 1;
	sim_start(&s);
	/* floors (30, 4, 4), then 62 MiB by weight 1:1:3; VM 1 is capped at
	 * 10 (wants 6 of its 12.4), the 56 left go 1:3 */
	assert_int_equal(s.lim[1], 10 * MIB);
	assert_int_equal(s.lim[0], 44 * MIB);
	assert_int_equal(s.lim[2], 46 * MIB);
}

/* An idle VM that touched its memory once gives it back, step by step, to
 * its floor; a hot VM gets it. */
static void test_idle_gives_to_hot(void **state)
{
	struct sim s;
	unsigned int t;

	(void)state;
	sim_init(&s, 128 * MIB, 2);
	s.in[1].floor = 16 * MIB;
	sim_start(&s);
	assert_int_equal(s.lim[0], 58 * MIB);                   /* 4 + 54 */
	assert_int_equal(s.lim[1], 70 * MIB);                   /* 16 + 54 */
	for (t = 0; t < 200; t++) {
		fixed(&s, 0, s.st[0].limit, 40, 3000);          /* hot, at its limit */
		fixed(&s, 1, s.st[1].limit, 0, 0);              /* idle, at its limit */
		step(&s);
	}
	assert_int_equal(s.lim[1], 16 * MIB);                   /* down to its floor */
	assert_true(s.lim[0] >= 110 * MIB);     /* the rest (within the hysteresis) */
}

/* An idle VM holding less than its limit (nothing evicted since it went
 * idle) gives back what it holds too, within a few intervals: probes
 * below its resident size, each harmless one twice as large. */
static void test_idle_below_limit(void **state)
{
	struct sim s;
	unsigned int t;
	uint64_t held = 40 * MIB;

	(void)state;
	sim_init(&s, 128 * MIB, 2);
	sim_start(&s);                                  /* 64 + 64 */
	for (t = 0; t < 20; t++) {
		fixed(&s, 0, s.st[0].limit, 60, 5000);
		if (held > s.st[1].limit)
			held = s.st[1].limit;           /* evicted down to its limit */
		fixed(&s, 1, held, 0, 0);               /* idle: touches nothing */
		step(&s);
	}
	assert_int_equal(s.lim[1], 4 * MIB);
	assert_true(s.lim[0] >= 120 * MIB);
}

static void test_caps_and_floors(void **state)
{
	struct sim s;
	unsigned int t;

	(void)state;
	sim_init(&s, 200 * MIB, 3);
	s.in[0].cap = 64 * MIB;
	s.in[1].floor = 48 * MIB;
	s.in[2].floor = 40 * MIB;
	sim_start(&s);
	for (t = 0; t < 100; t++) {
		fixed(&s, 0, s.st[0].limit, 90, 5000);          /* hot, capped */
		fixed(&s, 1, 0, 0, 0);                          /* idle, nothing used */
		fixed(&s, 2, s.st[2].limit, 90, 5000);          /* hot */
		step(&s);
	}
	/* above the floors (4, 48, 40) the 108 MiB go 1:1: VM 0's half (54)
	 * is within its cap */
	assert_int_equal(s.lim[0], 58 * MIB);
	assert_int_equal(s.lim[1], 48 * MIB);
	assert_int_equal(s.lim[2], 94 * MIB);
	/* a lower cap: the rest goes to VM 2 */
	s.in[0].cap = 32 * MIB;
	for (t = 0; t < 100; t++) {
		fixed(&s, 0, s.st[0].limit, 90, 5000);
		fixed(&s, 1, 0, 0, 0);
		fixed(&s, 2, s.st[2].limit, 90, 5000);
		step(&s);
	}
	assert_int_equal(s.lim[0], 32 * MIB);
	assert_int_equal(s.lim[2], 120 * MIB);
}

/* Two VMs under pressure forever: the budget above the floors is split by
 * soft_limit (weights 3:1), and stays so. */
static void test_weights(void **state)
{
	struct sim s;
	unsigned int t;
	double ratio;

	(void)state;
	sim_init(&s, 256 * MIB, 2);
	s.in[0].weight = 96 * MIB;
	s.in[1].weight = 32 * MIB;
	sim_start(&s);
	for (t = 0; t < 100; t++) {
		fixed(&s, 0, s.st[0].limit, 50, 4000);
		fixed(&s, 1, s.st[1].limit, 50, 4000);
		step(&s);
	}
	ratio = (double)s.lim[0] / (double)s.lim[1];
	if (ratio < 2.7 || ratio > 3.3)
		fail_msg("limits %llu / %llu: ratio %.2f, want ~3",
			 (unsigned long long)s.lim[0], (unsigned long long)s.lim[1], ratio);
	s.changes = 0;
	for (t = 0; t < 50; t++) {
		fixed(&s, 0, s.st[0].limit, 50, 4000);
		fixed(&s, 1, s.st[1].limit, 50, 4000);
		step(&s);
	}
	assert_int_equal(s.changes, 0);
}

/* Working sets that fit: every VM converges to at least its working set,
 * then the limits stay put (probes are made only while memory is short;
 * where they are, a VM whose working set is its limit is probed ever more
 * rarely - the wait doubles up to 128 intervals), so in the last 200
 * intervals each VM has long quiet stretches.  The total never exceeds
 * the budget. */
static void test_converges_without_oscillation(void **state)
{
	static const uint64_t ws[] = { 40 * MIB, 20 * MIB, 10 * MIB, 24 * MIB };
	struct sim s;
	unsigned int t, i, changes[4] = { 0 }, quiet[4] = { 0 }, run[4] = { 0 };
	uint64_t prev[4];

	(void)state;
	sim_init(&s, 128 * MIB, 4);
	for (i = 0; i < 4; i++)
		s.ws[i] = ws[i];
	sim_start(&s);
	for (t = 0; t < 600; t++) {
		model(&s);
		memcpy(prev, s.lim, sizeof(prev));
		step(&s);
		for (i = 0; t >= 400 && i < 4; i++) {
			if (s.lim[i] != prev[i]) {
				changes[i]++;
				run[i] = 0;
			} else if (++run[i] > quiet[i]) {
				quiet[i] = run[i];
			}
		}
	}
	for (i = 0; i < 4; i++) {
		if (s.lim[i] < ws[i] * 95 / 100)
			fail_msg("VM %u: limit %llu MiB below its working set %llu MiB", i,
				 (unsigned long long)(s.lim[i] >> 20),
				 (unsigned long long)(ws[i] >> 20));
		if (changes[i] > 8 || quiet[i] < 100)
			fail_msg("VM %u: %u changes in the last 200 intervals, longest quiet "
				 "stretch %u: oscillating", i, changes[i], quiet[i]);
	}
}

/* Oversubscribed (working sets 2x the budget), a phase change: VM 0 goes
 * idle, VM 1 hot; memory follows within a bounded time. */
static void test_phase_change(void **state)
{
	struct sim s;
	unsigned int t;

	(void)state;
	sim_init(&s, 128 * MIB, 2);
	s.ws[0] = 128 * MIB;
	s.ws[1] = 8 * MIB;
	sim_start(&s);
	for (t = 0; t < 100; t++) {
		model(&s);
		step(&s);
	}
	assert_true(s.lim[0] >= 110 * MIB);
	s.ws[0] = 8 * MIB;
	s.ws[1] = 128 * MIB;
	for (t = 0; t < 100; t++) {
		model(&s);
		step(&s);
	}
	assert_true(s.lim[1] >= 110 * MIB);
	assert_true(s.lim[0] <= 16 * MIB);
}

/* A VM whose limit went down still holds its pages (its reclaim lags):
 * the hot VM's increase waits for that memory. */
static void test_budget_while_reclaim_lags(void **state)
{
	struct sim s;
	unsigned int t;

	(void)state;
	sim_init(&s, 128 * MIB, 2);
	sim_start(&s);                                  /* 64 + 64 */
	for (t = 0; t < 30; t++) {
		fixed(&s, 0, 64 * MIB, 0, 0);           /* idle, still holds 64M */
		fixed(&s, 1, s.st[1].limit, 80, 9000);
		step(&s);
		assert_true(s.lim[1] <= 64 * MIB);      /* nothing freed yet */
	}
	assert_true(s.lim[0] < 64 * MIB);
	fixed(&s, 0, s.st[0].limit, 0, 0);              /* now it has written out */
	fixed(&s, 1, s.st[1].limit, 80, 9000);
	step(&s);
	assert_true(s.lim[1] > 64 * MIB);
}

/* Small demands do not move limits; unsampled VMs hold theirs. */
static void test_hysteresis_and_unsampled(void **state)
{
	struct sim s;
	unsigned int t;

	(void)state;
	sim_init(&s, 128 * MIB, 2);
	sim_start(&s);
	for (t = 0; t < 20; t++) {
		/* uses its limit but 1 MiB, some pressure (neither calm nor hot):
		 * holds */
		fixed(&s, 0, s.st[0].limit - MIB, 1.5, 10);
		s.in[1].sampled = false;
		assert_int_equal(step(&s), 0);
	}
	assert_int_equal(s.lim[0], 64 * MIB);
	assert_int_equal(s.lim[1], 64 * MIB);
	/* clearly below its limit and not growing: cut to resident + headroom */
	fixed(&s, 0, 20 * MIB, 0, 0);
	step(&s);
	assert_int_equal(s.lim[0], 22 * MIB);
}

/* The swappers' slack above their limits (320/32 + 4 x 2 MiB) is kept
 * out of the plan. */
static void test_slack(void **state)
{
	struct sim s;
	unsigned int t;

	(void)state;
	sim_init(&s, 320 * MIB, 4);
	host_policy_defaults(&s.p, 320 * MIB);
	assert_int_equal(host_plan_budget(&s.p, 4, 16 * MIB), 302 * MIB);
	assert_int_equal(host_plan_budget(&s.p, 4, 310 * MIB), 310 * MIB);
	sim_start(&s);
	assert_int_equal(s.lim[0] + s.lim[1] + s.lim[2] + s.lim[3], 302 * MIB);
	for (t = 0; t < 50; t++) {
		unsigned int i;

		for (i = 0; i < 4; i++)
			fixed(&s, i, s.st[i].limit, 30, 3000);
		step(&s);
		assert_true(s.lim[0] + s.lim[1] + s.lim[2] + s.lim[3] <= 302 * MIB);
	}
}

/* Run C's shape (docs/benchmarks.md): 8 VMs, four hot ones whose working
 * sets (128 MiB) are just above an equal share of what the idle ones
 * leave.  Idle VMs: touched 128 MiB once, now touch nothing. */
static void run_c_shape(struct sim *s, bool fit_first)
{
	unsigned int i;

	sim_init(s, 480 * MIB, 8);
	s->p.fit_first = fit_first;
	for (i = 0; i < 8; i++) {
		s->ws[i] = 128 * MIB;
		s->idle[i] = i >= 4;
		s->in[i].resident = 128 * MIB;  /* idle: all it touched, evicted
						 * down to its limit by model() */
	}
	sim_start(s);
}

/* VMs that fit: at their working set, or one probe below it (a fit VM's
 * reservation holds then; test_fit_no_oscillation). */
static unsigned int fitting(const struct sim *s, unsigned int n)
{
	unsigned int i, k = 0;

	for (i = 0; i < n; i++)
		k += s->st[i].limit >= s->ws[i] || s->st[i].fit;
	return k;
}

/* Fit-first: 464 MiB above the floors hold three working sets (132 MiB
 * each with the margin) but not four: three hot VMs fit, the fourth gets
 * the remainder.  Dividing equally (fit_first off) leaves all four just
 * short - every one of them misses on nearly every access of a cyclic
 * scan. */
static void test_fit_first_run_c(void **state)
{
	struct sim s;
	unsigned int t;

	(void)state;
	run_c_shape(&s, true);
	for (t = 0; t < 60; t++) {
		model(&s);
		step(&s);
	}
	assert_int_equal(fitting(&s, 4), 3);
	for (t = 4; t < 8; t++)                 /* the idle ones gave it back */
		assert_true(s.lim[t] <= 8 * MIB);
	run_c_shape(&s, false);
	for (t = 0; t < 60; t++) {
		model(&s);
		step(&s);
	}
	assert_int_equal(fitting(&s, 4), 0);
}

/* Over many intervals the choice does not flip: once settled, the same
 * three VMs fit in every interval (probes of a VM that fits cut into its
 * working set for an interval but never lose it its memory: its
 * reservation holds), and limits change rarely. */
static void test_fit_no_oscillation(void **state)
{
	struct sim s;
	unsigned int t, i, changes = 0;
	bool fit0[4];
	uint64_t prev[N];

	(void)state;
	run_c_shape(&s, true);
	for (t = 0; t < 60; t++) {
		model(&s);
		step(&s);
	}
	for (i = 0; i < 4; i++)
		fit0[i] = s.st[i].fit;
	for (t = 0; t < 1000; t++) {
		model(&s);
		memcpy(prev, s.lim, sizeof(prev));
		step(&s);
		for (i = 0; i < 8; i++)
			changes += s.lim[i] != prev[i];
		for (i = 0; i < 4; i++) {
			assert_int_equal(s.st[i].fit, fit0[i]);
			/* a VM that fits is below its working set only in the
			 * interval after a probe, and then by one probe step */
			if (fit0[i])
				assert_true(s.lim[i] + 8 * MIB >= s.ws[i]);
		}
	}
	/* probes back off to one per 128 intervals per fitting VM (a probe,
	 * the way back: 2 changes, plus the waiting VM's) */
	if (changes > 120)
		fail_msg("%u limit changes in 1000 intervals: oscillating", changes);
}

/* The same shape while the hot VMs' working sets are still growing (they
 * stamp their memory, 14-20 MiB per interval, all at once; the faster
 * ones end smaller - 120-132 MiB - so the order of their needs changes on
 * the way): every VM is
 * given its working set while it fits, and when the growing needs no
 * longer fit, the VM left out is the same one from then on - the fit
 * ones are served in a fixed order, not by their changing needs. */
static void test_fit_ramp(void **state)
{
	struct sim s;
	unsigned int t, i, flips[4] = { 0 };
	bool was[4] = { false };

	(void)state;
	run_c_shape(&s, true);
	for (t = 0; t < 200; t++) {
		for (i = 0; i < 4; i++) {
			uint64_t w = (t + 1) * (20 - 2 * i) * MIB, W = (120 + 4 * i) * MIB;

			s.ws[i] = w < W ? w : W;
		}
		model(&s);
		step(&s);
		for (i = 0; i < 4; i++) {
			flips[i] += t > 0 && s.st[i].fit != was[i];
			was[i] = s.st[i].fit;
		}
	}
	for (i = 0; i < 4; i++) {
		if (flips[i] > 2)
			fail_msg("VM %u: fit changed %u times", i, flips[i]);
	}
	assert_int_equal(fitting(&s, 4), 3);
}

/* Floors and caps hold under fit-first: a hot VM capped below its working
 * set fits at its cap; a waiting VM keeps its floor; a VM with a high
 * weight is served first among equals. */
static void test_fit_floors_caps_weights(void **state)
{
	struct sim s;
	unsigned int t;

	(void)state;
	sim_init(&s, 300 * MIB, 4);
	s.ws[0] = 200 * MIB;
	s.in[0].cap = 90 * MIB;                 /* fits only at its cap */
	s.ws[1] = 128 * MIB;
	s.ws[2] = 128 * MIB;
	s.in[2].weight = 512 * MIB;             /* served before VM 1 */
	s.ws[3] = 128 * MIB;
	s.in[3].floor = 40 * MIB;               /* waits, on its floor */
	sim_start(&s);
	for (t = 0; t < 100; t++) {
		model(&s);
		step(&s);                       /* checks floors, caps, budget */
	}
	assert_int_equal(s.lim[0], 90 * MIB);
	assert_true(s.lim[2] >= 128 * MIB);
	assert_true(s.lim[1] < 128 * MIB);
	assert_true(s.lim[3] >= 40 * MIB && s.lim[3] < 128 * MIB);
}

/* A VM that fits and goes idle gives its memory back while another waits
 * (harmless probes, each twice the last), and the waiting VM fits in its
 * place; probes stop when nobody asks for more. */
static void test_fit_idle_gives_back(void **state)
{
	struct sim s;
	unsigned int t, first = 100;

	(void)state;
	sim_init(&s, 300 * MIB, 3);
	s.ws[0] = s.ws[1] = s.ws[2] = 128 * MIB;
	sim_start(&s);
	for (t = 0; t < 60; t++) {
		model(&s);
		step(&s);
	}
	assert_true(s.st[0].fit && s.st[1].fit && !s.st[2].fit);
	assert_true(s.lim[2] < 128 * MIB);
	s.idle[0] = true;
	for (t = 0; t < 100; t++) {
		model(&s);
		step(&s);
		if (first == 100 && s.lim[2] >= 128 * MIB)
			first = t;
	}
	/* the idle one keeps only what the two others leave */
	assert_true(s.lim[0] <= 300 * MIB - 2 * 128 * MIB);
	assert_true(s.lim[2] >= 128 * MIB && s.st[2].fit);
	assert_true(s.lim[1] >= 128 * MIB);     /* never disturbed */
	/* a fit VM had been probed ever more rarely (its calm_need doubled
	 * each time a probe hurt): bounded by that wait plus a few halvings */
	if (first > 60)
		fail_msg("the waiting VM fit only after %u intervals", first);
	/* nobody asks for more: no probes, the idle VM keeps what it has
	 * (it would only read it back from swap when it wakes) */
	s.changes = 0;
	for (t = 0; t < 200; t++) {
		model(&s);
		step(&s);
	}
	assert_int_equal(s.changes, 0);
}

/* What the supervisor reads from a VM's `stats`: resident memory is what
 * the VM's limit counts - resident, staged and the compressed tier's pool
 * (rounded up to pages) - and the footprint is every page not "none" in
 * the swapper's census. */
static void test_figures(void **state)
{
	static const char *const js[] = {
		"{\"vm\":{\"stall\":{\"total_ns\":0}},\"swap\":{"
		"\"resident_pages\":1000,\"staged_pages\":24,\"slots_used\":3000,"
		"\"guest_pages\":16384,\"faults\":{\"from_swap\":10},"
		"\"page_states\":{\"none\":10000},"
		"\"ztier\":{\"pool_bytes\":409601}}}",
		/* 2 s later: 512 more swap-ins, 1 s of the 2 vCPUs' 4 s waited */
		"{\"vm\":{\"stall\":{\"total_ns\":1000000000}},\"swap\":{"
		"\"resident_pages\":1000,\"guest_pages\":16384,"
		"\"faults\":{\"from_swap\":522}}}",
	};
	struct host_vm v;
	struct json_object *o[2], *vm, *sw;
	unsigned int k;

	(void)state;
	memset(&v, 0, sizeof(v));
	v.vcpus = 2;
	for (k = 0; k < 2; k++) {
		o[k] = json_tokener_parse(js[k]);
		assert_non_null(o[k]);
		assert_true(json_object_object_get_ex(o[k], "vm", &vm));
		assert_true(json_object_object_get_ex(o[k], "swap", &sw));
		host_vm_figures(&v, vm, sw, 10.0 + 2 * k);
		if (!k) {
			/* (1000 + 24) pages + 101 pages of pool */
			assert_int_equal(v.in.resident, (1024 + 101) * 4096ull);
			assert_int_equal(v.in.footprint, 6384 * 4096ull);
			assert_int_equal(v.swapped, 3000 * 4096ull);
			assert_false(v.in.sampled);     /* no rate yet */
		}
	}
	assert_int_equal(v.in.resident, 1000 * 4096ull);
	assert_int_equal(v.in.footprint, 0);    /* no census: unknown */
	assert_true(v.in.sampled);
	assert_true(v.in.refaults > 255.9 && v.in.refaults < 256.1);
	assert_true(v.in.stall > 24.9 && v.in.stall < 25.1);
	assert_int_equal(v.max_resident, (1024 + 101) * 4096ull);
	for (k = 0; k < 2; k++)
		json_object_put(o[k]);
}

/* Same inputs, same outputs. */
static void test_pure(void **state)
{
	struct sim a, b;
	unsigned int t;

	(void)state;
	sim_init(&a, 300 * MIB, 5);
	for (t = 0; t < 5; t++)
		a.ws[t] = (uint64_t)(t + 1) * 40 * MIB;
	sim_start(&a);
	for (t = 0; t < 50; t++) {
		model(&a);
		step(&a);
	}
	b = a;
	model(&a);
	model(&b);
	step(&a);
	step(&b);
	assert_memory_equal(a.lim, b.lim, sizeof(a.lim));
	assert_memory_equal(a.st, b.st, sizeof(a.st));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_initial),
		cmocka_unit_test(test_idle_gives_to_hot),
		cmocka_unit_test(test_idle_below_limit),
		cmocka_unit_test(test_caps_and_floors),
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_converges_without_oscillation),
		cmocka_unit_test(test_phase_change),
		cmocka_unit_test(test_budget_while_reclaim_lags),
		cmocka_unit_test(test_hysteresis_and_unsampled),
		cmocka_unit_test(test_slack),
		cmocka_unit_test(test_pure),
		cmocka_unit_test(test_fit_first_run_c),
		cmocka_unit_test(test_fit_no_oscillation),
		cmocka_unit_test(test_fit_ramp),
		cmocka_unit_test(test_fit_floors_caps_weights),
		cmocka_unit_test(test_fit_idle_gives_back),
		cmocka_unit_test(test_figures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
