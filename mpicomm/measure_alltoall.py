"""`mpicomm measure`, the all-to-alls: each timed as itself, packed and left to the MPI.

Every rank sends each peer a strided layout of b-byte blocks at the least stride class
(max(b + 64, 128 B)), the same type on both sides: MPI_Alltoall and MPI_Alltoallv with
the type resized to its span, MPI_Alltoallw with byte displacements, and
MPI_Neighbor_alltoallv and Neighbor_alltoallw on a periodic ring (two neighbours). Per
(block, bytes per peer), the MPI's own path for the layout built as one vector and as
nested vectors, and the pack method, in rotating order, best of --reps of the slowest
rank. Points whose buffers would span more than 64 MiB per rank are not measured (NaN).
The launcher runs this at 2 ranks (with the point-to-point grid) and, unless --quick,
again at 4 (mpicomm.measure), each run adding its rank count to the tables.
"""
import time

import numpy as np


FORMS = ("alltoall", "alltoallv", "alltoallw", "neighbor_alltoallv", "neighbor_alltoallw")
BLOCKS = (8, 256, 4096, 32768)
TOTALS = (1 << 16, 1 << 20, 1 << 23)
RANKS = (2, 4)
QUICK_BLOCKS = (8, 4096)
QUICK_TOTALS = (1 << 16, 1 << 20)
QUICK_RANKS = (2,)
VARIANTS = (("passthrough", "passthrough", False), ("passthrough_nested", "passthrough", True),
            ("pack", "pack", False))


def _call(comm, ring, form, dt, nbytes, sbuf, rbuf):
    """The collective of form moving dt (extent nbytes) to every peer."""
    n = comm.Get_size()
    if form == "alltoall":
        return lambda: comm.Alltoall([sbuf, 1, dt], [rbuf, 1, dt])
    if form == "alltoallv":
        counts, displs = [1] * n, list(range(n))
        return lambda: comm.Alltoallv([sbuf, (counts, displs), dt], [rbuf, (counts, displs), dt])
    if form == "alltoallw":
        counts, displs, types = [1] * n, [i * nbytes for i in range(n)], [dt] * n
        return lambda: comm.Alltoallw([sbuf, (counts, displs), types],
                                      [rbuf, (counts, displs), types])
    if form == "neighbor_alltoallv":
        return lambda: ring.Neighbor_alltoallv([sbuf, ([1, 1], [0, 1]), dt],
                                               [rbuf, ([1, 1], [0, 1]), dt])
    counts, displs, types = [1, 1], [0, nbytes], [dt, dt]
    return lambda: ring.Neighbor_alltoallw([sbuf, (counts, displs), types],
                                           [rbuf, (counts, displs), types])


def measure(comm, ip, reps, quick, log=None):
    """{form: {variant: [nb, ns] seconds}} at comm's size, with "blocks" and "totals"."""
    from mpicomm.measure import SPAN_CAP, _best, _span, _trips, _vector    # its grid's own
    blocks, totals = (QUICK_BLOCKS, QUICK_TOTALS) if quick else (BLOCKS, TOTALS)
    n = comm.Get_size()
    ring = comm.Create_cart([n], periods=[True])
    out = {form: {name: np.full((len(blocks), len(totals)), np.nan) for name, _, _ in VARIANTS}
           for form in FORMS}
    started = time.time()
    for i, b in enumerate(blocks):
        for j, s in enumerate(totals):
            extent = _span(b, s)
            if extent * max(n, 2) > SPAN_CAP:
                continue
            types = {nested: _vector(b, s, nested=nested).Create_resized(0, extent).Commit()
                     for nested in (False, True)}
            sbuf = np.ones(extent * max(n, 2), np.uint8)    # real pages, not the zero page
            rbuf = np.ones_like(sbuf)
            k = max(1, _trips(s * n) // 4)
            for form in FORMS:
                calls = {nested: _call(comm, ring, form, dt, extent, sbuf, rbuf)
                         for nested, dt in types.items()}
                for rep in range(reps):
                    r = rep % len(VARIANTS)
                    for name, method, nested in VARIANTS[r:] + VARIANTS[:r]:
                        with ip.method(method):
                            fn = calls[nested]
                            t = _best(comm, lambda: [fn() for _ in range(k)], 1) / k
                        out[form][name][i, j] = np.fmin(out[form][name][i, j], t)
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
    if "collective/ranks" not in f:
        f["collective/block_bytes"] = np.array(blocks, np.int64)
        f["collective/total_bytes"] = np.array(totals, np.int64)
        f["collective/ranks"] = np.array([ranks], np.int64)
        for form in FORMS:
            for name, t in measured[form].items():
                f[f"collective/{form}/{name}"] = t[:, None, :]
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
    for form in FORMS:
        for name, t in measured[form].items():
            key = f"collective/{form}/{name}"
            old = f[key][()]
            del f[key]
            f[key] = np.insert(old, at, t, axis=1)
