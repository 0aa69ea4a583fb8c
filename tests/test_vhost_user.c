/*
 * test_vhost_user.c - the vhost-user front-end (vmm/vhost_user.c) and the
 * vhost-user-blk device (vmm/vhost_user_blk.c) against a fake back-end: a
 * thread of this process on the other end of a socketpair that speaks the
 * protocol as libvhost-user does - or wrongly, on purpose.
 *
 * What is checked:
 *  - negotiation, the config read, the memory table (the memfd is handed
 *    over), and, driven through the MMIO registers as a guest would, the
 *    ring set-up at DRIVER_OK (addresses are our mapping of the ring GPAs),
 *    QueueNotify -> kick eventfd, call eventfd -> InterruptStatus and the
 *    interrupt line, and GET_VRING_BASE at reset;
 *  - postcopy: the back-end's userfaultfd, its mapping address (from its
 *    reply, or from /proc/PID/maps when the reply echoes ours, as
 *    qemu-storage-daemon 7.2 does), and a fault on a page that is not in
 *    the memfd being served and woken: the back-end's access completes and
 *    sees the same page as the guest; a fault outside guest RAM stops the
 *    VM without a wake;
 *  - every misbehaviour (dies, stalls, wrong request/flags/size, missing or
 *    non-userfaultfd fd, changed regions, failed config, legacy or
 *    config-less back-end, a hang-up while running, a stall at DRIVER_OK):
 *    a one-line error naming it, within the (short) timeout, no fd left
 *    open, and the VM stopped when it was running;
 *  - a back-end that takes a request and never completes it: the device
 *    thread's watchdog stops the VM after the timeout.
 * Waits on the device thread use condition variables with a generous
 * bound that only guards against a hang (never a timing assertion).
 * Exit 77 only when userfaultfd is unavailable (the postcopy tests need it).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/userfaultfd.h>

#include "fuzz/fake_vm.h"
#include "uffd.h"
#include "vhost_user.h"
#include "vhost_user_blk.h"
#include "virtio_mmio.h"

#define RAM_SIZE        (4u << 20)
#define CAPACITY        12345ull
#define SHORT_MS        2000            /* timeout where the back-end stalls */
#define LONG_MS         20000           /* timeout where it must not matter */
#define HANG_GUARD_S    60              /* bound on waits for a thread */

enum mode {
	M_GOOD, M_DIE, M_STALL, M_BAD_REQ, M_BAD_FLAGS, M_BAD_SIZE,
	M_ADVISE_NOFD, M_ADVISE_PIPE, M_MEM_CHANGED, M_MEM_ECHO, M_CONFIG_FAIL,
	M_NO_CONFIG, M_LEGACY, M_NACK,
};

/* The fake back-end. */
struct fbe {
	int sock;
	enum mode mode;
	uint32_t at;                    /* misbehave at this request */
	bool pagefault;                 /* offer PAGEFAULT */
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* protected by lock */
	uint32_t reqs[512];
	unsigned int nreqs;
	uint64_t features, protocol;
	struct vhost_user_vring_addr addr;
	uint32_t num;
	int kick, call, uffd;
	unsigned int nregions;
	void *map;
	uint64_t map_size;
	bool listening, done;
};

static struct vm *make_vm(void)
{
	struct vm *vm = fake_vm_create();
	struct gmem *ram;

	free(vm->ram->host);
	free(vm->ram);
	assert_int_equal(gmem_create(GMEM_MEMFD, RAM_SIZE, "test-ram", &ram), 0);
	vm->ram = ram;
	vm->cfg.mem_size = RAM_SIZE;
	vm->mmio_base = HV_RAM_BASE + RAM_SIZE;
	return vm;
}

static void free_vm(struct vm *vm)
{
	gmem_destroy(vm->ram);
	pthread_mutex_destroy(&vm->lock);
	pthread_cond_destroy(&vm->cond);
	free(vm);
}

static unsigned int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* ---- the fake back-end's side of the wire --------------------------------- */

static int be_recv(struct fbe *f, struct vhost_user_hdr *h, uint8_t *p, int *fds,
		   unsigned int *nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr a;
	} u;
	struct iovec iov = { h, sizeof(*h) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	ssize_t n;

	*nfds = 0;
	n = recvmsg(f->sock, &mh, MSG_WAITALL | MSG_CMSG_CLOEXEC);
	if (n != sizeof(*h))
		return -1;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		*nfds = (unsigned int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		memcpy(fds, CMSG_DATA(c), *nfds * sizeof(int));
	}
	if (h->size > 4096)
		return -1;
	if (h->size && recv(f->sock, p, h->size, MSG_WAITALL) != (ssize_t)h->size)
		return -1;
	return 0;
}

static void be_send(struct fbe *f, uint32_t req, const void *p, uint32_t size, int fd)
{
	struct vhost_user_hdr h = { req, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK, size };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr a;
	} u;
	uint8_t body[4096 + 8] = { 0 };
	struct iovec iov[2] = { { &h, sizeof(h) }, { body, size } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	struct cmsghdr *c;

	if (size)
		memcpy(body, p, size);
	if (f->at == req) {
		if (f->mode == M_BAD_REQ)
			h.request = req + 1;
		if (f->mode == M_BAD_FLAGS)
			h.flags = VHOST_USER_VERSION;
		if (f->mode == M_BAD_SIZE)
			iov[1].iov_len = ++h.size;
	}
	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	(void)sendmsg(f->sock, &mh, MSG_NOSIGNAL);
}

