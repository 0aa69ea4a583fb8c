/*
 * vhost_user_blk.c - virtio-blk served by a vhost-user back-end (see
 * vhost_user_blk.h): transport hooks, the device thread, postcopy faults.
 *
 * Owns: struct vhost_user_blk (the connection, the kick/call eventfds, the
 * back-end's userfaultfd and region bases, the device thread, counters).
 * Locking: the connection and `started` are used by one thread at a time:
 * the transport hooks run under the transport lock (vCPU threads), set-up
 * and shutdown run with no vCPU running.  The device thread only reads
 * eventfds and the userfaultfd, never the socket's data (it polls it for a
 * hang-up only), and reaches the transport through virtio_mmio_interrupt().
 * Counters are atomics.
 * Lock order: transport lock -> (swapper locks in gm_pin); the device
 * thread takes the transport lock only in virtio_mmio_interrupt() and
 * never while pinning, and a vCPU holding the transport lock never waits
 * for the device thread - so a back-end stuck in a fault while we wait for
 * its reply is still served.
 * Invariants: client_base[] and the regions are set before the thread
 * starts and constant after; a fault is woken only after its page is in
 * the memfd (pinned, and populated when no swapper manages it).
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hvswap/guest_abi.h"
#include "hvswap/log.h"
#include "vhost_shadow.h"
#include "vhost_user.h"
#include "vhost_user_blk.h"
#include "virtio_blk.h"
#include "virtio_mmio.h"
#include "vm.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23          /* Linux 5.14; headers may lack it */
#endif

#define NR_QUEUES       1
#define CONFIG_BYTES    24      /* capacity .. blk_size (virtio 5.2.4) */
#define PAGE            4096ull

/* Device features a guest may see: what the ring and config we expose
 * cover (no MQ, TOPOLOGY, WCE, DISCARD or WRITE_ZEROES: their config
 * fields lie beyond CONFIG_BYTES).  VERSION_1 is the transport's.  Not
 * INDIRECT_DESC (the shadow queue pins what a chain names; an indirect
 * table would be one more level to copy) nor EVENT_IDX (the guest's used
 * ring is hvswap's, so the guest notifies every time: each notify is
 * where its chains are pinned; vhost_shadow.h). */
#define GUEST_FEATURES ((1ull << 1) /* SIZE_MAX */ | (1ull << VIRTIO_BLK_F_SEG_MAX) | \
			(1ull << 4) /* GEOMETRY */ | (1ull << 5) /* RO */ |    \
			(1ull << 6) /* BLK_SIZE */ | (1ull << VIRTIO_BLK_F_FLUSH))
/* The longest chain accepted: the in-process device's data limit, plus
 * header and status. */
#define MAX_CHAIN_BYTES (VIRTIO_BLK_MAX_DATA + 64)

struct vhost_user_blk {
	struct vm *vm;
	struct vhost_user *vu;
	struct virtio_dev_ops ops;      /* per instance: features from the back-end */
	char name[128];                 /* the socket path, for messages */
	uint8_t config[CONFIG_BYTES];
	uint64_t capacity;
	int kick[NR_QUEUES], call[NR_QUEUES];
	/* the rings the back-end sees: buffers pinned while it can reach
	 * them (vhost_shadow.h) */
	struct vhost_shadow *sh[NR_QUEUES];
	bool started;                   /* rings handed to the back-end */
	int timeout_ms;
	/* The started ring's avail and used idx in our mapping, for the stall
	 * watchdog (device thread); 0 while stopped.  Set before the ring
	 * starts, cleared after it stopped. */
	_Atomic uintptr_t avail_idx, used_idx;
	/* The back-end stalled, hung up or faulted where it must not: the
	 * teardown sends it nothing more (each message would cost a timeout). */
	_Atomic bool failed;
	/* postcopy: constant once set up */
	int uffd;                       /* back-end's userfaultfd (vu owns it), or -1 */
	uint64_t client_base;           /* back-end's address of HV_RAM_BASE */
	uint64_t client_shadow;         /* ... of the shadow region (unused) */
	/* the device thread */
	struct virtio_mmio_dev *mmio;
	pthread_t thread;
	bool thread_started;
	int stop_fd;
	struct {
		_Atomic uint64_t kicks, calls, faults, fault_ns, fault_ns_max;
		_Atomic uint64_t fault_errors, rings_started, rings_stopped;
	} st;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The back-end failed: stop the VM with its error (first reason wins). */
static void backend_failed(struct vhost_user_blk *b, const char *what)
{
	atomic_store(&b->failed, true);
	vm_stop(b->vm, VM_STATUS_CRASH, "vhost-user-blk %s: %s%s%s", b->name, what,
		*vhost_user_error(b->vu) ? ": " : "", vhost_user_error(b->vu));
}

/* ---- transport hooks (vCPU thread, transport lock held) ------------------- */

static void blk_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct vhost_user_blk *b = dev;

