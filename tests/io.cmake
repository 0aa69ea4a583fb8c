# Unit tests of the swapper's I/O engines, swap device and histograms.
# test_io and test_swap_dev need O_DIRECT on /var/tmp; they exit 77 (skip)
# only when that is impossible.
hv_add_test(NAME test_io LABELS unit SOURCES test_io.c LIBS hvswap_swapper)
hv_add_test(NAME test_swap_dev LABELS unit SOURCES test_swap_dev.c LIBS hvswap_swapper)
hv_add_test(NAME test_hist LABELS unit SOURCES test_hist.c LIBS hvswap_swapper)
