/*
 * vhost_user.c - vhost-user front-end: messages to a back-end over a Unix
 * socket, every reply checked, every wait bounded (see vhost_user.h).
 *
 * Owns: struct vhost_user (the socket, the negotiated features, our copy
 * of the back-end's userfaultfd, the first error).
 * Locking: none; callers serialise (vhost_user.h).
 * Invariants: once `broken` is set it stays set and no further byte is
 * sent or read; a reply is read in two steps (the 12-byte header with any
 * fds, then exactly `size` payload bytes, size <= VHOST_USER_MAX_PAYLOAD),
 * so a back-end that sends less stalls the wait into its timeout and one
 * that sends more is caught by the size check; fds received with a reply
 * that must not carry them are closed before the error is returned.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hvswap/log.h"
#include "vhost_user.h"

#define PAGE_SIZE_4K 4096ull

struct vhost_user {
	int sock;
	int timeout_ms;
	const _Atomic bool *cancel;
	char name[108];
	uint64_t protocol;              /* negotiated protocol features */
	int uffd;                       /* back-end's userfaultfd, or -1 */
	bool broken;
	char err[256];
};

static const char *req_name(uint32_t req)
{
	switch (req) {
	case VHOST_USER_GET_FEATURES: return "GET_FEATURES";
	case VHOST_USER_SET_FEATURES: return "SET_FEATURES";
	case VHOST_USER_SET_OWNER: return "SET_OWNER";
	case VHOST_USER_SET_MEM_TABLE: return "SET_MEM_TABLE";
	case VHOST_USER_SET_VRING_NUM: return "SET_VRING_NUM";
	case VHOST_USER_SET_VRING_ADDR: return "SET_VRING_ADDR";
	case VHOST_USER_SET_VRING_BASE: return "SET_VRING_BASE";
	case VHOST_USER_GET_VRING_BASE: return "GET_VRING_BASE";
	case VHOST_USER_SET_VRING_KICK: return "SET_VRING_KICK";
	case VHOST_USER_SET_VRING_CALL: return "SET_VRING_CALL";
	case VHOST_USER_GET_PROTOCOL_FEATURES: return "GET_PROTOCOL_FEATURES";
	case VHOST_USER_SET_PROTOCOL_FEATURES: return "SET_PROTOCOL_FEATURES";
	case VHOST_USER_SET_VRING_ENABLE: return "SET_VRING_ENABLE";
	case VHOST_USER_GET_CONFIG: return "GET_CONFIG";
	case VHOST_USER_POSTCOPY_ADVISE: return "POSTCOPY_ADVISE";
	case VHOST_USER_POSTCOPY_LISTEN: return "POSTCOPY_LISTEN";
	case VHOST_USER_POSTCOPY_END: return "POSTCOPY_END";
	default: return "?";
	}
}

/* Record the first error and mark the connection broken.  Returns r. */
static int fail(struct vhost_user *vu, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct vhost_user *vu, int r, const char *fmt, ...)
{
	va_list ap;

	if (!vu->broken) {
		va_start(ap, fmt);
		vsnprintf(vu->err, sizeof(vu->err), fmt, ap);
		va_end(ap);
		vu->broken = true;
	}
	return r;
}

const char *vhost_user_error(const struct vhost_user *vu)
{
	return vu->err;
}

bool vhost_user_broken(const struct vhost_user *vu)
{
	return vu->broken;
}

int vhost_user_sock(const struct vhost_user *vu)
{
	return vu->sock;
}

bool vhost_user_has_postcopy(const struct vhost_user *vu)
{
	return vu->protocol & (1ull << VHOST_USER_PROTOCOL_F_PAGEFAULT);
}

/* ---- the pure checks (fuzzed) --------------------------------------------- */

