/*
 * io.h - the I/O engine interface of the swapper (private to swapper/ and tests).
 *
 * An engine moves bytes between memory and a swap device asynchronously.
 * Engines: "libaio" (default: io_submit + io_set_eventfd + a completion
 * thread), "sync" (a worker thread doing preadv/pwritev one request at a
 * time, for comparison), "io_uring" (liburing), and "inject" which wraps
 * another engine to delay, reorder or fail chosen requests in tests.
 *
 * THE CONTRACT (every engine):
 *  - io_engine_submit() returns the number of requests accepted (0..n) or a
 *    negative errno if none was.  For a request that was not accepted the
 *    completion NEVER runs; for every accepted request it runs EXACTLY ONCE.
 *  - Completions never run inside submit(), so a caller may hold its own
 *    locks across submit().  Where they run depends on the engine's mode:
 *      threaded (default)  on an engine-owned thread;
 *      polled (IO_ENGINE_POLLED)  only inside io_engine_reap(), on the
 *        caller's thread.  The owner reaps whenever io_engine_poll_fd() is
 *        readable (or whenever it likes: reap never blocks).  To sleep
 *        without losing a completion: io_engine_arm(), then reap once
 *        more, then poll the fd - a completion after arm() makes it
 *        readable.  This is what lets the swapper's fault thread install a
 *        swapped-in page itself, with no thread hop (fault.c).
 *  - req->done(req, res): res = bytes transferred (a short count is possible
 *    and is the caller's to judge) or -errno.  After done() returns the engine
 *    no longer touches req; the caller owns it again (may free or resubmit it
 *    from inside done()).
 *  - Buffers must be aligned for O_DIRECT (4 KiB) and stay valid until done().
 *  - io_engine_destroy() waits until every accepted request has completed
 *    (its done() has returned), then frees the engine.
 */
#ifndef HVSWAP_SWAPPER_IO_H
#define HVSWAP_SWAPPER_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

enum io_op { IO_READ = 0, IO_WRITE = 1 };

struct io_req;
typedef void (*io_done_fn)(struct io_req *req, ssize_t res);

#define IO_MAX_IOV 256

struct io_req {
	enum io_op op;
	int fd;
	uint64_t off;              /* byte offset on the device */
	struct iovec *iov;         /* caller-owned; valid until done() */
	int iovcnt;                /* 1..IO_MAX_IOV */
	io_done_fn done;
	void *priv;                /* caller's */
	uint64_t submit_ns;        /* set by io_engine_submit (CLOCK_MONOTONIC) */
	/* engine-private below */
	struct io_req *eng_next;
	void *eng_priv;
};

struct io_engine;

struct io_engine_ops {
	const char *name;
	int (*submit)(struct io_engine *e, struct io_req **reqs, int n);
	void (*destroy)(struct io_engine *e);
	/* polled mode only: */
	int (*poll_fd)(struct io_engine *e);
	int (*reap)(struct io_engine *e, unsigned int max);
	void (*arm)(struct io_engine *e);
};

struct io_engine {
	const struct io_engine_ops *ops;
	unsigned int queue_depth;
	bool polled;               /* completions run in io_engine_reap() */
};

#define IO_ENGINE_POLLED 1u

/* Create an engine by name ("libaio", "sync", "io_uring"); -EINVAL for an
 * unknown name, -ENOSYS when the engine is not built in or the kernel lacks
 * it.  io_engine_create() makes a threaded engine; flags IO_ENGINE_POLLED a
 * polled one. */
int io_engine_create(const char *name, unsigned int queue_depth,
		     struct io_engine **out);

/* Run by an engine's own thread first thing (swapper_config.thread_start,
 * kind "io"); fn NULL: nothing. */
struct io_thread_hook {
	void (*fn)(void *opaque, const char *kind);
	void *opaque;
};
int io_engine_create_flags(const char *name, unsigned int queue_depth,
			   unsigned int flags, struct io_engine **out);
/* Flags, and a hook every engine thread calls as it starts (NULL: none). */
int io_engine_create_ex(const char *name, unsigned int queue_depth,
			unsigned int flags, const struct io_thread_hook *hook,
			struct io_engine **out);
