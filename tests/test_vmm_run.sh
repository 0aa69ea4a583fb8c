#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions are reached through "case_$CASE"
# test_vmm_run.sh - integration tests that run the real hvswap binary.
#
#   test_vmm_run.sh HVSWAP CASE [ARGS...]
#
# One ctest test per CASE (registered in tests/vmm.cmake), so cases run in
# parallel and fail independently.  Cases that start a VM exit 77 (ctest
# SKIP_RETURN_CODE) when /dev/kvm cannot be opened for read+write, and only
# then; the CLI case needs no KVM.  JSON from --stats is read with python3
# (installed by ./dev.sh deps).
set -uo pipefail

HVSWAP=${1:?usage: test_vmm_run.sh HVSWAP CASE [ARGS...]}
CASE=${2:?usage: test_vmm_run.sh HVSWAP CASE [ARGS...]}
shift 2

# hv_files, fail, show, need_kvm, need_python, hv, expect_rc, expect_err,
# expect_out, jget, expect_json, finish_case
# shellcheck source-path=SCRIPTDIR source=testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
hv_files hvswap-test
RC=0
FAILS=0
RUNS=0
SHOWN=0
FAIL_STDERR_LINES=6

expect_err_re() { grep -qE -- "$1" "$ERR" || fail "stderr does not match /$1/"; }

expect_json_absent() {
	[ -z "$(jget "$1")" ] || fail "stats: $1 present ($(jget "$1"))"
}

# Common checks of a run that should have exited 0 with --stats.
expect_clean_exit() {
	local guest=$1 vcpus=$2
	expect_rc 0
	expect_err "guest '$guest' exited with status 0"
	[ -s "$STATS" ] || { fail "no stats file"; return; }
	expect_json guest == "$guest"
	expect_json vcpus -eq "$vcpus"
	expect_json exit_status -eq 0
	expect_json running == false
}

# memtouch VCPUS WS_MIB: a sequential single pass touches each page once.
case_memtouch() {
	local vcpus=$1 ws=$2 pages=$(($2 * 256))
	need_kvm; need_python
	hv run --mem 1G --vcpus "$vcpus" --stats "$STATS" memtouch \
		ws="${ws}M" pattern=seq passes=1
	expect_clean_exit memtouch "$vcpus"
	expect_json metrics.ws_pages -eq "$pages"
	expect_json metrics.pages_touched -eq "$pages"
	expect_json metrics.accesses -eq "$pages"
	expect_json metrics.writes -gt 0
	expect_json metrics.writes -lt "$pages"
	expect_out "memtouch: pattern=seq"
}

# integrity VCPUS WS_MIB PASSES: every vCPU verifies every page once
# after stamping and after each pass.
case_integrity() {
	local vcpus=$1 ws=$2 passes=$3 pages=$(($2 * 256))
	need_kvm; need_python
	hv run --mem 1G --vcpus "$vcpus" --stats "$STATS" integrity \
		ws="${ws}M" passes="$passes"
	expect_clean_exit integrity "$vcpus"
	expect_json metrics.passes -eq "$passes"
	expect_json metrics.pages_verified -eq $((pages * vcpus * (passes + 1)))
	expect_json metrics.pages_written -ge "$pages"
	expect_json_absent metrics.bad_pages
	expect_out "integrity: OK"
}

# crash MODE EXCEPTION [VCPUS [CR2]]: the report names the exception and the
# faulting guest rip (inside guest RAM, where the guest code is).
case_crash() {
	local mode=$1 exc=$2 vcpus=${3:-1} cr2=${4:-}
	need_kvm
	hv run --vcpus "$vcpus" --timeout 30 crash mode="$mode"
	expect_rc 125
	expect_err "guest crashed"
	expect_err "$exc"
	expect_err "rip="
	expect_err_re "guest crashed: .* at rip=0x[0-9a-f]{6,} "
	local rip
	rip=$(grep -oE 'guest crashed: .* at rip=0x[0-9a-f]+' "$ERR" | head -n1 |
	      sed 's/.*rip=//')
	if [ -n "$rip" ] && ! (( rip >= 0x200000 && rip < 0x200000 + 0x800000 )); then
		fail "reported guest rip $rip is not inside the guest image"
	fi
	[ -n "$cr2" ] && expect_err "cr2=$cr2"
	expect_out "crash: mode=$mode"
	grep -qF "still alive" "$OUT" && fail "guest survived mode=$mode"
}

