/*
 * cli.c - the command line of `hvswap run` into a struct run_opts, and the
 * per-option setter that config files (config*.c) use too.
 *
 * Owns: the joined guest-argument string it allocates (run_opts.guest_args)
 * and the strings of a config file (run_opts.owned, cli_own()), freed by
 * cli_run_opts_free().
 * Locks: none; getopt_long()'s state is process-global, so one caller at a
 * time (main, or the fuzzer's single thread).  optind is reset to 0 on
 * every call, which makes glibc re-initialise getopt completely.
 * Invariants: cli_parse_run() never prints and never exits; every error is
 * -errno plus one line in err; on error nothing stays allocated.  The
 * guest name is only recorded here: main looks it up (the guest table lives
 * in the hv_guests library, which this file must not need).
 * Precedence: defaults < --config FILE < the other options, wherever
 * --config stands (two getopt passes: --config first, then the rest).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvswap/guest_abi.h"
#include "cli.h"
#include "config.h"
#include "linux_boot.h"
#include "util.h"

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
	{ "policy", required_argument, NULL, OPT_POLICY },
	{ "ztier", required_argument, NULL, OPT_ZTIER },
	{ "ztier-size", required_argument, NULL, OPT_ZTIER_SIZE },
	{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
	{ "balloon", no_argument, NULL, OPT_BALLOON },
	{ "swap-mapper", no_argument, NULL, OPT_SWAP_MAPPER },
	{ "swap-mapper-count", no_argument, NULL, OPT_SWAP_MAPPER_COUNT },
	{ "vhost-user-blk", required_argument, NULL, OPT_VHOST_USER_BLK },
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "append", required_argument, NULL, OPT_APPEND },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "uuid", required_argument, NULL, OPT_UUID },
	{ "soft-limit", required_argument, NULL, OPT_SOFT_LIMIT },
	{ "min-guarantee", required_argument, NULL, OPT_MIN_GUARANTEE },
	{ "locked", no_argument, NULL, OPT_LOCKED },
	{ "hugepages", no_argument, NULL, OPT_HUGEPAGES },
	{ "on-poweroff", required_argument, NULL, OPT_ON_POWEROFF },
	{ "on-crash", required_argument, NULL, OPT_ON_CRASH },
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
"       hvswap run --config FILE [options] [GUEST [key=value ...]]\n"
"       hvswap config FILE [--to json|xml]   (check a config, convert it)\n"
"       hvswap host --budget SIZE [--stats FILE] [--ctl SOCKET] CONFIG...\n"
"       hvswap list\n"
"       hvswap ctl [--timeout S] SOCKET CMD [key=value ...]   (see 'hvswap ctl --help')\n"
"       hvswap --help | --version\n"
"\n"
"run options:\n"
"  --config FILE         VM config: hvswap JSON or libvirt domain XML\n"
"                        (docs/config.md); other options override it\n"
"  --mem SIZE            guest RAM (default 1G; a 2M multiple; K/M/G/T suffixes)\n"
"  --vcpus N             number of vCPUs (default 1, max %u)\n"
"  --timeout S           stop the guest after S seconds (status 124; default: none;\n"
"                        at most 1e9)\n"
"  --mem-backing TYPE    anon (default), memfd, hugetlb (2 MiB huge pages,\n"
"                        swapped in 2 MiB units; needs reserved huge pages) or\n"
"                        thp (anonymous on transparent huge pages, swapped in\n"
"                        2 MiB units; THP mode madvise or always)\n"
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
"  --policy NAME         eviction policy: clock (default: CLOCK over faults),\n"
"                        clock-dirty (also KVM's dirty log of guest writes),\n"
"                        arcw (ARC: scan-resistant, +2 bytes per page) or\n"
"                        arcw-dirty (arcw and the dirty log)\n"
"  --swap-encrypt        encrypt swap data (AES-256-GCM, a key held only in\n"
"                        memory); default: a crc32c per swapped page\n"
"  --ztier ALGO          compressed tier in front of swap: lz4, zstd or off\n"
"                        (default); its pool counts against --mem-limit\n"
"  --ztier-size SIZE     cap of the compressed pool (default: limit / 5)\n"
"  --no-seccomp          do not install the per-thread seccomp filters (debugging)\n"
"  --stats FILE          write JSON statistics at exit (and every --stats-interval)\n"
"  --stats-interval S    seconds between --stats rewrites (default: only at exit)\n"
"  --disk PATH           virtio-blk disk backed by PATH (created if missing;\n"
"                        a symbolic link is refused)\n"
"  --disk-size SIZE      disk size: an unlinked temp file in /var/tmp, or grow\n"
"                        --disk PATH to SIZE (a multiple of 512)\n"
"  --swap-mapper         pages a disk read fills are kept as copies of the\n"
"                        disk's blocks: evicted without a swap write, read\n"
"                        back from the disk (needs --mem-limit and a disk)\n"
"  --swap-mapper-count   track those pages as --swap-mapper does but still\n"
"                        write them to swap, counting the silent writes\n"
"                        (stats swap_mapper.silent_writes; for comparisons)\n"
"  --balloon             a virtio-balloon device: pages the guest inflates are\n"
"                        discarded on the host (docs/guest-swap.md)\n"
"  --vhost-user-blk SOCK virtio-blk served by the vhost-user back-end at the\n"
"                        Unix socket SOCK (needs --mem-backing memfd)\n"
"  --ctl PATH            control socket for 'hvswap ctl' (created mode 0600)\n"
"  --ctl-idle-timeout S  close control clients idle for S seconds (default %g)\n"
"  --kernel FILE         boot a Linux bzImage or vmlinux (64-bit boot protocol;\n"
"                        COM1 on stdout; 1 vCPU; --mem at most 3068M)\n"
"  --initrd FILE         initial ramdisk for --kernel\n"
"  --append CMDLINE      kernel command line (virtio-mmio devices are added)\n"
"  --name NAME           the VM's name ([A-Za-z0-9_.-], at most 64)\n"
"  --uuid UUID           the VM's UUID (recorded in the stats)\n"
"  --soft-limit SIZE     share under host pressure (hvswap host: the weight)\n"
"  --min-guarantee SIZE  resident memory hvswap host never takes away\n"
"  --locked              never swap the guest's RAM (locked as touched)\n"
"  --hugepages           the same as --mem-backing hugetlb\n"
"  --on-poweroff ACTION  destroy (default) or restart (done by hvswap host)\n"
"  --on-crash ACTION     destroy (default) or restart (done by hvswap host)\n"
"  -q, --quiet           do not print guest output\n"
"  -v, --verbose         more log output (repeat for debug)\n",
		HV_MAX_VCPUS, "libaio, sync, io_uring", CLI_CTL_IDLE_DEFAULT);
}

/* Quoted words stay one line and terminal-safe. */
static void one_line(char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
	}
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
	one_line(err);
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

