/*
 * test_seal.c - integrity of swapped data (swapper/seal.c, the seal tables
 * in swapset.c, sealing in writeback.c and checking in swapin.c).
 *
 * Unit tests of the seal itself (crc32c vectors, AES-256-GCM round trip,
 * bit flips, wrong slot), then the swapper end to end: host threads play the
 * vCPUs (as in test_swapper.c), every page holds (index, generation) in each
 * of its words, and the swap file is tampered with behind the swapper's back
 * - one block read, changed and written back through the device's own fd at
 * the slot of a swapped page (pg_slot of its page word).  What is asserted:
 *   - a tampered slot is detected on the next fault: the read is retried
 *     READ_TRIES times, counted, and the fatal callback names the gfn and
 *     the slot; the faulting thread stays blocked (never sees wrong data) and
 *     gets the right data once the slot is repaired and it is woken;
 *   - a tampered readahead page is not fatal (it stays SWAPPED);
 *   - N tamper trials (one random byte of a random swapped page) are all
 *     detected, with and without encryption;
 *   - with encryption: round trip, no plaintext in the swap file, a
 *     ciphertext (even with its seal) moved to another slot fails;
 *   - seal memory follows the slots in use and is in metadata_bytes;
 *   - a normal workload (4096 pages under a 256-page limit) passes with
 *     and without encryption.
 * The costs of crc32c and AES-256-GCM per 4 KiB are printed, not asserted.
 * Deterministic: a fixed-seed PRNG, bounded waits, a per-test alarm().
 * Exit 77 only when userfaultfd is unavailable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
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
#include "seal.h"
#include "swap_dev.h"
#include "uffd.h"

#define PG 4096ull
#define WORDS (PG / 8)
#define GPA 0x200000ull
#define WAIT_MS 30000
#define TEST_ALARM_S 240
#define TAMPER_TRIALS 200u

#define GUEST_ACCESS __attribute__((noinline, no_sanitize("thread")))

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

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define WAIT_UNTIL(cond, ms) ({                                         \
	uint64_t _dl = now_ns() + (uint64_t)(ms) * 1000000ull;          \
	bool _ok;                                                       \
	while (!(_ok = (cond)) && now_ns() < _dl)                       \
		usleep(200);                                            \
	_ok;                                                            \
})

/* Fixed-seed xorshift64: the same trials on every run. */
static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* ---- the environment ---- */

struct opts {
	uint64_t npages, limit_pages;
	bool encrypt;
};

struct env {
	struct gmem *mem;
	struct swapper *s;
	struct io_inject *inj;
	uint8_t *base;
	uint64_t npages;
	uint16_t *gen;
};

#define C(e, f) atomic_load(&(e)->s->c.f)

