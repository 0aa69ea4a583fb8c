#!/usr/bin/env python3
"""mkseeds.py - (re)generate the seed corpora in tests/fuzz/corpus/.

The seeds are small valid (and a few classic invalid) inputs from which
libFuzzer mutates: control requests for fuzz_ctl_req, a driver bring-up plus
one request of each virtio-blk type for fuzz_virtio, one call of every
hypercall for fuzz_hcall.  Operation encodings are documented at the top of
each harness.  Run from anywhere: python3 tests/fuzz/mkseeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
RAM_BASE = 0x200000


def write(harness, name, data):
    d = os.path.join(HERE, "corpus", harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def op(kind, arg=0, off=0, val=0):
    return struct.pack("<BBHI", kind, arg, off & 0xFFFF, val & 0xFFFFFFFF)


# ---- fuzz_ctl_req ---------------------------------------------------------
CTL = {
    "stats": '{"cmd":"stats"}',
    "devices": '{"cmd":"devices"}',
    "swapon_tmp": '{"cmd":"swapon","size":"64M","prio":5}',
    "swapon_path": '{"cmd":"swapon","path":"/var/tmp/s","size":1048576}',
    "swapon_null": '{"cmd":"swapon","path":null,"size":"1G"}',
    "swapoff": '{"cmd":"swapoff","dev":"#1"}',
    "limit": '{"cmd":"set-limit","limit":"512M"}',
    "migrate": '{"cmd":"migrate","from":"#0","to":"/var/tmp/b"}',
    "compact": '{"cmd":"compact","dev":"#0"}',
    "trim": '{"cmd":"trim"}  ',
    "numa": '{"cmd":"numa-move","node":0}',
    "bad_dup": '{"cmd":"trim","cmd":"stats"}',
    "bad_type": '{"cmd":"set-limit","limit":1.5e300}',
    "bad_utf8": '{"cmd":"swapoff","dev":"\xc3\x28"}',
    "bad_esc": '{"cmd":"swapoff","dev":"a\\u0000b"}',
    "bad_nest": '{"cmd":"stats","x":[[[[[[[[[[{}]]]]]]]]]]}',
    "bad_trailing": '{"cmd":"stats"} {}',
}
for k, v in CTL.items():
    write("fuzz_ctl_req", k, v.encode("latin-1"))

# ---- fuzz_virtio ------------------------------------------------------------
# Registers (vmm/virtio_mmio.h)
STATUS, DRV_FEAT, DRV_FEAT_SEL, QSEL, QNUM, QREADY = 0x70, 0x20, 0x24, 0x30, 0x38, 0x44
DESC_LO, DESC_HI, AVAIL_LO, AVAIL_HI, USED_LO, USED_HI = 0x80, 0x84, 0x90, 0x94, 0xA0, 0xA4
DESC, AVAIL, USED = 0x1000, 0x2000, 0x3000      # RAM offsets of the rings
HDR, DATA, ST = 0x4000, 0x5000, 0x6000


def bringup(qnum=8):
    s = op(0, 0, STATUS, 0) + op(0, 0, STATUS, 1) + op(0, 0, STATUS, 3)
    s += op(0, 0, DRV_FEAT_SEL, 1) + op(0, 0, DRV_FEAT, 1)       # VERSION_1
    s += op(0, 0, DRV_FEAT_SEL, 0) + op(0, 0, DRV_FEAT, (1 << 2) | (1 << 9))
    s += op(0, 0, STATUS, 0xB) + op(0, 0, QSEL, 0) + op(0, 0, QNUM, qnum)
    s += op(2, 0, DESC_LO, DESC) + op(0, 0, DESC_HI, 0)
    s += op(2, 0, AVAIL_LO, AVAIL) + op(0, 0, AVAIL_HI, 0)
    s += op(2, 0, USED_LO, USED) + op(0, 0, USED_HI, 0)
    s += op(0, 0, QREADY, 1) + op(0, 0, STATUS, 0xF)
    return s


def desc(i, ram_off, length, flags, nxt):
    base = DESC + 16 * i
    return (op(4, 0, base, ram_off) + op(3, 0, base + 8, length) +
            op(3, 0, base + 12, flags | (nxt << 16)))


def request(btype, sector=0, dlen=512, dflags=2, idx=1):
    s = op(3, 0, HDR, btype) + op(3, 0, HDR + 8, sector)
    s += desc(0, HDR, 16, 1, 1)
    if dlen:
        s += desc(1, DATA, dlen, dflags | 1, 2) + desc(2, ST, 1, 2, 0)
    else:
        s += desc(1, ST, 1, 2, 0)
    s += op(3, 0, AVAIL, idx << 16)              # flags 0, idx
    s += op(3, 0, AVAIL + 4, 0)                  # ring[0] = head 0
    return s + op(7)


write("fuzz_virtio", "read", bringup() + request(0))
write("fuzz_virtio", "write", bringup() + request(1, 3, 1024, 0))
write("fuzz_virtio", "flush", bringup() + request(4, 0, 0))
write("fuzz_virtio", "get_id", bringup() + request(8, 0, 20))
write("fuzz_virtio", "unsupp", bringup() + request(99))
write("fuzz_virtio", "loop", bringup() + desc(0, HDR, 16, 1, 0) +
      op(3, 0, AVAIL, 1 << 16) + op(7))
write("fuzz_virtio", "regs", b"".join(op(1, 2, r) for r in range(0, 0x100, 4)) +
      op(6, 4, 0) + op(6, 8, 8) + op(5, 1, 0x71, 0xFF))
write("fuzz_virtio", "bad_qnum", bringup(300) + request(0))

# ---- fuzz_balloon -----------------------------------------------------------
# Queue q's rings at DESC/AVAIL/USED + q * 0x200; frame array at DATA.
def balloon_bringup(qnum=8):
    s = op(0, 0, STATUS, 0) + op(0, 0, STATUS, 1) + op(0, 0, STATUS, 3)
    s += op(0, 0, DRV_FEAT_SEL, 1) + op(0, 0, DRV_FEAT, 1)       # VERSION_1
    s += op(0, 0, DRV_FEAT_SEL, 0) + op(0, 0, DRV_FEAT, 3)       # TELL, STATS
    s += op(0, 0, STATUS, 0xB)
    for q in range(3):
        s += op(0, 0, QSEL, q) + op(0, 0, QNUM, qnum)
        s += op(2, 0, DESC_LO, DESC + q * 0x200) + op(0, 0, DESC_HI, 0)
        s += op(2, 0, AVAIL_LO, AVAIL + q * 0x200) + op(0, 0, AVAIL_HI, 0)
        s += op(2, 0, USED_LO, USED + q * 0x200) + op(0, 0, USED_HI, 0)
        s += op(0, 0, QREADY, 1)
    return s + op(0, 0, STATUS, 0xF)


def balloon_req(q, frames, idx=1, flags=0):
    d = DESC + q * 0x200
    s = b"".join(op(3, 0, DATA + 4 * i, f) for i, f in enumerate(frames))
    s += op(4, 0, d, DATA) + op(3, 0, d + 8, 4 * len(frames))
    s += op(3, 0, d + 12, flags)
    s += op(3, 0, AVAIL + q * 0x200, idx << 16) + op(3, 0, AVAIL + q * 0x200 + 4, 0)
    return s + op(7, q)


PFN = RAM_BASE // 4096
write("fuzz_balloon", "inflate", balloon_bringup() + balloon_req(0, [PFN + 8, PFN + 9]))
write("fuzz_balloon", "deflate", balloon_bringup() + balloon_req(0, [PFN + 8]) +
      balloon_req(1, [PFN + 8]))
write("fuzz_balloon", "bad_frames", balloon_bringup() + balloon_req(0, [0, 0xFFFFFFFF, PFN + 99]))
write("fuzz_balloon", "double", balloon_bringup() + balloon_req(0, [PFN + 8, PFN + 8]))
write("fuzz_balloon", "stats", balloon_bringup() + op(3, 0, DATA, 0x00000000) +
      op(3, 0, DATA + 4, 0x1000) + op(4, 0, DESC + 0x400, DATA) +
      op(3, 0, DESC + 0x408, 10) + op(3, 0, AVAIL + 0x400, 1 << 16) + op(7, 2))
write("fuzz_balloon", "writable", balloon_bringup() + balloon_req(0, [PFN + 8], flags=2))
write("fuzz_balloon", "config", balloon_bringup() + op(5, 1, 0x104, 7) +
      op(0, 0, 0x104, 5) + op(0, 0, 0x100, 5) + op(6, 4, 0) + op(6, 8, 4))

# ---- fuzz_hcall -------------------------------------------------------------
BLK = 0x100          # RAM offset of the hypercall block
BUF = 0x1000


def hcall(nr, a0=0, a1=0, a2=0, ptr_args=()):
    s = op(0, 0, BLK, nr) + op(0, 0, BLK + 4, 0)
    for i, a in enumerate((a0, a1, a2)):
        if i in ptr_args:
            s += op(1, 0, BLK + 8 + 8 * i, a)
        else:
            s += op(0, 0, BLK + 8 + 8 * i, a) + op(0, 0, BLK + 12 + 8 * i, 0)
    return s + op(2, 0, BLK)


name = b"my_metric"
text = b"hello\x1b[31m\n"
seed_print = b"".join(op(0, 0, BUF + i, int.from_bytes(text[i:i + 4].ljust(4, b"\0"), "little"))
                      for i in range(0, len(text), 4))
seed_metric = b"".join(op(0, 0, BUF + i, int.from_bytes(name[i:i + 4].ljust(4, b"\0"), "little"))
                       for i in range(0, len(name), 4))
write("fuzz_hcall", "print", seed_print + hcall(0, BUF, len(text), ptr_args=(0,)))
write("fuzz_hcall", "exit", hcall(1, 3) + hcall(0, BUF, 4, ptr_args=(0,)))
write("fuzz_hcall", "metric", seed_metric + hcall(2, BUF, len(name), 0x3FF00000, ptr_args=(0,)))
write("fuzz_hcall", "get_args", hcall(3, BUF, 64, ptr_args=(0,)))
write("fuzz_hcall", "get_info", hcall(4, BUF, 48, ptr_args=(0,)) + hcall(4, BUF, 32, ptr_args=(0,)))
write("fuzz_hcall", "barrier", hcall(5) + hcall(5))
write("fuzz_hcall", "bad", hcall(77) + op(3, 2, 0, 0x200101) + op(3, 6, 0, 0) +
      op(4, 0) + op(3, 1, 0, 14) + hcall(0, 0xFFFFFF00, 0xFFFFFFFF, ptr_args=(0,)))

# ---- fuzz_linux_image -------------------------------------------------------
def vmlinux(paddr=0x1000000, code=b"\xf4" * 64):
    eh = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    eh += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, paddr, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 1, 7, 120, 0xffffffff80000000 + paddr, paddr,
                     len(code), len(code) + 4096, 0x1000)
    return eh + ph + code


def bzimage(payload):
    b = bytearray(1024)
    b[0x1f1] = 1
    b[0x1fe:0x200] = b"\x55\xaa"
    b[0x200:0x202] = b"\xeb\x66"
    b[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", b, 0x206, 0x20f)
    struct.pack_into("<I", b, 0x238, 2047)
    struct.pack_into("<II", b, 0x248, 16, len(payload))
    return bytes(b) + bytes(16) + payload


def sized(data, raw):
    return data + struct.pack("<I", len(raw))


import gzip
import lzma
k = vmlinux()
write("fuzz_linux_image", "vmlinux", k)
write("fuzz_linux_image", "bz_gzip", bzimage(sized(gzip.compress(k, mtime=0), k)))
write("fuzz_linux_image", "bz_xz", bzimage(sized(lzma.compress(k, check=lzma.CHECK_CRC32), k)))
write("fuzz_linux_image", "bz_lzma", bzimage(sized(lzma.compress(k, format=lzma.FORMAT_ALONE), k)))
write("fuzz_linux_image", "bz_none", bzimage(k))


# ---- fuzz_vhost_user --------------------------------------------------------
# The back-end's side of hvswap's conversation (fuzz_vhost_user.c):
# GET_FEATURES, GET_PROTOCOL_FEATURES, GET_CONFIG, (postcopy: ADVISE),
# SET_MEM_TABLE ack, the ring's six acks, SET_VRING_ENABLE 0 ack,
# GET_VRING_BASE.
def vu_reply(req, payload=b""):
    return struct.pack("<III", req, 0x5, len(payload)) + payload


def vu_u64(req, v=0):
    return vu_reply(req, struct.pack("<Q", v))


def vu_stream(protocol, config=None, tail=True):
    feats = (1 << 32) | (1 << 30) | (1 << 9) | (1 << 2)
    cfg = struct.pack("<III", 0, 24, 0) + struct.pack("<Q", 131072) + bytes(16)
    s = vu_u64(1, feats) + vu_u64(15, protocol)
    s += vu_reply(24, cfg if config is None else config)
    if not tail:
        return s
    ack = protocol & (1 << 3)
    if ack:
        s += vu_u64(5)                                    # SET_MEM_TABLE
        for req in (8, 10, 9, 12, 13, 18, 18):            # ring start, enable 0
            s += vu_u64(req)
    s += vu_reply(11, struct.pack("<II", 0, 7))           # GET_VRING_BASE
    return s


write("fuzz_vhost_user", "good", vu_stream((1 << 3) | (1 << 9)))
write("fuzz_vhost_user", "no_reply_ack", vu_stream(1 << 9))
write("fuzz_vhost_user", "postcopy", vu_stream((1 << 3) | (1 << 9) | (1 << 8), tail=False)
      + vu_reply(28))
write("fuzz_vhost_user", "config_failed", vu_stream((1 << 3) | (1 << 9), config=b""))
write("fuzz_vhost_user", "short", vu_stream((1 << 3) | (1 << 9))[:40])
