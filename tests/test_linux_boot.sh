#!/usr/bin/env bash
# test_linux_boot.sh - smoke test of Linux guests (issue 15 item 4): boot
# Debian's stock kernel (a bzImage: its xz payload is decompressed by
# hvswap on the host) with hvswap run --kernel, swapper on, console on the
# 8250 UART, until its first console lines.
#
#   test_linux_boot.sh HVSWAP CACHE_DIR [SECONDS]
#
# The kernel: $HV_LINUX_KERNEL if set; else the newest /boot/vmlinuz-*;
# else Debian's linux-image-amd64 package, fetched with `apt-get download`
# into CACHE_DIR (under the build tree, never committed) and unpacked there
# with dpkg-deb.  Exit 77 (skipped) only when no kernel can be had that way
# (no network, no apt) or /dev/kvm cannot be opened.
#
# Passes when the console shows "Linux version" and the VM ends by its
# --timeout (124) or because this script stopped it (130) - never by a
# crash (125).  Guest CPL0 code is emulated on nested KVM (~1 us per
# instruction): the kernel reaches "Memory:" after a minute or more of
# guest time here, so the run is bounded by SECONDS (default 240) and stops
# as soon as "Memory:" appears; reaching it is reported, not required.
set -uo pipefail
HVSWAP=$1
CACHE=$2
SECONDS_MAX=${3:-240}
CASE=linux_boot
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

skip() {
	echo "SKIP [$CASE]: $*"
	exit 77
}

image_package() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

# fetch_kernel: print the path of a Debian kernel in $CACHE, fetching it.
fetch_kernel() {
	local k pkg deb
	k=$(ls -1 "$CACHE"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$k" ]; then
		echo "$k"
		return 0
	fi
	command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || return 1
	mkdir -p "$CACHE" || return 1
	# linux-image-amd64 is a metapackage: download the image it names.
	# A fresh machine may have no package lists yet: update them (root).
	pkg=$(image_package)
	if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
		timeout 300 apt-get update -q >&2
		pkg=$(image_package)
	fi
	[ -n "$pkg" ] || return 1
	(cd "$CACHE" && timeout 300 apt-get download -q "$pkg" >&2) || return 1
	deb=$(ls -1 "$CACHE"/"$pkg"_*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || return 1
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$CACHE" --wildcards './boot/vmlinuz-*' ||
		return 1
	rm -f "$deb"
	ls -1 "$CACHE"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1
}

need_kvm
KERNEL=${HV_LINUX_KERNEL:-}
if [ -z "$KERNEL" ]; then
	KERNEL=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
	[ -n "$KERNEL" ] && [ -r "$KERNEL" ] || KERNEL=$(fetch_kernel) ||
		skip "cannot fetch Debian's kernel (linux-image-amd64) with apt-get" \
		     "download: no network or no apt?"
fi
[ -r "$KERNEL" ] || skip "kernel $KERNEL is not readable"
echo "kernel: $KERNEL"

hv_files hvswap-linux
FAILS=0
# 126M of RAM ends the RAM region on a 128 MiB boundary (Linux then has no
# partial memory section to initialise); the swapper keeps at most 96M of it
# resident, so the kernel image itself is demand-paged by hvswap.
coproc HV { exec "$HVSWAP" run --mem 126M --mem-limit 96M --timeout "$SECONDS_MAX" \
	--stats "$STATS" --kernel "$KERNEL" \
	--append "console=ttyS0 earlycon=uart8250,io,0x3f8 acpi=off panic=-1" 2>"$ERR"; }
HV_PID_SAVED=$HV_PID
# Event-driven: read the console as it comes; stop the VM at "Memory:".
while IFS= read -r line <&"${HV[0]}"; do
	printf '%s\n' "$line" >>"$OUT"
	case $line in
	*"Memory: "*) kill -TERM "$HV_PID_SAVED" 2>/dev/null ;;
	esac
done
wait "$HV_PID_SAVED"
RC=$?

echo "--- console (first 5 and last 5 lines) ---"
head -n 5 "$OUT"
echo "..."
tail -n 5 "$OUT"
echo "--- hvswap stderr ---"
tail -n 5 "$ERR"
grep -q "Linux version" "$OUT" || fail "no 'Linux version' on the console"
case $RC in
124) echo "stopped by --timeout $SECONDS_MAX" ;;
130) echo "stopped after 'Memory:'" ;;
*) fail "hvswap exit status $RC (want 124 or 130: no crash)" ;;
esac
if grep -q "Memory: " "$OUT"; then
	echo "reached: $(grep -m1 "Memory: " "$OUT")"
else
	echo "did not reach 'Memory:' within $SECONDS_MAX s (slow day: CPL0 is emulated)"
fi
# Console text is escaped: no raw control characters but newlines.
if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$OUT"; then
	fail "raw control characters on stdout"
fi
grep -q '"swap"' "$STATS" || fail "no swap statistics: was the swapper on?"
[ "$FAILS" -eq 0 ] || exit 1
echo "PASS [$CASE]"
