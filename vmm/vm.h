/*
 * vm.h - one virtual machine: memory, vCPUs, devices, and its lifecycle.
 *
 * Lifecycle: vm_create() -> vm_load_image() -> vm_start() -> vm_wait() ->
 * vm_destroy().  Every init step has a matching teardown run in reverse.
 *
 * Lock order: vm->lock is a leaf for the VMM (never held while calling into
 * the swapper or KVM_RUN).
 */
#ifndef HVSWAP_VMM_VM_H
#define HVSWAP_VMM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvswap/gmem.h"
#include "guestmem.h"
#include "hvswap/log.h"
#include "iobus.h"
#include "kvm.h"
#include "hvswap/ratelimit.h"
#include "sandbox.h"

struct swapper;
struct swapper_config;
struct virtio_mmio_dev;
struct virtio_blk;
struct virtio_balloon;
struct vhost_user_blk;
struct json_object;
struct serial8250;

/* Process exit statuses that are hvswap's own (the guest's pass through). */
enum {
	VM_STATUS_USAGE = 2,        /* bad command line */
	VM_STATUS_ENV = 3,          /* cannot set up (no /dev/kvm, swap dev...) */
	VM_STATUS_TIMEOUT = 124,    /* --timeout expired */
	VM_STATUS_CRASH = 125,      /* guest crashed or VMM/swapper fatal error */
	VM_STATUS_INTERRUPTED = 130,
};

struct vm_config {
	uint64_t mem_size;          /* guest RAM bytes (2 MiB multiple) */
	unsigned int nr_vcpus;
	enum gmem_backing backing;
	const char *guest_args;     /* string handed to HV_HC_GET_ARGS */
	const struct swapper_config *swap;  /* NULL: no swapper */
	bool quiet;                 /* suppress guest print output */
	/* virtio-blk: a host file (created if missing, grown to disk_size if
	 * smaller), or with only disk_size an unlinked temp file.  Neither set:
	 * no disk and no virtio-mmio window. */
	const char *disk_path;
	uint64_t disk_size;         /* bytes, multiple of 512 */
	bool seccomp;               /* every thread installs its filter (sandbox.h) */
	bool balloon;               /* a virtio-balloon device (--balloon) */
	bool swap_mapper;           /* --swap-mapper: the disk as a mirror */
	bool swap_mapper_count;     /* --swap-mapper-count: track, still write */
	/* A virtio-blk device served by the vhost-user back-end listening at
	 * this Unix socket (--vhost-user-blk); needs GMEM_MEMFD. */
	const char *vhost_user_blk;
	/* A Linux guest (linux_boot.h) instead of an embedded test guest:
	 * kernel_path set.  cmdline and initrd_path may be NULL. */
	const char *kernel_path, *initrd_path, *cmdline;
	bool locked;                /* RAM locked as it is touched (mlock2
				     * MLOCK_ONFAULT); never with a swapper */
	bool hugepages;             /* RAM advised MADV_HUGEPAGE (THP); never
				     * with a swapper */
};

struct vcpu {
	struct vm *vm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	_Atomic bool thread_started;
	_Atomic bool parked;        /* called HV_HC_VCPU_DONE */
};

struct vm_metric {
	char name[64];
	double value;
	unsigned int vcpu;
};

/* The stall figure (stall.c): vCPU time waiting on memory faults. */
struct vm_stall {
	uint64_t total_ns;          /* waited, all faults since start */
	uint64_t t;                 /* CLOCK_MONOTONIC ns of the last sample */
	double pct;                 /* % of vCPU time in the last period */
	double avg10;               /* pct averaged over ~10 s */
};

#define VM_MAX_METRICS 128
#define VM_MAX_VIRTIO 4             /* devices in the virtio-mmio window */

struct vm {
	struct vm_config cfg;
	struct kvm_sys kvm;
	int fd;
	struct gmem *sys;           /* system area [0, 2 MiB) */
	struct gmem *ram;           /* guest RAM [HV_RAM_BASE, +mem_size) */
	struct swapper *swapper;    /* NULL when swap is off */
	struct iobus pio, mmio;
	/* Devices: created before the vCPUs, destroyed after them. */
	uint64_t mmio_base;         /* virtio-mmio window: right after RAM */
	struct virtio_mmio_dev *virtio[VM_MAX_VIRTIO];
	unsigned int nr_virtio;
	struct virtio_blk *blk;
	struct virtio_balloon *balloon;
	struct virtio_mmio_dev *balloon_mmio;   /* its transport */
	struct vhost_user_blk *vublk;           /* --vhost-user-blk */
	struct virtio_mmio_dev *vublk_mmio;     /* its transport */
	bool irqchip;               /* in-kernel PIC/IOAPIC/LAPIC (Linux guests) */
	struct serial8250 *uart;    /* COM1, Linux guests only */
	struct gm_stats gm;         /* guestmem.c: pins taken by devices */
	unsigned int nr_vcpus;
	struct vcpu *vcpus;
	uint64_t tsc_khz;
	uint64_t start_ns, end_ns;

