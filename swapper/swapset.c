/*
 * swapset.c - the swap set: the table of swap devices, slot allocation
 * across them, and a page's reference on a slot.
 *
 * Owns: s->devs[], their priorities, the draining flags and the allocation
 * order, all protected by dev_lock (a rwlock: readers allocate slots and
 * read the table; swapon, swapoff's last step and draining changes write).
 * A device pointer is stable while any page references one of its slots,
 * so swapset_dev() reads it without the lock.
 *
 * A slot's references (swap_dev.c counts them): one per page whose word
 * holds it with PG_SLOT (dropped by swapset_put), plus one per write in
 * flight to it (writeback.c).  Which page holds a slot is in that page's
 * word; only a slot shared by several pages is also in the rmap (rmap.c).
 *
 * A slot's seal (seal.h: its crc32c, or its AES-GCM nonce counter and tag)
 * is kept per slot, not per page, in per-device arrays of per-cluster
 * tables (SWAP_CLUSTER_SLOTS entries of seal_entry_bytes() each, plus a
 * count and a valid bitmap).  A table is allocated when a slot of its
 * cluster is first reserved by a write batch and freed when the count of
 * its reserved and sealed slots drops to 0, so seal memory follows the
 * slots in use, as the rmap's does.  A seal is valid from the write that
 * made it (set before the write is submitted) until the slot's last page
 * lets go of it; a clean page (installed write-protected, keeping its
 * slot) keeps it valid because the slot is unchanged.  Retired slots keep
 * none.  Owns seal_lock (a leaf) and the tables; seal.c owns the key.
 *
 * Lock order: page lock -> dev_lock -> rmap_lock -> swap_dev's mutex;
 * seal_lock is a leaf, taken under a page lock or dev_lock.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "hvswap/log.h"
#include "internal.h"
#include "seal.h"

/* A global slot id fits the page word's 29-bit slot field (page.h). */
_Static_assert(SWAP_DEV_MAX_SLOTS == SLOT_DEV_MAX_SLOTS, "device slot bits");
_Static_assert(SWAPPER_MAX_DEVS <= 1u << (64 - PG_SLOT_SHIFT - SLOT_DEV_SHIFT),
	       "device index bits");

/* ---- seal tables ---- */

struct seal_cluster {
	uint32_t n;                     /* slots reserved or sealed */
	uint64_t valid[SWAP_CLUSTER_SLOTS / 64];    /* sealed slots */
	uint8_t e[];                    /* SWAP_CLUSTER_SLOTS seals */
};

static size_t cluster_bytes(struct swapper *s)
{
	return sizeof(struct seal_cluster) +
	       SWAP_CLUSTER_SLOTS * seal_entry_bytes(s->seal);
}

/* The seal and seal_lock, made by the first swapset_add (swapper_create,
 * single-threaded).  The mode cannot change afterwards. */
static int seal_setup(struct swapper *s)
{
	int r;

	if (s->seal_ready)
		return 0;
	r = seal_create(s->cfg.encrypt, &s->seal);
	if (r < 0) {
		log_err("cannot set up swap %s: %s", s->cfg.encrypt ?
			"encryption" : "checksums", strerror(-r));
		return r;
	}
	seal_set_unit(s->seal, s->psz);
	pthread_mutex_init(&s->seal_lock, NULL);
	s->seal_ready = true;
	return 0;
}

/* Only AES-GCM seals live in tables; a CRC-32C seal lives in the word of
 * the SWAPPED page (page.h), so crc32c mode keeps no table at all. */
static bool seal_tables(struct swapper *s)
{
	return seal_mode(s->seal) == SEAL_AES256GCM;
}

static int seal_dev_init(struct swapper *s, unsigned int dev)
{
	if (!seal_tables(s))
		return 0;
	uint64_t ncl = (swap_dev_nslots(s->devs[dev]) + SWAP_CLUSTER_SLOTS - 1) /
		       SWAP_CLUSTER_SLOTS;
	struct seal_cluster **t = core_zalloc(s, ncl * sizeof(*t));

	if (!t)
		return -ENOMEM;
	lock_mutex(&s->seal_lock, LK_LEAF);
	s->seal_tab[dev] = t;
	s->seal_ncl[dev] = ncl;
	unlock_mutex(&s->seal_lock, LK_LEAF);
	return 0;
}

