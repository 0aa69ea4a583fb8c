/*
 * test_ctl.c - unit tests of the control-socket request validator
 * (vmm/ctl_req.c): every command with good fields, sizes as integers and
 * strings, defaults, and each way a request can be wrong (not JSON, not an
 * object, trailing data, unknown cmd or field, wrong type, out of range,
 * negative, missing, too long, NUL bytes, invalid UTF-8).  A rejected request leaves
 * nothing allocated (run under ASan to check) and names the problem.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define MIB (1ull << 20)
#define GIB (1ull << 30)

static int parse(const char *line, struct ctl_req *req, char *err)
{
	return ctl_req_parse(line, strlen(line), req, err, 256);
}

static void ok(const char *line, struct ctl_req *req)
{
	char err[256] = "";

	if (parse(line, req, err) != 0)
		fail_msg("'%s' rejected: %s", line, err);
}

/* The line is rejected with -EINVAL and a message containing `want`. */
static void bad(const char *line, const char *want)
{
	struct ctl_req req;
	char err[256] = "";

	if (parse(line, &req, err) != -EINVAL)
		fail_msg("'%s' accepted", line);
	if (!strstr(err, want))
		fail_msg("'%s': error '%s' lacks '%s'", line, err, want);
	assert_null(req.path);
	assert_null(req.dev);
	assert_null(req.from);
	assert_null(req.to);
}

static void test_simple_cmds(void **state)
{
	static const struct { const char *line; enum ctl_cmd cmd; } t[] = {
		{ "{\"cmd\":\"stats\"}", CTL_STATS },
		{ " { \"cmd\" : \"devices\" } \r", CTL_DEVICES },
		{ "{\"cmd\":\"trim\"}", CTL_TRIM },
	};
	struct ctl_req req;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ok(t[i].line, &req);
		assert_int_equal(req.cmd, t[i].cmd);
		ctl_req_free(&req);
	}
	assert_string_equal(ctl_cmd_name(CTL_SET_LIMIT), "set-limit");
}

static void test_swapon(void **state)
{
	struct ctl_req req;

	(void)state;
	ok("{\"cmd\":\"swapon\",\"path\":\"/var/tmp/s2\",\"size\":\"1G\",\"prio\":5}", &req);
	assert_int_equal(req.cmd, CTL_SWAPON);
	assert_string_equal(req.path, "/var/tmp/s2");
	assert_int_equal(req.size, GIB);
	assert_int_equal(req.prio, 5);
	ctl_req_free(&req);
	assert_null(req.path);

	ok("{\"cmd\":\"swapon\",\"path\":null,\"size\":1048576,\"prio\":-32768}", &req);
	assert_null(req.path);
	assert_int_equal(req.size, MIB);
	assert_int_equal(req.prio, -32768);
	ctl_req_free(&req);

	ok("{\"cmd\":\"swapon\",\"path\":\"/dev/vdb\"}", &req);  /* size: the file's */
	assert_int_equal(req.size, 0);
	assert_int_equal(req.prio, 0);
	ctl_req_free(&req);
	ok("{\"cmd\":\"swapon\",\"path\":\"/dev/vdb\",\"force\":1}", &req);
	assert_int_equal(req.force, 1);
	ctl_req_free(&req);
}

static void test_swapon_bad(void **state)
{
	(void)state;
	bad("{\"cmd\":\"swapon\"}", "needs a size");
	bad("{\"cmd\":\"swapon\",\"path\":null}", "needs a size");
	bad("{\"cmd\":\"swapon\",\"size\":-4096}", "must not be negative");
	bad("{\"cmd\":\"swapon\",\"size\":\"-1G\"}", "not a size");
	bad("{\"cmd\":\"swapon\",\"size\":\"1X\"}", "not a size");
	bad("{\"cmd\":\"swapon\",\"size\":1.5}", "field 'size'");
	bad("{\"cmd\":\"swapon\",\"size\":true}", "field 'size'");
	bad("{\"cmd\":\"swapon\",\"size\":4096}", "at least 1M");
	bad("{\"cmd\":\"swapon\",\"size\":1048577}", "multiple of 4K");
	bad("{\"cmd\":\"swapon\",\"size\":\"100T\"}", "out of range");
	bad("{\"cmd\":\"swapon\",\"size\":\"99999999999999999999\"}", "out of range");
	bad("{\"cmd\":\"swapon\",\"size\":\"1G\",\"prio\":32768}", "field 'prio'");
	bad("{\"cmd\":\"swapon\",\"size\":\"1G\",\"prio\":\"5\"}", "field 'prio'");
	bad("{\"cmd\":\"swapon\",\"size\":\"1G\",\"prio\":9223372036854775808}", "field 'prio'");
	bad("{\"cmd\":\"swapon\",\"path\":\"\",\"size\":\"1G\"}", "field 'path'");
	bad("{\"cmd\":\"swapon\",\"path\":[],\"size\":\"1G\"}", "field 'path'");
	bad("{\"cmd\":\"swapon\",\"path\":\"a\\u0000b\",\"size\":\"1G\"}", "NUL");
	bad("{\"cmd\":\"swapon\",\"size\":\"1G\",\"dev\":\"#0\"}", "unknown field 'dev'");
	bad("{\"cmd\":\"swapon\",\"path\":\"f\",\"force\":2}", "field 'force'");
	bad("{\"cmd\":\"swapon\",\"path\":\"f\",\"force\":true}", "field 'force'");
}

