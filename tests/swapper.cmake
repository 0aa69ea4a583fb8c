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
# The same suite with polled engines (completions on the fault thread, as
# the swapper creates its own engine).
add_test(NAME test_swapper_polled COMMAND test_swapper)
set_tests_properties(test_swapper_polled PROPERTIES LABELS unit TIMEOUT 300
  SKIP_RETURN_CODE 77 RUN_SERIAL TRUE ENVIRONMENT HV_TEST_POLLED=1)
# The arcw eviction policy (issue 12): scripted access sequences with known
# outcomes (scan resistance, ghost hits, p), stamps through write-out, the
# per-page array's cost.
hv_add_test(NAME test_policy_arcw LABELS unit
            SOURCES test_policy_arcw.c swapper_testlib.c
            LIBS hvswap_swapper TIMEOUT 300)
# The core suites under --policy arcw (every page verified as with clock).
foreach(t test_swapper test_hardcases)
  add_test(NAME ${t}_arcw COMMAND ${t})
  set_tests_properties(${t}_arcw PROPERTIES LABELS unit TIMEOUT 300
    SKIP_RETURN_CODE 77 RUN_SERIAL TRUE ENVIRONMENT HV_TEST_POLICY=arcw)
endforeach()
# The fast fault path: the loop, spinning, watermarks, readahead (issue 10).
hv_add_test(NAME test_faultpath LABELS unit
            SOURCES test_faultpath.c swapper_testlib.c
            LIBS hvswap_swapper TIMEOUT 300)
set_tests_properties(test_faultpath PROPERTIES RUN_SERIAL TRUE)
# Nothing lost under injected write/read failures, short reads and
# reordered writes: 200,000 fault + eviction events here; SOAK_EVENTS=1e7
# for the figure in docs/reliability.md.
hv_add_test(NAME soak_inject LABELS stress
            SOURCES soak_inject.c swapper_testlib.c
            LIBS hvswap_swapper TIMEOUT 600)
set_tests_properties(soak_inject PROPERTIES RUN_SERIAL TRUE)
# The compressed tier (swapper/ztier.c, zpool.c): every fill= kind round
# trip, pool-full write-back, incompressible pages, and its races with
# discard, swapoff and migration held still by the injection engine.
hv_add_test(NAME test_ztier LABELS unit
            SOURCES test_ztier.c swapper_testlib.c
            LIBS hvswap_swapper hv_gen_host TIMEOUT 300)
add_test(NAME test_ztier_polled COMMAND test_ztier)
set_tests_properties(test_ztier_polled PROPERTIES LABELS unit TIMEOUT 300
  SKIP_RETURN_CODE 77 ENVIRONMENT HV_TEST_POLLED=1)
# memfd (shmem) guest memory (issue 14): what is particular to it (hole
# punch, a second mapping of the memfd, refusal without uffd-wp on shmem),
# then the suites above once more on memfd memory (HV_TEST_BACKING=memfd).
hv_add_test(NAME test_memfd LABELS unit
            SOURCES test_memfd.c swapper_testlib.c
            LIBS hvswap_swapper TIMEOUT 300)
set_tests_properties(test_memfd PROPERTIES RUN_SERIAL TRUE)
foreach(t test_swapper test_faultpath test_hardcases test_discard soak_inject)
  set(lbl unit)
  if(t STREQUAL soak_inject)
    set(lbl stress)
  endif()
  add_test(NAME ${t}_memfd COMMAND ${t})
  set_tests_properties(${t}_memfd PROPERTIES LABELS ${lbl} TIMEOUT 600
    SKIP_RETURN_CODE 77 RUN_SERIAL TRUE ENVIRONMENT HV_TEST_BACKING=memfd)
endforeach()
# memfd swap-in through bounce buffers and UFFDIO_COPY (zero-copy off)
add_test(NAME test_swapper_memfd_bounce COMMAND test_swapper)
set_tests_properties(test_swapper_memfd_bounce PROPERTIES LABELS unit TIMEOUT 300
  SKIP_RETURN_CODE 77 RUN_SERIAL TRUE
  ENVIRONMENT "HV_TEST_BACKING=memfd;HV_TEST_ZERO_COPY=0")
# hugetlbfs guest memory swapped in 2 MiB units (issue 14 item 3): reserves
# its huge pages (root) and gives them back; skips (77) without them.
hv_add_test(NAME test_huge LABELS unit
            SOURCES test_huge.c swapper_testlib.c
            LIBS hvswap_swapper TIMEOUT 300)
set_tests_properties(test_huge PROPERTIES RUN_SERIAL TRUE)
# The same cases on transparent huge pages (GMEM_THP, no pool); skips (77)
# when the host's THP mode is "never" or the kernel lacks UFFDIO_MOVE.
hv_add_test(NAME test_thp LABELS unit
            SOURCES test_huge.c swapper_testlib.c
            LIBS hvswap_swapper TIMEOUT 300)
target_compile_definitions(test_thp PRIVATE HV_TEST_THP)
