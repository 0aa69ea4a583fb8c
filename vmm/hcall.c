/*
 * hcall.c - the hypercall device (port HV_HCALL_PORT) and the exception
 * report port (HV_EXC_PORT) used by the CPL0 stubs.
 *
 * Every argument comes from an untrusted guest: pointers and lengths are
 * resolved only through hcall_mem_ptr(), lengths are capped, and a bad
 * argument yields -EFAULT/-EINVAL in ->ret plus one warning - never a crash
 * of the VMM.  The hypercall block itself may live in swapped-out guest RAM:
 * touching it faults it in through the swapper like any guest access.
 *
 * Everything a guest can make the VMM print is bounded: warnings go through
 * vm_warn() (rate-limited, vm->warn_rl under vm->lock), and PRINT text is
 * escaped (hcall_console_escape()) so a guest cannot drive the terminal.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hvswap/log.h"
#include "hvswap/swapper.h"
#include "hcall.h"
#include "vm.h"
#include "x86.h"

void *hcall_mem_ptr(const struct hcall_mem *m, uint64_t gpa, uint64_t len)
{
	uint64_t off;

	if (gpa < m->gpa)
		return NULL;
	off = gpa - m->gpa;
	if (off > m->size || len > m->size - off)
		return NULL;
	return m->host + off;
}

int hcall_decode(const struct hcall_mem *m, const uint8_t *data, uint32_t len,
		 struct hv_hcall **blk)
{
	uint32_t gpa;

	if (len != 4)
		return -EINVAL;
	memcpy(&gpa, data, 4);
	if (gpa % 8)
		return -EFAULT;
	*blk = hcall_mem_ptr(m, gpa, sizeof(**blk));
	return *blk ? 0 : -EFAULT;
}

int hcall_metric_name(const struct hcall_mem *m, uint64_t gpa, uint64_t len,
		      char *out, size_t outlen)
{
	const char *p;
	uint64_t i;

	if (len == 0 || len >= HV_METRIC_NAME_MAX || len >= outlen)
		return -EINVAL;
	p = hcall_mem_ptr(m, gpa, len);
	if (!p)
		return -EFAULT;
	for (i = 0; i < len; i++) {
		if (p[i] < 0x21 || p[i] > 0x7e)
			return -EINVAL;
		out[i] = p[i];
	}
	out[len] = '\0';
	return 0;
}

size_t hcall_console_escape(const char *in, size_t n, char *out, size_t cap,
			    size_t *outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if ((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t') {
			if (o + 1 > cap)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 4 > cap)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	*outlen = o;
	return i;
}

/* Guest text to stdout, escaped, as one piece (vCPUs do not interleave
 * within a PRINT).  A failed write (a closed pipe: SIGPIPE is ignored)
 * drops the text; the guest goes on. */
void hcall_console_write(const char *p, size_t n)
{
	char buf[4096];
	size_t used, len;

	flockfile(stdout);
	while (n) {
		used = hcall_console_escape(p, n, buf, sizeof(buf), &len);
		fwrite_unlocked(buf, 1, len, stdout);
		p += used;
		n -= used;
	}
	fflush_unlocked(stdout);
	clearerr_unlocked(stdout);
	funlockfile(stdout);
}

static struct hcall_mem vm_hmem(struct vm *vm)
{
	return (struct hcall_mem){ vm->ram->host, HV_RAM_BASE, vm->cfg.mem_size };
}

static int64_t hc_print(struct vm *vm, const struct hv_hcall *h)
{
	struct hcall_mem m = vm_hmem(vm);
	const char *p;

	if (h->args[1] > HV_PRINT_MAX)
		return -EINVAL;
	p = hcall_mem_ptr(&m, h->args[0], h->args[1]);
	if (!p)
		return -EFAULT;
	if (!vm->cfg.quiet)
		hcall_console_write(p, h->args[1]);
	return (int64_t)h->args[1];
}

static int64_t hc_get_args(struct vm *vm, const struct hv_hcall *h)
{
	struct hcall_mem m = vm_hmem(vm);
	const char *a = vm->cfg.guest_args ? vm->cfg.guest_args : "";
	size_t n = strlen(a);
	char *buf;

	if (h->args[1] == 0 || h->args[1] > HV_ARGS_MAX)
		return -EINVAL;
	buf = hcall_mem_ptr(&m, h->args[0], h->args[1]);
	if (!buf)
		return -EFAULT;
	snprintf(buf, h->args[1], "%s", a);
	return (int64_t)n;
}

