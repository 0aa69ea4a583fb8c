/*
 * gswap.c - the in-guest swap model (see gswap.h): residency checks,
 * CLOCK eviction over exact access bits, swap to the virtio-blk disk,
 * frames returned to the host through the virtio-balloon.
 *
 * Owns: struct gswap and the tables gswap_init() lays out.  Everything is
 * protected by g->lock (one lock; taken by every entry point, never held
 * by the caller).  Invariants, under the lock:
 *   vp2f[vp] == f + 1  <=>  f2vp[f] == vp + 1        (a page in a frame)
 *   used == frames with a page; nfree + nbal + used == nframes
 *   a frame is in exactly one of: a page, the free stack, the balloon stack
 *   a frame in the balloon is never touched until deflated (MUST_TELL_HOST)
 *   a pinned frame (fpin > 0) is never evicted
 * A disk error is the model's kernel panic: the guest exits with status 1
 * and a message (the workload cannot go on without its page).
 */
#include "rt.h"
#include "virtio_balloon.h"
#include "virtio_blk.h"
#include "lib/gswap.h"

#define GS_REF     1u
#define GS_DIRTY   2u
#define GS_ONDISK  1u
#define SECTORS_PER_PAGE (HV_PAGE_SIZE / VBLK_SECTOR)

static void gs_lock(struct gswap *g)
{
	hv_spin_lock(&g->lock);
}

static void gs_unlock(struct gswap *g)
{
	hv_spin_unlock(&g->lock);
}

__attribute__((noreturn)) static void panic(struct gswap *g, const char *what,
					    uint64_t vp, int r)
{
	g->st.io_errors++;
	hv_printf("gswap: %s of page %lu failed (%d): cannot go on\n", what,
		  (unsigned long)vp, r);
	hv_metric("gswap_io_errors", (double)g->st.io_errors);
	hv_exit(HV_GUEST_STATUS_FAIL);
}

static uint8_t *frame_ptr(struct gswap *g, uint64_t f)
{
	return g->frames + f * HV_PAGE_SIZE;
}

static uint32_t frame_pfn(struct gswap *g, uint64_t f)
{
	return (uint32_t)((uintptr_t)frame_ptr(g, f) / HV_PAGE_SIZE);
}

uint64_t gswap_bytes(uint64_t nvp, uint64_t nframes)
{
	uint64_t meta = nvp * 5 + nframes * (4 + 1 + 2 + 4 + 4);

	return hv_align_up(meta, HV_PAGE_SIZE) + nframes * HV_PAGE_SIZE;
}

int gswap_init(struct gswap *g, uint64_t base, uint64_t nvp, uint64_t nframes,
	       struct vblk *disk, struct vball *balloon)
{
	uint8_t *p = (uint8_t *)(uintptr_t)base;
	uint64_t f;

	memset(g, 0, sizeof(*g));
	if (!nvp || nframes < 16 || nframes > 0xffffffffull || nvp > 0xffffffffull) {
		hv_printf("gswap: %lu pages in %lu frames: need >= 16 frames\n",
			  (unsigned long)nvp, (unsigned long)nframes);
		return -HV_EINVAL;
	}
	if (!disk || disk->capacity < nvp * SECTORS_PER_PAGE) {
		hv_printf("gswap: the disk holds %lu KiB, swap needs %lu KiB "
			  "(run with --disk-size >= ws)\n",
			  (unsigned long)(disk ? disk->capacity / 2 : 0),
			  (unsigned long)(nvp * 4));
		return -HV_EINVAL;
	}
	memset(p, 0, gswap_bytes(nvp, nframes) - nframes * HV_PAGE_SIZE);
	g->nvp = nvp;
	g->nframes = nframes;
	g->vp2f = (uint32_t *)p;        p += nvp * 4;
	g->f2vp = (uint32_t *)p;        p += nframes * 4;
	g->free = (uint32_t *)p;        p += nframes * 4;
	g->bal = (uint32_t *)p;         p += nframes * 4;
	g->fpin = (uint16_t *)p;        p += nframes * 2;
	g->fflag = p;                   p += nframes;
	g->vpflag = p;
	g->frames = (uint8_t *)(uintptr_t)(base + gswap_bytes(nvp, nframes) -
					   nframes * HV_PAGE_SIZE);
	for (f = 0; f < nframes; f++)
		g->free[f] = (uint32_t)(nframes - 1 - f);   /* frame 0 on top */
	g->nfree = nframes;
	g->limit = nframes;
	g->disk = disk;
	g->balloon = balloon;
	return 0;
}

/* The devices (one paging layer per guest). */
static struct vblk gs_disk;
static struct vball gs_balloon;

static int find_disk(struct vblk *d)
{
	unsigned int i;

	for (i = 0; i < hv_get_info()->nr_mmio_devs; i++)
		if (vblk_probe(d, i) == 0)
			return vblk_init(d);
	return VBLK_ERR_NODEV;
}

