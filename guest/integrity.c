/*
 * integrity.c - end-to-end data-integrity check of guest RAM under swapping.
 *
 * Layout in free RAM: a generation table (u32 per page), then the
 * page-aligned working set.  Every page carries an integ stamp (lib/integ.h)
 * for (gfn, generation).
 *
 * Ownership rule, so no two vCPUs ever race on a page: vCPU v writes only
 * pages with index % nvcpus == v (the stamp and gen[index] alike), and only
 * between barriers in which nobody verifies.  Verification reads every page
 * on every vCPU (cross-vCPU: each checks what the others wrote), starting at
 * a different offset per vCPU.  Sequence:
 *     stamp own pages (gen 1) | barrier
 *     passes x { verify all | barrier | rewrite rewrite% of own pages with
 *                gen+1 | barrier }
 *     verify all
 * After each "verify all" vCPU 0 publishes the metric verify_passes (the
 * number of complete verifications so far).
 * fill=KIND: the stamps' contents after the header are fill= contents
 * (lib/fill.h: zeros, sparse, random, ratio:R) instead of random words, so
 * the pages compress as the kind says (the compressed tier's tests).
 * idle=MS: before pass idle_after (default 0: right after stamping), every
 * vCPU sleeps MS milliseconds (HV_HC_SLEEP, no host CPU) - a VM that goes
 * idle after start, or with idle_after > 0, one whose phase changes.
 * hint=1: every rewrite first tells the host the page is about to be
 * overwritten whole (HV_HC_OVERWRITE), so a page the host swapped out comes
 * back as zeros instead of being read (the false-reads preventer for CPU
 * writes); metric overwrite_dropped counts the pages the host said it
 * dropped.
 * The first bad page stops the VM with status 1 and a one-line report.
 *
 * swap=guest: the pages are virtual and live in glimit bytes of frames,
 * paged to the virtio-blk disk by the in-guest swap model (lib/gswap.h);
 * each page is reached through gswap_get()/gswap_put() (its "gfn" in the
 * stamp is its index).  With balloon=1, after the passes the pool shrinks
 * to a quarter (pages go to the disk, the freed frames into the balloon,
 * whose pages the host discards), everything is verified, the pool grows
 * back (frames deflated as faults need them) and everything is verified
 * once more.
 * cfg is written by vCPU 0 before the first barrier; stats[i] by vCPU i.
 */
#include "rt.h"
#include "lib/gswap.h"
#include "lib/fill.h"
#include "lib/integ.h"
#include "lib/prng.h"

struct cfg {
	uint64_t pages;
	uint64_t base;           /* first page (guest-physical) */
	uint32_t *gen;           /* expected generation per page */
	unsigned passes;
	unsigned rewrite_pct;
	uint64_t idle_ms;
	unsigned idle_after;
	uint64_t seed;
	bool gswap, balloon;     /* swap=guest, balloon=1 */
	bool has_fill;           /* fill= given (else random page contents) */
	bool hint;               /* hint=1: HV_HC_OVERWRITE before a rewrite */
	struct fill_spec fill;
	uint64_t glimit;         /* bytes of frames */
	int err;
};

struct vstat {
	uint64_t verified, written, dropped;
} __attribute__((aligned(64)));

static struct cfg cfg;
static struct vstat stats[HV_MAX_VCPUS];
static struct gswap gs;

static const char *const known_args[] = {
	"ws", "passes", "seed", "rewrite", "swap", "glimit", "balloon", "idle",
	"idle_after", "fill", "hint", NULL
};

/* swap=guest: the generation table, then the paging layer. */
static int setup_gswap(struct cfg *c, uint64_t ws)
{
	const char *sw = hv_arg_str("swap", "none");
	uint64_t hs = hv_heap_start(), he = hv_heap_end(), tab_pages;

	if (hv_strcmp(sw, "guest") && hv_strcmp(sw, "none")) {
		hv_printf("integrity: swap=%s: none or guest\n", sw);
		return 2;
	}
	c->gswap = !hv_strcmp(sw, "guest");
	c->glimit = hv_arg_u64("glimit", 0);
	c->balloon = hv_arg_u64("balloon", 0) != 0;
	if (!c->gswap && (c->glimit || c->balloon)) {
		hv_printf("integrity: glimit= and balloon= need swap=guest\n");
		return 2;
	}
	if (!c->gswap)
		return 0;
	if (!ws || !c->glimit) {
		hv_printf("integrity: swap=guest needs ws= and glimit=\n");
		return 2;
	}
	c->pages = ws / HV_PAGE_SIZE;
	tab_pages = hv_align_up(c->pages * 4, HV_PAGE_SIZE) / HV_PAGE_SIZE;
	c->gen = (uint32_t *)(uintptr_t)hs;
	return gswap_open(&gs, hs + tab_pages * HV_PAGE_SIZE, he, c->pages,
			  c->glimit / HV_PAGE_SIZE, c->balloon);
}

