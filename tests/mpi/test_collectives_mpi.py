"""mpicomm.collectives against comm.Allreduce, at any rank count (make test runs 1 and 2
ranks; tests/test_collectives_launch.py runs 3 and 4).

Values are small integers, so floating-point sums are exact whatever order the MPI
combines ranks in, and every result can be compared for equality.
"""

import time

import numpy as np
import pytest
from mpi4py import MPI

from mpicomm.collectives import allreduce_fused, iallreduce_fused

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()
DTYPES = [np.float16, np.float32, np.float64, np.int32, np.int64]
SHAPES = [(1,), (0,), (7,), (3, 5), (256,), (2, 3, 4), (1000,), (33, 33)]


def arrays(dtype, seed, shapes=SHAPES):
    rng = np.random.default_rng(seed * 31 + RANK)
    return [rng.integers(-8, 9, size=s).astype(dtype) for s in shapes]


def reference(arrs, op):
    out = []
    for a in arrs:
        r = a.copy()
        COMM.Allreduce(MPI.IN_PLACE, r, op=MPI.SUM if op == "average" else op)
        if op == "average":
            r = r / SIZE
        out.append(r)
    return out


# Every dtype with every op; average is refused for integers (tested below).
OPS = [("sum", MPI.SUM), ("min", MPI.MIN), ("max", MPI.MAX), ("average", "average")]
CASES = [(d, op) for d in DTYPES for name, op in OPS
         if not (name == "average" and np.dtype(d).kind == "i")]
IDS = [f"{np.dtype(d).name}-{name}" for d in DTYPES for name, _ in OPS
       if not (name == "average" and np.dtype(d).kind == "i")]


@pytest.mark.mpi
@pytest.mark.parametrize("dtype, op", CASES, ids=IDS)
def test_fused_equals_allreduce_per_array(dtype, op):
    mine = arrays(dtype, 1)
    want = reference(mine, op)
    allreduce_fused(mine, op=op)
    for a, w in zip(mine, want):
        assert a.dtype == w.dtype and a.shape == w.shape
        assert np.array_equal(a, w)


@pytest.mark.mpi
def test_mixed_dtypes_views_and_order_in_one_call():
    base = np.arange(60, dtype=np.float64).reshape(6, 10) * (RANK + 1)
    view = base[::2, 1::3]                                    # not contiguous
    mixed = [arrays(np.int32, 2)[4], view, arrays(np.float32, 3)[6],
             arrays(np.float16, 4)[3], arrays(np.int64, 5)[7]]
    want = reference([m.copy() for m in mixed], MPI.SUM)
    calls = allreduce_fused(mixed)
    assert calls == 5                                         # one buffer per dtype
    for a, w in zip(mixed, want):
        assert np.array_equal(a, w)
    untouched = np.arange(60, dtype=np.float64).reshape(6, 10) * (RANK + 1)
    mask = np.ones_like(base, bool)
    mask[::2, 1::3] = False
    assert np.array_equal(base[mask], untouched[mask])       # only the view changed


@pytest.mark.mpi
def test_fusion_threshold_splits_buffers(monkeypatch):
    monkeypatch.setenv("MPICOMM_FUSION_BYTES", str(1000 * 8))
    mine = arrays(np.float64, 6, shapes=[(400,), (400,), (400,), (5000,), (10,)])
    big = mine[3]
    want = reference([m.copy() for m in mine], MPI.SUM)
    # 400+400 fit, the third starts a buffer that the last joins, and 5000 (40 KB, above
    # the limit) is reduced where it is, alone.
    assert allreduce_fused(mine) == 3
    assert mine[3] is big
    for a, w in zip(mine, want):
        assert np.array_equal(a, w)


@pytest.mark.mpi
def test_several_nonblocking_in_flight():
    groups = [arrays(np.float32, 10 + k) for k in range(3)]
    want = [reference([a.copy() for a in g], MPI.SUM) for g in groups]
    handles = [iallreduce_fused(g) for g in groups]
    while not all(h.test() for h in handles[1:]):
        pass
    handles[0].wait()
    handles[0].wait()                                         # idempotent
    for g, w in zip(groups, want):
        for a, b in zip(g, w):
            assert np.array_equal(a, b)


