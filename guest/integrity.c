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
 * idle=MS: before pass idle_after (default 0: right after stamping), every
 * vCPU sleeps MS milliseconds (HV_HC_SLEEP, no host CPU) - a VM that goes
 * idle after start, or with idle_after > 0, one whose phase changes.
 * The first bad page stops the VM with status 1 and a one-line report.
 * cfg is written by vCPU 0 before the first barrier; stats[i] by vCPU i.
 */
#include "rt.h"
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
	int err;
};

struct vstat {
	uint64_t verified, written;
} __attribute__((aligned(64)));

static struct cfg cfg;
static struct vstat stats[HV_MAX_VCPUS];

static const char *const known_args[] = {
	"ws", "passes", "seed", "rewrite", "idle", "idle_after", NULL
};

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
	if (c->idle_ms > 600000) {
		hv_printf("integrity: idle=%lu ms: at most 600000\n", (unsigned long)c->idle_ms);
		return 2;
	}
	if (c->rewrite_pct > 100) {
		hv_printf("integrity: rewrite=%u must be 0..100\n", c->rewrite_pct);
		return 2;
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

static void *page_ptr(uint64_t i)
{
	return (void *)(uintptr_t)(cfg.base + i * HV_PAGE_SIZE);
}

static uint64_t page_gfn(uint64_t i)
{
	return (cfg.base + i * HV_PAGE_SIZE) / HV_PAGE_SIZE;
}

static void rewrite(uint64_t i, uint32_t gen, struct vstat *st)
{
	cfg.gen[i] = gen;
	integ_stamp(page_ptr(i), page_gfn(i), gen);
	st->written++;
}

static void verify_all(unsigned vcpu, unsigned nvcpus, unsigned pass,
		       struct vstat *st)
{
	uint64_t n = cfg.pages, i = n * vcpu / nvcpus, k;
	struct integ_bad bad;

	for (k = 0; k < n; k++, i = i + 1 == n ? 0 : i + 1) {
		int r = integ_check(page_ptr(i), page_gfn(i), cfg.gen[i], &bad);

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
		for (i = vcpu; i < cfg.pages; i += nvcpus)
			if (prng_below(&rng, 100) < cfg.rewrite_pct)
				rewrite(i, cfg.gen[i] + 1, st);
		hv_barrier();
	}
	verify_all(vcpu, nvcpus, pass, st);
}

int guest_main(unsigned vcpu, unsigned nvcpus)
{
	uint64_t verified = 0, written = 0, t0 = hv_rdtsc();
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
		verified += stats[i].verified;
		written += stats[i].written;
	}
	hv_metric("pages_verified", (double)verified);
	hv_metric("pages_written", (double)written);
	hv_metric("passes", cfg.passes);
	hv_printf("integrity: OK ws=%lu KiB pages=%lu vcpus=%u passes=%u "
		  "rewrite=%u%% verified=%lu written=%lu in %lu ms\n",
		  (unsigned long)(cfg.pages * 4), (unsigned long)cfg.pages,
		  nvcpus, cfg.passes, cfg.rewrite_pct, (unsigned long)verified,
		  (unsigned long)written,
		  (unsigned long)(hv_tsc_to_ns(hv_rdtsc() - t0) / 1000000));
	return 0;
}
