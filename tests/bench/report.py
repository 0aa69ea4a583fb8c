#!/usr/bin/env python3
"""report.py - turn tests/bench/run.sh's raw/*.json into bench.json, bench.md
and bench-*.png (gnuplot), and validate a bench.json.

    report.py OUTDIR [--no-plots]
    report.py --check OUTDIR/bench.json      # exit 0 complete, 1 otherwise

Every measured value is {"median","min","max","n"} over the repeats (n = 0
and null values when no run produced it, e.g. an OOM-killed kernel run).
Sections that run.sh did not run (--sections, meta.params.sections) are left
out of bench.md, of the targets and of --check.

Optional swapper stats are read when present and reported as n/a otherwise:
swap.swapin_parts = {"notify","queue","device","install"}, each a histogram
object like swap.swapin_latency ({"count","mean_ns","p50_ns",...}).
"""
import glob
import json
import math
import os
import statistics
import subprocess
import sys

import report_ztier

PAGE = 4096


# ---- helpers -----------------------------------------------------------------
def agg(values):
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    if not v:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


def med(a):
    return a["median"] if isinstance(a, dict) else a


def get(d, *path, default=None):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return default
        d = d[p]
    return d


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def load(outdir):
    runs = []
    for f in sorted(glob.glob(os.path.join(outdir, "raw", "*.json"))):
        if f.endswith("meta.json"):
            continue
        with open(f) as fh:
            runs.append(json.load(fh))
    with open(os.path.join(outdir, "raw", "meta.json")) as fh:
        meta = json.load(fh)
    return meta, runs


def sel(runs, **kw):
    out = []
    for r in runs:
        m = r.get("meta", {})
        if all(m.get(k) == v for k, v in kw.items()):
            out.append(r)
    return out


def ok(r):
    return r.get("status") == "ok" and r.get("result") is not None


# Sections of a run from before --sections (issue 4) and meta.params.sections.
ALL_SECTIONS = ["1", "2", "3", "4", "6"]


def ran(b, sec):
    return str(sec) in (get(b, "meta", "params", "sections") or ALL_SECTIONS)


# The guest time per swap-in, split (issue 10).  The swapper measures the
# first four (swap.swapin_parts); the rest of the guest's time per swap-in
# is the KVM exit, the uffd notification before the swapper sees the
# message and the vCPU's wake-up and re-entry.
PARTS = ("notify", "queue", "device", "install")


def swapin_split(sw, guest_ns):
    """{part: (mean_ns, p50_ns)}, swapper-side mean and the remainder for
    one run's swap stats; parts are None when the swapper does not report
    them.  Swapper side = the sum of the parts' means when all four are
    there, else swapin_latency's mean."""
    parts = get(sw, "swapin_parts")
    d = {}
    have = isinstance(parts, dict) and all(isinstance(parts.get(k), dict) for k in PARTS)
    for k in PARTS:
        h = parts.get(k) if isinstance(parts, dict) else None
        d[k] = (get(h, "mean_ns"), get(h, "p50_ns")) if isinstance(h, dict) else (None, None)
    if have and all(d[k][0] is not None for k in PARTS):
        side = sum(d[k][0] for k in PARTS)
    else:
        side = get(sw, "swapin_latency", "mean_ns")
    d["swapper_side"] = side
    d["vcpu_wake_exit"] = (guest_ns - side) if guest_ns is not None and side is not None else None
    d["have_parts"] = have
    return d


def split_agg(rs, guest_of):
    """Aggregate swapin_split() over runs; guest_of(run) = guest ns/swap-in."""
    sp = [swapin_split(r["result"]["swap"], guest_of(r)) for r in rs]
    out = {"parts_reported": bool(sp) and all(x["have_parts"] for x in sp)}
    for k in PARTS:
        out[k + "_mean_ns"] = agg(x[k][0] for x in sp)
        out[k + "_p50_ns"] = agg(x[k][1] for x in sp)
    out["swapin_latency_mean_ns"] = agg(get(r, "result", "swap", "swapin_latency", "mean_ns") for r in rs)
    out["swapper_side_mean_ns"] = agg(x["swapper_side"] for x in sp)
    out["vcpu_wake_exit_ns"] = agg(x["vcpu_wake_exit"] for x in sp)
    return out


# ---- sections ------------------------------------------------------------------
def limits(runs):
    wr = [r for r in sel(runs, section=1, what="fio_seqwrite") if ok(r)]
    rd = [r for r in sel(runs, section=1, what="fio_randread") if ok(r)]

    def lat(r, pct):
        j = r["result"]["jobs"][0]["read"]
        for k in ("lat_ns", "clat_ns"):
            p = get(j, k, "percentile")
            if p:
                return p.get(pct)
        return None

    dev = {
        "seqwrite_bw_bytes_per_s": agg(r["result"]["jobs"][0]["write"]["bw_bytes"] for r in wr),
        "randread_qd1_p50_ns": agg(lat(r, "50.000000") for r in rd),
        "randread_qd1_p99_ns": agg(lat(r, "99.000000") for r in rd),
        "randread_qd1_iops": agg(r["result"]["jobs"][0]["read"]["iops"] for r in rd),
    }

    def first_pass(r):
        m = r["result"]["metrics"]
        a, w = m.get("ns_per_access"), m.get("ns_per_access_warm")
        if a is None or w is None:
            return None
        return 2 * a - w   # passes=2, seq: both passes have the same length

    on = [r for r in sel(runs, section=1, what="uffd_on") if ok(r)]
    off = [r for r in sel(runs, section=1, what="uffd_off") if ok(r)]
    fa = [r for r in sel(runs, section=1, what="uffd_fa") if ok(r)]
    uffd = {
        "first_touch_ns_swapper": agg(first_pass(r) for r in on),
        "first_touch_ns_fault_around": agg(first_pass(r) for r in fa),
        "first_touch_ns_no_swapper": agg(first_pass(r) for r in off),
        "warm_ns_per_access": agg(r["result"]["metrics"].get("ns_per_access_warm") for r in on),
        "zero_fault_service_p50_ns": agg(get(r, "result", "swap", "fault_latency", "p50_ns") for r in on),
        "zero_fault_service_p99_ns": agg(get(r, "result", "swap", "fault_latency", "p99_ns") for r in on),
        "evictions_during_run": agg(sum(get(r, "result", "swap", "evictions", default={}).get(k, 0)
                                        for k in ("written", "clean_dropped", "zero_dropped")) for r in on),
    }
    uffd["uffd_overhead_ns"] = agg(
        (first_pass(a) - first_pass(b)) for a, b in zip(on, off)
        if first_pass(a) is not None and first_pass(b) is not None)
    # The floor (issue 10): bench_uffd_rtt, a minimal guest, one uffd fault
    # per fresh page served by one UFFDIO_COPY, no I/O.  Each run reports
    # the median of its rounds; here the median over runs.
    rtt = {}
    for m in ("spin", "block", "off"):
        rs = [r for r in sel(runs, section=1, what="rtt_" + m) if ok(r)]
        rtt[m] = rs
        uffd["rtt_%s_ns" % m] = agg(get(r, "result", "median_ns") for r in rs)
    # Every page must have gone through the handler (>= 1 fault per page
    # and round; a retried fault would count twice, a missing one is a bug).
    fpp = [ratio(get(r, "result", "faults"), get(r, "result", "pages", default=0) *
                 get(r, "result", "rounds", default=0)) for m in ("spin", "block") for r in rtt[m]]
    uffd["rtt_faults_per_page"] = agg(fpp)
    uffd["rtt_faults_complete"] = all(x is not None and x >= 1 for x in fpp) if fpp else None
    uffd["rtt_pages"] = get(rtt["spin"][0], "result", "pages") if rtt["spin"] else None
    uffd["rtt_rounds"] = get(rtt["spin"][0], "result", "rounds") if rtt["spin"] else None
    return {"device": dev, "uffd": uffd}


