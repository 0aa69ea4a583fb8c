/*
 * virtio_blk.c - the virtio-blk device: requests against a host file.
 *
 * Owns: struct virtio_blk (backing fd, capacity, scratch pin list, counters).
 * Locking: ->request() runs under the transport's lock (virtio_mmio.c), one
 * request at a time per device; that lock protects `pins`, `iov` and `rl`.
 * Counters are atomics (read by the stats writer while the VM runs).
 * Guest memory: every byte is reached through gm_pin()/gm_unpin() - the
 * header and status byte, and each data piece, which stays pinned from
 * before the file I/O until after it (write = true when the device writes
 * into the guest, i.e. for IN and GET_ID).  Invariant: when blk_request()
 * returns, nothing it pinned is still pinned.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hvswap/log.h"
#include "guestmem.h"
#include "hvswap/ratelimit.h"
#include "hvswap/swapper.h"
#include "virtio_blk.h"
#include "vm.h"

#define DISK_TMPDIR "/var/tmp"

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct pinned {
	uint64_t gpa, len;
};

struct virtio_blk {
	struct vm *vm;
	int fd;
	int mirror;                     /* swapper mirror index, -1: none */
	uint64_t capacity;              /* sectors */
	char id[VIRTIO_BLK_ID_BYTES];
	/* protected by the transport lock */
	struct pinned pins[VIRTQ_MAX_SIZE];
	struct iovec iov[VIRTQ_MAX_SIZE];
	unsigned int npins;
	struct ratelimit rl;
	struct {
		_Atomic uint64_t reads, writes, flushes, get_id, unsupp;
		_Atomic uint64_t bytes_read, bytes_written;
		_Atomic uint64_t ioerr;         /* completed with IOERR */
		_Atomic uint64_t bad_requests;  /* no status byte: NEEDS_RESET */
	} st;
};

