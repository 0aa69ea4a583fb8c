/*
 * lblk_init.c - the /init of test_linux_virtio_blk.sh's initramfs, and the
 * host tool that prepares and checks the disk image it works on.
 *
 * As PID 1 in a Linux guest (linked with -static): mount proc, sysfs and
 * devtmpfs (or make /dev/console), open the console, report the virtio_mmio.device= value from
 * /proc/cmdline, find the virtio-blk disk (/sys/block/vda/dev), read
 * LBLK_LEN bytes at LBLK_IN_OFF with O_DIRECT and check them against the
 * host's pattern, write the guest's pattern at LBLK_OUT_OFF, fdatasync,
 * read it back, print one result line ("LBLK: PASS ..." or
 * "LBLK: FAIL ..."), sync and reboot (hvswap ends the VM on the reset).
 *
 * On the host:
 *   lblk_init prepare IMAGE      create IMAGE (LBLK_DISK bytes): the host
 *                                pattern at LBLK_IN_OFF, zeros elsewhere
 *   lblk_init check IMAGE        exit 0 iff the guest's pattern is at
 *                                LBLK_OUT_OFF (and the host's still at
 *                                LBLK_IN_OFF)
 *
 * Written by hand: a test fixture, nothing a library does.  One file for
 * both roles so the two sides cannot disagree on the pattern.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define LBLK_DISK       (16u << 20)     /* image size */
#define LBLK_IN_OFF     (1u << 20)      /* host pattern: guest reads it */
#define LBLK_OUT_OFF    (8u << 20)      /* guest pattern: host checks it */
#define LBLK_LEN        (4u << 20)
#define SEED_HOST       0x686f73742d696eull     /* "host-in" */
#define SEED_GUEST      0x67756573742d6full     /* "guest-o" */

/* splitmix64 of the 8-byte word's index: every word differs, so a block
 * read from or written to the wrong place shows. */
static uint64_t pattern_word(uint64_t seed, uint64_t idx)
{
	uint64_t z = seed + (idx + 1) * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void pattern_fill(uint64_t *buf, uint64_t seed, size_t len)
{
	size_t i;

	for (i = 0; i < len / 8; i++)
		buf[i] = pattern_word(seed, i);
}

/* Index of the first word that differs, or -1. */
static long pattern_check(const uint64_t *buf, uint64_t seed, size_t len)
{
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (buf[i] != pattern_word(seed, i))
			return (long)i;
	return -1;
}

/* The whole of [off, off+len): short transfers continue, EINTR retries. */
static int rw_all(int fd, void *buf, size_t len, off_t off, bool write)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = write ? pwrite(fd, (char *)buf + done, len - done, off + (off_t)done)
			  : pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

static int pread_all(int fd, void *buf, size_t len, off_t off)
{
	return rw_all(fd, buf, len, off, false);
}

static int pwrite_all(int fd, void *buf, size_t len, off_t off)
{
	return rw_all(fd, buf, len, off, true);
}

/* ---- host side ---------------------------------------------------------- */

static int host_prepare(const char *path, uint64_t *buf)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), r;

	if (fd < 0 || ftruncate(fd, LBLK_DISK) < 0) {
		fprintf(stderr, "lblk_init: %s: %s\n", path, strerror(errno));
		return 1;
	}
	pattern_fill(buf, SEED_HOST, LBLK_LEN);
	r = pwrite_all(fd, buf, LBLK_LEN, LBLK_IN_OFF);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r < 0) {
		fprintf(stderr, "lblk_init: write %s: %s\n", path, strerror(-r));
		return 1;
	}
	return 0;
}

static int host_check(const char *path, uint64_t *buf)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;
	long bad;

	if (fd < 0) {
		fprintf(stderr, "lblk_init: %s: %s\n", path, strerror(errno));
		return 1;
	}
	r = pread_all(fd, buf, LBLK_LEN, LBLK_OUT_OFF);
	if (r < 0) {
		fprintf(stderr, "lblk_init: read %s: %s\n", path, strerror(-r));
		close(fd);
		return 1;
	}
	bad = pattern_check(buf, SEED_GUEST, LBLK_LEN);
	if (bad >= 0) {
		printf("image: guest pattern wrong at byte %u + %ld\n",
		       LBLK_OUT_OFF, bad * 8);
		close(fd);
		return 1;
	}
	r = pread_all(fd, buf, LBLK_LEN, LBLK_IN_OFF);
	close(fd);
	bad = r < 0 ? 0 : pattern_check(buf, SEED_HOST, LBLK_LEN);
	if (bad >= 0) {
		printf("image: host pattern damaged at byte %u + %ld\n",
		       LBLK_IN_OFF, bad * 8);
		return 1;
	}
	printf("image: guest pattern (%u bytes at %u) verified\n", LBLK_LEN,
	       LBLK_OUT_OFF);
	return 0;
}

/* ---- guest side (PID 1) -------------------------------------------------- */

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

/* The first field of /proc/uptime: the kernel's own clock. */
static void uptime(char *out, size_t len)
{
	FILE *f = fopen("/proc/uptime", "r");

	snprintf(out, len, "?");
	if (f) {
		if (fscanf(f, "%31s", out) != 1 || len < 32)
			snprintf(out, len, "?");
		fclose(f);
	}
}

