/*
 * test_linux_image.c - unit tests of vmm/linux_image.c: synthetic vmlinux
 * ELFs and bzImages (payloads compressed here with zlib, liblzma and
 * libzstd, as the kernel build does) round-trip; malformed images - every
 * truncation, bad magics, old protocols, payloads and segments outside the
 * file, bad ELF headers, corrupt compressed data, absurd sizes, random
 * corruption - give a clear error and never crash (run under ASan/UBSan);
 * initrd placement, the command line and the zero page.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "linux_image.h"

#define KBASE   0x1000000ull
#define CODE    3000u           /* bytes of "kernel" in the segment */
#define BSS     0x10000u

static uint8_t elf_img[sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr) + CODE];

static void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* A vmlinux: one PT_LOAD at 16 MiB with a bss, one PT_NOTE, entry at start. */
static size_t make_elf(uint8_t *b)
{
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph[2] = { { 0 } };
	size_t off = sizeof(eh) + sizeof(ph);
	unsigned int i;

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = KBASE;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 2;
	ph[0].p_type = PT_NOTE;
	ph[1].p_type = PT_LOAD;
	ph[1].p_offset = off;
	ph[1].p_vaddr = 0xffffffff81000000ull;
	ph[1].p_paddr = KBASE;
	ph[1].p_filesz = CODE;
	ph[1].p_memsz = CODE + BSS;
	memcpy(b, &eh, sizeof(eh));
	memcpy(b + sizeof(eh), ph, sizeof(ph));
	for (i = 0; i < CODE; i++)
		b[off + i] = (uint8_t)(i * 7 + i / 13);
	return off + CODE;
}

static Elf64_Ehdr *ehdr(uint8_t *b)
{
	return (Elf64_Ehdr *)b;
}

static Elf64_Phdr *load_ph(uint8_t *b)
{
	return (Elf64_Phdr *)(b + sizeof(Elf64_Ehdr)) + 1;
}

/* ---- payload compression, as scripts/Makefile.lib does ----------------- */

static size_t gzip_data(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	z_stream z = { 0 };

	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	deflateEnd(&z);
	return z.total_out;
}

static size_t xz_data(const uint8_t *in, size_t n, uint8_t *out, size_t cap, bool alone)
{
	lzma_options_lzma opt;
	lzma_stream s = LZMA_STREAM_INIT;
	size_t pos = 0;

	if (!alone) {
		assert_int_equal(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, in, n,
							 out, &pos, cap), LZMA_OK);
		return pos;
	}
	lzma_lzma_preset(&opt, 6);
	assert_int_equal(lzma_alone_encoder(&s, &opt), LZMA_OK);
	s.next_in = in;
	s.avail_in = n;
	s.next_out = out;
	s.avail_out = cap;
	assert_int_equal(lzma_code(&s, LZMA_FINISH), LZMA_STREAM_END);
	pos = cap - s.avail_out;
	lzma_end(&s);
	return pos;
}

static size_t compress_payload(enum linux_comp c, const uint8_t *in, size_t n,
		       uint8_t *out, size_t cap)
{
	size_t len;

	switch (c) {
	case LINUX_COMP_GZIP: len = gzip_data(in, n, out, cap); break;
	case LINUX_COMP_XZ: len = xz_data(in, n, out, cap, false); break;
	case LINUX_COMP_LZMA: len = xz_data(in, n, out, cap, true); break;
	case LINUX_COMP_ZSTD: {
		/* with a checksum, as the zstd tool the kernel build runs */
		ZSTD_CCtx *z = ZSTD_createCCtx();

		assert_non_null(z);
		ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, 19);
		ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag, 1);
		len = ZSTD_compress2(z, out, cap, in, n);
		assert_false(ZSTD_isError(len));
		ZSTD_freeCCtx(z);
		break;
	}
	default:
		memcpy(out, in, n);
		return n;               /* uncompressed: no size trailer */
	}
	wr32(out + len, (uint32_t)n);           /* size_append */
	return len + 4;
}

