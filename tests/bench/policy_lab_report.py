#!/usr/bin/env python3
"""policy_lab_report.py RAW.jsonl OUTDIR COMMAND - the policy lab's outputs:
policy_lab.json (every run), policy_lab.md (device reads per policy and
their ratio to Belady's MIN, minor faults, metadata per guest page) and
policy_lab.png (gnuplot: reads / MIN per policy for each case)."""
import json
import math
import os
import subprocess
import sys


def gmean(v):
    v = [x for x in v if x > 0]
    return math.exp(sum(math.log(x) for x in v) / len(v)) if v else float("nan")


def summary(runs, pols):
    """Geometric means over the cases: reads / MIN (cases with MIN > 0),
    reads / clock and cost / clock (cost = reads + minor_cost x minor)."""
    L = ["", "Summary, geometric mean over the cases above (split by dirty log): "
         "reads / MIN where MIN > 0; reads and cost (reads + 0.35 x minor "
         "faults) relative to hvswap's clock.", "",
         "| dlog | measure | " + " | ".join(pols) + " |", "|---|---|" + "---|" * len(pols)]
    for dl in sorted({r["dlog"] for r in runs}):
        sel = [{x["policy"]: x for x in r["results"]} for r in runs if r["dlog"] == dl]
        rows = {"reads / MIN": [], "reads / clock": [], "cost / clock": []}
        for p in pols:
            rows["reads / MIN"].append(gmean([s[p]["reads"] / s["min"]["reads"] for s in sel
                                              if "min" in s and s["min"]["reads"]]))
            rows["reads / clock"].append(gmean([s[p]["reads"] / s["clock"]["reads"] for s in sel
                                                if "clock" in s and s["clock"]["reads"]]))
            rows["cost / clock"].append(gmean([s[p]["cost"] / s["clock"]["cost"] for s in sel
                                               if "clock" in s and s["clock"]["cost"]]))
        for k, v in rows.items():
            L.append(f"| {dl or '-'} | {k} | " + " | ".join(f"{x:.3f}" for x in v) + " |")
    return L


def main():
    raw, outdir, command = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = [json.loads(line) for line in open(raw) if line.strip()]
    if not runs:
        sys.exit("policy_lab_report.py: no runs")
    pols = [r["policy"] for r in runs[0]["results"]]
    with open(os.path.join(outdir, "policy_lab.json"), "w") as fh:
        json.dump({"command": command, "runs": runs}, fh, indent=1)
    L = [f"Command: `{command}`; ws {runs[0]['ws_pages']} pages, "
         f"{runs[0]['passes']} passes, rw {runs[0]['rw']}, fill: n/a (the lab "
         "counts pages, not bytes).", "",
         "Device reads (major faults) of the timed phase, and in brackets the "
         "ratio to Belady's MIN; `+m` = minor faults (copies back from staging "
         "or a held list, no I/O). lru and min see every access; the others "
         "only faults, write-protect faults" + (" and the dirty log" if any(r["dlog"] for r in runs) else "")
         + ".", ""]
    L.append("| workload | resident | dlog | " + " | ".join(pols) + " |")
    L.append("|---|---|---|" + "---|" * len(pols))
    dat = []
    for r in runs:
        res = {x["policy"]: x for x in r["results"]}
        mn = res["min"]["reads"] if "min" in res else 0
        pct = round(100 * r["limit_pages"] / r["ws_pages"])
        cells = []
        for p in pols:
            x = res[p]
            c = f"{x['reads']}"
            if mn:
                c += f" ({x['reads'] / mn:.2f})"
            if x["minor"]:
                c += f" +{x['minor']}m"
            cells.append(c)
        L.append(f"| {r['workload']} | {pct}% | {r['dlog'] or '-'} | " + " | ".join(cells) + " |")
        lr = res["lru"]["reads"] if "lru" in res else 0
        dat.append((f"{r['workload']} {pct}%" + (" dl" if r["dlog"] else ""),
                    [res[p]["reads"] / mn if mn else float("nan") for p in pols],
                    [res[p]["reads"] / lr if lr else float("nan") for p in pols]))
    L += summary(runs, pols)
    mid = min(runs, key=lambda r: abs(r["limit_pages"] / r["ws_pages"] - 0.5))
    L += ["", "Metadata each policy would add to hvswap, bytes per guest page "
          f"(at {round(100 * mid['limit_pages'] / mid['ws_pages'])}% resident where it depends on the limit):", "",
          "| policy | bytes/page | what |", "|---|---|---|"]
    for x in mid["results"]:
        L.append(f"| {x['policy']} | {x['meta_bytes_per_page']:.2f} | {x['meta']} |")
    with open(os.path.join(outdir, "policy_lab.md"), "w") as fh:
        fh.write("\n".join(L) + "\n")
    for k, fn in ((1, "policy_lab.dat"), (2, "policy_lab_lru.dat")):
        with open(os.path.join(outdir, fn), "w") as fh:
            fh.write("case " + " ".join(pols) + "\n")
            for row in dat:
                fh.write(f"\"{row[0]}\" " + " ".join(f"{x:.4f}" for x in row[k]) + "\n")
    def plot(fn):
        return "plot " + ", ".join(f"'{fn}' u {i + 2}:xtic(1) t columnheader({i + 2})"
                                   for i in range(len(pols)))
    gp = ["set terminal pngcairo size 1400,1000 font 'sans,9'",
          "set output 'policy_lab.png'", "set multiplot layout 2,1",
          "set style data histograms", "set style histogram clustered gap 1",
          "set style fill solid 0.8 border -1", "set boxwidth 0.9",
          "set xtics rotate by -40 scale 0", "set grid y", "set yrange [0:*]",
          "set key outside right",
          "set title \"Device reads / Belady's MIN (lower is better; empty: MIN = 0)\"",
          "set ylabel 'reads / MIN'", plot("policy_lab.dat"),
          "set title 'Device reads / LRU with full information'",
          "set ylabel 'reads / LRU'", "set yrange [0.8:*]", plot("policy_lab_lru.dat"),
          "unset multiplot"]
    with open(os.path.join(outdir, "policy_lab.gp"), "w") as fh:
        fh.write("\n".join(gp) + "\n")
    r = subprocess.run(["gnuplot", "policy_lab.gp"], cwd=outdir, capture_output=True, text=True)
    if r.returncode:
        sys.stderr.write(f"policy_lab_report.py: gnuplot failed: {r.stderr[-400:]}\n")
    print(os.path.join(outdir, "policy_lab.md"))


if __name__ == "__main__":
    main()