case_badptr() {
	need_kvm
	hv run badptr
	expect_rc 0
	expect_err "bad guest pointer"
	expect_out "badptr: OK"
	grep -qF FAIL "$OUT" && fail "a badptr case failed"
}

case_hang() {
	need_kvm
	hv run --vcpus 2 --timeout 2 hang
	expect_rc 124
	expect_err "timed out"
	expect_out "hang: spinning forever"
	(( ELAPSED_MS >= 1900 )) || fail "stopped after $ELAPSED_MS ms, before the 2 s timeout"
	(( ELAPSED_MS <= 6000 )) || fail "took $ELAPSED_MS ms to honour --timeout 2"
}

# cli_err WANT_RC PATTERN ARGS...: fails before any VM exists, with exactly
# one line on stderr that matches PATTERN, and nothing on stdout.
cli_err() {
	local want=$1 pat=$2
	shift 2
	hv "$@"
	expect_rc "$want"
	expect_err "$pat"
	local n
	n=$(wc -l <"$ERR")
	[ "$n" -eq 1 ] || fail "'hvswap $*': $n lines on stderr, want a one-line error"
	[ -s "$OUT" ] && fail "'hvswap $*': unexpected stdout"
}

case_cli() {
	cli_err 2 "--bogus" run --bogus memtouch
	cli_err 2 "unknown guest 'nosuch'" run nosuch
	cli_err 2 "--mem" run --mem 3M memtouch
	cli_err 2 "--mem" run --mem 5M memtouch
	cli_err 2 "--mem" run --mem lots memtouch
	cli_err 2 "--vcpus" run --vcpus 0 memtouch
	cli_err 2 "--vcpus" run --vcpus 65 memtouch
	cli_err 2 "--timeout" run --timeout -1 hang
	cli_err 2 "--mem-backing" run --mem-backing huge memtouch
	cli_err 2 "does not work with --ztier" run --hugepages --mem-limit 64M --ztier lz4 memtouch
	cli_err 2 "needs --mem-backing memfd or hugetlb" \
		run --vhost-user-blk "$TMP/vu.sock" dmastress
	cli_err 2 "missing GUEST" run
	cli_err 2 "need --mem-limit" run --io-engine sync memtouch
	cli_err 2 "unknown command" frob
	cli_err 2 "--policy must be clock, clock-dirty, arcw or arcw-dirty" \
		run --mem-limit 64M --policy lru memtouch
	# issue 11 finding 8: 1e11 s overflowed the conversion to ns (the
	# guest timed out at once); now refused, like NaN and negatives
	cli_err 2 "--timeout" run --timeout 1e11 hang
	cli_err 2 "--timeout" run --timeout nan hang
	cli_err 2 "--stats-interval" run --stats-interval 1e10 hang
	cli_err 2 "--ctl-idle-timeout" run --ctl-idle-timeout 0 hang
	# found by tests/fuzz/fuzz_cli.c: a long option without its value
	# printed "invalid option '-<byte 10>'" on two lines
	cli_err 2 "option '--stats' needs a value" run --stats
	# issue 11 finding 9: a bad --ctl path is reported before anything
	# starts: one line, no guest output, no exit summary
	cli_err 3 "control socket $TMP/no/such/dir/vm.sock" \
		run --ctl "$TMP/no/such/dir/vm.sock" --timeout 30 hang

	hv --help
	expect_rc 0
	expect_out "usage: hvswap run"
	expect_out "--mem-limit"
	hv run --help
	expect_rc 0
	expect_out "usage: hvswap run"
	hv --version
	expect_rc 0
	grep -qE '^hvswap [0-9]+\.[0-9]+\.[0-9]+' "$OUT" || fail "--version: '$(cat "$OUT")'"
	hv list
	expect_rc 0
	local g
	for g in memtouch integrity crash badptr hang; do
		grep -qE "^  $g " "$OUT" || fail "list lacks $g"
	done
	hv
	expect_rc 2
	expect_err "usage:"
}

