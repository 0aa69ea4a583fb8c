/*
 * swapper_testlib.c - the swapper tests' shared support (see
 * swapper_testlib.h for what it offers and the rules it sets).
 *
 * Owns: per environment, the guest memory, the swapper (which owns the
 * injection engine and the inner engine), the expected generation of every
 * page and the fatal() record.  The record is the only state written by
 * the swapper's threads; its lock is a plain test mutex, never taken by the
 * swapper.  Page words are read under the swapper's page lock, taken
 * through page_lock() so that lock-order checking (HV_LOCKDEP) sees the
 * test threads too.  Nothing here is file-scope mutable state.
 */
#include "swapper_testlib.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hvswap/log.h"
#include "uffd.h"

/* ---- time and bounded waits ---- */

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void negative_check_window(unsigned int ms)
{
	usleep(ms * 1000u);
}

int timed_join(pthread_t t, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);     /* pthread_timedjoin_np's clock */
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return pthread_timedjoin_np(t, NULL, &ts);
}

/* ---- fatal() record ---- */

static void on_fatal(void *opaque, int err, const char *msg)
{
	struct fatal_rec *f = opaque;

	pthread_mutex_lock(&f->lock);
	if (!f->v.calls++) {
		f->v.err = err;
		snprintf(f->v.msg, sizeof(f->v.msg), "%s", msg);
	}
	pthread_mutex_unlock(&f->lock);
}

struct fatal_seen fatal_get(struct env *e)
{
	struct fatal_seen v;

	pthread_mutex_lock(&e->fatal->lock);
	v = e->fatal->v;
	pthread_mutex_unlock(&e->fatal->lock);
	return v;
}

int fatal_calls(struct env *e)
{
	return fatal_get(e).calls;
}

/* ---- the environment ---- */

enum gmem_backing test_backing(void)
{
	const char *b = getenv("HV_TEST_BACKING");
	enum gmem_backing v = GMEM_ANON;

	if (b && *b && gmem_backing_parse(b, &v) < 0) {
		fprintf(stderr, "HV_TEST_BACKING=%s: must be anon or memfd\n", b);
		exit(2);
	}
	return v;
}

static void config(struct env *e, const struct opts *o, struct swapper_config *c)
{
	unsigned int i;

	memset(c, 0, sizeof(*c));
	c->mem_limit = o->limit_pages * PG;
	c->tmpdir = "/var/tmp";
	if (o->ndevs) {
		c->nr_devs = o->ndevs;
		for (i = 0; i < o->ndevs; i++) {
			c->devs[i].path = NULL;
			c->devs[i].size = o->dev_bytes;
			c->devs[i].prio = 10 - (int)i;
		}
	} else {
		c->swap_size = o->swap_bytes ? o->swap_bytes : 4 * e->npages * PG;
	}
	c->engine = io_inject_engine(e->inj);
	c->queue_depth = o->queue_depth;
	c->write_batch = o->huge ? 2 : TL_BATCH;
	c->huge_pages = o->huge;
	c->staging_pages = o->staging_pages;
	c->max_longterm_pin_bytes = o->longterm_pin_bytes;
	c->allow_buffered = !o->no_buffered;
	c->no_move = o->no_move;
	c->no_wp = o->no_wp;
	c->no_zero_copy = o->no_zero_copy;
	c->on_full = o->on_full;
	c->fault_around = o->fault_around;
	c->fault_spin_us = o->fault_spin_us;
	c->ztier = o->ztier;
	c->ztier_bytes = o->ztier_bytes;
	c->policy = o->policy;
	c->dirty_log = o->dirty_log;
	/* Deterministic page words: swapped-in pages always installed clean,
	 * unless the test is about the adaptive policy. */
	c->clean_policy = o->clean_auto ? SWAPPER_CLEAN_AUTO : SWAPPER_CLEAN_ALWAYS;
	c->fatal = on_fatal;
	c->opaque = e->fatal;
}

static void engine_create(struct env *e, const struct opts *o)
{
	const char *eng = o->engine ? o->engine : "libaio";
	unsigned int fl = o->polled ? IO_ENGINE_POLLED : 0;
	struct io_engine *inner = NULL;
	int r;

	r = io_engine_create_flags(eng, o->queue_depth, fl, &inner);
	if (r < 0 && strcmp(eng, "sync")) {
		print_message("engine %s unavailable (%s): using sync\n", eng, strerror(-r));
		r = io_engine_create_flags("sync", o->queue_depth, fl, &inner);
	}
	assert_int_equal(r, 0);
	assert_int_equal(io_inject_create(inner, &e->inj), 0);
}

