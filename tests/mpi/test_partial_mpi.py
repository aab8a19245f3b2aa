"""mpicomm.collectives.allreduce_partial at any rank count (make test runs 1 and 2 ranks;
tests/test_collectives_launch.py runs 3 and 4).

Values are small integers, so every sum is exact in any order. A rank made late
sleeps before its call; the root's deadline is far below that sleep and far above the
time an on-time message takes, so which ranks are included is certain.
"""
import time

import numpy as np
import pytest
from mpi4py import MPI

from mpicomm import traces
from mpicomm.collectives import PartialAllreduce, allreduce_partial

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()
DTYPES = [np.float16, np.float32, np.float64, np.int32, np.int64]
SHAPES = [(1,), (0,), (7,), (3, 5), (1000,), (33, 33)]
SLOW = 0.6          # seconds a late rank sleeps
DEADLINE = 0.2      # the root's deadline


def contribution(dtype, step, rank=RANK, shapes=SHAPES):
    rng = np.random.default_rng(1000 * step + rank)
    return [rng.integers(-8, 9, size=s).astype(dtype) for s in shapes]


def expected(dtype, step, ranks, op):
    per_rank = [contribution(dtype, step, r) for r in ranks]
    out = []
    for parts in zip(*per_rank):
        stack = np.stack([p.astype(np.float64) for p in parts])
        value = {"sum": stack.sum(0), "min": stack.min(0), "max": stack.max(0),
                 "average": stack.sum(0) / len(ranks)}[op]
        out.append(value.astype(dtype))
    return out


OPS = ["sum", "min", "max", "average"]
CASES = [(d, op) for d in DTYPES for op in OPS
         if not (op == "average" and np.dtype(d).kind == "i")]


def below(rank, fanout):
    """rank and the ranks below it in the tree of fanout children per rank (root 0)."""
    out, level = [], [rank]
    while level:
        out += level
        level = [c for u in level for c in range(fanout * u + 1, fanout * u + fanout + 1)
                 if c < SIZE]
    return sorted(out)


# The binary tree, and every rank sending to the root (the tree of fanout n - 1).
@pytest.fixture(params=[2, max(1, SIZE - 1)], ids=["tree", "star"])
def agg(request):
    a = PartialAllreduce(COMM, fanout=request.param)
    yield a
    a.close()


@pytest.mark.mpi
@pytest.mark.parametrize("dtype, op", CASES,
                         ids=[f"{np.dtype(d).name}-{op}" for d, op in CASES])
def test_everyone_on_time_equals_full_allreduce(agg, dtype, op):
    mine = contribution(dtype, 0)
    res = agg.allreduce(mine, deadline_s=30.0, min_ranks=SIZE, op=op)
    assert res.included == list(range(SIZE)) and res.missed == []
    for a, w in zip(mine, expected(dtype, 0, range(SIZE), op)):
        assert a.dtype == w.dtype and a.shape == w.shape and np.array_equal(a, w)


@pytest.mark.mpi
def test_matches_comm_allreduce_for_mixed_arrays(agg):
    mixed = [contribution(np.int32, 3)[4], contribution(np.float64, 3)[5],
             np.arange(60.0).reshape(6, 10)[::2, 1::3] * (RANK + 1)]   # a strided view
    want = [a.copy() for a in mixed]
    for w in want:
        COMM.Allreduce(MPI.IN_PLACE, w)
    agg.allreduce(mixed, deadline_s=30.0, min_ranks=SIZE)
    for a, w in zip(mixed, want):
        assert np.array_equal(a, w)


