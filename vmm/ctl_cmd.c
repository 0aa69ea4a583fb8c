/*
 * ctl_cmd.c - control-socket command handlers: one per command, each taking
 * a request already validated by ctl_req.c and returning the reply object.
 *
 * Handlers run on the server thread (fast ones: stats, devices, set-limit)
 * or on an operation thread (ctl_cmd_slow(): swapon, swapoff, migrate,
 * compact, trim), so they must be safe against each other and against the
 * VMM's own threads: they reach the swapper only through its public API
 * (which does its own locking) and read VM state under vm->lock (a leaf).
 * Device names ("#id" or a path) are resolved here, at execution time, so a
 * request queued behind a swapoff sees the table as it is when it runs.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "hvswap/swapper.h"
#include "vm.h"

typedef struct json_object *(*ctl_handler)(struct vm *vm, const struct ctl_req *req);

struct json_object *ctl_reply_error(int code, const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctl_utf8_sanitize(msg);
	json_object_object_add(o, "ok", json_object_new_boolean(false));
	json_object_object_add(o, "error", json_object_new_string(msg));
	json_object_object_add(o, "code", json_object_new_int(code));
	return o;
}

static struct json_object *reply_ok(void)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(true));
	return o;
}

/* An error from the swapper, named for the operation. */
static struct json_object *swap_error(const char *what, const char *arg, int err)
{
	if (err == -ECANCELED)
		return ctl_reply_error(err, "%s: the swapper is shutting down", what);
	return ctl_reply_error(err, "%s%s%s: %s", what, arg ? " " : "", arg ? arg : "",
			       strerror(-err));
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);    /* the clock of vm->start_ns */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct json_object *vm_json(struct vm *vm)
{
	struct json_object *o = json_object_new_object();
	struct json_object *m = json_object_new_object();
	uint64_t end;
	unsigned int i;

	json_object_object_add(o, "mem_bytes", json_object_new_uint64(vm->cfg.mem_size));
	json_object_object_add(o, "vcpus", json_object_new_int((int)vm->nr_vcpus));
	pthread_mutex_lock(&vm->lock);
	json_object_object_add(o, "running", json_object_new_boolean(!atomic_load(&vm->stopping)));
	if (atomic_load(&vm->stopping))
		json_object_object_add(o, "exit_status", json_object_new_int(vm->status));
	if (vm->reason[0])
		json_object_object_add(o, "reason", json_object_new_string(vm->reason));
	end = atomic_load(&vm->stopping) ? vm->end_ns : now_ns();
	for (i = 0; i < vm->nr_metrics; i++)
		json_object_object_add(m, vm->metrics[i].name,
				       json_object_new_double(vm->metrics[i].value));
	pthread_mutex_unlock(&vm->lock);
	json_object_object_add(o, "elapsed_s",
			       json_object_new_double((double)(end - vm->start_ns) / 1e9));
	json_object_object_add(o, "metrics", m);
	return o;
}

static struct json_object *do_stats(struct vm *vm, const struct ctl_req *req)
{
	struct json_object *o = reply_ok();
	struct json_object *v = vm_json(vm);
	struct json_object *sw = vm->swapper ? swapper_stats_json(vm->swapper) : NULL;

	(void)req;
	/* the stall figure (stall.c), its total as of these statistics */
	json_object_object_add(v, "stall", vm_stall_json(vm, sw));
	json_object_object_add(o, "vm", v);
	json_object_object_add(o, "swap", sw);
	return o;
}

/* The device list is the "devices" array of the swapper's statistics, so
 * both always agree; entries get an "id" if the swapper does not give one. */
static struct json_object *do_devices(struct vm *vm, const struct ctl_req *req)
{
	struct json_object *st = swapper_stats_json(vm->swapper);
	struct json_object *devs, *o;
	size_t i;

	(void)req;
	if (!json_object_object_get_ex(st, "devices", &devs) ||
	    !json_object_is_type(devs, json_type_array)) {
		json_object_put(st);
		return ctl_reply_error(-EIO, "devices: the swapper reports no device list");
	}
	for (i = 0; i < json_object_array_length(devs); i++) {
		struct json_object *d = json_object_array_get_idx(devs, i);

		if (json_object_is_type(d, json_type_object) &&
		    !json_object_object_get_ex(d, "id", NULL))
			json_object_object_add(d, "id", json_object_new_int((int)i));
	}
	o = reply_ok();
	json_object_object_add(o, "devices", json_object_get(devs));
	json_object_put(st);
	return o;
}

static struct json_object *do_swapon(struct vm *vm, const struct ctl_req *req)
{
	struct json_object *o;
	int r;

	struct swapper_dev_config dev = { .path = req->path, .size = req->size,
					  .prio = (int)req->prio,
					  .force = req->force != 0 };