void env_setup(struct env *e, const struct opts *o)
{
	struct swapper_config cfg;
	struct opts dflt = { 0 };

	alarm(TEST_ALARM_S);
	memset(e, 0, sizeof(*e));
	e->o = o ? *o : dflt;
	if (!e->o.npages)
		e->o.npages = TL_NPAGES;
	if (!e->o.limit_pages)
		e->o.limit_pages = TL_LIMIT_PAGES;
	if (!e->o.queue_depth)
		e->o.queue_depth = 64;
	/* HV_TEST_POLLED=1 runs a whole suite with polled engines: the
	 * fault thread runs the completions, as in production. */
	if (getenv("HV_TEST_POLLED") && atoi(getenv("HV_TEST_POLLED")))
		e->o.polled = true;
	/* HV_TEST_POLICY=arcw: a suite under the arcw policy wherever a
	 * test leaves the policy at its default (issue 12) */
	if (e->o.policy == SWAPPER_POLICY_CLOCK && getenv("HV_TEST_POLICY") &&
	    !strcmp(getenv("HV_TEST_POLICY"), "arcw"))
		e->o.policy = SWAPPER_POLICY_ARCW;
	/* HV_TEST_ZERO_COPY=0: memfd suites through bounce buffers */
	if (getenv("HV_TEST_ZERO_COPY") && !atoi(getenv("HV_TEST_ZERO_COPY")))
		e->o.no_zero_copy = true;
	e->npages = e->o.npages;
	e->fatal = calloc(1, sizeof(*e->fatal));
	assert_non_null(e->fatal);
	pthread_mutex_init(&e->fatal->lock, NULL);
	e->gen = calloc(e->npages, sizeof(*e->gen));
	assert_non_null(e->gen);
	assert_int_equal(gmem_create(e->o.huge ? (e->o.thp ? GMEM_THP : GMEM_HUGETLB) :
				     e->o.memfd ? GMEM_MEMFD : test_backing(),
				     e->npages * PG, "test-swapper", &e->mem), 0);
	e->base = e->mem->host;
	engine_create(e, &e->o);
	config(e, &e->o, &cfg);
	assert_true(cfg.mem_limit / PG >= 4 * TL_BATCH);
	assert_int_equal(swapper_create(&cfg, &e->s), 0);
	assert_int_equal(swapper_add_region(e->s, e->mem, GPA), 0);
	e->s->hook_arg = e->o.hook_arg;
	e->s->hook = e->o.hook;
	assert_int_equal(swapper_start(e->s), 0);
	/* memfd memory has no UFFDIO_MOVE: the write-protect path always */
	assert_int_equal(e->s->use_move, !e->o.no_move && e->s->caps.move &&
			 (e->mem->backing == GMEM_ANON || e->mem->backing == GMEM_THP));
	assert_int_equal(e->s->use_wp, !e->o.no_wp && e->s->caps.wp);
}

void env_teardown(struct env *e)
{
	int calls;

	if (e->s)
		swapper_destroy(e->s);  /* owns and destroys the engines */
	e->s = NULL;
	e->inj = NULL;
	gmem_destroy(e->mem);
	free(e->gen);
	calls = fatal_calls(e);
	pthread_mutex_destroy(&e->fatal->lock);
	free(e->fatal);
	e->fatal = NULL;
	alarm(0);
	if (e->o.no_fatal)
		assert_int_equal(calls, 0);
}

/* ---- guest pages ---- */

uint64_t pat(uint64_t idx, unsigned int gen, unsigned int k)
{
	return 0x5A00000000000000ull | (idx << 28) | ((uint64_t)gen << 12) | k;
}

volatile uint64_t *page_ptr(struct env *e, uint64_t idx)
{
	return (volatile uint64_t *)(e->base + idx * PG);
}

/*
 * Guest accesses.  A real guest's are invisible to TSan (vCPUs run in KVM)
 * and are ordered against the swapper only by the kernel (UFFDIO_MOVE,
 * write-protect, page-table changes), which TSan cannot see either: keep the
 * test's "guest" accesses uninstrumented too, like a vCPU's.
 */
#define GUEST_ACCESS __attribute__((noinline, no_sanitize("thread")))

static GUEST_ACCESS void guest_fill(volatile uint64_t *p, uint64_t idx, unsigned int gen)
{
	unsigned int k;

	for (k = 0; k < WORDS; k++)
		p[k] = pat(idx, gen, k);
}

GUEST_ACCESS int guest_check(const volatile uint64_t *p, uint64_t idx,
			     unsigned int gen, uint64_t *got)
{
	unsigned int k;

	for (k = 0; k < WORDS; k++) {
		uint64_t v = p[k];

		if (v != (gen ? pat(idx, gen, k) : 0)) {
			*got = v;
			return (int)k;
		}
	}
	return -1;
}

GUEST_ACCESS uint64_t guest_load(const volatile uint64_t *p)
{
	return *p;
}

