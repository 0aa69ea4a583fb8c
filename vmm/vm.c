/*
 * vm.c - VM lifecycle: KVM VM, memory slots, vCPUs, devices, swapper.
 *
 * Owns: struct vm and everything hanging off it.
 * Lock order: vm->lock is a leaf (never held across KVM_RUN, swapper calls or
 * blocking I/O other than printing).
 * Invariants: once `stopping` is set it is never cleared; `status`/`reason`
 * are written only by the first vm_stop().
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hvswap/guest_abi.h"
#include "hvswap/log.h"
#include "hvswap/swapper.h"
#include "virtio_balloon.h"
#include "linux_boot.h"
#include "serial8250.h"
#include "vhost_user_blk.h"
#include "virtio_blk.h"
#include "virtio_mmio.h"
#include "vm.h"
#include "x86.h"

#define SLOT_SYS 0
#define SLOT_RAM 1

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void swapper_fatal(void *opaque, int err, const char *msg)
{
	vm_stop(opaque, VM_STATUS_CRASH, "swapper: %s", msg);
}

int vm_sandbox_thread(struct vm *vm, enum sandbox_kind kind, const char *name)
{
	int r;

	if (!vm->cfg.seccomp)
		return 0;
	r = sandbox_enter(kind, name);
	if (r < 0)
		vm_stop(vm, VM_STATUS_ENV, "seccomp: cannot install the %s filter "
			"on thread %s: %s", sandbox_kind_name(kind), name ? name : "main",
			strerror(-r));
	return r;
}

/* swapper_config.thread_start: "fault", "reclaim", "io". */
static void swapper_thread_start(void *opaque, const char *kind)
{
	enum sandbox_kind k;
	char name[16];

	if (sandbox_kind_parse(kind, &k) < 0)
		k = SANDBOX_IO;         /* a new swapper thread: data-path list */
	snprintf(name, sizeof(name), "hv-%s", kind);
	vm_sandbox_thread(opaque, k, name);
}

static bool want_devices(const struct vm_config *cfg)
{
	return cfg->disk_path || cfg->disk_size || cfg->balloon || cfg->vhost_user_blk;
}

/* The eviction policy reads KVM's dirty log of guest RAM (--policy
 * clock-dirty, arcw-dirty): the RAM memslot logs writes. */
static bool uses_dirty_log(const struct vm_config *cfg)
{
	return cfg->swap && (cfg->swap->policy == SWAPPER_POLICY_CLOCK_DIRTY ||
			     cfg->swap->policy == SWAPPER_POLICY_ARCW_DIRTY);
}

/* swapper_config.dirty_log: RAM is one memslot (SLOT_RAM). */
static int ram_dirty_log(void *opaque, uint64_t gpa, uint64_t npages,
			 uint64_t *bitmap)
{
	struct vm *vm = opaque;

	if (gpa != HV_RAM_BASE || npages != vm->cfg.mem_size / 4096)
		return -EINVAL;
	return kvm_get_dirty_log(vm->fd, SLOT_RAM, bitmap);
}

