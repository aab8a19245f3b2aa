"""mpicomm.collectives.allreduce_fused on device arrays with the interposer loaded: fused
on the device, each fusion buffer reduced as a device buffer by the interposer (method
mirror over an MPI that is not CUDA-aware), against the same reduction of host arrays."""
import numpy as np
import pytest
from mpi4py import MPI

from mpicomm.collectives import allreduce_fused, iallreduce_fused

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()
SHAPES = [(7,), (3, 5), (1000,), (2, 2, 2), (0,), (64,)]
DTYPES = ["f8", "f4", "i8", "f8", "f8", "i4"]


def arrays(salt=0):
    return [(np.arange(np.prod(s), dtype=d).reshape(s) * (RANK + 1) + salt).astype(d)
            for s, d in zip(SHAPES, DTYPES)]


@pytest.mark.mpi
@pytest.mark.parametrize("op", [MPI.SUM, "max", "min"])
@pytest.mark.parametrize("blocking", [True, False])
def test_fused_on_the_device_through_the_interposer(interposer, device, op, blocking):
    host = arrays(1)
    dev = [device.asarray(a) for a in host]
    before = interposer.stat("method_mirror")
    if blocking:
        calls = allreduce_fused(dev, op=op)
        n_host = allreduce_fused(host, op=op)
        assert calls == n_host                     # the same fusion buffers
    else:
        req = iallreduce_fused(dev, op=op)
        iallreduce_fused(host, op=op).wait()
        req.wait()
    # One device buffer per dtype (the limit is far above these sizes), through mirrors.
    assert interposer.stat("method_mirror") - before == len({d for d, s in zip(DTYPES, SHAPES)
                                                             if np.prod(s)})
    for d, h in zip(dev, host):
        assert np.array_equal(device.asnumpy(d), h)


@pytest.mark.mpi
def test_small_fusion_buffers_and_repeated_calls(interposer, device, monkeypatch):
    """Many buffers (MPICOMM_FUSION_BYTES=64), and the same arrays again: the cached
    fusion is reused and still gathers the arrays' new values."""
    monkeypatch.setenv("MPICOMM_FUSION_BYTES", "64")
    dev = [device.asarray(a) for a in arrays()]
    for salt in (0, 5):
        host = arrays(salt)
        for d, h in zip(dev, host):
            device.asnumpy(d)                      # the old result, then new values in
        dev_new = [device.asarray(h) for h in host]
        allreduce_fused(dev_new, op=MPI.SUM)
        allreduce_fused(host, op=MPI.SUM)
        for d, h in zip(dev_new, host):
            assert np.array_equal(device.asnumpy(d), h)
        again = [device.asarray(h) for h in arrays(salt)]
        allreduce_fused(again, op=MPI.SUM)
        allreduce_fused(again, op=MPI.SUM)         # the same list twice: a cached fusion
        want = arrays(salt)
        allreduce_fused(want, op=MPI.SUM)
        allreduce_fused(want, op=MPI.SUM)
        for d, h in zip(again, want):
            assert np.array_equal(device.asnumpy(d), h)


@pytest.mark.mpi
def test_strided_device_arrays_and_averages_are_staged_here(interposer, device):
    """What the device path does not take (a strided view; an average of arrays that are
    not CuPy's) is reduced through host mirrors, with the same result."""
    base = device.asarray(np.arange(40.0).reshape(10, 4) + RANK)
    view = base[::2]
    allreduce_fused([view], op=MPI.SUM)
    want = (np.arange(40.0).reshape(10, 4) + RANK)
    want[::2] = sum(np.arange(40.0).reshape(10, 4)[::2] + r for r in range(SIZE))
    assert np.array_equal(device.asnumpy(base), want)
    x = np.arange(12.0) + RANK
    d = device.asarray(x)
    allreduce_fused([d], op="average")
    assert np.array_equal(device.asnumpy(d), sum(np.arange(12.0) + r for r in range(SIZE)) / SIZE)
