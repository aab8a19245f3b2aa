"""The device path under CUDA's rules, at any rank count (rank r sends to r+1, receives from
r-1): the program's own work is asynchronous on the legacy default stream, arrays may live
on another device than the current one, a receive changes only its type's bytes, a count of
0 changes nothing, and the pools stop allocating once they hold a program's working set.

On the simulated device (MPICOMM_DEVICE=sim, MPICOMM_SIM_DEVICES=2 in `make test`) each of
these fails as a GPU fails when the interposer gets it wrong; on a GPU they run as written
(the tests of several devices skip on a machine with one)."""
import threading

import numpy as np
import pytest
from mpi4py import MPI

from mpicomm import datatypes

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()
DEST, SRC = (RANK + 1) % SIZE, (RANK - 1) % SIZE


def rows(n=16, width=8, seed=0):
    return np.random.default_rng(seed * 100 + RANK).standard_normal((n, width))


def exchange(buf, rbuf, dt, count=1, method=None, interposer=None):
    def run():
        r = COMM.Irecv([rbuf, count, dt], SRC, 11)
        s = COMM.Isend([buf, count, dt], DEST, 11)
        MPI.Request.Waitall([r, s])
    if method:
        with interposer.method(method):
            run()
    else:
        run()


@pytest.fixture
def column():
    """Every other row of a 16 x 8 array of doubles: blocks of 64 bytes, 128 apart."""
    t = MPI.DOUBLE.Create_vector(8, 8, 16).Commit()
    yield t
    t.Free()


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["staged", "oneshot", "auto"])
def test_a_send_reads_what_the_program_just_wrote_on_the_legacy_stream(interposer, device,
                                                                        column, method):
    """asarray and an assignment are queued on the legacy stream and the send follows at
    once, with no synchronisation by the program: the interposer's stream must be ordered
    after them (a non-blocking stream reads the fresh allocation's pattern)."""
    a = device.asarray(rows(seed=1))
    a[2:6] = 7.5
    got = device.empty((16, 8))
    got.fill(-1.0)
    exchange(a, got, column, method=method, interposer=interposer)
    sent = np.random.default_rng(100 + SRC).standard_normal((16, 8))   # as SRC wrote it
    sent[2:6] = 7.5
    want = np.full((16, 8), -1.0)
    want[::2] = sent[::2]
    assert np.array_equal(device.asnumpy(got), want)


@pytest.mark.mpi
def test_the_program_sees_a_receive_before_its_later_work(interposer, device, column):
    """After the receive returns, the program's next work on the legacy stream (an
    assignment) lands on top of the received rows, and asnumpy sees both."""
    a = device.asarray(rows(seed=2))
    got = device.asarray(np.zeros((16, 8)))
    exchange(a, got, column)
    got[0] = 3.0
    want = np.zeros((16, 8))
    want[::2] = np.random.default_rng(200 + SRC).standard_normal((16, 8))[::2]
    want[0] = 3.0
    assert np.array_equal(device.asnumpy(got), want)


@pytest.mark.mpi
def test_mpi_pack_of_a_fresh_array(device, column):
    """MPI_Pack (the device kernels, or staging) of an array the program filled a moment
    ago, unsynchronised."""
    a = device.empty((16, 8))
    a.fill(2.0)
    a[4] = np.arange(8.0)
    out = bytearray(column.Pack_size(1, MPI.COMM_SELF))
    column.Pack(a, out, 0, MPI.COMM_SELF)
    want = np.full((16, 8), 2.0)
    want[4] = np.arange(8.0)
    assert np.frombuffer(out[:8 * 8 * 8]).tolist() == want[::2].ravel().tolist()


def two_devices(device):
    if device.device_count() < 2:
        pytest.skip(f"one device here ({device.backend()}): run the simulated device with "
                    "MPICOMM_SIM_DEVICES=2, or a machine with two GPUs")


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["staged", "oneshot", "auto"])
def test_arrays_on_device_1_while_device_0_is_current(interposer, device, column, method):
    """The device is the pointer's: arrays made under Device(1), sent and received while
    device 0 is current (torch.device('cuda:1') without set_device). A kernel on device
    0's stream touching device 1's memory faults on the simulated device."""
    two_devices(device)
    with device.Device(1):
        a = device.asarray(rows(seed=3))
        got = device.asarray(np.zeros((16, 8)))
    assert a.device.id == 1 and device.Device().id == 0
    exchange(a, got, column, method=method, interposer=interposer)
    want = np.zeros((16, 8))
    want[::2] = np.random.default_rng(300 + SRC).standard_normal((16, 8))[::2]
    assert np.array_equal(device.asnumpy(got), want)


@pytest.mark.mpi
def test_one_rank_sends_from_both_devices(interposer, device, column):
    """Each device has its own stream and pools: a send from device 0 and one from device 1
    in the same call of Waitall."""
    two_devices(device)
    a0 = device.asarray(rows(seed=4))
    with device.Device(1):
        a1 = device.asarray(rows(seed=5))
        g1 = device.asarray(np.zeros((16, 8)))
    g0 = device.asarray(np.zeros((16, 8)))
    reqs = [COMM.Irecv([g0, 1, column], SRC, 1), COMM.Irecv([g1, 1, column], SRC, 2),
            COMM.Isend([a0, 1, column], DEST, 1), COMM.Isend([a1, 1, column], DEST, 2)]
    MPI.Request.Waitall(reqs)
    for got, seed in ((g0, 4), (g1, 5)):
        want = np.zeros((16, 8))
        want[::2] = np.random.default_rng(seed * 100 + SRC).standard_normal((16, 8))[::2]
        assert np.array_equal(device.asnumpy(got), want)


