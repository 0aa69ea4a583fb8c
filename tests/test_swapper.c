/*
 * test_swapper.c - deterministic tests of the swapper core: fault service
 * (fault.c), eviction and write completion (reclaim.c), lifecycle and trim
 * (swapper.c).
 *
 * Host threads play the vCPUs: the swapper serves a test thread touching a
 * registered region exactly like a vCPU in KVM_RUN.  Every guest page is
 * stamped with (index, generation) in all 512 of its words and verified word
 * by word; a page never written must read back as zeros and a written page
 * must never read back as zeros.  Races (faults during write-out, two
 * faulters on one page, teardown with I/O in flight) and errors (write/read
 * failures, swap full) are made deterministic with the injection engine
 * (swapper/io.h): HOLD parks requests until the test releases them, FAIL
 * completes them with an error.  Counters are read from the swapper object
 * itself (internal.h); one test cross-checks swapper_stats_json().
 *
 * Every wait is bounded (polls with a deadline, timed joins); a per-test
 * alarm() kills the process rather than let a lost wake-up hang ctest.
 * Exit 77 only when userfaultfd is unavailable (EPERM/ENOSYS).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hvswap/gmem.h"
#include "hvswap/log.h"
#include "hvswap/swapper.h"
#include "internal.h"
#include "io.h"
#include "swap_dev.h"
#include "uffd.h"

#define PG 4096ull
#define WORDS (PG / 8)
#define MiB (1024ull * 1024)
#define GPA 0x200000ull
#define NPAGES 4096u
#define LIMIT_PAGES 256u
#define BATCH 16u
#define WAIT_MS 30000          /* generous: /var/tmp may be shared with busy jobs */
#define TEST_ALARM_S 150

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

/* ---- fatal callback ---- */

static struct {
	pthread_mutex_t lock;
	int calls;
	int err;
	char msg[512];
} g_fatal = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void on_fatal(void *opaque, int err, const char *msg)
{
	(void)opaque;
	pthread_mutex_lock(&g_fatal.lock);
	if (!g_fatal.calls++) {
		g_fatal.err = err;
		snprintf(g_fatal.msg, sizeof(g_fatal.msg), "%s", msg);
	}
	pthread_mutex_unlock(&g_fatal.lock);
}

static int fatal_calls(void)
{
	int n;

	pthread_mutex_lock(&g_fatal.lock);
	n = g_fatal.calls;
	pthread_mutex_unlock(&g_fatal.lock);
	return n;
}

static void fatal_reset(void)
{
	pthread_mutex_lock(&g_fatal.lock);
	g_fatal.calls = 0;
	g_fatal.err = 0;
	g_fatal.msg[0] = 0;
	pthread_mutex_unlock(&g_fatal.lock);
}

/* ---- time / bounded waits ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Poll `cond` every 0.5 ms for up to `ms`; evaluates to its final value. */
#define WAIT_UNTIL(cond, ms) ({                                         \
	uint64_t _dl = now_ms() + (uint64_t)(ms);                       \
	bool _ok;                                                       \
	while (!(_ok = (cond)) && now_ms() < _dl)                       \
		usleep(500);                                            \
	_ok;                                                            \
})

/* ---- the test environment ---- */

struct opts {
	uint64_t npages;
	uint64_t limit_pages;
	uint64_t swap_bytes;
	const char *engine;            /* "libaio" (default) or "sync" */
	bool no_move, no_wp;
	enum swapper_full_policy on_full;
	unsigned int fault_around;
	unsigned int queue_depth;      /* 0: 64 */
	bool clean_auto;               /* else SWAPPER_CLEAN_ALWAYS */
};

struct env {
	struct gmem *mem;
	struct swapper *s;
	struct io_inject *inj;
	uint8_t *base;
	uint64_t npages;
	uint16_t *gen;                 /* expected generation; 0 = never written */
};

#define C(e, f) atomic_load(&(e)->s->c.f)

static void env_setup(struct env *e, const struct opts *o)
{
	struct swapper_config cfg;
	struct io_engine *inner = NULL;
	const char *eng = o->engine ? o->engine : "libaio";
	uint64_t np = o->npages ? o->npages : NPAGES;
	int r;

	alarm(TEST_ALARM_S);
	fatal_reset();
	memset(e, 0, sizeof(*e));
	e->npages = np;
	e->gen = calloc(np, sizeof(*e->gen));
	assert_non_null(e->gen);
	assert_int_equal(gmem_create(GMEM_ANON, np * PG, "test-swapper", &e->mem), 0);
	e->base = e->mem->host;

	unsigned int qd = o->queue_depth ? o->queue_depth : 64;

	r = io_engine_create(eng, qd, &inner);
	if (r < 0 && strcmp(eng, "sync")) {
		print_message("engine %s unavailable (%s): using sync\n", eng, strerror(-r));
		r = io_engine_create("sync", qd, &inner);
	}
	assert_int_equal(r, 0);
	assert_int_equal(io_inject_create(inner, &e->inj), 0);

	memset(&cfg, 0, sizeof(cfg));
	cfg.mem_limit = (o->limit_pages ? o->limit_pages : LIMIT_PAGES) * PG;
	cfg.tmpdir = "/var/tmp";
	cfg.swap_size = o->swap_bytes ? o->swap_bytes : 4 * np * PG;
	cfg.engine = io_inject_engine(e->inj);
	cfg.queue_depth = qd;
	cfg.write_batch = BATCH;
	cfg.allow_buffered = true;
	cfg.no_move = o->no_move;
	cfg.no_wp = o->no_wp;
	cfg.on_full = o->on_full;
	cfg.fault_around = o->fault_around;
	/* Deterministic page words: swapped-in pages always installed clean,
	 * unless the test is about the adaptive policy. */
	cfg.clean_policy = o->clean_auto ? SWAPPER_CLEAN_AUTO : SWAPPER_CLEAN_ALWAYS;
	cfg.fatal = on_fatal;
	cfg.opaque = e;
	assert_true(cfg.mem_limit / PG >= 4 * BATCH);
	assert_int_equal(swapper_create(&cfg, &e->s), 0);
	assert_int_equal(swapper_add_region(e->s, e->mem, GPA), 0);
	assert_int_equal(swapper_start(e->s), 0);
	assert_int_equal(e->s->use_move, !o->no_move && e->s->caps.move);
	assert_int_equal(e->s->use_wp, !o->no_wp && e->s->caps.wp);
}

static void env_teardown(struct env *e)
{
	swapper_destroy(e->s);          /* owns and destroys the engines */
	e->s = NULL;
	e->inj = NULL;
	gmem_destroy(e->mem);
	free(e->gen);
	alarm(0);
}

