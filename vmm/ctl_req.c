/*
 * ctl_req.c - the one validator of control-socket requests.
 *
 * A request line is parsed with json-c into a `struct ctl_req`; nothing else
 * reads request JSON.  The rules, per command, live in one table (cmds[]):
 * every field has a type, a range and whether it is required; a field not in
 * the table, a missing required field, a wrong type or a value out of range
 * is an error that names the field.  Cross-field rules are a per-command
 * check() run afterwards.
 *
 * Values:
 *   size  an integer number of bytes (>= 0) or a string "512M" / "1G" /
 *         "4096" (parse_size(): binary units); doubles are refused.
 *   int   an integer in the field's range.
 *   str   a non-empty string without NUL bytes, shorter than PATH_MAX.
 *
 * Duplicate keys: json-c keeps the last of them silently, so the raw text
 * is scanned for the object's own keys first (find_duplicate()), and a
 * request naming one key twice is refused.
 *
 * No state, no locks: safe from any thread.
 */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "util.h"

#define KIB (1ull << 10)
#define MIB (1ull << 20)
#define TIB (1ull << 40)

enum ftype {
	F_STR,                  /* char *, required non-empty string */
	F_STR_OR_NULL,          /* char *, null leaves NULL */
	F_SIZE,                 /* uint64_t, bytes */
	F_INT,                  /* int64_t */
};

struct field {
	const char *name;
	enum ftype type;
	bool required;
	size_t off;             /* into struct ctl_req */
	int64_t min;            /* F_INT */
	uint64_t max;           /* F_INT, F_SIZE */
};

struct cmd_desc {
	const char *name;
	struct field fields[4];
	int (*check)(struct ctl_req *req, char *err, size_t errlen);
};

#define FLD(n, t, req, member, lo, hi) \
	{ n, t, req, offsetof(struct ctl_req, member), lo, hi }

static int check_swapon(struct ctl_req *req, char *err, size_t errlen);
static int check_limit(struct ctl_req *req, char *err, size_t errlen);

/* Indexed by enum ctl_cmd. */
static const struct cmd_desc cmds[CTL_NR_CMDS] = {
	[CTL_STATS] = { "stats", { { 0 } }, NULL },
	[CTL_DEVICES] = { "devices", { { 0 } }, NULL },
	[CTL_SWAPON] = { "swapon", {
		FLD("path", F_STR_OR_NULL, false, path, 0, 0),
		FLD("size", F_SIZE, false, size, 0, 16 * TIB),
		FLD("prio", F_INT, false, prio, -32768, 32767),
		FLD("force", F_INT, false, force, 0, 1),
	}, check_swapon },
	[CTL_SWAPOFF] = { "swapoff", { FLD("dev", F_STR, true, dev, 0, 0) }, NULL },
	[CTL_SET_LIMIT] = { "set-limit", {
		FLD("limit", F_SIZE, true, limit, 0, 1ull << 50),
	}, check_limit },
	[CTL_MIGRATE] = { "migrate", {
		FLD("from", F_STR, true, from, 0, 0),
		FLD("to", F_STR, true, to, 0, 0),
	}, NULL },
	[CTL_COMPACT] = { "compact", { FLD("dev", F_STR, true, dev, 0, 0) }, NULL },
	[CTL_TRIM] = { "trim", { { 0 } }, NULL },
	[CTL_NUMA_MOVE] = { "numa-move", { FLD("node", F_INT, true, node, 0, 1023) }, NULL },
};

#define NFIELDS (sizeof(cmds[0].fields) / sizeof(cmds[0].fields[0]))

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

const char *ctl_cmd_name(enum ctl_cmd cmd)
{
	return (unsigned int)cmd < CTL_NR_CMDS ? cmds[cmd].name : "?";
}

static int check_swapon(struct ctl_req *req, char *err, size_t errlen)
{
	if (!req->path && !req->size)
		return fail(err, errlen, "swapon: a temporary device (no path) needs a size");
	if (req->size && req->size < MIB)
		return fail(err, errlen, "swapon: size must be at least 1M");
	if (req->size % (4 * KIB))
		return fail(err, errlen, "swapon: size must be a multiple of 4K");
	return 0;
}

static int check_limit(struct ctl_req *req, char *err, size_t errlen)
{
	if (req->limit && req->limit < MIB)
		return fail(err, errlen, "set-limit: limit must be 0 (none) or at least 1M");
	return 0;
}