static int64_t hc_get_info(struct vm *vm, const struct hv_hcall *h)
{
	struct hcall_mem m = vm_hmem(vm);
	struct hv_info info = {
		.abi_version = HV_GUEST_ABI_VERSION,
		.nr_vcpus = vm->nr_vcpus,
		.ram_base = HV_RAM_BASE,
		.ram_size = vm->cfg.mem_size,
		.tsc_khz = vm->tsc_khz,
		.mmio_base = vm->nr_virtio ? vm->mmio_base : 0,
		.nr_mmio_devs = vm->nr_virtio,
	};
	uint64_t len = h->args[1] < sizeof(info) ? h->args[1] : sizeof(info);
	void *buf;

	/* An ABI 1 guest passes the smaller struct: give it the prefix. */
	if (len < HV_INFO_SIZE_V1)
		return -EINVAL;
	buf = hcall_mem_ptr(&m, h->args[0], len);
	if (!buf)
		return -EFAULT;
	memcpy(buf, &info, len);
	return 0;
}

static int64_t hc_metric(struct vm *vm, struct vcpu *v, const struct hv_hcall *h)
{
	struct hcall_mem m = vm_hmem(vm);
	char name[HV_METRIC_NAME_MAX];
	double val;
	int r;

	r = hcall_metric_name(&m, h->args[0], h->args[1], name, sizeof(name));
	if (r < 0)
		return r;
	memcpy(&val, &h->args[2], sizeof(val));
	vm_record_metric(vm, v->id, name, val);
	return 0;
}

/* Barrier over the vCPUs that have not parked. */
static int64_t hc_barrier(struct vm *vm)
{
	uint64_t gen;

	pthread_mutex_lock(&vm->lock);
	gen = vm->barrier_gen;
	if (++vm->barrier_arrived >= vm->active) {
		vm->barrier_arrived = 0;
		vm->barrier_gen++;
		pthread_cond_broadcast(&vm->cond);
	} else {
		while (vm->barrier_gen == gen && !atomic_load(&vm->stopping))
			pthread_cond_wait(&vm->cond, &vm->lock);
	}
	pthread_mutex_unlock(&vm->lock);
	return atomic_load(&vm->stopping) ? -EINTR : 0;
}

