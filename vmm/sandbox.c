/*
 * sandbox.c - the seccomp allow-lists of hvswap's threads (see sandbox.h).
 *
 * Owns: nothing but constant tables; a filter lives in the kernel, attached
 * to the thread that loaded it (and inherited by threads it creates later).
 * No locks.  The SIGSYS handler is process-wide (sigaction), installed by
 * the first sandbox_enter() and never removed.
 *
 * The lists, by what a thread of each kind does after set-up:
 *   base     every thread: memory (malloc, thread stacks), futexes and
 *            signals (pthread), time, read/write/pread/pwrite on fds it
 *            already holds, KVM and userfaultfd ioctls only (type 0xAE, 0xAA;
 *            plus TCGETS), tgkill of this process only, exit.
 *   vcpu     base + fsync/fdatasync (virtio-blk FLUSH), fallocate (a
 *            virtio-balloon inflate punches holes in memfd RAM),
 *            sendmsg/recvmsg/recvfrom (a vhost-user-blk device's messages
 *            to its back-end when the guest starts or resets it).  No socket, no
 *            exec, no thread creation: a guest that took over a vCPU thread
 *            can only reach what it could reach already.  open/openat fail
 *            with EACCES (see refuse_open()) in this and the next three.
 *   fault, reclaim, io
 *            base + the asynchronous I/O calls (io_submit, io_getevents,
 *            io_uring_enter), fallocate (swap files; eviction punches
 *            holes in memfd guest RAM), fsync/fdatasync.
 *   ctl, main
 *            the above + what run-time administration needs: open files
 *            (swapon, stats), unlink/rename, locks, socket traffic on the
 *            listening socket (accept4, send/recv, SO_PEERCRED), creating
 *            I/O contexts and threads (clone with CLONE_THREAD only; clone3
 *            answers ENOSYS so glibc falls back to clone, whose flags a
 *            filter can check), NUMA moves, block-device size ioctls.
 *            Never: execve, fork, socket/connect, ptrace, mount, bpf, ...
 * A call outside the list traps (SCMP_ACT_TRAP): the handler prints the
 * thread's name and the system call's name on stderr, then re-raises SIGSYS
 * with the default action, which kills the process (status 128+31).
 */
#include <errno.h>
#include <linux/sched.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hvswap/log.h"
#include "sandbox.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

static const char *const kind_names[SANDBOX_NR_KINDS] = {
	[SANDBOX_MAIN] = "main", [SANDBOX_VCPU] = "vcpu",
	[SANDBOX_FAULT] = "fault", [SANDBOX_RECLAIM] = "reclaim",
	[SANDBOX_IO] = "io", [SANDBOX_CTL] = "ctl",
};

/* Which lists a kind gets. */
#define L_BASE  1u
#define L_VCPU  2u
#define L_SWAP  4u
#define L_ADMIN 8u

static const unsigned int kind_lists[SANDBOX_NR_KINDS] = {
	[SANDBOX_MAIN] = L_BASE | L_VCPU | L_SWAP | L_ADMIN,
	[SANDBOX_VCPU] = L_BASE | L_VCPU,
	[SANDBOX_FAULT] = L_BASE | L_VCPU | L_SWAP,
	[SANDBOX_RECLAIM] = L_BASE | L_VCPU | L_SWAP,
	[SANDBOX_IO] = L_BASE | L_VCPU | L_SWAP,
	[SANDBOX_CTL] = L_BASE | L_VCPU | L_SWAP | L_ADMIN,
};

/* Unconditionally allowed system calls, by list.  Names the running
 * libseccomp does not know for this architecture are skipped. */
