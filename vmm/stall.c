/*
 * stall.c - the VM's stall figure: the share of its vCPUs' time spent
 * waiting on guest-memory faults (swap-ins, zero fills, throttling), like
 * the kernel's PSI "memory" figure for one VM.  `hvswap host` divides its
 * budget by it; `ctl stats` and the --stats file export it (vm.stall).
 *
 * Source: the swapper's existing statistics only (swapper_stats_json():
 * fault_latency count x mean = the time faults kept their threads waiting,
 * from the fault's arrival at the fault thread to its page's install).
 * total_ns is fresh whenever the caller has the swapper's statistics at
 * hand (ctl stats); the rates are sampled about once a second by the main
 * thread (main.c tick):
 *   pct    = waited ns in the last sample period / (period x vCPUs) x 100
 *   avg10  = pct averaged exponentially over ~10 s (PSI's avg10)
 * Locks: vm->lock guards vm->stall (sampling writes, ctl stats reads).
 */
#include <json-c/json.h>
#include <math.h>
#include <time.h>

#include "hvswap/swapper.h"
#include "vm.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Waited ns from a swapper_stats_json() object. */
static uint64_t waited_in(struct json_object *st)
{
	struct json_object *lat, *c, *m;

	if (json_object_object_get_ex(st, "fault_latency", &lat) &&
	    json_object_object_get_ex(lat, "count", &c) &&
	    json_object_object_get_ex(lat, "mean_ns", &m))
		return json_object_get_uint64(c) * json_object_get_uint64(m);
	return 0;
}

static uint64_t waited_ns(struct vm *vm)
{
	struct json_object *st;
	uint64_t ns;

	if (!vm->swapper)
		return 0;
	st = swapper_stats_json(vm->swapper);
	ns = waited_in(st);
	json_object_put(st);
	return ns;
}

void vm_stall_sample(struct vm *vm)
{
	uint64_t ns = waited_ns(vm), t = mono_ns();
	struct vm_stall *s = &vm->stall;
	double dt, pct, k;

	pthread_mutex_lock(&vm->lock);
	if (s->t && t > s->t) {
		dt = (double)(t - s->t) / 1e9;
		pct = ns > s->total_ns ? (double)(ns - s->total_ns) / 1e9 /
			(dt * (vm->nr_vcpus ? vm->nr_vcpus : 1)) * 100 : 0;
		s->pct = pct > 100 ? 100 : pct;
		k = exp(-dt / 10.0);
		s->avg10 = s->avg10 * k + s->pct * (1 - k);
	}
	s->total_ns = ns > s->total_ns ? ns : s->total_ns;
	s->t = t;
	pthread_mutex_unlock(&vm->lock);
}

struct json_object *vm_stall_json(struct vm *vm, struct json_object *swap)
{
	struct json_object *o = json_object_new_object();
	uint64_t now = swap ? waited_in(swap) : 0;

	pthread_mutex_lock(&vm->lock);
	/* total_ns as of now when the caller has fresh swapper statistics */
	json_object_object_add(o, "total_ns", json_object_new_uint64(
		now > vm->stall.total_ns ? now : vm->stall.total_ns));
	json_object_object_add(o, "pct", json_object_new_double(vm->stall.pct));
	json_object_object_add(o, "avg10", json_object_new_double(vm->stall.avg10));
	pthread_mutex_unlock(&vm->lock);
	return o;
}
