"""Interposed MPI_Alltoall, MPI_Alltoallv and MPI_Alltoallw against the MPI itself.

Runs at any rank count on COMM_WORLD. Each exchange runs with the pack method and
with the interposer switched off, in the same process, and the receive buffers (and
errors) must be identical; ranks pack, or not, independently (one side of a pair may
send packed bytes while the other receives with the derived type).
"""
import random

import numpy as np
import pytest
from mpi4py import MPI

from support import mpitypes
from conftest import outcome
from test_neighbor_mpi import blocks, both, usable

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()
OPEN_MPI = MPI.Get_library_version().startswith("Open MPI")


def disjoint(dt, count=2):
    """Whether count elements of dt touch each byte once (a receive type must: the
    standard leaves overlapping ones erroneous, their result up to the order of writes):
    0xFF bytes received with dt mark as many bytes as dt holds."""
    lo, hi = mpitypes.bounds(dt, count)
    buf = np.zeros(hi - lo, np.uint8)
    ones = np.full(dt.Get_size() * count, 0xFF, np.uint8)
    COMM.Sendrecv([ones, MPI.BYTE], RANK, 9, [buf[-lo:], count, dt], RANK, 9)
    return np.count_nonzero(buf) == ones.size


@pytest.mark.mpi
@pytest.mark.skipif(OPEN_MPI and SIZE == 1, reason="Open MPI 5.0's one-rank MPI_Alltoallw "
                    "(coll/self) scales byte displacements by the type's extent and writes "
                    "outside the buffer")
def test_alltoallw_with_random_types_matches_the_mpi(interposer):
    pool = [dt.Dup().Commit() for dt in mpitypes.sample(4242, 80)]
    pool = [dt for dt in pool if usable(dt) and interposer.real(disjoint, dt)]
    rng = random.Random(5)
    before = interposer.stat("alltoall_fast")
    for trial in range(12):
        # Block j goes to rank j; rank j's receive block i holds what rank i sent it:
        # the pair must agree on the signature, so the type depends on the pair alone.
        pair = [[pool[(trial * 13 + min(i, j) * 5 + max(i, j)) % len(pool)]
                 for j in range(SIZE)] for i in range(SIZE)]
        count = [[rng.randint(0, 2) for _ in range(SIZE)] for _ in range(SIZE)]
        count = [[count[min(i, j)][max(i, j)] for j in range(SIZE)] for i in range(SIZE)]
        stypes, scounts = pair[RANK], count[RANK]
        sbuf, sdispls = blocks(stypes, scounts, trial * 100 + RANK)

        def run():
            rbuf, rdispls = blocks(stypes, scounts, 0, fill=0x5A)
            COMM.Alltoallw([sbuf, (scounts, sdispls), stypes],
                           [rbuf, (scounts, rdispls), stypes])
            return rbuf

        def by_definition():
            """What the standard says Alltoallw does: a send and a receive per pair."""
            rbuf, rdispls = blocks(stypes, scounts, 0, fill=0x5A)
            reqs = [COMM.Irecv([rbuf[rdispls[j]:], scounts[j], stypes[j]], j, 7)
                    for j in range(SIZE)]
            reqs += [COMM.Isend([sbuf[sdispls[j]:], scounts[j], stypes[j]], j, 7)
                     for j in range(SIZE)]
            MPI.Request.Waitall(reqs)
            return rbuf

        mine, real = both(interposer, run)
        want = interposer.real(by_definition)
        assert np.array_equal(real, want)
        assert np.array_equal(mine, want), [mpitypes.show(t) for t in stypes]
    fast = COMM.allreduce(interposer.stat("alltoall_fast") - before)
    assert fast > 0
    for dt in pool:
        dt.Free()


