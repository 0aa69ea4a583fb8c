/*
 * virtio_mmio.c - virtio-mmio transport (version 2): registers, feature
 * negotiation, device status, one split virtqueue, synchronous processing
 * on QueueNotify (see virtio_mmio.h for why synchronous).
 *
 * Owns: struct virtio_mmio_dev (registers, queue state, counters).
 * Lock order: d->lock -> (swapper locks, taken inside gm_pin) ; vm->lock is
 * never taken under d->lock.  d->lock is held across a whole notify, so
 * request handlers may block (pins that fault in from swap, file I/O).
 * Invariants: the rings are only dereferenced between pin_rings() and
 * unpin_rings() of one notify; a queue is `ready` only with a size that is
 * a power of 2 <= queue_max and ring addresses inside guest RAM and aligned;
 * QueueSel may name any value, but only queues < nr_queues exist;
 * once NEEDS_RESET is set no buffer is consumed until the driver resets.
 * Everything the guest writes is hostile: bad register accesses are
 * ignored (reads return 0) with a rate-limited warning, never a VMM crash.
 * A device with ->notify (vhost-user) is started at DRIVER_OK, notified on
 * QueueNotify and stopped at reset or destroy (`started`, under d->lock);
 * its rings are never pinned or walked here.  virtio_mmio_interrupt() is
 * the one entry from a non-vCPU thread (a device's completion thread).
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvswap/guest_abi.h"
#include "hvswap/log.h"
#include "guestmem.h"
#include "hvswap/ratelimit.h"
#include "virtio_mmio.h"
#include "vm.h"

/* One virtqueue's driver-set registers and ring state. */
struct vq {
	uint32_t num;                   /* as written by the driver */
	bool ready;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct virtq q;                 /* size/indices valid while ready */
};

struct virtio_mmio_dev {
	struct vm *vm;
	uint64_t base;
	const struct virtio_dev_ops *ops;
	void *dev;
	char name[48];                  /* "virtio-blk@0x40200000" */

	pthread_mutex_t lock;
	/* protected by lock */
	uint32_t status;
	uint32_t dev_features_sel, drv_features_sel;
	uint64_t drv_features;
	uint32_t queue_sel;
	unsigned int nr_queues;         /* constant: ops->nr_queues, at least 1 */
	struct vq vqs[VIRTIO_MMIO_MAX_QUEUES];
	uint32_t isr;
	bool started;                   /* ops->start() succeeded, no stop yet */
	struct virtq_chain chain;       /* scratch for one request */
	struct ratelimit rl;
	bool irq_level;                 /* as last given to irq_fn */
	void (*irq_fn)(void *ctx, unsigned int irq, bool level);   /* set once */
	void *irq_ctx;
	unsigned int irq;
	struct {
		uint64_t notifies, requests, needs_reset, bad_access;
		uint64_t ignored_notifies;
	} st;
};

