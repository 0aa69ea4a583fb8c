/*
 * cli.c - the command line of `hvswap run` into a struct run_opts.
 *
 * Owns: nothing but the joined guest-argument string it allocates
 * (run_opts.guest_args, freed by cli_run_opts_free()).
 * Locks: none; getopt_long()'s state is process-global, so one caller at a
 * time (main, or the fuzzer's single thread).  optind is reset to 0 on
 * every call, which makes glibc re-initialise getopt completely.
 * Invariants: cli_parse_run() never prints and never exits; every error is
 * -errno plus one line in err; on error nothing stays allocated.  The
 * guest name is only recorded here: main looks it up (the guest table lives
 * in the hv_guests library, which this file must not need).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvswap/guest_abi.h"
#include "cli.h"
#include "linux_boot.h"
#include "util.h"

enum {
	OPT_MEM = 256, OPT_VCPUS, OPT_TIMEOUT, OPT_BACKING, OPT_LIMIT, OPT_SWAP,
	OPT_SWAP_SIZE, OPT_SWAP_DIR, OPT_ENGINE, OPT_FULL, OPT_STATS,
	OPT_STATS_INTERVAL, OPT_DISK, OPT_DISK_SIZE, OPT_CTL, OPT_FAULT_AROUND,
	OPT_KEEP_CLEAN, OPT_CTL_IDLE, OPT_FORCE, OPT_FAULT_SPIN, OPT_ENCRYPT,
	OPT_NO_SECCOMP,
	OPT_BALLOON,
	OPT_KERNEL, OPT_INITRD, OPT_APPEND,
};

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
	{ "ctl-idle-timeout", required_argument, NULL, OPT_CTL_IDLE },
	{ "fault-around", required_argument, NULL, OPT_FAULT_AROUND },
	{ "keep-clean", required_argument, NULL, OPT_KEEP_CLEAN },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "fault-spin", required_argument, NULL, OPT_FAULT_SPIN },
	{ "swap-encrypt", no_argument, NULL, OPT_ENCRYPT },
	{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
	{ "balloon", no_argument, NULL, OPT_BALLOON },
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "append", required_argument, NULL, OPT_APPEND },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

void cli_usage(FILE *f)
{
	fprintf(f,
"usage: hvswap run [options] GUEST [key=value ...]\n"
"       hvswap run [options] --kernel FILE [--initrd FILE] [--append CMDLINE]\n"
"       hvswap list\n"
"       hvswap ctl [--timeout S] SOCKET CMD [key=value ...]   (see 'hvswap ctl --help')\n"
"       hvswap --help | --version\n"
"\n"
"run options:\n"
"  --mem SIZE            guest RAM (default 1G; a 2M multiple; K/M/G/T suffixes)\n"
"  --vcpus N             number of vCPUs (default 1, max %u)\n"
"  --timeout S           stop the guest after S seconds (status 124; default: none;\n"
"                        at most 1e9)\n"
"  --mem-backing TYPE    anon (default) or memfd\n"
"  --mem-limit SIZE      resident limit: enables the swapper (default: no swap)\n"
"  --swap PATH           swap file or block device (repeatable; default: a\n"
"                        temporary unlinked file)\n"
"  --swap-size SIZE      size of the temporary swap file (default: --mem)\n"
"  --swap-dir DIR        where the temporary swap file lives (default /var/tmp)\n"
"  --force               use --swap targets that carry a filesystem, partition\n"
"                        table, swap area or another hvswap's header\n"
"  --io-engine NAME      %s (default libaio)\n"
"  --swap-full POLICY    overcommit (default: run above the limit, warn) or stop\n"
"  --fault-around N      a first touch maps the never-used pages of its aligned\n"
"                        N-page block as zero pages (default 16; 0: off)\n"
"  --keep-clean POLICY   install pages read back from swap write-protected and\n"
"                        keeping their slot: auto (default: while few of them\n"
"                        get written), always or never\n"
"  --fault-spin MODE     the fault thread polls before it sleeps: auto (default:\n"
"                        adaptive), off, or a fixed budget in microseconds\n"
"  --swap-encrypt        encrypt swap data (AES-256-GCM, a key held only in\n"
"                        memory); default: a crc32c per slot\n"
"  --no-seccomp          do not install the per-thread seccomp filters (debugging)\n"
"  --stats FILE          write JSON statistics at exit (and every --stats-interval)\n"
"  --stats-interval S    seconds between --stats rewrites (default: only at exit)\n"
"  --disk PATH           virtio-blk disk backed by PATH (created if missing;\n"
"                        a symbolic link is refused)\n"
"  --disk-size SIZE      disk size: an unlinked temp file in /var/tmp, or grow\n"
"                        --disk PATH to SIZE (a multiple of 512)\n"
"  --balloon             a virtio-balloon device: pages the guest inflates are\n"
"                        discarded on the host (docs/guest-swap.md)\n"
"  --ctl PATH            control socket for 'hvswap ctl' (created mode 0600)\n"
"  --ctl-idle-timeout S  close control clients idle for S seconds (default %g)\n"
"  --kernel FILE         boot a Linux bzImage or vmlinux (64-bit boot protocol;\n"
"                        COM1 on stdout; 1 vCPU; --mem at most 3068M)\n"
"  --initrd FILE         initial ramdisk for --kernel\n"
"  --append CMDLINE      kernel command line (virtio-mmio devices are added)\n"
"  -q, --quiet           do not print guest output\n"
"  -v, --verbose         more log output (repeat for debug)\n",
		HV_MAX_VCPUS, "libaio, sync, io_uring", CLI_CTL_IDLE_DEFAULT);
}

__attribute__((format(printf, 3, 4)))
static int usage_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* The message quotes argv words: keep it one line, terminal-safe. */
	for (; *err; err++) {
		if ((unsigned char)*err < 0x20 || *err == 0x7f)
			*err = '?';
	}
	return -EINVAL;
}

