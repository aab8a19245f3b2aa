"""`mpicomm measure`, the all-to-alls: each timed as itself, packed and left to the MPI.

The interposer decides for each side of an all-to-all on its own, so each side is timed
on its own: every rank sends each peer a strided layout of b-byte blocks at the least
stride class (max(b + 64, 128 B)) and receives contiguous bytes (the send side), or
the other way round (the receive side). The forms: MPI_Alltoall and MPI_Alltoallv (the
strided type resized to its span), MPI_Alltoallw (byte displacements), and
MPI_Neighbor_alltoallv and Neighbor_alltoallw on a periodic ring (two neighbours). Per
(side, block, bytes per peer): the MPI's own path for the layout built as one vector
and as nested vectors, and the pack method, in rotating order, best of --reps of the
slowest rank. Points whose buffers would span more than 64 MiB per rank are not
measured (NaN). The launcher runs this at 2 ranks (with the point-to-point grid) and,
unless --quick, again at 4 (mpicomm.measure), each run adding its rank count.
"""
import time

import numpy as np
from mpi4py import MPI

FORMS = ("alltoall", "alltoallv", "alltoallw", "neighbor_alltoallv", "neighbor_alltoallw")
SIDES = ("send", "recv")
BLOCKS = (8, 128, 1024, 8192, 65536)
TOTALS = (1 << 16, 1 << 20, 1 << 23)
RANKS = (2, 4)
QUICK_BLOCKS = (8, 4096)
QUICK_TOTALS = (1 << 16, 1 << 20)
QUICK_RANKS = (2,)
VARIANTS = (("passthrough", "passthrough", False), ("passthrough_nested", "passthrough", True),
            ("pack", "pack", False))


def _args(form, n, buf, spec):
    """The buffer argument of one side of form: spec (type, extent, count per peer)."""
    dt, extent, count = spec
    if form == "alltoall":
        return [buf, count, dt]
    displs = list(range(n)) if count == 1 else [i * count for i in range(n)]
    if form in ("alltoallv", "neighbor_alltoallv"):
        return [buf, ([count] * n, displs), dt]
    return [buf, ([count] * n, [i * extent for i in range(n)]), [dt] * n]


def _call(comm, ring, form, dt, extent, sbuf, rbuf, side="send"):
    """The collective of form: side ("send" or "recv") moves dt (extent bytes) per peer,
    the other side the same bytes contiguous (MPI_BYTE)."""
    plain = (MPI.BYTE, dt.Get_size(), dt.Get_size())
    strided = (dt, extent, 1)
    s, r = (strided, plain) if side == "send" else (plain, strided)
    c = ring if form.startswith("neighbor") else comm
    n = 2 if form.startswith("neighbor") else comm.Get_size()
    call = getattr(c, form[0].upper() + form[1:])          # Alltoall, Neighbor_alltoallv...
    sa, ra = _args(form, n, sbuf, s), _args(form, n, rbuf, r)
    return lambda: call(sa, ra)


def measure(comm, ip, reps, quick, log=None):
    """{side: {form: {variant: [nb, ns] seconds}}} at comm's size, with "blocks" and
    "totals"."""
    from mpicomm.measure import SPAN_CAP, _best, _span, _trips, _vector    # its grid's own
    blocks, totals = (QUICK_BLOCKS, QUICK_TOTALS) if quick else (BLOCKS, TOTALS)
    n = comm.Get_size()
    ring = comm.Create_cart([n], periods=[True])
    out = {side: {form: {name: np.full((len(blocks), len(totals)), np.nan)
                         for name, _, _ in VARIANTS} for form in FORMS} for side in SIDES}
    started = time.time()
    for i, b in enumerate(blocks):
        for j, s in enumerate(totals):
            extent = _span(b, s)
            if extent * max(n, 2) > SPAN_CAP:
                continue
            types = {nested: _vector(b, s, nested=nested).Create_resized(0, extent).Commit()
                     for nested in (False, True)}
            strided = np.ones(extent * max(n, 2), np.uint8)   # real pages, not the zero page
            plain = np.ones(s * max(n, 2), np.uint8)
            k = max(1, _trips(s * n) // 4)
            for side in SIDES:
                sbuf, rbuf = (strided, plain) if side == "send" else (plain, strided)
                for form in FORMS:
                    calls = {nested: _call(comm, ring, form, dt, extent, sbuf, rbuf, side)
                             for nested, dt in types.items()}
                    best = out[side][form]
                    for rep in range(reps):
                        r = rep % len(VARIANTS)
                        for name, method, nested in VARIANTS[r:] + VARIANTS[:r]:
                            fn = calls[nested]
                            with ip.method(method):
                                t = _best(comm, lambda: [fn() for _ in range(k)], 1) / k
                            best[name][i, j] = np.fmin(best[name][i, j], t)
            for dt in types.values():
                dt.Free()
        if log and comm.Get_rank() == 0:
            log(f"all-to-alls at {n} ranks, blocks of {b} B done ({time.time() - started:.0f} s)")
    ring.Free()
    out["blocks"], out["totals"] = blocks, totals
    return out


def write(f, measured, ranks):
    """Add one rank count's tables to the open HDF5 file f (made by the first run)."""
    blocks, totals = measured["blocks"], measured["totals"]
    tables = {f"collective/{side}/{form}/{name}": t for side in SIDES
              for form, by_name in measured[side].items() for name, t in by_name.items()}
    if "collective/ranks" not in f:
        f["collective/block_bytes"] = np.array(blocks, np.int64)
        f["collective/total_bytes"] = np.array(totals, np.int64)
        f["collective/ranks"] = np.array([ranks], np.int64)
        for key, t in tables.items():
            f[key] = t[:, None, :]
        return
    have = [int(r) for r in f["collective/ranks"][()]]
    if ranks in have:
        raise ValueError(f"the all-to-alls at {ranks} ranks are in the file already")
    if list(f["collective/block_bytes"][()]) != list(blocks) or \
            list(f["collective/total_bytes"][()]) != list(totals):
        raise ValueError("the all-to-alls were measured on another grid")
    order = sorted(have + [ranks])
    at = order.index(ranks)
    del f["collective/ranks"]
    f["collective/ranks"] = np.array(order, np.int64)
    for key, t in tables.items():
        old = f[key][()]
        del f[key]
        f[key] = np.insert(old, at, t, axis=1)
