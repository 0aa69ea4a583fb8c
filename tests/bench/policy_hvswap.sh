#!/usr/bin/env bash
# policy_hvswap.sh - hvswap's eviction policies on real guests (issue 12
# items 2 and 6): memtouch in steady state (several passes after init) under
# a resident limit, once per policy, pattern and fraction; swap-ins counted
# by hvswap's --stats (faults.from_swap, pages_read).  The counts depend on
# the access sequence and the policy, hardly on the machine's load; the
# runtimes printed beside them do not mean much on a shared machine (compare
# runtimes with paired A/B runs instead).
#
#   tests/bench/policy_hvswap.sh [--build DIR] [--out DIR] [--ws SIZE]
#                                [--passes N] [--runs N]
#                                [--fractions "25 50 75"]
#                                [--patterns "zipf hotcold scanhot"]
#                                [--policies "clock clock-dirty arcw arcw-dirty"]
#
# Each run: hvswap run -q --stats F --mem WS+4M --mem-limit WS*FRAC/100
#           --policy P memtouch ws=WS pattern=X passes=N init=1 rw=0.5
# (hotcold with phase=ws/4096*2, its hot set moving every 2 passes).
# Output: DIR/policy_hvswap.jsonl (one object per run) and
# DIR/policy_hvswap.md (means over the runs).  Runs nice -n 19; needs
# /dev/kvm and userfaultfd (root).
set -euo pipefail

SRC=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
BUILD=$SRC/build OUT="" WS_MB=512 PASSES=3 RUNS=2 FRACTIONS="50"
PATTERNS="zipf hotcold scanhot" POLICIES="clock clock-dirty arcw arcw-dirty"
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--ws) WS_MB=${2%M}; shift 2 ;;
	--passes) PASSES=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--fractions) FRACTIONS=$2; shift 2 ;;
	--patterns) PATTERNS=$2; shift 2 ;;
	--policies) POLICIES=$2; shift 2 ;;
	-h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "policy_hvswap.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -n "$OUT" ] || OUT=$(mktemp -d /tmp/policy_hvswap.XXXXXX)
mkdir -p "$OUT"
HV=$BUILD/vmm/hvswap
[ -x "$HV" ] || { echo "policy_hvswap.sh: no $HV (build first)" >&2; exit 2; }
J=$OUT/policy_hvswap.jsonl
: > "$J"
for frac in $FRACTIONS; do
	limit=$((WS_MB * frac / 100))
	for pat in $PATTERNS; do
		extra=""
		[ "$pat" = hotcold ] && extra="phase=$((WS_MB * 256 * 2))"
		for run in $(seq 1 "$RUNS"); do
			for pol in $POLICIES; do
				st=$OUT/st-$pat-$frac-$pol-$run.json
				t0=$(date +%s.%N)
				nice -n 19 "$HV" run -q --stats "$st" --mem $((WS_MB + 4))M \
					--mem-limit ${limit}M --policy "$pol" memtouch \
					ws=${WS_MB}M pattern=$pat passes="$PASSES" init=1 \
					rw=0.5 $extra > /dev/null
				t1=$(date +%s.%N)
				python3 - "$st" "$pat" "$frac" "$pol" "$run" "$t0" "$t1" >> "$J" <<'EOF'
import json, sys
st, pat, frac, pol, run, t0, t1 = sys.argv[1:]
s = json.load(open(st))["swap"]
print(json.dumps({"pattern": pat, "resident_pct": int(frac), "policy": pol,
                  "run": int(run), "swapins": s["faults"]["from_swap"],
                  "pages_read": s["pages_read"],
                  "from_staging": s["faults"]["from_staging"],
                  "metadata_bytes_per_page": s["metadata_bytes_per_page"],
                  "arcw": s.get("arcw"), "wall_s": float(t1) - float(t0)}))
EOF
				tail -n 1 "$J"
			done
		done
	done
done
python3 - "$J" "$OUT/policy_hvswap.md" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
pols = list(dict.fromkeys(r["policy"] for r in rows))
cases = list(dict.fromkeys((r["pattern"], r["resident_pct"]) for r in rows))
out = ["| pattern | resident | " + " | ".join(pols) + " |",
       "|---|---|" + "---|" * len(pols)]
for pat, frac in cases:
    cells, base = [], None
    for p in pols:
        v = [r["swapins"] for r in rows if r["policy"] == p and
             r["pattern"] == pat and r["resident_pct"] == frac]
        m = sum(v) / len(v)
        base = m if base is None else base
        cells.append("%d (%.3f) [%s]" % (m, m / base if base else 0,
                                         " / ".join(str(x) for x in v)))
    out.append("| %s | %d%% | %s |" % (pat, frac, " | ".join(cells)))
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
