/*
 * ztier.c - the compressed tier: evicted pages are compressed (lz4, or
 * zstd) into an in-memory pool (zpool.c) in front of the swap devices, as
 * the kernel's zswap does; a fault on such a page costs a decompression
 * and no I/O.
 *
 * Flow (page states in page.h):
 *   eviction   reclaim.c stages a round's dirty pages, then offers them here
 *              (ztier_store) before writing them: a page that compresses to
 *              at most ZP_MAX_OBJ (3/4 of 4 KiB) is copied into the pool and
 *              goes STAGED -> ZPOOL, its staging buffer released; the rest
 *              go to disk as before (incompressible pages never enter).
 *   full pool  before storing, the coldest pages (the LRU tail: least
 *              recently stored) are decompressed into staging and written
 *              to disk in one batch of write_batch pages through the
 *              ordinary write path (ZPOOL -> STAGED -> SWAPPED), so the seal
 *              (crc32c or AES-GCM) protects everything that reaches a disk.
 *   fault      ZPOOL -> RESIDENT: decompress, UFFDIO_COPY, free the object
 *              (exclusive, as zswap's loads: the page is writable and owns
 *              no copy anywhere else).
 *   discard    ZPOOL -> ZERO: the object is freed.
 * Migration, compaction and swapoff move slots; a ZPOOL page holds none
 * (no PG_SLOT), so they never see it; its write-back goes to a device that
 * takes new slots, like any eviction.
 *
 * Accounting: the pool's memory (its zspages, rounded up to pages) counts
 * against the resident limit (ztier_pages() is part of reclaim.c's used
 * pages): resident + staged + pool <= limit.  Its size is capped by
 * ztier_bytes (default a fifth of the limit, zswap's max_pool_percent).
 *
 * Owns: struct ztier; zt_lock (leaf) protects the pool, the LRU list and
 * the zstd decompression context.  The compression side (contexts, the
 * scratch buffer) belongs to the reclaim thread, the only caller of
 * ztier_store.  A page's object changes hands only under its page lock
 * (zt_lock is taken inside it); the write-back reads the LRU tail under
 * zt_lock, drops it, then takes the page lock and re-checks the page word.
 */
#include <errno.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include <json-c/json.h>

#include "hvswap/log.h"
#include "internal.h"
#include "zpool.h"
#include "ztier.h"

#define ZT_WB_MAX 64            /* pages per write-back batch, at most */
#define ZT_WB_TRIES 4           /* write-back batches to make room for one page */
#define ZT_ZSTD_LEVEL 1
#define J_U64(o, k, v) json_object_object_add(o, k, json_object_new_uint64(v))

enum zt_algo { ZT_LZ4, ZT_ZSTD };

struct ztier {
	enum zt_algo algo;
	pthread_mutex_t lock;           /* leaf: zt_lock */
	struct zpool *pool;             /* protected by lock */
	uint32_t lru_head, lru_tail;    /* newest / oldest object; lock */
	ZSTD_DCtx *dctx;                /* protected by lock */
	/* the reclaim thread's (ztier_store) */
	ZSTD_CCtx *cctx;
	void *lz4_state;
	uint8_t *scratch;               /* compressed output, ZP_MAX_OBJ bytes */
	/* written under lock, read without it (stats, used_pages) */
	_Atomic uint64_t pool_pages, pool_bytes;
	/* counters */
	_Atomic uint64_t stored, stores, rej_incompressible, rej_full;
	_Atomic uint64_t written_back, hits, dropped, alloc_failures;
	_Atomic uint64_t compress_ns, decompress_ns;
	struct hist hit_lat;            /* fault message -> installed */
};

static const char *algo_name(enum zt_algo a)
{
	return a == ZT_ZSTD ? "zstd" : "lz4";
}

static void zt_lock(struct ztier *zt)
{
	lock_mutex(&zt->lock, LK_LEAF);
}

static void zt_unlock(struct ztier *zt)
{
	unlock_mutex(&zt->lock, LK_LEAF);
}

static int ctx_init(struct ztier *zt)
{
	zt->scratch = malloc(ZP_MAX_OBJ);
	if (!zt->scratch)
		return -ENOMEM;
	if (zt->algo == ZT_LZ4) {
		zt->lz4_state = malloc((size_t)LZ4_sizeofState());
		return zt->lz4_state ? 0 : -ENOMEM;
	}
	zt->cctx = ZSTD_createCCtx();
	zt->dctx = ZSTD_createDCtx();
	return zt->cctx && zt->dctx ? 0 : -ENOMEM;
}

