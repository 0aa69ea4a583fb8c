/*
 * virtio_blk.c - polled virtio-blk driver for test guests (see virtio_blk.h).
 *
 * Owns: struct vblk (rings, header and status byte inside it).  Every
 * register access is one aligned 32-bit MMIO load/store (one VM exit each),
 * so the fast path touches registers only to notify; completion is seen in
 * the used ring in RAM.  The device status is read while waiting only every
 * POLL_STATUS_EVERY spins, to notice DEVICE_NEEDS_RESET.
 * Invariant: at most one chain in flight; it always starts at slot 0.
 */
#include "rt.h"
#include "virtio_blk.h"

#include "virtio_mmio_regs.h"

#define S_ACK          1u
#define S_DRIVER       2u
#define S_DRIVER_OK    4u
#define S_FEATURES_OK  8u
#define S_NEEDS_RESET  0x40u

#define F_VERSION_1    (1ull << 32)
#define F_BLK_FLUSH    (1ull << 9)

#define POLL_STATUS_EVERY 4096u

static uint32_t rd(struct vblk *d, unsigned off)
{
	return d->regs[off / 4];
}

static void wr(struct vblk *d, unsigned off, uint32_t v)
{
	d->regs[off / 4] = v;
}

int vblk_probe(struct vblk *d, unsigned index)
{
	const struct hv_info *info = hv_get_info();

	memset(d, 0, sizeof(*d));
	if (info->abi_version < 2 || !info->mmio_base || index >= info->nr_mmio_devs)
		return VBLK_ERR_NODEV;
	d->base = info->mmio_base + (uint64_t)index * HV_VIRTIO_MMIO_SIZE;
	d->regs = (volatile uint32_t *)(uintptr_t)d->base;
	if (rd(d, R_MAGIC) != 0x74726976u || rd(d, R_VERSION) != 2 ||
	    rd(d, R_DEVICE_ID) != 2)
		return VBLK_ERR_NODEV;
	/* ~10 s; generous, the device completes synchronously on notify. */
	d->timeout_cycles = info->tsc_khz ? info->tsc_khz * 10000ull : 0;
	return 0;
}

static uint64_t read_capacity(struct vblk *d)
{
	uint32_t gen, lo, hi;

	do {
		gen = rd(d, R_CONFIG_GEN);
		lo = rd(d, R_CONFIG);
		hi = rd(d, R_CONFIG + 4);
	} while (gen != rd(d, R_CONFIG_GEN));
	return ((uint64_t)hi << 32) | lo;
}

static int setup_queue(struct vblk *d)
{
	uint32_t max;
	uint64_t a;

	wr(d, R_QUEUE_SEL, 0);
	if (rd(d, R_QUEUE_READY))
		return VBLK_ERR_QUEUE;
	max = rd(d, R_QUEUE_MAX);
	if (!max)
		return VBLK_ERR_QUEUE;
	d->qsize = (uint16_t)hv_min(max, VBLK_QSIZE);
	memset(d->desc, 0, sizeof(d->desc));
	memset(&d->avail, 0, sizeof(d->avail));
	memset(&d->used, 0, sizeof(d->used));
	d->last_used = 0;
	wr(d, R_QUEUE_NUM, d->qsize);
	a = (uintptr_t)d->desc;
	wr(d, R_DESC_LO, (uint32_t)a);
	wr(d, R_DESC_HI, (uint32_t)(a >> 32));
	a = (uintptr_t)&d->avail;
	wr(d, R_AVAIL_LO, (uint32_t)a);
	wr(d, R_AVAIL_HI, (uint32_t)(a >> 32));
	a = (uintptr_t)&d->used;
	wr(d, R_USED_LO, (uint32_t)a);
	wr(d, R_USED_HI, (uint32_t)(a >> 32));
	wr(d, R_QUEUE_READY, 1);
	return rd(d, R_QUEUE_READY) == 1 ? 0 : VBLK_ERR_QUEUE;
}

int vblk_init(struct vblk *d)
{
	uint64_t dev;
	int r;

	wr(d, R_STATUS, 0);
	wr(d, R_STATUS, S_ACK);
	wr(d, R_STATUS, S_ACK | S_DRIVER);
	wr(d, R_DEV_FEAT_SEL, 0);
	dev = rd(d, R_DEV_FEAT);
	wr(d, R_DEV_FEAT_SEL, 1);
	dev |= (uint64_t)rd(d, R_DEV_FEAT) << 32;
	if (!(dev & F_VERSION_1))
		return VBLK_ERR_FEATURES;
	d->features = F_VERSION_1 | (dev & F_BLK_FLUSH);
	wr(d, R_DRV_FEAT_SEL, 0);
	wr(d, R_DRV_FEAT, (uint32_t)d->features);
	wr(d, R_DRV_FEAT_SEL, 1);
	wr(d, R_DRV_FEAT, (uint32_t)(d->features >> 32));
	wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd(d, R_STATUS) & S_FEATURES_OK))
		return VBLK_ERR_FEATURES;
	r = setup_queue(d);
	if (r < 0)
		return r;
	d->capacity = read_capacity(d);
	wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	return 0;
}

