/*
 * swap_dev.c - a swap device and its slot allocator.
 *
 * Owns: the device fd (an unlinked temp file, a regular file or a block
 * device, opened O_DIRECT), a one-byte count per slot (the swap map: 0 free,
 * 1..0xFE references, 0xFF bad or reserved) and a small record per cluster
 * of 256 slots (how many of its slots are not free, and a free-list link).
 * The map is kept per cluster and allocated only while the cluster has a
 * slot that is not free (cmap[c] == NULL: all free), so metadata follows
 * the slots in use: 1 byte per used-cluster slot plus 16 bytes per 1 MiB
 * cluster.
 *
 * Locking: one mutex, d->lock, protects the swap map, the cluster records,
 * the free-cluster list, the current cluster and the counters.  It is a leaf
 * lock: nothing else is taken under it.  Allocation may scan the whole map
 * when no empty cluster is left (O(nslots) under the lock, fragmented case
 * only).
 *
 * Invariants (under d->lock):
 *  - cl[c].inuse == number of slots of cluster c whose map byte != 0;
 *    cmap[c] != NULL whenever cl[c].inuse != 0;
 *  - map[0] == SWAP_SLOT_BAD (reserved, not counted in d->bad), so cluster 0
 *    is never empty and slot 0 is never handed out;
 *  - used == slots with a count 1..COUNT_MAX, bad == retired slots;
 *  - every cluster with inuse == 0, other than cur, is on the free list;
 *    the list may also hold stale entries (clusters that became non-empty by
 *    a retire while listed); free_pop() skips them; on_list prevents
 *    double insertion.
 *  - cur_next is the fill point of the current cluster: the next batch tries
 *    slots [cur_next, cur_next + n) of cur.
 *
 * Opening a target (the "opening" section; no locks, one thread):
 *  - a path is opened O_EXCL (block devices: EBUSY while mounted or claimed;
 *    ignored for regular files) and a regular file is flock()ed
 *    LOCK_EX|LOCK_NB.  flock is per open file description, so it refuses a
 *    second hvswap and a second open in this process alike.  A filesystem
 *    without flock gets a warning, and swap_dev_same_file() as a fallback;
 *  - before anything is written, the first HEAD_LEN bytes are read: an
 *    hvswap header decides alone; otherwise a known signature refuses the
 *    target unless cfg->force (swap_target.c, which also writes the header
 *    and preallocates);
 *  - regular files are preallocated over their whole size (fallocate mode 0
 *    fills only holes, posix_fallocate where fallocate is unsupported), so
 *    ENOSPC is an error at open, not a write error mid-run;
 *  - the header (SWAP_HDR_IN_USE) is written last, when nothing can fail any
 *    more; swap_dev_close() rewrites it SWAP_HDR_RELEASED.  Temporary files
 *    are unlinked: nobody else can see them, so they get no header.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "hvswap/log.h"
#include "swap_dev.h"

#define CL_NONE UINT32_MAX
#define MIN_SLOTS (2 * SWAP_CLUSTER_SLOTS)

_Static_assert(sizeof(struct swap_dev_hdr) <= 440,
	       "the header must stay clear of the MBR fields at 440..511");

#include "swap_dev_impl.h"

/* ---- cluster bookkeeping (callers hold d->lock) ---- */

static uint8_t map_get(const struct swap_dev *d, uint64_t slot)
{
	const uint8_t *m = d->cmap[slot / SWAP_CLUSTER_SLOTS];

	return m ? m[slot % SWAP_CLUSTER_SLOTS] : 0;
}

/* The count byte of a slot whose cluster has a map (map_ensure'd, or a
 * slot that is not free). */
static uint8_t *map_at(struct swap_dev *d, uint64_t slot)
{
	return &d->cmap[slot / SWAP_CLUSTER_SLOTS][slot % SWAP_CLUSTER_SLOTS];
}

static bool map_ensure(struct swap_dev *d, uint32_t c)
{
	if (d->cmap[c])
		return true;
	d->cmap[c] = calloc(SWAP_CLUSTER_SLOTS, 1);
	if (!d->cmap[c])
		return false;
	d->ncmaps++;
	return true;
}

/* Cluster c has no slot in use any more: its map goes. */
static void map_drop(struct swap_dev *d, uint32_t c)
{
	free(d->cmap[c]);
	d->cmap[c] = NULL;
	d->ncmaps--;
}