int ztier_create(struct swapper *s)
{
	const char *a = s->cfg.ztier;
	struct ztier *zt;
	int r;

	if (!a || !strcmp(a, "off"))
		return 0;
	if (strcmp(a, "lz4") && strcmp(a, "zstd")) {
		log_err("unknown compressed tier '%s' (lz4, zstd or off)", a);
		return -EINVAL;
	}
	if (s->cfg.mem_limit && s->cfg.ztier_bytes >= s->cfg.mem_limit) {
		log_err("compressed pool size %llu must be below the memory "
			"limit %llu", (unsigned long long)s->cfg.ztier_bytes,
			(unsigned long long)s->cfg.mem_limit);
		return -EINVAL;
	}
	zt = calloc(1, sizeof(*zt));
	if (!zt)
		return -ENOMEM;
	zt->algo = strcmp(a, "zstd") ? ZT_LZ4 : ZT_ZSTD;
	zt->lru_head = zt->lru_tail = ZP_NIL;
	pthread_mutex_init(&zt->lock, NULL);
	hist_init(&zt->hit_lat);
	s->zt = zt;
	r = zpool_create(&zt->pool);
	if (r == 0)
		r = ctx_init(zt);
	if (r < 0)
		ztier_destroy(s);
	return r;
}

void ztier_destroy(struct swapper *s)
{
	struct ztier *zt = s->zt;

	if (!zt)
		return;
	zpool_destroy(zt->pool);
	ZSTD_freeCCtx(zt->cctx);
	ZSTD_freeDCtx(zt->dctx);
	free(zt->lz4_state);
	free(zt->scratch);
	pthread_mutex_destroy(&zt->lock);
	free(zt);
	s->zt = NULL;
}

uint64_t ztier_pages(struct swapper *s)
{
	return s->zt ? atomic_load(&s->zt->pool_pages) : 0;
}

/* The pool's cap in bytes: configured, or a fifth of the current limit.
 * A configured cap is below the limit at create; should the limit be
 * lowered under it at run time (set-limit), half the limit is the cap:
 * the pool must leave room for resident pages. */
static uint64_t zt_cap(struct swapper *s)
{
	uint64_t lim = atomic_load(&s->limit_pages) * PAGE_SIZE_4K;

	if (!s->cfg.ztier_bytes)
		return lim / 5;
	return lim && s->cfg.ztier_bytes >= lim ? lim / 2 : s->cfg.ztier_bytes;
}

/* Compress one page into zt->scratch: its length, or 0 when it does not
 * shrink to ZP_MAX_OBJ (both libraries stop at the output's capacity). */
static size_t compress_page(struct ztier *zt, const void *src)
{
	size_t n;

	if (zt->algo == ZT_LZ4) {
		int r = LZ4_compress_fast_extState(zt->lz4_state, src,
						   (char *)zt->scratch,
						   (int)PAGE_SIZE_4K, ZP_MAX_OBJ, 1);
		return r > 0 ? (size_t)r : 0;
	}
	n = ZSTD_compressCCtx(zt->cctx, zt->scratch, ZP_MAX_OBJ, src, PAGE_SIZE_4K,
			      ZT_ZSTD_LEVEL);
	return ZSTD_isError(n) ? 0 : n;
}

/* zt_lock held: object h into dst (4 KiB).  0 or -EIO. */
static int decompress_obj(struct ztier *zt, uint32_t h, void *dst)
{
	const struct zp_obj *o = zpool_obj(zt->pool, h);
	const void *src = zpool_ptr(zt->pool, h);
	uint64_t t = io_now_ns();
	size_t n;

	lock_assert_held(&zt->lock, LK_LEAF);
	if (!o || !src)
		return -EIO;
	if (zt->algo == ZT_LZ4)
		n = (size_t)LZ4_decompress_safe(src, dst, o->len, (int)PAGE_SIZE_4K);
	else
		n = ZSTD_decompressDCtx(zt->dctx, dst, PAGE_SIZE_4K, src, o->len);
	atomic_fetch_add_explicit(&zt->decompress_ns, io_now_ns() - t,
				  memory_order_relaxed);
	return n == PAGE_SIZE_4K ? 0 : -EIO;
}