int gswap_open(struct gswap *g, uint64_t base, uint64_t end, uint64_t nvp,
	       uint64_t nframes, bool balloon)
{
	int r;

	if (base + gswap_bytes(nvp, nframes) > end) {
		hv_printf("gswap: %lu pages in %lu frames need %lu KiB, %lu KiB "
			  "free\n", (unsigned long)nvp, (unsigned long)nframes,
			  (unsigned long)(gswap_bytes(nvp, nframes) / 1024),
			  (unsigned long)((end - hv_min(end, base)) / 1024));
		return 2;
	}
	r = find_disk(&gs_disk);
	if (r) {
		hv_printf("gswap: no usable virtio-blk disk (%d): run with "
			  "--disk-size\n", r);
		return 2;
	}
	if (balloon) {
		r = vball_probe(&gs_balloon);
		if (!r)
			r = vball_init(&gs_balloon);
		if (r) {
			hv_printf("gswap: no usable virtio-balloon (%d): run with "
				  "--balloon\n", r);
			return 2;
		}
	}
	r = gswap_init(g, base, nvp, nframes, &gs_disk, balloon ? &gs_balloon : NULL);
	return r ? 2 : 0;
}

/* CLOCK: the first unpinned page frame whose REF is clear, clearing REF
 * on the way.  Evicts it (to the disk if dirty) and returns it, now free
 * of any page. */
static uint64_t evict(struct gswap *g)
{
	uint64_t n, f, vp;
	int r;

	for (n = 0; n < 2 * g->nframes + 1; n++) {
		f = g->hand;
		g->hand = f + 1 == g->nframes ? 0 : f + 1;
		if (!g->f2vp[f] || g->fpin[f])
			continue;
		if (g->fflag[f] & GS_REF) {
			g->fflag[f] &= (uint8_t)~GS_REF;
			continue;
		}
		vp = g->f2vp[f] - 1;
		if (g->fflag[f] & GS_DIRTY) {
			r = vblk_write(g->disk, vp * SECTORS_PER_PAGE, frame_ptr(g, f),
				       HV_PAGE_SIZE);
			if (r)
				panic(g, "swap write", vp, r);
			g->vpflag[vp] |= GS_ONDISK;
			g->st.swapouts++;
		} else if (g->vpflag[vp] & GS_ONDISK) {
			g->st.clean_drops++;
			g->cold = true;
		}
		g->vp2f[vp] = 0;
		g->f2vp[f] = 0;
		g->fflag[f] = 0;
		g->used--;
		g->st.evictions++;
		return f;
	}
	hv_printf("gswap: every frame is pinned (%lu frames, %lu vCPUs)\n",
		  (unsigned long)g->nframes, (unsigned long)hv_nr_vcpus());
	hv_exit(HV_GUEST_STATUS_FAIL);
}

/* Take up to `want` frames back from the balloon into the free stack. */
static void deflate(struct gswap *g, uint64_t want)
{
	uint32_t pfn[VBALL_BATCH];
	uint64_t k, n = hv_min(hv_min(want, g->nbal), VBALL_BATCH);
	int r;

	if (!n)
		return;
	for (k = 0; k < n; k++)
		pfn[k] = frame_pfn(g, g->bal[g->nbal - 1 - k]);
	r = vball_deflate(g->balloon, pfn, n);
	if (r)
		panic(g, "balloon deflate", 0, r);
	for (k = 0; k < n; k++)
		g->free[g->nfree++] = g->bal[--g->nbal];
	g->st.deflated += n;
}

/* Give every free frame to the host. */
static void inflate_free(struct gswap *g)
{
	uint32_t pfn[VBALL_BATCH];
	uint64_t k, n;
	int r;

	while (g->balloon && g->nfree) {
		n = hv_min(g->nfree, VBALL_BATCH);
		for (k = 0; k < n; k++)
			pfn[k] = frame_pfn(g, g->free[g->nfree - 1 - k]);
		r = vball_inflate(g->balloon, pfn, n);
		if (r)
			panic(g, "balloon inflate", 0, r);
		for (k = 0; k < n; k++)
			g->bal[g->nbal++] = g->free[--g->nfree];
		g->st.inflated += n;
	}
}

static uint64_t take_frame(struct gswap *g)
{
	g->cold = false;
	if (g->used >= g->limit)
		return evict(g);
	if (!g->nfree && g->nbal)
		deflate(g, g->limit - g->used);
	if (g->nfree)
		return g->free[--g->nfree];
	return evict(g);
}

/* Lock held: make vp resident; returns its frame. */
static uint64_t fault(struct gswap *g, uint64_t vp)
{
	uint64_t f = take_frame(g);
	int r;

	g->st.faults++;
	if (g->vpflag[vp] & GS_ONDISK) {
		r = vblk_read(g->disk, vp * SECTORS_PER_PAGE, frame_ptr(g, f),
			      HV_PAGE_SIZE);
		if (r)
			panic(g, "swap read", vp, r);
		g->st.swapins++;
	} else {
		/* A frame its last page left clean has not been touched since:
		 * the host may well have swapped it out.  Clearing it would
		 * make the host read back data we destroy (a false read); say
		 * so first, as a guest kernel's page clearing could. */
		if (g->cold) {
			g->st.cold_fills++;
			if (hv_overwrite_hint(frame_ptr(g, f), HV_PAGE_SIZE) > 0)
				g->st.hint_dropped++;
		}
		memset(frame_ptr(g, f), 0, HV_PAGE_SIZE);
		g->st.zero_fills++;
	}
	g->vp2f[vp] = (uint32_t)(f + 1);
	g->f2vp[f] = (uint32_t)(vp + 1);
	g->fflag[f] = 0;
	g->used++;
	return f;
}

