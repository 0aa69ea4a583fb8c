# Integrity of swapped data (swapper/seal.c, seal tables in swapset.c):
# crc32c and AES-256-GCM seals, tamper detection through the fault path,
# tamper trials, encrypted round trips.  Exit 77 (skip) only when
# userfaultfd is unavailable.
hv_add_test(NAME test_seal LABELS unit SOURCES test_seal.c
            LIBS hvswap_swapper TIMEOUT 300)
# Timing-sensitive under host load like the other swapper suites (one run
# under a loaded CI-like ctest -j2 failed test_write_error_crc32c once:
# pages not all back on swap after the trim; not reproduced alone): alone.
set_tests_properties(test_seal PROPERTIES RUN_SERIAL TRUE)
