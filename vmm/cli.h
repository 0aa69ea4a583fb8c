/*
 * cli.h - the command line of `hvswap run`, parsed into one struct run_opts
 * by one function that neither prints nor exits (so it can be fuzzed:
 * tests/fuzz/fuzz_cli.c).
 */
#ifndef HVSWAP_VMM_CLI_H
#define HVSWAP_VMM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "hvswap/swapper.h"
#include "vm.h"

/* Default of --ctl-idle-timeout: seconds a control client may stay idle. */
#define CLI_CTL_IDLE_DEFAULT 60.0

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

#endif