static int parse_swap_opt(struct run_opts *o, int c, const char *arg, const char *w,
			  char *err, size_t errlen)
{
	static const char *const full[] = { "overcommit", "stop", NULL };
	static const char *const clean[] = { "auto", "always", "never", NULL };
	static const char *const zt[] = { "lz4", "zstd", "off", NULL };
	/* indexed by enum swapper_policy */
	static const char *const policy[] = { "clock", "clock-dirty", "arcw",
					      "arcw-dirty", NULL };
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
			return bad_value(err, errlen, w, arg, r < 0 ? r : -ERANGE);
		o->swap_on = true;
		return 0;
	case OPT_SWAP:
		if (o->swap.nr_devs == SWAPPER_MAX_DEVS)
			return usage_err(err, errlen, "at most %u %s devices",
					 SWAPPER_MAX_DEVS, w);
		if (!*arg)
			return usage_err(err, errlen, "%s: an empty path", w);
		o->swap.devs[o->swap.nr_devs].path = arg;
		o->swap.devs[o->swap.nr_devs].prio = -(int)o->swap.nr_devs;
		o->swap.nr_devs++;
		return 0;
	case OPT_SWAP_SIZE:
		r = parse_size(arg, &o->swap.swap_size);
		return r < 0 ? bad_value(err, errlen, w, arg, r) : 0;
	case OPT_SWAP_DIR:
		o->swap.tmpdir = arg;           /* not empty: cli_set_opt() */
		return 0;
	case OPT_ENGINE:
		if (strcmp(arg, "libaio") && strcmp(arg, "sync") && strcmp(arg, "io_uring"))
			return usage_err(err, errlen, "unknown %s '%.200s' "
					 "(libaio, sync, io_uring)", w, arg);
		o->swap.io_engine = arg;
		return 0;
	case OPT_FULL:
		if (parse_policy(arg, full, &k) < 0)
			return usage_err(err, errlen, "%s must be overcommit or stop", w);
		o->swap.on_full = k ? SWAP_FULL_STOP : SWAP_FULL_OVERCOMMIT;
		return 0;
	case OPT_KEEP_CLEAN:
		if (parse_policy(arg, clean, &k) < 0)
			return usage_err(err, errlen, "%s must be auto, always or never", w);
		o->swap.clean_policy = k == 0 ? SWAPPER_CLEAN_AUTO :
			k == 1 ? SWAPPER_CLEAN_ALWAYS : SWAPPER_CLEAN_NEVER;
		return 0;
	case OPT_POLICY:
		if (parse_policy(arg, policy, &k) < 0)
			return usage_err(err, errlen, "%s must be clock, clock-dirty, "
					 "arcw or arcw-dirty", w);
		o->swap.policy = (enum swapper_policy)k;
		return 0;
	case OPT_FAULT_SPIN:
		if (!strcmp(arg, "auto")) {
			o->swap.fault_spin_us = 0;
		} else if (!strcmp(arg, "off")) {
			o->swap.fault_spin_us = -1;
		} else {
			r = parse_uint(arg, 1, 100000, &v);
			if (r < 0)
				return usage_err(err, errlen, "%s must be auto, "
						 "off or 1..100000 (us)", w);
			o->swap.fault_spin_us = (int)v;
		}
		return 0;
	case OPT_ENCRYPT:
		o->swap.encrypt = true;
		return 0;
	case OPT_ZTIER:
		if (parse_policy(arg, zt, &k) < 0)
			return usage_err(err, errlen, "%s must be lz4, zstd or off", w);
		o->swap.ztier = zt[k];
		return 0;
	case OPT_ZTIER_SIZE:
		r = parse_size(arg, &o->swap.ztier_bytes);
		if (r < 0 || o->swap.ztier_bytes < (1u << 20))
			return bad_value(err, errlen, w, arg, r < 0 ? r : -ERANGE);
		return 0;
	case OPT_BALLOON:
		o->vm.balloon = true;
		return 0;
	case OPT_SWAP_MAPPER:
		o->vm.swap_mapper = true;
		return 0;
	case OPT_SWAP_MAPPER_COUNT:
		o->vm.swap_mapper_count = true;
		return 0;
	case OPT_FAULT_AROUND:
		r = parse_uint(arg, 0, 512, &v);
		if (r < 0 || (v & (v - 1)))
			return usage_err(err, errlen, "%s must be 0 or a power "
					 "of two up to 512 (pages)", w);
		o->swap.fault_around = (unsigned int)v;
		return 0;
	default:
		return usage_err(err, errlen, "internal: unhandled option %d", c);
	}
}