/* Rate-limited: a guest can trigger these at will. */
#define bwarn(b, fmt, ...) do {                                         \
	uint64_t sup_;                                                  \
	if (!ratelimit_ok(&(b)->rl, &sup_))                             \
		break;                                                  \
	if (sup_)                                                       \
		log_warn("virtio-blk: " fmt " (%" PRIu64 " warnings "   \
			 "suppressed before this one)", ##__VA_ARGS__, sup_); \
	else                                                            \
		log_warn("virtio-blk: " fmt, ##__VA_ARGS__);            \
} while (0)

/* ---- pinning pieces of a chain ------------------------------------------ */

static void unpin_all(struct virtio_blk *b)
{
	while (b->npins) {
		b->npins--;
		gm_unpin(b->vm, b->pins[b->npins].gpa, b->pins[b->npins].len);
	}
}

/*
 * Pin bytes [off, off+len) of the chain's device-readable (write=false) or
 * device-writable (write=true) buffers, in chain order, appending one iovec
 * per non-empty piece.  fill: the device overwrites all of them (a disk
 * read), so swapped-out pages they cover whole are not read back first.
 * On failure everything pinned so far is unpinned.
 */
static int pin_range(struct virtio_blk *b, const struct virtq_chain *c, bool write,
		     bool fill, uint64_t off, uint64_t len)
{
	unsigned int i;
	void *host;
	int r;

	for (i = 0; i < c->n && len; i++) {
		const struct virtq_seg *s = &c->seg[i];
		uint64_t take;

		if (s->write != write)
			continue;
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		take = s->len - off < len ? s->len - off : len;
		r = fill ? gm_pin_fill(b->vm, s->addr + off, take, &host) :
			   gm_pin(b->vm, s->addr + off, take, write, &host);
		if (r < 0) {
			unpin_all(b);
			return r;
		}
		b->pins[b->npins] = (struct pinned){ s->addr + off, take };
		b->iov[b->npins] = (struct iovec){ host, take };
		b->npins++;
		len -= take;
		off = 0;
	}
	if (len) {              /* callers check the totals first */
		unpin_all(b);
		return -EINVAL;
	}
	return 0;
}

/* Copy [off, off+len) of the chain's buffers of one direction to/from buf. */
static int chain_copy(struct virtio_blk *b, const struct virtq_chain *c, bool write,
		      uint64_t off, void *buf, uint64_t len)
{
	uint8_t *p = buf;
	unsigned int i;
	int r;

	r = pin_range(b, c, write, false, off, len);
	if (r < 0)
		return r;
	for (i = 0; i < b->npins; i++) {
		if (write)
			memcpy(b->iov[i].iov_base, p, b->iov[i].iov_len);
		else
			memcpy(p, b->iov[i].iov_base, b->iov[i].iov_len);
		p += b->iov[i].iov_len;
	}
	unpin_all(b);
	return 0;
}

/* ---- the swap mapper ----------------------------------------------------- */

/* A read into the pinned pieces b->pins[] from disk byte `off` completed:
 * the whole guest pages it filled from 4 KiB-aligned blocks are noted as
 * copies of those blocks (before the guest can see the request done). */
static void note_mirrors(struct virtio_blk *b, uint64_t off)
{
	unsigned int i;

	for (i = 0; i < b->npins; off += b->pins[i].len, i++) {
		uint64_t gpa = b->pins[i].gpa, len = b->pins[i].len;
		uint64_t skip = (4096 - gpa % 4096) % 4096, n;

		if (len <= skip || (off + skip) % 4096)
			continue;
		n = (len - skip) / 4096 * 4096;
		if (n)
			swapper_mirror_note(b->vm->swapper, b->mirror, gpa + skip, n,
					    off + skip);
	}
}

int virtio_blk_swap_mapper(struct virtio_blk *b, bool count_only)
{
	char path[64];
	int r;

	if (!b->vm->swapper)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", b->fd);
	r = swapper_mirror_add(b->vm->swapper, path, count_only);
	if (r >= 0)
		b->mirror = r;
	return r < 0 ? r : 0;
}

/* ---- file I/O ----------------------------------------------------------- */

/* preadv/pwritev the whole iovec (short transfers continue; EOF = -EIO). */
static int rw_full(int fd, struct iovec *iov, int n, off_t off, bool write)
{
	while (n > 0) {
		ssize_t r = write ? pwritev(fd, iov, n, off) : preadv(fd, iov, n, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		off += r;
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/* ---- requests ----------------------------------------------------------- */

static uint8_t do_rw(struct virtio_blk *b, const struct virtq_chain *c,
		     const struct blk_hdr *h, bool is_write, uint32_t *written)
{
	/* IN: readable = header only, data = writable minus the status byte.
	 * OUT: writable = status byte only, data = readable after the header. */
	uint64_t len = is_write ? c->out_bytes - sizeof(*h) : c->in_bytes - 1;
	uint64_t other = is_write ? c->in_bytes - 1 : c->out_bytes - sizeof(*h);
	int r;

	if (other) {
		bwarn(b, "%s request with %" PRIu64 " bytes in the wrong direction",
		      is_write ? "write" : "read", other);
		return VIRTIO_BLK_S_IOERR;
	}
	if (len % VIRTIO_BLK_SECTOR || len > VIRTIO_BLK_MAX_DATA ||
	    h->sector > b->capacity || len / VIRTIO_BLK_SECTOR > b->capacity - h->sector) {
		bwarn(b, "%s of %" PRIu64 " bytes at sector %" PRIu64 " rejected "
		      "(capacity %" PRIu64 " sectors)", is_write ? "write" : "read",
		      len, h->sector, b->capacity);
		return VIRTIO_BLK_S_IOERR;
	}
	r = pin_range(b, c, !is_write, !is_write, is_write ? sizeof(*h) : 0, len);
	if (r < 0) {
		bwarn(b, "cannot pin request buffers: %s", strerror(-r));
		return VIRTIO_BLK_S_IOERR;
	}
	if (is_write && b->mirror >= 0) {
		/* pages that mirror these blocks keep their data */
		r = swapper_mirror_write(b->vm->swapper, b->mirror,
					 h->sector * VIRTIO_BLK_SECTOR, len);
		if (r < 0) {
			unpin_all(b);
			bwarn(b, "write at sector %" PRIu64 ": pages mirroring it "
			      "cannot be kept: %s", h->sector, strerror(-r));
			return VIRTIO_BLK_S_IOERR;
		}
	}
	r = rw_full(b->fd, b->iov, (int)b->npins,
		    (off_t)(h->sector * VIRTIO_BLK_SECTOR), is_write);
	if (r >= 0 && !is_write && b->mirror >= 0)
		note_mirrors(b, h->sector * VIRTIO_BLK_SECTOR);
	unpin_all(b);
	if (r < 0) {
		bwarn(b, "%s at sector %" PRIu64 ": %s", is_write ? "write" : "read",
		      h->sector, strerror(-r));
		return VIRTIO_BLK_S_IOERR;
	}
	if (is_write) {
		atomic_fetch_add(&b->st.writes, 1);
		atomic_fetch_add(&b->st.bytes_written, len);
	} else {
		atomic_fetch_add(&b->st.reads, 1);
		atomic_fetch_add(&b->st.bytes_read, len);
		*written = (uint32_t)len;
	}
	return VIRTIO_BLK_S_OK;
}

static uint8_t do_get_id(struct virtio_blk *b, const struct virtq_chain *c,
			 uint32_t *written)
{
	uint64_t n = c->in_bytes - 1;

	if (n > VIRTIO_BLK_ID_BYTES)
		n = VIRTIO_BLK_ID_BYTES;
	if (c->out_bytes != sizeof(struct blk_hdr) ||
	    chain_copy(b, c, true, 0, b->id, n) < 0)
		return VIRTIO_BLK_S_IOERR;
	atomic_fetch_add(&b->st.get_id, 1);
	*written = (uint32_t)n;
	return VIRTIO_BLK_S_OK;
}

static uint8_t handle(struct virtio_blk *b, const struct virtq_chain *c,
		      uint32_t *written)
{
	struct blk_hdr h;

	if (c->err) {
		bwarn(b, "request at head %u, buffer %u: %s", c->head, c->err_seg,
		      virtq_strerror(c->err));
		return VIRTIO_BLK_S_IOERR;
	}
	if (c->out_bytes < sizeof(h) ||
	    chain_copy(b, c, false, 0, &h, sizeof(h)) < 0) {
		bwarn(b, "request at head %u has no readable %zu-byte header",
		      c->head, sizeof(h));
		return VIRTIO_BLK_S_IOERR;
	}
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
		return do_rw(b, c, &h, false, written);
	case VIRTIO_BLK_T_OUT:
		return do_rw(b, c, &h, true, written);
	case VIRTIO_BLK_T_FLUSH:
		atomic_fetch_add(&b->st.flushes, 1);
		if (fdatasync(b->fd) < 0) {
			bwarn(b, "flush: %s", strerror(errno));
			return VIRTIO_BLK_S_IOERR;
		}
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		return do_get_id(b, c, written);
	default:
		atomic_fetch_add(&b->st.unsupp, 1);
		return VIRTIO_BLK_S_UNSUPP;
	}
}

static int blk_request(void *dev, unsigned int queue, const struct virtq_chain *c)
{
	struct virtio_blk *b = dev;
	const struct virtq_seg *st = c->n ? &c->seg[c->n - 1] : NULL;
	uint32_t written = 0;
	uint8_t status;

	(void)queue;            /* one queue: requestq */
	/* The status byte is the last byte of the last (writable) buffer. */
	if (!st || !st->write || !st->len || !st->in_ram) {
		atomic_fetch_add(&b->st.bad_requests, 1);
		bwarn(b, "request at head %u has no device-writable status byte in "
		      "guest RAM", c->head);
		return -EINVAL;
	}
	status = handle(b, c, &written);
	if (status != VIRTIO_BLK_S_OK)
		written = 0;
	if (chain_copy(b, c, true, c->in_bytes - 1, &status, 1) < 0)
		return -EIO;
	if (status == VIRTIO_BLK_S_IOERR)
		atomic_fetch_add(&b->st.ioerr, 1);
	return (int)written + 1;
}

static void blk_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_blk *b = dev;
	uint8_t cfg[16] = { 0 };
	uint32_t seg_max = VIRTIO_BLK_QUEUE_MAX - 2;

	memcpy(cfg, &b->capacity, 8);           /* capacity (x86: little endian) */
	memcpy(cfg + 12, &seg_max, 4);          /* seg_max */
	memcpy(buf, cfg + off, len);
}

const struct virtio_dev_ops virtio_blk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_FLUSH),
	.queue_max = VIRTIO_BLK_QUEUE_MAX,
	.max_request_bytes = VIRTIO_BLK_MAX_DATA + 64,  /* + header + status */
	.config_size = 16,
	.config_read = blk_config_read,
	.request = blk_request,
};

