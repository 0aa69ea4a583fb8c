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
 * Invariant: a free staging buffer is empty (no page mapped): MOVE needs
 * an empty destination.  Only UFFDIO_MOVE and UFFDIO_COPY fill one; nobody
 * touches an empty one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hvswap/log.h"
#include "internal.h"

#define NBOUNCE 1024
#define PENDING_CAP 65536

static void *map_buffers(uint32_t n)
{
	void *p = mmap(NULL, (size_t)n * PAGE_SIZE_4K, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, (size_t)n * PAGE_SIZE_4K, MADV_NOHUGEPAGE);
	return p;
}

int buf_init(struct swapper *s)
{
	uint32_t i;

	pthread_mutex_init(&s->buf_lock, NULL);
	s->nstaging = s->cfg.staging_pages;
	s->nbounce = NBOUNCE;
	s->staging = map_buffers(s->nstaging);
	s->bounce = map_buffers(s->nbounce);
	s->stage_map = calloc(s->nstaging / 64, sizeof(uint64_t));
	s->stage_owner = calloc(s->nstaging, sizeof(uint32_t));
	s->bounce_free = calloc(s->nbounce, sizeof(uint32_t));
	s->pend_cap = PENDING_CAP;
	s->pending = calloc(s->pend_cap, sizeof(*s->pending));
	if (!s->staging || !s->bounce || !s->stage_map || !s->stage_owner ||
	    !s->bounce_free || !s->pending)
		return -ENOMEM;
	s->nstage_free = s->nstaging;
	for (i = 0; i < s->nbounce; i++)
		s->bounce_free[s->nbounce_free++] = s->nbounce - 1 - i;
	/* Bounce buffers are DMA targets: populate them now, once. */
	memset(s->bounce, 0, (size_t)s->nbounce * PAGE_SIZE_4K);
	return 0;
}

void buf_fini(struct swapper *s)
{
	if (s->staging)
		munmap(s->staging, (size_t)s->nstaging * PAGE_SIZE_4K);
	if (s->bounce)
		munmap(s->bounce, (size_t)s->nbounce * PAGE_SIZE_4K);
	free(s->stage_map);
	free(s->stage_owner);
	free(s->bounce_free);
	free(s->pending);
	pthread_mutex_destroy(&s->buf_lock);
}

static bool stage_used_locked(struct swapper *s, uint32_t b)
{
	return s->stage_map[b / 64] & (1ull << (b % 64));
}

int buf_stage_get_run(struct swapper *s, uint32_t n, uint32_t *first)
{
	uint32_t start, i, run = 0, tried;
	int r = -EAGAIN;

	lock_mutex(&s->buf_lock, LK_LEAF);
	if (n == 0 || n > s->nstage_free)
		goto out;
	start = s->stage_hint % s->nstaging;
	for (tried = 0; tried < s->nstaging + n; tried++) {
		i = (start + tried) % s->nstaging;
		if (i == 0)
			run = 0;        /* runs do not wrap around */
		if (stage_used_locked(s, i)) {
			run = 0;
			continue;
		}
		if (++run == n) {
			uint32_t b, f = i + 1 - n;

			for (b = f; b <= i; b++)
				s->stage_map[b / 64] |= 1ull << (b % 64);
			s->nstage_free -= n;
			s->stage_hint = i + 1;
			*first = f;
			r = 0;
			break;
		}
	}
out:
	unlock_mutex(&s->buf_lock, LK_LEAF);
	return r;
}

void buf_stage_put(struct swapper *s, uint32_t buf)
{
	lock_mutex(&s->buf_lock, LK_LEAF);
	s->stage_map[buf / 64] &= ~(1ull << (buf % 64));
	s->nstage_free++;
	unlock_mutex(&s->buf_lock, LK_LEAF);
}

void buf_stage_release_run(struct swapper *s, uint32_t b, uint32_t n)
{
	uint32_t i;

	madvise(buf_stage_ptr(s, b), (size_t)n * PAGE_SIZE_4K, MADV_DONTNEED);
	lock_mutex(&s->buf_lock, LK_LEAF);
	for (i = b; i < b + n; i++)
		s->stage_map[i / 64] &= ~(1ull << (i % 64));
	s->nstage_free += n;
	unlock_mutex(&s->buf_lock, LK_LEAF);
	core_progress(s);
}

int buf_bounce_get(struct swapper *s, uint32_t *b)
{
	int r = -EAGAIN;

	lock_mutex(&s->buf_lock, LK_LEAF);
	if (s->nbounce_free) {
		*b = s->bounce_free[--s->nbounce_free];
		r = 0;
	}
	unlock_mutex(&s->buf_lock, LK_LEAF);
	return r;
}

void buf_bounce_put(struct swapper *s, uint32_t b)
{
	lock_mutex(&s->buf_lock, LK_LEAF);
	s->bounce_free[s->nbounce_free++] = b;
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
	if (s->pend_len && s->nbounce_free) {
		*pf = s->pending[s->pend_head];
		s->pend_head = (s->pend_head + 1) % s->pend_cap;
		s->pend_len--;
		r = true;
	}
	unlock_mutex(&s->buf_lock, LK_LEAF);
	return r;
}
