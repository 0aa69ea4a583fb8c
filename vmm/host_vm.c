/*
 * host_vm.c - one VM of `hvswap host`: its config, its process (an
 * `hvswap run --config FILE` child with its own control socket, stats file
 * and log in the run directory) and the supervisor's control connection
 * to it (stats, set-limit: the VM's ordinary control commands, docs/ctl.md).
 *
 * Owns: the connection fd; the child is reaped by host.c (SIGCHLD), which
 * then calls host_vm_exited().
 * The child gets SIGTERM if the supervisor dies (PR_SET_PDEATHSIG), so no
 * VM outlives it.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "host_impl.h"

#define REPLY_MAX (4u << 20)
#define IO_TIMEOUT_S 2

double host_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A name from the file's: basename without its extension, made valid. */
static void name_from_path(const char *path, char *out, size_t len)
{
	const char *b = strrchr(path, '/');
	size_t i, n = 0;

	b = b ? b + 1 : path;
	for (i = 0; b[i] && b[i] != '.' && n + 1 < len && n < 64; i++) {
		char c = b[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '-';

		out[n++] = ok ? c : '_';
	}
	if (!n || out[0] == '-')
		out[n ? 0 : n++] = 'v';
	out[n] = '\0';
}

int host_vm_load(struct host *h, struct host_vm *v, const char *config,
		 char *err, size_t errlen)
{
	struct run_opts o;
	char *abs = realpath(config, NULL);
	int r;

	memset(v, 0, sizeof(*v));
	v->fd = -1;
	v->pid = -1;
	if (!abs) {
		snprintf(err, errlen, "cannot open config %.300s: %s", config, strerror(errno));
		return -ENOENT;
	}
	snprintf(v->config, sizeof(v->config), "%s", abs);
	free(abs);
	cli_defaults(&o);
	r = config_load(v->config, &o, err, errlen);
	if (r == 0)
		r = cli_check(&o, err, errlen);
	if (r == 0 && !o.guest) {
		snprintf(err, errlen, "%.300s: names no guest", config);
		r = -EINVAL;
	}
	if (o.warnings)
		fputs(o.warnings, stderr);
	if (r < 0) {
		cli_run_opts_free(&o);
		return r;
	}
	if (o.name)
		snprintf(v->name, sizeof(v->name), "%s", o.name);
	else
		name_from_path(v->config, v->name, sizeof(v->name));
	v->mem = o.vm.mem_size;
	v->vcpus = o.vm.nr_vcpus;
	v->fixed = o.vm.locked;
	v->on_poweroff = o.on_poweroff;
	v->on_crash = o.on_crash;
	v->in.cap = o.swap_on && o.swap.mem_limit < v->mem ? o.swap.mem_limit : v->mem;
	v->in.floor = v->fixed ? v->mem : o.min_guarantee;
	if (v->fixed)
		v->in.cap = v->mem;
	v->in.weight = o.soft_limit ? o.soft_limit : v->in.cap;
	cli_run_opts_free(&o);
	return host_vm_paths(h, v, err, errlen);
}

int host_vm_paths(const struct host *h, struct host_vm *v, char *err, size_t errlen)
{
	char name[sizeof(v->name)];
	const char *d = h->dir;

	memcpy(name, v->name, sizeof(name));
	if (snprintf(v->sock, sizeof(v->sock), "%s/%s.sock", d, name) >= (int)sizeof(v->sock) ||
	    snprintf(v->stats, sizeof(v->stats), "%s/%s.json", d, name) >= (int)sizeof(v->stats) ||
	    snprintf(v->log, sizeof(v->log), "%s/%s.log", d, name) >= (int)sizeof(v->log)) {
		snprintf(err, errlen, "run directory %.200s: too long for a socket path", d);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* In the child: its files, its signals, then exec. */
static void child(struct host *h, struct host_vm *v, char *const *argv)
{
	sigset_t none;
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0)
		dup2(fd, STDIN_FILENO);
	fd = open(v->log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	execv(h->exe, argv);
	dprintf(STDERR_FILENO, "hvswap host: cannot run %s: %s\n", h->exe, strerror(errno));
	_exit(127);
}

int host_vm_spawn(struct host *h, struct host_vm *v, char *err, size_t errlen)
{
	char limit[32];
	char *argv[16];
	int a = 0;
	pid_t pid;

	snprintf(limit, sizeof(limit), "%llu", (unsigned long long)v->st.limit);
	argv[a++] = h->exe;
	argv[a++] = (char *)"run";
	argv[a++] = (char *)"--config";
	argv[a++] = v->config;
	argv[a++] = (char *)"--name";
	argv[a++] = v->name;
	argv[a++] = (char *)"--ctl";
	argv[a++] = v->sock;
	argv[a++] = (char *)"--stats";
	argv[a++] = v->stats;
	argv[a++] = (char *)"-q";
	if (!v->fixed) {
		argv[a++] = (char *)"--mem-limit";
		argv[a++] = limit;
	}
	argv[a] = NULL;
	unlink(v->stats);
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot start VM %s: %s", v->name, strerror(errno));
		return -errno;
	}
	if (pid == 0)
		child(h, v, argv);
	v->pid = pid;
	v->state = HVM_STARTING;
	v->start_t = host_now();
	v->t_sample = 0;
	v->in.sampled = false;
	v->resident = 0;
	return 0;
}

void host_vm_close(struct host_vm *v)
{
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
}

static int vm_connect(struct host_vm *v)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", v->sock);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	v->fd = fd;
	return 0;
}

/* One request, one reply line (parsed); NULL on any failure (the
 * connection is then closed, and reopened next time). */
static struct json_object *request(struct host_vm *v, const char *line)
{
	struct json_object *reply = NULL;
	size_t len = 0, cap = 65536, n = strlen(line);
	char *buf;
	ssize_t k;

	if (v->fd < 0 && vm_connect(v) < 0)
		return NULL;
	if (send(v->fd, line, n, MSG_NOSIGNAL) != (ssize_t)n)
		goto fail;
	buf = malloc(cap);
	while (buf) {
		char *nl;

		k = recv(v->fd, buf + len, cap - len - 1, 0);
		if (k <= 0)
			break;
		len += (size_t)k;
		buf[len] = '\0';
		nl = memchr(buf, '\n', len);
		if (nl) {
			*nl = '\0';
			reply = json_tokener_parse(buf);
			break;
		}
		if (len + 1 == cap) {
			char *b2 = cap < REPLY_MAX ? realloc(buf, cap * 2) : NULL;

			if (!b2)
				break;
			buf = b2;
			cap *= 2;
		}
	}
	free(buf);
	if (reply)
		return reply;
fail:
	host_vm_close(v);
	return NULL;
}

static uint64_t jget_u64(struct json_object *o, const char *path)
{
	char key[64];
	const char *p = path, *dot;

	while (o && (dot = strchr(p, '.'))) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - p), p);
		if (!json_object_object_get_ex(o, key, &o))
			return 0;
		p = dot + 1;
	}
	if (!o || !json_object_object_get_ex(o, p, &o))
		return 0;
	return json_object_is_type(o, json_type_double) ?
		(uint64_t)json_object_get_double(o) : json_object_get_uint64(o);
}

