/*
 * virtio_balloon.h - virtio-balloon (virtio 1.x, 5.5) over virtio-mmio,
 * with the host discarding the pages the guest puts in the balloon.
 *
 * Queues: 0 inflateq, 1 deflateq, 2 statsq.  Features offered:
 * MUST_TELL_HOST (the driver deflates before it reuses a page) and
 * STATS_VQ.  Config: num_pages (the host's target, read-only for the
 * driver) and actual (written by the driver).
 *
 * Inflate: every listed page frame is checked against guest RAM and the
 * balloon's own bitmap, then discarded - through the swapper when there is
 * one (swapper_discard: resident copy, swap slot or staged copy dropped,
 * out of the resident count), else MADV_DONTNEED (anonymous RAM) or a hole
 * punched in the memfd.  Deflate: the page leaves the balloon; its next
 * access is a zero fill.  Stats: the driver's tagged values are kept, the
 * buffer is used at once (the driver refills it when it likes: there is no
 * interrupt to ask for fresh statistics).
 *
 * Everything in the queues is hostile: bad frames, buffers in the wrong
 * direction or outside RAM, lengths that are not a whole number of entries,
 * double inflates, deflates of pages not in the balloon are skipped with a
 * rate-limited warning and counted; nothing a guest sends stops the VMM.
 */
#ifndef HVSWAP_VMM_VIRTIO_BALLOON_H
#define HVSWAP_VMM_VIRTIO_BALLOON_H

#include <stdint.h>

#include "virtio_mmio.h"

struct vm;
struct virtio_balloon;
struct json_object;

#define VIRTIO_ID_BALLOON               5u
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ       1
#define VIRTIO_BALLOON_PFN_SHIFT        12
#define VIRTIO_BALLOON_QUEUE_MAX        64u
#define VIRTIO_BALLOON_NR_STATS         16u     /* tags kept (0..15) */

extern const struct virtio_dev_ops virtio_balloon_ops;

int virtio_balloon_create(struct vm *vm, struct virtio_balloon **out);
void virtio_balloon_destroy(struct virtio_balloon *b);
/* The host's target (config num_pages), in 4 KiB pages. */
void virtio_balloon_set_target(struct virtio_balloon *b, uint32_t pages);

/* Counters, the guest's last statistics and the last inflate/deflate
 * events with the host's resident size after each.  Safe while the VM
 * runs. */
struct json_object *virtio_balloon_stats_json(struct virtio_balloon *b);

#endif