/* ---- page patterns ---- */

static inline uint64_t pat(uint64_t idx, unsigned int gen, unsigned int k)
{
	return 0x5A00000000000000ull | (idx << 28) | ((uint64_t)gen << 12) | k;
}

static volatile uint64_t *page_ptr(struct env *e, uint64_t idx)
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

/* -1 if page p holds (idx, gen) (gen 0: zeros), else the first bad word. */
static GUEST_ACCESS int guest_check(const volatile uint64_t *p, uint64_t idx,
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

static GUEST_ACCESS uint64_t guest_load(const volatile uint64_t *p)
{
	return *p;
}

static void write_page(struct env *e, uint64_t idx, unsigned int gen)
{
	guest_fill(page_ptr(e, idx), idx, gen);
	e->gen[idx] = (uint16_t)gen;
}

static void write_range(struct env *e, uint64_t from, uint64_t to, unsigned int gen)
{
	uint64_t i;

	for (i = from; i < to; i++)
		write_page(e, i, gen);
}

/* Returns true if page idx holds generation gen (0: all zeros). */
static bool page_is(struct env *e, uint64_t idx, unsigned int gen, bool report)
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

static bool check_page(struct env *e, uint64_t idx)
{
	return page_is(e, idx, e->gen[idx], true);
}

/* Verify [from, to) against the expected generations; 0 mismatches wanted. */
static unsigned int verify_range(struct env *e, uint64_t from, uint64_t to)
{
	unsigned int bad = 0;
	uint64_t i;

	for (i = from; i < to; i++) {
		if (!page_is(e, i, e->gen[i], bad < 5))
			bad++;
	}
	return bad;
}

/*
 * The fault handler wakes the faulting thread (inside the uffd ioctl) before
 * it updates the page word and counters, all under the page lock: take that
 * lock once to see the outcome of the fault that just let us through.
 */
static void settle(struct env *e, uint64_t idx)
{
	page_lock(e->s, idx);
	page_unlock(e->s, idx);
}

static uint64_t word_of(struct env *e, uint64_t idx)
{
	uint64_t w;

	page_lock(e->s, idx);
	w = atomic_load(&e->s->pages[idx]);
	page_unlock(e->s, idx);
	return w;
}

static enum page_state state_of(struct env *e, uint64_t idx)
{
	return pg_state(word_of(e, idx));
}

/* ---- helper threads ---- */

static int timed_join(pthread_t t, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return pthread_timedjoin_np(t, NULL, &ts);
}

struct bg_trim {
	pthread_t t;
	struct swapper *s;
	int ret;
	atomic_bool done;
};

static void *bg_trim_main(void *arg)
{
	struct bg_trim *b = arg;

	b->ret = swapper_trim(b->s);
	atomic_store(&b->done, true);
	return NULL;
}

static void bg_trim_start(struct bg_trim *b, struct swapper *s)
{
	memset(b, 0, sizeof(*b));
	b->s = s;
	b->ret = -1;
	assert_int_equal(pthread_create(&b->t, NULL, bg_trim_main, b), 0);
}

static void bg_trim_join(struct bg_trim *b, int ms)
{
	assert_int_equal(timed_join(b->t, ms), 0);
	assert_int_equal(b->ret, 0);
}

/* swapper_trim() with a bound: fail instead of hanging. */
static void trim(struct env *e)
{
	struct bg_trim b;

	bg_trim_start(&b, e->s);
	bg_trim_join(&b, 60000);
}

static uint64_t trim_gen_done(struct swapper *s)
{
	uint64_t g;

	pthread_mutex_lock(&s->rc_lock);
	g = s->trim_done_gen;
	pthread_mutex_unlock(&s->rc_lock);
	return g;
}

/* A thread reading one page (faulting on it) and checking it. */
struct reader {
	pthread_t t;
	volatile uint64_t *page;       /* not the env: it may go away first */
	uint64_t idx;
	unsigned int gen;
	atomic_int state;              /* 0 new, 1 accessing, 2 done */
	bool ok;
	uint64_t bad;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	atomic_store(&r->state, 1);
	r->ok = guest_check(r->page, r->idx, r->gen, &r->bad) < 0;
	atomic_store(&r->state, 2);
	return NULL;
}

static void reader_start(struct reader *r, struct env *e, uint64_t idx)
{
	memset(r, 0, sizeof(*r));
	r->page = page_ptr(e, idx);
	r->idx = idx;
	r->gen = e->gen[idx];
	assert_int_equal(pthread_create(&r->t, NULL, reader_main, r), 0);
}

static void add_rule(struct env *e, enum io_inj_action a, int op, uint64_t lo,
		     uint64_t hi, unsigned int count, int err)
{
	struct io_inj_rule r = { .action = a, .op = op, .off_lo = lo, .off_hi = hi,
				 .count = count, .err = err };

	assert_int_equal(io_inject_add_rule(e->inj, &r), 0);
}

static unsigned int held_of_op(struct env *e, int op)
{
	unsigned int i, n = 0;
	int o;

	for (i = 0; io_inject_held_info(e->inj, i, &o, NULL) == 0; i++)
		n += o == op;
	return n;
}

static struct swap_dev_usage dev_usage(struct env *e)
{
	struct swap_dev_usage u;

	swap_dev_usage(e->s->devs[0], &u);
	return u;
}

static uint64_t json_u64(struct json_object *o, const char *a, const char *b)
{
	struct json_object *x = NULL, *y = NULL;

	assert_true(json_object_object_get_ex(o, a, &x));
	if (!b)
		return json_object_get_uint64(x);
	assert_true(json_object_object_get_ex(x, b, &y));
	return json_object_get_uint64(y);
}

/* ==================================================================== */
/* 1. basic round trip                                                   */

static void roundtrip(const struct opts *o, bool json_check)
{
	struct env e;
	uint64_t extra = 256, i;

	struct opts oo = *o;
	oo.npages = NPAGES + extra;
	env_setup(&e, &oo);
	write_range(&e, 0, NPAGES, 1);
	/* Eviction kept up (asynchronously: faults never wait for it). */
	assert_true(WAIT_UNTIL(C(&e, evict_written) > 0, WAIT_MS));
	assert_true(C(&e, bytes_written) > 0);
	print_message("  max resident %llu pages (limit %u)\n",
		      (unsigned long long)C(&e, max_resident), LIMIT_PAGES);
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	assert_true(C(&e, faults_swap) > 0);
	assert_true(C(&e, reads) > 0);
	/* Untouched pages read back as zeros, through the zero page. */
	settle(&e, NPAGES - 1);
	uint64_t z0 = C(&e, faults_zero);
	assert_int_equal(verify_range(&e, NPAGES, NPAGES + extra), 0);
	settle(&e, NPAGES + extra - 1);
	assert_true(C(&e, faults_zero) >= z0 + extra);
	/* A second generation over everything, then verify again. */
	for (i = 0; i < NPAGES; i += 3)
		write_page(&e, i, 2);
	assert_int_equal(verify_range(&e, 0, NPAGES + extra), 0);
	assert_int_equal(C(&e, read_errors), 0);
	assert_int_equal(C(&e, write_errors), 0);
	assert_int_equal(fatal_calls(), 0);
	if (json_check) {
		struct json_object *j;

		trim(&e);               /* quiesce: no write completes meanwhile */
		j = swapper_stats_json(e.s);

		assert_non_null(j);
		assert_int_equal(json_u64(j, "faults", "from_swap"), C(&e, faults_swap));
		assert_int_equal(json_u64(j, "evictions", "written"), C(&e, evict_written));
		assert_int_equal(json_u64(j, "bytes_written", NULL), C(&e, bytes_written));
		assert_int_equal(json_u64(j, "guest_pages", NULL), NPAGES + extra);
		assert_int_equal(json_u64(j, "limit_pages", NULL), LIMIT_PAGES);
		/* swap-in faults only, every one of them */
		assert_int_equal(json_u64(j, "swapin_latency", "count"), C(&e, faults_swap));
		assert_true(json_u64(j, "fault_latency", "count") >
			    json_u64(j, "swapin_latency", "count"));
		/* Writes took time, and no more than the writes' summed
		 * latencies (they overlap) or the whole run. */
		uint64_t busy = json_u64(j, "write_busy_ns", NULL);
		struct json_object *wl = NULL, *m = NULL;

		assert_true(busy > 0);
		assert_true(json_object_object_get_ex(j, "write_latency", &wl));
		assert_true(json_object_object_get_ex(wl, "mean_ns", &m));
		assert_true((double)busy <= 1.01 * json_object_get_double(m) *
				(double)json_u64(j, "write_latency", "count") + 1e6);
		json_object_put(j);
	}
	env_teardown(&e);
}

static void test_basic_roundtrip(void **state)
{
	struct opts o = { 0 };

	(void)state;
	roundtrip(&o, true);
}

static void test_basic_roundtrip_sync(void **state)
{
	struct opts o = { .engine = "sync" };

	(void)state;
	roundtrip(&o, false);
}

/* Fault-around: the first touch of a never-used page maps the rest of its
 * 16-page block (zero page for a read, private zeroed pages for a write);
 * those pages then cost no userfaultfd fault, read back as zeros, keep what
 * is written to them through eviction, and are evicted without I/O while
 * still zero. */
static void test_fault_around(void **state)
{
	struct env e;
	struct opts o = { .fault_around = 16 };
	uint64_t i;

	(void)state;
	env_setup(&e, &o);
	/* a read in block [32, 48) */
	assert_int_equal(verify_range(&e, 35, 36), 0);
	assert_true(WAIT_UNTIL(C(&e, zero_around) == 15, WAIT_MS));
	assert_int_equal(C(&e, faults_zero), 1);
	assert_int_equal(verify_range(&e, 32, 48), 0);
	write_range(&e, 40, 48, 1);             /* host COW of the zero page */
	assert_int_equal(C(&e, faults_zero), 1);        /* no uffd fault */
	/* a write in block [64, 80) */
	write_page(&e, 70, 1);
	assert_true(WAIT_UNTIL(C(&e, zero_around) == 30, WAIT_MS));
	assert_int_equal(C(&e, faults_zero), 2);
	assert_int_equal(verify_range(&e, 64, 80), 0);
	for (i = 64; i < 80; i += 2)
		write_page(&e, i, 2);
	assert_int_equal(C(&e, faults_zero), 2);
	/* another block */
	write_page(&e, 100, 1);
	assert_true(WAIT_UNTIL(C(&e, zero_around) == 45, WAIT_MS));
	assert_int_equal(verify_range(&e, 96, 112), 0);
	/* through eviction and back */
	trim(&e);
	assert_int_equal(C(&e, resident), 0);
	assert_true(C(&e, evict_zero) >= 8 + 8 + 15);  /* still-zero pages */
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	assert_int_equal(fatal_calls(), 0);
	env_teardown(&e);
}

/* A trim asked for while a reclaim round is in progress (blocked on a full
 * write queue) evicts everything: the round's pages, taken out before the
 * trim's budget was set, are not charged to it.  (They were, and such a
 * trim ended with pages still resident: test_zero_eviction's flake.) */
static void test_trim_during_round(void **state)
{
	struct env e;
	struct opts o = { .queue_depth = 4, .limit_pages = 512 };
	struct io_inj_rule hold = { .action = IO_INJ_HOLD, .op = IO_WRITE };
	struct bg_trim b;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 300, 1);             /* under the limit: no eviction */
	settle(&e, 299);
	assert_int_equal(C(&e, resident), 300);
	assert_int_equal(io_inject_add_rule(e.inj, &hold), 0);
	/* One round of ~220 victims; its writes fill the queue (2 of depth 4
	 * are writes' share) and the round waits inside write_staged. */
	assert_int_equal(swapper_set_limit(e.s, 128 * PG), 0);
	assert_int_equal(io_inject_wait_held(e.inj, 2, WAIT_MS), 0);
	assert_true(WAIT_UNTIL(C(&e, resident) <= 100, WAIT_MS));
	bg_trim_start(&b, e.s);
	usleep(20000);                          /* the trim's budget is set */
	io_inject_clear_rules(e.inj);
	io_inject_release(e.inj, -1);
	bg_trim_join(&b, 60000);
	assert_int_equal(C(&e, resident), 0);
	assert_int_equal(verify_range(&e, 0, 300), 0);
	assert_int_equal(fatal_calls(), 0);
	env_teardown(&e);
}

