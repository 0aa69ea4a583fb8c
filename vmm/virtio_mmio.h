/*
 * virtio_mmio.h - the virtio-mmio transport (virtio 1.x, register layout
 * version 2, no legacy) and the interface devices implement.
 *
 * Devices never know their transport (kvmtool's struct virtio_ops): a
 * device supplies a struct virtio_dev_ops; the transport owns the
 * registers, feature negotiation, the device status and the virtqueue, and
 * calls ->request() once per descriptor chain the guest makes available.
 *
 * Request processing is SYNCHRONOUS, in the vCPU thread that wrote
 * QueueNotify, under the transport's lock: when the guest's notify returns
 * every request it made available has been completed (or the device has
 * entered DEVICE_NEEDS_RESET).  Test guests poll the used ring (they have
 * no interrupt controller; InterruptStatus bit 0 is still set and can be
 * acknowledged); a Linux guest gets an interrupt line that follows
 * InterruptStatus (virtio_mmio_set_irq()).  A device thread is the obvious
 * next step for guests that want to overlap I/O with computation; it would
 * replace process_queue()'s caller only.
 */
#ifndef HVSWAP_VMM_VIRTIO_MMIO_H
#define HVSWAP_VMM_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "virtq.h"

struct vm;
struct json_object;

/* A queue as the driver configured it (for ->start()). */
struct virtio_queue_cfg {
	unsigned int index, num;        /* size: power of 2 <= queue_max */
	uint64_t desc_gpa, avail_gpa, used_gpa;   /* inside guest RAM, aligned */
};

/* Register offsets (virtio 1.x, 4.2.2). */
#define VIRTIO_MMIO_MAGIC_VALUE         0x000   /* "virt" */
#define VIRTIO_MMIO_VERSION             0x004
#define VIRTIO_MMIO_DEVICE_ID           0x008
#define VIRTIO_MMIO_VENDOR_ID           0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES     0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES     0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL           0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX       0x034
#define VIRTIO_MMIO_QUEUE_NUM           0x038
#define VIRTIO_MMIO_QUEUE_READY         0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY        0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS    0x060
#define VIRTIO_MMIO_INTERRUPT_ACK       0x064
#define VIRTIO_MMIO_STATUS              0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW      0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH     0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW    0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH   0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW    0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH   0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION   0x0fc
#define VIRTIO_MMIO_CONFIG              0x100

#define VIRTIO_MMIO_MAGIC               0x74726976u
#define VIRTIO_MMIO_VENDOR              0x48565357u     /* "WSVH" */

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE       1u
#define VIRTIO_STATUS_DRIVER            2u
#define VIRTIO_STATUS_DRIVER_OK         4u
#define VIRTIO_STATUS_FEATURES_OK       8u
#define VIRTIO_STATUS_NEEDS_RESET       0x40u
#define VIRTIO_STATUS_FAILED            0x80u

#define VIRTIO_F_VERSION_1              32

#define VIRTIO_MMIO_MAX_QUEUES          4       /* per device */

struct virtio_dev_ops {
	const char *name;               /* for messages: "virtio-blk" */
	uint32_t device_id;             /* 2 = block */
	uint64_t features;              /* device-specific bits offered */
	unsigned int queue_max;         /* entries, power of 2, <= VIRTQ_MAX_SIZE */
	unsigned int nr_queues;         /* 0 or 1: one queue; at most
					   VIRTIO_MMIO_MAX_QUEUES */
	uint64_t max_request_bytes;     /* chain length limit (0: none) */
	uint32_t config_size;
	/* Copy config space [off, off+len) (range checked by the transport). */
	void (*config_read)(void *dev, uint32_t off, void *buf, uint32_t len);
	/* Driver write to config space (range checked); NULL: read-only
	 * config, writes are refused with a warning. */
	void (*config_write)(void *dev, uint32_t off, const void *buf, uint32_t len);
	/*
	 * Handle one descriptor chain of queue `queue` (structurally valid;
	 * c->err may name a bad buffer).  Returns the number of bytes written into the chain
	 * (used.len), or < 0 when the request cannot even be completed with an
	 * error status (the transport then sets DEVICE_NEEDS_RESET).
	 * Called with the transport lock held, from a vCPU thread.
	 */
	int (*request)(void *dev, unsigned int queue, const struct virtq_chain *c);
	/*
	 * Optional: devices whose queues are served elsewhere (vhost-user: an
	 * external process reads the rings in guest memory).  With ->notify
	 * set the transport never touches the rings: ->start() runs when the
	 * driver sets DRIVER_OK, with the negotiated features and the ready
	 * queues (< 0: the device enters NEEDS_RESET); ->notify() on each
	 * QueueNotify of a started device that does not need a reset (< 0:
	 * the device enters NEEDS_RESET; it has said why); ->stop() when a
	 * started device is reset or destroyed.  Under the transport lock, on
	 * a vCPU thread (->stop() also from virtio_mmio_destroy()).
	 */
	int (*start)(void *dev, uint64_t features, const struct virtio_queue_cfg *q,
		     unsigned int nq);
	int (*notify)(void *dev, unsigned int queue);
	void (*stop)(void *dev);
};

struct virtio_mmio_dev;

/* Register a device at guest-physical [base, base + HV_VIRTIO_MMIO_SIZE). */
int virtio_mmio_create(struct vm *vm, uint64_t base, const struct virtio_dev_ops *ops,
		       void *dev, struct virtio_mmio_dev **out);
/* Raise interrupt `irq` (through fn, called under the transport lock)
 * while InterruptStatus is non-zero: level semantics, so an edge-triggered
 * PIC sees one edge per 0 -> non-zero transition.  Before the vCPUs run.
 * Without it the device has no interrupt (test guests poll). */
void virtio_mmio_set_irq(struct virtio_mmio_dev *d,
			 void (*fn)(void *ctx, unsigned int irq, bool level),
			 void *ctx, unsigned int irq);
/* The device used buffers (from any thread, e.g. a vhost-user call
 * eventfd): set InterruptStatus bit 0 and update the interrupt line.
 * Takes the transport lock. */
void virtio_mmio_interrupt(struct virtio_mmio_dev *d);
/* The device found the driver's queue unusable (from any thread, e.g. a
 * vhost-user device thread): set DEVICE_NEEDS_RESET with a rate-limited
 * warning naming why.  Takes the transport lock. */
void virtio_mmio_needs_reset(struct virtio_mmio_dev *d, const char *why);
/* After the vCPUs have stopped (no MMIO handler can be running). */
void virtio_mmio_destroy(struct virtio_mmio_dev *d);

struct json_object *virtio_mmio_stats_json(struct virtio_mmio_dev *d);

#endif
