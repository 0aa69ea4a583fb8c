/*
 * virtio_balloon.c - polled virtio-balloon driver for test guests (see
 * virtio_balloon.h).
 *
 * Owns: struct vball (three split queues, the frame array and the stats
 * buffer of the request in flight).  Register accesses are aligned 32-bit
 * MMIO loads/stores (one exit each).  Invariant: at most one chain in
 * flight per queue, always starting at descriptor 0; requests are
 * serialised by the driver's lock.
 */
#include "rt.h"
#include "virtio_balloon.h"

#include "virtio_mmio_regs.h"

#define S_ACK          1u
#define S_DRIVER       2u
#define S_DRIVER_OK    4u
#define S_FEATURES_OK  8u
#define S_NEEDS_RESET  0x40u

#define F_VERSION_1    (1ull << 32)
#define F_MUST_TELL    (1ull << 0)
#define F_STATS_VQ     (1ull << 1)
#define ID_BALLOON     5u
#define POLL_STATUS_EVERY 4096u

uint32_t vball_reg_read(struct vball *b, unsigned int off)
{
	return b->regs[off / 4];
}

void vball_reg_write(struct vball *b, unsigned int off, uint32_t v)
{
	b->regs[off / 4] = v;
}

int vball_probe(struct vball *b)
{
	const struct hv_info *info = hv_get_info();
	unsigned int i;

	memset(b, 0, sizeof(*b));
	if (info->abi_version < 2 || !info->mmio_base)
		return VBLK_ERR_NODEV;
	for (i = 0; i < info->nr_mmio_devs; i++) {
		b->base = info->mmio_base + (uint64_t)i * HV_VIRTIO_MMIO_SIZE;
		b->regs = (volatile uint32_t *)(uintptr_t)b->base;
		if (vball_reg_read(b, R_MAGIC) == 0x74726976u &&
		    vball_reg_read(b, R_VERSION) == 2 &&
		    vball_reg_read(b, R_DEVICE_ID) == ID_BALLOON) {
			b->timeout_cycles = info->tsc_khz ? info->tsc_khz * 10000ull : 0;
			return 0;
		}
	}
	b->regs = NULL;
	return VBLK_ERR_NODEV;
}

static int setup_queue(struct vball *b, unsigned int qi)
{
	struct vball_q *q = &b->q[qi];
	uint32_t max;
	uint64_t a;

	vball_reg_write(b, R_QUEUE_SEL, qi);
	if (vball_reg_read(b, R_QUEUE_READY))
		return VBLK_ERR_QUEUE;
	max = vball_reg_read(b, R_QUEUE_MAX);
	if (!max)
		return VBLK_ERR_QUEUE;
	memset(q, 0, sizeof(*q));
	q->qsize = (uint16_t)hv_min(max, VBALL_QSIZE);
	vball_reg_write(b, R_QUEUE_NUM, q->qsize);
	a = (uintptr_t)q->desc;
	vball_reg_write(b, R_DESC_LO, (uint32_t)a);
	vball_reg_write(b, R_DESC_HI, (uint32_t)(a >> 32));
	a = (uintptr_t)&q->avail;
	vball_reg_write(b, R_AVAIL_LO, (uint32_t)a);
	vball_reg_write(b, R_AVAIL_HI, (uint32_t)(a >> 32));
	a = (uintptr_t)&q->used;
	vball_reg_write(b, R_USED_LO, (uint32_t)a);
	vball_reg_write(b, R_USED_HI, (uint32_t)(a >> 32));
	vball_reg_write(b, R_QUEUE_READY, 1);
	return vball_reg_read(b, R_QUEUE_READY) == 1 ? 0 : VBLK_ERR_QUEUE;
}

