/*
 * host_policy.c - how `hvswap host` divides its budget among the VMs: one
 * pure function, host_decide(), run once per interval.
 *
 * 1. Demand.  A VM's pressure is max(stall % / hot_stall, swap-ins per s /
 *    hot_refaults), smoothed over two intervals.  Under pressure (>= 1) it
 *    asks for grow x pressure (up to 4x) more than its limit.  Calm, it
 *    asks for what it uses plus headroom when it uses clearly less than its
 *    limit (plus twice its last interval's growth: a VM still touching
 *    its memory for the first time is not cut back); using all of it
 *    without pressure it holds; and after calm_need calm intervals either
 *    way it probes: asks for `shrink` less than it holds.  Each
 *    harmless probe doubles the next one's step (up to half the limit)
 *    and the next comes after one calm interval: an idle VM that touched
 *    its memory once gives it back within a few intervals.
 *    A probe followed at once by pressure doubles that VM's calm_need (up
 *    to 128 intervals), so a VM whose working set is its limit is not
 *    probed again and again; once a probe goes below the limit where one
 *    hurt without harm (the working set shrank), it starts over.
 *    Demands are clamped to [floor, cap].
 * 2. Division.  Every VM gets its floor (min_guarantee, at least
 *    min_limit); the rest of the budget goes to the demands, by weighted
 *    water-filling (weights: soft_limit) when they do not all fit; what no
 *    demand takes stays free (handing it out would only make limits swing:
 *    a VM under pressure asks for more at every interval anyway).
 * 3. Hysteresis.  A limit moves only by at least max(step, step_frac x
 *    limit) - unless the budget or a floor/cap needs it.
 * 4. Budget adherence.  Increases are granted only from memory no VM holds:
 *    sum of max(resident, limit) stays within the budget (less the
 *    swappers' slack above their limits, host_plan_budget()), so memory a
 *    shrinking VM has not yet written out is not promised to another; the
 *    rest of an increase comes at the next intervals.
 * No I/O, no clock, no globals: the tests drive it with stubbed figures.
 */
#include <string.h>

#include "host.h"

#define PAGE 4096ull
#define MAX_VMS 256

void host_policy_defaults(struct host_policy *p, uint64_t budget)
{
	memset(p, 0, sizeof(*p));
	p->budget = budget;
	p->min_limit = 4ull << 20;
	p->step = 2ull << 20;
	p->step_frac = 0.03;
	p->hot_stall = 2.0;
	p->hot_refaults = 256;          /* 1 MiB/s of swap-ins */
	p->grow = 0.25;
	p->shrink = 0.05;
	p->calm_intervals = 3;
	p->headroom = 0.10;
	p->slack_frac = 1.0 / 32;
	p->slack_per_vm = 2ull << 20;
}

uint64_t host_plan_budget(const struct host_policy *p, unsigned int n, uint64_t floors)
{
	uint64_t s = (uint64_t)((double)p->budget * p->slack_frac) + n * p->slack_per_vm;
	uint64_t b = s < p->budget ? p->budget - s : 0;

	return b > floors ? b : floors;
}

static uint64_t sum_bases(const struct host_policy *p, unsigned int n,
			  const struct host_vm_in *in);

