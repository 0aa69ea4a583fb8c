/*
 * test_swap_dev.c - unit tests of the swap device and slot allocator
 * (swapper/swap_dev.c): temp-file creation, sizing, allocation policy,
 * exhaustion, reuse, reference counts, retirement, usage numbers, errors,
 * and a small multi-thread stress.  Exit 77 if O_DIRECT is impossible here.
 *
 * Swap targets (issue 11, findings 1, 2 and 10): known signatures refused
 * unless forced (also a real ext4 image and a mounted loop device), the
 * same file twice (in this process and from a child), the hvswap header
 * (left by a dead process, another boot, a live owner), modes, sparse files
 * preallocated, ENOSPC at open on a small tmpfs.  Tests that need root,
 * mkfs.ext4, loop devices or a tmpfs mount skip themselves (cmocka skip())
 * when the machine lacks them, and say so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <linux/loop.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "swap_dev.h"

#define MiB (1024ull * 1024)
#define CL SWAP_CLUSTER_SLOTS

static struct swap_dev *open_tmp(uint64_t size)
{
	struct swap_dev_config cfg = { .size = size, .tmpdir = "/var/tmp" };
	struct swap_dev *d = NULL;

	assert_int_equal(swap_dev_open(&cfg, &d), 0);
	return d;
}

static void test_temp_file(void **state)
{
	struct swap_dev *d = open_tmp(8 * MiB);
	struct stat st;
	int fl;

	(void)state;
	assert_int_equal(fstat(swap_dev_fd(d), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_nlink, 0);              /* unlinked / invisible */
	assert_int_equal(st.st_size, 8 * MiB);
	assert_true((uint64_t)st.st_blocks * 512 >= 8 * MiB); /* fallocated */
	fl = fcntl(swap_dev_fd(d), F_GETFL);
	assert_true(fl & O_DIRECT);
	assert_true(swap_dev_direct(d));
	assert_int_equal(swap_dev_nslots(d), 8 * MiB / 4096);
	assert_non_null(strstr(swap_dev_path(d), "/var/tmp"));
	/* ~1 byte per slot plus a little per cluster. */
	assert_true(swap_dev_metadata_bytes(d) < swap_dev_nslots(d) + 1024);
	swap_dev_close(d);
}

/* The swap map is kept per cluster in use: metadata grows by one cluster's
 * map when a cluster gets its first used slot and shrinks when it empties
 * (retired slots keep their cluster's map). */
static void test_metadata_follows_use(void **state)
{
	struct swap_dev *d = open_tmp(64 * MiB);
	uint64_t first, second, m0, m1;
	unsigned int i;

	(void)state;
	m0 = swap_dev_metadata_bytes(d);
	assert_true(m0 < swap_dev_nslots(d) / 4);      /* only cluster 0's */
	assert_int_equal(swap_slot_alloc(d, CL, &first), CL);
	assert_int_equal(first % CL, 0);                /* a whole cluster */
	m1 = swap_dev_metadata_bytes(d);
	assert_int_equal(m1, m0 + CL);
	assert_int_equal(swap_slot_alloc(d, 16, &second), 16);
	assert_int_equal(swap_dev_metadata_bytes(d), m1 + CL);
	for (i = 0; i < 16; i++)
		swap_slot_put(d, second + i);
	assert_int_equal(swap_dev_metadata_bytes(d), m1);
	swap_slot_retire(d, first + 5);
	for (i = 0; i < CL; i++)
		swap_slot_put(d, first + i);
	assert_int_equal(swap_slot_count(d, first + 5), SWAP_SLOT_BAD);
	assert_int_equal(swap_slot_count(d, first + 6), 0);
	assert_int_equal(swap_dev_metadata_bytes(d), m1);
	swap_dev_close(d);
}

static void test_sizing(void **state)
{
	struct swap_dev_config cfg = { .tmpdir = "/var/tmp" };
	struct swap_dev *d = NULL;

	(void)state;
	cfg.size = 0;                        /* temp file needs a size */
	assert_int_equal(swap_dev_open(&cfg, &d), -EINVAL);
	cfg.size = 2 * MiB - 4096;           /* < 2 clusters */
	assert_int_equal(swap_dev_open(&cfg, &d), -EINVAL);
	cfg.size = 2 * MiB + 4095;           /* rounds down to slots */
	assert_int_equal(swap_dev_open(&cfg, &d), 0);
	assert_int_equal(swap_dev_nslots(d), 2 * CL);
	swap_dev_close(d);
	cfg.size = 3 * MiB + 40 * 4096;      /* partial last cluster */
	assert_int_equal(swap_dev_open(&cfg, &d), 0);
	assert_int_equal(swap_dev_nslots(d), 3 * CL + 40);
	swap_dev_close(d);
}

