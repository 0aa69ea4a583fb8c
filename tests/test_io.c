/*
 * test_io.c - unit tests of the I/O engines (swapper/io*.c) against a temp
 * file opened O_DIRECT on /var/tmp: vectored write/read round trips, the
 * completion contract (exactly once, never on the submitter's thread,
 * destroy waits for requests in flight), and the injection engine (FAIL,
 * HOLD with deterministic reordering, SHORT, skip/count, wait_held).
 * Exit 77 only if O_DIRECT is impossible on /var/tmp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

#define PG 4096u
#define FILE_SIZE (8u << 20)

/* ---- completion tracking ---- */

struct tctx {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int ndone;           /* protected by lock */
	pthread_t submitter;
	_Atomic int wrong_thread;
};

struct treq {
	struct io_req req;
	struct tctx *t;
	_Atomic int calls;
	ssize_t res;                  /* written before ndone++ under lock */
};

static void tdone(struct io_req *r, ssize_t res)
{
	struct treq *q = (struct treq *)r;

	if (pthread_equal(pthread_self(), q->t->submitter))
		atomic_fetch_add(&q->t->wrong_thread, 1);
	pthread_mutex_lock(&q->t->lock);
	q->res = res;
	atomic_fetch_add(&q->calls, 1);
	q->t->ndone++;
	pthread_cond_broadcast(&q->t->cond);
	pthread_mutex_unlock(&q->t->lock);
}

static void tctx_init(struct tctx *t)
{
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	t->ndone = 0;
	t->submitter = pthread_self();
	atomic_store(&t->wrong_thread, 0);
}

static void tctx_fini(struct tctx *t)
{
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
}

