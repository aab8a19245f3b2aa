#!/usr/bin/env python3
"""Never slower than the MPI: the halo and transpose patterns of DDTBench (written here)
sent by a 2-rank ping-pong, side by side in one run: the MPI's own derived-type path
("MPI": the interposer switched to pass-through), the model's choice ("auto") and the
pack method forced ("pack").

    mpicomm run -n 2 -- python benchmarks/ddt_bench.py [--reps 9] [--quick] [--json out.json]

The model is the one the interposer loaded at MPI_Init (MPICOMM_MODEL, the per-user
model, or the built-in defaults: say which with MPICOMM_MODEL=builtin or a file).
Patterns, float64 unless named:
  NAS MG x, y, z  the faces of a 512 x 256 x nz array (x fastest), built as DDTBench does
                  (vectors of vectors): x: 8-byte elements at 4 KiB, planes at 1 MiB;
                  y: rows of 4080 B at 1 MiB; z: rows of 4080 B at 4 KiB. nz = 64 and 256.
  NAS MG small    the x face of a 64^3 array: 8 B at 512 B.
  NAS LU x, y     a 5-component field u(5, 64, 64, 64): 40-byte points at 2.5 KiB (x) and
                  rows of 2560 B at 160 KiB (y).
  FFT2            a 512 x 512 complex128 matrix, half of its columns (16 B at 8 KiB) as a
                  resized column type, count 256: the all-to-all of a 2-D FFT transpose.
  MILC            the t face of a 16^4 lattice of su3 vectors (24 B of float32 complex at
                  384 B).
  SPECFEM3D mt    a struct of three float32 vectors, 4 B at 60 B (a 3-D mesh's x, y, z
                  coordinates of every 15th point).
Each figure is the median one-way time over --reps rounds, the three methods in
alternating order, both ranks in step; "x MPI" is the MPI's time over auto's.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
from mpi4py import MPI

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from p2p_bench import pingpong  # noqa: E402
from mpicomm.interposer import Interposer  # noqa: E402

D = MPI.DOUBLE


def mg(face, nz, nx=512, ny=256):
    """A face of an nz x ny x nx float64 array, as DDTBench's NAS MG builds it."""
    raw = np.ones(nx * ny * nz * 8, np.uint8)
    if face == "x":         # one element per (y, z): 8 B at nx * 8, planes at nx * ny * 8
        row = D.Create_vector(ny - 2, 1, nx)
        dt = row.Create_hvector(nz - 2, 1, nx * ny * 8)
    elif face == "y":       # a row of x per z
        row = D.Create_contiguous(nx - 2)
        dt = row.Create_hvector(nz - 2, 1, nx * ny * 8)
    else:                   # a row of x per y
        row = D.Create_contiguous(nx - 2)
        dt = row.Create_hvector(ny - 2, 1, nx * 8)
    return raw, dt, [row], 8 * (1 + nx + nx * ny)


def lu(face, n=64):
    """A face of u(5, n, n, n) (C order: [n][n][n][5])."""
    raw = np.ones(5 * n ** 3 * 8, np.uint8)
    point = D.Create_contiguous(5)
    if face == "x":         # one 5-vector per (k, j): 40 B at 5 n * 8
        row = point.Create_hvector(n - 2, 1, 5 * n * 8)
        dt = row.Create_hvector(n - 2, 1, 5 * n * n * 8)
    else:                   # a row of n points per k
        row = point.Create_contiguous(n - 2)
        dt = row.Create_hvector(n - 2, 1, 5 * n * n * 8)
    return raw, dt, [point, row], 8 * (5 + 5 * n + 5 * n * n)