	memcpy(buf, b->config + off, len);
}

static int blk_request(void *dev, unsigned int queue, const struct virtq_chain *c)
{
	(void)dev, (void)queue, (void)c;
	return -EINVAL;         /* never called: ->notify is set */
}

static int blk_start(void *dev, uint64_t features, const struct virtio_queue_cfg *q,
		     unsigned int nq)
{
	struct vhost_user_blk *b = dev;
	struct vhost_shadow_rings sr = { 0 };
	struct vhost_user_vring r;
	unsigned int i;
	int ret;

	if (nq != NR_QUEUES) {
		vm_warn(b->vm, "vhost-user-blk: driver set DRIVER_OK with %u ready "
			"queues (want %u)", nq, NR_QUEUES);
		return -EINVAL;
	}
	ret = vhost_user_set_features(b->vu, features |
				      (1ull << VHOST_USER_F_PROTOCOL_FEATURES));
	for (i = 0; ret == 0 && i < nq; i++) {
		/* the back-end gets the shadow rings, never the guest's */
		vhost_shadow_start(b->sh[q[i].index], &q[i], &sr);
		r = (struct vhost_user_vring){
			.index = q[i].index, .num = q[i].num, .base = 0,
			.desc = sr.desc, .avail = sr.avail, .used = sr.used,
			.kick_fd = b->kick[q[i].index], .call_fd = b->call[q[i].index],
		};
		ret = vhost_user_vring_start(b->vu, &r);
	}
	if (ret < 0) {
		for (i = 0; i < NR_QUEUES; i++)
			vhost_shadow_stop(b->sh[i]);
		backend_failed(b, "cannot start the ring");
		return ret;
	}
	b->started = true;
	atomic_store(&b->avail_idx, sr.avail_idx);
	atomic_store(&b->used_idx, sr.used_idx);
	atomic_fetch_add(&b->st.rings_started, 1);
	return 0;
}

static void kick(struct vhost_user_blk *b, unsigned int queue)
{
	uint64_t one = 1;

	atomic_fetch_add(&b->st.kicks, 1);
	if (write(b->kick[queue], &one, sizeof(one)) < 0)
		vm_warn(b->vm, "vhost-user-blk: kick: %s", strerror(errno));
}

/* The guest's chains are pinned and copied to the shadow ring before the
 * back-end is kicked (it can see them only from then on). */
static int blk_notify(void *dev, unsigned int queue)
{
	struct vhost_user_blk *b = dev;
	int r;

	if (queue >= NR_QUEUES || !b->started)
		return 0;
	r = vhost_shadow_notify(b->sh[queue]);
	if (r < 0) {
		vm_warn(b->vm, "vhost-user-blk: queue %u: %s", queue,
			vhost_shadow_error(b->sh[queue]));
		return r;
	}
	if (r > 0)
		kick(b, queue);
	return 0;
}

/* GET_VRING_BASE stops the ring (the back-end finishes what it took). */
static void blk_stop(void *dev)
{
	struct vhost_user_blk *b = dev;
	uint16_t base;
	unsigned int i;
	bool ok = true;

	if (!b->started)
		return;
	b->started = false;
	atomic_store(&b->avail_idx, 0);
	atomic_store(&b->used_idx, 0);
	for (i = 0; i < NR_QUEUES; i++) {
		if (vhost_user_vring_stop(b->vu, i, &base) < 0) {
			backend_failed(b, "cannot stop the ring");
			ok = false;
			break;
		}
	}
	/* the back-end has let the ring go (or is gone): no more pins */
	for (i = 0; i < NR_QUEUES; i++)
		vhost_shadow_stop(b->sh[i]);
	if (ok)
		atomic_fetch_add(&b->st.rings_stopped, 1);
}

/* ---- postcopy faults (device thread) ------------------------------------- */