static void env_setup(struct env *e, const struct opts *o)
{
	struct swapper_config cfg;
	struct io_engine *inner = NULL;
	int r;

	alarm(TEST_ALARM_S);
	pthread_mutex_lock(&g_fatal.lock);
	g_fatal.calls = 0;
	g_fatal.msg[0] = 0;
	pthread_mutex_unlock(&g_fatal.lock);
	memset(e, 0, sizeof(*e));
	e->npages = o->npages;
	e->gen = calloc(e->npages, sizeof(*e->gen));
	assert_non_null(e->gen);
	assert_int_equal(gmem_create(GMEM_ANON, e->npages * PG, "test-seal", &e->mem), 0);
	e->base = e->mem->host;
	r = io_engine_create("libaio", 64, &inner);
	if (r < 0)
		r = io_engine_create("sync", 64, &inner);
	assert_int_equal(r, 0);
	assert_int_equal(io_inject_create(inner, &e->inj), 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.mem_limit = o->limit_pages * PG;
	cfg.tmpdir = "/var/tmp";
	cfg.swap_size = 4 * e->npages * PG;
	cfg.engine = io_inject_engine(e->inj);
	cfg.queue_depth = 64;
	cfg.write_batch = 16;
	cfg.allow_buffered = true;
	cfg.clean_policy = SWAPPER_CLEAN_ALWAYS;
	cfg.encrypt = o->encrypt;
	cfg.fatal = on_fatal;
	cfg.opaque = e;
	assert_int_equal(swapper_create(&cfg, &e->s), 0);
	assert_int_equal(swapper_add_region(e->s, e->mem, GPA), 0);
	assert_int_equal(swapper_start(e->s), 0);
	assert_int_equal(seal_mode(e->s->seal), o->encrypt ? SEAL_AES256GCM : SEAL_CRC32C);
}

static void env_teardown(struct env *e)
{
	swapper_destroy(e->s);
	gmem_destroy(e->mem);
	free(e->gen);
	alarm(0);
}

static inline uint64_t pat(uint64_t idx, unsigned int gen, unsigned int k)
{
	return 0x5A00000000000000ull | (idx << 28) | ((uint64_t)gen << 12) | k;
}

static volatile uint64_t *page_ptr(struct env *e, uint64_t idx)
{
	return (volatile uint64_t *)(e->base + idx * PG);
}

static GUEST_ACCESS void guest_fill(volatile uint64_t *p, uint64_t idx, unsigned int gen)
{
	unsigned int k;

	for (k = 0; k < WORDS; k++)
		p[k] = pat(idx, gen, k);
}

static GUEST_ACCESS bool guest_check(const volatile uint64_t *p, uint64_t idx,
				     unsigned int gen)
{
	unsigned int k;

	for (k = 0; k < WORDS; k++) {
		if (p[k] != (gen ? pat(idx, gen, k) : 0))
			return false;
	}
	return true;
}

static void write_range(struct env *e, uint64_t from, uint64_t to, unsigned int gen)
{
	uint64_t i;

	for (i = from; i < to; i++) {
		guest_fill(page_ptr(e, i), i, gen);
		e->gen[i] = (uint16_t)gen;
	}
}

static unsigned int verify_range(struct env *e, uint64_t from, uint64_t to)
{
	unsigned int bad = 0;
	uint64_t i;

	for (i = from; i < to; i++)
		bad += !guest_check(page_ptr(e, i), i, e->gen[i]);
	return bad;
}

static uint64_t word_of(struct env *e, uint64_t idx)
{
	uint64_t w;

	page_lock(e->s, idx);
	w = atomic_load(&e->s->pages[idx]);
	page_unlock(e->s, idx);
	return w;
}

static void trim(struct env *e)
{
	assert_int_equal(swapper_trim(e->s), 0);
}

/* ---- the swap file behind the swapper's back ---- */

/* The global slot of swapped page idx. */
static uint64_t slot_of(struct env *e, uint64_t idx)
{
	uint64_t w = word_of(e, idx);

	assert_int_equal(pg_state(w), PS_SWAPPED);
	assert_true(pg_holds_slot(w));
	return pg_slot(w);
}

/* Read / write the 4 KiB of global slot g (aligned: the fd may be O_DIRECT). */
static void slot_io(struct env *e, uint64_t g, void *buf, bool wr)
{
	int fd = swap_dev_fd(swapset_dev(e->s, g));
	off_t off = (off_t)(gslot_off(g) * PG);
	ssize_t n = wr ? pwrite(fd, buf, PG, off) : pread(fd, buf, PG, off);

	assert_int_equal(n, (ssize_t)PG);
}

static uint8_t *blk_new(void)
{
	uint8_t *b = aligned_alloc(PG, PG);

	assert_non_null(b);
	return b;
}

/* XOR byte `at` of slot g with x (x != 0). */
static void tamper(struct env *e, uint64_t g, unsigned int at, uint8_t x)
{
	uint8_t *b = blk_new();

	slot_io(e, g, b, false);
	b[at] ^= x;
	slot_io(e, g, b, true);
	free(b);
}

/* ---- a thread faulting on one page ---- */

struct reader {
	pthread_t t;
	volatile uint64_t *page;
	uint64_t idx;
	unsigned int gen;
	atomic_int state;              /* 1 accessing, 2 done */
	atomic_bool ok;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	atomic_store(&r->ok, guest_check(r->page, r->idx, r->gen));
	atomic_store(&r->state, 2);
	return NULL;
}

static void reader_start(struct reader *r, struct env *e, uint64_t idx)
{
	memset(r, 0, sizeof(*r));
	r->page = page_ptr(e, idx);
	r->idx = idx;
	r->gen = e->gen[idx];
	atomic_store(&r->state, 1);
	assert_int_equal(pthread_create(&r->t, NULL, reader_main, r), 0);
}

/* Failures counted by the mode's counter. */
static uint64_t seal_failures(struct env *e)
{
	return C(e, checksum_errors) + C(e, decrypt_failures);
}

/*
 * Page idx's slot was made bad: fault on it and check that the read is
 * retried READ_TRIES times and the page stays on swap while the reader
 * stays blocked.  Then repair() the slot, wake the reader, and check it
 * gets the right data.  Returns true when the bad slot was detected.
 */
static bool fault_detects(struct env *e, uint64_t idx, void (*repair)(void *), void *arg)
{
	struct reader r;
	uint64_t f0 = seal_failures(e), rt0 = C(e, read_retries);
	bool detected;

	reader_start(&r, e, idx);
	detected = WAIT_UNTIL(seal_failures(e) >= f0 + READ_TRIES &&
			      C(e, read_retries) >= rt0 + READ_TRIES - 1 &&
			      pg_state(word_of(e, idx)) == PS_SWAPPED, WAIT_MS);
	usleep(2000);
	detected = detected && atomic_load(&r.state) == 1 &&
		   seal_failures(e) == f0 + READ_TRIES;
	repair(arg);
	assert_int_equal(uffd_wake(e->s->uffd, (void *)r.page, PG), 0);
	assert_true(WAIT_UNTIL(atomic_load(&r.state) == 2, WAIT_MS));
	pthread_join(r.t, NULL);
	assert_true(atomic_load(&r.ok));        /* the right data, after all */
	return detected;
}

struct fix_byte {
	struct env *e;
	uint64_t g;
	unsigned int at;
	uint8_t x;
};

static void fix_byte(void *arg)
{
	struct fix_byte *f = arg;

	tamper(f->e, f->g, f->at, f->x);        /* XOR again: repaired */
}

/* ==================================================================== */
/* 1. the seal itself                                                    */

static void test_crc32c_vectors(void **state)
{
	uint8_t b[32];
	unsigned int i;

	(void)state;
	/* RFC 3720 appendix B.4 and the usual check value. */
	assert_int_equal(seal_crc32c(0, "123456789", 9), 0xe3069283u);
	memset(b, 0, sizeof(b));
	assert_int_equal(seal_crc32c(0, b, 32), 0x8a9136aau);
	memset(b, 0xff, sizeof(b));
	assert_int_equal(seal_crc32c(0, b, 32), 0x62a8ab43u);
	for (i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	assert_int_equal(seal_crc32c(0, b, 32), 0x46dd794eu);
	for (i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	assert_int_equal(seal_crc32c(0, b, 32), 0x113fdb5cu);
	/* Continuation equals one pass (odd split: the byte tail path). */
	for (i = 0; i < 32; i++)
		b[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(seal_crc32c(seal_crc32c(0, b, 13), b + 13, 19),
			 seal_crc32c(0, b, 32));
}

static void seal_unit(bool encrypt)
{
	struct seal *sl;
	struct seal_entry e, e2, u;
	uint8_t *pt = blk_new(), *ct = blk_new(), *buf = blk_new();
	uint8_t packed[64];
	const uint64_t g = ((uint64_t)1 << 32) | 77;
	unsigned int i;

	assert_int_equal(seal_create(encrypt, &sl), 0);
	assert_string_equal(seal_name(sl), encrypt ? "aes-256-gcm" : "crc32c");
	assert_int_equal(seal_entry_bytes(sl), encrypt ? 24 : 4);
	for (i = 0; i < PG; i++)
		pt[i] = (uint8_t)(i * 31 + 5);
	assert_int_equal(seal_page(sl, g, pt, ct, &e), 0);
	/* The page seal (three interleaved lanes) is the plain CRC-32C of
	 * the slot id followed by the page. */
	if (!encrypt)
		assert_int_equal(e.crc, seal_crc32c(seal_crc32c(0, &g, sizeof(g)), pt, PG));
	seal_entry_pack(sl, &e, packed);
	seal_entry_unpack(sl, packed, &u);
	assert_memory_equal(&u, &e, sizeof(e));
	memcpy(buf, encrypt ? ct : pt, PG);
	if (encrypt)
		assert_memory_not_equal(ct, pt, PG);
	assert_int_equal(seal_open(sl, g, buf, &e), 0);
	assert_memory_equal(buf, pt, PG);
	/* A fresh nonce per write: the same page seals differently. */
	if (encrypt) {
		assert_int_equal(seal_page(sl, g, pt, buf, &e2), 0);
		assert_int_not_equal(e2.ctr, e.ctr);
		assert_memory_not_equal(buf, ct, PG);
	}
	/* Any single bit flipped fails: a few positions, every bit. */
	for (i = 0; i < 8 * 3; i++) {
		unsigned int at = (i / 8) * 2047;

		memcpy(buf, encrypt ? ct : pt, PG);
		buf[at] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(seal_open(sl, g, buf, &e), -EBADMSG);
	}
	/* The right bytes read from (or copied to) another slot fail. */
	memcpy(buf, encrypt ? ct : pt, PG);
	assert_int_equal(seal_open(sl, g + 1, buf, &e), -EBADMSG);
	memcpy(buf, encrypt ? ct : pt, PG);
	assert_int_equal(seal_open(sl, g ^ (1ull << SLOT_DEV_SHIFT), buf, &e), -EBADMSG);
	if (encrypt) {
		u = e;
		u.tag[15] ^= 1;
		memcpy(buf, ct, PG);
		assert_int_equal(seal_open(sl, g, buf, &u), -EBADMSG);
		u = e;
		u.ctr++;
		memcpy(buf, ct, PG);
		assert_int_equal(seal_open(sl, g, buf, &u), -EBADMSG);
	}
	seal_destroy(sl);
	free(pt);
	free(ct);
	free(buf);
}

static void test_seal_crc32c(void **state)
{
	(void)state;
	seal_unit(false);
}

static void test_seal_aes_gcm(void **state)
{
	(void)state;
	seal_unit(true);
}

/* The cost per 4 KiB on this machine (printed for docs/architecture.md,
 * not asserted: the machine is shared).  Thread CPU time: time on a loaded
 * machine's run queue is not the cost. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double ns_per_page(uint64_t t0, unsigned int n)
{
	return (double)(cpu_ns() - t0) / n;
}

static void test_seal_cost(void **state)
{
	const unsigned int n = 20000;
	struct seal *crc, *gcm;
	struct seal_entry e;
	uint8_t *pt = blk_new(), *ct = blk_new(), *buf = blk_new();
	volatile uint32_t sink = 0;
	uint64_t t0;
	unsigned int i;
	double c_crc, c_crc1, c_cpy, c_enc, c_dec;

	(void)state;
	assert_int_equal(seal_create(false, &crc), 0);
	assert_int_equal(seal_create(true, &gcm), 0);
	for (i = 0; i < PG; i++)
		pt[i] = (uint8_t)i;
	for (i = 0; i < 1000; i++)      /* warm */
		sink += seal_crc32c(0, pt, PG);
	t0 = cpu_ns();
	for (i = 0; i < n; i++)
		sink += seal_crc32c(i, pt, PG);
	c_crc1 = ns_per_page(t0, n);
	t0 = cpu_ns();
	for (i = 0; i < n; i++) {
		assert_int_equal(seal_page(crc, i, pt, NULL, &e), 0);
		sink += e.crc;
	}
	c_crc = ns_per_page(t0, n);
	t0 = cpu_ns();
	for (i = 0; i < n; i++) {
		pt[0] = (uint8_t)i;
		memcpy(ct, pt, PG);
		sink += ct[i % PG];
	}
	c_cpy = ns_per_page(t0, n);
	t0 = cpu_ns();
	for (i = 0; i < n; i++)
		assert_int_equal(seal_page(gcm, i, pt, ct, &e), 0);
	c_enc = ns_per_page(t0, n);
	assert_int_equal(seal_page(gcm, 7, pt, ct, &e), 0);
	t0 = cpu_ns();
	for (i = 0; i < n; i++) {
		memcpy(buf, ct, PG);    /* decrypt is in place: fresh input */
		assert_int_equal(seal_open(gcm, 7, buf, &e), 0);
	}
	c_dec = ns_per_page(t0, n) - c_cpy;
	print_message("  CPU cost per 4 KiB: crc32c seal %.0f ns (one stream %.0f "
		      "ns), memcpy %.0f ns, aes-256-gcm encrypt %.0f ns, decrypt "
		      "%.0f ns (%u pages)\n", c_crc, c_crc1, c_cpy, c_enc, c_dec, n);
	(void)sink;
	seal_destroy(crc);
	seal_destroy(gcm);
	free(pt);
	free(ct);
	free(buf);
}

/* ==================================================================== */
/* 2. the swapper end to end                                             */

static struct json_object *jget(struct json_object *o, const char *k)
{
	struct json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, k, &v));
	return v;
}

/* 4096 pages under a 256-page limit, twice, all verified. */
static void workload(bool encrypt)
{
	struct opts o = { .npages = 4096, .limit_pages = 256, .encrypt = encrypt };
	struct env e;
	struct json_object *j;
	uint64_t i;

	env_setup(&e, &o);
	write_range(&e, 0, e.npages, 1);
	assert_int_equal(verify_range(&e, 0, e.npages), 0);
	for (i = 0; i < e.npages; i += 3) {
		guest_fill(page_ptr(&e, i), i, 2);
		e.gen[i] = 2;
	}
	assert_int_equal(verify_range(&e, 0, e.npages), 0);
	trim(&e);
	assert_int_equal(verify_range(&e, 0, e.npages), 0);
	assert_true(C(&e, evict_written) > 0);
	assert_true(C(&e, faults_swap) > 0);
	assert_true(C(&e, evict_clean) > 0);    /* clean pages kept their seal */
	assert_int_equal(C(&e, checksum_errors), 0);
	assert_int_equal(C(&e, decrypt_failures), 0);
	assert_int_equal(C(&e, read_errors), 0);
	assert_int_equal(fatal_calls(), 0);
	j = swapper_stats_json(e.s);
	assert_non_null(j);
	assert_string_equal(json_object_get_string(jget(jget(j, "features"), "integrity")),
			    encrypt ? "aes-256-gcm" : "crc32c");
	assert_int_equal(json_object_get_uint64(jget(j, "checksum_errors")), 0);
	assert_int_equal(json_object_get_uint64(jget(j, "decrypt_failures")), 0);
	print_message("  %s: %llu written, %llu clean, %llu swap faults; seal tables "
		      "%zu bytes for %llu used slots; metadata %.2f bytes/guest page\n",
		      encrypt ? "aes-256-gcm" : "crc32c",
		      (unsigned long long)C(&e, evict_written),
		      (unsigned long long)C(&e, evict_clean),
		      (unsigned long long)C(&e, faults_swap), swapset_seal_bytes(e.s),
		      (unsigned long long)json_object_get_uint64(jget(j, "slots_used")),
		      json_object_get_double(jget(j, "metadata_bytes_per_page")));
	json_object_put(j);
	env_teardown(&e);
}

static void test_workload_crc32c(void **state)
{
	(void)state;
	workload(false);
}

static void test_workload_aes_gcm(void **state)
{
	(void)state;
	workload(true);
}

/* crc32c: the seals are in the page words, so nothing is kept per slot:
 * swapping a page out costs its slot's count byte and a share of its
 * cluster's records on top of the 8-byte page word, so the metadata stays
 * within 12 bytes per guest page (issue 11) with the whole guest swapped
 * out - where a 4-byte per-slot seal table made 13.  (This guest is small:
 * the fixed part - staging owners, device records - is measured out.) */
static void test_seal_in_word(void **state)
{
	struct opts o = { .npages = 2048, .limit_pages = 2048 };
	struct env e;
	struct json_object *j;
	double per_page;
	uint64_t i, swapped = 0, meta0, meta1;

	(void)state;
	env_setup(&e, &o);
	j = swapper_stats_json(e.s);
	meta0 = json_object_get_uint64(jget(j, "metadata_bytes"));
	json_object_put(j);
	write_range(&e, 0, e.npages, 1);
	trim(&e);
	for (i = 0; i < e.npages; i++)
		swapped += pg_state(word_of(&e, i)) == PS_SWAPPED;
	assert_true(swapped >= e.npages - 8);
	assert_int_equal(swapset_seal_bytes(e.s), 0);
	j = swapper_stats_json(e.s);
	meta1 = json_object_get_uint64(jget(j, "metadata_bytes"));
	json_object_put(j);
	assert_true(meta1 >= meta0);
	per_page = 8.0 + (double)(meta1 - meta0) / (double)swapped;
	print_message("  %llu of %llu pages swapped: %.2f bytes more per swapped "
		      "page; %.2f bytes per guest page without the fixed part\n",
		      (unsigned long long)swapped, (unsigned long long)e.npages,
		      per_page - 8.0, per_page);
	assert_true(per_page <= 12.0);
	/* every page comes back whole: its word's seal checked on the read */
	assert_int_equal(verify_range(&e, 0, e.npages), 0);
	assert_int_equal(C(&e, checksum_errors), 0);
	/* dropped clean (write-protected, slot kept): the seal recomputed
	 * into the word, and checked again on the next read */
	trim(&e);
	assert_true(C(&e, evict_clean) > 0);
	assert_int_equal(verify_range(&e, 0, e.npages), 0);
	assert_int_equal(C(&e, checksum_errors), 0);
	assert_int_equal(fatal_calls(), 0);
	env_teardown(&e);
}

/* AES-GCM seal memory follows the slots in use, and is in metadata_bytes. */
static void test_seal_memory(void **state)
{
	struct opts o = { .npages = 2048, .limit_pages = 2048, .encrypt = true };
	struct env e;
	struct json_object *j;
	size_t idx_bytes, full, meta0, meta1;
	uint64_t i;

	(void)state;
	env_setup(&e, &o);
	idx_bytes = swapset_seal_bytes(e.s);    /* the per-device index only */
	assert_true(idx_bytes > 0);
	j = swapper_stats_json(e.s);
	meta0 = json_object_get_uint64(jget(j, "metadata_bytes"));
	json_object_put(j);
	write_range(&e, 0, 1024, 1);
	trim(&e);
	full = swapset_seal_bytes(e.s);
	pthread_mutex_lock(&e.s->seal_lock);
	print_message("  1024 pages swapped: %llu seal clusters, %zu bytes (%.2f per "
		      "swapped page)\n", (unsigned long long)e.s->seal_nclusters, full,
		      (double)(full - idx_bytes) / 1024);
	/* 1024 slots fill 4 clusters of 256, or 5 when they start mid-cluster. */
	assert_true(e.s->seal_nclusters >= 4 && e.s->seal_nclusters <= 5);
	pthread_mutex_unlock(&e.s->seal_lock);
	assert_true(full >= idx_bytes + 1024 * 24);
	j = swapper_stats_json(e.s);
	meta1 = json_object_get_uint64(jget(j, "metadata_bytes"));
	json_object_put(j);
	assert_true(meta1 >= meta0 + (full - idx_bytes));
	/* Written again: every slot let go, every table freed. */
	for (i = 0; i < 1024; i++) {
		guest_fill(page_ptr(&e, i), i, 2);
		e.gen[i] = 2;
	}
	assert_true(WAIT_UNTIL(swapset_seal_bytes(e.s) == idx_bytes, WAIT_MS));
	assert_int_equal(verify_range(&e, 0, 1024), 0);
	env_teardown(&e);
}

/* A fault on a tampered slot: retried, then fatal naming gfn and slot; the
 * faulting thread never sees the bad page. */
static void tamper_fault(bool encrypt)
{
	struct opts o = { .npages = 1024, .limit_pages = 1024, .encrypt = encrypt };
	struct env e;
	const uint64_t p = 100;
	struct fix_byte f;
	char want[96];

	env_setup(&e, &o);
	write_range(&e, 0, 512, 1);
	trim(&e);
	f = (struct fix_byte){ .e = &e, .g = slot_of(&e, p), .at = 1234, .x = 0x40 };
	tamper(&e, f.g, f.at, f.x);
	assert_true(fault_detects(&e, p, fix_byte, &f));
	assert_int_equal(fatal_calls(), 1);
	pthread_mutex_lock(&g_fatal.lock);
	print_message("  fatal(%d): %s\n", g_fatal.err, g_fatal.msg);
	snprintf(want, sizeof(want), "gfn 0x%llx", (unsigned long long)(GPA / PG + p));
	assert_non_null(strstr(g_fatal.msg, want));
	snprintf(want, sizeof(want), "slot %llu", (unsigned long long)gslot_off(f.g));
	assert_non_null(strstr(g_fatal.msg, want));
	assert_non_null(strstr(g_fatal.msg, encrypt ? "authentication" : "checksum"));
	assert_int_equal(g_fatal.err, -EBADMSG);
	pthread_mutex_unlock(&g_fatal.lock);
	assert_int_equal(encrypt ? C(&e, decrypt_failures) : C(&e, checksum_errors),
			 READ_TRIES);
	assert_int_equal(C(&e, read_errors), 0);        /* not an I/O error */
	assert_int_equal(verify_range(&e, 0, 512), 0);
	env_teardown(&e);
}

static void test_tamper_fault_crc32c(void **state)
{
	(void)state;
	tamper_fault(false);
}

static void test_tamper_fault_aes_gcm(void **state)
{
	(void)state;
	tamper_fault(true);
}

/* First page a of n swapped pages in consecutive slots. */
static uint64_t slot_run(struct env *e, uint64_t from, unsigned int n)
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

/* A tampered page read ahead (nobody faulted on it) is not fatal: faults
 * walk a run of consecutive slots up to the page before it, so readahead
 * reads it (whatever the window policy), fails its tries and leaves it on
 * swap. */
static void test_tamper_readahead(void **state)
{
	struct opts o = { .npages = 1024, .limit_pages = 1024 };
	struct env e;
	uint64_t a, bad, i;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 512, 1);
	trim(&e);
	a = slot_run(&e, 64, 16);
	bad = a + 8;
	tamper(&e, slot_of(&e, bad), 99, 0xff);
	for (i = a; i < bad; i++)
		assert_true(guest_check(page_ptr(&e, i), i, 1));
	assert_true(WAIT_UNTIL(C(&e, checksum_errors) >= READ_TRIES &&
			       pg_state(word_of(&e, bad)) == PS_SWAPPED, WAIT_MS));
	assert_true(C(&e, readahead) > 0);
	assert_int_equal(fatal_calls(), 0);
	assert_int_equal(verify_range(&e, 0, bad), 0);
	assert_int_equal(verify_range(&e, bad + 1, 512), 0);
	assert_int_equal(fatal_calls(), 0);
	print_message("  readahead of the tampered page: %llu checksum errors, "
		      "not fatal\n", (unsigned long long)C(&e, checksum_errors));
	env_teardown(&e);
}

