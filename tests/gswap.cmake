# The in-guest swap baseline (docs/guest-swap.md): the guests' paging layer
# (swap=guest), the virtio-balloon with host discard, a hostile balloon
# driver.  tests/test_gswap.sh runs the real hvswap binary, one ctest test
# per case; cases that start a VM exit 77 only when /dev/kvm cannot be
# opened.  swapper_discard itself: tests/test_discard.c (hardcases.cmake).
function(hv_add_gswap_test)
  cmake_parse_arguments(G "" "NAME;TIMEOUT" "ARGS" ${ARGN})
  add_test(NAME gswap_${G_NAME}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_gswap.sh
                   $<TARGET_FILE:hvswap> ${G_ARGS})
  set_tests_properties(gswap_${G_NAME} PROPERTIES LABELS integration
                       SKIP_RETURN_CODE 77 TIMEOUT ${G_TIMEOUT})
endfunction()

hv_add_gswap_test(NAME integrity TIMEOUT 120 ARGS integrity)
hv_add_gswap_test(NAME double TIMEOUT 180 ARGS double)
hv_add_gswap_test(NAME mapper TIMEOUT 300 ARGS mapper)
hv_add_gswap_test(NAME mapper_count TIMEOUT 300 ARGS mapper_count)
hv_add_gswap_test(NAME overwrite TIMEOUT 180 ARGS overwrite)
hv_add_gswap_test(NAME memtouch TIMEOUT 120 ARGS memtouch)
hv_add_gswap_test(NAME malformed TIMEOUT 60 ARGS malformed)
hv_add_gswap_test(NAME malformed_swap TIMEOUT 60 ARGS malformed 16M)
hv_add_gswap_test(NAME malformed_memfd TIMEOUT 60 ARGS malformed memfd)
# issue 14: the balloon on memfd memory with the swapper on
hv_add_gswap_test(NAME malformed_memfd_swap TIMEOUT 60 ARGS malformed 16M memfd)
hv_add_gswap_test(NAME cli TIMEOUT 60 ARGS cli)
