/*
 * linux_image.c - bzImage and vmlinux parsing, host-side decompression of
 * the bzImage payload, and the boot_params of the 64-bit boot protocol.
 *
 * Owns: the decompressed vmlinux buffer of a struct linux_image.
 * Locks: none (pure functions).
 * Invariants: no byte of an image is read before its offset and length are
 * checked against the file size (overflow-safe); decompression output is
 * bounded by LINUX_MAX_KERNEL and by the size the image itself announces.
 *
 * Why on the host: the bzImage's own decompressor runs at CPL0, which the
 * nested KVM here emulates (~1 us per instruction, PLATFORM.md) - minutes
 * for a Debian kernel.  The payload is decompressed with the library its
 * magic names (liblzma for xz and lzma, zlib for gzip, libzstd for zstd)
 * and the vmlinux inside is loaded as Firecracker and Cloud Hypervisor load
 * one.  The header layout (offsets below) is the x86 boot protocol's; no
 * library parses it, hence the hand-written reader.
 */
#include <elf.h>
#include <errno.h>
#include <lzma.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "linux_image.h"

/* struct setup_header / struct boot_params offsets (boot.rst). */
#define BP_E820_ENTRIES         0x1e8
#define BP_SENTINEL             0x1ef
#define HDR_START               0x1f1
#define HDR_SETUP_SECTS         0x1f1
#define HDR_BOOT_FLAG           0x1fe
#define HDR_JUMP                0x200
#define HDR_MAGIC               0x202
#define HDR_VERSION             0x206
#define HDR_TYPE_OF_LOADER      0x210
#define HDR_LOADFLAGS           0x211
#define HDR_RAMDISK_IMAGE       0x218
#define HDR_RAMDISK_SIZE        0x21c
#define HDR_CMD_LINE_PTR        0x228
#define HDR_INITRD_ADDR_MAX     0x22c
#define HDR_XLOADFLAGS          0x236
#define HDR_CMDLINE_SIZE        0x238
#define HDR_PAYLOAD_OFFSET      0x248
#define HDR_PAYLOAD_LENGTH      0x24c
#define HDR_END_MAX             0x290   /* struct setup_header ends before */
#define BP_EXT_RAMDISK_IMAGE    0x0c0
#define BP_EXT_RAMDISK_SIZE     0x0c4
#define BP_EXT_CMD_LINE_PTR     0x0c8
#define BP_E820_TABLE           0x2d0

#define LOADED_HIGH             0x01
#define XLF_CAN_BE_LOADED_ABOVE_4G 0x02
#define LOADER_UNDEFINED        0xff    /* type_of_loader: "no assigned id" */

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

const char *linux_comp_name(enum linux_comp c)
{
	static const char *const names[] = { "none", "gzip", "xz", "lzma", "zstd" };

	return (unsigned int)c < sizeof(names) / sizeof(names[0]) ? names[c] : "?";
}

/* ---- decompression --------------------------------------------------- */

/* liblzma: xz (the kernel's default: BCJ x86 + LZMA2, crc32) and .lzma. */
static int unxz(enum linux_comp c, const uint8_t *in, size_t n, uint8_t *out,
		size_t max, size_t *outlen)
{
	lzma_stream s = LZMA_STREAM_INIT;
	const uint64_t memlimit = 1ull << 30;
	lzma_ret lr;
	int r;

	lr = c == LINUX_COMP_XZ ? lzma_stream_decoder(&s, memlimit, 0) :
		lzma_alone_decoder(&s, memlimit);
	if (lr != LZMA_OK)
		return lr == LZMA_MEM_ERROR ? -ENOMEM : -EINVAL;
	s.next_in = in;
	s.avail_in = n;
	s.next_out = out;
	s.avail_out = max;
	/* LZMA_OK: progress, call again; a full output buffer with the
	 * stream not ended means the data is larger than announced; no
	 * progress possible (LZMA_BUF_ERROR) means truncated input. */
	do {
		lr = lzma_code(&s, LZMA_FINISH);
	} while (lr == LZMA_OK && s.avail_out);
	*outlen = max - s.avail_out;
	r = lr == LZMA_STREAM_END ? 0 :
	    lr == LZMA_MEM_ERROR || lr == LZMA_MEMLIMIT_ERROR ? -ENOMEM :
	    lr == LZMA_OK ? -E2BIG : -EINVAL;
	lzma_end(&s);
	return r;
}

