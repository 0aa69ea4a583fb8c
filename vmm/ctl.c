/*
 * ctl.c - the control server of one VM: a unix stream socket, one server
 * thread, and one operation thread per long request.
 *
 * Objects:
 *   struct ctl         the server: listening socket, eventfd, clients, ops.
 *   struct ctl_client  one connection: input line buffer, output queue, and
 *                      at most one operation in flight.
 *   struct ctl_op      one long request (ctl_cmd_slow()) running on its own
 *                      thread; it outlives its client if the client leaves
 *                      (the reply is then dropped).
 *
 * Threads and ownership: the server thread owns everything in struct ctl and
 * the clients; it poll()s the eventfd, the listening socket and the clients.
 * An op thread touches only its op: it writes op->reply, then sets op->done
 * (release) and writes the eventfd; the server sees done (acquire), joins the
 * thread and queues the reply.  No locks.
 *
 * Ordering: while a client has an op in flight its further requests stay in
 * its input buffer (the server stops reading it), so replies come in request
 * order.  Fast requests (stats, devices, set-limit) run on the server thread,
 * so a swapoff or trim never delays another client's stats.
 *
 * Who may connect: SO_PEERCRED at accept - root, or the uid that opened the
 * socket; anyone else gets one error line and is closed (the socket file
 * is mode 0600 as well, this also covers a file whose mode was loosened).
 *
 * Limits (docs/ctl.md): at most CTL_MAX_CLIENTS connections.  A client
 * with no operation in flight that neither sends nor receives a byte for
 * idle_ns is closed (this also ends clients that do not read their
 * replies).  When every slot is taken, a new connection evicts the client
 * without an operation in flight whose last request completed longest ago
 * (or that connected longest ago without sending one); only when every
 * client has an operation in flight is the newcomer refused ("too many
 * clients").  So idle or slow connections cannot lock others out.
 * All socket I/O is non-blocking.
 *
 * Set-up (ctl_sock.c) is two steps so that a bad path is reported before the guest
 * starts: ctl_open() binds and listens (no thread, no VM), ctl_serve()
 * starts the server thread once the VM runs; connections made in between
 * wait in the listen backlog.
 *
 * Shutdown (ctl_stop): the server stops accepting and unlinks the socket;
 * if ops are in flight it calls swapper_cancel() so they return -ECANCELED
 * promptly, joins every op thread (the swapper is still alive: ctl_stop
 * runs before vm_destroy), sends what it can of the pending replies
 * ("the swapper is shutting down") within one overall deadline
 * (CTL_EXIT_FLUSH_MS for all clients together: clients that do not read
 * cannot delay the exit), closes everything.
 */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "hvswap/log.h"
#include "hvswap/swapper.h"
#include "outfile.h"
#include "hvswap/ratelimit.h"
#include "vm.h"

#include "ctl_impl.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Clients can trigger these at will: rate-limited (server thread only). */
#define cwarn(c, fmt, ...) do {                                         \
	uint64_t sup_;                                                  \
	if (ratelimit_ok(&(c)->rl, &sup_))                              \
		log_warn("ctl: " fmt "%s", ##__VA_ARGS__,               \
			 sup_ ? " (more warnings were suppressed)" : ""); \
} while (0)

void ctl_wake(int efd)
{
	uint64_t one = 1;

	if (write(efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_err("ctl: cannot signal the server thread: %s", strerror(errno));
}

/* ---- clients: output ---- */

static void client_close(struct ctl *c, struct ctl_client *cl)
{
	if (cl->op >= 0)
		c->ops[cl->op]->client = -1;    /* the op's reply is dropped */
	close(cl->fd);
	free(cl->out);
	memset(cl, 0, sizeof(*cl));
	cl->fd = -1;
	cl->op = -1;
}

static void client_flush(struct ctl *c, struct ctl_client *cl)
{
	ssize_t n;

	while (cl->out_off < cl->out_len) {
		n = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			log_debug("ctl: client gone: %s", strerror(errno));
			client_close(c, cl);
			return;
		}
		cl->out_off += (size_t)n;
		cl->last_io_ns = now_ns();
	}
	cl->out_off = cl->out_len = 0;
}

/* Queue one reply line (consumes obj) and try to send it. */
static void client_reply(struct ctl *c, struct ctl_client *cl, struct json_object *obj)
{
	const char *s;
	size_t n, need;
	char *p;

	outfile_json_strict(obj);               /* NaN/Inf -> null */
	s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
					   JSON_C_TO_STRING_NOSLASHESCAPE);
	n = strlen(s) + 1;
	need = cl->out_len + n;
	cl->last_req_ns = now_ns();
	if (need > CTL_MAX_OUT) {
		cwarn(c, "client does not read its replies; disconnecting it");
		client_close(c, cl);
		goto out;
	}
	if (need > cl->out_cap) {
		p = realloc(cl->out, need);
		if (!p) {
			client_close(c, cl);
			goto out;
		}
		cl->out = p;
		cl->out_cap = need;
	}
	memcpy(cl->out + cl->out_len, s, n - 1);
	cl->out[cl->out_len + n - 1] = '\n';
	cl->out_len = need;
	client_flush(c, cl);
out:
	json_object_put(obj);
}

