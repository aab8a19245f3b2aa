"""The allreduce in node-shared memory (mpicomm.collectives.shared) against
comm.Allreduce, at any rank count (make test runs 1 and 2 ranks on one node,
tests/test_collectives_launch.py 3 and 4, tests/test_internode.py 2 on each of two
nodes, and 2 and 1, which it refuses)."""
import numpy as np
import pytest
from mpi4py import MPI

from mpicomm.collectives import shared

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()

needs_ranks = pytest.mark.skipif(not shared.usable(COMM), reason=(
    "one rank on a node, or nodes with different numbers of ranks: nothing to share"))


@pytest.fixture
def arena():
    a = shared.SharedAllreduce(COMM, 1 << 16)
    yield a
    a.close()


@pytest.mark.mpi
def test_usable_where_every_node_holds_ranks_alike_else_refused_by_name():
    node = COMM.Split_type(MPI.COMM_TYPE_SHARED)
    sizes = COMM.allgather(node.Get_size())
    node.Free()
    expect = min(sizes) > 1 and min(sizes) == max(sizes)
    assert shared.usable(COMM) == expect
    if not expect:
        with pytest.raises(ValueError, match="same number of ranks, more than one"):
            shared.SharedAllreduce(COMM, 64)


@pytest.mark.mpi
@needs_ranks
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32, np.int64],
                         ids=lambda d: np.dtype(d).name)
def test_sums_equal_the_mpis_for_every_size(arena, dtype):
    for count in (0, 1, SIZE - 1, SIZE, 7, 1000, 4097):
        rng = np.random.default_rng(count * 11 + RANK)
        mine = rng.integers(-8, 9, size=count).astype(dtype)
        want = mine.copy()
        COMM.Allreduce(MPI.IN_PLACE, want, op=MPI.SUM)
        x = arena.array(128, count, dtype)
        x[:] = mine
        arena.allreduce(128, count, dtype)
        assert np.array_equal(x, want), count


@pytest.mark.mpi
@needs_ranks
def test_every_rank_gets_the_same_bits_and_the_scale(arena):
    mine = np.random.default_rng(RANK).standard_normal(5001).astype(np.float32) * 1e3
    x = arena.array(0, mine.size, np.float32)
    x[:] = mine
    arena.allreduce(0, mine.size, np.float32, scale=1.0 / SIZE)
    first = x.copy()
    COMM.Bcast(first, root=0)
    assert np.array_equal(x.view(np.uint32), first.view(np.uint32))
    want = mine.astype(np.float64)
    COMM.Allreduce(MPI.IN_PLACE, want, op=MPI.SUM)
    assert np.allclose(x, want / SIZE, rtol=1e-5, atol=1e-3)


@pytest.mark.mpi
@needs_ranks
def test_both_ways_give_the_sum_and_the_faster_is_kept(arena):
    """The first 2 ROUNDS calls of a size class take turns between the node's shared
    sum and the MPI's Allreduce, every call right; then one way serves the class, the
    same on every rank."""
    n = 3000
    x = arena.array(0, n, np.int64)
    for call in range(2 * arena.ROUNDS + 3):
        x[:] = np.arange(n) * (RANK + 1) + call
        arena.allreduce(0, n, np.int64)
        want = np.arange(n) * (SIZE * (SIZE + 1) // 2) + call * SIZE
        assert np.array_equal(x, want), call
        assert arena.settled(n, np.int64) == (call >= 2 * arena.ROUNDS - 1)
    ways = arena.ways()
    assert list(ways.values()) in (["shared"], ["mpi"])
    assert COMM.allgather(ways) == [ways] * SIZE


@pytest.mark.mpi
@needs_ranks
def test_ranges_are_reduced_alone_and_again(arena):
    """Two arrays in one window: reducing one leaves the other as it was; a range
    reduced again after new writes gives the new sum (the last barrier lets a rank
    write its buffer again)."""
    a, b = arena.array(0, 100, np.float64), arena.array(832, 50, np.float64)
    b[:] = RANK
    for step in range(3):
        a[:] = RANK + step
        arena.allreduce(0, 100, np.float64)
        assert np.array_equal(a, np.full(100, SIZE * (SIZE - 1) / 2 + SIZE * step))
    assert np.array_equal(b, np.full(50, RANK))


@pytest.mark.mpi
@needs_ranks
def test_bad_ranges_and_scales_are_named(arena):
    with pytest.raises(ValueError, match="not within|aligned"):
        arena.array(1, 4, np.float32)
    with pytest.raises(ValueError, match="not within"):
        arena.array(0, 1 << 20, np.float32)
    with pytest.raises(ValueError, match="floating-point"):
        arena.allreduce(0, 4, np.int32, scale=0.5)


@pytest.mark.mpi
def test_the_setting_is_checked(monkeypatch):
    monkeypatch.setenv("MPICOMM_SHARED_MEMORY", "yes")
    with pytest.raises(ValueError, match="MPICOMM_SHARED_MEMORY='yes'"):
        shared.setting()
    monkeypatch.setenv("MPICOMM_SHARED_MEMORY", "0")
    assert shared.setting() is False
