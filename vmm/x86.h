/*
 * x86.h - the x86-64 machine state hvswap gives its guests: the system area
 * (GDT, IDT, TSS, exception stubs, identity page tables) and initial
 * registers for a CPL3 long-mode entry.  See include/hvswap/guest_abi.h.
 */
#ifndef HVSWAP_VMM_X86_H
#define HVSWAP_VMM_X86_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

/* Offsets inside the system area ([0, HV_SYS_AREA_SIZE) guest-physical). */
#define X86_GDT_GPA     0x1000ull
#define X86_IDT_GPA     0x2000ull
#define X86_TSS_GPA     0x5000ull     /* TSS + I/O bitmap: 0x2069 bytes */
#define X86_STUBS_GPA   0x4000ull
#define X86_KSTACK_BASE 0x8000ull
#define X86_KSTACK_TOP  0x10000ull    /* CPL0 stack [0x8000, 0x10000) */
#define X86_TSS_LIMIT   (0x68u + 8192u)  /* I/O bitmap all-allowed + 0xff */
#define X86_PML4_GPA    0x10000ull
#define X86_PDPT_GPA    0x11000ull
#define X86_PD_GPA      0x12000ull    /* one 4 KiB PD per GiB of address space */
#define X86_STUB_SIZE   8u
#define X86_GDT_ENTRIES 7u

/* Largest guest-physical end address the system area's page tables can map. */
uint64_t x86_max_mapped_end(void);

/*
 * Fill the system area `sys` (HV_SYS_AREA_SIZE bytes, zeroed by the caller)
 * for guest RAM ending at guest-physical `ram_end` (a 2 MiB multiple).
 * Returns 0 or -E2BIG when ram_end cannot be mapped.
 */
int x86_build_sysarea(void *sys, uint64_t ram_end);

/* Translate a guest-virtual address with the page tables in `sys`.
 * Returns true and sets gpa and user when mapped (used by tests and dumps). */
bool x86_translate(const void *sys, uint64_t gva, uint64_t *gpa, bool *user);

void x86_init_sregs(struct kvm_sregs *s);
void x86_init_regs(struct kvm_regs *r, unsigned int vcpu, unsigned int nvcpus);

/* Exception vector name ("#PF"), and whether it pushes an error code. */
const char *x86_exception_name(unsigned int vec);
bool x86_exception_has_error_code(unsigned int vec);

#endif