/* ---- the LRU list (zt_lock held): head newest, tail oldest ---- */

static void lru_push(struct ztier *zt, uint32_t h)
{
	struct zp_obj *o = zpool_obj(zt->pool, h);

	o->prev = ZP_NIL;
	o->next = zt->lru_head;
	if (zt->lru_head != ZP_NIL)
		zpool_obj(zt->pool, zt->lru_head)->prev = h;
	else
		zt->lru_tail = h;
	zt->lru_head = h;
}

static void lru_del(struct ztier *zt, uint32_t h)
{
	struct zp_obj *o = zpool_obj(zt->pool, h);

	if (o->prev != ZP_NIL)
		zpool_obj(zt->pool, o->prev)->next = o->next;
	else
		zt->lru_head = o->next;
	if (o->next != ZP_NIL)
		zpool_obj(zt->pool, o->next)->prev = o->prev;
	else
		zt->lru_tail = o->prev;
}

/* zt_lock held: the pool's size changed. */
static void usage_update(struct ztier *zt)
{
	struct zpool_usage u;

	zpool_usage(zt->pool, &u);
	atomic_store(&zt->pool_bytes, u.pool_bytes);
	atomic_store(&zt->pool_pages, (u.pool_bytes + PAGE_SIZE_4K - 1) / PAGE_SIZE_4K);
}

/* zt_lock held: forget object h (a page's, whose lock is held). */
static void obj_free(struct ztier *zt, uint32_t h)
{
	lru_del(zt, h);
	zpool_free(zt->pool, h);
	atomic_fetch_sub(&zt->stored, 1);
	usage_update(zt);
}

/* ---- write-back of the coldest pages ---- */

/* Fill empty staging buffer b with a page.  With UFFDIO_MOVE the staging
 * area is registered with the uffd (a MOVE destination): an empty buffer is
 * filled by UFFDIO_COPY, never by touching it (as migrate.c's mig_take). */
static int stage_fill(struct swapper *s, uint32_t b, const void *src)
{
	if (!s->use_move) {
		memcpy(buf_stage_ptr(s, b), src, PAGE_SIZE_4K);
		return 0;
	}
	return uffd_copy(s->uffd, buf_stage_ptr(s, b), src, PAGE_SIZE_4K, false, true);
}

/* Move the LRU tail's page into staging buffer b: ZPOOL -> STAGED.
 * Returns its page index, or UINT64_MAX when the tail changed under us (a
 * fault or discard took it) or the pool is empty (*empty). */
static uint64_t take_tail(struct swapper *s, struct ztier *zt, uint32_t b,
			  bool *empty)
{
	uint8_t page[PAGE_SIZE_4K] __attribute__((aligned(64)));
	uint64_t idx, w;
	uint32_t h;
	int r;

	zt_lock(zt);
	h = zt->lru_tail;
	idx = h != ZP_NIL ? zpool_obj(zt->pool, h)->owner : 0;
	zt_unlock(zt);
	*empty = h == ZP_NIL;
	if (*empty)
		return UINT64_MAX;
	page_lock(s, idx);
	w = atomic_load(&s->pages[idx]);
	if (pg_state(w) != PS_ZPOOL || pg_zhandle(w) != h) {
		page_unlock(s, idx);
		return UINT64_MAX;
	}
	zt_lock(zt);
	r = decompress_obj(zt, h, page);
	zt_unlock(zt);
	if (r == 0)
		r = stage_fill(s, b, page);
	if (r < 0) {
		page_unlock(s, idx);
		core_fatal(s, r, "cannot write back compressed gfn 0x%llx: %s",
			   (unsigned long long)page_gfn(s, idx), strerror(-r));
		return UINT64_MAX;
	}
	zt_lock(zt);
	obj_free(zt, h);
	zt_unlock(zt);
	atomic_store(&s->pages[idx], pg_make(PS_STAGED, 0, b, 0));
	atomic_fetch_add(&s->c.staged, 1);
	s->stage_owner[b] = (uint32_t)idx;
	page_unlock(s, idx);
	return idx;
}

/* Write up to `max` of the pool's coldest pages to disk, one batch.
 * Returns how many left the pool. */
