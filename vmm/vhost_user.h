/*
 * vhost_user.h - the front-end side of the vhost-user protocol (QEMU's
 * docs/interop/vhost-user.rst): one Unix-socket connection to an external
 * device back-end, the messages hvswap sends and the replies it accepts.
 *
 * A message is a 12-byte header {request, flags, size} and `size` bytes of
 * payload, with file descriptors as SCM_RIGHTS ancillary data.  The
 * front-end sends requests; the back-end answers only the ones that have a
 * reply (GET_*, POSTCOPY_*, and any request sent with NEED_REPLY once
 * REPLY_ACK is negotiated).  Every wait for a reply is bounded by the
 * connection's timeout; a reply that is late, malformed (wrong request,
 * flags, size or fd count) or missing makes the connection *broken*: the
 * first error is kept (vhost_user_error()) and every later call fails at
 * once with -EPIPE, so a misbehaving back-end costs one timeout at most.
 *
 * Postcopy (protocol feature PAGEFAULT): POSTCOPY_ADVISE returns the
 * back-end's userfaultfd; after POSTCOPY_LISTEN, SET_MEM_TABLE is answered
 * with the table itself, each region's userspace_addr replaced by where the
 * back-end mapped it (its fault addresses are in that space), and the
 * front-end acknowledges with a u64 0 once it can serve faults.
 *
 * Not thread-safe: one thread at a time per connection (the device's
 * transport lock, or set-up/teardown with no vCPU running).
 */
#ifndef HVSWAP_VMM_VHOST_USER_H
#define HVSWAP_VMM_VHOST_USER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_POSTCOPY_ADVISE = 28,
	VHOST_USER_POSTCOPY_LISTEN = 29,
	VHOST_USER_POSTCOPY_END = 30,
};

#define VHOST_USER_VERSION              0x1u
#define VHOST_USER_VERSION_MASK         0x3u
#define VHOST_USER_REPLY_MASK           (1u << 2)
#define VHOST_USER_NEED_REPLY_MASK      (1u << 3)

#define VHOST_USER_F_PROTOCOL_FEATURES  30      /* a virtio feature bit */
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_PAGEFAULT 8
#define VHOST_USER_PROTOCOL_F_CONFIG    9

#define VHOST_USER_MAX_REGIONS          8
#define VHOST_USER_MAX_CONFIG           256
#define VHOST_USER_MAX_FDS              8
#define VHOST_USER_HDR_SIZE             12u
/* The largest payload hvswap accepts (a full memory table or config). */
#define VHOST_USER_MAX_PAYLOAD          512u

struct vhost_user_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};

struct vhost_user_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

struct vhost_user_memory {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_region regions[VHOST_USER_MAX_REGIONS];
};

struct vhost_user_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vhost_user_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
};

struct vhost_user_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VHOST_USER_MAX_CONFIG];
};

/* One guest memory region as the front-end has it. */
struct vhost_user_mem {
	uint64_t gpa, size;
	void *host;             /* the front-end's mapping */
	int fd;                 /* memfd (shared with the back-end) */
	uint64_t fd_offset;
};

/* One virtqueue, in the front-end's address space (vhost-user ring
 * addresses are front-end virtual addresses). */
struct vhost_user_vring {
	unsigned int index, num;
	uint64_t desc, avail, used;     /* front-end virtual addresses */
	uint16_t base;                  /* next avail index to process */
	int kick_fd, call_fd;
};

struct vhost_user;

/*
 * Connect to the back-end listening at `path` (a Unix socket).  Every later
 * wait for a reply gives up after timeout_ms; a wait interrupted by a
 * signal gives up at once when *cancel is true (the VM is stopping).
 * Returns 0 or -errno with a one-line reason in err.
 */
int vhost_user_connect(const char *path, int timeout_ms, const _Atomic bool *cancel,
		       struct vhost_user **out, char *err, size_t errlen);
/* The same over an already connected socket (tests); takes ownership. */
int vhost_user_open_fd(int fd, const char *name, int timeout_ms,
		       const _Atomic bool *cancel, struct vhost_user **out);
