/*
 * main.c - the hvswap command line.
 *
 *   hvswap run [options] GUEST [key=value ...]   run an embedded test guest
 *   hvswap list                                  list embedded guests
 *   hvswap ctl SOCKET CMD [key=value ...]        control a running VM (ctl.h)
 *   hvswap --help | --version
 *
 * Exit status: the guest's status, or one of hvswap's own (vm.h):
 * 2 usage, 3 environment, 124 timeout, 125 crash/fatal, 130 interrupted.
 */
#include <errno.h>
#include <getopt.h>
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
#include "ctl.h"
#include "util.h"
#include "vm.h"

#ifndef HVSWAP_VERSION
#define HVSWAP_VERSION "0.0.0"
#endif

struct run_opts {
	struct vm_config vm;
	struct swapper_config swap;
	bool swap_on;
	double timeout_s;
	const char *stats_path;
	double stats_interval;
	const char *ctl_path;
	const struct hv_embedded_guest *guest;
	char *guest_args;
	bool tty_status;
	double next_stats;
	bool no_seccomp;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: hvswap run [options] GUEST [key=value ...]\n"
"       hvswap list\n"
"       hvswap ctl SOCKET CMD [key=value ...]   (see 'hvswap ctl --help')\n"
"       hvswap --help | --version\n"
"\n"
"run options:\n"
"  --mem SIZE            guest RAM (default 1G; a 2M multiple; K/M/G/T suffixes)\n"
"  --vcpus N             number of vCPUs (default 1, max %u)\n"
"  --timeout S           stop the guest after S seconds (status 124; default: none)\n"
"  --mem-backing TYPE    anon (default) or memfd\n"
"  --mem-limit SIZE      resident limit: enables the swapper (default: no swap)\n"
"  --swap PATH           swap file or block device (repeatable; default: a\n"
"                        temporary unlinked file)\n"
"  --swap-size SIZE      size of the temporary swap file (default: --mem)\n"
"  --swap-dir DIR        where the temporary swap file lives (default /var/tmp)\n"
"  --io-engine NAME      %s (default libaio)\n"
"  --swap-full POLICY    overcommit (default: run above the limit, warn) or stop\n"
"  --fault-around N      a first touch maps the never-used pages of its aligned\n"
"                        N-page block as zero pages (default 16; 0: off)\n"
"  --keep-clean POLICY   install pages read back from swap write-protected and\n"
"                        keeping their slot: auto (default: while few of them\n"
"                        get written), always or never\n"
"  --stats FILE          write JSON statistics at exit (and every --stats-interval)\n"
"  --stats-interval S    seconds between --stats rewrites (default: only at exit)\n"
"  --disk PATH           virtio-blk disk backed by PATH (created if missing)\n"
"  --disk-size SIZE      disk size: an unlinked temp file in /var/tmp, or grow\n"
"                        --disk PATH to SIZE (a multiple of 512)\n"
"  --ctl PATH            control socket for 'hvswap ctl' (created mode 0600)\n"
"  --no-seccomp          do not install the per-thread seccomp filters (debugging)\n"
"  -q, --quiet           do not print guest output\n"
"  -v, --verbose         more log output (repeat for debug)\n",
		HV_MAX_VCPUS, "libaio, sync, io_uring");
}

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

static int bad_value(const char *opt, const char *val, int r)
{
	fprintf(stderr, "hvswap: invalid value '%s' for %s: %s\n", val, opt,
		r == -ERANGE ? "out of range" : "not a valid number/size");
	return -VM_STATUS_USAGE;
}

enum {
	OPT_MEM = 256, OPT_VCPUS, OPT_TIMEOUT, OPT_BACKING, OPT_LIMIT, OPT_SWAP,
	OPT_SWAP_SIZE, OPT_SWAP_DIR, OPT_ENGINE, OPT_FULL, OPT_STATS,
	OPT_STATS_INTERVAL, OPT_DISK, OPT_DISK_SIZE, OPT_CTL, OPT_FAULT_AROUND,
	OPT_KEEP_CLEAN, OPT_NO_SECCOMP,
};