static int ungzip(const uint8_t *in, size_t n, uint8_t *out, size_t max,
		  size_t *outlen)
{
	z_stream z;
	int zr, r;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)      /* gzip wrapper */
		return -ENOMEM;
	r = 0;
	*outlen = 0;
	/* avail_* are 32-bit: feed in pieces (sizes are bounded anyway). */
	z.next_in = (Bytef *)in;
	z.next_out = out;
	do {
		size_t in_left = n - (size_t)(z.next_in - in);
		size_t out_left = max - (size_t)(z.next_out - out);

		z.avail_in = in_left > (1u << 30) ? 1u << 30 : (uInt)in_left;
		z.avail_out = out_left > (1u << 30) ? 1u << 30 : (uInt)out_left;
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr == Z_BUF_ERROR && !z.avail_out)
			r = -E2BIG;
		else if (zr != Z_OK && zr != Z_STREAM_END)
			r = zr == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
		else if (zr == Z_OK && !z.avail_in && z.avail_out &&
			 (size_t)(z.next_in - in) == n)
			r = -EINVAL;        /* input ended inside the stream */
	} while (!r && zr != Z_STREAM_END);
	*outlen = (size_t)(z.next_out - out);
	inflateEnd(&z);
	return r;
}

static int unzstd(const uint8_t *in, size_t n, uint8_t *out, size_t max,
		  size_t *outlen)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	ZSTD_inBuffer ib = { in, n, 0 };
	ZSTD_outBuffer ob = { out, max, 0 };
	size_t zr;
	int r = -EINVAL;

	if (!d)
		return -ENOMEM;
	/* The kernel compresses with --ultra -22: windows up to 2^27 and
	 * beyond the default limit; allow them, bounded. */
	ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 30);
	for (;;) {
		zr = ZSTD_decompressStream(d, &ob, &ib);
		if (ZSTD_isError(zr))
			break;
		if (zr == 0) {          /* a whole frame decoded */
			r = 0;
			break;
		}
		if (ob.pos == ob.size) {
			r = -E2BIG;
			break;
		}
		if (ib.pos == ib.size)
			break;          /* truncated */
	}
	*outlen = ob.pos;
	ZSTD_freeDCtx(d);
	return r;
}

int linux_decompress(enum linux_comp c, const uint8_t *in, size_t n, size_t max,
		     uint8_t **out, size_t *outlen)
{
	uint8_t *buf;
	int r;

	*out = NULL;
	*outlen = 0;
	if (max == 0 || max > LINUX_MAX_KERNEL)
		return -E2BIG;
	/* One byte of slack: a stream that ends exactly at `max` is seen to
	 * end (the decoders may want output room to read their trailer),
	 * and one byte more than `max` is caught below. */
	buf = malloc(max + 1);
	if (!buf)
		return -ENOMEM;
	switch (c) {
	case LINUX_COMP_GZIP:
		r = ungzip(in, n, buf, max + 1, outlen);
		break;
	case LINUX_COMP_XZ:
	case LINUX_COMP_LZMA:
		r = unxz(c, in, n, buf, max + 1, outlen);
		break;
	case LINUX_COMP_ZSTD:
		r = unzstd(in, n, buf, max + 1, outlen);
		break;
	default:
		r = -ENOTSUP;
		break;
	}
	if (r == 0 && *outlen > max)
		r = -E2BIG;
	if (r < 0) {
		free(buf);
		*outlen = 0;
		return r;
	}
	*out = buf;
	return 0;
}

/* The payload's format from its magic (what the kernel's own
 * decompressor would pick, arch/x86/boot/compressed/misc.c). */
static int detect_comp(const uint8_t *p, size_t n, enum linux_comp *c,
		       const char **other)
{
	static const struct { uint8_t magic[6]; size_t len; const char *name; } no[] = {
		{ { 'B', 'Z', 'h' }, 3, "bzip2" },
		{ { 0x89, 'L', 'Z', 'O' }, 4, "lzo" },
		{ { 0x02, 0x21, 0x4c, 0x18 }, 4, "lz4" },
	};
	size_t i;

	*other = NULL;
	if (n >= 2 && p[0] == 0x1f && (p[1] == 0x8b || p[1] == 0x9e))
		*c = LINUX_COMP_GZIP;
	else if (n >= 6 && !memcmp(p, "\xfd" "7zXZ\0", 6))
		*c = LINUX_COMP_XZ;
	else if (n >= 3 && p[0] == 0x5d && p[1] == 0 && p[2] == 0)
		*c = LINUX_COMP_LZMA;
	else if (n >= 4 && rd32(p) == 0xfd2fb528u)
		*c = LINUX_COMP_ZSTD;
	else if (n >= 4 && !memcmp(p, ELFMAG, SELFMAG))
		*c = LINUX_COMP_NONE;   /* CONFIG_KERNEL_UNCOMPRESSED */
	else {
		for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
			if (n >= no[i].len && !memcmp(p, no[i].magic, no[i].len))
				*other = no[i].name;
		return *other ? -ENOTSUP : -ENOEXEC;
	}
	return 0;
}