/* A VM name: 1..64 of [A-Za-z0-9_.-], not starting with '.' or '-' (it
 * names files and sockets of hvswap host). */
bool cli_valid_name(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* libvirt's UUID forms: 32 hex digits, optionally 8-4-4-4-12 dashed. */
static bool valid_uuid(const char *s)
{
	static const char dashed[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	size_t n = strlen(s), i, hex = 0;

	if (n != 32 && n != 36)
		return false;
	for (i = 0; i < n; i++) {
		if (n == 36 && dashed[i] == '-') {
			if (s[i] != '-')
				return false;
		} else if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i]) {
			return false;
		} else {
			hex++;
		}
	}
	return hex == 32;
}

static int parse_vm_opt(struct run_opts *o, int c, const char *arg, const char *w,
			char *err, size_t errlen)
{
	static const char *const acts[] = { "destroy", "restart", NULL };
	unsigned int k;
	int r;

	switch (c) {
	case OPT_NAME:
		if (!cli_valid_name(arg))
			return usage_err(err, errlen, "invalid %s '%.200s': 1 to 64 of "
					 "A-Z a-z 0-9 _ . - (not first: . -)", w, arg);
		o->name = arg;
		return 0;
	case OPT_UUID:
		if (!valid_uuid(arg))
			return usage_err(err, errlen, "invalid %s '%.200s': 32 hex "
					 "digits (8-4-4-4-12)", w, arg);
		o->uuid = arg;
		return 0;
	case OPT_SOFT_LIMIT:
	case OPT_MIN_GUARANTEE:
		r = parse_size(arg, c == OPT_SOFT_LIMIT ? &o->soft_limit : &o->min_guarantee);
		return r < 0 ? bad_value(err, errlen, w, arg, r) : 0;
	case OPT_LOCKED:
		o->vm.locked = true;
		return 0;
	case OPT_HUGEPAGES:
		o->vm.hugepages = true;
		return 0;
	case OPT_ON_POWEROFF:
	case OPT_ON_CRASH:
		if (parse_policy(arg, acts, &k) < 0)
			return usage_err(err, errlen, "%s must be destroy or restart "
					 "(not '%.100s')", w, arg);
		*(c == OPT_ON_CRASH ? &o->on_crash : &o->on_poweroff) = (enum cli_action)k;
		return 0;
	case OPT_QUIET:
		o->vm.quiet = true;
		return 0;
	case OPT_VERBOSE:
		o->verbose++;
		return 0;
	case OPT_GUEST:
		if (!*arg)
			return usage_err(err, errlen, "%s: an empty guest name", w);
		o->guest = arg;
		return 0;
	case OPT_ARGS:
		o->vm.guest_args = arg;
		return 0;
	default:
		return parse_swap_opt(o, c, arg, w, err, errlen);
	}
}

