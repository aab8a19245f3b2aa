#!/usr/bin/env python3
"""Never slower than the MPI: the halo and transpose patterns of DDTBench (written here)
sent by a 2-rank ping-pong, side by side in one run: the MPI's own derived-type path
("MPI": the interposer switched to pass-through), the model's choice ("auto"), the
pack method forced ("pack"), and DDTBench's manual path ("manual": the same array
views copied into a contiguous buffer with numpy, sent as bytes, copied back; checked
against the MPI's own send of the type before timing).

    mpicomm run -n 2 -- python benchmarks/ddt_bench.py [--reps 9] [--quick] [--json out.json]

The model is the one the interposer loaded at MPI_Init (MPICOMM_MODEL, the per-user
model, or the built-in defaults: say which with MPICOMM_MODEL=builtin or a file).
Patterns, float64 unless named:
  NAS MG x, y, z  the faces of a 512 x 256 x nz array (x fastest), built as DDTBench does
                  (vectors of vectors): x: 8-byte elements at 4 KiB, planes at 1 MiB;
                  y: rows of 4080 B at 1 MiB; z: rows of 4080 B at 4 KiB. nz = 64 and 256.
  NAS MG small    the x face of a 64^3 array: 8 B at 512 B.
  NAS LU x, y     a 5-component field u(5, 64, 64, 64): 40-byte points at 2.5 KiB (x) and
                  rows of 2480 B (62 points) at 160 KiB (y).
  FFT2            a 512 x 512 complex128 matrix, half of its columns (16 B at 8 KiB) as a
                  resized column type, count 256: the all-to-all of a 2-D FFT transpose.
  MILC            the t face of a 16^4 lattice of su3 vectors (24 B of float32 complex at
                  384 B).
  SPECFEM3D mt    a struct of three float32 vectors, 4 B at 60 B (a 3-D mesh's x, y, z
                  coordinates of every 15th point).
Each figure is the median one-way time over --reps rounds, the three methods in
alternating order, both ranks in step; "x MPI" is the MPI's time over auto's, "x man."
the manual path's over auto's.
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
    a = raw.view(np.float64).reshape(nz, ny, nx)
    views = {"x": [a[1:-1, 1:-1, 1]], "y": [a[1:-1, 1, 1:-1]], "z": [a[1, 1:-1, 1:-1]]}[face]
    if face == "x":         # one element per (y, z): 8 B at nx * 8, planes at nx * ny * 8
        row = D.Create_vector(ny - 2, 1, nx)
        dt = row.Create_hvector(nz - 2, 1, nx * ny * 8)
    elif face == "y":       # a row of x per z
        row = D.Create_contiguous(nx - 2)
        dt = row.Create_hvector(nz - 2, 1, nx * ny * 8)
    else:                   # a row of x per y
        row = D.Create_contiguous(nx - 2)
        dt = row.Create_hvector(ny - 2, 1, nx * 8)
    return raw, dt, [row], 8 * (1 + nx + nx * ny), views


def lu(face, n=64):
    """A face of u(5, n, n, n) (C order: [n][n][n][5])."""
    raw = np.ones(5 * n ** 3 * 8, np.uint8)
    u = raw.view(np.float64).reshape(n, n, n, 5)
    views = [u[1:-1, 1:-1, 1]] if face == "x" else [u[1:-1, 1, 1:-1]]
    point = D.Create_contiguous(5)
    if face == "x":         # one 5-vector per (k, j): 40 B at 5 n * 8
        row = point.Create_hvector(n - 2, 1, 5 * n * 8)
        dt = row.Create_hvector(n - 2, 1, 5 * n * n * 8)
    else:                   # a row of n points per k
        row = point.Create_contiguous(n - 2)
        dt = row.Create_hvector(n - 2, 1, 5 * n * n * 8)
    return raw, dt, [point, row], 8 * (5 + 5 * n + 5 * n * n), views


def fft2(n=512):
    raw = np.ones(n * n * 16, np.uint8)
    col = MPI.C_DOUBLE_COMPLEX.Create_vector(n, 1, n)
    one = col.Create_resized(0, 16)
    dt = one.Create_contiguous(n // 2)
    m = raw.view(np.complex128).reshape(n, n)
    return raw, dt, [col, one], 0, [m[:, :n // 2].T]


def milc(n=16):
    raw = np.ones(n ** 4 * 24, np.uint8)
    su3 = MPI.C_FLOAT_COMPLEX.Create_contiguous(3)
    dt = su3.Create_subarray([n] * 4, [n, n, n, 1], [0, 0, 0, 1])
    lattice = raw.view(np.complex64).reshape(n, n, n, n, 3)
    return raw, dt, [su3], 0, [lattice[:, :, :, 1]]


def specfem_mt(points=60_000, every=15):
    raw = np.ones(3 * points * 4, np.uint8)
    coord = MPI.FLOAT.Create_vector(points // every, 1, every)
    dt = MPI.Datatype.Create_struct([1] * 3, [i * points * 4 for i in range(3)], [coord] * 3)
    xyz = raw.view(np.float32).reshape(3, points)
    return raw, dt, [coord], 0, [xyz[i, :points // every * every:every] for i in range(3)]


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
MODES = ("mpi", "auto", "pack", "manual")


class Manual:
    """DDTBench's manual path, as an application writes it instead of a datatype: copy the
    pattern's array views into a contiguous buffer (numpy's strided copies), send and
    receive bytes, copy them back into the views. Buffers are made once, as a program
    makes them."""

    def __init__(self, views):
        self.views = views
        size = sum(v.nbytes for v in views)
        self.out, self.into = np.empty(size, np.uint8), np.empty(size, np.uint8)
        self.out_parts, self.into_parts = self._parts(self.out), self._parts(self.into)

    def _parts(self, flat):
        parts, at = [], 0
        for v in self.views:
            parts.append(flat[at:at + v.nbytes].view(v.dtype).reshape(v.shape))
            at += v.nbytes
        return parts

    def pack(self):
        for part, v in zip(self.out_parts, self.views):
            np.copyto(part, v)

    def unpack(self):
        for part, v in zip(self.into_parts, self.views):
            np.copyto(v, part)

    def pingpong(self, comm, trips):
        peer = 1 - comm.Get_rank()
        for _ in range(trips):
            if comm.Get_rank() == 0:
                self.pack()
                comm.Send(self.out, peer, 0)
                comm.Recv(self.into, peer, 0)
                self.unpack()
            else:
                comm.Recv(self.into, peer, 0)
                self.unpack()
                self.pack()
                comm.Send(self.out, peer, 0)

    def check(self, raw, buf, dt, comm, ip):
        """The views hold the type's bytes in its order: the MPI's own send of the type
        to this rank, received as bytes, agrees."""
        raw[:] = np.random.default_rng(comm.Get_rank()).integers(0, 256, raw.size, np.uint8)
        want, me = bytearray(dt.Get_size()), comm.Get_rank()
        with ip.disabled():
            comm.Sendrecv([buf, 1, dt], me, 7, [want, MPI.BYTE], me, 7)
        self.pack()
        if self.out.tobytes() != bytes(want):
            sys.exit("ddt_bench: the manual path's views do not match the datatype")


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
        print(f"{'pattern':<20}{'KiB':>8}{'MPI':>9}{'auto':>9}{'pack':>9}{'manual':>9}"
              f"{'x MPI':>8}{'pack x':>8}{'x man.':>8}  auto packs")
    for name, make in PATTERNS.items():
        if args.quick and name not in QUICK:
            continue
        raw, dt, parts, offset, views = make()
        dt.Commit()
        buf = raw[offset:]
        manual = Manual(views)
        manual.check(raw, buf, dt, comm, ip)
        size = dt.Get_size()
        trips = max(8, min(200, (16 << 20) // size))
        times = {m: [] for m in MODES}
        packed = 0
        for rep in range(args.reps):
            for mode in (MODES if rep % 2 else MODES[::-1]):
                comm.Barrier()
                with (ip.disabled() if mode in ("mpi", "manual") else ip.method(mode)):
                    before = ip.stat("method_pack")
                    t = time.perf_counter()
                    if mode == "manual":
                        manual.pingpong(comm, trips)
                    else:
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
                   "pack_vs_mpi": med["mpi"] / med["pack"],
                   "auto_vs_manual": med["manual"] / med["auto"],
                   "mpi_vs_manual": med["manual"] / med["mpi"], "auto_packs": auto_packed}
            rows.append(row)
            print(f"{name:<20}{size / 1024:>8.0f}{med['mpi'] * 1e6:>8.0f}u"
                  f"{med['auto'] * 1e6:>8.0f}u{med['pack'] * 1e6:>8.0f}u"
                  f"{med['manual'] * 1e6:>8.0f}u"
                  f"{row['auto_vs_mpi']:>7.2f}x{row['pack_vs_mpi']:>7.2f}x"
                  f"{row['auto_vs_manual']:>7.2f}x  "
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
