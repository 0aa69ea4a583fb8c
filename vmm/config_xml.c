/*
 * config_xml.c - the libvirt domain XML subset (docs/config.md), in and out,
 * with libxml2.
 *
 * Read: <name>, <uuid>, <memory>/<currentMemory> (unit= as libvirt, KiB by
 * default), <vcpu>, <memtune> (hard_limit -> mem_limit, soft_limit,
 * min_guarantee, swap_hard_limit -> swap_size), <memoryBacking> (<source
 * type='anonymous|memfd'/>, <locked/>, <hugepages/>), <os> (<type>hvm,
 * <kernel> an embedded guest name or an image path, <cmdline>), one
 * <devices><disk type='file' device='disk'> with a virtio target,
 * <on_poweroff>/<on_crash>, and hvswap's own settings as
 * <metadata><hvswap:config xmlns:hvswap=CONFIG_XML_NS><hvswap:KEY>.  Other
 * elements: a warning naming each.  Values go through cli_set_opt() (the
 * command line's checks); a refused one is "FILE:LINE: ..." (xmlGetLineNo).
 *
 * Validation: against libvirt's own RelaxNG schema (CONFIG_LIBVIRT_SCHEMA,
 * Debian package libvirt0) when it is there - a violation is an error with
 * its line; without it a warning says validation was skipped.  A bare guest
 * name in <kernel> (libvirt wants an absolute path) is validated as if it
 * were "/NAME": hvswap's one extension of libvirt's grammar.
 * Safety: no network, no DTD (a document type declaration is refused, so no
 * entity expansion), files of at most CONFIG_MAX_BYTES (config.c).
 * Owns: nothing between calls; the libxml2 documents are freed here.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/tree.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"

struct xctx {
	const char *name;
	struct run_opts *o;
	char *err;
	size_t errlen;
	uint64_t cur;           /* <currentMemory> bytes, 0: absent */
	xmlNode *cur_node;
	unsigned int disks;
};

#define NAME(n) ((const char *)(n)->name)
#define IS(n, s) (!strcmp(NAME(n), (s)))

__attribute__((format(printf, 3, 4)))
static int xerr(struct xctx *x, xmlNode *n, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(x->err, x->errlen, "%s:%ld: %s", x->name, n ? xmlGetLineNo(n) : 1L, msg);
	return -EINVAL;
}

static void unknown(struct xctx *x, xmlNode *n, const char *where)
{
	cli_warn(x->o, "%s:%ld: warning: <%.64s>%s%s is not used by hvswap: ignored",
		 x->name, xmlGetLineNo(n), NAME(n), where ? " in " : "", where ? where : "");
}

/* The node's text in buf (too long: an error); blanks around it trimmed
 * unless raw (free text: paths, guest arguments). */
static int text_raw(struct xctx *x, xmlNode *n, char *buf, size_t len, bool raw)
{
	xmlChar *c = xmlNodeGetContent(n);
	const char *s = c ? (const char *)c : "";
	size_t l;

	while (!raw && *s && strchr(" \t\r\n", *s))
		s++;
	l = strlen(s);
	while (!raw && l && strchr(" \t\r\n", s[l - 1]))
		l--;
	if (l >= len) {
		xmlFree(c);
		return xerr(x, n, "<%s>: value too long", NAME(n));
	}
	memcpy(buf, s, l);
	buf[l] = '\0';
	xmlFree(c);
	return 0;
}

static int text_of(struct xctx *x, xmlNode *n, char *buf, size_t len)
{
	return text_raw(x, n, buf, len, false);
}

static const char *attr(xmlNode *n, const char *name, char *buf, size_t len)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)name);

	if (!v)
		return NULL;
	snprintf(buf, len, "%s", (const char *)v);
	xmlFree(v);
	return buf;
}

/* One option from text, refused values reported at the node. */
static int set(struct xctx *x, xmlNode *n, int opt, const char *text)
{
	char what[80], msg[512], *s = NULL;
	int r;

	if (text && !(s = cli_own(x->o, text)))
		return xerr(x, n, "out of memory");
	snprintf(what, sizeof(what), "<%s>", NAME(n));
	r = cli_set_opt(x->o, opt, s, what, msg, sizeof(msg));
	return r < 0 ? xerr(x, n, "%s", msg) : 0;
}

/* libvirt's scaled integers: unit= b, bytes, KB, k, KiB, MB, M, MiB, ...
 * (KB = 1000, KiB = k = 1024; letters case-insensitive); KiB by default. */
