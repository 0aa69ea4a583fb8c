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
 * hand, touched only by the reclaim thread.  REF is cleared with an atomic
 * AND, without the page lock: losing a race with a fault that sets it again
 * only means one more second chance.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

struct clock_state {
	uint64_t hand;
};

static int clock_init(struct swapper *s, void **state)
{
	struct clock_state *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	*state = c;
	return 0;
}

static void clock_fini(void *state)
{
	free(state);
}

static unsigned int clock_select(struct swapper *s, void *state, uint64_t *out,
				 unsigned int n)
{
	struct clock_state *c = state;
	uint64_t scanned, limit = 2 * s->npages + 1;
	unsigned int got = 0;

	for (scanned = 0; scanned < limit && got < n; scanned++) {
		uint64_t idx = c->hand, w;

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
