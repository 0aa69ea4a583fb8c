/*
 * hcbench.c - cost of one hypercall round trip (guest OUT -> VMM -> guest).
 * Issues `n` GET_INFO hypercalls (the cheapest call that touches guest RAM)
 * on vCPU 0 and reports the mean in ns ("hcall_ns"), measured with the TSC.
 */
#include "rt.h"

int guest_main(unsigned vcpu, unsigned nvcpus)
{
	static const char *const known[] = { "n", 0 };
	static struct hv_info info;
	uint64_t n, i, t0, ns;
	char buf[32];

	(void)nvcpus;
	if (hv_args_check(known) < 0)
		return 2;
	if (vcpu != 0)
		return 0;
	n = hv_arg_u64("n", 20000);
	if (n == 0)
		n = 1;
	t0 = hv_rdtsc();
	for (i = 0; i < n; i++)
		hv_hypercall(HV_HC_GET_INFO, (uint64_t)(uintptr_t)&info,
			     sizeof(info), 0, 0, 0);
	ns = hv_tsc_to_ns(hv_rdtsc() - t0);
	hv_fmt_double(buf, sizeof(buf), (double)ns / (double)n, 2);
	hv_printf("hcbench: %llu hypercalls, %s ns each\n", (unsigned long long)n, buf);
	hv_metric("hcall_ns", (double)ns / (double)n);
	hv_metric("hypercalls", (double)n);
	return 0;
}
