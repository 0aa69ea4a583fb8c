/*
 * test_config.c - unit tests of VM config files (vmm/config*.c): every
 * JSON field and every libvirt XML element hvswap reads, every error (with
 * its line), the warnings for unknown elements and fields, round trips
 * through both formats, libvirt's schema (when the system has it, and the
 * "validation skipped" note when not), and `hvswap run --config` with
 * command-line overrides (cli.c).
 *
 * Most tests point HVSWAP_LIBVIRT_SCHEMA at a missing file so that hvswap's
 * own checks speak (the schema would catch some values first); the schema
 * tests use the real one and skip when it is not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"

#define MIB (1ull << 20)
#define NO_SCHEMA "/nonexistent/domain.rng"

static char err[600];

static int load(const char *text, struct run_opts *o)
{
	cli_defaults(o);
	err[0] = '\0';
	return config_load_buf("t", text, strlen(text), o, err, sizeof(err));
}

static void ok(const char *text, struct run_opts *o)
{
	if (load(text, o) != 0)
		fail_msg("rejected: %s\n%s", err, text);
	if (cli_check(o, err, sizeof(err)) != 0)
		fail_msg("check refused: %s\n%s", err, text);
}

/* Refused with -EINVAL, the message has `want` (e.g. "t:3: ...") */
static void bad(const char *text, const char *want)
{
	struct run_opts o;
	int r = load(text, &o);

	if (r == 0)
		r = cli_check(&o, err, sizeof(err));
	if (r != -EINVAL)
		fail_msg("accepted (%d): %s", r, text);
	if (!strstr(err, want))
		fail_msg("error '%s' lacks '%s'", err, want);
	cli_run_opts_free(&o);
}

static void warned(struct run_opts *o, const char *want)
{
	if (!o->warnings || !strstr(o->warnings, want))
		fail_msg("warnings '%s' lack '%s'", o->warnings ? o->warnings : "", want);
}

static int no_schema(void **state)
{
	(void)state;
	setenv("HVSWAP_LIBVIRT_SCHEMA", NO_SCHEMA, 1);
	return 0;
}

/* ---- JSON ---- */

static const char full_json[] =
	"{\n"
	"  \"name\": \"vm-1\", \"uuid\": \"6A0B3C52-9d1e-4f7a-8c21-5b8e0f3a7d44\",\n"
	"  \"guest\": \"integrity\", \"args\": [\"passes=2\", \"ws=8M\"],\n"
	"  \"mem\": \"256M\", \"vcpus\": 2, \"mem_backing\": \"memfd\",\n"
	"  \"mem_limit\": 67108864, \"soft_limit\": \"48M\", \"min_guarantee\": \"16M\",\n"
	"  \"swap\": [\"/var/tmp/a\", \"/var/tmp/b\"], \"force\": true,\n"
	"  \"swap_size\": \"128M\", \"swap_dir\": \"/tmp\", \"io_engine\": \"sync\",\n"
	"  \"swap_full\": \"stop\", \"fault_around\": 64, \"keep_clean\": \"never\",\n"
	"  \"fault_spin\": 50, \"swap_encrypt\": true, \"policy\": \"clock-dirty\",\n"
	"  \"disk\": \"/var/tmp/d.img\",\n"
	"  \"disk_size\": \"1M\", \"timeout\": 2.5, \"stats\": \"/tmp/s.json\",\n"
	"  \"stats_interval\": 1, \"ctl\": \"/tmp/c.sock\", \"ctl_idle_timeout\": 9,\n"
	"  \"no_seccomp\": true, \"quiet\": true, \"verbose\": 2,\n"
	"  \"on_poweroff\": \"restart\", \"on_crash\": \"restart\",\n"
	"  \"locked\": false, \"hugepages\": false, \"balloon\": true,\n"
	"  \"vhost_user_blk\": \"/tmp/vu.sock\",\n"
	"  \"ztier\": \"zstd\", \"ztier_size\": \"16M\",\n"
	"  \"swap_mapper\": true, \"swap_mapper_count\": false\n"
	"}\n";

