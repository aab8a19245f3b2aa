"""Point-to-point with device buffers, at any rank count: rank r sends to r+1 and receives
from r-1 (mod size). Each method (staged, oneshot, and the chooser's own) against the same
exchange of host buffers through the MPI itself: same bytes, same statuses, same errors,
through every completion call."""
import random

import numpy as np
import pytest
from mpi4py import MPI

from support import mpitypes
from support import typespec
from support import completion as p2p
from conftest import outcome
from mpicomm.datatypes import describe

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()
DEST, SRC = (RANK + 1) % SIZE, (RANK - 1) % SIZE
METHODS = ["staged", "oneshot", "auto"]


def span(dt, count):
    lo, hi = mpitypes.bounds(dt, count)
    return 16 - lo, 16 - lo + hi + 16


def host_and_device(device, nbytes, seed):
    host = np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8)
    return host, device.asarray(host)


def ring(interposer, device, dt, count, seed, method):
    """Isend/Irecv of count elements around the ring from and into device buffers (method
    None: host buffers through the MPI itself); the receive buffer's bytes."""
    base, nbytes = span(dt, count)
    sbuf, dsbuf = host_and_device(device, nbytes, seed * 100 + RANK)
    fill = np.full(nbytes, 0x5A, dtype=np.uint8)
    if method is None:
        rbuf = fill.copy()

        def run():
            r = COMM.Irecv([rbuf[base:], count, dt], SRC, 7)
            s = COMM.Isend([sbuf[base:], count, dt], DEST, 7)
            MPI.Request.Waitall([r, s])
        interposer.real(run)
        return rbuf
    rbuf = device.asarray(fill)
    with interposer.method(method):
        r = COMM.Irecv([rbuf[base:], count, dt], SRC, 7)
        s = COMM.Isend([dsbuf[base:], count, dt], DEST, 7)
        MPI.Request.Waitall([r, s])
    return device.asnumpy(rbuf)


@pytest.mark.mpi
@pytest.mark.parametrize("method", METHODS)
def test_random_types_around_the_ring_from_device_buffers(interposer, device, method):
    """Canonical types pack on the device and types of the table form through their span
    in host memory (method_<method> grows either way), the rest are mirrored;
    the received bytes equal the MPI's from host buffers."""
    rng = random.Random(11)
    counter = "method_oneshot" if method == "oneshot" else "method_staged"
    packed = mirrored = 0
    for i, spec in enumerate(typespec.sample(777, 80, holes=True)):
        dt = mpitypes.from_spec(spec).Dup().Commit()
        count = rng.randint(1, 3)
        size, ext = dt.Get_size(), dt.Get_extent()[1]
        if size == 0 or ext <= 0 or size * count > 1 << 16:
            dt.Free()
            continue
        d = describe(dt)
        if mpitypes.mpi_misreads(dt, count, interposer.real):
            dt.Free()
            continue
        before = interposer.stat(counter), interposer.stat("method_mirror")
        mine = ring(interposer, device, dt, count, i, method)
        grew = interposer.stat(counter) - before[0], interposer.stat("method_mirror") - before[1]
        assert np.array_equal(mine, ring(interposer, device, dt, count, i, None)), \
            mpitypes.show(dt)
        ours = (d.canonical and len(d.counts) > 1) or bool(d.pieces)
        assert grew == ((2, 0) if ours else (0, 2)) or (not ours and grew[0] == 2), \
            (mpitypes.show(dt), grew)
        packed += grew[0] // 2
        mirrored += grew[1] // 2
        dt.Free()
    assert packed > 10 and mirrored > 5, (packed, mirrored)


def face():
    return MPI.DOUBLE.Create_vector(6, 2, 5).Commit()      # 12 doubles spread over 27