static int scaled(struct xctx *x, xmlNode *n, uint64_t *out)
{
	static const char *const bin = "kmgtpe";
	char u[16] = "KiB", t[64], *end;
	uint64_t v, mul = 1;
	const char *p;
	int k;

	attr(n, "unit", u, sizeof(u));
	if (text_of(x, n, t, sizeof(t)) < 0)
		return -EINVAL;
	if (!strcasecmp(u, "b") || !strcasecmp(u, "bytes")) {
		mul = 1;
	} else if ((p = strchr(bin, (char)(u[0] | 0x20))) && u[0] != '\0' &&
		   (!u[1] || !strcasecmp(u + 1, "iB") || !strcasecmp(u + 1, "B"))) {
		unsigned int base = !strcasecmp(u + 1, "B") ? 1000 : 1024;

		for (k = 0; k <= p - bin; k++)
			mul *= base;
	} else {
		return xerr(x, n, "<%s>: unknown unit '%s'", NAME(n), u);
	}
	errno = 0;
	v = strtoull(t, &end, 10);
	if (!t[0] || *end || t[0] == '-' || t[0] == '+' || errno)
		return xerr(x, n, "<%s>: '%s' is not a whole number", NAME(n), t);
	if (v && mul > UINT64_MAX / v)
		return xerr(x, n, "<%s>: %s %s is too large", NAME(n), t, u);
	*out = v * mul;
	return 0;
}

static int set_size(struct xctx *x, xmlNode *n, int opt)
{
	char b[32];
	uint64_t v;

	if (scaled(x, n, &v) < 0)
		return -EINVAL;
	/* libvirt writes "unlimited" as 2^53-1 KiB (VIR_DOMAIN_MEMORY_PARAM_UNLIMITED) */
	if ((opt == OPT_LIMIT || opt == OPT_SOFT_LIMIT || opt == OPT_SWAP_SIZE) &&
	    v >= CLI_SIZE_UNLIMITED)
		return 0;
	snprintf(b, sizeof(b), "%" PRIu64, v);
	return set(x, n, opt, b);
}

static int set_text(struct xctx *x, xmlNode *n, int opt)
{
	char t[4096];

	/* free text (the guest, its arguments) is taken as written */
	if (text_raw(x, n, t, sizeof(t), opt == OPT_GUEST || opt == OPT_ARGS) < 0)
		return -EINVAL;
	if (!config_text_ok(t))
		return xerr(x, n, "<%s>: control characters", NAME(n));
	return set(x, n, opt, t);
}

static int memtune(struct xctx *x, xmlNode *m)
{
	xmlNode *n;
	int r = 0;

	for (n = m->children; n && !r; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (IS(n, "hard_limit"))
			r = set_size(x, n, OPT_LIMIT);
		else if (IS(n, "soft_limit"))
			r = set_size(x, n, OPT_SOFT_LIMIT);
		else if (IS(n, "min_guarantee"))
			r = set_size(x, n, OPT_MIN_GUARANTEE);
		else if (IS(n, "swap_hard_limit"))
			r = set_size(x, n, OPT_SWAP_SIZE);
		else
			unknown(x, n, "<memtune>");
	}
	return r;
}

static int backing(struct xctx *x, xmlNode *m)
{
	char t[32];
	xmlNode *n;
	int r = 0;

	for (n = m->children; n && !r; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (IS(n, "source")) {
			if (!attr(n, "type", t, sizeof(t)))
				r = xerr(x, n, "<source> needs type='anonymous' or 'memfd'");
			else if (!strcmp(t, "anonymous") || !strcmp(t, "memfd"))
				r = set(x, n, OPT_BACKING, t[0] == 'a' ? "anon" : "memfd");
			else
				r = xerr(x, n, "<source type='%.32s'>: hvswap backs guest "
					 "RAM with 'anonymous' or 'memfd' memory", t);
		} else if (IS(n, "locked")) {
			r = set(x, n, OPT_LOCKED, NULL);
		} else if (IS(n, "hugepages")) {
			r = set(x, n, OPT_HUGEPAGES, NULL);
		} else {
			unknown(x, n, "<memoryBacking>");
		}
	}
	return r;
}

