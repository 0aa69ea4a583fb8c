/*
 * test_vhost_shadow.c - the shadow virtqueue of vhost-user devices
 * (vmm/vhost_shadow.c) on memfd guest memory managed by a real swapper.
 *
 * The guest's rings are written through the swapper's mapping (as a vCPU
 * would); the back-end's side is played by the test: it reads the shadow
 * rings, writes buffers through a second mapping of the memfd (as a
 * vhost-user back-end process maps it) and completes through the shadow
 * used ring.
 *
 * What is checked:
 *  - a chain is pinned at the notify and published only then; the
 *    back-end sees a copy of the validated descriptors (a guest rewriting
 *    its table afterwards changes nothing it reads); completion unpins
 *    and hands the element to the guest's used ring;
 *  - every kind of malformed chain breaks the queue with a named reason,
 *    publishes nothing and leaves nothing pinned;
 *  - the pin cap holds a chain back until a completion makes room;
 *  - a back-end completing a head it was not given is refused;
 *  - THE RACE: eviction is held (test hook HOOK_EVICT_COPIED) after a
 *    page's copy to staging and before its hole punch.  A back-end write
 *    to an unpinned page landing there is lost (the hazard, shown); a
 *    page the shadow queue pinned is never in that window - the hook never
 *    sees it while its neighbour is held there, the back-end's write to it
 *    survives, and it is evicted (and read back intact) once completed.
 * Waits on the reclaim thread use condition variables with a generous
 * bound that only guards against a hang.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "swapper_testlib.h"

#include "hvswap/log.h"
#include "uffd.h"
#include "vhost_shadow.h"
#include "virtio_mmio.h"
#include "virtq.h"
#include "vm.h"

#define QN              16u
#define DESC            (GPA + 0x0000)
#define AVAIL           (GPA + 0x1000)
#define USED            (GPA + 0x2000)
#define BUF(i)          (GPA + 0x10000 + (uint64_t)(i) * 0x10000)
#define MAX_CHAIN       ((4ull << 20) + 64)
#define HANG_GUARD_S    60

/* The hook: records every page the reclaim thread copied for eviction
 * and can hold it at one of them. */
struct hold {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t at;                    /* page to hold at, or ~0 */
	bool held, release;
	uint8_t seen[8192];             /* pages copied for eviction */
};

struct rig {
	struct env e;
	struct vm *vm;
	struct vhost_shadow *sh;
	struct vhost_shadow_rings r;
	uint8_t *theirs;                /* the back-end's mapping of the memfd */
	struct hold h;
};

static struct timespec guard(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += HANG_GUARD_S;
	return ts;
}

static void hook(struct swapper *s, enum core_hook_point p, uint64_t v, void *arg)
{
	struct hold *h = arg;
	struct timespec ts = guard();

	(void)s;
	if (p != HOOK_EVICT_COPIED || v >= sizeof(h->seen))
		return;
	pthread_mutex_lock(&h->lock);
	h->seen[v] = 1;
	if (v == h->at) {
		h->held = true;
		pthread_cond_broadcast(&h->cond);
		while (!h->release &&
		       pthread_cond_timedwait(&h->cond, &h->lock, &ts) == 0)
			;
		h->at = ~0ull;
	}
	pthread_mutex_unlock(&h->lock);
}

static void up(struct rig *g, uint64_t npages, uint64_t limit)
{
	struct opts o = { .memfd = true, .npages = npages, .limit_pages = limit,
			  .hook = hook, .hook_arg = &g->h };
	struct virtio_queue_cfg q = { .index = 0, .num = QN, .desc_gpa = DESC,
				      .avail_gpa = AVAIL, .used_gpa = USED };

	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->h.lock, NULL);
	pthread_cond_init(&g->h.cond, NULL);
	g->h.at = ~0ull;
	env_setup(&g->e, &o);
	g->vm = calloc(1, sizeof(*g->vm));
	assert_non_null(g->vm);
	g->vm->ram = g->e.mem;
	g->vm->swapper = g->e.s;
	g->vm->cfg.mem_size = g->e.mem->size;
	pthread_mutex_init(&g->vm->lock, NULL);
	pthread_cond_init(&g->vm->cond, NULL);
	g->theirs = mmap(NULL, g->e.mem->size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 g->e.mem->memfd, 0);
	assert_true(g->theirs != MAP_FAILED);
	assert_int_equal(vhost_shadow_create(g->vm, MAX_CHAIN, &g->sh), 0);
	/* the driver zeroes its rings before DRIVER_OK */
	memset(g->e.base, 0, 3 * PG);
	vhost_shadow_start(g->sh, &q, &g->r);
}