/* Capture what the library logs while opening a bad path. */
static void test_bad_path(void **state)
{
	struct swap_dev_config cfg = { .path = "/var/tmp/hvswap-no-such/swap" };
	struct swap_dev *d = NULL;
	char buf[512] = "";
	FILE *cap = tmpfile();
	int saved = dup(2);
	size_t n;

	(void)state;
	assert_non_null(cap);
	fflush(stderr);
	dup2(fileno(cap), 2);
	assert_int_equal(swap_dev_open(&cfg, &d), -ENOENT);
	cfg.path = NULL;
	cfg.tmpdir = "/var/tmp/hvswap-no-such";
	cfg.size = 4 * MiB;
	assert_int_equal(swap_dev_open(&cfg, &d), -ENOENT);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(cap);
	n = fread(buf, 1, sizeof(buf) - 1, cap);
	buf[n] = 0;
	fclose(cap);
	assert_non_null(strstr(buf, "/var/tmp/hvswap-no-such/swap"));
	assert_non_null(strstr(buf, "No such file"));
	assert_non_null(strstr(buf, "temp swap file in /var/tmp/hvswap-no-such"));
}

static void test_existing_file(void **state)
{
	char path[] = "/var/tmp/hvswap-test-XXXXXX";
	struct swap_dev_config cfg = { 0 };
	struct swap_dev *d = NULL;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 3 * MiB), 0);
	close(fd);
	cfg.path = path;
	assert_int_equal(swap_dev_open(&cfg, &d), 0);   /* size 0: use the file's */
	assert_int_equal(swap_dev_nslots(d), 3 * CL);
	assert_string_equal(swap_dev_path(d), path);
	swap_dev_close(d);
	cfg.size = 4 * MiB;                              /* grow a regular file */
	assert_int_equal(swap_dev_open(&cfg, &d), 0);
	assert_int_equal(swap_dev_nslots(d), 4 * CL);
	swap_dev_close(d);
	cfg.path = "/dev/null";                          /* a char device */
	assert_int_equal(swap_dev_open(&cfg, &d), -EINVAL);
	unlink(path);
}

static void test_contiguous(void **state)
{
	struct swap_dev *d = open_tmp(4 * MiB);
	uint64_t a, b, c;

	(void)state;
	assert_int_equal(swap_slot_alloc(d, 1, &a), 1);
	assert_int_equal(a, 1);                          /* slot 0 reserved */
	assert_int_equal(swap_slot_alloc(d, 16, &b), 16);
	assert_int_equal(b, 2);
	assert_int_equal(b / CL, (b + 15) / CL);
	assert_int_equal(swap_slot_alloc(d, 16, &c), 16);
	assert_int_equal(c, b + 16);                     /* sequential */
	assert_int_equal(swap_slot_count(d, c + 15), 1);
	assert_int_equal(swap_slot_count(d, c + 16), 0);
	assert_int_equal(swap_slot_count(d, 0), SWAP_SLOT_BAD);
	assert_int_equal(swap_slot_alloc(d, 0, &c), -EINVAL);
	assert_int_equal(swap_slot_alloc(d, 257, &c), -EINVAL);
	swap_dev_close(d);
}

/* A batch that does not fit at the fill point goes to an empty cluster,
 * not into the holes of a used one. */
static void test_batch_prefers_empty_cluster(void **state)
{
	struct swap_dev *d = open_tmp(4 * MiB);
	struct swap_dev_usage u;
	uint64_t s, first;
	int i;

	(void)state;
	for (i = 1; i < 200; i++)
		assert_int_equal(swap_slot_alloc(d, 1, &s), 1);
	for (s = 10; s < 100; s += 2)
		swap_slot_put(d, s);                     /* holes of 1 */
	swap_dev_usage(d, &u);
	assert_int_equal(u.free_clusters, 3);
	assert_int_equal(swap_slot_alloc(d, 64, &first), 64);
	assert_int_equal(first % CL, 0);
	assert_true(first >= CL);
	swap_dev_usage(d, &u);
	assert_int_equal(u.free_clusters, 2);
	/* Whole-cluster batches land on cluster boundaries. */
	assert_int_equal(swap_slot_alloc(d, 256, &first), 256);
	assert_int_equal(first % CL, 0);
	swap_dev_close(d);
}

