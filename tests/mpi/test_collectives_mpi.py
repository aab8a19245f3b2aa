"""mpicomm.collectives against comm.Allreduce, at any rank count (make test runs 1 and 2
ranks; tests/test_collectives_launch.py runs 3 and 4).

Values are small integers, so floating-point sums are exact whatever order the MPI
combines ranks in, and every result can be compared for equality.
"""

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
    # 400+400 fit, the third starts a buffer, 5000 (40 KB) is reduced in place alone,
    # and the last starts another buffer.
    assert allreduce_fused(mine) == 4
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