# swap MEM LIMIT WS PASSES [EXTRA_OPTS...]: integrity under a resident limit
# smaller than the working set must go through the swap file and back.
case_swap() {
	local mem=$1 limit=$2 ws=$3 passes=$4
	shift 4
	need_kvm; need_python
	local v=1 a prev=
	for a in "$@"; do           # vCPUs from an extra --vcpus N option
		[ "$prev" = --vcpus ] && v=$a
		prev=$a
	done
	hv run --mem "$mem" --mem-limit "$limit" "$@" --stats "$STATS" -q integrity \
		ws="$ws" passes="$passes"
	expect_clean_exit integrity "$v"
	expect_json metrics.passes -eq "$passes"
	expect_json_absent metrics.bad_pages
	expect_json swap.evictions.written -gt 0
	expect_json swap.faults.from_swap -gt 0
	expect_json swap.read_errors -eq 0
	expect_json swap.write_errors -eq 0
	for a in "$@"; do           # --mem-backing memfd: swapped as memfd
		[ "$a" = memfd ] && expect_json swap.features.memory_backing == memfd
	done
	return 0
}

# policy_dirty ARGS...: the swap case with --policy clock-dirty (KVM's dirty
# log of the RAM memslot marks written pages referenced): data verified, and
# the log was harvested and saw writes.
case_policy_dirty() {
	case_swap "$@" --policy clock-dirty
	expect_json swap.features.policy == clock-dirty
	expect_json swap.dirty_log.harvests -gt 0
	expect_json swap.dirty_log.pages_written -gt 0
	expect_json swap.dirty_log.errors -eq 0
}

# policy_arcw POLICY ARGS...: the swap case with --policy arcw or arcw-dirty
# (policy_arcw.c): data verified, the policy's ghosts were hit, and its
# per-page entries kept the metadata within 12 bytes per guest page.
case_policy_arcw() {
	local pol=$1
	shift
	case_swap "$@" --policy "$pol"
	expect_json swap.features.policy == "$pol"
	expect_json swap.arcw.t1_evictions -gt 0
	expect_json swap.arcw.b1_hits -gt 0
	python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))["swap"]["metadata_bytes_per_page"]; sys.exit(0 if v <= 12 else 1)' \
		"$STATS" || fail "metadata_bytes_per_page > 12"
	[ "$pol" = arcw-dirty ] && expect_json swap.dirty_log.harvests -gt 0
	return 0
}
# huge MEM LIMIT WS PASSES [options]: guest RAM on 2 MiB hugetlbfs pages
# (--hugepages), swapped in 2 MiB units: integrity at the given
# oversubscription, every read and write a whole unit.  Reserves the huge
# pages it needs (root: /proc/sys/vm/nr_hugepages, given back at exit) and
# skips (77) when it cannot have them.  Then, with the pool short, the run
# is refused before it starts (status 3, one line naming nr_hugepages).
case_huge() {
	local mem=$1 limit=$2 ws=$3 passes=$4 units
	shift 4
	need_kvm; need_python
	units=$(( ${mem%M} / 2 ))
	huge_reserve "$units"
	case_swap "$mem" "$limit" "$ws" "$passes" --hugepages "$@"
	expect_json swap.features.memory_backing == hugetlb
	expect_json swap.features.unit_bytes -eq 2097152
	local br bw ri wi
	br=$(jget swap.bytes_read); bw=$(jget swap.bytes_written)
	ri=$(jget swap.read_ios); wi=$(jget swap.write_ios)
	(( br % 2097152 == 0 && bw % 2097152 == 0 )) ||
		fail "reads ($br bytes) or writes ($bw bytes) not whole 2 MiB units"
	echo "  $ri reads of $(( br / (ri ? ri : 1) >> 20 )) MiB, $wi writes of $(( bw / (wi ? wi : 1) >> 20 )) MiB on average"
	# a pool too small for the guest: refused before it starts
	local free
	free=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
	cli_err 3 "raise /proc/sys/vm/nr_hugepages" \
		run --mem $(( (free + 1) * 2 ))M --hugepages memtouch ws=4M
}

