/*
 * fuzz_vhost_user.c - libFuzzer harness for the vhost-user front-end's
 * reply parsing (vmm/vhost_user.c): the input is everything a hostile
 * back-end sends on the socket.
 *
 * Per input: a socketpair; the input is written into the back-end's end,
 * which is then shut for writing (so the front-end reads the input, then
 * EOF - no wait ever reaches the timeout); the front-end runs the whole
 * conversation hvswap has with a back-end: negotiation (postcopy offered),
 * GET_CONFIG, POSTCOPY_ADVISE/LISTEN when negotiated (the input cannot
 * carry a file descriptor, so ADVISE always fails its fd check), the
 * memory table (a memfd), one ring's start and stop, POSTCOPY_END.  The
 * first bad reply breaks the connection and every later call must fail
 * at once.  The pure checks are driven directly as well:
 * vhost_user_check_reply() on the input's first 12 bytes as a header and
 * vhost_user_check_mem_reply() on the rest as a postcopy reply.
 * Invariants: no crash/UB/leak (sanitizers), no file descriptor left open
 * (the count of /proc/self/fd entries is the same after every input), and
 * a broken connection stays broken with its first error.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hvswap/log.h"
#include "vhost_user.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STREAM (32u << 10)   /* fits the socket buffer: one write */

/* Created once (harness statics are the accepted exception). */
static int memfd = -1, kick = -1, call = -1;

static unsigned int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned int n = 0;

	if (!d)
		abort();
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void setup_once(void)
{
	if (memfd >= 0)
		return;
	hv_log_set_level(getenv("HV_FUZZ_LOG") ? HV_LOG_DEBUG : HV_LOG_ERR);
	memfd = memfd_create("fuzz-ram", MFD_CLOEXEC);
	kick = eventfd(0, EFD_CLOEXEC);
	call = eventfd(0, EFD_CLOEXEC);
	if (memfd < 0 || kick < 0 || call < 0 || ftruncate(memfd, 1 << 20) < 0)
		abort();
}

static void pure_checks(const uint8_t *data, size_t size)
{
	struct vhost_user_memory sent = { .nregions = 1 };
	struct vhost_user_hdr h;
	uint64_t base[VHOST_USER_MAX_REGIONS];
	char err[200];

	if (size < sizeof(h) + 1)
		return;
	memcpy(&h, data + 1, sizeof(h));
	vhost_user_check_reply(data[0] & 31, &h, data[0] >> 5 << 3, data[0] & 1, err,
			       sizeof(err));
	sent.regions[0] = (struct vhost_user_region){ 0x200000, 1 << 20, 0x7f0000000000, 0 };
	if (size - 1 - sizeof(h) <= sizeof(struct vhost_user_memory))
		vhost_user_check_mem_reply(&sent, data + 1 + sizeof(h), size - 1 - sizeof(h),
					   base, err, sizeof(err));
}

/* The conversation; stops at the first failure, then checks that the
 * connection stays broken. */
static void converse(struct vhost_user *vu, void *ram)
{
	struct vhost_user_mem m = { .gpa = 0x200000, .size = 1 << 20, .host = ram,
				    .fd = memfd };
	struct vhost_user_vring ring = { .index = 0, .num = 16, .desc = (uintptr_t)ram,
				      .avail = (uintptr_t)ram + 4096,
				      .used = (uintptr_t)ram + 8192, .kick_fd = kick,
				      .call_fd = call };
	uint8_t cfg[24];
	uint64_t features, base = 0;
	uint16_t vbase;
	int uffd = -1, r;

	r = vhost_user_negotiate(vu, true, &features);
	if (r == 0)
		r = vhost_user_get_config(vu, 0, cfg, sizeof(cfg));
	if (r == 0 && vhost_user_has_postcopy(vu))
		r = vhost_user_postcopy_listen(vu, &uffd);
	if (r == 0)
		r = vhost_user_set_mem_table(vu, &m, 1, &base);
	if (r == 0)
		r = vhost_user_vring_start(vu, &ring);
	if (r == 0)
		r = vhost_user_vring_stop(vu, 0, &vbase);
	if (r == 0 && vhost_user_has_postcopy(vu))
		r = vhost_user_postcopy_end(vu);
	if (r < 0) {
		if (!vhost_user_broken(vu) || !*vhost_user_error(vu))
			abort();        /* every failure names itself */
		if (vhost_user_get_config(vu, 0, cfg, sizeof(cfg)) != -EPIPE)
			abort();        /* and stays broken */
	}
	(void)uffd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *ram;
	struct vhost_user *vu;
	unsigned int fds0;
	int sv[2];

	setup_once();
	if (!ram) {
		ram = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
		if (ram == MAP_FAILED)
			abort();
	}
	pure_checks(data, size);
	if (size > MAX_STREAM)
		return 0;
	fds0 = open_fds();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (size && write(sv[1], data, size) != (ssize_t)size)
		abort();
	shutdown(sv[1], SHUT_WR);
	if (vhost_user_open_fd(sv[0], "fuzz", 1000, NULL, &vu) < 0)
		abort();
	converse(vu, ram);
	vhost_user_close(vu);
	close(sv[1]);
	if (open_fds() != fds0)
		abort();        /* a file descriptor leaked */
	return 0;
}