static void seal_dev_fini(struct swapper *s, unsigned int dev)
{
	uint64_t i;

	if (!s->seal_ready)
		return;
	lock_mutex(&s->seal_lock, LK_LEAF);
	for (i = 0; s->seal_tab[dev] && i < s->seal_ncl[dev]; i++) {
		if (s->seal_tab[dev][i])
			s->seal_nclusters--;
		free(s->seal_tab[dev][i]);
	}
	free(s->seal_tab[dev]);
	s->seal_tab[dev] = NULL;
	s->seal_ncl[dev] = 0;
	unlock_mutex(&s->seal_lock, LK_LEAF);
}

/* The cluster table of slot g, or NULL.  seal_lock held. */
static struct seal_cluster *cluster_locked(struct swapper *s, uint64_t g)
{
	unsigned int dev = gslot_dev(g);
	uint64_t cl = gslot_off(g) / SWAP_CLUSTER_SLOTS;

	if (dev >= SWAPPER_MAX_DEVS || !s->seal_tab[dev] || cl >= s->seal_ncl[dev])
		return NULL;
	return s->seal_tab[dev][cl];
}

/* One reservation or seal fewer in g's cluster.  seal_lock held. */
static void cluster_put_locked(struct swapper *s, uint64_t g)
{
	uint64_t cl = gslot_off(g) / SWAP_CLUSTER_SLOTS;
	struct seal_cluster *c = cluster_locked(s, g);

	if (c && --c->n == 0) {
		free(c);
		s->seal_tab[gslot_dev(g)][cl] = NULL;
		s->seal_nclusters--;
	}
}

int swapset_seal_reserve(struct swapper *s, unsigned int dev, uint64_t first,
			 unsigned int n)
{
	uint64_t slot, last = first + n;
	int r = 0;

	if (!seal_tables(s))
		return 0;
	lock_mutex(&s->seal_lock, LK_LEAF);
	for (slot = first; slot < last; slot++) {
		uint64_t cl = slot / SWAP_CLUSTER_SLOTS;
		struct seal_cluster *c;

		if (!s->seal_tab[dev] || cl >= s->seal_ncl[dev]) {
			r = -EINVAL;
			break;
		}
		c = s->seal_tab[dev][cl];
		if (!c) {
			c = core_zalloc(s, cluster_bytes(s));
			if (!c) {
				r = -ENOMEM;
				break;
			}
			s->seal_tab[dev][cl] = c;
			s->seal_nclusters++;
		}
		c->n++;
	}
	while (r < 0 && slot-- > first)     /* undo: nothing reserved */
		cluster_put_locked(s, gslot(dev, slot));
	unlock_mutex(&s->seal_lock, LK_LEAF);
	return r;
}

void swapset_seal_set(struct swapper *s, uint64_t g, const struct seal_entry *e)
{
	uint64_t i = gslot_off(g) % SWAP_CLUSTER_SLOTS, bit = 1ull << (i % 64);
	struct seal_cluster *c;

	lock_mutex(&s->seal_lock, LK_LEAF);
	c = cluster_locked(s, g);
	if (c) {
		seal_entry_pack(s->seal, e, c->e + i * seal_entry_bytes(s->seal));
		if (c->valid[i / 64] & bit)
			cluster_put_locked(s, g);   /* resealed: reservation unused */
		else
			c->valid[i / 64] |= bit;
	}
	unlock_mutex(&s->seal_lock, LK_LEAF);
}

void swapset_seal_unreserve(struct swapper *s, uint64_t g)
{
	lock_mutex(&s->seal_lock, LK_LEAF);
	cluster_put_locked(s, g);
	unlock_mutex(&s->seal_lock, LK_LEAF);
}