/* The guest memory the VM touched and still holds, wherever it is
 * (resident, staged, compressed, in swap): every page not in state
 * "none" in the swapper's census.  0 when unknown. */
static uint64_t footprint(struct json_object *swap)
{
	uint64_t pages = jget_u64(swap, "guest_pages"), none;
	struct json_object *ps;

	if (!swap || !json_object_object_get_ex(swap, "page_states", &ps))
		return 0;
	none = jget_u64(ps, "none");
	return none < pages ? (pages - none) * 4096 : 0;
}

/* The figures of a `stats` reply or of the final stats file. */
void host_vm_figures(struct host_vm *v, struct json_object *vm,
		     struct json_object *swap, double t)
{
	uint64_t swap_ins = jget_u64(swap, "faults.from_swap") +
			    jget_u64(swap, "faults.from_staging");
	uint64_t faults = swap_ins + jget_u64(swap, "faults.zero") +
			  jget_u64(swap, "faults.write_protect");
	uint64_t stall = jget_u64(vm, "stall.total_ns");
	uint64_t maxres = jget_u64(swap, "max_resident_pages") * 4096;
	double dt = v->t_sample > 0 ? t - v->t_sample : 0;

	if (dt > 0) {
		v->fault_rate = (double)(faults - (faults > v->faults ? v->faults : faults)) / dt;
		v->in.refaults = (double)(swap_ins > v->swap_ins ? swap_ins - v->swap_ins : 0) / dt;
		v->stall_pct = (double)(stall > v->stall_ns ? stall - v->stall_ns : 0) /
			1e9 / (dt * (v->vcpus ? v->vcpus : 1)) * 100;
		if (v->stall_pct > 100)
			v->stall_pct = 100;
		v->in.stall = v->stall_pct;
		v->in.sampled = true;
	}
	v->swap_ins = swap_ins;
	v->faults = faults;
	v->stall_ns = stall;
	/* what the VM's limit counts (swapper/reclaim.c used_pages()):
	 * resident and staged pages and the compressed tier's pool */
	v->resident = (jget_u64(swap, "resident_pages") + jget_u64(swap, "staged_pages")) * 4096 +
		      (jget_u64(swap, "ztier.pool_bytes") + 4095) / 4096 * 4096;
	v->in.footprint = footprint(swap);
	v->swapped = jget_u64(swap, "slots_used") * 4096;
	v->limit_seen = jget_u64(swap, "limit_pages") * 4096;
	v->in.resident = v->resident;
	if (maxres > v->max_resident)
		v->max_resident = maxres;
	if (v->resident > v->max_resident)
		v->max_resident = v->resident;
	v->t_sample = t;
}