/* 2 clusters = 511 usable slots; then fragmented leftovers. */
static void test_exhaustion_and_reuse(void **state)
{
	struct swap_dev *d = open_tmp(2 * MiB);
	struct swap_dev_usage u;
	uint64_t s, total = 0;
	int n;

	(void)state;
	while ((n = swap_slot_alloc(d, 100, &s)) > 0) {
		for (uint64_t k = s; k < s + (uint64_t)n; k++)
			assert_int_equal(swap_slot_count(d, k), 1);
		total += (uint64_t)n;
	}
	assert_int_equal(n, -ENOSPC);
	assert_int_equal(total, 2 * CL - 1);
	assert_int_equal(swap_slot_alloc(d, 1, &s), -ENOSPC);
	swap_dev_usage(d, &u);
	assert_int_equal(u.used, 2 * CL - 1);
	assert_int_equal(u.free_clusters, 0);

	/* Free a run of 5 and a lone slot: a batch of 8 gets the run of 5. */
	for (s = 300; s < 305; s++)
		swap_slot_put(d, s);
	swap_slot_put(d, 400);
	assert_int_equal(swap_slot_alloc(d, 8, &s), 5);
	assert_int_equal(s, 300);
	assert_int_equal(swap_slot_alloc(d, 8, &s), 1);
	assert_int_equal(s, 400);
	assert_int_equal(swap_slot_alloc(d, 1, &s), -ENOSPC);

	for (s = 1; s < 2 * CL; s++)
		swap_slot_put(d, s);
	swap_dev_usage(d, &u);
	assert_int_equal(u.used, 0);
	assert_int_equal(u.free_clusters, 1);            /* cluster 0 has slot 0 */
	assert_int_equal(swap_slot_alloc(d, 256, &s), 256);
	assert_int_equal(s, CL);
	swap_dev_close(d);
}

static void test_refcount(void **state)
{
	struct swap_dev *d = open_tmp(2 * MiB);
	uint64_t s;
	int i;

	(void)state;
	assert_int_equal(swap_slot_alloc(d, 1, &s), 1);
	assert_int_equal(swap_slot_get(d, s), 0);
	assert_int_equal(swap_slot_count(d, s), 2);
	swap_slot_put(d, s);
	assert_int_equal(swap_slot_count(d, s), 1);
	swap_slot_put(d, s);
	assert_int_equal(swap_slot_count(d, s), 0);
	assert_int_equal(swap_slot_get(d, s), -EINVAL);   /* free */
	assert_int_equal(swap_slot_get(d, 0), -EINVAL);   /* reserved */
	assert_int_equal(swap_slot_get(d, 1u << 30), -EINVAL);

	assert_int_equal(swap_slot_alloc(d, 1, &s), 1);
	for (i = 1; i < (int)SWAP_SLOT_COUNT_MAX; i++)
		assert_int_equal(swap_slot_get(d, s), 0);
	assert_int_equal(swap_slot_count(d, s), SWAP_SLOT_COUNT_MAX);
	assert_int_equal(swap_slot_get(d, s), -EOVERFLOW);
	for (i = 0; i < (int)SWAP_SLOT_COUNT_MAX; i++)
		swap_slot_put(d, s);
	assert_int_equal(swap_slot_count(d, s), 0);
	swap_dev_close(d);
}

static void test_retire(void **state)
{
	struct swap_dev *d = open_tmp(2 * MiB);
	struct swap_dev_usage u;
	uint64_t s, bad, k;
	int n;

	(void)state;
	assert_int_equal(swap_slot_alloc(d, 4, &s), 4);
	bad = s + 1;
	assert_int_equal(swap_slot_get(d, bad), 0);      /* count 2 */
	swap_slot_retire(d, bad);                        /* dead anyway */
	assert_int_equal(swap_slot_count(d, bad), SWAP_SLOT_BAD);
	assert_int_equal(swap_slot_get(d, bad), -EINVAL);
	swap_slot_put(d, bad);                           /* other holder: ignored */
	assert_int_equal(swap_slot_count(d, bad), SWAP_SLOT_BAD);
	swap_slot_retire(d, 300);                        /* a free slot */
	swap_dev_usage(d, &u);
	assert_int_equal(u.used, 3);
	assert_int_equal(u.bad, 2);
	assert_int_equal(u.free_clusters, 0);            /* both clusters touched */

	for (k = s; k < s + 4; k++)
		swap_slot_put(d, k);
	/* Everything allocatable: never the bad ones. */
	while ((n = swap_slot_alloc(d, 7, &s)) > 0) {
		assert_false(bad >= s && bad < s + (uint64_t)n);
		assert_false(300 >= s && 300 < s + (uint64_t)n);
	}
	swap_dev_usage(d, &u);
	assert_int_equal(u.used, 2 * CL - 1 - 2);
	assert_int_equal(u.bad, 2);
	swap_dev_close(d);
}