static int os(struct xctx *x, xmlNode *m)
{
	char t[32];
	xmlNode *n;
	int r = 0;

	for (n = m->children; n && !r; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (IS(n, "type")) {
			r = text_of(x, n, t, sizeof(t));
			if (!r && strcmp(t, "hvm"))
				r = xerr(x, n, "<type>%.32s</type>: hvswap runs 'hvm' guests", t);
		} else if (IS(n, "kernel")) {
			r = set_text(x, n, OPT_GUEST);
		} else if (IS(n, "cmdline")) {
			r = set_text(x, n, OPT_ARGS);
		} else {
			unknown(x, n, "<os>");
		}
	}
	return r;
}

static int disk_child(struct xctx *x, xmlNode *n, bool *have_src)
{
	char a[4096], b[64];

	if (IS(n, "source")) {
		if (!attr(n, "file", a, sizeof(a)) || !a[0])
			return xerr(x, n, "<source> needs file='PATH'");
		if (!config_text_ok(a))
			return xerr(x, n, "<source file>: control characters");
		*have_src = true;
		return set(x, n, OPT_DISK, a);
	}
	if (IS(n, "target")) {
		if (attr(n, "bus", b, sizeof(b)) ? strcmp(b, "virtio") :
		    !attr(n, "dev", b, sizeof(b)) || strncmp(b, "vd", 2))
			return xerr(x, n, "<target>: hvswap's disk is virtio "
				    "(bus='virtio', dev='vdX')");
		return 0;
	}
	if (IS(n, "driver")) {
		if (attr(n, "type", b, sizeof(b)) && strcmp(b, "raw"))
			return xerr(x, n, "<driver type='%.32s'>: hvswap reads raw "
				    "images only", b);
		return 0;
	}
	unknown(x, n, "<disk>");
	return 0;
}

static int disk(struct xctx *x, xmlNode *d)
{
	char t[32];
	bool have_src = false;
	xmlNode *n;
	int r = 0;

	if (++x->disks > 1)
		return xerr(x, d, "a second <disk>: hvswap gives a guest one virtio disk");
	if (!attr(d, "type", t, sizeof(t)) || strcmp(t, "file"))
		return xerr(x, d, "<disk>: only type='file' is supported");
	if (attr(d, "device", t, sizeof(t)) && strcmp(t, "disk"))
		return xerr(x, d, "<disk device='%.32s'>: only device='disk' is supported", t);
	for (n = d->children; n && !r; n = n->next) {
		if (n->type == XML_ELEMENT_NODE)
			r = disk_child(x, n, &have_src);
	}
	if (!r && !have_src)
		r = xerr(x, d, "<disk> needs <source file='PATH'/>");
	return r;
}

static int devices(struct xctx *x, xmlNode *m)
{
	xmlNode *n;
	int r = 0;

	for (n = m->children; n && !r; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (IS(n, "disk"))
			r = disk(x, n);
		else
			unknown(x, n, "<devices>");
	}
	return r;
}

/* <metadata><hvswap:config><hvswap:KEY>VALUE</hvswap:KEY>... */
static int metadata(struct xctx *x, xmlNode *m)
{
	char t[4096], msg[512];
	xmlNode *c, *n;

	for (c = m->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE || !c->ns || !c->ns->href ||
		    strcmp((const char *)c->ns->href, CONFIG_XML_NS))
			continue;       /* someone else's metadata */
		if (!IS(c, "config")) {
			unknown(x, c, "<metadata>");
			continue;
		}
		for (n = c->children; n; n = n->next) {
			const struct config_field *f;

			if (n->type != XML_ELEMENT_NODE)
				continue;
			f = config_field_find(NAME(n));
			if (!f) {
				unknown(x, n, "<hvswap:config>");
				continue;
			}
			if (text_raw(x, n, t, sizeof(t), f->kind == CFG_STR ||
				     f->kind == CFG_LIST || f->kind == CFG_ARGS) < 0)
				return -EINVAL;
			if (config_set_text(x->o, f, t, msg, sizeof(msg)) < 0)
				return xerr(x, n, "%s", msg);
		}
	}
	return 0;
}

