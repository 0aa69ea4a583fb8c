/*
 * rt.c - guest runtime core: hypercalls, start-up, exit aggregation.
 *
 * Owns the runtime's only mutable state (a guest image is one program, so
 * these are file-scope by necessity, not by habit):
 *   rt_info, rt_nvcpus   written by vCPU 0 before the start barrier,
 *                        read-only afterwards.
 *   rt_status[]          slot i written by vCPU i only, read by vCPU 0 after
 *                        the exit barrier.
 * The argument buffer is owned by args.c with the same write-once rule.
 * Ordering: the barrier hypercall is a port I/O exit, which is serialising,
 * and hv_hypercall() is a compiler memory barrier.
 */
#include "rt.h"

_Static_assert(HV_MAX_VCPUS == 64, "start.S hard-codes HV_MAX_VCPUS");
_Static_assert(HV_RT_STACK_SIZE == 1u << 15, "start.S hard-codes the stack size");

extern char _end[];
extern char hv_rt_stacks[];

void hv_rt_start(uint64_t id, uint64_t n) __attribute__((noreturn));
void hv_rt_args_init(void);        /* args.c */

static struct hv_info rt_info;
static unsigned rt_nvcpus;
static int rt_status[HV_MAX_VCPUS];

int64_t hv_hypercall(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2,
		     uint64_t a3, uint64_t a4)
{
	struct hv_hcall hc __attribute__((aligned(8))) = {
		.nr = nr, .args = { a0, a1, a2, a3, a4 }, .ret = -HV_EINVAL,
	};

	/* The VMM reads hc and writes hc.ret during the OUT. */
	__asm__ volatile("outl %%eax, %%dx"
			 : : "a"((uint32_t)(uintptr_t)&hc), "d"((uint16_t)HV_HCALL_PORT)
			 : "memory");
	return *(volatile int64_t *)&hc.ret;
}

int64_t hv_write(const char *buf, size_t len)
{
	return hv_hypercall(HV_HC_PRINT, (uintptr_t)buf, len, 0, 0, 0);
}

void hv_print(const char *s)
{
	size_t len = hv_strlen(s);

	while (len) {
		size_t chunk = hv_min(len, (size_t)HV_PRINT_MAX);

		if (hv_write(s, chunk) < 0)
			return;
		s += chunk;
		len -= chunk;
	}
}

void hv_exit(int status)
{
	for (;;)
		hv_hypercall(HV_HC_EXIT, (unsigned)status & 0xff, 0, 0, 0, 0);
}

int64_t hv_metric(const char *name, double value)
{
	union { double d; uint64_t u; } v = { .d = value };

	return hv_hypercall(HV_HC_METRIC, (uintptr_t)name, hv_strlen(name),
			    v.u, 0, 0);
}

int64_t hv_barrier(void)
{
	return hv_hypercall(HV_HC_BARRIER, 0, 0, 0, 0, 0);
}

int64_t hv_sleep_ns(uint64_t ns)
{
	return hv_hypercall(HV_HC_SLEEP, ns, 0, 0, 0, 0);
}

int64_t hv_overwrite_hint(void *p, uint64_t len)
{
	return hv_hypercall(HV_HC_OVERWRITE, (uint64_t)(uintptr_t)p, len, 0, 0, 0);
}

const struct hv_info *hv_get_info(void)
{
	return &rt_info;
}

unsigned hv_vcpu_id(void)
{
	uintptr_t sp;

	__asm__("mov %%rsp, %0" : "=r"(sp));

	return (unsigned)((sp - (uintptr_t)hv_rt_stacks) / HV_RT_STACK_SIZE);
}

unsigned hv_nr_vcpus(void)
{
	return rt_nvcpus;
}

uint64_t hv_heap_start(void)
{
	return hv_align_up((uint64_t)(uintptr_t)_end, HV_PAGE_SIZE);
}

uint64_t hv_heap_end(void)
{
	return rt_info.ram_base + rt_info.ram_size;
}

uint64_t hv_tsc_to_ns(uint64_t cycles)
{
	if (!rt_info.tsc_khz)
		return 0;
	return (uint64_t)((unsigned __int128)cycles * 1000000u / rt_info.tsc_khz);
}

/* vCPU 0, before anyone else runs guest code. */
static void rt_init(unsigned n)
{
	int64_t ret;

	rt_nvcpus = n;
	ret = hv_hypercall(HV_HC_GET_INFO, (uintptr_t)&rt_info, sizeof(rt_info),
			   0, 0, 0);
	if (ret < 0) {
		hv_printf("rt: GET_INFO failed (%ld)\n", (long)ret);
		hv_exit(HV_GUEST_STATUS_FAIL);
	}
	if (rt_info.abi_version != HV_GUEST_ABI_VERSION)
		hv_printf("rt: warning: VMM ABI version %u, guest built for %u\n",
			  rt_info.abi_version, HV_GUEST_ABI_VERSION);
	if (!rt_info.ram_size) {    /* be usable even if the VMM left it out */
		rt_info.ram_base = HV_RAM_BASE;
		rt_info.ram_size = HV_GUEST_MAX_IMAGE;
	}
	if (rt_info.nr_vcpus && rt_info.nr_vcpus != n)
		hv_printf("rt: warning: info says %u vCPUs, entry says %u\n",
			  rt_info.nr_vcpus, n);
	hv_rt_args_init();
}

static int clamp_status(int st)
{
	if (st < 0)
		return 1;
	return st > 255 ? 255 : st;
}

void hv_rt_start(uint64_t id, uint64_t n)
{
	unsigned vcpu = (unsigned)id, i;
	int worst = 0;

	if (vcpu == 0)
		rt_init((unsigned)n);
	hv_barrier();
	rt_status[vcpu] = clamp_status(guest_main(vcpu, (unsigned)n));
	hv_barrier();
	if (vcpu != 0) {
		for (;;)
			hv_hypercall(HV_HC_VCPU_DONE, 0, 0, 0, 0, 0);
	}
	for (i = 0; i < n && i < HV_MAX_VCPUS; i++)
		worst = hv_max(worst, rt_status[i]);
	hv_exit(worst);
}
