/*
 * mt_gen.c - memtouch access-sequence generator (contract in mt_gen.h).
 * State lives entirely in the caller's struct mt_gen; no globals.
 * Invariant: count <= total; shift < n (when n > 0).
 */
#include "mt_gen.h"

static const char *const pattern_names[MT_NR_PATTERNS] = {
	[MT_SEQ] = "seq", [MT_UNIFORM] = "uniform",
	[MT_ZIPF] = "zipf", [MT_HOTCOLD] = "hotcold", [MT_SCANHOT] = "scanhot",
};

void mt_params_default(struct mt_params *p)
{
	p->pages = 0;
	p->pattern = MT_ZIPF;
	p->skew = 0.99;
	p->write_ratio = 0.5;
	p->passes = 3;
	p->hot_pct = 10;
	p->hot_access_pct = 90;
	p->phase_len = 0;
	p->seed = 1;
	p->shared = false;
}

const char *mt_pattern_name(enum mt_pattern pat)
{
	return (unsigned)pat < MT_NR_PATTERNS ? pattern_names[pat] : "?";
}

static bool str_eq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

int mt_pattern_parse(const char *s, enum mt_pattern *out)
{
	unsigned i;

	for (i = 0; i < MT_NR_PATTERNS; i++) {
		if (str_eq(s, pattern_names[i])) {
			*out = (enum mt_pattern)i;
			return 0;
		}
	}
	return -22;
}

static int check_params(const struct mt_params *p, unsigned vcpu,
			unsigned nvcpus)
{
	if (!nvcpus || vcpu >= nvcpus || !p->pages)
		return -22;
	if ((unsigned)p->pattern >= MT_NR_PATTERNS)
		return -22;
	if (!(p->write_ratio >= 0.0 && p->write_ratio <= 1.0))
		return -22;
	if (p->hot_pct < 1 || p->hot_pct > 100 || p->hot_access_pct > 100)
		return -22;
	if (p->pattern == MT_ZIPF && !(p->skew > 0.0 && p->skew <= 1e6))
		return -22;
	return 0;
}

int mt_gen_init(struct mt_gen *g, const struct mt_params *p,
		unsigned vcpu, unsigned nvcpus)
{
	int err = check_params(p, vcpu, nvcpus);

	if (err)
		return err;
	g->p = *p;
	if (p->shared) {
		g->lo = 0;
		g->n = p->pages;
		g->seq_start = g->n * vcpu / nvcpus;
	} else {
		/* 128-bit products: pages * nvcpus cannot overflow. */
		g->lo = (uint64_t)((unsigned __int128)p->pages * vcpu / nvcpus);
		g->n = (uint64_t)((unsigned __int128)p->pages * (vcpu + 1) / nvcpus)
		       - g->lo;
		g->seq_start = 0;
	}
	g->total = (uint64_t)p->passes * g->n;
	g->count = 0;
	g->hot_n = g->n * p->hot_pct / 100;
	if (g->hot_n < 1)
		g->hot_n = 1;
	g->shift = 0;
	g->phase_left = p->phase_len;
	g->scan_pos = 0;
	prng_seed(&g->rng, p->seed ^ prng_mix64(0x6d74ull << 32 | vcpu));
	perm_init(&g->perm, g->n ? g->n : 1, p->seed ^ g->lo);
	if (p->pattern == MT_ZIPF && g->n)
		return zipf_init(&g->zipf, g->n, p->skew);
	return 0;
}

/* A rank (0 = hottest) for the current access, in [0, n). */
static uint64_t next_rank(struct mt_gen *g)
{
	uint64_t cold = g->n - g->hot_n;

	switch (g->p.pattern) {
	case MT_ZIPF:
		return zipf_sample(&g->zipf, &g->rng);
	case MT_HOTCOLD:
		if (!cold || prng_below(&g->rng, 100) < g->p.hot_access_pct)
			return prng_below(&g->rng, g->hot_n);
		return g->hot_n + prng_below(&g->rng, cold);
	default:
		return 0;
	}
}

static uint64_t next_index(struct mt_gen *g)
{
	uint64_t r;

	switch (g->p.pattern) {
	case MT_SEQ:
		r = g->seq_start + g->count % g->n;
		return r >= g->n ? r - g->n : r;
	case MT_UNIFORM:
		return prng_below(&g->rng, g->n);
	case MT_SCANHOT:
		if (prng_below(&g->rng, 100) >= g->p.hot_access_pct)
			return g->scan_pos++ % g->n;
		r = prng_below(&g->rng, g->hot_n) + g->shift;
		if (r >= g->n)
			r -= g->n;
		return perm_apply(&g->perm, r);
	default:
		r = next_rank(g) + g->shift;
		if (r >= g->n)
			r -= g->n;
		return perm_apply(&g->perm, r);
	}
}

static bool next_is_write(struct mt_gen *g)
{
	double w = g->p.write_ratio;

	if (w <= 0.0)
		return false;
	if (w >= 1.0)
		return true;
	return prng_double(&g->rng) < w;
}

/* Advance the phase clock after an access; rotate the hot set on expiry. */
static void advance_phase(struct mt_gen *g)
{
	if (!g->p.phase_len || --g->phase_left)
		return;
	g->phase_left = g->p.phase_len;
	g->shift += g->hot_n % g->n;
	if (g->shift >= g->n)
		g->shift -= g->n;
}

bool mt_gen_next(struct mt_gen *g, uint64_t *page, bool *is_write)
{
	if (g->count >= g->total)
		return false;
	*page = g->lo + next_index(g);
	*is_write = next_is_write(g);
	g->count++;
	advance_phase(g);
	return true;
}
