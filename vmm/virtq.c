/*
 * virtq.c - split virtqueue: pop, walk + validate a descriptor chain, push.
 *
 * Owns no state beyond struct virtq's two indices; the caller (the
 * transport) serialises all calls on one queue with its lock.
 * Invariants: an index read from guest memory is used only after the
 * `< size` check; a descriptor is copied once (the guest may rewrite the
 * table under us) and only the copy is checked and returned; a chain visits
 * each descriptor at most once, so it has at most `size` segments.
 */
#include <string.h>

#include "virtq.h"

static const char *const err_names[VIRTQ_E_MAX] = {
	[VIRTQ_OK] = "ok",
	[VIRTQ_E_HEAD] = "head index out of range",
	[VIRTQ_E_NEXT] = "next index out of range",
	[VIRTQ_E_LOOP] = "descriptor loop (chain longer than the queue)",
	[VIRTQ_E_INDIRECT] = "indirect descriptor not negotiated",
	[VIRTQ_E_AVAIL] = "avail index jumped by more than the queue size",
	[VIRTQ_E_RANGE] = "buffer outside guest RAM",
	[VIRTQ_E_ORDER] = "device-readable buffer after a device-writable one",
	[VIRTQ_E_TOOBIG] = "request too long",
};

const char *virtq_strerror(int err)
{
	if (err < 0)
		err = -err;
	return err < VIRTQ_E_MAX ? err_names[err] : "unknown virtqueue error";
}

static bool in_ram(const struct virtq_limits *lim, uint64_t addr, uint32_t len)
{
	uint64_t off;

	if (addr < lim->ram_base)
		return false;
	off = addr - lim->ram_base;
	return off <= lim->ram_size && len <= lim->ram_size - off;
}

/* The first per-buffer error wins. */
static void set_err(struct virtq_chain *c, int err)
{
	if (!c->err) {
		c->err = err;
		c->err_seg = c->n;
	}
}

int virtq_walk(const struct virtq_desc *table, unsigned int size, uint16_t head,
	       const struct virtq_limits *lim, struct virtq_chain *c)
{
	uint8_t seen[VIRTQ_MAX_SIZE / 8] = { 0 };
	struct virtq_desc d;
	unsigned int i = head;
	bool writable = false;

	c->head = head;
	c->n = 0;
	c->out_bytes = c->in_bytes = 0;
	c->err = 0;
	c->err_seg = 0;
	if (i >= size)
		return -VIRTQ_E_HEAD;
	for (;;) {
		if (seen[i / 8] & (1u << (i % 8)))
			return -VIRTQ_E_LOOP;
		seen[i / 8] |= (uint8_t)(1u << (i % 8));
		memcpy(&d, &table[i], sizeof(d));       /* the one read */
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return -VIRTQ_E_INDIRECT;
		c->seg[c->n] = (struct virtq_seg){
			.addr = d.addr, .len = d.len,
			.write = d.flags & VIRTQ_DESC_F_WRITE,
			.in_ram = in_ram(lim, d.addr, d.len),
			.idx = (uint16_t)i,
		};
		if (!c->seg[c->n].in_ram)
			set_err(c, VIRTQ_E_RANGE);
		if (c->seg[c->n].write)
			writable = true;
		else if (writable)
			set_err(c, VIRTQ_E_ORDER);
		if (c->seg[c->n].write)
			c->in_bytes += d.len;
		else
			c->out_bytes += d.len;
		if (lim->max_bytes && c->in_bytes + c->out_bytes > lim->max_bytes)
			set_err(c, VIRTQ_E_TOOBIG);
		c->n++;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= size)
			return -VIRTQ_E_NEXT;
		i = d.next;
	}
}

static uint16_t load16(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
}

int virtq_pop(struct virtq *q, uint16_t *head)
{
	uint16_t avail_idx = load16(q->avail + 2), h;

	if (avail_idx == q->last_avail)
		return 0;
	if ((uint16_t)(avail_idx - q->last_avail) > q->size)
		return -VIRTQ_E_AVAIL;
	/* The ring entry is read after idx (acquire above). */
	memcpy(&h, q->avail + 4 + 2 * (q->last_avail & (q->size - 1)), 2);
	if (h >= q->size)
		return -VIRTQ_E_HEAD;
	q->last_avail++;
	*head = h;
	return 1;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	struct virtq_used_elem e = { head, len };

	memcpy(q->used + 4 + 8 * (q->used_idx & (q->size - 1)), &e, sizeof(e));
	q->used_idx++;
	/* The element is visible before the new idx. */
	__atomic_store_n((uint16_t *)(q->used + 2), q->used_idx, __ATOMIC_RELEASE);
}
