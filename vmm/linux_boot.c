/*
 * linux_boot.c - booting a Linux kernel with the 64-bit boot protocol
 * (layout in linux_boot.h, image parsing in linux_image.c).
 *
 * Owns: vm->uart (created by linux_vm_init(), freed by linux_vm_fini()).
 * Locks: none of its own; runs on the main thread before any vCPU runs,
 * except linux_irq_set() and the UART callbacks, which run on vCPU threads
 * under the UART's or the virtio transport's lock (KVM_IRQ_LINE needs no
 * VMM lock).
 *
 * Entry: the uncompressed kernel (a vmlinux, or the payload of a bzImage
 * decompressed on the host) is entered at its ELF entry, startup_64, in
 * long mode with RSI = the zero page - the "64-bit boot protocol" of
 * boot.rst, and what Firecracker and Cloud Hypervisor do for a vmlinux.
 * Chosen over the PVH note because one zero page (with the e820 map and
 * the bzImage's own setup header) then serves both kinds of image, and the
 * kernel starts in long mode without a 32-bit stretch under emulation.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hvswap/guest_abi.h"
#include "hvswap/log.h"
#include "hcall.h"
#include "linux_boot.h"
#include "linux_image.h"
#include "serial8250.h"
#include "vm.h"

#define LB_GDT          0x500ull
#define LB_ZERO_PAGE    0x7000ull
#define LB_STACK_TOP    0x9000ull
#define LB_PML4         0x9000ull
#define LB_PDPT         0xa000ull
#define LB_PD           0xb000ull       /* 4 pages: 4 GiB in 2 MiB pages */
#define LB_CMDLINE      0x20000ull
#define LB_CMDLINE_MAX  0x10000ull
#define LB_EBDA         0x9fc00ull
#define LB_BIOS         0xf0000ull

#define SEL_CS          0x10u           /* __BOOT_CS */
#define SEL_DS          0x18u           /* __BOOT_DS */
#define SEL_TSS         0x20u

#define CPUID_1_ECX_CX16        (1u << 13)
#define CPUID_1_ECX_HYPERVISOR  (1u << 31)
#define KVM_CPUID_FEATURES      0x40000001u
/* KVM_FEATURE_ASYNC_PF (4), _ASYNC_PF_VMEXIT (10), _ASYNC_PF_INT (14). */
#define KVM_ASYNC_PF_BITS       ((1u << 4) | (1u << 10) | (1u << 14))

/* ---- devices ----------------------------------------------------------- */

void linux_irq_set(void *opaque, unsigned int irq, bool level)
{
	struct vm *vm = opaque;
	int r = kvm_irq_line(vm->fd, irq, level);

	if (r < 0)
		vm_warn(vm, "KVM_IRQ_LINE %u: %s", irq, strerror(-r));
}

static void uart_out(void *ctx, const char *p, size_t n)
{
	struct vm *vm = ctx;

	if (!vm->cfg.quiet)
		hcall_console_write(p, n);
}

static void uart_irq(void *ctx, bool level)
{
	linux_irq_set(ctx, SERIAL8250_COM1_IRQ, level);
}

static const struct serial8250_ops uart_ops = { uart_out, uart_irq };

static void uart_pio(struct vcpu *vcpu, uint64_t addr, uint8_t *data,
		     uint32_t len, bool is_write, void *ctx)
{
	uint32_t i;

	(void)vcpu;
	for (i = 0; i < len; i++)
		serial8250_access(ctx, (unsigned int)(addr - SERIAL8250_COM1_PORT + i),
				  data + i, is_write);
}

/*
 * The reset line of the PC keyboard controller (i8042), the one way a guest
 * without ACPI can end itself: Linux's reboot - and its power-off and
 * panic=-1, which fall back to a reboot without ACPI - polls the status
 * port (0x64) until "input buffer full" (bit 1) clears and writes 0xfe
 * ("pulse reset") there, as Firecracker's guests do.  The status reads 0
 * (no controller data, ready for a command), so that wait ends at once;
 * 0xfe stops the VM with status 0.  Every other access is ignored: there
 * is no keyboard (Linux's i8042 driver, if built in, finds no answer to
 * its commands and gives up).
 */
#define I8042_STATUS_PORT       0x64u
#define I8042_CMD_RESET         0xfeu

static void i8042_pio(struct vcpu *vcpu, uint64_t addr, uint8_t *data,
		      uint32_t len, bool is_write, void *ctx)
{
	struct vm *vm = ctx;

	(void)vcpu;
	(void)addr;
	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	if (data[0] == I8042_CMD_RESET)
		vm_stop(vm, 0, "guest reset through the keyboard controller "
			"(a Linux reboot or power-off)");
}