static void check_full(const struct run_opts *o)
{
	assert_string_equal(o->name, "vm-1");
	assert_string_equal(o->guest, "integrity");
	assert_string_equal(o->vm.guest_args, "passes=2 ws=8M");
	assert_int_equal(o->vm.mem_size, 256 * MIB);
	assert_int_equal(o->vm.nr_vcpus, 2);
	assert_int_equal(o->vm.backing, GMEM_MEMFD);
	assert_true(o->swap_on);
	assert_int_equal(o->swap.mem_limit, 64 * MIB);
	assert_int_equal(o->soft_limit, 48 * MIB);
	assert_int_equal(o->min_guarantee, 16 * MIB);
	assert_int_equal(o->swap.nr_devs, 2);
	assert_string_equal(o->swap.devs[1].path, "/var/tmp/b");
	assert_true(o->swap.devs[0].force && o->swap.devs[1].force);
	assert_int_equal(o->swap.swap_size, 128 * MIB);
	assert_string_equal(o->swap.tmpdir, "/tmp");
	assert_string_equal(o->swap.io_engine, "sync");
	assert_int_equal(o->swap.on_full, SWAP_FULL_STOP);
	assert_int_equal(o->swap.fault_around, 64);
	assert_int_equal(o->swap.clean_policy, SWAPPER_CLEAN_NEVER);
	assert_int_equal(o->swap.fault_spin_us, 50);
	assert_int_equal(o->swap.policy, SWAPPER_POLICY_CLOCK_DIRTY);
	assert_true(o->vm.swap_mapper);
	assert_true(o->swap.encrypt);
	assert_string_equal(o->swap.ztier, "zstd");
	assert_int_equal(o->swap.ztier_bytes, 16 * MIB);
	assert_string_equal(o->vm.disk_path, "/var/tmp/d.img");
	assert_int_equal(o->vm.disk_size, MIB);
	assert_string_equal(o->vm.vhost_user_blk, "/tmp/vu.sock");
	assert_true(o->timeout_s == 2.5);
	assert_string_equal(o->stats_path, "/tmp/s.json");
	assert_true(o->stats_interval == 1.0);
	assert_string_equal(o->ctl_path, "/tmp/c.sock");
	assert_true(o->ctl_idle_timeout == 9.0);
	assert_true(o->no_seccomp && o->vm.quiet);
	assert_int_equal(o->verbose, 2);
	assert_int_equal(o->on_poweroff, CLI_ACT_RESTART);
	assert_int_equal(o->on_crash, CLI_ACT_RESTART);
	assert_false(o->vm.locked || o->vm.hugepages);
	assert_true(o->vm.balloon);
}

/* A Linux guest from a config: the kernel, initrd and command line, no
 * GUEST; the Linux rules (one vCPU) apply to a config as to the CLI. */
static void test_json_linux(void **state)
{
	struct run_opts o;

	(void)state;
	ok("{ \"linux_kernel\": \"/boot/vmlinuz\", \"linux_initrd\": \"/boot/initrd\",\n"
	   "  \"linux_append\": \"console=ttyS0\", \"mem\": \"128M\" }", &o);
	assert_string_equal(o.vm.kernel_path, "/boot/vmlinuz");
	assert_string_equal(o.vm.initrd_path, "/boot/initrd");
	assert_string_equal(o.vm.cmdline, "console=ttyS0");
	assert_int_equal(cli_check(&o, err, sizeof(err)), 0);
	o.vm.nr_vcpus = 2;
	assert_true(cli_check(&o, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "only 1 vCPU"));
	cli_run_opts_free(&o);
}

static void test_json_every_field(void **state)
{
	struct run_opts o;
	const struct config_field *f;

	(void)state;
	ok(full_json, &o);
	check_full(&o);
	assert_null(o.warnings);
	/* every field of the table is in full_json (so "every option"), but
	 * a Linux guest's (test_json_linux: it takes no GUEST, one vCPU) */
	for (f = config_fields; f->key; f++) {
		char k[80];

		if (!strncmp(f->key, "linux_", 6))
			continue;
		snprintf(k, sizeof(k), "\"%s\"", f->key);
		if (!strstr(full_json, k))
			fail_msg("full_json lacks field %s", f->key);
	}
	cli_run_opts_free(&o);
}

static void test_json_values(void **state)
{
	struct run_opts o;

	(void)state;
	ok("{\"swap\": \"/x\", \"mem_limit\": \"8M\", \"fault_spin\": \"off\", "
	   "\"args\": \"a=1 b=2\", \"locked\": true, \"mem\": \"8M\"}", &o);
	assert_int_equal(o.swap.nr_devs, 1);
	assert_int_equal(o.swap.fault_spin_us, -1);
	assert_string_equal(o.vm.guest_args, "a=1 b=2");
	assert_true(o.vm.locked);
	cli_run_opts_free(&o);
	ok("{\"mem_limit\": \"16M\", \"fault_spin\": \"auto\", \"quiet\": true, "
	   "\"hugepages\": true, \"mem\": \"32M\", \"timeout\": \"3\"}", &o);
	assert_int_equal(o.swap.fault_spin_us, 0);
	assert_true(o.vm.hugepages && o.timeout_s == 3.0);
	assert_int_equal(config_load_buf("t", "{\"quiet\": false}", 16, &o, err,
					 sizeof(err)), 0);
	assert_false(o.vm.quiet);
	cli_run_opts_free(&o);
	/* a byte-order mark and blanks before the object */
	ok("\xef\xbb\xbf \n {\"vcpus\": 3}", &o);
	assert_int_equal(o.vm.nr_vcpus, 3);
	cli_run_opts_free(&o);
}