/* ---- stress: 4 threads alloc/free; no slot handed out twice ---- */

struct stress {
	struct swap_dev *d;
	_Atomic unsigned char *owner;   /* 0 = nobody, else thread id + 1 */
	_Atomic int errors;
};

struct stress_arg {
	struct stress *st;
	unsigned int id;
};

static void *stress_thread(void *p)
{
	struct stress_arg *a = p;
	struct stress *st = a->st;
	unsigned int seed = a->id * 7919u + 1;
	uint64_t first;
	unsigned char none;
	int i, n, k;

	for (i = 0; i < 3000; i++) {
		n = swap_slot_alloc(st->d, (unsigned int)(rand_r(&seed) % 16 + 1), &first);
		if (n < 0)
			continue;
		for (k = 0; k < n; k++) {
			none = 0;
			if (!atomic_compare_exchange_strong(&st->owner[first + (uint64_t)k],
							    &none, (unsigned char)(a->id + 1)))
				atomic_fetch_add(&st->errors, 1);
		}
		for (k = 0; k < n; k++) {
			atomic_store(&st->owner[first + (uint64_t)k], 0);
			swap_slot_put(st->d, first + (uint64_t)k);
		}
	}
	return NULL;
}

static void test_stress(void **state)
{
	struct stress st = { .d = open_tmp(2 * MiB) };
	struct stress_arg a[4];
	struct swap_dev_usage u;
	pthread_t t[4];
	unsigned int i;

	(void)state;
	st.owner = calloc(swap_dev_nslots(st.d), sizeof(*st.owner));
	for (i = 0; i < 4; i++) {
		a[i] = (struct stress_arg){ &st, i };
		assert_int_equal(pthread_create(&t[i], NULL, stress_thread, &a[i]), 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&st.errors), 0);
	swap_dev_usage(st.d, &u);
	assert_int_equal(u.used, 0);
	assert_int_equal(u.bad, 0);
	free((void *)st.owner);
	swap_dev_close(st.d);
}

/* ---- swap targets: exclusive and checked (issue 11: 1, 2, 10) ---- */

struct capture {
	FILE *f;
	int saved;
	char buf[4096];
};

static void cap_begin(struct capture *c)
{
	c->f = tmpfile();
	assert_non_null(c->f);
	fflush(stderr);
	c->saved = dup(2);
	dup2(fileno(c->f), 2);
}

static const char *cap_end(struct capture *c)
{
	size_t n;

	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	rewind(c->f);
	n = fread(c->buf, 1, sizeof(c->buf) - 1, c->f);
	c->buf[n] = 0;
	fclose(c->f);
	return c->buf;
}

/* A sparse file of `size` bytes, mode 0600, in dir; its path in path. */
static void make_file(char *path, size_t len, const char *dir, uint64_t size)
{
	int fd;

	snprintf(path, len, "%s/hvswap-test-XXXXXX", dir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

static void put_bytes(const char *path, off_t off, const void *b, size_t n)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, n, off), (ssize_t)n);
	close(fd);
}

static void get_bytes(const char *path, off_t off, void *b, size_t n)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, b, n, off), (ssize_t)n);
	close(fd);
}

static int open_path(const char *path, bool force, struct swap_dev **d)
{
	struct swap_dev_config cfg = { .path = path, .force = force,
				       .allow_buffered = true };

	*d = NULL;
	return swap_dev_open(&cfg, d);
}

/* Finding 1: a target that carries a known signature is refused unless
 * forced, with a message naming the file and what it carries. */
