#!/usr/bin/env bash
# tests/bench/host.sh - the "host" section (issue 13): many VMs under one
# memory budget.  A mixed set of VMs (some idle after start, some hot, one
# whose phase changes; every one verifies its data: the integrity guest) at
# 4x host oversubscription (sum of guest RAM = 4 x budget), run four ways:
#
#   nolimit  every VM without a limit (the baseline of each VM's slowdown)
#   static   every VM with an equal fixed limit, budget / VMs
#   host     hvswap host --budget (the supervisor moves memory)
#   memcg    every VM without hvswap's swapper, all in one memory cgroup
#            limited to the budget (plus VMM_MB per VM for the VMM processes'
#            own memory, which the other ways do not count), with a host
#            swap file (what libvirt / systemd slices give: the kernel swaps
#            the guests' memory)
#
#   tests/bench/host.sh [--quick] [--out DIR] [--build DIR] [options]
#
# Writes DIR/host.json and DIR/host.md: total runtime per way, each VM's
# runtime and slowdown against nolimit, Jain's fairness index over the
# slowdowns, budget adherence (host: the largest sampled sum of resident
# guest memory; static: the sum of the VMs' own peaks; memcg: the cgroup's
# peak usage, VMM processes included), all VMs verified.  Needs root and
# /dev/kvm (exit 77 without).  See docs/benchmarks.md.
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)

VMS=8 VCPUS=2 MEM=256M BUDGET=512M HOT_WS=96M HOT_PASSES=3 IDLE_WS=128M
IDLE_MS=20000 PHASE_WS=128M WAYS="nolimit static host memcg" INTERVAL=0.25
OUT="" BUILD="$SRC/build" TIMEOUT=900 SWAPDIR=/var/tmp VMM_MB=4

usage() {
	cat <<EOF
usage: $0 [--quick] [--out DIR] [--build DIR] [options]
  --quick            tiny sizes (a smoke run, ~1 min)
  --out DIR          results folder (default results/host-YYYYmmdd-HHMMSS)
  --build DIR        CMake build tree (default $SRC/build)
  --ways "L"         which of "nolimit static host memcg" (default all)
  --vms N            VMs (default 8: 4 hot, 3 idle after start, 1 phase change;
                     other counts keep those proportions)
  --vcpus N          vCPUs per VM (default 2)
  --mem SIZE         guest RAM per VM (default 256M); the budget is
                     VMS x MEM / 4 unless --budget
  --budget SIZE      the host's budget (default VMS x MEM / 4)
  --hot-ws SIZE      hot VMs' working set (default 96M), --hot-passes N (3)
  --idle-ws SIZE     idle VMs' working set (default 128M), --idle-ms MS (20000)
  --phase-ws SIZE    the phase-change VM's working set (default 128M)
  --interval S       hvswap host --interval (default 0.25)
  --vmm-mb N         memcg: MiB per VM added to the budget for the VMM
                     process itself (default 4; its RSS without guest
                     memory is ~1.2 MiB anonymous + shared library pages)
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) VMS=4 MEM=64M HOT_WS=24M HOT_PASSES=2 IDLE_WS=32M IDLE_MS=2000
		 PHASE_WS=32M BUDGET="" ;;
	--out) OUT=$2; shift ;;
	--build) BUILD=$2; shift ;;
	--ways) WAYS=$2; shift ;;
	--vms) VMS=$2; shift ;;
	--vcpus) VCPUS=$2; shift ;;
	--mem) MEM=$2; BUDGET=""; shift ;;
	--budget) BUDGET=$2; shift ;;
	--hot-ws) HOT_WS=$2; shift ;;
	--hot-passes) HOT_PASSES=$2; shift ;;
	--idle-ws) IDLE_WS=$2; shift ;;
	--idle-ms) IDLE_MS=$2; shift ;;
	--phase-ws) PHASE_WS=$2; shift ;;
	--interval) INTERVAL=$2; shift ;;
	--vmm-mb) VMM_MB=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

