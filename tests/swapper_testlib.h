/*
 * swapper_testlib.h - what the swapper's tests share (test_swapper.c,
 * test_hardcases.c; linked into each of them, never into the library).
 *
 * Offers:
 *  - one test environment (struct env, options in struct opts): a guest
 *    memory region served by a started swapper whose I/O goes through the
 *    injection engine (swapper/io.h), on one temporary device or on several,
 *    with a record of fatal() calls kept per environment;
 *  - guest pages stamped with (index, generation) in all 512 of their words
 *    and verified word by word: a page never written must read back as
 *    zeros, a written page never as zeros or as another page's data;
 *  - page words read under the page lock (the fault handler wakes the
 *    faulting thread before it updates the word, under that lock);
 *  - injection helpers (rules, held requests);
 *  - bounded waits: WAIT_UNTIL polls a condition up to a generous deadline;
 *    background operations (a read of one page, trim, migrate, compact,
 *    swapoff) run on their own thread and are joined with a deadline
 *    (pthread_timedjoin_np), so a lost wake-up fails a test instead of
 *    hanging ctest; a per-test alarm() is the last resort;
 *  - the common main(): skip (77) only when userfaultfd is unavailable.
 *
 * Names are the short ones the tests already used (env_setup, write_page,
 * verify_range, ...) rather than a file prefix: these are a test-local
 * vocabulary, read far more often in test bodies than written here.
 *
 * Synchronisation rule for tests: wait for a condition, never sleep for a
 * time to "let something happen".  The one use of a fixed time is a
 * negative check (something must NOT happen: a blocked thread stays
 * blocked), written with negative_check_window() and a comment.
 */
#ifndef HVSWAP_TESTS_SWAPPER_TESTLIB_H
#define HVSWAP_TESTS_SWAPPER_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#include "hvswap/gmem.h"
#include "hvswap/swapper.h"
#include "internal.h"
#include "io.h"
#include "swap_dev.h"

#define PG 4096ull
#define WORDS (PG / 8)
#define MiB (1024ull * 1024)
#define GPA 0x200000ull
#define WAIT_MS 30000           /* generous: /var/tmp may be shared with busy jobs */
#define TRIM_WAIT_MS 60000
#define TEST_ALARM_S 150

/* Defaults of struct opts (test_swapper.c's environment). */
#define TL_NPAGES 4096u
#define TL_LIMIT_PAGES 256u
#define TL_BATCH 16u

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

/* ---- time and bounded waits ---- */

uint64_t now_ms(void);

/* Poll `cond` every 0.5 ms for up to `ms`; evaluates to its final value. */
#define WAIT_UNTIL(cond, ms) ({                                         \
	uint64_t _dl = now_ms() + (uint64_t)(ms);                       \
	bool _ok;                                                       \
	while (!(_ok = (cond)) && now_ms() < _dl)                       \
		usleep(500);                                            \
	_ok;                                                            \
})

/* A bounded negative check: give something that must NOT happen ms to show
 * itself.  Never a way to wait for something to happen. */
void negative_check_window(unsigned int ms);

/* pthread_timedjoin_np with a relative bound: 0 or ETIMEDOUT. */
int timed_join(pthread_t t, int ms);

/* ---- the environment ---- */

