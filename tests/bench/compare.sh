#!/usr/bin/env bash
# compare.sh - hypervisor-level swap against swap inside the guest (issue 15,
# item 2): one access sequence (memtouch, the same pattern, seed and
# passes) under the same host memory, four ways:
#
#   hvswap   (a) hvswap swaps the guest (--mem-limit LIMIT)
#   guest    (b) the guest swaps itself to its virtio-blk disk (swap=guest,
#                glimit=LIMIT) and returns freed frames through the balloon;
#                no host swap
#   both     (c) double paging: the guest swaps with more frames than the
#                host gives it (glimit halfway between LIMIT and the working
#                set) while hvswap holds it to LIMIT; with
#                --swap-mapper-count, so the silent writes are counted
#   mapper   (c) with hvswap's countermeasure, the swap mapper
#                (--swap-mapper): frames filled from the guest's disk are
#                dropped without a host swap write and read back from it
#   kernel   (d) no hvswap swapper: the VMM process in a memory cgroup of
#                LIMIT + 8 MiB (the VMM's own memory), the host kernel
#                swapping it.  On this nested host the memcg OOM killer
#                sometimes fires within the first second (KVM faults in
#                pages faster than memcg reclaim frees them): up to
#                KERNEL_TRIES (6) attempts, the kills recorded.  Its
#                host reads are the memcg's own major faults (pgmajfault:
#                swap-ins that read); its writes are not known (cgroup v1
#                has no per-memcg swap-out counter; the host-wide pswpout
#                during the run is kept as host_pswpout_all_processes)
#
# Per way: runtime of the timed phase, pages read and written at each level
# (host swap: hvswap's or the kernel's pswpin/pswpout; guest swap: its
# virtio-blk requests), and the problems VSwapper (ASPLOS'14) names as far
# as hvswap sees them: stale reads (a host swap read into a page a disk
# read then overwrote: swap.dma_fill.write_pin_swap_reads), false reads
# avoided (a disk read, or a guest clearing a frame after HV_HC_OVERWRITE,
# into a swapped-out page that skipped the swap read:
# swap.dma_fill.swap_reads_skipped + swap.overwrite.swap_reads_skipped),
# decayed sequentiality (pages per host read I/O), silent writes (host swap
# writes of pages a disk read filled and the guest has not changed since:
# swap.swap_mapper.silent_writes, counted in `both` by --swap-mapper-count)
# and silent writes avoided (the mapper's drops without a write:
# swap.swap_mapper.dropped_without_write).
#
#   tests/bench/compare.sh [--out DIR] [--build DIR] [--ws 64M] [--limit 16M]
#                          [--pattern zipf] [--passes 3] [--rw 0.5]
#                          [--ways "hvswap guest both mapper kernel"]
#
# Writes DIR/raw/WAY.json (hvswap's --stats), DIR/compare.json,
# DIR/compare.md and, with gnuplot, DIR/compare.png.  Several patterns
# (--pattern "uniform zipf seq"): one run each in DIR/PATTERN, then
# tests/bench/report_compare.py writes DIR/summary.md and DIR/summary.png.  Needs root and
# /dev/kvm for the kernel way (cgroup v1 memory, swapon); the other ways
# run without root.  Exit 77 without /dev/kvm.
set -uo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$SRC/build OUT="" WS=64M LIMIT=16M PATTERN=zipf PASSES=3 RW=0.5
WAYS="hvswap guest both mapper kernel" SWAPDIR=${SWAPDIR:-/var/tmp} SLACK_MB=8

usage() { sed -n '2,33p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case "$1" in
	--out) OUT=$2; shift ;;
	--build) BUILD=$2; shift ;;
	--ws) WS=$2; shift ;;
	--limit) LIMIT=$2; shift ;;
	--pattern) PATTERN=$2; shift ;;
	--passes) PASSES=$2; shift ;;
	--rw) RW=$2; shift ;;
	--ways) WAYS=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

