#!/usr/bin/env python3
"""Fused allreduce against the MPI, side by side in one run.

    mpicomm run -n 4 --no-interposer -- python benchmarks/allreduce_bench.py \\
        [--reps 7] [--json out.json]

Cases: 1000 float32 arrays of 1 KiB reduced with allreduce_fused against a loop
of comm.Allreduce (one call per array), and one 64 MiB float32 array with
allreduce_fused against comm.Allreduce. Both forms alternate in the same process
and each figure is the best of --reps (the slowest rank's time).
"""
import argparse
import json
import math
import sys
import time

import numpy as np
from mpi4py import MPI

from mpicomm.collectives import allreduce_fused


def best(comm, reps, fns):
    out = {name: math.inf for name in fns}
    for rep in range(reps):
        for name in (list(fns) if rep % 2 == 0 else list(fns)[::-1]):
            comm.Barrier()
            t = time.perf_counter()
            fns[name]()
            out[name] = min(out[name], comm.allreduce(time.perf_counter() - t, op=MPI.MAX))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7, help="repetitions, best kept (default 7)")
    ap.add_argument("--json", help="also write the results here (rank 0)")
    args = ap.parse_args(argv)
    comm = MPI.COMM_WORLD
    rank0 = comm.Get_rank() == 0
    small = [np.full(256, comm.Get_rank(), np.float32) for _ in range(1000)]
    big = np.ones(16 << 20, np.float32)

    def loop():
        for a in small:
            comm.Allreduce(MPI.IN_PLACE, a)

    rows = []
    t = best(comm, args.reps, {"mpi": loop, "fused": lambda: allreduce_fused(small)})
    rows.append({"case": "1000 arrays x 1 KiB", "mpi_ms": t["mpi"] * 1e3,
                 "fused_ms": t["fused"] * 1e3})
    t = best(comm, args.reps, {"mpi": lambda: comm.Allreduce(MPI.IN_PLACE, big),
                               "fused": lambda: allreduce_fused([big])})
    rows.append({"case": "1 array x 64 MiB", "mpi_ms": t["mpi"] * 1e3,
                 "fused_ms": t["fused"] * 1e3})
    for r in rows:
        r["ratio"] = r["mpi_ms"] / r["fused_ms"]
    if rank0:
        lib = MPI.Get_library_version().splitlines()[0].strip()
        print(f"# {lib}; {comm.Get_size()} ranks; best of {args.reps}")
        print(f"{'case':<22}{'MPI ms':>10}{'fused ms':>10}{'ratio':>8}")
        for r in rows:
            print(f"{r['case']:<22}{r['mpi_ms']:>10.3f}{r['fused_ms']:>10.3f}{r['ratio']:>7.2f}x")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"mpi": lib, "ranks": comm.Get_size(), "reps": args.reps,
                           "cases": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
