/*
 * rt.h - the freestanding runtime of hvswap's test guests.
 *
 * A guest program defines
 *     int guest_main(unsigned vcpu, unsigned nvcpus);
 * which every vCPU runs at CPL3 on its own stack.  The runtime (start.S,
 * rt.c) zeroes .bss once, fetches the VM info and argument string once
 * (vCPU 0, before a barrier), then calls guest_main on every vCPU.  When all
 * have returned, vCPU 0 exits the VM with the largest status (negative
 * statuses count as 1, clamped to 0..255); the others park themselves.
 *
 * Everything here is callable from any vCPU at any time after start-up.
 * Hypercall arguments follow include/hvswap/guest_abi.h.
 */
#ifndef HV_GUEST_RT_H
#define HV_GUEST_RT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvswap/guest_abi.h"

#define HV_PAGE_SIZE      4096u
#define HV_RT_STACK_SIZE  0x8000u      /* per vCPU; keep in sync with start.S */
#define HV_EFAULT         14
#define HV_EINVAL         22

#define hv_align_up(x, a)   (((x) + (a) - 1) & ~((uint64_t)(a) - 1))
#define hv_align_down(x, a) ((x) & ~((uint64_t)(a) - 1))
#define hv_min(a, b)        ((a) < (b) ? (a) : (b))
#define hv_max(a, b)        ((a) > (b) ? (a) : (b))
#define HV_ARRAY_SIZE(a)    (sizeof(a) / sizeof((a)[0]))

/* Provided by the guest program. */
int guest_main(unsigned vcpu, unsigned nvcpus);

/* ---- hypercalls ---------------------------------------------------- */
int64_t hv_hypercall(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2,
		     uint64_t a3, uint64_t a4);
int64_t hv_write(const char *buf, size_t len);     /* HV_HC_PRINT */
void hv_print(const char *s);
__attribute__((noreturn)) void hv_exit(int status);
int64_t hv_metric(const char *name, double value);
int64_t hv_barrier(void);
/* Block this vCPU for ns nanoseconds (<= 600 s) without using a host CPU. */
int64_t hv_sleep_ns(uint64_t ns);
/* The caller will overwrite [p, p+len) (page aligned) whole before reading
 * it: the host may drop its old contents (HV_HC_OVERWRITE). */
int64_t hv_overwrite_hint(void *p, uint64_t len);
const struct hv_info *hv_get_info(void);           /* cached, never NULL */

/* ---- identity, time, memory ---------------------------------------- */
unsigned hv_vcpu_id(void);                          /* from the stack pointer */
unsigned hv_nr_vcpus(void);
uint64_t hv_heap_start(void);   /* align_up(_end, 4 KiB) */
uint64_t hv_heap_end(void);     /* info.ram_base + info.ram_size */
uint64_t hv_tsc_to_ns(uint64_t cycles);             /* 0 if tsc_khz unknown */

static inline uint64_t hv_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void hv_cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

/* A test-and-test-and-set spinlock (0 = free): the guests' drivers and
 * paging layer share one between vCPUs. */
static inline void hv_spin_lock(volatile int *l)
{
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		while (*l)
			hv_cpu_relax();
}

static inline void hv_spin_unlock(volatile int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/* ---- formatted output ---------------------------------------------- */
/*
 * Conversions: %d %i %u %x %X %o %c %s %p %% %f, length modifiers hh h l ll
 * z j t, flags '-' '0' '+' ' ', width and precision (also '*').  %f is fixed
 * point (default precision 6, at most 17; ties round away from zero) for
 * |v| < 1.8e19, else it prints "big".  Output is truncated to the buffer; the return value is the length
 * the full output would have had (like C99 snprintf).
 */
int hv_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
int hv_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int hv_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* v with prec decimals into buf (NUL-terminated); returns the length. */
int hv_fmt_double(char *buf, size_t size, double v, unsigned prec);

/* ---- arguments: "key=value key=value ..." --------------------------- */
/*
 * The VMM's argument string, split on blanks.  A bare "key" means "key=1".
 * When a key repeats, the last one wins.  Malformed numbers print an error
 * and exit the VM with status 2 (the argument boundary is the place for a
 * human-readable message).
 */
const char *hv_args(void);                          /* the raw string */
bool hv_arg_present(const char *key);
const char *hv_arg_str(const char *key, const char *def);
/* Decimal or 0x hex, optional K/M/G/T suffix (x1024^n, "KiB"/"KB" too). */
uint64_t hv_arg_u64(const char *key, uint64_t def);
double hv_arg_double(const char *key, double def);
/* Print every key not in known[] (NULL-terminated); returns -HV_EINVAL. */
int hv_args_check(const char *const *known);

/* ---- strings and memory (gcc may emit calls to the mem* ones) ------- */
size_t hv_strlen(const char *s);
int hv_strcmp(const char *a, const char *b);
int hv_strncmp(const char *a, const char *b, size_t n);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#endif /* HV_GUEST_RT_H */