static void test_json_unknown_field(void **state)
{
	struct run_opts o;

	(void)state;
	ok("{\n  \"vcpus\": 2,\n  \"ballon\": true\n}", &o);
	warned(&o, "t:3: warning: unknown field 'ballon' ignored");
	cli_run_opts_free(&o);
}

static void test_json_errors(void **state)
{
	(void)state;
	bad("{\n\"vcpus\": 2,\n\"mem\": }\n", "t:3: invalid JSON");
	bad("{\n\"vcpus\": 2\n", "t:3: invalid JSON: unexpected end");
	bad("{\"vcpus\": 2} {}", "t:1: invalid JSON");
	bad("{\"vcpus\": 2}\n\n x", "t:3: invalid JSON");
	bad("{\n\n 'vcpus': 2}", "t:3: invalid JSON: a 'single-quoted' string");
	bad("{\"args\":\n 'b'}", "t:2: invalid JSON");
	bad("{\"timeout\": NaN}", "t:1: invalid value 'NaN' for timeout");
	bad("[1, 2]", "neither a JSON object nor XML");
	bad("", "neither a JSON object nor XML");
	bad("{\n\"vcpus\": 2,\n\n\"vcpus\": 3}", "t:4: duplicate key 'vcpus'");
	bad("{\n\n\"vcpus\": 0}", "t:3: invalid value '0' for vcpus");
	bad("{\"vcpus\": 65}", "vcpus: out of range");
	bad("{\n\"vcpus\": \"2\"}", "t:2: vcpus must be a whole number");
	bad("{\"mem\": 2.5}", "mem must be a size");
	bad("{\"mem\": \"5M\"}", "mem must be a multiple of 2M");
	bad("{\"mem\": \"lots\"}", "invalid value 'lots' for mem");
	bad("{\"mem_limit\": \"512K\"}", "for mem_limit: out of range");
	bad("{\"mem_limit\": \"10000000000028M\"}", "for mem_limit: out of range");
	bad("{\"swap_size\": \"9007199254740991K\"}", "for swap_size: out of range");
	bad("{\"name\": 7}", "name must be a string");
	bad("{\"name\": \"a b\"}", "invalid name 'a b'");
	bad("{\"name\": \"-x\"}", "invalid name");
	bad("{\"uuid\": \"1234\"}", "invalid uuid '1234'");
	bad("{\"uuid\": \"6a0b3c52x9d1e-4f7a-8c21-5b8e0f3a7d44\"}", "invalid uuid");
	bad("{\"guest\": \"\"}", "an empty guest name");
	bad("{\"args\": \"a\\u0001b\"}", "args: control characters or invalid UTF-8");
	bad("{\"stats\": \"\xff\xfe\"}", "stats: control characters or invalid UTF-8");
	bad("{\"disk\": \"a\\nb\"}", "disk: control characters");
	bad("{\"vhost_user_blk\": \"\"}", "vhost_user_blk: an empty path");
	bad("{\"guest\": \"dmastress\", \"vhost_user_blk\": \"/tmp/vu.sock\"}",
	    "--vhost-user-blk needs --mem-backing memfd");
	bad("{\"disk\": \"\"}", "disk: an empty path");
	bad("{\"stats\": \"\"}", "stats: an empty path");
	bad("{\"args\": \"\xef\xbf\xbf\"}", "args: control characters or invalid UTF-8");
	bad("{\"args\": \"\xed\xa0\x80\"}", "args: control characters or invalid UTF-8");
	bad("{\"args\": \"\xc0\xaf\"}", "args: control characters or invalid UTF-8");
	bad("{\"args\": \"\xc2\x85\"}", "args: control characters or invalid UTF-8");
	bad("{\"args\": [1]}", "args must be a string or a list of strings");
	bad("{\"mem_backing\": \"huge\"}", "mem_backing must be anon, memfd, hugetlb or thp");
	bad("{\"hugepages\": true, \"mem_limit\": \"64M\", \"ztier\": \"lz4\"}",
	    "huge-page guest RAM (--hugepages, --mem-backing hugetlb or thp) does not work with --ztier");
	bad("{\"mem_backing\": \"hugetlb\", \"mem_limit\": \"63M\"}",
	    "--mem-limit must be a multiple of 2M and at least 16M with huge-page guest RAM");
	bad("{\"locked\": \"yes\"}", "locked must be true or false");
	bad("{\"mem_limit\": \"8M\",\n\"swap\": [\"/a\",\n\"\"]}", "t:3: swap: an empty path");
	bad("{\"mem_limit\": \"8M\", \"swap\": [\"/a\", 2]}", "swap must be a list of strings");
	bad("{\"mem_limit\": \"8M\", \"swap\": 3}", "swap must be a list");
	bad("{\"mem_limit\": \"8M\", \"swap\": [\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\","
	    "\"8\",\"9\"]}", "at most 8 swap devices");
	bad("{\"mem_limit\": \"8M\", \"io_engine\": \"posix\"}", "unknown io_engine 'posix'");
	bad("{\"mem_limit\": \"8M\", \"swap_full\": \"x\"}", "swap_full must be overcommit or stop");
	bad("{\"keep_clean\": \"x\"}", "keep_clean must be auto, always or never");
	bad("{\"mem_limit\": \"8M\", \"fault_spin\": 0}", "fault_spin must be auto");
	bad("{\"mem_limit\": \"8M\", \"fault_spin\": true}", "fault_spin must be");
	bad("{\"fault_around\": 3}", "fault_around must be 0 or a power of two");
	bad("{\"swap_size\": -1}", "invalid value '-1' for swap_size");
	bad("{\"disk_size\": 513}", "invalid value '513' for disk_size");
	bad("{\"timeout\": -1}", "invalid value '-1' for timeout");
	bad("{\"timeout\": true}", "timeout must be a number of seconds");
	bad("{\"stats_interval\": 1e10}", "stats_interval: out of range");
	bad("{\"ctl_idle_timeout\": 0}", "for ctl_idle_timeout");
	bad("{\"verbose\": 4}", "invalid value '4' for verbose");
	bad("{\"on_crash\": \"preserve\"}", "on_crash must be destroy or restart");
	bad("{\"on_poweroff\": \"coredump-destroy\"}", "on_poweroff must be destroy or restart");
	/* cross-field rules (cli_check) */
	bad("{\"io_engine\": \"sync\"}", "swap options need --mem-limit");
	bad("{\"mem\": \"64M\", \"mem_limit\": \"16M\", \"locked\": true}",
	    "locked memory is never swapped");
	bad("{\"mem\": \"64M\", \"mem_limit\": \"16M\", \"min_guarantee\": \"32M\"}",
	    "min_guarantee above the resident limit");
	bad("{\"mem\": \"64M\", \"soft_limit\": \"128M\"}", "soft_limit above the guest's RAM");
}