/* ---- operations ---- */

static void *op_main(void *arg)
{
	struct ctl_op *op = arg;

	op->reply = ctl_cmd_exec(op->vm, &op->req);
	atomic_store_explicit(&op->done, true, memory_order_release);
	ctl_wake(op->efd);
	return NULL;
}

/* Run req on an op thread (takes over req's strings); false: not started. */
static bool op_start(struct ctl *c, struct ctl_client *cl, struct ctl_req *req)
{
	struct ctl_op *op;
	int i;

	for (i = 0; i < CTL_MAX_OPS && c->ops[i]; i++)
		;
	if (i == CTL_MAX_OPS)
		return false;
	op = calloc(1, sizeof(*op));
	if (!op)
		return false;
	*op = (struct ctl_op){ .vm = c->vm, .efd = c->efd, .req = *req,
			       .client = (int)(cl - c->clients), .gen = cl->gen };
	if (pthread_create(&op->thread, NULL, op_main, op)) {
		free(op);
		return false;
	}
	c->ops[i] = op;
	cl->op = i;
	return true;
}

static void process_lines(struct ctl *c, struct ctl_client *cl);

/* Join op i (done or not) and deliver its reply to its client, if any. */
static void op_finish(struct ctl *c, int i)
{
	struct ctl_op *op = c->ops[i];
	struct ctl_client *cl = op->client >= 0 ? &c->clients[op->client] : NULL;

	pthread_join(op->thread, NULL);
	c->ops[i] = NULL;
	ctl_req_free(&op->req);
	if (cl && cl->fd >= 0 && cl->gen == op->gen) {
		cl->op = -1;
		cl->last_io_ns = now_ns();
		client_reply(c, cl, op->reply);
		if (cl->fd >= 0)
			process_lines(c, cl);   /* requests pipelined behind it */
	} else {
		json_object_put(op->reply);
	}
	free(op);
}