@pytest.mark.mpi
@pytest.mark.parametrize("how", p2p.COMPLETIONS)
@pytest.mark.parametrize("method", ["staged", "oneshot"])
def test_every_completion_call_delivers_to_the_device(interposer, device, how, method):
    v = face()
    length, count = 80, 2
    src = np.arange(length, dtype="f8") + 1000 * RANK
    out_host = np.full(length, -1.0)                    # what the MPI delivers from host

    def host():
        r = COMM.Irecv([out_host, count, v], SRC, 11)
        s = COMM.Isend([src, count, v], DEST, 11)
        MPI.Request.Waitall([r, s])
    interposer.real(host)

    dsrc, dout = device.asarray(src), device.asarray(np.full(length, -1.0))
    with interposer.method(method):
        before = interposer.stat(f"method_{method}")
        r = COMM.Irecv([dout, count, v], SRC, 11)
        s = COMM.Isend([dsrc, count, v], DEST, 11)
        st, peek = p2p.complete(how, r, s)
        snapshot = device.asnumpy(dout)
        if peek:
            r.Wait()
        assert interposer.stat(f"method_{method}") == before + 2
    assert np.array_equal(snapshot, out_host)
    if st is not None:
        assert (st.Get_source(), st.Get_tag(), st.Get_count(v)) == (SRC, 11, count)
    COMM.Barrier()
    assert interposer.stat("requests_live") == 0
    v.Free()


@pytest.mark.mpi
@pytest.mark.parametrize("method", METHODS)
def test_blocking_modes_sendrecv_and_replace(interposer, device, method):
    """Send/Recv, Ssend, Rsend (receive posted first), Sendrecv, Sendrecv_replace."""
    v = face()
    src = np.arange(60, dtype="f8") + 100 * RANK
    theirs = np.arange(60, dtype="f8") + 100 * SRC

    def expect(init):
        """init with two elements of v taken from SRC's data, as the MPI unpacks them."""
        out = np.array(init, dtype="f8")
        packed = bytearray(v.Get_size() * 2)
        interposer.real(v.Pack, theirs, packed, 0, COMM)
        interposer.real(v.Unpack, packed, 0, out, COMM)
        return out

    with interposer.method(method):
        for mode in ("send", "ssend", "rsend", "sendrecv"):
            dout = device.asarray(np.zeros(60))
            dsrc = device.asarray(src)
            if mode == "sendrecv":
                COMM.Sendrecv([dsrc, 2, v], DEST, 5, [dout, 2, v], SRC, 5)
            else:
                r = COMM.Irecv([dout, 2, v], SRC, 5)
                COMM.Barrier()                                  # Rsend needs it posted
                getattr(COMM, mode.capitalize())([dsrc, 2, v], DEST, 5)
                r.Wait()
            assert np.array_equal(device.asnumpy(dout), expect(np.zeros(60))), mode
        dbuf = device.asarray(src)
        st = MPI.Status()
        COMM.Sendrecv_replace([dbuf, 2, v], DEST, 6, SRC, 6, st)
        assert np.array_equal(device.asnumpy(dbuf), expect(src)) or SIZE == 1
        assert st.Get_count(v) == 2
    v.Free()


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["staged", "oneshot"])
def test_persistent_requests_repack_at_each_start(interposer, device, method):
    v = face()
    dsrc, dout = device.empty(60), device.asarray(np.zeros(60))
    with interposer.method(method):
        sreq = COMM.Send_init([dsrc, 2, v], DEST, 9)
        rreq = COMM.Recv_init([dout, 2, v], SRC, 9)
        for rnd in range(3):
            mine = np.arange(60, dtype="f8") + 1000 * rnd + 10 * RANK
            dsrc.set(mine)
            MPI.Prequest.Startall([rreq, sreq])
            MPI.Request.Waitall([rreq, sreq])
            theirs = np.arange(60, dtype="f8") + 1000 * rnd + 10 * SRC
            out = np.zeros(60)
            packed = bytearray(v.Get_size() * 2)
            interposer.real(v.Pack, theirs, packed, 0, COMM)
            interposer.real(v.Unpack, packed, 0, out, COMM)
            assert np.array_equal(device.asnumpy(dout), out), rnd
        sreq.Free()
        rreq.Free()
    v.Free()