static void test_json_size_text(void **state)
{
	char b[32];

	(void)state;
	config_size_text(256 * MIB, b, sizeof(b));
	assert_string_equal(b, "256M");
	config_size_text(1ull << 30, b, sizeof(b));
	assert_string_equal(b, "1G");
	config_size_text(1ull << 40, b, sizeof(b));
	assert_string_equal(b, "1T");
	config_size_text(3072, b, sizeof(b));
	assert_string_equal(b, "3K");
	config_size_text(4097, b, sizeof(b));
	assert_string_equal(b, "4097");
	config_size_text(0, b, sizeof(b));
	assert_string_equal(b, "0");
}

/* ---- XML ---- */

static const char full_xml[] =
	"<domain type='kvm'>\n"                                         /* 1 */
	"  <name>xml-vm</name>\n"
	"  <uuid>6a0b3c529d1e4f7a8c215b8e0f3a7d44</uuid>\n"
	"  <metadata>\n"
	"    <other:x xmlns:other='urn:other'><other:y/></other:x>\n"     /* 5 */
	"    <hvswap:config xmlns:hvswap='" CONFIG_XML_NS "'>\n"
	"      <hvswap:io_engine>sync</hvswap:io_engine>\n"
	"      <hvswap:swap>/var/tmp/s1</hvswap:swap>\n"
	"      <hvswap:swap>/var/tmp/s2</hvswap:swap>\n"
	"      <hvswap:swap_encrypt>true</hvswap:swap_encrypt>\n"         /* 10 */
	"      <hvswap:quiet>1</hvswap:quiet>\n"
	"    </hvswap:config>\n"
	"  </metadata>\n"
	"  <memory unit='MiB'>256</memory>\n"
	"  <currentMemory unit='KiB'>262144</currentMemory>\n"          /* 15 */
	"  <vcpu placement='static'>4</vcpu>\n"
	"  <memtune>\n"
	"    <hard_limit unit='M'>64</hard_limit>\n"
	"    <soft_limit>49152</soft_limit>\n"
	"    <min_guarantee unit='bytes'>16777216</min_guarantee>\n"    /* 20 */
	"    <swap_hard_limit unit='GiB'>1</swap_hard_limit>\n"
	"  </memtune>\n"
	"  <memoryBacking>\n"
	"    <source type='memfd'/>\n"
	"  </memoryBacking>\n"                                          /* 25 */
	"  <os>\n"
	"    <type arch='x86_64'>hvm</type>\n"
	"    <kernel>integrity</kernel>\n"
	"    <cmdline>passes=2 ws=8M</cmdline>\n"
	"  </os>\n"                                                     /* 30 */
	"  <on_poweroff>destroy</on_poweroff>\n"
	"  <on_crash>restart</on_crash>\n"
	"  <devices>\n"
	"    <disk type='file' device='disk'>\n"
	"      <driver name='qemu' type='raw'/>\n"                      /* 35 */
	"      <source file='/var/tmp/disk.img'/>\n"
	"      <target dev='vda' bus='virtio'/>\n"
	"    </disk>\n"
	"  </devices>\n"
	"</domain>\n";