# thp MEM LIMIT WS PASSES [options]: guest RAM on transparent huge pages
# (--mem-backing thp), swapped in 2 MiB units: integrity at the given
# oversubscription, every read and write a whole unit, units installed by
# moving a 2 MiB page in.  No pool needed; skips when THP is "never".
case_thp() {
	local mem=$1 limit=$2 ws=$3 passes=$4
	shift 4
	need_kvm; need_python
	grep -q '\[never\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null &&
		{ echo "SKIP: transparent huge pages are off on this host"; exit 77; }
	case_swap "$mem" "$limit" "$ws" "$passes" --mem-backing thp "$@"
	expect_json swap.features.memory_backing == thp
	expect_json swap.features.unit_bytes -eq 2097152
	expect_json swap.faults.thp_moved_in -gt 0
	local br bw
	br=$(jget swap.bytes_read); bw=$(jget swap.bytes_written)
	(( br % 2097152 == 0 && bw % 2097152 == 0 )) ||
		fail "reads ($br bytes) or writes ($bw bytes) not whole 2 MiB units"
	cli_err 2 "does not work with --ztier" \
		run --mem-backing thp --mem-limit 64M --ztier lz4 memtouch
	cli_err 2 "multiple of 2M" run --mem 63M --mem-backing thp memtouch
	cli_err 2 "needs --mem-backing memfd" \
		run --mem-backing thp --vhost-user-blk "$TMP/vu.sock" memtouch
}

case_memfd() {
	need_kvm; need_python
	hv run --mem-backing memfd --stats "$STATS" memtouch ws=64M
	expect_clean_exit memtouch 1
	expect_json metrics.ws_pages -eq 16384
	expect_json metrics.pages_touched -gt 0
}

# strict_json FILE: FILE is JSON by the RFC (no NaN/Infinity tokens).
strict_json() {
	python3 - "$1" <<'EOF'
import json, sys
def refuse(tok):
    raise ValueError("non-JSON token " + tok)
json.load(open(sys.argv[1]), parse_constant=refuse)
EOF
}

# hostile: issue 11 findings 5 and 9 - a guest floods bad hypercalls,
# prints terminal escape sequences and reports NaN/Inf metrics.  The VMM
# prints a bounded number of warnings (ratelimit: 10 per 5 s, so 20,000
# rejected calls give far fewer than 1,000 lines unless the run takes more
# than 500 s) but counts every one, escapes the control bytes, and writes
# strict JSON.
case_hostile() {
	local n=20000 lines
	need_kvm; need_python
	hv run --stats "$STATS" badptr flood="$n" esc=1 nan=1
	expect_rc 0
	expect_out "badptr: OK"
	lines=$(grep -c "rejected" "$ERR")
	echo "  $lines warning lines for $((n + 7)) bad hypercalls"
	(( lines < 1000 )) || fail "$lines warning lines: not rate-limited"
	expect_err "suppressed"
	expect_json devices.hypercalls_rejected -eq $((n + 7))
	# the escape sequences arrive escaped; no raw ESC/BEL/CR reaches stdout
	expect_out 'badptr: esc [\x1b[2J\x1b]0;owned\x07\x0d\x7f\x9b]'
	if LC_ALL=C grep -q $'[\x1b\x07\r]' "$OUT"; then
		fail "raw control characters from the guest reached stdout"
	fi
	strict_json "$STATS" || fail "the stats file is not strict JSON"
	[ "$(jget metrics.nan_metric)" = None ] || fail "nan_metric is not null"
	[ "$(jget metrics.inf_metric)" = None ] || fail "inf_metric is not null"
	expect_json metrics.finite_metric == 1.5
}

