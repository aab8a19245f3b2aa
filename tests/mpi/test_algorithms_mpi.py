"""The allreduce algorithms of mpicomm.collectives (ring, rd, rsag) and the tuner that
chooses among them, against comm.Allreduce, at any rank count (non-powers of two
included: tests/test_collectives_launch.py runs 3 and 4 ranks)."""
import numpy as np
import pytest
from mpi4py import MPI

from mpicomm.collectives import allreduce_fused, tuning
from mpicomm.collectives.algorithms import ALGORITHMS

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()
PRIVATE = COMM.Dup()
DTYPES = [np.float16, np.float32, np.float64, np.int32, np.int64]
SIZES = [1, 2, 3, 7, 64, 1000, 4097]


@pytest.mark.mpi
@pytest.mark.parametrize("name", ["ring", "rd", "rsag"])
@pytest.mark.parametrize("op", ["sum", "min", "max"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_algorithm_equals_mpi_allreduce(name, op, dtype):
    for n in SIZES:
        rng = np.random.default_rng(n * 7 + RANK)
        buf = rng.integers(-8, 9, size=n).astype(dtype)
        want = buf.copy()
        COMM.Allreduce(MPI.IN_PLACE, want, op={"sum": MPI.SUM, "min": MPI.MIN,
                                               "max": MPI.MAX}[op])
        ALGORITHMS[name](PRIVATE, buf, op)
        assert np.array_equal(buf, want), (name, n)


@pytest.mark.mpi
@pytest.mark.parametrize("name", ["ring", "rd", "rsag"])
def test_every_rank_gets_the_same_bits(name):
    # Values that round differently in different orders: the result may differ from
    # the MPI's, but never between ranks.
    buf = np.random.default_rng(RANK).standard_normal(1001).astype(np.float32) * 1e3
    ALGORITHMS[name](PRIVATE, buf, "sum")
    first = buf.copy()
    COMM.Bcast(first, root=0)
    assert np.array_equal(buf.view(np.uint32), first.view(np.uint32))


@pytest.mark.mpi
def test_auto_tunes_each_size_class_once_and_stays_correct(monkeypatch):
    monkeypatch.setenv("MPICOMM_ALLREDUCE", "auto")
    comm = COMM.Dup()                      # a communicator the tuner has not seen
    arrays = [np.full(300, RANK + 1, np.float64), np.full(5, RANK + 1, np.int32)]
    total = SIZE * (SIZE + 1) // 2
    calls = tuning.SMALL_ROUNDS * len(tuning.CANDIDATES) + 2
    for _ in range(calls):
        for a in arrays:
            a[...] = RANK + 1
        allreduce_fused(arrays, comm=comm)
        assert all(np.array_equal(a, np.full(a.shape, total)) for a in arrays)
    chosen = tuning.table(comm)
    if SIZE == 1:
        assert chosen == {}
        return
    # Two size classes (2400 B -> 4096, 20 B -> 32), each settled on one candidate,
    # the same on every rank.
    assert sorted(chosen) == [32, 4096] and set(chosen.values()) <= set(tuning.CANDIDATES)
    assert COMM.allgather(chosen) == [chosen] * SIZE


@pytest.mark.mpi
@pytest.mark.parametrize("forced", tuning.CANDIDATES)
def test_a_forced_algorithm_is_used(monkeypatch, forced):
    monkeypatch.setenv("MPICOMM_ALLREDUCE", forced)
    buf = np.full(100, RANK + 1.0)
    assert tuning.allreduce(COMM, buf, "sum") == (forced if SIZE > 1 else "mpi")
    assert np.array_equal(buf, np.full(100, SIZE * (SIZE + 1) / 2))


@pytest.mark.mpi
def test_a_bad_setting_is_named_before_anything_is_sent(monkeypatch):
    monkeypatch.setenv("MPICOMM_ALLREDUCE", "fastest")
    a = np.ones(3)
    with pytest.raises(ValueError, match="MPICOMM_ALLREDUCE='fastest': expected auto, mpi"):
        allreduce_fused([a])
    assert np.array_equal(a, np.ones(3))