int swapset_seal_get(struct swapper *s, uint64_t g, uint32_t crc,
		     struct seal_entry *e)
{
	uint64_t i = gslot_off(g) % SWAP_CLUSTER_SLOTS;
	struct seal_cluster *c;
	int r = -ENOENT;

	if (!seal_tables(s)) {
		memset(e, 0, sizeof(*e));
		e->crc = crc;
		return 0;
	}
	lock_mutex(&s->seal_lock, LK_LEAF);
	c = cluster_locked(s, g);
	if (c && (c->valid[i / 64] & (1ull << (i % 64)))) {
		seal_entry_unpack(s->seal, c->e + i * seal_entry_bytes(s->seal), e);
		r = 0;
	}
	unlock_mutex(&s->seal_lock, LK_LEAF);
	return r;
}

uint32_t swapset_word_seal(struct swapper *s, uint64_t g, const void *page)
{
	struct seal_entry e;

	if (seal_tables(s) || seal_page(s->seal, g, page, NULL, &e) < 0)
		return 0;
	return e.crc;
}

/* Slot g's last page let go of it: its seal goes (the slot is rewritten,
 * with a new seal, before any page references it again). */
static void seal_clear(struct swapper *s, uint64_t g)
{
	uint64_t i = gslot_off(g) % SWAP_CLUSTER_SLOTS, bit = 1ull << (i % 64);
	struct seal_cluster *c;

	lock_mutex(&s->seal_lock, LK_LEAF);
	c = cluster_locked(s, g);
	if (c && (c->valid[i / 64] & bit)) {
		c->valid[i / 64] &= ~bit;
		cluster_put_locked(s, g);
	}
	unlock_mutex(&s->seal_lock, LK_LEAF);
}

/* Slots shared by several pages (issue 12) keep their seal until the
 * last one lets go. */
static void seal_drop_if_unowned(struct swapper *s, uint64_t g)
{
	if (rmap_owners(s, g, NULL, 0) == 0)
		seal_clear(s, g);
}

size_t swapset_seal_bytes(struct swapper *s)
{
	size_t b = 0;
	unsigned int d;

	if (!s->seal_ready)
		return 0;
	lock_mutex(&s->seal_lock, LK_LEAF);
	for (d = 0; d < SWAPPER_MAX_DEVS; d++)
		b += s->seal_ncl[d] * sizeof(struct seal_cluster *);
	b += s->seal_nclusters * cluster_bytes(s);
	unlock_mutex(&s->seal_lock, LK_LEAF);
	return b;
}

/* ---- the device table ---- */

/* Devices usable for new slots, highest priority first.  dev_lock held
 * for writing. */
static void rebuild_order_locked(struct swapper *s)
{
	unsigned int i, j, n = 0;

	for (i = 0; i < SWAPPER_MAX_DEVS; i++) {
		if (!s->devs[i] || s->dev_draining[i] || s->dev_mirror[i])
			continue;
		for (j = n; j > 0 && s->dev_prio[s->dev_order[j - 1]] < s->dev_prio[i]; j--)
			s->dev_order[j] = s->dev_order[j - 1];
		s->dev_order[j] = i;
		n++;
	}
	s->nr_order = n;
}

