/*
 * host.c - `hvswap host --budget SIZE [--stats FILE] [--ctl SOCKET] CONFIG...`:
 * run each VM config as its own `hvswap run` process and keep the sum of
 * their resident guest memory under the budget (docs/host.md).
 *
 * One thread, one loop: poll() on a signalfd (SIGCHLD: a VM ended;
 * SIGTERM/SIGINT/SIGHUP: stop every VM, then exit) and the supervisor's
 * control socket, with the next interval's tick as timeout.  Each tick:
 * every VM's `stats` (its own control socket), one host_decide(), the
 * changed limits sent with `set-limit` (decreases first), the stats and
 * Prometheus files rewritten, the live table redrawn on a terminal.
 * Control socket (one JSON line per connection, like a VM's; root and the
 * owner's uid only): stats, add {config[, name]}, stop {name}.
 * A VM that ends does not disturb the others: its memory goes back to the
 * budget at the next tick.  on_crash/on_poweroff "restart" respawn it.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host_impl.h"
#include "outfile.h"
#include "util.h"

#define STOP_GRACE_S 30.0       /* SIGKILL VMs still alive this long after SIGTERM */

static void usage(FILE *f)
{
	fprintf(f,
"usage: hvswap host --budget SIZE [options] CONFIG...\n"
"  Run each VM config (docs/config.md) as its own hvswap process and keep\n"
"  the sum of their resident guest memory under SIZE (docs/host.md).\n"
"  --budget SIZE      resident guest memory of all VMs together\n"
"  --interval S       seconds between decisions (default 1)\n"
"  --stats FILE       JSON statistics (every interval and at exit)\n"
"  --prom FILE        the same as Prometheus text (default: FILE.prom with --stats)\n"
"  --ctl SOCKET       control socket: hvswap ctl SOCKET stats|add config=PATH|stop name=VM\n"
"  --dir DIR          run directory: each VM's socket, stats and log (default: a\n"
"                     new /tmp/hvswap-host.XXXXXX, removed when every VM exited 0)\n"
"  -v                 log every limit change\n"
"exit status: 0 every VM exited 0 (or was stopped with 'stop'), 1 a VM failed,\n"
"2 usage, 3 setup, 130 stopped by a signal\n");
}

static void say(struct host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct host *h, const char *fmt, ...)
{
	va_list ap;

	host_table_clear(h);
	fprintf(stderr, "hvswap host: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t floors(const struct host *h)
{
	uint64_t s = 0;
	unsigned int i;

	for (i = 0; i < h->nr_vms; i++) {
		const struct host_vm *v = &h->vms[i];
		uint64_t f = v->in.floor > h->pol.min_limit ? v->in.floor : h->pol.min_limit;

		if (v->state != HVM_EXITED)
			s += f < v->in.cap ? f : v->in.cap;
	}
	return s;
}

static bool alive(const struct host_vm *v)
{
	return v->state != HVM_EXITED;
}

/* Decide for the live VMs (exited ones hold nothing) and apply. */
static void decide(struct host *h, bool initial)
{
	struct host_vm_in in[HOST_MAX_VMS];
	struct host_vm_state st[HOST_MAX_VMS];
	uint64_t lim[HOST_MAX_VMS];
	unsigned int idx[HOST_MAX_VMS], n = 0, i, pass;

	for (i = 0; i < h->nr_vms; i++) {
		if (!alive(&h->vms[i]))
			continue;
		idx[n] = i;
		in[n] = h->vms[i].in;
		st[n] = h->vms[i].st;
		n++;
	}
	if (!n)
		return;
	if (initial) {
		host_initial_limits(&h->pol, n, in, lim);
		for (i = 0; i < n; i++)
			h->vms[idx[i]].st.limit = lim[i];
		return;
	}
	h->decisions++;
	h->changes += host_decide(&h->pol, n, in, st, lim);
	/* decreases first: the memory they free is what increases use */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < n; i++) {
			struct host_vm *v = &h->vms[idx[i]];
			bool down = lim[i] < v->st.limit;

			if (lim[i] == v->st.limit || down != (pass == 0))
				continue;
			if (h->verbose)
				say(h, "%.1f s: %s: limit %llu -> %llu MiB (resident %llu MiB, "
				    "stall %.1f%%, %.0f swap-ins/s)", host_now() - h->start_t, v->name,
				    (unsigned long long)(v->st.limit >> 20),
				    (unsigned long long)(lim[i] >> 20),
				    (unsigned long long)(v->resident >> 20), v->in.stall,
				    v->in.refaults);
			if (v->state == HVM_RUNNING && host_vm_set_limit(v, lim[i]) < 0 &&
			    h->verbose)
				say(h, "%s: set-limit failed (the VM is ending?)", v->name);
		}
	}
	for (i = 0; i < n; i++)
		h->vms[idx[i]].st = st[i];
}