#define SETUP_SECTS 2u
#define PAYLOAD_OFF 0x40u
#define BZ_MAX (65536u)

/* A bzImage: boot sector + setup (3 sectors), then the protected-mode part
 * with the payload PAYLOAD_OFF bytes in. */
static size_t make_bz(uint8_t *b, enum linux_comp c, uint16_t version)
{
	size_t setup = (SETUP_SECTS + 1) * 512, plen;
	uint8_t elf[sizeof(elf_img)];
	size_t n = make_elf(elf);

	memset(b, 0, BZ_MAX);
	b[0x1f1] = SETUP_SECTS;
	b[0x1fe] = 0x55;
	b[0x1ff] = 0xaa;
	b[0x200] = 0xeb;
	b[0x201] = 0x66;                        /* header ends at 0x268 */
	memcpy(b + 0x202, "HdrS", 4);
	memcpy(b + 0x206, &version, 2);
	wr32(b + 0x22c, 0x7fffffff);            /* initrd_addr_max */
	wr32(b + 0x238, 2047);                  /* cmdline_size */
	b[0x236] = 0x03;                        /* xloadflags: 64-bit, above 4G */
	plen = compress_payload(c, elf, n, b + setup + PAYLOAD_OFF, BZ_MAX - setup - PAYLOAD_OFF - 4);
	wr32(b + 0x248, PAYLOAD_OFF);
	wr32(b + 0x24c, (uint32_t)plen);
	return setup + PAYLOAD_OFF + plen + 64;         /* some trailing bytes */
}

/* ---- tests --------------------------------------------------------------- */

static void check_parsed(const struct linux_image *img)
{
	uint8_t elf[sizeof(elf_img)];
	size_t n = make_elf(elf);

	assert_int_equal(img->elf_size, n);
	assert_memory_equal(img->elf, elf, n);
	assert_int_equal(img->entry, KBASE);
	assert_int_equal(img->nr_segs, 1);
	assert_int_equal(img->segs[0].paddr, KBASE);
	assert_int_equal(img->segs[0].filesz, CODE);
	assert_int_equal(img->kernel_start, KBASE);
	assert_int_equal(img->kernel_end, KBASE + CODE + BSS);
}

static void test_vmlinux(void **state)
{
	struct linux_image img;
	char err[256];
	size_t n = make_elf(elf_img);

	(void)state;
	assert_int_equal(linux_image_parse(elf_img, n, &img, err, sizeof(err)), 0);
	assert_int_equal(img.comp, LINUX_COMP_NONE);
	assert_int_equal(img.hdr_len, 0);
	assert_ptr_equal(img.elf, elf_img);     /* used in place */
	check_parsed(&img);
	linux_image_free(&img);
}

static void test_bzimage_formats(void **state)
{
	static const enum linux_comp cs[] = { LINUX_COMP_GZIP, LINUX_COMP_XZ,
		LINUX_COMP_LZMA, LINUX_COMP_ZSTD, LINUX_COMP_NONE };
	uint8_t *b = malloc(BZ_MAX);
	struct linux_image img;
	char err[256];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(cs) / sizeof(cs[0]); i++) {
		n = make_bz(b, cs[i], 0x020f);
		err[0] = '\0';
		assert_int_equal(linux_image_parse(b, n, &img, err, sizeof(err)), 0);
		assert_int_equal(img.comp, cs[i]);
		assert_int_equal(img.version, 0x020f);
		assert_int_equal(img.hdr_len, 0x268 - 0x1f1);
		assert_int_equal(img.cmdline_max, 2048);
		assert_true(img.initrd_max == UINT64_MAX);
		check_parsed(&img);
		linux_image_free(&img);
		assert_null(img.elf);
	}
	free(b);
}

