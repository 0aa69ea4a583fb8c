/*
 * badballoon.c - a hostile virtio-balloon driver: frames outside RAM,
 * buffers in the wrong direction, outside RAM or of odd lengths, double
 * inflates, deflates of frames never inflated, malformed stats, a looping
 * chain, a bad queue size, config writes to the host's field, a notify of
 * a queue that does not exist, and a flood of bad frames.  The device must
 * answer each without crashing (a warning, a counter, or
 * DEVICE_NEEDS_RESET for a chain it cannot complete) and keep working:
 * the run ends with a good inflate/deflate whose pages read back as zeros
 * (the host discarded them).
 *
 * Each case prints one line; the run ends with "badballoon: OK n cases"
 * and status 0, or "badballoon: FAILED k of n cases" and status 1.  The
 * host-side counters are checked by tests/test_gswap.sh from --stats.
 * vCPU 0 only; other vCPUs return at once.
 */
#include "rt.h"
#include "virtio_balloon.h"

#define NEEDS_RESET   0x40u
#define R_QUEUE_SEL   0x030
#define R_QUEUE_NUM   0x038
#define R_QUEUE_READY 0x044
#define R_NOTIFY      0x050
#define R_CONFIG      0x100
#define NSCRATCH      8u

static struct vball dev;
static uint32_t frames[256];
static uint8_t odd[16] __attribute__((aligned(8)));
static uint8_t scratch[NSCRATCH * HV_PAGE_SIZE] __attribute__((aligned(HV_PAGE_SIZE)));
static struct vblk_desc chain[VBALL_QSIZE];
static unsigned ncases, nfail;

static const char *const known_args[] = { "flood", NULL };

static void result(const char *name, bool ok, long got)
{
	ncases++;
	if (ok) {
		hv_printf("badballoon: %-46s ok\n", name);
		return;
	}
	nfail++;
	hv_printf("badballoon: %-46s FAIL (%ld)\n", name, got);
}

static uint32_t pfn_of(const void *p)
{
	return (uint32_t)((uintptr_t)p / HV_PAGE_SIZE);
}

/* One raw request on queue q: chain[0..n) at head 0. */
static int raw(unsigned int q, unsigned int n)
{
	int r;

	vball_lock(&dev);
	r = vball_submit_raw(&dev, q, chain, n, 0);
	vball_unlock(&dev);
	return r;
}

/* A frame array of n entries on queue q, device-readable. */
static int frames_raw(unsigned int q, unsigned int n)
{
	chain[0] = (struct vblk_desc){ (uintptr_t)frames, n * 4u, 0, 0 };
	return raw(q, 1);
}

/* Used, and the device still fine. */
static void expect_used(const char *name, int r)
{
	result(name, r == 0 && !(vball_status(&dev) & NEEDS_RESET), r);
}

/* Refused with DEVICE_NEEDS_RESET; the device works after a reset. */
static void expect_reset(const char *name, int r)
{
	bool nr = r == VBLK_ERR_RESET || (vball_status(&dev) & NEEDS_RESET);

	result(name, nr && vball_init(&dev) == 0, r);
}

static void bad_frames(uint64_t ram_end, unsigned int flood)
{
	unsigned int i;

	frames[0] = 0;                                  /* the system area */
	expect_used("inflate frame 0 (system area)", frames_raw(0, 1));
	frames[0] = (uint32_t)(ram_end / HV_PAGE_SIZE); /* just past RAM */
	frames[1] = 0xffffffffu;
	expect_used("inflate frames past RAM", frames_raw(0, 2));
	for (i = 0; i < flood && i < 256; i++)
		frames[i] = 0xfffffff0u - i;
	expect_used("flood of frames outside RAM", frames_raw(0, hv_min(flood, 256u)));
}

static void bad_buffers(void)
{
	frames[0] = pfn_of(scratch);
	chain[0] = (struct vblk_desc){ (uintptr_t)frames, 4, VBLK_D_WRITE, 0 };
	expect_used("inflate array device-writable", raw(0, 1));
	chain[0] = (struct vblk_desc){ 0x1000, 4, 0, 0 };
	expect_used("inflate array in the system area", raw(0, 1));
	chain[0] = (struct vblk_desc){ (uintptr_t)frames, 6, 0, 0 };
	expect_used("inflate array of 6 bytes", raw(0, 1));
	chain[0] = (struct vblk_desc){ (uintptr_t)odd, 7, 0, 0 };
	expect_used("stats buffer of 7 bytes", raw(2, 1));
	odd[0] = 99;                                    /* unknown tag */
	odd[1] = 0;
	chain[0] = (struct vblk_desc){ (uintptr_t)odd, 10, 0, 0 };
	expect_used("stats with an unknown tag", raw(2, 1));
}