static void tick(struct host *h)
{
	uint64_t total = 0;
	unsigned int i;

	for (i = 0; i < h->nr_vms; i++) {
		if (alive(&h->vms[i]) && host_vm_sample(&h->vms[i]) == 0)
			total += h->vms[i].resident;
	}
	if (total > h->max_total_resident)
		h->max_total_resident = total;
	if (!h->stopping)
		decide(h, false);
	host_write_outputs(h);
	host_table(h);
}

static int start_vm(struct host *h, struct host_vm *v, char *err, size_t errlen)
{
	int r = host_vm_spawn(h, v, err, errlen);

	if (r == 0 && !h->tty)
		say(h, "%s: started (pid %d, limit %llu MiB, config %s)", v->name, (int)v->pid,
		    (unsigned long long)(v->st.limit >> 20), v->config);
	return r;
}

/* A VM added at run time: admitted while the floors fit the budget; it
 * starts at its floor and grows through the decisions. */
static int add_vm(struct host *h, const char *config, const char *name, char *err,
		  size_t errlen)
{
	struct host_vm *v;
	unsigned int i;
	uint64_t f;
	int r;

	if (h->nr_vms == HOST_MAX_VMS) {
		snprintf(err, errlen, "at most %u VMs", HOST_MAX_VMS);
		return -ENOSPC;
	}
	v = &h->vms[h->nr_vms];
	r = host_vm_load(h, v, config, err, errlen);
	if (r < 0)
		return r;
	if (name) {
		snprintf(v->name, sizeof(v->name), "%s", name);
		r = host_vm_paths(h, v, err, errlen);
		if (r < 0)
			return r;
	}
	for (i = 0; i < h->nr_vms; i++) {
		if (!strcmp(h->vms[i].name, v->name) && alive(&h->vms[i])) {
			snprintf(err, errlen, "a VM named %s is running", v->name);
			return -EEXIST;
		}
	}
	f = v->in.floor > h->pol.min_limit ? v->in.floor : h->pol.min_limit;
	f = f < v->in.cap ? f : v->in.cap;
	if (floors(h) + f > h->pol.budget) {
		snprintf(err, errlen, "%s: its min_guarantee does not fit the budget "
			 "beside the other VMs' (%llu + %llu > %llu MiB)", v->name,
			 (unsigned long long)(floors(h) >> 20), (unsigned long long)(f >> 20),
			 (unsigned long long)(h->pol.budget >> 20));
		return -ENOSPC;
	}
	v->st.limit = f;
	r = start_vm(h, v, err, errlen);
	if (r == 0) {
		h->nr_vms++;
		h->ever_added = true;
	}
	return r;
}

static struct host_vm *find_vm(struct host *h, const char *name)
{
	unsigned int i;

	for (i = h->nr_vms; i-- > 0;) {
		if (!strcmp(h->vms[i].name, name))
			return &h->vms[i];
	}
	return NULL;
}

static void stop_vm(struct host_vm *v)
{
	v->stop_requested = true;
	if (v->pid > 0)
		kill(v->pid, SIGTERM);
}

static struct json_object *ctl_reply(bool ok, const char *err)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	if (err)
		json_object_object_add(o, "error", json_object_new_string(err));
	return o;
}

