# Tests of the swapper core (swapper/{swapper,fault,reclaim}.c) driven by host
# threads touching userfaultfd-registered memory, with the injection engine
# for holds and errors.  Exit 77 (skip) only when userfaultfd is unavailable.
# swapper_testlib.c: the helpers both swapper test files share (environment,
# page stamps, bounded waits, background operations).
hv_add_test(NAME test_swapper LABELS unit
            SOURCES test_swapper.c swapper_testlib.c
            LIBS hvswap_swapper TIMEOUT 300)
# Timing-sensitive under host load (the no-MOVE fallback's racing writer
# waits for evictions to complete): run alone, not beside the VM tests.
set_tests_properties(test_swapper PROPERTIES RUN_SERIAL TRUE)