# vm_bg ARGS...: hvswap run ARGS... in the background (PID in VMPID), until
# its control socket $SOCK answers.
vm_bg() {
	echo "+ hvswap $* &"
	"$HVSWAP" "$@" >"$OUT" 2>"$ERR" </dev/null &
	VMPID=$!
	local _
	for _ in $(seq 300); do
		"$HVSWAP" ctl "$SOCK" stats >/dev/null 2>&1 && return 0
		kill -0 "$VMPID" 2>/dev/null || break
		sleep 0.1
	done
	fail "no control socket at $SOCK"
}

# signals: issue 11 finding 7.  SIGHUP stops the VM like SIGTERM: status
# 130, final stats written, socket removed.  With stdout a pipe nobody
# reads (SIGPIPE on the first guest line), the run still completes.
case_signals() {
	need_kvm; need_python
	SOCK=$TMP/vm.sock
	vm_bg run --ctl "$SOCK" --stats "$STATS" --timeout 300 hang
	kill -HUP "$VMPID"
	wait "$VMPID"
	RC=$?
	echo "  exit $RC after SIGHUP"
	expect_rc 130
	expect_err "interrupted by signal"
	expect_json running == false
	expect_json exit_status -eq 130
	[ -e "$SOCK" ] && fail "socket $SOCK left behind after SIGHUP"

	echo "+ hvswap run memtouch with stdout a closed pipe"
	rm -f "$STATS"
	python3 - "$HVSWAP" "$STATS" <<'EOF' || fail "a closed stdout killed or failed the run"
import os, subprocess, sys
r, w = os.pipe()
os.close(r)                      # every write to w: EPIPE (and SIGPIPE)
p = subprocess.run([sys.argv[1], "run", "--stats", sys.argv[2], "memtouch", "ws=8M"],
                   stdout=w, stderr=subprocess.PIPE)
print("  exit", p.returncode)
sys.exit(0 if p.returncode == 0 else 1)
EOF
	[ -s "$STATS" ] || fail "no stats after a run with a closed stdout"
}

# statsfile: issue 11 finding 3.  Symbolic links planted where hvswap
# writes (the old temporary name P.tmp, the target P, the --disk path) are
# never followed: the files they point at stay as they were, nothing is
# created through a dangling one.
case_statsfile() {
	local d=$TMP/pub victim=$TMP/victim
	need_kvm; need_python
	mkdir -p "$d"
	echo secret >"$victim"
	ln -s "$victim" "$d/st.json.tmp"
	hv run --stats "$d/st.json" --mem 16M memtouch ws=4M
	expect_rc 0
	[ "$(cat "$victim")" = secret ] || fail "--stats wrote through a link at P.tmp"
	strict_json "$d/st.json" || fail "no valid stats at $d/st.json"
	[ -L "$d/st.json.tmp" ] || fail "the planted link at P.tmp was replaced"
	[ "$(find "$d" -name '.st.json.*' | wc -l)" -eq 0 ] || fail "a temporary was left behind"

	ln -s "$victim" "$d/link.json"
	hv run --stats "$d/link.json" --mem 16M memtouch ws=4M
	expect_rc 3
	expect_err "symbolic link"
	[ "$(cat "$victim")" = secret ] || fail "--stats wrote through a link at P"

	ln -s "$TMP/created" "$d/disk.img"      # dangling
	hv run --disk "$d/disk.img" --disk-size 1M --mem 16M memtouch ws=4M
	expect_rc 3
	expect_err "symbolic link"
	[ -e "$TMP/created" ] && fail "--disk created a file through a dangling link"
	ln -s "$victim" "$d/disk2.img"
	hv run --disk "$d/disk2.img" --disk-size 1M --mem 16M memtouch ws=4M
	expect_rc 3
	[ "$(cat "$victim")" = secret ] || fail "--disk grew the file behind a link"
}

