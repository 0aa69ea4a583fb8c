#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions are reached through "case_$CASE"
# test_host.sh - integration tests of `hvswap host` (vmm/host*.c): the real
# supervisor and its VM processes.
#
#   test_host.sh HVSWAP CASE
#
# Cases (one ctest test each, tests/host.cmake):
#   budget    three VMs under one budget complete; the sampled total stays
#             within 1.02 x budget; stats JSON and Prometheus text; run dir
#             removed; on a terminal, the live table
#   crash     one VM crashes: the others complete undisturbed; exit status 1;
#             on_crash=restart respawns a VM (up to 20 times)
#   ctl       VMs added and stopped through the supervisor's control socket
#   sigterm   SIGTERM stops every VM cleanly: exit 130, no VM left running
#   usage     bad command lines and budgets that cannot hold the floors
#   ztier     a VM with a compressed tier (--ztier) under the budget: its
#             pool holds pages, it verifies its data, and the sampled total
#             (which counts the pool: it is under the VM's limit) stays
#             within 1.02 x budget
# Guests are small (16-48 MiB) so each case takes seconds.
set -uo pipefail

HVSWAP=${1:?usage: test_host.sh HVSWAP CASE}
CASE=${2:?usage: test_host.sh HVSWAP CASE}
shift 2

# shellcheck source-path=SCRIPTDIR source=testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
hv_files hvswap-test-host
FAILS=0
FAIL_STDERR_LINES=10
RUN=$TMP/run            # the supervisor's --dir where a case keeps it

# vmcfg NAME GUEST ARGS MEM [EXTRA JSON FIELDS]: write $TMP/NAME.json
vmcfg() {
	local extra=${5:+, $5}
	printf '{ "name": "%s", "guest": "%s", "args": "%s", "mem": "%s"%s }\n' \
		"$1" "$2" "$3" "$4" "$extra" >"$TMP/$1.json"
}

# vm_json NAME KEY: a field of one VM in the host's stats
vm_json() {
	python3 - "$STATS" "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for v in d["vms"]:
    if v["name"] == sys.argv[2]:
        x = v[sys.argv[3]]
        print("null" if x is None else (int(x) if isinstance(x, float) and x.is_integer() else x))
EOF
}

expect_vm() {
	local v
	v=$(vm_json "$1" "$2")
	if [ "$3" = "==" ]; then
		[ "$v" = "$4" ] || fail "vm $1: $2 = '$v', want '$4'"
	else
		python3 -c '
import sys
a, op, b = sys.argv[1:]
ops = {"-eq": "==", "-ne": "!=", "-gt": ">", "-ge": ">=", "-lt": "<", "-le": "<="}
sys.exit(0 if eval("%r %s %r" % (float(a), ops[op], float(b))) else 1)
' "$v" "$3" "$4" 2>/dev/null || fail "vm $1: $2 = '$v', want $3 $4"
	fi
}

# host_bg ARGS...: hvswap host ARGS... in the background (PID in HPID)
host_bg() {
	echo "+ hvswap host $* &"
	"$HVSWAP" host "$@" >"$OUT" 2>"$ERR" </dev/null &
	HPID=$!
}

wait_host() {
	wait "$HPID"
	RC=$?
	echo "  exit $RC"
}

