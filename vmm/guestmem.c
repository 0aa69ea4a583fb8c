/*
 * guestmem.c - devices' access to guest memory: pins and discards (see
 * guestmem.h).
 *
 * Owns: vm->gm (counters only).  No lock: the swapper serialises pins per
 * page itself; without a swapper guest RAM never moves, so a pin is only a
 * bounds check plus a count.
 * Invariant: gm.pins - gm.unpins = pins currently held (0 once devices
 * are quiesced; vm_destroy() warns otherwise).
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <sys/mman.h>

#include "hvswap/guest_abi.h"
#include "hvswap/swapper.h"
#include "guestmem.h"
#include "vm.h"

bool gm_range_ok(struct vm *vm, uint64_t gpa, uint64_t len)
{
	return vm_ram_ptr(vm, gpa, len) != NULL;
}

static int pin(struct vm *vm, uint64_t gpa, uint64_t len, bool write,
	       bool fill, void **host)
{
	void *p;
	int r = 0;

	if (!len) {
		r = -EINVAL;
	} else if (!gm_range_ok(vm, gpa, len)) {
		r = -EFAULT;
	} else if (vm->swapper && fill) {
		r = swapper_pin_fill(vm->swapper, gpa, len, &p);
	} else if (vm->swapper) {
		r = swapper_pin(vm->swapper, gpa, len, write, false, &p);
	} else {
		p = vm_ram_ptr(vm, gpa, len);
	}
	if (r < 0) {
		atomic_fetch_add(&vm->gm.pin_errors, 1);
		return r;
	}
	atomic_fetch_add(&vm->gm.pins, 1);
	atomic_fetch_add(&vm->gm.pinned_bytes, len);
	*host = p;
	return 0;
}

int gm_pin(struct vm *vm, uint64_t gpa, uint64_t len, bool write, void **host)
{
	return pin(vm, gpa, len, write, false, host);
}

int gm_pin_fill(struct vm *vm, uint64_t gpa, uint64_t len, void **host)
{
	return pin(vm, gpa, len, true, true, host);
}

void gm_unpin(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (vm->swapper)
		swapper_unpin(vm->swapper, gpa, len, false);
	atomic_fetch_add(&vm->gm.unpins, 1);
}

int64_t gm_discard(struct vm *vm, uint64_t gpa, uint64_t len)
{
	uint8_t *p;

	if (!len || gpa % 4096 || len % 4096)
		return -EINVAL;
	p = vm_ram_ptr(vm, gpa, len);
	if (!p)
		return -EFAULT;
	if (vm->swapper)
		return swapper_discard(vm->swapper, gpa, len);
	if (vm->ram->memfd >= 0) {      /* memfd, hugetlbfs (not anon, thp) */
		if (fallocate(vm->ram->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)(p - (uint8_t *)vm->ram->host), (off_t)len) < 0)
			return -errno;
	} else if (madvise(p, len, MADV_DONTNEED) < 0) {
		return -errno;
	}
	return (int64_t)(len / 4096);
}

struct json_object *gm_stats_json(struct vm *vm)
{
	struct json_object *o = json_object_new_object();
	uint64_t pins = atomic_load(&vm->gm.pins);
	uint64_t unpins = atomic_load(&vm->gm.unpins);

	json_object_object_add(o, "pins", json_object_new_uint64(pins));
	json_object_object_add(o, "unpins", json_object_new_uint64(unpins));
	json_object_object_add(o, "active", json_object_new_uint64(pins - unpins));
	json_object_object_add(o, "pin_errors",
			       json_object_new_uint64(atomic_load(&vm->gm.pin_errors)));
	json_object_object_add(o, "pinned_bytes",
			       json_object_new_uint64(atomic_load(&vm->gm.pinned_bytes)));
	return o;
}
