#!/usr/bin/env bash
# tests/bench/run.sh - hvswap side by side with Linux kernel swap, the device
# and the userfaultfd limits (issues 4 and 10).  One command, one results folder:
#
#   tests/bench/run.sh [--quick] [--out DIR] [options]
#
# writes DIR/bench.json, DIR/bench.md, DIR/bench-*.png (gnuplot) and DIR/raw/
# (one JSON file per measured run).  Needs root (cgroup, swapon) and /dev/kvm
# (exit 77 without them).  It creates its own swap file and memory cgroup and
# removes both on exit, failure or Ctrl-C; swap is on only during the kernel
# runs of section 3.
#
# Sections: 1 limits (fio, bare uffd, the floor: uffd round trip without I/O
# with a spinning and a blocking handler), 2 fault service (1/2/4 vCPUs, guest
# time per swap-in and its parts), 3 workloads x resident fractions (hvswap,
# kernel swap of a replaying host process, kernel swap of the KVM guest, no
# limit), 4 swap-out throughput, stream (sequential swap-in vs fio sequential
# read), 5 Belady MIN (runs with 3), 6 overhead fully resident (timed phase
# >= 2 s), 7 metadata (from the others), host (issue 13: many VMs under one
# budget, tests/bench/host.sh; not in the default list), ztier (issue 12:
# steady state with compressible fills, hvswap --ztier off/lz4/zstd against
# the kernel-swapped KVM guest with and without zswap; not in the default
# list).  --sections picks some of them.  Every other section runs hvswap
# with --ztier off, so that it compares raw swap with kernel swap.
# See docs/benchmarks.md.
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)

usage() {
	cat <<EOF
usage: $0 [--quick] [--out DIR] [options]
  --quick            CI smoke: tiny sizes, 1 repeat, every section (<= 90 s)
  --sections "L"     sections to run (default "1 2 3 4 stream seal 6"; "host":
                     many VMs under one budget, tests/bench/host.sh; 5 runs with
                     3, 7 is read from the others), e.g. --sections "1 stream"
  --out DIR          results folder (default results/bench-YYYYmmdd-HHMMSS)
  --build DIR        CMake build tree (default $SRC/build; built if needed)
  --repeats N        repeats of sections 1, 2, 4, 6 (default 3)
  --wl-repeats N     repeats of the section-3 hvswap, kernel-process and
                     no-limit runs at the --rep-fractions (default 3)
  --rep-fractions "L" section-3 fractions that get --wl-repeats repeats
                     (default "50", the fraction the runtime targets use;
                     "all": every fraction); the others and every kernel-KVM
                     run get one
  --ws SIZE          section-3 working set (default 1G)
  --fractions "L"    resident percentages (default "25 50 75")
  --patterns "L"     memtouch patterns (default "seq uniform zipf hotcold")
  --passes N         timed passes over the working set in section 3 (default 1)
  --fs-ws SIZE       section-2 working set, limit = 1/4 (default 128M)
  --uffd-ws SIZE     bare-uffd / overhead working set (default 256M)
  --so-ws SIZE       swap-out working set, limit = 1/4 (default 256M)
  --cap-ws SIZE      write-out capacity: dirty memory trimmed (default 1G)
  --swap-dir DIR     where hvswap and the kernel swap (default /var/tmp)
  --kvm-timeout S    cap of one kernel-swapped KVM run (default 90; each run
                     gets max(20, 2 x hvswap's wall time) up to this cap)
  --kvm-repeats N    kernel-swapped KVM runs at the --rep-fractions (default
                     1; the other fractions get one)
  --rtt-pages N      floor: pages per round of bench_uffd_rtt (default 20480)
  --rtt-rounds N     floor: timed rounds per run (default 5)
  --stream-ws SIZE   streaming working set (default 1G)
  --stream-limit SIZE streaming resident limit (default 256M)
  --stream-passes N  streaming timed passes (default 2)
  --ov-time S        overhead: size the timed phase to about S seconds
                     (default 3, so that it stays >= 2 s when the host's
                     speed drifts; calibrated by two runs without the swapper)
  --ov-passes N      overhead: fixed passes instead (default 0 = calibrate)
  --ov-repeats N     overhead: on/off pairs (default 5)
  --cg-slack SIZE    memcg limit = fraction x ws + this (default 8M)
  --fio-size SIZE    fio test file (default 1G)
  --check            validate bench.json at the end (exit 1 if incomplete)
  --zt-ws SIZE       ztier section: working set (default 256M)
  --zt-fraction P    ztier section: resident percentage (default 50)
  --zt-passes N      ztier section: passes after init (default 3)
  --zt-pattern P     ztier section: memtouch pattern (default uniform)
  --zt-fills "L"     ztier section: fill= kinds (default "ratio:2 ratio:3 random")
EOF
}

# ---- parameters ---------------------------------------------------------
QUICK=0 OUT="" BUILD="$SRC/build" REPEATS=3 WL_REPEATS=3 REP_FRACTIONS=50 WS=1G
FRACTIONS="25 50 75" PATTERNS="seq uniform zipf hotcold" PASSES=1
FS_WS=128M UFFD_WS=256M SO_WS=256M CAP_WS=1G SWAPDIR=/var/tmp KVM_TIMEOUT=90
CG_SLACK=8M FIO_SIZE=1G FIO_TIME=5 CHECK=0 RUN_TIMEOUT=900
SECTIONS="1 2 3 4 stream seal 6" KVM_REPEATS=1 RTT_PAGES=20480 RTT_ROUNDS=5
STREAM_WS=1G STREAM_LIMIT=256M STREAM_PASSES=2 OV_TIME=3 OV_PASSES=0 OV_REPEATS=5
ZT_WS=256M ZT_FRACTION=50 ZT_PASSES=3 ZT_PATTERN=uniform ZT_FILLS="ratio:2 ratio:3 random"
declare -A SET=()
ARGS_ORIG=("$@")
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--sections) SECTIONS=$2; shift ;;
	--kvm-repeats) KVM_REPEATS=$2; shift ;;
	--rtt-pages) RTT_PAGES=$2; SET[rttp]=1; shift ;;
	--rtt-rounds) RTT_ROUNDS=$2; SET[rttr]=1; shift ;;
	--stream-ws) STREAM_WS=$2; SET[sws]=1; shift ;;
	--stream-limit) STREAM_LIMIT=$2; SET[slim]=1; shift ;;
	--stream-passes) STREAM_PASSES=$2; shift ;;
	--ov-time) OV_TIME=$2; SET[ovt]=1; shift ;;
	--ov-passes) OV_PASSES=$2; shift ;;
	--ov-repeats) OV_REPEATS=$2; SET[ovr]=1; shift ;;
	--out) OUT=$2; shift ;;
	--build) BUILD=$2; shift ;;
	--repeats) REPEATS=$2; SET[rep]=1; shift ;;
	--wl-repeats) WL_REPEATS=$2; SET[wlrep]=1; shift ;;
	--rep-fractions) REP_FRACTIONS=$2; shift ;;
	--ws) WS=$2; SET[ws]=1; shift ;;
	--fractions) FRACTIONS=$2; shift ;;
	--patterns) PATTERNS=$2; shift ;;
	--passes) PASSES=$2; shift ;;
	--fs-ws) FS_WS=$2; SET[fs]=1; shift ;;
	--uffd-ws) UFFD_WS=$2; SET[uffd]=1; shift ;;
	--so-ws) SO_WS=$2; SET[so]=1; shift ;;
	--cap-ws) CAP_WS=$2; SET[cap]=1; shift ;;
	--swap-dir) SWAPDIR=$2; shift ;;
	--kvm-timeout) KVM_TIMEOUT=$2; SET[kt]=1; shift ;;
	--cg-slack) CG_SLACK=$2; SET[slack]=1; shift ;;
	--fio-size) FIO_SIZE=$2; SET[fio]=1; shift ;;
	--check) CHECK=1 ;;
	--zt-ws) ZT_WS=$2; SET[ztws]=1; shift ;;
	--zt-fraction) ZT_FRACTION=$2; shift ;;
	--zt-passes) ZT_PASSES=$2; shift ;;
	--zt-pattern) ZT_PATTERN=$2; shift ;;
	--zt-fills) ZT_FILLS=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "run.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then
	[ -n "${SET[rep]:-}" ] || REPEATS=1
	[ -n "${SET[wlrep]:-}" ] || WL_REPEATS=1
	[ -n "${SET[ws]:-}" ] || WS=32M
	[ -n "${SET[fs]:-}" ] || FS_WS=16M
	[ -n "${SET[uffd]:-}" ] || UFFD_WS=8M
	[ -n "${SET[so]:-}" ] || SO_WS=16M
	[ -n "${SET[cap]:-}" ] || CAP_WS=16M
	[ -n "${SET[kt]:-}" ] || KVM_TIMEOUT=10
	[ -n "${SET[fio]:-}" ] || FIO_SIZE=64M
	[ -n "${SET[slack]:-}" ] || CG_SLACK=2M
	[ -n "${SET[rttp]:-}" ] || RTT_PAGES=256
	[ -n "${SET[rttr]:-}" ] || RTT_ROUNDS=2
	[ -n "${SET[sws]:-}" ] || STREAM_WS=32M
	[ -n "${SET[slim]:-}" ] || STREAM_LIMIT=8M
	[ -n "${SET[ovt]:-}" ] || OV_TIME=0.2
	[ -n "${SET[ovr]:-}" ] || OV_REPEATS=1
	[ -n "${SET[ztws]:-}" ] || ZT_WS=32M
	FIO_TIME=1 RUN_TIMEOUT=60