	r = swapper_swapon_dev(vm->swapper, &dev);
	if (r < 0)
		return swap_error("swapon", req->path ? req->path : "(temporary file)", r);
	o = reply_ok();
	json_object_object_add(o, "id", json_object_new_int(r));
	return o;
}

/* *id = the device `name` names; else the error reply. */
static struct json_object *lookup(struct vm *vm, const char *what, const char *name,
				  int *id)
{
	*id = swapper_dev_lookup(vm->swapper, name);
	if (*id == -ENOENT)
		return ctl_reply_error(*id, "%s: no swap device '%s'", what, name);
	return *id < 0 ? swap_error(what, name, *id) : NULL;
}

static struct json_object *do_swapoff(struct vm *vm, const struct ctl_req *req)
{
	struct json_object *e;
	int id, r;

	e = lookup(vm, "swapoff", req->dev, &id);
	if (e)
		return e;
	r = swapper_swapoff(vm->swapper, id);
	if (r < 0)
		return swap_error("swapoff", req->dev, r);
	e = reply_ok();
	json_object_object_add(e, "id", json_object_new_int(id));
	return e;
}

static struct json_object *do_set_limit(struct vm *vm, const struct ctl_req *req)
{
	struct json_object *o;
	int r;

	r = swapper_set_limit(vm->swapper, req->limit);
	if (r == -EINVAL)
		return ctl_reply_error(r, "set-limit: %llu bytes is too small for the swapper",
				       (unsigned long long)req->limit);
	if (r < 0)
		return swap_error("set-limit", NULL, r);
	o = reply_ok();
	json_object_object_add(o, "limit", json_object_new_uint64(req->limit));
	return o;
}

static struct json_object *moved_reply(int64_t moved)
{
	struct json_object *o = reply_ok();

	json_object_object_add(o, "moved_pages", json_object_new_int64(moved));
	return o;
}

static struct json_object *do_migrate(struct vm *vm, const struct ctl_req *req)
{
	struct json_object *e;
	int from, to;
	int64_t r;

	e = lookup(vm, "migrate", req->from, &from);
	if (!e)
		e = lookup(vm, "migrate", req->to, &to);
	if (e)
		return e;
	r = swapper_migrate(vm->swapper, from, to);
	if (r < 0)
		return swap_error("migrate", req->from, (int)r);
	return moved_reply(r);
}

static struct json_object *do_compact(struct vm *vm, const struct ctl_req *req)
{
	struct json_object *e;
	int64_t r;
	int id;

	e = lookup(vm, "compact", req->dev, &id);
	if (e)
		return e;
	r = swapper_compact(vm->swapper, id);
	if (r < 0)
		return swap_error("compact", req->dev, (int)r);
	return moved_reply(r);
}

static struct json_object *do_trim(struct vm *vm, const struct ctl_req *req)
{
	int r;

	(void)req;
	r = swapper_trim(vm->swapper);
	return r < 0 ? swap_error("trim", NULL, r) : reply_ok();
}

static struct json_object *do_numa_move(struct vm *vm, const struct ctl_req *req)
{
	struct json_object *o;
	int64_t r;

	r = swapper_numa_move(vm->swapper, (int)req->node);
	if (r == -EINVAL)
		return ctl_reply_error(-EINVAL, "numa-move: the host has no node %lld "
				       "(nodes 0-%d)", (long long)req->node,
				       swapper_numa_nodes() - 1);
	if (r < 0)
		return swap_error("numa-move", NULL, (int)r);
	o = reply_ok();
	json_object_object_add(o, "node", json_object_new_int64(req->node));
	json_object_object_add(o, "pages_on_node", json_object_new_int64(r));
	return o;
}

static const struct {
	ctl_handler fn;
	bool need_swap;         /* "swap is off" without a swapper */
	bool slow;              /* run on an operation thread */
} handlers[CTL_NR_CMDS] = {
	[CTL_STATS] = { do_stats, false, false },
	[CTL_DEVICES] = { do_devices, true, false },
	[CTL_SWAPON] = { do_swapon, true, true },
	[CTL_SWAPOFF] = { do_swapoff, true, true },
	[CTL_SET_LIMIT] = { do_set_limit, true, false },
	[CTL_MIGRATE] = { do_migrate, true, true },
	[CTL_COMPACT] = { do_compact, true, true },
	[CTL_TRIM] = { do_trim, true, true },
	[CTL_NUMA_MOVE] = { do_numa_move, true, true },
};

bool ctl_cmd_slow(struct vm *vm, const struct ctl_req *req)
{
	return handlers[req->cmd].slow && vm->swapper;
}

struct json_object *ctl_cmd_exec(struct vm *vm, const struct ctl_req *req)
{
	if (handlers[req->cmd].need_swap && !vm->swapper)
		return ctl_reply_error(-ENODEV, "%s: swap is off (start the VM with --mem-limit)",
				       ctl_cmd_name(req->cmd));
	return handlers[req->cmd].fn(vm, req);
}
