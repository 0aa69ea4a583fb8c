/*
 * swapout.c - the swapper's write-out capacity: how fast can it take dirty
 * memory out to the swap device when nothing holds it back?
 *
 *   bench_swapout ws=1G [dir=/var/tmp] [engine=libaio] [batch=64]
 *                 [encrypt=0|1] [backing=anon|memfd]
 *
 * In a VM, write-out runs only as fast as the guest dirties memory (section
 * 4's in-VM figure is bounded by that).  Here host threads play the guest,
 * as in tests/test_swapper.c: a swapper without a limit over `ws` of
 * anonymous memory (or a memfd with backing=memfd: write-protect + copy +
 * hole punch instead of UFFDIO_MOVE), every page filled with non-zero data (so nothing is
 * dropped as a zero page), then one swapper_trim() - evict everything now -
 * is timed.  No VM is involved, so KVM's invalidation of its shadow page
 * tables on each UFFDIO_MOVE is not in this figure.
 *
 * Prints one JSON object: ws_bytes, trim_ns, bytes_written, write_ios,
 * write_busy_ns, trim_bytes_per_s (bytes / trim time) and
 * busy_bytes_per_s (bytes / time with a write in flight), backing.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_args.h"          /* bench_parse_size() */
#include "hvswap/gmem.h"
#include "hvswap/swapper.h"

#define PG 4096ull

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t jget(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_uint64(v) : 0;
}

int main(int argc, char **argv)
{
	struct swapper_config c = { 0 };
	uint64_t ws = 0, i, t0, t1, bw, busy;
	struct json_object *st;
	struct swapper *s;
	enum gmem_backing backing = GMEM_ANON;
	struct gmem *m;
	int k, r;

	c.tmpdir = "/var/tmp";
	c.fault_around = 512;           /* filling is not what is measured */
	for (k = 1; k < argc; k++) {
		char *eq = strchr(argv[k], '=');

		if (!eq)
			goto usage;
		*eq++ = 0;
		if (!strcmp(argv[k], "ws")) {
			if (bench_parse_size(eq, &ws) || !ws || ws % PG)
				goto usage;
		} else if (!strcmp(argv[k], "dir")) {
			c.tmpdir = eq;
		} else if (!strcmp(argv[k], "engine")) {
			c.io_engine = eq;
		} else if (!strcmp(argv[k], "batch")) {
			c.write_batch = (unsigned)strtoul(eq, NULL, 0);
		} else if (!strcmp(argv[k], "backing")) {
			if (gmem_backing_parse(eq, &backing) < 0)
				goto usage;
		} else if (!strcmp(argv[k], "encrypt")) {
			if (strcmp(eq, "0") && strcmp(eq, "1"))
				goto usage;
			c.encrypt = *eq == '1';
		} else {
			goto usage;
		}
	}
	if (!ws)
		goto usage;
	c.swap_size = ws + ws / 4;
	if (gmem_create(backing, ws, "bench-swapout", &m) < 0) {
		fprintf(stderr, "bench_swapout: cannot map %llu bytes\n", (unsigned long long)ws);
		return 1;
	}
	r = swapper_create(&c, &s);
	if (r < 0) {
		fprintf(stderr, "bench_swapout: swapper: %s\n", strerror(-r));
		return r == -ENOSYS || r == -EPERM ? 77 : 1;
	}
	if (swapper_add_region(s, m, 0) < 0 || swapper_start(s) < 0) {
		fprintf(stderr, "bench_swapout: cannot start the swapper\n");
		return 1;
	}
	for (i = 0; i < ws / PG; i++) {
		uint64_t *p = (uint64_t *)((uint8_t *)m->host + i * PG);

		memset(p, 0xa5, PG);
		p[0] = i;
	}
	t0 = now_ns();
	r = swapper_trim(s);
	t1 = now_ns();
	if (r < 0) {
		fprintf(stderr, "bench_swapout: trim: %s\n", strerror(-r));
		return 1;
	}
	st = swapper_stats_json(s);
	bw = jget(st, "bytes_written");
	busy = jget(st, "write_busy_ns");
	printf("{\"ws_bytes\":%llu,\"trim_ns\":%llu,\"bytes_written\":%llu,"
	       "\"write_ios\":%llu,\"write_busy_ns\":%llu,\"trim_bytes_per_s\":%.0f,"
	       "\"busy_bytes_per_s\":%.0f,\"resident_after\":%llu,\"encrypt\":%s,"
	       "\"backing\":\"%s\"}\n",
	       (unsigned long long)ws, (unsigned long long)(t1 - t0),
	       (unsigned long long)bw, (unsigned long long)jget(st, "write_ios"),
	       (unsigned long long)busy, bw * 1e9 / (double)(t1 - t0),
	       busy ? bw * 1e9 / (double)busy : 0.0,
	       (unsigned long long)jget(st, "resident_pages"),
	       c.encrypt ? "true" : "false", gmem_backing_name(backing));
	json_object_put(st);
	swapper_destroy(s);
	gmem_destroy(m);
	return 0;
usage:
	fprintf(stderr, "usage: bench_swapout ws=SIZE [dir=DIR] [engine=NAME] [batch=N] "
		"[encrypt=0|1] [backing=anon|memfd]\n");
	return 2;
}