fi
[ -n "$OUT" ] || OUT="$SRC/results/bench-$(date +%Y%m%d-%H%M%S)"
# Normalise the section list: 5 (Belady) runs inside 3; 7 needs no runs.
SECS=""
for s in $SECTIONS; do
	case "$s" in
	1|2|3|4|6|stream|seal|ztier) case " $SECS " in *" $s "*) ;; *) SECS="$SECS $s" ;; esac ;;
	5) case " $SECS " in *" 3 "*) ;; *) SECS="$SECS 3" ;; esac ;;
	7) ;;
	host) HOST_SEC=1 ;;
	*) echo "run.sh: unknown section '$s' (1 2 3 4 5 6 7 stream seal host ztier)" >&2; exit 2 ;;
	esac
done
SECS=${SECS# }
# Section "host" (issue 13: many VMs under one budget) is its own script:
# tests/bench/host.sh, results in OUT/host/.
if [ "${HOST_SEC:-0}" = 1 ]; then
	hq=()
	[ "$QUICK" = 1 ] && hq=(--quick)
	bash "$HERE/host.sh" "${hq[@]}" --build "$BUILD" --out "$OUT/host" || exit $?
	[ -n "$SECS" ] || exit 0
fi
[ -n "$SECS" ] || { echo "run.sh: --sections selects nothing" >&2; exit 2; }
want() { case " $SECS " in *" $1 "*) return 0 ;; esac; return 1; }

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---- preconditions (77 = skip for ctest) ---------------------------------
if [ "$(id -u)" != 0 ]; then
	echo "run.sh: needs root (memory cgroup, swapon); skipping" >&2; exit 77
fi
if ! [ -c /dev/kvm ] || ! [ -r /dev/kvm ]; then
	echo "run.sh: /dev/kvm missing; skipping" >&2; exit 77
fi
CGROOT=/sys/fs/cgroup/memory
[ -w "$CGROOT/cgroup.procs" ] || die "cgroup v1 memory controller not at $CGROOT"

size_bytes() {  # 1G -> bytes
	local s=$1 n u
	n=${s%[KkMmGgTt]}; u=${s#"$n"}
	case "$u" in
	K|k) echo $((n << 10)) ;; M|m) echo $((n << 20)) ;;
	G|g) echo $((n << 30)) ;; T|t) echo $((n << 40)) ;; *) echo "$n" ;;
	esac
}
mib() { echo "$(( $1 >> 20 ))M"; }

