/*
 * virtio_balloon.c - the virtio-balloon device (see virtio_balloon.h).
 *
 * Owns: struct virtio_balloon: the bitmap of guest pages in the balloon,
 * the config (target, actual), counters, the guest's last statistics and a
 * ring of recent inflate/deflate events.
 * Locking: ->request() and ->config_*() run under the transport's lock
 * (virtio_mmio.c), one at a time; that lock protects `inflated` and
 * `frames`.  b->lock (a leaf, never held across a pin, a discard or a log
 * line) protects what the stats writer reads: `st`, `gstat`, `ev`,
 * `actual`, `rl`.
 * Guest memory: each buffer of a chain is pinned, copied into `frames` and
 * unpinned before any frame is acted on, so a guest that lists the page of
 * its own frame array, or rewrites the array meanwhile, changes nothing
 * but its own request.
 * Invariant: st.in_balloon = the number of bits set in `inflated`.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvswap/guest_abi.h"
#include "hvswap/log.h"
#include "hvswap/ratelimit.h"
#include "hvswap/swapper.h"
#include "guestmem.h"
#include "virtio_balloon.h"
#include "vm.h"

#define Q_INFLATE 0u
#define Q_DEFLATE 1u
#define Q_STATS 2u
#define FRAMES_MAX 1024u        /* frames copied per buffer piece */
#define STAT_BYTES 10u          /* le16 tag, le64 value (packed) */
#define EVENTS 16u

struct bl_event {
	bool inflate;
	uint64_t pages;             /* frames acted on by the request */
	uint64_t in_balloon;        /* after it */
	uint64_t res_before;        /* host resident bytes before it (swapper) */
	uint64_t resident;          /* ... and after it */
};

struct virtio_balloon {
	struct vm *vm;
	uint64_t npages;            /* guest RAM pages */
	/* protected by the transport lock */
	uint64_t *inflated;         /* bit per guest RAM page */
	uint32_t frames[FRAMES_MAX];
	_Atomic uint32_t target;    /* config num_pages */
	pthread_mutex_t lock;       /* leaf */
	/* protected by lock */
	struct ratelimit rl;
	uint32_t actual;            /* config actual, as the driver wrote it */
	struct {
		uint64_t in_balloon, inflates, deflates, stats_updates;
		uint64_t pages_inflated, pages_deflated, discarded, discard_failed;
		uint64_t bad_frames, double_inflates, deflate_not_inflated;
		uint64_t bad_buffers;
	} st;
	uint64_t gstat[VIRTIO_BALLOON_NR_STATS];
	uint32_t gstat_seen;        /* bit per tag received */
	struct bl_event ev[EVENTS];
	uint64_t nev;
};

#define blwarn(b, fmt, ...) do {                                        \
	uint64_t sup_;                                                  \
	bool ok_;                                                       \
	pthread_mutex_lock(&(b)->lock);                                 \
	ok_ = ratelimit_ok(&(b)->rl, &sup_);                            \
	pthread_mutex_unlock(&(b)->lock);                               \
	if (!ok_)                                                       \
		break;                                                  \
	if (sup_)                                                       \
		log_warn("virtio-balloon: " fmt " (%" PRIu64 " warnings " \
			 "suppressed before this one)", ##__VA_ARGS__, sup_); \
	else                                                            \
		log_warn("virtio-balloon: " fmt, ##__VA_ARGS__);        \
} while (0)

/* Counter updates from request handling (under the transport lock). */
#define BUMP(b, f, n) do {                                              \
	pthread_mutex_lock(&(b)->lock);                                 \
	(b)->st.f += (n);                                               \
	pthread_mutex_unlock(&(b)->lock);                               \
} while (0)

static bool test_bit(const uint64_t *m, uint64_t i)
{
	return m[i / 64] & (1ull << (i % 64));
}

static void flip_bit(uint64_t *m, uint64_t i)
{
	m[i / 64] ^= 1ull << (i % 64);
}

/* Guest RAM page index of frame f, or -1 (warned) when f is not RAM. */
static int64_t frame_page(struct virtio_balloon *b, uint32_t f)
{
	uint64_t gpa = (uint64_t)f << VIRTIO_BALLOON_PFN_SHIFT;

	if (gpa < HV_RAM_BASE || gpa - HV_RAM_BASE >= b->npages * 4096) {
		BUMP(b, bad_frames, 1);
		blwarn(b, "page frame 0x%x (gpa 0x%" PRIx64 ") is not guest RAM "
		       "[0x%llx, 0x%" PRIx64 "): skipped", f, gpa,
		       (unsigned long long)HV_RAM_BASE,
		       (uint64_t)HV_RAM_BASE + b->npages * 4096);
		return -1;
	}
	return (int64_t)((gpa - HV_RAM_BASE) / 4096);
}