static void be_u64(struct fbe *f, uint32_t req, uint64_t v)
{
	be_send(f, req, &v, sizeof(v), -1);
}

static void be_advise(struct fbe *f)
{
	int p[2];

	if (f->mode == M_ADVISE_NOFD) {
		be_send(f, VHOST_USER_POSTCOPY_ADVISE, NULL, 0, -1);
		return;
	}
	if (f->mode == M_ADVISE_PIPE) {
		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		be_send(f, VHOST_USER_POSTCOPY_ADVISE, NULL, 0, p[0]);
		close(p[0]);
		close(p[1]);
		return;
	}
	f->uffd = uffd_open(0);
	assert_true(f->uffd >= 0);
	be_send(f, VHOST_USER_POSTCOPY_ADVISE, NULL, 0, f->uffd);
}

/* SET_MEM_TABLE as libvhost-user: map; under postcopy register, reply
 * with the mapping, wait for the ack. */
static void be_mem_table(struct fbe *f, struct vhost_user_hdr *h, uint8_t *p, int fd)
{
	struct vhost_user_memory m;
	struct vhost_user_hdr ah;
	uint8_t ack[4096];
	int fds[8];
	unsigned int n;

	memset(&m, 0, sizeof(m));
	memcpy(&m, p, h->size < sizeof(m) ? h->size : sizeof(m));
	f->map_size = m.regions[0].memory_size;
	f->map = mmap(NULL, f->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(f->map != MAP_FAILED);
	close(fd);
	if (f->listening) {
		assert_int_equal(uffd_register(f->uffd, f->map, f->map_size,
					       UFFDIO_REGISTER_MODE_MISSING, NULL), 0);
		if (f->mode != M_MEM_ECHO)
			m.regions[0].userspace_addr = (uintptr_t)f->map;
		if (f->mode == M_MEM_CHANGED)
			m.regions[0].guest_phys_addr += 4096;
		be_send(f, VHOST_USER_SET_MEM_TABLE, &m, h->size, -1);
		if (f->mode == M_MEM_CHANGED)
			return;
		assert_int_equal(be_recv(f, &ah, ack, fds, &n), 0);
		assert_int_equal(ah.size, 8);
	}
	if (h->flags & VHOST_USER_NEED_REPLY_MASK)
		be_u64(f, VHOST_USER_SET_MEM_TABLE,
		       f->mode == M_NACK && f->at == VHOST_USER_SET_MEM_TABLE);
}

static void be_config(struct fbe *f, uint8_t *p)
{
	struct vhost_user_config c;

	memcpy(&c, p, 12);
	memset(c.region, 0, sizeof(c.region));
	memcpy(c.region, &(uint64_t){ CAPACITY }, 8);
	be_send(f, VHOST_USER_GET_CONFIG, &c, f->mode == M_CONFIG_FAIL ? 0 : 12 + c.size, -1);
}

static void close_all(int *fds, unsigned int n)
{
	while (n)
		close(fds[--n]);
}

/* Handle one request; returns false to hang up. */
static bool be_handle(struct fbe *f, struct vhost_user_hdr *h, uint8_t *p, int *fds,
		      unsigned int nfds)
{
	uint64_t pf = (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
		      (f->mode == M_NO_CONFIG ? 0 : 1ull << VHOST_USER_PROTOCOL_F_CONFIG) |
		      (f->pagefault ? 1ull << VHOST_USER_PROTOCOL_F_PAGEFAULT : 0);
	uint64_t feat = (1ull << VHOST_USER_F_PROTOCOL_FEATURES) | (1ull << 9) |
			(f->mode == M_LEGACY ? 0 : 1ull << 32);
	bool reply = h->flags & VHOST_USER_NEED_REPLY_MASK;
	struct vhost_user_vring_state s;

	switch (h->request) {
	case VHOST_USER_GET_FEATURES: be_u64(f, h->request, feat); return true;
	case VHOST_USER_GET_PROTOCOL_FEATURES: be_u64(f, h->request, pf); return true;
	case VHOST_USER_SET_PROTOCOL_FEATURES: memcpy(&f->protocol, p, 8); break;
	case VHOST_USER_SET_FEATURES: memcpy(&f->features, p, 8); break;
	case VHOST_USER_GET_CONFIG: be_config(f, p); return true;
	case VHOST_USER_POSTCOPY_ADVISE: be_advise(f); return true;
	case VHOST_USER_POSTCOPY_LISTEN:
		f->listening = true;
		be_u64(f, h->request, 0);
		return true;
	case VHOST_USER_POSTCOPY_END: be_u64(f, h->request, 0); return true;
	case VHOST_USER_SET_MEM_TABLE:
		/* guest RAM, and the shadow rings (which this back-end reads
		 * at the front-end's addresses: it is the same process) */
		assert_int_equal(nfds, 2);
		f->nregions = nfds;
		close_all(fds + 1, nfds - 1);
		be_mem_table(f, h, p, fds[0]);
		return true;
	case VHOST_USER_SET_VRING_NUM: memcpy(&s, p, 8); f->num = s.num; break;
	case VHOST_USER_SET_VRING_ADDR: memcpy(&f->addr, p, sizeof(f->addr)); break;
	case VHOST_USER_SET_VRING_KICK:
		if (f->kick >= 0)
			close(f->kick);
		f->kick = nfds ? fds[0] : -1;
		break;
	case VHOST_USER_SET_VRING_CALL:
		if (f->call >= 0)
			close(f->call);
		f->call = nfds ? fds[0] : -1;
		break;
	case VHOST_USER_GET_VRING_BASE:
		memcpy(&s, p, 8);
		s.num = 7;
		be_send(f, h->request, &s, sizeof(s), -1);
		return true;
	default: break;
	}
	if (reply)
		be_u64(f, h->request, f->mode == M_NACK && f->at == h->request ? 1 : 0);
	return true;
}


static void *be_main(void *arg)
{
	struct fbe *f = arg;
	struct vhost_user_hdr h;
	uint8_t p[4096];
	int fds[8];
	unsigned int nfds;

	while (be_recv(f, &h, p, fds, &nfds) == 0) {
		pthread_mutex_lock(&f->lock);
		if (f->nreqs < 512)
			f->reqs[f->nreqs++] = h.request;
		if (h.request == f->at && f->mode == M_DIE) {
			pthread_mutex_unlock(&f->lock);
			close_all(fds, nfds);
			break;
		}
		if (h.request == f->at && f->mode == M_STALL) {
			pthread_mutex_unlock(&f->lock);
			do      /* read on, never answer */
				close_all(fds, nfds);
			while (be_recv(f, &h, p, fds, &nfds) == 0);
			break;
		}
		be_handle(f, &h, p, fds, nfds);
		pthread_cond_broadcast(&f->cond);
		pthread_mutex_unlock(&f->lock);
	}
	pthread_mutex_lock(&f->lock);
	f->done = true;
	close(f->sock);
	f->sock = -1;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* Start a fake back-end; returns the front-end's end of the socket. */
static int be_start(struct fbe *f, enum mode mode, uint32_t at, bool pagefault)
{
	int sv[2];

	memset(f, 0, sizeof(*f));
	f->mode = mode;
	f->at = at;
	f->pagefault = pagefault;
	f->kick = f->call = f->uffd = -1;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->sock = sv[1];
	assert_int_equal(pthread_create(&f->th, NULL, be_main, f), 0);
	return sv[0];
}

static void be_join(struct fbe *f)
{
	pthread_join(f->th, NULL);
	if (f->kick >= 0)
		close(f->kick);
	if (f->call >= 0)
		close(f->call);
	if (f->uffd >= 0)
		close(f->uffd);
	if (f->map)
		munmap(f->map, f->map_size);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
}

/* The back-end's socket, read under its lock (it closes it when done);
 * shut down from the test to make the back-end go away. */
static void be_hang_up(struct fbe *f)
{
	pthread_mutex_lock(&f->lock);
	if (f->sock >= 0)
		shutdown(f->sock, SHUT_RDWR);
	pthread_mutex_unlock(&f->lock);
}

static struct timespec guard(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += HANG_GUARD_S;
	return ts;
}

/* Wait until the back-end has seen request `req` (count-th time). */
static void be_wait_req(struct fbe *f, uint32_t req, unsigned int count)
{
	struct timespec ts = guard();
	unsigned int i, seen;

	pthread_mutex_lock(&f->lock);
	for (;;) {
		for (i = 0, seen = 0; i < f->nreqs; i++)
			seen += f->reqs[i] == req;
		if (seen >= count || f->done)
			break;
		assert_int_equal(pthread_cond_timedwait(&f->cond, &f->lock, &ts), 0);
	}
	pthread_mutex_unlock(&f->lock);
	assert_true(seen >= count);
}

/* ---- driving the transport as a guest ---------------------------------------- */

#define DESC    (HV_RAM_BASE + 0x1000)
#define AVAIL   (HV_RAM_BASE + 0x2000)
#define USED    (HV_RAM_BASE + 0x3000)

static void wr(struct vm *vm, uint32_t off, uint32_t v)
{
	assert_true(iobus_dispatch(&vm->mmio, NULL, vm->mmio_base + off, (uint8_t *)&v,
				   4, true));
}

static uint32_t rd(struct vm *vm, uint32_t off)
{
	uint32_t v = 0;

	assert_true(iobus_dispatch(&vm->mmio, NULL, vm->mmio_base + off, (uint8_t *)&v,
				   4, false));
	return v;
}

static void guest_bring_up(struct vm *vm)
{
	wr(vm, VIRTIO_MMIO_STATUS, 0);
	wr(vm, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(vm, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(vm, VIRTIO_MMIO_DRIVER_FEATURES, 1);                 /* VERSION_1 */
	wr(vm, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	   VIRTIO_STATUS_FEATURES_OK);
	wr(vm, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(vm, VIRTIO_MMIO_QUEUE_NUM, 16);
	wr(vm, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC);
	wr(vm, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)AVAIL);
	wr(vm, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)USED);
	wr(vm, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(vm, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	   VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

/* Make one chain available, as a guest: a 16-byte readable buffer at
 * descriptor 0, avail idx `idx` (stored with release). */
static void guest_offer(struct vm *vm, uint16_t idx)
{
	struct virtq_desc d = { HV_RAM_BASE + 0x8000, 16, 0, 0 };
	uint16_t head = 0;

	memcpy(vm_ram_ptr(vm, DESC, sizeof(d)), &d, sizeof(d));
	memcpy(vm_ram_ptr(vm, AVAIL + 4 + 2 * ((idx - 1) % 16), 2), &head, 2);
	__atomic_store_n((uint16_t *)vm_ram_ptr(vm, AVAIL + 2, 2), idx, __ATOMIC_RELEASE);
}

struct line {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int rises;
};

static void set_line(void *ctx, unsigned int irq, bool level)
{
	struct line *l = ctx;

	(void)irq;
	pthread_mutex_lock(&l->lock);
	l->rises += level;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

/* A device on a fake back-end, registered on the MMIO bus and attached. */
struct rig {
	struct vm *vm;
	struct fbe be;
	struct vhost_user_blk *b;
	struct virtio_mmio_dev *mmio;
	struct line line;
};

static void rig_up(struct rig *g, bool pagefault, enum mode mode, uint32_t at, int ms)
{
	char err[256];
	int fd;

	memset(g, 0, sizeof(*g));
	g->vm = make_vm();
	fd = be_start(&g->be, mode, at, pagefault);
	assert_int_equal(vhost_user_blk_create(g->vm, NULL, fd, ms, &g->b, err,
					       sizeof(err)), 0);
	assert_int_equal(virtio_mmio_create(g->vm, g->vm->mmio_base,
					    vhost_user_blk_ops(g->b), g->b, &g->mmio), 0);
	pthread_mutex_init(&g->line.lock, NULL);
	pthread_cond_init(&g->line.cond, NULL);
	virtio_mmio_set_irq(g->mmio, set_line, &g->line, 5);
	assert_int_equal(vhost_user_blk_attach(g->b, g->mmio), 0);
}

static void rig_down(struct rig *g)
{
	vhost_user_blk_shutdown(g->b);
	virtio_mmio_destroy(g->mmio);
	vhost_user_blk_destroy(g->b);
	be_join(&g->be);
	free_vm(g->vm);
	pthread_mutex_destroy(&g->line.lock);
	pthread_cond_destroy(&g->line.cond);
}

/* ---- tests ------------------------------------------------------------------- */

static void test_start_kick_call_reset(void **state)
{
	struct rig g;
	uint64_t v = 1;
	struct timespec ts;
	struct pollfd p;

	(void)state;
	rig_up(&g, false, M_GOOD, 0, LONG_MS);
	assert_int_equal(vhost_user_blk_capacity(g.b), CAPACITY);
	assert_int_equal(rd(g.vm, VIRTIO_MMIO_CONFIG), (uint32_t)CAPACITY);
	assert_int_equal(vhost_user_blk_client_addr(g.b, HV_RAM_BASE), 0);
	guest_bring_up(g.vm);
	be_wait_req(&g.be, VHOST_USER_SET_VRING_ENABLE, 1);
	assert_false(rd(g.vm, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	pthread_mutex_lock(&g.be.lock);
	assert_true(g.be.features & (1ull << 32));
	assert_true(g.be.features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES));
	assert_false(g.be.protocol & (1ull << VHOST_USER_PROTOCOL_F_PAGEFAULT));
	assert_int_equal(g.be.num, 16);
	/* the back-end gets the shadow rings (the second region), never the
	 * guest's (vhost_shadow.c; test_vhost_shadow checks their contents) */
	assert_int_equal(g.be.nregions, 2);
	assert_true(g.be.addr.desc_user_addr != (uintptr_t)vm_ram_ptr(g.vm, DESC, 1));
	assert_true(g.be.addr.avail_user_addr != (uintptr_t)vm_ram_ptr(g.vm, AVAIL, 1));
	assert_true(g.be.addr.used_user_addr != (uintptr_t)vm_ram_ptr(g.vm, USED, 1));
	assert_true(g.be.kick >= 0 && g.be.call >= 0);
	pthread_mutex_unlock(&g.be.lock);

	/* an empty notify kicks nothing; a chain made available does */
	wr(g.vm, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	guest_offer(g.vm, 1);
	wr(g.vm, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	p = (struct pollfd){ .fd = g.be.kick, .events = POLLIN };
	assert_int_equal(poll(&p, 1, HANG_GUARD_S * 1000), 1);
	assert_int_equal(read(g.be.kick, &v, 8), 8);
	assert_int_equal(v, 1);
	assert_int_equal(__atomic_load_n((uint16_t *)(uintptr_t)(g.be.addr.avail_user_addr + 2), __ATOMIC_ACQUIRE), 1);

	/* the back-end completes it and calls -> the guest's used ring,
	 * InterruptStatus and the line */
	memcpy((void *)(uintptr_t)(g.be.addr.used_user_addr + 4),
	       &(struct virtq_used_elem){ 0, 0 }, 8);
	__atomic_store_n((uint16_t *)(uintptr_t)(g.be.addr.used_user_addr + 2), 1,
			 __ATOMIC_RELEASE);
	v = 1;
	assert_int_equal(write(g.be.call, &v, 8), 8);
	ts = guard();
	pthread_mutex_lock(&g.line.lock);
	while (!g.line.rises)
		assert_int_equal(pthread_cond_timedwait(&g.line.cond, &g.line.lock, &ts), 0);
	pthread_mutex_unlock(&g.line.lock);
	assert_int_equal(rd(g.vm, VIRTIO_MMIO_INTERRUPT_STATUS), 1);
	assert_int_equal(*(uint16_t *)vm_ram_ptr(g.vm, USED + 2, 2), 1);
	assert_int_equal(atomic_load(&g.vm->gm.pins), atomic_load(&g.vm->gm.unpins));

	/* reset: the ring is stopped with GET_VRING_BASE */
	wr(g.vm, VIRTIO_MMIO_STATUS, 0);
	be_wait_req(&g.be, VHOST_USER_GET_VRING_BASE, 1);
	assert_false(atomic_load(&g.vm->stopping));

	/* and started again by the next bring-up (enable 1, 0, 1) */
	guest_bring_up(g.vm);
	be_wait_req(&g.be, VHOST_USER_SET_VRING_ENABLE, 3);
	be_wait_req(&g.be, VHOST_USER_SET_VRING_KICK, 2);
	assert_false(rd(g.vm, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_false(atomic_load(&g.vm->stopping));
	rig_down(&g);
}

/* Read one byte through the back-end's mapping on a helper thread (a page
 * that is not in the memfd blocks it in a userfaultfd fault). */
struct toucher {
	volatile uint8_t *p;
	uint8_t val;
	bool done;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static void *touch_main(void *arg)
{
	struct toucher *t = arg;
	uint8_t v = *t->p;

	pthread_mutex_lock(&t->lock);
	t->val = v;
	t->done = true;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static uint8_t backend_touch(volatile uint8_t *p)
{
	struct toucher t = { .p = p };
	struct timespec ts = guard();
	pthread_t th;

	pthread_mutex_init(&t.lock, NULL);
	pthread_cond_init(&t.cond, NULL);
	assert_int_equal(pthread_create(&th, NULL, touch_main, &t), 0);
	pthread_mutex_lock(&t.lock);
	while (!t.done)
		assert_int_equal(pthread_cond_timedwait(&t.cond, &t.lock, &ts), 0);
	pthread_mutex_unlock(&t.lock);
	pthread_join(th, NULL);
	return t.val;
}

static void postcopy_fault(enum mode mode)
{
	uint64_t hole = HV_RAM_BASE + 0x10000, full = HV_RAM_BASE + 0x20000;
	uint8_t *ours, *theirs;
	struct rig g;

	rig_up(&g, true, mode, 0, LONG_MS);
	pthread_mutex_lock(&g.be.lock);
	assert_true(g.be.listening);
	assert_true(g.be.protocol & (1ull << VHOST_USER_PROTOCOL_F_PAGEFAULT));
	/* the base from the reply, or (echo) from our /proc/PID/maps */
	assert_int_equal(vhost_user_blk_client_addr(g.b, HV_RAM_BASE), (uintptr_t)g.be.map);
	pthread_mutex_unlock(&g.be.lock);

	/* A page the guest wrote is in the memfd: no fault. */
	ours = vm_ram_ptr(g.vm, full, 4096);
	memset(ours, 0x3c, 4096);
	theirs = (uint8_t *)g.be.map + (full - HV_RAM_BASE);
	assert_int_equal(backend_touch(theirs), 0x3c);
	assert_int_equal(vhost_user_blk_faults(g.b), 0);

	/* A page dropped from the memfd: the back-end faults, hvswap brings
	 * it in and wakes it; both then see one page. */
	ours = vm_ram_ptr(g.vm, hole, 4096);
	memset(ours, 0x77, 4096);
	assert_int_equal(fallocate(g.vm->ram->memfd, FALLOC_FL_PUNCH_HOLE |
				   FALLOC_FL_KEEP_SIZE, hole - HV_RAM_BASE, 4096), 0);
	theirs = (uint8_t *)g.be.map + (hole - HV_RAM_BASE);
	assert_int_equal(backend_touch(theirs + 100), 0);      /* a hole reads zeros */
	assert_int_equal(vhost_user_blk_faults(g.b), 1);
	theirs[200] = 0x5a;
	assert_int_equal(ours[200], 0x5a);
	assert_false(atomic_load(&g.vm->stopping));
	rig_down(&g);
}

static void wait_stopped(struct vm *vm);

/* The back-end faults on memory it registered that is not guest RAM: the
 * VM stops with the address, and the back-end is not woken into a loop of
 * refaults (the test resolves the fault itself to let its thread go). */
static void test_postcopy_fault_outside(void **state)
{
	struct toucher t = { 0 };
	struct rig g;
	pthread_t th;
	uint8_t *area;
	int uffd;

	(void)state;
	rig_up(&g, true, M_GOOD, 0, LONG_MS);
	pthread_mutex_lock(&g.be.lock);
	uffd = g.be.uffd;
	pthread_mutex_unlock(&g.be.lock);
	area = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(area != MAP_FAILED);
	assert_int_equal(uffd_register(uffd, area, 4096, UFFDIO_REGISTER_MODE_MISSING,
				       NULL), 0);
	t.p = area;
	pthread_mutex_init(&t.lock, NULL);
	pthread_cond_init(&t.cond, NULL);
	assert_int_equal(pthread_create(&th, NULL, touch_main, &t), 0);
	wait_stopped(g.vm);
	assert_non_null(strstr(g.vm->reason, "outside the guest memory it was given"));
	assert_int_equal(vhost_user_blk_faults(g.b), 0);
	assert_int_equal(uffd_zeropage(uffd, area, 4096, false), 0);
	pthread_join(th, NULL);
	assert_true(t.done);
	rig_down(&g);
	munmap(area, 4096);
	pthread_mutex_destroy(&t.lock);
	pthread_cond_destroy(&t.cond);
}

static void test_postcopy_fault(void **state)
{
	(void)state;
	postcopy_fault(M_GOOD);
}

static void test_postcopy_echoed_reply(void **state)
{
	(void)state;
	postcopy_fault(M_MEM_ECHO);
}

/* Set-up against a misbehaving back-end: fails with `want` in the error. */
static void setup_fails(enum mode mode, uint32_t at, bool pagefault, const char *want)
{
	unsigned int fds0 = open_fds();
	struct vhost_user_blk *b = NULL;
	struct vm *vm = make_vm();
	struct fbe f;
	char err[256] = "";
	int fd, r;

	fd = be_start(&f, mode, at, pagefault);
	r = vhost_user_blk_create(vm, NULL, fd, SHORT_MS, &b, err, sizeof(err));
	if (r == 0 || !strstr(err, want))
		fail_msg("mode %d at %u: r=%d err='%s', want '%s'", mode, at, r, err, want);
	assert_null(b);
	be_join(&f);
	free_vm(vm);
	assert_int_equal(open_fds(), fds0);
}

static void test_malformed_backends(void **state)
{
	(void)state;
	setup_fails(M_DIE, VHOST_USER_GET_FEATURES, false,
		    "closed the connection instead of answering GET_FEATURES");
	setup_fails(M_STALL, VHOST_USER_GET_PROTOCOL_FEATURES, false,
		    "no reply to GET_PROTOCOL_FEATURES within 2000 ms");
	setup_fails(M_BAD_REQ, VHOST_USER_GET_FEATURES, false, "names request 2");
	setup_fails(M_BAD_FLAGS, VHOST_USER_GET_CONFIG, false, "want version 1 and the reply bit");
	setup_fails(M_BAD_SIZE, VHOST_USER_GET_FEATURES, false, "has 9 payload bytes, want 8");
	setup_fails(M_CONFIG_FAIL, 0, false, "failed GET_CONFIG");
	setup_fails(M_NO_CONFIG, 0, false, "does not offer the CONFIG protocol feature");
	setup_fails(M_LEGACY, 0, false, "without VERSION_1");
	setup_fails(M_NACK, VHOST_USER_SET_MEM_TABLE, false, "refused SET_MEM_TABLE (status 1)");
	setup_fails(M_DIE, VHOST_USER_SET_MEM_TABLE, false, "instead of answering SET_MEM_TABLE");
	setup_fails(M_ADVISE_NOFD, 0, true, "carries 0 file descriptors, want 1");
	setup_fails(M_ADVISE_PIPE, 0, true, "not a userfaultfd");
	setup_fails(M_MEM_CHANGED, 0, true, "region 0 changed");
	setup_fails(M_STALL, VHOST_USER_POSTCOPY_LISTEN, true, "no reply to POSTCOPY_LISTEN");
}

static void wait_stopped(struct vm *vm)
{
	struct timespec ts = guard();

	pthread_mutex_lock(&vm->lock);
	while (!atomic_load(&vm->stopping))
		assert_int_equal(pthread_cond_timedwait(&vm->cond, &vm->lock, &ts), 0);
	pthread_mutex_unlock(&vm->lock);
}

static void test_backend_dies_while_running(void **state)
{
	struct rig g;

	(void)state;
	rig_up(&g, false, M_DIE, VHOST_USER_SET_FEATURES, LONG_MS);
	/* it hangs up at DRIVER_OK's first message: the vCPU's start fails,
	 * the device needs a reset, and the VM stops with the reason */
	guest_bring_up(g.vm);
	wait_stopped(g.vm);
	assert_int_equal(g.vm->status, VM_STATUS_CRASH);
	assert_non_null(strstr(g.vm->reason, "closed the connection"));
	assert_true(rd(g.vm, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	rig_down(&g);
}

static void test_hangup_seen_by_device_thread(void **state)
{
	struct rig g;

	(void)state;
	rig_up(&g, false, M_GOOD, 0, LONG_MS);
	guest_bring_up(g.vm);
	be_wait_req(&g.be, VHOST_USER_SET_VRING_ENABLE, 1);
	be_hang_up(&g.be);                      /* the back-end goes away */
	wait_stopped(g.vm);
	assert_non_null(strstr(g.vm->reason, "closed the connection (did it exit?)"));
	rig_down(&g);
}

static void test_stall_at_driver_ok(void **state)
{
	struct rig g;

	(void)state;
	rig_up(&g, false, M_STALL, VHOST_USER_SET_VRING_ADDR, SHORT_MS);
	guest_bring_up(g.vm);           /* returns after the timeout */
	assert_true(atomic_load(&g.vm->stopping));
	assert_non_null(strstr(g.vm->reason, "no reply to SET_VRING_ADDR within 2000 ms"));
	assert_true(rd(g.vm, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	be_hang_up(&g.be);
	rig_down(&g);
}

/* The back-end takes the kick but never completes the request: the
 * device thread's watchdog stops the VM after the timeout. */
static void test_ring_stall(void **state)
{
	uint16_t one = 1;
	struct rig g;

	(void)state;
	rig_up(&g, false, M_GOOD, 0, SHORT_MS);
	guest_bring_up(g.vm);
	be_wait_req(&g.be, VHOST_USER_SET_VRING_ENABLE, 1);
	/* one chain, handed to the back-end at the notify */
	guest_offer(g.vm, one);
	wr(g.vm, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	wait_stopped(g.vm);
	assert_int_equal(g.vm->status, VM_STATUS_CRASH);
	assert_non_null(strstr(g.vm->reason, "completed no request for 1000 ms while 1 "
			       "were outstanding (avail 1, used 0): it stalls"));
	rig_down(&g);
}

/* A chain naming memory outside guest RAM: the device needs a reset, the
 * back-end is not kicked and sees nothing; a reset and bring-up work. */
static void test_malformed_chain_needs_reset(void **state)
{
	struct virtq_desc d = { HV_RAM_BASE + RAM_SIZE - 8, 16, 0, 0 };
	struct pollfd p;
	struct rig g;

	(void)state;
	rig_up(&g, false, M_GOOD, 0, LONG_MS);
	guest_bring_up(g.vm);
	be_wait_req(&g.be, VHOST_USER_SET_VRING_ENABLE, 1);
	guest_offer(g.vm, 1);
	memcpy(vm_ram_ptr(g.vm, DESC, sizeof(d)), &d, sizeof(d));
	wr(g.vm, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_true(rd(g.vm, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	p = (struct pollfd){ .fd = g.be.kick, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 0), 0);
	assert_int_equal(__atomic_load_n((uint16_t *)(uintptr_t)(g.be.addr.avail_user_addr + 2), __ATOMIC_ACQUIRE), 0);
	assert_int_equal(atomic_load(&g.vm->gm.pins), atomic_load(&g.vm->gm.unpins));
	assert_false(atomic_load(&g.vm->stopping));
	guest_bring_up(g.vm);                   /* reset, then a working queue */
	assert_false(rd(g.vm, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	rig_down(&g);
}

/* The fake back-end completes `id` through the shadow used ring and calls. */
static void be_complete(struct rig *g, uint32_t id)
{
	uint64_t used, v = 1;
	uint16_t idx;

	pthread_mutex_lock(&g->be.lock);
	used = g->be.addr.used_user_addr;
	pthread_mutex_unlock(&g->be.lock);
	idx = __atomic_load_n((uint16_t *)(uintptr_t)(used + 2), __ATOMIC_RELAXED);
	memcpy((void *)(uintptr_t)(used + 4 + 8 * (idx % 16)),
	       &(struct virtq_used_elem){ id, 0 }, 8);
	__atomic_store_n((uint16_t *)(uintptr_t)(used + 2), (uint16_t)(idx + 1),
			 __ATOMIC_RELEASE);
	assert_int_equal(write(g->be.call, &v, 8), 8);
}

static uint64_t wait_kicks(struct rig *g, uint64_t want)
{
	struct pollfd p = { .fd = g->be.kick, .events = POLLIN };
	uint64_t v, got = 0;

	while (got < want) {
		assert_int_equal(poll(&p, 1, HANG_GUARD_S * 1000), 1);
		assert_int_equal(read(g->be.kick, &v, 8), 8);
		got += v;
	}
	return got;
}

/* Five 4 MiB chains (the same guest memory) against the 16 MiB pin cap:
 * four go at the notify, the fifth is forwarded - and kicked - by the
 * device thread when the back-end completes one. */
static void test_pin_cap_forwarded_by_completion(void **state)
{
	uint16_t i, head;
	struct rig g;

	(void)state;
	rig_up(&g, false, M_GOOD, 0, LONG_MS);
	guest_bring_up(g.vm);
	be_wait_req(&g.be, VHOST_USER_SET_VRING_ENABLE, 1);
	for (i = 0; i < 5; i++) {
		struct virtq_desc d = { HV_RAM_BASE, 4u << 20, VIRTQ_DESC_F_WRITE, 0 };

		memcpy(vm_ram_ptr(g.vm, DESC + 16 * i, 16), &d, 16);
		memcpy(vm_ram_ptr(g.vm, AVAIL + 4 + 2 * i, 2), &i, 2);
	}
	head = 5;
	__atomic_store_n((uint16_t *)vm_ram_ptr(g.vm, AVAIL + 2, 2), head, __ATOMIC_RELEASE);
	wr(g.vm, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(wait_kicks(&g, 1), 1);
	assert_int_equal(__atomic_load_n((uint16_t *)(uintptr_t)(g.be.addr.avail_user_addr + 2), __ATOMIC_ACQUIRE), 4);
	be_complete(&g, 1);
	assert_int_equal(wait_kicks(&g, 1), 1);         /* from the device thread */
	assert_int_equal(__atomic_load_n((uint16_t *)(uintptr_t)(g.be.addr.avail_user_addr + 2), __ATOMIC_ACQUIRE), 5);
	assert_false(atomic_load(&g.vm->stopping));
	rig_down(&g);
}

/* A back-end completing a head it was not given stops the VM. */
static void test_bad_used_id_stops(void **state)
{
	struct rig g;

	(void)state;
	rig_up(&g, false, M_GOOD, 0, LONG_MS);
	guest_bring_up(g.vm);
	be_wait_req(&g.be, VHOST_USER_SET_VRING_ENABLE, 1);
	guest_offer(g.vm, 1);
	wr(g.vm, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(wait_kicks(&g, 1), 1);
	be_complete(&g, 9);
	wait_stopped(g.vm);
	assert_int_equal(g.vm->status, VM_STATUS_CRASH);
	assert_non_null(strstr(g.vm->reason, "completed head 9, which is not in flight"));
	rig_down(&g);
}

static void test_needs_memfd(void **state)
{
	struct vhost_user_blk *b = NULL;
	struct vm *vm = fake_vm_create();       /* anonymous RAM */
	char err[256];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vhost_user_blk_create(vm, NULL, sv[0], SHORT_MS, &b, err,
					       sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--mem-backing memfd"));
	close(sv[1]);
	free(vm->ram->host);
	free(vm->ram);
	vm->ram = NULL;
	pthread_mutex_destroy(&vm->lock);
	pthread_cond_destroy(&vm->cond);
	free(vm);
}

static void test_check_reply(void **state)
{
	struct vhost_user_hdr h = { VHOST_USER_GET_CONFIG, 0x5, 0 };
	struct vhost_user_memory sent = { .nregions = 1 }, reply;
	uint64_t base = 0;
	char err[200];

	(void)state;
	/* GET_CONFIG may answer 0 bytes (failed); others must match */
	assert_int_equal(vhost_user_check_reply(VHOST_USER_GET_CONFIG, &h, 36, 0, err,
						sizeof(err)), 0);
	h = (struct vhost_user_hdr){ VHOST_USER_GET_FEATURES, 0x5, 0 };
	assert_int_equal(vhost_user_check_reply(VHOST_USER_GET_FEATURES, &h, 8, 0, err,
						sizeof(err)), -EPROTO);
	h = (struct vhost_user_hdr){ VHOST_USER_GET_FEATURES, 0x2 | 0x4, 8 };
	assert_int_equal(vhost_user_check_reply(VHOST_USER_GET_FEATURES, &h, 8, 0, err,
						sizeof(err)), -EPROTO);
	h = (struct vhost_user_hdr){ VHOST_USER_POSTCOPY_ADVISE, 0x5, 0 };
	assert_int_equal(vhost_user_check_reply(VHOST_USER_POSTCOPY_ADVISE, &h, 0, 1, err,
						sizeof(err)), 0);
	assert_int_equal(vhost_user_check_reply(VHOST_USER_POSTCOPY_ADVISE, &h, 0, 2, err,
						sizeof(err)), -EPROTO);
	sent.regions[0] = (struct vhost_user_region){ HV_RAM_BASE, 1 << 20, 0x1000, 0 };
	reply = sent;
	reply.regions[0].userspace_addr = ~0ull - 4095;        /* wraps */
	assert_int_equal(vhost_user_check_mem_reply(&sent, &reply, 40, &base, err,
						    sizeof(err)), -EPROTO);
	reply.regions[0].userspace_addr = 0x7f0000001000;
	assert_int_equal(vhost_user_check_mem_reply(&sent, &reply, 40, &base, err,
						    sizeof(err)), 0);
	assert_int_equal(base, 0x7f0000001000);
	assert_int_equal(vhost_user_check_mem_reply(&sent, &reply, 72, &base, err,
						    sizeof(err)), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_reply),
		cmocka_unit_test(test_needs_memfd),
		cmocka_unit_test(test_start_kick_call_reset),
		cmocka_unit_test(test_malformed_backends),
		cmocka_unit_test(test_backend_dies_while_running),
		cmocka_unit_test(test_hangup_seen_by_device_thread),
		cmocka_unit_test(test_stall_at_driver_ok),
		cmocka_unit_test(test_ring_stall),
		cmocka_unit_test(test_malformed_chain_needs_reset),
		cmocka_unit_test(test_pin_cap_forwarded_by_completion),
		cmocka_unit_test(test_bad_used_id_stops),
		cmocka_unit_test(test_postcopy_fault),
		cmocka_unit_test(test_postcopy_echoed_reply),
		cmocka_unit_test(test_postcopy_fault_outside),
	};
	struct uffd_caps caps;
	int r = uffd_probe(&caps);

	if (r == -EPERM || r == -ENOSYS) {
		fprintf(stderr, "userfaultfd unavailable (%s): skipping\n", strerror(-r));
		return 77;
	}
	hv_log_set_level(getenv("TEST_LOG_DEBUG") ? HV_LOG_DEBUG : HV_LOG_ERR);
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
