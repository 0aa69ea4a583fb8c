/*
 * ctl_impl.h - the control server's objects, shared by ctl.c (the server
 * thread: clients, operations) and ctl_sock.c (the socket: open, serve,
 * stop).  Private to those two files; ownership and threads are described
 * at the top of ctl.c.
 */
#ifndef HVSWAP_VMM_CTL_IMPL_H
#define HVSWAP_VMM_CTL_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include "ctl.h"
#include "hvswap/ratelimit.h"

#define CTL_MAX_CLIENTS 8
#define CTL_MAX_OPS CTL_MAX_CLIENTS
#define CTL_MAX_OUT (4u << 20)          /* queued reply bytes per client */
#define CTL_EXIT_FLUSH_MS 1000          /* at exit, for all clients together */

struct ctl_op {
	struct vm *vm;
	int efd;
	struct ctl_req req;
	pthread_t thread;
	int client;                     /* slot, -1 once the client left */
	uint64_t gen;                   /* that client's generation */
	struct json_object *reply;      /* written by the op thread before done */
	_Atomic bool done;
};

struct ctl_client {
	int fd;                         /* -1: free slot */
	uint64_t gen;
	int op;                         /* index in ctl->ops, -1: none */
	bool eof;                       /* peer closed its side */
	bool discard;                   /* dropping an over-long line */
	uint64_t last_io_ns;            /* last byte in or out (idle timeout) */
	uint64_t last_req_ns;           /* last request done, or accept (eviction) */
	size_t in_len;
	char in[CTL_MAX_LINE + 1];      /* a maximal line and its newline */
	char *out;
	size_t out_len, out_off, out_cap;
};

struct ctl {
	struct vm *vm;
	struct sockaddr_un addr;
	dev_t dev;                      /* of our socket file: unlink only it */
	ino_t ino;
	int lfd;
	int efd;                        /* stop request, op completions */
	uid_t uid;                      /* who opened the socket */
	uint64_t idle_ns;               /* close clients idle this long */
	pthread_t thread;
	bool serving;                   /* the thread runs (ctl_serve()) */
	struct ratelimit rl;            /* client-triggered warnings; server
					 * thread only */
	_Atomic bool stop;
	/* server thread only */
	uint64_t next_gen;
	struct ctl_op *ops[CTL_MAX_OPS];
	struct ctl_client clients[CTL_MAX_CLIENTS];
};

/* ctl.c */
void *ctl_server_main(void *arg);
void ctl_wake(int efd);
void ctl_unlink_ours(struct ctl *c);

#endif
