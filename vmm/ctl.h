/*
 * ctl.h - the control socket of one running VM and its client.
 *
 * Protocol (docs/ctl.md): a unix stream socket; each request is one line of
 * JSON `{"cmd":"...", ...}` of at most CTL_MAX_LINE bytes (newline not
 * counted); each reply is one line, `{"ok":true, ...}` or
 * `{"ok":false,"error":"...","code":-errno}`.  Replies to one client come in
 * request order; a client may pipeline requests.
 *
 * The request validator (ctl_req.c) is separate from the server (ctl.c) so it
 * can be unit-tested without a VM; it is the only place that reads a
 * request's fields.
 */
#ifndef HVSWAP_VMM_CTL_H
#define HVSWAP_VMM_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct ctl;

#define CTL_MAX_LINE 4096

enum ctl_cmd {
	CTL_STATS,
	CTL_DEVICES,
	CTL_SWAPON,
	CTL_SWAPOFF,
	CTL_SET_LIMIT,
	CTL_MIGRATE,
	CTL_COMPACT,
	CTL_TRIM,
	CTL_NUMA_MOVE,
	CTL_NR_CMDS,
};

/* A validated request.  Strings are owned (ctl_req_free()). */
struct ctl_req {
	enum ctl_cmd cmd;
	char *path;             /* swapon: NULL = a temporary file */
	uint64_t size;          /* swapon: bytes, 0 = the file's size */
	int64_t prio;           /* swapon */
	int64_t force;          /* swapon: 1 = take a target with a signature */
	char *dev;              /* swapoff, compact: "path" or "#id" */
	char *from, *to;        /* migrate */
	uint64_t limit;         /* set-limit: bytes, 0 = no limit */
	int64_t node;           /* numa-move: host NUMA node */
};

/* Parse and validate one request line (len bytes, no newline).  Returns 0,
 * or -EINVAL with a one-line reason in err.  On error nothing is left
 * allocated in *req. */
int ctl_req_parse(const char *line, size_t len, struct ctl_req *req,
		  char *err, size_t errlen);
void ctl_req_free(struct ctl_req *req);
/* Replace each byte of s that is not part of valid UTF-8 with '?' (replies
 * quote request text, possibly cut short by a field width). */
void ctl_utf8_sanitize(char *s);
const char *ctl_cmd_name(enum ctl_cmd cmd);

/* ctl_cmd.c: run one validated request against the VM and return its reply
 * (never NULL).  ctl_cmd_slow(): it may take long (an operation thread runs
 * it, not the server thread). */
struct json_object;
struct json_object *ctl_cmd_exec(struct vm *vm, const struct ctl_req *req);
bool ctl_cmd_slow(struct vm *vm, const struct ctl_req *req);
struct json_object *ctl_reply_error(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Bind and listen on `path` (created mode 0600; only root and the calling
 * uid may use it, checked per connection with SO_PEERCRED).  Refuses a path
 * that exists and is not a socket, or is a live socket; removes a stale
 * one.  Clients idle for idle_timeout_s seconds are closed.  No thread runs
 * yet: call it before the VM starts so that errors come first.  Returns 0
 * or -errno with a message in err. */
int ctl_open(const char *path, double idle_timeout_s, struct ctl **out,
	     char *err, size_t errlen);
/* Start serving requests for a started VM (the server thread).  -errno. */
int ctl_serve(struct ctl *ctl, struct vm *vm);
/* Stop the server; cancel (swapper_cancel()) and wait for in-flight
 * operations, whose clients still get their replies (-ECANCELED); close
 * every client, unlink the socket, free.  Call after vm_wait() and before
 * the VM (and its swapper) is destroyed; also right after ctl_open() when
 * the VM could not be set up.  NULL is a no-op. */
void ctl_stop(struct ctl *ctl);

/* `hvswap ctl [--timeout S] SOCKET CMD [key=value ...]` (argv[0] is "ctl").
 * Exit status: 0 ok, 1 the server replied with an error, 2 usage/connect. */
int ctl_client_main(int argc, char **argv);

#endif
