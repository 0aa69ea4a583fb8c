/*
 * config_json.c - hvswap's own config format: one JSON object whose keys are
 * the fields of config_fields[] (docs/config.md), in and out.
 *
 * Line numbers: json-c keeps no positions, so a small scanner walks the
 * text once and records the line of each top-level key and of each element
 * of a top-level list (the only places a value can be); a syntax error's
 * line comes from the tokener's offset.  The scanner runs on text json-c
 * accepted - which includes 'single-quoted' strings even in strict mode:
 * the scanner finds them and they are refused, so the format is RFC 8259
 * JSON - and never indexes outside its stack whatever the text.  Duplicate keys (json-c would keep
 * the last silently) are an error at the second one.
 * Owns: nothing between calls.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define MAX_POS 256

struct jpos {
	char key[64];
	int idx;                /* -1: the key; >= 0: that list element */
	int line;
};

struct jmap {
	struct jpos pos[MAX_POS];
	unsigned int n;
	int dup_line;           /* a key given twice: the second's line */
	char dup[64];
	int squote_line;        /* a 'single-quoted' string (json-c takes it) */
};

static void add_pos(struct jmap *m, const char *key, int idx, int line)
{
	unsigned int i;

	if (idx < 0 && !m->dup_line) {
		for (i = 0; i < m->n; i++) {
			if (m->pos[i].idx < 0 && !strcmp(m->pos[i].key, key)) {
				m->dup_line = line;
				snprintf(m->dup, sizeof(m->dup), "%s", key);
			}
		}
	}
	if (m->n == MAX_POS)
		return;
	snprintf(m->pos[m->n].key, sizeof(m->pos[0].key), "%s", key);
	m->pos[m->n].idx = idx;
	m->pos[m->n].line = line;
	m->n++;
}

/* The text of a string token buf[a, b) (no quotes), escapes decoded. */
static void token_text(const char *buf, size_t a, size_t b, char *out, size_t len)
{
	char tmp[80];
	struct json_object *s;
	size_t n = b - a;

	if (!memchr(buf + a, '\\', n)) {
		snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), buf + a);
		return;
	}
	if (n > sizeof(tmp) - 3)
		n = sizeof(tmp) - 3;
	snprintf(tmp, sizeof(tmp), "\"%.*s\"", (int)n, buf + a);
	s = json_tokener_parse(tmp);
	snprintf(out, len, "%s", s && json_object_is_type(s, json_type_string) ?
		 json_object_get_string(s) : "");
	json_object_put(s);
}

static void scan(const char *buf, size_t len, struct jmap *m)
{
	char stack[64] = { 0 }, key[64] = "";
	int depth = 0, line = 1, idx = 0;
	bool want_key = false, want_elem = false;
	size_t i, j;

	for (i = 0; i < len; i++) {
		char c = buf[i];

		if (c == '\n') {
			line++;
		} else if (c == '"' || c == '\'') {
			/* json-c also takes 'single-quoted' strings: skipped
			 * alike, then refused (config_json_load) */
			if (c == '\'' && !m->squote_line)
				m->squote_line = line;
			for (j = i + 1; j < len && buf[j] != c; j++) {
				if (buf[j] == '\\')
					j++;
				else if (buf[j] == '\n')
					line++;
			}
			if (j > len)
				j = len;
			if (depth == 1 && want_key) {
				token_text(buf, i + 1, j, key, sizeof(key));
				add_pos(m, key, -1, line);
				want_key = false;
			} else if (depth == 2 && stack[1] == '[' && want_elem) {
				add_pos(m, key, idx, line);
				want_elem = false;
			}
			i = j;
		} else if (c == '{' || c == '[') {
			if (depth == 2 && stack[1] == '[' && want_elem) {
				add_pos(m, key, idx, line);
				want_elem = false;
			}
			if (depth >= 0 && depth < (int)sizeof(stack))
				stack[depth] = c;
			depth++;
			want_key = depth == 1 && c == '{';
			if (depth == 2 && c == '[') {
				want_elem = true;
				idx = 0;
			}
		} else if (c == '}' || c == ']') {
			if (depth > 0)
				depth--;
		} else if (c == ',') {
			if (depth == 1)
				want_key = true;
			else if (depth == 2 && stack[1] == '[') {
				idx++;
				want_elem = true;
			}
		} else if (!strchr(" \t\r:", c) && depth == 2 && stack[1] == '[' && want_elem) {
			add_pos(m, key, idx, line);
			want_elem = false;
		}
	}
}

