#!/usr/bin/env python3
"""Application datatypes (the patterns of DDTBench, written here) side by side in one run:
the MPI's own derived-type path, the interposer's table form (its choice, auto, and the
pack method forced), and the pack a user writes by hand (numpy gathers by a precomputed
index, the fastest loop Python offers).

    mpicomm run -n 2 -- python benchmarks/app_types_bench.py [--reps 9] [--json out.json]

Patterns: several fields of a 64^3 grid in one struct type (two float64 and one float32
x faces: WRF); a particle list, positions and velocities of every third of 100,000
particles by displacement table (LAMMPS); an unstructured mesh's boundary, 20,000 runs of
1 to 8 floats at irregular offsets (SPECFEM3D). For each: MPI_Pack of one element (rank
0; MPI, interposer, by hand) and a 2-rank ping-pong (MPI, auto, pack). Medians of --reps,
the variants alternating.
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


def grid(n=64):
    raw = np.zeros(2 * n ** 3 * 8 + n ** 3 * 4, np.uint8)
    f64 = raw[:2 * n ** 3 * 8].view(np.float64).reshape(2, n, n, n)
    f32 = raw[2 * n ** 3 * 8:].view(np.float32).reshape(n, n, n)
    face = [dt.Create_subarray([n] * 3, [n, n, 1], [0, 0, 1])
            for dt in (MPI.DOUBLE, MPI.DOUBLE, MPI.FLOAT)]
    dt = MPI.Datatype.Create_struct([1, 1, 1], [0, n ** 3 * 8, 2 * n ** 3 * 8], face)

    def by_hand(out):
        k = n * n * 8
        out[:k].view(np.float64)[:] = f64[0, :, :, 1].ravel()
        out[k:2 * k].view(np.float64)[:] = f64[1, :, :, 1].ravel()
        out[2 * k:].view(np.float32)[:] = f32[:, :, 1].ravel()
    return raw, dt, face, by_hand


def particles(n=100_000):
    pick = np.arange(0, n, 3)
    raw = np.zeros(2 * n * 24, np.uint8)
    arr = raw.view(np.float64).reshape(2, n, 3)
    xyz = MPI.DOUBLE.Create_contiguous(3)
    pos = xyz.Create_hindexed_block(1, [int(i) * 24 for i in pick])
    vel = xyz.Create_hindexed_block(1, [n * 24 + int(i) * 24 for i in pick])
    dt = MPI.Datatype.Create_struct([1, 1], [0, 0], [pos, vel])

    def by_hand(out):
        o = out.view(np.float64).reshape(2, len(pick), 3)
        np.take(arr[0], pick, axis=0, out=o[0])
        np.take(arr[1], pick, axis=0, out=o[1])
    return raw, dt, [xyz, pos, vel], by_hand


def boundary(runs=20_000, seed=0):
    rng = np.random.default_rng(seed)
    lens = rng.integers(1, 9, runs)
    gaps = rng.integers(1, 40, runs)
    starts = np.cumsum(gaps + np.concatenate([[0], lens[:-1]]))
    n = int(starts[-1] + lens[-1] + 1)
    raw = np.zeros(n * 4, np.uint8)
    a = raw.view(np.float32)
    idx = np.concatenate([np.arange(s, s + ln) for s, ln in zip(starts, lens)])
    dt = MPI.FLOAT.Create_indexed([int(x) for x in lens], [int(x) for x in starts])

    def by_hand(out):
        np.take(a, idx, out=out.view(np.float32))
    return raw, dt, [], by_hand


PATTERNS = {"grid fields (WRF)": grid, "particles (LAMMPS)": particles,
            "mesh boundary (SPECFEM3D)": boundary}


def timed(fn, n):
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    comm, ip = MPI.COMM_WORLD, Interposer()
    rank = comm.Get_rank()
    if comm.Get_size() != 2:
        sys.exit("app_types_bench: run on 2 ranks")
    rows = []
    if rank == 0:
        print(f"# {MPI.Get_library_version().splitlines()[0]}; medians of {args.reps}")
        print(f"{'pattern':<28}{'MB':>7}{'pack MPI':>10}{'ours':>8}{'hand':>8}{'x MPI':>7}"
              f"{'x hand':>8}{'pp MPI':>9}{'auto':>8}{'pack':>8}{'auto x':>8}")
    for name, make in PATTERNS.items():
        raw, dt, extra, by_hand = make()
        dt.Commit()
        raw[:] = np.arange(raw.size) % 251
        size = dt.Get_size()
        out = np.zeros(size, np.uint8)
        n = max(1, (8 << 20) // size)
        t = {"mpi": [], "ours": [], "hand": []}

        def mpi_pack():
            dt.Pack(raw, out, 0, MPI.COMM_SELF)
        if rank == 0:
            expect = bytearray(size)
            with ip.disabled():
                dt.Pack(raw, expect, 0, MPI.COMM_SELF)
            dt.Pack(raw, out, 0, MPI.COMM_SELF)
            assert out.tobytes() == bytes(expect), name
            by_hand(out)
            assert out.tobytes() == bytes(expect), name + " (by hand)"
            for rep in range(args.reps):
                for which in (["mpi", "ours", "hand"] if rep % 2 else ["hand", "ours", "mpi"]):
                    if which == "mpi":
                        with ip.disabled():
                            t[which].append(timed(mpi_pack, n))
                    elif which == "ours":
                        t[which].append(timed(mpi_pack, n))
                    else:
                        t[which].append(timed(lambda: by_hand(out), n))
        pp = {"mpi": [], "auto": [], "pack": []}
        trips = max(2, (4 << 20) // size)
        for rep in range(args.reps):
            for which in (["mpi", "auto", "pack"] if rep % 2 else ["pack", "auto", "mpi"]):
                comm.Barrier()
                if which == "mpi":
                    with ip.disabled():
                        s = timed(lambda: pingpong(comm, dt, raw, trips), 1)
                else:
                    with ip.method(which):
                        s = timed(lambda: pingpong(comm, dt, raw, trips), 1)
                pp[which].append(comm.allreduce(s, op=MPI.MAX) / trips / 2)
        if rank == 0:
            med = {k: statistics.median(v) for k, v in {**t, **{"pp_" + k: v
                                                               for k, v in pp.items()}}.items()}
            row = {"pattern": name, "bytes": size, "pack_mpi_s": med["mpi"],
                   "pack_ours_s": med["ours"], "pack_hand_s": med["hand"],
                   "pack_vs_mpi": med["mpi"] / med["ours"],
                   "pack_vs_hand": med["hand"] / med["ours"],
                   "pingpong_mpi_s": med["pp_mpi"], "pingpong_auto_s": med["pp_auto"],
                   "pingpong_pack_s": med["pp_pack"],
                   "auto_vs_mpi": med["pp_mpi"] / med["pp_auto"],
                   "pack_method_vs_mpi": med["pp_mpi"] / med["pp_pack"]}
            rows.append(row)
            print(f"{name:<28}{size / 1e6:>7.2f}{med['mpi'] * 1e6:>9.0f}u{med['ours'] * 1e6:>7.0f}u"
                  f"{med['hand'] * 1e6:>7.0f}u{row['pack_vs_mpi']:>6.2f}x"
                  f"{row['pack_vs_hand']:>7.2f}x{med['pp_mpi'] * 1e6:>8.0f}u"
                  f"{med['pp_auto'] * 1e6:>7.0f}u{med['pp_pack'] * 1e6:>7.0f}u"
                  f"{row['auto_vs_mpi']:>7.2f}x")
        dt.Free()
        for x in extra:
            x.Free()
    if rank == 0 and args.json:
        with open(args.json, "w") as f:
            json.dump({"mpi": MPI.Get_library_version().splitlines()[0], "reps": args.reps,
                       "cases": rows}, f, indent=1)


if __name__ == "__main__":
    main()