# once: issue 11 finding 9.  A bad --swap path: the VMM does not repeat the
# swapper's message (it printed three lines before: two from the swapper,
# "cannot start the swapper" from the VMM; the swapper's own duplicate is
# the swapper's to remove).  Nothing runs.
case_once() {
	need_kvm
	hv run --mem 16M --mem-limit 8M --swap "$TMP/no/such/file" hang
	expect_rc 3
	expect_err "$TMP/no/such/file"
	grep -qF "cannot start the swapper" "$ERR" && fail "the VMM repeated the swapper's error"
	[ "$(wc -l <"$ERR")" -le 2 ] || fail "$(wc -l <"$ERR") lines for one error"
	[ -s "$OUT" ] && fail "the guest ran"
}

# swaptarget: --swap targets are exclusive and checked (issue 11, findings
# 1 and 2): the same file twice, and a file holding an ext4 filesystem, fail
# at start with status 3 and an error naming the file and the reason.
case_swaptarget() {
	need_kvm
	local f=$TMP/swapfile
	truncate -s 8M "$f" || { fail "cannot create $f"; return; }
	hv run --mem 64M --mem-limit 16M --swap "$f" --swap "$f" memtouch ws=32M
	expect_rc 3
	expect_err "error: swap file $f is in use"
	if command -v mkfs.ext4 >/dev/null; then
		mkfs.ext4 -q -F "$f" >/dev/null 2>&1 || fail "mkfs.ext4 $f"
	else                        # the superblock magic is what is checked
		printf '\x53\xef' | dd of="$f" bs=1 seek=1080 conv=notrunc status=none
	fi
	hv run --mem 64M --mem-limit 16M --swap "$f" memtouch ws=32M
	expect_rc 3
	expect_err "error: swap device $f carries an ext2/3/4 filesystem"
	expect_err "--force"
}

# fuzzguest SEED OPS [EXTRA_OPTS...]: a hostile guest (random hypercalls,
# port I/O, virtio MMIO and requests) under a resident limit, with the
# swapper evicting throughout.  The VMM must neither crash nor corrupt: the
# exit status is the guest's own (42: its canary area is intact).
case_fuzzguest() {
	local seed=$1 ops=$2
	shift 2
	need_kvm; need_python
	hv run --mem 64M --mem-limit 16M --disk-size 1M --timeout 240 -q "$@" \
		--stats "$STATS" fuzzguest seed="$seed" ops="$ops"
	expect_rc 42
	expect_err "guest 'fuzzguest' exited with status 42"
	expect_json metrics.canary_bad_words -eq 0
	expect_json metrics.fuzz_hypercalls -gt 0
	expect_json metrics.fuzz_mmio_ops -gt 0
	expect_json metrics.fuzz_requests -gt 0
	expect_json swap.evictions.written -gt 0
	expect_json swap.read_errors -eq 0
	grep -q "seccomp" "$ERR" && fail "a seccomp violation"
}

