/*
 * host_impl.h - the supervisor's objects, shared by host.c (the loop, its
 * control socket), host_vm.c (a VM's process and control client) and
 * host_out.c (stats, Prometheus text, live table).  Private to them.
 *
 * Threads: one.  Everything below is touched only by the supervisor's
 * main thread; VMs are other processes reached through their sockets.
 */
#ifndef HVSWAP_VMM_HOST_IMPL_H
#define HVSWAP_VMM_HOST_IMPL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "cli.h"
#include "host.h"

#define HOST_MAX_VMS 64
#define HOST_MAX_RESTARTS 20

enum host_vm_state_kind { HVM_STARTING, HVM_RUNNING, HVM_EXITED };

struct host_vm {
	char name[65];
	char config[PATH_MAX];          /* absolute */
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char stats[PATH_MAX];           /* the VM's own --stats file */
	char log[PATH_MAX];             /* its stdout and stderr */
	uint64_t mem;
	unsigned int vcpus;
	bool fixed;                     /* locked/huge pages: never limited */
	enum cli_action on_poweroff, on_crash;
	struct host_vm_in in;           /* config + this interval's figures */
	struct host_vm_state st;        /* the policy's memory */

	enum host_vm_state_kind state;
	pid_t pid;
	int fd;                         /* control connection, -1: none */
	bool stop_requested;            /* `stop` (ctl) or the supervisor's end */
	int exit_status;                /* once exited */
	unsigned int restarts;
	double start_t, end_t;          /* CLOCK_MONOTONIC seconds */

	/* figures: the last sample, and what the run's summary needs */
	double t_sample;
	uint64_t resident, swapped, limit_seen;
	uint64_t swap_ins, faults, stall_ns;    /* cumulative */
	double fault_rate, stall_pct;           /* over the last interval */
	uint64_t max_resident;
	double elapsed_s;                       /* of the last run */
};

struct host {
	struct host_policy pol;
	double interval;
	const char *stats_path;
	char *prom_path;                /* owned */
	const char *ctl_path;
	char dir[PATH_MAX];
	bool dir_given;
	char exe[PATH_MAX];             /* this hvswap binary */
	unsigned int verbose;
	bool tty;
	unsigned int table_lines;       /* of the live table now on screen */

	struct host_vm vms[HOST_MAX_VMS];
	unsigned int nr_vms;
	bool ever_added;                /* a VM came (from CONFIG or `add`) */
	bool stopping;                  /* SIGTERM/SIGINT/SIGHUP */
	int stop_signal;
	double stop_t;
	double start_t;
	uint64_t max_total_resident;
	uint64_t decisions, changes;
	int lfd;                        /* the supervisor's control socket */
};

double host_now(void);

/* host_vm.c */
int host_vm_load(struct host *h, struct host_vm *v, const char *config,
		 char *err, size_t errlen);
/* The VM's socket, stats and log paths in the run directory, from its name. */
int host_vm_paths(const struct host *h, struct host_vm *v, char *err, size_t errlen);
int host_vm_spawn(struct host *h, struct host_vm *v, char *err, size_t errlen);
/* Fetch `stats` (connecting first if needed); updates the figures and
 * v->in.  -errno when the VM does not answer (yet). */
int host_vm_sample(struct host_vm *v);
int host_vm_set_limit(struct host_vm *v, uint64_t bytes);
/* Take a VM's figures from its `stats` (vm: the "vm" object, swap: the
 * "swap" object or NULL) sampled at time t (0: final, no rates): v->in
 * (resident = what its limit counts - resident, staged and compressed
 * pool - and footprint), the rates and the run's peaks. */
struct json_object;
void host_vm_figures(struct host_vm *v, struct json_object *vm,
		     struct json_object *swap, double t);
/* The VM's process ended with wait status ws: read its final stats. */
void host_vm_exited(struct host_vm *v, int ws);
void host_vm_close(struct host_vm *v);

/* host_out.c */
struct json_object *host_stats_json(const struct host *h);
int host_write_outputs(const struct host *h);
void host_table(struct host *h);
void host_table_clear(struct host *h);
int host_exit_status(const struct host *h);

#endif