static int setup(struct cfg *c)
{
	uint64_t hs = hv_heap_start(), he = hv_heap_end();
	uint64_t avail = he > hs ? (he - hs) / HV_PAGE_SIZE : 0;
	uint64_t ws, tab_pages;

	if (hv_args_check(known_args))
		return 2;
	ws = hv_arg_u64("ws", 0);
	c->passes = (unsigned)hv_arg_u64("passes", 4);
	c->seed = hv_arg_u64("seed", 1);
	c->rewrite_pct = (unsigned)hv_arg_u64("rewrite", 25);
	c->idle_ms = hv_arg_u64("idle", 0);
	c->idle_after = (unsigned)hv_arg_u64("idle_after", 0);
	c->hint = hv_arg_u64("hint", 0) != 0;
	if (c->idle_ms > 600000) {
		hv_printf("integrity: idle=%lu ms: at most 600000\n", (unsigned long)c->idle_ms);
		return 2;
	}
	c->has_fill = hv_arg_present("fill");
	if (c->has_fill && fill_parse(hv_arg_str("fill", ""), &c->fill)) {
		hv_printf("integrity: fill=%s: sparse, zeros, random or ratio:R "
			  "(1 <= R <= 64)\n", hv_arg_str("fill", ""));
		return 2;
	}
	if (c->rewrite_pct > 100) {
		hv_printf("integrity: rewrite=%u must be 0..100\n", c->rewrite_pct);
		return 2;
	}
	if (hv_arg_present("swap") || hv_arg_present("glimit") ||
	    hv_arg_present("balloon")) {
		int r = setup_gswap(c, ws);

		if (r || c->gswap)
			return r;
	}
	tab_pages = hv_align_up(avail * 4, HV_PAGE_SIZE) / HV_PAGE_SIZE;
	c->pages = ws ? ws / HV_PAGE_SIZE : avail - hv_min(avail, tab_pages);
	tab_pages = hv_align_up(c->pages * 4, HV_PAGE_SIZE) / HV_PAGE_SIZE;
	if (!c->pages || c->pages + tab_pages > avail) {
		hv_printf("integrity: ws=%lu bytes does not fit: %lu KiB free\n",
			  (unsigned long)ws, (unsigned long)(avail * 4));
		return 2;
	}
	c->gen = (uint32_t *)(uintptr_t)hs;
	c->base = hs + tab_pages * HV_PAGE_SIZE;
	return 0;
}

/* The page's data (swap=guest: pinned until page_done()). */
static void *page_get(uint64_t i, bool write)
{
	if (cfg.gswap)
		return gswap_get(&gs, i, write);
	return (void *)(uintptr_t)(cfg.base + i * HV_PAGE_SIZE);
}

static void page_done(uint64_t i)
{
	if (cfg.gswap)
		gswap_put(&gs, i);
}

static uint64_t page_gfn(uint64_t i)
{
	if (cfg.gswap)
		return i;
	return (cfg.base + i * HV_PAGE_SIZE) / HV_PAGE_SIZE;
}

static void rewrite(uint64_t i, uint32_t gen, struct vstat *st)
{
	cfg.gen[i] = gen;
	/* the stamp overwrites all 4 KiB (lib/integ.h) */
	if (cfg.hint && !cfg.gswap &&
	    hv_overwrite_hint(page_get(i, true), HV_PAGE_SIZE) > 0)
		st->dropped++;
	integ_stamp_fill(page_get(i, true), page_gfn(i), gen,
			 cfg.has_fill ? &cfg.fill : NULL);
	page_done(i);
	st->written++;
}

static void verify_all(unsigned vcpu, unsigned nvcpus, unsigned pass,
		       struct vstat *st)
{
	uint64_t n = cfg.pages, i = n * vcpu / nvcpus, k;
	struct integ_bad bad;