static int setup_memory(struct vm *vm, char *err, size_t errlen)
{
	uint64_t mapped_end;
	int r;

	r = gmem_create(GMEM_ANON, HV_SYS_AREA_SIZE, "hvswap-sys", &vm->sys);
	if (r < 0) {
		snprintf(err, errlen, "cannot map the system area: %s", strerror(-r));
		return r;
	}
	r = gmem_create(vm->cfg.backing, vm->cfg.mem_size, "hvswap-ram", &vm->ram);
	if (r < 0 && vm->cfg.backing == GMEM_HUGETLB) {
		snprintf(err, errlen, "cannot map %llu bytes of guest RAM on 2 MiB "
			 "huge pages: %s (it needs %llu free huge pages: see "
			 "HugePages_Free in /proc/meminfo; as root, raise "
			 "/proc/sys/vm/nr_hugepages)",
			 (unsigned long long)vm->cfg.mem_size, strerror(-r),
			 (unsigned long long)(vm->cfg.mem_size >> 21));
		return r;
	}
	if (r < 0) {
		snprintf(err, errlen, "cannot map %llu bytes of guest RAM: %s",
			 (unsigned long long)vm->cfg.mem_size, strerror(-r));
		return r;
	}
	/* <memoryBacking><locked/> (config files): the swapper never runs
	 * with it (cli_check()).  <hugepages/> is GMEM_HUGETLB (cli_finish) */
	if (vm->cfg.locked && mlock2(vm->ram->host, vm->cfg.mem_size, MLOCK_ONFAULT) < 0)
		log_warn("guest RAM: cannot lock it in memory: %s (RLIMIT_MEMLOCK?)",
			 strerror(errno));
	/* The virtio-mmio window follows RAM (2 MiB aligned as RAM ends on a
	 * 2 MiB boundary); it is mapped for CPL3 but has no memslot, so every
	 * access exits to the VMM (KVM_EXIT_MMIO -> vm->mmio). */
	vm->mmio_base = HV_RAM_BASE + vm->cfg.mem_size;
	mapped_end = vm->mmio_base + (want_devices(&vm->cfg) ? HV_VIRTIO_WINDOW_SIZE : 0);
	r = x86_build_sysarea(vm->sys->host, mapped_end);
	if (r < 0) {
		snprintf(err, errlen, "guest RAM too large to map (max %llu GiB%s)",
			 (unsigned long long)(x86_max_mapped_end() >> 30) - 1,
			 want_devices(&vm->cfg) ? " with a disk" : "");
		return r;
	}
	r = kvm_set_user_memory(vm->fd, SLOT_SYS, 0, HV_SYS_AREA_SIZE,
				vm->sys->host, 0);
	if (r >= 0)
		r = kvm_set_user_memory(vm->fd, SLOT_RAM, HV_RAM_BASE,
					vm->cfg.mem_size, vm->ram->host,
					uses_dirty_log(&vm->cfg) ?
					KVM_MEM_LOG_DIRTY_PAGES : 0);
	if (r < 0)
		snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION: %s", strerror(-r));
	return r;
}

static int setup_swapper(struct vm *vm, char *err, size_t errlen)
{
	struct swapper_config sc = *vm->cfg.swap;
	int r;

	sc.fatal = swapper_fatal;
	sc.opaque = vm;
	if (uses_dirty_log(&vm->cfg))
		sc.dirty_log = ram_dirty_log;
	if (vm->cfg.seccomp)
		sc.thread_start = swapper_thread_start;
	/* The swapper logs why it refuses (a bad device, no userfaultfd,
	 * memory it cannot swap): the VMM says it again only for the
	 * failures it does not name, so each error is printed once. */
	r = swapper_create(&sc, &vm->swapper);
	if (r < 0) {
		err[0] = '\0';
		if (r == -ENOMEM || r == -EMFILE || r == -ENFILE)
			snprintf(err, errlen, "cannot start the swapper: %s", strerror(-r));
		return r;
	}
	r = swapper_add_region(vm->swapper, vm->ram, HV_RAM_BASE);
	if (r < 0) {
		err[0] = '\0';
		if (r != -ENOTSUP)
			snprintf(err, errlen, "cannot register guest RAM with the "
				 "swapper: %s", strerror(-r));
		return r;
	}
	/* Fault service must run before anything touches guest RAM (even the
	 * image load). */
	r = swapper_start(vm->swapper);
	if (r < 0)
		snprintf(err, errlen, "cannot start the swapper threads: %s",
			 strerror(-r));
	return r;
}

static int add_virtio(struct vm *vm, const struct virtio_dev_ops *ops, void *dev,
		      char *err, size_t errlen)
{
	uint64_t base = vm->mmio_base + (uint64_t)vm->nr_virtio * HV_VIRTIO_MMIO_SIZE;
	int r;

	if (vm->nr_virtio == VM_MAX_VIRTIO)
		r = -ENOSPC;
	else
		r = virtio_mmio_create(vm, base, ops, dev, &vm->virtio[vm->nr_virtio]);
	if (r < 0) {
		snprintf(err, errlen, "cannot register %s: %s", ops->name, strerror(-r));
		return r;
	}
	if (vm->irqchip)
		virtio_mmio_set_irq(vm->virtio[vm->nr_virtio], linux_irq_set, vm,
				    LINUX_VIRTIO_IRQ_BASE + vm->nr_virtio);
	vm->nr_virtio++;
	return 0;
}

