# shellcheck shell=bash
# testlib.sh - helpers shared by the bash integration drivers
# (test_vmm_run.sh, test_dma.sh, test_ctl.sh, test_stress_ctl.sh).
#
# Sourced, not run:  . "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
# Defining functions is all it does; every variable below is read when a
# helper runs, so a driver may set it before or after sourcing.
#
# Read by the helpers (set by the driver):
#   HVSWAP   the hvswap binary                                   (hv)
#   CASE     the case name; unset or empty: messages carry no
#            "[CASE]" tag                                        (all)
#   OUT ERR STATS  files for hv's stdout, stderr and --stats JSON
#                                                   (hv show jget expect_*)
#   FAILS    failure count, incremented by fail (start it at 0)
# Knobs (optional):
#   FAIL_STDERR_LINES  when > 0, the first failure after each hv run also
#                      prints that many leading lines of $ERR (default 0)
#   SHOW_STATS_BYTES   how much of $STATS show prints (default 4000)
#   KVM_SKIP_MSG       what need_kvm says after "SKIP [CASE]: " (default
#                      "cannot open /dev/kvm read-write on this machine")
# Set by hv: RC (exit status), RUNS (runs so far), ELAPSED_MS (wall time).

# hv_files PREFIX: a fresh directory $TMP (removed on exit) holding hv's
# capture files $OUT, $ERR and $STATS.
hv_files() {
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	trap 'rm -rf "$TMP"' EXIT
	OUT=$TMP/stdout
	ERR=$TMP/stderr
	STATS=$TMP/stats.json
}

# "[CASE]" tag of the messages: "FAIL [x]: ..." or, without a case, "FAIL: ...".
_tl_tag() {
	echo "${CASE:+ [$CASE]}"
}

fail() {
	echo "FAIL$(_tl_tag): $*" >&2
	# the first failure of each run shows the start of its stderr
	if [ "${FAIL_STDERR_LINES:-0}" -gt 0 ] && [ "${SHOWN:-0}" != "${RUNS:-0}" ]; then
		sed -n "1,${FAIL_STDERR_LINES}s/^/    stderr| /p" "$ERR" >&2 2>/dev/null
		SHOWN=${RUNS:-0}
	fi
	FAILS=$((FAILS + 1))
}

show() {
	echo "---- stdout (last 20 lines)"; tail -n 20 "$OUT"
	echo "---- stderr (last 30 lines)"; tail -n 30 "$ERR"
	[ -s "$STATS" ] && { echo "---- $STATS"; head -c "${SHOW_STATS_BYTES:-4000}" "$STATS"; echo; }
	echo "----"
}

# need_kvm: exit 77 (ctest SKIP_RETURN_CODE) when /dev/kvm cannot be opened
# read-write, printing "SKIP [CASE]: $KVM_SKIP_MSG".
need_kvm() {
	# -c first: "<>" would create a regular file where the device is missing.
	if ! [ -c /dev/kvm ] || ! (: <>/dev/kvm) 2>/dev/null; then
		echo "SKIP$(_tl_tag): ${KVM_SKIP_MSG:-cannot open /dev/kvm read-write on this machine}"
		exit 77
	fi
}

need_python() {
	command -v python3 >/dev/null ||
		{ echo "FAIL$(_tl_tag): python3 missing (run ./dev.sh deps)" >&2; exit 1; }
}

# hv ARGS...: run hvswap, capture stdout/stderr/status and wall time (ms).
hv() {
	local t0 t1
	echo "+ hvswap $*"
	rm -f "$STATS"
	t0=$(date +%s%N)
	"$HVSWAP" "$@" >"$OUT" 2>"$ERR" </dev/null
	RC=$?
	t1=$(date +%s%N)
	RUNS=$((${RUNS:-0} + 1))
	ELAPSED_MS=$(((t1 - t0) / 1000000))
	echo "  exit $RC after ${ELAPSED_MS} ms"
}

expect_rc() { [ "$RC" -eq "$1" ] || fail "exit status $RC, want $1"; }

# expect_err/expect_out FIXED-STRING: the stream contains it.
expect_err() { grep -qF -- "$1" "$ERR" || fail "stderr lacks '$1'"; }
expect_out() { grep -qF -- "$1" "$OUT" || fail "stdout lacks '$1'"; }

# jget PATH: value at a dotted path in the stats JSON ("" if absent;
# numbers that are whole print as integers).
jget() {
	python3 - "$STATS" "$1" <<'EOF'
import json, os, sys
if not os.path.exists(sys.argv[1]):
    sys.exit(0)
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    if not isinstance(v, dict) or k not in v:
        sys.exit(0)
    v = v[k]
if isinstance(v, bool):
    print("true" if v else "false")
elif isinstance(v, float) and v.is_integer():
    print(int(v))
else:
    print(v)
EOF
}

# expect_json PATH OP VALUE (OP: -eq -ne -gt -ge -lt -le, or == for strings)
expect_json() {
	local v
	v=$(jget "$1")
	if [ -z "$v" ]; then
		fail "stats: $1 missing"
	elif [ "$2" = "==" ]; then
		[ "$v" = "$3" ] || fail "stats: $1 = '$v', want '$3'"
	elif ! [[ "$v" =~ ^[0-9]+$ ]]; then
		fail "stats: $1 = '$v' is not a whole number"
	elif ! test "$v" "$2" "$3"; then
		fail "stats: $1 = $v, want $2 $3"
	fi
}

# finish_case: the verdict of a case run through hv; on failure show the
# last run's output first.  Exits 1 or 0.
finish_case() {
	if [ "$FAILS" -ne 0 ]; then
		show
		echo "FAILED [$CASE]: $FAILS check(s)" >&2
		exit 1
	fi
	echo "PASS [$CASE]"
	exit 0
}

# Huge pages for a test (hugetlbfs guest RAM).
HUGE_NR=/proc/sys/vm/nr_hugepages
HUGE_ADDED=0
huge_restore() {        # give back what we added (others may hold some too)
	local nr
	nr=$(cat "$HUGE_NR")
	(( HUGE_ADDED > 0 && nr >= HUGE_ADDED )) && echo $((nr - HUGE_ADDED)) >"$HUGE_NR"
	return 0
}
# huge_reserve PAGES [CLEANUP]: that many huge pages free, or skip (77).
# Raises /proc/sys/vm/nr_hugepages as root and gives back what it added at
# exit, before CLEANUP (the caller's EXIT trap; default: remove $TMP).
huge_reserve() {
	# shellcheck disable=SC2016  # expanded at exit, by the trap
	local need=$1 cleanup=${2:-'rm -rf "$TMP"'} nr fr
	nr=$(cat "$HUGE_NR" 2>/dev/null) || { echo "SKIP: no hugetlbfs"; exit 77; }
	fr=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
	(( fr >= need )) && return 0
	{ echo $((nr + need - fr)) >"$HUGE_NR"; } 2>/dev/null ||
		{ echo "SKIP: cannot raise $HUGE_NR (needs root)"; exit 77; }
	HUGE_ADDED=$((need - fr))
	# shellcheck disable=SC2064  # the caller's clean-up, expanded now
	trap "huge_restore; $cleanup" EXIT
	fr=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
	(( fr >= need )) || { echo "SKIP: only $fr of $need huge pages could be had"; exit 77; }
}