/* N trials (TAMPER_TRIALS, or $SEAL_TAMPER_TRIALS for a longer run): one
 * random byte of a random swapped page changed (a random non-zero XOR),
 * faulted on, repaired.  All must be detected. */
static void tamper_trials(bool encrypt)
{
	struct opts o = { .npages = 1024, .limit_pages = 1024, .encrypt = encrypt };
	struct env e;
	uint64_t x = encrypt ? 0x9e3779b97f4a7c15ull : 0x2545f4914f6cdd1dull;
	const char *env_n = getenv("SEAL_TAMPER_TRIALS");
	unsigned int t, detected = 0, n = env_n ? (unsigned int)atoi(env_n) : 0;

	if (!n)
		n = TAMPER_TRIALS;

	env_setup(&e, &o);
	write_range(&e, 0, 512, 1);
	trim(&e);
	for (t = 0; t < n; t++) {
		struct fix_byte f = { .e = &e };
		uint64_t p;

		do {
			p = rnd(&x) % 512;
		} while (pg_state(word_of(&e, p)) != PS_SWAPPED);
		f.g = slot_of(&e, p);
		f.at = (unsigned int)(rnd(&x) % PG);
		f.x = (uint8_t)(1 + rnd(&x) % 255);
		tamper(&e, f.g, f.at, f.x);
		detected += fault_detects(&e, p, fix_byte, &f);
		if (t % 64 == 63)
			trim(&e);       /* back to swap (clean: same slots) */
	}
	print_message("  tamper trials detected (%s): %u/%u\n",
		      encrypt ? "aes-256-gcm" : "crc32c", detected, n);
	assert_int_equal(detected, n);
	assert_int_equal(seal_failures(&e), (uint64_t)n * READ_TRIES);
	assert_int_equal(fatal_calls(), 1);     /* reported once: the first */
	assert_int_equal(verify_range(&e, 0, 512), 0);
	env_teardown(&e);
}

