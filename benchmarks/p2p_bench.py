#!/usr/bin/env python3
"""Point-to-point with derived types, side by side in one run: the MPI's own derived-type
path against the interposer's pack method.

    mpicomm run -n 2 -- python benchmarks/p2p_bench.py [--reps 7] [--quick] [--json out.json]

Ping-pong of one element of each type of the pack suite (benchmarks/pack_bench.py)
between ranks 0 and 1, and the 3D halo exchange of examples/halo3d.py at 256^3 per
rank (6 neighbours, ghost widths 1 and 2). "MPI" is the interposer switched to
pass-through, "pack" is MPICOMM_METHOD=pack; both ranks switch together,
repetitions alternate which goes first, and each figure is the best of --reps.
"""
import argparse
import ctypes
import json
import math
import os
import sys
import time

import numpy as np
from mpi4py import MPI

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))
import halo3d       # noqa: E402
import pack_bench   # noqa: E402


class Modes:
    def __init__(self):
        self.lib = ctypes.CDLL(None)
        try:
            self.lib.mpicomm_interposer_set_method
        except AttributeError:
            sys.exit("p2p_bench: the interposer is not preloaded; run it with `mpicomm run -n 2 --`")
        self.lib.mpicomm_interposer_set_method.restype = ctypes.c_char_p

    def use(self, mode):
        self.lib.mpicomm_interposer_set_enabled(0 if mode == "mpi" else 1)
        self.lib.mpicomm_interposer_set_method(b"pack")


def best_of(comm, modes, reps, fn):
    """{mode: best seconds} with the two modes alternating, both ranks in step."""
    best = {"mpi": math.inf, "pack": math.inf}
    for rep in range(reps):
        for mode in (("mpi", "pack") if rep % 2 else ("pack", "mpi")):
            modes.use(mode)
            comm.Barrier()
            t = time.perf_counter()
            fn()
            best[mode] = min(best[mode], comm.allreduce(time.perf_counter() - t, op=MPI.MAX))
    modes.use("auto")
    return best


def pingpong(comm, dt, buf, trips):
    peer = 1 - comm.Get_rank()
    for _ in range(trips):
        if comm.Get_rank() == 0:
            comm.Send([buf, 1, dt], peer, 0)
            comm.Recv([buf, 1, dt], peer, 0)
        else:
            comm.Recv([buf, 1, dt], peer, 0)
            comm.Send([buf, 1, dt], peer, 0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7, help="repetitions, best kept (default 7)")
    ap.add_argument("--quick", action="store_true", help="smaller arrays")
    ap.add_argument("--json", help="also write the results to this file (rank 0)")
    args = ap.parse_args(argv)
    comm = MPI.COMM_WORLD
    if comm.Get_size() != 2:
        sys.exit("p2p_bench: run on exactly 2 ranks")
    modes = Modes()
    rank0 = comm.Get_rank() == 0
    rows = []
    vendor = "".join(ch for ch in MPI.Get_library_version().split("\n")[0] if ch.isprintable())
    if rank0:
        print(f"# {vendor.strip()}; 2 ranks; best of {args.reps}")
        print(f"{'case':<24}{'block':>7}{'MB':>8}{'MPI us':>11}{'pack us':>11}{'ratio':>8}")
    for name, shape, dt in pack_bench.cases(args.quick):
        dt.Commit()
        a = np.random.default_rng(comm.Get_rank()).random(int(np.prod(shape)))
        block = pack_bench.describe(dt).counts[0]
        trips = max(1, int(2e6 // max(dt.Get_size(), 1)))
        t = best_of(comm, modes, args.reps, lambda: pingpong(comm, dt, a, trips))
        rows.append({"case": f"ping-pong {name}", "block": block, "bytes": dt.Get_size(),
                     "mpi_us": t["mpi"] / trips * 1e6, "pack_us": t["pack"] / trips * 1e6})
        dt.Free()
        if rank0:
            r = rows[-1]
            print(f"{r['case']:<24}{block:>7}{r['bytes'] / 1e6:>8.2f}{r['mpi_us']:>11.1f}"
                  f"{r['pack_us']:>11.1f}{r['mpi_us'] / r['pack_us']:>7.2f}x", flush=True)
    n = 64 if args.quick else 256
    for g in (1, 2):
        halo = halo3d.Halo(comm, n, g, 6)
        halo.exchange()
        t = best_of(comm, modes, args.reps, halo.exchange)
        if not halo.check():
            sys.exit("p2p_bench: halo exchange produced wrong ghost cells")
        rows.append({"case": f"halo3d {n}^3 ghost {g}", "block": g * 8, "bytes": 0,
                     "mpi_us": t["mpi"] * 1e6, "pack_us": t["pack"] * 1e6})
        halo.free()
        if rank0:
            r = rows[-1]
            print(f"{r['case']:<24}{r['block']:>7}{'':>8}{r['mpi_us']:>11.1f}"
                  f"{r['pack_us']:>11.1f}{r['mpi_us'] / r['pack_us']:>7.2f}x", flush=True)
    for r in rows:
        r["ratio"] = r["mpi_us"] / r["pack_us"]
    geo = math.exp(sum(math.log(r["ratio"]) for r in rows) / len(rows))
    small = [r["ratio"] for r in rows if r["case"].startswith("ping") and r["block"] <= 64]
    geo_small = math.exp(sum(map(math.log, small)) / len(small))
    if rank0:
        print(f"geometric mean {geo:.2f}x; blocks <= 64 B {geo_small:.2f}x; "
              f"lowest {min(r['ratio'] for r in rows):.2f}x")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"mpi": vendor.strip(), "reps": args.reps, "geomean": geo,
                           "geomean_small_blocks": geo_small, "cases": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
