/*
 * replay.c - replay a memtouch guest's exact access sequence in a plain host
 * process, so the kernel's own swap can be measured on the same workload.
 *
 *   bench_replay ws=1G pattern=zipf ... [init=1] [vcpus=N]
 *
 * Same arguments as memtouch.  The working set is one anonymous private
 * mapping (MADV_NOHUGEPAGE: 4 KiB paging like the guest's swapper).  With
 * init=1 each thread first writes one word of every page of its slice (as
 * memtouch init_pages(); with fill= the whole page, lib/fill.h), untimed;
 * then each "vCPU" (one thread each) replays
 * mt_gen_next() for its id, reading or writing the same word memtouch
 * touches.  Prints one JSON object: elapsed_ns (slowest thread, timed phase),
 * init_ns, accesses, writes, ns_per_access, seq_hash0 (must equal the guest's
 * metric of that name), and /proc/vmstat pswpin/pswpout deltas for the
 * timed phase and for the whole process.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "bench_args.h"

struct thr {
	pthread_t t;
	unsigned id;
	uint64_t acc, wr, sink, hash, ns;
};

static struct bench_args A;
static uint8_t *base;
static pthread_barrier_t bar;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void vmstat(uint64_t *in, uint64_t *out)
{
	FILE *f = fopen("/proc/vmstat", "r");
	char k[64];
	unsigned long long v;

	*in = *out = 0;
	if (!f)
		return;
	while (fscanf(f, "%63s %llu", k, &v) == 2) {
		if (!strcmp(k, "pswpin"))
			*in = v;
		else if (!strcmp(k, "pswpout"))
			*out = v;
	}
	fclose(f);
}

static uint64_t t_init0, t_init1, t_run0, vm_in0, vm_out0;

static void *worker(void *arg)
{
	struct thr *t = arg;
	struct mt_gen g;
	uint64_t page, seq = 0, sink = 0, h = MT_SEQ_HASH_INIT, t0;
	bool wr;

	if (A.init) {
		uint64_t lo = A.p.pages * t->id / A.vcpus;
		uint64_t hi = A.p.pages * (t->id + 1) / A.vcpus, i;

		for (i = lo; i < hi; i++) {
			if (A.fill.kind == FILL_SPARSE)
				*(volatile uint64_t *)(base + i * MT_PAGE_SIZE) = i;
			else
				fill_page(&A.fill, A.p.seed, i,
					  (uint64_t *)(base + i * MT_PAGE_SIZE));
		}
	}
	if (pthread_barrier_wait(&bar) == PTHREAD_BARRIER_SERIAL_THREAD) {
		t_init1 = now_ns();
		vmstat(&vm_in0, &vm_out0);
		t_run0 = now_ns();
	}
	pthread_barrier_wait(&bar);
	mt_gen_init(&g, &A.p, t->id, A.vcpus);
	t0 = now_ns();
	while (mt_gen_next(&g, &page, &wr)) {
		volatile uint64_t *p = (volatile uint64_t *)(base + page * MT_PAGE_SIZE)
				       + mt_word(page, seq);

		if (wr) {
			*p = seq ^ page;
			t->wr++;
		} else {
			sink += *p;
		}
		h = mt_seq_hash(h, page, wr);
		seq++;
	}
	t->ns = now_ns() - t0;
	t->acc = seq;
	t->sink = sink;
	t->hash = h;
	return NULL;
}

int main(int argc, char **argv)
{
	struct thr th[64];
	uint64_t size, in_s, out_s, in1, out1, acc = 0, wr = 0, ns = 0, sink = 0;
	unsigned i;

	if (bench_parse(argc, argv, 1, &A, NULL, NULL))
		return 2;
	size = A.p.pages * MT_PAGE_SIZE;
	base = mmap(NULL, size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	madvise(base, size, MADV_NOHUGEPAGE);
	vmstat(&in_s, &out_s);
	pthread_barrier_init(&bar, NULL, A.vcpus);
	t_init0 = now_ns();
	for (i = 0; i < A.vcpus; i++) {
		memset(&th[i], 0, sizeof(th[i]));
		th[i].id = i;
		if (pthread_create(&th[i].t, NULL, worker, &th[i])) {
			perror("pthread_create");
			return 1;
		}
	}
	for (i = 0; i < A.vcpus; i++) {
		pthread_join(th[i].t, NULL);
		acc += th[i].acc;
		wr += th[i].wr;
		sink += th[i].sink;
		if (th[i].ns > ns)
			ns = th[i].ns;
	}
	vmstat(&in1, &out1);
	printf("{\"elapsed_ns\":%llu,\"init_ns\":%llu,\"accesses\":%llu,"
	       "\"writes\":%llu,\"ns_per_access\":%.3f,\"seq_hash0\":%llu,"
	       "\"pswpin_run\":%llu,\"pswpout_run\":%llu,"
	       "\"pswpin_total\":%llu,\"pswpout_total\":%llu,\"sink\":%llu}\n",
	       (unsigned long long)ns,
	       (unsigned long long)(A.init ? t_init1 - t_init0 : 0),
	       (unsigned long long)acc, (unsigned long long)wr,
	       acc ? (double)ns / (double)acc * A.vcpus : 0.0,
	       (unsigned long long)(th[0].hash & ((1ull << 52) - 1)),
	       (unsigned long long)(in1 - vm_in0), (unsigned long long)(out1 - vm_out0),
	       (unsigned long long)(in1 - in_s), (unsigned long long)(out1 - out_s),
	       (unsigned long long)(sink & 0xff));
	(void)t_run0;
	return 0;
}
