/*
 * config.c - the config model's field table, file reading and format
 * detection, and `hvswap config FILE [--to json|xml]`.
 *
 * Owns: nothing between calls; strings taken from a file are copied into
 * the run_opts (cli_own()).
 * Invariants: every field reaches struct run_opts through cli_set_opt()
 * (flags turned off through cli_clear_flag()), so a config file can set
 * nothing the command line could not, and a value is refused by the same
 * check either way.  The table lists every long option of `hvswap run`.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

const struct config_field config_fields[] = {
	{ "name", OPT_NAME, CFG_STR, "name" },
	{ "uuid", OPT_UUID, CFG_STR, "uuid" },
	{ "guest", OPT_GUEST, CFG_STR, "os/kernel" },
	{ "args", OPT_ARGS, CFG_ARGS, "os/cmdline" },
	{ "mem", OPT_MEM, CFG_SIZE, "memory" },
	{ "vcpus", OPT_VCPUS, CFG_UINT, "vcpu" },
	{ "mem_backing", OPT_BACKING, CFG_STR, "memoryBacking/source" },
	{ "locked", OPT_LOCKED, CFG_BOOL, "memoryBacking/locked" },
	{ "hugepages", OPT_HUGEPAGES, CFG_BOOL, "memoryBacking/hugepages" },
	{ "mem_limit", OPT_LIMIT, CFG_SIZE, "memtune/hard_limit" },
	{ "soft_limit", OPT_SOFT_LIMIT, CFG_SIZE, "memtune/soft_limit" },
	{ "min_guarantee", OPT_MIN_GUARANTEE, CFG_SIZE, "memtune/min_guarantee" },
	{ "swap_size", OPT_SWAP_SIZE, CFG_SIZE, "memtune/swap_hard_limit" },
	{ "disk", OPT_DISK, CFG_STR, "devices/disk" },
	{ "on_poweroff", OPT_ON_POWEROFF, CFG_STR, "on_poweroff" },
	{ "on_crash", OPT_ON_CRASH, CFG_STR, "on_crash" },
	/* hvswap's own: <metadata><hvswap:config> in XML */
	{ "swap", OPT_SWAP, CFG_LIST, NULL },
	{ "force", OPT_FORCE, CFG_BOOL, NULL },
	{ "swap_dir", OPT_SWAP_DIR, CFG_STR, NULL },
	{ "io_engine", OPT_ENGINE, CFG_STR, NULL },
	{ "swap_full", OPT_FULL, CFG_STR, NULL },
	{ "fault_around", OPT_FAULT_AROUND, CFG_UINT, NULL },
	{ "keep_clean", OPT_KEEP_CLEAN, CFG_STR, NULL },
	{ "fault_spin", OPT_FAULT_SPIN, CFG_SPIN, NULL },
	{ "swap_encrypt", OPT_ENCRYPT, CFG_BOOL, NULL },
	{ "ztier", OPT_ZTIER, CFG_STR, NULL },
	{ "ztier_size", OPT_ZTIER_SIZE, CFG_SIZE, NULL },
	{ "policy", OPT_POLICY, CFG_STR, NULL },
	{ "disk_size", OPT_DISK_SIZE, CFG_SIZE, NULL },
	{ "timeout", OPT_TIMEOUT, CFG_SECONDS, NULL },
	{ "stats", OPT_STATS, CFG_STR, NULL },
	{ "stats_interval", OPT_STATS_INTERVAL, CFG_SECONDS, NULL },
	{ "ctl", OPT_CTL, CFG_STR, NULL },
	{ "ctl_idle_timeout", OPT_CTL_IDLE, CFG_SECONDS, NULL },
	{ "no_seccomp", OPT_NO_SECCOMP, CFG_BOOL, NULL },
	{ "balloon", OPT_BALLOON, CFG_BOOL, NULL },
	{ "swap_mapper", OPT_SWAP_MAPPER, CFG_BOOL, NULL },
	{ "swap_mapper_count", OPT_SWAP_MAPPER_COUNT, CFG_BOOL, NULL },
	{ "vhost_user_blk", OPT_VHOST_USER_BLK, CFG_STR, NULL },
	{ "linux_kernel", OPT_KERNEL, CFG_STR, NULL },
	{ "linux_initrd", OPT_INITRD, CFG_STR, NULL },
	{ "linux_append", OPT_APPEND, CFG_STR, NULL },
	{ "quiet", OPT_QUIET, CFG_BOOL, NULL },
	{ "verbose", OPT_VERBOSE, CFG_UINT, NULL },
	{ NULL, 0, CFG_STR, NULL },
};