static uint32_t cl_slots(const struct swap_dev *d, uint32_t c)
{
	uint64_t left = d->nslots - (uint64_t)c * SWAP_CLUSTER_SLOTS;

	return left < SWAP_CLUSTER_SLOTS ? (uint32_t)left : SWAP_CLUSTER_SLOTS;
}

static void free_push(struct swap_dev *d, uint32_t c)
{
	if (d->cl[c].on_list)
		return;
	d->cl[c].on_list = 1;
	d->cl[c].next = CL_NONE;
	if (d->free_tail == CL_NONE)
		d->free_head = c;
	else
		d->cl[d->free_tail].next = c;
	d->free_tail = c;
}

static uint32_t free_pop(struct swap_dev *d)
{
	uint32_t c;

	while ((c = d->free_head) != CL_NONE) {
		d->free_head = d->cl[c].next;
		if (d->free_head == CL_NONE)
			d->free_tail = CL_NONE;
		d->cl[c].on_list = 0;
		if (d->cl[c].inuse == 0)
			return c;
	}
	return CL_NONE;
}

static void set_cur(struct swap_dev *d, uint32_t c)
{
	uint32_t old = d->cur;

	d->cur = c;
	d->cur_next = 0;
	if (old != CL_NONE && old != c && d->cl[old].inuse == 0)
		free_push(d, old);
}

/* Take free slots [first, first + n) of one cluster; false when its map
 * cannot be allocated (nothing taken). */
static bool take(struct swap_dev *d, uint64_t first, unsigned int n)
{
	uint32_t c = (uint32_t)(first / SWAP_CLUSTER_SLOTS);

	if (!map_ensure(d, c))
		return false;
	memset(map_at(d, first), 1, n);
	d->cl[c].inuse += (uint16_t)n;
	d->used += n;
	return true;
}

static void release(struct swap_dev *d, uint64_t slot)
{
	uint32_t c = (uint32_t)(slot / SWAP_CLUSTER_SLOTS);

	*map_at(d, slot) = 0;
	d->used--;
	if (--d->cl[c].inuse)
		return;
	map_drop(d, c);
	if (c == d->cur)
		d->cur_next = 0;
	else
		free_push(d, c);
}

static bool run_free(const struct swap_dev *d, uint64_t first, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (map_get(d, first + i))
			return false;
	}
	return true;
}

/* ---- allocation policy (callers hold d->lock) ---- */

static int alloc_cur(struct swap_dev *d, unsigned int n, uint64_t *first)
{
	uint64_t base;

	if (d->cur == CL_NONE || d->cur_next + n > cl_slots(d, d->cur))
		return 0;
	base = (uint64_t)d->cur * SWAP_CLUSTER_SLOTS + d->cur_next;
	if (!run_free(d, base, n))
		return 0;
	if (!take(d, base, n))
		return -ENOMEM;
	d->cur_next += n;
	*first = base;
	return (int)n;
}

static int alloc_empty(struct swap_dev *d, unsigned int n, uint64_t *first)
{
	uint32_t c = free_pop(d);

	if (c == CL_NONE)
		return 0;
	if (!map_ensure(d, c)) {
		free_push(d, c);
		return -ENOMEM;
	}
	set_cur(d, c);
	if (n > cl_slots(d, c))
		n = cl_slots(d, c);
	*first = (uint64_t)c * SWAP_CLUSTER_SLOTS;
	take(d, *first, n);
	d->cur_next = n;
	return (int)n;
}

/* Longest run of free slots in cluster c, stopping early at n; 0 if none. */
static unsigned int best_run(const struct swap_dev *d, uint32_t c,
			     unsigned int n, uint64_t *start)
{
	uint64_t base = (uint64_t)c * SWAP_CLUSTER_SLOTS;
	unsigned int i, len = 0, best = 0, cs = cl_slots(d, c);

	for (i = 0; i < cs && best < n; i++) {
		len = map_get(d, base + i) ? 0 : len + 1;
		if (len > best) {
			best = len;
			*start = base + i + 1 - len;
		}
	}
	return best;
}

