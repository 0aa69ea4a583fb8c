/*
 * fake_vm.h - a struct vm without KVM for the fuzz harnesses: guest RAM is a
 * plain heap buffer of exactly FAKE_RAM_SIZE bytes (so AddressSanitizer
 * flags any access past it), no swapper (gm_pin() is then the real
 * bounds-checked vm_ram_ptr() path), no vCPU threads.  Header-only; each
 * harness keeps one fake VM for the life of the process and calls
 * fake_vm_reset() before every input so inputs do not depend on each other.
 */
#ifndef HVSWAP_TESTS_FAKE_VM_H
#define HVSWAP_TESTS_FAKE_VM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvswap/guest_abi.h"
#include "hvswap/log.h"
#include "vm.h"

#define FAKE_RAM_SIZE (64u << 10)

static inline struct vm *fake_vm_create(void)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	struct gmem *ram = calloc(1, sizeof(*ram));

	if (!vm || !ram)
		abort();
	ram->backing = GMEM_ANON;
	ram->size = FAKE_RAM_SIZE;
	ram->memfd = -1;
	ram->host = malloc(FAKE_RAM_SIZE);
	if (!ram->host)
		abort();
	vm->ram = ram;
	vm->cfg.mem_size = FAKE_RAM_SIZE;
	vm->cfg.nr_vcpus = 1;
	vm->cfg.quiet = true;
	vm->cfg.guest_args = "seed=1 ops=100";
	vm->fd = -1;
	vm->kvm.fd = -1;
	vm->mmio_base = HV_RAM_BASE + FAKE_RAM_SIZE;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	/* Warnings are formatted only when enabled; HV_FUZZ_LOG=1 shows them. */
	hv_log_set_level(getenv("HV_FUZZ_LOG") ? HV_LOG_DEBUG : HV_LOG_ERR);
	return vm;
}

/* Power-on state for the next input: zeroed RAM, not stopping. */
static inline void fake_vm_reset(struct vm *vm)
{
	memset(vm->ram->host, 0, FAKE_RAM_SIZE);
	atomic_store(&vm->stopping, false);
	vm->status = 0;
	vm->reason[0] = '\0';
	vm->active = 1;
	vm->barrier_arrived = 0;
	vm->nr_metrics = 0;
}

/* Undo a vm_stop() (HV_HC_EXIT, an exception report) so later ops run. */
static inline void fake_vm_unstop(struct vm *vm)
{
	atomic_store(&vm->stopping, false);
}

/* Devices must have dropped every pin by the time a request returns. */
static inline void fake_vm_check_pins(struct vm *vm)
{
	uint64_t pins = atomic_load(&vm->gm.pins);
	uint64_t unpins = atomic_load(&vm->gm.unpins);

	if (pins != unpins) {
		fprintf(stderr, "fake_vm: %llu pins, %llu unpins: a pin leaked\n",
			(unsigned long long)pins, (unsigned long long)unpins);
		abort();
	}
}

#endif
