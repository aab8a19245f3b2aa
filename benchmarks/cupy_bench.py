#!/usr/bin/env python3
"""Fused allreduce of CuPy arrays against what a program would write itself with an
MPI that is not CUDA-aware, side by side in one run. Needs CuPy and a GPU.

    mpicomm run -n 4 --no-interposer -- python benchmarks/cupy_bench.py \\
        [--reps 7] [--json out.json]

Cases, each on device arrays:
  1000 float32 arrays of 1 KiB: allreduce_fused against a loop that copies each
      array to host, calls comm.Allreduce and copies it back;
  one 64 MiB float32 array: the same two;
and, to show what staging costs, allreduce_fused on the same sizes in host memory.
Forms alternate in one process; each figure is the best of --reps of the slowest
rank's time, the device synchronised before the clock stops.
"""
import argparse
import json
import os
import sys

import numpy as np
from mpi4py import MPI

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allreduce_bench  # noqa: E402
from mpicomm.collectives import allreduce_fused  # noqa: E402

try:
    import cupy
    GPUS = cupy.cuda.runtime.getDeviceCount()
except Exception as exc:                             # ImportError, CUDARuntimeError
    cupy, GPUS, WHY = None, 0, f"{type(exc).__name__}: {exc}"


def best(comm, reps, fns):
    """allreduce_bench's best of reps, each call ending when the device is done."""
    def synced(fn):
        return lambda: (fn(), cupy.cuda.runtime.deviceSynchronize())
    return allreduce_bench.best(comm, reps, {name: synced(fn) for name, fn in fns.items()})


def staged_loop(comm, arrays):
    """The hand-written form: each device array to host, reduced, and back."""
    for a in arrays:
        h = a.get()
        comm.Allreduce(MPI.IN_PLACE, h)
        a.set(h)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7, help="repetitions, best kept (default 7)")
    ap.add_argument("--json", help="also write the results here (rank 0)")
    args = ap.parse_args(argv)
    comm = MPI.COMM_WORLD
    rank0 = comm.Get_rank() == 0
    if GPUS == 0:
        if rank0:
            print(f"cupy_bench: no GPU to run on ({WHY if cupy is None else 'CuPy sees none'})",
                  file=sys.stderr)
        return 2
    cupy.cuda.Device(comm.Get_rank() % GPUS).use()
    cases = {"1000 arrays x 1 KiB": [(256,)] * 1000, "1 array x 64 MiB": [(16 << 20,)]}
    rows = []
    for case, shapes in cases.items():
        dev = [cupy.full(s, comm.Get_rank(), cupy.float32) for s in shapes]
        host = [np.full(s, comm.Get_rank(), np.float32) for s in shapes]
        for _ in range(8):                           # the tuner settles, mirrors are made
            allreduce_fused(dev)
            allreduce_fused(host)
        t = best(comm, args.reps, {"loop": lambda: staged_loop(comm, dev),
                                   "fused": lambda: allreduce_fused(dev),
                                   "host": lambda: allreduce_fused(host)})
        rows.append({"case": case, "loop_ms": t["loop"] * 1e3, "fused_ms": t["fused"] * 1e3,
                     "host_ms": t["host"] * 1e3, "ratio": t["loop"] / t["fused"]})
    if rank0:
        lib = MPI.Get_library_version().splitlines()[0].strip()
        gpu = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
        print(f"# {lib}; {comm.Get_size()} ranks on {GPUS} x {gpu}; best of {args.reps}")
        print(f"{'case':<22}{'loop ms':>10}{'fused ms':>10}{'ratio':>8}{'host ms':>10}")
        for r in rows:
            print(f"{r['case']:<22}{r['loop_ms']:>10.3f}{r['fused_ms']:>10.3f}"
                  f"{r['ratio']:>7.2f}x{r['host_ms']:>10.3f}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"mpi": lib, "ranks": comm.Get_size(), "gpu": gpu, "gpus": GPUS,
                           "reps": args.reps, "cases": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