/* After a --disk, before the balloon: the guest finds it at index 0 or 1. */
static int setup_vhost_user_blk(struct vm *vm, char *err, size_t errlen)
{
	int r;

	/* With a swapper too: every buffer the back-end can reach is pinned
	 * from the notify that hands it over until its completion
	 * (vhost_shadow.c), so eviction never races a back-end write. */
	r = vhost_user_blk_create(vm, vm->cfg.vhost_user_blk, -1,
				  VHOST_USER_BLK_TIMEOUT_MS, &vm->vublk, err, errlen);
	if (r < 0)
		return r;
	r = add_virtio(vm, vhost_user_blk_ops(vm->vublk), vm->vublk, err, errlen);
	if (r < 0)
		return r;
	vm->vublk_mmio = vm->virtio[vm->nr_virtio - 1];
	r = vhost_user_blk_attach(vm->vublk, vm->vublk_mmio);
	if (r < 0)
		snprintf(err, errlen, "vhost-user-blk: cannot start its thread: %s",
			 strerror(-r));
	return r;
}

static int setup_devices(struct vm *vm, char *err, size_t errlen)
{
	int r;

	if (!want_devices(&vm->cfg))
		return 0;
	if (vm->cfg.disk_path || vm->cfg.disk_size) {
		r = virtio_blk_create(vm, vm->cfg.disk_path, vm->cfg.disk_size,
				      &vm->blk, err, errlen);
		if (r < 0)
			return r;
		r = add_virtio(vm, &virtio_blk_ops, vm->blk, err, errlen);
		if (r < 0)
			return r;
		if ((vm->cfg.swap_mapper || vm->cfg.swap_mapper_count) && vm->swapper) {
			r = virtio_blk_swap_mapper(vm->blk, vm->cfg.swap_mapper_count);
			if (r < 0)
				log_warn("--swap-mapper%s: off (%s)",
					 vm->cfg.swap_mapper_count ? "-count" : "", r == -ENOTSUP ?
					 "needs uffd write-protect and no --swap-encrypt" :
					 strerror(-r));
		}
	}
	if (vm->cfg.vhost_user_blk) {
		r = setup_vhost_user_blk(vm, err, errlen);
		if (r < 0)
			return r;
	}
	if (!vm->cfg.balloon)
		return 0;
	r = virtio_balloon_create(vm, &vm->balloon);
	if (r < 0) {
		snprintf(err, errlen, "cannot create the balloon: %s", strerror(-r));
		return r;
	}
	r = add_virtio(vm, &virtio_balloon_ops, vm->balloon, err, errlen);
	if (r >= 0)
		vm->balloon_mmio = vm->virtio[vm->nr_virtio - 1];
	return r;
}

/* Reverse of setup_devices(); the vCPUs are gone, so no handler runs. */
static void destroy_devices(struct vm *vm)
{
	uint64_t held;

	/* Rings and postcopy end while the device thread still serves the
	 * back-end's faults; then the thread goes, before its transport. */
	vhost_user_blk_shutdown(vm->vublk);
	while (vm->nr_virtio)
		virtio_mmio_destroy(vm->virtio[--vm->nr_virtio]);
	virtio_blk_destroy(vm->blk);
	vm->blk = NULL;
	virtio_balloon_destroy(vm->balloon);
	vm->balloon = NULL;
	vhost_user_blk_destroy(vm->vublk);
	vm->vublk = NULL;
	vm->vublk_mmio = NULL;
	vm->balloon_mmio = NULL;
	held = atomic_load(&vm->gm.pins) - atomic_load(&vm->gm.unpins);
	if (held)
		log_err("devices left %" PRIu64 " guest memory pins behind", held);
}

struct json_object *vm_devices_stats_json(struct vm *vm)
{
	struct json_object *o = json_object_new_object(), *blk;

	json_object_object_add(o, "guestmem", gm_stats_json(vm));
	json_object_object_add(o, "hypercalls_rejected",
			       json_object_new_uint64(atomic_load(&vm->hcalls_rejected)));
	if (vm->blk) {
		blk = virtio_blk_stats_json(vm->blk);
		json_object_object_add(blk, "transport",
				       virtio_mmio_stats_json(vm->virtio[0]));
		json_object_object_add(o, "virtio_blk", blk);
	}
	if (vm->balloon && vm->balloon_mmio) {
		struct json_object *bl = virtio_balloon_stats_json(vm->balloon);

		json_object_object_add(bl, "transport",
				       virtio_mmio_stats_json(vm->balloon_mmio));
		json_object_object_add(o, "virtio_balloon", bl);
	}
	if (vm->vublk && vm->vublk_mmio) {
		struct json_object *vb = vhost_user_blk_stats_json(vm->vublk);

		json_object_object_add(vb, "transport", virtio_mmio_stats_json(vm->vublk_mmio));
		json_object_object_add(o, "vhost_user_blk", vb);
	}
	if (vm->uart)
		json_object_object_add(o, "serial8250_tx_bytes",
				       json_object_new_uint64(serial8250_tx_bytes(vm->uart)));
	return o;
}