static void test_tamper_trials_crc32c(void **state)
{
	(void)state;
	tamper_trials(false);
}

static void test_tamper_trials_aes_gcm(void **state)
{
	(void)state;
	tamper_trials(true);
}

/* Words of the swap file that are page-pattern words (plaintext). */
static uint64_t plaintext_words(struct env *e)
{
	int fd = swap_dev_fd(e->s->devs[0]);
	uint64_t n = 0, off, nslots = swap_dev_nslots(e->s->devs[0]);
	uint64_t *b = (uint64_t *)blk_new();
	unsigned int k;

	for (off = 0; off < nslots * PG; off += PG) {
		assert_int_equal(pread(fd, b, PG, (off_t)off), (ssize_t)PG);
		for (k = 0; k < WORDS; k++) {
			uint64_t v = b[k], idx = (v >> 28) & 0xfffffff;

			n += (v >> 56) == 0x5A && idx < e->npages &&
			     v == pat(idx, (unsigned int)((v >> 12) & 0xffff), k);
		}
	}
	free(b);
	return n;
}

/* Encryption: no plaintext in the swap file (crc32c: the control). */
static void test_no_plaintext_on_swap(void **state)
{
	struct env e;
	int enc;

	(void)state;
	for (enc = 0; enc < 2; enc++) {
		struct opts o = { .npages = 1024, .limit_pages = 1024, .encrypt = enc };
		uint64_t n;

		env_setup(&e, &o);
		write_range(&e, 0, 512, 1);
		trim(&e);
		n = plaintext_words(&e);
		print_message("  %s: %llu plaintext words in the swap file\n",
			      enc ? "aes-256-gcm" : "crc32c", (unsigned long long)n);
		if (enc)
			assert_int_equal(n, 0);
		else    /* the control: the search finds plaintext */
			assert_true(n >= 500 * WORDS);
		assert_int_equal(verify_range(&e, 0, 512), 0);
		env_teardown(&e);
	}
}