/* Fragmented case: first run of n anywhere, else the longest shorter one. */
static int alloc_scan(struct swap_dev *d, unsigned int n, uint64_t *first)
{
	unsigned int best = 0, len;
	uint32_t i, c;
	uint64_t start = 0;

	for (i = 0; i < d->nclusters && best < n; i++) {
		c = (d->scan + i) % d->nclusters;
		if (d->cl[c].inuse == cl_slots(d, c))
			continue;
		len = best_run(d, c, n, &start);
		if (len > best) {
			best = len;
			*first = start;
			d->scan = c;
		}
	}
	if (!best)
		return 0;
	if (!take(d, *first, best))
		return -ENOMEM;
	return (int)best;
}

int swap_slot_alloc(struct swap_dev *d, unsigned int n, uint64_t *first)
{
	int ret;

	if (n == 0 || n > SWAP_ALLOC_MAX || !first)
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	ret = alloc_cur(d, n, first);
	if (!ret)
		ret = alloc_empty(d, n, first);
	if (!ret)
		ret = alloc_scan(d, n, first);
	pthread_mutex_unlock(&d->lock);
	return ret ? ret : -ENOSPC;
}

/* ---- references ---- */

static bool slot_ok(const struct swap_dev *d, uint64_t slot, const char *fn)
{
	if (slot != 0 && slot < d->nslots)
		return true;
	log_err("%s: slot %llu out of range (1..%llu)", fn,
		(unsigned long long)slot, (unsigned long long)(d->nslots - 1));
	return false;
}

/* One more reference on slot; a free slot is taken only with `take_free`
 * (a mirror's block), else it is -EINVAL. */
static int slot_ref(struct swap_dev *d, uint64_t slot, bool take_free)
{
	int ret = 0;
	uint8_t v;

	if (slot == 0 || slot >= d->nslots)
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	v = map_get(d, slot);
	if (v == SWAP_SLOT_BAD || (v == 0 && !take_free))
		ret = -EINVAL;
	else if (v == SWAP_SLOT_COUNT_MAX)
		ret = -EOVERFLOW;
	else if (v)
		*map_at(d, slot) = v + 1;
	else if (!take(d, slot, 1))
		ret = -ENOMEM;
	pthread_mutex_unlock(&d->lock);
	return ret;
}

int swap_slot_get(struct swap_dev *d, uint64_t slot)
{
	return slot_ref(d, slot, false);
}

int swap_slot_claim(struct swap_dev *d, uint64_t slot)
{
	return slot_ref(d, slot, true);
}

void swap_slot_put(struct swap_dev *d, uint64_t slot)
{
	uint8_t v;

	if (!slot_ok(d, slot, __func__))
		return;
	pthread_mutex_lock(&d->lock);
	v = map_get(d, slot);
	if (v == 1)
		release(d, slot);
	else if (v != 0 && v != SWAP_SLOT_BAD)
		*map_at(d, slot) = v - 1;
	pthread_mutex_unlock(&d->lock);
	if (v == 0)
		log_err("swap_slot_put: slot %llu is already free",
			(unsigned long long)slot);
}

void swap_slot_retire(struct swap_dev *d, uint64_t slot)
{
	uint8_t v;

	if (!slot_ok(d, slot, __func__))
		return;
	pthread_mutex_lock(&d->lock);
	v = map_get(d, slot);
	if (v == 0 && !map_ensure(d, (uint32_t)(slot / SWAP_CLUSTER_SLOTS))) {
		/* A free slot stays free (and may be handed out again) rather
		 * than a map being made up: said, not hidden. */
		pthread_mutex_unlock(&d->lock);
		log_err("swap_slot_retire: slot %llu: no memory to retire it",
			(unsigned long long)slot);
		return;
	}
	if (v != SWAP_SLOT_BAD) {
		if (v == 0)
			d->cl[slot / SWAP_CLUSTER_SLOTS].inuse++;
		else
			d->used--;
		*map_at(d, slot) = SWAP_SLOT_BAD;
		d->bad++;
	}
	pthread_mutex_unlock(&d->lock);
}

unsigned int swap_slot_count(struct swap_dev *d, uint64_t slot)
{
	unsigned int v;

	if (slot == 0 || slot >= d->nslots)
		return SWAP_SLOT_BAD;
	pthread_mutex_lock(&d->lock);
	v = map_get(d, slot);
	pthread_mutex_unlock(&d->lock);
	return v;
}

