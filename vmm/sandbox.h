/*
 * sandbox.h - per-thread seccomp filters (libseccomp).
 *
 * Every hvswap thread installs the allow-list of its kind once its set-up is
 * done (docs/reliability.md, "Nothing let in"): vCPU threads (hostile once
 * started), the swapper's fault and reclaim threads and the I/O engine's
 * completion thread (through swapper_config.thread_start), the control
 * server (whose operation threads inherit its filter) and the main thread
 * after start-up.  A call outside the list stops the whole process with
 * SIGSYS after one line on stderr naming the thread and the system call.
 *
 * Filters are per thread (no TSYNC) and inherited by threads created later,
 * so a thread's list must also cover every thread it starts afterwards.
 * Builds with AddressSanitizer or ThreadSanitizer skip the filters (their
 * runtimes make system calls of their own): sandbox_available() says so.
 */
#ifndef HVSWAP_VMM_SANDBOX_H
#define HVSWAP_VMM_SANDBOX_H

#include <stdbool.h>

enum sandbox_kind {
	SANDBOX_MAIN,           /* the main thread, after start-up */
	SANDBOX_VCPU,           /* KVM_RUN and exit handling (devices, hcalls) */
	SANDBOX_FAULT,          /* the swapper's userfaultfd thread */
	SANDBOX_RECLAIM,        /* the swapper's eviction thread */
	SANDBOX_IO,             /* an I/O engine's completion/worker thread */
	SANDBOX_CTL,            /* the control server and its operations */
	SANDBOX_NR_KINDS
};

const char *sandbox_kind_name(enum sandbox_kind kind);
/* "vcpu", "fault", "reclaim", "io", "ctl", "main" -> kind; -EINVAL. */
int sandbox_kind_parse(const char *name, enum sandbox_kind *out);

/* Can filters be installed in this build?  If not, *why says why. */
bool sandbox_available(const char **why);

/*
 * Name the calling thread `name` (<= 15 bytes shown, for messages and
 * top -H) and install the filter of `kind` on it.  Returns 0, -ENOTSUP when
 * !sandbox_available() (nothing installed), or -errno from libseccomp.
 */
int sandbox_enter(enum sandbox_kind kind, const char *name);

#endif