@pytest.mark.mpi
def test_average_of_floats():
    mine = [np.full(5, float(RANK), np.float64), np.full(3, 2.0 * RANK, np.float32)]
    allreduce_fused(mine, op="average")
    mean = (SIZE - 1) / 2
    assert np.allclose(mine[0], mean) and np.allclose(mine[1], 2 * mean)


@pytest.mark.mpi
@pytest.mark.parametrize("bad, error, words", [
    (lambda: [[1.0, 2.0]], TypeError, "not a numpy.ndarray"),
    (lambda: [np.zeros(3, np.complex128)], TypeError, "dtype complex128"),
    (lambda: [np.zeros(3, np.int32)], TypeError, "average of integers"),
])
def test_bad_input_is_named(bad, error, words):
    op = "average" if "average" in words else MPI.SUM
    with pytest.raises(error, match=words):
        allreduce_fused(bad(), op=op)


@pytest.mark.mpi
def test_read_only_bad_op_and_bad_threshold_change_nothing(monkeypatch):
    a = np.arange(4.0)
    a.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        allreduce_fused([a])
    b = np.arange(4.0)
    with pytest.raises(ValueError, match="op 'median'"):
        allreduce_fused([b], op="median")
    monkeypatch.setenv("MPICOMM_FUSION_BYTES", "lots")
    with pytest.raises(ValueError, match="MPICOMM_FUSION_BYTES='lots'"):
        allreduce_fused([b])
    assert np.array_equal(b, np.arange(4.0))


@pytest.mark.mpi
@pytest.mark.skipif(SIZE < 2, reason="a layout mismatch needs two ranks")
def test_layout_mismatch_raises_on_every_rank():
    mine = [np.ones(4)] + ([np.ones(2)] if RANK == 0 else [])
    with pytest.raises(ValueError, match="different arrays"):
        allreduce_fused(mine)
    assert np.array_equal(mine[0], np.ones(4))


@pytest.mark.mpi
def test_repeated_steps_reuse_and_renew_the_plan():
    grads = arrays(np.float32, 20)
    for step in range(3):
        for g in grads:
            g[...] = step + RANK
        want = reference([g.copy() for g in grads], MPI.SUM)
        allreduce_fused(grads)
        for a, w in zip(grads, want):
            assert np.array_equal(a, w)
        grads[2] = np.full(grads[2].shape, 5.0, np.float32)    # a new array in the list
    grads[4] = grads[4].astype(np.float64)                      # and a new dtype
    want = reference([g.copy() for g in grads], MPI.SUM)
    assert allreduce_fused(grads) == 2
    for a, w in zip(grads, want):
        assert np.array_equal(a, w)


def fresh_grads(step, layout=((256,), (3, 5), (7,), (40, 2), (0,), (1000,))):
    """New arrays every call, of one layout, as numpy code that computes gradients makes."""
    out = []
    for i, shape in enumerate(layout):
        out.append(np.full(shape, step + RANK + i, np.float32 if i % 2 else np.float64))
    return out


@pytest.mark.mpi
@pytest.mark.parametrize("form", ["blocking", "nonblocking", "partial"])
def test_new_arrays_of_a_known_layout_reuse_its_plan(form):
    """A plan belongs to the layout: new arrays each step are bound to it (a counter says
    so), and the results land in the arrays of that call."""
    from mpicomm.collectives import PartialAllreduce, plans
    partial = PartialAllreduce(COMM) if form == "partial" else None

    def reduce(grads):
        if form == "blocking":
            allreduce_fused(grads)
        elif form == "nonblocking":
            iallreduce_fused(grads).wait()
        else:
            partial.allreduce(grads, deadline_s=60.0, min_ranks=SIZE)

    reduce(fresh_grads(0))                   # the layout's plan, made here or before
    before = plans.counters()
    for step in range(1, 6):
        grads = fresh_grads(step)
        want = reference([g.copy() for g in grads], MPI.SUM)
        reduce(grads)
        for a, w in zip(grads, want):
            assert np.array_equal(a, w)
    same = fresh_grads(9)
    reduce(same)
    reduce(same)
    after = plans.counters()
    assert after["plans_made"] == before["plans_made"]
    assert after["arrays_bound"] - before["arrays_bound"] == 6
    assert after["bindings_reused"] - before["bindings_reused"] == 1
    if partial is not None:
        partial.close()


