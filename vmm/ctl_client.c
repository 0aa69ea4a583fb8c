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
 * connection or protocol error (one line on stderr).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"

#define REPLY_MAX (64u << 20)

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2 };

static int usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "hvswap ctl: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	return EXIT_USAGE;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: hvswap ctl SOCKET CMD [key=value ...]\n"
"       hvswap ctl SOCKET raw 'JSON-LINE'\n"
"commands:\n"
"  stats                               VM status, guest metrics, swap statistics\n"
"  devices                             list swap devices\n"
"  swapon [path=P] [size=S] [prio=N]   add a device (no path: a temporary file)\n"
"  swapoff dev=D                       remove a device (D: #id or path)\n"
"  set-limit limit=S                   resident memory limit (0: none)\n"
"  migrate from=D to=D                 move swapped pages between devices\n"
"  compact dev=D                       rewrite a device in guest-page order\n"
"  trim                                evict everything evictable now\n"
"  numa-move node=N                    move resident guest pages to host node N\n");
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

static int connect_to(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(a.sun_path)) {
		usage_error("socket path too long", path);
		return -1;
	}
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		fprintf(stderr, "hvswap ctl: cannot connect to %s: %s\n", path, strerror(errno));
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
			return -errno;
		off += (size_t)n;
	}
	return 0;
}

/* Read one reply line (malloc'd, newline removed) or NULL. */
static char *recv_line(int fd)
{
	size_t len = 0, cap = 0;
	char *buf = NULL, *p;
	ssize_t n;

	for (;;) {
		if (len + 4096 > cap) {
			cap = cap ? 2 * cap : 65536;
			if (cap > REPLY_MAX || !(p = realloc(buf, cap)))
				break;
			buf = p;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (p) {
			*p = '\0';
			return buf;
		}
	}
	free(buf);
	return NULL;
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

int ctl_client_main(int argc, char **argv)
{
	char *line, *reply;
	int fd, r;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return EXIT_OK;
	}
	if (argc < 3)
		return usage_error("usage: hvswap ctl SOCKET CMD [key=value ...]", NULL);
	if (!strcmp(argv[2], "raw")) {
		if (argc != 4 || strchr(argv[3], '\n'))
			return usage_error("raw takes one JSON line", NULL);
		line = strdup(argv[3]);
	} else {
		line = build_request(argv[2], argc - 3, argv + 3);
		if (!line)
			return EXIT_USAGE;
	}
	fd = connect_to(argv[1]);
	if (fd < 0) {
		free(line);
		return EXIT_USAGE;
	}
	r = send_line(fd, line);
	free(line);
	reply = r < 0 ? NULL : recv_line(fd);
	close(fd);
	if (!reply) {
		fprintf(stderr, "hvswap ctl: %s: no reply (%s)\n", argv[1],
			r < 0 ? strerror(-r) : "connection closed");
		return EXIT_USAGE;
	}
	r = show_reply(reply);
	free(reply);
	return r;
}
