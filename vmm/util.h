/* util.h - command-line value parsing (unit-tested in tests/test_util.c). */
#ifndef HVSWAP_VMM_UTIL_H
#define HVSWAP_VMM_UTIL_H

#include <stdint.h>

/* "512", "4K", "512M", "2G", "1T" (binary units, optional trailing "iB"/"B").
 * Returns 0 or -EINVAL (syntax) / -ERANGE (overflow). */
int parse_size(const char *s, uint64_t *out);
/* Unsigned decimal integer in [min, max]. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Non-negative seconds, fractions allowed ("2.5"), at most SECONDS_MAX
 * (-ERANGE beyond; NaN and infinities are refused): SECONDS_MAX * 1e9
 * nanoseconds plus any CLOCK_MONOTONIC reading still fits in a uint64_t. */
#define SECONDS_MAX 1e9
int parse_seconds(const char *s, double *out);
/* Human-readable size into buf ("512 MiB"). */
const char *fmt_size(uint64_t bytes, char *buf, unsigned long len);

#endif