/* --keep-clean auto: when the pages kept clean keep getting written (each
 * write a write-protect fault) and are never dropped clean, swap-ins are
 * installed writable instead, except 1 in 32 that keep measuring; when
 * they are only read, they stay clean and are dropped without I/O. */
static void test_keep_clean_auto(void **state)
{
	struct env e;
	struct opts o = { .clean_auto = true };
	uint64_t i, inst0;

	(void)state;
	env_setup(&e, &o);
	if (!e.s->use_wp) {
		env_teardown(&e);
		skip();
	}
	write_range(&e, 0, NPAGES, 1);
	trim(&e);
	/* read each page, then write it */
	for (i = 0; i < NPAGES; i++) {
		assert_true(page_is(&e, i, 1, true));
		write_page(&e, i, 2);
	}
	print_message("  installed clean %llu, write-protect faults %llu of %u\n",
		      (unsigned long long)C(&e, installed_clean),
		      (unsigned long long)C(&e, faults_wp), NPAGES);
	assert_true(C(&e, installed_clean) <= NPAGES / 16);
	assert_true(C(&e, faults_wp) <= C(&e, installed_clean));
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	/* read-only passes: the sampled clean installs are dropped clean,
	 * the estimate turns, and most pages are installed clean again */
	trim(&e);
	inst0 = C(&e, installed_clean);
	for (i = 0; i < 4; i++) {
		assert_int_equal(verify_range(&e, 0, NPAGES), 0);
		trim(&e);
	}
	print_message("  read-only: installed clean %llu of %u\n",
		      (unsigned long long)(C(&e, installed_clean) - inst0), 4 * NPAGES);
	assert_true(C(&e, installed_clean) - inst0 >= NPAGES);
	assert_int_equal(fatal_calls(), 0);
	env_teardown(&e);
}