static int domain_child(struct xctx *x, xmlNode *n)
{
	if (IS(n, "name"))
		return set_text(x, n, OPT_NAME);
	if (IS(n, "uuid"))
		return set_text(x, n, OPT_UUID);
	if (IS(n, "memory"))
		return set_size(x, n, OPT_MEM);
	if (IS(n, "currentMemory")) {
		x->cur_node = n;
		return scaled(x, n, &x->cur);
	}
	if (IS(n, "vcpu"))
		return set_text(x, n, OPT_VCPUS);
	if (IS(n, "memtune"))
		return memtune(x, n);
	if (IS(n, "memoryBacking"))
		return backing(x, n);
	if (IS(n, "os"))
		return os(x, n);
	if (IS(n, "on_poweroff"))
		return set_text(x, n, OPT_ON_POWEROFF);
	if (IS(n, "on_crash"))
		return set_text(x, n, OPT_ON_CRASH);
	if (IS(n, "devices"))
		return devices(x, n);
	if (IS(n, "metadata"))
		return metadata(x, n);
	unknown(x, n, NULL);
	return 0;
}

static int walk(struct xctx *x, xmlNode *root)
{
	xmlNode *n;
	int r = 0;

	if (!IS(root, "domain") || root->ns)
		return xerr(x, root, "the root element is <%.64s>, not <domain>", NAME(root));
	for (n = root->children; n && !r; n = n->next) {
		if (n->type == XML_ELEMENT_NODE)
			r = domain_child(x, n);
	}
	if (r == 0 && x->cur_node) {
		if (x->cur > x->o->vm.mem_size)
			return xerr(x, x->cur_node, "<currentMemory> above <memory>");
		if (x->cur < x->o->vm.mem_size)
			cli_warn(x->o, "%s:%ld: warning: <currentMemory> below <memory>: "
				 "hvswap has no balloon, the guest gets all of <memory>",
				 x->name, xmlGetLineNo(x->cur_node));
	}
	return r;
}

/* libxml2's messages may span lines ("...!\nBytes: 0xCD"): one line. */
static void flatten(char *s)
{
	size_t l = strlen(s);

	while (l && (s[l - 1] == '\n' || s[l - 1] == ' '))
		s[--l] = '\0';
	for (; *s; s++) {
		if (*s == '\n')
			*s = ' ';
		else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
	}
}

/* The first schema complaint (its line and message). */
struct verr {
	int line;
	char msg[300];
};

static void on_verr(void *arg, xmlErrorPtr e)
{
	struct verr *v = arg;

	if (v->line || !e)
		return;
	v->line = e->line > 0 ? e->line : 1;
	snprintf(v->msg, sizeof(v->msg), "%s", e->message ? e->message : "invalid");
	flatten(v->msg);
}

/* libvirt's absFilePath for a bare embedded-guest name: "/NAME". */
static void normalize_kernel(xmlNode *root)
{
	xmlNode *os, *k;

	for (os = root->children; os; os = os->next) {
		if (os->type != XML_ELEMENT_NODE || !IS(os, "os"))
			continue;
		for (k = os->children; k; k = k->next) {
			xmlChar *c;

			if (k->type != XML_ELEMENT_NODE || !IS(k, "kernel"))
				continue;
			c = xmlNodeGetContent(k);
			if (c && c[0] && !strchr((const char *)c, '/')) {
				char buf[300];

				snprintf(buf, sizeof(buf), "/%s", (const char *)c);
				xmlNodeSetContent(k, (const xmlChar *)buf);
			}
			xmlFree(c);
		}
	}
}

static int validate(struct xctx *x, xmlDoc *doc)
{
	const char *path = getenv("HVSWAP_LIBVIRT_SCHEMA");
	xmlRelaxNGParserCtxtPtr pc;
	xmlRelaxNGValidCtxtPtr vc;
	xmlRelaxNGPtr schema;
	struct verr pe = { 0 }, ve = { 0 };
	xmlDoc *copy;
	int r;

	if (!path || !*path)
		path = CONFIG_LIBVIRT_SCHEMA;
	if (access(path, R_OK) != 0) {
		cli_warn(x->o, "%s: libvirt's domain schema %s is not there (Debian: "
			 "package libvirt0): validation skipped", x->name, path);
		return 0;
	}
	pc = xmlRelaxNGNewParserCtxt(path);
	if (!pc)
		return xerr(x, NULL, "out of memory");
	xmlRelaxNGSetParserStructuredErrors(pc, on_verr, &pe);
	schema = xmlRelaxNGParse(pc);
	xmlRelaxNGFreeParserCtxt(pc);
	if (!schema) {
		cli_warn(x->o, "%s: cannot read libvirt's domain schema %s (%s): "
			 "validation skipped", x->name, path, pe.msg);
		return 0;
	}
	copy = xmlCopyDoc(doc, 1);
	vc = xmlRelaxNGNewValidCtxt(schema);
	if (!copy || !vc) {
		r = xerr(x, NULL, "out of memory");
		goto out;
	}
	normalize_kernel(xmlDocGetRootElement(copy));
	xmlRelaxNGSetValidStructuredErrors(vc, on_verr, &ve);
	r = xmlRelaxNGValidateDoc(vc, copy);
	if (r != 0) {
		snprintf(x->err, x->errlen, "%s:%d: not valid for libvirt's domain schema "
			 "(%s): %s", x->name, ve.line ? ve.line : 1, path,
			 ve.line ? ve.msg : "invalid");
		r = -EINVAL;
	}
out:
	xmlRelaxNGFreeValidCtxt(vc);
	xmlFreeDoc(copy);
	xmlRelaxNGFree(schema);
	return r;
}

