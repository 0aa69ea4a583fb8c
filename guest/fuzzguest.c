/*
 * fuzzguest.c - a hostile guest that fuzzes the VMM from inside: seeded
 * random hypercalls (any number, pointer and length), port I/O (the
 * hypercall ports with bad blocks and access sizes, unclaimed ports), MMIO
 * to the virtio-blk window (any register, value and access size, random
 * queue set-ups and notifies) and virtio-blk requests with random chains,
 * all while streaming over a scratch area larger than the resident limit so
 * the swapper evicts and faults pages back throughout.
 *
 * What it checks: a canary area (canary=SIZE, default 4M, stamped with a
 * seeded pattern before the first op) is intact at every quarter and at the
 * end.  Every pointer the fuzzer hands to the VMM that could be written
 * through (hypercall buffers, rings, descriptor buffers) avoids the guest's
 * own image, stack, bss and the canary, so any change to the canary is the
 * VMM's doing.  The guest returns status=N (default 42) when the canary is
 * intact and 1 otherwise, so a run that ends with any other status means
 * the VMM stopped the guest.  Exits (HV_HC_EXIT), parking, barriers and the
 * exception port are never issued: they end or stall the run by design.
 *
 * Arguments: seed=N ops=N canary=SIZE status=N.  Needs a disk
 * (--disk-size) for the MMIO part; without one it skips it.
 * vCPU 0 fuzzes; other vCPUs return at once.
 */
#include "lib/prng.h"
#include "rt.h"
#include "virtio_blk.h"

#define R_QUEUE_NOTIFY 0x050

static struct prng rng;
static struct vblk dev;
static uint64_t ram_base, ram_end, canary, canary_end, scratch, scratch_end;
static uint64_t seed;
static uint64_t nhc, nport, nmmio, nreq, nreset;

static const char *const known_args[] = { "seed", "ops", "canary", "status", NULL };

static uint64_t rnd(uint64_t n)
{
	return prng_below(&rng, n);
}

/* Could the VMM write [p, p+len) without hitting what we must keep?  True
 * outside guest RAM's protected head [ram_base, canary_end). */
static bool safe(uint64_t p, uint64_t len)
{
	return p >= canary_end || (len <= ram_base && p <= ram_base - len);
}

static uint64_t any_ptr(void)
{
	switch (rnd(6)) {
	case 0: return scratch + rnd(scratch_end - scratch);
	case 1: return prng_next(&rng);
	case 2: return ram_end - rnd(64);
	case 3: return rnd(HV_SYS_AREA_SIZE);
	case 4: return ram_end + rnd(HV_VIRTIO_WINDOW_SIZE);
	default: return (uint32_t)prng_next(&rng);
	}
}

static uint64_t any_len(void)
{
	static const uint64_t lens[] = { 0, 1, 8, 64, 511, 512, 4096, 65536, 65537,
					 ~0ull, 1ull << 32 };

	return rnd(4) ? lens[rnd(HV_ARRAY_SIZE(lens))] : (uint32_t)prng_next(&rng);
}

/* A pointer/length pair the VMM may write through. */
static void safe_buf(uint64_t *p, uint64_t *len)
{
	do {
		*p = any_ptr();
		*len = any_len();
	} while (!safe(*p, *len));
}

static void fuzz_hypercall(void)
{
	static const uint64_t nrs[] = { HV_HC_PRINT, HV_HC_METRIC, HV_HC_GET_ARGS,
					HV_HC_GET_INFO, HV_HC_MAX, 0x100, ~0ull };
	uint64_t a[5];

	safe_buf(&a[0], &a[1]);         /* (pointer, length) of every call */
	safe_buf(&a[2], &a[3]);
	a[4] = prng_next(&rng);
	hv_hypercall(nrs[rnd(HV_ARRAY_SIZE(nrs))], a[0], a[1], a[2], a[3], a[4]);
	nhc++;
}