log() { echo "compare.sh: $*" >&2; }
if [ "$(echo $PATTERN | wc -w)" -gt 1 ]; then
	[ -n "$OUT" ] || OUT=$SRC/results/compare-$(date +%Y%m%d-%H%M%S)
	mkdir -p "$OUT" || { log "error: cannot create $OUT"; exit 1; }
	for p in $PATTERN; do
		"$0" --out "$OUT/$p" --build "$BUILD" --ws "$WS" --limit "$LIMIT" \
			--pattern "$p" --passes "$PASSES" --rw "$RW" --ways "$WAYS" || exit $?
	done
	exec python3 "$SRC/tests/bench/report_compare.py" "$OUT" $PATTERN
fi
die() { log "error: $*"; exit 1; }
[ -c /dev/kvm ] || { log "/dev/kvm missing: skipped"; exit 77; }

size_bytes() {
	local s=$1 n u
	n=${s%[KkMmGgTt]}; u=${s#"$n"}
	case "$u" in
	K|k) echo $((n << 10)) ;; M|m) echo $((n << 20)) ;;
	G|g) echo $((n << 30)) ;; *) echo "$n" ;;
	esac
}
WS_B=$(size_bytes "$WS")
LIMIT_B=$(size_bytes "$LIMIT")
MEM_MB=$(( WS_B / 1048576 + 16 ))               # guest RAM: the ws and the runtime
DISK_MB=$(( WS_B / 1048576 + 4 ))
[ "$LIMIT_B" -ge $((1 << 20)) ] && [ "$LIMIT_B" -lt "$WS_B" ] ||
	die "--limit must be at least 1M and below --ws"

[ -x "$BUILD/vmm/hvswap" ] || die "no $BUILD/vmm/hvswap (build first)"
[ -n "$OUT" ] || OUT=$SRC/results/compare-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT/raw" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
TMP=$(mktemp -d "$SWAPDIR/hvcompare.XXXXXX") || die "no temp dir in $SWAPDIR"
cp "$BUILD/vmm/hvswap" "$TMP/hvswap"
HV=$TMP/hvswap
CG=/sys/fs/cgroup/memory/hvswap-compare.$$
SWAPFILE=$TMP/swapfile
SWAP_ON=0

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
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

vmstat_get() { awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat; }
# the kernel way's swap-ins that read (do_swap_page counts them per memcg)
memcg_majflt() { awk '$1 == "pgmajfault" { print $2 }' "$CG/memory.stat"; }
WL="ws=$WS pattern=$PATTERN passes=$PASSES rw=$RW init=1"

