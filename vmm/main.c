/*
 * main.c - the hvswap command line.
 *
 *   hvswap run [options] GUEST [key=value ...]   run an embedded test guest
 *   hvswap run --config FILE [options] [GUEST..] run a VM from a config file
 *   hvswap config FILE [--to json|xml]           check or convert a config
 *   hvswap host --budget SIZE ... CONFIG...      many VMs under one budget
 *   hvswap list                                  list embedded guests
 *   hvswap ctl [--timeout S] SOCKET CMD [k=v...] control a running VM (ctl.h)
 *   hvswap --help | --version
 *
 * Exit status: the guest's status, or one of hvswap's own (vm.h):
 * 2 usage, 3 environment, 124 timeout, 125 crash/fatal, 130 interrupted
 * (SIGINT, SIGTERM or SIGHUP: a clean stop, final stats written).
 *
 * Command-line parsing of `run` is cli.c; this file wires the pieces:
 * control socket and VM set-up (all errors before the guest starts), the
 * run, the summary and the final statistics.
 */
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hvswap/guest_abi.h"
#include "hvswap/log.h"
#include "hvswap/swapper.h"
#include "cli.h"
#include "config.h"
#include "ctl.h"
#include "host.h"
#include "linux_boot.h"
#include "outfile.h"
#include "vm.h"

#ifndef HVSWAP_VERSION
#define HVSWAP_VERSION "0.0.0"
#endif

/* One `hvswap run`: its options and what main keeps while it runs. */
struct run {
	struct run_opts o;
	const struct hv_embedded_guest *guest;  /* NULL for a Linux guest */
	const char *name;               /* the guest's, or "linux" */
	struct hv_embedded_guest image;     /* a guest image read from a file */
	unsigned char *image_buf;
	bool tty_status;
	double next_stats;
	double next_status;     /* the live line is redrawn once a second */
	double next_stall;      /* the stall figure is sampled once a second */
};

static void list_guests(void)
{
	unsigned int i;

	printf("embedded guests:\n");
	for (i = 0; i < hv_embedded_guests_count; i++) {
		const struct hv_embedded_guest *g = &hv_embedded_guests[i];

		printf("  %-10s %s\n", g->name, g->summary);
		if (g->usage && *g->usage)
			printf("  %-10s args: %s\n", "", g->usage);
	}
}

static const struct hv_embedded_guest *find_guest(const char *name)
{
	unsigned int i;

	for (i = 0; i < hv_embedded_guests_count; i++) {
		if (!strcmp(hv_embedded_guests[i].name, name))
			return &hv_embedded_guests[i];
	}
	return NULL;
}

/* A guest image file (a path in GUEST: it has a '/'), read whole. */
static int read_image(struct run *run, const char *path)
{
	FILE *f = fopen(path, "rbe");
	size_t n, cap = HV_GUEST_MAX_IMAGE + 1;

	if (!f) {
		fprintf(stderr, "hvswap: cannot open guest image %s: %s\n", path, strerror(errno));
		return -1;
	}
	run->image_buf = malloc(cap);
	n = run->image_buf ? fread(run->image_buf, 1, cap, f) : 0;
	fclose(f);
	if (n == 0 || n >= cap) {
		fprintf(stderr, "hvswap: guest image %s: %s\n", path,
			n ? "too large" : "empty or unreadable");
		return -1;
	}
	run->image.name = path;
	run->image.summary = "guest image";
	run->image.usage = "";
	run->image.start = run->image_buf;
	run->image.end = run->image_buf + n;
	run->guest = &run->image;
	return 0;
}

static struct json_object *metrics_json(struct vm *vm)
{
	struct json_object *m = json_object_new_object();
	unsigned int i;

	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->nr_metrics; i++)
		json_object_object_add(m, vm->metrics[i].name,
				       json_object_new_double(vm->metrics[i].value));
	pthread_mutex_unlock(&vm->lock);
	return m;
}