void write_page(struct env *e, uint64_t idx, unsigned int gen)
{
	guest_fill(page_ptr(e, idx), idx, gen);
	e->gen[idx] = (uint16_t)gen;
}

void write_range(struct env *e, uint64_t from, uint64_t to, unsigned int gen)
{
	uint64_t i;

	for (i = from; i < to; i++)
		write_page(e, i, gen);
	/* The last write's fault may still be finishing its bookkeeping after
	 * it let us through (UFFDIO_COPY wakes first): a trim right after
	 * would miss that page.  Faults are served in order, so settling the
	 * last one settles them all. */
	if (to > from)
		settle(e, to - 1);
}

void stamp(struct env *e, uint64_t idx)
{
	write_page(e, idx, e->gen[idx] + 1u);
}

bool page_is(struct env *e, uint64_t idx, unsigned int gen, bool report)
{
	uint64_t v = 0;
	int k = guest_check(page_ptr(e, idx), idx, gen, &v);

	if (k >= 0 && report)
		print_message("page %llu word %d: 0x%016llx, want 0x%016llx "
			      "(page word 0x%llx)\n", (unsigned long long)idx, k,
			      (unsigned long long)v,
			      (unsigned long long)(gen ? pat(idx, gen, (unsigned int)k) : 0),
			      (unsigned long long)atomic_load(&e->s->pages[idx]));
	return k < 0;
}

bool check_page(struct env *e, uint64_t idx)
{
	return page_is(e, idx, e->gen[idx], true);
}

unsigned int verify_range(struct env *e, uint64_t from, uint64_t to)
{
	unsigned int bad = 0;
	uint64_t i;

	for (i = from; i < to; i++) {
		if (!page_is(e, i, e->gen[i], bad < 5))
			bad++;
	}
	if (to > from)
		settle(e, to - 1);      /* as write_range() */
	return bad;
}

void assert_page_ok(struct env *e, uint64_t idx)
{
	if (!check_page(e, idx))
		fail_msg("page %llu does not hold generation %u",
			 (unsigned long long)idx, e->gen[idx]);
}

void assert_all_pages_ok(struct env *e)
{
	uint64_t i;

	for (i = 0; i < e->npages; i++)
		assert_page_ok(e, i);
}

/* ---- page words ---- */

void settle(struct env *e, uint64_t idx)
{
	page_lock(e->s, idx);
	page_unlock(e->s, idx);
}

uint64_t word_of(struct env *e, uint64_t idx)
{
	uint64_t w;

	page_lock(e->s, idx);
	w = atomic_load(&e->s->pages[idx]);
	page_unlock(e->s, idx);
	return w;
}

enum page_state state_of(struct env *e, uint64_t idx)
{
	return pg_state(word_of(e, idx));
}

uint64_t slot_off(struct env *e, uint64_t idx)
{
	return gslot_off(pg_slot(word_of(e, idx))) * e->s->psz;
}

void wait_state(struct env *e, uint64_t idx, enum page_state st)
{
	if (!WAIT_UNTIL(state_of(e, idx) == st, WAIT_MS))
		fail_msg("page %llu never reached state %d (word %llx)",
			 (unsigned long long)idx, st,
			 (unsigned long long)word_of(e, idx));
}

/* ---- devices, trim generations, stats ---- */

struct swap_dev_usage dev_usage(struct env *e, int dev)
{
	struct swap_dev_usage u = { 0 };

	if (e->s->devs[dev])
		swap_dev_usage(e->s->devs[dev], &u);
	return u;
}

uint64_t trim_gen_of(struct swapper *s)
{
	uint64_t g;

	lock_mutex(&s->rc_lock, LK_LEAF);
	g = s->trim_gen;
	unlock_mutex(&s->rc_lock, LK_LEAF);
	return g;
}

uint64_t trim_gen_done(struct swapper *s)
{
	uint64_t g;

	lock_mutex(&s->rc_lock, LK_LEAF);
	g = s->trim_done_gen;
	unlock_mutex(&s->rc_lock, LK_LEAF);
	return g;
}

uint64_t json_u64(struct json_object *o, const char *a, const char *b)
{
	struct json_object *x = NULL, *y = NULL;

	assert_true(json_object_object_get_ex(o, a, &x));
	if (!b)
		return json_object_get_uint64(x);
	assert_true(json_object_object_get_ex(x, b, &y));
	return json_object_get_uint64(y);
}

/* ---- injection ---- */

void add_rule(struct env *e, enum io_inj_action a, int op, uint64_t lo,
	      uint64_t hi, unsigned int count, int err)
{
	struct io_inj_rule r = { .action = a, .op = op, .off_lo = lo, .off_hi = hi,
				 .count = count, .err = err };

	assert_int_equal(io_inject_add_rule(e->inj, &r), 0);
}