static int check_caps(struct vm *vm, char *err, size_t errlen)
{
	static const struct { long cap; const char *name; } need[] = {
		{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
		{ KVM_CAP_SYNC_MMU, "KVM_CAP_SYNC_MMU" },
		{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
		{ KVM_CAP_GET_TSC_KHZ, "KVM_CAP_GET_TSC_KHZ" },
	};
	size_t i;

	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (kvm_check_cap(&vm->kvm, need[i].cap) <= 0) {
			snprintf(err, errlen, "KVM lacks %s", need[i].name);
			return -ENOTSUP;
		}
	}
	return 0;
}

int vm_create(const struct vm_config *cfg, struct vm **out, char *err, size_t errlen)
{
	struct vm *vm;
	unsigned int i;
	int r;

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->cfg = *cfg;
	vm->fd = -1;
	vm->kvm.fd = -1;
	vm->nr_vcpus = cfg->nr_vcpus;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->warn_rl = (struct ratelimit)RATELIMIT_INIT(5000, 10);

	r = kvm_sys_open(&vm->kvm, "/dev/kvm");
	if (r < 0) {
		snprintf(err, errlen, "cannot open /dev/kvm: %s%s", strerror(-r),
			 r == -EACCES ? " (are you in the kvm group, or root?)" :
			 r == -ENOENT ? " (is KVM enabled on this host?)" : "");
		goto fail;
	}
	r = check_caps(vm, err, errlen);
	if (r < 0)
		goto fail;
	vm->fd = kvm_create_vm(&vm->kvm);
	if (vm->fd < 0) {
		r = vm->fd;
		snprintf(err, errlen, "KVM_CREATE_VM: %s", strerror(-r));
		goto fail;
	}
	r = setup_memory(vm, err, errlen);
	if (r < 0)
		goto fail;
	if (cfg->swap) {
		r = setup_swapper(vm, err, errlen);
		if (r < 0)
			goto fail;
	}
	/* A Linux guest gets PC devices; a test guest the hypercall port. */
	if (cfg->kernel_path) {
		r = linux_vm_init(vm, err, errlen);
		if (r < 0)
			goto fail;
	} else {
		r = hcall_register(vm);
		if (r < 0) {
			snprintf(err, errlen, "cannot register hypercall device: %s",
				 strerror(-r));
			goto fail;
		}
	}
	r = setup_devices(vm, err, errlen);
	if (r < 0)
		goto fail;
	vm->vcpus = calloc(vm->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < vm->nr_vcpus; i++) {
		vm->vcpus[i].fd = -1;
		r = vcpu_init(vm, &vm->vcpus[i], i);
		if (r < 0) {
			snprintf(err, errlen, "cannot create vCPU %u: %s", i, strerror(-r));
			goto fail;
		}
	}
	*out = vm;
	return 0;

fail:
	vm_destroy(vm);
	return r;
}

int vm_load_image(struct vm *vm, const void *image, size_t size)
{
	if (size == 0 || size > HV_GUEST_MAX_IMAGE || size > vm->cfg.mem_size)
		return -E2BIG;
	/* Goes through the swapper like any other first touch. */
	memcpy(vm->ram->host, image, size);
	return 0;
}

int vm_start(struct vm *vm)
{
	unsigned int i;
	int r;

	vm->start_ns = now_ns();
	pthread_mutex_lock(&vm->lock);
	vm->active = vm->nr_vcpus;
	pthread_mutex_unlock(&vm->lock);
	for (i = 0; i < vm->nr_vcpus; i++) {
		r = vcpu_start(&vm->vcpus[i]);
		if (r < 0) {
			vm_stop(vm, VM_STATUS_CRASH, "cannot start vCPU %u: %s", i,
				strerror(-r));
			return r;
		}
	}
	return 0;
}

void vm_stop(struct vm *vm, int status, const char *fmt, ...)
{
	unsigned int i;
	va_list ap;

	pthread_mutex_lock(&vm->lock);
	if (atomic_load(&vm->stopping)) {
		pthread_mutex_unlock(&vm->lock);
		return;
	}
	vm->status = status;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(vm->reason, sizeof(vm->reason), fmt, ap);
		va_end(ap);
	}
	vm->end_ns = now_ns();
	atomic_store(&vm->stopping, true);
	pthread_cond_broadcast(&vm->cond);
	/* Kicked under the lock: a device thread (vhost-user-blk) or swapper
	 * thread can stop the VM while the main thread tears the vCPUs down;
	 * vcpu_fini() takes the lock to unmap kvm_run. */
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	pthread_mutex_unlock(&vm->lock);
}

