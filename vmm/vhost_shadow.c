/*
 * vhost_shadow.c - the shadow virtqueue of a vhost-user device: pin at
 * notify, unpin at completion (see vhost_shadow.h for why).
 *
 * Owns: struct vhost_shadow - the shadow region (a 12 KiB memfd: descriptor
 * table at 0, avail ring at 4 KiB, used ring at 8 KiB, all sized for
 * VIRTQ_MAX_SIZE entries), the private record of every descriptor in
 * flight (d[]), the four ring indices, counters.
 * Locking: `lock` protects everything but the counters (atomics) and the
 * constant fields (vm, mem, ring pointers, max_chain).  Taken by the vCPU
 * in ->notify (under the transport lock) and by the device thread on a
 * call; gm_pin/gm_unpin run under it (shadow lock -> swapper locks).
 * Invariants:
 *  - d[i].busy <=> descriptor i is published to the back-end and every
 *    buffer it names (len > 0) holds one gm_pin of exactly [gpa, gpa+len);
 *  - a head is published in the shadow avail ring only after every
 *    descriptor of its chain is pinned and written to the shadow table;
 *  - an element reaches the guest's used ring only after its chain was
 *    unpinned, so a guest that sees a completion may reuse the buffers;
 *  - pinned = the bytes of all busy descriptors <= VHOST_SHADOW_PIN_CAP,
 *    or one chain alone;
 *  - nothing the back-end writes (the shadow used ring) is trusted: ids
 *    are checked against d[] (a head in flight) before anything is
 *    unpinned, and the used index may move by at most the queue size.
 * The guest's rings are reached only through gm_pin for the duration of
 * one notify or one completion, like the in-process transport's.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hvswap/gmem.h"
#include "hvswap/guest_abi.h"
#include "guestmem.h"
#include "vhost_shadow.h"
#include "virtio_mmio.h"
#include "virtq.h"
#include "vm.h"

#define SH_DESC_OFF     0u
#define SH_AVAIL_OFF    4096u
#define SH_USED_OFF     8192u
#define SH_BYTES        12288u

/* What hvswap knows of a published descriptor (never read back from the
 * shadow table, which the back-end could write). */
struct vs_desc {
	uint64_t gpa;
	uint32_t len;
	uint16_t next;
	bool more;              /* next is valid */
	bool head;              /* the first of its chain */
	bool busy;              /* published, its buffer pinned */
};

