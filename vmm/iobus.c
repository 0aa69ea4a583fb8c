/*
 * iobus.c - address-range dispatch for port I/O and MMIO.
 *
 * A flat array searched linearly: a VM has a handful of devices, and the
 * array is immutable once vCPUs run (no lock on the dispatch path).
 * Invariant: ranges never overlap.
 */
#include <errno.h>

#include "iobus.h"

int iobus_register(struct iobus *bus, uint64_t base, uint64_t len,
		   iobus_fn fn, void *ctx, const char *name)
{
	unsigned int i;

	if (len == 0 || base + len < base)
		return -EINVAL;
	if (bus->n == IOBUS_MAX_RANGES)
		return -ENOSPC;
	for (i = 0; i < bus->n; i++) {
		if (base < bus->r[i].base + bus->r[i].len &&
		    bus->r[i].base < base + len)
			return -EEXIST;
	}
	bus->r[bus->n++] = (struct iobus_range){ base, len, fn, ctx, name };
	return 0;
}

bool iobus_dispatch(struct iobus *bus, struct vcpu *vcpu, uint64_t addr,
		    uint8_t *data, uint32_t len, bool is_write)
{
	unsigned int i;

	for (i = 0; i < bus->n; i++) {
		struct iobus_range *r = &bus->r[i];

		if (addr >= r->base && addr - r->base < r->len) {
			r->fn(vcpu, addr, data, len, is_write, r->ctx);
			return true;
		}
	}
	return false;
}
