/*
 * readahead.c - which pages to read ahead of a swap-in fault: sequential
 * streams with windows that grow with use and shrink with waste, stride
 * detection, and the accounting of readahead that was wasted.  Policy only:
 * swapin.c claims, reads and installs what this file plans.
 *
 * Streams.  Pages evicted together sit in consecutive slots, so reading the
 * pages after a fault is one vectored I/O.  A stream is a run of faults each
 * landing in or just past what was already requested for it.  Its window
 * starts at one page (a random fault reads nothing extra) and doubles when
 * the guest catches up with it (a fault past what was requested: the
 * window counts the faulting page) and at the marker - a fault on a page
 * still being read in the last half of the window, or on the middle page a
 * window of RA_MARKER_MIN+ pages leaves unread for this purpose (installed
 * pages fault no more): the guest is about to run out, so the next window
 * is requested now, asynchronously, while it consumes the rest.  Windows
 * are capped by ra_cap (RA_MAX = 1024 pages = 4 MiB) and by an eighth of
 * the resident limit; swapin.c reads a window in reads of at most
 * RA_IO_MAX pages (1 MiB), submitted together.  One 1 MiB read at a time
 * reached half of the disk's sequential bandwidth here (a read's latency
 * is not hidden); four in flight keep the disk busy.
 *
 * Stride (Leap, ATC'20): the deltas between the last RA_HIST faults are put
 * to a majority vote; a delta other than +1 that wins a majority and is
 * small enough (|d| <= RA_MAX_STRIDE) makes the next RA_STRIDE_PAGES pages
 * at that stride worth reading.
 *
 * Waste.  A page brought by readahead is installed with PG_RA (and without
 * PG_REF: it was not asked for yet).  The bit is cleared when the stream's
 * faults pass the page (the guest walked over it) or the page is written.
 * A page evicted with PG_RA still set was read for nothing: counted in
 * readahead_wasted, and when more than a quarter of recent readahead was
 * wasted the cap halves (it doubles back while under 1/16).
 *
 * Owns: ra_lock (a leaf) and the streams, history and cap under it.
 */
#include <stdlib.h>

#include "internal.h"

#define RA_MAX_STRIDE 64
#define RA_STRIDE_PAGES 8
#define RA_CAP_MIN 8
#define RA_MAX_HUGE 4          /* units of 2 MiB */
#define RA_JUDGE 1024          /* readahead pages per waste judgement */
#define RA_MARKER_MIN 32       /* windows this large carry a marker hole */

void ra_init(struct swapper *s)
{
	pthread_mutex_init(&s->ra_lock, NULL);
	/* huge units: 2 MiB each, so a window of RA_MAX_HUGE is 8 MiB */
	s->ra_max = s->pshift > 12 ? RA_MAX_HUGE : RA_MAX;
	s->ra_cap = s->ra_max;
}

void ra_fini(struct swapper *s)
{
	pthread_mutex_destroy(&s->ra_lock);
}

/* The guest walked over [from, to): its readahead pages were used. */
static void passed(struct swapper *s, uint64_t from, uint64_t to)
{
	uint64_t j;

	if (to - from > 2 * RA_MAX)
		from = to - 2 * RA_MAX;
	for (j = from; j < to && j < s->npages; j++)
		pg_clear_unlocked(&s->pages[j], PG_RA);
}

static unsigned int grow(unsigned int win, unsigned int by, unsigned int cap)
{
	uint64_t w = (uint64_t)win * by;

	return w > cap ? cap : (unsigned int)w;
}

/* ra_lock held: a stream that idx continues, or NULL. */
static struct ra_stream *stream_of_locked(struct swapper *s, uint64_t idx)
{
	unsigned int i;

	for (i = 0; i < RA_STREAMS; i++) {
		struct ra_stream *st = &s->ra[i];

		if (st->win && idx >= st->last && idx <= st->next + st->win)
			return st;
	}
	return NULL;
}

/* ra_lock held: the majority delta of the recent faults, 0 if none. */
static int64_t stride_locked(struct swapper *s, uint64_t idx)
{
	int64_t d[RA_HIST], best = 0;
	unsigned int i, j, n = 0, votes, most = 0;

	s->ra_hist[s->ra_hpos++ % RA_HIST] = idx;
	if (s->ra_hpos < RA_HIST)
		return 0;
	for (i = 1; i < RA_HIST; i++) {
		uint64_t a = s->ra_hist[(s->ra_hpos - i - 1) % RA_HIST];
		uint64_t b = s->ra_hist[(s->ra_hpos - i) % RA_HIST];

		d[n++] = (int64_t)(b - a);
	}
	for (i = 0; i < n; i++) {
		for (votes = 0, j = 0; j < n; j++)
			votes += d[j] == d[i];
		if (votes > most) {
			most = votes;
			best = d[i];
		}
	}
	if (2 * most <= n || best == 1 || best == 0 ||
	    best > RA_MAX_STRIDE || best < -RA_MAX_STRIDE)
		return 0;
	return best;
}

