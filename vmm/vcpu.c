/*
 * vcpu.c - vCPU threads and the KVM exit dispatcher.
 *
 * Owns: each vCPU's fd, kvm_run mapping and thread.
 * vCPU threads are hostile once started: everything they bring back from the
 * guest (ports, lengths, pointers) is validated before use, and no guest
 * action can take the process down - it can only stop its own VM.
 * Stopping: vm_stop() sets vm->stopping and calls vcpu_kick(), which sets
 * kvm_run.immediate_exit and signals the thread (SIGUSR1, no-op handler, no
 * SA_RESTART) so a thread inside KVM_RUN - or blocked on a userfaultfd fault
 * inside it - returns with EINTR.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hvswap/guest_abi.h"
#include "hvswap/log.h"
#include "vm.h"
#include "x86.h"

#define VCPU_KICK_SIGNAL SIGUSR1

static void kick_handler(int sig)
{
	(void)sig;
}

static void install_kick_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
}

int vcpu_init(struct vm *vm, struct vcpu *v, unsigned int id)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int r;

	pthread_once(&once, install_kick_handler);
	v->vm = vm;
	v->id = id;
	v->fd = kvm_create_vcpu(vm->fd, (int)id);
	if (v->fd < 0)
		return v->fd;
	v->run = mmap(NULL, (size_t)vm->kvm.run_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return -errno;
	}
	r = kvm_set_cpuid(v->fd, vm->kvm.cpuid);
	if (r < 0)
		return r;
	r = kvm_get_sregs(v->fd, &sregs);
	if (r < 0)
		return r;
	x86_init_sregs(&sregs);
	r = kvm_set_sregs(v->fd, &sregs);
	if (r < 0)
		return r;
	x86_init_regs(&regs, id, vm->nr_vcpus);
	r = kvm_set_regs(v->fd, &regs);
	if (r < 0)
		return r;
	if (id == 0) {
		r = kvm_get_tsc_khz(v->fd);
		vm->tsc_khz = r > 0 ? (uint64_t)r : 0;
	}
	return 0;
}

void vcpu_fini(struct vcpu *v)
{
	struct kvm_run *run;

	if (v->thread_started)
		pthread_join(v->thread, NULL);
	if (!v->vm)             /* never initialised (vm_create failed first) */
		return;
	/* under vm->lock: vm_stop() may be kicking from another thread */
	pthread_mutex_lock(&v->vm->lock);
	v->thread_started = false;
	run = v->run;
	v->run = NULL;
	pthread_mutex_unlock(&v->vm->lock);
	if (run)
		munmap(run, (size_t)v->vm->kvm.run_size);
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
}

void vcpu_kick(struct vcpu *v)
{
	if (!v->run)
		return;
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (v->thread_started)
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_dump(struct vcpu *v, char *buf, size_t len)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (kvm_get_regs(v->fd, &r) < 0 || kvm_get_sregs(v->fd, &s) < 0) {
		snprintf(buf, len, "  (registers unavailable)");
		return;
	}
	snprintf(buf, len,
		 "  rip=%016llx rsp=%016llx rflags=%016llx cpl=%u\n"
		 "  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n"
		 "  rsi=%016llx rdi=%016llx rbp=%016llx r8 =%016llx\n"
		 "  r9 =%016llx r10=%016llx r11=%016llx r12=%016llx\n"
		 "  r13=%016llx r14=%016llx r15=%016llx\n"
		 "  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%llx",
		 r.rip, r.rsp, r.rflags, s.cs.dpl, r.rax, r.rbx, r.rcx, r.rdx,
		 r.rsi, r.rdi, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13,
		 r.r14, r.r15, s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
}

static void crash(struct vcpu *v, const char *what)
{
	char dump[1024];
	struct kvm_regs r;

	vcpu_dump(v, dump, sizeof(dump));
	if (kvm_get_regs(v->fd, &r) < 0)
		r.rip = 0;
	vm_stop(v->vm, VM_STATUS_CRASH, "guest crashed (%s) on vcpu %u at rip=0x%llx\n%s",
		what, v->id, r.rip, dump);
}

static int handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	uint64_t sup;
	uint32_t i;

	if (run->io.data_offset + (uint64_t)run->io.size * run->io.count >
	    (uint64_t)v->vm->kvm.run_size)
		return -EINVAL;
	for (i = 0; i < run->io.count; i++, data += run->io.size) {
		if (!iobus_dispatch(&v->vm->pio, v, run->io.port, data,
				    run->io.size, is_write)) {
			/* Unclaimed port: reads float high, writes are dropped. */
			if (!is_write)
				memset(data, 0xff, run->io.size);
			/* rate-limited with the VM's other guest warnings
			 * (shared budget: the guest can only crowd out
			 * its own messages) - only at -vv: a Linux guest
			 * probes absent ports (COM2-4, 0x80, RTC) routinely,
			 * which must not count as suppressed warnings */
			if (hv_log_enabled(HV_LOG_DEBUG) && vm_warn_ok(v->vm, &sup))
				log_debug("vcpu %u: unclaimed port %s 0x%x", v->id,
					  is_write ? "write" : "read", run->io.port);
		}
	}
	return 0;
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len > 8 ? 8 : run->mmio.len;

	if (!iobus_dispatch(&v->vm->mmio, v, run->mmio.phys_addr, run->mmio.data,
			    len, run->mmio.is_write)) {
		/* No RAM and no device there: a wild guest access. */
		vm_stop(v->vm, VM_STATUS_CRASH,
			"guest crashed: vcpu %u accessed unbacked guest-physical "
			"address 0x%llx (%s, %u bytes)", v->id,
			(unsigned long long)run->mmio.phys_addr,
			run->mmio.is_write ? "write" : "read", len);
	}
}

