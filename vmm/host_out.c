/*
 * host_out.c - what `hvswap host` reports: the --stats JSON (rewritten every
 * interval and at exit), the same figures as a Prometheus text-format file,
 * the live table on a terminal, and the supervisor's exit status.
 *
 * Owns nothing; reads struct host (main thread only).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_impl.h"
#include "outfile.h"

static const char *state_name(const struct host_vm *v)
{
	if (v->state == HVM_EXITED)
		return v->stop_requested ? "stopped" : "exited";
	return v->state == HVM_STARTING ? "starting" : "running";
}

/* The VM's stall share over its whole run (or so far), in %. */
static double run_stall_pct(const struct host_vm *v)
{
	double el = v->state == HVM_EXITED ? v->elapsed_s : host_now() - v->start_t;

	if (el <= 0 || !v->vcpus)
		return 0;
	return (double)v->stall_ns / 1e9 / (el * v->vcpus) * 100;
}

static struct json_object *vm_json(const struct host_vm *v)
{
	struct json_object *o = json_object_new_object();

#define U64(k, x) json_object_object_add(o, k, json_object_new_uint64(x))
	json_object_object_add(o, "name", json_object_new_string(v->name));
	json_object_object_add(o, "config", json_object_new_string(v->config));
	json_object_object_add(o, "state", json_object_new_string(state_name(v)));
	json_object_object_add(o, "exit_status", v->state == HVM_EXITED ?
			       json_object_new_int(v->exit_status) : NULL);
	json_object_object_add(o, "stopped", json_object_new_boolean(v->stop_requested));
	U64("restarts", v->restarts);
	U64("max_resident_bytes", v->max_resident);
	U64("swap_ins", v->swap_ins);
	json_object_object_add(o, "stall_pct", json_object_new_double(run_stall_pct(v)));
	U64("limit_bytes", v->st.limit);
	U64("resident_bytes", v->resident);
	U64("swapped_bytes", v->swapped);
	U64("mem_bytes", v->mem);
	U64("min_guarantee_bytes", v->in.floor);
	U64("cap_bytes", v->in.cap);
	U64("weight", v->in.weight);
	json_object_object_add(o, "elapsed_s", json_object_new_double(
		v->state == HVM_EXITED ? v->elapsed_s : host_now() - v->start_t));
#undef U64
	return o;
}

struct json_object *host_stats_json(const struct host *h)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();
	unsigned int i;

	json_object_object_add(o, "budget_bytes", json_object_new_uint64(h->pol.budget));
	json_object_object_add(o, "max_total_resident_bytes",
			       json_object_new_uint64(h->max_total_resident));
	json_object_object_add(o, "interval_s", json_object_new_double(h->interval));
	json_object_object_add(o, "elapsed_s", json_object_new_double(host_now() - h->start_t));
	json_object_object_add(o, "decisions", json_object_new_uint64(h->decisions));
	json_object_object_add(o, "limit_changes", json_object_new_uint64(h->changes));
	json_object_object_add(o, "run_dir", json_object_new_string(h->dir));
	for (i = 0; i < h->nr_vms; i++)
		json_object_array_add(a, vm_json(&h->vms[i]));
	json_object_object_add(o, "vms", a);
	return o;
}