def floor(b):
    """floor = disk 4 KiB QD1 read p50 + spinning uffd round trip (same run);
    hvswap's guest time per swap-in (section 2, 1 vCPU) against it."""
    dev = med(b["limits"]["device"]["randread_qd1_p50_ns"])
    spin = med(b["limits"]["uffd"]["rtt_spin_ns"])
    f = dev + spin if dev is not None and spin is not None else None
    g = get(b, "fault_service", "vcpus", "1", "guest_ns_per_swapin")
    blk = med(b["limits"]["uffd"]["rtt_block_ns"])
    d = {"disk_qd1_p50_ns": dev, "rtt_spin_ns": spin, "rtt_block_ns": blk,
         "floor_ns": f, "guest_ns_per_swapin": g,
         "ratio": ratio(med(g), f), "target": 1.2,
         # On a contended host spinning loses to blocking (PLATFORM.md):
         # then the spinning floor is loose; this one uses the faster.
         "spin_faster_than_block": spin < blk if spin is not None and blk is not None else None,
         "floor_fastest_ns": dev + min(spin, blk) if None not in (dev, spin, blk) else None,
         "how": "guest time per swap-in (section 2, 1 vCPU, timed phase / from_swap) / "
                "(disk 4 KiB QD1 O_DIRECT read p50 + spinning-handler uffd round trip)"}
    d["ratio_fastest"] = ratio(med(g), d["floor_fastest_ns"])
    return d


def fault_service(runs, lim):
    out = {}
    dev_p50 = med(lim["device"]["randread_qd1_p50_ns"])
    uffd_p50 = med(lim["uffd"]["first_touch_ns_swapper"])
    ref = dev_p50 + uffd_p50 if dev_p50 is not None and uffd_p50 is not None else None
    for v in (1, 2, 4):
        rs = [r for r in sel(runs, section=2, vcpus=v) if ok(r)]

        def per(r, f):
            sw = r["result"]["swap"]
            m = r["result"]["metrics"]
            return f(sw, m)

        row = {}
        for p in ("p50_ns", "p99_ns", "p999_ns"):
            row["fault_" + p] = agg(per(r, lambda sw, m: sw["fault_latency"][p]) for r in rs)
            row["read_" + p] = agg(per(r, lambda sw, m: sw["read_latency"][p]) for r in rs)
            row["swapin_" + p] = agg(per(r, lambda sw, m: sw["swapin_latency"][p]) for r in rs)
        row["swapin_faults"] = agg(per(r, lambda sw, m: sw["faults"]["from_swap"]) for r in rs)
        row["swapin_share_of_faults"] = agg(per(r, lambda sw, m: ratio(sw["faults"]["from_swap"],
                                                                      sw["fault_latency"]["count"])) for r in rs)
        row["swapin_pages_per_s"] = agg(per(r, lambda sw, m: ratio(sw["bytes_read"] / PAGE,
                                                                   m["elapsed_ns"] / 1e9)) for r in rs)
        # Guest-observed: timed phase (no first touches after init=1) per
        # swap-in fault per vCPU; includes the uffd round trip, the read,
        # write-protect faults of first writes and the guest's own work.
        row["guest_ns_per_swapin"] = agg(per(r, lambda sw, m: ratio(m["elapsed_ns"] * v,
                                                                    sw["faults"]["from_swap"])) for r in rs)
        row["split"] = split_agg(rs, lambda r, v=v: ratio(r["result"]["metrics"]["elapsed_ns"] * v,
                                                        r["result"]["swap"]["faults"]["from_swap"]))
        out[str(v)] = row
    return {"vcpus": out, "reference_ns": ref}


def workloads(runs, meta):
    pats = meta["params"]["patterns"]
    fracs = meta["params"]["fractions"]
    out = {}
    for pat in pats:
        pd = {}
        for f in fracs:
            fd = {}
            hv = sel(runs, section=3, system="hvswap", pattern=pat, fraction=f)
            hvo = [r for r in hv if ok(r)]
            fd["hvswap"] = {
                "status": "ok" if hvo and len(hvo) == len(hv) else ("failed" if not hvo else "partial"),
                "runtime_s": agg(r["result"]["metrics"]["elapsed_ns"] / 1e9 for r in hvo),
                "wall_s": agg(r["wall_s"] for r in hvo),
                "swapins": agg(r["result"]["swap"]["faults"]["from_swap"] for r in hvo),
                "readahead_pages": agg(r["result"]["swap"]["faults"]["readahead_pages"] for r in hvo),
                "read_pages": agg(r["result"]["swap"]["bytes_read"] / PAGE for r in hvo),
                "swapouts": agg(r["result"]["swap"]["evictions"]["written"] for r in hvo),
                "clean_dropped": agg(r["result"]["swap"]["evictions"]["clean_dropped"] for r in hvo),
                "bytes_read": agg(r["result"]["swap"]["bytes_read"] for r in hvo),
                "bytes_written": agg(r["result"]["swap"]["bytes_written"] for r in hvo),
                "seq_hash0": hvo[0]["result"]["metrics"].get("seq_hash0") if hvo else None,
                # timed phase / swap-in faults (1 vCPU; init has none)
                "guest_ns_per_swapin": agg(ratio(r["result"]["metrics"]["elapsed_ns"],
                                                 r["result"]["swap"]["faults"]["from_swap"]) for r in hvo),
            }
            for sysname, key in (("kernel_process", "kernel_process"), ("kernel_kvm", "kernel_kvm")):
                rs = sel(runs, section=3, system=key, pattern=pat, fraction=f)
                good = [r for r in rs if ok(r)]
                statuses = sorted(set(r["status"] for r in rs)) or ["not-run"]
                if key == "kernel_process":
                    rt = [r["result"]["elapsed_ns"] / 1e9 for r in good]
                else:
                    rt = [get(r, "result", "metrics", "elapsed_ns", default=0) / 1e9 for r in good]
                fd[sysname] = {
                    "status": ",".join(statuses),
                    "runtime_s": agg(rt),
                    "wall_s": agg(r["wall_s"] for r in rs),
                    "swapins": agg(r["pswpin"] for r in good),
                    "swapouts": agg(r["pswpout"] for r in good),
                    "bytes_read": agg(r["pswpin"] * PAGE for r in good),
                    "bytes_written": agg(r["pswpout"] * PAGE for r in good),
                    "cg_max_usage": agg(r["cg_max_usage"] for r in rs),
                    "oom_kills": sum(r.get("cg_oom_kills", 0) for r in rs),
                }
                if key == "kernel_process":
                    fd[sysname]["seq_hash0"] = good[0]["result"]["seq_hash0"] if good else None
            b = [r for r in sel(runs, section=5, pattern=pat, fraction=f) if ok(r)]
            fd["belady"] = {
                "swapins": b[0]["result"]["swapins"] if b else None,
                "swapouts": b[0]["result"]["swapouts"] if b else None,
                "misses": b[0]["result"]["misses"] if b else None,
                "accesses": b[0]["result"]["accesses"] if b else None,
            }
            h, k = med(fd["hvswap"]["runtime_s"]), med(fd["kernel_process"]["runtime_s"])
            fd["runtime_ratio_hvswap_vs_kernel_process"] = ratio(h, k)
            # The user's alternative: the same KVM guest swapped by the kernel.
            fd["runtime_ratio_hvswap_vs_kernel_kvm"] = ratio(h, med(fd["kernel_kvm"]["runtime_s"]))
            # A kernel-KVM run that hit its timeout ran at least that long:
            # hvswap's wall time over the shortest such run bounds the
            # wall-time ratio from above (no timed phase to compare).
            kt = [r["wall_s"] for r in sel(runs, section=3, system="kernel_kvm", pattern=pat, fraction=f)
                  if r.get("status") == "timeout"]
            fd["wall_ratio_hvswap_vs_kernel_kvm_below"] = (
                ratio(med(fd["hvswap"]["wall_s"]), min(kt))
                if kt and fd["runtime_ratio_hvswap_vs_kernel_kvm"] is None else None)
            fd["runs"] = {"hvswap": len(hv), "kernel_process": len(sel(runs, section=3, system="kernel_process",
                                                                         pattern=pat, fraction=f)),
                          "kernel_kvm": len([r for r in sel(runs, section=3, system="kernel_kvm",
                                                            pattern=pat, fraction=f)
                                             if not str(r.get("status", "")).startswith("skipped")])}
            fd["swapins_ratio_hvswap_vs_belady"] = ratio(med(fd["hvswap"]["swapins"]), fd["belady"]["swapins"])
            fd["swapins_ratio_kernel_vs_belady"] = ratio(med(fd["kernel_process"]["swapins"]), fd["belady"]["swapins"])
            hs, ps = fd["hvswap"]["seq_hash0"], fd["kernel_process"].get("seq_hash0")
            fd["same_sequence"] = (hs is not None and ps is not None and int(hs) == int(ps))
            pd[str(f)] = fd
        nk = [r for r in sel(runs, section=3, system="nolimit_kvm", pattern=pat) if ok(r)]
        npr = [r for r in sel(runs, section=3, system="nolimit_process", pattern=pat) if ok(r)]
        pd["nolimit"] = {
            "kvm_runtime_s": agg(r["result"]["metrics"]["elapsed_ns"] / 1e9 for r in nk),
            "process_runtime_s": agg(r["result"]["elapsed_ns"] / 1e9 for r in npr),
        }
        out[pat] = pd
    return out