static unsigned int writeback_coldest(struct swapper *s, struct ztier *zt,
				      unsigned int max)
{
	struct wb_ent ents[ZT_WB_MAX];
	unsigned int n = 0, i = 0, tries = 0, got;
	uint32_t first;
	bool empty = false;
	uint64_t idx;
	int r;

	if (max > ZT_WB_MAX)
		max = ZT_WB_MAX;
	for (r = -EAGAIN; max && (r = buf_stage_get_run(s, max, &first)) < 0;)
		max /= 2;
	if (r < 0)
		return 0;       /* staging is full: the round's writes free it */
	got = max;
	while (i < got && !empty && tries++ < 4 * got) {
		idx = take_tail(s, zt, first + i, &empty);
		if (idx == UINT64_MAX)
			continue;
		ents[n++] = (struct wb_ent){ idx, first + i, -1 };
		i++;
	}
	for (; i < got; i++)
		buf_stage_put(s, first + i);
	if (n) {
		atomic_fetch_add(&zt->written_back, n);
		wb_write(s, ents, n);
	}
	return n;
}

/* Room in the pool for an object of len bytes, writing the coldest pages
 * to disk if need be. */
static bool make_room(struct swapper *s, struct ztier *zt, size_t len)
{
	uint64_t cap = zt_cap(s), grow;
	unsigned int t;

	for (t = 0; t <= ZT_WB_TRIES; t++) {
		zt_lock(zt);
		grow = zpool_grow_bytes(zt->pool, len);
		zt_unlock(zt);
		if (atomic_load(&zt->pool_bytes) + grow <= cap)
			return true;
		if (t == ZT_WB_TRIES || !writeback_coldest(s, zt, s->cfg.write_batch))
			return false;
	}
	return false;
}

/* ---- store, fault, drop ---- */

/* Store staged page e, compressed in zt->scratch (len bytes).  1 stored,
 * 0 the page is no longer staged there (its buffer is the round's to
 * release), -ENOMEM not stored (it goes to disk). */
static int store_one(struct swapper *s, struct ztier *zt, struct wb_ent e,
		     size_t len)
{
	uint64_t w;
	uint32_t h;
	int r;

	page_lock(s, e.idx);
	w = atomic_load(&s->pages[e.idx]);
	if (pg_state(w) != PS_STAGED || pg_buf(w) != e.buf || (w & PG_SLOT)) {
		page_unlock(s, e.idx);
		return 0;
	}
	zt_lock(zt);
	r = zpool_alloc(zt->pool, len, &h);
	if (r == 0) {
		memcpy(zpool_ptr(zt->pool, h), zt->scratch, len);
		zpool_obj(zt->pool, h)->owner = (uint32_t)e.idx;
		lru_push(zt, h);
		atomic_fetch_add(&zt->stored, 1);
		usage_update(zt);
	}
	zt_unlock(zt);
	if (r == 0) {
		atomic_store(&s->pages[e.idx], pg_make_zpool(h));
		atomic_fetch_sub(&s->c.staged, 1);
	}
	page_unlock(s, e.idx);
	return r < 0 ? -ENOMEM : 1;
}

/* Staging buffers the pool made free, released a run at a time (one
 * madvise each). */
struct rel_run { uint32_t first, len; };

static void rel_add(struct swapper *s, struct rel_run *rr, uint32_t b)
{
	if (rr->len && b == rr->first + rr->len) {
		rr->len++;
		return;
	}
	if (rr->len)
		buf_stage_release_run(s, rr->first, rr->len);
	rr->first = b;
	rr->len = 1;
}

unsigned int ztier_store(struct swapper *s, struct wb_ent *ents, unsigned int n)
{
	struct ztier *zt = s->zt;
	struct rel_run rr = { 0, 0 };
	unsigned int i, out = 0;
	uint64_t t;
	size_t len;
	int r;

	if (!zt || !zt_cap(s))
		return n;
	lock_assert_none_held("ztier_store");
	for (i = 0; i < n; i++) {
		t = io_now_ns();
		len = compress_page(zt, buf_stage_ptr(s, ents[i].buf));
		atomic_fetch_add_explicit(&zt->compress_ns, io_now_ns() - t,
					  memory_order_relaxed);
		atomic_fetch_add(&zt->stores, 1);
		if (!len) {
			atomic_fetch_add(&zt->rej_incompressible, 1);
			ents[out++] = ents[i];
			continue;
		}
		if (!make_room(s, zt, len)) {
			atomic_fetch_add(&zt->rej_full, 1);
			ents[out++] = ents[i];
			continue;
		}
		r = store_one(s, zt, ents[i], len);
		if (r < 0) {
			atomic_fetch_add(&zt->alloc_failures, 1);
			ents[out++] = ents[i];
			continue;
		}
		rel_add(s, &rr, ents[i].buf);
	}
	if (rr.len)
		buf_stage_release_run(s, rr.first, rr.len);
	return out;
}