# hctl ARGS...: hvswap ctl $HSOCK ARGS... (reply in $TMP/reply)
hctl() {
	"$HVSWAP" ctl "$HSOCK" "$@" >"$TMP/reply" 2>"$TMP/reply.err"
	CRC=$?
	echo "+ hvswap ctl host $* -> $CRC: $(tr -d '\n' <"$TMP/reply" | head -c 300)"
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds
wait_for() {
	local n=$(($1 * 10)) _
	shift
	for _ in $(seq "$n"); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# vm_state_is NAME STATE: the host's `stats` says so
vm_state_is() {
	hctl stats
	python3 - "$TMP/reply" "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))["host"]
sys.exit(0 if any(v["name"] == sys.argv[2] and v["state"] == sys.argv[3]
                  for v in d["vms"]) else 1)
EOF
}

# reply_has KEY VALUE: the last ctl reply has that top-level field
reply_has() {
	python3 - "$TMP/reply" "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if str(d.get(sys.argv[2])) == sys.argv[3] else 1)
EOF
}

case_budget() {
	need_kvm; need_python
	vmcfg a integrity "ws=40M passes=2" 48M '"vcpus": 1'
	vmcfg b integrity "ws=24M passes=3 idle=500 idle_after=1" 32M '"min_guarantee": "8M", "soft_limit": "24M"'
	vmcfg c memtouch "ws=12M passes=2" 16M
	hv host --budget 40M --interval 0.2 --stats "$STATS" "$TMP/a.json" "$TMP/b.json" \
		"$TMP/c.json"
	expect_rc 0
	expect_err "a: exited with status 0"
	expect_json budget_bytes -eq 41943040
	expect_json max_total_resident_bytes -gt 0
	expect_json max_total_resident_bytes -le $((41943040 * 102 / 100))
	local v
	for v in a b c; do
		expect_vm "$v" exit_status -eq 0
		expect_vm "$v" max_resident_bytes -gt 0
	done
	expect_vm a swap_ins -gt 0
	expect_vm a stall_pct -ge 0
	python3 - "$STATS" <<'EOF' || fail "stats: vms entries lack a field"
import json, sys
d = json.load(open(sys.argv[1]))
for v in d["vms"]:
    for k in ("name", "exit_status", "max_resident_bytes", "swap_ins", "stall_pct"):
        assert k in v, k
EOF
	grep -q '^hvswap_host_budget_bytes 41943040$' "$STATS.prom" || fail "no budget in $STATS.prom"
	grep -q '^hvswap_vm_swap_ins_total{vm="a"} [1-9]' "$STATS.prom" || fail "no swap-ins in the .prom"
	grep -q '^# TYPE hvswap_vm_stall_pct gauge$' "$STATS.prom" || fail "no TYPE lines"
	local dir
	dir=$(jget run_dir)
	[ -e "$dir" ] && fail "run directory $dir left behind after a clean run"
	grep -q "STATE" "$OUT" && fail "a live table without a terminal"

	# on a terminal: the live table (per VM: limit, resident, swapped,
	# faults/s, stall %)
	echo "+ hvswap host on a pty"
	python3 - "$HVSWAP" "$TMP/c.json" >"$TMP/pty.out" <<'EOF' || fail "no live table on a terminal"
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "host", "--budget", "32M", "--interval", "0.1", sys.argv[2]])
out = b""
while True:
    try:
        b = os.read(fd, 4096)
    except OSError:
        break
    if not b:
        break
    out += b
_, st = os.waitpid(pid, 0)
text = out.decode(errors="replace")
print(text)
ok = all(w in text for w in ("LIMIT", "RESIDENT", "SWAPPED", "FAULTS/S", "STALL%", "c "))
sys.exit(0 if ok and os.waitstatus_to_exitcode(st) == 0 else 1)
EOF
}

case_crash() {
	need_kvm; need_python
	vmcfg good1 integrity "ws=20M passes=2" 24M
	vmcfg good2 memtouch "ws=12M passes=3" 16M
	vmcfg bad crash "mode=ud2" 16M
	vmcfg again crash "mode=div0" 16M '"on_crash": "restart"'
	hv host --budget 48M --interval 0.2 --stats "$STATS" --dir "$RUN" "$TMP/good1.json" \
		"$TMP/bad.json" "$TMP/good2.json" "$TMP/again.json"
	expect_rc 1
	expect_err "bad: exited with status 125"
	expect_vm good1 exit_status -eq 0
	expect_vm good2 exit_status -eq 0
	expect_vm bad exit_status -eq 125
	expect_vm bad restarts -eq 0
	expect_vm again exit_status -eq 125
	expect_vm again restarts -eq 20
	python3 - "$RUN/good1.json" <<'EOF' || fail "good1 did not verify its data"
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
sys.exit(0 if m.get("passes") == 2 and "bad_pages" not in m else 1)
EOF
	grep -q "#UD" "$RUN/bad.log" || fail "the crash is not in bad's log"
	[ -e "$RUN/good1.sock" ] && fail "good1's socket left behind"
}

