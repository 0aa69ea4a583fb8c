#!/usr/bin/env python3
"""report_compare.py DIR PATTERN... - one table and one plot of several
tests/bench/compare.sh runs (DIR/PATTERN/compare.json): per pattern and
way, runtime, pages read/written at each level and VSwapper's problems.
Writes DIR/summary.md, DIR/summary.json and, with gnuplot, DIR/summary.png."""
import json
import os
import shutil
import subprocess
import sys


def fmt(v, nd=2):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, pats = sys.argv[1], sys.argv[2:]
    docs = {p: json.load(open(os.path.join(out, p, "compare.json"))) for p in pats}
    first = docs[pats[0]]
    md = [f"Working set {first['ws']}, host memory {first['host_memory']}; "
          f"workload per pattern: `{first['workload']}` with the pattern replaced\n",
          "| pattern | way | runtime s | host read | host written | guest read "
          "| guest written | stale reads | false reads avoided | silent writes "
          "| silent writes avoided | pages/host read I/O | OOM kills | load |",
          "|" + "---|" * 14]
    for p in pats:
        for r in docs[p]["ways"]:
            if "skipped" in r:
                md.append(f"| {p} | {r['way']} | skipped: {r['skipped']} |" + " |" * 11)
                continue
            md.append("| " + " | ".join([
                p, r["way"], fmt(r["runtime_s"]), fmt(r["host_pages_read"]),
                fmt(r["host_pages_written"]), fmt(r["guest_pages_read"]),
                fmt(r["guest_pages_written"]), fmt(r["stale_reads"]),
                fmt(r["false_reads_avoided"]), fmt(r.get("silent_writes")),
                fmt(r["silent_writes_avoided"]), fmt(r["pages_per_host_read_io"]),
                fmt(r.get("oom_kills", 0)), fmt(r["load"])]) + " |")
    open(os.path.join(out, "summary.md"), "w").write("\n".join(md) + "\n")
    json.dump(docs, open(os.path.join(out, "summary.json"), "w"), indent=1)
    print("\n".join(md))
    if not shutil.which("gnuplot"):
        return
    ways = [r["way"] for r in first["ways"]]
    plots = (("runtime_s", "time", "runtime (s)"),
             ("host_pages_read", "hostread", "host swap pages read"),
             ("guest_pages_read", "guestread", "guest swap pages read"))
    for key, name, _ in plots:
        with open(os.path.join(out, f"summary-{name}.dat"), "w") as fd:
            fd.write("pattern " + " ".join(ways) + "\n")
            for p in pats:
                row = {r["way"]: r for r in docs[p]["ways"]}
                vals = []
                for w in ways:
                    r = row.get(w, {})
                    v = None if "skipped" in r else r.get(key)
                    vals.append("?" if v is None else str(v))
                fd.write(p + " " + " ".join(vals) + "\n")
    gp = ["set terminal pngcairo size 1200,400", "set output 'summary.png'",
          "set style data histograms", "set style histogram clustered",
          "set style fill solid", "set key autotitle columnhead", "set datafile missing '?'",
          f"set multiplot layout 1,{len(plots)}"]
    for key, name, title in plots:
        cols = ", ".join(f"'' using {i + 2}" for i in range(1, len(ways)))
        gp.append(f"set title '{title}'")
        gp.append(f"plot 'summary-{name}.dat' using 2:xtic(1)" + (", " + cols if cols else ""))
    gp.append("unset multiplot")
    gp = "\n".join(gp) + "\n"
    open(os.path.join(out, "summary.gp"), "w").write(gp)
    r = subprocess.run(["gnuplot", "summary.gp"], cwd=out, capture_output=True, text=True)
    if r.returncode:
        sys.stderr.write("report_compare.py: gnuplot failed: " + r.stderr[-300:] + "\n")


if __name__ == "__main__":
    main()
