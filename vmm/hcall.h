/*
 * hcall.h - hypercall decoding, separated from the VM so it is unit-tested
 * without KVM (tests/test_hcall.c).
 */
#ifndef HVSWAP_VMM_HCALL_H
#define HVSWAP_VMM_HCALL_H

#include <stddef.h>
#include <stdint.h>

#include "hvswap/guest_abi.h"

/* Guest RAM as the decoder sees it. */
struct hcall_mem {
	uint8_t *host;
	uint64_t gpa;           /* guest-physical base */
	uint64_t size;
};

/* Resolve guest [gpa, gpa+len) to a host pointer, NULL if any byte lies
 * outside guest RAM (overflow-safe; len 0 is valid inside RAM). */
void *hcall_mem_ptr(const struct hcall_mem *m, uint64_t gpa, uint64_t len);

/*
 * Decode the port write of a hypercall: `data`/`len` as the OUT delivered
 * them.  On success *blk points at the guest's struct hv_hcall (in guest RAM)
 * and 0 is returned; -EINVAL for a wrong access size, -EFAULT for a block
 * outside RAM or misaligned.
 */
int hcall_decode(const struct hcall_mem *m, const uint8_t *data, uint32_t len,
		 struct hv_hcall **blk);

/* Copy and validate a metric name: printable ASCII, 1..HV_METRIC_NAME_MAX-1. */
int hcall_metric_name(const struct hcall_mem *m, uint64_t gpa, uint64_t len,
		      char *out, size_t outlen);

/*
 * Guest console text made safe for a terminal: printable ASCII, newline and
 * tab pass; every other byte (control characters such as ESC or CR, DEL,
 * and non-ASCII bytes) becomes "\xNN".  Escapes in[0, n) into out (cap
 * bytes, no NUL added) and returns how many input bytes it consumed; *outlen
 * is the output length.  Consumes at least one byte when cap >= 4.
 */
size_t hcall_console_escape(const char *in, size_t n, char *out, size_t cap,
			    size_t *outlen);

/* Guest console text to stdout, escaped as above, as one piece (the PRINT
 * hypercall and the Linux guest's UART both print through here). */
void hcall_console_write(const char *p, size_t n);

#endif
