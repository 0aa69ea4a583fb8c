#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions are reached through "case_$CASE"
# test_vhost_user.sh - hvswap's --vhost-user-blk against a real back-end:
# qemu-storage-daemon's vhost-user-blk export (Debian: qemu-system-common,
# installed by ./dev.sh deps) on a fresh disk file.
#
#   test_vhost_user.sh HVSWAP CASE [ARGS...]
#
# Cases (one ctest test each, tests/virtio.cmake):
#   dma VCPUS     dmastress through the back-end, every byte verified; the
#                 back-end runs in postcopy mode (its mapping of guest RAM is
#                 on its userfaultfd, read by hvswap)
#   swap4x VCPUS [ARGS]  dmastress with the swapper on at 4x
#                 oversubscription (256M guest, 64M resident): every buffer
#                 the back-end touches is pinned from the notify to its
#                 completion (the shadow queue, vmm/vhost_shadow.c), every
#                 byte verified; ARGS go to dmastress (poison=0: reads into
#                 buffers that are swapped out)
#   swap4x_huge VCPUS  the same on 2 MiB hugetlbfs pages swapped in 2 MiB
#                 units (reserves 128 huge pages as root; skips without)
#   faults        the in-guest swap model with a balloon: frames the guest
#                 gives back are punched out of the memfd, and the back-end
#                 then writes swapped-in data into them - each such write is a
#                 back-end fault that hvswap serves (pins the page) and wakes;
#                 integrity verifies every page
#   dies          the back-end is killed while the guest does I/O: a clear
#                 error and a clean stop (status 125), no hang
#   stalls        the back-end is frozen (SIGSTOP) while the guest does I/O:
#                 the watchdog stops the VM after half the timeout (5 s)
#   usage         --vhost-user-blk without memfd RAM (status 2), no back-end
#                 listening (status 3)
# Cases that start a VM exit 77 when /dev/kvm cannot be opened; the ones
# that need the back-end exit 77 when qemu-storage-daemon is missing only
# outside CI (under CI=true a missing package is a failure).
set -uo pipefail

HVSWAP=${1:?usage: test_vhost_user.sh HVSWAP CASE [ARGS...]}
CASE=${2:?usage: test_vhost_user.sh HVSWAP CASE [ARGS...]}
shift 2

# shellcheck source-path=SCRIPTDIR source=testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
hv_files hvswap-vhost
RC=0
FAILS=0
SHOW_STATS_BYTES=6000
QSD_PID=
SOCK=$TMP/vhost.sock
trap 'stop_qsd; rm -rf "$TMP"' EXIT

need_qsd() {
	command -v qemu-storage-daemon >/dev/null && return 0
	if [ "${CI:-}" = true ]; then
		echo "FAIL [$CASE]: qemu-storage-daemon missing (./dev.sh deps installs it)" >&2
		exit 1
	fi
	echo "SKIP [$CASE]: qemu-storage-daemon missing (package qemu-system-common)"
	exit 77
}

# start_qsd SIZE: a fresh disk of SIZE exported at $SOCK.  --daemonize
# returns once the export listens, so no polling is needed.
start_qsd() {
	truncate -s "$1" "$TMP/disk.img" || { fail "cannot make the disk"; finish_case; }
	qemu-storage-daemon --daemonize --pidfile "$TMP/qsd.pid" \
		--blockdev "driver=file,node-name=disk0,filename=$TMP/disk.img" \
		--export "type=vhost-user-blk,id=exp0,node-name=disk0,writable=on,addr.type=unix,addr.path=$SOCK" \
		>"$TMP/qsd.log" 2>&1 || { fail "qemu-storage-daemon did not start"; cat "$TMP/qsd.log"; finish_case; }
	QSD_PID=$(cat "$TMP/qsd.pid")
}

stop_qsd() {
	[ -n "$QSD_PID" ] && kill "$QSD_PID" 2>/dev/null
	QSD_PID=
}

expect_backend_ok() {
	expect_json devices.vhost_user_blk.postcopy == true
	expect_json devices.vhost_user_blk.rings_started -ge 1
	expect_json devices.vhost_user_blk.kicks -gt 0
	expect_json devices.vhost_user_blk.calls -gt 0
	expect_json devices.vhost_user_blk.fault_errors -eq 0
	expect_json devices.vhost_user_blk.transport.needs_reset -eq 0
}

case_dma() {
	local vcpus=$1
	need_kvm; need_python; need_qsd
	start_qsd 64M
	hv run --mem 256M --mem-backing memfd --vcpus "$vcpus" --vhost-user-blk "$SOCK" \
		--stats "$STATS" --timeout 500 dmastress ws=64M ops=1000 maxlen=64
	expect_rc 0
	expect_out "dmastress: OK"
	expect_json metrics.ops -eq 1000
	expect_json metrics.errors -eq 0
	expect_backend_ok
	kill -0 "$QSD_PID" 2>/dev/null || fail "the back-end did not survive the VM"
}