/* ---- ELF --------------------------------------------------------------- */

static int check_ehdr(const Elf64_Ehdr *eh, size_t size, char *err, size_t errlen)
{
	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG))
		return fail(err, errlen, -ENOEXEC, "vmlinux: not an ELF file");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64)
		return fail(err, errlen, -ENOEXEC, "vmlinux: not a 64-bit x86 ELF");
	if (eh->e_type != ET_EXEC)
		return fail(err, errlen, -ENOEXEC, "vmlinux: not an executable ELF "
			    "(type %u)", eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    eh->e_phoff > size ||
	    (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > size - eh->e_phoff)
		return fail(err, errlen, -ENOEXEC, "vmlinux: program headers "
			    "missing or outside the file");
	return 0;
}

static int add_seg(const Elf64_Phdr *ph, size_t size, struct linux_image *img,
		   char *err, size_t errlen)
{
	struct linux_seg *s;

	if (ph->p_offset > size || ph->p_filesz > size - ph->p_offset ||
	    ph->p_filesz > ph->p_memsz)
		return fail(err, errlen, -ENOEXEC, "vmlinux: a segment lies "
			    "outside the file");
	if (ph->p_memsz > LINUX_MAX_KERNEL || ph->p_paddr > LINUX_MAX_KERNEL * 64)
		return fail(err, errlen, -E2BIG, "vmlinux: a segment is too large "
			    "or too high (0x%llx bytes at 0x%llx)",
			    (unsigned long long)ph->p_memsz,
			    (unsigned long long)ph->p_paddr);
	if (img->nr_segs == LINUX_MAX_SEGS)
		return fail(err, errlen, -E2BIG, "vmlinux: more than %u loadable "
			    "segments", LINUX_MAX_SEGS);
	s = &img->segs[img->nr_segs++];
	s->offset = ph->p_offset;
	s->filesz = ph->p_filesz;
	s->memsz = ph->p_memsz;
	s->paddr = ph->p_paddr;
	if (!s->memsz)
		return 0;
	if (img->nr_segs == 1 || s->paddr < img->kernel_start)
		img->kernel_start = s->paddr;
	if (s->paddr + s->memsz > img->kernel_end)
		img->kernel_end = s->paddr + s->memsz;
	return 0;
}

