#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions are reached through "case_$CASE"
# test_gswap.sh - integration tests of the in-guest swap baseline: the
# guests' paging layer (swap=guest: pages to the virtio-blk disk and back,
# verified), the virtio-balloon with the host discarding inflated pages
# (the host's resident count follows the guest's, read from --stats), and
# a hostile balloon driver (badballoon).
#
#   test_gswap.sh HVSWAP CASE [ARGS...]
#
# One ctest test per CASE (tests/gswap.cmake).  Cases that start a VM exit
# 77 (ctest SKIP_RETURN_CODE) only when /dev/kvm cannot be opened.
set -uo pipefail

HVSWAP=${1:?usage: test_gswap.sh HVSWAP CASE [ARGS...]}
CASE=${2:?usage: test_gswap.sh HVSWAP CASE [ARGS...]}
shift 2

# shellcheck source-path=SCRIPTDIR source=testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
hv_files hvswap-gswap
RC=0
FAILS=0
SHOW_STATS_BYTES=8000

expect_no_err() { ! grep -qF -- "$1" "$ERR" || fail "stderr has '$1'"; }

# py EXPR-SCRIPT: run a python check over the stats JSON (d); its stdout
# lines are failures.
pycheck() {
	local out
	out=$(python3 - "$STATS" "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
m = d.get("metrics", {})
b = d.get("devices", {}).get("virtio_balloon", {})
s = d.get("swap", d.get("swapper", {}))
exec(sys.argv[2])
EOF
)
	[ -z "$out" ] || fail "$out"
}

# The guest's pages went to its disk and came back through hvswap's pins,
# and the guest's own counters match what the devices saw.
expect_guest_swapped() {
	expect_json metrics.gswap_swapouts -gt 0
	expect_json metrics.gswap_swapins -gt 0
	expect_json devices.guestmem.pins -gt 0
	expect_json devices.guestmem.active -eq 0
	expect_json devices.virtio_blk.ioerr -eq 0
	pycheck '
blk = d["devices"]["virtio_blk"]
if blk["reads"] != m["gswap_swapins"]: print("disk reads", blk["reads"], "!= swap-ins", m["gswap_swapins"])
if blk["writes"] != m["gswap_swapouts"]: print("disk writes", blk["writes"], "!= swap-outs", m["gswap_swapouts"])
g = b.get("guest", {})
if b and g.get("swap_in") != m["gswap_swapins"] * 4096: print("balloon stats swap_in", g.get("swap_in"))
if b and g.get("swap_out") != m["gswap_swapouts"] * 4096: print("balloon stats swap_out", g.get("swap_out"))
'
}

# Every inflate lowered the host's resident count by exactly the pages it
# gave (all were resident: no host-side eviction in these runs, and
# --fault-around 0, so no first touch maps neighbours while a request runs).
expect_resident_follows() {
	pycheck '
for e in b["events"]:
    if e["op"] == "inflate" and e["host_resident_pages_before"] - e["host_resident_pages"] != e["pages"]:
        print("inflate did not lower the resident count by its pages:", e)
'
}

# integrity: 1024 pages in 256 frames (a guest limit at a quarter of the
# working set), every byte verified after every pass; then the pool
# shrinks to 64 frames (192 inflated), is verified, grows back (192
# deflated on demand) and is verified again.
case_integrity() {
	need_kvm; need_python
	hv run --mem 32M --mem-limit 32M --fault-around 0 --disk-size 4M --balloon \
		--stats "$STATS" integrity swap=guest ws=4M glimit=1M passes=2 balloon=1
	expect_rc 0
	expect_out "integrity: OK"
	expect_json metrics.pages_verified -eq $((1024 * 5))
	expect_guest_swapped
	expect_json metrics.gswap_inflated -eq 192
	expect_json metrics.gswap_deflated -eq 192
	expect_json devices.virtio_balloon.pages_inflated -eq 192
	expect_json devices.virtio_balloon.pages_deflated -eq 192
	expect_json devices.virtio_balloon.discarded -eq 192
	expect_json devices.virtio_balloon.in_balloon_pages -eq 0
	expect_json devices.virtio_balloon.actual_pages -eq 0
	expect_json devices.virtio_balloon.bad_frames -eq 0
	expect_json devices.virtio_balloon.bad_buffers -eq 0
	expect_json devices.virtio_balloon.stats_updates -eq 3
	expect_json swap.discard.pages -eq 192
	expect_json swap.discard.were_resident -eq 192
	expect_resident_follows
	# the frames deflated and used again are resident again at the end
	pycheck '
ev = b["events"]
low = min(e["host_resident_pages"] for e in ev)
if b["host_resident_pages"] < low + 192: print("resident at exit", b["host_resident_pages"], "< lowest", low, "+ 192")
'
	expect_no_err "warning:"
}