static void bad_sequence(void)
{
	frames[0] = pfn_of(scratch + HV_PAGE_SIZE);
	frames[1] = frames[0];
	expect_used("inflate one frame twice", frames_raw(0, 2));
	frames[0] = pfn_of(scratch + 2 * HV_PAGE_SIZE);
	expect_used("deflate a frame never inflated", frames_raw(1, 1));
	frames[0] = pfn_of(scratch + HV_PAGE_SIZE);
	expect_used("deflate the doubly inflated frame", frames_raw(1, 1));
}

static void bad_transport(void)
{
	chain[0] = (struct vblk_desc){ (uintptr_t)frames, 4, VBLK_D_NEXT, 0 };
	expect_reset("inflate chain looping on itself", raw(0, 1));
	vball_reg_write(&dev, R_CONFIG, 12345);         /* num_pages: host's */
	result("config write to num_pages ignored", vball_target(&dev) == 0,
	       (long)vball_target(&dev));
	*(volatile uint8_t *)(uintptr_t)(dev.base + R_CONFIG + 4) = 1;
	result("1-byte config write ignored",
	       vball_reg_read(&dev, R_CONFIG + 4) == dev.actual,
	       (long)vball_reg_read(&dev, R_CONFIG + 4));
	vball_reg_write(&dev, R_NOTIFY, 3);
	result("notify of queue 3 (none)", !(vball_status(&dev) & NEEDS_RESET), 0);
	vball_reg_write(&dev, R_QUEUE_SEL, 1);
	vball_reg_write(&dev, R_QUEUE_READY, 0);
	vball_reg_write(&dev, R_QUEUE_NUM, 3);
	vball_reg_write(&dev, R_QUEUE_READY, 1);
	expect_reset("deflate queue of size 3", vball_reg_read(&dev, R_QUEUE_READY) ? 0 :
		     VBLK_ERR_QUEUE);
}

/* A good inflate and deflate: the frames' old contents are gone. */
static void good_round(void)
{
	unsigned int i, j, nonzero = 0;
	uint32_t f[NSCRATCH];

	for (i = 0; i < NSCRATCH; i++) {
		memset(scratch + i * HV_PAGE_SIZE, 0xab, HV_PAGE_SIZE);
		f[i] = pfn_of(scratch + i * HV_PAGE_SIZE);
	}
	expect_used("good inflate of 8 frames", vball_inflate(&dev, f, NSCRATCH));
	expect_used("good deflate of 8 frames", vball_deflate(&dev, f, NSCRATCH));
	for (i = 0; i < NSCRATCH * HV_PAGE_SIZE; i += 8)
		for (j = 0; j < 8; j++)
			nonzero += scratch[i + j] != 0;
	result("deflated frames read zeros", nonzero == 0, nonzero);
	result("actual back to 0", vball_reg_read(&dev, R_CONFIG + 4) == 0,
	       (long)vball_reg_read(&dev, R_CONFIG + 4));
}

int guest_main(unsigned vcpu, unsigned nvcpus)
{
	const struct hv_info *info = hv_get_info();
	unsigned int flood;
	int r;

	(void)nvcpus;
	if (vcpu != 0)
		return 0;
	if (hv_args_check(known_args))
		return 2;
	flood = (unsigned int)hv_arg_u64("flood", 200);
	r = vball_probe(&dev);
	if (!r)
		r = vball_init(&dev);
	if (r) {
		hv_printf("badballoon: no virtio-balloon (%d): run with --balloon\n", r);
		return 2;
	}
	bad_frames(info->ram_base + info->ram_size, flood);
	bad_buffers();
	bad_sequence();
	bad_transport();
	good_round();
	hv_metric("cases", ncases);
	if (nfail) {
		hv_printf("badballoon: FAILED %u of %u cases\n", nfail, ncases);
		return 1;
	}
	hv_printf("badballoon: OK %u cases\n", ncases);
	return 0;
}