/* The window cap: ra_cap, and at most an eighth of the resident limit (a
 * window as large as what may stay resident evicts itself before use). */
static unsigned int cap_locked(struct swapper *s)
{
	uint64_t lim = atomic_load(&s->limit_pages) / 8;

	if (lim && lim < s->ra_cap)
		return lim < 4 ? 4 : (unsigned int)lim;
	return s->ra_cap;
}

/* ra_lock held: continue stream st at idx. */
static void continue_locked(struct swapper *s, struct ra_stream *st, uint64_t idx,
			    bool miss, struct ra_plan *p)
{
	uint64_t from;

	if (idx > st->last)
		passed(s, st->last, idx);
	st->last = idx;
	st->age = ++s->ra_clock;
	if (miss && idx >= st->next) {
		/* The guest caught up with the stream: a synchronous window
		 * (it counts the faulting page). */
		st->win = grow(st->win, 2, cap_locked(s));
		*p = (struct ra_plan){ .from = idx + 1, .n = st->win - 1, .stride = 1,
				       .hole = ~0ull };
		st->next = idx + st->win;
		if (st->win >= RA_MARKER_MIN)
			p->hole = idx + st->win / 2;
		return;
	} else if (idx + st->win / 2 >= st->next) {
		/* The marker: request the next window now. */
		st->win = grow(st->win, 2, cap_locked(s));
		from = st->next > idx + 1 ? st->next : idx + 1;
	} else {
		return;         /* well inside what is already requested */
	}
	*p = (struct ra_plan){ .from = from, .n = st->win, .stride = 1,
			       .hole = ~0ull };
	st->next = from + st->win;
	/* A large window leaves its middle page unread: installed pages
	 * fault no more, so that page is the marker that tells us the guest
	 * got there - its fault requests the next window while the guest
	 * still has half of this one to consume (Linux's PG_readahead). */
	if (st->win >= RA_MARKER_MIN)
		p->hole = from + st->win / 2;
}

bool ra_plan(struct swapper *s, uint64_t idx, bool miss, struct ra_plan *p)
{
	struct ra_stream *st;
	unsigned int i, victim = 0;
	int64_t d;

	*p = (struct ra_plan){ .hole = ~0ull };
	lock_mutex(&s->ra_lock, LK_LEAF);
	st = stream_of_locked(s, idx);
	if (st) {
		continue_locked(s, st, idx, miss, p);
		goto out;
	}
	if (!miss)
		goto out;
	d = stride_locked(s, idx);
	if (d) {
		*p = (struct ra_plan){ .from = (uint64_t)((int64_t)idx + d),
				       .n = RA_STRIDE_PAGES, .stride = d,
				       .hole = ~0ull };
		goto out;
	}
	for (i = 0; i < RA_STREAMS; i++) {
		if (s->ra[i].age < s->ra[victim].age)
			victim = i;
	}
	s->ra[victim] = (struct ra_stream){ .last = idx, .next = idx + 1, .win = 1,
					    .age = ++s->ra_clock };
out:
	unlock_mutex(&s->ra_lock, LK_LEAF);
	return p->n > 0;
}

static void judge_locked(struct swapper *s)
{
	/* huge units: judged every 16 units (32 MiB), down to 1 unit */
	bool huge = s->pshift > 12;

	if (s->ra_judged < (huge ? 16u : RA_JUDGE))
		return;
	if (s->ra_judged_waste * 4 > s->ra_judged && s->ra_cap > (huge ? 1u : RA_CAP_MIN))
		s->ra_cap /= 2;
	else if (s->ra_judged_waste * 16 < s->ra_judged && s->ra_cap < s->ra_max)
		s->ra_cap *= 2;
	s->ra_judged = s->ra_judged_waste = 0;
}

void ra_read(struct swapper *s, unsigned int n)
{
	atomic_fetch_add(&s->c.readahead, n);
	lock_mutex(&s->ra_lock, LK_LEAF);
	s->ra_judged += n;
	judge_locked(s);
	unlock_mutex(&s->ra_lock, LK_LEAF);
}

void ra_wasted(struct swapper *s, unsigned int n)
{
	atomic_fetch_add(&s->c.readahead_wasted, n);
	lock_mutex(&s->ra_lock, LK_LEAF);
	s->ra_judged_waste += n;
	judge_locked(s);
	unlock_mutex(&s->ra_lock, LK_LEAF);
}