int vhost_user_check_reply(uint32_t req, const struct vhost_user_hdr *h,
			   uint32_t want_size, unsigned int nfds, char *err, size_t errlen)
{
	unsigned int want_fds = req == VHOST_USER_POSTCOPY_ADVISE ? 1 : 0;

	if (h->request != req) {
		snprintf(err, errlen, "reply to %s (%u) names request %" PRIu32,
			 req_name(req), req, h->request);
		return -EPROTO;
	}
	if ((h->flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    !(h->flags & VHOST_USER_REPLY_MASK)) {
		snprintf(err, errlen, "reply to %s has flags 0x%" PRIx32 " (want version 1 "
			 "and the reply bit)", req_name(req), h->flags);
		return -EPROTO;
	}
	if (h->size != want_size && !(req == VHOST_USER_GET_CONFIG && h->size == 0)) {
		snprintf(err, errlen, "reply to %s has %" PRIu32 " payload bytes, want %"
			 PRIu32, req_name(req), h->size, want_size);
		return -EPROTO;
	}
	if (nfds != want_fds) {
		snprintf(err, errlen, "reply to %s carries %u file descriptors, want %u",
			 req_name(req), nfds, want_fds);
		return -EPROTO;
	}
	return 0;
}

int vhost_user_check_mem_reply(const struct vhost_user_memory *sent,
			       const void *reply, size_t len, uint64_t *client_base,
			       char *err, size_t errlen)
{
	struct vhost_user_memory got;
	size_t want = 8 + (size_t)sent->nregions * sizeof(struct vhost_user_region);
	unsigned int i;

	if (len != want || sent->nregions > VHOST_USER_MAX_REGIONS) {
		snprintf(err, errlen, "postcopy SET_MEM_TABLE reply has %zu bytes, want %zu",
			 len, want);
		return -EPROTO;
	}
	memset(&got, 0, sizeof(got));
	memcpy(&got, reply, len);
	if (got.nregions != sent->nregions) {
		snprintf(err, errlen, "postcopy SET_MEM_TABLE reply lists %" PRIu32
			 " regions, %" PRIu32 " were sent", got.nregions, sent->nregions);
		return -EPROTO;
	}
	for (i = 0; i < got.nregions; i++) {
		const struct vhost_user_region *a = &sent->regions[i], *b = &got.regions[i];

		if (a->guest_phys_addr != b->guest_phys_addr ||
		    a->memory_size != b->memory_size || a->mmap_offset != b->mmap_offset) {
			snprintf(err, errlen, "postcopy SET_MEM_TABLE reply: region %u "
				 "changed (gpa 0x%" PRIx64 " size 0x%" PRIx64 ")", i,
				 b->guest_phys_addr, b->memory_size);
			return -EPROTO;
		}
		if (b->userspace_addr % PAGE_SIZE_4K || !b->userspace_addr ||
		    b->userspace_addr + b->memory_size < b->userspace_addr) {
			snprintf(err, errlen, "postcopy SET_MEM_TABLE reply: region %u at "
				 "back-end address 0x%" PRIx64 " (unaligned, null or "
				 "wrapping)", i, b->userspace_addr);
			return -EPROTO;
		}
		client_base[i] = b->userspace_addr;
	}
	return 0;
}

/* ---- sending and receiving ------------------------------------------------ */

static int send_msg(struct vhost_user *vu, uint32_t req, uint32_t flags,
		    const void *payload, uint32_t size, const int *fds, unsigned int nfds)
{
	struct vhost_user_hdr h = { req, VHOST_USER_VERSION | flags, size };
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)payload, size } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
	struct cmsghdr *c;
	ssize_t n;

	if (vu->broken)
		return -EPIPE;
	if (nfds) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do {
		n = sendmsg(vu->sock, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR && !(vu->cancel && atomic_load(vu->cancel)));
	if (n < 0)
		return fail(vu, -errno, "sending %s: %s", req_name(req), strerror(errno));
	if ((size_t)n != sizeof(h) + size)      /* SO_SNDTIMEO expired mid-way */
		return fail(vu, -EIO, "sending %s: short write (%zd of %zu bytes)",
			    req_name(req), n, sizeof(h) + size);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until the socket is readable, at most until deadline (ms). */
static int wait_readable(struct vhost_user *vu, uint32_t req, int64_t deadline)
{
	struct pollfd p = { .fd = vu->sock, .events = POLLIN };
	int64_t left;
	int r;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return fail(vu, -ETIMEDOUT, "no reply to %s within %d ms: the "
				    "back-end stalls", req_name(req), vu->timeout_ms);
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return fail(vu, -errno, "waiting for %s: %s", req_name(req),
				    strerror(errno));
		if (r < 0 && vu->cancel && atomic_load(vu->cancel))
			return fail(vu, -ECANCELED, "waiting for %s: the VM is stopping",
				    req_name(req));
	}
}

