/*
 * dmastress.c - block I/O into random guest buffers under memory pressure,
 * verifying every byte.
 *
 * The disk is split into one contiguous sector range per vCPU and the
 * buffer area (ws) into one slice per vCPU, so vCPUs never race on a sector
 * or a buffer.  Each vCPU runs ops/nvcpus random operations:
 *   write: pick sectors [s, s+n) (n <= maxlen), stamp a new generation g,
 *          fill up to 4 data buffers at random byte offsets (page-crossing,
 *          one per quarter of the slice) with pattern(sector, g, byte) and
 *          write them; gen[sector] = g for the range.
 *   read:  pick a range, poison the buffers (poison=1, the default; with
 *          poison=0 they are left as they are - swapped out, often, as a
 *          guest kernel's free page-cache pages are), read, compare every
 *          byte with pattern(sector, gen[sector]) (gen 0 = never written:
 *          zeros on a fresh disk, unchecked with fresh=0).
 * Between operations it streams over its slice (touch pages per op, one
 * write per page), so with a resident limit below ws the buffers of the
 * next request are usually swapped out when the device pins them.
 * Finally every vCPU reads back its whole range.  The first mismatch stops
 * the VM with status 1 and a one-line report; device errors are counted and
 * make the run fail at the end.
 *
 * State: cfg written by vCPU 0 before the first barrier, read-only after;
 * gen[] entries and stats[v] owned by vCPU v; the device by its lock.
 */
#include "rt.h"
#include "lib/prng.h"
#include "virtio_blk.h"

#define MAX_SEGS 4u

struct cfg {
	uint64_t sectors;        /* used part of the disk */
	uint64_t ws;             /* bytes of buffer area */
	uint8_t *area;
	uint32_t *gen;
	uint64_t ops, seed, maxlen, touch;
	bool fresh;
	bool poison;
	int err;
};

struct vstat {
	uint64_t ops, reads, writes, bytes, errors, verified, touched;
	uint64_t stream_pos;
} __attribute__((aligned(64)));

struct seg {
	uint8_t *p;
	uint32_t len;
};

static struct cfg cfg;
static struct vblk dev;
static struct vstat stats[HV_MAX_VCPUS];

static const char *const known_args[] = {
	"ws", "ops", "seed", "maxlen", "touch", "fresh", "disk", "poison", NULL
};

static int setup(struct cfg *c)
{
	uint64_t hs = hv_heap_start(), he = hv_heap_end(), tab;
	int r;

	if (hv_args_check(known_args))
		return 2;
	c->ws = hv_align_down(hv_arg_u64("ws", 64ull << 20), HV_PAGE_SIZE);
	c->ops = hv_arg_u64("ops", 2000);
	c->seed = hv_arg_u64("seed", 1);
	c->maxlen = hv_arg_u64("maxlen", 64);
	c->touch = hv_arg_u64("touch", 64);
	c->fresh = hv_arg_u64("fresh", 1) != 0;
	c->poison = hv_arg_u64("poison", 1) != 0;
	if (c->maxlen == 0 || c->maxlen > 2048) {
		hv_printf("dmastress: maxlen=%lu must be 1..2048 sectors\n",
			  (unsigned long)c->maxlen);
		return 2;
	}
	r = vblk_probe(&dev, (unsigned)hv_arg_u64("disk", 0));
	if (r == 0)
		r = vblk_init(&dev);
	if (r < 0) {
		hv_printf("dmastress: no usable virtio-blk device (error %d); "
			  "run with --disk or --disk-size\n", r);
		return 2;
	}
	c->sectors = dev.capacity;
	tab = hv_align_up(c->sectors * 4, HV_PAGE_SIZE);
	if (c->ws < MAX_SEGS * HV_PAGE_SIZE * hv_nr_vcpus() ||
	    hs + tab + c->ws > he || hs + tab + c->ws < hs) {
		hv_printf("dmastress: ws=%lu KiB plus a %lu KiB sector table does "
			  "not fit in %lu KiB of free RAM\n",
			  (unsigned long)(c->ws >> 10), (unsigned long)(tab >> 10),
			  (unsigned long)((he - hs) >> 10));
		return 2;
	}
	if (hv_align_down(c->ws / hv_nr_vcpus(), HV_PAGE_SIZE) < c->maxlen * VBLK_SECTOR) {
		hv_printf("dmastress: ws=%lu KiB too small for maxlen=%lu x %u vCPUs\n",
			  (unsigned long)(c->ws >> 10), (unsigned long)c->maxlen,
			  hv_nr_vcpus());
		return 2;
	}
	if (c->sectors < c->maxlen * hv_nr_vcpus()) {
		hv_printf("dmastress: disk of %lu sectors too small for maxlen=%lu "
			  "x %u vCPUs\n", (unsigned long)c->sectors,
			  (unsigned long)c->maxlen, hv_nr_vcpus());
		return 2;
	}
	c->gen = (uint32_t *)(uintptr_t)hs;
	c->area = (uint8_t *)(uintptr_t)(hs + tab);
	return 0;
}

