#!/usr/bin/env bash
# tests/bench/vhost_swap.sh - vhost-user-blk with the swapper on (issue 14
# item 2): dmastress through qemu-storage-daemon at 4x oversubscription,
# beside the same run on the in-process virtio-blk, and the back-end's
# postcopy fault service (the balloon case, where the back-end does fault).
#
#   tests/bench/vhost_swap.sh [BUILD_DIR] [REPEATS] > results.json
#
# One JSON object per line (one per run): what ran, its wall time, the
# guest's swap-in fault latency (swapper stats: uffd message to installed),
# the shadow queue's pin time per chain (the swap-ins a back-end would
# otherwise have faulted on, done on the vCPU at the notify) and the
# back-end's postcopy faults.  Needs /dev/kvm and qemu-storage-daemon.
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${1:-$HERE/../../build}
REPEATS=${2:-3}
HV=$BUILD/vmm/hvswap
TMP=$(mktemp -d /var/tmp/hv-vhost-bench.XXXXXX)
QSD_PID=
trap '[ -n "$QSD_PID" ] && kill "$QSD_PID" 2>/dev/null; rm -rf "$TMP"' EXIT

[ -x "$HV" ] || { echo "no $HV (build first)" >&2; exit 2; }
command -v qemu-storage-daemon >/dev/null || { echo "qemu-storage-daemon missing" >&2; exit 77; }

start_qsd() {
	rm -f "$TMP/disk.img" "$TMP/s.sock"
	truncate -s 64M "$TMP/disk.img"
	qemu-storage-daemon --daemonize --pidfile "$TMP/qsd.pid" \
		--blockdev "driver=file,node-name=disk0,filename=$TMP/disk.img" \
		--export "type=vhost-user-blk,id=exp0,node-name=disk0,writable=on,addr.type=unix,addr.path=$TMP/s.sock" ||
		exit 1
	QSD_PID=$(cat "$TMP/qsd.pid")
}

stop_qsd() {
	kill "$QSD_PID" 2>/dev/null
	QSD_PID=
}

# run NAME hvswap-args...: one JSON line from the stats file
run() {
	local name=$1 t0 t1 rc
	shift
	rm -f "$TMP/st.json"
	t0=$(date +%s.%N)
	"$HV" run --stats "$TMP/st.json" --timeout 900 -q "$@" >"$TMP/out" 2>&1
	rc=$?
	t1=$(date +%s.%N)
	if [ ! -s "$TMP/st.json" ]; then
		echo "$name: no stats (exit $rc):" >&2
		tail -3 "$TMP/out" >&2
		return 1
	fi
	python3 - "$name" "$rc" "$t0" "$t1" "$TMP/st.json" <<'EOF'
import json, sys
name, rc, t0, t1, path = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
d = json.load(open(path))
sw = d.get("swap") or {}
lat = sw.get("swapin_latency") or {}
dev = d.get("devices", {})
vu = dev.get("vhost_user_blk") or {}
sh = vu.get("shadow") or {}
out = {
    "run": name, "rc": rc, "wall_s": round(t1 - t0, 2),
    "ops": d.get("metrics", {}).get("ops"), "errors": d.get("metrics", {}).get("errors"),
    "vcpu_swapin_faults": lat.get("count"), "vcpu_swapin_p50_us": (lat.get("p50_ns") or 0) / 1e3,
    "vcpu_swapin_mean_us": round((lat.get("mean_ns") or 0) / 1e3, 1),
    "vcpu_swapin_p99_us": (lat.get("p99_ns") or 0) / 1e3,
    "evictions_written": (sw.get("evictions") or {}).get("written"),
    "chains": sh.get("chains"), "pinned_pages": sh.get("pinned_pages"),
    "pin_us_per_chain": (sh.get("pin_ns_avg") or 0) / 1e3,
    "pin_us_max": (sh.get("pin_ns_max") or 0) / 1e3,
    "backend_faults": vu.get("faults"), "backend_fault_us_avg": (vu.get("fault_ns_avg") or 0) / 1e3,
    "backend_fault_us_max": (vu.get("fault_ns_max") or 0) / 1e3,
}
print(json.dumps(out))
EOF
}

DMA="dmastress ws=192M ops=1000 maxlen=64"
for i in $(seq "$REPEATS"); do
	start_qsd
	run vhost_swap4x --mem 256M --mem-limit 64M --mem-backing memfd \
		--vhost-user-blk "$TMP/s.sock" $DMA
	stop_qsd
	run virtio_blk_swap4x --mem 256M --mem-limit 64M --mem-backing memfd \
		--disk-size 64M $DMA
	start_qsd
	run vhost_balloon_faults --mem 64M --mem-backing memfd --balloon \
		--vhost-user-blk "$TMP/s.sock" integrity swap=guest ws=8M glimit=2M \
		passes=2 balloon=1
	stop_qsd
done