static void close_fds(int *fds, unsigned int n)
{
	while (n)
		close(fds[--n]);
}

/* recvmsg the header and its fds (MSG_CMSG_CLOEXEC); *nfds set. */
static int recv_hdr(struct vhost_user *vu, uint32_t req, struct vhost_user_hdr *h,
		    int *fds, unsigned int *nfds, int64_t deadline)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { h, sizeof(*h) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	ssize_t n;
	size_t k;
	int r;

	*nfds = 0;
	do {
		r = wait_readable(vu, req, deadline);
		if (r < 0)
			return r;
		n = recvmsg(vu->sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	} while (n < 0 && (errno == EAGAIN || errno == EINTR));
	for (c = CMSG_FIRSTHDR(&mh); n >= 0 && c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (k > VHOST_USER_MAX_FDS - *nfds)
			k = VHOST_USER_MAX_FDS - *nfds;
		memcpy(fds + *nfds, CMSG_DATA(c), k * sizeof(int));
		*nfds += (unsigned int)k;
	}
	if (n < 0)
		return fail(vu, -errno, "reading the reply to %s: %s", req_name(req),
			    strerror(errno));
	if (n == 0) {
		close_fds(fds, *nfds);
		return fail(vu, -ECONNRESET, "the back-end closed the connection "
			    "instead of answering %s", req_name(req));
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		close_fds(fds, *nfds);
		return fail(vu, -EPROTO, "reply to %s: more file descriptors than %d",
			    req_name(req), VHOST_USER_MAX_FDS);
	}
	if ((size_t)n < sizeof(*h)) {           /* the rest of the header */
		size_t got = (size_t)n;

		while (got < sizeof(*h)) {
			r = wait_readable(vu, req, deadline);
			n = r < 0 ? -1 : recv(vu->sock, (char *)h + got, sizeof(*h) - got,
					      MSG_DONTWAIT);
			if (n <= 0) {
				close_fds(fds, *nfds);
				return r < 0 ? r : fail(vu, -EPROTO, "reply to %s: the header "
							"is cut short", req_name(req));
			}
			got += (size_t)n;
		}
	}
	return 0;
}

/* Read exactly len payload bytes. */
static int recv_payload(struct vhost_user *vu, uint32_t req, void *buf, size_t len,
			int64_t deadline)
{
	size_t got = 0;
	ssize_t n;
	int r;

	while (got < len) {
		r = wait_readable(vu, req, deadline);
		if (r < 0)
			return r;
		n = recv(vu->sock, (char *)buf + got, len - got, MSG_DONTWAIT);
		if (n == 0)
			return fail(vu, -ECONNRESET, "the back-end closed the connection "
				    "in the middle of its reply to %s", req_name(req));
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return fail(vu, -errno, "reading the reply to %s: %s",
				    req_name(req), strerror(errno));
		if (n > 0)
			got += (size_t)n;
	}
	return 0;
}

/*
 * Receive the reply to `req` into payload (want_size bytes; GET_CONFIG may
 * get 0: *got says).  fd: where the one fd of an ADVISE reply goes.
 */
static int recv_reply(struct vhost_user *vu, uint32_t req, void *payload,
		      uint32_t want_size, uint32_t *got, int *fd)
{
	int64_t deadline = now_ms() + vu->timeout_ms;
	int fds[VHOST_USER_MAX_FDS];
	struct vhost_user_hdr h;
	unsigned int nfds;
	char why[200];
	int r;

	if (vu->broken)
		return -EPIPE;
	r = recv_hdr(vu, req, &h, fds, &nfds, deadline);
	if (r < 0)
		return r;
	r = vhost_user_check_reply(req, &h, want_size, nfds, why, sizeof(why));
	if (r < 0) {
		close_fds(fds, nfds);
		return fail(vu, r, "bad reply: %s", why);
	}
	r = recv_payload(vu, req, payload, h.size, deadline);
	if (r < 0) {
		close_fds(fds, nfds);
		return r;
	}
	if (fd)
		*fd = nfds ? fds[0] : -1;
	if (got)
		*got = h.size;
	return 0;
}

/* A u64 status reply to req (REPLY_ACK, POSTCOPY_LISTEN/END): 0 = done. */
static int recv_ack(struct vhost_user *vu, uint32_t req)
{
	uint64_t v;
	int r;

	r = recv_reply(vu, req, &v, sizeof(v), NULL, NULL);
	if (r == 0 && v != 0)
		r = fail(vu, -EIO, "the back-end refused %s (status %" PRIu64 ")",
			 req_name(req), v);
	return r;
}

/* A request that has no reply of its own: with REPLY_ACK, ask for the ack
 * and check it is 0. */
static int request(struct vhost_user *vu, uint32_t req, const void *payload,
		   uint32_t size, const int *fds, unsigned int nfds)
{
	bool ack = vu->protocol & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK);
	int r;

	r = send_msg(vu, req, ack ? VHOST_USER_NEED_REPLY_MASK : 0, payload, size,
		     fds, nfds);
	if (r < 0 || !ack)
		return r;
	return recv_ack(vu, req);
}

