/*
 * badvirtio.c - a hostile virtio-blk driver: submits malformed descriptor
 * chains and queue set-ups and checks that the device answers each with an
 * error (IOERR / UNSUPP status, or DEVICE_NEEDS_RESET for chains it cannot
 * even complete), never hangs, and works again after a reset.
 *
 * Each case prints one line; the run ends with "badvirtio: OK n cases" and
 * status 0, or "badvirtio: FAILED k of n cases" and status 1.  flood=N
 * (default 200) bad requests in a row check that the VMM's warnings are
 * rate-limited (the test script counts its stderr lines).
 * vCPU 0 only; other vCPUs return at once.
 */
#include "rt.h"
#include "virtio_blk.h"

#define NEEDS_RESET 0x40u
#define R_QUEUE_NUM   0x038
#define R_QUEUE_READY 0x044
#define R_STATUS      0x070
#define R_DRV_FEAT    0x020
#define R_DESC_LO     0x080
#define R_DESC_HI     0x084

static struct vblk dev;
static struct vblk_hdr hdr;
static volatile uint8_t status;
static uint8_t buf[3 * HV_PAGE_SIZE] __attribute__((aligned(HV_PAGE_SIZE)));
static struct vblk_desc chain[VBLK_QSIZE];
static unsigned ncases, nfail;
static uint64_t ram_end;

static const char *const known_args[] = { "flood", NULL };

static void result(const char *name, bool ok, long got, long want)
{
	ncases++;
	if (ok) {
		hv_printf("badvirtio: %-44s ok\n", name);
		return;
	}
	nfail++;
	hv_printf("badvirtio: %-44s FAIL: got %ld, want %ld\n", name, got, want);
}

static struct vblk_desc D(uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	return (struct vblk_desc){ addr, len, flags, next };
}

static uint64_t A(const volatile void *p)
{
	return (uintptr_t)p;
}

/* Submit chain[0..n) at head 0; returns the status byte or a VBLK_ERR_*. */
static int submit(unsigned n, uint32_t type, uint64_t sector, uint32_t *used)
{
	int r;

	hdr = (struct vblk_hdr){ .type = type, .sector = sector };
	status = 0xff;
	r = vblk_submit_raw(&dev, chain, n, 0, used);
	return r < 0 ? r : status;
}

/* hdr -> one data buffer -> status, data direction as given. */
static int req3(uint32_t type, uint64_t sector, uint64_t addr, uint32_t len,
		uint16_t dflags, uint32_t *used)
{
	chain[0] = D(A(&hdr), sizeof(hdr), VBLK_D_NEXT, 1);
	chain[1] = D(addr, len, (uint16_t)(dflags | VBLK_D_NEXT), 2);
	chain[2] = D(A(&status), 1, VBLK_D_WRITE, 0);
	return submit(3, type, sector, used);
}

static void expect_status(const char *name, int got, int want, uint32_t used,
			  uint32_t want_used)
{
	result(name, got == want && used == want_used, got, want);
}

/* The device must refuse with NEEDS_RESET, then work again after a reset. */
static void expect_reset(const char *name, int got)
{
	uint32_t used = 0;
	int r;

	result(name, got == VBLK_ERR_RESET && (vblk_status(&dev) & NEEDS_RESET),
	       got, VBLK_ERR_RESET);
	r = vblk_reinit(&dev);
	if (r == 0)
		r = req3(VBLK_T_IN, 0, A(buf), 512, VBLK_D_WRITE, &used);
	result("  ... and works after a reset", r == VBLK_S_OK, r, 0);
}

