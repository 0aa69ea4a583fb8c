#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions are reached through "case_$CASE"
# test_dma.sh - integration tests of the virtio-blk DMA device: the real
# hvswap binary running the dmastress and badvirtio guests.
#
#   test_dma.sh HVSWAP CASE [ARGS...]
#
# One ctest test per CASE (registered in tests/virtio.cmake).  Cases that
# start a VM exit 77 (ctest SKIP_RETURN_CODE) when /dev/kvm cannot be opened
# for read+write, and only then.  JSON from --stats is read with python3.
set -uo pipefail

HVSWAP=${1:?usage: test_dma.sh HVSWAP CASE [ARGS...]}
CASE=${2:?usage: test_dma.sh HVSWAP CASE [ARGS...]}
shift 2

# hv_files, fail, show, need_kvm, need_python, hv, expect_rc, expect_err,
# expect_out, jget, expect_json, finish_case
# shellcheck source-path=SCRIPTDIR source=testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
hv_files hvswap-dma
RC=0
FAILS=0
SHOW_STATS_BYTES=6000

expect_no_err() { ! grep -qF -- "$1" "$ERR" || fail "stderr has '$1'"; }

# The device side of a clean dmastress run.
expect_clean_dma() {
	local ops=$1
	expect_rc 0
	expect_out "dmastress: OK"
	expect_json metrics.ops -eq "$ops"
	expect_json metrics.errors -eq 0
	expect_json metrics.reads -gt 0
	expect_json metrics.writes -gt 0
	expect_json devices.guestmem.pins -gt 0
	expect_json devices.guestmem.active -eq 0
	expect_json devices.guestmem.pin_errors -eq 0
	expect_json devices.virtio_blk.ioerr -eq 0
	expect_json devices.virtio_blk.bad_requests -eq 0
	expect_json devices.virtio_blk.transport.needs_reset -eq 0
	expect_json devices.virtio_blk.reads -gt 0
	expect_json devices.virtio_blk.writes -gt 0
	expect_no_err "warning: virtio"
	expect_no_err "guest crashed"
}

# plain VCPUS: no swapper; random page-crossing multi-buffer requests.
case_plain() {
	local vcpus=$1
	need_kvm; need_python
	hv run --mem 256M --vcpus "$vcpus" --disk-size 32M --stats "$STATS" \
		dmastress ws=64M ops=2000 maxlen=64
	expect_clean_dma 2000
}

# swap VCPUS [OPTS...]: a 128M buffer area that the guest also streams over,
# under a 32M resident limit (4x oversubscribed): most buffers the device
# pins were just evicted.  ~20 s here (each streamed page is a swap-in).
# OPTS: more hvswap options (--mem-backing memfd).
case_swap() {
	local vcpus=$1
	shift
	need_kvm; need_python
	hv run --mem 256M --mem-limit 32M --vcpus "$vcpus" --disk-size 32M "$@" \
		--stats "$STATS" dmastress ws=128M ops=2000 maxlen=64 touch=64
	expect_clean_dma 2000
	expect_json swap.evictions.written -gt 0
	expect_json swap.faults.from_swap -gt 0
	expect_json swap.read_errors -eq 0
	expect_json swap.write_errors -eq 0
	# every device pin went through the swapper, and none is left
	expect_json swap.pin_calls -ge "$(jget devices.guestmem.pins)"
	expect_json swap.pinned_pages -eq 0
	expect_json swap.longterm_pinned_pages -eq 0
}

# fill: as swap, but the guest does not poison its read buffers, so they
# are still swapped out when the device pins them (as a guest kernel's free
# page-cache pages are): pages a disk read overwrites whole are not read
# back from swap first (swapper_pin_fill, VSwapper's false reads), and every
# byte the guest reads is still verified.
case_fill() {
	need_kvm; need_python
	hv run --mem 256M --mem-limit 32M --disk-size 32M --stats "$STATS" \
		dmastress ws=128M ops=2000 maxlen=64 touch=64 poison=0
	expect_clean_dma 2000
	expect_json swap.dma_fill.swap_reads_skipped -gt 0
	expect_json swap.read_errors -eq 0
	expect_json swap.pinned_pages -eq 0
}