const struct config_field *config_field_find(const char *key)
{
	const struct config_field *f;

	for (f = config_fields; f->key; f++) {
		if (!strcmp(f->key, key))
			return f;
	}
	return NULL;
}

static const char *kind_name(enum config_kind k)
{
	switch (k) {
	case CFG_STR: return "a string";
	case CFG_SIZE: return "a size (bytes, or a string such as \"512M\")";
	case CFG_UINT: return "a whole number";
	case CFG_SECONDS: return "a number of seconds";
	case CFG_BOOL: return "true or false";
	case CFG_LIST: return "a list of strings";
	case CFG_SPIN: return "\"auto\", \"off\" or a number of microseconds";
	case CFG_ARGS: return "a string or a list of strings";
	}
	return "?";
}

/* Text a config may carry: valid UTF-8 (shortest form, no surrogates)
 * of characters XML 1.0 can hold, without control characters (C0, DEL,
 * C1): it goes to XML, file names and the guest. */
bool config_text_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned int n, cp, i;

		if (*p < 0x80) {
			if (*p < 0x20 || *p == 0x7f)
				return false;
			p++;
			continue;
		}
		n = (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 :
		    (*p & 0xf8) == 0xf0 ? 3 : 0;
		if (!n)
			return false;
		cp = *p & (0x3f >> n);
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		/* shortest form only; no surrogates; XML 1.0's Char range */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff ||
		    (cp >= 0x80 && cp <= 0x9f))
			return false;
		p += n + 1;
	}
	return true;
}

static int set_owned(struct run_opts *o, const struct config_field *f,
		     const char *text, char *err, size_t errlen)
{
	char *s;

	if (!config_text_ok(text)) {
		snprintf(err, errlen, "%s: control characters or invalid UTF-8", f->key);
		return -EINVAL;
	}
	s = cli_own(o, text);

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return cli_set_opt(o, f->opt, s, f->key, err, errlen);
}

/* verbose is a count on the command line (-v -v), a number in a file. */
static int set_verbose(struct run_opts *o, const char *text, char *err, size_t errlen)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(text, &end, 10);
	if (!*text || *end || errno || v > 3 || text[0] == '-') {
		snprintf(err, errlen, "invalid value '%.100s' for verbose: 0 to 3", text);
		return -EINVAL;
	}
	o->verbose = (unsigned int)v;
	return 0;
}

int config_set_text(struct run_opts *o, const struct config_field *f,
		    const char *text, char *err, size_t errlen)
{
	if (f->kind == CFG_BOOL) {
		if (!strcmp(text, "true") || !strcmp(text, "1") || !strcmp(text, "yes"))
			return cli_set_opt(o, f->opt, NULL, f->key, err, errlen);
		if (!strcmp(text, "false") || !strcmp(text, "0") || !strcmp(text, "no")) {
			cli_clear_flag(o, f->opt);
			return 0;
		}
		snprintf(err, errlen, "invalid value '%.100s' for %s: true or false",
			 text, f->key);
		return -EINVAL;
	}
	if (f->opt == OPT_VERBOSE)
		return set_verbose(o, text, err, errlen);
	return set_owned(o, f, text, err, errlen);
}

