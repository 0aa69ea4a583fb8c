/*
 * guest_abi.h - the contract between hvswap and its test guests.
 *
 * Shared by the VMM (host, hosted C) and the guest runtime (freestanding C),
 * so it uses only fixed-width types and no libc.
 *
 * Guest-physical layout:
 *   [0, 2 MiB)            system area owned by the VMM: GDT, IDT, TSS, page
 *                         tables, exception stubs.  Mapped supervisor-only, so
 *                         CPL3 guest code cannot touch it.  Never swapped.
 *   [2 MiB, 2 MiB + mem)  guest RAM (the swappable region).  The guest image is
 *                         loaded at its start (HV_GUEST_LOAD_GPA), the rest is
 *                         free for workloads from align_up(_end) onwards.
 *   [ram_end, +2 MiB)     virtio-mmio window (only when the VM has virtio
 *                         devices): device i at mmio_base + i * HV_VIRTIO_MMIO_SIZE
 *                         (struct hv_info).  No RAM behind it: every access is
 *                         an MMIO exit, so use plain aligned 32-bit loads/stores.
 * Virtual = physical (identity map with 2 MiB pages, U bit set above 2 MiB).
 *
 * vCPU entry state: long mode, CPL3, RFLAGS.IOPL=3 (port I/O allowed at CPL3),
 * RIP = HV_GUEST_LOAD_GPA (first byte of the flat image), RDI = vCPU id,
 * RSI = number of vCPUs, RSP = 0 (the runtime sets its own stack), SSE
 * enabled (CR4.OSFXSR/OSXMMEXCPT).  CS = HV_SEL_UCODE, SS/DS/ES = HV_SEL_UDATA.
 *
 * Hypercalls: the guest fills a struct hv_hcall (8-byte aligned, in guest
 * RAM below 4 GiB) and writes its guest-physical address with a 32-bit OUT to
 * HV_HCALL_PORT.  The VMM validates every pointer/length against guest RAM and
 * writes the result to ->ret (>= 0 success, -errno failure).
 */
#ifndef HVSWAP_GUEST_ABI_H
#define HVSWAP_GUEST_ABI_H

#include <stdint.h>

#define HV_GUEST_ABI_VERSION   2u

#define HV_SYS_AREA_SIZE       0x200000ull          /* 2 MiB */
#define HV_RAM_BASE            HV_SYS_AREA_SIZE      /* guest RAM starts here */
#define HV_GUEST_LOAD_GPA      HV_RAM_BASE
#define HV_GUEST_MAX_IMAGE     0x800000ull          /* image + bss <= 8 MiB */
#define HV_MAX_VCPUS           64u

#define HV_SEL_KCODE           0x08u
#define HV_SEL_KDATA           0x10u
#define HV_SEL_UCODE           0x1bu                 /* index 3, RPL 3 */
#define HV_SEL_UDATA           0x23u                 /* index 4, RPL 3 */
#define HV_SEL_TSS             0x28u

#define HV_HCALL_PORT          0x510u
#define HV_EXC_PORT            0xe0u   /* CPL0 exception stubs: OUT vector here */

enum hv_hcall_nr {
	HV_HC_PRINT    = 0, /* a0=ptr a1=len: write bytes to the VMM's stdout   */
	HV_HC_EXIT     = 1, /* a0=status (0..255): stop the VM with this status */
	HV_HC_METRIC   = 2, /* a0=name ptr a1=name len a2=value (double bits)   */
	HV_HC_GET_ARGS = 3, /* a0=buf a1=len: copy the NUL-terminated argument
	                       string (truncated to len-1); ret = full length    */
	HV_HC_GET_INFO = 4, /* a0=buf a1=len (>= HV_INFO_SIZE_V1): copies
	                       min(len, sizeof(struct hv_info)) bytes         */
	HV_HC_BARRIER  = 5, /* block until every running vCPU has arrived      */
	HV_HC_VCPU_DONE = 6,/* this vCPU has nothing more to do; park it       */
	HV_HC_SLEEP    = 7, /* a0=ns (<= 600 s): block this vCPU that long
	                       without using a host CPU (ret -EINTR: stopping) */
	HV_HC_OVERWRITE = 8,/* a0=gpa a1=len (page aligned): the guest will
	                       overwrite these pages whole before reading them;
	                       the host may drop their old contents (a page
	                       only on swap comes back as zeros, unread).
	                       ret = pages dropped (0 without a swapper)     */
	HV_HC_MAX
};

struct hv_hcall {
	uint64_t nr;
	uint64_t args[5];
	int64_t  ret;
};

struct hv_info {
	uint32_t abi_version;
	uint32_t nr_vcpus;
	uint64_t ram_base;      /* guest-physical start of RAM (= HV_RAM_BASE) */
	uint64_t ram_size;      /* bytes of RAM */
	uint64_t tsc_khz;       /* TSC frequency */
	/* ABI 2 */
	uint64_t mmio_base;     /* first virtio-mmio device (0: none) */
	uint32_t nr_mmio_devs;  /* devices at mmio_base + i * HV_VIRTIO_MMIO_SIZE */
	uint32_t reserved;
};

/* Size of the ABI 1 struct hv_info: GET_INFO accepts buffers this large. */
#define HV_INFO_SIZE_V1        32u

/* The virtio-mmio window after guest RAM (guest-physical, 2 MiB aligned). */
#define HV_VIRTIO_MMIO_SIZE    0x200u            /* per device */
#define HV_VIRTIO_WINDOW_SIZE  0x200000ull       /* whole window */

/* Limits the VMM enforces on hypercall arguments. */
#define HV_PRINT_MAX           65536u
#define HV_METRIC_NAME_MAX     64u
#define HV_ARGS_MAX            4096u

/* Metric names starting with this prefix are errors the guest reports. */
#define HV_GUEST_STATUS_FAIL   1

/* One embedded guest image (generated table, see guest/CMakeLists.txt). */
struct hv_embedded_guest {
	const char *name;
	const char *summary;
	const char *usage;               /* "key=value" arguments it accepts */
	const unsigned char *start;      /* flat binary, loaded at HV_GUEST_LOAD_GPA */
	const unsigned char *end;
};

extern const struct hv_embedded_guest hv_embedded_guests[];
extern const unsigned int hv_embedded_guests_count;

#endif /* HVSWAP_GUEST_ABI_H */