/* Close the socket (and our copy of the back-end's userfaultfd). */
void vhost_user_close(struct vhost_user *vu);

/* The first error, or "" while the connection is healthy. */
const char *vhost_user_error(const struct vhost_user *vu);
bool vhost_user_broken(const struct vhost_user *vu);
int vhost_user_sock(const struct vhost_user *vu);

/*
 * Negotiate: SET_OWNER, GET_FEATURES (VERSION_1 and PROTOCOL_FEATURES
 * required), GET/SET_PROTOCOL_FEATURES (REPLY_ACK and CONFIG always taken
 * when offered, PAGEFAULT when `postcopy`; CONFIG is required).
 * *features: the back-end's virtio features.
 */
int vhost_user_negotiate(struct vhost_user *vu, bool postcopy, uint64_t *features);
/* Did negotiation take the PAGEFAULT (postcopy) protocol feature? */
bool vhost_user_has_postcopy(const struct vhost_user *vu);

/* GET_CONFIG of [offset, offset+len) into buf (len <= 256). */
int vhost_user_get_config(struct vhost_user *vu, uint32_t offset, void *buf,
			  uint32_t len);
int vhost_user_set_features(struct vhost_user *vu, uint64_t features);

/*
 * POSTCOPY_ADVISE then POSTCOPY_LISTEN: *uffd is the back-end's
 * userfaultfd (checked to be one), ours to read until vhost_user_close()
 * closes it.  Call before vhost_user_set_mem_table().
 */
int vhost_user_postcopy_listen(struct vhost_user *vu, int *uffd);
/*
 * SET_MEM_TABLE with n regions (n <= 8).  Under postcopy the reply's
 * addresses are checked (same regions, page-aligned, no wrap) and stored
 * in client_base[i] (the back-end's address of regions[i].gpa); then the
 * acknowledgement is sent - the caller must be ready to serve faults.
 * client_base may be NULL without postcopy.
 */
int vhost_user_set_mem_table(struct vhost_user *vu, const struct vhost_user_mem *m,
			     unsigned int n, uint64_t *client_base);
/* POSTCOPY_END (reply checked). */
int vhost_user_postcopy_end(struct vhost_user *vu);

/* SET_VRING_NUM/BASE/ADDR/KICK/CALL, then SET_VRING_ENABLE 1. */
int vhost_user_vring_start(struct vhost_user *vu, const struct vhost_user_vring *r);
/* SET_VRING_ENABLE 0, then GET_VRING_BASE (the ring stops); *base set. */
int vhost_user_vring_stop(struct vhost_user *vu, unsigned int index, uint16_t *base);

/*
 * Check a received reply to `req`, given as its header, payload length and
 * fd count: the request matches, flags say version 1 and reply, and the
 * size and the number of fds are what that reply carries (`want_size`:
 * the payload size that request's reply must have; GET_CONFIG also
 * accepts 0, the back-end's "failed").  Pure; the parser the fuzz harness
 * drives.  Returns 0 or -EPROTO with a one-line reason in err.
 */
int vhost_user_check_reply(uint32_t req, const struct vhost_user_hdr *h,
			   uint32_t want_size, unsigned int nfds, char *err, size_t errlen);
/*
 * Check a postcopy SET_MEM_TABLE reply (`reply`, `len` payload bytes)
 * against the table sent: the same number of regions, each with the same
 * guest address, size and offset, and a back-end address that is page
 * aligned and does not wrap.  Fills client_base[].  Pure (fuzzed).
 */
int vhost_user_check_mem_reply(const struct vhost_user_memory *sent,
			       const void *reply, size_t len, uint64_t *client_base,
			       char *err, size_t errlen);

/*
 * vhost_user_peer.c: where the peer of Unix socket `sock` mapped `memfd`
 * (the mapping of its inode at offset 0 and `size` bytes, from
 * /proc/PID/maps, PID by SO_PEERCRED; `ours` is skipped when the peer is
 * this process).  0 and *base, -ENOENT (none or several), or -errno.
 */
int vhost_user_peer_mapping(int sock, int memfd, uint64_t size, uint64_t ours,
			    uint64_t *base);

#endif
