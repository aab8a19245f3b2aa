"""CuPy arrays through mpicomm.collectives (staged through host memory), at any rank
count. Skipped, with the reason, where CuPy or a GPU is missing."""
import numpy as np
import pytest
from mpi4py import MPI

from mpicomm.collectives import PartialAllreduce, allreduce_fused, iallreduce_fused

cupy = pytest.importorskip("cupy", reason="CuPy is not installed (no GPU on this machine)")
try:
    GPUS = cupy.cuda.runtime.getDeviceCount()
except cupy.cuda.runtime.CUDARuntimeError:
    GPUS = 0
pytestmark = pytest.mark.skipif(GPUS == 0, reason="CuPy is installed but sees no GPU")

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()


def pair(dtype, shape, seed):
    host = np.random.default_rng(seed * 17 + RANK).integers(-8, 9, size=shape).astype(dtype)
    return host, cupy.asarray(host)


@pytest.mark.mpi
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32, np.int64])
def test_device_arrays_reduce_like_host_ones(dtype):
    hosts, devs = zip(*(pair(dtype, s, i) for i, s in enumerate([(7,), (3, 5), (1000,)])))
    hosts = [h.copy() for h in hosts]
    allreduce_fused(hosts)
    allreduce_fused(list(devs))
    for h, d in zip(hosts, devs):
        assert isinstance(d, cupy.ndarray) and np.array_equal(cupy.asnumpy(d), h)


@pytest.mark.mpi
def test_mixed_host_device_strided_and_nonblocking():
    h, d = pair(np.float64, (6, 10), 1)
    view = d[::2, 1::3]                                  # a strided device view
    plain = np.full(5, RANK + 1.0)
    want = cupy.asnumpy(view).copy()
    COMM.Allreduce(MPI.IN_PLACE, want)
    req = iallreduce_fused([view, plain], op="average")
    req.wait()
    assert np.allclose(cupy.asnumpy(view), want / SIZE)
    assert np.allclose(plain, (SIZE + 1) / 2)


@pytest.mark.mpi
def test_partial_allreduce_takes_device_arrays():
    with PartialAllreduce(COMM) as agg:
        _, d = pair(np.float32, (100,), 2)
        want = cupy.asnumpy(d).copy()
        COMM.Allreduce(MPI.IN_PLACE, want)
        res = agg.allreduce([d], deadline_s=30.0, min_ranks=SIZE)
        assert res.included == list(range(SIZE))
        assert np.array_equal(cupy.asnumpy(d), want)