	for (k = 0; k < n; k++, i = i + 1 == n ? 0 : i + 1) {
		int r = integ_check(page_get(i, false), page_gfn(i), cfg.gen[i], &bad);

		page_done(i);
		if (r) {
			hv_printf("integrity: BAD page gfn=0x%lx expected gen=%u "
				  "found gfn=0x%lx gen=%lu csum=0x%lx (computed "
				  "0x%lx, magic 0x%lx): %s; vcpu %u pass %u\n",
				  (unsigned long)page_gfn(i), cfg.gen[i],
				  (unsigned long)bad.found_gfn,
				  (unsigned long)bad.found_gen,
				  (unsigned long)bad.found_csum,
				  (unsigned long)bad.computed_csum,
				  (unsigned long)bad.found_magic,
				  integ_reason_name(r), vcpu, pass);
			hv_metric("bad_pages", 1);
			hv_exit(HV_GUEST_STATUS_FAIL);
		}
		st->verified++;
	}
}

static void run(unsigned vcpu, unsigned nvcpus, struct vstat *st)
{
	struct prng rng;
	unsigned pass;
	uint64_t i;

	prng_seed(&rng, cfg.seed * 0x9e3779b97f4a7c15ull + vcpu);
	for (i = vcpu; i < cfg.pages; i += nvcpus)
		rewrite(i, 1, st);
	hv_barrier();
	for (pass = 0; pass <= cfg.passes; pass++) {
		if (cfg.idle_ms && pass == cfg.idle_after) {
			hv_sleep_ns(cfg.idle_ms * 1000000ull);
			hv_barrier();
		}
		if (pass == cfg.passes)
			break;
		verify_all(vcpu, nvcpus, pass, st);
		hv_barrier();
		/* Progress a host can watch (`hvswap ctl stats`: vm.metrics):
		 * every page verified pass + 1 times so far. */
		if (vcpu == 0)
			hv_metric("verify_passes", pass + 1);
		for (i = vcpu; i < cfg.pages; i += nvcpus)
			if (prng_below(&rng, 100) < cfg.rewrite_pct)
				rewrite(i, cfg.gen[i] + 1, st);
		hv_barrier();
	}
	verify_all(vcpu, nvcpus, pass, st);
}

/* balloon=1: shrink the pool to a quarter (frames to the host), verify,
 * grow it back (frames come back on demand), verify. */
static void balloon_phase(unsigned vcpu, unsigned nvcpus, struct vstat *st)
{
	hv_barrier();
	if (vcpu == 0) {
		gswap_set_frames(&gs, hv_max(gs.nframes / 4, 16));
		gswap_report(&gs);
	}
	hv_barrier();
	verify_all(vcpu, nvcpus, cfg.passes + 1, st);
	hv_barrier();
	if (vcpu == 0)
		gswap_set_frames(&gs, gs.nframes);
	hv_barrier();
	verify_all(vcpu, nvcpus, cfg.passes + 2, st);
	hv_barrier();
	if (vcpu == 0)
		gswap_report(&gs);
}

int guest_main(unsigned vcpu, unsigned nvcpus)
{
	uint64_t verified = 0, written = 0, dropped = 0, t0 = hv_rdtsc();
	unsigned i;

	if (vcpu == 0)
		cfg.err = setup(&cfg);
	hv_barrier();
	if (cfg.err)
		return vcpu == 0 ? cfg.err : 0;
	run(vcpu, nvcpus, &stats[vcpu]);
	if (cfg.gswap && cfg.balloon)
		balloon_phase(vcpu, nvcpus, &stats[vcpu]);
	hv_barrier();
	if (vcpu != 0)
		return 0;
	if (cfg.gswap) {
		gswap_report(&gs);
		gswap_metrics(&gs, "integrity");
	}
	for (i = 0; i < nvcpus; i++) {
		verified += stats[i].verified;
		written += stats[i].written;
		dropped += stats[i].dropped;
	}
	hv_metric("pages_verified", (double)verified);
	hv_metric("pages_written", (double)written);
	if (cfg.hint)
		hv_metric("overwrite_dropped", (double)dropped);
	hv_metric("passes", cfg.passes);
	hv_printf("integrity: OK ws=%lu KiB pages=%lu vcpus=%u passes=%u "
		  "rewrite=%u%% verified=%lu written=%lu in %lu ms\n",
		  (unsigned long)(cfg.pages * 4), (unsigned long)cfg.pages,
		  nvcpus, cfg.passes, cfg.rewrite_pct, (unsigned long)verified,
		  (unsigned long)written,
		  (unsigned long)(hv_tsc_to_ns(hv_rdtsc() - t0) / 1000000));
	return 0;
}