/* Every prefix of a bzImage is refused with a message, never a crash. */
static void test_truncated(void **state)
{
	uint8_t *b = malloc(BZ_MAX), *copy;
	struct linux_image img;
	char err[256];
	size_t n, len, full;
	int r;

	(void)state;
	n = make_bz(b, LINUX_COMP_XZ, 0x020f);
	full = n - 64;                          /* without the trailing bytes */
	for (len = 0; len < full; len++) {
		copy = malloc(len ? len : 1);   /* exact size: ASan sees overreads */
		memcpy(copy, b, len);
		err[0] = '\0';
		r = linux_image_parse(copy, len, &img, err, sizeof(err));
		assert_true(r < 0);
		assert_true(err[0] != '\0');
		assert_null(img.elf);
		free(copy);
	}
	assert_int_equal(linux_image_parse(b, full, &img, err, sizeof(err)), 0);
	linux_image_free(&img);
	free(b);
}

static int parse_err(uint8_t *b, size_t n, char *err, size_t errlen)
{
	struct linux_image img;
	int r;

	err[0] = '\0';
	r = linux_image_parse(b, n, &img, err, errlen);
	if (r == 0)
		linux_image_free(&img);
	return r;
}

static void test_bad_headers(void **state)
{
	uint8_t *b = malloc(BZ_MAX);
	char err[256];
	size_t n;

	(void)state;
	n = make_bz(b, LINUX_COMP_GZIP, 0x020f);
	b[0x1fe] = 0;                           /* boot flag */
	assert_int_equal(parse_err(b, n, err, sizeof(err)), -ENOEXEC);
	assert_non_null(strstr(err, "neither a bzImage"));
	n = make_bz(b, LINUX_COMP_GZIP, 0x020f);
	b[0x202] = 'X';                         /* "HdrS" */
	assert_int_equal(parse_err(b, n, err, sizeof(err)), -ENOEXEC);
	n = make_bz(b, LINUX_COMP_GZIP, 0x0206);
	assert_int_equal(parse_err(b, n, err, sizeof(err)), -ENOEXEC);
	assert_non_null(strstr(err, "2.06 is too old"));
	n = make_bz(b, LINUX_COMP_GZIP, 0x020f);
	wr32(b + 0x24c, 0xffffffffu);           /* payload_length */
	assert_int_equal(parse_err(b, n, err, sizeof(err)), -ENOEXEC);
	assert_non_null(strstr(err, "outside the file"));
	n = make_bz(b, LINUX_COMP_GZIP, 0x020f);
	wr32(b + 0x248, 0xfffffff0u);           /* payload_offset: overflow */
	assert_int_equal(parse_err(b, n, err, sizeof(err)), -ENOEXEC);
	n = make_bz(b, LINUX_COMP_GZIP, 0x020f);
	b[0x1f1] = 0xff;                        /* setup beyond the file */
	assert_int_equal(parse_err(b, n, err, sizeof(err)), -ENOEXEC);
	n = make_bz(b, LINUX_COMP_GZIP, 0x020f);
	b[0x201] = 0xff;                        /* header "length" clamped */
	assert_int_equal(parse_err(b, n, err, sizeof(err)), 0);
	free(b);
}