static int wrong_type(const struct config_field *f, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s must be %s", f->key, kind_name(f->kind));
	return -EINVAL;
}

/* The words of "args": a string, or strings joined by one blank. */
static int set_args_list(struct run_opts *o, const struct config_field *f,
			 struct json_object *v, char *err, size_t errlen)
{
	size_t n = json_object_array_length(v), i, len = 1;
	char *s;
	int r;

	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);

		if (!json_object_is_type(e, json_type_string))
			return wrong_type(f, err, errlen);
		len += (size_t)json_object_get_string_len(e) + 1;
	}
	s = calloc(1, len);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, json_object_get_string(json_object_array_get_idx(v, i)));
	}
	r = set_owned(o, f, s, err, errlen);
	free(s);
	return r;
}

static int set_list(struct run_opts *o, const struct config_field *f,
		    struct json_object *v, char *err, size_t errlen)
{
	size_t n, i;
	int r;

	if (json_object_is_type(v, json_type_string))
		return set_owned(o, f, json_object_get_string(v), err, errlen);
	if (!json_object_is_type(v, json_type_array))
		return wrong_type(f, err, errlen);
	n = json_object_array_length(v);
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);

		if (!json_object_is_type(e, json_type_string))
			return wrong_type(f, err, errlen);
		r = set_owned(o, f, json_object_get_string(e), err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

int config_set_json(struct run_opts *o, const struct config_field *f,
		    struct json_object *v, char *err, size_t errlen)
{
	enum json_type t = json_object_get_type(v);
	bool num = t == json_type_int || t == json_type_double;

	switch (f->kind) {
	case CFG_BOOL:
		if (t != json_type_boolean)
			return wrong_type(f, err, errlen);
		return config_set_text(o, f, json_object_get_boolean(v) ? "true" : "false",
				       err, errlen);
	case CFG_LIST:
		return set_list(o, f, v, err, errlen);
	case CFG_ARGS:
		if (t == json_type_array)
			return set_args_list(o, f, v, err, errlen);
		/* fall through */
	case CFG_STR:
		if (t != json_type_string)
			return wrong_type(f, err, errlen);
		break;
	case CFG_SIZE:
	case CFG_SPIN:
		if (t != json_type_int && t != json_type_string)
			return wrong_type(f, err, errlen);
		break;
	case CFG_UINT:
		if (t != json_type_int)
			return wrong_type(f, err, errlen);
		break;
	case CFG_SECONDS:
		if (!num && t != json_type_string)
			return wrong_type(f, err, errlen);
		break;
	}
	/* A number's literal text, or the string itself. */
	return config_set_text(o, f, t == json_type_string ? json_object_get_string(v) :
			       json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
			       err, errlen);
}

void config_size_text(uint64_t b, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (u < 3 && b && b % 1024 == 0) {
		b /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%" PRIu64, b);
	else
		snprintf(buf, len, "%" PRIu64 "%c", b, units[u]);
}

static struct json_object *jsize(uint64_t b)
{
	char buf[32];

	config_size_text(b, buf, sizeof(buf));
	return json_object_new_string(buf);
}

static struct json_object *jstr(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static struct json_object *jtrue(bool b)
{
	return b ? json_object_new_boolean(1) : NULL;
}

static struct json_object *swap_value(const struct run_opts *o, int opt)
{
	static const char *const full[] = { "overcommit", "stop" };
	static const char *const clean[] = { "auto", "always", "never" };
	static const char *const policy[] = { "clock", "clock-dirty", "arcw",
					      "arcw-dirty" };
	const struct swapper_config *s = &o->swap;
	struct json_object *a;
	unsigned int i;

	switch (opt) {
	case OPT_LIMIT: return o->swap_on ? jsize(s->mem_limit) : NULL;
	case OPT_SWAP_SIZE: return s->swap_size ? jsize(s->swap_size) : NULL;
	case OPT_SWAP_DIR: return jstr(s->tmpdir);
	case OPT_ENGINE: return jstr(s->io_engine);
	case OPT_FULL: return s->on_full ? jstr(full[s->on_full]) : NULL;
	case OPT_KEEP_CLEAN: return s->clean_policy ? jstr(clean[s->clean_policy]) : NULL;
	case OPT_ENCRYPT: return jtrue(s->encrypt);
	case OPT_ZTIER:
		return s->ztier && strcmp(s->ztier, "off") ? jstr(s->ztier) : NULL;
	case OPT_ZTIER_SIZE: return s->ztier_bytes ? jsize(s->ztier_bytes) : NULL;
	case OPT_POLICY: return s->policy ? jstr(policy[s->policy]) : NULL;
	case OPT_FORCE: return jtrue(s->nr_devs && s->devs[0].force);
	case OPT_FAULT_AROUND:
		return s->fault_around != 16 ? json_object_new_int((int)s->fault_around) : NULL;
	case OPT_FAULT_SPIN:
		return s->fault_spin_us < 0 ? jstr("off") : s->fault_spin_us ?
			json_object_new_int(s->fault_spin_us) : NULL;
	case OPT_SWAP:
		if (!s->nr_devs)
			return NULL;
		a = json_object_new_array();
		for (i = 0; i < s->nr_devs; i++)
			json_object_array_add(a, json_object_new_string(s->devs[i].path));
		return a;
	default:
		return NULL;
	}
}

struct json_object *config_field_value(const struct run_opts *o,
				       const struct config_field *f)
{
	static const char *const acts[] = { "destroy", "restart" };

	switch (f->opt) {
	case OPT_NAME: return jstr(o->name);
	case OPT_UUID: return jstr(o->uuid);
	case OPT_GUEST: return jstr(o->guest);
	case OPT_ARGS:
		return o->vm.guest_args && *o->vm.guest_args ? jstr(o->vm.guest_args) : NULL;
	case OPT_MEM: return o->vm.mem_size != (1ull << 30) ? jsize(o->vm.mem_size) : NULL;
	case OPT_VCPUS:
		return o->vm.nr_vcpus != 1 ? json_object_new_int((int)o->vm.nr_vcpus) : NULL;
	case OPT_BACKING:
		return o->vm.backing != GMEM_ANON ? jstr(gmem_backing_name(o->vm.backing)) : NULL;
	case OPT_LOCKED: return jtrue(o->vm.locked);
	case OPT_HUGEPAGES: return jtrue(o->vm.hugepages);
	case OPT_SOFT_LIMIT: return o->soft_limit ? jsize(o->soft_limit) : NULL;
	case OPT_MIN_GUARANTEE: return o->min_guarantee ? jsize(o->min_guarantee) : NULL;
	case OPT_DISK: return jstr(o->vm.disk_path);
	case OPT_DISK_SIZE: return o->vm.disk_size ? jsize(o->vm.disk_size) : NULL;
	case OPT_ON_POWEROFF: return o->on_poweroff ? jstr(acts[o->on_poweroff]) : NULL;
	case OPT_ON_CRASH: return o->on_crash ? jstr(acts[o->on_crash]) : NULL;
	case OPT_TIMEOUT: return o->timeout_s ? json_object_new_double(o->timeout_s) : NULL;
	case OPT_STATS: return jstr(o->stats_path);
	case OPT_STATS_INTERVAL:
		return o->stats_interval ? json_object_new_double(o->stats_interval) : NULL;
	case OPT_CTL: return jstr(o->ctl_path);
	case OPT_CTL_IDLE:
		return o->ctl_idle_timeout != CLI_CTL_IDLE_DEFAULT ?
			json_object_new_double(o->ctl_idle_timeout) : NULL;
	case OPT_NO_SECCOMP: return jtrue(o->no_seccomp);
	case OPT_BALLOON: return jtrue(o->vm.balloon);
	case OPT_SWAP_MAPPER: return jtrue(o->vm.swap_mapper);
	case OPT_SWAP_MAPPER_COUNT: return jtrue(o->vm.swap_mapper_count);
	case OPT_VHOST_USER_BLK: return jstr(o->vm.vhost_user_blk);
	case OPT_KERNEL: return jstr(o->vm.kernel_path);
	case OPT_INITRD: return jstr(o->vm.initrd_path);
	case OPT_APPEND: return jstr(o->vm.cmdline);
	case OPT_QUIET: return jtrue(o->vm.quiet);
	case OPT_VERBOSE: return o->verbose ? json_object_new_int((int)o->verbose) : NULL;
	default: return swap_value(o, f->opt);
	}
}

/* Read a regular file of at most CONFIG_MAX_BYTES (NUL-terminated). */
static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	char *buf;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open config %.300s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_BYTES) {
		snprintf(err, errlen, "config %.300s: not a regular file of at most %u bytes",
			 path, CONFIG_MAX_BYTES);
		close(fd);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size &&
	       (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

int config_load_buf(const char *name, const char *buf, size_t len,
		    struct run_opts *o, char *err, size_t errlen)
{
	size_t i = 0;
	int r = -EINVAL;
	char *p;

	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
		i = 3;          /* a UTF-8 byte-order mark */
	while (i < len && strchr(" \t\r\n", buf[i]) && buf[i])
		i++;
	if (i < len && buf[i] == '<')
		r = config_xml_load(name, buf, len, o, err, errlen);
	else if (i < len && buf[i] == '{')
		r = config_json_load(name, buf, len, o, err, errlen);
	else
		snprintf(err, errlen, "%.300s: neither a JSON object nor XML "
			 "(the first character must be '{' or '<')", name);
	/* the message quotes the file (a key, a value): one line, no
	 * control characters */
	for (p = err; r < 0 && errlen && *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	return r;
}

int config_load(const char *path, struct run_opts *o, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	r = read_file(path, &buf, &len, err, errlen);
	if (r < 0)
		return r;
	r = config_load_buf(path, buf, len, o, err, errlen);
	free(buf);
	return r;
}

static int config_usage(FILE *f, int status)
{
	fprintf(f, "usage: hvswap config FILE [--to json|xml]\n"
		"  check a VM config (hvswap JSON or libvirt domain XML, docs/config.md);\n"
		"  with --to, print it converted to that format\n");
	return status;
}

int config_main(int argc, char **argv)
{
	struct run_opts o;
	const char *file = NULL, *to = NULL;
	char err[600], *text = NULL;
	int i, r;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return config_usage(stdout, 0);
		if (!strcmp(argv[i], "--to") && i + 1 < argc)
			to = argv[++i];
		else if (!strncmp(argv[i], "--to=", 5))
			to = argv[i] + 5;
		else if (argv[i][0] == '-' || file)
			return config_usage(stderr, 2);
		else
			file = argv[i];
	}
	if (!file || (to && strcmp(to, "json") && strcmp(to, "xml")))
		return config_usage(stderr, 2);
	cli_defaults(&o);
	r = config_load(file, &o, err, sizeof(err));
	if (r == 0)
		r = cli_check(&o, err, sizeof(err));
	if (o.warnings)
		fputs(o.warnings, stderr);
	if (r < 0) {
		fprintf(stderr, "hvswap: %s\n", err);
		cli_run_opts_free(&o);
		return r == -EINVAL ? 2 : 3;
	}
	if (to) {
		text = !strcmp(to, "json") ? config_to_json(&o) : config_to_xml(&o);
		if (!text) {
			fprintf(stderr, "hvswap: out of memory\n");
			r = -ENOMEM;
		} else {
			fputs(text, stdout);
		}
		free(text);
	} else {
		fprintf(stderr, "hvswap: %s: valid\n", file);
	}
	cli_run_opts_free(&o);
	return r < 0 ? 3 : 0;
}
