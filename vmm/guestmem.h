/*
 * guestmem.h - the memory/pin API through which devices reach guest memory.
 *
 * A device never dereferences guest RAM on its own: it pins a guest-physical
 * range for the duration of one request, uses the host pointer it gets back,
 * and unpins.  With a swapper the pin faults in whatever is swapped out and
 * keeps it resident (swapper_pin, short-term); without one it is a
 * bounds-checked vm_ram_ptr().  Either way the range is validated against
 * guest RAM (overflow-safe) before any host access.
 */
#ifndef HVSWAP_VMM_GUESTMEM_H
#define HVSWAP_VMM_GUESTMEM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct json_object;

/* Counters (atomics: any device thread or vCPU updates them). */
struct gm_stats {
	_Atomic uint64_t pins;          /* successful gm_pin() calls */
	_Atomic uint64_t unpins;
	_Atomic uint64_t pin_errors;    /* gm_pin() failures */
	_Atomic uint64_t pinned_bytes;  /* total bytes pinned over time */
};

/*
 * Pin guest-physical [gpa, gpa+len) (len > 0).  `write`: the device will
 * write into it.  On success *host points at the range and 0 is returned;
 * the caller must gm_unpin() exactly the same range.  Errors: -EINVAL
 * (len 0), -EFAULT (not inside guest RAM), -EIO / -ENOSPC from the swapper
 * (nothing is left pinned).
 */
int gm_pin(struct vm *vm, uint64_t gpa, uint64_t len, bool write, void **host);
/* A write pin of a range the device overwrites whole (a disk read into it):
 * pages wholly inside that are swapped out are not read back first
 * (swapper_pin_fill()). */
int gm_pin_fill(struct vm *vm, uint64_t gpa, uint64_t len, void **host);
void gm_unpin(struct vm *vm, uint64_t gpa, uint64_t len);

/*
 * The guest gave [gpa, gpa+len) (page aligned) up (a balloon inflate): drop
 * it.  With a swapper: swapper_discard (resident copy, swap slot and staged
 * copy dropped, out of the resident count; pinned pages kept); else
 * MADV_DONTNEED on anonymous RAM or a hole punched in the memfd.  The next
 * access reads zeros.  Returns the pages discarded or -EINVAL (unaligned),
 * -EFAULT (not inside guest RAM), -EIO (the swapper stopped) or the errno
 * of madvise/fallocate.
 */
int64_t gm_discard(struct vm *vm, uint64_t gpa, uint64_t len);

/* Is [gpa, gpa+len) inside guest RAM?  (No pin; for validating addresses.) */
bool gm_range_ok(struct vm *vm, uint64_t gpa, uint64_t len);

/* {"pins", "unpins", "active", "pin_errors", "pinned_bytes"} */
struct json_object *gm_stats_json(struct vm *vm);

#endif
