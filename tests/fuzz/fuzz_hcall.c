/*
 * fuzz_hcall.c - libFuzzer harness for hypercall dispatch (vmm/hcall.c):
 * the hypercall port and the exception-report port, driven through the port
 * I/O bus as a vCPU's KVM_EXIT_IO would drive them (iobus_dispatch).
 *
 * The VM is fake_vm.h's (64 KiB guest RAM in a heap buffer, no KVM: the
 * exception port's register reads fail and stop the VM, as a broken report
 * would).  An input is a sequence of 8-byte operations
 * {kind, arg, off:16, val:32} (little endian):
 *   0 RAM store 32-bit    val at RAM offset off
 *   1 RAM store 64-bit    HV_RAM_BASE + val (a guest pointer) at offset off
 *   2 hypercall           OUT of HV_RAM_BASE + off (the block's address)
 *   3 raw OUT             port (arg % 4: hcall, exception, hcall+1, 0x80),
 *                         1/2/4/8 bytes (arg / 4 % 4), data val
 *   4 IN                  the same ports and sizes
 *   5 RAM store 64-bit    val sign-extended (lengths like -1, huge sizes)
 * HV_HC_VCPU_DONE is not issued: it parks the (only) caller until the VM
 * stops, which a single-threaded harness cannot do; nor is HV_HC_SLEEP for
 * more than 1 ms; everything else is.
 * After HV_HC_EXIT or an exception report the VM is un-stopped so the rest
 * of the input still runs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fake_vm.h"
#include "hcall.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPS 512

static struct vm *the_vm;       /* created once (harness static) */

static struct vm *get_vm(void)
{
	if (!the_vm) {
		the_vm = fake_vm_create();
		if (hcall_register(the_vm) < 0)
			abort();
	}
	return the_vm;
}

static void port(struct vm *vm, uint16_t p, void *buf, uint32_t len, bool wr)
{
	struct vcpu v = { .vm = vm, .id = 0, .fd = -1 };

	iobus_dispatch(&vm->pio, &v, p, buf, len, wr);
	fake_vm_unstop(vm);
}

/* Would this block park the caller forever, or for longer than a fuzz
 * run may take?  HV_HC_SLEEP blocks the vCPU for what it asks (up to
 * 600 s, hcall.c refuses more): that is its contract, not a hang, so
 * sleeps over 1 ms are not issued (found by a CI fuzz slice: a 10 s
 * sleep ran into libFuzzer's timeout). */
static bool parks(struct vm *vm, uint32_t gpa)
{
	struct hcall_mem m = { vm->ram->host, HV_RAM_BASE, FAKE_RAM_SIZE };
	struct hv_hcall *blk;

	if (hcall_decode(&m, (const uint8_t *)&gpa, 4, &blk) != 0)
		return false;
	return blk->nr == HV_HC_VCPU_DONE ||
	       (blk->nr == HV_HC_SLEEP && blk->args[0] > 1000000);
}

static void run_op(struct vm *vm, uint8_t kind, uint8_t arg, uint16_t off,
		   uint32_t val)
{
	static const uint16_t ports[4] = { HV_HCALL_PORT, HV_EXC_PORT,
					   HV_HCALL_PORT + 1, 0x80 };
	static const uint32_t lens[4] = { 1, 2, 4, 8 };
	uint8_t *ram = vm->ram->host;
	uint8_t buf[8] = { 0 };
	uint64_t v64;
	uint32_t gpa;

	switch (kind % 6) {
	case 0:
		memcpy(ram + off % (FAKE_RAM_SIZE - 3), &val, 4);
		break;
	case 1:
		v64 = HV_RAM_BASE + (uint64_t)val;
		memcpy(ram + off % (FAKE_RAM_SIZE - 7), &v64, 8);
		break;
	case 2:
		gpa = (uint32_t)HV_RAM_BASE + off;
		if (!parks(vm, gpa))
			port(vm, HV_HCALL_PORT, &gpa, 4, true);
		break;
	case 3:
		memcpy(buf, &val, 4);
		/* every port of the 4-byte hypercall range decodes a block */
		if (ports[arg % 4] - HV_HCALL_PORT < 4u && parks(vm, val))
			break;
		port(vm, ports[arg % 4], buf, lens[arg / 4 % 4], true);
		break;
	case 4:
		port(vm, ports[arg % 4], buf, lens[arg / 4 % 4], false);
		break;
	case 5:
		v64 = (uint64_t)(int64_t)(int32_t)val;
		memcpy(ram + off % (FAKE_RAM_SIZE - 7), &v64, 8);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm *vm = get_vm();
	size_t i, n = size / 8;
	uint16_t off;
	uint32_t val;

	if (n > MAX_OPS)
		n = MAX_OPS;
	fake_vm_reset(vm);
	for (i = 0; i < n; i++) {
		memcpy(&off, data + 8 * i + 2, 2);
		memcpy(&val, data + 8 * i + 4, 4);
		run_op(vm, data[8 * i], data[8 * i + 1], off, val);
	}
	return 0;
}