case_swap4x() {
	local vcpus=$1 backing=${BACKING:-memfd}
	shift
	need_kvm; need_python; need_qsd
	start_qsd 64M
	hv run --mem 256M --mem-limit 64M --mem-backing "$backing" --vcpus "$vcpus" \
		--vhost-user-blk "$SOCK" --stats "$STATS" --timeout 500 \
		dmastress ws=192M ops=1000 maxlen=64 "$@"
	expect_rc 0
	expect_out "dmastress: OK"
	expect_json metrics.ops -eq 1000
	expect_json metrics.errors -eq 0
	expect_backend_ok
	# every chain went through the shadow queue pinned, and came back
	expect_json devices.vhost_user_blk.shadow.chains -ge 1000
	expect_json devices.vhost_user_blk.shadow.broken -eq 0
	expect_json devices.vhost_user_blk.shadow.pinned_bytes -eq 0
	expect_json devices.guestmem.active -eq 0
	# the guest really was swapped: pages (or 2 MiB units) went out and
	# came back
	expect_json swap.evictions.written -gt "${MIN_WRITTEN:-10000}"
	expect_json swap.faults.from_swap -gt 0
	kill -0 "$QSD_PID" 2>/dev/null || fail "the back-end did not survive the VM"
}

# The same on 2 MiB hugetlbfs pages (a memfd of hugetlbfs the back-end maps
# like any memfd), swapped in 2 MiB units: 128 huge pages reserved for the
# guest (root; skips without them).
case_swap4x_huge() {
	need_kvm; need_qsd
	# shellcheck disable=SC2016  # expanded at exit, by the trap
	huge_reserve 128 'stop_qsd; rm -rf "$TMP"'
	BACKING=hugetlb MIN_WRITTEN=100 case_swap4x "$@"
	expect_json swap.features.memory_backing == hugetlb
}

case_faults() {
	need_kvm; need_python; need_qsd
	start_qsd 64M
	hv run --mem 64M --mem-backing memfd --balloon --vhost-user-blk "$SOCK" \
		--stats "$STATS" --timeout 500 integrity swap=guest ws=8M glimit=2M \
		passes=2 balloon=1
	expect_rc 0
	expect_out "integrity: OK"
	expect_backend_ok
	# frames given back to the balloon are holes when the back-end writes
	# swapped-in pages into them: each is one served fault
	expect_json devices.vhost_user_blk.faults -gt 0
	expect_json devices.virtio_balloon.discarded -gt 0
}

# run_and_hurt SIGNAL: dmastress in the background; once the back-end has
# completed requests (its calls in the --stats file), send it SIGNAL;
# RC = hvswap's status.
run_and_hurt() {
	local vmpid i calls
	echo "+ hvswap run ... dmastress (background); the back-end gets SIG$1"
	"$HVSWAP" run --mem 256M --mem-backing memfd --vhost-user-blk "$SOCK" \
		--stats "$STATS" --stats-interval 0.1 --timeout 500 -q \
		dmastress ws=64M ops=100000000 >"$OUT" 2>"$ERR" </dev/null &
	vmpid=$!
	# readiness of an external process: bounded polling (30 s)
	for i in $(seq 300); do
		calls=$(jget devices.vhost_user_blk.calls 2>/dev/null)
		[ "${calls:-0}" -gt 0 ] 2>/dev/null && break
		kill -0 "$vmpid" 2>/dev/null || break
		sleep 0.1
	done
	[ "$i" -lt 300 ] || fail "the VM did no I/O through the back-end"
	kill -"$1" "$QSD_PID"
	wait "$vmpid"
	RC=$?
	echo "  exit $RC: $(grep -m1 'vhost-user-blk' "$ERR")"
}

case_stalls() {
	need_kvm; need_python; need_qsd
	start_qsd 64M
	run_and_hurt STOP
	expect_rc 125
	expect_err "completed no request for 5000 ms"
	expect_err "it stalls"
	kill -CONT "$QSD_PID"
}

case_dies() {
	need_kvm; need_python; need_qsd
	start_qsd 64M
	run_and_hurt KILL
	QSD_PID=
	expect_rc 125
	expect_err "vhost-user-blk $SOCK"
	grep -qE "closed the connection|no reply to" "$ERR" ||
		fail "stderr does not say the back-end went away"
}

case_usage() {
	need_kvm
	hv run --mem 64M --vhost-user-blk "$SOCK" dmastress
	expect_rc 2
	expect_err "--vhost-user-blk needs --mem-backing memfd or hugetlb"
	hv run --mem 64M --mem-backing memfd --vhost-user-blk "$TMP/none.sock" dmastress
	expect_rc 3
	expect_err "cannot connect to the vhost-user back-end at $TMP/none.sock"
}

case "$CASE" in
dma|swap4x|swap4x_huge|faults|dies|stalls|usage) "case_$CASE" "$@" ;;
*) echo "unknown case $CASE" >&2; exit 2 ;;
esac

finish_case
