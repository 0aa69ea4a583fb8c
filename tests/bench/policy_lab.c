/*
 * policy_lab.c - replay a memtouch guest's access sequence through eviction
 * policies that see only what hvswap sees, and the two references (issue 12
 * item 1; the engine and its contract are lab.h).
 *
 *   bench_policy_lab ws=64M pattern=zipf skew=0.99 passes=5 init=1 ...
 *                    (limit=SIZE | resident=PCT) [policies=min,lru,clock,...]
 *                    [stage=PAGES] [gap=PAGES] [dlog=ACCESSES] [wp=0|1]
 *                    [dlog_fresh=0|1] [held=PCT] [minor_cost=0.35]
 *
 * Memtouch's keys build the sequence (trace.h: the guest's, with vCPUs
 * interleaved round-robin); counting starts after the init phase.  Prints
 * one JSON object: the workload, then per policy the timed phase's device
 * reads (major faults), minor faults (copies back from staging or a held
 * list: no I/O, but a fault round trip), first-touch faults, writes,
 * write-protect faults, and "cost" = reads + minor_cost x minor (a minor
 * fault is a uffd round trip without the read: ~0.35 of a swap-in here,
 * PLATFORM.md), and the bytes per guest page the policy would add to
 * hvswap's metadata.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_args.h"
#include "lab.h"
#include "trace.h"

struct opts {
	struct lab_cfg cfg;
	uint64_t limit_bytes;
	unsigned resident_pct;
	double minor_cost;
	char policies[256];
};

static int extra(const char *k, const char *v, void *ctx)
{
	struct opts *o = ctx;
	uint64_t x;
	char *end;

	if (!strcmp(k, "limit"))
		return bench_parse_size(v, &o->limit_bytes);
	if (!strcmp(k, "policies")) {
		if (strlen(v) >= sizeof(o->policies))
			return -1;
		strcpy(o->policies, v);
		return 0;
	}
	if (!strcmp(k, "minor_cost")) {
		o->minor_cost = strtod(v, &end);
		return *end || o->minor_cost < 0 ? -1 : 0;
	}
	x = strtoull(v, &end, 0);
	if (end == v || *end)
		return -1;
	if (!strcmp(k, "resident"))
		o->resident_pct = (unsigned)x;
	else if (!strcmp(k, "stage"))
		o->cfg.stage = x;
	else if (!strcmp(k, "gap"))
		o->cfg.gap = x;
	else if (!strcmp(k, "dlog"))
		o->cfg.dlog = x;
	else if (!strcmp(k, "dlog_fresh"))
		o->cfg.dlog_fresh = x != 0;
	else if (!strcmp(k, "wp"))
		o->cfg.wp = x != 0;
	else if (!strcmp(k, "held"))
		o->cfg.held_pct = (unsigned)x;
	else
		return -1;
	return 0;
}

static void print_result(const struct lab_policy *pol, const struct lab_counts *c,
			 double meta, double minor_cost, bool first)
{
	uint64_t minor = c->faults[LF_STAGE] + c->faults[LF_HELD];

	printf("%s\n  {\"policy\":\"%s\",\"reads\":%llu,\"minor\":%llu,"
	       "\"first\":%llu,\"faults\":%llu,\"writes\":%llu,\"wp\":%llu,"
	       "\"evictions\":%llu,\"cost\":%.1f,\"meta_bytes_per_page\":%.2f,"
	       "\"meta\":\"%s\"}", first ? "" : ",", pol->name,
	       (unsigned long long)c->faults[LF_MAJOR], (unsigned long long)minor,
	       (unsigned long long)c->faults[LF_FIRST],
	       (unsigned long long)(c->faults[LF_MAJOR] + minor + c->faults[LF_FIRST]),
	       (unsigned long long)c->writes, (unsigned long long)c->wp,
	       (unsigned long long)c->evictions,
	       (double)c->faults[LF_MAJOR] + minor_cost * (double)minor, meta,
	       pol->meta);
}

static int run_all(const struct bench_args *a, const struct opts *o,
		   const struct bench_trace *t, const uint64_t *next)
{
	char list[256], *save = NULL, *name;
	bool first = true;

	strcpy(list, o->policies);
	printf("{\"ws_pages\":%llu,\"limit_pages\":%llu,\"pattern\":\"%s\","
	       "\"skew\":%g,\"rw\":%g,\"passes\":%u,\"hot\":%u,\"hotacc\":%u,"
	       "\"phase\":%llu,\"seed\":%llu,\"vcpus\":%u,\"init\":%d,"
	       "\"stage\":%llu,\"gap\":%llu,\"dlog\":%llu,\"dlog_fresh\":%d,\"wp\":%d,\"held\":%u,"
	       "\"accesses_run\":%llu,\"results\":[",
	       (unsigned long long)a->p.pages, (unsigned long long)o->cfg.limit,
	       mt_pattern_name(a->p.pattern), a->p.skew, a->p.write_ratio,
	       a->p.passes, a->p.hot_pct, a->p.hot_access_pct,
	       (unsigned long long)a->p.phase_len, (unsigned long long)a->p.seed,
	       a->vcpus, a->init, (unsigned long long)o->cfg.stage,
	       (unsigned long long)o->cfg.gap, (unsigned long long)o->cfg.dlog,
	       o->cfg.dlog_fresh, o->cfg.wp, o->cfg.held_pct,
	       (unsigned long long)(t->n - t->run_start));
	for (name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		const struct lab_policy *pol = lab_policy_find(name);
		struct lab_counts c;
		double meta = 0;
		int r;

		if (!pol) {
			fprintf(stderr, "unknown policy '%s'\n", name);
			return 2;
		}
		r = lab_replay(pol, &o->cfg, a->p.pages, t->pg, t->wr, t->n,
			       t->run_start, next, &c, &meta);
		if (r < 0) {
			fprintf(stderr, "policy %s failed: %s\n", name, strerror(-r));
			return 1;
		}
		print_result(pol, &c, meta, o->minor_cost, first);
		first = false;
	}
	printf("\n]}\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_args a;
	struct bench_trace t;
	struct opts o = {
		.cfg = { .wp = true, .held_pct = 25, .dlog_fresh = true },
		.minor_cost = 0.35,
		.policies = "min,lru,clock,stage,shadow,clockpro,arc,arcw,freq",
	};
	uint64_t *next;
	int r;

	if (bench_parse(argc, argv, 1, &a, extra, &o))
		return 2;
	if (o.resident_pct && o.resident_pct <= 100)
		o.cfg.limit = a.p.pages * o.resident_pct / 100;
	else if (!o.resident_pct)
		o.cfg.limit = o.limit_bytes / MT_PAGE_SIZE;
	if (!o.policies[0] || o.policies[0] == ',') {
		fprintf(stderr, "policies= names none\n");
		return 2;
	}
	if (!o.cfg.limit || o.cfg.held_pct > 90 ||
	    o.cfg.stage + 2 * o.cfg.gap + 1 >= o.cfg.limit) {
		fprintf(stderr, "need limit=SIZE or resident=1..100 (more than "
			"stage + 2 x gap + 1 pages) and held <= 90\n");
		return 2;
	}
	if (bench_trace_build(&a, &t)) {
		fprintf(stderr, "out of memory for the access sequence\n");
		return 1;
	}
	next = lab_next_use(t.pg, t.n, a.p.pages);
	if (!next) {
		fprintf(stderr, "out of memory\n");
		bench_trace_free(&t);
		return 1;
	}
	r = run_all(&a, &o, &t, next);
	free(next);
	bench_trace_free(&t);
	return r;
}