static void ops_reap(struct ctl *c)
{
	uint64_t v;
	int i;

	if (read(c->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_err("ctl: eventfd read: %s", strerror(errno));
	for (i = 0; i < CTL_MAX_OPS; i++) {
		if (c->ops[i] && atomic_load_explicit(&c->ops[i]->done, memory_order_acquire))
			op_finish(c, i);
	}
}

/* ---- clients: input ---- */

static void handle_line(struct ctl *c, struct ctl_client *cl, const char *line,
			size_t len)
{
	struct ctl_req req;
	char err[256];

	if (ctl_req_parse(line, len, &req, err, sizeof(err)) < 0) {
		log_debug("ctl: bad request: %s", err);
		client_reply(c, cl, ctl_reply_error(-EINVAL, "%s", err));
		return;
	}
	log_debug("ctl: %s", ctl_cmd_name(req.cmd));
	if (!ctl_cmd_slow(c->vm, &req)) {
		client_reply(c, cl, ctl_cmd_exec(c->vm, &req));
		ctl_req_free(&req);
	} else if (!op_start(c, cl, &req)) {
		client_reply(c, cl, ctl_reply_error(-EBUSY, "%s: too many operations in "
						    "flight, try again", ctl_cmd_name(req.cmd)));
		ctl_req_free(&req);
	}
}

static void consume(struct ctl_client *cl, size_t n)
{
	memmove(cl->in, cl->in + n, cl->in_len - n);
	cl->in_len -= n;
}

/* Handle every complete line, stopping while an op is in flight. */
static void process_lines(struct ctl *c, struct ctl_client *cl)
{
	char *nl;

	/* Once stopping, nothing new starts (ops are being joined). */
	while (cl->fd >= 0 && cl->op < 0 && cl->in_len && !atomic_load(&c->stop)) {
		nl = memchr(cl->in, '\n', cl->in_len);
		if (cl->discard) {
			if (!nl) {
				cl->in_len = 0;
				break;
			}
			cl->discard = false;
			consume(cl, (size_t)(nl - cl->in) + 1);
		} else if (nl) {
			handle_line(c, cl, cl->in, (size_t)(nl - cl->in));
			if (cl->fd >= 0)
				consume(cl, (size_t)(nl - cl->in) + 1);
		} else if (cl->in_len == sizeof(cl->in)) {
			client_reply(c, cl, ctl_reply_error(-E2BIG, "request longer than %d bytes",
							    CTL_MAX_LINE));
			cl->discard = true;
			cl->in_len = 0;
		} else if (cl->eof) {
			handle_line(c, cl, cl->in, cl->in_len);  /* last line, no newline */
			cl->in_len = 0;
		} else {
			break;
		}
	}
	if (cl->fd >= 0 && cl->eof && cl->op < 0 && !cl->in_len && !cl->out_len)
		client_close(c, cl);
}

static void client_read(struct ctl *c, struct ctl_client *cl)
{
	ssize_t n;

	n = recv(cl->fd, cl->in + cl->in_len, sizeof(cl->in) - cl->in_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n < 0) {
		log_debug("ctl: client read: %s", strerror(errno));
		client_close(c, cl);
		return;
	}
	if (n == 0)
		cl->eof = true;
	else
		cl->last_io_ns = now_ns();
	cl->in_len += (size_t)n;
	process_lines(c, cl);
}

/* Refuse fd with one error line (best effort) and close it. */
static void refuse(int fd, int code, const char *msg)
{
	char line[256];
	int n;

	n = snprintf(line, sizeof(line), "{\"ok\":false,\"error\":\"%s\",\"code\":%d}\n",
		     msg, code);
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("ctl: cannot tell a client why it is refused");
	close(fd);
}

/* Root or the socket's owner only (SO_PEERCRED: the peer at connect()). */
static bool peer_allowed(struct ctl *c, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		cwarn(c, "SO_PEERCRED: %s", strerror(errno));
		return false;
	}
	if (cred.uid == 0 || cred.uid == c->uid)
		return true;
	cwarn(c, "refused a client with uid %u (pid %d): only root or uid %u",
	      (unsigned int)cred.uid, (int)cred.pid, (unsigned int)c->uid);
	return false;
}

/* A slot for a new client: a free one, else evict the client without an
 * operation in flight whose last request completed longest ago; -1 if
 * every client has an operation in flight. */
static int free_slot(struct ctl *c)
{
	int i, victim = -1;

	for (i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *cl = &c->clients[i];

		if (cl->fd < 0)
			return i;
		if (cl->op < 0 && (victim < 0 || cl->last_req_ns < c->clients[victim].last_req_ns))
			victim = i;
	}
	if (victim >= 0) {
		log_info("ctl: %d clients connected: closing the one idle longest",
			 CTL_MAX_CLIENTS);
		client_close(c, &c->clients[victim]);
	}
	return victim;
}

static void client_accept(struct ctl *c)
{
	struct ctl_client *cl;
	int fd, i;

	fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			cwarn(c, "accept: %s", strerror(errno));
		return;
	}
	if (!peer_allowed(c, fd)) {
		refuse(fd, -EACCES, "permission denied: only root or the owner of "
		       "the socket may use it");
		return;
	}
	i = free_slot(c);
	if (i < 0) {
		refuse(fd, -EBUSY, "too many clients with operations in flight, try again");
		return;
	}
	cl = &c->clients[i];
	cl->fd = fd;
	cl->gen = ++c->next_gen;
	cl->op = -1;
	cl->last_io_ns = cl->last_req_ns = now_ns();
}

/* Close clients idle for idle_ns; the poll timeout (ms) until the next
 * one would expire, -1 if none can. */
static int expire_idle(struct ctl *c)
{
	uint64_t now = now_ns(), left, next = UINT64_MAX;
	int i;

	for (i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *cl = &c->clients[i];

		if (cl->fd < 0 || cl->op >= 0)
			continue;
		if (now - cl->last_io_ns >= c->idle_ns) {
			log_info("ctl: closing a client idle for %.1f s",
				 (double)(now - cl->last_io_ns) / 1e9);
			client_close(c, cl);
			continue;
		}
		left = cl->last_io_ns + c->idle_ns - now;
		if (left < next)
			next = left;
	}
	if (next == UINT64_MAX)
		return -1;
	next = next / 1000000 + 1;
	return next > 60000 ? 60000 : (int)next;
}

/* ---- the server thread ---- */

