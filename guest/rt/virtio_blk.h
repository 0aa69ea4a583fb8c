/*
 * virtio_blk.h - a small polled virtio-blk driver (virtio-mmio version 2,
 * one split queue) for the test-guest runtime.
 *
 * The device lives at hv_get_info()->mmio_base + index * HV_VIRTIO_MMIO_SIZE.
 * There are no interrupts: a request is submitted and the used ring polled.
 * One request is in flight per device at a time; vblk_lock() serialises
 * vCPUs sharing a device (the vblk_* request calls take it themselves; the
 * raw calls, for malformed-request tests, expect the caller to).
 *
 * Buffers are guest-physical = guest-virtual (identity map) and may sit
 * anywhere in guest RAM, at any byte offset, crossing pages.
 */
#ifndef HV_GUEST_RT_VIRTIO_BLK_H
#define HV_GUEST_RT_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#define VBLK_QSIZE          64u          /* entries the driver uses */
#define VBLK_SECTOR         512u

#define VBLK_T_IN           0u
#define VBLK_T_OUT          1u
#define VBLK_T_FLUSH        4u
#define VBLK_T_GET_ID       8u
#define VBLK_S_OK           0
#define VBLK_S_IOERR        1
#define VBLK_S_UNSUPP       2

#define VBLK_D_NEXT         1u
#define VBLK_D_WRITE        2u           /* device-writable */
#define VBLK_D_INDIRECT     4u

/* Driver errors (negative; statuses are >= 0). */
#define VBLK_ERR_NODEV      (-19)        /* no virtio-blk at that index */
#define VBLK_ERR_FEATURES   (-95)        /* the device refused our features */
#define VBLK_ERR_RESET      (-1000)      /* device set DEVICE_NEEDS_RESET */
#define VBLK_ERR_TIMEOUT    (-1001)      /* no completion within the timeout */
#define VBLK_ERR_QUEUE      (-1002)      /* queue setup rejected */
#define VBLK_ERR_ARG        (-1003)      /* too many buffers etc. */

struct vblk_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vblk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* One data buffer of a request. */
struct vblk_buf {
	void *p;
	uint32_t len;
};

struct vblk {
	/* the rings (guest RAM, read by the device under a pin) */
	struct vblk_desc desc[VBLK_QSIZE] __attribute__((aligned(16)));
	struct {
		uint16_t flags, idx, ring[VBLK_QSIZE], used_event;
	} avail __attribute__((aligned(4)));
	struct {
		uint16_t flags, idx;
		struct { uint32_t id, len; } ring[VBLK_QSIZE];
		uint16_t avail_event;
	} used __attribute__((aligned(4)));
	struct vblk_hdr hdr;
	uint8_t status;

	volatile uint32_t *regs;
	uint64_t base;                  /* guest-physical register base */
	uint64_t capacity;              /* sectors */
	uint64_t features;              /* negotiated */
	uint16_t qsize;
	uint16_t last_used;
	uint64_t timeout_cycles;        /* per request (TSC); 0 = none */
	volatile int lock;
};

/* Find device `index` (0-based) and check it is virtio-blk, version 2. */
int vblk_probe(struct vblk *d, unsigned index);
/* Reset and bring up the device (features, queue, DRIVER_OK). */
int vblk_init(struct vblk *d);
/* Reset the device (status 0) and vblk_init() again. */
int vblk_reinit(struct vblk *d);

void vblk_lock(struct vblk *d);
void vblk_unlock(struct vblk *d);

/*
 * A request of `type` at `sector` with data buffers bufs[0..n): the device
 * reads them for OUT, writes them for IN/GET_ID.  Returns the device's
 * status (VBLK_S_*) or a VBLK_ERR_*.  Takes the lock.
 */
int vblk_request(struct vblk *d, uint32_t type, uint64_t sector,
		 const struct vblk_buf *bufs, unsigned n);
int vblk_read(struct vblk *d, uint64_t sector, void *buf, uint32_t len);
int vblk_write(struct vblk *d, uint64_t sector, const void *buf, uint32_t len);

/*
 * Raw: copy chain[0..n) into descriptor slots 0..n-1 verbatim (addresses,
 * flags and next as given), make `head` available, notify, wait.  Returns 0
 * when the device used the chain (*used_len set), or a VBLK_ERR_*.  Caller
 * holds the lock.  For malformed-request tests.
 */
int vblk_submit_raw(struct vblk *d, const struct vblk_desc *chain, unsigned n,
		    uint16_t head, uint32_t *used_len);
/* Lower still: notify, then wait for used idx to reach avail idx. */
void vblk_notify(struct vblk *d);
int vblk_wait(struct vblk *d, uint32_t *used_len);
/* Device status register (VIRTIO_STATUS bits). */
uint32_t vblk_status(struct vblk *d);

#endif
