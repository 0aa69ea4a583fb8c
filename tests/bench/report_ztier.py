"""report_ztier.py - the ztier section of tests/bench/run.sh (issue 12,
item 6): steady state with compressible fills, hvswap --ztier off/lz4/zstd
against the kernel-swapped KVM guest without and with zswap.  Imported by
report.py (summary() into bench.json["ztier"], markdown() into bench.md)."""
import json
import os

SYSTEMS = ("hvswap_off", "hvswap_lz4", "hvswap_zstd", "hvswap_lz4_half", "kernel_kvm",
           "kernel_kvm_zswap")


def _get(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _ratio(a, b):
    return a / b if a is not None and b else None


def _row(r):
    """One run: runtime (guest timed phase), disk reads in pages, tier stats."""
    if r is None:
        return None
    res = r.get("result") or {}
    ok = r.get("status") == "ok" and res
    el = _get(res, "metrics", "elapsed_ns")
    row = {"status": r.get("status"), "wall_s": r.get("wall_s"),
           "runtime_s": el / 1e9 if ok and el is not None else None,
           "load": [r.get("load_start"), r.get("load_end")]}
    if r["meta"]["system"].startswith("hvswap"):
        br = _get(res, "swap", "bytes_read")
        row["disk_reads"] = br // 4096 if ok and br is not None else None
        z = _get(res, "swap", "ztier") or {}
        for k in ("hits", "stores", "rejected_incompressible", "written_back",
                  "compression_ratio", "pool_ratio", "fragmentation", "pool_bytes"):
            row[k] = z.get(k)
        row["hit_p50_ns"] = _get(z, "hit_latency", "p50_ns")
    else:
        row["disk_reads"] = r.get("pswpin") if ok else None
        row["zswpin"] = r.get("zswpin")
        row["zswpwb"] = r.get("zswpwb")
    return row


def summary(runs, outdir):
    zr = [r for r in runs if _get(r, "meta", "section") == "ztier"]
    if not zr:
        return None
    env = {}
    try:
        with open(os.path.join(outdir, "raw", "zt_env.json.txt")) as fh:
            env = json.load(fh)
    except (OSError, ValueError):
        pass
    fills = []
    for r in zr:
        if r["meta"]["fill"] not in fills:
            fills.append(r["meta"]["fill"])
    out = {"zswap": env.get("zswap"), "load_end": env.get("load"), "fills": {}}
    for f in fills:
        d = {}
        for s in SYSTEMS:
            rs = [r for r in zr if r["meta"]["fill"] == f and r["meta"]["system"] == s]
            d[s] = _row(rs[0]) if rs else None
        k = d.get("kernel_kvm") or {}
        for s in SYSTEMS:
            if d[s]:
                d[s]["runtime_vs_kernel"] = _ratio(d[s]["runtime_s"], k.get("runtime_s"))
                d[s]["reads_vs_kernel"] = _ratio(d[s]["disk_reads"], k.get("disk_reads"))
        off = d.get("hvswap_off") or {}
        for s in ("hvswap_lz4", "hvswap_zstd", "hvswap_lz4_half"):
            if d[s]:
                d[s]["runtime_vs_off"] = _ratio(d[s]["runtime_s"], off.get("runtime_s"))
                d[s]["reads_vs_off"] = _ratio(d[s]["disk_reads"], off.get("disk_reads"))
        out["fills"][f] = d
    return out


def _f(x, unit=""):
    if x is None:
        return "n/a"
    if unit == "s":
        return f"{x:.1f} s"
    if unit == "x":
        return f"{x:.2f}x"
    if unit == "us":
        return f"{x / 1000:.0f} us"
    if isinstance(x, float):
        return f"{x:.2f}"
    return str(x)


def markdown(z, params):
    L = []
    A = L.append
    A("## ztier: steady state with compressible pages (issue 12)\n")
    A(f"memtouch pattern={params.get('zt_pattern')} ws={params.get('zt_ws')} init=1 rw=0.5 "
      f"passes={params.get('zt_passes')} at {params.get('zt_fraction')}% resident; hvswap's "
      "pool cap is the default (a fifth of the limit), hvswap_lz4_half: `--ztier-size` half the "
      "limit. Kernel: the KVM guest under a memcg "
      f"limit with a swap file. zswap: {z.get('zswap')}. Load at the end: {z.get('load_end')}.\n")
    A("| fill | system | timed phase | vs kernel | disk reads (pages) | vs kernel | vs tier off | "
      "pool hits | ratio (pool) | rejected | written back | hit p50 |")
    A("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for f, d in z["fills"].items():
        for s in SYSTEMS:
            x = d.get(s)
            if not x:
                continue
            hv = s.startswith("hvswap")
            A(f"| {f} | {s} | {_f(x['runtime_s'], 's')} | {_f(x.get('runtime_vs_kernel'), 'x')} | "
              f"{_f(x['disk_reads'])} | {_f(x.get('reads_vs_kernel'), 'x')} | "
              f"{_f(x.get('reads_vs_off'), 'x') if hv else ''} | "
              f"{_f(x.get('hits')) if hv else _f(x.get('zswpin'))} | "
              f"{_f(x.get('compression_ratio')) + ' (' + _f(x.get('pool_ratio')) + ')' if hv and x.get('hits') is not None else ''} | "
              f"{_f(x.get('rejected_incompressible')) if hv else ''} | "
              f"{_f(x.get('written_back')) if hv else _f(x.get('zswpwb'))} | "
              f"{_f(x.get('hit_p50_ns'), 'us') if hv else ''} |")
    A("\nDisk reads: hvswap's bytes_read / 4 KiB (readahead included), the kernel's pswpin; for the "
      "kernel rows 'pool hits' is zswpin and 'written back' zswpwb. Ratio = stored / compressed bytes "
      "(in brackets stored / pool memory).\n")
    return "\n".join(L) + "\n"
