/*
 * integ.h - self-describing page stamps for data-integrity checking.
 *
 * A stamped 4 KiB page holds a header (magic, gfn, generation, checksum)
 * followed by a fill that is a pure function of (gfn, generation).  The
 * checksum covers the whole page with the checksum field read as 0; it is
 * a chain of bijective steps, so any change confined to one 64-bit word is
 * always detected.  integ_check() classifies what went wrong, which tells a
 * lost page (zeros), a misplaced page (gfn), a stale page (generation) and
 * corruption (checksum) apart.
 */
#ifndef HV_GUEST_LIB_INTEG_H
#define HV_GUEST_LIB_INTEG_H

#include <stdint.h>

#define INTEG_PAGE_SIZE 4096u
#define INTEG_MAGIC     0x314745544e495648ull   /* "HVINTEG1" */

struct integ_hdr {
	uint64_t magic;
	uint64_t gfn;
	uint64_t gen;
	uint64_t csum;
};

enum integ_result {
	INTEG_OK = 0,
	INTEG_BAD_ZERO,     /* the whole page reads as zeros */
	INTEG_BAD_MAGIC,    /* not a stamped page */
	INTEG_BAD_GFN,      /* a stamp for another page */
	INTEG_BAD_GEN,      /* right page, wrong generation (stale/lost write) */
	INTEG_BAD_CSUM,     /* header fine, content corrupt */
};

/* What integ_check() found, for the error report. */
struct integ_bad {
	enum integ_result reason;
	uint64_t found_magic;
	uint64_t found_gfn;
	uint64_t found_gen;
	uint64_t found_csum;
	uint64_t computed_csum;
};

void integ_stamp(void *page, uint64_t gfn, uint64_t gen);

struct fill_spec;
/* The same stamp over fill= contents (fill.h; seeded by gfn and gen) instead
 * of random words, so pages compress as the fill says: zeros and sparse
 * (one word) after the header, random, or ratio:R.  f NULL: integ_stamp. */
void integ_stamp_fill(void *page, uint64_t gfn, uint64_t gen,
		      const struct fill_spec *f);

/* Returns INTEG_OK (0) or a reason > 0; *out (may be NULL) is filled. */
int integ_check(const void *page, uint64_t gfn, uint64_t expected_gen,
		struct integ_bad *out);

/* The checksum of a page (its csum field read as 0). */
uint64_t integ_csum(const void *page);

const char *integ_reason_name(int reason);

#endif /* HV_GUEST_LIB_INTEG_H */