void swap_dev_usage(struct swap_dev *d, struct swap_dev_usage *u)
{
	uint32_t c;

	pthread_mutex_lock(&d->lock);
	u->nslots = d->nslots;
	u->used = d->used;
	u->bad = d->bad;
	u->free_clusters = 0;
	for (c = 0; c < d->nclusters; c++)
		u->free_clusters += d->cl[c].inuse == 0;
	pthread_mutex_unlock(&d->lock);
}

size_t swap_dev_metadata_bytes(struct swap_dev *d)
{
	size_t maps;

	pthread_mutex_lock(&d->lock);           /* ncmaps moves with the map */
	maps = (size_t)d->ncmaps * SWAP_CLUSTER_SLOTS;
	pthread_mutex_unlock(&d->lock);
	return sizeof(*d) + maps +
	       (size_t)d->nclusters * (sizeof(struct cluster) + sizeof(*d->cmap)) +
	       strlen(d->path) + 1;
}

int swap_dev_fd(const struct swap_dev *d) { return d->fd; }
uint64_t swap_dev_nslots(const struct swap_dev *d) { return d->nslots; }
uint64_t swap_dev_slot_size(const struct swap_dev *d) { return d->slot_size; }
const char *swap_dev_path(const struct swap_dev *d) { return d->path; }
int swap_dev_prio(const struct swap_dev *d) { return d->prio; }
bool swap_dev_direct(const struct swap_dev *d) { return d->direct; }