static int parse_opt(struct run_opts *o, int c, const char *arg)
{
	uint64_t v;
	int r;

	switch (c) {
	case OPT_MEM:
		r = parse_size(arg, &o->vm.mem_size);
		if (r < 0)
			return bad_value("--mem", arg, r);
		if (o->vm.mem_size < (4u << 20) || o->vm.mem_size % (2u << 20)) {
			fprintf(stderr, "hvswap: --mem must be a multiple of 2M, at least 4M\n");
			return -VM_STATUS_USAGE;
		}
		return 0;
	case OPT_VCPUS:
		r = parse_uint(arg, 1, HV_MAX_VCPUS, &v);
		if (r < 0)
			return bad_value("--vcpus", arg, r);
		o->vm.nr_vcpus = (unsigned int)v;
		return 0;
	case OPT_TIMEOUT:
		r = parse_seconds(arg, &o->timeout_s);
		return r < 0 ? bad_value("--timeout", arg, r) : 0;
	case OPT_BACKING:
		if (gmem_backing_parse(arg, &o->vm.backing) < 0) {
			fprintf(stderr, "hvswap: --mem-backing must be anon or memfd\n");
			return -VM_STATUS_USAGE;
		}
		return 0;
	case OPT_LIMIT:
		r = parse_size(arg, &o->swap.mem_limit);
		if (r < 0 || o->swap.mem_limit < (1u << 20))
			return bad_value("--mem-limit", arg, r < 0 ? r : -ERANGE);
		o->swap_on = true;
		return 0;
	case OPT_SWAP:
		if (o->swap.nr_devs == SWAPPER_MAX_DEVS) {
			fprintf(stderr, "hvswap: at most %u --swap devices\n", SWAPPER_MAX_DEVS);
			return -VM_STATUS_USAGE;
		}
		o->swap.devs[o->swap.nr_devs].path = arg;
		o->swap.devs[o->swap.nr_devs].prio = -(int)o->swap.nr_devs;
		o->swap.nr_devs++;
		return 0;
	case OPT_SWAP_SIZE:
		r = parse_size(arg, &o->swap.swap_size);
		return r < 0 ? bad_value("--swap-size", arg, r) : 0;
	case OPT_SWAP_DIR:
		o->swap.tmpdir = arg;
		return 0;
	case OPT_ENGINE:
		if (strcmp(arg, "libaio") && strcmp(arg, "sync") && strcmp(arg, "io_uring")) {
			fprintf(stderr, "hvswap: unknown --io-engine '%s' (libaio, sync, io_uring)\n", arg);
			return -VM_STATUS_USAGE;
		}
		o->swap.io_engine = arg;
		return 0;
	case OPT_FULL:
		if (!strcmp(arg, "overcommit"))
			o->swap.on_full = SWAP_FULL_OVERCOMMIT;
		else if (!strcmp(arg, "stop"))
			o->swap.on_full = SWAP_FULL_STOP;
		else {
			fprintf(stderr, "hvswap: --swap-full must be overcommit or stop\n");
			return -VM_STATUS_USAGE;
		}
		return 0;
	case OPT_STATS:
		o->stats_path = arg;
		return 0;
	case OPT_DISK:
		o->vm.disk_path = arg;
		return 0;
	case OPT_DISK_SIZE:
		r = parse_size(arg, &o->vm.disk_size);
		if (r < 0 || o->vm.disk_size == 0 || o->vm.disk_size % 512)
			return bad_value("--disk-size", arg, r < 0 ? r : -EINVAL);
		return 0;
	case OPT_STATS_INTERVAL:
		r = parse_seconds(arg, &o->stats_interval);
		return r < 0 ? bad_value("--stats-interval", arg, r) : 0;
	case OPT_CTL:
		o->ctl_path = arg;
		return 0;
	case OPT_KEEP_CLEAN:
		if (!strcmp(arg, "auto"))
			o->swap.clean_policy = SWAPPER_CLEAN_AUTO;
		else if (!strcmp(arg, "always"))
			o->swap.clean_policy = SWAPPER_CLEAN_ALWAYS;
		else if (!strcmp(arg, "never"))
			o->swap.clean_policy = SWAPPER_CLEAN_NEVER;
		else {
			fprintf(stderr, "hvswap: --keep-clean must be auto, always or never\n");
			return -VM_STATUS_USAGE;
		}
		return 0;
	case OPT_NO_SECCOMP:
		o->no_seccomp = true;
		return 0;
	case OPT_FAULT_AROUND:
		r = parse_uint(arg, 0, 512, &v);
		if (r < 0 || (v & (v - 1))) {
			fprintf(stderr, "hvswap: --fault-around must be 0 or a power of "
				"two up to 512 (pages)\n");
			return -VM_STATUS_USAGE;
		}
		o->swap.fault_around = (unsigned int)v;
		return 0;
	default:
		return -VM_STATUS_USAGE;
	}
}