# config SRCDIR: issue 13.  A guest runs from a JSON config and from a
# libvirt XML config (both under a resident limit, through the swap file);
# options beside --config override the file; `hvswap config` converts and
# the conversion runs the same VM; errors are one line with FILE:LINE,
# unknown elements a warning naming them.
case_config() {
	local src=$1 j=$TMP/vm.json x=$TMP/vm.xml f
	need_kvm; need_python
	cat >"$j" <<'EOF'
{
  "name": "cfg-json",
  "guest": "integrity",
  "args": ["ws=24M", "passes=1"],
  "mem": "32M",
  "vcpus": 2,
  "mem_limit": "8M",
  "io_engine": "sync",
  "quiet": true
}
EOF
	hv run --config "$j" --stats "$STATS"
	expect_clean_exit integrity 2
	expect_json name == cfg-json
	expect_json guest_args == "ws=24M passes=1"
	expect_json mem_bytes -eq 33554432
	expect_json swap.evictions.written -gt 0
	expect_json swap.features.io_engine == sync
	expect_json_absent metrics.bad_pages
	[ -s "$OUT" ] && fail "quiet from the file: the guest printed"

	# the command line wins over the file
	hv run --vcpus 1 --config "$j" --io-engine libaio --stats "$STATS" integrity ws=8M
	expect_clean_exit integrity 1
	expect_json guest_args == "ws=8M"
	expect_json swap.features.io_engine == libaio

	# converted to libvirt XML, the same VM runs
	hv config "$j" --to xml
	expect_rc 0
	cp "$OUT" "$x"
	grep -q '<hard_limit unit="MiB">8</hard_limit>' "$x" || fail "no hard_limit in the XML"
	hv run --config "$x" --stats "$STATS"
	expect_clean_exit integrity 2
	expect_json name == cfg-json
	expect_json swap.features.io_engine == sync
	hv config "$x" --to json
	expect_rc 0
	python3 - "$OUT" "$j" <<'EOF' || fail "JSON -> XML -> JSON changed the config"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
b["args"] = " ".join(b["args"])
sys.exit(0 if a == b else 1)
EOF

	# the example configs are valid; the libvirt one runs (made small)
	for f in "$src"/configs/*; do
		hv config "$f"
		expect_rc 0
		expect_err "valid"
	done
	hv run --config "$src/configs/libvirt.xml" --stats "$STATS" -q integrity ws=16M passes=1
	expect_clean_exit integrity 2
	expect_json name == integrity-vm
	expect_json swap.limit_pages -eq 16384

	# errors: one line, FILE:LINE; warnings name the element
	printf '{\n  "mem": "32M",\n  "vcpus": 0\n}\n' >"$TMP/bad.json"
	cli_err 2 "$TMP/bad.json:3: invalid value '0' for vcpus" run --config "$TMP/bad.json"
	printf '<domain type="kvm">\n<name>b</name>\n<memory unit="MiB">33</memory>\n</domain>\n' \
		>"$TMP/bad.xml"
	HVSWAP_LIBVIRT_SCHEMA=$TMP/none.rng cli_err 2 \
		"$TMP/bad.xml:3: <memory> must be a multiple of 2M" run --config "$TMP/bad.xml" hang
	cli_err 3 "cannot open config $TMP/none.json" run --config "$TMP/none.json" hang
	printf '<domain type="kvm">\n<name>w</name>\n<memory unit="MiB">16</memory>\n<clock offset="utc"/>\n<os><type>hvm</type><kernel>memtouch</kernel><cmdline>ws=4M</cmdline></os>\n</domain>\n' \
		>"$TMP/warn.xml"
	hv run --config "$TMP/warn.xml"
	expect_rc 0
	expect_err "$TMP/warn.xml:4: warning: <clock> is not used by hvswap: ignored"
	if [ -r /usr/share/libvirt/schemas/domain.rng ]; then
		grep -q "validation skipped" "$ERR" && fail "libvirt's schema is there, yet skipped"
	else
		expect_err "validation skipped"
	fi
	HVSWAP_LIBVIRT_SCHEMA=$TMP/none.rng hv config "$TMP/warn.xml"
	expect_rc 0
	expect_err "validation skipped"
	hv config "$TMP/warn.xml" --to yaml
	expect_rc 2
}

case "$CASE" in
memtouch|integrity|crash|badptr|hang|cli|swap|policy_dirty|policy_arcw|memfd|huge|thp|swaptarget|hostile|signals|statsfile|once|fuzzguest|config)
	"case_$CASE" "$@" ;;
*) echo "unknown case '$CASE'" >&2; exit 2 ;;
esac

finish_case
