/*
 * swap_dev.h - a swap device (temp file, regular file or block device) and
 * its slot allocator (private to swapper/ and tests).
 *
 * A slot is one 4 KiB page of the device; slot N lives at byte N * 4096
 * (or one 2 MiB unit at N * 2 MiB, swap_dev_config.slot_shift = 21: a
 * swapper of huge units, whose every slot holds one 2 MiB page).
 * Slot 0 is reserved and never handed out, so 0 can mean "no slot".
 * Each slot has a count: 0 = free, 1..SWAP_SLOT_COUNT_MAX = references,
 * SWAP_SLOT_BAD = retired after an I/O error, never handed out again.
 * All functions are thread-safe.
 *
 * Targets given by path are taken exclusively and checked (swap_dev.c,
 * docs/running.md "Swap targets"): a block device is opened O_EXCL (EBUSY
 * while mounted, an active kernel swap area or held by another hvswap); a
 * regular file is flock()ed (LOCK_EX|LOCK_NB, per open file description, so
 * a second open of the same inode in this process is refused too); a target
 * carrying a filesystem, partition table, Linux swap, LUKS or a live hvswap
 * header is refused unless cfg->force.  hvswap writes its own header
 * (struct swap_dev_hdr) into reserved slot 0 of such a target and marks it
 * released at close.  Temporary files are unlinked, mode 0600, and fully
 * preallocated; so are existing regular files (their holes are allocated at
 * open), so ENOSPC shows at open, not mid-run.
 */
#ifndef HVSWAP_SWAPPER_SWAP_DEV_H
#define HVSWAP_SWAPPER_SWAP_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SWAP_SLOT_SIZE       4096u
#define SWAP_CLUSTER_SLOTS   256u     /* like Linux's SWAPFILE_CLUSTER */
/* A device is used up to 2^26 slots (256 GiB): the page word has 26 bits
 * for a slot (page.h).  Larger targets are used up to that size. */
#define SWAP_DEV_MAX_SLOTS   (1ull << 26)
#define SWAP_SLOT_COUNT_MAX  0xFEu
#define SWAP_SLOT_BAD        0xFFu
#define SWAP_ALLOC_MAX       256u

struct swap_dev_config {
	const char *path;      /* NULL: create an unlinked temp swap file */
	const char *tmpdir;    /* NULL: $TMPDIR or /var/tmp */
	uint64_t size;         /* bytes; required for a temp file; for an
				  existing file/blockdev 0 = use its size */
	int prio;
	bool allow_buffered;   /* if the fs refuses O_DIRECT, go buffered
				  (tests on tmpfs) instead of failing */
	bool force;            /* take a target carrying a known signature
				  or another hvswap's in-use header (never
				  one that is locked, mounted or busy) */
	unsigned int slot_shift;       /* log2 of the slot size: 0/12 = 4 KiB,
					  21 = 2 MiB (huge units) */
};

/*
 * hvswap's header, at byte 0 of slot 0 of every target given by path (in the
 * host's byte order; the rest of slot 0 is zero).  A target whose header
 * says HDR_RELEASED, or HDR_IN_USE by a process of this boot that is gone
 * (a crash), is reused without --force; any other in-use header (a live
 * owner, or another boot or host, where liveness cannot be checked) needs
 * --force.
 */
#define SWAP_HDR_MAGIC    "HVSWAP01"
#define SWAP_HDR_VERSION  1u
enum swap_hdr_state {
	SWAP_HDR_IN_USE = 1,
	SWAP_HDR_RELEASED = 2,
};

struct swap_dev_hdr {
	char magic[8];         /* SWAP_HDR_MAGIC, not NUL-terminated */
	uint32_t version;      /* SWAP_HDR_VERSION */
	uint32_t state;        /* enum swap_hdr_state */
	uint32_t pid;          /* owner */
	uint32_t reserved;
	uint64_t pid_start;    /* owner's start time (/proc/PID/stat field
				  22, clock ticks): tells a reused pid */
	uint64_t nslots;
	uint8_t uuid[16];      /* random, per open */
	char boot_id[40];      /* /proc/sys/kernel/random/boot_id */
	char host[64];         /* gethostname() */
};