/* ==================================================================== */
/* 2. zero-page eviction                                                 */

static void test_zero_eviction(void **state)
{
	struct env e;
	struct opts o = { 0 };

	(void)state;
	env_setup(&e, &o);
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);    /* reads only */
	trim(&e);
	assert_true(C(&e, evict_zero) >= NPAGES - LIMIT_PAGES);
	assert_int_equal(C(&e, resident), 0);
	assert_int_equal(C(&e, bytes_written), 0);
	assert_int_equal(C(&e, writes), 0);
	assert_int_equal(C(&e, evict_written), 0);
	assert_int_equal(io_inject_seen(e.inj), 0);          /* no I/O at all */
	assert_int_equal(state_of(&e, 7), PS_ZERO);
	/* ZERO pages fault as zeros again, still without I/O. */
	uint64_t z0 = C(&e, faults_zero);
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	settle(&e, NPAGES - 1);
	assert_true(C(&e, faults_zero) >= z0 + NPAGES);
	assert_int_equal(C(&e, faults_swap), 0);
	assert_int_equal(io_inject_seen(e.inj), 0);
	env_teardown(&e);
}

/* ==================================================================== */
/* 3. clean re-eviction, then a write-protect fault makes the page dirty */

static void test_clean_reeviction(void **state)
{
	struct env e;
	struct opts o = { 0 };
	const uint64_t x = 1234;
	uint64_t bw, clean0, wp0, ew, ew0;

	(void)state;
	env_setup(&e, &o);
	if (!e.s->use_wp) {
		env_teardown(&e);
		skip();
	}
	write_range(&e, 0, NPAGES, 1);
	trim(&e);
	assert_int_equal(C(&e, resident), 0);
	assert_int_equal(C(&e, staged), 0);
	/* (A page evicted in the middle of its writing by the test thread
	 * is written twice: once before, once after the rest of its data.) */
	ew0 = C(&e, evict_written);
	assert_true(ew0 >= NPAGES);
	bw = C(&e, bytes_written);
	assert_true(bw >= NPAGES * PG);

	/* Swap-in by reads installs write-protected copies that keep their
	 * slots; evicting them (during the reads and by the trim) is free. */
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	trim(&e);
	assert_true(C(&e, evict_clean) >= NPAGES);
	assert_int_equal(C(&e, bytes_written), bw);
	assert_int_equal(C(&e, evict_written), ew0);
	assert_int_equal(C(&e, faults_wp), 0);

	/* Read x (clean, WP), then write it: a WP fault, and the page is
	 * dirty again, so the next eviction writes it. */
	assert_true(check_page(&e, x));
	uint64_t w = word_of(&e, x);
	assert_int_equal(pg_state(w), PS_RESIDENT);
	assert_true((w & PG_WP) && (w & PG_SLOT));
	wp0 = C(&e, faults_wp);
	write_page(&e, x, 2);
	settle(&e, x);
	assert_int_equal(C(&e, faults_wp), wp0 + 1);
	w = word_of(&e, x);
	assert_false(w & (PG_WP | PG_SLOT));
	clean0 = C(&e, evict_clean);
	ew = C(&e, evict_written);
	trim(&e);
	assert_int_equal(C(&e, evict_written), ew + 1);
	assert_int_equal(C(&e, bytes_written), bw + PG);
	assert_int_equal(state_of(&e, x), PS_SWAPPED);
	assert_true(check_page(&e, x));                     /* generation 2 */
	assert_true(check_page(&e, x - 1));
	assert_true(check_page(&e, x + 1));
	assert_true(C(&e, evict_clean) >= clean0);
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	assert_int_equal(fatal_calls(), 0);
	env_teardown(&e);
}

/* ==================================================================== */
/* 4/5. faults while the write-out is held (the swap cache)              */

#define HELD_PAGES 64u
/* A limit the first 512 written pages stay under: no eviction (and so no
 * swap-in, no readahead stream) before the test's own trim and faults. */
#define QUIET_LIMIT 1024u

/* Write HELD_PAGES pages, HOLD every write, trim in the background and
 * wait until the trim pass is over: every page STAGED, every write held.
 * Returns the number of write requests held (batches of <= BATCH pages). */
static unsigned int stage_held(struct env *e, struct bg_trim *bt)
{
	unsigned int held;
	uint64_t i;

	add_rule(e, IO_INJ_HOLD, IO_WRITE, 0, 0, 0, 0);
	write_range(e, 0, HELD_PAGES, 1);
	assert_int_equal(C(e, evict_written), 0);
	bg_trim_start(bt, e->s);
	assert_int_equal(io_inject_wait_held(e->inj, 1, WAIT_MS), 0);
	assert_true(WAIT_UNTIL(C(e, staged) == HELD_PAGES && C(e, resident) == 0 &&
			       trim_gen_done(e->s) >= 1, WAIT_MS));
	held = io_inject_held(e->inj);
	assert_true(held >= HELD_PAGES / BATCH);
	assert_int_equal(held_of_op(e, IO_WRITE), held);
	for (i = 0; i < HELD_PAGES; i++)
		assert_int_equal(state_of(e, i), PS_STAGED);
	assert_false(atomic_load(&bt->done));
	return held;
}

