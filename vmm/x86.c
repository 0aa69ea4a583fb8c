/*
 * x86.c - builds the guest's x86-64 system area and initial vCPU state.
 *
 * Owns nothing at run time: pure functions over a caller-provided buffer, so
 * they are unit-tested without KVM (tests/test_x86.c).
 *
 * Design: guests run their workloads at CPL3 (on nested KVM only CPL3 runs at
 * native speed, see PLATFORM.md).  CPL0 code is limited to one 8-byte stub
 * per exception vector:
 *     push %rax; mov $vec, %al; out %al, $HV_EXC_PORT; 1: hlt; jmp 1b
 * The VMM catches the OUT, reads the exception frame from the CPL0 stack and
 * reports the crash; the guest never continues.  The first 2 MiB (this area)
 * is mapped without the U bit so CPL3 code cannot corrupt it.
 */
#include <errno.h>
#include <string.h>

#include "hvswap/guest_abi.h"
#include "x86.h"

#define PTE_P   (1ull << 0)
#define PTE_RW  (1ull << 1)
#define PTE_US  (1ull << 2)
#define PTE_PS  (1ull << 7)
#define PTE_ADDR_MASK 0x000ffffffffff000ull

#define GIB (1ull << 30)
#define MIB2 (2ull << 20)

#define CR0_PE (1ull << 0)
#define CR0_MP (1ull << 1)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_WP (1ull << 16)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define CR4_OSFXSR (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

uint64_t x86_max_mapped_end(void)
{
	return (HV_SYS_AREA_SIZE - X86_PD_GPA) / 4096 * GIB;
}

static void build_gdt(uint8_t *sys)
{
	uint64_t *gdt = (uint64_t *)(sys + X86_GDT_GPA);
	uint64_t base = X86_TSS_GPA, limit = X86_TSS_LIMIT;

	gdt[0] = 0;
	gdt[1] = 0x00af9b000000ffffull;   /* kernel code 64, DPL0 */
	gdt[2] = 0x00cf93000000ffffull;   /* kernel data, DPL0 */
	gdt[3] = 0x00affb000000ffffull;   /* user code 64, DPL3 */
	gdt[4] = 0x00cff3000000ffffull;   /* user data, DPL3 */
	/* 64-bit available TSS descriptor (16 bytes) */
	gdt[5] = (limit & 0xffff) | ((base & 0xffffff) << 16) |
		 (0x89ull << 40) | (((limit >> 16) & 0xf) << 48) |
		 (((base >> 24) & 0xff) << 56);
	gdt[6] = base >> 32;
}

static void build_idt_and_stubs(uint8_t *sys)
{
	uint64_t *idt = (uint64_t *)(sys + X86_IDT_GPA);
	uint8_t *stub = sys + X86_STUBS_GPA;
	unsigned int v;

	for (v = 0; v < 256; v++) {
		uint64_t off = X86_STUBS_GPA + v * X86_STUB_SIZE;
		uint8_t *s = stub + v * X86_STUB_SIZE;

		s[0] = 0x50;                /* push %rax */
		s[1] = 0xb0; s[2] = (uint8_t)v;   /* mov $v, %al */
		s[3] = 0xe6; s[4] = HV_EXC_PORT;  /* out %al, $port */
		s[5] = 0xf4;                /* hlt */
		s[6] = 0xeb; s[7] = 0xfd;   /* jmp hlt */
		/* 64-bit interrupt gate, DPL0, present, selector kernel code */
		idt[2 * v] = (off & 0xffff) | ((uint64_t)HV_SEL_KCODE << 16) |
			     (0x8eull << 40) | (((off >> 16) & 0xffff) << 48);
		idt[2 * v + 1] = off >> 32;
	}
}

static void build_tss(uint8_t *sys)
{
	uint8_t *tss = sys + X86_TSS_GPA;
	uint64_t rsp0 = X86_KSTACK_TOP;

	memcpy(tss + 4, &rsp0, sizeof(rsp0));          /* RSP0 */
	/* I/O permission bitmap right after the TSS, all zero (every port
	 * allowed at CPL3), closed by the 0xff byte the CPU requires.  IOPL=3
	 * should make it moot, but not every (nested) KVM honours IOPL. */
	tss[0x66] = 0x68;
	tss[0x68 + 8192] = 0xff;
}

