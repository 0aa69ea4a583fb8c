/*
 * buf.c - the swapper's buffers: staging (eviction), bounce (swap-in) and
 * the ring of queued faults.
 *
 * Owns: the staging area (nstaging 4 KiB buffers, registered with the uffd
 * as a UFFDIO_MOVE destination when MOVE is used) with its in-use bitmap,
 * the bounce buffers (DMA targets of swap-in reads, populated once) with
 * their free stack, the queued-fault ring.  All of it is protected by
 * buf_lock, a leaf.  Every get has its put here: buf_stage_get_run /
 * buf_stage_put (+ buf_stage_release_run, which empties the pages first),
 * buf_bounce_get / buf_bounce_put, buf_pending_push / buf_pending_pop.
 *
 * Invariant with UFFDIO_MOVE: a free staging buffer is empty (no page
 * mapped): MOVE needs an empty destination.  Only UFFDIO_MOVE and
 * UFFDIO_COPY fill one; nobody touches an empty one.  Without MOVE (memfd
 * guest memory, old kernels) staging is plain memory filled by memcpy and
 * stays populated when released: emptying it made every eviction copy
 * fault in a fresh page (2-10 us each under nested KVM), which halved the
 * write-out capacity of memfd memory (bench_swapout backing=memfd,
 * docs/benchmarks.md).  It costs at most staging_pages of host memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hvswap/log.h"
#include "internal.h"

#define NBOUNCE 4096            /* 16 MiB: room for a 4 MiB readahead window,
				   the next one and random faults */
#define NBOUNCE_HUGE 16          /* 32 MiB of 2 MiB units: readahead
				   windows of huge units are 4 units */
#define PENDING_CAP 65536