static int write_stats(struct vm *vm, const struct run *run, int status)
{
	const struct run_opts *o = &run->o;
	struct json_object *root = json_object_new_object();
	uint64_t end;
	char err[512];
	int r;

	pthread_mutex_lock(&vm->lock);         /* vm_stop() may write it meanwhile */
	end = vm->end_ns;
	pthread_mutex_unlock(&vm->lock);

	if (o->name)
		json_object_object_add(root, "name", json_object_new_string(o->name));
	if (o->uuid)
		json_object_object_add(root, "uuid", json_object_new_string(o->uuid));
	json_object_object_add(root, "guest", json_object_new_string(run->name));
	json_object_object_add(root, "guest_args", json_object_new_string(o->guest_args));
	json_object_object_add(root, "mem_bytes", json_object_new_uint64(o->vm.mem_size));
	json_object_object_add(root, "vcpus", json_object_new_int((int)o->vm.nr_vcpus));
	json_object_object_add(root, "running", json_object_new_boolean(!atomic_load(&vm->stopping)));
	if (atomic_load(&vm->stopping)) {
		json_object_object_add(root, "exit_status", json_object_new_int(status));
		json_object_object_add(root, "elapsed_s",
				       json_object_new_double((double)(end - vm->start_ns) / 1e9));
	}
	json_object_object_add(root, "metrics", metrics_json(vm));
	if (vm->swapper) {
		struct json_object *sw = swapper_stats_json(vm->swapper);

		json_object_object_add(root, "stall", vm_stall_json(vm, sw));
		json_object_object_add(root, "swap", sw);
	} else {
		json_object_object_add(root, "stall", vm_stall_json(vm, NULL));
	}
	json_object_object_add(root, "devices", vm_devices_stats_json(vm));
	/* Strict JSON (NaN/Inf -> null), through a fresh temporary: no
	 * symbolic link at the path or at a temporary name is followed. */
	r = outfile_write_json(o->stats_path, root, err, sizeof(err));
	if (r < 0)
		log_err("%s", err);
	json_object_put(root);
	return r;
}

static void tick(struct vm *vm, void *arg)
{
	struct run *run = arg;
	double t;
	struct timespec ts;
	char line[256];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	t = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	if (t >= run->next_stall) {
		vm_stall_sample(vm);
		run->next_stall = t + 1.0;
	}
	if (run->o.stats_path && run->o.stats_interval > 0 && t >= run->next_stats) {
		write_stats(vm, run, 0);
		run->next_stats = t + run->o.stats_interval;
	}
	if (run->tty_status && vm->swapper && t >= run->next_status) {
		run->next_status = t + 1.0;
		swapper_status_live(vm->swapper, line, sizeof(line));
		fprintf(stderr, "\r%s\033[K", line);
	}
}

static void print_summary(struct vm *vm, const struct run *run, int status)
{
	unsigned int i;

	if (run->tty_status)
		fprintf(stderr, "\r\033[K");
	if (vm->reason[0])
		fprintf(stderr, "hvswap: %s\n", vm->reason);
	fprintf(stderr, "hvswap: guest '%s' exited with status %d after %.3f s\n",
		run->name, status, (double)(vm->end_ns - vm->start_ns) / 1e9);
	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->nr_metrics; i++)
		fprintf(stderr, "hvswap:   %-24s %.6g\n", vm->metrics[i].name,
			vm->metrics[i].value);
	pthread_mutex_unlock(&vm->lock);
	if (vm->swapper) {
		char line[256];

		swapper_status_line(vm->swapper, line, sizeof(line));
		fprintf(stderr, "hvswap: %s\n", line);
	}
}

/* Parse the command line and look the guest up.  Returns 0 to run, or an
 * exit status + 1 (1: --help done) after printing one line. */
static int setup_run(int argc, char **argv, struct run *run)
{
	const char *why;
	char err[512];
	int r;

	r = cli_parse_run(argc, argv, &run->o, err, sizeof(err));
	if (run->o.warnings)
		fputs(run->o.warnings, stderr);
	if (r == 1) {
		cli_usage(stdout);
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "hvswap: %s\n", err);
		return 1 + (r == -EINVAL ? VM_STATUS_USAGE : VM_STATUS_ENV);
	}
	/* Filters on unless --no-seccomp or a sanitizer build (log at -v). */
	if (run->o.no_seccomp)
		log_info("seccomp filters off (--no-seccomp)");
	else if (!sandbox_available(&why))
		log_info("seccomp filters off: %s", why);
	else
		run->o.vm.seccomp = true;
	hv_log_set_level(run->o.verbose >= 2 ? HV_LOG_DEBUG :
			 run->o.verbose ? HV_LOG_INFO : HV_LOG_WARN);
	run->name = "linux";
	if (!run->o.vm.kernel_path) {
		run->name = run->o.guest;
		if (strchr(run->o.guest, '/'))
			return read_image(run, run->o.guest) < 0 ? 1 + VM_STATUS_ENV : 0;
		run->guest = find_guest(run->o.guest);
		if (!run->guest) {
			fprintf(stderr, "hvswap: unknown guest '%s' (see 'hvswap list')\n",
				run->o.guest);
			return 1 + VM_STATUS_USAGE;
		}
	}
	return 0;
}

