# Tests for the test-guest kit (guest/): the host build of guest/lib, and a
# sanity check of the embedded guest table.
hv_add_test(NAME test_gen LABELS unit SOURCES test_gen.c
            LIBS hv_gen_host hv_guests m)
