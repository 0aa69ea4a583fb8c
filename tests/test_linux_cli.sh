#!/usr/bin/env bash
# test_linux_cli.sh - `hvswap run --kernel` refuses what it cannot boot with
# one clear line and the right exit status, before any guest code runs:
# usage errors (2) for option combinations, set-up errors (3) for files that
# are missing, empty, not kernels, truncated or corrupt bzImages, kernels
# that do not fit in RAM, and bad initrds.  Quick (no kernel runs).
#
#   test_linux_cli.sh HVSWAP
set -uo pipefail
HVSWAP=$1
CASE=linux_cli
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
hv_files hvswap-linux-cli
FAILS=0

# Usage errors need no KVM.
hv run --initrd /dev/null memtouch
expect_rc 2; expect_err "--initrd and --append need --kernel"
hv run --append "console=ttyS0" memtouch
expect_rc 2; expect_err "need --kernel"
hv run --kernel /nonexistent --vcpus 2
expect_rc 2; expect_err "only 1 vCPU"
hv run --kernel /nonexistent --mem 4G
expect_rc 2; expect_err "--mem may be at most"
hv run --kernel /nonexistent memtouch
expect_rc 2; expect_err "--kernel takes no GUEST"
hv run --help
expect_rc 0; expect_out "--kernel FILE"

need_kvm
hv run --mem 64M --kernel /nonexistent/vmlinuz
expect_rc 3; expect_err "cannot open kernel '/nonexistent/vmlinuz'"
hv run --mem 64M --kernel "$TMP"
expect_rc 3; expect_err "not a regular file"
: >"$TMP/empty"
hv run --mem 64M --kernel "$TMP/empty"
expect_rc 3; expect_err "empty"
head -c 100000 /dev/urandom >"$TMP/random"
hv run --mem 64M --kernel "$TMP/random"
expect_rc 3; expect_err "neither a bzImage"
# A bzImage header with a payload outside the file.
python3 - "$TMP/bz" <<'EOF'
import struct, sys
b = bytearray(4096)
b[0x1f1] = 1
b[0x1fe:0x200] = b"\x55\xaa"
b[0x200:0x202] = b"\xeb\x66"
b[0x202:0x206] = b"HdrS"
struct.pack_into("<H", b, 0x206, 0x20f)
struct.pack_into("<II", b, 0x248, 0, 0x100000)
open(sys.argv[1], "wb").write(b)
# Same header, a truncated xz payload.
struct.pack_into("<II", b, 0x248, 0, 64)
b[1024:1030] = b"\xfd7zXZ\x00"
struct.pack_into("<I", b, 1024 + 60, 1 << 20)
open(sys.argv[1] + ".xz", "wb").write(b)
# An ELF that is not x86-64.
e = bytearray(256)
e[0:4] = b"\x7fELF"
e[4] = 1
open(sys.argv[1] + ".elf32", "wb").write(e)
EOF
hv run --mem 64M --kernel "$TMP/bz"
expect_rc 3; expect_err "lies outside the file"
hv run --mem 64M --kernel "$TMP/bz.xz"
expect_rc 3; expect_err "cannot decompress the xz payload"
hv run --mem 64M --kernel "$TMP/bz.elf32"
expect_rc 3; expect_err "not a 64-bit x86 ELF"
# Tiny vmlinux ELFs: a "kernel" at 16 MiB that checks the 64-bit entry
# state (long mode, RSI = the zero page) by printing on COM1 "OK ", the
# command line the zero page points at, a newline, the initrd's text if
# the zero page names one, and then triple-faults (ud2, no IDT).  The same
# code linked at 1 GiB does not fit in 64M of RAM.
python3 - "$TMP/vmlinux" <<'EOF'
import struct, sys
loop = bytes.fromhex("8a03 84c0 7406 ee 48ffc3 ebf4")      # print [rbx] to NUL
code = bytes.fromhex("66baf803 b04f ee b04b ee b020 ee 8b9e28020000") + loop
code += bytes.fromhex("b00a ee 8b9e18020000 85db 740f") + loop
code += bytes.fromhex("b00a ee 0f0b")
def elf(paddr):
    eh = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    eh += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, paddr, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 1, 7, 120, 0xffffffff80000000 + paddr, paddr,
                     len(code), len(code) + 4096, 0x1000)
    return eh + ph + code
open(sys.argv[1], "wb").write(elf(0x1000000))
open(sys.argv[1] + ".high", "wb").write(elf(0x40000000))
# The reset: read the keyboard controller's status (0x64), ud2 unless it
# is 0, then write 0xfe there (pulse reset) and ud2 if still running.
code = bytes.fromhex("e464 84c0 7504 b0fe e664 0f0b")
open(sys.argv[1] + ".reset", "wb").write(elf(0x1000000))
EOF
hv run --mem 64M --kernel "$TMP/vmlinux.high"
expect_rc 3; expect_err "raise --mem"
hv run --mem 64M --kernel "$TMP/vmlinux" --initrd /nonexistent
expect_rc 3; expect_err "cannot open initrd '/nonexistent'"
head -c $((70 << 20)) /dev/zero >"$TMP/big"
hv run --mem 64M --kernel "$TMP/vmlinux" --initrd "$TMP/big"
expect_rc 3; expect_err "initrd '$TMP/big': too large"
head -c $((60 << 20)) /dev/zero >"$TMP/big"
hv run --mem 64M --kernel "$TMP/vmlinux" --initrd "$TMP/big"
expect_rc 3; expect_err "does not fit between the kernel and the end of RAM"
rm -f "$TMP/big"
hv run --mem 64M --kernel "$TMP/vmlinux" --append $'a\x01b'
expect_rc 3; expect_err "control characters"
hv run --mem 64M --kernel "$TMP/vmlinux" --append "$(printf 'x%.0s' $(seq 3000))"
expect_rc 3; expect_err "command line is longer than this kernel accepts (2047 bytes)"

# The boot itself.
printf 'INITRD\0' >"$TMP/initrd"
hv run --mem 64M --mem-limit 32M --timeout 60 --disk-size 1M --stats "$STATS" \
	--kernel "$TMP/vmlinux" --initrd "$TMP/initrd" --append "console=ttyS0 hello"
expect_rc 125; expect_err "triple fault"
expect_out "OK console=ttyS0 hello virtio_mmio.device=0x200@0x4200000:5"
expect_out "INITRD"
expect_json devices.serial8250_tx_bytes -gt 60
expect_json swap.faults.zero -gt 0
hv run --mem 64M --timeout 60 --kernel "$TMP/vmlinux"
expect_rc 125; expect_out "OK "
[ "$(wc -l <"$OUT")" -eq 1 ] || fail "want 1 console line without an initrd"
# A reboot ends the VM with status 0: the keyboard controller's status
# reads 0 and 0xfe written to port 0x64 resets (how Linux without ACPI
# reboots, and powers off).
hv run --mem 64M --timeout 60 --kernel "$TMP/vmlinux.reset"
expect_rc 0; expect_err "guest reset through the keyboard controller"
finish_case