static void test_bad_payload(void **state)
{
	size_t setup = (SETUP_SECTS + 1) * 512, plen;
	uint8_t *b = malloc(BZ_MAX), *p = b + setup + PAYLOAD_OFF;
	char err[256];
	size_t n;

	(void)state;
	n = make_bz(b, LINUX_COMP_GZIP, 0x020f);
	memcpy(p, "BZh91AY", 7);
	assert_int_equal(parse_err(b, n, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "bzip2"));
	memcpy(p, "\x02\x21\x4c\x18", 4);
	assert_int_equal(parse_err(b, n, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "lz4"));
	memcpy(p, "\x01\x02\x03\x04", 4);
	assert_int_equal(parse_err(b, n, err, sizeof(err)), -ENOEXEC);
	assert_non_null(strstr(err, "unknown payload format"));

	/* Corrupt data inside each compressed stream. */
	n = make_bz(b, LINUX_COMP_XZ, 0x020f);
	plen = rd32(b + 0x24c);
	p[plen / 2] ^= 0x55;
	assert_int_equal(parse_err(b, n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "corrupt"));
	n = make_bz(b, LINUX_COMP_GZIP, 0x020f);
	p[rd32(b + 0x24c) / 2] ^= 0x55;
	assert_true(parse_err(b, n, err, sizeof(err)) < 0);
	n = make_bz(b, LINUX_COMP_ZSTD, 0x020f);
	p[rd32(b + 0x24c) / 2] ^= 0x55;
	assert_true(parse_err(b, n, err, sizeof(err)) < 0);

	/* Size trailer smaller than the data, absurd, or tiny. */
	n = make_bz(b, LINUX_COMP_XZ, 0x020f);
	plen = rd32(b + 0x24c);
	wr32(p + plen - 4, rd32(p + plen - 4) - 1);
	assert_int_equal(parse_err(b, n, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "larger than announced"));
	n = make_bz(b, LINUX_COMP_ZSTD, 0x020f);
	plen = rd32(b + 0x24c);
	wr32(p + plen - 4, rd32(p + plen - 4) - 100);
	assert_int_equal(parse_err(b, n, err, sizeof(err)), -E2BIG);
	n = make_bz(b, LINUX_COMP_GZIP, 0x020f);
	plen = rd32(b + 0x24c);
	wr32(p + plen - 4, rd32(p + plen - 4) - 1);
	assert_int_equal(parse_err(b, n, err, sizeof(err)), -E2BIG);
	wr32(p + plen - 4, 0xffffffffu);
	assert_int_equal(parse_err(b, n, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "out of range"));
	wr32(p + plen - 4, 3);
	assert_int_equal(parse_err(b, n, err, sizeof(err)), -E2BIG);

	/* Truncated stream: the payload ends early (size kept at the end). */
	n = make_bz(b, LINUX_COMP_LZMA, 0x020f);
	plen = rd32(b + 0x24c);
	memmove(p + plen / 2, p + plen - 4, 4);
	wr32(b + 0x24c, (uint32_t)(plen / 2 + 4));
	assert_int_equal(parse_err(b, n, err, sizeof(err)), -EINVAL);
	free(b);
}

static int elf_err(void (*mutate)(uint8_t *), char *err, size_t errlen)
{
	struct linux_image img;
	size_t n = make_elf(elf_img);
	int r;

	mutate(elf_img);
	err[0] = '\0';
	r = linux_image_parse(elf_img, n, &img, err, errlen);
	linux_image_free(&img);
	return r;
}

static void m_class(uint8_t *b) { b[EI_CLASS] = ELFCLASS32; }
static void m_machine(uint8_t *b) { ehdr(b)->e_machine = EM_AARCH64; }
static void m_type(uint8_t *b) { ehdr(b)->e_type = ET_DYN; }
static void m_phoff(uint8_t *b) { ehdr(b)->e_phoff = 0xfffffffffffffff0ull; }
static void m_phnum(uint8_t *b) { ehdr(b)->e_phnum = 0xffff; }
static void m_phent(uint8_t *b) { ehdr(b)->e_phentsize = 32; }
static void m_seg_off(uint8_t *b) { load_ph(b)->p_offset = 0xffffffffffff0000ull; }
static void m_seg_size(uint8_t *b) { load_ph(b)->p_filesz = CODE + 1; load_ph(b)->p_memsz = CODE + 1; }
static void m_filesz(uint8_t *b) { load_ph(b)->p_memsz = CODE - 1; }
static void m_memsz(uint8_t *b) { load_ph(b)->p_memsz = 1ull << 40; }
static void m_paddr(uint8_t *b) { load_ph(b)->p_paddr = 0xfffffffffffff000ull; }
static void m_entry(uint8_t *b) { ehdr(b)->e_entry = KBASE + CODE; }
static void m_noload(uint8_t *b) { load_ph(b)->p_type = PT_NOTE; }