static void out(uint16_t port, uint32_t v, unsigned size)
{
	if (size == 1)
		__asm__ volatile("outb %b0, %w1" :: "a"(v), "Nd"(port) : "memory");
	else if (size == 2)
		__asm__ volatile("outw %w0, %w1" :: "a"(v), "Nd"(port) : "memory");
	else
		__asm__ volatile("outl %0, %w1" :: "a"(v), "Nd"(port) : "memory");
}

static uint32_t in(uint16_t port, unsigned size)
{
	uint32_t v = 0;

	if (size == 1)
		__asm__ volatile("inb %w1, %b0" : "+a"(v) : "Nd"(port) : "memory");
	else if (size == 2)
		__asm__ volatile("inw %w1, %w0" : "+a"(v) : "Nd"(port) : "memory");
	else
		__asm__ volatile("inl %w1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

/* Hypercall ports with blocks that never decode to a real call (odd or
 * outside RAM), wrong access sizes, and unclaimed ports. */
static void fuzz_port(void)
{
	unsigned size = 1u << rnd(3);
	uint16_t port = rnd(2) ? (uint16_t)(HV_HCALL_PORT + rnd(4)) :
		(uint16_t)(0x600 + rnd(0xa00));
	uint32_t v = (uint32_t)prng_next(&rng);

	if (v >= ram_base && v < ram_end)
		v |= 1;
	if (rnd(4))
		out(port, v, size);
	else
		(void)in(port, size);
	nport++;
}

/* Any register of device 0, any value; addresses only from safe pointers. */
static void fuzz_mmio(void)
{
	volatile uint8_t *regs = (volatile uint8_t *)(uintptr_t)dev.base;
	uint32_t off = (uint32_t)rnd(HV_VIRTIO_MMIO_SIZE);
	uint64_t p;
	uint32_t v;

	if (rnd(4))
		off &= ~3u;
	v = (uint32_t)prng_next(&rng);
	if (off >= 0x80 && off < 0xb0) {        /* ring addresses */
		do {
			p = any_ptr();
		} while (!safe(p, 4096));
		v = off & 4 ? (uint32_t)(p >> 32) : (uint32_t)p;
	}
	if (off == 0x038)
		v = 1u << rnd(10);              /* queue sizes, some valid */
	switch (rnd(5)) {
	case 0: (void)*(volatile uint32_t *)(regs + (off & ~3u)); break;
	case 1: *(volatile uint8_t *)(regs + off) = (uint8_t)v; break;
	case 2: (void)*(volatile uint16_t *)(regs + (off & ~1u)); break;
	default: *(volatile uint32_t *)(regs + (off & ~3u)) = v; break;
	}
	if (rnd(8) == 0)
		*(volatile uint32_t *)(regs + R_QUEUE_NOTIFY) = (uint32_t)rnd(2);
	nmmio++;
}

/* A random chain through the (re-initialised) driver. */
static void fuzz_request(void)
{
	struct vblk_desc chain[8];
	struct vblk_hdr *h = (struct vblk_hdr *)(uintptr_t)hv_align_up(scratch, 16);
	uint8_t *st = (uint8_t *)(uintptr_t)(scratch + 64);
	unsigned n = 1 + (unsigned)rnd(6), i;
	uint64_t p, len;
	uint32_t used;
	int r;

	h->type = (uint32_t)(rnd(2) ? rnd(9) : prng_next(&rng));
	h->sector = rnd(2) ? rnd(4096) : prng_next(&rng);
	chain[0] = (struct vblk_desc){ (uintptr_t)h, rnd(8) ? 16 : (uint32_t)rnd(64),
				       VBLK_D_NEXT, 1 };
	for (i = 1; i < n; i++) {
		safe_buf(&p, &len);
		if (rnd(2))
			len = 512 * (1 + rnd(16));
		chain[i] = (struct vblk_desc){ p, (uint32_t)len,
			(uint16_t)(rnd(8) ? (VBLK_D_NEXT | (rnd(2) ? VBLK_D_WRITE : 0)) :
				   prng_next(&rng)), (uint16_t)(rnd(16) ? i + 1 : rnd(70)) };
	}
	chain[n] = (struct vblk_desc){ (uintptr_t)st, 1, VBLK_D_WRITE, 0 };
	r = vblk_submit_raw(&dev, chain, n + 1, 0, &used);
	if (r < 0) {
		nreset++;
		vblk_reinit(&dev);
	}
	nreq++;
}

static uint64_t stamp(uint64_t addr)
{
	return prng_mix64(addr ^ seed);
}

static uint64_t check_canary(void)
{
	uint64_t a, bad = 0;

	for (a = canary; a < canary_end; a += 8)
		bad += *(volatile uint64_t *)(uintptr_t)a != stamp(a);
	return bad;
}

int guest_main(unsigned vcpu, unsigned nvcpus)
{
	const struct hv_info *info = hv_get_info();
	uint64_t ops, i, bad = 0, a;
	int status = (int)hv_arg_u64("status", 42);
	bool have_dev;

	(void)nvcpus;
	if (vcpu != 0)
		return 0;
	if (hv_args_check(known_args) < 0)
		return 2;
	seed = hv_arg_u64("seed", 1);
	ops = hv_arg_u64("ops", 20000);
	prng_seed(&rng, seed);
	ram_base = info->ram_base;
	ram_end = info->ram_base + info->ram_size;
	canary = hv_align_up(hv_heap_start(), HV_PAGE_SIZE);
	canary_end = canary + hv_arg_u64("canary", 4u << 20);
	scratch = canary_end;
	scratch_end = ram_end;
	if (scratch_end <= scratch + (1u << 20)) {
		hv_printf("fuzzguest: not enough RAM for canary=%lu\n",
			  (unsigned long)(canary_end - canary));
		return 2;
	}
	for (a = canary; a < canary_end; a += 8)
		*(uint64_t *)(uintptr_t)a = stamp(a);
	have_dev = info->nr_mmio_devs && vblk_probe(&dev, 0) == 0 && vblk_init(&dev) == 0;
	if (have_dev && !dev.timeout_cycles)
		dev.timeout_cycles = info->tsc_khz ? info->tsc_khz * 1000 : 1ull << 32;
	hv_printf("fuzzguest: seed=%lu ops=%lu canary=%lu KiB scratch=%lu KiB disk=%d\n",
		  (unsigned long)seed, (unsigned long)ops,
		  (unsigned long)((canary_end - canary) >> 10),
		  (unsigned long)((scratch_end - scratch) >> 10), have_dev);
	for (i = 0; i < ops; i++) {
		/* keep the swapper busy: one page of scratch per op */
		*(volatile uint64_t *)(uintptr_t)hv_align_down(scratch + rnd(scratch_end - scratch - 8), 8) =
			prng_next(&rng);
		switch (rnd(have_dev ? 4 : 2)) {
		case 0: fuzz_hypercall(); break;
		case 1: fuzz_port(); break;
		case 2: fuzz_mmio(); break;
		default: fuzz_request(); break;
		}
		if ((i + 1) % (ops / 4 + 1) == 0)
			bad += check_canary();
	}
	bad += check_canary();
	hv_metric("fuzz_hypercalls", (double)nhc);
	hv_metric("fuzz_port_ops", (double)nport);
	hv_metric("fuzz_mmio_ops", (double)nmmio);
	hv_metric("fuzz_requests", (double)nreq);
	hv_metric("fuzz_device_resets", (double)nreset);
	hv_metric("canary_bad_words", (double)bad);
	hv_printf("fuzzguest: %s: %lu hypercalls, %lu port, %lu mmio, %lu requests, "
		  "%lu bad canary words\n", bad ? "CORRUPT" : "OK", (unsigned long)nhc,
		  (unsigned long)nport, (unsigned long)nmmio, (unsigned long)nreq,
		  (unsigned long)bad);
	return bad ? 1 : status;
}