static void inflate_one(struct virtio_balloon *b, uint32_t f)
{
	int64_t pg = frame_page(b, f), r;

	if (pg < 0)
		return;
	if (test_bit(b->inflated, (uint64_t)pg)) {
		BUMP(b, double_inflates, 1);
		blwarn(b, "page frame 0x%x is in the balloon already: skipped", f);
		return;
	}
	r = gm_discard(b->vm, (uint64_t)f << VIRTIO_BALLOON_PFN_SHIFT, 4096);
	if (r != 1) {
		/* Pinned by a device, or the swapper stopped: the page stays
		 * the guest's as far as the host is concerned. */
		BUMP(b, discard_failed, 1);
		blwarn(b, "page frame 0x%x could not be discarded (%s): it stays "
		       "resident", f, r < 0 ? strerror((int)-r) : "in use by a device");
	} else {
		BUMP(b, discarded, 1);
	}
	flip_bit(b->inflated, (uint64_t)pg);
	pthread_mutex_lock(&b->lock);
	b->st.in_balloon++;
	b->st.pages_inflated++;
	pthread_mutex_unlock(&b->lock);
}

static void deflate_one(struct virtio_balloon *b, uint32_t f)
{
	int64_t pg = frame_page(b, f);

	if (pg < 0)
		return;
	if (!test_bit(b->inflated, (uint64_t)pg)) {
		BUMP(b, deflate_not_inflated, 1);
		blwarn(b, "deflate of page frame 0x%x, which is not in the "
		       "balloon: skipped", f);
		return;
	}
	flip_bit(b->inflated, (uint64_t)pg);
	pthread_mutex_lock(&b->lock);
	b->st.in_balloon--;
	b->st.pages_deflated++;
	pthread_mutex_unlock(&b->lock);
}

/* Copy up to FRAMES_MAX frames of [gpa, gpa+len) into b->frames. */
static int copy_frames(struct virtio_balloon *b, uint64_t gpa, uint32_t len)
{
	void *p;
	int r;

	r = gm_pin(b->vm, gpa, len, false, &p);
	if (r < 0)
		return r;
	memcpy(b->frames, p, len);
	gm_unpin(b->vm, gpa, len);
	return (int)(len / 4);
}

/* A chain's buffers must be device-readable, in RAM, whole entries of
 * `unit` bytes; returns false (warned, counted) for a bad one. */
static bool seg_ok(struct virtio_balloon *b, const struct virtq_chain *c,
		   unsigned int i, unsigned int unit, const char *what)
{
	const struct virtq_seg *sg = &c->seg[i];
	const char *why = NULL;

	if (sg->write)
		why = "device-writable";
	else if (!sg->in_ram)
		why = "not in guest RAM";
	else if (sg->len % unit)
		why = "not a whole number of entries";
	if (!why)
		return true;
	BUMP(b, bad_buffers, 1);
	blwarn(b, "%s buffer %u at head %u (gpa 0x%" PRIx64 ", %u bytes) is %s: "
	       "skipped", what, i, c->head, sg->addr, sg->len, why);
	return false;
}

static uint64_t host_resident(struct virtio_balloon *b)
{
	return b->vm->swapper ? swapper_resident_bytes(b->vm->swapper) : 0;
}

static void record_event(struct virtio_balloon *b, bool inflate, uint64_t pages,
			 uint64_t res_before)
{
	uint64_t res = host_resident(b);
	struct bl_event *e;

	pthread_mutex_lock(&b->lock);
	e = &b->ev[b->nev++ % EVENTS];
	*e = (struct bl_event){ inflate, pages, b->st.in_balloon, res_before, res };
	if (inflate)
		b->st.inflates++;
	else
		b->st.deflates++;
	pthread_mutex_unlock(&b->lock);
}

