#!/usr/bin/env python3
"""Host MPI_Pack throughput, side by side in one run: the interposer vs the MPI itself.

Run with the interposer preloaded (one rank is enough):

    mpicomm run -n 1 -- python benchmarks/pack_bench.py [--reps 7] [--json out.json]

Each case packs one element of a derived type with mpi4py's Datatype.Pack
(MPI_Pack_c / MPI_Pack). The "MPI" column is the same call with the interposer
switched to pass-through (mpicomm_interposer_set_enabled(0)), so both columns
come from one process, the same buffers and alternating repetitions (the order
of the three timed calls runs through all six permutations, so that none always
follows another); each figure is the best of --reps.

Two yardsticks per case: "copy" is a memcpy of the same number of packed bytes
from a contiguous source, timed in the same alternation (the copy bound: a pack
reads and writes at least that much); "bound" is the throughput a copy would
reach if it moved only the cache lines the type touches (64 B each) plus the
packed bytes, at the memcpy bandwidth measured at the start of the run.
"""
import argparse
import ctypes
import itertools
import json
import math
import sys
import time

import numpy as np
from mpi4py import MPI

from mpicomm.datatypes import describe

LINE = 64
ORDERS = list(itertools.permutations((0, 1, 2)))     # the MPI's pack, ours, the copy


