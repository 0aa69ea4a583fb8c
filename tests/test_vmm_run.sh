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
	cli_err 2 "--mem-backing" run --mem-backing hugetlb memtouch
	cli_err 2 "missing GUEST" run
	cli_err 2 "need --mem-limit" run --io-engine sync memtouch
	cli_err 2 "unknown command" frob

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
}

case_memfd() {
	need_kvm; need_python
	hv run --mem-backing memfd --stats "$STATS" memtouch ws=64M
	expect_clean_exit memtouch 1
	expect_json metrics.ws_pages -eq 16384
	expect_json metrics.pages_touched -gt 0
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

case "$CASE" in
memtouch|integrity|crash|badptr|hang|cli|swap|memfd|fuzzguest) "case_$CASE" "$@" ;;
*) echo "unknown case '$CASE'" >&2; exit 2 ;;
esac

finish_case
