#!/usr/bin/env python3
"""Never slower than the MPI: the halo and transpose patterns of DDTBench (written here)
sent by a 2-rank ping-pong, side by side in one run: the MPI's own derived-type path
("MPI": the interposer switched to pass-through), the model's choice ("auto"), the
pack method forced ("pack"), and DDTBench's manual path ("manual": the same array
views copied into a contiguous buffer with numpy, sent as bytes, copied back; checked
against the MPI's own send of the type before timing).

    mpicomm run -n 2 -- python benchmarks/ddt_bench.py [--reps 9] [--quick] [--only NAME]
        [--modes mpi,auto,pack,manual] [--json out.json]

The model is the one the interposer loaded at MPI_Init (MPICOMM_MODEL, the per-user
model, or the built-in defaults: say which with MPICOMM_MODEL=builtin or a file).
Patterns, float64 unless named:
  NAS MG x, y, z  the faces of a 512 x 256 x nz array (x fastest), built as DDTBench does
                  (vectors of vectors): x: 8-byte elements at 4 KiB, planes at 1 MiB;
                  y: rows of 4080 B at 1 MiB; z: rows of 4080 B at 4 KiB. nz = 64 and 256.
  NAS MG small    the x face of a 64^3 array: 8 B at 512 B; 34^3: a 32^3 interior's
                  (1024 cells, 8 KiB).
  NAS LU x, y     a 5-component field u(5, 64, 64, 64): 40-byte points at 2.5 KiB (x) and
                  rows of 2480 B (62 points) at 160 KiB (y); x 34^3: u(5, 34, 34, 34)'s
                  1024 points (40 KiB).
  FFT2            a 512 x 512 complex128 matrix, half of its columns (16 B at 8 KiB) as a
                  resized column type, count 256: the all-to-all of a 2-D FFT transpose.
  MILC            the t face of a 16^4 lattice of su3 vectors (24 B of float32 complex at
                  384 B); 8^4: a smaller rank's lattice (24 B at 192 B, 12 KiB).
  SPECFEM3D mt    a struct of three float32 vectors, 4 B at 60 B (a 3-D mesh's x, y, z
                  coordinates of every 15th point).
  WRF x, y        the halo of a weather model's fields, one struct of vectors over two 2-D,
                  three 3-D and a 4-D (4 species) float32 field of 64 x 32 x 64 (i fastest,
                  then k, then j), 3 cells wide: x: 12 B at 256 B; y: rows of 232 B.
  LAMMPS atomic,  the border atoms of a molecular-dynamics domain (every 8th of 32768, at
  LAMMPS full     random): one struct of indexed blocks over the per-atom arrays, x (3
                  doubles), tag, type, mask (ints); full adds molecule (int) and q (double).
                  "small": every 8th of 8192 (a smaller domain's border).
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


def wrf(face, ni=64, nk=32, nj=64, halo=3, species=4):
    """WRF's halo of several fields as DDTBench's wrf_{x,y}_vec builds it: a struct
    whose members are vectors (of vectors) over each field, at the fields' addresses."""
    f4 = 4
    shapes = [(nj, ni)] * 2 + [(nj, nk, ni)] * 3 + [(species, nj, nk, ni)]
    sizes = [int(np.prod(s)) * f4 for s in shapes]
    starts = np.cumsum([0] + [s + 4096 for s in sizes])     # fields apart, as allocated
    raw = np.ones(int(starts[-1]), np.uint8)
    fields = [raw[a:a + n].view(np.float32).reshape(s)
              for a, n, s in zip(starts, sizes, shapes)]
    if face == "x":             # i in [halo, 2 halo), j interior, every k
        plane = MPI.FLOAT.Create_vector(nj - 2 * halo, halo, ni)
        row = MPI.FLOAT.Create_vector(nk, halo, ni)
        vol = row.Create_hvector(nj - 2 * halo, 1, nk * ni * f4)
    else:                       # j in [halo, 2 halo), i interior, every k
        plane = MPI.FLOAT.Create_vector(halo, ni - 2 * halo, ni)
        row = MPI.FLOAT.Create_vector(nk, ni - 2 * halo, ni)
        vol = row.Create_hvector(halo, 1, nk * ni * f4)
    four = vol.Create_hvector(species, 1, nj * nk * ni * f4)
    j = i = halo                # both faces start at the first halo cell of each field
    cut = (slice(halo, nj - halo), slice(halo, 2 * halo)) if face == "x" else \
        (slice(halo, 2 * halo), slice(halo, ni - halo))
    views, displs = [], []
    for a, start in zip(fields, starts):
        views.append(a[cut] if a.ndim == 2 else a[..., cut[0], :, cut[1]])
        displs.append(int(start) + (j * (ni if a.ndim == 2 else nk * ni) + i) * f4)
    types = [plane] * 2 + [vol] * 3 + [four]
    dt = MPI.Datatype.Create_struct([1] * len(types), displs, types)
    return raw, dt, [plane, row, vol, four], 0, views