/* Raw ioctl: the VMM's only userfaultfd call (the swapper has its own). */
static int wake_range(int uffd, uint64_t addr, uint64_t len)
{
	struct uffdio_range r = { .start = addr, .len = len };

	return ioctl(uffd, UFFDIO_WAKE, &r) < 0 ? -errno : 0;
}

/*
 * The back-end touched a page that is not in the memfd.  Bring it in
 * through the pin API (the swapper reads it from swap; without one it is
 * a hole), make sure it is in the memfd's page cache (MADV_POPULATE_WRITE
 * through our mapping: allocates a hole, leaves data alone), and wake the
 * back-end, whose retry then finds the page.  Returns 0, or -errno when the
 * page cannot be had (the VM is stopped; the back-end is not woken).
 */
static int serve_fault(struct vhost_user_blk *b, uint64_t addr, bool write)
{
	uint64_t t0 = now_ns(), page = addr & ~(PAGE - 1), gpa, dt, max;
	void *host;
	int r;

	if (page < b->client_base || page - b->client_base >= b->vm->cfg.mem_size) {
		atomic_store(&b->failed, true);
		vm_stop(b->vm, VM_STATUS_CRASH, "vhost-user-blk %s: the back-end faulted "
			"at 0x%" PRIx64 ", outside the guest memory it was given (mapped "
			"at 0x%" PRIx64 ", 0x%" PRIx64 " bytes)", b->name, addr,
			b->client_base, b->vm->cfg.mem_size);
		return -EFAULT;
	}
	gpa = HV_RAM_BASE + (page - b->client_base);
	r = gm_pin(b->vm, gpa, PAGE, write, &host);
	if (r == 0) {
		if (!b->vm->swapper && madvise(host, PAGE, MADV_POPULATE_WRITE) < 0)
			r = -errno;
		/* counted before the wake: whoever the wake releases sees it */
		if (r == 0)
			atomic_fetch_add(&b->st.faults, 1);
		if (r == 0)
			r = wake_range(b->uffd, page, PAGE);
		gm_unpin(b->vm, gpa, PAGE);
	}
	if (r < 0) {
		atomic_fetch_add(&b->st.fault_errors, 1);
		vm_stop(b->vm, VM_STATUS_CRASH, "vhost-user-blk %s: cannot serve the "
			"back-end's fault on guest page 0x%" PRIx64 ": %s", b->name, gpa,
			strerror(-r));
		return r;
	}
	dt = now_ns() - t0;
	atomic_fetch_add(&b->st.fault_ns, dt);
	max = atomic_load(&b->st.fault_ns_max);
	while (dt > max && !atomic_compare_exchange_weak(&b->st.fault_ns_max, &max, dt))
		;
	return 0;
}

/* Read what the userfaultfd has (it is O_NONBLOCK: the back-end made it so,
 * and the flag is shared).  Returns < 0 when fault service must stop. */