static int get_u64(struct vhost_user *vu, uint32_t req, uint64_t *v)
{
	int r = send_msg(vu, req, 0, NULL, 0, NULL, 0);

	return r < 0 ? r : recv_reply(vu, req, v, sizeof(*v), NULL, NULL);
}

/* ---- connection ------------------------------------------------------------ */

int vhost_user_open_fd(int fd, const char *name, int timeout_ms,
		       const _Atomic bool *cancel, struct vhost_user **out)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	struct vhost_user *vu = calloc(1, sizeof(*vu));

	if (!vu) {
		close(fd);
		return -ENOMEM;
	}
	/* A back-end that stops reading cannot block a send forever either. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	vu->sock = fd;
	vu->timeout_ms = timeout_ms;
	vu->cancel = cancel;
	vu->uffd = -1;
	snprintf(vu->name, sizeof(vu->name), "%s", name);
	*out = vu;
	return 0;
}

int vhost_user_connect(const char *path, int timeout_ms, const _Atomic bool *cancel,
		       struct vhost_user **out, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "vhost-user socket path %s is too long (at most "
			 "%zu bytes)", path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot connect to the vhost-user back-end at %s: %s",
			 path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	r = vhost_user_open_fd(fd, path, timeout_ms, cancel, out);
	if (r < 0)
		snprintf(err, errlen, "out of memory");
	return r;
}

void vhost_user_close(struct vhost_user *vu)
{
	if (!vu)
		return;
	if (vu->uffd >= 0)
		close(vu->uffd);
	close(vu->sock);
	free(vu);
}

/* ---- the requests ------------------------------------------------------------ */

int vhost_user_negotiate(struct vhost_user *vu, bool postcopy, uint64_t *features)
{
	uint64_t want = (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
			(1ull << VHOST_USER_PROTOCOL_F_CONFIG);
	uint64_t f, pf;
	int r;

	r = send_msg(vu, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0);
	if (r == 0)
		r = get_u64(vu, VHOST_USER_GET_FEATURES, &f);
	if (r < 0)
		return r;
	if (!(f & (1ull << 32)) || !(f & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)))
		return fail(vu, -ENOTSUP, "the back-end offers features 0x%" PRIx64
			    " without VERSION_1 or PROTOCOL_FEATURES (a legacy back-end)",
			    f);
	r = get_u64(vu, VHOST_USER_GET_PROTOCOL_FEATURES, &pf);
	if (r < 0)
		return r;
	if (!(pf & (1ull << VHOST_USER_PROTOCOL_F_CONFIG)))
		return fail(vu, -ENOTSUP, "the back-end does not offer the CONFIG "
			    "protocol feature (protocol features 0x%" PRIx64 "): no "
			    "way to learn the disk's capacity", pf);
	if (postcopy)
		want |= 1ull << VHOST_USER_PROTOCOL_F_PAGEFAULT;
	want &= pf;
	r = send_msg(vu, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &want, sizeof(want),
		     NULL, 0);
	if (r < 0)
		return r;
	vu->protocol = want;
	*features = f;
	return 0;
}

