/*
 * virtio_balloon.h - a small polled virtio-balloon driver (virtio-mmio
 * version 2; inflateq, deflateq, statsq) for the test-guest runtime.
 *
 * Like the virtio-blk driver: no interrupts, one request in flight per
 * queue, hvswap completes a request before the notify returns.  vball_*
 * calls take the driver's lock themselves (several vCPUs may share it);
 * the raw call expects the caller to hold it.
 *
 * Frames are 4 KiB guest page frame numbers (gpa >> 12), as the balloon
 * counts them on every architecture.  MUST_TELL_HOST is honoured: a frame
 * is deflated before the guest uses it again.
 */
#ifndef HV_GUEST_RT_VIRTIO_BALLOON_H
#define HV_GUEST_RT_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio_blk.h"         /* struct vblk_desc, VBLK_ERR_* */

#define VBALL_QSIZE       8u
#define VBALL_NQ          3u           /* inflate, deflate, stats */
#define VBALL_Q_INFLATE   0u
#define VBALL_Q_DEFLATE   1u
#define VBALL_Q_STATS     2u
#define VBALL_BATCH       256u         /* frames per request */
#define VBALL_NSTATS      6u

/* Stat tags (virtio 1.x 5.5.6.3). */
#define VBALL_S_SWAP_IN   0u
#define VBALL_S_SWAP_OUT  1u
#define VBALL_S_MAJFLT    2u
#define VBALL_S_MINFLT    3u
#define VBALL_S_MEMFREE   4u
#define VBALL_S_MEMTOT    5u

struct vball_stat {
	uint16_t tag;
	uint64_t val;
} __attribute__((packed));

struct vball_q {
	struct vblk_desc desc[VBALL_QSIZE] __attribute__((aligned(16)));
	struct {
		uint16_t flags, idx, ring[VBALL_QSIZE], used_event;
	} avail __attribute__((aligned(4)));
	struct {
		uint16_t flags, idx;
		struct { uint32_t id, len; } ring[VBALL_QSIZE];
		uint16_t avail_event;
	} used __attribute__((aligned(4)));
	uint16_t qsize;
	uint16_t last_used;
};

struct vball {
	struct vball_q q[VBALL_NQ];
	uint32_t frames[VBALL_BATCH];          /* the request's frame array */
	struct vball_stat stats[VBALL_NSTATS];
	volatile uint32_t *regs;
	uint64_t base;
	uint64_t features;
	uint32_t actual;                       /* frames in the balloon */
	uint64_t timeout_cycles;
	volatile int lock;
};

/* Find the first virtio-balloon among the virtio-mmio devices. */
int vball_probe(struct vball *b);
/* Reset and bring up the device (features, three queues, DRIVER_OK). */
int vball_init(struct vball *b);

/* Give frames f[0..n) to the host / take them back; updates `actual` in
 * config space.  0 or a VBLK_ERR_*. */
int vball_inflate(struct vball *b, const uint32_t *f, uint64_t n);
int vball_deflate(struct vball *b, const uint32_t *f, uint64_t n);
/* Report statistics (tags and values as given). */
int vball_report(struct vball *b, const struct vball_stat *st, unsigned int n);
/* The host's target (config num_pages). */
uint32_t vball_target(struct vball *b);

/* Raw, for malformed-request tests (lock held by the caller): chain[0..n)
 * copied verbatim into queue q's descriptor slots, head made available,
 * notify, wait.  0 when used, or a VBLK_ERR_*. */
int vball_submit_raw(struct vball *b, unsigned int q, const struct vblk_desc *chain,
		     unsigned int n, uint16_t head);
void vball_lock(struct vball *b);
void vball_unlock(struct vball *b);
uint32_t vball_status(struct vball *b);
/* Raw register access (32-bit), for malformed-access tests. */
uint32_t vball_reg_read(struct vball *b, unsigned int off);
void vball_reg_write(struct vball *b, unsigned int off, uint32_t v);

#endif