int vblk_reinit(struct vblk *d)
{
	return vblk_init(d);            /* vblk_init starts with a reset */
}

void vblk_lock(struct vblk *d)
{
	hv_spin_lock(&d->lock);
}

void vblk_unlock(struct vblk *d)
{
	hv_spin_unlock(&d->lock);
}

uint32_t vblk_status(struct vblk *d)
{
	return rd(d, R_STATUS);
}

void vblk_notify(struct vblk *d)
{
	wr(d, R_QUEUE_NOTIFY, 0);
}

int vblk_wait(struct vblk *d, uint32_t *used_len)
{
	uint64_t t0 = hv_rdtsc();
	uint16_t want = __atomic_load_n(&d->avail.idx, __ATOMIC_RELAXED);
	unsigned spins = 0;

	while (__atomic_load_n(&d->used.idx, __ATOMIC_ACQUIRE) != want) {
		hv_cpu_relax();
		if (++spins % POLL_STATUS_EVERY)
			continue;
		if (vblk_status(d) & S_NEEDS_RESET)
			return VBLK_ERR_RESET;
		if (d->timeout_cycles && hv_rdtsc() - t0 > d->timeout_cycles)
			return VBLK_ERR_TIMEOUT;
	}
	/* Completed: consume the used entry (one in flight). */
	if (used_len)
		*used_len = d->used.ring[d->last_used % d->qsize].len;
	d->last_used = want;
	return 0;
}

static int submit(struct vblk *d, uint16_t head, uint32_t *used_len)
{
	uint16_t idx = d->avail.idx;
	int r;

	d->avail.ring[idx % d->qsize] = head;
	__atomic_store_n(&d->avail.idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
	vblk_notify(d);
	r = vblk_wait(d, used_len);
	/* The notify is synchronous in hvswap: if nothing was used the
	 * device refused the chain; say so without waiting. */
	if (r == VBLK_ERR_TIMEOUT && (vblk_status(d) & S_NEEDS_RESET))
		r = VBLK_ERR_RESET;
	return r;
}

int vblk_submit_raw(struct vblk *d, const struct vblk_desc *chain, unsigned n,
		    uint16_t head, uint32_t *used_len)
{
	unsigned i;

	if (n > d->qsize)
		return VBLK_ERR_ARG;
	for (i = 0; i < n; i++)
		d->desc[i] = chain[i];
	return submit(d, head, used_len);
}

int vblk_request(struct vblk *d, uint32_t type, uint64_t sector,
		 const struct vblk_buf *bufs, unsigned n)
{
	uint16_t dflag = type == VBLK_T_OUT ? 0 : VBLK_D_WRITE;
	unsigned i;
	int r;

	if (n + 2 > VBLK_QSIZE)
		return VBLK_ERR_ARG;
	vblk_lock(d);
	if (n + 2 > d->qsize) {
		vblk_unlock(d);
		return VBLK_ERR_ARG;
	}
	d->hdr = (struct vblk_hdr){ .type = type, .sector = sector };
	d->status = 0xff;
	d->desc[0] = (struct vblk_desc){ (uintptr_t)&d->hdr, sizeof(d->hdr),
					 VBLK_D_NEXT, 1 };
	for (i = 0; i < n; i++)
		d->desc[1 + i] = (struct vblk_desc){ (uintptr_t)bufs[i].p, bufs[i].len,
						     (uint16_t)(dflag | VBLK_D_NEXT),
						     (uint16_t)(2 + i) };
	d->desc[1 + n] = (struct vblk_desc){ (uintptr_t)&d->status, 1,
					     VBLK_D_WRITE, 0 };
	r = submit(d, 0, NULL);
	if (r == 0)
		r = *(volatile uint8_t *)&d->status;
	vblk_unlock(d);
	return r;
}

int vblk_read(struct vblk *d, uint64_t sector, void *buf, uint32_t len)
{
	struct vblk_buf b = { buf, len };

	return vblk_request(d, VBLK_T_IN, sector, &b, 1);
}

int vblk_write(struct vblk *d, uint64_t sector, const void *buf, uint32_t len)
{
	struct vblk_buf b = { (void *)(uintptr_t)buf, len };

	return vblk_request(d, VBLK_T_OUT, sector, &b, 1);
}