@pytest.mark.mpi
@pytest.mark.parametrize("op", ["sum", "average"])
def test_late_rank_is_left_out_and_never_mixed_into_a_later_step(agg, op):
    late = SIZE - 1
    for step in range(3):
        mine = contribution(np.float64, step)
        if RANK == late and late != 0 and step == 1:
            time.sleep(SLOW)
        # Only step 1 has a deadline; the others wait for everyone, so the late rank's
        # delay does not spill over into step 2.
        if step == 1:
            res = agg.allreduce(mine, deadline_s=DEADLINE, min_ranks=1, op=op)
        else:
            res = agg.allreduce(mine, deadline_s=0.0, min_ranks=SIZE, op=op)
        on_time = [r for r in range(SIZE) if not (r == late and late != 0 and step == 1)]
        assert res.step == step
        assert res.included == on_time, res
        # The late contribution of step 1 (it arrives during step 2) is not in step 2.
        for a, w in zip(mine, expected(np.float64, step, on_time, op)):
            assert np.array_equal(a, w), (step, res)


@pytest.mark.mpi
def test_a_rank_late_for_several_steps_gets_each_steps_result(agg):
    """The root goes on without a late rank for three steps in a row (its results of
    all three wait for the late rank when it comes): each step's result, not a later
    one's, on every rank; then a step with everyone."""
    late = SIZE - 1
    if RANK == late and late != 0:
        time.sleep(3 * DEADLINE + SLOW)
    for step in range(4):
        mine = contribution(np.float64, step)
        if step < 3:
            res = agg.allreduce(mine, deadline_s=DEADLINE, min_ranks=max(1, SIZE - 1))
        else:
            res = agg.allreduce(mine, deadline_s=0.0, min_ranks=SIZE)
        on_time = [r for r in range(SIZE) if not (r == late and late != 0 and step < 3)]
        assert res.step == step and res.included == on_time, res
        for a, w in zip(mine, expected(np.float64, step, on_time, "sum")):
            assert np.array_equal(a, w), (step, res)


@pytest.mark.mpi
def test_min_ranks_waits_past_the_deadline_for_a_late_rank(agg):
    late = SIZE - 1
    mine = contribution(np.int64, 5)
    if RANK == late and late != 0:
        time.sleep(SLOW)
    res = agg.allreduce(mine, deadline_s=0.0, min_ranks=SIZE)
    assert res.included == list(range(SIZE))
    if RANK == 0 and late != 0:
        assert res.waited_s >= SLOW / 2
    for a, w in zip(mine, expected(np.int64, 5, range(SIZE), "sum")):
        assert np.array_equal(a, w)


@pytest.mark.mpi
def test_timeout_raises_on_every_rank(agg):
    late = SIZE - 1
    if SIZE == 1:
        pytest.skip("needs a second rank to be late")
    if RANK == late:
        time.sleep(SLOW)
    with pytest.raises(TimeoutError, match="contributions reached the root within its timeout_s"):
        agg.allreduce([np.ones(4)], deadline_s=0.0, min_ranks=SIZE, timeout_s=0.1)
    # The aggregator goes on: the next step includes everyone again.
    res = agg.allreduce([np.ones(4)], deadline_s=30.0, min_ranks=SIZE)
    assert res.included == list(range(SIZE))


@pytest.mark.mpi
def test_different_layouts_raise_on_every_rank(agg):
    shapes = [(4,), (5 if RANK == SIZE - 1 and SIZE > 1 else 4,)]
    arrays = [np.ones(s) for s in shapes]
    if SIZE == 1:
        pytest.skip("one rank cannot disagree with itself")
    with pytest.raises(ValueError, match="different arrays to a partial allreduce"):
        agg.allreduce(arrays, deadline_s=30.0, min_ranks=SIZE)


@pytest.mark.mpi
def test_bad_arguments_are_named(agg):
    with pytest.raises(ValueError, match="min_ranks must be between 1 and"):
        agg.allreduce([np.ones(2)], 0.1, SIZE + 1)
    with pytest.raises(ValueError, match="deadline_s must be >= 0"):
        agg.allreduce([np.ones(2)], -1, 1)
    with pytest.raises(ValueError, match="timeout_s .* must be >= deadline_s"):
        agg.allreduce([np.ones(2)], 1.0, 1, timeout_s=0.5)
    with pytest.raises(TypeError, match="an average of integers is not exact"):
        agg.allreduce([np.ones(2, np.int32)], 0.1, 1, op="average")
    with pytest.raises(ValueError, match="root 99 is not a rank"):
        PartialAllreduce(COMM, root=99)
    with pytest.raises(ValueError, match="fanout must be a whole number >= 1, got 0"):
        PartialAllreduce(COMM, fanout=0)