int linux_vm_init(struct vm *vm, char *err, size_t errlen)
{
	int r;

	r = kvm_create_irqchip(vm->fd);
	if (r < 0) {
		snprintf(err, errlen, "KVM_CREATE_IRQCHIP: %s", strerror(-r));
		return r;
	}
	vm->irqchip = true;
	r = kvm_create_pit2(vm->fd);
	if (r < 0) {
		snprintf(err, errlen, "KVM_CREATE_PIT2: %s", strerror(-r));
		return r;
	}
	vm->uart = malloc(sizeof(*vm->uart));
	if (!vm->uart) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	serial8250_init(vm->uart, &uart_ops, vm);
	r = iobus_register(&vm->pio, SERIAL8250_COM1_PORT, SERIAL8250_NR_REGS,
			   uart_pio, vm->uart, "serial8250");
	if (r < 0) {
		snprintf(err, errlen, "cannot register the UART: %s", strerror(-r));
		return r;
	}
	r = iobus_register(&vm->pio, I8042_STATUS_PORT, 1, i8042_pio, vm, "i8042");
	if (r < 0)
		snprintf(err, errlen, "cannot register the reset port: %s",
			 strerror(-r));
	return r;
}

void linux_vm_fini(struct vm *vm)
{
	if (!vm->uart)
		return;
	serial8250_fini(vm->uart);
	free(vm->uart);
	vm->uart = NULL;
}

/* ---- files ------------------------------------------------------------- */