struct swap_dev;

/*
 * 0 or -errno (with a log_err() naming the target and the reason):
 * -EBUSY the target is in use (locked, mounted, busy, or a live hvswap
 * header), -EEXIST it carries a known signature (without force), -ENOSPC the
 * filesystem cannot hold it, -ETXTBSY it is an active kernel swap file.
 */
int swap_dev_open(const struct swap_dev_config *cfg, struct swap_dev **out);
/* A disk image whose 4 KiB blocks guest pages may mirror (the swap
 * mapper, mirror.c): opened read-only, no header, no lock (its VMM device
 * owns it), slot n = bytes [n * 4 KiB, (n + 1) * 4 KiB); block 0 is
 * reserved as on every device. */
int swap_dev_open_mirror(const char *path, struct swap_dev **out);
void swap_dev_close(struct swap_dev *d);

int swap_dev_fd(const struct swap_dev *d);
uint64_t swap_dev_nslots(const struct swap_dev *d);
uint64_t swap_dev_slot_size(const struct swap_dev *d);
const char *swap_dev_path(const struct swap_dev *d);
int swap_dev_prio(const struct swap_dev *d);
/* True if the device is opened with O_DIRECT (false only with allow_buffered). */
bool swap_dev_direct(const struct swap_dev *d);
/*
 * True if a and b are the same file or block device (st_dev/st_ino, or
 * st_rdev for block devices).  The flock and O_EXCL checks of swap_dev_open
 * already refuse a second open of one target; this is the belt and braces
 * for filesystems where flock is not exclusive (NFS emulates it with
 * per-process POSIX locks).  The swapper is meant to check a new device
 * against its others with it when it adds one (swapset_add(), -EBUSY).
 */
bool swap_dev_same_file(const struct swap_dev *a, const struct swap_dev *b);

/*
 * Allocate up to n (1..SWAP_ALLOC_MAX) contiguous slots.  Returns the count
 * allocated (>= 1) with *first set, or -ENOSPC (-EINVAL for a bad n).
 * Each allocated slot gets count 1.  Policy: continue the current cluster
 * if the whole run fits at its fill point, else carve from an empty cluster
 * (so a batch of evictions is one sequential write), else the first run of n
 * free slots anywhere, else the longest shorter run.
 */
int swap_slot_alloc(struct swap_dev *d, unsigned int n, uint64_t *first);
/* count++ (sharing, in-flight I/O refs); -EINVAL if free/bad/out of range,
 * -EOVERFLOW at SWAP_SLOT_COUNT_MAX. */
int swap_slot_get(struct swap_dev *d, uint64_t slot);
/* count--; at 0 the slot becomes free.  A put on a bad slot is ignored (its
 * other holders still drop their references after a retire). */
/* A mirror's block (mirror.c): a reference on slot, taking it when free
 * (mirrors are never allocated from).  -EINVAL, -EOVERFLOW, -ENOMEM. */
int swap_slot_claim(struct swap_dev *d, uint64_t slot);
void swap_slot_put(struct swap_dev *d, uint64_t slot);
/* Mark bad (after a write error): never handed out again; drops the
 * caller's reference (the slot is dead even if its count was > 1). */
void swap_slot_retire(struct swap_dev *d, uint64_t slot);
/* 0 free, 1..SWAP_SLOT_COUNT_MAX, or SWAP_SLOT_BAD (also for slot 0 and
 * out-of-range slots). */
unsigned int swap_slot_count(struct swap_dev *d, uint64_t slot);

struct swap_dev_usage {
	uint64_t nslots;        /* all slots, including reserved slot 0 */
	uint64_t used;          /* slots with a count of 1..COUNT_MAX */
	uint64_t bad;           /* retired slots */
	uint64_t free_clusters; /* clusters with no used, bad or reserved slot */
};
void swap_dev_usage(struct swap_dev *d, struct swap_dev_usage *u);
/* Bytes of allocator metadata held in memory for this device. */
size_t swap_dev_metadata_bytes(struct swap_dev *d);  /* takes d->lock */

#endif