def lammps(full, atoms=32768, every=8):
    """LAMMPS's border exchange as DDTBench's lammps_{atomic,full} builds it: one indexed
    block type per per-atom array over the same atom list, joined by a struct."""
    idx = np.sort(np.random.default_rng(8).choice(atoms, atoms // every, replace=False))
    arrays = [("x", np.float64, 3), ("tag", np.int32, 1), ("type", np.int32, 1),
              ("mask", np.int32, 1)]
    if full:
        arrays += [("molecule", np.int32, 1), ("q", np.float64, 1)]
    sizes = [atoms * np.dtype(t).itemsize * w for _, t, w in arrays]
    starts = np.cumsum([0] + [s + 4096 for s in sizes])
    raw = np.ones(int(starts[-1]), np.uint8)
    views, types, parts = [], [], []
    for (_, t, w), start, n in zip(arrays, starts, sizes):
        a = raw[start:start + n].view(t).reshape(atoms, w)
        views.append((a, idx))
        base = MPI.DOUBLE if t is np.float64 else MPI.INT
        types.append(base.Create_indexed_block(w, (idx * w).tolist()))
    dt = MPI.Datatype.Create_struct([1] * len(types), [int(s) for s in starts[:-1]], types)
    return raw, dt, types, 0, views


PATTERNS = {
    "NAS MG x (nz 64)": lambda: mg("x", 64),
    "NAS MG x (nz 256)": lambda: mg("x", 256),
    "NAS MG y (nz 64)": lambda: mg("y", 64),
    "NAS MG y (nz 256)": lambda: mg("y", 256),
    "NAS MG z": lambda: mg("z", 64),
    "NAS MG x small": lambda: mg("x", 64, 64, 64),
    "NAS MG x 34^3": lambda: mg("x", 34, 34, 34),
    "NAS LU x": lambda: lu("x"),
    "NAS LU x 34^3": lambda: lu("x", 34),
    "NAS LU y": lambda: lu("y"),
    "FFT2": fft2,
    "MILC": milc,
    "MILC 8^4": lambda: milc(8),
    "SPECFEM3D mt": specfem_mt,
    "WRF x": lambda: wrf("x"),
    "WRF y": lambda: wrf("y"),
    "LAMMPS atomic": lambda: lammps(False),
    "LAMMPS full": lambda: lammps(True),
    "LAMMPS atomic small": lambda: lammps(False, atoms=8192),
    "LAMMPS full small": lambda: lammps(True, atoms=8192),
}
QUICK = ("NAS MG x (nz 64)", "NAS MG y (nz 64)", "NAS LU x", "FFT2")
MODES = ("mpi", "auto", "pack", "manual")


class Manual:
    """DDTBench's manual path, as an application writes it instead of a datatype: copy the
    pattern's array views into a contiguous buffer (numpy's strided copies; rows picked
    by an index list, an (array, index) pair, with take and put), send and receive
    bytes, copy them back. Buffers are made once, as a program makes them."""

    def __init__(self, views):
        self.views = views
        size = sum(self._nbytes(v) for v in views)
        self.out, self.into = np.empty(size, np.uint8), np.empty(size, np.uint8)
        self.out_parts, self.into_parts = self._parts(self.out), self._parts(self.into)

    @staticmethod
    def _shape(v):
        if isinstance(v, tuple):
            a, idx = v
            return a.dtype, (len(idx),) + a.shape[1:]
        return v.dtype, v.shape

    def _nbytes(self, v):
        dtype, shape = self._shape(v)
        return int(np.prod(shape)) * dtype.itemsize

    def _parts(self, flat):
        parts, at = [], 0
        for v in self.views:
            dtype, shape = self._shape(v)
            n = self._nbytes(v)
            parts.append(flat[at:at + n].view(dtype).reshape(shape))
            at += n
        return parts

    def pack(self):
        for part, v in zip(self.out_parts, self.views):
            if isinstance(v, tuple):
                np.take(v[0], v[1], axis=0, out=part)
            else:
                np.copyto(part, v)

    def unpack(self):
        for part, v in zip(self.into_parts, self.views):
            if isinstance(v, tuple):
                v[0][v[1]] = part
            else:
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
    ap.add_argument("--only", help="the patterns whose names contain this")
    ap.add_argument("--modes", default=",".join(MODES),
                    help="the modes to alternate, of mpi, auto, pack, manual (the MPI and auto "
                         "are always among them): each mode's traffic sets the wire's state "
                         "for the next, which over TCP can slow the mode after it")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    modes = tuple(m for m in MODES if m in set(args.modes.split(",")) | {"mpi", "auto"})
    if set(args.modes.split(",")) - set(MODES):
        ap.error(f"--modes: unknown mode in {args.modes!r}; use {', '.join(MODES)}")
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
        if (args.quick and name not in QUICK) or (args.only and args.only not in name):
            continue
        raw, dt, parts, offset, views = make()
        dt.Commit()
        buf = raw[offset:]
        manual = Manual(views)
        manual.check(raw, buf, dt, comm, ip)
        size = dt.Get_size()
        trips = max(8, min(200, (16 << 20) // size))
        times = {m: [] for m in modes}
        packed = 0
        for rep in range(args.reps):
            for mode in (modes if rep % 2 else modes[::-1]):
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
            row = {"pattern": name, "bytes": size, **{f"{m}_s": med[m] for m in modes},
                   "auto_vs_mpi": med["mpi"] / med["auto"], "auto_packs": auto_packed}
            if "pack" in med:
                row["pack_vs_mpi"] = med["mpi"] / med["pack"]
            if "manual" in med:
                row["auto_vs_manual"] = med["manual"] / med["auto"]
                row["mpi_vs_manual"] = med["manual"] / med["mpi"]
            rows.append(row)
            us = "".join(f"{med[m] * 1e6:>8.0f}u" if m in med else f"{'-':>9}" for m in MODES)
            x = "".join(f"{row[k]:>7.2f}x" if k in row else f"{'-':>8}"
                        for k in ("auto_vs_mpi", "pack_vs_mpi", "auto_vs_manual"))
            print(f"{name:<20}{size / 1024:>8.0f}{us}{x}  {'yes' if auto_packed else 'no'}",
                  flush=True)
        dt.Free()
        for p in parts:
            p.Free()
    if rank == 0 and args.json:
        with open(args.json, "w") as f:
            json.dump({"mpi": MPI.Get_library_version().splitlines()[0], "model": ip.model,
                       "reps": args.reps, "cases": rows}, f, indent=1)


if __name__ == "__main__":
    main()