static void test_xml_every_element(void **state)
{
	struct run_opts o;

	(void)state;
	ok(full_xml, &o);
	assert_string_equal(o.name, "xml-vm");
	assert_string_equal(o.uuid, "6a0b3c529d1e4f7a8c215b8e0f3a7d44");
	assert_string_equal(o.swap.io_engine, "sync");
	assert_int_equal(o.swap.nr_devs, 2);
	assert_string_equal(o.swap.devs[1].path, "/var/tmp/s2");
	assert_true(o.swap.encrypt && o.vm.quiet);
	assert_int_equal(o.vm.mem_size, 256 * MIB);
	assert_int_equal(o.vm.nr_vcpus, 4);
	assert_true(o.swap_on);
	assert_int_equal(o.swap.mem_limit, 64 * MIB);
	assert_int_equal(o.soft_limit, 48 * MIB);
	assert_int_equal(o.min_guarantee, 16 * MIB);
	assert_int_equal(o.swap.swap_size, 1ull << 30);
	assert_int_equal(o.vm.backing, GMEM_MEMFD);
	assert_string_equal(o.guest, "integrity");
	assert_string_equal(o.vm.guest_args, "passes=2 ws=8M");
	assert_int_equal(o.on_poweroff, CLI_ACT_DESTROY);
	assert_int_equal(o.on_crash, CLI_ACT_RESTART);
	assert_string_equal(o.vm.disk_path, "/var/tmp/disk.img");
	warned(&o, "validation skipped");
	assert_null(strstr(o.warnings, "other"));       /* others' metadata: silent */
	cli_run_opts_free(&o);
}

static const char *xml_with(const char *body)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "<domain type='kvm'>\n<name>v</name>\n%s\n</domain>\n", body);
	return buf;
}

static void test_xml_backing_and_units(void **state)
{
	static const struct { const char *unit; uint64_t mul; } units[] = {
		{ "b", 1 }, { "bytes", 1 }, { "KB", 1000 }, { "k", 1024 }, { "KiB", 1024 },
		{ "MB", 1000000 }, { "M", MIB }, { "MiB", MIB }, { "GB", 1000000000ull },
		{ "G", 1ull << 30 }, { "gib", 1ull << 30 }, { "TB", 1000000000000ull },
		{ "T", 1ull << 40 }, { "TiB", 1ull << 40 },
	};
	struct run_opts o;
	char body[200];
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		uint64_t v = 2;

		snprintf(body, sizeof(body), "<memory unit='TiB'>4</memory><memtune>"
			 "<soft_limit unit='%s'>2</soft_limit></memtune>", units[i].unit);
		ok(xml_with(body), &o);
		assert_int_equal(o.soft_limit, v * units[i].mul);
		cli_run_opts_free(&o);
	}
	ok(xml_with("<memory>65536</memory><memoryBacking><source type='anonymous'/>"
		    "<locked/><hugepages/></memoryBacking>"), &o);
	assert_int_equal(o.vm.mem_size, 64 * MIB);
	assert_true(o.vm.locked && o.vm.hugepages);
	assert_int_equal(o.vm.backing, GMEM_ANON);
	cli_run_opts_free(&o);
	/* libvirt's "unlimited" hard limit: no limit */
	ok(xml_with("<memtune><hard_limit unit='KiB'>9007199254740991</hard_limit>"
		    "</memtune>"), &o);
	assert_false(o.swap_on);
	cli_run_opts_free(&o);
	/* free text is taken as written, any Unicode character XML holds */
	ok("{\"args\": \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}", &o);
	cli_run_opts_free(&o);
	ok(xml_with("<os><cmdline> a=1  b=2 </cmdline></os>"), &o);
	assert_string_equal(o.vm.guest_args, " a=1  b=2 ");
	cli_run_opts_free(&o);
	/* a guest image path and a disk without bus= but a vdX name */
	ok(xml_with("<os><type>hvm</type><kernel>/boot/guest.bin</kernel></os>"
		    "<devices><disk type='file'><source file='/d'/><target dev='vdb'/>"
		    "</disk></devices>"), &o);
	assert_string_equal(o.guest, "/boot/guest.bin");
	assert_string_equal(o.vm.disk_path, "/d");
	cli_run_opts_free(&o);
}

