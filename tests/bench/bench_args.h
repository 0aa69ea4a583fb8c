/*
 * bench_args.h - memtouch's key=value arguments for host tools (replay.c,
 * belady.c), so the host sees exactly the struct mt_params the guest builds.
 *
 * Keys: ws pattern skew rw passes share seed hot hotacc phase init fill (as
 * memtouch, see `hvswap list`), plus vcpus=N and tool-specific keys that the
 * caller handles through the `extra` callback.  Sizes take K/M/G/T.
 */
#ifndef HV_BENCH_ARGS_H
#define HV_BENCH_ARGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fill.h"
#include "lib/mt_gen.h"

struct bench_args {
	struct mt_params p;
	unsigned vcpus;
	bool init;
	struct fill_spec fill;     /* fill=, lib/fill.h (default sparse) */
};

static inline int bench_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	switch (*end) {
	case 'T': case 't': v <<= 10; /* fall through */
	case 'G': case 'g': v <<= 10; /* fall through */
	case 'M': case 'm': v <<= 10; /* fall through */
	case 'K': case 'k': v <<= 10; end++; break;
	default: break;
	}
	if (end == s || *end)
		return -1;
	*out = v;
	return 0;
}

/*
 * Parse argv[first..argc).  extra(key, val, ctx) is called for keys this
 * parser does not know; it returns 0 if it took the key.  Returns 0 or -1
 * (message printed).
 */
static inline int bench_parse(int argc, char **argv, int first,
			      struct bench_args *a,
			      int (*extra)(const char *, const char *, void *),
			      void *ctx)
{
	uint64_t ws = 0, v;
	int i;

	mt_params_default(&a->p);
	a->vcpus = 1;
	a->init = false;
	fill_parse("sparse", &a->fill);
	for (i = first; i < argc; i++) {
		char key[32], *eq = strchr(argv[i], '=');
		const char *val;
		size_t kl;

		if (!eq || (kl = (size_t)(eq - argv[i])) >= sizeof(key)) {
			fprintf(stderr, "bad argument '%s' (want key=value)\n", argv[i]);
			return -1;
		}
		memcpy(key, argv[i], kl);
		key[kl] = 0;
		val = eq + 1;
		if (!strcmp(key, "ws")) {
			if (bench_parse_size(val, &ws))
				goto bad;
		} else if (!strcmp(key, "pattern")) {
			if (mt_pattern_parse(val, &a->p.pattern))
				goto bad;
		} else if (!strcmp(key, "skew")) {
			a->p.skew = strtod(val, NULL);
		} else if (!strcmp(key, "rw")) {
			a->p.write_ratio = strtod(val, NULL);
		} else if (!strcmp(key, "passes")) {
			a->p.passes = (unsigned)strtoul(val, NULL, 0);
		} else if (!strcmp(key, "share")) {
			a->p.shared = strtoul(val, NULL, 0) != 0;
		} else if (!strcmp(key, "seed")) {
			a->p.seed = strtoull(val, NULL, 0);
		} else if (!strcmp(key, "hot")) {
			a->p.hot_pct = (unsigned)strtoul(val, NULL, 0);
		} else if (!strcmp(key, "hotacc")) {
			a->p.hot_access_pct = (unsigned)strtoul(val, NULL, 0);
		} else if (!strcmp(key, "phase")) {
			if (bench_parse_size(val, &v))
				goto bad;
			a->p.phase_len = v;
		} else if (!strcmp(key, "init")) {
			a->init = strtoul(val, NULL, 0) != 0;
		} else if (!strcmp(key, "fill")) {
			if (fill_parse(val, &a->fill))
				goto bad;
		} else if (!strcmp(key, "vcpus")) {
			a->vcpus = (unsigned)strtoul(val, NULL, 0);
		} else if (!extra || extra(key, val, ctx)) {
			fprintf(stderr, "unknown key or bad value in '%s'\n", argv[i]);
			return -1;
		}
		continue;
bad:
		fprintf(stderr, "bad value in '%s'\n", argv[i]);
		return -1;
	}
	a->p.pages = ws / MT_PAGE_SIZE;
	if (a->fill.kind != FILL_SPARSE && !a->init) {
		fprintf(stderr, "fill= (other than sparse) needs init=1: the init "
			"pass fills the pages\n");
		return -1;
	}
	if (!a->p.pages || !a->vcpus || a->vcpus > 64) {
		fprintf(stderr, "need ws=SIZE (>= 4K) and vcpus=1..64\n");
		return -1;
	}
	for (unsigned c = 0; c < a->vcpus; c++) {
		struct mt_gen g;

		if (mt_gen_init(&g, &a->p, c, a->vcpus)) {
			fprintf(stderr, "invalid memtouch parameters\n");
			return -1;
		}
	}
	return 0;
}

#endif /* HV_BENCH_ARGS_H */