bool ztier_fault(struct swapper *s, uint64_t idx, uint64_t w, uint64_t t0)
{
	uint8_t page[PAGE_SIZE_4K] __attribute__((aligned(64)));
	struct ztier *zt = s->zt;
	uint32_t h = pg_zhandle(w);
	int r;

	page_lock_assert_held(s, idx);
	zt_lock(zt);
	r = decompress_obj(zt, h, page);
	zt_unlock(zt);
	if (r == 0)
		r = uffd_copy(s->uffd, page_host(s, idx), page, PAGE_SIZE_4K,
			      false, false);
	if (r < 0) {
		core_fatal(s, r, "cannot restore compressed gfn 0x%llx: %s",
			   (unsigned long long)page_gfn(s, idx), strerror(-r));
		return false;
	}
	zt_lock(zt);
	obj_free(zt, h);
	zt_unlock(zt);
	atomic_store(&s->pages[idx], pg_make(PS_RESIDENT, PG_REF, 0, 0));
	page_resident_inc(s);
	atomic_fetch_add(&zt->hits, 1);
	hist_record(&zt->hit_lat, io_now_ns() - t0);
	return true;
}

void ztier_drop(struct swapper *s, uint64_t idx, uint64_t w)
{
	struct ztier *zt = s->zt;

	page_lock_assert_held(s, idx);
	zt_lock(zt);
	obj_free(zt, pg_zhandle(w));
	zt_unlock(zt);
	atomic_fetch_add(&zt->dropped, 1);
}

/* ---- stats ---- */

static void add_ratio(struct json_object *o, const char *k, double num, double den)
{
	json_object_object_add(o, k, json_object_new_double(den > 0 ? num / den : 0));
}

struct json_object *ztier_stats_json(struct swapper *s)
{
	struct ztier *zt = s->zt;
	struct json_object *o;
	struct zpool_usage u;
	uint64_t stores, hits;

	if (!zt)
		return NULL;
	zt_lock(zt);
	zpool_usage(zt->pool, &u);
	zt_unlock(zt);
	o = json_object_new_object();
	stores = atomic_load(&zt->stores);
	hits = atomic_load(&zt->hits);
	json_object_object_add(o, "algorithm", json_object_new_string(algo_name(zt->algo)));
	J_U64(o, "cap_bytes", zt_cap(s));
	J_U64(o, "stored_pages", u.objects);
	J_U64(o, "pool_bytes", u.pool_bytes);
	J_U64(o, "payload_bytes", u.payload_bytes);
	J_U64(o, "meta_bytes", u.meta_bytes);
	J_U64(o, "zspages", u.zspages);
	/* stored bytes / payload: what compression gives; / pool memory: what
	 * the tier gives after the allocator's losses */
	add_ratio(o, "compression_ratio", (double)u.objects * PAGE_SIZE_4K,
		  (double)u.payload_bytes);
	add_ratio(o, "pool_ratio", (double)u.objects * PAGE_SIZE_4K, (double)u.pool_bytes);
	json_object_object_add(o, "fragmentation", json_object_new_double(
		u.pool_bytes ? 1.0 - (double)u.payload_bytes / (double)u.pool_bytes : 0));
	J_U64(o, "stores", stores);
	J_U64(o, "rejected_incompressible", atomic_load(&zt->rej_incompressible));
	J_U64(o, "rejected_full", atomic_load(&zt->rej_full));
	J_U64(o, "alloc_failures", atomic_load(&zt->alloc_failures));
	J_U64(o, "written_back", atomic_load(&zt->written_back));
	J_U64(o, "hits", hits);
	J_U64(o, "discarded", atomic_load(&zt->dropped));
	add_ratio(o, "compress_ns_mean", (double)atomic_load(&zt->compress_ns),
		  (double)stores);
	add_ratio(o, "decompress_ns_mean", (double)atomic_load(&zt->decompress_ns),
		  (double)(hits + atomic_load(&zt->written_back)));
	json_object_object_add(o, "hit_latency", hist_to_json(&zt->hit_lat));
	return o;
}