# integrity on 2 vCPUs under double paging: the host swaps the guest's RAM
# (a 1M limit, below the guest's 2M of frames) while the guest swaps its
# pages to its disk; inflated pages the host had swapped lose their slots.
case_double() {
	need_kvm; need_python
	hv run --mem 32M --vcpus 2 --mem-limit 1M --disk-size 4M --balloon \
		--stats "$STATS" integrity swap=guest ws=4M glimit=2M passes=1 balloon=1
	expect_rc 0
	expect_out "integrity: OK"
	expect_json metrics.pages_verified -eq $((1024 * 4 * 2))
	expect_guest_swapped
	expect_json swap.evictions.written -gt 0
	expect_json metrics.gswap_inflated -eq 384
	expect_json devices.virtio_balloon.discarded -eq 384
	pycheck '
dc = s["discard"]
if dc["pages"] != 384 or dc["were_resident"] + dc["were_swapped"] > 384 or dc["were_swapped"] == 0: print("swapper discard", dc)
'
}

# mapper: double paging with the swap mapper (--swap-mapper): the frames
# the guest reads its swapped pages into are copies of its disk's blocks,
# so the host drops them without writing them to its own swap (VSwapper's
# silent writes avoided) and reads them back from the disk; every byte of
# three passes verified.
case_mapper() {
	need_kvm; need_python
	hv run --mem 64M --mem-limit 6M --disk-size 40M --balloon --swap-mapper \
		--stats "$STATS" integrity swap=guest ws=32M glimit=8M passes=3 balloon=1
	expect_rc 0
	expect_out "integrity: OK"
	expect_guest_swapped
	expect_json devices.virtio_blk.swap_mapper == true
	expect_json swap.swap_mapper.pages_noted -gt 0
	expect_json swap.swap_mapper.dropped_without_write -gt 0
	expect_json swap.swap_mapper.silent_writes -eq 0
	expect_json swap.checksum_errors -eq 0
	expect_json swap.read_errors -eq 0
}

# mapper_count: the same run with --swap-mapper-count - the disk-read
# frames are tracked but written to the host's swap when evicted unchanged,
# each counted as a silent write (what the mapper above avoids).
case_mapper_count() {
	need_kvm; need_python
	hv run --mem 64M --mem-limit 6M --disk-size 40M --balloon --swap-mapper-count \
		--stats "$STATS" integrity swap=guest ws=32M glimit=8M passes=3 balloon=1
	expect_rc 0
	expect_out "integrity: OK"
	expect_guest_swapped
	expect_json swap.swap_mapper.pages_noted -gt 0
	expect_json swap.swap_mapper.silent_writes -gt 0
	expect_json swap.swap_mapper.dropped_without_write -eq 0
	expect_json swap.checksum_errors -eq 0
}

# overwrite: the false-reads preventer for CPU writes - integrity hint=1
# tells the host before each rewrite that the page is overwritten whole
# (HV_HC_OVERWRITE); pages the host swapped out come back as zeros instead
# of being read.  Every byte of three passes is verified, and the pages the
# guest was told were dropped are the ones the swapper counted.
case_overwrite() {
	need_kvm; need_python
	hv run --mem 64M --mem-limit 8M --stats "$STATS" \
		integrity ws=32M passes=3 rewrite=100 hint=1
	expect_rc 0
	expect_out "integrity: OK"
	expect_json swap.overwrite.hints -eq 32768
	expect_json swap.overwrite.swap_reads_skipped -gt 0
	expect_json swap.checksum_errors -eq 0
	pycheck '
k = s["overwrite"]["swap_reads_skipped"]
if m.get("overwrite_dropped") != k: print("guest saw", m.get("overwrite_dropped"), "dropped, swapper", k)
'
}

