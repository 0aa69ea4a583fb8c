# Tests of `hvswap host` (vmm/host*.c), issue 13.
#
# unit:        test_host_policy: the decision function with stubbed VMs
#              (registered in vmm.cmake).
# integration: tests/test_host.sh runs the real supervisor and its VMs, one
#              ctest test per case; VM cases exit 77 (skipped) only when
#              /dev/kvm cannot be opened.
foreach(c budget crash ctl sigterm usage ztier)
  add_test(NAME host_${c}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_host.sh
                   $<TARGET_FILE:hvswap> ${c})
  set_tests_properties(host_${c} PROPERTIES LABELS integration
                       SKIP_RETURN_CODE 77 TIMEOUT 120)
endforeach()