int host_vm_sample(struct host_vm *v)
{
	struct json_object *r = request(v, "{\"cmd\":\"stats\"}\n"), *ok, *vm, *swap;
	double t = host_now();

	v->in.sampled = false;
	if (!r)
		return -ECONNREFUSED;
	if (!json_object_object_get_ex(r, "ok", &ok) || !json_object_get_boolean(ok) ||
	    !json_object_object_get_ex(r, "vm", &vm)) {
		json_object_put(r);
		return -EPROTO;
	}
	if (!json_object_object_get_ex(r, "swap", &swap))
		swap = NULL;
	if (v->state == HVM_STARTING)
		v->state = HVM_RUNNING;
	host_vm_figures(v, vm, swap, t);
	json_object_put(r);
	return 0;
}

int host_vm_set_limit(struct host_vm *v, uint64_t bytes)
{
	char line[96];
	struct json_object *r, *ok;
	int ret = -EPROTO;

	if (v->fixed)
		return 0;
	snprintf(line, sizeof(line), "{\"cmd\":\"set-limit\",\"limit\":%llu}\n",
		 (unsigned long long)bytes);
	r = request(v, line);
	if (!r)
		return -ECONNREFUSED;
	if (json_object_object_get_ex(r, "ok", &ok) && json_object_get_boolean(ok))
		ret = 0;
	json_object_put(r);
	return ret;
}

void host_vm_exited(struct host_vm *v, int ws)
{
	struct json_object *st = json_object_from_file(v->stats), *swap, *x;

	host_vm_close(v);
	v->state = HVM_EXITED;
	v->end_t = host_now();
	v->pid = -1;
	v->exit_status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	v->elapsed_s = v->end_t - v->start_t;
	v->resident = 0;
	v->in.sampled = false;
	if (!st)
		return;
	if (json_object_object_get_ex(st, "elapsed_s", &x))
		v->elapsed_s = json_object_get_double(x);
	if (!json_object_object_get_ex(st, "swap", &swap))
		swap = NULL;
	v->t_sample = 0;        /* no rates from the final figures */
	host_vm_figures(v, st, swap, 0);
	v->resident = 0;
	v->in.resident = 0;
	v->in.sampled = false;
	json_object_put(st);
}