static void cases_ioerr(void)
{
	uint32_t used = 0;
	int r;

	memset(buf, 0x5a, 1024);
	r = req3(VBLK_T_OUT, 1, A(buf), 1024, 0, &used);
	expect_status("good write", r, VBLK_S_OK, used, 1);
	memset(buf, 0, 1024);
	r = req3(VBLK_T_IN, 1, A(buf) + 100, 1024, VBLK_D_WRITE, &used);
	expect_status("good read (unaligned buffer)", r, VBLK_S_OK, used, 1025);
	result("  ... data read back", buf[100] == 0x5a && buf[1123] == 0x5a &&
	       buf[99] == 0, buf[100], 0x5a);

	r = req3(VBLK_T_IN, 0, ram_end, 512, VBLK_D_WRITE, &used);
	expect_status("data buffer after RAM (MMIO window)", r, VBLK_S_IOERR, used, 1);
	r = req3(VBLK_T_IN, 0, 0x1000, 512, VBLK_D_WRITE, &used);
	expect_status("data buffer in the system area", r, VBLK_S_IOERR, used, 1);
	r = req3(VBLK_T_OUT, 0, 0xfffffffffffff000ull, 0x2000, 0, &used);
	expect_status("data buffer wrapping the address space", r, VBLK_S_IOERR, used, 1);
	r = req3(VBLK_T_IN, 0, A(buf), 0xffffffffu, VBLK_D_WRITE, &used);
	expect_status("data length 4 GiB - 1", r, VBLK_S_IOERR, used, 1);
	r = req3(VBLK_T_IN, 0, A(buf), 512, 0, &used);
	expect_status("read into a device-readable buffer", r, VBLK_S_IOERR, used, 1);
	r = req3(VBLK_T_OUT, 0, A(buf), 512, VBLK_D_WRITE, &used);
	expect_status("write from a device-writable buffer", r, VBLK_S_IOERR, used, 1);
	r = req3(VBLK_T_IN, dev.capacity, A(buf), 512, VBLK_D_WRITE, &used);
	expect_status("read beyond the capacity", r, VBLK_S_IOERR, used, 1);
	r = req3(VBLK_T_IN, dev.capacity - 1, A(buf), 1024, VBLK_D_WRITE, &used);
	expect_status("read crossing the capacity", r, VBLK_S_IOERR, used, 1);
	r = req3(VBLK_T_IN, 0, A(buf), 100, VBLK_D_WRITE, &used);
	expect_status("length not a multiple of 512", r, VBLK_S_IOERR, used, 1);
	r = req3(99, 0, A(buf), 512, VBLK_D_WRITE, &used);
	expect_status("unknown request type", r, VBLK_S_UNSUPP, used, 1);

	/* readable after writable */
	chain[0] = D(A(&hdr), sizeof(hdr), VBLK_D_NEXT, 1);
	chain[1] = D(A(buf), 512, VBLK_D_WRITE | VBLK_D_NEXT, 2);
	chain[2] = D(A(buf) + 512, 512, VBLK_D_NEXT, 3);
	chain[3] = D(A(&status), 1, VBLK_D_WRITE, 0);
	r = submit(4, VBLK_T_IN, 0, &used);
	expect_status("readable descriptor after a writable one", r, VBLK_S_IOERR, used, 1);
	/* header too short / device-writable header */
	chain[0] = D(A(&hdr), 8, VBLK_D_NEXT, 1);
	chain[1] = D(A(&status), 1, VBLK_D_WRITE, 0);
	r = submit(2, VBLK_T_FLUSH, 0, &used);
	expect_status("8-byte header", r, VBLK_S_IOERR, used, 1);
	chain[0] = D(A(&hdr), sizeof(hdr), VBLK_D_WRITE | VBLK_D_NEXT, 1);
	r = submit(2, VBLK_T_FLUSH, 0, &used);
	expect_status("device-writable header", r, VBLK_S_IOERR, used, 1);

	/* well-formed odd layouts */
	chain[0] = D(A(&hdr), 4, VBLK_D_NEXT, 1);
	chain[1] = D(A(&hdr) + 4, sizeof(hdr) - 4, VBLK_D_NEXT, 2);
	chain[2] = D(A(&status), 1, VBLK_D_WRITE, 0);
	r = submit(3, VBLK_T_FLUSH, 0, &used);
	expect_status("flush with the header split in two", r, VBLK_S_OK, used, 1);
	memset(buf, 0, 64);
	r = req3(VBLK_T_GET_ID, 0, A(buf), 20, VBLK_D_WRITE, &used);
	expect_status("get id", r, VBLK_S_OK, used, 21);
	result("  ... id is hvswap's", !hv_strncmp((char *)buf, "hvswap", 6), buf[0], 'h');
}