/* Byte i (0..511) of `sector` written in generation g. */
static uint64_t pattern_word(uint64_t sector, uint32_t g, unsigned w)
{
	return prng_mix64(sector * 64 + w + (uint64_t)g * 0x9e3779b97f4a7c15ull);
}

static uint8_t expected(uint64_t sector, unsigned i)
{
	uint32_t g = cfg.gen[sector];

	return g ? (uint8_t)(pattern_word(sector, g, i / 8) >> (8 * (i % 8))) : 0;
}

/* Logical byte k of the request lives in segs[]: a cursor over them. */
struct cur {
	const struct seg *s;
	unsigned i;
	uint32_t off;
};

static uint8_t *cur_next(struct cur *c)
{
	while (c->off == c->s[c->i].len) {
		c->i++;
		c->off = 0;
	}
	return &c->s[c->i].p[c->off++];
}

static void fill(const struct seg *s, uint64_t sector, uint64_t nsec, uint32_t g)
{
	struct cur c = { s, 0, 0 };
	uint64_t k;
	unsigned w, b;

	for (k = 0; k < nsec; k++)
		for (w = 0; w < VBLK_SECTOR / 8; w++) {
			uint64_t v = pattern_word(sector + k, g, w);

			for (b = 0; b < 8; b++)
				*cur_next(&c) = (uint8_t)(v >> (8 * b));
		}
}

static void verify(const struct seg *s, uint64_t sector, uint64_t nsec,
		   unsigned vcpu, uint64_t op, struct vstat *st)
{
	struct cur c = { s, 0, 0 };
	uint64_t k;
	unsigned i;

	for (k = 0; k < nsec; k++) {
		bool check = cfg.fresh || cfg.gen[sector + k];

		for (i = 0; i < VBLK_SECTOR; i++) {
			uint8_t *p = cur_next(&c), want = expected(sector + k, i);

			if (check && *p != want) {
				hv_printf("dmastress: MISMATCH sector %lu byte %u: expected "
					  "0x%02x got 0x%02x (gen %u, buffer gpa 0x%lx, "
					  "vcpu %u op %lu)\n", (unsigned long)(sector + k),
					  i, want, *p, cfg.gen[sector + k],
					  (unsigned long)(uintptr_t)p, vcpu,
					  (unsigned long)op);
				hv_metric("mismatches", 1);
				hv_exit(HV_GUEST_STATUS_FAIL);
			}
		}
		st->verified++;
	}
}

/*
 * Split len bytes into 1..MAX_SEGS buffers, buffer k at a random byte offset
 * inside quarter k of this vCPU's slice (so buffers never overlap).  Returns
 * the number of buffers, 0 when len does not fit in the quarters.
 */
static unsigned pick_segs(struct prng *r, uint8_t *slice, uint64_t slice_len,
			  uint32_t len, struct seg *s)
{
	uint64_t part = slice_len / MAX_SEGS;
	unsigned n = 1 + (unsigned)prng_below(r, MAX_SEGS), k;
	uint64_t left = len;

	if (n > len)
		n = len;
	if (len > n * part)
		n = MAX_SEGS;
	if (!len || len > n * part)
		return 0;
	for (k = 0; k < n; k++) {
		uint64_t rest = n - 1 - k;      /* buffers after this one */
		uint64_t lo = left > rest * part ? left - rest * part : 1;
		uint64_t hi = hv_min(part, left - rest);
		uint64_t l = rest ? lo + prng_below(r, hi - lo + 1) : left;

		s[k].len = (uint32_t)l;
		s[k].p = slice + k * part + prng_below(r, part - l + 1);
		left -= l;
	}
	return n;
}

static void stream(uint8_t *slice, uint64_t slice_len, struct vstat *st)
{
	uint64_t pages = slice_len / HV_PAGE_SIZE, i;

	for (i = 0; i < cfg.touch; i++) {
		volatile uint64_t *p = (volatile uint64_t *)(slice +
			(st->stream_pos % pages) * HV_PAGE_SIZE);

		*p = *p + 1;
		st->stream_pos++;
		st->touched++;
	}
}