static unsigned int ndone(struct tctx *t)
{
	unsigned int n;

	pthread_mutex_lock(&t->lock);
	n = t->ndone;
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* Wait until n completions were seen in total (10 s cap). */
static void wait_done(struct tctx *t, unsigned int n)
{
	struct timespec dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	pthread_mutex_lock(&t->lock);
	while (t->ndone < n) {
		if (pthread_cond_timedwait(&t->cond, &t->lock, &dl) == ETIMEDOUT)
			break;
	}
	n = t->ndone >= n;
	pthread_mutex_unlock(&t->lock);
	assert_true(n);
}

static void treq_init(struct treq *q, struct tctx *t, enum io_op op, int fd,
		      uint64_t off, struct iovec *iov, int iovcnt)
{
	memset(q, 0, sizeof(*q));
	q->req = (struct io_req){ .op = op, .fd = fd, .off = off, .iov = iov,
				  .iovcnt = iovcnt, .done = tdone };
	q->t = t;
	q->res = -12345;
}

/* Submit all n, retrying while the engine is full. */
static void submit_all(struct io_engine *e, struct io_req **reqs, int n)
{
	struct timespec pause = { 0, 100000 };
	int i = 0, ret;

	while (i < n) {
		ret = io_engine_submit(e, reqs + i, n - i);
		if (ret == -EAGAIN) {
			nanosleep(&pause, NULL);
			continue;
		}
		assert_true(ret > 0 && ret <= n - i);
		i += ret;
	}
}

/* ---- fixtures ---- */

static int open_file(void)
{
	int fd = open("/var/tmp", O_TMPFILE | O_RDWR | O_DIRECT | O_CLOEXEC, 0600);

	if (fd >= 0 && ftruncate(fd, FILE_SIZE) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static uint8_t *abuf(size_t len)
{
	uint8_t *p = aligned_alloc(PG, len);

	assert_non_null(p);
	return p;
}

static void fill(uint8_t *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 12));
}

/* Create an engine; false (and a note) if it is not built in here. */
static bool make_engine(const char *name, unsigned int qd, struct io_engine **e)
{
	int ret = io_engine_create(name, qd, e);

	if (ret == -ENOSYS) {
		fprintf(stderr, "note: engine %s not available, not tested\n", name);
		return false;
	}
	assert_int_equal(ret, 0);
	return true;
}

/* One plain synchronous-looking transfer through engine e. */
static ssize_t xfer(struct io_engine *e, enum io_op op, int fd, uint64_t off,
		    void *buf, size_t len)
{
	struct iovec iov = { buf, len };
	struct treq q;
	struct io_req *r = &q.req;
	struct tctx t;

	tctx_init(&t);
	treq_init(&q, &t, op, fd, off, &iov, 1);
	submit_all(e, &r, 1);
	wait_done(&t, 1);
	assert_int_equal(atomic_load(&q.calls), 1);
	tctx_fini(&t);
	return q.res;
}

/* ---- per-engine tests (state = engine name) ---- */

#define NW 8            /* write requests */
#define WIOV 32         /* iovecs of 4 KiB each per write */
#define NR 4            /* read requests */
#define RIOV 16         /* iovecs of 16 KiB each per read */
#define TOTAL (NW * WIOV * PG)

static void test_vectored_roundtrip(void **state)
{
	const char *name = *state;
	static struct iovec wiov[NW * WIOV], riov[NR * RIOV];
	struct treq w[NW], r[NR];
	struct io_req *reqs[NW];
	struct io_engine *e;
	uint8_t *src = abuf(TOTAL), *dst = abuf(TOTAL);
	struct tctx t;
	int fd = open_file(), i;

	assert_true(fd >= 0);
	if (!make_engine(name, 4, &e))   /* small depth: partial acceptance */
		goto out;
	fill(src, TOTAL, 1);
	memset(dst, 0, TOTAL);
	tctx_init(&t);
	for (i = 0; i < NW * WIOV; i++)
		wiov[i] = (struct iovec){ src + (size_t)i * PG, PG };
	for (i = 0; i < NW; i++) {
		treq_init(&w[i], &t, IO_WRITE, fd, (uint64_t)i * WIOV * PG,
			  &wiov[i * WIOV], WIOV);
		reqs[i] = &w[i].req;
	}
	submit_all(e, reqs, NW);
	wait_done(&t, NW);
	for (i = 0; i < NW; i++) {
		assert_int_equal(w[i].res, WIOV * PG);
		assert_int_equal(atomic_load(&w[i].calls), 1);
		assert_true(w[i].req.submit_ns > 0);
	}
	for (i = 0; i < NR * RIOV; i++)
		riov[i] = (struct iovec){ dst + (size_t)i * 4 * PG, 4 * PG };
	for (i = 0; i < NR; i++) {
		treq_init(&r[i], &t, IO_READ, fd, (uint64_t)i * RIOV * 4 * PG,
			  &riov[i * RIOV], RIOV);
		reqs[i] = &r[i].req;
	}
	submit_all(e, reqs, NR);
	wait_done(&t, NW + NR);
	for (i = 0; i < NR; i++) {
		assert_int_equal(r[i].res, RIOV * 4 * PG);
		assert_int_equal(atomic_load(&r[i].calls), 1);
	}
	assert_memory_equal(src, dst, TOTAL);
	assert_int_equal(atomic_load(&t.wrong_thread), 0);
	io_engine_destroy(e);
	assert_int_equal(ndone(&t), NW + NR);   /* nothing extra after destroy */
	tctx_fini(&t);
out:
	free(src);
	free(dst);
	close(fd);
}

/* Destroy right after submitting: it must wait for every accepted request. */
static void test_destroy_waits(void **state)
{
	enum { N = 64, LEN = 64 * 1024 };
	const char *name = *state;
	struct iovec iov[N];
	struct treq q[N];
	struct io_req *reqs[N];
	struct io_engine *e;
	uint8_t *buf = abuf((size_t)N * LEN);
	struct tctx t;
	int fd = open_file(), i, n;

	assert_true(fd >= 0);
	if (!make_engine(name, 16, &e))
		goto out;
	fill(buf, (size_t)N * LEN, 2);
	tctx_init(&t);
	for (i = 0; i < N; i++) {
		iov[i] = (struct iovec){ buf + (size_t)i * LEN, LEN };
		treq_init(&q[i], &t, IO_WRITE, fd, (uint64_t)i * LEN, &iov[i], 1);
		reqs[i] = &q[i].req;
	}
	n = io_engine_submit(e, reqs, N);     /* accepts at most 16 */
	assert_true(n > 0 && n <= 16);
	io_engine_destroy(e);
	assert_int_equal(ndone(&t), (unsigned int)n);
	for (i = 0; i < N; i++)
		assert_int_equal(atomic_load(&q[i].calls), i < n ? 1 : 0);
	assert_int_equal(atomic_load(&t.wrong_thread), 0);
	tctx_fini(&t);
out:
	free(buf);
	close(fd);
}

/* Errors: a bad request refuses the batch; an I/O error reaches done(). */
static void test_errors(void **state)
{
	const char *name = *state;
	struct io_engine *e;
	uint8_t *buf = abuf(2 * PG);
	struct iovec iov = { buf, PG };
	struct treq q;
	struct io_req *r = &q.req;
	struct tctx t;
	int fd = open_file();

	assert_true(fd >= 0);
	if (!make_engine(name, 4, &e))
		goto out;
	tctx_init(&t);
	treq_init(&q, &t, IO_READ, fd, 0, &iov, 0);
	assert_int_equal(io_engine_submit(e, &r, 1), -EINVAL);
	q.req.iovcnt = IO_MAX_IOV + 1;
	assert_int_equal(io_engine_submit(e, &r, 1), -EINVAL);
	assert_int_equal(io_engine_submit(e, &r, 0), 0);
	/* Misaligned O_DIRECT offset into written blocks (ext4 serves holes
	 * through the page cache): the kernel says -EINVAL, in done(). */
	assert_int_equal(xfer(e, IO_WRITE, fd, 0, buf, 2 * PG), 2 * PG);
	assert_int_equal(xfer(e, IO_READ, fd, 1, buf, PG), -EINVAL);
	/* Reading past EOF: a short (zero) count, the caller's to judge. */
	assert_int_equal(xfer(e, IO_READ, fd, FILE_SIZE, buf, PG), 0);
	assert_int_equal(ndone(&t), 0);
	io_engine_destroy(e);
	tctx_fini(&t);
out:
	free(buf);
	close(fd);
}

/* ---- registry ---- */

static void test_registry(void **state)
{
	struct io_engine *e = NULL;

	(void)state;
	assert_int_equal(io_engine_create("nope", 4, &e), -EINVAL);
	assert_int_equal(io_engine_create("sync", 0, &e), -EINVAL);
	assert_non_null(strstr(io_engine_names(), "libaio"));
	assert_non_null(strstr(io_engine_names(), "sync"));
	if (!strstr(io_engine_names(), "io_uring"))
		assert_int_equal(io_engine_create("io_uring", 4, &e), -ENOSYS);
	assert_true(io_now_ns() > 0);
}

/* ---- injection ---- */

struct ifix {
	struct io_inject *inj;
	struct io_engine *e;
	int fd;
	uint8_t *a, *b, *rd;
};

static int inj_setup(void **state)
{
	struct ifix *f = calloc(1, sizeof(*f));
	struct io_engine *inner;

	assert_non_null(f);
	f->fd = open_file();
	assert_true(f->fd >= 0);
	assert_int_equal(io_engine_create("libaio", 16, &inner), 0);
	assert_int_equal(io_inject_create(inner, &f->inj), 0);
	f->e = io_inject_engine(f->inj);
	f->a = abuf(2 * PG);
	f->b = abuf(2 * PG);
	f->rd = abuf(2 * PG);
	fill(f->a, 2 * PG, 3);
	fill(f->b, 2 * PG, 4);
	*state = f;
	return 0;
}

static int inj_teardown(void **state)
{
	struct ifix *f = *state;

	io_engine_destroy(f->e);
	close(f->fd);
	free(f->a);
	free(f->b);
	free(f->rd);
	free(f);
	return 0;
}

static void test_inj_fail(void **state)
{
	struct ifix *f = *state;
	struct io_inj_rule rule = { .action = IO_INJ_FAIL, .op = IO_WRITE,
				    .off_lo = 0, .off_hi = PG, .count = 1, .err = EIO };

	assert_int_equal(xfer(f->e, IO_WRITE, f->fd, 0, f->a, PG), PG);
	assert_int_equal(io_inject_add_rule(f->inj, &rule), 0);
	/* xfer checks: done() exactly once; tctx: never on the submitter. */
	{
		struct iovec iov = { f->b, PG };
		struct treq q;
		struct io_req *r = &q.req;
		struct tctx t;

		tctx_init(&t);
		treq_init(&q, &t, IO_WRITE, f->fd, 0, &iov, 1);
		assert_int_equal(io_engine_submit(f->e, &r, 1), 1);
		wait_done(&t, 1);
		assert_int_equal(q.res, -EIO);
		assert_int_equal(atomic_load(&q.calls), 1);
		assert_int_equal(atomic_load(&t.wrong_thread), 0);
		tctx_fini(&t);
	}
	assert_int_equal(xfer(f->e, IO_READ, f->fd, 0, f->rd, PG), PG);
	assert_memory_equal(f->rd, f->a, PG);            /* data untouched */
	assert_int_equal(io_inject_seen(f->inj), 3);
	assert_int_equal(io_inject_failed(f->inj), 1);
	/* count exhausted: the same write now goes through. */
	assert_int_equal(xfer(f->e, IO_WRITE, f->fd, 0, f->b, PG), PG);
	assert_int_equal(xfer(f->e, IO_READ, f->fd, 0, f->rd, PG), PG);
	assert_memory_equal(f->rd, f->b, PG);
}

/* Two writes to one offset, released newest first: the first-submitted
 * write lands last and wins. */
static void test_inj_hold_reorder(void **state)
{
	struct ifix *f = *state;
	struct io_inj_rule rule = { .action = IO_INJ_HOLD, .op = IO_WRITE,
				    .off_lo = 8 * PG, .count = 2 };
	struct iovec iov1 = { f->a, PG }, iov2 = { f->b, PG };
	struct treq w1, w2;
	struct io_req *r1 = &w1.req, *r2 = &w2.req;
	struct tctx t;
	uint64_t off;
	int op;

	assert_int_equal(io_inject_add_rule(f->inj, &rule), 0);
	tctx_init(&t);
	treq_init(&w1, &t, IO_WRITE, f->fd, 8 * PG, &iov1, 1);
	treq_init(&w2, &t, IO_WRITE, f->fd, 8 * PG, &iov2, 1);
	assert_int_equal(io_engine_submit(f->e, &r1, 1), 1);
	assert_int_equal(io_engine_submit(f->e, &r2, 1), 1);
	assert_int_equal(io_inject_wait_held(f->inj, 2, 1000), 0);
	assert_int_equal(io_inject_held(f->inj), 2);
	assert_int_equal(io_inject_held_info(f->inj, 0, &op, &off), 0);
	assert_int_equal(op, IO_WRITE);
	assert_int_equal(off, 8 * PG);
	assert_int_equal(io_inject_held_info(f->inj, 2, &op, &off), -ENOENT);
	assert_int_equal(ndone(&t), 0);

	assert_int_equal(io_inject_release(f->inj, 1), 1);   /* w2 first */
	wait_done(&t, 1);
	assert_int_equal(atomic_load(&w2.calls), 1);
	assert_int_equal(atomic_load(&w1.calls), 0);
	assert_int_equal(io_inject_release(f->inj, 0), 1);   /* then w1 */
	wait_done(&t, 2);
	assert_int_equal(w1.res, PG);
	assert_int_equal(w2.res, PG);
	assert_int_equal(io_inject_held(f->inj), 0);
	assert_int_equal(io_inject_release(f->inj, 0), 0);
	assert_int_equal(atomic_load(&t.wrong_thread), 0);
	tctx_fini(&t);

	assert_int_equal(xfer(f->e, IO_READ, f->fd, 8 * PG, f->rd, PG), PG);
	assert_memory_equal(f->rd, f->a, PG);
}

static void test_inj_short(void **state)
{
	struct ifix *f = *state;
	struct io_inj_rule rule = { .action = IO_INJ_SHORT, .op = IO_READ,
				    .count = 1 };

	assert_int_equal(xfer(f->e, IO_WRITE, f->fd, 0, f->a, 2 * PG), 2 * PG);
	assert_int_equal(io_inject_add_rule(f->inj, &rule), 0);
	assert_int_equal(xfer(f->e, IO_WRITE, f->fd, 0, f->a, 2 * PG), 2 * PG);
	assert_int_equal(xfer(f->e, IO_READ, f->fd, 0, f->rd, 2 * PG), PG);
	assert_int_equal(xfer(f->e, IO_READ, f->fd, 0, f->rd, 2 * PG), 2 * PG);
	assert_memory_equal(f->rd, f->a, 2 * PG);
}

/* skip 1, count 2, in one batch of 5: ok, fail, fail, ok, ok. */
static void test_inj_skip_count(void **state)
{
	enum { N = 5 };
	static const ssize_t want[N] = { PG, -ENOSPC, -ENOSPC, PG, PG };
	struct ifix *f = *state;
	struct io_inj_rule rule = { .action = IO_INJ_FAIL, .op = IO_INJ_ANY_OP,
				    .off_lo = 16 * PG, .off_hi = 32 * PG,
				    .skip = 1, .count = 2, .err = ENOSPC };
	struct iovec iov[N];
	struct treq q[N];
	struct io_req *reqs[N];
	struct tctx t;
	int i;

	assert_int_equal(io_inject_add_rule(f->inj, &rule), 0);
	tctx_init(&t);
	for (i = 0; i < N; i++) {
		iov[i] = (struct iovec){ f->a, PG };
		treq_init(&q[i], &t, i % 2 ? IO_READ : IO_WRITE, f->fd,
			  (uint64_t)(16 + i) * PG, &iov[i], 1);
		reqs[i] = &q[i].req;
	}
	submit_all(f->e, reqs, N);
	wait_done(&t, N);
	for (i = 0; i < N; i++) {
		assert_int_equal(q[i].res, want[i]);
		assert_int_equal(atomic_load(&q[i].calls), 1);
	}
	assert_int_equal(io_inject_failed(f->inj), 2);
	/* Outside the range the rule never matches. */
	io_inject_clear_rules(f->inj);
	assert_int_equal(xfer(f->e, IO_WRITE, f->fd, 16 * PG, f->a, PG), PG);
	tctx_fini(&t);
}

static void test_inj_wait_timeout_and_rules(void **state)
{
	struct ifix *f = *state;
	struct io_inj_rule bad = { .action = IO_INJ_FAIL, .op = 7 };
	uint64_t t0 = io_now_ns(), dt;

	assert_int_equal(io_inject_wait_held(f->inj, 1, 50), -ETIMEDOUT);
	dt = io_now_ns() - t0;
	assert_true(dt >= 50000000ull);
	assert_true(dt < 2000000000ull);
	assert_int_equal(io_inject_wait_held(f->inj, 0, 0), 0);
	assert_int_equal(io_inject_add_rule(f->inj, &bad), -EINVAL);
	bad = (struct io_inj_rule){ .action = IO_INJ_HOLD, .op = IO_READ,
				    .off_lo = 10, .off_hi = 5 };
	assert_int_equal(io_inject_add_rule(f->inj, &bad), -EINVAL);
}

/* Destroying the injector releases held requests; each completes once. */
static void test_inj_destroy_releases(void **state)
{
	struct ifix *f = *state;
	struct io_inj_rule rule = { .action = IO_INJ_HOLD, .op = IO_INJ_ANY_OP };
	struct iovec iov[2] = { { f->a, PG }, { f->b, PG } };
	struct treq q[2];
	struct io_req *reqs[2] = { &q[0].req, &q[1].req };
	struct io_engine *inner;
	struct tctx t;

	/* Replace the fixture's injector with one destroyed mid-test. */
	io_engine_destroy(f->e);
	assert_int_equal(io_engine_create("sync", 4, &inner), 0);
	assert_int_equal(io_inject_create(inner, &f->inj), 0);
	assert_int_equal(io_inject_add_rule(f->inj, &rule), 0);
	tctx_init(&t);
	treq_init(&q[0], &t, IO_WRITE, f->fd, 0, &iov[0], 1);
	treq_init(&q[1], &t, IO_WRITE, f->fd, PG, &iov[1], 1);
	assert_int_equal(io_engine_submit(io_inject_engine(f->inj), reqs, 2), 2);
	assert_int_equal(io_inject_wait_held(f->inj, 2, 1000), 0);
	io_engine_destroy(io_inject_engine(f->inj));
	assert_int_equal(ndone(&t), 2);
	assert_int_equal(atomic_load(&q[0].calls), 1);
	assert_int_equal(atomic_load(&q[1].calls), 1);
	assert_int_equal(q[0].res, PG);
	tctx_fini(&t);
	/* Leave a fresh injector for the teardown. */
	assert_int_equal(io_engine_create("libaio", 4, &inner), 0);
	assert_int_equal(io_inject_create(inner, &f->inj), 0);
	f->e = io_inject_engine(f->inj);
}

static int o_direct_possible(void)
{
	int fd = open_file();

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

#define ENGINE_TESTS(n)                                                    \
	cmocka_unit_test_prestate(test_vectored_roundtrip, (void *)n),     \
	cmocka_unit_test_prestate(test_destroy_waits, (void *)n),          \
	cmocka_unit_test_prestate(test_errors, (void *)n)

#define INJ_TEST(fn) cmocka_unit_test_setup_teardown(fn, inj_setup, inj_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		ENGINE_TESTS("libaio"),
		ENGINE_TESTS("sync"),
		ENGINE_TESTS("io_uring"),
		INJ_TEST(test_inj_fail),
		INJ_TEST(test_inj_hold_reorder),
		INJ_TEST(test_inj_short),
		INJ_TEST(test_inj_skip_count),
		INJ_TEST(test_inj_wait_timeout_and_rules),
		INJ_TEST(test_inj_destroy_releases),
	};

	if (!o_direct_possible()) {
		fprintf(stderr, "SKIP: cannot open an O_DIRECT temp file on /var/tmp\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
