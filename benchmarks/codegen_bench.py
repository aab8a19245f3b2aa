#!/usr/bin/env python3
"""Generated halo exchanges (mpicomm codegen halo --lang c) with the interposer's
methods, side by side in one run: passthrough (the MPI's own derived-type path), pack
and auto, switched inside each job (benchmarks/codegen/halo_time.c).

    python benchmarks/codegen_bench.py [--ranks 4] [--rounds 9] [--json FILE]

Each case is generated, compiled with the installed MPI's mpicc and run on --ranks
ranks (a periodic grid, MPI_Dims_create's split) under `mpicomm run`; the figures are
the median over rounds of the slowest rank's mean of 10 exchanges, and pack's and
auto's speed-up over passthrough.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from mpicomm import codegen, installation

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = [  # dims, ghost, neighbors, n
    (2, 1, "faces", 1024),
    (2, 2, "all", 1024),
    (3, 1, "faces", 64),
    (3, 2, "faces", 64),
    (3, 1, "all", 64),
]


def run_case(case, ranks, rounds, tmp):
    dims, ghost, neighbors, n = case
    header = os.path.join(tmp, "gen.h")
    with open(header, "w") as f:
        f.write(codegen.halo(dims, ghost, neighbors, "float64", "c"))
    prog = os.path.join(tmp, "halo_time")
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    subprocess.run([installation.probe().tool("mpicc"), "-O2", f"-I{tmp}",
                    '-DHALO_HEADER="gen.h"', os.path.join(HERE, "codegen", "halo_time.c"),
                    "-o", prog, "-ldl"], check=True, env=env)
    out = subprocess.run([sys.executable, "-m", "mpicomm", "run", "-n", str(ranks), "--",
                          prog, str(n), str(rounds)], capture_output=True, text=True)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("HALOTIME ")]
    if out.returncode != 0 or not line:
        sys.exit(f"codegen_bench: {case} failed ({out.returncode}):\n{out.stderr}")
    return json.loads(line[0][len("HALOTIME "):])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ranks", type=int, default=4)
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--json")
    args = p.parse_args()
    inst = installation.probe()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            t = run_case(case, args.ranks, args.rounds, tmp)
            rows.append({"dims": case[0], "ghost": case[1], "neighbors": case[2], "n": case[3],
                         **{k: v * 1e6 for k, v in t.items()}})
    print(f"{inst.vendor} {inst.version}, {args.ranks} ranks, median of {args.rounds} rounds "
          "(us per exchange)")
    print(f"{'case':<24} {'passthrough':>12} {'pack':>9} {'auto':>9}   pack   auto")
    for r in rows:
        name = f"{r['dims']}-D n={r['n']} g={r['ghost']} {r['neighbors']}"
        print(f"{name:<24} {r['passthrough']:12.1f} {r['pack']:9.1f} {r['auto']:9.1f}  "
              f"{r['passthrough'] / r['pack']:5.2f}x {r['passthrough'] / r['auto']:5.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"mpi": f"{inst.vendor} {inst.version}", "ranks": args.ranks,
                       "rounds": args.rounds, "us_per_exchange": rows}, f, indent=1)


if __name__ == "__main__":
    main()
