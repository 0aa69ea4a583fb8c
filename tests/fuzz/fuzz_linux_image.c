/*
 * fuzz_linux_image.c - libFuzzer harness for Linux kernel images
 * (vmm/linux_image.c): the input is a kernel file - a bzImage whose payload
 * is decompressed (gzip, xz, lzma, zstd) or a vmlinux ELF.  Every parse that
 * succeeds must describe segments inside the uncompressed ELF and an entry
 * inside a segment; the zero page is then built from it.
 *
 * Decompression output is bounded by the size a bzImage announces (up to
 * LINUX_MAX_KERNEL, 512 MiB): inputs announcing more than 16 MiB are
 * skipped here so one input cannot take seconds (the bound itself is
 * covered by tests/test_linux_image.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linux_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ANNOUNCED (16u << 20)

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* The size trailer a bzImage's payload ends with, or 0. */
static uint32_t announced(const uint8_t *d, size_t n)
{
	size_t setup, off, len;

	if (n < 0x250 || memcmp(d + 0x202, "HdrS", 4))
		return 0;
	setup = ((size_t)(d[0x1f1] ? d[0x1f1] : 4) + 1) * 512;
	off = rd32(d + 0x248);
	len = rd32(d + 0x24c);
	if (setup > n || off > n - setup || len > n - setup - off || len < 4)
		return 0;
	return rd32(d + setup + off + len - 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct linux_e820 map[2] = {
		{ 0, 0x9fc00, LINUX_E820_RAM }, { 0x200000, 1u << 30, LINUX_E820_RAM },
	};
	static uint8_t bp[LINUX_ZERO_PAGE_SIZE];
	struct linux_image img;
	uint8_t *copy;
	char err[256];
	uint64_t gpa;
	unsigned int i;
	bool entry_ok = false;

	if (announced(data, size) > MAX_ANNOUNCED)
		return 0;
	/* An exact-size copy: ASan catches any read past the file. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (linux_image_parse(copy, size, &img, err, sizeof(err)) == 0) {
		for (i = 0; i < img.nr_segs; i++) {
			const struct linux_seg *s = &img.segs[i];

			if (s->offset > img.elf_size || s->filesz > img.elf_size - s->offset)
				abort();
			if (img.entry >= s->paddr && img.entry - s->paddr < s->filesz)
				entry_ok = true;
		}
		if (!entry_ok || img.kernel_end <= img.kernel_start)
			abort();
		if (linux_initrd_place(&img, 0x200000, 0x40200000, 4096, &gpa) == 0 &&
		    (gpa % 4096 || gpa < img.kernel_end))
			abort();
		if (linux_boot_params(bp, &img, 0x20000, gpa, 4096, map, 2) < 0)
			abort();
		linux_image_free(&img);
	} else if (!err[0]) {
		abort();                /* every error says why */
	}
	free(copy);
	return 0;
}