def swap_out(runs, lim):
    rs = [r for r in sel(runs, section=4, what="vm") if ok(r)]
    cap = [r for r in sel(runs, section=4, what="capacity") if ok(r)]

    def busy(sw):
        return sw["write_busy_ns"]

    d = {
        "bytes_written": agg(r["result"]["swap"]["bytes_written"] for r in rs),
        "write_ios": agg(r["result"]["swap"]["write_ios"] for r in rs),
        "write_p50_ns": agg(r["result"]["swap"]["write_latency"]["p50_ns"] for r in rs),
        "write_time_s": agg(busy(r["result"]["swap"]) / 1e9 for r in rs),
        "throughput_bytes_per_s": agg(ratio(r["result"]["swap"]["bytes_written"],
                                            busy(r["result"]["swap"]) / 1e9) for r in rs),
        "sustained_bytes_per_s": agg(ratio(r["result"]["swap"]["bytes_written"],
                                           r["result"]["elapsed_s"]) for r in rs),
    }
    d["device_bw_bytes_per_s"] = med(lim["device"]["seqwrite_bw_bytes_per_s"])
    d["capacity_bytes_per_s"] = agg(get(r, "result", "trim_bytes_per_s") for r in cap)
    d["capacity_bytes"] = agg(get(r, "result", "bytes_written") for r in cap)
    d["ratio_to_device"] = ratio(med(d["capacity_bytes_per_s"]), d["device_bw_bytes_per_s"])
    d["vm_ratio_to_device"] = ratio(med(d["throughput_bytes_per_s"]), d["device_bw_bytes_per_s"])
    return d


def stream(runs):
    """Sequential swap-in (memtouch seq rw=0 over a swapped-out working set)
    against fio sequential read (1 MiB, QD16, O_DIRECT) on the same
    directory, interleaved in the same run."""
    fio = [r for r in sel(runs, section="stream", what="fio_seqread") if ok(r)]
    hv = [r for r in sel(runs, section="stream", what="hvswap") if ok(r)]

    def el(r):
        return r["result"]["metrics"]["elapsed_ns"] / 1e9

    d = {
        "fio_seqread_bytes_per_s": agg(r["result"]["jobs"][0]["read"]["bw_bytes"] for r in fio),
        "runtime_s": agg(el(r) for r in hv),
        "bytes_read": agg(r["result"]["swap"]["bytes_read"] for r in hv),
        "read_ios": agg(get(r, "result", "swap", "read_ios") for r in hv),
        "read_p50_ns": agg(get(r, "result", "swap", "read_latency", "p50_ns") for r in hv),
        "swapin_faults": agg(r["result"]["swap"]["faults"]["from_swap"] for r in hv),
        "readahead_pages": agg(get(r, "result", "swap", "faults", "readahead_pages") for r in hv),
        # swap-in throughput: bytes the swapper read / the guest's timed phase
        "swapin_bytes_per_s": agg(ratio(r["result"]["swap"]["bytes_read"], el(r)) for r in hv),
        # what the guest got: bytes it scanned / its timed phase
        "scan_bytes_per_s": agg(ratio(r["result"]["metrics"]["accesses"] * PAGE, el(r)) for r in hv),
        "pages_per_swapin_fault": agg(ratio(r["result"]["swap"]["bytes_read"] / PAGE,
                                            r["result"]["swap"]["faults"]["from_swap"]) for r in hv),
        "guest_ns_per_swapin": agg(ratio(r["result"]["metrics"]["elapsed_ns"],
                                         r["result"]["swap"]["faults"]["from_swap"]) for r in hv),
    }
    d["split"] = split_agg(hv, lambda r: ratio(r["result"]["metrics"]["elapsed_ns"],
                                               r["result"]["swap"]["faults"]["from_swap"]))
    d["ratio"] = ratio(med(d["swapin_bytes_per_s"]), med(d["fio_seqread_bytes_per_s"]))
    d["scan_ratio"] = ratio(med(d["scan_bytes_per_s"]), med(d["fio_seqread_bytes_per_s"]))
    d["target"] = 0.7
    return d


def overhead(runs, meta):
    on = [r for r in sel(runs, section=6, swapper=True) if ok(r)]
    off = [r for r in sel(runs, section=6, swapper=False) if ok(r)]
    d = {
        "runtime_on_s": agg(r["result"]["metrics"]["elapsed_ns"] / 1e9 for r in on),
        "runtime_off_s": agg(r["result"]["metrics"]["elapsed_ns"] / 1e9 for r in off),
        "wall_on_s": agg(r["wall_s"] for r in on),
        "wall_off_s": agg(r["wall_s"] for r in off),
        "evictions_on": agg(r["result"]["swap"]["evictions"]["written"] for r in on),
        "passes": get(meta, "params", "ov_passes"),
    }
    d["runtime_ratio"] = ratio(med(d["runtime_on_s"]), med(d["runtime_off_s"]))
    d["wall_ratio"] = ratio(med(d["wall_on_s"]), med(d["wall_off_s"]))
    # Runs alternate on, off: the ratio of each pair (drift hits both alike).
    on_by = {get(r, "meta", "rep"): r for r in on}
    d["pair_ratio"] = agg(ratio(on_by[get(r, "meta", "rep")]["result"]["metrics"]["elapsed_ns"],
                                r["result"]["metrics"]["elapsed_ns"])
                          for r in off if get(r, "meta", "rep") in on_by)

    def spread(a):   # (max - min) / median
        return ratio(a["max"] - a["min"], a["median"]) if a["n"] else None

    d["spread_on"] = spread(d["runtime_on_s"])
    d["spread_off"] = spread(d["runtime_off_s"])
    mins = [x["min"] for x in (d["runtime_on_s"], d["runtime_off_s"]) if x["n"]]
    d["timed_phase_at_least_2s"] = bool(mins) and min(mins) >= 2.0
    return d


def metadata(runs):
    def enc(r):
        return bool(get(r, "meta", "encrypt"))

    rs = [r for r in runs if r.get("kind") == "hvswap" and ok(r) and get(r, "result", "swap", "limit_pages")]
    return {"bytes_per_page": agg(get(r, "result", "swap", "metadata_bytes_per_page") for r in rs if not enc(r)),
            "bytes_per_page_encrypted": agg(get(r, "result", "swap", "metadata_bytes_per_page")
                                            for r in rs if enc(r))}


def seal(runs):
    """What --swap-encrypt (AES-256-GCM) costs against the default crc32c
    seal: swap-in (1 vCPU, uniform) and write-out capacity (trim of dirty
    memory), interleaved pairs in the same run."""
    d = {}
    for e, name in ((0, "crc32c"), (1, "aes256gcm")):
        sw = [r for r in sel(runs, section="seal", what="swapin", encrypt=e) if ok(r)]
        cap = [r for r in sel(runs, section="seal", what="capacity", encrypt=e) if ok(r)]
        d[name] = {
            "swapin_p50_ns": agg(get(r, "result", "swap", "swapin_latency", "p50_ns") for r in sw),
            "read_p50_ns": agg(get(r, "result", "swap", "read_latency", "p50_ns") for r in sw),
            "guest_ns_per_swapin": agg(ratio(get(r, "result", "metrics", "elapsed_ns"),
                                             get(r, "result", "swap", "faults", "from_swap")) for r in sw),
            "runtime_s": agg(get(r, "result", "metrics", "elapsed_ns", default=0) / 1e9 for r in sw),
            "capacity_bytes_per_s": agg(get(r, "result", "trim_bytes_per_s") for r in cap),
            "metadata_bytes_per_page": agg(get(r, "result", "swap", "metadata_bytes_per_page") for r in sw),
        }
    c, a = d["crc32c"], d["aes256gcm"]
    d["swapin_added_ns"] = (med(a["guest_ns_per_swapin"]) - med(c["guest_ns_per_swapin"])
                            if med(a["guest_ns_per_swapin"]) is not None and
                            med(c["guest_ns_per_swapin"]) is not None else None)
    d["guest_per_swapin_ratio"] = ratio(med(a["guest_ns_per_swapin"]), med(c["guest_ns_per_swapin"]))
    d["capacity_ratio"] = ratio(med(a["capacity_bytes_per_s"]), med(c["capacity_bytes_per_s"]))
    return d


