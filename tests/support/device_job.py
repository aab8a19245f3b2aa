"""A job of device buffers for tests/test_device.py, under `mpicomm run` on the simulated
device (MPICOMM_SIM_FAIL and MPICOMM_SIM_DEVICES as the test sets them):

    device_job.py exchange   a strided ring exchange (staged, oneshot, auto), MPI_Pack and
                             mpicomm.datatypes.unpack of device arrays, checked; "ok" lines
    device_job.py reset      the same before and after a reset of the device (as
                             cudaDeviceReset), the arrays made anew after it
    device_job.py finalize   the exchange, then MPI_Finalize: every allocation the
                             interposer made from the driver is freed by then

Each rank prints its counters as "stats {...}" (JSON) last.
"""
import ctypes
import json
import os
import sys

import numpy as np
from mpi4py import MPI

from mpicomm import datatypes, device
from mpicomm.interposer import Interposer

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()
DEST, SRC = (RANK + 1) % SIZE, (RANK - 1) % SIZE
STATS = ("kernel_launches", "device_allocs", "host_fallbacks", "pool_overflows",
         "method_staged", "method_oneshot", "method_device")


def say(line):
    """One line in one write: the ranks share the job's stdout."""
    os.write(1, (line + "\n").encode())


def data(rank, seed):
    return np.random.default_rng(seed * 100 + rank).standard_normal((16, 8))


def exchange(ip, seed):
    t = MPI.DOUBLE.Create_vector(8, 8, 16).Commit()
    for method in ("staged", "oneshot", "auto"):
        a = device.asarray(data(RANK, seed))
        got = device.asarray(np.full((16, 8), -1.0))
        with ip.method(method):
            MPI.Request.Waitall([COMM.Irecv([got, 1, t], SRC, 3),
                                 COMM.Isend([a, 1, t], DEST, 3)])
        want = np.full((16, 8), -1.0)
        want[::2] = data(SRC, seed)[::2]
        assert np.array_equal(device.asnumpy(got), want), method
    out = bytearray(t.Pack_size(1, MPI.COMM_SELF))
    t.Pack(a, out, 0, MPI.COMM_SELF)
    assert np.frombuffer(out[:512]).tolist() == data(RANK, seed)[::2].ravel().tolist()
    back = device.asarray(np.zeros((16, 8)))
    datatypes.unpack(datatypes.describe(t), device.asarray(np.frombuffer(out[:512])), back)
    want = np.zeros((16, 8))
    want[::2] = data(RANK, seed)[::2]
    assert np.array_equal(device.asnumpy(back), want)
    t.Free()
    say(f"ok exchange {seed}")


def main(what):
    ip = Interposer()
    exchange(ip, 1)
    if what == "reset":
        device.reset()
        exchange(ip, 2)
    stats = {name: ip.stat(name) for name in STATS}
    if what == "finalize":
        MPI.Finalize()
        stats["live_after_finalize"] = ctypes.CDLL(None).mpicomm_sim_live()
    say("stats " + json.dumps(stats))


if __name__ == "__main__":
    main(sys.argv[1])
