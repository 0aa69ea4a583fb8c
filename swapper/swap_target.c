/*
 * swap_target.c - what a swap target carries before hvswap uses it, and
 * what hvswap leaves on it: foreign signatures (filesystems, partition
 * tables, Linux swap, LUKS) that refuse a target unless forced, hvswap's own
 * header in slot 0 (owner, state: a device in use or left by a crash), and
 * preallocation of regular files so that ENOSPC is an error at open.
 *
 * Owns nothing: it works on a struct swap_dev (swap_dev_impl.h) that
 * swap_dev.c is opening or closing, from one thread, without locks.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "hvswap/log.h"
#include "swap_dev_impl.h"

void swap_target_log_nospace(int fd, const char *what, uint64_t size)
{
	struct statvfs v;
	unsigned long long avail = 0;

	if (fstatvfs(fd, &v) == 0)
		avail = (unsigned long long)v.f_bavail * v.f_frsize;
	log_err("swap file %s: the filesystem cannot hold its %llu MiB (%llu MiB "
		"free): %s", what, (unsigned long long)(size >> 20), avail >> 20,
		strerror(ENOSPC));
}

/*
 * Give [0, size) real blocks, so that swap writes never meet ENOSPC.
 * fallocate mode 0 allocates only the holes: an existing file keeps its
 * data, and a fully allocated one costs an extent walk.  Where the
 * filesystem has no fallocate, posix_fallocate() (glibc) writes a zero byte
 * into each block that reads as zero, which also keeps data.  A file grown
 * here is cut back to `had` bytes if its blocks cannot be had.
 */
int swap_target_prealloc(int fd, const char *what, uint64_t size, uint64_t had)
{
	int ret;

	if (size > had && ftruncate(fd, (off_t)size) < 0) {
		ret = -errno;
		log_err("swap file %s: cannot size to %llu bytes: %s", what,
			(unsigned long long)size, strerror(-ret));
		return ret;
	}
	if (fallocate(fd, 0, 0, (off_t)size) == 0)
		return 0;
	ret = -errno;
	if (ret == -EOPNOTSUPP) {
		ret = -posix_fallocate(fd, 0, (off_t)size);
		if (!ret)
			return 0;
	}
	if (ret == -ENOSPC)
		swap_target_log_nospace(fd, what, size);
	else
		log_err("swap file %s: cannot allocate %llu bytes: %s", what,
			(unsigned long long)size, strerror(-ret));
	if (size > had && ftruncate(fd, (off_t)had) < 0)
		log_warn("swap file %s: cannot cut it back to %llu bytes: %s", what,
			 (unsigned long long)had, strerror(errno));
	return ret;
}

/* ---- the header in slot 0 ---- */

static void read_line(const char *file, char *buf, size_t len)
{
	FILE *f = fopen(file, "re");

	buf[0] = 0;
	if (!f)
		return;
	if (!fgets(buf, (int)len, f))
		buf[0] = 0;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
}

/* Start time of process pid (clock ticks after boot); 0 if there is no such
 * process or /proc cannot tell. */
static uint64_t pid_start(pid_t pid)
{
	char path[64], buf[1024], *p, *save = NULL, *tok;
	unsigned int field = 3;         /* the first after "pid (comm)" */
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	for (tok = strtok_r(p + 1, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save), field++) {
		if (field == 22)
			return strtoull(tok, NULL, 10);
	}
	return 0;
}

/* Is the owner named by h (a header of this boot) still running? */
static bool owner_alive(const struct swap_dev_hdr *h)
{
	uint64_t start;

	if (!h->pid)
		return false;
	start = pid_start((pid_t)h->pid);
	if (start)
		return !h->pid_start || start == h->pid_start;
	return kill((pid_t)h->pid, 0) == 0 || errno == EPERM;
}

void swap_target_hdr_fill(struct swap_dev *d)
{
	struct swap_dev_hdr *h = &d->hdr;
	struct timespec ts;

	memset(h, 0, sizeof(*h));
	memcpy(h->magic, SWAP_HDR_MAGIC, sizeof(h->magic));
	h->version = SWAP_HDR_VERSION;
	h->state = SWAP_HDR_IN_USE;
	h->pid = (uint32_t)getpid();
	h->pid_start = pid_start(getpid());
	h->nslots = d->nslots;
	if (getrandom(h->uuid, sizeof(h->uuid), GRND_NONBLOCK) != sizeof(h->uuid)) {
		clock_gettime(CLOCK_REALTIME, &ts);     /* informational only */
		memcpy(h->uuid, &ts, sizeof(h->uuid) < sizeof(ts) ?
		       sizeof(h->uuid) : sizeof(ts));
	}
	read_line("/proc/sys/kernel/random/boot_id", h->boot_id, sizeof(h->boot_id));
	if (gethostname(h->host, sizeof(h->host) - 1) < 0)
		h->host[0] = 0;
}

/* Write d->hdr with `state` as the whole of slot 0 (aligned: O_DIRECT). */
int swap_target_hdr_write(struct swap_dev *d, uint32_t state)
{
	ssize_t n;
	void *buf;
	int ret = 0;

	if (posix_memalign(&buf, SWAP_SLOT_SIZE, SWAP_SLOT_SIZE))
		return -ENOMEM;
	memset(buf, 0, SWAP_SLOT_SIZE);
	d->hdr.state = state;
	memcpy(buf, &d->hdr, sizeof(d->hdr));
	n = pwrite(d->fd, buf, SWAP_SLOT_SIZE, 0);
	if (n != (ssize_t)SWAP_SLOT_SIZE)
		ret = n < 0 ? -errno : -EIO;
	free(buf);
	return ret;
}