static void test_fault_during_writeout(void **state)
{
	struct env e;
	struct opts o = { 0 };
	static struct bg_trim bt;
	unsigned int held;
	uint64_t st0;

	(void)state;
	env_setup(&e, &o);
	held = stage_held(&e, &bt);

	/* Read of a page whose write is held: served from staging at once. */
	st0 = C(&e, faults_staging);
	assert_true(check_page(&e, 5));
	settle(&e, 5);
	assert_int_equal(C(&e, faults_staging), st0 + 1);
	assert_int_equal(C(&e, faults_swap), 0);
	assert_int_equal(io_inject_held(e.inj), held);
	assert_int_equal(state_of(&e, 5), PS_RESIDENT);
	/* ... and written to, still with its write held. */
	write_page(&e, 5, 2);
	assert_true(check_page(&e, 5));
	/* A write fault straight on a staged page. */
	write_page(&e, 7, 2);
	settle(&e, 7);
	assert_int_equal(C(&e, faults_staging), st0 + 2);
	assert_int_equal(io_inject_held(e.inj), held);
	assert_false(atomic_load(&bt.done));
	assert_int_equal(C(&e, reads), 0);

	io_inject_clear_rules(e.inj);
	assert_int_equal(io_inject_release(e.inj, -1), (int)held);
	bg_trim_join(&bt, WAIT_MS);
	assert_true(WAIT_UNTIL(C(&e, staged) == 0, WAIT_MS));
	/* The batch wrote all 64 pages; 5 and 7 came back before it did. */
	assert_int_equal(C(&e, bytes_written), HELD_PAGES * PG);
	assert_int_equal(C(&e, evict_written), HELD_PAGES - 2);
	assert_int_equal(state_of(&e, 5), PS_RESIDENT);
	assert_int_equal(state_of(&e, 7), PS_RESIDENT);
	assert_int_equal(verify_range(&e, 0, HELD_PAGES), 0);
	/* And through swap once more. */
	trim(&e);
	assert_int_equal(state_of(&e, 5), PS_SWAPPED);
	assert_int_equal(verify_range(&e, 0, HELD_PAGES), 0);
	assert_int_equal(fatal_calls(), 0);
	env_teardown(&e);
}

static void test_write_done_after_faultback(void **state)
{
	struct env e;
	struct opts o = { 0 };
	static struct bg_trim bt;
	uint64_t bw;

	(void)state;
	env_setup(&e, &o);
	stage_held(&e, &bt);
	assert_true(check_page(&e, 10));         /* read back only */
	write_page(&e, 11, 2);                   /* write fault on staged */
	assert_true(check_page(&e, 12));         /* read back, then written */
	write_page(&e, 12, 2);
	settle(&e, 10);
	settle(&e, 11);
	settle(&e, 12);
	assert_int_equal(C(&e, faults_staging), 3);

	io_inject_clear_rules(e.inj);
	io_inject_release(e.inj, -1);
	bg_trim_join(&bt, WAIT_MS);
	/* The completion left the faulted-back pages alone. */
	assert_int_equal(state_of(&e, 10), PS_RESIDENT);
	assert_int_equal(state_of(&e, 11), PS_RESIDENT);
	assert_int_equal(state_of(&e, 12), PS_RESIDENT);
	assert_int_equal(C(&e, resident), 3);
	assert_true(check_page(&e, 10));
	assert_true(check_page(&e, 11));
	assert_true(check_page(&e, 12));
	bw = C(&e, bytes_written);
	assert_int_equal(bw, HELD_PAGES * PG);
	/* Evict again: the written pages must go out again (their slot copy
	 * is stale) and come back with the latest data. */
	trim(&e);
	assert_int_equal(C(&e, resident), 0);
	assert_true(C(&e, bytes_written) >= bw + 2 * PG);
	assert_int_equal(state_of(&e, 11), PS_SWAPPED);
	assert_int_equal(state_of(&e, 12), PS_SWAPPED);
	assert_true(check_page(&e, 11));
	assert_true(check_page(&e, 12));
	assert_true(check_page(&e, 10));
	assert_int_equal(verify_range(&e, 0, HELD_PAGES), 0);
	assert_int_equal(fatal_calls(), 0);
	env_teardown(&e);
}

/*
 * 5b. A page read back from staging while its write is still in flight must
 * not be treated as a clean copy of its slot: the slot does not hold the data
 * yet.  Evict it again before the write completes, then read it: the read
 * must not see the slot's old contents.
 */
static void test_reevict_before_write_done(void **state)
{
	struct env e;
	struct opts o = { 0 };
	static struct bg_trim bt, bt2;     /* static: outlive a failed test */

	(void)state;
	env_setup(&e, &o);
	stage_held(&e, &bt);
	assert_true(check_page(&e, 20));         /* from staging, write held */
	assert_int_equal(state_of(&e, 20), PS_RESIDENT);
	/* Second trim: page 20 goes out again while its first write is held. */
	bg_trim_start(&bt2, e.s);
	assert_true(WAIT_UNTIL(trim_gen_done(e.s) >= 2, WAIT_MS));
	assert_int_equal(C(&e, resident), 0);
	assert_true(state_of(&e, 20) != PS_RESIDENT);
	/* Its data must still be had, with the first write still held. */
	assert_true(check_page(&e, 20));
	assert_int_equal(verify_range(&e, 16, 32), 0);
	io_inject_clear_rules(e.inj);
	io_inject_release(e.inj, -1);
	bg_trim_join(&bt, WAIT_MS);
	bg_trim_join(&bt2, WAIT_MS);
	assert_int_equal(C(&e, staged), 0);
	assert_int_equal(verify_range(&e, 0, HELD_PAGES), 0);
	trim(&e);
	assert_int_equal(verify_range(&e, 0, HELD_PAGES), 0);
	assert_int_equal(fatal_calls(), 0);
	env_teardown(&e);
}

/* ==================================================================== */
/* 6. teardown with I/O in flight                                        */

static void test_teardown_inflight(void **state)
{
	struct env e;
	struct opts o = { 0 };
	static struct reader rd;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 512, 1);
	trim(&e);
	assert_int_equal(state_of(&e, 0), PS_SWAPPED);
	add_rule(&e, IO_INJ_HOLD, IO_INJ_ANY_OP, 0, 0, 0, 0);
	/* New pages over the limit: background eviction, writes held. */
	write_range(&e, 1024, 1024 + 2 * LIMIT_PAGES, 1);
	assert_int_equal(io_inject_wait_held(e.inj, 1, WAIT_MS), 0);
	assert_true(held_of_op(&e, IO_WRITE) >= 1);
	assert_true(C(&e, staged) > 0);
	/* A thread blocked on a swapped page, its read held. */
	reader_start(&rd, &e, 0);
	assert_true(WAIT_UNTIL(held_of_op(&e, IO_READ) == 1, WAIT_MS));
	usleep(20000);
	assert_int_equal(atomic_load(&rd.state), 1);
	swapper_destroy(e.s);
	e.s = NULL;
	/* The reader is released (the held read completed at destroy). */
	assert_int_equal(timed_join(rd.t, WAIT_MS), 0);
	assert_int_equal(atomic_load(&rd.state), 2);
	assert_true(rd.ok);
	assert_int_equal(fatal_calls(), 0);
	gmem_destroy(e.mem);
	free(e.gen);
	alarm(0);
}