struct vhost_shadow {
	struct vm *vm;
	struct gmem *mem;               /* the shadow region */
	struct virtq_desc *desc;        /* in mem */
	uint8_t *avail, *used;          /* in mem */
	uint64_t max_chain;
	pthread_mutex_t lock;
	/* protected by lock */
	bool started, broken;
	bool held;                      /* a chain waits for the pin cap */
	unsigned int num;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t last_avail;            /* guest avail entries taken */
	uint16_t sh_avail;              /* shadow avail idx published */
	uint16_t sh_used;               /* shadow used entries taken */
	uint16_t guest_used;            /* guest used idx published */
	uint64_t pinned;                /* bytes */
	struct vs_desc d[VIRTQ_MAX_SIZE];
	struct virtq_chain chain;       /* scratch */
	char err[224];
	struct {
		_Atomic uint64_t chains, completions, held, broken;
		_Atomic uint64_t pin_ns, pin_ns_max, pinned_max, pinned_pages;
	} st;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void stat_max(_Atomic uint64_t *m, uint64_t v)
{
	uint64_t cur = atomic_load(m);

	while (v > cur && !atomic_compare_exchange_weak(m, &cur, v))
		;
}

int vhost_shadow_create(struct vm *vm, uint64_t max_chain_bytes,
			struct vhost_shadow **out)
{
	struct vhost_shadow *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	r = gmem_create(GMEM_MEMFD, SH_BYTES, "hvswap-vhost-shadow", &s->mem);
	if (r < 0) {
		free(s);
		return r;
	}
	/* Populated now: the back-end's postcopy userfaultfd never sees a
	 * fault on these pages (they stay in the memfd). */
	memset(s->mem->host, 0, SH_BYTES);
	s->vm = vm;
	s->max_chain = max_chain_bytes;
	s->desc = (struct virtq_desc *)((uint8_t *)s->mem->host + SH_DESC_OFF);
	s->avail = (uint8_t *)s->mem->host + SH_AVAIL_OFF;
	s->used = (uint8_t *)s->mem->host + SH_USED_OFF;
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

void vhost_shadow_destroy(struct vhost_shadow *s)
{
	if (!s)
		return;
	vhost_shadow_stop(s);
	pthread_mutex_destroy(&s->lock);
	gmem_destroy(s->mem);
	free(s);
}

int vhost_shadow_memfd(const struct vhost_shadow *s)
{
	return s->mem->memfd;
}

void *vhost_shadow_host(const struct vhost_shadow *s)
{
	return s->mem->host;
}

uint64_t vhost_shadow_size(const struct vhost_shadow *s)
{
	(void)s;
	return SH_BYTES;
}

/* ---- pins ------------------------------------------------------------------- */

/* Lock held: descriptor i is done with. */
static void unpin_desc(struct vhost_shadow *s, uint16_t i)
{
	struct vs_desc *d = &s->d[i];

	if (d->len)
		gm_unpin(s->vm, d->gpa, d->len);
	s->pinned -= d->len;
	*d = (struct vs_desc){ 0 };
}

/* Lock held: unpin the chain at head h (a busy head).  Bounded by the
 * queue size whatever d[] says. */
static void unpin_chain(struct vhost_shadow *s, uint16_t h)
{
	unsigned int n;
	uint16_t next;
	bool more;

	for (n = 0; n < s->num && s->d[h].busy; n++) {
		more = s->d[h].more;
		next = s->d[h].next;
		unpin_desc(s, h);
		if (!more)
			break;
		h = next;
	}
}

/* Lock held: pin every buffer of chain c and record its descriptors.  On
 * failure nothing of it stays pinned and s->err says why. */
static int pin_chain(struct vhost_shadow *s, const struct virtq_chain *c)
{
	unsigned int i;
	void *host;
	int r = 0;

	for (i = 0; i < c->n; i++) {
		const struct virtq_seg *g = &c->seg[i];

		if (s->d[g->idx].busy) {
			snprintf(s->err, sizeof(s->err), "descriptor %u of the chain at "
				 "head %u is still in flight", g->idx, c->head);
			r = -EINVAL;
			break;
		}
		if (g->len) {
			r = gm_pin(s->vm, g->addr, g->len, g->write, &host);
			if (r < 0) {
				snprintf(s->err, sizeof(s->err), "cannot pin the buffer at "
					 "0x%" PRIx64 " (%u bytes) of the chain at head %u: %s",
					 g->addr, g->len, c->head, strerror(-r));
				break;
			}
		}
		s->d[g->idx] = (struct vs_desc){
			.gpa = g->addr, .len = g->len, .busy = true, .head = i == 0,
			.more = i + 1 < c->n, .next = i + 1 < c->n ? c->seg[i + 1].idx : 0,
		};
		s->pinned += g->len;
		atomic_fetch_add(&s->st.pinned_pages, g->len ?
				 (g->addr + g->len - 1) / 4096 - g->addr / 4096 + 1 : 0);
	}
	if (r < 0) {
		while (i--)
			unpin_desc(s, c->seg[i].idx);
	}
	return r;
}

/* Lock held: copy chain c (pinned) into the shadow table and put its head
 * in the shadow avail ring (the idx is published by the caller). */
static void publish(struct vhost_shadow *s, const struct virtq_chain *c)
{
	unsigned int i;

	for (i = 0; i < c->n; i++) {
		const struct vs_desc *d = &s->d[c->seg[i].idx];

		s->desc[c->seg[i].idx] = (struct virtq_desc){
			.addr = d->gpa, .len = d->len, .next = d->next,
			.flags = (uint16_t)((c->seg[i].write ? VIRTQ_DESC_F_WRITE : 0) |
					    (d->more ? VIRTQ_DESC_F_NEXT : 0)),
		};
	}
	memcpy(s->avail + 4 + 2 * (s->sh_avail % s->num), &c->head, 2);
	s->sh_avail++;
}

/* Lock held: validate, pin and publish the guest's next chain from q.
 * Returns 1 (published), 0 (ring empty, or the chain must wait for the
 * pin cap: q's position is then not taken) or -EINVAL/-errno (broken). */
static int forward_one(struct vhost_shadow *s, struct virtq *q)
{
	struct virtq_limits lim = {
		.ram_base = HV_RAM_BASE, .ram_size = s->vm->cfg.mem_size,
		.max_bytes = s->max_chain,
	};
	struct virtq_chain *c = &s->chain;
	uint64_t t0, dt;
	uint16_t head;
	int r;

	r = virtq_pop(q, &head);
	if (r <= 0) {
		if (r < 0)
			snprintf(s->err, sizeof(s->err), "avail ring: %s", virtq_strerror(r));
		return r < 0 ? -EINVAL : 0;
	}
	r = virtq_walk(q->desc, q->size, head, &lim, c);
	if (r < 0 || c->err) {
		snprintf(s->err, sizeof(s->err), "descriptor chain at head %u: %s%s",
			 head, virtq_strerror(r < 0 ? r : c->err),
			 r < 0 ? "" : " (a buffer)");
		return -EINVAL;
	}
	if (s->pinned && s->pinned + c->in_bytes + c->out_bytes > VHOST_SHADOW_PIN_CAP) {
		s->held = true;
		atomic_fetch_add(&s->st.held, 1);
		return 0;
	}
	t0 = now_ns();
	r = pin_chain(s, c);
	if (r < 0)
		return r;
	dt = now_ns() - t0;
	atomic_fetch_add(&s->st.pin_ns, dt);
	stat_max(&s->st.pin_ns_max, dt);
	stat_max(&s->st.pinned_max, s->pinned);
	publish(s, c);
	s->last_avail = q->last_avail;
	atomic_fetch_add(&s->st.chains, 1);
	return 1;
}

/* Lock held: forward every new chain of the guest (those the pin cap
 * allows).  Returns the number published or < 0 (the queue is broken). */
static int forward(struct vhost_shadow *s)
{
	struct virtq q = { .size = s->num, .last_avail = s->last_avail };
	int r, n = 0;
	void *p;

	if (!s->started || s->broken)
		return 0;
	s->held = false;
	r = gm_pin(s->vm, s->desc_gpa, virtq_desc_bytes(s->num), false, &p);
	if (r < 0)
		goto err;
	q.desc = p;
	r = gm_pin(s->vm, s->avail_gpa, virtq_avail_bytes(s->num), false, &p);
	if (r < 0) {
		gm_unpin(s->vm, s->desc_gpa, virtq_desc_bytes(s->num));
		goto err;
	}
	q.avail = p;
	while (!s->held && (r = forward_one(s, &q)) > 0)
		n++;
	if (n)          /* the back-end may see the heads only now */
		__atomic_store_n((uint16_t *)(s->avail + 2), s->sh_avail, __ATOMIC_RELEASE);
	gm_unpin(s->vm, s->avail_gpa, virtq_avail_bytes(s->num));
	gm_unpin(s->vm, s->desc_gpa, virtq_desc_bytes(s->num));
	if (r < 0) {
		s->broken = true;
		atomic_fetch_add(&s->st.broken, 1);
		return r;
	}
	return n;
err:
	snprintf(s->err, sizeof(s->err), "cannot pin the guest's rings: %s", strerror(-r));
	s->broken = true;
	atomic_fetch_add(&s->st.broken, 1);
	return r;
}

/* ---- the ring's life -------------------------------------------------------- */

/* Lock held: empty shadow rings.  The idx fields are stored atomically:
 * the device thread's stall watch may still be reading them. */
static void clear_rings(struct vhost_shadow *s)
{
	memset(s->desc, 0, SH_AVAIL_OFF - SH_DESC_OFF);
	__atomic_store_n((uint16_t *)s->avail, 0, __ATOMIC_RELAXED);
	__atomic_store_n((uint16_t *)(s->avail + 2), 0, __ATOMIC_RELEASE);
	memset(s->avail + 4, 0, SH_USED_OFF - SH_AVAIL_OFF - 4);
	__atomic_store_n((uint16_t *)s->used, 0, __ATOMIC_RELAXED);
	__atomic_store_n((uint16_t *)(s->used + 2), 0, __ATOMIC_RELEASE);
	memset(s->used + 4, 0, SH_BYTES - SH_USED_OFF - 4);
}

void vhost_shadow_start(struct vhost_shadow *s, const struct virtio_queue_cfg *q,
			struct vhost_shadow_rings *r)
{
	vhost_shadow_stop(s);
	pthread_mutex_lock(&s->lock);
	clear_rings(s);
	s->num = q->num;
	s->desc_gpa = q->desc_gpa;
	s->avail_gpa = q->avail_gpa;
	s->used_gpa = q->used_gpa;
	s->last_avail = s->sh_avail = s->sh_used = s->guest_used = 0;
	s->pinned = 0;
	s->broken = s->held = false;
	s->err[0] = '\0';
	s->started = true;
	pthread_mutex_unlock(&s->lock);
	*r = (struct vhost_shadow_rings){
		.desc = (uintptr_t)s->desc, .avail = (uintptr_t)s->avail,
		.used = (uintptr_t)s->used,
		.avail_idx = (uintptr_t)(s->avail + 2), .used_idx = (uintptr_t)(s->used + 2),
	};
}

void vhost_shadow_stop(struct vhost_shadow *s)
{
	unsigned int i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < VIRTQ_MAX_SIZE; i++) {
		if (s->d[i].busy)
			unpin_desc(s, (uint16_t)i);
	}
	s->pinned = 0;
	s->started = false;
	pthread_mutex_unlock(&s->lock);
}

int vhost_shadow_notify(struct vhost_shadow *s)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = forward(s);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Lock held: the back-end's used entries up to u: unpin each chain, then
 * hand its element to the guest.  Returns 0 or -EPROTO / -errno. */
static int retire(struct vhost_shadow *s, uint16_t u, unsigned int *completed)
{
	struct virtq_used_elem e;
	uint8_t *gu;
	void *p;
	int r;

	r = gm_pin(s->vm, s->used_gpa, virtq_used_bytes(s->num), true, &p);
	if (r < 0) {
		snprintf(s->err, sizeof(s->err), "cannot pin the guest's used ring: %s",
			 strerror(-r));
		return r;
	}
	gu = p;
	while (s->sh_used != u) {
		memcpy(&e, s->used + 4 + 8 * (s->sh_used % s->num), sizeof(e));
		if (e.id >= s->num || !s->d[e.id].busy || !s->d[e.id].head) {
			snprintf(s->err, sizeof(s->err), "the back-end completed head %u, "
				 "which is not in flight", e.id);
			r = -EPROTO;
			break;
		}
		unpin_chain(s, (uint16_t)e.id);
		memcpy(gu + 4 + 8 * (s->guest_used % s->num), &e, sizeof(e));
		s->guest_used++;
		s->sh_used++;
		(*completed)++;
	}
	/* the elements (and the buffers) before the index */
	if (*completed)
		__atomic_store_n((uint16_t *)(gu + 2), s->guest_used, __ATOMIC_RELEASE);
	gm_unpin(s->vm, s->used_gpa, virtq_used_bytes(s->num));
	atomic_fetch_add(&s->st.completions, *completed);
	return r;
}

int vhost_shadow_complete(struct vhost_shadow *s, unsigned int *completed,
			  unsigned int *forwarded)
{
	uint16_t u;
	int r = 0, f;

	*completed = *forwarded = 0;
	pthread_mutex_lock(&s->lock);
	if (!s->started)
		goto out;
	u = __atomic_load_n((uint16_t *)(s->used + 2), __ATOMIC_ACQUIRE);
	if ((uint16_t)(u - s->sh_used) > (uint16_t)(s->sh_avail - s->sh_used)) {
		snprintf(s->err, sizeof(s->err), "the back-end's used index moved "
			 "from %u to %u with %u requests in flight", s->sh_used, u,
			 (uint16_t)(s->sh_avail - s->sh_used));
		r = -EPROTO;
		goto out;
	}
	if (u != s->sh_used)
		r = retire(s, u, completed);
	if (r == 0 && s->held) {
		f = forward(s);
		if (f > 0)
			*forwarded = (unsigned int)f;
		else if (f < 0)
			r = -EINVAL;    /* the guest's chain: the queue is broken */
	}
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

const char *vhost_shadow_error(struct vhost_shadow *s)
{
	return s->err;
}

struct json_object *vhost_shadow_stats_json(struct vhost_shadow *s)
{
	struct json_object *o = json_object_new_object();
	uint64_t chains = atomic_load(&s->st.chains), pinned;

	pthread_mutex_lock(&s->lock);
	pinned = s->pinned;
	pthread_mutex_unlock(&s->lock);
#define ADD(f) json_object_object_add(o, #f, json_object_new_uint64(atomic_load(&s->st.f)))
	ADD(chains);
	ADD(completions);
	ADD(held);
	ADD(broken);
	ADD(pinned_pages);
	ADD(pinned_max);
	ADD(pin_ns_max);
#undef ADD
	json_object_object_add(o, "pinned_bytes", json_object_new_uint64(pinned));
	json_object_object_add(o, "pin_ns_avg", json_object_new_uint64(
		chains ? atomic_load(&s->st.pin_ns) / chains : 0));
	return o;
}