static void cases_reset(void)
{
	uint32_t used = 0;
	unsigned i;
	int r;

	chain[0] = D(A(&hdr), sizeof(hdr), VBLK_D_NEXT, 1);
	chain[1] = D(A(buf), 512, 0, 0);
	expect_reset("no device-writable status byte", submit(2, VBLK_T_OUT, 0, &used));
	chain[0] = D(A(&hdr), sizeof(hdr), VBLK_D_NEXT, 1);
	chain[1] = D(ram_end + 8, 1, VBLK_D_WRITE, 0);
	expect_reset("status byte outside RAM", submit(2, VBLK_T_FLUSH, 0, &used));
	chain[0] = D(A(&hdr), sizeof(hdr), VBLK_D_NEXT, 1);
	chain[1] = D(A(buf), 512, VBLK_D_WRITE | VBLK_D_NEXT, 0);
	expect_reset("two-descriptor loop", submit(2, VBLK_T_IN, 0, &used));
	chain[0] = D(A(&hdr), sizeof(hdr), VBLK_D_NEXT, 0);
	expect_reset("self loop", submit(1, VBLK_T_IN, 0, &used));
	for (i = 0; i < dev.qsize; i++)
		chain[i] = D(A(buf), 16, VBLK_D_NEXT, (uint16_t)((i + 1) % dev.qsize));
	expect_reset("chain longer than the queue (cycle)", submit(dev.qsize, VBLK_T_IN, 0, &used));
	chain[0] = D(A(&hdr), sizeof(hdr), VBLK_D_NEXT, (uint16_t)dev.qsize);
	expect_reset("next index beyond the queue", submit(1, VBLK_T_IN, 0, &used));
	chain[0] = D(A(&hdr), sizeof(hdr), VBLK_D_NEXT, 0xffff);
	expect_reset("next index 0xffff", submit(1, VBLK_T_IN, 0, &used));
	chain[0] = D(A(chain), 3 * sizeof(chain[0]), VBLK_D_INDIRECT, 0);
	expect_reset("indirect descriptor (not negotiated)", submit(1, VBLK_T_IN, 0, &used));
	chain[0] = D(A(&hdr), sizeof(hdr), VBLK_D_NEXT, 1);
	chain[1] = D(A(&status), 1, VBLK_D_WRITE, 0);
	hdr.type = VBLK_T_FLUSH;
	r = vblk_submit_raw(&dev, chain, 2, (uint16_t)(dev.qsize + 5), &used);
	expect_reset("head index beyond the queue", r);
	__atomic_store_n(&dev.avail.idx, (uint16_t)(dev.avail.idx + dev.qsize + 1),
			 __ATOMIC_RELEASE);
	vblk_notify(&dev);
	expect_reset("avail index jumping past the queue size",
		     (vblk_status(&dev) & NEEDS_RESET) ? VBLK_ERR_RESET : 0);
}