int linux_elf_parse(const uint8_t *elf, size_t size, struct linux_image *img,
		    char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	unsigned int i;
	bool entry_ok = false;
	int r;

	if (size < sizeof(eh))
		return fail(err, errlen, -ENOEXEC, "vmlinux: truncated ELF header");
	memcpy(&eh, elf, sizeof(eh));
	r = check_ehdr(&eh, size, err, errlen);
	if (r < 0)
		return r;
	img->nr_segs = 0;
	img->kernel_start = img->kernel_end = 0;
	for (i = 0; i < eh.e_phnum; i++) {
		memcpy(&ph, elf + eh.e_phoff + (size_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD)
			continue;
		r = add_seg(&ph, size, img, err, errlen);
		if (r < 0)
			return r;
		if (eh.e_entry >= ph.p_paddr && eh.e_entry - ph.p_paddr < ph.p_filesz)
			entry_ok = true;
	}
	if (!img->kernel_end)
		return fail(err, errlen, -ENOEXEC, "vmlinux: no loadable segment");
	/* vmlinux.lds: ENTRY(phys_startup_64) - a physical address. */
	if (!entry_ok)
		return fail(err, errlen, -ENOEXEC, "vmlinux: entry point 0x%llx is "
			    "not inside a loaded segment",
			    (unsigned long long)eh.e_entry);
	img->entry = eh.e_entry;
	return 0;
}

/* ---- bzImage ----------------------------------------------------------- */

static int bz_header(const uint8_t *f, size_t size, struct linux_image *img,
		     size_t *poff, size_t *plen, char *err, size_t errlen)
{
	size_t setup, end;

	if (size < HDR_PAYLOAD_LENGTH + 4)
		return fail(err, errlen, -ENOEXEC, "bzImage: truncated setup header "
			    "(%zu bytes)", size);
	img->version = rd16(f + HDR_VERSION);
	if (img->version < 0x0208)
		return fail(err, errlen, -ENOEXEC, "bzImage: boot protocol %u.%02u "
			    "is too old (2.08 or later needed)", img->version >> 8,
			    img->version & 0xff);
	setup = ((size_t)(f[HDR_SETUP_SECTS] ? f[HDR_SETUP_SECTS] : 4) + 1) * 512;
	*poff = rd32(f + HDR_PAYLOAD_OFFSET);
	*plen = rd32(f + HDR_PAYLOAD_LENGTH);
	if (setup > size || *poff > size - setup || *plen > size - setup - *poff ||
	    *plen < 8)
		return fail(err, errlen, -ENOEXEC, "bzImage: payload (%zu bytes at "
			    "%zu) lies outside the file (%zu bytes)", *plen,
			    setup + *poff, size);
	*poff += setup;
	/* The header runs to the end of the jump at 0x200 (boot.rst). */
	end = HDR_MAGIC + f[HDR_JUMP + 1];
	if (end > HDR_END_MAX)
		end = HDR_END_MAX;
	img->hdr_len = end - HDR_START;
	memcpy(img->hdr, f + HDR_START, img->hdr_len);
	img->cmdline_max = rd32(f + HDR_CMDLINE_SIZE) + 1;
	if (img->cmdline_max < 256 || img->cmdline_max > 65536)
		img->cmdline_max = LINUX_CMDLINE_DEFAULT_MAX;
	img->initrd_max = (f[HDR_XLOADFLAGS] & XLF_CAN_BE_LOADED_ABOVE_4G) ?
		UINT64_MAX : rd32(f + HDR_INITRD_ADDR_MAX);
	return 0;
}

static int bz_payload(const uint8_t *p, size_t n, struct linux_image *img,
		      char *err, size_t errlen)
{
	const char *other;
	uint32_t usize;
	int r;

	r = detect_comp(p, n, &img->comp, &other);
	if (r == -ENOTSUP)
		return fail(err, errlen, r, "bzImage: %s-compressed kernels are not "
			    "supported (gzip, xz, lzma, zstd are; or pass the "
			    "uncompressed vmlinux)", other);
	if (r < 0)
		return fail(err, errlen, r, "bzImage: unknown payload format "
			    "(magic %02x %02x %02x %02x)", p[0], p[1], p[2], p[3]);
	if (img->comp == LINUX_COMP_NONE) {
		img->elf = (uint8_t *)p;
		img->elf_size = n;
		return 0;
	}
	/* Every kernel compressor rule appends the uncompressed size, 32-bit
	 * little-endian (scripts/Makefile.lib size_append). */
	usize = rd32(p + n - 4);
	if (usize < sizeof(Elf64_Ehdr) || usize > LINUX_MAX_KERNEL)
		return fail(err, errlen, -E2BIG, "bzImage: announced kernel size %u "
			    "is out of range", usize);
	r = linux_decompress(img->comp, p, n - 4, usize, &img->elf, &img->elf_size);
	if (r < 0)
		return fail(err, errlen, r, "bzImage: cannot decompress the %s "
			    "payload: %s", linux_comp_name(img->comp),
			    r == -E2BIG ? "larger than announced" :
			    r == -ENOMEM ? "out of memory" : "corrupt data");
	img->elf_owned = true;
	return 0;
}

int linux_image_parse(const uint8_t *file, size_t size, struct linux_image *img,
		      char *err, size_t errlen)
{
	size_t poff = 0, plen = 0;
	int r;

	memset(img, 0, sizeof(*img));
	img->cmdline_max = LINUX_CMDLINE_DEFAULT_MAX;
	img->initrd_max = UINT64_MAX;
	if (size >= SELFMAG && !memcmp(file, ELFMAG, SELFMAG)) {
		img->elf = (uint8_t *)file;
		img->elf_size = size;
		return linux_elf_parse(file, size, img, err, errlen);
	}
	if (size < HDR_MAGIC + 4 || rd16(file + HDR_BOOT_FLAG) != 0xaa55 ||
	    memcmp(file + HDR_MAGIC, "HdrS", 4))
		return fail(err, errlen, -ENOEXEC, "neither a bzImage (no \"HdrS\" "
			    "setup header) nor a vmlinux ELF");
	r = bz_header(file, size, img, &poff, &plen, err, errlen);
	if (r == 0)
		r = bz_payload(file + poff, plen, img, err, errlen);
	if (r == 0)
		r = linux_elf_parse(img->elf, img->elf_size, img, err, errlen);
	if (r < 0)
		linux_image_free(img);
	return r;
}

void linux_image_free(struct linux_image *img)
{
	if (img->elf_owned)
		free(img->elf);
	img->elf = NULL;
	img->elf_owned = false;
}

int linux_cmdline(char *out, size_t max, const char *user,
		  const struct linux_mmio_dev *devs, unsigned int nr_devs)
{
	size_t len = 0;
	unsigned int i;
	const char *p;
	int n;

	if (!max)
		return -E2BIG;
	out[0] = '\0';
	for (p = user ? user : ""; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return -EINVAL;
	n = snprintf(out, max, "%s", user ? user : "");
	if (n < 0 || (size_t)n >= max)
		return -E2BIG;
	len = (size_t)n;
	for (i = 0; i < nr_devs; i++) {
		n = snprintf(out + len, max - len, "%svirtio_mmio.device=0x%llx@0x%llx:%u",
			     len ? " " : "", (unsigned long long)devs[i].size,
			     (unsigned long long)devs[i].base, devs[i].irq);
		if (n < 0 || (size_t)n >= max - len)
			return -E2BIG;
		len += (size_t)n;
	}
	return (int)len;
}

/* ---- placement and boot_params --------------------------------------- */

int linux_initrd_place(const struct linux_image *img, uint64_t ram_start,
		       uint64_t ram_end, uint64_t size, uint64_t *gpa)
{
	uint64_t top = ram_end, low = (img->kernel_end + 4095) & ~4095ull;

	if (img->initrd_max != UINT64_MAX && img->initrd_max + 1 < top)
		top = img->initrd_max + 1;
	if (low < ram_start)
		low = ram_start;
	if (size == 0 || size > top || top - size < low)
		return -E2BIG;
	*gpa = (top - size) & ~4095ull;
	return *gpa >= low ? 0 : -E2BIG;
}

/* A vmlinux carries no setup header: the fields the kernel reads. */
static void minimal_header(uint8_t *bp)
{
	bp[HDR_BOOT_FLAG] = 0x55;
	bp[HDR_BOOT_FLAG + 1] = 0xaa;
	memcpy(bp + HDR_MAGIC, "HdrS", 4);
	bp[HDR_VERSION] = 0x0f;         /* 2.15 */
	bp[HDR_VERSION + 1] = 0x02;
	wr32(bp + HDR_CMDLINE_SIZE, LINUX_CMDLINE_DEFAULT_MAX - 1);
}

int linux_boot_params(uint8_t *bp, const struct linux_image *img,
		      uint64_t cmdline_gpa, uint64_t initrd_gpa,
		      uint64_t initrd_size, const struct linux_e820 *map,
		      unsigned int nr_map)
{
	unsigned int i;

	if (nr_map > LINUX_MAX_E820)
		return -E2BIG;
	memset(bp, 0, LINUX_ZERO_PAGE_SIZE);
	if (img->hdr_len)
		memcpy(bp + HDR_START, img->hdr, img->hdr_len);
	else
		minimal_header(bp);
	bp[BP_SENTINEL] = 0;            /* we did clear the zero page */
	bp[HDR_TYPE_OF_LOADER] = LOADER_UNDEFINED;
	bp[HDR_LOADFLAGS] |= LOADED_HIGH;
	wr32(bp + HDR_CMD_LINE_PTR, (uint32_t)cmdline_gpa);
	wr32(bp + BP_EXT_CMD_LINE_PTR, (uint32_t)(cmdline_gpa >> 32));
	wr32(bp + HDR_RAMDISK_IMAGE, (uint32_t)initrd_gpa);
	wr32(bp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd_gpa >> 32));
	wr32(bp + HDR_RAMDISK_SIZE, (uint32_t)initrd_size);
	wr32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)(initrd_size >> 32));
	bp[BP_E820_ENTRIES] = (uint8_t)nr_map;
	for (i = 0; i < nr_map; i++) {
		uint8_t *e = bp + BP_E820_TABLE + i * 20;

		wr64(e, map[i].addr);
		wr64(e + 8, map[i].size);
		wr32(e + 16, map[i].type);
	}
	return 0;
}
