/*
 * linux_image.h - a Linux kernel image taken apart on the host: a bzImage
 * (boot protocol >= 2.08) whose payload is decompressed here, or an
 * uncompressed vmlinux ELF; and the boot_params ("zero page") built for
 * the 64-bit boot protocol (Documentation/arch/x86/boot.rst).
 *
 * Pure functions over caller buffers, no KVM: unit-tested with malformed
 * images in tests/test_linux_image.c.  Every size and offset read from an
 * image is checked before use; errors are -errno plus one line in err.
 */
#ifndef HVSWAP_VMM_LINUX_IMAGE_H
#define HVSWAP_VMM_LINUX_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest uncompressed kernel accepted (Debian's is ~64 MiB with bss). */
#define LINUX_MAX_KERNEL        (512ull << 20)
#define LINUX_MAX_SEGS          16u
#define LINUX_MAX_E820          128u
#define LINUX_ZERO_PAGE_SIZE    4096u
#define LINUX_CMDLINE_DEFAULT_MAX 2048u    /* x86 COMMAND_LINE_SIZE */

enum linux_comp {
	LINUX_COMP_NONE,        /* a vmlinux ELF given directly */
	LINUX_COMP_GZIP,
	LINUX_COMP_XZ,
	LINUX_COMP_LZMA,
	LINUX_COMP_ZSTD,
};

struct linux_seg {
	uint64_t offset;        /* in the ELF */
	uint64_t filesz, memsz;
	uint64_t paddr;         /* where it is loaded, guest-physical */
};

struct linux_image {
	uint8_t *elf;           /* uncompressed vmlinux; owned when decompressed */
	size_t elf_size;
	bool elf_owned;
	enum linux_comp comp;
	/* bzImage only (hdr_len 0 for a vmlinux): the setup header, copied
	 * to boot_params at the same offset [0x1f1, 0x1f1 + hdr_len). */
	uint8_t hdr[0x290 - 0x1f1];
	size_t hdr_len;
	uint16_t version;       /* boot protocol, 0x020f = 2.15 */
	uint32_t cmdline_max;   /* bytes including the NUL */
	uint64_t initrd_max;    /* highest address an initrd byte may have */
	uint64_t entry;         /* 64-bit entry, guest-physical */
	struct linux_seg segs[LINUX_MAX_SEGS];
	unsigned int nr_segs;
	uint64_t kernel_start, kernel_end;  /* [lowest paddr, highest end) */
};

struct linux_e820 {
	uint64_t addr, size;
	uint32_t type;          /* 1 RAM, 2 reserved */
};

#define LINUX_E820_RAM          1u
#define LINUX_E820_RESERVED     2u

/* A virtio-mmio device announced on the command line. */
struct linux_mmio_dev {
	uint64_t base, size;
	unsigned int irq;
};

const char *linux_comp_name(enum linux_comp c);

/*
 * The kernel command line: `user` (may be NULL) followed by one
 * "virtio_mmio.device=<size>@<base>:<irq>" per device.  Returns the length,
 * or -E2BIG when it does not fit in `max` bytes with its NUL (the kernel's
 * limit, img->cmdline_max), -EINVAL for control characters in `user`.
 */
int linux_cmdline(char *out, size_t max, const char *user,
		  const struct linux_mmio_dev *devs, unsigned int nr_devs);

/*
 * Take a kernel file apart: a vmlinux ELF is referenced in place (file must
 * outlive img), a bzImage's payload is decompressed into a new buffer.
 * Fills img (release with linux_image_free()).  Errors: -ENOEXEC (not a
 * kernel, bad header or ELF), -ENOTSUP (a compression hvswap lacks),
 * -E2BIG (sizes beyond LINUX_MAX_KERNEL), -EINVAL (corrupt payload),
 * -ENOMEM.
 */
int linux_image_parse(const uint8_t *file, size_t size, struct linux_image *img,
		      char *err, size_t errlen);
void linux_image_free(struct linux_image *img);

/* The ELF part of linux_image_parse(): segments and entry of a vmlinux. */
int linux_elf_parse(const uint8_t *elf, size_t size, struct linux_image *img,
		    char *err, size_t errlen);

/* Decompress `in` (format c) into a new malloc'd buffer of at most `max`
 * bytes.  -EINVAL for corrupt data, -E2BIG when the output exceeds max. */
int linux_decompress(enum linux_comp c, const uint8_t *in, size_t n, size_t max,
		     uint8_t **out, size_t *outlen);

/*
 * Where an initrd of `size` bytes goes: the highest page-aligned address
 * in [ram_start, ram_end) above the kernel and below img->initrd_max.
 */
int linux_initrd_place(const struct linux_image *img, uint64_t ram_start,
		       uint64_t ram_end, uint64_t size, uint64_t *gpa);

/*
 * Fill the zero page `bp` (LINUX_ZERO_PAGE_SIZE bytes): the image's setup
 * header (or a minimal one for a vmlinux), loader type, command line
 * pointer, initrd and the e820 map.  -E2BIG for more than LINUX_MAX_E820
 * entries.
 */
int linux_boot_params(uint8_t *bp, const struct linux_image *img,
		      uint64_t cmdline_gpa, uint64_t initrd_gpa,
		      uint64_t initrd_size, const struct linux_e820 *map,
		      unsigned int nr_map);

#endif
