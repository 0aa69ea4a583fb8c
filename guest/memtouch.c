/*
 * memtouch.c - touch a working set in a configurable pattern and time it.
 *
 * Every vCPU replays the mt_gen sequence (lib/mt_gen.h) for its id: for each
 * access it reads or writes the u64 at word mt_word(page, seq) of the page.
 * Layout in free RAM: a touched-page bitmap (one bit per page, to count
 * distinct pages), then the page-aligned working set.
 *
 * swap=guest: the working set is virtual and lives in a pool of glimit
 * bytes of frames, paged to the virtio-blk disk by the in-guest swap model
 * (lib/gswap.h: a residency check on every access, CLOCK, swap I/O through
 * hvswap's DMA pins); with balloon=1 the workload then frees its memory and
 * every frame goes to the host through the virtio-balloon.
 *
 * Shared state: cfg is written by vCPU 0 before the first barrier and
 * read-only afterwards; stats[i] is written by vCPU i only and read by
 * vCPU 0 after the second barrier; the bitmap is updated with atomic OR.
 */
#include "rt.h"
#include "lib/fill.h"
#include "lib/gswap.h"
#include "lib/mt_gen.h"

struct cfg {
	struct mt_params p;
	uint64_t base;               /* working-set start (guest-physical) */
	uint64_t *bitmap;            /* touched pages */
	bool init;                   /* write every page before timing */
	struct fill_spec fill;       /* what init writes (lib/fill.h) */
	bool gswap;                  /* swap=guest */
	bool balloon;                /* balloon=1: release to the host at the end */
	uint64_t glimit;             /* bytes of frames (swap=guest) */
	int err;                     /* exit status if setup failed */
};

struct vstat {
	uint64_t accesses, writes, new_pages;
	uint64_t cycles;             /* whole run */
	uint64_t cycles_first;       /* first pass */
	uint64_t acc_first;
	uint64_t sink;               /* keeps reads alive */
	uint64_t seq_hash;           /* mt_seq_hash of the whole sequence */
} __attribute__((aligned(64)));

static struct cfg cfg;
static struct vstat stats[HV_MAX_VCPUS];
static struct gswap gs;

static const char *const known_args[] = {
	"ws", "pattern", "skew", "rw", "passes", "share", "seed", "hot",
	"hotacc", "phase", "init", "fill", "swap", "glimit", "balloon", NULL
};

static int parse_params(struct cfg *c)
{
	struct mt_params *p = &c->p;
	const char *pat = hv_arg_str("pattern", "zipf");

	mt_params_default(p);
	if (mt_pattern_parse(pat, &p->pattern)) {
		hv_printf("memtouch: unknown pattern '%s'\n", pat);
		return 2;
	}
	p->skew = hv_arg_double("skew", p->skew);
	p->write_ratio = hv_arg_double("rw", p->write_ratio);
	p->passes = (unsigned)hv_arg_u64("passes", p->passes);
	p->shared = hv_arg_u64("share", 0) != 0;
	p->seed = hv_arg_u64("seed", p->seed);
	p->hot_pct = (unsigned)hv_arg_u64("hot", p->hot_pct);
	p->hot_access_pct = (unsigned)hv_arg_u64("hotacc", p->hot_access_pct);
	p->phase_len = hv_arg_u64("phase", 0);
	c->init = hv_arg_u64("init", 0) != 0;
	if (fill_parse(hv_arg_str("fill", "sparse"), &c->fill)) {
		hv_printf("memtouch: bad fill '%s' (sparse, zeros, random or "
			  "ratio:R with 1 <= R <= 64)\n", hv_arg_str("fill", ""));
		return 2;
	}
	if (c->fill.kind != FILL_SPARSE && !c->init) {
		hv_printf("memtouch: fill= (other than sparse) needs init=1\n");
		return 2;
	}
	pat = hv_arg_str("swap", "none");
	if (hv_strcmp(pat, "guest") && hv_strcmp(pat, "none")) {
		hv_printf("memtouch: swap=%s: none or guest\n", pat);
		return 2;
	}
	c->gswap = !hv_strcmp(pat, "guest");
	c->glimit = hv_arg_u64("glimit", 0);
	c->balloon = hv_arg_u64("balloon", 0) != 0;
	if (c->gswap && (!hv_arg_u64("ws", 0) || !c->glimit)) {
		hv_printf("memtouch: swap=guest needs ws= and glimit=\n");
		return 2;
	}
	if (!c->gswap && (c->glimit || c->balloon)) {
		hv_printf("memtouch: glimit= and balloon= need swap=guest\n");
		return 2;
	}
	return 0;
}

