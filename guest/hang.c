/*
 * hang.c - spin forever on every vCPU without exiting to the VMM, for
 * testing the VMM's --timeout handling.
 */
#include "rt.h"

int guest_main(unsigned vcpu, unsigned nvcpus)
{
	if (vcpu == 0)
		hv_print("hang: spinning forever\n");
	for (;;)
		hv_cpu_relax();
}