static int line_of(const struct jmap *m, const char *key, int idx)
{
	unsigned int i;
	int line = 0;

	for (i = 0; i < m->n; i++) {
		if (!strcmp(m->pos[i].key, key) && m->pos[i].idx == -1)
			line = m->pos[i].line;
		if (!strcmp(m->pos[i].key, key) && m->pos[i].idx == idx && idx >= 0)
			return m->pos[i].line;
	}
	return line ? line : 1;
}

static int line_at(const char *buf, size_t off)
{
	int line = 1;
	size_t i;

	for (i = 0; i < off; i++)
		line += buf[i] == '\n';
	return line;
}

/* Which element of a list value is at fault: the first that fails alone. */
static int bad_element(const struct config_field *f,
		       struct json_object *v)
{
	struct run_opts tmp;
	char e[16];
	size_t i;
	int found = -1;

	if (!json_object_is_type(v, json_type_array))
		return -1;
	for (i = 0; i < json_object_array_length(v) && found < 0; i++) {
		cli_defaults(&tmp);
		if (config_set_json(&tmp, f, json_object_array_get_idx(v, i), e, sizeof(e)) < 0 ||
		    (f->kind == CFG_LIST && i >= SWAPPER_MAX_DEVS))
			found = (int)i;
		cli_run_opts_free(&tmp);
	}
	return found;
}

static int load_obj(const char *name, struct json_object *root, const struct jmap *m,
		    struct run_opts *o, char *err, size_t errlen)
{
	char msg[512];

	json_object_object_foreach(root, key, val) {
		const struct config_field *f = config_field_find(key);
		int r;

		if (!f) {
			cli_warn(o, "%s:%d: warning: unknown field '%.64s' ignored", name,
				 line_of(m, key, -1), key);
			continue;
		}
		r = config_set_json(o, f, val, msg, sizeof(msg));
		if (r < 0) {
			int idx = f->kind == CFG_LIST || f->kind == CFG_ARGS ?
				bad_element(f, val) : -1;

			snprintf(err, errlen, "%s:%d: %s", name, line_of(m, key, idx), msg);
			return r;
		}
	}
	return 0;
}

int config_json_load(const char *name, const char *buf, size_t len,
		     struct run_opts *o, char *err, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root;
	struct jmap *m;
	size_t end;
	int r = -EINVAL;

	m = calloc(1, sizeof(*m));
	if (!tok || !m) {
		json_tokener_free(tok);
		free(m);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3)) {
		buf += 3;       /* a UTF-8 byte-order mark */
		len -= 3;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, buf, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (!root || json_tokener_get_error(tok) != json_tokener_success) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		snprintf(err, errlen, "%s:%d: invalid JSON: %s", name, line_at(buf, end),
			 e == json_tokener_continue ? "unexpected end of file" :
			 json_tokener_error_desc(e));
		goto out;
	}
	while (end < len && strchr(" \t\r\n", buf[end]) && buf[end])
		end++;
	if (end < len) {
		snprintf(err, errlen, "%s:%d: invalid JSON: text after the object",
			 name, line_at(buf, end));
		goto out;
	}
	if (!json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "%s:1: a config is one JSON object", name);
		goto out;
	}
	scan(buf, len, m);
	if (m->squote_line) {
		snprintf(err, errlen, "%s:%d: invalid JSON: a 'single-quoted' string",
			 name, m->squote_line);
		goto out;
	}
	if (m->dup_line) {
		snprintf(err, errlen, "%s:%d: duplicate key '%s'", name, m->dup_line, m->dup);
		goto out;
	}
	r = load_obj(name, root, m, o, err, errlen);
out:
	json_object_put(root);
	json_tokener_free(tok);
	free(m);
	return r;
}

char *config_to_json(const struct run_opts *o)
{
	struct json_object *root = json_object_new_object();
	const struct config_field *f;
	char *s;

	if (!root)
		return NULL;
	for (f = config_fields; f->key; f++) {
		struct json_object *v = config_field_value(o, f);

		if (v)
			json_object_object_add(root, f->key, v);
	}
	s = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
						  JSON_C_TO_STRING_SPACED |
						  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	if (s) {
		char *n = realloc(s, strlen(s) + 2);

		if (!n) {
			free(s);
			return NULL;
		}
		strcat(n, "\n");
		s = n;
	}
	return s;
}