/*
 * A target that already carries an hvswap header.  The rules:
 *  - RELEASED (its hvswap closed it): take it;
 *  - IN_USE by a process of this boot that is gone (a crash): take it, with
 *    a warning.  Our lock (or O_EXCL) says nobody holds it now, and its
 *    contents died with their owner (slot maps live only in memory), so
 *    asking for --force here would only teach users to always pass it;
 *  - IN_USE by a running process (flock is not exclusive on this
 *    filesystem), by another boot or host (nothing can tell whether that
 *    owner is alive: a shared disk), or an unknown version or state:
 *    -EBUSY, unless force.
 */
static int check_hdr(struct swap_dev *d, const struct swap_dev_hdr *h, bool force)
{
	const char *why;
	char boot[40];

	if (h->version == SWAP_HDR_VERSION && h->state == SWAP_HDR_RELEASED)
		return 0;
	read_line("/proc/sys/kernel/random/boot_id", boot, sizeof(boot));
	if (h->version != SWAP_HDR_VERSION || h->state != SWAP_HDR_IN_USE)
		why = "has an hvswap header of an unknown version or state";
	else if (!boot[0] || strncmp(boot, h->boot_id, sizeof(h->boot_id)))
		why = "is marked in use by an hvswap of another boot or host";
	else if (owner_alive(h))
		why = "is in use by a running hvswap";
	else {
		log_warn("swap device %s was left by hvswap pid %u, which is gone; "
			 "reusing it", d->path, h->pid);
		return 0;
	}
	if (force) {
		log_warn("swap device %s %s (pid %u on '%.*s'); taking it (force)",
			 d->path, why, h->pid, (int)sizeof(h->host), h->host);
		return 0;
	}
	log_err("swap device %s %s (pid %u on '%.*s'); if that hvswap is gone, "
		"use --force (ctl swapon: force=1)", d->path, why, h->pid,
		(int)sizeof(h->host), h->host);
	return -EBUSY;
}

/* ---- foreign signatures ---- */

struct sig {
	const char *what;
	uint32_t off, len;
	const char *magic;
};

/* What others leave on a disk or file that a swap device would destroy. */
static const struct sig sigs[] = {
	{ "an ext2/3/4 filesystem", 1080, 2, "\x53\xef" },
	{ "an XFS filesystem", 0, 4, "XFSB" },
	{ "a btrfs filesystem", 65600, 8, "_BHRfS_M" },
	{ "a LUKS encrypted volume", 0, 6, "LUKS\xba\xbe" },
	{ "an NTFS filesystem", 3, 8, "NTFS    " },
	{ "a FAT filesystem", 54, 4, "FAT1" },
	{ "a FAT filesystem", 82, 5, "FAT32" },
	{ "a GPT partition table", 512, 8, "EFI PART" },
	{ "a GPT partition table", 4096, 8, "EFI PART" },  /* 4 KiB sectors */
	{ "a Linux swap area", 4086, 10, "SWAPSPACE2" },
	{ "a Linux swap area", 4086, 10, "SWAP-SPACE" },
};

/* A DOS partition table: the boot signature and a used partition entry. */
static bool mbr(const uint8_t *b)
{
	unsigned int i;

	if (b[510] != 0x55 || b[511] != 0xAA)
		return false;
	for (i = 0; i < 4; i++) {
		if (b[446 + 16 * i + 4])      /* partition type */
			return true;
	}
	return false;
}

/* What b (the first HEAD_LEN bytes of a target) carries, or NULL. */
static const char *signature(const uint8_t *b)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t i;

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (!memcmp(b + sigs[i].off, sigs[i].magic, sigs[i].len))
			return sigs[i].what;
	}
	/* Linux swap sits at the end of the first page of its host. */
	if (page > 4096 && page <= (long)HEAD_LEN &&
	    (!memcmp(b + page - 10, "SWAPSPACE2", 10) ||
	     !memcmp(b + page - 10, "SWAP-SPACE", 10)))
		return "a Linux swap area";
	return mbr(b) ? "a DOS partition table" : NULL;
}

/* Read the head of the target before anything is written to it. */
int swap_target_check(struct swap_dev *d, const struct swap_dev_config *cfg)
{
	struct swap_dev_hdr h;
	const char *what;
	uint8_t *b;
	ssize_t n;
	int ret = 0;

	b = calloc(1, HEAD_LEN);         /* a short file reads as zeros */
	if (!b)
		return -ENOMEM;
	n = pread(d->fd, b, HEAD_LEN, 0);
	if (n < 0) {
		ret = -errno;
		log_err("swap device %s: cannot read it: %s", d->path, strerror(-ret));
		goto out;
	}
	memcpy(&h, b, sizeof(h));
	if (!memcmp(h.magic, SWAP_HDR_MAGIC, sizeof(h.magic))) {
		ret = check_hdr(d, &h, cfg->force);
		goto out;
	}
	what = signature(b);
	if (what && cfg->force) {
		log_warn("swap device %s carries %s; overwriting it (force)",
			 d->path, what);
	} else if (what) {
		log_err("swap device %s carries %s; refusing to overwrite it (use "
			"--force, or ctl swapon force=1, if it is no longer needed)",
			d->path, what);
		ret = -EEXIST;
	}
out:
	free(b);
	return ret;
}

