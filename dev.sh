#!/usr/bin/env bash
# dev.sh - the one entry point for setting up, building, testing and demoing
# hvswap.  Run as root (apt-get, /dev/kvm):
#
#   ./dev.sh deps                 install the Debian packages the build needs
#   ./dev.sh build [asan|tsan]    configure + build into build/ (build-asan/...)
#   ./dev.sh test  [asan|tsan] [CTEST ARGS]
#                                 deps + build + ctest (exit non-zero on failure);
#                                 e.g. ./dev.sh test tsan -L unit (a subset)
#   ./dev.sh fuzz  [SECONDS]      build the libFuzzer harnesses (clang) into
#                                 build-fuzz/, replay their seeds, fuzz each
#                                 for SECONDS (default 20), one at a time
#   ./dev.sh demo                 deps + build + the main job, stats in results/
set -euo pipefail

# The demo job: hvswap run arguments (stats go to $DEMO_STATS).
DEMO_STATS=results/demo-stats.json
DEMO_ARGS=(-q --mem 2G --mem-limit 512M --vcpus 2 integrity passes=2)

PACKAGES=(cmake gcc make pkg-config libaio-dev liburing-dev libjson-c-dev
	  libcmocka-dev libseccomp-dev python3 clang libssl-dev e2fsprogs
	  fio gnuplot-nox     # tests/bench/run.sh (bench_quick): fio; plots: gnuplot
	  liblz4-dev libzstd-dev   # fill= ratios (test_fill), the compressed tier
	  zlib1g-dev liblzma-dev   # Linux guests: bzImage payloads (+ libzstd-dev)
	  libxml2-dev              # VM config files in libvirt's domain XML
	  libvirt0                 # ships libvirt's domain schema: XML configs are validated
	  qemu-system-common       # qemu-storage-daemon: the vhost-user-blk back-end of the tests
	  flex bison bc libelf-dev cpio xz-utils)  # linux_virtio_blk (HV_LINUX_BUILD=1): a kernel, an initramfs

cd "$(dirname "$(readlink -f "$0")")"
JOBS=${JOBS:-$(nproc)}

log() { echo "dev.sh: $*" >&2; }
die() { log "$*"; exit 1; }

cmd_deps() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}): run as root"
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# build_dir VARIANT: the build directory of "", asan or tsan.
build_dir() {
	case "${1:-}" in
	"") echo build ;;
	asan|tsan) echo "build-$1" ;;
	*) die "unknown build variant '$1' (asan or tsan)" ;;
	esac
}

cmd_build() {
	local variant=${1:-} dir opts=(-DHV_WERROR=ON)
	dir=$(build_dir "$variant")
	case "$variant" in
	asan) opts+=(-DHV_ASAN=ON) ;;
	tsan) opts+=(-DHV_TSAN=ON) ;;
	esac
	cmake -S . -B "$dir" "${opts[@]}" >/dev/null
	cmake --build "$dir" -j "$JOBS"
}

cmd_test() {
	local variant=${1:-} dir
	shift || true
	dir=$(build_dir "$variant")
	cmd_deps
	cmd_build "$variant"
	case "$variant" in
	asan) export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
	      export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} ;;
	tsan) export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1} ;;
	esac
	(cd "$dir" && ctest --output-on-failure -j "${CTEST_JOBS:-2}" "$@")
}

# One fuzzer process at a time (-j 1): each is CPU-bound.
cmd_fuzz() {
	local secs=${1:-20} dir=build-fuzz
	cmd_deps
	cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang -DHV_FUZZ=ON -DHV_WERROR=ON \
		-DHV_FUZZ_SECONDS="$secs" >/dev/null
	cmake --build "$dir" -j "$JOBS" --target fuzz_all
	(cd "$dir" && ctest --output-on-failure -j 1 -L fuzz)
}

cmd_demo() {
	local rc=0
	cmd_deps
	cmd_build
	mkdir -p "$(dirname "$DEMO_STATS")"
	log "running: hvswap run --stats $DEMO_STATS ${DEMO_ARGS[*]}"
	build/vmm/hvswap run --stats "$DEMO_STATS" "${DEMO_ARGS[@]}" || rc=$?
	log "exit status $rc; statistics in $DEMO_STATS"
	return "$rc"
}

usage() {
	sed -n '2,13s/^# \{0,1\}//p' "$0"
}

case "${1:-}" in
deps)  cmd_deps ;;
build) cmd_build "${2:-}" ;;
test)  shift; v=${1:-}; shift || true; cmd_test "$v" "$@" ;;
fuzz)  cmd_fuzz "${2:-}" ;;
demo)  cmd_demo ;;
-h|--help|help) usage ;;
*) usage >&2; exit 2 ;;
esac