# disk_file: --disk PATH is created and sized; a second run on the same
# file (without --disk-size) works and keeps its size.
case_disk_file() {
	local img=$TMP/disk.img size
	need_kvm; need_python
	hv run --mem 128M --disk "$img" --disk-size 8M --stats "$STATS" \
		dmastress ws=16M ops=400 maxlen=16
	expect_clean_dma 400
	expect_json devices.virtio_blk.capacity_sectors -eq 16384
	size=$(stat -c %s "$img" 2>/dev/null || echo 0)
	[ "$size" -eq $((8 << 20)) ] || fail "disk image is $size bytes, want 8M"
	[ -n "$(tr -d '\0' <"$img" | head -c 1)" ] || fail "nothing was written to $img"
	hv run --mem 128M --disk "$img" --stats "$STATS" \
		dmastress ws=16M ops=400 maxlen=16 fresh=0 seed=2
	expect_clean_dma 400
	size=$(stat -c %s "$img" 2>/dev/null || echo 0)
	[ "$size" -eq $((8 << 20)) ] || fail "disk image is $size bytes after reuse"
}

# malformed [MEM_LIMIT]: badvirtio's malformed chains and set-ups all get an
# error status or DEVICE_NEEDS_RESET, the device recovers after a reset, the
# VMM exits normally, and its warnings are rate-limited.
case_malformed() {
	local limit=${1:-} n
	need_kvm; need_python
	hv run --mem 64M ${limit:+--mem-limit "$limit"} --disk-size 1M \
		--stats "$STATS" badvirtio flood=500
	expect_rc 0
	expect_out "badvirtio: OK"
	grep -q "FAIL" "$OUT" && fail "a badvirtio case failed: $(grep FAIL "$OUT" | head -n 3)"
	expect_json metrics.failed -eq 0
	expect_json metrics.cases -ge 40
	expect_json devices.virtio_blk.transport.needs_reset -ge 10
	expect_json devices.virtio_blk.ioerr -ge 500
	expect_json devices.guestmem.active -eq 0
	expect_err "device needs reset"
	expect_err "buffer outside guest RAM"
	expect_err "more warnings suppressed"
	expect_no_err "guest crashed"
	# two rate limiters (transport, device), 10 lines per 5 s each, plus
	# one "suppressed" summary each and the exit summary
	n=$(grep -c "warning:" "$ERR")
	[ "$n" -le 30 ] || fail "$n warning lines: not rate-limited"
}

cli_err() {
	local want=$1 pat=$2
	shift 2
	hv "$@"
	expect_rc "$want"
	expect_err "$pat"
	[ "$(wc -l <"$ERR")" -eq 1 ] || fail "'hvswap $*': want a one-line error"
}

case_cli() {
	cli_err 2 "--disk-size" run --disk-size 1000 dmastress
	cli_err 2 "--disk-size" run --disk-size 0 dmastress
	cli_err 2 "--disk-size" run --disk-size lots dmastress
	hv run --help
	expect_rc 0
	expect_out "--disk PATH"
	expect_out "--disk-size SIZE"
	need_kvm
	cli_err 3 "cannot open disk $TMP/no/such/dir" run --mem 64M --disk "$TMP/no/such/dir" dmastress
	: >"$TMP/empty"
	cli_err 3 "is empty" run --mem 64M --disk "$TMP/empty" dmastress
	hv run --mem 64M dmastress
	expect_rc 2
	expect_out "no usable virtio-blk device"
}

case "$CASE" in
plain|swap|fill|disk_file|malformed|cli) "case_$CASE" "$@" ;;
*) echo "unknown case '$CASE'" >&2; exit 2 ;;
esac

finish_case