@pytest.mark.mpi
def test_two_calls_in_flight_on_new_arrays_of_one_layout_keep_their_own():
    """Each call keeps its own binding: a second call on new arrays of the same layout
    does not redirect the first one's results."""
    a, b = fresh_grads(1), fresh_grads(2)
    want_a = reference([g.copy() for g in a], MPI.SUM)
    want_b = reference([g.copy() for g in b], MPI.SUM)
    ra = iallreduce_fused(a)
    rb = iallreduce_fused(b)
    rb.wait()
    ra.wait()
    for got, want in ((a, want_a), (b, want_b)):
        for x, w in zip(got, want):
            assert np.array_equal(x, w)


@pytest.mark.mpi
def test_new_arrays_of_a_known_layout_may_be_strided_or_read_only():
    """Members that are not contiguous are copied by numpy; a read-only one is named and
    nothing changes."""
    allreduce_fused(fresh_grads(0))
    grads = fresh_grads(3)
    base = np.full((40, 4), 3.0 + RANK, np.float32)
    grads[3] = base[:, ::2]                  # (40, 2), not contiguous
    want = reference([g.copy() for g in grads], MPI.SUM)
    allreduce_fused(grads)
    for x, w in zip(grads, want):
        assert np.array_equal(x, w)
    assert np.array_equal(base[:, 1::2], np.full((40, 2), 3.0 + RANK, np.float32))
    grads = fresh_grads(4)
    grads[2].flags.writeable = False
    kept = [g.copy() for g in grads]
    with pytest.raises(ValueError, match="array 2 is read-only"):
        allreduce_fused(grads)
    for x, k in zip(grads, kept):
        assert np.array_equal(x, k)


class Counting(MPI.Intracomm):
    """A communicator that counts the reductions made on it."""

    def __init__(self, comm):                # mpi4py's __new__ takes the handle
        self.calls = []

    def Allreduce(self, *args, **kwargs):
        self.calls.append("Allreduce")
        return super().Allreduce(*args, **kwargs)

    def Iallreduce(self, *args, **kwargs):
        self.calls.append("Iallreduce")
        return super().Iallreduce(*args, **kwargs)


@pytest.mark.mpi
@pytest.mark.parametrize("blocking", [True, False])
def test_a_kept_layout_costs_one_call_per_buffer_and_no_other(monkeypatch, blocking):
    """The layout check rides in the first buffer: once the layout is agreed, a step makes
    exactly one reduction per fusion buffer on the communicator, and nothing else."""
    monkeypatch.setenv("MPICOMM_ALLREDUCE", "mpi")
    comm = Counting(COMM.Dup())
    grads = arrays(np.float32, 7) + arrays(np.float64, 8)
    want = reference([g.copy() for g in grads], MPI.SUM)
    for step in range(3):
        if step:
            for g, w in zip(grads, reference([g.copy() for g in grads], MPI.SUM)):
                g[...] = w / SIZE
            want = reference([g.copy() for g in grads], MPI.SUM)
        comm.calls.clear()
        if blocking:
            n = allreduce_fused(grads, comm=comm)
        else:
            iallreduce_fused(grads, comm=comm).wait()
            n = 2
        # The first step agrees on the layout first: one scratch call (all of the
        # agreed layout's calls, nonblocking: here the header alone), then the step.
        # (On one rank the blocking path makes no MPI call at all.)
        calls = n + (1 if step == 0 else 0) if SIZE > 1 or not blocking else 0
        assert n == 2 and len(comm.calls) == calls
        assert set(comm.calls) <= {"Allreduce" if blocking else "Iallreduce"}
        for a, w in zip(grads, want):
            assert np.array_equal(a, w)
    comm.Free()