/* swap=guest: the bitmap, then the paging layer; ws is virtual. */
static int layout_gswap(struct cfg *c)
{
	uint64_t hs = hv_heap_start(), he = hv_heap_end(), bm_pages;

	c->p.pages = hv_arg_u64("ws", 0) / HV_PAGE_SIZE;
	bm_pages = hv_align_up((c->p.pages + 7) / 8, HV_PAGE_SIZE) / HV_PAGE_SIZE;
	if (hs + bm_pages * HV_PAGE_SIZE > he) {
		hv_printf("memtouch: no room for the bitmap of ws\n");
		return 2;
	}
	c->bitmap = (uint64_t *)(uintptr_t)hs;
	memset(c->bitmap, 0, bm_pages * HV_PAGE_SIZE);
	return gswap_open(&gs, hs + bm_pages * HV_PAGE_SIZE, he, c->p.pages,
			  c->glimit / HV_PAGE_SIZE, c->balloon);
}

/* Bitmap first, then the working set; both page aligned. */
static int layout(struct cfg *c)
{
	uint64_t hs = hv_heap_start(), he = hv_heap_end();
	uint64_t avail = he > hs ? (he - hs) / HV_PAGE_SIZE : 0;
	uint64_t ws = hv_arg_u64("ws", 0), pages, bm_pages;

	/* Default: all free RAM; the bitmap of avail pages bounds its own size. */
	bm_pages = hv_align_up((avail + 7) / 8, HV_PAGE_SIZE) / HV_PAGE_SIZE;
	pages = ws ? ws / HV_PAGE_SIZE : avail - hv_min(avail, bm_pages);
	bm_pages = hv_align_up((pages + 7) / 8, HV_PAGE_SIZE) / HV_PAGE_SIZE;
	if (!pages || pages + bm_pages > avail) {
		hv_printf("memtouch: ws=%lu bytes does not fit: %lu KiB free "
			  "(RAM 0x%lx-0x%lx, image ends 0x%lx)\n",
			  (unsigned long)ws, (unsigned long)(avail * 4),
			  (unsigned long)hv_get_info()->ram_base,
			  (unsigned long)he, (unsigned long)hs);
		return 2;
	}
	c->p.pages = pages;
	c->bitmap = (uint64_t *)(uintptr_t)hs;
	c->base = hs + bm_pages * HV_PAGE_SIZE;
	/* The bitmap must start zeroed even if RAM was reused. */
	memset(c->bitmap, 0, bm_pages * HV_PAGE_SIZE);
	return 0;
}

static int setup(struct cfg *c, unsigned nvcpus)
{
	struct mt_gen probe;
	int err;

	if (hv_args_check(known_args))
		return 2;
	err = parse_params(c);
	if (!err)
		err = c->gswap ? layout_gswap(c) : layout(c);
	if (err)
		return err;
	if (mt_gen_init(&probe, &c->p, 0, nvcpus)) {
		hv_printf("memtouch: invalid parameters (rw in 0..1, skew > 0, "
			  "hot 1..100, hotacc 0..100)\n");
		return 2;
	}
	return 0;
}

static void mark_page(uint64_t *bitmap, uint64_t page, struct vstat *st)
{
	uint64_t *w = &bitmap[page / 64], bit = 1ull << (page % 64);

	if (__atomic_load_n(w, __ATOMIC_RELAXED) & bit)
		return;
	if (!(__atomic_fetch_or(w, bit, __ATOMIC_RELAXED) & bit))
		st->new_pages++;
}

/*
 * init=1: write one word of every page in this vCPU's slice of the working
 * set (untimed), so the timed run sees no first-touch or zero-page COW
 * faults from the host; with fill= the whole page (lib/fill.h), so the
 * swap sees realistic contents.  Slices never overlap, even when share=1.
 */
static void init_pages(unsigned vcpu, unsigned nvcpus)
{
	uint64_t lo = cfg.p.pages * vcpu / nvcpus;
	uint64_t hi = cfg.p.pages * (vcpu + 1) / nvcpus, i;

	for (i = lo; i < hi; i++) {
		uint64_t *p;

		if (cfg.gswap)
			p = gswap_get(&gs, i, true);
		else
			p = (uint64_t *)(uintptr_t)(cfg.base + i * HV_PAGE_SIZE);
		if (cfg.fill.kind == FILL_SPARSE)
			*(volatile uint64_t *)p = i;
		else
			fill_page(&cfg.fill, cfg.p.seed, i, p);
		if (cfg.gswap)
			gswap_put(&gs, i);
	}
}