# ---- tools ----------------------------------------------------------------
need_pkg() {  # need_pkg CMD PACKAGE
	command -v "$1" >/dev/null 2>&1 && return 0
	log "installing $2 (apt-get)"
	{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" ||
	  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2"; }
	} >/dev/null 2>&1
	command -v "$1" >/dev/null 2>&1
}
need_pkg fio fio || die "fio is missing and could not be installed"
HAVE_GNUPLOT=1
need_pkg gnuplot gnuplot-nox || { HAVE_GNUPLOT=0; log "warning: no gnuplot: no plots"; }
PY=$(command -v python3 || echo /usr/bin/python3)

TOOLS="bench_replay bench_belady bench_swapout bench_uffd_rtt"
need_build=0
[ -x "$BUILD/vmm/hvswap" ] || need_build=1
for t in $TOOLS; do [ -x "$BUILD/tests/$t" ] || need_build=1; done
if [ "$need_build" = 1 ]; then
	log "building hvswap $TOOLS in $BUILD"
	[ -f "$BUILD/CMakeCache.txt" ] || cmake -S "$SRC" -B "$BUILD" >/dev/null ||
		die "cmake failed"
	# shellcheck disable=SC2086
	cmake --build "$BUILD" -j2 --target hvswap $TOOLS >/dev/null || die "build failed"
fi

