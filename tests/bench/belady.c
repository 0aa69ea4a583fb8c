/*
 * belady.c - Belady's MIN (optimal offline replacement) for a memtouch
 * access sequence and a resident limit.
 *
 *   bench_belady limit=SIZE ws=1G pattern=zipf ... [init=1] [vcpus=N]
 *
 * The sequence is generated with hv_gen_host exactly as the guest does:
 * with init=1 first the untimed init writes (every page of each vCPU's
 * slice, in order), then each vCPU's mt_gen_next() stream; several vCPUs
 * are interleaved round-robin (the guest's real interleaving is not
 * deterministic; with vcpus=1 the sequence is exact).
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
	struct mt_gen g[64];
	uint32_t *pg;
	uint8_t *wr, *state;        /* state: bit0 resident, bit1 has data, bit2 dirty */
	uint64_t *nxt, *last, *cur_next;
	uint64_t n = 0, cap, i, limit, resident = 0;
	uint64_t misses = 0, comp = 0, swapins = 0, swapouts = 0;
	unsigned c;

	if (bench_parse(argc, argv, 1, &a, extra, NULL))
		return 2;
	limit = limit_bytes / MT_PAGE_SIZE;
	if (!limit || a.p.pages >= UINT32_MAX) {
		fprintf(stderr, "need limit=SIZE >= 4K and ws < 16 TiB\n");
		return 2;
	}
	cap = (uint64_t)a.p.passes * a.p.pages + (a.init ? a.p.pages : 0) + a.vcpus;
	pg = malloc(cap * sizeof(*pg));
	wr = malloc(cap);
	nxt = malloc(cap * sizeof(*nxt));
	if (!pg || !wr || !nxt) {
		fprintf(stderr, "out of memory for %llu accesses\n", (unsigned long long)cap);
		return 1;
	}
	/* Generate. */
	if (a.init) {
		uint64_t lo[64], hi[64];
		bool more = true;

		for (c = 0; c < a.vcpus; c++) {
			lo[c] = a.p.pages * c / a.vcpus;
			hi[c] = a.p.pages * (c + 1) / a.vcpus;
		}
		while (more) {
			more = false;
			for (c = 0; c < a.vcpus; c++) {
				if (lo[c] < hi[c]) {
					pg[n] = (uint32_t)lo[c]++;
					wr[n++] = lo[c] != 1;   /* page 0 gets 0: stays zero */
					more = true;
				}
			}
		}
	}
	for (c = 0; c < a.vcpus; c++)
		mt_gen_init(&g[c], &a.p, c, a.vcpus);
	for (bool more = true; more;) {
		more = false;
		for (c = 0; c < a.vcpus; c++) {
			uint64_t p;
			bool w;

			if (mt_gen_next(&g[c], &p, &w)) {
				pg[n] = (uint32_t)p;
				wr[n++] = w;
				more = true;
			}
		}
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
	free(wr);
	free(pg);
	return 0;
}