static void test_devices_cmds(void **state)
{
	struct ctl_req req;

	(void)state;
	ok("{\"cmd\":\"swapoff\",\"dev\":\"#1\"}", &req);
	assert_int_equal(req.cmd, CTL_SWAPOFF);
	assert_string_equal(req.dev, "#1");
	ctl_req_free(&req);
	ok("{\"cmd\":\"migrate\",\"from\":\"#0\",\"to\":\"/var/tmp/fast\"}", &req);
	assert_string_equal(req.from, "#0");
	assert_string_equal(req.to, "/var/tmp/fast");
	ctl_req_free(&req);
	ok("{\"cmd\":\"compact\",\"dev\":\"/var/tmp/s 2\"}", &req);
	assert_string_equal(req.dev, "/var/tmp/s 2");
	ctl_req_free(&req);

	bad("{\"cmd\":\"swapoff\"}", "missing field 'dev'");
	bad("{\"cmd\":\"swapoff\",\"dev\":1}", "field 'dev'");
	bad("{\"cmd\":\"swapoff\",\"dev\":null}", "field 'dev'");
	bad("{\"cmd\":\"migrate\",\"from\":\"#0\"}", "missing field 'to'");
	/* a rejected second field must not leak the first */
	bad("{\"cmd\":\"migrate\",\"from\":\"#0\",\"to\":2}", "field 'to'");
	bad("{\"cmd\":\"compact\",\"dev\":\"#0\",\"to\":\"#1\"}", "unknown field 'to'");
	ok("{\"cmd\":\"numa-move\",\"node\":0}", &req);
	assert_int_equal(req.cmd, CTL_NUMA_MOVE);
	assert_int_equal(req.node, 0);
	bad("{\"cmd\":\"numa-move\"}", "missing field 'node'");
	bad("{\"cmd\":\"numa-move\",\"node\":-1}", "field 'node'");
	bad("{\"cmd\":\"numa-move\",\"node\":\"zero\"}", "field 'node'");
}

static void test_set_limit(void **state)
{
	struct ctl_req req;

	(void)state;
	ok("{\"cmd\":\"set-limit\",\"limit\":\"512M\"}", &req);
	assert_int_equal(req.limit, 512 * MIB);
	ok("{\"cmd\":\"set-limit\",\"limit\":536870912}", &req);
	assert_int_equal(req.limit, 512 * MIB);
	ok("{\"cmd\":\"set-limit\",\"limit\":0}", &req);
	assert_int_equal(req.limit, 0);
	bad("{\"cmd\":\"set-limit\"}", "missing field 'limit'");
	bad("{\"cmd\":\"set-limit\",\"limit\":-1}", "must not be negative");
	bad("{\"cmd\":\"set-limit\",\"limit\":4096}", "at least 1M");
	bad("{\"cmd\":\"set-limit\",\"limit\":null}", "field 'limit'");
	bad("{\"cmd\":\"set-limit\",\"limit\":18446744073709551615}", "out of range");
}

