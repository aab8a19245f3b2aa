#!/usr/bin/env python3
"""All-to-all with derived types, side by side in one run: the MPI's own derived-type
path against the interposer's pack method and its model-chosen (auto) method.

    mpicomm run -n 4 -- python benchmarks/alltoall_bench.py [--reps 7] [--json out.json]

Cases: the pencil transpose of a distributed n^3 float64 array (n = 128, 256) with one
MPI_Alltoallw of subarray types, as mpi4py-fft redistributes its arrays (each rank
holds x-planes and receives y-planes); and the transpose of a distributed 4096^2
float64 matrix with one MPI_Alltoall of a resized column-block vector type. Modes
and figures as benchmarks/p2p_bench.py (its best_of: modes rotate, best of --reps of
the slowest rank; "pipe" equals auto here, collectives are never pipelined).
"""
import argparse
import json
import os
import sys

import numpy as np
from mpi4py import MPI

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import p2p_bench    # noqa: E402
from mpicomm.interposer import Interposer  # noqa: E402


def split(n, size, k):
    return n * k // size, n * (k + 1) // size


def pencil(comm, n):
    """(run, check, free) for the Alltoallw pencil transpose of an n^3 array."""
    size, rank = comm.Get_size(), comm.Get_rank()
    lo, hi = split(n, size, rank)
    send, recv = [], []
    for j in range(size):
        jlo, jhi = split(n, size, j)
        send.append(MPI.DOUBLE.Create_subarray([hi - lo, n, n], [hi - lo, jhi - jlo, n],
                                               [0, jlo, 0]).Commit())
        recv.append(MPI.DOUBLE.Create_subarray([n, hi - lo, n], [jhi - jlo, hi - lo, n],
                                               [jlo, 0, 0]).Commit())
    x = np.arange(lo * n * n, hi * n * n, dtype=np.float64).reshape(hi - lo, n, n)
    y = np.empty((n, hi - lo, n))
    ones, zeros = [1] * size, [0] * size

    def run(mode):
        comm.Alltoallw([x, (ones, zeros), send], [y, (ones, zeros), recv])

    def check():
        full = np.arange(n ** 3, dtype=np.float64).reshape(n, n, n)
        return np.array_equal(y, full[:, lo:hi, :])

    def free():
        for t in send + recv:
            t.Free()
    return run, check, free


def matrix(comm, n):
    """(run, check, free) for the Alltoall transpose of an n x n matrix in row blocks:
    block j of a rank's rows is a column block, sent as one resized vector."""
    size, rank = comm.Get_size(), comm.Get_rank()
    rows = n // size
    col = MPI.DOUBLE.Create_vector(rows, rows, n).Create_resized(0, rows * 8).Commit()
    a = (np.arange(rank * rows * n, (rank + 1) * rows * n, dtype=np.float64)
         .reshape(rows, n))
    b = np.empty((size, rows, rows))

    def run(mode):
        comm.Alltoall([a, 1, col], [b, rows * rows, MPI.DOUBLE])

    def check():
        full = np.arange(n * n, dtype=np.float64).reshape(n, n)
        want = full[:, rank * rows:(rank + 1) * rows].reshape(size, rows, rows)
        return np.array_equal(b, want)
    return run, check, col.Free


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7, help="repetitions, best kept (default 7)")
    ap.add_argument("--json", help="also write the results to this file (rank 0)")
    args = ap.parse_args(argv)
    comm = MPI.COMM_WORLD
    try:
        ip = Interposer()
    except RuntimeError as exc:
        sys.exit(f"alltoall_bench: {exc}")
    rank0 = comm.Get_rank() == 0
    vendor = "".join(ch for ch in MPI.Get_library_version().split("\n")[0] if ch.isprintable())
    if rank0:
        print(f"# {vendor.strip()}; {comm.Get_size()} ranks; best of {args.reps}; "
              f"model: {ip.model}")
        print(f"{'case':<32}{'block':>7}{'MB':>8}{'MPI us':>10}{'pack us':>10}{'auto us':>10}"
              f"{'pipe us':>10}{'pack':>8}{'auto':>8}{'pipe':>8}{'packed':>9}{'piped':>8}")
    rows = []
    cases = [(f"pencil {n}^3 alltoallw", pencil(comm, n), n * 8, 8 * n ** 3 // comm.Get_size())
             for n in (128, 256)]
    cases.append(("matrix 4096^2 alltoall", matrix(comm, 4096), 4096 // comm.Get_size() * 8,
                  8 * 4096 ** 2 // comm.Get_size()))
    for name, (run, check, free), block, nbytes in cases:
        run("mpi")
        t = p2p_bench.best_of(comm, ip, args.reps, run)
        if not comm.allreduce(check(), op=MPI.LAND):
            sys.exit(f"alltoall_bench: {name} produced wrong data")
        rows.append(p2p_bench.row(rank0, name, block, nbytes, t, 1))
        free()
    if rank0 and args.json:
        with open(args.json, "w") as f:
            json.dump({"mpi": vendor.strip(), "ranks": comm.Get_size(), "reps": args.reps,
                       "model": ip.model, "cases": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