static bool all_vcpus_returned(struct vm *vm)
{
	bool r;

	pthread_mutex_lock(&vm->lock);
	r = vm->running == 0;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int vm_wait(struct vm *vm, double timeout_s, void (*tick)(struct vm *, void *),
	    void *tick_arg)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	/* Callers range-check timeout_s (parse_seconds(): <= 1e9 s); the
	 * comparison keeps the conversion defined whatever they pass. */
	uint64_t deadline = !(timeout_s > 0) ? UINT64_MAX :
		timeout_s >= 1e10 ? UINT64_MAX :
		vm->start_ns + (uint64_t)(timeout_s * 1e9);
	sigset_t set;
	unsigned int i, j;
	int sig, status;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	while (!atomic_load(&vm->stopping)) {
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP)
			vm_stop(vm, VM_STATUS_INTERRUPTED, "interrupted by signal %d", sig);
		else if (now_ns() >= deadline)
			vm_stop(vm, VM_STATUS_TIMEOUT, "guest timed out after %g s",
				timeout_s);
		if (tick)
			tick(vm, tick_arg);
	}
	/* vCPUs were kicked; wait for them to leave KVM_RUN.  One that is
	 * still blocked after a second waits on guest memory that can never
	 * arrive (a fatal swap read error): release it - the VM is stopped,
	 * nothing it computes from here on is used. */
	for (i = 0; !all_vcpus_returned(vm); i++) {
		struct timespec small = { 0, 10 * 1000 * 1000 };

		if (i == 100 && vm->swapper) {
			log_warn("vCPUs blocked on unavailable guest memory: "
				 "releasing them");
			swapper_release_faults(vm->swapper);
		}
		if (i % 100 == 99)
			for (j = 0; j < vm->nr_vcpus; j++)
				vcpu_kick(&vm->vcpus[j]);
		nanosleep(&small, NULL);
	}
	pthread_mutex_lock(&vm->lock);
	status = vm->status;
	pthread_mutex_unlock(&vm->lock);
	return status;
}

void vm_destroy(struct vm *vm)
{
	unsigned int i;

	if (!vm)
		return;
	if (vm->vcpus) {
		if (!atomic_load(&vm->stopping))
			vm_stop(vm, VM_STATUS_CRASH, NULL);
		for (i = 0; i < vm->nr_vcpus; i++)
			vcpu_fini(&vm->vcpus[i]);
		free(vm->vcpus);
	}
	destroy_devices(vm);
	linux_vm_fini(vm);
	if (vm->warn_rl.suppressed)
		log_warn("%" PRIu64 " more guest-triggered warnings suppressed",
			 vm->warn_rl.suppressed);
	/* The swapper goes after the vCPUs (nothing faults any more) and
	 * before the memory it serves. */
	swapper_destroy(vm->swapper);
	if (vm->fd >= 0)
		close(vm->fd);
	gmem_destroy(vm->ram);
	gmem_destroy(vm->sys);
	kvm_sys_close(&vm->kvm);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

void *vm_ram_ptr(struct vm *vm, uint64_t gpa, uint64_t len)
{
	uint64_t off;

	if (gpa < HV_RAM_BASE)
		return NULL;
	off = gpa - HV_RAM_BASE;
	if (off > vm->cfg.mem_size || len > vm->cfg.mem_size - off)
		return NULL;
	return (uint8_t *)vm->ram->host + off;
}

bool vm_warn_ok(struct vm *vm, uint64_t *suppressed)
{
	bool ok;

	pthread_mutex_lock(&vm->lock);
	ok = ratelimit_ok(&vm->warn_rl, suppressed);
	pthread_mutex_unlock(&vm->lock);
	return ok;
}

void vm_record_metric(struct vm *vm, unsigned int vcpu, const char *name,
		      double value)
{
	unsigned int i;

	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->nr_metrics; i++) {
		if (!strcmp(vm->metrics[i].name, name))
			break;
	}
	if (i < VM_MAX_METRICS) {
		snprintf(vm->metrics[i].name, sizeof(vm->metrics[i].name), "%s", name);
		vm->metrics[i].value = value;
		vm->metrics[i].vcpu = vcpu;
		if (i == vm->nr_metrics)
			vm->nr_metrics++;
	}
	pthread_mutex_unlock(&vm->lock);
}
