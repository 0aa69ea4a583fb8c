/*
 * test_virtio.c - unit tests of the split virtqueue (vmm/virtq.c) against a
 * fake guest memory: descriptor-chain walking and validation (good chains,
 * any layout, loops of every length, out-of-table indices, indirect, buffers
 * outside RAM / wrapping / straddling its end, direction order, length
 * limit, first-error-wins), popping available heads (empty, index jumps,
 * bad heads, 16-bit wrap-around), pushing used elements; and the warning
 * rate limiter (vmm/ratelimit.h).  No KVM needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "hvswap/guest_abi.h"
#include "hvswap/ratelimit.h"
#include "virtq.h"

#define RAM_SIZE (1ull << 20)
#define BASE HV_RAM_BASE
#define END (BASE + RAM_SIZE)
#define QSIZE 16u

/* Fake guest RAM with the rings at fixed offsets. */
struct fake {
	uint8_t *ram;
	struct virtq_desc *desc;
	struct virtq q;
	struct virtq_limits lim;
	struct virtq_chain c;
};

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->ram = aligned_alloc(4096, RAM_SIZE);
	if (!f->ram) {
		free(f);
		return -1;
	}
	memset(f->ram, 0, RAM_SIZE);
	f->desc = (struct virtq_desc *)f->ram;
	f->q = (struct virtq){ .size = QSIZE, .desc = f->desc,
			       .avail = f->ram + 0x1000, .used = f->ram + 0x2000 };
	f->lim = (struct virtq_limits){ BASE, RAM_SIZE, 0 };
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;

	free(f->ram);
	free(f);
	return 0;
}

static void set(struct fake *f, unsigned i, uint64_t addr, uint32_t len,
		uint16_t flags, uint16_t next)
{
	f->desc[i] = (struct virtq_desc){ addr, len, flags, next };
}

static int walk(struct fake *f, uint16_t head)
{
	return virtq_walk(f->desc, QSIZE, head, &f->lim, &f->c);
}

#define NX VIRTQ_DESC_F_NEXT
#define WR VIRTQ_DESC_F_WRITE

static void test_good_chains(void **state)
{
	struct fake *f = *state;

	set(f, 3, BASE + 0x100, 16, 0, 0);
	assert_int_equal(walk(f, 3), 0);
	assert_int_equal(f->c.n, 1);
	assert_int_equal(f->c.head, 3);
	assert_int_equal(f->c.out_bytes, 16);
	assert_int_equal(f->c.err, 0);

	/* header -> data (writable, page-crossing) -> status, out of order
	 * in the table */
	set(f, 5, BASE + 0x100, 16, NX, 9);
	set(f, 9, BASE + 0x3ff0, 4096, NX | WR, 0);
	set(f, 0, END - 1, 1, WR, 0);
	assert_int_equal(walk(f, 5), 0);
	assert_int_equal(f->c.n, 3);
	assert_int_equal(f->c.out_bytes, 16);
	assert_int_equal(f->c.in_bytes, 4097);
	assert_int_equal(f->c.err, 0);
	assert_true(f->c.seg[1].write && f->c.seg[1].in_ram);
	assert_int_equal(f->c.seg[1].addr, BASE + 0x3ff0);
	assert_int_equal(f->c.seg[2].addr, END - 1);

	/* the longest legal chain: every descriptor once */
	for (unsigned i = 0; i < QSIZE; i++)
		set(f, i, BASE + i * 512, 512, i + 1 < QSIZE ? NX : 0,
		    (uint16_t)(i + 1));
	assert_int_equal(walk(f, 0), 0);
	assert_int_equal(f->c.n, QSIZE);
	assert_int_equal(f->c.out_bytes, QSIZE * 512);

	/* zero-length buffer at the very end of RAM is fine */
	set(f, 1, END, 0, 0, 0);
	assert_int_equal(walk(f, 1), 0);
	assert_int_equal(f->c.err, 0);
}