static int64_t hc_vcpu_done(struct vm *vm, struct vcpu *v)
{
	pthread_mutex_lock(&vm->lock);
	if (!atomic_exchange(&v->parked, true)) {
		vm->active--;
		/* A barrier that was only waiting for us completes now. */
		if (vm->barrier_arrived && vm->barrier_arrived >= vm->active) {
			vm->barrier_arrived = 0;
			vm->barrier_gen++;
			pthread_cond_broadcast(&vm->cond);
		}
	}
	while (!atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

/* An idle guest (integrity idle=MS): the vCPU thread waits on vm->cond
 * (CLOCK_REALTIME, the condition's clock) until the time is up or the VM
 * stops - no host CPU used. */
static int64_t hc_sleep(struct vm *vm, const struct hv_hcall *h)
{
	uint64_t ns = h->args[0];
	struct timespec dl;

	if (ns > 600ull * 1000000000ull)
		return -EINVAL;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += (time_t)(ns / 1000000000ull);
	dl.tv_nsec += (long)(ns % 1000000000ull);
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&vm->lock);
	while (!atomic_load(&vm->stopping) &&
	       pthread_cond_timedwait(&vm->cond, &vm->lock, &dl) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&vm->lock);
	return atomic_load(&vm->stopping) ? -EINTR : 0;
}

/* The guest will overwrite guest RAM [a0, a0+a1) whole: pages whose data
 * is only on swap need not be read back (swapper_overwrite). */
static int64_t hc_overwrite(struct vm *vm, const struct hcall_mem *m,
			    const struct hv_hcall *h)
{
	uint64_t gpa = h->args[0], len = h->args[1];

	if (!len || (gpa | len) % 4096 || !hcall_mem_ptr(m, gpa, len))
		return -EINVAL;
	if (!vm->swapper)
		return 0;
	return swapper_overwrite(vm->swapper, gpa, len);
}

static const char *const hc_names[HV_HC_MAX] = {
	"PRINT", "EXIT", "METRIC", "GET_ARGS", "GET_INFO", "BARRIER", "VCPU_DONE",
	"SLEEP", "OVERWRITE",
};

static void hcall_port(struct vcpu *v, uint64_t addr, uint8_t *data,
		       uint32_t len, bool is_write, void *ctx)
{
	struct vm *vm = ctx;
	struct hcall_mem m = vm_hmem(vm);
	struct hv_hcall *blk, h;
	int64_t ret;
	int r;

	if (!is_write) {
		memset(data, 0xff, len);
		return;
	}
	r = hcall_decode(&m, data, len, &blk);
	if (r < 0) {
		atomic_fetch_add(&vm->hcalls_rejected, 1);
		vm_warn(vm, "vcpu %u: malformed hypercall (block %s): ignored", v->id,
			r == -EINVAL ? "access size" : "address");
		return;
	}
	memcpy(&h, blk, sizeof(h));  /* one snapshot: the guest may race us */
	if (atomic_load(&vm->stopping))
		return;
	switch (h.nr) {
	case HV_HC_PRINT:     ret = hc_print(vm, &h); break;
	case HV_HC_EXIT:
		vm_stop(vm, (int)(h.args[0] & 0xff), NULL);
		ret = 0;
		break;
	case HV_HC_METRIC:    ret = hc_metric(vm, v, &h); break;
	case HV_HC_GET_ARGS:  ret = hc_get_args(vm, &h); break;
	case HV_HC_GET_INFO:  ret = hc_get_info(vm, &h); break;
	case HV_HC_BARRIER:   ret = hc_barrier(vm); break;
	case HV_HC_VCPU_DONE: ret = hc_vcpu_done(vm, v); break;
	case HV_HC_SLEEP:     ret = hc_sleep(vm, &h); break;
	case HV_HC_OVERWRITE: ret = hc_overwrite(vm, &m, &h); break;
	default:              ret = -ENOSYS; break;
	}
	if (ret == -EFAULT || ret == -EINVAL || ret == -ENOSYS) {
		atomic_fetch_add(&vm->hcalls_rejected, 1);
		vm_warn(vm, "vcpu %u: hypercall %s (%llu) rejected: %s (args 0x%llx 0x%llx)",
			v->id, h.nr < HV_HC_MAX ? hc_names[h.nr] : "unknown",
			(unsigned long long)h.nr,
			ret == -EFAULT ? "bad guest pointer" :
			ret == -EINVAL ? "invalid argument" : "no such hypercall",
			(unsigned long long)h.args[0], (unsigned long long)h.args[1]);
	}
	blk->ret = ret;
}

/* The CPL0 stub pushed RAX, then the CPU frame (error code if any, RIP, CS,
 * RFLAGS, RSP, SS); RSP points at the saved RAX. */
static void exc_port(struct vcpu *v, uint64_t addr, uint8_t *data, uint32_t len,
		     bool is_write, void *ctx)
{
	struct vm *vm = ctx;
	unsigned int vec = data[0];
	uint64_t frame[7] = { 0 }, *f;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	unsigned int i = 1;
	uint64_t err = 0;
	char dump[1024];

	if (!is_write || kvm_get_regs(v->fd, &regs) < 0 ||
	    kvm_get_sregs(v->fd, &sregs) < 0) {
		vm_stop(vm, VM_STATUS_CRASH, "guest crashed: exception report on "
			"vcpu %u unreadable", v->id);
		return;
	}
	/* The frame is 6 or 7 words (with an error code) below the stack top. */
	if (regs.rsp >= X86_KSTACK_BASE && regs.rsp < X86_KSTACK_TOP) {
		uint64_t n = (X86_KSTACK_TOP - regs.rsp) / 8;

		memcpy(frame, (uint8_t *)vm->sys->host + regs.rsp,
		       (n < 7 ? n : 7) * 8);
	}
	f = frame;
	if (x86_exception_has_error_code(vec))
		err = f[i++];
	regs.rax = f[0];
	regs.rip = f[i];
	regs.rsp = f[i + 3];
	regs.rflags = f[i + 2];
	vcpu_dump(v, dump, sizeof(dump));
	vm_stop(vm, VM_STATUS_CRASH,
		"guest crashed: %s (vector %u) on vcpu %u at rip=0x%llx rsp=0x%llx "
		"error=0x%llx cr2=0x%llx\n  (registers below are the CPL0 stub's; "
		"guest rax=0x%llx rflags=0x%llx)\n%s",
		x86_exception_name(vec), vec, v->id, (unsigned long long)regs.rip,
		(unsigned long long)regs.rsp, (unsigned long long)err,
		(unsigned long long)sregs.cr2, (unsigned long long)regs.rax,
		(unsigned long long)regs.rflags, dump);
}

int hcall_register(struct vm *vm)
{
	int r;

	r = iobus_register(&vm->pio, HV_HCALL_PORT, 4, hcall_port, vm, "hypercall");
	if (r < 0)
		return r;
	return iobus_register(&vm->pio, HV_EXC_PORT, 1, exc_port, vm, "exception");
}