# memtouch: a zipf working set 8x the guest limit, then the workload frees
# its memory and all 256 frames go to the host: its resident count drops by
# 256 pages across the release's inflates.
case_memtouch() {
	need_kvm; need_python
	hv run --mem 32M --mem-limit 32M --fault-around 0 --disk-size 8M --balloon \
		--stats "$STATS" memtouch swap=guest ws=8M glimit=1M passes=2 pattern=zipf \
		rw=0.5 balloon=1
	expect_rc 0
	expect_out "memtouch: gswap frames=256"
	expect_guest_swapped
	expect_json metrics.gswap_inflated -eq 256
	expect_json devices.virtio_balloon.in_balloon_pages -eq 256
	expect_json devices.virtio_balloon.actual_pages -eq 256
	expect_resident_follows
	pycheck '
first = b["events"][0]["host_resident_pages_before"]
last = b["events"][-1]["host_resident_pages"]
if sum(e["pages"] for e in b["events"]) != 256: print("inflated", [e["pages"] for e in b["events"]])
if last != first - 256: print("resident after the release", last, "!= before", first, "- 256")
'
}

# badballoon [LIMIT|memfd]...: malformed requests give warnings and counters,
# never a crash; the good round after them reads zeros (the host discarded:
# with a LIMIT through the swapper, with memfd by a hole punch, both at once
# with both).
case_malformed() {
	local mode extra=()
	need_kvm; need_python
	for mode in "$@"; do
		case $mode in
		memfd) extra+=(--mem-backing memfd) ;;
		*) extra+=(--mem-limit "$mode") ;;
		esac
	done
	hv run --mem 32M "${extra[@]}" --balloon --stats "$STATS" badballoon flood=200
	expect_rc 0
	expect_out "badballoon: OK 20 cases"
	grep -q "FAIL" "$OUT" && fail "a badballoon case failed: $(grep FAIL "$OUT" | head -n 3)"
	expect_json devices.virtio_balloon.bad_frames -eq 203
	expect_json devices.virtio_balloon.bad_buffers -eq 6
	expect_json devices.virtio_balloon.double_inflates -eq 1
	expect_json devices.virtio_balloon.deflate_not_inflated -eq 1
	expect_json devices.virtio_balloon.transport.needs_reset -eq 2
	expect_json devices.virtio_balloon.in_balloon_pages -eq 0
	expect_json devices.guestmem.active -eq 0
	expect_err "virtio-balloon: page frame 0x0 (gpa 0x0) is not guest RAM"
	expect_err "warnings suppressed"
	expect_err "descriptor loop"
	expect_no_err "guest crashed"
	[ "$(grep -c "warning:" "$ERR")" -le 30 ] || fail "warnings not rate-limited"
}

cli_err() {
	local want=$1
	shift
	hv "$@"
	expect_rc 2
	expect_out "$want"
}

case_cli() {
	need_kvm
	cli_err "run with --disk-size" run --mem 32M memtouch swap=guest ws=4M glimit=1M
	cli_err "run with --balloon" run --mem 32M --disk-size 4M memtouch swap=guest \
		ws=4M glimit=1M balloon=1
	cli_err "swap=bogus: none or guest" run --mem 32M integrity swap=bogus
	cli_err "need swap=guest" run --mem 32M memtouch glimit=1M
	cli_err "needs ws= and glimit=" run --mem 32M --disk-size 4M integrity swap=guest ws=4M
	cli_err "the disk holds 1024 KiB" run --mem 32M --disk-size 1M integrity \
		swap=guest ws=4M glimit=1M
	cli_err "need >= 16 frames" run --mem 32M --disk-size 4M integrity \
		swap=guest ws=4M glimit=32K
	cli_err "run with --balloon" run --mem 32M badballoon
	hv list
	expect_out "badballoon"
}

type "case_$CASE" >/dev/null 2>&1 || { echo "unknown case $CASE" >&2; exit 2; }
"case_$CASE" "$@"
finish_case
