/*
 * test_swap_dev.c - unit tests of the swap device and slot allocator
 * (swapper/swap_dev.c): temp-file creation, sizing, allocation policy,
 * exhaustion, reuse, reference counts, retirement, usage numbers, errors,
 * and a small multi-thread stress.  Exit 77 if O_DIRECT is impossible here.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "swap_dev.h"

#define MiB (1024ull * 1024)
#define CL SWAP_CLUSTER_SLOTS

static struct swap_dev *open_tmp(uint64_t size)
{
	struct swap_dev_config cfg = { .size = size, .tmpdir = "/var/tmp" };
	struct swap_dev *d = NULL;

	assert_int_equal(swap_dev_open(&cfg, &d), 0);
	return d;
}

static void test_temp_file(void **state)
{
	struct swap_dev *d = open_tmp(8 * MiB);
	struct stat st;
	int fl;

	(void)state;
	assert_int_equal(fstat(swap_dev_fd(d), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_nlink, 0);              /* unlinked / invisible */
	assert_int_equal(st.st_size, 8 * MiB);
	assert_true((uint64_t)st.st_blocks * 512 >= 8 * MiB); /* fallocated */
	fl = fcntl(swap_dev_fd(d), F_GETFL);
	assert_true(fl & O_DIRECT);
	assert_true(swap_dev_direct(d));
	assert_int_equal(swap_dev_nslots(d), 8 * MiB / 4096);
	assert_non_null(strstr(swap_dev_path(d), "/var/tmp"));
	/* ~1 byte per slot plus a little per cluster. */
	assert_true(swap_dev_metadata_bytes(d) < swap_dev_nslots(d) + 1024);
	swap_dev_close(d);
}

static void test_sizing(void **state)
{
	struct swap_dev_config cfg = { .tmpdir = "/var/tmp" };
	struct swap_dev *d = NULL;

	(void)state;
	cfg.size = 0;                        /* temp file needs a size */
	assert_int_equal(swap_dev_open(&cfg, &d), -EINVAL);
	cfg.size = 2 * MiB - 4096;           /* < 2 clusters */
	assert_int_equal(swap_dev_open(&cfg, &d), -EINVAL);
	cfg.size = 2 * MiB + 4095;           /* rounds down to slots */
	assert_int_equal(swap_dev_open(&cfg, &d), 0);
	assert_int_equal(swap_dev_nslots(d), 2 * CL);
	swap_dev_close(d);
	cfg.size = 3 * MiB + 40 * 4096;      /* partial last cluster */
	assert_int_equal(swap_dev_open(&cfg, &d), 0);
	assert_int_equal(swap_dev_nslots(d), 3 * CL + 40);
	swap_dev_close(d);
}

/* Capture what the library logs while opening a bad path. */
static void test_bad_path(void **state)
{
	struct swap_dev_config cfg = { .path = "/var/tmp/hvswap-no-such/swap" };
	struct swap_dev *d = NULL;
	char buf[512] = "";
	FILE *cap = tmpfile();
	int saved = dup(2);
	size_t n;

	(void)state;
	assert_non_null(cap);
	fflush(stderr);
	dup2(fileno(cap), 2);
	assert_int_equal(swap_dev_open(&cfg, &d), -ENOENT);
	cfg.path = NULL;
	cfg.tmpdir = "/var/tmp/hvswap-no-such";
	cfg.size = 4 * MiB;
	assert_int_equal(swap_dev_open(&cfg, &d), -ENOENT);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(cap);
	n = fread(buf, 1, sizeof(buf) - 1, cap);
	buf[n] = 0;
	fclose(cap);
	assert_non_null(strstr(buf, "/var/tmp/hvswap-no-such/swap"));
	assert_non_null(strstr(buf, "No such file"));
	assert_non_null(strstr(buf, "temp swap file in /var/tmp/hvswap-no-such"));
}

static void test_existing_file(void **state)
{
	char path[] = "/var/tmp/hvswap-test-XXXXXX";
	struct swap_dev_config cfg = { 0 };
	struct swap_dev *d = NULL;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 3 * MiB), 0);
	close(fd);
	cfg.path = path;
	assert_int_equal(swap_dev_open(&cfg, &d), 0);   /* size 0: use the file's */
	assert_int_equal(swap_dev_nslots(d), 3 * CL);
	assert_string_equal(swap_dev_path(d), path);
	swap_dev_close(d);
	cfg.size = 4 * MiB;                              /* grow a regular file */
	assert_int_equal(swap_dev_open(&cfg, &d), 0);
	assert_int_equal(swap_dev_nslots(d), 4 * CL);
	swap_dev_close(d);
	cfg.path = "/dev/null";                          /* a char device */
	assert_int_equal(swap_dev_open(&cfg, &d), -EINVAL);
	unlink(path);
}