# ---- leftovers of a run killed with SIGKILL (e.g. a ctest timeout) ---------
# No trap runs then.  Only runs whose run.sh is gone are cleaned: another
# run.sh may be running.  A cgroup is named by its run.sh's pid, a temp
# dir holds it in "owner" (dirs without one are left alone).
cleanup_stale() {
	local d pid p
	for d in "$CGROOT"/hvswap-bench.*; do
		[ -d "$d" ] || continue
		pid=${d##*.}
		kill -0 "$pid" 2>/dev/null && continue
		for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		for _ in 1 2 3 4 5; do rmdir "$d" 2>/dev/null && break; sleep 0.3; done
		if [ -d "$d" ]; then log "warning: cannot remove stale cgroup $d"
		else log "removed stale cgroup $d"; fi
	done
	for d in "$SWAPDIR"/hvbench.*; do
		[ -f "$d/owner" ] || continue
		pid=$(cat "$d/owner")
		kill -0 "$pid" 2>/dev/null && continue
		if grep -q "^$d/swapfile " /proc/swaps 2>/dev/null && ! swapoff "$d/swapfile"; then
			log "warning: cannot swapoff stale $d/swapfile"
			continue
		fi
		rm -rf "$d" && log "removed stale $d"
	done
}
cleanup_stale

# ---- private state and cleanup -------------------------------------------
mkdir -p "$OUT/raw" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT"/raw/*.json
TMP=$(mktemp -d "${SWAPDIR}/hvbench.XXXXXX") || die "cannot create a temp dir in $SWAPDIR"
echo $$ > "$TMP/owner"
# Private copies: a concurrent rebuild must not change binaries mid-run.
cp "$BUILD/vmm/hvswap" "$BUILD/tests/bench_replay" "$BUILD/tests/bench_belady" \
	"$BUILD/tests/bench_swapout" "$BUILD/tests/bench_uffd_rtt" "$TMP/"
HV=$TMP/hvswap REPLAY=$TMP/bench_replay BELADY=$TMP/bench_belady SWAPOUT=$TMP/bench_swapout
UFFD_RTT=$TMP/bench_uffd_rtt
SWAPFILE="$TMP/swapfile"
FIOFILE="$TMP/fio.dat"
CG="$CGROOT/hvswap-bench.$$"
SWAP_ON=0

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	zswap_restore
	if [ "$SWAP_ON" = 1 ] || grep -q "^$SWAPFILE " /proc/swaps 2>/dev/null; then
		swapoff "$SWAPFILE" 2>/dev/null || log "warning: swapoff $SWAPFILE failed"
	fi
	if [ -d "$CG" ]; then
		local p
		for p in $(cat "$CG/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		for _ in 1 2 3 4 5 6 7 8 9 10; do rmdir "$CG" 2>/dev/null && break; sleep 0.3; done
		[ -d "$CG" ] && log "warning: could not remove $CG"
	fi
	rm -rf "$TMP"
	if grep -q "$SWAPFILE" /proc/swaps 2>/dev/null; then
		log "warning: $SWAPFILE still listed in /proc/swaps"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

mkdir "$CG" || die "cannot create cgroup $CG"

swap_on() {  # swap_on BYTES
	local mb=$(( ($1 >> 20) + 1 ))
	rm -f "$SWAPFILE"
	if ! { fallocate -l "${mb}M" "$SWAPFILE" && chmod 600 "$SWAPFILE" &&
	       mkswap "$SWAPFILE" >/dev/null && swapon "$SWAPFILE"; } 2>/dev/null; then
		rm -f "$SWAPFILE"
		dd if=/dev/zero of="$SWAPFILE" bs=1M count="$mb" status=none &&
			chmod 600 "$SWAPFILE" && mkswap "$SWAPFILE" >/dev/null &&
			swapon "$SWAPFILE" || die "cannot enable swap file $SWAPFILE"
	fi
	SWAP_ON=1
	log "swap on: $SWAPFILE ($mb MiB)"
}
swap_off() {
	[ "$SWAP_ON" = 1 ] || return 0
	swapoff "$SWAPFILE" || die "swapoff $SWAPFILE failed"
	SWAP_ON=0
	rm -f "$SWAPFILE"
	log "swap off"
}

vmstat_get() { awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat; }

# zswap (section ztier): switched on only around the runs that use it, and
# put back as it was (also by cleanup).  ZSWAP_SAVED: "enabled compressor".
ZSWAP=/sys/module/zswap/parameters ZSWAP_SAVED=""
zswap_restore() {
	[ -n "$ZSWAP_SAVED" ] || return 0
	echo "${ZSWAP_SAVED#* }" > "$ZSWAP/compressor" 2>/dev/null
	echo "${ZSWAP_SAVED%% *}" > "$ZSWAP/enabled" 2>/dev/null
	ZSWAP_SAVED=""
}
# zswap_on: 0 and ZSWAP_DESC when zswap is on now (lz4 if the kernel takes
# it), else 1 with ZSWAP_DESC saying why not.
zswap_on() {
	if [ ! -w "$ZSWAP/enabled" ]; then
		ZSWAP_DESC="this kernel has no zswap (/sys/module/zswap missing)"
		return 1
	fi
	ZSWAP_SAVED="$(cat "$ZSWAP/enabled") $(cat "$ZSWAP/compressor")"
	echo lz4 > "$ZSWAP/compressor" 2>/dev/null
	if ! echo Y > "$ZSWAP/enabled" 2>/dev/null || [ "$(cat "$ZSWAP/enabled")" != Y ]; then
		ZSWAP_DESC="zswap could not be enabled (echo Y > $ZSWAP/enabled failed)"
		zswap_restore
		return 1
	fi
	ZSWAP_DESC="zswap on: compressor $(cat "$ZSWAP/compressor"), max_pool_percent $(cat "$ZSWAP/max_pool_percent" 2>/dev/null), zpool $(cat "$ZSWAP/zpool" 2>/dev/null || echo zsmalloc)"
	return 0
}
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# ---- one measured run -> raw/KEY.json -------------------------------------
# run_case KEY META_JSON CGLIMIT_BYTES|- KIND -- command...
#   KIND hvswap: the command writes --stats $TMP/stats.json
#   KIND replay|belady: the command prints one JSON object on stdout
#   KIND fio: the command prints one JSON document on stdout
run_case() {
	local key=$1 meta=$2 cgl=$3 kind=$4; shift 5
	local st=$TMP/stats.json outf=$TMP/stdout errf=$TMP/stderr
	local t0 t1 rc in0 out0 in1 out1 fc0=0 oom0=0 fc1=0 oom1=0 maxu=0 la0 la1 payload status
	rm -f "$st"
	la0=$(loadavg)
	in0=$(vmstat_get pswpin); out0=$(vmstat_get pswpout)
	zi0=$(vmstat_get zswpin); zo0=$(vmstat_get zswpout); zw0=$(vmstat_get zswpwb)
	if [ "$cgl" != - ]; then
		echo "$cgl" > "$CG/memory.limit_in_bytes" || die "cannot set memcg limit"
		echo 0 > "$CG/memory.max_usage_in_bytes" 2>/dev/null
		fc0=$(cat "$CG/memory.failcnt")
		oom0=$(awk '$1 == "oom_kill" { print $2 }' "$CG/memory.oom_control")
	fi
	t0=$(date +%s.%N)
	if [ "$cgl" != - ]; then
		# (in a subshell: bash would report a SIGKILL of the job on stderr)
		( bash -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' _ "$CG" "$@" \
			>"$outf" 2>"$errf"; exit $? ) 2>/dev/null
	else
		"$@" >"$outf" 2>"$errf"
	fi
	rc=$?
	t1=$(date +%s.%N)
	in1=$(vmstat_get pswpin); out1=$(vmstat_get pswpout)
	zi1=$(vmstat_get zswpin); zo1=$(vmstat_get zswpout); zw1=$(vmstat_get zswpwb)
	if [ "$cgl" != - ]; then
		fc1=$(cat "$CG/memory.failcnt")
		oom1=$(awk '$1 == "oom_kill" { print $2 }' "$CG/memory.oom_control")
		maxu=$(cat "$CG/memory.max_usage_in_bytes")
	fi
	la1=$(loadavg)
	status=ok
	if [ $((oom1 - oom0)) -gt 0 ]; then status=oom-killed
	elif [ $rc = 124 ]; then status=timeout
	elif [ $rc != 0 ]; then status="error-$rc"
	fi
	local payload_file=""
	if [ "$kind" = hvswap ]; then
		payload_file=$st
	elif [ "$kind" = fio ]; then
		payload_file=$outf
	else
		payload_file=$TMP/lastline
		tail -n 1 "$outf" > "$payload_file" 2>/dev/null
	fi
	[ "$status" = ok ] || log "  $key: $status (exit $rc): $(tail -n 2 "$errf" | tr '\n' ' ' | cut -c1-300)"
	# One interpreter start per run (each costs ~0.2 s here): the record.
	"$PY" - "$OUT/raw/$key.json" "$payload_file" "$errf" "$@" <<PYEOF
import json, sys
out, pf, ef, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
try:
    payload = json.load(open(pf))
except Exception:
    payload = None
try:
    tail = "".join(l[:400] for l in open(ef, errors="replace").readlines()[-8:])
except Exception:
    tail = ""
rec = {"key": "$key", "meta": json.loads('$meta'), "kind": "$kind", "status": "$status",
       "exit": $rc, "wall_s": $t1 - $t0, "pswpin": $((in1 - in0)), "pswpout": $((out1 - out0)),
       "zswpin": $((${zi1:-0} - ${zi0:-0})), "zswpout": $((${zo1:-0} - ${zo0:-0})),
       "zswpwb": $((${zw1:-0} - ${zw0:-0})),
       "cg_limit": None if "$cgl" == "-" else int("$cgl"), "cg_failcnt": $((fc1 - fc0)),
       "cg_oom_kills": $((oom1 - oom0)), "cg_max_usage": $maxu, "load_start": $la0,
       "load_end": $la1, "cmd": " ".join(cmd), "stderr_tail": tail, "result": payload}
json.dump(rec, open(out, "w"))
PYEOF
	return 0
}

mem_for() { echo "$(( ($(size_bytes "$1") >> 20) + 4 ))M"; }   # guest RAM for ws
# --ztier off: the sections compare raw swap with kernel swap (section
# ztier turns the tier on by its own option, which comes later and wins).
HVQ=(-q --timeout "$RUN_TIMEOUT" --swap-dir "$SWAPDIR" --ztier off)

T_START=$(date +%s) LOAD_START=$(loadavg)
SECTION_T=()
section_done() { SECTION_T+=("\"$1\":$(( $(date +%s) - SEC_T0 ))"); }
log "results -> $OUT (quick=$QUICK sections=[$SECS] repeats=$REPEATS wl-repeats=$WL_REPEATS ws=$WS)"

# ---- warm-up: fresh host memory is slow on first touch (nested) ------------
# (as much as the largest working set of the sections that run)
WSB=$(size_bytes "$WS")
WARM=0 WARM_MARGIN=$((256 << 20))
[ "$QUICK" = 1 ] && WARM_MARGIN=$((16 << 20))
for s in "ztier:$ZT_WS" "3:$WS" "2:$FS_WS" "1:$UFFD_WS" "6:$UFFD_WS" "4:$SO_WS" "4:$CAP_WS" \
	 "stream:$STREAM_WS"; do
	want "${s%%:*}" || continue
	b=$(size_bytes "${s#*:}"); [ "$b" -gt "$WARM" ] && WARM=$b
done
log "warm-up: touching $(mib $((WARM + WARM_MARGIN))) of host memory"
"$REPLAY" ws=$(mib $((WARM + WARM_MARGIN))) pattern=seq passes=1 init=1 >/dev/null ||
	die "bench_replay failed"
"$HV" run "${HVQ[@]}" --mem "$(mem_for "$(mib "$WARM")")" memtouch ws="$(mib "$WARM")" \
	pattern=seq passes=1 init=1 >/dev/null 2>&1 ||
	die "hvswap failed to run memtouch"

UM=$(mem_for "$UFFD_WS")
UL=$(mib $(( $(size_bytes "$UM") * 2 )))

# ---- 1. limits -------------------------------------------------------------
if want 1; then
SEC_T0=$(date +%s)
log "1. limits: fio on $SWAPDIR, bare uffd round trip, the floor (uffd round trip without I/O)"
for r in $(seq 0 $((REPEATS - 1))); do
	run_case "s1_fio_write_r$r" "{\"section\":1,\"what\":\"fio_seqwrite\",\"rep\":$r}" - fio -- \
		fio --name=seqwrite --filename="$FIOFILE" --size="$FIO_SIZE" --direct=1 \
		--ioengine=libaio --rw=write --bs=1M --iodepth=16 --end_fsync=1 \
		--output-format=json
	run_case "s1_fio_read_r$r" "{\"section\":1,\"what\":\"fio_randread\",\"rep\":$r}" - fio -- \
		fio --name=randread --filename="$FIOFILE" --size="$FIO_SIZE" --direct=1 \
		--ioengine=libaio --rw=randread --bs=4k --iodepth=1 --runtime="$FIO_TIME" \
		--time_based --lat_percentiles=1 --output-format=json
	rm -f "$FIOFILE"
done
for r in $(seq 0 $((REPEATS - 1))); do
	# The floor: a minimal guest, one uffd fault per fresh page, one
	# UFFDIO_COPY each, no I/O; a spinning and a blocking handler, and the
	# same guest without uffd.  Interleaved so drift hits all three alike.
	for m in spin block off; do
		run_case "s1_rtt_${m}_r$r" "{\"section\":1,\"what\":\"rtt_$m\",\"rep\":$r}" - replay -- \
			"$UFFD_RTT" mode=$m pages="$RTT_PAGES" rounds="$RTT_ROUNDS"
	done
done
for r in $(seq 0 $((REPEATS - 1))); do
	# bare round trip: one uffd fault per first touch (no fault-around)
	run_case "s1_uffd_on_r$r" "{\"section\":1,\"what\":\"uffd_on\",\"rep\":$r}" - hvswap -- \
		"$HV" run "${HVQ[@]}" --fault-around 0 --mem "$UM" --mem-limit "$UL" \
		--stats "$TMP/stats.json" memtouch ws="$UFFD_WS" pattern=seq passes=2 rw=1
	# hvswap's default: fault-around (16 pages)
	run_case "s1_uffd_fa_r$r" "{\"section\":1,\"what\":\"uffd_fa\",\"rep\":$r}" - hvswap -- \
		"$HV" run "${HVQ[@]}" --mem "$UM" --mem-limit "$UL" --stats "$TMP/stats.json" \
		memtouch ws="$UFFD_WS" pattern=seq passes=2 rw=1
	run_case "s1_uffd_off_r$r" "{\"section\":1,\"what\":\"uffd_off\",\"rep\":$r}" - hvswap -- \
		"$HV" run "${HVQ[@]}" --mem "$UM" --stats "$TMP/stats.json" \
		memtouch ws="$UFFD_WS" pattern=seq passes=2 rw=1
done
section_done limits
fi

# ---- 2. fault service ------------------------------------------------------
if want 2; then
SEC_T0=$(date +%s)
FM=$(mem_for "$FS_WS")
FL=$(mib $(( $(size_bytes "$FS_WS") / 4 )))
log "2. fault service: uniform ws=$FS_WS limit=$FL, 1/2/4 vCPUs"
for v in 1 2 4; do
	for r in $(seq 0 $((REPEATS - 1))); do
		run_case "s2_v${v}_r$r" "{\"section\":2,\"vcpus\":$v,\"rep\":$r}" - hvswap -- \
			"$HV" run "${HVQ[@]}" --vcpus $v --mem "$FM" --mem-limit "$FL" \
			--stats "$TMP/stats.json" memtouch ws="$FS_WS" pattern=uniform passes=1 init=1
	done
done
section_done fault_service
fi

# ---- 3 + 5. workloads x resident fractions, Belady MIN --------------------
if want 3; then
SEC_T0=$(date +%s)
WM=$(mem_for "$WS")
SLACK=$(size_bytes "$CG_SLACK")
wl_args() {  # wl_args PATTERN
	local extra=""
	[ "$1" = zipf ] && extra="skew=0.99"
	echo "ws=$WS pattern=$1 passes=$PASSES init=1 rw=0.5 $extra"
}
[ "$REP_FRACTIONS" = all ] && REP_FRACTIONS=$FRACTIONS
reps_for() {  # reps_for FRACTION -> number of repeats
	case " $REP_FRACTIONS " in *" $1 "*) echo "$WL_REPEATS" ;; *) echo 1 ;; esac
}
NL_REPS=$WL_REPEATS
log "3. workloads: ws=$WS patterns=[$PATTERNS] resident=[$FRACTIONS]% ($WL_REPEATS runs at [$REP_FRACTIONS]%, else 1)"
for pat in $PATTERNS; do
	# shellcheck disable=SC2046
	set -- $(wl_args "$pat")
	for f in $FRACTIONS; do
		lim=$(( WSB * f / 100 )); lim=$(( lim >> 12 << 12 ))
		run_case "s5_belady_${pat}_$f" "{\"section\":5,\"pattern\":\"$pat\",\"fraction\":$f}" - belady -- \
			"$BELADY" limit="$lim" "$@"
		for r in $(seq 0 $(( $(reps_for "$f") - 1))); do
			run_case "s3_hvswap_${pat}_${f}_r$r" \
				"{\"section\":3,\"system\":\"hvswap\",\"pattern\":\"$pat\",\"fraction\":$f,\"rep\":$r}" - hvswap -- \
				"$HV" run "${HVQ[@]}" --mem "$WM" --mem-limit "$lim" \
				--stats "$TMP/stats.json" memtouch "$@"
		done
	done
	for r in $(seq 0 $((NL_REPS - 1))); do
		run_case "s3_nolimit_${pat}_r$r" \
			"{\"section\":3,\"system\":\"nolimit_kvm\",\"pattern\":\"$pat\",\"rep\":$r}" - hvswap -- \
			"$HV" run "${HVQ[@]}" --mem "$WM" --stats "$TMP/stats.json" memtouch "$@"
		run_case "s3_nolimitproc_${pat}_r$r" \
			"{\"section\":3,\"system\":\"nolimit_process\",\"pattern\":\"$pat\",\"rep\":$r}" - replay -- \
			"$REPLAY" "$@"
	done
done
# Kernel swap: one swap file on the same filesystem, on only for these runs.
swap_on $(( WSB + (WSB / 4) + (64 << 20) ))
for pat in $PATTERNS; do
	# shellcheck disable=SC2046
	set -- $(wl_args "$pat")
	for f in $FRACTIONS; do
		lim=$(( WSB * f / 100 )); lim=$(( lim >> 12 << 12 ))
		for r in $(seq 0 $(( $(reps_for "$f") - 1))); do
			run_case "s3_kproc_${pat}_${f}_r$r" \
				"{\"section\":3,\"system\":\"kernel_process\",\"pattern\":\"$pat\",\"fraction\":$f,\"rep\":$r}" \
				$((lim + SLACK)) replay -- "$REPLAY" "$@"
		done
	done
	# The KVM guest under kernel swap (the user's alternative), largest
	# fraction first: after an OOM kill or a timeout, the rest of this
	# pattern is recorded as skipped.  --kvm-repeats runs at the
	# --rep-fractions, one elsewhere.
	kk_stop=""
	for f in $(echo $FRACTIONS | tr ' ' '\n' | sort -rn); do
		lim=$(( WSB * f / 100 )); lim=$(( lim >> 12 << 12 ))
		kreps=1
		case " $REP_FRACTIONS " in *" $f "*) kreps=$KVM_REPEATS ;; esac
		for r in $(seq 0 $((kreps - 1))); do
			key="s3_kkvm_${pat}_${f}_r$r"
			meta="{\"section\":3,\"system\":\"kernel_kvm\",\"pattern\":\"$pat\",\"fraction\":$f,\"rep\":$r}"
			if [ -n "$kk_stop" ]; then
				echo "{\"key\":\"$key\",\"meta\":$meta,\"kind\":\"hvswap\",\"status\":\"skipped-after-$kk_stop\",\"result\":null,\"wall_s\":null,\"pswpin\":0,\"pswpout\":0,\"cg_max_usage\":null,\"cg_oom_kills\":0}" > "$OUT/raw/$key.json"
				continue
			fi
			hw=$("$PY" -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["wall_s"]))' \
				"$OUT/raw/s3_hvswap_${pat}_${f}_r0.json" 2>/dev/null || echo 10)
			kt=$(( 2 * hw )); [ $kt -lt 20 ] && kt=20; [ $kt -gt "$KVM_TIMEOUT" ] && kt=$KVM_TIMEOUT
			run_case "$key" "$meta" $((lim + SLACK)) hvswap -- \
				"$HV" run -q --timeout "$kt" --mem "$WM" \
				--stats "$TMP/stats.json" memtouch "$@"
			st=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$OUT/raw/$key.json")
			case "$st" in
			oom-killed) kk_stop=oom ;;
			timeout) kk_stop=timeout ;;
			esac
		done
	done