static uint64_t active_pins(struct rig *g)
{
	return atomic_load(&g->vm->gm.pins) - atomic_load(&g->vm->gm.unpins);
}

static void down(struct rig *g)
{
	vhost_shadow_destroy(g->sh);
	assert_int_equal(active_pins(g), 0);
	munmap(g->theirs, g->e.mem->size);
	env_teardown(&g->e);
	pthread_mutex_destroy(&g->vm->lock);
	pthread_cond_destroy(&g->vm->cond);
	free(g->vm);
	pthread_mutex_destroy(&g->h.lock);
	pthread_cond_destroy(&g->h.cond);
}

/* ---- the guest's side (through the swapper's mapping) ---------------------- */

static void *gptr(struct rig *g, uint64_t gpa)
{
	return g->e.base + (gpa - GPA);
}

static void g_desc(struct rig *g, unsigned int i, uint64_t addr, uint32_t len,
		   uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };

	memcpy((uint8_t *)gptr(g, DESC) + 16 * i, &d, sizeof(d));
}

static void g_offer(struct rig *g, uint16_t head)
{
	uint8_t *a = gptr(g, AVAIL);
	uint16_t idx;

	memcpy(&idx, a + 2, 2);
	memcpy(a + 4 + 2 * (idx % QN), &head, 2);
	__atomic_store_n((uint16_t *)(a + 2), (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

static uint16_t g_used_idx(struct rig *g)
{
	return __atomic_load_n((uint16_t *)((uint8_t *)gptr(g, USED) + 2),
			       __ATOMIC_ACQUIRE);
}

static struct virtq_used_elem g_used(struct rig *g, unsigned int k)
{
	struct virtq_used_elem e;

	memcpy(&e, (uint8_t *)gptr(g, USED) + 4 + 8 * (k % QN), sizeof(e));
	return e;
}

/* ---- the back-end's side (the shadow rings) ---------------------------------- */

static uint16_t be_avail_idx(struct rig *g)
{
	return __atomic_load_n((uint16_t *)(uintptr_t)g->r.avail_idx, __ATOMIC_ACQUIRE);
}

static uint16_t be_head(struct rig *g, unsigned int k)
{
	uint16_t h;

	memcpy(&h, (uint8_t *)(uintptr_t)g->r.avail + 4 + 2 * (k % QN), 2);
	return h;
}

static struct virtq_desc be_desc(struct rig *g, unsigned int i)
{
	struct virtq_desc d;

	memcpy(&d, (uint8_t *)(uintptr_t)g->r.desc + 16 * i, sizeof(d));
	return d;
}

static void be_complete(struct rig *g, uint32_t id, uint32_t len)
{
	uint8_t *u = (uint8_t *)(uintptr_t)g->r.used;
	struct virtq_used_elem e = { id, len };
	uint16_t idx;

	memcpy(&idx, u + 2, 2);
	memcpy(u + 4 + 8 * (idx % QN), &e, sizeof(e));
	__atomic_store_n((uint16_t *)(u + 2), (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

/* The back-end writes a page through its own mapping (another process in
 * production: invisible to TSan there too). */
static __attribute__((noinline, no_sanitize("thread")))
void be_write_page(struct rig *g, uint64_t idx, unsigned int gen)
{
	volatile uint64_t *p = (volatile uint64_t *)(g->theirs + idx * PG);
	unsigned int k;

	for (k = 0; k < WORDS; k++)
		p[k] = pat(idx, gen, k);
}

static bool pinned(struct rig *g, uint64_t gpa)
{
	uint64_t w = word_of(&g->e, (gpa - GPA) / PG);

	return pg_state(w) == PS_RESIDENT && (w & PG_PINNED);
}

static void restart(struct rig *g)
{
	struct virtio_queue_cfg q = { .index = 0, .num = QN, .desc_gpa = DESC,
				      .avail_gpa = AVAIL, .used_gpa = USED };

	vhost_shadow_stop(g->sh);
	assert_int_equal(active_pins(g), 0);
	memset(g->e.base, 0, 3 * PG);
	vhost_shadow_start(g->sh, &q, &g->r);
}

/* ---- tests -------------------------------------------------------------------- */

static void test_forward_and_complete(void **state)
{
	unsigned int done, fwd;
	struct virtq_desc d;
	struct rig g;

	(void)state;
	up(&g, 0, 0);
	assert_int_equal(vhost_shadow_notify(g.sh), 0);         /* nothing yet */
	g_desc(&g, 0, BUF(0), 16, VIRTQ_DESC_F_NEXT, 5);
	g_desc(&g, 5, BUF(1) + 100, 8192, VIRTQ_DESC_F_WRITE, 0);  /* 3 pages */
	g_offer(&g, 0);
	assert_int_equal(be_avail_idx(&g), 0);          /* not before the notify */
	assert_int_equal(vhost_shadow_notify(g.sh), 1);
	assert_int_equal(active_pins(&g), 2);
	assert_true(pinned(&g, BUF(0)));
	assert_true(pinned(&g, BUF(1)) && pinned(&g, BUF(1) + PG) &&
		    pinned(&g, BUF(1) + 2 * PG));
	assert_int_equal(be_avail_idx(&g), 1);
	assert_int_equal(be_head(&g, 0), 0);
	d = be_desc(&g, 0);
	assert_true(d.addr == BUF(0) && d.len == 16 && d.flags == VIRTQ_DESC_F_NEXT &&
		    d.next == 5);
	/* the guest rewrites its table: the back-end's copy stays */
	g_desc(&g, 5, GPA + 0x100000, 4096, VIRTQ_DESC_F_WRITE, 0);
	d = be_desc(&g, 5);
	assert_true(d.addr == BUF(1) + 100 && d.len == 8192 &&
		    d.flags == VIRTQ_DESC_F_WRITE);

	be_complete(&g, 0, 8192);
	assert_int_equal(vhost_shadow_complete(g.sh, &done, &fwd), 0);
	assert_int_equal(done, 1);
	assert_int_equal(fwd, 0);
	assert_int_equal(active_pins(&g), 0);
	assert_false(pinned(&g, BUF(1)));
	assert_int_equal(g_used_idx(&g), 1);
	assert_int_equal(g_used(&g, 0).id, 0);
	assert_int_equal(g_used(&g, 0).len, 8192);
	/* a call with nothing new */
	assert_int_equal(vhost_shadow_complete(g.sh, &done, &fwd), 0);
	assert_int_equal(done, 0);
	down(&g);
}

/* Offer what the guest set up, notify: the queue breaks with `want`. */
static void breaks(struct rig *g, const char *want)
{
	int r = vhost_shadow_notify(g->sh);

	if (r >= 0 || !strstr(vhost_shadow_error(g->sh), want))
		fail_msg("notify = %d, error '%s', want '%s'", r,
			 vhost_shadow_error(g->sh), want);
	assert_int_equal(active_pins(g), 0);
	assert_int_equal(be_avail_idx(g), 0);
	/* broken: later notifies publish nothing */
	assert_int_equal(vhost_shadow_notify(g->sh), 0);
	restart(g);
}

static void test_malformed_chains(void **state)
{
	uint64_t ram = 0;
	struct rig g;

	(void)state;
	up(&g, 0, 0);
	ram = g.e.mem->size;
	g_desc(&g, 0, GPA + ram - 100, 200, VIRTQ_DESC_F_WRITE, 0);
	g_offer(&g, 0);
	breaks(&g, "buffer outside guest RAM");
	g_desc(&g, 0, BUF(0), 16, VIRTQ_DESC_F_NEXT, 1);
	g_desc(&g, 1, BUF(1), 16, VIRTQ_DESC_F_NEXT, 0);
	g_offer(&g, 0);
	breaks(&g, "descriptor loop");
	g_desc(&g, 0, BUF(0), 16, VIRTQ_DESC_F_NEXT, QN);
	g_offer(&g, 0);
	breaks(&g, "next index out of range");
	g_desc(&g, 0, BUF(0), 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	g_desc(&g, 1, BUF(1), 16, 0, 0);
	g_offer(&g, 0);
	breaks(&g, "device-readable buffer after a device-writable one");
	g_desc(&g, 0, BUF(0), (uint32_t)MAX_CHAIN + 1, VIRTQ_DESC_F_WRITE, 0);
	g_offer(&g, 0);
	breaks(&g, "request too long");
	g_desc(&g, 0, BUF(0), 16, VIRTQ_DESC_F_INDIRECT, 0);
	g_offer(&g, 0);
	breaks(&g, "indirect descriptor not negotiated");
	g_desc(&g, 0, BUF(0), 16, 0, 0);
	g_offer(&g, QN + 3);
	breaks(&g, "head index out of range");
	__atomic_store_n((uint16_t *)((uint8_t *)gptr(&g, AVAIL) + 2), QN + 1,
			 __ATOMIC_RELEASE);
	breaks(&g, "avail index jumped");
	/* a descriptor of a chain in flight, offered again */
	g_desc(&g, 0, BUF(0), 16, 0, 0);
	g_offer(&g, 0);
	assert_int_equal(vhost_shadow_notify(g.sh), 1);
	g_offer(&g, 0);
	assert_true(vhost_shadow_notify(g.sh) < 0);
	assert_non_null(strstr(vhost_shadow_error(g.sh), "descriptor 0 of the chain "
					   "at head 0 is still in flight"));
	assert_int_equal(active_pins(&g), 1);   /* the first chain's, until stop */
	restart(&g);
	down(&g);
}

/* Four 4 MiB chains fill the 16 MiB cap; the fifth waits for a
 * completion, which forwards it. */
static void test_pin_cap(void **state)
{
	unsigned int i, done, fwd;
	struct rig g;

	(void)state;
	up(&g, 8192, 6144);
	for (i = 0; i < 4; i++) {
		g_desc(&g, i, GPA + (1ull << 20) + i * (4ull << 20) / 2, 4u << 20,
		       VIRTQ_DESC_F_WRITE, 0);
		g_offer(&g, (uint16_t)i);
	}
	g_desc(&g, 4, BUF(0), 4096, VIRTQ_DESC_F_WRITE, 0);
	g_offer(&g, 4);
	assert_int_equal(vhost_shadow_notify(g.sh), 4);
	assert_int_equal(be_avail_idx(&g), 4);
	assert_int_equal(active_pins(&g), 4);
	/* a notify while it waits publishes nothing more */
	assert_int_equal(vhost_shadow_notify(g.sh), 0);
	be_complete(&g, 2, 0);
	assert_int_equal(vhost_shadow_complete(g.sh, &done, &fwd), 0);
	assert_int_equal(done, 1);
	assert_int_equal(fwd, 1);
	assert_int_equal(be_avail_idx(&g), 5);
	assert_int_equal(be_head(&g, 4), 4);
	assert_int_equal(active_pins(&g), 4);
	assert_int_equal(g_used(&g, 0).id, 2);
	down(&g);
}

static void test_bad_used_id(void **state)
{
	unsigned int done, fwd;
	struct rig g;

	(void)state;
	up(&g, 0, 0);
	g_desc(&g, 0, BUF(0), 16, 0, 0);
	g_offer(&g, 0);
	assert_int_equal(vhost_shadow_notify(g.sh), 1);
	be_complete(&g, 7, 0);
	assert_int_equal(vhost_shadow_complete(g.sh, &done, &fwd), -EPROTO);
	assert_non_null(strstr(vhost_shadow_error(g.sh), "completed head 7, which is "
					   "not in flight"));
	assert_int_equal(g_used_idx(&g), 0);
	assert_int_equal(active_pins(&g), 1);
	down(&g);               /* stop unpins it */
}

/* ---- the race -------------------------------------------------------------------- */

struct trimmer {
	struct swapper *s;
	pthread_t th;
	int r;
};

static void *trim_main(void *arg)
{
	struct trimmer *t = arg;

	t->r = swapper_trim(t->s);
	return NULL;
}

/* Start a trim on a thread and wait until the reclaim thread is held
 * between the copy and the drop of page idx. */
static void trim_held_at(struct rig *g, struct trimmer *t, uint64_t idx)
{
	struct timespec ts = guard();

	pthread_mutex_lock(&g->h.lock);
	g->h.at = idx;
	g->h.held = g->h.release = false;
	pthread_mutex_unlock(&g->h.lock);
	t->s = g->e.s;
	assert_int_equal(pthread_create(&t->th, NULL, trim_main, t), 0);
	pthread_mutex_lock(&g->h.lock);
	while (!g->h.held)
		assert_int_equal(pthread_cond_timedwait(&g->h.cond, &g->h.lock, &ts), 0);
	pthread_mutex_unlock(&g->h.lock);
}

static void trim_release(struct rig *g, struct trimmer *t)
{
	pthread_mutex_lock(&g->h.lock);
	g->h.release = true;
	pthread_cond_broadcast(&g->h.cond);
	pthread_mutex_unlock(&g->h.lock);
	pthread_join(t->th, NULL);
	assert_int_equal(t->r, 0);
}

static bool seen(struct rig *g, uint64_t idx)
{
	bool v;

	pthread_mutex_lock(&g->h.lock);
	v = g->h.seen[idx];
	pthread_mutex_unlock(&g->h.lock);
	return v;
}

/* Without a pin, a back-end write between the copy and the punch is lost:
 * the hazard the shadow queue exists for. */
static void test_unpinned_write_is_lost(void **state)
{
	uint64_t h = (BUF(3) - GPA) / PG;
	struct trimmer t;
	struct rig g;

	(void)state;
	up(&g, 0, 0);
	write_range(&g.e, h, h + 1, 1);
	trim_held_at(&g, &t, h);
	be_write_page(&g, h, 2);                /* lands in the copied page */
	trim_release(&g, &t);
	assert_int_equal(state_of(&g.e, h), PS_SWAPPED);
	assert_true(page_is(&g.e, h, 1, true)); /* generation 2 is gone */
	down(&g);
}

/* A pinned buffer is never between copy and punch: its neighbour is held
 * there while the back-end writes it; it is evicted only after the
 * completion, with the back-end's data. */
static void test_pinned_buffer_never_evicted(void **state)
{
	uint64_t q = (BUF(4) - GPA) / PG;
	unsigned int done, fwd;
	struct trimmer t;
	struct rig g;

	(void)state;
	up(&g, 0, 0);
	write_range(&g.e, q - 1, q + 2, 1);
	g_desc(&g, 0, BUF(4), PG, VIRTQ_DESC_F_WRITE, 0);
	g_offer(&g, 0);
	assert_int_equal(vhost_shadow_notify(g.sh), 1);
	trim_held_at(&g, &t, q + 1);            /* its neighbour, mid-eviction */
	be_write_page(&g, q, 2);                /* the back-end does the I/O */
	assert_false(seen(&g, q));
	trim_release(&g, &t);
	assert_false(seen(&g, q));
	assert_true(pinned(&g, BUF(4)));
	assert_int_equal(state_of(&g.e, q - 1), PS_SWAPPED);
	assert_int_equal(state_of(&g.e, q + 1), PS_SWAPPED);
	g.e.gen[q] = 2;

	be_complete(&g, 0, PG);
	assert_int_equal(vhost_shadow_complete(g.sh, &done, &fwd), 0);
	assert_int_equal(done, 1);
	assert_false(pinned(&g, BUF(4)));
	assert_int_equal(swapper_trim(g.e.s), 0);
	assert_true(seen(&g, q));
	assert_int_equal(state_of(&g.e, q), PS_SWAPPED);
	assert_true(page_is(&g.e, q, 2, true)); /* read back: the back-end's */
	assert_true(page_is(&g.e, q + 1, 1, true));
	down(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forward_and_complete),
		cmocka_unit_test(test_malformed_chains),
		cmocka_unit_test(test_pin_cap),
		cmocka_unit_test(test_bad_used_id),
		cmocka_unit_test(test_unpinned_write_is_lost),
		cmocka_unit_test(test_pinned_buffer_never_evicted),
	};
	struct uffd_caps caps;
	int r = uffd_probe(&caps);

	if (r == -EPERM || r == -ENOSYS) {
		fprintf(stderr, "userfaultfd unavailable (%s): skipping\n", strerror(-r));
		return 77;
	}
	if (!caps.wp_shmem) {
		fprintf(stderr, "no uffd write-protect on shmem: memfd memory is not "
			"swapped here; skipping\n");
		return 77;
	}
	hv_log_set_level(getenv("TEST_LOG_DEBUG") ? HV_LOG_DEBUG : HV_LOG_ERR);
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