log() { echo "host.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

if [ "$(id -u)" != 0 ]; then log "needs root (memory cgroup, swapon): skipped"; exit 77; fi
if ! [ -c /dev/kvm ]; then log "/dev/kvm missing: skipped"; exit 77; fi

size_bytes() {
	local s=$1 n u
	n=${s%[KkMmGgTt]}; u=${s#"$n"}
	case "$u" in
	K|k) echo $((n << 10)) ;; M|m) echo $((n << 20)) ;;
	G|g) echo $((n << 30)) ;; *) echo "$n" ;;
	esac
}
MEM_B=$(size_bytes "$MEM")
[ -n "$BUDGET" ] || BUDGET=$(( VMS * MEM_B / 4 ))
BUDGET_B=$(size_bytes "$BUDGET")
LIMIT_B=$(( BUDGET_B / VMS / 4096 * 4096 ))

[ -x "$BUILD/vmm/hvswap" ] || die "no $BUILD/vmm/hvswap (build first)"
[ -n "$OUT" ] || OUT=$SRC/results/host-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT/raw" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
TMP=$(mktemp -d "$SWAPDIR/hvhost.XXXXXX") || die "no temp dir in $SWAPDIR"
cp "$BUILD/vmm/hvswap" "$TMP/hvswap"           # a rebuild must not change it mid-run
HV=$TMP/hvswap
CGROOT=/sys/fs/cgroup/memory
CG=$CGROOT/hvswap-host-bench.$$
SWAPFILE=$TMP/swapfile
SWAP_ON=0
PIDS=()

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	[ "$SWAP_ON" = 1 ] && swapoff "$SWAPFILE" 2>/dev/null
	if [ -d "$CG" ]; then
		while read -r p; do kill -9 "$p" 2>/dev/null; done <"$CG/cgroup.procs"
		for _ in 1 2 3 4 5 6 7 8 9 10; do rmdir "$CG" 2>/dev/null && break; sleep 0.3; done
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT
trap 'log terminated; exit 143' TERM

# ---- the mixed set ----------------------------------------------------------
# VM i: role and guest arguments.  Proportions of 8: 4 hot, 3 idle, 1 phase.
role_of() {
	local i=$1 nh=$(( VMS / 2 )) ni=$(( (VMS * 3 + 7) / 8 ))
	[ "$ni" -lt 1 ] && ni=1
	if [ "$i" -lt "$nh" ]; then echo hot
	elif [ "$i" -lt $(( nh + ni )) ] && [ "$i" -lt $(( VMS - 1 )) ]; then echo idle
	else echo phase
	fi
}
args_of() {
	case "$(role_of "$1")" in
	hot) echo "ws=$HOT_WS passes=$HOT_PASSES seed=$1" ;;
	idle) echo "ws=$IDLE_WS passes=1 idle=$IDLE_MS idle_after=0 seed=$1" ;;
	phase) echo "ws=$PHASE_WS passes=2 idle=$IDLE_MS idle_after=1 seed=$1" ;;
	esac
}
for ((i = 0; i < VMS; i++)); do
	printf '{ "name": "vm%d", "guest": "integrity", "args": "%s", "mem": "%s", "vcpus": %d, "timeout": %d }\n' \
		"$i" "$(args_of "$i")" "$MEM" "$VCPUS" "$TIMEOUT" >"$TMP/vm$i.json"
done

# ---- the ways -----------------------------------------------------------------
now() { date +%s.%N; }

# run_vms WAY [hvswap run options...]: every VM as its own hvswap run, in
# parallel (in $CG when WAY is memcg); stats in $OUT/raw/WAY-vmI.json
run_vms() {
	local way=$1 i
	shift
	PIDS=()
	for ((i = 0; i < VMS; i++)); do
		if [ "$way" = memcg ]; then
			bash -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' _ "$CG" \
				"$HV" run --config "$TMP/vm$i.json" -q --stats "$OUT/raw/$way-vm$i.json" "$@" \
				>"$OUT/raw/$way-vm$i.log" 2>&1 &
		else
			"$HV" run --config "$TMP/vm$i.json" -q --stats "$OUT/raw/$way-vm$i.json" "$@" \
				>"$OUT/raw/$way-vm$i.log" 2>&1 &
		fi
		PIDS+=($!)
	done
	for i in "${PIDS[@]}"; do wait "$i"; done
	PIDS=()
}

