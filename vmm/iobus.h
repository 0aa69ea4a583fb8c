/*
 * iobus.h - one dispatch path for port I/O and MMIO.  Devices register an
 * address range and one handler; they never see the KVM exit structures.
 */
#ifndef HVSWAP_VMM_IOBUS_H
#define HVSWAP_VMM_IOBUS_H

#include <stdbool.h>
#include <stdint.h>

struct vcpu;

typedef void (*iobus_fn)(struct vcpu *vcpu, uint64_t addr, uint8_t *data,
			 uint32_t len, bool is_write, void *ctx);

struct iobus_range {
	uint64_t base, len;
	iobus_fn fn;
	void *ctx;
	const char *name;
};

#define IOBUS_MAX_RANGES 32

/* Registered before vCPUs start, read-only afterwards: no lock needed. */
struct iobus {
	struct iobus_range r[IOBUS_MAX_RANGES];
	unsigned int n;
};

int iobus_register(struct iobus *bus, uint64_t base, uint64_t len,
		   iobus_fn fn, void *ctx, const char *name);
/* Returns false when no device claims addr (the caller reports it). */
bool iobus_dispatch(struct iobus *bus, struct vcpu *vcpu, uint64_t addr,
		    uint8_t *data, uint32_t len, bool is_write);

#endif