done
swap_off
section_done workloads
fi

# ---- 4. swap-out throughput ------------------------------------------------
if want 4; then
SEC_T0=$(date +%s)
SM=$(mem_for "$SO_WS")
SL=$(mib $(( $(size_bytes "$SO_WS") / 4 )))
log "4. swap-out: seq rw=1 ws=$SO_WS limit=$SL"
for r in $(seq 0 $((REPEATS - 1))); do
	run_case "s4_r$r" "{\"section\":4,\"what\":\"vm\",\"rep\":$r}" - hvswap -- \
		"$HV" run "${HVQ[@]}" --mem "$SM" --mem-limit "$SL" --stats "$TMP/stats.json" \
		memtouch ws="$SO_WS" pattern=seq passes=2 rw=1
done
log "4. swap-out capacity: bench_swapout ws=$CAP_WS (trim of dirty memory, no VM)"
for r in $(seq 0 $((REPEATS - 1))); do
	run_case "s4_cap_r$r" "{\"section\":4,\"what\":\"capacity\",\"rep\":$r}" - replay -- \
		"$SWAPOUT" ws="$CAP_WS" dir="$SWAPDIR"
done
section_done swap_out
fi

# ---- stream. sequential swap-in vs fio sequential read -----------------------
if want stream; then
SEC_T0=$(date +%s)
STM=$(mem_for "$STREAM_WS")
STB=$(size_bytes "$STREAM_WS")
FSZ=$STREAM_WS
[ "$(size_bytes "$FIO_SIZE")" -lt "$STB" ] && FSZ=$FIO_SIZE
log "stream: memtouch seq rw=0 ws=$STREAM_WS limit=$STREAM_LIMIT passes=$STREAM_PASSES vs fio seq read 1 MiB QD16 ($FSZ)"
for r in $(seq 0 $((REPEATS - 1))); do
	# fio lays the file out (writes it) on the first read run; O_DIRECT reads
	# do not go through the page cache.
	run_case "st_fio_r$r" "{\"section\":\"stream\",\"what\":\"fio_seqread\",\"rep\":$r}" - fio -- \
		fio --name=seqread --filename="$FIOFILE" --size="$FSZ" --direct=1 \
		--ioengine=libaio --rw=read --bs=1M --iodepth=16 --runtime="$FIO_TIME" \
		--time_based --output-format=json
	run_case "st_hvswap_r$r" "{\"section\":\"stream\",\"what\":\"hvswap\",\"rep\":$r}" - hvswap -- \
		"$HV" run "${HVQ[@]}" --mem "$STM" --mem-limit "$STREAM_LIMIT" \
		--stats "$TMP/stats.json" memtouch ws="$STREAM_WS" pattern=seq rw=0 init=1 \
		passes="$STREAM_PASSES"
