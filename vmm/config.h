/*
 * config.h - VM config files: hvswap's own JSON and a libvirt domain XML
 * subset, both loaded into the one config model, struct run_opts (cli.h),
 * through cli_set_opt() - the setter the command line uses - so every value
 * is checked by the same code whichever way it came.  docs/config.md
 * describes both formats field by field.
 *
 *   config.c       the field table (JSON keys <-> options), file reading,
 *                  format detection, `hvswap config FILE --to json|xml`
 *   config_json.c  JSON in and out (json-c), line numbers of keys
 *   config_xml.c   libvirt XML in and out (libxml2), RelaxNG validation
 *                  against libvirt's own schema when the system has it
 *
 * Diagnostics: an invalid value is an error "FILE:LINE: ..."; an unknown
 * element or field a warning naming it, appended to run_opts.warnings
 * (cli_warn()); nothing here prints.
 */
#ifndef HVSWAP_VMM_CONFIG_H
#define HVSWAP_VMM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"

struct json_object;

#define CONFIG_MAX_BYTES (1u << 20)     /* larger files are refused */
/* libvirt's domain schema (Debian: package libvirt0); the environment
 * variable HVSWAP_LIBVIRT_SCHEMA names another file (tests: a missing one). */
#define CONFIG_LIBVIRT_SCHEMA "/usr/share/libvirt/schemas/domain.rng"
/* The namespace of hvswap's own settings inside libvirt's <metadata>. */
#define CONFIG_XML_NS "https://github.com/hvswap/hvswap/xmlns/config/1"

enum config_kind {
	CFG_STR,        /* a string */
	CFG_SIZE,       /* bytes: a number, or a string "512M" */
	CFG_UINT,       /* a whole number */
	CFG_SECONDS,    /* a number (fractions allowed) */
	CFG_BOOL,       /* true / false */
	CFG_LIST,       /* a list of strings (or one string) */
	CFG_SPIN,       /* "auto", "off" or a number */
	CFG_ARGS,       /* a string, or a list of strings joined by blanks */
};

struct config_field {
	const char *key;        /* JSON key, XML <hvswap:KEY> */
	int opt;                /* enum cli_opt */
	enum config_kind kind;
	const char *xml;        /* its native libvirt element, or NULL */
};

extern const struct config_field config_fields[];
const struct config_field *config_field_find(const char *key);

/* Load a config over *o (defaults or earlier settings stay where the file
 * says nothing).  JSON or XML by the first non-blank byte ('{' or '<').
 * Returns 0 or -EINVAL (-errno for a file that cannot be read) with one
 * line in err ("FILE:LINE: ..." for a value). */
int config_load(const char *path, struct run_opts *o, char *err, size_t errlen);
int config_load_buf(const char *name, const char *buf, size_t len,
		    struct run_opts *o, char *err, size_t errlen);

/* Set field f from a JSON value (JSON files) or from text (XML metadata).
 * Errors: one line without the FILE:LINE prefix. */
int config_set_json(struct run_opts *o, const struct config_field *f,
		    struct json_object *v, char *err, size_t errlen);
int config_set_text(struct run_opts *o, const struct config_field *f,
		    const char *text, char *err, size_t errlen);
/* The field's value in *o as JSON, or NULL when it has its default. */
struct json_object *config_field_value(const struct run_opts *o,
				       const struct config_field *f);
/* Text a config may hold: valid UTF-8, no control characters. */
bool config_text_ok(const char *s);
/* A size as its shortest exact text: "256M", "1G", "4097". */
void config_size_text(uint64_t bytes, char *buf, size_t len);

/* Format-specific halves (config_json.c, config_xml.c). */
int config_json_load(const char *name, const char *buf, size_t len,
		     struct run_opts *o, char *err, size_t errlen);
int config_xml_load(const char *name, const char *buf, size_t len,
		    struct run_opts *o, char *err, size_t errlen);
/* Every non-default setting of *o as a config (malloc'd text, or NULL). */
char *config_to_json(const struct run_opts *o);
char *config_to_xml(const struct run_opts *o);

/* `hvswap config FILE [--to json|xml]` (argv[0] is "config"). */
int config_main(int argc, char **argv);

#endif