struct opts {
	uint64_t npages;               /* 0: TL_NPAGES */
	uint64_t limit_pages;          /* 0: TL_LIMIT_PAGES */
	uint64_t swap_bytes;           /* one temp device (0: 4 x guest RAM) */
	unsigned int ndevs;            /* > 0: ndevs temp devices of dev_bytes,
					  priorities 10, 9, ... (device 0 first) */
	uint64_t dev_bytes;
	const char *engine;            /* "libaio" (default) or "sync" */
	unsigned int queue_depth;      /* 0: 64 */
	unsigned int staging_pages;    /* 0: the swapper's default */
	uint64_t longterm_pin_bytes;
	bool no_move, no_wp;
	bool memfd;                    /* memfd guest memory whatever
					  HV_TEST_BACKING says */
	bool huge;                     /* hugetlbfs guest memory, 2 MiB units
					  (npages still counts 4 KiB pages,
					  the stamps' unit; a page word's
					  index is npages / 512); write batch 2
					  units.  The caller reserves the huge
					  pages (test_huge.c) */
	bool thp;                      /* with huge: anonymous memory on
					  transparent huge pages (GMEM_THP)
					  instead of hugetlbfs; no pool */
	bool no_zero_copy;             /* memfd: bounce buffers (also
					  HV_TEST_ZERO_COPY=0) */
	bool no_buffered;              /* O_DIRECT only (default: buffered
					  allowed, for tmpfs) */
	enum swapper_full_policy on_full;
	unsigned int fault_around;
	bool polled;                   /* polled engine: the fault thread runs
					  the completions (the swapper's own
					  default; tests default to threaded) */
	int fault_spin_us;             /* swapper_config.fault_spin_us */
	bool clean_auto;               /* else SWAPPER_CLEAN_ALWAYS */
	bool no_fatal;                 /* env_teardown asserts no fatal() */
	const char *ztier;             /* compressed tier: NULL off, lz4, zstd */
	uint64_t ztier_bytes;          /* its pool cap (0: limit / 5) */
	enum swapper_policy policy;    /* swapper_config.policy */
	int (*dirty_log)(void *opaque, uint64_t gpa, uint64_t npages,
			 uint64_t *bitmap);    /* swapper_config.dirty_log */
	/* Test hook (core.c), installed before the swapper's threads start:
	 * some hook points run on them (s->hook is a plain pointer, read
	 * without a lock), so a hook is never changed while they run. */
	void (*hook)(struct swapper *s, enum core_hook_point p, uint64_t v,
		     void *arg);
	void *hook_arg;
};

/* What fatal() reported: the number of calls and the first call's error. */
struct fatal_seen {
	int calls;
	int err;
	char msg[512];
};

/* Written by the swapper's threads; heap-allocated so that a swapper left
 * behind by a failed test never writes into a dead stack frame. */
struct fatal_rec {
	pthread_mutex_t lock;
	struct fatal_seen v;           /* protected by lock */
};

struct env {
	struct gmem *mem;
	struct swapper *s;
	struct io_inject *inj;         /* owned by the swapper */
	uint8_t *base;
	uint64_t npages;
	uint16_t *gen;                 /* expected generation; 0 = never written */
	struct fatal_rec *fatal;
	struct opts o;
};

#define C(e, f) atomic_load(&(e)->s->c.f)

/* Guest memory backing of every env: HV_TEST_BACKING=anon (default) or
 * memfd, so one suite runs as a ctest variant per backing. */
enum gmem_backing test_backing(void);
/* o == NULL: the defaults. */
void env_setup(struct env *e, const struct opts *o);
/* Destroys the swapper (if e->s is still set) and the memory. */
void env_teardown(struct env *e);

int fatal_calls(struct env *e);
struct fatal_seen fatal_get(struct env *e);

/* ---- guest pages ---- */

uint64_t pat(uint64_t idx, unsigned int gen, unsigned int k);
volatile uint64_t *page_ptr(struct env *e, uint64_t idx);
/* -1 if page p holds (idx, gen) (gen 0: zeros), else the first bad word. */
int guest_check(const volatile uint64_t *p, uint64_t idx, unsigned int gen,
		uint64_t *got);
uint64_t guest_load(const volatile uint64_t *p);
void write_page(struct env *e, uint64_t idx, unsigned int gen);
void write_range(struct env *e, uint64_t from, uint64_t to, unsigned int gen);
/* Write the page's next generation. */
void stamp(struct env *e, uint64_t idx);
/* True if page idx holds generation gen (0: all zeros). */
bool page_is(struct env *e, uint64_t idx, unsigned int gen, bool report);
bool check_page(struct env *e, uint64_t idx);
/* Mismatches in [from, to) against the expected generations (the first
 * five are printed). */
