/*
 * fuzz_cli.c - libFuzzer harness for the command line of `hvswap run`
 * (vmm/cli.c, and the value parsers of vmm/util.c behind it).
 *
 * One input is one command line: its words are separated by NUL or newline
 * bytes (empty words are kept: "" is a valid argv word); argv[0] is "run".
 * At most MAX_WORDS words.
 *
 * Checks beyond "no crash, no leak, no UB": every result is 0, 1 (--help)
 * or -errno (-EINVAL/-ENOMEM, or a --config file's read error); an error comes with a one-line, non-empty reason; an
 * accepted command line has a guest name or (--kernel) a kernel image, a joined argument string, a
 * 2 MiB-multiple guest size of at least 4 MiB, 1..HV_MAX_VCPUS vCPUs,
 * timeouts in [0, SECONDS_MAX], and swap settings only with --mem-limit.
 * No state between inputs (cli_parse_run() resets getopt itself).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvswap/guest_abi.h"
#include "cli.h"
#include "util.h"

#define MAX_WORDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_cli: invariant broken: %s\n", what);
		abort();
	}
}

static void check_opts(const struct run_opts *o)
{
	/* an embedded guest is named, or a Linux kernel is booted instead */
	check((o->guest != NULL) != (o->vm.kernel_path != NULL), "guest or kernel");
	check(o->guest_args != NULL && o->vm.guest_args == o->guest_args, "guest args");
	check(o->vm.mem_size >= (4u << 20) && o->vm.mem_size % (2u << 20) == 0, "mem size");
	check(o->vm.nr_vcpus >= 1 && o->vm.nr_vcpus <= HV_MAX_VCPUS, "vcpus");
	check(o->timeout_s >= 0 && o->timeout_s <= SECONDS_MAX, "timeout range");
	check(o->stats_interval >= 0 && o->stats_interval <= SECONDS_MAX, "interval");
	check(o->ctl_idle_timeout > 0 && o->ctl_idle_timeout <= SECONDS_MAX, "idle");
	check(o->swap.nr_devs <= SWAPPER_MAX_DEVS, "device count");
	check(o->swap_on == (o->vm.swap == &o->swap), "swap config iff --mem-limit");
	if (o->swap_on)
		check(o->swap.nr_devs || o->swap.swap_size, "swap has somewhere to go");
	check(o->swap.fault_around <= 512 &&
	      !(o->swap.fault_around & (o->swap.fault_around - 1)), "fault-around");
	check(!o->vm.disk_size || o->vm.disk_size % 512 == 0, "disk size");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_WORDS + 2], *buf, err[512];
	struct run_opts o;
	int argc = 0, r;
	size_t i;

	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = (char *)"run";
	argv[argc++] = buf;
	for (i = 0; i < size && argc <= MAX_WORDS; i++) {
		if (buf[i] == '\0' || buf[i] == '\n') {
			buf[i] = '\0';
			argv[argc++] = buf + i + 1;
		}
	}
	argv[argc] = NULL;

	memset(err, 'x', sizeof(err));
	r = cli_parse_run(argc, argv, &o, err, sizeof(err));
	/* -EINVAL/-ENOMEM, or (--config FILE) why the file cannot be read */
	check(r == 0 || r == 1 || (r < 0 && r >= -4095), "result");
	if (r < 0) {
		check(memchr(err, '\0', sizeof(err)) != NULL, "reason terminated");
		if (err[0] == '\0' || strchr(err, '\n'))
			fprintf(stderr, "fuzz_cli: result %d, reason '%s'\n", r, err);
		check(err[0] != '\0' && !strchr(err, '\n'), "one-line reason");
		check(o.guest_args == NULL, "nothing allocated on error");
	} else if (r == 0) {
		check_opts(&o);
	}
	cli_run_opts_free(&o);
	free(buf);
	return 0;
}
