#!/usr/bin/env python3
"""Times the GEMM shapes of `sketchbert bench gemm --csv` with NumPy on the
host (NumPy calls OpenBLAS sgemm) and prints them next to the device numbers,
with the ratio device / NumPy, so docs can compare CLBlast on PoCL with an
optimised CPU BLAS on the same cores. A tool for docs/performance.md; the
library itself links no BLAS.

    sketchbert bench gemm --csv > default.csv    (SKETCHBERT_NO_GEMM_TUNING=1)
    sketchbert bench gemm --csv > tuned.csv
    tools/bench_gemm_host.py default=default.csv tuned=tuned.csv [--markdown]

Each LABEL=FILE is one device run; the shapes come from the first file.
--threads sets OpenBLAS's thread count (default: all cores, as PoCL uses).
Times: one warm-up call, then --reps calls, wall clock each; the table shows
GFLOP/s of the fastest call, on both sides (on a machine shared with other
work the fastest call is the one least disturbed by it).

--cpu-time compares work instead of wall clock, for a machine shared with
other work: GFLOP per CPU-second, from the CSV's median process CPU time on
the device side (all PoCL threads) and from NumPy's median process CPU time
with one OpenBLAS thread (several would add their spin-waiting)."""
import argparse
import csv
import os
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="LABEL=FILE.csv", help="output of `sketchbert bench gemm --csv`")
    p.add_argument("--reps", type=int, default=5, help="timed calls per shape (default 5)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="OpenBLAS threads (default: all cores)")
    p.add_argument("--markdown", action="store_true", help="a Markdown table (default: plain text)")
    p.add_argument("--cpu-time", action="store_true", help="GFLOP per CPU-second instead of per second")
    return p.parse_args()


def read_runs(specs):
    runs = []
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep or not label or not path:
            sys.exit("bench_gemm_host.py: expected LABEL=FILE.csv, got '%s'" % spec)
        try:
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
        except OSError as e:
            sys.exit("bench_gemm_host.py: %s: %s" % (path, e.strerror))
        if not rows or "gflops_best" not in rows[0]:
            sys.exit("bench_gemm_host.py: %s is not `sketchbert bench gemm --csv` output" % path)
        runs.append((label, {(r["model"], r["op"]): r for r in rows}, rows))
    return runs


def time_numpy(np, row, reps, cpu_time):
    """Seconds of the fastest of `reps` products of the row's shape and
    transposes (with cpu_time: median process CPU seconds)."""
    ta, tb = row["trans"][0] == "T", row["trans"][1] == "T"
    m, n, k, batch = (int(row[c]) for c in ("M", "N", "K", "batch"))
    rng = np.random.default_rng(0)

    def operand(rows, cols, trans):  # stored transposed when trans, as on the device
        x = rng.random((batch, cols, rows) if trans else (batch, rows, cols), dtype=np.float32)
        x = x.swapaxes(1, 2) if trans else x
        return x if batch > 1 else x[0]

    a, b = operand(m, k, ta), operand(k, n, tb)
    c = np.empty((batch, m, n) if batch > 1 else (m, n), dtype=np.float32)
    np.matmul(a, b, out=c)  # warm-up
    clock = time.process_time if cpu_time else time.perf_counter
    times = []
    for _ in range(reps):
        t0 = clock()
        np.matmul(a, b, out=c)
        times.append(clock() - t0)
    return sorted(times)[len(times) // 2] if cpu_time else min(times)


def main():
    args = parse_args()
    runs = read_runs(args.runs)
    threads = 1 if args.cpu_time else args.threads
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    try:
        import numpy as np  # after the thread count is set
    except ImportError:
        sys.exit("bench_gemm_host.py: needs NumPy (pip install numpy threadpoolctl)")
    blas = "OpenBLAS (version unknown: no threadpoolctl)"
    try:
        from threadpoolctl import threadpool_info
        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if info:
            blas = "%s %s, %s kernels, %d threads" % (info[0]["internal_api"], info[0]["version"],
                                                       info[0].get("architecture"), info[0]["num_threads"])
    except ImportError:
        pass
    print("NumPy %s with %s" % (np.__version__, blas))

    labels = [r[0] for r in runs]
    unit = "GFLOP/CPU-s" if args.cpu_time else "GFLOP/s"
    head = ["model", "GEMM", "trans", "M x N x K", "batch"] + ["%s %s" % (l, unit) for l in labels] + \
        ["NumPy %s" % unit] + ["%s / NumPy" % l for l in labels]
    widths = [6, 28, 5, 18, 5] + [max(10, len(h)) for h in head[5:]]

    def line(cells):
        return "  ".join(("%-*s" if i < 2 else "%*s") % (w, c) for i, (w, c) in enumerate(zip(widths, cells)))

    if not args.markdown:
        print(line(head))
    table = []
    for row in runs[0][2]:
        flops = 2.0 * int(row["M"]) * int(row["N"]) * int(row["K"]) * int(row["batch"])
        host = flops / time_numpy(np, row, args.reps, args.cpu_time) * 1e-9

        def device(r):
            if (row["model"], row["op"]) not in r:
                return float("nan")
            d = r[(row["model"], row["op"])]
            return flops / float(d["cpu_ms_median"]) * 1e-6 if args.cpu_time else float(d["gflops_best"])
        dev = [device(r[1]) for r in runs]
        table.append([row["model"], row["op"], row["trans"], "%s x %s x %s" % (row["M"], row["N"], row["K"]),
                      row["batch"]] + ["%.1f" % g for g in dev] + ["%.1f" % host] +
                     ["%.2f" % (g / host) for g in dev])
        if not args.markdown:
            print(line(table[-1]), flush=True)
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" if i < 5 else "---:" for i in range(len(head))) + "|")
        for t in table:
            print("| " + " | ".join(t) + " |")


if __name__ == "__main__":
    main()
