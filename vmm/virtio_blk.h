/*
 * virtio_blk.h - virtio-blk (virtio 1.x, 5.2) backed by a host file.
 *
 * Requests: IN, OUT, FLUSH, GET_ID; anything else completes UNSUPP.  Any
 * descriptor layout is accepted (header and data may be split across
 * descriptors arbitrarily); guest memory is reached only through gm_pin()
 * for the duration of each request.  A request whose buffers are bad
 * completes IOERR; one without a usable status byte cannot be completed and
 * puts the device into DEVICE_NEEDS_RESET (via the transport).
 */
#ifndef HVSWAP_VMM_VIRTIO_BLK_H
#define HVSWAP_VMM_VIRTIO_BLK_H

#include <stddef.h>
#include <stdint.h>

#include "virtio_mmio.h"

struct vm;
struct virtio_blk;
struct json_object;

#define VIRTIO_ID_BLOCK         2u
#define VIRTIO_BLK_T_IN         0u
#define VIRTIO_BLK_T_OUT        1u
#define VIRTIO_BLK_T_FLUSH      4u
#define VIRTIO_BLK_T_GET_ID     8u
#define VIRTIO_BLK_S_OK         0u
#define VIRTIO_BLK_S_IOERR      1u
#define VIRTIO_BLK_S_UNSUPP     2u
#define VIRTIO_BLK_F_SEG_MAX    2
#define VIRTIO_BLK_F_FLUSH      9
#define VIRTIO_BLK_ID_BYTES     20u
#define VIRTIO_BLK_SECTOR       512u
#define VIRTIO_BLK_MAX_DATA     (4u << 20)      /* bytes of data per request */
#define VIRTIO_BLK_QUEUE_MAX    256u

extern const struct virtio_dev_ops virtio_blk_ops;

/*
 * Open the backing file: `path` (created if missing, extended with zeros to
 * `size` bytes if smaller), or with path NULL an unlinked temporary file of
 * `size` bytes in /var/tmp.  The capacity is the file size in 512-byte
 * sectors.  On failure a one-line reason is in err.
 */
int virtio_blk_create(struct vm *vm, const char *path, uint64_t size,
		      struct virtio_blk **out, char *err, size_t errlen);
void virtio_blk_destroy(struct virtio_blk *b);
/* The swap mapper (--swap-mapper): register the disk with the VM's swapper
 * as a mirror; reads then note the pages they fill whole, writes first
 * take pages off the blocks they change (swapper_mirror_*).  0 or -errno
 * (the device works on without it). */
int virtio_blk_swap_mapper(struct virtio_blk *b, bool count_only);
uint64_t virtio_blk_capacity(const struct virtio_blk *b);      /* sectors */

/* Counters; call only while no request runs (after the vCPUs stopped) or
 * accept slightly torn values (they are read without the transport lock). */
struct json_object *virtio_blk_stats_json(struct virtio_blk *b);

#endif
