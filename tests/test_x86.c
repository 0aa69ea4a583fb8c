/*
 * test_x86.c - unit tests of the guest system area and initial vCPU state
 * (vmm/x86.c), checked against the contract in include/hvswap/guest_abi.h:
 * identity map with the U bit only above 2 MiB and nothing mapped past the
 * end of RAM, GDT/IDT/TSS contents, the exception stubs, the layout of the
 * system area, and the CPL3 entry state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hvswap/guest_abi.h"
#include "x86.h"

#define MIB2 (2ull << 20)
#define GIB (1ull << 30)

static uint8_t *new_sys(void)
{
	uint8_t *sys = calloc(1, HV_SYS_AREA_SIZE);

	assert_non_null(sys);
	return sys;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* One address: mapped identity iff below ram_end, user iff >= 2 MiB. */
static void check_addr(const uint8_t *sys, uint64_t ram_end, uint64_t gva)
{
	uint64_t gpa = ~0ull;
	bool user = false;
	bool mapped = x86_translate(sys, gva, &gpa, &user);

	if (gva >= ram_end) {
		if (mapped)
			fail_msg("gva 0x%llx beyond ram_end 0x%llx is mapped (gpa 0x%llx)",
				 (unsigned long long)gva, (unsigned long long)ram_end,
				 (unsigned long long)gpa);
		return;
	}
	if (!mapped)
		fail_msg("gva 0x%llx below ram_end 0x%llx not mapped",
			 (unsigned long long)gva, (unsigned long long)ram_end);
	if (gpa != gva)
		fail_msg("gva 0x%llx -> gpa 0x%llx, want identity",
			 (unsigned long long)gva, (unsigned long long)gpa);
	if (user != (gva >= HV_SYS_AREA_SIZE))
		fail_msg("gva 0x%llx: U=%d, want %d", (unsigned long long)gva, user,
			 gva >= HV_SYS_AREA_SIZE);
}

/* Every 2 MiB page of [0, ram_end) at three offsets, and the GiB past it. */
static void check_map(uint64_t ram_end)
{
	uint8_t *sys = new_sys();
	uint64_t a;

	assert_int_equal(x86_build_sysarea(sys, ram_end), 0);
	for (a = 0; a < ram_end + GIB; a += MIB2) {
		check_addr(sys, ram_end, a);
		check_addr(sys, ram_end, a + 0x1234);
		check_addr(sys, ram_end, a + MIB2 - 1);
	}
	check_addr(sys, ram_end, ram_end - 1);
	check_addr(sys, ram_end, ram_end);
	/* Beyond PML4[0], and non-canonical. */
	check_addr(sys, ram_end, 1ull << 39);
	check_addr(sys, ram_end, 0x400000000000ull);
	check_addr(sys, ram_end, 0x800000000000ull);
	check_addr(sys, ram_end, 0xffff800000000000ull);
	check_addr(sys, ram_end, ~0ull);
	free(sys);
}

static void test_map_1g(void **state)
{
	(void)state;
	check_map(HV_RAM_BASE + GIB);        /* --mem 1G: ends mid-GiB */
}

static void test_map_3g(void **state)
{
	(void)state;
	check_map(HV_RAM_BASE + 3 * GIB);
	check_map(3 * GIB);                  /* ends on a GiB boundary */
}

static void test_map_64g(void **state)
{
	(void)state;
	check_map(HV_RAM_BASE + 64 * GIB);
}

static void test_map_small_and_max(void **state)
{
	uint8_t *sys = new_sys();
	uint64_t max = x86_max_mapped_end(), gpa;
	bool user;

	(void)state;
	check_map(HV_RAM_BASE + (4ull << 20));   /* smallest --mem (4M) */
	check_map(HV_SYS_AREA_SIZE);             /* system area only */
	assert_true(max >= HV_RAM_BASE + 64 * GIB);
	assert_int_equal(max % GIB, 0);
	/* The largest end fits; its page tables stay inside the system area. */
	assert_int_equal(x86_build_sysarea(sys, max), 0);
	assert_true(x86_translate(sys, max - 1, &gpa, &user));
	assert_int_equal(gpa, max - 1);
	assert_true(user);
	assert_false(x86_translate(sys, max, &gpa, &user));
	free(sys);
}