static void test_contiguous(void **state)
{
	struct swap_dev *d = open_tmp(4 * MiB);
	uint64_t a, b, c;

	(void)state;
	assert_int_equal(swap_slot_alloc(d, 1, &a), 1);
	assert_int_equal(a, 1);                          /* slot 0 reserved */
	assert_int_equal(swap_slot_alloc(d, 16, &b), 16);
	assert_int_equal(b, 2);
	assert_int_equal(b / CL, (b + 15) / CL);
	assert_int_equal(swap_slot_alloc(d, 16, &c), 16);
	assert_int_equal(c, b + 16);                     /* sequential */
	assert_int_equal(swap_slot_count(d, c + 15), 1);
	assert_int_equal(swap_slot_count(d, c + 16), 0);
	assert_int_equal(swap_slot_count(d, 0), SWAP_SLOT_BAD);
	assert_int_equal(swap_slot_alloc(d, 0, &c), -EINVAL);
	assert_int_equal(swap_slot_alloc(d, 257, &c), -EINVAL);
	swap_dev_close(d);
}

/* A batch that does not fit at the fill point goes to an empty cluster,
 * not into the holes of a used one. */
static void test_batch_prefers_empty_cluster(void **state)
{
	struct swap_dev *d = open_tmp(4 * MiB);
	struct swap_dev_usage u;
	uint64_t s, first;
	int i;

	(void)state;
	for (i = 1; i < 200; i++)
		assert_int_equal(swap_slot_alloc(d, 1, &s), 1);
	for (s = 10; s < 100; s += 2)
		swap_slot_put(d, s);                     /* holes of 1 */
	swap_dev_usage(d, &u);
	assert_int_equal(u.free_clusters, 3);
	assert_int_equal(swap_slot_alloc(d, 64, &first), 64);
	assert_int_equal(first % CL, 0);
	assert_true(first >= CL);
	swap_dev_usage(d, &u);
	assert_int_equal(u.free_clusters, 2);
	/* Whole-cluster batches land on cluster boundaries. */
	assert_int_equal(swap_slot_alloc(d, 256, &first), 256);
	assert_int_equal(first % CL, 0);
	swap_dev_close(d);
}

/* 2 clusters = 511 usable slots; then fragmented leftovers. */
static void test_exhaustion_and_reuse(void **state)
{
	struct swap_dev *d = open_tmp(2 * MiB);
	struct swap_dev_usage u;
	uint64_t s, total = 0;
	int n;

	(void)state;
	while ((n = swap_slot_alloc(d, 100, &s)) > 0) {
		for (uint64_t k = s; k < s + (uint64_t)n; k++)
			assert_int_equal(swap_slot_count(d, k), 1);
		total += (uint64_t)n;
	}
	assert_int_equal(n, -ENOSPC);
	assert_int_equal(total, 2 * CL - 1);
	assert_int_equal(swap_slot_alloc(d, 1, &s), -ENOSPC);
	swap_dev_usage(d, &u);
	assert_int_equal(u.used, 2 * CL - 1);
	assert_int_equal(u.free_clusters, 0);

	/* Free a run of 5 and a lone slot: a batch of 8 gets the run of 5. */
	for (s = 300; s < 305; s++)
		swap_slot_put(d, s);
	swap_slot_put(d, 400);
	assert_int_equal(swap_slot_alloc(d, 8, &s), 5);
	assert_int_equal(s, 300);
	assert_int_equal(swap_slot_alloc(d, 8, &s), 1);
	assert_int_equal(s, 400);
	assert_int_equal(swap_slot_alloc(d, 1, &s), -ENOSPC);

	for (s = 1; s < 2 * CL; s++)
		swap_slot_put(d, s);
	swap_dev_usage(d, &u);
	assert_int_equal(u.used, 0);
	assert_int_equal(u.free_clusters, 1);            /* cluster 0 has slot 0 */
	assert_int_equal(swap_slot_alloc(d, 256, &s), 256);
	assert_int_equal(s, CL);
	swap_dev_close(d);
}

static void test_refcount(void **state)
{
	struct swap_dev *d = open_tmp(2 * MiB);
	uint64_t s;
	int i;

	(void)state;
	assert_int_equal(swap_slot_alloc(d, 1, &s), 1);
	assert_int_equal(swap_slot_dup(d, s), 0);
	assert_int_equal(swap_slot_count(d, s), 2);
	swap_slot_put(d, s);
	assert_int_equal(swap_slot_count(d, s), 1);
	swap_slot_put(d, s);
	assert_int_equal(swap_slot_count(d, s), 0);
	assert_int_equal(swap_slot_dup(d, s), -EINVAL);   /* free */
	assert_int_equal(swap_slot_dup(d, 0), -EINVAL);   /* reserved */
	assert_int_equal(swap_slot_dup(d, 1u << 30), -EINVAL);

	assert_int_equal(swap_slot_alloc(d, 1, &s), 1);
	for (i = 1; i < (int)SWAP_SLOT_COUNT_MAX; i++)
		assert_int_equal(swap_slot_dup(d, s), 0);
	assert_int_equal(swap_slot_count(d, s), SWAP_SLOT_COUNT_MAX);
	assert_int_equal(swap_slot_dup(d, s), -EOVERFLOW);
	for (i = 0; i < (int)SWAP_SLOT_COUNT_MAX; i++)
		swap_slot_put(d, s);
	assert_int_equal(swap_slot_count(d, s), 0);
	swap_dev_close(d);
}

