#!/usr/bin/env bash
# run.sh FUZZER CORPUS SECONDS [libFuzzer options...] - one bounded fuzz run.
#
# Fuzzes from a scratch copy of CORPUS (the checked-in seeds never change)
# for SECONDS, one job, under nice.  A crash leaves its reproducer in
# $HV_FUZZ_ARTIFACTS (default: a directory printed at the end) and exits
# non-zero; the last line is "fuzz: NAME execs=N crashes=K seconds=S".
set -uo pipefail
FUZZER=${1:?usage: run.sh FUZZER CORPUS SECONDS [options]}
CORPUS=${2:?}
SECS=${3:?}
shift 3
name=$(basename "$FUZZER")
work=$(mktemp -d "${TMPDIR:-/tmp}/hvswap-$name.XXXXXX")
art=${HV_FUZZ_ARTIFACTS:-$work/artifacts}
mkdir -p "$work/corpus" "$art"
[ -d "$CORPUS" ] && cp -r "$CORPUS"/. "$work/corpus/"
log=$work/fuzz.log
nice -n 19 "$FUZZER" -max_total_time="$SECS" -print_final_stats=1 \
	-artifact_prefix="$art/" -timeout=10 -rss_limit_mb=2048 "$@" \
	"$work/corpus" >"$log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
crashes=$(find "$art" -type f \( -name 'crash-*' -o -name 'leak-*' -o \
	-name 'timeout-*' -o -name 'oom-*' \) | wc -l)
tail -n 25 "$log"
echo "fuzz: $name execs=${execs:-0} crashes=$crashes seconds=$SECS rc=$rc"
if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
	echo "fuzz: $name FAILED; reproducers in $art, log $log" >&2
	exit 1
fi
rm -rf "$work"
