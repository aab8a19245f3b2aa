#!/usr/bin/env python3
"""Point-to-point with derived types, side by side in one run: the MPI's own derived-type
path against the interposer's pack method, its model-chosen (auto) method and its
pipelined method.

    mpicomm measure -o model.h5
    MPICOMM_MODEL=model.h5 mpicomm run -n 2 -- python benchmarks/p2p_bench.py \
        [--reps 7] [--quick] [--json out.json]

Ping-pong of one element of each type of the pack suite (benchmarks/pack_bench.py)
between ranks 0 and 1, and the 3D halo exchange of examples/halo3d.py at 256^3 per
rank (6 neighbours, ghost widths 1 and 2, Isend/Irecv, MPI_Neighbor_alltoallw,
persistent requests started each exchange, and Isend/Irecv on a communicator
asserting exact lengths and no wildcards, where auto may pipeline). A persistent
request keeps the method it was made under, so each mode has requests of its own.
"MPI" is the interposer switched to pass-through, "pack" is MPICOMM_METHOD=pack,
"auto" the model's choice (the model the interposer loaded at MPI_Init; "packed"
is the share of auto's calls the model sent packed, "piped" pipelined), "pipe"
MPICOMM_METHOD=pipeline (messages of two chunks or more chunk by chunk, smaller
ones as auto: every exchange here keeps its contract); both ranks switch together,
repetitions rotate which goes first, and each figure is the best of --reps.
"""
import argparse
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
from mpicomm.interposer import Interposer  # noqa: E402


MODES = ("mpi", "pack", "auto", "pipeline")


def use(ip, mode):
    ip.set_enabled(mode != "mpi")
    ip.set_method("auto" if mode == "mpi" else mode)


def best_of(comm, ip, reps, fn):
    """{mode: best seconds} of fn(mode), the modes in rotating order, both ranks in step; also
    "auto_packed" and "auto_piped": the shares of auto's calls (both ranks) that the
    model packed and pipelined."""
    best = dict.fromkeys(MODES, math.inf)
    packed = passed = piped = 0
    for rep in range(reps):
        k = rep % len(MODES)
        for mode in MODES[k:] + MODES[:k]:
            use(ip, mode)
            before = (ip.stat("method_pack"), ip.stat("method_passthrough"),
                      ip.stat("method_pipeline"))
            comm.Barrier()
            t = time.perf_counter()
            fn(mode)
            best[mode] = min(best[mode], comm.allreduce(time.perf_counter() - t, op=MPI.MAX))
            if mode == "auto":
                packed += ip.stat("method_pack") - before[0]
                passed += ip.stat("method_passthrough") - before[1]
                piped += ip.stat("method_pipeline") - before[2]
    use(ip, "auto")
    packed, passed, piped = (comm.allreduce(v) for v in (packed, passed, piped))
    best["auto_packed"] = packed / max(packed + passed + piped, 1)
    best["auto_piped"] = piped / max(packed + passed + piped, 1)
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


def row(rank0, name, block, nbytes, t, scale):
    r = {"case": name, "block": block, "bytes": nbytes}
    for mode in MODES:
        r[f"{mode}_us"] = t[mode] * scale * 1e6
    r["ratio"] = r["mpi_us"] / r["pack_us"]
    r["auto_ratio"] = r["mpi_us"] / r["auto_us"]
    r["pipeline_ratio"] = r["mpi_us"] / r["pipeline_us"]
    r["auto_packed"] = t["auto_packed"]
    r["auto_piped"] = t["auto_piped"]
    if rank0:
        mb = f"{nbytes / 1e6:.2f}" if nbytes else ""
        print(f"{name:<32}{block:>7}{mb:>8}{r['mpi_us']:>10.1f}{r['pack_us']:>10.1f}"
              f"{r['auto_us']:>10.1f}{r['pipeline_us']:>10.1f}{r['ratio']:>7.2f}x"
              f"{r['auto_ratio']:>7.2f}x{r['pipeline_ratio']:>7.2f}x"
              f"{100 * r['auto_packed']:>8.0f}%{100 * r['auto_piped']:>7.0f}%", flush=True)
    return r


