/*
 * uffd_rtt.c - the floor of a userfaultfd swap-in on this host: one guest
 * access to a missing page, served by a user-space handler with no I/O
 * (issue 10; section 1 of tests/bench/run.sh).
 *
 *   bench_uffd_rtt [mode=spin|block|off] [pages=20480] [rounds=5] [access=w|r]
 *
 * A minimal KVM guest - hvswap's system area (long mode, CPL3, identity map)
 * and 20 bytes of code, no guest runtime - touches `pages` fresh pages once
 * each, in order, then leaves with one OUT.  The pages are registered with a
 * uffd (MISSING mode); a handler thread serves every fault with one 4 KiB
 * UFFDIO_COPY (one page per fault, no fault-around, no batching):
 *   spin   the uffd is read non-blocking in a busy loop: never sleeps
 *   block  poll() then read(), the way the swapper's fault thread waits
 *   off    no uffd: KVM plus the host kernel's own first-touch fault
 * A round is one KVM_RUN from the entry to that OUT, timed on the vCPU
 * thread, divided by `pages`; then MADV_DONTNEED makes the pages missing
 * again.  One untimed warm-up round runs first (fresh host memory is slow on
 * first touch under nested KVM).
 *
 * Prints one JSON object on stdout: mode, access, pages, rounds, faults (uffd
 * faults served in the timed rounds; pages x rounds when nothing retried),
 * ns_per_fault (one value per timed round), median_ns, min_ns, max_ns,
 * warmup_ns_per_fault.  Exit 0, or 1 with a message on stderr (77: no KVM or
 * no userfaultfd here).
 *
 * Owns one VM (one vCPU, run on the main thread), one uffd and its handler
 * thread.  The handler stops on `stop` (spin) or on the eventfd (block) and
 * is joined before the uffd and the memory go away.  KVM and uffd ioctls go
 * through the project's thin wrappers (vmm/kvm.h, swapper/uffd.h).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hvswap/guest_abi.h"
#include "kvm.h"
#include "uffd.h"
#include "x86.h"

#define PG 4096ull
#define MB2 (2ull << 20)
#define DONE_PORT 0x511u        /* the guest's OUT when a round is done */

/*
 * The guest, at HV_GUEST_LOAD_GPA (CPL3; rdi = first page, rsi = pages,
 * rdx = stride):
 *   mov %rsi,%rcx; 1: mov %al,(%rdi) | mov (%rdi),%al; add %rdx,%rdi;
 *   dec %rcx; jne 1b; mov $DONE_PORT,%dx; out %al,(%dx); 2: jmp 2b
 */
static const uint8_t guest_code[] = {
	0x48, 0x89, 0xf1, 0x88, 0x07, 0x48, 0x01, 0xd7, 0x48, 0xff, 0xc9,
	0x75, 0xf6, 0x66, 0xba, DONE_PORT & 0xff, DONE_PORT >> 8, 0xee,
	0xeb, 0xfe,
};
#define ACCESS_OFF 3            /* 0x88 0x07 write, 0x8a 0x07 read */

enum mode { M_SPIN, M_BLOCK, M_OFF };

struct rtt {
	enum mode mode;
	bool write;
	uint64_t pages;
	unsigned int rounds;
	struct kvm_sys kvm;
	int vmfd, vcpufd, uffd, stopfd;
	struct kvm_run *run;
	uint8_t *sys, *ram, *region;    /* region = ram + 2 MiB */
	uint64_t ram_size;
	uint8_t *src;                   /* the page every UFFDIO_COPY copies */
	pthread_t thr;
	bool thr_started;
	_Atomic bool stop;
	_Atomic uint64_t served;        /* fault messages taken by the handler */
	_Atomic int handler_err;        /* first handler error (-errno) */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Serve one fault.  The rules (as the swapper's): -EEXIST means the page
 * is already there (served); -EAGAIN means the mm changed under the copy,
 * so try again.
 */
static int serve(struct rtt *t, const struct uffd_msg *m)
{
	void *dst;
	int r;

	if (m->event != UFFD_EVENT_PAGEFAULT)
		return 0;
	atomic_fetch_add_explicit(&t->served, 1, memory_order_relaxed);
	dst = (void *)(uintptr_t)(m->arg.pagefault.address & ~(PG - 1));
	do {
		r = uffd_copy(t->uffd, dst, t->src, PG, false, false);
	} while (r == -EAGAIN);
	return r == -EEXIST ? 0 : r;
}

static void *handler(void *arg)
{
	struct rtt *t = arg;
	struct pollfd pfd[2] = {
		{ .fd = t->uffd, .events = POLLIN },
		{ .fd = t->stopfd, .events = POLLIN },
	};
	struct uffd_msg msgs[16];
	ssize_t n;
	int r = 0;

	while (!atomic_load_explicit(&t->stop, memory_order_relaxed)) {
		if (t->mode == M_BLOCK) {
			if (poll(pfd, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				r = -errno;
				break;
			}
			if (pfd[1].revents)
				break;
		}
		n = read(t->uffd, msgs, sizeof(msgs));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				if (t->mode == M_SPIN)
					__builtin_ia32_pause();
				continue;
			}
			r = -errno;
			break;
		}
		for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]) && !r; i++)
			r = serve(t, &msgs[i]);
		if (r)
			break;
	}
	if (r) {
		atomic_store(&t->handler_err, r);
		/* Unregistering wakes the vCPU: its fault completes without us
		 * and the round ends, reporting the error. */
		uffd_unregister(t->uffd, t->region, t->pages * PG);
	}
	return NULL;
}