@pytest.mark.mpi
def test_straggler_trace_records_every_rank_and_step(agg, tmp_path_factory):
    late = SIZE - 1
    steps = 4
    for step in range(steps):
        if RANK == late and late != 0 and step == 2:
            time.sleep(SLOW)
        agg.allreduce([np.ones(8)], deadline_s=DEADLINE, min_ranks=1 if step == 2 else SIZE)
    if RANK != 0:
        # Only the root makes a temporary folder: ranks cleaning pytest's shared base
        # folder at once trip over each other.
        assert agg.save_trace("/nonexistent/t.h5") is None and agg.delays() is None
        return
    path = tmp_path_factory.mktemp("trace") / "t.h5"
    agg.save_trace(path, note="test")
    t = traces.read(path)
    assert t.delays.shape == (SIZE, steps) and t.attrs["source"] == "allreduce_partial"
    assert t.attrs["note"] == "test" and list(t.attrs["deadline_s"]) == [DEADLINE] * steps
    assert t.extra["arrival"].shape == (SIZE, steps)
    assert np.isfinite(t.delays).all()
    if late != 0:
        # The late rank's own time for step 2 includes its sleep; it was not included.
        assert t.delays[late, 2] >= SLOW * 0.9
        assert t.extra["included"][late, 2] == 0 and t.extra["included"][:, [0, 1, 3]].all()
        others = np.delete(t.delays, 2, axis=1)
        assert others.max() < SLOW / 2


@pytest.mark.mpi
def test_module_function_keeps_one_aggregator_per_comm():
    from mpicomm.collectives.partial import aggregator
    first = allreduce_partial([np.ones(3)], 30.0, SIZE)
    second = allreduce_partial([np.ones(3)], 30.0, SIZE)
    assert second.step == first.step + 1 and aggregator(COMM) is not None


@pytest.mark.mpi
@pytest.mark.skipif(SIZE < 3, reason="a late rank with a rank below it needs 3 ranks")
def test_a_late_rank_leaves_out_its_subtree_and_is_reported():
    """Rank 1 has ranks below it in the binary tree (in a chain at 3 ranks); when it is
    late they are left out with it (they are on time but reach the root through it),
    reported missed, and still get the result; the next step includes them all again."""
    fanout = 2 if SIZE >= 4 else 1
    with PartialAllreduce(COMM, fanout=fanout) as agg:
        out = below(1, fanout)
        mine = contribution(np.float64, 7)
        if RANK == 1:
            time.sleep(SLOW)
        res = agg.allreduce(mine, deadline_s=DEADLINE, min_ranks=1)
        on_time = [r for r in range(SIZE) if r not in out]
        assert res.included == on_time and res.missed == out
        for a, w in zip(mine, expected(np.float64, 7, on_time, "sum")):
            assert np.array_equal(a, w)
        res = agg.allreduce([np.ones(3)], deadline_s=30.0, min_ranks=SIZE)
        assert res.included == list(range(SIZE))


@pytest.mark.mpi
@pytest.mark.skipif(SIZE < 3, reason="a tree and a star differ from 3 ranks")
def test_no_rank_of_the_tree_receives_more_than_fanout_plus_one_messages():
    steps, grads = 3, [np.ones(1000), np.ones(10, np.float32)]
    counts = {}
    for fanout in (2, SIZE - 1):
        with PartialAllreduce(COMM, fanout=fanout) as agg:
            for _ in range(steps):
                agg.allreduce(grads, deadline_s=30.0, min_ranks=SIZE)
                for g in grads:
                    g[...] = 1
            counts[fanout] = COMM.allgather(agg.messages_received)
    # Everyone on time: a rank gets one message from each child and the result.
    assert max(counts[2]) <= 3 * steps
    assert counts[SIZE - 1][0] == (SIZE - 1) * steps           # the root funnel
