# Tests of the VMM (vmm/).
#
# unit:        pure functions of vmm/, no KVM needed (link hvswap_vmm).
# integration: tests/test_vmm_run.sh runs the real hvswap binary, one ctest
#              test per case.  Cases that start a VM exit 77 (skipped) only
#              when /dev/kvm cannot be opened; the cli case needs no KVM.
hv_add_test(NAME test_util LABELS unit SOURCES test_util.c LIBS hvswap_vmm)
hv_add_test(NAME test_x86 LABELS unit SOURCES test_x86.c LIBS hvswap_vmm)
hv_add_test(NAME test_hcall LABELS unit SOURCES test_hcall.c LIBS hvswap_vmm)
# Linux guests (issue 15 item 4): image parsing and the UART model.
hv_add_test(NAME test_linux_image LABELS unit SOURCES test_linux_image.c LIBS hvswap_vmm)
hv_add_test(NAME test_serial8250 LABELS unit SOURCES test_serial8250.c LIBS hvswap_vmm)
hv_add_test(NAME test_virtio_irq LABELS unit SOURCES test_virtio_irq.c LIBS hvswap_vmm)
# Issue 13: VM config files (JSON, libvirt XML), every element and error.
hv_add_test(NAME test_config LABELS unit SOURCES test_config.c LIBS hvswap_vmm)
# Issue 13: hvswap host's decisions with stubbed VMs (deterministic).
hv_add_test(NAME test_host_policy LABELS unit SOURCES test_host_policy.c LIBS hvswap_vmm)

# The swap smoke test: integrity under a resident limit of a quarter of its
# working set.  Sized to take ~5 s here; the larger run
# (--mem 512M --mem-limit 128M ws=256M passes=2) takes ~40 s on this machine.
set(HV_SWAP_SMOKE_ARGS 128M 32M 64M 1 CACHE STRING
    "vmm_run_swap: MEM LIMIT WS PASSES [extra hvswap options]")

# hv_add_run_test(CASE name TIMEOUT s ARGS ...): one case of test_vmm_run.sh.
function(hv_add_run_test)
  cmake_parse_arguments(R "" "NAME;CASE;TIMEOUT" "ARGS" ${ARGN})
  add_test(NAME vmm_run_${R_NAME}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_vmm_run.sh
                   $<TARGET_FILE:hvswap> ${R_CASE} ${R_ARGS})
  set_tests_properties(vmm_run_${R_NAME} PROPERTIES LABELS integration
                       SKIP_RETURN_CODE 77 TIMEOUT ${R_TIMEOUT})
endfunction()

foreach(n 1 2 4)
  hv_add_run_test(NAME memtouch_${n}vcpu CASE memtouch TIMEOUT 60 ARGS ${n} 256)
  hv_add_run_test(NAME integrity_${n}vcpu CASE integrity TIMEOUT 60 ARGS ${n} 256 2)
endforeach()
hv_add_run_test(NAME crash_pf CASE crash TIMEOUT 60 ARGS pf "#PF" 1 0x400000000000)
hv_add_run_test(NAME crash_pf_2vcpu CASE crash TIMEOUT 60 ARGS pf "#PF" 2 0x400000000000)
hv_add_run_test(NAME crash_ud2 CASE crash TIMEOUT 60 ARGS ud2 "#UD")
hv_add_run_test(NAME crash_div0 CASE crash TIMEOUT 60 ARGS div0 "#DE")
hv_add_run_test(NAME crash_gp CASE crash TIMEOUT 60 ARGS gp "#GP")
hv_add_run_test(NAME crash_sys CASE crash TIMEOUT 60 ARGS sys "#PF" 1 0x1000)
hv_add_run_test(NAME badptr CASE badptr TIMEOUT 60)
hv_add_run_test(NAME hang_timeout CASE hang TIMEOUT 30)
hv_add_run_test(NAME cli CASE cli TIMEOUT 60)
hv_add_run_test(NAME swap CASE swap TIMEOUT 300 ARGS ${HV_SWAP_SMOKE_ARGS})
# Issue 12: the clock-dirty policy at 4x with 2 vCPUs.
hv_add_run_test(NAME policy_dirty CASE policy_dirty TIMEOUT 300
                ARGS 128M 32M 124M 2 --vcpus 2)
# Issue 12: the arcw policies at 4x with 2 vCPUs, every byte verified.
foreach(pol arcw arcw-dirty)
  string(REPLACE "-" "_" _pn ${pol})
  hv_add_run_test(NAME policy_${_pn} CASE policy_arcw TIMEOUT 300
                  ARGS ${pol} 128M 32M 124M 2 --vcpus 2)
endforeach()
hv_add_run_test(NAME memfd CASE memfd TIMEOUT 60)
hv_add_run_test(NAME swaptarget CASE swaptarget TIMEOUT 60)
# Issue 11 (hardening): hostile guest output, signals, planted links,
# errors printed once.
hv_add_run_test(NAME hostile CASE hostile TIMEOUT 300)
hv_add_run_test(NAME signals CASE signals TIMEOUT 120)
hv_add_run_test(NAME statsfile CASE statsfile TIMEOUT 120)
hv_add_run_test(NAME once CASE once TIMEOUT 60)
# Issue 13: VMs from config files (JSON, libvirt XML), overrides, conversion.
hv_add_run_test(NAME config CASE config TIMEOUT 120 ARGS ${PROJECT_SOURCE_DIR})

# Issue 3's acceptance matrix: integrity at 4x oversubscription (128M guest,
# 32M resident limit, the working set is all free guest RAM) with 1, 2 and
# 4 vCPUs on both the libaio and the sync engine; stats must show real
# swap-out and swap-in traffic and no I/O errors.
foreach(engine libaio sync)
  foreach(n 1 2 4)
    hv_add_run_test(NAME swap4x_${engine}_${n}vcpu CASE swap TIMEOUT 300
                    ARGS 128M 32M 124M 2 --io-engine ${engine} --vcpus ${n})
  endforeach()