def targets(b):
    """Issue 4's targets and issue 10's, for the sections that ran.  Each:
    {"id","issue","goal","measured","limit","unit","how","met"}."""
    t = []
    fr = [str(x) for x in b["meta"]["params"]["fractions"]]
    f50 = "50" if "50" in fr else fr[len(fr) // 2]
    if ran(b, 1) and ran(b, 2):
        fs = b["fault_service"]["vcpus"]["1"]
        ref = b["fault_service"]["reference_ns"]
        m, how = med(fs["swapin_p50_ns"]), "swap-in fault p50 (swapper histogram)"
        lim = 1.1 * ref if ref is not None else None
        t.append({"id": "swapin_latency", "issue": 4,
                  "goal": "swap-in fault p50 <= 1.1 x (device QD1 p50 + bare uffd)",
                  "measured": m, "limit": lim, "unit": "ns", "how": how,
                  "met": m is not None and lim is not None and m <= lim})
        fl = b["floor"]
        t.append({"id": "floor", "issue": 10,
                  "goal": "guest time per swap-in <= 1.2 x floor (disk QD1 p50 + spinning uffd round trip)",
                  "measured": fl["ratio"], "limit": 1.2, "unit": "ratio",
                  "how": f"{fmt(fl['guest_ns_per_swapin'], 'us')} / {fmt(fl['floor_ns'], 'us')} (1 vCPU)",
                  "met": fl["ratio"] is not None and fl["ratio"] <= 1.2})
    if ran(b, 3):
        for pat, pd in b["workloads"].items():
            r = pd[f50]["runtime_ratio_hvswap_vs_kernel_process"]
            t.append({"id": "runtime_" + pat, "issue": 4,
                      "goal": f"{pat}: runtime at {f50}% resident <= 0.75 x kernel swap (process)",
                      "measured": r, "limit": 0.75, "unit": "ratio", "how": "median hvswap / median kernel",
                      "met": r is not None and r <= 0.75})
        for pat, pd in b["workloads"].items():
            if pat == "seq":
                continue
            r = pd[f50]["runtime_ratio_hvswap_vs_kernel_kvm"]
            t.append({"id": "kvm_" + pat, "issue": 10,
                      "goal": f"{pat}: runtime at {f50}% resident <= 1.3 x kernel-swapped KVM guest",
                      "measured": r, "limit": 1.3, "unit": "ratio",
                      "how": "median hvswap / median kernel KVM" + (
                          "" if r is not None else f" (kernel KVM: {pd[f50]['kernel_kvm']['status']})"),
                      "met": r is not None and r <= 1.3})
        if "seq" in b["workloads"]:
            rs = [b["workloads"]["seq"][f]["runtime_ratio_hvswap_vs_kernel_process"] for f in fr]
            worst = None if any(x is None for x in rs) else max(rs)
            t.append({"id": "seq_process", "issue": 10,
                      "goal": "seq: runtime <= 0.5 x kernel swap (process) at every fraction",
                      "measured": worst, "limit": 0.5, "unit": "ratio", "how": "worst hvswap / kernel over fractions",
                      "met": worst is not None and worst <= 0.5})
    if ran(b, 4):
        so = b["swap_out"]
        t.append({"id": "swap_out", "issue": 4, "goal": "swap-out throughput >= 90% of device sequential write",
                  "measured": so["ratio_to_device"], "limit": 0.9, "unit": "ratio",
                  "how": "write-out capacity: trim of dirty memory, bytes / trim time (bench_swapout)",
                  "met": so["ratio_to_device"] is not None and so["ratio_to_device"] >= 0.9})
    if ran(b, "stream"):
        st = b["stream"]
        t.append({"id": "stream", "issue": 10, "goal": "streaming swap-in >= 0.7 x fio sequential read (1 MiB, QD16)",
                  "measured": st["ratio"], "limit": 0.7, "unit": "ratio",
                  "how": f"{fmt(st['swapin_bytes_per_s'], 'MB/s')} / {fmt(st['fio_seqread_bytes_per_s'], 'MB/s')}",
                  "met": st["ratio"] is not None and st["ratio"] >= 0.7})
    if ran(b, 6):
        o = b["overhead"]["runtime_ratio"]
        t.append({"id": "overhead", "issue": 4, "goal": "overhead fully resident <= 1%", "measured": o,
                  "limit": 1.01, "unit": "ratio",
                  "how": "timed phase (>= 2 s), median swapper on / median off",
                  "met": o is not None and o <= 1.01})
    md = med(b["metadata"]["bytes_per_page"])
    if md is not None:
        t.append({"id": "metadata", "issue": 4, "goal": "metadata <= 12 bytes per 4 KiB guest page", "measured": md,
                  "limit": 12, "unit": "bytes", "how": "--stats metadata_bytes_per_page",
                  "met": md <= 12})
    if ran(b, 3):
        for pat, pd in b["workloads"].items():
            worst, met = None, True
            for f in fr:
                fd = pd[f]
                hs, bs, ks = med(fd["hvswap"]["swapins"]), fd["belady"]["swapins"], med(fd["kernel_process"]["swapins"])
                if hs is None or bs is None:
                    met = False
                    continue
                cond = hs <= 1.15 * bs and (ks is None or hs < ks or (hs == 0 and ks == 0))
                met = met and cond
                # MIN = 0 (everything needed fits): only hvswap == 0 meets it.
                rr = ratio(hs, bs) if bs else (1.0 if hs == 0 else None)
                if rr is not None and (worst is None or rr > worst):
                    worst = rr
            t.append({"id": "policy_" + pat, "issue": 4,
                      "goal": f"{pat}: swap-ins <= 1.15 x Belady MIN and < kernel, every fraction",
                      "measured": worst, "limit": 1.15, "unit": "ratio", "how": "worst hvswap/MIN over fractions",
                      "met": met})
    return t


# ---- markdown ---------------------------------------------------------------------
def fmt(x, unit=""):
    if isinstance(x, dict):
        m = x.get("median")
        if m is None:
            return "n/a"
        s = fmt(m, unit)
        if x.get("n", 0) > 1 and x["min"] != x["max"]:
            s += f" ({fmt(x['min'], unit)}–{fmt(x['max'], unit)})"
        return s
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if unit == "us":
        return f"{x / 1000:.1f} µs"
    if unit == "MB/s":
        return f"{x / 1e6:.0f} MB/s"
    if unit == "s":
        return f"{x:.2f} s" if x >= 1 else f"{x * 1000:.1f} ms"
    if unit == "MiB":
        return f"{x / 2**20:.0f} MiB"
    if unit == "x":
        return f"{x:.2f}×"
    if unit == "pct":
        return f"{x * 100:.1f} %"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:.2f}"
    return f"{int(x)}"


def kk_cell(kk, runs):
    """The kernel-KVM runtime cell: the runtime when some run completed,
    with the failures named and "1 run" when hvswap ran more often; else
    the status."""
    if kk["runtime_s"].get("n", 0):
        bad = [x for x in kk["status"].split(",") if x != "ok"]
        notes = ([f"{', '.join(bad)} too"] if bad else []) + (
            [f"{runs.get('kernel_kvm')} run{'s' if runs.get('kernel_kvm') != 1 else ''} vs "
             f"{runs.get('hvswap')} of hvswap"]
            if runs.get("kernel_kvm", 0) < runs.get("hvswap", 0) else [])
        return fmt(kk["runtime_s"], "s") + (f" ({'; '.join(notes)})" if notes else "")
    return kk["status"]


