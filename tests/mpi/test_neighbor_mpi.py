"""Interposed MPI_Neighbor_alltoallw and MPI_Neighbor_alltoallv against the MPI itself.

Runs at any rank count on a periodic ring (a 1-D Cartesian communicator, where at
1 or 2 ranks both neighbours are the same rank), on a line (the same, not periodic:
the end ranks' outer neighbour is MPI_PROC_NULL, whose receive block the MPI leaves
as it is) and on a distributed graph. Each
exchange runs with the pack method and with the interposer switched off, in the
same process, and the receive buffers (and errors) must be identical.
"""
import random

import numpy as np
import pytest
from mpi4py import MPI

from support import mpitypes
from conftest import outcome

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()


def ring():
    return COMM.Create_cart([SIZE], periods=[True])


def line():
    return COMM.Create_cart([SIZE], periods=[False])


def graph():
    left, right = (RANK - 1) % SIZE, (RANK + 1) % SIZE
    # Two edges to the right, one to the left, mirrored: receive slot j takes what the
    # peer sent in its slot j (several edges between one pair match in order).
    return COMM.Create_dist_graph_adjacent([left, right, left], [right, left, right])


def degrees(comm):
    if comm.Get_topology() == MPI.CART:
        return 2 * comm.Get_dim(), 2 * comm.Get_dim()
    return comm.Get_dist_neighbors_count()[:2]


def both(interposer, fn):
    """fn() with the pack method, and with the MPI alone."""
    with interposer.method("pack"):
        mine = fn()
    return mine, interposer.real(fn)


def blocks(dts, counts, seed, fill=None):
    """A buffer holding one block per type (count elements each) and their displacements."""
    displs, at = [], 64
    for dt, c in zip(dts, counts):
        lo, hi = mpitypes.bounds(dt, c)
        displs.append(at - lo)
        at += hi - lo + 64
    rng = np.random.default_rng(seed)
    buf = (rng.integers(0, 256, at, dtype=np.uint8) if fill is None
           else np.full(at, fill, np.uint8))
    return buf, displs


def usable(dt):
    return dt.Get_size() > 0 and dt.Get_extent()[1] > 0 and dt.Get_size() <= 1 << 14


@pytest.mark.mpi
@pytest.mark.parametrize("make", [ring, line, graph], ids=["cart", "line", "dist-graph"])
def test_alltoallw_with_random_types_matches_the_mpi(interposer, make):
    comm = make()
    indeg, outdeg = degrees(comm)
    pool = [dt.Dup().Commit() for dt in mpitypes.sample(777, 80)]
    pool = [dt for dt in pool if usable(dt)]
    rng = random.Random(11)
    before = interposer.stat("neighbor_fast")
    for trial in range(12):
        # Each pair must agree on the signature: every rank uses the same type list.
        stypes = [pool[(trial * 7 + i) % len(pool)] for i in range(outdeg)]
        counts = [rng.randint(0, 2) for _ in range(max(outdeg, indeg))]
        # Block i goes to neighbour i; what arrives in receive block j was sent by
        # neighbour j in its slot for this rank: on the ring slot j ^ 1 (the left
        # neighbour sent it to its right), in the graph slot j.
        peer = (lambda j: j ^ 1) if comm.Get_topology() == MPI.CART else (lambda j: j)
        rtypes = [stypes[peer(j)] for j in range(indeg)]
        rcounts = [counts[peer(j)] for j in range(indeg)]
        scounts = counts[:outdeg]
        sbuf, sdispls = blocks(stypes, scounts, trial * 100 + RANK)

        def run():
            rbuf, rdispls = blocks(rtypes, rcounts, 0, fill=0x5A)
            comm.Neighbor_alltoallw([sbuf, (scounts, sdispls), stypes],
                                    [rbuf, (rcounts, rdispls), rtypes])
            return rbuf

        mine, real = both(interposer, run)
        assert np.array_equal(mine, real), [mpitypes.show(t) for t in stypes]
    assert interposer.stat("neighbor_fast") > before
    for dt in pool:
        dt.Free()
    comm.Free()


@pytest.mark.mpi
@pytest.mark.parametrize("make", [ring, line], ids=["cart", "line"])
@pytest.mark.parametrize("sender, receiver", [("vector", "vector"), ("vector", "bytes"),
                                              ("bytes", "vector")])
def test_alltoallv_mixed_types_with_one_signature(interposer, sender, receiver, make):
    comm = make()
    n = degrees(comm)[0]
    vec = MPI.DOUBLE.Create_vector(50, 2, 5).Commit()
    flat = MPI.DOUBLE.Create_contiguous(100).Commit()
    types = {"vector": vec, "bytes": flat}
    counts, displs = [1, 2][:n], [0, 1][:n]
    ext = 250
    sbuf = np.random.default_rng(RANK).random(ext * 3)

    def run():
        rbuf = np.full(ext * 3, -1.0)
        comm.Neighbor_alltoallv([sbuf, (counts, displs), types[sender]],
                                [rbuf, (counts[::-1], displs[::-1]), types[receiver]])
        return rbuf

    mine, real = both(interposer, run)
    assert np.array_equal(mine, real)
    vec.Free()
    flat.Free()
    comm.Free()


@pytest.mark.mpi
def test_auto_and_passthrough_give_the_same_bytes(interposer):
    comm = ring()
    dt = MPI.DOUBLE.Create_subarray([8, 8, 8], [8, 8, 1], [0, 0, 3]).Commit()
    a = np.arange(512, dtype=float) + 1000 * RANK
    outs = []
    for how in ("auto", "passthrough", "pack"):
        r = np.zeros(512 * 2)
        with interposer.method(how):
            comm.Neighbor_alltoallw([a, ([1, 1], [0, 0]), [dt, dt]],
                                    [r, ([1, 1], [0, 4096]), [dt, dt]])
        outs.append(r)
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[1], outs[2])
    assert np.count_nonzero(outs[2]) == 2 * 64
    dt.Free()
    comm.Free()


@pytest.mark.mpi
def test_errors_stay_the_mpis_own(interposer):
    """A negative count beside a block the method packs: the MPI's error, nothing else."""
    comm = ring()
    dt = MPI.DOUBLE.Create_vector(4, 1, 2).Commit()
    a, r = np.zeros(16), np.zeros(16)

    def bad_count():
        return comm.Neighbor_alltoallw([a, ([1, -1], [0, 0]), [dt, dt]],
                                       [r, ([1, 1], [0, 64]), [dt, dt]])

    with interposer.method("pack"):
        mine = outcome(bad_count)
    assert mine == interposer.real(outcome, bad_count)
    assert mine[0] == "error"
    dt.Free()
    comm.Free()