/* Create the VM, load the guest and open the control socket: everything
 * that can fail for a reason the user must fix, before the guest starts. */
static int setup_vm(struct run *run, struct vm **vm, struct ctl **ctl)
{
	char err[512] = "";
	int r;

	if (run->o.ctl_path) {
		r = ctl_open(run->o.ctl_path, run->o.ctl_idle_timeout, ctl, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "hvswap: %s\n", err);
			return r;
		}
	}
	r = vm_create(&run->o.vm, vm, err, sizeof(err));
	if (r < 0) {
		/* Empty: a component below already said why, once. */
		if (err[0])
			fprintf(stderr, "hvswap: %s\n", err);
		goto close_ctl;
	}
	if (!run->guest)
		r = linux_boot_load(*vm, err, sizeof(err));
	else if ((r = vm_load_image(*vm, run->guest->start,
				    (size_t)(run->guest->end - run->guest->start))) < 0)
		snprintf(err, sizeof(err), "cannot load guest '%s': image too large",
			 run->guest->name);
	if (r < 0) {
		fprintf(stderr, "hvswap: %s\n", err);
		vm_destroy(*vm);
		goto close_ctl;
	}
	return 0;
close_ctl:
	ctl_stop(*ctl);
	*ctl = NULL;
	return r;
}

static int cmd_run(int argc, char **argv)
{
	struct run run = { 0 };
	struct vm *vm = NULL;
	struct ctl *ctl = NULL;
	sigset_t set;
	int r, status;

	r = setup_run(argc, argv, &run);
	if (r != 0) {
		cli_run_opts_free(&run.o);
		free(run.image_buf);
		return r - 1;
	}
	/* SIGINT/SIGTERM/SIGHUP are taken synchronously by vm_wait() (no
	 * handler, so no global state): block them in every thread before
	 * any is created.  A hang-up is a request to stop, cleanly. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (setup_vm(&run, &vm, &ctl) < 0) {
		cli_run_opts_free(&run.o);
		free(run.image_buf);
		return VM_STATUS_ENV;
	}
	run.tty_status = isatty(STDERR_FILENO) && run.o.vm.quiet;
	r = vm_start(vm);
	if (r < 0)
		fprintf(stderr, "hvswap: cannot start the VM: %s\n", strerror(-r));
	else if (ctl && (r = ctl_serve(ctl, vm)) < 0)
		vm_stop(vm, VM_STATUS_ENV, "control socket: cannot start its thread: %s",
			strerror(-r));
	/* Every thread is started: the main thread's own filter last. */
	vm_sandbox_thread(vm, SANDBOX_MAIN, NULL);
	status = vm_wait(vm, run.o.timeout_s, tick, &run);
	/* Before the summary and the final stats: in-flight control operations
	 * finish first, and the swapper must outlive them. */
	ctl_stop(ctl);
	vm_stall_sample(vm);
	print_summary(vm, &run, status);
	if (run.o.stats_path && write_stats(vm, &run, status) < 0 && status == 0)
		status = VM_STATUS_ENV;
	vm_destroy(vm);
	cli_run_opts_free(&run.o);
	free(run.image_buf);
	return status;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* A closed stdout/stderr or control client must not kill the VMM
	 * (writes fail with EPIPE instead; guest output is then dropped). */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		cli_usage(stderr);
		return VM_STATUS_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		cli_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("hvswap %s\n", HVSWAP_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "list")) {
		list_guests();
		return 0;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ctl"))
		return ctl_client_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "config"))
		return config_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "host"))
		return host_main(argc - 1, argv + 1);
	fprintf(stderr, "hvswap: unknown command '%s' (see 'hvswap --help')\n", argv[1]);
	return VM_STATUS_USAGE;
}