static int build_page_tables(uint8_t *sys, uint64_t ram_end)
{
	uint64_t *pml4 = (uint64_t *)(sys + X86_PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(sys + X86_PDPT_GPA);
	uint64_t npd = (ram_end + GIB - 1) / GIB, i;

	if (ram_end == 0 || ram_end % MIB2 || ram_end > x86_max_mapped_end())
		return -E2BIG;
	pml4[0] = X86_PDPT_GPA | PTE_P | PTE_RW | PTE_US;
	for (i = 0; i < npd; i++)
		pdpt[i] = (X86_PD_GPA + i * 4096) | PTE_P | PTE_RW | PTE_US;
	for (i = 0; i < ram_end / MIB2; i++) {
		uint64_t *pd = (uint64_t *)(sys + X86_PD_GPA);
		uint64_t flags = PTE_P | PTE_RW | PTE_PS;

		if (i * MIB2 >= HV_SYS_AREA_SIZE)
			flags |= PTE_US;
		pd[i] = (i * MIB2) | flags;
	}
	return 0;
}

int x86_build_sysarea(void *sys, uint64_t ram_end)
{
	int r = build_page_tables(sys, ram_end);

	if (r < 0)
		return r;
	build_gdt(sys);
	build_idt_and_stubs(sys);
	build_tss(sys);
	return 0;
}

bool x86_translate(const void *sysv, uint64_t gva, uint64_t *gpa, bool *user)
{
	const uint8_t *sys = sysv;
	uint64_t e, tab;

	if (gva >> 39)          /* only PML4[0] is ever populated */
		return false;
	e = ((const uint64_t *)(sys + X86_PML4_GPA))[0];
	if (!(e & PTE_P))
		return false;
	*user = e & PTE_US;
	tab = e & PTE_ADDR_MASK;
	if (tab != X86_PDPT_GPA)
		return false;
	e = ((const uint64_t *)(sys + tab))[(gva >> 30) & 511];
	if (!(e & PTE_P))
		return false;
	*user = *user && (e & PTE_US);
	tab = e & PTE_ADDR_MASK;
	if (tab < X86_PD_GPA || tab >= HV_SYS_AREA_SIZE)
		return false;
	e = ((const uint64_t *)(sys + tab))[(gva >> 21) & 511];
	if (!(e & PTE_P) || !(e & PTE_PS))
		return false;
	*user = *user && (e & PTE_US);
	*gpa = (e & PTE_ADDR_MASK & ~(MIB2 - 1)) | (gva & (MIB2 - 1));
	return true;
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type,
		    uint8_t dpl, bool code)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = dpl;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

void x86_init_sregs(struct kvm_sregs *s)
{
	set_seg(&s->cs, HV_SEL_UCODE, 11, 3, true);
	set_seg(&s->ss, HV_SEL_UDATA, 3, 3, false);
	s->ds = s->es = s->fs = s->gs = s->ss;

	memset(&s->tr, 0, sizeof(s->tr));
	s->tr.base = X86_TSS_GPA;
	s->tr.limit = X86_TSS_LIMIT;
	s->tr.selector = HV_SEL_TSS;
	s->tr.type = 11;        /* busy 64-bit TSS */
	s->tr.present = 1;

	memset(&s->ldt, 0, sizeof(s->ldt));
	s->ldt.type = 2;
	s->ldt.present = 1;
	s->ldt.unusable = 1;

	s->gdt.base = X86_GDT_GPA;
	s->gdt.limit = X86_GDT_ENTRIES * 8 - 1;
	s->idt.base = X86_IDT_GPA;
	s->idt.limit = 256 * 16 - 1;

	s->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	s->cr3 = X86_PML4_GPA;
	s->cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	s->efer = EFER_LME | EFER_LMA | EFER_NXE;
}

void x86_init_regs(struct kvm_regs *r, unsigned int vcpu, unsigned int nvcpus)
{
	memset(r, 0, sizeof(*r));
	r->rip = HV_GUEST_LOAD_GPA;
	r->rflags = 0x3002;     /* IOPL=3, reserved bit 1 */
	r->rdi = vcpu;
	r->rsi = nvcpus;
}

static const char *const exc_names[32] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint",
	"#OF overflow", "#BR bound range", "#UD invalid opcode",
	"#NM device not available", "#DF double fault", "coprocessor overrun",
	"#TS invalid TSS", "#NP segment not present", "#SS stack fault",
	"#GP general protection", "#PF page fault", "reserved",
	"#MF x87 FP error", "#AC alignment check", "#MC machine check",
	"#XM SIMD FP exception", "#VE virtualization exception",
	"#CP control protection",
};

const char *x86_exception_name(unsigned int vec)
{
	if (vec < 32 && exc_names[vec])
		return exc_names[vec];
	return "interrupt";
}

bool x86_exception_has_error_code(unsigned int vec)
{
	switch (vec) {
	case 8: case 10: case 11: case 12: case 13: case 14: case 17: case 21:
		return true;
	default:
		return false;
	}
}