/* inflateq / deflateq: arrays of le32 page frame numbers. */
static void frames_request(struct virtio_balloon *b, const struct virtq_chain *c,
			   bool inflate)
{
	const char *what = inflate ? "inflate" : "deflate";
	uint64_t done = 0, res_before = host_resident(b);
	unsigned int i;
	uint32_t off, piece;
	int n, k;

	for (i = 0; i < c->n; i++) {
		if (!seg_ok(b, c, i, 4, what))
			continue;
		for (off = 0; off < c->seg[i].len; off += piece) {
			piece = c->seg[i].len - off;
			if (piece > FRAMES_MAX * 4)
				piece = FRAMES_MAX * 4;
			n = copy_frames(b, c->seg[i].addr + off, piece);
			if (n < 0) {
				BUMP(b, bad_buffers, 1);
				blwarn(b, "%s buffer at head %u cannot be read: %s",
				       what, c->head, strerror(-n));
				break;
			}
			for (k = 0; k < n; k++) {
				if (inflate)
					inflate_one(b, b->frames[k]);
				else
					deflate_one(b, b->frames[k]);
			}
			done += (uint64_t)n;
		}
	}
	record_event(b, inflate, done, res_before);
}

/* statsq: 10-byte (le16 tag, le64 value) entries; unknown tags ignored. */
static void stats_request(struct virtio_balloon *b, const struct virtq_chain *c)
{
	uint8_t ent[STAT_BYTES];
	unsigned int i;
	uint32_t off;
	uint16_t tag;
	uint64_t val;
	void *p;

	for (i = 0; i < c->n; i++) {
		if (!seg_ok(b, c, i, STAT_BYTES, "stats"))
			continue;
		for (off = 0; off < c->seg[i].len; off += STAT_BYTES) {
			if (gm_pin(b->vm, c->seg[i].addr + off, STAT_BYTES, false, &p) < 0)
				break;
			memcpy(ent, p, STAT_BYTES);
			gm_unpin(b->vm, c->seg[i].addr + off, STAT_BYTES);
			memcpy(&tag, ent, 2);
			memcpy(&val, ent + 2, 8);
			if (tag >= VIRTIO_BALLOON_NR_STATS)
				continue;
			pthread_mutex_lock(&b->lock);
			b->gstat[tag] = val;
			b->gstat_seen |= 1u << tag;
			pthread_mutex_unlock(&b->lock);
		}
	}
	BUMP(b, stats_updates, 1);
}

static int bl_request(void *dev, unsigned int queue, const struct virtq_chain *c)
{
	struct virtio_balloon *b = dev;

	if (c->err) {
		BUMP(b, bad_buffers, 1);
		blwarn(b, "queue %u, request at head %u, buffer %u: %s: skipped",
		       queue, c->head, c->err_seg, virtq_strerror(c->err));
		return 0;
	}
	if (queue == Q_STATS)
		stats_request(b, c);
	else
		frames_request(b, c, queue == Q_INFLATE);
	return 0;                       /* the device writes nothing back */
}

/* Config: le32 num_pages (host), le32 actual (driver). */
static void bl_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_balloon *b = dev;
	uint32_t cfg[2];

	cfg[0] = atomic_load(&b->target);
	pthread_mutex_lock(&b->lock);
	cfg[1] = b->actual;
	pthread_mutex_unlock(&b->lock);
	memcpy(buf, (uint8_t *)cfg + off, len);
}

static void bl_config_write(void *dev, uint32_t off, const void *buf, uint32_t len)
{
	struct virtio_balloon *b = dev;
	uint32_t v;

	if (off != 4 || len != 4) {
		BUMP(b, bad_buffers, 1);
		blwarn(b, "config write of %u bytes at 0x%x: only 'actual' (4 bytes "
		       "at 0x4) is the driver's", len, off);
		return;
	}
	memcpy(&v, buf, 4);
	pthread_mutex_lock(&b->lock);
	b->actual = v;
	pthread_mutex_unlock(&b->lock);
}

const struct virtio_dev_ops virtio_balloon_ops = {
	.name = "virtio-balloon",
	.device_id = VIRTIO_ID_BALLOON,
	.features = (1ull << VIRTIO_BALLOON_F_MUST_TELL_HOST) |
		    (1ull << VIRTIO_BALLOON_F_STATS_VQ),
	.queue_max = VIRTIO_BALLOON_QUEUE_MAX,
	.nr_queues = 3,
	.max_request_bytes = 1u << 20,
	.config_size = 8,
	.config_read = bl_config_read,
	.config_write = bl_config_write,
	.request = bl_request,
};

