#!/usr/bin/env python3
"""All-to-all with derived types, side by side in one run: the MPI's own derived-type
path against the interposer's pack method and its model-chosen (auto) method.

    mpicomm run -n 4 -- python benchmarks/alltoall_bench.py [--reps 16] [--best]
        [--modes mpi,pack,auto,pipeline] [--json out.json]

Cases: the pencil transpose of a distributed n^3 float64 array (n = 128, 256) with one
MPI_Alltoallw of subarray types, as mpi4py-fft redistributes its arrays (each rank
holds x-planes and receives y-planes); and the transpose of a distributed 4096^2
float64 matrix with one MPI_Alltoall of a resized column-block vector type. Modes
and figures as benchmarks/p2p_bench.py, but medians: modes rotate (and reverse), the
median of --reps timings of the slowest rank, each the mean of --calls calls ("pipe"
equals auto here, collectives are never pipelined).
"""
import argparse
import json
import os
import sys
import time

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


def median_of(comm, ip, reps, calls, fn, best=False, modes=p2p_bench.MODES):
    """{mode: median seconds of a call} of fn(mode) over reps timings of calls calls
    each (the slowest rank's), the modes in rotating order; and auto's share packed, as
    p2p_bench.best_of reports it. Medians: where auto leaves a call to the MPI it makes the
    MPI's own call, and on one node this shared machine's best-of figures of equal calls
    differ more than its medians. With best, the lowest instead: over TCP with more ranks
    than cores single timings of the same call spread over several times their lowest,
    and a median of them moves with how many such spikes a mode happened to draw."""
    times = {mode: [] for mode in modes}
    packed = passed = 0
    for rep in range(reps):
        # Rotated, and reversed every other time: no mode always follows the same one
        # (the pack method leaves the caches to whatever comes next).
        k = rep % len(modes)
        order = modes[k:] + modes[:k]
        for mode in (order[::-1] if rep // len(order) % 2 else order):
            p2p_bench.use(ip, mode)
            before = (ip.stat("method_pack"), ip.stat("method_passthrough"))
            comm.Barrier()
            t = time.perf_counter()
            for _ in range(calls):
                fn(mode)
            times[mode].append(comm.allreduce(time.perf_counter() - t, op=MPI.MAX) / calls)
            if mode == "auto":
                packed += ip.stat("method_pack") - before[0]
                passed += ip.stat("method_passthrough") - before[1]
    p2p_bench.use(ip, "auto")
    packed, passed = (comm.allreduce(v) for v in (packed, passed))
    out = {mode: float(min(v) if best else np.median(v)) for mode, v in times.items()}
    out["auto_packed"] = packed / max(packed + passed, 1)
    out["auto_piped"] = 0.0
    return out


def pair_row(rank0, name, block, nbytes, t):
    """A case's figures where only the MPI and auto alternated."""
    r = {"case": name, "block": block, "bytes": nbytes, "mpi_us": t["mpi"] * 1e6,
         "auto_us": t["auto"] * 1e6, "auto_ratio": t["mpi"] / t["auto"],
         "auto_packed": t["auto_packed"]}
    if rank0:
        print(f"{name:<32}{block:>7}{nbytes / 1e6:>8.2f}{r['mpi_us']:>10.1f}{'':>10}"
              f"{r['auto_us']:>10.1f}{'':>10}{'':>8}{r['auto_ratio']:>7.2f}x"
              f"{100 * r['auto_packed']:>16.0f}%", flush=True)
    return r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=16, help="timings, median kept (default 16)")
    ap.add_argument("--calls", type=int, default=5,
                    help="calls per timing, their mean kept (default 5)")
    ap.add_argument("--modes", default=",".join(p2p_bench.MODES),
                    help="the modes to alternate, of mpi, pack, auto, pipeline (default all; "
                         "the MPI and auto are always among them): each mode's traffic sets "
                         "the wire's state for the next, which over TCP can slow the mode "
                         "after it")
    ap.add_argument("--best", action="store_true",
                    help="keep the lowest timing of each mode instead of the median")
    ap.add_argument("--json", help="also write the results to this file (rank 0)")
    args = ap.parse_args(argv)
    if set(args.modes.split(",")) - set(p2p_bench.MODES):
        ap.error(f"--modes: unknown mode in {args.modes!r}; use {', '.join(p2p_bench.MODES)}")
    modes = tuple(m for m in p2p_bench.MODES if m in set(args.modes.split(",")) | {"mpi", "auto"})
    comm = MPI.COMM_WORLD
    try:
        ip = Interposer()
    except RuntimeError as exc:
        sys.exit(f"alltoall_bench: {exc}")
    rank0 = comm.Get_rank() == 0
    vendor = "".join(ch for ch in MPI.Get_library_version().split("\n")[0] if ch.isprintable())
    if rank0:
        print(f"# {vendor.strip()}; {comm.Get_size()} ranks; "
              f"{'best' if args.best else 'medians'} of {args.reps}; "
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

        t = median_of(comm, ip, args.reps, args.calls, run, args.best, modes)
        if not comm.allreduce(check(), op=MPI.LAND):
            sys.exit(f"alltoall_bench: {name} produced wrong data")
        rows.append(p2p_bench.row(rank0, name, block, nbytes, t, 1)
                    if modes == p2p_bench.MODES else pair_row(rank0, name, block, nbytes, t))
        free()
    if rank0 and args.json:
        with open(args.json, "w") as f:
            json.dump({"mpi": vendor.strip(), "ranks": comm.Get_size(), "reps": args.reps,
                       "statistic": "best" if args.best else "median", "modes": list(modes),
                       "model": ip.model,
                       "cases": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