static uint64_t clampu(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static uint64_t page_down(uint64_t v)
{
	return v & ~(PAGE - 1);
}

static double maxd(double a, double b)
{
	return a > b ? a : b;
}

/* floor' = max(floor, min_limit), at most the cap. */
static uint64_t base_of(const struct host_policy *p, const struct host_vm_in *v)
{
	uint64_t b = v->floor > p->min_limit ? v->floor : p->min_limit;

	return b < v->cap ? b : v->cap;
}

static uint64_t sum_bases(const struct host_policy *p, unsigned int n,
			  const struct host_vm_in *in)
{
	uint64_t s = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		s += base_of(p, &in[i]);
	return s;
}

/* Weighted water-filling: pool bytes to the VMs by weight, each at most
 * want[i] (consumed: want[i] ends as what it still lacks), added to got[].
 * Returns what is left of the pool. */
static uint64_t fill(unsigned int n, uint64_t *want, const struct host_vm_in *in,
		     uint64_t pool, uint64_t *got)
{
	unsigned int i, round;

	for (round = 0; round <= n && pool >= PAGE; round++) {
		double w = 0;
		uint64_t given = 0;
		bool sat = false;

		for (i = 0; i < n; i++)
			w += want[i] ? (double)(in[i].weight ? in[i].weight : 1) : 0;
		if (w == 0)
			break;
		/* whoever wants less than its share is satisfied first ... */
		for (i = 0; i < n; i++) {
			double share = (double)pool * (double)(in[i].weight ? in[i].weight : 1) / w;

			if (want[i] && (double)want[i] <= share) {
				got[i] += want[i];
				given += want[i];
				want[i] = 0;
				sat = true;
			}
		}
		if (sat) {
			pool -= given;
			continue;
		}
		/* ... and when nobody is, each gets its share */
		for (i = 0; i < n; i++) {
			uint64_t share;

			if (!want[i])
				continue;
			share = page_down((uint64_t)((double)pool *
				(double)(in[i].weight ? in[i].weight : 1) / w));
			share = share < want[i] ? share : want[i];
			got[i] += share;
			want[i] -= share;
			given += share;
		}
		pool -= given;
		break;
	}
	return pool;
}

/* Step 1: what VM i asks for this interval (updates its state). */
static uint64_t demand(const struct host_policy *p, const struct host_vm_in *v,
		       struct host_vm_state *s)
{
	uint64_t L = s->limit, R = v->resident, d, grew;
	double now, g;

	if (!s->calm_need)
		s->calm_need = p->calm_intervals ? p->calm_intervals : 1;
	if (!v->sampled)
		return L;
	grew = R > s->prev_resident ? R - s->prev_resident : 0;
	s->prev_resident = R;
	now = maxd(p->hot_stall > 0 ? v->stall / p->hot_stall : 0,
		   p->hot_refaults > 0 ? v->refaults / p->hot_refaults : 0);
	s->pressure = 0.5 * s->pressure + 0.5 * now;
	if (s->since_probe < 1000)
		s->since_probe++;
	/* hot: pressure now, not only in the average (a VM that just got
	 * what it needed is not given more on the strength of the past) */
	if (now >= 1 || (s->pressure >= 1 && now >= 0.5)) {
		/* pressure right after a probe: that probe cut into the
		 * working set - wait longer before the next one, and remember
		 * where it hurt */
		if (!s->hot && s->since_probe <= 3) {
			s->calm_need *= 2;
			if (s->calm_need > 128)
				s->calm_need = 128;
			s->hurt_limit = L;
		}
		s->probe_frac = 0;      /* the next probe starts small, late */
		s->probe_ok = false;
		s->hot = true;
		s->calm = 0;
		g = p->grow * (s->pressure < 4 ? (s->pressure > 1 ? s->pressure : 1) : 4);
		d = L + (uint64_t)maxd((double)p->step, (double)L * g);
		return d;
	}
	s->hot = false;
	if (s->pressure < 0.5 && now < 0.5)
		s->calm++;
	else
		s->calm = 0;
	if (s->calm >= (s->probe_ok ? 1 : s->calm_need)) {
		unsigned int base = p->calm_intervals ? p->calm_intervals : 1;
		double frac = s->probe_frac > 0 ? s->probe_frac : p->shrink;
		uint64_t used = R < L ? R : L;  /* probe below what it holds */

		/* the last probe went below where one hurt, harmlessly: the
		 * working set shrank, probe sooner again */
		if (s->hurt_limit && s->since_probe > 3 && L < s->hurt_limit) {
			s->hurt_limit = 0;
			s->calm_need = base;
		}
		s->calm = 0;
		s->since_probe = 0;
		s->probe_frac = frac * 2 < 0.5 ? frac * 2 : 0.5;
		s->probe_ok = true;     /* until pressure says otherwise */
		d = (uint64_t)maxd((double)p->step, (double)used * frac);
		return used > d ? used - d : 0;
	}
	if (R + (uint64_t)maxd((double)p->step, (double)L * p->step_frac) < L)
		return (uint64_t)maxd((double)R * (1 + p->headroom),
				      (double)(R + p->step + 2 * grew));
	return L;
}

/* Step 3: keep limits whose change is within the hysteresis, unless the
 * budget needs the change. */
static void hysteresis(const struct host_policy *p, uint64_t budget, unsigned int n,
		       const struct host_vm_in *in, const struct host_vm_state *st,
		       const uint64_t *want, uint64_t *lim)
{
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint64_t L = st[i].limit, N = want[i];
		uint64_t d = N > L ? N - L : L - N;
		uint64_t h = (uint64_t)maxd((double)p->step, (double)L * p->step_frac);
		bool in_range = L >= base_of(p, &in[i]) && L <= in[i].cap;

		lim[i] = d < h && in_range ? L : N;
		sum += lim[i];
	}
	for (i = 0; i < n && sum > budget; i++) {
		if (lim[i] > want[i]) {
			sum -= lim[i] - want[i];
			lim[i] = want[i];
		}
	}
}