static void quiet_generic(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

int config_xml_load(const char *name, const char *buf, size_t len,
		    struct run_opts *o, char *err, size_t errlen)
{
	struct xctx x = { .name = name, .o = o, .err = err, .errlen = errlen };
	xmlParserCtxtPtr pc;
	xmlDoc *doc;
	int r;

	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, quiet_generic);
	pc = xmlNewParserCtxt();
	if (!pc)
		return xerr(&x, NULL, "out of memory");
	doc = xmlCtxtReadMemory(pc, buf, (int)len, name, NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		xmlErrorPtr e = xmlCtxtGetLastError(pc);
		char msg[300] = "invalid XML";

		if (e && e->message)
			snprintf(msg, sizeof(msg), "invalid XML: %s", e->message);
		flatten(msg);
		snprintf(err, errlen, "%s:%d: %s", name, e && e->line > 0 ? e->line : 1, msg);
		xmlFreeParserCtxt(pc);
		return -EINVAL;
	}
	xmlFreeParserCtxt(pc);
	if (doc->intSubset || doc->extSubset) {
		r = xerr(&x, NULL, "a document type declaration (<!DOCTYPE>) is not allowed");
	} else if (!xmlDocGetRootElement(doc)) {
		r = xerr(&x, NULL, "no root element");
	} else {
		r = validate(&x, doc);
		if (r == 0)
			r = walk(&x, xmlDocGetRootElement(doc));
	}
	xmlFreeDoc(doc);
	return r;
}

/* ---- out ---- */

static void add_size(xmlNode *parent, const char *el, uint64_t b)
{
	char v[32];
	const char *unit = "b";
	xmlNode *n;

	if (b % (1u << 20) == 0) {
		b >>= 20;
		unit = "MiB";
	} else if (b % 1024 == 0) {
		b >>= 10;
		unit = "KiB";
	}
	snprintf(v, sizeof(v), "%" PRIu64, b);
	n = xmlNewTextChild(parent, NULL, (const xmlChar *)el, (const xmlChar *)v);
	xmlNewProp(n, (const xmlChar *)"unit", (const xmlChar *)unit);
}

static void add_text(xmlNode *parent, const char *el, const char *text)
{
	xmlNewTextChild(parent, NULL, (const xmlChar *)el, (const xmlChar *)text);
}

/* hvswap's own settings (no libvirt element) under <metadata>. */
static void add_metadata(xmlNode *root, const struct run_opts *o)
{
	const struct config_field *f;
	xmlNode *cfg = NULL;
	xmlNs *ns = NULL;

	for (f = config_fields; f->key; f++) {
		struct json_object *v;
		size_t i, n;

		/* THP guest RAM has no libvirt element (libvirt leaves THP to
		 * the host's settings): mem_backing thp goes here */
		bool thp = f->opt == OPT_BACKING && o->vm.backing == GMEM_THP;

		if ((f->xml && !thp) || !(v = config_field_value(o, f)))
			continue;
		if (!cfg) {
			xmlNode *m = xmlNewChild(root, NULL, (const xmlChar *)"metadata", NULL);

			cfg = xmlNewChild(m, NULL, (const xmlChar *)"config", NULL);
			ns = xmlNewNs(cfg, (const xmlChar *)CONFIG_XML_NS, (const xmlChar *)"hvswap");
			xmlSetNs(cfg, ns);
		}
		n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 1;
		for (i = 0; i < n; i++) {
			struct json_object *e = json_object_is_type(v, json_type_array) ?
				json_object_array_get_idx(v, i) : v;
			const char *t = json_object_is_type(e, json_type_string) ?
				json_object_get_string(e) :
				json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN);

			xmlNewTextChild(cfg, ns, (const xmlChar *)f->key, (const xmlChar *)t);
		}
		json_object_put(v);
	}
}