done
rm -f "$FIOFILE"
section_done stream
fi

# ---- seal. the cost of --swap-encrypt (AES-256-GCM) against crc32c ----------
# Interleaved pairs in the same run: swap-in (section 2's 1-vCPU uniform run)
# and write-out capacity (section 4's trim of dirty memory).  Every slot is
# sealed either way (crc32c by default), so this is what encryption adds.
if want seal; then
SEC_T0=$(date +%s)
FM=$(mem_for "$FS_WS")
FL=$(mib $(( $(size_bytes "$FS_WS") / 4 )))
log "seal: crc32c vs --swap-encrypt: uniform ws=$FS_WS limit=$FL; capacity ws=$CAP_WS"
for r in $(seq 0 $((REPEATS - 1))); do
	for enc in 0 1; do
		eo=()
		[ $enc = 1 ] && eo=(--swap-encrypt)
		run_case "seal_in_e${enc}_r$r" "{\"section\":\"seal\",\"what\":\"swapin\",\"encrypt\":$enc,\"rep\":$r}" - hvswap -- \
			"$HV" run "${HVQ[@]}" "${eo[@]}" --mem "$FM" --mem-limit "$FL" \
			--stats "$TMP/stats.json" memtouch ws="$FS_WS" pattern=uniform passes=1 init=1
		run_case "seal_cap_e${enc}_r$r" "{\"section\":\"seal\",\"what\":\"capacity\",\"encrypt\":$enc,\"rep\":$r}" - replay -- \
			"$SWAPOUT" ws="$CAP_WS" dir="$SWAPDIR" encrypt=$enc
	done
