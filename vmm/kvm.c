/*
 * kvm.c - the only file that issues KVM ioctls (see kvm.h).
 *
 * Owns: the /dev/kvm handle and the supported-CPUID table.  No locks: a
 * struct kvm_sys is set up before vCPU threads start and only read afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm.h"

#define CPUID_MAX_ENTRIES 256

static int xioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do {
		r = ioctl(fd, req, arg);
	} while (r < 0 && errno == EINTR && req != KVM_RUN);
	return r < 0 ? -errno : r;
}

int kvm_sys_open(struct kvm_sys *k, const char *path)
{
	int r, ver;

	memset(k, 0, sizeof(*k));
	k->fd = open(path, O_RDWR | O_CLOEXEC);
	if (k->fd < 0)
		return -errno;
	ver = xioctl(k->fd, KVM_GET_API_VERSION, NULL);
	if (ver != KVM_API_VERSION) {
		r = ver < 0 ? ver : -ENOTSUP;
		goto err_close;
	}
	k->run_size = xioctl(k->fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (k->run_size < 0) {
		r = k->run_size;
		goto err_close;
	}
	k->cpuid = calloc(1, sizeof(*k->cpuid) +
			  CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2));
	if (!k->cpuid) {
		r = -ENOMEM;
		goto err_close;
	}
	k->cpuid->nent = CPUID_MAX_ENTRIES;
	r = xioctl(k->fd, KVM_GET_SUPPORTED_CPUID, k->cpuid);
	if (r < 0)
		goto err_free;
	return 0;

err_free:
	free(k->cpuid);
	k->cpuid = NULL;
err_close:
	close(k->fd);
	k->fd = -1;
	return r;
}

void kvm_sys_close(struct kvm_sys *k)
{
	free(k->cpuid);
	k->cpuid = NULL;
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
}

int kvm_check_cap(struct kvm_sys *k, long cap)
{
	return xioctl(k->fd, KVM_CHECK_EXTENSION, (void *)cap);
}

int kvm_create_vm(struct kvm_sys *k)
{
	return xioctl(k->fd, KVM_CREATE_VM, (void *)0);
}

int kvm_set_user_memory(int vmfd, uint32_t slot, uint64_t gpa, uint64_t size,
			void *host, uint32_t flags)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};
	return xioctl(vmfd, KVM_SET_USER_MEMORY_REGION, &r);
}

int kvm_get_dirty_log(int vmfd, uint32_t slot, uint64_t *bitmap)
{
	struct kvm_dirty_log d = { .slot = slot, .dirty_bitmap = bitmap };

	return xioctl(vmfd, KVM_GET_DIRTY_LOG, &d);
}

int kvm_create_vcpu(int vmfd, int id)
{
	return xioctl(vmfd, KVM_CREATE_VCPU, (void *)(long)id);
}

int kvm_set_cpuid(int vcpufd, const struct kvm_cpuid2 *cpuid)
{
	return xioctl(vcpufd, KVM_SET_CPUID2, (void *)cpuid);
}

int kvm_get_regs(int vcpufd, struct kvm_regs *r)
{
	return xioctl(vcpufd, KVM_GET_REGS, r);
}

int kvm_set_regs(int vcpufd, const struct kvm_regs *r)
{
	return xioctl(vcpufd, KVM_SET_REGS, (void *)r);
}

int kvm_get_sregs(int vcpufd, struct kvm_sregs *s)
{
	return xioctl(vcpufd, KVM_GET_SREGS, s);
}

int kvm_set_sregs(int vcpufd, const struct kvm_sregs *s)
{
	return xioctl(vcpufd, KVM_SET_SREGS, (void *)s);
}

/* KVM_RUN is not restarted on EINTR: an interrupted run is how we stop vCPUs. */
int kvm_run(int vcpufd)
{
	return xioctl(vcpufd, KVM_RUN, NULL);
}

int kvm_get_tsc_khz(int vcpufd)
{
	return xioctl(vcpufd, KVM_GET_TSC_KHZ, NULL);
}

/* In-kernel PIC + IOAPIC + local APICs; before any vCPU is created. */
int kvm_create_irqchip(int vmfd)
{
	return xioctl(vmfd, KVM_CREATE_IRQCHIP, NULL);
}

/* In-kernel i8254 PIT (ports 0x40-0x43, IRQ 0); after the irqchip. */
int kvm_create_pit2(int vmfd)
{
	struct kvm_pit_config cfg = { .flags = KVM_PIT_SPEAKER_DUMMY };

	return xioctl(vmfd, KVM_CREATE_PIT2, &cfg);
}

/* Drive interrupt line `irq` (GSI: PIC and IOAPIC pin) to `level`. */
int kvm_irq_line(int vmfd, uint32_t irq, int level)
{
	struct kvm_irq_level l = { .irq = irq, .level = (uint32_t)level };

	return xioctl(vmfd, KVM_IRQ_LINE, &l);
}

/* Three pages VMX needs for real-mode emulation (harmless elsewhere). */
int kvm_set_tss_addr(int vmfd, uint64_t gpa)
{
	return xioctl(vmfd, KVM_SET_TSS_ADDR, (void *)(uintptr_t)gpa);
}
