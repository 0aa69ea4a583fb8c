/*
 * vhost_user_blk.h - a virtio-blk device whose queue is served by an
 * external vhost-user back-end (qemu-storage-daemon's vhost-user-blk
 * export, for instance): hvswap keeps the virtio-mmio transport towards the
 * guest and speaks vhost-user towards the back-end (vhost_user.h).
 *
 * Guest RAM must be a memfd (--mem-backing memfd): the back-end maps it and
 * reads the rings and buffers itself.  The guest's QueueNotify becomes a
 * write to the ring's kick eventfd; the back-end's call eventfd becomes
 * InterruptStatus (and the interrupt line of a Linux guest).  When the
 * back-end offers the PAGEFAULT protocol feature, hvswap runs it in
 * postcopy mode for the whole life of the VM: the back-end's mapping of
 * guest RAM is registered with its userfaultfd, which hvswap reads, so a
 * page missing from the memfd (dropped or swapped out) is brought in
 * through the memory/pin API (gm_pin) and the back-end woken (UFFDIO_WAKE).
 *
 * Threads: the transport hooks run on vCPU threads (under the transport
 * lock); one device thread ("hv-vhost") reads the call eventfd, the
 * back-end's userfaultfd and watches the socket for a hang-up.  A back-end
 * that dies, stalls past the timeout or answers wrongly stops the VM with
 * the reason (status 125).
 */
#ifndef HVSWAP_VMM_VHOST_USER_BLK_H
#define HVSWAP_VMM_VHOST_USER_BLK_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct vhost_user_blk;
struct virtio_dev_ops;
struct virtio_mmio_dev;
struct json_object;

/* How long hvswap waits for any one reply of the back-end. */
#define VHOST_USER_BLK_TIMEOUT_MS 10000

/*
 * Connect to the back-end at `path` (or use the connected socket `fd` when
 * path is NULL; taken over even on failure), negotiate, read the capacity,
 * set up postcopy if offered and send the memory table.  On failure a
 * one-line reason is in err and nothing is left behind.
 */
int vhost_user_blk_create(struct vm *vm, const char *path, int fd, int timeout_ms,
			  struct vhost_user_blk **out, char *err, size_t errlen);
/* The transport ops of this device (valid until destroy). */
const struct virtio_dev_ops *vhost_user_blk_ops(struct vhost_user_blk *b);
/* Attach the transport it was registered with and start the device
 * thread.  Before the vCPUs run. */
int vhost_user_blk_attach(struct vhost_user_blk *b, struct virtio_mmio_dev *mmio);
/* After the vCPUs stopped: stop the rings (GET_VRING_BASE) and postcopy
 * while the thread still serves faults, then stop the thread. */
void vhost_user_blk_shutdown(struct vhost_user_blk *b);
void vhost_user_blk_destroy(struct vhost_user_blk *b);

uint64_t vhost_user_blk_capacity(const struct vhost_user_blk *b);     /* sectors */
/* Faults of the back-end served so far (tests). */
uint64_t vhost_user_blk_faults(const struct vhost_user_blk *b);
/* The device's half of the postcopy translation (tests): the back-end's
 * address of guest-physical gpa, or 0 when not in postcopy. */
uint64_t vhost_user_blk_client_addr(const struct vhost_user_blk *b, uint64_t gpa);

struct json_object *vhost_user_blk_stats_json(struct vhost_user_blk *b);

#endif