def geomean(values):
    values = list(values)
    if not values:
        return math.nan         # no case of that kind was run (--case)
    return math.exp(sum(map(math.log, values)) / len(values))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7, help="repetitions, best kept (default 7)")
    ap.add_argument("--quick", action="store_true", help="smaller arrays")
    ap.add_argument("--json", help="also write the results to this file (rank 0)")
    ap.add_argument("--case", action="append", default=[],
                    help="run only the cases whose name contains this text (repeatable)")
    args = ap.parse_args(argv)
    comm = MPI.COMM_WORLD
    if comm.Get_size() != 2:
        sys.exit("p2p_bench: run on exactly 2 ranks")
    try:
        ip = Interposer()
    except RuntimeError as exc:
        sys.exit(f"p2p_bench: {exc}")
    rank0 = comm.Get_rank() == 0
    rows = []
    vendor = "".join(ch for ch in MPI.Get_library_version().split("\n")[0] if ch.isprintable())
    if rank0:
        print(f"# {vendor.strip()}; 2 ranks; best of {args.reps}; model: {ip.model}")
        print(f"{'case':<32}{'block':>7}{'MB':>8}{'MPI us':>10}{'pack us':>10}{'auto us':>10}"
              f"{'pipe us':>10}{'pack':>8}{'auto':>8}{'pipe':>8}{'packed':>9}{'piped':>8}")
    def wanted(name):
        return not args.case or any(c in name for c in args.case)

    for name, shape, dt in pack_bench.cases(args.quick):
        if not wanted(f"ping-pong {name}"):
            dt.Free()
            continue
        dt.Commit()
        a = np.random.default_rng(comm.Get_rank()).random(int(np.prod(shape)))
        block = pack_bench.describe(dt).counts[0]
        trips = max(4, int(2e6 // max(dt.Get_size(), 1)))   # 4 round trips at least
        t = best_of(comm, ip, args.reps, lambda mode: pingpong(comm, dt, a, trips))
        rows.append(row(rank0, f"ping-pong {name}", block, dt.Get_size(), t, 1 / trips))
        dt.Free()
    n = 64 if args.quick else 256
    for collective, asserted in ((False, False), (True, False), (False, True)):
        for g in (1, 2):
            kind = "alltoallw" if collective else "isend asserted" if asserted else "isend"
            if not wanted(f"halo3d {n}^3 g{g} {kind}"):
                continue
            halo = halo3d.Halo(comm, n, g, 6, collective, asserted)
            halo.exchange()
            t = best_of(comm, ip, args.reps, lambda mode: halo.exchange())
            if not halo.check():
                sys.exit("p2p_bench: halo exchange produced wrong ghost cells")
            rows.append(row(rank0, f"halo3d {n}^3 g{g} {kind}", g * 8, 0, t, 1))
            halo.free()
    for g in (1, 2):
        if not wanted(f"halo3d {n}^3 g{g} persistent"):
            continue
        halos = {}
        for mode in MODES:
            use(ip, mode)
            before = ip.stat("method_pack"), ip.stat("method_passthrough")
            halos[mode] = halo3d.Halo(comm, n, g, 6, persistent=True)
            if mode == "auto":     # a persistent request's method is chosen at its init
                packed = comm.allreduce(ip.stat("method_pack") - before[0])
                passed = comm.allreduce(ip.stat("method_passthrough") - before[1])
            halos[mode].exchange()
        use(ip, "auto")
        t = best_of(comm, ip, args.reps, lambda mode: halos[mode].exchange())
        t["auto_packed"], t["auto_piped"] = packed / max(packed + passed, 1), 0.0
        if not all(h.check() for h in halos.values()):
            sys.exit("p2p_bench: persistent halo exchange produced wrong ghost cells")
        rows.append(row(rank0, f"halo3d {n}^3 g{g} persistent", g * 8, 0, t, 1))
        for h in halos.values():
            h.free()
    small = [r for r in rows if r["case"].startswith("ping") and r["block"] <= 64]
    halos = [r for r in rows if r["case"].startswith("halo") and "asserted" not in r["case"]]
    summary = {
        "geomean_pack": geomean(r["ratio"] for r in rows),
        "geomean_auto": geomean(r["auto_ratio"] for r in rows),
        "geomean_small_blocks_auto": geomean(r["auto_ratio"] for r in small),
        "halo_auto": geomean(r["auto_ratio"] for r in halos),
        "lowest_auto": min((r["auto_ratio"] for r in rows), default=math.nan),
        "geomean_pipeline": geomean(r["pipeline_ratio"] for r in rows),
        "halo_pipeline": geomean(r["pipeline_ratio"] for r in halos),
        "lowest_pipeline": min((r["pipeline_ratio"] for r in rows), default=math.nan),
    }
    if rank0:
        print(f"auto: geometric mean {summary['geomean_auto']:.2f}x, blocks <= 64 B "
              f"{summary['geomean_small_blocks_auto']:.2f}x, halo {summary['halo_auto']:.2f}x, "
              f"lowest {summary['lowest_auto']:.2f}x; pack: geometric mean "
              f"{summary['geomean_pack']:.2f}x; pipeline: geometric mean "
              f"{summary['geomean_pipeline']:.2f}x, halo {summary['halo_pipeline']:.2f}x, "
              f"lowest {summary['lowest_pipeline']:.2f}x")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"mpi": vendor.strip(), "reps": args.reps, "model": ip.model,
                           **summary, "cases": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