static void test_xml_warnings(void **state)
{
	struct run_opts o;

	(void)state;
	ok("<domain type='kvm'>\n"
	   "<name>v</name>\n"
	   "<clock offset='utc'/>\n"
	   "<memtune><hard_limit unit='M'>64</hard_limit><bogus1/></memtune>\n"
	   "<memoryBacking><nosharepages/></memoryBacking>\n"
	   "<os><type>hvm</type><boot dev='hd'/></os>\n"
	   "<devices><interface type='network'/><disk type='file'><source file='/d'/>"
	   "<readonly/></disk></devices>\n"
	   "<metadata><h:config xmlns:h='" CONFIG_XML_NS "'><h:ballon>1</h:ballon>"
	   "</h:config><h:other xmlns:h='" CONFIG_XML_NS "'/></metadata>\n"
	   "<memory unit='MiB'>128</memory><currentMemory unit='MiB'>64</currentMemory>\n"
	   "</domain>", &o);
	warned(&o, "t:3: warning: <clock> is not used by hvswap: ignored");
	warned(&o, "t:4: warning: <bogus1> in <memtune>");
	warned(&o, "t:5: warning: <nosharepages> in <memoryBacking>");
	warned(&o, "t:6: warning: <boot> in <os>");
	warned(&o, "t:7: warning: <interface> in <devices>");
	warned(&o, "t:7: warning: <readonly> in <disk>");
	warned(&o, "t:8: warning: <ballon> in <hvswap:config>");
	warned(&o, "t:8: warning: <other> in <metadata>");
	warned(&o, "t:9: warning: <currentMemory> below <memory>");
	cli_run_opts_free(&o);
}

static void test_xml_errors(void **state)
{
	(void)state;
	bad("<domain>\n<name>v</name>\n<memory>1</memroy>\n</domain>", "t:3: invalid XML");
	bad("<?xml version='1.0'?>\n<!DOCTYPE domain [<!ENTITY a 'b'>]>\n<domain/>",
	    "document type declaration");
	bad("<network>\n</network>", "t:1: the root element is <network>");
	bad(xml_with("<memory unit='parsecs'>1</memory>"), "t:3: <memory>: unknown unit");
	bad(xml_with("<memory unit='Mx'>1</memory>"), "unknown unit 'Mx'");
	bad(xml_with("<memory>lots</memory>"), "t:3: <memory>: 'lots' is not a whole number");
	bad(xml_with("<memory>-4</memory>"), "is not a whole number");
	bad(xml_with("<memory unit='EiB'>100</memory>"), "is too large");
	bad(xml_with("<memory unit='MiB'>5</memory>"), "t:3: <memory> must be a multiple of 2M");
	bad(xml_with("<memory unit='MiB'>64</memory>\n<currentMemory unit='MiB'>128"
		     "</currentMemory>"), "t:4: <currentMemory> above <memory>");
	bad(xml_with("\n<vcpu>0</vcpu>"), "t:4: invalid value '0' for <vcpu>");
	bad(xml_with("<name>a/b</name>"), "invalid <name> 'a/b'");
	bad(xml_with("<uuid>nope</uuid>"), "invalid <uuid> 'nope'");
	bad(xml_with("<memtune><hard_limit unit='KiB'>512</hard_limit></memtune>"),
	    "for <hard_limit>: out of range");
	bad(xml_with("<memtune><min_guarantee>x</min_guarantee></memtune>"),
	    "<min_guarantee>: 'x' is not a whole number");
	bad(xml_with("<memoryBacking><source type='file'/></memoryBacking>"),
	    "<source type='file'>: hvswap backs guest RAM");
	bad(xml_with("<memoryBacking><source/></memoryBacking>"), "<source> needs type=");
	bad(xml_with("<memory unit='MiB'>64</memory><memtune><hard_limit unit='MiB'>16"
		     "</hard_limit></memtune><memoryBacking><locked/></memoryBacking>"),
	    "locked memory is never swapped");
	bad(xml_with("<os><type>xen</type></os>"), "hvswap runs 'hvm' guests");
	bad(xml_with("<os><kernel></kernel></os>"), "an empty guest name");
	bad(xml_with("<os><cmdline>a&#1;b</cmdline></os>"), "invalid XML");
	bad(xml_with("<os><cmdline>a\tb</cmdline></os>"), "<cmdline>: control characters");
	bad(xml_with("<devices><disk type='file'><source file='/a&#9;b'/></disk></devices>"),
	    "<source file>: control characters");
	bad(xml_with("<on_crash>preserve</on_crash>"), "<on_crash> must be destroy or restart");
	bad(xml_with("<on_poweroff>rename-restart</on_poweroff>"), "<on_poweroff> must be");
	bad(xml_with("<devices><disk type='block'/></devices>"), "only type='file'");
	bad(xml_with("<devices><disk/></devices>"), "only type='file'");
	bad(xml_with("<devices><disk type='file' device='cdrom'/></devices>"),
	    "only device='disk'");
	bad(xml_with("<devices><disk type='file'><target dev='vda'/></disk></devices>"),
	    "<disk> needs <source file='PATH'/>");
	bad(xml_with("<devices><disk type='file'><source/></disk></devices>"),
	    "<source> needs file='PATH'");
	bad(xml_with("<devices><disk type='file'><source file='/a'/><target dev='hda' "
		     "bus='ide'/></disk></devices>"), "hvswap's disk is virtio");
	bad(xml_with("<devices><disk type='file'><source file='/a'/><target dev='sda'/>"
		     "</disk></devices>"), "hvswap's disk is virtio");
	bad(xml_with("<devices><disk type='file'><driver type='qcow2'/><source file='/a'/>"
		     "</disk></devices>"), "hvswap reads raw images only");
	bad(xml_with("<devices><disk type='file'><source file='/a'/></disk>\n"
		     "<disk type='file'><source file='/b'/></disk></devices>"),
	    "t:4: a second <disk>");
	bad(xml_with("<metadata><h:config xmlns:h='" CONFIG_XML_NS "'>\n"
		     "<h:fault_around>3</h:fault_around></h:config></metadata>"),
	    "t:4: fault_around must be 0 or a power of two");
	bad(xml_with("<metadata><h:config xmlns:h='" CONFIG_XML_NS "'>"
		     "<h:quiet>maybe</h:quiet></h:config></metadata>"),
	    "invalid value 'maybe' for quiet");
	bad(xml_with("<metadata><h:config xmlns:h='" CONFIG_XML_NS "'>"
		     "<h:verbose>9</h:verbose></h:config></metadata>"),
	    "invalid value '9' for verbose");
}