static void *map_buffers(struct swapper *s, uint32_t n)
{
	size_t len = (size_t)n * s->psz, extra = s->pshift > 12 ? s->psz : 0;
	uint8_t *p = mmap(NULL, len + extra, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint8_t *a;

	if (p == MAP_FAILED)
		return NULL;
	/* 2 MiB units: each buffer on a 2 MiB boundary, so that it can be
	 * one THP and UFFDIO_MOVE moves THPs whole (thp.c) */
	a = (uint8_t *)(((uintptr_t)p + s->psz - 1) & ~(uintptr_t)(s->psz - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (extra)
		munmap(a + len, (size_t)(p + extra - a));
	madvise(a, len, s->pshift > 12 ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	return a;
}

static int pool_init(struct buf_pool *p, uint32_t n)
{
	p->map = calloc((n + 63) / 64, sizeof(uint64_t));
	p->n = p->nfree = n;
	p->hint = 0;
	return p->map ? 0 : -ENOMEM;
}

static bool used_locked(const struct buf_pool *p, uint32_t b)
{
	return p->map[b / 64] & (1ull << (b % 64));
}

static void mark_locked(struct buf_pool *p, uint32_t b, uint32_t n, bool used)
{
	uint32_t i;

	for (i = b; i < b + n; i++) {
		if (used)
			p->map[i / 64] |= 1ull << (i % 64);
		else
			p->map[i / 64] &= ~(1ull << (i % 64));
	}
	if (used)
		p->nfree -= n;
	else
		p->nfree += n;
}

/* The first run of n free buffers from the hint (next fit; runs do not
 * wrap); with `shorter`, the longest run met if none is that long.  The
 * run is marked used.  Returns its length, 0 if none. */
static uint32_t run_get_locked(struct buf_pool *p, uint32_t n, bool shorter,
			       uint32_t *first)
{
	uint32_t start = p->hint % p->n, i, run = 0, tried, best = 0, bfirst = 0;

	if (n == 0 || p->nfree == 0 || (!shorter && n > p->nfree))
		return 0;
	for (tried = 0; tried < p->n + n; tried++) {
		i = (start + tried) % p->n;
		if (i == 0)
			run = 0;        /* runs do not wrap around */
		if (used_locked(p, i)) {
			run = 0;
			continue;
		}
		if (++run > best) {
			best = run;
			bfirst = i + 1 - run;
		}
		if (run == n)
			break;
	}
	if (best < n && !shorter)
		return 0;
	*first = bfirst;
	mark_locked(p, bfirst, best, true);
	p->hint = bfirst + best;
	return best;
}

int buf_init(struct swapper *s)
{
	pthread_mutex_init(&s->buf_lock, NULL);
	s->nstaging = s->cfg.staging_pages;
	s->nbounce = s->pshift > 12 ? NBOUNCE_HUGE : NBOUNCE;
	s->staging = map_buffers(s, s->nstaging);
	s->bounce = map_buffers(s, s->nbounce);
	s->stage_owner = calloc(s->nstaging, sizeof(uint32_t));
	s->pend_cap = PENDING_CAP;
	s->pending = calloc(s->pend_cap, sizeof(*s->pending));
	if (!s->staging || !s->bounce || !s->stage_owner || !s->pending ||
	    pool_init(&s->stage_pool, s->nstaging) < 0 ||
	    pool_init(&s->bounce_pool, s->nbounce) < 0)
		return -ENOMEM;
	/* Bounce buffers are DMA targets: populate them now, once. */
	memset(s->bounce, 0, (size_t)s->nbounce * s->psz);
	return 0;
}

void buf_fini(struct swapper *s)
{
	if (s->staging)
		munmap(s->staging, (size_t)s->nstaging * s->psz);
	if (s->bounce)
		munmap(s->bounce, (size_t)s->nbounce * s->psz);
	free(s->stage_pool.map);
	free(s->bounce_pool.map);
	free(s->stage_owner);
	free(s->pending);
	pthread_mutex_destroy(&s->buf_lock);
}

int buf_stage_get_run(struct swapper *s, uint32_t n, uint32_t *first)
{
	uint32_t got;

	lock_mutex(&s->buf_lock, LK_LEAF);
	got = run_get_locked(&s->stage_pool, n, false, first);
	unlock_mutex(&s->buf_lock, LK_LEAF);
	return got ? 0 : -EAGAIN;
}

void buf_stage_put(struct swapper *s, uint32_t buf)
{
	lock_mutex(&s->buf_lock, LK_LEAF);
	mark_locked(&s->stage_pool, buf, 1, false);
	unlock_mutex(&s->buf_lock, LK_LEAF);
}

void buf_stage_release_run(struct swapper *s, uint32_t b, uint32_t n)
{
	if (s->use_move)
		madvise(buf_stage_ptr(s, b), (size_t)n * s->psz, MADV_DONTNEED);
	lock_mutex(&s->buf_lock, LK_LEAF);
	mark_locked(&s->stage_pool, b, n, false);
	unlock_mutex(&s->buf_lock, LK_LEAF);
	core_progress(s);
}

int buf_bounce_get_run(struct swapper *s, uint32_t n, uint32_t *first)
{
	uint32_t got;

	lock_mutex(&s->buf_lock, LK_LEAF);
	got = run_get_locked(&s->bounce_pool, n, true, first);
	unlock_mutex(&s->buf_lock, LK_LEAF);
	return got ? (int)got : -EAGAIN;
}

int buf_bounce_get(struct swapper *s, uint32_t *b)
{
	return buf_bounce_get_run(s, 1, b) > 0 ? 0 : -EAGAIN;
}

void buf_bounce_put(struct swapper *s, uint32_t b)
{
	lock_mutex(&s->buf_lock, LK_LEAF);
	mark_locked(&s->bounce_pool, b, 1, false);
	unlock_mutex(&s->buf_lock, LK_LEAF);
}

int buf_pending_push(struct swapper *s, uint64_t idx, bool write, uint64_t t0)
{
	int r = 0;

	lock_mutex(&s->buf_lock, LK_LEAF);
	if (s->pend_len == s->pend_cap) {
		r = -ENOSPC;
	} else {
		s->pending[(s->pend_head + s->pend_len) % s->pend_cap] =
			(struct pending_fault){ idx, write, t0 };
		s->pend_len++;
	}
	unlock_mutex(&s->buf_lock, LK_LEAF);
	return r;
}

bool buf_pending_pop(struct swapper *s, struct pending_fault *pf)
{
	bool r = false;

	lock_mutex(&s->buf_lock, LK_LEAF);
	if (s->pend_len && s->bounce_pool.nfree) {
		*pf = s->pending[s->pend_head];
		s->pend_head = (s->pend_head + 1) % s->pend_cap;
		s->pend_len--;
		r = true;
	}
	unlock_mutex(&s->buf_lock, LK_LEAF);
	return r;
}