/* One access of the sequence: through the paging layer or directly. */
static uint64_t touch(uint64_t page, uint64_t seq, bool wr)
{
	unsigned int w = mt_word(page, seq);
	volatile uint64_t *p;

	if (cfg.gswap) {
		if (wr)
			gswap_store(&gs, page, w, seq ^ page);
		return wr ? 0 : gswap_load(&gs, page, w);
	}
	p = (volatile uint64_t *)(uintptr_t)(cfg.base + page * HV_PAGE_SIZE) + w;
	if (wr)
		*p = seq ^ page;
	return wr ? 0 : *p;
}

static void run(unsigned vcpu, unsigned nvcpus, struct vstat *st)
{
	struct mt_gen g;
	uint64_t page, seq = 0, sink = 0, t0, t1 = 0, h = MT_SEQ_HASH_INIT;
	bool wr;

	mt_gen_init(&g, &cfg.p, vcpu, nvcpus);
	t0 = hv_rdtsc();
	while (mt_gen_next(&g, &page, &wr)) {
		sink += touch(page, seq, wr);
		if (wr)
			st->writes++;
		mark_page(cfg.bitmap, page, st);
		h = mt_seq_hash(h, page, wr);
		if (++seq == g.n) {
			t1 = hv_rdtsc();
			st->acc_first = seq;
		}
	}
	st->cycles = hv_rdtsc() - t0;
	st->cycles_first = t1 ? t1 - t0 : st->cycles;
	st->accesses = seq;
	st->sink = sink;
	st->seq_hash = h;
}

static double ratio(double num, double den)
{
	return den > 0 ? num / den : 0.0;
}

static void report(unsigned nvcpus)
{
	uint64_t acc = 0, wr = 0, touched = 0, cyc_sum = 0, cyc_max = 0;
	uint64_t warm_acc = 0, warm_cyc = 0;
	unsigned i;
	double ns_per, ns_warm, elapsed_ns;

	for (i = 0; i < nvcpus; i++) {
		const struct vstat *s = &stats[i];

		acc += s->accesses;
		wr += s->writes;
		touched += s->new_pages;
		cyc_sum += s->cycles;
		cyc_max = hv_max(cyc_max, s->cycles);
		warm_acc += s->accesses - s->acc_first;
		warm_cyc += s->cycles - s->cycles_first;
	}
	elapsed_ns = (double)hv_tsc_to_ns(cyc_max);
	ns_per = ratio((double)hv_tsc_to_ns(cyc_sum), (double)acc);
	ns_warm = ratio((double)hv_tsc_to_ns(warm_cyc), (double)warm_acc);
	hv_metric("pages_touched", (double)touched);
	hv_metric("accesses", (double)acc);
	hv_metric("writes", (double)wr);
	hv_metric("ws_pages", (double)cfg.p.pages);
	hv_metric("elapsed_ns", elapsed_ns);
	hv_metric("ns_per_access", ns_per);
	if (warm_acc)
		hv_metric("ns_per_access_warm", ns_warm);
	hv_metric("seq_hash0", (double)(stats[0].seq_hash & ((1ull << 52) - 1)));
	hv_printf("memtouch: pattern=%s ws=%lu KiB vcpus=%u passes=%u rw=%.2f "
		  "%s accesses=%lu writes=%lu pages_touched=%lu elapsed=%.3f ms "
		  "ns/access=%.1f warm=%.1f seq_hash0=0x%lx%s\n",
		  mt_pattern_name(cfg.p.pattern), (unsigned long)(cfg.p.pages * 4),
		  nvcpus, cfg.p.passes, cfg.p.write_ratio,
		  cfg.p.shared ? "shared" : "partitioned", (unsigned long)acc,
		  (unsigned long)wr, (unsigned long)touched, elapsed_ns / 1e6,
		  ns_per, ns_warm,
		  (unsigned long)(stats[0].seq_hash & ((1ull << 52) - 1)),
		  hv_get_info()->tsc_khz ? "" : " (no tsc_khz)");
}

int guest_main(unsigned vcpu, unsigned nvcpus)
{
	if (vcpu == 0)
		cfg.err = setup(&cfg, nvcpus);
	hv_barrier();
	if (cfg.err)
		return vcpu == 0 ? cfg.err : 0;
	if (cfg.init) {
		init_pages(vcpu, nvcpus);
		hv_barrier();
	}
	run(vcpu, nvcpus, &stats[vcpu]);
	hv_barrier();
	if (vcpu != 0)
		return 0;
	report(nvcpus);
	if (!cfg.gswap)
		return 0;
	gswap_report(&gs);
	if (cfg.balloon) {
		/* The workload is done: its memory goes back to the host. */
		gswap_release(&gs);
		gswap_report(&gs);
	}
	gswap_metrics(&gs, "memtouch");
	return 0;
}