swap_on() {
	local mb=$(( VMS * MEM_B / 1048576 + 64 ))
	fallocate -l "${mb}M" "$SWAPFILE" 2>/dev/null ||
		dd if=/dev/zero of="$SWAPFILE" bs=1M count="$mb" status=none
	{ chmod 600 "$SWAPFILE" && mkswap "$SWAPFILE" >/dev/null && swapon "$SWAPFILE"; } ||
		die "cannot enable swap on $SWAPFILE"
	SWAP_ON=1
}
swap_off() {
	[ "$SWAP_ON" = 1 ] || return 0
	swapoff "$SWAPFILE" || die "swapoff failed"
	SWAP_ON=0
	rm -f "$SWAPFILE"
}

run_way() {
	local way=$1 t0 t1 i
	log "$way: $VMS VMs x $VCPUS vCPUs, $MEM each, budget $((BUDGET_B >> 20)) MiB"
	rm -f "$OUT/raw/$way"-*
	t0=$(now)
	case "$way" in
	nolimit) run_vms nolimit ;;
	static) run_vms static --mem-limit "$LIMIT_B" ;;
	host)
		local cfgs=()
		for ((i = 0; i < VMS; i++)); do cfgs+=("$TMP/vm$i.json"); done
		"$HV" host -v --budget "$BUDGET_B" --interval "$INTERVAL" --dir "$TMP/run" \
			--stats "$OUT/raw/host.json" "${cfgs[@]}" >"$OUT/raw/host.log" 2>&1
		for ((i = 0; i < VMS; i++)); do
			cp "$TMP/run/vm$i.json" "$OUT/raw/host-vm$i.json" 2>/dev/null
			cp "$TMP/run/vm$i.log" "$OUT/raw/host-vm$i.log" 2>/dev/null
		done
		rm -rf "$TMP/run" ;;
	memcg)
		mkdir "$CG" || die "cannot create $CG (cgroup v1 memory at $CGROOT)"
		echo $(( BUDGET_B + VMS * (VMM_MB << 20) )) >"$CG/memory.limit_in_bytes" ||
			die "cannot set the memcg limit"
		swap_on
		run_vms memcg
		cat "$CG/memory.max_usage_in_bytes" >"$OUT/raw/memcg-peak"
		swap_off
		rmdir "$CG" 2>/dev/null ;;
	esac
	t1=$(now)
	echo "$t0 $t1" >"$OUT/raw/$way-wall"
	log "$way: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
}

for w in $WAYS; do run_way "$w"; done

# ---- report ---------------------------------------------------------------------
python3 - "$OUT" "$VMS" "$BUDGET_B" "$LIMIT_B" "$WAYS" "$MEM_B" "$VCPUS" "$VMM_MB" <<'EOF'
import json, os, sys
out, vms, budget, limit, ways, mem, vcpus = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4]), sys.argv[5].split(), int(sys.argv[6]), int(sys.argv[7])
vmm_mb = int(sys.argv[8])
raw = os.path.join(out, "raw")
def load(p):
    try:
        return json.load(open(p))
    except Exception:
        return None
res = {"vms": vms, "vcpus": vcpus, "mem_bytes": mem, "budget_bytes": budget,
       "static_limit_bytes": limit, "oversubscription": vms * mem / budget,
       "load_avg": open("/proc/loadavg").read().split()[0], "ways": {}}