/* The Prometheus text exposition format (version 0.0.4). */
static char *prom_text(const struct host *h)
{
	static const struct { const char *name, *type, *help; } m[] = {
		{ "hvswap_vm_limit_bytes", "gauge", "resident limit set by the supervisor" },
		{ "hvswap_vm_resident_bytes", "gauge", "resident guest memory" },
		{ "hvswap_vm_max_resident_bytes", "gauge", "largest resident guest memory" },
		{ "hvswap_vm_swapped_bytes", "gauge", "guest memory in swap" },
		{ "hvswap_vm_swap_ins_total", "counter", "pages read back from swap" },
		{ "hvswap_vm_stall_pct", "gauge", "share of vCPU time waiting on faults (run)" },
		{ "hvswap_vm_running", "gauge", "1 while the VM runs" },
		{ "hvswap_vm_exit_status", "gauge", "exit status (-1 while running)" },
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	unsigned int i, k;

	if (!f)
		return NULL;
	fprintf(f, "# HELP hvswap_host_budget_bytes the supervisor's memory budget\n"
		"# TYPE hvswap_host_budget_bytes gauge\nhvswap_host_budget_bytes %llu\n",
		(unsigned long long)h->pol.budget);
	fprintf(f, "# HELP hvswap_host_max_total_resident_bytes largest sampled sum of "
		"resident guest memory\n# TYPE hvswap_host_max_total_resident_bytes gauge\n"
		"hvswap_host_max_total_resident_bytes %llu\n",
		(unsigned long long)h->max_total_resident);
	for (k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", m[k].name, m[k].help,
			m[k].name, m[k].type);
		for (i = 0; i < h->nr_vms; i++) {
			const struct host_vm *v = &h->vms[i];
			double x[] = { (double)v->st.limit, (double)v->resident,
				       (double)v->max_resident, (double)v->swapped,
				       (double)v->swap_ins, run_stall_pct(v),
				       v->state != HVM_EXITED,
				       v->state == HVM_EXITED ? v->exit_status : -1 };

			fprintf(f, "%s{vm=\"%s\"} %.17g\n", m[k].name, v->name, x[k]);
		}
	}
	fclose(f);
	return buf;
}

int host_write_outputs(const struct host *h)
{
	char err[512];
	int r = 0;

	if (h->stats_path) {
		struct json_object *o = host_stats_json(h);

		r = outfile_write_json(h->stats_path, o, err, sizeof(err));
		json_object_put(o);
		if (r < 0)
			fprintf(stderr, "hvswap host: %s\n", err);
	}
	if (h->prom_path) {
		char *t = prom_text(h);

		if (t && outfile_write(h->prom_path, t, strlen(t), 0644, err, sizeof(err)) < 0) {
			fprintf(stderr, "hvswap host: %s\n", err);
			r = -EIO;
		}
		free(t);
	}
	return r;
}

void host_table_clear(struct host *h)
{
	if (!h->tty || !h->table_lines)
		return;
	fprintf(stdout, "\033[%uA\033[J", h->table_lines);
	h->table_lines = 0;
	fflush(stdout);
}

void host_table(struct host *h)
{
	uint64_t total = 0;
	unsigned int i;

	if (!h->tty)
		return;
	host_table_clear(h);
	for (i = 0; i < h->nr_vms; i++)
		total += h->vms[i].state == HVM_EXITED ? 0 : h->vms[i].resident;
	printf("hvswap host: budget %llu MiB, resident %llu MiB (max %llu MiB), %.0f s\033[K\n",
	       (unsigned long long)(h->pol.budget >> 20), (unsigned long long)(total >> 20),
	       (unsigned long long)(h->max_total_resident >> 20), host_now() - h->start_t);
	printf("%-16s %-8s %9s %9s %9s %9s %7s\033[K\n", "VM", "STATE", "LIMIT", "RESIDENT",
	       "SWAPPED", "FAULTS/S", "STALL%");
	for (i = 0; i < h->nr_vms; i++) {
		const struct host_vm *v = &h->vms[i];
		char st[16];

		if (v->state == HVM_EXITED)
			snprintf(st, sizeof(st), "exit %d", v->exit_status);
		else
			snprintf(st, sizeof(st), "%s", state_name(v));
		printf("%-16.16s %-8s %8lluM %8lluM %8lluM %9.0f %7.1f\033[K\n", v->name, st,
		       (unsigned long long)(v->st.limit >> 20),
		       (unsigned long long)(v->resident >> 20),
		       (unsigned long long)(v->swapped >> 20),
		       v->state == HVM_EXITED ? 0.0 : v->fault_rate,
		       v->state == HVM_EXITED ? 0.0 : v->stall_pct);
	}
	h->table_lines = h->nr_vms + 2;
	fflush(stdout);
}

/* 0: every VM exited 0 (or was stopped through `stop`); 1: a VM failed;
 * 130: the supervisor was stopped by a signal and no VM had failed. */
int host_exit_status(const struct host *h)
{
	unsigned int i;

	for (i = 0; i < h->nr_vms; i++) {
		const struct host_vm *v = &h->vms[i];

		if (v->state == HVM_EXITED && v->exit_status != 0 && !v->stop_requested)
			return 1;
	}
	return h->stopping ? 130 : 0;
}