static int do_op(struct prng *r, bool write, uint64_t lo, uint64_t hi,
		 uint8_t *slice, uint64_t slice_len, unsigned vcpu, struct vstat *st,
		 uint32_t *next_gen)
{
	uint64_t nsec = 1 + prng_below(r, hv_min(cfg.maxlen, hi - lo));
	uint64_t sector = lo + prng_below(r, hi - lo - nsec + 1), k;
	struct seg s[MAX_SEGS];
	struct vblk_buf b[MAX_SEGS];
	unsigned n, i;
	uint32_t g = 0;
	int st_dev;

	while (!(n = pick_segs(r, slice, slice_len, (uint32_t)(nsec * VBLK_SECTOR), s)))
		nsec = (nsec + 1) / 2;
	if (write) {
		g = (*next_gen)++;
		fill(s, sector, nsec, g);
	} else if (cfg.poison) {
		for (i = 0; i < n; i++)
			memset(s[i].p, 0xa5, s[i].len);
	}
	for (i = 0; i < n; i++)
		b[i] = (struct vblk_buf){ s[i].p, s[i].len };
	st_dev = vblk_request(&dev, write ? VBLK_T_OUT : VBLK_T_IN, sector, b, n);
	st->ops++;
	if (st_dev != VBLK_S_OK) {
		if (st->errors++ < 5)
			hv_printf("dmastress: vcpu %u: %s of %lu sectors at %lu: "
				  "device status %d\n", vcpu, write ? "write" : "read",
				  (unsigned long)nsec, (unsigned long)sector, st_dev);
		return st_dev < 0 ? st_dev : 0;
	}
	st->bytes += nsec * VBLK_SECTOR;
	if (write) {
		for (k = 0; k < nsec; k++)
			cfg.gen[sector + k] = g;
		st->writes++;
	} else {
		verify(s, sector, nsec, vcpu, st->ops, st);
		st->reads++;
	}
	return 0;
}

static int run(unsigned vcpu, unsigned nvcpus, struct vstat *st)
{
	uint64_t lo = cfg.sectors * vcpu / nvcpus, hi = cfg.sectors * (vcpu + 1) / nvcpus;
	uint64_t slice_len = hv_align_down(cfg.ws / nvcpus, HV_PAGE_SIZE), i, s;
	uint8_t *slice = cfg.area + slice_len * vcpu;
	uint32_t next_gen = 1 + vcpu * 0x1000000u;     /* unique across vCPUs */
	struct prng r;
	int err;

	prng_seed(&r, cfg.seed * 0x9e3779b97f4a7c15ull + vcpu);
	for (i = vcpu; i < cfg.ops; i += nvcpus) {
		err = do_op(&r, prng_below(&r, 2) == 0, lo, hi, slice, slice_len,
			    vcpu, st, &next_gen);
		if (err < 0)
			return err;     /* the device is gone: stop */
		stream(slice, slice_len, st);
	}
	/* Read back the whole range. */
	for (s = lo; s < hi; s += cfg.maxlen) {
		struct seg seg = { slice, (uint32_t)(hv_min(cfg.maxlen, hi - s) * VBLK_SECTOR) };
		struct vblk_buf b = { seg.p, seg.len };
		int st_dev;

		if (cfg.poison)
			memset(seg.p, 0xa5, seg.len);
		st_dev = vblk_request(&dev, VBLK_T_IN, s, &b, 1);
		if (st_dev != VBLK_S_OK) {
			st->errors++;
			hv_printf("dmastress: vcpu %u: final read at %lu: status %d\n",
				  vcpu, (unsigned long)s, st_dev);
			return st_dev < 0 ? st_dev : 0;
		}
		verify(&seg, s, seg.len / VBLK_SECTOR, vcpu, ~0ull, st);
		st->bytes += seg.len;
	}
	return 0;
}

int guest_main(unsigned vcpu, unsigned nvcpus)
{
	struct vstat tot = { 0 };
	uint64_t t0 = hv_rdtsc(), ms;
	unsigned i;

	if (vcpu == 0)
		cfg.err = setup(&cfg);
	hv_barrier();
	if (cfg.err)
		return vcpu == 0 ? cfg.err : 0;
	run(vcpu, nvcpus, &stats[vcpu]);
	hv_barrier();
	if (vcpu != 0)
		return 0;
	for (i = 0; i < nvcpus; i++) {
		tot.ops += stats[i].ops;
		tot.reads += stats[i].reads;
		tot.writes += stats[i].writes;
		tot.bytes += stats[i].bytes;
		tot.errors += stats[i].errors;
		tot.verified += stats[i].verified;
		tot.touched += stats[i].touched;
	}
	ms = hv_tsc_to_ns(hv_rdtsc() - t0) / 1000000;
	hv_metric("ops", (double)tot.ops);
	hv_metric("bytes", (double)tot.bytes);
	hv_metric("errors", (double)tot.errors);
	hv_metric("reads", (double)tot.reads);
	hv_metric("writes", (double)tot.writes);
	hv_metric("sectors_verified", (double)tot.verified);
	hv_metric("pages_streamed", (double)tot.touched);
	hv_printf("dmastress: %s ops=%lu (reads=%lu writes=%lu) bytes=%lu "
		  "verified=%lu sectors errors=%lu disk=%lu sectors ws=%lu KiB "
		  "vcpus=%u in %lu ms\n", tot.errors ? "FAILED" : "OK",
		  (unsigned long)tot.ops, (unsigned long)tot.reads,
		  (unsigned long)tot.writes, (unsigned long)tot.bytes,
		  (unsigned long)tot.verified, (unsigned long)tot.errors,
		  (unsigned long)cfg.sectors, (unsigned long)(cfg.ws >> 10),
		  nvcpus, (unsigned long)ms);
	return tot.errors ? HV_GUEST_STATUS_FAIL : 0;
}