static void test_bad_elf(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(elf_err(m_class, err, sizeof(err)), -ENOEXEC);
	assert_non_null(strstr(err, "64-bit x86"));
	assert_int_equal(elf_err(m_machine, err, sizeof(err)), -ENOEXEC);
	assert_int_equal(elf_err(m_type, err, sizeof(err)), -ENOEXEC);
	assert_int_equal(elf_err(m_phoff, err, sizeof(err)), -ENOEXEC);
	assert_non_null(strstr(err, "program headers"));
	assert_int_equal(elf_err(m_phnum, err, sizeof(err)), -ENOEXEC);
	assert_int_equal(elf_err(m_phent, err, sizeof(err)), -ENOEXEC);
	assert_int_equal(elf_err(m_seg_off, err, sizeof(err)), -ENOEXEC);
	assert_non_null(strstr(err, "outside the file"));
	assert_int_equal(elf_err(m_seg_size, err, sizeof(err)), -ENOEXEC);
	assert_int_equal(elf_err(m_filesz, err, sizeof(err)), -ENOEXEC);
	assert_int_equal(elf_err(m_memsz, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "too large"));
	assert_int_equal(elf_err(m_paddr, err, sizeof(err)), -E2BIG);
	assert_int_equal(elf_err(m_entry, err, sizeof(err)), -ENOEXEC);
	assert_non_null(strstr(err, "entry point"));
	assert_int_equal(elf_err(m_noload, err, sizeof(err)), -ENOEXEC);
	assert_non_null(strstr(err, "no loadable segment"));
}

/* Random corruption of header and payload bytes: errors or a parse whose
 * segments lie inside the decompressed ELF, never a crash. */
static void test_random_corruption(void **state)
{
	uint8_t *b = malloc(BZ_MAX);
	struct linux_image img;
	char err[256];
	unsigned int i, k, seed = 12345;
	size_t n;

	(void)state;
	for (i = 0; i < 1500; i++) {
		n = make_bz(b, i % 2 ? LINUX_COMP_ZSTD : LINUX_COMP_NONE, 0x020f);
		for (k = 0; k < 1 + i % 4; k++) {
			seed = seed * 1103515245u + 12345u;
			b[(seed >> 8) % n] ^= (uint8_t)(1u << (seed % 8));
		}
		if (linux_image_parse(b, n, &img, err, sizeof(err)) == 0) {
			for (k = 0; k < img.nr_segs; k++)
				assert_true(img.segs[k].offset + img.segs[k].filesz <=
					    img.elf_size);
			linux_image_free(&img);
		}
	}
	free(b);
}

static void test_initrd_place(void **state)
{
	struct linux_image img = { 0 };
	uint64_t gpa;

	(void)state;
	img.kernel_end = KBASE + 0x3000001;
	img.initrd_max = UINT64_MAX;
	assert_int_equal(linux_initrd_place(&img, 0x200000, 0x8200000, 0x100001, &gpa), 0);
	assert_int_equal(gpa % 4096, 0);
	assert_true(gpa + 0x100001 <= 0x8200000);
	assert_true(gpa >= 0x8200000 - 0x102000);
	img.initrd_max = 0x5ffffff;             /* below 96 MiB */
	assert_int_equal(linux_initrd_place(&img, 0x200000, 0x8200000, 0x100000, &gpa), 0);
	assert_int_equal(gpa, 0x6000000 - 0x100000);
	/* Too big to fit above the kernel, zero, or larger than RAM. */
	assert_int_equal(linux_initrd_place(&img, 0x200000, 0x8200000, 0x2000000, &gpa), -E2BIG);
	assert_int_equal(linux_initrd_place(&img, 0x200000, 0x8200000, 0, &gpa), -E2BIG);
	img.initrd_max = UINT64_MAX;
	assert_int_equal(linux_initrd_place(&img, 0x200000, 0x8200000, UINT64_MAX, &gpa), -E2BIG);
}