static const char *jstr(struct json_object *req, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static struct json_object *ctl_exec(struct host *h, struct json_object *req)
{
	const char *cmd = jstr(req, "cmd");
	char err[600];
	struct host_vm *v;

	if (!cmd)
		return ctl_reply(false, "a request is {\"cmd\": \"stats|add|stop\", ...}");
	if (!strcmp(cmd, "stats")) {
		struct json_object *o = ctl_reply(true, NULL);

		json_object_object_add(o, "host", host_stats_json(h));
		return o;
	}
	if (!strcmp(cmd, "add")) {
		const char *cfg = jstr(req, "config"), *name = jstr(req, "name");

		if (!cfg)
			return ctl_reply(false, "add: config=PATH is required");
		if (h->stopping)
			return ctl_reply(false, "add: the supervisor is stopping");
		if (name) {
			struct run_opts o;

			cli_defaults(&o);
			if (cli_set_opt(&o, OPT_NAME, name, "name", err, sizeof(err)) < 0)
				return ctl_reply(false, err);
		}
		if (add_vm(h, cfg, name, err, sizeof(err)) < 0)
			return ctl_reply(false, err);
		v = &h->vms[h->nr_vms - 1];
		{
			struct json_object *o = ctl_reply(true, NULL);

			json_object_object_add(o, "name", json_object_new_string(v->name));
			json_object_object_add(o, "limit", json_object_new_uint64(v->st.limit));
			return o;
		}
	}
	if (!strcmp(cmd, "stop")) {
		const char *name = jstr(req, "name");

		if (!name)
			return ctl_reply(false, "stop: name=VM is required");
		v = find_vm(h, name);
		if (!v || !alive(v)) {
			snprintf(err, sizeof(err), "stop: no running VM named %.64s", name);
			return ctl_reply(false, err);
		}
		stop_vm(v);
		if (!h->tty)
			say(h, "%s: stopping (ctl)", v->name);
		return ctl_reply(true, NULL);
	}
	snprintf(err, sizeof(err), "unknown command '%.64s' (stats, add, stop)", cmd);
	return ctl_reply(false, err);
}

/* One client: one request line, one reply, closed (2 s at most). */
static void ctl_serve_one(struct host *h)
{
	struct timeval tv = { .tv_sec = 2 };
	struct json_object *req, *rep;
	struct ucred cr;
	socklen_t crl = sizeof(cr);
	char buf[4096];
	size_t len = 0;
	const char *out;
	ssize_t k;
	int fd = accept4(h->lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) < 0 ||
	    (cr.uid != 0 && cr.uid != getuid())) {
		rep = ctl_reply(false, "permission denied");
		goto reply;
	}
	while (len < sizeof(buf) - 1 && (k = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) > 0) {
		len += (size_t)k;
		if (memchr(buf, '\n', len))
			break;
	}
	buf[len] = '\0';
	req = json_tokener_parse(buf);
	rep = json_object_is_type(req, json_type_object) ? ctl_exec(h, req) :
		ctl_reply(false, "not a JSON object");
	json_object_put(req);
reply:
	outfile_json_strict(rep);
	out = json_object_to_json_string_ext(rep, JSON_C_TO_STRING_PLAIN);
	if (send(fd, out, strlen(out), MSG_NOSIGNAL) >= 0)
		send(fd, "\n", 1, MSG_NOSIGNAL);
	json_object_put(rep);
	close(fd);
}

static int ctl_listen(struct host *h, char *err, size_t errlen)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd;

	if (strlen(h->ctl_path) >= sizeof(a.sun_path)) {
		snprintf(err, errlen, "control socket %.200s: path too long", h->ctl_path);
		return -ENAMETOOLONG;
	}
	if (lstat(h->ctl_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "control socket %.200s: exists and is not a socket",
				 h->ctl_path);
			return -EEXIST;
		}
		unlink(h->ctl_path);    /* stale (a live one would be a second host) */
	}
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", h->ctl_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	old = umask(077);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0) {
		snprintf(err, errlen, "control socket %.200s: %s", h->ctl_path, strerror(errno));
		umask(old);
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	umask(old);
	h->lfd = fd;
	return 0;
}

/* A VM's process ended: record it, restart it if its config says so. */
static void reaped(struct host *h, struct host_vm *v, int ws)
{
	char err[512];
	bool restart;

	host_vm_exited(v, ws);
	if (!h->tty || h->verbose)
		say(h, "%s: exited with status %d after %.1f s%s", v->name, v->exit_status,
		    v->elapsed_s, v->stop_requested ? " (stopped)" : "");
	restart = !h->stopping && !v->stop_requested && v->restarts < HOST_MAX_RESTARTS &&
		((v->exit_status == 0 && v->on_poweroff == CLI_ACT_RESTART) ||
		 (v->exit_status == 125 && v->on_crash == CLI_ACT_RESTART));
	if (!restart)
		return;
	v->restarts++;
	if (start_vm(h, v, err, sizeof(err)) < 0)
		say(h, "%s", err);
}

