# Benchmark driver (tests/bench/, issues 4 and 10).
#
# bench_replay: a memtouch access sequence replayed by a plain host process
#               (for Linux kernel swap under a memcg limit).
# bench_belady: Belady MIN swap-in count for a sequence and a resident limit.
# bench_quick:  the CI smoke of tests/bench/run.sh (--quick, <= 90 s): runs
#               every section on tiny sizes and checks that bench.json is
#               complete and well-formed.  Not a timed test (the timeout
#               allows for a loaded host: 161 s at load 12).  Skipped (77)
#               when not root or /dev/kvm is missing.
foreach(tool replay belady)
  add_executable(bench_${tool} ${CMAKE_CURRENT_SOURCE_DIR}/bench/${tool}.c)
  target_include_directories(bench_${tool} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/bench)
  target_link_libraries(bench_${tool} PRIVATE hv_gen_host Threads::Threads m)
  hv_host_target(bench_${tool})
endforeach()

# bench_policy_lab: eviction policies replayed on a memtouch sequence with
#               only what hvswap sees, against LRU and Belady's MIN (issue
#               12); tests/bench/policy_lab.sh runs the matrix.
add_library(hv_policy_lab STATIC bench/lab.c bench/lab_ref.c bench/lab_clock.c
            bench/lab_adapt.c bench/lab_table.c)
target_include_directories(hv_policy_lab PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/bench)
hv_host_target(hv_policy_lab)
add_executable(bench_policy_lab ${CMAKE_CURRENT_SOURCE_DIR}/bench/policy_lab.c)
target_link_libraries(bench_policy_lab PRIVATE hv_policy_lab hv_gen_host)
hv_host_target(bench_policy_lab)
hv_add_test(NAME test_policy_lab LABELS unit SOURCES test_policy_lab.c
            LIBS hv_policy_lab hv_gen_host)
# policy_lab_quick: the lab's driver and report at tiny sizes (seconds;
# not timed): every workload, one fraction, with the dirty log, --check.
add_test(NAME policy_lab_quick
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/bench/policy_lab.sh --quick
                 --fractions 50 --dlog 256 --build ${CMAKE_BINARY_DIR}
                 --out ${CMAKE_CURRENT_BINARY_DIR}/policy-lab-quick --check)
set_tests_properties(policy_lab_quick PROPERTIES LABELS bench TIMEOUT 300)

# bench_swapout: the swapper's write-out capacity (trim of dirty memory,
#               host threads as the guest, no VM).
add_executable(bench_swapout ${CMAKE_CURRENT_SOURCE_DIR}/bench/swapout.c)
target_include_directories(bench_swapout PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/bench)
target_link_libraries(bench_swapout PRIVATE hvswap_swapper hv_gen_host)
hv_host_target(bench_swapout)

# bench_uffd_rtt: the floor of a uffd swap-in (no I/O): a minimal KVM guest
#               touches fresh uffd-registered pages, a spinning or blocking
#               handler serves each with one UFFDIO_COPY.  Uses the VMM's KVM
#               and x86 wrappers and the swapper's uffd wrappers.
add_executable(bench_uffd_rtt ${CMAKE_CURRENT_SOURCE_DIR}/bench/uffd_rtt.c)
target_include_directories(bench_uffd_rtt PRIVATE ${PROJECT_SOURCE_DIR}/swapper)
target_link_libraries(bench_uffd_rtt PRIVATE hvswap_vmm Threads::Threads)
hv_host_target(bench_uffd_rtt)

add_test(NAME bench_quick
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/bench/run.sh --quick
                 --build ${CMAKE_BINARY_DIR}
                 --out ${CMAKE_CURRENT_BINARY_DIR}/bench-quick
                 --check)
set_tests_properties(bench_quick PROPERTIES LABELS bench
                     SKIP_RETURN_CODE 77 TIMEOUT 300 RUN_SERIAL TRUE)

# bench_memfd_drop: dropping memfd guest pages as eviction does, hole punch
#               against MADV_REMOVE (issue 14; docs/benchmarks.md).
add_executable(bench_memfd_drop ${CMAKE_CURRENT_SOURCE_DIR}/bench/memfd_drop.c)
target_include_directories(bench_memfd_drop PRIVATE ${PROJECT_SOURCE_DIR}/swapper)
target_link_libraries(bench_memfd_drop PRIVATE hvswap_swapper)
hv_host_target(bench_memfd_drop)
