# Integrity of swapped data (swapper/seal.c, seal tables in swapset.c):
# crc32c and AES-256-GCM seals, tamper detection through the fault path,
# tamper trials, encrypted round trips.  Exit 77 (skip) only when
# userfaultfd is unavailable.
hv_add_test(NAME test_seal LABELS unit SOURCES test_seal.c
            LIBS hvswap_swapper TIMEOUT 300)