static int add(struct swapper *s, struct swap_dev *d, int prio, bool mirror)
{
	unsigned int i;
	int r;

	if (mirror ? s->pshift > 12 : swap_dev_slot_size(d) != s->psz) {
		log_err("swap device %s: its slots are not the swapper's %llu-byte "
			"units%s", swap_dev_path(d), (unsigned long long)s->psz,
			mirror ? " (the swap mapper needs 4 KiB pages)" : "");
		return -EINVAL;
	}
	r = seal_setup(s);
	if (r < 0)
		return r;
	lock_write(&s->dev_lock);
	/* flock/O_EXCL in swap_dev_open refuse a second open of one target;
	 * this catches it where flock is not exclusive (NFS). */
	for (i = 0; i < SWAPPER_MAX_DEVS; i++) {
		if (s->devs[i] && swap_dev_same_file(s->devs[i], d)) {
			unlock_rw(&s->dev_lock);
			log_err("swap device %s is already device %u",
				swap_dev_path(d), i);
			return -EBUSY;
		}
	}
	for (i = 0; i < SWAPPER_MAX_DEVS && s->devs[i]; i++)
		;
	if (i == SWAPPER_MAX_DEVS) {
		unlock_rw(&s->dev_lock);
		return -ENOSPC;
	}
	s->devs[i] = d;
	r = rmap_dev_init(s, i);
	if (r == 0) {
		r = seal_dev_init(s, i);
		if (r < 0)
			rmap_dev_fini(s, i);
	}
	if (r < 0) {
		s->devs[i] = NULL;
		unlock_rw(&s->dev_lock);
		return r;
	}
	s->dev_prio[i] = prio;
	s->dev_draining[i] = false;
	atomic_store_explicit(&s->dev_mirror[i], mirror, memory_order_release);
	rebuild_order_locked(s);
	unlock_rw(&s->dev_lock);
	return (int)i;
}

int swapset_add(struct swapper *s, struct swap_dev *d, int prio)
{
	return add(s, d, prio, false);
}

int swapset_add_mirror(struct swapper *s, struct swap_dev *d)
{
	return add(s, d, INT_MIN, true);
}

/* Lock-free: called per page on the swap-in and eviction paths.  A caller
 * asks about the device of a slot some page still references, so that
 * device stays in the table while it asks; its flag was set when it was
 * added and only changes if the index is reused after a swapoff, which
 * needs every reference gone first. */
bool swapset_is_mirror(struct swapper *s, unsigned int dev)
{
	return dev < SWAPPER_MAX_DEVS &&
	       atomic_load_explicit(&s->dev_mirror[dev], memory_order_acquire);
}

void swapset_remove(struct swapper *s, int dev)
{
	lock_write(&s->dev_lock);
	rmap_dev_fini(s, (unsigned int)dev);
	seal_dev_fini(s, (unsigned int)dev);
	swap_dev_close(s->devs[dev]);
	s->devs[dev] = NULL;
	rebuild_order_locked(s);
	unlock_rw(&s->dev_lock);
}

void swapset_close_all(struct swapper *s)
{
	unsigned int i;

	for (i = 0; i < SWAPPER_MAX_DEVS; i++) {
		rmap_dev_fini(s, i);
		seal_dev_fini(s, i);
		if (s->devs[i])
			swap_dev_close(s->devs[i]);
		s->devs[i] = NULL;
	}
	/* After the I/O engine is gone (swapper_destroy): no seal is made or
	 * opened any more.  Wipes the key. */
	seal_destroy(s->seal);
	s->seal = NULL;
	if (s->seal_ready)
		pthread_mutex_destroy(&s->seal_lock);
	s->seal_ready = false;
}

int swapset_check(struct swapper *s, int dev)
{
	int r = 0;

	lock_read(&s->dev_lock);
	if (dev < 0 || dev >= SWAPPER_MAX_DEVS || !s->devs[dev])
		r = -ENOENT;
	else if (s->dev_mirror[dev])
		r = -EPERM;             /* a disk image: not ours to move */
	unlock_rw(&s->dev_lock);
	return r;
}

bool swapset_draining(struct swapper *s, unsigned int dev)
{
	bool r;

	lock_read(&s->dev_lock);
	r = s->dev_draining[dev];
	unlock_rw(&s->dev_lock);
	return r;
}

void swapset_set_draining(struct swapper *s, int dev, bool on)
{
	lock_write(&s->dev_lock);
	s->dev_draining[dev] = on;
	rebuild_order_locked(s);
	unlock_rw(&s->dev_lock);
}