def md_summary(b, A):
    p = b["meta"]["params"]
    A("## Summary\n")
    rows = []
    if ran(b, 1) and ran(b, 2):
        fl = b["floor"]
        rows.append(("guest time per swap-in / floor (1 vCPU; target <= 1.2)",
                     f"{fmt(fl['ratio'], 'x')}: {fmt(fl['guest_ns_per_swapin'], 'us')} / "
                     f"({fmt(fl['disk_qd1_p50_ns'], 'us')} disk + {fmt(fl['rtt_spin_ns'], 'us')} spinning uffd)"))
        if fl["spin_faster_than_block"] is False:
            rows.append(("the same against disk + blocking uffd (spinning lost: contended host)",
                         f"{fmt(fl['ratio_fastest'], 'x')}: blocking round trip {fmt(fl['rtt_block_ns'], 'us')}"))
    if ran(b, "stream"):
        st = b["stream"]
        rows.append(("streaming swap-in / fio sequential read (target >= 0.7)",
                     f"{fmt(st['ratio'], 'x')}: {fmt(st['swapin_bytes_per_s'], 'MB/s')} / "
                     f"{fmt(st['fio_seqread_bytes_per_s'], 'MB/s')}"))
    if ran(b, 6):
        o = b["overhead"]
        rows.append(("overhead fully resident, swapper on / off (target <= 1.01)",
                     f"{fmt(o['runtime_ratio'], 'x')} over a {fmt(o['runtime_off_s'], 's')} timed phase"))
    if rows:
        A("| figure | value |")
        A("|---|---|")
        for k, v in rows:
            A(f"| {k} | {v} |")
        A("")
    if ran(b, 3):
        A("hvswap against the two things a user would do instead: the same KVM guest swapped by the kernel "
          "under a memcg limit (kernel KVM), and the same access sequence in a plain host process (kernel "
          "process). Runtime ratios (hvswap / other) of the timed phase; n = runs of hvswap / kernel KVM / "
          "kernel process.\n")
        A("| pattern | resident | n | hvswap / kernel KVM | hvswap / kernel process |")
        A("|---|---|---|---|---|")
        for pat, pd in b["workloads"].items():
            for f in [str(x) for x in p["fractions"]]:
                fd = pd[f]
                n = fd.get("runs", {})
                kr = fd["runtime_ratio_hvswap_vs_kernel_kvm"]
                kb = fd.get("wall_ratio_hvswap_vs_kernel_kvm_below")
                kc = fmt(kr, 'x') if kr is not None else fd['kernel_kvm']['status'] + (
                    f" (wall time < {fmt(kb, 'x')})" if kb is not None else "")
                A(f"| {pat} | {f}% | {n.get('hvswap', '?')}/{n.get('kernel_kvm', '?')}/{n.get('kernel_process', '?')} | "
                  f"{kc} | "
                  f"{fmt(fd['runtime_ratio_hvswap_vs_kernel_process'], 'x')} |")
        A("")


def md_split(A, rows):
    """rows: [(label, guest_ns_per_swapin agg, split dict)]"""
    A("| run | guest time per swap-in | notify+wake | queue | device | install | swapper side (mean) | "
      "vCPU wake + KVM exit (rest) |")
    A("|---|---|---|---|---|---|---|---|")
    for label, g, sp in rows:
        parts = " | ".join(fmt(sp[k + "_mean_ns"], "us") for k in PARTS)
        A(f"| {label} | {fmt(g, 'us')} | {parts} | {fmt(sp['swapper_side_mean_ns'], 'us')} | "
          f"{fmt(sp['vcpu_wake_exit_ns'], 'us')} |")
    A("\nParts are means from the swapper's `swapin_parts` histograms (n/a: this swapper does not report "
      "them). Swapper side = the sum of the four parts' means, or `swapin_latency`'s mean when the parts "
      "are missing; the rest (guest time per swap-in minus swapper side) is the KVM exit, the uffd "
      "notification up to the swapper's read and the vCPU's wake-up and re-entry, plus the guest's own "
      "work.\n")


