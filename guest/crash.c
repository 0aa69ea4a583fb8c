/*
 * crash.c - make vCPU 0 raise an exception so the VMM's exception reporting
 * can be tested.  Other vCPUs just return and wait in the exit barrier.
 *   mode=pf    read 0x400000000000 (canonical, beyond the identity map)
 *   mode=ud2   execute ud2 (#UD)
 *   mode=div0  integer divide by zero (#DE)
 *   mode=gp    read the non-canonical 0x800000000000 (#GP)
 *   mode=sys   read 0x1000 in the supervisor-only system area (#PF, P=1)
 */
#include "rt.h"

static const char *const known_args[] = { "mode", NULL };

static uint64_t read_at(uint64_t addr)
{
	return *(volatile uint64_t *)(uintptr_t)addr;
}

int guest_main(unsigned vcpu, unsigned nvcpus)
{
	const char *mode = hv_arg_str("mode", "pf");
	volatile uint64_t sink;

	if (vcpu != 0)
		return 0;
	if (hv_args_check(known_args))
		return 2;
	hv_printf("crash: mode=%s\n", mode);
	if (!hv_strcmp(mode, "pf"))
		sink = read_at(0x400000000000ull);
	else if (!hv_strcmp(mode, "gp"))
		sink = read_at(0x800000000000ull);
	else if (!hv_strcmp(mode, "sys"))
		sink = read_at(0x1000);
	else if (!hv_strcmp(mode, "ud2"))
		__asm__ volatile("ud2");
	else if (!hv_strcmp(mode, "div0"))
		/* asm: gcc folds 1u / x into x == 1 and never divides */
		__asm__ volatile("xor %%edx, %%edx; mov $1, %%eax; xor %%ecx, %%ecx; div %%ecx"
				 : : : "eax", "ecx", "edx");
	else {
		hv_printf("crash: unknown mode '%s' (pf|ud2|div0|gp|sys)\n", mode);
		return 2;
	}
	(void)sink;
	hv_printf("crash: still alive after mode=%s\n", mode);
	return 1;
}