int cli_set_opt(struct run_opts *o, int c, const char *arg, const char *w,
		char *err, size_t errlen)
{
	uint64_t v;
	int r;

	if ((c == OPT_DISK || c == OPT_STATS || c == OPT_CTL || c == OPT_SWAP_DIR ||
	     c == OPT_CONFIG || c == OPT_VHOST_USER_BLK) && !*arg)
		return usage_err(err, errlen, "%s: an empty path", w);
	/* memory sizes below libvirt's "unlimited" (2^53 - 1 KiB, which its
	 * XML means as no limit) */
	if ((c == OPT_LIMIT || c == OPT_SOFT_LIMIT || c == OPT_MIN_GUARANTEE ||
	     c == OPT_SWAP_SIZE || c == OPT_MEM) && parse_size(arg, &v) == 0 &&
	    v >= CLI_SIZE_UNLIMITED)
		return bad_value(err, errlen, w, arg, -ERANGE);
	switch (c) {
	case OPT_MEM:
		r = parse_size(arg, &o->vm.mem_size);
		if (r < 0)
			return bad_value(err, errlen, w, arg, r);
		if (o->vm.mem_size < (4u << 20) || o->vm.mem_size % (2u << 20))
			return usage_err(err, errlen, "%s must be a multiple of 2M, at least 4M", w);
		return 0;
	case OPT_VCPUS:
		r = parse_uint(arg, 1, HV_MAX_VCPUS, &v);
		if (r < 0)
			return bad_value(err, errlen, w, arg, r);
		o->vm.nr_vcpus = (unsigned int)v;
		return 0;
	case OPT_TIMEOUT:
		r = parse_seconds(arg, &o->timeout_s);
		return r < 0 ? bad_value(err, errlen, w, arg, r) : 0;
	case OPT_BACKING:
		if (gmem_backing_parse(arg, &o->vm.backing) < 0)
			return usage_err(err, errlen, "%s must be anon, memfd, hugetlb or thp", w);
		return 0;
	case OPT_STATS:
		o->stats_path = arg;
		return 0;
	case OPT_STATS_INTERVAL:
		r = parse_seconds(arg, &o->stats_interval);
		return r < 0 ? bad_value(err, errlen, w, arg, r) : 0;
	case OPT_DISK:
		o->vm.disk_path = arg;
		return 0;
	case OPT_DISK_SIZE:
		r = parse_size(arg, &o->vm.disk_size);
		if (r < 0 || o->vm.disk_size == 0 || o->vm.disk_size % 512)
			return bad_value(err, errlen, w, arg, r < 0 ? r : -EINVAL);
		return 0;
	case OPT_CTL:
		o->ctl_path = arg;
		return 0;
	case OPT_VHOST_USER_BLK:
		o->vm.vhost_user_blk = arg;
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
			return bad_value(err, errlen, w, arg, r < 0 ? r : -ERANGE);
		return 0;
	case OPT_NO_SECCOMP:
		o->no_seccomp = true;
		return 0;
	default:
		return parse_vm_opt(o, c, arg, w, err, errlen);
	}
}