/* ---- both ways ---- */

static void same(const struct run_opts *a, const struct run_opts *b)
{
	char *ja = config_to_json(a), *jb = config_to_json(b);

	assert_non_null(ja);
	assert_non_null(jb);
	assert_string_equal(ja, jb);
	free(ja);
	free(jb);
}

static void test_round_trip(void **state)
{
	struct run_opts a, b, c;
	char *xml, *json;

	(void)state;
	ok(full_json, &a);
	xml = config_to_xml(&a);
	json = config_to_json(&a);
	assert_non_null(xml);
	assert_non_null(strstr(xml, "<hard_limit unit=\"MiB\">64</hard_limit>"));
	assert_non_null(strstr(xml, "<hvswap:io_engine>sync</hvswap:io_engine>"));
	ok(xml, &b);
	ok(json, &c);
	check_full(&b);
	check_full(&c);
	same(&a, &b);
	same(&a, &c);
	free(xml);
	free(json);
	cli_run_opts_free(&a);
	cli_run_opts_free(&b);
	cli_run_opts_free(&c);
	ok(full_xml, &a);
	xml = config_to_xml(&a);
	ok(xml, &b);
	same(&a, &b);
	free(xml);
	cli_run_opts_free(&a);
	cli_run_opts_free(&b);
	/* THP guest RAM has no libvirt element: hvswap's metadata carries it */
	ok("{\"mem\": \"128M\", \"mem_backing\": \"thp\"}", &a);
	assert_int_equal(a.vm.backing, GMEM_THP);
	xml = config_to_xml(&a);
	assert_non_null(strstr(xml, "<hvswap:mem_backing>thp</hvswap:mem_backing>"));
	assert_null(strstr(xml, "memoryBacking"));
	ok(xml, &b);
	assert_int_equal(b.vm.backing, GMEM_THP);
	free(xml);
	cli_run_opts_free(&a);
	cli_run_opts_free(&b);
}

/* ---- libvirt's schema ---- */

static void test_schema(void **state)
{
	struct run_opts o;

	(void)state;
	if (access(CONFIG_LIBVIRT_SCHEMA, R_OK) != 0) {
		print_message("libvirt's schema is not installed: skipped\n");
		skip();
	}
	setenv("HVSWAP_LIBVIRT_SCHEMA", CONFIG_LIBVIRT_SCHEMA, 1);
	ok(full_xml, &o);       /* valid, a bare <kernel> name included */
	assert_true(!o.warnings || !strstr(o.warnings, "skipped"));
	cli_run_opts_free(&o);
	bad("<domain type='kvm'>\n<name>v</name>\n<memory>65536</memory>\n<bogus/>\n"
	    "</domain>", "t:4: not valid for libvirt's domain schema");
	bad("<domain type='kvm'>\n<name>v</name>\n<memory>65536</memory>\n"
	    "<vcpu>many</vcpu>\n</domain>", "not valid for libvirt's domain schema");
	setenv("HVSWAP_LIBVIRT_SCHEMA", "/etc/hostname", 1);    /* not a schema */
	ok(xml_with("<memory>65536</memory>"), &o);
	warned(&o, "cannot read libvirt's domain schema");
	cli_run_opts_free(&o);
	setenv("HVSWAP_LIBVIRT_SCHEMA", NO_SCHEMA, 1);
}

/* ---- files and the command line ---- */

