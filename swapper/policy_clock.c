/*
 * policy_clock.c - second-chance CLOCK over resident pages.
 *
 * What the host really tells us about guest accesses (PLATFORM.md): every
 * fault that brings a page in (the guest touched it), and every first write
 * to a clean page installed write-protected.  Both set PG_REF in the page
 * word.  Reads of resident pages are invisible without taking pages away,
 * which is a later policy's job (access sampling).
 *
 * The hand sweeps page indices; a resident page with REF loses it and is
 * passed over (second chance), one without REF is proposed.  State: the
 * hand, touched only by the reclaim thread.  REF is cleared without the
 * page lock (a compare-and-swap that leaves SWAPPED words, whose low bits
 * are a seal, alone): losing a race with a fault that sets it again only
 * means one more second chance.
 *
 * "clock-dirty" (SWAPPER_POLICY_CLOCK_DIRTY) adds what KVM's dirty log
 * tells: every time the hand has swept an eighth of the pages, the log is
 * harvested (swapper_config.dirty_log, KVM_GET_DIRTY_LOG) and every
 * resident page the guest wrote since gets REF - writes to resident pages
 * are otherwise invisible.  The policy lab (docs/benchmarks.md) measured
 * this at 5.7 % fewer swap-ins than fault-only CLOCK at 0 bytes per page.
 * The log's cost is one KVM write-protect fault per written page per
 * harvest, in the kernel (no exit to the VMM).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct clock_state {
	uint64_t hand;
	bool dirty;             /* clock-dirty */
	uint64_t swept;         /* pages the hand passed since the harvest */
	uint64_t *bitmap;       /* the largest region's log (made at the first
				 * harvest: regions come after init) */
};

static int clock_init_with(void **state, bool dirty)
{
	struct clock_state *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->dirty = dirty;
	*state = c;
	return 0;
}

static int clock_init(struct swapper *s, void **state)
{
	(void)s;
	return clock_init_with(state, false);
}

static int clock_dirty_init(struct swapper *s, void **state)
{
	if (!s->cfg.dirty_log)
		return -EINVAL;
	return clock_init_with(state, true);
}

static void clock_fini(void *state)
{
	struct clock_state *c = state;

	if (c)
		free(c->bitmap);
	free(c);
}

/* The guest's writes since the last harvest become references. */
static void mark_ref(struct swapper *s, uint64_t idx)
{
	pg_set_resident_unlocked(&s->pages[idx], PG_REF);
}

bool policy_clock_harvest(struct swapper *s, uint64_t **bitmap,
			  void (*mark)(struct swapper *s, uint64_t idx))
{
	uint64_t most = 0;
	unsigned int i;

	if (!*bitmap) {
		for (i = 0; i < s->nr_regions; i++)
			if (s->regions[i].npages > most)
				most = s->regions[i].npages;
		*bitmap = core_zalloc(s, (most + 63) / 64 * sizeof(uint64_t));
		if (!*bitmap)
			return false;   /* counted in alloc_failures */
	}
	atomic_fetch_add(&s->c.dirty_harvests, 1);
	for (i = 0; i < s->nr_regions; i++) {
		const struct region *rg = &s->regions[i];
		uint64_t nw = (rg->npages + 63) / 64, k, refs = 0, *bm = *bitmap;

		memset(bm, 0, nw * sizeof(uint64_t));
		if (s->cfg.dirty_log(s->cfg.opaque, rg->gpa, rg->npages, bm) < 0) {
			atomic_fetch_add(&s->c.dirty_log_errors, 1);
			continue;
		}
		for (k = 0; k < nw; k++) {
			uint64_t m = bm[k];

			while (m) {
				uint64_t j = k * 64 + (uint64_t)__builtin_ctzll(m);

				m &= m - 1;
				if (j >= rg->npages)
					break;
				mark(s, rg->first + j);
				refs++;
			}
		}
		atomic_fetch_add(&s->c.dirty_pages, refs);
	}
	return true;
}

static void harvest(struct swapper *s, struct clock_state *c)
{
	c->swept = 0;
	if (!policy_clock_harvest(s, &c->bitmap, mark_ref))
		c->dirty = false;
}

static unsigned int clock_select(struct swapper *s, void *state, uint64_t *out,
				 unsigned int n)
{
	struct clock_state *c = state;
	uint64_t scanned, limit = 2 * s->npages + 1;
	unsigned int got = 0;

	for (scanned = 0; scanned < limit && got < n; scanned++) {
		uint64_t idx = c->hand, w;

		if (c->dirty && c->swept++ >= s->npages / 8)
			harvest(s, c);
		c->hand = (c->hand + 1) % s->npages;
		w = atomic_load(&s->pages[idx]);
		if (pg_state(w) != PS_RESIDENT || (w & PG_PINNED))
			continue;
		if (w & PG_REF) {
			pg_clear_unlocked(&s->pages[idx], PG_REF);
			continue;
		}
		out[got++] = idx;
	}
	return got;
}

const struct policy_ops policy_clock_ops = {
	.name = "clock",
	.init = clock_init,
	.fini = clock_fini,
	.select = clock_select,
};

const struct policy_ops policy_clock_dirty_ops = {
	.name = "clock-dirty",
	.init = clock_dirty_init,
	.fini = clock_fini,
	.select = clock_select,
};
