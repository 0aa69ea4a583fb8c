# Pins, reverse maps, migration, compaction and swapoff (issue 5), without KVM;
# allocation-failure injection, the stats/swapoff race of issue 9 and the
# lock-order checks.  Shares swapper_testlib.c with test_swapper.
hv_add_test(NAME test_hardcases LABELS unit
            SOURCES test_hardcases.c swapper_testlib.c
            LIBS hvswap_swapper TIMEOUT 300)
set_tests_properties(test_hardcases PROPERTIES RUN_SERIAL TRUE)
# swapper_discard (balloon inflates): every page state, and the races with a
# swap-in read and a write-out, parked by the injection engine.
hv_add_test(NAME test_discard LABELS unit
            SOURCES test_discard.c swapper_testlib.c
            LIBS hvswap_swapper TIMEOUT 300)
set_tests_properties(test_discard PROPERTIES RUN_SERIAL TRUE)
add_test(NAME test_discard_polled COMMAND test_discard)
set_tests_properties(test_discard_polled PROPERTIES LABELS unit TIMEOUT 300
  SKIP_RETURN_CODE 77 RUN_SERIAL TRUE ENVIRONMENT HV_TEST_POLLED=1)