static int drain_uffd(struct vhost_user_blk *b)
{
	struct uffd_msg msg[16];
	ssize_t n;
	size_t i;
	int r;

	n = read(b->uffd, msg, sizeof(msg));
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	for (i = 0; i < (size_t)n / sizeof(msg[0]); i++) {
		if (msg[i].event != UFFD_EVENT_PAGEFAULT) {
			vm_warn(b->vm, "vhost-user-blk: userfaultfd event %u ignored",
				msg[i].event);
			continue;
		}
		r = serve_fault(b, msg[i].arg.pagefault.address,
				msg[i].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- the device thread ---------------------------------------------------- */

/*
 * The back-end called: its completed chains are unpinned and handed to the
 * guest's used ring (vhost_shadow_complete), then the interrupt is raised;
 * chains that waited for the pin cap are forwarded and kicked.  A back-end
 * that names a head it was not given stops the VM; a guest chain found
 * malformed here breaks the device (NEEDS_RESET), as at a notify.
 */
static void completed(struct vhost_user_blk *b, unsigned int q)
{
	unsigned int done, fwd;
	int r;

	atomic_fetch_add(&b->st.calls, 1);
	r = vhost_shadow_complete(b->sh[q], &done, &fwd);
	if (r == -EINVAL) {
		vm_warn(b->vm, "vhost-user-blk: queue %u: %s", q,
			vhost_shadow_error(b->sh[q]));
		virtio_mmio_needs_reset(b->mmio, "the queue cannot be served");
	} else if (r < 0) {
		atomic_store(&b->failed, true);
		vm_stop(b->vm, VM_STATUS_CRASH, "vhost-user-blk %s: %s", b->name,
			vhost_shadow_error(b->sh[q]));
	}
	if (fwd)
		kick(b, q);
	if (done)
		virtio_mmio_interrupt(b->mmio);
}

/* Watchdog state of the device thread. */
struct watch {
	uint16_t used;                  /* used idx last seen */
	uint64_t progress_ns;           /* when the back-end was last seen
					   idle or completing */
};

/*
 * A back-end that stops completing requests while the guest has some
 * outstanding (avail idx != used idx, read from the rings in guest RAM)
 * for half the reply timeout stalls: stop the VM and say so.  (Half: the
 * test guests give up on a request after 10 s, the default timeout, and
 * the VMM should be the one that names the culprit.)  The
 * indices are guest-writable; a guest that lies about them only stops
 * itself.  Returns true when it stopped the VM.
 */
static bool check_stall(struct vhost_user_blk *b, struct watch *w)
{
	uintptr_t a = atomic_load(&b->avail_idx), u = atomic_load(&b->used_idx);
	uint16_t avail, used;
	uint64_t now = now_ns();

	if (!a || !u) {
		w->progress_ns = now;
		return false;
	}
	avail = __atomic_load_n((uint16_t *)a, __ATOMIC_RELAXED);
	used = __atomic_load_n((uint16_t *)u, __ATOMIC_RELAXED);
	if (used != w->used || avail == used) {
		w->used = used;
		w->progress_ns = now;
		return false;
	}
	if (now - w->progress_ns < (uint64_t)b->timeout_ms * 500000ull)
		return false;
	atomic_store(&b->failed, true);
	vm_stop(b->vm, VM_STATUS_CRASH, "vhost-user-blk %s: the back-end completed no "
		"request for %d ms while %u were outstanding (avail %u, used %u): it "
		"stalls", b->name, b->timeout_ms / 2, (uint16_t)(avail - used), avail, used);
	return true;
}

static void *device_thread(void *arg)
{
	struct vhost_user_blk *b = arg;
	struct pollfd p[3 + NR_QUEUES];
	struct watch w = { 0, now_ns() };
	bool watching = true;
	uint64_t v;
	unsigned int i;
	int n;

	if (vm_sandbox_thread(b->vm, SANDBOX_IO, "hv-vhost") < 0)
		return NULL;
	p[0] = (struct pollfd){ .fd = b->stop_fd, .events = POLLIN };
	/* hang-up only: the socket's data belongs to the transport hooks */
	p[1] = (struct pollfd){ .fd = vhost_user_sock(b->vu), .events = POLLRDHUP };
	p[2] = (struct pollfd){ .fd = b->uffd, .events = POLLIN };
	for (i = 0; i < NR_QUEUES; i++)
		p[3 + i] = (struct pollfd){ .fd = b->call[i], .events = POLLIN };
	for (;;) {
		/* a twentieth of the timeout between stall checks */
		n = poll(p, 3 + NR_QUEUES, watching ? b->timeout_ms / 20 + 1 : -1);
		if (watching && check_stall(b, &w))
			watching = false;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			vm_stop(b->vm, VM_STATUS_CRASH, "vhost-user-blk: poll: %s",
				strerror(errno));
			return NULL;
		}
		if (p[0].revents)
			return NULL;
		if (p[2].revents && drain_uffd(b) < 0)
			p[2].fd = -1;   /* the VM is stopping: serve no more */
		for (i = 0; i < NR_QUEUES; i++) {
			if (p[3 + i].revents && read(b->call[i], &v, sizeof(v)) == sizeof(v))
				completed(b, i);
		}
		if (p[1].revents) {
			p[1].fd = -1;
			atomic_store(&b->failed, true);
			vm_stop(b->vm, VM_STATUS_CRASH, "vhost-user-blk %s: the back-end "
				"closed the connection (did it exit?)", b->name);
		}
	}
}

/* ---- set-up and teardown ---------------------------------------------------- */

/*
 * The back-end's address of guest RAM under postcopy.  The spec has the
 * back-end name it in its SET_MEM_TABLE reply; qemu-storage-daemon 7.2's
 * libvhost-user fills those addresses into a copy of the table and replies
 * with the original, i.e. echoes OUR addresses (seen on Debian 12).  So the
 * reply is checked against the back-end's /proc/PID/maps when we may read
 * it, and the mapping found there wins.
 */
static void check_client_base(struct vhost_user_blk *b)
{
	uint64_t seen = 0;
	int r;

	r = vhost_user_peer_mapping(vhost_user_sock(b->vu), b->vm->ram->memfd, b->vm->cfg.mem_size,
			 (uintptr_t)b->vm->ram->host, &seen);
	if (r == 0 && seen != b->client_base) {
		log_info("vhost-user-blk %s: the back-end replied that it mapped guest "
			 "RAM at 0x%" PRIx64 "%s, but it is at 0x%" PRIx64 " (its "
			 "/proc/PID/maps): using that", b->name, b->client_base,
			 b->client_base == (uintptr_t)b->vm->ram->host ?
			 " (our own address: an echo)" : "", seen);
		b->client_base = seen;
	} else if (r < 0 && b->client_base == (uintptr_t)b->vm->ram->host) {
		log_warn("vhost-user-blk %s: the back-end's postcopy reply echoes our own "
			 "address of guest RAM and its /proc/PID/maps cannot be read (%s): "
			 "its faults may not be recognised", b->name, strerror(-r));
	}
}

static int setup_backend(struct vhost_user_blk *b, char *err, size_t errlen)
{
	struct vhost_user_mem m[2] = { {
		.gpa = HV_RAM_BASE, .size = b->vm->cfg.mem_size,
		.host = b->vm->ram->host, .fd = b->vm->ram->memfd,
	}, {
		/* the shadow rings (one queue) */
		.gpa = VHOST_SHADOW_GPA, .size = vhost_shadow_size(b->sh[0]),
		.host = vhost_shadow_host(b->sh[0]), .fd = vhost_shadow_memfd(b->sh[0]),
	} };
	uint64_t features, base[2] = { 0 };
	int r;

	r = vhost_user_negotiate(b->vu, true, &features);
	if (r == 0)
		r = vhost_user_get_config(b->vu, 0, b->config, CONFIG_BYTES);
	if (r == 0 && vhost_user_has_postcopy(b->vu))
		r = vhost_user_postcopy_listen(b->vu, &b->uffd);
	if (r == 0)
		r = vhost_user_set_mem_table(b->vu, m, 2, base);
	b->client_base = base[0];
	b->client_shadow = base[1];
	if (r < 0) {
		snprintf(err, errlen, "vhost-user-blk %s: %s", b->name,
			 vhost_user_error(b->vu));
		return r;
	}
	if (b->uffd >= 0)
		check_client_base(b);
	memcpy(&b->capacity, b->config, sizeof(b->capacity));
	b->ops = (struct virtio_dev_ops){
		.name = "vhost-user-blk", .device_id = VIRTIO_ID_BLOCK,
		.features = features & GUEST_FEATURES,
		.queue_max = VIRTIO_BLK_QUEUE_MAX, .nr_queues = NR_QUEUES,
		.config_size = CONFIG_BYTES, .config_read = blk_config_read,
		.request = blk_request, .start = blk_start, .notify = blk_notify,
		.stop = blk_stop,
	};
	return 0;
}

static int make_eventfds(struct vhost_user_blk *b, char *err, size_t errlen)
{
	unsigned int i;
	int r;

	b->stop_fd = eventfd(0, EFD_CLOEXEC);
	for (i = 0; i < NR_QUEUES; i++) {
		r = vhost_shadow_create(b->vm, MAX_CHAIN_BYTES, &b->sh[i]);
		if (r < 0) {
			snprintf(err, errlen, "vhost-user-blk: shadow ring: %s", strerror(-r));
			return r;
		}
		b->kick[i] = eventfd(0, EFD_CLOEXEC);
		b->call[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (b->kick[i] < 0 || b->call[i] < 0)
			break;
	}
	if (b->stop_fd < 0 || i < NR_QUEUES) {
		snprintf(err, errlen, "vhost-user-blk: eventfd: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

int vhost_user_blk_create(struct vm *vm, const char *path, int fd, int timeout_ms,
			  struct vhost_user_blk **out, char *err, size_t errlen)
{
	struct vhost_user_blk *b;
	unsigned int i;
	int r;

	if (vm->ram->memfd < 0) {     /* memfd or hugetlb: shared */
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "vhost-user-blk needs guest RAM the back-end can "
			 "map: use --mem-backing memfd or hugetlb");
		return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->vm = vm;
	b->timeout_ms = timeout_ms;
	b->uffd = b->stop_fd = -1;
	for (i = 0; i < NR_QUEUES; i++)
		b->kick[i] = b->call[i] = -1;
	snprintf(b->name, sizeof(b->name), "%s", path ? path : "(socket)");
	if (path)
		r = vhost_user_connect(path, timeout_ms, &vm->stopping, &b->vu, err, errlen);
	else
		r = vhost_user_open_fd(fd, b->name, timeout_ms, &vm->stopping, &b->vu);
	if (r == 0)
		r = make_eventfds(b, err, errlen);
	if (r == 0)
		r = setup_backend(b, err, errlen);
	if (r < 0) {
		if (r == -ENOMEM && !b->vu)
			snprintf(err, errlen, "out of memory");
		vhost_user_blk_destroy(b);
		return r;
	}
	*out = b;
	return 0;
}

const struct virtio_dev_ops *vhost_user_blk_ops(struct vhost_user_blk *b)
{
	return &b->ops;
}

int vhost_user_blk_attach(struct vhost_user_blk *b, struct virtio_mmio_dev *mmio)
{
	int r;

	b->mmio = mmio;
	r = pthread_create(&b->thread, NULL, device_thread, b);
	if (r)
		return -r;
	b->thread_started = true;
	return 0;
}

void vhost_user_blk_shutdown(struct vhost_user_blk *b)
{
	uint64_t one = 1;
	unsigned int i;

	if (!b)
		return;
	if (b->vu && !vhost_user_broken(b->vu) && !atomic_load(&b->failed)) {
		blk_stop(b);
		if (b->uffd >= 0 && vhost_user_postcopy_end(b->vu) < 0)
			log_warn("vhost-user-blk %s: %s", b->name, vhost_user_error(b->vu));
	}
	if (b->thread_started) {
		if (write(b->stop_fd, &one, sizeof(one)) < 0)
			log_err("vhost-user-blk: cannot stop the device thread: %s",
				strerror(errno));
		pthread_join(b->thread, NULL);
		b->thread_started = false;
	}
	/* after a failed back-end too: the VM is going, no pin stays */
	for (i = 0; i < NR_QUEUES; i++) {
		if (b->sh[i])
			vhost_shadow_stop(b->sh[i]);
	}
}

void vhost_user_blk_destroy(struct vhost_user_blk *b)
{
	unsigned int i;

	if (!b)
		return;
	vhost_user_blk_shutdown(b);
	vhost_user_close(b->vu);        /* closes the userfaultfd too */
	for (i = 0; i < NR_QUEUES; i++) {
		if (b->kick[i] >= 0)
			close(b->kick[i]);
		if (b->call[i] >= 0)
			close(b->call[i]);
		vhost_shadow_destroy(b->sh[i]);
	}
	if (b->stop_fd >= 0)
		close(b->stop_fd);
	free(b);
}

uint64_t vhost_user_blk_capacity(const struct vhost_user_blk *b)
{
	return b->capacity;
}

uint64_t vhost_user_blk_faults(const struct vhost_user_blk *b)
{
	return atomic_load(&b->st.faults);
}

uint64_t vhost_user_blk_client_addr(const struct vhost_user_blk *b, uint64_t gpa)
{
	return b->uffd >= 0 ? b->client_base + (gpa - HV_RAM_BASE) : 0;
}

struct json_object *vhost_user_blk_stats_json(struct vhost_user_blk *b)
{
	struct json_object *o = json_object_new_object();
	uint64_t faults = atomic_load(&b->st.faults);

	json_object_object_add(o, "socket", json_object_new_string(b->name));
	json_object_object_add(o, "capacity_sectors", json_object_new_uint64(b->capacity));
	json_object_object_add(o, "postcopy", json_object_new_boolean(b->uffd >= 0));
#define ADD(f) json_object_object_add(o, #f, json_object_new_uint64(atomic_load(&b->st.f)))
	ADD(rings_started);
	ADD(rings_stopped);
	ADD(kicks);
	ADD(calls);
	ADD(faults);
	ADD(fault_errors);
	ADD(fault_ns_max);
#undef ADD
	json_object_object_add(o, "fault_ns_avg", json_object_new_uint64(
		faults ? atomic_load(&b->st.fault_ns) / faults : 0));
	json_object_object_add(o, "shadow", vhost_shadow_stats_json(b->sh[0]));
	return o;
}