/* Rate-limited: a guest can trigger these at will. */
#define vwarn(d, fmt, ...) do {                                         \
	uint64_t sup_;                                                  \
	if (!ratelimit_ok(&(d)->rl, &sup_))                             \
		break;                                                  \
	if (sup_)                                                       \
		log_warn("%s: " fmt " (%" PRIu64 " warnings suppressed " \
			 "before this one)", (d)->name, ##__VA_ARGS__, sup_); \
	else                                                            \
		log_warn("%s: " fmt, (d)->name, ##__VA_ARGS__);         \
} while (0)

static uint64_t offered_features(const struct virtio_mmio_dev *d)
{
	return d->ops->features | (1ull << VIRTIO_F_VERSION_1);
}

/* Device reset (status 0): everything back to power-on state. */
static void reset(struct virtio_mmio_dev *d)
{
	if (d->started && d->ops->stop)
		d->ops->stop(d->dev);
	d->started = false;
	d->status = 0;
	d->dev_features_sel = d->drv_features_sel = 0;
	d->drv_features = 0;
	d->queue_sel = 0;
	memset(d->vqs, 0, sizeof(d->vqs));
	d->isr = 0;
}

/* The selected queue, or NULL when QueueSel names none. */
static struct vq *sel_vq(struct virtio_mmio_dev *d)
{
	return d->queue_sel < d->nr_queues ? &d->vqs[d->queue_sel] : NULL;
}

static void needs_reset(struct virtio_mmio_dev *d, const char *why)
{
	if (!(d->status & VIRTIO_STATUS_NEEDS_RESET))
		d->st.needs_reset++;
	d->status |= VIRTIO_STATUS_NEEDS_RESET;
	vwarn(d, "%s: device needs reset", why);
}

/* ---- the queue --------------------------------------------------------- */

static bool aligned(uint64_t v, uint64_t a)
{
	return (v & (a - 1)) == 0;
}

/* QueueReady = 1: validate what the driver configured. */
static void queue_enable(struct virtio_mmio_dev *d, struct vq *v)
{
	uint32_t n = v->num;
	char why[160];

	if (n == 0 || n > d->ops->queue_max || (n & (n - 1))) {
		snprintf(why, sizeof(why), "queue size %u invalid (a power of 2, "
			 "at most %u)", n, d->ops->queue_max);
		needs_reset(d, why);
		return;
	}
	if (!aligned(v->desc_gpa, 16) || !aligned(v->avail_gpa, 2) ||
	    !aligned(v->used_gpa, 4) ||
	    !gm_range_ok(d->vm, v->desc_gpa, virtq_desc_bytes(n)) ||
	    !gm_range_ok(d->vm, v->avail_gpa, virtq_avail_bytes(n)) ||
	    !gm_range_ok(d->vm, v->used_gpa, virtq_used_bytes(n))) {
		snprintf(why, sizeof(why), "rings desc=0x%" PRIx64 " avail=0x%"
			 PRIx64 " used=0x%" PRIx64 " not in guest RAM or misaligned",
			 v->desc_gpa, v->avail_gpa, v->used_gpa);
		needs_reset(d, why);
		return;
	}
	v->q = (struct virtq){ .size = n };
	v->ready = true;
}

static int pin_rings(struct virtio_mmio_dev *d, struct vq *v)
{
	unsigned int n = v->q.size;
	void *p;
	int r;

	r = gm_pin(d->vm, v->desc_gpa, virtq_desc_bytes(n), false, &p);
	if (r < 0)
		return r;
	v->q.desc = p;
	r = gm_pin(d->vm, v->avail_gpa, virtq_avail_bytes(n), false, &p);
	if (r < 0)
		goto unpin_desc;
	v->q.avail = p;
	r = gm_pin(d->vm, v->used_gpa, virtq_used_bytes(n), true, &p);
	if (r < 0)
		goto unpin_avail;
	v->q.used = p;
	return 0;

unpin_avail:
	gm_unpin(d->vm, v->avail_gpa, virtq_avail_bytes(n));
unpin_desc:
	gm_unpin(d->vm, v->desc_gpa, virtq_desc_bytes(n));
	return r;
}

static void unpin_rings(struct virtio_mmio_dev *d, struct vq *v)
{
	unsigned int n = v->q.size;

	gm_unpin(d->vm, v->used_gpa, virtq_used_bytes(n));
	gm_unpin(d->vm, v->avail_gpa, virtq_avail_bytes(n));
	gm_unpin(d->vm, v->desc_gpa, virtq_desc_bytes(n));
	v->q.desc = NULL;
	v->q.avail = v->q.used = NULL;
}

/* Upper bound of requests per notify, so one notify cannot spin forever
 * while other vCPUs keep feeding the ring (they notify again anyway). */
#define MAX_REQUESTS_PER_NOTIFY 4096u

/* Process every available chain of queue qi (< nr_queues).  Called with
 * d->lock held. */
static void process_queue(struct virtio_mmio_dev *d, unsigned int qi)
{
	struct vq *v = &d->vqs[qi];
	struct virtq_limits lim = {
		.ram_base = HV_RAM_BASE, .ram_size = d->vm->cfg.mem_size,
		.max_bytes = d->ops->max_request_bytes,
	};
	unsigned int done = 0;
	char why[96];
	uint16_t head;
	int r, len;

	d->st.notifies++;
	if (d->ops->notify) {
		if (!d->started || (d->status & VIRTIO_STATUS_NEEDS_RESET))
			d->st.ignored_notifies++;
		else if (d->ops->notify(d->dev, qi) < 0)
			needs_reset(d, "the queue cannot be served");
		return;
	}
	if (!v->ready || !(d->status & VIRTIO_STATUS_DRIVER_OK) ||
	    (d->status & VIRTIO_STATUS_NEEDS_RESET)) {
		d->st.ignored_notifies++;
		return;
	}
	r = pin_rings(d, v);
	if (r < 0) {
		snprintf(why, sizeof(why), "cannot pin the rings: %s", strerror(-r));
		needs_reset(d, why);
		return;
	}
	while (done < MAX_REQUESTS_PER_NOTIFY) {
		r = virtq_pop(&v->q, &head);
		if (r == 0)
			break;
		if (r < 0) {
			needs_reset(d, virtq_strerror(r));
			break;
		}
		r = virtq_walk(v->q.desc, v->q.size, head, &lim, &d->chain);
		if (r < 0) {
			snprintf(why, sizeof(why), "queue %u: descriptor chain at "
				 "head %u: %s", qi, head, virtq_strerror(r));
			needs_reset(d, why);
			break;
		}
		d->st.requests++;
		len = d->ops->request(d->dev, qi, &d->chain);
		if (len < 0) {
			snprintf(why, sizeof(why), "queue %u: request at head %u "
				 "cannot be completed", qi, head);
			needs_reset(d, why);
			break;
		}
		virtq_push(&v->q, head, (uint32_t)len);
		d->isr |= 1;
		done++;
	}
	unpin_rings(d, v);
}

/* ---- registers ---------------------------------------------------------- */

static uint32_t reg_read(struct virtio_mmio_dev *d, uint32_t off)
{
	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return d->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return d->dev_features_sel > 1 ? 0 :
			(uint32_t)(offered_features(d) >> (32 * d->dev_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return sel_vq(d) ? d->ops->queue_max : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return sel_vq(d) && sel_vq(d)->ready;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return d->isr;
	case VIRTIO_MMIO_STATUS:
		return d->status;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return 0;               /* config never changes */
	default:
		return 0;               /* write-only or reserved */
	}
}

static void set_half(uint64_t *v, bool high, uint32_t val)
{
	if (high)
		*v = (*v & 0xffffffffull) | ((uint64_t)val << 32);
	else
		*v = (*v & ~0xffffffffull) | val;
}

/* DRIVER_OK on a device with ->start(): hand it the ready queues. */
static void start_device(struct virtio_mmio_dev *d)
{
	struct virtio_queue_cfg q[VIRTIO_MMIO_MAX_QUEUES];
	unsigned int i, n = 0;

	for (i = 0; i < d->nr_queues; i++) {
		if (!d->vqs[i].ready)
			continue;
		q[n++] = (struct virtio_queue_cfg){
			.index = i, .num = d->vqs[i].q.size,
			.desc_gpa = d->vqs[i].desc_gpa, .avail_gpa = d->vqs[i].avail_gpa,
			.used_gpa = d->vqs[i].used_gpa,
		};
	}
	if (d->ops->start(d->dev, d->drv_features, q, n) < 0) {
		needs_reset(d, "the device could not be started");
		return;
	}
	d->started = true;
}

static void write_status(struct virtio_mmio_dev *d, uint32_t val)
{
	if (val == 0) {
		reset(d);
		return;
	}
	val &= 0xff & ~VIRTIO_STATUS_NEEDS_RESET;      /* device-owned bit */
	if ((val & VIRTIO_STATUS_FEATURES_OK) &&
	    !(d->status & VIRTIO_STATUS_FEATURES_OK)) {
		if (!(d->drv_features & (1ull << VIRTIO_F_VERSION_1)) ||
		    (d->drv_features & ~offered_features(d))) {
			vwarn(d, "driver features 0x%" PRIx64 " rejected (offered 0x%"
			     PRIx64 ", VERSION_1 required)", d->drv_features,
			     offered_features(d));
			val &= ~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	d->status = val | (d->status & VIRTIO_STATUS_NEEDS_RESET);
	if ((val & VIRTIO_STATUS_DRIVER_OK) && (val & VIRTIO_STATUS_FEATURES_OK) &&
	    d->ops->start && !d->started && !(d->status & VIRTIO_STATUS_NEEDS_RESET))
		start_device(d);
}

/* Queue registers apply to the selected queue, which must exist, and
 * address/size registers only while it is not ready (4.2.3.2).  Returns
 * the queue, or NULL (warned). */
static struct vq *queue_writable(struct virtio_mmio_dev *d, uint32_t off)
{
	struct vq *v = sel_vq(d);

	if (!v) {
		vwarn(d, "write to register 0x%x for queue %u, which does not exist",
		     off, d->queue_sel);
		return NULL;
	}
	if (v->ready && off != VIRTIO_MMIO_QUEUE_READY) {
		vwarn(d, "write to register 0x%x while queue %u is ready", off,
		      d->queue_sel);
		return NULL;
	}
	return v;
}

static void reg_write(struct virtio_mmio_dev *d, uint32_t off, uint32_t val)
{
	struct vq *v;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		d->dev_features_sel = val;
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (d->drv_features_sel <= 1 && !(d->status & VIRTIO_STATUS_FEATURES_OK))
			set_half(&d->drv_features, d->drv_features_sel == 1, val);
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		d->drv_features_sel = val;
		return;
	case VIRTIO_MMIO_QUEUE_SEL:
		d->queue_sel = val;
		return;
	case VIRTIO_MMIO_STATUS:
		write_status(d, val);
		return;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		d->isr &= ~val;
		return;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		if (val < d->nr_queues)
			process_queue(d, val);
		else
			vwarn(d, "notify for queue %u, which does not exist", val);
		return;
	default:
		break;
	}
	v = queue_writable(d, off);
	if (!v)
		return;
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM: v->num = val; return;
	case VIRTIO_MMIO_QUEUE_DESC_LOW: set_half(&v->desc_gpa, false, val); return;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH: set_half(&v->desc_gpa, true, val); return;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW: set_half(&v->avail_gpa, false, val); return;
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH: set_half(&v->avail_gpa, true, val); return;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW: set_half(&v->used_gpa, false, val); return;
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH: set_half(&v->used_gpa, true, val); return;
	case VIRTIO_MMIO_QUEUE_READY:
		if (val == 0)
			v->ready = false;
		else if (!v->ready)
			queue_enable(d, v);
		return;
	default:
		d->st.bad_access++;
		vwarn(d, "write 0x%x to read-only or reserved register 0x%x", val, off);
	}
}

static void config_access(struct virtio_mmio_dev *d, uint32_t off, uint8_t *data,
			  uint32_t len, bool is_write)
{
	bool in = off <= d->ops->config_size && len <= d->ops->config_size - off;

	if (is_write && (!d->ops->config_write || !in)) {
		d->st.bad_access++;
		vwarn(d, "write to %s config space at 0x%x (%u bytes)",
		      d->ops->config_write ? "past the" : "read-only", off, len);
		return;
	}
	if (is_write) {
		d->ops->config_write(d->dev, off, data, len);
		return;
	}
	if (!in) {
		memset(data, 0, len);
		return;
	}
	d->ops->config_read(d->dev, off, data, len);
}

/* The interrupt line follows InterruptStatus.  Called with d->lock held. */
static void update_irq(struct virtio_mmio_dev *d)
{
	bool level = d->isr != 0;

	if (!d->irq_fn || level == d->irq_level)
		return;
	d->irq_level = level;
	d->irq_fn(d->irq_ctx, d->irq, level);
}

void virtio_mmio_set_irq(struct virtio_mmio_dev *d,
			 void (*fn)(void *ctx, unsigned int irq, bool level),
			 void *ctx, unsigned int irq)
{
	d->irq_fn = fn;
	d->irq_ctx = ctx;
	d->irq = irq;
}

static void mmio_handler(struct vcpu *vcpu, uint64_t addr, uint8_t *data,
			 uint32_t len, bool is_write, void *ctx)
{
	struct virtio_mmio_dev *d = ctx;
	uint32_t off = (uint32_t)(addr - d->base), val;

	(void)vcpu;
	pthread_mutex_lock(&d->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		config_access(d, off - VIRTIO_MMIO_CONFIG, data, len, is_write);
	} else if (len != 4 || off % 4) {
		d->st.bad_access++;
		vwarn(d, "%u-byte %s at register offset 0x%x (must be 32-bit aligned)",
		     len, is_write ? "write" : "read", off);
		if (!is_write)
			memset(data, 0, len);
	} else if (is_write) {
		memcpy(&val, data, 4);
		reg_write(d, off, val);
	} else {
		val = reg_read(d, off);
		memcpy(data, &val, 4);
	}
	update_irq(d);
	pthread_mutex_unlock(&d->lock);
}

int virtio_mmio_create(struct vm *vm, uint64_t base, const struct virtio_dev_ops *ops,
		       void *dev, struct virtio_mmio_dev **out)
{
	struct virtio_mmio_dev *d;
	int r;

	if (!ops->queue_max || ops->queue_max > VIRTQ_MAX_SIZE ||
	    (ops->queue_max & (ops->queue_max - 1)) ||
	    ops->nr_queues > VIRTIO_MMIO_MAX_QUEUES ||
	    ops->config_size > HV_VIRTIO_MMIO_SIZE - VIRTIO_MMIO_CONFIG)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->vm = vm;
	d->base = base;
	d->ops = ops;
	d->dev = dev;
	d->nr_queues = ops->nr_queues ? ops->nr_queues : 1;
	d->rl = (struct ratelimit)RATELIMIT_INIT(5000, 10);
	snprintf(d->name, sizeof(d->name), "%s@0x%" PRIx64, ops->name, base);
	pthread_mutex_init(&d->lock, NULL);
	reset(d);
	r = iobus_register(&vm->mmio, base, HV_VIRTIO_MMIO_SIZE, mmio_handler, d,
			   d->name);
	if (r < 0) {
		pthread_mutex_destroy(&d->lock);
		free(d);
		return r;
	}
	*out = d;
	return 0;
}

void virtio_mmio_interrupt(struct virtio_mmio_dev *d)
{
	pthread_mutex_lock(&d->lock);
	d->isr |= 1;
	update_irq(d);
	pthread_mutex_unlock(&d->lock);
}

void virtio_mmio_needs_reset(struct virtio_mmio_dev *d, const char *why)
{
	pthread_mutex_lock(&d->lock);
	if (d->started)
		needs_reset(d, why);
	update_irq(d);
	pthread_mutex_unlock(&d->lock);
}

void virtio_mmio_destroy(struct virtio_mmio_dev *d)
{
	if (!d)
		return;
	if (d->started && d->ops->stop)
		d->ops->stop(d->dev);
	if (d->rl.suppressed)
		log_warn("%s: %" PRIu64 " more warnings suppressed", d->name,
			 d->rl.suppressed);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

struct json_object *virtio_mmio_stats_json(struct virtio_mmio_dev *d)
{
	struct json_object *o = json_object_new_object();

	pthread_mutex_lock(&d->lock);
	json_object_object_add(o, "notifies", json_object_new_uint64(d->st.notifies));
	json_object_object_add(o, "ignored_notifies",
			       json_object_new_uint64(d->st.ignored_notifies));
	json_object_object_add(o, "requests", json_object_new_uint64(d->st.requests));
	json_object_object_add(o, "needs_reset", json_object_new_uint64(d->st.needs_reset));
	json_object_object_add(o, "bad_access", json_object_new_uint64(d->st.bad_access));
	json_object_object_add(o, "warnings", json_object_new_uint64(d->rl.total));
	pthread_mutex_unlock(&d->lock);
	return o;
}
