/*
 * kvm.h - thin wrappers around the KVM ioctls.  Nothing else in hvswap calls
 * a KVM ioctl directly.  All return >= 0 on success, -errno on failure.
 */
#ifndef HVSWAP_VMM_KVM_H
#define HVSWAP_VMM_KVM_H

#include <stdint.h>
#include <linux/kvm.h>

struct kvm_sys {
	int fd;                 /* /dev/kvm */
	int run_size;           /* mmap size of struct kvm_run */
	struct kvm_cpuid2 *cpuid;   /* KVM_GET_SUPPORTED_CPUID, malloc'd */
};

int kvm_sys_open(struct kvm_sys *k, const char *path);
void kvm_sys_close(struct kvm_sys *k);
int kvm_check_cap(struct kvm_sys *k, long cap);
int kvm_create_vm(struct kvm_sys *k);
int kvm_set_user_memory(int vmfd, uint32_t slot, uint64_t gpa, uint64_t size,
			void *host, uint32_t flags);
/* The memslot's pages written since the last call (one bit per page, a
 * bitmap of (pages + 63) / 64 words); restarts the log. */
int kvm_get_dirty_log(int vmfd, uint32_t slot, uint64_t *bitmap);
int kvm_create_vcpu(int vmfd, int id);
int kvm_set_cpuid(int vcpufd, const struct kvm_cpuid2 *cpuid);
int kvm_get_regs(int vcpufd, struct kvm_regs *r);
int kvm_set_regs(int vcpufd, const struct kvm_regs *r);
int kvm_get_sregs(int vcpufd, struct kvm_sregs *s);
int kvm_set_sregs(int vcpufd, const struct kvm_sregs *s);
int kvm_run(int vcpufd);
int kvm_get_tsc_khz(int vcpufd);
int kvm_create_irqchip(int vmfd);
int kvm_create_pit2(int vmfd);
int kvm_irq_line(int vmfd, uint32_t irq, int level);
int kvm_set_tss_addr(int vmfd, uint64_t gpa);

#endif