static void test_map_e2big(void **state)
{
	uint8_t *sys = new_sys();
	uint64_t max = x86_max_mapped_end();

	(void)state;
	assert_int_equal(x86_build_sysarea(sys, 0), -E2BIG);
	assert_int_equal(x86_build_sysarea(sys, HV_RAM_BASE + 4096), -E2BIG);
	assert_int_equal(x86_build_sysarea(sys, HV_RAM_BASE + GIB + MIB2 / 2), -E2BIG);
	assert_int_equal(x86_build_sysarea(sys, GIB - 1), -E2BIG);
	assert_int_equal(x86_build_sysarea(sys, max + MIB2), -E2BIG);
	assert_int_equal(x86_build_sysarea(sys, max + GIB), -E2BIG);
	assert_int_equal(x86_build_sysarea(sys, 1ull << 39), -E2BIG);
	assert_int_equal(x86_build_sysarea(sys, UINT64_MAX & ~(MIB2 - 1)), -E2BIG);
	free(sys);
}

/* The fixed regions of the system area must not overlap each other. */
static void test_layout(void **state)
{
	const struct { const char *name; uint64_t lo, hi; } r[] = {
		{ "gdt", X86_GDT_GPA, X86_GDT_GPA + X86_GDT_ENTRIES * 8 },
		{ "idt", X86_IDT_GPA, X86_IDT_GPA + 256 * 16 },
		{ "stubs", X86_STUBS_GPA, X86_STUBS_GPA + 256 * X86_STUB_SIZE },
		{ "tss", X86_TSS_GPA, X86_TSS_GPA + X86_TSS_LIMIT + 1 },
		{ "kstack", X86_KSTACK_BASE, X86_KSTACK_TOP },
		{ "pml4", X86_PML4_GPA, X86_PML4_GPA + 4096 },
		{ "pdpt", X86_PDPT_GPA, X86_PDPT_GPA + 4096 },
		{ "pd", X86_PD_GPA, HV_SYS_AREA_SIZE },
	};
	unsigned int i, j;

	(void)state;
	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		assert_true(r[i].lo < r[i].hi);
		assert_true(r[i].hi <= HV_SYS_AREA_SIZE);
		assert_true(r[i].lo >= 0x1000);    /* page 0 stays unused */
		for (j = 0; j < i; j++) {
			if (r[i].lo < r[j].hi && r[j].lo < r[i].hi)
				fail_msg("%s [0x%llx,0x%llx) overlaps %s [0x%llx,0x%llx)",
					 r[i].name, (unsigned long long)r[i].lo,
					 (unsigned long long)r[i].hi, r[j].name,
					 (unsigned long long)r[j].lo,
					 (unsigned long long)r[j].hi);
		}
	}
	assert_int_equal(X86_PML4_GPA % 4096, 0);
	assert_int_equal(X86_PDPT_GPA % 4096, 0);
	assert_int_equal(X86_PD_GPA % 4096, 0);
	assert_int_equal(X86_KSTACK_TOP % 16, 0);
}

#define DESC_DPL(d)   (((d) >> 45) & 3)
#define DESC_P(d)     (((d) >> 47) & 1)
#define DESC_S(d)     (((d) >> 44) & 1)
#define DESC_TYPE(d)  (((d) >> 40) & 0xf)
#define DESC_L(d)     (((d) >> 53) & 1)

static void test_gdt(void **state)
{
	uint8_t *sys = new_sys();
	const uint8_t *gdt = sys + X86_GDT_GPA;
	uint64_t d, base, limit;

	(void)state;
	assert_int_equal(x86_build_sysarea(sys, HV_RAM_BASE + GIB), 0);
	assert_int_equal(rd64(gdt), 0);

	d = rd64(gdt + HV_SEL_KCODE);
	assert_int_equal(DESC_P(d), 1);
	assert_int_equal(DESC_S(d), 1);
	assert_int_equal(DESC_DPL(d), 0);
	assert_true(DESC_TYPE(d) & 8);      /* code */
	assert_int_equal(DESC_L(d), 1);

	d = rd64(gdt + HV_SEL_KDATA);
	assert_int_equal(DESC_P(d), 1);
	assert_int_equal(DESC_DPL(d), 0);
	assert_false(DESC_TYPE(d) & 8);     /* data */
	assert_true(DESC_TYPE(d) & 2);      /* writable */

	assert_int_equal(HV_SEL_UCODE & 3, 3);
	d = rd64(gdt + (HV_SEL_UCODE & ~7u));
	assert_int_equal(DESC_P(d), 1);
	assert_int_equal(DESC_S(d), 1);
	assert_int_equal(DESC_DPL(d), 3);
	assert_true(DESC_TYPE(d) & 8);
	assert_int_equal(DESC_L(d), 1);

	assert_int_equal(HV_SEL_UDATA & 3, 3);
	d = rd64(gdt + (HV_SEL_UDATA & ~7u));
	assert_int_equal(DESC_P(d), 1);
	assert_int_equal(DESC_DPL(d), 3);
	assert_false(DESC_TYPE(d) & 8);
	assert_true(DESC_TYPE(d) & 2);

	/* 16-byte 64-bit TSS descriptor: available TSS, DPL0. */
	assert_true(HV_SEL_TSS / 8 + 1 < X86_GDT_ENTRIES);
	d = rd64(gdt + HV_SEL_TSS);
	assert_int_equal(DESC_P(d), 1);
	assert_int_equal(DESC_S(d), 0);
	assert_int_equal(DESC_DPL(d), 0);
	assert_int_equal(DESC_TYPE(d), 9);
	base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24) |
	       (rd64(gdt + HV_SEL_TSS + 8) << 32);
	limit = (d & 0xffff) | (((d >> 48) & 0xf) << 16);
	assert_int_equal(base, X86_TSS_GPA);
	assert_int_equal(limit, X86_TSS_LIMIT);
	free(sys);
}