int vhost_user_get_config(struct vhost_user *vu, uint32_t offset, void *buf,
			  uint32_t len)
{
	struct vhost_user_config c = { .offset = offset, .size = len };
	uint32_t size = 12 + len, got = 0;
	int r;

	if (len > VHOST_USER_MAX_CONFIG)
		return -EINVAL;
	r = send_msg(vu, VHOST_USER_GET_CONFIG, 0, &c, size, NULL, 0);
	if (r == 0)
		r = recv_reply(vu, VHOST_USER_GET_CONFIG, &c, size, &got, NULL);
	if (r < 0)
		return r;
	if (got == 0)
		return fail(vu, -EIO, "the back-end failed GET_CONFIG");
	if (c.offset != offset || c.size != len)
		return fail(vu, -EPROTO, "bad reply: GET_CONFIG answered offset %" PRIu32
			    " size %" PRIu32 " for offset %" PRIu32 " size %" PRIu32,
			    c.offset, c.size, offset, len);
	memcpy(buf, c.region, len);
	return 0;
}

int vhost_user_set_features(struct vhost_user *vu, uint64_t features)
{
	return request(vu, VHOST_USER_SET_FEATURES, &features, sizeof(features), NULL, 0);
}

/* Is fd a userfaultfd?  (A hostile back-end could hand over anything.) */
static bool is_uffd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return !strcmp(link, "anon_inode:[userfaultfd]");
}

int vhost_user_postcopy_listen(struct vhost_user *vu, int *uffd)
{
	int r, fd = -1;

	if (!vhost_user_has_postcopy(vu))
		return -ENOTSUP;
	r = send_msg(vu, VHOST_USER_POSTCOPY_ADVISE, 0, NULL, 0, NULL, 0);
	if (r == 0)
		r = recv_reply(vu, VHOST_USER_POSTCOPY_ADVISE, NULL, 0, NULL, &fd);
	if (r < 0)
		return r;
	if (!is_uffd(fd)) {
		close(fd);
		return fail(vu, -EPROTO, "bad reply: POSTCOPY_ADVISE handed over a file "
			    "descriptor that is not a userfaultfd");
	}
	vu->uffd = fd;
	r = send_msg(vu, VHOST_USER_POSTCOPY_LISTEN, 0, NULL, 0, NULL, 0);
	if (r == 0)
		r = recv_ack(vu, VHOST_USER_POSTCOPY_LISTEN);
	if (r == 0)
		*uffd = fd;
	return r;
}

int vhost_user_postcopy_end(struct vhost_user *vu)
{
	int r = send_msg(vu, VHOST_USER_POSTCOPY_END, 0, NULL, 0, NULL, 0);

	return r < 0 ? r : recv_ack(vu, VHOST_USER_POSTCOPY_END);
}

/* Under postcopy: the reply is the table with the back-end's addresses,
 * then our ack (a u64 0), then - with REPLY_ACK - the back-end's ack. */