static void add_memory(xmlNode *root, const struct run_opts *o)
{
	xmlNode *n;

	add_size(root, "memory", o->vm.mem_size);
	if (o->swap_on || o->soft_limit || o->min_guarantee || o->swap.swap_size) {
		n = xmlNewChild(root, NULL, (const xmlChar *)"memtune", NULL);
		if (o->swap_on)
			add_size(n, "hard_limit", o->swap.mem_limit);
		if (o->soft_limit)
			add_size(n, "soft_limit", o->soft_limit);
		if (o->swap.swap_size)
			add_size(n, "swap_hard_limit", o->swap.swap_size);
		if (o->min_guarantee)
			add_size(n, "min_guarantee", o->min_guarantee);
	}
	if (o->vm.hugepages || o->vm.locked ||
	    (o->vm.backing != GMEM_ANON && o->vm.backing != GMEM_THP)) {
		n = xmlNewChild(root, NULL, (const xmlChar *)"memoryBacking", NULL);
		if (o->vm.hugepages || o->vm.backing == GMEM_HUGETLB)
			xmlNewChild(n, NULL, (const xmlChar *)"hugepages", NULL);
		if (o->vm.backing == GMEM_MEMFD)
			xmlNewProp(xmlNewChild(n, NULL, (const xmlChar *)"source", NULL),
				   (const xmlChar *)"type", (const xmlChar *)"memfd");
		if (o->vm.locked)
			xmlNewChild(n, NULL, (const xmlChar *)"locked", NULL);
	}
}

char *config_to_xml(const struct run_opts *o)
{
	static const char *const acts[] = { "destroy", "restart" };
	xmlDoc *doc = xmlNewDoc((const xmlChar *)"1.0");
	xmlNode *root, *n;
	xmlChar *mem = NULL;
	char v[32], *s = NULL;
	int len = 0;

	if (!doc)
		return NULL;
	root = xmlNewNode(NULL, (const xmlChar *)"domain");
	xmlDocSetRootElement(doc, root);
	xmlNewProp(root, (const xmlChar *)"type", (const xmlChar *)"kvm");
	/* libvirt requires a name: the guest's when the config has none */
	add_text(root, "name", o->name ? o->name : o->guest && cli_valid_name(o->guest) ?
		 o->guest : "vm");
	if (o->uuid)
		add_text(root, "uuid", o->uuid);
	add_metadata(root, o);
	add_memory(root, o);
	snprintf(v, sizeof(v), "%u", o->vm.nr_vcpus);
	add_text(root, "vcpu", v);
	n = xmlNewChild(root, NULL, (const xmlChar *)"os", NULL);
	xmlNewProp(xmlNewTextChild(n, NULL, (const xmlChar *)"type", (const xmlChar *)"hvm"),
		   (const xmlChar *)"arch", (const xmlChar *)"x86_64");
	if (o->guest)
		add_text(n, "kernel", o->guest);
	if (o->vm.guest_args && *o->vm.guest_args)
		add_text(n, "cmdline", o->vm.guest_args);
	add_text(root, "on_poweroff", acts[o->on_poweroff]);
	add_text(root, "on_crash", acts[o->on_crash]);
	if (o->vm.disk_path) {
		xmlNode *d = xmlNewChild(xmlNewChild(root, NULL, (const xmlChar *)"devices", NULL),
					 NULL, (const xmlChar *)"disk", NULL);

		xmlNewProp(d, (const xmlChar *)"type", (const xmlChar *)"file");
		xmlNewProp(d, (const xmlChar *)"device", (const xmlChar *)"disk");
		xmlNewProp(xmlNewChild(d, NULL, (const xmlChar *)"source", NULL),
			   (const xmlChar *)"file", (const xmlChar *)o->vm.disk_path);
		n = xmlNewChild(d, NULL, (const xmlChar *)"target", NULL);
		xmlNewProp(n, (const xmlChar *)"dev", (const xmlChar *)"vda");
		xmlNewProp(n, (const xmlChar *)"bus", (const xmlChar *)"virtio");
	}
	xmlDocDumpFormatMemoryEnc(doc, &mem, &len, "UTF-8", 1);
	if (mem)
		s = strdup((const char *)mem);
	xmlFree(mem);
	xmlFreeDoc(doc);
	return s;
}
