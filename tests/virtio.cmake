# Tests of the virtio devices (vmm/virtq.c, virtio_mmio.c, virtio_blk.c,
# guestmem.c) and their guests (dmastress, badvirtio).
#
# unit:        test_virtio - split-virtqueue walking/validation against a fake
#              guest memory, no KVM.
# integration: tests/test_dma.sh runs the real hvswap binary, one ctest test
#              per case; cases that start a VM exit 77 (skipped) only when
#              /dev/kvm cannot be opened.
hv_add_test(NAME test_virtio LABELS unit SOURCES test_virtio.c LIBS hvswap_vmm)
# vhost-user (issue 14 item 2): the protocol and vhost-user-blk against a
# fake back-end thread, well-behaved and not (no KVM; userfaultfd for the
# postcopy cases).
hv_add_test(NAME test_vhost_user LABELS unit SOURCES test_vhost_user.c LIBS hvswap_vmm)
# The shadow virtqueue (pin at notify, unpin at completion) on memfd guest
# memory under a real swapper: validation, the pin cap, and the race with
# eviction held between copy and hole punch (HOOK_EVICT_COPIED).
hv_add_test(NAME test_vhost_shadow LABELS unit
            SOURCES test_vhost_shadow.c swapper_testlib.c
            LIBS hvswap_vmm hvswap_swapper TIMEOUT 300)

# hv_add_dma_test(NAME n TIMEOUT s [LABELS ...] ARGS case args...)
function(hv_add_dma_test)
  cmake_parse_arguments(D "" "NAME;TIMEOUT" "LABELS;ARGS" ${ARGN})
  if(NOT D_LABELS)
    set(D_LABELS integration)
  endif()
  add_test(NAME dma_${D_NAME}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_dma.sh
                   $<TARGET_FILE:hvswap> ${D_ARGS})
  set_tests_properties(dma_${D_NAME} PROPERTIES LABELS "${D_LABELS}"
                       SKIP_RETURN_CODE 77 TIMEOUT ${D_TIMEOUT})
endfunction()

hv_add_dma_test(NAME plain TIMEOUT 120 ARGS plain 1)
hv_add_dma_test(NAME plain_2vcpu TIMEOUT 120 ARGS plain 2)
hv_add_dma_test(NAME disk_file TIMEOUT 180 ARGS disk_file)
hv_add_dma_test(NAME malformed TIMEOUT 60 ARGS malformed)
hv_add_dma_test(NAME cli TIMEOUT 60 ARGS cli)
# dmastress far over its resident limit: every request pins buffers that
# were just pushed out by the streaming; needs swapper_pin (issue 5, item 1).
hv_add_dma_test(NAME swap TIMEOUT 300 ARGS swap 1)
hv_add_dma_test(NAME swap_2vcpu TIMEOUT 300 ARGS swap 2)
# the same with unpoisoned read buffers: disk reads into swapped-out pages
# skip the swap read (swapper_pin_fill)
hv_add_dma_test(NAME fill TIMEOUT 300 ARGS fill)
# issue 14: device pins on swapped memfd guest memory
hv_add_dma_test(NAME swap_memfd TIMEOUT 300 ARGS swap 1 --mem-backing memfd)
hv_add_dma_test(NAME malformed_swap TIMEOUT 60 ARGS malformed 16M)

# --vhost-user-blk against qemu-storage-daemon (issue 14 item 2): dmastress
# through a real back-end in postcopy mode, served back-end faults, the
# back-end killed mid-run, usage errors.
function(hv_add_vhost_test)
  cmake_parse_arguments(V "" "NAME;TIMEOUT" "ARGS" ${ARGN})
  add_test(NAME vhost_user_${V_NAME}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_vhost_user.sh
                   $<TARGET_FILE:hvswap> ${V_ARGS})
  set_tests_properties(vhost_user_${V_NAME} PROPERTIES LABELS integration
                       SKIP_RETURN_CODE 77 TIMEOUT ${V_TIMEOUT})
endfunction()
hv_add_vhost_test(NAME dma TIMEOUT 600 ARGS dma 1)
hv_add_vhost_test(NAME dma_2vcpu TIMEOUT 600 ARGS dma 2)
# the same with the swapper on at 4x oversubscription (issue 14 item 2's
# target): buffers pinned from notify to completion by the shadow queue
hv_add_vhost_test(NAME swap4x TIMEOUT 600 ARGS swap4x 1)
hv_add_vhost_test(NAME swap4x_2vcpu TIMEOUT 600 ARGS swap4x 2)
hv_add_vhost_test(NAME swap4x_fill TIMEOUT 600 ARGS swap4x 1 poison=0)
# on hugetlbfs pages (the second backing a back-end can map); the host's
# huge-page pool is shared with test_huge and vmm_run_swap4x_huge_*
hv_add_vhost_test(NAME swap4x_huge TIMEOUT 600 ARGS swap4x_huge 1)
set_tests_properties(vhost_user_swap4x_huge PROPERTIES RUN_SERIAL TRUE)
hv_add_vhost_test(NAME faults TIMEOUT 600 ARGS faults)
hv_add_vhost_test(NAME dies TIMEOUT 600 ARGS dies)
hv_add_vhost_test(NAME stalls TIMEOUT 600 ARGS stalls)
hv_add_vhost_test(NAME usage TIMEOUT 60 ARGS usage)