struct moved {
	struct env *e;
	uint64_t idx, g;
	uint8_t *blk;
	struct seal_entry seal;
};

/* Put slot g's own ciphertext and seal back. */
static void restore_slot(void *arg)
{
	struct moved *m = arg;
	struct swapper *s = m->e->s;

	slot_io(m->e, m->g, m->blk, true);
	page_lock(s, m->idx);
	assert_int_equal(swapset_seal_reserve(s, gslot_dev(m->g), gslot_off(m->g), 1), 0);
	swapset_seal_set(s, m->g, &m->seal);
	page_unlock(s, m->idx);
}

/* Encryption: a ciphertext moved to another slot fails - alone (its
 * slot's seal is another), and with its seal too (the slot is the
 * associated data). */
static void test_moved_ciphertext(void **state)
{
	struct opts o = { .npages = 1024, .limit_pages = 1024, .encrypt = true };
	struct env e;
	const uint64_t a = 10, b = 300;
	uint64_t ga, gb;
	uint8_t *blk = blk_new();
	struct moved m;
	struct seal_entry sa;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 512, 1);
	trim(&e);
	ga = slot_of(&e, a);
	gb = slot_of(&e, b);
	m = (struct moved){ .e = &e, .idx = b, .g = gb, .blk = blk_new() };
	slot_io(&e, gb, m.blk, false);
	assert_int_equal(swapset_seal_get(e.s, gb, 0, &m.seal), 0);
	assert_int_equal(swapset_seal_get(e.s, ga, 0, &sa), 0);
	/* 1: a's ciphertext in b's slot (b keeps its own seal). */
	slot_io(&e, ga, blk, false);
	slot_io(&e, gb, blk, true);
	assert_true(fault_detects(&e, b, restore_slot, &m));
	assert_int_equal(C(&e, decrypt_failures), READ_TRIES);
	assert_int_equal(fatal_calls(), 1);
	/* 2: a's ciphertext and a's seal (nonce, tag) in b's slot: only the
	 * associated data (the slot) differs. */
	assert_int_equal(pg_state(word_of(&e, b)), PS_RESIDENT);
	trim(&e);
	assert_int_equal(slot_of(&e, b), gb);   /* clean: the same slot */
	slot_io(&e, gb, blk, true);
	page_lock(e.s, b);
	assert_int_equal(swapset_seal_reserve(e.s, gslot_dev(gb), gslot_off(gb), 1), 0);
	swapset_seal_set(e.s, gb, &sa);
	page_unlock(e.s, b);
	assert_true(fault_detects(&e, b, restore_slot, &m));
	assert_int_equal(C(&e, decrypt_failures), 2 * READ_TRIES);
	assert_int_equal(C(&e, checksum_errors), 0);
	/* a itself still reads back. */
	assert_int_equal(verify_range(&e, 0, 512), 0);
	free(m.blk);
	free(blk);
	env_teardown(&e);
}