/* pfd[0] eventfd, pfd[1] listener (if open), then clients; slot[] maps. */
static nfds_t build_pollset(struct ctl *c, struct pollfd *pfd, int *slot)
{
	nfds_t n = 0;
	int i;

	pfd[n++] = (struct pollfd){ .fd = c->efd, .events = POLLIN };
	pfd[n++] = (struct pollfd){ .fd = c->lfd, .events = POLLIN };
	for (i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *cl = &c->clients[i];
		short ev = 0;

		if (cl->fd < 0)
			continue;
		if (cl->op < 0 && !cl->eof)
			ev |= POLLIN;
		if (cl->out_len)
			ev |= POLLOUT;
		if (!ev)
			continue;       /* else POLLHUP would spin while an op runs */
		slot[n] = i;
		pfd[n++] = (struct pollfd){ .fd = cl->fd, .events = ev };
	}
	return n;
}

static void serve_once(struct ctl *c)
{
	struct pollfd pfd[2 + CTL_MAX_CLIENTS];
	int slot[2 + CTL_MAX_CLIENTS];
	int timeout = expire_idle(c);           /* before the set is built */
	nfds_t n, i;

	n = build_pollset(c, pfd, slot);
	if (poll(pfd, n, timeout) < 0) {
		if (errno != EINTR)
			log_err("ctl: poll: %s", strerror(errno));
		return;
	}
	if (pfd[0].revents)
		ops_reap(c);
	for (i = 2; i < n; i++) {
		struct ctl_client *cl = &c->clients[slot[i]];

		if (cl->fd != pfd[i].fd || !pfd[i].revents)
			continue;       /* closed (or replaced) meanwhile */
		if (pfd[i].revents & POLLOUT)
			client_flush(c, cl);
		if (cl->fd >= 0 && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
			client_read(c, cl);
		if (cl->fd >= 0)
			process_lines(c, cl);
	}
	if (pfd[1].revents & POLLIN)
		client_accept(c);
}

void ctl_unlink_ours(struct ctl *c)
{
	struct stat st;

	if (lstat(c->addr.sun_path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
		unlink(c->addr.sun_path);
}

/* Best effort, bounded by one deadline for all clients together: a client
 * that does not read loses its reply, and cannot delay the exit. */
static void flush_at_exit(struct ctl *c)
{
	uint64_t deadline = now_ns() + CTL_EXIT_FLUSH_MS * 1000000ull, now;
	struct pollfd pfd[CTL_MAX_CLIENTS];
	int slot[CTL_MAX_CLIENTS];
	nfds_t n, k;
	int i;

	for (;;) {
		n = 0;
		for (i = 0; i < CTL_MAX_CLIENTS; i++) {
			struct ctl_client *cl = &c->clients[i];

			if (cl->fd >= 0 && cl->out_len)
				client_flush(c, cl);
			if (cl->fd >= 0 && cl->out_len) {
				slot[n] = i;
				pfd[n++] = (struct pollfd){ .fd = cl->fd, .events = POLLOUT };
			}
		}
		now = now_ns();
		if (!n || now >= deadline)
			break;
		if (poll(pfd, n, (int)((deadline - now) / 1000000 + 1)) < 0 && errno != EINTR)
			break;
		for (k = 0; k < n; k++) {
			if (pfd[k].revents & (POLLERR | POLLHUP | POLLNVAL))
				client_close(c, &c->clients[slot[k]]);
		}
	}
	if (n)
		log_info("ctl: %u client(s) did not read their last replies", (unsigned int)n);
}

void *ctl_server_main(void *arg)
{
	struct ctl *c = arg;
	int i, n = 0;

	vm_sandbox_thread(c->vm, SANDBOX_CTL, "hv-ctl");  /* ops inherit it */
	while (!atomic_load(&c->stop))
		serve_once(c);
	close(c->lfd);
	ctl_unlink_ours(c);
	for (i = 0; i < CTL_MAX_OPS; i++)
		n += c->ops[i] != NULL;
	if (n) {
		/* The VM is going away: in-flight swapoff/migrate/compact/trim
		 * return -ECANCELED (their clients are told so) instead of
		 * running to completion or waiting on a stopped guest. */
		log_info("ctl: cancelling %d control operation(s)", n);
		swapper_cancel(c->vm->swapper);
	}
	for (i = 0; i < CTL_MAX_OPS; i++) {
		if (c->ops[i])
			op_finish(c, i);
	}
	flush_at_exit(c);
	for (i = 0; i < CTL_MAX_CLIENTS; i++) {
		if (c->clients[i].fd >= 0)
			client_close(c, &c->clients[i]);
	}
	return NULL;
}