static void test_idt_and_stubs(void **state)
{
	uint8_t *sys = new_sys();
	unsigned int v;

	(void)state;
	assert_int_equal(x86_build_sysarea(sys, HV_RAM_BASE + GIB), 0);
	for (v = 0; v < 256; v++) {
		const uint8_t *g = sys + X86_IDT_GPA + 16 * v;
		uint64_t lo = rd64(g), hi = rd64(g + 8);
		uint64_t off = (lo & 0xffff) | (((lo >> 48) & 0xffff) << 16) |
			       ((hi & 0xffffffff) << 32);
		uint64_t want = X86_STUBS_GPA + (uint64_t)v * X86_STUB_SIZE;
		const uint8_t *s = sys + want;
		const uint8_t code[8] = {
			0x50,                       /* push %rax */
			0xb0, (uint8_t)v,           /* mov $v, %al */
			0xe6, HV_EXC_PORT,          /* out %al, $HV_EXC_PORT */
			0xf4,                       /* 1: hlt */
			0xeb, 0xfd,                 /* jmp 1b */
		};

		if (off != want)
			fail_msg("vector %u: gate offset 0x%llx, want 0x%llx", v,
				 (unsigned long long)off, (unsigned long long)want);
		assert_int_equal((lo >> 16) & 0xffff, HV_SEL_KCODE);
		assert_int_equal((lo >> 32) & 7, 0);        /* IST */
		assert_int_equal(DESC_TYPE(lo), 0xe);       /* interrupt gate */
		assert_int_equal(DESC_S(lo), 0);
		assert_int_equal(DESC_P(lo), 1);
		assert_int_equal(DESC_DPL(lo), 0);  /* INT n from CPL3 -> #GP */
		assert_int_equal(hi >> 32, 0);              /* reserved */
		if (memcmp(s, code, sizeof(code)))
			fail_msg("vector %u: stub bytes %02x %02x %02x %02x %02x %02x "
				 "%02x %02x", v, s[0], s[1], s[2], s[3], s[4], s[5],
				 s[6], s[7]);
	}
	/* The jmp lands on the hlt: rel8 -3 from the end of the stub. */
	assert_int_equal(X86_STUB_SIZE - 3, 5);
	free(sys);
}

static void test_tss(void **state)
{
	uint8_t *sys = new_sys();
	const uint8_t *tss = sys + X86_TSS_GPA;
	uint16_t iomap;
	unsigned int i;

	(void)state;
	assert_int_equal(x86_build_sysarea(sys, HV_RAM_BASE + GIB), 0);
	assert_int_equal(rd64(tss + 4), X86_KSTACK_TOP);      /* RSP0 */
	for (i = 0; i < 7; i++)                                /* IST1..7 */
		assert_int_equal(rd64(tss + 0x24 + 8 * i), 0);
	memcpy(&iomap, tss + 0x66, sizeof(iomap));
	assert_int_equal(iomap, 0x68);
	for (i = 0; i < 8192; i++) {
		if (tss[0x68 + i])
			fail_msg("I/O bitmap byte %u is 0x%02x, want 0 (all ports allowed)",
				 i, tss[0x68 + i]);
	}
	assert_int_equal(tss[0x68 + 8192], 0xff);   /* terminator */
	assert_int_equal(X86_TSS_LIMIT, 0x68 + 8192);  /* covers the terminator */
	free(sys);
}