done
section_done seal
fi

# ---- 6. overhead fully resident --------------------------------------------
if want 6; then
SEC_T0=$(date +%s)
ov_calibrate() {  # ov_calibrate PASSES SECONDS -> passes for a timed phase of SECONDS
	"$HV" run "${HVQ[@]}" --mem "$UM" --stats "$TMP/ovcal.json" \
		memtouch ws="$UFFD_WS" pattern=zipf passes="$1" init=1 >/dev/null 2>&1 ||
		return 1
	"$PY" -c 'import json,math,sys
m = json.load(open(sys.argv[1]))["metrics"]
print(max(4, min(1000000, math.ceil(int(sys.argv[2]) * float(sys.argv[3]) * 1e9 / max(m["elapsed_ns"], 1)))))' \
		"$TMP/ovcal.json" "$1" "$2"
}
if [ "$OV_PASSES" -le 0 ]; then
	# Passes for a timed phase of about --ov-time, without the swapper: a
	# short run, then one of about a quarter of the target (the first
	# passes after init are slower than the rest).
	# (die in $(...) leaves only the subshell: check the result here)
	p=$(ov_calibrate 4 "$OV_TIME") && [ -n "$p" ] || die "overhead calibration failed"
	OV_PASSES=$(ov_calibrate "$(( (p + 3) / 4 ))" "$OV_TIME") && [ -n "$OV_PASSES" ] ||
		die "overhead calibration failed"
fi
log "6. overhead: zipf ws=$UFFD_WS passes=$OV_PASSES fully resident, swapper on vs off, $OV_REPEATS pairs"
for r in $(seq 0 $((OV_REPEATS - 1))); do
	run_case "s6_on_r$r" "{\"section\":6,\"swapper\":true,\"rep\":$r}" - hvswap -- \
		"$HV" run "${HVQ[@]}" --mem "$UM" --mem-limit "$UL" --stats "$TMP/stats.json" \
		memtouch ws="$UFFD_WS" pattern=zipf passes="$OV_PASSES" init=1
	run_case "s6_off_r$r" "{\"section\":6,\"swapper\":false,\"rep\":$r}" - hvswap -- \
		"$HV" run "${HVQ[@]}" --mem "$UM" --stats "$TMP/stats.json" \
		memtouch ws="$UFFD_WS" pattern=zipf passes="$OV_PASSES" init=1
done
section_done overhead
fi

