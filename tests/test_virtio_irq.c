/*
 * test_virtio_irq.c - the virtio-mmio transport's interrupt line (what a
 * Linux guest gets, vmm/virtio_mmio.c virtio_mmio_set_irq()): it rises when
 * a completion sets InterruptStatus, falls when the driver acknowledges it,
 * gives one edge per batch, and stays silent without the hook (test
 * guests).  Driven through the MMIO bus on a fake VM (tests/fuzz/fake_vm.h:
 * no KVM) with a device that completes every request with 0 bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fuzz/fake_vm.h"
#include "virtio_mmio.h"

#define DESC    (HV_RAM_BASE + 0x1000)
#define AVAIL   (HV_RAM_BASE + 0x2000)
#define USED    (HV_RAM_BASE + 0x3000)
#define BUF     (HV_RAM_BASE + 0x4000)
#define QN      16u

struct line {
	unsigned int irq, rises, falls;
	bool level;
};

static void set_line(void *ctx, unsigned int irq, bool level)
{
	struct line *l = ctx;

	assert_true(level != l->level);
	l->irq = irq;
	l->level = level;
	if (level)
		l->rises++;
	else
		l->falls++;
}

static int dummy_request(void *dev, unsigned int queue,
			 const struct virtq_chain *c)
{
	(void)dev;
	(void)queue;
	(void)c;
	return 0;
}

static const struct virtio_dev_ops dummy_ops = {
	.name = "dummy", .device_id = 2, .queue_max = QN,
	.request = dummy_request,
};

static void wr(struct vm *vm, uint64_t base, uint32_t off, uint32_t v)
{
	assert_true(iobus_dispatch(&vm->mmio, NULL, base + off, (uint8_t *)&v, 4, true));
}

static uint32_t rd(struct vm *vm, uint64_t base, uint32_t off)
{
	uint32_t v = 0;

	assert_true(iobus_dispatch(&vm->mmio, NULL, base + off, (uint8_t *)&v, 4, false));
	return v;
}

static void bring_up(struct vm *vm, uint64_t base)
{
	wr(vm, base, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(vm, base, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(vm, base, VIRTIO_MMIO_DRIVER_FEATURES, 1);   /* VERSION_1 */
	wr(vm, base, VIRTIO_MMIO_STATUS, 0xb);
	wr(vm, base, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(vm, base, VIRTIO_MMIO_QUEUE_NUM, QN);
	wr(vm, base, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC);
	wr(vm, base, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)AVAIL);
	wr(vm, base, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)USED);
	wr(vm, base, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(vm, base, VIRTIO_MMIO_STATUS, 0xf);          /* DRIVER_OK */
	assert_int_equal(rd(vm, base, VIRTIO_MMIO_QUEUE_READY), 1);
}

/* Make `n` more one-descriptor chains available (16-byte readable buffer). */
static void offer(struct vm *vm, unsigned int n)
{
	uint8_t *ram = vm->ram->host;
	uint64_t *desc = (uint64_t *)(ram + (DESC - HV_RAM_BASE));
	uint16_t *avail = (uint16_t *)(ram + (AVAIL - HV_RAM_BASE));
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t idx = avail[1];

		desc[2 * (idx % QN)] = BUF;
		desc[2 * (idx % QN) + 1] = 16;      /* len 16, flags 0, next 0 */
		avail[2 + idx % QN] = (uint16_t)(idx % QN);
		avail[1] = (uint16_t)(idx + 1);
	}
}

/* fake_vm.h keeps its VM for the process; a test frees its own. */
static void drop_vm(struct vm *vm)
{
	pthread_mutex_destroy(&vm->lock);
	pthread_cond_destroy(&vm->cond);
	free(vm->ram->host);
	free(vm->ram);
	free(vm);
}

static void test_irq_follows_isr(void **state)
{
	struct vm *vm = fake_vm_create();
	struct virtio_mmio_dev *d;
	struct line l = { 0 };
	uint64_t base = vm->mmio_base;
	uint16_t *used = (uint16_t *)((uint8_t *)vm->ram->host + (USED - HV_RAM_BASE));

	(void)state;
	fake_vm_reset(vm);
	assert_int_equal(virtio_mmio_create(vm, base, &dummy_ops, NULL, &d), 0);
	virtio_mmio_set_irq(d, set_line, &l, 5);
	bring_up(vm, base);
	assert_int_equal(l.rises, 0);

	offer(vm, 2);                           /* one notify, two chains */
	wr(vm, base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(used[1], 2);
	assert_true(l.level);
	assert_int_equal(l.irq, 5);
	assert_int_equal(l.rises, 1);           /* one edge for the batch */
	assert_int_equal(rd(vm, base, VIRTIO_MMIO_INTERRUPT_STATUS), 1);
	assert_true(l.level);                   /* reading does not clear it */

	offer(vm, 1);                           /* completes before the ack */
	wr(vm, base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(used[1], 3);
	assert_int_equal(l.rises, 1);           /* still high: no new edge */
	wr(vm, base, VIRTIO_MMIO_INTERRUPT_ACK, 1);
	assert_false(l.level);
	assert_int_equal(l.falls, 1);

	wr(vm, base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);      /* nothing new */
	assert_false(l.level);
	offer(vm, 1);
	wr(vm, base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(l.rises, 2);           /* a new edge after the ack */
	wr(vm, base, VIRTIO_MMIO_STATUS, 0);    /* reset clears ISR: line low */
	assert_false(l.level);
	fake_vm_check_pins(vm);
	virtio_mmio_destroy(d);
	drop_vm(vm);
}

/* Without the hook (test guests) completions just set ISR. */
static void test_no_irq_hook(void **state)
{
	struct vm *vm = fake_vm_create();
	struct virtio_mmio_dev *d;
	uint64_t base = vm->mmio_base;

	(void)state;
	fake_vm_reset(vm);
	assert_int_equal(virtio_mmio_create(vm, base, &dummy_ops, NULL, &d), 0);
	bring_up(vm, base);
	offer(vm, 1);
	wr(vm, base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(rd(vm, base, VIRTIO_MMIO_INTERRUPT_STATUS), 1);
	wr(vm, base, VIRTIO_MMIO_INTERRUPT_ACK, 1);
	assert_int_equal(rd(vm, base, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	virtio_mmio_destroy(d);
	drop_vm(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_irq_follows_isr),
		cmocka_unit_test(test_no_irq_hook),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
