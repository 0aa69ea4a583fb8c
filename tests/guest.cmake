# Tests for the test-guest kit (guest/): the host build of guest/lib, and a
# sanity check of the embedded guest table.
hv_add_test(NAME test_gen LABELS unit SOURCES test_gen.c
            LIBS hv_gen_host hv_guests m)

# fill= contents (guest/lib/fill.c): the compression ratio each fill gives
# with liblz4 and libzstd (Debian liblz4-dev, libzstd-dev; dev.sh deps).
pkg_check_modules(TFILL_LZ4 REQUIRED IMPORTED_TARGET liblz4)
pkg_check_modules(TFILL_ZSTD REQUIRED IMPORTED_TARGET libzstd)
hv_add_test(NAME test_fill LABELS unit SOURCES test_fill.c
            LIBS hv_gen_host PkgConfig::TFILL_LZ4 PkgConfig::TFILL_ZSTD)
