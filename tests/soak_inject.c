/*
 * soak_inject.c - "nothing lost" under injected I/O trouble: guest threads
 * write and verify pages far beyond the resident limit while the injection
 * engine fails writes, shortens and fails reads (once each: the retries
 * must recover), and holds writes to release them later out of order.
 * Every read of a page checks all 512 of its words against what its thread
 * last wrote; the run ends with a full verification.
 *
 * Counts fault + eviction events (the swapper's counters) until
 * $SOAK_EVENTS (default 200000: the ctest size) and prints one JSON line
 * with the totals - the figure docs/reliability.md records for a long run
 * (SOAK_EVENTS=10000000).  The random sequence is seeded ($SOAK_SEED), so a
 * failure can be replayed.
 */
#include "swapper_testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOAK_PAGES 4096u
#define SOAK_THREADS 2u

struct worker {
	pthread_t t;
	struct env *e;
	uint64_t from, to;
	uint64_t seed;
	atomic_bool *stop;
	uint64_t bad, ops;
};

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* A guest thread: random pages of its own range, written (new generation)
 * or read and checked.  Its range is its own, so e->gen needs no lock. */
static void *work(void *arg)
{
	struct worker *w = arg;

	while (!atomic_load(w->stop)) {
		uint64_t r = rnd(&w->seed);
		uint64_t idx = w->from + r % (w->to - w->from);

		if ((r >> 32) % 3 == 0)
			write_page(w->e, idx, (w->e->gen[idx] % 60000) + 1);
		else if (!page_is(w->e, idx, w->e->gen[idx], w->bad < 3))
			w->bad++;
		w->ops++;
	}
	return NULL;
}

static uint64_t events(struct env *e)
{
	return C(e, faults_zero) + C(e, faults_swap) + C(e, faults_staging) +
	       C(e, faults_wp) + C(e, evict_written) + C(e, evict_clean) +
	       C(e, evict_zero);
}

/* One round of trouble, chosen at random.  Read trouble of round k hits
 * only band k % BANDS of the device: a read fails or comes back short at
 * most once per band, and a read's retries (READ_TRIES) can never all be
 * hit - consecutive rounds use different bands, so the swapper must always
 * recover; a fatal stop is then a bug. */
#define BANDS 16u
static void inject(struct env *e, uint64_t *x, uint64_t *held_rel, uint64_t round,
		   uint64_t dev_bytes)
{
	unsigned int skip = (unsigned int)(rnd(x) % 64);
	uint64_t band = dev_bytes / BANDS, lo = (round % BANDS) * band;

	switch (rnd(x) % 32) {
	case 0:         /* rare: a failed write retires its batch's slots */
		add_rule(e, IO_INJ_FAIL, IO_WRITE, 0, 0, 1, 5 /* EIO */);
		break;
	case 1:
	case 2:
	case 3:
		add_rule(e, IO_INJ_FAIL, IO_READ, lo, lo + band, 1, 5);
		break;
	case 4:
	case 5:
	case 6:
		add_rule(e, IO_INJ_SHORT, IO_READ, lo, lo + band, 1, 0);
		break;
	default: {
		struct io_inj_rule r = { .action = IO_INJ_HOLD, .op = IO_WRITE,
					 .skip = skip, .count = 4 };

		assert_int_equal(io_inject_add_rule(e->inj, &r), 0);
	}
	}
	/* release held writes in a random order (reorder) */
	while (io_inject_held(e->inj)) {
		unsigned int n = io_inject_held(e->inj);

		*held_rel += (uint64_t)io_inject_release(e->inj, (int)(rnd(x) % n));
	}
}

static void test_soak(void **state)
{
	const char *ev = getenv("SOAK_EVENTS"), *sd = getenv("SOAK_SEED");
	uint64_t want = ev ? strtoull(ev, NULL, 10) : 200000;
	uint64_t seed = sd ? strtoull(sd, NULL, 10) : 0x9e3779b97f4a7c15ull;
	struct opts o = { .npages = SOAK_PAGES, .limit_pages = 512, .polled = true,
			  .swap_bytes = 256ull << 20 };
	struct worker w[SOAK_THREADS];
	uint64_t x = seed | 1, rounds = 0, released = 0, bad = 0, ops = 0, t0;
	atomic_bool stop = false;
	struct env e;
	unsigned int i;

	(void)state;
	env_setup(&e, &o);
	alarm(0);               /* sized by events, not time: no alarm */
	write_range(&e, 0, SOAK_PAGES, 1);
	for (i = 0; i < SOAK_THREADS; i++) {
		w[i] = (struct worker){ .e = &e, .stop = &stop, .seed = seed + i + 1,
					.from = i * (SOAK_PAGES / SOAK_THREADS),
					.to = (i + 1) * (SOAK_PAGES / SOAK_THREADS) };
		assert_int_equal(pthread_create(&w[i].t, NULL, work, &w[i]), 0);
	}
	t0 = now_ms();
	while (events(&e) < want && fatal_calls(&e) == 0) {
		io_inject_clear_rules(e.inj);
		inject(&e, &x, &released, rounds, o.swap_bytes);
		rounds++;
		usleep(5000);   /* pacing of the trouble, not synchronisation */
	}
	atomic_store(&stop, true);
	io_inject_clear_rules(e.inj);
	io_inject_release(e.inj, -1);
	for (i = 0; i < SOAK_THREADS; i++) {
		assert_int_equal(timed_join(w[i].t, WAIT_MS), 0);
		bad += w[i].bad;
		ops += w[i].ops;
	}
	assert_int_equal(fatal_calls(&e), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(verify_range(&e, 0, SOAK_PAGES), 0);
	printf("{\"soak\": {\"events\": %llu, \"guest_ops\": %llu, \"rounds\": %llu, "
	       "\"injected_failures\": %llu, \"held_released\": %llu, "
	       "\"write_errors\": %llu, \"read_errors\": %llu, \"read_retries\": %llu, "
	       "\"slots_retired\": %llu, \"lost\": 0, \"seconds\": %.1f, "
	       "\"seed\": %llu}}\n",
	       (unsigned long long)events(&e), (unsigned long long)ops,
	       (unsigned long long)rounds,
	       (unsigned long long)io_inject_failed(e.inj),
	       (unsigned long long)released,
	       (unsigned long long)C(&e, write_errors),
	       (unsigned long long)C(&e, read_errors),
	       (unsigned long long)C(&e, read_retries),
	       (unsigned long long)C(&e, slots_retired),
	       (double)(now_ms() - t0) / 1000.0, (unsigned long long)seed);
	env_teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_soak),
	};

	return TL_MAIN(tests);
}