	_Atomic uint64_t hcalls_rejected;   /* malformed or refused hypercalls */
	_Atomic bool stopping;      /* set once; vCPUs leave KVM_RUN */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* protected by lock */
	int status;                 /* exit status once stopping */
	char reason[1536];          /* why the VM stopped, if not a guest exit (with a register dump) */
	unsigned int running;       /* vCPU threads not yet returned */
	unsigned int active;        /* vCPUs not parked (barrier quorum) */
	unsigned int barrier_arrived;
	uint64_t barrier_gen;
	struct vm_metric metrics[VM_MAX_METRICS];
	unsigned int nr_metrics;
	struct ratelimit warn_rl;   /* guest-triggered warnings (vm_warn) */
	struct vm_stall stall;
};

int vm_create(const struct vm_config *cfg, struct vm **out, char *err, size_t errlen);
int vm_load_image(struct vm *vm, const void *image, size_t size);
int vm_start(struct vm *vm);
/* Wait for the VM to stop; timeout_s <= 0 waits forever.  Also stops it on
 * SIGINT/SIGTERM/SIGHUP (which the caller must have blocked in all threads).
 * `tick` runs about every 100 ms on the waiting thread (stats, status line). */
int vm_wait(struct vm *vm, double timeout_s, void (*tick)(struct vm *, void *),
	    void *tick_arg);
void vm_destroy(struct vm *vm);

/* Stop the VM (first caller wins): status and a printf-style reason. */
void vm_stop(struct vm *vm, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Host pointer for guest-physical [gpa, gpa+len) if it lies inside guest
 * RAM, else NULL.  Guest-supplied pointers are only ever resolved here. */
void *vm_ram_ptr(struct vm *vm, uint64_t gpa, uint64_t len);

/* May a guest-triggered warning be printed now?  (vm->warn_rl under
 * vm->lock; *suppressed: how many were dropped since the last one.) */
bool vm_warn_ok(struct vm *vm, uint64_t *suppressed);
/* A warning the guest can cause at will: rate-limited per VM. */
#define vm_warn(vm, fmt, ...) do {                                      \
	uint64_t sup_;                                                  \
	if (!vm_warn_ok((vm), &sup_))                                   \
		break;                                                  \
	if (sup_)                                                       \
		log_warn(fmt " (%llu warnings suppressed before this one)", \
			 ##__VA_ARGS__, (unsigned long long)sup_);      \
	else                                                            \
		log_warn(fmt, ##__VA_ARGS__);                           \
} while (0)

void vm_record_metric(struct vm *vm, unsigned int vcpu, const char *name,
		      double value);

/* {"guestmem": {pins...}, "virtio_blk": {...transport and device counters},
 * "virtio_balloon": {...}} (each only when the VM has that device).  Safe while the VM runs. */
struct json_object *vm_devices_stats_json(struct vm *vm);

/* Name the calling thread and install the seccomp filter of `kind` on it
 * when cfg.seccomp is set; a failure stops the VM (status 3) and returns
 * -errno, so the caller should not go on to serve the guest. */
int vm_sandbox_thread(struct vm *vm, enum sandbox_kind kind, const char *name);

/* stall.c: sample the stall figure (main thread, about once a second) and
 * report it: {"total_ns", "pct", "avg10"}. */
void vm_stall_sample(struct vm *vm);
/* swap: the swapper's statistics if the caller has them (fresher total_ns),
 * else NULL */
struct json_object *vm_stall_json(struct vm *vm, struct json_object *swap);

/* Implemented in vcpu.c */
int vcpu_init(struct vm *vm, struct vcpu *v, unsigned int id);
void vcpu_fini(struct vcpu *v);
int vcpu_start(struct vcpu *v);
void vcpu_kick(struct vcpu *v);
void vcpu_dump(struct vcpu *v, char *buf, size_t len);

/* Implemented in hcall.c: registers the hypercall and exception ports. */
int hcall_register(struct vm *vm);

#endif