void cli_clear_flag(struct run_opts *o, int c)
{
	unsigned int k;

	switch (c) {
	case OPT_FORCE:
		for (k = 0; k < SWAPPER_MAX_DEVS; k++)
			o->swap.devs[k].force = false;
		break;
	case OPT_ENCRYPT: o->swap.encrypt = false; break;
	case OPT_NO_SECCOMP: o->no_seccomp = false; break;
	case OPT_BALLOON: o->vm.balloon = false; break;
	case OPT_SWAP_MAPPER: o->vm.swap_mapper = false; break;
	case OPT_SWAP_MAPPER_COUNT: o->vm.swap_mapper_count = false; break;
	case OPT_LOCKED: o->vm.locked = false; break;
	case OPT_HUGEPAGES: o->vm.hugepages = false; break;
	case OPT_QUIET: o->vm.quiet = false; break;
	default: break;
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

void cli_defaults(struct run_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->vm.mem_size = 1ull << 30;
	o->vm.nr_vcpus = 1;
	o->vm.backing = GMEM_ANON;
	o->swap.fault_around = 16;
	/* the compressed tier is opt-in: one loaded run measured fewer disk
	 * reads but no faster runs (docs/benchmarks.md), and its compression
	 * costs the reclaim thread CPU the vCPUs need on a small host */
	o->swap.ztier = "off";
	o->ctl_idle_timeout = CLI_CTL_IDLE_DEFAULT;
}

char *cli_own(struct run_opts *o, const char *s)
{
	char **n = realloc(o->owned, (o->nr_owned + 1) * sizeof(*n));
	char *d;

	if (!n)
		return NULL;
	o->owned = n;
	d = strdup(s);
	if (d)
		o->owned[o->nr_owned++] = d;
	return d;
}

void cli_warn(struct run_opts *o, const char *fmt, ...)
{
	size_t old = o->warnings ? strlen(o->warnings) : 0;
	char line[600], *n;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	one_line(line);
	len = (int)strlen(line);
	n = realloc(o->warnings, old + (size_t)len + 2);
	if (!n)
		return;
	memcpy(n + old, line, (size_t)len);
	n[old + (size_t)len] = '\n';
	n[old + (size_t)len + 1] = '\0';
	o->warnings = n;
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
static int check_linux(const struct run_opts *o, char *err, size_t errlen)
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


/* --hugepages (<memoryBacking><hugepages/>) is --mem-backing hugetlb: guest
 * RAM on 2 MiB hugetlbfs pages (a memfd of hugetlbfs, so with memfd too, as
 * libvirt's <hugepages/> + <source type='memfd'/>), swapped in 2 MiB units.
 * --mem-backing thp is anonymous RAM on transparent huge pages, swapped in
 * the same units.  What the swapper cannot do on them is refused here,
 * before anything is set up. */
static int check_huge(const struct run_opts *o, char *err, size_t errlen)
{
	const struct swapper_config *s = &o->swap;
	const char *no = NULL;

	if (!o->vm.hugepages && o->vm.backing != GMEM_HUGETLB &&
	    o->vm.backing != GMEM_THP)
		return 0;
	if (o->vm.hugepages && o->vm.backing == GMEM_THP)
		return usage_err(err, errlen, "--hugepages and --mem-backing thp "
				 "exclude each other");
	if (o->vm.backing == GMEM_THP && !strcmp(gmem_thp_mode(), "never"))
		return usage_err(err, errlen, "--mem-backing thp: the host's "
				 "transparent huge pages are off (/sys/kernel/mm/"
				 "transparent_hugepage/enabled is \"never\"); set it "
				 "to madvise or always");
	if (o->swap_on && s->ztier && strcmp(s->ztier, "off"))
		no = "--ztier";
	else if (o->swap_on && s->policy == SWAPPER_POLICY_CLOCK_DIRTY)
		no = "--policy clock-dirty";
	else if (o->swap_on && s->policy == SWAPPER_POLICY_ARCW_DIRTY)
		no = "--policy arcw-dirty";
	else if (o->vm.swap_mapper || o->vm.swap_mapper_count)
		no = "--swap-mapper";
	if (no)
		return usage_err(err, errlen, "huge-page guest RAM (--hugepages, "
				 "--mem-backing hugetlb or thp) does not work with %s", no);
	if (o->swap_on && (s->mem_limit % (2u << 20) || s->mem_limit < (16u << 20)))
		return usage_err(err, errlen, "--mem-limit must be a multiple of 2M "
				 "and at least 16M with huge-page guest RAM");
	return 0;
}

int cli_check(const struct run_opts *o, char *err, size_t errlen)
{
	const struct swapper_config *s = &o->swap;
	uint64_t cap = o->swap_on ? s->mem_limit : o->vm.mem_size;
	int r = check_linux(o, err, errlen);

	if (r < 0)
		return r;
	r = check_huge(o, err, errlen);
	if (r < 0)
		return r;
	if (o->vm.vhost_user_blk && o->vm.backing != GMEM_MEMFD &&
	    o->vm.backing != GMEM_HUGETLB)
		return usage_err(err, errlen, "--vhost-user-blk needs --mem-backing memfd "
				 "or hugetlb (the back-end maps guest RAM)");
	if (!o->swap_on && (s->nr_devs || s->swap_size || s->io_engine ||
			    s->encrypt || s->fault_spin_us || s->policy || s->ztier_bytes ||
			    o->vm.swap_mapper || o->vm.swap_mapper_count))
		return usage_err(err, errlen, "swap options need --mem-limit");
	if (o->vm.swap_mapper && o->vm.swap_mapper_count)
		return usage_err(err, errlen, "--swap-mapper and --swap-mapper-count "
				 "exclude each other");
	if (o->swap_on && s->ztier_bytes >= s->mem_limit)
		return usage_err(err, errlen, "--ztier-size must be below --mem-limit");
	if (o->vm.locked && o->swap_on && s->mem_limit < o->vm.mem_size)
		return usage_err(err, errlen, "locked memory is never swapped: no "
				 "resident limit below the guest's RAM");
	if (o->min_guarantee > cap || o->soft_limit > o->vm.mem_size)
		return usage_err(err, errlen, "%s above the %s",
				 o->min_guarantee > cap ? "min_guarantee" : "soft_limit",
				 o->min_guarantee > cap && o->swap_on ?
				 "resident limit" : "guest's RAM");
	return 0;
}

int cli_finish(struct run_opts *o, char *err, size_t errlen)
{
	int r = cli_check(o, err, errlen);

	if (r < 0)
		return r;
	/* Locked RAM with a limit not below it: nothing to swap. */
	if (o->vm.locked)
		o->swap_on = false;
	if (o->vm.hugepages)
		o->vm.backing = GMEM_HUGETLB;
	o->swap.huge_pages = o->vm.backing == GMEM_HUGETLB ||
			     o->vm.backing == GMEM_THP;
	if (o->swap_on && !o->swap.nr_devs && !o->swap.swap_size)
		o->swap.swap_size = o->vm.mem_size;
	if (o->swap_on) {
		/* the vCPUs compete with the fault thread for the CPUs */
		o->swap.busy_threads = o->vm.nr_vcpus;
		o->vm.swap = &o->swap;
	}
	return 0;
}

/* Pass 1: only --config (and --help), loaded over the defaults. */
static int load_config_opt(int argc, char **argv, struct run_opts *o, char *err,
			   size_t errlen)
{
	const char *path = NULL;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:qvh", lopts, NULL)) != -1) {
		if (c == 'h')
			return 1;
		if (c == OPT_CONFIG)
			path = optarg;
	}
	if (!path)
		return 0;
	o->config_path = path;
	return config_load(path, o, err, errlen);
}

static const char *opt_name(int c)
{
	const struct option *l;

	for (l = lopts; l->name; l++) {
		if (l->val == c)
			return l->name;
	}
	return "?";
}

static int parse_words(int argc, char **argv, struct run_opts *o, char *err,
		       size_t errlen)
{
	char name[64];
	int c, r;

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
		} else if (c != OPT_CONFIG) {
			if (c == OPT_SWAP && !o->cli_swap) {
				/* the command line's --swap list replaces the file's */
				o->cli_swap = true;
				o->swap.nr_devs = 0;
			}
			snprintf(name, sizeof(name), "--%s", opt_name(c));
			r = cli_set_opt(o, c, optarg, name, err, errlen);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int cli_parse_run(int argc, char **argv, struct run_opts *o, char *err,
		  size_t errlen)
{
	int r;

	cli_defaults(o);
	if (errlen)
		err[0] = '\0';
	r = load_config_opt(argc, argv, o, err, errlen);
	if (r == 0)
		r = parse_words(argc, argv, o, err, errlen);
	if (r != 0)
		goto fail;
	if (o->vm.kernel_path) {
		/* a Linux guest: no GUEST words (its command line is --append) */
		if (optind < argc) {
			r = usage_err(err, errlen, "run: --kernel takes no GUEST "
				      "('%.200s'); use --append for the kernel's "
				      "command line", argv[optind]);
			goto fail;
		}
		o->guest_args = strdup("");
	} else if (optind < argc) {
		/* GUEST on the command line: its words replace the file's */
		o->guest = argv[optind];
		o->guest_args = join_args(argc - optind - 1, argv + optind + 1);
	} else if (o->guest) {
		o->guest_args = strdup(o->vm.guest_args ? o->vm.guest_args : "");
	} else {
		r = usage_err(err, errlen, "run: missing GUEST (see 'hvswap list')");
		goto fail;
	}
	if (!o->guest_args) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	o->vm.guest_args = o->guest_args;
	r = cli_finish(o, err, errlen);
	if (r == 0)
		return 0;
fail:
	cli_run_opts_free(o);
	one_line(err);          /* also the reasons config.c wrote */
	return r;
}

void cli_run_opts_free(struct run_opts *o)
{
	size_t i;

	free(o->guest_args);
	o->guest_args = NULL;
	o->vm.guest_args = NULL;
	for (i = 0; i < o->nr_owned; i++)
		free(o->owned[i]);
	free(o->owned);
	o->owned = NULL;
	o->nr_owned = 0;
	free(o->warnings);
	o->warnings = NULL;
}