/* Step 4: grant increases from memory nobody holds, most pressed first. */
static void grant(uint64_t budget, unsigned int n,
		  const struct host_vm_in *in, const struct host_vm_state *st,
		  uint64_t *lim)
{
	uint64_t held = 0, freeb, c;
	bool up[MAX_VMS];
	unsigned int i, k;

	for (i = 0; i < n; i++) {
		up[i] = lim[i] > st[i].limit;
		c = up[i] ? st[i].limit : lim[i];
		if (in[i].sampled && in[i].resident > c)
			c = in[i].resident;
		held += c;
	}
	freeb = held < budget ? budget - held : 0;
	for (k = 0; k < n; k++) {
		int best = -1;
		uint64_t now, extra, g;

		for (i = 0; i < n; i++) {
			if (up[i] && (best < 0 || in[i].stall + in[i].refaults >
				      in[best].stall + in[best].refaults))
				best = (int)i;
		}
		if (best < 0)
			break;
		i = (unsigned int)best;
		up[i] = false;
		now = st[i].limit;
		if (in[i].sampled && in[i].resident > now)
			now = in[i].resident;
		extra = lim[i] > now ? lim[i] - now : 0;
		g = page_down(extra < freeb ? extra : freeb);
		lim[i] = now + g > st[i].limit ? now + g : st[i].limit;
		if (lim[i] > in[i].cap)
			lim[i] = in[i].cap;
		freeb -= g;
	}
}

unsigned int host_decide(const struct host_policy *p, unsigned int n,
			 const struct host_vm_in *in, struct host_vm_state *st,
			 uint64_t *limits)
{
	uint64_t want[MAX_VMS], got[MAX_VMS], target[MAX_VMS], base, rest, budget;
	uint64_t sum_want = 0;
	unsigned int i, changed = 0;

	if (n > MAX_VMS)
		n = MAX_VMS;
	budget = host_plan_budget(p, n, sum_bases(p, n, in));
	rest = budget;
	for (i = 0; i < n; i++) {
		base = base_of(p, &in[i]);
		target[i] = page_down(clampu(demand(p, &in[i], &st[i]), base, in[i].cap));
		got[i] = base;
		rest = rest > base ? rest - base : 0;
		want[i] = target[i] - base;
		sum_want += want[i];
	}
	if (sum_want <= rest) {
		for (i = 0; i < n; i++)
			got[i] = target[i];
	} else {
		fill(n, want, in, rest, got);
	}
	hysteresis(p, budget, n, in, st, got, limits);
	grant(budget, n, in, st, limits);
	for (i = 0; i < n; i++) {
		changed += limits[i] != st[i].limit;
		st[i].limit = limits[i];
	}
	return changed;
}

void host_initial_limits(const struct host_policy *p, unsigned int n,
			 const struct host_vm_in *in, uint64_t *limits)
{
	uint64_t want[MAX_VMS], rest, base;
	unsigned int i;

	if (n > MAX_VMS)
		n = MAX_VMS;
	rest = host_plan_budget(p, n, sum_bases(p, n, in));
	for (i = 0; i < n; i++) {
		base = base_of(p, &in[i]);
		limits[i] = base;
		want[i] = in[i].cap - base;
		rest = rest > base ? rest - base : 0;
	}
	fill(n, want, in, rest, limits);
}