static void test_loops(void **state)
{
	struct fake *f = *state;

	set(f, 2, BASE, 16, NX, 2);                     /* self loop */
	assert_int_equal(walk(f, 2), -VIRTQ_E_LOOP);
	set(f, 0, BASE, 16, NX, 1);                     /* 0 -> 1 -> 0 */
	set(f, 1, BASE, 16, NX, 0);
	assert_int_equal(walk(f, 0), -VIRTQ_E_LOOP);
	set(f, 4, BASE, 16, NX, 5);                     /* tail loop 4 -> 5 -> 6 -> 5 */
	set(f, 5, BASE, 16, NX, 6);
	set(f, 6, BASE, 16, NX, 5);
	assert_int_equal(walk(f, 4), -VIRTQ_E_LOOP);
	/* a cycle through the whole table: longer than the queue */
	for (unsigned i = 0; i < QSIZE; i++)
		set(f, i, BASE, 16, NX, (uint16_t)((i + 1) % QSIZE));
	assert_int_equal(walk(f, 7), -VIRTQ_E_LOOP);
	assert_true(f->c.n <= QSIZE);
}

static void test_bad_indices(void **state)
{
	struct fake *f = *state;

	assert_int_equal(walk(f, QSIZE), -VIRTQ_E_HEAD);
	assert_int_equal(walk(f, 0xffff), -VIRTQ_E_HEAD);
	set(f, 0, BASE, 16, NX, QSIZE);
	assert_int_equal(walk(f, 0), -VIRTQ_E_NEXT);
	set(f, 0, BASE, 16, NX, 0xffff);
	assert_int_equal(walk(f, 0), -VIRTQ_E_NEXT);
	/* next is ignored without the NEXT flag */
	set(f, 0, BASE, 16, 0, 0xffff);
	assert_int_equal(walk(f, 0), 0);
	set(f, 0, BASE, 48, VIRTQ_DESC_F_INDIRECT, 0);
	assert_int_equal(walk(f, 0), -VIRTQ_E_INDIRECT);
	set(f, 0, BASE, 16, NX, 1);
	set(f, 1, BASE, 48, VIRTQ_DESC_F_INDIRECT | WR, 0);
	assert_int_equal(walk(f, 0), -VIRTQ_E_INDIRECT);
}

static void expect_range(struct fake *f, uint64_t addr, uint32_t len)
{
	set(f, 0, BASE, 16, NX, 1);
	set(f, 1, addr, len, NX | WR, 2);
	set(f, 2, BASE + 64, 1, WR, 0);
	assert_int_equal(walk(f, 0), 0);        /* structurally fine */
	assert_int_equal(f->c.n, 3);
	assert_int_equal(f->c.err, VIRTQ_E_RANGE);
	assert_int_equal(f->c.err_seg, 1);
	assert_false(f->c.seg[1].in_ram);
	assert_true(f->c.seg[2].in_ram);        /* status still usable */
}

static void test_out_of_range(void **state)
{
	struct fake *f = *state;

	expect_range(f, 0, 512);                        /* system area */
	expect_range(f, BASE - 1, 2);                   /* straddles the start */
	expect_range(f, END, 1);                        /* just after RAM */
	expect_range(f, END - 511, 512);                /* straddles the end */
	expect_range(f, 0xfffffffffffff000ull, 0x2000); /* wraps */
	expect_range(f, UINT64_MAX, 1);
	expect_range(f, BASE, 0xffffffffu);             /* longer than RAM */
}

static void test_order_and_limit(void **state)
{
	struct fake *f = *state;

	set(f, 0, BASE, 16, NX, 1);
	set(f, 1, BASE + 512, 512, NX | WR, 2);
	set(f, 2, BASE + 1024, 512, NX, 3);             /* readable after writable */
	set(f, 3, BASE + 64, 1, WR, 0);
	assert_int_equal(walk(f, 0), 0);
	assert_int_equal(f->c.err, VIRTQ_E_ORDER);
	assert_int_equal(f->c.err_seg, 2);

	f->lim.max_bytes = 1000;
	set(f, 2, BASE + 1024, 512, NX | WR, 3);
	assert_int_equal(walk(f, 0), 0);
	assert_int_equal(f->c.err, VIRTQ_E_TOOBIG);
	assert_int_equal(f->c.err_seg, 2);
	f->lim.max_bytes = 1041;                        /* exactly enough */
	assert_int_equal(walk(f, 0), 0);
	assert_int_equal(f->c.err, 0);

	/* the first per-buffer error wins */
	f->lim.max_bytes = 0;
	set(f, 1, END, 512, NX | WR, 2);
	set(f, 2, BASE + 1024, 512, NX, 3);
	assert_int_equal(walk(f, 0), 0);
	assert_int_equal(f->c.err, VIRTQ_E_RANGE);
	assert_int_equal(f->c.err_seg, 1);
}

