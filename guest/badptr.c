/*
 * badptr.c - hypercalls with pointers outside guest RAM must fail with
 * -EFAULT (-14) and must not crash or corrupt the VMM.  vCPU 0 runs every
 * case, prints one line per case, and the guest exits 0 only if all pass.
 *
 * Hostile extras for the VMM's output boundary (issue 11):
 *   flood=N  N more bad hypercalls (the VMM must rate-limit its warnings)
 *   esc=1    print terminal control sequences (the VMM must escape them)
 *   nan=1    report NaN and infinite metrics (stats JSON must stay valid)
 */
#include "rt.h"

struct bad_case {
	const char *what;
	uint64_t nr, a0, a1;
	bool any_error;      /* any negative result is acceptable */
};

static int run_case(const struct bad_case *c)
{
	int64_t ret = hv_hypercall(c->nr, c->a0, c->a1, 0, 0, 0);
	bool ok = c->any_error ? ret < 0 : ret == -HV_EFAULT;

	hv_printf("badptr: %-44s ret=%ld %s\n", c->what, (long)ret,
		  ok ? "ok" : "FAIL");
	return ok ? 0 : 1;
}

static const char *const known_args[] = { "flood", "esc", "nan", NULL };

static void hostile_extras(uint64_t far)
{
	static const char esc[] = "badptr: esc [\x1b[2J\x1b]0;owned\x07\r\x7f\x9b]\n";
	volatile double zero = 0.0;
	uint64_t i, n = hv_arg_u64("flood", 0);

	for (i = 0; i < n; i++)
		hv_hypercall(HV_HC_PRINT, far, 16, 0, 0, 0);
	if (n)
		hv_printf("badptr: flood of %lu bad hypercalls done\n", (unsigned long)n);
	if (hv_arg_u64("esc", 0))
		hv_write(esc, sizeof(esc) - 1);
	if (hv_arg_u64("nan", 0)) {
		hv_metric("nan_metric", zero / zero);
		hv_metric("inf_metric", 1.0 / zero);
		hv_metric("neg_inf_metric", -1.0 / zero);
		hv_metric("finite_metric", 1.5);
	}
}

int guest_main(unsigned vcpu, unsigned nvcpus)
{
	uint64_t end = hv_heap_end();
	const uint64_t far = 0xdead0000000ull;
	const struct bad_case cases[] = {
		{ "PRINT ptr=0xdead0000000 len=16", HV_HC_PRINT, far, 16, false },
		{ "PRINT ptr=ram_end-8 len=64 (crosses end)", HV_HC_PRINT, end - 8, 64, false },
		{ "PRINT ptr=0x1000 (system area)", HV_HC_PRINT, 0x1000, 16, false },
		{ "PRINT ptr=ram_base+4K len=2^64-1 (wraps)", HV_HC_PRINT,
		  HV_RAM_BASE + 4096, ~0ull, true },
		{ "METRIC name=0xdead0000000", HV_HC_METRIC, far, 8, false },
		{ "GET_ARGS buf=0xdead0000000", HV_HC_GET_ARGS, far, 64, false },
		{ "GET_INFO buf=ram_end-8 (crosses end)", HV_HC_GET_INFO, end - 8,
		  sizeof(struct hv_info), false },
	};
	int fails = 0;
	unsigned i;

	if (hv_args_check(known_args))
		return 2;
	if (vcpu != 0)
		return 0;
	if (hv_write("badptr: valid PRINT works\n", 26) < 0) {
		hv_print("badptr: a valid PRINT failed\n");
		return 1;
	}
	for (i = 0; i < HV_ARRAY_SIZE(cases); i++)
		fails += run_case(&cases[i]);
	hostile_extras(far);
	hv_printf("badptr: %s (%d of %u cases failed)\n", fails ? "FAIL" : "OK",
		  fails, (unsigned)HV_ARRAY_SIZE(cases));
	return fails ? 1 : 0;
}