def markdown(b):
    m = b["meta"]
    L = []
    A = L.append
    A(f"# hvswap benchmark — {m['date']}\n")
    A(f"`{m['command']}` on {m['host']}: {m['cpus']} CPUs ({m['cpu_model']}), "
      f"{m['mem_bytes'] / 2**30:.0f} GiB, kernel {m['kernel']}, KVM module {m['kvm_module'] or '?'}, "
      f"swap on {m['swap_fs']} ({m['swap_dir']}); {m['hvswap_version']} ({m['git_rev']}); "
      f"quick={m['quick']}; took {m['duration_s']} s; load average {m.get('load_start', '?')} at the start.\n")
    p = m["params"]
    A(f"Sections run: {' '.join(p.get('sections', ALL_SECTIONS))}. "
      f"Parameters: repeats {p['repeats']} (section 3: {p['wl_repeats']}, kernel KVM {p.get('kvm_repeats', 1)}), "
      f"working set {p['ws']}, "
      f"resident {p['fractions']} %, {p['passes']} timed pass(es) after init, fault-service ws {p['fs_ws']}, "
      f"uffd/overhead ws {p['uffd_ws']}, swap-out ws {p['so_ws']}, memcg slack {p['cg_slack']}. "
      "Values: median (min–max).\n")
    md_summary(b, A)
    A("## Targets\n")
    A("| issue | target | measured | limit | met |")
    A("|---|---|---|---|---|")
    for t in b["targets"]:
        u = {"ns": "us", "ratio": "x"}.get(t["unit"], "")
        A(f"| {t.get('issue', '')} | {t['goal']} | {fmt(t['measured'], u)} ({t['how']}) | {fmt(t['limit'], u)} | "
          f"{'met' if t['met'] else '**not met**'} |")
    if ran(b, 1):
        d, u = b["limits"]["device"], b["limits"]["uffd"]
        A("\n## 1. Limits\n")
        A("| quantity | value |")
        A("|---|---|")
        A(f"| device O_DIRECT 4 KiB random read QD1 p50 | {fmt(d['randread_qd1_p50_ns'], 'us')} |")
        A(f"| device O_DIRECT 4 KiB random read QD1 p99 | {fmt(d['randread_qd1_p99_ns'], 'us')} |")
        A(f"| device sequential write (1 MiB, QD16) | {fmt(d['seqwrite_bw_bytes_per_s'], 'MB/s')} |")
        A(f"| guest first touch, swapper on (bare uffd round trip, `--fault-around 0`) | {fmt(u['first_touch_ns_swapper'], 'us')} |")
        A(f"| guest first touch, swapper on (default `--fault-around 16`) | {fmt(u['first_touch_ns_fault_around'], 'us')} |")
        A(f"| guest first touch, no swapper (KVM + host fault) | {fmt(u['first_touch_ns_no_swapper'], 'us')} |")
        A(f"| swapper zero-fault service time p50 / p99 | {fmt(u['zero_fault_service_p50_ns'], 'us')} / "
          f"{fmt(u['zero_fault_service_p99_ns'], 'us')} |")
        A(f"| warm access (resident) | {fmt(u['warm_ns_per_access'])} ns |")
        A(f"| uffd round trip, no I/O, **spinning** handler (`bench_uffd_rtt`) | {fmt(u['rtt_spin_ns'], 'us')} |")
        A(f"| uffd round trip, no I/O, blocking handler (poll + read) | {fmt(u['rtt_block_ns'], 'us')} |")
        A(f"| same guest without uffd (KVM + host first-touch fault) | {fmt(u['rtt_off_ns'], 'us')} |")
        fl = b["floor"]
        A(f"| **floor** = disk QD1 p50 + spinning round trip | {fmt(fl['floor_ns'], 'us')} |")
        if fl["spin_faster_than_block"] is False:
            A(f"| floor with the faster (blocking) handler: the host was contended, spinning lost | "
              f"{fmt(fl['floor_fastest_ns'], 'us')} |")
        A(f"\nThe round trips: a minimal CPL3 guest touches {u.get('rtt_pages')} fresh uffd-registered pages "
          f"once each, one 4 KiB UFFDIO_COPY per fault (no fault-around); median of {u.get('rtt_rounds')} "
          "rounds per run, median (min–max) over runs. uffd faults per page and round: "
          f"{fmt(u.get('rtt_faults_per_page'))}.\n")
    if ran(b, 2):
        fsv = b["fault_service"]
        fl = b.get("floor", {})
        A("\n## 2. Fault service (uniform, ws = 4 × limit)\n")
        A(f"Reference: device p50 + bare uffd = {fmt(fsv['reference_ns'], 'us')}; floor (device p50 + spinning "
          f"uffd) = {fmt(fl.get('floor_ns'), 'us')}. Swap-in latency from the swapper's swap-in histogram.\n")
        A("| vCPUs | swap-ins/s | guest time per swap-in | / floor | fault p50 | fault p99 | fault p999 | "
          "read I/O p50 | read I/O p99 | swap-in share of faults |")
        A("|---|---|---|---|---|---|---|---|---|---|")
        for v, r in fsv["vcpus"].items():
            A(f"| {v} | {fmt(r['swapin_pages_per_s'])} | {fmt(r['guest_ns_per_swapin'], 'us')} | "
              f"{fmt(ratio(med(r['guest_ns_per_swapin']), fl.get('floor_ns')), 'x')} | "
              f"{fmt(r['fault_p50_ns'], 'us')} | {fmt(r['fault_p99_ns'], 'us')} | {fmt(r['fault_p999_ns'], 'us')} | "
              f"{fmt(r['read_p50_ns'], 'us')} | {fmt(r['read_p99_ns'], 'us')} | {fmt(r['swapin_share_of_faults'])} |")
        A("\n### Guest time per swap-in, by part\n")
        md_split(A, [(f"{v} vCPU{'s' if v != '1' else ''}", r["guest_ns_per_swapin"], r["split"])
                     for v, r in fsv["vcpus"].items()])
    if ran(b, 3):
        A("\n## 3. Workloads × resident fraction (runtime of the timed phase)\n")
        A("kernel process = the same access sequence replayed by a host process under a memcg limit "
          "(same `seq_hash0`); kernel KVM = the same KVM guest (hvswap without `--mem-limit`) inside the same "
          "memcg, swapped by the kernel: what a user would run instead.\n")
        kr = p.get("kvm_repeats", 1)
        A(f"Each cell: median (min–max) over n runs; n = hvswap / kernel KVM / kernel process runs. Kernel KVM "
          f"ran {'once' if kr == 1 else f'{kr} times'} per cell at {p.get('rep_fractions')} % "
          f"(once elsewhere) while hvswap ran {p['wl_repeats']} times at those fractions (`--kvm-repeats`).\n")
        A("| pattern | resident | n | hvswap | kernel KVM | kernel process | hvswap / kernel KVM | "
          "hvswap / kernel process | no limit (KVM / process) |")
        A("|---|---|---|---|---|---|---|---|---|")
        for pat, pd in b["workloads"].items():
            nl = pd["nolimit"]
            for f in [str(x) for x in p["fractions"]]:
                fd = pd[f]
                n = fd.get("runs", {})
                nn = f"{n.get('hvswap', '?')}/{n.get('kernel_kvm', '?')}/{n.get('kernel_process', '?')}"
                A(f"| {pat} | {f}% | {nn} | {fmt(fd['hvswap']['runtime_s'], 's')} | {kk_cell(fd['kernel_kvm'], n)} | "
                  f"{fmt(fd['kernel_process']['runtime_s'], 's')} | "
                  f"{fmt(fd['runtime_ratio_hvswap_vs_kernel_kvm'], 'x')} | "
                  f"{fmt(fd['runtime_ratio_hvswap_vs_kernel_process'], 'x')} | "
                  f"{fmt(nl['kvm_runtime_s'], 's')} / {fmt(nl['process_runtime_s'], 's')} |")
        A("\n### Swap I/O and policy quality (sections 3 and 5)\n")
        A("Swap-ins: hvswap = swap-in faults (`from_swap`), with read I/O pages (incl. readahead) after the "
          "slash; kernel = `pswpin` (pages read, incl. readahead). Belady MIN = optimal offline swap-ins "
          "for the same sequence and limit (misses on pages holding data).\n")
        A("Guest time per swap-in = hvswap's timed phase / its swap-in faults, and that / the floor "
          f"({fmt(get(b, 'floor', 'floor_ns'), 'us')}, section 1; n/a when section 1 did not run).\n")
        A("| pattern | resident | Belady MIN | hvswap in (read pages) | kernel process in | kernel KVM in | "
          "hvswap out | kernel process out | hvswap / MIN | hvswap MiB r/w | kernel MiB r/w | "
          "guest time per swap-in (/ floor) |")
        A("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for pat, pd in b["workloads"].items():
            for f in [str(x) for x in p["fractions"]]:
                fd = pd[f]
                h, k, kk = fd["hvswap"], fd["kernel_process"], fd["kernel_kvm"]
                A(f"| {pat} | {f}% | {fmt(fd['belady']['swapins'])} | {fmt(h['swapins'])} ({fmt(h['read_pages'])}) | "
                  f"{fmt(k['swapins'])} | {fmt(kk['swapins'])} | {fmt(h['swapouts'])} | {fmt(k['swapouts'])} | "
                  f"{fmt(fd['swapins_ratio_hvswap_vs_belady'], 'x')} | "
                  f"{fmt(med(h['bytes_read']), 'MiB')} / {fmt(med(h['bytes_written']), 'MiB')} | "
                  f"{fmt(med(k['bytes_read']), 'MiB')} / {fmt(med(k['bytes_written']), 'MiB')} | "
                  f"{fmt(h['guest_ns_per_swapin'], 'us')} "
                  f"({fmt(ratio(med(h['guest_ns_per_swapin']), get(b, 'floor', 'floor_ns')), 'x')}) |")
    if ran(b, 4):
        so = b["swap_out"]
        A("\n## 4. Swap-out throughput (seq rw=1, ws = 4 × limit)\n")
        A("| bytes written | write I/Os | write p50 | throughput while writing | sustained (whole run) | device | ratio |")
        A("|---|---|---|---|---|---|---|")
        A(f"| {fmt(med(so['bytes_written']), 'MiB')} | {fmt(so['write_ios'])} | {fmt(so['write_p50_ns'], 'us')} | "
          f"{fmt(so['throughput_bytes_per_s'], 'MB/s')} | {fmt(so['sustained_bytes_per_s'], 'MB/s')} | "
          f"{fmt(so['device_bw_bytes_per_s'], 'MB/s')} | {fmt(so['ratio_to_device'], 'x')} |")
        A("\nTime spent writing = write_busy_ns. In the VM, write-out runs only as fast as the guest "
          "dirties memory, so this is a lower bound of what the swapper can do.\n")
        A("**Write-out capacity** (`bench_swapout`: a swapper without a limit over dirty anonymous memory, "
          "host threads as the guest, one timed `swapper_trim()`; no VM, so KVM's shadow-page invalidation "
          "is not included):\n")
        A("| bytes written | throughput (bytes / trim time) | device | ratio |")
        A("|---|---|---|---|")
        A(f"| {fmt(med(so['capacity_bytes']), 'MiB')} | {fmt(so['capacity_bytes_per_s'], 'MB/s')} | "
          f"{fmt(so['device_bw_bytes_per_s'], 'MB/s')} | {fmt(so['ratio_to_device'], 'x')} |\n")
    if ran(b, "stream"):
        st = b["stream"]
        A(f"## Streaming swap-in (memtouch seq rw=0 init=1 ws={p.get('stream_ws')} "
          f"passes={p.get('stream_passes')}, limit {p.get('stream_limit')}) vs fio sequential read\n")
        A("| swap-in throughput | guest scan rate | fio seq read (1 MiB, QD16) | swap-in / fio | timed phase | "
          "bytes read | read I/Os | read p50 | pages per swap-in fault | guest time per swap-in |")
        A("|---|---|---|---|---|---|---|---|---|---|")
        A(f"| {fmt(st['swapin_bytes_per_s'], 'MB/s')} | {fmt(st['scan_bytes_per_s'], 'MB/s')} | "
          f"{fmt(st['fio_seqread_bytes_per_s'], 'MB/s')} | {fmt(st['ratio'], 'x')} | {fmt(st['runtime_s'], 's')} | "
          f"{fmt(med(st['bytes_read']), 'MiB')} | {fmt(st['read_ios'])} | {fmt(st['read_p50_ns'], 'us')} | "
          f"{fmt(st['pages_per_swapin_fault'])} | {fmt(st['guest_ns_per_swapin'], 'us')} |")
        A("\nSwap-in throughput = the swapper's `bytes_read` / the guest's timed phase (init is untimed and "
          "reads nothing: it first-touches every page); guest scan rate = bytes the guest read / timed phase. "
          "fio reads a file of the same size in the same directory, O_DIRECT, libaio, interleaved with the "
          "hvswap runs.\n")
        md_split(A, [("streaming", st["guest_ns_per_swapin"], st["split"])])
    if ran(b, "seal"):
        se, mp = b["seal"], b["metadata"]
        A(f"## Seal cost: crc32c (default) vs `--swap-encrypt` (AES-256-GCM)\n")
        A(f"Swap-in: memtouch uniform ws={p.get('fs_ws')} init=1, limit 1/4, 1 vCPU; capacity: trim of "
          f"{p.get('cap_ws', '?')} of dirty memory (bench_swapout). Interleaved pairs in one run.\n")
        A("| seal | guest time per swap-in | swap-in p50 | read p50 | timed phase | write-out capacity | "
          "metadata per guest page |")
        A("|---|---|---|---|---|---|---|")
        for name in ("crc32c", "aes256gcm"):
            x = se[name]
            A(f"| {name} | {fmt(x['guest_ns_per_swapin'], 'us')} | {fmt(x['swapin_p50_ns'], 'us')} | "
              f"{fmt(x['read_p50_ns'], 'us')} | {fmt(x['runtime_s'], 's')} | "
              f"{fmt(x['capacity_bytes_per_s'], 'MB/s')} | {fmt(x['metadata_bytes_per_page'])} |")
        A(f"\nEncryption adds {fmt(se['swapin_added_ns'], 'us')} per swap-in "
          f"(ratio {fmt(se['guest_per_swapin_ratio'], 'x')}); write-out capacity ratio "
          f"{fmt(se['capacity_ratio'], 'x')}.\n")
    if ran(b, 6):
        o = b["overhead"]
        A(f"## 6. Overhead fully resident (zipf, init=1, {o.get('passes')} passes, limit 2 × RAM)\n")
        A("| timed phase on | off | ratio (medians) | ratio per on/off pair | spread on / off | whole run on | off | ratio |")
        A("|---|---|---|---|---|---|---|---|")
        A(f"| {fmt(o['runtime_on_s'], 's')} | {fmt(o['runtime_off_s'], 's')} | {fmt(o['runtime_ratio'], 'x')} | "
          f"{fmt(o['pair_ratio'], 'x')} | {fmt(o['spread_on'], 'pct')} / {fmt(o['spread_off'], 'pct')} | "
          f"{fmt(o['wall_on_s'], 's')} | {fmt(o['wall_off_s'], 's')} | {fmt(o['wall_ratio'], 'x')} |")
        A("\nSpread = (max − min) / median of the timed phase over the runs. Passes are calibrated so the "
          "timed phase lasts about `--ov-time` seconds (at least 2 s in a full run"
          + ("" if o["timed_phase_at_least_2s"] else "; **this run's was shorter**") + ").\n")
    if med(b["metadata"]["bytes_per_page"]) is not None:
        A(f"\n## 7. Metadata\n\n{fmt(b['metadata']['bytes_per_page'])} bytes per 4 KiB guest page "
          "(default swap size 2 × guest RAM).\n")
    if b.get("ztier"):
        A(report_ztier.markdown(b["ztier"], p))
    if b.get("plots"):
        A("## Plots\n")
        for pth in b["plots"]:
            A(f"![{pth}]({pth})\n")
    return "\n".join(L) + "\n"


# ---- plots -------------------------------------------------------------------------
def plots(b, outdir):
    outdir = os.path.abspath(outdir)   # gnuplot runs with cwd = outdir
    pats = list(b["workloads"].keys())
    fr = [str(x) for x in b["meta"]["params"]["fractions"]]
    made = []

    def num(x):
        x = med(x)
        return "NaN" if x is None else repr(float(x))

    for pat in pats:
        with open(os.path.join(outdir, f"plot-{pat}.dat"), "w") as fh:
            fh.write("# frac hvswap kproc kkvm hv_in kproc_in belady hv_read\n")
            for f in fr:
                fd = b["workloads"][pat][f]
                kk = fd["kernel_kvm"]["runtime_s"] if fd["kernel_kvm"]["status"] == "ok" else None
                fh.write(" ".join([f, num(fd["hvswap"]["runtime_s"]), num(fd["kernel_process"]["runtime_s"]),
                                   num(kk), num(fd["hvswap"]["swapins"]),
                                   num(fd["kernel_process"]["swapins"]), num(fd["belady"]["swapins"]),
                                   num(fd["hvswap"]["read_pages"])]) + "\n")
    with open(os.path.join(outdir, "plot-fault.dat"), "w") as fh:
        for v, r in b["fault_service"]["vcpus"].items():
            fh.write(" ".join([v, num(r["fault_p50_ns"]), num(r["fault_p99_ns"]), num(r["fault_p999_ns"]),
                               num(r["guest_ns_per_swapin"]), num(r["swapin_pages_per_s"]),
                               num(r["read_p50_ns"])]) + "\n")
    gp = ["set terminal pngcairo size 1100,800 font 'sans,10'", "set datafile missing 'NaN'",
          "set key top right", "set grid", "set xtics (" + ",".join(f"'{f}%%' {f}" for f in fr) + ")"]
    g1 = gp + ["set output 'bench-runtime.png'", "set multiplot layout 2,2 title "
               "'Runtime of the timed phase vs resident fraction (log scale)'", "set logscale y",
               "set ylabel 'seconds'", "set xlabel 'resident fraction of the working set'"]
    for pat in pats:
        g1 += [f"set title '{pat}'",
               f"plot 'plot-{pat}.dat' u 1:2 w lp lw 2 t 'hvswap', '' u 1:3 w lp lw 2 t 'kernel swap (process)', "
               f"'' u 1:4 w lp lw 2 t 'kernel swap (KVM guest)'"]
    g1 += ["unset multiplot"]
    g2 = gp + ["set output 'bench-swapins.png'", "set multiplot layout 2,2 title "
               "'Swap-ins vs resident fraction: hvswap, kernel, Belady MIN'", "set ylabel 'pages'",
               "set xlabel 'resident fraction of the working set'", "set yrange [0:*]"]
    for pat in pats:
        g2 += [f"set title '{pat}'",
               f"plot 'plot-{pat}.dat' u 1:5 w lp lw 2 t 'hvswap faults', '' u 1:8 w lp dt 2 t 'hvswap read pages', "
               f"'' u 1:6 w lp lw 2 t 'kernel pswpin (process)', '' u 1:7 w lp lw 2 t 'Belady MIN'"]
    g2 += ["unset multiplot"]
    ref = b["fault_service"]["reference_ns"]
    g3 = ["set terminal pngcairo size 1100,450 font 'sans,10'", "set datafile missing 'NaN'", "set grid",
          "set output 'bench-fault.png'", "set multiplot layout 1,2",
          "set title 'hvswap fault service (uniform, ws = 4 x limit)'", "set xlabel 'vCPUs'",
          "set ylabel 'microseconds'", "set logscale y", "set xtics (1,2,4)", "set key top left",
          (f"plot 'plot-fault.dat' u 1:($2/1000) w lp lw 2 t 'fault p50', '' u 1:($3/1000) w lp lw 2 t 'fault p99', "
           f"'' u 1:($4/1000) w lp lw 2 t 'fault p999', '' u 1:($5/1000) w lp lw 2 t 'guest time per swap-in', "
           f"'' u 1:($7/1000) w lp t 'read I/O p50'"
           + (f", {ref / 1000:.3f} w l dt 2 lw 2 t 'device p50 + bare uffd'" if ref else "")),
          "unset logscale y", "set title 'swap-in throughput'", "set ylabel 'pages/s'", "set yrange [0:*]",
          "plot 'plot-fault.dat' u 1:6 w lp lw 2 t 'swap-in pages/s'", "unset multiplot"]
    todo = ([("runtime", g1), ("swapins", g2)] if ran(b, 3) else []) + ([("fault", g3)] if ran(b, 2) else [])
    for name, g in todo:
        path = os.path.join(outdir, f"plot-{name}.gp")
        with open(path, "w") as fh:
            fh.write("\n".join(g) + "\n")
        r = subprocess.run(["gnuplot", path], cwd=outdir, capture_output=True, text=True)
        if r.returncode == 0 and os.path.exists(os.path.join(outdir, f"bench-{name}.png")):
            made.append(f"bench-{name}.png")
        else:
            sys.stderr.write(f"report.py: gnuplot {name} failed: {r.stderr[-500:]}\n")
    return made


# ---- validation ------------------------------------------------------------------------
STAT = "stat"     # {"median","min","max","n"}; median may be null only if n == 0
# Per section: {"path.to.node": [keys that must hold a measurement]}.
REQUIRED = {
    "1": {"limits.device": ["seqwrite_bw_bytes_per_s", "randread_qd1_p50_ns", "randread_qd1_p99_ns"],
          "limits.uffd": ["first_touch_ns_swapper", "first_touch_ns_fault_around", "first_touch_ns_no_swapper",
                          "zero_fault_service_p50_ns", "rtt_spin_ns", "rtt_block_ns", "rtt_off_ns"],
          "floor": ["disk_qd1_p50_ns", "rtt_spin_ns", "floor_ns"]},
    "4": {"swap_out": ["bytes_written", "throughput_bytes_per_s", "capacity_bytes_per_s", "device_bw_bytes_per_s",
                       "ratio_to_device"]},
    "stream": {"stream": ["fio_seqread_bytes_per_s", "runtime_s", "bytes_read", "swapin_bytes_per_s",
                          "scan_bytes_per_s", "ratio"],
               "stream.split": ["swapper_side_mean_ns", "vcpu_wake_exit_ns"]},
    "6": {"overhead": ["runtime_on_s", "runtime_off_s", "runtime_ratio", "pair_ratio"]},
    "seal": {"seal": ["guest_per_swapin_ratio", "capacity_ratio"]},
}
META_REQUIRED = ["date", "command", "cpus", "kernel", "duration_s", "params"]


def check(path):
    errs = []

    def bad_const(c):
        raise ValueError(f"non-finite number {c}")

    try:
        with open(path) as fh:
            b = json.load(fh, parse_constant=bad_const)
    except Exception as e:  # noqa: BLE001
        print(f"bench.json: not well-formed: {e}")
        return 1

    def walk(x, where):
        if isinstance(x, float) and not math.isfinite(x):
            errs.append(f"{where}: non-finite")
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(v, f"{where}.{k}")
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, f"{where}[{i}]")

    def need_num(x, where, stat_ok=True):
        if isinstance(x, dict) and stat_ok:
            if x.get("n", 0) < 1 or not isinstance(x.get("median"), (int, float)):
                errs.append(f"{where}: no measurement")
        elif not isinstance(x, (int, float)) or isinstance(x, bool):
            errs.append(f"{where}: missing or not a number")

    walk(b, "bench")
    for k in META_REQUIRED:
        if k not in b.get("meta", {}):
            errs.append(f"meta.{k}: missing")
    secs = [str(x) for x in (get(b, "meta", "params", "sections") or ALL_SECTIONS)]
    for sec, nodes in REQUIRED.items():
        if sec not in secs:
            continue
        for path, keys in nodes.items():
            node = b
            for p in path.split("."):
                node = node.get(p, {}) if isinstance(node, dict) else {}
            for k in keys:
                if k not in node:
                    errs.append(f"{path}.{k}: missing")
                else:
                    need_num(node[k], f"{path}.{k}")
    if "1" in secs and get(b, "limits", "uffd", "rtt_faults_complete") is not True:
        errs.append("limits.uffd.rtt_faults_complete: a round trip run lost or repeated faults")
    if "2" in secs:
        fs = get(b, "fault_service", "vcpus") or {}
        for v in ("1", "2", "4"):
            for k in ("fault_p50_ns", "fault_p99_ns", "fault_p999_ns", "swapin_pages_per_s", "guest_ns_per_swapin"):
                need_num(get(fs, v, k), f"fault_service.vcpus.{v}.{k}")
            for k in ("swapper_side_mean_ns", "vcpu_wake_exit_ns"):
                need_num(get(fs, v, "split", k), f"fault_service.vcpus.{v}.split.{k}")
        need_num(get(b, "fault_service", "reference_ns"), "fault_service.reference_ns")
        if "1" in secs:
            need_num(get(b, "floor", "ratio"), "floor.ratio")
    params = get(b, "meta", "params") or {}
    if "3" in secs:
        wl = b.get("workloads", {})
        for pat in params.get("patterns", []):
            for f in params.get("fractions", []):
                fd = get(wl, pat, str(f))
                if not isinstance(fd, dict):
                    errs.append(f"workloads.{pat}.{f}: missing")
                    continue
                for k in ("runtime_s", "swapins", "swapouts", "bytes_read", "bytes_written"):
                    need_num(get(fd, "hvswap", k), f"workloads.{pat}.{f}.hvswap.{k}")
                    need_num(get(fd, "kernel_process", k), f"workloads.{pat}.{f}.kernel_process.{k}")
                    kk = get(fd, "kernel_kvm") or {}
                    if "status" not in kk or k not in kk:
                        errs.append(f"workloads.{pat}.{f}.kernel_kvm.{k}: missing")
                    elif kk["status"] == "ok":
                        need_num(kk[k], f"workloads.{pat}.{f}.kernel_kvm.{k}")
                if "runtime_ratio_hvswap_vs_kernel_kvm" not in fd:
                    errs.append(f"workloads.{pat}.{f}.runtime_ratio_hvswap_vs_kernel_kvm: missing")
                elif get(fd, "kernel_kvm", "status") == "ok":
                    need_num(fd["runtime_ratio_hvswap_vs_kernel_kvm"],
                             f"workloads.{pat}.{f}.runtime_ratio_hvswap_vs_kernel_kvm")
                for k in ("swapins", "swapouts"):
                    need_num(get(fd, "belady", k), f"workloads.{pat}.{f}.belady.{k}", stat_ok=False)
                if fd.get("same_sequence") is not True:
                    errs.append(f"workloads.{pat}.{f}: host replay and guest sequences differ (seq_hash0)")
            for k in ("kvm_runtime_s", "process_runtime_s"):
                need_num(get(wl, pat, "nolimit", k), f"workloads.{pat}.nolimit.{k}")
        if not params.get("patterns") or not params.get("fractions"):
            errs.append("meta.params: no patterns/fractions")
    tg = b.get("targets")
    if not isinstance(tg, list) or not tg:
        errs.append("targets: missing")
    else:
        for t in tg:
            if not isinstance(t.get("met"), bool) or "goal" not in t:
                errs.append(f"targets.{t.get('id')}: malformed")
        want = []
        if "3" in secs:
            pats = params.get("patterns", [])
            want += ["runtime_" + x for x in pats] + ["policy_" + x for x in pats]
            want += ["kvm_" + x for x in pats if x != "seq"] + (["seq_process"] if "seq" in pats else [])
        want += (["swap_out"] if "4" in secs else []) + (["stream"] if "stream" in secs else [])
        want += (["overhead"] if "6" in secs else [])
        want += (["swapin_latency", "floor"] if "1" in secs and "2" in secs else [])
        ids = {t.get("id") for t in tg}
        errs += [f"targets.{n}: missing" for n in want if n not in ids]
    for e in errs:
        print("bench.json:", e)
    return 1 if errs else 0


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2]))
    outdir = sys.argv[1]
    meta, runs = load(outdir)
    b = {"meta": meta}
    b["limits"] = limits(runs)
    b["fault_service"] = fault_service(runs, b["limits"])
    b["floor"] = floor(b)
    b["workloads"] = workloads(runs, meta)
    b["swap_out"] = swap_out(runs, b["limits"])
    b["stream"] = stream(runs)
    b["overhead"] = overhead(runs, meta)
    b["seal"] = seal(runs)
    b["metadata"] = metadata(runs)
    b["ztier"] = report_ztier.summary(runs, outdir)
    b["targets"] = targets(b)
    b["run_status"] = {r["key"]: r["status"] for r in runs}
    b["plots"] = [] if "--no-plots" in sys.argv else plots(b, outdir)
    with open(os.path.join(outdir, "bench.json"), "w") as fh:
        json.dump(b, fh, indent=1, allow_nan=False)
    with open(os.path.join(outdir, "bench.md"), "w") as fh:
        fh.write(markdown(b))


if __name__ == "__main__":
    main()