void hold(struct env *e, int op, uint64_t lo, uint64_t hi, unsigned int count)
{
	add_rule(e, IO_INJ_HOLD, op, lo, hi, count, 0);
}

void wait_held(struct env *e, unsigned int n)
{
	assert_int_equal(io_inject_wait_held(e->inj, n, WAIT_MS), 0);
}

unsigned int held_of_op(struct env *e, int op)
{
	unsigned int i, n = 0;
	int o;

	for (i = 0; io_inject_held_info(e->inj, i, &o, NULL) == 0; i++)
		n += o == op;
	return n;
}

/* ---- background operations ---- */

static const char *const bg_names[] = {
	[BG_READ] = "read", [BG_TRIM] = "trim", [BG_MIGRATE] = "migrate",
	[BG_COMPACT] = "compact", [BG_SWAPOFF] = "swapoff", [BG_STATS] = "stats",
};

static void *bg_main(void *arg)
{
	struct bg_op *o = arg;

	atomic_store(&o->state, 1);
	switch (o->kind) {
	case BG_READ:
		o->ok = guest_check(o->page, o->idx, o->gen, &o->bad) < 0;
		break;
	case BG_TRIM:
		o->ret = swapper_trim(o->s);
		break;
	case BG_MIGRATE:
		o->ret = swapper_migrate(o->s, o->a, o->b);
		break;
	case BG_COMPACT:
		o->ret = swapper_compact(o->s, o->a);
		break;
	case BG_SWAPOFF:
		o->ret = swapper_swapoff(o->s, o->a);
		break;
	case BG_STATS:
		o->json = swapper_stats_json(o->s);
		o->ret = o->json ? 0 : -ENOMEM;
		break;
	}
	atomic_store(&o->state, 2);
	atomic_store(&o->done, true);
	return NULL;
}

void bg_start(struct bg_op *o, struct env *e, enum bg_kind kind, uint64_t idx,
	      int a, int b)
{
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->s = e->s;
	o->idx = idx;
	o->a = a;
	o->b = b;
	o->ret = -1;
	if (kind == BG_READ) {
		o->page = page_ptr(e, idx);
		o->gen = e->gen[idx];
	}
	assert_int_equal(pthread_create(&o->t, NULL, bg_main, o), 0);
}

bool bg_try_join(struct bg_op *o, int ms)
{
	if (!o->joined && timed_join(o->t, ms) == 0)
		o->joined = true;
	return o->joined;
}

void bg_join(struct bg_op *o, int ms)
{
	if (!bg_try_join(o, ms))
		fail_msg("background %s did not finish in %d ms", bg_names[o->kind], ms);
	if (o->kind == BG_READ && !o->ok)
		fail_msg("page %llu read 0x%016llx, not generation %u",
			 (unsigned long long)o->idx, (unsigned long long)o->bad, o->gen);
}

void reader_start(struct bg_op *o, struct env *e, uint64_t idx)
{
	bg_start(o, e, BG_READ, idx, 0, 0);
}

void bg_trim_start(struct bg_op *o, struct env *e)
{
	bg_start(o, e, BG_TRIM, 0, 0, 0);
}

void bg_trim_join(struct bg_op *o, int ms)
{
	bg_join(o, ms);
	assert_int_equal(o->ret, 0);
}

void trim(struct env *e)
{
	/* On the heap: a trim that never ends (a failed test) keeps its
	 * thread writing into it after this frame is gone. */
	struct bg_op *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	bg_trim_start(b, e);
	bg_trim_join(b, TRIM_WAIT_MS);
	free(b);
}

/* ---- main ---- */

int tl_main(const char *name, const struct CMUnitTest *tests, size_t n)
{
	struct uffd_caps caps;
	int r = uffd_probe(&caps);

	if (r == -EPERM || r == -ENOSYS) {
		fprintf(stderr, "userfaultfd unavailable (%s): skipping\n", strerror(-r));
		return 77;
	}
	if (r < 0) {
		fprintf(stderr, "uffd_probe: %s\n", strerror(-r));
		return 1;
	}
	if (test_backing() == GMEM_MEMFD && !(caps.shmem && caps.wp_shmem)) {
		fprintf(stderr, "this kernel's userfaultfd lacks %s on shmem: "
			"memfd memory cannot be swapped here; skipping\n",
			caps.shmem ? "write-protect" : "MISSING faults");
		return 77;
	}
	hv_log_set_level(getenv("TEST_LOG_DEBUG") ? HV_LOG_DEBUG : HV_LOG_ERR);
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	r = _cmocka_run_group_tests(name, tests, n, NULL, NULL);
	if (r) {
		fflush(NULL);
		_exit(1);
	}
	return 0;
}
