/*
 * ctl_client.c - `hvswap ctl SOCKET CMD [key=value ...]`: send one request
 * to a running VM's control socket, print the reply as pretty JSON.
 *
 *   hvswap ctl /tmp/vm.sock stats
 *   hvswap ctl /tmp/vm.sock swapon path=/var/tmp/s2 size=1G prio=5
 *   hvswap ctl /tmp/vm.sock raw '{"cmd":"trim"}'
 *
 * key=value becomes a JSON field: "null" -> null, a decimal integer -> a
 * number (except for the name fields path, dev, from, to, which are always
 * strings), anything else -> a string.  The server validates everything;
 * the client only builds the line.  Exit: 0 ok, 1 error reply, 2 usage,
 * connection, protocol error or timeout (one line on stderr).
 *
 * Timeout (--timeout S, default CTL_CLIENT_TIMEOUT; 0: none): connecting,
 * sending, and the reply to a short command (stats, devices, set-limit) must
 * each finish within S seconds.  A long command (swapon, swapoff, migrate,
 * compact, trim, numa-move) may take as long as it needs while the VM is
 * alive: every S seconds without its reply the client asks for `stats` on a
 * second connection, and gives up when that gets no reply within S.  So the
 * client never hangs on a stopped or wedged VMM.
 */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "util.h"

#define REPLY_MAX (64u << 20)
#define CTL_CLIENT_TIMEOUT 5.0          /* seconds */

/* One reply being read, with its deadline. */
struct reply_buf {
	char *buf;
	size_t len, cap;
};

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2 };

static int usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "hvswap ctl: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	return EXIT_USAGE;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: hvswap ctl [--timeout S] SOCKET CMD [key=value ...]\n"
"       hvswap ctl [--timeout S] SOCKET raw 'JSON-LINE'\n"
"  --timeout S   give up after S seconds without an answer (default %g;\n"
"                0: wait forever); long commands wait while the VM answers\n"
"commands:\n"
"  stats                               VM status, guest metrics, swap statistics\n"
"  devices                             list swap devices\n"
"  swapon [path=P] [size=S] [prio=N]   add a device (no path: a temporary file)\n"
"  swapoff dev=D                       remove a device (D: #id or path)\n"
"  set-limit limit=S                   resident memory limit (0: none)\n"
"  migrate from=D to=D                 move swapped pages between devices\n"
"  compact dev=D                       rewrite a device in guest-page order\n"
"  trim                                evict everything evictable now\n"
"  numa-move node=N                    move resident guest pages to host node N\n",
		CTL_CLIENT_TIMEOUT);
}

static bool is_int(const char *s)
{
	const char *p = s + (*s == '-');

	return *p && strspn(p, "0123456789") == strlen(p);
}

static struct json_object *arg_value(const char *key, const char *val)
{
	static const char *const names[] = { "path", "dev", "from", "to", NULL };
	const char *const *n;

	if (!strcmp(val, "null"))
		return NULL;
	for (n = names; *n; n++) {
		if (!strcmp(key, *n))
			return json_object_new_string(val);
	}
	if (is_int(val)) {
		errno = 0;
		long long v = strtoll(val, NULL, 10);

		if (errno != ERANGE)
			return json_object_new_int64(v);
	}
	return json_object_new_string(val);
}

