#!/usr/bin/env python3
"""What committing and freeing a datatype costs with the interposer, side by side in one
run against the MPI alone (benchmarks/commit_cost.c, built here with the MPI's mpicc and
run preloaded): MPI_Type_dup + MPI_Type_commit + MPI_Type_free of application types (a
grid face as a subarray and as a vector, WRF's struct of fields, LAMMPS's particle list,
SPECFEM3D's mesh boundary), through the interposer's wrappers and through the PMPI_ entry
points (nothing of ours) in the same process. None is sent: a program that builds a type
per message, or types it never sends through the interposer, pays this.

    python benchmarks/commit_bench.py [--n 2000] [--reps 9] [--json out.json]

Medians of --reps rounds of --n round trips, the two variants alternating.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from mpicomm import installation

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    inst = installation.probe()
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "commit_cost")
        subprocess.run([inst.tool("mpicc"), "-O2", "-o", exe,
                        os.path.join(HERE, "commit_cost.c")], check=True, env=env)
        out = subprocess.run([sys.executable, "-m", "mpicomm", "run", "-n", "1", "--", exe,
                              str(args.n), str(args.reps)], check=True, capture_output=True,
                             text=True).stdout
    rows = []
    print(f"# {inst.library_version.splitlines()[0]}; medians of {args.reps} x {args.n}")
    print(f"{'type':<30}{'MPI alone':>11}{'interposer':>12}{'added':>9}")
    for line in out.splitlines():
        if line.count("|") != 2:
            continue
        name, alone, wrapped = line.split("|")
        a, w = float(alone), float(wrapped)
        rows.append({"type": name, "alone_us": a, "interposer_us": w, "added_us": w - a})
        print(f"{name:<30}{a:>9.2f}us{w:>10.2f}us{w - a:>7.2f}us")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"mpi": inst.library_version.splitlines()[0], "n": args.n,
                       "reps": args.reps, "cases": rows}, f, indent=1)


if __name__ == "__main__":
    main()