# run_way WAY: one run; raw/WAY.json gets hvswap's stats plus the host
# kernel's swap counters around it (kernel way) and the load.
run_way() {
	local way=$1 st=$OUT/raw/$1.json in0 out0 in1 out1 rc la
	local glim=$(( LIMIT_B >> 20 ))M glim2=$(( (LIMIT_B + WS_B) >> 21 ))M
	KILLS=0
	local disk=(--disk "$TMP/disk.img" --disk-size "${DISK_MB}M" --balloon)
	rm -f "$st" "$TMP/disk.img"
	la=$(cut -d' ' -f1 /proc/loadavg)
	in0=$(vmstat_get pswpin); out0=$(vmstat_get pswpout)
	case "$way" in
	hvswap)
		"$HV" run -q --mem "${MEM_MB}M" --mem-limit "$LIMIT_B" --swap-dir "$SWAPDIR" \
			--stats "$st" memtouch $WL 2>"$OUT/raw/$way.log" ;;
	guest)
		"$HV" run -q --mem "${MEM_MB}M" "${disk[@]}" --stats "$st" \
			memtouch $WL swap=guest glimit="$glim" balloon=1 2>"$OUT/raw/$way.log" ;;
	both|mapper)
		"$HV" run -q --mem "${MEM_MB}M" --mem-limit "$LIMIT_B" --swap-dir "$SWAPDIR" \
			"${disk[@]}" $([ "$way" = mapper ] && echo --swap-mapper ||
				echo --swap-mapper-count) --stats "$st" \
			memtouch $WL swap=guest glimit="$glim2" balloon=1 2>"$OUT/raw/$way.log" ;;
	kernel)
		if [ "$(id -u)" != 0 ] || ! [ -w /sys/fs/cgroup/memory/cgroup.procs ]; then
			log "kernel: needs root and cgroup v1 memory: skipped"
			echo '{"skipped": "needs root and cgroup v1 memory"}' >"$st"
			return 0
		fi
		mkdir -p "$CG" && echo $(( LIMIT_B + (SLACK_MB << 20) )) >"$CG/memory.limit_in_bytes" ||
			die "cannot set up $CG"
		KILLS=0
		for _ in $(seq 1 "${KERNEL_TRIES:-6}"); do
			in0=$(memcg_majflt); out0=$(vmstat_get pswpout)
			la=$(cut -d' ' -f1 /proc/loadavg)
			bash -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' _ "$CG" \
				"$HV" run -q --mem "${MEM_MB}M" --stats "$st" memtouch $WL \
				2>"$OUT/raw/$way.log"
			rc=$?
			[ "$rc" = 137 ] || break
			KILLS=$((KILLS + 1)); rm -f "$st"
			log "kernel: OOM-killed (attempt $KILLS)"
		done
		(exit "$rc") ;;
	*) die "unknown way $way" ;;
	esac
	rc=$?
	in1=$(vmstat_get pswpin); out1=$(vmstat_get pswpout)
	[ "$way" = kernel ] && in1=$(memcg_majflt)
	if ! [ -s "$st" ]; then
		local why="exit $rc"
		[ "$way" = kernel ] && [ "$rc" = 137 ] && why="killed by the memcg OOM killer"
		log "$way: no result ($why)"
		echo "{\"skipped\": \"no result: $why\"}" >"$st"
		return 0
	fi
	python3 - "$st" "$rc" "$((in1 - in0))" "$((out1 - out0))" "$la" "${KILLS:-0}" <<'EOF'
import json, sys
p, rc, pin, pout, la, kills = sys.argv[1:]
d = json.load(open(p))
d["bench"] = {"rc": int(rc), "pswpin": int(pin), "pswpout": int(pout), "load": float(la),
              "oom_kills": int(kills)}
json.dump(d, open(p, "w"))
EOF
	log "$way: exit $rc"
}

if [[ " $WAYS " == *" kernel "* ]] && [ "$(id -u)" = 0 ]; then
	fallocate -l "$(( 2 * MEM_MB ))M" "$SWAPFILE" 2>/dev/null ||
		dd if=/dev/zero of="$SWAPFILE" bs=1M count=$(( 2 * MEM_MB )) status=none
	{ chmod 600 "$SWAPFILE" && mkswap "$SWAPFILE" >/dev/null && swapon "$SWAPFILE"; } ||
		die "cannot enable swap on $SWAPFILE"
	SWAP_ON=1
fi
log "memtouch $WL; host memory $LIMIT; ways: $WAYS"
for w in $WAYS; do run_way "$w"; done

