#!/usr/bin/env python3
"""The cost of being there: an 8-byte contiguous MPI_Send/MPI_Recv ping-pong on 2 ranks,
with and without the interposer preloaded, launched alternately in one run; and the
same calls to MPI_PROC_NULL on 1 rank, which isolates the cost of the calls.

    python benchmarks/overhead.py [--rounds 5] [--iters 100000] [--json out.json]

Each round runs benchmarks/pingpong.c (built with the installed MPI's mpicc) once
without and once with the interposer; the medians over rounds are compared. Per
call = difference per round trip / 2 (each rank makes one MPI_Send and one
MPI_Recv per round trip). The interposer does not accelerate these calls.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

from mpicomm import installation

HERE = os.path.dirname(os.path.abspath(__file__))


def run(exe, iters, interposer, null=False):
    cmd = [sys.executable, "-m", "mpicomm", "run", "-n", "1" if null else "2"]
    cmd += [] if interposer else ["--no-interposer"]
    cmd += ["--", exe, "--iters", str(iters)] + (["--proc-null", "1"] if null else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return float(re.search(r"([\d.]+) us per round trip", out).group(1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="alternating launches (default 5)")
    ap.add_argument("--iters", type=int, default=100000, help="round trips per launch")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    rows = []
    inst = installation.probe()
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "pingpong")
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        subprocess.run([inst.tool("mpicc"), "-O2", "-o", exe, os.path.join(HERE, "pingpong.c")],
                       check=True, env=env)
        print(f"# {inst.vendor} {inst.version}: median of {args.rounds} alternating launches")
        for null, label, key in ((False, "8-byte ping-pong, 2 ranks", "pingpong"),
                                 (True, "Send+Recv to MPI_PROC_NULL, 1 rank", "proc_null")):
            without, with_ = [], []
            for _ in range(args.rounds):
                without.append(run(exe, args.iters, False, null))
                with_.append(run(exe, args.iters, True, null))
            a, b = statistics.median(without), statistics.median(with_)
            print(f"{label}: without {a:.3f} us, with {b:.3f} us per round trip; per call "
                  f"{(b - a) / 2 * 1000:+.1f} ns; ratio {a / b:.3f}x "
                  f"(runs without {min(without):.3f}-{max(without):.3f}, "
                  f"with {min(with_):.3f}-{max(with_):.3f})")
            rows.append({"case": key, "without_us": a, "with_us": b,
                         "per_call_ns": (b - a) / 2 * 1000,
                         "without_range_us": [min(without), max(without)],
                         "with_range_us": [min(with_), max(with_)]})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"mpi": f"{inst.vendor} {inst.version}", "rounds": args.rounds,
                       "iters": args.iters, "cases": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