/* ==================================================================== */
/* 7. write error, then retry elsewhere                                  */

static void assert_no_bad_slot_used(struct env *e)
{
	uint64_t i;

	for (i = 0; i < e->npages; i++) {
		uint64_t w = atomic_load(&e->s->pages[i]);

		if (!(w & PG_SLOT))
			continue;
		assert_int_equal(gslot_dev(pg_slot(w)), 0);
		assert_int_not_equal(swap_slot_count(e->s->devs[0], gslot_off(pg_slot(w))),
				     SWAP_SLOT_BAD);
	}
}

static void test_write_error_retry(void **state)
{
	struct env e;
	struct opts o = { 0 };
	struct swap_dev_usage u;
	uint64_t retired;

	(void)state;
	env_setup(&e, &o);
	add_rule(&e, IO_INJ_FAIL, IO_WRITE, 0, 0, 1, EIO);
	write_range(&e, 0, HELD_PAGES, 1);
	trim(&e);
	/* The trim waited for the retried writes too. */
	assert_int_equal(C(&e, staged), 0);
	assert_int_equal(atomic_load(&e.s->writes_inflight), 0);
	assert_int_equal(io_inject_failed(e.inj), 1);
	assert_int_equal(C(&e, write_errors), 1);
	/* The failed batch's slots (a batch is up to BATCH pages). */
	retired = C(&e, slots_retired);
	assert_true(retired >= 1 && retired <= BATCH);
	assert_int_equal(C(&e, evict_written), HELD_PAGES);
	assert_int_equal(C(&e, bytes_written), HELD_PAGES * PG);
	assert_int_equal(C(&e, resident), 0);
	u = dev_usage(&e);
	assert_int_equal(u.bad, retired);
	assert_int_equal(u.used, HELD_PAGES);
	assert_no_bad_slot_used(&e);
	assert_int_equal(verify_range(&e, 0, HELD_PAGES), 0);
	/* More traffic: the retired slots are never handed out again. */
	write_range(&e, 0, 2048, 2);
	trim(&e);
	assert_true(WAIT_UNTIL(C(&e, staged) == 0, WAIT_MS));
	u = dev_usage(&e);
	assert_int_equal(u.bad, retired);
	assert_no_bad_slot_used(&e);
	assert_int_equal(verify_range(&e, 0, 2048), 0);
	assert_int_equal(C(&e, write_errors), 1);
	assert_int_equal(fatal_calls(), 0);
	env_teardown(&e);
}

/* ==================================================================== */
/* 8. read errors                                                        */

#define INTR_SIG (UNDER_TSAN ? SIGSYS : SIGUSR1)
static __thread sigjmp_buf *t_jmp;

static void on_intr(int sig)
{
	(void)sig;
	if (t_jmp)
		siglongjmp(*t_jmp, 1);
}

struct intr_reader {
	pthread_t t;
	volatile uint64_t *addr;
	atomic_int state;      /* 1 accessing, 2 completed (!), 3 interrupted */
	uint64_t val;
};

static void *intr_main(void *arg)
{
	struct intr_reader *r = arg;
	sigjmp_buf jb;
	sigset_t ss;

	sigemptyset(&ss);
	sigaddset(&ss, INTR_SIG);
	pthread_sigmask(SIG_UNBLOCK, &ss, NULL);
	if (sigsetjmp(jb, 1)) {
		t_jmp = NULL;
		atomic_store(&r->state, 3);
		return NULL;
	}
	t_jmp = &jb;
	atomic_store(&r->state, 1);
	r->val = guest_load(r->addr);   /* faults; the read fails for good */
	t_jmp = NULL;
	atomic_store(&r->state, 2);
	return NULL;
}

static void test_read_error_fatal(void **state)
{
	struct env e;
	struct opts o = { .limit_pages = QUIET_LIMIT };
	static struct intr_reader ir;
	struct sigaction sa, old;
	const uint64_t p = 100;
	char want[64];
	int i;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 512, 1);
	trim(&e);
	assert_int_equal(state_of(&e, p), PS_SWAPPED);
	add_rule(&e, IO_INJ_FAIL, IO_READ, 0, 0, READ_TRIES, EIO);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_intr;        /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(INTR_SIG, &sa, &old), 0);
	ir.addr = page_ptr(&e, p) + 17;
	assert_int_equal(pthread_create(&ir.t, NULL, intr_main, &ir), 0);

	assert_true(WAIT_UNTIL(fatal_calls() == 1, WAIT_MS));
	snprintf(want, sizeof(want), "gfn 0x%llx", (unsigned long long)(GPA / PG + p));
	pthread_mutex_lock(&g_fatal.lock);
	print_message("fatal(%d): %s\n", g_fatal.err, g_fatal.msg);
	assert_non_null(strstr(g_fatal.msg, want));
	assert_int_equal(g_fatal.err, -EIO);
	pthread_mutex_unlock(&g_fatal.lock);
	assert_int_equal(C(&e, read_errors), READ_TRIES);
	assert_true(C(&e, read_retries) >= READ_TRIES - 1);
	assert_int_equal(io_inject_failed(e.inj), READ_TRIES);
	/* The page stays on swap; the faulting thread stays blocked. */
	assert_true(WAIT_UNTIL(state_of(&e, p) == PS_SWAPPED, WAIT_MS));
	usleep(50000);
	assert_int_equal(atomic_load(&ir.state), 1);
	/* Interrupt it: it must leave by the signal, never with data. */
	for (i = 0; i < 200 && atomic_load(&ir.state) == 1; i++) {
		pthread_kill(ir.t, INTR_SIG);
		usleep(10000);
	}
	assert_int_equal(timed_join(ir.t, WAIT_MS), 0);
	assert_int_equal(atomic_load(&ir.state), 3);
	assert_int_equal(C(&e, faults_swap), 0);
	assert_int_equal(fatal_calls(), 1);
	sigaction(INTR_SIG, &old, NULL);
	env_teardown(&e);
}

/* First page a of a run of n pages in consecutive slots, all SWAPPED. */
static uint64_t find_slot_run(struct env *e, uint64_t from, unsigned int n)
{
	uint64_t a, i;

	for (a = from; a + n <= e->npages; a++) {
		uint64_t w0 = atomic_load(&e->s->pages[a]);

		for (i = 0; i < n; i++) {
			uint64_t w = atomic_load(&e->s->pages[a + i]);

			if (pg_state(w) != PS_SWAPPED || pg_slot(w) != pg_slot(w0) + i)
				break;
		}
		if (i == n)
			return a;
	}
	fail_msg("no run of %u pages in consecutive slots", n);
	return 0;
}