static void avail_put(struct fake *f, uint16_t idx, uint16_t slot, uint16_t head)
{
	memcpy(f->q.avail + 4 + 2 * slot, &head, 2);
	memcpy(f->q.avail + 2, &idx, 2);
}

static void test_pop(void **state)
{
	struct fake *f = *state;
	uint16_t head = 0xbeef;

	assert_int_equal(virtq_pop(&f->q, &head), 0);
	avail_put(f, 1, 0, 7);
	assert_int_equal(virtq_pop(&f->q, &head), 1);
	assert_int_equal(head, 7);
	assert_int_equal(f->q.last_avail, 1);
	assert_int_equal(virtq_pop(&f->q, &head), 0);

	avail_put(f, 2, 1, QSIZE);                      /* head out of range */
	assert_int_equal(virtq_pop(&f->q, &head), -VIRTQ_E_HEAD);
	assert_int_equal(f->q.last_avail, 1);           /* not consumed */

	avail_put(f, (uint16_t)(1 + QSIZE + 1), 1, 3);  /* jumps too far */
	assert_int_equal(virtq_pop(&f->q, &head), -VIRTQ_E_AVAIL);
	avail_put(f, (uint16_t)(1 + QSIZE), 1, 3);      /* a full ring is fine */
	assert_int_equal(virtq_pop(&f->q, &head), 1);
	assert_int_equal(head, 3);
	avail_put(f, 0, 0, 0);                          /* goes backwards */
	assert_int_equal(virtq_pop(&f->q, &head), -VIRTQ_E_AVAIL);

	/* 16-bit wrap-around */
	f->q.last_avail = 0xffff;
	avail_put(f, 0, (uint16_t)(0xffff % QSIZE), 5);
	assert_int_equal(virtq_pop(&f->q, &head), 1);
	assert_int_equal(head, 5);
	assert_int_equal(f->q.last_avail, 0);
}

static void test_push(void **state)
{
	struct fake *f = *state;
	struct virtq_used_elem e;
	uint16_t idx;

	virtq_push(&f->q, 4, 513);
	memcpy(&idx, f->q.used + 2, 2);
	memcpy(&e, f->q.used + 4, sizeof(e));
	assert_int_equal(idx, 1);
	assert_int_equal(e.id, 4);
	assert_int_equal(e.len, 513);
	f->q.used_idx = 0xffff;
	virtq_push(&f->q, 9, 1);
	memcpy(&idx, f->q.used + 2, 2);
	memcpy(&e, f->q.used + 4 + 8 * (0xffff % QSIZE), sizeof(e));
	assert_int_equal(idx, 0);
	assert_int_equal(e.id, 9);
}

static void test_sizes_and_names(void **state)
{
	(void)state;
	assert_int_equal(virtq_desc_bytes(256), 4096);
	assert_int_equal(virtq_avail_bytes(256), 518);
	assert_int_equal(virtq_used_bytes(256), 2054);
	assert_string_equal(virtq_strerror(-VIRTQ_E_LOOP),
			    "descriptor loop (chain longer than the queue)");
	assert_string_equal(virtq_strerror(VIRTQ_E_RANGE), "buffer outside guest RAM");
	assert_string_equal(virtq_strerror(999), "unknown virtqueue error");
}

static void test_ratelimit(void **state)
{
	struct ratelimit rl = RATELIMIT_INIT(60000, 3);
	uint64_t sup = 99;
	unsigned i, ok = 0;

	(void)state;
	for (i = 0; i < 10; i++)
		ok += ratelimit_ok(&rl, &sup);
	assert_int_equal(ok, 3);
	assert_int_equal(sup, 0);
	assert_int_equal(rl.suppressed, 7);
	assert_int_equal(rl.total, 10);
	rl.start_ns -= 61ull * 1000000000ull;           /* next window */
	assert_true(ratelimit_ok(&rl, &sup));
	assert_int_equal(sup, 7);
	assert_int_equal(rl.suppressed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_chains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_indices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_and_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_push, setup, teardown),
		cmocka_unit_test(test_sizes_and_names),
		cmocka_unit_test(test_ratelimit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