/* Lock held: the residency check of every access. */
static uint64_t access(struct gswap *g, uint64_t vp, bool write)
{
	uint64_t f = g->vp2f[vp];

	g->st.accesses++;
	f = f ? f - 1 : fault(g, vp);
	g->fflag[f] |= (uint8_t)(GS_REF | (write ? GS_DIRTY : 0));
	return f;
}

void *gswap_get(struct gswap *g, uint64_t vp, bool write)
{
	uint64_t f;

	gs_lock(g);
	f = access(g, vp, write);
	g->fpin[f]++;
	gs_unlock(g);
	return frame_ptr(g, f);
}

void gswap_put(struct gswap *g, uint64_t vp)
{
	gs_lock(g);
	g->fpin[g->vp2f[vp] - 1]--;
	gs_unlock(g);
}

uint64_t gswap_load(struct gswap *g, uint64_t vp, unsigned int word)
{
	uint64_t v;

	gs_lock(g);
	v = ((volatile uint64_t *)frame_ptr(g, access(g, vp, false)))[word];
	gs_unlock(g);
	return v;
}

void gswap_store(struct gswap *g, uint64_t vp, unsigned int word, uint64_t v)
{
	gs_lock(g);
	((volatile uint64_t *)frame_ptr(g, access(g, vp, true)))[word] = v;
	gs_unlock(g);
}

int gswap_set_frames(struct gswap *g, uint64_t n)
{
	if (n < 16 || n > g->nframes)
		return -HV_EINVAL;
	gs_lock(g);
	g->limit = n;
	while (g->used > g->limit)
		g->free[g->nfree++] = (uint32_t)evict(g);
	inflate_free(g);
	gs_unlock(g);
	return 0;
}

int gswap_release(struct gswap *g)
{
	uint64_t f;

	gs_lock(g);
	for (f = 0; f < g->nframes; f++) {
		if (!g->f2vp[f])
			continue;
		g->vp2f[g->f2vp[f] - 1] = 0;
		g->f2vp[f] = 0;
		g->fflag[f] = 0;
		g->free[g->nfree++] = (uint32_t)f;
	}
	g->used = 0;
	memset(g->vpflag, 0, g->nvp);
	inflate_free(g);
	gs_unlock(g);
	return 0;
}

int gswap_report(struct gswap *g)
{
	struct vball_stat st[VBALL_NSTATS];

	if (!g->balloon)
		return 0;
	gs_lock(g);
	st[0] = (struct vball_stat){ VBALL_S_SWAP_IN, g->st.swapins * HV_PAGE_SIZE };
	st[1] = (struct vball_stat){ VBALL_S_SWAP_OUT, g->st.swapouts * HV_PAGE_SIZE };
	st[2] = (struct vball_stat){ VBALL_S_MAJFLT, g->st.swapins };
	st[3] = (struct vball_stat){ VBALL_S_MINFLT, g->st.zero_fills };
	st[4] = (struct vball_stat){ VBALL_S_MEMFREE, g->nfree * HV_PAGE_SIZE };
	st[5] = (struct vball_stat){ VBALL_S_MEMTOT, g->nframes * HV_PAGE_SIZE };
	gs_unlock(g);
	return vball_report(g->balloon, st, VBALL_NSTATS);
}

void gswap_metrics(struct gswap *g, const char *who)
{
	hv_metric("gswap_frames", (double)g->nframes);
	hv_metric("gswap_accesses", (double)g->st.accesses);
	hv_metric("gswap_faults", (double)g->st.faults);
	hv_metric("gswap_swapins", (double)g->st.swapins);
	hv_metric("gswap_swapouts", (double)g->st.swapouts);
	hv_metric("gswap_zero_fills", (double)g->st.zero_fills);
	hv_metric("gswap_cold_fills", (double)g->st.cold_fills);
	hv_metric("gswap_hint_dropped", (double)g->st.hint_dropped);
	hv_metric("gswap_clean_drops", (double)g->st.clean_drops);
	hv_metric("gswap_evictions", (double)g->st.evictions);
	hv_metric("gswap_inflated", (double)g->st.inflated);
	hv_metric("gswap_deflated", (double)g->st.deflated);
	hv_metric("gswap_in_balloon", (double)g->nbal);
	hv_printf("%s: gswap frames=%lu faults=%lu swapins=%lu swapouts=%lu "
		  "zero_fills=%lu inflated=%lu deflated=%lu\n", who,
		  (unsigned long)g->nframes, (unsigned long)g->st.faults,
		  (unsigned long)g->st.swapins, (unsigned long)g->st.swapouts,
		  (unsigned long)g->st.zero_fills, (unsigned long)g->st.inflated,
		  (unsigned long)g->st.deflated);
}