static uint64_t slot_off(struct env *e, uint64_t idx)
{
	return gslot_off(pg_slot(atomic_load(&e->s->pages[idx]))) * PG;
}

static void test_read_error_readahead(void **state)
{
	struct env e;
	struct opts o = { .limit_pages = QUIET_LIMIT };
	uint64_t a, ra, fo, ro, ra0;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 512, 1);
	trim(&e);
	a = find_slot_run(&e, 64, 8);
	/* Faults at a and a+1 make a stream: a+1 reads a+2 ahead; the
	 * fault at a+3 then reads a+4..a+6 ahead in the same request. */
	assert_true(check_page(&e, a));
	ra0 = C(&e, readahead);
	assert_true(check_page(&e, a + 1));
	assert_true(WAIT_UNTIL(state_of(&e, a + 2) == PS_RESIDENT, WAIT_MS));
	assert_int_equal(C(&e, readahead), ra0 + 1);
	fo = slot_off(&e, a + 3);
	ra = a + 5;
	ro = slot_off(&e, ra);
	/* The group read (offset of a+3) fails once; ra's own retries fail
	 * twice: it gives up on ra, which nobody faulted on. */
	add_rule(&e, IO_INJ_FAIL, IO_READ, ro, ro + PG, 2, EIO);
	add_rule(&e, IO_INJ_FAIL, IO_READ, fo, fo + PG, 1, EIO);
	assert_true(check_page(&e, a + 3));
	assert_true(C(&e, readahead) >= ra0 + 4);
	assert_true(WAIT_UNTIL(io_inject_failed(e.inj) == 3 &&
			       state_of(&e, ra) == PS_SWAPPED, WAIT_MS));
	/* The other read-ahead pages' own retries succeeded. */
	assert_true(WAIT_UNTIL(state_of(&e, a + 4) == PS_RESIDENT &&
			       state_of(&e, a + 6) == PS_RESIDENT, WAIT_MS));
	assert_true(C(&e, read_errors) >= 3);
	assert_int_equal(fatal_calls(), 0);
	/* A real fault on it later works. */
	assert_true(check_page(&e, ra));
	assert_int_equal(verify_range(&e, 0, 512), 0);
	assert_int_equal(fatal_calls(), 0);
	env_teardown(&e);
}

/* ==================================================================== */
/* 9. swap full                                                          */

static void test_swap_full_overcommit(void **state)
{
	struct env e;
	struct opts o = { .swap_bytes = 2 * SWAP_CLUSTER_SLOTS * PG,
			  .on_full = SWAP_FULL_OVERCOMMIT };
	struct swap_dev_usage u;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, NPAGES, 1);
	assert_true(WAIT_UNTIL(C(&e, swap_full_events) > 0, WAIT_MS));
	u = dev_usage(&e);
	assert_true(u.used <= u.nslots - 1);
	/* Whatever is not on swap stays in memory, above the limit (wait
	 * for the last writes to settle). */
	if (!WAIT_UNTIL(C(&e, resident) + C(&e, staged) >= NPAGES - (u.nslots - 1),
			WAIT_MS)) {
		uint64_t cnt[8] = { 0 }, i;

		for (i = 0; i < NPAGES; i++)
			cnt[state_of(&e, i)]++;
		fail_msg("states: none %llu res %llu zero %llu staged %llu swapped %llu "
			 "reading %llu; resident %llu staged %llu",
			 (unsigned long long)cnt[0], (unsigned long long)cnt[1],
			 (unsigned long long)cnt[2], (unsigned long long)cnt[3],
			 (unsigned long long)cnt[4], (unsigned long long)cnt[5],
			 (unsigned long long)C(&e, resident), (unsigned long long)C(&e, staged));
	}
	assert_true(C(&e, max_resident) > LIMIT_PAGES);
	assert_true(C(&e, evict_written) <= u.nslots - 1);
	/* A trim with swap full does what it can and returns. */
	trim(&e);
	assert_true(C(&e, resident) >= NPAGES - (u.nslots - 1));
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	assert_int_equal(fatal_calls(), 0);
	env_teardown(&e);
}

static void test_swap_full_stop(void **state)
{
	struct env e;
	struct opts o = { .swap_bytes = 2 * SWAP_CLUSTER_SLOTS * PG,
			  .on_full = SWAP_FULL_STOP };

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, NPAGES, 1);
	assert_true(WAIT_UNTIL(fatal_calls() == 1, WAIT_MS));
	pthread_mutex_lock(&g_fatal.lock);
	assert_non_null(strstr(g_fatal.msg, "swap space is full"));
	assert_int_equal(g_fatal.err, -ENOSPC);
	pthread_mutex_unlock(&g_fatal.lock);
	assert_true(C(&e, swap_full_events) > 0);
	/* Stopping loses nothing either. */
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	env_teardown(&e);
}

/* ==================================================================== */
/* 10. two threads faulting on the same page: one read                   */

static void test_two_faulters_one_read(void **state)
{
	struct env e;
	struct opts o = { .limit_pages = QUIET_LIMIT };
	static struct reader a, b;
	const uint64_t p = 300;
	uint64_t seen0, sw0;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 512, 1);
	trim(&e);
	assert_int_equal(state_of(&e, p), PS_SWAPPED);
	seen0 = io_inject_seen(e.inj);
	sw0 = C(&e, faults_swap);
	add_rule(&e, IO_INJ_HOLD, IO_READ, 0, 0, 0, 0);
	reader_start(&a, &e, p);
	assert_int_equal(io_inject_wait_held(e.inj, 1, WAIT_MS), 0);
	assert_int_equal(state_of(&e, p), PS_READING);
	reader_start(&b, &e, p);
	assert_true(WAIT_UNTIL(C(&e, faults_dup) >= 1, WAIT_MS));
	usleep(20000);
	assert_int_equal(io_inject_held(e.inj), 1);
	assert_int_equal(io_inject_seen(e.inj), seen0 + 1);
	assert_int_equal(C(&e, reads), 0);
	assert_int_equal(atomic_load(&a.state), 1);
	assert_int_equal(atomic_load(&b.state), 1);
	io_inject_clear_rules(e.inj);
	assert_int_equal(io_inject_release(e.inj, -1), 1);
	assert_int_equal(timed_join(a.t, WAIT_MS), 0);
	assert_int_equal(timed_join(b.t, WAIT_MS), 0);
	assert_true(a.ok);
	assert_true(b.ok);
	settle(&e, p);
	assert_int_equal(C(&e, reads), 1);
	assert_int_equal(C(&e, faults_swap), sw0 + 1);
	assert_int_equal(io_inject_seen(e.inj), seen0 + 1);
	env_teardown(&e);
}