/* Pages of [0, n) whose slot is on device dev. */
static uint64_t pages_on(struct env *e, uint64_t n, unsigned int dev)
{
	uint64_t i, k = 0;

	for (i = 0; i < n; i++) {
		uint64_t w = word_of(e, i);

		k += pg_state(w) == PS_SWAPPED && gslot_dev(pg_slot(w)) == dev;
	}
	return k;
}

/* Encryption through migration and compaction: every page is read
 * (decrypted with its old slot as associated data) and written again with
 * a fresh nonce on its new slot.  A tampered page is not moved and is not
 * fatal (a migration read is optional). */
static void test_migration_aes_gcm(void **state)
{
	struct opts o = { .npages = 1024, .limit_pages = 1024, .encrypt = true };
	struct env e;
	uint64_t f0, bad = 77;
	struct fix_byte f;
	int d1;

	(void)state;
	env_setup(&e, &o);
	write_range(&e, 0, 512, 1);
	trim(&e);
	d1 = swapper_swapon(e.s, NULL, 4 * 1024 * PG, 0);
	assert_int_equal(d1, 1);
	/* (the last batches may still be in flight when migrate returns) */
	assert_true(swapper_migrate(e.s, 0, d1) >= 512);
	assert_true(WAIT_UNTIL(pages_on(&e, 512, 1) == 512, WAIT_MS));
	assert_true(swapper_compact(e.s, d1) > 0);
	assert_true(WAIT_UNTIL(pages_on(&e, 512, 1) == 512, WAIT_MS));
	f = (struct fix_byte){ .e = &e, .g = slot_of(&e, bad), .at = 4095, .x = 0x80 };
	tamper(&e, f.g, f.at, f.x);
	f0 = C(&e, decrypt_failures);
	assert_true(swapper_migrate(e.s, d1, 0) >= 511);
	assert_true(WAIT_UNTIL(pages_on(&e, 512, 0) == 511, WAIT_MS));
	assert_int_equal(pg_state(word_of(&e, bad)), PS_SWAPPED);
	assert_int_equal(slot_of(&e, bad), f.g);        /* left where it was */
	assert_true(C(&e, decrypt_failures) >= f0 + READ_TRIES);
	assert_int_equal((C(&e, decrypt_failures) - f0) % READ_TRIES, 0);
	assert_int_equal(fatal_calls(), 0);
	fix_byte(&f);
	assert_int_equal(verify_range(&e, 0, 512), 0);
	assert_int_equal(C(&e, read_errors), 0);
	assert_int_equal(fatal_calls(), 0);
	env_teardown(&e);
}