/* KVM could not go on (e.g. an instruction its emulator lacks, which a
 * Linux guest's CPL0 code meets under kvm_pvm): the reason, the data KVM
 * gives (for emulation failures: the instruction bytes) and the registers,
 * so the instruction can be found in the guest's image. */
static void internal_error(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char dump[1024], data[160] = "";
	uint32_t i, n = run->internal.ndata;
	size_t off = 0;

	if (n > sizeof(run->internal.data) / sizeof(run->internal.data[0]))
		n = 0;                  /* malformed: show none */
	for (i = 0; i < n && off < sizeof(data); i++)
		off += (size_t)snprintf(data + off, sizeof(data) - off, " %llx",
					(unsigned long long)run->internal.data[i]);
	vcpu_dump(v, dump, sizeof(dump));
	vm_stop(v->vm, VM_STATUS_CRASH,
		"KVM internal error on vcpu %u: suberror %u (%s), data:%s\n%s",
		v->id, run->internal.suberror,
		run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
		"instruction emulation failed" : "see KVM docs",
		n ? data : " none", dump);
}

/* Returns false when the vCPU must leave its loop. */
static bool handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		if (handle_io(v) < 0)
			crash(v, "malformed port I/O exit");
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_HLT:
		/* CPL3 guests cannot HLT; only the exception stubs do, after
		 * reporting.  A halted vCPU with no interrupt source is dead. */
		crash(v, "vCPU halted");
		return false;
	case KVM_EXIT_SHUTDOWN:
		crash(v, "triple fault");
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		internal_error(v);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		vm_stop(v->vm, VM_STATUS_CRASH,
			"KVM entry failed on vcpu %u: hardware reason 0x%llx", v->id,
			(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
	default:
		vm_stop(v->vm, VM_STATUS_CRASH, "unhandled KVM exit %u on vcpu %u",
			run->exit_reason, v->id);
		return false;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	char name[16];
	sigset_t set;
	int r;

	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	snprintf(name, sizeof(name), "hv-vcpu%u", v->id);
	r = vm_sandbox_thread(vm, SANDBOX_VCPU, name);

	while (r == 0 && !atomic_load(&vm->stopping)) {
		r = kvm_run(v->fd);
		if (r < 0) {
			if (r == -EINTR || r == -EAGAIN)
				continue;
			if (r == -EFAULT)
				vm_stop(vm, VM_STATUS_CRASH,
					"vcpu %u: KVM_RUN: bad address (guest memory "
					"could not be faulted in)", v->id);
			else
				vm_stop(vm, VM_STATUS_CRASH, "vcpu %u: KVM_RUN: %s",
					v->id, strerror(-r));
			break;
		}
		if (!handle_exit(v))
			break;
	}
	pthread_mutex_lock(&vm->lock);
	vm->running--;
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	struct vm *vm = v->vm;
	int r;

	pthread_mutex_lock(&vm->lock);
	vm->running++;
	pthread_mutex_unlock(&vm->lock);
	r = pthread_create(&v->thread, NULL, vcpu_thread, v);
	if (r) {
		pthread_mutex_lock(&vm->lock);
		vm->running--;
		pthread_mutex_unlock(&vm->lock);
		return -r;
	}
	v->thread_started = true;
	return 0;
}