bool swap_dev_same_file(const struct swap_dev *a, const struct swap_dev *b)
{
	if (a->st_rdev || b->st_rdev)
		return a->st_rdev == b->st_rdev;
	return a->st_ino && a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* ---- opening ---- */

static int meta_init(struct swap_dev *d)
{
	uint32_t c;

	d->nclusters = (uint32_t)((d->nslots + SWAP_CLUSTER_SLOTS - 1) /
				  SWAP_CLUSTER_SLOTS);
	d->cmap = calloc(d->nclusters, sizeof(*d->cmap));
	d->cl = calloc(d->nclusters, sizeof(*d->cl));
	if (!d->cmap || !d->cl || !map_ensure(d, 0))
		return -ENOMEM;
	d->free_head = d->free_tail = CL_NONE;
	*map_at(d, 0) = SWAP_SLOT_BAD;       /* reserved */
	d->cl[0].inuse = 1;
	d->cur = 0;                          /* start filling at slot 1 */
	d->cur_next = 1;
	for (c = 1; c < d->nclusters; c++)
		free_push(d, c);
	return 0;
}

static int check_size(const struct swap_dev *d, const char *what, uint64_t size)
{
	if (size / d->slot_size >= MIN_SLOTS)
		return 0;
	log_err("swap device %s: size %llu bytes is too small (minimum %llu bytes, "
		"two clusters)", what, (unsigned long long)size,
		(unsigned long long)(MIN_SLOTS * d->slot_size));
	return -EINVAL;
}

/* Slots of a target of size bytes, capped at SWAP_DEV_MAX_SLOTS. */
static uint64_t size_slots(const struct swap_dev *d, const char *what, uint64_t size)
{
	if (size / d->slot_size <= SWAP_DEV_MAX_SLOTS)
		return size / d->slot_size;
	log_warn("swap device %s: %llu bytes; using the first %llu (the most "
		 "one device can hold)", what, (unsigned long long)size,
		 (unsigned long long)(SWAP_DEV_MAX_SLOTS * d->slot_size));
	return SWAP_DEV_MAX_SLOTS;
}

static void note_id(struct swap_dev *d, const struct stat *st)
{
	d->st_dev = st->st_dev;
	d->st_ino = st->st_ino;
	d->st_rdev = S_ISBLK(st->st_mode) ? st->st_rdev : 0;
}

static int set_direct(struct swap_dev *d, const struct swap_dev_config *cfg)
{
	int fl = fcntl(d->fd, F_GETFL);

	if (fl >= 0 && fcntl(d->fd, F_SETFL, fl | O_DIRECT) == 0) {
		d->direct = true;
		return 0;
	}
	if (errno == EINVAL && cfg->allow_buffered) {
		log_warn("swap device %s: no O_DIRECT here, using buffered I/O",
			 d->path);
		return 0;
	}
	log_err("swap device %s: the filesystem refuses O_DIRECT (%s); put the "
		"swap file elsewhere or allow buffered I/O", d->path, strerror(errno));
	return -EINVAL;
}

/* ---- temporary files ---- */

static int create_tmp(struct swap_dev *d, const char *dir)
{
	struct stat st;
	char *tmpl;
	int ret;

	d->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (d->fd >= 0) {
		/* Unlinked: named by its inode, so that two temporary devices
		 * are told apart by path too (ctl "dev" accepts paths). */
		if (fstat(d->fd, &st) < 0)
			st.st_ino = 0;
		note_id(d, &st);
		return asprintf(&d->path, "%s/(O_TMPFILE inode %llu)", dir,
				(unsigned long long)st.st_ino) < 0 ? -ENOMEM : 0;
	}
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		goto err;
	if (asprintf(&tmpl, "%s/hvswap-swap-XXXXXX", dir) < 0)
		return -ENOMEM;
	d->fd = mkostemp(tmpl, O_CLOEXEC);       /* mode 0600 */
	if (d->fd < 0) {
		free(tmpl);
		goto err;
	}
	unlink(tmpl);
	d->path = tmpl;
	if (fstat(d->fd, &st) == 0)
		note_id(d, &st);
	return 0;
err:
	ret = -errno;
	log_err("cannot create a temp swap file in %s: %s", dir, strerror(-ret));
	return ret;
}

static int open_temp(struct swap_dev *d, const struct swap_dev_config *cfg)
{
	const char *dir = cfg->tmpdir;
	int ret;

	if (!dir || !*dir)
		dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/var/tmp";
	if (!cfg->size) {
		log_err("a temp swap file needs a size (swap_dev_config.size)");
		return -EINVAL;
	}
	ret = check_size(d, dir, cfg->size);
	if (ret)
		return ret;
	ret = create_tmp(d, dir);
	if (ret)
		return ret;
	d->nslots = size_slots(d, dir, cfg->size);
	ret = swap_target_prealloc(d->fd, d->path, d->nslots * d->slot_size, 0);
	if (ret)
		return ret;
	return set_direct(d, cfg);
}

/* ---- targets given by path ---- */

static int dev_size(struct swap_dev *d, const struct stat *st, uint64_t *size)
{
	int ret;

	if (S_ISREG(st->st_mode)) {
		*size = (uint64_t)st->st_size;
		return 0;
	}
	if (S_ISBLK(st->st_mode)) {
		if (ioctl(d->fd, BLKGETSIZE64, size) == 0)
			return 0;
		ret = -errno;
		log_err("swap device %s: BLKGETSIZE64: %s", d->path, strerror(-ret));
		return ret;
	}
	log_err("swap device %s: not a regular file or block device", d->path);
	return -EINVAL;
}

static int open_error(const char *path)
{
	int ret = -errno;

	if (ret == -EBUSY)
		log_err("swap device %s is in use (a mounted filesystem, an active "
			"swap area, or held by another program such as another "
			"hvswap): %s", path, strerror(-ret));
	else if (ret == -ETXTBSY)
		log_err("swap file %s is an active kernel swap file: %s", path,
			strerror(-ret));
	else
		log_err("swap device %s: %s", path, strerror(-ret));
	return ret;
}

/* Claim a regular file: flock() is per open file description, so a second
 * open of the same inode is refused, in this process as in another. */
static int lock_file(struct swap_dev *d)
{
	if (flock(d->fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK) {
		log_err("swap file %s is in use: another hvswap, or another swap "
			"device of this one, holds its lock", d->path);
		return -EBUSY;
	}
	log_warn("swap file %s: cannot lock it (%s): a second user will not be "
		 "detected", d->path, strerror(errno));
	return 0;
}

/* Others can read the guest memory written to it (and what is left there). */
static void check_mode(const struct swap_dev *d, const struct stat *st)
{
	mode_t loose = S_ISBLK(st->st_mode) ? (S_IROTH | S_IWOTH) :
			(S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH);

	if (st->st_mode & loose)
		log_warn("swap device %s has mode %04o: other users can read the "
			 "guest memory written to it; chmod 0600 it", d->path,
			 (unsigned int)(st->st_mode & 07777));
}

static int open_existing(struct swap_dev *d, const struct swap_dev_config *cfg)
{
	uint64_t size, have;
	struct stat st;
	int ret;

	d->path = strdup(cfg->path);
	if (!d->path)
		return -ENOMEM;
	/* O_EXCL without O_CREAT claims a block device exclusively (EBUSY if
	 * mounted or claimed); Linux ignores it for other files. */
	d->fd = open(cfg->path, O_RDWR | O_EXCL | O_CLOEXEC);
	if (d->fd < 0)
		return open_error(cfg->path);
	if (fstat(d->fd, &st) < 0)
		return open_error(cfg->path);
	note_id(d, &st);
	ret = S_ISREG(st.st_mode) ? lock_file(d) : 0;
	if (!ret)
		ret = dev_size(d, &st, &have);
	if (ret)
		return ret;
	size = cfg->size ? cfg->size : have;
	ret = check_size(d, d->path, size);
	if (!ret && size > have && S_ISBLK(st.st_mode)) {
		log_err("swap device %s: size %llu exceeds the device (%llu)",
			d->path, (unsigned long long)size, (unsigned long long)have);
		ret = -EINVAL;
	}
	if (!ret)
		ret = swap_target_check(d, cfg);
	if (ret)
		return ret;
	check_mode(d, &st);
	d->nslots = size_slots(d, d->path, size);
	if (S_ISREG(st.st_mode)) {
		ret = swap_target_prealloc(d->fd, d->path,
					   d->nslots * d->slot_size, have);
		if (ret)
			return ret;
	}
	ret = set_direct(d, cfg);
	if (ret)
		return ret;
	/* Nothing fails after this: the target is ours. */
	swap_target_hdr_fill(d);
	ret = swap_target_hdr_write(d, SWAP_HDR_IN_USE);
	if (ret) {
		log_err("swap device %s: cannot write its header: %s", d->path,
			strerror(-ret));
		return ret;
	}
	d->has_hdr = true;
	return 0;
}

int swap_dev_open(const struct swap_dev_config *cfg, struct swap_dev **out)
{
	struct swap_dev *d;
	int ret;

	if (!cfg || !out)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fd = -1;
	d->prio = cfg->prio;
	if (cfg->slot_shift && cfg->slot_shift != 12 && cfg->slot_shift != 21) {
		free(d);
		return -EINVAL;
	}
	d->slot_size = cfg->slot_shift ? 1ull << cfg->slot_shift : SWAP_SLOT_SIZE;
	pthread_mutex_init(&d->lock, NULL);
	ret = cfg->path ? open_existing(d, cfg) : open_temp(d, cfg);
	if (ret)
		goto err_close;
	ret = meta_init(d);
	if (ret)
		goto err_close;
	*out = d;
	return 0;

err_close:
	swap_dev_close(d);
	return ret;
}

int swap_dev_open_mirror(const char *path, struct swap_dev **out)
{
	struct swap_dev *d = calloc(1, sizeof(*d));
	struct stat st;
	uint64_t size;
	int ret;

	if (!d)
		return -ENOMEM;
	pthread_mutex_init(&d->lock, NULL);
	d->slot_size = SWAP_SLOT_SIZE;
	d->prio = INT_MIN;
	d->fd = open(path, O_RDONLY | O_CLOEXEC);
	ret = d->fd < 0 ? open_error(path) : 0;
	d->path = strdup(path);
	if (!ret && !d->path)
		ret = -ENOMEM;
	if (!ret && fstat(d->fd, &st) < 0)
		ret = -errno;
	if (!ret) {
		note_id(d, &st);
		ret = dev_size(d, &st, &size);
	}
	if (!ret)
		ret = check_size(d, path, size);
	if (!ret) {
		d->nslots = size_slots(d, path, size);
		ret = meta_init(d);
	}
	if (ret) {
		swap_dev_close(d);
		return ret;
	}
	*out = d;
	return 0;
}

void swap_dev_close(struct swap_dev *d)
{
	if (!d)
		return;
	if (d->has_hdr && swap_target_hdr_write(d, SWAP_HDR_RELEASED) < 0)
		log_warn("swap device %s: cannot mark its header released", d->path);
	if (d->fd >= 0)
		close(d->fd);
	pthread_mutex_destroy(&d->lock);
	if (d->cmap) {
		uint32_t c;

		for (c = 0; c < d->nclusters; c++)
			free(d->cmap[c]);
	}
	free(d->cmap);
	free(d->cl);
	free(d->path);
	free(d);
}