endforeach()

# Issue 14: the same integrity flow on memfd guest memory (shmem: evicted
# by write-protect, copy and hole punch), 1 and 2 vCPUs.
foreach(n 1 2)
  hv_add_run_test(NAME swap4x_memfd_${n}vcpu CASE swap TIMEOUT 300
                  ARGS 128M 32M 124M 2 --mem-backing memfd --vcpus ${n})
endforeach()

# Issue 14 item 3: integrity at 4x on 2 MiB hugetlbfs pages swapped in 2 MiB
# units (reserves its huge pages as root; skips without them).
foreach(n 1 2)
  hv_add_run_test(NAME swap4x_huge_${n}vcpu CASE huge TIMEOUT 300
                  ARGS 128M 32M 124M 2 --vcpus ${n})
endforeach()
set_tests_properties(vmm_run_swap4x_huge_1vcpu vmm_run_swap4x_huge_2vcpu
                     PROPERTIES RUN_SERIAL TRUE)
# The same on transparent huge pages (--mem-backing thp; no pool needed).
foreach(n 1 2)
  hv_add_run_test(NAME swap4x_thp_${n}vcpu CASE thp TIMEOUT 300
                  ARGS 128M 32M 124M 2 --vcpus ${n})
endforeach()

# Seccomp (issue 11, item 7): forbidden calls kill a filtered child with
# SIGSYS; allowed work survives.  Skips (77) in sanitizer builds.
hv_add_test(NAME test_sandbox LABELS unit SOURCES test_sandbox.c LIBS hvswap_vmm)

# Issue 11, item 8: the guest-side fuzzer (guest/fuzzguest.c), ~15-20 s each.
hv_add_run_test(NAME fuzzguest_1 CASE fuzzguest TIMEOUT 300 ARGS 1 3000)
hv_add_run_test(NAME fuzzguest_2_sync CASE fuzzguest TIMEOUT 300
                ARGS 2 3000 --io-engine sync --vcpus 2)

# Linux guests: option and image errors, and the 64-bit entry state seen by
# a tiny vmlinux that prints on COM1 (seconds).
add_test(NAME linux_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_linux_cli.sh
                                $<TARGET_FILE:hvswap>)
set_tests_properties(linux_cli PROPERTIES LABELS "integration;linux"
                     SKIP_RETURN_CODE 77 TIMEOUT 120)
# Linux guests (issue 15 item 4): boot Debian's kernel (fetched at test
# time into the build tree, see the script) until its first console lines.
# Bounded by HV_LINUX_SMOKE_SECONDS of guest run time (CPL0 is emulated on
# nested KVM: "Memory:" is reached after a minute or more there).
set(HV_LINUX_SMOKE_SECONDS 240 CACHE STRING
    "linux_boot: seconds the kernel may run before it is stopped")
add_test(NAME linux_boot
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_linux_boot.sh
                 $<TARGET_FILE:hvswap> ${CMAKE_BINARY_DIR}/linux-kernel
                 ${HV_LINUX_SMOKE_SECONDS})
math(EXPR _hv_linux_timeout "${HV_LINUX_SMOKE_SECONDS} + 360")
set_tests_properties(linux_boot PROPERTIES LABELS "integration;linux"
                     SKIP_RETURN_CODE 77 TIMEOUT ${_hv_linux_timeout})
# virtio-blk under a minimal Linux built from Debian's linux-source-6.1
# (tests/test_linux_virtio_blk.sh): skipped unless HV_LINUX_BUILD=1 (the
# build takes ~15-20 min on 2 cores, once; the kernel is kept in the build
# tree) or HV_LINUX_MIN_KERNEL names a kernel.  Two boots, each bounded by
# HV_LINUX_VBLK_SECONDS.
set(HV_LINUX_VBLK_SECONDS 600 CACHE STRING
    "linux_virtio_blk: seconds each boot may run before it is stopped")
add_test(NAME linux_virtio_blk
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_linux_virtio_blk.sh
                 $<TARGET_FILE:hvswap> ${CMAKE_BINARY_DIR}/linux-min
                 ${HV_LINUX_VBLK_SECONDS})
math(EXPR _hv_vblk_timeout "2 * ${HV_LINUX_VBLK_SECONDS} + 3600")
set_tests_properties(linux_virtio_blk PROPERTIES LABELS "integration;linux"
                     SKIP_RETURN_CODE 77 TIMEOUT ${_hv_vblk_timeout})

# Issue 12: the compressed tier end to end (tests/test_ztier_vm.sh): the
# integrity guest with every fill= kind through lz4 or zstd, and the options.
foreach(c zeros:lz4 sparse:zstd random:lz4 ratio2:lz4 ratio2:zstd ratio3:zstd ratio4:lz4)
  string(REPLACE ":" ";" p ${c})
  list(GET p 0 kind)
  list(GET p 1 algo)
  string(REGEX REPLACE "^ratio" "ratio:" fill ${kind})
  add_test(NAME ztier_vm_${kind}_${algo}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_ztier_vm.sh
                   $<TARGET_FILE:hvswap> fill ${fill} ${algo})
  set_tests_properties(ztier_vm_${kind}_${algo} PROPERTIES LABELS integration
                       SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
add_test(NAME ztier_vm_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_ztier_vm.sh
         $<TARGET_FILE:hvswap> cli)
set_tests_properties(ztier_vm_cli PROPERTIES LABELS integration
                     SKIP_RETURN_CODE 77 TIMEOUT 120)