static void on_signals(struct host *h, int sfd)
{
	struct signalfd_siginfo si;
	unsigned int i;
	int ws;
	pid_t pid;

	while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			continue;
		if (!h->stopping) {
			h->stopping = true;
			h->stop_signal = (int)si.ssi_signo;
			h->stop_t = host_now();
			say(h, "signal %d: stopping every VM", (int)si.ssi_signo);
			for (i = 0; i < h->nr_vms; i++) {
				if (alive(&h->vms[i]))
					stop_vm(&h->vms[i]);
			}
		}
	}
	while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
		for (i = 0; i < h->nr_vms; i++) {
			if (h->vms[i].pid == pid) {
				reaped(h, &h->vms[i], ws);
				break;
			}
		}
	}
}

static bool any_alive(const struct host *h)
{
	unsigned int i;

	for (i = 0; i < h->nr_vms; i++) {
		if (alive(&h->vms[i]))
			return true;
	}
	return false;
}

static void loop(struct host *h, int sfd)
{
	double next = host_now() + h->interval;
	unsigned int i;

	while (any_alive(h) || (!h->ever_added && h->lfd >= 0 && !h->stopping)) {
		struct pollfd p[2] = { { sfd, POLLIN, 0 }, { h->lfd, POLLIN, 0 } };
		double now = host_now();
		int ms = next > now ? (int)((next - now) * 1000) + 1 : 0;

		if (poll(p, h->lfd >= 0 ? 2 : 1, ms) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			on_signals(h, sfd);
		if (h->lfd >= 0 && (p[1].revents & POLLIN))
			ctl_serve_one(h);
		if (h->stopping && host_now() - h->stop_t > STOP_GRACE_S) {
			for (i = 0; i < h->nr_vms; i++) {
				if (h->vms[i].pid > 0)
					kill(h->vms[i].pid, SIGKILL);
			}
		}
		if (host_now() >= next) {
			tick(h);
			next += h->interval;
			if (next < host_now())
				next = host_now() + h->interval;
		}
	}
}

static int parse(struct host *h, int argc, char **argv, int *first)
{
	uint64_t budget = 0;
	int i;

	h->interval = 1.0;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 1;
		}
		if (!strcmp(a, "-v")) {
			h->verbose++;
			continue;
		}
		if (!val) {
			fprintf(stderr, "hvswap host: option '%s' needs a value\n", a);
			return -EINVAL;
		}
		i++;
		if (!strcmp(a, "--budget")) {
			if (parse_size(val, &budget) < 0 || budget < (16u << 20)) {
				fprintf(stderr, "hvswap host: invalid --budget '%s' (at least 16M)\n", val);
				return -EINVAL;
			}
		} else if (!strcmp(a, "--interval")) {
			if (parse_seconds(val, &h->interval) < 0 || h->interval < 0.05 ||
			    h->interval > 3600) {
				fprintf(stderr, "hvswap host: invalid --interval '%s' (0.05..3600)\n", val);
				return -EINVAL;
			}
		} else if (!strcmp(a, "--stats")) {
			h->stats_path = val;
		} else if (!strcmp(a, "--prom")) {
			free(h->prom_path);
			h->prom_path = strdup(val);
		} else if (!strcmp(a, "--ctl")) {
			h->ctl_path = val;
		} else if (!strcmp(a, "--dir")) {
			snprintf(h->dir, sizeof(h->dir), "%s", val);
			h->dir_given = true;
		} else {
			fprintf(stderr, "hvswap host: unknown option '%s' (see 'hvswap host --help')\n", a);
			return -EINVAL;
		}
	}
	if (!budget || (i == argc && !h->ctl_path)) {
		fprintf(stderr, "hvswap host: %s (see 'hvswap host --help')\n",
			!budget ? "--budget SIZE is required" : "no CONFIG (and no --ctl to add one)");
		return -EINVAL;
	}
	host_policy_defaults(&h->pol, budget);
	if (h->stats_path && !h->prom_path && asprintf(&h->prom_path, "%s.prom", h->stats_path) < 0)
		h->prom_path = NULL;
	*first = i;
	return 0;
}