/* A write error retires its slots: their seals go, the pages are sealed
 * again on their new slots, and every seal is gone once every page has
 * let go of its slot (nothing leaked on the error path). */
static void write_error_reseal(bool encrypt)
{
	struct opts o = { .npages = 1024, .limit_pages = 1024, .encrypt = encrypt };
	struct io_inj_rule rule = { .action = IO_INJ_FAIL, .op = IO_WRITE,
				    .count = 3, .err = EIO };
	struct env e;
	size_t idx_bytes;
	uint64_t i;

	env_setup(&e, &o);
	idx_bytes = swapset_seal_bytes(e.s);
	write_range(&e, 0, 512, 1);
	assert_int_equal(io_inject_add_rule(e.inj, &rule), 0);
	trim(&e);
	if (!WAIT_UNTIL(pages_on(&e, 512, 0) == 512, WAIT_MS))
		print_message("  on device 0: %llu of 512; restored %llu, staged %llu, "
			      "write errors %llu, resident %llu\n",
			      (unsigned long long)pages_on(&e, 512, 0),
			      (unsigned long long)C(&e, evict_restored),
			      (unsigned long long)C(&e, staged),
			      (unsigned long long)C(&e, write_errors),
			      (unsigned long long)C(&e, resident));
	assert_true(pages_on(&e, 512, 0) == 512);
	assert_true(C(&e, slots_retired) > 0);
	assert_int_equal(verify_range(&e, 0, 512), 0);
	assert_int_equal(seal_failures(&e), 0);
	for (i = 0; i < 512; i++) {
		guest_fill(page_ptr(&e, i), i, 2);
		e.gen[i] = 2;
	}
	assert_true(WAIT_UNTIL(swapset_seal_bytes(e.s) == idx_bytes, WAIT_MS));
	assert_int_equal(verify_range(&e, 0, 512), 0);
	assert_int_equal(fatal_calls(), 0);
	env_teardown(&e);
}

