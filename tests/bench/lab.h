/*
 * lab.h - the eviction-policy lab (issue 12 item 1): replays a memtouch
 * access sequence through a replacement policy under a resident limit,
 * showing the policy only what hvswap can see.
 *
 * What a policy sees (the "fault-only" contract, PLATFORM.md):
 *   fault(p, kind)  p was not mapped and the guest touched it: first touch
 *                   (no data), a device read, a copy back from the write
 *                   staging area, or back from the policy's own held list
 *   wp(p)           first write to a page installed write-protected (a
 *                   clean swap-in, cfg.wp)
 *   dirty(p)        p was written since the last harvest of KVM's dirty
 *                   log, every cfg.dlog accesses (0 = no dirty log); with
 *                   cfg.dlog_fresh false, not for pages that faulted in
 *                   since the last harvest (a bit in the page word): the
 *                   write the log shows may be the faulting access, which
 *                   the policy already saw
 *   reclaim(l, p)   room is needed before p is mapped: free one frame with
 *                   lab_evict() (held or mapped -> out), possibly after
 *                   lab_unmap() (mapped -> held: kept in memory, unmapped,
 *                   so the next touch is a cheap fault the policy sees)
 * Reads and writes of mapped pages are invisible, except to the two
 * references: LRU (LAB_REF_INFO: access() on every access) and Belady's
 * MIN (also given each access's next use).
 *
 * Memory: used = mapped + held + staged <= limit.  A dirty page that is
 * evicted is written (counted) and, with cfg.stage > 0, kept in a FIFO
 * staging area of that many pages (hvswap's write staging: a fault there
 * is a copy, no read).  Watermarks (cfg.gap > 0, as reclaim.c): reclaim
 * starts when used reaches limit - gap and goes down to limit - 2 x gap.
 * References ignore stage and gap.
 */
#ifndef HV_BENCH_LAB_H
#define HV_BENCH_LAB_H

#include <stdbool.h>
#include <stdint.h>

#define LAB_NIL UINT32_MAX

enum lab_where { LW_OUT, LW_MAPPED, LW_HELD, LW_STAGED };

enum lab_fault {
	LF_FIRST,       /* no data: never written, or evicted all-zero */
	LF_MAJOR,       /* a device read */
	LF_STAGE,       /* a copy from the write staging area */
	LF_HELD,        /* back from the policy's held (unmapped) list */
	LF_NR
};

/* Per-page flags (l->pf). */
#define LP_DATA   0x01  /* has been written: evicting it is not free */
#define LP_DIRTY  0x02  /* differs from its swap copy (or has none) */
#define LP_ONSWAP 0x04  /* a valid copy is on the device */
#define LP_WP     0x08  /* mapped write-protected: next write is a wp event */
#define LP_DLOG   0x10  /* written since the last dirty-log harvest */
#define LP_FRESH  0x20  /* faulted in since the last harvest */

struct lab_cfg {
	uint64_t limit;         /* frames */
	uint64_t stage;         /* write staging FIFO, pages (0 = none) */
	uint64_t gap;           /* watermark gap, pages (0 = evict at limit) */
	uint64_t dlog;          /* dirty-log harvest period, accesses (0 = off) */
	bool dlog_fresh;        /* report pages faulted in since the last
				 * harvest too (their write may be the
				 * faulting access itself); the lab's
				 * default: true, the log as KVM gives it */
	bool wp;                /* clean swap-ins installed write-protected */
	unsigned held_pct;      /* held-list size for policies that use one, % */
};

struct lab_counts {
	uint64_t accesses, faults[LF_NR], writes, wp, evictions;
};

/* Intrusive doubly-linked lists over page indices.  Several lists may share
 * one struct lab_links when a page is on at most one of them. */
struct lab_links {
	uint32_t *prev, *next;
};

struct lab_list {
	struct lab_links *lk;
	uint32_t head, tail;    /* head = most recent */
	uint64_t n;
};

struct lab;

struct lab_policy {
	const char *name;
	bool ref;               /* a reference: sees every access */
	const char *meta;       /* its per-page metadata in hvswap, in words */
	double (*meta_bytes)(const struct lab *l);   /* per guest page */
	int (*init)(struct lab *l, void **ps);
	void (*fini)(void *ps);
	void (*fault)(struct lab *l, void *ps, uint32_t p, enum lab_fault k);
	void (*reclaim)(struct lab *l, void *ps, uint32_t incoming);
	void (*access)(struct lab *l, void *ps, uint32_t p);  /* refs: hits */
	void (*wp)(struct lab *l, void *ps, uint32_t p);
	void (*dirty)(struct lab *l, void *ps, uint32_t p);
};

struct lab {
	struct lab_cfg cfg;
	uint64_t npages;
	const struct lab_policy *pol;
	void *ps;
	uint8_t *where;         /* enum lab_where per page */
	uint8_t *pf;            /* LP_* per page */
	uint64_t mapped, held, staged;
	struct lab_links slk;   /* staging FIFO */
	struct lab_list sq;
	uint32_t *dl;           /* pages in the dirty log */
	uint32_t *fresh;        /* pages faulted in since the last harvest */
	uint64_t ndl, nfresh, since_harvest;
	const uint64_t *next;   /* next use of each access (MIN), or NULL */
	uint64_t now;           /* index of the access being replayed */
	struct lab_counts c;    /* since lab_count_from() */
	bool counting;
	int err;                /* a policy failed to free memory */
};

extern const struct lab_policy lab_min, lab_lru, lab_clock, lab_stage,
	lab_shadow, lab_clockpro, lab_arc, lab_arcw, lab_arcwr, lab_freq;

/* All policies, NULL-terminated (lab_table.c). */
extern const struct lab_policy *const lab_policies[];
const struct lab_policy *lab_policy_find(const char *name);

int lab_init(struct lab *l, const struct lab_policy *pol,
	     const struct lab_cfg *cfg, uint64_t npages, const uint64_t *next);
void lab_fini(struct lab *l);
void lab_access(struct lab *l, uint32_t p, bool write);

/* Replay pg/wr[0, n), counting from run_start.  next: next use per access
 * (UINT64_MAX = never; needed by MIN, else may be NULL).  Returns 0 or
 * -errno. */
int lab_replay(const struct lab_policy *pol, const struct lab_cfg *cfg,
	       uint64_t npages, const uint32_t *pg, const uint8_t *wr,
	       uint64_t n, uint64_t run_start, const uint64_t *next,
	       struct lab_counts *out, double *meta_bytes);

/* Next use of every access (for MIN): malloc'ed, n entries. */
uint64_t *lab_next_use(const uint32_t *pg, uint64_t n, uint64_t npages);

/* For policies. */
void lab_unmap(struct lab *l, uint32_t p);      /* mapped -> held */
void lab_evict(struct lab *l, uint32_t p);      /* mapped/held -> out */
static inline uint64_t lab_used(const struct lab *l)
{
	return l->mapped + l->held + l->staged;
}

int lab_links_init(struct lab_links *lk, uint64_t n);
void lab_links_fini(struct lab_links *lk);
void lab_list_init(struct lab_list *q, struct lab_links *lk);
void lab_list_push(struct lab_list *q, uint32_t p);     /* at head */
void lab_list_del(struct lab_list *q, uint32_t p);
uint32_t lab_list_pop(struct lab_list *q);              /* tail, or LAB_NIL */

#endif /* HV_BENCH_LAB_H */