/* Remove the run directory when every VM exited 0 (else keep its logs). */
static void cleanup_dir(struct host *h, int status)
{
	char p[PATH_MAX + 80];
	unsigned int i;

	if (h->dir_given || status != 0) {
		if (status != 0)
			fprintf(stderr, "hvswap host: VM logs and stats kept in %s\n", h->dir);
		return;
	}
	for (i = 0; i < h->nr_vms; i++) {
		unlink(h->vms[i].log);
		unlink(h->vms[i].stats);
		unlink(h->vms[i].sock);
	}
	snprintf(p, sizeof(p), "%s", h->dir);
	rmdir(p);
}

static int setup(struct host *h, int argc, char **argv, int first)
{
	char err[700];
	ssize_t n;
	int i;

	n = readlink("/proc/self/exe", h->exe, sizeof(h->exe) - 1);
	if (n <= 0) {
		fprintf(stderr, "hvswap host: cannot find the hvswap binary: %s\n", strerror(errno));
		return -ENOENT;
	}
	h->exe[n] = '\0';
	if (!h->dir_given) {
		snprintf(h->dir, sizeof(h->dir), "/tmp/hvswap-host.XXXXXX");
		if (!mkdtemp(h->dir)) {
			fprintf(stderr, "hvswap host: cannot create a run directory: %s\n",
				strerror(errno));
			return -errno;
		}
	} else if (mkdir(h->dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "hvswap host: run directory %s: %s\n", h->dir, strerror(errno));
		return -errno;
	}
	for (i = first; i < argc; i++) {
		struct host_vm *v = &h->vms[h->nr_vms];
		unsigned int k;

		if (h->nr_vms == HOST_MAX_VMS || host_vm_load(h, v, argv[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "hvswap host: %s\n", h->nr_vms == HOST_MAX_VMS ?
				"too many VMs" : err);
			return -EINVAL;
		}
		for (k = 0; k < h->nr_vms; k++) {
			if (!strcmp(h->vms[k].name, v->name)) {
				fprintf(stderr, "hvswap host: two VMs named %s (%s, %s): give "
					"each config its own name\n", v->name, h->vms[k].config,
					v->config);
				return -EINVAL;
			}
		}
		h->nr_vms++;
	}
	if (floors(h) > h->pol.budget) {
		fprintf(stderr, "hvswap host: the VMs' min_guarantee (at least %llu MiB each) "
			"add up to %llu MiB, more than the budget\n",
			(unsigned long long)(h->pol.min_limit >> 20),
			(unsigned long long)(floors(h) >> 20));
		return -EINVAL;
	}
	if (h->ctl_path && ctl_listen(h, err, sizeof(err)) < 0) {
		fprintf(stderr, "hvswap host: %s\n", err);
		return -EINVAL;
	}
	return 0;
}

int host_main(int argc, char **argv)
{
	static struct host host;
	struct host *h = &host;
	char err[600];
	sigset_t set;
	unsigned int i;
	int first, r, sfd, status;

	memset(h, 0, sizeof(*h));
	h->lfd = -1;
	r = parse(h, argc, argv, &first);
	if (r)
		return r > 0 ? 0 : VM_STATUS_USAGE;
	if (setup(h, argc, argv, first) < 0) {
		if (h->lfd >= 0)
			unlink(h->ctl_path);
		if (!h->dir_given)
			rmdir(h->dir);
		return VM_STATUS_ENV;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	h->tty = isatty(STDOUT_FILENO);
	h->start_t = host_now();
	decide(h, true);
	for (i = 0; i < h->nr_vms; i++) {
		if (start_vm(h, &h->vms[i], err, sizeof(err)) < 0) {
			say(h, "%s", err);
			h->vms[i].state = HVM_EXITED;
			h->vms[i].exit_status = VM_STATUS_ENV;
		}
		h->ever_added = true;
	}
	loop(h, sfd);
	for (i = 0; i < h->nr_vms; i++)
		host_vm_close(&h->vms[i]);
	host_table(h);
	status = host_exit_status(h);
	host_write_outputs(h);
	if (h->lfd >= 0) {
		close(h->lfd);
		unlink(h->ctl_path);
	}
	say(h, "%u VM(s), max total resident %llu MiB of a %llu MiB budget, exit %d",
	    h->nr_vms, (unsigned long long)(h->max_total_resident >> 20),
	    (unsigned long long)(h->pol.budget >> 20), status);
	cleanup_dir(h, status);
	free(h->prom_path);
	close(sfd);
	return status;
}