static void test_signatures_refused(void **state)
{
	const char *dir = *state;
	static const struct {
		off_t off;
		const char *bytes;
		size_t len;
		const char *what;
	} cases[] = {
		{ 1080, "\x53\xef", 2, "ext2/3/4" },
		{ 0, "XFSB", 4, "XFS" },
		{ 65600, "_BHRfS_M", 8, "btrfs" },
		{ 0, "LUKS\xba\xbe", 6, "LUKS" },
		{ 512, "EFI PART", 8, "GPT" },
		{ 4086, "SWAPSPACE2", 10, "Linux swap" },
		{ 4086, "SWAP-SPACE", 10, "Linux swap" },
		{ 3, "NTFS    ", 8, "NTFS" },
	};
	static const uint8_t mbr_entry[16] = { 0x80, 0, 0, 0, 0x83 };
	char path[128], msg[256];
	struct capture c;
	int r;
	struct swap_dev *d;
	uint8_t b[2];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]) + 1; i++) {
		bool is_mbr = i == sizeof(cases) / sizeof(cases[0]);
		const char *what = is_mbr ? "DOS partition table" : cases[i].what;

		make_file(path, sizeof(path), dir, 4 * MiB);
		if (is_mbr) {
			put_bytes(path, 446, mbr_entry, sizeof(mbr_entry));
			put_bytes(path, 510, "\x55\xaa", 2);
		} else {
			put_bytes(path, cases[i].off, cases[i].bytes, cases[i].len);
		}
		cap_begin(&c);
		r = open_path(path, false, &d);
		cap_end(&c);
		assert_int_equal(r, -EEXIST);
		snprintf(msg, sizeof(msg), "swap device %s carries", path);
		assert_non_null(strstr(c.buf, msg));
		assert_non_null(strstr(c.buf, what));
		assert_non_null(strstr(c.buf, "--force"));
		assert_int_equal(open_path(path, true, &d), 0);   /* forced */
		swap_dev_close(d);
		assert_int_equal(open_path(path, false, &d), 0);  /* now ours */
		swap_dev_close(d);
		unlink(path);
	}
	/* 0x55AA without a used partition entry is no partition table. */
	make_file(path, sizeof(path), dir, 4 * MiB);
	put_bytes(path, 510, "\x55\xaa", 2);
	assert_int_equal(open_path(path, false, &d), 0);
	swap_dev_close(d);
	get_bytes(path, 510, b, 2);              /* slot 0 is the header now */
	assert_int_equal(b[0], 0);
	unlink(path);
}

static bool have_tool(const char *name)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

static bool mkfs_ext4(const char *path)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F %s >/dev/null 2>&1", path);
	return system(cmd) == 0;
}

/* Finding 1 with a real filesystem image (mkfs.ext4 from e2fsprogs). */
static void test_ext4_image(void **state)
{
	const char *dir = *state;
	struct swap_dev *d;
	char path[128];

	if (!have_tool("mkfs.ext4")) {
		fprintf(stderr, "SKIP: no mkfs.ext4 (e2fsprogs)\n");
		skip();
	}
	make_file(path, sizeof(path), dir, 8 * MiB);
	assert_true(mkfs_ext4(path));
	assert_int_equal(open_path(path, false, &d), -EEXIST);
	assert_int_equal(open_path(path, true, &d), 0);
	swap_dev_close(d);
	unlink(path);
}

/*
 * Attach img to a free loop device that detaches itself when its last
 * user goes (LO_FLAGS_AUTOCLEAR), so a failed test leaves nothing behind.
 * Returns the open loop fd (its name in name), or -errno.
 */
