/*
 * trace.h - a memtouch guest's access sequence as an array, for the host
 * tools that simulate replacement (belady.c, the policy lab).
 *
 * Built with hv_gen_host exactly as the guest does: with init=1 first the
 * untimed init writes (every page of each vCPU's slice, in order; page 0
 * gets the value 0 and stays zero unless a fill is given), then each vCPU's
 * mt_gen_next() stream.  Several vCPUs are interleaved round-robin (the
 * guest's real interleaving is not deterministic; with vcpus=1 the sequence
 * is exact).  run_start is the index of the first timed access.
 */
#ifndef HV_BENCH_TRACE_H
#define HV_BENCH_TRACE_H

#include <stdint.h>
#include <stdlib.h>

#include "bench_args.h"

struct bench_trace {
	uint32_t *pg;           /* page of access i */
	uint8_t *wr;            /* access i is a write */
	uint64_t n;             /* accesses */
	uint64_t run_start;     /* first access after the init phase */
};

static inline void bench_trace_free(struct bench_trace *t)
{
	free(t->pg);
	free(t->wr);
	t->pg = NULL;
	t->wr = NULL;
}

static inline void bench_trace_init_phase(const struct bench_args *a,
					  struct bench_trace *t)
{
	uint64_t lo[64], hi[64];
	bool more = true;
	unsigned c;

	for (c = 0; c < a->vcpus; c++) {
		lo[c] = a->p.pages * c / a->vcpus;
		hi[c] = a->p.pages * (c + 1) / a->vcpus;
	}
	while (more) {
		more = false;
		for (c = 0; c < a->vcpus; c++) {
			if (lo[c] < hi[c]) {
				t->pg[t->n] = (uint32_t)lo[c]++;
				/* page 0 gets 0: stays zero (no fill) */
				t->wr[t->n++] = lo[c] != 1 || a->fill.kind != FILL_SPARSE;
				more = true;
			}
		}
	}
}

/* Returns 0, or -1 when out of memory or the working set is >= 2^32 pages. */
static inline int bench_trace_build(const struct bench_args *a,
				    struct bench_trace *t)
{
	struct mt_gen g[64];
	uint64_t cap;
	unsigned c;

	t->n = 0;
	if (a->p.pages >= UINT32_MAX)
		return -1;
	cap = (uint64_t)a->p.passes * a->p.pages + (a->init ? a->p.pages : 0) + a->vcpus;
	t->pg = malloc(cap * sizeof(*t->pg));
	t->wr = malloc(cap);
	if (!t->pg || !t->wr) {
		bench_trace_free(t);
		return -1;
	}
	if (a->init)
		bench_trace_init_phase(a, t);
	t->run_start = t->n;
	for (c = 0; c < a->vcpus; c++)
		mt_gen_init(&g[c], &a->p, c, a->vcpus);
	for (bool more = true; more;) {
		more = false;
		for (c = 0; c < a->vcpus; c++) {
			uint64_t p;
			bool w;

			if (mt_gen_next(&g[c], &p, &w)) {
				t->pg[t->n] = (uint32_t)p;
				t->wr[t->n++] = w;
				more = true;
			}
		}
	}
	return 0;
}

#endif /* HV_BENCH_TRACE_H */