static void console_setup(void)
{
	int fd;

	mkdir("/dev", 0755);
	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	/* The test kernel has no devtmpfs (see hvswap-min.config): make the
	 * console node by hand when there is none. */
	if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) < 0)
		mknod("/dev/console", S_IFCHR | 0600, makedev(5, 1));
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

static void report_cmdline(void)
{
	char line[4096], *p, *e;
	FILE *f = fopen("/proc/cmdline", "r");

	if (!f || !fgets(line, sizeof(line), f)) {
		say("LBLK: no /proc/cmdline\n");
		if (f)
			fclose(f);
		return;
	}
	fclose(f);
	p = strstr(line, "virtio_mmio.device=");
	if (!p) {
		say("LBLK: no virtio_mmio.device= on the command line\n");
		return;
	}
	e = p + strcspn(p, " \n");
	*e = 0;
	say("LBLK: command line has %s\n", p);
}

/* /sys/block/vda/dev is "MAJOR:MINOR".  The built-in driver probes the
 * disk before init runs; the short retry only covers a late probe. */
static int find_disk(dev_t *dev)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	unsigned int maj, min, i;
	FILE *f;

	for (i = 0; i < 500; i++) {
		f = fopen("/sys/block/vda/dev", "r");
		if (f) {
			int n = fscanf(f, "%u:%u", &maj, &min);

			fclose(f);
			if (n == 2) {
				*dev = makedev(maj, min);
				return 0;
			}
		}
		nanosleep(&ts, NULL);
	}
	return -ENODEV;
}

static int guest_io(uint64_t *buf, char *why, size_t whylen)
{
	dev_t dev;
	long bad;
	int fd, r;

	if (find_disk(&dev) < 0) {
		snprintf(why, whylen, "no /sys/block/vda: virtio-blk not probed");
		return -1;
	}
	if (mknod("/vda", S_IFBLK | 0600, dev) < 0 && errno != EEXIST) {
		snprintf(why, whylen, "mknod /vda: %s", strerror(errno));
		return -1;
	}
	fd = open("/vda", O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "open /vda: %s", strerror(errno));
		return -1;
	}
	r = pread_all(fd, buf, LBLK_LEN, LBLK_IN_OFF);
	bad = r < 0 ? 0 : pattern_check(buf, SEED_HOST, LBLK_LEN);
	if (bad >= 0) {
		snprintf(why, whylen, "read at %u: %s", LBLK_IN_OFF, r < 0 ?
			 strerror(-r) : "host pattern wrong");
		goto out;
	}
	say("LBLK: read %u bytes at %u: host pattern ok\n", LBLK_LEN, LBLK_IN_OFF);
	pattern_fill(buf, SEED_GUEST, LBLK_LEN);
	r = pwrite_all(fd, buf, LBLK_LEN, LBLK_OUT_OFF);
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	if (r < 0) {
		snprintf(why, whylen, "write at %u: %s", LBLK_OUT_OFF, strerror(-r));
		bad = 0;
		goto out;
	}
	memset(buf, 0, LBLK_LEN);
	r = pread_all(fd, buf, LBLK_LEN, LBLK_OUT_OFF);
	bad = r < 0 ? 0 : pattern_check(buf, SEED_GUEST, LBLK_LEN);
	if (bad >= 0)
		snprintf(why, whylen, "read back at %u: %s", LBLK_OUT_OFF, r < 0 ?
			 strerror(-r) : "guest pattern wrong");
out:
	close(fd);
	return bad >= 0 ? -1 : 0;
}

static void __attribute__((noreturn)) guest_main(uint64_t *buf)
{
	char t0[32], t1[32], why[160] = "";
	int r;

	console_setup();
	uptime(t0, sizeof(t0));
	say("LBLK: init started, uptime %s s\n", t0);
	report_cmdline();
	r = guest_io(buf, why, sizeof(why));
	uptime(t1, sizeof(t1));
	if (r == 0)
		say("LBLK: PASS read %u bytes at %u, wrote %u bytes at %u, "
		    "uptime %s s\n", LBLK_LEN, LBLK_IN_OFF, LBLK_LEN, LBLK_OUT_OFF, t1);
	else
		say("LBLK: FAIL %s, uptime %s s\n", why, t1);
	sync();
	reboot(RB_AUTOBOOT);
	/* Not reached unless reboot failed; PID 1 must not exit. */
	say("LBLK: reboot: %s\n", strerror(errno));
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	uint64_t *buf;

	/* O_DIRECT wants an aligned buffer. */
	if (posix_memalign((void **)&buf, 4096, LBLK_LEN) != 0) {
		fprintf(stderr, "lblk_init: out of memory\n");
		return 1;
	}
	if (getpid() == 1)
		guest_main(buf);
	if (argc == 3 && strcmp(argv[1], "prepare") == 0)
		return host_prepare(argv[2], buf);
	if (argc == 3 && strcmp(argv[1], "check") == 0)
		return host_check(argv[2], buf);
	fprintf(stderr, "usage: lblk_init prepare|check IMAGE (or run as /init)\n");
	return 2;
}