@pytest.mark.mpi
def test_contiguous_device_arrays_go_through_host_mirrors(interposer, device):
    """A CuPy-style contiguous array with the PyPI wheels (no CUDA-aware MPI): shorter
    messages, wildcards and a probe, all mirrored; the untouched tail stays."""
    dsrc = device.asarray(np.arange(20, dtype=np.int64) + 100 * RANK)
    dout = device.asarray(np.full(30, -7, dtype=np.int64))
    before = interposer.stat("method_mirror")
    r = COMM.Irecv(dout, MPI.ANY_SOURCE, MPI.ANY_TAG)
    COMM.Send(dsrc[:20], DEST, 4)
    st = MPI.Status()
    r.Wait(st)
    got = device.asnumpy(dout)
    assert got[:20].tolist() == list(range(100 * SRC, 100 * SRC + 20))
    assert (got[20:] == -7).all()
    assert (st.Get_source(), st.Get_tag(), st.Get_count(MPI.INT64_T)) == (SRC, 4, 20)
    s = COMM.Isend(dsrc[5:], DEST, 8)
    st = MPI.Status()
    COMM.Probe(SRC, 8, st)
    n = st.Get_count(MPI.INT64_T)
    into = device.empty(n, np.int64)
    COMM.Recv(into, SRC, 8)
    s.Wait()
    assert device.asnumpy(into).tolist() == list(range(100 * SRC + 5, 100 * SRC + 20))
    assert interposer.stat("method_mirror") >= before + 4


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["staged", "oneshot"])
def test_truncation_short_messages_zero_size_and_cancel(interposer, device, method):
    """As the MPI does from host buffers: MPI_ERR_TRUNCATE, a short message delivered in
    part, an empty one, a cancelled receive that delivers nothing."""
    v = face()
    comm = COMM.Dup()
    comm.Set_errhandler(MPI.ERRORS_RETURN)
    src = np.arange(120, dtype="f8") + 1.5

    def run(on_device):
        put = device.asarray if on_device else np.array
        get = device.asnumpy if on_device else np.asarray

        def truncated():
            out = put(np.full(60, -1.0))
            s = comm.Isend([put(src), 4, v], DEST, 1)       # 48 doubles into room for 24
            res = outcome(lambda: comm.Recv([out, 2, v], SRC, 1))
            s.Wait()
            return res

        def short():                                        # 5 doubles into a face of 12
            out = put(np.full(30, -1.0))
            st = MPI.Status()
            s = comm.Isend([put(src), 5, MPI.DOUBLE], DEST, 2)
            comm.Recv([out, 1, v], SRC, 2, st)
            s.Wait()
            return get(out), st.Get_count(MPI.DOUBLE), st.Get_elements(MPI.DOUBLE)

        def empty():
            out = put(np.full(30, -1.0))
            st = MPI.Status()
            r = comm.Irecv([out, 0, v], SRC, 3)
            comm.Send([put(src), 0, v], DEST, 3)
            r.Wait(st)
            return get(out), st.Get_count(v)

        def cancelled():
            out = put(np.full(30, -1.0))
            st = MPI.Status()
            r = comm.Irecv([out, 1, v], SRC, 999)           # never sent
            r.Cancel()
            r.Wait(st)
            return get(out), st.Is_cancelled()

        return [truncated(), short(), empty(), cancelled()]

    try:
        with interposer.method(method):
            mine = run(True)
        comm.Barrier()
        real = interposer.real(run, False)
        assert mine[0] == real[0] == ("error", MPI.ERR_TRUNCATE)
        for a, b in zip(mine[1:], real[1:]):
            assert all(np.array_equal(x, y) for x, y in zip(a, b)), (a, b)
        assert mine[1][1:] == (5, 5) and mine[3][1]
    finally:
        comm.Free()
        v.Free()


@pytest.mark.mpi
def test_device_and_host_ends_interoperate(interposer, device):
    """The same bytes on the wire whoever packs them: a device sender and a host receiver
    (and the reverse) on alternate ranks."""
    v = face()
    src = np.arange(60, dtype="f8") + 100 * RANK
    theirs = np.arange(60, dtype="f8") + 100 * SRC
    sbuf = device.asarray(src) if RANK % 2 == 0 else src
    out_dev = RANK % 2 == 1 or SIZE == 1
    rbuf = device.asarray(np.zeros(60)) if out_dev else np.zeros(60)
    r = COMM.Irecv([rbuf, 2, v], SRC, 2)
    COMM.Send([sbuf, 2, v], DEST, 2)
    r.Wait()
    want = np.zeros(60)
    packed = bytearray(v.Get_size() * 2)
    interposer.real(v.Pack, theirs, packed, 0, COMM)
    interposer.real(v.Unpack, packed, 0, want, COMM)
    got = device.asnumpy(rbuf) if out_dev else rbuf
    assert np.array_equal(got, want)
    v.Free()