static char *join_args(int argc, char **argv)
{
	size_t n = 1;
	char *s;
	int i;

	for (i = 0; i < argc; i++)
		n += strlen(argv[i]) + 1;
	s = calloc(1, n);
	if (!s)
		return NULL;
	for (i = 0; i < argc; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

/* Filters on unless --no-seccomp or a sanitizer build (log line at -v). */
static int set_seccomp(struct run_opts *o)
{
	const char *why;

	if (o->no_seccomp)
		log_info("seccomp filters off (--no-seccomp)");
	else if (!sandbox_available(&why))
		log_info("seccomp filters off: %s", why);
	else
		o->vm.seccomp = true;
	return 0;
}

static int parse_run(int argc, char **argv, struct run_opts *o)
{
	static const struct option lopts[] = {
		{ "mem", required_argument, NULL, OPT_MEM },
		{ "vcpus", required_argument, NULL, OPT_VCPUS },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "mem-backing", required_argument, NULL, OPT_BACKING },
		{ "mem-limit", required_argument, NULL, OPT_LIMIT },
		{ "swap", required_argument, NULL, OPT_SWAP },
		{ "swap-size", required_argument, NULL, OPT_SWAP_SIZE },
		{ "swap-dir", required_argument, NULL, OPT_SWAP_DIR },
		{ "io-engine", required_argument, NULL, OPT_ENGINE },
		{ "swap-full", required_argument, NULL, OPT_FULL },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ "stats-interval", required_argument, NULL, OPT_STATS_INTERVAL },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "disk-size", required_argument, NULL, OPT_DISK_SIZE },
		{ "ctl", required_argument, NULL, OPT_CTL },
		{ "fault-around", required_argument, NULL, OPT_FAULT_AROUND },
		{ "keep-clean", required_argument, NULL, OPT_KEEP_CLEAN },
		{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, r, verbose = 0;

	o->vm.mem_size = 1ull << 30;
	o->swap.fault_around = 16;
	o->vm.nr_vcpus = 1;
	o->vm.backing = GMEM_ANON;
	optind = 1;
	opterr = 0;             /* we print one line ourselves */
	/* '+': stop at the guest name; what follows belongs to the guest. */
	while ((c = getopt_long(argc, argv, "+qvh", lopts, NULL)) != -1) {
		if (c == 'q') {
			o->vm.quiet = true;
		} else if (c == 'v') {
			verbose++;
		} else if (c == 'h') {
			usage(stdout);
			return 1;
		} else if (c == '?') {
			if (optopt)
				fprintf(stderr, "hvswap: run: invalid option '-%c' (see 'hvswap --help')\n",
					optopt);
			else
				fprintf(stderr, "hvswap: run: unrecognized option '%s' (see 'hvswap --help')\n",
					argv[optind - 1]);
			return -VM_STATUS_USAGE;
		} else {
			r = parse_opt(o, c, optarg);
			if (r < 0)
				return r;
		}
	}
	hv_log_set_level(verbose >= 2 ? HV_LOG_DEBUG : verbose ? HV_LOG_INFO : HV_LOG_WARN);
	if (optind >= argc) {
		fprintf(stderr, "hvswap: run: missing GUEST (see 'hvswap list')\n");
		return -VM_STATUS_USAGE;
	}
	o->guest = find_guest(argv[optind]);
	if (!o->guest) {
		fprintf(stderr, "hvswap: unknown guest '%s' (see 'hvswap list')\n",
			argv[optind]);
		return -VM_STATUS_USAGE;
	}
	o->guest_args = join_args(argc - optind - 1, argv + optind + 1);
	if (!o->guest_args)
		return -VM_STATUS_ENV;
	o->vm.guest_args = o->guest_args;
	if (!o->swap_on && (o->swap.nr_devs || o->swap.swap_size || o->swap.io_engine)) {
		fprintf(stderr, "hvswap: swap options need --mem-limit\n");
		return -VM_STATUS_USAGE;
	}
	if (o->swap_on && !o->swap.nr_devs && !o->swap.swap_size)
		o->swap.swap_size = o->vm.mem_size;
	if (o->swap_on)
		o->vm.swap = &o->swap;
	return set_seccomp(o);
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

static int write_stats(struct vm *vm, const struct run_opts *o, int status)
{
	struct json_object *root = json_object_new_object();
	uint64_t end = vm->end_ns ? vm->end_ns : 0;
	char tmp[4096];
	int r = 0;

	json_object_object_add(root, "guest", json_object_new_string(o->guest->name));
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
	if (vm->swapper)
		json_object_object_add(root, "swap", swapper_stats_json(vm->swapper));
	json_object_object_add(root, "devices", vm_devices_stats_json(vm));
	snprintf(tmp, sizeof(tmp), "%s.tmp", o->stats_path);
	if (json_object_to_file_ext(tmp, root, JSON_C_TO_STRING_PRETTY) < 0 ||
	    rename(tmp, o->stats_path) < 0) {
		log_err("cannot write stats to %s: %s", o->stats_path, strerror(errno));
		r = -EIO;
	}
	json_object_put(root);
	return r;
}

static void tick(struct vm *vm, void *arg)
{
	struct run_opts *o = arg;
	double t;
	struct timespec ts;
	char line[256];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	t = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	if (o->stats_path && o->stats_interval > 0 && t >= o->next_stats) {
		write_stats(vm, o, 0);
		o->next_stats = t + o->stats_interval;
	}
	if (o->tty_status && vm->swapper) {
		swapper_status_line(vm->swapper, line, sizeof(line));
		fprintf(stderr, "\r%s\033[K", line);
	}
}

static void print_summary(struct vm *vm, const struct run_opts *o, int status)
{
	unsigned int i;

	if (o->tty_status)
		fprintf(stderr, "\r\033[K");
	if (vm->reason[0])
		fprintf(stderr, "hvswap: %s\n", vm->reason);
	fprintf(stderr, "hvswap: guest '%s' exited with status %d after %.3f s\n",
		o->guest->name, status, (double)(vm->end_ns - vm->start_ns) / 1e9);
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

static int cmd_run(int argc, char **argv)
{
	struct run_opts o = { 0 };
	struct vm *vm = NULL;
	struct ctl *ctl = NULL;
	char err[512] = "";
	sigset_t set;
	int r, status;

	r = parse_run(argc, argv, &o);
	if (r != 0) {
		free(o.guest_args);
		return r > 0 ? 0 : -r;
	}
	/* SIGINT/SIGTERM are taken synchronously by vm_wait(); block them in
	 * every thread before any is created. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	r = vm_create(&o.vm, &vm, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "hvswap: %s\n", err);
		free(o.guest_args);
		return VM_STATUS_ENV;
	}
	r = vm_load_image(vm, o.guest->start, (size_t)(o.guest->end - o.guest->start));
	if (r < 0) {
		fprintf(stderr, "hvswap: cannot load guest '%s': image too large\n",
			o.guest->name);
		vm_destroy(vm);
		free(o.guest_args);
		return VM_STATUS_ENV;
	}
	o.tty_status = isatty(STDERR_FILENO) && o.vm.quiet;
	r = vm_start(vm);
	if (r < 0)
		fprintf(stderr, "hvswap: cannot start the VM: %s\n", strerror(-r));
	else if (o.ctl_path && ctl_start(vm, o.ctl_path, &ctl, err, sizeof(err)) < 0)
		vm_stop(vm, VM_STATUS_ENV, "%s", err);
	/* Every thread is started: the main thread's own filter last. */
	vm_sandbox_thread(vm, SANDBOX_MAIN, NULL);
	status = vm_wait(vm, o.timeout_s, tick, &o);
	/* Before the summary and the final stats: in-flight control operations
	 * finish first, and the swapper must outlive them. */
	ctl_stop(ctl);
	print_summary(vm, &o, status);
	if (o.stats_path && write_stats(vm, &o, status) < 0 && status == 0)
		status = VM_STATUS_ENV;
	vm_destroy(vm);
	free(o.guest_args);
	return status;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		usage(stderr);
		return VM_STATUS_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
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
	fprintf(stderr, "hvswap: unknown command '%s' (see 'hvswap --help')\n", argv[1]);
	return VM_STATUS_USAGE;
}