static int get_str(const struct field *f, struct json_object *v, char **out,
		   char *err, size_t errlen)
{
	const char *s;
	size_t n;

	if (f->type == F_STR_OR_NULL && json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return fail(err, errlen, "field '%s': must be a string%s", f->name,
			    f->type == F_STR_OR_NULL ? " or null" : "");
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (n == 0 || strlen(s) != n || n >= PATH_MAX)
		return fail(err, errlen, "field '%s': must be a non-empty string "
			    "without NUL bytes, shorter than %d", f->name, PATH_MAX);
	*out = strdup(s);
	return *out ? 0 : fail(err, errlen, "out of memory");
}

static int get_size(const struct field *f, struct json_object *v, uint64_t *out,
		    char *err, size_t errlen)
{
	uint64_t x;
	int r;

	if (json_object_is_type(v, json_type_int)) {
		if (json_object_get_int64(v) < 0)
			return fail(err, errlen, "field '%s': must not be negative", f->name);
		x = json_object_get_uint64(v);
	} else if (json_object_is_type(v, json_type_string)) {
		r = parse_size(json_object_get_string(v), &x);
		if (r == -ERANGE)
			return fail(err, errlen, "field '%s': out of range", f->name);
		if (r < 0 || strlen(json_object_get_string(v)) !=
			     (size_t)json_object_get_string_len(v))
			return fail(err, errlen, "field '%s': '%.64s' is not a size "
				    "(bytes, or a number with K/M/G/T)", f->name,
				    json_object_get_string(v));
	} else {
		return fail(err, errlen, "field '%s': must be an integer number of "
			    "bytes or a size string like \"1G\"", f->name);
	}
	if (x > f->max)
		return fail(err, errlen, "field '%s': %llu is out of range (max %llu)",
			    f->name, (unsigned long long)x, (unsigned long long)f->max);
	*out = x;
	return 0;
}

static int get_int(const struct field *f, struct json_object *v, int64_t *out,
		   char *err, size_t errlen)
{
	int64_t x;

	if (!json_object_is_type(v, json_type_int))
		return fail(err, errlen, "field '%s': must be an integer", f->name);
	x = json_object_get_int64(v);
	if (x < f->min || (x > 0 && (uint64_t)x > f->max))
		return fail(err, errlen, "field '%s': must be in [%lld, %llu]", f->name,
			    (long long)f->min, (unsigned long long)f->max);
	*out = x;
	return 0;
}

static int get_field(const struct field *f, struct json_object *v,
		     struct ctl_req *req, char *err, size_t errlen)
{
	void *dst = (char *)req + f->off;

	switch (f->type) {
	case F_STR:
	case F_STR_OR_NULL:
		return get_str(f, v, dst, err, errlen);
	case F_SIZE:
		return get_size(f, v, dst, err, errlen);
	case F_INT:
		return get_int(f, v, dst, err, errlen);
	}
	return fail(err, errlen, "internal: bad field type");
}

static const struct field *find_field(const struct cmd_desc *d, const char *name)
{
	unsigned int i;

	for (i = 0; i < NFIELDS && d->fields[i].name; i++) {
		if (!strcmp(d->fields[i].name, name))
			return &d->fields[i];
	}
	return NULL;
}

/* Every key is known and well-typed, every required field present. */
static int get_fields(const struct cmd_desc *d, struct json_object *o,
		      struct ctl_req *req, char *err, size_t errlen)
{
	const struct field *f;
	unsigned int i;
	int r;

	json_object_object_foreach(o, key, val) {
		if (!strcmp(key, "cmd"))
			continue;
		f = find_field(d, key);
		if (!f)
			return fail(err, errlen, "%s: unknown field '%.64s'", d->name, key);
		r = get_field(f, val, req, err, errlen);
		if (r < 0)
			return r;
	}
	for (i = 0; i < NFIELDS && d->fields[i].name; i++) {
		if (d->fields[i].required && !json_object_object_get_ex(o, d->fields[i].name, NULL))
			return fail(err, errlen, "%s: missing field '%s'", d->name,
				    d->fields[i].name);
	}
	return d->check ? d->check(req, err, errlen) : 0;
}

static int find_cmd(struct json_object *o, char *err, size_t errlen)
{
	struct json_object *c;
	const char *name;
	unsigned int i;

	if (!json_object_object_get_ex(o, "cmd", &c))
		return fail(err, errlen, "missing field 'cmd'");
	if (!json_object_is_type(c, json_type_string))
		return fail(err, errlen, "field 'cmd': must be a string");
	name = json_object_get_string(c);
	for (i = 0; i < CTL_NR_CMDS; i++) {
		if (!strcmp(cmds[i].name, name))
			return (int)i;
	}
	return fail(err, errlen, "unknown cmd '%.64s' (stats, devices, swapon, swapoff, "
		    "set-limit, migrate, compact, trim, numa-move)", name);
}

/* Length of the valid UTF-8 sequence at s[0, n) (RFC 3629: no overlong
 * forms, no surrogates, at most U+10FFFF), 0 if there is none. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t c;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, c = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return len;
}

static bool utf8_valid(const char *s, size_t n)
{
	size_t k;

	while (n) {
		k = utf8_seq((const unsigned char *)s, n);
		if (!k)
			return false;
		s += k;
		n -= k;
	}
	return true;
}

void ctl_utf8_sanitize(char *s)
{
	size_t n = strlen(s), k;

	while (n) {
		k = utf8_seq((const unsigned char *)s, n);
		if (!k) {
			*s = '?';
			k = 1;
		}
		s += k;
		n -= k;
	}
}

/* Only white space in s[0, n) (s need not be NUL-terminated). */
static bool blank(const char *s, size_t n)
{
	while (n && (*s == ' ' || *s == '\t' || *s == '\r')) {
		s++;
		n--;
	}
	return n == 0;
}

/* The JSON string token at s[0] ('"'); its length including the quotes. */
static size_t string_token(const char *s, size_t n)
{
	size_t i;

	for (i = 1; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return 0;
}

/* Decode the key token s[0, n) (quotes included) to out (room for n bytes:
 * decoding never lengthens); its length, or -1. */
static int decode_key(const char *s, size_t n, char *out)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *k = NULL;
	int len = -1;

	if (tok)
		k = json_tokener_parse_ex(tok, s, (int)n);
	if (k && json_object_is_type(k, json_type_string)) {
		len = json_object_get_string_len(k);
		memcpy(out, json_object_get_string(k), (size_t)len + 1);
	}
	json_object_put(k);
	if (tok)
		json_tokener_free(tok);
	return len;
}

static bool skip_blank(const char *s, size_t n, size_t *i)
{
	while (*i < n && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\r' || s[*i] == '\n'))
		(*i)++;
	return *i < n;
}

/*
 * A key that the top-level object of the (already valid) JSON text
 * line[0, len) names twice: copied into dup, returns true.  A key is a
 * string token at depth 1 followed by ':'.  Keys are compared decoded
 * ("cmd" and "\u0063md" are the same key; a key with a NUL is compared up
 * to it, which only matters for keys that are refused anyway).
 */
static bool find_duplicate(const char *line, size_t len, char *dup, size_t duplen)
{
	size_t i = 0, t, k, nkeys = 0, used = 0;
	size_t *off = calloc(len / 4 + 1, sizeof(*off));
	char *keys = malloc(len + 1);
	bool found = false;
	int depth = 0, n;

	if (!off || !keys)
		goto out;
	while (i < len) {
		if (line[i] == '"') {
			t = string_token(line + i, len - i);
			if (!t)
				goto out;
			k = i + t;
			/* a key: at depth 1 and followed by ':' (len/4 bounds
			 * the keys: each takes at least "":0, four bytes) */
			if (depth == 1 && skip_blank(line, len, &k) && line[k] == ':' &&
			    nkeys < len / 4 + 1 &&
			    (n = decode_key(line + i, t, keys + used)) >= 0) {
				off[nkeys++] = used;
				used += (size_t)n + 1;
			}
			i += t;
			continue;
		}
		if (line[i] == '{' || line[i] == '[')
			depth++;
		else if (line[i] == '}' || line[i] == ']')
			depth--;
		i++;
	}
	for (i = 0; i < nkeys && !found; i++) {
		for (k = i + 1; k < nkeys && !found; k++)
			found = !strcmp(keys + off[i], keys + off[k]);
	}
	if (found)
		snprintf(dup, duplen, "%s", keys + off[i - 1]);
out:
	free(off);
	free(keys);
	return found;
}

/* The line as one JSON object, nothing after it but white space. */
static struct json_object *parse_object(const char *line, size_t len,
					char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *o;
	char dup[256];
	size_t end;

	if (memchr(line, '\0', len)) {
		fail(err, errlen, "request contains a NUL byte");
		return NULL;
	}
	if (!utf8_valid(line, len)) {
		fail(err, errlen, "request is not valid UTF-8");
		return NULL;
	}
	tok = json_tokener_new_ex(8);
	if (!tok) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, line, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (!o) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		if (e == json_tokener_continue)
			fail(err, errlen, "not JSON: incomplete");
		else
			fail(err, errlen, "not JSON: %s at byte %zu",
			     json_tokener_error_desc(e), end);
	} else if (!json_object_is_type(o, json_type_object)) {
		fail(err, errlen, "request must be a JSON object");
		json_object_put(o);
		o = NULL;
	} else if (!blank(line + end, len - end)) {
		fail(err, errlen, "not JSON: trailing data after the object");
		json_object_put(o);
		o = NULL;
	} else if (find_duplicate(line, end, dup, sizeof(dup))) {
		ctl_utf8_sanitize(dup);
		fail(err, errlen, "duplicate key '%.64s' in the request", dup);
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

int ctl_req_parse(const char *line, size_t len, struct ctl_req *req,
		  char *err, size_t errlen)
{
	struct json_object *o;
	int r;

	memset(req, 0, sizeof(*req));
	if (len > CTL_MAX_LINE)
		return fail(err, errlen, "request longer than %d bytes", CTL_MAX_LINE);
	o = parse_object(line, len, err, errlen);
	if (!o)
		return -EINVAL;
	r = find_cmd(o, err, errlen);
	if (r >= 0) {
		req->cmd = (enum ctl_cmd)r;
		r = get_fields(&cmds[r], o, req, err, errlen);
	}
	json_object_put(o);
	if (r < 0)
		ctl_req_free(req);
	return r < 0 ? r : 0;
}

void ctl_req_free(struct ctl_req *req)
{
	free(req->path);
	free(req->dev);
	free(req->from);
	free(req->to);
	req->path = req->dev = req->from = req->to = NULL;
}
