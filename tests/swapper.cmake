# Tests of the swapper core (swapper/{swapper,fault,reclaim}.c) driven by host
# threads touching userfaultfd-registered memory, with the injection engine
# for holds and errors.  Exit 77 (skip) only when userfaultfd is unavailable.
hv_add_test(NAME test_swapper LABELS unit SOURCES test_swapper.c
            LIBS hvswap_swapper TIMEOUT 300)