static const char *const base_calls[] = {
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv",
	"pwritev", "preadv2", "pwritev2", "close", "lseek", "fstat", "newfstatat",
	"statx", "futex", "nanosleep", "clock_nanosleep", "clock_gettime",
	"clock_getres", "gettimeofday", "sched_yield", "sched_getaffinity",
	"getpid", "gettid", "getuid", "geteuid", "getgid", "getegid",
	"rt_sigreturn", "rt_sigprocmask", "rt_sigtimedwait", "sigaltstack",
	"restart_syscall", "mmap", "munmap", "mprotect", "madvise", "mremap",
	"brk", "exit", "exit_group", "getrandom", "poll", "ppoll", "rseq",
	"set_robust_list", "fcntl", "getrusage", "membarrier",
	"sysinfo",      /* glibc qsort() sizes its buffer by physical memory */
	"mincore",      /* huge units: is a unit mapped after UFFDIO_COPY
			   (page_check_filled, any thread that installs) */
};
/* sendmsg/recvmsg: a vhost-user-blk device talks to its back-end from the
 * vCPU that starts or resets it (vhost_user.c), on the socket it has. */
static const char *const vcpu_calls[] = { "fsync", "fdatasync", "fallocate",
					  "sendmsg", "recvmsg", "recvfrom" };
static const char *const swap_calls[] = {
	"io_submit", "io_getevents", "io_pgetevents", "io_uring_enter",
	"fallocate",
};
static const char *const admin_calls[] = {
	"open", "openat", "unlink", "unlinkat", "rename", "renameat", "renameat2",
	"linkat", "ftruncate", "fchmod", "chmod", "fchmodat", "statfs", "fstatfs",
	"flock", "accept", "accept4", "recvfrom", "recvmsg", "sendto", "sendmsg",
	"shutdown", "getsockopt", "setsockopt", "getsockname", "getpeername",
	"select", "pselect6", "io_setup", "io_destroy", "io_uring_setup",
	"io_uring_register", "eventfd2", "move_pages", "get_mempolicy",
	"set_mempolicy", "mbind", "memfd_create", "mlock", "mlock2", "munlock",
	"readlink", "readlinkat", "getdents64", "access", "faccessat",
	"faccessat2", "uname", "rt_sigaction", "getcwd", "umask",
	"pipe2", "dup", "dup3", "stat", "lstat", "mkdir", "mkdirat",
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

const char *sandbox_kind_name(enum sandbox_kind kind)
{
	return (unsigned int)kind < SANDBOX_NR_KINDS ? kind_names[kind] : "?";
}

int sandbox_kind_parse(const char *name, enum sandbox_kind *out)
{
	unsigned int i;

	for (i = 0; i < SANDBOX_NR_KINDS; i++) {
		if (!strcmp(kind_names[i], name)) {
			*out = (enum sandbox_kind)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool sandbox_available(const char **why)
{
#ifdef SANITIZED
	*why = "sanitizer build (ASan/TSan runtimes make system calls of their own)";
	return false;
#else
	*why = NULL;
	return true;
#endif
}

/* ---- the violation report ---------------------------------------------- */

/*
 * SIGSYS from SCMP_ACT_TRAP.  Installed with SA_RESETHAND | SA_NODEFER: the
 * default action is back in place on entry, so re-raising kills the process
 * (with a core dump where enabled).  Not strictly async-signal-safe:
 * snprintf and libseccomp's name lookup (which allocates) run here.  The
 * trapped thread is inside a system call that is not one malloc makes (all
 * of those are allowed), so the allocator's lock is not ours to deadlock
 * on; the process is about to die either way.
 */
static void sigsys_handler(int sig, siginfo_t *si, void *uctx)
{
	char comm[17] = "?", msg[256];
	char *name;
	int n;

	(void)uctx;
	prctl(PR_GET_NAME, comm, 0, 0, 0);
	name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, si->si_syscall);
	n = snprintf(msg, sizeof(msg), "hvswap: seccomp: thread '%s' made a forbidden "
		     "system call: %s (%d); stopping (--no-seccomp to debug)\n",
		     comm, name ? name : "?", si->si_syscall);
	free(name);
	if (n > 0 && write(STDERR_FILENO, msg, (size_t)n < sizeof(msg) ?
			   (size_t)n : sizeof(msg) - 1) < 0)
		n = 0;
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
}

static int install_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigsys_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGSYS, &sa, NULL) < 0 ? -errno : 0;
}

/* ---- building a filter -------------------------------------------------- */

static int allow_list(scmp_filter_ctx ctx, const char *const *names, size_t n)
{
	size_t i;
	int nr, r;

	for (i = 0; i < n; i++) {
		nr = seccomp_syscall_resolve_name(names[i]);
		if (nr == __NR_SCMP_ERROR || nr < 0)
			continue;       /* not a system call on this arch */
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Argument `arg` compared by `op` (EQ: with a; MASKED_EQ: (x & a) == b);
 * spelled out because SCMP_A0()'s two-value form leaves datum_b unset. */
static struct scmp_arg_cmp cmp(unsigned int arg, enum scmp_compare op,
			       scmp_datum_t a, scmp_datum_t b)
{
	return (struct scmp_arg_cmp){ .arg = arg, .op = op, .datum_a = a, .datum_b = b };
}

/* Calls allowed only with certain arguments. */
static int allow_args(scmp_filter_ctx ctx, unsigned int lists)
{
	int r;

	/* ioctl: KVM (0xAE) and userfaultfd (0xAA) families, TCGETS (isatty);
	 * never TIOCSTI & co. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
			     cmp(1, SCMP_CMP_MASKED_EQ, 0xff00, 0xAE00));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     cmp(1, SCMP_CMP_MASKED_EQ, 0xff00, 0xAA00));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     cmp(1, SCMP_CMP_EQ, 0x5401, 0));
	/* Signals to our own threads only (vCPU kicks, pthread_kill). */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				     cmp(0, SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0));
	/* Thread names only. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				     cmp(0, SCMP_CMP_EQ, PR_SET_NAME, 0));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				     cmp(0, SCMP_CMP_EQ, PR_GET_NAME, 0));
	if (r < 0 || !(lists & L_ADMIN))
		return r;
	/* Block-device size and discard (swapon of a device). */
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
			     cmp(1, SCMP_CMP_MASKED_EQ, 0xff00, 0x1200));
	/* Threads, never processes. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				     cmp(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	if (r == 0 && seccomp_syscall_resolve_name("clone3") >= 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
				     seccomp_syscall_resolve_name("clone3"), 0);
	return r;
}

/*
 * Data-path threads may not open files, but the refusal is EACCES, not a
 * kill: glibc's malloc opens /proc/sys/vm/overcommit_memory the first time
 * any thread shrinks its heap (arena.c, check_may_shrink_heap), which can be
 * one of these threads, and it copes with the error.
 */
static int refuse_open(scmp_filter_ctx ctx)
{
	int r;

	r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 0);
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(open), 0);
	return r;
}