static void test_cmdline(void **state)
{
	struct linux_mmio_dev devs[2] = { { 0x8200000, 0x200, 5 }, { 0x8200200, 0x200, 6 } };
	char out[256];
	int r;

	(void)state;
	r = linux_cmdline(out, sizeof(out), "console=ttyS0", devs, 2);
	assert_string_equal(out, "console=ttyS0 virtio_mmio.device=0x200@0x8200000:5 "
			    "virtio_mmio.device=0x200@0x8200200:6");
	assert_int_equal(r, (int)strlen(out));
	r = linux_cmdline(out, sizeof(out), NULL, devs, 1);
	assert_string_equal(out, "virtio_mmio.device=0x200@0x8200000:5");
	assert_int_equal(r, (int)strlen(out));
	assert_int_equal(linux_cmdline(out, sizeof(out), "", NULL, 0), 0);
	assert_int_equal(linux_cmdline(out, 20, "console=ttyS0", devs, 1), -E2BIG);
	assert_int_equal(linux_cmdline(out, 13, "console=ttyS0", NULL, 0), -E2BIG);
	assert_int_equal(linux_cmdline(out, 14, "console=ttyS0", NULL, 0), 13);
	assert_int_equal(linux_cmdline(out, sizeof(out), "a\nb", NULL, 0), -EINVAL);
	assert_int_equal(linux_cmdline(out, 0, "a", NULL, 0), -E2BIG);
}

static void test_boot_params(void **state)
{
	struct linux_e820 map[LINUX_MAX_E820 + 1] = {
		{ 0, 0x9fc00, LINUX_E820_RAM }, { 0x200000, 0x8000000, LINUX_E820_RAM },
	};
	uint8_t *b = malloc(BZ_MAX), bp[LINUX_ZERO_PAGE_SIZE];
	struct linux_image img;
	char err[256];
	size_t n;

	(void)state;
	n = make_bz(b, LINUX_COMP_GZIP, 0x020f);
	assert_int_equal(linux_image_parse(b, n, &img, err, sizeof(err)), 0);
	memset(bp, 0xee, sizeof(bp));
	assert_int_equal(linux_boot_params(bp, &img, 0x20000, 0x123456000ull, 0x1000,
					   map, 2), 0);
	assert_memory_equal(bp + 0x202, "HdrS", 4);     /* the image's header */
	assert_int_equal(bp[0x1f1], SETUP_SECTS);
	assert_int_equal(bp[0x210], 0xff);              /* type_of_loader */
	assert_int_equal(bp[0x211] & 1, 1);             /* LOADED_HIGH */
	assert_int_equal(rd32(bp + 0x228), 0x20000);
	assert_int_equal(rd32(bp + 0x218), 0x23456000);
	assert_int_equal(rd32(bp + 0xc0), 0x1);         /* ext_ramdisk_image */
	assert_int_equal(rd32(bp + 0x21c), 0x1000);
	assert_int_equal(bp[0x1e8], 2);
	assert_int_equal(rd64(bp + 0x2d0 + 20), 0x200000);
	assert_int_equal(rd64(bp + 0x2d0 + 28), 0x8000000);
	assert_int_equal(rd32(bp + 0x2d0 + 36), 1);
	assert_int_equal(bp[0x1ef], 0);                 /* sentinel */
	assert_int_equal(bp[0x268], 0);                 /* past the header */
	assert_int_equal(bp[4095], 0);
	assert_int_equal(linux_boot_params(bp, &img, 0, 0, 0, map, LINUX_MAX_E820 + 1),
			 -E2BIG);
	linux_image_free(&img);

	/* A vmlinux gets a minimal header. */
	n = make_elf(elf_img);
	assert_int_equal(linux_image_parse(elf_img, n, &img, err, sizeof(err)), 0);
	assert_int_equal(linux_boot_params(bp, &img, 0x20000, 0, 0, map, 2), 0);
	assert_memory_equal(bp + 0x202, "HdrS", 4);
	assert_int_equal(bp[0x1fe], 0x55);
	assert_int_equal(rd32(bp + 0x238), 2047);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmlinux),
		cmocka_unit_test(test_bzimage_formats),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_bad_payload),
		cmocka_unit_test(test_bad_elf),
		cmocka_unit_test(test_random_corruption),
		cmocka_unit_test(test_initrd_place),
		cmocka_unit_test(test_cmdline),
		cmocka_unit_test(test_boot_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