int vball_init(struct vball *b)
{
	uint64_t dev;
	unsigned int i;
	int r;

	vball_reg_write(b, R_STATUS, 0);
	vball_reg_write(b, R_STATUS, S_ACK);
	vball_reg_write(b, R_STATUS, S_ACK | S_DRIVER);
	vball_reg_write(b, R_DEV_FEAT_SEL, 0);
	dev = vball_reg_read(b, R_DEV_FEAT);
	vball_reg_write(b, R_DEV_FEAT_SEL, 1);
	dev |= (uint64_t)vball_reg_read(b, R_DEV_FEAT) << 32;
	if (!(dev & F_VERSION_1) || !(dev & F_STATS_VQ))
		return VBLK_ERR_FEATURES;
	b->features = F_VERSION_1 | F_STATS_VQ | (dev & F_MUST_TELL);
	vball_reg_write(b, R_DRV_FEAT_SEL, 0);
	vball_reg_write(b, R_DRV_FEAT, (uint32_t)b->features);
	vball_reg_write(b, R_DRV_FEAT_SEL, 1);
	vball_reg_write(b, R_DRV_FEAT, (uint32_t)(b->features >> 32));
	vball_reg_write(b, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(vball_reg_read(b, R_STATUS) & S_FEATURES_OK))
		return VBLK_ERR_FEATURES;
	for (i = 0; i < VBALL_NQ; i++) {
		r = setup_queue(b, i);
		if (r < 0)
			return r;
	}
	b->actual = 0;
	vball_reg_write(b, R_CONFIG + 4, 0);
	vball_reg_write(b, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	return 0;
}

void vball_lock(struct vball *b)
{
	hv_spin_lock(&b->lock);
}

void vball_unlock(struct vball *b)
{
	hv_spin_unlock(&b->lock);
}

uint32_t vball_status(struct vball *b)
{
	return vball_reg_read(b, R_STATUS);
}

uint32_t vball_target(struct vball *b)
{
	return vball_reg_read(b, R_CONFIG);
}

/* Make head available on queue qi, notify, wait for the device to use it. */
static int submit(struct vball *b, unsigned int qi, uint16_t head)
{
	struct vball_q *q = &b->q[qi];
	uint16_t idx = q->avail.idx;
	uint64_t t0 = hv_rdtsc();
	unsigned int spins = 0;

	q->avail.ring[idx % q->qsize] = head;
	__atomic_store_n(&q->avail.idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
	vball_reg_write(b, R_QUEUE_NOTIFY, qi);
	while (__atomic_load_n(&q->used.idx, __ATOMIC_ACQUIRE) != (uint16_t)(idx + 1)) {
		hv_cpu_relax();
		if (++spins % POLL_STATUS_EVERY)
			continue;
		if (vball_status(b) & S_NEEDS_RESET)
			return VBLK_ERR_RESET;
		if (b->timeout_cycles && hv_rdtsc() - t0 > b->timeout_cycles)
			return VBLK_ERR_TIMEOUT;
	}
	q->last_used = (uint16_t)(idx + 1);
	return 0;
}

int vball_submit_raw(struct vball *b, unsigned int qi, const struct vblk_desc *chain,
		     unsigned int n, uint16_t head)
{
	unsigned int i;
	int r;

	if (qi >= VBALL_NQ || n > b->q[qi].qsize)
		return VBLK_ERR_ARG;
	for (i = 0; i < n; i++)
		b->q[qi].desc[i] = chain[i];
	r = submit(b, qi, head);
	/* hvswap completes on notify: nothing used means the chain was
	 * refused (DEVICE_NEEDS_RESET). */
	if (r == VBLK_ERR_TIMEOUT && (vball_status(b) & S_NEEDS_RESET))
		r = VBLK_ERR_RESET;
	return r;
}

/* One request: the frame array f[0..n) (n <= VBALL_BATCH) on queue qi. */
static int frames_req(struct vball *b, unsigned int qi, const uint32_t *f,
		      unsigned int n)
{
	struct vblk_desc d = { (uintptr_t)b->frames, n * 4u, 0, 0 };

	memcpy(b->frames, f, n * 4u);
	return vball_submit_raw(b, qi, &d, 1, 0);
}

static int frames_op(struct vball *b, unsigned int qi, const uint32_t *f,
		     uint64_t n)
{
	unsigned int k;
	int r = 0;

	vball_lock(b);
	while (n && !r) {
		k = (unsigned int)hv_min(n, VBALL_BATCH);
		r = frames_req(b, qi, f, k);
		if (r)
			break;
		b->actual = qi == VBALL_Q_INFLATE ? b->actual + k : b->actual - k;
		vball_reg_write(b, R_CONFIG + 4, b->actual);
		f += k;
		n -= k;
	}
	vball_unlock(b);
	return r;
}

int vball_inflate(struct vball *b, const uint32_t *f, uint64_t n)
{
	return frames_op(b, VBALL_Q_INFLATE, f, n);
}

int vball_deflate(struct vball *b, const uint32_t *f, uint64_t n)
{
	return frames_op(b, VBALL_Q_DEFLATE, f, n);
}

int vball_report(struct vball *b, const struct vball_stat *st, unsigned int n)
{
	struct vblk_desc d;
	int r;

	if (n > VBALL_NSTATS)
		return VBLK_ERR_ARG;
	vball_lock(b);
	memcpy(b->stats, st, n * sizeof(*st));
	d = (struct vblk_desc){ (uintptr_t)b->stats, n * (uint32_t)sizeof(*st), 0, 0 };
	r = vball_submit_raw(b, VBALL_Q_STATS, &d, 1, 0);
	vball_unlock(b);
	return r;
}