static int bad_value(char *err, size_t errlen, const char *opt, const char *val, int r)
{
	return usage_err(err, errlen, "invalid value '%.200s' for %s: %s", val, opt,
			 r == -ERANGE ? "out of range" : "not a valid number/size");
}

static int parse_policy(const char *arg, const char *const *names, unsigned int *out)
{
	unsigned int i;

	for (i = 0; names[i]; i++) {
		if (!strcmp(arg, names[i])) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_swap_opt(struct run_opts *o, int c, const char *arg,
			  char *err, size_t errlen)
{
	static const char *const full[] = { "overcommit", "stop", NULL };
	static const char *const clean[] = { "auto", "always", "never", NULL };
	unsigned int k;
	uint64_t v;
	int r;

	switch (c) {
	case OPT_FORCE:         /* applies to every --swap, before or after */
		for (k = 0; k < SWAPPER_MAX_DEVS; k++)
			o->swap.devs[k].force = true;
		return 0;
	case OPT_LIMIT:
		r = parse_size(arg, &o->swap.mem_limit);
		if (r < 0 || o->swap.mem_limit < (1u << 20))
			return bad_value(err, errlen, "--mem-limit", arg, r < 0 ? r : -ERANGE);
		o->swap_on = true;
		return 0;
	case OPT_SWAP:
		if (o->swap.nr_devs == SWAPPER_MAX_DEVS)
			return usage_err(err, errlen, "at most %u --swap devices",
					 SWAPPER_MAX_DEVS);
		o->swap.devs[o->swap.nr_devs].path = arg;
		o->swap.devs[o->swap.nr_devs].prio = -(int)o->swap.nr_devs;
		o->swap.nr_devs++;
		return 0;
	case OPT_SWAP_SIZE:
		r = parse_size(arg, &o->swap.swap_size);
		return r < 0 ? bad_value(err, errlen, "--swap-size", arg, r) : 0;
	case OPT_SWAP_DIR:
		o->swap.tmpdir = arg;
		return 0;
	case OPT_ENGINE:
		if (strcmp(arg, "libaio") && strcmp(arg, "sync") && strcmp(arg, "io_uring"))
			return usage_err(err, errlen, "unknown --io-engine '%.200s' "
					 "(libaio, sync, io_uring)", arg);
		o->swap.io_engine = arg;
		return 0;
	case OPT_FULL:
		if (parse_policy(arg, full, &k) < 0)
			return usage_err(err, errlen, "--swap-full must be overcommit or stop");
		o->swap.on_full = k ? SWAP_FULL_STOP : SWAP_FULL_OVERCOMMIT;
		return 0;
	case OPT_KEEP_CLEAN:
		if (parse_policy(arg, clean, &k) < 0)
			return usage_err(err, errlen, "--keep-clean must be auto, always or never");
		o->swap.clean_policy = k == 0 ? SWAPPER_CLEAN_AUTO :
			k == 1 ? SWAPPER_CLEAN_ALWAYS : SWAPPER_CLEAN_NEVER;
		return 0;
	case OPT_FAULT_SPIN:
		if (!strcmp(arg, "auto")) {
			o->swap.fault_spin_us = 0;
		} else if (!strcmp(arg, "off")) {
			o->swap.fault_spin_us = -1;
		} else {
			r = parse_uint(arg, 1, 100000, &v);
			if (r < 0)
				return usage_err(err, errlen, "--fault-spin must be auto, "
						 "off or 1..100000 (us)");
			o->swap.fault_spin_us = (int)v;
		}
		return 0;
	case OPT_ENCRYPT:
		o->swap.encrypt = true;
		return 0;
	case OPT_NO_SECCOMP:
		o->no_seccomp = true;
		return 0;
	case OPT_BALLOON:
		o->vm.balloon = true;
		return 0;
	case OPT_FAULT_AROUND:
		r = parse_uint(arg, 0, 512, &v);
		if (r < 0 || (v & (v - 1)))
			return usage_err(err, errlen, "--fault-around must be 0 or a power "
					 "of two up to 512 (pages)");
		o->swap.fault_around = (unsigned int)v;
		return 0;
	default:
		return usage_err(err, errlen, "internal: unhandled option %d", c);
	}
}

static int parse_opt(struct run_opts *o, int c, const char *arg, char *err,
		     size_t errlen)
{
	uint64_t v;
	int r;

	switch (c) {
	case OPT_MEM:
		r = parse_size(arg, &o->vm.mem_size);
		if (r < 0)
			return bad_value(err, errlen, "--mem", arg, r);
		if (o->vm.mem_size < (4u << 20) || o->vm.mem_size % (2u << 20))
			return usage_err(err, errlen, "--mem must be a multiple of 2M, at least 4M");
		return 0;
	case OPT_VCPUS:
		r = parse_uint(arg, 1, HV_MAX_VCPUS, &v);
		if (r < 0)
			return bad_value(err, errlen, "--vcpus", arg, r);
		o->vm.nr_vcpus = (unsigned int)v;
		return 0;
	case OPT_TIMEOUT:
		r = parse_seconds(arg, &o->timeout_s);
		return r < 0 ? bad_value(err, errlen, "--timeout", arg, r) : 0;
	case OPT_BACKING:
		if (gmem_backing_parse(arg, &o->vm.backing) < 0)
			return usage_err(err, errlen, "--mem-backing must be anon or memfd");
		return 0;
	case OPT_STATS:
		o->stats_path = arg;
		return 0;
	case OPT_STATS_INTERVAL:
		r = parse_seconds(arg, &o->stats_interval);
		return r < 0 ? bad_value(err, errlen, "--stats-interval", arg, r) : 0;
	case OPT_DISK:
		o->vm.disk_path = arg;
		return 0;
	case OPT_DISK_SIZE:
		r = parse_size(arg, &o->vm.disk_size);
		if (r < 0 || o->vm.disk_size == 0 || o->vm.disk_size % 512)
			return bad_value(err, errlen, "--disk-size", arg, r < 0 ? r : -EINVAL);
		return 0;
	case OPT_CTL:
		o->ctl_path = arg;
		return 0;
	case OPT_KERNEL:
		o->vm.kernel_path = arg;
		return 0;
	case OPT_INITRD:
		o->vm.initrd_path = arg;
		return 0;
	case OPT_APPEND:
		o->vm.cmdline = arg;
		return 0;
	case OPT_CTL_IDLE:
		r = parse_seconds(arg, &o->ctl_idle_timeout);
		if (r < 0 || o->ctl_idle_timeout < 0.001)
			return bad_value(err, errlen, "--ctl-idle-timeout", arg,
					 r < 0 ? r : -ERANGE);
		return 0;
	default:
		return parse_swap_opt(o, c, arg, err, errlen);
	}
}

/* The words after GUEST, joined by blanks (malloc'd), or NULL. */
static char *join_args(int argc, char **argv)
{
	size_t n = 1, len, off = 0;
	char *s;
	int i;

	for (i = 0; i < argc; i++)
		n += strlen(argv[i]) + 1;
	s = malloc(n);
	if (!s)
		return NULL;
	for (i = 0; i < argc; i++) {
		if (i)
			s[off++] = ' ';
		len = strlen(argv[i]);
		memcpy(s + off, argv[i], len);
		off += len;
	}
	s[off] = '\0';
	return s;
}

static void set_defaults(struct run_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->vm.mem_size = 1ull << 30;
	o->vm.nr_vcpus = 1;
	o->vm.backing = GMEM_ANON;
	o->swap.fault_around = 16;
	o->ctl_idle_timeout = CLI_CTL_IDLE_DEFAULT;
}

/* What getopt_long() refused (c is '?' or ':'), as one line.  optopt is
 * the short option character, or a long option's value (>= 256: not a
 * character to print - the fuzzer found that one). */
static int bad_option(int c, int argc, char **argv, char *err, size_t errlen)
{
	const char *word = optind > 0 && optind <= argc ? argv[optind - 1] : "?";

	if (c == ':')
		return usage_err(err, errlen, "run: option '%.200s' needs a value "
				 "(see 'hvswap --help')", word);
	if (optopt > 0 && optopt < 256)
		return usage_err(err, errlen, "run: invalid option '-%c' (see 'hvswap --help')",
				 optopt);
	return usage_err(err, errlen, "run: unrecognized option '%.200s' (see 'hvswap --help')",
			 word);
}

/* The rules of a Linux guest (linux_boot.h): no MP table or ACPI yet, so
 * one vCPU; RAM and the virtio window below the 32-bit MMIO hole. */
static int check_linux(struct run_opts *o, char *err, size_t errlen)
{
	if (!o->vm.kernel_path) {
		if (o->vm.initrd_path || o->vm.cmdline)
			return usage_err(err, errlen, "--initrd and --append need --kernel");
		return 0;
	}
	if (o->vm.nr_vcpus != 1)
		return usage_err(err, errlen, "--kernel: only 1 vCPU is supported "
				 "(no MP table or ACPI for more)");
	if (o->vm.mem_size > LINUX_MAX_RAM_END - HV_RAM_BASE - HV_VIRTIO_WINDOW_SIZE)
		return usage_err(err, errlen, "--kernel: --mem may be at most 3068M "
				 "(guest RAM stays below the 32-bit MMIO hole)");
	return 0;
}

/* Cross-option rules, after every option is known. */
static int check_opts(struct run_opts *o, char *err, size_t errlen)
{
	int r = check_linux(o, err, errlen);

	if (r < 0)
		return r;
	if (!o->swap_on && (o->swap.nr_devs || o->swap.swap_size || o->swap.io_engine ||
			    o->swap.encrypt || o->swap.fault_spin_us))
		return usage_err(err, errlen, "swap options need --mem-limit");
	if (o->swap_on && !o->swap.nr_devs && !o->swap.swap_size)
		o->swap.swap_size = o->vm.mem_size;
	if (o->swap_on) {
		/* the vCPUs compete with the fault thread for the CPUs */
		o->swap.busy_threads = o->vm.nr_vcpus;
		o->vm.swap = &o->swap;
	}
	return 0;
}

int cli_parse_run(int argc, char **argv, struct run_opts *o, char *err,
		  size_t errlen)
{
	int c, r;

	set_defaults(o);
	if (errlen)
		err[0] = '\0';
	optind = 0;             /* glibc: start afresh, forget earlier scans */
	opterr = 0;             /* the caller prints our one line */
	/* '+': stop at the guest name; what follows belongs to the guest.
	 * ':': a missing value is reported as ':', not as '?'. */
	while ((c = getopt_long(argc, argv, "+:qvh", lopts, NULL)) != -1) {
		if (c == 'q') {
			o->vm.quiet = true;
		} else if (c == 'v') {
			o->verbose++;
		} else if (c == 'h') {
			return 1;
		} else if (c == '?' || c == ':') {
			return bad_option(c, argc, argv, err, errlen);
		} else {
			r = parse_opt(o, c, optarg, err, errlen);
			if (r < 0)
				return r;
		}
	}
	if (o->vm.kernel_path) {
		if (optind < argc)
			return usage_err(err, errlen, "run: --kernel takes no GUEST "
					 "('%.200s'); use --append for the kernel's "
					 "command line", argv[optind]);
		optind = argc - 1;      /* no guest words to join */
	} else if (optind >= argc) {
		return usage_err(err, errlen, "run: missing GUEST (see 'hvswap list')");
	} else {
		o->guest = argv[optind];
	}
	r = check_opts(o, err, errlen);
	if (r < 0)
		return r;
	o->guest_args = join_args(argc - optind - 1, argv + optind + 1);
	if (!o->guest_args) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	o->vm.guest_args = o->guest_args;
	return 0;
}

void cli_run_opts_free(struct run_opts *o)
{
	free(o->guest_args);
	o->guest_args = NULL;
	o->vm.guest_args = NULL;
}