case_ctl() {
	need_kvm; need_python
	HSOCK=$TMP/host.sock
	vmcfg long hang "" 16M '"timeout": 120'
	vmcfg short integrity "ws=12M passes=2" 16M
	host_bg --budget 48M --interval 0.2 --ctl "$HSOCK" --stats "$STATS" "$TMP/long.json"
	wait_for 10 vm_state_is long running || fail "VM long never ran"
	hctl add config="$TMP/short.json"
	[ "$CRC" -eq 0 ] || fail "add refused"
	reply_has name short || fail "add: no name in the reply"
	hctl add config="$TMP/short.json" name=short2
	[ "$CRC" -eq 0 ] || fail "add name=short2 refused"
	wait_for 30 vm_state_is short exited || fail "VM short (added) did not finish"
	wait_for 30 vm_state_is short2 exited || fail "VM short2 (added) did not finish"
	hctl add config="$TMP/none.json"
	[ "$CRC" -eq 1 ] || fail "add of a missing config: status $CRC"
	grep -q "cannot open config" "$TMP/reply" || fail "add: no reason"
	hctl add config="$TMP/long.json"
	{ [ "$CRC" -eq 1 ] && grep -q "is running" "$TMP/reply"; } || fail "a second 'long' was admitted"
	vmcfg huge integrity "" 64M '"min_guarantee": "60M"'
	hctl add config="$TMP/huge.json"
	{ [ "$CRC" -eq 1 ] && grep -q "does not fit the budget" "$TMP/reply"; } ||
		fail "a floor beyond the budget was admitted"
	hctl add config="$TMP/short.json" name=../x
	[ "$CRC" -eq 1 ] || fail "an invalid name was admitted"
	hctl stop name=nosuch
	[ "$CRC" -eq 1 ] || fail "stop of an unknown VM: status $CRC"
	hctl frob
	[ "$CRC" -eq 1 ] || fail "an unknown command: status $CRC"
	hctl stop name=long
	[ "$CRC" -eq 0 ] || fail "stop refused"
	wait_host
	expect_rc 0
	expect_vm short exit_status -eq 0
	expect_vm short2 exit_status -eq 0
	expect_vm long exit_status -eq 130
	expect_vm long stopped == True
	[ -e "$HSOCK" ] && fail "the host's socket left behind"
}

case_sigterm() {
	need_kvm; need_python
	vmcfg h1 hang "" 16M
	vmcfg h2 integrity "ws=12M passes=1000" 16M
	host_bg --budget 32M --interval 0.2 --stats "$STATS" --dir "$RUN" "$TMP/h1.json" "$TMP/h2.json"
	local pids
	wait_for 10 test -S "$RUN/h1.sock" -a -S "$RUN/h2.sock" || fail "the VMs did not start"
	sleep 1
	pids=$(pgrep -P "$HPID" | tr '\n' ' ')
	[ -n "$pids" ] || fail "no VM processes"
	kill -TERM "$HPID"
	wait_host
	expect_rc 130
	expect_vm h1 exit_status -eq 130
	expect_vm h2 exit_status -eq 130
	expect_err "stopping every VM"
	local p
	for p in $pids; do
		kill -0 "$p" 2>/dev/null && fail "VM process $p still running"
	done
	grep -q "interrupted by signal" "$RUN/h2.log" || fail "h2 did not stop cleanly"
}

case_usage() {
	vmcfg u memtouch "ws=4M" 16M '"min_guarantee": "16M"'
	hv host "$TMP/u.json"
	expect_rc 2
	expect_err "--budget SIZE is required"
	hv host --budget 1M "$TMP/u.json"
	expect_rc 2
	hv host --budget 64M
	expect_rc 2
	expect_err "no CONFIG"
	hv host --budget 64M --frob "$TMP/u.json"
	expect_rc 2
	vmcfg u2 memtouch "ws=4M" 16M '"min_guarantee": "16M"'
	hv host --budget 16M "$TMP/u.json" "$TMP/u2.json"
	expect_rc 3
	expect_err "more than the budget"
	hv host --budget 64M "$TMP/u.json" "$TMP/u.json"
	expect_rc 3
	expect_err "two VMs named u"
	hv host --budget 64M "$TMP/missing.json"
	expect_rc 3
	expect_err "cannot open config"
	hv host --help
	expect_rc 0
	expect_out "usage: hvswap host"
}

case_ztier() {
	need_kvm; need_python
	vmcfg z integrity "ws=24M passes=3 fill=ratio:3" 32M '"vcpus": 2, "ztier": "lz4"'
	vmcfg p integrity "ws=12M passes=3" 16M
	hv host --budget 24M --interval 0.2 --stats "$STATS" --dir "$RUN" "$TMP/z.json" "$TMP/p.json"
	expect_rc 0
	expect_vm z exit_status -eq 0
	expect_vm p exit_status -eq 0
	expect_json max_total_resident_bytes -gt 0
	expect_json max_total_resident_bytes -le $((25165824 * 102 / 100))
	python3 - "$RUN/z.json" <<'EOF' || fail "z: no verified passes or an unused pool"
import json, sys
d = json.load(open(sys.argv[1]))
m, z = d["metrics"], d["swap"]["ztier"]
sys.exit(0 if m.get("verify_passes") == 3 and "bad_pages" not in m and
         z["stores"] > 0 and z["hits"] > 0 else 1)
EOF
}

case "$CASE" in
budget|crash|ctl|sigterm|usage|ztier) "case_$CASE" ;;
*) echo "unknown case '$CASE'" >&2; exit 2 ;;
esac
finish_case
