/*
 * fuzz_config.c - libFuzzer harness for VM config files (vmm/config*.c):
 * one input is one file, hvswap JSON or libvirt domain XML (by its first
 * byte), loaded with config_load_buf() over the defaults.
 *
 * Checks beyond "no crash, no leak, no UB": the result is 0 or -EINVAL
 * (-ENOMEM) with a one-line, non-empty reason; warnings are whole lines; a
 * config that loads and passes cli_check() converts to JSON and to XML, and
 * each conversion loads again to the same settings (the JSON of both is the
 * first one's).  libvirt's schema is not used (HVSWAP_LIBVIRT_SCHEMA points
 * nowhere): parsing it for every input would leave no time for fuzzing.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_config: invariant broken: %s\n", what);
		abort();
	}
}

/* A converted config loads to the same settings (XML output adds a name
 * when the config had none: libvirt requires one). */
static void reload(const char *text, const char *first_json, bool had_name)
{
	struct run_opts o;
	char err[600], *j;
	int r;

	cli_defaults(&o);
	r = config_load_buf("again", text, strlen(text), &o, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "fuzz_config: %s\n---\n%s\n", err, text);
	check(r == 0, "a converted config loads");
	if (!had_name)
		o.name = NULL;
	j = config_to_json(&o);
	check(j && !strcmp(j, first_json), "the conversion keeps every setting");
	free(j);
	cli_run_opts_free(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run_opts o;
	char err[600];
	int r;

	setenv("HVSWAP_LIBVIRT_SCHEMA", "/nonexistent/domain.rng", 1);
	if (size > CONFIG_MAX_BYTES)
		return 0;
	cli_defaults(&o);
	memset(err, 'x', sizeof(err));
	r = config_load_buf("fuzz", (const char *)data, size, &o, err, sizeof(err));
	check(r == 0 || r == -EINVAL || r == -ENOMEM, "result");
	if (r < 0) {
		check(memchr(err, '\0', sizeof(err)) != NULL, "reason terminated");
		check(err[0] != '\0' && !strchr(err, '\n'), "one-line reason");
	}
	if (o.warnings)
		check(o.warnings[strlen(o.warnings) - 1] == '\n', "warnings are lines");
	if (r == 0 && cli_check(&o, err, sizeof(err)) == 0) {
		char *j = config_to_json(&o), *x = config_to_xml(&o);

		check(j && x, "conversions");
		reload(j, j, true);
		reload(x, j, o.name != NULL);
		free(j);
		free(x);
	}
	cli_run_opts_free(&o);
	return 0;
}