static void test_retire(void **state)
{
	struct swap_dev *d = open_tmp(2 * MiB);
	struct swap_dev_usage u;
	uint64_t s, bad, k;
	int n;

	(void)state;
	assert_int_equal(swap_slot_alloc(d, 4, &s), 4);
	bad = s + 1;
	assert_int_equal(swap_slot_dup(d, bad), 0);      /* count 2 */
	swap_slot_retire(d, bad);                        /* dead anyway */
	assert_int_equal(swap_slot_count(d, bad), SWAP_SLOT_BAD);
	assert_int_equal(swap_slot_dup(d, bad), -EINVAL);
	swap_slot_put(d, bad);                           /* other holder: ignored */
	assert_int_equal(swap_slot_count(d, bad), SWAP_SLOT_BAD);
	swap_slot_retire(d, 300);                        /* a free slot */
	swap_dev_usage(d, &u);
	assert_int_equal(u.used, 3);
	assert_int_equal(u.bad, 2);
	assert_int_equal(u.free_clusters, 0);            /* both clusters touched */

	for (k = s; k < s + 4; k++)
		swap_slot_put(d, k);
	/* Everything allocatable: never the bad ones. */
	while ((n = swap_slot_alloc(d, 7, &s)) > 0) {
		assert_false(bad >= s && bad < s + (uint64_t)n);
		assert_false(300 >= s && 300 < s + (uint64_t)n);
	}
	swap_dev_usage(d, &u);
	assert_int_equal(u.used, 2 * CL - 1 - 2);
	assert_int_equal(u.bad, 2);
	swap_dev_close(d);
}

/* ---- stress: 4 threads alloc/free; no slot handed out twice ---- */

struct stress {
	struct swap_dev *d;
	_Atomic unsigned char *owner;   /* 0 = nobody, else thread id + 1 */
	_Atomic int errors;
};

struct stress_arg {
	struct stress *st;
	unsigned int id;
};

static void *stress_thread(void *p)
{
	struct stress_arg *a = p;
	struct stress *st = a->st;
	unsigned int seed = a->id * 7919u + 1;
	uint64_t first;
	unsigned char none;
	int i, n, k;

	for (i = 0; i < 3000; i++) {
		n = swap_slot_alloc(st->d, (unsigned int)(rand_r(&seed) % 16 + 1), &first);
		if (n < 0)
			continue;
		for (k = 0; k < n; k++) {
			none = 0;
			if (!atomic_compare_exchange_strong(&st->owner[first + (uint64_t)k],
							    &none, (unsigned char)(a->id + 1)))
				atomic_fetch_add(&st->errors, 1);
		}
		for (k = 0; k < n; k++) {
			atomic_store(&st->owner[first + (uint64_t)k], 0);
			swap_slot_put(st->d, first + (uint64_t)k);
		}
	}
	return NULL;
}

static void test_stress(void **state)
{
	struct stress st = { .d = open_tmp(2 * MiB) };
	struct stress_arg a[4];
	struct swap_dev_usage u;
	pthread_t t[4];
	unsigned int i;

	(void)state;
	st.owner = calloc(swap_dev_nslots(st.d), sizeof(*st.owner));
	for (i = 0; i < 4; i++) {
		a[i] = (struct stress_arg){ &st, i };
		assert_int_equal(pthread_create(&t[i], NULL, stress_thread, &a[i]), 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&st.errors), 0);
	swap_dev_usage(st.d, &u);
	assert_int_equal(u.used, 0);
	assert_int_equal(u.bad, 0);
	free((void *)st.owner);
	swap_dev_close(st.d);
}

static int o_direct_possible(void)
{
	int fd = open("/var/tmp", O_TMPFILE | O_RDWR | O_DIRECT, 0600);

	if (fd < 0)
		return errno != EINVAL;
	close(fd);
	return 1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_temp_file),
		cmocka_unit_test(test_sizing),
		cmocka_unit_test(test_bad_path),
		cmocka_unit_test(test_existing_file),
		cmocka_unit_test(test_contiguous),
		cmocka_unit_test(test_batch_prefers_empty_cluster),
		cmocka_unit_test(test_exhaustion_and_reuse),
		cmocka_unit_test(test_refcount),
		cmocka_unit_test(test_retire),
		cmocka_unit_test(test_stress),
	};

	if (!o_direct_possible()) {
		fprintf(stderr, "SKIP: /var/tmp does not support O_DIRECT\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