@pytest.mark.mpi
def test_a_thread_with_no_current_device_sends(interposer, device, column):
    """A thread of the program's that never touched a device: the interposer finds the
    device from the pointers and makes its context current itself."""
    if MPI.Query_thread() < MPI.THREAD_MULTIPLE:
        pytest.skip("the MPI gave no MPI_THREAD_MULTIPLE")
    a = device.asarray(rows(seed=6))
    got = device.asarray(np.zeros((16, 8)))
    device.synchronize()
    errors = []

    def body():
        try:
            exchange(a, got, column)
        except Exception as exc:                       # reported by the main thread
            errors.append(exc)
    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert not errors, errors
    want = np.zeros((16, 8))
    want[::2] = np.random.default_rng(600 + SRC).standard_normal((16, 8))[::2]
    assert np.array_equal(device.asnumpy(got), want)


@pytest.mark.mpi
def test_count_0_changes_nothing_on_the_device(interposer, device, column):
    """A count of 0 packs and unpacks no element, on the device as on the host: the buffer
    keeps its bytes."""
    d = datatypes.describe(column)
    buf = device.asarray(np.full((16, 8), 4.0))
    packed = device.asarray(np.zeros(d.size // 8))
    datatypes.unpack(d, packed, buf, count=0)
    assert np.array_equal(device.asnumpy(buf), np.full((16, 8), 4.0))
    got = device.asarray(np.full((16, 8), 5.0))
    exchange(buf, got, column, count=0)
    assert np.array_equal(device.asnumpy(got), np.full((16, 8), 5.0))


@pytest.mark.mpi
def test_a_nonblocking_collective_keeps_the_programs_writes_between_its_blocks(interposer,
                                                                               device):
    """Ialltoallw into every other row of a device array: while it is under way the
    program updates the rows between (as a kernel updates interior cells during a halo
    exchange); at completion those rows keep the program's values, the others hold what
    came."""
    t = MPI.DOUBLE.Create_vector(2, 8, 16).Commit()           # rows 0 and 2 of a block
    try:
        send = device.asarray(np.arange(SIZE * 3 * 8, dtype=float).reshape(SIZE * 3, 8)
                              + 1000 * RANK)
        recv = device.asarray(np.zeros((SIZE * 3, 8)))
        device.synchronize()
        ext = 3 * 8 * 8
        req = COMM.Ialltoallw([send, [1] * SIZE, [i * ext for i in range(SIZE)], [t] * SIZE],
                              [recv, [1] * SIZE, [i * ext for i in range(SIZE)], [t] * SIZE])
        for i in range(SIZE):
            recv[3 * i + 1] = -7.0                             # between the blocks
        req.Wait()
        got = device.asnumpy(recv)
        for i in range(SIZE):
            for r in (0, 2):
                want = np.arange(8.0) + (3 * RANK + r) * 8 + 1000 * i
                assert np.array_equal(got[3 * i + r], want), (i, r)
            assert np.array_equal(got[3 * i + 1], np.full(8, -7.0)), i
    finally:
        t.Free()


@pytest.mark.mpi
def test_the_pools_stop_allocating(interposer, device, column):
    """Twelve live messages a step (a 3-D halo's six faces each way, as gpu_bench keeps),
    staged through pinned memory: over 25 steps the pools allocate no more buffers than
    are ever live at once (12 pinned, 1 device, and the probe's trial launch), not one per
    message (300)."""
    arrays = [device.asarray(rows(seed=7 + i)) for i in range(6)]
    gots = [device.asarray(np.zeros((16, 8))) for _ in range(6)]

    def step():
        reqs = [COMM.Irecv([g, 1, column], SRC, i) for i, g in enumerate(gots)]
        reqs += [COMM.Isend([a, 1, column], DEST, i) for i, a in enumerate(arrays)]
        MPI.Request.Waitall(reqs)
    before = interposer.stat("device_allocs")
    with interposer.method("staged"):
        for _ in range(25):
            step()
    grown = interposer.stat("device_allocs") - before
    assert 0 <= grown <= 12 + 1 + 1, grown
    assert interposer.stat("pool_overflows") == 0
    want = np.zeros((16, 8))
    want[::2] = np.random.default_rng(1200 + SRC).standard_normal((16, 8))[::2]
    assert np.array_equal(device.asnumpy(gots[5]), want)


@pytest.mark.mpi
def test_a_mirrored_receive_keeps_the_programs_writes_in_its_gaps(interposer, device):
    """Irecv of a type the interposer does not decode (a darray: the left half of each row)
    is mirrored through host memory; while it is under way the program writes the right
    halves (the gaps inside its span). At completion only the left halves have changed."""
    t = MPI.DOUBLE.Create_darray(2, 0, [16, 8], [MPI.DISTRIBUTE_NONE, MPI.DISTRIBUTE_BLOCK],
                                 [MPI.DISTRIBUTE_DFLT_DARG] * 2, [1, 2]).Commit()
    try:
        before = interposer.stat("method_mirror")
        a = device.asarray(rows(seed=20))
        got = device.asarray(np.zeros((16, 8)))
        device.synchronize()
        r = COMM.Irecv([got, 1, t], SRC, 21)
        got[:] = 9.0                                  # every byte, gaps and blocks alike
        s = COMM.Isend([a, 1, t], DEST, 21)
        MPI.Request.Waitall([r, s])
        want = np.full((16, 8), 9.0)
        want[:, :4] = np.random.default_rng(2000 + SRC).standard_normal((16, 8))[:, :4]
        assert np.array_equal(device.asnumpy(got), want)
        assert interposer.stat("method_mirror") >= before + 2
    finally:
        t.Free()
