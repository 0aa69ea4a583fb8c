/*
 * vhost_shadow.h - the shadow virtqueue between a guest and a vhost-user
 * back-end: what lets the swapper evict guest memory that an external
 * process reads and writes (docs/hard-cases.md, "A device process faulting
 * on swapped guest memory").
 *
 * The back-end never sees the guest's rings.  It is given a descriptor
 * table, an avail ring and a used ring in a small memfd of hvswap's own
 * (a second region of the vhost-user memory table).  At each QueueNotify
 * (vCPU thread) hvswap walks the guest's new avail entries, validates each
 * chain (virtq_walk: ranges inside guest RAM, order, size, no loops, no
 * indirect tables), pins every buffer (gm_pin; write pins for
 * device-writable ones), copies the validated descriptors into the shadow
 * table and only then publishes the head in the shadow avail ring and
 * kicks.  When the back-end calls, the device thread reads the shadow used
 * ring, unpins each completed chain and copies its used element into the
 * guest's used ring, then raises the interrupt.  So a buffer is pinned -
 * resident and never evicted - for the whole time the back-end can reach
 * it, whether the back-end waits for kicks or polls its avail ring, and a
 * guest that rewrites a descriptor after making it available changes
 * nothing the back-end reads.  Notification suppression needs nothing
 * either: the guest's used->flags is never set (hvswap owns that ring), so
 * the guest notifies every time; EVENT_IDX is not offered to the guest.
 *
 * Bounds: at most VHOST_SHADOW_PIN_CAP bytes of buffers are pinned per
 * queue; a chain that would exceed it waits in the guest's avail ring
 * until completions make room (the first chain always goes).  A chain is
 * at most `max_chain_bytes`.  A malformed chain, a descriptor reused while
 * in flight or a buffer that cannot be pinned breaks the queue (the
 * transport marks the device DEVICE_NEEDS_RESET); nothing of that chain
 * reaches the back-end.
 *
 * Locking: one mutex per shadow queue; the vCPU's notify and the device
 * thread's completion take it, and pin under it (lock order: transport
 * lock -> shadow lock -> swapper locks).  The device thread never holds it
 * while it waits for the transport lock or the back-end, and nothing
 * waits for the back-end under it.
 */
#ifndef HVSWAP_VMM_VHOST_SHADOW_H
#define HVSWAP_VMM_VHOST_SHADOW_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct vhost_shadow;
struct virtio_queue_cfg;
struct json_object;

/* Bytes of guest buffers pinned per queue at most. */
#define VHOST_SHADOW_PIN_CAP    (16ull << 20)
/* Guest-physical address the back-end is told the shadow region has: far
 * above any guest RAM; no guest descriptor may point there (they are all
 * checked to lie in guest RAM). */
#define VHOST_SHADOW_GPA        (1ull << 46)

/* Back-end addresses (our mapping) of one started shadow ring. */
struct vhost_shadow_rings {
	uint64_t desc, avail, used;
	uint64_t avail_idx, used_idx;   /* their idx fields (for a watchdog) */
};

int vhost_shadow_create(struct vm *vm, uint64_t max_chain_bytes,
			struct vhost_shadow **out);
void vhost_shadow_destroy(struct vhost_shadow *s);
/* The region to add to the memory table: memfd, our mapping, size. */
int vhost_shadow_memfd(const struct vhost_shadow *s);
void *vhost_shadow_host(const struct vhost_shadow *s);
uint64_t vhost_shadow_size(const struct vhost_shadow *s);

/* DRIVER_OK: the guest's queue q; fills the back-end's ring addresses. */
void vhost_shadow_start(struct vhost_shadow *s, const struct virtio_queue_cfg *q,
			struct vhost_shadow_rings *r);
/* The back-end's ring stopped (or is gone): unpin everything in flight. */
void vhost_shadow_stop(struct vhost_shadow *s);

/*
 * QueueNotify (vCPU): forward the guest's new chains.  Returns how many
 * were published (the caller kicks when > 0), or -EINVAL for a malformed
 * chain / -errno for a pin failure: the queue is broken and the reason is
 * in vhost_shadow_error().
 */
int vhost_shadow_notify(struct vhost_shadow *s);
/*
 * The back-end called (device thread): completed chains unpinned and
 * moved to the guest's used ring; chains held back for the pin cap are
 * forwarded.  Returns 0, or -EPROTO when the back-end named a head that is
 * not in flight (the reason in vhost_shadow_error()).  *completed and
 * *forwarded say whether to raise the interrupt and to kick.
 */
int vhost_shadow_complete(struct vhost_shadow *s, unsigned int *completed,
			  unsigned int *forwarded);
const char *vhost_shadow_error(struct vhost_shadow *s);

struct json_object *vhost_shadow_stats_json(struct vhost_shadow *s);

#endif