/* ==================================================================== */
/* 11. the fallback eviction paths, with a writer racing the evictions   */

struct churn {
	pthread_t t;
	struct env *e;
	uint64_t from, to;
	atomic_bool stop;
	unsigned int gens;
};

static void *churn_main(void *arg)
{
	struct churn *c = arg;
	unsigned int g = 2;
	uint64_t i;

	while (!atomic_load(&c->stop) && g < 60000) {
		for (i = c->from; i < c->to; i++)
			write_page(c->e, i, g);
		g++;
		if (g % 8 == 0)
			usleep(200);
	}
	c->gens = g;
	return NULL;
}

static void roundtrip_racing(const struct opts *o)
{
	struct env e;
	static struct churn ch;

	env_setup(&e, o);
	memset(&ch, 0, sizeof(ch));
	ch.from = 0;
	ch.to = 32;
	ch.e = &e;
	write_range(&e, 0, 32, 1);
	assert_int_equal(pthread_create(&ch.t, NULL, churn_main, &ch), 0);
	write_range(&e, 32, NPAGES, 1);
	assert_int_equal(verify_range(&e, 32, NPAGES), 0);
	write_range(&e, 32, NPAGES, 2);
	atomic_store(&ch.stop, true);
	assert_int_equal(timed_join(ch.t, 30000), 0);
	print_message("  move=%d wp=%d: writer made %u generations; written %llu, "
		      "staging hits %llu, wp faults %llu, clean %llu\n",
		      e.s->use_move, e.s->use_wp, ch.gens,
		      (unsigned long long)C(&e, evict_written),
		      (unsigned long long)C(&e, faults_staging),
		      (unsigned long long)C(&e, faults_wp),
		      (unsigned long long)C(&e, evict_clean));
	/* Two passes over 16x the limit went through swap (a loaded host
	 * may delay eviction, never skip it: wait for it to catch up). */
	if (!WAIT_UNTIL(C(&e, evict_written) >= NPAGES - 32 - LIMIT_PAGES, WAIT_MS))
		fail_msg("written %llu clean %llu zero %llu moveback %llu resident %llu "
			 "staged %llu max %llu werr %llu wlat max %llu ms",
			 (unsigned long long)C(&e, evict_written),
			 (unsigned long long)C(&e, evict_clean),
			 (unsigned long long)C(&e, evict_zero),
			 (unsigned long long)C(&e, evict_restored),
			 (unsigned long long)C(&e, resident),
			 (unsigned long long)C(&e, staged),
			 (unsigned long long)C(&e, max_resident),
			 (unsigned long long)C(&e, write_errors),
			 (unsigned long long)hist_max(&e.s->write_lat) / 1000000);
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	trim(&e);
	assert_int_equal(verify_range(&e, 0, NPAGES), 0);
	assert_true(C(&e, faults_swap) > 0);
	if (!e.s->use_wp) {
		assert_int_equal(C(&e, faults_wp), 0);
		assert_int_equal(C(&e, evict_clean), 0);
	}
	assert_int_equal(fatal_calls(), 0);
	assert_int_equal(C(&e, write_errors) + C(&e, read_errors), 0);
	env_teardown(&e);
}

static void test_racing_writer_move(void **state)
{
	struct opts o = { 0 };

	(void)state;
	roundtrip_racing(&o);
}

static void test_fallback_no_move(void **state)
{
	struct opts o = { .no_move = true };

	(void)state;
	roundtrip(&o, false);
	roundtrip_racing(&o);
}

static void test_fallback_no_wp(void **state)
{
	struct opts o = { .no_wp = true };

	(void)state;
	roundtrip(&o, false);
	roundtrip_racing(&o);
}

/* ==================================================================== */
/* 12. readahead                                                         */

static void test_readahead(void **state)
{
	struct env e;
	struct opts o = { 0 };
	const uint64_t n = 1024;
	uint64_t sw0;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, NPAGES, 1);
	trim(&e);
	find_slot_run(&e, 0, 16);
	sw0 = C(&e, faults_swap);
	assert_int_equal(C(&e, readahead), 0);
	assert_int_equal(verify_range(&e, 0, n), 0);
	print_message("  %llu pages read: %llu swap faults, %llu read ahead, "
		      "%llu read I/Os\n", (unsigned long long)n,
		      (unsigned long long)(C(&e, faults_swap) - sw0),
		      (unsigned long long)C(&e, readahead),
		      (unsigned long long)io_inject_seen(e.inj));
	assert_true(C(&e, readahead) > 0);
	assert_true(C(&e, faults_swap) - sw0 < n / 2);
	assert_true(C(&e, faults_swap) - sw0 + C(&e, readahead) >= n);
	assert_int_equal(fatal_calls(), 0);
	env_teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_roundtrip),
		cmocka_unit_test(test_basic_roundtrip_sync),
		cmocka_unit_test(test_zero_eviction),
		cmocka_unit_test(test_fault_around),
		cmocka_unit_test(test_trim_during_round),
		cmocka_unit_test(test_keep_clean_auto),
		cmocka_unit_test(test_clean_reeviction),
		cmocka_unit_test(test_fault_during_writeout),
		cmocka_unit_test(test_write_done_after_faultback),
		cmocka_unit_test(test_reevict_before_write_done),
		cmocka_unit_test(test_teardown_inflight),
		cmocka_unit_test(test_write_error_retry),
		cmocka_unit_test(test_read_error_fatal),
		cmocka_unit_test(test_read_error_readahead),
		cmocka_unit_test(test_swap_full_overcommit),
		cmocka_unit_test(test_swap_full_stop),
		cmocka_unit_test(test_two_faulters_one_read),
		cmocka_unit_test(test_racing_writer_move),
		cmocka_unit_test(test_fallback_no_move),
		cmocka_unit_test(test_fallback_no_wp),
		cmocka_unit_test(test_readahead),
	};
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
	hv_log_set_level(getenv("TEST_LOG_DEBUG") ? HV_LOG_DEBUG : HV_LOG_ERR);
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	r = cmocka_run_group_tests(tests, NULL, NULL);
	if (r) {
		/* A failed test leaves its swapper (threads, held I/O) behind:
		 * do not let exit-time teardown hang on it. */
		fflush(NULL);
		_exit(1);
	}
	return 0;
}
