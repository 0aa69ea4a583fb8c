#!/usr/bin/env bash
# test_ztier_vm.sh - the compressed tier end to end (issue 12): the
# integrity guest stamps, verifies and rewrites every page with fill=
# contents (zeros, sparse, random, ratio:R) under a resident limit of a
# quarter of its RAM, through the tier (lz4 or zstd), then the options'
# errors.
#
#   test_ztier_vm.sh HVSWAP CASE       CASE: fill KIND ALGO | cli
#
# A fill case passes when the guest verified every page in every pass
# (exit 0) and the tier did what the contents call for: compressible pages
# were stored and faulted back from the pool (and ratio:R pages, the pool
# being small, written back to disk), random ones refused.  Exit 77 only without
# /dev/kvm (the cli case needs none).
set -uo pipefail

HVSWAP=${1:?usage: test_ztier_vm.sh HVSWAP CASE [ARGS...]}
CASE=${2:?usage: test_ztier_vm.sh HVSWAP CASE [ARGS...]}
shift 2
# shellcheck source-path=SCRIPTDIR source=testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
hv_files hvswap-ztier
RC=0 FAILS=0 RUNS=0 SHOWN=0 FAIL_STDERR_LINES=6

# float_ge PATH MIN: the stats value at PATH is at least MIN.
float_ge() {
	local v
	v=$(jget "$1")
	python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' \
		"${v:-nan}" "$2" 2>/dev/null || fail "stats: $1 = '$v', want >= $2"
}

case_fill() {
	local kind=$1 algo=$2 st rej
	need_kvm; need_python
	hv run --mem 64M --mem-limit 16M --vcpus 2 --ztier "$algo" --stats "$STATS" -q \
		integrity fill="$kind" passes=2
	expect_rc 0
	expect_err "guest 'integrity' exited with status 0"
	expect_json metrics.verify_passes -eq 2
	expect_json swap.ztier.algorithm == "$algo"
	expect_json swap.read_errors -eq 0
	expect_json swap.checksum_errors -eq 0
	st=$(jget swap.ztier.stores)
	rej=$(jget swap.ztier.rejected_incompressible)
	case "$kind" in
	random)
		# every stamp is random words after a 32-byte header
		[ "${rej:-0}" -gt 0 ] && [ $((rej * 10)) -ge $((st * 9)) ] ||
			fail "random pages: $rej of $st refused, want >= 90%"
		expect_json swap.evictions.written -gt 0
		;;
	*)
		# (the guest's own pages - code, tables - are not stamps)
		[ $((${rej:-0} * 100)) -le "${st:-0}" ] ||
			fail "compressible pages: $rej of $st refused, want <= 1%"
		expect_json swap.ztier.hits -gt 0
		case "$kind" in
		ratio:*)        # 64M of R:1 pages overflow a 3.2M pool
			expect_json swap.ztier.written_back -gt 0
			float_ge swap.ztier.compression_ratio \
				"$(python3 -c "print(0.75 * float('${kind#ratio:}'))")" ;;
		*)              # ~30 bytes a page: the whole guest fits
			float_ge swap.ztier.compression_ratio 20 ;;
		esac
		;;
	esac
}

case_cli() {
	hv run --mem 64M --mem-limit 16M --ztier lzo integrity
	expect_rc 2
	expect_err "--ztier must be lz4, zstd or off"
	hv run --mem 64M --mem-limit 16M --ztier-size 16M integrity
	expect_rc 2
	expect_err "--ztier-size must be below --mem-limit"
	hv run --mem 64M --ztier-size 4M integrity
	expect_rc 2
	expect_err "swap options need --mem-limit"
	hv run --mem 64M --mem-limit 16M --ztier-size 1x integrity
	expect_rc 2
	need_kvm; need_python
	hv run --mem 32M --mem-limit 8M --ztier off --stats "$STATS" -q integrity passes=1
	expect_rc 0
	[ -z "$(jget swap.ztier)" ] || fail "--ztier off: stats have a ztier object"
	hv run --mem 32M --mem-limit 8M --vcpus 2 --stats "$STATS" integrity fill=bogus
	expect_rc 2
	expect_out "integrity: fill=bogus"
}

case "$CASE" in
fill|cli) "case_$CASE" "$@" ;;
*) echo "unknown case '$CASE'" >&2; exit 2 ;;
esac
finish_case
