# Pins, reverse maps, migration, compaction and swapoff (issue 5), without KVM.
hv_add_test(NAME test_hardcases LABELS unit SOURCES test_hardcases.c
            LIBS hvswap_swapper TIMEOUT 300)
set_tests_properties(test_hardcases PROPERTIES RUN_SERIAL TRUE)
