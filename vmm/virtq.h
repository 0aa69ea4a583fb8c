/*
 * virtq.h - the split virtqueue of virtio 1.x (spec section 2.7): ring
 * layout, popping available heads, walking and validating descriptor
 * chains, pushing used elements.
 *
 * Pure functions over host pointers to the three ring parts, so they are
 * unit-tested against a fake guest memory (tests/test_virtio.c).  The
 * transport (virtio_mmio.c) pins the rings for the duration of one notify
 * and hands the pointers in; nothing here touches guest memory otherwise.
 *
 * Everything read from the rings comes from a hostile guest that may change
 * it concurrently: each descriptor is copied once and only the copy is
 * validated and used; every index is checked against the queue size.
 */
#ifndef HVSWAP_VMM_VIRTQ_H
#define HVSWAP_VMM_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>

#define VIRTQ_MAX_SIZE          256u    /* entries; a power of 2 */

#define VIRTQ_DESC_F_NEXT       1u
#define VIRTQ_DESC_F_WRITE      2u      /* device-writable */
#define VIRTQ_DESC_F_INDIRECT   4u

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

/* Bytes of each ring part for a queue of n entries (event fields included). */
static inline uint64_t virtq_desc_bytes(unsigned int n) { return 16ull * n; }
static inline uint64_t virtq_avail_bytes(unsigned int n) { return 6ull + 2ull * n; }
static inline uint64_t virtq_used_bytes(unsigned int n) { return 6ull + 8ull * n; }

/*
 * Errors.  Structural ones (the chain or ring cannot be trusted) are
 * returned by virtq_walk()/virtq_pop() and make the device DEVICE_NEEDS_RESET;
 * per-buffer ones (the chain is well-formed but a buffer is not acceptable)
 * are recorded in virtq_chain.err so the device can still complete the
 * request with an error status.
 */
enum virtq_err {
	VIRTQ_OK = 0,
	/* structural */
	VIRTQ_E_HEAD,           /* head index >= queue size */
	VIRTQ_E_NEXT,           /* next index >= queue size */
	VIRTQ_E_LOOP,           /* a descriptor reached twice */
	VIRTQ_E_INDIRECT,       /* INDIRECT flag, not negotiated */
	VIRTQ_E_AVAIL,          /* avail idx moved by more than the queue size */
	/* per buffer */
	VIRTQ_E_RANGE,          /* buffer not inside guest RAM (or wraps) */
	VIRTQ_E_ORDER,          /* device-readable after device-writable */
	VIRTQ_E_TOOBIG,         /* total length above the device's limit */
	VIRTQ_E_MAX
};

const char *virtq_strerror(int err);   /* err >= 0 or -err */

/* Guest memory the buffers must lie in, and the device's size limit. */
struct virtq_limits {
	uint64_t ram_base, ram_size;
	uint64_t max_bytes;     /* total over the chain; 0 = no limit */
};

struct virtq_seg {
	uint64_t addr;
	uint32_t len;
	bool write;             /* device-writable */
	bool in_ram;            /* [addr, addr+len) inside guest RAM */
	uint16_t idx;           /* its index in the descriptor table */
};

struct virtq_chain {
	uint16_t head;
	unsigned int n;                 /* segments, in chain order */
	uint64_t out_bytes;             /* device-readable total */
	uint64_t in_bytes;              /* device-writable total */
	int err;                        /* per-buffer error (VIRTQ_E_*) or 0 */
	unsigned int err_seg;           /* segment err refers to */
	struct virtq_seg seg[VIRTQ_MAX_SIZE];
};

/*
 * Walk the chain starting at `head` in a descriptor table of `size`
 * entries.  Returns 0 (the chain is complete in *c; c->err may still name
 * a per-buffer problem) or -VIRTQ_E_* for a structural error.
 */
int virtq_walk(const struct virtq_desc *table, unsigned int size, uint16_t head,
	       const struct virtq_limits *lim, struct virtq_chain *c);

/* One split queue with its rings mapped (valid while the rings are pinned). */
struct virtq {
	unsigned int size;              /* entries, power of 2, <= VIRTQ_MAX_SIZE */
	struct virtq_desc *desc;
	uint8_t *avail;                 /* flags, idx, ring[size], used_event */
	uint8_t *used;                  /* flags, idx, ring[size], avail_event */
	uint16_t last_avail;            /* next avail entry the device consumes */
	uint16_t used_idx;              /* next used entry the device fills */
};

/*
 * Take the next available head.  Returns 1 (*head set), 0 (ring empty) or
 * -VIRTQ_E_AVAIL / -VIRTQ_E_HEAD.
 */
int virtq_pop(struct virtq *q, uint16_t *head);

/* Publish a used element (release ordering for the idx store). */
void virtq_push(struct virtq *q, uint16_t head, uint32_t len);

#endif
