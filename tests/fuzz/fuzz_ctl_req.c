/*
 * fuzz_ctl_req.c - libFuzzer harness for the control-request validator
 * (vmm/ctl_req.c): one input is one request line as a client would send it.
 *
 * Checks beyond "no crash, no leak, no UB": a rejected request leaves
 * nothing allocated and a NUL-terminated, non-empty reason; an accepted one
 * names a known command and the fields that command requires; the reply
 * text path (ctl_utf8_sanitize) keeps the length.
 * No state between inputs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_ctl_req: invariant broken: %s\n", what);
		abort();
	}
}

static void check_req(const struct ctl_req *req)
{
	check((unsigned int)req->cmd < CTL_NR_CMDS, "cmd in range");
	switch (req->cmd) {
	case CTL_SWAPOFF:
	case CTL_COMPACT:
		check(req->dev && *req->dev, "dev present");
		break;
	case CTL_MIGRATE:
		check(req->from && req->to, "from/to present");
		break;
	case CTL_SWAPON:
		check(req->path || req->size, "swapon: path or size");
		check(req->size % 4096 == 0, "swapon: size 4K multiple");
		break;
	case CTL_NUMA_MOVE:
		check(req->node >= 0 && req->node <= 1023, "node range");
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_req req;
	char err[256];
	char *copy;
	int r;

	memset(err, 0, sizeof(err));
	r = ctl_req_parse((const char *)data, size, &req, err, sizeof(err));
	if (r < 0) {
		check(r == -22, "error is -EINVAL");
		check(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL,
		      "reason present and terminated");
		check(!req.path && !req.dev && !req.from && !req.to,
		      "nothing left allocated on error");
		/* Replies quote the reason: it must sanitise cleanly. */
		ctl_utf8_sanitize(err);
	} else {
		check(r == 0, "success is 0");
		check_req(&req);
		check(ctl_cmd_name(req.cmd)[0] != '?', "command named");
		ctl_req_free(&req);
	}
	copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	r = (int)strlen(copy);
	ctl_utf8_sanitize(copy);
	check((int)strlen(copy) == r, "sanitize keeps the length");
	free(copy);
	return 0;
}