unsigned int verify_range(struct env *e, uint64_t from, uint64_t to);
/* Fail the test unless page idx (every page) holds what was written. */
void assert_page_ok(struct env *e, uint64_t idx);
void assert_all_pages_ok(struct env *e);

/* ---- page words, under the page lock ---- */

/* Take the page lock once: the fault that just let us through has
 * finished updating the page word and counters. */
void settle(struct env *e, uint64_t idx);
uint64_t word_of(struct env *e, uint64_t idx);
enum page_state state_of(struct env *e, uint64_t idx);
/* Byte offset of page idx's slot on its device. */
uint64_t slot_off(struct env *e, uint64_t idx);
/* Fail unless page idx reaches state st within WAIT_MS. */
void wait_state(struct env *e, uint64_t idx, enum page_state st);

/* ---- devices, trim generations, stats ---- */

/* Zeros for a device that is gone. */
struct swap_dev_usage dev_usage(struct env *e, int dev);
uint64_t trim_gen_of(struct swapper *s);        /* trims asked for */
uint64_t trim_gen_done(struct swapper *s);      /* trims finished */
uint64_t json_u64(struct json_object *o, const char *a, const char *b);

/* ---- injection ---- */

void add_rule(struct env *e, enum io_inj_action a, int op, uint64_t lo,
	      uint64_t hi, unsigned int count, int err);
void hold(struct env *e, int op, uint64_t lo, uint64_t hi, unsigned int count);
void wait_held(struct env *e, unsigned int n);
unsigned int held_of_op(struct env *e, int op);

/* ---- background operations ---- */

enum bg_kind { BG_READ, BG_TRIM, BG_MIGRATE, BG_COMPACT, BG_SWAPOFF, BG_STATS };

struct bg_op {
	pthread_t t;
	enum bg_kind kind;
	struct swapper *s;
	/* BG_READ: the page and what it must hold (not the env: a failed
	 * test's env may go away first) */
	volatile uint64_t *page;
	uint64_t idx;
	unsigned int gen;
	int a, b;                      /* devices: from/to, or the device */
	int64_t ret;                   /* the operation's return */
	struct json_object *json;      /* BG_STATS: the result (caller puts) */
	bool ok;                       /* BG_READ: the page verified ... */
	uint64_t bad;                  /* ... else its first bad word */
	atomic_int state;              /* 0 new, 1 running (accessing), 2 done */
	atomic_bool done;              /* state == 2 */
	bool joined;
};

void bg_start(struct bg_op *o, struct env *e, enum bg_kind kind, uint64_t idx,
	      int a, int b);
/* Join within ms: true if it finished (then joined), false if not yet. */
bool bg_try_join(struct bg_op *o, int ms);
/* Fail unless it finishes within ms; a BG_READ must also have verified. */
void bg_join(struct bg_op *o, int ms);

void reader_start(struct bg_op *o, struct env *e, uint64_t idx);
void bg_trim_start(struct bg_op *o, struct env *e);
/* Join and assert the trim returned 0. */
void bg_trim_join(struct bg_op *o, int ms);
/* swapper_trim() with a bound: fail instead of hanging. */
void trim(struct env *e);

/* ---- main ---- */

/* Run the group: exit 77 when userfaultfd is unavailable; TEST_FILTER
 * selects tests, TEST_LOG_DEBUG turns on debug logs.  A failed run exits
 * at once (_exit): a failed test leaves its swapper (threads, held I/O)
 * behind, and exit-time teardown must not hang on it. */
int tl_main(const char *name, const struct CMUnitTest *tests, size_t n);
#define TL_MAIN(tests) tl_main(__FILE__, (tests), sizeof(tests) / sizeof((tests)[0]))

#endif