def cases(quick=False):
    n = 128 if quick else 256
    a_shape = [n, n, n]
    d = MPI.DOUBLE
    m = 66 if quick else 130
    nb = 8192 if quick else 65536
    yield "a[:,:,0]", a_shape, d.Create_subarray(a_shape, [n, n, 1], [0, 0, 0])
    yield "a[:,:,0:2]", a_shape, d.Create_subarray(a_shape, [n, n, 2], [0, 0, 0])
    yield "a[:,:,-4:]", a_shape, d.Create_subarray(a_shape, [n, n, 4], [0, 0, n - 4])
    yield "a[:,0,:]", a_shape, d.Create_subarray(a_shape, [n, 1, n], [0, 0, 0])
    yield f"{m - 2}^3 interior", [m] * 3, d.Create_subarray([m] * 3, [m - 2] * 3, [1] * 3)
    for bl in (1, 4, 16, 64, 256):
        yield f"bytes 512/{bl}", [nb * 512 // 8], MPI.BYTE.Create_vector(nb, bl, 512)
    inner = d.Create_vector(8, 2, 4)
    yield "hvector(vector)", [nb * 512 // 8], inner.Create_hvector(nb, 1, 512)
    h = n // 2
    yield f"{h}^3 of {n}^3", a_shape, d.Create_subarray(a_shape, [h] * 3, [h // 2] * 3)
    yield "hvector(vector) 8B", [nb * 512 // 8], d.Create_vector(8, 1, 2).Create_hvector(nb, 1, 512)
    ints = [n, n, 3 * n]
    yield "int a[:,:,0:3]", ints, MPI.INT.Create_subarray(ints, [n, n, 3], [0, 0, 0])


def lines_touched(desc):
    """Distinct 64-byte lines read by one element (blocks walked in order)."""
    counts, strides = desc.counts, desc.strides
    starts = np.array([desc.start], dtype=np.int64)
    for c, s in zip(counts[1:], strides[1:]):
        starts = (starts[None, :] + (np.arange(c, dtype=np.int64) * s)[:, None]).ravel()
    first = starts // LINE
    last = (starts + counts[0] - 1) // LINE
    if counts[0] <= LINE:
        lines = np.unique(np.concatenate([first, last]))
        return len(lines)
    return int(np.sum(last - first + 1))


def _page_aligned(size):
    """size bytes starting on a page, so that every side writes at the same offset from
    the source's pages (a store 4 KiB apart from a load slows it, whichever side has it)."""
    room = np.ones(size + 4096, np.uint8)
    skip = -room.ctypes.data % 4096
    return room[skip:skip + size]


def copy_bandwidth(nbytes=256 << 20, reps=5):
    src = np.ones(nbytes, dtype=np.uint8)
    dst = np.empty_like(src)
    best = min(_timed(lambda: np.copyto(dst, src)) for _ in range(reps))
    return nbytes / best


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7, help="repetitions, best kept (default 7)")
    ap.add_argument("--quick", action="store_true", help="smaller arrays (for make demo)")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--case", action="append", default=[],
                    help="run only the cases whose name contains this text (repeatable)")
    args = ap.parse_args(argv)

    lib = ctypes.CDLL(None)
    try:
        lib.mpicomm_interposer_set_enabled
    except AttributeError:
        sys.exit("pack_bench: the interposer is not preloaded; run it with `mpicomm run -n 1 --`")
    lib.mpicomm_interposer_stat.restype = ctypes.c_longlong

    bw = copy_bandwidth()
    comm = MPI.COMM_WORLD
    rows = []
    vendor = "".join(ch for ch in MPI.Get_library_version().split("\n")[0] if ch.isprintable())
    vendor = vendor.strip()
    print(f"# {vendor}; memcpy bandwidth {bw / 1e9:.1f} GB/s; best of {args.reps}")
    head = (f"{'case':<20}{'block':>7}{'MB':>8}{'MPI GB/s':>10}{'mpicomm':>10}{'ratio':>8}"
            f"{'copy':>8}{'of copy':>9}{'bound':>8}{'of bound':>10}")
    print(head)
    for name, shape, dt in cases(args.quick):
        if args.case and not any(c in name for c in args.case):
            dt.Free()
            continue
        dt.Commit()
        desc = describe(dt)
        a = np.random.default_rng(0).random(int(np.prod(shape)))
        view = memoryview(a).cast("B")[:dt.Get_extent()[1]]
        size = dt.Get_size()
        out_fast, out_real, out_copy = _page_aligned(size), _page_aligned(size), _page_aligned(size)
        contiguous = np.frombuffer(a, np.uint8)[-size:]
        fast_before = lib.mpicomm_interposer_stat(b"pack_fast")
        t_fast, t_real, t_copy = math.inf, math.inf, math.inf
        for rep in range(args.reps):
            for side in ORDERS[rep % len(ORDERS)]:     # each side first, middle and last
                lib.mpicomm_interposer_set_enabled(int(side == 1))
                if side == 1:
                    t_fast = min(t_fast, _timed(lambda: dt.Pack(view, out_fast, 0, comm)))
                elif side == 0:
                    t_real = min(t_real, _timed(lambda: dt.Pack(view, out_real, 0, comm)))
                else:
                    t_copy = min(t_copy, _timed(lambda: np.copyto(out_copy, contiguous)))
            lib.mpicomm_interposer_set_enabled(1)
        took_fast = lib.mpicomm_interposer_stat(b"pack_fast") - fast_before
        if not np.array_equal(out_fast, out_real):
            sys.exit(f"pack_bench: {name}: packed bytes differ from the MPI's")
        lines = lines_touched(desc)
        t_bound = (lines * LINE + size) / (2 * bw)
        row = {"case": name, "block": desc.counts[0], "bytes": size,
               "mpi_gbs": size / t_real / 1e9, "mpicomm_gbs": size / t_fast / 1e9,
               "ratio": t_real / t_fast, "copy_gbs": size / t_copy / 1e9,
               "bound_gbs": size / t_bound / 1e9, "fast_path": took_fast == args.reps}
        row["of_copy"] = t_copy / t_fast
        row["of_bound"] = row["mpicomm_gbs"] / row["bound_gbs"]
        rows.append(row)
        print(f"{name:<20}{row['block']:>7}{size / 1e6:>8.2f}{row['mpi_gbs']:>10.2f}"
              f"{row['mpicomm_gbs']:>10.2f}{row['ratio']:>7.2f}x{row['copy_gbs']:>8.2f}"
              f"{row['of_copy']:>9.0%}{row['bound_gbs']:>8.2f}"
              f"{row['of_bound']:>9.0%}" + ("" if row["fast_path"] else "  (passed through)"))
        dt.Free()
    geo = math.exp(sum(math.log(r["ratio"]) for r in rows) / len(rows))
    worst = min(rows, key=lambda r: r["ratio"])
    print(f"geometric mean ratio {geo:.2f}x; lowest {worst['ratio']:.2f}x ({worst['case']})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"mpi": vendor, "memcpy_gbs": bw / 1e9, "reps": args.reps,
                       "geomean": geo, "cases": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