static void test_write_error_crc32c(void **state)
{
	(void)state;
	write_error_reseal(false);
}

static void test_write_error_aes_gcm(void **state)
{
	(void)state;
	write_error_reseal(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vectors),
		cmocka_unit_test(test_seal_crc32c),
		cmocka_unit_test(test_seal_aes_gcm),
		cmocka_unit_test(test_seal_cost),
		cmocka_unit_test(test_workload_crc32c),
		cmocka_unit_test(test_workload_aes_gcm),
		cmocka_unit_test(test_seal_in_word),
		cmocka_unit_test(test_seal_memory),
		cmocka_unit_test(test_tamper_fault_crc32c),
		cmocka_unit_test(test_tamper_fault_aes_gcm),
		cmocka_unit_test(test_tamper_readahead),
		cmocka_unit_test(test_tamper_trials_crc32c),
		cmocka_unit_test(test_tamper_trials_aes_gcm),
		cmocka_unit_test(test_no_plaintext_on_swap),
		cmocka_unit_test(test_moved_ciphertext),
		cmocka_unit_test(test_migration_aes_gcm),
		cmocka_unit_test(test_write_error_crc32c),
		cmocka_unit_test(test_write_error_aes_gcm),
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
		fflush(NULL);
		_exit(1);
	}
	return 0;
}