static inline void io_thread_hook_run(const struct io_thread_hook *h)
{
	if (h->fn)
		h->fn(h->opaque, "io");
}
int io_engine_submit(struct io_engine *e, struct io_req **reqs, int n);
/* Polled engines: the fd that becomes readable when reap() may find
 * completions (-EINVAL for a threaded engine); run up to max completions now
 * (returns how many ran, >= 0; never blocks); drain the fd before a final
 * reap and a sleep in poll(). */
int io_engine_poll_fd(struct io_engine *e);
int io_engine_reap(struct io_engine *e, unsigned int max);
void io_engine_arm(struct io_engine *e);
/* Destroy waits until every accepted request has completed (a polled
 * engine reaps them itself, on the caller's thread). */
void io_engine_destroy(struct io_engine *e);
/* Comma-separated list of engines compiled in (for --help). */
const char *io_engine_names(void);

uint64_t io_now_ns(void);

/* Engine constructors, called only through io_engine_create() (io.c).
 * queue_depth is the most requests an engine keeps accepted at once; beyond
 * it submit() accepts what fits and returns -EAGAIN when nothing fits. */
int io_libaio_create(unsigned int queue_depth, unsigned int flags,
		     const struct io_thread_hook *hook, struct io_engine **out);
int io_sync_create(unsigned int queue_depth, unsigned int flags,
		   const struct io_thread_hook *hook, struct io_engine **out);
int io_uring_engine_create(unsigned int queue_depth, unsigned int flags,
			   const struct io_thread_hook *hook, struct io_engine **out);
/* Helpers for polled engines (io.c): a non-blocking eventfd, its drain, and
 * a bounded wait on it. */
int io_polled_efd(void);
void io_efd_drain(int efd);
void io_efd_wait(int efd, int ms);

/*
 * Injection engine, for deterministic tests of races and error paths.
 * It wraps (and owns) an inner engine.  Rules are matched against each
 * submitted request in order; the first match applies:
 *   IO_INJ_FAIL   complete with -err (from the completion thread, contract kept)
 *   IO_INJ_HOLD   park the request; it is passed to the inner engine only when
 *                 the test calls io_inject_release() (so tests can delay and
 *                 reorder requests exactly)
 *   IO_INJ_SHORT  pass through, but report half the bytes transferred
 * A rule matches op (or any), an offset range [off_lo, off_hi), and fires for
 * at most `count` requests (0 = unlimited) after skipping the first `skip`.
 */
enum io_inj_action { IO_INJ_FAIL, IO_INJ_HOLD, IO_INJ_SHORT };
#define IO_INJ_ANY_OP (-1)

struct io_inj_rule {
	enum io_inj_action action;
	int op;                    /* IO_READ, IO_WRITE or IO_INJ_ANY_OP */
	uint64_t off_lo, off_hi;   /* off_hi == 0: no upper bound */
	unsigned int skip, count;
	int err;                   /* errno for FAIL (positive, e.g. EIO) */
};

struct io_inject;
/* Polled if the inner engine is polled. */
int io_inject_create(struct io_engine *inner, struct io_inject **out);
struct io_engine *io_inject_engine(struct io_inject *inj);
int io_inject_add_rule(struct io_inject *inj, const struct io_inj_rule *r);
void io_inject_clear_rules(struct io_inject *inj);
/* Number of requests currently held. */
unsigned int io_inject_held(struct io_inject *inj);
/* Wait until at least n requests are held; 0 or -ETIMEDOUT. */
int io_inject_wait_held(struct io_inject *inj, unsigned int n, int timeout_ms);
/* Release the held request at position idx (0 = oldest), or all (idx < 0).
 * Returns the number released. */
int io_inject_release(struct io_inject *inj, int idx);
/* Describe a held request (for assertions); -ENOENT if idx out of range. */
int io_inject_held_info(struct io_inject *inj, unsigned int idx, int *op,
			uint64_t *off);
/* Total requests seen / failed by rules. */
uint64_t io_inject_seen(struct io_inject *inj);
uint64_t io_inject_failed(struct io_inject *inj);

#endif
