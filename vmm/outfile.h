/*
 * outfile.h - files the VMM writes and the JSON it emits (outfile.c):
 * written through a fresh temporary in the target's directory and renamed
 * over the target (no symbolic link is ever followed), with non-finite
 * numbers made null.
 */
#ifndef HVSWAP_VMM_OUTFILE_H
#define HVSWAP_VMM_OUTFILE_H

#include <stddef.h>
#include <sys/types.h>

struct json_object;

/* Replace path (absent or a regular file) by buf[0, len), atomically.
 * Returns 0 or -errno with a one-line message in err. */
int outfile_write(const char *path, const void *buf, size_t len, mode_t mode,
		  char *err, size_t errlen);
/* Make o strict JSON: every NaN/Inf double below o becomes null.  Returns
 * the number replaced.  Call it on every object the VMM prints. */
unsigned int outfile_json_strict(struct json_object *o);
/* outfile_json_strict(), then outfile_write() of the pretty text (0644). */
int outfile_write_json(const char *path, struct json_object *o, char *err,
		       size_t errlen);

#endif