static int read_fd(int fd, uint8_t *dst, uint64_t size)
{
	ssize_t n;

	while (size) {
		n = read(fd, dst, size > (1u << 30) ? 1u << 30 : size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;   /* shrank under us */
		dst += n;
		size -= (uint64_t)n;
	}
	return 0;
}

/* Open a regular file no larger than max; *size is its size. */
static int open_sized(const char *path, uint64_t max, uint64_t *size,
		      const char *what, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), e;

	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "cannot open %s '%.200s': %s", what, path,
			 strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s '%.200s': %s", what, path, strerror(errno));
		close(fd);
		return -EIO;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0 || (uint64_t)st.st_size > max) {
		snprintf(err, errlen, "%s '%.200s': %s", what, path,
			 !S_ISREG(st.st_mode) ? "not a regular file" :
			 st.st_size == 0 ? "empty" : "too large");
		close(fd);
		return !S_ISREG(st.st_mode) ? -EINVAL : -E2BIG;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

static int read_kernel(const char *path, uint8_t **buf, size_t *size,
		       char *err, size_t errlen)
{
	uint64_t n;
	int fd, r;

	fd = open_sized(path, LINUX_MAX_KERNEL, &n, "kernel", err, errlen);
	if (fd < 0)
		return fd;
	*buf = malloc(n);
	r = *buf ? read_fd(fd, *buf, n) : -ENOMEM;
	close(fd);
	if (r < 0) {
		snprintf(err, errlen, "cannot read kernel '%.200s': %s", path,
			 strerror(-r));
		free(*buf);
		*buf = NULL;
		return r;
	}
	*size = n;
	return 0;
}

/* ---- guest memory ------------------------------------------------------ */

static uint64_t ram_end(struct vm *vm)
{
	return HV_RAM_BASE + vm->cfg.mem_size;
}

/* Copy the kernel's segments to their physical addresses (in RAM: first
 * touches go through the swapper like any guest page).  The bss needs no
 * clearing: RAM no one has written reads as zero. */
static int load_segments(struct vm *vm, const struct linux_image *img,
			 char *err, size_t errlen)
{
	const struct linux_seg *s;
	unsigned int i;

	if (img->kernel_start < HV_RAM_BASE || img->kernel_end > ram_end(vm)) {
		snprintf(err, errlen, "the kernel needs guest-physical [0x%llx, "
			 "0x%llx) but RAM is [0x%llx, 0x%llx): raise --mem",
			 (unsigned long long)img->kernel_start,
			 (unsigned long long)img->kernel_end,
			 (unsigned long long)HV_RAM_BASE,
			 (unsigned long long)ram_end(vm));
		return -E2BIG;
	}
	for (i = 0; i < img->nr_segs; i++) {
		s = &img->segs[i];
		if (s->filesz)
			memcpy(vm_ram_ptr(vm, s->paddr, s->filesz),
			       img->elf + s->offset, s->filesz);
	}
	return 0;
}

static int load_initrd(struct vm *vm, const struct linux_image *img,
		       uint64_t *gpa, uint64_t *size, char *err, size_t errlen)
{
	const char *path = vm->cfg.initrd_path;
	int fd, r;

	*gpa = *size = 0;
	if (!path)
		return 0;
	fd = open_sized(path, vm->cfg.mem_size, size, "initrd", err, errlen);
	if (fd < 0)
		return fd;
	r = linux_initrd_place(img, HV_RAM_BASE, ram_end(vm), *size, gpa);
	if (r < 0) {
		snprintf(err, errlen, "initrd '%.200s' (%llu bytes) does not fit "
			 "between the kernel and the end of RAM: raise --mem", path,
			 (unsigned long long)*size);
	} else {
		r = read_fd(fd, vm_ram_ptr(vm, *gpa, *size), *size);
		if (r < 0)
			snprintf(err, errlen, "cannot read initrd '%.200s': %s",
				 path, strerror(-r));
	}
	close(fd);
	return r;
}

static int write_cmdline(struct vm *vm, const struct linux_image *img,
			 char *err, size_t errlen)
{
	struct linux_mmio_dev devs[VM_MAX_VIRTIO];
	size_t max = img->cmdline_max < LB_CMDLINE_MAX ? img->cmdline_max :
		LB_CMDLINE_MAX;
	unsigned int i;
	int r;

	for (i = 0; i < vm->nr_virtio; i++) {
		devs[i].base = vm->mmio_base + (uint64_t)i * HV_VIRTIO_MMIO_SIZE;
		devs[i].size = HV_VIRTIO_MMIO_SIZE;
		devs[i].irq = LINUX_VIRTIO_IRQ_BASE + i;
	}
	r = linux_cmdline((char *)vm->sys->host + LB_CMDLINE, max, vm->cfg.cmdline,
			  devs, vm->nr_virtio);
	if (r == -EINVAL)
		snprintf(err, errlen, "--append: control characters are not allowed");
	else if (r < 0)
		snprintf(err, errlen, "the kernel command line is longer than this "
			 "kernel accepts (%zu bytes)", max - 1);
	return r < 0 ? r : 0;
}

/* GDT and identity page tables for the 64-bit entry. */
static void build_low(uint8_t *sys)
{
	uint64_t *gdt = (uint64_t *)(sys + LB_GDT);
	uint64_t *pml4 = (uint64_t *)(sys + LB_PML4);
	uint64_t *pdpt = (uint64_t *)(sys + LB_PDPT);
	uint64_t *pd = (uint64_t *)(sys + LB_PD);
	unsigned int i;

	gdt[SEL_CS / 8] = 0x00af9b000000ffffull;        /* code 64, DPL0 */
	gdt[SEL_DS / 8] = 0x00cf93000000ffffull;        /* data, 4 GiB flat */
	gdt[SEL_TSS / 8] = 0x00008b0000000067ull;       /* busy TSS at 0 */
	pml4[0] = LB_PDPT | 0x3;
	for (i = 0; i < 4; i++)
		pdpt[i] = (LB_PD + i * 4096ull) | 0x3;
	for (i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x83;     /* P, RW, PS */
}

static unsigned int build_e820(struct vm *vm, struct linux_e820 *map)
{
	map[0] = (struct linux_e820){ 0, LB_EBDA, LINUX_E820_RAM };
	map[1] = (struct linux_e820){ LB_EBDA, 0xa0000 - LB_EBDA, LINUX_E820_RESERVED };
	map[2] = (struct linux_e820){ LB_BIOS, 0x100000 - LB_BIOS, LINUX_E820_RESERVED };
	map[3] = (struct linux_e820){ HV_RAM_BASE, vm->cfg.mem_size, LINUX_E820_RAM };
	return 4;
}

/* ---- vCPUs ------------------------------------------------------------- */

/* The host's CPUID minus CMPXCHG16B (kvm_pvm cannot emulate it: a Debian
 * kernel died on it, PLATFORM.md) and minus KVM's paravirtual async page
 * faults (PLATFORM.md saw a vCPU hang in KVM's async-PF path with an
 * in-kernel irqchip; a guest that never enables them keeps out of it),
 * plus the hypervisor bit so the kernel looks for KVM's paravirt leaves
 * (kvm-clock). */
static int set_cpuid(struct vm *vm)
{
	const struct kvm_cpuid2 *src = vm->kvm.cpuid;
	size_t sz = sizeof(*src) + src->nent * sizeof(src->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	unsigned int i;
	int r = 0;

	if (!c)
		return -ENOMEM;
	memcpy(c, src, sz);
	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1) {
			e->ecx &= ~CPUID_1_ECX_CX16;
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
		} else if (e->function == KVM_CPUID_FEATURES) {
			e->eax &= ~KVM_ASYNC_PF_BITS;
		}
	}
	for (i = 0; i < vm->nr_vcpus && r >= 0; i++) {
		unsigned int j;

		for (j = 0; j < c->nent; j++)   /* initial APIC id */
			if (c->entries[j].function == 1)
				c->entries[j].ebx = (c->entries[j].ebx & 0xffffff) | i << 24;
		r = kvm_set_cpuid(vm->vcpus[i].fd, c);
	}
	free(c);
	return r;
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
	memset(s, 0, sizeof(*s));
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

static int set_entry(struct vcpu *v, uint64_t entry)
{
	struct kvm_sregs s;
	struct kvm_regs r;
	int ret;

	ret = kvm_get_sregs(v->fd, &s);
	if (ret < 0)
		return ret;
	set_seg(&s.cs, SEL_CS, 11, true);
	set_seg(&s.ds, SEL_DS, 3, false);
	s.es = s.fs = s.gs = s.ss = s.ds;
	memset(&s.tr, 0, sizeof(s.tr));
	s.tr.selector = SEL_TSS;
	s.tr.limit = 0x67;
	s.tr.type = 11;
	s.tr.present = 1;
	memset(&s.ldt, 0, sizeof(s.ldt));
	s.ldt.type = 2;
	s.ldt.present = 1;
	s.ldt.unusable = 1;
	s.gdt.base = LB_GDT;
	s.gdt.limit = (SEL_TSS + 16) - 1;
	s.idt.base = 0;
	s.idt.limit = 0;
	s.cr0 = 0x80000031ull;          /* PG, NE, ET, PE */
	s.cr3 = LB_PML4;
	s.cr4 = 0x20;                   /* PAE */
	s.efer = 0x500;                 /* LMA, LME */
	ret = kvm_set_sregs(v->fd, &s);
	if (ret < 0)
		return ret;
	memset(&r, 0, sizeof(r));
	r.rip = entry;
	r.rsi = LB_ZERO_PAGE;
	r.rsp = LB_STACK_TOP;
	r.rflags = 0x2;                 /* interrupts off */
	return kvm_set_regs(v->fd, &r);
}

/* ---- the boot ---------------------------------------------------------- */

static int boot_image(struct vm *vm, const struct linux_image *img,
		      char *err, size_t errlen)
{
	struct linux_e820 map[4];
	uint64_t initrd_gpa, initrd_size;
	uint8_t *sys = vm->sys->host;
	int r;

	r = load_segments(vm, img, err, errlen);
	if (r == 0)
		r = load_initrd(vm, img, &initrd_gpa, &initrd_size, err, errlen);
	if (r < 0)
		return r;
	/* The test guests' system area is not used: start from zero. */
	memset(sys, 0, HV_SYS_AREA_SIZE);
	r = write_cmdline(vm, img, err, errlen);
	if (r < 0)
		return r;
	build_low(sys);
	r = linux_boot_params(sys + LB_ZERO_PAGE, img, LB_CMDLINE, initrd_gpa,
			      initrd_size, map, build_e820(vm, map));
	if (r < 0) {
		snprintf(err, errlen, "cannot build the zero page: %s", strerror(-r));
		return r;
	}
	r = set_cpuid(vm);
	if (r == 0)
		r = set_entry(&vm->vcpus[0], img->entry);
	if (r < 0)
		snprintf(err, errlen, "cannot set up vCPU 0 for the kernel: %s",
			 strerror(-r));
	return r;
}

int linux_boot_load(struct vm *vm, char *err, size_t errlen)
{
	struct linux_image img;
	uint8_t *file = NULL;
	size_t size;
	int r;

	r = read_kernel(vm->cfg.kernel_path, &file, &size, err, errlen);
	if (r < 0)
		return r;
	r = linux_image_parse(file, size, &img, err, errlen);
	if (r == 0) {
		log_info("kernel %s: %s, entry 0x%llx, [0x%llx, 0x%llx)",
			 vm->cfg.kernel_path, img.hdr_len ? "bzImage" : "vmlinux",
			 (unsigned long long)img.entry,
			 (unsigned long long)img.kernel_start,
			 (unsigned long long)img.kernel_end);
		r = boot_image(vm, &img, err, errlen);
		linux_image_free(&img);
	}
	free(file);
	return r;
}