def fft2(n=512):
    raw = np.ones(n * n * 16, np.uint8)
    col = MPI.C_DOUBLE_COMPLEX.Create_vector(n, 1, n)
    one = col.Create_resized(0, 16)
    dt = one.Create_contiguous(n // 2)
    return raw, dt, [col, one], 0


def milc(n=16):
    raw = np.ones(n ** 4 * 24, np.uint8)
    su3 = MPI.C_FLOAT_COMPLEX.Create_contiguous(3)
    dt = su3.Create_subarray([n] * 4, [n, n, n, 1], [0, 0, 0, 1])
    return raw, dt, [su3], 0


def specfem_mt(points=60_000, every=15):
    raw = np.ones(3 * points * 4, np.uint8)
    coord = MPI.FLOAT.Create_vector(points // every, 1, every)
    dt = MPI.Datatype.Create_struct([1] * 3, [i * points * 4 for i in range(3)], [coord] * 3)
    return raw, dt, [coord], 0


PATTERNS = {
    "NAS MG x (nz 64)": lambda: mg("x", 64),
    "NAS MG x (nz 256)": lambda: mg("x", 256),
    "NAS MG y (nz 64)": lambda: mg("y", 64),
    "NAS MG y (nz 256)": lambda: mg("y", 256),
    "NAS MG z": lambda: mg("z", 64),
    "NAS MG x small": lambda: mg("x", 64, 64, 64),
    "NAS LU x": lambda: lu("x"),
    "NAS LU y": lambda: lu("y"),
    "FFT2": fft2,
    "MILC": milc,
    "SPECFEM3D mt": specfem_mt,
}
QUICK = ("NAS MG x (nz 64)", "NAS MG y (nz 64)", "NAS LU x", "FFT2")
MODES = ("mpi", "auto", "pack")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    comm, ip = MPI.COMM_WORLD, Interposer()
    rank = comm.Get_rank()
    if comm.Get_size() != 2:
        sys.exit("ddt_bench: run on 2 ranks")
    rows = []
    if rank == 0:
        print(f"# {MPI.Get_library_version().splitlines()[0]}; model {ip.model}; "
              f"medians of {args.reps}")
        print(f"{'pattern':<20}{'KiB':>8}{'MPI':>9}{'auto':>9}{'pack':>9}{'x MPI':>8}"
              f"{'pack x':>8}  auto packs")
    for name, make in PATTERNS.items():
        if args.quick and name not in QUICK:
            continue
        raw, dt, parts, offset = make()
        dt.Commit()
        buf = raw[offset:]
        size = dt.Get_size()
        trips = max(8, min(200, (16 << 20) // size))
        times = {m: [] for m in MODES}
        packed = 0
        for rep in range(args.reps):
            for mode in (MODES if rep % 2 else MODES[::-1]):
                comm.Barrier()
                with (ip.disabled() if mode == "mpi" else ip.method(mode)):
                    before = ip.stat("method_pack")
                    t = time.perf_counter()
                    pingpong(comm, dt, buf, trips)
                    t = time.perf_counter() - t
                    if mode == "auto":
                        packed += ip.stat("method_pack") - before
                times[mode].append(comm.allreduce(t, op=MPI.MAX) / trips / 2)
        auto_packed = packed == 2 * trips * args.reps
        med = {m: statistics.median(v) for m, v in times.items()}
        if rank == 0:
            row = {"pattern": name, "bytes": size, **{f"{m}_s": med[m] for m in MODES},
                   "auto_vs_mpi": med["mpi"] / med["auto"],
                   "pack_vs_mpi": med["mpi"] / med["pack"], "auto_packs": auto_packed}
            rows.append(row)
            print(f"{name:<20}{size / 1024:>8.0f}{med['mpi'] * 1e6:>8.0f}u"
                  f"{med['auto'] * 1e6:>8.0f}u{med['pack'] * 1e6:>8.0f}u"
                  f"{row['auto_vs_mpi']:>7.2f}x{row['pack_vs_mpi']:>7.2f}x  "
                  f"{'yes' if auto_packed else 'no'}", flush=True)
        dt.Free()
        for p in parts:
            p.Free()
    if rank == 0 and args.json:
        with open(args.json, "w") as f:
            json.dump({"mpi": MPI.Get_library_version().splitlines()[0], "model": ip.model,
                       "reps": args.reps, "cases": rows}, f, indent=1)


if __name__ == "__main__":
    main()