int virtio_balloon_create(struct vm *vm, struct virtio_balloon **out)
{
	struct virtio_balloon *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->vm = vm;
	b->npages = vm->cfg.mem_size / 4096;
	b->inflated = calloc((b->npages + 63) / 64, sizeof(uint64_t));
	if (!b->inflated) {
		free(b);
		return -ENOMEM;
	}
	b->rl = (struct ratelimit)RATELIMIT_INIT(5000, 10);
	pthread_mutex_init(&b->lock, NULL);
	*out = b;
	return 0;
}

void virtio_balloon_destroy(struct virtio_balloon *b)
{
	if (!b)
		return;
	if (b->rl.suppressed)
		log_warn("virtio-balloon: %" PRIu64 " more warnings suppressed",
			 b->rl.suppressed);
	pthread_mutex_destroy(&b->lock);
	free(b->inflated);
	free(b);
}

void virtio_balloon_set_target(struct virtio_balloon *b, uint32_t pages)
{
	atomic_store(&b->target, pages);
}

static const char *const stat_names[] = {
	"swap_in", "swap_out", "major_faults", "minor_faults", "free_memory",
	"total_memory", "available_memory", "disk_caches", "hugetlb_allocations",
	"hugetlb_failures",
};

static struct json_object *guest_stats_json(struct virtio_balloon *b)
{
	struct json_object *o = json_object_new_object();
	char name[16];
	unsigned int t;

	for (t = 0; t < VIRTIO_BALLOON_NR_STATS; t++) {
		if (!(b->gstat_seen & (1u << t)))
			continue;
		if (t < sizeof(stat_names) / sizeof(stat_names[0]))
			snprintf(name, sizeof(name), "%s", stat_names[t]);
		else
			snprintf(name, sizeof(name), "tag_%u", t);
		json_object_object_add(o, name, json_object_new_uint64(b->gstat[t]));
	}
	return o;
}

static struct json_object *events_json(struct virtio_balloon *b)
{
	struct json_object *a = json_object_new_array(), *e;
	uint64_t i = b->nev > EVENTS ? b->nev - EVENTS : 0;

	for (; i < b->nev; i++) {
		const struct bl_event *v = &b->ev[i % EVENTS];

		e = json_object_new_object();
		json_object_object_add(e, "seq", json_object_new_uint64(i));
		json_object_object_add(e, "op", json_object_new_string(
					       v->inflate ? "inflate" : "deflate"));
		json_object_object_add(e, "pages", json_object_new_uint64(v->pages));
		json_object_object_add(e, "in_balloon", json_object_new_uint64(v->in_balloon));
		if (b->vm->swapper) {
			json_object_object_add(e, "host_resident_pages_before",
					       json_object_new_uint64(v->res_before / 4096));
			json_object_object_add(e, "host_resident_pages",
					       json_object_new_uint64(v->resident / 4096));
		}
		json_object_array_add(a, e);
	}
	return a;
}

struct json_object *virtio_balloon_stats_json(struct virtio_balloon *b)
{
	struct json_object *o = json_object_new_object();

#define ADD(k, v) json_object_object_add(o, k, json_object_new_uint64(v))
	pthread_mutex_lock(&b->lock);
	ADD("target_pages", atomic_load(&b->target));
	ADD("actual_pages", b->actual);
	ADD("in_balloon_pages", b->st.in_balloon);
	ADD("inflate_requests", b->st.inflates);
	ADD("deflate_requests", b->st.deflates);
	ADD("pages_inflated", b->st.pages_inflated);
	ADD("pages_deflated", b->st.pages_deflated);
	ADD("discarded", b->st.discarded);
	ADD("discard_failed", b->st.discard_failed);
	ADD("bad_frames", b->st.bad_frames);
	ADD("double_inflates", b->st.double_inflates);
	ADD("deflate_not_inflated", b->st.deflate_not_inflated);
	ADD("bad_buffers", b->st.bad_buffers);
	ADD("stats_updates", b->st.stats_updates);
	ADD("warnings", b->rl.total);
	json_object_object_add(o, "guest", guest_stats_json(b));
	json_object_object_add(o, "events", events_json(b));
	pthread_mutex_unlock(&b->lock);
	if (b->vm->swapper)
		ADD("host_resident_pages", swapper_resident_bytes(b->vm->swapper) / 4096);
#undef ADD
	return o;
}