/* The request line for CMD key=value..., or NULL after a usage message. */
static char *build_request(const char *cmd, int argc, char **argv)
{
	struct json_object *o = json_object_new_object();
	char *line = NULL, *eq;
	int i;

	json_object_object_add(o, "cmd", json_object_new_string(cmd));
	for (i = 0; i < argc; i++) {
		eq = strchr(argv[i], '=');
		if (!eq || eq == argv[i]) {
			usage_error("arguments are key=value", argv[i]);
			goto out;
		}
		*eq = '\0';
		if (json_object_object_get_ex(o, argv[i], NULL)) {
			usage_error("duplicate key", argv[i]);
			goto out;
		}
		json_object_object_add(o, argv[i], arg_value(argv[i], eq + 1));
	}
	line = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
out:
	json_object_put(o);
	return line;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Blocking connect and sends are bounded by SO_SNDTIMEO (unix sockets use
 * it for connect() too); 0 s: unbounded. */
static int connect_to(const char *path, double timeout_s)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct timeval tv = { (time_t)timeout_s,
			      (suseconds_t)((timeout_s - floor(timeout_s)) * 1e6) };
	int fd;

	if (strlen(path) >= sizeof(a.sun_path)) {
		usage_error("socket path too long", path);
		return -1;
	}
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && timeout_s > 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			fprintf(stderr, "hvswap ctl: cannot connect to %s: timed out after "
				"%g s (is the VM stopped?)\n", path, timeout_s);
		else
			fprintf(stderr, "hvswap ctl: cannot connect to %s: %s\n", path,
				strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int send_line(int fd, const char *line)
{
	size_t len = strlen(line), off = 0;
	ssize_t n;

	while (off <= len) {
		/* the line, then its newline */
		n = off < len ? send(fd, line + off, len - off, MSG_NOSIGNAL)
			      : send(fd, "\n", 1, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
		off += (size_t)n;
	}
	return 0;
}

/* Read until a whole line is in rb (0, newline replaced by NUL), the
 * deadline passes (-ETIMEDOUT; 0 = none), or the peer closes (-EPIPE). */
static int recv_line(int fd, struct reply_buf *rb, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t now;
	ssize_t n;
	char *q;
	int ms;

	for (;;) {
		if (rb->len + 4096 > rb->cap) {
			size_t cap = rb->cap ? 2 * rb->cap : 65536;

			if (cap > REPLY_MAX || !(q = realloc(rb->buf, cap)))
				return -E2BIG;
			rb->buf = q;
			rb->cap = cap;
		}
		if (deadline) {
			now = now_ns();
			if (now >= deadline)
				return -ETIMEDOUT;
			ms = (int)((deadline - now) / 1000000 + 1);
			n = poll(&p, 1, ms);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
			if (n == 0)
				continue;       /* the deadline check says so */
		}
		n = recv(fd, rb->buf + rb->len, rb->cap - rb->len - 1, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!deadline)
				poll(&p, 1, -1);
			continue;
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		q = memchr(rb->buf + rb->len, '\n', (size_t)n);
		rb->len += (size_t)n;
		if (q) {
			*q = '\0';
			return 0;
		}
	}
}

static uint64_t deadline_in(double s)
{
	return s > 0 ? now_ns() + (uint64_t)(s * 1e9) : 0;
}

/* Does the VM still answer a stats request within timeout_s? */
static bool vm_alive(const char *path, double timeout_s)
{
	struct reply_buf rb = { 0 };
	bool ok = false;
	int fd;

	fd = connect_to(path, timeout_s);
	if (fd < 0)
		return false;
	if (send_line(fd, "{\"cmd\":\"stats\"}") == 0)
		ok = recv_line(fd, &rb, deadline_in(timeout_s)) == 0;
	close(fd);
	free(rb.buf);
	return ok;
}

/* The reply to our request on fd: for a long command, wait while the VM
 * keeps answering on a second connection. */
static int wait_reply(int fd, const char *path, double timeout_s, bool slow,
		      struct reply_buf *rb)
{
	int r;

	for (;;) {
		r = recv_line(fd, rb, deadline_in(timeout_s));
		if (r != -ETIMEDOUT || !slow)
			return r;
		if (!vm_alive(path, timeout_s))
			return -ETIMEDOUT;
	}
}

static bool is_slow_cmd(const char *line)
{
	static const char *const slow[] = { "swapon", "swapoff", "migrate", "compact",
					    "trim", "numa-move", NULL };
	struct json_object *o = json_tokener_parse(line), *c;
	const char *name;
	bool r = false;
	unsigned int i;

	if (o && json_object_object_get_ex(o, "cmd", &c) &&
	    json_object_is_type(c, json_type_string)) {
		name = json_object_get_string(c);
		for (i = 0; slow[i]; i++)
			r |= !strcmp(name, slow[i]);
	}
	json_object_put(o);
	return r;
}

/* Print the reply; the exit status it means. */
static int show_reply(const char *line)
{
	struct json_object *r = json_tokener_parse(line), *ok, *e;
	int status;

	if (!r || !json_object_is_type(r, json_type_object) ||
	    !json_object_object_get_ex(r, "ok", &ok) ||
	    !json_object_is_type(ok, json_type_boolean)) {
		json_object_put(r);
		fprintf(stderr, "hvswap ctl: malformed reply: %.200s\n", line);
		return EXIT_USAGE;
	}
	printf("%s\n", json_object_to_json_string_ext(r, JSON_C_TO_STRING_PRETTY |
			JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	status = json_object_get_boolean(ok) ? EXIT_OK : EXIT_REFUSED;
	if (status == EXIT_REFUSED && json_object_object_get_ex(r, "error", &e))
		fprintf(stderr, "hvswap ctl: %s\n", json_object_get_string(e));
	json_object_put(r);
	return status;
}

/* Leading options; the index of SOCKET, or -1 after a message. */
static int parse_opts(int argc, char **argv, double *timeout_s)
{
	int i = 1;

	while (i < argc && !strncmp(argv[i], "--timeout", 9)) {
		const char *v = NULL;

		if (argv[i][9] == '=')
			v = argv[i] + 10;
		else if (!argv[i][9] && i + 1 < argc)
			v = argv[++i];
		if (!v || parse_seconds(v, timeout_s) < 0) {
			usage_error("--timeout takes seconds (0: none, at most 1e9)",
				    v ? v : argv[i]);
			return -1;
		}
		i++;
	}
	return i;
}

int ctl_client_main(int argc, char **argv)
{
	struct reply_buf rb = { 0 };
	double timeout_s = CTL_CLIENT_TIMEOUT;
	const char *path;
	bool slow;
	char *line;
	int fd, r, i;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return EXIT_OK;
	}
	i = parse_opts(argc, argv, &timeout_s);
	if (i < 0)
		return EXIT_USAGE;
	argc -= i - 1;
	argv += i - 1;
	if (argc < 3)
		return usage_error("usage: hvswap ctl [--timeout S] SOCKET CMD [key=value ...]",
				   NULL);
	path = argv[1];
	if (!strcmp(argv[2], "raw")) {
		if (argc != 4 || strchr(argv[3], '\n'))
			return usage_error("raw takes one JSON line", NULL);
		line = strdup(argv[3]);
	} else {
		line = build_request(argv[2], argc - 3, argv + 3);
	}
	if (!line)
		return EXIT_USAGE;
	slow = is_slow_cmd(line);
	fd = connect_to(path, timeout_s);
	if (fd < 0) {
		free(line);
		return EXIT_USAGE;
	}
	r = send_line(fd, line);
	free(line);
	if (r == 0)
		r = wait_reply(fd, path, timeout_s, slow, &rb);
	close(fd);
	if (r < 0) {
		if (r == -ETIMEDOUT)
			fprintf(stderr, "hvswap ctl: %s: no reply: timed out after %g s "
				"(is the VM stopped?)\n", path, timeout_s);
		else
			fprintf(stderr, "hvswap ctl: %s: no reply (%s)\n", path,
				r == -EPIPE ? "connection closed" : strerror(-r));
		free(rb.buf);
		return EXIT_USAGE;
	}
	r = show_reply(rb.buf);
	free(rb.buf);
	return r;
}
