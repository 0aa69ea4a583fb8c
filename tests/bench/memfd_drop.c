/*
 * memfd_drop.c - what it costs to drop a page of memfd (shmem) guest memory
 * the way eviction does (issue 14): fallocate(PUNCH_HOLE|KEEP_SIZE) on the
 * memfd against madvise(MADV_REMOVE) on the mapping, for runs of pages
 * write-protected with userfaultfd first (the state eviction drops them in).
 *
 *   bench_memfd_drop [pages=16384] [run=32] [rounds=5]
 *
 * Each round: the mapping is unregistered, every page is written (fresh
 * shmem pages), registered (MISSING|WP) and write-protected, then dropped
 * run by run with one method, timed on this thread (CLOCK_MONOTONIC); the
 * methods alternate round by round so drift hits both.  After each drop the
 * round checks the page is gone from the memfd (lseek SEEK_DATA finds no
 * data there): a drop that left the page behind would let the guest see old
 * contents with no userfaultfd fault.
 *
 * Prints one JSON object: pages, run, rounds, and per method the ns per page
 * of every round and their median.  Exit 0, 1 on an error, 77 without
 * userfaultfd.  uffd ioctls go through swapper/uffd.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "uffd.h"

#define PG 4096ull
#define MAXROUNDS 64

enum method { M_PUNCH, M_REMOVE, NMETHODS };
static const char *const method_name[NMETHODS] = { "punch_hole", "madv_remove" };

struct bench {
	int memfd, uffd;
	uint8_t *host;
	uint64_t pages;
	unsigned int run, rounds;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int drop(struct bench *b, enum method m, uint64_t first, uint64_t n)
{
	if (m == M_PUNCH)
		return fallocate(b->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 (off_t)(first * PG), (off_t)(n * PG));
	return madvise(b->host + first * PG, n * PG, MADV_REMOVE);
}

/* True if the memfd holds no data in [first, first+n) pages. */
static int gone(struct bench *b, uint64_t first, uint64_t n)
{
	off_t d = lseek(b->memfd, (off_t)(first * PG), SEEK_DATA);

	return (d < 0 && errno == ENXIO) || (d >= 0 && (uint64_t)d >= (first + n) * PG);
}

static int prepare(struct bench *b)
{
	uint64_t i;
	int r;

	uffd_unregister(b->uffd, b->host, b->pages * PG);
	for (i = 0; i < b->pages; i++)
		memset(b->host + i * PG, (int)(i | 1), PG);
	r = uffd_register(b->uffd, b->host, b->pages * PG,
			  UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP, NULL);
	if (r == 0)
		r = uffd_writeprotect(b->uffd, b->host, b->pages * PG, true, false);
	return r;
}

/* One round with method m: ns per page, or 0 on an error (reported). */
static double round_ns(struct bench *b, enum method m)
{
	uint64_t t0, t, i, n;

	if (prepare(b) < 0) {
		fprintf(stderr, "memfd_drop: cannot register/protect the pages\n");
		return 0;
	}
	t = 0;
	for (i = 0; i < b->pages; i += n) {
		n = b->pages - i < b->run ? b->pages - i : b->run;
		t0 = now_ns();
		if (drop(b, m, i, n) < 0) {
			fprintf(stderr, "memfd_drop: %s: %s\n", method_name[m], strerror(errno));
			return 0;
		}
		t += now_ns() - t0;
		if (!gone(b, i, n)) {
			fprintf(stderr, "memfd_drop: %s left data at page %llu\n",
				method_name[m], (unsigned long long)i);
			return 0;
		}
	}
	return (double)t / (double)b->pages;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void print_json(struct bench *b, double v[NMETHODS][MAXROUNDS])
{
	double sorted[MAXROUNDS];
	unsigned int m, i;

	printf("{\"pages\": %llu, \"run\": %u, \"rounds\": %u",
	       (unsigned long long)b->pages, b->run, b->rounds);
	for (m = 0; m < NMETHODS; m++) {
		printf(", \"%s\": {\"ns_per_page\": [", method_name[m]);
		for (i = 0; i < b->rounds; i++)
			printf("%s%.1f", i ? ", " : "", v[m][i]);
		memcpy(sorted, v[m], b->rounds * sizeof(double));
		qsort(sorted, b->rounds, sizeof(double), cmp_double);
		printf("], \"median_ns\": %.1f}", sorted[b->rounds / 2]);
	}
	printf("}\n");
}

static int parse_args(struct bench *b, int argc, char **argv)
{
	int i;

	b->pages = 16384;
	b->run = 32;
	b->rounds = 5;
	for (i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '='), *end;
		unsigned long long v;

		if (!eq)
			goto bad;
		errno = 0;
		v = strtoull(eq + 1, &end, 0);
		if (errno || *end || !v)
			goto bad;
		if (!strncmp(argv[i], "pages=", 6) && v <= (1ull << 24))
			b->pages = v;
		else if (!strncmp(argv[i], "run=", 4) && v <= 4096)
			b->run = (unsigned int)v;
		else if (!strncmp(argv[i], "rounds=", 7) && v <= MAXROUNDS)
			b->rounds = (unsigned int)v;
		else
			goto bad;
	}
	return 0;
bad:
	fprintf(stderr, "usage: bench_memfd_drop [pages=N<=16M] [run=N<=4096] "
		"[rounds=N<=%d] (bad: %s)\n", MAXROUNDS, argv[i]);
	return -1;
}

int main(int argc, char **argv)
{
	static double v[NMETHODS][MAXROUNDS];
	struct bench b;
	unsigned int i;
	int rc = 1;

	memset(&b, 0, sizeof(b));
	if (parse_args(&b, argc, argv) < 0)
		return 2;
	b.uffd = uffd_open(0);
	if (b.uffd < 0) {
		fprintf(stderr, "memfd_drop: no userfaultfd: %s\n", strerror(-b.uffd));
		return 77;
	}
	b.memfd = memfd_create("bench-memfd-drop", MFD_CLOEXEC);
	if (b.memfd < 0 || ftruncate(b.memfd, (off_t)(b.pages * PG)) < 0)
		goto out;
	b.host = mmap(NULL, b.pages * PG, PROT_READ | PROT_WRITE, MAP_SHARED,
		      b.memfd, 0);
	if (b.host == MAP_FAILED)
		goto out;
	for (i = 0; i < 2 * b.rounds; i++) {
		enum method m = (enum method)(i % NMETHODS);

		v[m][i / 2] = round_ns(&b, m);
		if (v[m][i / 2] == 0)
			goto out;
	}
	print_json(&b, v);
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "memfd_drop: failed (%s)\n", strerror(errno));
	return rc;
}