static int load(enum sandbox_kind kind)
{
	unsigned int lists = kind_lists[kind];
	scmp_filter_ctx ctx;
	int r;

	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
	r = allow_list(ctx, base_calls, N(base_calls));
	if (r == 0 && (lists & L_VCPU))
		r = allow_list(ctx, vcpu_calls, N(vcpu_calls));
	if (r == 0 && (lists & L_SWAP))
		r = allow_list(ctx, swap_calls, N(swap_calls));
	if (r == 0 && (lists & L_ADMIN))
		r = allow_list(ctx, admin_calls, N(admin_calls));
	if (r == 0)
		r = allow_args(ctx, lists);
	if (r == 0 && !(lists & L_ADMIN))
		r = refuse_open(ctx);
	if (r == 0)
		r = seccomp_load(ctx);  /* sets no_new_privs first (default) */
	seccomp_release(ctx);
	return r;
}

int sandbox_enter(enum sandbox_kind kind, const char *name)
{
	const char *why;
	int r;

	if ((unsigned int)kind >= SANDBOX_NR_KINDS)
		return -EINVAL;
	if (name)
		prctl(PR_SET_NAME, name, 0, 0, 0);
	if (!sandbox_available(&why))
		return -ENOTSUP;
	r = install_handler();
	if (r == 0)
		r = load(kind);
	if (r < 0)
		return r;
	log_debug("seccomp: %s filter installed on thread '%s'", kind_names[kind],
		  name ? name : "?");
	return 0;
}