/* ---- set-up --------------------------------------------------------------- */

static int open_tmp(char *err, size_t errlen)
{
	char tmpl[] = DISK_TMPDIR "/hvswap-disk.XXXXXX";
	int fd;

	fd = open(DISK_TMPDIR, O_TMPFILE | O_RDWR | O_CLOEXEC | O_EXCL, 0600);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		goto fail;
	fd = mkostemp(tmpl, O_CLOEXEC);          /* no O_TMPFILE on this fs */
	if (fd < 0)
		goto fail;
	unlink(tmpl);
	return fd;
fail:
	snprintf(err, errlen, "cannot create a temporary disk in %s: %s",
		 DISK_TMPDIR, strerror(errno));
	return -errno;
}

/*
 * --disk PATH: an existing regular file or block device, or a new file
 * (mode 0600).  The last component must not be a symbolic link: with
 * O_NOFOLLOW, and O_CREAT only together with O_EXCL, a link planted at
 * PATH (say in /tmp, pointing at a file of root's) is never opened,
 * grown or created through.  *created: we made the file.
 */
static int open_path(const char *path, bool *created, char *err, size_t errlen)
{
	struct stat st;
	int fd, tries;

	*created = false;
	for (tries = 0; tries < 2; tries++) {
		fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT)
			break;
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			*created = true;
			break;
		}
		if (errno != EEXIST)
			break;
		/* made meanwhile (or a dangling link): look again */
	}
	if (fd < 0) {
		int e = errno;

		if (e == ELOOP || (e == EEXIST && lstat(path, &st) == 0 && S_ISLNK(st.st_mode)))
			snprintf(err, errlen, "disk %s is a symbolic link: refused (give "
				 "the file's own path)", path);
		else
			snprintf(err, errlen, "cannot open disk %s: %s", path, strerror(e));
		return e == EEXIST ? -ELOOP : -e;
	}
	if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
		snprintf(err, errlen, "disk %s is not a regular file or block device", path);
		close(fd);
		return -EINVAL;
	}
	return fd;
}

