/*
 * zpool.h - the compressed tier's memory pool (zpool.c): a size-class
 * allocator for compressed pages, in the manner of the kernel's zsmalloc.
 *
 * An object is addressed by a 32-bit handle (zspage id, object index).
 * Each object carries a small record (struct zp_obj) that its user - the
 * compressed tier - keeps its LRU links and owner in.  The pool has no lock
 * of its own: its one user serialises every call (ztier.c's zt_lock).
 */
#ifndef HVSWAP_SWAPPER_ZPOOL_H
#define HVSWAP_SWAPPER_ZPOOL_H

#include <stddef.h>
#include <stdint.h>

#define ZP_NIL UINT32_MAX
#define ZP_CLASS_DELTA 32u              /* size classes 32, 64, ... bytes */
#define ZP_MAX_OBJ 3072u                /* largest object (3/4 of a page) */
#define ZP_MAX_PAGES 8u                 /* pages per zspage, at most */

/* The per-object record, 16 bytes.  prev/next: the user's list links
 * (and the free chain inside a zspage while free). */
struct zp_obj {
	uint32_t prev, next;
	uint32_t owner;         /* the user's (guest page index) */
	uint16_t len;           /* bytes stored; 0 = free */
	uint16_t pad;
};

struct zpool_usage {
	uint64_t objects;       /* live objects */
	uint64_t pool_bytes;    /* memory of the zspages (what the pool costs) */
	uint64_t payload_bytes; /* bytes stored in them */
	uint64_t meta_bytes;    /* object records, zspage headers, the table */
	uint64_t zspages;
};

struct zpool;

int zpool_create(struct zpool **out);
void zpool_destroy(struct zpool *p);
/* A new object of len bytes (1..ZP_MAX_OBJ): 0 and *h, -E2BIG (too long),
 * -ENOSPC (handle space exhausted) or -ENOMEM. */
int zpool_alloc(struct zpool *p, size_t len, uint32_t *h);
void zpool_free(struct zpool *p, uint32_t h);
void *zpool_ptr(struct zpool *p, uint32_t h);
/* The record of live object h; NULL if h names no live object. */
struct zp_obj *zpool_obj(struct zpool *p, uint32_t h);
/* Pool bytes an object of len bytes would add now (0: a zspage of its class
 * has room). */
size_t zpool_grow_bytes(struct zpool *p, size_t len);
void zpool_usage(struct zpool *p, struct zpool_usage *u);

#endif
