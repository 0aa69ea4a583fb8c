/*
 * fill.c - deterministic page contents (contract in fill.h).  No state, no
 * libc: shared by the guests and the host tools.
 */
#include "fill.h"
#include "prng.h"

static int prefix(const char *s, const char *p, const char **rest)
{
	while (*p && *s == *p)
		s++, p++;
	if (*p)
		return 0;
	*rest = s;
	return 1;
}

/* "R" or "R.D" or "R.DD" -> R x 100; -1 if malformed. */
static long parse_x100(const char *s)
{
	long v = 0, frac = 0, scale = 100;

	if (*s < '0' || *s > '9')
		return -1;
	while (*s >= '0' && *s <= '9' && v < 100000)
		v = v * 10 + (*s++ - '0');
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9' && scale > 1) {
			scale /= 10;
			frac += (*s++ - '0') * scale;
		}
	}
	return *s ? -1 : v * 100 + frac;
}

int fill_parse(const char *s, struct fill_spec *out)
{
	const char *rest;
	long r;

	out->ratio_x100 = 0;
	out->rand_chunks = 0;
	if (prefix(s, "sparse", &rest) && !*rest) {
		out->kind = FILL_SPARSE;
	} else if (prefix(s, "zeros", &rest) && !*rest) {
		out->kind = FILL_ZEROS;
	} else if (prefix(s, "random", &rest) && !*rest) {
		out->kind = FILL_RANDOM;
	} else if (prefix(s, "ratio:", &rest)) {
		r = parse_x100(rest);
		if (r < 100 || r > 6400)
			return -22;
		out->kind = FILL_RATIO;
		out->ratio_x100 = (unsigned)r;
		/* A random chunk costs its 64 bytes plus ~3 of framing (lz4's
		 * token and offset of the match that follows): calibrated by
		 * tests/test_fill.c against liblz4 and libzstd. */
		out->rand_chunks = (unsigned)((FILL_PAGE * 100u / FILL_CHUNK * 100u /
					       (unsigned)r + 52) / 105);
		if (out->rand_chunks < 1)
			out->rand_chunks = 1;
		if (out->rand_chunks > FILL_PAGE / FILL_CHUNK)
			out->rand_chunks = FILL_PAGE / FILL_CHUNK;
	} else {
		return -22;
	}
	return 0;
}

void fill_page(const struct fill_spec *f, uint64_t seed, uint64_t idx,
	       uint64_t *page)
{
	const unsigned words = FILL_PAGE / 8, cw = FILL_CHUNK / 8;
	const unsigned nchunks = FILL_PAGE / FILL_CHUNK;
	struct prng r;
	uint64_t pat;
	unsigned i, j, k;

	prng_seed(&r, seed ^ prng_mix64(idx + 0x66696c6cull));
	switch (f->kind) {
	case FILL_ZEROS:
	case FILL_SPARSE:
		for (i = 0; i < words; i++)
			page[i] = 0;
		return;
	case FILL_RANDOM:
		for (i = 0; i < words; i++)
			page[i] = prng_next(&r);
		return;
	case FILL_RATIO:
		break;
	}
	pat = prng_next(&r);
	k = f->rand_chunks;
	for (j = 0; j < nchunks; j++) {
		/* Chunk j is random when the even spread of k over nchunks
		 * steps at j (Bresenham): random chunks are apart. */
		int rnd = (j + 1) * k / nchunks != j * k / nchunks;

		for (i = 0; i < cw; i++)
			page[j * cw + i] = rnd ? prng_next(&r) : pat;
	}
}