static int open_disk(const char *path, uint64_t size, uint64_t *bytes,
		     char *err, size_t errlen)
{
	const char *name = path ? path : "temporary disk";
	bool created = false;
	off_t end;
	int fd, r;

	fd = path ? open_path(path, &created, err, errlen) : open_tmp(err, errlen);
	if (fd < 0)
		return fd;
	end = lseek(fd, 0, SEEK_END);
	if (end >= 0 && (uint64_t)end < size && ftruncate(fd, (off_t)size) == 0)
		end = (off_t)size;
	if (end < 0 || (uint64_t)end < size) {
		r = -errno;
		snprintf(err, errlen, "cannot size disk %s to %" PRIu64 " bytes: %s",
			 name, size, strerror(errno));
		goto fail;
	}
	if ((uint64_t)end < VIRTIO_BLK_SECTOR) {
		snprintf(err, errlen, "disk %s is empty (give --disk-size)", name);
		r = -EINVAL;
		goto fail;
	}
	*bytes = (uint64_t)end;
	return fd;
fail:
	if (created)
		unlink(path);   /* ours, and useless: do not leave it behind */
	close(fd);
	return r;
}

int virtio_blk_create(struct vm *vm, const char *path, uint64_t size,
		      struct virtio_blk **out, char *err, size_t errlen)
{
	struct virtio_blk *b;
	uint64_t bytes = 0;
	int fd;

	if (size % VIRTIO_BLK_SECTOR || (!path && !size)) {
		snprintf(err, errlen, "disk size %" PRIu64 " is not a positive "
			 "multiple of %u", size, VIRTIO_BLK_SECTOR);
		return -EINVAL;
	}
	fd = open_disk(path, size, &bytes, err, errlen);
	if (fd < 0)
		return fd;
	b = calloc(1, sizeof(*b));
	if (!b) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->vm = vm;
	b->fd = fd;
	b->mirror = -1;
	b->capacity = bytes / VIRTIO_BLK_SECTOR;
	b->rl = (struct ratelimit)RATELIMIT_INIT(5000, 10);
	strncpy(b->id, "hvswap-virtio-blk", sizeof(b->id));
	*out = b;
	return 0;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	if (!b)
		return;
	if (b->rl.suppressed)
		log_warn("virtio-blk: %" PRIu64 " more warnings suppressed",
			 b->rl.suppressed);
	close(b->fd);
	free(b);
}

uint64_t virtio_blk_capacity(const struct virtio_blk *b)
{
	return b->capacity;
}

struct json_object *virtio_blk_stats_json(struct virtio_blk *b)
{
	struct json_object *o = json_object_new_object();

#define ADD(f) json_object_object_add(o, #f, json_object_new_uint64(atomic_load(&b->st.f)))
	json_object_object_add(o, "capacity_sectors", json_object_new_uint64(b->capacity));
	json_object_object_add(o, "swap_mapper", json_object_new_boolean(b->mirror >= 0));
	ADD(reads);
	ADD(writes);
	ADD(flushes);
	ADD(get_id);
	ADD(unsupp);
	ADD(bytes_read);
	ADD(bytes_written);
	ADD(ioerr);
	ADD(bad_requests);
#undef ADD
	return o;
}