static int setup_vm(struct rtt *t)
{
	struct kvm_sregs sregs;
	int r;

	r = kvm_sys_open(&t->kvm, "/dev/kvm");
	if (r < 0)
		return r;
	t->vmfd = kvm_create_vm(&t->kvm);
	if (t->vmfd < 0)
		return t->vmfd;
	t->ram_size = MB2 + ((t->pages * PG + MB2 - 1) & ~(MB2 - 1));
	t->sys = mmap(NULL, HV_SYS_AREA_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t->ram = mmap(NULL, t->ram_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (t->sys == MAP_FAILED || t->ram == MAP_FAILED) {
		t->sys = t->sys == MAP_FAILED ? NULL : t->sys;
		t->ram = t->ram == MAP_FAILED ? NULL : t->ram;
		return -ENOMEM;
	}
	/* 4 KiB pages only: one fault per page, as the swapper sees them. */
	madvise(t->ram, t->ram_size, MADV_NOHUGEPAGE);
	t->region = t->ram + MB2;
	r = x86_build_sysarea(t->sys, HV_RAM_BASE + t->ram_size);
	if (r < 0)
		return r;
	memcpy(t->ram, guest_code, sizeof(guest_code));
	t->ram[ACCESS_OFF] = t->write ? 0x88 : 0x8a;
	r = kvm_set_user_memory(t->vmfd, 0, 0, HV_SYS_AREA_SIZE, t->sys, 0);
	if (r >= 0)
		r = kvm_set_user_memory(t->vmfd, 1, HV_RAM_BASE, t->ram_size, t->ram, 0);
	if (r < 0)
		return r;
	t->vcpufd = kvm_create_vcpu(t->vmfd, 0);
	if (t->vcpufd < 0)
		return t->vcpufd;
	t->run = mmap(NULL, (size_t)t->kvm.run_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED, t->vcpufd, 0);
	if (t->run == MAP_FAILED) {
		t->run = NULL;
		return -errno;
	}
	r = kvm_set_cpuid(t->vcpufd, t->kvm.cpuid);
	if (r >= 0)
		r = kvm_get_sregs(t->vcpufd, &sregs);
	if (r < 0)
		return r;
	x86_init_sregs(&sregs);
	return kvm_set_sregs(t->vcpufd, &sregs);
}

static int setup_uffd(struct rtt *t)
{
	uint64_t ioctls;
	int r;

	if (t->mode == M_OFF)
		return 0;
	t->src = aligned_alloc(PG, PG);
	if (!t->src)
		return -ENOMEM;
	memset(t->src, 0x5a, PG);       /* not a zero page: a real copy */
	t->uffd = uffd_open(0);
	if (t->uffd < 0)
		return t->uffd;
	r = uffd_register(t->uffd, t->region, t->pages * PG,
			  UFFDIO_REGISTER_MODE_MISSING, &ioctls);
	if (r < 0)
		return r;
	t->stopfd = eventfd(0, EFD_CLOEXEC);
	if (t->stopfd < 0)
		return -errno;
	r = pthread_create(&t->thr, NULL, handler, t);
	if (r)
		return -r;
	t->thr_started = true;
	return 0;
}

static void teardown(struct rtt *t)
{
	if (t->thr_started) {
		uint64_t one = 1;

		atomic_store(&t->stop, true);
		if (write(t->stopfd, &one, sizeof(one)) < 0)
			perror("uffd_rtt: eventfd");
		pthread_join(t->thr, NULL);
	}
	if (t->stopfd >= 0)
		close(t->stopfd);
	if (t->uffd >= 0)
		close(t->uffd);
	if (t->run)
		munmap(t->run, (size_t)t->kvm.run_size);
	if (t->vcpufd >= 0)
		close(t->vcpufd);
	if (t->vmfd >= 0)
		close(t->vmfd);
	if (t->ram)
		munmap(t->ram, t->ram_size);
	if (t->sys)
		munmap(t->sys, HV_SYS_AREA_SIZE);
	free(t->src);
	kvm_sys_close(&t->kvm);
}

/* One round: enter the guest at its first byte, run until its OUT.
 * Returns the round's ns or -errno (message printed). */
static int64_t round_once(struct rtt *t)
{
	struct kvm_regs regs;
	uint64_t t0, t1;
	int r;

	x86_init_regs(&regs, 0, 1);
	regs.rdi = HV_RAM_BASE + MB2;
	regs.rsi = t->pages;
	regs.rdx = PG;
	r = kvm_set_regs(t->vcpufd, &regs);
	if (r < 0)
		return r;
	t0 = now_ns();
	for (;;) {
		r = kvm_run(t->vcpufd);
		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r < 0) {
			fprintf(stderr, "uffd_rtt: KVM_RUN: %s\n", strerror(-r));
			return r;
		}
		if (t->run->exit_reason == KVM_EXIT_INTR)
			continue;
		if (t->run->exit_reason == KVM_EXIT_IO &&
		    t->run->io.port == DONE_PORT)
			break;
		if (t->run->exit_reason == KVM_EXIT_IO &&
		    t->run->io.port == HV_EXC_PORT) {
			uint8_t vec = *((uint8_t *)t->run + t->run->io.data_offset);

			fprintf(stderr, "uffd_rtt: guest exception %u (%s)\n", vec,
				x86_exception_name(vec));
		} else {
			fprintf(stderr, "uffd_rtt: unexpected exit %u\n",
				t->run->exit_reason);
		}
		return -EIO;
	}
	t1 = now_ns();
	r = atomic_load(&t->handler_err);
	if (r < 0) {
		fprintf(stderr, "uffd_rtt: handler: %s\n", strerror(-r));
		return r;
	}
	/* Make every page missing again for the next round. */
	if (madvise(t->region, t->pages * PG, MADV_DONTNEED) < 0)
		return -errno;
	return (int64_t)(t1 - t0);
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int parse(struct rtt *t, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = strchr(a, '=');
		char *end;

		if (!v)
			goto bad;
		v++;
		if (!strncmp(a, "mode=", 5)) {
			if (!strcmp(v, "spin"))
				t->mode = M_SPIN;
			else if (!strcmp(v, "block"))
				t->mode = M_BLOCK;
			else if (!strcmp(v, "off"))
				t->mode = M_OFF;
			else
				goto bad;
		} else if (!strncmp(a, "access=", 7)) {
			if (strcmp(v, "w") && strcmp(v, "r"))
				goto bad;
			t->write = !strcmp(v, "w");
		} else if (!strncmp(a, "pages=", 6)) {
			t->pages = strtoull(v, &end, 0);
			if (*end || !t->pages || t->pages > (16ull << 30) / PG)
				goto bad;
		} else if (!strncmp(a, "rounds=", 7)) {
			t->rounds = (unsigned int)strtoul(v, &end, 0);
			if (*end || !t->rounds || t->rounds > 1000)
				goto bad;
		} else {
			goto bad;
		}
		continue;
bad:
		fprintf(stderr, "usage: bench_uffd_rtt [mode=spin|block|off] "
			"[pages=1..4194304] [rounds=1..1000] [access=w|r] (bad: '%s')\n", a);
		return -1;
	}
	return 0;
}

static const char *const mode_names[] = { "spin", "block", "off" };

int main(int argc, char **argv)
{
	struct rtt t = {
		.mode = M_SPIN, .write = true, .pages = 20480, .rounds = 5,
		.vmfd = -1, .vcpufd = -1, .uffd = -1, .stopfd = -1,
	};
	double *ns = NULL, sorted_med, warm;
	uint64_t served0;
	int64_t d;
	int r, rc = 1;

	if (parse(&t, argc, argv))
		return 2;
	ns = calloc(t.rounds, sizeof(*ns));
	if (!ns)
		return 1;
	r = setup_vm(&t);
	if (r < 0) {
		fprintf(stderr, "uffd_rtt: cannot set up the VM: %s\n", strerror(-r));
		rc = (r == -ENOENT || r == -EACCES) ? 77 : 1;
		goto out;
	}
	r = setup_uffd(&t);
	if (r < 0) {
		fprintf(stderr, "uffd_rtt: cannot set up userfaultfd: %s\n", strerror(-r));
		rc = (r == -ENOSYS || r == -EPERM) ? 77 : 1;
		goto out;
	}
	d = round_once(&t);                     /* warm-up, untimed */
	if (d < 0)
		goto out;
	warm = (double)d / (double)t.pages;
	served0 = atomic_load(&t.served);
	for (unsigned int i = 0; i < t.rounds; i++) {
		d = round_once(&t);
		if (d < 0)
			goto out;
		ns[i] = (double)d / (double)t.pages;
	}
	printf("{\"mode\":\"%s\",\"access\":\"%s\",\"pages\":%llu,\"rounds\":%u,"
	       "\"faults\":%llu,\"ns_per_fault\":[", mode_names[t.mode],
	       t.write ? "w" : "r", (unsigned long long)t.pages, t.rounds,
	       (unsigned long long)(atomic_load(&t.served) - served0));
	for (unsigned int i = 0; i < t.rounds; i++)
		printf("%s%.1f", i ? "," : "", ns[i]);
	qsort(ns, t.rounds, sizeof(*ns), cmp_dbl);
	sorted_med = t.rounds % 2 ? ns[t.rounds / 2]
				  : (ns[t.rounds / 2 - 1] + ns[t.rounds / 2]) / 2;
	printf("],\"median_ns\":%.1f,\"min_ns\":%.1f,\"max_ns\":%.1f,"
	       "\"warmup_ns_per_fault\":%.1f}\n", sorted_med, ns[0],
	       ns[t.rounds - 1], warm);
	rc = 0;
out:
	teardown(&t);
	free(ns);
	return rc;
}