# ---- ztier. steady state with compressible pages (issue 12, item 6) ---------
# memtouch with fill= contents, passes after init; hvswap with the tier off,
# lz4 and zstd (default pool cap: a fifth of the limit; lz4_half: half the
# limit) against the KVM
# guest under kernel swap (memcg limit, swap file) without and with zswap.
# Runtime = the guest's timed phase; disk reads = hvswap's bytes_read / 4 KiB
# or the kernel's pswpin (zswap loads are zswpin, not pswpin).
if want ztier; then
SEC_T0=$(date +%s)
ZTM=$(mem_for "$ZT_WS")
ZTB=$(size_bytes "$ZT_WS")
ZTL=$(( ZTB * ZT_FRACTION / 100 >> 12 << 12 ))
SLACK=$(size_bytes "$CG_SLACK")
log "ztier: $ZT_PATTERN ws=$ZT_WS resident ${ZT_FRACTION}% passes=$ZT_PASSES fills=[$ZT_FILLS]"
zt_meta() {  # zt_meta SYSTEM FILL
	echo "{\"section\":\"ztier\",\"system\":\"$1\",\"fill\":\"$2\",\"pattern\":\"$ZT_PATTERN\",\"fraction\":$ZT_FRACTION}"
}
for fill in $ZT_FILLS; do
	set -- ws="$ZT_WS" pattern="$ZT_PATTERN" passes="$ZT_PASSES" init=1 rw=0.5 fill="$fill"
	fk=${fill//:/}
	# lz4_half: a pool cap of half the limit instead of the default fifth
	for zt in off lz4 zstd lz4_half; do
		zo=(--ztier "${zt%_half}")
		[ "$zt" = lz4_half ] && zo+=(--ztier-size $((ZTL / 2)))
		run_case "zt_hvswap_${zt}_$fk" "$(zt_meta "hvswap_$zt" "$fill")" - hvswap -- \
			"$HV" run "${HVQ[@]}" "${zo[@]}" --mem "$ZTM" --mem-limit "$ZTL" \
			--stats "$TMP/stats.json" memtouch "$@"
	done
done
swap_on $(( ZTB + (64 << 20) ))
ZSWAP_DESC=""
for fill in $ZT_FILLS; do
	set -- ws="$ZT_WS" pattern="$ZT_PATTERN" passes="$ZT_PASSES" init=1 rw=0.5 fill="$fill"
	fk=${fill//:/}
	run_case "zt_kkvm_$fk" "$(zt_meta kernel_kvm "$fill")" $((ZTL + SLACK)) hvswap -- \
		"$HV" run -q --timeout "$RUN_TIMEOUT" --mem "$ZTM" --stats "$TMP/stats.json" memtouch "$@"
	if zswap_on; then
		log "  $ZSWAP_DESC"
		run_case "zt_kkvmz_$fk" "$(zt_meta kernel_kvm_zswap "$fill")" $((ZTL + SLACK)) hvswap -- \
			"$HV" run -q --timeout "$RUN_TIMEOUT" --mem "$ZTM" --stats "$TMP/stats.json" memtouch "$@"
		zswap_restore
	else
		log "  no zswap run: $ZSWAP_DESC"
	fi
done
swap_off
"$PY" -c 'import json,sys; json.dump({"zswap":sys.argv[1],"load":float(sys.argv[2])}, open(sys.argv[3],"w"))' \
	"${ZSWAP_DESC:-not tried}" "$(loadavg)" "$OUT/raw/zt_env.json.txt"
section_done ztier
fi

# ---- report -----------------------------------------------------------------
T_END=$(date +%s)
cat > "$OUT/raw/meta.json" <<EOF
{"date":"$(date -Iseconds)","host":"$(hostname)","kernel":"$(uname -r)",
 "cpus":$(nproc),"mem_bytes":$(awk '/MemTotal/ {print $2 * 1024}' /proc/meminfo),
 "cpu_model":$("$PY" -c 'import json; print(json.dumps(next((l.split(":",1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")))'),
 "kvm_module":"$(ls /sys/module 2>/dev/null | grep '^kvm_' | head -n1)",
 "swap_fs":"$(df -T "$SWAPDIR" | awk 'NR==2 {print $2}')","swap_dir":"$SWAPDIR",
 "hvswap_version":"$("$HV" --version 2>&1 | head -n1)",
 "git_rev":"$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$SRC" diff --quiet 2>/dev/null || echo +dirty)",
 "command":$("$PY" -c 'import json,sys; print(json.dumps(" ".join(["tests/bench/run.sh"] + sys.argv[1:])))' "${ARGS_ORIG[@]}"),
 "quick":$([ "$QUICK" = 1 ] && echo true || echo false),"load_start":$LOAD_START,
 "params":{"sections":$("$PY" -c 'import json,sys; print(json.dumps(sys.argv[1].split()))' "$SECS"),
   "kvm_repeats":$KVM_REPEATS,"rtt_pages":$RTT_PAGES,"rtt_rounds":$RTT_ROUNDS,
   "stream_ws":"$STREAM_WS","stream_limit":"$STREAM_LIMIT","stream_passes":$STREAM_PASSES,
   "ov_passes":$OV_PASSES,"ov_repeats":$OV_REPEATS,"ov_time_s":$OV_TIME,
   "repeats":$REPEATS,"wl_repeats":$WL_REPEATS,"rep_fractions":[${REP_FRACTIONS// /,}],"ws":"$WS","fractions":[${FRACTIONS// /,}],
   "patterns":$("$PY" -c 'import json,sys; print(json.dumps(sys.argv[1].split()))' "$PATTERNS"),
   "passes":$PASSES,"fs_ws":"$FS_WS","uffd_ws":"$UFFD_WS","so_ws":"$SO_WS","cap_ws":"$CAP_WS","kvm_timeout_s":$KVM_TIMEOUT,
   "cg_slack":"$CG_SLACK","fio_size":"$FIO_SIZE","fio_randread_s":$FIO_TIME,
   "zt_ws":"$ZT_WS","zt_fraction":$ZT_FRACTION,"zt_passes":$ZT_PASSES,"zt_pattern":"$ZT_PATTERN",
   "zt_fills":$("$PY" -c 'import json,sys; print(json.dumps(sys.argv[1].split()))' "$ZT_FILLS")},
 "duration_s":$((T_END - T_START)),"section_s":{$(IFS=,; echo "${SECTION_T[*]}")}}
EOF
"$PY" "$HERE/report.py" "$OUT" $([ "$HAVE_GNUPLOT" = 1 ] || echo --no-plots) ||
	die "report.py failed"
log "done in $((T_END - T_START)) s: $OUT/bench.md"
if [ "$CHECK" = 1 ]; then
	"$PY" "$HERE/report.py" --check "$OUT/bench.json" || die "bench.json incomplete"
	log "bench.json is complete and well-formed"
fi