static int loop_attach(const char *img, char *name, size_t len)
{
	struct loop_info64 info = { .lo_flags = LO_FLAGS_AUTOCLEAR };
	int ctl, n, fd = -1, ifd, tries, r = -EBUSY;

	ifd = open(img, O_RDWR | O_CLOEXEC);
	if (ifd < 0)
		return -errno;
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	for (tries = 0; ctl >= 0 && tries < 8 && r == -EBUSY; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			break;
		snprintf(name, len, "/dev/loop%d", n);
		fd = open(name, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			break;
		r = ioctl(fd, LOOP_SET_FD, ifd) < 0 ? -errno : 0;  /* raced: EBUSY */
		if (r)
			close(fd);
	}
	if (ctl < 0 || n < 0 || fd < 0)
		r = -errno;
	if (ctl >= 0)
		close(ctl);
	close(ifd);
	if (r)
		return r;
	if (ioctl(fd, LOOP_SET_STATUS64, &info) < 0) {
		r = -errno;
		ioctl(fd, LOOP_CLR_FD, 0);
		close(fd);
		return r;
	}
	return fd;
}

/* Finding 1 as reported: an ext4 filesystem on a loop device.  Mounted, the
 * device is busy (O_EXCL) even with force; unmounted, its superblock is
 * refused unless forced. */
static void test_loop_mounted(void **state)
{
	const char *dir = *state;
	char img[128], mnt[128], loop[64];
	struct swap_dev *d;
	int lfd;

	if (geteuid() != 0 || !have_tool("mkfs.ext4")) {
		fprintf(stderr, "SKIP: needs root and mkfs.ext4\n");
		skip();
	}
	make_file(img, sizeof(img), dir, 8 * MiB);
	assert_true(mkfs_ext4(img));
	lfd = loop_attach(img, loop, sizeof(loop));
	if (lfd == -ENOENT || lfd == -ENODEV || lfd == -ENXIO) {
		fprintf(stderr, "SKIP: no loop devices here (%s)\n", strerror(-lfd));
		skip();
	}
	assert_true(lfd >= 0);
	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	assert_int_equal(mkdir(mnt, 0700), 0);
	assert_int_equal(mount(loop, mnt, "ext4", 0, NULL), 0);
	assert_int_equal(open_path(loop, false, &d), -EBUSY);
	assert_int_equal(open_path(loop, true, &d), -EBUSY);
	assert_int_equal(umount2(mnt, 0), 0);
	assert_int_equal(open_path(loop, false, &d), -EEXIST);
	assert_int_equal(open_path(loop, true, &d), 0);
	swap_dev_close(d);
	close(lfd);                                  /* autoclear: detached */
}

/* Finding 2: the same file twice in one process, by any path. */
static void test_same_file_twice(void **state)
{
	const char *dir = *state;
	char path[128], link_path[140], msg[160];
	struct swap_dev *a, *b, *t;
	struct capture c;
	int r;

	make_file(path, sizeof(path), dir, 4 * MiB);
	snprintf(link_path, sizeof(link_path), "%s.link", path);
	assert_int_equal(symlink(path, link_path), 0);
	assert_int_equal(open_path(path, false, &a), 0);
	cap_begin(&c);
	r = open_path(path, false, &b);
	cap_end(&c);
	assert_int_equal(r, -EBUSY);
	snprintf(msg, sizeof(msg), "swap file %s is in use", path);
	assert_non_null(strstr(c.buf, msg));
	assert_int_equal(open_path(link_path, true, &b), -EBUSY); /* force: no */
	t = open_tmp(4 * MiB);
	assert_true(swap_dev_same_file(a, a));
	assert_false(swap_dev_same_file(a, t));
	assert_false(swap_dev_same_file(t, a));
	swap_dev_close(t);
	swap_dev_close(a);
	assert_int_equal(open_path(link_path, false, &b), 0);     /* free again */
	swap_dev_close(b);
	unlink(link_path);
	unlink(path);
}

/* Child: open path, report on `ready`, then close or vanish as told. */
static void child_open(const char *path, int ready, int go, bool crash)
{
	struct swap_dev *d;
	char x = 0;
	int r;

	alarm(30);                      /* never outlive a failed parent */
	r = open_path(path, false, &d);
	x = r == 0 ? 'y' : 'n';
	if (write(ready, &x, 1) != 1 || r)
		_exit(1);
	if (go >= 0 && read(go, &x, 1) < 0)
		_exit(1);
	if (crash)
		_exit(0);               /* no close: the header stays in use */
	swap_dev_close(d);
	_exit(0);
}

/* Finding 2: a second hvswap (here a child process) holding the file. */
static void test_same_file_other_process(void **state)
{
	const char *dir = *state;
	int ready[2], go[2], st;
	struct swap_dev *d;
	char path[128], x;
	pid_t pid;

	make_file(path, sizeof(path), dir, 4 * MiB);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child_open(path, ready[1], go[0], false);
	assert_int_equal(read(ready[0], &x, 1), 1);
	assert_int_equal(x, 'y');
	assert_int_equal(open_path(path, false, &d), -EBUSY);
	assert_int_equal(open_path(path, true, &d), -EBUSY);
	assert_int_equal(write(go[1], "x", 1), 1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(open_path(path, false, &d), 0);     /* released */
	swap_dev_close(d);
	close(ready[0]); close(ready[1]); close(go[0]); close(go[1]);
	unlink(path);
}

static void read_hdr(const char *path, struct swap_dev_hdr *h)
{
	get_bytes(path, 0, h, sizeof(*h));
}

/* The header: written at open, released at close; temp files get none. */
static void test_header(void **state)
{
	const char *dir = *state;
	struct swap_dev_hdr h;
	struct swap_dev *d;
	char path[128];

	make_file(path, sizeof(path), dir, 4 * MiB);
	assert_int_equal(open_path(path, false, &d), 0);
	read_hdr(path, &h);
	assert_memory_equal(h.magic, SWAP_HDR_MAGIC, 8);
	assert_int_equal(h.version, SWAP_HDR_VERSION);
	assert_int_equal(h.state, SWAP_HDR_IN_USE);
	assert_int_equal(h.pid, (uint32_t)getpid());
	assert_true(h.pid_start > 0);
	assert_int_equal(h.nslots, 4 * MiB / 4096);
	assert_int_equal(strlen(h.boot_id), 36);
	swap_dev_close(d);
	read_hdr(path, &h);
	assert_int_equal(h.state, SWAP_HDR_RELEASED);
	unlink(path);
}

/* A header left in use by a process of this boot that is gone (a crash):
 * reused without force, with a warning naming the pid. */
static void test_dead_owner(void **state)
{
	const char *dir = *state;
	char path[128], msg[160], x;
	struct swap_dev_hdr h;
	struct swap_dev *d;
	struct capture c;
	int r;
	int ready[2], st;
	pid_t pid;

	make_file(path, sizeof(path), dir, 4 * MiB);
	assert_int_equal(pipe(ready), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child_open(path, ready[1], -1, true);
	assert_int_equal(read(ready[0], &x, 1), 1);
	assert_int_equal(x, 'y');
	assert_int_equal(waitpid(pid, &st, 0), pid);
	read_hdr(path, &h);
	assert_int_equal(h.state, SWAP_HDR_IN_USE);
	assert_int_equal(h.pid, (uint32_t)pid);
	cap_begin(&c);
	r = open_path(path, false, &d);
	cap_end(&c);
	assert_int_equal(r, 0);
	snprintf(msg, sizeof(msg), "left by hvswap pid %d, which is gone", (int)pid);
	assert_non_null(strstr(c.buf, msg));
	swap_dev_close(d);
	close(ready[0]);
	close(ready[1]);
	unlink(path);
}

static void write_hdr(const char *path, const struct swap_dev_hdr *h)
{
	put_bytes(path, 0, h, sizeof(*h));
}

/* In-use headers that are not provably stale need force: another boot or
 * host, a live owner (where flock is not exclusive), an unknown version. */
static void test_header_not_ours(void **state)
{
	const char *dir = *state;
	struct swap_dev_hdr h, mine;
	struct swap_dev *d;
	struct capture c;
	int r;
	char path[128];

	make_file(path, sizeof(path), dir, 4 * MiB);
	assert_int_equal(open_path(path, false, &d), 0);
	read_hdr(path, &mine);                   /* this process, this boot */
	swap_dev_close(d);

	h = mine;
	snprintf(h.boot_id, sizeof(h.boot_id), "another-boot");
	snprintf(h.host, sizeof(h.host), "otherhost");
	write_hdr(path, &h);
	cap_begin(&c);
	r = open_path(path, false, &d);
	cap_end(&c);
	assert_int_equal(r, -EBUSY);
	assert_non_null(strstr(c.buf, "another boot or host"));
	assert_non_null(strstr(c.buf, "otherhost"));
	assert_non_null(strstr(c.buf, path));
	assert_int_equal(open_path(path, true, &d), 0);
	swap_dev_close(d);

	h = mine;                                /* a live owner: us */
	h.state = SWAP_HDR_IN_USE;
	write_hdr(path, &h);
	cap_begin(&c);
	r = open_path(path, false, &d);
	cap_end(&c);
	assert_int_equal(r, -EBUSY);
	assert_non_null(strstr(c.buf, "in use by a running hvswap"));

	h.version = 99;                          /* from a newer hvswap */
	write_hdr(path, &h);
	assert_int_equal(open_path(path, false, &d), -EBUSY);
	assert_int_equal(open_path(path, true, &d), 0);
	swap_dev_close(d);
	unlink(path);
}

/* Created files are 0600 whatever the umask; loose existing ones warned. */
static void test_modes(void **state)
{
	const char *dir = *state;
	struct swap_dev *d;
	struct capture c;
	int r;
	struct stat st;
	char path[128];
	mode_t old = umask(0);

	d = open_tmp(4 * MiB);
	umask(old);
	assert_int_equal(fstat(swap_dev_fd(d), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	swap_dev_close(d);

	make_file(path, sizeof(path), dir, 4 * MiB);
	assert_int_equal(chmod(path, 0644), 0);
	cap_begin(&c);
	r = open_path(path, false, &d);
	cap_end(&c);
	assert_int_equal(r, 0);
	assert_non_null(strstr(c.buf, "mode 0644"));
	assert_non_null(strstr(c.buf, path));
	swap_dev_close(d);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);  /* the user's file, kept */
	unlink(path);
}

/* Finding 10: an existing sparse file is fully allocated at open, and its
 * data is kept. */
static void test_sparse_preallocated(void **state)
{
	const char *dir = *state;
	static const char data[] = "guest data kept";
	char path[128], back[sizeof(data)];
	struct swap_dev *d;
	struct stat st;

	make_file(path, sizeof(path), dir, 8 * MiB);
	put_bytes(path, 3 * MiB, data, sizeof(data));
	assert_int_equal(stat(path, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 < 1 * MiB);     /* sparse */
	assert_int_equal(open_path(path, false, &d), 0);
	assert_int_equal(fstat(swap_dev_fd(d), &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 >= 8 * MiB);
	swap_dev_close(d);
	get_bytes(path, 3 * MiB, back, sizeof(back));
	assert_memory_equal(back, data, sizeof(data));
	unlink(path);
}

/* Finding 10: on a filesystem too small for the swap file, open fails with
 * -ENOSPC and says so (a 4 MiB tmpfs; root only). */
static void test_enospc_at_open(void **state)
{
	const char *dir = *state;
	char mnt[128], path[128];
	struct swap_dev_config cfg = { .size = 16 * MiB, .allow_buffered = true };
	struct swap_dev *d;
	struct capture c;
	int r;
	struct stat st;

	snprintf(mnt, sizeof(mnt), "%s/small", dir);
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=4m,mode=0700") < 0) {
		fprintf(stderr, "SKIP: cannot mount a small tmpfs: %s\n", strerror(errno));
		skip();
	}
	make_file(path, sizeof(path), mnt, 16 * MiB);          /* sparse */
	cap_begin(&c);
	r = open_path(path, false, &d);
	cap_end(&c);
	assert_int_equal(r, -ENOSPC);
	assert_non_null(strstr(c.buf, path));
	assert_non_null(strstr(c.buf, "cannot hold"));
	unlink(path);

	make_file(path, sizeof(path), mnt, 2 * MiB);            /* grown */
	cfg.path = path;
	assert_int_equal(swap_dev_open(&cfg, &d), -ENOSPC);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 2 * MiB);                   /* cut back */
	unlink(path);

	cfg.path = NULL;                                         /* temporary */
	cfg.tmpdir = mnt;
	assert_int_equal(swap_dev_open(&cfg, &d), -ENOSPC);
	assert_int_equal(umount2(mnt, 0), 0);
}

/* Everything the target tests create lives in one directory, removed
 * (mounts detached) after the group, whatever failed. */
static int group_setup(void **state)
{
	char *dir = strdup("/var/tmp/hvswap-swapdev-XXXXXX");

	if (!dir || !mkdtemp(dir)) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP) {
		umount2(path, MNT_DETACH);
		rmdir(path);
		return 0;
	}
	unlink(path);
	return 0;
}

static int group_teardown(void **state)
{
	char *dir = *state;

	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(dir);
	return 0;
}

/* Mounts made by the tests (tmpfs, ext4 on a loop device) are private to
 * this process and vanish with it. */
static void private_mounts(void)
{
	if (geteuid() == 0 && unshare(CLONE_NEWNS) == 0)
		mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
}

static int o_direct_possible(void)
{
	int fd = open("/var/tmp", O_TMPFILE | O_RDWR | O_DIRECT, 0600);

	if (fd < 0)
		return errno != EINVAL;
	close(fd);
	return 1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_temp_file),
		cmocka_unit_test(test_metadata_follows_use),
		cmocka_unit_test(test_sizing),
		cmocka_unit_test(test_bad_path),
		cmocka_unit_test(test_existing_file),
		cmocka_unit_test(test_contiguous),
		cmocka_unit_test(test_batch_prefers_empty_cluster),
		cmocka_unit_test(test_exhaustion_and_reuse),
		cmocka_unit_test(test_refcount),
		cmocka_unit_test(test_retire),
		cmocka_unit_test(test_stress),
		cmocka_unit_test(test_signatures_refused),
		cmocka_unit_test(test_ext4_image),
		cmocka_unit_test(test_loop_mounted),
		cmocka_unit_test(test_same_file_twice),
		cmocka_unit_test(test_same_file_other_process),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_dead_owner),
		cmocka_unit_test(test_header_not_ours),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_sparse_preallocated),
		cmocka_unit_test(test_enospc_at_open),
	};

	if (!o_direct_possible()) {
		fprintf(stderr, "SKIP: /var/tmp does not support O_DIRECT\n");
		return 77;
	}
	private_mounts();
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
