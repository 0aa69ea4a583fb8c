/*
 * ztier.h - the compressed tier (ztier.c): evicted pages compressed into an
 * in-memory pool in front of the swap devices, as the kernel's zswap.
 * Private to swapper/ (and its tests).
 *
 * The hooks into the rest of the swapper are these calls and nothing else:
 *   reclaim.c   ztier_store() on every round's staged pages before they are
 *               written; ztier_pages() in the pages the limit counts
 *   fault.c     ztier_fault() for a page in state ZPOOL
 *   discard.c   ztier_drop() for a page in state ZPOOL
 *   stats.c     ztier_stats_json()
 *   swapper.c   ztier_create() / ztier_destroy()
 */
#ifndef HVSWAP_SWAPPER_ZTIER_H
#define HVSWAP_SWAPPER_ZTIER_H

#include <stdbool.h>
#include <stdint.h>

struct swapper;
struct wb_ent;
struct json_object;

/* From s->cfg (ztier, ztier_bytes): s->zt stays NULL when the tier is off.
 * -EINVAL for an unknown algorithm or a pool size not below the limit. */
int ztier_create(struct swapper *s);
void ztier_destroy(struct swapper *s);

/* Reclaim thread, no lock held: offer the round's staged pages ents[0..n)
 * to the pool.  Pages stored leave staging (state ZPOOL); the others -
 * incompressible, or no room even after writing the pool's coldest pages
 * to disk - stay in ents (compacted, order kept) for the disk.  Returns
 * their count. */
unsigned int ztier_store(struct swapper *s, struct wb_ent *ents, unsigned int n);

/* Page lock held, state ZPOOL: decompress into the guest (no I/O).  False
 * when nothing was installed (a fatal error was reported). */
bool ztier_fault(struct swapper *s, uint64_t idx, uint64_t w, uint64_t t0);

/* Page lock held, state ZPOOL: forget the page's compressed copy (the
 * guest gave the page up); the caller sets the new state. */
void ztier_drop(struct swapper *s, uint64_t idx, uint64_t w);

/* Pool memory in pages (rounded up): counted against the resident limit. */
uint64_t ztier_pages(struct swapper *s);

/* The "ztier" stats object, or NULL when the tier is off. */
struct json_object *ztier_stats_json(struct swapper *s);

#endif
