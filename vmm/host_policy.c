/*
 * host_policy.c - how `hvswap host` divides its budget among the VMs: one
 * pure function, host_decide(), run once per interval.
 *
 * 1. Demand.  A VM's pressure is max(stall % / hot_stall, swap-ins per s /
 *    hot_refaults), smoothed over two intervals.  Under pressure (>= 1) it
 *    asks for its working set when that is known - its footprint (the
 *    pages it touched and holds: resident, compressed or in swap) above
 *    its limit - else for grow x pressure (up to 4x) more.  Calm, it
 *    asks for what it uses plus headroom when it uses clearly less than its
 *    limit (plus twice its last interval's growth: a VM still touching
 *    its memory for the first time is not cut back); using all of it
 *    without pressure it holds; and after calm_need calm intervals either
 *    way it probes, when memory is short (the demands without probes do
 *    not fit): asks for `shrink` less than it holds.  Each
 *    harmless probe doubles the next one's step (up to half the limit)
 *    and the next comes after one calm interval: an idle VM that touched
 *    its memory once gives it back within a few intervals.
 *    A probe followed at once by pressure doubles that VM's calm_need (up
 *    to 128 intervals), so a VM whose working set is its limit is not
 *    probed again and again; once a probe goes below the limit where one
 *    hurt without harm (the working set shrank), it starts over.
 *    Demands are clamped to [floor, cap].  The working-set estimate (ws):
 *    footprint + margin while hot, resident + margin while calm (what it
 *    held when it stopped swapping).
 * 2. Division.  Every VM gets its floor (min_guarantee, at least
 *    min_limit); the rest of the budget goes to the demands.  When they
 *    do not all fit, fit-first (split()): VMs that fit keep their working
 *    sets (the oldest first), calm VMs get what they use, then as many hot
 *    VMs as possible get their whole working set (smallest need per weight
 *    first), and the ones left wait, sharing the remainder by weighted
 *    water-filling (weights: soft_limit).  A VM is fit until it loses the
 *    memory to an older one or a probe shows it no longer needs it.  What
 *    no demand takes stays free (handing it out would only make limits
 *    swing: a VM under pressure asks for more at every interval anyway).
 * 3. Hysteresis.  A limit moves only by at least max(step, step_frac x
 *    limit) - unless the budget or a floor/cap needs it.
 * 4. Budget adherence.  Increases are granted only from memory no VM holds
 *    (VMs that fit first, then the most pressed):
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
	p->fit_first = true;
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

/* What a VM needs above its working set: its swapper starts reclaim a
 * little below the limit (limit / 64, swapper/reclaim.c), so a limit of
 * exactly the working set would still evict from it. */
static uint64_t margin(const struct host_policy *p, uint64_t v)
{
	return (uint64_t)maxd((double)p->step, (double)v * p->step_frac);
}

/* Step 1, a VM under pressure: pressure right after a probe means that
 * probe cut into the working set - wait longer before the next one, and
 * remember where it hurt.  It asks for its working set at once when its
 * footprint (every page it touched and still holds, wherever it is) is
 * above its limit - a VM swapping pages back in needs the pages it
 * swapped out - else for grow x pressure more (the footprint is unknown,
 * or all of it fits and it is still pressed). */
static uint64_t hot_demand(const struct host_policy *p, const struct host_vm_in *v,
			   struct host_vm_state *s)
{
	uint64_t L = s->limit, d;
	double g;

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
	s->ws = 0;              /* unknown: it cannot be fit, only grow */
	if (v->footprint && v->footprint + margin(p, v->footprint) > L)
		d = s->ws = v->footprint + margin(p, v->footprint);
	return d;
}

/* Step 1, a calm VM's probe: ask for `shrink` less than it holds.  Each
 * harmless probe doubles the next one's step. */
static uint64_t probe(const struct host_policy *p, const struct host_vm_in *v,
		      struct host_vm_state *s)
{
	unsigned int base = p->calm_intervals ? p->calm_intervals : 1;
	double frac = s->probe_frac > 0 ? s->probe_frac : p->shrink;
	uint64_t L = s->limit, used = v->resident < L ? v->resident : L, d;

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

/* Step 1: what VM i asks for this interval (updates its state).  *due:
 * it is time for a probe - made only when memory is short (host_decide():
 * an idle VM keeps what nobody else asks for, and does not have to read
 * it back from swap when it wakes). */
static uint64_t demand(const struct host_policy *p, const struct host_vm_in *v,
		       struct host_vm_state *s, bool *due)
{
	uint64_t L = s->limit, R = v->resident, grew;
	double now;