for w in ways:
    t0, t1 = map(float, open(os.path.join(raw, w + "-wall")).read().split())
    per = []
    for i in range(vms):
        s = load(os.path.join(raw, "%s-vm%d.json" % (w, i))) or {}
        m = s.get("metrics", {})
        sw = s.get("swap") or {}
        per.append({"name": "vm%d" % i, "args": s.get("guest_args"),
                    "exit_status": s.get("exit_status"), "elapsed_s": s.get("elapsed_s"),
                    "verified": s.get("exit_status") == 0 and "bad_pages" not in m and "passes" in m,
                    "swap_ins": (sw.get("faults") or {}).get("from_swap", 0),
                    "max_resident_bytes": sw.get("max_resident_pages", 0) * 4096,
                    "stall_pct": None})
    r = {"total_runtime_s": t1 - t0, "vms": per,
         "all_verified": all(p["verified"] for p in per)}
    if w == "host":
        h = load(os.path.join(raw, "host.json")) or {}
        r["max_total_resident_bytes"] = h.get("max_total_resident_bytes")
        r["budget_ratio"] = (h.get("max_total_resident_bytes") or 0) / budget
        r["decisions"], r["limit_changes"] = h.get("decisions"), h.get("limit_changes")
        for p, v in zip(per, h.get("vms", [])):
            p["stall_pct"] = v.get("stall_pct")
    elif w == "static":
        tot = sum(p["max_resident_bytes"] for p in per)
        r["sum_of_peaks_bytes"], r["budget_ratio"] = tot, tot / budget
    elif w == "memcg":
        pk = int(open(os.path.join(raw, "memcg-peak")).read())
        r["memcg_peak_bytes"], r["budget_ratio"] = pk, pk / budget
        r["note"] = "limit = budget + %d MiB per VM for the VMM processes" % vmm_mb
    res["ways"][w] = r
base = res["ways"].get("nolimit")
for w, r in res["ways"].items():
    if not base:
        break
    sl = []
    for p, b in zip(r["vms"], base["vms"]):
        if p["elapsed_s"] and b["elapsed_s"]:
            p["slowdown"] = p["elapsed_s"] / b["elapsed_s"]
            sl.append(p["slowdown"])
    if sl:
        r["jain_fairness"] = sum(sl) ** 2 / (len(sl) * sum(x * x for x in sl))
        r["mean_slowdown"] = sum(sl) / len(sl)
W = res["ways"]
if "host" in W and "static" in W:
    res["host_vs_static"] = W["host"]["total_runtime_s"] / W["static"]["total_runtime_s"]
if "host" in W and "memcg" in W:
    res["host_vs_memcg"] = W["host"]["total_runtime_s"] / W["memcg"]["total_runtime_s"]
json.dump(res, open(os.path.join(out, "host.json"), "w"), indent=2)

L = ["# hvswap host: %d VMs x %d vCPUs, %d MiB each, budget %d MiB (%.0fx)" %
     (vms, vcpus, mem >> 20, budget >> 20, vms * mem / budget), "",
     "| way | total runtime s | mean slowdown | Jain | budget use | all verified |",
     "|---|---|---|---|---|---|"]
for w, r in W.items():
    L.append("| %s | %.1f | %s | %s | %s | %s |" % (
        w, r["total_runtime_s"],
        "%.2f" % r["mean_slowdown"] if "mean_slowdown" in r else "-",
        "%.3f" % r["jain_fairness"] if "jain_fairness" in r else "-",
        "%.3f x" % r["budget_ratio"] if "budget_ratio" in r else "-",
        "yes" if r["all_verified"] else "NO"))
L += ["", "| VM | guest args | " + " | ".join("%s s (slowdown)" % w for w in W) + " |",
      "|---|---|" + "---|" * len(W)]
for i in range(vms):
    row = ["vm%d" % i, W[list(W)[0]]["vms"][i]["args"] or ""]
    for w in W:
        p = W[w]["vms"][i]
        row.append("%.1f (%s)" % (p["elapsed_s"] or 0,
                   "%.2f" % p["slowdown"] if "slowdown" in p else "-"))
    L.append("| " + " | ".join(row) + " |")
for k in ("host_vs_static", "host_vs_memcg"):
    if k in res:
        L.append("\n%s: %.2f" % (k, res[k]))
open(os.path.join(out, "host.md"), "w").write("\n".join(L) + "\n")
print("\n".join(L))
EOF
