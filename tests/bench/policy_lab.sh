#!/usr/bin/env bash
# policy_lab.sh - the eviction-policy lab's matrix (issue 12 item 1):
# every workload x resident fraction through bench_policy_lab (fault-only
# policies against LRU and Belady's MIN), then one JSON file, a markdown
# table and a gnuplot plot of device reads per policy.
#
#   tests/bench/policy_lab.sh [--build DIR] [--out DIR] [--ws SIZE]
#                             [--passes N] [--fractions "25 50 75"]
#                             [--dlog N] [--stage N] [--quick] [--check]
#
# Workloads (memtouch arguments, init=1 rw=0.5 seed=1, one vCPU: the
# sequence is exactly the guest's): zipf 0.9 / 0.99 / 1.2, hot/cold (10% of
# pages get 90% of accesses) whose hot set moves every 2 passes, scan+hot
# (half the accesses scan the whole set in order, half go to a 10% hot
# set), uniform.  Counts are of the timed phase (after init); with several
# passes it is a steady state and MIN is not zero.
# --dlog N adds a run where the policies also harvest the dirty log every N
# accesses.  Pure computation (no VM, no root); runs nice -n 19.
# --quick: 16 MiB, 4 passes (seconds); --check: verify that the outputs are
# complete (every run has every policy, finite counts, MIN <= LRU), for the
# ctest smoke test policy_lab_quick.
set -euo pipefail

SRC=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
BUILD=$SRC/build OUT="" WS=1G PASSES=8 FRACTIONS="25 50 75" DLOG=0 STAGE=0
QUICK=0 CHECK=0
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--ws) WS=$2; shift 2 ;;
	--passes) PASSES=$2; shift 2 ;;
	--fractions) FRACTIONS=$2; shift 2 ;;
	--dlog) DLOG=$2; shift 2 ;;
	--stage) STAGE=$2; shift 2 ;;
	--quick) QUICK=1; shift ;;
	--check) CHECK=1; shift ;;
	-h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "policy_lab.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ "$QUICK" = 1 ] && { WS=16M; PASSES=4; }
LAB=$BUILD/tests/bench_policy_lab
[ -x "$LAB" ] || { echo "policy_lab.sh: $LAB not built" >&2; exit 2; }
OUT=${OUT:-$BUILD/policy-lab}
mkdir -p "$OUT"
RAW=$OUT/raw.jsonl
: > "$RAW"

# name|memtouch arguments; the hot set moves every 2 passes (phase counts
# one vCPU's accesses: 2 x the working set in pages).
WS_PAGES=$(python3 -c "import sys; s=sys.argv[1]; m={'K':1<<10,'M':1<<20,'G':1<<30}; \
print((int(s[:-1])*m[s[-1]] if s[-1] in m else int(s))//4096)" "$WS")
WORKLOADS=(
	"zipf-0.9|pattern=zipf skew=0.9"
	"zipf-0.99|pattern=zipf skew=0.99"
	"zipf-1.2|pattern=zipf skew=1.2"
	"hotcold-phase|pattern=hotcold hot=10 hotacc=90 phase=$((2 * WS_PAGES))"
	"scan+hot|pattern=scanhot hot=10 hotacc=50"
	"uniform|pattern=uniform"
)
run() {  # run NAME DLOG ARGS...
	local name=$1 dl=$2; shift 2
	echo "policy_lab: $name $* dlog=$dl" >&2
	nice -n 19 "$LAB" ws="$WS" passes="$PASSES" init=1 rw=0.5 seed=1 \
		stage="$STAGE" dlog="$dl" "$@" |
		python3 -c 'import json,sys; d=json.load(sys.stdin); d["workload"]=sys.argv[1]; print(json.dumps(d))' "$name" >> "$RAW"
}
for w in "${WORKLOADS[@]}"; do
	name=${w%%|*}
	# shellcheck disable=SC2086
	for f in $FRACTIONS; do
		run "$name" 0 ${w#*|} resident="$f"
		[ "$DLOG" != 0 ] && run "$name" "$DLOG" ${w#*|} resident="$f"
	done
done
nice -n 19 python3 "$SRC/tests/bench/policy_lab_report.py" "$RAW" "$OUT" \
	"tests/bench/policy_lab.sh --ws $WS --passes $PASSES --fractions \"$FRACTIONS\" --dlog $DLOG --stage $STAGE"
[ "$CHECK" = 1 ] || exit 0
python3 - "$OUT/policy_lab.json" "$OUT/policy_lab.md" \
	$(( ${#WORKLOADS[@]} * $(echo $FRACTIONS | wc -w) * (DLOG != 0 ? 2 : 1) )) <<'PY'
import json, math, os, sys
runs = json.load(open(sys.argv[1]))["runs"]
want = int(sys.argv[3])
assert len(runs) == want, f"{len(runs)} runs, want {want}"
pols = {"min", "lru", "clock", "stage", "shadow", "clockpro", "arc", "arcw", "freq"}
for r in runs:
    res = {x["policy"]: x for x in r["results"]}
    assert set(res) == pols, f"{r['workload']}: policies {sorted(res)}"
    for x in r["results"]:
        for k in ("reads", "minor", "first", "writes", "cost", "meta_bytes_per_page"):
            assert math.isfinite(x[k]) and x[k] >= 0, (r["workload"], x["policy"], k)
    assert res["min"]["reads"] <= res["lru"]["reads"], r["workload"]
assert os.path.getsize(sys.argv[2]) > 0
print(f"policy_lab.sh: check ok ({len(runs)} runs)")
PY