int swapset_alloc(struct swapper *s, int target, unsigned int n,
		  unsigned int *dev, uint64_t *first)
{
	unsigned int i, d;
	int r, err = -ENOSPC;

	lock_read(&s->dev_lock);
	if (target >= 0 && target < SWAPPER_MAX_DEVS && s->devs[target] &&
	    !s->dev_draining[target] && !s->dev_mirror[target]) {
		r = swap_slot_alloc(s->devs[target], n, first);
		if (r > 0) {
			*dev = (unsigned int)target;
			goto out;
		}
		if (r == -ENOMEM)
			err = r;
	}
	for (i = 0; i < s->nr_order; i++) {
		d = s->dev_order[i];
		r = swap_slot_alloc(s->devs[d], n, first);
		if (r > 0) {
			*dev = d;
			goto out;
		}
		if (r == -ENOMEM)
			err = r;        /* (a cluster's map: said as such) */
	}
	r = err;
out:
	unlock_rw(&s->dev_lock);
	return r;
}

uint64_t swapset_free_slots(struct swapper *s, uint64_t *total)
{
	struct swap_dev_usage u;
	uint64_t f = 0, t = 0;
	unsigned int i;

	lock_read(&s->dev_lock);
	for (i = 0; i < s->nr_order; i++) {
		swap_dev_usage(s->devs[s->dev_order[i]], &u);
		f += u.nslots - 1 - u.used - u.bad;
		t += u.nslots - 1 - u.bad;
	}
	unlock_rw(&s->dev_lock);
	if (total)
		*total = t;
	return f;
}

void swapset_put(struct swapper *s, uint64_t idx, uint64_t g)
{
	page_lock_assert_held(s, idx);
	rmap_del(s, g, idx);
	seal_drop_if_unowned(s, g);     /* before the slot can be reused */
	swap_slot_put(swapset_dev(s, g), gslot_off(g));
}

void swapset_unbind(struct swapper *s, uint64_t idx, uint64_t g)
{
	page_lock_assert_held(s, idx);
	rmap_del(s, g, idx);
	seal_drop_if_unowned(s, g);
}

size_t swapset_metadata_bytes(struct swapper *s)
{
	size_t b = 0;
	unsigned int i;

	lock_read(&s->dev_lock);
	for (i = 0; i < SWAPPER_MAX_DEVS; i++) {
		if (s->devs[i])
			b += swap_dev_metadata_bytes(s->devs[i]);
	}
	unlock_rw(&s->dev_lock);
	return b + swapset_seal_bytes(s);
}

int swapper_swapon(struct swapper *s, const char *path, uint64_t size, int prio)
{
	struct swapper_dev_config dev = { .path = path, .size = size, .prio = prio };

	return swapper_swapon_dev(s, &dev);
}

int swapper_swapon_dev(struct swapper *s, const struct swapper_dev_config *dev)
{
	struct swap_dev_config dc = {
		.path = dev->path, .tmpdir = s->cfg.tmpdir, .size = dev->size,
		.prio = dev->prio, .allow_buffered = s->cfg.allow_buffered,
		.force = dev->force, .slot_shift = s->pshift,
	};
	int prio = dev->prio;
	struct swap_dev *d;
	int r;

	if (atomic_load(&s->cancelled))
		return -ECANCELED;
	r = swap_dev_open(&dc, &d);
	if (r < 0)
		return r;
	r = swapset_add(s, d, prio);
	if (r < 0) {
		swap_dev_close(d);
		return r;
	}
	log_info("swapon: %s as device %d (priority %d)", swap_dev_path(d), r, prio);
	core_wake_reclaim(s);   /* room again, if swap was full */
	return r;
}

int swapper_dev_lookup(struct swapper *s, const char *name)
{
	unsigned int i;
	int r = -ENOENT;

	if (name[0] == '#') {
		char *end;
		long v = strtol(name + 1, &end, 10);

		if (*end || v < 0 || v >= SWAPPER_MAX_DEVS)
			return -ENOENT;
		return swapset_check(s, (int)v) < 0 ? -ENOENT : (int)v;
	}
	lock_read(&s->dev_lock);
	for (i = 0; i < SWAPPER_MAX_DEVS; i++) {
		if (s->devs[i] && !strcmp(swap_dev_path(s->devs[i]), name)) {
			r = (int)i;
			break;
		}
	}
	unlock_rw(&s->dev_lock);
	return r;
}