	*due = false;
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
	if (now >= 1 || (s->pressure >= 1 && now >= 0.5))
		return hot_demand(p, v, s);
	s->hot = false;
	/* calm: what it holds is its working set (the resident size when
	 * it stopped swapping); a probe that stayed harmless for three
	 * intervals means it does not need what it was granted any more */
	s->ws = R + margin(p, R);
	if (s->probe_ok && s->since_probe > 3)
		s->fit = false;
	if (s->pressure < 0.5 && now < 0.5)
		s->calm++;
	else
		s->calm = 0;
	*due = s->calm >= (s->probe_ok ? 1 : s->calm_need);
	if (R + margin(p, L) < L)
		return (uint64_t)maxd((double)R * (1 + p->headroom),
				      (double)(R + p->step + 2 * grew));
	return L;
}

/* Step 2 with fit-first, the order VMs are served in: those that fit
 * (the oldest first, then by index: an order that does not change while
 * their needs do, so the one left out is always the same), then the
 * others by need per weight (the smallest first: as many as possible
 * fit), then by index. */
static bool served_before(const struct host_vm_in *in, const struct host_vm_state *st,
			  const uint64_t *need, unsigned int a, unsigned int b)
{
	double na, nb;

	if (st[a].fit != st[b].fit)
		return st[a].fit;
	if (st[a].fit)
		return st[a].fit_age != st[b].fit_age ? st[a].fit_age > st[b].fit_age : a < b;
	na = (double)need[a] / (double)(in[a].weight ? in[a].weight : 1);
	nb = (double)need[b] / (double)(in[b].weight ? in[b].weight : 1);
	if (na != nb)
		return na < nb;
	return a < b;
}

/* The hot VMs (and the calm ones that fit) in serving order; returns how
 * many.  Insertion sort: n is small, and the order must be total. */
static unsigned int serving_order(unsigned int n, const struct host_vm_in *in,
				  const struct host_vm_state *st, const uint64_t *need,
				  unsigned int *order)
{
	unsigned int i, k, m = 0;

	for (i = 0; i < n; i++) {
		if (!st[i].fit && !(st[i].hot && st[i].ws))
			continue;
		for (k = m; k > 0 && served_before(in, st, need, i, order[k - 1]); k--)
			order[k] = order[k - 1];
		order[k] = i;
		m++;
	}
	return m;
}

/*
 * Step 2 when the demands (above the floors, in want[]) exceed `rest`:
 * fit-first.  A hot VM whose limit is a little below its working set
 * misses on nearly every access of a cyclic scan (LRU's cliff), so an
 * equal division among hot VMs that cannot all fit wastes the memory of
 * all of them; the kernel's one LRU per memcg cannot do better either
 * (it spreads the misses).  Here:
 *   a. VMs that fit keep it, the oldest first: a hot one gets its working
 *      set, a calm one its demand while its working set stays reserved
 *      (a probe that turns out to hurt gets it back; a harmless one
 *      ends the reservation, demand());
 *   b. calm VMs get what they ask for (they use it), by weight if short;
 *   c. hot VMs that do not fit yet, the smallest need per weight first:
 *      each that fits in what is left gets its whole working set;
 *   d. the rest is shared by weight among the hot VMs that wait.
 * want[] is consumed.
 */
static void split(unsigned int n, const struct host_vm_in *in, struct host_vm_state *st,
		  const uint64_t *base, uint64_t *want, uint64_t rest, uint64_t *got)
{
	uint64_t calm[MAX_VMS], need[MAX_VMS], r;
	unsigned int order[MAX_VMS], i, k, m;

	for (i = 0; i < n; i++) {
		r = st[i].ws > base[i] + want[i] ? st[i].ws : base[i] + want[i];
		r = r < in[i].cap ? r : in[i].cap;
		need[i] = r - base[i];  /* what it holds back from the others */
	}
	m = serving_order(n, in, st, need, order);
	for (k = 0; k < m; k++) {                       /* a. */
		i = order[k];
		if (!st[i].fit)
			continue;
		if (need[i] > rest) {
			st[i].fit = false;
			continue;
		}
		got[i] += want[i];
		rest -= need[i];
		want[i] = 0;
	}
	for (i = 0; i < n; i++) {                       /* b. */
		calm[i] = !st[i].hot && !st[i].fit ? want[i] : 0;
		want[i] -= calm[i];
	}
	rest = fill(n, calm, in, rest, got);
	for (k = 0; k < m; k++) {                       /* c. */
		i = order[k];
		if (st[i].fit || !st[i].ws || !want[i] || need[i] > rest)
			continue;
		st[i].fit = true;
		st[i].fit_age = 0;
		got[i] += want[i];
		rest -= need[i];
		want[i] = 0;
	}
	fill(n, want, in, rest, got);                   /* d. */
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

/* Step 4's order: VMs that fit first (the oldest first: what they were
 * promised), then the most pressed. */
static bool granted_before(const struct host_vm_in *in, const struct host_vm_state *st,
			   unsigned int a, unsigned int b)
{
	if (st[a].fit != st[b].fit)
		return st[a].fit;
	if (st[a].fit)
		return st[a].fit_age != st[b].fit_age ? st[a].fit_age > st[b].fit_age : a < b;
	return in[a].stall + in[a].refaults > in[b].stall + in[b].refaults;
}

/* Step 4: grant increases from memory nobody holds, in that order. */
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
			if (up[i] && (best < 0 || granted_before(in, st, i, (unsigned int)best)))
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

/* Steps 1-2: every VM's target (clamped to [base, cap]) and what it asks
 * above its base; returns the sum of those.  With `probes`, the VMs due
 * for a probe make it. */
static uint64_t targets(const struct host_policy *p, unsigned int n,
			const struct host_vm_in *in, struct host_vm_state *st,
			const uint64_t *base, const bool *due, bool probes,
			uint64_t *target, uint64_t *want)
{
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (probes && due[i])
			target[i] = page_down(clampu(probe(p, &in[i], &st[i]), base[i], in[i].cap));
		want[i] = target[i] - base[i];
		sum += want[i];
	}
	return sum;
}

unsigned int host_decide(const struct host_policy *p, unsigned int n,
			 const struct host_vm_in *in, struct host_vm_state *st,
			 uint64_t *limits)
{
	uint64_t want[MAX_VMS], got[MAX_VMS], target[MAX_VMS], base[MAX_VMS] = { 0 };
	uint64_t rest, budget, sum_want;
	bool due[MAX_VMS] = { false };
	unsigned int i, changed = 0;

	if (n > MAX_VMS)
		n = MAX_VMS;
	budget = host_plan_budget(p, n, sum_bases(p, n, in));
	rest = budget;
	for (i = 0; i < n; i++) {
		base[i] = base_of(p, &in[i]);
		target[i] = page_down(clampu(demand(p, &in[i], &st[i], &due[i]),
					     base[i], in[i].cap));
		got[i] = base[i];
		rest = rest > base[i] ? rest - base[i] : 0;
	}
	sum_want = targets(p, n, in, st, base, due, false, target, want);
	/* memory is short: the calm VMs due for a probe make it */
	if (sum_want > rest)
		sum_want = targets(p, n, in, st, base, due, true, target, want);
	if (sum_want <= rest) {
		/* everyone gets what it asks for: a hot VM now has its
		 * working set (as far as it is known) */
		for (i = 0; i < n; i++) {
			got[i] = target[i];
			if (st[i].hot && st[i].ws && !st[i].fit) {
				st[i].fit = true;
				st[i].fit_age = 0;
			}
		}
	} else if (p->fit_first) {
		split(n, in, st, base, want, rest, got);
	} else {
		fill(n, want, in, rest, got);
	}
	hysteresis(p, budget, n, in, st, got, limits);
	grant(budget, n, in, st, limits);
	for (i = 0; i < n; i++) {
		changed += limits[i] != st[i].limit;
		st[i].limit = limits[i];
		if (!p->fit_first)
			st[i].fit = false;
		if (st[i].fit && st[i].fit_age < 1000000)
			st[i].fit_age++;
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