static void test_malformed(void **state)
{
	char line[CTL_MAX_LINE + 64];
	struct ctl_req req;
	char err[256];

	(void)state;
	bad("", "not JSON");
	bad("stats", "not JSON");
	bad("{\"cmd\":\"stats\"", "not JSON: incomplete");
	bad("{'cmd':'stats'}", "not JSON");
	bad("{\"cmd\":\"stats\"} x", "not JSON");
	bad("{\"cmd\":\"stats\"}{}", "not JSON");
	bad("[\"stats\"]", "JSON object");
	bad("\"stats\"", "JSON object");
	bad("{}", "missing field 'cmd'");
	bad("{\"cmd\":null}", "field 'cmd'");
	bad("{\"cmd\":\"Stats\"}", "unknown cmd 'Stats'");
	bad("{\"cmd\":\"stats\",\"verbose\":true}", "unknown field 'verbose'");
	bad("{\"cmd\":\"trim\",\"a\":[[[[[[[[[[[[1]]]]]]]]]]]]}",
	    "not JSON");   /* deeper than the tokenizer allows */

	/* embedded NUL: the length is what counts, not strlen() */
	assert_int_equal(ctl_req_parse("{\"cmd\":\"stats\"}\0x", 17, &req, err,
				       sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "NUL"));

	memset(line, ' ', sizeof(line));
	memcpy(line, "{\"cmd\":\"stats\"}", 15);
	assert_int_equal(ctl_req_parse(line, CTL_MAX_LINE, &req, err, sizeof(err)), 0);
	assert_int_equal(ctl_req_parse(line, CTL_MAX_LINE + 1, &req, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "longer than"));
}

static void test_utf8(void **state)
{
	char s[] = "ok \xc3\xa9 cut \xe2\x82 bad \xff \xed\xa0\x80 end";
	char t[] = "\xf0\x9f\x98\x80 and a cut \xf0\x9f";
	struct ctl_req req;

	(void)state;
	bad("{\"cmd\":\"\xff\"}", "not valid UTF-8");
	bad("{\"cmd\":\"\xc0\xaf\"}", "not valid UTF-8");         /* overlong '/' */
	bad("{\"cmd\":\"\xed\xa0\x80\"}", "not valid UTF-8");     /* surrogate */
	bad("{\"cmd\":\"stats\xc3\"}", "not valid UTF-8");          /* cut */
	bad("{\"cmd\":\"\xc3\xa9t\xc3\xa9\"}", "unknown cmd");      /* valid, unknown */
	ok("{\"cmd\":\"swapoff\",\"dev\":\"/var/tmp/\xc3\xa9\"}", &req);
	assert_string_equal(req.dev, "/var/tmp/\xc3\xa9");
	ctl_req_free(&req);

	ctl_utf8_sanitize(s);
	assert_string_equal(s, "ok \xc3\xa9 cut ?? bad ? ??? end");
	ctl_utf8_sanitize(t);
	assert_string_equal(t, "\xf0\x9f\x98\x80 and a cut ??");
}

/* Issue 11 finding 9: json-c keeps the last of two equal keys silently;
 * the validator refuses the request instead, naming the key. */
static void test_duplicate_keys(void **state)
{
	struct ctl_req req;

	(void)state;
	bad("{\"cmd\":\"swapon\",\"size\":\"1G\",\"size\":\"2G\"}",
	    "duplicate key 'size'");
	bad("{\"cmd\":\"stats\",\"cmd\":\"stats\"}", "duplicate key 'cmd'");
	bad("{\"cmd\":\"stats\", \"cmd\" : \"trim\"}", "duplicate key 'cmd'");
	/* the same key spelled with an escape */
	bad("{\"cmd\":\"stats\",\"\\u0063md\":\"trim\"}", "duplicate key 'cmd'");
	bad("{\"cmd\":\"set-limit\",\"limit\":0,\"x\":1,\"limit\":\"1G\"}",
	    "duplicate key 'limit'");
	/* equal strings that are values, or keys of nested objects, are not
	 * duplicate keys of the request (nested objects are refused later) */
	ok("{\"cmd\":\"migrate\",\"from\":\"#0\",\"to\":\"#0\"}", &req);
	ctl_req_free(&req);
	ok("{\"cmd\":\"swapoff\",\"dev\":\"dev\"}", &req);
	ctl_req_free(&req);
	bad("{\"cmd\":\"trim\",\"a\":{\"b\":1,\"b\":2}}", "unknown field 'a'");
	ok("{\"cmd\":\"swapoff\",\"dev\":\"a\\\"b\\\":c\"}", &req);
	assert_string_equal(req.dev, "a\"b\":c");
	ctl_req_free(&req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_cmds),
		cmocka_unit_test(test_swapon),
		cmocka_unit_test(test_swapon_bad),
		cmocka_unit_test(test_devices_cmds),
		cmocka_unit_test(test_set_limit),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_duplicate_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