def transpose_types(n, dtype=MPI.DOUBLE):
    """A pencil transpose of an n x n x n array split over the ranks, as mpi4py-fft makes
    it: this rank holds x-planes [lo, hi) of all y (send) and will hold y-planes of all
    x (receive); block j is a subarray of each."""
    def split(k):
        return [n * k // SIZE for k in range(SIZE + 1)][k:k + 2]
    lo, hi = split(RANK)
    send, recv = [], []
    for j in range(SIZE):
        jlo, jhi = split(j)
        send.append(dtype.Create_subarray([hi - lo, n, n], [hi - lo, jhi - jlo, n],
                                          [0, jlo, 0]).Commit())
        recv.append(dtype.Create_subarray([n, hi - lo, n], [jhi - jlo, hi - lo, n],
                                          [jlo, 0, 0]).Commit())
    return (hi - lo) * n * n, send, recv


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["pack", "auto"])
def test_pencil_transpose_like_mpi4py_fft(interposer, method):
    size, send, recv = transpose_types(12)
    a = np.random.default_rng(RANK).random(size)
    ones, zeros = [1] * SIZE, [0] * SIZE

    def run():
        b = np.full(size, -1.0)
        COMM.Alltoallw([a, (ones, zeros), send], [b, (ones, zeros), recv])
        return b

    before = interposer.stat("alltoall_fast")
    with interposer.method(method):
        mine = run()
    if method == "pack" and SIZE > 1:        # at one rank the block is the whole array
        assert interposer.stat("alltoall_fast") == before + 1
    real = interposer.real(run)
    assert np.array_equal(mine, real) and not np.any(real == -1.0)
    for dt in send + recv:
        dt.Free()


@pytest.mark.mpi
@pytest.mark.parametrize("sender, receiver", [("vector", "vector"), ("vector", "bytes"),
                                              ("bytes", "vector")])
def test_alltoall_and_alltoallv_mixed_types_with_one_signature(interposer, sender, receiver):
    vec = MPI.DOUBLE.Create_vector(50, 2, 5).Commit()           # 100 doubles, extent 247
    flat = MPI.DOUBLE.Create_contiguous(100).Commit()
    types = {"vector": vec, "bytes": flat}
    # The receiver's type may differ on odd ranks: the pair's bytes still match.
    rtype = types[receiver] if RANK % 2 else types[sender]
    sbuf = np.random.default_rng(RANK).random(250 * 2 * SIZE + 8)

    def run_all():
        rbuf = np.full(250 * 2 * SIZE + 8, -1.0)
        COMM.Alltoall([sbuf, 2, types[sender]], [rbuf, 2, rtype])
        return rbuf

    counts = [1 + (RANK + j) % 2 for j in range(SIZE)]       # symmetric in the pair
    displs = [2 * j for j in range(SIZE)]

    def run_v():
        rbuf = np.full(250 * 2 * SIZE + 8, -1.0)
        COMM.Alltoallv([sbuf, (counts, displs), types[sender]],
                       [rbuf, (counts, displs[::-1]), rtype])
        return rbuf

    for run in (run_all, run_v):
        mine, real = both(interposer, run)
        assert np.array_equal(mine, real)
    vec.Free()
    flat.Free()


@pytest.mark.mpi
def test_in_place_and_contiguous_go_to_the_mpi(interposer):
    before = interposer.stat("alltoall_fast")
    a = np.arange(4 * SIZE, dtype=float) + 100 * RANK
    with interposer.method("pack"):
        COMM.Alltoall(MPI.IN_PLACE, [a, 4, MPI.DOUBLE])
        b = np.zeros(4 * SIZE)
        COMM.Alltoall([np.ones(4 * SIZE), 4, MPI.DOUBLE], [b, 4, MPI.DOUBLE])
    assert interposer.stat("alltoall_fast") == before
    want = np.concatenate([np.arange(4 * RANK, 4 * RANK + 4) + 100 * j for j in range(SIZE)])
    assert np.array_equal(a, want) and np.array_equal(b, np.ones(4 * SIZE))


@pytest.mark.mpi
def test_errors_stay_the_mpis_own(interposer):
    """A negative count beside a side the method packs: the MPI's error, nothing else."""
    dt = MPI.DOUBLE.Create_vector(4, 1, 2).Commit()
    a, r = np.zeros(8 * SIZE), np.zeros(8 * SIZE)
    bad = [1] * SIZE
    bad[0] = -1

    def bad_count():
        return COMM.Alltoallv([a, (bad, [0] * SIZE), dt], [r, ([1] * SIZE, [0] * SIZE), dt])

    with interposer.method("pack"):
        mine = outcome(bad_count)
    assert mine == interposer.real(outcome, bad_count)
    assert mine[0] == "error"
    dt.Free()