static void cases_setup(void)
{
	volatile uint32_t *regs = dev.regs;
	volatile uint16_t *r16 = (volatile uint16_t *)dev.regs;
	int r;

	/* Feature negotiation without VERSION_1 must fail. */
	regs[R_STATUS / 4] = 0;
	regs[R_STATUS / 4] = 3;
	regs[R_DRV_FEAT / 4] = 0;
	regs[R_STATUS / 4] = 3 | 8;
	result("FEATURES_OK refused without VERSION_1", !(regs[R_STATUS / 4] & 8),
	       regs[R_STATUS / 4], 3);
	/* A ring outside guest RAM must not become ready. */
	r = vblk_reinit(&dev);
	regs[R_STATUS / 4] = 0;
	regs[R_STATUS / 4] = 1 | 2;
	regs[R_DRV_FEAT / 4 + 1] = 0;      /* DriverFeaturesSel = 0 */
	regs[R_DRV_FEAT / 4] = 0;
	regs[R_DRV_FEAT / 4 + 1] = 1;
	regs[R_DRV_FEAT / 4] = 1;          /* VERSION_1 */
	regs[R_STATUS / 4] = 1 | 2 | 8;
	regs[R_QUEUE_NUM / 4] = 16;
	regs[R_DESC_LO / 4] = (uint32_t)ram_end;
	regs[R_DESC_HI / 4] = (uint32_t)(ram_end >> 32);
	regs[R_QUEUE_READY / 4] = 1;
	result("descriptor table outside RAM refused",
	       r == 0 && regs[R_QUEUE_READY / 4] == 0 && (regs[R_STATUS / 4] & NEEDS_RESET),
	       regs[R_QUEUE_READY / 4], 0);
	regs[R_STATUS / 4] = 0;
	regs[R_QUEUE_NUM / 4] = 48;        /* not a power of 2 */
	regs[R_QUEUE_READY / 4] = 1;
	result("queue size 48 refused", regs[R_QUEUE_READY / 4] == 0, regs[R_QUEUE_READY / 4], 0);
	result("16-bit register read returns 0", r16[0] == 0, r16[0], 0);
	r = vblk_reinit(&dev);
	result("reinit after bad set-ups", r == 0, r, 0);
}

static void flood(uint64_t n)
{
	uint32_t used = 0;
	uint64_t i, bad = 0;

	for (i = 0; i < n; i++)
		if (req3(VBLK_T_IN, 0, ram_end, 512, VBLK_D_WRITE, &used) != VBLK_S_IOERR)
			bad++;
	result("flood of bad requests all IOERR", bad == 0, (long)bad, 0);
}

static void final_roundtrip(void)
{
	uint8_t *p = buf + HV_PAGE_SIZE - 700;  /* crosses a page */
	unsigned i;
	int r;

	for (i = 0; i < 4096; i++)
		p[i] = (uint8_t)(i * 7 + 3);
	r = vblk_write(&dev, 8, p, 4096);
	result("final write (page-crossing)", r == VBLK_S_OK, r, 0);
	memset(p, 0, 4096);
	r = vblk_read(&dev, 8, p, 4096);
	for (i = 0; i < 4096 && p[i] == (uint8_t)(i * 7 + 3); i++)
		;
	result("final read back", r == VBLK_S_OK && i == 4096, i, 4096);
}

int guest_main(unsigned vcpu, unsigned nvcpus)
{
	const struct hv_info *info = hv_get_info();
	int r;

	if (vcpu != 0)
		return 0;
	if (hv_args_check(known_args))
		return 2;
	ram_end = info->ram_base + info->ram_size;
	r = vblk_probe(&dev, 0);
	if (r == 0)
		r = vblk_init(&dev);
	if (r < 0) {
		hv_printf("badvirtio: no usable virtio-blk device (error %d)\n", r);
		return 2;
	}
	cases_ioerr();
	cases_reset();
	cases_setup();
	flood(hv_arg_u64("flood", 200));
	final_roundtrip();
	hv_metric("cases", ncases);
	hv_metric("failed", nfail);
	if (nfail) {
		hv_printf("badvirtio: FAILED %u of %u cases\n", nfail, ncases);
		return HV_GUEST_STATUS_FAIL;
	}
	hv_printf("badvirtio: OK %u cases\n", ncases);
	return 0;
}
