#!/usr/bin/env bash
# huge.sh - 2 MiB units (--mem-backing hugetlb, and thp: transparent huge
# pages) against the 4 KiB path (--mem-backing anon) on the same guest
# access sequences, interleaved in one run (issue 14 item 3).  As root, with
# hugetlb among the backings: it adds the 2 MiB huge pages it needs to
# /proc/sys/vm/nr_hugepages and gives them back.
#
#   tests/bench/huge.sh [--build DIR] [--out DIR] [--reps N] [--sections LIST]
#                       [--backings 'anon hugetlb thp']
#
# sections (default all):
#   seq      memtouch pattern=seq rw=0 and rw=1, ws = 4 x limit
#            (--mem 1040M --mem-limit 256M ws=1G passes=2 init=1)
#   uniform  memtouch pattern=uniform rw=0 and rw=0.5, ws = 4 x limit,
#            sparse random (--mem 72M --mem-limit 16M ws=64M passes=1 init=1)
# Output: DIR/huge.json (every run: guest ns/access, swap bytes and I/Os,
# and per case and 2 MiB backing the median ratio 4 KiB / 2 MiB time),
# DIR/st-*.json.
# Nothing here is a test: no pass/fail, only numbers.
set -euo pipefail

BUILD=build
OUT=results/huge
REPS=3
SECTIONS="seq uniform"
BACKINGS="anon hugetlb thp"
while [ $# -gt 0 ]; do
	case "$1" in
	--build) BUILD=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--reps) REPS=$2; shift 2 ;;
	--sections) SECTIONS=$2; shift 2 ;;
	--backings) BACKINGS=$2; shift 2 ;;
	*) echo "usage: $0 [--build DIR] [--out DIR] [--reps N] [--sections 'seq uniform']" \
		"[--backings 'anon hugetlb thp']" >&2
	   exit 2 ;;
	esac
done
HV=$BUILD/vmm/hvswap
[ -x "$HV" ] || { echo "no $HV (build first)" >&2; exit 2; }
mkdir -p "$OUT"

NR=/proc/sys/vm/nr_hugepages
ADDED=0
give_back() {
	local nr
	nr=$(cat "$NR")
	(( ADDED > 0 && nr >= ADDED )) && echo $((nr - ADDED)) >"$NR"
	return 0
}
trap give_back EXIT
need=520                        # the largest guest: 1040M
fr=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
if [[ " $BACKINGS " == *" hugetlb "* ]] && (( fr < need )); then
	echo $(( $(cat "$NR") + need - fr )) >"$NR"
	ADDED=$((need - fr))
	fr=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
	(( fr >= need )) || { echo "only $fr of $need huge pages could be had" >&2; exit 3; }
fi

# run NAME BACKING MEM LIMIT GUEST-ARGS...: one VM, its stats to st-NAME-BACKING-REP.json
run() {
	local name=$1 b=$2 mem=$3 lim=$4 rep=$5
	shift 5
	local st="$OUT/st-$name-$b-$rep.json"
	echo "== $name $b rep $rep: --mem $mem --mem-limit $lim $*" >&2
	nice -n 19 "$HV" run -q --mem "$mem" --mem-limit "$lim" --mem-backing "$b" \
		--stats "$st" memtouch "$@" >/dev/null
}

for rep in $(seq 1 "$REPS"); do
	for sec in $SECTIONS; do
		case $sec in
		seq)
			for rw in 0 1; do
				for b in $BACKINGS; do
					run "seq-rw$rw" $b 1040M 256M "$rep" ws=1G pattern=seq \
						rw=$rw passes=2 init=1
				done
			done ;;
		uniform)
			for rw in 0 0.5; do
				for b in $BACKINGS; do
					run "uniform-rw$rw" $b 72M 16M "$rep" ws=64M pattern=uniform \
						rw=$rw passes=1 init=1
				done
			done ;;
		*) echo "unknown section $sec" >&2; exit 2 ;;
		esac
	done
done

python3 - "$OUT" <<'EOF'
import glob, json, os, re, statistics, sys
out = sys.argv[1]
runs = []
for f in sorted(glob.glob(os.path.join(out, "st-*.json"))):
    m = re.match(r"st-(.+)-(anon|hugetlb|thp)-(\d+)\.json$", os.path.basename(f))
    d = json.load(open(f))
    s, g = d["swap"], d["metrics"]
    runs.append(dict(case=m[1], backing=m[2], rep=int(m[3]),
                     ns_per_access=g["ns_per_access"], elapsed_ns=g["elapsed_ns"],
                     seq_hash0=g.get("seq_hash0"),
                     bytes_read=s["bytes_read"], bytes_written=s["bytes_written"],
                     read_ios=s["read_ios"], write_ios=s["write_ios"],
                     swapin_faults=s["faults"].get("from_swap"),
                     thp_moved_in=s["faults"].get("thp_moved_in", 0),
                     unit_bytes=s["features"].get("unit_bytes", 4096)))
summary = {}
for case in sorted({r["case"] for r in runs}):
    t = {b: [r["elapsed_ns"] for r in runs if r["case"] == case and r["backing"] == b]
         for b in ("anon", "hugetlb", "thp")}
    for b in ("hugetlb", "thp"):
        if t["anon"] and t[b]:
            a, h = statistics.median(t["anon"]), statistics.median(t[b])
            summary[f"{case} {b}"] = dict(anon_ms=a / 1e6, huge_ms=h / 1e6,
                                          speedup_2m_over_4k=a / h, reps=len(t[b]))
json.dump(dict(runs=runs, summary=summary), open(os.path.join(out, "huge.json"), "w"),
          indent=1)
for case, v in summary.items():
    print(f"{case:22s} 4K {v['anon_ms']:9.0f} ms  2M {v['huge_ms']:9.0f} ms  "
          f"2M speed-up x{v['speedup_2m_over_4k']:.2f}  (median of {v['reps']})")
EOF