python3 - "$OUT" "$WS" "$LIMIT" "$WL" "$WAYS" <<'EOF'
import json, os, shutil, subprocess, sys
out, ws, limit, wl, ways = sys.argv[1:]
rows = []
for w in ways.split():
    d = json.load(open(os.path.join(out, "raw", w + ".json")))
    if "skipped" in d:
        rows.append({"way": w, "skipped": d["skipped"]})
        continue
    m, s, b = d.get("metrics", {}), d.get("swap") or {}, d["bench"]
    blk = d.get("devices", {}).get("virtio_blk", {})
    fill = s.get("dma_fill", {})
    host_in = s.get("pages_read", b["pswpin"] if w == "kernel" else 0)
    # the kernel way's writes: no per-memcg counter in cgroup v1; the
    # host-wide pswpout is kept apart (other processes swap too)
    host_out = s.get("evictions", {}).get("written", 0) if s else (None if w == "kernel" else 0)
    rios = s.get("read_ios", 0)
    rows.append({
        "way": w, "exit": d.get("exit_status"), "rc": b["rc"], "load": b["load"],
        "runtime_s": m.get("elapsed_ns", 0) / 1e9,
        "host_pages_read": host_in, "host_pages_written": host_out,
        "guest_pages_read": int(m.get("gswap_swapins", 0)),
        "guest_pages_written": int(m.get("gswap_swapouts", 0)),
        "disk_reads": blk.get("reads", 0), "disk_writes": blk.get("writes", 0),
        "stale_reads": fill.get("write_pin_swap_reads") if s else None,
        "false_reads_avoided": (fill.get("swap_reads_skipped", 0) +
                                s.get("overwrite", {}).get("swap_reads_skipped", 0)) if s else None,
        "silent_writes": s.get("swap_mapper", {}).get("silent_writes") if s else None,
        "silent_writes_avoided": s.get("swap_mapper", {}).get("dropped_without_write") if s else None,
        "guest_cold_fills": int(m.get("gswap_cold_fills", 0)),
        "oom_kills": b.get("oom_kills", 0),
        "pages_per_host_read_io": round(host_in / rios, 2) if rios else None,
        "host_max_resident_pages": s.get("max_resident_pages"),
        "host_pswpout_all_processes": b["pswpout"] if w == "kernel" else None,
    })
doc = {"workload": "memtouch " + wl, "host_memory": limit, "ws": ws, "ways": rows,
       "notes": "silent writes: counted in way both (--swap-mapper-count), avoided in "
                "way mapper; kernel way: host_pages_read = the memcg's pgmajfault, "
                "host_pages_written unknown (cgroup v1 has no per-memcg swap-out "
                "counter; host_pswpout_all_processes is the host-wide figure); "
                "oom_kills: attempts the memcg OOM killer ended"}
json.dump(doc, open(os.path.join(out, "compare.json"), "w"), indent=1)
def f(v, nd=2):
    return "n/a" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))
md = [f"memtouch {wl}, host memory {limit}\n",
      "| way | exit | runtime s | host read | host written | guest read | guest written "
      "| stale reads | false reads avoided | silent writes | silent writes avoided "
      "| pages/host read I/O | load |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
for r in rows:
    if "skipped" in r:
        md.append(f"| {r['way']} | skipped: {r['skipped']} |" + " |" * 11)
        continue
    md.append(f"| {r['way']} | {r['exit']} | {f(r['runtime_s'])} | {r['host_pages_read']} | "
              f"{f(r['host_pages_written'])} | {r['guest_pages_read']} | {r['guest_pages_written']} | "
              f"{f(r['stale_reads'])} | {f(r['false_reads_avoided'])} | "
              f"{f(r['silent_writes'])} | {f(r['silent_writes_avoided'])} | "
              f"{f(r['pages_per_host_read_io'])} | {r['load']} |")
open(os.path.join(out, "compare.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
ok = [r for r in rows if "skipped" not in r]
if shutil.which("gnuplot") and ok:
    with open(os.path.join(out, "compare.dat"), "w") as fd:
        for r in ok:
            fd.write(f"{r['way']} {r['runtime_s']:.3f} {r['host_pages_read'] + r['guest_pages_read']} "
                     f"{(r['host_pages_written'] or 0) + r['guest_pages_written']}\n")
    gp = ("set terminal pngcairo size 800,400\nset output 'compare.png'\n"
          "set style data histograms\nset style fill solid\nset multiplot layout 1,2\n"
          "set title 'runtime (s)'\nplot 'compare.dat' using 2:xtic(1) notitle\n"
          "set title 'pages read + written (both levels)'\n"
          "plot 'compare.dat' using 3:xtic(1) title 'read', '' using 4 title 'written'\n"
          "unset multiplot\n")
    open(os.path.join(out, "compare.gp"), "w").write(gp)
    r = subprocess.run(["gnuplot", "compare.gp"], cwd=out, capture_output=True, text=True)
    if r.returncode:
        sys.stderr.write("compare.sh: gnuplot failed: " + r.stderr[-300:] + "\n")
EOF
log "results in $OUT"
