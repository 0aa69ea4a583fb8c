# Tests of the control socket (vmm/ctl*.c) and `hvswap ctl`.
#
# unit:        test_ctl: the request validator (vmm/ctl_req.c), no KVM.
# integration: tests/test_ctl.sh runs the real hvswap, one ctest test per
#              case.  VM cases exit 77 (skipped) only when /dev/kvm cannot be
#              opened; the cli case needs no KVM.
hv_add_test(NAME test_ctl LABELS unit SOURCES test_ctl.c LIBS hvswap_vmm)

# ctl_ops: PASSES integrity passes (ws=128M, limit 64M) must outlast the
# whole command sequence; the test fails with "raise PASSES" otherwise.
# Sanitizer builds run the VMM several times slower: the guest needs more
# passes to outlive the sequence there.
if(HV_ASAN OR HV_TSAN)
  set(HV_CTL_OPS_PASSES 48 CACHE STRING "ctl_ops: integrity passes of the guest")
else()
  set(HV_CTL_OPS_PASSES 12 CACHE STRING "ctl_ops: integrity passes of the guest")
endif()

foreach(c ops noswap cancel cli limits slowexit)
  set(args)
  if(c STREQUAL "ops")
    set(args ${HV_CTL_OPS_PASSES})
  endif()
  add_test(NAME ctl_${c}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_ctl.sh
                   $<TARGET_FILE:hvswap> ${c} ${args})
  set_tests_properties(ctl_${c} PROPERTIES LABELS integration
                       SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()

# Issue 5's combined run: integrity + dmastress at 4x oversubscription while
# a background loop migrates, compacts, swaps off and on through hvswap ctl.
add_test(NAME stress_ctl_dma_integrity
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_stress_ctl.sh
                 $<TARGET_FILE:hvswap> 4)
set_tests_properties(stress_ctl_dma_integrity PROPERTIES LABELS "integration;stress"
                     SKIP_RETURN_CODE 77 TIMEOUT 600)