static char *write_tmp(const char *text, const char *suffix)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/test_config.XXXXXX%s", suffix);
	fd = mkstemps(path, (int)strlen(suffix));
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static int run_cli(struct run_opts *o, int argc, const char **argv)
{
	err[0] = '\0';
	return cli_parse_run(argc, (char **)argv, o, err, sizeof(err));
}

static void test_cli_config(void **state)
{
	char path[64];
	struct run_opts o;

	(void)state;
	snprintf(path, sizeof(path), "%s", write_tmp(
		"{\"guest\": \"memtouch\", \"args\": \"ws=8M\", \"vcpus\": 2, "
		"\"mem\": \"64M\", \"mem_limit\": \"16M\", \"swap\": [\"/var/tmp/a\"], "
		"\"name\": \"f\"}", ".json"));
	{
		const char *argv[] = { "run", "--config", path };

		assert_int_equal(run_cli(&o, 3, argv), 0);
		assert_string_equal(o.guest, "memtouch");
		assert_string_equal(o.guest_args, "ws=8M");
		assert_int_equal(o.vm.nr_vcpus, 2);
		assert_true(o.vm.swap == &o.swap);
		assert_int_equal(o.swap.busy_threads, 2);
		cli_run_opts_free(&o);
	}
	{       /* options beside --config win, before or after it */
		const char *argv[] = { "run", "--vcpus", "3", "--config", path,
				       "--swap", "/var/tmp/b", "--mem-limit", "32M",
				       "integrity", "passes=1" };

		assert_int_equal(run_cli(&o, 11, argv), 0);
		assert_int_equal(o.vm.nr_vcpus, 3);
		assert_int_equal(o.swap.nr_devs, 1);
		assert_string_equal(o.swap.devs[0].path, "/var/tmp/b");
		assert_int_equal(o.swap.mem_limit, 32 * MIB);
		assert_string_equal(o.guest, "integrity");
		assert_string_equal(o.guest_args, "passes=1");
		assert_string_equal(o.name, "f");
		cli_run_opts_free(&o);
	}
	unlink(path);
	{
		const char *argv[] = { "run", "--config", "/nonexistent/x.json" };

		assert_int_equal(run_cli(&o, 3, argv), -ENOENT);
		assert_non_null(strstr(err, "cannot open config /nonexistent/x.json"));
	}
	{
		const char *argv[] = { "run", "--config", "/tmp" };

		assert_int_equal(run_cli(&o, 3, argv), -EINVAL);
		assert_non_null(strstr(err, "not a regular file"));
	}
	snprintf(path, sizeof(path), "%s", write_tmp("{\"vcpus\": 2}", ".json"));
	{       /* no guest in the file, none on the command line */
		const char *argv[] = { "run", "--config", path };

		assert_int_equal(run_cli(&o, 3, argv), -EINVAL);
		assert_non_null(strstr(err, "missing GUEST"));
	}
	unlink(path);
	snprintf(path, sizeof(path), "%s", write_tmp("{\n\"vcpus\": 99}", ".json"));
	{
		const char *argv[] = { "run", "--config", path, "memtouch" };

		assert_int_equal(run_cli(&o, 4, argv), -EINVAL);
		assert_non_null(strstr(err, ":2: invalid value '99' for vcpus"));
	}
	unlink(path);
	{       /* the new options on the command line */
		const char *argv[] = { "run", "--name", "n1", "--uuid",
				       "6a0b3c52-9d1e-4f7a-8c21-5b8e0f3a7d44", "--soft-limit",
				       "8M", "--min-guarantee", "4M", "--locked", "--hugepages",
				       "--on-crash", "restart", "--on-poweroff", "restart",
				       "--mem", "16M", "memtouch" };

		assert_int_equal(run_cli(&o, 18, argv), 0);
		assert_string_equal(o.name, "n1");
		assert_true(o.vm.locked && o.vm.hugepages);
		assert_int_equal(o.soft_limit, 8 * MIB);
		assert_int_equal(o.min_guarantee, 4 * MIB);
		assert_int_equal(o.on_crash, CLI_ACT_RESTART);
		cli_run_opts_free(&o);
	}
	{       /* locked with a limit not below RAM: nothing to swap */
		const char *argv[] = { "run", "--mem", "16M", "--mem-limit", "16M",
				       "--locked", "memtouch" };

		assert_int_equal(run_cli(&o, 7, argv), 0);
		assert_false(o.swap_on);
		assert_null(o.vm.swap);
		cli_run_opts_free(&o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_every_field),
		cmocka_unit_test(test_json_linux),
		cmocka_unit_test(test_json_values),
		cmocka_unit_test(test_json_unknown_field),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_json_size_text),
		cmocka_unit_test(test_xml_every_element),
		cmocka_unit_test(test_xml_backing_and_units),
		cmocka_unit_test(test_xml_warnings),
		cmocka_unit_test(test_xml_errors),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_schema),
		cmocka_unit_test(test_cli_config),
	};

	return cmocka_run_group_tests(tests, no_schema, NULL);
}
