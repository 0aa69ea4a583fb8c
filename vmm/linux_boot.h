/*
 * linux_boot.h - a Linux guest: the PC pieces it needs (in-kernel PIC,
 * IOAPIC, local APIC and PIT; an 8250 UART on 0x3f8) and its boot with the
 * 64-bit boot protocol (kernel and initrd in guest RAM, the zero page,
 * the command line, vCPU 0 in long mode at the kernel's 64-bit entry).
 *
 * Guest-physical layout (the first 2 MiB are the VM's system area, not
 * swapped; RAM from HV_RAM_BASE on is the swapper's):
 *   0x00500  GDT (null, null, __BOOT_CS 0x10, __BOOT_DS 0x18, TSS 0x20)
 *   0x07000  boot_params (the zero page)
 *   0x08000  initial stack (grows down from 0x9000)
 *   0x09000  page tables: PML4, PDPT, 4 PDs identity-mapping 4 GiB
 *   0x20000  kernel command line
 *   0x9fc00- 0xfffff  reserved (EBDA, BIOS area) in e820
 *   HV_RAM_BASE..  RAM: the kernel at its ELF physical address (16 MiB for
 *            Debian), the initrd at the top, the rest for Linux
 * Only RAM below 1 MiB and the RAM region are given to Linux in e820; Linux
 * keeps the first 1 MiB for itself (boot data, the real-mode trampoline),
 * so every page it hands to a device lies in swapper-managed RAM.
 */
#ifndef HVSWAP_VMM_LINUX_BOOT_H
#define HVSWAP_VMM_LINUX_BOOT_H

#include <stdbool.h>
#include <stddef.h>

struct vm;

#define LINUX_VIRTIO_IRQ_BASE   5u      /* virtio-mmio device i: IRQ 5 + i */
#define LINUX_MAX_RAM_END       0xc0000000ull   /* below the 32-bit MMIO hole */

/* Before the vCPUs exist: irqchip, PIT and the UART (vm->uart). */
int linux_vm_init(struct vm *vm, char *err, size_t errlen);
/* After the vCPUs have stopped: flush and free the UART. */
void linux_vm_fini(struct vm *vm);

/*
 * Load vm->cfg.kernel_path (bzImage or vmlinux), the initrd and the command
 * line (vm->cfg.cmdline plus the virtio-mmio devices), build the zero page
 * and the boot page tables, and set up every vCPU's CPUID (no CMPXCHG16B)
 * and vCPU 0's entry state.  Returns 0 or -errno with one line in err.
 */
int linux_boot_load(struct vm *vm, char *err, size_t errlen);

/* Interrupt line `irq` of the VM to `level` (virtio-mmio's irq hook). */
void linux_irq_set(void *vm, unsigned int irq, bool level);

#endif