static void test_sregs(void **state)
{
	struct kvm_sregs s;
	uint8_t *sys = new_sys();
	uint64_t d;

	(void)state;
	memset(&s, 0xa5, sizeof(s));
	x86_init_sregs(&s);
	assert_int_equal(x86_build_sysarea(sys, HV_RAM_BASE + GIB), 0);

	assert_int_equal(s.cs.selector, HV_SEL_UCODE);
	assert_int_equal(s.cs.dpl, 3);
	assert_int_equal(s.cs.l, 1);
	assert_int_equal(s.cs.db, 0);
	assert_int_equal(s.cs.present, 1);
	assert_int_equal(s.cs.s, 1);
	assert_true(s.cs.type & 8);
	d = rd64(sys + X86_GDT_GPA + (HV_SEL_UCODE & ~7u));
	assert_int_equal(s.cs.dpl, DESC_DPL(d));   /* cached = descriptor */

	assert_int_equal(s.ss.selector, HV_SEL_UDATA);
	assert_int_equal(s.ss.dpl, 3);
	assert_int_equal(s.ss.present, 1);
	assert_false(s.ss.type & 8);
	assert_true(s.ss.type & 2);
	assert_int_equal(s.ds.selector, HV_SEL_UDATA);
	assert_int_equal(s.es.selector, HV_SEL_UDATA);
	assert_int_equal(s.ds.dpl, 3);
	assert_int_equal(s.es.dpl, 3);

	assert_int_equal(s.tr.selector, HV_SEL_TSS);
	assert_int_equal(s.tr.base, X86_TSS_GPA);
	assert_int_equal(s.tr.limit, X86_TSS_LIMIT);
	assert_int_equal(s.tr.type, 11);          /* busy 64-bit TSS */
	assert_int_equal(s.tr.present, 1);
	assert_int_equal(s.ldt.unusable, 1);

	assert_int_equal(s.gdt.base, X86_GDT_GPA);
	assert_int_equal(s.gdt.limit, X86_GDT_ENTRIES * 8 - 1);
	assert_int_equal(s.idt.base, X86_IDT_GPA);
	assert_int_equal(s.idt.limit, 256 * 16 - 1);

	assert_int_equal(s.cr3, X86_PML4_GPA);
	assert_true(s.cr0 & (1ull << 0));         /* PE */
	assert_true(s.cr0 & (1ull << 31));        /* PG */
	assert_true(s.cr0 & (1ull << 16));        /* WP */
	assert_true(s.cr4 & (1ull << 5));         /* PAE */
	assert_true(s.cr4 & (1ull << 9));         /* OSFXSR (SSE) */
	assert_true(s.cr4 & (1ull << 10));        /* OSXMMEXCPT */
	assert_true(s.efer & (1ull << 8));        /* LME */
	assert_true(s.efer & (1ull << 10));       /* LMA */
	free(sys);
}

static void test_regs(void **state)
{
	struct kvm_regs r;
	unsigned int v;

	(void)state;
	for (v = 0; v < 4; v++) {
		memset(&r, 0xa5, sizeof(r));
		x86_init_regs(&r, v, 4);
		assert_int_equal(r.rip, HV_GUEST_LOAD_GPA);
		assert_int_equal(r.rdi, v);
		assert_int_equal(r.rsi, 4);
		assert_int_equal(r.rsp, 0);
		assert_int_equal(r.rax, 0);
		assert_int_equal((r.rflags >> 12) & 3, 3);   /* IOPL=3 */
		assert_true(r.rflags & 2);                   /* reserved, 1 */
		assert_false(r.rflags & (1u << 9));          /* IF: no interrupts */
	}
	x86_init_regs(&r, HV_MAX_VCPUS - 1, HV_MAX_VCPUS);
	assert_int_equal(r.rdi, HV_MAX_VCPUS - 1);
	assert_int_equal(r.rsi, HV_MAX_VCPUS);
}

static void test_exception_names(void **state)
{
	(void)state;
	assert_memory_equal(x86_exception_name(0), "#DE", 3);
	assert_memory_equal(x86_exception_name(6), "#UD", 3);
	assert_memory_equal(x86_exception_name(13), "#GP", 3);
	assert_memory_equal(x86_exception_name(14), "#PF", 3);
	assert_memory_equal(x86_exception_name(8), "#DF", 3);
	assert_non_null(x86_exception_name(31));
	assert_string_equal(x86_exception_name(32), "interrupt");
	assert_string_equal(x86_exception_name(255), "interrupt");
	assert_string_equal(x86_exception_name(~0u), "interrupt");
	assert_true(x86_exception_has_error_code(8));
	assert_true(x86_exception_has_error_code(13));
	assert_true(x86_exception_has_error_code(14));
	assert_true(x86_exception_has_error_code(17));
	assert_false(x86_exception_has_error_code(0));
	assert_false(x86_exception_has_error_code(6));
	assert_false(x86_exception_has_error_code(3));
	assert_false(x86_exception_has_error_code(32));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_1g),
		cmocka_unit_test(test_map_3g),
		cmocka_unit_test(test_map_64g),
		cmocka_unit_test(test_map_small_and_max),
		cmocka_unit_test(test_map_e2big),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_gdt),
		cmocka_unit_test(test_idt_and_stubs),
		cmocka_unit_test(test_tss),
		cmocka_unit_test(test_sregs),
		cmocka_unit_test(test_regs),
		cmocka_unit_test(test_exception_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
