/*
 * cli.h - the command line of `hvswap run`, parsed into one struct run_opts
 * by one function that neither prints nor exits (so it can be fuzzed:
 * tests/fuzz/fuzz_cli.c).
 *
 * struct run_opts is also hvswap's configuration model: a config file
 * (config.h: hvswap's JSON or libvirt domain XML) fills the same struct
 * through the same per-option setter, cli_set_opt(), so a value is checked
 * by one function whichever way it arrives, and cli_check() applies the
 * cross-option rules to the result.
 */
#ifndef HVSWAP_VMM_CLI_H
#define HVSWAP_VMM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "hvswap/swapper.h"
#include "vm.h"

/* libvirt's "unlimited" memory value, 2^53 - 1 KiB: sizes stay below it. */
#define CLI_SIZE_UNLIMITED (9007199254740991ull * 1024)

/* Default of --ctl-idle-timeout: seconds a control client may stay idle. */
#define CLI_CTL_IDLE_DEFAULT 60.0

/* What the VM's exit means to whoever runs it (libvirt's <on_poweroff>,
 * <on_crash>): `hvswap run` always exits; `hvswap host` restarts. */
enum cli_action { CLI_ACT_DESTROY = 0, CLI_ACT_RESTART = 1 };

/* Every option a config can set: the long options of `hvswap run` (one
 * each), plus the guest and its arguments (positional on the command line). */
enum cli_opt {
	OPT_MEM = 256, OPT_VCPUS, OPT_TIMEOUT, OPT_BACKING, OPT_LIMIT, OPT_SWAP,
	OPT_SWAP_SIZE, OPT_SWAP_DIR, OPT_ENGINE, OPT_FULL, OPT_STATS,
	OPT_STATS_INTERVAL, OPT_DISK, OPT_DISK_SIZE, OPT_CTL, OPT_FAULT_AROUND,
	OPT_KEEP_CLEAN, OPT_CTL_IDLE, OPT_FORCE, OPT_FAULT_SPIN, OPT_ENCRYPT,
	OPT_NO_SECCOMP, OPT_CONFIG, OPT_NAME, OPT_UUID, OPT_SOFT_LIMIT,
	OPT_MIN_GUARANTEE, OPT_LOCKED, OPT_HUGEPAGES, OPT_ON_POWEROFF,
	OPT_ON_CRASH, OPT_QUIET, OPT_VERBOSE, OPT_BALLOON, OPT_KERNEL,
	OPT_INITRD, OPT_APPEND, OPT_POLICY, OPT_ZTIER, OPT_ZTIER_SIZE,
	OPT_SWAP_MAPPER, OPT_SWAP_MAPPER_COUNT, OPT_VHOST_USER_BLK,
	OPT_GUEST, OPT_ARGS,            /* not options: GUEST [key=value ...] */
};

struct run_opts {
	struct vm_config vm;            /* vm.swap points at swap when swap_on */
	struct swapper_config swap;
	bool swap_on;                   /* --mem-limit given */
	double timeout_s;               /* 0: none */
	const char *stats_path;
	double stats_interval;          /* 0: only at exit */
	const char *ctl_path;
	double ctl_idle_timeout;        /* seconds, > 0 */
	const char *guest;              /* the GUEST word (not yet looked up);
					 * NULL with --kernel (vm.kernel_path) */
	char *guest_args;               /* owned: the key=value words, joined */
	unsigned int verbose;           /* -v count */
	bool no_seccomp;                /* --no-seccomp */
	/* Config-model fields (config files; also --name etc.) */
	const char *config_path;        /* --config FILE */
	const char *name;               /* VM name: [A-Za-z0-9_.-]{1,64} */
	const char *uuid;               /* canonical 8-4-4-4-12 lower hex */
	uint64_t soft_limit;            /* target share under pressure (host) */
	uint64_t min_guarantee;         /* floor the host never takes */
	enum cli_action on_poweroff, on_crash;
	/* Strings the options point at when they came from a file (owned). */
	char **owned;
	size_t nr_owned;
	char *warnings;                 /* owned: config warnings, one a line */
	bool cli_swap;                  /* a --swap on the command line seen */
};

/*
 * Parse `run [options] GUEST [key=value ...]` (argv[0] is "run").  Strings
 * in *o point into argv, except guest_args (cli_run_opts_free()).
 * Returns 0, 1 for --help (print cli_usage()), or -errno with a one-line
 * reason in err: -EINVAL for a usage error, -ENOMEM.  Never prints, never
 * exits; on error nothing is left allocated.  Uses getopt_long(), so it is
 * not thread-safe (getopt's state is global; it is reset on every call).
 */
int cli_parse_run(int argc, char **argv, struct run_opts *o, char *err,
		  size_t errlen);
void cli_run_opts_free(struct run_opts *o);
void cli_usage(FILE *f);

/* The defaults of every option (what an empty command line gives). */
void cli_defaults(struct run_opts *o);
/* Set one option from its text (what follows it on the command line; for
 * flags arg is NULL; OPT_GUEST/OPT_ARGS set the guest and its argument
 * string).  `what` names the option in the message ("--vcpus", "vcpus",
 * "<vcpu>").  arg must live as long as *o (cli_own()).  Returns 0 or
 * -EINVAL with one line in err. */
int cli_set_opt(struct run_opts *o, int opt, const char *arg, const char *what,
		char *err, size_t errlen);
/* Turn a flag option (OPT_FORCE, OPT_LOCKED...) off (config "false"). */
void cli_clear_flag(struct run_opts *o, int opt);
/* The cross-option rules; fills nothing in (config conversion uses it).
 * Returns 0 or -EINVAL with one line in err. */
int cli_check(const struct run_opts *o, char *err, size_t errlen);
/* cli_check(), then the derived settings (default swap size, vm.swap...). */
int cli_finish(struct run_opts *o, char *err, size_t errlen);
/* A valid VM name: 1..64 of [A-Za-z0-9_.-], not starting with '.' or '-'. */
bool cli_valid_name(const char *s);
/* A copy of s owned by *o (freed by cli_run_opts_free()); NULL: no memory. */
char *cli_own(struct run_opts *o, const char *s);
/* Append one line to o->warnings. */
void cli_warn(struct run_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