static int mem_table_postcopy(struct vhost_user *vu, const struct vhost_user_memory *t,
			      uint32_t size, uint64_t *client_base)
{
	bool ack = vu->protocol & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK);
	struct vhost_user_memory reply;
	char why[200];
	uint64_t v = 0;
	int r;

	r = recv_reply(vu, VHOST_USER_SET_MEM_TABLE, &reply, size, NULL, NULL);
	if (r < 0)
		return r;
	r = vhost_user_check_mem_reply(t, &reply, size, client_base, why, sizeof(why));
	if (r < 0)
		return fail(vu, r, "bad reply: %s", why);
	r = send_msg(vu, VHOST_USER_SET_MEM_TABLE, 0, &v, sizeof(v), NULL, 0);
	if (r < 0 || !ack)
		return r;
	return recv_ack(vu, VHOST_USER_SET_MEM_TABLE);
}

int vhost_user_set_mem_table(struct vhost_user *vu, const struct vhost_user_mem *m,
			     unsigned int n, uint64_t *client_base)
{
	bool ack = vu->protocol & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK);
	struct vhost_user_memory t;
	int fds[VHOST_USER_MAX_REGIONS];
	uint32_t size;
	unsigned int i;
	int r;

	if (!n || n > VHOST_USER_MAX_REGIONS)
		return -EINVAL;
	memset(&t, 0, sizeof(t));
	t.nregions = n;
	for (i = 0; i < n; i++) {
		t.regions[i] = (struct vhost_user_region){
			.guest_phys_addr = m[i].gpa, .memory_size = m[i].size,
			.userspace_addr = (uint64_t)(uintptr_t)m[i].host,
			.mmap_offset = m[i].fd_offset,
		};
		fds[i] = m[i].fd;
	}
	size = 8 + n * (uint32_t)sizeof(struct vhost_user_region);
	r = send_msg(vu, VHOST_USER_SET_MEM_TABLE, ack ? VHOST_USER_NEED_REPLY_MASK : 0,
		     &t, size, fds, n);
	if (r < 0)
		return r;
	if (vu->uffd >= 0)
		return mem_table_postcopy(vu, &t, size, client_base);
	return ack ? recv_ack(vu, VHOST_USER_SET_MEM_TABLE) : 0;
}

static int vring_state(struct vhost_user *vu, uint32_t req, unsigned int index,
		       unsigned int num)
{
	struct vhost_user_vring_state s = { index, num };

	return request(vu, req, &s, sizeof(s), NULL, 0);
}

int vhost_user_vring_start(struct vhost_user *vu, const struct vhost_user_vring *v)
{
	struct vhost_user_vring_addr a = {
		.index = v->index, .desc_user_addr = v->desc,
		.used_user_addr = v->used, .avail_user_addr = v->avail,
	};
	uint64_t idx = v->index;
	int r;

	r = vring_state(vu, VHOST_USER_SET_VRING_NUM, v->index, v->num);
	if (r == 0)
		r = vring_state(vu, VHOST_USER_SET_VRING_BASE, v->index, v->base);
	if (r == 0)
		r = request(vu, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	if (r == 0)
		r = request(vu, VHOST_USER_SET_VRING_KICK, &idx, sizeof(idx), &v->kick_fd, 1);
	if (r == 0)
		r = request(vu, VHOST_USER_SET_VRING_CALL, &idx, sizeof(idx), &v->call_fd, 1);
	if (r == 0)
		r = vring_state(vu, VHOST_USER_SET_VRING_ENABLE, v->index, 1);
	return r;
}

int vhost_user_vring_stop(struct vhost_user *vu, unsigned int index, uint16_t *base)
{
	struct vhost_user_vring_state s = { index, 0 };
	int r;

	r = vring_state(vu, VHOST_USER_SET_VRING_ENABLE, index, 0);
	if (r == 0)
		r = send_msg(vu, VHOST_USER_GET_VRING_BASE, 0, &s, sizeof(s), NULL, 0);
	if (r == 0)
		r = recv_reply(vu, VHOST_USER_GET_VRING_BASE, &s, sizeof(s), NULL, NULL);
	if (r < 0)
		return r;
	if (s.index != index)
		return fail(vu, -EPROTO, "bad reply: GET_VRING_BASE answered for ring %"
			    PRIu32 ", asked for %u", s.index, index);
	*base = (uint16_t)s.num;
	return 0;
}
