/*
 * fuzz_balloon.c - libFuzzer harness for the virtio-balloon device
 * (vmm/virtio_balloon.c) behind the multi-queue virtio-mmio transport
 * (vmm/virtio_mmio.c), driven through the MMIO bus as a vCPU exit would
 * (iobus_dispatch).  Same operation encoding as fuzz_virtio.c.
 *
 * The VM is fake_vm.h's: 64 KiB of guest RAM in a heap buffer, no swapper,
 * so gm_pin() is the real bounds-checked path and an inflate discards with
 * gm_discard()'s MADV_DONTNEED path (a heap buffer that is not page
 * aligned makes it fail: counted, not fatal).  A fresh device and
 * transport are created for every input.
 *
 * An input is a sequence of 8-byte operations {kind, arg, off:16, val:32}
 * (little endian), the guest's view of the machine:
 *   0 MMIO write 32-bit   register off % 0x200, value val
 *   1 MMIO read           register off % 0x200, 1/2/4/8 bytes (arg % 4)
 *   2 MMIO write 32-bit   of a RAM address: HV_RAM_BASE + val % (RAM + 4K)
 *   3 RAM store 32-bit    val at RAM offset off
 *   4 RAM store 64-bit    HV_RAM_BASE + val (a guest pointer) at offset off
 *   5 MMIO write          1/2/8 bytes (arg % 3), any offset in the window
 *   6 config read         offset off % 0x40, length arg % 9
 *   7 queue notify        value arg % 4 (0-2 the queues, 3 = no such queue)
 * Invariants checked: no crash/UB/leak (sanitizers), no access outside the
 * RAM buffer (ASan), and every pin a request takes is dropped by the time
 * the notify returns (fake_vm_check_pins).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_vm.h"
#include "virtio_balloon.h"
#include "virtio_mmio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPS 512

struct op {
	uint8_t kind, arg;
	uint16_t off;
	uint32_t val;
};

/* libFuzzer runs inputs one at a time in one process: the fake VM is
 * created once (harness statics are the accepted exception). */
static struct vm *the_vm;

static struct vm *get_vm(void)
{
	if (!the_vm)
		the_vm = fake_vm_create();
	return the_vm;
}

static void mmio(struct vm *vm, uint64_t off, void *buf, uint32_t len, bool wr)
{
	struct vcpu v = { .vm = vm, .id = 0, .fd = -1 };

	iobus_dispatch(&vm->mmio, &v, vm->mmio_base + off, buf, len, wr);
}

static void run_op(struct vm *vm, const struct op *o)
{
	static const uint32_t lens[4] = { 1, 2, 4, 8 };
	uint8_t buf[8] = { 0 };
	uint64_t gpa;
	uint32_t v32;

	switch (o->kind % 8) {
	case 0:
		memcpy(buf, &o->val, 4);
		mmio(vm, o->off % HV_VIRTIO_MMIO_SIZE, buf, 4, true);
		break;
	case 1:
		mmio(vm, o->off % HV_VIRTIO_MMIO_SIZE, buf, lens[o->arg % 4], false);
		break;
	case 2:
		v32 = (uint32_t)(HV_RAM_BASE + o->val % (FAKE_RAM_SIZE + 4096));
		memcpy(buf, &v32, 4);
		mmio(vm, o->off % HV_VIRTIO_MMIO_SIZE, buf, 4, true);
		break;
	case 3:
		memcpy((uint8_t *)vm->ram->host + o->off % (FAKE_RAM_SIZE - 3), &o->val, 4);
		break;
	case 4:
		gpa = HV_RAM_BASE + (uint64_t)o->val;
		memcpy((uint8_t *)vm->ram->host + o->off % (FAKE_RAM_SIZE - 7), &gpa, 8);
		break;
	case 5:
		memcpy(buf, &o->val, 4);
		mmio(vm, o->off % HV_VIRTIO_MMIO_SIZE, buf, lens[o->arg % 3 == 2 ? 3 : o->arg % 3],
		     true);
		break;
	case 6:
		mmio(vm, VIRTIO_MMIO_CONFIG + o->off % 0x40, buf, o->arg % 9, false);
		break;
	case 7:
		v32 = o->arg % 4;
		memcpy(buf, &v32, 4);
		mmio(vm, VIRTIO_MMIO_QUEUE_NOTIFY, buf, 4, true);
		break;
	}
	fake_vm_check_pins(vm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm *vm = get_vm();
	struct virtio_balloon *b;
	struct virtio_mmio_dev *d;
	struct op o;
	size_t i, n = size / 8;

	if (n > MAX_OPS)
		n = MAX_OPS;
	fake_vm_reset(vm);
	vm->mmio.n = 0;                 /* the bus has no unregister */
	if (virtio_balloon_create(vm, &b) < 0 ||
	    virtio_mmio_create(vm, vm->mmio_base, &virtio_balloon_ops, b, &d) < 0)
		abort();
	for (i = 0; i < n; i++) {
		o.kind = data[8 * i];
		o.arg = data[8 * i + 1];
		memcpy(&o.off, data + 8 * i + 2, 2);
		memcpy(&o.val, data + 8 * i + 4, 4);
		run_op(vm, &o);
	}
	virtio_mmio_destroy(d);
	virtio_balloon_destroy(b);
	return 0;
}