@pytest.mark.mpi
@pytest.mark.skipif(SIZE < 2, reason="a layout mismatch needs two ranks")
@pytest.mark.parametrize("blocking", [True, False])
def test_a_mismatch_after_a_kept_layout_raises_everywhere_and_changes_nothing(blocking):
    """Rank 0 brings the arrays of the last step again (its plan is kept, its first call
    is its data); the others bring another layout (their first call is scratch): every
    rank raises, no array changes, and the next matching step is right."""
    comm = COMM.Dup()
    grads = [np.full(100, RANK + 1.0), np.full(7, RANK + 1.0, np.float32),
             np.full(3 << 18, RANK + 1.0)]               # 6 MiB: reduced where it is

    def run(xs):
        if blocking:
            allreduce_fused(xs, comm=comm)
        else:
            iallreduce_fused(xs, comm=comm).wait()

    total = SIZE * (SIZE + 1) / 2
    run(grads)
    assert all(np.array_equal(g, np.full(g.shape, total)) for g in grads)
    mine = grads if RANK == 0 else grads[:2] + [np.zeros(5)]
    before = [g.copy() for g in mine]
    with pytest.raises(ValueError, match="different arrays"):
        run(mine)
    assert all(np.array_equal(g, b) for g, b in zip(mine, before))
    for g in grads:
        g[...] = RANK + 1.0
    run(grads)
    assert all(np.array_equal(g, np.full(g.shape, total)) for g in grads)
    comm.Free()


@pytest.mark.mpi
def test_large_arrays_are_reduced_where_they_are_with_the_header_alone(monkeypatch):
    monkeypatch.setenv("MPICOMM_ALLREDUCE", "mpi")
    comm = Counting(COMM.Dup())
    big = [np.full(300_000, RANK + 1.0) for _ in range(3)]        # 2.3 MiB each
    where = [b.__array_interface__["data"][0] for b in big]
    for _ in range(2):
        comm.calls.clear()
        assert allreduce_fused(big, comm=comm, op="average") == 4     # header, 3 arrays
    assert len(comm.calls) == (4 if SIZE > 1 else 0)
    for b, at in zip(big, where):
        assert b.__array_interface__["data"][0] == at
        assert np.allclose(b, (SIZE + 1) / 2)
    comm.Free()


@pytest.mark.mpi
def test_contiguous_on_one_rank_strided_on_another():
    """The buffers depend on shapes and dtypes only, never on memory layout."""
    base = np.zeros((40, 3))
    if RANK % 2:
        xs = [base[:, 0], np.ones((2, 2, 600))[:, :, ::2] * 0 + 2.0]
    else:
        xs = [np.zeros(40), np.full((2, 2, 300), 2.0)]
    xs[0][...] = np.arange(40) + RANK
    big = np.full(1 << 17, 1.0)                                     # 1 MiB: alone
    allreduce_fused([xs[0], big, xs[1]])
    assert np.array_equal(xs[0], SIZE * np.arange(40) + SIZE * (SIZE - 1) / 2)
    assert np.array_equal(xs[1], np.full((2, 2, 300), 2.0 * SIZE))
    assert np.array_equal(big, np.full(1 << 17, float(SIZE)))


@pytest.mark.mpi
def test_each_communicator_agrees_on_its_own():
    first = COMM.Dup()
    a = [np.ones(3)]
    allreduce_fused(a, comm=first)
    first.Free()
    second = COMM.Dup()                     # may reuse the handle: a fresh start
    b = [np.ones(5), np.ones(2, np.int32)]
    allreduce_fused(b, comm=second)
    assert np.array_equal(b[0], np.full(5, float(SIZE)))
    assert np.array_equal(a[0], np.full(3, float(SIZE)))
    second.Free()


@pytest.mark.mpi
def test_the_progress_thread_completes_a_reduction_while_the_caller_sleeps(monkeypatch):
    monkeypatch.setenv("MPICOMM_PROGRESS_THREAD", "1")
    grads = [np.full(10240, RANK + 1.0, np.float32) for _ in range(40)]
    req = iallreduce_fused(grads)
    deadline = time.monotonic() + 30
    while not req.complete and time.monotonic() < deadline:
        time.sleep(0.01)                     # no MPI call here: the thread's polls only
    assert req.complete or MPI.Query_thread() < MPI.THREAD_MULTIPLE
    req.wait()
    assert all(np.array_equal(g, np.full(10240, SIZE * (SIZE + 1) / 2)) for g in grads)


@pytest.mark.mpi
def test_a_bad_progress_setting_is_named_before_any_call(monkeypatch):
    monkeypatch.setenv("MPICOMM_PROGRESS_THREAD", "yes")
    a = np.ones(3)
    with pytest.raises(ValueError, match="MPICOMM_PROGRESS_THREAD='yes': expected auto, 0 or 1"):
        iallreduce_fused([a])
    assert np.array_equal(a, np.ones(3))
