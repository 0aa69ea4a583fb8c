/*
 * belady.c - Belady's MIN (optimal offline replacement) for a memtouch
 * access sequence and a resident limit.
 *
 *   bench_belady limit=SIZE ws=1G pattern=zipf ... [init=1] [vcpus=N]
 *
 * The sequence is the guest's, built by trace.h (init writes, then each
 * vCPU's mt_gen_next() stream, vCPUs interleaved round-robin).
 *
 * MIN: next-use distances by one backward scan, then a max-heap keyed by
 * next use with lazy deletion: on a miss with a full memory, evict the
 * resident page whose next use is farthest.  O(n log n) time, O(n) memory.
 *
 * Output (JSON): accesses, limit_pages, misses (all), compulsory (first
 * touch of a page), swapins (misses on pages holding data, i.e. written
 * before - what a swapper must read back; misses on never-written pages are
 * zero-page faults in hvswap and in the kernel alike), swapouts (evictions
 * of pages written since they were last brought in).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_args.h"
#include "trace.h"

static uint64_t limit_bytes;

static int extra(const char *k, const char *v, void *ctx)
{
	(void)ctx;
	if (!strcmp(k, "limit"))
		return bench_parse_size(v, &limit_bytes);
	return -1;
}

struct ent {
	uint64_t key;    /* next use (index), UINT64_MAX = never */
	uint32_t page;
};

static struct ent *heap;
static size_t hn;

static void heap_push(uint64_t key, uint32_t page)
{
	size_t i = hn++;

	while (i) {
		size_t p = (i - 1) / 2;

		if (heap[p].key >= key)
			break;
		heap[i] = heap[p];
		i = p;
	}
	heap[i].key = key;
	heap[i].page = page;
}

static struct ent heap_pop(void)
{
	struct ent top = heap[0], last = heap[--hn];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= hn)
			break;
		if (c + 1 < hn && heap[c + 1].key > heap[c].key)
			c++;
		if (heap[c].key <= last.key)
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (hn)
		heap[i] = last;
	return top;
}

int main(int argc, char **argv)
{
	struct bench_args a;
	struct bench_trace t;
	uint32_t *pg;
	uint8_t *wr, *state;        /* state: bit0 resident, bit1 has data, bit2 dirty */
	uint64_t *nxt, *last, *cur_next;
	uint64_t n, i, limit, resident = 0;
	uint64_t misses = 0, comp = 0, swapins = 0, swapouts = 0;

	if (bench_parse(argc, argv, 1, &a, extra, NULL))
		return 2;
	limit = limit_bytes / MT_PAGE_SIZE;
	if (!limit || a.p.pages >= UINT32_MAX) {
		fprintf(stderr, "need limit=SIZE >= 4K and ws < 16 TiB\n");
		return 2;
	}
	if (bench_trace_build(&a, &t)) {
		fprintf(stderr, "out of memory for the access sequence\n");
		return 1;
	}
	pg = t.pg;
	wr = t.wr;
	n = t.n;
	nxt = malloc((n + 1) * sizeof(*nxt));
	if (!nxt) {
		fprintf(stderr, "out of memory for %llu accesses\n", (unsigned long long)n);
		return 1;
	}
	/* Next-use distances. */
	last = malloc(a.p.pages * sizeof(*last));
	cur_next = malloc(a.p.pages * sizeof(*cur_next));
	state = calloc(a.p.pages, 1);
	heap = malloc((n + 1) * sizeof(*heap));
	if (!last || !cur_next || !state || !heap) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	for (i = 0; i < a.p.pages; i++)
		last[i] = UINT64_MAX;
	for (i = n; i-- > 0;) {
		nxt[i] = last[pg[i]];
		last[pg[i]] = i;
	}
	/* Simulate MIN. */
	for (i = 0; i < n; i++) {
		uint32_t p = pg[i];

		if (!(state[p] & 1)) {
			misses++;
			if (state[p] & 2)
				swapins++;
			else if (!(state[p] & 8))
				comp++;
			state[p] |= 8;          /* seen */
			if (resident == limit) {
				for (;;) {
					struct ent e = heap_pop();

					if ((state[e.page] & 1) && cur_next[e.page] == e.key) {
						if (state[e.page] & 4)
							swapouts++;
						state[e.page] &= (uint8_t)~5;
						resident--;
						break;
					}
				}
			}
			state[p] |= 1;
			resident++;
		}
		if (wr[i])
			state[p] |= 6;
		cur_next[p] = nxt[i];
		heap_push(nxt[i], p);
		/* Stale entries: rebuild when the heap gets large. */
		if (hn > 4 * limit + 1024) {
			size_t k, m = 0;

			for (k = 0; k < hn; k++) {
				struct ent e = heap[k];

				if ((state[e.page] & 1) && cur_next[e.page] == e.key)
					heap[m++] = e;
			}
			hn = 0;
			for (k = 0; k < m; k++)
				heap_push(heap[k].key, heap[k].page);
		}
	}
	printf("{\"accesses\":%llu,\"limit_pages\":%llu,\"misses\":%llu,"
	       "\"compulsory\":%llu,\"swapins\":%llu,\"swapouts\":%llu}\n",
	       (unsigned long long)n, (unsigned long long)limit,
	       (unsigned long long)misses, (unsigned long long)comp,
	       (unsigned long long)swapins, (unsigned long long)swapouts);
	free(heap);
	free(state);
	free(cur_next);
	free(last);
	free(nxt);
	bench_trace_free(&t);
	return 0;
}
